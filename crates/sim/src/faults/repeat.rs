//! Repeated failover: one shard fails over twice or more in a run. `create` gives replicas
//! higher config epochs than their masters, so the first failover of a shard can hide epoch
//! bugs (a winner that forgot to bump its epoch still outranks the old master); the second
//! one, where the former master must win back with an epoch above the first winner's, cannot.
//!
//! The schedule is fixed before the run, so it cannot name the replica that will win. It does
//! not need to: after the master crashes and comes back (as a replica of the winner), taking
//! down every replica `create` gave it takes down the winner, whichever it was, and leaves the
//! old master as the one candidate for the second failover.
//!
//! Drawn on its own rng stream, so seeds whose shape has no replicas (or that do not draw it)
//! keep the schedule they always had.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::episode::{Episode, EpisodeKind};
use super::model::{ClusterShape, CrashKind};

/// How often a seed with replicas draws a repeated failover.
pub const REPEAT_FAILOVER_PROBABILITY: f64 = 0.5;

/// The episodes of a repeated failover for `seed`, or none.
pub fn draw_repeat_failover(seed: u64, shape: &ClusterShape) -> Vec<Episode> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5245_5045_4154_0000);
    if shape.replica_of.is_empty() || !rng.gen_bool(REPEAT_FAILOVER_PROBABILITY) {
        return Vec::new();
    }
    let nt = shape.node_timeout_ms.max(1);
    let (_, master) = shape.replica_of[rng.gen_range(0..shape.replica_of.len())];
    let replicas: Vec<usize> = shape
        .replica_of
        .iter()
        .filter(|&&(_, m)| m == master)
        .map(|&(r, _)| r)
        .collect();
    // Each round is down past the failover bound of a one-replica shard (1.5 node timeouts +
    // 2.5 s, see `failover_missing`), so the liveness check can demand the failover.
    let first_ms = rng.gen_range(2 * nt..=2 * nt + nt / 2) + 2000;
    // Back, rejoined and resynced as a replica of the winner before the second round.
    let second_at = first_ms + rng.gen_range(nt..=nt + nt / 2);
    let second_ms = rng.gen_range(nt + nt / 2..=2 * nt) + 2500;
    let pause = rng.gen_bool(0.5);
    let length_ms = second_at + second_ms;
    let start_ms = rng.gen_range(0..=shape.span_ms.saturating_sub(length_ms));
    let mut episodes = vec![Episode {
        start_ms,
        duration_ms: first_ms,
        kind: EpisodeKind::Crash {
            node: master,
            how: CrashKind::PowerLoss,
        },
    }];
    episodes.extend(replicas.into_iter().map(|node| Episode {
        start_ms: start_ms + second_at,
        duration_ms: second_ms,
        kind: if pause {
            EpisodeKind::Pause { node }
        } else {
            EpisodeKind::Crash {
                node,
                how: CrashKind::PowerLoss,
            }
        },
    }));
    episodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::testing::shape;

    /// The longest the two rounds can take.
    fn second_end_max(nt: u64) -> u64 {
        (2 * nt + nt / 2 + 2000) + (nt + nt / 2) + (2 * nt + 2500)
    }

    #[test]
    fn the_master_then_every_replica_of_its_shard_go_down_in_the_span() {
        assert!((0..50).all(|seed| draw_repeat_failover(seed, &shape(3, 0)).is_empty()));
        let s = shape(3, 2);
        let nt = s.node_timeout_ms;
        let drawn: Vec<Vec<Episode>> = (0..60).map(|seed| draw_repeat_failover(seed, &s)).collect();
        let some = drawn.iter().filter(|e| !e.is_empty()).count();
        assert!((15..=45).contains(&some), "{some} of 60 seeds");
        for episodes in drawn.iter().filter(|e| !e.is_empty()) {
            let EpisodeKind::Crash { node: master, .. } = episodes[0].kind else {
                panic!("{episodes:?}")
            };
            let first_end = episodes[0].start_ms + episodes[0].duration_ms;
            assert!(episodes[0].duration_ms >= 2 * nt);
            assert_eq!(
                episodes.len(),
                3,
                "both replicas of the shard: {episodes:?}"
            );
            for second in &episodes[1..] {
                let node = match second.kind {
                    EpisodeKind::Crash { node, .. } | EpisodeKind::Pause { node } => node,
                    ref other => panic!("{other:?}"),
                };
                assert!(s.replica_of.contains(&(node, master)));
                // The master is back at least a node timeout before the second round, which
                // is long enough for the others to fail the winner.
                assert!(second.start_ms >= first_end + nt);
                assert!(second.duration_ms >= nt + nt / 2 + 2500);
                // Past the span only when the rounds cannot fit in it.
                assert!(second.start_ms + second.duration_ms <= s.span_ms.max(second_end_max(nt)));
            }
        }
    }
}
