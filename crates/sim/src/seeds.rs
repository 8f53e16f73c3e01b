//! The regression corpus: one JSON file per interesting run in `seeds/`, replayed by
//! `sim-tests`.
//!
//! A record names the seed, the scenario, the cluster shape, optionally an explicit fault
//! schedule (a shrunk one; without it the campaign draws its schedule from the seed) and what
//! the run must show (`"ok"`, or `"violation:<name>"` for a known, still-open bug), plus a note
//! for people:
//!
//! ```json
//! {"seed": 42, "scenario": "campaign",
//!  "config": {"masters": 3, "replicas": 0, "node_timeout_ms": 5000},
//!  "schedule": [{"at_ms": 1200, "kind": "crash", "node": 1},
//!               {"at_ms": 9000, "kind": "restart", "node": 1}],
//!  "expectation": "ok", "note": "first run of the walkthrough"}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use clusterlab_core::config::AppendFsync;

use crate::faults::FaultSchedule;
use crate::violation_kind::ViolationKind;

/// The shape of a simulated cluster and the configuration knobs its nodes run with. Missing
/// JSON fields take the tutorial's values (and Redis's defaults for the knobs), so seed files
/// written before a field existed replay as they always did; fields at their default are not
/// written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Masters `create` makes; they split the 16384 slots.
    pub masters: usize,
    /// Replicas per master.
    pub replicas: usize,
    /// `cluster-node-timeout` of every node, in ms.
    pub node_timeout_ms: u64,
    /// `cluster-replica-validity-factor` (0: a replica's data is never too old to fail over).
    #[serde(skip_serializing_if = "is_default_validity")]
    pub validity_factor: u64,
    /// `cluster-require-full-coverage`: `cluster_state` turns fail when a slot is uncovered.
    #[serde(skip_serializing_if = "is_true")]
    pub require_full_coverage: bool,
    /// `cluster-allow-reads-when-down`: reads are served while `cluster_state` is fail.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_reads_when_down: bool,
    /// `cluster-allow-replica-migration`: a replica may move to an orphaned master (and to
    /// the master that took all its master's slots).
    #[serde(skip_serializing_if = "is_true")]
    pub allow_replica_migration: bool,
    /// `appendfsync` of the two-phase runs (`campaign`, `failover`); other scenarios choose
    /// their own.
    #[serde(skip_serializing_if = "is_always")]
    pub appendfsync: Fsync,
    /// Deliberate bugs every node runs with (names from `clusterlab_core::canary`); only the
    /// canary search sets them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<String>,
    /// Append clients the campaign runs, each on its own machine (0: the single `SET`
    /// writer instead). Left out of files when it is the default, so older files load and
    /// read the same.
    #[serde(skip_serializing_if = "is_default_clients")]
    pub clients: usize,
    /// Whether the campaign lets the drivers' buggify points fire (`clusterlab_net::buggify`).
    /// Drawn campaign seeds do; seed files from before it, scenario tests and hand-built
    /// configs do not.
    #[serde(skip_serializing_if = "is_false")]
    pub buggify: bool,
    /// Sim only: the nodes measure their timeouts with their (skewed) wall clock, as Redis
    /// 7.0's `mstime()` does, instead of a monotonic clock (`clusterlab_net::clock`). Drawn
    /// seeds never set it; the clock scenario tests do.
    #[serde(skip_serializing_if = "is_false")]
    pub wall_clock_timeouts: bool,
    /// `repl-timeout` of every node, in seconds: a replica drops a link silent this long.
    /// Redis's default unless a test shortens it (the campaign never draws it).
    #[serde(skip_serializing_if = "is_default_repl_timeout")]
    pub repl_timeout_s: u64,
    /// `repl-diskless-sync-delay` of every node, in seconds: a master holds a full sync's
    /// snapshot this long for more replicas to share it. Redis's default unless set.
    #[serde(skip_serializing_if = "is_default_sync_delay")]
    pub repl_diskless_sync_delay_s: u64,
    /// The simulated bandwidth of a full sync's transfer, in bytes a second: a replica reads
    /// its snapshot no faster, so the sync takes longer the more data there is (0: at once).
    #[serde(skip_serializing_if = "is_default_transfer")]
    pub repl_transfer_bytes_per_s: u64,
    /// `repl-diskless-load` of every node (`disabled`, `on-empty-db`, `swapdb`): how a
    /// replica loads a full sync. Redis's default unless drawn or set.
    #[serde(skip_serializing_if = "is_default_diskless_load")]
    pub repl_diskless_load: String,
    /// `rdb-key-save-delay` of every node, in microseconds per key: how slowly a master
    /// produces a full sync's snapshot (0: at once; never drawn).
    #[serde(skip_serializing_if = "is_zero")]
    pub rdb_key_save_delay_us: i64,
    /// `maxmemory` and `maxmemory-policy` of every node (`None`: no limit, Redis's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxmemory: Option<Maxmemory>,
}

