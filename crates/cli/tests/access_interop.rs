//! The per-key access clock against a real `redis-server` 7.0: `OBJECT FREQ` after counted
//! accesses under `allkeys-lfu` with `lfu-log-factor 0` (every access counts), which commands
//! stamp a key and which do not, RENAME/COPY/RESTORE, the errors under each policy, and
//! `OBJECT IDLETIME` after no wait and after a short sleep, and `DEBUG OBJECT`'s fields. Replies are compared byte for byte,
//! except idle times, which both sides must put in the same bounded window (the wall clock
//! moves between the two servers' runs).

mod common;

use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// Under LFU with log factor 0 and no decay every stamp adds exactly one.
const LFU_CASES: &[&str] = &[
    "CONFIG SET maxmemory-policy allkeys-lfu lfu-log-factor 0 lfu-decay-time 0",
    "OBJECT FREQ missing",
    "OBJECT IDLETIME missing",
    "SET k v",
    "OBJECT FREQ k",
    "GET k",
    "GET k",
    "STRLEN k",
    "OBJECT FREQ k",
    "OBJECT IDLETIME k",
    "EXISTS k",
    "TYPE k",
    "TTL k",
    "PTTL k",
    "OBJECT ENCODING k",
    "MEMORY USAGE k",
    "OBJECT FREQ k",
    "TOUCH k nokey k",
    "OBJECT FREQ k",
    "SET k v2",
    "OBJECT FREQ k",
    "APPEND k x",
    "INCR k",
    "OBJECT FREQ k",
    "EXPIRE k 100",
    "PERSIST k",
    "OBJECT FREQ k",
    "RENAME k r",
    "OBJECT FREQ r",
    "COPY r c",
    "OBJECT FREQ c",
    "OBJECT FREQ r",
    "RPUSH l a b c",
    "LRANGE l 0 -1",
    "LPOP l",
    "OBJECT FREQ l",
    "HSET h f v",
    "HGET h f",
    "HGETALL h",
    "OBJECT FREQ h",
    "SADD s a",
    "SISMEMBER s a",
    "SUNIONSTORE s2 s s",
    "OBJECT FREQ s",
    "OBJECT FREQ s2",
    "ZADD z 1 a",
    "ZSCORE z a",
    "OBJECT FREQ z",
    // Not small integers: Redis shares those objects, and their one counter, between keys.
    "MSET a x b y",
    "MGET a b a",
    "OBJECT FREQ a",
    "OBJECT FREQ b",
    "DUMP a",
    "OBJECT FREQ a",
    "CONFIG SET maxmemory-policy volatile-lfu",
    "OBJECT FREQ a",
    "CONFIG SET maxmemory-policy allkeys-lru",
    "OBJECT FREQ a",
    "CONFIG SET maxmemory-policy volatile-lru",
    "OBJECT FREQ a",
    "CONFIG SET maxmemory-policy noeviction",
    "OBJECT FREQ a",
    "OBJECT FREQ missing",
    "OBJECT HELP",
];

struct Servers {
    _dir: TestDir,
    _node: NodeProcess,
    _redis: RedisServer,
    ports: [u16; 2],
}

fn servers(name: &str) -> Servers {
    let dir = TestDir::new(name);
    let [ours, redis] = free_ports(2)[..] else {
        unreachable!()
    };
    let debug = ["--enable-debug-command", "yes"];
    let Some(redis_server) = RedisServer::start(redis, &debug) else {
        panic!("redis-server is needed for the access-clock interop test");
    };
    let conf = "cluster-enabled no\nenable-debug-command yes";
    let node = NodeProcess::start(&dir.path, ours, NODE_TIMEOUT_MS, conf);
    Servers {
        _dir: dir,
        _node: node,
        _redis: redis_server,
        ports: [ours, redis],
    }
}

fn call(conn: &mut RespConn, line: &str) -> String {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    String::from_utf8_lossy(&conn.call(&args)).into_owned()
}

fn idle_s(conn: &mut RespConn, key: &str) -> u64 {
    let reply = call(conn, &format!("OBJECT IDLETIME {key}"));
    let digits = reply.trim_start_matches(':').trim_end();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("IDLETIME {key}: {reply:?}"))
}

