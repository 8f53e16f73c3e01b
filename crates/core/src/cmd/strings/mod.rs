//! String commands: SET and its variants, the GET family, counters (integer and float),
//! APPEND and ranges.
//!
//! Key access goes through the shared lookups in `keys.rs` (lazy expiry, hit/miss counting) and
//! every write reports its replay form through `keys::propagate`. GET, SET and INCR, the hot
//! paths, first probe the keyspace once (`Db::peek`) and take the shared lookups only for an
//! expired key, so a live or missing key costs one hash lookup instead of three.
//!
//! Here: the command table and the helpers the command files share; the commands are in `set`,
//! `get`, `counters` and `ranges`.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::CmdFlags as F;
use crate::db::EntryRef;
use crate::reply::Reply;

mod counters;
mod get;
mod ranges;
mod set;

use counters::{decr, decrby, incr, incrby, incrbyfloat};
use get::{get, getdel, mget, strlen};
use ranges::{append, getrange, setrange};
use set::{getex, mset, msetnx, psetex, set, setex, setnx};

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "set",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set the string value of a key",
        since: "1.0.0",
        handler: set,
    },
    CommandSpec {
        name: "get",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        group: "string",
        summary: "Get the value of a key",
        since: "1.0.0",
        handler: get,
    },
    CommandSpec {
        name: "getdel",
        arity: 2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Get the value of a key and delete the key",
        since: "6.2.0",
        handler: getdel,
    },
    CommandSpec {
        name: "getex",
        arity: -2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Get the value of a key and optionally set its expiration",
        since: "6.2.0",
        handler: getex,
    },
    CommandSpec {
        name: "setnx",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Set the value of a key, only if the key does not exist",
        since: "1.0.0",
        handler: setnx,
    },
    CommandSpec {
        name: "setex",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set the value and expiration of a key",
        since: "2.0.0",
        handler: setex,
    },
    CommandSpec {
        name: "psetex",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set the value and expiration in milliseconds of a key",
        since: "2.6.0",
        handler: psetex,
    },
    CommandSpec {
        name: "mget",
        arity: -2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        group: "string",
        summary: "Get the values of all the given keys",
        since: "1.0.0",
        handler: mget,
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: -1,
        key_step: 2,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set multiple keys to multiple values",
        since: "1.0.1",
        handler: mset,
    },
    CommandSpec {
        name: "msetnx",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: -1,
        key_step: 2,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set multiple keys to multiple values, only if none of the keys exist",
        since: "1.0.1",
        handler: msetnx,
    },
    CommandSpec {
        name: "incr",
        arity: 2,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Increment the integer value of a key by one",
        since: "1.0.0",
        handler: incr,
    },
    CommandSpec {
        name: "incrbyfloat",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Increment the float value of a key by the given amount",
        since: "2.6.0",
        handler: incrbyfloat,
    },
    CommandSpec {
        name: "decr",
        arity: 2,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Decrement the integer value of a key by one",
        since: "1.0.0",
        handler: decr,
    },
    CommandSpec {
        name: "incrby",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Increment the integer value of a key by the given amount",
        since: "1.0.0",
        handler: incrby,
    },
    CommandSpec {
        name: "decrby",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Decrement the integer value of a key by the given number",
        since: "1.0.0",
        handler: decrby,
    },
    CommandSpec {
        name: "append",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Append a value to a key",
        since: "2.0.0",
        handler: append,
    },
    CommandSpec {
        name: "strlen",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        group: "string",
        summary: "Get the length of the value stored in a key",
        since: "2.2.0",
        handler: strlen,
    },
    CommandSpec {
        name: "getrange",
        arity: 4,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@string", "@slow"],
        group: "string",
        summary: "Get a substring of the string stored at a key",
        since: "2.4.0",
        handler: getrange,
    },
    CommandSpec {
        name: "setrange",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Overwrite part of a string at key starting at the specified offset",
        since: "2.2.0",
        handler: setrange,
    },
];

/// Largest string a command may build (`proto-max-bulk-len`'s default, 512 MB).
const STRING_MAX_BYTES: usize = 512 * 1024 * 1024;

/// The stored string, or the `WRONGTYPE` error for a key of another type.
fn string_value<'a>(entry: &EntryRef<'a>) -> Result<&'a [u8], Reply> {
    entry.value.as_string().ok_or_else(Reply::wrong_type)
}

/// A copy of a stored string for a reply (the keyspace keeps values packed with their keys).
fn string_copy(entry: &EntryRef<'_>) -> Result<Bytes, Reply> {
    string_value(entry).map(Bytes::copy_from_slice)
}

fn bulk_or_nil(value: Option<Bytes>) -> Reply {
    value.map_or(Reply::Nil, Reply::Bulk)
}

fn too_long() -> Reply {
    Reply::err("string exceeds maximum allowed size (proto-max-bulk-len)")
}

#[cfg(test)]
mod tests;
