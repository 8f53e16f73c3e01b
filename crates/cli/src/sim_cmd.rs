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
//!
//! Built only with `--cfg madsim` (`cargo sim …`): outside the simulator there is nothing to run.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use clusterlab_core::canary::Canary;
use clusterlab_sim::faults::{shrink, ClusterShape, FaultSchedule};
use clusterlab_sim::scenario::{self, SCENARIOS};
use clusterlab_sim::seeds::{save_new, Saved};
use clusterlab_sim::trace::Fnv64;
use clusterlab_sim::{campaign, RunReport, SeedRecord, SimConfig, Violation};

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
    /// Masters in the simulated cluster.
    #[arg(long, default_value_t = SimConfig::default().masters)]
    pub masters: usize,
    /// Replicas per master.
    #[arg(long, default_value_t = SimConfig::default().replicas)]
    pub replicas: usize,
    /// cluster-node-timeout of every node, in milliseconds.
    #[arg(long, alias = "node-timeout", default_value_t = SimConfig::default().node_timeout_ms)]
    pub node_timeout_ms: u64,
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
    /// Run every node with this deliberate bug (see `sim canary`); repeatable.
    #[arg(long)]
    pub canary: Vec<String>,
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
    #[arg(long, default_value_t = SimConfig::default().masters)]
    pub masters: usize,
    #[arg(long, default_value_t = SimConfig::default().replicas)]
    pub replicas: usize,
    #[arg(long, alias = "node-timeout", default_value_t = SimConfig::default().node_timeout_ms)]
    pub node_timeout_ms: u64,
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
    #[arg(long, default_value_t = SimConfig::default().masters)]
    pub masters: usize,
    #[arg(long, default_value_t = SimConfig::default().replicas)]
    pub replicas: usize,
    #[arg(long, alias = "node-timeout", default_value_t = SimConfig::default().node_timeout_ms)]
    pub node_timeout_ms: u64,
    /// Where to write the page.
    #[arg(short, long, default_value = "run.html")]
    pub output: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// JSON-lines files written by `sim run --json`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

impl RunArgs {
    fn config(&self) -> SimConfig {
        SimConfig {
            masters: self.masters,
            replicas: self.replicas,
            node_timeout_ms: self.node_timeout_ms,
            canaries: self.canary.clone(),
        }
    }

    /// Flags that must be repeated to replay a seed (those that differ from the defaults).
    fn replay_flags(&self) -> String {
        let defaults = SimConfig::default();
        let mut flags = String::new();
        if self.scenario != DEFAULT_SCENARIO {
            flags.push_str(&format!(" --scenario {}", self.scenario));
        }
        if self.masters != defaults.masters {
            flags.push_str(&format!(" --masters {}", self.masters));
        }
        if self.replicas != defaults.replicas {
            flags.push_str(&format!(" --replicas {}", self.replicas));
        }
        if self.node_timeout_ms != defaults.node_timeout_ms {
            flags.push_str(&format!(" --node-timeout-ms {}", self.node_timeout_ms));
        }
        for canary in &self.canary {
            flags.push_str(&format!(" --canary {canary}"));
        }
        flags
    }
}

