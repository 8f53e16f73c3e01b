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

use std::collections::BTreeMap;
use std::fmt;

use crate::canary::{Canaries, Canary};

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
    /// Not a Redis directive: `clusterlab-canary <name>` (repeatable), deliberate bugs the
    /// simulation build can switch on; the normal build refuses the directive.
    pub canaries: Canaries,
    /// Not a directive: the process id the driver runs as (`INFO server` shows it).
    pub process_id: u32,
    /// Not a directive: absolute path of the config file, empty when none (`INFO server`).
    pub config_file: String,
    /// Accepted-but-ignored directives that were set, by canonical name, as `CONFIG GET`
    /// shows them. Unset ones report their default.
    pub ignored: BTreeMap<String, String>,
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
            canaries: Canaries::default(),
            process_id: 0,
            config_file: String::new(),
            ignored: BTreeMap::new(),
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

// ---- the directive table -------------------------------------------------------------------

/// Whether `CONFIG SET` may change a directive.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Access {
    Mutable,
    /// `can't set immutable config`.
    Immutable,
    /// `can't set protected config` (Redis's default `enable-protected-configs no`).
    Protected,
}

/// How an argument is checked, and how errors about it are worded.
#[derive(Copy, Clone, Debug)]
enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// Bytes with an optional `k`/`kb`/`m`/`mb`/`g`/`gb` unit; shown as a plain number.
    Memory,
    Enum(&'static [&'static str]),
    Str,
    /// Any number of arguments, stored joined by spaces.
    Args,
    /// Has its own parser (`save`, `bind`, file names, …).
    Special,
}

struct Directive {
    name: &'static str,
    alias: Option<&'static str>,
    kind: Kind,
    access: Access,
    /// `Some(default)` for accepted-but-ignored directives; `None` for ones stored in a field.
    ignored_default: Option<&'static str>,
}

const I32_MAX: i64 = i32::MAX as i64;
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const FSYNC_POLICIES: &[&str] = &["everysec", "always", "no"];
const DEBUG_MODES: &[&str] = &["no", "yes", "local"];
/// Redis limits `bind` to this many addresses.
const MAX_BIND_ADDRESSES: usize = 16;

const fn honoured(name: &'static str, kind: Kind, access: Access) -> Directive {
    Directive {
        name,
        alias: None,
        kind,
        access,
        ignored_default: None,
    }
}

const fn aliased(name: &'static str, alias: &'static str, kind: Kind) -> Directive {
    Directive {
        name,
        alias: Some(alias),
        kind,
        access: Access::Mutable,
        ignored_default: None,
    }
}

const fn ignored(name: &'static str, kind: Kind, default: &'static str) -> Directive {
    Directive {
        name,
        alias: None,
        kind,
        access: Access::Mutable,
        ignored_default: Some(default),
    }
}

const fn ignored_alias(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias: Some(alias),
        kind,
        access: Access::Mutable,
        ignored_default: Some(default),
    }
}

const fn ignored_fixed(name: &'static str, kind: Kind, default: &'static str) -> Directive {
    Directive {
        name,
        alias: None,
        kind,
        access: Access::Immutable,
        ignored_default: Some(default),
    }
}

const INT: Kind = Kind::Int {
    min: i64::MIN,
    max: i64::MAX,
};
const PORT: Kind = Kind::Int { min: 0, max: 65535 };

