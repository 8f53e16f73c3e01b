//! ZRANDMEMBER (picks from the node's seeded rng) and ZSCAN.

use bytes::Bytes;
use rand::Rng;

use super::score::{listpack_score_text, score_text};
use super::{bulk, is_resp3, read_zset, scored_reply};
use crate::cmd::keys::{
    collection_scan_pattern, collection_scan_reply, parse_cursor, pattern_matches,
};
use crate::cmd::{is, parse_i64, RANDOM_REPEATS_MAX};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// ZRANDMEMBER `key [count [WITHSCORES]]`: one member; `count` distinct ones (the whole set,
/// highest first as Redis 7.0 lists it, when it has no more); `-count` with repeats.
pub(super) fn zrandmember(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return random_member(node, &args[1]);
    }
    let count = match parse_i64(&args[2]) {
        None => return Reply::not_integer(),
        Some(i64::MIN) => {
            return Reply::err(
                "value is out of range, value must between -9223372036854775807 and \
                 9223372036854775807",
            )
        }
        Some(n) => n,
    };
    let with_scores = match &args[3..] {
        [] => false,
        [word] if is(word, "withscores") => true,
        _ => return Reply::syntax_error(),
    };
    if with_scores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Reply::err("value is out of range");
    }
    if count < 0 && count.unsigned_abs() > RANDOM_REPEATS_MAX {
        return Reply::err("value is out of range");
    }
    let resp3 = is_resp3(node, client);
    let len = match read_zset(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Array(Vec::new()),
        Ok(Some(zset)) => zset.len(),
    };
    let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let picks: Vec<usize> = if count < 0 {
        (0..wanted).map(|_| node.rng.gen_range(0..len)).collect()
    } else if wanted >= len {
        (0..len).rev().collect()
    } else {
        rand::seq::index::sample(&mut node.rng, len, wanted).into_vec()
    };
    let Ok(Some(zset)) = read_zset(node, &args[1]) else {
        unreachable!("the sorted set was just read");
    };
    // Each pick is a position, found in O(log n).
    let at = |i: usize| zset.rank_range(i, i, false).next().expect("in range");
    scored_reply(picks.into_iter().map(at), with_scores, resp3)
}

fn random_member(node: &mut Node, key: &[u8]) -> Reply {
    let len = match read_zset(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Nil,
        Ok(Some(zset)) => zset.len(),
    };
    let at = node.rng.gen_range(0..len);
    let Ok(Some(zset)) = read_zset(node, key) else {
        unreachable!("the sorted set was just read");
    };
    let (member, _) = zset.rank_range(at, at, false).next().expect("in range");
    bulk(member)
}

/// ZSCAN `key cursor [MATCH pattern] [COUNT count]`: every matching member and its score
/// (as text, in both protocols) in one step with cursor 0, in the set's order.
pub(super) fn zscan(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if parse_cursor(&args[2]).is_none() {
        return Reply::err("invalid cursor");
    }
    let zset = match read_zset(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return collection_scan_reply(Vec::new()),
        Ok(Some(zset)) => zset,
    };
    let pattern = match collection_scan_pattern(&args[3..]) {
        Ok(pattern) => pattern,
        Err(e) => return e,
    };
    // A listpack answers the text it holds, a skiplist prints its doubles.
    let text = if zset.is_listpack() {
        listpack_score_text
    } else {
        score_text
    };
    let items = zset
        .iter()
        .filter(|(m, _)| pattern.is_none_or(|p| pattern_matches(p, m)))
        .flat_map(|(m, s)| [bulk(m), Reply::Bulk(text(s))])
        .collect();
    collection_scan_reply(items)
}
