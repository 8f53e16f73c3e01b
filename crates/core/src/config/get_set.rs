//! `CONFIG GET` and `CONFIG SET`: looking directives up by name, alias or glob, showing values
//! the way Redis prints them, and changing the mutable ones.

use super::args::parse_save_pairs;
use super::directives::{directive, Access, Directive, Kind, DIRECTIVES};
use super::{AppendFsync, Config};
use crate::canary::Canary;
use crate::text::glob_match;

impl Config {
    /// The `save` schedule as `(seconds, changes)` pairs.
    pub fn save_points(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let numbers: Vec<u64> = self
            .save
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        let pairs: Vec<(u64, u64)> = numbers.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        pairs.into_iter()
    }

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
        self.set_by(name, value, false)
    }

    /// [`Config::set`] from a client: `local` says whether it is on the loopback address,
    /// which `enable-protected-configs local` asks for.
    pub fn set_by(&mut self, name: &str, value: &str, local: bool) -> Result<(), String> {
        let Some(d) = directive(name) else {
            return Err("Unknown option".into());
        };
        self.check_access(d, local)?;
        if d.name == "dir" && value != self.dir {
            // The driver resolves its files against `dir` once, at start-up.
            return Err("clusterlab cannot change dir at run time".into());
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

    /// Whether `CONFIG SET` from a client (`local`: on the loopback address) may change
    /// `name`: `None` if unknown, else the canonical name or the reason it is refused
    /// (`can't set immutable config`, `can't set protected config`).
    pub fn settable(&self, name: &str, local: bool) -> Option<Result<&'static str, String>> {
        let d = directive(name)?;
        Some(self.check_access(d, local).map(|()| d.name))
    }

    fn check_access(&self, d: &Directive, local: bool) -> Result<(), String> {
        match d.access {
            Access::Mutable => Ok(()),
            Access::Immutable => Err("can't set immutable config".into()),
            Access::Protected if self.enable_protected_configs.allows(local) => Ok(()),
            Access::Protected => Err("can't set protected config".into()),
        }
    }

    /// The canonical name for a directive name or alias, if it is one we accept.
    pub fn canonical_name(name: &str) -> Option<&'static str> {
        directive(name).map(|d| d.name)
    }

    pub(super) fn value_of(&self, d: &Directive) -> String {
        if let Some(default) = d.ignored_default {
            return self
                .ignored
                .get(d.name)
                .cloned()
                .unwrap_or_else(|| default.to_string());
        }
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        match d.name {
            name if super::announce::NAMES.contains(&name) => self.announce.value_of(name),
            name if super::client_limits::NAMES.contains(&name) => {
                self.client_limits.value_of(name)
            }
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
            "aof-use-rdb-preamble" => yes_no(self.aof_use_rdb_preamble),
            "rdbcompression" => yes_no(self.rdb_compression),
            "rdbchecksum" => yes_no(self.rdb_checksum),
            "auto-aof-rewrite-percentage" => self.auto_aof_rewrite_percentage.to_string(),
            "auto-aof-rewrite-min-size" => self.auto_aof_rewrite_min_size.to_string(),
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
            "enable-debug-command" => self.enable_debug_command.name().to_string(),
            "enable-protected-configs" => self.enable_protected_configs.name().to_string(),
            "save" => self.save.clone(),
            "repl-ping-replica-period" => self.repl_ping_replica_period_s.to_string(),
            "busy-reply-threshold" => self.busy_reply_threshold_ms.to_string(),
            "repl-diskless-sync-delay" => self.repl_diskless_sync_delay_s.to_string(),
            "repl-backlog-size" => self.repl_backlog_size.to_string(),
            "repl-diskless-sync" => yes_no(self.repl_diskless_sync),
            "key-load-delay" => self.key_load_delay.to_string(),
            "rdb-key-save-delay" => self.rdb_key_save_delay.to_string(),
            "repl-diskless-load" => self.repl_diskless_load.name().to_string(),
            "requirepass" => self.requirepass.clone(),
            "repl-timeout" => self.repl_timeout_s.to_string(),
            "clusterlab-seed" => self.seed.map(|s| s.to_string()).unwrap_or_default(),
            "clusterlab-canary" => {
                let names: Vec<&str> = self.canaries.list().into_iter().map(Canary::name).collect();
                names.join(" ")
            }
            other => unreachable!("directive {other} has no getter"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // `enable-protected-configs` opens them: to everyone, or to loopback clients only.
        c.enable_protected_configs = crate::config::DebugCommand::Local;
        assert_eq!(
            c.set_by("dbfilename", "x.rdb", false),
            Err("can't set protected config".into())
        );
        assert_eq!(c.set_by("dbfilename", "x.rdb", true), Ok(()));
        assert_eq!(c.dbfilename, "x.rdb");
        c.enable_protected_configs = crate::config::DebugCommand::Yes;
        assert_eq!(c.set("dbfilename", "y.rdb"), Ok(()));
        assert_eq!(
            c.set("dir", "/elsewhere"),
            Err("clusterlab cannot change dir at run time".into())
        );
        c.enable_protected_configs = crate::config::DebugCommand::No;
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
}
