//! Pops, random picks, ZSCAN and the algebra.

use super::*;

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
