//! Following one write through a run's events: which nodes hold a copy of it (by replication
//! offset), which node owns its slot (the holder: the acknowledging master, then whoever a
//! promotion or a migration handed the slot to), and, once the holder lacks the write, why.
//!
//! Copies move by the replication stream: a replica has the write once it applied its
//! master's stream up to the write's offset in that stream (`WriteApplied`, or a full sync
//! ending at `ReplicationLinkUp` past it), and loses it when a full sync from a master without
//! it replaces its data. Offsets continue across a promotion (PSYNC2), so a copy keeps its
//! offset on a promoted node. After a restart from disk a node's offsets start again, and the
//! write (if its disk kept it) is in the loaded data: any full sync from it carries it.

use std::collections::{BTreeMap, BTreeSet};

use clusterlab_core::event::{AofOp, ConfigEpochReason};
use clusterlab_core::ClusterEvent;

use super::reason::{Promotion, Reason};
use super::snapshots::Snapshots;
use super::{fmt_us, AckedWrite, LossCause, LossRule, LossVerdict, EVERYSEC_WINDOW_US};
use crate::faults::Fault;
use crate::node_idx::NodeIdx;
use crate::trace::{Event, FaultEvent, ProcessEvent, TraceEvent};

/// A node's copy of the write.
#[derive(Clone, Copy, Debug)]
struct Copy {
    /// The write's offset in this node's stream: a replica of this node has the write once
    /// its offset reaches it.
    offset: u64,
    /// When the node got it (for the `everysec` window).
    since_us: u64,
    /// Whether it is durable as far as a crash goes: on a normal disk at once (`always`; the
    /// `everysec` window is judged by time), on a slow one only once the node reports an AOF
    /// sync reaching `offset` (`AofSynced`).
    synced: bool,
}

/// The state of one write's walk.
pub(super) struct Walk<'r> {
    rule: &'r LossRule<'r>,
    write: &'r AckedWrite,
    offset: u64,
    copies: BTreeMap<String, Copy>,
    /// Each replica's master, by name, as its own `BecameReplica` events said.
    master_of: BTreeMap<String, String>,
    holder: String,
    /// Each node's latest promotion in place of another master than the holder: a rival
    /// whose claim may later win the holder's slot by a higher config epoch (two replicas of
    /// one master promoted at once, or one promoted after the write's master already was).
    rivals: BTreeMap<String, Promotion>,
    /// Why the holder lacks the write (`None`: it has it).
    lost: Option<Reason>,
    /// The promotions and migrations the write survived, for the evidence.
    steps: Vec<String>,
    /// The promotion that made the current holder the owner (`None`: it owned the slot by
    /// acknowledging the write, or by a migration).
    holder_promotion: Option<Promotion>,
    /// Whether the current holder MIGRATEd keys of the slot after it got the write.
    holder_migrated: bool,
    /// The nodes a holder MIGRATEd keys of the slot to since the write, and that have not
    /// moved them back: until an import closes, the write may live only there (whoever owns
    /// the slot meanwhile).
    moved_to: BTreeSet<String>,
    /// The wiped holder's replicas when it was wiped: the copies that could take it over.
    wiped_replicas: Vec<String>,
    /// How copies were lost to full syncs, for the evidence.
    drops: Vec<String>,
    /// Whether the holder imports the slot (`SETSLOT IMPORTING`, open): a write applied then
    /// came by `ASKING` and reaches the owner only if this import closes.
    importing: bool,
    /// When each node last took a config epoch without votes (bump, or a collision).
    bumped: BTreeMap<String, u64>,
    /// The same, from the start of the run (a claim made before the write still outbids a
    /// holder that serves the slot unaware of it: see `yielded_to_bumper`).
    /// Replicas whose last full sync loaded a snapshot known to lack the write, with the
    /// snapshot's offset.
    loaded_without: BTreeMap<String, u64>,
    /// Nodes started at least once.
    started: BTreeSet<String>,
    /// When each node last restarted (its replication offset counts from 0 again).
    restarted_us: BTreeMap<String, u64>,
    /// The master each replica last synced with (a full or a partial resync), and when.
    synced_with: BTreeMap<String, (String, u64)>,
    unvoted_epoch: BTreeMap<String, u64>,
    /// Each node's owner of the write's slot, in its own view (`SlotsAssigned`).
    slot_view: BTreeMap<String, String>,
    /// When each node opened its open import of the write's slot (`SETSLOT … IMPORTING`):
    /// a key MIGRATEd to it arrived no earlier.
    import_opened: BTreeMap<String, u64>,
    /// Nodes down since a crash that lost their unsynced bytes (power loss, torn), with when.
    down_unsynced: BTreeMap<String, u64>,
    /// Nodes down since a crash or exit while their AOF writes were held in memory, with
    /// since when they were held and when the node went down.
    down_postponed: BTreeMap<String, (u64, u64)>,
    /// When each node last served an `ASKING` command of the write's slot (a MIGRATE's
    /// `RESTORE` is one).
    asking_served_us: BTreeMap<String, u64>,
    /// Importers whose first failing AOF write came at the instant they served an `ASKING`
    /// command of the write's slot: when it failed, and whether the holder's `KeysMigrated`
    /// to them came since (that batch's `RESTORE` was the failed write, held in memory
    /// until the AOF recovers).
    restore_unwritten: BTreeMap<String, (u64, bool)>,
    /// Importers down while such a write had not reached their AOF: when it failed, when they
    /// went down.
    down_restore_unwritten: BTreeMap<String, (u64, u64)>,
    /// When each node last claimed the write's slot at start-up for keys it loaded there, the
    /// slot unassigned in its view (`SlotsAdopted`: Redis's `verifyClusterConfigWithData`).
    adopted: BTreeMap<String, u64>,
    /// Whether `lost` says the key left the holders' data with a MIGRATE (see `recovered`).
    key_left: bool,
    /// The node the holder imports the slot from (while `importing`).
    import_source: Option<String>,
    /// A promotion that replaced the slot's migrating source while the write's key sat on
    /// importers (these): the promoted node owns the slot outright (Redis 7.0 does not
    /// replicate the migrating state) and may create the key anew, so the importers' copies
    /// and the owner's diverge.
    mid_move: Option<(Promotion, BTreeSet<String>)>,
    /// Nodes whose AOF fails now, by kind, with when it started (from their `AofFailed`
    /// events; a restart starts clean).
    aof_failing: BTreeMap<(String, AofOp), u64>,
    /// Nodes that went down without losing their page cache (a process crash or stop) while
    /// their copy was not yet synced, with when they went down: restarted, they hold it
    /// unsynced until their AOF syncs again, which the first append after the start does
    /// (Redis does not sync the loaded file at start-up).
    unsynced_restart: BTreeMap<String, u64>,
    /// The full syncs' snapshots: which one each replica loaded, and whether it held the
    /// write.
    snapshots: Snapshots,
    /// Nodes whose disk is slow now ([`Fault::SlowDisk`]): their syncs complete later.
    slow: BTreeSet<String>,
    /// Nodes whose AOF writes are held in memory for a running background fsync, since when
    /// (`AofWritePostponed` until `AofWriteResumed`).
    postponed: BTreeMap<String, u64>,
    /// Holders that MIGRATEd keys of the write's slot away, with the offset of the `DEL` that
    /// followed in their stream: a replica applying it loses its copy too (seed 989212).
    migration_del: BTreeMap<String, u64>,
    /// A holder whose `KeysMigrated` was just seen: its next `WriteApplied` is that `DEL`.
    del_pending: Option<String>,
    /// When the holder first MIGRATEd keys of the slot after the write.
    holder_migrated_us: Option<u64>,
    /// When each node last lost power (a crash that loses unsynced bytes).
    power_lost_us: BTreeMap<String, u64>,
    /// Whether the walk has started (before, only roles are followed).
    active: bool,
    /// Whether the write was applied yet.
    applied: bool,
}

