//! Connection commands through a whole node: HELLO, CLIENT, transactions and their AOF form.

use super::*;
use crate::config::Config;
use crate::node::Time;

const NOW: Time = Time {
    mono_ms: 0,
    unix_ms: 1_000_000,
};

fn node(cluster: bool) -> (Node, ClientId) {
    let config = Config {
        cluster_enabled: cluster,
        port: 6379,
        ..Config::default()
    };
    let mut node = Node::new(config, NOW, 1);
    let c = node.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
    (node, c)
}

fn run(node: &mut Node, c: ClientId, line: &str) -> Reply {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    node.command(NOW, c, &args)
}

fn err(text: &str) -> Reply {
    Reply::Error(text.into())
}

fn bulk(text: &str) -> Reply {
    Reply::bulk_str(text)
}

#[test]
fn ping_and_echo() {
    let (mut n, c) = node(true);
    assert_eq!(run(&mut n, c, "PING"), Reply::simple("PONG"));
    assert_eq!(run(&mut n, c, "ping hi"), bulk("hi"));
    assert_eq!(
        run(&mut n, c, "ping a b"),
        err("ERR wrong number of arguments for 'ping' command")
    );
    assert_eq!(run(&mut n, c, "echo x"), bulk("x"));
    assert_eq!(
        run(&mut n, c, "echo a b"),
        err("ERR wrong number of arguments for 'echo' command")
    );
}

