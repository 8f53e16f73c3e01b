//! Server commands: INFO, COMMAND, CONFIG, TIME, ROLE, LASTSAVE, DEBUG, SHUTDOWN, FUNCTION.
//!
//! Also the machinery shared by container commands (`CLIENT`, `CONFIG`, `COMMAND`,
//! `FUNCTION`): [`run_subcommand`] dispatches `container|sub` specs with Redis's error texts,
//! [`subcommands_of`] lists them for `COMMAND`, and [`help_reply`] formats `… HELP`. Tips and
//! key specs that `COMMAND` reports but [`CommandSpec`] does not carry come from `meta`.

use bytes::Bytes;

use super::{connection, is, keyless, parse_i64, CommandSpec};
use crate::config::{glob_match, Config, DebugCommand};
use crate::node::{ClientId, Effect, LogLevel, Node};
use crate::reply::Reply;

mod meta;

use meta::{Begin, Find, KeySpec};

/// The Redis version this node impersonates, everywhere a client can see it.
pub(crate) const REDIS_VERSION: &str = "7.0.15";

const ADMIN_FLAGS: &[&str] = &["admin", "noscript", "loading", "stale"];
const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];
const LOADING_STALE: &[&str] = &["loading", "stale"];
const SLOW_CONN: &[&str] = &["@slow", "@connection"];

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyless("info", -1, LOADING_STALE, &["@slow", "@dangerous"], "server", "Report server state and statistics by section", "1.0.0", info),
    keyless("command", -1, LOADING_STALE, SLOW_CONN, "server", "Describe the commands this server knows", "2.8.13", command),
    keyless("config", -2, &[], &["@slow"], "server", "Container for configuration subcommands", "2.0.0", config),
    keyless("time", 1, &["loading", "stale", "fast"], &["@fast"], "server", "Return the server's clock", "2.6.0", time),
    keyless("role", 1, &["noscript", "loading", "stale", "fast"], &["@admin", "@fast", "@dangerous"], "server", "Report the replication role", "2.8.12", role),
    keyless("lastsave", 1, &["loading", "stale", "fast"], &["@admin", "@fast", "@dangerous"], "server", "Return when the dataset was last saved", "1.0.0", lastsave),
    keyless("debug", -2, ADMIN_FLAGS, ADMIN_ACL, "server", "Debugging and fault-injection subcommands", "1.0.0", debug),
    keyless("shutdown", -1, &["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"], ADMIN_ACL, "server", "Persist and stop the server", "1.0.0", shutdown),
    keyless("function", -2, &[], &["@slow"], "scripting", "Container for function-library subcommands", "7.0.0", function),
    keyless("replconf", -1, &["admin", "noscript", "loading", "stale", "allow_busy"], ADMIN_ACL, "server", "An internal command for configuring the replication stream", "3.0.0", crate::replication::replconf),
    keyless("psync", -3, &["admin", "noscript", "no_async_loading", "no_multi"], ADMIN_ACL, "server", "An internal command used in replication", "2.8.0", crate::replication::psync),
];

#[rustfmt::skip]
static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("command|count", 2, LOADING_STALE, SLOW_CONN, "server", "Count the commands", "2.8.13", command_count),
    keyless("command|docs", -2, LOADING_STALE, SLOW_CONN, "server", "Document some or all commands", "7.0.0", command_docs),
    keyless("command|getkeys", -4, LOADING_STALE, SLOW_CONN, "server", "Extract the keys of a full command line", "2.8.13", command_getkeys),
    keyless("command|help", 2, LOADING_STALE, SLOW_CONN, "server", "List the COMMAND subcommands", "5.0.0", command_help),
    keyless("command|info", -2, LOADING_STALE, SLOW_CONN, "server", "Describe some or all commands", "2.8.13", command_info),
    keyless("command|list", -2, LOADING_STALE, SLOW_CONN, "server", "List command names, optionally filtered", "7.0.0", command_list),
];

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("config|get", -3, ADMIN_FLAGS, ADMIN_ACL, "server", "Read configuration parameters", "2.0.0", config_get),
    keyless("config|help", 2, LOADING_STALE, &["@slow"], "server", "List the CONFIG subcommands", "5.0.0", config_help),
    keyless("config|resetstat", 2, ADMIN_FLAGS, ADMIN_ACL, "server", "Zero the INFO statistics", "2.0.0", config_resetstat),
    keyless("config|set", -4, ADMIN_FLAGS, ADMIN_ACL, "server", "Change configuration parameters at run time", "2.0.0", config_set),
];

const SCRIPTING: &[&str] = &["@slow", "@scripting"];
const SCRIPTING_WRITE: &[&str] = &["@write", "@slow", "@scripting"];

#[rustfmt::skip]
static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("function|delete", 3, &["write", "noscript"], SCRIPTING_WRITE, "scripting", "Remove a function library", "7.0.0", function_delete),
    keyless("function|dump", 2, &["noscript"], SCRIPTING, "scripting", "Serialize all function libraries", "7.0.0", function_dump),
    keyless("function|flush", -2, &["write", "noscript"], SCRIPTING_WRITE, "scripting", "Remove all function libraries", "7.0.0", function_flush),
    keyless("function|help", 2, LOADING_STALE, SCRIPTING, "scripting", "List the FUNCTION subcommands", "7.0.0", function_help),
    keyless("function|list", -2, &["noscript"], SCRIPTING, "scripting", "List the function libraries", "7.0.0", function_list),
    keyless("function|restore", -3, &["write", "denyoom", "noscript"], SCRIPTING_WRITE, "scripting", "Load function libraries from a FUNCTION DUMP payload", "7.0.0", function_restore),
];

// ---- containers ------------------------------------------------------------------------------

/// The subcommand table of a container command (`client`, `config`, …); empty otherwise.
/// A family that adds a container registers its table here so `COMMAND` can describe it.
pub(crate) fn subcommands_of(container: &str) -> &'static [CommandSpec] {
    match container {
        "client" => connection::CLIENT_SUBCOMMANDS,
        "command" => COMMAND_SUBCOMMANDS,
        "config" => CONFIG_SUBCOMMANDS,
        "function" => FUNCTION_SUBCOMMANDS,
        _ => &[],
    }
}

