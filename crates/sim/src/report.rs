//! The outcome of one simulated run: named violations with evidence, virtual duration, the
//! trace hash, and each node's final `CLUSTER NODES` text.
//!
//! A report is plain data so the CLI can aggregate many seeds and tests can assert on it outside
//! the simulator.

use std::collections::BTreeMap;
use std::fmt;

use crate::trace::TraceEvent;
pub use crate::violation_kind::ViolationKind;

/// A broken expectation: what kind (counted across seeds, by its stable name) and the
/// evidence that shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant broken.
    pub kind: ViolationKind,
    /// What was seen, for a person debugging: which node, at which virtual time, what differs.
    pub evidence: String,
}

impl Violation {
    /// A violation of kind `kind`.
    pub fn new(kind: ViolationKind, evidence: impl Into<String>) -> Violation {
        Violation {
            kind,
            evidence: evidence.into(),
        }
    }

    /// The kind's stable name (`slot_epoch_conflict`, …), as seed files and summaries use it.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.evidence)
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
    /// The buggify points active in the run, with how often each fired (empty when off).
    pub buggify: Vec<(String, u64)>,
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
            *counts.entry(v.name().to_string()).or_insert(0) += 1;
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
                Violation::new(ViolationKind::KeyLost, "x"),
                Violation::new(ViolationKind::DoubleVote, "y"),
                Violation::new(ViolationKind::KeyLost, "z"),
            ],
            cluster_nodes: vec![("node1".into(), "text1".into())],
            ..RunReport::default()
        };
        assert!(!report.ok());
        let counts: Vec<_> = report.violation_counts().into_iter().collect();
        let expected = vec![("double_vote".to_string(), 1), ("key_lost".to_string(), 2)];
        assert_eq!(counts, expected);
        assert_eq!(report.nodes_of("node1"), Some("text1"));
        assert_eq!(report.nodes_of("node2"), None);
        let v = Violation::new(ViolationKind::DoubleVote, "y");
        assert_eq!(v.to_string(), "double_vote: y");
        assert!(RunReport::default().ok());
    }
}
