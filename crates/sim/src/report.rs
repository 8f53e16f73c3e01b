//! The outcome of one simulated run: named violations with evidence, virtual duration, the
//! trace hash, and each node's final `CLUSTER NODES` text.
//!
//! A report is plain data so the CLI can aggregate many seeds and tests can assert on it outside
//! the simulator.

use std::collections::BTreeMap;
use std::fmt;

use crate::trace::TraceEvent;

/// A broken expectation: a stable `name` (counted across seeds) and the evidence that shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant broken, in snake_case (`slot_epoch_conflict`, …).
    pub name: String,
    /// What was seen, for a person debugging: which node, at which virtual time, what differs.
    pub evidence: String,
}

impl Violation {
    /// A violation of the invariant `name`.
    pub fn new(name: impl Into<String>, evidence: impl Into<String>) -> Violation {
        Violation {
            name: name.into(),
            evidence: evidence.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.evidence)
    }
}

/// Everything one run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The run's seed: the same seed, scenario and config replay the same run.
    pub seed: u64,
    /// Name of the scenario that ran (what `cargo sim --scenario` takes).
    pub scenario: String,
    /// Every broken expectation, in the order found; empty for a passing run.
    pub violations: Vec<Violation>,
    /// Virtual time the run simulated, in milliseconds.
    pub virtual_ms: u64,
    /// FNV-1a of the rendered trace; equal seeds must give equal hashes.
    pub trace_hash: u64,
    /// Number of events in the trace.
    pub trace_len: usize,
    /// The rendered trace, for people reading a failing seed.
    pub trace_text: String,
    /// The trace's events, typed, for timelines and checks after the run.
    pub trace: Vec<TraceEvent>,
    /// `(node name, CLUSTER NODES reply)` for every node, in node order.
    pub cluster_nodes: Vec<(String, String)>,
}

impl RunReport {
    /// Whether the run had no violation.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Panics unless the run had no violation, with each violation, the replay command and
    /// the trace: what a test shows for a failing seed.
    pub fn assert_ok(&self) {
        let scenario = &self.scenario;
        assert!(
            self.ok(),
            "{scenario} seed {} violations:\n{}\nreplay: cargo sim --scenario {scenario} --seed {} \
             --seeds 1\ntrace:\n{}",
            self.seed,
            self.violations
                .iter()
                .map(|v| format!("  {v}\n"))
                .collect::<String>(),
            self.seed,
            self.trace_text
        );
    }

    /// Violation counts by name, sorted by name.
    pub fn violation_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for v in &self.violations {
            *counts.entry(v.name.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// The `CLUSTER NODES` text collected from the named node.
    pub fn nodes_of(&self, node: &str) -> Option<&str> {
        self.cluster_nodes
            .iter()
            .find(|(name, _)| name == node)
            .map(|(_, text)| text.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_lookup() {
        let report = RunReport {
            violations: vec![
                Violation::new("b", "x"),
                Violation::new("a", "y"),
                Violation::new("b", "z"),
            ],
            cluster_nodes: vec![("node1".into(), "text1".into())],
            ..RunReport::default()
        };
        assert!(!report.ok());
        let counts: Vec<_> = report.violation_counts().into_iter().collect();
        assert_eq!(counts, vec![("a".to_string(), 1), ("b".to_string(), 2)]);
        assert_eq!(report.nodes_of("node1"), Some("text1"));
        assert_eq!(report.nodes_of("node2"), None);
        assert_eq!(Violation::new("a", "y").to_string(), "a: y");
        assert!(RunReport::default().ok());
    }
}
