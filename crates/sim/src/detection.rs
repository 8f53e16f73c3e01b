//! Failure-detection invariants judged against ground truth.
//!
//! [`Connectivity`] replays the fault schedule and says who could reach whom at any moment.
//! Two invariants then check what nodes *said* against what was *possible*:
//!
//! - `fail_without_quorum`: a node flags a peer `fail` although fewer than a quorum of nodes
//!   ever lost contact with that peer for long enough (Redis needs the reports of a majority of
//!   masters, each after node_timeout without a pong).
//! - `minority_master_ok`: a master serving slots reports `cluster_state:ok` although it has
//!   been cut off from a majority of the slot-serving masters for long enough that it must
//!   have noticed (it would keep taking writes a failover will discard).
//!
//! Both lean towards silence where the ground truth is unsure: under packet loss or extra
//! latency a missed pong is plausible, so such stretches count as "maybe cut" for the first
//! invariant and as "connected" for the second.

use std::collections::{BTreeMap, BTreeSet};

use crate::invariants::{fmt_ms, Connectivity, Sample};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};

/// Whether two nodes could exchange a ping and its pong.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Contact {
    /// Both directions deliver, on a network without loss or extra latency.
    Up,
    /// At least one direction is clogged, partitioned or down.
    Cut,
    /// Lossy or slow enough that a missed pong is plausible.
    Unsure,
}

/// The [`Contact`] between nodes `a` and `b` (indices) at `t_ms` (virtual ms since the run
/// started), according to the replayed schedule.
pub fn contact(net: &Connectivity, a: usize, b: usize, t_ms: u64) -> Contact {
    if !net.can_send(a, b, t_ms) || !net.can_send(b, a, t_ms) {
        Contact::Cut
    } else if net.degraded(t_ms) {
        Contact::Unsure
    } else {
        Contact::Up
    }
}

/// The longest unbroken stretch within `[from_ms, to_ms]` in which `a` and `b` were cut (or
/// unsure, when `unsure_is_cut`).
pub fn longest_cut_ms(
    net: &Connectivity,
    (a, b): (usize, usize),
    from_ms: u64,
    to_ms: u64,
    unsure_is_cut: bool,
) -> u64 {
    let mut bounds = vec![from_ms];
    bounds.extend(
        net.change_points()
            .iter()
            .copied()
            .filter(|&t| t > from_ms && t < to_ms),
    );
    bounds.push(to_ms.max(from_ms));
    let (mut best, mut run) = (0, 0);
    for w in bounds.windows(2) {
        let c = contact(net, a, b, w[0]);
        let cut = c == Contact::Cut || (unsure_is_cut && c == Contact::Unsure);
        run = if cut { run + (w[1] - w[0]) } else { 0 };
        best = best.max(run);
    }
    best
}

/// Whether `node` was down at any moment of `[from_ms, to_ms]`.
fn down_during(net: &Connectivity, node: usize, from_ms: u64, to_ms: u64) -> bool {
    std::iter::once(from_ms)
        .chain(
            net.change_points()
                .iter()
                .copied()
                .filter(|&t| t > from_ms && t <= to_ms),
        )
        .any(|t| !net.up(node, t))
}

/// Extra time before and after the validity windows, for message delays and cron ticks.
const SLACK_MS: u64 = 2000;

/// `fail_without_quorum` over all samples, in time order.
pub fn fails_without_quorum(samples: &[Sample], net: &Connectivity, nt: u64) -> Vec<Violation> {
    let mut flagged: BTreeSet<(String, String)> = BTreeSet::new();
    let mut last_seen: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for s in samples {
        let since_ms = last_seen.insert(&s.node, s.time_ms).unwrap_or(s.time_ms);
        let Some(observer) = NodeIdx::from_name(&s.node).map(|n| n.0) else {
            continue;
        };
        let machines: BTreeSet<usize> = s
            .lines
            .iter()
            .filter_map(|l| NodeIdx::from_addr(&l.addr).map(|n| n.0))
            .chain([observer])
            .collect();
        for line in s.lines.iter().filter(|l| !l.is_myself()) {
            let key = (s.node.clone(), line.id.clone());
            if !line.has_flag("fail") {
                flagged.remove(&key);
                continue;
            }
            if !flagged.insert(key) {
                continue;
            }
            let Some(subject) = NodeIdx::from_addr(&line.addr).map(|n| n.0) else {
                continue;
            };
            // A wiped node's old ID is gone for good, whatever answers at its address now.
            if net.wiped_by(subject, s.time_ms) {
                continue;
            }
            // Reports stay valid 2 × node timeout; each needs node timeout without a pong.
            let from_ms = since_ms.saturating_sub(3 * nt + SLACK_MS);
            let losers: Vec<usize> = machines
                .iter()
                .copied()
                .filter(|&n| n != subject)
                .filter(|&n| longest_cut_ms(net, (n, subject), from_ms, s.time_ms, true) >= nt / 2)
                .collect();
            let masters = s
                .lines
                .iter()
                .filter(|l| l.has_flag("master") && !l.slots.is_empty())
                .count();
            let quorum = masters / 2 + 1;
            if losers.len() < quorum {
                out.push(Violation::new(
                    ViolationKind::FailWithoutQuorum,
                    format!(
                        "node{} at {} flags {} ({}) fail, but only {} node(s) {:?} lost contact \
                         with it for {} ms since {} (quorum {quorum})",
                        observer + 1,
                        fmt_ms(s.time_ms),
                        line.addr,
                        short(&line.id),
                        losers.len(),
                        losers.iter().map(|n| n + 1).collect::<Vec<_>>(),
                        nt / 2,
                        fmt_ms(from_ms),
                    ),
                ));
            }
        }
    }
    out
}

