//! The table of every directive we accept: its name and alias, how its argument is checked,
//! whether `CONFIG SET` may change it, and the default of the ones we only pretend to honour.
//! Keeping it one table is what lets parsing, `CONFIG GET` globbing and `CONFIG SET` agree.

/// Whether `CONFIG SET` may change a directive.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Access {
    Mutable,
    /// `can't set immutable config`.
    Immutable,
    /// `can't set protected config` (Redis's default `enable-protected-configs no`).
    Protected,
}

/// How an argument is checked, and how errors about it are worded.
#[derive(Copy, Clone, Debug)]
pub(super) enum Kind {
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

pub(super) struct Directive {
    pub(super) name: &'static str,
    pub(super) alias: Option<&'static str>,
    pub(super) kind: Kind,
    pub(super) access: Access,
    /// `Some(default)` for accepted-but-ignored directives; `None` for ones stored in a field.
    pub(super) ignored_default: Option<&'static str>,
}

const I32_MAX: i64 = i32::MAX as i64;
pub(super) const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
pub(super) const FSYNC_POLICIES: &[&str] = &["everysec", "always", "no"];
pub(super) const DEBUG_MODES: &[&str] = &["no", "yes", "local"];
/// Redis limits `bind` to this many addresses.
pub(super) const MAX_BIND_ADDRESSES: usize = 16;

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
/// sockets; our driver cannot be told to).
pub(super) static DIRECTIVES: &[Directive] = &[
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
    honoured("appendonly", Kind::Bool, Access::Mutable),
    honoured("appendfsync", Kind::Enum(FSYNC_POLICIES), Access::Mutable),
    honoured("appendfilename", Kind::Special, Access::Immutable),
    honoured("appenddirname", Kind::Special, Access::Immutable),
    honoured("aof-load-truncated", Kind::Bool, Access::Mutable),
    honoured("dbfilename", Kind::Special, Access::Protected),
    honoured("pidfile", Kind::Str, Access::Immutable),
    // The default user's password (Redis 7.0 maps it onto the ACL's default user).
    honoured("requirepass", Kind::Str, Access::Mutable),
    honoured("logfile", Kind::Str, Access::Immutable),
    honoured("loglevel", Kind::Enum(LOGLEVELS), Access::Mutable),
    honoured("daemonize", Kind::Bool, Access::Immutable),
    honoured("protected-mode", Kind::Bool, Access::Mutable),
    honoured(
        "enable-debug-command",
        Kind::Enum(DEBUG_MODES),
        Access::Immutable,
    ),
    honoured(
        "enable-protected-configs",
        Kind::Enum(DEBUG_MODES),
        Access::Immutable,
    ),
    honoured("save", Kind::Special, Access::Mutable),
    aliased(
        "busy-reply-threshold",
        "lua-time-limit",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
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
    // There is no MODULE command to enable.
    ignored_fixed("enable-module-command", Kind::Enum(DEBUG_MODES), "no"),
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
    honoured("rdbcompression", Kind::Bool, Access::Mutable),
    honoured("rdbchecksum", Kind::Bool, Access::Immutable),
    ignored("rdb-del-sync-files", Kind::Bool, "no"),
    ignored_alias(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        Kind::Bool,
        "yes",
    ),
    ignored_alias("replica-read-only", "slave-read-only", Kind::Bool, "yes"),
    honoured("repl-diskless-sync", Kind::Bool, Access::Mutable),
    honoured(
        "repl-diskless-sync-delay",
        Kind::Int {
            min: 0,
            max: I32_MAX,
        },
        Access::Mutable,
    ),
    ignored("repl-diskless-sync-max-replicas", INT, "0"),
    honoured(
        "repl-diskless-load",
        Kind::Enum(super::DisklessLoad::NAMES),
        Access::Mutable,
    ),
    ignored("repl-disable-tcp-nodelay", Kind::Bool, "no"),
    honoured("repl-backlog-size", Kind::Memory, Access::Mutable),
    ignored("repl-backlog-ttl", INT, "3600"),
    honoured(
        "repl-timeout",
        Kind::Int {
            min: 1,
            max: I32_MAX,
        },
        Access::Mutable,
    ),
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
    honoured(
        "auto-aof-rewrite-percentage",
        Kind::Int {
            min: 0,
            max: I32_MAX,
        },
        Access::Mutable,
    ),
    honoured("auto-aof-rewrite-min-size", Kind::Memory, Access::Mutable),
    honoured("aof-use-rdb-preamble", Kind::Bool, Access::Mutable),
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
    ignored_alias(
        "replica-ignore-maxmemory",
        "slave-ignore-maxmemory",
        Kind::Bool,
        "yes",
    ),
    ignored(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10",
    ),
    ignored("lfu-log-factor", INT, "10"),
    ignored("lfu-decay-time", INT, "1"),
    ignored("active-expire-effort", INT, "1"),
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
    // Loading runs in steps of the node's tick, whatever this says.
    ignored("loading-process-events-interval-bytes", INT, "2097152"),
    honoured(
        "key-load-delay",
        Kind::Int {
            min: i32::MIN as i64,
            max: I32_MAX,
        },
        Access::Mutable,
    ),
    honoured(
        "rdb-key-save-delay",
        Kind::Int {
            min: i32::MIN as i64,
            max: I32_MAX,
        },
        Access::Mutable,
    ),
    honoured("cluster-announce-hostname", Kind::Str, Access::Mutable),
    honoured("cluster-announce-ip", Kind::Str, Access::Mutable),
    honoured("cluster-announce-port", PORT, Access::Mutable),
    honoured("cluster-announce-bus-port", PORT, Access::Mutable),
    honoured("cluster-announce-tls-port", PORT, Access::Mutable),
    honoured(
        "cluster-preferred-endpoint-type",
        Kind::Enum(super::announce::ENDPOINT_TYPES),
        Access::Mutable,
    ),
    honoured("cluster-link-sendbuf-limit", Kind::Memory, Access::Mutable),
    honoured("client-output-buffer-limit", Kind::Args, Access::Mutable),
    honoured("client-query-buffer-limit", Kind::Memory, Access::Mutable),
    honoured("proto-max-bulk-len", Kind::Memory, Access::Mutable),
    honoured(
        "maxclients",
        Kind::Int {
            min: 1,
            max: u32::MAX as i64,
        },
        Access::Mutable,
    ),
    honoured(
        "timeout",
        Kind::Int {
            min: 0,
            max: I32_MAX,
        },
        Access::Mutable,
    ),
];

/// Finds a directive by its name or alias, case-insensitively.
pub(super) fn directive(name: &str) -> Option<&'static Directive> {
    let lower = name.to_ascii_lowercase();
    DIRECTIVES
        .iter()
        .find(|d| d.name == lower || d.alias == Some(lower.as_str()))
}
