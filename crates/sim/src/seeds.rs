//! The regression corpus: one JSON file per interesting run in `seeds/`, replayed by
//! `sim-tests`.
//!
//! A record names the seed, the scenario, the cluster shape and what the run must show
//! (`"ok"`, or `"violation:<name>"` for a known, still-open bug), plus a note for people:
//!
//! ```json
//! {"seed": 42, "scenario": "walkthrough",
//!  "config": {"masters": 3, "replicas": 0, "node_timeout_ms": 5000},
//!  "expectation": "ok", "note": "first run of the walkthrough"}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The shape of a simulated cluster. Missing JSON fields take the tutorial's values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    pub masters: usize,
    /// Replicas per master.
    pub replicas: usize,
    pub node_timeout_ms: u64,
}

impl Default for SimConfig {
    /// The tutorial's cluster: three masters, no replicas, `cluster-node-timeout 5000`.
    fn default() -> Self {
        SimConfig {
            masters: 3,
            replicas: 0,
            node_timeout_ms: 5000,
        }
    }
}

impl SimConfig {
    pub fn node_count(&self) -> usize {
        self.masters * (1 + self.replicas)
    }
}

/// What a replayed seed must show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// No violation at all.
    Ok,
    /// This named violation is reported (a reproduced, not yet fixed bug).
    Violation(String),
}

impl Expectation {
    pub fn parse(text: &str) -> Option<Expectation> {
        if text == "ok" {
            return Some(Expectation::Ok);
        }
        match text.strip_prefix("violation:") {
            Some(name) if !name.is_empty() => Some(Expectation::Violation(name.to_string())),
            _ => None,
        }
    }

    /// Whether a run whose violations have these names meets the expectation.
    pub fn is_met_by<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> bool {
        match self {
            Expectation::Ok => names.next().is_none(),
            Expectation::Violation(want) => names.any(|n| n == want),
        }
    }
}

/// One seed file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRecord {
    pub seed: u64,
    pub scenario: String,
    #[serde(default)]
    pub config: SimConfig,
    /// `"ok"` or `"violation:<name>"`.
    pub expectation: String,
    #[serde(default)]
    pub note: String,
}

impl SeedRecord {
    /// Parses one record and checks its expectation is well formed.
    pub fn parse(json: &str) -> Result<SeedRecord, String> {
        let record: SeedRecord = serde_json::from_str(json).map_err(|e| e.to_string())?;
        record.expectation()?;
        Ok(record)
    }

    pub fn expectation(&self) -> Result<Expectation, String> {
        Expectation::parse(&self.expectation).ok_or_else(|| {
            format!(
                "expectation must be \"ok\" or \"violation:<name>\", got {:?}",
                self.expectation
            )
        })
    }
}

/// Reads every `*.json` file of `dir`, sorted by file name. Any unreadable or malformed file is
/// an error naming it: a corpus entry that silently stops being replayed is worse than a failure.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, SeedRecord)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut records = Vec::with_capacity(paths.len());
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let record = SeedRecord::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        records.push((path, record));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_record() {
        let record = SeedRecord::parse(
            r#"{"seed": 42, "scenario": "walkthrough",
                "config": {"masters": 3, "replicas": 1, "node_timeout_ms": 2000},
                "expectation": "ok", "note": "n"}"#,
        )
        .unwrap();
        assert_eq!(record.seed, 42);
        assert_eq!(record.scenario, "walkthrough");
        assert_eq!(
            record.config,
            SimConfig {
                masters: 3,
                replicas: 1,
                node_timeout_ms: 2000
            }
        );
        assert_eq!(record.config.node_count(), 6);
        assert_eq!(record.expectation().unwrap(), Expectation::Ok);
    }

    #[test]
    fn defaults_and_errors() {
        let record = SeedRecord::parse(
            r#"{"seed": 1, "scenario": "walkthrough", "expectation": "violation:x"}"#,
        )
        .unwrap();
        assert_eq!(record.config, SimConfig::default());
        assert_eq!(
            record.expectation().unwrap(),
            Expectation::Violation("x".into())
        );
        assert!(
            SeedRecord::parse(r#"{"seed": 1, "scenario": "w", "expectation": "fine"}"#).is_err()
        );
        assert!(
            SeedRecord::parse(r#"{"seed": 1, "scenario": "w", "expectation": "violation:"}"#)
                .is_err()
        );
        assert!(
            SeedRecord::parse(r#"{"seed": -1, "scenario": "w", "expectation": "ok"}"#).is_err()
        );
        assert!(
            SeedRecord::parse(r#"{"seed": 1, "scenario": "w", "expectation": "ok", "x": 1}"#)
                .is_err()
        );
    }

    #[test]
    fn expectation_matching() {
        assert!(Expectation::Ok.is_met_by(std::iter::empty()));
        assert!(!Expectation::Ok.is_met_by(["a"].into_iter()));
        let v = Expectation::Violation("b".into());
        assert!(v.is_met_by(["a", "b"].into_iter()));
        assert!(!v.is_met_by(["a"].into_iter()));
    }

    #[test]
    fn load_dir_reads_only_json_sorted() {
        let dir =
            std::env::temp_dir().join(format!("clusterlab-seeds-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("b.json"),
            r#"{"seed": 2, "scenario": "w", "expectation": "ok"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("a.json"),
            r#"{"seed": 1, "scenario": "w", "expectation": "ok"}"#,
        )
        .unwrap();
        std::fs::write(dir.join("README.md"), "not a seed").unwrap();
        let records = load_dir(&dir).unwrap();
        let seeds: Vec<u64> = records.iter().map(|(_, r)| r.seed).collect();
        assert_eq!(seeds, vec![1, 2]);
        std::fs::write(dir.join("c.json"), "{").unwrap();
        let err = load_dir(&dir).unwrap_err();
        assert!(err.contains("c.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load_dir(&dir).is_err());
    }
}