/// Every directive we accept. `port` and `bind` are immutable here (Redis rebinds its
/// sockets; our driver cannot be told to), and so is `appendonly` (turning the AOF on at run
/// time needs a rewrite the driver does not do).
static DIRECTIVES: &[Directive] = &[
    honoured("port", PORT, Access::Immutable),
    honoured("bind", Kind::Special, Access::Immutable),
    honoured("dir", Kind::Special, Access::Protected),
    honoured("cluster-enabled", Kind::Bool, Access::Immutable),
    honoured("cluster-config-file", Kind::Str, Access::Immutable),
    honoured(
        "cluster-node-timeout",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        Access::Mutable,
    ),
    honoured("cluster-port", PORT, Access::Immutable),
    honoured("cluster-require-full-coverage", Kind::Bool, Access::Mutable),
    honoured("cluster-allow-reads-when-down", Kind::Bool, Access::Mutable),
    aliased(
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
        Kind::Int {
            min: 0,
            max: I32_MAX,
        },
    ),
    honoured(
        "cluster-migration-barrier",
        Kind::Int {
            min: 0,
            max: I32_MAX,
        },
        Access::Mutable,
    ),
    honoured(
        "cluster-allow-replica-migration",
        Kind::Bool,
        Access::Mutable,
    ),
    aliased(
        "cluster-replica-no-failover",
        "cluster-slave-no-failover",
        Kind::Bool,
    ),
    honoured("appendonly", Kind::Bool, Access::Immutable),
    honoured("appendfsync", Kind::Enum(FSYNC_POLICIES), Access::Mutable),
    honoured("appendfilename", Kind::Special, Access::Immutable),
    honoured("appenddirname", Kind::Special, Access::Immutable),
    honoured("aof-load-truncated", Kind::Bool, Access::Mutable),
    honoured("dbfilename", Kind::Special, Access::Protected),
    honoured("pidfile", Kind::Str, Access::Immutable),
    honoured("logfile", Kind::Str, Access::Immutable),
    honoured("loglevel", Kind::Enum(LOGLEVELS), Access::Mutable),
    honoured("daemonize", Kind::Bool, Access::Immutable),
    honoured("protected-mode", Kind::Bool, Access::Mutable),
    honoured(
        "enable-debug-command",
        Kind::Enum(DEBUG_MODES),
        Access::Immutable,
    ),
    honoured("save", Kind::Special, Access::Mutable),
    aliased(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        Kind::Int {
            min: 1,
            max: I32_MAX,
        },
    ),
    honoured("clusterlab-seed", Kind::Special, Access::Immutable),
    honoured("clusterlab-canary", Kind::Special, Access::Immutable),
    // Accepted and ignored: they tune things this node does not have (encodings, RDB,
    // lazy freeing, eviction, …) or only matter to a real process (logo, threads).
    ignored_fixed("tcp-backlog", INT, "511"),
    ignored("timeout", INT, "0"),
    ignored("tcp-keepalive", INT, "300"),
    ignored_fixed("databases", INT, "16"),
    ignored_fixed("always-show-logo", Kind::Bool, "no"),
    ignored_fixed("set-proc-title", Kind::Bool, "yes"),
    ignored(
        "proc-title-template",
        Kind::Str,
        "{title} {listen-addr} {server-mode}",
    ),
    ignored("stop-writes-on-bgsave-error", Kind::Bool, "yes"),
    ignored("rdbcompression", Kind::Bool, "yes"),
    ignored("rdbchecksum", Kind::Bool, "yes"),
    ignored("rdb-del-sync-files", Kind::Bool, "no"),
    ignored_alias(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        Kind::Bool,
        "yes",
    ),
    ignored_alias("replica-read-only", "slave-read-only", Kind::Bool, "yes"),
    ignored("repl-diskless-sync", Kind::Bool, "yes"),
    ignored("repl-diskless-sync-delay", INT, "5"),
    ignored("repl-diskless-sync-max-replicas", INT, "0"),
    ignored(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    ignored("repl-disable-tcp-nodelay", Kind::Bool, "no"),
    ignored("repl-backlog-size", Kind::Memory, "1048576"),
    ignored("repl-backlog-ttl", INT, "3600"),
    ignored("repl-timeout", INT, "60"),
    ignored_alias("replica-priority", "slave-priority", INT, "100"),
    ignored("acllog-max-len", INT, "128"),
    ignored("lazyfree-lazy-eviction", Kind::Bool, "no"),
    ignored("lazyfree-lazy-expire", Kind::Bool, "no"),
    ignored("lazyfree-lazy-server-del", Kind::Bool, "no"),
    ignored_alias("replica-lazy-flush", "slave-lazy-flush", Kind::Bool, "no"),
    ignored("lazyfree-lazy-user-del", Kind::Bool, "no"),
    ignored("lazyfree-lazy-user-flush", Kind::Bool, "no"),
    ignored(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
    ),
    ignored("oom-score-adj-values", Kind::Args, "0 200 800"),
    ignored_fixed("disable-thp", Kind::Bool, "yes"),
    ignored("no-appendfsync-on-rewrite", Kind::Bool, "no"),
    ignored("auto-aof-rewrite-percentage", INT, "100"),
    ignored("auto-aof-rewrite-min-size", Kind::Memory, "67108864"),
    ignored("aof-use-rdb-preamble", Kind::Bool, "yes"),
    ignored("aof-timestamp-enabled", Kind::Bool, "no"),
    ignored("aof-rewrite-incremental-fsync", Kind::Bool, "yes"),
    ignored("rdb-save-incremental-fsync", Kind::Bool, "yes"),
    ignored("slowlog-log-slower-than", INT, "10000"),
    ignored("slowlog-max-len", INT, "128"),
    ignored("latency-monitor-threshold", INT, "0"),
    ignored("notify-keyspace-events", Kind::Str, ""),
    ignored_alias(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        INT,
        "512",
    ),
    ignored_alias(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        INT,
        "64",
    ),
    ignored_alias("list-max-listpack-size", "list-max-ziplist-size", INT, "-2"),
    ignored("list-compress-depth", INT, "0"),
    ignored("set-max-intset-entries", INT, "512"),
    ignored_alias(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        INT,
        "128",
    ),
    ignored_alias(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        INT,
        "64",
    ),
    ignored("hll-sparse-max-bytes", Kind::Memory, "3000"),
    ignored("stream-node-max-bytes", Kind::Memory, "4096"),
    ignored("stream-node-max-entries", INT, "100"),
    ignored("activerehashing", Kind::Bool, "yes"),
    ignored(
        "client-output-buffer-limit",
        Kind::Args,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    ignored("hz", INT, "10"),
    ignored("dynamic-hz", Kind::Bool, "yes"),
    ignored("jemalloc-bg-thread", Kind::Bool, "yes"),
    ignored("maxmemory", Kind::Memory, "0"),
    ignored(
        "maxmemory-policy",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        "noeviction",
    ),
    ignored("maxmemory-samples", INT, "5"),
    ignored("maxclients", INT, "10000"),
    ignored("lfu-log-factor", INT, "10"),
    ignored("lfu-decay-time", INT, "1"),
    ignored("active-expire-effort", INT, "1"),
    ignored_alias("busy-reply-threshold", "lua-time-limit", INT, "5000"),
    ignored_fixed(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
    ),
    ignored_fixed("syslog-enabled", Kind::Bool, "no"),
    ignored_fixed("syslog-ident", Kind::Str, "redis"),
    ignored_fixed("io-threads", INT, "1"),
    ignored_fixed("io-threads-do-reads", Kind::Bool, "no"),
    ignored("crash-log-enabled", Kind::Bool, "yes"),
    ignored("crash-memcheck-enabled", Kind::Bool, "yes"),
];

/// Finds a directive by its name or alias, case-insensitively.
fn directive(name: &str) -> Option<&'static Directive> {
    let lower = name.to_ascii_lowercase();
    DIRECTIVES
        .iter()
        .find(|d| d.name == lower || d.alias == Some(lower.as_str()))
}

// ---- parsing ---------------------------------------------------------------------------------

/// State that spans lines: the first `save` line replaces the default, later ones append.
#[derive(Default)]
struct ParseState {
    save_seen: bool,
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

    /// Parses redis.conf `text`, then `overrides`: command-line words as `redis-server` takes
    /// them after the file name (`--port`, `7001`, `--cluster-node-timeout`, `500`).
    pub fn parse(text: &str, overrides: &[String]) -> Result<Config, ConfigError> {
        let mut all = String::from(text);
        // Redis always joins file and options with a newline, so options start one line
        // further down when the file ends with one.
        all.push('\n');
        all.push_str(&overrides_to_lines(overrides));
        let mut config = Config::default();
        let mut state = ParseState::default();
        for (index, raw) in all.split('\n').enumerate() {
            let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |reason: &str| ConfigError {
                line_number: index + 1,
                line: line.to_string(),
                reason: reason.to_string(),
            };
            let words =
                split_args(line).ok_or_else(|| fail("Unbalanced quotes in configuration line"))?;
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            config
                .apply_line(name, args, &mut state)
                .map_err(|reason| fail(&reason))?;
        }
        Ok(config)
    }

    fn apply_line(
        &mut self,
        name: &str,
        args: &[String],
        state: &mut ParseState,
    ) -> Result<(), String> {
        let Some(d) = directive(name) else {
            return Err("Bad directive or wrong number of arguments".into());
        };
        if d.name == "save" {
            if !state.save_seen {
                self.save.clear();
                state.save_seen = true;
            }
            return self.add_save_params(args);
        }
        if d.name == "bind" {
            return self.set_bind(args);
        }
        let multi_arg = matches!(d.kind, Kind::Args);
        if !multi_arg && args.len() != 1 {
            return Err("wrong number of arguments".into());
        }
        self.assign(d, args)
    }

    /// Sets one directive from its argument(s); the value is validated first, so a failed
    /// call leaves the field unchanged.
    fn assign(&mut self, d: &Directive, args: &[String]) -> Result<(), String> {
        if d.ignored_default.is_some() {
            let value = check_kind(d.kind, args)?;
            self.ignored.insert(d.name.to_string(), value);
            return Ok(());
        }
        let arg = args.first().map(String::as_str).unwrap_or("");
        match d.name {
            "port" => self.port = int_arg(d.kind, arg)? as u16,
            "cluster-port" => self.cluster_port = int_arg(d.kind, arg)? as u16,
            "dir" => self.dir = arg.to_string(),
            "cluster-enabled" => self.cluster_enabled = bool_arg(arg)?,
            "cluster-config-file" => self.cluster_config_file = arg.to_string(),
            "cluster-node-timeout" => self.cluster_node_timeout_ms = int_arg(d.kind, arg)? as u64,
            "cluster-require-full-coverage" => self.cluster_require_full_coverage = bool_arg(arg)?,
            "cluster-allow-reads-when-down" => self.cluster_allow_reads_when_down = bool_arg(arg)?,
            "cluster-replica-validity-factor" => {
                self.cluster_replica_validity_factor = int_arg(d.kind, arg)? as u64
            }
            "cluster-migration-barrier" => {
                self.cluster_migration_barrier = int_arg(d.kind, arg)? as u64
            }
            "cluster-allow-replica-migration" => {
                self.cluster_allow_replica_migration = bool_arg(arg)?
            }
            "cluster-replica-no-failover" => self.cluster_replica_no_failover = bool_arg(arg)?,
            "appendonly" => self.appendonly = bool_arg(arg)?,
            "appendfsync" => {
                self.appendfsync = match enum_arg(FSYNC_POLICIES, arg)? {
                    "always" => AppendFsync::Always,
                    "no" => AppendFsync::No,
                    _ => AppendFsync::Everysec,
                }
            }
            "appendfilename" => self.appendfilename = base_name(arg, "appendfilename", "filename")?,
            "appenddirname" => self.appenddirname = base_name(arg, "appenddirname", "dirname")?,
            "aof-load-truncated" => self.aof_load_truncated = bool_arg(arg)?,
            "dbfilename" => self.dbfilename = base_name(arg, "dbfilename", "filename")?,
            "pidfile" => self.pidfile = arg.to_string(),
            "logfile" => self.logfile = arg.to_string(),
            "loglevel" => self.loglevel = enum_arg(LOGLEVELS, arg)?.to_string(),
            "daemonize" => self.daemonize = bool_arg(arg)?,
            "protected-mode" => self.protected_mode = bool_arg(arg)?,
            "enable-debug-command" => {
                self.enable_debug_command = match enum_arg(DEBUG_MODES, arg)? {
                    "yes" => DebugCommand::Yes,
                    "local" => DebugCommand::Local,
                    _ => DebugCommand::No,
                }
            }
            "repl-ping-replica-period" => {
                self.repl_ping_replica_period_s = int_arg(d.kind, arg)? as u64
            }
            "clusterlab-seed" => {
                let seed = arg
                    .parse::<u64>()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                self.seed = Some(seed);
            }
            "clusterlab-canary" => self.canaries = self.canaries.with(canary_arg(arg)?),
            other => unreachable!("directive {other} has no setter"),
        }
        Ok(())
    }

    /// Appends `save` pairs (seconds ≥ 1, changes ≥ 0); a single empty argument clears them.
    fn add_save_params(&mut self, args: &[String]) -> Result<(), String> {
        if args.len() == 1 && args[0].is_empty() {
            self.save.clear();
            return Ok(());
        }
        let pairs = parse_save_pairs(args)?;
        for (seconds, changes) in pairs {
            if !self.save.is_empty() {
                self.save.push(' ');
            }
            self.save.push_str(&format!("{seconds} {changes}"));
        }
        Ok(())
    }

    fn set_bind(&mut self, args: &[String]) -> Result<(), String> {
        if args.len() > MAX_BIND_ADDRESSES {
            return Err("Too many bind addresses specified.".into());
        }
        self.bind = args.to_vec();
        Ok(())
    }

    // ---- CONFIG GET / CONFIG SET -------------------------------------------------------------

    /// The directives whose name or alias matches the glob `pattern` (case-insensitive), with
    /// values formatted as Redis shows them, in table order. A pattern without glob characters
    /// is looked up directly and echoed as given, as Redis does (`CONFIG GET PORT`).
    pub fn get(&self, pattern: &str) -> Vec<(String, String)> {
        if !pattern.contains(['*', '?', '[']) {
            return match directive(pattern) {
                Some(d) => vec![(pattern.to_string(), self.value_of(d))],
                None => Vec::new(),
            };
        }
        let mut out = Vec::new();
        for d in DIRECTIVES {
            for name in std::iter::once(d.name).chain(d.alias) {
                if glob_match(pattern.as_bytes(), name.as_bytes(), true) {
                    out.push((name.to_string(), self.value_of(d)));
                }
            }
        }
        out
    }

    /// `CONFIG SET name value` for one directive. Errors are the text Redis puts after
    /// `CONFIG SET failed (possibly related to argument 'name') - `; an unknown name gives
    /// `Unknown option`. On error nothing changes.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let Some(d) = directive(name) else {
            return Err("Unknown option".into());
        };
        match d.access {
            Access::Immutable => return Err("can't set immutable config".into()),
            Access::Protected => return Err("can't set protected config".into()),
            Access::Mutable => {}
        }
        if d.name == "save" {
            let args: Vec<String> = value.split_whitespace().map(String::from).collect();
            let pairs = parse_save_pairs(&args)?;
            self.save = pairs
                .iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(" ");
            return Ok(());
        }
        let args: Vec<String> = if matches!(d.kind, Kind::Args) {
            value.split_whitespace().map(String::from).collect()
        } else {
            vec![value.to_string()]
        };
        self.assign(d, &args)
    }

    /// Whether `CONFIG SET` may change `name`: `None` if unknown, else the canonical name or
    /// the reason it is refused (`can't set immutable config`, `can't set protected config`).
    pub fn settable(name: &str) -> Option<Result<&'static str, &'static str>> {
        let d = directive(name)?;
        Some(match d.access {
            Access::Mutable => Ok(d.name),
            Access::Immutable => Err("can't set immutable config"),
            Access::Protected => Err("can't set protected config"),
        })
    }

    /// The canonical name for a directive name or alias, if it is one we accept.
    pub fn canonical_name(name: &str) -> Option<&'static str> {
        directive(name).map(|d| d.name)
    }

    fn value_of(&self, d: &Directive) -> String {
        if let Some(default) = d.ignored_default {
            return self
                .ignored
                .get(d.name)
                .cloned()
                .unwrap_or_else(|| default.to_string());
        }
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        match d.name {
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "dir" => self.dir.clone(),
            "cluster-enabled" => yes_no(self.cluster_enabled),
            "cluster-config-file" => self.cluster_config_file.clone(),
            "cluster-node-timeout" => self.cluster_node_timeout_ms.to_string(),
            "cluster-port" => self.cluster_port.to_string(),
            "cluster-require-full-coverage" => yes_no(self.cluster_require_full_coverage),
            "cluster-allow-reads-when-down" => yes_no(self.cluster_allow_reads_when_down),
            "cluster-replica-validity-factor" => self.cluster_replica_validity_factor.to_string(),
            "cluster-migration-barrier" => self.cluster_migration_barrier.to_string(),
            "cluster-allow-replica-migration" => yes_no(self.cluster_allow_replica_migration),
            "cluster-replica-no-failover" => yes_no(self.cluster_replica_no_failover),
            "appendonly" => yes_no(self.appendonly),
            "appendfsync" => match self.appendfsync {
                AppendFsync::Always => "always",
                AppendFsync::Everysec => "everysec",
                AppendFsync::No => "no",
            }
            .to_string(),
            "appendfilename" => self.appendfilename.clone(),
            "appenddirname" => self.appenddirname.clone(),
            "aof-load-truncated" => yes_no(self.aof_load_truncated),
            "dbfilename" => self.dbfilename.clone(),
            "pidfile" => self.pidfile.clone(),
            "logfile" => self.logfile.clone(),
            "loglevel" => self.loglevel.clone(),
            "daemonize" => yes_no(self.daemonize),
            "protected-mode" => yes_no(self.protected_mode),
            "enable-debug-command" => match self.enable_debug_command {
                DebugCommand::No => "no",
                DebugCommand::Yes => "yes",
                DebugCommand::Local => "local",
            }
            .to_string(),
            "save" => self.save.clone(),
            "repl-ping-replica-period" => self.repl_ping_replica_period_s.to_string(),
            "clusterlab-seed" => self.seed.map(|s| s.to_string()).unwrap_or_default(),
            "clusterlab-canary" => {
                let names: Vec<&str> = self.canaries.list().into_iter().map(Canary::name).collect();
                names.join(" ")
            }
            other => unreachable!("directive {other} has no getter"),
        }
    }
}

