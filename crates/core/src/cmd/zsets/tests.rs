use super::*;
use crate::cmd::keys::tests::{bulk, err, int, take_propagated, Harness};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

fn members(names: &[&str]) -> Reply {
    arr(names.iter().map(|m| bulk(m)).collect())
}

/// RESP2's flat `member, score, …` (scores as doubles; the codec prints them as text).
fn scored(pairs: &[(&str, f64)]) -> Reply {
    arr(pairs
        .iter()
        .flat_map(|(m, s)| [bulk(m), Reply::Double(*s)])
        .collect())
}

/// RESP3's `[member, score]` pairs.
fn pairs(pairs: &[(&str, f64)]) -> Reply {
    arr(pairs
        .iter()
        .map(|(m, s)| arr(vec![bulk(m), Reply::Double(*s)]))
        .collect())
}

fn resp3(h: &mut Harness) {
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
fn ranges_by_rank_score_and_lex() {
    let mut h = Harness::new();
    h.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    assert_eq!(h.cmd(&["ZRANGE", "z", "-2", "-1"]), members(&["c", "d"]));
    assert_eq!(
        h.cmd(&["ZRANGE", "z", "0", "1", "REV", "WITHSCORES"]),
        scored(&[("d", 4.0), ("c", 3.0)])
    );
    assert_eq!(
        h.cmd(&["ZRANGE", "z", "(1", "3", "BYSCORE"]),
        members(&["b", "c"])
    );
    assert_eq!(
        h.cmd(&["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2"]),
        members(&["c", "b"])
    );
    assert_eq!(
        h.cmd(&["ZRANGE", "z", "[b", "(d", "BYLEX"]),
        members(&["b", "c"])
    );
    assert_eq!(
        h.cmd(&["ZRANGEBYSCORE", "z", "1", "3", "LIMIT", "-1", "2"]),
        members(&[])
    );
    assert_eq!(
        h.cmd(&["ZRANGEBYSCORE", "z", "1", "3", "LIMIT", "1", "-1"]),
        members(&["b", "c"])
    );
    assert_eq!(
        h.cmd(&["ZREVRANGEBYSCORE", "z", "(4", "(1"]),
        members(&["c", "b"])
    );
    assert_eq!(
        h.cmd(&["ZRANGEBYLEX", "z", "-", "+", "LIMIT", "1", "1"]),
        members(&["b"])
    );
    assert_eq!(
        h.cmd(&["ZREVRANGEBYLEX", "z", "[c", "-"]),
        members(&["c", "b", "a"])
    );
    assert_eq!(h.cmd(&["ZREVRANGE", "z", "1", "1"]), members(&["c"]));
    assert_eq!(h.cmd(&["ZRANGE", "nokey", "0", "-1"]), members(&[]));
    let errors: &[(&[&str], &str)] = &[
        (
            &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (
            &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
        (
            &["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"],
            "ERR syntax error",
        ),
        (&["ZREVRANGE", "z", "0", "1", "REV"], "ERR syntax error"),
        (
            &["ZRANGE", "z", "x", "1"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZRANGE", "z", "(x", "1", "BYSCORE"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGEBYLEX", "z", "a", "+"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZRANGESTORE", "d", "z", "0", "1", "WITHSCORES"],
            "ERR syntax error",
        ),
    ];
    for (args, text) in errors {
        assert_eq!(h.cmd(args), err(text), "{args:?}");
    }
    resp3(&mut h);
    assert_eq!(
        h.cmd(&["ZRANGE", "z", "0", "0", "WITHSCORES"]),
        pairs(&[("a", 1.0)])
    );
    assert_eq!(
        h.cmd(&["ZRANGEBYSCORE", "z", "4", "4", "WITHSCORES"]),
        pairs(&[("d", 4.0)])
    );
    assert_eq!(take_propagated(), ["ZADD z 1 a 2 b 3 c 4 d"]);
}

#[test]
fn rangestore_and_range_removals() {
    let mut h = Harness::new();
    h.cmd(&[
        "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
    ]);
    assert_eq!(
        h.cmd(&[
            "ZRANGESTORE",
            "d",
            "z",
            "(1",
            "4",
            "BYSCORE",
            "LIMIT",
            "1",
            "5"
        ]),
        int(2)
    );
    assert_eq!(
        h.cmd(&["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        scored(&[("c", 3.0), ("d", 4.0)])
    );
    assert_eq!(h.cmd(&["ZRANGESTORE", "d", "z", "9", "10"]), int(0));
    assert_eq!(
        h.cmd(&["EXISTS", "d"]),
        int(0),
        "an empty range deletes the destination"
    );
    assert_eq!(h.cmd(&["ZRANGESTORE", "d", "z", "9", "10"]), int(0));
    assert_eq!(h.cmd(&["ZREMRANGEBYRANK", "z", "-1", "-1"]), int(1));
    assert_eq!(h.cmd(&["ZREMRANGEBYSCORE", "z", "(1", "2"]), int(1));
    assert_eq!(h.cmd(&["ZREMRANGEBYLEX", "z", "[c", "+"]), int(2));
    assert_eq!(h.cmd(&["ZREMRANGEBYLEX", "z", "[c", "+"]), int(0));
    assert_eq!(h.cmd(&["ZREMRANGEBYRANK", "z", "0", "-1"]), int(1));
    assert_eq!(h.cmd(&["EXISTS", "z"]), int(0));
    assert_eq!(
        h.cmd(&["ZREMRANGEBYSCORE", "z", "x", "1"]),
        err("ERR min or max is not a float")
    );
    assert_eq!(
        take_propagated(),
        [
            "ZADD z 1 a 2 b 3 c 4 d 5 e",
            "ZRANGESTORE d z (1 4 BYSCORE LIMIT 1 5",
            "ZRANGESTORE d z 9 10",
            "ZREMRANGEBYRANK z -1 -1",
            "ZREMRANGEBYSCORE z (1 2",
            "ZREMRANGEBYLEX z [c +",
            "ZREMRANGEBYRANK z 0 -1",
        ]
    );
}

#[test]
fn pops_answer_and_replay_what_they_took() {
    let mut h = Harness::new();
    h.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    assert_eq!(h.cmd(&["ZPOPMIN", "z"]), scored(&[("a", 1.0)]));
    assert_eq!(
        h.cmd(&["ZPOPMAX", "z", "2"]),
        scored(&[("d", 4.0), ("c", 3.0)])
    );
    assert_eq!(h.cmd(&["ZPOPMIN", "z", "0"]), arr(vec![]));
    assert_eq!(
        h.cmd(&["ZPOPMIN", "z", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(h.cmd(&["ZPOPMIN", "nokey"]), arr(vec![]));
    h.cmd(&["ZADD", "y", "5", "e", "6", "f"]);
    let popped = arr(vec![bulk("y"), pairs(&[("f", 6.0), ("e", 5.0)])]);
    assert_eq!(
        h.cmd(&["ZMPOP", "2", "nokey", "y", "MAX", "COUNT", "10"]),
        popped
    );
    assert_eq!(h.cmd(&["ZMPOP", "1", "y", "MIN"]), Reply::NilArray);
    assert_eq!(
        h.cmd(&["ZMPOP", "0", "y", "MIN"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        h.cmd(&["ZMPOP", "1", "y", "MIN", "COUNT", "0"]),
        err("ERR count should be greater than 0")
    );
    assert_eq!(h.cmd(&["ZMPOP", "2", "y", "MIN"]), err("ERR syntax error"));
    resp3(&mut h);
    assert_eq!(
        h.cmd(&["ZPOPMIN", "z"]),
        scored(&[("b", 2.0)]),
        "flat without a count"
    );
    h.cmd(&["ZADD", "z", "1", "a"]);
    assert_eq!(h.cmd(&["ZPOPMIN", "z", "1"]), pairs(&[("a", 1.0)]));
    assert_eq!(
        take_propagated(),
        [
            "ZADD z 1 a 2 b 3 c 4 d",
            "ZPOPMIN z",
            "ZPOPMAX z 2",
            "ZADD y 5 e 6 f",
            "ZPOPMAX y 2",
            "ZPOPMIN z",
            "ZADD z 1 a",
            "ZPOPMIN z 1",
        ]
    );
}

#[test]
fn pop_members_is_the_shared_pop() {
    let mut h = Harness::new();
    h.cmd(&["ZADD", "z", "1", "a", "2", "b"]);
    let popped = pops::pop_members(&mut h.node, b"z", 5, false).expect("a sorted set");
    assert_eq!(popped, [(Bytes::from("a"), 1.0), (Bytes::from("b"), 2.0)]);
    assert_eq!(h.cmd(&["EXISTS", "z"]), int(0));
    assert_eq!(pops::pop_replay(b"z", 2, true), ["ZPOPMAX", "z", "2"]);
}

#[test]
fn random_members_and_scan() {
    let mut h = Harness::new();
    h.cmd(&["ZADD", "z", "1.5", "a", "2", "b", "3", "c"]);
    assert_eq!(
        h.cmd(&["ZRANDMEMBER", "z", "5", "WITHSCORES"]),
        scored(&[("c", 3.0), ("b", 2.0), ("a", 1.5)]),
        "the whole set, highest first, as Redis answers"
    );
    let Reply::Array(picks) = h.cmd(&["ZRANDMEMBER", "z", "-10"]) else {
        panic!("an array")
    };
    assert_eq!(picks.len(), 10);
    let Reply::Array(two) = h.cmd(&["ZRANDMEMBER", "z", "2"]) else {
        panic!("an array")
    };
    assert!(two.len() == 2 && two[0] != two[1], "distinct: {two:?}");
    assert_eq!(h.cmd(&["ZRANDMEMBER", "nokey"]), Reply::Nil);
    assert_eq!(
        h.cmd(&["ZRANDMEMBER", "z", "1", "X"]),
        err("ERR syntax error")
    );
    assert_eq!(
        h.cmd(&["ZSCAN", "z", "0", "MATCH", "[ab]"]),
        arr(vec![bulk("0"), members(&["a", "1.5", "b", "2"])])
    );
    resp3(&mut h);
    let Reply::Array(pairs_back) = h.cmd(&["ZRANDMEMBER", "z", "-2", "WITHSCORES"]) else {
        panic!("an array")
    };
    assert!(pairs_back
        .iter()
        .all(|p| matches!(p, Reply::Array(pair) if pair.len() == 2)));
}

#[test]
fn random_members_follow_the_node_seed() {
    let picks = || {
        let mut h = Harness::new();
        h.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        (0..5)
            .map(|_| h.cmd(&["ZRANDMEMBER", "z", "-3"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(picks(), picks());
}

#[test]
fn algebra_weights_aggregates_and_sets() {
    let mut h = Harness::new();
    h.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    h.cmd(&["SADD", "s", "a", "x"]);
    assert_eq!(
        h.cmd(&["ZUNION", "2", "z", "s", "WITHSCORES"]),
        scored(&[("x", 1.0), ("a", 2.0), ("b", 2.0), ("c", 3.0)])
    );
    assert_eq!(
        h.cmd(&[
            "ZINTER",
            "2",
            "z",
            "s",
            "WEIGHTS",
            "2",
            "5",
            "AGGREGATE",
            "MAX",
            "WITHSCORES"
        ]),
        scored(&[("a", 5.0)])
    );
    assert_eq!(
        h.cmd(&["ZUNION", "2", "z", "s", "WEIGHTS", "inf", "0", "WITHSCORES"]),
        scored(&[
            ("x", 0.0),
            ("a", f64::INFINITY),
            ("b", f64::INFINITY),
            ("c", f64::INFINITY)
        ]),
        "inf * 0 counts as 0"
    );
    assert_eq!(h.cmd(&["ZDIFF", "2", "z", "s"]), members(&["b", "c"]));
    assert_eq!(h.cmd(&["ZINTERCARD", "2", "z", "s"]), int(1));
    assert_eq!(h.cmd(&["ZINTERCARD", "1", "z", "LIMIT", "2"]), int(2));
    assert_eq!(
        h.cmd(&["ZUNIONSTORE", "d", "2", "z", "s", "AGGREGATE", "MIN"]),
        int(4)
    );
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "d"]), bulk("listpack"));
    assert_eq!(h.cmd(&["ZINTERSTORE", "d", "2", "z", "nokey"]), int(0));
    assert_eq!(h.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(
        h.cmd(&["ZDIFFSTORE", "d", "1", "nokey"]),
        int(0),
        "nothing to delete"
    );
    let errors: &[(&[&str], &str)] = &[
        (
            &["ZUNION", "0", "z"],
            "ERR at least 1 input key is needed for 'zunion' command",
        ),
        (
            &["ZINTERSTORE", "d", "0", "z"],
            "ERR at least 1 input key is needed for 'zinterstore' command",
        ),
        (&["ZUNION", "2", "z"], "ERR syntax error"),
        (
            &["ZUNION", "1", "z", "WEIGHTS", "x"],
            "ERR weight value is not a float",
        ),
        (
            &["ZUNION", "1", "z", "AGGREGATE", "avg"],
            "ERR syntax error",
        ),
        (&["ZDIFF", "1", "z", "WEIGHTS", "1"], "ERR syntax error"),
        (
            &["ZUNIONSTORE", "d", "1", "z", "WITHSCORES"],
            "ERR syntax error",
        ),
        (
            &["ZINTERCARD", "1", "z", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
    ];
    for (args, text) in errors {
        assert_eq!(h.cmd(args), err(text), "{args:?}");
    }
    resp3(&mut h);
    assert_eq!(
        h.cmd(&["ZDIFF", "2", "z", "s", "WITHSCORES"]),
        pairs(&[("b", 2.0), ("c", 3.0)])
    );
    assert_eq!(
        take_propagated(),
        [
            "ZADD z 1 a 2 b 3 c",
            "SADD s a x",
            "ZUNIONSTORE d 2 z s AGGREGATE MIN",
            "ZINTERSTORE d 2 z nokey",
        ]
    );
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
