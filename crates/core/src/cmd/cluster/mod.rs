//! CLUSTER subcommands, plus ASKING, READONLY and READWRITE.
//!
//! Subcommands are looked up in their own table so the errors match Redis: an unknown name,
//! a wrong count for the table's arity (`'cluster|nodes'`), or a count the handler rejects.

use bytes::Bytes;

use super::{is, parse_i64, CommandSpec};
use crate::bus::{flags, MessageType};
use crate::canary::Canary;
use crate::cmd::CmdFlags as F;
use crate::event::{ConfigEpochReason, EpochReason};
use crate::node::{ClientId, LogLevel, Node};
use crate::node_id::NodeId;
use crate::reply::Reply;
use crate::slot::{key_hash_slot, SLOT_COUNT};

mod membership;
mod subcommands;
pub(crate) use subcommands::CLUSTER_SUBCOMMANDS;
mod slots;

use membership::*;
use slots::*;

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cluster",
        arity: -2,
        flags: F::empty(),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@slow"],
        group: "cluster",
        summary: "A container for Redis Cluster commands",
        since: "3.0.0",
        handler: cluster,
    },
    CommandSpec {
        name: "asking",
        arity: 1,
        flags: F::FAST,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@fast", "@connection"],
        group: "cluster",
        summary: "Sent by cluster clients after an -ASK redirect",
        since: "3.0.0",
        handler: asking,
    },
    CommandSpec {
        name: "readonly",
        arity: 1,
        flags: F::LOADING.union(F::STALE).union(F::FAST),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@fast", "@connection"],
        group: "cluster",
        summary: "Enables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        handler: readonly,
    },
    CommandSpec {
        name: "readwrite",
        arity: 1,
        flags: F::LOADING.union(F::STALE).union(F::FAST),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@fast", "@connection"],
        group: "cluster",
        summary: "Disables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        handler: readwrite,
    },
];

type SubHandler = fn(&mut Node, &[Bytes]) -> Reply;

/// (name, arity counting `CLUSTER` and the subcommand as Redis does, handler)
const SUBCOMMANDS: &[(&str, i32, SubHandler)] = &[
    ("addslots", -3, addslots),
    ("addslotsrange", -4, addslotsrange),
    ("bumpepoch", 2, bumpepoch),
    ("count-failure-reports", 3, count_failure_reports),
    ("countkeysinslot", 3, countkeysinslot),
    ("delslots", -3, delslots),
    ("delslotsrange", -4, delslotsrange),
    ("failover", -2, failover),
    ("flushslots", 2, flushslots),
    ("forget", 3, forget),
    ("getkeysinslot", 4, getkeysinslot),
    ("help", 2, help),
    ("info", 2, info),
    ("keyslot", 3, keyslot),
    ("links", 2, links),
    ("meet", -4, meet),
    ("myid", 2, myid),
    ("nodes", 2, nodes),
    ("replicas", 3, replicas),
    ("replicate", 3, replicate),
    ("reset", -2, reset),
    ("saveconfig", 2, saveconfig),
    ("set-config-epoch", 3, set_config_epoch),
    ("setslot", -4, setslot),
    ("shards", 2, shards),
    ("slaves", 3, replicas),
    ("slots", 2, slots),
];

fn cluster(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if !node.config.cluster_enabled {
        return Reply::err("This instance has cluster support disabled");
    }
    let name = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let Some(&(sub, arity, handler)) = SUBCOMMANDS.iter().find(|(n, _, _)| *n == name) else {
        return Reply::err(format!(
            "unknown subcommand '{}'. Try CLUSTER HELP.",
            String::from_utf8_lossy(&args[1])
        ));
    };
    let argc = args.len() as i32;
    if (arity >= 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Reply::wrong_arity(&format!("cluster|{sub}"));
    }
    handler(node, args)
}

fn asking(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    if !node.config.cluster_enabled {
        return Reply::err("This instance has cluster support disabled");
    }
    node.client_mut(client).asking = true;
    Reply::ok()
}

fn readonly(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    if !node.config.cluster_enabled {
        return Reply::err("This instance has cluster support disabled");
    }
    node.client_mut(client).readonly = true;
    Reply::ok()
}

fn readwrite(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    if !node.config.cluster_enabled {
        return Reply::err("This instance has cluster support disabled");
    }
    node.client_mut(client).readonly = false;
    Reply::ok()
}

/// `ERR unknown subcommand or wrong number of arguments for 'meet'. Try CLUSTER HELP.`
fn bad_subcommand_arity(args: &[Bytes]) -> Reply {
    Reply::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
        String::from_utf8_lossy(&args[1])
    ))
}

/// A slot number in range, or `None`.
fn parse_slot(arg: &[u8]) -> Option<u16> {
    parse_i64(arg)
        .filter(|s| (0..SLOT_COUNT as i64).contains(s))
        .map(|s| s as u16)
}

fn lookup_node(node: &Node, arg: &[u8]) -> Option<NodeId> {
    NodeId::parse(arg).filter(|id| node.cluster.knows(id))
}

fn unknown_node(arg: &[u8]) -> Reply {
    Reply::err(format!("Unknown node {}", String::from_utf8_lossy(arg)))
}

// ---- read-only views -----------------------------------------------------------------------

fn info(node: &mut Node, _args: &[Bytes]) -> Reply {
    Reply::Verbatim("txt", node.cluster_view().render_cluster_info())
}