// ---- argument checks (error texts are Redis's) -----------------------------------------------

/// A canary name, accepted only by the simulation build.
fn canary_arg(arg: &str) -> Result<Canary, String> {
    if !Canaries::AVAILABLE {
        return Err("canaries exist only in the simulation build (--cfg madsim)".into());
    }
    Canary::parse(arg).ok_or_else(|| format!("unknown canary '{arg}'"))
}

fn bool_arg(arg: &str) -> Result<bool, String> {
    if arg.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".into())
    }
}

fn int_arg(kind: Kind, arg: &str) -> Result<i64, String> {
    let Kind::Int { min, max } = kind else {
        unreachable!("int_arg on a non-integer directive");
    };
    let value = crate::cmd::parse_i64(arg.as_bytes())
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    if value < min || value > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(value)
}

fn enum_arg(choices: &'static [&'static str], arg: &str) -> Result<&'static str, String> {
    choices
        .iter()
        .find(|c| c.eq_ignore_ascii_case(arg))
        .copied()
        .ok_or_else(|| {
            format!(
                "argument(s) must be one of the following: {}",
                choices.join(", ")
            )
        })
}

/// Bytes with an optional unit (`1k` = 1000, `1kb` = 1024, …), as redis.conf allows.
fn memory_arg(arg: &str) -> Result<u64, String> {
    let err = || "argument must be a memory value".to_string();
    let lower = arg.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(err()),
    };
    let number: u64 = digits.parse().map_err(|_| err())?;
    number.checked_mul(multiplier).ok_or_else(err)
}

