//! Shrinking without proptest: [`shrink`] greedily drops chunks of an explicit schedule (a
//! swarm one, or one from a seed file) while it still fails and still keeps the majority rule,
//! so a failing seed is saved with the few faults that matter.

use super::majority::check_majority;
use super::model::{ClusterShape, FaultSchedule};

/// Greedy shrinking of an explicit schedule (a swarm one, or one from a seed file): tries
/// dropping halves, then quarters, … then single faults, keeping every smaller schedule that
/// still satisfies the majority rule and still `fails`. Runs `fails` at most `max_runs` times.
/// Returns the smallest failing schedule found and how many runs it took.
pub fn shrink(
    schedule: &FaultSchedule,
    shape: &ClusterShape,
    max_runs: usize,
    mut fails: impl FnMut(&FaultSchedule) -> bool,
) -> (FaultSchedule, usize) {
    let mut best = schedule.clone();
    let mut runs = 0;
    let mut chunk = best.len().div_ceil(2).max(1);
    loop {
        let mut progressed = false;
        let mut start = 0;
        while start < best.len() && runs < max_runs {
            let end = (start + chunk).min(best.len());
            let mut candidate = best.0.clone();
            candidate.drain(start..end);
            let candidate = FaultSchedule(candidate);
            if check_majority(&candidate, shape).is_ok() {
                runs += 1;
                if fails(&candidate) {
                    best = candidate;
                    progressed = true;
                    continue; // same start: the next chunk slid into place
                }
            }
            start = end;
        }
        if runs >= max_runs || best.is_empty() {
            break;
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    (best, runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::swarm::swarm;
    use crate::faults::testing::shape;

    #[test]
    fn shrink_finds_the_one_guilty_fault() {
        let s = shape(3, 0);
        let schedule = swarm(3, &s);
        let guilty = schedule.0[schedule.len() / 2].clone();
        let (small, runs) = shrink(&schedule, &s, 200, |c| c.0.contains(&guilty));
        assert_eq!(small.0, vec![guilty]);
        assert!(
            runs <= 2 * schedule.len() + 10,
            "{runs} runs for {}",
            schedule.len()
        );
        // The budget is respected.
        let (_, runs) = shrink(&schedule, &s, 3, |_| false);
        assert!(runs <= 3);
    }
}