impl<'r> Walk<'r> {
    pub(super) fn new(rule: &'r LossRule<'r>, write: &'r AckedWrite, offset: u64) -> Self {
        Walk {
            rule,
            write,
            offset,
            copies: BTreeMap::new(),
            migration_del: BTreeMap::new(),
            del_pending: None,
            holder_migrated_us: None,
            power_lost_us: BTreeMap::new(),
            master_of: BTreeMap::new(),
            holder: write.node.clone(),
            rivals: BTreeMap::new(),
            lost: None,
            steps: Vec::new(),
            holder_promotion: None,
            holder_migrated: false,
            moved_to: BTreeSet::new(),
            wiped_replicas: Vec::new(),
            drops: Vec::new(),
            importing: false,
            key_left: false,
            import_source: None,
            mid_move: None,
            bumped: BTreeMap::new(),
            loaded_without: BTreeMap::new(),
            started: BTreeSet::new(),
            restarted_us: BTreeMap::new(),
            synced_with: BTreeMap::new(),
            unvoted_epoch: BTreeMap::new(),
            slot_view: BTreeMap::new(),
            import_opened: BTreeMap::new(),
            down_unsynced: BTreeMap::new(),
            down_postponed: BTreeMap::new(),
            asking_served_us: BTreeMap::new(),
            restore_unwritten: BTreeMap::new(),
            down_restore_unwritten: BTreeMap::new(),
            aof_failing: BTreeMap::new(),
            unsynced_restart: BTreeMap::new(),
            adopted: BTreeMap::new(),
            snapshots: Snapshots::default(),
            slow: BTreeSet::new(),
            postponed: BTreeMap::new(),
            active: false,
            applied: false,
        }
    }

    /// Walks every event (roles only before `start`), the write applied at `applied`, and
    /// gives the verdict.
    pub(super) fn run(mut self, start: usize, applied: usize) -> (LossVerdict, LossCause) {
        for (i, event) in self.rule.events.iter().enumerate() {
            self.active = i >= start;
            if i == applied {
                self.applied = true;
                let copy = Copy {
                    offset: self.offset,
                    since_us: event.time_us,
                    synced: self.durable_at_once(&self.write.node),
                };
                self.copies.insert(self.write.node.clone(), copy);
                continue;
            }
            self.step(event);
        }
        self.verdict()
    }

    fn step(&mut self, e: &TraceEvent) {
        let node = e.node.as_str();
        match &e.event {
            Event::Cluster(event) => self.cluster_event(node, e.time_us, event),
            Event::Process(ProcessEvent::Kill(how)) => {
                let disk_failed = self.went_down(node, e.time_us, how.loses_unsynced(), how);
                if how.loses_unsynced() {
                    self.down_unsynced.insert(node.to_string(), e.time_us);
                    self.power_lost_us.insert(node.to_string(), e.time_us);
                }
                if self.active && how.loses_unsynced() && self.moved_to.contains(node) {
                    self.migrated_key_unsynced(node, e.time_us);
                }
                if self.active && !disk_failed && how.loses_unsynced() {
                    self.killed(node, e.time_us)
                }
            }
            Event::Process(ProcessEvent::Exit(outcome)) => {
                self.went_down(node, e.time_us, false, outcome);
            }
            Event::Fault(FaultEvent::Applied(Fault::WipeRestart { node })) if self.active => {
                self.wiped(&NodeIdx(*node).name(), e.time_us)
            }
            Event::Fault(FaultEvent::Applied(Fault::SlowDisk { node, fsync_ms })) => {
                let name = NodeIdx(*node).name();
                if *fsync_ms == 0 {
                    self.slow.remove(&name);
                } else {
                    self.disk_slowed(&name, e.time_us);
                    self.slow.insert(name);
                }
            }
            Event::Fault(FaultEvent::Applied(Fault::DiskRepair { node })) => {
                self.slow.remove(&NodeIdx(*node).name());
            }
            Event::Fault(FaultEvent::CopiesDropped { node, slot, keys })
                if self.active && *slot == self.write.slot && keys.contains(&self.write.key) =>
            {
                self.copy_dropped(&NodeIdx(*node).name(), e.time_us)
            }
            _ => {}
        }
    }

