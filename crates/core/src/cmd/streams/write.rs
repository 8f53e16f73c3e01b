//! XADD, XTRIM, XDEL and XSETID, with Redis 7.0's argument checks in its order and its replay
//! forms.

use bytes::Bytes;

use super::{id_reply, invalid_id, parse_id, propagate, write_stream};
use crate::cmd::keys::argv;
use crate::cmd::{is, parse_i64};
use crate::db::stream::{IdSyntax, StreamId, Trim, TrimStrategy, STREAM_LISTPACK_MAX_BYTES};
use crate::db::{Stream, Value};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Most entries an approximate trim may take when no LIMIT is given (Redis: 100 nodes' worth,
/// within these bounds).
const APPROX_LIMIT_DEFAULT: u64 = 10_000;
const APPROX_LIMIT_MAX: u64 = 1_000_000;

/// XADD's and XTRIM's options as parsed.
#[derive(Debug, Default)]
struct AddTrimArgs {
    trim: Option<Trim>,
    /// Where the trim's threshold is (the `~`/`=` is just before it, when given).
    threshold_at: usize,
    no_mkstream: bool,
    /// XADD's explicit ID, and whether its sequence was written (`<ms>-*` leaves it out).
    id: Option<(StreamId, bool)>,
    /// XADD: where the ID (or `*`) is.
    id_at: usize,
}

fn not_compatible() -> Reply {
    Reply::err("syntax error, MAXLEN and MINID options at the same time are not compatible")
}

/// Redis's `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(node: &Node, args: &[Bytes], xadd: bool) -> Result<AddTrimArgs, Reply> {
    let mut parsed = AddTrimArgs::default();
    let (mut limit, mut limit_given) = (0i64, false);
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && opt[..] == b"*"[..] {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if parsed.trim.is_some() {
                return Err(not_compatible());
            }
            let mut approx = false;
            let next = &args[i + 1][..];
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let threshold = &args[i + 1];
            let strategy = if is(opt, "maxlen") {
                let n = parse_i64(threshold).ok_or_else(Reply::not_integer)?;
                let n = u64::try_from(n)
                    .map_err(|_| Reply::err("The MAXLEN argument must be >= 0."))?;
                TrimStrategy::MaxLen(n)
            } else {
                TrimStrategy::MinId(parse_id(threshold, IdSyntax::STRICT)?)
            };
            i += 1;
            parsed.threshold_at = i;
            parsed.trim = Some(Trim {
                strategy,
                approx,
                limit: 0,
            });
        } else if is(opt, "limit") && more > 0 {
            limit = parse_i64(&args[i + 1]).ok_or_else(Reply::not_integer)?;
            if limit < 0 {
                return Err(Reply::err("The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            parsed.no_mkstream = true;
        } else if xadd {
            parsed.id = Some(StreamId::parse_for_add(opt).ok_or_else(invalid_id)?);
            break;
        } else {
            return Err(Reply::syntax_error());
        }
        i += 1;
    }
    parsed.id_at = i;
    let Some(trim) = parsed.trim.as_mut() else {
        if limit != 0 {
            return Err(Reply::err(
                "syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ));
        }
        if !xadd {
            return Err(Reply::err(
                "syntax error, XTRIM must be called with a trimming strategy",
            ));
        }
        return Ok(parsed);
    };
    trim.limit = if node.replaying {
        // The master's stream and the AOF trim as told (Redis's `mustObeyClient`).
        0
    } else if limit_given {
        if !trim.approx {
            return Err(Reply::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        limit as u64
    } else if trim.approx {
        let per_node = node.config.encoding_limits.stream_node_max_entries as u64;
        match per_node.saturating_mul(100) {
            0 => APPROX_LIMIT_DEFAULT,
            n => n.min(APPROX_LIMIT_MAX),
        }
    } else {
        0
    };
    Ok(parsed)
}

/// After an approximate trim, the replay form trims exactly to where it ended: `=` and the
/// length left (MAXLEN) or the first ID left, tombstones included (MINID).
fn rewrite_approx(replay: &mut [Bytes], parsed: &AddTrimArgs, stream: &Stream) {
    let Some(trim) = parsed.trim.filter(|t| t.approx) else {
        return;
    };
    replay[parsed.threshold_at - 1] = Bytes::from_static(b"=");
    replay[parsed.threshold_at] = Bytes::from(match trim.strategy {
        TrimStrategy::MaxLen(_) => stream.len().to_string(),
        TrimStrategy::MinId(_) => stream.first_id_with_tombstones().to_string(),
    });
}

/// XADD `key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value …`.
pub(super) fn xadd(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let parsed = match parse_add_trim(node, args, true) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let pairs = args.get(parsed.id_at + 1..).unwrap_or_default();
    if pairs.len() < 2 || pairs.len() % 2 == 1 {
        return Reply::wrong_arity("xadd");
    }
    if let Some((StreamId::ZERO, true)) = parsed.id {
        return Reply::err("The ID specified in XADD must be greater than 0-0");
    }
    let key = &args[1];
    match write_stream(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) if parsed.no_mkstream => return Reply::Nil,
        Ok(None) => node.db.set_owned(key, Value::Stream(Box::default()), None),
        Ok(Some(_)) => {}
    }
    let now_ms = node.now.unix_ms;
    let limits = node.config.encoding_limits.stream_nodes();
    let stream = write_stream(node, key).ok().flatten().expect("a stream");
    if stream.last_id == StreamId::MAX {
        return Reply::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        );
    }
    let id = match parsed.id {
        None => stream.next_id(now_ms),
        Some((id, true)) => Some(id),
        Some((id, false)) if id.ms == stream.last_id.ms => {
            let last = stream.last_id;
            (last.seq != u64::MAX).then(|| StreamId::new(last.ms, last.seq + 1))
        }
        Some((id, false)) => Some(id),
    };
    let Some(id) = id.filter(|id| *id > stream.last_id) else {
        return Reply::err(
            "The ID specified in XADD is equal or smaller than the target stream top item",
        );
    };
    if pairs.iter().map(Bytes::len).sum::<usize>() > STREAM_LISTPACK_MAX_BYTES {
        return Reply::err("Elements are too large to be stored");
    }
    stream.append(id, pairs, limits);
    let mut replay = argv(args);
    if let Some(trim) = parsed.trim {
        stream.trim(trim);
        rewrite_approx(&mut replay, &parsed, stream);
    }
    if !matches!(parsed.id, Some((_, true))) {
        replay[parsed.id_at] = Bytes::from(id.to_string());
    }
    node.db.ready.created(key);
    propagate(node, replay);
    id_reply(id)
}

/// XTRIM `key MAXLEN|MINID [=|~] threshold [LIMIT count]`: how many entries went.
pub(super) fn xtrim(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let parsed = match parse_add_trim(node, args, false) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let stream = match write_stream(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(stream)) => stream,
    };
    let trim = parsed.trim.expect("XTRIM has a strategy");
    let removed = stream.trim(trim);
    if removed > 0 {
        let mut replay = argv(args);
        rewrite_approx(&mut replay, &parsed, stream);
        propagate(node, replay);
    }
    Reply::Integer(removed as i64)
}

/// XDEL `key id [id …]`: how many entries went. The key is looked up before the IDs are read.
pub(super) fn xdel(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match write_stream(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(_)) => {}
    }
    let mut ids = Vec::with_capacity(args.len() - 2);
    for arg in &args[2..] {
        match parse_id(arg, IdSyntax::STRICT) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let stream = write_stream(node, &args[1])
        .ok()
        .flatten()
        .expect("a stream");
    let deleted = ids.into_iter().filter(|id| stream.delete(*id)).count();
    if deleted > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(deleted as i64)
}

/// XSETID `key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`.
pub(super) fn xsetid(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (last_id, entries_added, max_deleted) = match parse_xsetid(args) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let stream = match write_stream(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::err("no such key"),
        Ok(Some(stream)) => stream,
    };
    if !stream.is_empty() {
        if last_id < stream.last_live_id() {
            return Reply::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added.is_some_and(|n| (stream.len() as u64) > n) {
            return Reply::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    stream.set_id(last_id, entries_added, max_deleted);
    propagate(node, argv(args));
    Reply::ok()
}

type XsetidArgs = (StreamId, Option<u64>, StreamId);

fn parse_xsetid(args: &[Bytes]) -> Result<XsetidArgs, Reply> {
    let last_id = parse_id(&args[2], IdSyntax::STRICT)?;
    let (mut entries_added, mut max_deleted) = (None, StreamId::ZERO);
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "entriesadded") && more {
            let n = parse_i64(&args[i + 1]).ok_or_else(Reply::not_integer)?;
            let n = u64::try_from(n).map_err(|_| Reply::err("entries_added must be positive"))?;
            entries_added = Some(n);
        } else if is(&args[i], "maxdeletedid") && more {
            max_deleted = parse_id(&args[i + 1], IdSyntax::STRICT)?;
            if last_id < max_deleted {
                return Err(Reply::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(Reply::syntax_error());
        }
        i += 2;
    }
    Ok((last_id, entries_added, max_deleted))
}
