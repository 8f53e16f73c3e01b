use crate::cmd::keys::tests::{bulk, err, int, take_propagated, Harness};
use crate::reply::Reply;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

fn ints(values: &[i64]) -> Reply {
    Reply::Array(values.iter().map(|v| int(*v)).collect())
}

#[test]
fn setbit_grows_with_zero_bytes_and_propagates_real_changes() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["SETBIT", "b", "7", "1"]), int(0));
    assert_eq!(take_propagated(), vec!["SETBIT b 7 1"]);
    assert_eq!(h.cmd(&["GET", "b"]), bulk("\x01"));
    // The same bit again changes nothing: nothing propagated.
    assert_eq!(h.cmd(&["SETBIT", "b", "7", "1"]), int(1));
    assert!(take_propagated().is_empty());
    // Clearing a bit past the end still grows the string.
    assert_eq!(h.cmd(&["SETBIT", "b", "23", "0"]), int(0));
    assert_eq!(take_propagated(), vec!["SETBIT b 23 0"]);
    assert_eq!(h.cmd(&["STRLEN", "b"]), int(3));
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "b"]), bulk("raw"));
    assert_eq!(h.cmd(&["GETBIT", "b", "7"]), int(1));
    assert_eq!(h.cmd(&["GETBIT", "b", "6"]), int(0));
    assert_eq!(h.cmd(&["GETBIT", "b", "100000"]), int(0));
    assert_eq!(h.cmd(&["GETBIT", "nokey", "0"]), int(0));
    // An integer string is read as its digits: '1' is 0x31.
    h.cmd(&["SET", "n", "1"]);
    assert_eq!(h.cmd(&["GETBIT", "n", "2"]), int(1));
    assert_eq!(h.cmd(&["GETBIT", "n", "4"]), int(0));
}

#[test]
fn setbit_keeps_the_ttl_and_checks_its_arguments() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "a", "PX", "5000"]);
    h.cmd(&["SETBIT", "k", "6", "1"]);
    assert_eq!(h.cmd(&["GET", "k"]), bulk("c"));
    assert_eq!(h.cmd(&["PTTL", "k"]), int(5000));
    let cases: &[(&[&str], &str)] = &[
        (&["SETBIT", "k", "-1", "1"], BAD_OFFSET),
        (&["SETBIT", "k", "4294967296", "1"], BAD_OFFSET),
        (&["SETBIT", "k", "x", "1"], BAD_OFFSET),
        (&["GETBIT", "k", "4294967296"], BAD_OFFSET),
        (
            &["SETBIT", "k", "1", "2"],
            "ERR bit is not an integer or out of range",
        ),
        (
            &["SETBIT", "k", "1", "-1"],
            "ERR bit is not an integer or out of range",
        ),
    ];
    for (line, error) in cases {
        assert_eq!(h.cmd(line), err(error), "{line:?}");
    }
    h.cmd(&["RPUSH", "l", "x"]);
    let wrong = Reply::wrong_type();
    assert_eq!(h.cmd(&["SETBIT", "l", "1", "1"]), wrong);
    assert_eq!(h.cmd(&["GETBIT", "l", "1"]), wrong);
    assert_eq!(h.cmd(&["BITCOUNT", "l"]), wrong);
    assert_eq!(h.cmd(&["BITPOS", "l", "1"]), wrong);
    assert_eq!(h.cmd(&["BITFIELD", "l"]), wrong);
    assert_eq!(h.cmd(&["BITOP", "AND", "d", "l"]), wrong);
}

