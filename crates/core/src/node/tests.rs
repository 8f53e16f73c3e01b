//! Dispatch through a whole node: lookup, redirection, the AOF form of writes and its replay.

use super::*;

fn words(ws: &[&str]) -> Vec<Bytes> {
    ws.iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn aof_bytes(effects: Vec<Effect>) -> Vec<u8> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::AppendAof { data } => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Node time at `unix_ms` on the wall clock (the monotonic clock stays at 0).
fn at(unix_ms: u64) -> Time {
    Time {
        mono_ms: 0,
        unix_ms,
    }
}

/// The configuration of a node that logs its writes (`appendonly yes`).
fn aof_config() -> Config {
    Config {
        appendonly: true,
        ..Config::default()
    }
}

#[test]
fn commands_are_found_in_any_case_and_long_names_are_unknown() {
    let node = Node::new(Config::default(), Time::default(), 1);
    assert!(cmd::all().all(|spec| spec.name.len() <= MAX_COMMAND_NAME_LEN));
    assert_eq!(node.lookup(b"gEt").map(|s| s.name), Some("get"));
    assert_eq!(node.lookup(b"SET").map(|s| s.name), Some("set"));
    assert_eq!(node.lookup(b"CLUSTER").map(|s| s.name), Some("cluster"));
    assert!(node.lookup(b"").is_none());
    assert!(node.lookup(b"nosuchcommand").is_none());
    assert!(node.lookup(&[b'g'; MAX_COMMAND_NAME_LEN + 1]).is_none());
    assert!(node.lookup(b"G\xffT").is_none());
}

#[test]
fn redirection_sees_single_and_multiple_keys_alike() {
    let now = Time::default();
    let config = Config {
        cluster_enabled: true,
        ..Config::default()
    };
    let mut node = Node::new(config, now, 1);
    let c = node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    // No slot is served yet: every keyed command is refused, keyless ones run.
    for keyed in [
        &["GET", "a"][..],
        &["SET", "a", "1"],
        &["MGET", "{t}a", "{t}b"],
    ] {
        assert_eq!(
            node.command(now, c, &words(keyed)),
            Reply::error("CLUSTERDOWN Hash slot not served"),
            "{keyed:?}"
        );
    }
    assert_eq!(
        node.command(now, c, &words(&["MSET", "a", "1", "b", "2"])),
        Reply::error("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        node.command(now, c, &words(&["PING"])),
        Reply::simple("PONG")
    );
}

#[test]
fn writes_are_logged_in_replayable_form_and_replay_rebuilds_the_keyspace() {
    let now = at(1_000_000);
    let config = aof_config();
    let mut node = Node::new(config.clone(), now, 1);
    let c = node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    assert_eq!(
        node.command(now, c, &words(&["SET", "k", "v", "EX", "10"])),
        Reply::ok()
    );
    assert_eq!(
        node.command(now, c, &words(&["GET", "k"])),
        Reply::bulk_str("v")
    );
    assert_eq!(
        node.command(now, c, &words(&["INCR", "n"])),
        Reply::Integer(1)
    );
    assert_eq!(
        node.command(now, c, &words(&["INCR", "k"])),
        Reply::not_integer()
    );
    let log = aof_bytes(node.take_effects());
    assert_eq!(
        String::from_utf8(log).unwrap(),
        "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n\
         *5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$7\r\n1010000\r\n\
         *2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
    );
    let later = at(1_005_000);
    let mut restarted = Node::new(config, later, 2);
    for cmd in [
        &["SELECT", "0"][..],
        &["SET", "k", "v", "PXAT", "1010000"],
        &["INCR", "n"],
    ] {
        restarted.replay_command(later, &words(cmd)).unwrap();
    }
    assert!(
        restarted.take_effects().is_empty(),
        "replay must not log again"
    );
    let c = restarted.client_connected(later, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    assert_eq!(
        restarted.command(later, c, &words(&["PTTL", "k"])),
        Reply::Integer(5000)
    );
    assert_eq!(
        restarted.command(later, c, &words(&["GET", "n"])),
        Reply::bulk_str("1")
    );
    assert_eq!(
        restarted.replay_command(later, &words(&["NOCMD"])),
        Err("Unknown command 'NOCMD'".into())
    );
    // A transaction torn at the end of the file is dropped, a whole one applied.
    for cmd in [
        &["MULTI"][..],
        &["INCR", "n"],
        &["EXEC"],
        &["MULTI"],
        &["INCR", "n"],
    ] {
        restarted.replay_command(later, &words(cmd)).unwrap();
    }
    restarted.end_replay();
    assert_eq!(
        restarted.command(later, c, &words(&["GET", "n"])),
        Reply::bulk_str("2")
    );
    assert_eq!(
        restarted.command(later, c, &words(&["CLIENT", "ID"])),
        Reply::Integer(c as i64)
    );
}

#[test]
fn a_replay_after_the_ttl_passed_keeps_what_persist_saved() {
    // `SET k v PX 1500` then `PERSIST k`, logged; the node restarts two seconds later. Redis
    // expires nothing while loading, so the replayed PERSIST finds the key and keeps it.
    let now = at(1_000_000);
    let mut node = Node::new(aof_config(), now, 1);
    let c = node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    for (cmd, reply) in [
        (&["SET", "k", "v", "PX", "1500"][..], Reply::ok()),
        (&["PERSIST", "k"], Reply::Integer(1)),
        (&["SET", "gone", "x", "PX", "1500"], Reply::ok()),
        (&["INCR", "n"], Reply::Integer(1)),
        (&["PEXPIRE", "n", "1500"], Reply::Integer(1)),
        (&["INCR", "n"], Reply::Integer(2)),
    ] {
        assert_eq!(node.command(now, c, &words(cmd)), reply, "{cmd:?}");
    }
    // The AOF holds exactly these commands (relative TTLs made absolute); replay them one by
    // one, as the AOF loader does.
    let logged: [&[&str]; 7] = [
        &["SELECT", "0"],
        &["SET", "k", "v", "PXAT", "1001500"],
        &["PERSIST", "k"],
        &["SET", "gone", "x", "PXAT", "1001500"],
        &["INCR", "n"],
        &["PEXPIREAT", "n", "1001500"],
        &["INCR", "n"],
    ];
    let mut expected = Vec::new();
    for cmd in logged {
        crate::cmd::propagate::encode_command(cmd, &mut expected);
    }
    assert_eq!(
        String::from_utf8(aof_bytes(node.take_effects())).unwrap(),
        String::from_utf8(expected).unwrap()
    );
    let later = at(1_002_000);
    let mut restarted = Node::new(aof_config(), later, 2);
    for cmd in logged {
        restarted.replay_command(later, &words(cmd)).unwrap();
    }
    restarted.end_replay();
    let c = restarted.client_connected(later, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    assert_eq!(
        restarted.command(later, c, &words(&["GET", "k"])),
        Reply::bulk_str("v"),
        "PERSIST saved k"
    );
    assert_eq!(
        restarted.command(later, c, &words(&["TTL", "k"])),
        Reply::Integer(-1)
    );
    // Keys whose TTL really passed are gone once the node serves again.
    assert_eq!(
        restarted.command(later, c, &words(&["GET", "gone"])),
        Reply::Nil
    );
    assert_eq!(
        restarted.command(later, c, &words(&["GET", "n"])),
        Reply::Nil,
        "n expired with its TTL even though INCR kept it through the replay"
    );
}

/// Every event among `effects`.
fn events(effects: &[Effect]) -> Vec<ClusterEvent> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(ev) => Some(ev.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failing_aof_refuses_writes_and_ping_with_misconf_until_it_recovers() {
    use crate::event::AofOp;
    let now = Time::default();
    let mut node = Node::new(aof_config(), now, 1);
    let c = node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    let run = |node: &mut Node, ws: &[&str]| node.command(now, c, &words(ws));
    assert_eq!(run(&mut node, &["SET", "k", "v"]), Reply::ok());
    node.take_effects();
    node.aof_failed(now, AofOp::Write, "No space left on device".into());
    let effects = node.take_effects();
    assert_eq!(
        events(&effects),
        [ClusterEvent::AofFailed {
            op: AofOp::Write,
            error: "No space left on device".into()
        }]
    );
    let misconf = Reply::error("MISCONF Errors writing to the AOF file: No space left on device");
    assert_eq!(run(&mut node, &["SET", "k", "w"]), misconf);
    assert_eq!(run(&mut node, &["PING"]), misconf);
    assert_eq!(run(&mut node, &["GET", "k"]), Reply::Bulk("v".into()));
    // Refused while queueing: the transaction is aborted at EXEC.
    assert_eq!(run(&mut node, &["MULTI"]), Reply::ok());
    assert_eq!(run(&mut node, &["INCR", "n"]), misconf);
    assert_eq!(
        run(&mut node, &["EXEC"]),
        Reply::error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert!(aof_bytes(node.take_effects()).is_empty());
    // The same failure reported again changes nothing; a sync failure hides behind it.
    node.aof_failed(now, AofOp::Write, "No space left on device".into());
    node.aof_failed(now, AofOp::Fsync, "Input/output error".into());
    node.aof_recovered(now, AofOp::Write);
    let effects = node.take_effects();
    assert_eq!(events(&effects).len(), 2, "{effects:?}");
    assert_eq!(
        run(&mut node, &["DEL", "k"]),
        Reply::error("MISCONF Errors writing to the AOF file: Input/output error")
    );
    node.aof_recovered(now, AofOp::Fsync);
    assert_eq!(run(&mut node, &["DEL", "k"]), Reply::Integer(1));
    assert_eq!(run(&mut node, &["PING"]), Reply::simple("PONG"));
}

#[test]
fn exec_of_a_write_queued_before_the_aof_failed_is_discarded_whole() {
    use crate::event::AofOp;
    let now = Time::default();
    let mut node = Node::new(aof_config(), now, 1);
    let c = node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    let run = |node: &mut Node, ws: &[&str]| node.command(now, c, &words(ws));
    assert_eq!(run(&mut node, &["MULTI"]), Reply::ok());
    assert_eq!(run(&mut node, &["SET", "k", "v"]), Reply::simple("QUEUED"));
    node.aof_failed(now, AofOp::Fsync, "Input/output error".into());
    assert_eq!(
        run(&mut node, &["EXEC"]),
        Reply::error(
            "EXECABORT Transaction discarded because of: MISCONF Errors writing to the AOF \
             file: Input/output error"
        )
    );
    assert_eq!(run(&mut node, &["EXEC"]), Reply::err("EXEC without MULTI"));
    assert_eq!(run(&mut node, &["GET", "k"]), Reply::Nil);
    // A read-only transaction still runs.
    assert_eq!(run(&mut node, &["MULTI"]), Reply::ok());
    assert_eq!(run(&mut node, &["GET", "k"]), Reply::simple("QUEUED"));
    assert_eq!(run(&mut node, &["EXEC"]), Reply::Array(vec![Reply::Nil]));
}

/// A write held for a slow background fsync and then written anyway is counted in `INFO
/// persistence` and logged as Redis logs it; the events say what the AOF did.
#[test]
fn a_delayed_aof_write_is_counted_logged_and_reported() {
    let now = Time::default();
    let mut node = Node::new(aof_config(), now, 1);
    let c = node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    node.take_effects();
    node.aof_write_postponed(now);
    node.aof_write_resumed(now, false);
    node.aof_write_postponed(now);
    node.aof_write_resumed(now, true);
    node.aof_synced(now, 42);
    let effects = node.take_effects();
    assert_eq!(
        events(&effects),
        [
            ClusterEvent::AofWritePostponed,
            ClusterEvent::AofWriteResumed { delayed: false },
            ClusterEvent::AofWritePostponed,
            ClusterEvent::AofWriteResumed { delayed: true },
            ClusterEvent::AofSynced { offset: 42 },
        ]
    );
    let notices: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log { level, text } if *level == LogLevel::Notice => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        notices,
        [
            "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer \
          without waiting for fsync to complete, this may slow down Redis."
        ]
    );
    let info = |node: &mut Node, c| match node.command(now, c, &words(&["INFO", "persistence"])) {
        Reply::Verbatim(_, text) => text,
        other => panic!("INFO gave {other:?}"),
    };
    assert!(info(&mut node, c).contains("\r\naof_delayed_fsync:1\r\n"));
    let mut plain = Node::new(Config::default(), now, 1);
    let c = plain.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    assert!(!info(&mut plain, c).contains("aof_delayed_fsync"));
}
