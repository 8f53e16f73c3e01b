//! Replica migration (reference §7.8): a replica of the master with the most working replicas
//! moves to an orphaned master (one that had replicas and has no working one left for
//! [`MIGRATION_DELAY_MS`]) when its own master keeps more than `cluster-migration-barrier`.
//!
//! It reads and changes only cluster state, so it is a `Cluster` operation taking the time,
//! the two settings and the outbox.

use super::Cluster;
use crate::bus::flags;
use crate::effect::LogLevel;
use crate::node_id::NodeId;
use crate::outbox::Outbox;

/// A master must stay orphaned this long before a replica migrates to it, so that its own
/// replicas have time to announce a failover (`CLUSTER_SLAVE_MIGRATION_DELAY`).
pub const MIGRATION_DELAY_MS: u64 = 5000;

impl Cluster {
    /// My master, if I am a replica of a known master.
    pub(crate) fn my_master(&self) -> Option<NodeId> {
        let me = self.me();
        me.master
            .filter(|_| me.is_replica())
            .filter(|m| self.nodes.contains_key(m))
    }

    /// Replicas of `master` that are not FAIL (`clusterCountNonFailingSlaves`).
    fn working_replicas(&self, master: NodeId) -> usize {
        self.nodes
            .values()
            .filter(|n| n.is_replica() && n.master == Some(master) && !n.has(flags::FAIL))
            .count()
    }

    /// From the cron, on a replica: maybe move to an orphaned master
    /// (`clusterHandleSlaveMigration`). `allowed` and `barrier` are
    /// `cluster-allow-replica-migration` and `cluster-migration-barrier`.
    pub(crate) fn handle_replica_migration(
        &mut self,
        now_ms: u64,
        allowed: bool,
        barrier: u64,
        out: &mut Outbox,
    ) {
        self.mark_masters_with_replicas();
        let target = self.track_orphans(now_ms);
        let (Some(my_master), Some(target)) = (self.my_master(), target) else {
            return;
        };
        if !allowed || !self.state_ok() {
            return;
        }
        // Only replicas of the masters with the most working replicas (at least two) move.
        let max_replicas = self
            .nodes
            .values()
            .filter(|n| n.is_master() && !n.has(flags::FAIL))
            .map(|n| self.working_replicas(n.id))
            .max()
            .unwrap_or(0);
        let master_ok = !self.nodes[&my_master].has(flags::FAIL);
        if max_replicas < 2 || !master_ok || self.working_replicas(my_master) != max_replicas {
            return;
        }
        // My master must keep more than the barrier after I leave.
        let ok_siblings = self
            .nodes
            .values()
            .filter(|n| n.is_replica() && n.master == Some(my_master) && !n.is_failing())
            .count();
        if ok_siblings as u64 <= barrier {
            return;
        }
        // The candidate: the smallest id among replicas of the masters with the most replicas.
        let candidate = self
            .nodes
            .values()
            .filter(|n| n.is_replica())
            .filter(|n| {
                n.master.is_some_and(|m| {
                    self.nodes
                        .get(&m)
                        .is_some_and(|m| m.is_master() && !m.has(flags::FAIL))
                        && self.working_replicas(m) == max_replicas
                })
            })
            .map(|n| n.id)
            .min();
        let orphaned_ms = now_ms - self.nodes[&target].orphaned_since_ms;
        if candidate == Some(self.myself) && orphaned_ms > MIGRATION_DELAY_MS {
            out.log(
                LogLevel::Notice,
                format!("Migrating to orphaned master {target}"),
            );
            // Redis's `clusterHandleSlaveMigration` asks for no save at all (the move reaches
            // the file with the next save); saved unsynced here, so a process crash keeps it.
            self.become_replica_of(target, out);
        }
    }

    /// A master that ever had a replica may be orphaned later (Redis flags it MIGRATE_TO when a
    /// replica attaches).
    fn mark_masters_with_replicas(&mut self) {
        let masters: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.is_replica())
            .filter_map(|n| n.master)
            .collect();
        for m in masters {
            if let Some(n) = self.nodes.get_mut(&m).filter(|n| n.is_master()) {
                n.flags |= flags::MIGRATE_TO;
            }
        }
    }

    /// Orphaned masters, in id order, with the time each became orphaned tracked; returns the
    /// first one serving slots.
    fn track_orphans(&mut self, now: u64) -> Option<NodeId> {
        // Masters with a working replica, gathered once: this runs on every cron tick.
        let covered: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.is_replica() && !n.has(flags::FAIL))
            .filter_map(|n| n.master)
            .collect();
        let mut target = None;
        for n in self.nodes.values_mut() {
            let orphaned = n.is_master()
                && !n.has(flags::FAIL)
                && n.has(flags::MIGRATE_TO)
                && !covered.contains(&n.id);
            if orphaned {
                if target.is_none() && !n.slots.is_empty() {
                    target = Some(n.id);
                }
                if n.orphaned_since_ms == 0 {
                    n.orphaned_since_ms = now;
                }
            } else {
                n.orphaned_since_ms = 0;
            }
        }
        target
    }
}
