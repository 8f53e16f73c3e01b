//! Exact effects of the blocking list pops on one node: who blocks, who is served with what,
//! what is propagated, timeouts on the node's clock, MULTI. The client's life around it
//! (disconnects, CLIENT UNBLOCK, INFO, a demotion, a pause) is in `lifecycle`.

use bytes::Bytes;

use crate::cmd::keys::tests::{bulk, err, int, take_propagated, Harness};
use crate::effect::{ClientId, Effect};
use crate::reply::Reply;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// A node with several clients; `a` is the harness's own.
struct Clients {
    h: Harness,
    a: ClientId,
    b: ClientId,
    c: ClientId,
}

fn clients() -> Clients {
    let mut h = Harness::new();
    let a = h.client;
    let mut connect = |port: u16| {
        let addr = format!("127.0.0.1:{port}");
        h.node
            .client_connected(h.now, addr, "127.0.0.1:6379".into())
    };
    let (b, c) = (connect(5001), connect(5002));
    Clients { h, a, b, c }
}

impl Clients {
    fn cmd(&mut self, client: ClientId, words: &[&str]) -> Reply {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        self.h.node.command(self.h.now, client, &args)
    }

    /// Sends a command that must block: no reply goes out, only the BlockClient effect.
    fn blocks(&mut self, client: ClientId, words: &[&str]) {
        self.cmd(client, words);
        assert_eq!(
            self.effects(),
            vec![Effect::BlockClient { client }],
            "{words:?}"
        );
    }

    /// The effects of the last calls, without the AOF and event noise.
    fn effects(&mut self) -> Vec<Effect> {
        let effects = self.h.node.take_effects();
        let kept = effects.into_iter().filter(|e| {
            matches!(
                e,
                Effect::BlockClient { .. }
                    | Effect::UnblockClient { .. }
                    | Effect::CloseClient { .. }
            )
        });
        kept.collect()
    }

    fn tick_at(&mut self, mono_ms: u64) {
        let ms = mono_ms - self.h.now.mono_ms;
        self.h.advance_ms(ms);
        self.h.node.tick(self.h.now);
    }
}

fn unblocked(client: ClientId, reply: Reply) -> Effect {
    Effect::UnblockClient { client, reply }
}

fn pair(key: &str, item: &str) -> Reply {
    Reply::Array(vec![bulk(key), bulk(item)])
}

#[test]
fn a_push_from_another_client_serves_the_blocked_pop_and_replays_as_lpop() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.blocks(a, &["BLPOP", "k", "0"]);
    assert_eq!(
        take_propagated(),
        Vec::<String>::new(),
        "nothing written yet"
    );
    assert_eq!(
        t.cmd(b, &["RPUSH", "k", "x", "y"]),
        int(2),
        "the pusher sees its length"
    );
    assert_eq!(t.effects(), vec![unblocked(a, pair("k", "x"))]);
    assert_eq!(take_propagated(), ["RPUSH k x y", "LPOP k"]);
    assert_eq!(
        t.cmd(b, &["LRANGE", "k", "0", "-1"]),
        Reply::Array(vec![bulk("y")])
    );
    // Served: its next command runs as usual, and a list with elements answers at once.
    assert_eq!(t.cmd(a, &["BRPOP", "k", "0"]), pair("k", "y"));
    assert_eq!(take_propagated(), ["RPOP k"]);
    assert_eq!(
        t.cmd(a, &["EXISTS", "k"]),
        int(0),
        "the emptied list went away"
    );
}

#[test]
fn clients_are_served_first_blocked_first_while_elements_last() {
    let mut t = clients();
    let (a, b, c) = (t.a, t.b, t.c);
    let d =
        t.h.node
            .client_connected(t.h.now, "127.0.0.1:5003".into(), String::new());
    t.blocks(b, &["BRPOP", "k", "0"]);
    t.blocks(a, &["BLPOP", "other", "k", "0"]);
    t.blocks(c, &["BLPOP", "k", "0"]);
    assert_eq!(t.cmd(d, &["RPUSH", "k", "1", "2"]), int(2));
    assert_eq!(
        t.effects(),
        vec![unblocked(b, pair("k", "2")), unblocked(a, pair("k", "1"))]
    );
    assert_eq!(take_propagated(), ["RPUSH k 1 2", "RPOP k", "LPOP k"]);
    // c still waits, now first in line; a no longer waits on "other".
    t.cmd(d, &["LPUSH", "other", "o"]);
    assert_eq!(t.effects(), vec![]);
    t.cmd(d, &["LPUSH", "k", "3"]);
    assert_eq!(t.effects(), vec![unblocked(c, pair("k", "3"))]);
}

