//! CLIENT REPLY, NO-EVICT, UNBLOCK and the tracking subcommands, with the pushes they cause.

use super::*;
use crate::config::Config;
use crate::node::Time;

const NOW: Time = Time {
    mono_ms: 1,
    unix_ms: 1_000_000,
};

/// A standalone node (every key is served) and two clients.
fn node() -> (Node, ClientId, ClientId) {
    let mut node = Node::new(Config::default(), NOW, 1);
    let a = node.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
    let b = node.client_connected(NOW, "127.0.0.1:5001".into(), "127.0.0.1:6379".into());
    node.take_effects();
    (node, a, b)
}

fn run(node: &mut Node, c: ClientId, line: &str) -> Reply {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    node.command(NOW, c, &args)
}

fn err(text: &str) -> Reply {
    Reply::Error(format!("ERR {text}"))
}

/// The `invalidate` pushes among the node's effects: (client, keys).
fn pushes(node: &mut Node) -> Vec<(ClientId, Vec<&'static str>)> {
    let leak = |b: &Bytes| &*String::from_utf8_lossy(b).into_owned().leak();
    node.take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::ClientPush { client, items } => {
                assert_eq!(items[0], Reply::bulk_str("invalidate"));
                let Reply::Array(keys) = &items[1] else {
                    panic!("keys")
                };
                let keys = keys
                    .iter()
                    .map(|k| match k {
                        Reply::Bulk(b) => leak(b),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                Some((client, keys))
            }
            _ => None,
        })
        .collect()
}

fn info(flags: &[&str], redirect: i64, prefixes: &[&str]) -> Reply {
    Reply::Map(vec![
        (
            Reply::bulk_str("flags"),
            Reply::Set(flags.iter().map(|f| Reply::bulk_str(f)).collect()),
        ),
        (Reply::bulk_str("redirect"), Reply::Integer(redirect)),
        (
            Reply::bulk_str("prefixes"),
            Reply::Array(prefixes.iter().map(|p| Reply::bulk_str(p)).collect()),
        ),
    ])
}

