//! Stream commands: XADD, XTRIM, XDEL, XSETID, XLEN, XRANGE, XREVRANGE, XREAD (which may
//! block), and the consumer groups' XGROUP, XREADGROUP (which may block), XACK, XPENDING,
//! XCLAIM and XAUTOCLAIM, and XINFO, on the stream type of `db::stream`.
//!
//! Writes replay as Redis 7.0 writes them to its AOF and replicas: XADD with the ID it chose
//! (`*` and `<ms>-*` made concrete), and an approximate trim (`~`) as the exact trim it came
//! to (`=` and the length or first ID it left), so a replica ends with the same entries.
//! Groups replay as Redis 7.0 replays them: XREADGROUP and the claims as `XCLAIM … FORCE
//! JUSTID LASTID` per entry (see `readgroup`), XGROUP and XACK as sent.
//! Here: the command table and the shared helpers; the commands are in `write`, `read`,
//! `readgroup`, `groups` and `claim`.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::keys::{lookup_read, lookup_write};
use crate::cmd::CmdFlags as F;
use crate::cmd::{keyed, keys};
use crate::db::stream::{IdSyntax, StreamId};
use crate::db::{Collection, Stream, ValueRef};
use crate::node::Node;
use crate::reply::Reply;

mod claim;
#[cfg(test)]
mod group_tests;
mod groups;
mod info;
mod read;
mod readgroup;
#[cfg(test)]
mod tests;
mod write;

use claim::{xautoclaim, xclaim};
pub(crate) use groups::XGROUP_SUBCOMMANDS;
use groups::{xack, xgroup_container, xpending};
use info::xinfo_container;
pub(crate) use info::XINFO_SUBCOMMANDS;
use read::{xlen, xrange, xread, xrevrange};
use write::{xadd, xdel, xsetid, xtrim};

const W: &[&str] = &["@write", "@stream", "@fast"];
const R: &[&str] = &["@read", "@stream", "@slow"];
const ONE_KEY: [i32; 3] = [1, 1, 1];

pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyed("stream", "xadd", -5, F::WRITE.union(F::DENYOOM).union(F::FAST), ONE_KEY, W, "5.0.0",
        "Appends a new entry to a stream", xadd),
    keyed("stream", "xtrim", -4, F::WRITE, ONE_KEY, &["@write", "@stream", "@slow"], "5.0.0",
        "Trims the stream to (approximately if '~' is passed) a certain size", xtrim),
    keyed("stream", "xdel", -3, F::WRITE.union(F::FAST), ONE_KEY, W, "5.0.0",
        "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.",
        xdel),
    keyed("stream", "xsetid", -3, F::WRITE.union(F::DENYOOM).union(F::FAST), ONE_KEY, W, "5.0.0",
        "An internal command for replicating stream values", xsetid),
    keyed("stream", "xlen", 2, F::READONLY.union(F::FAST), ONE_KEY, &["@read", "@stream", "@fast"],
        "5.0.0", "Return the number of entries in a stream", xlen),
    keyed("stream", "xrange", -4, F::READONLY, ONE_KEY, R, "5.0.0",
        "Return a range of elements in a stream, with IDs matching the specified IDs interval",
        xrange),
    keyed("stream", "xrevrange", -4, F::READONLY, ONE_KEY, R, "5.0.0",
        "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE",
        xrevrange),
    keyed("stream", "xread", -4, F::READONLY.union(F::BLOCKING).union(F::MOVABLEKEYS), [0, 0, 0],
        &["@read", "@stream", "@slow", "@blocking"], "5.0.0",
        "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
        xread),
    keyed("stream", "xreadgroup", -7, F::WRITE.union(F::BLOCKING).union(F::MOVABLEKEYS), [0, 0, 0],
        &["@write", "@stream", "@slow", "@blocking"], "5.0.0",
        "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
        xread),
    keyed("stream", "xack", -4, F::WRITE.union(F::FAST), ONE_KEY, W, "5.0.0",
        "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
        xack),
    keyed("stream", "xpending", -3, F::READONLY, ONE_KEY, R, "5.0.0",
        "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.",
        xpending),
    keyed("stream", "xclaim", -6, F::WRITE.union(F::FAST), ONE_KEY, W, "5.0.0",
        "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.",
        xclaim),
    keyed("stream", "xautoclaim", -6, F::WRITE.union(F::FAST), ONE_KEY, W, "6.2.0",
        "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.",
        xautoclaim),
    crate::cmd::keyless("xgroup", -2, F::empty(), &["@slow"], "stream",
        "A container for consumer groups commands", "5.0.0", xgroup_container),
    crate::cmd::keyless("xinfo", -2, F::empty(), &["@slow"], "stream",
        "A container for stream introspection commands", "5.0.0", xinfo_container),
];

