use super::*;
use crate::cmd::keys::tests::{bulk, err, int, take_propagated, Harness};

mod algebra_pops;
mod ranges;

pub(super) const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

pub(super) fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

pub(super) fn members(names: &[&str]) -> Reply {
    arr(names.iter().map(|m| bulk(m)).collect())
}

/// RESP2's flat `member, score, …` (scores as doubles; the codec prints them as text).
pub(super) fn scored(pairs: &[(&str, f64)]) -> Reply {
    arr(pairs
        .iter()
        .flat_map(|(m, s)| [bulk(m), Reply::Double(*s)])
        .collect())
}

/// RESP3's `[member, score]` pairs.
pub(super) fn pairs(pairs: &[(&str, f64)]) -> Reply {
    arr(pairs
        .iter()
        .map(|(m, s)| arr(vec![bulk(m), Reply::Double(*s)]))
        .collect())
}

pub(super) fn resp3(h: &mut Harness) {
    h.cmd(&["HELLO", "3"]);
}

#[test]
fn zadd_options_and_their_errors() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["ZADD", "z", "1", "a", "2", "b"]), int(2));
    assert_eq!(h.cmd(&["ZADD", "z", "NX", "5", "a", "3", "c"]), int(1));
    assert_eq!(h.cmd(&["ZADD", "z", "XX", "5", "a", "9", "new"]), int(0));
    assert_eq!(h.cmd(&["ZSCORE", "z", "a"]), Reply::Double(5.0));
    assert_eq!(
        h.cmd(&["ZADD", "z", "GT", "CH", "1", "a", "7", "b"]),
        int(1)
    );
    assert_eq!(
        h.cmd(&["ZADD", "z", "LT", "CH", "1", "a", "1", "d"]),
        int(2)
    );
    assert_eq!(h.cmd(&["ZADD", "z", "CH", "1", "a"]), int(0), "same score");
    assert_eq!(
        h.cmd(&["ZADD", "z", "INCR", "2.5", "a"]),
        Reply::Double(3.5)
    );
    assert_eq!(h.cmd(&["ZADD", "z", "XX", "INCR", "1", "zz"]), Reply::Nil);
    assert_eq!(h.cmd(&["ZADD", "z", "NX", "INCR", "1", "a"]), Reply::Nil);
    assert_eq!(h.cmd(&["ZADD", "z", "GT", "INCR", "-1", "a"]), Reply::Nil);
    assert_eq!(h.cmd(&["ZADD", "nokey", "XX", "1", "a"]), int(0));
    assert_eq!(h.cmd(&["EXISTS", "nokey"]), int(0));
    let errors: &[(&[&str], &str)] = &[
        (&["ZADD", "z", "1", "a", "2"], "ERR syntax error"),
        (
            &["ZADD", "z", "NX", "XX", "1", "a"],
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "NX", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "INCR", "1", "a", "2", "b"],
            "ERR INCR option supports a single increment-element pair",
        ),
        (&["ZADD", "z", "nan", "a"], "ERR value is not a valid float"),
        (
            &["ZADD", "z", "1e400", "a"],
            "ERR value is not a valid float",
        ),
        (
            &["ZINCRBY", "z", "x", "a"],
            "ERR value is not a valid float",
        ),
    ];
    for (args, text) in errors {
        assert_eq!(h.cmd(args), err(text), "{args:?}");
    }
    h.cmd(&["ZADD", "z", "inf", "i"]);
    assert_eq!(
        h.cmd(&["ZINCRBY", "z", "-inf", "i"]),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(
        take_propagated(),
        [
            "ZADD z 1 a 2 b",
            "ZADD z NX 5 a 3 c",
            "ZADD z XX 5 a 9 new",
            "ZADD z GT CH 1 a 7 b",
            "ZADD z LT CH 1 a 1 d",
            "ZADD z INCR 2.5 a",
            "ZADD z inf i",
        ]
    );
}