    fn cluster_event(&mut self, node: &str, at_us: u64, event: &ClusterEvent) {
        self.note_claims(node, at_us, event);
        match event {
            ClusterEvent::AofFailed { op, .. } => {
                let first = !self.aof_failing.contains_key(&(node.to_string(), *op));
                let restoring = self.asking_served_us.get(node) == Some(&at_us);
                if first && restoring && *op == AofOp::Write {
                    self.restore_unwritten
                        .insert(node.to_string(), (at_us, false));
                }
                self.aof_failing
                    .entry((node.to_string(), *op))
                    .or_insert(at_us);
            }
            ClusterEvent::KeyServed {
                slot, asking: true, ..
            } if *slot == self.write.slot => {
                self.asking_served_us.insert(node.to_string(), at_us);
            }
            ClusterEvent::AofRecovered { op } => {
                self.aof_failing.remove(&(node.to_string(), *op));
                if *op == AofOp::Write {
                    self.restore_unwritten.remove(node);
                }
                // Held-back bytes reached the page cache only now: the everysec window of a
                // copy acknowledged meanwhile starts here.
                if let Some(copy) = self.copies.get_mut(node).filter(|_| *op == AofOp::Write) {
                    copy.since_us = copy.since_us.max(at_us);
                }
            }
            ClusterEvent::BecameReplica { master } => {
                let master = self.rule.name_of(master);
                self.master_of.insert(node.to_string(), master.clone());
                let importer = node != self.holder && self.moved_to.contains(node);
                if self.active && importer && !self.moved_to.contains(&master) {
                    self.moved_to.remove(node);
                    self.importer_demoted(node, &master, at_us);
                }
                if self.active && node == self.holder {
                    self.demoted(node, master, at_us);
                }
            }
            ClusterEvent::Promoted {
                kind,
                old_master,
                offset,
                coordinated,
                ..
            } => {
                self.master_of.remove(node);
                let replaced = self.rule.name_of(old_master);
                let unsynced = !self.synced_with_incarnation(node, &replaced);
                let promotion = Promotion {
                    unsynced,
                    node: node.to_string(),
                    write_offset: self.copies.get(&replaced).map(|c| c.offset),
                    rival: replaced != self.holder,
                    replaced,
                    at_us,
                    kind: *kind,
                    offset: *offset,
                    coordinated: *coordinated,
                    before_write: !self.applied,
                };
                if self.active && self.applied {
                    self.note_mid_move(&promotion);
                }
                let importer_replaced = self.moved_to.remove(&promotion.replaced);
                if self.active && importer_replaced {
                    // The keys MIGRATEd to the replaced importer stay on its replica.
                    self.import_dropped(&promotion.replaced, &promotion.node, at_us);
                }
                if self.active && node != self.holder && !promotion.rival {
                    match self.bumper_in_view(node) {
                        Some((owner, bumped_us)) => self.yielded_to_bumper(owner, bumped_us, at_us),
                        None => self.promoted(promotion),
                    }
                } else if node != self.holder {
                    self.rivals.insert(node.to_string(), promotion);
                } else if !self.active {
                    // The write's own master was promoted before it took the write.
                    self.holder_promotion = Some(promotion);
                }
            }
            ClusterEvent::SnapshotTaken { replid, offset } => {
                let copy = self.copies.get(node).map(|c| c.offset);
                // A holder that MIGRATEd the key away had deleted it: its snapshot lacks it,
                // whatever its offset (seed 952403).
                let migrated_away = node == self.holder && self.holder_migrated;
                // So does any node whose DEL of the migrated key precedes the snapshot in its
                // stream, holder or not any more (seed 989212: the slot's import had closed,
                // then the source's replica full-synced from it).
                let deleted = self
                    .migration_del
                    .get(node)
                    .is_some_and(|&del_offset| del_offset <= *offset);
                let held = copy.filter(|&c| c <= *offset && !migrated_away && !deleted);
                self.snapshots.taken(node, replid, *offset, held);
            }
            ClusterEvent::FullResync {
                master,
                offset,
                replid,
            } => {
                let master = self.rule.name_of(master);
                self.snapshots.announced(node, master, replid, *offset);
            }
            ClusterEvent::ReplicationLinkUp { offset } => {
                let loaded = self.snapshots.loaded(node);
                // A snapshot known to lack the write: the stream that follows starts past it.
                if loaded == Some(None) {
                    self.loaded_without.insert(node.to_string(), *offset);
                } else if loaded.is_some() {
                    self.loaded_without.remove(node);
                }
                if self.active {
                    let copy = loaded.unwrap_or_else(|| self.master_copy(node, *offset));
                    match copy {
                        Some(offset) => self.gain(node, offset, at_us),
                        None => self.resynced_without(node, at_us),
                    }
                }
            }
            ClusterEvent::AofSynced { offset } => {
                // A sync makes the whole file durable, the tail a restart found unsynced too.
                self.unsynced_restart.remove(node);
                if let Some(copy) = self.copies.get_mut(node) {
                    copy.synced |= *offset >= copy.offset;
                }
            }
            ClusterEvent::AofWritePostponed => {
                self.postponed.entry(node.to_string()).or_insert(at_us);
            }
            ClusterEvent::AofWriteResumed { .. } => {
                self.postponed.remove(node);
                // The held bytes reached the page cache only now: the everysec window of a
                // copy acknowledged meanwhile starts here.
                if let Some(copy) = self.copies.get_mut(node) {
                    copy.since_us = copy.since_us.max(at_us);
                }
            }
            ClusterEvent::WriteApplied { offset, .. } => {
                self.note_migration_del(node, *offset, at_us);
                // Logged with a sync: everysec syncs at the first append after a start (on a
                // slow disk, only its `AofSynced` says it completed).
                if !self.slow.contains(node) {
                    self.unsynced_restart.remove(node);
                }
                if self.active && !self.copies.contains_key(node) {
                    if let Some(offset) = self.master_copy(node, *offset) {
                        self.gain(node, offset, at_us);
                    }
                }
            }
            ClusterEvent::NodeStarted { .. } if self.active => {
                // Restarted from its disk: its offsets start over, and the write (if the disk
                // kept it) is in the data it loaded, so any full sync from it carries it.
                if let Some(copy) = self.copies.get_mut(node) {
                    copy.offset = 0;
                    // Loaded from its disk: durable, but for an unsynced restart's tail.
                    copy.synced = true;
                }
            }
            ClusterEvent::KeysMigrated { slot, to, .. }
                if self.active && self.applied && *slot == self.write.slot =>
            {
                let to = to.map(|id| self.rule.name_of(&id));
                if node == self.holder {
                    self.holder_migrated = true;
                    self.holder_migrated_us.get_or_insert(at_us);
                    self.del_pending = Some(node.to_string());
                    let held = to
                        .as_ref()
                        .and_then(|t| self.down_postponed.get(t).copied());
                    if let Some(kill_us) = to.as_ref().and_then(|t| self.down_unsynced.get(t)) {
                        // The target acknowledged the RESTORE, then lost power before the
                        // source heard: the key is gone from both.
                        let (to, kill_us) = (to.clone().expect("checked"), *kill_us);
                        self.moved_to.insert(to.clone());
                        self.migrated_key_unsynced(&to, kill_us);
                    } else if let Some((postponed_us, down_us)) = held {
                        // The same with the RESTORE held in the target's memory.
                        let to = to.clone().expect("checked");
                        self.moved_to.insert(to.clone());
                        self.migrated_key_postponed(&to, postponed_us, down_us);
                    } else if let Some((failed_us, down_us)) = to
                        .as_ref()
                        .and_then(|t| self.down_restore_unwritten.get(t).copied())
                    {
                        // The same with the RESTORE's AOF write failed.
                        let to = to.clone().expect("checked");
                        self.moved_to.insert(to.clone());
                        self.migrated_key_unwritten(&to, failed_us, down_us);
                    } else {
                        if let Some(t) = to.as_ref() {
                            if let Some((_, moved)) = self.restore_unwritten.get_mut(t) {
                                *moved = true;
                            }
                        }
                        self.moved_to.extend(to);
                    }
                } else if to.as_deref() == Some(self.holder.as_str()) {
                    self.moved_to.remove(node);
                }
            }
            ClusterEvent::SlotImported { slot, offset }
                if self.active && *slot == self.write.slot && node != self.holder =>
            {
                self.imported(node, *offset, at_us)
            }
            ClusterEvent::SlotImported { slot, .. } if *slot == self.write.slot => {
                self.importing = false;
            }
            ClusterEvent::ConfigEpochChanged {
                reason: ConfigEpochReason::Bump | ConfigEpochReason::Collision { .. },
                ..
            } if self.active => {
                self.bumped.insert(node.to_string(), at_us);
            }
            ClusterEvent::SlotsAdopted { ranges } if covers(ranges, self.write.slot) => {
                self.adopted.insert(node.to_string(), at_us);
            }
            ClusterEvent::SlotsAssigned {
                ranges,
                owner: Some(owner),
            } if self.active
                && self.applied
                && node == self.holder
                && covers(ranges, self.write.slot) =>
            {
                let owner = self.rule.name_of(owner);
                if let Some(&adopted_us) = self.adopted.get(&owner) {
                    self.yielded_to_adopter(owner, adopted_us, at_us);
                } else if let Some(&bumped_us) = self.unvoted_epoch.get(&owner) {
                    if owner != self.holder && !self.holder_migrated {
                        self.yielded_to_bumper(owner, bumped_us, at_us);
                    }
                }
            }
            ClusterEvent::ImportChanged { slot, from }
                if *slot == self.write.slot && node == self.holder && !self.applied =>
            {
                self.importing = from.is_some();
                self.import_source = from.map(|id| self.rule.name_of(&id));
            }
            _ => {}
        }
    }

