//! EVAL, EVALSHA, EVAL_RO and SCRIPT against a real `redis-server` 7.0: the same scripts sent
//! to both fresh servers, raw replies compared byte for byte (conversions both ways in RESP2
//! and RESP3, error texts with their script SHA and line, the sandbox, shebang flags, and the
//! `math.random` stream, which both start from the same fixed state).

mod common;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// `(script, keys, args)`, run in order with EVAL on both servers.
const SCRIPTS: &[(&str, &[&str], &[&str])] = &[
    ("return tostring(math.random())", &[], &[]),
    ("return {math.random(100), math.random(5, 9)}", &[], &[]),
    (
        "math.randomseed(42); return {math.random(1000), tostring(math.random())}",
        &[],
        &[],
    ),
    ("return 1", &[], &[]),
    ("return {bit.band(0xff, 0x0f, 7), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}", &[], &[]),
    ("return {bit.lshift(1, 33), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x80000000, 1), bit.ror(1, 1)}", &[], &[]),
    ("return {bit.tobit(0xffffffff + 2), bit.tobit(2.5), bit.tobit(3.5), bit.tobit(-2.5), bit.bswap(0x12345678)}", &[], &[]),
    ("return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2), bit.tohex(1, 0)}", &[], &[]),
    ("return bit.band('12', 10)", &[], &[]),
    ("bit.foo = 1", &[], &[]),
    ("return bit.band(nil)", &[], &[]),
    ("return cjson.encode({})", &[], &[]),
    ("return cjson.encode({1, 2, 'a/b', true, false, 1.5, 1e20, 0.1, 1/3, 123456789012345678})", &[], &[]),
    ("return cjson.encode({a=1})", &[], &[]),
    ("return cjson.encode({[1]=1, [3]=3})", &[], &[]),
    ("return cjson.encode({[1]=1, [30]=3})", &[], &[]),
    (r#"return cjson.encode('a"\\\n\1\127\r\t\8\12é')"#, &[], &[]),
    ("return cjson.encode({[1]=1, x=2})", &[], &[]),
    (r#"return cjson.encode(cjson.decode('{"a":[1,2,null,{"b":true}],"c":"\\u00e9\\ud83d\\ude00\\n\\/"}'))"#, &[], &[]),
    ("return cjson.encode(cjson.decode(' [ 1.5e3 , -2, \"x\" ] '))", &[], &[]),
    ("return cjson.decode('[1,')", &[], &[]),
    ("return cjson.decode('{\"a\" 1}')", &[], &[]),
    ("return cjson.decode('[1 2]')", &[], &[]),
    ("return cjson.decode('{1:2}')", &[], &[]),
    ("return cjson.decode('[1] x')", &[], &[]),
    ("return cjson.decode('')", &[], &[]),
    ("return cjson.encode(0/0)", &[], &[]),
    ("return cjson.encode(print)", &[], &[]),
    ("return cjson.encode({[true]=1})", &[], &[]),
    ("return type(cjson.null)", &[], &[]),
    ("return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65536, 4294967296, -33, -129, -32769, -2147483649, 1.5, 0.1, 'x', true, false, nil)", &[], &[]),
    ("return cmsgpack.pack({1, 2, 3}, {}, {a=1}, {[1]=1, [3]=3}, string.rep('a', 40), string.rep('b', 300))", &[], &[]),
    ("return cmsgpack.pack({{{{{{{{{{{{{{{{{{1}}}}}}}}}}}}}}}}}})", &[], &[]),
    ("return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, {4}}, -5, 1.25, 2^40))}", &[], &[]),
    ("return cmsgpack.unpack(cmsgpack.pack({a='b'})).a", &[], &[]),
    ("return cmsgpack.unpack('\\205')", &[], &[]),
    ("return cmsgpack.unpack('\\193')", &[], &[]),
    ("return cmsgpack.pack()", &[], &[]),
    ("return struct.pack('>hHbBi4I3lLfd', -2, 65535, -1, 255, -70000, 70000, -5, 5, 1.5, 0.1)", &[], &[]),
    ("return struct.pack('<hxi2s c3 c0', 513, -2, 'str', 'abcdef', 'zz')", &[], &[]),
    ("return struct.pack('!4 b i4 b d', 1, 2, 3, 4)", &[], &[]),
    ("return {struct.unpack('>hHbBi4I3lL', struct.pack('>hHbBi4I3lL', -2, 65535, -1, 255, -70000, 70000, -5, 5))}", &[], &[]),
    ("return {struct.unpack('<s b c2', struct.pack('<s b c2', 'hi', 7, 'xy'))}", &[], &[]),
    ("return {struct.unpack('b c0', struct.pack('b', 3) .. 'abcd')}", &[], &[]),
    ("return {struct.unpack('>i2', 'abcd', 3)}", &[], &[]),
    ("return {struct.size('>hi4d'), struct.size('!8 b d')}", &[], &[]),
    ("return struct.unpack('i4', 'ab')", &[], &[]),
    ("return struct.pack('z', 1)", &[], &[]),
    ("return struct.unpack('s', 'abc')", &[], &[]),
    ("return struct.size('s')", &[], &[]),
    ("return struct.pack('c5', 'ab')", &[], &[]),
    ("return struct.pack('b c5', 1, 'ab')", &[], &[]),
    ("return struct.unpack('z', 'ab')", &[], &[]),
    ("return cjson.decode('null') == cjson.null", &[], &[]),
    ("return -3.99", &[], &[]),
    ("return 'x'", &[], &[]),
    ("return {1, 2, 3.7, 'x', nil, 4}", &[], &[]),
    ("return {true, false, {1, {2, 'a'}}}", &[], &[]),
    ("return true", &[], &[]),
    ("return false", &[], &[]),
    ("return nil", &[], &[]),
    ("return {err='bad'}", &[], &[]),
    ("return {err='My bad'}", &[], &[]),
    ("return {ok='F\\r\\nOO'}", &[], &[]),
    ("return redis.status_reply('FINE')", &[], &[]),
    ("return redis.error_reply('MY err')", &[], &[]),
    ("return redis.error_reply('err')", &[], &[]),
    ("return redis.error_reply('-X y')", &[], &[]),
    ("return redis.sha1hex('abc')", &[], &[]),
    (
        "return {KEYS[1], KEYS[2], ARGV[1], #ARGV}",
        &["k1", "k2"],
        &["a1", "a2"],
    ),
    (
        "return redis.call('set', KEYS[1], ARGV[1])",
        &["s"],
        &["10"],
    ),
    ("return redis.call('incrby', KEYS[1], 5)", &["s"], &[]),
    ("return redis.call('set', 'f', 3.25)", &[], &[]),
    ("return redis.call('set', 'big', 123456789012345678)", &[], &[]),
    ("return redis.call('get', 'big')", &[], &[]),
    ("return redis.sha1hex(1e15)", &[], &[]),
    ("return redis.call('get', 'f')", &[], &[]),
    ("return redis.call('get', 'nokey')", &[], &[]),
    ("return redis.call('rpush', 'l', 'a', 'b', 'c')", &[], &[]),
    ("return redis.call('lrange', 'l', 0, -1)", &[], &[]),
    (
        "return redis.call('hset', 'h', 'f1', 'v1', 'f2', 'v2')",
        &[],
        &[],
    ),
    ("return redis.call('hgetall', 'h')", &[], &[]),
    ("return redis.call('incr', 'h')", &[], &[]),
    ("return redis.pcall('incr', 'h')", &[], &[]),
    ("return redis.pcall('incr', 'h')['err']", &[], &[]),
    ("return redis.call('nosuch')", &[], &[]),
    ("return redis.pcall('nosuch')", &[], &[]),
    ("return redis.call()", &[], &[]),
    ("return redis.call('get', {})", &[], &[]),
    ("return redis.call('get', 'a', 'b')", &[], &[]),
    ("return redis.call('multi')", &[], &[]),
    (
        "local ok, e = pcall(redis.call, 'nosuch') return e",
        &[],
        &[],
    ),
    (
        "local ok, e = pcall(error, {err='x'}) return type(e)",
        &[],
        &[],
    ),
    ("return x", &[], &[]),
    ("x = 1", &[], &[]),
    ("string.foo = 1", &[], &[]),
    ("return os", &[], &[]),
    ("return io", &[], &[]),
    ("return loadfile", &[], &[]),
    ("return dofile", &[], &[]),
    ("return print", &[], &[]),
    ("return debug", &[], &[]),
    ("return type(_G)", &[], &[]),
    ("return loadstring('return 7')()", &[], &[]),
    ("local f, e = loadstring(string.dump(function() return 1 end)) return e", &[], &[]),
    ("return loadstring('x = 1')()", &[], &[]),
    ("local n = 0 return load(function() n = n + 1 if n == 1 then return 'return 8' end end)()", &[], &[]),
    ("error('boom')", &[], &[]),
    ("error({err='E boom'})", &[], &[]),
    ("\n\nerror('third line')", &[], &[]),
    ("return 1 +", &[], &[]),
    ("redis.setresp(4)", &[], &[]),
    ("redis.log(9, 'x')", &[], &[]),
    ("redis.log(redis.LOG_NOTICE)", &[], &[]),
    ("return redis.log(redis.LOG_DEBUG, 'quiet')", &[], &[]),
    ("return redis.REDIS_VERSION", &[], &[]),
    ("#!lua\nreturn 2", &[], &[]),
    (
        "#!lua flags=no-writes\nreturn redis.call('set', 'x', 1)",
        &[],
        &[],
    ),
    (
        "#!lua flags=no-writes,allow-oom\nreturn redis.call('get', 's')",
        &[],
        &[],
    ),
    ("#!python\nreturn 1", &[], &[]),
    ("#!lua foo=1\nreturn 1", &[], &[]),
    ("#!lua flags=bad\nreturn 1", &[], &[]),
    ("#!lua", &[], &[]),
    ("#!lua\nreturn 1 +", &[], &[]),
];

/// The same, with `redis.setresp(3)` and the connection in RESP3.
const RESP3_SCRIPTS: &[&str] = &[
    "redis.setresp(3); return redis.call('hgetall', 'h')",
    "redis.setresp(3); return redis.call('hgetall', 'h').map.f1",
    "redis.setresp(3); return redis.call('get', 'nokey') == nil",
    "redis.setresp(3); return true",
    "redis.setresp(3); return false",
    "return true",
    "return nil",
    "return {double=1.5}",
    "return {map={a=1}}",
    "return {set={a=true}}",
    "return {1, nil, 2}",
];

fn eval_args<'a>(script: &'a str, keys: &[&'a str], args: &[&'a str]) -> Vec<Vec<u8>> {
    let mut out = vec![b"EVAL".to_vec(), script.as_bytes().to_vec()];
    out.push(keys.len().to_string().into_bytes());
    out.extend(keys.iter().chain(args).map(|w| w.as_bytes().to_vec()));
    out
}

fn compare(ours: &mut RespConn, redis: &mut RespConn, command: &[Vec<u8>]) {
    let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
    let expected = redis.call(&args);
    let got = ours.call(&args);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected),
        "`{}`",
        String::from_utf8_lossy(&command.join(&b' '))
    );
}

