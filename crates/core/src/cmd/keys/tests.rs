use std::cell::RefCell;

use super::*;

thread_local! {
    static PROPAGATED: RefCell<Vec<Vec<Bytes>>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn record_propagated(argv: &[Bytes]) {
    PROPAGATED.with(|p| p.borrow_mut().push(argv.to_vec()));
}

/// Commands propagated on this test thread since the last call, as text.
pub(crate) fn take_propagated() -> Vec<String> {
    PROPAGATED.with(|p| {
        p.borrow_mut()
            .drain(..)
            .map(|argv| {
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    })
}

// ---- harness shared with the strings tests ----

use crate::config::Config;
use crate::node::Time;

/// A node with one connected client and a clock the test moves.
pub(crate) struct Harness {
    pub(crate) node: Node,
    pub(crate) client: ClientId,
    pub(crate) now: Time,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        let now = Time {
            mono_ms: 0,
            unix_ms: 1_000_000,
        };
        let mut node = Node::new(Config::default(), now, 1);
        let client = node.client_connected(now, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
        take_propagated();
        Harness { node, client, now }
    }

    pub(crate) fn cmd(&mut self, args: &[&str]) -> Reply {
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        self.node.command(self.now, self.client, &args)
    }

    pub(crate) fn advance_ms(&mut self, ms: u64) {
        self.now.mono_ms += ms;
        self.now.unix_ms += ms;
    }

    /// One active expiry cycle at the harness's clock.
    pub(crate) fn expire_cycle(&mut self) {
        self.node.now = self.now;
        active_expire_cycle(&mut self.node);
    }

    pub(crate) fn become_replica(&mut self) {
        self.node.cluster.me_mut().flags = crate::bus::flags::SLAVE;
    }
}

pub(crate) fn bulk(s: &str) -> Reply {
    Reply::bulk_str(s)
}

pub(crate) fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

pub(crate) fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

pub(crate) fn ok() -> Reply {
    Reply::ok()
}

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

/// Sorted key names from a KEYS reply.
fn names(reply: Reply) -> Vec<String> {
    let Reply::Array(items) = reply else {
        panic!("not an array: {reply:?}");
    };
    let mut names: Vec<String> = items
        .into_iter()
        .map(|r| match r {
            Reply::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf8"),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    names.sort();
    names
}

/// One SCAN call: (next cursor, keys).
fn scan_step(h: &mut Harness, args: &[&str]) -> (String, Vec<String>) {
    let reply = h.cmd(args);
    let Reply::Array(mut parts) = reply else {
        panic!("SCAN reply: {reply:?}");
    };
    assert_eq!(parts.len(), 2);
    let keys = names(parts.pop().expect("keys"));
    let Some(Reply::Bulk(cursor)) = parts.pop() else {
        panic!("SCAN cursor");
    };
    (String::from_utf8(cursor.to_vec()).expect("utf8"), keys)
}

/// Runs a whole SCAN; `between` runs after every step. Bounded in steps.
fn full_scan(
    h: &mut Harness,
    extra: &[&str],
    mut between: impl FnMut(&mut Harness, usize),
) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for step in 0..10_000 {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let (next, keys) = scan_step(h, &args);
        seen.extend(keys);
        if next == "0" {
            return seen;
        }
        between(h, step);
        cursor = next;
    }
    panic!("SCAN did not finish");
}

// ---- DEL, EXISTS, TYPE ----

#[test]
fn del_and_unlink_count_distinct_existing_keys() {
    let mut h = Harness::new();
    h.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(h.cmd(&["DEL", "a", "a", "nope"]), int(1));
    assert_eq!(h.cmd(&["unlink", "b", "c", "b"]), int(2));
    assert_eq!(h.cmd(&["DEL", "a"]), int(0));
    assert_eq!(
        h.cmd(&["DEL"]),
        err("ERR wrong number of arguments for 'del' command")
    );
    assert_eq!(h.cmd(&["DBSIZE"]), int(0));
    assert_eq!(
        take_propagated().last().map(String::as_str),
        Some("unlink b c b")
    );
}

#[test]
fn del_of_nothing_propagates_nothing() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["DEL", "x"]), int(0));
    assert_eq!(take_propagated(), Vec::<String>::new());
}

#[test]
fn exists_counts_duplicates_and_stats() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    assert_eq!(h.cmd(&["EXISTS", "a", "a", "nope", "a"]), int(3));
    assert_eq!(h.node.stats.keyspace_hits, 3);
    assert_eq!(h.node.stats.keyspace_misses, 1);
}

