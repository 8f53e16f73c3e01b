//! A run's results: one JSON line per seed (`--json`), the summary table, `sim merge`, which
//! sums the JSON lines of several shards into one summary, and the seeds as JUnit test cases
//! (`--junit`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use clusterlab_sim::trace::Fnv64;
use clusterlab_sim::SimConfig;

use super::{replay_line, MergeArgs, SeedOutcome};
use crate::junit;

// ---- results as JSON lines ---------------------------------------------------------------------

/// One seed's result, as a `--json` line and as `sim merge` reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct SeedLine {
    pub(super) seed: u64,
    pub(super) scenario: String,
    pub(super) config: SimConfig,
    pub(super) ok: bool,
    pub(super) violations: Vec<NamedEvidence>,
    pub(super) virtual_ms: u64,
    pub(super) wall_ms: u64,
    /// `None` for a run that panicked.
    pub(super) trace_hash: Option<String>,
    /// Buggify points active in the run, with how often each fired.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) buggify: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct NamedEvidence {
    name: String,
    evidence: String,
}

impl SeedLine {
    pub(super) fn of(
        scenario: &str,
        config: &SimConfig,
        outcome: &SeedOutcome,
        wall_ms: u64,
    ) -> SeedLine {
        let violations: Vec<NamedEvidence> = outcome
            .violations()
            .into_iter()
            .map(|v| NamedEvidence {
                name: v.name().to_string(),
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
            buggify: outcome.buggify().into_iter().collect(),
        }
    }
}

/// The summary table: seeds, violations by invariant, virtual time, virtual:wall ratio,
/// seeds/minute and a hash over every seed's trace hash (in seed order, so it does not depend
/// on `--jobs` or on how shards were split).
pub(super) fn print_summary(lines: &[SeedLine], wall: Duration) {
    let mut by_name: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for line in lines {
        let mut names: Vec<&str> = line.violations.iter().map(|v| v.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            by_name.entry(name).or_default().push(line.seed);
        }
    }
    // In seed order, whatever order the lines came in (shards merge in file order).
    for seeds in by_name.values_mut() {
        seeds.sort_unstable();
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
    print_buggify(lines);
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

/// One line per buggify point any seed had active: in how many seeds, and how often it fired.
fn print_buggify(lines: &[SeedLine]) {
    let mut points: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for line in lines {
        for (point, fired) in &line.buggify {
            let entry = points.entry(point.as_str()).or_default();
            entry.0 += 1;
            entry.1 += fired;
        }
    }
    if points.is_empty() {
        return;
    }
    println!("buggify (seeds active, times fired):");
    for (point, (seeds, fired)) in points {
        println!("  {point:<28} {seeds:>5}   {fired}");
    }
}

// ---- sim merge --------------------------------------------------------------------------------

pub(super) fn merge(args: &MergeArgs) -> ExitCode {
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
    lines.sort_by_key(|l| l.seed);
    // Shards ran side by side; their wall times add up to the machine time spent.
    let wall = Duration::from_millis(lines.iter().map(|l| l.wall_ms).sum());
    print_summary(&lines, wall);
    println!("(wall time above: the sum over seeds, i.e. machine time on one core)");
    let failing: Vec<&SeedLine> = lines.iter().filter(|l| !l.ok).collect();
    if let Some(path) = &args.junit {
        if let Err(e) = write_junit(path, &lines) {
            eprintln!("--junit: {e}");
            return ExitCode::from(2);
        }
    }
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

// ---- JUnit ------------------------------------------------------------------------------------

/// Writes `lines` as JUnit XML to `path`.
pub(super) fn write_junit(path: &std::path::Path, lines: &[SeedLine]) -> std::io::Result<()> {
    std::fs::write(path, junit::render("clusterlab sim", &junit_suites(lines)))
}

/// One suite per scenario: each failing seed a case (its first violation as the message, all
/// of them and the replay line as the text), then one case for all passing seeds. A
/// million-seed campaign would otherwise write a million passing cases, which CI pages load
/// slowly and which say nothing the count does not.
pub(super) fn junit_suites(lines: &[SeedLine]) -> Vec<junit::Suite> {
    let mut by_scenario: BTreeMap<&str, Vec<&SeedLine>> = BTreeMap::new();
    for line in lines {
        by_scenario.entry(&line.scenario).or_default().push(line);
    }
    by_scenario
        .into_iter()
        .map(|(scenario, mut lines)| {
            lines.sort_by_key(|l| l.seed);
            let mut cases: Vec<junit::Case> = lines
                .iter()
                .filter(|l| !l.ok)
                .map(|l| failing_case(l))
                .collect();
            let passing: Vec<&&SeedLine> = lines.iter().filter(|l| l.ok).collect();
            if let (Some(first), Some(last)) = (passing.first(), passing.last()) {
                cases.push(junit::Case {
                    name: format!(
                        "{} passing seeds (seeds {}..={})",
                        passing.len(),
                        first.seed,
                        last.seed
                    ),
                    time_ms: passing.iter().map(|l| l.wall_ms).sum(),
                    failure: None,
                });
            }
            junit::Suite {
                name: format!("clusterlab sim {scenario}"),
                cases,
            }
        })
        .collect()
}

fn failing_case(line: &SeedLine) -> junit::Case {
    let first = line.violations.first();
    let kind = first.map_or("failed", |v| v.name.as_str()).to_string();
    let message = first.map_or(String::new(), |v| format!("{}: {}", v.name, v.evidence));
    let mut text: String = line
        .violations
        .iter()
        .map(|v| format!("{}: {}\n", v.name, v.evidence))
        .collect();
    text.push_str(&format!(
        "replay: {}",
        replay_line(&line.scenario, line.seed, &line.config)
    ));
    junit::Case {
        name: format!("seed {}", line.seed),
        time_ms: line.wall_ms,
        failure: Some(junit::Failure {
            kind,
            message,
            text,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_cmd::SeedOutcome;
    use clusterlab_sim::SimConfig;

    #[test]
    fn seed_lines_round_trip() {
        let outcome = SeedOutcome::Panic {
            seed: 5,
            message: "boom".into(),
        };
        let line = SeedLine::of("campaign", &SimConfig::default(), &outcome, 12);
        assert!(!line.ok);
        assert_eq!(line.violations[0].name, "run_panicked");
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(serde_json::from_str::<SeedLine>(&text).unwrap(), line);
    }

    #[test]
    fn junit_has_each_failing_seed_with_its_replay_and_one_case_for_the_rest() {
        let config = SimConfig::default();
        let pass = |seed| {
            let mut line = SeedLine::of(
                "campaign",
                &config,
                &SeedOutcome::Panic {
                    seed,
                    message: String::new(),
                },
                1000,
            );
            line.ok = true;
            line.violations.clear();
            line
        };
        let fail = SeedLine::of(
            "campaign",
            &config,
            &SeedOutcome::Panic {
                seed: 12,
                message: "assertion <x> failed".into(),
            },
            2500,
        );
        let suites = junit_suites(&[pass(11), fail, pass(13), pass(10)]);
        assert_eq!(suites.len(), 1);
        let cases = &suites[0].cases;
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].name, "seed 12");
        let failure = cases[0].failure.as_ref().unwrap();
        assert_eq!(failure.kind, "run_panicked");
        assert_eq!(failure.message, "run_panicked: assertion <x> failed");
        assert!(failure.text.ends_with(&format!(
            "replay: cargo sim --seed 12 --seeds 1 {}",
            config.flags()
        )));
        assert_eq!(cases[1].name, "3 passing seeds (seeds 10..=13)");
        assert_eq!(cases[1].time_ms, 3000);
        assert!(cases[1].failure.is_none());
    }
}
