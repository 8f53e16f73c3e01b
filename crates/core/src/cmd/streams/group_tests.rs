//! Consumer groups on one node, on the harness's clock: deliveries and their replay forms,
//! idle times in XPENDING, claims by idle time, XAUTOCLAIM's cursor, the lag bookkeeping.

use crate::cmd::keys::tests::{bulk, err, int, ok, take_propagated, Harness};
use crate::reply::Reply;

fn entry(id: &str, pairs: &[&str]) -> Reply {
    Reply::Array(vec![
        bulk(id),
        Reply::Array(pairs.iter().map(|p| bulk(p)).collect()),
    ])
}

fn read(key: &str, entries: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Array(vec![bulk(key), Reply::Array(entries)])])
}

fn pending(id: &str, consumer: &str, idle_ms: i64, count: i64) -> Reply {
    Reply::Array(vec![bulk(id), bulk(consumer), int(idle_ms), int(count)])
}

/// Stream `s` with entries 1-0 … 4-0 (`f <i>`) and group `g` at 0.
fn with_group() -> Harness {
    let mut h = Harness::new();
    for i in 1..=4 {
        h.cmd(&["XADD", "s", &i.to_string(), "f", &i.to_string()]);
    }
    assert_eq!(h.cmd(&["XGROUP", "CREATE", "s", "g", "0"]), ok());
    take_propagated();
    h
}

#[test]
fn xreadgroup_delivers_once_keeps_pending_and_replays_as_xclaim() {
    let mut h = with_group();
    assert_eq!(
        h.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">"
        ]),
        read(
            "s",
            vec![entry("1-0", &["f", "1"]), entry("2-0", &["f", "2"])]
        )
    );
    // The harness's wall clock is 1_000_000 ms.
    assert_eq!(
        take_propagated(),
        [
            "MULTI",
            "XCLAIM s g alice 0 1-0 TIME 1000000 RETRYCOUNT 1 FORCE JUSTID LASTID 1-0",
            "XCLAIM s g alice 0 2-0 TIME 1000000 RETRYCOUNT 1 FORCE JUSTID LASTID 2-0",
            "EXEC"
        ]
    );
    h.advance_ms(250);
    assert_eq!(
        h.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "NOACK",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">"
        ]),
        read("s", vec![entry("3-0", &["f", "3"])])
    );
    assert_eq!(
        take_propagated(),
        [
            "MULTI",
            "XGROUP CREATECONSUMER s g bob",
            "XGROUP SETID s g 3-0 ENTRIESREAD 3",
            "EXEC"
        ]
    );
    assert_eq!(
        h.cmd(&["XPENDING", "s", "g"]),
        Reply::Array(vec![
            int(2),
            bulk("1-0"),
            bulk("2-0"),
            Reply::Array(vec![Reply::Array(vec![bulk("alice"), bulk("2")])])
        ])
    );
    assert_eq!(
        h.cmd(&["XPENDING", "s", "g", "-", "+", "10"]),
        Reply::Array(vec![
            pending("1-0", "alice", 250, 1),
            pending("2-0", "alice", 250, 1)
        ])
    );
    // Alice's history: delivered again, counted, re-dated; nothing replays.
    h.advance_ms(50);
    assert_eq!(
        h.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]),
        read(
            "s",
            vec![entry("1-0", &["f", "1"]), entry("2-0", &["f", "2"])]
        )
    );
    assert!(take_propagated().is_empty());
    assert_eq!(
        h.cmd(&["XPENDING", "s", "g", "IDLE", "1", "-", "+", "10", "alice"]),
        Reply::Array(vec![])
    );
    assert_eq!(h.cmd(&["XACK", "s", "g", "1-0", "7-0"]), int(1));
    assert_eq!(take_propagated(), ["XACK s g 1-0 7-0"]);
    h.cmd(&["XDEL", "s", "2-0"]);
    assert_eq!(
        h.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]),
        read("s", vec![Reply::Array(vec![bulk("2-0"), Reply::NilArray])]),
        "a deleted entry still pending reads as nil"
    );
}