    /// The `DEL` a MIGRATE leaves in its source's stream: seen on the source, it marks the
    /// offset; seen on a replica of the source, at or past that offset, it deletes the
    /// replica's copy (Redis's replicas apply the source's `DEL` like any write).
    fn note_migration_del(&mut self, node: &str, offset: u64, at_us: u64) {
        if self.del_pending.as_deref() == Some(node) {
            self.del_pending = None;
            self.migration_del.insert(node.to_string(), offset);
            return;
        }
        let Some(master) = self.master_of.get(node) else {
            return;
        };
        let Some(&del_offset) = self.migration_del.get(master) else {
            return;
        };
        if offset >= del_offset && node != self.holder && self.copies.remove(node).is_some() {
            self.drops.push(format!(
                "{node} applied {master}'s DEL of the migrated key at {}",
                fmt_us(at_us)
            ));
        }
    }

    /// The write's offset in the stream of `replica`'s master, when the replica's stream
    /// offset `at` has reached it (the replica then has the write).
    fn master_copy(&self, replica: &str, at: u64) -> Option<u64> {
        let master = self.master_of.get(replica)?;
        let copy = self.copies.get(master)?;
        // Loaded from a snapshot without the write at a later offset: the stream since then
        // never carried it (seed 952403).
        let skipped = self
            .loaded_without
            .get(replica)
            .is_some_and(|&base| base >= copy.offset);
        (at >= copy.offset && !skipped).then_some(copy.offset)
    }

    /// A full sync from a master without the write replaced `node`'s data (Redis's replicas
    /// copy whatever their master has, an emptied one included).
    fn resynced_without(&mut self, node: &str, at_us: u64) {
        if self.copies.remove(node).is_some() {
            let master = self.master_of.get(node).map_or("?", String::as_str);
            self.drops.push(format!(
                "{node} resynced from {master}, which lacked it, at {}",
                fmt_us(at_us)
            ));
        }
    }

    /// The new holder has the write: whatever the slot's earlier holders lost no longer
    /// matters, unless the key itself left their data (MIGRATEd to a node that then lost it):
    /// then no holder's copy brings it back.
    fn recovered(&mut self) {
        if !self.key_left {
            self.lost = None;
        }
    }

    /// Whether a copy on `node` is on disk as soon as it is applied: under `always` on a disk
    /// that is not slow. Under `everysec` only an `AofSynced` reaching it makes it durable: a
    /// pause or a slow disk can hold that sync back well past the usual second (seed 960961).
    fn durable_at_once(&self, node: &str) -> bool {
        !self.rule.config.fsync_everysec && !self.slow.contains(node)
    }

    fn gain(&mut self, node: &str, offset: u64, at_us: u64) {
        let copy = Copy {
            offset,
            since_us: at_us,
            synced: self.durable_at_once(node),
        };
        self.copies.insert(node.to_string(), copy);
    }

