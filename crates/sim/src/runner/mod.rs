//! What every scenario run shares: [`in_runtime`], the one place a madsim runtime is built for
//! a seed and a scenario's future is run to its end.

use std::future::Future;
use std::time::Duration;

use madsim::runtime::Runtime;

/// A backstop far beyond any scenario's own bounds: madsim panics past it instead of looping.
pub const RUN_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// Runs `future` in a fresh madsim runtime seeded with `seed` (default madsim config, time
/// limited by [`RUN_TIME_LIMIT`]) and returns what it returns: a [`crate::RunReport`], or a
/// scenario's richer run (timings, views to snapshot) that carries one.
pub fn in_runtime<F: Future>(seed: u64, future: F) -> F::Output {
    let mut runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.set_time_limit(RUN_TIME_LIMIT);
    runtime.block_on(future)
}