#[test]
fn scores_ranks_counts_and_removal() {
    let mut h = Harness::new();
    h.cmd(&["ZADD", "z", "1", "a", "2", "b", "2", "c", "3", "d"]);
    assert_eq!(h.cmd(&["ZCARD", "z"]), int(4));
    assert_eq!(h.cmd(&["ZCARD", "nokey"]), int(0));
    assert_eq!(
        h.cmd(&["ZMSCORE", "z", "a", "zz", "d"]),
        arr(vec![Reply::Double(1.0), Reply::Nil, Reply::Double(3.0)])
    );
    assert_eq!(h.cmd(&["ZRANK", "z", "c"]), int(2));
    assert_eq!(h.cmd(&["ZREVRANK", "z", "c"]), int(1));
    assert_eq!(h.cmd(&["ZRANK", "z", "zz"]), Reply::Nil);
    assert_eq!(h.cmd(&["ZCOUNT", "z", "(1", "+inf"]), int(3));
    assert_eq!(
        h.cmd(&["ZCOUNT", "z", "x", "1"]),
        err("ERR min or max is not a float")
    );
    assert_eq!(h.cmd(&["ZLEXCOUNT", "z", "-", "+"]), int(4));
    assert_eq!(
        h.cmd(&["ZLEXCOUNT", "z", "a", "+"]),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(h.cmd(&["ZINCRBY", "z", "0.1", "a"]), Reply::Double(1.1));
    assert_eq!(h.cmd(&["ZREM", "z", "a", "zz"]), int(1));
    assert_eq!(h.cmd(&["ZREM", "z", "b", "c", "d"]), int(3));
    assert_eq!(
        h.cmd(&["EXISTS", "z"]),
        int(0),
        "the last member takes the key"
    );
    assert_eq!(h.cmd(&["ZREM", "z", "a"]), int(0));
    assert_eq!(
        take_propagated(),
        [
            "ZADD z 1 a 2 b 2 c 3 d",
            "ZINCRBY z 0.1 a",
            "ZREM z a zz",
            "ZREM z b c d"
        ]
    );
}

#[test]
fn every_zset_command_refuses_other_types() {
    let mut h = Harness::new();
    h.cmd(&["SET", "str", "v"]);
    take_propagated();
    let cases: &[&[&str]] = &[
        &["ZADD", "str", "1", "a"],
        &["ZINCRBY", "str", "1", "a"],
        &["ZREM", "str", "a"],
        &["ZCARD", "str"],
        &["ZSCORE", "str", "a"],
        &["ZMSCORE", "str", "a"],
        &["ZRANK", "str", "a"],
        &["ZREVRANK", "str", "a"],
        &["ZCOUNT", "str", "0", "1"],
        &["ZLEXCOUNT", "str", "-", "+"],
        &["ZRANGE", "str", "0", "-1"],
        &["ZRANGEBYSCORE", "str", "0", "1"],
        &["ZREVRANGEBYLEX", "str", "+", "-"],
        &["ZRANGESTORE", "d", "str", "0", "-1"],
        &["ZREMRANGEBYRANK", "str", "0", "1"],
        &["ZREMRANGEBYSCORE", "str", "0", "1"],
        &["ZREMRANGEBYLEX", "str", "-", "+"],
        &["ZPOPMIN", "str"],
        &["ZPOPMAX", "str", "0"],
        &["ZMPOP", "2", "nokey", "str", "MIN"],
        &["ZRANDMEMBER", "str"],
        &["ZRANDMEMBER", "str", "2"],
        &["ZSCAN", "str", "0"],
        &["ZUNION", "2", "nokey", "str"],
        &["ZINTERSTORE", "d", "1", "str"],
        &["ZDIFF", "1", "str"],
        &["ZINTERCARD", "1", "str"],
    ];
    for args in cases {
        assert_eq!(h.cmd(args), err(WRONGTYPE), "{args:?}");
    }
    assert!(take_propagated().is_empty());
}

#[test]
fn encodings_follow_the_limits() {
    let mut h = Harness::new();
    h.cmd(&["ZADD", "z", "1", "a"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "z"]), bulk("listpack"));
    let long = "m".repeat(65);
    h.cmd(&["ZADD", "z", "2", &long]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    h.cmd(&["ZREM", "z", &long]);
    assert_eq!(
        h.cmd(&["OBJECT", "ENCODING", "z"]),
        bulk("skiplist"),
        "one-way"
    );
    assert_eq!(h.cmd(&["ZRANGESTORE", "d", "z", "0", "-1"]), int(1));
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "d"]), bulk("listpack"));
    h.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "2"]);
    h.cmd(&["ZADD", "y", "1", "a", "2", "b"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "y"]), bulk("listpack"));
    h.cmd(&["ZADD", "y", "3", "c"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "y"]), bulk("skiplist"));
    assert_eq!(h.cmd(&["ZADD", "x", "1", "a", "2", "b", "3", "c"]), int(3));
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "x"]), bulk("skiplist"));
}

#[test]
fn negative_zero_is_kept_only_by_a_skiplist() {
    let mut h = Harness::new();
    h.cmd(&["ZADD", "z", "-0", "a"]);
    assert_eq!(h.cmd(&["ZSCORE", "z", "a"]), Reply::Double(0.0));
    let Reply::Double(score) = h.cmd(&["ZSCORE", "z", "a"]) else {
        panic!("a double")
    };
    assert!(score.is_sign_positive(), "a listpack reads -0 back as 0");
    h.cmd(&["ZADD", "z", "1", &"m".repeat(65)]);
    h.cmd(&["ZADD", "z", "-0", "b"]);
    let Reply::Double(score) = h.cmd(&["ZSCORE", "z", "b"]) else {
        panic!("a double")
    };
    assert!(score.is_sign_negative());
}

#[test]
fn multi_key_forms_list_their_keys() {
    let spec = |name: &str| crate::cmd::all().find(|c| c.name == name).expect("listed");
    let args: Vec<Bytes> = ["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"]
        .iter()
        .map(|a| Bytes::from(a.to_string()))
        .collect();
    let zunionstore = spec("zunionstore");
    assert_eq!(zunionstore.keys(&args), vec![&args[1], &args[3], &args[4]]);
    assert!(
        zunionstore.single_key(&args).is_none(),
        "not routed by the destination alone"
    );
    let args: Vec<Bytes> = ["ZMPOP", "2", "a", "b", "MIN"]
        .iter()
        .map(|a| Bytes::from(a.to_string()))
        .collect();
    assert_eq!(spec("zmpop").keys(&args), vec![&args[2], &args[3]]);
    assert_eq!(
        spec("zrangestore").keys(&args[..4]),
        vec![&args[1], &args[2]]
    );
}
