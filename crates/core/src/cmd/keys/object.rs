//! OBJECT ENCODING, REFCOUNT, IDLETIME and FREQ: what Redis 7.0 would say about a key's
//! representation and its access clock.
//!
//! The encodings follow Redis's names and thresholds (see `db::ValueRef::encoding`). REFCOUNT
//! reports Redis's shared-integer count for the small integers Redis shares (0..9999) and 1
//! otherwise. IDLETIME and FREQ read the key's access clock (`db::access`) without stamping
//! it; each answers only under the policies that keep its half (LRU or LFU), as in Redis.

use bytes::Bytes;

use super::lookup_read;
use crate::cmd::server::run_subcommand;
use crate::cmd::{parse_i64, CmdFlags as F, CommandSpec};
use crate::db::access::{self, AccessPolicy};
use crate::db::ValueRef;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Redis shares the string objects of these integers (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;
/// The refcount Redis reports for a shared object (`OBJ_SHARED_REFCOUNT`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

const OBJECT_ACL: &[&str] = &["@keyspace", "@read", "@slow"];

const fn object_subcommand(
    name: &'static str,
    summary: &'static str,
    since: &'static str,
    handler: crate::cmd::Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity: 3,
        flags: F::READONLY,
        first_key: 2,
        last_key: 2,
        key_step: 1,
        acl_categories: OBJECT_ACL,
        group: "generic",
        summary,
        since,
        handler,
    }
}

pub(crate) static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    object_subcommand(
        "object|encoding",
        "Inspect the internal encoding of a Redis object",
        "2.2.3",
        object_encoding,
    ),
    object_subcommand(
        "object|freq",
        "Get the logarithmic access frequency counter of a Redis object",
        "4.0.0",
        object_freq,
    ),
    object_subcommand(
        "object|idletime",
        "Get the time since a Redis object was last accessed",
        "2.2.3",
        object_idletime,
    ),
    object_subcommand(
        "object|refcount",
        "Get the number of references to the value of the key",
        "2.2.3",
        object_refcount,
    ),
    crate::cmd::keyless(
        "object|help",
        2,
        F::LOADING.union(F::STALE),
        &["@keyspace", "@slow"],
        "generic",
        "List the OBJECT subcommands",
        "6.2.0",
        object_help,
    ),
];

fn object_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    crate::cmd::server::help_reply(
        "OBJECT",
        &[
            (
                "ENCODING <key>",
                "Name the representation the value is kept in.",
            ),
            (
                "FREQ <key>",
                "The key's logarithmic access counter (LFU maxmemory policies only).",
            ),
            (
                "IDLETIME <key>",
                "Seconds since the key was last read or written (LRU policies only).",
            ),
            (
                "REFCOUNT <key>",
                "How many references the value has (shared small integers: many).",
            ),
        ],
    )
}

pub(super) fn object(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "OBJECT", OBJECT_SUBCOMMANDS)
}

fn object_encoding(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let encoding = match lookup_read(node, &args[2]) {
        Some(entry) => entry.value.encoding(),
        None => return Reply::Nil,
    };
    if node.db.is_raw_string(&args[2]) {
        return Reply::bulk_str("raw");
    }
    Reply::bulk_str(encoding)
}

fn object_refcount(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(entry) = lookup_read(node, &args[2]) else {
        return Reply::Nil;
    };
    Reply::Integer(refcount(entry.value))
}

/// The refcount Redis reports: its shared small integers have many owners.
pub(crate) fn refcount(value: ValueRef<'_>) -> i64 {
    let shared = match value {
        ValueRef::String(s) => parse_i64(s).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n)),
        _ => false,
    };
    if shared {
        SHARED_REFCOUNT
    } else {
        1
    }
}

/// The access clock of `key`, after the lookup OBJECT makes (expiring it if due).
fn object_clock(node: &mut Node, key: &[u8]) -> Option<u32> {
    lookup_read(node, key)?;
    node.db.access_clock(key, node.now.unix_ms)
}

fn object_idletime(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(clock) = object_clock(node, &args[2]) else {
        return Reply::Nil;
    };
    if node.db.access_policy().is_lfu() {
        return Reply::err(
            "An LFU maxmemory policy is selected, idle time not tracked. Please note that when \
             switching between policies at runtime LRU and LFU data will take some time to \
             adjust.",
        );
    }
    Reply::Integer((access::lru_idle_ms(clock, node.now.unix_ms) / 1000) as i64)
}

fn object_freq(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(clock) = object_clock(node, &args[2]) else {
        return Reply::Nil;
    };
    let AccessPolicy::Lfu { decay_time_min, .. } = node.db.access_policy() else {
        return Reply::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please \
             note that when switching between policies at runtime LRU and LFU data will take \
             some time to adjust.",
        );
    };
    let counter = access::lfu_counter(clock, node.now.unix_ms, decay_time_min);
    Reply::Integer(i64::from(counter))
}

#[cfg(test)]
mod help_tests {
    use super::*;

    #[test]
    fn object_help_lists_subcommands() {
        let mut node = Node::new(crate::config::Config::default(), Default::default(), 1);
        let c = node.client_connected(Default::default(), "a:1".into(), "b:2".into());
        let args = vec![Bytes::from_static(b"object"), Bytes::from_static(b"help")];
        let Reply::Array(lines) = node.command(Default::default(), c, &args) else {
            panic!("array")
        };
        assert_eq!(
            lines[0],
            Reply::simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert_eq!(lines[1], Reply::simple("ENCODING <key>"));
        assert_eq!(lines.last(), Some(&Reply::simple("    Prints this help.")));
    }
}
