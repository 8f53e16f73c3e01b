//! CLUSTER MEET, FORGET, REPLICATE, RESET, SAVECONFIG, SET-CONFIG-EPOCH and BUMPEPOCH: who is
//! in the cluster, and the epochs a node may set for itself without consensus.

use super::*;

// ---- membership and epochs -----------------------------------------------------------------

pub(super) fn meet(node: &mut Node, args: &[Bytes]) -> Reply {
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
pub(super) fn normalize_ip(text: &str) -> Option<String> {
    text.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

/// Adds a handshake node for the address unless one is already being met.
pub(super) fn start_handshake(node: &mut Node, ip: String, port: u16, cport: u16) {
    if node.cluster.handshake_in_progress(&ip, port, cport) {
        return;
    }
    let id = NodeId::random(&mut node.rng);
    node.cluster
        .add_handshake_node(id, ip, port, cport, node.now);
}

pub(super) fn forget(node: &mut Node, args: &[Bytes]) -> Reply {
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
    // As Redis 7.0: saved before the reply, not fsynced (`CLUSTER_TODO_SAVE_CONFIG` only).
    node.cluster.request_save(false);
    Reply::ok()
}

pub(super) fn replicate(node: &mut Node, args: &[Bytes]) -> Reply {
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
pub(super) fn reset(node: &mut Node, args: &[Bytes]) -> Reply {
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

pub(super) fn saveconfig(node: &mut Node, _args: &[Bytes]) -> Reply {
    node.cluster.request_save(true);
    Reply::ok()
}

pub(super) fn set_config_epoch(node: &mut Node, args: &[Bytes]) -> Reply {
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
    // Not fsynced, as in Redis 7.0: an epoch lost with the file is a collision the
    // collision rule resolves.
    node.cluster.request_save(false);
    Reply::ok()
}

/// Takes `currentEpoch + 1` as my config epoch unless mine is already the unique maximum.
/// Returns whether it bumped.
pub(super) fn bump_epoch_without_consensus(node: &mut Node) -> bool {
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

pub(super) fn bumpepoch(node: &mut Node, _args: &[Bytes]) -> Reply {
    let bumped = bump_epoch_without_consensus(node);
    let epoch = node.cluster.me().config_epoch;
    Reply::simple(format!(
        "{} {epoch}",
        if bumped { "BUMPED" } else { "STILL" }
    ))
}
