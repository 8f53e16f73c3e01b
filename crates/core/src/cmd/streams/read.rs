//! XLEN, XRANGE, XREVRANGE, and XREAD and XREADGROUP, which block (see `crate::blocking`)
//! until an XADD adds past the IDs they were given (or the group's last ID).

use bytes::Bytes;

use super::readgroup::{deliver_history, deliver_new, GroupRead};
use super::{entries_reply, invalid_id, parse_id, propagate_all, read_stream};
use crate::blocking::{Waker, Wakes};
use crate::cmd::{is, parse_i64};
use crate::db::stream::{IdSyntax, StreamId};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// What a blocked XREAD takes per stream when it gave no COUNT (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_COUNT_DEFAULT: usize = 1000;

static XREAD: Waker = Waker {
    wakes_on: Wakes::Stream,
    serve: serve_xread,
    wants: Some(has_news),
    gone: None,
};
static XREADGROUP: Waker = Waker {
    wakes_on: Wakes::Stream,
    serve: serve_xreadgroup,
    wants: Some(group_has_news),
    gone: Some("UNBLOCKED the stream key no longer exists"),
};

pub(super) fn xlen(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_stream(node, &args[1]) {
        Ok(stream) => Reply::Integer(stream.map_or(0, |s| s.len()) as i64),
        Err(wrong_type) => wrong_type,
    }
}

pub(super) fn xrange(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    range(node, args, false)
}

pub(super) fn xrevrange(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    range(node, args, true)
}

/// One end of an interval: an ID, `-`/`+`, or `(` and a strict ID for an exclusive end.
fn interval_end(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let strict = IdSyntax::Strict { missing_seq };
        return Ok((parse_id(&arg[1..], strict)?, true));
    }
    Ok((parse_id(arg, IdSyntax::Loose { missing_seq })?, false))
}

/// An interval's inclusive ends from its `start` and `end` arguments, with Redis's errors.
pub(super) fn interval(start_arg: &[u8], end_arg: &[u8]) -> Result<(StreamId, StreamId), Reply> {
    let start = match interval_end(start_arg, 0)? {
        (id, false) => id,
        (id, true) => id
            .incr()
            .ok_or_else(|| Reply::err("invalid start ID for the interval"))?,
    };
    let end = match interval_end(end_arg, u64::MAX)? {
        (id, false) => id,
        (id, true) => id
            .decr()
            .ok_or_else(|| Reply::err("invalid end ID for the interval"))?,
    };
    Ok((start, end))
}

/// XRANGE `key start end [COUNT n]`, XREVRANGE `key end start [COUNT n]`.
fn range(node: &mut Node, args: &[Bytes], rev: bool) -> Reply {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let (start, end) = match interval(start_arg, end_arg) {
        Ok(ends) => ends,
        Err(e) => return e,
    };
    let mut count: Option<i64> = None;
    let mut i = 4;
    while i < args.len() {
        if is(&args[i], "count") && i + 1 < args.len() {
            match parse_i64(&args[i + 1]) {
                Some(n) => count = Some(n.max(0)),
                None => return Reply::not_integer(),
            }
            i += 2;
        } else {
            return Reply::syntax_error();
        }
    }
    let stream = match read_stream(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Array(Vec::new()),
        Ok(Some(stream)) => stream,
    };
    match count {
        Some(0) => Reply::NilArray,
        count => entries_reply(stream.range(start, end, count.unwrap_or(0) as usize, rev)),
    }
}

/// XREAD's options as parsed; `ids` are resolved (`$` is the stream's last ID).
struct XreadArgs {
    /// Milliseconds; `None` without BLOCK, `Some(0)` for ever.
    block_ms: Option<u64>,
    count: usize,
    /// Where the keys start; as many IDs follow them.
    keys_at: usize,
    streams: usize,
    /// XREADGROUP's group and consumer.
    group: Option<(Bytes, Bytes)>,
    noack: bool,
}

