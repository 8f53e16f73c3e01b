//! Exact replies and replay forms of the stream commands on one node.

use bytes::Bytes;

use crate::cmd::keys::tests::{bulk, err, int, ok, take_propagated, Harness};
use crate::reply::Reply;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

fn entry(id: &str, pairs: &[&str]) -> Reply {
    Reply::Array(vec![
        bulk(id),
        Reply::Array(pairs.iter().map(|p| bulk(p)).collect()),
    ])
}

fn entries(list: &[(&str, &[&str])]) -> Reply {
    Reply::Array(list.iter().map(|(id, p)| entry(id, p)).collect())
}

/// A harness whose stream `s` has entries `1-1` … `n-1`, each `f <i>`.
fn with_entries(n: u64) -> Harness {
    let mut h = Harness::new();
    for i in 1..=n {
        let id = format!("{i}-1");
        assert_eq!(h.cmd(&["XADD", "s", &id, "f", &i.to_string()]), bulk(&id));
    }
    take_propagated();
    h
}

#[test]
fn xadd_takes_every_id_form_and_replays_the_id_it_chose() {
    let mut h = Harness::new();
    // The harness's wall clock is 1_000_000 ms.
    assert_eq!(h.cmd(&["XADD", "s", "*", "a", "1"]), bulk("1000000-0"));
    assert_eq!(h.cmd(&["XADD", "s", "*", "a", "2"]), bulk("1000000-1"));
    assert_eq!(
        h.cmd(&["XADD", "s", "1000000-*", "b", "3"]),
        bulk("1000000-2")
    );
    assert_eq!(
        h.cmd(&["XADD", "s", "2000000-*", "b", "4"]),
        bulk("2000000-0")
    );
    assert_eq!(
        h.cmd(&["XADD", "s", "2000000-5", "c", "5"]),
        bulk("2000000-5")
    );
    assert_eq!(
        h.cmd(&["XADD", "s", "3000000", "c", "6"]),
        bulk("3000000-0")
    );
    h.advance_ms(10);
    assert_eq!(
        h.cmd(&["XADD", "s", "*", "d", "7"]),
        bulk("3000000-1"),
        "a clock behind the last ID follows the last ID"
    );
    assert_eq!(h.cmd(&["XLEN", "s"]), int(7));
    assert_eq!(h.cmd(&["TYPE", "s"]), Reply::Simple("stream".into()));
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "s"]), bulk("stream"));
    assert_eq!(
        take_propagated(),
        [
            "XADD s 1000000-0 a 1",
            "XADD s 1000000-1 a 2",
            "XADD s 1000000-2 b 3",
            "XADD s 2000000-0 b 4",
            "XADD s 2000000-5 c 5",
            "XADD s 3000000 c 6",
            "XADD s 3000000-1 d 7",
        ]
    );
}

