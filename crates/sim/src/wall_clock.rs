//! Each node's wall clock over a run, rebuilt from the trace's typed clock events
//! ([`ProcessEvent::ClockSet`]): what a checker needs to judge what a node dated in unix
//! time (a TTL's deadline) against what another node's clock said later.
//!
//! Between two changes a node's wall clock reads `t + offset + drift_ppm × (t − change) /
//! 10⁶` at true time `t` (µs since the run started), the same arithmetic as the driver's
//! `clusterlab_net::clock::ClockSkew`. A node with no change reads true time.

use std::collections::BTreeMap;

use clusterlab_core::ClusterEvent;
use clusterlab_net::clock::ClockSkew;

use crate::node_idx::NodeIdx;
use crate::trace::{Event, ProcessEvent, TraceEvent};

/// Every node's clock changes, by node name (`node1`, …), in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WallClocks {
    changes: BTreeMap<String, Vec<ClockSkew>>,
}

impl WallClocks {
    /// The clocks the trace's [`ProcessEvent::ClockSet`] events describe.
    pub fn from_events(events: &[TraceEvent]) -> WallClocks {
        let mut clocks = WallClocks::default();
        for e in events {
            if let Event::Process(ProcessEvent::ClockSet {
                offset_us,
                drift_ppm,
            }) = e.event
            {
                clocks.set(&e.node, e.time_us, offset_us, drift_ppm);
            }
        }
        clocks
    }

    /// Records that `node`'s clock is `offset_us` off at `at_us`, drifting `drift_ppm` from
    /// then on (changes must come in time order).
    pub fn set(&mut self, node: &str, at_us: u64, offset_us: i64, drift_ppm: i32) {
        let skew = ClockSkew {
            offset_us,
            drift_ppm,
            since_us: at_us,
        };
        self.changes.entry(node.to_string()).or_default().push(skew);
    }

    /// Whether no clock ever changed.
    pub fn is_true_time(&self) -> bool {
        self.changes.is_empty()
    }

    /// `node`'s skew in force at `t_us` (a change at `t_us` already counts).
    fn skew_at(&self, node: &str, t_us: u64) -> ClockSkew {
        let changes = self.changes.get(node).map_or(&[][..], Vec::as_slice);
        let before = changes.partition_point(|c| c.since_us <= t_us);
        before
            .checked_sub(1)
            .map_or_else(ClockSkew::default, |i| changes[i])
    }

    /// What `node`'s wall clock read at true time `t_us`, in µs since the run started.
    pub fn wall_us(&self, node: &str, t_us: u64) -> i64 {
        t_us as i64 + self.skew_at(node, t_us).offset_at_us(t_us)
    }

    /// The lowest reading of `node`'s clock during `[from_us, to_us]`: at the start, or just
    /// after a change (between changes the clock only moves forward).
    pub fn min_wall_us(&self, node: &str, from_us: u64, to_us: u64) -> i64 {
        self.changes_within(node, from_us, to_us)
            .map(|c| c.since_us as i64 + c.offset_us)
            .fold(self.wall_us(node, from_us), i64::min)
    }

    /// The highest reading of `node`'s clock during `[from_us, to_us]`: at the end, or just
    /// before a change; `i64::MAX` for an open end (`u64::MAX`).
    pub fn max_wall_us(&self, node: &str, from_us: u64, to_us: u64) -> i64 {
        if to_us == u64::MAX {
            return i64::MAX;
        }
        self.changes_within(node, from_us, to_us)
            .map(|c| {
                let before = self.skew_at(node, c.since_us.saturating_sub(1));
                c.since_us as i64 + before.offset_at_us(c.since_us)
            })
            .fold(self.wall_us(node, to_us), i64::max)
    }

    fn changes_within<'a>(
        &'a self,
        node: &str,
        from_us: u64,
        to_us: u64,
    ) -> impl Iterator<Item = &'a ClockSkew> {
        let changes = self.changes.get(node).map_or(&[][..], Vec::as_slice);
        changes
            .iter()
            .filter(move |c| c.since_us > from_us && c.since_us <= to_us)
    }

    /// An upper bound on how far apart two nodes' clocks ever were, in µs: the highest
    /// offset any clock reached minus the lowest (true time, 0, counts as both). Between
    /// changes offsets move monotonically, so the extremes are at changes or at `end_us`.
    pub fn spread_us(&self, end_us: u64) -> u64 {
        let mut offsets = vec![0i64];
        for changes in self.changes.values() {
            for (i, c) in changes.iter().enumerate() {
                let until_us = changes.get(i + 1).map_or(end_us, |next| next.since_us);
                offsets.push(c.offset_us);
                offsets.push(c.offset_at_us(until_us.max(c.since_us)));
            }
        }
        let (lo, hi) = (offsets.iter().min(), offsets.iter().max());
        (hi.copied().unwrap_or(0) - lo.copied().unwrap_or(0)) as u64
    }

    /// The node name of `addr` (`ip:port`), as the trace spells it; unknown addresses
    /// keep their text (they read true time).
    pub fn node_of(addr: &str) -> String {
        NodeIdx::from_addr(addr).map_or_else(|| addr.to_string(), NodeIdx::name)
    }
}

/// When MIGRATE moved keys of each slot away from a node: `(slot, µs)` in time order.
pub fn migrations(events: &[TraceEvent]) -> Vec<(u16, u64)> {
    events
        .iter()
        .filter_map(|e| match e.event {
            Event::Cluster(ClusterEvent::KeysMigrated { slot, .. }) => Some((slot, e.time_us)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backward_step_and_a_drift_read_as_the_driver_computes_them() {
        let mut clocks = WallClocks::default();
        // node1 steps back an hour at 10 s, then runs 500 ppm fast from 20 s.
        clocks.set("node1", 10_000_000, -3_600_000_000, 0);
        clocks.set("node1", 20_000_000, -3_600_000_000, 500);
        assert_eq!(clocks.wall_us("node1", 5_000_000), 5_000_000);
        assert_eq!(clocks.wall_us("node2", 15_000_000), 15_000_000);
        assert_eq!(
            clocks.wall_us("node1", 10_000_000),
            10_000_000 - 3_600_000_000
        );
        assert_eq!(
            clocks.wall_us("node1", 30_000_000),
            30_000_000 - 3_600_000_000 + 5_000
        );
        let driver = ClockSkew::default()
            .jumped(10_000_000, -3_600_000_000)
            .drifting(20_000_000, 500);
        assert_eq!(
            clocks.wall_us("node1", 30_000_000) - 30_000_000,
            driver.offset_at_us(30_000_000)
        );
        // Across the step: highest just before it, lowest just after.
        assert_eq!(
            clocks.max_wall_us("node1", 9_000_000, 11_000_000),
            10_000_000
        );
        assert_eq!(
            clocks.min_wall_us("node1", 9_000_000, 11_000_000),
            10_000_000 - 3_600_000_000
        );
        assert_eq!(clocks.max_wall_us("node1", 0, u64::MAX), i64::MAX);
        assert_eq!(clocks.spread_us(30_000_000), 3_600_000_000);
        assert!(WallClocks::default().is_true_time());
        assert_eq!(WallClocks::node_of("10.0.0.2:7002"), "node2");
    }
}
