//! Server commands: INFO, COMMAND, CONFIG, TIME, ROLE, LASTSAVE, DEBUG, SHUTDOWN, FUNCTION.
//!
//! Also the machinery shared by container commands (`CLIENT`, `CONFIG`, `COMMAND`,
//! `FUNCTION`): `run_subcommand` dispatches `container|sub` specs with Redis's error texts,
//! `subcommands_of` lists them for `COMMAND`, and `help_reply` formats `… HELP`. Tips and
//! key specs that `COMMAND` reports but [`CommandSpec`] does not carry come from `meta`.
//!
//! This file keeps the tables (so one place says which commands exist and with which flags)
//! and the container machinery; each command's handlers live in the submodule named after it.

mod command;
mod config;
mod dataset_debug;
mod debug;
mod debug_object;
mod function;
mod getkeys;
mod info;
mod key_positions;
pub(crate) mod memory;
pub(crate) use info::BASE_MEMORY_BYTES;
mod meta;
mod monitor;
pub(crate) mod persistence;
mod slowlog;
mod status;

use bytes::Bytes;

use super::{connection, keyless, CommandSpec};
use crate::cmd::CmdFlags as F;
use crate::node::{ClientId, Node};
use crate::reply::Reply;
use command::{command, command_count, command_docs, command_help, command_info, command_list};
use config::{config, config_get, config_help, config_resetstat, config_rewrite, config_set};
use debug::{debug, shutdown};
use function::{
    function, function_delete, function_dump, function_flush, function_help, function_kill,
    function_list, function_load, function_restore, function_stats,
};
use getkeys::{command_getkeys, command_getkeysandflags};
use info::info;
use slowlog::{
    latency, latency_doctor, latency_graph, latency_help, latency_histogram, latency_history,
    latency_latest, latency_reset, slowlog, slowlog_get, slowlog_help, slowlog_len, slowlog_reset,
};
use status::{lastsave, role, time};

pub(crate) use monitor::{feed_monitors, feed_monitors_first};

/// The Redis version this node impersonates, everywhere a client can see it.
pub(crate) const REDIS_VERSION: &str = "7.0.15";

const ADMIN_FLAGS: F = F::ADMIN
    .union(F::NOSCRIPT)
    .union(F::LOADING)
    .union(F::STALE);
const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];
const LOADING_STALE: F = F::LOADING.union(F::STALE);
const SLOW_CONN: &[&str] = &["@slow", "@connection"];

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyless("info", -1, LOADING_STALE, &["@slow", "@dangerous"], "server", "Report server state and statistics by section", "1.0.0", info),
    keyless("command", -1, LOADING_STALE, SLOW_CONN, "server", "Describe the commands this server knows", "2.8.13", command),
    keyless("config", -2, F::empty(), &["@slow"], "server", "Container for configuration subcommands", "2.0.0", config),
    keyless("time", 1, F::LOADING.union(F::STALE).union(F::FAST), &["@fast"], "server", "Return the server's clock", "2.6.0", time),
    keyless("role", 1, F::NOSCRIPT.union(F::LOADING).union(F::STALE).union(F::FAST), &["@admin", "@fast", "@dangerous"], "server", "Report the replication role", "2.8.12", role),
    keyless("lastsave", 1, F::LOADING.union(F::STALE).union(F::FAST), &["@admin", "@fast", "@dangerous"], "server", "Return when the dataset was last saved", "1.0.0", lastsave),
    keyless("debug", -2, ADMIN_FLAGS, ADMIN_ACL, "server", "Debugging and fault-injection subcommands", "1.0.0", debug),
    keyless("shutdown", -1, F::ADMIN.union(F::NOSCRIPT).union(F::LOADING).union(F::STALE).union(F::NO_MULTI).union(F::ALLOW_BUSY), ADMIN_ACL, "server", "Persist and stop the server", "1.0.0", shutdown),
    keyless("function", -2, F::empty(), &["@slow"], "scripting", "Container for function-library subcommands", "7.0.0", function),
    keyless("slowlog", -2, F::empty(), &["@slow"], "server", "Container for slow-log subcommands", "2.2.12", slowlog),
    keyless("latency", -2, F::empty(), &["@slow"], "server", "Container for latency-monitor subcommands", "2.8.13", latency),
    keyless("memory", -2, F::empty(), &["@slow"], "server", "Container for memory diagnostics subcommands", "4.0.0", memory::memory),
    keyless("monitor", 1, ADMIN_FLAGS, ADMIN_ACL, "server", "Stream every command the server runs", "1.0.0", monitor::monitor),
];