    /// `by` replaced `importer`, which held the key in a slot it imported: the promoted node
    /// does not import the slot (Redis 7.0 does not replicate that state), so the key stays
    /// outside every owner, whoever holds the slot next.
    fn import_dropped(&mut self, importer: &str, by: &str, at_us: u64) {
        if self.lost.is_some() {
            return;
        }
        self.key_left = true;
        self.lost = Some(Reason::ImportDropped {
            importer: importer.to_string(),
            by: by.to_string(),
            at_us,
        });
    }

    /// `importer`, holding the key MIGRATEd to it by an import still open, became a replica
    /// of `master` (its slots were taken over while it was cut off, seed 908026): Redis 7.0's
    /// `clusterSetMaster` closes every open slot of a master turning replica
    /// (`clusterCloseAllSlots`), and the full sync from `master` replaces its data; the source
    /// deleted the key when the MIGRATE succeeded, so no owner has it any more.
    fn importer_demoted(&mut self, importer: &str, master: &str, at_us: u64) {
        if self.lost.is_some() {
            return;
        }
        self.key_left = true;
        self.lost = Some(Reason::ImporterDemoted {
            importer: importer.to_string(),
            master: master.to_string(),
            at_us,
        });
    }

    /// Notes `p` when it replaced the slot's migrating source while the key sat on importers:
    /// the holder after MIGRATEing the key away, or the source of the holder's own import
    /// (the write came by `ASKING`).
    fn note_mid_move(&mut self, p: &Promotion) {
        let importers = if p.replaced == self.holder && !self.moved_to.is_empty() {
            self.moved_to.clone()
        } else if self.importing && self.import_source.as_ref() == Some(&p.replaced) {
            BTreeSet::from([self.holder.clone()])
        } else {
            return;
        };
        self.mid_move = Some((p.clone(), importers));
    }

    /// The operator's `fix` deleted `node`'s copy of the key, the owner keeping its own. Only
    /// a copy on an importer whose migration a promotion cut short (`mid_move`) may differ
    /// from the owner's as Redis runs; any other dropped copy is left to the verdict.
    fn copy_dropped(&mut self, node: &str, at_us: u64) {
        let Some((promotion, importers)) = &self.mid_move else {
            self.forked_by_power_loss(node, at_us);
            return;
        };
        if !importers.contains(node) || self.lost.is_some() {
            return;
        }
        self.key_left = true;
        self.lost = Some(Reason::Forked {
            importer: node.to_string(),
            promotion: promotion.clone(),
            dropped_us: at_us,
        });
    }

    /// The fix deleted the copy on `importer`, which the holder had MIGRATEd the key to; the
    /// holder lost power since the migration (losing its MIGRATING state, which Redis saves
    /// without an fsync) and so may have made the key anew as plain owner.
    fn forked_by_power_loss(&mut self, importer: &str, at_us: u64) {
        let Some(migrated_us) = self.holder_migrated_us else {
            return;
        };
        let lost_us = self.power_lost_us.get(&self.holder).copied();
        let lost_since = lost_us.filter(|&lost_us| lost_us >= migrated_us);
        if !self.moved_to.contains(importer) || self.lost.is_some() {
            return;
        }
        let Some(lost_us) = lost_since else {
            return;
        };
        self.key_left = true;
        self.lost = Some(Reason::ForkedByPowerLoss {
            source: self.holder.clone(),
            importer: importer.to_string(),
            lost_us,
            dropped_us: at_us,
        });
    }

    fn promoted(&mut self, p: Promotion) {
        if std::mem::take(&mut self.importing) {
            // A promoted replica with the write undoes what the importer lost on its own (a
            // wiped disk: seed 711258), but it takes the copy outside the slot all the same.
            if self.copies.contains_key(&p.node) && !self.key_left {
                self.lost = None;
            }
            if self.lost.is_none() {
                let importer = self.holder.clone();
                self.import_dropped(&importer, &p.node, p.at_us);
            }
            self.hand_to(&p.node);
            return;
        }
        self.hand_to(&p.node);
        self.holder_promotion = Some(p.clone());
        if self.copies.contains_key(&p.node) {
            self.steps.push(p.carried());
            self.recovered();
        } else if self.lost.is_none() {
            self.lost = Some(Reason::Promotion(p));
        }
    }

    /// `CLUSTER SETSLOT … NODE` closed an import on `node`. Redis's MIGRATE moves every key
    /// of the slot before the operator hands the slot over, so the importer got the write at
    /// or before its offset now: that offset stands for the write's in its stream (a replica
    /// of the importer is held to it, at worst a little later than the key's own restore).
    ///
    /// Redis 7.0 keeps the migrating state off replicas: a replica promoted in the middle of
    /// a move owns the slot outright, takes writes for it (new keys too) and never MIGRATEs
    /// them, so the operator's `SETSLOT … NODE` on the importer drops them. A holder promoted
    /// since the write that has moved none of the slot's keys since is that case (seeds
    /// 500740, 502757); any other holder's write went with its keys.
    ///
    /// The walk starts at such an import when it closed before the holder took the write
    /// (`LossRule::stranding_import`): the write is stranded the same way.
    fn imported(&mut self, node: &str, offset: u64, at_us: u64) {
        let had = self.copies.contains_key(&self.holder);
        let before_write = !self.applied && self.holder == self.write.node;
        let stranded =
            (had || before_write) && !self.holder_migrated && self.holder_promotion.is_some();
        if had && !stranded {
            self.gain(node, offset, at_us);
        }
        if stranded && self.lost.is_none() {
            let promotion = self.holder_promotion.clone().expect("checked above");
            self.lost = Some(Reason::Stranded {
                holder: self.holder.clone(),
                importer: node.to_string(),
                at_us,
                promotion,
            });
            self.hand_to(node);
            return;
        }
        self.steps.push(format!(
            "slot {} migrated from {} to {node} at {} (importer offset {offset})",
            self.write.slot,
            self.holder,
            fmt_us(at_us)
        ));
        self.hand_to(node);
    }