/// Runs `args[1]` as a subcommand of `container` (upper case, as the error names it) from
/// `table`, with Redis's errors for an unknown subcommand and for a wrong argument count.
pub(crate) fn run_subcommand(
    node: &mut Node,
    client: ClientId,
    args: &[Bytes],
    container: &str,
    table: &'static [CommandSpec],
) -> Reply {
    let full = format!(
        "{}|{}",
        container.to_ascii_lowercase(),
        String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
    );
    match table.iter().find(|s| s.name == full) {
        None => Reply::err(format!(
            "unknown subcommand '{}'. Try {container} HELP.",
            error_arg(&args[1])
        )),
        Some(spec) if !spec.arity_ok(args.len()) => Reply::wrong_arity(spec.name),
        Some(spec) => (spec.handler)(node, client, args),
    }
}

/// An argument quoted inside an error: at most 128 bytes, no line breaks (they would end the
/// error line on the wire).
fn error_arg(arg: &[u8]) -> String {
    let cut = &arg[..arg.len().min(128)];
    String::from_utf8_lossy(cut).replace(['\r', '\n'], " ")
}

/// `ERR unknown subcommand or wrong number of arguments for 'x'. Try DEBUG HELP.`
fn subcommand_syntax_error(args: &[Bytes], container: &str) -> Reply {
    Reply::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        error_arg(&args[1])
    ))
}

