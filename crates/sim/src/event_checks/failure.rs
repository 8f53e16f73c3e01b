//! Failure detection: PFAIL and FAIL flags as each node set them, and the FAIL quorum rule.
//!
//! Redis 7.0 (`markNodeAsFailingIfNeeded`): a node flags a peer FAIL by itself only while it
//! flags it PFAIL, counting the failure reports of masters (any master's gossip adds or
//! refreshes one; `clusterProcessGossipSection`) that are at most two node timeouts old,
//! plus one for itself if it is a master, against a majority of the slot-serving masters.
//! Each counted reporter must really have flagged the peer, in its own events, at some
//! moment its gossip could have carried within that validity window.

use clusterlab_core::NodeId;

use super::state::Replay;
use super::{at, short};
use crate::report::ViolationKind;

/// A failure report lives this many node timeouts (`CLUSTER_FAIL_REPORT_VALIDITY_MULT`).
const REPORT_VALIDITY_NODE_TIMEOUTS: u64 = 2;

impl Replay {
    /// `observer` set (`on`) or cleared its PFAIL flag on `subject`.
    pub(super) fn flag(&mut self, t: u64, observer: &str, subject: NodeId, on: bool) {
        let state = self.node_mut(observer);
        if on {
            state.pfail.insert(subject);
        } else {
            state.pfail.remove(&subject);
        }
        self.set_flag_span(t, observer, subject, on);
    }

    /// `observer` set or cleared FAIL on `subject` (FAIL replaces PFAIL).
    pub(super) fn fail(&mut self, t: u64, observer: &str, subject: NodeId, on: bool) {
        let state = self.node_mut(observer);
        state.pfail.remove(&subject);
        if on {
            state.fail.insert(subject);
        } else {
            state.fail.remove(&subject);
        }
        self.set_flag_span(t, observer, subject, on);
    }

    fn set_flag_span(&mut self, t: u64, observer: &str, subject: NodeId, on: bool) {
        let id = self.node(observer).id;
        let spans = self.flags.entry((id, subject)).or_default();
        let open = spans.last().is_some_and(|s| s.1 == u64::MAX);
        match (on, open) {
            (true, false) => spans.push((t, u64::MAX)),
            (false, true) => spans.last_mut().expect("open").1 = t,
            _ => {}
        }
    }

    /// Whether `reporter` flagged `subject` at some moment of `[from_us, to_us]`.
    fn flagged_during(&self, reporter: NodeId, subject: NodeId, from_us: u64, to_us: u64) -> bool {
        self.flags
            .get(&(reporter, subject))
            .is_some_and(|spans| spans.iter().any(|&(a, b)| a <= to_us && b >= from_us))
    }

    /// `observer` reached the FAIL quorum on `subject` with `reporters`.
    pub(super) fn fail_quorum(
        &mut self,
        t: u64,
        observer: &str,
        subject: NodeId,
        reporters: &[NodeId],
    ) {
        let state = self.node(observer);
        let me = state.id;
        let mut wrong = Vec::new();
        if !state.pfail.contains(&subject) {
            wrong.push("it did not flag the node PFAIL itself".to_string());
        }
        let validity_ms = REPORT_VALIDITY_NODE_TIMEOUTS * self.nt_ms;
        let window_us = validity_ms * 1000;
        let from_us = t.saturating_sub(window_us);
        // A report is as old as the gossip that carried it: widen by the longest delivery.
        let late_ms = self.delays.max_delay_ms(from_us, t);
        let from_us = from_us.saturating_sub(late_ms * 1000);
        let mut valid = 0;
        for &reporter in reporters {
            let why = if reporter == me || reporter == subject {
                Some("is the observer or the failing node itself".to_string())
            } else if !self.flagged_during(reporter, subject, from_us, t) {
                Some(format!(
                    "never flagged it in the {validity_ms} ms (+{late_ms} ms delivery) before"
                ))
            } else if self
                .persisted
                .get(&reporter)
                .and_then(|p| p.replica_since)
                .is_some_and(|since| since < from_us)
            {
                Some("was a replica all along (only masters' reports count)".to_string())
            } else {
                None
            };
            match why {
                Some(why) => wrong.push(format!("reporter {} {why}", short(&reporter))),
                None => valid += 1,
            }
        }
        let own = usize::from(state.master.is_none());
        let quorum = state.quorum_at(t);
        if valid + own < quorum {
            wrong.push(format!(
                "{valid} valid report(s) + {own} (itself) < quorum {quorum}"
            ));
        }
        if wrong.is_empty() {
            return;
        }
        self.found.push(
            ViolationKind::FailWithoutQuorum,
            format!(
                "{} ({}) flagged {} FAIL by quorum: {}",
                at(observer, t),
                short(&me),
                short(&subject),
                wrong.join("; ")
            ),
        );
    }
}
