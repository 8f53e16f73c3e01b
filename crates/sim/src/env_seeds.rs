//! The seeds a scenario test runs, from madsim's environment variables: `MADSIM_TEST_SEED`
//! (first seed), `MADSIM_TEST_NUM` (how many) and `MADSIM_TEST_CHECK_DETERMINISM` (run each
//! under madsim's determinism check). Every `*_seed_from_env` test in sim-tests uses this, so
//! the replay line `cargo sim` prints works the same for all scenarios.

use std::future::Future;

use crate::RunReport;

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{name} must be an integer, got {text:?}")),
    )
}

/// Runs `run(seed)` for each seed the environment names (`default_seed` and `default_count`
/// when it names none); with `MADSIM_TEST_CHECK_DETERMINISM`, runs `current` (the same scenario
/// reading its seed from madsim) under madsim's determinism check instead.
pub fn reports_for_env_seeds<F>(
    default_seed: u64,
    default_count: u64,
    current: fn() -> F,
    run: impl Fn(u64) -> RunReport,
) -> Vec<RunReport>
where
    F: Future<Output = RunReport> + 'static,
{
    let first = env_u64("MADSIM_TEST_SEED").unwrap_or(default_seed);
    let count = env_u64("MADSIM_TEST_NUM").unwrap_or(default_count);
    let check = std::env::var_os("MADSIM_TEST_CHECK_DETERMINISM").is_some();
    (first..first.saturating_add(count))
        .map(|seed| {
            if check {
                madsim::runtime::Runtime::check_determinism(
                    seed,
                    madsim::Config::default(),
                    current,
                )
            } else {
                run(seed)
            }
        })
        .collect()
}
