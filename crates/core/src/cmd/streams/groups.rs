//! XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP), XACK and XPENDING.
//!
//! XGROUP's subcommands share one body, as in Redis 7.0: the options, the key (which must
//! exist unless CREATE has MKSTREAM) and the group are checked in that order whatever the
//! subcommand. Each write replays as sent.

use bytes::Bytes;

use super::{id_reply, parse_id, propagate, read_stream, write_stream};
use crate::cmd::keys::argv;
use crate::cmd::server::{help_reply, run_subcommand, subcommand_syntax_error};
use crate::cmd::{is, keyed, keyless, parse_i64, CmdFlags as F, CommandSpec};
use crate::db::stream::{Group, IdSyntax, StreamId, ENTRIES_READ_UNKNOWN};
use crate::db::{Stream, Value};
use crate::node::{ClientId, Node};
use crate::reply::Reply;
use crate::slot::key_hash_slot;

const GROUP_WRITE: &[&str] = &["@write", "@stream", "@slow"];
const KEY_AT_2: [i32; 3] = [2, 2, 1];

#[rustfmt::skip]
pub(crate) static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    keyed("stream", "xgroup|create", -5, F::WRITE.union(F::DENYOOM), KEY_AT_2, GROUP_WRITE, "5.0.0", "Create a consumer group.", xgroup),
    keyed("stream", "xgroup|createconsumer", 5, F::WRITE.union(F::DENYOOM), KEY_AT_2, GROUP_WRITE, "6.2.0", "Create a consumer in a consumer group.", xgroup),
    keyed("stream", "xgroup|delconsumer", 5, F::WRITE, KEY_AT_2, GROUP_WRITE, "5.0.0", "Delete a consumer from a consumer group.", xgroup),
    keyed("stream", "xgroup|destroy", 4, F::WRITE, KEY_AT_2, GROUP_WRITE, "5.0.0", "Destroy a consumer group.", xgroup),
    keyless("xgroup|help", 2, F::LOADING.union(F::STALE), &["@stream", "@slow"], "stream", "Show helpful text about the different subcommands", "5.0.0", xgroup_help),
    keyed("stream", "xgroup|setid", -5, F::WRITE, KEY_AT_2, GROUP_WRITE, "5.0.0", "Set a consumer group to an arbitrary last delivered ID value.", xgroup),
];

pub(super) fn xgroup_container(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "XGROUP", XGROUP_SUBCOMMANDS)
}

fn xgroup_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "XGROUP",
        &[
            (
                "CREATE <key> <groupname> <id|$> [MKSTREAM] [ENTRIESREAD <n>]",
                "Add a group reading after the ID; MKSTREAM makes an empty stream if needed.",
            ),
            (
                "CREATECONSUMER <key> <groupname> <consumer>",
                "Add a consumer to the group.",
            ),
            (
                "DELCONSUMER <key> <groupname> <consumer>",
                "Remove a consumer and the entries pending for it.",
            ),
            ("DESTROY <key> <groupname>", "Remove the group."),
            (
                "SETID <key> <groupname> <id|$> [ENTRIESREAD <n>]",
                "Move the group's last delivered ID (and its count of entries read).",
            ),
        ],
    )
}

/// Redis lets a write to a replica's slot through only as a redirection; a `READONLY`
/// client's XGROUP (a container, not flagged write itself) must not change a replica.
fn replica_refusal(node: &Node, key: &[u8]) -> Option<Reply> {
    if node.replaying || !node.config.cluster_enabled || !node.cluster.me().is_replica() {
        return None;
    }
    let slot = key_hash_slot(key);
    Some(match node.cluster.slot_owner(slot) {
        Some(owner) => node.cluster.redirect_error("MOVED", slot, owner),
        None => Reply::error("READONLY You can't write against a read only replica."),
    })
}