pub fn run(args: SimArgs) -> ExitCode {
    match args.command {
        SimCommand::Run(run_args) => run_campaign(&run_args),
        SimCommand::List => list(),
        SimCommand::Replay(replay_args) => replay(&replay_args),
        SimCommand::Merge(merge_args) => merge(&merge_args),
        SimCommand::Plan(plan_args) => plan(&plan_args),
        SimCommand::Timeline(timeline_args) => timeline(&timeline_args),
        SimCommand::Canary(canary_args) => crate::canary_cmd::run(&canary_args),
        SimCommand::Fuzz(fuzz_args) => crate::fuzz_cmd::run(&fuzz_args),
    }
}

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

    fn violations(&self) -> Vec<Violation> {
        match self {
            SeedOutcome::Report(r) => r.violations.clone(),
            SeedOutcome::Panic { message, .. } => vec![Violation::new("panic", message.clone())],
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

// ---- sim run ------------------------------------------------------------------------------------

/// Parses `i/n` with `i < n`.
fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("--shard wants I/N, got {text:?}"))?;
    let i: u64 = i.parse().map_err(|_| format!("--shard: bad index {i:?}"))?;
    let n: u64 = n.parse().map_err(|_| format!("--shard: bad count {n:?}"))?;
    if n == 0 || i >= n {
        return Err(format!("--shard {text}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// The seeds of a run: `count` seeds from `first` on, or, for shard `i/n`, the seeds
/// `first + i`, `first + i + n`, … (`count` of them).
fn seed_list(first: u64, count: u64, shard: Option<(u64, u64)>) -> Vec<u64> {
    let (i, n) = shard.unwrap_or((0, 1));
    (0..count)
        .map(|k| first.wrapping_add(i).wrapping_add(k.wrapping_mul(n)))
        .collect()
}

fn run_campaign(args: &RunArgs) -> ExitCode {
    if let Some(bad) = args.canary.iter().find(|c| Canary::parse(c).is_none()) {
        eprintln!("unknown canary {bad:?}; `clusterlab sim canary --help` lists them");
        return ExitCode::from(2);
    }
    if scenario::find(&args.scenario).is_none() {
        eprintln!(
            "unknown scenario {:?}; known: {} (`clusterlab sim list` says what each does)",
            args.scenario,
            scenario::names().join(", ")
        );
        return ExitCode::from(2);
    }
    let config = args.config();
    if config.masters < 3 || config.node_count() >= 100 {
        eprintln!("need at least 3 masters and fewer than 100 nodes");
        return ExitCode::from(2);
    }
    let shard = match args.shard.as_deref().map(parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if shard.is_some() && args.seed.is_none() {
        eprintln!("--shard needs --seed, so that every shard splits the same seed range");
        return ExitCode::from(2);
    }
    let first_seed = args.seed.unwrap_or_else(wall_clock_seed);
    let seeds = seed_list(first_seed, args.seeds, shard);
    let jobs = crate::pool::jobs(args.jobs).min(seeds.len().max(1));
    println!(
        "sim run: scenario {} seeds {}..{}{} ({} masters, {} replicas, node timeout {} ms, {} jobs)",
        args.scenario,
        first_seed,
        seeds.last().map_or(first_seed, |s| s.wrapping_add(1)),
        args.shard
            .as_deref()
            .map_or(String::new(), |s| format!(" shard {s}")),
        config.masters,
        config.replicas,
        config.node_timeout_ms,
        jobs
    );

    let mut json = match args.json.as_deref().map(std::fs::File::create).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("--json: {e}");
            return ExitCode::from(2);
        }
    };
    install_quiet_panic_hook();
    let progress = indicatif::ProgressBar::new(seeds.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} seeds  {msg}  [{elapsed_precise}, eta {eta}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );

    let wall_start = Instant::now();
    let outcomes = run_parallel(&args.scenario, &seeds, &config, jobs, &progress);
    let wall = wall_start.elapsed();
    progress.finish_and_clear();

    if let Some(file) = json.as_mut() {
        for (outcome, wall_ms) in &outcomes {
            let line = SeedLine::of(&args.scenario, &config, outcome, *wall_ms);
            let text = serde_json::to_string(&line).expect("a seed line serializes");
            if let Err(e) = writeln!(file, "{text}") {
                eprintln!("--json: {e}");
            }
        }
    }
    let lines: Vec<SeedLine> = outcomes
        .iter()
        .map(|(o, w)| SeedLine::of(&args.scenario, &config, o, *w))
        .collect();
    print_summary(&lines, wall);
    let failing = lines.iter().filter(|l| !l.ok).count();
    print_failures(args, &config, &outcomes);
    if failing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs every seed, `jobs` at a time, and returns the outcomes (with their wall time in ms)
/// in seed-list order.
fn run_parallel(
    scenario_name: &str,
    seeds: &[u64],
    config: &SimConfig,
    jobs: usize,
    progress: &indicatif::ProgressBar,
) -> Vec<(SeedOutcome, u64)> {
    let failing = AtomicU64::new(0);
    crate::pool::map_in_order(jobs, seeds, |&seed| {
        let started = Instant::now();
        let outcome = run_seed(scenario_name, seed, config);
        let wall_ms = started.elapsed().as_millis() as u64;
        if !outcome.violations().is_empty() {
            failing.fetch_add(1, Ordering::Relaxed);
            progress.println(format!("seed {seed}: FAIL"));
        }
        progress.set_message(format!("{} failing", failing.load(Ordering::Relaxed)));
        progress.inc(1);
        (outcome, wall_ms)
    })
}

fn wall_clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---- results as JSON lines ---------------------------------------------------------------------

/// One seed's result, as a `--json` line and as `sim merge` reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SeedLine {
    seed: u64,
    scenario: String,
    config: SimConfig,
    ok: bool,
    violations: Vec<NamedEvidence>,
    virtual_ms: u64,
    wall_ms: u64,
    /// `None` for a run that panicked.
    trace_hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct NamedEvidence {
    name: String,
    evidence: String,
}

impl SeedLine {
    fn of(scenario: &str, config: &SimConfig, outcome: &SeedOutcome, wall_ms: u64) -> SeedLine {
        let violations: Vec<NamedEvidence> = outcome
            .violations()
            .into_iter()
            .map(|v| NamedEvidence {
                name: v.name,
                evidence: v.evidence,
            })
            .collect();
        SeedLine {
            seed: outcome.seed(),
            scenario: scenario.to_string(),
            config: config.clone(),
            ok: violations.is_empty(),
            violations,
            virtual_ms: outcome.virtual_ms(),
            wall_ms,
            trace_hash: outcome.trace_hash().map(|h| format!("{h:016x}")),
        }
    }
}

/// The summary table: seeds, violations by invariant, virtual time, virtual:wall ratio,
/// seeds/minute and a hash over every seed's trace hash (in seed order, so it does not depend
/// on `--jobs` or on how shards were split).
fn print_summary(lines: &[SeedLine], wall: Duration) {
    let mut by_name: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for line in lines {
        let mut names: Vec<&str> = line.violations.iter().map(|v| v.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            by_name.entry(name).or_default().push(line.seed);
        }
    }
    let failing = lines.iter().filter(|l| !l.ok).count();
    let virtual_total: u64 = lines.iter().map(|l| l.virtual_ms).sum();
    let wall_s = wall.as_secs_f64().max(1e-9);
    let mut scenarios: Vec<&str> = lines.iter().map(|l| l.scenario.as_str()).collect();
    scenarios.sort_unstable();
    scenarios.dedup();
    println!();
    println!("scenario:        {}", scenarios.join(", "));
    println!("seeds run:       {} ({failing} failing)", lines.len());
    if by_name.is_empty() {
        println!("violations:      none");
    } else {
        println!("violations (seeds affected):");
        for (name, seeds) in &by_name {
            let shown: Vec<String> = seeds.iter().take(5).map(u64::to_string).collect();
            let more = if seeds.len() > 5 { ", …" } else { "" };
            println!(
                "  {name:<28} {:>5}   seeds {}{more}",
                seeds.len(),
                shown.join(", ")
            );
        }
    }
    println!(
        "virtual time:    {:.1} s simulated",
        virtual_total as f64 / 1000.0
    );
    println!(
        "wall time:       {:.1} s (virtual:wall {:.0}:1)",
        wall.as_secs_f64(),
        virtual_total as f64 / 1000.0 / wall_s
    );
    println!(
        "throughput:      {:.1} seeds/minute",
        lines.len() as f64 * 60.0 / wall_s
    );
    let mut sorted: Vec<&SeedLine> = lines.iter().collect();
    sorted.sort_by_key(|l| l.seed);
    let mut combined = Fnv64::new();
    for line in sorted {
        combined.write(&line.seed.to_le_bytes());
        combined.write(line.trace_hash.as_deref().unwrap_or("panic").as_bytes());
    }
    println!(
        "trace hash:      {:016x} (all seeds combined)",
        combined.finish()
    );
}

// ---- failures: replay lines, shrinking, seed files ----------------------------------------------

fn print_failures(args: &RunArgs, config: &SimConfig, outcomes: &[(SeedOutcome, u64)]) {
    let flags = args.replay_flags();
    for (outcome, _) in outcomes {
        let violations = outcome.violations();
        let seed = outcome.seed();
        if violations.is_empty() {
            if let (true, [(SeedOutcome::Report(report), _)]) = (args.trace, outcomes) {
                println!();
                println!("seed {seed} ok");
                print_trace(report);
            }
            continue;
        }
        println!();
        println!("FAIL seed {seed}");
        for v in &violations {
            println!("  {v}");
        }
        println!("  replay:  cargo sim --seed {seed} --seeds 1{flags}");
        if let (true, SeedOutcome::Report(report)) = (args.trace, outcome) {
            print_trace(report);
        }
        if args.no_save {
            continue;
        }
        let record = failing_record(args, config, seed, &violations);
        match save_new(&args.seeds_dir, &record) {
            Ok(Saved::Written(path)) => println!(
                "  saved:   {} (replay: {})",
                path.display(),
                replay_command(&path)
            ),
            Ok(Saved::Known(path)) => println!("  known:   {}", path.display()),
            Err(e) => eprintln!("  could not save the seed: {e}"),
        }
    }
}

fn replay_command(path: &Path) -> String {
    format!(
        "RUSTFLAGS=\"--cfg madsim\" cargo run --release --target-dir target/sim -p clusterlab -- \
         sim replay {}",
        path.display()
    )
}

/// The seed record of a failure: for the campaign, with its schedule shrunk as far as
/// `--shrink-runs` allows while the first violation still shows.
fn failing_record(
    args: &RunArgs,
    config: &SimConfig,
    seed: u64,
    violations: &[Violation],
) -> SeedRecord {
    let target = violations[0].name.clone();
    let mut schedule = None;
    let mut note = format!(
        "Found by `clusterlab sim run` (scenario {}): {}",
        args.scenario, violations[0]
    );
    if args.scenario == campaign::NAME && args.shrink_runs > 0 {
        let full = campaign::planned_schedule(seed, config);
        let shape = ClusterShape::of(config);
        let still_fails = |candidate: &FaultSchedule| {
            let outcome = guarded(seed, || {
                Ok(campaign::run(seed, config, Some(candidate.clone())))
            });
            outcome.violations().iter().any(|v| v.name == target)
        };
        let (small, runs) = shrink(&full, &shape, args.shrink_runs, still_fails);
        println!(
            "  shrunk:  {} → {} faults in {runs} reruns",
            full.len(),
            small.len()
        );
        if small != full {
            note.push_str(&format!(
                " (schedule shrunk from {} to {} faults)",
                full.len(),
                small.len()
            ));
            schedule = Some(small);
        }
    }
    SeedRecord {
        seed,
        scenario: args.scenario.clone(),
        config: config.clone(),
        schedule,
        expectation: format!("violation:{target}"),
        note,
    }
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

// ---- sim replay -------------------------------------------------------------------------------

fn replay(args: &ReplayArgs) -> ExitCode {
    let record = match std::fs::read_to_string(&args.file)
        .map_err(|e| e.to_string())
        .and_then(|text| SeedRecord::parse(&text))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let expectation = match record.expectation() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    install_quiet_panic_hook();
    let started = Instant::now();
    let outcome = guarded(record.seed, || scenario::run_record(&record));
    let wall = started.elapsed();
    let violations = outcome.violations();
    println!(
        "replay {}: scenario {} seed {}{}",
        args.file.display(),
        record.scenario,
        record.seed,
        record.schedule.as_ref().map_or(String::new(), |s| format!(
            " ({} scheduled faults)",
            s.len()
        ))
    );
    for v in &violations {
        println!("  {v}");
    }
    println!(
        "virtual {:.1} s in {:.2} s wall",
        outcome.virtual_ms() as f64 / 1000.0,
        wall.as_secs_f64()
    );
    match outcome.trace_hash() {
        Some(hash) => println!("trace hash: {hash:016x}"),
        None => println!("trace hash: none (the run panicked)"),
    }
    if let (true, SeedOutcome::Report(report)) = (args.trace, &outcome) {
        print_trace(report);
    }
    let met = expectation.is_met_by(violations.iter().map(|v| v.name.as_str()));
    println!(
        "expectation {:?}: {}",
        record.expectation,
        if met { "met" } else { "NOT met" }
    );
    if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---- sim plan ----------------------------------------------------------------------------------

fn plan(args: &PlanArgs) -> ExitCode {
    let config = SimConfig {
        masters: args.masters,
        replicas: args.replicas,
        node_timeout_ms: args.node_timeout_ms,
        ..SimConfig::default()
    };
    let record = SeedRecord {
        seed: args.seed,
        scenario: campaign::NAME.to_string(),
        schedule: Some(campaign::planned_schedule(args.seed, &config)),
        config,
        expectation: "ok".to_string(),
        note: args.note.clone(),
    };
    print!("{}", record.to_json());
    ExitCode::SUCCESS
}

// ---- sim timeline ------------------------------------------------------------------------------

fn timeline(args: &TimelineArgs) -> ExitCode {
    let record = match args.target.parse::<u64>() {
        Ok(seed) => SeedRecord {
            seed,
            scenario: args.scenario.clone(),
            config: SimConfig {
                masters: args.masters,
                replicas: args.replicas,
                node_timeout_ms: args.node_timeout_ms,
                ..SimConfig::default()
            },
            schedule: None,
            expectation: "ok".to_string(),
            note: String::new(),
        },
        Err(_) => match std::fs::read_to_string(&args.target)
            .map_err(|e| e.to_string())
            .and_then(|text| SeedRecord::parse(&text))
        {
            Ok(record) => record,
            Err(e) => {
                eprintln!(
                    "{}: not a seed number, and as a seed file: {e}",
                    args.target
                );
                return ExitCode::from(2);
            }
        },
    };
    install_quiet_panic_hook();
    let outcome = guarded(record.seed, || scenario::run_record(&record));
    let SeedOutcome::Report(report) = outcome else {
        eprintln!("seed {} panicked: {:?}", record.seed, outcome.violations());
        return ExitCode::FAILURE;
    };
    let config = &record.config;
    let title = format!(
        "{} seed {} — {} masters, {} replicas each, node timeout {} ms — trace {:016x}",
        record.scenario,
        record.seed,
        config.masters,
        config.replicas,
        config.node_timeout_ms,
        report.trace_hash
    );
    let events = &report.trace;
    let page = clusterlab_sim::timeline::render_html(&title, events, &report.violations);
    if let Err(e) = std::fs::write(&args.output, page) {
        eprintln!("{}: {e}", args.output.display());
        return ExitCode::from(2);
    }
    println!(
        "{}: {} events, {} violations → {}",
        title,
        events.len(),
        report.violations.len(),
        args.output.display()
    );
    for v in &report.violations {
        println!("  {v}");
    }
    ExitCode::SUCCESS
}

// ---- sim merge --------------------------------------------------------------------------------

fn merge(args: &MergeArgs) -> ExitCode {
    let mut lines: Vec<SeedLine> = Vec::new();
    for file in &args.files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        for (number, raw) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match serde_json::from_str::<SeedLine>(raw) {
                Ok(line) => lines.push(line),
                Err(e) => {
                    eprintln!("{}:{}: {e}", file.display(), number + 1);
                    return ExitCode::from(2);
                }
            }
        }
    }
    let mut seen = BTreeMap::new();
    for line in &lines {
        if let Some(previous) = seen.insert((line.seed, line.scenario.clone()), line) {
            if previous.trace_hash != line.trace_hash {
                println!(
                    "seed {} ran twice with different trace hashes: {:?} and {:?}",
                    line.seed, previous.trace_hash, line.trace_hash
                );
            }
        }
    }
    // Shards ran side by side; their wall times add up to the machine time spent.
    let wall = Duration::from_millis(lines.iter().map(|l| l.wall_ms).sum());
    print_summary(&lines, wall);
    println!("(wall time above: the sum over seeds, i.e. machine time on one core)");
    let failing: Vec<&SeedLine> = lines.iter().filter(|l| !l.ok).collect();
    for line in &failing {
        println!();
        println!("FAIL seed {} ({})", line.seed, line.scenario);
        for v in &line.violations {
            println!("  {}: {}", v.name, v.evidence);
        }
    }
    if failing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_seed_range() {
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1").is_err());
        assert!(parse_shard("a/2").is_err());
        assert_eq!(seed_list(10, 3, None), vec![10, 11, 12]);
        assert_eq!(seed_list(10, 3, Some((1, 4))), vec![11, 15, 19]);
        // All shards together cover the range exactly once.
        let mut all: Vec<u64> = (0..3).flat_map(|i| seed_list(0, 4, Some((i, 3)))).collect();
        all.sort_unstable();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn seed_lines_round_trip() {
        let outcome = SeedOutcome::Panic {
            seed: 5,
            message: "boom".into(),
        };
        let line = SeedLine::of("campaign", &SimConfig::default(), &outcome, 12);
        assert!(!line.ok);
        assert_eq!(line.violations[0].name, "panic");
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(serde_json::from_str::<SeedLine>(&text).unwrap(), line);
    }
}
