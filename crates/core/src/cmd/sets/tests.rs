use super::*;
use crate::cmd::keys::tests::{bulk, err, int, ok, take_propagated, Harness};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn set(members: &[&str]) -> Reply {
    Reply::Set(members.iter().map(|m| bulk(m)).collect())
}

fn ints(ns: &[i64]) -> Reply {
    Reply::Array(ns.iter().map(|&n| int(n)).collect())
}

#[test]
fn members_are_added_tested_and_removed() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["SADD", "s", "3", "1", "2", "1"]), int(3));
    assert_eq!(h.cmd(&["SADD", "s", "1"]), int(0));
    assert_eq!(
        h.cmd(&["SMEMBERS", "s"]),
        set(&["1", "2", "3"]),
        "an intset is sorted"
    );
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "s"]), bulk("intset"));
    assert_eq!(h.cmd(&["SISMEMBER", "s", "2"]), int(1));
    assert_eq!(h.cmd(&["SMISMEMBER", "s", "2", "9"]), ints(&[1, 0]));
    assert_eq!(h.cmd(&["SMISMEMBER", "none", "2"]), ints(&[0]));
    assert_eq!(h.cmd(&["SCARD", "s"]), int(3));
    assert_eq!(h.cmd(&["SADD", "s", "x"]), int(1));
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
    assert_eq!(h.cmd(&["SMEMBERS", "s"]), set(&["1", "2", "3", "x"]));
    assert_eq!(h.cmd(&["SREM", "s", "1", "zz"]), int(1));
    assert_eq!(h.cmd(&["SREM", "s", "2", "3", "x"]), int(3));
    assert_eq!(h.cmd(&["EXISTS", "s"]), int(0));
    assert_eq!(h.cmd(&["SMEMBERS", "s"]), set(&[]));
    assert_eq!(h.cmd(&["SCARD", "s"]), int(0));
    assert_eq!(
        take_propagated(),
        ["SADD s 3 1 2 1", "SADD s x", "SREM s 1 zz", "SREM s 2 3 x"]
    );
}