fn nodes(node: &mut Node, _args: &[Bytes]) -> Reply {
    Reply::Verbatim("txt", node.cluster_view().render_nodes(false))
}

fn myid(node: &mut Node, _args: &[Bytes]) -> Reply {
    Reply::bulk_str(node.myself().as_str())
}

fn slots(node: &mut Node, _args: &[Bytes]) -> Reply {
    node.cluster_view().render_cluster_slots()
}

fn shards(node: &mut Node, _args: &[Bytes]) -> Reply {
    node.cluster_view().render_cluster_shards()
}

fn keyslot(_node: &mut Node, args: &[Bytes]) -> Reply {
    Reply::Integer(key_hash_slot(&args[2]) as i64)
}

fn countkeysinslot(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_slot(&args[2]) {
        Some(slot) => Reply::Integer(node.db.count_in_slot(slot) as i64),
        None => Reply::err("Invalid slot"),
    }
}

fn getkeysinslot(node: &mut Node, args: &[Bytes]) -> Reply {
    let count = parse_i64(&args[3]).filter(|&c| c >= 0);
    let (Some(slot), Some(count)) = (parse_slot(&args[2]), count) else {
        return Reply::err("Invalid slot or number of keys");
    };
    let keys = node.db.keys_in_slot(slot, count as usize);
    Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
}

fn count_failure_reports(node: &mut Node, args: &[Bytes]) -> Reply {
    match lookup_node(node, &args[2]) {
        Some(id) => Reply::Integer(node.cluster.failure_report_count(id, node.now.mono_ms) as i64),
        None => unknown_node(&args[2]),
    }
}

fn links(node: &mut Node, _args: &[Bytes]) -> Reply {
    let entries = node
        .cluster
        .links_in_order()
        .filter_map(|l| {
            let peer = l.node?;
            let direction = if l.outbound { "to" } else { "from" };
            Some(Reply::Map(vec![
                (Reply::bulk_str("direction"), Reply::bulk_str(direction)),
                (Reply::bulk_str("node"), Reply::bulk_str(peer.as_str())),
                (
                    Reply::bulk_str("create-time"),
                    Reply::Integer(l.created_unix_ms as i64),
                ),
                // Redis watches a link for writes only while its send buffer holds data.
                (
                    Reply::bulk_str("events"),
                    Reply::bulk_str(if l.buffers.send_used_bytes > 0 {
                        "rw"
                    } else {
                        "r"
                    }),
                ),
                (
                    Reply::bulk_str("send-buffer-allocated"),
                    Reply::Integer(l.buffers.send_allocated_bytes as i64),
                ),
                (
                    Reply::bulk_str("send-buffer-used"),
                    Reply::Integer(l.buffers.send_used_bytes as i64),
                ),
            ]))
        })
        .collect();
    Reply::Array(entries)
}

fn replicas(node: &mut Node, args: &[Bytes]) -> Reply {
    let Some(id) = lookup_node(node, &args[2]) else {
        return unknown_node(&args[2]);
    };
    if !node.cluster.is_known_master(&id) {
        return Reply::err("The specified node is not a master");
    }
    let lines = node
        .cluster
        .replicas_of(id)
        .map(|n| Reply::bulk(node.cluster_view().node_line(n)))
        .collect();
    Reply::Array(lines)
}

fn help(_node: &mut Node, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADDSLOTS <slot> [<slot> ...]",
        "    Serve the given slots from this node.",
        "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Serve every slot of the given inclusive ranges from this node.",
        "BUMPEPOCH",
        "    Take a new config epoch unless this node already has the highest one.",
        "COUNT-FAILURE-REPORTS <node-id>",
        "    Number of live failure reports about the node.",
        "COUNTKEYSINSLOT <slot>",
        "    Number of keys stored here in the slot.",
        "DELSLOTS <slot> [<slot> ...]",
        "    Stop serving the given slots (they become unassigned here).",
        "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Stop serving every slot of the given inclusive ranges.",
        "FLUSHSLOTS",
        "    Drop every slot this node serves (the database must be empty).",
        "FORGET <node-id>",
        "    Remove the node from this node's table (banned from gossip for 60 seconds).",
        "GETKEYSINSLOT <slot> <count>",
        "    Up to <count> key names stored here in the slot.",
        "INFO",
        "    Cluster state, slot counts, epochs and bus message statistics.",
        "KEYSLOT <key>",
        "    The hash slot of the key.",
        "LINKS",
        "    The cluster bus links of this node, one map per link.",
        "MEET <ip> <port> [<bus-port>]",
        "    Start a handshake with the node at the address, joining it to this cluster.",
        "MYID",
        "    This node's ID.",
        "NODES",
        "    The cluster configuration as this node sees it, one line per node:",
        "    <id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv> <epoch> <link> <slot> ...",
        "REPLICAS <node-id>",
        "    The replicas of the master, as CLUSTER NODES lines.",
        "REPLICATE <node-id>",
        "    Make this node a replica of the master.",
        "SAVECONFIG",
        "    Write the cluster configuration file now.",
        "SET-CONFIG-EPOCH <epoch>",
        "    Set this node's config epoch (only on a fresh node).",
        "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
        "    Change the migration state or the owner of a slot.",
        "SHARDS",
        "    Slot ranges and nodes of every shard.",
        "SLOTS",
        "    Slot ranges with the address and ID of their master and replicas.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(LINES.iter().map(|l| Reply::simple(*l)).collect())
}
