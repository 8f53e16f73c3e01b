use super::*;
use crate::cmd::keys::tests::{bulk, err, int, ok, take_propagated, Harness};

const SYNTAX: &str = "ERR syntax error";
const NOT_INT: &str = "ERR value is not an integer or out of range";

fn invalid(name: &str) -> Reply {
    err(&format!("ERR invalid expire time in '{name}' command"))
}

#[test]
fn set_and_get() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["GET", "k"]), Reply::Nil);
    assert_eq!(h.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(h.cmd(&["get", "k"]), bulk("v"));
    assert_eq!(h.cmd(&["SET", "k", ""]), ok());
    assert_eq!(h.cmd(&["GET", "k"]), bulk(""));
    assert_eq!(
        h.cmd(&["SET", "k"]),
        err("ERR wrong number of arguments for 'set' command")
    );
    assert_eq!(
        h.cmd(&["GET", "k", "x"]),
        err("ERR wrong number of arguments for 'get' command")
    );
}

#[test]
fn set_option_errors() {
    let mut h = Harness::new();
    let cases: &[(&[&str], Reply)] = &[
        (&["nx", "xx"], err(SYNTAX)),
        (&["xx", "nx"], err(SYNTAX)),
        (&["ex", "10", "px", "10"], err(SYNTAX)),
        (&["ex", "10", "keepttl"], err(SYNTAX)),
        (&["keepttl", "ex", "10"], err(SYNTAX)),
        (&["exat", "10", "pxat", "10"], err(SYNTAX)),
        (&["ex"], err(SYNTAX)),
        (&["ex", "10", "px"], err(SYNTAX)),
        (&["foo"], err(SYNTAX)),
        (&["persist"], err(SYNTAX)),
        (&["ex", "abc", "nx", "xx"], err(SYNTAX)),
        (&["ex", "0"], invalid("set")),
        (&["ex", "-1"], invalid("set")),
        (&["px", "0"], invalid("set")),
        (&["pxat", "0"], invalid("set")),
        (&["ex", "9223372036854775807"], invalid("set")),
        (&["ex", "9223372036854775"], invalid("set")),
        (&["px", "9223372036854000000"], invalid("set")),
        (&["exat", "9223372036854775807"], invalid("set")),
        (&["ex", "abc"], err(NOT_INT)),
        (&["ex", "1.5"], err(NOT_INT)),
        (&["ex", "01"], err(NOT_INT)),
        (&["ex", "+1"], err(NOT_INT)),
    ];
    for (options, expected) in cases {
        let mut args = vec!["SET", "k", "v"];
        args.extend_from_slice(options);
        assert_eq!(&h.cmd(&args), expected, "{options:?}");
    }
    assert_eq!(h.cmd(&["EXISTS", "k"]), int(0), "no error wrote anything");
    // Absolute forms may reach the largest representable time.
    assert_eq!(h.cmd(&["SET", "k", "v", "exat", "9223372036854775"]), ok());
    assert_eq!(
        h.cmd(&["SET", "k", "v", "pxat", "9223372036854775807"]),
        ok()
    );
    assert_eq!(h.cmd(&["PTTL", "k"]), int(9223372036854775807 - 1_000_000));
}

#[test]
fn set_nx_xx_and_get() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["SET", "k", "v", "XX"]), Reply::Nil);
    assert_eq!(h.cmd(&["SET", "k", "v", "xx", "get"]), Reply::Nil);
    assert_eq!(h.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(h.cmd(&["SET", "k", "v1", "nx", "get"]), Reply::Nil);
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v1"));
    assert_eq!(h.cmd(&["SET", "k", "v2", "NX"]), Reply::Nil);
    assert_eq!(
        h.cmd(&["SET", "k", "v2", "NX", "GET"]),
        bulk("v1"),
        "old value, not set"
    );
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v1"));
    assert_eq!(h.cmd(&["SET", "k", "v3", "xx", "GET"]), bulk("v1"));
    assert_eq!(h.cmd(&["SET", "k", "v4", "GET", "GET"]), bulk("v3"));
    assert_eq!(h.cmd(&["SET", "k", "v5", "nx", "nx"]), Reply::Nil);
    assert_eq!(h.cmd(&["SET", "k", "v5", "xx"]), ok());
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v5"));
}

