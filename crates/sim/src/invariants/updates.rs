//! Stale slot claims must not outlive contact with a node that knows better
//! (`stale_owner_kept`), judged from sampled views against who could reach whom.
//!
//! A master that comes back with an old config (after a crash, a pause or a partition) still
//! claims its former slots at its old config epoch. Redis corrects it even if the new owner
//! cannot reach it: any node that gets a message claiming slots whose owner it knows at a
//! higher config epoch answers with an UPDATE naming that owner, and the stale master gives the
//! slots up. A master pings every node at least every half node timeout, so once it is linked
//! both ways with such a node, its stale claim lasts about that long — provided it knows the
//! new owner: Redis ignores an UPDATE about a node it does not know, and it learns one only by
//! a handshake with it (a master restarted from an old `nodes.conf` may never have met a node
//! that got its ID since; seed 604210). Nor does an UPDATE move it when it already knows the
//! new owner at that config epoch or a greater one (`if (n->configEpoch >= reportedConfigEpoch)
//! return 1; /* Nothing new. */`): it learnt the epoch from an UPDATE that left the slot out
//! (sent by an importer of the slot, whose view never gave it to the new owner), and then only
//! the new owner's own messages, whose header claims all its slots, correct it (seed 710202).

use std::collections::{BTreeMap, BTreeSet};

use crate::invariants::{fmt_ms, index_of_name, range_text, short, Connectivity, Sample};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::view::NodeLine;

/// How long a stale claim may last while linked both ways, in node timeouts (pings go out at
/// least every half node timeout; the rest is margin for sampling and delivery).
pub const STALE_CLAIM_NODE_TIMEOUTS: u64 = 2;

/// Checks each sampled self-claim against every other node's view from at least
/// [`STALE_CLAIM_NODE_TIMEOUTS`] earlier. `samples` in time order.
pub fn stale_owners_kept(
    samples: &[Sample],
    net: &Connectivity,
    node_timeout_ms: u64,
) -> Vec<Violation> {
    let bound_ms = STALE_CLAIM_NODE_TIMEOUTS * node_timeout_ms;
    let mut by_node: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for sample in samples {
        by_node
            .entry(sample.node.as_str())
            .or_default()
            .push(sample);
    }
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    let mut violations = Vec::new();
    for sample in samples {
        let Some(me) = sample.myself() else { continue };
        if !me.is_master() || me.slots.is_empty() || me.config_epoch == 0 {
            continue;
        }
        let Some(m) = index_of_name(&sample.node) else {
            continue;
        };
        for (other, theirs) in &by_node {
            if *other == sample.node.as_str() {
                continue;
            }
            let Some(x) = index_of_name(other) else {
                continue;
            };
            // Their latest view from at least `bound_ms` before this one, plus what a slow or
            // lossy network adds to the claim's ping and the UPDATE that answers it.
            let Some(earlier) = theirs.iter().rev().find(|s| {
                // The delivery delay only adds: a view within the bound needs no network look.
                if s.time_ms + bound_ms > sample.time_ms {
                    return false;
                }
                let late_ms = 2 * net.max_delivery_ms(s.time_ms, sample.time_ms);
                s.time_ms + bound_ms + late_ms <= sample.time_ms
            }) else {
                continue;
            };
            let Some(newer) = newer_owner(me, &earlier.lines) else {
                continue;
            };
            let (from_ms, to_ms) = (earlier.time_ms, sample.time_ms);
            // Its own view must have known the new owner (by its real ID) from its first sample
            // in the window to this one, or no UPDATE could have moved it.
            let knows = |s: &Sample| s.lines.iter().any(|l| l.id == newer.id);
            let in_window = || {
                by_node[sample.node.as_str()]
                    .iter()
                    .filter(|s| (from_ms..=to_ms).contains(&s.time_ms))
            };
            let first_in_window = in_window().next();
            if !knows(sample) || !first_in_window.is_some_and(|s| knows(s)) {
                continue;
            }
            // Knowing the new owner at its epoch all along, it ignores UPDATEs about it: only
            // the new owner itself can tell it.
            let knows_epoch = |s: &Sample| {
                s.lines
                    .iter()
                    .any(|l| l.id == newer.id && l.config_epoch >= newer.config_epoch)
            };
            let (teller, told_by) = if in_window().all(|s| knows_epoch(s)) {
                let Some(n) = NodeIdx::from_addr(&newer.addr) else {
                    continue;
                };
                (n.0, Some(n.name()))
            } else {
                (x, None)
            };
            let in_touch = net.linked_throughout(m, teller, from_ms, to_ms)
                && net.linked_throughout(teller, m, from_ms, to_ms)
                && net.wiped_by(m, from_ms) == net.wiped_by(m, to_ms)
                && net.wiped_by(teller, from_ms) == net.wiped_by(teller, to_ms);
            if !in_touch || !reported.insert((me.id.clone(), newer.id.clone())) {
                continue;
            }
            let linked = match told_by {
                None => "the two were linked both ways all along".to_string(),
                Some(owner) => format!(
                    "{owner} itself was linked both ways with it all along ({} knew that \
                     config epoch already, so UPDATEs about it were nothing new)",
                    sample.node
                ),
            };
            violations.push(Violation::new(
                ViolationKind::StaleOwnerKept,
                format!(
                    "{} ({}) still claimed slots {} at config epoch {} at {}, although {other} \
                     had shown {} ({}) owning some of them at config epoch {} since {} and \
                     {linked}",
                    sample.node,
                    short(&me.id),
                    ranges(&me.slots),
                    me.config_epoch,
                    fmt_ms(sample.time_ms),
                    short(&newer.id),
                    newer.addr,
                    newer.config_epoch,
                    fmt_ms(earlier.time_ms),
                ),
            ));
        }
    }
    violations
}

