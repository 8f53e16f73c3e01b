//! Failure detection judged against ground truth: what a node *said* against what the
//! replayed fault schedule ([`Connectivity`]) made possible.
//!
//! `minority_master_ok`: a master serving slots reports `cluster_state:ok` although a
//! majority of the slot-serving masters have been silent towards it for long enough that it
//! must have flagged them. Redis 7.0's `clusterCron` flags a peer PFAIL only when a ping to
//! it is pending *and* nothing at all came from it (`data_received`, any packet on any link)
//! for the node timeout: a master whose own traffic is cut but which still hears its peers
//! never flags them and rightly stays ok. So the check asks for silence in the peer-to-node
//! direction (or the peer down), not for a cut either way. Latency adds to the time to
//! notice (the last packets sent before the cut still arrive); it never silences the check.
//!
//! `pfail_without_silence` ([`pfails_without_silence`]): a node flags a peer PFAIL although
//! both ran and both directions delivered all along.
//!
//! Whether a FAIL was reached by a valid quorum is judged from the nodes' own events, at the
//! moment they decided (`crate::event_checks`), not here.

mod pfail;
mod stalls;

pub use pfail::pfails_without_silence;
pub use stalls::{sync_stalls, sync_stalls_ms};

use crate::invariants::{fmt_ms, Connectivity, Sample};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};

/// The longest unbroken stretch within `[from_ms, to_ms]` in which nothing `from` sent could
/// reach `to` (`from` or `to` down, or traffic between them cut in that direction).
pub fn longest_silence_ms(
    net: &Connectivity,
    from: usize,
    to: usize,
    from_ms: u64,
    to_ms: u64,
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
        run = if net.can_send(from, to, w[0]) {
            0
        } else {
            run + (w[1] - w[0])
        };
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

/// Extra time for cron ticks and the state update after the PFAIL.
const SLACK_MS: u64 = 2000;

/// `minority_master_ok` over all samples.
pub fn minority_masters_ok(samples: &[Sample], net: &Connectivity, nt: u64) -> Vec<Violation> {
    let mut out = Vec::new();
    for s in samples.iter().filter(|s| s.cluster_state == "ok") {
        let (Some(me), Some(index)) = (s.myself(), NodeIdx::from_name(&s.node).map(|n| n.0)) else {
            continue;
        };
        // Silence noticed: a ping pending within node_timeout / 2, PFAIL node_timeout later;
        // packets already on their way when the silence began arrive up to the latency later.
        let base_ms = 2 * nt + SLACK_MS;
        let from_ms = s.time_ms.saturating_sub(base_ms);
        let notice_ms = base_ms + net.max_latency_ms(from_ms, s.time_ms);
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
        let silent: Vec<usize> = masters
            .iter()
            .flatten()
            .copied()
            .filter(|&m| longest_silence_ms(net, m, index, from_ms, s.time_ms) >= notice_ms)
            .collect();
        let reachable = size - silent.len();
        if reachable < size / 2 + 1 {
            out.push(Violation::new(
                ViolationKind::MinorityMasterOk,
                format!(
                    "node{} at {} says cluster_state:ok serving slots, but has heard nothing from \
                     node(s) {:?} ({} of {size} slot-serving masters) since {}",
                    index + 1,
                    fmt_ms(s.time_ms),
                    silent.iter().map(|n| n + 1).collect::<Vec<_>>(),
                    silent.len(),
                    fmt_ms(from_ms),
                ),
            ));
        }
    }
    out
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
    fn silence_is_directional_and_follows_the_schedule() {
        let clog = net(
            &[
                (1000, Fault::ClogLink { from: 0, to: 1 }),
                (3000, Fault::UnclogLink { from: 0, to: 1 }),
            ],
            Vec::new(),
        );
        assert_eq!(longest_silence_ms(&clog, 0, 1, 0, 10_000), 2000);
        assert_eq!(
            longest_silence_ms(&clog, 1, 0, 0, 10_000),
            0,
            "the other way delivers"
        );
        let down = net(&[], vec![(2, 1000, 4000)]);
        assert_eq!(longest_silence_ms(&down, 2, 0, 0, 10_000), 3000);
        // Loss and latency delay packets; they do not stop them.
        let lossy = net(&[(0, Fault::PacketLoss { permille: 50 })], Vec::new());
        assert_eq!(longest_silence_ms(&lossy, 0, 1, 0, 4000), 0);
        let slow = net(
            &[(
                500,
                Fault::Latency {
                    min_ms: 100,
                    max_ms: 900,
                },
            )],
            Vec::new(),
        );
        assert_eq!(
            slow.max_latency_ms(0, 400),
            crate::faults::DEFAULT_LATENCY_MS.1
        );
        assert_eq!(slow.max_latency_ms(0, 4000), 900);
    }

    #[test]
    fn node_indices_come_from_addresses_and_names() {
        assert_eq!(NodeIdx::from_addr("10.0.0.3:7003").map(|n| n.0), Some(2));
        assert_eq!(NodeIdx::from_addr("127.0.0.1:7003").map(|n| n.0), None);
        assert_eq!(NodeIdx::from_name("node12").map(|n| n.0), Some(11));
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
            v[0].evidence.contains("heard nothing from node(s) [2, 3]"),
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

    /// Seed 300330: node1's outgoing traffic is clogged but it still hears both peers'
    /// pings, so by Redis's rule (PFAIL needs no data received either) it never flags them
    /// and stays ok; only when what they send stops reaching it must it notice.
    #[test]
    fn a_master_that_still_hears_its_peers_may_stay_ok() {
        let out = Fault::ClogNode {
            node: 0,
            direction: crate::faults::Direction::Out,
        };
        let clogged_out = net(&[(1000, out)], Vec::new());
        assert_eq!(
            minority_masters_ok(&[sample(0, 20_000, "ok", None)], &clogged_out, NT),
            vec![]
        );
        let into = Fault::ClogNode {
            node: 0,
            direction: crate::faults::Direction::In,
        };
        let clogged_in = net(&[(1000, into)], Vec::new());
        let v = minority_masters_ok(&[sample(0, 14_000, "ok", None)], &clogged_in, NT);
        assert_eq!(v.len(), 1, "{v:?}");
        // Latency adds to the time to notice: 900 ms more, so 14 s is not yet late.
        let slow_in = net(
            &[
                (
                    0,
                    Fault::Latency {
                        min_ms: 100,
                        max_ms: 900,
                    },
                ),
                (
                    1000,
                    Fault::ClogNode {
                        node: 0,
                        direction: crate::faults::Direction::In,
                    },
                ),
            ],
            Vec::new(),
        );
        let sample_ms = 1000 + 2 * NT + SLACK_MS + 500;
        assert_eq!(
            minority_masters_ok(&[sample(0, sample_ms, "ok", None)], &slow_in, NT),
            vec![]
        );
        assert_eq!(
            minority_masters_ok(&[sample(0, sample_ms + 1000, "ok", None)], &slow_in, NT).len(),
            1
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