const ADMIN_LOADING: F = F::ADMIN.union(F::LOADING).union(F::STALE);

#[rustfmt::skip]
static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("slowlog|get", -2, ADMIN_LOADING, ADMIN_ACL, "server", "Read the newest slow-log entries", "2.2.12", slowlog_get),
    keyless("slowlog|help", 2, LOADING_STALE, &["@slow"], "server", "List the SLOWLOG subcommands", "6.2.0", slowlog_help),
    keyless("slowlog|len", 2, ADMIN_LOADING, ADMIN_ACL, "server", "Count the slow-log entries", "2.2.12", slowlog_len),
    keyless("slowlog|reset", 2, ADMIN_LOADING, ADMIN_ACL, "server", "Empty the slow log", "2.2.12", slowlog_reset),
];

#[rustfmt::skip]
static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("memory|doctor", 2, F::empty(), &["@slow"], "server", "Report on memory use", "4.0.0", memory::memory_doctor),
    keyless("memory|help", 2, LOADING_STALE, &["@slow"], "server", "List the MEMORY subcommands", "4.0.0", memory::memory_help),
    keyless("memory|malloc-stats", 2, F::empty(), &["@slow"], "server", "Report the allocator's statistics", "4.0.0", memory::memory_malloc_stats),
    keyless("memory|purge", 2, F::empty(), &["@slow"], "server", "Ask the allocator to release free pages", "4.0.0", memory::memory_purge),
    keyless("memory|stats", 2, F::empty(), &["@slow"], "server", "Report memory use by area", "4.0.0", memory::memory_stats),
    CommandSpec {
        name: "memory|usage",
        arity: -3,
        flags: F::READONLY,
        first_key: 2,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@read", "@slow"],
        group: "server",
        summary: "Estimate the memory a key and its value use",
        since: "4.0.0",
        handler: memory::memory_usage,
    },
];

#[rustfmt::skip]
static LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("latency|doctor", 2, ADMIN_FLAGS, ADMIN_ACL, "server", "Report on the recorded latency events", "2.8.13", latency_doctor),
    keyless("latency|graph", 3, ADMIN_FLAGS, ADMIN_ACL, "server", "Draw a latency event's samples", "2.8.13", latency_graph),
    keyless("latency|help", 2, LOADING_STALE, &["@slow"], "server", "List the LATENCY subcommands", "2.8.13", latency_help),
    keyless("latency|histogram", -2, ADMIN_FLAGS, ADMIN_ACL, "server", "Each command's call count and latency distribution", "7.0.0", latency_histogram),
    keyless("latency|history", 3, ADMIN_FLAGS, ADMIN_ACL, "server", "Return a latency event's samples", "2.8.13", latency_history),
    keyless("latency|latest", 2, ADMIN_FLAGS, ADMIN_ACL, "server", "Return every event's latest sample", "2.8.13", latency_latest),
    keyless("latency|reset", -2, ADMIN_FLAGS, ADMIN_ACL, "server", "Drop latency samples", "2.8.13", latency_reset),
];

