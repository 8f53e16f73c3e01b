//! `clusterlab sim fuzz [--cases N] [--scenario failover] [--seed S]`: the proptest search of
//! fault schedules ([`clusterlab_sim::fuzz`]) from the command line. Prints one line per run,
//! the loss windows measured, and for a failing search the minimal schedule, its violations, the
//! seed file it was saved to and the command that replays it (exit 1).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clusterlab_sim::fuzz::{fuzz, FuzzConfig, FuzzOutcome};
use clusterlab_sim::scenario::failover;
use clusterlab_sim::SimConfig;

#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// Schedules to try (each a full run; shrinking reruns come on top).
    #[arg(long, default_value_t = 32)]
    pub cases: u32,
    /// Scenario whose schedules are searched (`failover` or `campaign`).
    #[arg(long, default_value = failover::NAME)]
    pub scenario: String,
    /// Seeds the search itself: the same seed tries the same schedules. By default taken from
    /// the wall clock (and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Masters in the simulated cluster.
    #[arg(long, default_value_t = SimConfig::default().masters)]
    pub masters: usize,
    /// Replicas per master (the failover scenario uses at least 1).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// cluster-node-timeout of every node, in milliseconds.
    #[arg(long, alias = "node-timeout", default_value_t = SimConfig::default().node_timeout_ms)]
    pub node_timeout_ms: u64,
    /// At most this many reruns to shrink a failing schedule.
    #[arg(long, default_value_t = 64)]
    pub shrink_runs: u32,
    /// Where a failing schedule is saved.
    #[arg(long, default_value = "seeds")]
    pub seeds_dir: PathBuf,
    /// Do not save the failing schedule.
    #[arg(long)]
    pub no_save: bool,
    /// Turn on a deliberate bug in every node (repeatable), to check the search catches it.
    #[arg(long = "canary", value_name = "NAME")]
    pub canaries: Vec<String>,
    /// Print every run's schedule (as seed-file JSON) and loss windows.
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(args: &FuzzArgs) -> ExitCode {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let config = FuzzConfig {
        sim: SimConfig {
            masters: args.masters,
            replicas: args.replicas,
            node_timeout_ms: args.node_timeout_ms,
            canaries: args.canaries.clone(),
            ..SimConfig::default()
        },
        seed,
        max_shrink_iters: args.shrink_runs,
        seeds_dir: (!args.no_save).then(|| args.seeds_dir.clone()),
    };
    println!(
        "fuzz: {} cases of scenario {} (search seed {seed}; repeat with --seed {seed})",
        args.cases, args.scenario
    );
    let started = Instant::now();
    let outcome = match fuzz(args.cases, &args.scenario, &config) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    print_runs(&outcome, args.verbose);
    let virtual_ms: u64 = outcome.runs.iter().map(|r| r.virtual_ms).sum();
    println!(
        "{} runs, {:.0} s virtual in {:.1} s wall",
        outcome.runs.len(),
        virtual_ms as f64 / 1000.0,
        started.elapsed().as_secs_f64()
    );
    if args.scenario == failover::NAME {
        println!("{}", outcome.windows.describe());
    }
    let Some(failure) = &outcome.failure else {
        println!("no violation found");
        return ExitCode::SUCCESS;
    };
    println!();
    println!(
        "FAIL: minimal schedule found ({})",
        failure.reason.lines().next().unwrap_or("")
    );
    for v in &failure.violations {
        println!("  {v}");
    }
    print!("{}", failure.record.to_json());
    match (&failure.saved, &failure.save_error) {
        (Some(path), _) => println!("saved:  {}", path.display()),
        (None, Some(e)) => eprintln!("could not save the seed: {e}"),
        (None, None) => {}
    }
    println!("replay: {}", failure.replay);
    ExitCode::FAILURE
}

fn print_runs(outcome: &FuzzOutcome, verbose: bool) {
    for (i, run) in outcome.runs.iter().enumerate() {
        let verdict = if run.violations.is_empty() {
            "ok".to_string()
        } else {
            run.violations.join(",")
        };
        let kinds: Vec<&str> = run.kinds.iter().map(|k| k.name()).collect();
        println!(
            "  run {:>3}: seed {:>6} {:>2} faults [{}] {:.1} s virtual, trace {:016x}: {verdict}",
            i + 1,
            run.seed,
            run.faults,
            kinds.join(","),
            run.virtual_ms as f64 / 1000.0,
            run.trace_hash
        );
        if verbose {
            if let Some(w) = &run.windows {
                println!("      {}", w.describe());
            }
            println!(
                "      schedule: {}",
                serde_json::to_string(&run.schedule).unwrap_or_default()
            );
        }
    }
}
