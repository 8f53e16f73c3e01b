//! Election invariants: how masters hand out failover votes, judged from the typed
//! [`ClusterEvent::VoteGranted`] events in a run's trace.
//!
//! Redis keeps failovers single by two voting rules, and the trace shows every vote:
//! - a master votes at most once per epoch (`lastVoteEpoch`, kept in `nodes.conf`, so this
//!   holds across restarts; only a wiped disk starts over);
//! - a master votes for at most one replica of a given failed master per two node timeouts
//!   (kept in memory, so a restart of the voter starts over).
//!
//! Either broken (`double_vote`) lets two replicas of one master both win, and the writes the
//! first one acknowledged vanish when the second one's higher epoch takes the slots.

use std::collections::BTreeMap;

use clusterlab_core::ClusterEvent;

use crate::invariants::{fmt_ms, short};
use crate::report::{Violation, ViolationKind};
use crate::trace::TraceEvent;

/// Times are virtual ms since the run started, as the trace's; the rule is "less than two
/// node timeouts", this much is left for log and clock granularity.
const SLACK_MS: u64 = 50;

/// One granted vote.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Vote {
    time_ms: u64,
    replica: String,
    epoch: u64,
    master: String,
}

/// The vote a trace event reports, `None` for any other event.
fn vote_of(event: &TraceEvent) -> Option<Vote> {
    match event.event.cluster()? {
        ClusterEvent::VoteGranted {
            epoch,
            candidate,
            master,
        } => Some(Vote {
            time_ms: event.time_us / 1000,
            replica: candidate.to_string(),
            epoch: *epoch,
            master: master.to_string(),
        }),
        _ => None,
    }
}

/// Checks every vote in `events` against the voter's earlier ones. `restarts` and `wipes` are
/// `(node, ms)`: a restart forgets the per-master rule, a wipe both.
pub fn double_votes(
    events: &[TraceEvent],
    restarts: &[(String, u64)],
    wipes: &[(String, u64)],
    node_timeout_ms: u64,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut votes: BTreeMap<&str, Vec<Vote>> = BTreeMap::new();
    let between = |list: &[(String, u64)], node: &str, from_ms: u64, to_ms: u64| {
        list.iter()
            .any(|(n, t)| n == node && *t >= from_ms && *t <= to_ms)
    };
    for event in events {
        let Some(vote) = vote_of(event) else {
            continue;
        };
        let voter = event.node.as_str();
        let earlier = votes.entry(voter).or_default();
        for prev in earlier.iter() {
            if between(wipes, voter, prev.time_ms, vote.time_ms) {
                continue;
            }
            let same_epoch = prev.epoch == vote.epoch;
            let same_master = prev.master == vote.master
                && vote.time_ms < prev.time_ms + 2 * node_timeout_ms - SLACK_MS
                && !between(restarts, voter, prev.time_ms, vote.time_ms);
            if !same_epoch && !same_master {
                continue;
            }
            let rule = if same_epoch {
                "twice in one epoch"
            } else {
                "for two replicas of one master within two node timeouts"
            };
            violations.push(Violation::new(
                ViolationKind::DoubleVote,
                format!(
                    "{voter} voted {rule}: for {} at {} (epoch {}, replica of {}), then for {} \
                     at {} (epoch {}, replica of {})",
                    short(&prev.replica),
                    fmt_ms(prev.time_ms),
                    prev.epoch,
                    short(&prev.master),
                    short(&vote.replica),
                    fmt_ms(vote.time_ms),
                    vote.epoch,
                    short(&vote.master),
                ),
            ));
            break;
        }
        earlier.push(vote);
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;
    use clusterlab_core::NodeId;

    const R1: &str = "1111111111111111111111111111111111111111";
    const R2: &str = "2222222222222222222222222222222222222222";
    const M: &str = "9999999999999999999999999999999999999999";
    const M2: &str = "8888888888888888888888888888888888888888";

    fn id(text: &str) -> NodeId {
        NodeId::parse(text.as_bytes()).expect("a 40-hex-digit ID")
    }

    fn vote(ms: u64, voter: &str, replica: &str, epoch: u64, master: &str) -> TraceEvent {
        TraceEvent {
            time_us: ms * 1000,
            node: voter.to_string(),
            event: Event::Cluster(ClusterEvent::VoteGranted {
                epoch,
                candidate: id(replica),
                master: id(master),
            }),
        }
    }

    fn names(v: &[Violation]) -> Vec<&str> {
        v.iter().map(|v| v.name()).collect()
    }

    #[test]
    fn reads_the_vote_event_and_nothing_else() {
        let v = vote_of(&vote(1500, "node1", R1, 7, M)).unwrap();
        assert_eq!((v.time_ms, v.epoch), (1500, 7));
        assert_eq!((v.replica.as_str(), v.master.as_str()), (R1, M));
        let won = TraceEvent {
            time_us: 0,
            node: "node1".into(),
            event: Event::Cluster(ClusterEvent::ElectionStarted { epoch: 7 }),
        };
        assert_eq!(vote_of(&won), None);
        // Text that reads like a vote is not one: only typed events count.
        let text = TraceEvent {
            time_us: 0,
            node: "node1".into(),
            event: Event::Text(format!("vote granted to {R1} for epoch 7 (replica of {M})")),
        };
        assert_eq!(vote_of(&text), None);
    }

    #[test]
    fn one_vote_per_epoch_and_per_master_is_clean() {
        let events = [
            vote(1000, "node1", R1, 5, M),
            vote(1000, "node2", R1, 5, M),
            // Another master's replica in the next epoch: fine at once.
            vote(1100, "node1", R2, 6, M2),
            // The same master again, but two node timeouts later.
            vote(3100, "node1", R2, 7, M),
        ];
        assert!(double_votes(&events, &[], &[], 1000).is_empty());
    }

    #[test]
    fn a_second_vote_in_one_epoch_is_reported_even_across_a_restart() {
        let events = [
            vote(1000, "node1", R1, 5, M),
            vote(1300, "node1", R2, 5, M2),
        ];
        let restarts = [("node1".to_string(), 1200)];
        let v = double_votes(&events, &restarts, &[], 1000);
        assert_eq!(names(&v), ["double_vote"]);
        assert!(
            v[0].evidence.contains("twice in one epoch"),
            "{}",
            v[0].evidence
        );
        assert!(
            v[0].evidence.starts_with("node1 voted"),
            "{}",
            v[0].evidence
        );
        // A wiped voter is a new node with no votes behind it.
        let wipes = [("node1".to_string(), 1200)];
        assert!(double_votes(&events, &[], &wipes, 1000).is_empty());
    }

    #[test]
    fn two_replicas_of_one_master_within_two_node_timeouts_is_reported_unless_restarted() {
        let events = [vote(1000, "node1", R1, 5, M), vote(2500, "node1", R2, 6, M)];
        let v = double_votes(&events, &[], &[], 1000);
        assert_eq!(names(&v), ["double_vote"]);
        assert!(
            v[0].evidence.contains("two replicas of one master"),
            "{}",
            v[0].evidence
        );
        let restarts = [("node1".to_string(), 2000)];
        assert!(double_votes(&events, &restarts, &[], 1000).is_empty());
        // Other voters' restarts do not count.
        let others = [("node2".to_string(), 2000)];
        assert_eq!(double_votes(&events, &others, &[], 1000).len(), 1);
    }
}
