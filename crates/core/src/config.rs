//! redis.conf directives: parsing, defaults, and `CONFIG GET`/`CONFIG SET` of the ones we honour.
//!
//! Parsing is pure (text in, [`Config`] or a [`ConfigError`] naming the line out) so the binary
//! can print Redis's `FATAL CONFIG FILE ERROR` block and tests can check every directive.

/// `appendfsync` policy.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AppendFsync {
    Always,
    Everysec,
    No,
}

/// `enable-debug-command` setting.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DebugCommand {
    No,
    Yes,
    Local,
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
    pub save: String,
    pub repl_ping_replica_period_s: u64,
    /// Seed for the node's rng (node ID, gossip targets, election delays); `None` = entropy.
    /// Not a Redis directive: `clusterlab-seed`, used by tests and the simulator.
    pub seed: Option<u64>,
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
            save: "3600 1 300 100 60 10000".into(),
            repl_ping_replica_period_s: 10,
            seed: None,
        }
    }
}

impl Config {
    /// The cluster bus port: `cluster-port`, or client port + 10000 when that is 0.
    pub fn bus_port(&self) -> u16 {
        if self.cluster_port != 0 {
            self.cluster_port
        } else {
            self.port.wrapping_add(10000)
        }
    }
}
