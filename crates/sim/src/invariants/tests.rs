//! Unit tests of the view, monitor, promotion, serving and connectivity checks.

use std::collections::{BTreeMap, BTreeSet};

use super::connectivity::*;
use super::monitor::*;
use super::promotions::*;
use super::served::*;
use super::views::*;
use super::*;
use crate::report::Violation;
use crate::view::parse_cluster_nodes;
use crate::view::NodeLine;

fn view(name: &str, text: &str) -> (String, Vec<NodeLine>) {
    (name.to_string(), parse_cluster_nodes(text).unwrap())
}

const A: &str = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8191\n\
                 b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
const B: &str = "a 10.0.0.1:7001@17001 master - 0 100 1 connected 0-8191\n\
                 b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 8192-16383\n";

fn names(violations: &[Violation]) -> Vec<&str> {
    names_of(violations)
}

fn names_of(violations: &[Violation]) -> Vec<&str> {
    violations.iter().map(|v| v.name()).collect()
}

#[test]
fn agreeing_views_pass() {
    assert!(views_agree(&[view("n1", A), view("n2", B)], 2).is_empty());
}

#[test]
fn each_disagreement_is_named() {
    // b thinks it also owns slot 0..=10 → disagreement; also a's view is short one node.
    let b_greedy = "a 10.0.0.1:7001@17001 master - 0 100 1 connected 11-8191\n\
                    b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 0-10 8192-16383\n";
    let v = views_agree(&[view("n1", A), view("n2", b_greedy)], 2);
    assert_eq!(names(&v), vec!["slot_agreement"]);
    assert!(
        v[0].evidence.contains("n2: a: 11-8191; b: 0-10,8192-16383"),
        "{}",
        v[0].evidence
    );

    let v = views_agree(&[view("n1", A)], 3);
    assert_eq!(names(&v), vec!["view_membership"]);
    assert!(!views_agree_quickly(&[view("n1", A)], 3));

    let uncovered = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8190\n\
                     b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
    let v = views_agree(&[view("n1", uncovered)], 2);
    assert_eq!(names(&v), vec!["slot_coverage"]);
    assert!(v[0].evidence.contains("unassigned: 8191"));

    let double = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8192\n\
                  b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
    let v = views_agree(&[view("n1", double)], 2);
    assert_eq!(names(&v), vec!["slot_double_owner"]);
    assert_eq!(v[0].evidence, "n1: slot 8192 claimed by a and b");
}

/// Seed 822415: c (a replica now) learned b's new config epoch 5 from b's takeover of other
/// slots, while its own view still gives b the slots a took at epoch 3. Redis 7.0 never
/// corrects that (b never claims them, a's claim loses to epoch 5, and nobody sends an
/// UPDATE about a lower epoch): not a disagreement. With a's epoch the higher one in c's view,
/// Redis would have taken a's claim, and it is.
#[test]
fn a_phantom_claim_redis_cannot_correct_is_no_disagreement() {
    let a_view = "a 10.0.0.1:7001@17001 myself,master - 0 0 3 connected 0-8191\n\
                  b 10.0.0.2:7002@17002 master - 0 100 5 connected 8192-16383\n\
                  c 10.0.0.3:7003@17003 slave b 0 100 5 connected\n";
    let b_view = "a 10.0.0.1:7001@17001 master - 0 100 3 connected 0-8191\n\
                  b 10.0.0.2:7002@17002 myself,master - 0 0 5 connected 8192-16383\n\
                  c 10.0.0.3:7003@17003 slave b 0 100 5 connected\n";
    let stale = "a 10.0.0.1:7001@17001 master - 0 100 3 connected\n\
                 b 10.0.0.2:7002@17002 master - 0 100 5 connected 0-16383\n\
                 c 10.0.0.3:7003@17003 myself,slave b 0 0 5 connected\n";
    let views = [view("n1", a_view), view("n2", b_view), view("n3", stale)];
    assert!(views_agree(&views, 3).is_empty());
    assert!(views_agree_quickly(&views, 3));
    assert!(!identical_ownership(&views, 3));
    // The slots n3's stale view credits to b, which does not claim them.
    assert_eq!(phantom_slots(&views), (0..=8191).collect());
    let correctable = stale.replace("master - 0 100 3 connected", "master - 0 100 6 connected");
    let views = [
        view("n1", a_view),
        view("n2", b_view),
        view("n3", &correctable),
    ];
    assert_eq!(names(&views_agree(&views, 3)), vec!["slot_agreement"]);
    assert!(!views_agree_quickly(&views, 3));
    assert!(phantom_slots(&views).is_empty());
}

