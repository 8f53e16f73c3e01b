//! `reshard`: moving slots with their keys from source masters to a target, with the command
//! sequence of `redis-cli --cluster reshard`: per slot `SETSLOT IMPORTING` on the target,
//! `SETSLOT MIGRATING` on the source, `GETKEYSINSLOT` + `MIGRATE … KEYS …` until the slot is
//! empty, then `SETSLOT NODE` on the target, the source and every other master. Which slots
//! go is redis-cli's reshard table: sources by slot count, each giving its share (the first
//! rounded up, the others down), lowest slots first.

use super::topology::Topology;
use super::*;

/// Where `reshard` takes slots from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sources {
    /// Every master except the target (`--cluster-from all`).
    All,
    /// These master ids.
    Ids(Vec<String>),
}

/// Knobs of a slot move, redis-cli's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReshardOptions {
    /// Keys per `GETKEYSINSLOT`/`MIGRATE` round (`--cluster-pipeline`).
    pub pipeline: usize,
    /// `MIGRATE`'s timeout (`--cluster-timeout`).
    pub timeout_ms: u64,
    /// Overwrite keys the target already has (`--cluster-replace`); without it a key that
    /// exists on both sides is overwritten only when both hold the same value.
    pub replace: bool,
    /// Pause between moving a slot's last key and `SETSLOT … NODE`, in ms (0, as redis-cli
    /// does). A slow operator's step: the simulator uses it so that clients meet slots
    /// half-moved (`ASK`) while other faults strike.
    pub hold_before_node_ms: u64,
}

impl Default for ReshardOptions {
    fn default() -> Self {
        ReshardOptions {
            pipeline: 10,
            timeout_ms: 60_000,
            replace: false,
            hold_before_node_ms: 0,
        }
    }
}

/// One slot moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMove {
    pub slot: u16,
    pub from: String,
    pub to: String,
    /// Keys migrated.
    pub keys: usize,
}

/// What a reshard did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReshardReport {
    pub moves: Vec<SlotMove>,
}

impl ReshardReport {
    pub fn keys(&self) -> usize {
        self.moves.iter().map(|m| m.keys).sum()
    }
}

/// `GETKEYSINSLOT`/`MIGRATE` rounds per slot before a move is declared stuck: every round
/// moves at least one key, so only a slot being refilled as fast as it drains gets here.
const MAX_MIGRATE_ROUNDS: usize = 100_000;

/// redis-cli's reshard table: `(source index, slot)` pairs, `count` at most. `sources` are
/// `(index, slots ascending)`.
pub fn reshard_table(sources: &[(usize, Vec<u16>)], count: usize) -> Vec<(usize, u16)> {
    let mut sorted: Vec<&(usize, Vec<u16>)> = sources.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.1.len()));
    let total: usize = sorted.iter().map(|s| s.1.len()).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut table = Vec::with_capacity(count);
    for (i, (index, slots)) in sorted.into_iter().enumerate() {
        let share = count as f64 / total as f64 * slots.len() as f64;
        let share = if i == 0 { share.ceil() } else { share.floor() } as usize;
        table.extend(slots.iter().take(share).map(|&slot| (*index, slot)));
    }
    table.truncate(count);
    table
}

/// Loads the cluster from `addr`, checks it, and moves `count` slots from `from` to the master
/// `to` (see the module docs).
pub async fn reshard(
    addr: &str,
    from: Sources,
    to: &str,
    count: usize,
    options: ReshardOptions,
) -> Result<ReshardReport, AdminError> {
    let mut topology = super::load(addr).await?;
    if !super::check::analyze(&topology).is_ok() {
        return Err(AdminError::ClusterProblems);
    }
    if count == 0 || count > clusterlab_core::slot::SLOT_COUNT {
        return Err(AdminError::Failed(format!(
            "*** Invalid number of slots: {count}"
        )));
    }
    let target = topology
        .find(to)
        .filter(|&i| topology.nodes[i].is_master())
        .ok_or_else(|| {
            AdminError::Failed(format!(
                "*** The specified node ({to}) is not known or not a master, please retry."
            ))
        })?;
    let sources = source_indices(&topology, &from, target)?;
    let slots_of = |i: usize| topology.nodes[i].slots.iter().copied().collect();
    let sources: Vec<(usize, Vec<u16>)> = sources.into_iter().map(|i| (i, slots_of(i))).collect();
    let table = reshard_table(&sources, count);
    let mut report = ReshardReport::default();
    for (source, slot) in table {
        let keys = move_slot(&mut topology, source, target, slot, options).await?;
        report.moves.push(SlotMove {
            slot,
            from: topology.nodes[source].id.clone(),
            to: topology.nodes[target].id.clone(),
            keys,
        });
    }
    Ok(report)
}

