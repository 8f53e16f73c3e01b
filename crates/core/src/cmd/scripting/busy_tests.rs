//! A running script seen from another thread, as the driver sees it: the watch says it runs
//! (and as which kind), `SCRIPT KILL`/`FUNCTION KILL` through the watch stop a script that
//! has not written (its caller gets Redis's error), and one that wrote cannot be stopped.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::busy::ScriptWatch;
use super::tests::{eval, plain_node};
use crate::reply::Reply;

/// Waits (at most 10 s) until a script runs, then asks the watch to kill it as `by_eval`;
/// returns the KILL's reply, or `None` if no script started.
fn kill_when_running(watch: Arc<ScriptWatch>, by_eval: bool) -> thread::JoinHandle<Option<Reply>> {
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !watch.running() {
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(20));
        Some(watch.kill(by_eval))
    })
}

#[test]
fn script_kill_stops_an_endless_eval_with_redis_error() {
    let (mut node, c) = plain_node();
    let watch = node.script_watch();
    let killer = kill_when_running(Arc::clone(&watch), true);
    let reply = eval(&mut node, c, "while true do end", &[], &[]);
    assert_eq!(killer.join().expect("killer"), Some(Reply::ok()));
    let sha = super::engine::sha1_hex(b"while true do end");
    assert_eq!(
        reply,
        Reply::err(format!(
            "Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:1."
        ))
    );
    assert!(!watch.running());
    assert_eq!(
        watch.kill(true),
        Reply::error("NOTBUSY No scripts in execution right now.")
    );
    // The node goes on: the next script runs to its end.
    assert_eq!(eval(&mut node, c, "return 7", &[], &[]), Reply::Integer(7));
}

#[test]
fn a_script_that_wrote_cannot_be_killed_and_finishes() {
    let (mut node, c) = plain_node();
    let watch = node.script_watch();
    let killer = kill_when_running(Arc::clone(&watch), true);
    let script = "redis.call('SET', KEYS[1], 'v') local i = 0 \
                  while i < 20000000 do i = i + 1 end return i";
    let reply = eval(&mut node, c, script, &["k"], &[]);
    let refused = killer.join().expect("killer").expect("the script ran");
    assert!(
        matches!(&refused, Reply::Error(e) if e.starts_with("UNKILLABLE Sorry the script")),
        "{refused:?}"
    );
    assert_eq!(reply, Reply::Integer(20_000_000));
}

#[test]
fn function_kill_stops_a_function_and_script_kill_does_not() {
    let (mut node, c) = plain_node();
    let code = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    let args: Vec<Bytes> = ["FUNCTION", "LOAD", code]
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    assert_eq!(
        node.command(super::tests::NOW, c, &args),
        Reply::bulk("spin")
    );
    let watch = node.script_watch();
    let wrong = kill_when_running(Arc::clone(&watch), true);
    let fcall: Vec<Bytes> = ["FCALL", "spin", "0"]
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    let killer = thread::spawn(move || {
        let refused = wrong.join().expect("script kill");
        let killed = watch.kill(false);
        (refused, killed)
    });
    let reply = node.command(super::tests::NOW, c, &fcall);
    let (refused, killed) = killer.join().expect("killer");
    assert_eq!(refused, Some(Reply::error(super::busy::BUSY_FUNCTION)));
    assert_eq!(killed, Reply::ok());
    assert_eq!(
        reply,
        Reply::err("Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.")
    );
}
