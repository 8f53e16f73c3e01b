//! `clusterlab sim canary`: proves the harness catches deliberate bugs.
//!
//! Each canary (`clusterlab_core::canary`) is hunted with the default campaign until a seed
//! trips one of the violation kinds that canary is expected to trip
//! (`clusterlab_sim::canary::expected_kinds`); other kinds met on the way are shown, not
//! counted. Then a control run with no canary must stay clean over at least every seed a hunt
//! ran. The table shows, per canary, the seeds it took, the invariant that fired and the
//! replay line. Exit status 0 only when every canary was caught by an expected kind within
//! `--max-seeds` and the control run was clean.

use std::process::ExitCode;
use std::time::Instant;

use clusterlab_core::canary::Canary;
use clusterlab_sim::canary::{control_seeds, expected_kinds, hunt, replay_line, Hunt};
use clusterlab_sim::SimConfig;

#[derive(clap::Args, Debug)]
pub struct CanaryArgs {
    /// The canary to hunt (e.g. `vote-twice`); without it, every canary (`--all`).
    pub name: Option<String>,
    /// Hunt every canary.
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    /// A canary not caught within this many seeds counts as missed.
    #[arg(long, default_value_t = 100)]
    pub max_seeds: u64,
    /// The first campaign seed of every hunt.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 3)]
    pub masters: usize,
    /// Replicas per master: two by default, the smallest shape where two replicas of one
    /// master compete in an election (double votes and rank bugs need that).
    #[arg(long, default_value_t = 2)]
    pub replicas: usize,
    #[arg(long, alias = "node-timeout", default_value_t = SimConfig::default().node_timeout_ms)]
    pub node_timeout_ms: u64,
    /// Hunts run in parallel; 0 = one per CPU.
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Skip the control run with no canary.
    #[arg(long)]
    pub no_control: bool,
}

pub fn run(args: &CanaryArgs) -> ExitCode {
    let canaries = match selected(args) {
        Ok(list) => list,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let base = SimConfig {
        masters: args.masters,
        replicas: args.replicas,
        node_timeout_ms: args.node_timeout_ms,
        ..SimConfig::default()
    };
    let tasks: Vec<Option<Canary>> = canaries.into_iter().map(Some).collect();
    println!(
        "sim canary: {} hunts, seeds {}..{} ({})",
        tasks.len(),
        args.seed,
        args.seed + args.max_seeds,
        base.flags()
    );
    let started = Instant::now();
    let mut hunts = run_parallel(&tasks, &base, args, args.max_seeds);
    if !args.no_control {
        // The control covers every seed a hunt ran, so no catch rests on a seed where the
        // healthy cluster fails too.
        let seeds = control_seeds(&hunts, args.max_seeds);
        hunts.extend(run_parallel(&[None], &base, args, seeds));
    }
    print_table(&hunts, &base, args.max_seeds);
    println!("wall time {:.1} s", started.elapsed().as_secs_f64());
    if verdict(&hunts) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn selected(args: &CanaryArgs) -> Result<Vec<Canary>, String> {
    match &args.name {
        Some(name) => Canary::parse(name).map(|c| vec![c]).ok_or_else(|| {
            let known: Vec<&str> = Canary::ALL.iter().map(|c| c.name()).collect();
            format!("unknown canary {name:?}; known: {}", known.join(", "))
        }),
        None => Ok(Canary::ALL.to_vec()),
    }
}

/// Runs the hunts `--jobs` at a time; results come back in task order.
fn run_parallel(
    tasks: &[Option<Canary>],
    base: &SimConfig,
    args: &CanaryArgs,
    max_seeds: u64,
) -> Vec<Hunt> {
    let jobs = crate::pool::jobs(args.jobs).min(tasks.len().max(1));
    crate::pool::map_in_order(jobs, tasks, |&canary| {
        let found = hunt(canary, base, args.seed, max_seeds);
        eprintln!("  {}: {}", label(canary), outcome_text(&found));
        found
    })
}

fn label(canary: Option<Canary>) -> String {
    canary.map_or("(control: no canary)".to_string(), |c| c.to_string())
}

fn outcome_text(hunt: &Hunt) -> String {
    let mut text = match &hunt.caught {
        Some(c) => format!("caught by {} at seed {}", c.invariant, c.seed),
        None => format!("no expected violation in {} seeds", hunt.seeds_run),
    };
    if let (Some(canary), Some(u)) = (hunt.canary, &hunt.unexpected) {
        let expected: Vec<&str> = expected_kinds(canary).iter().map(|k| k.name()).collect();
        text.push_str(&format!(
            " (also {} at seed {}, expected only {}: {})",
            u.invariant,
            u.seed,
            expected.join("/"),
            u.evidence
        ));
    }
    text
}

fn print_table(hunts: &[Hunt], base: &SimConfig, max_seeds: u64) {
    println!();
    println!(
        "{:<26} {:>6}  {:<28} replay",
        "canary", "seeds", "invariant"
    );
    for h in hunts {
        let (seeds, invariant, replay) = match &h.caught {
            Some(c) => (
                h.seeds_run.to_string(),
                c.invariant.clone(),
                replay_line(h.canary, base, c.seed),
            ),
            None => (
                format!(
                    ">{}",
                    h.seeds_run.max(max_seeds * u64::from(h.canary.is_some()))
                ),
                "-".to_string(),
                String::new(),
            ),
        };
        println!(
            "{:<26} {:>6}  {:<28} {replay}",
            label(h.canary),
            seeds,
            invariant
        );
    }
    let caught: Vec<u64> = hunts
        .iter()
        .filter(|h| h.canary.is_some())
        .filter_map(|h| h.caught.as_ref().map(|_| h.seeds_run))
        .collect();
    let total = hunts.iter().filter(|h| h.canary.is_some()).count();
    println!(
        "\ncaught {}/{} canaries; median seeds to first failure: {}",
        caught.len(),
        total,
        median(&caught).map_or("-".to_string(), |m| m.to_string())
    );
}

fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// Every canary caught by an expected kind, and the control run (if any) clean.
fn verdict(hunts: &[Hunt]) -> bool {
    hunts.iter().all(Hunt::passed)
}
