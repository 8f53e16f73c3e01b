//! Reading redis.conf text (plus command-line overrides) into a [`Config`], line by line, so
//! that each error can name the line Redis would name.

use super::args::{
    base_name, bool_arg, canary_arg, check_kind, enum_arg, gate_arg, int_arg, memory_arg,
    parse_save_pairs,
};
use super::directives::{
    directive, Directive, Kind, FSYNC_POLICIES, LOGLEVELS, MAX_BIND_ADDRESSES,
};
use super::lex::overrides_to_lines;
use super::{AppendFsync, Config, ConfigError};
use crate::text::split_args_str;

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
            let words = split_args_str(line)
                .ok_or_else(|| fail("Unbalanced quotes in configuration line"))?;
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
    pub(super) fn assign(&mut self, d: &Directive, args: &[String]) -> Result<(), String> {
        if d.ignored_default.is_some() {
            let value = check_kind(d.kind, args)?;
            self.encoding_limits.apply(d.name, &value);
            self.ignored.insert(d.name.to_string(), value);
            return Ok(());
        }
        let arg = args.first().map(String::as_str).unwrap_or("");
        match d.name {
            name if super::announce::NAMES.contains(&name) => {
                self.announce.assign(name, d.kind, arg)?
            }
            name if super::client_limits::NAMES.contains(&name) => {
                self.client_limits.assign(name, d.kind, args)?
            }
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
            "aof-use-rdb-preamble" => self.aof_use_rdb_preamble = bool_arg(arg)?,
            "rdbcompression" => self.rdb_compression = bool_arg(arg)?,
            "rdbchecksum" => self.rdb_checksum = bool_arg(arg)?,
            "auto-aof-rewrite-percentage" => {
                self.auto_aof_rewrite_percentage = int_arg(d.kind, arg)? as u64
            }
            "auto-aof-rewrite-min-size" => self.auto_aof_rewrite_min_size = memory_arg(arg)?,
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
            "enable-debug-command" => self.enable_debug_command = gate_arg(arg)?,
            "enable-protected-configs" => self.enable_protected_configs = gate_arg(arg)?,
            "busy-reply-threshold" => self.busy_reply_threshold_ms = int_arg(d.kind, arg)? as u64,
            "repl-ping-replica-period" => {
                self.repl_ping_replica_period_s = int_arg(d.kind, arg)? as u64
            }
            "repl-diskless-sync-delay" => {
                self.repl_diskless_sync_delay_s = int_arg(d.kind, arg)? as u64
            }
            "repl-diskless-sync" => self.repl_diskless_sync = bool_arg(arg)?,
            "key-load-delay" => self.key_load_delay = int_arg(d.kind, arg)?,
            "rdb-key-save-delay" => self.rdb_key_save_delay = int_arg(d.kind, arg)?,
            "repl-diskless-load" => {
                let name = enum_arg(super::DisklessLoad::NAMES, arg)?;
                self.repl_diskless_load =
                    super::DisklessLoad::from_name(name).expect("one of the names");
            }
            "requirepass" => self.requirepass = arg.to_string(),
            "repl-timeout" => self.repl_timeout_s = int_arg(d.kind, arg)? as u64,
            "repl-backlog-size" => self.repl_backlog_size = memory_arg(arg)?.max(1),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::Canary;
    use crate::config::testing::{parse, words};
    use crate::config::DebugCommand;

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
            enable-protected-configs yes\n\
            enable-module-command no\n\
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
        assert_eq!(c.enable_protected_configs, DebugCommand::Yes);
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
}
