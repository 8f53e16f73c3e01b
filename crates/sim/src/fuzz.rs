//! The schedule search: proptest generates fault schedules for a scenario, each case runs the
//! scenario in a fresh madsim runtime, and a failing case is shrunk by proptest to a minimal
//! schedule, which becomes a seed record (saved under `seeds/` when asked) with the one command
//! that replays it. `sim-tests` and `clusterlab sim fuzz` both run the search through [`fuzz`].
//!
//! The proptest runner is seeded ([`FuzzConfig::seed`]), so a search is itself reproducible:
//! the same seed, case count and scenario explore the same schedules.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

use crate::faults::{ClusterShape, FaultKind, FaultSchedule};
use crate::invariants::failover::LossWindows;
use crate::scenario::{self, failover, SCENARIOS};
use crate::seeds::{save_new, Saved};
use crate::{RunReport, SeedRecord, SimConfig, Violation, ViolationKind};

/// Scenarios the search can drive: those of the registry that take a fault schedule.
pub fn fuzz_scenarios() -> Vec<&'static str> {
    let shape = ClusterShape::of(&SimConfig::default());
    SCENARIOS
        .iter()
        .filter(|s| s.schedule_strategy(&shape).is_some())
        .map(|s| s.name())
        .collect()
}

/// How a search runs.
#[derive(Clone, Debug)]
pub struct FuzzConfig {
    /// The cluster every case runs on (the `failover` scenario adds a replica per master when
    /// this has none).
    pub sim: SimConfig,
    /// Seeds proptest's runner: the same seed explores the same schedules.
    pub seed: u64,
    /// At most this many reruns to shrink a failing case.
    pub max_shrink_iters: u32,
    /// Where a minimal failing case is saved (`None`: not saved).
    pub seeds_dir: Option<PathBuf>,
}

impl Default for FuzzConfig {
    fn default() -> Self {
        FuzzConfig {
            sim: SimConfig::default(),
            seed: 0,
            max_shrink_iters: 64,
            seeds_dir: None,
        }
    }
}

/// One case run (shrinking reruns included), in the order they ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseSummary {
    /// The run seed of the case (drawn by proptest; shrinking keeps it).
    pub seed: u64,
    /// Number of faults in its schedule.
    pub faults: usize,
    /// The fault kinds of its schedule, sorted.
    pub kinds: Vec<FaultKind>,
    /// Names of the violations it reported, in order (empty: the case passed).
    pub violations: Vec<String>,
    /// Virtual time the run simulated, in ms.
    pub virtual_ms: u64,
    /// The run's [`RunReport::trace_hash`].
    pub trace_hash: u64,
    /// The schedule it ran.
    pub schedule: FaultSchedule,
    /// Its loss windows (`failover` scenario only; `None` for the others).
    pub windows: Option<LossWindows>,
}

/// A minimal failing case.
#[derive(Clone, Debug)]
pub struct FuzzFailure {
    /// The record that replays it (`expectation` names its first violation).
    pub record: SeedRecord,
    /// Every violation the minimal case reported.
    pub violations: Vec<Violation>,
    /// Where it was saved (or the file that already held it), if saving was asked.
    pub saved: Option<PathBuf>,
    /// Why it could not be saved.
    pub save_error: Option<String>,
    /// The shell command that replays it.
    pub replay: String,
    /// proptest's message for the minimal case.
    pub reason: String,
}

/// What a search found.
#[derive(Clone, Debug, Default)]
pub struct FuzzOutcome {
    /// Every run, shrinking reruns included.
    pub runs: Vec<CaseSummary>,
    /// Loss windows over every run of the `failover` scenario.
    pub windows: LossWindows,
    /// The first failing case, shrunk (`None`: every case passed).
    pub failure: Option<FuzzFailure>,
}

