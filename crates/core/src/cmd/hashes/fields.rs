//! One field at a time: HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HLEN, HEXISTS and HSTRLEN.

use bytes::Bytes;

use super::{bulk, hash_for_write, read_hash, write_hash};
use crate::cmd::keys::{argv, propagate};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// HSET `key field value [field value …]`: the number of new fields.
pub(super) fn hset(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match set_pairs(node, args, "hset") {
        Ok(added) => Reply::Integer(added as i64),
        Err(e) => e,
    }
}

/// HMSET: HSET answering `OK`.
pub(super) fn hmset(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match set_pairs(node, args, "hmset") {
        Ok(_) => Reply::ok(),
        Err(e) => e,
    }
}

/// Sets every pair; always propagated, as Redis counts updates as changes too.
fn set_pairs(node: &mut Node, args: &[Bytes], name: &str) -> Result<usize, Reply> {
    if !args.len().is_multiple_of(2) {
        return Err(Reply::wrong_arity(name));
    }
    let limits = node.config.encoding_limits;
    let hash = hash_for_write(node, &args[1])?;
    let added = args[2..]
        .chunks(2)
        .filter(|pair| hash.insert_limited(&pair[0], &pair[1], &limits))
        .count();
    propagate(node, argv(args));
    Ok(added)
}

pub(super) fn hsetnx(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let limits = node.config.encoding_limits;
    let hash = match write_hash(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(Some(hash)) if hash.contains(&args[2]) => return Reply::Integer(0),
        Ok(_) => hash_for_write(node, &args[1]).expect("the type was checked"),
    };
    hash.insert_limited(&args[2], &args[3], &limits);
    propagate(node, argv(args));
    Reply::Integer(1)
}

pub(super) fn hget(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_hash(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(hash) => hash.and_then(|h| h.get(&args[2])).map_or(Reply::Nil, bulk),
    }
}

pub(super) fn hmget(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let hash = match read_hash(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(hash) => hash,
    };
    let values = args[2..]
        .iter()
        .map(|field| hash.and_then(|h| h.get(field)).map_or(Reply::Nil, bulk))
        .collect();
    Reply::Array(values)
}

/// HDEL `key field [field …]`: how many were there; the key goes with the last field.
pub(super) fn hdel(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let hash = match write_hash(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(hash)) => hash,
    };
    let deleted = args[2..].iter().filter(|f| hash.remove(f)).count();
    if hash.is_empty() {
        node.db.remove(key);
    }
    if deleted > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(deleted as i64)
}

pub(super) fn hlen(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_hash(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(hash) => Reply::Integer(hash.map_or(0, |h| h.len()) as i64),
    }
}

pub(super) fn hexists(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_hash(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(hash) => Reply::Integer(i64::from(hash.is_some_and(|h| h.contains(&args[2])))),
    }
}

pub(super) fn hstrlen(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_hash(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(hash) => {
            let len = hash.and_then(|h| h.get(&args[2])).map_or(0, <[u8]>::len);
            Reply::Integer(len as i64)
        }
    }
}
