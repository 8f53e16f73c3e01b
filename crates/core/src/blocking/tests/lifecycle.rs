//! A blocked client's life around the pop: it disconnects, CLIENT UNBLOCK wakes it, INFO
//! counts it, its node is demoted, a pause holds it; keys made ready by RESTORE and LMOVE.

use bytes::Bytes;

use super::{clients, pair, unblocked};
use crate::cmd::keys::tests::{bulk, err, int};
use crate::effect::Effect;
use crate::reply::Reply;

#[test]
fn a_disconnected_client_is_forgotten_and_client_unblock_wakes_one() {
    let mut t = clients();
    let (a, b, c) = (t.a, t.b, t.c);
    t.blocks(a, &["BLPOP", "k", "0"]);
    t.h.node.client_disconnected(a);
    t.cmd(b, &["RPUSH", "k", "x"]);
    assert_eq!(t.effects(), vec![]);
    assert_eq!(t.cmd(b, &["LLEN", "k"]), int(1), "the element stayed");

    t.blocks(c, &["BRPOP", "none", "5"]);
    let id = c.to_string();
    assert_eq!(t.cmd(b, &["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(t.effects(), vec![unblocked(c, Reply::NilArray)]);
    assert_eq!(
        t.cmd(b, &["CLIENT", "UNBLOCK", &id]),
        int(0),
        "no longer blocked"
    );
    t.blocks(c, &["BLMOVE", "none", "d", "LEFT", "LEFT", "0"]);
    assert_eq!(t.cmd(b, &["CLIENT", "UNBLOCK", &id, "error"]), int(1));
    let unblocked_error = err("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    assert_eq!(t.effects(), vec![unblocked(c, unblocked_error)]);
    assert_eq!(
        t.cmd(b, &["CLIENT", "UNBLOCK", &id, "later"]),
        err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    assert_eq!(
        t.cmd(b, &["CLIENT", "UNBLOCK", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(t.cmd(b, &["CLIENT", "UNBLOCK", "-1"]), int(0));
}

#[test]
fn info_counts_blocked_clients_and_those_with_a_timeout() {
    let mut t = clients();
    let (a, b, c) = (t.a, t.b, t.c);
    t.blocks(a, &["BLPOP", "k", "0"]);
    t.blocks(b, &["BLPOP", "k", "10"]);
    let text = match t.cmd(c, &["INFO", "clients"]) {
        Reply::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
        Reply::Verbatim(_, text) => text,
        other => panic!("INFO answered {other:?}"),
    };
    assert!(text.contains("\r\nblocked_clients:2\r\n"), "{text}");
    assert!(
        text.ends_with("\r\nclients_in_timeout_table:1\r\n"),
        "{text}"
    );
}

#[test]
fn a_node_turned_replica_lets_its_blocked_clients_go_and_closes_them() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.blocks(a, &["BLPOP", "k", "0"]);
    t.h.become_replica();
    t.tick_at(100);
    let text = "UNBLOCKED force unblock from blocking operation, instance state changed \
                (master -> replica?)";
    assert_eq!(
        t.effects(),
        vec![unblocked(a, err(text)), Effect::CloseClient { client: a }]
    );
    t.cmd(b, &["RPUSH", "k", "x"]);
    assert_eq!(t.effects(), vec![]);
}

#[test]
fn restore_and_lmove_create_ready_keys_and_flushall_keeps_the_waiters() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.cmd(b, &["RPUSH", "src", "d1"]);
    let Reply::Bulk(payload) = t.cmd(b, &["DUMP", "src"]) else {
        panic!("DUMP answers a payload");
    };
    t.blocks(a, &["BRPOP", "restored", "0"]);
    let args = [
        Bytes::from_static(b"RESTORE"),
        Bytes::from_static(b"restored"),
        Bytes::from_static(b"0"),
        payload,
    ];
    assert_eq!(t.h.node.command(t.h.now, b, &args), Reply::ok());
    assert_eq!(t.effects(), vec![unblocked(a, pair("restored", "d1"))]);
    t.blocks(a, &["BLPOP", "moved", "0"]);
    t.cmd(b, &["FLUSHALL"]);
    t.cmd(b, &["RPUSH", "src", "d2"]);
    assert_eq!(
        t.cmd(b, &["LMOVE", "src", "moved", "LEFT", "LEFT"]),
        bulk("d2")
    );
    assert_eq!(t.effects(), vec![unblocked(a, pair("moved", "d2"))]);
}

#[test]
fn a_blocking_pop_held_by_a_write_pause_blocks_on_its_keys_when_the_pause_ends() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    assert_eq!(t.cmd(b, &["CLIENT", "PAUSE", "1000", "WRITE"]), Reply::ok());
    t.blocks(a, &["BLPOP", "k", "0"]);
    t.tick_at(1000);
    // It ran when the pause ended and blocked again, now on k: no reply yet.
    assert_eq!(t.effects(), vec![Effect::BlockClient { client: a }]);
    assert!(t.h.node.blocked_keys.contains(a));
    t.cmd(b, &["RPUSH", "k", "v"]);
    assert_eq!(t.effects(), vec![unblocked(a, pair("k", "v"))]);
}

#[test]
fn errors_sent_to_unblocked_clients_count_as_redis_counts_them() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.blocks(a, &["BLPOP", "zz", "0"]);
    t.cmd(b, &["CLIENT", "UNBLOCK", &a.to_string(), "ERROR"]);
    t.effects();
    t.blocks(a, &["BLMOVE", "zq", "zs", "LEFT", "LEFT", "0"]);
    t.cmd(b, &["SET", "zs", "x"]);
    t.cmd(b, &["RPUSH", "zq", "1"]);
    t.effects();
    t.blocks(a, &["BLPOP", "zz", "0.1"]);
    t.tick_at(200);
    let stats = &t.h.node.stats.calls;
    let blpop = stats.commands["blpop"];
    let blmove = stats.commands["blmove"];
    assert_eq!(
        (blpop.calls, blpop.failed_calls),
        (2, 1),
        "a timeout is no failure"
    );
    assert_eq!((blmove.calls, blmove.failed_calls), (1, 1));
    let errors: Vec<(&str, u64)> = stats.errors.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(errors, [("UNBLOCKED", 1), ("WRONGTYPE", 1)]);
}
