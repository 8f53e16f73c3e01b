//! `clusterlab sim …`: simulation campaigns, replays and merged results.
//!
//! - `sim run` runs a scenario (the randomized `campaign` by default) for a range of seeds,
//!   each in its own madsim runtime, `--jobs` at a time; shows progress, then a summary
//!   (violations by name, virtual time simulated, virtual:wall ratio, seeds/minute, a combined
//!   trace hash) and exits 1 when any seed reports a violation (a panic counts as one). Every
//!   failing seed prints one line that replays it and is saved to `seeds/` (for the campaign
//!   with its fault schedule shrunk first). `--shard i/n` runs every n-th seed so a batch
//!   scheduler can split one campaign across machines; `--json` writes one JSON line per seed.
//! - `sim list` prints every scenario of the registry (`clusterlab_sim::scenario::SCENARIOS`)
//!   with what it does; `--scenario` accepts exactly these.
//! - `sim replay <file>` reruns one seed file and prints its trace hash.
//! - `sim merge <jsonl…>` sums the JSON lines of several shards into one summary.
//! - `--junit FILE` (on `run` and `merge`) writes the seeds as JUnit XML for CI systems.
//!
//! Built only with `--cfg madsim` (`cargo sim …`): outside the simulator there is nothing to run.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Once;

use clusterlab_sim::scenario::{self, SCENARIOS};
use clusterlab_sim::{campaign, RunReport, SimConfig, Violation, ViolationKind};

/// `clusterlab sim …`
#[derive(clap::Args, Debug)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SimCommand {
    /// Run a scenario for a range of seeds and report violations.
    Run(RunArgs),
    /// List the scenarios `--scenario` accepts, with what each does.
    List,
    /// Replay one seed file exactly and print its trace hash.
    Replay(ReplayArgs),
    /// Merge the `--json` results of several shards into one summary.
    Merge(MergeArgs),
    /// Print the seed record (with its fault schedule) a campaign seed draws, to pin it in
    /// seeds/ or edit it by hand.
    Plan(PlanArgs),
    /// Run one seed (or seed file) and draw its trace as a self-contained HTML timeline.
    Timeline(TimelineArgs),
    /// Hunt deliberate bugs (canaries) with the campaign: each must be caught.
    Canary(crate::canary_cmd::CanaryArgs),
    /// Search fault schedules with proptest; shrink and save the first failing one.
    Fuzz(crate::fuzz_cmd::FuzzArgs),
}

/// The scenario `sim run` uses unless told otherwise.
pub const DEFAULT_SCENARIO: &str = campaign::NAME;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// How many seeds to run (SEED, SEED+1, …; with --shard, this shard's share of them).
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// The first seed; by default taken from the wall clock (and printed, for replay).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenario to run (`clusterlab sim list` shows them all).
    #[arg(long, default_value = DEFAULT_SCENARIO)]
    pub scenario: String,
    /// The cluster's shape and knobs (the campaign draws those not given from each seed).
    #[command(flatten)]
    pub config: ConfigFlags,
    /// Run only shard I of N (0-based): the seeds whose offset from --seed is I modulo N.
    /// Needs --seed, so every shard splits the same range.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Seeds run in parallel (one madsim runtime per thread); 0 = one per CPU.
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Write one JSON line per seed to this file (for `sim merge`).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write JUnit XML to this file: each failing seed a test case with its violations and
    /// replay line, the passing seeds one case.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the full trace of every failing seed (of the seed itself with `--seeds 1`), and
    /// its nodes' final CLUSTER NODES.
    #[arg(long)]
    pub trace: bool,
    /// At most this many reruns to shrink a failing campaign schedule (0: don't shrink).
    #[arg(long, default_value_t = 40)]
    pub shrink_runs: usize,
    /// Where failing seeds are saved.
    #[arg(long, default_value = "seeds")]
    pub seeds_dir: PathBuf,
    /// Do not save failing seeds.
    #[arg(long)]
    pub no_save: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// A seed file (JSON, as in seeds/).
    pub file: PathBuf,
    /// Print the full trace and the nodes' final CLUSTER NODES.
    #[arg(long)]
    pub trace: bool,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    #[arg(long)]
    pub seed: u64,
    /// The cluster's shape and knobs (those not given are drawn from the seed).
    #[command(flatten)]
    pub config: ConfigFlags,
    /// The record's note.
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// A seed number, or a seed file (JSON, as in seeds/) to replay with its schedule.
    pub target: String,
    /// Scenario of a seed number (a seed file names its own).
    #[arg(long, default_value = DEFAULT_SCENARIO)]
    pub scenario: String,
    /// The cluster's shape and knobs (the campaign draws those not given from the seed).
    #[command(flatten)]
    pub config: ConfigFlags,
    /// Where to write the page.
    #[arg(short, long, default_value = "run.html")]
    pub output: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// JSON-lines files written by `sim run --json`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write JUnit XML of all the shards' seeds to this file (as `sim run --junit`).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

impl RunArgs {
    /// The configuration `seed` runs with.
    fn config_for(&self, seed: u64) -> SimConfig {
        self.config.config_for(&self.scenario, seed)
    }

