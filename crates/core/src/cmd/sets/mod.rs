//! Set commands: members added, removed and tested, random picks (SPOP, SRANDMEMBER), SMOVE,
//! the set algebra (SINTER, SUNION, SDIFF, their STORE forms, SINTERCARD) and SSCAN.
//!
//! Member order is the set's own (ascending while Redis would hold an intset, see `db::Set`),
//! so replies match Redis's whenever Redis's order is defined by the data. Random picks take
//! the node's seeded rng. Writes replay as sent, except SPOP, which replays as the SREM of
//! the members it took (or DEL when it took them all), as Redis 7.0 propagates it.
//!
//! Here: the command table and the helpers; the commands are in `members`, `random` and
//! `algebra`.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::keys::{lookup_read, lookup_write};
use crate::cmd::CmdFlags as F;
use crate::db::{Collection, Set, Value, ValueRef};
use crate::node::Node;
use crate::reply::Reply;

mod algebra;
mod members;
mod random;

use algebra::{sdiff, sdiffstore, sinter, sintercard, sinterstore, sunion, sunionstore};
use members::{sadd, scard, sismember, smembers, smismember, smove, srem, sscan};
use random::{spop, srandmember};

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sadd",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@set", "@fast"],
        group: "set",
        summary: "Add one or more members to a set",
        since: "1.0.0",
        handler: sadd,
    },
    CommandSpec {
        name: "srem",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@set", "@fast"],
        group: "set",
        summary: "Remove one or more members from a set",
        since: "1.0.0",
        handler: srem,
    },
    CommandSpec {
        name: "smembers",
        arity: 2,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@slow"],
        group: "set",
        summary: "Get all the members in a set",
        since: "1.0.0",
        handler: smembers,
    },
    CommandSpec {
        name: "sismember",
        arity: 3,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@fast"],
        group: "set",
        summary: "Determine if a given value is a member of a set",
        since: "1.0.0",
        handler: sismember,
    },
    CommandSpec {
        name: "smismember",
        arity: -3,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@fast"],
        group: "set",
        summary: "Returns the membership associated with the given elements for a set",
        since: "6.2.0",
        handler: smismember,
    },
    CommandSpec {
        name: "scard",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@fast"],
        group: "set",
        summary: "Get the number of members in a set",
        since: "1.0.0",
        handler: scard,
    },
    CommandSpec {
        name: "spop",
        arity: -2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@set", "@fast"],
        group: "set",
        summary: "Remove and return one or multiple random members from a set",
        since: "1.0.0",
        handler: spop,
    },
    CommandSpec {
        name: "srandmember",
        arity: -2,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@slow"],
        group: "set",
        summary: "Get one or multiple random members from a set",
        since: "1.0.0",
        handler: srandmember,
    },
    CommandSpec {
        name: "smove",
        arity: 4,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@write", "@set", "@fast"],
        group: "set",
        summary: "Move a member from one set to another",
        since: "1.0.0",
        handler: smove,
    },
    CommandSpec {
        name: "sinter",
        arity: -2,
        flags: F::READONLY,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@slow"],
        group: "set",
        summary: "Intersect multiple sets",
        since: "1.0.0",
        handler: sinter,
    },
    CommandSpec {
        name: "sintercard",
        arity: -3,
        flags: F::READONLY.union(F::MOVABLEKEYS),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@read", "@set", "@slow"],
        group: "set",
        summary: "Intersect multiple sets and return the cardinality of the result",
        since: "7.0.0",
        handler: sintercard,
    },
    CommandSpec {
        name: "sinterstore",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@write", "@set", "@slow"],
        group: "set",
        summary: "Intersect multiple sets and store the resulting set in a key",
        since: "1.0.0",
        handler: sinterstore,
    },
    CommandSpec {
        name: "sunion",
        arity: -2,
        flags: F::READONLY,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@slow"],
        group: "set",
        summary: "Add multiple sets",
        since: "1.0.0",
        handler: sunion,
    },
    CommandSpec {
        name: "sunionstore",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@write", "@set", "@slow"],
        group: "set",
        summary: "Add multiple sets and store the resulting set in a key",
        since: "1.0.0",
        handler: sunionstore,
    },
    CommandSpec {
        name: "sdiff",
        arity: -2,
        flags: F::READONLY,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@slow"],
        group: "set",
        summary: "Subtract multiple sets",
        since: "1.0.0",
        handler: sdiff,
    },
    CommandSpec {
        name: "sdiffstore",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@write", "@set", "@slow"],
        group: "set",
        summary: "Subtract multiple sets and store the resulting set in a key",
        since: "1.0.0",
        handler: sdiffstore,
    },
    CommandSpec {
        name: "sscan",
        arity: -3,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@set", "@slow"],
        group: "set",
        summary: "Incrementally iterate Set elements",
        since: "2.8.0",
        handler: sscan,
    },
];

/// The set at `key` for reading: `Ok(None)` when missing, `WRONGTYPE` for another type.
fn read_set<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a Set>, Reply> {
    match lookup_read(node, key).map(|e| e.value) {
        None => Ok(None),
        Some(ValueRef::Set(set)) => Ok(Some(set)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// The set at `key` for changing in place: `Ok(None)` when missing, `WRONGTYPE` for another
/// type. A caller that empties it removes the key.
fn write_set<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a mut Set>, Reply> {
    match lookup_write(node, key).map(|e| e.into_collection_mut()) {
        None => Ok(None),
        Some(Some(Collection::Set(set))) => Ok(Some(set)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// The set at `key`, created empty when missing (the caller adds at once).
fn set_for_add<'a>(node: &'a mut Node, key: &[u8]) -> Result<&'a mut Set, Reply> {
    if write_set(node, key)?.is_none() {
        node.db.set_owned(key, Value::Set(Set::new()), None);
    }
    Ok(write_set(node, key)?.expect("just created"))
}

/// Members as a RESP3 set (an array in RESP2).
fn members_reply<'a>(members: impl Iterator<Item = &'a [u8]>) -> Reply {
    Reply::Set(
        members
            .map(|m| Reply::Bulk(Bytes::copy_from_slice(m)))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