#[test]
fn type_names_strings_and_missing_keys() {
    let mut h = Harness::new();
    h.cmd(&["SET", "s", "1"]);
    assert_eq!(h.cmd(&["TYPE", "s"]), Reply::simple("string"));
    assert_eq!(h.cmd(&["TYPE", "nope"]), Reply::simple("none"));
    assert_eq!(h.node.stats.keyspace_misses, 1);
}

// ---- EXPIRE family ----

#[test]
fn expire_conditions_follow_redis_7() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    assert_eq!(h.cmd(&["EXPIRE", "nope", "10"]), int(0));
    assert_eq!(h.cmd(&["EXPIRE", "a", "10", "xx"]), int(0));
    assert_eq!(
        h.cmd(&["EXPIRE", "a", "10", "gt"]),
        int(0),
        "no TTL = infinite"
    );
    assert_eq!(h.cmd(&["EXPIRE", "a", "10", "NX"]), int(1));
    assert_eq!(h.cmd(&["EXPIRE", "a", "20", "nx"]), int(0));
    assert_eq!(h.cmd(&["EXPIRE", "a", "5", "xx"]), int(1));
    assert_eq!(h.cmd(&["EXPIRE", "a", "100", "gt"]), int(1));
    assert_eq!(h.cmd(&["EXPIRE", "a", "50", "gt"]), int(0));
    assert_eq!(
        h.cmd(&["EXPIRE", "a", "100", "gt"]),
        int(0),
        "equal is not greater"
    );
    assert_eq!(h.cmd(&["EXPIRE", "a", "10", "lt"]), int(1));
    assert_eq!(h.cmd(&["EXPIRE", "a", "10", "xx", "gt", "gt"]), int(0));
    assert_eq!(h.cmd(&["TTL", "a"]), int(10));
    assert_eq!(h.cmd(&["PERSIST", "a"]), int(1));
    assert_eq!(
        h.cmd(&["EXPIRE", "a", "10", "lt"]),
        int(1),
        "anything is less than infinite"
    );
    assert_eq!(h.cmd(&["TTL", "a"]), int(10));
}

#[test]
fn expire_option_errors() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    assert_eq!(h.cmd(&["EXPIRE", "a", "10", "nx", "xx"]), err(nx));
    assert_eq!(h.cmd(&["EXPIRE", "a", "10", "gt", "nx"]), err(nx));
    assert_eq!(h.cmd(&["EXPIRE", "a", "10", "nx", "lt"]), err(nx));
    assert_eq!(
        h.cmd(&["EXPIRE", "a", "10", "gt", "lt"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        h.cmd(&["EXPIRE", "a", "10", "foo"]),
        err("ERR Unsupported option foo")
    );
    // Options are checked before the number.
    assert_eq!(
        h.cmd(&["EXPIRE", "a", "abc", "foo"]),
        err("ERR Unsupported option foo")
    );
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(h.cmd(&["EXPIRE", "a", "abc"]), not_int);
    assert_eq!(h.cmd(&["PEXPIRE", "a", "1.5"]), not_int);
    assert_eq!(
        h.cmd(&["EXPIRE", "a"]),
        err("ERR wrong number of arguments for 'expire' command")
    );
    assert_eq!(h.cmd(&["TTL", "a"]), int(-1), "errors change nothing");
}

#[test]
fn expire_overflow_is_an_invalid_expire_time() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    let max = "9223372036854775807";
    let cases = [
        ("EXPIRE", max, "expire"),
        ("EXPIRE", "9223372036854775", "expire"),
        ("EXPIRE", "-9223372036854775808", "expire"),
        ("PEXPIRE", max, "pexpire"),
        ("EXPIREAT", max, "expireat"),
        ("EXPIREAT", "-9223372036854775808", "expireat"),
    ];
    for (cmd, when, name) in cases {
        assert_eq!(
            h.cmd(&[cmd, "a", when]),
            err(&format!("ERR invalid expire time in '{name}' command")),
            "{cmd} {when}"
        );
    }
    assert_eq!(h.cmd(&["PEXPIREAT", "a", max]), int(1));
    assert_eq!(h.cmd(&["PTTL", "a"]), int(i64::MAX - 1_000_000));
}

