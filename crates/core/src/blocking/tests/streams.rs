//! XREAD BLOCK on the blocked-on-keys mechanism: woken by an XADD past its IDs (`$` taken as
//! the last ID when it blocked), from that stream alone, timed out by the clock, answered at
//! once inside MULTI, and not woken by another type at the key.

use super::*;

fn entry(id: &str, pairs: &[&str]) -> Reply {
    Reply::Array(vec![
        bulk(id),
        Reply::Array(pairs.iter().map(|p| bulk(p)).collect()),
    ])
}

fn read_reply(key: &str, entries: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Array(vec![bulk(key), Reply::Array(entries)])])
}

#[test]
fn an_xadd_past_the_id_serves_the_blocked_xread_from_that_stream() {
    let mut t = clients();
    let (a, b, c) = (t.a, t.b, t.c);
    t.cmd(c, &["XADD", "s", "5-0", "f", "old"]);
    t.effects();
    t.blocks(
        a,
        &["XREAD", "BLOCK", "0", "STREAMS", "other", "s", "0", "$"],
    );
    t.blocks(
        b,
        &["XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "5-0"],
    );
    assert_eq!(t.cmd(c, &["XADD", "s", "6-0", "f", "new"]), bulk("6-0"));
    let news = read_reply("s", vec![entry("6-0", &["f", "new"])]);
    assert_eq!(
        t.effects(),
        vec![unblocked(a, news.clone()), unblocked(b, news)],
        "first blocked first, and `$` was 5-0 when it blocked"
    );
    assert_eq!(take_propagated(), ["XADD s 5-0 f old", "XADD s 6-0 f new"]);
}

#[test]
fn a_blocked_xread_waits_past_its_id_and_for_a_stream() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.cmd(b, &["XADD", "s", "5-0", "f", "v"]);
    t.blocks(a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "9-0"]);
    t.cmd(b, &["XADD", "s", "7-0", "f", "v"]);
    assert_eq!(t.effects(), vec![], "7-0 is not past 9-0");
    t.cmd(b, &["DEL", "s"]);
    t.cmd(b, &["RPUSH", "s", "x"]);
    assert_eq!(t.effects(), vec![], "a list wakes no XREAD");
    t.cmd(b, &["DEL", "s"]);
    t.cmd(b, &["XADD", "s", "9-1", "f", "v"]);
    assert_eq!(
        t.effects(),
        vec![unblocked(
            a,
            read_reply("s", vec![entry("9-1", &["f", "v"])])
        )]
    );
}

#[test]
fn a_blocked_xread_times_out_on_the_clock_and_multi_answers_at_once() {
    let mut t = clients();
    let a = t.a;
    t.blocks(a, &["XREAD", "BLOCK", "1500", "STREAMS", "s", "$"]);
    t.tick_at(1400);
    assert_eq!(t.effects(), vec![]);
    t.tick_at(1600);
    assert_eq!(t.effects(), vec![unblocked(a, Reply::NilArray)]);
    t.cmd(a, &["MULTI"]);
    t.cmd(a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(t.cmd(a, &["EXEC"]), Reply::Array(vec![Reply::NilArray]));
    assert_eq!(
        t.cmd(a, &["XREAD", "STREAMS", "s", "0"]),
        Reply::NilArray,
        "without BLOCK: no wait"
    );
}

#[test]
fn a_blocked_xreadgroup_is_let_go_when_its_stream_is_deleted_or_overwritten() {
    let mut t = clients();
    let (a, b, c) = (t.a, t.b, t.c);
    for setup in [
        &["XADD", "s", "1-0", "f", "v"][..],
        &["XGROUP", "CREATE", "s", "g", "$"],
    ] {
        t.cmd(c, setup);
    }
    t.blocks(
        a,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "x",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    t.blocks(b, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(t.cmd(c, &["DEL", "s"]), int(1));
    let gone = err("UNBLOCKED the stream key no longer exists");
    assert_eq!(
        t.effects(),
        vec![unblocked(a, gone.clone())],
        "XREAD waits on for a stream to come"
    );
    t.cmd(c, &["XADD", "s", "2-0", "f", "v"]);
    t.effects();
    t.cmd(c, &["XGROUP", "CREATE", "s", "g", "$"]);
    t.blocks(
        a,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "x",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    assert_eq!(t.cmd(c, &["SET", "s", "now a string"]), Reply::ok());
    assert_eq!(t.effects(), vec![unblocked(a, gone)]);
}
