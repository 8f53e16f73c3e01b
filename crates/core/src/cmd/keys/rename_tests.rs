use super::*;
use crate::cmd::keys::tests::{bulk, err, int, ok, take_propagated, Harness};
use crate::config::Config;

fn words(line: &[&str]) -> Vec<Bytes> {
    line.iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

#[test]
fn rename_moves_value_and_ttl() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    h.cmd(&["PEXPIRE", "a", "5000"]);
    take_propagated();
    assert_eq!(h.cmd(&["RENAME", "a", "b"]), ok());
    assert_eq!(take_propagated(), vec!["RENAME a b"]);
    assert_eq!(h.cmd(&["EXISTS", "a"]), int(0));
    assert_eq!(h.cmd(&["GET", "b"]), bulk("1"));
    assert_eq!(h.cmd(&["PTTL", "b"]), int(5000));
    // Onto an existing key (of another type): replaced, and without a TTL stays without.
    h.cmd(&["RPUSH", "l", "x"]);
    h.cmd(&["SET", "c", "v"]);
    assert_eq!(h.cmd(&["RENAME", "c", "l"]), ok());
    assert_eq!(h.cmd(&["TYPE", "l"]), Reply::simple("string"));
    assert_eq!(h.cmd(&["PTTL", "l"]), int(-1));
}

#[test]
fn rename_errors_and_same_key() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["RENAME", "x", "y"]), err("ERR no such key"));
    assert_eq!(h.cmd(&["RENAMENX", "x", "y"]), err("ERR no such key"));
    assert_eq!(h.cmd(&["RENAME", "x", "x"]), err("ERR no such key"));
    h.cmd(&["SET", "a", "1"]);
    take_propagated();
    assert_eq!(h.cmd(&["RENAME", "a", "a"]), ok());
    assert_eq!(h.cmd(&["RENAMENX", "a", "a"]), int(0));
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["GET", "a"]), bulk("1"));
    assert_eq!(
        h.cmd(&["RENAME", "a"]),
        err("ERR wrong number of arguments for 'rename' command")
    );
}

#[test]
fn renamenx_refuses_an_existing_destination() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    h.cmd(&["SET", "b", "2"]);
    take_propagated();
    assert_eq!(h.cmd(&["RENAMENX", "a", "b"]), int(0));
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["RENAMENX", "a", "c"]), int(1));
    assert_eq!(take_propagated(), vec!["RENAMENX a c"]);
    assert_eq!(h.cmd(&["GET", "c"]), bulk("1"));
    // An expired destination counts as missing (and is deleted as such).
    h.cmd(&["SET", "d", "x", "PX", "10"]);
    h.advance_ms(20);
    take_propagated();
    assert_eq!(h.cmd(&["RENAMENX", "c", "d"]), int(1));
    assert_eq!(take_propagated(), vec!["DEL d", "RENAMENX c d"]);
}

#[test]
fn copy_is_deep_and_keeps_the_ttl() {
    let mut h = Harness::new();
    h.cmd(&["SADD", "s", "a", "b"]);
    h.cmd(&["PEXPIRE", "s", "9000"]);
    take_propagated();
    assert_eq!(h.cmd(&["COPY", "s", "t"]), int(1));
    assert_eq!(take_propagated(), vec!["COPY s t"]);
    h.cmd(&["SREM", "s", "a"]);
    assert_eq!(h.cmd(&["SCARD", "t"]), int(2));
    assert_eq!(h.cmd(&["PTTL", "t"]), int(9000));
    for (key, build) in [
        ("l", &["RPUSH", "l", "1", "2"][..]),
        ("h", &["HSET", "h", "f", "v"]),
        ("r", &["APPEND", "r", "raw"]),
    ] {
        h.cmd(build);
        let copy = format!("{key}2");
        assert_eq!(h.cmd(&["COPY", key, &copy]), int(1));
        assert_eq!(h.cmd(&["TYPE", &copy]), h.cmd(&["TYPE", key]));
        assert_eq!(
            h.cmd(&["OBJECT", "ENCODING", &copy]),
            h.cmd(&["OBJECT", "ENCODING", key])
        );
    }
    // Sorted sets through the stored type (ZADD lives on another branch).
    let mut zset = crate::db::ZSet::new();
    zset.insert(b"m", 1.5);
    h.node
        .db
        .set_owned(b"z", crate::db::Value::ZSet(zset.clone()), None);
    assert_eq!(h.cmd(&["COPY", "z", "z2"]), int(1));
    let copied = h.node.db.get(b"z2", 0).map(|e| e.value.to_value());
    assert_eq!(copied, Some(crate::db::Value::ZSet(zset)));
}

#[test]
fn copy_replace_db_and_errors() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    h.cmd(&["SET", "b", "2"]);
    take_propagated();
    assert_eq!(h.cmd(&["COPY", "a", "b"]), int(0));
    assert_eq!(h.cmd(&["COPY", "nokey", "b", "REPLACE"]), int(0));
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["COPY", "a", "b", "replace", "DB", "0"]), int(1));
    assert_eq!(take_propagated(), vec!["COPY a b replace DB 0"]);
    assert_eq!(h.cmd(&["GET", "b"]), bulk("1"));
    let cases: &[(&[&str], &str)] = &[
        (
            &["COPY", "a", "a"],
            "ERR source and destination objects are the same",
        ),
        (&["COPY", "a", "a", "foo"], "ERR syntax error"),
        (&["COPY", "a", "c", "DB"], "ERR syntax error"),
        (
            &["COPY", "a", "c", "DB", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["COPY", "a", "c", "DB", "16"],
            "ERR DB index is out of range",
        ),
        (
            &["COPY", "a", "c", "DB", "-1"],
            "ERR DB index is out of range",
        ),
        // One database here: Redis's 1..15 do not exist.
        (
            &["COPY", "a", "c", "DB", "1"],
            "ERR DB index is out of range",
        ),
    ];
    for (line, error) in cases {
        assert_eq!(h.cmd(line), err(error), "{line:?}");
    }
}

#[test]
fn copy_to_another_db_is_refused_in_cluster_mode() {
    let config = Config {
        cluster_enabled: true,
        ..Config::default()
    };
    let mut node = Node::new(config, Default::default(), 1);
    let c = node.client_connected(Default::default(), "a:1".into(), "b:2".into());
    // The handler itself: no slot is served in this bare cluster node.
    assert_eq!(
        copy(&mut node, c, &words(&["COPY", "a", "{a}b", "DB", "1"])),
        err("ERR Copying to another database is not allowed in cluster mode")
    );
    assert_eq!(
        copy(&mut node, c, &words(&["COPY", "a", "{a}b", "DB", "16"])),
        err("ERR DB index is out of range")
    );
    let now = Default::default();
    for line in [
        &["COPY", "a", "b"][..],
        &["RENAME", "a", "b"],
        &["RENAMENX", "a", "b"],
    ] {
        assert_eq!(
            node.command(now, c, &words(line)),
            Reply::error("CROSSSLOT Keys in request don't hash to the same slot")
        );
    }
}

#[test]
fn touch_counts_existing_keys() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    h.cmd(&["SADD", "s", "m"]);
    take_propagated();
    assert_eq!(h.cmd(&["TOUCH", "a", "s", "zz", "a"]), int(3));
    assert!(take_propagated().is_empty());
    let spec = COMMANDS.iter().find(|s| s.name == "touch").unwrap();
    assert_eq!(spec.flags, &["readonly", "fast"]);
}
