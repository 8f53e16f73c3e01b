//! FUNCTION and FCALL: exact replies, and what reaches the AOF.

use bytes::Bytes;

use crate::config::Config;
use crate::node::{ClientId, Effect, Node, Time};
use crate::reply::Reply;

const NOW: Time = Time {
    mono_ms: 0,
    unix_ms: 1_000_000,
};

const LIB: &str = "#!lua name=lib1\n\
    redis.register_function('f1', function(keys, args) return {keys[1], args[1]} end)\n\
    redis.register_function{function_name='f2', callback=function(keys, args) \
    return redis.call('set', keys[1], args[1]) end, flags={'no-writes'}, description='d2'}";

/// Redis 7.0.15's FUNCTION DUMP of one library (its code LZF-compressed).
const REDIS_DUMP_HEX: &str = "f5c3406c40771f23216c7561206e616d653d6d796c69620a72656469732e72656769737465725f0b66756e6374696f6e28276d79400b02272c2040066012116b6579732c2061726773292072657475726e2006403d0863616c6c2827736574202d4024025b315d80272008052920656e64290a002ddeb7b06dc38c75";

fn node() -> (Node, ClientId) {
    let config = Config {
        appendonly: true,
        ..Config::default()
    };
    let mut node = Node::new(config, NOW, 1);
    let c = node.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
    (node, c)
}

fn cmd(node: &mut Node, c: ClientId, args: &[&[u8]]) -> Reply {
    let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    node.command(NOW, c, &argv)
}

fn run(node: &mut Node, c: ClientId, line: &str) -> Reply {
    let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    cmd(node, c, &argv)
}

fn err(text: &str) -> Reply {
    Reply::Error(text.into())
}

fn bulk(text: &str) -> Reply {
    Reply::bulk_str(text)
}

fn load(node: &mut Node, c: ClientId, code: &str) -> Reply {
    cmd(node, c, &[b"FUNCTION", b"LOAD", code.as_bytes()])
}