#[test]
fn expire_in_the_past_deletes_without_counting_an_expiration() {
    let mut h = Harness::new();
    for (cmd, when) in [
        ("EXPIRE", "0"),
        ("EXPIRE", "-1"),
        ("PEXPIRE", "-9223372036854775808"),
        ("EXPIREAT", "1"),
        ("PEXPIREAT", "1000000"),
    ] {
        h.cmd(&["SET", "a", "1"]);
        take_propagated();
        assert_eq!(h.cmd(&[cmd, "a", when]), int(1), "{cmd} {when}");
        assert_eq!(h.cmd(&["EXISTS", "a"]), int(0));
        assert_eq!(take_propagated(), vec!["DEL a"]);
    }
    assert_eq!(h.node.stats.expired_keys, 0);
}

#[test]
fn expire_propagates_as_absolute_pexpireat() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1"]);
    take_propagated();
    h.cmd(&["expire", "a", "10", "gt", "lt"]);
    h.cmd(&["expire", "a", "10", "nx"]);
    h.cmd(&["PEXPIRE", "a", "500", "xx"]);
    h.cmd(&["EXPIREAT", "a", "2000"]);
    h.cmd(&["pexpireat", "a", "3000000"]);
    h.cmd(&["EXPIRE", "a", "10", "nx"]);
    assert_eq!(
        take_propagated(),
        vec![
            "PEXPIREAT a 1010000 nx",
            "PEXPIREAT a 1000500 xx",
            "PEXPIREAT a 2000000",
            "pexpireat a 3000000",
        ]
    );
}

#[test]
fn ttl_and_pttl_count_down_with_the_clock() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["TTL", "nope"]), int(-2));
    assert_eq!(h.cmd(&["PTTL", "nope"]), int(-2));
    h.cmd(&["SET", "a", "1"]);
    assert_eq!(h.cmd(&["TTL", "a"]), int(-1));
    assert_eq!(h.cmd(&["PTTL", "a"]), int(-1));
    h.cmd(&["PEXPIRE", "a", "2000"]);
    h.advance_ms(500);
    assert_eq!(h.cmd(&["PTTL", "a"]), int(1500));
    assert_eq!(h.cmd(&["TTL", "a"]), int(2), "rounded to nearest");
    h.advance_ms(1);
    assert_eq!(h.cmd(&["TTL", "a"]), int(1));
    h.advance_ms(1499);
    assert_eq!(h.cmd(&["PTTL", "a"]), int(-2));
    assert_eq!(h.node.stats.expired_keys, 1);
}

#[test]
fn persist_removes_a_ttl_once() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1", "EX", "10"]);
    take_propagated();
    assert_eq!(h.cmd(&["PERSIST", "a"]), int(1));
    assert_eq!(h.cmd(&["PERSIST", "a"]), int(0));
    assert_eq!(h.cmd(&["PERSIST", "nope"]), int(0));
    assert_eq!(h.cmd(&["TTL", "a"]), int(-1));
    assert_eq!(take_propagated(), vec!["PERSIST a"]);
    assert_eq!(h.node.db.expiring_count(), 0);
}

// ---- lazy and active expiry ----