    /// The holder's own view gave the slot to `adopter`, which claimed it at start-up for
    /// the keys it loaded there (at `adopted_us`, the slot unassigned in its view): Redis's
    /// `verifyClusterConfigWithData` makes that claim at the adopter's config epoch, and
    /// `clusterUpdateSlotsConfigWith` hands the slot over when that epoch is the greater,
    /// deleting the keys the yielding master held in it. The adopter's data is what it
    /// loaded: the write survives only if it had a copy.
    fn yielded_to_adopter(&mut self, adopter: String, adopted_us: u64, at_us: u64) {
        let holder = std::mem::replace(&mut self.holder, adopter.clone());
        self.holder_promotion = None;
        self.holder_migrated = false;
        self.holder_migrated_us = None;
        if self.copies.contains_key(&adopter) {
            self.steps.push(format!(
                "{holder} yielded the slot at {} to {adopter}, which adopted it at start-up \
                 (had the write)",
                fmt_us(at_us)
            ));
            self.recovered();
        } else if self.lost.is_none() {
            self.lost = Some(Reason::Adopted {
                holder,
                adopter,
                adopted_us,
                at_us,
            });
        }
    }

    /// Follows, from the start of the run, what the rule needs about claims and imports
    /// whatever the write's walk has reached: epochs taken without votes, imports of the
    /// write's slot opened, nodes back from a crash.
    fn note_claims(&mut self, node: &str, at_us: u64, event: &ClusterEvent) {
        match event {
            // A TAKEOVER too takes its epoch without votes, and claims every slot its old
            // master had in its own view, one moved away meanwhile included (seed 951077).
            ClusterEvent::ConfigEpochChanged {
                reason:
                    ConfigEpochReason::Bump
                    | ConfigEpochReason::Collision { .. }
                    | ConfigEpochReason::Takeover,
                ..
            } => {
                self.unvoted_epoch.insert(node.to_string(), at_us);
            }
            ClusterEvent::SlotsAssigned { ranges, owner } if covers(ranges, self.write.slot) => {
                match owner {
                    Some(owner) => {
                        let owner = self.rule.name_of(owner);
                        self.slot_view.insert(node.to_string(), owner);
                    }
                    None => {
                        self.slot_view.remove(node);
                    }
                }
            }
            ClusterEvent::ImportChanged { slot, from } if *slot == self.write.slot => {
                if from.is_some() {
                    self.import_opened.insert(node.to_string(), at_us);
                } else {
                    self.import_opened.remove(node);
                }
            }
            ClusterEvent::NodeStarted { .. } => {
                self.down_unsynced.remove(node);
                self.down_postponed.remove(node);
                self.down_restore_unwritten.remove(node);
                // Its first start is no restart: nothing was synced before it.
                if self.started.insert(node.to_string()) {
                    return;
                }
                self.restarted_us.insert(node.to_string(), at_us);
            }
            ClusterEvent::FullResync { master, .. }
            | ClusterEvent::PartialResync { master, .. } => {
                let master = self.rule.name_of(master);
                self.synced_with.insert(node.to_string(), (master, at_us));
            }
            _ => {}
        }
    }

    /// Whether `replica` synced (fully or partially) with `master` since `master` last
    /// restarted: before that, equal offsets say nothing about equal data.
    fn synced_with_incarnation(&self, replica: &str, master: &str) -> bool {
        let Some(&restarted_us) = self.restarted_us.get(master) else {
            return true;
        };
        self.synced_with
            .get(replica)
            .is_some_and(|(m, at_us)| m == master && *at_us >= restarted_us)
    }

    /// `importer`, holding the key the holder MIGRATEd to it, lost power at `kill_us`. Redis's
    /// MIGRATE deletes the key from the source once the target replied to its `RESTORE`
    /// (`migrateCommand`), and the target replies before it syncs its AOF under `everysec`
    /// (`flushAppendOnlyFile` syncs about once a second): a key restored within the interval
    /// before the power loss is gone from both. The restore came after the importer opened
    /// its import (`SETSLOT … IMPORTING`), so an import opened within the interval proves it;
    /// an older one proves nothing and the loss stays unexplained.
    fn migrated_key_unsynced(&mut self, importer: &str, kill_us: u64) {
        let Some(&opened_us) = self.import_opened.get(importer) else {
            return;
        };
        let in_window = self.rule.config.fsync_everysec
            && kill_us.saturating_sub(opened_us) < EVERYSEC_WINDOW_US;
        if !in_window {
            return;
        }
        let reason = Reason::MigratedUnsynced {
            holder: self.holder.clone(),
            importer: importer.to_string(),
            opened_us,
            kill_us,
        };
        self.moved_key_lost(importer, reason);
    }

    /// The key the holder (which still has its copy in its stream) MIGRATEd to `importer` is
    /// gone from both, for `reason`, unless the write was already lost another way.
    fn moved_key_lost(&mut self, importer: &str, reason: Reason) {
        if !self.copies.contains_key(&self.holder) || self.lost.is_some() {
            return;
        }
        self.moved_to.remove(importer);
        self.key_left = true;
        self.lost = Some(reason);
    }

    /// `importer`, holding the key the holder MIGRATEd to it, went down at `down_us` while its
    /// AOF writes were held in memory for a running background fsync (since `postponed_us`:
    /// Redis's `flushAppendOnlyFile` postpones them up to 2 s under `everysec`). The source
    /// deleted the key once the target acknowledged its RESTORE, which was in the target's
    /// memory only if it came after the hold began: an import opened since then proves it (the
    /// restore came after `SETSLOT … IMPORTING`); an older one proves nothing.
    fn migrated_key_postponed(&mut self, importer: &str, postponed_us: u64, down_us: u64) {
        let Some(&opened_us) = self.import_opened.get(importer) else {
            return;
        };
        if opened_us < postponed_us {
            return;
        }
        let reason = Reason::MigratedPostponed {
            holder: self.holder.clone(),
            importer: importer.to_string(),
            postponed_us,
            opened_us,
            down_us,
        };
        self.moved_key_lost(importer, reason);
    }

    /// `importer` went down at `down_us` while the AOF write that failed at `failed_us` had not
    /// reached its file: that write was the `RESTORE` of the batch the holder MIGRATEd to it
    /// (it served an `ASKING` command of the slot at that instant, and the holder heard the
    /// batch acknowledged afterwards; since the failure it refuses writes with `-MISCONF`, so
    /// no later `RESTORE` was taken). Redis's `flushAppendOnlyFile` under `everysec` keeps a
    /// failed write in `aof_buf`, in memory only, and still replies, so the source deleted
    /// the key and any crash or exit of the target loses it.
    fn migrated_key_unwritten(&mut self, importer: &str, failed_us: u64, down_us: u64) {
        let reason = Reason::MigratedUnwritten {
            holder: self.holder.clone(),
            importer: importer.to_string(),
            failed_us,
            down_us,
        };
        self.moved_key_lost(importer, reason);
    }