#[test]
fn set_expiry_forms() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["SET", "k", "v", "EX", "10"]), ok());
    assert_eq!(h.cmd(&["PTTL", "k"]), int(10_000));
    assert_eq!(h.cmd(&["SET", "k", "v", "px", "1500"]), ok());
    assert_eq!(h.cmd(&["PTTL", "k"]), int(1500));
    assert_eq!(h.cmd(&["SET", "k", "v", "EXAT", "1005"]), ok());
    assert_eq!(h.cmd(&["PTTL", "k"]), int(5000));
    assert_eq!(h.cmd(&["SET", "k", "v", "PXAT", "1000250"]), ok());
    assert_eq!(h.cmd(&["PTTL", "k"]), int(250));
    assert_eq!(h.cmd(&["SET", "k", "v", "ex", "10", "ex", "20"]), ok());
    assert_eq!(h.cmd(&["TTL", "k"]), int(20), "the last EX wins");
    assert_eq!(h.cmd(&["SET", "k", "w", "KEEPTTL"]), ok());
    assert_eq!(h.cmd(&["TTL", "k"]), int(20));
    assert_eq!(h.cmd(&["SET", "k", "w"]), ok());
    assert_eq!(h.cmd(&["TTL", "k"]), int(-1), "a plain SET clears the TTL");
    // A past absolute time stores the key, which then reads as expired.
    assert_eq!(h.cmd(&["SET", "k", "v", "EXAT", "1"]), ok());
    assert_eq!(h.cmd(&["GET", "k"]), Reply::Nil);
    assert_eq!(h.node.stats.expired_keys, 1);
}

#[test]
fn ttl_runs_out_as_the_clock_moves() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "v", "PX", "1000"]);
    h.advance_ms(999);
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v"));
    h.advance_ms(1);
    assert_eq!(h.cmd(&["GET", "k"]), Reply::Nil);
    assert_eq!(h.node.stats.expired_keys, 1);
    assert_eq!(
        h.cmd(&["SET", "k", "v", "XX"]),
        Reply::Nil,
        "expired is missing for XX"
    );
}

#[test]
fn expired_keys_take_the_lazy_expiry_path_in_get_set_and_incr() {
    let mut h = Harness::new();
    for key in ["g", "s", "i"] {
        h.cmd(&["SET", key, "7", "PX", "10"]);
    }
    h.advance_ms(10);
    take_propagated();
    assert_eq!(h.cmd(&["GET", "g"]), Reply::Nil);
    assert_eq!(h.cmd(&["SET", "s", "v", "NX"]), ok());
    assert_eq!(h.cmd(&["TTL", "s"]), int(-1));
    assert_eq!(
        h.cmd(&["INCR", "i"]),
        int(1),
        "an expired counter starts at 0"
    );
    assert_eq!(h.cmd(&["TTL", "i"]), int(-1));
    assert_eq!(
        take_propagated(),
        vec!["DEL g", "DEL s", "SET s v NX", "DEL i", "INCR i"]
    );
    assert_eq!(h.node.stats.expired_keys, 3);
    assert_eq!(
        (h.node.stats.keyspace_hits, h.node.stats.keyspace_misses),
        (2, 1),
        "the GET missed, the two TTLs hit"
    );
}

#[test]
fn overwrites_in_place_keep_or_clear_the_ttl_as_asked() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "a", "EX", "100"]);
    assert_eq!(h.cmd(&["SET", "k", "b", "KEEPTTL"]), ok());
    assert_eq!(h.cmd(&["TTL", "k"]), int(100));
    assert_eq!(h.cmd(&["SET", "k", "c", "EX", "100"]), ok());
    assert_eq!(h.cmd(&["TTL", "k"]), int(100));
    assert_eq!(h.cmd(&["SET", "k", "d"]), ok());
    assert_eq!(h.cmd(&["TTL", "k"]), int(-1));
    assert_eq!(h.node.db.expiring_count(), 0, "the expiry index follows");
    assert_eq!(h.cmd(&["SET", "k", "e", "XX"]), ok());
    assert_eq!(h.cmd(&["SET", "k", "f", "NX"]), Reply::Nil);
    assert_eq!(h.cmd(&["GET", "k"]), bulk("e"));
    assert_eq!(h.node.db.len(), 1);
}

