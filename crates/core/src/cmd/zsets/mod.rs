//! Sorted-set commands: members added, scored, ranked and removed; ranges by rank, score and
//! lex (ZRANGE and its older forms, ZRANGESTORE, the ZREMRANGEBY family); pops from either
//! end (ZPOPMIN, ZPOPMAX, ZMPOP); ZRANDMEMBER and ZSCAN; the algebra (ZINTER, ZUNION, ZDIFF,
//! their STORE forms, ZINTERCARD).
//!
//! Order is Redis's (score, then member bytes; see `db::ZSet`). Scores print as Redis 7.0
//! prints them (`%.17g`), RESP3 answers doubles and `[member, score]` pairs. Writes replay as
//! sent, except ZMPOP, which replays as the ZPOPMIN/ZPOPMAX of what it took, as Redis 7.0
//! propagates it.
//!
//! Here: the command table and the helpers shared by the families in `members`, `ranges`,
//! `pops`, `random` and `algebra`.

use bytes::Bytes;

use super::{CommandSpec, Handler};
use crate::cmd::keys::{lookup_read, lookup_write};
use crate::cmd::CmdFlags as F;
use crate::db::{Collection, Value, ValueRef, ZSet};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

mod algebra;
mod blocking;
mod members;
pub mod pops;
mod random;
mod ranges;
mod score;

pub(crate) use members::zadd;
pub(crate) use score::{listpack_score_text, parse_score};

use algebra::{zdiff, zdiffstore, zinter, zintercard, zinterstore, zunion, zunionstore};
use blocking::{bzmpop, bzpop};
use members::{zcard, zcount, zincrby, zlexcount, zmscore, zrank, zrem, zrevrank, zscore};
use pops::{zmpop, zpopmax, zpopmin};
use random::{zrandmember, zscan};
use ranges::{
    zrange, zrangebylex, zrangebyscore, zrangestore, zremrangebylex, zremrangebyrank,
    zremrangebyscore, zrevrange, zrevrangebylex, zrevrangebyscore,
};

/// One command of the family (its group is `sorted-set`).
#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i32,
    flags: F,
    [first_key, last_key, key_step]: [i32; 3],
    acl_categories: &'static [&'static str],
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> CommandSpec {
    super::keyed(
        "sorted-set",
        name,
        arity,
        flags,
        [first_key, last_key, key_step],
        acl_categories,
        since,
        summary,
        handler,
    )
}