/// Redis's `repl-diskless-load` default.
pub const DEFAULT_DISKLESS_LOAD: &str = "disabled";

fn is_default_diskless_load(name: &String) -> bool {
    name == DEFAULT_DISKLESS_LOAD
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A memory limit the nodes run with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maxmemory {
    /// `maxmemory`, in bytes (a node's `used_memory` starts at 1 MiB, its fixed base).
    pub bytes: u64,
    /// `maxmemory-policy` (`allkeys-lru`, `noeviction`, …).
    pub policy: String,
}

/// The simulated snapshot bandwidth unless set: 1 MB/s, a slow link, so that the transfer
/// of the campaign's small data sets still takes a visible moment.
pub const DEFAULT_TRANSFER_BYTES_PER_S: u64 = 1_000_000;

fn is_default_transfer(b: &u64) -> bool {
    *b == DEFAULT_TRANSFER_BYTES_PER_S
}

/// Redis's `repl-timeout` default, in seconds.
pub const DEFAULT_REPL_TIMEOUT_S: u64 = 60;
/// Redis's `repl-diskless-sync-delay` default, in seconds.
pub const DEFAULT_SYNC_DELAY_S: u64 = 5;

fn is_default_repl_timeout(s: &u64) -> bool {
    *s == DEFAULT_REPL_TIMEOUT_S
}

fn is_default_sync_delay(s: &u64) -> bool {
    *s == DEFAULT_SYNC_DELAY_S
}

/// How many append clients a campaign runs unless told otherwise.
pub const DEFAULT_CLIENTS: usize = 4;

fn is_default_clients(clients: &usize) -> bool {
    *clients == DEFAULT_CLIENTS
}

/// Redis's `cluster-replica-validity-factor` default.
pub const DEFAULT_VALIDITY_FACTOR: u64 = 10;

/// The `appendfsync` policies a simulated run may use (`no` leaves durability to the OS,
/// which the simulated disk does not model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// Every write is synced before its reply.
    #[default]
    Always,
    /// Synced once a second: a crash may lose the last second or two.
    Everysec,
}

impl Fsync {
    /// The node's policy.
    pub fn policy(self) -> AppendFsync {
        match self {
            Fsync::Always => AppendFsync::Always,
            Fsync::Everysec => AppendFsync::Everysec,
        }
    }

    /// The name `redis.conf` and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
        }
    }
}

fn is_default_validity(factor: &u64) -> bool {
    *factor == DEFAULT_VALIDITY_FACTOR
}

