//! Exact replies and exact propagation of EVAL and SCRIPT.

use bytes::Bytes;

use crate::config::Config;
use crate::node::{ClientId, Effect, Node, Time};
use crate::reply::Reply;

pub(super) const NOW: Time = Time {
    mono_ms: 0,
    unix_ms: 1_000_000,
};

fn node_with(config: Config) -> (Node, ClientId) {
    let mut node = Node::new(config, NOW, 1);
    let c = node.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
    (node, c)
}

pub(super) fn plain_node() -> (Node, ClientId) {
    node_with(Config {
        appendonly: true,
        ..Config::default()
    })
}

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// EVAL `script` with `keys` then `args`.
pub(super) fn eval(
    node: &mut Node,
    c: ClientId,
    script: &str,
    keys: &[&str],
    args: &[&str],
) -> Reply {
    let mut argv = vec![b("EVAL"), b(script), b(&keys.len().to_string())];
    argv.extend(keys.iter().chain(args).map(|w| b(w)));
    node.command(NOW, c, &argv)
}

fn run(node: &mut Node, c: ClientId, line: &str) -> Reply {
    let argv: Vec<Bytes> = line.split(' ').map(b).collect();
    node.command(NOW, c, &argv)
}

pub(super) fn err(text: &str) -> Reply {
    Reply::Error(text.into())
}

pub(super) fn bulk(text: &str) -> Reply {
    Reply::Bulk(b(text))
}

pub(super) fn sha(script: &str) -> String {
    super::engine::sha1_hex(script.as_bytes())
}

/// The AOF records produced since the last call, as one string with `|` between words.
fn aof_records(node: &mut Node) -> Vec<String> {
    let mut data = Vec::new();
    for effect in node.take_effects() {
        if let Effect::AppendAof { data: d } = effect {
            data.extend_from_slice(&d);
        }
    }
    let text = String::from_utf8(data).unwrap();
    let mut records = Vec::new();
    let mut lines = text.split("\r\n");
    while let Some(head) = lines.next() {
        let Some(n) = head.strip_prefix('*') else {
            continue;
        };
        let words: Vec<&str> = (0..n.parse::<usize>().unwrap())
            .map(|_| {
                lines.next();
                lines.next().unwrap()
            })
            .collect();
        records.push(words.join("|"));
    }
    records
}

#[test]
fn conversions_lua_to_reply() {
    let (mut n, c) = plain_node();
    assert_eq!(eval(&mut n, c, "return 1", &[], &[]), Reply::Integer(1));
    assert_eq!(eval(&mut n, c, "return 3.99", &[], &[]), Reply::Integer(3));
    assert_eq!(
        eval(&mut n, c, "return -3.99", &[], &[]),
        Reply::Integer(-3)
    );
    assert_eq!(eval(&mut n, c, "return 'x'", &[], &[]), bulk("x"));
    assert_eq!(eval(&mut n, c, "return true", &[], &[]), Reply::Integer(1));
    assert_eq!(eval(&mut n, c, "return false", &[], &[]), Reply::Nil);
    assert_eq!(eval(&mut n, c, "return nil", &[], &[]), Reply::Nil);
    assert_eq!(
        eval(&mut n, c, "return {1,'a',{2},nil,4}", &[], &[]),
        Reply::Array(vec![
            Reply::Integer(1),
            bulk("a"),
            Reply::Array(vec![Reply::Integer(2)])
        ])
    );
    assert_eq!(eval(&mut n, c, "return {err='bad'}", &[], &[]), err("bad"));
    assert_eq!(
        eval(&mut n, c, "return {ok='F\\r\\nOO'}", &[], &[]),
        Reply::Simple("F  OO".into())
    );
    assert_eq!(
        eval(&mut n, c, "return redis.status_reply('FOO')", &[], &[]),
        Reply::Simple("FOO".into())
    );
    assert_eq!(
        eval(&mut n, c, "return redis.error_reply('MY err')", &[], &[]),
        err("MY err")
    );
    assert_eq!(
        eval(&mut n, c, "return redis.error_reply('err')", &[], &[]),
        err("ERR err")
    );
    assert_eq!(
        eval(&mut n, c, "return redis.sha1hex('')", &[], &[]),
        bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    );
    assert_eq!(
        eval(
            &mut n,
            c,
            "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
            &["k"],
            &["a", "b"]
        ),
        Reply::Array(vec![
            bulk("k"),
            bulk("a"),
            Reply::Integer(1),
            Reply::Integer(2)
        ])
    );
}