#[test]
fn hello_switches_protocol_and_describes_server() {
    let (mut n, c) = node(true);
    let expected = |proto: i64| {
        Reply::Map(vec![
            (bulk("server"), bulk("redis")),
            (bulk("version"), bulk("7.0.15")),
            (bulk("proto"), Reply::Integer(proto)),
            (bulk("id"), Reply::Integer(c as i64)),
            (bulk("mode"), bulk("cluster")),
            (bulk("role"), bulk("master")),
            (bulk("modules"), Reply::Array(vec![])),
        ])
    };
    assert_eq!(run(&mut n, c, "HELLO"), expected(2));
    assert_eq!(n.client_protocol(c), 2);
    assert_eq!(run(&mut n, c, "hello 3"), expected(3));
    assert_eq!(n.client_protocol(c), 3);
    assert_eq!(
        run(&mut n, c, "hello 4"),
        err("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        run(&mut n, c, "hello 1"),
        err("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        run(&mut n, c, "hello 4 foo"),
        err("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        run(&mut n, c, "hello x"),
        err("ERR Protocol version is not an integer or out of range")
    );
    assert_eq!(
        run(&mut n, c, "hello 2 foo"),
        err("ERR Syntax error in HELLO option 'foo'")
    );
    assert_eq!(
        run(&mut n, c, "hello 2 auth a"),
        err("ERR Syntax error in HELLO option 'auth'")
    );
    assert_eq!(
        run(&mut n, c, "hello 2 setname ok extra"),
        err("ERR Syntax error in HELLO option 'extra'")
    );
    assert_eq!(run(&mut n, c, "hello 2 auth a b"), err(WRONGPASS));
    assert_eq!(n.client_protocol(c), 3, "failed HELLO keeps the protocol");
    assert_eq!(
        run(&mut n, c, "hello 2 AUTH default pw SETNAME app"),
        expected(2)
    );
    assert_eq!(run(&mut n, c, "client getname"), bulk("app"));
    let (mut s, sc) = node(false);
    let Reply::Map(fields) = run(&mut s, sc, "hello") else {
        panic!("not a map")
    };
    assert_eq!(fields[4], (bulk("mode"), bulk("standalone")));
}

#[test]
fn auth_without_passwords() {
    let (mut n, c) = node(true);
    assert_eq!(
        run(&mut n, c, "auth x"),
        err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
    );
    assert_eq!(run(&mut n, c, "auth default x"), Reply::ok());
    assert_eq!(run(&mut n, c, "auth a b"), err(WRONGPASS));
    assert_eq!(run(&mut n, c, "auth a b c"), err("ERR syntax error"));
}

#[test]
fn client_subcommands() {
    let (mut n, c) = node(true);
    assert_eq!(run(&mut n, c, "client id"), Reply::Integer(c as i64));
    assert_eq!(run(&mut n, c, "client getname"), Reply::Nil);
    assert_eq!(run(&mut n, c, "client setname conn-1"), Reply::ok());
    assert_eq!(run(&mut n, c, "CLIENT GETNAME"), bulk("conn-1"));
    assert_eq!(
        run(&mut n, c, "client setname a\u{1}b"),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    let empty = vec![
        Bytes::from_static(b"client"),
        Bytes::from_static(b"setname"),
        Bytes::new(),
    ];
    assert_eq!(n.command(NOW, c, &empty), Reply::ok());
    assert_eq!(run(&mut n, c, "client getname"), Reply::Nil);
    assert_eq!(
        run(&mut n, c, "client setinfo lib-name redis-py"),
        err("ERR unknown subcommand 'setinfo'. Try CLIENT HELP.")
    );
    assert_eq!(
        run(&mut n, c, "client foo"),
        err("ERR unknown subcommand 'foo'. Try CLIENT HELP.")
    );
    assert_eq!(
        run(&mut n, c, "client"),
        err("ERR wrong number of arguments for 'client' command")
    );
    assert_eq!(
        run(&mut n, c, "client setname"),
        err("ERR wrong number of arguments for 'client|setname' command")
    );
    assert_eq!(
        run(&mut n, c, "client id x"),
        err("ERR wrong number of arguments for 'client|id' command")
    );
    let Reply::Array(help) = run(&mut n, c, "client help") else {
        panic!("help is an array")
    };
    assert_eq!(
        help[0],
        Reply::simple("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    );
    assert_eq!(help.last(), Some(&Reply::simple("    Prints this help.")));
}

#[test]
fn client_info_and_list_lines() {
    let (mut n, c) = node(true);
    let other = n.client_connected(NOW, "127.0.0.1:5001".into(), "127.0.0.1:6379".into());
    run(&mut n, c, "client setname me");
    let base = std::mem::size_of::<crate::node::Client>();
    let line = |id: u64, addr: &str, name: &str, argv_mem: usize, cmd: &str| {
        format!(
            "id={id} addr={addr} laddr=127.0.0.1:6379 fd=-1 name={name} age=0 idle=0 flags=N \
             db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem={argv_mem} \
             multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={cmd} \
             user=default redir=-1 resp=2\n",
            base + argv_mem
        )
    };
    // The caller's own line shows the arguments of the command it runs.
    let mine = line(c, "127.0.0.1:5000", "me", 10, "client|info");
    let theirs = line(other, "127.0.0.1:5001", "", 0, "NULL");
    assert_eq!(
        run(&mut n, c, "client info"),
        Reply::Verbatim("txt", mine.clone())
    );
    let mine = line(c, "127.0.0.1:5000", "me", 10, "client|list");
    assert_eq!(
        run(&mut n, c, "client list"),
        Reply::Verbatim("txt", format!("{mine}{theirs}"))
    );
    let mine = line(c, "127.0.0.1:5000", "me", 20, "client|list");
    assert_eq!(
        run(&mut n, c, "client list type normal"),
        Reply::Verbatim("txt", format!("{mine}{theirs}"))
    );
    assert_eq!(
        run(&mut n, c, "client list type pubsub"),
        Reply::Verbatim("txt", String::new())
    );
    assert_eq!(
        run(&mut n, c, &format!("client list id {other} 99 0 -1")),
        Reply::Verbatim("txt", theirs)
    );
    assert_eq!(
        run(&mut n, c, "client list type foo"),
        err("ERR Unknown client type 'foo'")
    );
    assert_eq!(
        run(&mut n, c, "client list id x"),
        err("ERR Invalid client ID")
    );
    assert_eq!(run(&mut n, c, "client list id"), err("ERR syntax error"));
    assert_eq!(
        run(&mut n, c, "client list type normal id 1"),
        err("ERR syntax error")
    );
    // Flags and queue length show an open transaction; age and idle are in seconds.
    run(&mut n, c, "multi");
    run(&mut n, c, "ping");
    run(&mut n, c, "echo abcdef");
    let later = Time {
        mono_ms: 5_500,
        unix_ms: 1_005_500,
    };
    let info = n.command(
        later,
        other,
        &[Bytes::from_static(b"client"), Bytes::from_static(b"list")],
    );
    let Reply::Verbatim(_, text) = info else {
        panic!("verbatim")
    };
    assert!(text.starts_with(&format!(
        "id={c} addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=-1 name=me age=5 idle=5 flags=x "
    )));
    // Redis's multi-mem: argument bytes plus a pointer each ((4 + 8) + (4 + 6 + 2 * 8)).
    assert!(
        text.contains(" multi=2 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=38 "),
        "{text}"
    );
    assert!(text.contains(" cmd=echo "));
}

#[test]
fn select_rules() {
    let (mut n, c) = node(true);
    assert_eq!(run(&mut n, c, "select 0"), Reply::ok());
    assert_eq!(
        run(&mut n, c, "select 1"),
        err("ERR SELECT is not allowed in cluster mode")
    );
    assert_eq!(
        run(&mut n, c, "select -1"),
        err("ERR SELECT is not allowed in cluster mode")
    );
    assert_eq!(
        run(&mut n, c, "select x"),
        err("ERR value is not an integer or out of range")
    );
    let (mut s, sc) = node(false);
    assert_eq!(run(&mut s, sc, "select 0"), Reply::ok());
    assert_eq!(
        run(&mut s, sc, "select 16"),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        run(&mut s, sc, "select x"),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn quit_closes_and_reset_clears_state() {
    let (mut n, c) = node(true);
    n.take_effects();
    assert_eq!(run(&mut n, c, "quit"), Reply::ok());
    assert_eq!(n.take_effects(), vec![Effect::CloseClient { client: c }]);
    run(&mut n, c, "hello 3 setname x");
    run(&mut n, c, "multi");
    assert_eq!(run(&mut n, c, "reset"), Reply::simple("RESET"));
    assert_eq!(n.client_protocol(c), 2);
    assert_eq!(run(&mut n, c, "client getname"), Reply::Nil);
    assert_eq!(run(&mut n, c, "exec"), err("ERR EXEC without MULTI"));
}

#[test]
fn multi_exec_discard() {
    let (mut n, c) = node(false);
    assert_eq!(run(&mut n, c, "exec"), err("ERR EXEC without MULTI"));
    assert_eq!(run(&mut n, c, "discard"), err("ERR DISCARD without MULTI"));
    assert_eq!(run(&mut n, c, "multi"), Reply::ok());
    assert_eq!(
        run(&mut n, c, "multi"),
        err("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        run(&mut n, c, "watch a"),
        err("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(run(&mut n, c, "ping"), Reply::simple("QUEUED"));
    assert_eq!(run(&mut n, c, "echo e"), Reply::simple("QUEUED"));
    assert_eq!(
        run(&mut n, c, "exec"),
        Reply::Array(vec![Reply::simple("PONG"), bulk("e")])
    );
    assert_eq!(run(&mut n, c, "multi"), Reply::ok());
    assert_eq!(run(&mut n, c, "ping"), Reply::simple("QUEUED"));
    assert_eq!(run(&mut n, c, "discard"), Reply::ok());
    assert_eq!(run(&mut n, c, "exec"), err("ERR EXEC without MULTI"));
    assert_eq!(run(&mut n, c, "multi"), Reply::ok());
    assert_eq!(run(&mut n, c, "exec"), Reply::Array(vec![]));
}

#[test]
fn queueing_errors_abort_exec() {
    let (mut n, c) = node(false);
    run(&mut n, c, "multi");
    run(&mut n, c, "ping");
    run(&mut n, c, "get abcdef");
    assert!(run(&mut n, c, "nosuchcommand").is_error());
    assert_eq!(
        run(&mut n, c, "exec"),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    run(&mut n, c, "multi");
    assert!(run(&mut n, c, "echo").is_error());
    assert_eq!(
        run(&mut n, c, "exec"),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    // The next transaction starts clean.
    run(&mut n, c, "multi");
    assert_eq!(run(&mut n, c, "exec"), Reply::Array(vec![]));
}

fn aof_bytes(effects: Vec<Effect>) -> String {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::AppendAof { data } => Some(String::from_utf8_lossy(&data).into_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn exec_logs_its_writes_inside_multi_exec() {
    let config = Config {
        appendonly: true,
        ..Config::default()
    };
    let mut n = Node::new(config, NOW, 1);
    let c = n.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
    run(&mut n, c, "multi");
    run(&mut n, c, "set a 1");
    run(&mut n, c, "ping");
    run(&mut n, c, "set b 2");
    n.take_effects();
    let reply = run(&mut n, c, "exec");
    assert_eq!(
        reply,
        Reply::Array(vec![Reply::ok(), Reply::simple("PONG"), Reply::ok()])
    );
    assert_eq!(
        aof_bytes(n.take_effects()),
        "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$5\r\nMULTI\r\n\
         *3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nset\r\n$1\r\nb\r\n$1\r\n2\r\n\
         *1\r\n$4\r\nEXEC\r\n"
    );
    // Later transactions have no SELECT in front.
    run(&mut n, c, "multi");
    run(&mut n, c, "set c 3");
    run(&mut n, c, "exec");
    assert_eq!(
        aof_bytes(n.take_effects()),
        "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nset\r\n$1\r\nc\r\n$1\r\n3\r\n*1\r\n$4\r\nEXEC\r\n"
    );
    // A read-only transaction logs nothing.
    run(&mut n, c, "multi");
    run(&mut n, c, "ping");
    run(&mut n, c, "get abcdef");
    run(&mut n, c, "exec");
    assert_eq!(aof_bytes(n.take_effects()), "");
}

#[test]
fn aof_replay_of_a_transaction_applies_it() {
    let mut n = Node::new(Config::default(), NOW, 1);
    for line in ["SELECT 0", "MULTI", "set a 1", "set b 2", "EXEC"] {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        assert_eq!(n.replay_command(NOW, &args), Ok(()), "{line}");
    }
    assert!(n.db.contains(b"a", NOW.unix_ms) && n.db.contains(b"b", NOW.unix_ms));
    assert!(n.clients.values().all(|c| c.multi.is_none()));
}

#[test]
fn watch_aborts_exec_when_a_key_changes() {
    use crate::db::ValueRef;
    let (mut n, c) = node(false);
    let set = |n: &mut Node, v: &'static str| n.db.set(b"k", ValueRef::String(v.as_bytes()), None);
    assert_eq!(run(&mut n, c, "watch k other"), Reply::ok());
    set(&mut n, "1");
    run(&mut n, c, "multi");
    run(&mut n, c, "ping");
    assert_eq!(run(&mut n, c, "exec"), Reply::NilArray);
    // EXEC forgets the watches: the next transaction runs.
    run(&mut n, c, "multi");
    assert_eq!(run(&mut n, c, "exec"), Reply::Array(vec![]));
    // Unchanged keys let EXEC run.
    run(&mut n, c, "watch k");
    run(&mut n, c, "multi");
    run(&mut n, c, "ping");
    assert_eq!(
        run(&mut n, c, "exec"),
        Reply::Array(vec![Reply::simple("PONG")])
    );
    // UNWATCH forgets them too.
    run(&mut n, c, "watch k");
    set(&mut n, "2");
    assert_eq!(run(&mut n, c, "unwatch"), Reply::ok());
    run(&mut n, c, "multi");
    assert_eq!(run(&mut n, c, "exec"), Reply::Array(vec![]));
}

#[test]
fn client_pause_holds_writes_or_everything_until_it_ends() {
    let (mut n, op) = node(false);
    let app = n.client_connected(NOW, "127.0.0.1:5001".into(), "127.0.0.1:6379".into());
    assert_eq!(
        run(&mut n, op, "CLIENT PAUSE abc"),
        err("ERR timeout is not an integer or out of range")
    );
    assert_eq!(
        run(&mut n, op, "CLIENT PAUSE -1"),
        err("ERR timeout is negative")
    );
    assert_eq!(
        run(&mut n, op, "CLIENT PAUSE 10 FOO"),
        err("ERR CLIENT PAUSE mode must be WRITE or ALL")
    );
    n.take_effects();
    // WRITE: reads are served, a write waits for the end of the pause, then runs.
    assert_eq!(run(&mut n, op, "CLIENT PAUSE 1000 WRITE"), Reply::ok());
    assert_eq!(run(&mut n, app, "GET k"), Reply::Nil);
    assert_eq!(run(&mut n, app, "SET k v"), Reply::Nil);
    let blocked = |effects: &[Effect]| {
        effects
            .iter()
            .any(|e| matches!(e, Effect::BlockClient { client, .. } if *client == app))
    };
    assert!(blocked(&n.take_effects()));
    let unblocked = |effects: &[Effect]| {
        effects.iter().any(|e| {
            matches!(e, Effect::UnblockClient { client, reply } if *client == app && *reply == Reply::ok())
        })
    };
    let at = |ms: u64| Time {
        mono_ms: ms,
        unix_ms: NOW.unix_ms + ms,
    };
    n.tick(at(999));
    assert!(!unblocked(&n.take_effects()), "still paused");
    n.tick(at(1000));
    assert!(unblocked(&n.take_effects()), "ran when the pause ended");
    assert_eq!(
        n.command(at(1001), app, &[Bytes::from("GET"), Bytes::from("k")]),
        bulk("v")
    );
    // ALL (the default): even PING waits, and so does CLIENT UNPAUSE (redis-server 7.0.15
    // holds it too); both run when the pause ends.
    let ping = [Bytes::from("PING")];
    assert_eq!(
        run_at(&mut n, op, at(1100), "CLIENT PAUSE 300"),
        Reply::ok()
    );
    assert_eq!(n.command(at(1100), app, &ping), Reply::Nil);
    assert_eq!(run_at(&mut n, op, at(1200), "CLIENT UNPAUSE"), Reply::Nil);
    n.take_effects();
    n.tick(at(1400));
    let effects = n.take_effects();
    let answered = |who: ClientId, expected: Reply| {
        effects.iter().any(|e| {
            matches!(e, Effect::UnblockClient { client, reply } if *client == who && *reply == expected)
        })
    };
    assert!(answered(app, Reply::simple("PONG")));
    assert!(answered(op, Reply::ok()));
}

/// Redis holds whatever may reach the replicas, not only writes: a manual failover's replica
/// must catch up with a master that no longer moves (Redis's suite `10-manual-failover` writes
/// through EVAL during one).
#[test]
fn a_write_pause_holds_what_may_replicate_and_runs_declared_readers() {
    let (mut n, op) = node(false);
    assert_eq!(run(&mut n, op, "CLIENT PAUSE 1000 WRITE"), Reply::ok());
    n.take_effects();
    let mut port = 6000;
    let mut held = |n: &mut Node, lines: &[&[&str]]| -> bool {
        port += 1;
        let client = n.client_connected(NOW, format!("127.0.0.1:{port}"), "127.0.0.1:6379".into());
        for line in lines {
            let args: Vec<Bytes> = line.iter().map(|w| Bytes::from(w.to_string())).collect();
            n.command(NOW, client, &args);
        }
        let effects = n.take_effects();
        effects
            .iter()
            .any(|e| matches!(e, Effect::BlockClient { client: c, .. } if *c == client))
    };
    assert!(held(
        &mut n,
        &[&["EVAL", "return redis.call('set','k','v')", "0"]]
    ));
    assert!(
        held(&mut n, &[&["EVAL", "return 1", "0"]]),
        "undeclared: may write"
    );
    assert!(
        held(&mut n, &[&["EVAL", "#!lua\nreturn 1", "0"]]),
        "declared writer"
    );
    assert!(!held(
        &mut n,
        &[&["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]]
    ));
    assert!(!held(&mut n, &[&["EVAL_RO", "return 1", "0"]]));
    assert!(held(&mut n, &[&["PUBLISH", "ch", "m"]]));
    assert!(held(&mut n, &[&["PFCOUNT", "h"]]));
    assert!(!held(&mut n, &[&["GET", "k"]]));
    let queued_eval: &[&[&str]] = &[&["MULTI"], &["EVAL", "return 1", "0"], &["EXEC"]];
    assert!(held(&mut n, queued_eval));
    let queued_read: &[&[&str]] = &[&["MULTI"], &["GET", "k"], &["EXEC"]];
    assert!(!held(&mut n, queued_read));
    // COMMAND hides the flag, as Redis does.
    let spec = n.lookup(&Bytes::from("eval")).unwrap();
    assert!(!spec.flags.words().any(|w| w.contains("replicate")));
}

fn run_at(node: &mut Node, c: ClientId, now: Time, line: &str) -> Reply {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    node.command(now, c, &args)
}

#[test]
fn client_kill_by_address_or_filters_with_redis_errors() {
    let (mut n, op) = node(false);
    let other = n.client_connected(NOW, "127.0.0.1:5001".into(), "127.0.0.1:6379".into());
    let third = n.client_connected(NOW, "10.0.0.9:5002".into(), "10.0.0.1:6379".into());
    n.take_effects();
    // The driver closes them and reports each gone.
    let closed = |n: &mut Node| -> Vec<ClientId> {
        let gone: Vec<ClientId> = n
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::CloseClient { client } => Some(client),
                _ => None,
            })
            .collect();
        gone.iter().for_each(|&c| n.client_disconnected(c));
        gone
    };
    assert_eq!(
        run(&mut n, op, "CLIENT KILL 1.2.3.4:5"),
        err("ERR No such client")
    );
    assert_eq!(run(&mut n, op, "CLIENT KILL 127.0.0.1:5001"), Reply::ok());
    assert_eq!(closed(&mut n), vec![other]);
    for (line, e) in [
        (
            "CLIENT KILL ID abc",
            "ERR client-id should be greater than 0",
        ),
        ("CLIENT KILL ID 0", "ERR client-id should be greater than 0"),
        ("CLIENT KILL TYPE foo", "ERR Unknown client type 'foo'"),
        ("CLIENT KILL TYPE normal SKIPME maybe", "ERR syntax error"),
        ("CLIENT KILL FOO bar", "ERR syntax error"),
        ("CLIENT KILL a b c", "ERR syntax error"),
        ("CLIENT KILL USER nobody", "ERR No such user 'nobody'"),
    ] {
        assert_eq!(run(&mut n, op, line), err(e), "{line}");
    }
    assert_eq!(run(&mut n, op, "CLIENT KILL ID 999"), Reply::Integer(0));
    assert_eq!(
        run(&mut n, op, "CLIENT KILL TYPE master"),
        Reply::Integer(0)
    );
    assert_eq!(
        run(&mut n, op, "CLIENT KILL LADDR 10.0.0.1:6379"),
        Reply::Integer(1)
    );
    assert_eq!(closed(&mut n), vec![third]);
    // SKIPME yes is the default: the caller survives TYPE normal unless it says no.
    let fourth = n.client_connected(NOW, "127.0.0.1:5004".into(), "127.0.0.1:6379".into());
    assert_eq!(
        run(&mut n, op, "CLIENT KILL TYPE normal"),
        Reply::Integer(1)
    );
    assert_eq!(closed(&mut n), vec![fourth]);
    let skip_no = "CLIENT KILL TYPE normal SKIPME no";
    assert_eq!(run(&mut n, op, skip_no), Reply::Integer(1));
    assert_eq!(closed(&mut n), vec![op]);
}

/// A replica's link to its master is a client of type `master` at the master's address:
/// killing it drops the link, and the cron connects again a second later.
#[test]
fn client_kill_of_the_master_link_drops_it_and_the_replica_reconnects() {
    use crate::bus::flags;
    use crate::cluster::ClusterNode;
    use crate::node_id::NodeId;
    let (mut n, op) = node(true);
    let id = NodeId::random(&mut n.rng);
    let mut m = ClusterNode::new(id, flags::MASTER, NOW);
    (m.ip, m.port, m.cport) = ("127.0.0.1".into(), 7001, 17001);
    n.cluster.nodes.insert(id, m);
    n.cluster.become_replica_of(id, &mut n.out);
    let at = |ms: u64| Time {
        mono_ms: NOW.mono_ms + ms,
        unix_ms: NOW.unix_ms + ms,
    };
    n.tick(at(100));
    let connects = |effects: Vec<Effect>| {
        effects
            .into_iter()
            .filter(|e| matches!(e, Effect::ReplicaConnect { .. }))
            .count()
    };
    assert_eq!(connects(n.take_effects()), 1);
    let kill = "CLIENT KILL 127.0.0.1:7001";
    assert_eq!(run_at(&mut n, op, at(200), kill), Reply::ok());
    let effects = n.take_effects();
    assert!(effects.contains(&Effect::ReplicaDisconnect { link: 1 }));
    assert_eq!(n.repl.master_link().map(|l| l.id), None);
    n.tick(at(1300));
    assert_eq!(connects(n.take_effects()), 1);
    assert_eq!(
        run_at(&mut n, op, at(1400), "CLIENT KILL TYPE master"),
        Reply::Integer(1)
    );
}

#[test]
fn client_list_flags_a_watch_that_will_fail() {
    let (mut n, c) = node(false);
    let other = n.client_connected(NOW, "127.0.0.1:5001".into(), "127.0.0.1:6379".into());
    let flags = |n: &mut Node| match run(n, other, &format!("client list id {c}")) {
        Reply::Verbatim(_, line) => line
            .split(" flags=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string(),
        other => panic!("{other:?}"),
    };
    run(&mut n, c, "watch wk");
    assert_eq!(flags(&mut n), "N");
    run(&mut n, other, "set wk 1");
    assert_eq!(flags(&mut n), "d");
    run(&mut n, c, "multi");
    assert_eq!(flags(&mut n), "xd");
    run(&mut n, c, "exec");
    assert_eq!(flags(&mut n), "N");
}

#[test]
fn requirepass_holds_new_connections_until_auth_and_clearing_it_lets_them_in() {
    let (mut n, admin) = node(false);
    assert_eq!(run(&mut n, admin, "CONFIG SET requirepass pw"), Reply::ok());
    // A connection made before keeps its access, as in Redis.
    assert_eq!(run(&mut n, admin, "GET x"), Reply::Nil);
    let c = n.client_connected(NOW, "127.0.0.1:5001".into(), "127.0.0.1:6379".into());
    let noauth = err("NOAUTH Authentication required.");
    assert_eq!(run(&mut n, c, "GET x"), noauth);
    assert_eq!(run(&mut n, c, "PING"), noauth);
    assert!(
        matches!(run(&mut n, c, "HELLO 3"), Reply::Error(e) if e.starts_with("NOAUTH HELLO must"))
    );
    let wrongpass = err("WRONGPASS invalid username-password pair or user is disabled.");
    assert_eq!(run(&mut n, c, "AUTH nope"), wrongpass);
    assert_eq!(run(&mut n, c, "AUTH bob pw"), wrongpass);
    assert_eq!(run(&mut n, c, "GET x"), noauth);
    assert_eq!(run(&mut n, c, "AUTH pw"), Reply::ok());
    assert_eq!(run(&mut n, c, "GET x"), Reply::Nil);
    let c2 = n.client_connected(NOW, "127.0.0.1:5002".into(), "127.0.0.1:6379".into());
    assert_eq!(run(&mut n, c2, "AUTH default pw"), Reply::ok());
    let c3 = n.client_connected(NOW, "127.0.0.1:5003".into(), "127.0.0.1:6379".into());
    assert_eq!(run(&mut n, admin, "CONFIG SET requirepass "), Reply::ok());
    assert_eq!(run(&mut n, c3, "GET x"), Reply::Nil);
    assert_eq!(
        run(&mut n, admin, "CONFIG GET requirepass"),
        Reply::Map(vec![(bulk("requirepass"), bulk(""))])
    );
}