#[test]
fn failing_flags_and_stale_pings() {
    let (_, lines) = view(
        "n1",
        "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8191\n\
         b 10.0.0.2:7002@17002 master,fail? - 1000 500 2 connected 8192-16383\n",
    );
    assert_eq!(
        names(&no_failing_flags("n1", &lines)),
        vec!["peer_flagged_failing"]
    );
    assert!(no_failing_flags("n1", &parse_cluster_nodes(A).unwrap()).is_empty());

    // ping sent at 1000: fine up to 1000 + timeout, stale after.
    assert!(no_stale_pings("n1", &lines, 6000, 5000).is_empty());
    let v = no_stale_pings("n1", &lines, 6001, 5000);
    assert_eq!(names(&v), vec!["ping_unanswered"]);
    assert!(
        v[0].evidence.contains("pending 5001 ms"),
        "{}",
        v[0].evidence
    );
}

fn sample(node: &str, time_ms: u64, current_epoch: u64, text: &str) -> Sample {
    Sample {
        node: node.to_string(),
        time_ms,
        lines: parse_cluster_nodes(text).unwrap(),
        current_epoch,
        cluster_state: "ok".to_string(),
    }
}

#[test]
fn one_owner_per_slot_per_epoch_across_views() {
    let mut m = SafetyMonitor::new();
    m.observe(&sample("n1", 1000, 2, A));
    m.observe(&sample("n2", 1000, 2, B));
    // b takes slots 0-10 with a higher epoch: legitimate.
    let moved = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 11-8191\n\
                 b 10.0.0.2:7002@17002 master - 0 100 3 connected 0-10 8192-16383\n";
    m.observe(&sample("n1", 2000, 3, moved));
    assert!(m.violations().is_empty(), "{:?}", m.violations());
    // c claims 5-6 at epoch 1, which a already holds at epoch 1.
    let clash = "a 10.0.0.1:7001@17001 master - 0 0 1 connected 11-8191\n\
                 c 10.0.0.3:7003@17003 myself,master - 0 0 1 connected 5-6\n";
    m.observe(&sample("n3", 2500, 3, clash));
    let v = m.violations();
    assert_eq!(names(&v), vec!["slot_epoch_conflict"]);
    assert_eq!(
        v[0].evidence,
        "slots 5-6 at config epoch 1: n1 at 1.000s says owner a (10.0.0.1:7001), \
         n3 at 2.500s says owner c (10.0.0.3:7003)"
    );
    // Seen again: reported once.
    m.observe(&sample("n3", 3000, 3, clash));
    assert_eq!(m.violations().len(), 1);
    // Epoch 0 claims are ignored.
    let zero = "d 10.0.0.4:7004@17004 myself,master - 0 0 0 connected 0-100\n";
    m.observe(&sample("n4", 3000, 3, zero));
    assert_eq!(m.violations().len(), 1);
    // Both won epoch 1 by election: a real conflict. c took it alone (TAKEOVER, a
    // collision bump): Redis separates the two afterwards.
    let agreed = |claims: &[(&str, u64)]| {
        claims
            .iter()
            .map(|&(a, e)| (a.to_string(), e))
            .collect::<BTreeSet<_>>()
    };
    m.only_agreed_epochs(agreed(&[("10.0.0.1:7001", 1), ("10.0.0.3:7003", 1)]));
    assert_eq!(m.violations().len(), 1);
    m.only_agreed_epochs(agreed(&[("10.0.0.1:7001", 1), ("10.0.0.3:7003", 2)]));
    assert!(m.violations().is_empty(), "{:?}", m.violations());
    // A third owner at epoch 1 is compared with each of the first two.
    let third = "e 10.0.0.5:7005@17005 myself,master - 0 0 1 connected 5-5\n";
    m.observe(&sample("n5", 3500, 3, third));
    m.only_agreed_epochs(agreed(&[("10.0.0.3:7003", 1), ("10.0.0.5:7005", 1)]));
    let v = m.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].evidence.contains("owner c (10.0.0.3:7003)"),
        "{}",
        v[0].evidence
    );
    assert!(
        v[0].evidence.contains("owner e (10.0.0.5:7005)"),
        "{}",
        v[0].evidence
    );
}

