//! The timeline of a small hand-written run: lanes, bands, marks and the page.

use super::build::*;
use super::html::*;
use super::names::*;
use super::*;
use crate::faults::{CrashKind, Fault};
use crate::report::ViolationKind;
use crate::trace::{
    Event, FaultEvent, NodeSample, Outcome, ProcessEvent, RunPhase, Sampled, TraceEvent,
};
use clusterlab_core::event::FailSource;
use clusterlab_core::ClusterEvent;

fn ev(time_ms: u64, node: &str, event: impl Into<Event>) -> TraceEvent {
    TraceEvent {
        time_us: time_ms * 1000,
        node: node.to_string(),
        event: event.into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn seen(
    short_id: &str,
    state_ok: bool,
    current_epoch: u64,
    master: bool,
    config_epoch: u64,
    slots: usize,
    ranges: &str,
    failing: &[(&str, bool)],
) -> Event {
    Event::Sample(Sampled::Seen(NodeSample {
        state_ok,
        current_epoch,
        master: Some(master),
        config_epoch,
        slots,
        ranges: ranges.to_string(),
        short_id: short_id.to_string(),
        failing: failing.iter().map(|(a, f)| (a.to_string(), *f)).collect(),
    }))
}

fn applied(fault: Fault) -> Event {
    Event::Fault(FaultEvent::Applied(fault))
}

fn request(addr: &str, args: &str, reply: &str, outcome: Outcome) -> Event {
    Event::Request(crate::trace::Request {
        addr: addr.into(),
        args: args.into(),
        reply: reply.into(),
        outcome,
    })
}

/// node2's ID (its samples show `id=bbbbbbbb`).
fn node2_id() -> clusterlab_core::NodeId {
    clusterlab_core::NodeId([b'b'; clusterlab_core::node_id::NODE_ID_LEN])
}

/// A small run: node2 crashes, node3 is cut off by a partition, node4 takes over
/// node2's slots, the writer sees errors, and one violation names node4.
fn events() -> Vec<TraceEvent> {
    vec![
        ev(0, "harness", RunPhase::Safety { span_ms: 30_000 }),
        ev(
            100,
            "node1",
            seen("aaaaaaaa", true, 3, true, 1, 5461, "0-5460", &[]),
        ),
        ev(
            100,
            "node2",
            seen("bbbbbbbb", true, 3, true, 2, 5462, "5461-10922", &[]),
        ),
        ev(
            100,
            "node4",
            seen("dddddddd", true, 3, false, 2, 0, "", &[]),
        ),
        ev(1000, "faults", applied(Fault::crash(1))),
        ev(1000, "node2", ProcessEvent::Kill(CrashKind::PowerLoss)),
        ev(
            1200,
            "writer",
            request(
                "10.0.0.2:7002",
                "SET key:1 v7",
                "io error: connection reset",
                Outcome::Io,
            ),
        ),
        ev(
            1300,
            "writer",
            request("10.0.0.1:7001", "SET key:2 v8", "+OK", Outcome::Ok),
        ),
        ev(
            1400,
            "writer",
            request(
                "10.0.0.1:7001",
                "SET key:3 v9",
                "-MOVED 1 10.0.0.2:7002",
                Outcome::Redirect,
            ),
        ),
        ev(
            2000,
            "faults",
            applied(Fault::Partition {
                groups: vec![vec![0, 1, 3], vec![2]],
            }),
        ),
        ev(
            3000,
            "node1",
            seen(
                "aaaaaaaa",
                true,
                3,
                true,
                1,
                5461,
                "0-5460",
                &[("10.0.0.2:7002", false)],
            ),
        ),
        ev(
            6000,
            "node1",
            ClusterEvent::FailMarked {
                node: node2_id(),
                source: FailSource::Quorum,
            },
        ),
        ev(
            6100,
            "node4",
            ClusterEvent::ElectionScheduled {
                delay_ms: 700,
                rank: 0,
                offset: 10,
            },
        ),
        ev(6800, "node4", ClusterEvent::ElectionStarted { epoch: 4 }),
        ev(
            6900,
            "node4",
            ClusterEvent::Promoted {
                kind: clusterlab_core::event::PromotionKind::Election,
                config_epoch: 4,
                old_master: node2_id(),
                offset: 0,
                coordinated: false,
            },
        ),
        ev(
            7000,
            "node4",
            seen(
                "dddddddd",
                true,
                4,
                true,
                4,
                5462,
                "5461-10922",
                &[("10.0.0.2:7002", true)],
            ),
        ),
        ev(
            7500,
            "node1",
            ClusterEvent::ClusterStateChanged { ok: false },
        ),
        ev(
            7600,
            "node1",
            seen("aaaaaaaa", false, 4, true, 1, 5461, "0-5460", &[]),
        ),
        ev(8000, "faults", applied(Fault::Heal)),
        ev(9000, "node2", ProcessEvent::Restart),
        ev(
            9000,
            "node2",
            ProcessEvent::Start {
                incarnation: 1,
                seed: 0,
            },
        ),
        ev(
            9500,
            "node3",
            Event::Sample(Sampled::Unreachable("timed out".into())),
        ),
        ev(
            10_000,
            "faults",
            applied(Fault::Latency {
                min_ms: 50,
                max_ms: 400,
            }),
        ),
        ev(
            12_000,
            "faults",
            applied(Fault::Latency {
                min_ms: 1,
                max_ms: 10,
            }),
        ),
        ev(
            20_000,
            "harness",
            Event::Violation(Violation::new(
                ViolationKind::StaleReplicaPromoted,
                "node4 <x> at 6.900s",
            )),
        ),
    ]
}

fn violations() -> Vec<Violation> {
    vec![Violation::new(
        ViolationKind::StaleReplicaPromoted,
        "node4 promoted at 6.900s over node3 (10.0.0.3:7003)",
    )]
}

fn kinds(marks: &[&Mark]) -> Vec<(u64, MarkKind, String)> {
    marks
        .iter()
        .map(|m| (m.time_us / 1000, m.kind, m.label.clone()))
        .collect()
}

#[test]
fn lanes_are_faults_nodes_workload_harness() {
    let tl = build(&events(), &violations());
    assert_eq!(
        tl.lanes,
        ["faults", "node1", "node2", "node3", "node4", "workload", "harness"]
    );
    assert_eq!(tl.end_us, 20_000_000);
}

#[test]
fn node_lanes_hold_failover_faults_and_violations() {
    let tl = build(&events(), &violations());
    let node4 = kinds(&tl.marks_on("node4"));
    assert!(
        node4.contains(&(6100, MarkKind::Election, "election scheduled".into())),
        "{node4:?}"
    );
    assert!(
        node4.contains(&(6800, MarkKind::Election, "election e4".into())),
        "{node4:?}"
    );
    assert!(
        node4.contains(&(6900, MarkKind::Promotion, "promoted".into())),
        "{node4:?}"
    );
    assert!(
        node4.contains(&(7000, MarkKind::Config, "→master cfg e4 +5462 slots".into())),
        "{node4:?}"
    );
    assert!(
        node4.contains(&(6900, MarkKind::Violation, "stale_replica_promoted".into())),
        "{node4:?}"
    );
    // The evidence names node3 by address: an evidence mark on its lane, not a second
    // violation.
    let node3 = kinds(&tl.marks_on("node3"));
    assert!(
        node3.contains(&(6900, MarkKind::Evidence, String::new())),
        "{node3:?}"
    );
    assert!(
        !node3.iter().any(|m| m.1 == MarkKind::Violation),
        "{node3:?}"
    );
    // node1's FAIL marking of bbbbbbbb (node2's ID from its samples) lands on node2.
    let node2 = kinds(&tl.marks_on("node2"));
    assert!(
        node2.contains(&(6000, MarkKind::FailFlag, "FAIL by node1".into())),
        "{node2:?}"
    );
    assert!(
        node2.contains(&(1000, MarkKind::Fault, "kill".into())),
        "{node2:?}"
    );
    assert!(
        node2.contains(&(1200, MarkKind::WorkloadError, String::new())),
        "{node2:?}"
    );
    assert!(
        node2.contains(&(9000, MarkKind::Lifecycle, "start".into())),
        "{node2:?}"
    );
    let node1 = kinds(&tl.marks_on("node1"));
    assert!(
        node1.contains(&(7500, MarkKind::State, "state fail".into())),
        "{node1:?}"
    );
    // Redirects are not failures.
    assert!(
        !node1.iter().any(|m| m.1 == MarkKind::WorkloadError),
        "{node1:?}"
    );
    let harness = kinds(&tl.marks_on("harness"));
    assert!(harness.contains(&(20_000, MarkKind::Violation, "stale_replica_promoted".into())));
    assert!(harness.contains(&(0, MarkKind::Phase, "safety phase".into())));
}

#[test]
fn bands_show_state_down_cut_off_flags_and_network_faults() {
    let tl = build(&events(), &violations());
    let spans = |lane: &str| -> Vec<(u64, u64, BandKind)> {
        tl.bands_on(lane)
            .iter()
            .map(|b| (b.from_us / 1000, b.to_us / 1000, b.kind))
            .collect()
    };
    let node1 = spans("node1");
    assert!(node1.contains(&(100, 7600, BandKind::StateOk)), "{node1:?}");
    assert!(
        node1.contains(&(7600, 20_000, BandKind::StateFail)),
        "{node1:?}"
    );
    let node2 = spans("node2");
    assert!(node2.contains(&(1000, 9000, BandKind::Down)), "{node2:?}");
    // node1 flagged node2 fail? at 3 s, node4 fail at 7 s; node1's empty list at 7.6 s
    // leaves node4's flag.
    assert!(
        node2.contains(&(3000, 7000, BandKind::FlaggedPfail)),
        "{node2:?}"
    );
    assert!(
        node2.contains(&(7000, 20_000, BandKind::FlaggedFail)),
        "{node2:?}"
    );
    let node3 = spans("node3");
    assert!(node3.contains(&(2000, 8000, BandKind::CutOff)), "{node3:?}");
    assert!(
        node3.contains(&(9500, 20_000, BandKind::Unreachable)),
        "{node3:?}"
    );
    let faults = spans("faults");
    assert!(
        faults.contains(&(2000, 8000, BandKind::Partition)),
        "{faults:?}"
    );
    assert!(
        faults.contains(&(10_000, 12_000, BandKind::Latency)),
        "{faults:?}"
    );
    // Workload: one failure in 1.0–1.5 s, one success at 1.3 s; the redirect not counted.
    assert_eq!(tl.buckets[2].failed, 1);
    assert_eq!(tl.buckets[2].ok, 1);
    assert_eq!(
        tl.buckets[2].errors,
        vec!["io error: connection reset".to_string()]
    );
}

#[test]
fn the_page_is_self_contained_and_holds_every_event() {
    let events = events();
    let html = render_html("campaign seed 7 <x>", &events, &violations());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>campaign seed 7 &lt;x&gt;</title>"));
    for forbidden in ["<script", "http://", "https://", "<link", "@import", "src="] {
        let outside_svg_ns = html.replace("http://www.w3.org/2000/svg", "");
        assert!(!outside_svg_ns.contains(forbidden), "{forbidden}");
    }
    // Every trace line is in the text, escaped.
    for e in &events {
        assert!(html.contains(&escape(&e.render())), "{}", e.render());
    }
    assert!(html.contains("<div class='viol'>stale_replica_promoted: node4 promoted at 6.900s"));
    // Marks carry their trace line as a tooltip.
    assert!(html.contains("<title>6.900000s node4 promoted by election replacing bbbb"));
    assert!(html.contains(">promoted</text>"));
    assert!(html.contains(">FAIL by node1</text>"));
    assert_eq!(html.matches("<svg").count(), 1);
}

#[test]
fn helpers() {
    assert_eq!(
        nodes_named("clog link node1->node12, node1"),
        vec!["node1", "node12"]
    );
    assert_eq!(nodes_named("subnode3 node"), Vec::<String>::new());
    assert_eq!(node_of_addr("10.0.0.7:7007").as_deref(), Some("node7"));
    assert_eq!(node_of_addr("10.0.0.100:1"), None);
    assert_eq!(
        times_named("at 12.345s (to 1.000s), 3s 2.5s"),
        vec![12_345_000, 1_000_000]
    );
    assert_eq!(tick_step_us(40_000_000), 2_000_000);
    assert_eq!(
        escape("<a href=\"x\">&'"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
}