#[test]
fn conversions_reply_to_lua() {
    let (mut n, c) = plain_node();
    run(&mut n, c, "SET s 1");
    run(&mut n, c, "HSET h f v");
    let call = |n: &mut Node, script: &str| eval(n, c, script, &[], &[]);
    assert_eq!(
        call(
            &mut n,
            "return redis.call('get','nokey') == false and 1 or 0"
        ),
        Reply::Integer(1)
    );
    assert_eq!(
        call(&mut n, "return redis.call('set','x','1').ok"),
        bulk("OK")
    );
    assert_eq!(
        call(&mut n, "return redis.call('incr','s')"),
        Reply::Integer(2)
    );
    assert_eq!(
        call(&mut n, "return redis.pcall('incr','h')['err']"),
        bulk("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        call(
            &mut n,
            "redis.setresp(3); return redis.call('hgetall','h').map.f"
        ),
        bulk("v")
    );
    assert_eq!(
        call(
            &mut n,
            "redis.setresp(3); return redis.call('get','nokey') == nil and 1 or 0"
        ),
        Reply::Integer(1)
    );
    assert_eq!(
        call(&mut n, "redis.setresp(3); return {map={a=1}}"),
        Reply::Map(vec![(bulk("a"), Reply::Integer(1))])
    );
    assert_eq!(
        call(&mut n, "redis.setresp(3); return true"),
        Reply::Bool(true)
    );
    assert_eq!(call(&mut n, "return {double=1.5}"), Reply::Double(1.5));
    assert_eq!(
        call(&mut n, "return redis.call('set','n',3.5)"),
        Reply::Simple("OK".into())
    );
    assert_eq!(run(&mut n, c, "GET n"), bulk("3.5"));
}

#[test]
fn error_texts_match_redis() {
    let (mut n, c) = plain_node();
    let at =
        |script: &str, text: &str| format!("{text} script: {}, on @user_script:1.", sha(script));
    let s = "return redis.call('nosuch')";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&at(s, "ERR Unknown Redis command called from script"))
    );
    let s = "return x";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&at(
            s,
            "ERR user_script:1: Script attempted to access nonexistent global variable 'x'"
        ))
    );
    let s = "x = 1";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&at(
            s,
            "ERR user_script:1: Attempt to modify a readonly table"
        ))
    );
    let s = "return os";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&at(
            s,
            "ERR user_script:1: Script attempted to access nonexistent global variable 'os'"
        ))
    );
    let s = "return redis.call('get','a','b')";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&at(
            s,
            "ERR Wrong number of args calling Redis command from script"
        ))
    );
    let s = "return redis.call('multi')";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&at(s, "ERR This Redis command is not allowed from script"))
    );
    let s = "error('boom')";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&at(s, "ERR user_script:1: boom"))
    );
    let s = "error({err='E boom'})";
    assert_eq!(eval(&mut n, c, s, &[], &[]), err(&at(s, "E boom")));
    let s = "return redis.call('get', {})";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&at(
            s,
            "ERR Lua redis lib command arguments must be strings or integers"
        ))
    );
    assert_eq!(
        eval(&mut n, c, "return redis.pcall('nosuch')", &[], &[]),
        err("ERR Unknown Redis command called from script")
    );
    assert_eq!(
        eval(&mut n, c, "return 1 +", &[], &[]),
        err("ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'")
    );
    assert_eq!(
        run(&mut n, c, "EVAL x -1"),
        err("ERR Number of keys can't be negative")
    );
    assert_eq!(
        run(&mut n, c, "EVAL x 3 a"),
        err("ERR Number of keys can't be greater than number of args")
    );
    assert_eq!(
        run(&mut n, c, "EVAL x y"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        run(&mut n, c, "EVALSHA 1234 0"),
        err("NOSCRIPT No matching script. Please use EVAL.")
    );
    // No script changes what the next one finds.
    for s in [
        "string.format = nil",
        "redis.sha1hex = nil",
        "math.random = nil",
    ] {
        let text = "ERR user_script:1: Attempt to modify a readonly table";
        assert_eq!(eval(&mut n, c, s, &[], &[]), err(&at(s, text)));
    }
    assert_eq!(
        eval(&mut n, c, "return string.format('%d', 7)", &[], &[]),
        bulk("7")
    );
    let s = "local ok, e = pcall(redis.call, 'nosuch') return e";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        bulk("ERR Unknown Redis command called from script")
    );
}