#[test]
fn expired_keys_vanish_lazily_and_are_counted() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1", "PX", "100"]);
    take_propagated();
    h.advance_ms(99);
    assert_eq!(h.cmd(&["GET", "a"]), bulk("1"));
    h.advance_ms(1);
    assert_eq!(h.cmd(&["DBSIZE"]), int(1), "still stored until touched");
    assert_eq!(h.cmd(&["GET", "a"]), Reply::Nil);
    assert_eq!(h.cmd(&["DBSIZE"]), int(0));
    assert_eq!(h.node.stats.expired_keys, 1);
    assert_eq!(h.node.stats.keyspace_hits, 1);
    assert_eq!(h.node.stats.keyspace_misses, 1);
    assert_eq!(take_propagated(), vec!["DEL a"]);
}

#[test]
fn active_expiry_removes_due_keys_in_bounded_batches() {
    let mut h = Harness::new();
    let n = ACTIVE_EXPIRE_KEYS_PER_CYCLE + 500;
    for i in 0..n {
        h.cmd(&["SET", &format!("t{i}"), "v", "PX", "100"]);
    }
    h.cmd(&["SET", "later", "v", "PX", "5000"]);
    h.cmd(&["SET", "forever", "v"]);
    h.expire_cycle();
    assert_eq!(h.node.db.len(), n + 2, "nothing due yet");
    h.advance_ms(100);
    take_propagated();
    h.expire_cycle();
    assert_eq!(h.node.db.len(), 500 + 2);
    assert_eq!(
        h.node.stats.expired_keys,
        ACTIVE_EXPIRE_KEYS_PER_CYCLE as u64
    );
    assert!(take_propagated().iter().all(|c| c.starts_with("DEL t")));
    h.expire_cycle();
    assert_eq!(h.node.db.len(), 2);
    assert_eq!(h.node.stats.expired_keys, n as u64);
    assert_eq!(h.cmd(&["EXISTS", "later", "forever"]), int(2));
}

#[test]
fn replicas_hide_expired_keys_but_keep_them_for_the_master_del() {
    let mut h = Harness::new();
    h.cmd(&["SET", "a", "1", "PX", "100"]);
    h.become_replica();
    h.advance_ms(100);
    take_propagated();
    assert_eq!(h.cmd(&["GET", "a"]), Reply::Nil);
    assert_eq!(h.cmd(&["TTL", "a"]), int(-2));
    h.expire_cycle();
    assert_eq!(h.node.db.len(), 1);
    assert_eq!(h.node.stats.expired_keys, 0);
    assert_eq!(take_propagated(), Vec::<String>::new());
}

// ---- KEYS ----