#[test]
fn xclaim_takes_idle_entries_and_drops_deleted_ones() {
    let mut h = with_group();
    h.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]);
    take_propagated();
    h.advance_ms(1000);
    assert_eq!(
        h.cmd(&["XCLAIM", "s", "g", "bob", "2000", "1-0"]),
        Reply::Array(vec![]),
        "not idle long enough"
    );
    assert_eq!(
        h.cmd(&["XCLAIM", "s", "g", "bob", "500", "1-0", "2-0", "JUSTID"]),
        Reply::Array(vec![bulk("1-0"), bulk("2-0")])
    );
    assert_eq!(
        take_propagated(),
        [
            "MULTI",
            "XCLAIM s g bob 0 1-0 TIME 1001000 RETRYCOUNT 1 FORCE JUSTID LASTID 4-0",
            "XCLAIM s g bob 0 2-0 TIME 1001000 RETRYCOUNT 1 FORCE JUSTID LASTID 4-0",
            "EXEC"
        ]
    );
    assert_eq!(
        h.cmd(&[
            "XCLAIM",
            "s",
            "g",
            "bob",
            "0",
            "3-0",
            "IDLE",
            "300",
            "RETRYCOUNT",
            "9"
        ]),
        Reply::Array(vec![entry("3-0", &["f", "3"])])
    );
    take_propagated();
    assert_eq!(
        h.cmd(&["XPENDING", "s", "g", "3-0", "3-0", "1"]),
        Reply::Array(vec![pending("3-0", "bob", 300, 9)])
    );
    h.cmd(&["XDEL", "s", "4-0"]);
    take_propagated();
    assert_eq!(
        h.cmd(&["XCLAIM", "s", "g", "bob", "0", "4-0"]),
        Reply::Array(vec![])
    );
    assert_eq!(
        take_propagated(),
        ["XCLAIM s g alice 0 4-0 TIME 1000000 RETRYCOUNT 1 FORCE JUSTID LASTID 4-0"],
        "the dropped entry replays so a replica drops it too"
    );
    assert_eq!(
        h.cmd(&["XCLAIM", "s", "g", "bob", "x", "1-0"]),
        err("ERR Invalid min-idle-time argument for XCLAIM")
    );
    assert_eq!(
        h.cmd(&["XCLAIM", "s", "g", "bob", "0", "1-0", "NOPE"]),
        err("ERR Unrecognized XCLAIM option 'NOPE'")
    );
}

#[test]
fn xautoclaim_walks_the_pending_entries_with_a_cursor() {
    let mut h = with_group();
    h.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]);
    h.cmd(&["XDEL", "s", "2-0"]);
    take_propagated();
    h.advance_ms(100);
    assert_eq!(
        h.cmd(&[
            "XAUTOCLAIM",
            "s",
            "g",
            "bob",
            "50",
            "0",
            "COUNT",
            "2",
            "JUSTID"
        ]),
        Reply::Array(vec![
            bulk("3-0"),
            Reply::Array(vec![bulk("1-0")]),
            Reply::Array(vec![bulk("2-0")])
        ]),
        "one claimed, one deleted: the count is spent, 3-0 is next"
    );
    assert_eq!(
        h.cmd(&["XAUTOCLAIM", "s", "g", "bob", "0", "3-0"]),
        Reply::Array(vec![
            bulk("0-0"),
            Reply::Array(vec![entry("3-0", &["f", "3"]), entry("4-0", &["f", "4"])]),
            Reply::Array(vec![])
        ])
    );
    assert_eq!(
        h.cmd(&["XAUTOCLAIM", "s", "g", "bob", "0", "0", "COUNT", "0"]),
        err("ERR COUNT must be > 0")
    );
    assert_eq!(
        h.cmd(&["XAUTOCLAIM", "s", "nog", "bob", "0", "0"]),
        err("NOGROUP No such key 's' or consumer group 'nog'")
    );
}

#[test]
fn xgroup_keeps_its_checks_in_redis_order() {
    let mut h = with_group();
    let missing = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
    assert_eq!(h.cmd(&["XGROUP", "CREATE", "none", "g", "$"]), err(missing));
    assert_eq!(
        h.cmd(&["XGROUP", "CREATE", "new", "g", "$", "MKSTREAM"]),
        ok()
    );
    assert_eq!(h.cmd(&["XLEN", "new"]), int(0));
    assert_eq!(
        h.cmd(&["XGROUP", "CREATE", "s", "g", "$"]),
        err("BUSYGROUP Consumer Group name already exists")
    );
    assert_eq!(
        h.cmd(&["XGROUP", "SETID", "s", "nog", "0"]),
        err("NOGROUP No such consumer group 'nog' for key name 's'")
    );
    assert_eq!(
        h.cmd(&["XGROUP", "CREATE", "s", "h", "0", "ENTRIESREAD", "-3"]),
        err("ERR value for ENTRIESREAD must be positive or -1")
    );
    assert_eq!(
        h.cmd(&["XGROUP", "CREATE", "s", "h"]),
        err("ERR wrong number of arguments for 'xgroup|create' command")
    );
    assert_eq!(
        h.cmd(&["XGROUP", "NOPE", "s"]),
        err("ERR unknown subcommand 'NOPE'. Try XGROUP HELP.")
    );
    assert_eq!(h.cmd(&["XGROUP", "CREATECONSUMER", "s", "g", "c"]), int(1));
    assert_eq!(h.cmd(&["XGROUP", "CREATECONSUMER", "s", "g", "c"]), int(0));
    assert_eq!(h.cmd(&["XGROUP", "DELCONSUMER", "s", "g", "c"]), int(0));
    assert_eq!(h.cmd(&["XGROUP", "DESTROY", "s", "g"]), int(1));
    assert_eq!(h.cmd(&["XGROUP", "DESTROY", "s", "g"]), int(0));
    assert_eq!(
        take_propagated(),
        [
            "XGROUP CREATE new g $ MKSTREAM",
            "XGROUP CREATECONSUMER s g c",
            "XGROUP DELCONSUMER s g c",
            "XGROUP DESTROY s g"
        ]
    );
}