/// XREAD's keys (Redis's `xreadGetKeys`): the first half of what follows `STREAMS`, past the
/// options; none when the options or the key/ID list do not read right.
pub(crate) fn xread_keys(args: &[Bytes]) -> Vec<&Bytes> {
    let mut i = 1;
    let streams_at = loop {
        let Some(arg) = args.get(i) else {
            return Vec::new();
        };
        if crate::cmd::is(arg, "block") || crate::cmd::is(arg, "count") {
            i += 2;
        } else if crate::cmd::is(arg, "group") {
            i += 3;
        } else if crate::cmd::is(arg, "noack") {
            i += 1;
        } else if crate::cmd::is(arg, "streams") {
            break i;
        } else {
            return Vec::new();
        }
    };
    let rest = args.len() - streams_at - 1;
    if rest == 0 || !rest.is_multiple_of(2) {
        return Vec::new();
    }
    args[streams_at + 1..streams_at + 1 + rest / 2]
        .iter()
        .collect()
}

fn invalid_id() -> Reply {
    Reply::err("Invalid stream ID specified as stream command argument")
}

/// An ID argument, or Redis's error.
fn parse_id(arg: &[u8], syntax: IdSyntax) -> Result<StreamId, Reply> {
    StreamId::parse(arg, syntax).ok_or_else(invalid_id)
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(Bytes::from(id.to_string()))
}

/// Entries as Redis sends them: `[id, [field, value, …]]` each.
fn entries_reply(entries: Vec<(StreamId, &[Bytes])>) -> Reply {
    let one = |(id, pairs): (StreamId, &[Bytes])| {
        Reply::Array(vec![
            id_reply(id),
            Reply::Array(pairs.iter().cloned().map(Reply::Bulk).collect()),
        ])
    };
    Reply::Array(entries.into_iter().map(one).collect())
}

/// The stream at `key` for reading: `Ok(None)` when missing, `WRONGTYPE` for another type.
fn read_stream<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a Stream>, Reply> {
    match lookup_read(node, key).map(|e| e.value) {
        None => Ok(None),
        Some(ValueRef::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// The stream at `key` for changing in place: `Ok(None)` when missing, `WRONGTYPE` for another
/// type.
fn write_stream<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a mut Stream>, Reply> {
    match lookup_write(node, key).map(|e| e.into_collection_mut()) {
        None => Ok(None),
        Some(Some(Collection::Stream(s))) => Ok(Some(s)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// Replays a write as `argv` (see the module docs).
fn propagate(node: &mut Node, argv: Vec<Bytes>) {
    keys::propagate(node, argv);
}

/// Replays one call's several writes, inside MULTI/EXEC when more than one (as Redis 7.0 wraps
/// what a command propagates besides itself), unless EXEC or a script wraps them already.
fn propagate_all(node: &mut Node, replays: Vec<Vec<Bytes>>) {
    let wrap = replays.len() > 1 && node.top_command != "exec" && node.script_writes.is_none();
    if wrap {
        propagate(node, vec![Bytes::from_static(b"MULTI")]);
    }
    for replay in replays {
        propagate(node, replay);
    }
    if wrap {
        propagate(node, vec![Bytes::from_static(b"EXEC")]);
    }
}