/// A master in `lines` other than `me` that owns one of `me`'s slots at a higher config epoch.
fn newer_owner<'a>(me: &NodeLine, lines: &'a [NodeLine]) -> Option<&'a NodeLine> {
    lines.iter().find(|l| {
        l.id != me.id
            && l.config_epoch > me.config_epoch
            && l.slots.iter().any(|&(lo, hi)| {
                me.slots
                    .iter()
                    .any(|&(my_lo, my_hi)| lo <= my_hi && my_lo <= hi)
            })
    })
}

/// `0-8000,9000` for the evidence.
fn ranges(slots: &[(u16, u16)]) -> String {
    let parts: Vec<String> = slots.iter().map(|&(lo, hi)| range_text(lo, hi)).collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Fault, FaultSchedule, TimedFault};
    use crate::view::parse_cluster_nodes;

    fn sample(node: &str, time_ms: u64, text: &str) -> Sample {
        Sample {
            node: node.to_string(),
            time_ms,
            lines: parse_cluster_nodes(text).unwrap(),
            current_epoch: 9,
            cluster_state: "ok".to_string(),
        }
    }

    /// node1 came back claiming 0-8000 at epoch 1; node2 (r) took them over at epoch 3, which
    /// node1 has not heard of (it knows r at epoch 2).
    const STALE: &str = "m 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8000\n\
                         r 10.0.0.2:7002@17002 master - 0 0 2 connected 8001-16383\n\
                         b 10.0.0.3:7003@17003 master - 0 0 2 connected\n";
    const THIRD: &str = "m 10.0.0.1:7001@17001 master - 0 0 1 connected\n\
                         r 10.0.0.2:7002@17002 master - 0 0 3 connected 0-8000\n\
                         b 10.0.0.3:7003@17003 myself,master - 0 0 2 connected 8001-16383\n";

    fn net(faults: Vec<(u64, Fault)>, down: Vec<(usize, u64, u64)>) -> Connectivity {
        let sched = FaultSchedule::new(
            faults
                .into_iter()
                .map(|(at_ms, fault)| TimedFault { at_ms, fault })
                .collect(),
        );
        Connectivity::new(&sched, 3, 0, 30_000, down)
    }

    #[test]
    fn a_stale_claim_kept_while_linked_to_a_node_that_knows_better_is_reported() {
        let samples = vec![
            sample("node3", 10_000, THIRD),
            sample("node1", 11_000, STALE),
            sample("node1", 12_500, STALE),
        ];
        // Only the new owner's messages to node1 are lost: node3 could have told it.
        let one_way = net(vec![(9000, Fault::ClogLink { from: 1, to: 0 })], vec![]);
        let v = stale_owners_kept(&samples, &one_way, 1000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            v[0].evidence,
            "node1 (m) still claimed slots 0-8000 at config epoch 1 at 12.500s, although node3 \
             had shown r (10.0.0.2:7002) owning some of them at config epoch 3 since 10.000s and \
             the two were linked both ways all along"
        );
        // Within two node timeouts of node3's view: not yet.
        assert!(stale_owners_kept(&samples[..2], &one_way, 1000).is_empty());
        // node1 never met r (restarted from an old nodes.conf): the UPDATE names a node it
        // does not know, and Redis ignores it.
        let unknown = STALE.replace(
            "r 10.0.0.2:7002@17002 master - 0 0 2 connected 8001-16383\n",
            "",
        );
        let blind = vec![
            sample("node3", 10_000, THIRD),
            sample("node1", 11_000, &unknown),
            sample("node1", 12_500, &unknown),
        ];
        assert!(stale_owners_kept(&blind, &one_way, 1000).is_empty());
        // node1 knew r at epoch 3 already (from an importer's UPDATE that left 0-8000 out):
        // UPDATEs about r are nothing new to it, and only r's own messages, lost here, could
        // correct it. Once r reaches it, the claim is stale.
        let known = STALE.replace(" 0 0 2 connected 8001-16383", " 0 0 3 connected 8001-16383");
        let knew = vec![
            sample("node3", 10_000, THIRD),
            sample("node1", 11_000, &known),
            sample("node1", 12_500, &known),
        ];
        assert!(stale_owners_kept(&knew, &one_way, 1000).is_empty());
        let v = stale_owners_kept(&knew, &net(vec![], vec![]), 1000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].evidence.ends_with(
                "node2 itself was linked both ways with it all along (node1 knew that config \
                 epoch already, so UPDATEs about it were nothing new)"
            ),
            "{}",
            v[0].evidence
        );
        // Knowing it only part of the window, node1 could still take node3's UPDATE.
        let partly = vec![
            sample("node3", 10_000, THIRD),
            sample("node1", 11_000, STALE),
            sample("node1", 12_500, &known),
        ];
        assert_eq!(stale_owners_kept(&partly, &one_way, 1000).len(), 1);
    }

    #[test]
    fn a_stale_claim_is_excused_when_cut_off_down_or_on_a_slow_network() {
        let samples = vec![
            sample("node3", 10_000, THIRD),
            sample("node1", 12_500, STALE),
        ];
        let cut = net(vec![(9000, Fault::ClogLink { from: 2, to: 0 })], vec![]);
        assert!(stale_owners_kept(&samples, &cut, 1000).is_empty());
        let restarted = net(vec![], vec![(0, 5000, 12_000)]);
        assert!(stale_owners_kept(&samples, &restarted, 1000).is_empty());
        let slow = net(
            vec![(
                11_000,
                Fault::Latency {
                    min_ms: 100,
                    max_ms: 900,
                },
            )],
            vec![],
        );
        assert!(stale_owners_kept(&samples, &slow, 1000).is_empty());
        // Latency only shifts the bound (2 s + 2 × 900 ms): later, the claim is stale.
        let later = [samples[0].clone(), sample("node1", 13_900, STALE)];
        assert_eq!(stale_owners_kept(&later, &slow, 1000).len(), 1);
        // Same epoch or lower: not newer, nothing to yield to.
        let part = sample(
            "node1",
            12_500,
            &STALE.replace("connected 0-8000", "connected 0-7000"),
        );
        let v = stale_owners_kept(&[samples[0].clone(), part], &net(vec![], vec![]), 1000);
        assert_eq!(v.len(), 1, "an overlap is enough");
        let equal = STALE.replace(" 0 0 1 connected 0-8000", " 0 0 3 connected 0-8000");
        let v = stale_owners_kept(
            &[samples[0].clone(), sample("node1", 12_500, &equal)],
            &net(vec![], vec![]),
            1000,
        );
        assert!(v.is_empty());
    }
}
