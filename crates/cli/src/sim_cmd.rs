//! `clusterlab sim run`: a simulation campaign. Each seed runs one scenario in its own madsim
//! runtime; the command shows progress, then a summary (violations by name, virtual time
//! simulated, virtual:wall ratio, throughput) and, for every failing seed, the exact commands
//! that replay it. Exit status 1 when any seed reports a violation (a panic counts as one).
//!
//! Built only with `--cfg madsim` (`cargo sim …`): outside the simulator there is nothing to run.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clusterlab_sim::scenario::{self, SCENARIOS};
use clusterlab_sim::trace::Fnv64;
use clusterlab_sim::{RunReport, SimConfig, Violation};

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
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// How many seeds to run (SEED, SEED+1, …).
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// The first seed; by default taken from the wall clock (and printed, for replay).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenario to run.
    #[arg(long, default_value = "walkthrough")]
    pub scenario: String,
    /// Masters in the simulated cluster.
    #[arg(long, default_value_t = SimConfig::default().masters)]
    pub masters: usize,
    /// Replicas per master.
    #[arg(long, default_value_t = SimConfig::default().replicas)]
    pub replicas: usize,
    /// cluster-node-timeout of every node, in milliseconds.
    #[arg(long, default_value_t = SimConfig::default().node_timeout_ms)]
    pub node_timeout_ms: u64,
    /// Print the full trace of every failing seed (of the seed itself with `--seeds 1`), and
    /// its nodes' final CLUSTER NODES.
    #[arg(long)]
    pub trace: bool,
}

impl RunArgs {
    fn config(&self) -> SimConfig {
        SimConfig {
            masters: self.masters,
            replicas: self.replicas,
            node_timeout_ms: self.node_timeout_ms,
        }
    }

    /// Flags that must be repeated to replay a seed (those that differ from the defaults).
    fn replay_flags(&self) -> String {
        let defaults = SimConfig::default();
        let mut flags = String::new();
        if self.scenario != "walkthrough" {
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
        flags
    }
}

pub fn run(args: SimArgs) -> ExitCode {
    match args.command {
        SimCommand::Run(run_args) => run_campaign(&run_args),
    }
}

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
}

fn run_campaign(args: &RunArgs) -> ExitCode {
    if !SCENARIOS.contains(&args.scenario.as_str()) {
        eprintln!(
            "unknown scenario {:?}; known: {}",
            args.scenario,
            SCENARIOS.join(", ")
        );
        return ExitCode::from(2);
    }
    let config = args.config();
    if config.masters < 3 || config.node_count() >= 100 {
        eprintln!("need at least 3 masters and fewer than 100 nodes");
        return ExitCode::from(2);
    }
    let first_seed = args.seed.unwrap_or_else(wall_clock_seed);
    println!(
        "sim run: scenario {} seeds {}..{} ({} masters, {} replicas, node timeout {} ms)",
        args.scenario,
        first_seed,
        first_seed.saturating_add(args.seeds),
        config.masters,
        config.replicas,
        config.node_timeout_ms
    );

    let progress = indicatif::ProgressBar::new(args.seeds);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} seeds  {msg}  [{elapsed_precise}, eta {eta}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let panic_message = install_quiet_panic_hook();

    let mut outcomes = Vec::new();
    let mut virtual_total = Duration::ZERO;
    let mut failing = 0usize;
    let wall_start = Instant::now();
    for seed in (0..args.seeds).map(|i| first_seed.wrapping_add(i)) {
        let outcome = run_seed(&args.scenario, seed, &config, &panic_message);
        if let SeedOutcome::Report(report) = &outcome {
            virtual_total += Duration::from_millis(report.virtual_ms);
        }
        if !outcome.violations().is_empty() {
            failing += 1;
            progress.println(format!("seed {seed}: FAIL"));
        }
        progress.set_message(format!("{failing} failing"));
        progress.inc(1);
        outcomes.push(outcome);
    }
    let wall = wall_start.elapsed();
    progress.finish_and_clear();
    drop(panic::take_hook());

    print_summary(args, &outcomes, virtual_total, wall);
    print_failures(args, &outcomes);
    if failing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one seed, turning a panic into an outcome so the campaign goes on.
fn run_seed(
    scenario_name: &str,
    seed: u64,
    config: &SimConfig,
    panic_message: &Arc<Mutex<Option<String>>>,
) -> SeedOutcome {
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        scenario::run(scenario_name, seed, config)
    }));
    match result {
        Ok(Ok(report)) => SeedOutcome::Report(report),
        Ok(Err(e)) => SeedOutcome::Panic { seed, message: e },
        Err(payload) => {
            let recorded = panic_message.lock().ok().and_then(|mut m| m.take());
            let message = recorded.unwrap_or_else(|| payload_text(payload.as_ref()));
            SeedOutcome::Panic { seed, message }
        }
    }
}

