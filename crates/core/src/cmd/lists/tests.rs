use super::*;
use crate::cmd::keys::tests::{bulk, err, int, ok, take_propagated, Harness};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn items(words: &[&str]) -> Reply {
    Reply::Array(words.iter().map(|w| bulk(w)).collect())
}

fn ints(ns: &[i64]) -> Reply {
    Reply::Array(ns.iter().map(|&n| int(n)).collect())
}

fn all(h: &mut Harness, key: &str) -> Reply {
    h.cmd(&["LRANGE", key, "0", "-1"])
}

#[test]
fn pushes_and_pops_at_both_ends() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["LPUSH", "l", "a", "b"]), int(2));
    assert_eq!(h.cmd(&["RPUSH", "l", "c", "d"]), int(4));
    assert_eq!(all(&mut h, "l"), items(&["b", "a", "c", "d"]));
    assert_eq!(h.cmd(&["LPUSHX", "none", "x"]), int(0));
    assert_eq!(h.cmd(&["RPUSHX", "l", "e"]), int(5));
    assert_eq!(h.cmd(&["LLEN", "l"]), int(5));
    assert_eq!(h.cmd(&["LPOP", "l"]), bulk("b"));
    assert_eq!(h.cmd(&["RPOP", "l", "2"]), items(&["e", "d"]));
    assert_eq!(h.cmd(&["LPOP", "l", "0"]), items(&[]));
    assert_eq!(h.cmd(&["LPOP", "l", "10"]), items(&["a", "c"]));
    assert_eq!(
        h.cmd(&["EXISTS", "l"]),
        int(0),
        "the last pop deletes the key"
    );
    assert_eq!(h.cmd(&["LPOP", "l"]), Reply::Nil);
    assert_eq!(h.cmd(&["LPOP", "l", "2"]), Reply::NilArray);
    assert_eq!(h.cmd(&["LLEN", "l"]), int(0));
    let positive = err("ERR value is out of range, must be positive");
    assert_eq!(h.cmd(&["LPOP", "l", "-1"]), positive);
    assert_eq!(h.cmd(&["RPOP", "l", "x"]), positive);
    assert_eq!(
        h.cmd(&["LPOP", "l", "1", "2"]),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(
        take_propagated(),
        [
            "LPUSH l a b",
            "RPUSH l c d",
            "RPUSHX l e",
            "LPOP l",
            "RPOP l 2",
            "LPOP l 10"
        ]
    );
}

#[test]
fn every_list_command_refuses_other_types() {
    let mut h = Harness::new();
    h.cmd(&["SET", "s", "v"]);
    h.cmd(&["RPUSH", "l", "a"]);
    let cases: &[&[&str]] = &[
        &["LPUSH", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "1"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "x"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "s", "LEFT", "LEFT"],
        &["RPOPLPUSH", "l", "s"],
        &["LMPOP", "2", "none", "s", "LEFT"],
    ];
    take_propagated();
    for args in cases {
        assert_eq!(h.cmd(args), err(WRONGTYPE), "{args:?}");
    }
    assert!(take_propagated().is_empty());
    assert_eq!(all(&mut h, "l"), items(&["a"]), "nothing moved");
}