fn words(line: &str) -> Vec<Vec<u8>> {
    line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

#[test]
fn scripts_match_redis_server_byte_for_byte() {
    let dir = TestDir::new("scripting-diff");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    for (script, keys, args) in SCRIPTS {
        compare(&mut ours, &mut redis, &eval_args(script, keys, args));
    }
    let cached = "return {ARGV[1], 'cached'}";
    let load = [
        b"SCRIPT".to_vec(),
        b"LOAD".to_vec(),
        cached.as_bytes().to_vec(),
    ];
    compare(&mut ours, &mut redis, &load);
    let sha = String::from_utf8(ours.call(&[b"SCRIPT", b"LOAD", cached.as_bytes()])).unwrap();
    let sha = sha.lines().nth(1).unwrap().to_string();
    for line in [
        format!("EVALSHA {sha} 0 a"),
        format!("EVALSHA {} 0 a", sha.to_uppercase()),
        format!("EVALSHA_RO {sha} 0 a"),
        format!("SCRIPT EXISTS {sha} 0000000000000000000000000000000000000000"),
        "EVALSHA 1234 0".into(),
        "EVAL x -1".into(),
        "EVAL x 3 a".into(),
        "EVAL x y".into(),
        "SCRIPT FLUSH x".into(),
        "SCRIPT FLUSH SYNC".into(),
        format!("EVALSHA {sha} 0 a"),
        "SCRIPT KILL".into(),
        "SCRIPT NOSUCH".into(),
    ] {
        compare(&mut ours, &mut redis, &words(&line));
    }
    let ro = "return redis.call('set', 'a', 1)";
    compare(
        &mut ours,
        &mut redis,
        &[b"EVAL_RO".to_vec(), ro.into(), b"0".to_vec()],
    );
    // Both keyspaces hold what the scripts wrote.
    for line in ["GET s", "GET f", "LRANGE l 0 -1", "HGETALL h", "EXISTS x a"] {
        compare(&mut ours, &mut redis, &words(line));
    }
    ours.call(&[b"HELLO", b"3"]);
    redis.call(&[b"HELLO", b"3"]);
    for script in RESP3_SCRIPTS {
        compare(&mut ours, &mut redis, &eval_args(script, &[], &[]));
    }
}

/// A replica applies a script's effects, not the script: a value the script computed from
/// the master's clock arrives as the master wrote it, and several writes as one MULTI/EXEC.
/// On the replica, read-only scripts run and a script's write is refused.
#[test]
fn a_replica_receives_a_scripts_writes_as_commands() {
    let dir = TestDir::new("scripting-replica");
    let [master_port, replica_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let _master = NodeProcess::start(&dir.path, master_port, NODE_TIMEOUT_MS, "");
    let _replica = NodeProcess::start(&dir.path, replica_port, NODE_TIMEOUT_MS, "");
    let mut master = RespConn::connect(master_port);
    let mut replica = RespConn::connect(replica_port);
    let ok = b"+OK\r\n".to_vec();
    let addslots = [&b"CLUSTER"[..], b"ADDSLOTSRANGE", b"0", b"16383"];
    assert_eq!(master.call(&addslots), ok);
    let ten_seconds = std::time::Duration::from_secs(10);
    wait_until(ten_seconds, "cluster state ok", || {
        cluster_info_field(master_port, "cluster_state") == "ok"
    });
    let port = master_port.to_string();
    assert_eq!(
        replica.call(&[b"CLUSTER", b"MEET", b"127.0.0.1", port.as_bytes()]),
        ok
    );
    let master_id = myid(master_port);
    let twenty_seconds = std::time::Duration::from_secs(20);
    wait_until(twenty_seconds, "the replica knows the master", || {
        command_text(replica_port, &["CLUSTER", "NODES"]).contains(&master_id)
    });
    assert_eq!(
        replica.call(&[b"CLUSTER", b"REPLICATE", master_id.as_bytes()]),
        ok
    );
    wait_until(twenty_seconds, "the replica's link is up", || {
        command_text(replica_port, &["INFO", "replication"]).contains("master_link_status:up")
    });
    let script = "local t = redis.call('time'); \
                  redis.call('set', KEYS[1], t[1] .. '.' .. t[2] .. ':' .. math.random()); \
                  redis.call('rpush', KEYS[2], 'a', 'b'); return redis.call('get', KEYS[1])";
    let written = master.call(&[b"EVAL", script.as_bytes(), b"2", b"{s}t", b"{s}l"]);
    assert!(
        written.starts_with(b"$"),
        "{}",
        String::from_utf8_lossy(&written)
    );
    assert_eq!(master.call(&[b"WAIT", b"1", b"5000"]), b":1\r\n");
    assert_eq!(replica.call(&[b"READONLY"]), ok);
    assert_eq!(replica.call(&[b"GET", b"{s}t"]), written);
    let read = "return redis.call('lrange', KEYS[1], 0, -1)";
    let list = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n".to_vec();
    assert_eq!(
        replica.call(&[b"EVAL_RO", read.as_bytes(), b"1", b"{s}l"]),
        list
    );
    let write = "return redis.call('set', KEYS[1], 'x')";
    let refused = replica.call(&[b"EVAL", write.as_bytes(), b"1", b"{s}t"]);
    let refused = String::from_utf8_lossy(&refused);
    assert!(
        refused.starts_with("-READONLY You can't write against a read only replica. script: "),
        "{refused}"
    );
    let flagged = "#!lua\nreturn 1";
    assert_eq!(
        replica.call(&[b"EVAL", flagged.as_bytes(), b"0"]),
        b"-READONLY Can not run script with write flag on readonly replica\r\n"
    );
    // With keys, a script that may write goes to the master, as any write.
    let moved = replica.call(&[b"EVAL", flagged.as_bytes(), b"1", b"{s}t"]);
    let moved = String::from_utf8_lossy(&moved);
    assert_eq!(moved, format!("-MOVED 3828 127.0.0.1:{master_port}\r\n"));
    let no_writes = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    assert_eq!(
        replica.call(&[b"EVAL", no_writes.as_bytes(), b"1", b"{s}t"]),
        written
    );
}

/// One library's code, loaded on both servers.
const LIBRARY: &str = "#!lua name=mylib\n\
    redis.register_function('myset', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
    redis.register_function{function_name='myget', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}";

/// FUNCTION and FCALL give the same replies as redis-server, a FUNCTION DUMP payload equals
/// redis-server's byte for byte (its code LZF-compressed under the default `rdbcompression
/// yes`, verbatim under `no`), and goes both ways.
#[test]
fn functions_match_redis_server_and_dumps_restore_both_ways() {
    let dir = TestDir::new("scripting-functions");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    let load = |code: &str| {
        vec![
            b"FUNCTION".to_vec(),
            b"LOAD".to_vec(),
            code.as_bytes().to_vec(),
        ]
    };
    compare(&mut ours, &mut redis, &load(LIBRARY));
    compare(&mut ours, &mut redis, &load(LIBRARY));
    let payload = |conn: &mut RespConn| {
        let raw = conn.call(&[b"FUNCTION", b"DUMP"]);
        let body_at = raw.iter().position(|&b| b == b'\n').unwrap() + 1;
        raw[body_at..raw.len() - 2].to_vec()
    };
    // One library (Redis orders several by its hash table).
    let compressed = payload(&mut redis);
    assert_eq!(
        payload(&mut ours),
        compressed,
        "FUNCTION DUMP, rdbcompression yes"
    );
    for conn in [&mut ours, &mut redis] {
        conn.call(&[b"CONFIG", b"SET", b"rdbcompression", b"no"]);
    }
    let verbatim = payload(&mut redis);
    assert!(verbatim.len() > compressed.len(), "the code compresses");
    assert_eq!(
        payload(&mut ours),
        verbatim,
        "FUNCTION DUMP, rdbcompression no"
    );
    for conn in [&mut ours, &mut redis] {
        conn.call(&[b"CONFIG", b"SET", b"rdbcompression", b"yes"]);
    }
    // Redis lists libraries and functions in its hash tables' order: compare lists of one.
    let one = "#!lua name=onelib\nredis.register_function{function_name='one', \
               callback=function() return 1 end, flags={'no-writes', 'allow-stale'}}";
    compare(&mut ours, &mut redis, &load(one));
    for bad in [
        "#!lua name=x\nreturn 1",
        "#!lua name=x\nerror('e')",
        "#!lua name=x\nredis.register_function('myget', function() end)",
        "#!lua name=x\nredis.register_function{function_name='y'}",
        "#!lua name=x\nredis.register_function{function_name='y', callback=function() end, flags={'bad'}}",
        "#!lua name=x y=1\n",
        "#!js name=x\n",
        "no metadata",
    ] {
        compare(&mut ours, &mut redis, &load(bad));
    }
    for line in [
        "FCALL myset 1 k v",
        "FCALL myget 1 k",
        "FCALL_RO myget 1 k",
        "FCALL_RO myset 1 k v",
        "FCALL nosuch 0",
        "FCALL myget -1",
        "FCALL myget 2 k",
        "FUNCTION LIST WITHCODE LIBRARYNAME one*",
        "FUNCTION LIST LIBRARYNAME onelib",
        "FUNCTION LIST LIBRARYNAME zz",
        "FCALL_RO one 0",
        "FUNCTION LIST BAD",
        "FUNCTION STATS",
        "FUNCTION DELETE nolib",
        "FUNCTION FLUSH BAD",
    ] {
        compare(&mut ours, &mut redis, &words(line));
    }
    // Redis's payload restores here; ours restores in redis-server.
    let theirs = payload(&mut redis);
    let mine = payload(&mut ours);
    for conn in [&mut ours, &mut redis] {
        assert_eq!(conn.call(&[b"FUNCTION", b"FLUSH"]), b"+OK\r\n");
    }
    assert_eq!(ours.call(&[b"FUNCTION", b"RESTORE", &theirs]), b"+OK\r\n");
    assert_eq!(redis.call(&[b"FUNCTION", b"RESTORE", &mine]), b"+OK\r\n");
    compare(&mut ours, &mut redis, &words("FCALL myset 1 k2 restored"));
    compare(&mut ours, &mut redis, &words("FCALL myget 1 k2"));
    compare(
        &mut ours,
        &mut redis,
        &words("FUNCTION LIST LIBRARYNAME onelib"),
    );
    compare(&mut ours, &mut redis, &words("FUNCTION STATS"));
    let restore_again =
        |conn: &mut RespConn, payload: &[u8]| conn.call(&[b"FUNCTION", b"RESTORE", payload]);
    assert_eq!(
        restore_again(&mut ours, &theirs),
        restore_again(&mut redis, &mine)
    );
}

/// A script's writes and the loaded libraries survive a SIGKILL: replayed from the AOF (the
/// writes as MULTI/EXEC, FUNCTION LOAD as sent) and from a rewritten base (the libraries as
/// RDB function records).
#[test]
fn script_writes_and_libraries_survive_a_crash_through_the_aof() {
    let dir = TestDir::new("scripting-crash");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let conf = "cluster-enabled no\nappendonly yes\nappendfsync always";
    let node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, conf);
    let mut conn = RespConn::connect(port);
    assert_eq!(
        conn.call(&[b"FUNCTION", b"LOAD", LIBRARY.as_bytes()]),
        b"$5\r\nmylib\r\n"
    );
    let script = "redis.call('set', KEYS[1], ARGV[1]); return redis.call('incr', KEYS[2])";
    let eval = |conn: &mut RespConn, value: &str| {
        conn.call(&[
            b"EVAL",
            script.as_bytes(),
            b"2",
            b"s",
            b"n",
            value.as_bytes(),
        ])
    };
    assert_eq!(eval(&mut conn, "one"), b":1\r\n");
    assert_eq!(conn.call(&[b"BGREWRITEAOF"])[0], b'+');
    wait_until(
        std::time::Duration::from_secs(10),
        "the rewrite ends",
        || command_text(port, &["INFO", "persistence"]).contains("aof_rewrite_in_progress:0"),
    );
    assert_eq!(eval(&mut conn, "two"), b":2\r\n");
    assert_eq!(
        conn.call(&[b"FCALL", b"myset", b"1", b"f", b"v"]),
        b"+OK\r\n"
    );
    drop(conn);
    drop(node); // SIGKILL
    let _node = NodeProcess::start_from_existing_conf(&dir.path, port);
    let mut conn = RespConn::connect(port);
    assert_eq!(conn.call(&[b"GET", b"s"]), b"$3\r\ntwo\r\n");
    assert_eq!(conn.call(&[b"GET", b"n"]), b"$1\r\n2\r\n");
    assert_eq!(conn.call(&[b"FCALL", b"myget", b"1", b"f"]), b"$1\r\nv\r\n");
}

/// `redis-cli --cluster add-node` copies the cluster's libraries to the new master (FUNCTION
/// DUMP on the existing node, FUNCTION LIST and RESTORE on the new one).
#[test]
fn redis_cli_add_node_copies_functions() {
    if !redis_cli_available() {
        return;
    }
    add_node_copies_functions(
        "redis-cli",
        &["--cluster", "add-node"],
        "scripting-add-node",
    );
}

/// Our own `cluster add-node` copies them the same way.
#[test]
fn our_add_node_copies_functions() {
    add_node_copies_functions(BIN, &["cluster", "add-node"], "scripting-our-add-node");
}

/// A one-master cluster with a library; `program … add-node NEW EXISTING` must leave the new
/// master with the library.
fn add_node_copies_functions(program: &str, add_node: &[&str], dir_name: &str) {
    let dir = TestDir::new(dir_name);
    let nodes: Vec<NodeProcess> = free_ports(2)
        .into_iter()
        .map(|port| NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, ""))
        .collect();
    let (first, new) = (nodes[0].port, nodes[1].port);
    let mut conn = RespConn::connect(first);
    let addslots = [&b"CLUSTER"[..], b"ADDSLOTSRANGE", b"0", b"16383"];
    assert_eq!(conn.call(&addslots), b"+OK\r\n");
    wait_until(
        std::time::Duration::from_secs(20),
        "cluster state ok",
        || cluster_info_field(first, "cluster_state") == "ok",
    );
    assert_eq!(
        conn.call(&[b"FUNCTION", b"LOAD", LIBRARY.as_bytes()]),
        b"$5\r\nmylib\r\n"
    );
    let mut command = std::process::Command::new(program);
    command
        .args(add_node)
        .args([nodes[1].addr(), nodes[0].addr()]);
    let out = run_bounded(&mut command, std::time::Duration::from_secs(60));
    let text = stdout(&out);
    assert!(out.status.success(), "{program} add-node: {text}");
    assert!(text.contains("[OK] New node added correctly."), "{text}");
    let listed = command_text(new, &["FUNCTION", "LIST", "LIBRARYNAME", "mylib"]);
    assert!(
        listed.contains("myset") && listed.contains("myget"),
        "{listed}"
    );
}