#[test]
fn tracking_options_follow_redis_rules() {
    let (mut n, a, b) = node();
    assert_eq!(run(&mut n, a, "client getredir"), Reply::Integer(-1));
    assert_eq!(
        run(&mut n, a, "client trackinginfo"),
        info(&["off"], -1, &[])
    );
    assert_eq!(
        run(&mut n, a, "client caching yes"),
        err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
    );
    assert_eq!(run(&mut n, a, "client tracking on optin"), Reply::ok());
    assert_eq!(run(&mut n, a, "client caching yes"), Reply::ok());
    assert_eq!(
        run(&mut n, a, "client caching no"),
        err("CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    );
    assert_eq!(run(&mut n, a, "client caching maybe"), err("syntax error"));
    run(&mut n, a, "client caching yes");
    assert_eq!(
        run(&mut n, a, "client trackinginfo"),
        info(&["on", "optin", "caching-yes"], 0, &[])
    );
    // The caching mark lasts until a command other than CLIENT's.
    assert_eq!(
        run(&mut n, a, "client trackinginfo"),
        info(&["on", "optin", "caching-yes"], 0, &[])
    );
    run(&mut n, a, "echo x");
    assert_eq!(
        run(&mut n, a, "client trackinginfo"),
        info(&["on", "optin"], 0, &[])
    );
    assert_eq!(
        run(&mut n, a, "client tracking on optout"),
        err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
    );
    run(&mut n, a, "client tracking off");
    assert_eq!(
        run(&mut n, a, "client tracking on optin optout"),
        err("You can't specify both OPTIN mode and OPTOUT mode")
    );
    assert_eq!(
        run(&mut n, a, "client tracking on prefix a"),
        err("PREFIX option requires BCAST mode to be enabled")
    );
    assert_eq!(
        run(&mut n, a, "client tracking on bcast prefix a prefix ab"),
        err("Prefix 'a' overlaps with another provided prefix 'ab'. Prefixes for a single client must not overlap.")
    );
    assert_eq!(
        run(&mut n, a, "client tracking on bcast optin"),
        err("OPTIN and OPTOUT are not compatible with BCAST")
    );
    assert_eq!(
        run(&mut n, a, "client tracking on bcast prefix a prefix b"),
        Reply::ok()
    );
    assert_eq!(
        run(&mut n, a, "client trackinginfo"),
        info(&["on", "bcast"], 0, &["a", "b"])
    );
    let Reply::Verbatim(_, line) = run(&mut n, a, "client info") else {
        panic!("line")
    };
    assert!(
        line.contains(" flags=tB ") && line.contains(" redir=0 "),
        "{line}"
    );
    run(&mut n, a, "client tracking off");
    assert_eq!(
        run(
            &mut n,
            a,
            &format!("client tracking on redirect {b} noloop")
        ),
        Reply::ok()
    );
    assert_eq!(run(&mut n, a, "client getredir"), Reply::Integer(b as i64));
    assert_eq!(
        run(&mut n, a, "client trackinginfo"),
        info(&["on", "noloop"], b as i64, &[])
    );
    assert_eq!(
        run(&mut n, a, "client tracking on redirect 999"),
        err("The client ID you want redirect to does not exist")
    );
    assert_eq!(
        run(&mut n, a, "client tracking on redirect x"),
        err("value is not an integer or out of range")
    );
    assert_eq!(
        run(&mut n, a, "client tracking on foo"),
        err("syntax error")
    );
    assert_eq!(run(&mut n, a, "client tracking maybe"), err("syntax error"));
}

#[test]
fn reads_are_invalidated_by_writes_once() {
    let (mut n, a, b) = node();
    run(&mut n, a, "hello 3");
    run(&mut n, a, "client tracking on");
    run(&mut n, a, "get k1");
    run(&mut n, a, "mget k1 k2");
    n.take_effects();
    run(&mut n, b, "set k1 v");
    assert_eq!(pushes(&mut n), vec![(a, vec!["k1"])]);
    // k1 was forgotten when told; k2 is still remembered. One frame per key.
    run(&mut n, b, "mset k1 v k2 w");
    assert_eq!(pushes(&mut n), vec![(a, vec!["k2"])]);
    // Its own writes too, unless NOLOOP.
    run(&mut n, a, "get k1");
    run(&mut n, a, "set k1 x");
    assert_eq!(pushes(&mut n), vec![(a, vec!["k1"])]);
    run(&mut n, a, "client tracking on noloop");
    run(&mut n, a, "get k1");
    run(&mut n, a, "set k1 y");
    assert_eq!(pushes(&mut n), vec![]);
    // A RESP2 client gets nothing (it would need pub/sub).
    run(&mut n, a, "hello 2");
    run(&mut n, b, "set k1 z");
    assert_eq!(pushes(&mut n), vec![]);
}

#[test]
fn bcast_optin_and_redirect() {
    let (mut n, a, b) = node();
    run(&mut n, a, "hello 3");
    run(&mut n, b, "hello 3");
    run(&mut n, a, "client tracking on bcast prefix p");
    run(&mut n, b, "mset pk 1 pz 2 zz 3");
    assert_eq!(pushes(&mut n), vec![(a, vec!["pk", "pz"])]);
    run(&mut n, a, "client tracking off");
    run(&mut n, a, &format!("client tracking on redirect {b} optin"));
    run(&mut n, a, "get k1");
    run(&mut n, a, "client caching yes");
    run(&mut n, a, "get k2");
    run(&mut n, a, "set k1 z");
    run(&mut n, a, "set k2 z");
    assert_eq!(pushes(&mut n), vec![(b, vec!["k2"])]);
}

#[test]
fn reply_off_and_skip_silence_replies() {
    let (mut n, a, _) = node();
    run(&mut n, a, "client reply off");
    assert!(n.reply_silenced(a));
    run(&mut n, a, "get k");
    assert!(n.reply_silenced(a));
    assert_eq!(run(&mut n, a, "client reply on"), Reply::ok());
    assert!(!n.reply_silenced(a));
    run(&mut n, a, "client reply skip");
    assert!(n.reply_silenced(a));
    run(&mut n, a, "get k");
    assert!(n.reply_silenced(a));
    run(&mut n, a, "echo hi");
    assert!(!n.reply_silenced(a));
    assert_eq!(run(&mut n, a, "client reply x"), err("syntax error"));
    assert_eq!(run(&mut n, a, "client no-evict on"), Reply::ok());
    let Reply::Verbatim(_, line) = run(&mut n, a, "client info") else {
        panic!("line")
    };
    assert!(line.contains(" flags=e "), "{line}");
    assert_eq!(run(&mut n, a, "client no-evict x"), err("syntax error"));
}

#[test]
fn unblock_answers_a_parked_wait() {
    let (mut n, a, b) = node();
    run(&mut n, a, "set k v");
    // No replica: WAIT 1 0 parks for ever.
    run(&mut n, a, "wait 1 0");
    assert!(n
        .take_effects()
        .contains(&Effect::BlockClient { client: a }));
    let Reply::Verbatim(_, line) = run(&mut n, b, &format!("client list id {a}")) else {
        panic!("line")
    };
    assert!(
        line.contains(" flags=b ") && line.contains(" argv-mem=6 "),
        "{line}"
    );
    assert_eq!(
        run(&mut n, b, &format!("client unblock {a} timeout")),
        Reply::Integer(1)
    );
    assert!(n.take_effects().contains(&Effect::UnblockClient {
        client: a,
        reply: Reply::Integer(0)
    }));
    assert_eq!(
        run(&mut n, b, &format!("client unblock {a}")),
        Reply::Integer(0)
    );
    run(&mut n, a, "wait 1 0");
    assert_eq!(
        run(&mut n, b, &format!("client unblock {a} error")),
        Reply::Integer(1)
    );
    assert!(n.take_effects().contains(&Effect::UnblockClient {
        client: a,
        reply: Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    }));
    assert_eq!(
        run(&mut n, b, &format!("client unblock {a} foo")),
        err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    assert_eq!(
        run(&mut n, b, "client unblock x"),
        err("value is not an integer or out of range")
    );
    assert_eq!(
        run(&mut n, b, "client unblock x foo"),
        err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    assert_eq!(
        run(&mut n, b, "client unblock 1 foo bar"),
        err("unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.")
    );
}

#[test]
fn a_vanished_redirect_target_is_reported() {
    let (mut n, a, b) = node();
    let r = n.client_connected(NOW, "127.0.0.1:5002".into(), "127.0.0.1:6379".into());
    run(&mut n, a, "hello 3");
    run(&mut n, a, &format!("client tracking on redirect {r}"));
    n.client_disconnected(r);
    run(&mut n, a, "get k1");
    run(&mut n, a, "get k2");
    n.take_effects();
    run(&mut n, b, "mset k1 1 k2 2");
    let broken = Effect::ClientPush {
        client: a,
        items: vec![
            Reply::bulk_str("tracking-redir-broken"),
            Reply::Integer(r as i64),
        ],
    };
    let pushes: Vec<Effect> = n
        .take_effects()
        .into_iter()
        .filter(|e| matches!(e, Effect::ClientPush { .. }))
        .collect();
    assert_eq!(pushes, vec![broken.clone(), broken]);
    assert_eq!(
        run(&mut n, a, "client trackinginfo"),
        info(&["on", "broken_redirect"], r as i64, &[])
    );
    let Reply::Verbatim(_, line) = run(&mut n, a, "client info") else {
        panic!("line")
    };
    assert!(line.contains(" flags=tR "), "{line}");
}

#[test]
fn a_flush_invalidates_everything() {
    let (mut n, a, b) = node();
    run(&mut n, a, "hello 3");
    run(&mut n, a, "client tracking on");
    run(&mut n, a, "get k1");
    n.take_effects();
    run(&mut n, b, "flushall");
    let null = Effect::ClientPush {
        client: a,
        items: vec![Reply::bulk_str("invalidate"), Reply::Nil],
    };
    assert!(n.take_effects().contains(&null));
    // What it read was forgotten with the flush.
    run(&mut n, b, "set k1 x");
    assert_eq!(pushes(&mut n), vec![]);
}

#[test]
fn an_expired_key_is_invalidated() {
    let (mut n, a, b) = node();
    run(&mut n, a, "hello 3");
    run(&mut n, a, "client tracking on");
    run(&mut n, b, "set ek v px 100");
    run(&mut n, a, "get ek");
    n.take_effects();
    // The active expiry cycle removes it once due.
    let later = Time {
        mono_ms: NOW.mono_ms + 200,
        unix_ms: NOW.unix_ms + 200,
    };
    n.tick(later);
    assert_eq!(pushes(&mut n), vec![(a, vec!["ek"])]);
}
