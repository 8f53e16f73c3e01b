//! BZPOPMIN, BZPOPMAX and BZMPOP on the blocked-on-keys mechanism: served by a ZADD from
//! another client, replayed as Redis 7.0 writes them, timed out by the clock, and not woken
//! by a list.

use super::*;

fn triple(key: &str, member: &str, score: f64) -> Reply {
    Reply::Array(vec![bulk(key), bulk(member), Reply::Double(score)])
}

#[test]
fn a_zadd_serves_blocked_zset_pops_which_replay_as_zpopmin_and_zpopmax() {
    let mut t = clients();
    let (a, b, c) = (t.a, t.b, t.c);
    t.blocks(a, &["BZPOPMIN", "z", "0"]);
    t.blocks(b, &["BZPOPMAX", "z", "0"]);
    // A list at the key wakes nobody: they wait for a sorted set.
    assert_eq!(t.cmd(c, &["DEL", "z"]), int(0));
    assert_eq!(
        t.cmd(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
        int(3)
    );
    assert_eq!(
        t.effects(),
        vec![
            unblocked(a, triple("z", "a", 1.0)),
            unblocked(b, triple("z", "c", 3.0))
        ]
    );
    assert_eq!(
        take_propagated(),
        ["ZADD z 1 a 2 b 3 c", "ZPOPMIN z", "ZPOPMAX z"]
    );
    // With a member there, it answers at once.
    assert_eq!(
        t.cmd(a, &["BZPOPMIN", "none", "z", "0"]),
        triple("z", "b", 2.0)
    );
    assert_eq!(take_propagated(), ["ZPOPMIN z"]);
    assert_eq!(t.cmd(a, &["EXISTS", "z"]), int(0));
}

#[test]
fn bzmpop_pops_a_count_and_replays_it_and_a_list_does_not_wake_it() {
    let mut t = clients();
    let (a, c) = (t.a, t.c);
    t.blocks(a, &["BZMPOP", "0", "2", "x", "z", "MAX", "COUNT", "2"]);
    t.cmd(c, &["RPUSH", "z", "not-a-zset"]);
    assert_eq!(t.effects(), vec![]);
    t.cmd(c, &["DEL", "z"]);
    t.cmd(c, &["ZADD", "x", "5", "m", "6", "n", "7", "o"]);
    let pairs = Reply::Array(vec![
        Reply::Array(vec![bulk("o"), Reply::Double(7.0)]),
        Reply::Array(vec![bulk("n"), Reply::Double(6.0)]),
    ]);
    assert_eq!(
        t.effects(),
        vec![unblocked(a, Reply::Array(vec![bulk("x"), pairs]))]
    );
    assert_eq!(
        take_propagated(),
        [
            "RPUSH z not-a-zset",
            "DEL z",
            "ZADD x 5 m 6 n 7 o",
            "ZPOPMAX x 2"
        ]
    );
    assert_eq!(
        t.cmd(a, &["BZMPOP", "0", "0", "x", "MIN"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        t.cmd(a, &["BZPOPMIN", "x", "-1"]),
        err("ERR timeout is negative")
    );
    t.cmd(c, &["SET", "s", "v"]);
    assert_eq!(t.cmd(a, &["BZPOPMIN", "s", "0"]), err(WRONGTYPE));
}

#[test]
fn a_blocked_zset_pop_times_out_with_a_null_array_and_multi_does_not_block() {
    let mut t = clients();
    let a = t.a;
    let start = t.h.now.mono_ms;
    t.blocks(a, &["BZPOPMIN", "z", "1.5"]);
    t.tick_at(start + 1500);
    assert_eq!(t.effects(), vec![]);
    t.tick_at(start + 1600);
    assert_eq!(t.effects(), vec![unblocked(a, Reply::NilArray)]);
    t.cmd(a, &["MULTI"]);
    t.cmd(a, &["BZMPOP", "0", "1", "z", "MIN"]);
    assert_eq!(t.cmd(a, &["EXEC"]), Reply::Array(vec![Reply::NilArray]));
}