/// `<CONTAINER> HELP`: a header, each usage line followed by its indented description, then
/// HELP itself, all as simple strings.
pub(crate) fn help_reply(container: &str, entries: &[(&str, &str)]) -> Reply {
    let mut lines = vec![format!(
        "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )];
    for (usage, description) in entries.iter().chain(&[("HELP", "Prints this help.")]) {
        lines.push(usage.to_string());
        lines.push(format!("    {description}"));
    }
    Reply::Array(lines.into_iter().map(Reply::Simple).collect())
}

// ---- INFO ------------------------------------------------------------------------------------

/// Sections in the order Redis prints them; all of them make up `INFO`, `all` and `default`.
const INFO_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "modules",
    "cluster",
    "keyspace",
];

/// Rough fixed cost of an idle server, for `used_memory` (the keyspace estimates its own part).
const BASE_MEMORY_BYTES: u64 = 1 << 20;

fn info(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let everything = args.len() == 1
        || args[1..]
            .iter()
            .any(|a| is(a, "all") || is(a, "everything") || is(a, "default"));
    let wanted = |section: &str| everything || args[1..].iter().any(|a| is(a, section));
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
    vec![
        // Redis counts replicas apart (`connected_slaves`).
        field(
            "connected_clients",
            node.clients.len() - node.repl.replicas.len(),
        ),
        field("cluster_connections", node.cluster.links.len()),
        field("blocked_clients", 0),
        field("tracking_clients", 0),
    ]
}

fn memory_fields(node: &Node) -> Vec<(String, String)> {
    let used = BASE_MEMORY_BYTES + dataset_bytes(node);
    let maxmemory = config_value(&node.config, "maxmemory")
        .parse::<u64>()
        .unwrap_or(0);
    vec![
        field("used_memory", used),
        field("used_memory_human", bytes_to_human(used)),
        field("maxmemory", maxmemory),
        field("maxmemory_human", bytes_to_human(maxmemory)),
        field(
            "maxmemory_policy",
            config_value(&node.config, "maxmemory-policy"),
        ),
    ]
}

/// An estimate: key and value bytes plus a fixed overhead per key (see `Db`).
fn dataset_bytes(node: &Node) -> u64 {
    node.db.used_memory_estimate()
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

fn config_value(config: &Config, name: &str) -> String {
    config
        .get(name)
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn persistence_fields(node: &Node) -> Vec<(String, String)> {
    vec![
        field("loading", 0),
        field("async_loading", 0),
        field("rdb_bgsave_in_progress", 0),
        field("rdb_last_save_time", node.started.unix_ms / 1000),
        field("aof_enabled", node.config.appendonly as u8),
        field("aof_rewrite_in_progress", 0),
        field("aof_rewrite_scheduled", 0),
    ]
}

fn stats_fields(node: &Node) -> Vec<(String, String)> {
    let s = &node.stats;
    vec![
        field("total_connections_received", s.total_connections_received),
        field("total_commands_processed", s.total_commands_processed),
        field("rejected_connections", 0),
        field("expired_keys", s.expired_keys),
        field("evicted_keys", 0),
        field("keyspace_hits", s.keyspace_hits),
        field("keyspace_misses", s.keyspace_misses),
        field("pubsub_channels", 0),
        field("pubsub_patterns", 0),
    ]
}

/// Role, link and offsets (see [`crate::replication`]).
fn replication_fields(node: &Node) -> Vec<(String, String)> {
    let me = node.cluster.me();
    let now = node.now.mono_ms;
    let repl = &node.repl;
    let mut fields = Vec::new();
    let mut replid = repl.replid.clone();
    match me.master.and_then(|m| node.cluster.node(&m)) {
        Some(master) if me.is_replica() => {
            let link = repl.link.as_ref().filter(|l| l.master == master.id);
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
                let down_s = match repl.down_since_ms {
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
            if let Some(l) = link.filter(|l| l.up) {
                replid = l.master_replid.clone();
            }
        }
        _ => fields.push(field("role", "master")),
    }
    fields.push(field("connected_slaves", repl.replicas.len()));
    for (i, r) in repl.replicas.values().enumerate() {
        let lag_s = now.saturating_sub(r.ack_ms) / 1000;
        fields.push(field(
            &format!("slave{i}"),
            format!(
                "ip={},port={},state=online,offset={},lag={lag_s}",
                r.ip, r.port, r.ack_offset
            ),
        ));
    }
    fields.extend([
        field("master_failover_state", "no-failover"),
        field("master_replid", replid),
        field("master_replid2", &repl.replid2),
        field("master_repl_offset", me.repl_offset),
        field("second_repl_offset", repl.second_offset),
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

// ---- COMMAND ---------------------------------------------------------------------------------

fn command(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() == 1 {
        return Reply::Array(super::all().map(command_entry).collect());
    }
    run_subcommand(node, client, args, "COMMAND", COMMAND_SUBCOMMANDS)
}

fn command_count(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(super::all().count() as i64)
}

/// A command or subcommand by name (`get`, `CLIENT|LIST`), case-insensitively.
fn find_command(name: &[u8]) -> Option<&'static CommandSpec> {
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    match name.split_once('|') {
        None => super::all().find(|s| s.name == name),
        Some((container, _)) => subcommands_of(container).iter().find(|s| s.name == name),
    }
}

fn command_info(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return Reply::Array(super::all().map(command_entry).collect());
    }
    let entries = args[2..]
        .iter()
        .map(|name| find_command(name).map_or(Reply::NilArray, command_entry))
        .collect();
    Reply::Array(entries)
}

/// `[name, arity, flags, first, last, step, acl categories, tips, key specs, subcommands]`.
fn command_entry(spec: &'static CommandSpec) -> Reply {
    let simple_set = |words: &[&str]| Reply::Set(words.iter().map(|w| Reply::simple(*w)).collect());
    let meta = meta::lookup(spec.name);
    let tips = meta.map_or(&[][..], |m| m.tips);
    let key_specs = match meta {
        Some(m) => m.key_specs.iter().map(key_spec_reply).collect(),
        None => derived_key_spec(spec)
            .map(|k| key_spec_reply(&k))
            .into_iter()
            .collect(),
    };
    // Subcommand names contain `|`, so they never have subcommands of their own.
    let subcommands = subcommands_of(spec.name)
        .iter()
        .map(command_entry)
        .collect();
    Reply::Array(vec![
        Reply::bulk_str(spec.name),
        Reply::Integer(spec.arity as i64),
        simple_set(spec.flags),
        Reply::Integer(spec.first_key as i64),
        Reply::Integer(spec.last_key as i64),
        Reply::Integer(spec.key_step as i64),
        simple_set(spec.acl_categories),
        Reply::Set(tips.iter().map(|t| Reply::bulk_str(t)).collect()),
        Reply::Set(key_specs),
        Reply::Set(subcommands),
    ])
}

/// For a command Redis does not have: one key spec from first/last/step.
fn derived_key_spec(spec: &CommandSpec) -> Option<KeySpec> {
    if spec.first_key <= 0 {
        return None;
    }
    let flags: &'static [&'static str] = if spec.is_write() {
        &["RW", "update"]
    } else {
        &["RO", "access"]
    };
    let lastkey = if spec.last_key < 0 {
        spec.last_key as i64
    } else {
        (spec.last_key - spec.first_key) as i64
    };
    Some(KeySpec {
        flags,
        begin: Begin::Index(spec.first_key as i64),
        find: Find::Range {
            lastkey,
            keystep: spec.key_step.max(1) as i64,
            limit: 0,
        },
    })
}

fn key_spec_reply(spec: &KeySpec) -> Reply {
    let pair = |k: &str, v: Reply| (Reply::bulk_str(k), v);
    let typed = |kind: &str, spec: Vec<(Reply, Reply)>| {
        Reply::Map(vec![
            pair("type", Reply::bulk_str(kind)),
            pair("spec", Reply::Map(spec)),
        ])
    };
    let begin = match spec.begin {
        Begin::Index(index) => typed("index", vec![pair("index", Reply::Integer(index))]),
        Begin::Keyword { keyword, startfrom } => typed(
            "keyword",
            vec![
                pair("keyword", Reply::bulk_str(keyword)),
                pair("startfrom", Reply::Integer(startfrom)),
            ],
        ),
        Begin::Unknown => typed("unknown", Vec::new()),
    };
    let find = match spec.find {
        Find::Range {
            lastkey,
            keystep,
            limit,
        } => typed(
            "range",
            vec![
                pair("lastkey", Reply::Integer(lastkey)),
                pair("keystep", Reply::Integer(keystep)),
                pair("limit", Reply::Integer(limit)),
            ],
        ),
        Find::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => typed(
            "keynum",
            vec![
                pair("keynumidx", Reply::Integer(keynumidx)),
                pair("firstkey", Reply::Integer(firstkey)),
                pair("keystep", Reply::Integer(keystep)),
            ],
        ),
        Find::Unknown => typed("unknown", Vec::new()),
    };
    Reply::Map(vec![
        pair(
            "flags",
            Reply::Set(spec.flags.iter().map(|f| Reply::simple(*f)).collect()),
        ),
        pair("begin_search", begin),
        pair("find_keys", find),
    ])
}

fn command_docs(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let specs: Vec<&'static CommandSpec> = if args.len() == 2 {
        super::all().collect()
    } else {
        args[2..].iter().filter_map(|n| find_command(n)).collect()
    };
    Reply::Map(
        specs
            .into_iter()
            .map(|s| (Reply::bulk_str(s.name), command_doc(s)))
            .collect(),
    )
}

/// `summary`, `since`, `group`, and for containers their subcommands' docs.
fn command_doc(spec: &'static CommandSpec) -> Reply {
    let mut fields = vec![
        (Reply::bulk_str("summary"), Reply::bulk_str(spec.summary)),
        (Reply::bulk_str("since"), Reply::bulk_str(spec.since)),
        (Reply::bulk_str("group"), Reply::bulk_str(spec.group)),
    ];
    let subs = subcommands_of(spec.name);
    if !subs.is_empty() {
        let docs = subs
            .iter()
            .map(|s| (Reply::bulk_str(s.name), command_doc(s)))
            .collect();
        fields.push((Reply::bulk_str("subcommands"), Reply::Map(docs)));
    }
    Reply::Map(fields)
}

/// `COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]`; subcommands are listed too.
fn command_list(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let everything = super::all().flat_map(|s| std::iter::once(s).chain(subcommands_of(s.name)));
    let names: Vec<&str> = match args.len() {
        2 => everything.map(|s| s.name).collect(),
        5 if is(&args[2], "filterby") => {
            let value = String::from_utf8_lossy(&args[4]).into_owned();
            if is(&args[3], "module") {
                Vec::new()
            } else if is(&args[3], "aclcat") {
                let category = format!("@{value}");
                everything
                    .filter(|s| {
                        s.acl_categories
                            .iter()
                            .any(|c| c.eq_ignore_ascii_case(&category))
                    })
                    .map(|s| s.name)
                    .collect()
            } else if is(&args[3], "pattern") {
                everything
                    .filter(|s| glob_match(value.as_bytes(), s.name.as_bytes(), true))
                    .map(|s| s.name)
                    .collect()
            } else {
                return Reply::syntax_error();
            }
        }
        _ => return Reply::syntax_error(),
    };
    Reply::Array(names.into_iter().map(Reply::bulk_str).collect())
}

fn command_getkeys(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let target = &args[2..];
    let Some(mut spec) = find_command(&target[0]).filter(|s| !s.name.contains('|')) else {
        return Reply::err("Invalid command specified");
    };
    let subs = subcommands_of(spec.name);
    if !subs.is_empty() {
        let full = format!(
            "{}|{}",
            spec.name,
            String::from_utf8_lossy(target.get(1).map_or(&b""[..], |b| b)).to_ascii_lowercase()
        );
        match subs.iter().find(|s| s.name == full) {
            Some(sub) => spec = sub,
            None => return Reply::err("Invalid command specified"),
        }
    }
    let specs = key_specs_of(spec);
    if specs.is_empty() {
        return Reply::err("The command has no key arguments");
    }
    if !spec.arity_ok(target.len()) {
        return Reply::err("Invalid number of arguments specified for command");
    }
    let mut positions = key_positions(&specs, target);
    if spec.name == "migrate" {
        // With a KEYS list the key argument is a placeholder, not a key.
        if let Some(p) = positions.as_mut().filter(|p| p.len() > 1) {
            p.remove(0);
        }
    }
    match positions {
        Some(positions) => Reply::Array(
            positions
                .into_iter()
                .map(|i| Reply::Bulk(target[i].clone()))
                .collect(),
        ),
        None if spec.flags.contains(&"no_mandatory_keys") => Reply::Array(Vec::new()),
        None => Reply::err("Invalid arguments specified for command"),
    }
}

/// Key specs from Redis's table, or derived from first/last/step.
fn key_specs_of(spec: &CommandSpec) -> Vec<KeySpec> {
    match meta::lookup(spec.name) {
        Some(m) => m.key_specs.to_vec(),
        None => derived_key_spec(spec).into_iter().collect(),
    }
}

/// The argument positions of the keys of a command line (`args[0]` is the command name),
/// following Redis's key-spec rules; `None` when the line does not fit a spec. Specs whose
/// shape is unknown (SORT's BY/GET patterns) are skipped.
pub(crate) fn key_positions(specs: &[KeySpec], args: &[Bytes]) -> Option<Vec<usize>> {
    let argc = args.len() as i64;
    let mut positions = Vec::new();
    for spec in specs {
        let first = match spec.begin {
            Begin::Index(index) => index,
            Begin::Keyword { keyword, startfrom } => {
                match keyword_position(args, keyword, startfrom) {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            Begin::Unknown => continue,
        };
        let (first, last, step) = match spec.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, keystep)
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let count = args
                    .get((first + keynumidx) as usize)
                    .and_then(|a| parse_i64(a))
                    .filter(|n| *n >= 0)?;
                if count == 0 {
                    continue;
                }
                let start = first + firstkey;
                (start, start + (count - 1) * keystep, keystep)
            }
            Find::Unknown => continue,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return None;
        }
        positions.extend((first..=last).step_by(step as usize).map(|i| i as usize));
    }
    Some(positions)
}

/// Where `keyword` occurs: searching forward from `startfrom` up to (not including) the last
/// argument, or, when `startfrom` is negative, backward from `argc + startfrom`; never at
/// position 0, never past the end.
fn keyword_position(args: &[Bytes], keyword: &str, startfrom: i64) -> Option<i64> {
    let argc = args.len() as i64;
    let mut candidates: Box<dyn Iterator<Item = i64>> = if startfrom > 0 {
        Box::new(startfrom..argc - 1)
    } else if startfrom < 0 {
        Box::new((1..=(argc + startfrom)).rev())
    } else {
        // Redis starts at `argc` itself, which is past the end: nothing is searched.
        Box::new(std::iter::empty())
    };
    candidates.find(|&i| (1..argc).contains(&i) && is(&args[i as usize], keyword))
}

fn command_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "COMMAND",
        &[
            ("(no subcommand)", "Describe every command."),
            ("COUNT", "Return the number of commands."),
            (
                "DOCS [<command-name> ...]",
                "Summary, group and version of commands.",
            ),
            (
                "GETKEYS <full-command>",
                "Return the keys in a full command line.",
            ),
            (
                "INFO [<command-name> ...]",
                "Describe the given commands, or all.",
            ),
            (
                "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <pattern>)]",
                "Return command names, optionally filtered.",
            ),
        ],
    )
}