#[test]
fn xadd_refuses_bad_input_with_redis_errors_and_changes_nothing() {
    let mut h = with_entries(3);
    let smaller =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    let cases: &[(&[&str], &str)] = &[
        (&["XADD", "s", "3-1", "f", "v"], smaller),
        (&["XADD", "s", "2-*", "f", "v"], smaller),
        (
            &["XADD", "s", "0-0", "f", "v"],
            "ERR The ID specified in XADD must be greater than 0-0",
        ),
        (&["XADD", "s", "5-x", "f", "v"], INVALID_ID),
        (&["XADD", "s", "+", "f", "v"], INVALID_ID),
        (
            &["XADD", "s", "*", "f"],
            "ERR wrong number of arguments for 'xadd' command",
        ),
        (
            &["XADD", "s", "*", "f", "v", "g"],
            "ERR wrong number of arguments for 'xadd' command",
        ),
        (
            &["XADD", "s", "MAXLEN", "-1", "*", "f", "v"],
            "ERR The MAXLEN argument must be >= 0.",
        ),
        (
            &["XADD", "s", "MAXLEN", "x", "*", "f", "v"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "f", "v"],
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
        ),
        (
            &["XADD", "s", "LIMIT", "5", "*", "f", "v"],
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ),
        (
            &["XADD", "s", "MAXLEN", "1", "LIMIT", "5", "*", "f", "v"],
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ),
        (
            &[
                "XADD", "s", "MAXLEN", "~", "1", "LIMIT", "-1", "*", "f", "v",
            ],
            "ERR The LIMIT argument must be >= 0.",
        ),
        (&["XADD", "s", "MINID", "-", "*", "f", "v"], INVALID_ID),
    ];
    for (args, error) in cases {
        assert_eq!(h.cmd(args), err(error), "{args:?}");
    }
    assert_eq!(h.cmd(&["XLEN", "s"]), int(3));
    assert!(take_propagated().is_empty());
    h.cmd(&["SET", "str", "x"]);
    assert_eq!(h.cmd(&["XADD", "str", "*", "f", "v"]), err(WRONGTYPE));
    assert_eq!(
        h.cmd(&["XADD", "none", "NOMKSTREAM", "*", "f", "v"]),
        Reply::Nil
    );
    assert_eq!(h.cmd(&["EXISTS", "none"]), int(0));
    h.cmd(&["XSETID", "s", "18446744073709551615-18446744073709551615"]);
    assert_eq!(
        h.cmd(&["XADD", "s", "*", "f", "v"]),
        err("ERR The stream has exhausted the last possible ID, unable to add more items")
    );
}

#[test]
fn xadd_trims_and_replays_an_approximate_trim_as_the_exact_one_it_made() {
    let mut h = Harness::new();
    h.cmd(&["CONFIG", "SET", "stream-node-max-entries", "3"]);
    for i in 1..=7 {
        h.cmd(&["XADD", "s", &format!("{i}-0"), "f", "v"]);
    }
    take_propagated();
    // Nodes 1-3, 4-6, 7-8 after this add: `~ 4` drops one whole node only.
    assert_eq!(
        h.cmd(&["XADD", "s", "MAXLEN", "~", "4", "8-0", "f", "v"]),
        bulk("8-0")
    );
    assert_eq!(h.cmd(&["XLEN", "s"]), int(5));
    assert_eq!(
        h.cmd(&["XADD", "s", "MAXLEN", "=", "3", "9-0", "f", "v"]),
        bulk("9-0")
    );
    assert_eq!(h.cmd(&["XLEN", "s"]), int(3));
    assert_eq!(
        h.cmd(&["XADD", "s", "MINID", "~", "9", "*", "f", "v"]),
        bulk("1000000-0")
    );
    assert_eq!(
        take_propagated(),
        [
            "XADD s MAXLEN = 5 8-0 f v",
            "XADD s MAXLEN = 3 9-0 f v",
            "XADD s MINID = 7-0 1000000-0 f v",
        ]
    );
    assert_eq!(
        h.cmd(&["XRANGE", "s", "-", "+"]),
        entries(&[
            ("7-0", &["f", "v"]),
            ("8-0", &["f", "v"]),
            ("9-0", &["f", "v"]),
            ("1000000-0", &["f", "v"])
        ])
    );
}

#[test]
fn xtrim_counts_what_went_and_replays_only_when_something_did() {
    let mut h = with_entries(5);
    assert_eq!(
        h.cmd(&["XTRIM", "s", "MAXLEN", "~", "2"]),
        int(0),
        "one node, not whole"
    );
    assert_eq!(h.cmd(&["XTRIM", "s", "MAXLEN", "3"]), int(2));
    assert_eq!(h.cmd(&["XTRIM", "s", "MAXLEN", "3"]), int(0));
    assert_eq!(h.cmd(&["XTRIM", "s", "MINID", "5"]), int(2));
    assert_eq!(h.cmd(&["XTRIM", "none", "MAXLEN", "0"]), int(0));
    assert_eq!(h.cmd(&["XTRIM", "s", "5", "6"]), err("ERR syntax error"));
    assert_eq!(
        h.cmd(&["XTRIM", "s", "LIMIT", "1"]),
        err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    );
    assert_eq!(h.cmd(&["XLEN", "s"]), int(1));
    assert_eq!(
        h.cmd(&["XTRIM", "s", "MAXLEN", "~", "0"]),
        int(1),
        "the node is whole now"
    );
    assert_eq!(
        take_propagated(),
        ["XTRIM s MAXLEN 3", "XTRIM s MINID 5", "XTRIM s MAXLEN = 0"]
    );
    assert_eq!(h.cmd(&["XLEN", "s"]), int(0));
    assert_eq!(h.cmd(&["EXISTS", "s"]), int(1), "an emptied stream stays");
    assert_eq!(h.cmd(&["XADD", "s", "5-*", "f", "v"]), bulk("5-2"));
}

