//! `SLOWLOG` and `LATENCY`: reading what `node::observe` recorded of command durations.
//!
//! Durations come from the driver's monotonic clock (virtual time under madsim, where a
//! command takes none); see `node::observe`. `LATENCY DOCTOR` writes its own short report
//! (Redis's is prose of its own), and `LATENCY GRAPH` draws the samples with Redis's axes but
//! simpler bars.

use bytes::Bytes;

use super::{help_reply, run_subcommand, LATENCY_SUBCOMMANDS, SLOWLOG_SUBCOMMANDS};
use crate::cmd::parse_i64;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Entries `SLOWLOG GET` returns without a count.
const SLOWLOG_GET_DEFAULT: usize = 10;

pub(super) fn slowlog(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "SLOWLOG", SLOWLOG_SUBCOMMANDS)
}

/// `SLOWLOG GET [count]`: newest first; -1 means all.
pub(super) fn slowlog_get(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let count = match args.get(2) {
        None => SLOWLOG_GET_DEFAULT,
        Some(arg) => match parse_i64(arg) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => return Reply::err("count should be greater than or equal to -1"),
        },
    };
    let entries = node.observed.slowlog.iter().take(count).map(|e| {
        Reply::Array(vec![
            Reply::Integer(e.id as i64),
            Reply::Integer(e.unix_s as i64),
            Reply::Integer(e.duration_us as i64),
            Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
            Reply::bulk_str(&e.addr),
            Reply::Bulk(e.name.clone()),
        ])
    });
    Reply::Array(entries.collect())
}

pub(super) fn slowlog_len(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(node.observed.slowlog.len() as i64)
}

pub(super) fn slowlog_reset(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    node.observed.slowlog.clear();
    Reply::ok()
}

pub(super) fn slowlog_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "SLOWLOG",
        &[
            (
                "GET [<count>]",
                "The newest <count> entries (10 by default, -1 for all): id, unix time, \
                 duration in microseconds, arguments, client address, client name.",
            ),
            ("LEN", "How many entries the log holds."),
            ("RESET", "Empty the log."),
        ],
    )
}

pub(super) fn latency(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "LATENCY", LATENCY_SUBCOMMANDS)
}

/// `[[event, time of the latest sample, its latency, the highest], …]`.
pub(super) fn latency_latest(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let events = node.observed.latency.iter().filter_map(|(name, e)| {
        let &(at, ms) = e.samples.back()?;
        Some(Reply::Array(vec![
            Reply::bulk_str(name),
            Reply::Integer(at as i64),
            Reply::Integer(ms as i64),
            Reply::Integer(e.max_ms as i64),
        ]))
    });
    Reply::Array(events.collect())
}

/// `[[time, latency], …]`, oldest first; empty for an event never seen.
pub(super) fn latency_history(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&args[2]);
    let samples = node
        .observed
        .latency
        .get(name.as_ref())
        .map(|e| e.samples.iter().copied().collect::<Vec<_>>())
        .unwrap_or_default();
    let pairs = samples
        .into_iter()
        .map(|(at, ms)| Reply::Array(vec![Reply::Integer(at as i64), Reply::Integer(ms as i64)]));
    Reply::Array(pairs.collect())
}

/// `LATENCY RESET [event …]`: how many events were dropped.
pub(super) fn latency_reset(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let events = &mut node.observed.latency;
    let dropped = if args.len() == 2 {
        let n = events.len();
        events.clear();
        n
    } else {
        let names: Vec<String> = args[2..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let before = events.len();
        events.retain(|name, _| !names.iter().any(|n| n == name));
        before - events.len()
    };
    Reply::Integer(dropped as i64)
}

/// A short report: whether monitoring is on, then each event's latest and highest sample.
pub(super) fn latency_doctor(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let threshold_ms = node.config_i64("latency-monitor-threshold", 0);
    let mut text = if threshold_ms <= 0 {
        "Latency monitoring is off: set latency-monitor-threshold (ms) to a positive value \
         with CONFIG SET to record events.\n"
            .to_string()
    } else {
        format!("Latency monitoring records events of {threshold_ms} ms or more.\n")
    };
    if node.observed.latency.is_empty() {
        text.push_str("No latency event was recorded.\n");
    }
    for (name, e) in &node.observed.latency {
        let latest = e.samples.back().map_or(0, |s| s.1);
        text.push_str(&format!(
            "{name}: {} samples, latest {latest} ms, highest {} ms.\n",
            e.samples.len(),
            e.max_ms
        ));
    }
    Reply::Verbatim("txt", text)
}

/// `LATENCY GRAPH event`: a column per sample, scaled to the highest, with its age.
pub(super) fn latency_graph(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&args[2]).into_owned();
    let Some(e) = node.observed.latency.get(name.as_str()) else {
        return Reply::err(format!("No samples available for event '{name}'"));
    };
    let now_s = node.now.unix_ms / 1000;
    let low = e.samples.iter().map(|s| s.1).min().unwrap_or(0);
    let mut text = format!(
        "{name} - high {} ms, low {low} ms (all time high {} ms)\n",
        e.samples.iter().map(|s| s.1).max().unwrap_or(0),
        e.max_ms
    );
    text.push_str(&"-".repeat(80));
    text.push('\n');
    for &(at, ms) in &e.samples {
        let bar = (ms * 20).checked_div(e.max_ms).unwrap_or(0);
        text.push_str(&format!(
            "{:>6}s ago |{} {ms} ms\n",
            now_s.saturating_sub(at),
            "#".repeat(bar as usize)
        ));
    }
    Reply::Verbatim("txt", text)
}