#[test]
fn lfu_counts_and_policy_errors_match_redis_server_byte_for_byte() {
    let s = servers("access-lfu");
    let run = |port| {
        let mut conn = RespConn::connect(port);
        let out: Vec<String> = LFU_CASES.iter().map(|c| call(&mut conn, c)).collect();
        out
    };
    let (ours, redis) = (run(s.ports[0]), run(s.ports[1]));
    // OBJECT HELP's wording is our own; its first line is Redis's.
    let help = LFU_CASES.len() - 1;
    assert_eq!(ours[..help], redis[..help], "clusterlab, then redis-server");
    assert_eq!(ours[help].lines().nth(1), redis[help].lines().nth(1));
    let freq_of_k = LFU_CASES
        .iter()
        .position(|c| *c == "OBJECT FREQ k")
        .unwrap();
    assert_eq!(ours[freq_of_k], ":5\r\n", "a new key starts at 5");
}

#[test]
fn idletime_after_no_wait_and_a_short_sleep_agrees_with_redis_server() {
    let s = servers("access-lru");
    let sleep = Duration::from_millis(2200);
    let run = |port| {
        let mut conn = RespConn::connect(port);
        call(&mut conn, "SET k v");
        call(&mut conn, "RPUSH l a");
        let fresh = idle_s(&mut conn, "k");
        std::thread::sleep(sleep);
        let idle_before_read = idle_s(&mut conn, "k");
        call(&mut conn, "LLEN l");
        let read_again = idle_s(&mut conn, "l");
        let errors = [
            call(&mut conn, "OBJECT FREQ k"),
            call(&mut conn, "OBJECT IDLETIME missing"),
            call(&mut conn, "OBJECT IDLETIME"),
        ];
        (fresh, idle_before_read, read_again, errors)
    };
    for (name, port) in [("clusterlab", s.ports[0]), ("redis-server", s.ports[1])] {
        let (fresh, slept, read_again, _) = run(port);
        assert!(fresh <= 1, "{name}: fresh key idle {fresh}");
        assert!((2..=3).contains(&slept), "{name}: after 2.2 s idle {slept}");
        assert!(read_again <= 1, "{name}: just read, idle {read_again}");
    }
    assert_eq!(run(s.ports[0]).3, run(s.ports[1]).3);
}

/// `DEBUG OBJECT`'s fields with the address dropped and the clock fields checked (they name
/// the wall-clock second of the last access) and masked.
fn debug_object_fields(conn: &mut RespConn, key: &str) -> Vec<String> {
    let reply = call(conn, &format!("DEBUG OBJECT {key}"));
    let line = reply.trim_end().trim_start_matches('+');
    let mut fields = Vec::new();
    for field in line.split(' ').skip(2) {
        let (name, value) = field.split_once(':').expect("name:value");
        match name {
            "lru" => assert!(value.parse::<u32>().is_ok(), "{line}"),
            "lru_seconds_idle" => {
                let idle: u64 = value.parse().expect("idle seconds");
                assert!(idle <= 1, "{line}");
            }
            _ => fields.push(field.to_string()),
        }
    }
    fields
}

#[test]
fn debug_object_fields_match_redis_server() {
    let s = servers("access-debug");
    let run = |port| {
        let mut conn = RespConn::connect(port);
        let setup = [
            "SET int 12",
            "SET short hello",
            "SET long thequickbrownfoxjumpsoverthelazydog0123456789",
            "APPEND raw a",
            "RPUSH l a bb ccc 1 22 333",
            "HSET h f v g w",
            "SADD si 1 2 3",
            "SADD ss a b c",
            "ZADD z 1 a 2.5 b",
        ];
        for line in setup {
            call(&mut conn, line);
        }
        let mut out: Vec<Vec<String>> = ["int", "short", "long", "raw", "l", "h", "si", "ss", "z"]
            .iter()
            .map(|key| debug_object_fields(&mut conn, key))
            .collect();
        out.push(vec![call(&mut conn, "DEBUG OBJECT missing")]);
        out
    };
    let (ours, redis) = (run(s.ports[0]), run(s.ports[1]));
    assert_eq!(ours, redis, "clusterlab, then redis-server");
}