fn is_true(value: &bool) -> bool {
    *value
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_always(fsync: &Fsync) -> bool {
    *fsync == Fsync::Always
}

impl Default for SimConfig {
    /// The tutorial's cluster: three masters, no replicas, `cluster-node-timeout 5000`;
    /// Redis's defaults for the knobs, `appendfsync always`.
    fn default() -> Self {
        SimConfig {
            masters: 3,
            replicas: 0,
            node_timeout_ms: 5000,
            validity_factor: DEFAULT_VALIDITY_FACTOR,
            require_full_coverage: true,
            allow_reads_when_down: false,
            allow_replica_migration: true,
            appendfsync: Fsync::Always,
            canaries: Vec::new(),
            clients: DEFAULT_CLIENTS,
            buggify: false,
            wall_clock_timeouts: false,
            repl_timeout_s: DEFAULT_REPL_TIMEOUT_S,
            repl_diskless_sync_delay_s: DEFAULT_SYNC_DELAY_S,
            repl_transfer_bytes_per_s: DEFAULT_TRANSFER_BYTES_PER_S,
            repl_diskless_load: DEFAULT_DISKLESS_LOAD.to_string(),
            rdb_key_save_delay_us: 0,
            maxmemory: None,
        }
    }
}

impl SimConfig {
    /// Nodes in the cluster: `masters × (1 + replicas)`.
    pub fn node_count(&self) -> usize {
        self.masters * (1 + self.replicas)
    }

    /// The flags of `clusterlab sim run` that pin this configuration (every shape and knob
    /// field, so a replay never depends on what a seed would draw).
    pub fn flags(&self) -> String {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let mut flags = format!(
            "--masters {} --replicas {} --node-timeout-ms {} --validity-factor {} \
             --full-coverage {} --reads-when-down {} --replica-migration {} --appendfsync {} \
             --repl-diskless-load {}",
            self.masters,
            self.replicas,
            self.node_timeout_ms,
            self.validity_factor,
            yes_no(self.require_full_coverage),
            yes_no(self.allow_reads_when_down),
            yes_no(self.allow_replica_migration),
            self.appendfsync.name(),
            self.repl_diskless_load
        );
        for canary in &self.canaries {
            flags.push_str(&format!(" --canary {canary}"));
        }
        if self.clients != DEFAULT_CLIENTS {
            flags.push_str(&format!(" --clients {}", self.clients));
        }
        if self.repl_timeout_s != DEFAULT_REPL_TIMEOUT_S {
            flags.push_str(&format!(" --repl-timeout-s {}", self.repl_timeout_s));
        }
        if self.repl_diskless_sync_delay_s != DEFAULT_SYNC_DELAY_S {
            let delay = self.repl_diskless_sync_delay_s;
            flags.push_str(&format!(" --repl-diskless-sync-delay-s {delay}"));
        }
        if self.repl_transfer_bytes_per_s != DEFAULT_TRANSFER_BYTES_PER_S {
            let bandwidth = self.repl_transfer_bytes_per_s;
            flags.push_str(&format!(" --repl-transfer-bytes-per-s {bandwidth}"));
        }
        if self.rdb_key_save_delay_us != 0 {
            let delay = self.rdb_key_save_delay_us;
            flags.push_str(&format!(" --rdb-key-save-delay-us {delay}"));
        }
        flags
    }
}

/// What a replayed seed must show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// No violation at all.
    Ok,
    /// A violation of this kind is reported (a reproduced, not yet fixed bug).
    Violation(ViolationKind),
}

impl Expectation {
    /// Reads `"ok"` or `"violation:<name>"` with a known [`ViolationKind`] name; `None` for
    /// anything else.
    pub fn parse(text: &str) -> Option<Expectation> {
        if text == "ok" {
            return Some(Expectation::Ok);
        }
        match text.strip_prefix("violation:") {
            Some(name) => ViolationKind::from_name(name).map(Expectation::Violation),
            None => None,
        }
    }

    /// Whether a run whose violations have these names meets the expectation.
    pub fn is_met_by<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> bool {
        match self {
            Expectation::Ok => names.next().is_none(),
            Expectation::Violation(want) => names.any(|n| n == want.name()),
        }
    }
}

