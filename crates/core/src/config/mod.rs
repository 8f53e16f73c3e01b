//! redis.conf directives: parsing, defaults, and `CONFIG GET`/`CONFIG SET` of the ones we honour.
//!
//! Parsing is pure (text in, [`Config`] or a [`ConfigError`] naming the line out) so the binary
//! can print Redis's `FATAL CONFIG FILE ERROR` block and tests can check every directive.
//! Command-line words (`--port 7001`) are turned into extra lines exactly as `redis-server`
//! does, so error messages point at the same line numbers and show the same quoting.
//!
//! Besides the directives the node honours, a list of common harmless directives found in stock
//! redis.conf files (tuning knobs for encodings, lazy freeing, slow log, …) is accepted, checked
//! for the right kind of value, shown by `CONFIG GET` and otherwise ignored. Anything else is a
//! fatal error, as in Redis, so a typo never goes unnoticed.

mod announce;
mod args;
mod client_limits;
mod directives;
mod get_set;
mod lex;
mod parse;
mod rewrite;

pub use announce::{check_hostname, Announce, EndpointType};
pub use client_limits::{ClientClass, ClientLimits, OutputLimit};
pub use lex::overrides_to_lines;

use crate::canary::Canaries;
use std::collections::BTreeMap;
use std::fmt;

/// `appendfsync` policy.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AppendFsync {
    Always,
    Everysec,
    No,
}

/// `enable-debug-command` and `enable-protected-configs`: off, on, or on for loopback clients.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DebugCommand {
    No,
    Yes,
    Local,
}

impl DebugCommand {
    /// Whether a client (`local`: on the loopback address) gets through this gate.
    pub fn allows(self, local: bool) -> bool {
        match self {
            DebugCommand::No => false,
            DebugCommand::Yes => true,
            DebugCommand::Local => local,
        }
    }

    /// The directive's value, as `CONFIG GET` shows it.
    pub fn name(self) -> &'static str {
        match self {
            DebugCommand::No => "no",
            DebugCommand::Yes => "yes",
            DebugCommand::Local => "local",
        }
    }
}

/// `repl-diskless-load`: how a replica loads a full sync's payload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DisklessLoad {
    /// Gather the whole payload, then flush and load it (Redis's file on disk).
    Disabled,
    /// Load from the socket as it arrives when the dataset is empty, else as `Disabled`.
    OnEmptyDb,
    /// Load from the socket into a new keyspace, swapped in when the payload completes; the
    /// old one stays if the transfer fails.
    Swapdb,
}

impl DisklessLoad {
    /// The directive's values, in Redis's order.
    pub const NAMES: &'static [&'static str] = &["disabled", "on-empty-db", "swapdb"];

    /// The directive's value, as `CONFIG GET` shows it.
    pub fn name(self) -> &'static str {
        match self {
            DisklessLoad::Disabled => "disabled",
            DisklessLoad::OnEmptyDb => "on-empty-db",
            DisklessLoad::Swapdb => "swapdb",
        }
    }

    /// The value named `name` (as `CONFIG SET` takes it), if it is one.
    pub fn from_name(name: &str) -> Option<DisklessLoad> {
        match name.to_ascii_lowercase().as_str() {
            "disabled" => Some(DisklessLoad::Disabled),
            "on-empty-db" => Some(DisklessLoad::OnEmptyDb),
            "swapdb" => Some(DisklessLoad::Swapdb),
            _ => None,
        }
    }
}

