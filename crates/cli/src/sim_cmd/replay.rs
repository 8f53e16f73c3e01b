//! Rerunning one seed: `sim replay` (a seed file, with its expectation), `sim plan` (the seed
//! record a campaign seed draws) and `sim timeline` (a run drawn as an HTML page).

use std::process::ExitCode;
use std::time::Instant;

use clusterlab_sim::scenario;
use clusterlab_sim::{campaign, SeedRecord};

use super::{
    guarded, install_quiet_panic_hook, print_trace, PlanArgs, ReplayArgs, SeedOutcome, TimelineArgs,
};

// ---- sim replay -------------------------------------------------------------------------------

pub(super) fn replay(args: &ReplayArgs) -> ExitCode {
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
    let met = expectation.is_met_by(violations.iter().map(|v| v.name()));
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

pub(super) fn plan(args: &PlanArgs) -> ExitCode {
    let config = args.config.config_for(campaign::NAME, args.seed);
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

pub(super) fn timeline(args: &TimelineArgs) -> ExitCode {
    let record = match args.target.parse::<u64>() {
        Ok(seed) => SeedRecord {
            seed,
            scenario: args.scenario.clone(),
            config: args.config.config_for(&args.scenario, seed),
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
