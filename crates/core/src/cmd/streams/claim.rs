//! XCLAIM and XAUTOCLAIM: pending entries taken over by another consumer once idle long
//! enough. Each claim replays as the `XCLAIM … FORCE JUSTID LASTID` form XREADGROUP uses; a
//! pending entry whose stream entry is gone is dropped (and that replays too, so a replica
//! drops it); the commands themselves never replay.

use bytes::Bytes;

use super::groups::no_key_or_group;
use super::readgroup::xclaim_replay;
use super::{id_reply, propagate_all, read_stream, write_stream};
use crate::cmd::{is, parse_i64};
use crate::db::stream::{IdSyntax, Pending, StreamId};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// XCLAIM's options after the IDs.
#[derive(Default)]
struct ClaimOptions {
    /// Unix ms to set as the delivery time (IDLE and TIME); `None`: now.
    delivery_time_ms: Option<i64>,
    retry_count: Option<i64>,
    force: bool,
    justid: bool,
    last_id: StreamId,
}

fn option_int(arg: &[u8], what: &str) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(|| Reply::err(format!("Invalid {what} option argument for XCLAIM")))
}

fn parse_claim_options(args: &[Bytes], now_ms: i64) -> Result<ClaimOptions, Reply> {
    let mut options = ClaimOptions::default();
    let mut j = 0;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = &args[j];
        if is(opt, "force") {
            options.force = true;
        } else if is(opt, "justid") {
            options.justid = true;
        } else if is(opt, "idle") && more {
            j += 1;
            options.delivery_time_ms = Some(now_ms - option_int(&args[j], "IDLE")?);
        } else if is(opt, "time") && more {
            j += 1;
            options.delivery_time_ms = Some(option_int(&args[j], "TIME")?);
        } else if is(opt, "retrycount") && more {
            j += 1;
            options.retry_count = Some(option_int(&args[j], "RETRYCOUNT")?);
        } else if is(opt, "lastid") && more {
            j += 1;
            options.last_id = super::parse_id(&args[j], IdSyntax::STRICT)?;
        } else {
            return Err(Reply::err(format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    Ok(options)
}

/// XCLAIM `key group consumer min-idle-time id [id …] [IDLE ms] [TIME ms] [RETRYCOUNT n]
/// [FORCE] [JUSTID] [LASTID id]`: the entries (or IDs) claimed.
pub(super) fn xclaim(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (key, group_name, consumer) = (&args[1], &args[2], &args[3]);
    match read_stream(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(s) if s.is_some_and(|s| s.groups.contains_key(&group_name[..])) => {}
        Ok(_) => return no_key_or_group(key, group_name),
    }
    let Some(min_idle_ms) = parse_i64(&args[4]) else {
        return Reply::err("Invalid min-idle-time argument for XCLAIM");
    };
    let min_idle_ms = min_idle_ms.max(0);
    // The IDs run up to the first argument that is not one; the options follow.
    let ids: Vec<(StreamId, &Bytes)> = args[5..]
        .iter()
        .map_while(|a| StreamId::parse(a, IdSyntax::STRICT).map(|id| (id, a)))
        .collect();
    let now_ms = node.now.unix_ms as i64;
    let options = match parse_claim_options(&args[5 + ids.len()..], now_ms) {
        Ok(options) => options,
        Err(e) => return e,
    };
    let delivery_ms = match options.delivery_time_ms {
        Some(t) if (0..=now_ms).contains(&t) => t as u64,
        _ => now_ms as u64,
    };
    let stream = write_stream(node, key).ok().flatten().expect("a stream");
    let mut replays = Vec::new();
    let mut out = Vec::new();
    let mut moved_last_id = false;
    {
        let group = stream.groups.get_mut(&group_name[..]).expect("checked");
        if options.last_id > group.last_id {
            group.last_id = options.last_id;
            moved_last_id = true;
        }
    }
    for (id, _) in ids {
        let exists = stream.get(id).map(<[Bytes]>::to_vec);
        let group = stream.groups.get_mut(&group_name[..]).expect("checked");
        let Some(pairs) = exists else {
            if let Some(pending) = group.pending.get(&id) {
                replays.push(xclaim_replay(key, group_name, id, pending, group.last_id));
                group.acknowledge(id);
                moved_last_id = false;
            }
            continue;
        };
        let current = group.pending.get(&id).cloned().or_else(|| {
            options.force.then(|| Pending {
                consumer: Bytes::new(),
                delivery_time_ms: now_ms as u64,
                delivery_count: 1,
            })
        });
        let Some(current) = current else {
            continue;
        };
        let owned = group.pending.contains_key(&id);
        if owned && min_idle_ms > 0 && now_ms - (current.delivery_time_ms as i64) < min_idle_ms {
            continue;
        }
        group.consumer_or_create(consumer, now_ms as u64);
        let delivery_count = match options.retry_count {
            Some(n) if n >= 0 => n as u64,
            _ if !options.justid => current.delivery_count + 1,
            _ => current.delivery_count,
        };
        let pending = Pending {
            consumer: consumer.clone(),
            delivery_time_ms: delivery_ms,
            delivery_count,
        };
        group.assign(id, consumer, pending);
        replays.push(xclaim_replay(
            key,
            group_name,
            id,
            &group.pending[&id],
            group.last_id,
        ));
        moved_last_id = false;
        out.push(claimed_reply(id, pairs, options.justid));
    }
    if moved_last_id {
        let group = &stream.groups[&group_name[..]];
        replays.push(setid_replay(
            key,
            group_name,
            group.last_id,
            group.entries_read,
        ));
    }
    propagate_all(node, replays);
    Reply::Array(out)
}

fn setid_replay(key: &Bytes, group: &Bytes, last_id: StreamId, entries_read: i64) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        key.clone(),
        group.clone(),
        Bytes::from(last_id.to_string()),
        Bytes::from_static(b"ENTRIESREAD"),
        Bytes::from(entries_read.to_string()),
    ]
}

fn claimed_reply(id: StreamId, pairs: Vec<Bytes>, justid: bool) -> Reply {
    if justid {
        return id_reply(id);
    }
    Reply::Array(vec![
        id_reply(id),
        Reply::Array(pairs.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// Redis's bound on what one XAUTOCLAIM looks at: ten pending entries per one it may claim.
const ATTEMPTS_PER_CLAIM: u64 = 10;

/// XAUTOCLAIM `key group consumer min-idle-time start [COUNT count] [JUSTID]`: `[next start,
/// claimed entries (or IDs), IDs of pending entries whose stream entry was gone]`.
pub(super) fn xautoclaim(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (key, group_name, consumer) = (&args[1], &args[2], &args[3]);
    let Some(min_idle_ms) = parse_i64(&args[4]) else {
        return Reply::err("Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let min_idle_ms = min_idle_ms.max(0);
    let start = match super::read::interval(&args[5], b"+") {
        Ok((start, _)) => start,
        Err(e) => return e,
    };
    let (mut count, mut justid) = (100u64, false);
    let mut j = 6;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            let max = (i64::MAX / 16) as u64;
            match parse_i64(&args[j + 1]).and_then(|n| u64::try_from(n).ok()) {
                Some(n) if (1..=max).contains(&n) => count = n,
                _ => return Reply::err("COUNT must be > 0"),
            }
            j += 1;
        } else if is(&args[j], "justid") {
            justid = true;
        } else {
            return Reply::syntax_error();
        }
        j += 1;
    }
    match read_stream(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(s) if s.is_some_and(|s| s.groups.contains_key(&group_name[..])) => {}
        Ok(_) => return no_key_or_group(key, group_name),
    }
    let now_ms = node.now.unix_ms;
    let stream = write_stream(node, key).ok().flatten().expect("a stream");
    let mut attempts = count * ATTEMPTS_PER_CLAIM;
    let (mut claimed, mut deleted, mut replays) = (Vec::new(), Vec::new(), Vec::new());
    let mut cursor = start;
    let next = loop {
        let group = &stream.groups[&group_name[..]];
        let Some((&id, _)) = group.pending.range(cursor..).next() else {
            break StreamId::ZERO;
        };
        if attempts == 0 || count == 0 {
            break id;
        }
        attempts -= 1;
        cursor = match id.incr() {
            Some(after) => after,
            None => StreamId::MAX,
        };
        let exists = stream.get(id).map(<[Bytes]>::to_vec);
        let group = stream.groups.get_mut(&group_name[..]).expect("checked");
        let Some(pairs) = exists else {
            replays.push(xclaim_replay(
                key,
                group_name,
                id,
                pending_of(group, id),
                group.last_id,
            ));
            group.acknowledge(id);
            deleted.push(id_reply(id));
            count -= 1;
            continue;
        };
        let idle_ms = now_ms as i64 - group.pending[&id].delivery_time_ms as i64;
        if min_idle_ms > 0 && idle_ms < min_idle_ms {
            if id == StreamId::MAX {
                break StreamId::ZERO;
            }
            continue;
        }
        group.consumer_or_create(consumer, now_ms);
        let before = group.pending[&id].delivery_count;
        let pending = Pending {
            consumer: consumer.clone(),
            delivery_time_ms: now_ms,
            delivery_count: if justid { before } else { before + 1 },
        };
        group.assign(id, consumer, pending);
        replays.push(xclaim_replay(
            key,
            group_name,
            id,
            &group.pending[&id],
            group.last_id,
        ));
        claimed.push(claimed_reply(id, pairs, justid));
        count -= 1;
        if id == StreamId::MAX {
            break StreamId::ZERO;
        }
    };
    propagate_all(node, replays);
    Reply::Array(vec![
        id_reply(next),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ])
}

fn pending_of(group: &crate::db::stream::Group, id: StreamId) -> &Pending {
    &group.pending[&id]
}