/// One seed file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRecord {
    /// The run's seed.
    pub seed: u64,
    /// Name of the scenario to run (as `cargo sim --scenario` takes it).
    pub scenario: String,
    /// The cluster; absent in JSON means [`SimConfig::default`].
    #[serde(default)]
    pub config: SimConfig,
    /// The faults to inject instead of the ones the seed would draw (scenarios with faults
    /// only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<FaultSchedule>,
    /// `"ok"` or `"violation:<name>"`.
    pub expectation: String,
    /// Why the seed is kept, for people (not checked).
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

    /// The record as JSON for a seed file: one field per line, one scheduled fault per line,
    /// ending in a newline.
    pub fn to_json(&self) -> String {
        let mut lines = vec![
            format!("  \"seed\": {}", self.seed),
            format!("  \"scenario\": {}", json(&self.scenario)),
            format!("  \"config\": {}", json(&self.config)),
        ];
        if let Some(schedule) = &self.schedule {
            let faults: Vec<String> = schedule
                .iter()
                .map(|f| format!("    {}", json(f)))
                .collect();
            lines.push(if faults.is_empty() {
                "  \"schedule\": []".to_string()
            } else {
                format!("  \"schedule\": [\n{}\n  ]", faults.join(",\n"))
            });
        }
        lines.push(format!("  \"expectation\": {}", json(&self.expectation)));
        lines.push(format!("  \"note\": {}", json(&self.note)));
        format!("{{\n{}\n}}\n", lines.join(",\n"))
    }

    /// The parsed `expectation`, or an error saying it is malformed.
    pub fn expectation(&self) -> Result<Expectation, String> {
        Expectation::parse(&self.expectation).ok_or_else(|| {
            format!(
                "expectation must be \"ok\" or \"violation:<name>\" with a known name, got {:?}",
                self.expectation
            )
        })
    }
}

/// Compact JSON of one field of a seed record.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("seed record fields serialize")
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

/// What [`save_new`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Saved {
    /// Written to this new file.
    Written(PathBuf),
    /// This file already holds the same run (seed, scenario, config and schedule).
    Known(PathBuf),
}