// ---- CONFIG ----------------------------------------------------------------------------------

fn config(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "CONFIG", CONFIG_SUBCOMMANDS)
}

fn config_get(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in node.config.get(&String::from_utf8_lossy(pattern)) {
            if !pairs.iter().any(|(n, _)| *n == name) {
                pairs.push((name, value));
            }
        }
    }
    Reply::Map(
        pairs
            .into_iter()
            .map(|(n, v)| (Reply::bulk_str(&n), Reply::bulk_str(&v)))
            .collect(),
    )
}

/// Several pairs are set atomically: names are all checked (known, settable, not repeated)
/// before any value, and a bad value leaves the whole configuration unchanged.
fn config_set(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if !args.len().is_multiple_of(2) {
        return Reply::syntax_error();
    }
    let pairs: Vec<(String, String)> = args[2..]
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8_lossy(&p[0]).into_owned(),
                String::from_utf8_lossy(&p[1]).into_owned(),
            )
        })
        .collect();
    let failed = |name: &str, reason: &str| {
        Reply::err(format!(
            "CONFIG SET failed (possibly related to argument '{name}') - {reason}"
        ))
    };
    let mut seen = Vec::new();
    for (name, _) in &pairs {
        match Config::settable(name) {
            None => {
                return Reply::err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                ))
            }
            Some(Err(reason)) => return failed(name, reason),
            Some(Ok(canonical)) if seen.contains(&canonical) => {
                return failed(name, "duplicate parameter")
            }
            Some(Ok(canonical)) => seen.push(canonical),
        }
    }
    let mut updated = node.config.clone();
    for (name, value) in &pairs {
        if let Err(reason) = updated.set(name, value) {
            return failed(name, &reason);
        }
    }
    node.cluster.node_timeout_ms = updated.cluster_node_timeout_ms;
    node.cluster.require_full_coverage = updated.cluster_require_full_coverage;
    node.config = updated;
    Reply::ok()
}

fn config_resetstat(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    node.stats = Default::default();
    Reply::ok()
}

fn config_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "CONFIG",
        &[
            (
                "GET <pattern> [<pattern> ...]",
                "Return parameters matching the glob patterns and their values.",
            ),
            (
                "SET <directive> <value> [<directive> <value> ...]",
                "Change parameters at run time, all or none.",
            ),
            ("RESETSTAT", "Zero the statistics INFO reports."),
        ],
    )
}

// ---- TIME, ROLE, LASTSAVE --------------------------------------------------------------------

fn time(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let ms = node.now.unix_ms;
    Reply::Array(vec![
        Reply::bulk_str(&(ms / 1000).to_string()),
        Reply::bulk_str(&((ms % 1000) * 1000).to_string()),
    ])
}