fn source_indices(
    topology: &Topology,
    from: &Sources,
    target: usize,
) -> Result<Vec<usize>, AdminError> {
    let sources = match from {
        Sources::All => topology
            .masters()
            .into_iter()
            .filter(|&i| i != target && !topology.nodes[i].slots.is_empty())
            .collect(),
        Sources::Ids(ids) => {
            let mut found = Vec::new();
            for id in ids {
                let index = topology
                    .find(id)
                    .filter(|&i| topology.nodes[i].is_master())
                    .ok_or_else(|| {
                        AdminError::Failed(format!(
                            "*** The specified node ({id}) is not known or is not a master, please retry."
                        ))
                    })?;
                if index == target {
                    return Err(AdminError::Failed(
                        "*** It is not possible to use the target node as source node.".into(),
                    ));
                }
                found.push(index);
            }
            found
        }
    };
    if sources.is_empty() {
        return Err(AdminError::Failed(
            "*** No source nodes given, operation aborted.".into(),
        ));
    }
    Ok(sources)
}

/// Moves `slot` with its keys from node `source` to node `target` and tells every master the
/// new owner; returns how many keys moved.
pub async fn move_slot(
    topology: &mut Topology,
    source: usize,
    target: usize,
    slot: u16,
    options: ReshardOptions,
) -> Result<usize, AdminError> {
    let slot_text = slot.to_string();
    let source_id = topology.nodes[source].id.clone();
    let target_id = topology.nodes[target].id.clone();
    let setslot = |action: &'static str, id: &str| -> [String; 5] {
        [
            "CLUSTER".into(),
            "SETSLOT".into(),
            slot_text.clone(),
            action.into(),
            id.to_string(),
        ]
    };
    ok_strings(topology.conn(target), &setslot("IMPORTING", &source_id)).await?;
    ok_strings(topology.conn(source), &setslot("MIGRATING", &target_id)).await?;
    let moved = migrate_keys(topology, source, target, slot, options, Busy::of(options)).await?;
    if options.hold_before_node_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(
            options.hold_before_node_ms,
        ))
        .await;
    }
    let node_cmd = setslot("NODE", &target_id);
    ok_strings(topology.conn(target), &node_cmd).await?;
    // A source that gave away its last slot has become a replica by now.
    tolerate_replica(ok_strings(topology.conn(source), &node_cmd).await)?;
    for other in topology.masters() {
        if other == source || other == target {
            continue;
        }
        if let Err(e) = tolerate_replica(ok_strings(topology.conn(other), &node_cmd).await) {
            tracing::warn!(%e, "SETSLOT NODE on another master failed");
        }
    }
    topology.nodes[source].slots.remove(&slot);
    topology.nodes[source].migrating.remove(&slot);
    topology.nodes[target].importing.remove(&slot);
    topology.nodes[target].slots.insert(slot);
    Ok(moved.count)
}

/// `CLUSTER SETSLOT … NODE` on a node that turned replica answers with this error; redis-cli
/// ignores it.
fn tolerate_replica(result: Result<(), AdminError>) -> Result<(), AdminError> {
    match result {
        Err(AdminError::Command { reply, .. })
            if reply.contains("Please use SETSLOT only with masters.") =>
        {
            Ok(())
        }
        other => other,
    }
}

async fn ok_strings(node: &mut Node, args: &[String]) -> Result<(), AdminError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    node.ok(&args).await
}

/// What to do when the target already holds a key being moved (`BUSYKEY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Busy {
    /// Overwrite it when both copies are equal, fail otherwise (redis-cli without
    /// `--cluster-replace`).
    ReplaceIfEqual,
    /// Overwrite it: the source's copy is the live one (`--cluster-replace`; a migration
    /// finished toward the importing node, whose copy a timed-out MIGRATE left behind).
    Replace,
    /// Keep the target's copy and drop the source's: the target owns the slot and served the
    /// key all along (`fix` moving a non-owner's leftovers to the owner).
    KeepTarget,
}

impl Busy {
    pub(super) fn of(options: ReshardOptions) -> Busy {
        if options.replace {
            Busy::Replace
        } else {
            Busy::ReplaceIfEqual
        }
    }
}

/// What [`migrate_keys`] did with the source's keys.
#[derive(Debug, Default)]
pub(super) struct Moved {
    /// Keys MIGRATEd (or found gone).
    pub count: usize,
    /// Keys deleted on the source because the target kept its own copy ([`Busy::KeepTarget`]).
    pub dropped: Vec<bytes::Bytes>,
}