/// MONITOR shows EVAL and FCALL before the commands their scripts run, those as `[0 lua]`.
#[test]
fn monitor_shows_scripts_as_redis_server() {
    let dir = TestDir::new("scripting-monitor");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut streams = Vec::new();
    for port in [ours_port, redis_port] {
        let mut monitor = RespConn::connect(port);
        let mut client = RespConn::connect(port);
        let mut log = String::from_utf8_lossy(&monitor.call(&[b"MONITOR"])).into_owned();
        let script = "redis.call('set', KEYS[1], '1'); return redis.call('get', KEYS[1])";
        client.call(&[b"EVAL", script.as_bytes(), b"1", b"k"]);
        client.call(&[b"EVAL", b"return 1", b"x"]);
        client.call(&[b"FCALL", b"nosuch", b"0"]);
        client.call(&[b"FUNCTION", b"LOAD", LIBRARY.as_bytes()]);
        client.call(&[b"FCALL", b"myget", b"1", b"k"]);
        log += &String::from_utf8_lossy(&monitor.drain());
        assert!(log.lines().count() >= 8, "{log}");
        let masked: Vec<String> = log
            .lines()
            .map(|line| match line.split_once(" [0 ") {
                Some((_, rest)) => {
                    let (who, args) = rest.split_once("] ").unwrap_or(("", rest));
                    let who = if who == "lua" { "lua" } else { "addr" };
                    format!("[0 {who}] {args}")
                }
                None => line.to_string(),
            })
            .collect();
        streams.push(masked.join("\n"));
    }
    assert_eq!(streams[0], streams[1]);
}