/// `[master, offset, [[ip, port, acked offset], …]]` or `[slave, master ip, master port,
/// state, offset]`, state being `connect`, `connecting`, `sync` or `connected`.
fn role(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let me = node.cluster.me();
    let offset = me.repl_offset as i64;
    match me.master.and_then(|m| node.cluster.node(&m)) {
        Some(master) if me.is_replica() => {
            let link = node.repl.link.as_ref().filter(|l| l.master == master.id);
            let state = match link {
                None => "connect",
                Some(l) if !l.up => "connecting",
                Some(l) if l.loading => "sync",
                Some(_) => "connected",
            };
            Reply::Array(vec![
                Reply::bulk_str("slave"),
                Reply::bulk_str(&master.ip),
                Reply::Integer(master.port as i64),
                Reply::bulk_str(state),
                Reply::Integer(offset),
            ])
        }
        _ => Reply::Array(vec![
            Reply::bulk_str("master"),
            Reply::Integer(offset),
            Reply::Array(
                node.repl
                    .replicas
                    .values()
                    .map(|r| {
                        Reply::Array(vec![
                            Reply::bulk_str(&r.ip),
                            Reply::bulk_str(&r.port.to_string()),
                            Reply::bulk_str(&r.ack_offset.to_string()),
                        ])
                    })
                    .collect(),
            ),
        ]),
    }
}

/// No RDB snapshots are taken, so the last "save" is the start.
fn lastsave(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer((node.started.unix_ms / 1000) as i64)
}

// ---- DEBUG, SHUTDOWN -------------------------------------------------------------------------

/// `enable-debug-command`: `yes`, or `local` for a client on the loopback address.
fn debug_allowed(node: &Node, client: ClientId) -> bool {
    match node.config.enable_debug_command {
        DebugCommand::Yes => true,
        DebugCommand::No => false,
        DebugCommand::Local => {
            let addr = &node.clients[&client].addr;
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "127.0.0.1" || host == "::1"
        }
    }
}

fn debug(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if !debug_allowed(node, client) {
        return Reply::err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
             you can run it from a local connection, otherwise you need to set this option in \
             the configuration file, and then restart the server.",
        );
    }
    let sub = &args[1];
    if is(sub, "segfault") {
        node.effects.push(Effect::Crash);
        Reply::ok()
    } else if is(sub, "sleep") && args.len() == 3 {
        node.effects.push(Effect::Sleep {
            ms: sleep_ms(&args[2]),
        });
        Reply::ok()
    } else if is(sub, "log") && args.len() == 3 {
        let text = format!("DEBUG LOG: {}", String::from_utf8_lossy(&args[2]));
        node.log(LogLevel::Warning, text);
        Reply::ok()
    } else if is(sub, "error") && args.len() == 3 {
        Reply::Error(String::from_utf8_lossy(&args[2]).replace(['\r', '\n'], " "))
    } else if is(sub, "help") && args.len() == 2 {
        help_reply(
            "DEBUG",
            &[
                ("ERROR <string>", "Reply with <string> as an error."),
                ("LOG <message>", "Write <message> to the server log."),
                ("SEGFAULT", "Stop the server at once, as a crash would."),
                (
                    "SLEEP <seconds>",
                    "Hang the whole server for <seconds>; decimals allowed.",
                ),
            ],
        )
    } else {
        subcommand_syntax_error(args, "DEBUG")
    }
}