fn aof_text(node: &mut Node) -> String {
    let mut data = Vec::new();
    for effect in node.take_effects() {
        if let Effect::AppendAof { data: d } = effect {
            data.extend_from_slice(&d);
        }
    }
    String::from_utf8_lossy(&data).replace("\r\n", " ")
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn load_call_and_errors() {
    let (mut n, c) = node();
    assert_eq!(load(&mut n, c, LIB), bulk("lib1"));
    assert_eq!(
        run(&mut n, c, "FCALL f1 1 k a"),
        Reply::Array(vec![bulk("k"), bulk("a")])
    );
    assert_eq!(
        run(&mut n, c, "FCALL f2 1 k a"),
        err("ERR Write commands are not allowed from read-only scripts. script: f2, on @user_function:3.")
    );
    assert_eq!(
        run(&mut n, c, "FCALL_RO f1 0"),
        err("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        run(&mut n, c, "FCALL nosuch 0"),
        err("ERR Function not found")
    );
    assert_eq!(
        run(&mut n, c, "FCALL f1 -1"),
        err("ERR Number of keys can't be negative")
    );
    assert_eq!(
        run(&mut n, c, "FCALL f1 x"),
        err("ERR Bad number of keys provided")
    );
    let cases = [
        ("#!lua name=lib1\nreturn 1", "ERR Library 'lib1' already exists"),
        ("#!lua name=lib2\nreturn 1", "ERR No functions registered"),
        ("#!lua name=lib2\nerror('x')", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'error'"),
        ("#!lua name=lib2\nreturn x", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'x'"),
        ("#!lua name=lib2\nredis.register_function('f1', function() end)", "ERR Function f1 already exists"),
        ("#!lua name=lib2\nredis.register_function('f9', 3)", "ERR Error registering functions: ERR second argument to redis.register_function must be a function"),
        ("#!lua", "ERR Invalid library metadata"),
        ("nolib", "ERR Missing library metadata"),
        ("#!lua name=a b=c\n", "ERR Invalid metadata value given: b=c"),
        ("#!js name=a\n", "ERR Engine 'js' not found"),
        ("#!lua name=a-b\n", "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
        ("#!lua name=a\nreturn 1 +", "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"),
    ];
    for (code, expected) in cases {
        assert_eq!(load(&mut n, c, code), err(expected), "{code}");
    }
    // Functions see no KEYS global, and the runtime redis table has no register_function.
    let lib = "#!lua name=lib5\nredis.register_function('f5', function() return tostring(redis.register_function) end)";
    assert_eq!(load(&mut n, c, lib), bulk("lib5"));
    assert_eq!(run(&mut n, c, "FCALL f5 0"), bulk("nil"));
}

#[test]
fn list_stats_delete_flush() {
    let (mut n, c) = node();
    load(&mut n, c, LIB);
    let f = |name: &str, description: Reply, flags: &[&str]| {
        Reply::Map(vec![
            (bulk("name"), bulk(name)),
            (bulk("description"), description),
            (
                bulk("flags"),
                Reply::Set(flags.iter().map(|f| Reply::simple(*f)).collect()),
            ),
        ])
    };
    let listed = Reply::Array(vec![Reply::Map(vec![
        (bulk("library_name"), bulk("lib1")),
        (bulk("engine"), bulk("LUA")),
        (
            bulk("functions"),
            Reply::Array(vec![
                f("f1", Reply::Nil, &[]),
                f("f2", bulk("d2"), &["no-writes"]),
            ]),
        ),
    ])]);
    assert_eq!(run(&mut n, c, "FUNCTION LIST"), listed);
    assert_eq!(
        run(&mut n, c, "FUNCTION LIST LIBRARYNAME nope*"),
        Reply::Array(vec![])
    );
    let Reply::Array(with_code) = run(&mut n, c, "FUNCTION LIST WITHCODE LIBRARYNAME lib*") else {
        panic!()
    };
    let Reply::Map(fields) = &with_code[0] else {
        panic!()
    };
    assert_eq!(fields[3], (bulk("library_code"), bulk(LIB)));
    let counts = |libs, fns| {
        Reply::Map(vec![
            (bulk("running_script"), Reply::Nil),
            (
                bulk("engines"),
                Reply::Map(vec![(
                    bulk("LUA"),
                    Reply::Map(vec![
                        (bulk("libraries_count"), Reply::Integer(libs)),
                        (bulk("functions_count"), Reply::Integer(fns)),
                    ]),
                )]),
            ),
        ])
    };
    assert_eq!(run(&mut n, c, "FUNCTION STATS"), counts(1, 2));
    assert_eq!(
        run(&mut n, c, "FUNCTION DELETE nope"),
        err("ERR Library not found")
    );
    assert_eq!(run(&mut n, c, "FUNCTION DELETE lib1"), Reply::ok());
    assert_eq!(run(&mut n, c, "FCALL f1 0"), err("ERR Function not found"));
    load(&mut n, c, LIB);
    assert_eq!(
        run(&mut n, c, "FUNCTION FLUSH x"),
        err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    );
    assert_eq!(run(&mut n, c, "FUNCTION FLUSH SYNC"), Reply::ok());
    assert_eq!(run(&mut n, c, "FUNCTION STATS"), counts(0, 0));
    assert_eq!(
        run(&mut n, c, "FUNCTION KILL"),
        err("NOTBUSY No scripts in execution right now.")
    );
}

#[test]
fn function_writes_reach_the_aof_as_sent_and_fcall_by_its_effects() {
    let (mut n, c) = node();
    n.take_effects();
    let lib = "#!lua name=w\nredis.register_function('w', function(keys) redis.call('set', keys[1], 'v') return redis.call('incr', keys[2]) end)";
    load(&mut n, c, lib);
    let load_record = format!("*3 $8 FUNCTION $4 LOAD ${} {lib} ", lib.len());
    assert_eq!(aof_text(&mut n), format!("*2 $6 SELECT $1 0 {load_record}"));
    assert_eq!(run(&mut n, c, "FCALL w 2 a b"), Reply::Integer(1));
    assert_eq!(
        aof_text(&mut n),
        "*1 $5 MULTI *3 $3 set $1 a $1 v *2 $4 incr $1 b *1 $4 EXEC "
    );
    run(&mut n, c, "FUNCTION DELETE w");
    assert_eq!(aof_text(&mut n), "*3 $8 FUNCTION $6 DELETE $1 w ");
}

#[test]
fn dump_and_restore_take_redis_payloads() {
    let (mut n, c) = node();
    let redis_dump = unhex(REDIS_DUMP_HEX);
    assert_eq!(
        cmd(&mut n, c, &[b"FUNCTION", b"RESTORE", &redis_dump]),
        Reply::ok()
    );
    assert_eq!(run(&mut n, c, "FCALL myfunc 1 k v"), Reply::ok());
    assert_eq!(run(&mut n, c, "GET k"), bulk("v"));
    assert_eq!(
        cmd(&mut n, c, &[b"FUNCTION", b"RESTORE", &redis_dump]),
        err("ERR Library mylib already exists")
    );
    assert_eq!(
        cmd(
            &mut n,
            c,
            &[b"FUNCTION", b"RESTORE", &redis_dump, b"REPLACE"]
        ),
        Reply::ok()
    );
    let Reply::Bulk(ours) = run(&mut n, c, "FUNCTION DUMP") else {
        panic!()
    };
    // Under the default `rdbcompression yes` we compress the code as Redis did.
    assert_eq!(ours[..], redis_dump[..]);
    let (mut other, c2) = node();
    load(&mut other, c2, LIB);
    assert_eq!(
        cmd(&mut other, c2, &[b"FUNCTION", b"RESTORE", &ours, b"FLUSH"]),
        Reply::ok()
    );
    assert_eq!(
        run(&mut other, c2, "FCALL f1 0"),
        err("ERR Function not found")
    );
    assert_eq!(run(&mut other, c2, "FCALL myfunc 1 k w"), Reply::ok());
    assert_eq!(
        cmd(&mut other, c2, &[b"FUNCTION", b"RESTORE", b"\x01\x0a\x00"]),
        err("ERR DUMP payload version or checksum are wrong")
    );
}

#[test]
fn libraries_travel_in_rdb_files_and_snapshots() {
    let (mut n, c) = node();
    load(&mut n, c, LIB);
    let rdb = n.rdb_snapshot();
    let (contents, _) = crate::rdb::decode(&rdb, &Default::default()).unwrap();
    assert_eq!(contents.functions, vec![Bytes::from(LIB)]);
    let (mut other, c2) = node();
    other.load_rdb(contents);
    assert_eq!(
        run(&mut other, c2, "FCALL f1 1 k"),
        Reply::Array(vec![bulk("k")])
    );
}

fn lib_code(name: &str, function: &str) -> Bytes {
    Bytes::from(format!(
        "#!lua name={name}\nredis.register_function('{function}', function() return '{name}' end)"
    ))
}

fn restore_payload(n: &mut Node, c: ClientId, codes: &[Bytes], policy: &str) -> Reply {
    let payload = super::function_cmds::dump_payload(codes, crate::cmd::dump::Compression::Lzf);
    cmd(
        n,
        c,
        &[b"FUNCTION", b"RESTORE", &payload, policy.as_bytes()],
    )
}

fn library_names(n: &Node) -> Vec<String> {
    n.scripting.libraries.keys().cloned().collect()
}

/// As Redis's `libraryJoin`: a FUNCTION RESTORE that fails changes nothing, whichever library
/// of the payload fails and however.
#[test]
fn a_failed_restore_leaves_the_libraries_as_they_were() {
    let (mut n, c) = node();
    assert_eq!(
        load(
            &mut n,
            c,
            &String::from_utf8_lossy(&lib_code("old", "f_old"))
        ),
        bulk("old")
    );
    aof_text(&mut n);
    let fresh = lib_code("fresh", "f_fresh");
    let cases = [
        // A library that exists, after one that does not.
        (
            vec![fresh.clone(), lib_code("old", "f_other")],
            "APPEND",
            "ERR Library old already exists",
        ),
        // A function another library holds, even when replacing.
        (
            vec![fresh.clone(), lib_code("thief", "f_old")],
            "REPLACE",
            "ERR Function f_old already exists",
        ),
        // Two libraries of one name in the payload: found before anything is flushed.
        (
            vec![fresh.clone(), fresh.clone()],
            "FLUSH",
            "ERR Library 'fresh' already exists",
        ),
        (
            vec![
                fresh.clone(),
                Bytes::from_static(b"#!lua name=broken\nthis is not lua"),
            ],
            "FLUSH",
            "ERR Error compiling function: user_function:2: '=' expected near 'is'",
        ),
    ];
    for (codes, policy, error) in cases {
        assert_eq!(
            restore_payload(&mut n, c, &codes, policy),
            err(error),
            "{policy}"
        );
        assert_eq!(library_names(&n), ["old"], "{policy}");
        assert_eq!(run(&mut n, c, "FCALL f_old 0"), bulk("old"));
        assert_eq!(
            run(&mut n, c, "FCALL f_fresh 0"),
            err("ERR Function not found")
        );
        assert_eq!(aof_text(&mut n), "", "a failed restore is not propagated");
    }
    // Replacing `old` frees its function name for the replacement.
    let codes = [fresh.clone(), lib_code("old", "f_old2")];
    assert_eq!(restore_payload(&mut n, c, &codes, "REPLACE"), Reply::ok());
    assert_eq!(library_names(&n), ["fresh", "old"]);
    assert_eq!(
        run(&mut n, c, "FCALL f_old 0"),
        err("ERR Function not found")
    );
    assert_eq!(run(&mut n, c, "FCALL f_old2 0"), bulk("old"));
    assert_eq!(
        restore_payload(&mut n, c, &[lib_code("only", "f_only")], "FLUSH"),
        Reply::ok()
    );
    assert_eq!(library_names(&n), ["only"]);
}
