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
    Reply::Verbatim("txt", node.render_cluster_info())
}

fn nodes(node: &mut Node, _args: &[Bytes]) -> Reply {
    Reply::Verbatim("txt", node.render_nodes(false))
}

fn myid(node: &mut Node, _args: &[Bytes]) -> Reply {
    Reply::bulk_str(node.myself().as_str())
}

fn slots(node: &mut Node, _args: &[Bytes]) -> Reply {
    node.render_cluster_slots()
}

fn shards(node: &mut Node, _args: &[Bytes]) -> Reply {
    node.render_cluster_shards()
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
                    Reply::Integer(node.unix_ms_of(l.created_ms.max(1)) as i64),
                ),
                (
                    Reply::bulk_str("events"),
                    Reply::bulk_str(if l.outbound { "rw" } else { "r" }),
                ),
                (Reply::bulk_str("send-buffer-allocated"), Reply::Integer(0)),
                (Reply::bulk_str("send-buffer-used"), Reply::Integer(0)),
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
        .map(|n| Reply::bulk(node.node_line(n)))
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

// ---- slot assignment -----------------------------------------------------------------------

/// Parses every slot argument before any change, as Redis does.
fn parse_slots(args: &[Bytes]) -> Result<Vec<u16>, Reply> {
    args.iter()
        .map(|a| parse_slot(a).ok_or_else(|| Reply::err("Invalid or out of range slot")))
        .collect()
}

/// Parses `start end` pairs into the list of slots they cover.
fn parse_ranges(args: &[Bytes], sub: &str) -> Result<Vec<u16>, Reply> {
    if args.len() % 2 == 1 {
        return Err(Reply::wrong_arity(&format!("cluster|{sub}")));
    }
    let bounds = parse_slots(args)?;
    let mut slots = Vec::new();
    for pair in bounds.chunks(2) {
        let (start, end) = (pair[0], pair[1]);
        if start > end {
            return Err(Reply::err(format!(
                "start slot number {start} is greater than end slot number {end}"
            )));
        }
        slots.extend(start..=end);
    }
    Ok(slots)
}

/// Adds (or deletes) the given slots to myself after checking all of them.
fn change_slots(node: &mut Node, slots: Vec<u16>, add: bool) -> Reply {
    let mut seen = vec![false; SLOT_COUNT];
    for &slot in &slots {
        let owned = node.cluster.slot_owner(slot).is_some();
        if add && owned {
            return Reply::err(format!("Slot {slot} is already busy"));
        }
        if !add && !owned {
            return Reply::err(format!("Slot {slot} is already unassigned"));
        }
        if std::mem::replace(&mut seen[slot as usize], true) {
            return Reply::err(format!("Slot {slot} specified multiple times"));
        }
    }
    node.cluster.change_my_slots(&slots, add, &mut node.out);
    Reply::ok()
}

fn addslots(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_slots(&args[2..]) {
        Ok(slots) => change_slots(node, slots, true),
        Err(e) => e,
    }
}

fn delslots(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_slots(&args[2..]) {
        Ok(slots) => change_slots(node, slots, false),
        Err(e) => e,
    }
}

fn addslotsrange(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_ranges(&args[2..], "addslotsrange") {
        Ok(slots) => change_slots(node, slots, true),
        Err(e) => e,
    }
}

fn delslotsrange(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_ranges(&args[2..], "delslotsrange") {
        Ok(slots) => change_slots(node, slots, false),
        Err(e) => e,
    }
}

fn flushslots(node: &mut Node, _args: &[Bytes]) -> Reply {
    if !node.db.is_empty() {
        return Reply::err("DB must be empty to perform CLUSTER FLUSHSLOTS.");
    }
    node.cluster.flush_my_slots(&mut node.out);
    Reply::ok()
}

fn setslot(node: &mut Node, args: &[Bytes]) -> Reply {
    if node.cluster.me().is_replica() {
        return Reply::err("Please use SETSLOT only with masters.");
    }
    let Some(slot) = parse_slot(&args[2]) else {
        return Reply::err("Invalid or out of range slot");
    };
    let action = &args[3];
    let target = args.get(4);
    match (action, target, args.len()) {
        (a, Some(id), 5) if is(a, "migrating") => setslot_migrating(node, slot, id),
        (a, Some(id), 5) if is(a, "importing") => setslot_importing(node, slot, id),
        (a, None, 4) if is(a, "stable") => {
            node.cluster.set_stable(slot);
            Reply::ok()
        }
        (a, Some(id), 5) if is(a, "node") => setslot_node(node, slot, id),
        _ => Reply::err("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"),
    }
}

fn known_master(node: &Node, arg: &[u8]) -> Result<NodeId, Reply> {
    let Some(id) = lookup_node(node, arg) else {
        return Err(Reply::err(format!(
            "I don't know about node {}",
            String::from_utf8_lossy(arg)
        )));
    };
    if !node.cluster.is_known_master(&id) {
        return Err(Reply::err("Target node is not a master"));
    }
    Ok(id)
}

