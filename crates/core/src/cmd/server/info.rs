//! `INFO`: the server's state as `field:value` lines in Redis's sections and order, which
//! tools parse by name (redis-cli, the cluster admin, the simulator's checks).

use bytes::Bytes;

use super::REDIS_VERSION;
use crate::cmd::is;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Sections in the order Redis prints them. `INFO` and `INFO default` show all but
/// [`NOT_DEFAULT`]; `all` and `everything` show every one.
const INFO_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Sections only `all`, `everything` or their own name show, as in Redis 7.0.
const NOT_DEFAULT: &[&str] = &["commandstats"];

/// Rough fixed cost of an idle server, for `used_memory` (the keyspace estimates its own part).
pub(crate) const BASE_MEMORY_BYTES: u64 = 1 << 20;

pub(super) fn info(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let any = |names: &[&str]| args[1..].iter().any(|a| names.iter().any(|n| is(a, n)));
    let everything = any(&["all", "everything"]);
    let default = args.len() == 1 || any(&["default"]);
    let wanted = |section: &str| {
        everything || any(&[section]) || (default && !NOT_DEFAULT.contains(&section))
    };
    let text = INFO_SECTIONS
        .iter()
        .filter(|s| wanted(s))
        .map(|s| info_section(node, s))
        .collect::<Vec<_>>()
        .join("\r\n");
    Reply::Verbatim("txt", text)
}

fn info_section(node: &Node, section: &str) -> String {
    let (title, fields) = match section {
        "server" => ("Server", server_fields(node)),
        "clients" => ("Clients", clients_fields(node)),
        "memory" => ("Memory", memory_fields(node)),
        "persistence" => ("Persistence", persistence_fields(node)),
        "stats" => ("Stats", stats_fields(node)),
        "replication" => ("Replication", replication_fields(node)),
        "modules" => ("Modules", Vec::new()),
        "commandstats" => ("Commandstats", commandstats_fields(node)),
        "errorstats" => ("Errorstats", errorstats_fields(node)),
        "cluster" => (
            "Cluster",
            vec![field("cluster_enabled", node.config.cluster_enabled as u8)],
        ),
        "keyspace" => ("Keyspace", keyspace_fields(node)),
        other => unreachable!("unknown INFO section {other}"),
    };
    let mut text = format!("# {title}\r\n");
    for (name, value) in fields {
        text.push_str(&format!("{name}:{value}\r\n"));
    }
    text
}

fn field(name: &str, value: impl ToString) -> (String, String) {
    (name.to_string(), value.to_string())
}

fn server_fields(node: &Node) -> Vec<(String, String)> {
    let uptime_s = node.now.mono_ms.saturating_sub(node.started.mono_ms) / 1000;
    let mode = if node.config.cluster_enabled {
        "cluster"
    } else {
        "standalone"
    };
    vec![
        field("redis_version", REDIS_VERSION),
        field("redis_git_sha1", "00000000"),
        field("redis_git_dirty", 0),
        field("redis_mode", mode),
        field("arch_bits", usize::BITS),
        field("process_id", node.config.process_id),
        field("run_id", &node.run_id),
        field("tcp_port", node.config.port),
        field("server_time_usec", node.now.unix_ms * 1000),
        field("uptime_in_seconds", uptime_s),
        field("uptime_in_days", uptime_s / 86400),
        // The driver ticks every 100 ms.
        field("hz", 10),
        field("configured_hz", 10),
        field("config_file", &node.config.config_file),
    ]
}