/// Arity, flags, key positions, ACL categories and docs as Redis 7.0.15's `COMMAND` has them.
pub(crate) static COMMANDS: &[CommandSpec] = &[
    spec("zadd", -4, F::WRITE.union(F::DENYOOM).union(F::FAST), [1, 1, 1], &["@write", "@sortedset", "@fast"], "1.2.0",
        "Add one or more members to a sorted set, or update its score if it already exists", zadd),
    spec("zincrby", 4, F::WRITE.union(F::DENYOOM).union(F::FAST), [1, 1, 1], &["@write", "@sortedset", "@fast"], "1.2.0",
        "Increment the score of a member in a sorted set", zincrby),
    spec("zrem", -3, F::WRITE.union(F::FAST), [1, 1, 1], &["@write", "@sortedset", "@fast"], "1.2.0",
        "Remove one or more members from a sorted set", zrem),
    spec("zcard", 2, F::READONLY.union(F::FAST), [1, 1, 1], &["@read", "@sortedset", "@fast"], "1.2.0",
        "Get the number of members in a sorted set", zcard),
    spec("zscore", 3, F::READONLY.union(F::FAST), [1, 1, 1], &["@read", "@sortedset", "@fast"], "1.2.0",
        "Get the score associated with the given member in a sorted set", zscore),
    spec("zmscore", -3, F::READONLY.union(F::FAST), [1, 1, 1], &["@read", "@sortedset", "@fast"], "6.2.0",
        "Get the score associated with the given members in a sorted set", zmscore),
    spec("zrank", 3, F::READONLY.union(F::FAST), [1, 1, 1], &["@read", "@sortedset", "@fast"], "2.0.0",
        "Determine the index of a member in a sorted set", zrank),
    spec("zrevrank", 3, F::READONLY.union(F::FAST), [1, 1, 1], &["@read", "@sortedset", "@fast"], "2.0.0",
        "Determine the index of a member in a sorted set, with scores ordered from high to low", zrevrank),
    spec("zcount", 4, F::READONLY.union(F::FAST), [1, 1, 1], &["@read", "@sortedset", "@fast"], "2.0.0",
        "Count the members in a sorted set with scores within the given values", zcount),
    spec("zlexcount", 4, F::READONLY.union(F::FAST), [1, 1, 1], &["@read", "@sortedset", "@fast"], "2.8.9",
        "Count the number of members in a sorted set between a given lexicographical range", zlexcount),
    spec("zrange", -4, F::READONLY, [1, 1, 1], &["@read", "@sortedset", "@slow"], "1.2.0",
        "Return a range of members in a sorted set", zrange),
    spec("zrangestore", -5, F::WRITE.union(F::DENYOOM), [1, 2, 1], &["@write", "@sortedset", "@slow"], "6.2.0",
        "Store a range of members from sorted set into another key", zrangestore),
    spec("zrevrange", -4, F::READONLY, [1, 1, 1], &["@read", "@sortedset", "@slow"], "1.2.0",
        "Return a range of members in a sorted set, by index, with scores ordered from high to low", zrevrange),
    spec("zrangebyscore", -4, F::READONLY, [1, 1, 1], &["@read", "@sortedset", "@slow"], "1.0.5",
        "Return a range of members in a sorted set, by score", zrangebyscore),
    spec("zrevrangebyscore", -4, F::READONLY, [1, 1, 1], &["@read", "@sortedset", "@slow"], "2.2.0",
        "Return a range of members in a sorted set, by score, with scores ordered from high to low", zrevrangebyscore),
    spec("zrangebylex", -4, F::READONLY, [1, 1, 1], &["@read", "@sortedset", "@slow"], "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range", zrangebylex),
    spec("zrevrangebylex", -4, F::READONLY, [1, 1, 1], &["@read", "@sortedset", "@slow"], "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", zrevrangebylex),
    spec("zremrangebyrank", 4, F::WRITE, [1, 1, 1], &["@write", "@sortedset", "@slow"], "2.0.0",
        "Remove all members in a sorted set within the given indexes", zremrangebyrank),
    spec("zremrangebyscore", 4, F::WRITE, [1, 1, 1], &["@write", "@sortedset", "@slow"], "1.2.0",
        "Remove all members in a sorted set within the given scores", zremrangebyscore),
    spec("zremrangebylex", 4, F::WRITE, [1, 1, 1], &["@write", "@sortedset", "@slow"], "2.8.9",
        "Remove all members in a sorted set between the given lexicographical range", zremrangebylex),
    spec("zpopmin", -2, F::WRITE.union(F::FAST), [1, 1, 1], &["@write", "@sortedset", "@fast"], "5.0.0",
        "Remove and return members with the lowest scores in a sorted set", zpopmin),
    spec("zpopmax", -2, F::WRITE.union(F::FAST), [1, 1, 1], &["@write", "@sortedset", "@fast"], "5.0.0",
        "Remove and return members with the highest scores in a sorted set", zpopmax),
    spec("zmpop", -4, F::WRITE.union(F::MOVABLEKEYS), [0, 0, 0], &["@write", "@sortedset", "@slow"], "7.0.0",
        "Remove and return members with scores in a sorted set", zmpop),
    spec("zrandmember", -2, F::READONLY, [1, 1, 1], &["@read", "@sortedset", "@slow"], "6.2.0",
        "Get one or multiple random elements from a sorted set", zrandmember),
    spec("zscan", -3, F::READONLY, [1, 1, 1], &["@read", "@sortedset", "@slow"], "2.8.0",
        "Incrementally iterate sorted sets elements and associated scores", zscan),
    spec("zinter", -3, F::READONLY.union(F::MOVABLEKEYS), [0, 0, 0], &["@read", "@sortedset", "@slow"], "6.2.0",
        "Intersect multiple sorted sets", zinter),
    spec("zinterstore", -4, F::WRITE.union(F::DENYOOM).union(F::MOVABLEKEYS), [1, 1, 1], &["@write", "@sortedset", "@slow"], "2.0.0",
        "Intersect multiple sorted sets and store the resulting sorted set in a new key", zinterstore),
    spec("zunion", -3, F::READONLY.union(F::MOVABLEKEYS), [0, 0, 0], &["@read", "@sortedset", "@slow"], "6.2.0",
        "Add multiple sorted sets", zunion),
    spec("zunionstore", -4, F::WRITE.union(F::DENYOOM).union(F::MOVABLEKEYS), [1, 1, 1], &["@write", "@sortedset", "@slow"], "2.0.0",
        "Add multiple sorted sets and store the resulting sorted set in a new key", zunionstore),
    spec("zdiff", -3, F::READONLY.union(F::MOVABLEKEYS), [0, 0, 0], &["@read", "@sortedset", "@slow"], "6.2.0",
        "Subtract multiple sorted sets", zdiff),
    spec("zdiffstore", -4, F::WRITE.union(F::DENYOOM).union(F::MOVABLEKEYS), [1, 1, 1], &["@write", "@sortedset", "@slow"], "6.2.0",
        "Subtract multiple sorted sets and store the resulting sorted set in a new key", zdiffstore),
    spec("zintercard", -3, F::READONLY.union(F::MOVABLEKEYS), [0, 0, 0], &["@read", "@sortedset", "@slow"], "7.0.0",
        "Intersect multiple sorted sets and return the cardinality of the result", zintercard),
    spec("bzpopmin", -3, F::WRITE.union(F::NOSCRIPT).union(F::BLOCKING).union(F::FAST), [1, -2, 1], &["@write", "@sortedset", "@fast", "@blocking"], "5.0.0",
        "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", bzpop),
    spec("bzpopmax", -3, F::WRITE.union(F::NOSCRIPT).union(F::BLOCKING).union(F::FAST), [1, -2, 1], &["@write", "@sortedset", "@fast", "@blocking"], "5.0.0",
        "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", bzpop),
    spec("bzmpop", -5, F::WRITE.union(F::BLOCKING).union(F::MOVABLEKEYS), [0, 0, 0], &["@write", "@sortedset", "@slow", "@blocking"], "7.0.0",
        "Remove and return members with scores in a sorted set or block until one is available", bzmpop),
];