    /// The holder's own view gave the slot to `owner`, which had taken a config epoch without
    /// votes (at `bumped_us`: `SETSLOT … NODE`, `BUMPEPOCH`, `FAILOVER TAKEOVER`, or a
    /// collision after one) and
    /// claimed the slot with it: Redis settles the slot by the greater config epoch
    /// (`clusterUpdateSlotsConfigWith`), and a master that keeps other slots deletes its keys
    /// in the one it lost (the dirty slots, `delKeysInSlot`). The holder served the slot
    /// unaware of the claim meanwhile (it crashed or was paused when the claim was made).
    fn yielded_to_bumper(&mut self, owner: String, bumped_us: u64, at_us: u64) {
        let holder = std::mem::replace(&mut self.holder, owner.clone());
        self.holder_promotion = None;
        self.holder_migrated = false;
        self.holder_migrated_us = None;
        if self.copies.contains_key(&owner) {
            self.steps.push(format!(
                "{holder} yielded the slot at {} to {owner}, whose config epoch was taken \
                 without votes (had the write)",
                fmt_us(at_us)
            ));
            self.recovered();
        } else {
            // Whatever the earlier holder lost the write to, the slot's data is now the
            // claimant's, which never had it (seed 605874: a wiped holder whose replica with
            // the write was promoted after its view gave the slot to a collision's epoch).
            self.lost = Some(Reason::Yielded {
                holder,
                owner,
                bumped_us,
                at_us,
            });
        }
    }

    /// The claimant `node`'s view gave the holder's slot to before `node` was promoted in
    /// the holder's place, when that claimant took a config epoch without votes (with when):
    /// a promoted replica claims only the slots its view gives its old master
    /// (`clusterFailoverReplaceYourMaster`), so the slot stays with the claimant (seed
    /// 3400433: a replica that learned of a stale TAKEOVER's claim before its election).
    fn bumper_in_view(&self, node: &str) -> Option<(String, u64)> {
        let owner = self.slot_view.get(node)?;
        if *owner == self.holder || *owner == node {
            return None;
        }
        let bumped_us = *self.unvoted_epoch.get(owner)?;
        Some((owner.clone(), bumped_us))
    }

    /// `node` holds the slot from now on.
    fn hand_to(&mut self, node: &str) {
        self.holder = node.to_string();
        self.holder_promotion = None;
        self.holder_migrated = false;
        self.holder_migrated_us = None;
    }

    /// `node` crashed or stopped (`power_lost`: its page cache is gone too). A copy it held
    /// only in memory (its AOF write failing) is lost either way, one only in the page cache
    /// (its sync failing) by a power loss. Returns whether its disk was failing; its AOF
    /// state starts clean at the restart.
    fn went_down(
        &mut self,
        node: &str,
        down_us: u64,
        power_lost: bool,
        how: &dyn std::fmt::Display,
    ) -> bool {
        let failing = |op| self.aof_failing.get(&(node.to_string(), op)).copied();
        let lost_by = match (failing(AofOp::Write), failing(AofOp::Fsync)) {
            (Some(since), _) => Some((AofOp::Write, since)),
            (None, Some(since)) if power_lost => Some((AofOp::Fsync, since)),
            _ => None,
        };
        let was_failing = failing(AofOp::Write).is_some() || failing(AofOp::Fsync).is_some();
        let sync_failing = failing(AofOp::Fsync).is_some();
        self.aof_failing.retain(|(n, _), _| n != node);
        if let Some((failed_us, moved)) = self.restore_unwritten.remove(node) {
            if self.active && moved && self.moved_to.contains(node) {
                self.migrated_key_unwritten(node, failed_us, down_us);
            }
            self.down_restore_unwritten
                .insert(node.to_string(), (failed_us, down_us));
        }
        if let Some(postponed_us) = self.postponed.remove(node) {
            if self.active && self.moved_to.contains(node) {
                self.migrated_key_postponed(node, postponed_us, down_us);
            }
            self.down_postponed
                .insert(node.to_string(), (postponed_us, down_us));
            if lost_by.is_none() && self.lose_postponed(node, postponed_us, down_us, how) {
                return true;
            }
        }
        if power_lost {
            if let Some(stopped_us) = self.unsynced_restart.remove(node) {
                self.lose_unsynced_restart(node, stopped_us, down_us);
                return true;
            }
        } else if lost_by.is_none() && self.copy_unsynced(node, down_us, sync_failing) {
            self.unsynced_restart.insert(node.to_string(), down_us);
        }
        if let Some((op, since_us)) = lost_by.filter(|_| self.active) {
            if self.copies.remove(node).is_some() && node == self.holder && self.lost.is_none() {
                self.lost = Some(Reason::DiskFailed {
                    node: node.to_string(),
                    op,
                    since_us,
                    down_us,
                    how: how.to_string(),
                });
            }
        }
        was_failing
    }

    /// Whether `node`'s copy was still unsynced at `at_us`: its syncs were failing, it got
    /// the copy within the `everysec` interval, or its slow disk had not completed a sync
    /// holding it.
    fn copy_unsynced(&self, node: &str, at_us: u64, sync_failing: bool) -> bool {
        let Some(copy) = self.copies.get(node) else {
            return false;
        };
        let in_window = self.rule.config.fsync_everysec
            && at_us.saturating_sub(copy.since_us) < EVERYSEC_WINDOW_US;
        sync_failing || in_window || !copy.synced
    }

    /// `node`'s disk turned slow at `at_us`: under `everysec` a copy it got within the last
    /// sync interval may not be synced yet, and its sync now completes only when the node
    /// says so (`AofSynced`). Under `always` it was synced when the node got it.
    fn disk_slowed(&mut self, node: &str, at_us: u64) {
        let everysec = self.rule.config.fsync_everysec;
        if let Some(copy) = self.copies.get_mut(node) {
            if everysec && at_us.saturating_sub(copy.since_us) < EVERYSEC_WINDOW_US {
                copy.synced = false;
            }
        }
    }