/// The node's configuration; field names follow the directives, units last.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub dir: String,
    pub cluster_enabled: bool,
    pub cluster_config_file: String,
    pub cluster_node_timeout_ms: u64,
    /// 0 means client port + 10000.
    pub cluster_port: u16,
    pub cluster_require_full_coverage: bool,
    pub cluster_allow_reads_when_down: bool,
    pub cluster_replica_validity_factor: u64,
    pub cluster_migration_barrier: u64,
    pub cluster_allow_replica_migration: bool,
    pub cluster_replica_no_failover: bool,
    /// `cluster-announce-*`, `cluster-preferred-endpoint-type`, `cluster-link-sendbuf-limit`.
    pub announce: Announce,
    /// `client-output-buffer-limit`, `client-query-buffer-limit`, `proto-max-bulk-len`,
    /// `maxclients`, `timeout`.
    pub client_limits: ClientLimits,
    pub appendonly: bool,
    pub appendfsync: AppendFsync,
    pub appendfilename: String,
    pub appenddirname: String,
    pub aof_load_truncated: bool,
    pub dbfilename: String,
    pub pidfile: String,
    pub logfile: String,
    pub loglevel: String,
    pub daemonize: bool,
    pub protected_mode: bool,
    pub enable_debug_command: DebugCommand,
    /// Whether `CONFIG SET` may change protected configs (`dir`, `dbfilename`).
    pub enable_protected_configs: DebugCommand,
    /// `save` pairs, `"<seconds> <changes> …"` (empty: no automatic snapshots).
    pub save: String,
    /// An AOF rewrite writes its base as an RDB file (`aof-use-rdb-preamble`).
    pub aof_use_rdb_preamble: bool,
    /// Strings in RDB files and DUMP payloads LZF-compressed where that pays (`rdbcompression`).
    pub rdb_compression: bool,
    /// RDB files end with their CRC-64 (`rdbchecksum`); off, with zero, which loaders skip.
    pub rdb_checksum: bool,
    /// Growth over the last rewrite's size, in percent, that starts a rewrite (0: never).
    pub auto_aof_rewrite_percentage: u64,
    /// Smallest AOF, in bytes, the automatic rewrite considers.
    pub auto_aof_rewrite_min_size: u64,
    pub repl_ping_replica_period_s: u64,
    /// How long a script runs before other clients get `-BUSY` (`busy-reply-threshold`,
    /// alias `lua-time-limit`; 0: never).
    pub busy_reply_threshold_ms: u64,
    /// How long a master waits, after a replica asks for a full sync, before it produces the
    /// snapshot, so that replicas arriving meanwhile share it (0: at once).
    pub repl_diskless_sync_delay_s: u64,
    /// A full sync's payload goes in the diskless form (`$EOF:<mark>`) to replicas that
    /// read it (`repl-diskless-sync`).
    pub repl_diskless_sync: bool,
    /// Microseconds each key of a full sync's RDB takes to load (`key-load-delay`, Redis's
    /// debug knob); `-n`: one microsecond per `n` keys.
    pub key_load_delay: i64,
    /// Microseconds each key of a snapshot for replicas takes to produce (`rdb-key-save-delay`,
    /// Redis's debug knob; `-n`: one microsecond per `n` keys).
    pub rdb_key_save_delay: i64,
    /// How a replica loads a full sync's payload (`repl-diskless-load`).
    pub repl_diskless_load: DisklessLoad,
    /// The password a new connection must give with `AUTH` (`requirepass`; empty: none).
    pub requirepass: String,
    /// Bytes of the replication stream a node keeps for partial resyncs.
    pub repl_backlog_size: u64,
    /// A replica drops a link that brought nothing (data or the master's `PING`) for this
    /// long; it also bounds the wait for the answer to PSYNC.
    pub repl_timeout_s: u64,
    /// Seed for the node's rng (node ID, gossip targets, election delays); `None` = entropy.
    /// Not a Redis directive: `clusterlab-seed`, used by tests and the simulator.
    pub seed: Option<u64>,
    /// Not a Redis directive: `clusterlab-canary <name>` (repeatable), deliberate bugs the
    /// simulation build can switch on; the normal build refuses the directive.
    pub canaries: Canaries,
    /// Not a directive: the process id the driver runs as (`INFO server` shows it).
    pub process_id: u32,
    /// Not a directive: the simulator's bandwidth for a full sync's snapshot, in bytes a
    /// second (the replica reads it no faster, so the transfer takes longer the more data);
    /// `None` in real mode, where the network paces it.
    pub repl_transfer_bytes_per_s: Option<u64>,
    /// Not a directive: absolute path of the config file, empty when none (`INFO server`).
    pub config_file: String,
    /// Accepted-but-ignored directives that were set, by canonical name, as `CONFIG GET`
    /// shows them. Unset ones report their default.
    pub ignored: BTreeMap<String, String>,
    /// The encoding thresholds among the directives above, typed for the collections.
    pub encoding_limits: crate::db::EncodingLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["*".into(), "-::*".into()],
            dir: ".".into(),
            cluster_enabled: false,
            cluster_config_file: "nodes.conf".into(),
            cluster_node_timeout_ms: 15000,
            cluster_port: 0,
            cluster_require_full_coverage: true,
            cluster_allow_reads_when_down: false,
            cluster_replica_validity_factor: 10,
            cluster_migration_barrier: 1,
            cluster_allow_replica_migration: true,
            cluster_replica_no_failover: false,
            announce: Announce::default(),
            client_limits: ClientLimits::default(),
            appendonly: false,
            appendfsync: AppendFsync::Everysec,
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            aof_load_truncated: true,
            dbfilename: "dump.rdb".into(),
            pidfile: String::new(),
            logfile: String::new(),
            loglevel: "notice".into(),
            daemonize: false,
            protected_mode: true,
            enable_debug_command: DebugCommand::No,
            enable_protected_configs: DebugCommand::No,
            save: "3600 1 300 100 60 10000".into(),
            aof_use_rdb_preamble: true,
            rdb_compression: true,
            rdb_checksum: true,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            repl_ping_replica_period_s: 10,
            busy_reply_threshold_ms: crate::cmd::scripting::busy::DEFAULT_THRESHOLD_MS,
            repl_diskless_sync_delay_s: 5,
            repl_diskless_sync: true,
            key_load_delay: 0,
            rdb_key_save_delay: 0,
            repl_diskless_load: DisklessLoad::Disabled,
            requirepass: String::new(),
            repl_backlog_size: 1024 * 1024,
            repl_timeout_s: 60,
            seed: None,
            canaries: Canaries::default(),
            process_id: 0,
            repl_transfer_bytes_per_s: None,
            config_file: String::new(),
            ignored: BTreeMap::new(),
            encoding_limits: crate::db::EncodingLimits::default(),
        }
    }
}

/// A fatal error in the configuration, naming the offending line.
///
/// `Display` renders Redis's block byte for byte (without the final newline Redis adds), so the
/// binary can print it to stderr and exit 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based, counting the file's lines and then the command-line lines.
    pub line_number: usize,
    /// The line as Redis echoes it: trimmed of surrounding blanks.
    pub line: String,
    /// The last line of the block, e.g. `argument must be 'yes' or 'no'`.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
             Reading the configuration file, at line {}\n>>> '{}'\n{}",
            self.line_number, self.line, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// Helpers shared by the tests of the submodules.
#[cfg(test)]
mod testing {
    use super::{Config, ConfigError};

    pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, &[])
    }

    pub(super) fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// The error's (line number, echoed line, reason).
    pub(super) fn err(text: &str, overrides: &[&str]) -> (usize, String, String) {
        let e = Config::parse(text, &words(overrides)).expect_err("should fail");
        (e.line_number, e.line, e.reason)
    }

    pub(super) fn e(n: usize, line: &str, reason: &str) -> (usize, String, String) {
        (n, line.to_string(), reason.to_string())
    }
}