fn no_group(group: &[u8], key: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// XGROUP's options after the ID: MKSTREAM (CREATE) and ENTRIESREAD (CREATE, SETID).
fn parse_options(args: &[Bytes]) -> Result<(bool, i64), Reply> {
    let (mut mkstream, mut entries_read) = (false, ENTRIES_READ_UNKNOWN);
    let create = is(&args[1], "create");
    let setid = is(&args[1], "setid");
    let mut i = 5;
    while i < args.len() {
        if create && is(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && is(&args[i], "entriesread") && i + 1 < args.len() {
            entries_read = parse_i64(&args[i + 1]).ok_or_else(Reply::not_integer)?;
            if entries_read < 0 && entries_read != ENTRIES_READ_UNKNOWN {
                return Err(Reply::err("value for ENTRIESREAD must be positive or -1"));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax_error(args, "XGROUP"));
        }
    }
    Ok((mkstream, entries_read))
}

/// The ID of CREATE and SETID: `$` is the stream's last ID (`0-0` for none).
fn group_id(arg: &[u8], stream: Option<&Stream>, syntax: IdSyntax) -> Result<StreamId, Reply> {
    if arg == b"$" {
        return Ok(stream.map_or(StreamId::ZERO, |s| s.last_id));
    }
    parse_id(arg, syntax)
}

fn xgroup(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (mkstream, entries_read) = match parse_options(args) {
        Ok(options) => options,
        Err(e) => return e,
    };
    let (key, name) = (&args[2], &args[3]);
    let exists = match write_stream(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(stream) => stream.map(|s| s.groups.contains_key(&name[..])),
    };
    if let Some(refused) = replica_refusal(node, key) {
        return refused;
    }
    if !mkstream {
        match exists {
            None => {
                return Reply::err(
                    "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
                )
            }
            Some(false) if !is(&args[1], "create") && !is(&args[1], "destroy") => {
                return no_group(name, key)
            }
            Some(_) => {}
        }
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let reply = match sub.as_str() {
        "create" if args.len() <= 8 => create(node, args, entries_read),
        "setid" if args.len() == 5 || args.len() == 7 => setid(node, args, entries_read),
        "destroy" => destroy(node, args),
        "createconsumer" => create_consumer(node, args),
        "delconsumer" => del_consumer(node, args),
        _ => return subcommand_syntax_error(args, "XGROUP"),
    };
    if let Ok(reply) = reply {
        return reply;
    }
    reply.unwrap_or_else(|e| e)
}

type Outcome = Result<Reply, Reply>;

fn create(node: &mut Node, args: &[Bytes], entries_read: i64) -> Outcome {
    let key = &args[2];
    let stream = write_stream(node, key)?;
    let id = group_id(&args[4], stream.as_deref(), IdSyntax::STRICT)?;
    if stream.is_none() {
        node.db.set_owned(key, Value::Stream(Box::default()), None);
    }
    let stream = write_stream(node, key)?.expect("a stream");
    if stream.groups.contains_key(&args[3][..]) {
        return Err(Reply::error("BUSYGROUP Consumer Group name already exists"));
    }
    stream
        .groups
        .insert(args[3].clone(), Group::new(id, entries_read));
    propagate(node, argv(args));
    Ok(Reply::ok())
}

fn setid(node: &mut Node, args: &[Bytes], entries_read: i64) -> Outcome {
    let stream = write_stream(node, &args[2])?.expect("checked");
    let loose = IdSyntax::Loose { missing_seq: 0 };
    let id = group_id(&args[4], Some(stream), loose)?;
    let group = stream.groups.get_mut(&args[3][..]).expect("checked");
    group.last_id = id;
    group.entries_read = entries_read;
    propagate(node, argv(args));
    Ok(Reply::ok())
}

fn destroy(node: &mut Node, args: &[Bytes]) -> Outcome {
    let stream = write_stream(node, &args[2])?.expect("checked");
    if stream.groups.remove(&args[3][..]).is_none() {
        return Ok(Reply::Integer(0));
    }
    // Clients blocked in XREADGROUP on this group are told it is gone.
    node.db.ready.created(&args[2]);
    propagate(node, argv(args));
    Ok(Reply::Integer(1))
}

fn create_consumer(node: &mut Node, args: &[Bytes]) -> Outcome {
    let now_ms = node.now.unix_ms;
    let stream = write_stream(node, &args[2])?.expect("checked");
    let group = stream.groups.get_mut(&args[3][..]).expect("checked");
    if group.consumers.contains_key(&args[4][..]) {
        return Ok(Reply::Integer(0));
    }
    group.consumer_or_create(&args[4], now_ms);
    propagate(node, argv(args));
    Ok(Reply::Integer(1))
}

fn del_consumer(node: &mut Node, args: &[Bytes]) -> Outcome {
    let stream = write_stream(node, &args[2])?.expect("checked");
    let group = stream.groups.get_mut(&args[3][..]).expect("checked");
    let Some(pending) = group.delete_consumer(&args[4]) else {
        return Ok(Reply::Integer(0));
    };
    propagate(node, argv(args));
    Ok(Reply::Integer(pending as i64))
}

/// XACK `key group id [id …]`: how many of the IDs were pending.
pub(super) fn xack(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let has_group = match read_stream(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(stream) => stream.is_some_and(|s| s.groups.contains_key(&args[2][..])),
    };
    if !has_group {
        return Reply::Integer(0);
    }
    let mut ids = Vec::with_capacity(args.len() - 3);
    for arg in &args[3..] {
        match parse_id(arg, IdSyntax::STRICT) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let stream = write_stream(node, &args[1])
        .ok()
        .flatten()
        .expect("a stream");
    let group = stream.groups.get_mut(&args[2][..]).expect("checked");
    let acknowledged = ids.into_iter().filter(|id| group.acknowledge(*id)).count();
    if acknowledged > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(acknowledged as i64)
}

/// `NOGROUP` as XPENDING, XCLAIM and XAUTOCLAIM word it.
pub(super) fn no_key_or_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// XPENDING's range form.
struct PendingRange {
    min_idle_ms: i64,
    start: StreamId,
    end: StreamId,
    count: usize,
    consumer: Option<Bytes>,
}

fn parse_pending_range(args: &[Bytes]) -> Result<Option<PendingRange>, Reply> {
    if args.len() == 3 {
        return Ok(None);
    }
    if args.len() < 6 || args.len() > 9 {
        return Err(Reply::syntax_error());
    }
    let mut at = 3;
    let mut min_idle_ms = 0;
    if is(&args[3], "idle") {
        min_idle_ms = parse_i64(&args[4]).ok_or_else(Reply::not_integer)?;
        if args.len() < 8 {
            return Err(Reply::syntax_error());
        }
        at += 2;
    }
    let count = parse_i64(&args[at + 2]).ok_or_else(Reply::not_integer)?;
    let (start, end) = super::read::interval(&args[at], &args[at + 1])?;
    Ok(Some(PendingRange {
        min_idle_ms,
        start,
        end,
        count: usize::try_from(count).unwrap_or(0),
        consumer: args.get(at + 3).cloned(),
    }))
}

/// XPENDING `key group [[IDLE min-idle] start end count [consumer]]`.
pub(super) fn xpending(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let range = match parse_pending_range(args) {
        Ok(range) => range,
        Err(e) => return e,
    };
    let now_ms = node.now.unix_ms;
    let group = match read_stream(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(stream) => stream.and_then(|s| s.groups.get(&args[2][..])),
    };
    let Some(group) = group else {
        return no_key_or_group(&args[1], &args[2]);
    };
    match range {
        None => pending_summary(group),
        Some(range) => pending_entries(group, &range, now_ms),
    }
}

fn pending_summary(group: &Group) -> Reply {
    let (Some(first), Some(last)) = (
        group.pending.keys().next(),
        group.pending.keys().next_back(),
    ) else {
        return Reply::Array(vec![
            Reply::Integer(0),
            Reply::Nil,
            Reply::Nil,
            Reply::NilArray,
        ]);
    };
    let owners = group
        .consumers
        .iter()
        .filter(|(_, c)| !c.pending.is_empty());
    let owners = owners.map(|(name, c)| {
        Reply::Array(vec![
            Reply::Bulk(name.clone()),
            Reply::Bulk(Bytes::from(c.pending.len().to_string())),
        ])
    });
    Reply::Array(vec![
        Reply::Integer(group.pending.len() as i64),
        id_reply(*first),
        id_reply(*last),
        Reply::Array(owners.collect()),
    ])
}

fn pending_entries(group: &Group, range: &PendingRange, now_ms: u64) -> Reply {
    let ids: Vec<StreamId> = match &range.consumer {
        None => group.pending.keys().copied().collect(),
        Some(name) => match group.consumers.get(name) {
            None => return Reply::Array(Vec::new()),
            Some(c) => c.pending.iter().copied().collect(),
        },
    };
    let mut out = Vec::new();
    let in_range = ids
        .into_iter()
        .filter(|id| *id >= range.start && *id <= range.end);
    for id in in_range {
        if out.len() >= range.count {
            break;
        }
        let pending = &group.pending[&id];
        let idle_ms = now_ms as i64 - pending.delivery_time_ms as i64;
        if range.min_idle_ms != 0 && idle_ms < range.min_idle_ms {
            continue;
        }
        out.push(Reply::Array(vec![
            id_reply(id),
            Reply::Bulk(pending.consumer.clone()),
            Reply::Integer(idle_ms.max(0)),
            Reply::Integer(pending.delivery_count as i64),
        ]));
    }
    Reply::Array(out)
}