#[test]
fn counters_are_stored_as_decimal_text() {
    let mut h = Harness::new();
    for n in [0, 7, -7, 10, -10, 1234567890, i64::MAX, i64::MIN] {
        let text = n.to_string();
        h.cmd(&["SET", "k", &text]);
        assert_eq!(h.cmd(&["INCRBY", "k", "0"]), int(n), "{n}");
        assert_eq!(h.cmd(&["GET", "k"]), bulk(&text), "{n}");
    }
}

#[test]
fn set_propagates_replayable_forms() {
    let mut h = Harness::new();
    h.cmd(&["set", "k", "v", "EX", "10", "GET"]);
    h.cmd(&["SET", "k", "v", "px", "10"]);
    h.cmd(&["SET", "get", "get", "GET", "nx", "get"]);
    h.cmd(&["SET", "k", "v", "NX"]);
    h.cmd(&["SET", "k", "v", "pxat", "2000000", "GET"]);
    h.cmd(&["SETEX", "k", "5", "v"]);
    h.cmd(&["PSETEX", "k", "5", "v"]);
    h.cmd(&["SETNX", "n", "v"]);
    h.cmd(&["SETNX", "n", "v"]);
    assert_eq!(
        take_propagated(),
        vec![
            "SET k v PXAT 1010000",
            "SET k v PXAT 1000010",
            "SET get get nx",
            "SET k v pxat 2000000 GET",
            "SET k v PXAT 1005000",
            "SET k v PXAT 1000005",
            "SETNX n v",
        ]
    );
}

#[test]
fn setnx_setex_psetex() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["SETNX", "k", "v"]), int(1));
    assert_eq!(h.cmd(&["SETNX", "k", "w"]), int(0));
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(h.cmd(&["SETEX", "k", "0", "v"]), invalid("setex"));
    assert_eq!(h.cmd(&["SETEX", "k", "-5", "v"]), invalid("setex"));
    assert_eq!(
        h.cmd(&["SETEX", "k", "9223372036854775", "v"]),
        invalid("setex")
    );
    assert_eq!(h.cmd(&["SETEX", "k", "abc", "v"]), err(NOT_INT));
    assert_eq!(h.cmd(&["PSETEX", "k", "0", "v"]), invalid("psetex"));
    assert_eq!(h.cmd(&["SETEX", "k", "10", "x"]), ok());
    assert_eq!(h.cmd(&["TTL", "k"]), int(10));
    assert_eq!(h.cmd(&["SETNX", "k", "y"]), int(0));
    assert_eq!(
        h.cmd(&["TTL", "k"]),
        int(10),
        "a failed SETNX keeps the TTL"
    );
    assert_eq!(h.cmd(&["PSETEX", "k", "1500", "z"]), ok());
    assert_eq!(h.cmd(&["PTTL", "k"]), int(1500));
    assert_eq!(h.cmd(&["GET", "k"]), bulk("z"));
    assert_eq!(
        h.cmd(&["SETEX", "k", "10"]),
        err("ERR wrong number of arguments for 'setex' command")
    );
}