#[test]
fn index_access_and_ranges() {
    let mut h = Harness::new();
    h.cmd(&["RPUSH", "l", "a", "b", "c", "d"]);
    assert_eq!(h.cmd(&["LINDEX", "l", "-1"]), bulk("d"));
    assert_eq!(h.cmd(&["LINDEX", "l", "4"]), Reply::Nil);
    assert_eq!(
        h.cmd(&["LINDEX", "l", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(h.cmd(&["LSET", "l", "-2", "C"]), ok());
    assert_eq!(
        h.cmd(&["LSET", "l", "9", "C"]),
        err("ERR index out of range")
    );
    assert_eq!(h.cmd(&["LSET", "none", "0", "C"]), err("ERR no such key"));
    for (start, stop, expected) in [
        ("0", "-1", &["a", "b", "C", "d"][..]),
        ("-100", "100", &["a", "b", "C", "d"]),
        ("1", "2", &["b", "C"]),
        ("2", "1", &[]),
        ("5", "10", &[]),
        ("-1", "-2", &[]),
        ("-2", "-1", &["C", "d"]),
    ] {
        assert_eq!(
            h.cmd(&["LRANGE", "l", start, stop]),
            items(expected),
            "{start} {stop}"
        );
    }
    take_propagated();
    assert_eq!(h.cmd(&["LTRIM", "l", "0", "-1"]), ok());
    assert_eq!(h.cmd(&["LTRIM", "l", "1", "-2"]), ok());
    assert_eq!(all(&mut h, "l"), items(&["b", "C"]));
    assert_eq!(h.cmd(&["LTRIM", "l", "5", "10"]), ok());
    assert_eq!(h.cmd(&["EXISTS", "l"]), int(0));
    assert_eq!(
        take_propagated(),
        ["LTRIM l 1 -2", "LTRIM l 5 10"],
        "a trim that removes nothing is not propagated"
    );
}

#[test]
fn insert_remove_and_find_by_value() {
    let mut h = Harness::new();
    h.cmd(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(h.cmd(&["LINSERT", "l", "after", "b", "x"]), int(6));
    assert_eq!(h.cmd(&["LINSERT", "l", "BEFORE", "a", "y"]), int(7));
    assert_eq!(h.cmd(&["LINSERT", "l", "BEFORE", "zz", "y"]), int(-1));
    assert_eq!(h.cmd(&["LINSERT", "none", "BEFORE", "a", "y"]), int(0));
    assert_eq!(
        h.cmd(&["LINSERT", "l", "middle", "a", "y"]),
        err("ERR syntax error")
    );
    assert_eq!(
        all(&mut h, "l"),
        items(&["y", "a", "b", "x", "a", "c", "a"])
    );
    assert_eq!(h.cmd(&["LPOS", "l", "a"]), int(1));
    assert_eq!(h.cmd(&["LPOS", "l", "a", "RANK", "-1"]), int(6));
    assert_eq!(
        h.cmd(&["LPOS", "l", "a", "RANK", "2", "COUNT", "0"]),
        ints(&[4, 6])
    );
    assert_eq!(
        h.cmd(&["LPOS", "l", "a", "COUNT", "2", "RANK", "-1"]),
        ints(&[6, 4])
    );
    assert_eq!(h.cmd(&["LPOS", "l", "a", "MAXLEN", "1"]), Reply::Nil);
    assert_eq!(
        h.cmd(&["LPOS", "l", "c", "RANK", "-1", "MAXLEN", "2"]),
        int(5)
    );
    assert_eq!(h.cmd(&["LPOS", "l", "zz", "COUNT", "0"]), ints(&[]));
    assert_eq!(h.cmd(&["LPOS", "none", "a"]), Reply::Nil);
    assert_eq!(
        h.cmd(&["LPOS", "l", "a", "COUNT", "-1"]),
        err("ERR COUNT can't be negative")
    );
    assert_eq!(
        h.cmd(&["LPOS", "l", "a", "MAXLEN", "-1"]),
        err("ERR MAXLEN can't be negative")
    );
    assert_eq!(h.cmd(&["LPOS", "l", "a", "COUNT"]), err("ERR syntax error"));
    assert!(
        matches!(h.cmd(&["LPOS", "l", "a", "RANK", "0"]), Reply::Error(e) if e.starts_with("ERR RANK can't be zero"))
    );
    assert_eq!(h.cmd(&["LREM", "l", "-2", "a"]), int(2));
    assert_eq!(all(&mut h, "l"), items(&["y", "a", "b", "x", "c"]));
    assert_eq!(h.cmd(&["LREM", "l", "0", "zz"]), int(0));
    assert_eq!(
        h.cmd(&["LREM", "l", "x", "a"]),
        err("ERR value is not an integer or out of range")
    );
    for item in ["y", "a", "b", "x", "c"] {
        assert_eq!(h.cmd(&["LREM", "l", "0", item]), int(1));
    }
    assert_eq!(h.cmd(&["EXISTS", "l"]), int(0));
}

#[test]
fn lmove_and_rpoplpush_move_one_element() {
    let mut h = Harness::new();
    h.cmd(&["RPUSH", "src", "a", "b", "c"]);
    take_propagated();
    assert_eq!(h.cmd(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("a"));
    assert_eq!(h.cmd(&["RPOPLPUSH", "src", "dst"]), bulk("c"));
    assert_eq!(all(&mut h, "dst"), items(&["c", "a"]));
    assert_eq!(h.cmd(&["LMOVE", "dst", "dst", "LEFT", "RIGHT"]), bulk("c"));
    assert_eq!(all(&mut h, "dst"), items(&["a", "c"]));
    assert_eq!(h.cmd(&["LMOVE", "src", "src", "RIGHT", "LEFT"]), bulk("b"));
    assert_eq!(
        all(&mut h, "src"),
        items(&["b"]),
        "a one-element rotation keeps the key"
    );
    assert_eq!(h.cmd(&["LMOVE", "src", "dst", "left", "left"]), bulk("b"));
    assert_eq!(h.cmd(&["EXISTS", "src"]), int(0));
    assert_eq!(h.cmd(&["LMOVE", "src", "dst", "LEFT", "LEFT"]), Reply::Nil);
    assert_eq!(
        h.cmd(&["LMOVE", "dst", "x", "LEFT", "MIDDLE"]),
        err("ERR syntax error")
    );
    assert_eq!(
        take_propagated(),
        [
            "LMOVE src dst LEFT RIGHT",
            "RPOPLPUSH src dst",
            "LMOVE dst dst LEFT RIGHT",
            "LMOVE src src RIGHT LEFT",
            "LMOVE src dst left left"
        ]
    );
}

#[test]
fn lmpop_pops_from_the_first_non_empty_list_and_replays_as_a_pop() {
    let mut h = Harness::new();
    h.cmd(&["RPUSH", "l", "a", "b", "c"]);
    take_propagated();
    assert_eq!(
        h.cmd(&["LMPOP", "2", "none", "l", "RIGHT", "COUNT", "2"]),
        Reply::Array(vec![bulk("l"), items(&["c", "b"])])
    );
    assert_eq!(
        h.cmd(&["LMPOP", "1", "l", "left", "COUNT", "10"]),
        Reply::Array(vec![bulk("l"), items(&["a"])])
    );
    assert_eq!(h.cmd(&["LMPOP", "1", "l", "LEFT"]), Reply::NilArray);
    assert_eq!(
        take_propagated(),
        ["RPOP l 2", "LPOP l 1"],
        "the count popped"
    );
    let numkeys = err("ERR numkeys should be greater than 0");
    let count = err("ERR count should be greater than 0");
    let syntax = err("ERR syntax error");
    let cases: &[(&[&str], &Reply)] = &[
        (&["LMPOP", "0", "l", "LEFT"], &numkeys),
        (&["LMPOP", "x", "l", "LEFT"], &numkeys),
        (&["LMPOP", "-1", "l", "LEFT"], &numkeys),
        (&["LMPOP", "2", "l", "LEFT"], &syntax),
        (&["LMPOP", "1", "l", "MIDDLE"], &syntax),
        (&["LMPOP", "1", "l", "LEFT", "COUNT", "0"], &count),
        (
            &["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"],
            &syntax,
        ),
        (&["LMPOP", "1", "l", "LEFT", "FOO"], &syntax),
    ];
    for (args, expected) in cases {
        assert_eq!(&h.cmd(args), *expected, "{args:?}");
    }
}

#[test]
fn lmpop_and_lmove_keys_for_cluster_routing() {
    let args: Vec<Bytes> = ["LMPOP", "2", "a", "b", "LEFT"]
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    let spec = crate::cmd::all().find(|s| s.name == "lmpop").unwrap();
    assert_eq!(spec.keys(&args), vec![&args[2], &args[3]]);
    assert!(spec.keys(&args[..2]).is_empty());
    let lmove = crate::cmd::all().find(|s| s.name == "lmove").unwrap();
    let args: Vec<Bytes> = ["LMOVE", "a", "b", "LEFT", "LEFT"]
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    assert_eq!(lmove.keys(&args), vec![&args[1], &args[2]]);
}

#[test]
fn lists_keep_their_ttl_and_restore_through_dump() {
    let mut h = Harness::new();
    h.cmd(&["RPUSH", "l", "a", "1", "-300"]);
    h.cmd(&["EXPIRE", "l", "100"]);
    h.cmd(&["RPUSH", "l", "b"]);
    assert_eq!(h.cmd(&["TTL", "l"]), int(100));
    let Reply::Bulk(payload) = h.cmd(&["DUMP", "l"]) else {
        panic!("a payload");
    };
    let args = [
        Bytes::from_static(b"RESTORE"),
        Bytes::from_static(b"copy"),
        Bytes::from_static(b"0"),
        payload,
    ];
    assert_eq!(h.node.command(h.now, h.client, &args), ok());
    assert_eq!(all(&mut h, "copy"), items(&["a", "1", "-300", "b"]));
    h.advance_ms(100_000);
    assert_eq!(h.cmd(&["LLEN", "l"]), int(0));
}