/// The sorted set at `key` for reading: `Ok(None)` when missing, `WRONGTYPE` for another type.
fn read_zset<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a ZSet>, Reply> {
    match lookup_read(node, key).map(|e| e.value) {
        None => Ok(None),
        Some(ValueRef::ZSet(zset)) => Ok(Some(zset)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// The sorted set at `key` for changing in place: `Ok(None)` when missing, `WRONGTYPE` for
/// another type. A caller that empties it removes the key.
fn write_zset<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a mut ZSet>, Reply> {
    match lookup_write(node, key).map(|e| e.into_collection_mut()) {
        None => Ok(None),
        Some(Some(Collection::ZSet(zset))) => Ok(Some(zset)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// Stores `zset` at `key` (replacing any value and TTL there; an empty one deletes the key);
/// true when the keyspace changed.
fn store_zset(node: &mut Node, key: &[u8], zset: ZSet) -> bool {
    if zset.is_empty() {
        node.db.remove(key)
    } else {
        node.db.set_owned(key, Value::ZSet(zset), None);
        true
    }
}

fn is_resp3(node: &Node, client: ClientId) -> bool {
    node.client_protocol(client) == 3
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

/// Members, with their scores when asked: `member, score, …` in RESP2, `[member, score]`
/// pairs in RESP3 (Redis 7.0's shape for every command that answers scores in a list).
fn scored_reply<'a>(
    items: impl Iterator<Item = (&'a [u8], f64)>,
    with_scores: bool,
    resp3: bool,
) -> Reply {
    let items = items.map(|(m, s)| (Bytes::copy_from_slice(m), s));
    scored_reply_owned(items, with_scores, resp3)
}

/// [`scored_reply`] for members already copied out of the set.
fn scored_reply_owned(
    items: impl Iterator<Item = (Bytes, f64)>,
    with_scores: bool,
    resp3: bool,
) -> Reply {
    let mut out = Vec::new();
    for (member, score) in items {
        match (with_scores, resp3) {
            (false, _) => out.push(Reply::Bulk(member)),
            (true, false) => out.extend([Reply::Bulk(member), Reply::Double(score)]),
            (true, true) => out.push(Reply::Array(vec![
                Reply::Bulk(member),
                Reply::Double(score),
            ])),
        }
    }
    Reply::Array(out)
}

#[cfg(test)]
mod tests;
