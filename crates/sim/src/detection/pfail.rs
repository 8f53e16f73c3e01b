//! `pfail_without_silence`: a node flags a peer PFAIL although the two could talk all along.
//!
//! Redis 7.0 (`clusterCron`) flags a peer PFAIL when a ping to it has been pending for more
//! than the node timeout and nothing else came from it meanwhile. A ping sent on a link that
//! delivers both ways is answered within a round trip; so when both nodes ran and both
//! directions delivered for the node timeout, plus the longest a stream may still be held
//! back by a cut that ended earlier ([`RETRY_BACKOFF_CAP_MS`]), plus two deliveries at the
//! worst latency and loss of that stretch, the PFAIL had no cause. Latency and loss widen
//! the window. Only a round trip of half the node timeout or more ends the check: Redis then
//! drops the link with the ping still pending (`clusterCron`'s link timeout) and the answer
//! is lost with it, so a PFAIL has a cause again.

use std::collections::BTreeMap;

use clusterlab_core::{ClusterEvent, NodeId};

use crate::event_checks::RETRY_BACKOFF_CAP_MS;
use crate::invariants::{fmt_ms, Connectivity};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::trace::TraceEvent;

/// Every PFAIL in `events` set while observer and subject could talk both ways for the
/// whole window (see the module docs). Times in the trace are µs, `net`'s are ms.
pub fn pfails_without_silence(
    events: &[TraceEvent],
    net: &Connectivity,
    nt: u64,
) -> Vec<Violation> {
    // Which machine runs each ID (an ID is only ever one machine's).
    let mut machine: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut current: BTreeMap<usize, NodeId> = BTreeMap::new();
    let mut out = Vec::new();
    for event in events {
        let Some(index) = NodeIdx::from_name(&event.node).map(|n| n.0) else {
            continue;
        };
        match event.event.cluster() {
            Some(ClusterEvent::NodeStarted { id, .. }) => {
                machine.insert(*id, index);
                current.insert(index, *id);
            }
            Some(ClusterEvent::PfailMarked { node }) => {
                let Some(&peer) = machine.get(node) else {
                    continue;
                };
                // An ID its machine no longer runs (wiped since) is gone for good.
                if current.get(&peer) != Some(node) || peer >= net.node_count() {
                    continue;
                }
                let t_ms = event.time_us / 1000;
                if let Some(evidence) = talked_all_along(net, index, peer, t_ms, nt) {
                    out.push(Violation::new(
                        ViolationKind::PfailWithoutSilence,
                        format!(
                            "{} at {} flagged {} PFAIL, but {evidence}",
                            event.node,
                            fmt_ms(t_ms),
                            NodeIdx(peer).name()
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// Why the PFAIL of `b` by `a` at `t_ms` had no cause, if it had none.
fn talked_all_along(net: &Connectivity, a: usize, b: usize, t_ms: u64, nt: u64) -> Option<String> {
    let base_ms = nt + RETRY_BACKOFF_CAP_MS;
    let delivery_ms = net.max_delivery_ms(t_ms.saturating_sub(base_ms), t_ms);
    // Redis drops a link whose ping has waited half the node timeout with no data from the
    // peer, keeping the old ping time: a round trip that slow can legitimately end in PFAIL.
    if 2 * delivery_ms >= nt / 2 {
        return None;
    }
    let window_ms = base_ms + 2 * delivery_ms;
    let from_ms = t_ms.checked_sub(window_ms)?;
    let linked =
        net.linked_throughout(a, b, from_ms, t_ms) && net.linked_throughout(b, a, from_ms, t_ms);
    linked.then(|| {
        format!(
            "both ran and both directions delivered since {} ({window_ms} ms: node timeout, \
             retry backoff, two deliveries of up to {delivery_ms} ms)",
            fmt_ms(from_ms)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Fault, FaultSchedule, TimedFault};
    use crate::test_events::{at, id, started};

    const NT: u64 = 5000;

    fn net(faults: Vec<(u64, Fault)>, down: Vec<(usize, u64, u64)>) -> Connectivity {
        let schedule = FaultSchedule::new(
            faults
                .into_iter()
                .map(|(at_ms, fault)| TimedFault { at_ms, fault })
                .collect(),
        );
        Connectivity::new(&schedule, 2, 0, 100_000, down)
    }

    fn events(pfail_ms: u64) -> Vec<TraceEvent> {
        vec![
            started("node1", b'a', None),
            started("node2", b'b', None),
            at(
                pfail_ms,
                "node1",
                ClusterEvent::PfailMarked { node: id(b'b') },
            ),
        ]
    }

    #[test]
    fn a_pfail_between_nodes_that_could_talk_is_reported() {
        let v = pfails_without_silence(&events(20_000), &net(vec![], vec![]), NT);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].evidence
                .starts_with("node1 at 20.000s flagged node2 PFAIL, but both ran"),
            "{}",
            v[0].evidence
        );
    }

    #[test]
    fn a_cut_a_pause_or_a_recent_heal_explains_it() {
        let clog = net(vec![(1000, Fault::ClogLink { from: 1, to: 0 })], vec![]);
        assert!(pfails_without_silence(&events(20_000), &clog, NT).is_empty());
        let paused = net(vec![], vec![(1, 10_000, 12_000)]);
        assert!(pfails_without_silence(&events(20_000), &paused, NT).is_empty());
        // Healed 12 s before: a stream may still wait on its retry backoff.
        let healed = net(
            vec![
                (1000, Fault::ClogLink { from: 0, to: 1 }),
                (8000, Fault::UnclogLink { from: 0, to: 1 }),
            ],
            vec![],
        );
        assert!(pfails_without_silence(&events(20_000), &healed, NT).is_empty());
        assert_eq!(
            pfails_without_silence(&events(24_000), &healed, NT).len(),
            1
        );
    }

    #[test]
    fn latency_widens_the_window_and_does_not_silence_it() {
        let slow = net(
            vec![(
                0,
                Fault::Latency {
                    min_ms: 100,
                    max_ms: 900,
                },
            )],
            vec![],
        );
        // Window 5 s + 10 s + 2 × 900 ms = 16.8 s.
        assert!(pfails_without_silence(&events(16_000), &slow, NT).is_empty());
        assert_eq!(pfails_without_silence(&events(17_000), &slow, NT).len(), 1);
        // A round trip of half the node timeout: Redis's link timeout may lose the answer.
        let slower = net(
            vec![(
                0,
                Fault::Latency {
                    min_ms: 100,
                    max_ms: 1300,
                },
            )],
            vec![],
        );
        assert!(pfails_without_silence(&events(30_000), &slower, NT).is_empty());
    }
}
