use crate::cmd::keys::tests::{bulk, err, int, take_propagated, Harness};
use crate::config::Config;
use crate::node::Node;
use crate::reply::Reply;

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn with_list() -> Harness {
    let mut h = Harness::new();
    h.cmd(&["RPUSH", "l", "3", "1", "2", "10"]);
    h.cmd(&["MSET", "w_3", "c", "w_1", "a", "w_2", "b", "w_10", "a"]);
    take_propagated();
    h
}

#[test]
fn sorts_numbers_alpha_desc_and_limits() {
    let mut h = with_list();
    assert_eq!(h.cmd(&["SORT", "l"]), bulks(&["1", "2", "3", "10"]));
    assert_eq!(
        h.cmd(&["SORT", "l", "ALPHA"]),
        bulks(&["1", "10", "2", "3"])
    );
    assert_eq!(
        h.cmd(&["SORT", "l", "DESC", "LIMIT", "1", "2"]),
        bulks(&["3", "2"])
    );
    assert_eq!(h.cmd(&["SORT", "l", "LIMIT", "5", "1"]), bulks(&[]));
    assert_eq!(
        h.cmd(&["SORT", "l", "LIMIT", "-5", "2"]),
        bulks(&["1", "2"])
    );
    assert_eq!(
        h.cmd(&["SORT", "l", "LIMIT", "2", "-1"]),
        bulks(&["3", "10"])
    );
    assert_eq!(
        h.cmd(&["SORT_RO", "l", "desc"]),
        bulks(&["10", "3", "2", "1"])
    );
    assert_eq!(h.cmd(&["SORT", "nokey"]), bulks(&[]));
    assert!(take_propagated().is_empty());
}