impl FuzzOutcome {
    /// Whether every case passed.
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// The command that replays a seed file.
pub fn replay_command(path: &Path) -> String {
    format!(
        "RUSTFLAGS=\"--cfg madsim\" cargo run --release --target-dir target/sim -p clusterlab -- \
         sim replay {}",
        path.display()
    )
}

/// The cluster `scenario` runs on for `config`.
pub fn scenario_config(scenario: &str, config: &SimConfig) -> SimConfig {
    scenario::find(scenario).map_or_else(|| config.clone(), |s| s.effective_config(config))
}

/// The schedule strategy of `scenario`.
pub fn strategy_for(
    scenario: &str,
    config: &SimConfig,
) -> Result<BoxedStrategy<FaultSchedule>, String> {
    let shape = ClusterShape::of(&scenario_config(scenario, config));
    scenario::find(scenario)
        .and_then(|s| s.schedule_strategy(&shape))
        .ok_or_else(|| {
            format!(
                "scenario {scenario:?} takes no fault schedule; fuzz knows {}",
                fuzz_scenarios().join(", ")
            )
        })
}

/// Runs `scenario` once with `schedule`; a panic inside the run is reported as a violation
/// (`run_panicked`) so it shrinks like any other failure.
pub fn run_case(
    scenario: &str,
    seed: u64,
    config: &SimConfig,
    schedule: &FaultSchedule,
) -> (RunReport, Option<LossWindows>) {
    let config = scenario_config(scenario, config);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The failover scenario also measures loss windows: run it for those.
        if scenario == failover::NAME {
            let run = failover::run(seed, &config, Some(schedule.clone()));
            return (run.report, Some(run.windows));
        }
        let report = scenario::find(scenario)
            .ok_or_else(|| format!("unknown scenario {scenario:?}"))
            .and_then(|s| s.run_with_schedule(seed, &config, schedule.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        (report, None)
    }));
    result.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string());
        let report = RunReport {
            seed,
            scenario: scenario.to_string(),
            violations: vec![Violation::new(ViolationKind::RunPanicked, message)],
            ..RunReport::default()
        };
        (report, None)
    })
}

/// Searches `cases` schedules of `scenario` (see the module docs). Each case is a schedule
/// from the scenario's strategy and a run seed; the first failing case is shrunk (schedule
/// only: the seed stays) and returned as [`FuzzOutcome::failure`].
pub fn fuzz(cases: u32, scenario: &str, config: &FuzzConfig) -> Result<FuzzOutcome, String> {
    let strategy = (
        strategy_for(scenario, &config.sim)?,
        (0u64..1_000_000).no_shrink(),
    );
    let sim = scenario_config(scenario, &config.sim);
    let runner_config = Config {
        cases,
        max_shrink_iters: config.max_shrink_iters,
        failure_persistence: None,
        ..Config::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&config.seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(runner_config, rng);
    let outcome = RefCell::new(FuzzOutcome::default());
    let result = runner.run(&strategy, |(schedule, seed)| {
        let (report, windows) = run_case(scenario, seed, &sim, &schedule);
        let names: Vec<String> = report
            .violations
            .iter()
            .map(|v| v.name().to_string())
            .collect();
        let mut out = outcome.borrow_mut();
        if let Some(w) = &windows {
            out.windows.merge(w);
        }
        out.runs.push(CaseSummary {
            seed,
            faults: schedule.len(),
            kinds: schedule.fault_kinds(),
            violations: names.clone(),
            virtual_ms: report.virtual_ms,
            trace_hash: report.trace_hash,
            schedule: schedule.clone(),
            windows,
        });
        prop_assert!(names.is_empty(), "violations {:?}", names);
        Ok(())
    });
    let mut outcome = outcome.into_inner();
    match result {
        Ok(()) => Ok(outcome),
        Err(TestError::Fail(reason, (schedule, seed))) => {
            outcome.failure = Some(failure(
                scenario,
                &sim,
                config,
                seed,
                schedule,
                reason.to_string(),
            ));
            Ok(outcome)
        }
        Err(TestError::Abort(reason)) => Err(format!("proptest aborted: {reason}")),
    }
}

/// Reruns the minimal case for its violations and makes (and saves) its seed record.
fn failure(
    scenario: &str,
    sim: &SimConfig,
    config: &FuzzConfig,
    seed: u64,
    schedule: FaultSchedule,
    reason: String,
) -> FuzzFailure {
    let (report, _) = run_case(scenario, seed, sim, &schedule);
    let first = report
        .violations
        .first()
        .map_or("unknown".to_string(), |v| v.name().to_string());
    let record = SeedRecord {
        seed,
        scenario: scenario.to_string(),
        config: sim.clone(),
        schedule: Some(schedule.clone()),
        expectation: format!("violation:{first}"),
        note: format!(
            "Found and shrunk to {} faults by the schedule search (clusterlab sim fuzz, runner \
             seed {}): {}",
            schedule.len(),
            config.seed,
            report
                .violations
                .first()
                .map_or(reason.clone(), |v| v.to_string())
        ),
    };
    let (mut saved, mut save_error) = (None, None);
    if let Some(dir) = &config.seeds_dir {
        match save_new(dir, &record) {
            Ok(Saved::Written(path)) | Ok(Saved::Known(path)) => saved = Some(path),
            Err(e) => save_error = Some(e),
        }
    }
    let replay = match &saved {
        Some(path) => replay_command(path),
        None => format!(
            "save this record to seeds/<file>.json, then: {}",
            replay_command(Path::new("seeds/<file>.json"))
        ),
    };
    FuzzFailure {
        record,
        violations: report.violations,
        saved,
        save_error,
        replay,
        reason,
    }
}