fn clients_fields(node: &Node) -> Vec<(String, String)> {
    let (waiting, waiting_with_timeout) = node.blocked_for_replication();
    let (recent_input, recent_output) = node.recent_max_buffers();
    vec![
        // Redis counts replicas apart (`connected_slaves`).
        field(
            "connected_clients",
            node.clients.len() - node.repl.replica_count(),
        ),
        field("cluster_connections", node.cluster.links_in_order().count()),
        field("maxclients", node.config.client_limits.maxclients),
        field("client_recent_max_input_buffer", recent_input),
        field("client_recent_max_output_buffer", recent_output),
        field("blocked_clients", waiting + node.blocked_keys.len()),
        field("tracking_clients", 0),
        field(
            "clients_in_timeout_table",
            waiting_with_timeout + node.blocked_keys.with_timeout(),
        ),
    ]
}

fn memory_fields(node: &Node) -> Vec<(String, String)> {
    let used = node.used_memory_bytes();
    let maxmemory = node.memory_limit.maxmemory_bytes;
    vec![
        field("used_memory", used),
        field("used_memory_human", bytes_to_human(used)),
        field("maxmemory", maxmemory),
        field("maxmemory_human", bytes_to_human(maxmemory)),
        field("maxmemory_policy", node.memory_limit.policy.name()),
        // Nothing is left out of `used_memory` for eviction (see `node::evict`).
        field("mem_not_counted_for_evict", 0),
        field("mem_cluster_links", node.cluster.links_memory_bytes()),
    ]
}

/// Redis's `1.50M` style: B below 1 KiB, then K, M, G, T, P with two decimals.
fn bytes_to_human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

fn persistence_fields(node: &Node) -> Vec<(String, String)> {
    let p = &node.persistence;
    let status = |failed: bool| if failed { "err" } else { "ok" };
    let mut fields = vec![
        field("loading", node.is_loading() as u8),
        field("async_loading", node.is_async_loading() as u8),
        field("rdb_changes_since_last_save", p.dirty),
        field("rdb_bgsave_in_progress", p.save_in_progress as u8),
        field("rdb_last_save_time", p.last_save_unix_s),
        field("rdb_last_bgsave_status", status(p.last_save_failed)),
        field("rdb_saves", p.saves),
        field("aof_enabled", node.config.appendonly as u8),
        field("aof_rewrite_in_progress", 0),
        field("aof_rewrite_scheduled", 0),
        field("aof_last_bgrewrite_status", "ok"),
        field("aof_rewrites", p.aof_rewrites),
    ];
    // Redis lists the AOF's own counters only while it is on.
    if node.config.appendonly {
        fields.push(field("aof_current_size", p.aof_current_size));
        fields.push(field("aof_base_size", p.aof_base_size));
        fields.push(field("aof_delayed_fsync", node.stats.aof_delayed_fsync));
    }
    if let Some(loading) = node.repl.loading() {
        fields.extend(loading_fields(loading, node.now.unix_ms / 1000));
    }
    fields
}

/// What Redis adds to the persistence section while it loads, its ETA formula included.
fn loading_fields(l: &crate::replication::Loading, now_s: u64) -> Vec<(String, String)> {
    let loaded = l.loaded_bytes();
    let (perc, remaining) = match l.bytes_total {
        0 => (0.0, 1),
        total => (loaded as f64 * 100.0 / total as f64, total - loaded),
    };
    let elapsed_s = now_s.saturating_sub(l.started_unix_s);
    let eta_s = match elapsed_s {
        0 => 1,
        e => e * remaining / (loaded + 1),
    };
    vec![
        field("loading_start_time", l.started_unix_s),
        field("loading_total_bytes", l.bytes_total),
        field("loading_rdb_used_mem", l.rdb_used_mem),
        field("loading_loaded_bytes", loaded),
        field("loading_loaded_perc", format!("{perc:.2}")),
        field("loading_eta_seconds", eta_s),
    ]
}