#[test]
fn read_only_scripts_and_shebang() {
    let (mut n, c) = plain_node();
    let s = "return redis.call('set','a',1)";
    let argv = vec![b("EVAL_RO"), b(s), b("0")];
    assert_eq!(
        n.command(NOW, c, &argv),
        err(&format!(
            "ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:1.",
            sha(s)
        ))
    );
    let s = "#!lua flags=no-writes\nreturn redis.call('set','x',1)";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&format!(
            "ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:2.",
            sha(s)
        ))
    );
    let argv = vec![b("EVAL_RO"), b("#!lua\nreturn 1"), b("0")];
    assert_eq!(
        n.command(NOW, c, &argv),
        err("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        eval(&mut n, c, "#!python\n", &[], &[]),
        err("ERR Unexpected engine in script shebang: #!python")
    );
    assert_eq!(
        eval(&mut n, c, "#!lua\nreturn 2", &[], &[]),
        Reply::Integer(2)
    );
}

#[test]
fn script_cache_commands() {
    let (mut n, c) = plain_node();
    let s = "return 'cached'";
    assert_eq!(
        n.command(NOW, c, &[b("SCRIPT"), b("LOAD"), b(s)]),
        bulk(&sha(s))
    );
    let upper = sha(s).to_uppercase();
    assert_eq!(
        run(&mut n, c, &format!("EVALSHA {upper} 0")),
        bulk("cached")
    );
    assert_eq!(
        run(&mut n, c, &format!("SCRIPT EXISTS {} ffff", sha(s))),
        Reply::Array(vec![Reply::Integer(1), Reply::Integer(0)])
    );
    assert_eq!(
        run(&mut n, c, "SCRIPT FLUSH x"),
        err("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    );
    assert_eq!(run(&mut n, c, "SCRIPT FLUSH ASYNC"), Reply::ok());
    assert_eq!(
        run(&mut n, c, &format!("EVALSHA {} 0", sha(s))),
        err("NOSCRIPT No matching script. Please use EVAL.")
    );
    assert_eq!(
        run(&mut n, c, "SCRIPT KILL"),
        err("NOTBUSY No scripts in execution right now.")
    );
    // A script's writes never reach the AOF as EVAL, and SCRIPT LOAD is not propagated.
    assert!(aof_records(&mut n).is_empty());
}

#[test]
fn writes_propagate_as_commands_in_one_transaction() {
    let (mut n, c) = plain_node();
    n.take_effects();
    eval(
        &mut n,
        c,
        "redis.call('set',KEYS[1],'1'); redis.call('incr',KEYS[1])",
        &["k"],
        &[],
    );
    assert_eq!(
        aof_records(&mut n),
        ["SELECT|0", "MULTI", "set|k|1", "incr|k", "EXEC"]
    );
    eval(&mut n, c, "return redis.call('set','one','1')", &[], &[]);
    assert_eq!(aof_records(&mut n), ["set|one|1"]);
    eval(&mut n, c, "return redis.call('get','one')", &[], &[]);
    assert!(aof_records(&mut n).is_empty());
    let s = "redis.call('set','a','1'); redis.set_repl(redis.REPL_NONE); redis.call('set','b','1')";
    eval(&mut n, c, s, &[], &[]);
    assert_eq!(aof_records(&mut n), ["set|a|1"]);
    // Inside EXEC the transaction already wraps the script's writes.
    run(&mut n, c, "MULTI");
    eval(
        &mut n,
        c,
        "redis.call('set','t','1'); redis.call('set','u','1')",
        &[],
        &[],
    );
    run(&mut n, c, "EXEC");
    assert_eq!(aof_records(&mut n), ["MULTI", "set|t|1", "set|u|1", "EXEC"]);
}

/// `redis.set_repl`'s targets, as Redis's `propagatePendingCommands` sends them: each write to
/// the AOF, the replicas or both; MULTI and EXEC (counted over every propagated write) to both.
/// Only the replicas' writes move the replication offset.
#[test]
fn set_repl_sends_writes_to_the_aof_or_the_replicas_alone() {
    use crate::event::ClusterEvent;
    let (mut n, c) = plain_node();
    n.take_effects();
    let offset_before = n.cluster.me().repl_offset;
    let script = "redis.call('set','a','1'); redis.set_repl(redis.REPL_AOF); \
                  redis.call('set','b','1'); redis.set_repl(redis.REPL_REPLICA); \
                  redis.call('set','c','1'); redis.set_repl(redis.REPL_NONE); \
                  redis.call('set','d','1')";
    eval(&mut n, c, script, &[], &[]);
    let effects = n.take_effects();
    let applied = effects
        .iter()
        .filter(|e| matches!(e, Effect::Event(ClusterEvent::WriteApplied { .. })))
        .count();
    assert_eq!(applied, 4, "MULTI, set a, set c, EXEC reach the replicas");
    let to_replicas: u64 = [
        &["MULTI"][..],
        &["set", "a", "1"],
        &["set", "c", "1"],
        &["EXEC"],
    ]
    .iter()
    .map(|w| crate::replication::encoded_len(&w.iter().map(|s| b(s)).collect::<Vec<_>>()))
    .sum();
    assert_eq!(n.cluster.me().repl_offset - offset_before, to_replicas);
    for effect in effects {
        n.out.push(effect);
    }
    assert_eq!(
        aof_records(&mut n),
        ["SELECT|0", "MULTI", "set|a|1", "set|b|1", "EXEC"]
    );
    // One write for the AOF alone: no transaction, no offset.
    let offset_before = n.cluster.me().repl_offset;
    eval(
        &mut n,
        c,
        "redis.set_repl(redis.REPL_AOF); redis.call('set','e','1')",
        &[],
        &[],
    );
    assert_eq!(aof_records(&mut n), ["set|e|1"]);
    assert_eq!(n.cluster.me().repl_offset, offset_before);
    assert_eq!(
        run(&mut n, c, "MGET a b c d e"),
        Reply::Array(["1"; 5].iter().map(|v| Reply::bulk(*v)).collect())
    );
}

/// Each write of a script reports the command the script called (its digest), as a client's
/// own command would, so a checker can find a write it sent through a script; the MULTI and
/// EXEC around them name no request.
#[test]
fn script_writes_report_the_commands_the_script_called() {
    use crate::event::{request_digest, ClusterEvent};
    let (mut n, c) = plain_node();
    n.take_effects();
    let script = "redis.call('APPEND', KEYS[1], ARGV[1]); redis.call('incr', 'ctr')";
    eval(&mut n, c, script, &["k"], &["t;"]);
    let requests: Vec<u64> = n
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Event(ClusterEvent::WriteApplied { request, .. }) => Some(request),
            _ => None,
        })
        .collect();
    let append = request_digest(&["APPEND", "k", "t;"]);
    let incr = request_digest(&["incr", "ctr"]);
    assert_eq!(requests, [0, append, incr, 0]);
    assert_eq!(n.request, 0, "nothing left behind for the next command");
}

