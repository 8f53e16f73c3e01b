//! `fix`: closes open slots and covers unassigned ones, following `redis-cli --cluster fix`.
//!
//! Open slot: first, every master importing a slot it does not own is told the owner
//! (`SETSLOT … NODE`, the import left open), so that one whose view lost the owner serves
//! MIGRATE for the slot again; redis-cli skips this and stops on "Hash slot not served". Then
//! masters holding keys of the slot without owning it, migrating or importing it count as
//! importing. One migrating owner and one importing node: the interrupted migration
//! is finished toward the importing node (the full reshard sequence). Otherwise the owner
//! keeps the slot: every other holder's keys are moved to it without `SETSLOT` (a "cold"
//! move; where the owner has the key too, the owner's copy wins — it served the key all along
//! — and the holder's is dropped, where redis-cli would stop or, with `--cluster-replace`,
//! overwrite the owner's newer value), the open states are cleared with `SETSLOT STABLE`, and
//! every master is told the owner with `SETSLOT NODE`. A slot nobody owns gets the master with most keys in it.
//!
//! Uncovered slot: the master holding its keys (the one with most when several do; the one
//! with fewest slots when none does — redis-cli picks at random) claims it with
//! `MULTI; CLUSTER DELSLOTS s; CLUSTER ADDSLOTS s; CLUSTER BUMPEPOCH; EXEC`, and other holders'
//! keys move to it. redis-cli asks for a typed `yes` first; callers decide that.

use super::check::{analyze, CheckReport};
use super::reshard::{migrate_keys, move_slot, Busy, ReshardOptions};
use super::topology::Topology;
use super::*;

/// What `fix` found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixReport {
    /// The check before fixing.
    pub before: CheckReport,
    /// redis-cli-style lines describing each action.
    pub actions: Vec<String>,
    /// Copies of keys deleted from a non-owner because the owner kept its own.
    pub dropped: Vec<DroppedCopies>,
}

/// Keys of one slot a cold move deleted on `addr`, a non-owner, because the owner held the
/// keys too (its copies win: see the module's doc). Their values on `addr` are gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedCopies {
    /// `ip:port` of the node that lost its copies.
    pub addr: String,
    /// Their slot.
    pub slot: u16,
    /// The keys (lossy UTF-8).
    pub keys: Vec<String>,
}

/// Loads the cluster from `addr`, fixes its open slots, then (with `cover_uncovered`) its
/// uncovered slots. Run [`super::check()`] afterwards (once the new owners have gossiped) to
/// confirm.
pub async fn fix(
    addr: &str,
    options: ReshardOptions,
    cover_uncovered: bool,
) -> Result<FixReport, AdminError> {
    let mut topology = super::load(addr).await?;
    let before = analyze(&topology);
    let mut report = FixReport {
        before: before.clone(),
        ..FixReport::default()
    };
    tell_importers_the_owners(&mut topology, &before.open_slots, &mut report.actions).await?;
    for &slot in &before.open_slots {
        report.actions.push(format!(">>> Fixing open slot {slot}"));
        fix_open_slot(&mut topology, slot, options, &mut report).await?;
    }
    if !before.open_slots.is_empty() {
        topology = super::load(addr).await?;
    }
    let uncovered = analyze(&topology).uncovered;
    if !cover_uncovered {
        return Ok(report);
    }
    if !uncovered.is_empty() {
        report.actions.push(">>> Fixing slots coverage...".into());
    }
    for slot in uncovered {
        cover_slot(&mut topology, slot, options, &mut report).await?;
    }
    Ok(report)
}

