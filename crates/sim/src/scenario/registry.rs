//! The scenario registry: the [`Scenario`] trait every scenario implements and [`SCENARIOS`],
//! the one table that [`run`], seed-file replay ([`run_record`]) and the CLI (`--scenario`,
//! `clusterlab sim list`) read. Adding a scenario is its own file plus one line here.

use clusterlab_core::config::AppendFsync;
use proptest::strategy::BoxedStrategy;

use crate::faults::{ClusterShape, FaultSchedule};
use crate::report::RunReport;
use crate::seeds::{SeedRecord, SimConfig};

/// A named, seeded run of a simulated cluster that ends in a [`RunReport`].
pub trait Scenario: Sync {
    /// The name `--scenario` and seed files use.
    fn name(&self) -> &'static str;

    /// One line saying what the scenario does (for listings and `--help`).
    fn about(&self) -> &'static str;

    /// Runs the scenario for `seed` on `config` in a fresh madsim runtime.
    fn run(&self, seed: u64, config: &SimConfig) -> RunReport;

    /// Runs it with an explicit fault schedule in place of the one the seed draws (a shrunk
    /// schedule from a seed file). Only scenarios that inject faults from a schedule take one.
    fn run_with_schedule(
        &self,
        seed: u64,
        config: &SimConfig,
        schedule: FaultSchedule,
    ) -> Result<RunReport, String> {
        let _ = (seed, config, schedule);
        Err(format!(
            "scenario {:?} takes no fault schedule",
            self.name()
        ))
    }

    /// The cluster the scenario runs on when asked for `config` (by default `config` itself).
    fn effective_config(&self, config: &SimConfig) -> SimConfig {
        config.clone()
    }

    /// A proptest strategy for the fault schedules the scenario takes on `shape`, for the
    /// schedule search (`None`: it takes none).
    fn schedule_strategy(&self, shape: &ClusterShape) -> Option<BoxedStrategy<FaultSchedule>> {
        let _ = shape;
        None
    }
}

/// Every scenario, in the order listings show them.
pub static SCENARIOS: &[&dyn Scenario] = &[
    &super::walkthrough::Walkthrough,
    &crate::campaign::CampaignScenario,
    &super::crash::Crash,
    &super::partition::Partition,
    &super::durability::Durability(AppendFsync::Always),
    &super::durability::Durability(AppendFsync::Everysec),
    &super::failover::FailoverScenario,
    &super::reshard::Reshard,
    &super::tutorial::Tutorial,
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static dyn Scenario> {
    SCENARIOS.iter().copied().find(|s| s.name() == name)
}

/// Every scenario's name, in registry order.
pub fn names() -> Vec<&'static str> {
    SCENARIOS.iter().map(|s| s.name()).collect()
}

fn unknown(name: &str) -> String {
    format!("unknown scenario {name:?}; known: {}", names().join(", "))
}

/// Runs scenario `name` with `seed` in a fresh madsim runtime. Unknown names are an error.
pub fn run(name: &str, seed: u64, config: &SimConfig) -> Result<RunReport, String> {
    let scenario = find(name).ok_or_else(|| unknown(name))?;
    Ok(scenario.run(seed, config))
}

/// Replays a seed file: its scenario, seed and config, and its explicit fault schedule if it
/// has one (only scenarios that inject faults from a schedule accept one).
pub fn run_record(record: &SeedRecord) -> Result<RunReport, String> {
    let scenario = find(&record.scenario).ok_or_else(|| unknown(&record.scenario))?;
    match &record.schedule {
        None => Ok(scenario.run(record.seed, &record.config)),
        Some(schedule) => scenario.run_with_schedule(record.seed, &record.config, schedule.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let mut all = names();
        assert_eq!(all[0], "walkthrough");
        for name in &all {
            assert_eq!(find(name).map(|s| s.name()), Some(*name));
            assert!(!find(name).unwrap().about().is_empty());
        }
        assert!(find("nope").is_none());
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), SCENARIOS.len());
    }
}