#[test]
fn the_lag_follows_entries_read_and_deletions() {
    let mut h = with_group();
    let lag = |h: &mut Harness| {
        let stream = match h.node.db.get(b"s", 0).map(|e| e.value) {
            Some(crate::db::ValueRef::Stream(s)) => s.clone(),
            other => panic!("{other:?}"),
        };
        stream.lag(&stream.groups[&b"g"[..]])
    };
    assert_eq!(
        lag(&mut h),
        Some(4),
        "at 0, before the first entry: all unread"
    );
    h.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "a",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ]);
    assert_eq!(
        lag(&mut h),
        Some(3),
        "the first entry read: counted from the start"
    );
    h.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "a",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ]);
    assert_eq!(lag(&mut h), Some(2));
    h.cmd(&["XDEL", "s", "4-0"]);
    assert_eq!(lag(&mut h), None, "a deletion past the group's ID: unknown");
    h.cmd(&["XGROUP", "SETID", "s", "g", "$"]);
    assert_eq!(lag(&mut h), Some(0), "at the last ID");
}

#[test]
fn xinfo_reports_groups_consumers_and_times_on_the_node_clock() {
    let mut h = with_group();
    h.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ]);
    h.advance_ms(40);
    let field = |name: &str| bulk(name);
    assert_eq!(
        h.cmd(&["XINFO", "CONSUMERS", "s", "g"]),
        Reply::Array(vec![Reply::Map(vec![
            (field("name"), bulk("alice")),
            (field("pending"), int(1)),
            (field("idle"), int(40)),
        ])])
    );
    assert_eq!(
        h.cmd(&["XINFO", "GROUPS", "s"]),
        Reply::Array(vec![Reply::Map(vec![
            (field("name"), bulk("g")),
            (field("consumers"), int(1)),
            (field("pending"), int(1)),
            (field("last-delivered-id"), bulk("1-0")),
            (field("entries-read"), int(1)),
            (field("lag"), int(3)),
        ])])
    );
    let Reply::Map(full) = h.cmd(&["XINFO", "STREAM", "s", "FULL", "COUNT", "1"]) else {
        panic!("a map");
    };
    let names: Vec<Reply> = full.iter().map(|(k, _)| k.clone()).collect();
    let expected = [
        "length",
        "radix-tree-keys",
        "radix-tree-nodes",
        "last-generated-id",
        "max-deleted-entry-id",
        "entries-added",
        "recorded-first-entry-id",
        "entries",
        "groups",
    ];
    assert_eq!(names, expected.map(field));
    // One node, one key: a compressed node down to the key's empty node.
    assert_eq!((full[1].1.clone(), full[2].1.clone()), (int(1), int(2)));
    assert_eq!(full[7].1, Reply::Array(vec![entry("1-0", &["f", "1"])]));
    let Reply::Array(groups) = &full[8].1 else {
        panic!("groups");
    };
    let Reply::Map(group) = &groups[0] else {
        panic!("a group");
    };
    // The harness's wall clock was 1_000_000 ms at the delivery.
    let delivered = Reply::Array(vec![bulk("1-0"), bulk("alice"), int(1_000_000), int(1)]);
    assert_eq!(group[5], (field("pending"), Reply::Array(vec![delivered])));
    assert_eq!(
        h.cmd(&["XINFO", "STREAM", "s", "FULL", "COUNT"]),
        err("ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.")
    );
    assert_eq!(h.cmd(&["XINFO", "STREAM", "none"]), err("ERR no such key"));
}
