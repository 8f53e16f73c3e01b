//! TTL checks under wrong wall clocks: a deadline is dated by the clock of the node that set
//! it and judged by the clock of the node that answers, each as the trace's clock events
//! describe it. Every case here would be judged the other way by a checker that ignored the
//! clock events.

use super::tests::{judge_clean, judge_with, ok, only, Build, X, Y};
use super::*;
use crate::violation_kind::ViolationKind;

const K: &str = "ttl:0";
const HOUR_US: i64 = 3_600_000_000;

/// `node`'s clock is stepped by `by_us` at `at_ms` (true time).
fn step(b: &mut Build, node: &str, at_ms: u64, by_us: i64) {
    b.0.clocks.set(node, at_ms * 1000, by_us, 0);
}

#[test]
fn a_reader_whose_clock_went_back_still_holds_the_key() {
    let mut b = Build::default();
    b.set(0, 0, K, (0, 10), Some(1000), ok());
    b.get(1, K, (1500, 1501), Y, Some("0.0;"));
    // True time says it expired 490 ms before the read…
    let mut on_true_time = Build::default();
    let set = on_true_time.set(0, 0, K, (0, 10), Some(1000), ok());
    let read = on_true_time.get(1, K, (1500, 1501), Y, Some("0.0;"));
    let ev = only(
        &judge_clean(&on_true_time.0),
        ViolationKind::ReadAfterExpiry,
        &on_true_time.0,
        &[set, read],
    );
    assert!(ev.contains("by the clock of 10.0.0.4:7004"), "{ev}");
    // …but node4's clock was stepped back an hour at 1 s: by it the key is far from expiry.
    step(&mut b, "node4", 1000, -HOUR_US);
    assert_eq!(judge_clean(&b.0), Judged::default());
}

#[test]
fn a_reader_whose_clock_jumped_ahead_must_not_show_the_key() {
    let mut b = Build::default();
    let set = b.set(0, 0, K, (0, 10), Some(10_000), ok());
    let read = b.get(1, K, (2000, 2001), Y, Some("0.0;"));
    assert_eq!(judge_clean(&b.0), Judged::default(), "in time by true time");
    step(&mut b, "node4", 1000, HOUR_US);
    let ev = only(
        &judge_clean(&b.0),
        ViolationKind::ReadAfterExpiry,
        &b.0,
        &[set, read],
    );
    assert!(ev.contains("ms after it surely expired"), "{ev}");
    // Read before the step, it was still fine.
    let mut before = Build::default();
    before.set(0, 0, K, (0, 10), Some(10_000), ok());
    before.get(1, K, (900, 901), Y, Some("0.0;"));
    step(&mut before, "node4", 1000, HOUR_US);
    assert_eq!(judge_clean(&before.0), Judged::default());
}

#[test]
fn a_writer_whose_clock_runs_ahead_dates_a_later_deadline() {
    let mut b = Build::default();
    // node1 is 5 s ahead from the start: `PX 1000` at true 0.1 s is a deadline at 6.1 s.
    step(&mut b, "node1", 0, 5_000_000);
    b.set(0, 0, K, (100, 110), Some(1000), ok());
    b.get(1, K, (3000, 3001), Y, Some("0.0;"));
    assert_eq!(judge_clean(&b.0), Judged::default());
    let late_read = b.get(1, K, (6200, 6201), Y, Some("0.0;"));
    only(
        &judge_clean(&b.0),
        ViolationKind::ReadAfterExpiry,
        &b.0,
        &[0, late_read],
    );
}

#[test]
fn a_key_gone_early_on_a_clock_that_jumped_was_not_lost() {
    // node1's clock jumps an hour ahead: its `PX 10000` key expires at once, in true time.
    let mut b = Build::default();
    let set = b.set(0, 0, K, (0, 10), Some(10_000), ok());
    let read = b.get(0, K, (2000, 2001), X, None);
    only(
        &judge_with(&b.0, false).0,
        ViolationKind::AckedWriteLost,
        &b.0,
        &[set, read],
    );
    step(&mut b, "node1", 1000, HOUR_US);
    assert_eq!(judge_clean(&b.0), Judged::default());
    // Stepped back an hour instead, the node must still have a `PX 1000` key after 2 s.
    let mut back = Build::default();
    let set = back.set(0, 0, K, (0, 10), Some(1000), ok());
    let read = back.get(0, K, (2000, 2001), X, None);
    assert_eq!(
        judge_clean(&back.0),
        Judged::default(),
        "expired in true time"
    );
    step(&mut back, "node1", 500, -HOUR_US);
    only(
        &judge_with(&back.0, false).0,
        ViolationKind::AckedWriteLost,
        &back.0,
        &[set, read],
    );
}

#[test]
fn a_migrated_key_may_carry_a_deadline_off_by_the_clocks_spread() {
    let mut b = Build::default();
    b.set(0, 0, K, (0, 10), Some(10_000), ok());
    b.get(1, K, (2000, 2001), Y, Some("0.0;"));
    step(&mut b, "node4", 1000, HOUR_US);
    let slot = clusterlab_core::slot::key_hash_slot(K.as_bytes());
    // MIGRATE re-dated the key by its target's clock before the read: no proof of expiry.
    b.0.migrations.push((slot, 1_500_000));
    assert_eq!(judge_clean(&b.0), Judged::default());
    // A migration of another slot, or after the read, changes nothing.
    b.0.migrations = vec![(slot + 1, 1_500_000), (slot, 3_000_000)];
    assert_eq!(judge_clean(&b.0).violations.len(), 1);
}

/// Seed 921077: a key that expired by its node's clock may have been deleted then; a step
/// back of that clock afterwards does not bring it back, so its absence is no loss.
#[test]
fn a_key_expired_before_its_clock_stepped_back_stays_gone() {
    let mut b = Build::default();
    b.set(0, 0, K, (5340, 5357), Some(728), ok());
    b.get(2, K, (6064, 6065), X, Some("0.0;"));
    b.get(2, K, (8546, 8561), X, None);
    step(&mut b, "node1", 7539, -4_278_000);
    assert_eq!(judge_clean(&b.0), Judged::default());
    // Stepped back before the deadline came, it never expired: the absence is a loss.
    let mut early = Build::default();
    let set = early.set(0, 0, K, (5340, 5357), Some(728), ok());
    let read = early.get(2, K, (8546, 8561), X, None);
    step(&mut early, "node1", 5900, -4_278_000);
    only(
        &judge_with(&early.0, false).0,
        ViolationKind::AckedWriteLost,
        &early.0,
        &[set, read],
    );
}
