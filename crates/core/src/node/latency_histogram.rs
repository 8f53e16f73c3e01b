//! Per-command latency distributions for `LATENCY HISTOGRAM`, reported the way Redis 7.0
//! reports its HdrHistograms: powers of two from 1024 ns, each level's bound printed as the
//! highest value the histogram could not tell from it (two significant digits), in µs.
//!
//! Redis records nanoseconds (its µs measurement × 1000, clamped to 1 ns .. 1 s) into an
//! HdrHistogram and walks it logarithmically; a value counts at the first level whose
//! bucket's highest equivalent value reaches it. Only those cumulative counts are ever
//! shown, so one counter per level keeps exactly what the reply needs.

/// The first level, 2^10 ns.
const FIRST_LEVEL_LOG2: u32 = 10;
/// Levels up to 2^30 ns, past Redis's 1 s ceiling.
const LEVELS: usize = 21;
/// Redis clamps recorded values to this (`LATENCY_HISTOGRAM_MAX_VALUE`, 1 s in ns).
const MAX_VALUE_NS: u64 = 1_000_000_000;
/// The histogram's range ends below 2^30 (23 buckets of 256 sub-buckets).
const RANGE_END_NS: u64 = 1 << 30;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Calls per level (not cumulative).
    counts: [u64; LEVELS],
    calls: u64,
}

/// The highest value an HdrHistogram of 2 significant digits (256 sub-buckets, unit 1 ns)
/// cannot tell from 2^k: 2^k plus its sub-bucket width less one, within the range.
fn level_highest_ns(level: usize) -> u64 {
    let k = FIRST_LEVEL_LOG2 + level as u32;
    let value: u64 = 1 << k;
    (value + (value >> 7) - 1).min(RANGE_END_NS - 1)
}

impl LatencyHistogram {
    /// One call that took `duration_us`.
    pub fn record(&mut self, duration_us: u64) {
        let ns = duration_us.saturating_mul(1000).clamp(1, MAX_VALUE_NS);
        let level = (0..LEVELS)
            .find(|&l| ns <= level_highest_ns(l))
            .unwrap_or(LEVELS - 1);
        self.counts[level] += 1;
        self.calls += 1;
        debug_assert_eq!(self.counts.iter().sum::<u64>(), self.calls);
    }

    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// `(µs bound, cumulative calls)` for each level where the count grows, as Redis lists them.
    pub fn cumulative_us(&self) -> Vec<(u64, u64)> {
        let mut rows = Vec::new();
        let mut cumulative = 0;
        for (level, &count) in self.counts.iter().enumerate() {
            cumulative += count;
            if count > 0 {
                rows.push((level_highest_ns(level) / 1000, cumulative));
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_print_redis_bounds() {
        let bounds: Vec<u64> = (0..LEVELS).map(|l| level_highest_ns(l) / 1000).collect();
        assert_eq!(
            bounds,
            vec![
                1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633,
                135266, 270532, 541065, 1073741
            ]
        );
    }

    #[test]
    fn calls_count_at_the_first_level_that_holds_them() {
        let mut h = LatencyHistogram::default();
        for us in [0, 1, 1, 2, 3, 33, 34, 5_000_000] {
            h.record(us);
        }
        // 0 and 1 µs under 1.031 µs; 2 µs under 2.063; 3 µs under 4.127; 33 µs under
        // 33.023; 34 µs under 66.047; 5 s clamped to 1 s, under 1073.741 ms.
        assert_eq!(
            h.cumulative_us(),
            vec![(1, 3), (2, 4), (4, 5), (33, 6), (66, 7), (1073741, 8)]
        );
        assert_eq!(h.calls(), 8);
    }
}