#[test]
fn mget_mset_msetnx() {
    let mut h = Harness::new();
    assert_eq!(
        h.cmd(&["MSET", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(
        h.cmd(&["MSETNX", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'msetnx' command")
    );
    assert_eq!(h.cmd(&["MSET", "a", "1", "b", "2"]), ok());
    assert_eq!(
        h.cmd(&["MGET", "a", "b", "zz", "a"]),
        Reply::Array(vec![bulk("1"), bulk("2"), Reply::Nil, bulk("1")])
    );
    assert_eq!(h.cmd(&["MSETNX", "a", "1", "c", "3"]), int(0));
    assert_eq!(h.cmd(&["EXISTS", "c"]), int(0), "all or nothing");
    assert_eq!(h.cmd(&["MSETNX", "c", "3", "d", "4"]), int(1));
    assert_eq!(h.cmd(&["MSETNX", "n", "x", "n", "y"]), int(1));
    assert_eq!(h.cmd(&["GET", "n"]), bulk("y"));
    assert_eq!(h.cmd(&["MSET", "t", "1", "t", "2"]), ok());
    assert_eq!(h.cmd(&["GET", "t"]), bulk("2"));
    h.cmd(&["SET", "e", "v", "EX", "100"]);
    assert_eq!(h.cmd(&["MSET", "e", "1"]), ok());
    assert_eq!(h.cmd(&["TTL", "e"]), int(-1), "MSET clears TTLs");
}

#[test]
fn counters_and_their_errors() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["INCR", "n"]), int(1));
    assert_eq!(h.cmd(&["INCRBY", "n", "41"]), int(42));
    assert_eq!(h.cmd(&["DECR", "n"]), int(41));
    assert_eq!(h.cmd(&["DECRBY", "n", "-9"]), int(50));
    assert_eq!(h.cmd(&["GET", "n"]), bulk("50"));
    assert_eq!(h.cmd(&["DECRBY", "m", "5"]), int(-5));
    for bad in [
        "abc",
        " 1",
        "007",
        "",
        "-0",
        "+1",
        "1.0",
        "123456789012345678901",
    ] {
        h.cmd(&["SET", "s", bad]);
        assert_eq!(h.cmd(&["INCR", "s"]), err(NOT_INT), "{bad:?}");
    }
    assert_eq!(h.cmd(&["INCRBY", "n", "abc"]), err(NOT_INT));
    assert_eq!(h.cmd(&["DECRBY", "n", "1.5"]), err(NOT_INT));
    let overflow = err("ERR increment or decrement would overflow");
    h.cmd(&["SET", "i", "9223372036854775807"]);
    assert_eq!(h.cmd(&["INCR", "i"]), overflow);
    h.cmd(&["SET", "i", "-9223372036854775808"]);
    assert_eq!(h.cmd(&["DECR", "i"]), overflow);
    assert_eq!(h.cmd(&["INCRBY", "i", "-1"]), overflow);
    assert_eq!(
        h.cmd(&["GET", "i"]),
        bulk("-9223372036854775808"),
        "unchanged"
    );
    let decrement = err("ERR decrement would overflow");
    assert_eq!(h.cmd(&["DECRBY", "i", "-9223372036854775808"]), decrement);
    assert_eq!(
        h.cmd(&["DECRBY", "fresh", "-9223372036854775808"]),
        decrement
    );
    assert_eq!(h.cmd(&["EXISTS", "fresh"]), int(0));
    h.cmd(&["SET", "i", "0"]);
    assert_eq!(
        h.cmd(&["DECRBY", "i", "9223372036854775807"]),
        int(-9223372036854775807)
    );
}

#[test]
fn counters_keep_the_ttl_and_count_no_keyspace_reads() {
    let mut h = Harness::new();
    h.cmd(&["SET", "n", "5", "EX", "100"]);
    take_propagated();
    assert_eq!(h.cmd(&["INCR", "n"]), int(6));
    assert_eq!(h.cmd(&["INCRBY", "new", "3"]), int(3));
    assert_eq!(
        (h.node.stats.keyspace_hits, h.node.stats.keyspace_misses),
        (0, 0)
    );
    assert_eq!(h.cmd(&["TTL", "n"]), int(100));
    assert_eq!(take_propagated(), vec!["INCR n", "INCRBY new 3"]);
}

#[test]
fn append_and_strlen() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["STRLEN", "k"]), int(0));
    assert_eq!(h.cmd(&["APPEND", "k", "abc"]), int(3));
    assert_eq!(h.cmd(&["APPEND", "k", ""]), int(3));
    h.cmd(&["EXPIRE", "k", "100"]);
    assert_eq!(h.cmd(&["APPEND", "k", "de"]), int(5));
    assert_eq!(h.cmd(&["GET", "k"]), bulk("abcde"));
    assert_eq!(h.cmd(&["STRLEN", "k"]), int(5));
    assert_eq!(h.cmd(&["TTL", "k"]), int(100), "APPEND keeps the TTL");
}

