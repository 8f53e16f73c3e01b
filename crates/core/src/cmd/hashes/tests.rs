use super::*;
use crate::cmd::keys::tests::{bulk as b, err, int, ok, take_propagated, Harness};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn items(words: &[&str]) -> Reply {
    Reply::Array(words.iter().map(|w| b(w)).collect())
}

fn map(pairs: &[(&str, &str)]) -> Reply {
    Reply::Map(pairs.iter().map(|(f, v)| (b(f), b(v))).collect())
}

#[test]
fn fields_are_set_read_and_deleted() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(h.cmd(&["HSET", "h", "a", "3", "c", "4"]), int(1));
    assert_eq!(h.cmd(&["HMSET", "h", "d", "5"]), ok());
    assert_eq!(h.cmd(&["HSETNX", "h", "a", "x"]), int(0));
    assert_eq!(h.cmd(&["HSETNX", "h", "e", "6"]), int(1));
    assert_eq!(h.cmd(&["HGET", "h", "a"]), b("3"));
    assert_eq!(h.cmd(&["HGET", "h", "zz"]), Reply::Nil);
    assert_eq!(h.cmd(&["HGET", "none", "a"]), Reply::Nil);
    assert_eq!(
        h.cmd(&["HMGET", "h", "a", "zz", "e"]),
        Reply::Array(vec![b("3"), Reply::Nil, b("6")])
    );
    assert_eq!(
        h.cmd(&["HMGET", "none", "a"]),
        Reply::Array(vec![Reply::Nil])
    );
    assert_eq!(h.cmd(&["HLEN", "h"]), int(5));
    assert_eq!(h.cmd(&["HEXISTS", "h", "d"]), int(1));
    assert_eq!(h.cmd(&["HSTRLEN", "h", "a"]), int(1));
    assert_eq!(h.cmd(&["HSTRLEN", "h", "zz"]), int(0));
    assert_eq!(h.cmd(&["HDEL", "h", "b", "zz", "b"]), int(1));
    assert_eq!(
        h.cmd(&["HGETALL", "h"]),
        map(&[("a", "3"), ("c", "4"), ("d", "5"), ("e", "6")]),
        "insertion order, the deleted field's gap closed"
    );
    assert_eq!(h.cmd(&["HKEYS", "h"]), items(&["a", "c", "d", "e"]));
    assert_eq!(h.cmd(&["HVALS", "h"]), items(&["3", "4", "5", "6"]));
    assert_eq!(h.cmd(&["HDEL", "h", "a", "c", "d", "e"]), int(4));
    assert_eq!(h.cmd(&["EXISTS", "h"]), int(0));
    assert_eq!(h.cmd(&["HDEL", "h", "a"]), int(0));
    assert_eq!(h.cmd(&["HGETALL", "h"]), map(&[]));
    assert_eq!(
        h.cmd(&["HSET", "h", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'hset' command")
    );
    assert_eq!(
        h.cmd(&["HMSET", "h", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'hmset' command")
    );
    assert_eq!(
        take_propagated(),
        [
            "HSET h a 1 b 2",
            "HSET h a 3 c 4",
            "HMSET h d 5",
            "HSETNX h e 6",
            "HDEL h b zz b",
            "HDEL h a c d e"
        ]
    );
}

#[test]
fn every_hash_command_refuses_other_types() {
    let mut h = Harness::new();
    h.cmd(&["RPUSH", "l", "a"]);
    let cases: &[&[&str]] = &[
        &["HSET", "l", "f", "v"],
        &["HMSET", "l", "f", "v"],
        &["HSETNX", "l", "f", "v"],
        &["HGET", "l", "f"],
        &["HMGET", "l", "f"],
        &["HDEL", "l", "f"],
        &["HLEN", "l"],
        &["HEXISTS", "l", "f"],
        &["HSTRLEN", "l", "f"],
        &["HKEYS", "l"],
        &["HVALS", "l"],
        &["HGETALL", "l"],
        &["HINCRBY", "l", "f", "1"],
        &["HINCRBYFLOAT", "l", "f", "1"],
        &["HRANDFIELD", "l"],
        &["HRANDFIELD", "l", "2"],
        &["HSCAN", "l", "0"],
    ];
    take_propagated();
    for args in cases {
        assert_eq!(h.cmd(args), err(WRONGTYPE), "{args:?}");
    }
    assert!(take_propagated().is_empty());
}

#[test]
fn counters_in_fields() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(h.cmd(&["HINCRBY", "h", "n", "-7"]), int(-2));
    h.cmd(&[
        "HSET",
        "h",
        "s",
        "x",
        "sp",
        " 1",
        "max",
        "9223372036854775807",
    ]);
    assert_eq!(
        h.cmd(&["HINCRBY", "h", "s", "1"]),
        err("ERR hash value is not an integer")
    );
    assert_eq!(
        h.cmd(&["HINCRBY", "h", "sp", "1"]),
        err("ERR hash value is not an integer")
    );
    assert_eq!(
        h.cmd(&["HINCRBY", "h", "n", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        h.cmd(&["HINCRBY", "h", "max", "1"]),
        err("ERR increment or decrement would overflow")
    );
    take_propagated();
    assert_eq!(h.cmd(&["HINCRBYFLOAT", "h", "f", "10"]), b("10"));
    assert_eq!(h.cmd(&["HINCRBYFLOAT", "h", "f", "0.1"]), b("10.1"));
    assert_eq!(h.cmd(&["HINCRBYFLOAT", "h", "f", "-10.1"]), b("0"));
    assert_eq!(h.cmd(&["HINCRBYFLOAT", "h", "f", "5.0e3"]), b("5000"));
    assert_eq!(
        h.cmd(&["HINCRBYFLOAT", "h", "f", "10.1"]),
        b("5010.10000000000000009"),
        "long double rounding, as redis-server prints it"
    );
    h.cmd(&["HSET", "h", "f", "5000"]);
    assert_eq!(
        h.cmd(&["HINCRBYFLOAT", "h", "s", "1"]),
        err("ERR hash value is not a float")
    );
    assert_eq!(
        h.cmd(&["HINCRBYFLOAT", "h", "f", "x"]),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        h.cmd(&["HINCRBYFLOAT", "h", "f", "inf"]),
        err("ERR value is NaN or Infinity")
    );
    assert!(matches!(
        h.cmd(&["HINCRBYFLOAT", "h", "big", "1e4932"]),
        Reply::Bulk(_)
    ));
    assert_eq!(
        h.cmd(&["HINCRBYFLOAT", "h", "big", "1e4932"]),
        err("ERR increment would produce NaN or Infinity")
    );
    let propagated = take_propagated();
    assert_eq!(
        propagated[..4],
        [
            "HSET h f 10",
            "HSET h f 10.1",
            "HSET h f 0",
            "HSET h f 5000"
        ],
        "HINCRBYFLOAT replays as HSET of the result"
    );
}

#[test]
fn hscan_answers_everything_at_once() {
    let mut h = Harness::new();
    h.cmd(&["HSET", "h", "f1", "a", "g", "b", "f2", "c"]);
    let scan = |fields: &[&str]| Reply::Array(vec![b("0"), items(fields)]);
    assert_eq!(
        h.cmd(&["HSCAN", "h", "0"]),
        scan(&["f1", "a", "g", "b", "f2", "c"])
    );
    assert_eq!(
        h.cmd(&["HSCAN", "h", "0", "MATCH", "f*", "COUNT", "1"]),
        scan(&["f1", "a", "f2", "c"])
    );
    assert_eq!(h.cmd(&["HSCAN", "none", "0", "FOO"]), scan(&[]));
    assert_eq!(h.cmd(&["HSCAN", "h", "x"]), err("ERR invalid cursor"));
    assert_eq!(
        h.cmd(&["HSCAN", "h", "0", "COUNT", "0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        h.cmd(&["HSCAN", "h", "0", "TYPE", "string"]),
        err("ERR syntax error")
    );
}

#[test]
fn hrandfield_draws_from_the_node_rng() {
    let mut h = Harness::new();
    h.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(h.cmd(&["HRANDFIELD", "none"]), Reply::Nil);
    assert_eq!(h.cmd(&["HRANDFIELD", "none", "3"]), items(&[]));
    assert_eq!(h.cmd(&["HRANDFIELD", "h", "0"]), items(&[]));
    assert_eq!(
        h.cmd(&["HRANDFIELD", "h", "5", "WITHVALUES"]),
        items(&["a", "1", "b", "2", "c", "3"]),
        "a count past the size answers the whole hash in order"
    );
    let Reply::Array(two) = h.cmd(&["HRANDFIELD", "h", "2"]) else {
        panic!()
    };
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1], "a positive count picks distinct fields");
    let Reply::Array(many) = h.cmd(&["HRANDFIELD", "h", "-10"]) else {
        panic!()
    };
    assert_eq!(many.len(), 10);
    assert!(matches!(h.cmd(&["HRANDFIELD", "h"]), Reply::Bulk(_)));
    assert_eq!(
        h.cmd(&["HRANDFIELD", "h", "1", "2"]),
        err("ERR syntax error")
    );
    assert_eq!(
        h.cmd(&["HRANDFIELD", "h", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        h.cmd(&["HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"]),
        err("ERR value is out of range")
    );
    assert_eq!(
        h.cmd(&["HRANDFIELD", "h", "-9223372036854775807"]),
        err("ERR value is out of range"),
        "a node refuses to build 2^63 picks"
    );
    // The same seed draws the same fields.
    let mut again = Harness::new();
    again.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    let mut first = Harness::new();
    first.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(
        again.cmd(&["HRANDFIELD", "h", "-5"]),
        first.cmd(&["HRANDFIELD", "h", "-5"])
    );
}

#[test]
fn hashes_turn_hashtable_past_redis_thresholds() {
    let mut h = Harness::new();
    h.cmd(&["HSET", "h", "f", "v"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "h"]), b("listpack"));
    h.cmd(&["HSET", "h", "g", &"x".repeat(65)]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "h"]), b("hashtable"));
    for i in 0..=512 {
        h.cmd(&["HSET", "big", &i.to_string(), "v"]);
    }
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "big"]), b("hashtable"));
}