async fn count_keys(topology: &mut Topology, index: usize, slot: u16) -> Result<i64, AdminError> {
    topology
        .conn(index)
        .int(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
        .await
}

async fn fix_open_slot(
    topology: &mut Topology,
    slot: u16,
    options: ReshardOptions,
    report: &mut FixReport,
) -> Result<(), AdminError> {
    let masters = topology.masters();
    let migrating: Vec<usize> = masters
        .iter()
        .copied()
        .filter(|&i| topology.nodes[i].migrating.contains_key(&slot))
        .collect();
    let mut importing: Vec<usize> = masters
        .iter()
        .copied()
        .filter(|&i| topology.nodes[i].importing.contains_key(&slot))
        .collect();
    let mut keys = Vec::with_capacity(masters.len());
    for &i in &masters {
        keys.push((i, count_keys(topology, i, slot).await?));
    }
    let owner = match topology.owner_of(slot) {
        Some(owner) => owner,
        None => claim_for_most_keys(topology, slot, &keys, &migrating, &mut report.actions).await?,
    };
    importing.retain(|&i| i != owner);
    for &(i, count) in &keys {
        let open = i == owner || migrating.contains(&i) || importing.contains(&i);
        if count > 0 && !open {
            report.actions.push(format!(
                "*** Found keys about slot {slot} in non-owner node {}!",
                topology.nodes[i].addr
            ));
            importing.push(i);
        }
    }
    if migrating == [owner] && importing.len() == 1 {
        let target = importing[0];
        report.actions.push(format!(
            ">>> Moving slot {slot} from {} to {}",
            topology.nodes[owner].addr, topology.nodes[target].addr
        ));
        move_slot(topology, owner, target, slot, options).await?;
        return Ok(());
    }
    let holders: Vec<usize> = keys
        .iter()
        .filter(|&&(i, n)| n > 0 && i != owner)
        .map(|&(i, _)| i)
        .collect();
    for from in holders {
        report.actions.push(format!(
            ">>> Moving keys of slot {slot} from {} to its owner {}",
            topology.nodes[from].addr, topology.nodes[owner].addr
        ));
        let open = migrating.contains(&from) || topology.nodes[from].importing.contains_key(&slot);
        cold_move(topology, from, owner, slot, options, open, report).await?;
    }
    let mut open: Vec<usize> = migrating.iter().chain(&importing).copied().collect();
    open.push(owner);
    open.sort_unstable();
    open.dedup();
    for i in open {
        report.actions.push(format!(
            ">>> Setting {slot} as STABLE in {}",
            topology.nodes[i].addr
        ));
        topology
            .conn(i)
            .ok(&["CLUSTER", "SETSLOT", &slot.to_string(), "STABLE"])
            .await?;
    }
    let owner_id = topology.nodes[owner].id.clone();
    for i in masters {
        let reply = topology
            .conn(i)
            .call(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &owner_id])
            .await?;
        if reply.is_error() {
            tracing::warn!(?reply, addr = %topology.nodes[i].addr, "SETSLOT NODE refused");
        }
    }
    Ok(())
}

/// Tells every master importing an open slot it does not own who owns it (`SETSLOT … NODE`;
/// the import stays open), before any key moves. Redis refuses MIGRATE for a key whose slot
/// is unassigned in the node's own view ("Hash slot not served"), and any write while that
/// leaves its cluster state `fail`; an importer whose source stopped being a master has just
/// that view (gossip dropped the source's slots, and claims on a slot being imported are
/// ignored), so redis-cli's cold moves would stop there. The operator tells it the owner
/// first, as redis-cli does for a slot with several owners.
async fn tell_importers_the_owners(
    topology: &mut Topology,
    open_slots: &[u16],
    actions: &mut Vec<String>,
) -> Result<(), AdminError> {
    for &slot in open_slots {
        let Some(owner) = topology.owner_of(slot) else {
            continue;
        };
        let owner_id = topology.nodes[owner].id.clone();
        for holder in topology.masters() {
            let node = &topology.nodes[holder];
            if holder == owner || !node.importing.contains_key(&slot) || node.slots.contains(&slot)
            {
                continue;
            }
            actions.push(format!(
                ">>> Telling {} that {} owns slot {slot}",
                node.addr, topology.nodes[owner].addr
            ));
            topology
                .conn(holder)
                .ok(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &owner_id])
                .await?;
        }
    }
    Ok(())
}

/// A slot nobody owns: the master with most keys in it (else the migrating node, else the
/// first master) claims it.
async fn claim_for_most_keys(
    topology: &mut Topology,
    slot: u16,
    keys: &[(usize, i64)],
    migrating: &[usize],
    actions: &mut Vec<String>,
) -> Result<usize, AdminError> {
    let most = keys
        .iter()
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(i, n)| (*n, std::cmp::Reverse(*i)))
        .map(|(i, _)| *i);
    let Some(owner) = most
        .or_else(|| migrating.first().copied())
        .or_else(|| keys.first().map(|k| k.0))
    else {
        return Err(AdminError::Failed(format!(
            "[ERR] No master to own slot {slot}"
        )));
    };
    actions.push(format!(
        "*** Fix open slot: no owner for slot {slot}, set slot owner to {}",
        topology.nodes[owner].addr
    ));
    claim_slot(topology, owner, slot).await?;
    Ok(owner)
}

