//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP, with Redis
//! 7.0's fields in its order (maps in RESP3, flat arrays in RESP2).

use bytes::Bytes;

use super::{entries_reply, id_reply, read_stream};
use crate::cmd::server::{help_reply, run_subcommand, subcommand_syntax_error};
use crate::cmd::{is, keyed, keyless, parse_i64, CmdFlags as F, CommandSpec};
use crate::db::stream::{Group, StreamId, ENTRIES_READ_UNKNOWN};
use crate::db::Stream;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

const READ: &[&str] = &["@read", "@stream", "@slow"];
const KEY_AT_2: [i32; 3] = [2, 2, 1];

#[rustfmt::skip]
pub(crate) static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    keyed("stream", "xinfo|consumers", 4, F::READONLY, KEY_AT_2, READ, "5.0.0", "List the consumers in a consumer group", xinfo),
    keyed("stream", "xinfo|groups", 3, F::READONLY, KEY_AT_2, READ, "5.0.0", "List the consumer groups of a stream", xinfo),
    keyless("xinfo|help", 2, F::LOADING.union(F::STALE), &["@stream", "@slow"], "stream", "Show helpful text about the different subcommands", "5.0.0", xinfo_help),
    keyed("stream", "xinfo|stream", -3, F::READONLY, KEY_AT_2, READ, "5.0.0", "Get information about a stream", xinfo),
];

pub(super) fn xinfo_container(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "XINFO", XINFO_SUBCOMMANDS)
}

fn xinfo_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "XINFO",
        &[
            (
                "CONSUMERS <key> <groupname>",
                "Each consumer of the group: pending entries and idle time.",
            ),
            (
                "GROUPS <key>",
                "Each group of the stream and where it has read to.",
            ),
            (
                "STREAM <key> [FULL [COUNT <count>]]",
                "The stream's counters and edges; FULL: its entries and groups in detail.",
            ),
        ],
    )
}

fn field(name: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(name.as_bytes()))
}

fn entries_read(group: &Group) -> Reply {
    match group.entries_read {
        ENTRIES_READ_UNKNOWN => Reply::Nil,
        n => Reply::Integer(n),
    }
}

fn lag(stream: &Stream, group: &Group) -> Reply {
    stream.lag(group).map_or(Reply::Nil, Reply::Integer)
}

fn xinfo(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let now_ms = node.now.unix_ms;
    let stream = match read_stream(node, &args[2]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::err("no such key"),
        Ok(Some(stream)) => stream,
    };
    if is(&args[1], "consumers") {
        consumers(stream, args, now_ms)
    } else if is(&args[1], "groups") {
        Reply::Array(
            stream
                .groups
                .iter()
                .map(|(n, g)| group_summary(stream, n, g))
                .collect(),
        )
    } else {
        stream_info(stream, args)
    }
}

fn consumers(stream: &Stream, args: &[Bytes], now_ms: u64) -> Reply {
    let Some(group) = stream.groups.get(&args[3][..]) else {
        return Reply::error(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(&args[3]),
            String::from_utf8_lossy(&args[2])
        ));
    };
    let one = |(name, c): (&Bytes, &crate::db::stream::Consumer)| {
        Reply::Map(vec![
            (field("name"), Reply::Bulk(name.clone())),
            (field("pending"), Reply::Integer(c.pending.len() as i64)),
            (
                field("idle"),
                Reply::Integer(now_ms.saturating_sub(c.seen_time_ms) as i64),
            ),
        ])
    };
    Reply::Array(group.consumers.iter().map(one).collect())
}

fn group_summary(stream: &Stream, name: &Bytes, group: &Group) -> Reply {
    Reply::Map(vec![
        (field("name"), Reply::Bulk(name.clone())),
        (
            field("consumers"),
            Reply::Integer(group.consumers.len() as i64),
        ),
        (field("pending"), Reply::Integer(group.pending.len() as i64)),
        (field("last-delivered-id"), id_reply(group.last_id)),
        (field("entries-read"), entries_read(group)),
        (field("lag"), lag(stream, group)),
    ])
}

/// XINFO STREAM's options: `None` without FULL, else FULL's COUNT (10 unless given; a
/// negative count is 10, 0 is everything).
fn parse_full(args: &[Bytes]) -> Result<Option<usize>, Reply> {
    let options = &args[3..];
    if options.is_empty() {
        return Ok(None);
    }
    if (options.len() != 1 && options.len() != 3) || !is(&options[0], "full") {
        return Err(subcommand_syntax_error(args, "XINFO"));
    }
    if options.len() == 1 {
        return Ok(Some(10));
    }
    if !is(&options[1], "count") {
        return Err(subcommand_syntax_error(args, "XINFO"));
    }
    let count = parse_i64(&options[2]).ok_or_else(Reply::not_integer)?;
    Ok(Some(usize::try_from(count).unwrap_or(10)))
}