#[test]
fn getrange_clamps_like_redis() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "abc"]);
    let cases = [
        ("0", "-1", "abc"),
        ("-100", "100", "abc"),
        ("2", "1", ""),
        ("5", "10", ""),
        ("-1", "-5", ""),
        ("0", "0", "a"),
        ("-2", "-1", "bc"),
        ("1", "9223372036854775807", "bc"),
        ("-9223372036854775808", "-1", "abc"),
    ];
    for (start, end, expected) in cases {
        assert_eq!(
            h.cmd(&["GETRANGE", "k", start, end]),
            bulk(expected),
            "{start} {end}"
        );
    }
    assert_eq!(h.cmd(&["GETRANGE", "nope", "0", "1"]), bulk(""));
    assert_eq!(h.cmd(&["GETRANGE", "k", "a", "1"]), err(NOT_INT));
    assert_eq!(h.cmd(&["GETRANGE", "k", "0", "x"]), err(NOT_INT));
    h.cmd(&["SET", "e", ""]);
    assert_eq!(h.cmd(&["GETRANGE", "e", "0", "-1"]), bulk(""));
}

#[test]
fn setrange_pads_and_checks_limits() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "abc"]);
    assert_eq!(h.cmd(&["SETRANGE", "k", "1", "Z"]), int(3));
    assert_eq!(h.cmd(&["GET", "k"]), bulk("aZc"));
    assert_eq!(h.cmd(&["SETRANGE", "k", "5", "zz"]), int(7));
    assert_eq!(h.cmd(&["GET", "k"]), Reply::bulk(&b"aZc\0\0zz"[..]));
    assert_eq!(h.cmd(&["SETRANGE", "k", "1", ""]), int(7));
    assert_eq!(h.cmd(&["SETRANGE", "new", "2", "ab"]), int(4));
    assert_eq!(h.cmd(&["GET", "new"]), Reply::bulk(&b"\0\0ab"[..]));
    assert_eq!(h.cmd(&["SETRANGE", "nope", "0", ""]), int(0));
    assert_eq!(
        h.cmd(&["EXISTS", "nope"]),
        int(0),
        "empty value creates nothing"
    );
    let out_of_range = err("ERR offset is out of range");
    assert_eq!(h.cmd(&["SETRANGE", "k", "-1", "x"]), out_of_range);
    assert_eq!(h.cmd(&["SETRANGE", "k", "-1", ""]), out_of_range);
    assert_eq!(h.cmd(&["SETRANGE", "k", "abc", "x"]), err(NOT_INT));
    let too_big = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    assert_eq!(h.cmd(&["SETRANGE", "nope", "536870912", "x"]), too_big);
    assert_eq!(
        h.cmd(&["SETRANGE", "k", "9223372036854775807", "x"]),
        too_big
    );
    assert_eq!(h.cmd(&["SETRANGE", "nope", "536870912", ""]), int(0));
    h.cmd(&["SET", "t", "v", "EX", "100"]);
    h.cmd(&["SETRANGE", "t", "0", "w"]);
    assert_eq!(h.cmd(&["TTL", "t"]), int(100));
}

#[test]
fn getdel_returns_then_deletes() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "v", "EX", "10"]);
    take_propagated();
    assert_eq!(h.cmd(&["GETDEL", "k"]), bulk("v"));
    assert_eq!(h.cmd(&["GETDEL", "k"]), Reply::Nil);
    assert_eq!(h.cmd(&["TTL", "k"]), int(-2));
    assert_eq!(take_propagated(), vec!["DEL k"]);
    assert_eq!(h.node.db.expiring_count(), 0);
}

