//! The algebra: ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD. Plain sets count as
//! sorted sets whose members all score 1.
//!
//! As in Redis, every source is type-checked before the options are read; union and
//! intersection walk the sources from the smallest to the largest (so sums add up in Redis's
//! order), a weighted score or a sum that is NaN (`inf * 0`, `inf + -inf`) counts as 0, and
//! the result is built as a skiplist, stored as a listpack if it fits.

use bytes::Bytes;

use super::score::parse_score;
use super::{is_resp3, scored_reply, store_zset};
use crate::cmd::keys::{argv, expiry_now_ms, lookup_read, propagate};
use crate::cmd::{is, parse_i64};
use crate::db::{EncodingLimits, Set, ValueRef, ZSet};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = acc + value;
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min => acc.min(value),
            Aggregate::Max => acc.max(value),
        }
    }
}

/// One input: a sorted set or a set (scores 1).
#[derive(Clone, Copy)]
enum Source<'a> {
    ZSet(&'a ZSet),
    Set(&'a Set),
}

impl<'a> Source<'a> {
    fn len(self) -> usize {
        match self {
            Source::ZSet(z) => z.len(),
            Source::Set(s) => s.len(),
        }
    }

    fn score(self, member: &[u8]) -> Option<f64> {
        match self {
            Source::ZSet(z) => z.score(member),
            Source::Set(s) => s.contains(member).then_some(1.0),
        }
    }

    fn iter(self) -> Box<dyn Iterator<Item = (&'a [u8], f64)> + 'a> {
        match self {
            Source::ZSet(z) => Box::new(z.iter()),
            Source::Set(s) => Box::new(s.iter().map(|m| (m, 1.0))),
        }
    }
}

/// The key count at `args[at]` and the keys after it, or Redis's error.
fn counted(args: &[Bytes], at: usize) -> Result<&[Bytes], Reply> {
    let numkeys = parse_i64(&args[at]).ok_or_else(Reply::not_integer)?;
    if numkeys < 1 {
        let name = String::from_utf8_lossy(&args[0]).to_lowercase();
        return Err(Reply::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    match usize::try_from(numkeys) {
        Ok(n) if n < args.len() - at => Ok(&args[at + 1..at + 1 + n]),
        _ => Err(Reply::syntax_error()),
    }
}

/// The sources (`None` for a missing key), or `WRONGTYPE`: counted lookups first, then
/// borrows.
fn sources<'a>(node: &'a mut Node, keys: &[Bytes]) -> Result<Vec<Option<Source<'a>>>, Reply> {
    for key in keys {
        match lookup_read(node, key).map(|e| e.value) {
            None | Some(ValueRef::ZSet(_) | ValueRef::Set(_)) => {}
            Some(_) => return Err(Reply::wrong_type()),
        }
    }
    let node: &'a Node = node;
    let now_ms = expiry_now_ms(node);
    let source = |key: &Bytes| match node.db.get(key, now_ms).map(|e| e.value) {
        Some(ValueRef::ZSet(z)) => Some(Source::ZSet(z)),
        Some(ValueRef::Set(s)) => Some(Source::Set(s)),
        _ => None,
    };
    Ok(keys.iter().map(source).collect())
}

struct Options {
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
}

/// `[WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]` (ZDIFF: WITHSCORES only; STORE forms:
/// no WITHSCORES).
fn parse_options(rest: &[Bytes], keys: usize, op: Op, store: bool) -> Result<Options, Reply> {
    let mut o = Options {
        weights: vec![1.0; keys],
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    let mut j = 0;
    while j < rest.len() {
        let (word, left) = (&rest[j], rest.len() - j);
        if op != Op::Diff && left > keys && is(word, "weights") {
            for (i, w) in rest[j + 1..=j + keys].iter().enumerate() {
                o.weights[i] =
                    parse_score(w).ok_or_else(|| Reply::err("weight value is not a float"))?;
            }
            j += 1 + keys;
        } else if op != Op::Diff && left >= 2 && is(word, "aggregate") {
            let name = &rest[j + 1];
            o.aggregate = match () {
                _ if is(name, "sum") => Aggregate::Sum,
                _ if is(name, "min") => Aggregate::Min,
                _ if is(name, "max") => Aggregate::Max,
                _ => return Err(Reply::syntax_error()),
            };
            j += 2;
        } else if !store && is(word, "withscores") {
            o.with_scores = true;
            j += 1;
        } else {
            return Err(Reply::syntax_error());
        }
    }
    Ok(o)
}

fn weighted(score: f64, weight: f64) -> f64 {
    let product = score * weight;
    if product.is_nan() {
        0.0
    } else {
        product
    }
}

fn compute(op: Op, sources: &[Option<Source<'_>>], o: &Options, limits: &EncodingLimits) -> ZSet {
    // Built as a skiplist, as Redis builds it (a listpack would turn -0 into 0).
    let mut result = ZSet::new_skiplist();
    // Smallest first, as Redis walks them (ZDIFF keeps the first key first).
    let mut order: Vec<(Option<Source<'_>>, f64)> = sources
        .iter()
        .copied()
        .zip(o.weights.iter().copied())
        .collect();
    if op != Op::Diff {
        order.sort_by_key(|(s, _)| s.map_or(0, Source::len));
    }
    match op {
        Op::Inter => {
            let Some(present) = order
                .iter()
                .map(|(s, w)| s.map(|s| (s, *w)))
                .collect::<Option<Vec<_>>>()
            else {
                return result;
            };
            let ((first, first_weight), others) = present.split_first().expect("one key at least");
            'members: for (member, score) in first.iter() {
                let mut acc = weighted(score, *first_weight);
                for (other, weight) in others {
                    let Some(s) = other.score(member) else {
                        continue 'members;
                    };
                    acc = o.aggregate.apply(acc, weighted(s, *weight));
                }
                result.insert_limited(member, acc, limits);
            }
        }
        Op::Union => {
            for (source, weight) in order.iter().filter_map(|(s, w)| s.map(|s| (s, *w))) {
                for (member, score) in source.iter() {
                    let value = weighted(score, weight);
                    let acc = match result.score(member) {
                        Some(acc) => o.aggregate.apply(acc, value),
                        None => value,
                    };
                    result.insert_limited(member, acc, limits);
                }
            }
        }
        Op::Diff => {
            if let Some((Some(first), _)) = order.first() {
                let others: Vec<Source<'_>> = order[1..].iter().filter_map(|(s, _)| *s).collect();
                for (member, score) in first.iter() {
                    if others.iter().all(|s| s.score(member).is_none()) {
                        result.insert_limited(member, score, limits);
                    }
                }
            }
        }
    }
    result
}

/// The non-store forms: `numkeys key … [options]`.
fn answer(node: &mut Node, client: ClientId, args: &[Bytes], op: Op) -> Reply {
    let keys = match counted(args, 1) {
        Ok(keys) => keys,
        Err(e) => return e,
    };
    let resp3 = is_resp3(node, client);
    let limits = node.config.encoding_limits;
    let sources = match sources(node, keys) {
        Ok(sources) => sources,
        Err(wrong_type) => return wrong_type,
    };
    match parse_options(&args[2 + keys.len()..], keys.len(), op, false) {
        Ok(o) => scored_reply(
            compute(op, &sources, &o, &limits).iter(),
            o.with_scores,
            resp3,
        ),
        Err(e) => e,
    }
}

/// The STORE forms: `destination numkeys key … [options]`; answers the result's size, an
/// empty result deletes the destination. Replays as sent.
fn store(node: &mut Node, args: &[Bytes], op: Op) -> Reply {
    let keys = match counted(args, 2) {
        Ok(keys) => keys,
        Err(e) => return e,
    };
    let limits = node.config.encoding_limits;
    let sources = match sources(node, keys) {
        Ok(sources) => sources,
        Err(wrong_type) => return wrong_type,
    };
    let result = match parse_options(&args[3 + keys.len()..], keys.len(), op, true) {
        Ok(o) => compute(op, &sources, &o, &limits).into_compact(&limits),
        Err(e) => return e,
    };
    let len = result.len();
    if store_zset(node, &args[1], result) {
        propagate(node, argv(args));
    }
    Reply::Integer(len as i64)
}

pub(super) fn zunion(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, Op::Union)
}

pub(super) fn zinter(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, Op::Inter)
}

pub(super) fn zdiff(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, Op::Diff)
}

pub(super) fn zunionstore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    store(node, args, Op::Union)
}

pub(super) fn zinterstore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    store(node, args, Op::Inter)
}

pub(super) fn zdiffstore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    store(node, args, Op::Diff)
}

/// ZINTERCARD `numkeys key … [LIMIT limit]`: the intersection's size, at most a non-zero
/// limit.
pub(super) fn zintercard(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let keys = match counted(args, 1) {
        Ok(keys) => keys,
        Err(e) => return e,
    };
    let sources = match sources(node, keys) {
        Ok(sources) => sources,
        Err(wrong_type) => return wrong_type,
    };
    let mut limit = 0usize;
    for pair in args[2 + keys.len()..].chunks(2) {
        match pair {
            [word, value] if is(word, "limit") => {
                match parse_i64(value).and_then(|n| usize::try_from(n).ok()) {
                    Some(n) => limit = n,
                    None => return Reply::err("LIMIT can't be negative"),
                }
            }
            _ => return Reply::syntax_error(),
        }
    }
    let options = Options {
        weights: vec![1.0; keys.len()],
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    let count = compute(Op::Inter, &sources, &options, &EncodingLimits::default()).len();
    let count = if limit == 0 { count } else { count.min(limit) };
    Reply::Integer(count as i64)
}
