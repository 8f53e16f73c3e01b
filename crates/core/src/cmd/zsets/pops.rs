//! Pops from either end: ZPOPMIN, ZPOPMAX and ZMPOP, on plain functions the blocking forms
//! (BZPOPMIN, BZPOPMAX, BZMPOP) can share: [`pop_members`] takes from one key,
//! [`pop_reply`] and [`mpop_reply`] shape the answers, [`pop_replay`] is what to propagate.

use bytes::Bytes;

use super::{is_resp3, write_zset};
use crate::cmd::keys::{argv, propagate};
use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Removes up to `count` members from the lowest end of the sorted set at `key` (the highest
/// when `from_max`), in pop order; the key goes with its last member. Nothing for a missing
/// key; `WRONGTYPE` for another type. Propagates nothing (see [`pop_replay`]).
pub fn pop_members(
    node: &mut Node,
    key: &[u8],
    count: usize,
    from_max: bool,
) -> Result<Vec<(Bytes, f64)>, Reply> {
    let Some(zset) = write_zset(node, key)? else {
        return Ok(Vec::new());
    };
    let mut popped = Vec::with_capacity(count.min(zset.len()));
    while popped.len() < count {
        let Some((member, score)) = zset.pop(from_max) else {
            break;
        };
        popped.push((Bytes::from(member.into_vec()), score));
    }
    if zset.is_empty() {
        node.db.remove(key);
    }
    Ok(popped)
}

/// What replays a pop of `popped` members from `key`: `ZPOPMIN|ZPOPMAX key count`, as Redis
/// 7.0 rewrites ZMPOP and the blocking pops.
pub fn pop_replay(key: &[u8], popped: usize, from_max: bool) -> Vec<Bytes> {
    let name: &'static [u8] = if from_max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    vec![
        Bytes::from_static(name),
        Bytes::copy_from_slice(key),
        Bytes::from(popped.to_string()),
    ]
}

/// ZPOPMIN/ZPOPMAX's answer: `member, score, …`; in RESP3 `[member, score]` pairs when a
/// count was given (one flat pair without).
pub fn pop_reply(popped: Vec<(Bytes, f64)>, count_given: bool, resp3: bool) -> Reply {
    let nested = count_given && resp3;
    let mut out = Vec::new();
    for (member, score) in popped {
        let pair = [Reply::Bulk(member), Reply::Double(score)];
        if nested {
            out.push(Reply::Array(pair.to_vec()));
        } else {
            out.extend(pair);
        }
    }
    Reply::Array(out)
}

/// ZMPOP's answer: the key and its `[member, score]` pairs (nested in both protocols).
pub fn mpop_reply(key: &[u8], popped: Vec<(Bytes, f64)>) -> Reply {
    let pairs = popped
        .into_iter()
        .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
        .collect();
    Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(key)),
        Reply::Array(pairs),
    ])
}

fn zpop(node: &mut Node, client: ClientId, args: &[Bytes], from_max: bool) -> Reply {
    if args.len() > 3 {
        return Reply::syntax_error();
    }
    let count = match args.get(2).map(|c| parse_i64(c)) {
        None => 1,
        Some(Some(n)) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(_) => return Reply::err("value is out of range, must be positive"),
    };
    let resp3 = is_resp3(node, client);
    let key = &args[1];
    let popped = match pop_members(node, key, count, from_max) {
        Ok(popped) => popped,
        Err(wrong_type) => return wrong_type,
    };
    if !popped.is_empty() {
        propagate(node, argv(args));
    }
    pop_reply(popped, args.len() == 3, resp3)
}

pub(super) fn zpopmin(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    zpop(node, client, args, false)
}

pub(super) fn zpopmax(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    zpop(node, client, args, true)
}

/// ZMPOP's arguments after the command name: the keys, the end, the count.
pub struct MpopArgs<'a> {
    pub keys: &'a [Bytes],
    pub from_max: bool,
    pub count: usize,
}

/// Parses `numkeys key [key …] MIN|MAX [COUNT count]` (BZMPOP passes what follows its
/// timeout).
pub fn parse_mpop(args: &[Bytes]) -> Result<MpopArgs<'_>, Reply> {
    let numkeys = match args.first().and_then(|n| parse_i64(n)) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(Reply::err("numkeys should be greater than 0")),
    };
    let where_at = numkeys.saturating_add(1);
    let from_max = match args.get(where_at) {
        Some(w) if is(w, "min") => false,
        Some(w) if is(w, "max") => true,
        _ => return Err(Reply::syntax_error()),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            match parse_i64(&args[j + 1]) {
                Some(n) if n > 0 => count = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(Reply::err("count should be greater than 0")),
            }
            j += 2;
        } else {
            return Err(Reply::syntax_error());
        }
    }
    Ok(MpopArgs {
        keys: &args[1..where_at],
        from_max,
        count: count.unwrap_or(1),
    })
}

/// ZMPOP `numkeys key [key …] MIN|MAX [COUNT count]`: pops from the first non-empty key
/// (every key before it type-checked); a null array when all are empty. Replays as
/// `ZPOPMIN|ZPOPMAX key <popped>`.
pub(super) fn zmpop(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let request = match parse_mpop(&args[1..]) {
        Ok(request) => request,
        Err(e) => return e,
    };
    for key in request.keys {
        let popped = match pop_members(node, key, request.count, request.from_max) {
            Ok(popped) if popped.is_empty() => continue,
            Ok(popped) => popped,
            Err(wrong_type) => return wrong_type,
        };
        propagate(node, pop_replay(key, popped.len(), request.from_max));
        return mpop_reply(key, popped);
    }
    Reply::NilArray
}