#[test]
fn current_epoch_must_cover_config_epochs() {
    let mut m = SafetyMonitor::new();
    m.observe(&sample("n1", 1500, 1, A));
    let v = m.violations();
    assert_eq!(names(&v), vec!["current_epoch_behind"]);
    assert_eq!(
        v[0].evidence,
        "n1 at 1.500s: cluster_current_epoch 1 but it shows b (10.0.0.2:7002) at config epoch 2"
    );
}

#[test]
fn epochs_never_decrease_even_across_restarts() {
    let mut m = SafetyMonitor::new();
    m.observe(&sample("n1", 1000, 5, A));
    m.observe(&sample("n1", 2000, 5, A));
    assert!(m.violations().is_empty());
    m.note_restart(2500, "n1");
    m.observe(&sample("n1", 3000, 4, A));
    // a's own config epoch drops from 1 to 0 (as a master).
    let lower = "a 10.0.0.1:7001@17001 myself,master - 0 0 0 connected 0-8191\n";
    m.observe(&sample("n1", 4000, 5, lower));
    let v = m.violations();
    assert_eq!(names(&v), vec!["epoch_decreased", "epoch_decreased"]);
    assert_eq!(
        v[0].evidence,
        "n1 (a): cluster_current_epoch 5 at 2.000s on n1, then 4 at 3.000s (restarted at 2.500s)"
    );
    assert_eq!(
        v[1].evidence,
        "n1 (a): own config epoch 1 at 3.000s, then 0 at 4.000s"
    );
    // A different ID on the same machine (a wiped node) starts its own history.
    let fresh = "z 10.0.0.1:7001@17001 myself,master - 0 0 0 connected\n";
    m.observe(&sample("n1", 5000, 0, fresh));
    assert_eq!(m.violations().len(), 2);
}

#[test]
fn reports_are_capped_per_name() {
    let mut m = SafetyMonitor::new();
    for i in 0..(MAX_REPORTED_PER_NAME as u64 + 3) {
        // Each a distinct (node, epochs) key.
        m.observe(&sample(&format!("n{i}"), 1000, 1, A));
    }
    let v = m.violations();
    assert_eq!(v.len(), MAX_REPORTED_PER_NAME + 1);
    assert_eq!(v.last().unwrap().evidence, "… and 3 more like the above");
}

#[test]
fn settled_masters_have_distinct_epochs() {
    assert!(config_epochs_distinct(&[view("n1", A)]).is_empty());
    let same = "a 10.0.0.1:7001@17001 myself,master - 0 0 4 connected 0-8191\n\
                b 10.0.0.2:7002@17002 master - 0 100 4 connected 8192-16383\n\
                c 10.0.0.3:7003@17003 slave a 0 100 4 connected\n";
    let v = config_epochs_distinct(&[view("n1", same), view("n2", same)]);
    assert_eq!(names(&v), vec!["config_epoch_collision"]);
    assert_eq!(
        v[0].evidence,
        "n1: masters a (10.0.0.1:7001), b (10.0.0.2:7002) share config epoch 4"
    );
}

