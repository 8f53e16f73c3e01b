//! Member by member: ZADD (NX|XX|GT|LT|CH|INCR), ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE,
//! ZRANK, ZREVRANK, and the counts ZCOUNT and ZLEXCOUNT.

use bytes::Bytes;

use super::score::{parse_lex_range, parse_score, parse_score_range};
use super::{read_zset, write_zset};
use crate::cmd::is;
use crate::cmd::keys::{argv, propagate};
use crate::db::{Value, ZSet};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// ZADD's options.
#[derive(Default)]
struct AddOptions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

impl AddOptions {
    /// The options before the first score, and where that score is.
    fn parse(args: &[Bytes]) -> (AddOptions, usize) {
        let mut o = AddOptions::default();
        let mut at = 2;
        while let Some(word) = args.get(at) {
            let flag = match () {
                _ if is(word, "nx") => &mut o.nx,
                _ if is(word, "xx") => &mut o.xx,
                _ if is(word, "gt") => &mut o.gt,
                _ if is(word, "lt") => &mut o.lt,
                _ if is(word, "ch") => &mut o.ch,
                _ if is(word, "incr") => &mut o.incr,
                _ => break,
            };
            *flag = true;
            at += 1;
        }
        (o, at)
    }

    /// Redis's checks, in its order, once the pairs are counted.
    fn check(&self, pairs: usize) -> Result<(), Reply> {
        if self.nx && self.xx {
            return Err(Reply::err(
                "XX and NX options at the same time are not compatible",
            ));
        }
        if (self.nx && (self.gt || self.lt)) || (self.gt && self.lt) {
            return Err(Reply::err(
                "GT, LT, and/or NX options at the same time are not compatible",
            ));
        }
        if self.incr && pairs > 1 {
            return Err(Reply::err(
                "INCR option supports a single increment-element pair",
            ));
        }
        Ok(())
    }
}

/// What one member's update did.
enum Outcome {
    Added(f64),
    Updated(f64),
    /// Processed without a change (same score).
    Same(f64),
    /// Skipped by NX, XX, GT or LT.
    Skipped,
}

/// One `score member` under the options (Redis's `zsetAdd`).
fn add_one(
    zset: &mut ZSet,
    o: &AddOptions,
    score: f64,
    member: &[u8],
    node_limits: &crate::db::EncodingLimits,
) -> Result<Outcome, Reply> {
    let Some(current) = zset.score(member) else {
        if o.xx {
            return Ok(Outcome::Skipped);
        }
        zset.insert_limited(member, score, node_limits);
        return Ok(Outcome::Added(score));
    };
    if o.nx {
        return Ok(Outcome::Skipped);
    }
    let new = if o.incr { current + score } else { score };
    if new.is_nan() {
        return Err(Reply::err("resulting score is not a number (NaN)"));
    }
    if (o.lt && new >= current) || (o.gt && new <= current) {
        return Ok(Outcome::Skipped);
    }
    if new == current {
        return Ok(Outcome::Same(new));
    }
    zset.insert_limited(member, new, node_limits);
    Ok(Outcome::Updated(new))
}

pub(crate) fn zadd(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (options, first) = AddOptions::parse(args);
    add(node, args, &options, &args[first..])
}

/// ZINCRBY `key increment member`: ZADD INCR by another name.
pub(super) fn zincrby(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let options = AddOptions {
        incr: true,
        ..AddOptions::default()
    };
    add(node, args, &options, &args[2..])
}

fn add(node: &mut Node, args: &[Bytes], o: &AddOptions, pairs: &[Bytes]) -> Reply {
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Reply::syntax_error();
    }
    if let Err(e) = o.check(pairs.len() / 2) {
        return e;
    }
    let Some(scores) = pairs
        .iter()
        .step_by(2)
        .map(|s| parse_score(s))
        .collect::<Option<Vec<f64>>>()
    else {
        return Reply::err("value is not a valid float");
    };
    let key = &args[1];
    let limits = node.config.encoding_limits;
    let missing = match write_zset(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(zset) => zset.is_none(),
    };
    if missing && o.xx {
        return if o.incr {
            Reply::Nil
        } else {
            Reply::Integer(0)
        };
    }
    if missing {
        // A listpack, unless the first member converts it at once (Redis 7.0 sizes a new
        // set by its first member only: 129 copies of one member stay a listpack).
        node.db.set_owned(key, Value::ZSet(ZSet::new()), None);
    }
    let zset = write_zset(node, key).ok().flatten().expect("present");
    let (mut added, mut updated, mut last) = (0, 0, None);
    for (score, member) in scores.iter().zip(pairs.iter().skip(1).step_by(2)) {
        match add_one(zset, o, *score, member, &limits) {
            Err(nan) => return nan,
            Ok(Outcome::Added(s)) => (added, last) = (added + 1, Some(s)),
            Ok(Outcome::Updated(s)) => (updated, last) = (updated + 1, Some(s)),
            Ok(Outcome::Same(s)) => last = Some(s),
            Ok(Outcome::Skipped) => {}
        }
    }
    if added + updated > 0 {
        propagate(node, argv(args));
    }
    match (o.incr, last) {
        (true, Some(score)) => Reply::Double(score),
        (true, None) => Reply::Nil,
        (false, _) if o.ch => Reply::Integer(added + updated),
        (false, _) => Reply::Integer(added),
    }
}

pub(super) fn zrem(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let zset = match write_zset(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(zset)) => zset,
    };
    let removed = args[2..]
        .iter()
        .filter(|m| zset.remove(m).is_some())
        .count();
    if zset.is_empty() {
        node.db.remove(key);
    }
    if removed > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(removed as i64)
}

pub(super) fn zcard(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_zset(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(zset) => Reply::Integer(zset.map_or(0, ZSet::len) as i64),
    }
}

fn score_reply(score: Option<f64>) -> Reply {
    score.map_or(Reply::Nil, Reply::Double)
}

pub(super) fn zscore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_zset(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(zset) => score_reply(zset.and_then(|z| z.score(&args[2]))),
    }
}

pub(super) fn zmscore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_zset(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(zset) => Reply::Array(
            args[2..]
                .iter()
                .map(|m| score_reply(zset.and_then(|z| z.score(m))))
                .collect(),
        ),
    }
}

fn rank(node: &mut Node, args: &[Bytes], rev: bool) -> Reply {
    let zset = match read_zset(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Nil,
        Ok(Some(zset)) => zset,
    };
    match zset.rank(&args[2]) {
        None => Reply::Nil,
        Some(r) if rev => Reply::Integer((zset.len() - 1 - r) as i64),
        Some(r) => Reply::Integer(r as i64),
    }
}

pub(super) fn zrank(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    rank(node, args, false)
}

pub(super) fn zrevrank(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    rank(node, args, true)
}

/// ZCOUNT `key min max`: the range is checked before the key.
pub(super) fn zcount(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (min, max) = match parse_score_range(&args[2], &args[3]) {
        Ok(range) => range,
        Err(e) => return Reply::err(e),
    };
    match read_zset(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(None) => Reply::Integer(0),
        Ok(Some(zset)) => Reply::Integer(zset.score_count(min, max) as i64),
    }
}

/// ZLEXCOUNT `key min max`: the range is checked before the key.
pub(super) fn zlexcount(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (min, max) = match parse_lex_range(&args[2], &args[3]) {
        Ok(range) => range,
        Err(e) => return Reply::err(e),
    };
    match read_zset(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(None) => Reply::Integer(0),
        Ok(Some(zset)) => Reply::Integer(zset.lex_range(&min, &max, false).count() as i64),
    }
}
