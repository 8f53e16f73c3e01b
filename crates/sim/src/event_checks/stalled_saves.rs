//! `nodes.conf` saves a power loss cut short. On a slow disk the node is held while its save
//! is fsynced (`SyncStalled`), as Redis's main thread is blocked in `clusterSaveConfig`; what
//! the call changed (an epoch, a vote) is in memory only until then, and nothing of it has
//! left the node. A power loss before the stall ends keeps the file as it was before that
//! call, so the restart may load the state from before it: the replay rolls what the ID keeps
//! back to the moment the stalling call began.

use std::collections::{BTreeMap, BTreeSet};

use clusterlab_core::ClusterEvent;

use super::state::Persisted;
use crate::trace::TraceEvent;

/// What the replay needs to undo a save lost with power.
#[derive(Debug, Default)]
pub(super) struct StalledSaves {
    /// Per node, when each stall began (µs): the calls whose state may be lost.
    starts: BTreeMap<String, BTreeSet<u64>>,
    /// Per node: the instant being taken apart, with what its ID kept before it.
    before_instant: BTreeMap<String, (u64, Persisted)>,
    /// Per node: until when its last stall lasted (µs), with what its ID kept before it.
    stalled: BTreeMap<String, (u64, Persisted)>,
}

impl StalledSaves {
    pub(super) fn from_events(events: &[TraceEvent]) -> StalledSaves {
        let mut starts: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        let stalls = events
            .iter()
            .filter(|e| matches!(e.event.cluster(), Some(ClusterEvent::SyncStalled { .. })));
        for e in stalls {
            starts.entry(e.node.clone()).or_default().insert(e.time_us);
        }
        StalledSaves {
            starts,
            ..StalledSaves::default()
        }
    }

    /// Whether `node` stalls at `t_us` (its events then are one call's).
    pub(super) fn stalls_at(&self, node: &str, t_us: u64) -> bool {
        self.starts.get(node).is_some_and(|at| at.contains(&t_us))
    }

    /// Before `node`'s event at `t_us`, an instant it stalls at: remembers what its ID kept
    /// (`persisted`) before that instant's first event.
    pub(super) fn before_event(&mut self, node: &str, t_us: u64, persisted: Persisted) {
        let same = self
            .before_instant
            .get(node)
            .is_some_and(|(at, _)| *at == t_us);
        if !same {
            self.before_instant
                .insert(node.to_string(), (t_us, persisted));
        }
    }

    /// `node` stalled at `t_us` for `ms`.
    pub(super) fn stalled(&mut self, node: &str, t_us: u64, ms: u64) {
        if let Some((at, kept)) = self.before_instant.get(node) {
            if *at == t_us {
                let until = t_us + ms * 1000;
                self.stalled.insert(node.to_string(), (until, kept.clone()));
            }
        }
    }

    /// `node` lost power at `t_us`: what its ID keeps instead, if a stalled save was cut.
    pub(super) fn power_lost(&mut self, node: &str, t_us: u64) -> Option<Persisted> {
        let (until, kept) = self.stalled.remove(node)?;
        (t_us < until).then_some(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_events::at;

    fn kept(current_epoch: u64) -> Persisted {
        Persisted {
            current_epoch,
            ..Persisted::default()
        }
    }

    /// node1 stalls at 2 s for 500 ms on the call that moved its epoch from 3 to 4.
    fn saves() -> StalledSaves {
        let events = vec![at(2000, "node1", ClusterEvent::SyncStalled { ms: 500 })];
        let mut saves = StalledSaves::from_events(&events);
        assert!(!saves.stalls_at("node1", 1_000_000));
        assert!(saves.stalls_at("node1", 2_000_000));
        saves.before_event("node1", 2_000_000, kept(3));
        // Later events of the same call do not move what was kept before it.
        saves.before_event("node1", 2_000_000, kept(4));
        saves.stalled("node1", 2_000_000, 500);
        saves
    }

    #[test]
    fn a_power_loss_during_the_stall_keeps_the_state_from_before_the_call() {
        let kept = saves().power_lost("node1", 2_400_000);
        assert_eq!(kept.map(|p| p.current_epoch), Some(3));
        assert!(saves().power_lost("node1", 2_500_000).is_none());
        assert!(saves().power_lost("node2", 2_400_000).is_none());
    }
}