#[test]
fn states_ok_names_the_failing_nodes() {
    let states = vec![
        ("n1".to_string(), "ok".to_string()),
        ("n2".to_string(), "fail".to_string()),
    ];
    let v = states_ok(&states, "after 25.000s");
    assert_eq!(names(&v), vec!["cluster_not_ok"]);
    assert_eq!(v[0].evidence, "after 25.000s: n2=fail (all: n1=ok n2=fail)");
    assert!(states_ok(&states[..1], "x").is_empty());
    assert_eq!(ranges_text(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
    assert_eq!(fmt_ms(12_345), "12.345s");
}

#[test]
fn the_quick_agreement_test_matches_the_full_one() {
    let b_greedy = "a 10.0.0.1:7001@17001 master - 0 100 1 connected 11-8191\n\
                    b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 0-10 8192-16383\n";
    let uncovered = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8190\n\
                     b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
    let double = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8192\n\
                  b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
    let split = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-100 101-8191\n\
                 b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
    let cases: Vec<Vec<(String, Vec<NodeLine>)>> = vec![
        vec![view("n1", A), view("n2", B)],
        vec![view("n1", A), view("n2", b_greedy)],
        vec![view("n1", A)],
        vec![view("n1", uncovered)],
        vec![view("n1", double)],
        vec![view("n1", split), view("n2", B)],
    ];
    for (i, views) in cases.iter().enumerate() {
        let count = if i == 2 { 3 } else { 2 };
        assert_eq!(
            views_agree_quickly(views, count),
            views_agree(views, count).is_empty(),
            "case {i}"
        );
    }
    assert!(views_agree_quickly(&cases[5], 2));
}

#[test]
fn serving_a_slot_needs_owning_or_importing_it_in_the_own_view() {
    // node1 owns 0-100 at epoch 1; node2 owns the rest and imports slot 5 from node1.
    let n1 = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-100\n\
              b 10.0.0.2:7002@17002 master - 0 0 2 connected 101-16383\n\
              c 10.0.0.3:7003@17003 slave b 0 0 2 connected\n";
    let n2 = "a 10.0.0.1:7001@17001 master - 0 0 1 connected 0-100\n\
              b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 101-16383 [5-<-a]\n\
              c 10.0.0.3:7003@17003 slave b 0 0 2 connected\n";
    let n3 = "a 10.0.0.1:7001@17001 master - 0 0 1 connected 0-100\n\
              b 10.0.0.2:7002@17002 master - 0 0 2 connected 101-16383\n\
              c 10.0.0.3:7003@17003 myself,slave b 0 0 2 connected\n";
    let mut samples = Vec::new();
    for t in [1000, 1600, 2200, 2800] {
        samples.push(sample("node1", t, 2, n1));
        samples.push(sample("node2", t + 10, 2, n2));
        samples.push(sample("node3", t + 20, 2, n3));
    }
    let op = |addr: &str, slot: u16, readonly: bool| ServedOp {
        addr: addr.to_string(),
        slot,
        start_ms: 1700,
        end_ms: 1710,
        readonly,
        what: "SET k v -> +OK".to_string(),
    };
    let legit = [
        op("10.0.0.1:7001", 50, false),
        // Imported slot (an ASKed request).
        op("10.0.0.2:7002", 5, false),
        // A READONLY read on a replica of the owner.
        op("10.0.0.3:7003", 200, true),
    ];
    assert!(served_unowned(&samples, &legit, 500, &[]).is_empty());
    let bad = [
        op("10.0.0.1:7001", 200, false),
        op("10.0.0.2:7002", 6, false),
        op("10.0.0.3:7003", 200, false),
        // A read on a replica of a master that does not own the slot.
        op("10.0.0.3:7003", 50, true),
    ];
    let v = served_unowned(&samples, &bad, 500, &[]);
    assert_eq!(names(&v), vec!["served_unowned_slot"; 4]);
    assert_eq!(
        v[0].evidence,
        "node1 (10.0.0.1:7001) answered SET k v -> +OK for slot 200 between 1.700s and \
         1.710s, but its own views from 1.600s to 2.200s (config epoch 1, master) give the \
         slot to b (10.0.0.2:7002) and import nothing"
    );
    // The view of 2.2 s was asked for at 2.1 s at the earliest (1.6 s plus the gap), after
    // the reply: it closes the stretch. Without a view surely taken after the reply there
    // is no verdict.
    assert!(served_unowned(&samples[..6], &bad[..1], 500, &[]).is_empty());
}

#[test]
fn ownership_changing_around_a_request_is_no_verdict() {
    let owns = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383\n";
    let lost = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected\n\
                b 10.0.0.2:7002@17002 master - 0 0 3 connected 0-16383\n";
    let promoted = "a 10.0.0.1:7001@17001 myself,master - 0 0 4 connected 0-16383\n";
    let op = ServedOp {
        addr: "10.0.0.1:7001".to_string(),
        slot: 9,
        start_ms: 1700,
        end_ms: 1710,
        readonly: false,
        what: "SET k v -> +OK".to_string(),
    };
    // Owned before, lost after: the write may have come first.
    let changed = vec![
        sample("node1", 1500, 3, owns),
        sample("node1", 2100, 3, lost),
    ];
    assert!(served_unowned(&changed, std::slice::from_ref(&op), 500, &[]).is_empty());
    // Not owned before, owned after at a new epoch (a failover): no verdict either.
    let gained = vec![
        sample("node1", 1500, 3, lost),
        sample("node1", 2100, 4, promoted),
    ];
    assert!(served_unowned(&gained, std::slice::from_ref(&op), 500, &[]).is_empty());
    // Not owned at either end at one epoch: caught.
    let never = vec![
        sample("node1", 1500, 3, lost),
        sample("node1", 2100, 3, lost),
    ];
    assert_eq!(
        served_unowned(&never, std::slice::from_ref(&op), 500, &[]).len(),
        1
    );
    // The node went down in between (seed 821297: an import opened and lost to a power loss
    // between two samples): the views around it prove nothing.
    let crashed = [("10.0.0.1:7001".to_string(), 1800)];
    assert!(served_unowned(&never, std::slice::from_ref(&op), 500, &crashed).is_empty());
    let other = [("10.0.0.2:7002".to_string(), 1800)];
    assert_eq!(served_unowned(&never, &[op], 500, &other).len(), 1);
}

fn schedule(faults: Vec<(u64, crate::faults::Fault)>) -> crate::faults::FaultSchedule {
    crate::faults::FaultSchedule::new(
        faults
            .into_iter()
            .map(|(at_ms, fault)| crate::faults::TimedFault { at_ms, fault })
            .collect(),
    )
}

#[test]
fn connectivity_replays_partitions_clogs_and_downtime() {
    use crate::faults::{Direction, Fault};
    let sched = schedule(vec![
        (
            1000,
            Fault::Partition {
                groups: vec![vec![0, 1]],
            },
        ),
        (3000, Fault::ClogLink { from: 2, to: 3 }),
        (4000, Fault::Heal),
        (
            5000,
            Fault::ClogNode {
                node: 1,
                direction: Direction::In,
            },
        ),
        (
            6000,
            Fault::Latency {
                min_ms: 50,
                max_ms: 100,
            },
        ),
        (7000, Fault::UnclogNode { node: 1 }),
        (
            99_000,
            Fault::Partition {
                groups: vec![vec![0]],
            },
        ),
    ]);
    // Schedule time 0 is run time 500; node 3 down 2.5 s to 3.5 s; span 10 s.
    let net = Connectivity::new(&sched, 4, 500, 10_000, vec![(3, 2500, 3500)]);
    assert!(net.can_send(0, 2, 1000));
    assert!(!net.can_send(0, 2, 1500) && !net.can_send(2, 0, 1500));
    assert!(net.can_send(0, 1, 1500) && net.can_send(2, 3, 1500));
    assert!(!net.can_send(2, 3, 3000), "node 3 is down");
    assert!(
        !net.can_send(2, 3, 3600) && net.can_send(3, 2, 3600),
        "one-way clog"
    );
    assert!(net.can_send(0, 2, 4600));
    assert!(
        !net.can_send(0, 1, 5600) && net.can_send(1, 0, 5600),
        "clogged in"
    );
    assert!(!net.degraded(6000) && net.degraded(6600));
    assert!(net.can_send(0, 1, 7600));
    // Everything is undone at the end of the span; later faults never apply.
    assert!(net.can_send(2, 3, 10_600) && !net.degraded(10_600));
    assert_eq!(net.last_delivery(0, 2, 1400), Some(1400));
    assert_eq!(net.last_delivery(0, 2, 4000), Some(1500));
    assert_eq!(net.last_delivery(0, 1, 6000), Some(5500));
    assert!(net.linked_throughout(0, 1, 1000, 5400));
    assert!(!net.linked_throughout(0, 1, 1000, 5600));
}

#[test]
fn a_replica_cut_off_long_must_not_beat_a_fresher_sibling() {
    use crate::faults::Fault;
    // node1 master m; node2 (r) and node3 (s) its replicas; node4 a second master.
    let replica = |me: &str| {
        let line = |id: &str, addr: &str, tail: &str| {
            let mine = if id == me { "myself," } else { "" };
            format!("{id} {addr} {mine}{tail}\n")
        };
        line(
            "m",
            "10.0.0.1:7001@17001",
            "master - 0 0 1 connected 0-8000",
        ) + &line("r", "10.0.0.2:7002@17002", "slave m 0 0 1 connected")
            + &line("s", "10.0.0.3:7003@17003", "slave m 0 0 1 connected")
            + &line(
                "b",
                "10.0.0.4:7004@17004",
                "master - 0 0 2 connected 8001-16383",
            )
    };
    let promoted = "m 10.0.0.1:7001@17001 master,fail - 0 0 1 connected\n\
                    r 10.0.0.2:7002@17002 myself,master - 0 0 3 connected 0-8000\n\
                    s 10.0.0.3:7003@17003 slave r 0 0 3 connected\n\
                    b 10.0.0.4:7004@17004 master - 0 0 2 connected 8001-16383\n";
    let samples = vec![
        sample("node2", 1000, 2, &replica("r")),
        sample("node3", 1000, 2, &replica("s")),
        sample("node2", 24_000, 2, &replica("r")),
        sample("node3", 24_000, 2, &replica("s")),
        sample("node2", 25_000, 3, promoted),
    ];
    let names: BTreeMap<String, String> = (1..=4)
        .map(|n| (format!("10.0.0.{n}:700{n}"), format!("node{n}")))
        .collect();
    // node1 → node2 cut from 2 s; node1 crashed at 20 s.
    let sched = schedule(vec![(2000, Fault::ClogLink { from: 0, to: 1 })]);
    let down = vec![(0, 20_000, u64::MAX)];
    let net = Connectivity::new(&sched, 4, 0, 30_000, down.clone());
    let writes = vec![("10.0.0.1:7001".to_string(), 10_000)];
    // Both replicas linked up to node1 at 0.9 s.
    let linked = ReplicaHistory {
        links_up: vec![("node2".to_string(), 900), ("node3".to_string(), 900)],
        ..ReplicaHistory::default()
    };
    let with_elections = |elections: &[(String, u64)]| ReplicaHistory {
        elections: elections.to_vec(),
        ..linked.clone()
    };
    let v = stale_partitioned_promotions(&samples, &net, &[], &writes, &linked, 5000, &names);
    assert_eq!(names_of(&v), vec!["stale_replica_promoted"]);
    assert_eq!(
        v[0].evidence,
        "node2 was promoted by 25.000s (replica until 24.000s) in place of its master node1 \
         (m), which it had not heard since 2.000s; its sibling node3 had heard it until \
         20.000s (with writes 10.0.0.1:7001 acknowledged since) and was up and reachable \
         throughout"
    );
    // No write in between (equal offsets), a manual failover sent to node2, a sibling
    // paused near the promotion, or latency: no verdict.
    assert!(
        stale_partitioned_promotions(&samples, &net, &[], &[], &linked, 5000, &names).is_empty()
    );
    let manual = [(1, 23_000)];
    assert!(
        stale_partitioned_promotions(&samples, &net, &manual, &writes, &linked, 5000, &names)
            .is_empty()
    );
    let mut paused = down.clone();
    paused.push((2, 21_000, 22_000));
    let net_paused = Connectivity::new(&sched, 4, 0, 30_000, paused);
    assert!(stale_partitioned_promotions(
        &samples,
        &net_paused,
        &[],
        &writes,
        &linked,
        5000,
        &names
    )
    .is_empty());
    let slow = schedule(vec![
        (2000, Fault::ClogLink { from: 0, to: 1 }),
        (
            15_000,
            Fault::Latency {
                min_ms: 100,
                max_ms: 900,
            },
        ),
    ]);
    let net_slow = Connectivity::new(&slow, 4, 0, 30_000, down.clone());
    assert!(
        stale_partitioned_promotions(&samples, &net_slow, &[], &writes, &linked, 5000, &names)
            .is_empty()
    );
    // node3 started an election of its own at 6 s (a forced manual failover in a minority,
    // say): Redis lets it schedule the next only after the retry time, 2 × max(2 × 5 s, 2 s)
    // = 20 s, plus 500 ms of delay (less a cron tick): not before 26.4 s. node2's election
    // (24.5 s) came first. One at 4 s leaves node3 free from 24.4 s, before node2's.
    let election = |node: &str, ms| (node.to_string(), ms);
    let held = [election("node3", 6000), election("node2", 24_500)];
    assert!(stale_partitioned_promotions(
        &samples,
        &net,
        &[],
        &writes,
        &with_elections(&held),
        5000,
        &names
    )
    .is_empty());
    let free = [election("node3", 4000), election("node2", 24_500)];
    let v = stale_partitioned_promotions(
        &samples,
        &net,
        &[],
        &writes,
        &with_elections(&free),
        5000,
        &names,
    );
    assert_eq!(names_of(&v), vec!["stale_replica_promoted"]);
    // node3 restarted at 18 s and its link never came up again before node1 crashed: Redis
    // counts its link down since ever, so it could run no election (seed 998868).
    let restarted = ReplicaHistory {
        starts: vec![("node3".to_string(), 0), ("node3".to_string(), 18_000)],
        ..linked.clone()
    };
    assert!(
        stale_partitioned_promotions(&samples, &net, &[], &writes, &restarted, 5000, &names)
            .is_empty()
    );
    let relinked = ReplicaHistory {
        links_up: vec![("node3".to_string(), 900), ("node3".to_string(), 18_500)],
        ..restarted
    };
    let v = stale_partitioned_promotions(&samples, &net, &[], &writes, &relinked, 5000, &names);
    assert_eq!(names_of(&v), vec!["stale_replica_promoted"]);
    // A replica cut off only briefly is not stale.
    let brief = schedule(vec![(17_000, Fault::ClogLink { from: 0, to: 1 })]);
    let net_brief = Connectivity::new(&brief, 4, 0, 30_000, down);
    assert!(stale_partitioned_promotions(
        &samples,
        &net_brief,
        &[],
        &writes,
        &linked,
        5000,
        &names
    )
    .is_empty());
}

#[test]
fn a_replica_restarted_while_its_master_was_down_must_not_take_over() {
    let replica = "m 10.0.0.1:7001@17001 master - 0 0 1 connected 0-16383\n\
                   r 10.0.0.2:7002@17002 myself,slave m 0 0 1 connected\n";
    let promoted = "m 10.0.0.1:7001@17001 master,fail - 0 0 1 connected\n\
                    r 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 0-16383\n";
    let samples = vec![
        sample("node2", 1000, 1, replica),
        sample("node2", 9000, 2, promoted),
    ];
    let names = BTreeMap::from([
        ("10.0.0.1:7001".to_string(), "node1".to_string()),
        ("10.0.0.2:7002".to_string(), "node2".to_string()),
    ]);
    let restarts = vec![("node2".to_string(), 3000)];
    // node1 paused from 2 s to 12 s: node2 never heard from it after its restart.
    let down = vec![("node1".to_string(), 2000, 12_000)];
    // node2's log: election won at 8 s.
    let won = vec![("node2".to_string(), 8000)];
    let v = stale_promotions(&samples, &restarts, &down, &won, &[], &names);
    assert_eq!(names_of(&v), vec!["stale_replica_promoted"]);
    assert_eq!(
        v[0].evidence,
        "node2 restarted at 3.000s while its master node1 (m) was down (2.000s to 12.000s), \
         and was master of 16384 slots by 9.000s without having heard from it"
    );
    // The master came back before the promotion, or went down after the restart: fine.
    let back = vec![("node1".to_string(), 2000, 8000)];
    assert!(stale_promotions(&samples, &restarts, &back, &won, &[], &names).is_empty());
    let later = vec![("node1".to_string(), 4000, 12_000)];
    assert!(stale_promotions(&samples, &restarts, &later, &won, &[], &names).is_empty());
    // No restart: an ordinary failover.
    assert!(stale_promotions(&samples, &[], &down, &won, &[], &names).is_empty());
    // An operator's TAKEOVER to node2 (index 1) since its restart excuses it; one before
    // the restart (lost with the crash) or to another node does not.
    assert!(stale_promotions(&samples, &restarts, &down, &won, &[(1, 3500)], &names).is_empty());
    // Won before the restart (the sample lagged behind), or never in the log: not this case.
    let before = vec![("node2".to_string(), 2900)];
    assert!(stale_promotions(&samples, &restarts, &down, &before, &[], &names).is_empty());
    assert!(stale_promotions(&samples, &restarts, &down, &[], &[], &names).is_empty());
    for other in [(1, 1500), (0, 3500)] {
        assert_eq!(
            stale_promotions(&samples, &restarts, &down, &won, &[other], &names).len(),
            1
        );
    }
}