#[test]
fn math_random_is_the_redis_stream() {
    let (mut n, c) = plain_node();
    let draw = |n: &mut Node| eval(n, c, "return tostring(math.random())", &[], &[]);
    let first = draw(&mut n);
    assert_ne!(draw(&mut n), first, "the stream continues across calls");
    let (mut fresh, c2) = plain_node();
    assert_eq!(
        eval(&mut fresh, c2, "return tostring(math.random())", &[], &[]),
        first
    );
    assert_eq!(
        eval(
            &mut fresh,
            c2,
            "math.randomseed(5); return math.random(1000)",
            &[],
            &[]
        ),
        eval(
            &mut fresh,
            c2,
            "math.randomseed(5); return math.random(1000)",
            &[],
            &[]
        )
    );
}

#[test]
fn redis_log_goes_to_the_node_log() {
    let (mut n, c) = plain_node();
    n.take_effects();
    let r = eval(
        &mut n,
        c,
        "redis.log(redis.LOG_WARNING, 'hello', 42)",
        &[],
        &[],
    );
    assert_eq!(r, Reply::Nil);
    let logged = n.take_effects().into_iter().any(|e| {
        matches!(e, Effect::Log { level: crate::node::LogLevel::Warning, text } if text == "hello 42")
    });
    assert!(logged);
    let s = "redis.log(9, 'x')";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&format!(
            "ERR Invalid debug level. script: {}, on @user_script:1.",
            sha(s)
        ))
    );
}
