//! `maxmemory` eviction, judged from the nodes' typed [`ClusterEvent::KeyEvicted`] events: a
//! node evicts only under a `maxmemory` limit with an evicting policy, and a replica never
//! evicts on its own (Redis's default `replica-ignore-maxmemory yes`, which the simulated
//! nodes keep): its master's `DEL`s are how its keys go.

use std::collections::BTreeMap;

use clusterlab_core::ClusterEvent;

use crate::report::Violation;
use crate::seeds::Maxmemory;
use crate::trace::TraceEvent;
use crate::violation_kind::ViolationKind;

/// The violations of the eviction rules in a run whose nodes ran with `maxmemory`.
pub fn check_evictions(events: &[TraceEvent], maxmemory: Option<&Maxmemory>) -> Vec<Violation> {
    let evicting = maxmemory.is_some_and(|m| m.policy != "noeviction");
    // Whether each node is a replica now, from its role events.
    let mut replica: BTreeMap<&str, bool> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        let Some(event) = e.event.cluster() else {
            continue;
        };
        match event {
            ClusterEvent::NodeStarted { master, .. } => {
                replica.insert(&e.node, master.is_some());
            }
            ClusterEvent::BecameReplica { .. } => {
                replica.insert(&e.node, true);
            }
            ClusterEvent::Promoted { .. } => {
                replica.insert(&e.node, false);
            }
            ClusterEvent::KeyEvicted { key, policy } => {
                let key = String::from_utf8_lossy(key);
                let at = crate::invariants::fmt_ms(e.time_us / 1000);
                if !evicting {
                    let limit = maxmemory.map_or("no maxmemory".to_string(), |m| {
                        format!("maxmemory {} under {}", m.bytes, m.policy)
                    });
                    violations.push(Violation::new(
                        ViolationKind::EvictionNotAllowed,
                        format!("{} evicted {key} at {at} ({policy}) with {limit}", e.node),
                    ));
                }
                if replica.get(e.node.as_str()) == Some(&true) {
                    violations.push(Violation::new(
                        ViolationKind::ReplicaEvicted,
                        format!("replica {} evicted {key} at {at} on its own", e.node),
                    ));
                }
            }
            _ => {}
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;
    use clusterlab_core::NodeId;

    fn at(node: &str, time_us: u64, event: ClusterEvent) -> TraceEvent {
        TraceEvent {
            time_us,
            node: node.into(),
            event: Event::Cluster(event),
        }
    }

    fn evicted(node: &str, time_us: u64) -> TraceEvent {
        let key = bytes::Bytes::from_static(b"list:1");
        at(
            node,
            time_us,
            ClusterEvent::KeyEvicted {
                key,
                policy: "allkeys-lru",
            },
        )
    }

    #[test]
    fn evictions_need_a_limit_and_a_master() {
        let lru = Maxmemory {
            bytes: 1 << 21,
            policy: "allkeys-lru".into(),
        };
        let master = NodeId::parse(&[b'a'; 40]).expect("40 hex digits");
        let events = vec![
            evicted("node1", 1_000),
            at("node2", 2_000, ClusterEvent::BecameReplica { master }),
            evicted("node2", 3_000),
            at(
                "node2",
                4_000,
                ClusterEvent::Promoted {
                    kind: clusterlab_core::event::PromotionKind::Election,
                    config_epoch: 2,
                    old_master: master,
                    offset: 0,
                    coordinated: false,
                },
            ),
            evicted("node2", 5_000),
        ];
        let kinds = |v: Vec<Violation>| v.into_iter().map(|v| v.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds(check_evictions(&events, Some(&lru))),
            vec![ViolationKind::ReplicaEvicted]
        );
        let noeviction = Maxmemory {
            policy: "noeviction".into(),
            ..lru
        };
        assert_eq!(
            kinds(check_evictions(&events, Some(&noeviction))).len(),
            3 + 1,
            "every eviction, and the replica's twice over"
        );
        assert_eq!(kinds(check_evictions(&events, None)).len(), 4);
        assert!(check_evictions(&events[..1], Some(&lru)).is_empty());
    }
}
