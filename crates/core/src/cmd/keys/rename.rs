//! Moving and copying keys: RENAME, RENAMENX, COPY, and TOUCH (which counts keys that exist).
//!
//! A renamed key keeps its value, its TTL (as an absolute time) and, for strings, its `raw`
//! encoding; a copy is a deep copy with the same TTL. Every destination key gets its new value
//! in [`store_destination`], the one place a key "becomes ready" for blocked clients.

use bytes::Bytes;

use super::{argv, lookup_read, lookup_write, propagate};
use crate::cmd::CmdFlags as F;
use crate::cmd::{is, parse_i64, CommandSpec};
use crate::db::Entry;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Databases Redis numbers (`databases 16`); COPY's `DB` index is range-checked against it.
const REDIS_DATABASES: i64 = 16;

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "rename",
        arity: 3,
        flags: F::WRITE,
        first_key: 1,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@slow"],
        group: "generic",
        summary: "Rename a key",
        since: "1.0.0",
        handler: rename,
    },
    CommandSpec {
        name: "renamenx",
        arity: 3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Rename a key, only if the new key does not exist",
        since: "1.0.0",
        handler: renamenx,
    },
    CommandSpec {
        name: "copy",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@slow"],
        group: "generic",
        summary: "Copy a key",
        since: "6.2.0",
        handler: copy,
    },
    CommandSpec {
        name: "touch",
        arity: -2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary:
            "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        since: "3.2.1",
        handler: touch,
    },
];

/// Gives `key` its new value and TTL, replacing whatever it held. RENAME, RENAMENX and COPY
/// write their destination here and nowhere else: it is where a key becomes ready for a
/// client blocked on it.
pub(crate) fn store_destination(node: &mut Node, key: &[u8], entry: Entry, raw_string: bool) {
    node.db.set_owned(key, entry.value, entry.expires_at_ms);
    if raw_string {
        if let Some(mut stored) = node.db.get_mut(key, 0) {
            stored.mark_raw_string();
        }
    }
}

fn rename(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    rename_generic(node, client, args, false)
}

fn renamenx(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    rename_generic(node, client, args, true)
}

/// RENAME answers `+OK`, RENAMENX `1`; RENAMENX onto an existing key answers `0`. Renaming a
/// key onto itself changes nothing and propagates nothing, as in Redis.
fn rename_generic(node: &mut Node, _client: ClientId, args: &[Bytes], nx: bool) -> Reply {
    let (from, to) = (&args[1], &args[2]);
    let Some(entry) = lookup_write(node, from).map(|e| e.view().to_entry()) else {
        return Reply::err("no such key");
    };
    let done = |nx| if nx { Reply::Integer(1) } else { Reply::ok() };
    if from == to {
        return if nx { Reply::Integer(0) } else { done(nx) };
    }
    let taken = lookup_write(node, to).is_some();
    if nx && taken {
        return Reply::Integer(0);
    }
    let raw_string = node.db.is_raw_string(from);
    // Redis moves the object itself, so its access clock goes with it.
    let clock = node.db.access_clock(from, node.now.unix_ms);
    node.db.remove(from);
    store_destination(node, to, entry, raw_string);
    if let Some(clock) = clock {
        node.db.set_access_clock(to, clock);
    }
    propagate(node, argv(args));
    done(nx)
}

/// COPY `source destination [DB index] [REPLACE]`: 1 when copied, 0 when the source is missing
/// or the destination exists without REPLACE. There is one database: another index is out of
/// range (Redis has 16 and accepts 1..15 outside cluster mode).
fn copy(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut replace = false;
    let mut db = 0;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            let Some(index) = parse_i64(&args[i + 1]) else {
                return Reply::not_integer();
            };
            if !(0..REDIS_DATABASES).contains(&index) {
                return Reply::err("DB index is out of range");
            }
            db = index;
            i += 1;
        } else {
            return Reply::syntax_error();
        }
        i += 1;
    }
    if node.config.cluster_enabled && db != 0 {
        return Reply::err("Copying to another database is not allowed in cluster mode");
    }
    if db != 0 {
        return Reply::err("DB index is out of range");
    }
    let (from, to) = (&args[1], &args[2]);
    if from == to {
        return Reply::err("source and destination objects are the same");
    }
    let Some(entry) = lookup_read(node, from).map(|e| e.to_entry()) else {
        return Reply::Integer(0);
    };
    if lookup_write(node, to).is_some() && !replace {
        return Reply::Integer(0);
    }
    let raw_string = node.db.is_raw_string(from);
    store_destination(node, to, entry, raw_string);
    propagate(node, argv(args));
    Reply::Integer(1)
}

/// TOUCH counts the keys that exist (duplicates included); we keep no access times to update.
fn touch(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let count = args[1..]
        .iter()
        .filter(|key| lookup_read(node, key).is_some())
        .count();
    Reply::Integer(count as i64)
}

#[cfg(test)]
#[path = "rename_tests.rs"]
mod tests;