#[test]
fn by_and_get_patterns() {
    let mut h = with_list();
    assert_eq!(
        h.cmd(&["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]),
        bulks(&["2", "1"])
    );
    assert_eq!(
        h.cmd(&["SORT", "l", "BY", "w_*", "ALPHA"]),
        bulks(&["1", "10", "2", "3"])
    );
    h.cmd(&["HSET", "h_1", "f", "9"]);
    let reply = h.cmd(&["SORT", "l", "BY", "h_*->f", "GET", "h_*->f", "GET", "#"]);
    let nil = Reply::Nil;
    let expected = vec![
        nil.clone(),
        bulk("10"),
        nil.clone(),
        bulk("2"),
        nil,
        bulk("3"),
        bulk("9"),
        bulk("1"),
    ];
    assert_eq!(reply, Reply::Array(expected));
    // An empty field name is part of the key name, which does not exist.
    assert_eq!(
        h.cmd(&["SORT", "l", "BY", "w_*->"]),
        bulks(&["1", "10", "2", "3"])
    );
    assert_eq!(
        h.cmd(&["SORT", "l", "GET", "w_*", "GET", "nokey_*", "LIMIT", "0", "1"]),
        Reply::Array(vec![bulk("a"), Reply::Nil])
    );
    assert_eq!(
        h.cmd(&["SORT", "l", "BY", "w_*"]),
        err("ERR One or more scores can't be converted into double")
    );
}

#[test]
fn store_writes_a_list_and_propagates() {
    let mut h = with_list();
    h.cmd(&["SET", "dst", "old", "EX", "100"]);
    take_propagated();
    assert_eq!(
        h.cmd(&["SORT", "l", "STORE", "dst", "GET", "w_*", "GET", "x_*"]),
        int(8)
    );
    assert_eq!(take_propagated(), vec!["SORT l STORE dst GET w_* GET x_*"]);
    assert_eq!(
        h.cmd(&["LRANGE", "dst", "0", "-1"]),
        bulks(&["a", "", "b", "", "c", "", "a", ""])
    );
    assert_eq!(h.cmd(&["TTL", "dst"]), int(-1));
    assert_eq!(h.cmd(&["SORT", "nokey", "STORE", "dst"]), int(0));
    assert_eq!(take_propagated(), vec!["SORT nokey STORE dst"]);
    assert_eq!(h.cmd(&["EXISTS", "dst"]), int(0));
    assert_eq!(h.cmd(&["SORT", "nokey", "STORE", "dst"]), int(0));
    assert!(take_propagated().is_empty());
    // A set stored without sorting is sorted ALPHA first, so replicas store the same list.
    h.cmd(&["SADD", "s", "b", "c", "a"]);
    assert_eq!(h.cmd(&["SORT", "s", "BY", "nosort", "STORE", "d2"]), int(3));
    assert_eq!(h.cmd(&["LRANGE", "d2", "0", "-1"]), bulks(&["a", "b", "c"]));
}

#[test]
fn sorted_sets_keep_score_order_without_sorting() {
    let mut h = Harness::new();
    let mut zset = crate::db::ZSet::new();
    for (member, score) in [("x", 3.0), ("y", 1.0), ("z", 2.0)] {
        zset.insert(member.as_bytes(), score);
    }
    h.node
        .db
        .set_owned(b"z", crate::db::Value::ZSet(zset), None);
    assert_eq!(
        h.cmd(&["SORT", "z", "BY", "nosort"]),
        bulks(&["y", "z", "x"])
    );
    assert_eq!(
        h.cmd(&["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]),
        bulks(&["x", "z"])
    );
    assert_eq!(
        h.cmd(&["SORT", "z", "ALPHA", "DESC"]),
        bulks(&["z", "y", "x"])
    );
}

#[test]
fn errors_follow_redis() {
    let mut h = with_list();
    h.cmd(&["SET", "str", "x"]);
    let cases: &[(&[&str], &str)] = &[
        (&["SORT", "l", "LIMIT", "0", "1", "foo"], "ERR syntax error"),
        (
            &["SORT", "l", "LIMIT", "x", "1"],
            "ERR value is not an integer or out of range",
        ),
        (&["SORT", "l", "LIMIT", "0"], "ERR syntax error"),
        (&["SORT_RO", "l", "STORE", "x"], "ERR syntax error"),
        (
            &["SORT", "str"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
    ];
    for (line, error) in cases {
        assert_eq!(h.cmd(line), err(error), "{line:?}");
    }
}

#[test]
fn cluster_mode_refuses_patterns_and_routes_by_the_store_key() {
    let config = Config {
        cluster_enabled: true,
        ..Config::default()
    };
    let now = Default::default();
    let mut node = Node::new(config, now, 1);
    let c = node.client_connected(now, "a:1".into(), "b:2".into());
    let words = |line: &[&str]| -> Vec<bytes::Bytes> {
        line.iter()
            .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    };
    let handler = |name: &str| {
        super::COMMANDS
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .handler
    };
    let by = words(&["SORT", "{a}l", "BY", "{a}w_*"]);
    assert_eq!(
        handler("sort")(&mut node, c, &by),
        err("ERR BY option of SORT denied in Cluster mode.")
    );
    let get = words(&["SORT_RO", "{a}l", "GET", "#"]);
    assert_eq!(
        handler("sort_ro")(&mut node, c, &get),
        err("ERR GET option of SORT denied in Cluster mode.")
    );
    assert_eq!(
        node.command(now, c, &words(&["SORT", "{a}l", "STORE", "d"])),
        Reply::error("CROSSSLOT Keys in request don't hash to the same slot")
    );
    let keys = |line: &[&str]| super::key_positions(&words(line));
    assert_eq!(keys(&["SORT", "a", "STORE", "b", "STORE", "c"]), vec![1, 5]);
    assert!(keys(&["SORT"]).is_empty());
    assert_eq!(keys(&["SORT", "a", "GET", "store", "x"]), vec![1]);
    assert_eq!(
        keys(&["SORT", "a", "LIMIT", "store", "x", "STORE"]),
        vec![1]
    );
    assert_eq!(
        node.command(
            now,
            c,
            &words(&["COMMAND", "GETKEYS", "SORT", "a", "STORE", "d", "GET", "x"])
        ),
        bulks(&["a", "d"])
    );
}
