//! Scripts' time limit against a real `redis-server` 7.0, with `busy-reply-threshold 200`:
//! while `EVAL 'while true do end' 0` runs past it, another client gets the same `-BUSY`
//! bytes from both servers, `FUNCTION KILL` the same refusal, `SCRIPT KILL` `+OK`, and the
//! script's caller Redis's "killed" error; then `-NOTBUSY`. The same for a function and
//! `FUNCTION KILL`; a script that wrote is `-UNKILLABLE`, and `SHUTDOWN NOSAVE` ends both
//! servers while it runs.

mod common;

use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;
const THRESHOLD: &str = "200";
const SPIN_LIBRARY: &str =
    "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";

/// Starts `request` on a connection of its own and waits past the threshold.
fn start_busy(port: u16, request: &[&[u8]]) -> RespConn {
    let mut runner = RespConn::connect(port);
    runner.send(request);
    std::thread::sleep(Duration::from_millis(500));
    runner
}

/// `args` on a fresh connection, raw reply.
fn ask(port: u16, args: &[&[u8]]) -> Vec<u8> {
    RespConn::connect(port).call(args)
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// What other clients, and finally the script's own caller, see on `port` while `request`
/// spins and is killed with `kill` (`SCRIPT` or `FUNCTION`).
fn busy_transcript(port: u16, request: &[&[u8]], kill: &[u8]) -> Vec<String> {
    let mut runner = start_busy(port, request);
    let other_kill: &[u8] = if kill == b"SCRIPT" {
        b"FUNCTION"
    } else {
        b"SCRIPT"
    };
    let transcript = vec![
        text(&ask(port, &[b"PING"])),
        text(&ask(port, &[b"GET", b"k"])),
        text(&ask(port, &[b"SHUTDOWN"])),
        text(&ask(port, &[other_kill, b"KILL"])),
        text(&ask(port, &[kill, b"KILL"])),
        text(&runner.read()),
        text(&ask(port, &[kill, b"KILL"])),
        text(&ask(port, &[b"PING"])),
    ];
    transcript
}

#[test]
fn a_busy_script_is_answered_killed_and_refused_as_redis_does() {
    let dir = TestDir::new("busy-script");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &["--busy-reply-threshold", THRESHOLD])
    else {
        panic!("redis-server is needed for the differential test");
    };
    let conf = format!("cluster-enabled no\nlua-time-limit {THRESHOLD}");
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, &conf);
    for port in [ours_port, redis_port] {
        assert_eq!(
            text(&ask(port, &[b"CONFIG", b"GET", b"busy-reply-threshold"])),
            "*2\r\n$20\r\nbusy-reply-threshold\r\n$3\r\n200\r\n"
        );
        let load = ask(port, &[b"FUNCTION", b"LOAD", SPIN_LIBRARY.as_bytes()]);
        assert_eq!(text(&load), "$4\r\nspin\r\n");
    }
    let eval: &[&[u8]] = &[b"EVAL", b"while true do end", b"0"];
    let ours = busy_transcript(ours_port, eval, b"SCRIPT");
    let redis = busy_transcript(redis_port, eval, b"SCRIPT");
    assert_eq!(ours, redis);
    assert!(
        ours[0].starts_with("-BUSY Redis is busy running a script. You can only call SCRIPT KILL")
    );
    assert_eq!(ours[4], "+OK\r\n");
    assert!(
        ours[5].starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        ours[5]
    );
    assert_eq!(ours[7], "+PONG\r\n");

    let fcall: &[&[u8]] = &[b"FCALL", b"spin", b"0"];
    let ours = busy_transcript(ours_port, fcall, b"FUNCTION");
    let redis = busy_transcript(redis_port, fcall, b"FUNCTION");
    assert_eq!(ours, redis);
    assert!(
        ours[0].contains("You can only call FUNCTION KILL"),
        "{}",
        ours[0]
    );
    assert_eq!(ours[4], "+OK\r\n");

    // A script that wrote cannot be killed; SHUTDOWN NOSAVE ends the server under it.
    let writer: &[&[u8]] = &[
        b"EVAL",
        b"redis.call('SET', 'k', 'v') while true do end",
        b"0",
    ];
    let mut refusals = Vec::new();
    for port in [ours_port, redis_port] {
        let _runner = start_busy(port, writer);
        refusals.push((
            text(&ask(port, &[b"SCRIPT", b"KILL"])),
            text(&ask(port, &[b"FUNCTION", b"KILL"])),
        ));
        let mut shutdown = RespConn::connect(port);
        shutdown.send(&[b"SHUTDOWN", b"NOSAVE"]);
        wait_until(Duration::from_secs(10), "the server exits", || {
            resp_roundtrip(port, b"PING\r\n").is_err()
        });
    }
    assert_eq!(refusals[0], refusals[1]);
    assert!(refusals[0]
        .0
        .starts_with("-UNKILLABLE Sorry the script already executed write"));
}