/// Seconds as a decimal, read leniently like `strtod`: what does not parse counts as 0.
fn sleep_ms(arg: &[u8]) -> u64 {
    let seconds: f64 = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0.0);
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0) as u64
    } else {
        0
    }
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`. There is no RDB to save and no shutdown
/// delay, so every valid form stops at once; the driver exits without sending this reply.
fn shutdown(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    for arg in &args[1..] {
        if is(arg, "save") {
            save = true;
        } else if is(arg, "nosave") {
            nosave = true;
        } else if is(arg, "abort") {
            abort = true;
        } else if is(arg, "now") || is(arg, "force") {
            other = true;
        } else {
            return Reply::syntax_error();
        }
    }
    if (save && nosave) || (abort && (save || nosave || other)) {
        return Reply::syntax_error();
    }
    if abort {
        return Reply::err("No shutdown in progress.");
    }
    node.effects.push(Effect::Shutdown);
    Reply::ok()
}

// ---- FUNCTION --------------------------------------------------------------------------------

fn function(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "FUNCTION", FUNCTION_SUBCOMMANDS)
}

/// This node has no scripting engine, so there are never any libraries.
fn function_list(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "withcode") {
            i += 1;
        } else if is(&args[i], "libraryname") {
            if i + 1 >= args.len() {
                return Reply::err("library name argument was not given");
            }
            i += 2;
        } else {
            return Reply::err(format!("Unknown argument {}", error_arg(&args[i])));
        }
    }
    Reply::Array(Vec::new())
}

/// The payload of an empty library set: RDB version, then the CRC64 of what precedes it.
fn function_dump(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Bulk(super::dump::seal_payload(Vec::new()))
}

fn function_restore(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return subcommand_syntax_error(args, "FUNCTION");
    }
    if let Some(policy) = args.get(3) {
        if !["flush", "append", "replace"].iter().any(|p| is(policy, p)) {
            return Reply::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
        }
    }
    let Ok(body) = super::dump::verify_payload(&args[2]) else {
        return Reply::err("DUMP payload version or checksum are wrong");
    };
    if !body.is_empty() {
        return Reply::err(
            "this server has no scripting engine and cannot load function libraries",
        );
    }
    Reply::ok()
}

fn function_flush(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match args.get(2) {
        None => Reply::ok(),
        Some(mode) if is(mode, "sync") || is(mode, "async") => {
            if args.len() > 3 {
                subcommand_syntax_error(args, "FUNCTION")
            } else {
                Reply::ok()
            }
        }
        Some(_) => Reply::err("FUNCTION FLUSH only supports SYNC|ASYNC option"),
    }
}

fn function_delete(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::err("Library not found")
}

fn function_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "FUNCTION",
        &[
            (
                "DELETE <library-name>",
                "Remove a library (there are none here).",
            ),
            ("DUMP", "Serialize all libraries for FUNCTION RESTORE."),
            ("FLUSH [ASYNC|SYNC]", "Remove all libraries."),
            (
                "LIST [LIBRARYNAME <pattern>] [WITHCODE]",
                "List the libraries (always none).",
            ),
            (
                "RESTORE <payload> [FLUSH|APPEND|REPLACE]",
                "Load libraries from a FUNCTION DUMP payload.",
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{ValueRef, PER_EXPIRY_OVERHEAD_BYTES, PER_KEY_OVERHEAD_BYTES};
    use crate::node::Time;

    const NOW: Time = Time {
        mono_ms: 0,
        unix_ms: 1_000_000,
    };

    fn node_with(config: Config) -> (Node, ClientId) {
        let mut node = Node::new(config, NOW, 1);
        let c = node.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
        (node, c)
    }

    fn cluster_node() -> (Node, ClientId) {
        node_with(Config {
            cluster_enabled: true,
            process_id: 4242,
            config_file: "/etc/redis/7001.conf".into(),
            ..Config::default()
        })
    }

    fn run(node: &mut Node, c: ClientId, line: &str) -> Reply {
        node.command(NOW, c, &words(line))
    }

    fn words(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn err(text: &str) -> Reply {
        Reply::Error(text.into())
    }

    fn bulk(text: &str) -> Reply {
        Reply::bulk_str(text)
    }

    fn simple_set(words: &[&str]) -> Reply {
        Reply::Set(words.iter().map(|w| Reply::simple(*w)).collect())
    }

    fn info_text(node: &mut Node, c: ClientId, line: &str) -> String {
        match run(node, c, line) {
            Reply::Verbatim("txt", text) => text,
            other => panic!("INFO gave {other:?}"),
        }
    }

    fn put(node: &mut Node, key: &'static str, expires_at_ms: Option<u64>) {
        node.db
            .set(key.as_bytes(), ValueRef::String(b"value"), expires_at_ms);
    }

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
        let everything = info_text(&mut n, c, "info everything");
        assert_eq!(titles_of(&everything), titles_of(&all));
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
        let used = BASE_MEMORY_BYTES
            + 3 * (1 + 5 + PER_KEY_OVERHEAD_BYTES)
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

    #[test]
    fn command_info_matches_redis() {
        let (mut n, c) = cluster_node();
        let get_spec = Reply::Map(vec![
            (bulk("flags"), simple_set(&["RO", "access"])),
            (
                bulk("begin_search"),
                Reply::Map(vec![
                    (bulk("type"), bulk("index")),
                    (
                        bulk("spec"),
                        Reply::Map(vec![(bulk("index"), Reply::Integer(1))]),
                    ),
                ]),
            ),
            (
                bulk("find_keys"),
                Reply::Map(vec![
                    (bulk("type"), bulk("range")),
                    (
                        bulk("spec"),
                        Reply::Map(vec![
                            (bulk("lastkey"), Reply::Integer(0)),
                            (bulk("keystep"), Reply::Integer(1)),
                            (bulk("limit"), Reply::Integer(0)),
                        ]),
                    ),
                ]),
            ),
        ]);
        let get = Reply::Array(vec![
            bulk("get"),
            Reply::Integer(2),
            simple_set(&["readonly", "fast"]),
            Reply::Integer(1),
            Reply::Integer(1),
            Reply::Integer(1),
            simple_set(&["@read", "@string", "@fast"]),
            Reply::Set(vec![]),
            Reply::Set(vec![get_spec]),
            Reply::Set(vec![]),
        ]);
        let ping = Reply::Array(vec![
            bulk("ping"),
            Reply::Integer(-1),
            simple_set(&["fast"]),
            Reply::Integer(0),
            Reply::Integer(0),
            Reply::Integer(0),
            simple_set(&["@fast", "@connection"]),
            Reply::Set(vec![
                bulk("request_policy:all_shards"),
                bulk("response_policy:all_succeeded"),
            ]),
            Reply::Set(vec![]),
            Reply::Set(vec![]),
        ]);
        assert_eq!(
            run(&mut n, c, "COMMAND INFO get PING nosuch"),
            Reply::Array(vec![get, ping, Reply::NilArray])
        );
        assert_eq!(
            run(&mut n, c, "command count"),
            Reply::Integer(crate::cmd::all().count() as i64)
        );
        let Reply::Array(all) = run(&mut n, c, "command") else {
            panic!("array")
        };
        assert_eq!(all.len(), crate::cmd::all().count());
    }

    #[test]
    fn command_info_of_containers_lists_subcommands() {
        let (mut n, c) = cluster_node();
        let Reply::Array(entries) = run(&mut n, c, "command info client") else {
            panic!("array")
        };
        let Reply::Array(client) = &entries[0] else {
            panic!("entry")
        };
        assert_eq!(
            client[..3],
            [bulk("client"), Reply::Integer(-2), simple_set(&[])]
        );
        let Reply::Set(subs) = &client[9] else {
            panic!("subcommands")
        };
        let names: Vec<&Reply> = subs
            .iter()
            .map(|s| match s {
                Reply::Array(fields) => &fields[0],
                other => other,
            })
            .collect();
        assert!(names.contains(&&bulk("client|setname")));
        let Reply::Array(list) = run(&mut n, c, "command info client|list") else {
            panic!("array")
        };
        let Reply::Array(list) = &list[0] else {
            panic!("entry")
        };
        assert_eq!(list[1], Reply::Integer(-2));
        assert_eq!(
            list[2],
            simple_set(&["admin", "noscript", "loading", "stale"])
        );
        assert_eq!(list[7], Reply::Set(vec![bulk("nondeterministic_output")]));
    }

    #[test]
    fn command_docs_and_list() {
        let (mut n, c) = cluster_node();
        let Reply::Map(docs) = run(&mut n, c, "command docs config nosuch") else {
            panic!("map")
        };
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].0, bulk("config"));
        let Reply::Map(fields) = &docs[0].1 else {
            panic!("doc map")
        };
        assert_eq!(fields[1], (bulk("since"), bulk("2.0.0")));
        assert_eq!(fields[2], (bulk("group"), bulk("server")));
        assert_eq!(fields[3].0, bulk("subcommands"));
        let list = run(&mut n, c, "command list filterby pattern conf*");
        assert_eq!(
            list,
            Reply::Array(
                [
                    "config",
                    "config|get",
                    "config|help",
                    "config|resetstat",
                    "config|set"
                ]
                .iter()
                .map(|s| bulk(s))
                .collect()
            )
        );
        let Reply::Array(conn) = run(&mut n, c, "command list filterby aclcat connection") else {
            panic!("array")
        };
        assert!(conn.contains(&bulk("hello")) && conn.contains(&bulk("client|id")));
        assert!(!conn.contains(&bulk("client")));
        assert_eq!(
            run(&mut n, c, "command list filterby module x"),
            Reply::Array(vec![])
        );
        assert_eq!(run(&mut n, c, "command list x"), err("ERR syntax error"));
        assert_eq!(
            run(&mut n, c, "command list filterby foo x"),
            err("ERR syntax error")
        );
        assert_eq!(
            run(&mut n, c, "command foo"),
            err("ERR unknown subcommand 'foo'. Try COMMAND HELP.")
        );
        assert_eq!(
            run(&mut n, c, "command help x"),
            err("ERR wrong number of arguments for 'command|help' command")
        );
    }

    #[test]
    fn command_getkeys() {
        let (mut n, c) = cluster_node();
        assert_eq!(
            run(&mut n, c, "command getkeys get a"),
            Reply::Array(vec![bulk("a")])
        );
        assert_eq!(
            run(&mut n, c, "command getkeys mset a 1 b 2"),
            Reply::Array(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            run(&mut n, c, "command getkeys ping x"),
            err("ERR The command has no key arguments")
        );
        assert_eq!(
            run(&mut n, c, "command getkeys foo a"),
            err("ERR Invalid command specified")
        );
        assert_eq!(
            run(&mut n, c, "command getkeys get a b"),
            err("ERR Invalid number of arguments specified for command")
        );
        assert_eq!(
            run(&mut n, c, "command getkeys get"),
            err("ERR wrong number of arguments for 'command|getkeys' command")
        );
    }

    #[test]
    fn key_specs_find_movable_keys() {
        let specs = |name: &str| meta::lookup(name).expect("in table").key_specs.to_vec();
        let positions = |name: &str, line: &str| key_positions(&specs(name), &words(line));
        assert_eq!(
            positions("migrate", "migrate h 1 \"\" 0 5000 COPY KEYS a b"),
            Some(vec![3, 8, 9])
        );
        assert_eq!(positions("migrate", "migrate h 1 k 0 5000"), Some(vec![3]));
        assert_eq!(positions("eval", "eval s 2 k1 k2 arg"), Some(vec![3, 4]));
        assert_eq!(positions("eval", "eval s x k1"), None);
        assert_eq!(positions("eval", "eval s 0"), Some(vec![]));
        assert_eq!(
            positions("zunionstore", "zunionstore d 2 a b"),
            Some(vec![1, 3, 4])
        );
        assert_eq!(positions("mset", "mset a 1 b 2"), Some(vec![1, 3]));
        assert_eq!(positions("rename", "rename a b"), Some(vec![1, 2]));
        // A keyword search never runs off the end of the arguments.
        let edge = [KeySpec {
            flags: &["RO"],
            begin: Begin::Keyword {
                keyword: "KEYS",
                startfrom: 0,
            },
            find: Find::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }];
        assert_eq!(key_positions(&edge, &words("x KEYS a")), Some(vec![]));
        assert_eq!(
            positions("migrate", "migrate h 1 k 0 5000 KEYS"),
            Some(vec![3])
        );
    }

    #[test]
    fn config_get_and_set() {
        let (mut n, c) = cluster_node();
        assert_eq!(
            run(&mut n, c, "config get save appendonly"),
            Reply::Map(vec![
                (bulk("save"), bulk("3600 1 300 100 60 10000")),
                (bulk("appendonly"), bulk("no")),
            ])
        );
        assert_eq!(
            run(&mut n, c, "CONFIG GET *node-timeout* cluster-node-timeout"),
            Reply::Map(vec![(bulk("cluster-node-timeout"), bulk("15000"))])
        );
        assert_eq!(run(&mut n, c, "config get nosuch"), Reply::Map(vec![]));
        assert_eq!(
            run(&mut n, c, "config get"),
            err("ERR wrong number of arguments for 'config|get' command")
        );
        assert_eq!(
            run(
                &mut n,
                c,
                "config set cluster-node-timeout 500 cluster-require-full-coverage no"
            ),
            Reply::ok()
        );
        assert_eq!(n.config.cluster_node_timeout_ms, 500);
        assert_eq!(n.cluster.node_timeout_ms, 500);
        assert!(!n.cluster.require_full_coverage);
        let failed = |arg: &str, reason: &str| {
            err(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{arg}') - {reason}"
            ))
        };
        let cases = [
            (
                "config set cluster-enabled no",
                failed("cluster-enabled", "can't set immutable config"),
            ),
            (
                "config set dir /tmp",
                failed("dir", "can't set protected config"),
            ),
            (
                "config set foo 1",
                err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
            ),
            ("config set a b c", err("ERR syntax error")),
            (
                "config set loglevel debug bar 2",
                err("ERR Unknown option or number of arguments for CONFIG SET - 'bar'"),
            ),
            (
                "config set appendfsync x cluster-enabled yes",
                failed("cluster-enabled", "can't set immutable config"),
            ),
            (
                "config set cluster-node-timeout 100 cluster-node-timeout x",
                failed("cluster-node-timeout", "duplicate parameter"),
            ),
            (
                "config set loglevel debug appendfsync x",
                failed(
                    "appendfsync",
                    "argument(s) must be one of the following: everysec, always, no",
                ),
            ),
            (
                "config set repl-ping-replica-period 0",
                failed(
                    "repl-ping-replica-period",
                    "argument must be between 1 and 2147483647 inclusive",
                ),
            ),
            (
                "config set save 1",
                failed("save", "Invalid save parameters"),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(run(&mut n, c, line), expected, "{line}");
        }
        // The failed multi-parameter SET changed nothing.
        assert_eq!(n.config.loglevel, "notice");
        assert_eq!(
            run(&mut n, c, "config foo"),
            err("ERR unknown subcommand 'foo'. Try CONFIG HELP.")
        );
    }

    #[test]
    fn time_role_lastsave() {
        let (mut n, c) = cluster_node();
        let at = Time {
            mono_ms: 10,
            unix_ms: 1_795_619_717_904,
        };
        assert_eq!(
            n.command(at, c, &words("time")),
            Reply::Array(vec![bulk("1795619717"), bulk("904000")])
        );
        assert_eq!(
            run_at(&mut n, c, at, "role"),
            Reply::Array(vec![
                bulk("master"),
                Reply::Integer(0),
                Reply::Array(vec![])
            ])
        );
        assert_eq!(run_at(&mut n, c, at, "lastsave"), Reply::Integer(1000));
        assert_eq!(
            run_at(&mut n, c, at, "time x"),
            err("ERR wrong number of arguments for 'time' command")
        );
    }

    fn run_at(n: &mut Node, c: ClientId, at: Time, line: &str) -> Reply {
        n.command(at, c, &words(line))
    }

    const DEBUG_REFUSED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

    #[test]
    fn debug_respects_enable_debug_command() {
        let (mut n, c) = cluster_node();
        assert_eq!(run(&mut n, c, "debug sleep 0"), err(DEBUG_REFUSED));
        let local = Config {
            enable_debug_command: DebugCommand::Local,
            ..Config::default()
        };
        let (mut n, c) = node_with(local);
        let remote = n.client_connected(NOW, "10.0.0.7:4000".into(), "10.0.0.1:6379".into());
        let v6 = n.client_connected(NOW, "[::1]:4000".into(), "[::1]:6379".into());
        assert_eq!(run(&mut n, remote, "debug sleep 0"), err(DEBUG_REFUSED));
        assert_eq!(run(&mut n, v6, "debug sleep 0"), Reply::ok());
        n.take_effects();
        assert_eq!(run(&mut n, c, "DEBUG SLEEP 0.25"), Reply::ok());
        assert_eq!(n.take_effects(), vec![Effect::Sleep { ms: 250 }]);
        assert_eq!(run(&mut n, c, "debug sleep abc"), Reply::ok());
        assert_eq!(n.take_effects(), vec![Effect::Sleep { ms: 0 }]);
        assert_eq!(run(&mut n, c, "debug error foo"), err("foo"));
        assert_eq!(run(&mut n, c, "debug log hi"), Reply::ok());
        assert_eq!(
            n.take_effects(),
            vec![Effect::Log {
                level: LogLevel::Warning,
                text: "DEBUG LOG: hi".into()
            }]
        );
        assert_eq!(
            run(&mut n, c, "debug sleep 1 2"),
            err("ERR unknown subcommand or wrong number of arguments for 'sleep'. Try DEBUG HELP.")
        );
        assert_eq!(
            run(&mut n, c, "debug foo"),
            err("ERR unknown subcommand or wrong number of arguments for 'foo'. Try DEBUG HELP.")
        );
        assert_eq!(
            run(&mut n, c, "debug"),
            err("ERR wrong number of arguments for 'debug' command")
        );
        let Reply::Array(help) = run(&mut n, c, "debug help") else {
            panic!("array")
        };
        assert_eq!(
            help[0],
            Reply::simple("DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert_eq!(run(&mut n, c, "debug segfault"), Reply::ok());
        assert_eq!(n.take_effects(), vec![Effect::Crash]);
    }

    #[test]
    fn shutdown_forms() {
        let (mut n, c) = cluster_node();
        n.take_effects();
        for bad in [
            "shutdown foo",
            "shutdown nosave save",
            "shutdown now foo",
            "shutdown abort now",
        ] {
            assert_eq!(run(&mut n, c, bad), err("ERR syntax error"), "{bad}");
        }
        assert_eq!(
            run(&mut n, c, "shutdown abort"),
            err("ERR No shutdown in progress.")
        );
        assert_eq!(n.take_effects(), vec![]);
        for good in ["shutdown", "SHUTDOWN NOSAVE", "shutdown save now force"] {
            assert_eq!(run(&mut n, c, good), Reply::ok());
            assert_eq!(n.take_effects(), vec![Effect::Shutdown], "{good}");
        }
    }

    #[test]
    fn function_dump_restore_list() {
        let (mut n, c) = cluster_node();
        let empty = Bytes::from_static(b"\x0a\x00\x5d\x9b\x5c\x40\x0f\x7f\xa2\xda");
        assert_eq!(run(&mut n, c, "function dump"), Reply::Bulk(empty.clone()));
        let restore = |n: &mut Node, payload: &[u8], extra: &[&str]| {
            let mut args = words("FUNCTION RESTORE");
            args.push(Bytes::copy_from_slice(payload));
            args.extend(extra.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())));
            n.command(NOW, c, &args)
        };
        assert_eq!(restore(&mut n, &empty, &[]), Reply::ok());
        assert_eq!(restore(&mut n, &empty, &["flush"]), Reply::ok());
        assert_eq!(
            restore(&mut n, &empty, &["foo"]),
            err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
        );
        assert_eq!(
            restore(&mut n, &empty, &["flush", "x"]),
            err("ERR unknown subcommand or wrong number of arguments for 'RESTORE'. Try FUNCTION HELP.")
        );
        let bad = "ERR DUMP payload version or checksum are wrong";
        assert_eq!(restore(&mut n, b"\x0a\x00\0\0\0\0\0\0\0\0", &[]), err(bad));
        assert_eq!(restore(&mut n, b"x", &[]), err(bad));
        let mut newer = b"\x0b\x00".to_vec();
        let crc64 = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
        newer.extend_from_slice(&crc64.checksum(b"\x0b\x00").to_le_bytes());
        assert_eq!(restore(&mut n, &newer, &[]), err(bad));
        assert_eq!(run(&mut n, c, "function list"), Reply::Array(vec![]));
        assert_eq!(
            run(&mut n, c, "function list withcode libraryname x"),
            Reply::Array(vec![])
        );
        assert_eq!(
            run(&mut n, c, "function list libraryname"),
            err("ERR library name argument was not given")
        );
        assert_eq!(
            run(&mut n, c, "function list x"),
            err("ERR Unknown argument x")
        );
        assert_eq!(run(&mut n, c, "function flush"), Reply::ok());
        assert_eq!(run(&mut n, c, "function flush async"), Reply::ok());
        assert_eq!(
            run(&mut n, c, "function flush x"),
            err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        );
        assert_eq!(
            run(&mut n, c, "function delete x"),
            err("ERR Library not found")
        );
        assert_eq!(
            run(&mut n, c, "function load x"),
            err("ERR unknown subcommand 'load'. Try FUNCTION HELP.")
        );
        assert_eq!(
            run(&mut n, c, "function dump x"),
            err("ERR wrong number of arguments for 'function|dump' command")
        );
    }

    #[test]
    fn help_replies_are_simple_strings() {
        assert_eq!(
            help_reply("X", &[("A <b>", "Does a.")]),
            Reply::Array(vec![
                Reply::simple("X <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
                Reply::simple("A <b>"),
                Reply::simple("    Does a."),
                Reply::simple("HELP"),
                Reply::simple("    Prints this help."),
            ])
        );
    }
}
