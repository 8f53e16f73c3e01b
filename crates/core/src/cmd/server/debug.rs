//! `DEBUG` (gated by `enable-debug-command`, as in Redis) and `SHUTDOWN`.

use bytes::Bytes;

use super::{help_reply, subcommand_syntax_error};
use crate::cmd::is;
use crate::node::{ClientId, Node};
use crate::node::{Effect, LogLevel};
use crate::reply::Reply;

/// `enable-debug-command`: `yes`, or `local` for a client on the loopback address.
fn debug_allowed(node: &Node, client: ClientId) -> bool {
    let local = node.client_is_local(client);
    node.config.enable_debug_command.allows(local)
}

pub(super) fn debug(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if !debug_allowed(node, client) {
        return Reply::err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
             you can run it from a local connection, otherwise you need to set this option in \
             the configuration file, and then restart the server.",
        );
    }
    let sub = &args[1];
    if is(sub, "segfault") {
        node.out.push(Effect::Crash);
        Reply::ok()
    } else if is(sub, "sleep") && args.len() == 3 {
        node.out.push(Effect::Sleep {
            ms: sleep_ms(&args[2]),
        });
        Reply::ok()
    } else if is(sub, "log") && args.len() == 3 {
        let text = format!("DEBUG LOG: {}", String::from_utf8_lossy(&args[2]));
        node.log(LogLevel::Warning, text);
        Reply::ok()
    } else if is(sub, "error") && args.len() == 3 {
        Reply::Error(String::from_utf8_lossy(&args[2]).replace(['\r', '\n'], " "))
    } else if is(sub, "populate") && (3..=5).contains(&args.len()) {
        super::dataset_debug::populate(node, args)
    } else if is(sub, "object") && args.len() == 3 {
        super::debug_object::debug_object(node, &args[2])
    } else if is(sub, "digest") && args.len() == 2 {
        super::dataset_debug::digest(node)
    } else if is(sub, "digest-value") {
        super::dataset_debug::digest_value(node, &args[2..])
    } else if is(sub, "set-active-expire") && args.len() == 3 {
        match super::super::parse_i64(&args[2]) {
            Some(flag) => {
                node.active_expire_disabled = flag == 0;
                Reply::ok()
            }
            None => Reply::not_integer(),
        }
    } else if is(sub, "reload") {
        super::persistence::debug_reload(node, args)
    } else if is(sub, "drop-cluster-packet-filter") && args.len() == 3 {
        drop_cluster_packet_filter(node, &args[2])
    } else if is(sub, "help") && args.len() == 2 {
        help_reply(
            "DEBUG",
            &[
                (
                    "DIGEST",
                    "The dataset's SHA-1 fingerprint (all zeros when empty), as Redis computes it.",
                ),
                (
                    "DIGEST-VALUE <key> [<key> ...]",
                    "The fingerprint of each key's value.",
                ),
                (
                    "DROP-CLUSTER-PACKET-FILTER <type>",
                    "Drop every cluster bus message of <type> on arrival; -1 drops none.",
                ),
                ("ERROR <string>", "Reply with <string> as an error."),
                (
                    "OBJECT <key>",
                    "The value's address, encoding, serialized length and access clock.",
                ),
                ("LOG <message>", "Write <message> to the server log."),
                (
                    "POPULATE <count> [<prefix>] [<size>]",
                    "Create keys <prefix>:0 … holding value:N (of <size> bytes), skipping existing ones.",
                ),
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

/// `DEBUG DROP-CLUSTER-PACKET-FILTER <type>`: a number out of the bus's type range (Redis
/// takes any long; -1 is its "none") matches no message.
fn drop_cluster_packet_filter(node: &mut Node, arg: &[u8]) -> Reply {
    let Some(number) = crate::cmd::parse_i64(arg) else {
        return Reply::not_integer();
    };
    node.drop_bus_messages = crate::bus::MessageType::ALL
        .into_iter()
        .find(|kind| *kind as i64 == number);
    Reply::ok()
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
pub(super) fn shutdown(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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
    let wanted = (save || nosave).then_some(save);
    node.save_before_shutdown(wanted);
    node.out.push(Effect::Shutdown);
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;
    use crate::config::DebugCommand;

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
        let saved = |effects: &[Effect]| {
            effects
                .iter()
                .filter(|e| matches!(e, Effect::SaveRdb { client: None, .. }))
                .count()
        };
        // The default `save` points ask for a last snapshot; NOSAVE skips it.
        for (good, saves) in [
            ("shutdown", 1),
            ("SHUTDOWN NOSAVE", 0),
            ("shutdown save now force", 1),
        ] {
            assert_eq!(run(&mut n, c, good), Reply::ok());
            let effects = n.take_effects();
            assert_eq!(effects.last(), Some(&Effect::Shutdown), "{good}");
            assert_eq!(saved(&effects), saves, "{good}");
            n.rdb_saved(None, Ok(()));
            n.take_effects();
        }
        // Without save points only SHUTDOWN SAVE snapshots.
        n.config.save.clear();
        run(&mut n, c, "shutdown");
        assert_eq!(saved(&n.take_effects()), 0);
        run(&mut n, c, "shutdown save");
        assert_eq!(saved(&n.take_effects()), 1);
    }

    #[test]
    fn debug_set_active_expire_stops_and_resumes_the_expiry_cron() {
        let config = Config {
            enable_debug_command: DebugCommand::Yes,
            ..Config::default()
        };
        let (mut n, c) = node_with(config);
        run(&mut n, c, "set k v px 10");
        assert_eq!(run(&mut n, c, "debug set-active-expire 0"), Reply::ok());
        let later = Time {
            mono_ms: 1000,
            unix_ms: NOW.unix_ms + 1000,
        };
        n.tick(later);
        assert_eq!(n.db.len(), 1, "the cron left the expired key");
        assert_eq!(
            run_at(&mut n, c, later, "debug set-active-expire 1"),
            Reply::ok()
        );
        n.tick(later);
        assert_eq!(n.db.len(), 0);
        assert_eq!(
            run_at(&mut n, c, later, "debug set-active-expire x"),
            err("ERR value is not an integer or out of range")
        );
    }
}