/// Panics are expected outcomes here (a node assertion is a found bug): record the message and
/// location instead of printing over the progress bar.
fn install_quiet_panic_hook() -> Arc<Mutex<Option<String>>> {
    let slot = Arc::new(Mutex::new(None));
    let hook_slot = slot.clone();
    panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let text = payload_text(info.payload());
        if let Ok(mut m) = hook_slot.lock() {
            // Keep the first panic: later ones are usually consequences while unwinding.
            m.get_or_insert(format!("{text}{location}"));
        }
    }));
    slot
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

fn wall_clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn print_summary(
    args: &RunArgs,
    outcomes: &[SeedOutcome],
    virtual_total: Duration,
    wall: Duration,
) {
    let mut by_name: BTreeMap<String, (usize, Vec<u64>)> = BTreeMap::new();
    for outcome in outcomes {
        let mut names: Vec<String> = outcome.violations().into_iter().map(|v| v.name).collect();
        names.sort();
        names.dedup();
        for name in names {
            let entry = by_name.entry(name).or_default();
            entry.0 += 1;
            entry.1.push(outcome.seed());
        }
    }
    let failing = outcomes
        .iter()
        .filter(|o| !o.violations().is_empty())
        .count();
    let wall_s = wall.as_secs_f64().max(1e-9);
    println!();
    println!("scenario:        {}", args.scenario);
    println!("seeds run:       {} ({} failing)", outcomes.len(), failing);
    if by_name.is_empty() {
        println!("violations:      none");
    } else {
        println!("violations (seeds affected):");
        for (name, (count, seeds)) in &by_name {
            let shown: Vec<String> = seeds.iter().take(5).map(u64::to_string).collect();
            let more = if seeds.len() > 5 { ", …" } else { "" };
            println!("  {name:<28} {count:>5}   seeds {}{more}", shown.join(", "));
        }
    }
    println!(
        "virtual time:    {:.1} s simulated",
        virtual_total.as_secs_f64()
    );
    println!(
        "wall time:       {:.1} s (virtual:wall {:.1}:1)",
        wall.as_secs_f64(),
        virtual_total.as_secs_f64() / wall_s
    );
    println!(
        "throughput:      {:.1} seeds/minute",
        outcomes.len() as f64 * 60.0 / wall_s
    );
    // One hash over every seed's trace hash: two runs of the same seeds must print the same.
    let mut combined = Fnv64::new();
    for outcome in outcomes {
        if let SeedOutcome::Report(report) = outcome {
            combined.write(&report.trace_hash.to_le_bytes());
        }
    }
    println!(
        "trace hash:      {:016x} (all seeds combined)",
        combined.finish()
    );
}

fn print_failures(args: &RunArgs, outcomes: &[SeedOutcome]) {
    let flags = args.replay_flags();
    for outcome in outcomes {
        let violations = outcome.violations();
        let seed = outcome.seed();
        if violations.is_empty() {
            if let (true, [SeedOutcome::Report(report)]) = (args.trace, outcomes) {
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
        if flags.is_empty() {
            println!(
                "  test:    MADSIM_TEST_SEED={seed} RUSTFLAGS=\"--cfg madsim\" cargo test \
                 --target-dir target/sim -p clusterlab-sim-tests --test walkthrough \
                 walkthrough_seed_from_env"
            );
        }
        if let (true, SeedOutcome::Report(report)) = (args.trace, outcome) {
            print_trace(report);
        }
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