#[test]
fn getex_changes_the_ttl() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["GETEX", "nope", "EX", "10"]), Reply::Nil);
    h.cmd(&["SET", "x", "1"]);
    take_propagated();
    assert_eq!(h.cmd(&["GETEX", "x"]), bulk("1"));
    assert_eq!(h.cmd(&["GETEX", "x", "EX", "100"]), bulk("1"));
    assert_eq!(h.cmd(&["TTL", "x"]), int(100));
    assert_eq!(h.cmd(&["GETEX", "x", "PX", "5000"]), bulk("1"));
    assert_eq!(h.cmd(&["PTTL", "x"]), int(5000));
    assert_eq!(h.cmd(&["GETEX", "x", "PERSIST"]), bulk("1"));
    assert_eq!(h.cmd(&["GETEX", "x", "persist"]), bulk("1"));
    assert_eq!(h.cmd(&["TTL", "x"]), int(-1));
    assert_eq!(h.cmd(&["GETEX", "x", "PXAT", "2000000"]), bulk("1"));
    assert_eq!(
        take_propagated(),
        vec![
            "PEXPIREAT x 1100000",
            "PEXPIREAT x 1005000",
            "PERSIST x",
            "PEXPIREAT x 2000000"
        ]
    );
    // An absolute time in the past deletes; that is not an expiration.
    assert_eq!(h.cmd(&["GETEX", "x", "EXAT", "1"]), bulk("1"));
    assert_eq!(h.cmd(&["EXISTS", "x"]), int(0));
    assert_eq!(take_propagated(), vec!["DEL x"]);
    assert_eq!(h.node.stats.expired_keys, 0);
}

#[test]
fn getex_errors() {
    let mut h = Harness::new();
    h.cmd(&["SET", "x", "1"]);
    assert_eq!(h.cmd(&["GETEX", "x", "EX", "0"]), invalid("getex"));
    assert_eq!(h.cmd(&["GETEX", "x", "PXAT", "-5"]), invalid("getex"));
    assert_eq!(h.cmd(&["GETEX", "x", "EX", "a"]), err(NOT_INT));
    for options in [
        &["PX", "10", "EX", "10"][..],
        &["foo"],
        &["EX"],
        &["KEEPTTL"],
        &["NX"],
        &["GET"],
        &["PERSIST", "EX", "10"],
        &["EX", "10", "PERSIST"],
    ] {
        let mut args = vec!["GETEX", "x"];
        args.extend_from_slice(options);
        assert_eq!(h.cmd(&args), err(SYNTAX), "{options:?}");
    }
    assert_eq!(h.cmd(&["TTL", "x"]), int(-1));
}

#[test]
fn reads_count_keyspace_hits_and_misses() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "v"]);
    let reads: &[&[&str]] = &[
        &["GET", "k"],
        &["GET", "m"],
        &["GETDEL", "m"],
        &["GETEX", "m"],
        &["SET", "k", "v", "GET"],
        &["STRLEN", "k"],
        &["GETRANGE", "k", "0", "1"],
        &["MGET", "k", "m"],
    ];
    for args in reads {
        h.cmd(args);
    }
    assert_eq!(h.node.stats.keyspace_hits, 5);
    assert_eq!(h.node.stats.keyspace_misses, 4);
    // Writes look keys up without counting.
    for args in [
        &["SETNX", "k", "v"][..],
        &["APPEND", "k", "x"],
        &["SETRANGE", "k", "0", "a"],
        &["MSETNX", "k", "v"],
    ] {
        h.cmd(args);
    }
    assert_eq!(
        (h.node.stats.keyspace_hits, h.node.stats.keyspace_misses),
        (5, 4)
    );
}

#[test]
fn specs_match_redis_command_info() {
    let spec = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect(name);
    let mset = spec("mset");
    assert_eq!(
        (mset.arity, mset.first_key, mset.last_key, mset.key_step),
        (-3, 1, -1, 2)
    );
    let args: Vec<Bytes> = ["MSET", "a", "1", "b", "2"]
        .iter()
        .map(|s| Bytes::from(*s))
        .collect();
    assert_eq!(mset.keys(&args), vec![&args[1], &args[3]]);
    assert_eq!(spec("get").flags, &["readonly", "fast"]);
    assert_eq!(spec("set").flags, &["write", "denyoom"]);
    assert_eq!(
        spec("setnx").acl_categories,
        &["@write", "@string", "@fast"]
    );
    assert_eq!(
        spec("getrange").acl_categories,
        &["@read", "@string", "@slow"]
    );
    assert_eq!((spec("getex").arity, spec("getex").since), (-2, "6.2.0"));
    assert!(COMMANDS.iter().all(|s| s.group == "string"));
}