#[test]
fn a_client_blocked_on_several_keys_is_served_from_the_one_that_became_ready() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.blocks(a, &["BLPOP", "k1", "k2", "k1", "0"]);
    t.cmd(b, &["RPUSH", "k2", "v"]);
    assert_eq!(t.effects(), vec![unblocked(a, pair("k2", "v"))]);
    // Another type under the key wakes nobody (and the key was never a list).
    t.blocks(a, &["BLPOP", "k3", "0"]);
    t.cmd(b, &["SADD", "k3", "m"]);
    assert_eq!(t.effects(), vec![]);
    t.cmd(b, &["DEL", "k3"]);
    t.cmd(b, &["LPUSH", "k3", "l"]);
    assert_eq!(t.effects(), vec![unblocked(a, pair("k3", "l"))]);
}

#[test]
fn timeouts_are_float_seconds_on_the_node_clock() {
    let mut t = clients();
    let a = t.a;
    t.blocks(a, &["BLPOP", "k", "1.5"]);
    t.tick_at(1500);
    assert_eq!(t.effects(), vec![], "due after 1500 ms, not at");
    t.tick_at(1501);
    assert_eq!(t.effects(), vec![unblocked(a, Reply::NilArray)]);
    // BLMOVE and BLMPOP time out with a null array too; 0.0001 s is 1 ms.
    t.blocks(a, &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.0001"]);
    t.tick_at(1503);
    assert_eq!(t.effects(), vec![unblocked(a, Reply::NilArray)]);
    t.blocks(a, &["BLMPOP", "0.2", "1", "k", "LEFT"]);
    t.tick_at(1800);
    assert_eq!(t.effects(), vec![unblocked(a, Reply::NilArray)]);
    // 0, and anything that rounds up to 0 ms, waits for ever.
    t.blocks(a, &["BRPOP", "k", "-0.0001"]);
    t.tick_at(1_000_000);
    assert_eq!(t.effects(), vec![]);
    assert_eq!(take_propagated(), Vec::<String>::new());
}

#[test]
fn timeouts_and_arguments_are_parsed_as_redis_does() {
    let mut t = clients();
    let a = t.a;
    let not_float = err("ERR timeout is not a float or out of range");
    let negative = err("ERR timeout is negative");
    for (timeout, reply) in [
        ("abc", &not_float),
        (" 1", &not_float),
        ("nan", &not_float),
        ("-1", &negative),
        ("-0.002", &negative),
        ("inf", &negative),
        ("9.3e15", &negative),
    ] {
        assert_eq!(
            &t.cmd(a, &["BLPOP", "k", timeout]),
            reply,
            "timeout {timeout}"
        );
        assert_eq!(&t.cmd(a, &["BRPOPLPUSH", "k", "d", timeout]), reply);
    }
    // BLMPOP checks its other arguments first; BLMOVE its ends first.
    assert_eq!(
        t.cmd(a, &["BLMPOP", "x", "0", "k", "LEFT"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        t.cmd(a, &["BLMPOP", "x", "1", "k", "UP"]),
        err("ERR syntax error")
    );
    assert_eq!(t.cmd(a, &["BLMPOP", "x", "1", "k", "LEFT"]), not_float);
    assert_eq!(
        t.cmd(a, &["BLMPOP", "0", "1", "k", "LEFT", "COUNT", "0"]),
        err("ERR count should be greater than 0")
    );
    assert_eq!(
        t.cmd(a, &["BLMOVE", "k", "d", "UP", "LEFT", "x"]),
        err("ERR syntax error")
    );
    // Long timeouts, even past the end of Redis's clock arithmetic, still wait.
    t.blocks(a, &["BLPOP", "k", "9e15"]);
    t.blocks(t.b, &["BLPOP", "k", "9223372036854775"]);
    t.tick_at(100_000);
    assert_eq!(t.effects(), vec![]);
}

#[test]
fn a_wrong_type_answers_at_once_and_a_served_blmove_checks_its_destination() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.cmd(b, &["SET", "s", "v"]);
    assert_eq!(t.cmd(a, &["BLPOP", "missing", "s", "0"]), err(WRONGTYPE));
    assert_eq!(
        t.cmd(a, &["BLMOVE", "s", "d", "LEFT", "LEFT", "0"]),
        err(WRONGTYPE)
    );
    assert_eq!(
        t.cmd(a, &["BLMPOP", "0", "2", "missing", "s", "LEFT"]),
        err(WRONGTYPE)
    );
    // The destination is looked at only when an element comes.
    t.blocks(a, &["BLMOVE", "src", "s", "LEFT", "LEFT", "0"]);
    t.cmd(b, &["RPUSH", "src", "x"]);
    assert_eq!(t.effects(), vec![unblocked(a, err(WRONGTYPE))]);
    assert_eq!(take_propagated(), ["SET s v", "RPUSH src x"]);
    assert_eq!(t.cmd(b, &["LLEN", "src"]), int(1), "nothing moved");
}

#[test]
fn blmove_replays_as_lmove_and_its_push_wakes_the_next_client() {
    let mut t = clients();
    let (a, b, c) = (t.a, t.b, t.c);
    t.cmd(c, &["RPUSH", "src", "1"]);
    assert_eq!(
        t.cmd(a, &["blmove", "src", "dst", "left", "Right", "0"]),
        bulk("1")
    );
    assert_eq!(
        take_propagated(),
        ["RPUSH src 1", "LMOVE src dst left Right"]
    );
    t.cmd(c, &["DEL", "dst"]);
    take_propagated();
    t.blocks(a, &["BLMOVE", "src", "dst", "right", "left", "0"]);
    t.blocks(b, &["BLPOP", "dst", "0"]);
    t.cmd(c, &["LPUSH", "src", "2"]);
    assert_eq!(
        t.effects(),
        vec![unblocked(a, bulk("2")), unblocked(b, pair("dst", "2"))]
    );
    assert_eq!(
        take_propagated(),
        ["LPUSH src 2", "LMOVE src dst RIGHT LEFT", "LPOP dst"]
    );
    // BRPOPLPUSH replays as RPOPLPUSH, at once or served.
    t.blocks(a, &["BRPOPLPUSH", "src", "dst", "0"]);
    t.cmd(c, &["RPUSH", "src", "3", "4"]);
    assert_eq!(t.effects(), vec![unblocked(a, bulk("4"))]);
    assert_eq!(t.cmd(a, &["BRPOPLPUSH", "src", "dst", "0"]), bulk("3"));
    assert_eq!(
        take_propagated(),
        ["RPUSH src 3 4", "RPOPLPUSH src dst", "RPOPLPUSH src dst"]
    );
}

#[test]
fn blmpop_pops_up_to_count_and_replays_the_count_popped() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.blocks(a, &["BLMPOP", "0", "2", "k1", "k2", "RIGHT", "COUNT", "5"]);
    t.cmd(b, &["RPUSH", "k2", "x", "y", "z"]);
    let popped = Reply::Array(vec![bulk("z"), bulk("y"), bulk("x")]);
    assert_eq!(
        t.effects(),
        vec![unblocked(a, Reply::Array(vec![bulk("k2"), popped]))]
    );
    assert_eq!(take_propagated(), ["RPUSH k2 x y z", "RPOP k2 3"]);
    t.cmd(b, &["RPUSH", "k1", "p", "q"]);
    let one = Reply::Array(vec![bulk("k1"), Reply::Array(vec![bulk("p")])]);
    assert_eq!(t.cmd(a, &["BLMPOP", "0", "2", "k1", "k2", "LEFT"]), one);
    assert_eq!(take_propagated(), ["RPUSH k1 p q", "LPOP k1 1"]);
}

#[test]
fn inside_multi_a_blocking_pop_answers_at_once_and_exec_serves_blocked_clients_at_its_end() {
    let mut t = clients();
    let (a, b) = (t.a, t.b);
    t.cmd(a, &["MULTI"]);
    for words in [
        &["BLPOP", "k", "0"][..],
        &["BLMPOP", "0", "1", "k", "LEFT"],
        &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"],
        &["BRPOPLPUSH", "k", "d", "0"],
    ] {
        assert_eq!(t.cmd(a, words), Reply::simple("QUEUED"));
    }
    let nils = vec![Reply::NilArray, Reply::NilArray, Reply::Nil, Reply::Nil];
    assert_eq!(t.cmd(a, &["EXEC"]), Reply::Array(nils));
    assert_eq!(t.effects(), vec![], "nobody blocked");

    t.blocks(a, &["BLPOP", "k", "0"]);
    t.cmd(b, &["MULTI"]);
    t.cmd(b, &["RPUSH", "k", "1"]);
    t.cmd(b, &["RPUSH", "k", "2"]);
    t.cmd(b, &["LPOP", "k"]);
    assert_eq!(t.effects(), vec![], "queued, not run");
    let replies = vec![int(1), int(2), bulk("1")];
    assert_eq!(t.cmd(b, &["EXEC"]), Reply::Array(replies));
    assert_eq!(t.effects(), vec![unblocked(a, pair("k", "2"))]);
    let log = take_propagated();
    assert_eq!(
        log[log.len() - 4..],
        ["RPUSH k 1", "RPUSH k 2", "LPOP k", "LPOP k"]
    );
}

mod lifecycle;

mod streams;
mod zsets;