fn stats_fields(node: &Node) -> Vec<(String, String)> {
    let s = &node.stats;
    vec![
        field("total_connections_received", s.total_connections_received),
        field("total_commands_processed", s.total_commands_processed),
        field("rejected_connections", s.rejected_connections),
        field("sync_full", s.sync_full),
        field("sync_partial_ok", s.sync_partial_ok),
        field("sync_partial_err", s.sync_partial_err),
        field("expired_keys", s.expired_keys),
        field("evicted_keys", node.stats.evicted_keys),
        field("keyspace_hits", s.keyspace_hits),
        field("keyspace_misses", s.keyspace_misses),
        field(
            "pubsub_channels",
            node.pubsub.active(crate::pubsub::Kind::Channel, None).len(),
        ),
        field("pubsub_patterns", node.pubsub.pattern_count()),
        field(
            "pubsubshard_channels",
            node.pubsub.active(crate::pubsub::Kind::Shard, None).len(),
        ),
        field("unexpected_error_replies", 0),
        field("total_error_replies", s.calls.total_error_replies),
        // RESTORE never deep-checks a payload here (`sanitize-dump-payload no`, Redis's
        // default, under which Redis counts none either).
        field("dump_payload_sanitizations", 0),
    ]
}

/// `cmdstat_<name>:calls=…,usec=…,usec_per_call=…,rejected_calls=…,failed_calls=…` for every
/// command called or refused since the last `CONFIG RESETSTAT`, by name; `usec` is what the
/// driver timed (see `node::observe`).
fn commandstats_fields(node: &Node) -> Vec<(String, String)> {
    let commands = &node.stats.calls.commands;
    commands
        .iter()
        .map(|(name, c)| {
            let per_call = if c.calls == 0 {
                0.0
            } else {
                c.usec as f64 / c.calls as f64
            };
            let value = format!(
                "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                c.calls, c.usec, c.rejected_calls, c.failed_calls
            );
            (format!("cmdstat_{name}"), value)
        })
        .collect()
}

/// `errorstat_<PREFIX>:count=…` for every error prefix answered.
fn errorstats_fields(node: &Node) -> Vec<(String, String)> {
    let errors = &node.stats.calls.errors;
    errors
        .iter()
        .map(|(prefix, count)| (format!("errorstat_{prefix}"), format!("count={count}")))
        .collect()
}

/// Role, link and offsets (see [`crate::replication`]).
fn replication_fields(node: &Node) -> Vec<(String, String)> {
    let me = node.cluster.me();
    let now = node.now.mono_ms;
    let repl = &node.repl;
    let mut fields = Vec::new();
    // A replica's ID is its master's once synced (see `crate::replication`).
    let replid = repl.replid().to_string();
    match me.master.and_then(|m| node.cluster.node(&m)) {
        Some(master) if me.is_replica() => {
            let link = repl.master_link().filter(|l| l.master == master.id);
            let up = link.is_some_and(|l| l.up && !l.loading);
            let syncing = link.is_some_and(|l| l.up && l.loading);
            fields.extend([
                field("role", "slave"),
                field("master_host", &master.ip),
                field("master_port", master.port),
                field("master_link_status", if up { "up" } else { "down" }),
            ]);
            let last_io_s = match link.filter(|l| l.up) {
                Some(l) => (now.saturating_sub(l.last_io_ms) / 1000) as i64,
                None => -1,
            };
            fields.extend([
                field("master_last_io_seconds_ago", last_io_s),
                field("master_sync_in_progress", syncing as u8),
                field("slave_read_repl_offset", me.repl_offset),
                field("slave_repl_offset", me.repl_offset),
            ]);
            if !up {
                let down_s = match repl.down_since_ms() {
                    0 => -1,
                    since => (now.saturating_sub(since) / 1000) as i64,
                };
                fields.push(field("master_link_down_since_seconds", down_s));
            }
            fields.extend([
                field("slave_priority", 100),
                field("slave_read_only", 1),
                field("replica_announced", 1),
            ]);
        }
        _ => fields.push(field("role", "master")),
    }
    fields.push(field("connected_slaves", repl.replica_count()));
    for (i, (r, state)) in repl.replicas_with_state().enumerate() {
        let lag_s = now.saturating_sub(r.ack_ms) / 1000;
        fields.push(field(
            &format!("slave{i}"),
            format!(
                "ip={},port={},state={state},offset={},lag={lag_s}",
                r.ip, r.port, r.ack_offset
            ),
        ));
    }
    fields.extend([
        field("master_failover_state", "no-failover"),
        field("master_replid", replid),
        field("master_replid2", repl.replid2()),
        field("master_repl_offset", me.repl_offset),
        field("second_repl_offset", repl.second_offset()),
    ]);
    let backlog = repl.backlog();
    fields.extend([
        field("repl_backlog_active", backlog.is_some() as u8),
        field("repl_backlog_size", node.config.repl_backlog_size),
        field(
            "repl_backlog_first_byte_offset",
            backlog.map_or(0, |b| b.first_byte_offset()),
        ),
        field("repl_backlog_histlen", backlog.map_or(0, |b| b.histlen())),
    ]);
    fields
}

