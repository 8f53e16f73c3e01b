//! CLUSTER ADDSLOTS, DELSLOTS (and their RANGE forms), FLUSHSLOTS, SETSLOT and FAILOVER: the
//! handlers parse and check their arguments and pick the reply; the slot changes themselves
//! are [`crate::cluster::Cluster`] operations (`cluster/slots.rs`, `cluster/roles.rs`).

use super::*;

// ---- slot assignment -----------------------------------------------------------------------

/// Parses every slot argument before any change, as Redis does.
pub(super) fn parse_slots(args: &[Bytes]) -> Result<Vec<u16>, Reply> {
    args.iter()
        .map(|a| parse_slot(a).ok_or_else(|| Reply::err("Invalid or out of range slot")))
        .collect()
}

/// Parses `start end` pairs into the list of slots they cover.
pub(super) fn parse_ranges(args: &[Bytes], sub: &str) -> Result<Vec<u16>, Reply> {
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
pub(super) fn change_slots(node: &mut Node, slots: Vec<u16>, add: bool) -> Reply {
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

pub(super) fn addslots(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_slots(&args[2..]) {
        Ok(slots) => change_slots(node, slots, true),
        Err(e) => e,
    }
}

pub(super) fn delslots(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_slots(&args[2..]) {
        Ok(slots) => change_slots(node, slots, false),
        Err(e) => e,
    }
}

pub(super) fn addslotsrange(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_ranges(&args[2..], "addslotsrange") {
        Ok(slots) => change_slots(node, slots, true),
        Err(e) => e,
    }
}

pub(super) fn delslotsrange(node: &mut Node, args: &[Bytes]) -> Reply {
    match parse_ranges(&args[2..], "delslotsrange") {
        Ok(slots) => change_slots(node, slots, false),
        Err(e) => e,
    }
}

pub(super) fn flushslots(node: &mut Node, _args: &[Bytes]) -> Reply {
    if !node.db.is_empty() {
        return Reply::err("DB must be empty to perform CLUSTER FLUSHSLOTS.");
    }
    node.cluster.flush_my_slots(&mut node.out);
    Reply::ok()
}

pub(super) fn setslot(node: &mut Node, args: &[Bytes]) -> Reply {
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
            node.cluster.set_stable(slot, &mut node.out);
            Reply::ok()
        }
        (a, Some(id), 5) if is(a, "node") => setslot_node(node, slot, id),
        _ => Reply::err("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"),
    }
}

pub(super) fn known_master(node: &Node, arg: &[u8]) -> Result<NodeId, Reply> {
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

pub(super) fn setslot_migrating(node: &mut Node, slot: u16, id: &[u8]) -> Reply {
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

pub(super) fn setslot_importing(node: &mut Node, slot: u16, id: &[u8]) -> Reply {
    if node.cluster.owns(slot) {
        return Reply::err(format!("I'm already the owner of hash slot {slot}"));
    }
    match known_master(node, id) {
        Ok(source) => {
            node.cluster.set_importing(slot, source, &mut node.out);
            Reply::ok()
        }
        Err(e) => e,
    }
}

pub(super) fn setslot_node(node: &mut Node, slot: u16, id: &[u8]) -> Reply {
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
            node.cluster.close_importing(slot, &mut node.out);
        }
        // The migrated keys now live here: a loss checker follows the slot to this node.
        let offset = node.cluster.me().repl_offset;
        node.emit(crate::event::ClusterEvent::SlotImported { slot, offset });
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
        // Redis adds `CLUSTER_TODO_FSYNC_CONFIG` for this turn to a replica.
        node.cluster.request_save(true);
    }
    // Redis 7.0 saves without fsync here (`CLUSTER_TODO_SAVE_CONFIG`); the epoch bump and
    // the turn to a replica above ask for their own fsync, as Redis's do.
    node.cluster.request_save(false);
    Reply::ok()
}

pub(super) fn failover(node: &mut Node, args: &[Bytes]) -> Reply {
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
        node.bus().take_over(master);
    } else if force {
        node.bus().start_forced_failover();
    } else {
        node.bus().start_manual_failover(master);
    }
    Reply::ok()
}