fn setslot_migrating(node: &mut Node, slot: u16, id: &[u8]) -> Reply {
    if !node.cluster.owns(slot) {
        return Reply::err(format!("I'm not the owner of hash slot {slot}"));
    }
    match known_master(node, id) {
        Ok(target) => {
            node.cluster.set_migrating(slot, target);
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn setslot_importing(node: &mut Node, slot: u16, id: &[u8]) -> Reply {
    if node.cluster.owns(slot) {
        return Reply::err(format!("I'm already the owner of hash slot {slot}"));
    }
    match known_master(node, id) {
        Ok(source) => {
            node.cluster.set_importing(slot, source);
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn setslot_node(node: &mut Node, slot: u16, id: &[u8]) -> Reply {
    let Some(target) = lookup_node(node, id) else {
        return unknown_node(id);
    };
    let myself = node.myself();
    if !node.cluster.is_known_master(&target) {
        return Reply::err("Target node is not a master");
    }
    let owned_by_me = node.cluster.owns(slot);
    if owned_by_me && target != myself && node.db.count_in_slot(slot) > 0 {
        return Reply::err(format!(
            "Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
        ));
    }
    let keep_open = node.canary(Canary::SetslotNodeKeepsOpen);
    if node.db.count_in_slot(slot) == 0 && !keep_open {
        node.cluster.close_migrating(slot);
    }
    let was_importing = node.cluster.importing_from(slot).is_some();
    let had_slots = !node.cluster.me().slots.is_empty();
    node.cluster.assign_slot(slot, Some(target), &mut node.out);
    if target == myself && was_importing {
        if !keep_open {
            node.cluster.close_importing(slot);
        }
        // Taking a slot without consensus needs an epoch nobody else has.
        if bump_epoch_without_consensus(node) {
            node.log(
                LogLevel::Notice,
                format!("configEpoch updated after importing slot {slot}"),
            );
        }
        node.broadcast(MessageType::Pong, crate::bus::Body::Gossip(Vec::new()));
    }
    let allowed = node.config.cluster_allow_replica_migration;
    if had_slots && target != myself && node.cluster.me().slots.is_empty() && allowed {
        node.cluster.become_replica_of(target, &mut node.out);
    }
    node.cluster.request_save(true);
    Reply::ok()
}

fn failover(node: &mut Node, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return bad_subcommand_arity(args);
    }
    let (force, takeover) = match args.get(2) {
        None => (false, false),
        Some(a) if is(a, "force") => (true, false),
        Some(a) if is(a, "takeover") => (false, true),
        Some(_) => return Reply::syntax_error(),
    };
    let me = node.cluster.me();
    if me.is_master() {
        return Reply::err("You should send CLUSTER FAILOVER to a replica");
    }
    let Some(m) = me.master.and_then(|m| node.cluster.node(&m)) else {
        return Reply::err("I'm a replica but my master is unknown to me");
    };
    let master = m.id;
    // As Redis: FAIL (not PFAIL) or no bus link to the master needs FORCE.
    let master_down = m.has(flags::FAIL) || m.link.is_none();
    if !force && !takeover && master_down {
        return Reply::err("Master is down or failed, please use CLUSTER FAILOVER FORCE");
    }
    if takeover {
        node.take_over(master);
    } else if force {
        node.start_forced_failover();
    } else {
        node.start_manual_failover(master);
    }
    Reply::ok()
}

// ---- membership and epochs -----------------------------------------------------------------

fn meet(node: &mut Node, args: &[Bytes]) -> Reply {
    if args.len() > 5 {
        return bad_subcommand_arity(args);
    }
    let ip = String::from_utf8_lossy(&args[2]).to_string();
    let port = parse_i64(&args[3]).filter(|p| (0..=65535).contains(p));
    let Some(port) = port else {
        return Reply::err(format!(
            "Invalid TCP base port specified: {}",
            String::from_utf8_lossy(&args[3])
        ));
    };
    let cport = match args.get(4) {
        None => port + 10000,
        Some(a) => match parse_i64(a).filter(|p| (0..=65535).contains(p)) {
            Some(p) => p,
            None => {
                return Reply::err(format!(
                    "Invalid TCP bus port specified: {}",
                    String::from_utf8_lossy(a)
                ))
            }
        },
    };
    let Some(ip) = normalize_ip(&ip) else {
        return Reply::err(format!("Invalid node address specified: {ip}:{port}"));
    };
    if port == 0 || cport == 0 || cport > 65535 {
        return Reply::err(format!("Invalid node address specified: {ip}:{port}"));
    }
    start_handshake(node, ip, port as u16, cport as u16);
    Reply::ok()
}

/// A valid IPv4 or IPv6 address in canonical text form.
fn normalize_ip(text: &str) -> Option<String> {
    text.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

/// Adds a handshake node for the address unless one is already being met.
fn start_handshake(node: &mut Node, ip: String, port: u16, cport: u16) {
    if node.cluster.handshake_in_progress(&ip, port, cport) {
        return;
    }
    let id = NodeId::random(&mut node.rng);
    node.cluster
        .add_handshake_node(id, ip, port, cport, node.now);
}

fn forget(node: &mut Node, args: &[Bytes]) -> Reply {
    let Some(id) = lookup_node(node, &args[2]) else {
        return unknown_node(&args[2]);
    };
    if id == node.myself() {
        return Reply::err("I tried hard but I can't forget myself...");
    }
    if node.cluster.replicates(id) {
        return Reply::err("Can't forget my master!");
    }
    const FORGET_BAN_MS: u64 = 60_000;
    let until = node.now.mono_ms + FORGET_BAN_MS;
    node.cluster.ban(id, until);
    node.delete_node(id);
    node.cluster.request_save(true);
    Reply::ok()
}

fn replicate(node: &mut Node, args: &[Bytes]) -> Reply {
    let Some(id) = lookup_node(node, &args[2]) else {
        return unknown_node(&args[2]);
    };
    if id == node.myself() {
        return Reply::err("Can't replicate myself");
    }
    if node.cluster.is_known_replica(&id) {
        return Reply::err("I can only replicate a master, not a replica.");
    }
    let me = node.cluster.me();
    if me.is_master() && (!me.slots.is_empty() || !node.db.is_empty()) {
        return Reply::err("To set a master the node must be empty and without assigned slots.");
    }
    node.cluster.become_replica_of(id, &mut node.out);
    Reply::ok()
}

/// `CLUSTER RESET [SOFT|HARD]`: back to a lone empty master (HARD: new ID, epochs zeroed).
fn reset(node: &mut Node, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return bad_subcommand_arity(args);
    }
    let hard = match args.get(2) {
        None => false,
        Some(a) if is(a, "soft") => false,
        Some(a) if is(a, "hard") => true,
        Some(_) => return Reply::syntax_error(),
    };
    let me = node.cluster.me();
    if me.is_master() && !node.db.is_empty() {
        return Reply::err("CLUSTER RESET can't be called with master nodes containing keys");
    }
    if me.is_replica() {
        node.db.clear();
        node.cluster.stop_replicating();
    }
    node.cluster.unassign_all_slots(&mut node.out);
    for id in node.cluster.others() {
        node.delete_node(id);
    }
    if hard {
        let new_id = NodeId::random(&mut node.rng);
        node.cluster.hard_reset_identity(new_id);
        node.log(
            LogLevel::Notice,
            format!("Node hard reset, now I'm {new_id}"),
        );
    }
    node.cluster.request_save(true);
    Reply::ok()
}

fn saveconfig(node: &mut Node, _args: &[Bytes]) -> Reply {
    node.cluster.request_save(true);
    Reply::ok()
}

fn set_config_epoch(node: &mut Node, args: &[Bytes]) -> Reply {
    let Some(epoch) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    if epoch < 0 {
        return Reply::err(format!("Invalid config epoch specified: {epoch}"));
    }
    if node.cluster.node_count() > 1 {
        return Reply::err(
            "The user can assign a config epoch only when the node does not know any other node.",
        );
    }
    if node.cluster.me().config_epoch != 0 {
        return Reply::err("Node config epoch is already non-zero");
    }
    let epoch = epoch as u64;
    node.cluster
        .raise_current_epoch(epoch, EpochReason::SetConfigEpoch, &mut node.out);
    node.cluster
        .set_my_config_epoch(epoch, ConfigEpochReason::SetConfigEpoch, &mut node.out);
    node.log(
        LogLevel::Warning,
        format!("configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH"),
    );
    node.cluster.request_save(true);
    Reply::ok()
}

/// Takes `currentEpoch + 1` as my config epoch unless mine is already the unique maximum.
/// Returns whether it bumped.
fn bump_epoch_without_consensus(node: &mut Node) -> bool {
    let mine = node.cluster.me().config_epoch;
    let max = node.cluster.max_config_epoch();
    if mine != 0 && mine == max {
        return false;
    }
    let epoch = node
        .cluster
        .bump_current_epoch(EpochReason::Bump, &mut node.out);
    node.cluster
        .set_my_config_epoch(epoch, ConfigEpochReason::Bump, &mut node.out);
    node.cluster.request_save(true);
    true
}

fn bumpepoch(node: &mut Node, _args: &[Bytes]) -> Reply {
    let bumped = bump_epoch_without_consensus(node);
    let epoch = node.cluster.me().config_epoch;
    Reply::simple(format!(
        "{} {epoch}",
        if bumped { "BUMPED" } else { "STILL" }
    ))
}
