//! The worker pool `sim run` and `sim canary` share: a local rayon pool of `--jobs` threads
//! that takes items in order, as a shared queue would (the first `jobs` items start at once,
//! then each worker that finishes takes the next one), and returns the results in item order.
//! Every item runs from start to end on one worker thread, which a madsim runtime needs: it
//! runs on the thread that calls it.

use rayon::iter::{ParallelBridge, ParallelIterator};

/// The number of workers for `--jobs requested`: 0 means one per CPU.
pub fn jobs(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `f` on every item, `jobs` at a time, and returns the results in item order.
pub fn map_in_order<T, R>(jobs: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .expect("the worker threads start");
    // `par_bridge` hands out the items one at a time, in order (a plain `par_iter` would split
    // the list in halves, so the second worker would start in the middle of it).
    let mut results: Vec<(usize, R)> = pool.install(|| {
        items
            .iter()
            .enumerate()
            .par_bridge()
            .map(|(i, item)| (i, f(item)))
            .collect()
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_item_order() {
        let items: Vec<u64> = (0..50).collect();
        let squares = map_in_order(3, &items, |&x| {
            // Uneven work, so workers finish out of order.
            std::thread::sleep(std::time::Duration::from_millis((50 - x) % 7));
            x * x
        });
        assert_eq!(squares, items.iter().map(|x| x * x).collect::<Vec<_>>());
        assert!(map_in_order(2, &[] as &[u64], |&x| x).is_empty());
        assert_eq!(jobs(3), 3);
        assert!(jobs(0) >= 1);
    }
}