/// Checks an accepted-but-ignored directive's value and returns it as `CONFIG GET` shows it.
fn check_kind(kind: Kind, args: &[String]) -> Result<String, String> {
    if matches!(kind, Kind::Args) {
        return Ok(args.join(" "));
    }
    let arg = args.first().map(String::as_str).unwrap_or("");
    match kind {
        Kind::Bool => Ok(if bool_arg(arg)? { "yes" } else { "no" }.into()),
        Kind::Int { .. } => Ok(int_arg(kind, arg)?.to_string()),
        Kind::Memory => Ok(memory_arg(arg)?.to_string()),
        Kind::Enum(choices) => Ok(enum_arg(choices, arg)?.to_string()),
        Kind::Str | Kind::Args | Kind::Special => Ok(arg.to_string()),
    }
}

/// `appendfilename`, `appenddirname` and `dbfilename` must not contain a path.
fn base_name(arg: &str, directive: &str, what: &str) -> Result<String, String> {
    if arg.contains(['/', '\\']) {
        return Err(format!("{directive} can't be a path, just a {what}"));
    }
    Ok(arg.to_string())
}

/// `save` arguments as (seconds, changes) pairs; Redis reads them with `strtoll`, so a
/// leading sign is fine but any trailing garbage is not.
fn parse_save_pairs(args: &[String]) -> Result<Vec<(i64, i64)>, String> {
    let err = || "Invalid save parameters".to_string();
    if !args.len().is_multiple_of(2) {
        return Err(err());
    }
    let number = |s: &str| -> Option<i64> {
        let t = s.trim_start();
        if t.is_empty() {
            return Some(0);
        }
        t.parse::<i64>().ok()
    };
    let mut pairs = Vec::new();
    for pair in args.chunks(2) {
        let seconds = number(&pair[0]).ok_or_else(err)?;
        let changes = number(&pair[1]).ok_or_else(err)?;
        if seconds < 1 || changes < 0 {
            return Err(err());
        }
        pairs.push((seconds, changes));
    }
    Ok(pairs)
}

