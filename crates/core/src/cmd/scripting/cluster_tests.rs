//! Cluster rules for scripts: the declared keys route EVAL like any keyed command, and a
//! script's own commands must stay on keys served here, in one slot unless it allows more.

use bytes::Bytes;

use crate::config::Config;
use crate::node::{ClientId, Node, Time};
use crate::reply::Reply;

fn at(mono_ms: u64) -> Time {
    Time {
        mono_ms,
        unix_ms: 1_000_000 + mono_ms,
    }
}

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// A cluster node serving `slots` (inclusive range), its state settled.
fn cluster_node(first: u16, last: u16) -> (Node, ClientId) {
    let config = Config {
        cluster_enabled: true,
        ..Config::default()
    };
    let mut node = Node::new(config, at(0), 1);
    let c = node.client_connected(at(0), "127.0.0.1:5000".into(), "127.0.0.1:7001".into());
    let add = [
        b("CLUSTER"),
        b("ADDSLOTSRANGE"),
        b(&first.to_string()),
        b(&last.to_string()),
    ];
    assert_eq!(node.command(at(0), c, &add), Reply::ok());
    for i in 1..=30 {
        node.tick(at(i * 100));
    }
    (node, c)
}

fn eval(node: &mut Node, c: ClientId, script: &str, keys: &[&str]) -> Reply {
    let mut argv = vec![b("EVAL"), b(script), b(&keys.len().to_string())];
    argv.extend(keys.iter().map(|k| b(k)));
    node.command(at(5000), c, &argv)
}

fn at_line(script: &str, line: u32, text: &str) -> Reply {
    let sha = super::engine::sha1_hex(script.as_bytes());
    Reply::Error(format!("{text} script: {sha}, on @user_script:{line}."))
}

#[test]
fn declared_keys_route_eval() {
    let spec = crate::cmd::all().find(|s| s.name == "evalsha_ro").unwrap();
    let args: Vec<Bytes> = ["EVALSHA_RO", "sha", "2", "k1", "k2", "arg"]
        .map(b)
        .to_vec();
    assert_eq!(spec.keys(&args), vec![&args[3], &args[4]]);
    let (mut n, c) = cluster_node(0, 16383);
    assert_eq!(
        eval(&mut n, c, "return 1", &["a", "b"]),
        Reply::error("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        eval(&mut n, c, "return KEYS[2]", &["{a}1", "{a}2"]),
        Reply::bulk(b("{a}2"))
    );
}

#[test]
fn a_script_stays_in_its_slot_unless_it_allows_more() {
    let (mut n, c) = cluster_node(0, 16383);
    // No shebang: Redis 7.0 lets such a script touch any local slot.
    let compat = "redis.call('set','a','1'); return redis.call('get','x')";
    assert_eq!(eval(&mut n, c, compat, &[]), Reply::Nil);
    let strict = "#!lua\nredis.call('set','a','1'); return redis.call('get','x')";
    let text = "ERR Script attempted to access keys that do not hash to the same slot";
    assert_eq!(eval(&mut n, c, strict, &[]), at_line(strict, 2, text));
    let declared = "#!lua\nreturn redis.call('get','x')";
    assert_eq!(
        eval(&mut n, c, declared, &["a"]),
        at_line(declared, 2, text)
    );
    let allowed =
        "#!lua flags=allow-cross-slot-keys\nredis.call('get','a'); return redis.call('get','x')";
    assert_eq!(eval(&mut n, c, allowed, &[]), Reply::Nil);
    assert_eq!(
        eval(&mut n, c, "#!lua flags=no-cluster\nreturn 1", &[]),
        Reply::error("ERR Can not run script on cluster, 'no-cluster' flag is set.")
    );
}

#[test]
fn unserved_keys_fail_inside_and_outside_the_script() {
    // Slot 15495 ("a") is served, slot 16287 ("x") is not: the cluster is down.
    let (mut n, c) = cluster_node(0, 16000);
    assert_eq!(
        eval(&mut n, c, "return 1", &["x"]),
        Reply::error("CLUSTERDOWN Hash slot not served")
    );
    let s = "return redis.call('get','x')";
    let text = "ERR Script attempted to execute a command while the cluster is down";
    assert_eq!(eval(&mut n, c, s, &[]), at_line(s, 1, text));
}
