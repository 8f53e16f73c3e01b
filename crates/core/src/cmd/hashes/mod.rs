//! Hash commands: fields set, read and deleted one by one or all at once, counters in fields,
//! HRANDFIELD and HSCAN.
//!
//! Field order (HGETALL, HKEYS, HVALS, HSCAN) is the hash's own deterministic order, which is
//! Redis's while the hash would be a listpack in Redis (see `db::Hash`). A hash that loses its
//! last field loses its key. Writes replay as sent, except HINCRBYFLOAT, which replays as
//! `HSET key field <result>` (what Redis 7.0 propagates, so float rounding happens once).
//!
//! Here: the command table and the helpers; the commands are in `fields`, `whole` and `incr`.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::keys::{lookup_read, lookup_write};
use crate::cmd::CmdFlags as F;
use crate::db::{Collection, Hash, Value, ValueRef};
use crate::node::Node;
use crate::reply::Reply;

mod fields;
mod incr;
mod whole;

use fields::{hdel, hexists, hget, hlen, hmget, hmset, hset, hsetnx, hstrlen};
use incr::{hincrby, hincrbyfloat};
use whole::{hgetall, hkeys, hrandfield, hscan, hvals};

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "hset",
        arity: -4,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@hash", "@fast"],
        group: "hash",
        summary: "Set the string value of a hash field",
        since: "2.0.0",
        handler: hset,
    },
    CommandSpec {
        name: "hsetnx",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@hash", "@fast"],
        group: "hash",
        summary: "Set the value of a hash field, only if the field does not exist",
        since: "2.0.0",
        handler: hsetnx,
    },
    CommandSpec {
        name: "hmset",
        arity: -4,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@hash", "@fast"],
        group: "hash",
        summary: "Set multiple hash fields to multiple values",
        since: "2.0.0",
        handler: hmset,
    },
    CommandSpec {
        name: "hget",
        arity: 3,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@fast"],
        group: "hash",
        summary: "Get the value of a hash field",
        since: "2.0.0",
        handler: hget,
    },
    CommandSpec {
        name: "hmget",
        arity: -3,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@fast"],
        group: "hash",
        summary: "Get the values of all the given hash fields",
        since: "2.0.0",
        handler: hmget,
    },
    CommandSpec {
        name: "hdel",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@hash", "@fast"],
        group: "hash",
        summary: "Delete one or more hash fields",
        since: "2.0.0",
        handler: hdel,
    },
    CommandSpec {
        name: "hlen",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@fast"],
        group: "hash",
        summary: "Get the number of fields in a hash",
        since: "2.0.0",
        handler: hlen,
    },
    CommandSpec {
        name: "hexists",
        arity: 3,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@fast"],
        group: "hash",
        summary: "Determine if a hash field exists",
        since: "2.0.0",
        handler: hexists,
    },
    CommandSpec {
        name: "hkeys",
        arity: 2,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@slow"],
        group: "hash",
        summary: "Get all the fields in a hash",
        since: "2.0.0",
        handler: hkeys,
    },
    CommandSpec {
        name: "hvals",
        arity: 2,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@slow"],
        group: "hash",
        summary: "Get all the values in a hash",
        since: "2.0.0",
        handler: hvals,
    },
    CommandSpec {
        name: "hgetall",
        arity: 2,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@slow"],
        group: "hash",
        summary: "Get all the fields and values in a hash",
        since: "2.0.0",
        handler: hgetall,
    },
    CommandSpec {
        name: "hincrby",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@hash", "@fast"],
        group: "hash",
        summary: "Increment the integer value of a hash field by the given number",
        since: "2.0.0",
        handler: hincrby,
    },
    CommandSpec {
        name: "hincrbyfloat",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@hash", "@fast"],
        group: "hash",
        summary: "Increment the float value of a hash field by the given amount",
        since: "2.6.0",
        handler: hincrbyfloat,
    },
    CommandSpec {
        name: "hstrlen",
        arity: 3,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@fast"],
        group: "hash",
        summary: "Get the length of the value of a hash field",
        since: "3.2.0",
        handler: hstrlen,
    },
    CommandSpec {
        name: "hrandfield",
        arity: -2,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@slow"],
        group: "hash",
        summary: "Get one or multiple random fields from a hash",
        since: "6.2.0",
        handler: hrandfield,
    },
    CommandSpec {
        name: "hscan",
        arity: -3,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@hash", "@slow"],
        group: "hash",
        summary: "Incrementally iterate hash fields and associated values",
        since: "2.8.0",
        handler: hscan,
    },
];

/// The hash at `key` for reading: `Ok(None)` when missing, `WRONGTYPE` for another type.
fn read_hash<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a Hash>, Reply> {
    match lookup_read(node, key).map(|e| e.value) {
        None => Ok(None),
        Some(ValueRef::Hash(hash)) => Ok(Some(hash)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// The hash at `key` for changing in place: `Ok(None)` when missing, `WRONGTYPE` for another
/// type.
fn write_hash<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a mut Hash>, Reply> {
    match lookup_write(node, key).map(|e| e.into_collection_mut()) {
        None => Ok(None),
        Some(Some(Collection::Hash(hash))) => Ok(Some(hash)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// The hash at `key`, created empty when missing (the caller sets a field at once).
fn hash_for_write<'a>(node: &'a mut Node, key: &[u8]) -> Result<&'a mut Hash, Reply> {
    if write_hash(node, key)?.is_none() {
        node.db.set_owned(key, Value::Hash(Hash::new()), None);
    }
    Ok(write_hash(node, key)?.expect("just created"))
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

#[cfg(test)]
mod tests;
