//! Set algebra: SINTER, SUNION, SDIFF, their STORE forms, and SINTERCARD.
//!
//! Every source key is type-checked before any result is computed (a missing key is an empty
//! set), as Redis does. Results are built as new sets, so their encoding and order follow
//! the same rules as any set (an all-integer result is an intset, in ascending order).

use bytes::Bytes;

use super::{members_reply, read_set};
use crate::cmd::keys::{argv, expiry_now_ms, propagate};
use crate::cmd::{is, parse_i64};
use crate::db::{EncodingLimits, Set, Value, ValueRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The sources (`None` for a missing key), or `WRONGTYPE`. A first pass does the counted,
/// expiring lookups; the second borrows the sets without copying them.
fn sources<'a>(node: &'a mut Node, keys: &[Bytes]) -> Result<Vec<Option<&'a Set>>, Reply> {
    for key in keys {
        read_set(node, key)?;
    }
    let node: &'a Node = node;
    let now_ms = expiry_now_ms(node);
    let set_at = |key: &Bytes| match node.db.get(key, now_ms).map(|e| e.value) {
        Some(ValueRef::Set(set)) => Some(set),
        _ => None,
    };
    Ok(keys.iter().map(set_at).collect())
}

fn compute(op: Op, sets: &[Option<&Set>], limits: &EncodingLimits) -> Set {
    let mut result = Set::new();
    match op {
        Op::Inter => {
            if sets.iter().any(Option::is_none) {
                return result;
            }
            let mut present: Vec<&Set> = sets.iter().flatten().copied().collect();
            // Like Redis: walk the smallest set, probe the others.
            present.sort_by_key(|s| s.len());
            let (smallest, others) = present.split_first().expect("at least one key");
            for member in smallest.iter() {
                if others.iter().all(|s| s.contains(member)) {
                    result.insert_limited(member, limits);
                }
            }
        }
        Op::Union => {
            for member in sets.iter().flatten().flat_map(|s| s.iter()) {
                result.insert_limited(member, limits);
            }
        }
        Op::Diff => {
            if let Some(Some(first)) = sets.first() {
                let others: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
                for member in first.iter() {
                    if !others.iter().any(|s| s.contains(member)) {
                        result.insert_limited(member, limits);
                    }
                }
            }
        }
    }
    result
}

fn answer(node: &mut Node, keys: &[Bytes], op: Op) -> Reply {
    let limits = node.config.encoding_limits;
    match sources(node, keys) {
        Ok(sets) => members_reply(compute(op, &sets, &limits).iter()),
        Err(wrong_type) => wrong_type,
    }
}

/// Stores the result at `args[1]` (replacing any value and TTL there; an empty result deletes
/// it) and answers its size.
fn store(node: &mut Node, args: &[Bytes], op: Op) -> Reply {
    let limits = node.config.encoding_limits;
    let sets = match sources(node, &args[2..]) {
        Ok(sets) => sets,
        Err(wrong_type) => return wrong_type,
    };
    let result = compute(op, &sets, &limits);
    let destination = &args[1];
    let len = result.len();
    let changed = if result.is_empty() {
        node.db.remove(destination)
    } else {
        node.db.set_owned(destination, Value::Set(result), None);
        true
    };
    if changed {
        propagate(node, argv(args));
    }
    Reply::Integer(len as i64)
}

pub(super) fn sinter(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, &args[1..], Op::Inter)
}

pub(super) fn sunion(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, &args[1..], Op::Union)
}

pub(super) fn sdiff(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, &args[1..], Op::Diff)
}

pub(super) fn sinterstore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    store(node, args, Op::Inter)
}

pub(super) fn sunionstore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    store(node, args, Op::Union)
}

pub(super) fn sdiffstore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    store(node, args, Op::Diff)
}

/// SINTERCARD `numkeys key [key …] [LIMIT limit]`: the intersection's size, counting stops
/// at a non-zero limit.
pub(super) fn sintercard(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let numkeys = match parse_i64(&args[1]).filter(|&n| n > 0) {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => return Reply::err("numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return Reply::err("Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    for pair in args[2 + numkeys..].chunks(2) {
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
    let count = match sources(node, &args[2..2 + numkeys]) {
        Ok(sets) => compute(Op::Inter, &sets, &EncodingLimits::default()).len(),
        Err(wrong_type) => return wrong_type,
    };
    let count = if limit == 0 { count } else { count.min(limit) };
    Reply::Integer(count as i64)
}
