//! Clock faults for swarm generation: wall clocks set wrong from the start, stepped forward
//! or back (by a fraction of a second up to several node timeouts, now and then by hours),
//! sometimes stepped back again later as NTP would, and drifting by up to a few hundred ppm.
//!
//! Drawn on their own rng stream and added after every other kind, so seeds that draw none
//! keep the schedule they always had. They never count against the majority rule: clusterlab
//! measures timeouts with a monotonic clock, so a wrong wall clock takes no node down.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::episode::{Episode, EpisodeKind};
use super::model::{ClusterShape, FaultSchedule};

/// How often a seed draws clock faults at all.
pub const CLOCK_FAULT_PROBABILITY: f64 = 0.5;

/// Most drift rate drawn, in ppm (a cheap crystal off by a few hundred).
pub const MAX_DRIFT_PPM: i32 = 500;

const HOUR_MS: i64 = 3_600_000;

/// The clock episodes of `seed`, or none.
pub fn draw_clock_faults(seed: u64, shape: &ClusterShape) -> Vec<Episode> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x434c_4f43_4b00_0000);
    if shape.nodes == 0 || !rng.gen_bool(CLOCK_FAULT_PROBABILITY) {
        return Vec::new();
    }
    let mut episodes = Vec::new();
    if rng.gen_bool(0.3) {
        // Machines whose clocks were never right: a constant offset from the start.
        for node in 0..shape.nodes {
            if rng.gen_bool(0.5) {
                let size_ms = rng.gen_range(1..=120_000);
                let by_ms = signed(&mut rng, size_ms);
                episodes.push(episode(0, 0, EpisodeKind::ClockJump { node, by_ms }));
            }
        }
    }
    for _ in 0..rng.gen_range(0..=3) {
        episodes.push(draw_jump(&mut rng, shape));
    }
    for _ in 0..rng.gen_range(0..=2) {
        episodes.push(draw_drift(&mut rng, shape));
    }
    episodes
}

/// One step of a node's clock: ±(100 ms … 4 node timeouts), or ±(1 … 3 hours) one time in
/// seven; half of them are stepped back later.
pub(super) fn draw_jump(rng: &mut impl Rng, shape: &ClusterShape) -> Episode {
    let nt = shape.node_timeout_ms.max(1);
    let node = rng.gen_range(0..shape.nodes.max(1));
    let size_ms = if rng.gen_bool(1.0 / 7.0) {
        rng.gen_range(HOUR_MS..=3 * HOUR_MS)
    } else {
        rng.gen_range(100..=4 * nt as i64)
    };
    let by_ms = signed(rng, size_ms);
    let start_ms = rng.gen_range(0..shape.span_ms.max(1));
    let duration_ms = if rng.gen_bool(0.5) {
        0
    } else {
        rng.gen_range(nt / 2..=3 * nt)
    };
    episode(
        start_ms,
        duration_ms,
        EpisodeKind::ClockJump { node, by_ms },
    )
}

/// A node's clock running fast or slow by up to [`MAX_DRIFT_PPM`] for a while.
pub(super) fn draw_drift(rng: &mut impl Rng, shape: &ClusterShape) -> Episode {
    let nt = shape.node_timeout_ms.max(1);
    let node = rng.gen_range(0..shape.nodes.max(1));
    let size_ppm = rng.gen_range(1..=MAX_DRIFT_PPM);
    let ppm = signed(rng, i64::from(size_ppm)) as i32;
    let start_ms = rng.gen_range(0..shape.span_ms.max(1));
    let duration_ms = rng.gen_range(nt..=3 * nt);
    episode(start_ms, duration_ms, EpisodeKind::ClockDrift { node, ppm })
}

fn signed(rng: &mut impl Rng, size: i64) -> i64 {
    if rng.gen_bool(0.5) {
        size
    } else {
        -size
    }
}

fn episode(start_ms: u64, duration_ms: u64, kind: EpisodeKind) -> Episode {
    Episode {
        start_ms,
        duration_ms,
        kind,
    }
}

/// `schedule` with the faults of `clocks` added, dropping a drift that overlaps an earlier
/// one of the same clock.
pub fn with_clock_faults(schedule: FaultSchedule, clocks: &[Episode]) -> FaultSchedule {
    let mut kept: Vec<&Episode> = Vec::new();
    let mut faults = schedule.0;
    for e in clocks {
        if kept.iter().any(|k| k.conflicts_with(e)) {
            continue;
        }
        kept.push(e);
        faults.extend(e.expand());
    }
    FaultSchedule::new(faults)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::testing::shape;
    use crate::faults::Fault;

    #[test]
    fn half_the_seeds_skew_clocks_within_the_drawn_bounds() {
        let s = shape(3, 1);
        let (mut skewed, mut hours, mut backward, mut from_start, mut drifts) = (0, 0, 0, 0, 0);
        for seed in 0..400 {
            let episodes = draw_clock_faults(seed, &s);
            assert_eq!(episodes, draw_clock_faults(seed, &s));
            skewed += usize::from(!episodes.is_empty());
            let schedule = with_clock_faults(FaultSchedule::default(), &episodes);
            schedule.validate(s.nodes).unwrap();
            for f in schedule.iter() {
                match f.fault {
                    Fault::ClockJump { by_ms, .. } => {
                        assert!((100..=3 * HOUR_MS).contains(&by_ms.abs()) || f.at_ms == 0);
                        hours += usize::from(by_ms.abs() >= HOUR_MS);
                        backward += usize::from(by_ms < 0);
                        from_start += usize::from(f.at_ms == 0);
                    }
                    Fault::ClockDrift { ppm, .. } => {
                        assert!(ppm.abs() <= MAX_DRIFT_PPM);
                        drifts += usize::from(ppm != 0);
                    }
                    _ => panic!("not a clock fault: {}", f.fault),
                }
            }
        }
        assert!((150..=250).contains(&skewed), "{skewed} of 400");
        assert!(hours > 10 && backward > 50 && from_start > 10 && drifts > 50);
    }
}