fn parse_xread(node: &Node, args: &[Bytes]) -> Result<XreadArgs, Reply> {
    let mut parsed = XreadArgs {
        block_ms: None,
        count: 0,
        keys_at: 0,
        streams: 0,
        group: None,
        noack: false,
    };
    let xreadgroup = args[0].len() == 10;
    let mut i = 1;
    while i < args.len() {
        let more = i + 1 < args.len();
        let opt = &args[i];
        if is(opt, "block") && more {
            if in_script(node) {
                let name = String::from_utf8_lossy(&args[0]);
                return Err(Reply::err(format!(
                    "{name} command is not allowed with BLOCK option from scripts"
                )));
            }
            let ms = parse_i64(&args[i + 1])
                .ok_or_else(|| Reply::err("timeout is not an integer or out of range"))?;
            let ms = u64::try_from(ms).map_err(|_| Reply::err("timeout is negative"))?;
            parsed.block_ms = Some(ms);
            i += 1;
        } else if is(opt, "count") && more {
            let n = parse_i64(&args[i + 1]).ok_or_else(Reply::not_integer)?;
            parsed.count = usize::try_from(n).unwrap_or(0);
            i += 1;
        } else if is(opt, "streams") && more {
            let rest = args.len() - i - 1;
            if !rest.is_multiple_of(2) {
                return Err(Reply::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            parsed.keys_at = i + 1;
            parsed.streams = rest / 2;
            break;
        } else if is(opt, "group") && i + 2 < args.len() {
            if !xreadgroup {
                return Err(Reply::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            parsed.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if is(opt, "noack") {
            if !xreadgroup {
                return Err(Reply::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            parsed.noack = true;
        } else {
            return Err(Reply::syntax_error());
        }
        i += 1;
    }
    if parsed.keys_at == 0 {
        return Err(Reply::syntax_error());
    }
    if xreadgroup && parsed.group.is_none() {
        return Err(Reply::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(parsed)
}

fn in_script(node: &Node) -> bool {
    matches!(
        node.top_command,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// The IDs after the keys, `$` resolved to each stream's last ID (`0-0` when missing);
/// `WRONGTYPE` or Redis's ID errors, in argument order.
fn resolve_ids(node: &mut Node, args: &[Bytes], p: &XreadArgs) -> Result<Vec<StreamId>, Reply> {
    let mut ids = Vec::with_capacity(p.streams);
    for k in 0..p.streams {
        let key = &args[p.keys_at + k];
        let stream = read_stream(node, key)?;
        if let Some((group, _)) = &p.group {
            if !stream.is_some_and(|s| s.groups.contains_key(&group[..])) {
                return Err(Reply::error(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(group)
                )));
            }
        }
        let arg = &args[p.keys_at + p.streams + k];
        let id = match &arg[..] {
            b"$" if p.group.is_some() => return Err(Reply::err(
                "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
            )),
            b"$" => stream.map_or(StreamId::ZERO, |s| s.last_id),
            b">" if p.group.is_some() => StreamId::MAX,
            b">" => {
                return Err(Reply::err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ))
            }
            _ => StreamId::parse(arg, IdSyntax::STRICT).ok_or_else(invalid_id)?,
        };
        ids.push(id);
    }
    Ok(ids)
}

/// `[key, entries]` of the entries of the stream at `key` past `after`, if it has any.
fn news(node: &mut Node, key: &Bytes, after: StreamId, count: usize) -> Option<(Bytes, Reply)> {
    let stream = read_stream(node, key).ok().flatten()?;
    if stream.is_empty() || stream.last_live_id() <= after {
        return None;
    }
    let start = after.incr()?;
    let entries = stream.range(start, StreamId::MAX, count, false);
    Some((key.clone(), entries_reply(entries)))
}

/// XREAD's reply: an array of `[key, entries]` in RESP2, a map in RESP3.
fn streams_reply(node: &Node, client: ClientId, found: Vec<(Bytes, Reply)>) -> Reply {
    let resp3 = node.clients.get(&client).is_some_and(|c| c.protocol == 3);
    if resp3 {
        Reply::Map(
            found
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        )
    } else {
        let pair = |(k, v): (Bytes, Reply)| Reply::Array(vec![Reply::Bulk(k), v]);
        Reply::Array(found.into_iter().map(pair).collect())
    }
}

/// XREAD `[COUNT n] [BLOCK ms] STREAMS key … id …`: the entries past each ID, or, with BLOCK,
/// a wait for the first stream to get one (the IDs kept as resolved now).
pub(super) fn xread(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let parsed = match parse_xread(node, args) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let ids = match resolve_ids(node, args, &parsed) {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let keys = &args[parsed.keys_at..parsed.keys_at + parsed.streams];
    let mut replays = Vec::new();
    let found: Vec<_> = keys
        .iter()
        .zip(&ids)
        .filter_map(|(key, id)| match &parsed.group {
            None => news(node, key, *id, parsed.count),
            Some((group, consumer)) => {
                let read = GroupRead {
                    key,
                    group,
                    consumer,
                    noack: parsed.noack,
                    count: parsed.count,
                };
                group_news(node, &read, *id, &mut replays)
            }
        })
        .collect();
    propagate_all(node, replays);
    if !found.is_empty() {
        return streams_reply(node, client, found);
    }
    let Some(block_ms) = parsed.block_ms else {
        return Reply::NilArray;
    };
    if !node.may_block(args) {
        return Reply::NilArray;
    }
    let deadline_ms = (block_ms > 0).then(|| node.now.mono_ms.saturating_add(block_ms));
    let mut resolved = args.to_vec();
    for (k, id) in ids.iter().enumerate() {
        resolved[parsed.keys_at + parsed.streams + k] = Bytes::from(id.to_string());
    }
    let waker = if parsed.group.is_some() {
        &XREADGROUP
    } else {
        &XREAD
    };
    node.block_on_keys(client, &resolved, keys, deadline_ms, waker);
    Reply::Nil
}

/// XREADGROUP's synchronous answer for one stream: the consumer's history for an ID, the
/// entries past the group's last ID for `>` when there are some.
fn group_news(
    node: &mut Node,
    read: &GroupRead<'_>,
    id: StreamId,
    replays: &mut Vec<Vec<Bytes>>,
) -> Option<(Bytes, Reply)> {
    if id != StreamId::MAX {
        return Some((read.key.clone(), deliver_history(node, read, id, replays)));
    }
    let stream = read_stream(node, read.key).ok().flatten()?;
    let last = stream.groups[&read.group[..]].last_id;
    if stream.is_empty() || stream.last_live_id() <= last {
        return None;
    }
    Some((read.key.clone(), deliver_new(node, read, last, replays)))
}

/// Whether a blocked XREADGROUP is to be answered from `key`: its group is gone, or the
/// stream went past the group's last ID.
fn group_has_news(node: &mut Node, args: &[Bytes], key: &Bytes) -> bool {
    let parsed = parse_xread(node, args).expect("parsed when it blocked");
    let (group, _) = parsed.group.expect("XREADGROUP");
    let Ok(Some(stream)) = read_stream(node, key) else {
        return false;
    };
    stream
        .groups
        .get(&group[..])
        .is_none_or(|g| stream.last_id > g.last_id)
}

fn serve_xreadgroup(node: &mut Node, client: ClientId, args: &[Bytes], key: &Bytes) -> Reply {
    let parsed = parse_xread(node, args).expect("parsed when it blocked");
    let (group, consumer) = parsed.group.as_ref().expect("XREADGROUP");
    let stream = read_stream(node, key).ok().flatten().expect("a stream");
    let Some(last) = stream.groups.get(&group[..]).map(|g| g.last_id) else {
        return Reply::error(
            "NOGROUP the consumer group this client was blocked on no longer exists",
        );
    };
    let read = GroupRead {
        key,
        group,
        consumer,
        noack: parsed.noack,
        count: if parsed.count == 0 {
            BLOCKED_COUNT_DEFAULT
        } else {
            parsed.count
        },
    };
    let mut replays = Vec::new();
    let entries = deliver_new(node, &read, last, &mut replays);
    propagate_all(node, replays);
    streams_reply(node, client, vec![(key.clone(), entries)])
}

/// The ID a blocked XREAD waits past on `key` (its first occurrence).
fn waited_id(node: &Node, args: &[Bytes], key: &Bytes) -> (StreamId, usize) {
    let parsed = parse_xread(node, args).expect("parsed when it blocked");
    let keys = &args[parsed.keys_at..parsed.keys_at + parsed.streams];
    let k = keys.iter().position(|k| k == key).expect("one of its keys");
    let arg = &args[parsed.keys_at + parsed.streams + k];
    let id = StreamId::parse(arg, IdSyntax::STRICT).expect("resolved when it blocked");
    let count = if parsed.count == 0 {
        BLOCKED_COUNT_DEFAULT
    } else {
        parsed.count
    };
    (id, count)
}

/// Whether the stream at `key` has gone past what the blocked XREAD waits after.
fn has_news(node: &mut Node, args: &[Bytes], key: &Bytes) -> bool {
    let (after, _) = waited_id(node, args, key);
    read_stream(node, key)
        .ok()
        .flatten()
        .is_some_and(|s| s.last_id > after)
}

/// Serves a blocked XREAD from `key` alone, as Redis does.
fn serve_xread(node: &mut Node, client: ClientId, args: &[Bytes], key: &Bytes) -> Reply {
    let (after, count) = waited_id(node, args, key);
    let stream = read_stream(node, key).ok().flatten().expect("a stream");
    let start = after.incr().unwrap_or(StreamId::MAX);
    let entries = entries_reply(stream.range(start, StreamId::MAX, count, false));
    streams_reply(node, client, vec![(key.clone(), entries)])
}
