//! ZRANGE and its forms, ZRANGESTORE and the range removals.

use super::*;

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