#[test]
fn every_set_command_refuses_other_types() {
    let mut h = Harness::new();
    h.cmd(&["SET", "str", "v"]);
    h.cmd(&["SADD", "s", "1"]);
    take_propagated();
    let cases: &[&[&str]] = &[
        &["SADD", "str", "a"],
        &["SREM", "str", "a"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SCARD", "str"],
        &["SPOP", "str"],
        &["SRANDMEMBER", "str", "2"],
        &["SMOVE", "str", "s", "a"],
        &["SMOVE", "s", "str", "1"],
        &["SINTER", "none", "str"],
        &["SUNION", "s", "str"],
        &["SDIFF", "none", "str"],
        &["SINTERSTORE", "d", "s", "str"],
        &["SINTERCARD", "2", "s", "str"],
        &["SSCAN", "str", "0"],
    ];
    for args in cases {
        assert_eq!(h.cmd(args), err(WRONGTYPE), "{args:?}");
    }
    assert!(take_propagated().is_empty());
}

#[test]
fn algebra_and_store_forms() {
    let mut h = Harness::new();
    h.cmd(&["SADD", "a", "3", "1", "2", "x"]);
    h.cmd(&["SADD", "b", "2", "3", "4"]);
    assert_eq!(h.cmd(&["SINTER", "a", "b"]), set(&["2", "3"]));
    assert_eq!(h.cmd(&["SINTER", "a", "none"]), set(&[]));
    assert_eq!(h.cmd(&["SUNION", "b", "none"]), set(&["2", "3", "4"]));
    assert_eq!(h.cmd(&["SDIFF", "b", "a"]), set(&["4"]));
    assert_eq!(h.cmd(&["SDIFF", "none", "a"]), set(&[]));
    take_propagated();
    h.cmd(&["SET", "d", "old", "EX", "100"]);
    assert_eq!(h.cmd(&["SINTERSTORE", "d", "a", "b"]), int(2));
    assert_eq!(
        h.cmd(&["TTL", "d"]),
        int(-1),
        "the store replaces value and TTL"
    );
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "d"]), bulk("intset"));
    assert_eq!(h.cmd(&["SUNIONSTORE", "u", "a", "b"]), int(5));
    assert_eq!(h.cmd(&["SDIFFSTORE", "u", "b", "a"]), int(1));
    assert_eq!(h.cmd(&["SMEMBERS", "u"]), set(&["4"]));
    assert_eq!(h.cmd(&["SINTERSTORE", "u", "a", "none"]), int(0));
    assert_eq!(h.cmd(&["EXISTS", "u"]), int(0));
    assert_eq!(h.cmd(&["SINTERSTORE", "u", "a", "none"]), int(0));
    let propagated = take_propagated();
    assert_eq!(
        propagated[1..],
        [
            "SINTERSTORE d a b",
            "SUNIONSTORE u a b",
            "SDIFFSTORE u b a",
            "SINTERSTORE u a none"
        ],
        "an empty result that deleted nothing is not propagated"
    );
    assert_eq!(h.cmd(&["SINTERCARD", "2", "a", "b"]), int(2));
    assert_eq!(h.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
    assert_eq!(h.cmd(&["SINTERCARD", "1", "a", "LIMIT", "0"]), int(4));
    assert_eq!(
        h.cmd(&["SINTERCARD", "0", "a"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        h.cmd(&["SINTERCARD", "3", "a", "b"]),
        err("ERR Number of keys can't be greater than number of args")
    );
    assert_eq!(
        h.cmd(&["SINTERCARD", "1", "a", "LIMIT", "-1"]),
        err("ERR LIMIT can't be negative")
    );
    assert_eq!(
        h.cmd(&["SINTERCARD", "1", "a", "FOO"]),
        err("ERR syntax error")
    );
}

#[test]
fn smove_moves_one_member() {
    let mut h = Harness::new();
    h.cmd(&["SADD", "a", "1", "2"]);
    take_propagated();
    assert_eq!(h.cmd(&["SMOVE", "a", "b", "1"]), int(1));
    assert_eq!(h.cmd(&["SMOVE", "a", "b", "9"]), int(0));
    assert_eq!(h.cmd(&["SMOVE", "a", "a", "2"]), int(1));
    assert_eq!(h.cmd(&["SMOVE", "none", "b", "2"]), int(0));
    assert_eq!(h.cmd(&["SMOVE", "a", "b", "2"]), int(1));
    assert_eq!(h.cmd(&["EXISTS", "a"]), int(0));
    assert_eq!(h.cmd(&["SMEMBERS", "b"]), set(&["1", "2"]));
    assert_eq!(take_propagated(), ["SMOVE a b 1", "SMOVE a b 2"]);
}

#[test]
fn spop_and_srandmember_draw_from_the_node_rng() {
    let mut h = Harness::new();
    h.cmd(&["SADD", "s", "1", "2", "3", "4", "5"]);
    take_propagated();
    assert_eq!(h.cmd(&["SPOP", "none"]), Reply::Nil);
    assert_eq!(h.cmd(&["SPOP", "none", "2"]), set(&[]));
    assert_eq!(h.cmd(&["SPOP", "s", "0"]), set(&[]));
    assert_eq!(
        h.cmd(&["SPOP", "s", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(h.cmd(&["SPOP", "s", "1", "2"]), err("ERR syntax error"));
    let Reply::Bulk(one) = h.cmd(&["SPOP", "s"]) else {
        panic!()
    };
    let Reply::Set(two) = h.cmd(&["SPOP", "s", "2"]) else {
        panic!()
    };
    assert_eq!(two.len(), 2);
    assert_eq!(h.cmd(&["SCARD", "s"]), int(2));
    let propagated = take_propagated();
    assert_eq!(
        propagated[0],
        format!("SREM s {}", String::from_utf8_lossy(&one))
    );
    assert!(propagated[1].starts_with("SREM s "), "{propagated:?}");
    let Reply::Set(rest) = h.cmd(&["SPOP", "s", "10"]) else {
        panic!()
    };
    assert_eq!(rest.len(), 2);
    assert_eq!(take_propagated(), ["DEL s"]);
    h.cmd(&["SADD", "r", "1", "2", "3"]);
    assert_eq!(h.cmd(&["SRANDMEMBER", "none"]), Reply::Nil);
    assert_eq!(h.cmd(&["SRANDMEMBER", "none", "3"]), Reply::Array(vec![]));
    assert_eq!(
        h.cmd(&["SRANDMEMBER", "r", "5"]),
        Reply::Array(vec![bulk("1"), bulk("2"), bulk("3")])
    );
    let Reply::Array(many) = h.cmd(&["SRANDMEMBER", "r", "-7"]) else {
        panic!()
    };
    assert_eq!(many.len(), 7);
    assert!(matches!(h.cmd(&["SRANDMEMBER", "r"]), Reply::Bulk(_)));
    assert_eq!(
        h.cmd(&["SRANDMEMBER", "r", "x"]),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn sscan_answers_everything_at_once() {
    let mut h = Harness::new();
    h.cmd(&["SADD", "s", "10", "2", "30"]);
    let scan = |members: &[&str]| {
        Reply::Array(vec![
            bulk("0"),
            Reply::Array(members.iter().map(|m| bulk(m)).collect()),
        ])
    };
    assert_eq!(h.cmd(&["SSCAN", "s", "0"]), scan(&["2", "10", "30"]));
    assert_eq!(
        h.cmd(&["SSCAN", "s", "0", "MATCH", "*0"]),
        scan(&["10", "30"])
    );
    assert_eq!(h.cmd(&["SSCAN", "s", "x"]), err("ERR invalid cursor"));
    assert_eq!(h.cmd(&["SSCAN", "none", "0"]), scan(&[]));
    assert_eq!(h.cmd(&["SADD", "s", "x"]), int(1));
    assert_eq!(h.cmd(&["DEL", "s"]), int(1));
    assert_eq!(h.cmd(&["FLUSHALL"]), ok());
}
