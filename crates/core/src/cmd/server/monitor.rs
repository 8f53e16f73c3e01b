//! `MONITOR`: the client becomes a monitor and, from then on, receives one line per command
//! any client runs, in Redis's format: `+<unix s>.<µs> [0 <addr>] "arg" "arg" …`.
//!
//! As in Redis, a command is shown after it ran (so the commands inside a transaction come
//! before its `EXEC`), admin commands (`CONFIG`, `CLIENT LIST`, …) and rejected ones (unknown,
//! wrong arity, redirected) are not shown, and passwords in `AUTH`/`HELLO` read
//! `(redacted)`. The time is the node's wall clock, which has millisecond resolution, so the
//! microseconds end in 000.

use bytes::Bytes;

use crate::cmd::{is, CmdFlags, CommandSpec};
use crate::node::{ClientId, Effect, Node};
use crate::reply::Reply;

pub(super) fn monitor(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    // Inside EXEC the client expects one reply per command (Redis's DENY BLOCKING).
    if node.top_command == "exec" {
        return Reply::err("MONITOR isn't allowed for DENY BLOCKING client");
    }
    let session = &mut node.client_mut(client).session;
    if session.monitor {
        // Redis answers nothing at all to a second MONITOR.
        session.reply_silenced = true;
        return Reply::ok();
    }
    session.monitor = true;
    node.observed.monitors.insert(client);
    Reply::ok()
}

/// After a command ran: its line to every monitor. EVAL and FCALL (`skip_monitor`) show
/// theirs before they run instead ([`feed_monitors_first`]).
pub(crate) fn feed_monitors(node: &mut Node, client: ClientId, spec: &CommandSpec, args: &[Bytes]) {
    if !spec.flags.contains(CmdFlags::SKIP_MONITOR) {
        feed_monitors_first(node, client, spec, args);
    }
}

/// The command's line to every monitor now; a script's commands show `lua` as their client.
pub(crate) fn feed_monitors_first(
    node: &mut Node,
    client: ClientId,
    spec: &CommandSpec,
    args: &[Bytes],
) {
    if node.observed.monitors.is_empty() || node.replaying {
        return;
    }
    if effective_flags(spec, args).contains(CmdFlags::ADMIN) {
        return;
    }
    let addr = if node.script_writes.is_some() {
        Some("lua".to_string())
    } else {
        node.clients.get(&client).map(|c| c.addr.clone())
    };
    let Some(addr) = addr else {
        return;
    };
    let unix_ms = node.now.unix_ms;
    let mut line = format!(
        "{}.{:06} [0 {addr}]",
        unix_ms / 1000,
        (unix_ms % 1000) * 1000
    );
    for (i, arg) in args.iter().enumerate() {
        line.push(' ');
        if redacted(spec.name, args, i) {
            line.push_str("\"(redacted)\"");
        } else {
            line.push_str(&quoted(arg));
        }
    }
    let monitors: Vec<ClientId> = node.observed.monitors.iter().copied().collect();
    for to in monitors {
        node.out.push(Effect::ClientNotice {
            client: to,
            reply: Reply::Simple(line.clone()),
        });
    }
}

/// The flags of the subcommand a container runs (`CLIENT LIST` is admin, `CLIENT ID` not).
fn effective_flags(spec: &CommandSpec, args: &[Bytes]) -> CmdFlags {
    let subs = super::subcommands_of(spec.name);
    let sub = args.get(1).and_then(|sub| {
        let full = format!(
            "{}|{}",
            spec.name,
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        );
        subs.iter().find(|s| s.name == full)
    });
    sub.map_or(spec.flags, |s| s.flags)
}

/// Passwords never reach a monitor: AUTH's arguments, HELLO's after `AUTH`.
fn redacted(command: &str, args: &[Bytes], i: usize) -> bool {
    match command {
        "auth" => i >= 1,
        "hello" => (2..i).any(|k| is(&args[k], "auth") && i <= k + 2),
        _ => false,
    }
}

/// Redis's `sdscatrepr`: double quotes, C escapes, `\xHH` for other unprintable bytes.
fn quoted(arg: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in arg {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    fn lines(node: &mut Node) -> Vec<(ClientId, String)> {
        node.take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::ClientNotice {
                    client,
                    reply: Reply::Simple(line),
                } => Some((client, line)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn monitors_see_commands_after_they_ran() {
        let (mut n, m) = node_with(Config::default());
        let a = n.client_connected(NOW, "127.0.0.1:6000".into(), "127.0.0.1:6379".into());
        assert_eq!(run(&mut n, m, "monitor"), Reply::ok());
        n.take_effects();
        let set = vec![
            Bytes::from_static(b"set"),
            Bytes::from_static(b"k"),
            Bytes::from(&b"a b\"\n\x01\xc3\xa9"[..]),
        ];
        n.command(NOW, a, &set);
        let at = "1000.000000 [0 127.0.0.1:6000]";
        assert_eq!(
            lines(&mut n),
            vec![(m, format!(r#"{at} "set" "k" "a b\"\n\x01\xc3\xa9""#))]
        );
        for line in [
            "auth x",
            "hello 3 auth default pw",
            "client list",
            "nosuch",
            "get",
        ] {
            run(&mut n, a, line);
        }
        assert_eq!(
            lines(&mut n),
            vec![
                (m, format!(r#"{at} "auth" "(redacted)""#)),
                (
                    m,
                    format!(r#"{at} "hello" "3" "auth" "(redacted)" "(redacted)""#)
                ),
            ]
        );
        run(&mut n, a, "multi");
        run(&mut n, a, "get k");
        run(&mut n, a, "exec");
        let shown: Vec<String> = lines(&mut n).into_iter().map(|(_, l)| l).collect();
        assert_eq!(
            shown,
            [r#""multi""#, r#""get" "k""#, r#""exec""#].map(|c| format!("{at} {c}"))
        );
    }

    #[test]
    fn a_monitor_is_a_replica_of_sorts() {
        let (mut n, m) = node_with(Config::default());
        run(&mut n, m, "monitor");
        // A second MONITOR gets no reply at all.
        run(&mut n, m, "monitor");
        assert!(n.reply_silenced(m));
        assert_eq!(
            run(&mut n, m, "get k"),
            err("ERR Replica can't interact with the keyspace")
        );
        // Its own commands reach it too.
        n.take_effects();
        assert_eq!(run(&mut n, m, "ping"), Reply::simple("PONG"));
        assert_eq!(lines(&mut n).len(), 1);
        let Reply::Verbatim(_, line) = run(&mut n, m, "client info") else {
            panic!("line")
        };
        assert!(line.contains(" flags=O "), "{line}");
        n.client_disconnected(m);
        assert!(n.observed.monitors.is_empty());
        let (mut n, c) = node_with(Config::default());
        run(&mut n, c, "multi");
        run(&mut n, c, "monitor");
        assert_eq!(
            run(&mut n, c, "exec"),
            Reply::Array(vec![err(
                "ERR MONITOR isn't allowed for DENY BLOCKING client"
            )])
        );
    }
}