#[test]
fn string_commands_refuse_other_types() {
    let mut h = Harness::new();
    let list: crate::db::List = [&b"a"[..]].into_iter().collect();
    h.node
        .db
        .set_owned(b"l", crate::db::Value::List(list), None);
    h.cmd(&["SET", "s", "v"]);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    let cases: &[&[&str]] = &[
        &["GET", "l"],
        &["GETDEL", "l"],
        &["GETEX", "l", "PERSIST"],
        &["STRLEN", "l"],
        &["APPEND", "l", "x"],
        &["INCR", "l"],
        &["DECRBY", "l", "2"],
        &["GETRANGE", "l", "0", "-1"],
        &["SETRANGE", "l", "0", "x"],
        &["SETRANGE", "l", "0", ""],
        &["SET", "l", "v", "GET"],
        &["SET", "l", "v", "NX", "GET"],
    ];
    take_propagated();
    for args in cases {
        assert_eq!(&h.cmd(args), &wrong, "{args:?}");
    }
    assert!(take_propagated().is_empty(), "no failed command wrote");
    assert_eq!(h.cmd(&["TYPE", "l"]), Reply::simple("list"));
    assert_eq!(
        h.cmd(&["MGET", "s", "l", "none"]),
        Reply::Array(vec![bulk("v"), Reply::Nil, Reply::Nil])
    );
    assert_eq!(h.cmd(&["SETNX", "l", "v"]), int(0));
    assert_eq!(h.cmd(&["MSETNX", "l", "v", "n", "v"]), int(0));
    // A plain SET replaces a key of any type.
    assert_eq!(h.cmd(&["SET", "l", "v", "XX"]), ok());
    assert_eq!(h.cmd(&["GET", "l"]), bulk("v"));
    assert_eq!(h.cmd(&["TYPE", "l"]), Reply::simple("string"));
}

#[test]
fn strings_built_in_place_are_raw_until_rewritten() {
    let mut h = Harness::new();
    let encoding = |h: &mut Harness, key: &str| h.cmd(&["OBJECT", "ENCODING", key]);
    h.cmd(&["SET", "k", "1"]);
    assert_eq!(encoding(&mut h, "k"), bulk("int"));
    h.cmd(&["APPEND", "k", "2"]);
    assert_eq!(encoding(&mut h, "k"), bulk("raw"));
    h.cmd(&["EXPIRE", "k", "100"]);
    assert_eq!(encoding(&mut h, "k"), bulk("raw"), "a TTL change keeps it");
    h.cmd(&["INCR", "k"]);
    assert_eq!(encoding(&mut h, "k"), bulk("int"), "a rewrite clears it");
    h.cmd(&["SETRANGE", "new", "0", "x"]);
    assert_eq!(encoding(&mut h, "new"), bulk("raw"));
    h.cmd(&["APPEND", "fresh", "abc"]);
    assert_eq!(
        encoding(&mut h, "fresh"),
        bulk("embstr"),
        "a new key is encoded by content"
    );
}

#[test]
fn incrbyfloat_adds_in_long_double_and_replays_as_set_keepttl() {
    let mut h = Harness::new();
    take_propagated();
    assert_eq!(h.cmd(&["INCRBYFLOAT", "f", "5010"]), bulk("5010"));
    h.cmd(&["EXPIRE", "f", "100"]);
    assert_eq!(
        h.cmd(&["INCRBYFLOAT", "f", "2.5e-3"]),
        bulk("5010.00249999999999995")
    );
    assert_eq!(h.cmd(&["TTL", "f"]), int(100), "the TTL stays");
    let not_float = err("ERR value is not a valid float");
    assert_eq!(h.cmd(&["INCRBYFLOAT", "f", "x"]), not_float);
    h.cmd(&["SET", "s", " 1"]);
    assert_eq!(h.cmd(&["INCRBYFLOAT", "s", "1"]), not_float);
    assert_eq!(
        h.cmd(&["INCRBYFLOAT", "f", "inf"]),
        err("ERR increment would produce NaN or Infinity")
    );
    h.cmd(&["RPUSH", "l", "a"]);
    assert_eq!(
        h.cmd(&["INCRBYFLOAT", "l", "1"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        take_propagated()[..3],
        [
            "SET f 5010 KEEPTTL",
            "PEXPIREAT f 1100000",
            "SET f 5010.00249999999999995 KEEPTTL"
        ]
    );
}