#[rustfmt::skip]
static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("command|count", 2, LOADING_STALE, SLOW_CONN, "server", "Count the commands", "2.8.13", command_count),
    keyless("command|docs", -2, LOADING_STALE, SLOW_CONN, "server", "Document some or all commands", "7.0.0", command_docs),
    keyless("command|getkeys", -4, LOADING_STALE, SLOW_CONN, "server", "Extract the keys of a full command line", "2.8.13", command_getkeys),
    keyless("command|getkeysandflags", -4, LOADING_STALE, SLOW_CONN, "server", "Extract the keys of a full command line, with their flags", "7.0.0", command_getkeysandflags),
    keyless("command|help", 2, LOADING_STALE, SLOW_CONN, "server", "List the COMMAND subcommands", "5.0.0", command_help),
    keyless("command|info", -2, LOADING_STALE, SLOW_CONN, "server", "Describe some or all commands", "2.8.13", command_info),
    keyless("command|list", -2, LOADING_STALE, SLOW_CONN, "server", "List command names, optionally filtered", "7.0.0", command_list),
];

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("config|get", -3, ADMIN_FLAGS, ADMIN_ACL, "server", "Read configuration parameters", "2.0.0", config_get),
    keyless("config|help", 2, LOADING_STALE, &["@slow"], "server", "List the CONFIG subcommands", "5.0.0", config_help),
    keyless("config|resetstat", 2, ADMIN_FLAGS, ADMIN_ACL, "server", "Zero the INFO statistics", "2.0.0", config_resetstat),
    keyless("config|rewrite", 2, ADMIN_FLAGS, ADMIN_ACL, "server", "Rewrite the config file with the running config", "2.8.0", config_rewrite),
    keyless("config|set", -4, ADMIN_FLAGS, ADMIN_ACL, "server", "Change configuration parameters at run time", "2.0.0", config_set),
];

const SCRIPTING: &[&str] = &["@slow", "@scripting"];
const SCRIPTING_WRITE: &[&str] = &["@write", "@slow", "@scripting"];

#[rustfmt::skip]
static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("function|delete", 3, F::WRITE.union(F::NOSCRIPT), SCRIPTING_WRITE, "scripting", "Remove a function library", "7.0.0", function_delete),
    keyless("function|dump", 2, F::NOSCRIPT, SCRIPTING, "scripting", "Serialize all function libraries", "7.0.0", function_dump),
    keyless("function|flush", -2, F::WRITE.union(F::NOSCRIPT), SCRIPTING_WRITE, "scripting", "Remove all function libraries", "7.0.0", function_flush),
    keyless("function|help", 2, LOADING_STALE, SCRIPTING, "scripting", "List the FUNCTION subcommands", "7.0.0", function_help),
    keyless("function|kill", 2, F::NOSCRIPT.union(F::ALLOW_BUSY), SCRIPTING, "scripting", "Stop the function that is running", "7.0.0", function_kill),
    keyless("function|list", -2, F::NOSCRIPT, SCRIPTING, "scripting", "List the function libraries", "7.0.0", function_list),
    keyless("function|stats", 2, F::NOSCRIPT.union(F::ALLOW_BUSY), SCRIPTING, "scripting", "Report the running function and the engines", "7.0.0", function_stats),
    keyless("function|restore", -3, F::WRITE.union(F::DENYOOM).union(F::NOSCRIPT), SCRIPTING_WRITE, "scripting", "Load function libraries from a FUNCTION DUMP payload", "7.0.0", function_restore),
    keyless("function|load", -3, F::WRITE.union(F::DENYOOM).union(F::NOSCRIPT), SCRIPTING_WRITE, "scripting", "Create a function library", "7.0.0", function_load),
];

// ---- containers ------------------------------------------------------------------------------