#[test]
fn xrange_reads_intervals_both_ways_with_counts() {
    let mut h = with_entries(4);
    let e = |i: u64| (format!("{i}-1"), i.to_string());
    let reply = |ids: &[u64]| {
        let all: Vec<(String, String)> = ids.iter().map(|i| e(*i)).collect();
        Reply::Array(all.iter().map(|(id, v)| entry(id, &["f", v])).collect())
    };
    assert_eq!(h.cmd(&["XRANGE", "s", "-", "+"]), reply(&[1, 2, 3, 4]));
    assert_eq!(h.cmd(&["XRANGE", "s", "2", "3"]), reply(&[2, 3]));
    assert_eq!(
        h.cmd(&["XRANGE", "s", "(1-1", "+", "COUNT", "2"]),
        reply(&[2, 3])
    );
    assert_eq!(h.cmd(&["XRANGE", "s", "-", "(4-1"]), reply(&[1, 2, 3]));
    assert_eq!(
        h.cmd(&["XREVRANGE", "s", "+", "-", "COUNT", "3"]),
        reply(&[4, 3, 2])
    );
    assert_eq!(h.cmd(&["XREVRANGE", "s", "(4-1", "2-1"]), reply(&[3, 2]));
    assert_eq!(
        h.cmd(&["XRANGE", "s", "-", "+", "COUNT", "0"]),
        Reply::NilArray
    );
    assert_eq!(
        h.cmd(&["XRANGE", "s", "-", "+", "COUNT", "-3"]),
        Reply::NilArray
    );
    assert_eq!(h.cmd(&["XRANGE", "none", "-", "+"]), Reply::Array(vec![]));
    assert_eq!(h.cmd(&["XRANGE", "s", "(-", "+"]), err(INVALID_ID));
    assert_eq!(h.cmd(&["XRANGE", "s", "x", "+"]), err(INVALID_ID));
    assert_eq!(
        h.cmd(&[
            "XRANGE",
            "s",
            "(18446744073709551615-18446744073709551615",
            "+"
        ]),
        err("ERR invalid start ID for the interval")
    );
    assert_eq!(
        h.cmd(&["XRANGE", "s", "-", "(0-0"]),
        err("ERR invalid end ID for the interval")
    );
    assert_eq!(
        h.cmd(&["XRANGE", "s", "-", "+", "LIMIT", "1"]),
        err("ERR syntax error")
    );
    h.cmd(&["SET", "str", "x"]);
    for args in [
        &["XRANGE", "str", "-", "+"][..],
        &["XREVRANGE", "str", "+", "-"],
        &["XLEN", "str"],
        &["XDEL", "str", "1"],
        &["XTRIM", "str", "MAXLEN", "1"],
        &["XSETID", "str", "1"],
        &["XREAD", "STREAMS", "str", "0"],
    ] {
        assert_eq!(h.cmd(args), err(WRONGTYPE), "{args:?}");
    }
}