/// `LATENCY HISTOGRAM [command …]`: `{name: {calls, histogram_usec: {µs: cumulative}}}` for
/// every timed command (by name) or for the ones named, in argument order, unknown or
/// untimed ones left out and repeated ones repeated, as Redis does.
pub(super) fn latency_histogram(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let histograms = &node.stats.calls.histograms;
    let names: Vec<&'static str> = if args.len() == 2 {
        histograms.keys().copied().collect()
    } else {
        args[2..]
            .iter()
            .filter_map(|name| node.lookup(name))
            .map(|spec| spec.name)
            .filter(|name| histograms.contains_key(name))
            .collect()
    };
    let entries = names.into_iter().map(|name| {
        let h = &histograms[name];
        let rows = h
            .cumulative_us()
            .into_iter()
            .map(|(us, cumulative)| (Reply::Integer(us as i64), Reply::Integer(cumulative as i64)));
        let body = Reply::Map(vec![
            (Reply::bulk_str("calls"), Reply::Integer(h.calls() as i64)),
            (
                Reply::bulk_str("histogram_usec"),
                Reply::Map(rows.collect()),
            ),
        ]);
        (Reply::bulk_str(name), body)
    });
    Reply::Map(entries.collect())
}

pub(super) fn latency_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "LATENCY",
        &[
            ("DOCTOR", "A short report on the recorded events."),
            ("GRAPH <event>", "Draw the samples of <event>."),
            (
                "HISTOGRAM [<command> ...]",
                "Each command's call count and cumulative latency distribution (all without arguments).",
            ),
            (
                "HISTORY <event>",
                "The samples of <event>: unix time and milliseconds.",
            ),
            (
                "LATEST",
                "Each event's latest sample and its highest: name, time, ms, highest ms.",
            ),
            (
                "RESET [<event> ...]",
                "Drop the samples of these events (all events without arguments).",
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    fn standalone() -> (Node, ClientId) {
        node_with(Config::default())
    }

    #[test]
    fn slowlog_logs_commands_at_or_over_the_threshold() {
        let (mut n, c) = standalone();
        run(&mut n, c, "client setname me");
        run(&mut n, c, "set k v");
        n.command_took(c, 10_000);
        run(&mut n, c, "get k");
        n.command_took(c, 9_999);
        assert_eq!(run(&mut n, c, "slowlog len"), Reply::Integer(1));
        let entry = Reply::Array(vec![
            Reply::Integer(0),
            Reply::Integer(1000),
            Reply::Integer(10_000),
            Reply::Array(vec![bulk("set"), bulk("k"), bulk("v")]),
            bulk("127.0.0.1:5000"),
            bulk("me"),
        ]);
        assert_eq!(
            run(&mut n, c, "slowlog get"),
            Reply::Array(vec![entry.clone()])
        );
        // A duration reported twice counts once.
        n.command_took(c, 20_000);
        n.command_took(c, 20_000);
        assert_eq!(run(&mut n, c, "slowlog len"), Reply::Integer(2));
        assert_eq!(
            run(&mut n, c, "slowlog get -1").to_owned(),
            run(&mut n, c, "slowlog get 2")
        );
        assert_eq!(run(&mut n, c, "slowlog get 0"), Reply::Array(vec![]));
        assert_eq!(
            run(&mut n, c, "slowlog get -2"),
            err("ERR count should be greater than or equal to -1")
        );
        assert_eq!(
            run(&mut n, c, "slowlog get x"),
            err("ERR count should be greater than or equal to -1")
        );
        assert_eq!(run(&mut n, c, "slowlog reset"), Reply::ok());
        assert_eq!(run(&mut n, c, "slowlog len"), Reply::Integer(0));
        assert_eq!(
            run(&mut n, c, "slowlog len x"),
            err("ERR wrong number of arguments for 'slowlog|len' command")
        );
    }

    #[test]
    fn latency_histogram_and_commandstats_take_the_driver_durations() {
        let (mut n, c) = standalone();
        for (line, us) in [
            ("set k v", 0),
            ("set k w", 3),
            ("get k", 40),
            ("set k x", 1),
        ] {
            run(&mut n, c, line);
            n.command_took(c, us);
        }
        let histogram = |calls: i64, rows: &[(i64, i64)]| {
            let rows = rows
                .iter()
                .map(|&(us, n)| (Reply::Integer(us), Reply::Integer(n)));
            Reply::Map(vec![
                (bulk("calls"), Reply::Integer(calls)),
                (bulk("histogram_usec"), Reply::Map(rows.collect())),
            ])
        };
        let set = histogram(3, &[(1, 2), (4, 3)]);
        let get = histogram(1, &[(66, 1)]);
        assert_eq!(
            run(&mut n, c, "latency histogram SET nosuch get set"),
            Reply::Map(vec![
                (bulk("set"), set.clone()),
                (bulk("get"), get.clone()),
                (bulk("set"), set.clone()),
            ])
        );
        n.command_took(c, 0);
        // Without arguments: every timed command, by name (this call is timed after it).
        assert_eq!(
            run(&mut n, c, "latency histogram"),
            Reply::Map(vec![
                (bulk("get"), get),
                (bulk("latency"), histogram(1, &[(1, 1)])),
                (bulk("set"), set)
            ])
        );
        let stats = n.stats.calls.commands["set"];
        assert_eq!((stats.calls, stats.usec), (3, 4));
        run(&mut n, c, "config resetstat");
        assert_eq!(run(&mut n, c, "latency histogram set"), Reply::Map(vec![]));
    }

    #[test]
    fn slowlog_follows_its_config() {
        let (mut n, c) = standalone();
        run(
            &mut n,
            c,
            "config set slowlog-log-slower-than 0 slowlog-max-len 2",
        );
        for line in ["echo a", "echo b", "echo c"] {
            run(&mut n, c, line);
            n.command_took(c, 0);
        }
        let Reply::Array(entries) = run(&mut n, c, "slowlog get") else {
            panic!("array")
        };
        let ids: Vec<&Reply> = entries
            .iter()
            .map(|e| match e {
                Reply::Array(f) => &f[0],
                other => other,
            })
            .collect();
        // Newest first, the oldest dropped (CONFIG SET got no duration: not logged).
        assert_eq!(ids, vec![&Reply::Integer(2), &Reply::Integer(1)]);
        run(&mut n, c, "config set slowlog-log-slower-than -1");
        run(&mut n, c, "slowlog reset");
        run(&mut n, c, "echo d");
        n.command_took(c, 1_000_000);
        assert_eq!(run(&mut n, c, "slowlog len"), Reply::Integer(0));
    }

    #[test]
    fn latency_events_record_slow_commands() {
        let (mut n, c) = standalone();
        run(&mut n, c, "set k v");
        n.command_took(c, 500_000);
        assert_eq!(run(&mut n, c, "latency latest"), Reply::Array(vec![]));
        run(&mut n, c, "config set latency-monitor-threshold 100");
        run(&mut n, c, "set k v");
        n.command_took(c, 250_000);
        run(&mut n, c, "get k");
        n.command_took(c, 150_000);
        run(&mut n, c, "get k");
        n.command_took(c, 50_000);
        let sample = |name: &str, ms: i64, max: i64| {
            Reply::Array(vec![
                bulk(name),
                Reply::Integer(1000),
                Reply::Integer(ms),
                Reply::Integer(max),
            ])
        };
        assert_eq!(
            run(&mut n, c, "latency latest"),
            Reply::Array(vec![
                sample("command", 250, 250),
                sample("fast-command", 150, 150)
            ])
        );
        assert_eq!(
            run(&mut n, c, "latency history command"),
            Reply::Array(vec![Reply::Array(vec![
                Reply::Integer(1000),
                Reply::Integer(250)
            ])])
        );
        assert_eq!(
            run(&mut n, c, "latency history nosuch"),
            Reply::Array(vec![])
        );
        assert_eq!(
            run(&mut n, c, "latency graph nosuch"),
            err("ERR No samples available for event 'nosuch'")
        );
        let Reply::Verbatim(_, graph) = run(&mut n, c, "latency graph command") else {
            panic!("graph")
        };
        assert!(
            graph.starts_with("command - high 250 ms, low 250 ms"),
            "{graph}"
        );
        assert_eq!(run(&mut n, c, "latency reset command x"), Reply::Integer(1));
        assert_eq!(run(&mut n, c, "latency reset"), Reply::Integer(1));
        assert_eq!(run(&mut n, c, "latency latest"), Reply::Array(vec![]));
    }
}