// ---- lexing ----------------------------------------------------------------------------------

/// Turns command-line words into config lines the way `redis-server` does: `--name` starts a
/// line, other words are appended quoted. A bare `--save` gets an explicit `""` so that
/// `--save --port 1` disables snapshots instead of swallowing `--port`.
pub fn overrides_to_lines(words: &[String]) -> String {
    let mut out = String::new();
    // False right after a bare option name: the next word is its value even if it starts
    // with `--`.
    let mut last_option_has_value = true;
    for (i, word) in words.iter().enumerate() {
        if last_option_has_value && word.starts_with("--") {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&word[2..]);
            out.push(' ');
            let bare = split_args(word).is_some_and(|parts| parts.len() == 1);
            last_option_has_value = !bare;
            if bare && word.eq_ignore_ascii_case("--save") {
                let next_is_option = words.get(i + 1).is_some_and(|w| w.starts_with("--"));
                if next_is_option || i + 1 == words.len() {
                    out.push_str("\"\"");
                    last_option_has_value = true;
                }
            }
        } else {
            out.push_str(&quote_repr(word));
            out.push(' ');
            last_option_has_value = true;
        }
    }
    out
}

/// Double-quoted, escaped form of a word (Redis's `sdscatrepr`), which [`split_args`] reads
/// back to the same bytes.
fn quote_repr(word: &str) -> String {
    let mut out = String::from("\"");
    for &b in word.as_bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// Splits a line into words with redis.conf's shell-like rules: `"…"` with `\n`, `\r`, `\t`,
/// `\b`, `\a`, `\xHH` escapes, `'…'` with only `\'`, quotes that must be followed by a blank.
/// `None` means unbalanced quotes. Words are built as bytes and converted lossily.
pub(crate) fn split_args(line: &str) -> Option<Vec<String>> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Some(words);
        }
        let mut word = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                let &b = bytes.get(i)?;
                if b == b'\\' && is_hex_escape(&bytes[i..]) {
                    word.push(hex_value(bytes[i + 2]) * 16 + hex_value(bytes[i + 3]));
                    i += 3;
                } else if b == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                    word.push(match bytes[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if b == b'"' {
                    if bytes.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(b);
                }
            } else if in_single {
                let &b = bytes.get(i)?;
                if b == b'\\' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 1;
                    word.push(b'\'');
                } else if b == b'\'' {
                    if bytes.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(b);
                }
            } else {
                match bytes.get(i) {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(&b) => word.push(b),
                }
            }
            i += 1;
        }
        words.push(String::from_utf8_lossy(&word).into_owned());
    }
}

fn is_hex_escape(s: &[u8]) -> bool {
    s.len() >= 4 && s[1] == b'x' && s[2].is_ascii_hexdigit() && s[3].is_ascii_hexdigit()
}

fn hex_value(b: u8) -> u8 {
    (b as char).to_digit(16).unwrap_or(0) as u8
}

// ---- glob ------------------------------------------------------------------------------------

/// Redis-style glob: `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes. Linear backtracking on the
/// last `*` only, so no pattern can make it blow up.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Where to resume after the most recent `*`: (pattern index after it, text index).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            star = Some((p, t));
            continue;
        }
        if let Some(next_p) = match_one(pattern, p, text[t], nocase) {
            p = next_p;
            t += 1;
            continue;
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches one text byte at pattern position `p` (not a `*`); returns the next pattern index.
fn match_one(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match *pattern.get(p)? {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, c, nocase),
        b'\\' if p + 1 < pattern.len() => eq(pattern[p + 1], c).then_some(p + 2),
        other => eq(other, c).then_some(p + 1),
    }
}