fn keyspace_fields(node: &Node) -> Vec<(String, String)> {
    if node.db.is_empty() {
        return Vec::new();
    }
    let now_ms = node.now.unix_ms;
    let ttls: Vec<u64> = node
        .db
        .expiry_times()
        .map(|at| at.saturating_sub(now_ms))
        .collect();
    let avg_ttl = if ttls.is_empty() {
        0
    } else {
        ttls.iter().sum::<u64>() / ttls.len() as u64
    };
    vec![field(
        "db0",
        format!(
            "keys={},expires={},avg_ttl={avg_ttl}",
            node.db.len(),
            node.db.expiring_count()
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    #[test]
    fn info_server_section_is_exact() {
        let (mut n, c) = cluster_node();
        let later = Time {
            mono_ms: 90_500,
            unix_ms: 1_090_500,
        };
        let Reply::Verbatim(_, text) = n.command(later, c, &words("INFO server")) else {
            panic!("verbatim")
        };
        let expected = format!(
            "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
             redis_mode:cluster\r\narch_bits:64\r\nprocess_id:4242\r\nrun_id:{}\r\ntcp_port:6379\r\n\
             server_time_usec:1090500000\r\nuptime_in_seconds:90\r\nuptime_in_days:0\r\nhz:10\r\n\
             configured_hz:10\r\nconfig_file:/etc/redis/7001.conf\r\n",
            n.run_id
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn info_sections_order_and_selection() {
        let (mut n, c) = cluster_node();
        let all = info_text(&mut n, c, "info");
        let titles: Vec<&str> = all.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            titles,
            vec![
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ]
        );
        // Sections are separated by an empty line; an empty keyspace is just its title.
        assert!(all.ends_with("\r\n\r\n# Cluster\r\ncluster_enabled:1\r\n\r\n# Keyspace\r\n"));
        let titles_of = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with('#'))
                .map(String::from)
                .collect()
        };
        // `all` and `everything` add the command statistics, as Redis 7.0's do.
        let everything = info_text(&mut n, c, "info everything");
        let mut with_commands = titles_of(&all);
        with_commands.insert(7, "# Commandstats".to_string());
        assert_eq!(titles_of(&everything), with_commands);
        assert_eq!(titles_of(&info_text(&mut n, c, "info all")), with_commands);
        assert_eq!(
            titles_of(&info_text(&mut n, c, "info default")),
            titles_of(&all)
        );
        assert_eq!(info_text(&mut n, c, "info foo"), "");
        assert_eq!(
            info_text(&mut n, c, "info KEYSPACE foo CLUSTER"),
            "# Cluster\r\ncluster_enabled:1\r\n\r\n# Keyspace\r\n"
        );
        for line in [
            "redis_mode:cluster",
            "connected_clients:1",
            "loading:0",
            "aof_enabled:0",
            "role:master",
            "connected_slaves:0",
            "master_repl_offset:0",
            "keyspace_hits:0",
            "expired_keys:0",
            "maxmemory_policy:noeviction",
        ] {
            assert!(all.contains(&format!("\r\n{line}\r\n")), "missing {line}");
        }
        assert!(all.contains(&format!("\r\nmaster_replid:{}\r\n", n.run_id)));
        let (mut s, sc) = node_with(Config::default());
        let text = info_text(&mut s, sc, "info");
        assert!(text.contains("\r\nredis_mode:standalone\r\n"));
        assert!(text.contains("\r\ncluster_enabled:0\r\n"));
    }

    #[test]
    fn command_and_error_stats_count_rejected_failed_and_every_error_reply() {
        let (mut n, c) = node_with(Config::default());
        run(&mut n, c, "SET k v");
        run(&mut n, c, "GET");
        run(&mut n, c, "LPUSH k x");
        run(&mut n, c, "NOSUCH");
        let commands = info_text(&mut n, c, "info commandstats");
        let line = |name: &str, calls: u64, rejected: u64, failed: u64| {
            format!(
                "cmdstat_{name}:calls={calls},usec=0,usec_per_call=0.00,\
                 rejected_calls={rejected},failed_calls={failed}\r\n"
            )
        };
        assert!(commands.contains(&line("set", 1, 0, 0)), "{commands}");
        assert!(commands.contains(&line("get", 0, 1, 0)), "{commands}");
        assert!(commands.contains(&line("lpush", 1, 0, 1)), "{commands}");
        assert_eq!(
            info_text(&mut n, c, "info errorstats"),
            "# Errorstats\r\nerrorstat_ERR:count=2\r\nerrorstat_WRONGTYPE:count=1\r\n"
        );
        assert!(info_text(&mut n, c, "info stats").contains("\r\ntotal_error_replies:3\r\n"));
        // A cluster node serving no slot refuses a key: rejected, counted by its prefix.
        let (mut m, mc) = cluster_node();
        run(&mut m, mc, "SET k v");
        assert!(info_text(&mut m, mc, "info commandstats").contains(&line("set", 0, 1, 0)));
        assert!(info_text(&mut m, mc, "info errorstats").contains("errorstat_CLUSTERDOWN:count=1"));
        run(&mut m, mc, "CONFIG RESETSTAT");
        assert_eq!(info_text(&mut m, mc, "info errorstats"), "# Errorstats\r\n");
    }

    #[test]
    fn info_keyspace_counts_keys_and_ttls() {
        let (mut n, c) = cluster_node();
        put(&mut n, "a", None);
        put(&mut n, "b", Some(NOW.unix_ms + 100_000));
        put(&mut n, "c", Some(NOW.unix_ms + 50_000));
        assert_eq!(
            info_text(&mut n, c, "info keyspace"),
            "# Keyspace\r\ndb0:keys=3,expires=2,avg_ttl=75000\r\n"
        );
        let stats = info_text(&mut n, c, "info stats");
        assert!(stats.contains("\r\ntotal_connections_received:1\r\n"));
        assert!(stats.contains("\r\ntotal_commands_processed:2\r\n"));
        let memory = info_text(&mut n, c, "info memory");
        // Per key: a 48-byte cluster dict entry, an 8-byte key sds, a 32-byte embstr.
        let used = BASE_MEMORY_BYTES
            + 3 * (48 + 8 + 32 + PER_KEY_OVERHEAD_BYTES)
            + 2 * PER_EXPIRY_OVERHEAD_BYTES;
        assert!(memory.contains(&format!(
            "\r\nused_memory:{used}\r\nused_memory_human:1.00M\r\n"
        )));
        assert_eq!(run(&mut n, c, "config resetstat"), Reply::ok());
        let stats = info_text(&mut n, c, "info stats");
        assert!(
            stats.contains("\r\ntotal_commands_processed:1\r\n"),
            "{stats}"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1536), "1.50K");
        assert_eq!(bytes_to_human(1864320), "1.78M");
        assert_eq!(bytes_to_human(25276063744), "23.54G");
    }
}