fn stream_info(stream: &Stream, args: &[Bytes]) -> Reply {
    let full = match parse_full(args) {
        Ok(full) => full,
        Err(e) => return e,
    };
    let mut fields = vec![
        (field("length"), Reply::Integer(stream.len() as i64)),
        (
            field("radix-tree-keys"),
            Reply::Integer(stream.nodes().count() as i64),
        ),
        (
            field("radix-tree-nodes"),
            Reply::Integer(radix_tree_nodes(stream) as i64),
        ),
        (field("last-generated-id"), id_reply(stream.last_id)),
        (
            field("max-deleted-entry-id"),
            id_reply(stream.max_deleted_id),
        ),
        (
            field("entries-added"),
            Reply::Integer(stream.entries_added as i64),
        ),
        (field("recorded-first-entry-id"), id_reply(stream.first_id)),
    ];
    let Some(count) = full else {
        let edge = |rev: bool| {
            let found = stream.range(StreamId::ZERO, StreamId::MAX, 1, rev);
            match entries_reply(found) {
                Reply::Array(mut one) if !one.is_empty() => one.remove(0),
                _ => Reply::Nil,
            }
        };
        fields.push((field("groups"), Reply::Integer(stream.groups.len() as i64)));
        fields.push((field("first-entry"), edge(false)));
        fields.push((field("last-entry"), edge(true)));
        return Reply::Map(fields);
    };
    let entries = stream.range(StreamId::ZERO, StreamId::MAX, count, false);
    fields.push((field("entries"), entries_reply(entries)));
    let groups = stream
        .groups
        .iter()
        .map(|(n, g)| group_full(stream, n, g, count));
    fields.push((field("groups"), Reply::Array(groups.collect())));
    Reply::Map(fields)
}

fn group_full(stream: &Stream, name: &Bytes, group: &Group, count: usize) -> Reply {
    let limit = if count == 0 { usize::MAX } else { count };
    let pending = group.pending.iter().take(limit).map(|(id, p)| {
        Reply::Array(vec![
            id_reply(*id),
            Reply::Bulk(p.consumer.clone()),
            Reply::Integer(p.delivery_time_ms as i64),
            Reply::Integer(p.delivery_count as i64),
        ])
    });
    let consumers = group.consumers.iter().map(|(cname, c)| {
        let owned = c.pending.iter().take(limit).map(|id| {
            let p = &group.pending[id];
            Reply::Array(vec![
                id_reply(*id),
                Reply::Integer(p.delivery_time_ms as i64),
                Reply::Integer(p.delivery_count as i64),
            ])
        });
        Reply::Map(vec![
            (field("name"), Reply::Bulk(cname.clone())),
            (field("seen-time"), Reply::Integer(c.seen_time_ms as i64)),
            (field("pel-count"), Reply::Integer(c.pending.len() as i64)),
            (field("pending"), Reply::Array(owned.collect())),
        ])
    });
    Reply::Map(vec![
        (field("name"), Reply::Bulk(name.clone())),
        (field("last-delivered-id"), id_reply(group.last_id)),
        (field("entries-read"), entries_read(group)),
        (field("lag"), lag(stream, group)),
        (
            field("pel-count"),
            Reply::Integer(group.pending.len() as i64),
        ),
        (field("pending"), Reply::Array(pending.collect())),
        (field("consumers"), Reply::Array(consumers.collect())),
    ])
}

/// Nodes of Redis's radix tree over the nodes' 16-byte keys, in its compressed form: a run of
/// single-child levels is one node, a fork is one node, each key ends in an empty node.
fn radix_tree_nodes(stream: &Stream) -> usize {
    let keys: Vec<[u8; 16]> = stream.nodes().map(|(id, _)| key_bytes(*id)).collect();
    if keys.is_empty() {
        return 1;
    }
    subtree_nodes(&keys, 0)
}

fn key_bytes(id: StreamId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id.ms.to_be_bytes());
    key[8..].copy_from_slice(&id.seq.to_be_bytes());
    key
}

/// Rax nodes below the point `depth` bytes into `keys` (sorted, distinct, sharing those bytes).
fn subtree_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1;
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    if first[depth] == last[depth] {
        // One child: a compressed node down to where the keys fork (or end).
        let shared = (depth..16).take_while(|&d| first[d] == last[d]).count();
        return 1 + subtree_nodes(keys, depth + shared);
    }
    let mut total = 1;
    let mut start = 0;
    while start < keys.len() {
        let byte = keys[start][depth];
        let end = start
            + keys[start..]
                .iter()
                .take_while(|k| k[depth] == byte)
                .count();
        total += subtree_nodes(&keys[start..end], depth + 1);
        start = end;
    }
    total
}
