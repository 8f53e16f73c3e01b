//! BITOP `AND|OR|XOR|NOT destkey key …`: byte-wise operations over strings, shorter (and
//! missing) sources padded with zero bytes; the result is as long as the longest source.

use bytes::Bytes;

use super::{line, store_new};
use crate::cmd::is;
use crate::cmd::keys::{expire_if_due, lookup_read, propagate};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

#[derive(Clone, Copy)]
enum Op {
    And,
    Or,
    Xor,
    Not,
}

fn parse_op(arg: &[u8]) -> Option<Op> {
    [
        ("and", Op::And),
        ("or", Op::Or),
        ("xor", Op::Xor),
        ("not", Op::Not),
    ]
    .into_iter()
    .find(|(name, _)| is(arg, name))
    .map(|(_, op)| op)
}

/// The sources' bytes (empty for a missing key), or `WRONGTYPE`.
fn sources(node: &mut Node, keys: &[Bytes]) -> Result<Vec<Vec<u8>>, Reply> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        match lookup_read(node, key) {
            None => out.push(Vec::new()),
            Some(entry) => match entry.value.as_string() {
                Some(bytes) => out.push(bytes.to_vec()),
                None => return Err(Reply::wrong_type()),
            },
        }
    }
    Ok(out)
}

fn combine(op: Op, sources: &[Vec<u8>]) -> Vec<u8> {
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    let byte = |src: &Vec<u8>, i: usize| src.get(i).copied().unwrap_or(0);
    (0..len)
        .map(|i| {
            let first = byte(&sources[0], i);
            let rest = sources[1..].iter().map(|s| byte(s, i));
            match op {
                Op::And => rest.fold(first, |a, b| a & b),
                Op::Or => rest.fold(first, |a, b| a | b),
                Op::Xor => rest.fold(first, |a, b| a ^ b),
                Op::Not => !first,
            }
        })
        .collect()
}

/// Answers the result's length. An empty result deletes the destination instead; the
/// destination loses any TTL, as with SET.
pub(super) fn bitop(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(op) = parse_op(&args[1]) else {
        return Reply::syntax_error();
    };
    if matches!(op, Op::Not) && args.len() != 4 {
        return Reply::err("BITOP NOT must be called with a single source key.");
    }
    let sources = match sources(node, &args[3..]) {
        Ok(sources) => sources,
        Err(e) => return e,
    };
    let result = combine(op, &sources);
    let dest = &args[2];
    expire_if_due(node, dest);
    if result.is_empty() {
        if node.db.remove(dest) {
            propagate(node, line(args));
        }
        return Reply::Integer(0);
    }
    store_new(node, dest, &result);
    propagate(node, line(args));
    Reply::Integer(result.len() as i64)
}
