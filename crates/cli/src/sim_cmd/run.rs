//! `sim run`: the seeds of a run (sharded or not), run in parallel; then the summary and, for
//! each failing seed, its replay line, its shrunk schedule and its seed file.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clusterlab_core::canary::Canary;
use clusterlab_sim::faults::{shrink, ClusterShape, FaultSchedule};
use clusterlab_sim::scenario;
use clusterlab_sim::seeds::{save_new, Saved};
use clusterlab_sim::{campaign, SeedRecord, SimConfig, Violation};

use super::results::{print_summary, write_junit, SeedLine};
use super::{guarded, install_quiet_panic_hook, print_trace, run_seed, RunArgs, SeedOutcome};

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

pub(super) fn run_campaign(args: &RunArgs) -> ExitCode {
    if let Some(bad) = args
        .config
        .canary
        .iter()
        .find(|c| Canary::parse(c).is_none())
    {
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
    let pinned = args.config.pins().over(&SimConfig::default());
    if pinned.masters < 3 || pinned.node_count() >= 100 {
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
        "sim run: scenario {} seeds {}..{}{} ({}; {} jobs)",
        args.scenario,
        first_seed,
        seeds.last().map_or(first_seed, |s| s.wrapping_add(1)),
        args.shard
            .as_deref()
            .map_or(String::new(), |s| format!(" shard {s}")),
        args.config.describe(&args.scenario),
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
    let outcomes = run_parallel(args, &seeds, jobs, &progress);
    let wall = wall_start.elapsed();
    progress.finish_and_clear();

    if let Some(file) = json.as_mut() {
        for (outcome, wall_ms) in &outcomes {
            let config = args.config_for(outcome.seed());
            let line = SeedLine::of(&args.scenario, &config, outcome, *wall_ms);
            let text = serde_json::to_string(&line).expect("a seed line serializes");
            if let Err(e) = writeln!(file, "{text}") {
                eprintln!("--json: {e}");
            }
        }
    }
    let lines: Vec<SeedLine> = outcomes
        .iter()
        .map(|(o, w)| SeedLine::of(&args.scenario, &args.config_for(o.seed()), o, *w))
        .collect();
    print_summary(&lines, wall);
    let failing = lines.iter().filter(|l| !l.ok).count();
    print_failures(args, &outcomes);
    if let Some(path) = &args.junit {
        if let Err(e) = write_junit(path, &lines) {
            eprintln!("--junit: {e}");
            return ExitCode::from(2);
        }
    }
    if failing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs every seed, `jobs` at a time, and returns the outcomes (with their wall time in ms)
/// in seed-list order.
fn run_parallel(
    args: &RunArgs,
    seeds: &[u64],
    jobs: usize,
    progress: &indicatif::ProgressBar,
) -> Vec<(SeedOutcome, u64)> {
    let failing = AtomicU64::new(0);
    crate::pool::map_in_order(jobs, seeds, |&seed| {
        let started = Instant::now();
        let mut outcome = run_seed(&args.scenario, seed, &args.config_for(seed));
        let wall_ms = started.elapsed().as_millis() as u64;
        if !args.trace {
            // A trace is megabytes: kept for every seed, 10,000 seeds outgrow the memory.
            outcome.forget_trace();
        }
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

// ---- failures: replay lines, shrinking, seed files ----------------------------------------------

fn print_failures(args: &RunArgs, outcomes: &[(SeedOutcome, u64)]) {
    for (outcome, _) in outcomes {
        let violations = outcome.violations();
        let seed = outcome.seed();
        let config = args.config_for(seed);
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
        println!("  config:  {}", config.flags());
        println!("  replay:  {}", args.replay_line(seed));
        if let (true, SeedOutcome::Report(report)) = (args.trace, outcome) {
            print_trace(report);
        }
        if args.no_save {
            continue;
        }
        let record = failing_record(args, &config, seed, &violations);
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
    let target = violations[0].kind;
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
            outcome.violations().iter().any(|v| v.kind == target)
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
}
