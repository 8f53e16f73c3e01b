//! The canary hunt: does the campaign catch each deliberate bug of `clusterlab_core::canary`?
//!
//! For one canary (or none, the control run), campaign seeds run one after another with every
//! node carrying that canary until the first seed reports a violation or `max_seeds` have run.
//! A canary that survives `max_seeds` marks a blind spot of the harness (fault mix, workload or
//! invariant), and a control run that reports anything marks a false alarm or a real bug.

use clusterlab_core::canary::Canary;

use crate::campaign;
use crate::seeds::SimConfig;

/// The first violation a hunt met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catch {
    /// The campaign seed that reported it.
    pub seed: u64,
    /// The violation's name ([`Violation::name`](crate::report::Violation::name)).
    pub invariant: String,
    /// The violation's evidence.
    pub evidence: String,
}

/// What hunting one canary (or the control run, `canary: None`) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunt {
    /// The deliberate bug every node carried (`None`: the control run).
    pub canary: Option<Canary>,
    /// Seeds run, including the one that caught it.
    pub seeds_run: u64,
    /// The first violation, or `None` if every seed run passed.
    pub caught: Option<Catch>,
    /// Virtual time simulated over all seeds, in milliseconds.
    pub virtual_ms: u64,
}

/// `base` with every node carrying `canary`.
pub fn config_with(base: &SimConfig, canary: Option<Canary>) -> SimConfig {
    let mut config = base.clone();
    config.canaries = canary
        .map(|c| vec![c.name().to_string()])
        .unwrap_or_default();
    config
}

/// Runs campaign seeds `first_seed..first_seed + max_seeds` until the first violation.
pub fn hunt(canary: Option<Canary>, base: &SimConfig, first_seed: u64, max_seeds: u64) -> Hunt {
    let config = config_with(base, canary);
    let mut hunt = Hunt {
        canary,
        seeds_run: 0,
        caught: None,
        virtual_ms: 0,
    };
    for seed in first_seed..first_seed.saturating_add(max_seeds) {
        let report = campaign::run(seed, &config, None);
        hunt.seeds_run += 1;
        hunt.virtual_ms += report.virtual_ms;
        if let Some(v) = report.violations.first() {
            hunt.caught = Some(Catch {
                seed,
                invariant: v.name().to_string(),
                evidence: v.evidence.clone(),
            });
            break;
        }
    }
    hunt
}

/// The command that replays the catching seed of a hunt.
pub fn replay_line(canary: Option<Canary>, base: &SimConfig, seed: u64) -> String {
    let mut line = format!(
        "cargo sim --seed {seed} --seeds 1 --masters {} --replicas {} --node-timeout-ms {}",
        base.masters, base.replicas, base.node_timeout_ms
    );
    if let Some(c) = canary {
        line.push_str(&format!(" --canary {c}"));
    }
    line
}