/// `MULTI; CLUSTER DELSLOTS s; CLUSTER ADDSLOTS s; CLUSTER BUMPEPOCH; EXEC` on `owner`; only
/// an ADDSLOTS error counts (DELSLOTS fails when the owner did not know the slot at all).
async fn claim_slot(topology: &mut Topology, owner: usize, slot: u16) -> Result<(), AdminError> {
    let slot_text = slot.to_string();
    let node = topology.conn(owner);
    node.ok(&["MULTI"]).await?;
    for args in [
        &["CLUSTER", "DELSLOTS", slot_text.as_str()][..],
        &["CLUSTER", "ADDSLOTS", slot_text.as_str()],
        &["CLUSTER", "BUMPEPOCH"],
    ] {
        let queued = node.call(args).await?;
        if queued != Reply::simple("QUEUED") {
            let _ = node.call(&["DISCARD"]).await;
            return Err(node.unexpected(args, &queued));
        }
    }
    match node.call(&["EXEC"]).await? {
        Reply::Array(replies) => match replies.get(1) {
            Some(Reply::Error(e)) => {
                Err(node.unexpected(&["CLUSTER", "ADDSLOTS"], &Reply::Error(e.clone())))
            }
            _ => Ok(()),
        },
        other => Err(node.unexpected(&["EXEC"], &other)),
    }?;
    topology.nodes[owner].slots.insert(slot);
    Ok(())
}

async fn cover_slot(
    topology: &mut Topology,
    slot: u16,
    options: ReshardOptions,
    report: &mut FixReport,
) -> Result<(), AdminError> {
    let masters = topology.masters();
    let mut holders = Vec::new();
    for &i in &masters {
        let n = count_keys(topology, i, slot).await?;
        if n > 0 {
            holders.push((i, n));
        }
    }
    holders.sort_by_key(|&(i, n)| (std::cmp::Reverse(n), i));
    let owner = match holders.first() {
        Some(&(i, _)) => i,
        None => *masters
            .iter()
            .min_by_key(|&&i| (topology.nodes[i].slots.len(), i))
            .ok_or_else(|| AdminError::Failed(format!("[ERR] No master to own slot {slot}")))?,
    };
    report.actions.push(format!(
        ">>> Covering slot {slot} with {}",
        topology.nodes[owner].addr
    ));
    claim_slot(topology, owner, slot).await?;
    for &(from, _) in holders.iter().skip(1) {
        report.actions.push(format!(
            ">>> Moving keys of slot {slot} from {} to {}",
            topology.nodes[from].addr, topology.nodes[owner].addr
        ));
        cold_move(topology, from, owner, slot, options, false, report).await?;
    }
    Ok(())
}

/// Moves the keys of `slot` from `from` to `owner` without changing ownership. A node that has
/// the slot neither migrating nor importing answers MIGRATE for it with MOVED, so it is first
/// marked importing from the owner, and made STABLE again afterwards.
async fn cold_move(
    topology: &mut Topology,
    from: usize,
    owner: usize,
    slot: u16,
    options: ReshardOptions,
    already_open: bool,
    report: &mut FixReport,
) -> Result<(), AdminError> {
    let slot_text = slot.to_string();
    if !already_open {
        let owner_id = topology.nodes[owner].id.clone();
        topology
            .conn(from)
            .ok(&["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &owner_id])
            .await?;
    }
    let moved = migrate_keys(topology, from, owner, slot, options, Busy::KeepTarget).await?;
    if !moved.dropped.is_empty() {
        report.dropped.push(DroppedCopies {
            addr: topology.nodes[from].addr.clone(),
            slot,
            keys: moved
                .dropped
                .iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect(),
        });
    }
    if !already_open {
        topology
            .conn(from)
            .ok(&["CLUSTER", "SETSLOT", &slot_text, "STABLE"])
            .await?;
    }
    Ok(())
}