#[test]
fn keys_matches_patterns_and_skips_expired_keys_without_deleting() {
    let mut h = Harness::new();
    h.cmd(&[
        "MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1",
    ]);
    h.cmd(&["SET", "", "empty"]);
    h.cmd(&["SET", "hbllo", "1", "PX", "10"]);
    h.advance_ms(10);
    assert_eq!(
        names(h.cmd(&["KEYS", "h?llo"])),
        ["hallo", "hello", "hxllo"]
    );
    assert_eq!(
        names(h.cmd(&["KEYS", "h*llo"])),
        ["hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(names(h.cmd(&["KEYS", "h[ae]llo"])), ["hallo", "hello"]);
    assert_eq!(names(h.cmd(&["KEYS", "h[^e]llo"])), ["hallo", "hxllo"]);
    assert_eq!(names(h.cmd(&["KEYS", "h[a-b]llo"])), ["hallo"]);
    let all = h.cmd(&["KEYS", "*"]);
    assert_eq!(all, h.cmd(&["KEYS", "*"]), "same order every time");
    assert_eq!(
        names(h.cmd(&["KEYS", "*"])).len(),
        6,
        "`*` includes the empty key"
    );
    assert_eq!(names(h.cmd(&["KEYS", "**"])).len(), 5, "`**` does not");
    assert_eq!(names(h.cmd(&["KEYS", ""])), [""]);
    assert_eq!(h.cmd(&["KEYS", "nomatch*"]), Reply::Array(vec![]));
    assert_eq!(h.cmd(&["DBSIZE"]), int(7), "KEYS never deletes");
    assert_eq!(h.node.stats.expired_keys, 0);
}

// ---- SCAN ----

#[test]
fn scan_returns_every_key_exactly_once_on_a_still_keyspace() {
    let mut h = Harness::new();
    for i in 0..300 {
        h.cmd(&["SET", &format!("key:{i}"), "v"]);
    }
    let mut seen = full_scan(&mut h, &["COUNT", "7"], |_, _| {});
    seen.sort();
    let mut expected: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn scan_never_misses_keys_present_throughout_while_others_change() {
    let mut h = Harness::new();
    for i in 0..400 {
        h.cmd(&["SET", &format!("stay:{i}"), "v"]);
        h.cmd(&["SET", &format!("go:{i}"), "v"]);
    }
    // Between steps: delete some keys and add new ones in every part of the order.
    let seen = full_scan(&mut h, &["COUNT", "5"], |h, step| {
        for j in 0..4 {
            let n = step * 4 + j;
            h.cmd(&["DEL", &format!("go:{n}")]);
            h.cmd(&["SET", &format!("new:{n}"), "v"]);
        }
    });
    for i in 0..400 {
        let key = format!("stay:{i}");
        assert!(seen.contains(&key), "{key} missed");
    }
    assert!(seen.iter().all(|k| !k.is_empty()));
}

#[test]
fn scan_filters_by_match_and_type() {
    let mut h = Harness::new();
    for i in 0..50 {
        h.cmd(&["SET", &format!("user:{i}"), "v"]);
        h.cmd(&["SET", &format!("item:{i}"), "v"]);
    }
    let users = full_scan(&mut h, &["MATCH", "user:*", "COUNT", "9"], |_, _| {});
    assert_eq!(users.len(), 50);
    assert!(users.iter().all(|k| k.starts_with("user:")));
    assert_eq!(full_scan(&mut h, &["TYPE", "STRING"], |_, _| {}).len(), 100);
    assert_eq!(full_scan(&mut h, &["type", "hash"], |_, _| {}).len(), 0);
    assert_eq!(
        full_scan(&mut h, &["TYPE", "nosuchtype"], |_, _| {}).len(),
        0
    );
    let both = full_scan(
        &mut h,
        &["COUNT", "1000", "MATCH", "item:1*", "TYPE", "string"],
        |_, _| {},
    );
    assert_eq!(both.len(), 11);
    // Repeated options: the last one counts.
    assert_eq!(
        full_scan(&mut h, &["MATCH", "x*", "MATCH", "*"], |_, _| {}).len(),
        100
    );
}

#[test]
fn scan_removes_expired_keys_it_meets() {
    let mut h = Harness::new();
    h.cmd(&["SET", "live", "v"]);
    h.cmd(&["SET", "dead", "v", "PX", "5"]);
    h.advance_ms(5);
    assert_eq!(full_scan(&mut h, &[], |_, _| {}), vec!["live"]);
    assert_eq!(h.node.stats.expired_keys, 1);
    assert_eq!(h.cmd(&["DBSIZE"]), int(1));
}

#[test]
fn scan_arguments_and_errors() {
    let mut h = Harness::new();
    h.cmd(&["SET", "k", "v"]);
    let done = |keys: &[&str]| Reply::Array(vec![bulk("0"), bulks(keys)]);
    assert_eq!(h.cmd(&["SCAN", "0"]), done(&["k"]));
    assert_eq!(h.cmd(&["SCAN", ""]), done(&["k"]), "empty cursor is 0");
    assert_eq!(h.cmd(&["SCAN", "+0"]), done(&["k"]));
    assert_eq!(
        h.cmd(&["SCAN", "-1"]),
        done(&[]),
        "wraps to the largest cursor"
    );
    assert_eq!(h.cmd(&["SCAN", "18446744073709551615"]), done(&[]));
    let invalid = err("ERR invalid cursor");
    for bad in ["abc", "18446744073709551616", " 5", "5 ", "-", "1.0"] {
        assert_eq!(h.cmd(&["SCAN", bad]), invalid, "{bad:?}");
    }
    let syntax = err("ERR syntax error");
    assert_eq!(h.cmd(&["SCAN", "0", "COUNT", "0"]), syntax);
    assert_eq!(h.cmd(&["SCAN", "0", "COUNT", "-1"]), syntax);
    assert_eq!(h.cmd(&["SCAN", "0", "COUNT"]), syntax);
    assert_eq!(h.cmd(&["SCAN", "0", "MATCH"]), syntax);
    assert_eq!(h.cmd(&["SCAN", "0", "foo", "bar"]), syntax);
    assert_eq!(
        h.cmd(&["SCAN", "0", "COUNT", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        h.cmd(&["SCAN", "abc", "COUNT", "0"]),
        invalid,
        "cursor first"
    );
    assert_eq!(
        h.cmd(&["SCAN"]),
        err("ERR wrong number of arguments for 'scan' command")
    );
}

#[test]
fn scan_cursor_is_never_zero_before_the_end() {
    let mut h = Harness::new();
    for i in 0..30 {
        h.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    let (cursor, keys) = scan_step(&mut h, &["SCAN", "0", "COUNT", "10"]);
    assert_ne!(cursor, "0");
    assert!(keys.len() >= 10);
    assert!(cursor.parse::<u64>().expect("numeric") <= crate::db::POSITION_END);
}

// ---- RANDOMKEY, DBSIZE, FLUSH ----

#[test]
fn randomkey_returns_live_keys_only() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["RANDOMKEY"]), Reply::Nil);
    for i in 0..20 {
        h.cmd(&["SET", &format!("dead{i}"), "v", "PX", "1"]);
    }
    h.cmd(&["SET", "alive", "v"]);
    h.advance_ms(1);
    for _ in 0..5 {
        assert_eq!(h.cmd(&["RANDOMKEY"]), bulk("alive"));
    }
    h.cmd(&["DEL", "alive"]);
    assert_eq!(h.cmd(&["RANDOMKEY"]), Reply::Nil);
    assert_eq!(h.node.db.len(), 0);
}

#[test]
fn flushall_and_flushdb_options() {
    let mut h = Harness::new();
    for args in [
        &["FLUSHALL"][..],
        &["FLUSHALL", "async"],
        &["flushall", "SYNC"],
        &["FLUSHDB"],
        &["FLUSHDB", "ASYNC"],
    ] {
        h.cmd(&["MSET", "a", "1", "b", "2"]);
        assert_eq!(h.cmd(&["DBSIZE"]), int(2));
        assert_eq!(h.cmd(args), ok(), "{args:?}");
        assert_eq!(h.cmd(&["DBSIZE"]), int(0));
    }
    h.cmd(&["SET", "a", "1"]);
    let syntax = err("ERR syntax error");
    assert_eq!(h.cmd(&["FLUSHALL", "foo"]), syntax);
    assert_eq!(h.cmd(&["FLUSHALL", "async", "sync"]), syntax);
    assert_eq!(h.cmd(&["FLUSHDB", "foo"]), syntax);
    assert_eq!(h.cmd(&["DBSIZE"]), int(1));
    assert_eq!(
        h.cmd(&["DBSIZE", "x"]),
        err("ERR wrong number of arguments for 'dbsize' command")
    );
}

#[test]
fn specs_match_redis_command_info() {
    let spec = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect(name);
    let del = spec("del");
    assert_eq!(
        (del.arity, del.first_key, del.last_key, del.key_step),
        (-2, 1, -1, 1)
    );
    let args: Vec<Bytes> = ["DEL", "a", "b"].iter().map(|s| Bytes::from(*s)).collect();
    assert_eq!(del.keys(&args), vec![&args[1], &args[2]]);
    assert_eq!(spec("keys").flags, &["readonly"]);
    assert_eq!(
        spec("keys").acl_categories,
        &["@keyspace", "@read", "@slow", "@dangerous"]
    );
    assert!(spec("scan").keys(&args).is_empty());
    assert_eq!(spec("dbsize").group, "server");
    assert_eq!(spec("expire").flags, &["write", "fast"]);
}

#[test]
fn type_object_and_scan_type_see_every_type() {
    use crate::db::{Hash, List, Set, Value, ZSet};
    let mut h = Harness::new();
    let list: List = [&b"a"[..]].into_iter().collect();
    let mut zset = ZSet::new();
    zset.insert(b"m", 1.0);
    let set: Set = [&b"1"[..]].into_iter().collect();
    let values = [
        ("l", Value::List(list)),
        ("h", Value::Hash(Hash::from_pairs([(&b"f"[..], &b"v"[..])]))),
        ("s", Value::Set(set)),
        ("z", Value::ZSet(zset)),
    ];
    for (key, value) in values {
        h.node.db.set_owned(key.as_bytes(), value, None);
    }
    h.cmd(&["SET", "n", "123"]);
    h.cmd(&["SET", "e", "abc"]);
    h.cmd(&["SET", "r", &"x".repeat(45)]);
    let expected = [
        ("l", "list", "quicklist"),
        ("h", "hash", "listpack"),
        ("s", "set", "intset"),
        ("z", "zset", "listpack"),
        ("n", "string", "int"),
        ("e", "string", "embstr"),
        ("r", "string", "raw"),
    ];
    for (key, type_name, encoding) in expected {
        assert_eq!(h.cmd(&["TYPE", key]), Reply::simple(type_name), "{key}");
        assert_eq!(h.cmd(&["OBJECT", "ENCODING", key]), bulk(encoding), "{key}");
    }
    assert_eq!(h.cmd(&["OBJECT", "encoding", "none"]), Reply::Nil);
    assert_eq!(h.cmd(&["OBJECT", "REFCOUNT", "n"]), int(2147483647));
    assert_eq!(h.cmd(&["OBJECT", "REFCOUNT", "l"]), int(1));
    assert_eq!(
        h.cmd(&["OBJECT", "ENCODING"]),
        err("ERR wrong number of arguments for 'object|encoding' command")
    );
    assert_eq!(
        h.cmd(&["OBJECT", "foo"]),
        err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
    );
    assert!(h.cmd(&["OBJECT", "FREQ", "n"]).is_error());
    match h.cmd(&["SCAN", "0", "TYPE", "list", "COUNT", "100"]) {
        Reply::Array(parts) => assert_eq!(parts[1], Reply::Array(vec![bulk("l")])),
        other => panic!("{other:?}"),
    }
    // Key commands work on every type.
    assert_eq!(h.cmd(&["EXPIRE", "z", "10"]), int(1));
    assert_eq!(h.cmd(&["TTL", "z"]), int(10));
    assert_eq!(h.cmd(&["EXISTS", "l", "h", "s", "z"]), int(4));
    assert_eq!(h.cmd(&["DEL", "l", "h", "s", "z"]), int(4));
    assert_eq!(h.cmd(&["DBSIZE"]), int(3));
}

#[test]
fn configured_encoding_limits_apply_to_later_writes() {
    let mut h = Harness::new();
    assert_eq!(
        h.cmd(&["CONFIG", "SET", "hash-max-ziplist-entries", "2"]),
        ok()
    );
    assert_eq!(
        h.cmd(&["CONFIG", "SET", "set-max-intset-entries", "1"]),
        ok()
    );
    assert_eq!(
        h.cmd(&["CONFIG", "SET", "hash-max-listpack-value", "3"]),
        ok()
    );
    h.cmd(&["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "h"]), bulk("listpack"));
    h.cmd(&["HSET", "h", "c", "3"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    h.cmd(&["HSET", "long", "f", "four"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "long"]), bulk("hashtable"));
    h.cmd(&["SADD", "s", "1"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "s"]), bulk("intset"));
    h.cmd(&["SADD", "s", "2"]);
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
    // RESTORE loads under the same limits.
    let Reply::Bulk(payload) = h.cmd(&["DUMP", "h"]) else {
        panic!("a payload")
    };
    assert_eq!(
        h.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "512"]),
        ok()
    );
    let args = [
        Bytes::from_static(b"RESTORE"),
        Bytes::from_static(b"h2"),
        Bytes::from_static(b"0"),
        payload,
    ];
    assert_eq!(h.node.command(h.now, h.client, &args), ok());
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "h2"]), bulk("listpack"));
    assert_eq!(
        h.node.config.encoding_limits.hash_max_listpack_value, 3,
        "CONFIG SET reaches the typed limits"
    );
}