/// Adds a failing run to the corpus in `dir` as the next `NNNN-<scenario>-<violation>-seed<S>.json`
/// (numbered after the highest `NNNN-` prefix there), unless a file already holds the same run.
pub fn save_new(dir: &Path, record: &SeedRecord) -> Result<Saved, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut highest = 0u32;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.split('-').next().and_then(|n| n.parse::<u32>().ok()) {
            highest = highest.max(n);
        }
        if path.extension().is_some_and(|e| e == "json") {
            let same = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| SeedRecord::parse(&t).ok())
                .is_some_and(|r| {
                    (r.seed, &r.scenario, &r.config, &r.schedule)
                        == (
                            record.seed,
                            &record.scenario,
                            &record.config,
                            &record.schedule,
                        )
                });
            if same {
                return Ok(Saved::Known(path));
            }
        }
    }
    let what = record
        .expectation
        .strip_prefix("violation:")
        .unwrap_or("run")
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let path = dir.join(format!(
        "{:04}-{}-{what}-seed{}.json",
        highest + 1,
        record.scenario,
        record.seed
    ));
    std::fs::write(&path, record.to_json()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Saved::Written(path))
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
                node_timeout_ms: 2000,
                ..SimConfig::default()
            }
        );
        assert_eq!(record.config.node_count(), 6);
        assert_eq!(record.expectation().unwrap(), Expectation::Ok);
    }

    #[test]
    fn defaults_and_errors() {
        let record = SeedRecord::parse(
            r#"{"seed": 1, "scenario": "walkthrough", "expectation": "violation:key_lost"}"#,
        )
        .unwrap();
        assert_eq!(record.config, SimConfig::default());
        assert_eq!(
            record.expectation().unwrap(),
            Expectation::Violation(ViolationKind::KeyLost)
        );
        assert!(
            SeedRecord::parse(r#"{"seed": 1, "scenario": "w", "expectation": "fine"}"#).is_err()
        );
        assert!(
            SeedRecord::parse(r#"{"seed": 1, "scenario": "w", "expectation": "violation:"}"#)
                .is_err()
        );
        // A name no check reports could never be met: refused when the file is read.
        assert!(SeedRecord::parse(
            r#"{"seed": 1, "scenario": "w", "expectation": "violation:key_lots"}"#
        )
        .is_err());
        assert!(
            SeedRecord::parse(r#"{"seed": -1, "scenario": "w", "expectation": "ok"}"#).is_err()
        );
        assert!(
            SeedRecord::parse(r#"{"seed": 1, "scenario": "w", "expectation": "ok", "x": 1}"#)
                .is_err()
        );
    }

    #[test]
    fn records_carry_a_schedule_and_round_trip() {
        let record = SeedRecord::parse(
            r#"{"seed": 9, "scenario": "campaign",
                "schedule": [{"at_ms": 1200, "kind": "crash", "node": 1},
                             {"at_ms": 9000, "kind": "restart", "node": 1}],
                "expectation": "violation:acked_write_lost"}"#,
        )
        .unwrap();
        let schedule = record.schedule.clone().unwrap();
        assert_eq!(schedule.len(), 2);
        assert_eq!(schedule.0[0].fault, crate::faults::Fault::crash(1));
        assert_eq!(SeedRecord::parse(&record.to_json()).unwrap(), record);
        assert!(
            record.to_json().contains(
                "  \"schedule\": [\n    {\"at_ms\":1200,\"kind\":\"crash\",\"node\":1},\n"
            ),
            "{}",
            record.to_json()
        );
        let plain =
            SeedRecord::parse(r#"{"seed": 1, "scenario": "w", "expectation": "ok"}"#).unwrap();
        assert!(!plain.to_json().contains("schedule"));
        assert!(SeedRecord::parse(
            r#"{"seed": 1, "scenario": "w", "expectation": "ok",
                "schedule": [{"at_ms": 1, "kind": "crash"}]}"#
        )
        .is_err());
    }

    #[test]
    fn knobs_round_trip_and_default_to_redis() {
        let knobs = SimConfig {
            masters: 4,
            replicas: 2,
            validity_factor: 0,
            require_full_coverage: false,
            allow_reads_when_down: true,
            allow_replica_migration: false,
            appendfsync: Fsync::Everysec,
            ..SimConfig::default()
        };
        let text = json(&knobs);
        assert!(text.contains(r#""appendfsync":"everysec""#), "{text}");
        assert_eq!(serde_json::from_str::<SimConfig>(&text).unwrap(), knobs);
        // A config at the defaults writes only the shape: older seed files stay as they are.
        assert_eq!(
            json(&SimConfig::default()),
            r#"{"masters":3,"replicas":0,"node_timeout_ms":5000}"#
        );
        assert_eq!(Fsync::Everysec.policy(), AppendFsync::Everysec);
    }

    #[test]
    fn expectation_matching() {
        assert!(Expectation::Ok.is_met_by(std::iter::empty()));
        assert!(!Expectation::Ok.is_met_by(["key_lost"].into_iter()));
        let v = Expectation::Violation(ViolationKind::DoubleVote);
        assert!(v.is_met_by(["key_lost", "double_vote"].into_iter()));
        assert!(!v.is_met_by(["key_lost"].into_iter()));
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

    #[test]
    fn failing_runs_are_saved_once_with_the_next_number() {
        let dir = std::env::temp_dir().join(format!("clusterlab-save-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("0007-old.json"),
            r#"{"seed": 1, "scenario": "w", "expectation": "ok"}"#,
        )
        .unwrap();
        let record = SeedRecord {
            seed: 42,
            scenario: "campaign".into(),
            config: SimConfig::default(),
            schedule: None,
            expectation: "violation:acked_write_lost".into(),
            note: "n".into(),
        };
        let Saved::Written(path) = save_new(&dir, &record).unwrap() else {
            panic!("not written");
        };
        assert_eq!(
            path.file_name().unwrap(),
            "0008-campaign-acked-write-lost-seed42.json"
        );
        let back = SeedRecord::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, record);
        assert_eq!(save_new(&dir, &record).unwrap(), Saved::Known(path));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
