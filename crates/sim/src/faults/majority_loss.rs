//! Majority loss: one window of a run in which a majority of the masters is down (crashed) or
//! split so that no side holds a majority of them. Redis Cluster then cannot elect anyone:
//! the masters left alone must stop taking writes (`cluster_state:fail` once they flag the
//! others), and service comes back only when the majority does. Safety (the loss rule, one
//! owner per slot) is checked throughout; liveness only after the heal.
//!
//! The window is cleared of every other episode and the majority rule, which the rest of the
//! schedule keeps, is waived inside it alone. Drawn on its own rng stream, so seeds that do
//! not draw it keep the schedule they had.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::episode::{Episode, EpisodeKind};
use super::model::{ClusterShape, CrashKind, FaultSchedule, TimedFault};

/// How often a seed draws a majority loss.
pub const MAJORITY_LOSS_PROBABILITY: f64 = 0.125;

/// A drawn majority loss: its episodes and the window they fill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MajorityLoss {
    /// When it starts: virtual ms since the safety phase started.
    pub start_ms: u64,
    /// When every part of it is undone.
    pub end_ms: u64,
    /// Its crashes of a majority of masters, or its three-way split.
    pub episodes: Vec<Episode>,
}

impl MajorityLoss {
    /// Whether `episode` runs at any time of the window (with a node timeout of margin on
    /// each side, so nothing else is still settling when it starts or already starting when
    /// it ends).
    pub fn overlaps(&self, episode: &Episode, margin_ms: u64) -> bool {
        let from = self.start_ms.saturating_sub(margin_ms);
        let to = self.end_ms + margin_ms;
        episode.start_ms <= to && from <= episode.start_ms + episode.duration_ms
    }

    /// `schedule` with the majority loss's faults added.
    pub fn add_to(&self, schedule: FaultSchedule) -> FaultSchedule {
        let mut faults: Vec<TimedFault> = schedule.0;
        faults.extend(self.episodes.iter().flat_map(Episode::expand));
        FaultSchedule::new(faults)
    }
}

/// The majority loss of `seed`, or none (most seeds, and shapes of fewer than 3 masters: with
/// 2, losing one is already losing the majority the rule is about).
pub fn draw_majority_loss(seed: u64, shape: &ClusterShape) -> Option<MajorityLoss> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4d41_4a4f_5249_5459);
    if shape.masters.len() < 3 || !rng.gen_bool(MAJORITY_LOSS_PROBABILITY) {
        return None;
    }
    Some(majority_loss(&mut rng, shape))
}

/// A majority loss drawn from `rng` (the shape has 3 masters or more).
pub(super) fn majority_loss(rng: &mut ChaCha8Rng, shape: &ClusterShape) -> MajorityLoss {
    let masters = shape.masters.len();
    assert!(
        masters >= 3,
        "{masters} masters have no majority to lose apart"
    );
    let nt = shape.node_timeout_ms.max(1);
    // Long enough for the survivors to flag the lost masters and go `fail`.
    let duration_ms = rng.gen_range(2 * nt..=4 * nt);
    let start_ms = rng.gen_range(0..=shape.span_ms.saturating_sub(duration_ms));
    let episode = |kind| Episode {
        start_ms,
        duration_ms,
        kind,
    };
    let episodes = if rng.gen_bool(0.5) {
        let mut down = shape.masters.clone();
        down.shuffle(rng);
        down.truncate(masters / 2 + 1);
        down.sort_unstable();
        let how = [CrashKind::PowerLoss, CrashKind::Process][rng.gen_range(0..2)];
        down.into_iter()
            .map(|node| episode(EpisodeKind::Crash { node, how }))
            .collect()
    } else {
        vec![episode(EpisodeKind::Partition {
            groups: split_without_majority(rng, shape),
        })]
    };
    MajorityLoss {
        start_ms,
        end_ms: start_ms + duration_ms,
        episodes,
    }
}

/// Three sides, none with a majority of the masters: masters dealt round-robin in a shuffled
/// order (3 masters: one each; 5: two, two, one), every replica on a random side.
fn split_without_majority(rng: &mut ChaCha8Rng, shape: &ClusterShape) -> Vec<Vec<usize>> {
    let mut masters = shape.masters.clone();
    masters.shuffle(rng);
    let mut groups = vec![Vec::new(); 3];
    for (i, m) in masters.into_iter().enumerate() {
        groups[i % 3].push(m);
    }
    for &(replica, _) in &shape.replica_of {
        groups[rng.gen_range(0..3)].push(replica);
    }
    for g in &mut groups {
        g.sort_unstable();
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::majority::check_majority;
    use crate::faults::testing::shape;

    #[test]
    fn some_seeds_lose_the_majority_and_break_the_rule_only_in_the_window() {
        for s in [shape(3, 1), shape(5, 0)] {
            let drawn: Vec<MajorityLoss> = (0..400)
                .filter_map(|seed| draw_majority_loss(seed, &s))
                .collect();
            assert!((25..=75).contains(&drawn.len()), "{} of 400", drawn.len());
            let (mut crashes, mut splits) = (0, 0);
            for loss in &drawn {
                let schedule = loss.add_to(FaultSchedule::default());
                assert!(check_majority(&schedule, &s).is_err(), "{loss:?}");
                let quorum = s.masters.len() / 2 + 1;
                match &loss.episodes[0].kind {
                    EpisodeKind::Crash { .. } => {
                        crashes += 1;
                        assert_eq!(loss.episodes.len(), quorum);
                    }
                    EpisodeKind::Partition { groups } => {
                        splits += 1;
                        for g in groups {
                            let held = g.iter().filter(|n| s.masters.contains(n)).count();
                            assert!(held < quorum, "{groups:?}");
                        }
                        let all: usize = groups.iter().map(Vec::len).sum();
                        assert_eq!(all, s.nodes);
                    }
                    other => panic!("{other:?}"),
                }
                assert!(loss.end_ms - loss.start_ms >= 2 * s.node_timeout_ms);
                assert!(loss.end_ms <= s.span_ms);
            }
            assert!(
                crashes > 0 && splits > 0,
                "{crashes} crashes, {splits} splits"
            );
        }
        assert_eq!(draw_majority_loss(3, &shape(2, 1)), None);
    }
}
