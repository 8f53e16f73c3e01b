//! Pub/Sub on one node: confirmations and messages as pushes, the RESP2 subscribed context,
//! PUBSUB introspection, and a client that leaves.

use bytes::Bytes;

use crate::config::Config;
use crate::node::{ClientId, Effect, Node, Time};
use crate::reply::Reply;

const NOW: Time = Time {
    mono_ms: 1,
    unix_ms: 1_000_000,
};

fn node() -> Node {
    Node::new(Config::default(), NOW, 1)
}

fn connect(n: &mut Node) -> ClientId {
    n.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into())
}

fn run(n: &mut Node, c: ClientId, line: &str) -> Reply {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    n.command(NOW, c, &args)
}

fn b(s: &str) -> Reply {
    Reply::bulk_str(s)
}

/// `(client, items)` of every push since the last call.
fn pushes(n: &mut Node) -> Vec<(ClientId, Vec<Reply>)> {
    n.take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::ClientPush { client, items } => Some((client, items)),
            _ => None,
        })
        .collect()
}

#[test]
fn subscribe_confirms_each_channel_with_a_push_and_no_reply() {
    let mut n = node();
    let c = connect(&mut n);
    run(&mut n, c, "subscribe a b");
    assert!(n.reply_silenced(c));
    assert_eq!(
        pushes(&mut n),
        vec![
            (c, vec![b("subscribe"), b("a"), Reply::Integer(1)]),
            (c, vec![b("subscribe"), b("b"), Reply::Integer(2)]),
        ]
    );
    run(&mut n, c, "psubscribe x*");
    assert_eq!(
        pushes(&mut n),
        vec![(c, vec![b("psubscribe"), b("x*"), Reply::Integer(3)])]
    );
    // Without names: every channel, in order; then, with none left, a nil confirmation.
    run(&mut n, c, "unsubscribe");
    assert_eq!(
        pushes(&mut n),
        vec![
            (c, vec![b("unsubscribe"), b("a"), Reply::Integer(2)]),
            (c, vec![b("unsubscribe"), b("b"), Reply::Integer(1)]),
        ]
    );
    run(&mut n, c, "unsubscribe");
    assert_eq!(
        pushes(&mut n),
        vec![(c, vec![b("unsubscribe"), Reply::Nil, Reply::Integer(1)])]
    );
    run(&mut n, c, "punsubscribe nope");
    assert_eq!(
        pushes(&mut n),
        vec![(c, vec![b("punsubscribe"), b("nope"), Reply::Integer(1)])]
    );
}

#[test]
fn publish_reaches_channel_and_pattern_subscribers_and_counts_them() {
    let mut n = node();
    let (s1, s2, p) = (connect(&mut n), connect(&mut n), connect(&mut n));
    run(&mut n, s1, "subscribe news");
    run(&mut n, s2, "psubscribe n*");
    run(&mut n, s2, "psubscribe *s");
    pushes(&mut n);
    assert_eq!(run(&mut n, p, "publish news hi"), Reply::Integer(3));
    assert_eq!(
        pushes(&mut n),
        vec![
            (s1, vec![b("message"), b("news"), b("hi")]),
            (s2, vec![b("pmessage"), b("*s"), b("news"), b("hi")]),
            (s2, vec![b("pmessage"), b("n*"), b("news"), b("hi")]),
        ]
    );
    assert_eq!(run(&mut n, p, "publish other hi"), Reply::Integer(0));
    // Shard channels are their own namespace.
    run(&mut n, s1, "ssubscribe news");
    pushes(&mut n);
    assert_eq!(run(&mut n, p, "spublish news x"), Reply::Integer(1));
    assert_eq!(
        pushes(&mut n),
        vec![(s1, vec![b("smessage"), b("news"), b("x")])]
    );
    // A client that leaves receives nothing more.
    n.client_disconnected(s1);
    assert_eq!(run(&mut n, p, "publish news hi"), Reply::Integer(2));
}

#[test]
fn a_resp2_subscriber_may_only_subscribe_ping_quit_and_reset() {
    let mut n = node();
    let c = connect(&mut n);
    run(&mut n, c, "subscribe a");
    pushes(&mut n);
    assert_eq!(
        run(&mut n, c, "get k"),
        Reply::Error(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context"
                .into()
        )
    );
    assert_eq!(run(&mut n, c, "ping"), Reply::Array(vec![b("pong"), b("")]));
    assert_eq!(
        run(&mut n, c, "ping hello"),
        Reply::Array(vec![b("pong"), b("hello")])
    );
    // RESP3 clients keep the whole command set.
    let c3 = connect(&mut n);
    run(&mut n, c3, "hello 3");
    run(&mut n, c3, "subscribe a");
    assert_eq!(run(&mut n, c3, "get k"), Reply::Nil);
    assert_eq!(run(&mut n, c3, "ping"), Reply::simple("PONG"));
}

#[test]
fn pubsub_introspection_counts_this_node_s_subscribers() {
    let mut n = node();
    let (sub, c, a) = (connect(&mut n), connect(&mut n), connect(&mut n));
    run(&mut n, sub, "subscribe news sports");
    run(&mut n, c, "subscribe news");
    run(&mut n, c, "psubscribe n*");
    run(&mut n, c, "ssubscribe orders");
    assert_eq!(
        run(&mut n, a, "pubsub channels"),
        Reply::Array(vec![b("news"), b("sports")])
    );
    assert_eq!(
        run(&mut n, a, "pubsub channels s*"),
        Reply::Array(vec![b("sports")])
    );
    assert_eq!(
        run(&mut n, a, "pubsub numsub news nobody"),
        Reply::Map(vec![
            (b("news"), Reply::Integer(2)),
            (b("nobody"), Reply::Integer(0))
        ])
    );
    assert_eq!(run(&mut n, a, "pubsub numpat"), Reply::Integer(1));
    let Reply::Verbatim(_, stats) = run(&mut n, a, "info stats") else {
        panic!("INFO is verbatim text");
    };
    for line in [
        "pubsub_channels:2\r\n",
        "pubsub_patterns:1\r\n",
        "pubsubshard_channels:1\r\n",
    ] {
        assert!(stats.contains(line), "{line} in {stats}");
    }
    assert_eq!(
        run(&mut n, a, "pubsub shardchannels"),
        Reply::Array(vec![b("orders")])
    );
    assert_eq!(
        run(&mut n, a, "pubsub shardnumsub orders"),
        Reply::Map(vec![(b("orders"), Reply::Integer(1))])
    );
    assert_eq!(
        run(&mut n, a, "pubsub channels a b"),
        Reply::Error(
            "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP."
                .into()
        )
    );
    assert!(matches!(run(&mut n, a, "pubsub help"), Reply::Array(_)));
    let list = match run(&mut n, a, &format!("client list id {c}")) {
        Reply::Verbatim(_, t) => t,
        Reply::Bulk(t) => String::from_utf8_lossy(&t).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(list.contains(" flags=P "), "{list}");
    assert!(list.contains(" sub=1 psub=1 ssub=1 "), "{list}");
}