    /// `node` went down while its AOF writes were postponed since `postponed_us`: a copy it
    /// got since was in its memory only. Returns whether that lost the copy.
    fn lose_postponed(
        &mut self,
        node: &str,
        postponed_us: u64,
        down_us: u64,
        how: &dyn std::fmt::Display,
    ) -> bool {
        let held = self
            .copies
            .get(node)
            .is_some_and(|c| c.since_us >= postponed_us);
        if !held || !self.active {
            return false;
        }
        let copy = self.copies.remove(node).expect("checked above");
        if node == self.holder && self.lost.is_none() {
            self.lost = Some(Reason::WritePostponed {
                node: node.to_string(),
                postponed_us,
                since_us: copy.since_us,
                down_us,
                how: how.to_string(),
            });
        }
        true
    }

    /// `node` lost power after a restart from a page cache that still held its unsynced
    /// copy, before anything synced it.
    fn lose_unsynced_restart(&mut self, node: &str, stopped_us: u64, kill_us: u64) {
        let Some(copy) = self.copies.remove(node) else {
            return;
        };
        if node == self.holder && self.active && self.lost.is_none() {
            self.lost = Some(Reason::UnsyncedRestart {
                node: node.to_string(),
                since_us: copy.since_us,
                stopped_us,
                kill_us,
            });
        }
    }

    /// A crash that loses unsynced bytes (a process crash keeps them all): under `always` the
    /// disk kept every write the node had; under `everysec` the last sync interval's may be
    /// gone.
    fn killed(&mut self, node: &str, kill_us: u64) {
        let Some(copy) = self.copies.get_mut(node) else {
            return;
        };
        let since_us = copy.since_us;
        let in_window = self.rule.config.fsync_everysec
            && kill_us.saturating_sub(since_us) < EVERYSEC_WINDOW_US;
        let pending = !copy.synced;
        if !in_window && !pending {
            return;
        }
        self.copies.remove(node);
        if node != self.holder || self.lost.is_some() {
            return;
        }
        let node = node.to_string();
        self.lost = Some(if in_window {
            Reason::Unsynced {
                node,
                kill_us,
                since_us,
            }
        } else {
            Reason::SyncPending {
                node,
                since_us,
                kill_us,
            }
        });
    }

    /// A wiped disk loses the holder's copy, or the keys the holder MIGRATEd to the wiped node
    /// before the import closed (Redis deletes them from the source once the target has them,
    /// so no other copy is left).
    fn wiped(&mut self, node: &str, at_us: u64) {
        self.master_of.remove(node);
        let had = self.copies.remove(node).is_some();
        let held_moved_keys = self.moved_to.remove(node) && self.copies.contains_key(&self.holder);
        if (node == self.holder && had || held_moved_keys) && self.lost.is_none() {
            self.key_left = held_moved_keys && node != self.holder;
            self.wiped_replicas = self
                .master_of
                .iter()
                .filter(|(_, master)| *master == node)
                .map(|(replica, _)| replica.clone())
                .collect();
            self.lost = Some(Reason::Wiped {
                node: node.to_string(),
                at_us,
                survivors: Vec::new(),
                drops: Vec::new(),
            });
        }
    }

    /// The holder follows `master` now. When `master` was promoted in place of an earlier
    /// holder (two replicas of one master promoted at once, e.g. a TAKEOVER on one side of a
    /// partition and an election on the other), Redis settles the slot by config epoch and the
    /// loser's data is replaced: that is the rival's promotion, judged by its offset.
    fn demoted(&mut self, node: &str, master: String, at_us: u64) {
        self.hand_to(&master);
        if self.copies.contains_key(&master) {
            self.recovered();
            return;
        }
        if self.lost.is_some() {
            return;
        }
        self.lost = Some(match self.rivals.get(&master) {
            Some(rival) => Reason::Promotion(Promotion {
                rival: true,
                before_write: false,
                ..rival.clone()
            }),
            None => match self.bumped.get(&master) {
                Some(&bumped_us) => Reason::OutbidByBump {
                    node: node.to_string(),
                    to: master,
                    at_us,
                    bumped_us,
                },
                None => Reason::Demoted {
                    node: node.to_string(),
                    to: master,
                    at_us,
                },
            },
        });
    }

    /// A wipe is judged by the copies left at the end on the wiped master's own replicas: a
    /// replica that resynced from the emptied node lost its copy as Redis would, one that
    /// still has it shows the write was not lost to the wipe. Copies elsewhere (a replica of
    /// another node, cut off) are on no path back: Redis fails nothing over to them by itself
    /// (the old ID is noaddr) and an operator's fix promotes the wiped master's replicas
    /// (seed 470528).
    fn with_survivors(&self, reason: &Reason) -> Reason {
        let mut reason = reason.clone();
        if let Reason::Wiped {
            survivors, drops, ..
        } = &mut reason
        {
            let left = self
                .copies
                .iter()
                .filter(|(n, _)| **n != self.holder && self.wiped_replicas.contains(*n));
            *survivors = left.map(|(n, c)| (n.clone(), c.offset)).collect();
            drops.clone_from(&self.drops);
        }
        reason
    }

    fn verdict(&self) -> (LossVerdict, LossCause) {
        let w = self.write;
        let write = format!(
            "{} acked by {} at {} (offset {})",
            w.what,
            w.node,
            fmt_us(w.end_us),
            self.offset
        );
        if let Some(reason) = &self.lost {
            let reason = self.with_survivors(reason);
            return (reason.verdict(&write, &self.steps), reason.cause());
        }
        let copy = self.copies.get(&self.holder).map_or(0, |c| c.offset);
        let via = if self.steps.is_empty() {
            format!("no promotion or migration replaced {}", w.node)
        } else {
            self.steps.join("; ")
        };
        let verdict = LossVerdict::Violation(format!(
            "{write} was lost, yet {} owns its slot to the end and had it (write offset {copy} \
             in its stream): {via}",
            self.holder
        ));
        (verdict, LossCause::Kept)
    }
}

/// Whether inclusive `ranges` cover `slot`.
fn covers(ranges: &[(u16, u16)], slot: u16) -> bool {
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot))
}