/// `GETKEYSINSLOT` + `MIGRATE … KEYS` on the source until the slot is empty there.
pub(super) async fn migrate_keys(
    topology: &mut Topology,
    source: usize,
    target: usize,
    slot: u16,
    options: ReshardOptions,
    busy: Busy,
) -> Result<Moved, AdminError> {
    let (ip, port) = topology.endpoint(target);
    let (slot_text, pipeline) = (slot.to_string(), options.pipeline.max(1).to_string());
    let mut moved = Moved::default();
    for _ in 0..MAX_MIGRATE_ROUNDS {
        let keys = topology
            .conn(source)
            .bulk_array(&["CLUSTER", "GETKEYSINSLOT", &slot_text, &pipeline])
            .await?;
        if keys.is_empty() {
            return Ok(moved);
        }
        let replace = busy == Busy::Replace;
        let reply = migrate(topology.conn(source), &ip, port, &keys, options, replace).await?;
        let reply = match (reply, busy) {
            (Reply::Error(e), Busy::ReplaceIfEqual) if e.contains("BUSYKEY") => {
                if !same_values(topology, source, target, &keys).await? {
                    return Err(AdminError::ValuesDiffer { reply: e });
                }
                tracing::warn!(
                    slot,
                    "target keys exist with equal values: retrying with REPLACE"
                );
                migrate(topology.conn(source), &ip, port, &keys, options, true).await?
            }
            (Reply::Error(e), Busy::KeepTarget) if e.contains("BUSYKEY") => {
                tracing::warn!(slot, "target keeps its copies: dropping the source's");
                let dropped = drop_keys(topology.conn(source), &keys).await?;
                moved.dropped.extend(dropped);
                Reply::ok()
            }
            (other, _) => other,
        };
        match reply {
            Reply::Simple(s) if s == "OK" || s == "NOKEY" => moved.count += keys.len(),
            Reply::Error(e) => {
                return Err(AdminError::Failed(format!("[ERR] Calling MIGRATE: {e}")));
            }
            other => {
                return Err(AdminError::Failed(format!(
                    "[ERR] Calling MIGRATE: unexpected reply {other:?}"
                )));
            }
        }
    }
    Err(AdminError::Failed(format!(
        "[ERR] Slot {slot} still has keys after {MAX_MIGRATE_ROUNDS} MIGRATE rounds"
    )))
}

/// `ASKING` + `DEL` of each key on a node that has the slot open (those MIGRATE moved are
/// gone already; the rest are copies the target also holds); the keys it deleted.
async fn drop_keys(
    node: &mut Node,
    keys: &[bytes::Bytes],
) -> Result<Vec<bytes::Bytes>, AdminError> {
    let mut dropped = Vec::new();
    for key in keys {
        node.ok(&["ASKING"]).await?;
        match node.call_bytes(&[b"DEL", key]).await? {
            Reply::Integer(1) => dropped.push(key.clone()),
            Reply::Integer(_) => {}
            reply => return Err(node.unexpected(&["DEL"], &reply)),
        }
    }
    Ok(dropped)
}

async fn migrate(
    node: &mut Node,
    ip: &str,
    port: u16,
    keys: &[bytes::Bytes],
    options: ReshardOptions,
    replace: bool,
) -> Result<Reply, AdminError> {
    let (port, timeout) = (port.to_string(), options.timeout_ms.to_string());
    let mut args: Vec<&[u8]> = vec![
        b"MIGRATE",
        ip.as_bytes(),
        port.as_bytes(),
        b"",
        b"0",
        timeout.as_bytes(),
    ];
    if replace {
        args.push(b"REPLACE");
    }
    args.push(b"KEYS");
    args.extend(keys.iter().map(|k| k.as_ref()));
    // MIGRATE itself may wait its whole timeout on the target.
    node.call_bytes_within(&args, options.timeout_ms + COMMAND_TIMEOUT_MS)
        .await
}

/// Whether source and target hold the same values for `keys` (compared as `DUMP` payloads,
/// where redis-cli compares `DEBUG DIGEST-VALUE`). The target is importing the slot, so its
/// `DUMP` goes after `ASKING` (without it the target answers `MOVED`, and equal copies would
/// look different); a key either side no longer holds (nil, or a redirection) is no conflict.
async fn same_values(
    topology: &mut Topology,
    source: usize,
    target: usize,
    keys: &[bytes::Bytes],
) -> Result<bool, AdminError> {
    for key in keys {
        let here = topology.conn(source).call_bytes(&[b"DUMP", key]).await?;
        let target_conn = topology.conn(target);
        target_conn.ok(&["ASKING"]).await?;
        let there = target_conn.call_bytes(&[b"DUMP", key]).await?;
        if let (Reply::Bulk(here), Reply::Bulk(there)) = (&here, &there) {
            if here != there {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_takes_lowest_slots_of_one_source() {
        let sources = vec![(0, (0..=5460).collect())];
        let table = reshard_table(&sources, 10);
        assert_eq!(table, (0..10).map(|s| (0, s)).collect::<Vec<_>>());
    }

    #[test]
    fn table_splits_by_share_biggest_source_first_rounded_up() {
        // 100 slots from sources of 5461 and 5462 slots: 5462 first (ceil 50.00…) then 5461
        // (floor 49.99…).
        let sources = vec![(0, (0..=5460).collect()), (1, (5461..=10922).collect())];
        let table = reshard_table(&sources, 100);
        assert_eq!(table.len(), 100);
        let from_1 = table.iter().filter(|(i, _)| *i == 1).count();
        assert_eq!(from_1, 51);
        assert_eq!(table[0], (1, 5461));
        assert_eq!(table[51], (0, 0));
        assert_eq!(table[99], (0, 48));
        assert!(reshard_table(&[(0, vec![])], 5).is_empty());
        // Never more than asked, never more than there is.
        assert_eq!(reshard_table(&[(0, vec![1, 2])], 5), vec![(0, 1), (0, 2)]);
    }
}