#[test]
fn bitcount_ranges_in_bytes_and_bits() {
    let mut h = Harness::new();
    h.cmd(&["SET", "s", "foobar"]);
    assert_eq!(h.cmd(&["BITCOUNT", "s"]), int(26));
    assert_eq!(h.cmd(&["BITCOUNT", "s", "0", "0"]), int(4));
    assert_eq!(h.cmd(&["BITCOUNT", "s", "1", "1", "BIT"]), int(1));
    assert_eq!(h.cmd(&["BITCOUNT", "s", "5", "30", "bit"]), int(17));
    assert_eq!(h.cmd(&["BITCOUNT", "s", "-3", "-1", "byte"]), int(10));
    assert_eq!(h.cmd(&["BITCOUNT", "s", "-1", "-3"]), int(0));
    assert_eq!(h.cmd(&["BITCOUNT", "s", "-200", "-100"]), int(4));
    assert_eq!(h.cmd(&["BITCOUNT", "s", "-100", "-200"]), int(0));
    assert_eq!(h.cmd(&["BITCOUNT", "s", "0"]), err("ERR syntax error"));
    assert_eq!(
        h.cmd(&["BITCOUNT", "s", "a", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        h.cmd(&["BITCOUNT", "s", "0", "-1", "foo"]),
        err("ERR syntax error")
    );
    // Redis 7.0 looks the key up first: a missing key answers 0 whatever follows.
    assert_eq!(h.cmd(&["BITCOUNT", "nokey", "a", "b"]), int(0));
}

#[test]
fn bitpos_finds_set_and_clear_bits() {
    let mut h = Harness::new();
    h.cmd(&["SET", "s", "foobar"]);
    h.cmd(&["SET", "ff", "\u{7f}"]);
    h.cmd(&["SETBIT", "ff", "0", "1"]);
    h.cmd(&["SETBIT", "ff", "15", "1"]);
    h.cmd(&["BITFIELD", "ff", "SET", "u8", "8", "255"]);
    assert_eq!(h.cmd(&["BITPOS", "nokey", "0"]), int(0));
    assert_eq!(h.cmd(&["BITPOS", "nokey", "1", "x"]), int(-1));
    assert_eq!(h.cmd(&["BITPOS", "s", "1"]), int(1));
    assert_eq!(h.cmd(&["BITPOS", "s", "0"]), int(0));
    assert_eq!(h.cmd(&["BITPOS", "s", "1", "7", "15", "bit"]), int(9));
    assert_eq!(h.cmd(&["BITPOS", "s", "1", "2", "-1"]), int(17));
    // All ones: without an end a clear bit is found just past the string.
    assert_eq!(h.cmd(&["BITPOS", "ff", "0"]), int(16));
    assert_eq!(h.cmd(&["BITPOS", "ff", "0", "0"]), int(16));
    assert_eq!(h.cmd(&["BITPOS", "ff", "0", "0", "-1"]), int(-1));
    assert_eq!(h.cmd(&["BITPOS", "ff", "0", "0", "-1", "bit"]), int(-1));
    assert_eq!(h.cmd(&["BITPOS", "ff", "1", "5", "2"]), int(-1));
    assert_eq!(
        h.cmd(&["BITPOS", "s", "2"]),
        err("ERR The bit argument must be 1 or 0.")
    );
    assert_eq!(
        h.cmd(&["BITPOS", "s", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        h.cmd(&["BITPOS", "ff", "0", "3", "bit"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        h.cmd(&["BITPOS", "s", "0", "0", "1", "foo"]),
        err("ERR syntax error")
    );
    assert_eq!(
        h.cmd(&["BITPOS", "s", "0", "0", "1", "2", "3"]),
        err("ERR syntax error")
    );
    h.cmd(&["SET", "e", ""]);
    assert_eq!(h.cmd(&["BITPOS", "e", "0"]), int(-1));
}

#[test]
fn bitop_combines_pads_and_deletes_on_empty() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "foobar"]);
    h.cmd(&["SET", "b", "abc"]);
    h.cmd(&["SET", "d", "old", "EX", "100"]);
    take_propagated();
    assert_eq!(h.cmd(&["BITOP", "OR", "d", "a", "b"]), int(6));
    assert_eq!(take_propagated(), vec!["BITOP OR d a b"]);
    assert_eq!(h.cmd(&["GET", "d"]), bulk("goobar"));
    assert_eq!(h.cmd(&["TTL", "d"]), int(-1));
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "d"]), bulk("raw"));
    h.cmd(&["BITOP", "AND", "d", "a", "b"]);
    assert_eq!(h.cmd(&["GET", "d"]), bulk("`bc\0\0\0"));
    h.cmd(&["BITOP", "XOR", "d", "a", "b", "nokey"]);
    assert_eq!(h.cmd(&["GET", "d"]), bulk("\x07\x0d\x0cbar"));
    h.cmd(&["BITOP", "not", "d", "b"]);
    assert_eq!(
        h.cmd(&["GET", "d"]),
        Reply::Bulk(vec![!b'a', !b'b', !b'c'].into())
    );
    take_propagated();
    assert_eq!(h.cmd(&["BITOP", "AND", "d", "nokey"]), int(0));
    assert_eq!(take_propagated(), vec!["BITOP AND d nokey"]);
    assert_eq!(h.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(h.cmd(&["BITOP", "AND", "d", "nokey"]), int(0));
    assert!(take_propagated().is_empty());
    assert_eq!(
        h.cmd(&["BITOP", "NOT", "d", "a", "b"]),
        err("ERR BITOP NOT must be called with a single source key.")
    );
    assert_eq!(h.cmd(&["BITOP", "NAND", "d", "a"]), err("ERR syntax error"));
}

#[test]
fn bitfield_get_set_incrby_and_overflow() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["BITFIELD", "k", "GET", "u8", "0"]), ints(&[0]));
    assert_eq!(h.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(
        h.cmd(&["BITFIELD", "k", "SET", "u8", "#1", "200"]),
        ints(&[0])
    );
    assert_eq!(take_propagated(), vec!["BITFIELD k SET u8 #1 200"]);
    assert_eq!(h.cmd(&["GET", "k"]), Reply::Bulk(vec![0, 200].into()));
    assert_eq!(
        h.cmd(&["BITFIELD", "k", "GET", "i8", "8", "GET", "u4", "8", "INCRBY", "u8", "8", "100"]),
        ints(&[-56, 12, 44])
    );
    let reply = h.cmd(&[
        "BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i5", "100", "100", "INCRBY", "u2", "102",
        "-1", "OVERFLOW", "fail", "INCRBY", "u2", "102", "7", "SET", "i8", "0", "128",
    ]);
    assert_eq!(
        reply,
        Reply::Array(vec![int(15), int(2), Reply::Nil, Reply::Nil])
    );
    let reply = h.cmd(&[
        "BITFIELD",
        "k",
        "SET",
        "i64",
        "#0",
        "-1",
        "GET",
        "u63",
        "1",
        "GET",
        "i64",
        "0",
        "INCRBY",
        "i64",
        "0",
        "1",
        "OVERFLOW",
        "SAT",
        "INCRBY",
        "i64",
        "0",
        "-9223372036854775808",
        "SET",
        "u8",
        "0",
        "-1",
        "OVERFLOW",
        "WRAP",
        "SET",
        "i8",
        "0",
        "200",
    ]);
    assert_eq!(
        reply,
        ints(&[12384898975268864, i64::MAX, -1, 0, i64::MIN, 128, -1])
    );
    assert_eq!(h.cmd(&["BITFIELD", "k", "GET", "i8", "0"]), ints(&[-56]));
}