#[test]
fn xdel_and_xsetid_keep_the_stream_ids() {
    let mut h = with_entries(3);
    assert_eq!(h.cmd(&["XDEL", "s", "2-1", "9-9", "2-1"]), int(1));
    assert_eq!(h.cmd(&["XDEL", "s", "9-9"]), int(0));
    assert_eq!(h.cmd(&["XDEL", "s", "x"]), err(INVALID_ID));
    assert_eq!(
        h.cmd(&["XDEL", "none", "x"]),
        int(0),
        "the key is looked up first"
    );
    assert_eq!(h.cmd(&["XLEN", "s"]), int(2));
    assert_eq!(
        h.cmd(&["XSETID", "s", "2-0"]),
        err("ERR The ID specified in XSETID is smaller than the target stream top item")
    );
    assert_eq!(
        h.cmd(&["XSETID", "s", "5-0", "ENTRIESADDED", "1"]),
        err("ERR The entries_added specified in XSETID is smaller than the target stream length")
    );
    assert_eq!(
        h.cmd(&["XSETID", "s", "5-0", "MAXDELETEDID", "6-0"]),
        err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
    );
    assert_eq!(
        h.cmd(&["XSETID", "s", "5-0", "ENTRIESADDED", "-1"]),
        err("ERR entries_added must be positive")
    );
    assert_eq!(h.cmd(&["XSETID", "none", "5-0"]), err("ERR no such key"));
    assert_eq!(
        h.cmd(&[
            "XSETID",
            "s",
            "5-0",
            "ENTRIESADDED",
            "10",
            "MAXDELETEDID",
            "4-0"
        ]),
        ok()
    );
    assert_eq!(
        h.cmd(&["XADD", "s", "5-0", "f", "v"]),
        err("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    );
    assert_eq!(h.cmd(&["XADD", "s", "5-*", "f", "v"]), bulk("5-1"));
    assert_eq!(
        take_propagated(),
        [
            "XDEL s 2-1 9-9 2-1",
            "XSETID s 5-0 ENTRIESADDED 10 MAXDELETEDID 4-0",
            "XADD s 5-1 f v"
        ]
    );
}

#[test]
fn xread_answers_at_once_in_resp2_and_resp3() {
    let mut h = with_entries(3);
    h.cmd(&["XADD", "t", "7-0", "g", "x"]);
    take_propagated();
    let both = Reply::Array(vec![
        Reply::Array(vec![bulk("s"), entries(&[("3-1", &["f", "3"])])]),
        Reply::Array(vec![bulk("t"), entries(&[("7-0", &["g", "x"])])]),
    ]);
    assert_eq!(h.cmd(&["XREAD", "STREAMS", "s", "t", "2-1", "0"]), both);
    assert_eq!(
        h.cmd(&["XREAD", "COUNT", "1", "STREAMS", "s", "none", "0", "0"]),
        Reply::Array(vec![Reply::Array(vec![
            bulk("s"),
            entries(&[("1-1", &["f", "1"])])
        ])])
    );
    assert_eq!(h.cmd(&["XREAD", "STREAMS", "s", "$"]), Reply::NilArray);
    assert_eq!(h.cmd(&["XREAD", "STREAMS", "s", "t", "0"]), err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
    assert_eq!(
        h.cmd(&["XREAD", "COUNT", "1", "STREAMX"]),
        err("ERR syntax error")
    );
    assert_eq!(h.cmd(&["XREAD", "STREAMS", "s", ">"]), err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
    assert_eq!(
        h.cmd(&["XREAD", "GROUP", "g", "c", "STREAMS", "s", "0"]),
        err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
    );
    assert_eq!(
        h.cmd(&["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"]),
        err("ERR timeout is negative")
    );
    assert_eq!(
        h.cmd(&["XREAD", "BLOCK", "1.5", "STREAMS", "s", "$"]),
        err("ERR timeout is not an integer or out of range")
    );
    h.cmd(&["HELLO", "3"]);
    assert_eq!(
        h.cmd(&["XREAD", "STREAMS", "t", "0"]),
        Reply::Map(vec![(bulk("t"), entries(&[("7-0", &["g", "x"])]))])
    );
    assert!(take_propagated().is_empty(), "reads replay nothing");
}

#[test]
fn xread_keys_follow_the_streams_keyword() {
    let spec = crate::cmd::all().find(|s| s.name == "xread").unwrap();
    let args: Vec<Bytes> = [
        "XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "a", "b", "0", "$",
    ]
    .iter()
    .map(|w| Bytes::from_static(w.as_bytes()))
    .collect();
    assert_eq!(spec.keys(&args), vec![&args[6], &args[7]]);
    assert!(spec.keys(&args[..9]).is_empty(), "unbalanced");
}