/// `minority_master_ok` over all samples.
pub fn minority_masters_ok(samples: &[Sample], net: &Connectivity, nt: u64) -> Vec<Violation> {
    // A cut noticed: the next ping within node_timeout / 2, PFAIL node_timeout later.
    let notice_ms = 2 * nt + SLACK_MS;
    let mut out = Vec::new();
    for s in samples.iter().filter(|s| s.cluster_state == "ok") {
        let (Some(me), Some(index)) = (s.myself(), NodeIdx::from_name(&s.node).map(|n| n.0)) else {
            continue;
        };
        if !me.has_flag("master") || me.slots.is_empty() || s.time_ms < notice_ms {
            continue;
        }
        let from_ms = s.time_ms - notice_ms;
        if down_during(net, index, from_ms, s.time_ms) {
            continue;
        }
        // A master line with no known address (a wiped node's old identity, flagged noaddr)
        // still counts in the size; Redis never flags such a node PFAIL, so neither can we.
        let masters: Vec<Option<usize>> = s
            .lines
            .iter()
            .filter(|l| l.has_flag("master") && !l.slots.is_empty() && !l.is_myself())
            .map(|l| NodeIdx::from_addr(&l.addr).map(|n| n.0))
            .collect();
        let size = masters.len() + 1;
        let cut_off: Vec<usize> = masters
            .iter()
            .flatten()
            .copied()
            .filter(|&m| longest_cut_ms(net, (index, m), from_ms, s.time_ms, false) >= notice_ms)
            .collect();
        let reachable = size - cut_off.len();
        if reachable < size / 2 + 1 {
            out.push(Violation::new(
                ViolationKind::MinorityMasterOk,
                format!(
                    "node{} at {} says cluster_state:ok serving slots, but has been cut off from \
                     node(s) {:?} ({} of {size} slot-serving masters) since {}",
                    index + 1,
                    fmt_ms(s.time_ms),
                    cut_off.iter().map(|n| n + 1).collect::<Vec<_>>(),
                    cut_off.len(),
                    fmt_ms(from_ms),
                ),
            ));
        }
    }
    out
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Fault, FaultSchedule, TimedFault};
    use crate::view::parse_cluster_nodes;

    const NT: u64 = 5000;

    /// The safety phase these tests pretend: faults apply from 0 until 100 s.
    const SPAN_MS: u64 = 100_000;

    fn net(faults: &[(u64, Fault)], down: Vec<(usize, u64, u64)>) -> Connectivity {
        let schedule = FaultSchedule::new(
            faults
                .iter()
                .map(|(at_ms, fault)| TimedFault {
                    at_ms: *at_ms,
                    fault: fault.clone(),
                })
                .collect(),
        );
        Connectivity::new(&schedule, 3, 0, SPAN_MS, down)
    }

    /// Node 0 split from nodes 1 and 2 from `at_ms` on.
    fn isolate_first(at_ms: u64) -> Connectivity {
        let groups = vec![vec![0], vec![1, 2]];
        net(&[(at_ms, Fault::Partition { groups })], Vec::new())
    }

    const IDS: [&str; 3] = [
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "cccccccccccccccccccccccccccccccccccccccc",
    ];

    /// node`me+1`'s view of three masters (0-5460, 5461-10922, 10923-16383), with extra
    /// flags on one of them.
    fn sample(me: usize, time_ms: u64, state: &str, flagged: Option<(usize, &str)>) -> Sample {
        let ranges = ["0-5460", "5461-10922", "10923-16383"];
        let mut text = String::new();
        for i in 0..3 {
            let mut flags = if i == me { "myself,master" } else { "master" }.to_string();
            if let Some((who, extra)) = flagged.filter(|(who, _)| *who == i) {
                assert_ne!(who, me);
                flags.push(',');
                flags.push_str(extra);
            }
            text.push_str(&format!(
                "{} 10.0.0.{}:{}@{} {flags} - 0 0 {} connected {}\n",
                IDS[i],
                i + 1,
                7001 + i,
                17001 + i,
                i + 1,
                ranges[i]
            ));
        }
        Sample {
            node: NodeIdx(me).name(),
            time_ms,
            lines: parse_cluster_nodes(&text).expect("valid view"),
            current_epoch: 3,
            cluster_state: state.to_string(),
        }
    }

    #[test]
    fn contact_follows_the_schedule() {
        let clog = net(
            &[
                (1000, Fault::ClogLink { from: 0, to: 1 }),
                (3000, Fault::UnclogLink { from: 0, to: 1 }),
            ],
            Vec::new(),
        );
        assert_eq!(contact(&clog, 0, 1, 500), Contact::Up);
        assert_eq!(
            contact(&clog, 1, 0, 1500),
            Contact::Cut,
            "one way cuts the round trip"
        );
        assert_eq!(contact(&clog, 0, 2, 1500), Contact::Up);
        assert_eq!(contact(&clog, 0, 1, 3000), Contact::Up);
        assert_eq!(longest_cut_ms(&clog, (0, 1), 0, 10_000, false), 2000);
        let lossy = net(&[(0, Fault::PacketLoss { permille: 50 })], Vec::new());
        assert_eq!(contact(&lossy, 0, 1, 10), Contact::Unsure);
        assert_eq!(longest_cut_ms(&lossy, (0, 1), 0, 4000, true), 4000);
        assert_eq!(longest_cut_ms(&lossy, (0, 1), 0, 4000, false), 0);
    }

    #[test]
    fn node_indices_come_from_addresses_and_names() {
        assert_eq!(NodeIdx::from_addr("10.0.0.3:7003").map(|n| n.0), Some(2));
        assert_eq!(NodeIdx::from_addr("127.0.0.1:7003").map(|n| n.0), None);
        assert_eq!(NodeIdx::from_name("node12").map(|n| n.0), Some(11));
    }

    #[test]
    fn a_fail_flag_set_by_an_isolated_node_alone_is_flagged() {
        // node1 is cut off from both others from 1 s on and flags node2 fail at 20 s.
        let net = isolate_first(1000);
        let samples = vec![
            sample(0, 500, "ok", None),
            sample(0, 20_000, "fail", Some((1, "fail"))),
        ];
        let v = fails_without_quorum(&samples, &net, NT);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].kind, ViolationKind::FailWithoutQuorum);
        assert!(
            v[0].evidence.contains("only 1 node(s) [1]"),
            "{}",
            v[0].evidence
        );
        // The same flag on the majority side, about the isolated node, is legitimate.
        let samples = vec![
            sample(1, 500, "ok", None),
            sample(1, 20_000, "fail", Some((0, "fail"))),
        ];
        assert_eq!(fails_without_quorum(&samples, &net, NT), vec![]);
    }

    #[test]
    fn a_crashed_node_may_be_flagged_by_anyone() {
        let net = net(&[], vec![(2, 1000, u64::MAX)]);
        let samples = vec![sample(0, 20_000, "fail", Some((2, "fail")))];
        assert_eq!(fails_without_quorum(&samples, &net, NT), vec![]);
    }

    #[test]
    fn an_isolated_master_that_stays_ok_is_flagged() {
        let net = isolate_first(1000);
        // Not yet long enough to have noticed.
        assert_eq!(
            minority_masters_ok(&[sample(0, 9_000, "ok", None)], &net, NT),
            vec![]
        );
        let v = minority_masters_ok(&[sample(0, 14_000, "ok", None)], &net, NT);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].evidence.contains("node(s) [2, 3]"),
            "{}",
            v[0].evidence
        );
        // Saying fail is right; the majority side stays ok.
        assert_eq!(
            minority_masters_ok(&[sample(0, 14_000, "fail", None)], &net, NT),
            vec![]
        );
        assert_eq!(
            minority_masters_ok(&[sample(1, 14_000, "ok", None)], &net, NT),
            vec![]
        );
    }

    #[test]
    fn a_master_with_no_address_counts_in_the_size_but_is_never_cut_off() {
        // node3 crashed; node2's line lost its address (a wiped node's old identity): node1
        // reaches itself and, as Redis sees it, the noaddr master: 2 of 3.
        let net = net(&[], vec![(2, 1000, u64::MAX)]);
        let mut s = sample(0, 14_000, "ok", None);
        s.lines[1].addr = ":0".to_string();
        s.lines[1].flags.push("noaddr".to_string());
        assert_eq!(minority_masters_ok(&[s.clone()], &net, NT), vec![]);
        // Without that line only two masters remain, and one is cut off: not a majority.
        s.lines.remove(1);
        assert_eq!(minority_masters_ok(&[s], &net, NT).len(), 1);
    }
}
