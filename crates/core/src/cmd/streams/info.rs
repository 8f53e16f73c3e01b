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
            Reply::Integer(stream.radix_tree_nodes() as i64),
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
