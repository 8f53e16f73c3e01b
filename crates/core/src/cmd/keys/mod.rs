//! Generic keyspace commands (DEL, EXISTS, the EXPIRE family, TTL, TYPE, KEYS, SCAN, DBSIZE,
//! FLUSHALL, …) and the key access rules every command family shares: lazy expiry, keyspace
//! hit/miss counting, the active expiry sweep, and `propagate`, the one place a write reports
//! how to replay it.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::CmdFlags as F;
use crate::db::{EntryMut, EntryRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

mod expire;
mod object;
mod rename;
mod scan;

pub(crate) use expire::{already_past, invalid_expire};
use expire::{expire, expireat, persist, pexpire, pexpireat, pttl, ttl};
use object::object;
pub(crate) use object::{refcount, OBJECT_SUBCOMMANDS};
pub(crate) use rename::{store_destination, COMMANDS as RENAME_COMMANDS};
pub(crate) use scan::{
    collection_scan_pattern, collection_scan_reply, parse_cursor, pattern_matches,
};
use scan::{dbsize, flush, keys, randomkey, scan};

/// Most keys one [`active_expire_cycle`] removes; the rest wait for the next tick (or for a
/// client to touch them). Bounds the time a tick can take whatever the workload.
pub(crate) const ACTIVE_EXPIRE_KEYS_PER_CYCLE: usize = 1000;

/// SCAN's COUNT when the client gives none.
const SCAN_DEFAULT_COUNT: usize = 10;

/// RANDOMKEY tries this many picks on a replica, where expired keys stay until the master's DEL.
const RANDOMKEY_MAX_TRIES: usize = 100;

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        arity: -2,
        flags: F::WRITE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@slow"],
        group: "generic",
        summary: "Delete a key",
        since: "1.0.0",
        handler: del,
    },
    CommandSpec {
        name: "unlink",
        arity: -2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        since: "4.0.0",
        handler: del,
    },
    CommandSpec {
        name: "exists",
        arity: -2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary: "Determine if a key exists",
        since: "1.0.0",
        handler: exists,
    },
    CommandSpec {
        name: "expire",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Set a key's time to live in seconds",
        since: "1.0.0",
        handler: expire,
    },
    CommandSpec {
        name: "pexpire",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Set a key's time to live in milliseconds",
        since: "2.6.0",
        handler: pexpire,
    },
    CommandSpec {
        name: "expireat",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Set the expiration for a key as a UNIX timestamp",
        since: "1.2.0",
        handler: expireat,
    },
    CommandSpec {
        name: "pexpireat",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        since: "2.6.0",
        handler: pexpireat,
    },
    CommandSpec {
        name: "ttl",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary: "Get the time to live for a key in seconds",
        since: "1.0.0",
        handler: ttl,
    },
    CommandSpec {
        name: "pttl",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary: "Get the time to live for a key in milliseconds",
        since: "2.6.0",
        handler: pttl,
    },
    CommandSpec {
        name: "persist",
        arity: 2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Remove the expiration from a key",
        since: "2.2.0",
        handler: persist,
    },
    CommandSpec {
        name: "type",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary: "Determine the type stored at key",
        since: "1.0.0",
        handler: type_,
    },
    CommandSpec {
        name: "object",
        arity: -2,
        flags: F::empty(),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@slow"],
        group: "generic",
        summary: "A container for object introspection commands",
        since: "2.2.3",
        handler: object,
    },
    CommandSpec {
        name: "keys",
        arity: 2,
        flags: F::READONLY,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@read", "@slow", "@dangerous"],
        group: "generic",
        summary: "Find all keys matching the given pattern",
        since: "1.0.0",
        handler: keys,
    },
    CommandSpec {
        name: "scan",
        arity: -2,
        flags: F::READONLY,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@read", "@slow"],
        group: "generic",
        summary: "Incrementally iterate the keys space",
        since: "2.8.0",
        handler: scan,
    },
    CommandSpec {
        name: "randomkey",
        arity: 1,
        flags: F::READONLY,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@read", "@slow"],
        group: "generic",
        summary: "Return a random key from the keyspace",
        since: "1.0.0",
        handler: randomkey,
    },
    CommandSpec {
        name: "dbsize",
        arity: 1,
        flags: F::READONLY.union(F::FAST),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "server",
        summary: "Return the number of keys in the selected database",
        since: "1.0.0",
        handler: dbsize,
    },
    CommandSpec {
        name: "flushall",
        arity: -1,
        flags: F::WRITE,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        group: "server",
        summary: "Remove all keys from all databases",
        since: "1.0.0",
        handler: flush,
    },
    CommandSpec {
        name: "flushdb",
        arity: -1,
        flags: F::WRITE,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        group: "server",
        summary: "Remove all keys from the current database",
        since: "1.0.0",
        handler: flush,
    },
];