    /// The command that replays `seed` exactly: its scenario and every value of its
    /// configuration, drawn or not.
    fn replay_line(&self, seed: u64) -> String {
        replay_line(&self.scenario, seed, &self.config_for(seed))
    }
}

/// The command that replays `seed` of `scenario` with `config` exactly.
fn replay_line(scenario: &str, seed: u64, config: &SimConfig) -> String {
    let scenario = if scenario == DEFAULT_SCENARIO {
        String::new()
    } else {
        format!(" --scenario {scenario}")
    };
    format!(
        "cargo sim --seed {seed} --seeds 1{scenario} {}",
        config.flags()
    )
}

pub fn run(args: SimArgs) -> ExitCode {
    match args.command {
        SimCommand::Run(run_args) => run::run_campaign(&run_args),
        SimCommand::List => list(),
        SimCommand::Replay(replay_args) => replay::replay(&replay_args),
        SimCommand::Merge(merge_args) => results::merge(&merge_args),
        SimCommand::Plan(plan_args) => replay::plan(&plan_args),
        SimCommand::Timeline(timeline_args) => replay::timeline(&timeline_args),
        SimCommand::Canary(canary_args) => crate::canary_cmd::run(&canary_args),
        SimCommand::Fuzz(fuzz_args) => crate::fuzz_cmd::run(&fuzz_args),
    }
}

mod config_flags;
mod replay;
mod results;
mod run;

pub use config_flags::ConfigFlags;

// ---- one seed ---------------------------------------------------------------------------------

/// The result of one seed: its report, or the panic that ended it.
enum SeedOutcome {
    Report(RunReport),
    Panic { seed: u64, message: String },
}

impl SeedOutcome {
    fn seed(&self) -> u64 {
        match self {
            SeedOutcome::Report(r) => r.seed,
            SeedOutcome::Panic { seed, .. } => *seed,
        }
    }

    /// Drops the trace (the hash and the violations stay): only `--trace` prints it.
    fn forget_trace(&mut self) {
        if let SeedOutcome::Report(report) = self {
            report.trace = Vec::new();
            report.trace_text = String::new();
        }
    }

    fn violations(&self) -> Vec<Violation> {
        match self {
            SeedOutcome::Report(r) => r.violations.clone(),
            SeedOutcome::Panic { message, .. } => {
                vec![Violation::new(ViolationKind::RunPanicked, message.clone())]
            }
        }
    }

    fn virtual_ms(&self) -> u64 {
        match self {
            SeedOutcome::Report(r) => r.virtual_ms,
            SeedOutcome::Panic { .. } => 0,
        }
    }

    fn trace_hash(&self) -> Option<u64> {
        match self {
            SeedOutcome::Report(r) => Some(r.trace_hash),
            SeedOutcome::Panic { .. } => None,
        }
    }

    /// The buggify points active in the run, with how often each fired.
    fn buggify(&self) -> Vec<(String, u64)> {
        match self {
            SeedOutcome::Report(r) => r.buggify.clone(),
            SeedOutcome::Panic { .. } => Vec::new(),
        }
    }
}

thread_local! {
    /// The first panic message of the seed running on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics are expected outcomes here (a node assertion is a found bug): record the message and
/// location per thread instead of printing over the progress bar.
fn install_quiet_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let text = payload_text(info.payload());
            // Keep the first panic: later ones are usually consequences while unwinding.
            LAST_PANIC.with(|m| {
                m.borrow_mut().get_or_insert(format!("{text}{location}"));
            });
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `f` for `seed`, turning a panic into an outcome so the campaign goes on.
fn guarded(seed: u64, f: impl FnOnce() -> Result<RunReport, String>) -> SeedOutcome {
    LAST_PANIC.with(|m| m.borrow_mut().take());
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(report)) => SeedOutcome::Report(report),
        Ok(Err(e)) => SeedOutcome::Panic { seed, message: e },
        Err(payload) => {
            let recorded = LAST_PANIC.with(|m| m.borrow_mut().take());
            let message = recorded.unwrap_or_else(|| payload_text(payload.as_ref()));
            SeedOutcome::Panic { seed, message }
        }
    }
}

fn run_seed(scenario_name: &str, seed: u64, config: &SimConfig) -> SeedOutcome {
    guarded(seed, || scenario::run(scenario_name, seed, config))
}

// ---- sim list -----------------------------------------------------------------------------------

/// Prints every registered scenario and what it does.
fn list() -> ExitCode {
    let width = SCENARIOS.iter().map(|s| s.name().len()).max().unwrap_or(0);
    for s in SCENARIOS {
        let default = if s.name() == DEFAULT_SCENARIO {
            " (default)"
        } else {
            ""
        };
        println!("{:<width$}  {}{default}", s.name(), s.about());
    }
    ExitCode::SUCCESS
}

fn print_trace(report: &RunReport) {
    println!(
        "  trace ({} events, hash {:016x}):",
        report.trace_len, report.trace_hash
    );
    for line in report.trace_text.lines() {
        println!("    {line}");
    }
    for (name, text) in &report.cluster_nodes {
        println!("  {name} CLUSTER NODES:");
        for line in text.lines() {
            println!("    {line}");
        }
    }
}