#[test]
fn bitfield_fail_creates_the_key_without_propagating() {
    let mut h = Harness::new();
    let reply = h.cmd(&["BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u8", "0", "300"]);
    assert_eq!(reply, Reply::Array(vec![Reply::Nil]));
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["STRLEN", "k"]), int(1));
}

#[test]
fn bitfield_errors_and_read_only_variant() {
    let mut h = Harness::new();
    let cases: &[(&[&str], &str)] = &[
        (&["BITFIELD", "k", "GET", "u64", "0"], BAD_TYPE),
        (&["BITFIELD", "k", "GET", "i65", "0"], BAD_TYPE),
        (&["BITFIELD", "k", "GET", "x8", "0"], BAD_TYPE),
        (&["BITFIELD", "k", "GET", "i0", "0"], BAD_TYPE),
        (&["BITFIELD", "k", "GET", "u8", "#-1"], BAD_OFFSET),
        (&["BITFIELD", "k", "GET", "u8", "-1"], BAD_OFFSET),
        (&["BITFIELD", "k", "GET", "u8", "#536870912"], BAD_OFFSET),
        (&["BITFIELD", "k", "foo"], "ERR syntax error"),
        (&["BITFIELD", "k", "GET", "u8"], "ERR syntax error"),
        (
            &["BITFIELD", "k", "OVERFLOW", "bar", "GET", "u8", "0"],
            "ERR Invalid OVERFLOW type specified",
        ),
        (
            &["BITFIELD", "k", "INCRBY", "u8", "0", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["BITFIELD_RO", "k", "GET", "u8", "0", "SET", "u8", "0", "1"],
            "ERR BITFIELD_RO only supports the GET subcommand",
        ),
    ];
    for (line, error) in cases {
        assert_eq!(h.cmd(line), err(error), "{line:?}");
    }
    assert_eq!(h.cmd(&["BITFIELD_RO", "k", "OVERFLOW", "SAT"]), ints(&[]));
    assert_eq!(h.cmd(&["BITFIELD", "k"]), ints(&[]));
    assert_eq!(
        h.cmd(&["BITFIELD", "k", "GET", "u8", "4294967288"]),
        ints(&[0])
    );
    h.cmd(&["SET", "k", "\u{1}"]);
    assert_eq!(h.cmd(&["BITFIELD_RO", "k", "GET", "u8", "0"]), ints(&[1]));
    assert!(take_propagated().iter().all(|c| c.starts_with("SET")));
}

#[test]
fn bit_writes_leave_the_string_raw_even_unchanged() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "a"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "k"]), bulk("embstr"));
    take_propagated();
    assert_eq!(h.cmd(&["SETBIT", "k", "1", "1"]), int(1));
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "k"]), bulk("raw"));
    h.cmd(&["SET", "n", "12"]);
    h.cmd(&[
        "BITFIELD", "n", "OVERFLOW", "FAIL", "SET", "u8", "0", "1000",
    ]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "n"]), bulk("raw"));
    assert_eq!(h.cmd(&["GET", "n"]), bulk("12"));
}

#[test]
fn reads_propagate_nothing() {
    let mut h = Harness::new();
    h.cmd(&["SET", "s", "foobar"]);
    h.cmd(&["RPUSH", "l", "2", "1"]);
    h.cmd(&["PFADD", "h", "a"]);
    h.cmd(&["PFCOUNT", "h"]);
    take_propagated();
    let reads: &[&[&str]] = &[
        &["GETBIT", "s", "3"],
        &["BITCOUNT", "s", "1", "2"],
        &["BITPOS", "s", "0"],
        &["BITFIELD", "s", "GET", "u8", "0"],
        &["BITFIELD_RO", "s", "GET", "i8", "8"],
        &["BITFIELD", "nokey", "GET", "u8", "0"],
        &["SORT", "l"],
        &["SORT_RO", "l", "DESC"],
        &["TOUCH", "s", "l"],
        &["PFCOUNT", "h"],
        &["PFCOUNT", "h", "nokey"],
    ];
    for line in reads {
        assert!(!h.cmd(line).is_error(), "{line:?}");
    }
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["EXISTS", "nokey"]), int(0));
}