/// The subcommand table of a container command (`client`, `config`, …); empty otherwise.
/// A family that adds a container registers its table here so `COMMAND` can describe it.
pub(crate) fn subcommands_of(container: &str) -> &'static [CommandSpec] {
    match container {
        "client" => connection::CLIENT_SUBCOMMANDS,
        "cluster" => crate::cmd::cluster::CLUSTER_SUBCOMMANDS,
        "command" => COMMAND_SUBCOMMANDS,
        "config" => CONFIG_SUBCOMMANDS,
        "function" => FUNCTION_SUBCOMMANDS,
        "latency" => LATENCY_SUBCOMMANDS,
        "memory" => MEMORY_SUBCOMMANDS,
        "slowlog" => SLOWLOG_SUBCOMMANDS,
        "object" => crate::cmd::keys::OBJECT_SUBCOMMANDS,
        "pubsub" => crate::cmd::pubsub::PUBSUB_SUBCOMMANDS,
        "script" => crate::cmd::scripting::SCRIPT_SUBCOMMANDS,
        "xgroup" => crate::cmd::streams::XGROUP_SUBCOMMANDS,
        "xinfo" => crate::cmd::streams::XINFO_SUBCOMMANDS,
        _ => &[],
    }
}

/// The spec whose flags `args` runs with: its subcommand's for a container (Redis looks the
/// subcommand up before any check, so `FUNCTION DELETE` is a write and `FUNCTION LIST` is
/// not), else `spec` itself, also for an unknown subcommand (its handler gives the error).
pub(crate) fn flags_spec<'s>(spec: &'s CommandSpec, args: &[Bytes]) -> &'s CommandSpec {
    let subs = subcommands_of(spec.name);
    let Some(sub) = args.get(1).filter(|_| !subs.is_empty()) else {
        return spec;
    };
    let full = format!(
        "{}|{}",
        spec.name,
        String::from_utf8_lossy(sub).to_ascii_lowercase()
    );
    subs.iter().find(|s| s.name == full).unwrap_or(spec)
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
pub(super) fn error_arg(arg: &[u8]) -> String {
    let cut = &arg[..arg.len().min(128)];
    String::from_utf8_lossy(cut).replace(['\r', '\n'], " ")
}

/// `ERR unknown subcommand or wrong number of arguments for 'x'. Try DEBUG HELP.`
pub(crate) fn subcommand_syntax_error(args: &[Bytes], container: &str) -> Reply {
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

/// Helpers shared by the tests of the submodules.
#[cfg(test)]
mod testing {
    pub(super) use super::*;
    pub(super) use crate::config::Config;
    pub(super) use crate::db::{ValueRef, PER_EXPIRY_OVERHEAD_BYTES, PER_KEY_OVERHEAD_BYTES};
    pub(super) use crate::node::Time;

    pub(super) const NOW: Time = Time {
        mono_ms: 0,
        unix_ms: 1_000_000,
    };

    pub(super) fn node_with(config: Config) -> (Node, ClientId) {
        let mut node = Node::new(config, NOW, 1);
        let c = node.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
        (node, c)
    }

    pub(super) fn cluster_node() -> (Node, ClientId) {
        node_with(Config {
            cluster_enabled: true,
            process_id: 4242,
            config_file: "/etc/redis/7001.conf".into(),
            ..Config::default()
        })
    }

    pub(super) fn run(node: &mut Node, c: ClientId, line: &str) -> Reply {
        node.command(NOW, c, &words(line))
    }

    pub(super) fn words(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    pub(super) fn err(text: &str) -> Reply {
        Reply::Error(text.into())
    }

    pub(super) fn bulk(text: &str) -> Reply {
        Reply::bulk_str(text)
    }

    pub(super) fn simple_set(words: &[&str]) -> Reply {
        Reply::Set(words.iter().map(|w| Reply::simple(*w)).collect())
    }

    pub(super) fn info_text(node: &mut Node, c: ClientId, line: &str) -> String {
        match run(node, c, line) {
            Reply::Verbatim("txt", text) => text,
            other => panic!("INFO gave {other:?}"),
        }
    }

    pub(super) fn put(node: &mut Node, key: &'static str, expires_at_ms: Option<u64>) {
        node.db
            .set(key.as_bytes(), ValueRef::String(b"value"), expires_at_ms);
    }
    pub(super) fn run_at(n: &mut Node, c: ClientId, at: Time, line: &str) -> Reply {
        n.command(at, c, &words(line))
    }

    pub(super) const DEBUG_REFUSED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
}

#[cfg(test)]
mod tests {
    use super::*;

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