// ---- shared key access --------------------------------------------------------------------

/// Replicas keep logically expired keys until their master's `DEL` arrives, as in Redis, so
/// that a replica never diverges from the stream it replays.
fn deletes_expired_keys(node: &Node) -> bool {
    // A master paused for a manual failover keeps its offset still, expiry included; nothing
    // expires while the AOF or the master's stream replays (see `expiry_now_ms`).
    !node.cluster.me().is_replica() && !node.writes_paused() && !node.replaying
}

/// The time keys expire against. While the node replays its AOF or applies its master's
/// stream nothing expires, as in Redis (`keyIsExpired` while loading, `expireIfNeeded` for the
/// master's client): the writes then rebuild exactly what they built the first time, e.g. a
/// `PERSIST` that saved a key from its TTL saves it again however late the replay runs.
pub(crate) fn expiry_now_ms(node: &Node) -> u64 {
    if node.replaying {
        0
    } else {
        node.now.unix_ms
    }
}

/// Lazy expiry: removes `key` when its TTL has passed, counting it and propagating a `DEL`.
/// Callers then see the key as missing whether or not it was removed (see `Db::get`).
pub(crate) fn expire_if_due(node: &mut Node, key: &[u8]) {
    if !node.db.is_expired(key, expiry_now_ms(node)) || !deletes_expired_keys(node) {
        return;
    }
    node.db.remove(key);
    node.stats.expired_keys += 1;
    node.tracked_key_expired(key);
    // The DEL is the expiry's, not the write of the client command that found the key due.
    let request = std::mem::take(&mut node.request);
    propagate(
        node,
        vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)],
    );
    node.request = request;
}

/// A read lookup: expires the key if due and counts a keyspace hit or miss, like Redis's
/// `lookupKeyRead` (GET, MGET, EXISTS, TTL, TYPE, …).
pub(crate) fn lookup_read<'a>(node: &'a mut Node, key: &[u8]) -> Option<EntryRef<'a>> {
    expire_if_due(node, key);
    let now_ms = expiry_now_ms(node);
    let found = node.db.contains(key, now_ms);
    if found {
        node.stats.keyspace_hits += 1;
    } else {
        node.stats.keyspace_misses += 1;
    }
    node.db.get(key, now_ms)
}

/// A write lookup: expires the key if due; no hit/miss counting (`lookupKeyWrite`).
pub(crate) fn lookup_write<'a>(node: &'a mut Node, key: &[u8]) -> Option<EntryMut<'a>> {
    expire_if_due(node, key);
    let now_ms = expiry_now_ms(node);
    node.db.get_mut(key, now_ms)
}

/// The seam for persistence and replication: every write that changed the keyspace calls this
/// with the command that replays it exactly (relative TTLs turned absolute, lazy expiry as
/// `DEL`, no `GET` option), as Redis feeds its AOF and replicas.
pub(crate) fn propagate(node: &mut Node, argv: Vec<Bytes>) {
    debug_assert!(!argv.is_empty(), "propagating an empty command");
    #[cfg(test)]
    tests::record_propagated(&argv);
    node.log_write(&argv);
}

/// Removes up to [`ACTIVE_EXPIRE_KEYS_PER_CYCLE`] keys whose TTL has passed, soonest first.
/// The node calls it from its 100 ms tick so that keys nobody reads still go away.
pub(crate) fn active_expire_cycle(node: &mut Node) {
    if !deletes_expired_keys(node) || node.active_expire_disabled {
        return;
    }
    let due = node
        .db
        .due_for_expiry(node.now.unix_ms, ACTIVE_EXPIRE_KEYS_PER_CYCLE);
    for key in due {
        expire_if_due(node, &key);
    }
}

/// Arguments as one owned command line, for [`propagate`].
pub(crate) fn argv(args: &[Bytes]) -> Vec<Bytes> {
    args.to_vec()
}

// ---- DEL, EXISTS, TYPE ----------------------------------------------------------------------

/// DEL and UNLINK (we free memory synchronously either way).
fn del(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut deleted = 0;
    for key in &args[1..] {
        expire_if_due(node, key);
        if node.db.remove(key) {
            deleted += 1;
        }
    }
    if deleted > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(deleted)
}

/// Counts every argument that exists, duplicates included.
fn exists(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut count = 0;
    for key in &args[1..] {
        if lookup_read(node, key).is_some() {
            count += 1;
        }
    }
    Reply::Integer(count)
}

fn type_(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let name = lookup_read(node, &args[1]).map_or("none", |e| e.value.type_name());
    Reply::simple(name)
}

// ---- glob matching ---------------------------------------------------------------------------

#[cfg(test)]
mod access_tests;
#[cfg(test)]
pub(crate) mod tests;
