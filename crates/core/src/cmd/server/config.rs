//! `CONFIG GET`, `CONFIG SET`, `CONFIG RESETSTAT`: the wire side of [`crate::config`], which
//! owns the directives themselves.

use bytes::Bytes;

use super::{help_reply, run_subcommand, CONFIG_SUBCOMMANDS};
use crate::node::{ClientId, Effect, Node};
use crate::reply::Reply;

pub(super) fn config(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "CONFIG", CONFIG_SUBCOMMANDS)
}

pub(super) fn config_get(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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
pub(super) fn config_set(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
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
    let local = node.client_is_local(client);
    let mut seen = Vec::new();
    for (name, _) in &pairs {
        match node.config.settable(name, local) {
            None => {
                return Reply::err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                ))
            }
            Some(Err(reason)) => return failed(name, &reason),
            Some(Ok(canonical)) if seen.contains(&canonical) => {
                return failed(name, "duplicate parameter")
            }
            Some(Ok(canonical)) => seen.push(canonical),
        }
    }
    let mut updated = node.config.clone();
    for (name, value) in &pairs {
        if let Err(reason) = updated.set_by(name, value, local) {
            return failed(name, &reason);
        }
    }
    node.cluster.apply_config(&updated);
    node.repl.resize_backlog(updated.repl_backlog_size);
    let appendonly_changed = updated.appendonly != node.config.appendonly;
    node.config = updated;
    let threshold_ms = node.config.busy_reply_threshold_ms;
    node.scripting.watch.set_threshold_ms(threshold_ms);
    let access = crate::db::access::AccessPolicy::from_config(&node.config);
    node.db.set_access_now(access, node.now.unix_ms);
    node.memory_config_changed();
    node.client_limits_changed();
    if appendonly_changed {
        node.appendonly_changed(node.config.appendonly);
    }
    Reply::ok()
}

pub(super) fn config_resetstat(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    node.stats = Default::default();
    Reply::ok()
}

/// `CONFIG REWRITE`. The driver writes the file after this reply is decided, so a failed
/// write is logged rather than answered (Redis answers `Rewriting config file: <error>`).
pub(super) fn config_rewrite(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    if node.config.config_file.is_empty() {
        return Reply::err("The server is running without a config file");
    }
    node.out.push(Effect::RewriteConfig);
    Reply::ok()
}

pub(super) fn config_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
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
            (
                "REWRITE",
                "Write the running configuration into the config file.",
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

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
        assert_eq!(n.cluster.node_timeout_ms(), 500);
        assert!(!n.cluster.require_full_coverage());
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
}