/// `[...]` starting after the `[`; an unterminated class runs to the end of the pattern.
fn match_class(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Option<usize> {
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let c = fold(c);
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            matched |= fold(pattern[p + 1]) == c;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' && pattern[p + 2] != b']' {
            let (a, b) = (fold(pattern[p]), fold(pattern[p + 2]));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            matched |= lo <= c && c <= hi;
            p += 3;
        } else {
            matched |= fold(pattern[p]) == c;
            p += 1;
        }
    }
    let next = (p + 1).min(pattern.len());
    (matched != negate).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, &[])
    }

    #[test]
    fn canaries_are_simulation_only_and_named() {
        let result = parse("clusterlab-canary vote-twice\nclusterlab-canary aof-no-fsync\n");
        if crate::canary::Canaries::AVAILABLE {
            let c = result.unwrap();
            assert!(c.canaries.on(Canary::VoteTwice));
            assert!(c.canaries.on(Canary::AofNoFsync));
            assert!(!c.canaries.on(Canary::UpdateIgnored));
            assert_eq!(
                c.get("clusterlab-canary"),
                vec![(
                    "clusterlab-canary".to_string(),
                    "vote-twice aof-no-fsync".to_string()
                )]
            );
            let err = parse("clusterlab-canary nope\n").unwrap_err();
            assert_eq!(err.reason, "unknown canary 'nope'");
        } else {
            let err = result.unwrap_err();
            assert_eq!(err.line_number, 1);
            assert_eq!(
                err.reason,
                "canaries exist only in the simulation build (--cfg madsim)"
            );
        }
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// The error's (line number, echoed line, reason).
    fn err(text: &str, overrides: &[&str]) -> (usize, String, String) {
        let e = Config::parse(text, &words(overrides)).expect_err("should fail");
        (e.line_number, e.line, e.reason)
    }

    fn e(n: usize, line: &str, reason: &str) -> (usize, String, String) {
        (n, line.to_string(), reason.to_string())
    }

    #[test]
    fn display_is_redis_fatal_block() {
        let error = parse("port 7000\n\n  foo-bar-baz 1  \n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
             Reading the configuration file, at line 3\n\
             >>> 'foo-bar-baz 1'\n\
             Bad directive or wrong number of arguments"
        );
    }

    #[test]
    fn honoured_directives_are_parsed() {
        let text = "# comment\n\
            port 7001\n\
            BIND 127.0.0.1 ::1\n\
            dir /tmp/x\n\
            cluster-enabled YES\n\
            cluster-config-file nodes-7001.conf\n\
            cluster-node-timeout 5000\n\
            cluster-port 17777\n\
            cluster-require-full-coverage no\n\
            cluster-allow-reads-when-down yes\n\
            cluster-slave-validity-factor 0\n\
            cluster-migration-barrier 2\n\
            cluster-allow-replica-migration no\n\
            cluster-replica-no-failover yes\n\
            appendonly yes\n\
            appendfsync always\n\
            appendfilename \"my aof\"\n\
            appenddirname aofdir\n\
            aof-load-truncated no\n\
            dbfilename dump-7001.rdb\n\
            pidfile /var/run/redis_7001.pid\n\
            logfile ''\n\
            loglevel warning\n\
            daemonize no\n\
            protected-mode no\n\
            enable-debug-command local\n\
            save 900 1\n\
            save 300 10\n\
            repl-ping-replica-period 3\n\
            clusterlab-seed 42\n";
        let c = parse(text).unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.dir, "/tmp/x");
        assert!(c.cluster_enabled);
        assert_eq!(c.cluster_config_file, "nodes-7001.conf");
        assert_eq!(c.cluster_node_timeout_ms, 5000);
        assert_eq!(c.cluster_port, 17777);
        assert_eq!(c.bus_port(), 17777);
        assert!(!c.cluster_require_full_coverage);
        assert!(c.cluster_allow_reads_when_down);
        assert_eq!(c.cluster_replica_validity_factor, 0);
        assert_eq!(c.cluster_migration_barrier, 2);
        assert!(!c.cluster_allow_replica_migration);
        assert!(c.cluster_replica_no_failover);
        assert!(c.appendonly);
        assert_eq!(c.appendfsync, AppendFsync::Always);
        assert_eq!(c.appendfilename, "my aof");
        assert_eq!(c.appenddirname, "aofdir");
        assert!(!c.aof_load_truncated);
        assert_eq!(c.dbfilename, "dump-7001.rdb");
        assert_eq!(c.pidfile, "/var/run/redis_7001.pid");
        assert_eq!(c.logfile, "");
        assert_eq!(c.loglevel, "warning");
        assert!(!c.daemonize);
        assert!(!c.protected_mode);
        assert_eq!(c.enable_debug_command, DebugCommand::Local);
        assert_eq!(c.save, "900 1 300 10");
        assert_eq!(c.repl_ping_replica_period_s, 3);
        assert_eq!(c.seed, Some(42));
    }

    #[test]
    fn defaults_match_redis() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.bus_port(), 16379);
        assert_eq!(
            c.get("save"),
            vec![("save".into(), "3600 1 300 100 60 10000".into())]
        );
        assert_eq!(c.get("bind"), vec![("bind".into(), "* -::*".into())]);
    }

    #[test]
    fn save_lines_replace_default_then_append() {
        assert_eq!(
            parse("save 100 1\nsave \"\"\nsave 200 2\n").unwrap().save,
            "200 2"
        );
        assert_eq!(parse("save\n").unwrap().save, "");
        assert_eq!(
            parse("save 100 1 200 2\nsave 300 3\n").unwrap().save,
            "100 1 200 2 300 3"
        );
        let c = Config::parse("save 100 1\n", &words(&["--save", "10", "1"])).unwrap();
        assert_eq!(c.save, "100 1 10 1");
        let c = Config::parse("save 100 1\n", &words(&["--save", ""])).unwrap();
        assert_eq!(c.save, "");
        let c = Config::parse("", &words(&["--save", "--port", "7000"])).unwrap();
        assert_eq!((c.save.as_str(), c.port), ("", 7000));
    }

    #[test]
    fn value_errors_have_redis_wording() {
        let cases = [
            ("port\n", e(1, "port", "wrong number of arguments")),
            ("port 7000 extra\n", e(1, "port 7000 extra", "wrong number of arguments")),
            ("port 7000 # c\n", e(1, "port 7000 # c", "wrong number of arguments")),
            ("port abc\n", e(1, "port abc", "argument couldn't be parsed into an integer")),
            ("port +5\n", e(1, "port +5", "argument couldn't be parsed into an integer")),
            ("port 05\n", e(1, "port 05", "argument couldn't be parsed into an integer")),
            ("port 1.0\n", e(1, "port 1.0", "argument couldn't be parsed into an integer")),
            ("port 70000\n", e(1, "port 70000", "argument must be between 0 and 65535 inclusive")),
            ("port -1\n", e(1, "port -1", "argument must be between 0 and 65535 inclusive")),
            ("appendonly maybe\n", e(1, "appendonly maybe", "argument must be 'yes' or 'no'")),
            ("appendonly \"\"\n", e(1, "appendonly \"\"", "argument must be 'yes' or 'no'")),
            (
                "appendfsync sometimes\n",
                e(1, "appendfsync sometimes", "argument(s) must be one of the following: everysec, always, no"),
            ),
            (
                "loglevel loud\n",
                e(1, "loglevel loud", "argument(s) must be one of the following: debug, verbose, notice, warning"),
            ),
            (
                "enable-debug-command perhaps\n",
                e(1, "enable-debug-command perhaps", "argument(s) must be one of the following: no, yes, local"),
            ),
            (
                "cluster-node-timeout 1k\n",
                e(1, "cluster-node-timeout 1k", "argument couldn't be parsed into an integer"),
            ),
            (
                "cluster-node-timeout -5\n",
                e(1, "cluster-node-timeout -5", "argument must be between 0 and 9223372036854775807 inclusive"),
            ),
            (
                "cluster-port 70000\n",
                e(1, "cluster-port 70000", "argument must be between 0 and 65535 inclusive"),
            ),
            (
                "cluster-replica-validity-factor -1\n",
                e(1, "cluster-replica-validity-factor -1", "argument must be between 0 and 2147483647 inclusive"),
            ),
            (
                "cluster-slave-validity-factor abc\n",
                e(1, "cluster-slave-validity-factor abc", "argument couldn't be parsed into an integer"),
            ),
            (
                "cluster-migration-barrier -1\n",
                e(1, "cluster-migration-barrier -1", "argument must be between 0 and 2147483647 inclusive"),
            ),
            (
                "repl-ping-replica-period 0\n",
                e(1, "repl-ping-replica-period 0", "argument must be between 1 and 2147483647 inclusive"),
            ),
            ("save 1\n", e(1, "save 1", "Invalid save parameters")),
            ("save a b\n", e(1, "save a b", "Invalid save parameters")),
            ("save 0 0\n", e(1, "save 0 0", "Invalid save parameters")),
            ("save 1 -2\n", e(1, "save 1 -2", "Invalid save parameters")),
            ("save 1x 2\n", e(1, "save 1x 2", "Invalid save parameters")),
            ("daemonize\n", e(1, "daemonize", "wrong number of arguments")),
            (
                "appendfilename a/b\n",
                e(1, "appendfilename a/b", "appendfilename can't be a path, just a filename"),
            ),
            (
                "appenddirname a/b\n",
                e(1, "appenddirname a/b", "appenddirname can't be a path, just a dirname"),
            ),
            (
                "dbfilename a/b\n",
                e(1, "dbfilename a/b", "dbfilename can't be a path, just a filename"),
            ),
            (
                "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
                e(1, "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "Too many bind addresses specified."),
            ),
            ("maxmemory abc\n", e(1, "maxmemory abc", "argument must be a memory value")),
            ("maxmemory -1\n", e(1, "maxmemory -1", "argument must be a memory value")),
            ("hz abc\n", e(1, "hz abc", "argument couldn't be parsed into an integer")),
            (
                "maxmemory-policy x\n",
                e(
                    1,
                    "maxmemory-policy x",
                    "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
                ),
            ),
            ("requirepass\n", e(1, "requirepass", "Bad directive or wrong number of arguments")),
            ("include /x.conf\n", e(1, "include /x.conf", "Bad directive or wrong number of arguments")),
            ("APPENDONLY YES\nport x\n", e(2, "port x", "argument couldn't be parsed into an integer")),
            ("   # comment\n\t\nport x", e(3, "port x", "argument couldn't be parsed into an integer")),
        ];
        for (text, expected) in cases {
            assert_eq!(err(text, &[]), expected, "{text:?}");
        }
    }

    #[test]
    fn quoting_rules() {
        let unbalanced = "Unbalanced quotes in configuration line";
        assert_eq!(err("port \"7000\n", &[]), e(1, "port \"7000", unbalanced));
        assert_eq!(
            err("port \"70\"00\n", &[]),
            e(1, "port \"70\"00", unbalanced)
        );
        assert_eq!(
            err("port 1\nappendfilename 'a b\\'\nport x", &[]),
            e(2, "appendfilename 'a b\\'", unbalanced)
        );
        let c = parse("appendfilename \"a\\x41\\n\"\nlogfile 'it\\'s'\npidfile p\"q r\"s\n");
        // `"q r"s` is unbalanced (a closing quote must be followed by a blank).
        assert_eq!(c.unwrap_err().line, "pidfile p\"q r\"s");
        let c =
            parse("appendfilename \"a\\x41\\n\"\nlogfile 'it\\'s'\npidfile p\"q r\"\n").unwrap();
        assert_eq!(c.appendfilename, "aA\n");
        assert_eq!(c.logfile, "it's");
        assert_eq!(c.pidfile, "pq r");
    }

    #[test]
    fn overrides_become_numbered_quoted_lines() {
        // File without a final newline: options start on line 2.
        assert_eq!(
            err(
                "port 1",
                &["--port", "20999", "--cluster-node-timeout", "x"]
            ),
            e(
                3,
                "cluster-node-timeout \"x\"",
                "argument couldn't be parsed into an integer"
            )
        );
        // With a final newline there is an empty line 2 before the options.
        assert_eq!(
            err(
                "port 1\n",
                &["--port", "20999", "--cluster-node-timeout", "x"]
            ),
            e(
                4,
                "cluster-node-timeout \"x\"",
                "argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            err(
                "port 1",
                &["--port", "20999", "--cluster-node-timeout", "5", "6"]
            ),
            e(
                3,
                "cluster-node-timeout \"5\" \"6\"",
                "wrong number of arguments"
            )
        );
        let bad = "Bad directive or wrong number of arguments";
        assert_eq!(
            err("port 1", &["--port", "20999", "--save", "", "--foo", "a b"]),
            e(4, "foo \"a b\"", bad)
        );
        assert_eq!(
            err("port 1", &["--port", "20999", "--foo"]),
            e(3, "foo", bad)
        );
        assert_eq!(
            err("port 1", &["--port", "20999", "--save", "--foo"]),
            e(4, "foo", bad)
        );
        assert_eq!(
            err("port 1", &["--port", "20999", "--foo", "a\"b\\c\td"]),
            e(3, "foo \"a\\\"b\\\\c\\td\"", bad)
        );
        assert_eq!(
            err("", &["--port", "20999", "--foo", "x"]),
            e(3, "foo \"x\"", bad)
        );
        assert_eq!(
            err("port 1", &["extra", "--port", "1"]),
            e(2, "\"extra\"", bad)
        );
        assert_eq!(
            err("port 1", &["--port", "20999", "--foo", "-x"]),
            e(3, "foo \"-x\"", bad)
        );
        // After a bare option name the next word is its value, even if it starts with `--`.
        assert_eq!(err("port 1", &["--foo", "--"]), e(2, "foo \"--\"", bad));
        let c = Config::parse(
            "port 7000\n",
            &words(&[
                "--port",
                "7001",
                "--cluster-node-timeout",
                "500",
                "--dir",
                "/d x",
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.port, c.cluster_node_timeout_ms, c.dir.as_str()),
            (7001, 500, "/d x")
        );
        // One word holding name and value, as `redis-server "--port 7002"` allows.
        assert_eq!(
            Config::parse("", &words(&["--port 7002"])).unwrap().port,
            7002
        );
    }

    #[test]
    fn stock_redis_conf_directives_are_accepted() {
        let text = "tcp-backlog 511\ntimeout 0\ntcp-keepalive 300\nsupervised no\n\
            always-show-logo yes\ndatabases 16\nslave-serve-stale-data yes\nslave-read-only yes\n\
            repl-diskless-sync no\nrepl-disable-tcp-nodelay no\nslave-priority 100\n\
            lazyfree-lazy-eviction no\naof-use-rdb-preamble yes\nlua-time-limit 5000\n\
            slowlog-log-slower-than 10000\nslowlog-max-len 128\nlatency-monitor-threshold 0\n\
            notify-keyspace-events \"\"\nhash-max-ziplist-entries 512\nhash-max-ziplist-value 64\n\
            list-max-ziplist-size -2\nlist-compress-depth 0\nset-max-intset-entries 512\n\
            zset-max-ziplist-entries 128\nzset-max-ziplist-value 64\nhll-sparse-max-bytes 3000\n\
            stream-node-max-bytes 4kb\nstream-node-max-entries 100\nactiverehashing yes\n\
            client-output-buffer-limit normal 0 0 0\nclient-output-buffer-limit replica 256mb 64mb 60\n\
            hz 10\ndynamic-hz yes\naof-rewrite-incremental-fsync yes\nrdb-save-incremental-fsync yes\n\
            maxmemory 100mb\noom-score-adj-values 0 200 800\njemalloc-bg-thread yes\n";
        let c = parse(text).unwrap();
        assert_eq!(
            c.get("stream-node-max-bytes"),
            vec![("stream-node-max-bytes".into(), "4096".into())]
        );
        assert_eq!(
            c.get("maxmemory"),
            vec![("maxmemory".into(), "104857600".into())]
        );
        assert_eq!(
            c.get("always-show-logo"),
            vec![("always-show-logo".into(), "yes".into())]
        );
        assert_eq!(
            c.get("maxclients"),
            vec![("maxclients".into(), "10000".into())]
        );
        assert_eq!(c.port, 6379);
    }

    #[test]
    fn config_get_globs_and_aliases() {
        let c = Config::default();
        assert_eq!(c.get("PORT"), vec![("PORT".into(), "6379".into())]);
        assert_eq!(c.get("nosuch"), vec![]);
        assert_eq!(
            c.get("cluster-slave-validity-factor"),
            vec![("cluster-slave-validity-factor".into(), "10".into())]
        );
        let names: Vec<String> = c.get("repl-ping*").into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            vec!["repl-ping-replica-period", "repl-ping-slave-period"]
        );
        let timeouts = c.get("*NODE-timeout*");
        assert_eq!(
            timeouts,
            vec![("cluster-node-timeout".into(), "15000".into())]
        );
        let appendonly = c.get("append[o]nly");
        assert_eq!(appendonly, vec![("appendonly".into(), "no".into())]);
        assert!(c.get("*").len() > 40);
    }

    #[test]
    fn config_set_checks_access_and_values() {
        let mut c = Config::default();
        assert_eq!(
            c.set("cluster-enabled", "yes"),
            Err("can't set immutable config".into())
        );
        assert_eq!(
            c.set("dir", "/tmp"),
            Err("can't set protected config".into())
        );
        assert_eq!(
            c.set("dbfilename", "x"),
            Err("can't set protected config".into())
        );
        assert_eq!(c.set("foo", "1"), Err("Unknown option".into()));
        assert_eq!(
            c.set("appendfsync", "sometimes"),
            Err("argument(s) must be one of the following: everysec, always, no".into())
        );
        assert_eq!(
            c.set("cluster-node-timeout", "abc"),
            Err("argument couldn't be parsed into an integer".into())
        );
        assert_eq!(
            c.set("save", "1 2 3"),
            Err("Invalid save parameters".into())
        );
        assert_eq!(c.cluster_node_timeout_ms, 15000);
        assert_eq!(c.set("Cluster-Node-Timeout", "500"), Ok(()));
        assert_eq!(c.cluster_node_timeout_ms, 500);
        assert_eq!(c.set("save", "100 1"), Ok(()));
        assert_eq!(c.save, "100 1");
        assert_eq!(c.set("save", ""), Ok(()));
        assert_eq!(c.save, "");
        assert_eq!(c.set("appendfsync", "ALWAYS"), Ok(()));
        assert_eq!(
            c.get("appendfsync"),
            vec![("appendfsync".into(), "always".into())]
        );
        assert_eq!(c.set("cluster-slave-no-failover", "yes"), Ok(()));
        assert!(c.cluster_replica_no_failover);
        assert_eq!(c.set("maxmemory", "1kb"), Ok(()));
        assert_eq!(
            c.get("maxmemory"),
            vec![("maxmemory".into(), "1024".into())]
        );
        assert_eq!(
            c.set("databases", "2"),
            Err("can't set immutable config".into())
        );
    }

    #[test]
    fn glob_matches_like_redis() {
        let m = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes(), false);
        assert!(m("*", ""));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(!m("abc", "ABC"));
        assert!(glob_match(b"abc", b"ABC", true));
        assert!(m("a*", "a"));
        assert!(!m("a?", "a"));
    }
}
