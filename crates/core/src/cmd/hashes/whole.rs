//! The whole hash: HKEYS, HVALS, HGETALL, HSCAN and HRANDFIELD.
//!
//! HSCAN answers every matching field in one step with cursor 0. Redis does the same for a
//! listpack hash and steps through a large one; one step is within SCAN's contract (COUNT is
//! a hint) and cannot miss a field however the hash changes between calls. HRANDFIELD draws
//! from the node's seeded rng, so a simulated run replays its picks.

use bytes::Bytes;
use rand::Rng;

use super::{bulk, read_hash};
use crate::cmd::keys::{
    collection_scan_pattern, collection_scan_reply, expiry_now_ms, parse_cursor, pattern_matches,
};
use crate::cmd::{is, parse_i64, RANDOM_REPEATS_MAX};
use crate::db::{Hash, ValueRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn hkeys(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    listing(node, args, |hash| {
        hash.iter().map(|(f, _)| bulk(f)).collect()
    })
}

pub(super) fn hvals(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    listing(node, args, |hash| {
        hash.iter().map(|(_, v)| bulk(v)).collect()
    })
}

fn listing(node: &mut Node, args: &[Bytes], items: impl Fn(&Hash) -> Vec<Reply>) -> Reply {
    match read_hash(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(hash) => Reply::Array(hash.map_or_else(Vec::new, items)),
    }
}

/// HGETALL: a map in RESP3, field/value pairs flattened in RESP2.
pub(super) fn hgetall(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_hash(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(hash) => Reply::Map(hash.map_or_else(Vec::new, |h| {
            h.iter().map(|(f, v)| (bulk(f), bulk(v))).collect()
        })),
    }
}

/// HSCAN `key cursor [MATCH pattern] [COUNT count]`. As in Redis, the cursor is checked
/// first, then the key, and the options only for an existing hash.
pub(super) fn hscan(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if parse_cursor(&args[2]).is_none() {
        return Reply::err("invalid cursor");
    }
    let hash = match read_hash(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return collection_scan_reply(Vec::new()),
        Ok(Some(hash)) => hash,
    };
    let pattern = match collection_scan_pattern(&args[3..]) {
        Ok(pattern) => pattern,
        Err(e) => return e,
    };
    let items = hash
        .iter()
        .filter(|(f, _)| pattern.is_none_or(|p| pattern_matches(p, f)))
        .flat_map(|(f, v)| [bulk(f), bulk(v)])
        .collect();
    collection_scan_reply(items)
}

/// HRANDFIELD `key [count [WITHVALUES]]`.
pub(super) fn hrandfield(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return random_field(node, &args[1]);
    }
    let Some(count) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    let with_values = match &args[3..] {
        [] => false,
        [word] if is(word, "withvalues") => true,
        _ => return Reply::syntax_error(),
    };
    if count == i64::MIN {
        return Reply::err(
            "value is out of range, value must between -9223372036854775807 and \
             9223372036854775807",
        );
    }
    if with_values && count < -(i64::MAX / 2) {
        return Reply::err("value is out of range");
    }
    if count < 0 && count.unsigned_abs() > RANDOM_REPEATS_MAX {
        return Reply::err("value is out of range");
    }
    let resp3 = node.client_protocol(client) == 3;
    let picks = match pick_fields(node, &args[1], count) {
        Ok(picks) => picks,
        Err(e) => return e,
    };
    let reply = picks.into_iter().map(|(f, v)| match (with_values, resp3) {
        (false, _) => vec![Reply::Bulk(f)],
        (true, false) => vec![Reply::Bulk(f), Reply::Bulk(v)],
        (true, true) => vec![Reply::Array(vec![Reply::Bulk(f), Reply::Bulk(v)])],
    });
    Reply::Array(reply.flatten().collect())
}

/// The hash just read (and counted as a hit) once more, after the rng has been used.
fn hash_again<'a>(node: &'a Node, key: &[u8]) -> &'a Hash {
    match node.db.get(key, expiry_now_ms(node)).map(|e| e.value) {
        Some(ValueRef::Hash(hash)) => hash,
        _ => unreachable!("the hash was just read"),
    }
}

fn random_field(node: &mut Node, key: &[u8]) -> Reply {
    let len = match read_hash(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Nil,
        Ok(Some(hash)) => hash.len(),
    };
    let at = node.rng.gen_range(0..len);
    bulk(hash_again(node, key).get_index(at).expect("in range").0)
}

/// The fields (and values) HRANDFIELD answers: `count` distinct ones for a positive count
/// (the whole hash, in order, when it has no more), `-count` with repeats for a negative one.
fn pick_fields(node: &mut Node, key: &[u8], count: i64) -> Result<Vec<(Bytes, Bytes)>, Reply> {
    let len = match read_hash(node, key)? {
        None => return Ok(Vec::new()),
        Some(hash) => hash.len(),
    };
    let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let indexes: Vec<usize> = if count < 0 {
        (0..wanted).map(|_| node.rng.gen_range(0..len)).collect()
    } else if wanted >= len {
        (0..len).collect()
    } else {
        rand::seq::index::sample(&mut node.rng, len, wanted).into_vec()
    };
    let hash = hash_again(node, key);
    let pair = |at: usize| {
        let (f, v) = hash.get_index(at).expect("in range");
        (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v))
    };
    Ok(indexes.into_iter().map(pair).collect())
}
