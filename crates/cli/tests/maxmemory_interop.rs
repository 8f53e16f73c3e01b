//! `maxmemory` against a real `redis-server` 7.0 with the same data and config: the running
//! `used_memory` estimate next to Redis's allocator count, `allkeys-lru` holding memory near
//! the limit and keeping recently read keys, and `noeviction`'s `-OOM` replies byte for byte.

mod common;

use std::time::{Duration, Instant};

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;
/// Commands per pipelined batch.
const BATCH: usize = 200;

/// Our node and a redis-server, both in cluster mode with every slot, or both standalone.
struct Pair {
    _dir: TestDir,
    _node: NodeProcess,
    _redis: RedisServer,
    ports: [u16; 2],
}

fn pair(name: &str, cluster: bool, conf: &[(&str, &str)]) -> Pair {
    let dir = TestDir::new(name);
    let [ours, theirs] = free_ports(2)[..] else {
        unreachable!()
    };
    let mut args: Vec<String> = Vec::new();
    let mut text = format!("cluster-enabled {}\n", if cluster { "yes" } else { "no" });
    if cluster {
        args.extend(
            [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]
            .map(String::from),
        );
    }
    for (name, value) in conf {
        args.extend([format!("--{name}"), value.to_string()]);
        text.push_str(&format!("{name} {value}\n"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(redis) = RedisServer::start(theirs, &args) else {
        panic!("redis-server is needed for the maxmemory interop test");
    };
    let node = NodeProcess::start(&dir.path, ours, NODE_TIMEOUT_MS, &text);
    if cluster {
        for port in [ours, theirs] {
            assert_eq!(
                command_text(port, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]),
                "OK"
            );
            wait_until(Duration::from_secs(10), "cluster_state:ok", || {
                cluster_info_field(port, "cluster_state") == "ok"
            });
        }
    }
    Pair {
        _dir: dir,
        _node: node,
        _redis: redis,
        ports: [ours, theirs],
    }
}

/// Sends every command, `BATCH` at a time, and returns the raw replies.
fn pipeline(conn: &mut RespConn, commands: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut replies = Vec::with_capacity(commands.len());
    for batch in commands.chunks(BATCH) {
        for args in batch {
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            conn.send(&args);
        }
        replies.extend(batch.iter().map(|_| conn.read()));
    }
    replies
}

fn command(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn info_field(port: u16, section: &str, name: &str) -> u64 {
    command_text(port, &["INFO", section])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {name}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number"))
}

/// 1 KB values, as in the measurement.
fn kb_sets(prefix: &str, count: usize) -> Vec<Vec<Vec<u8>>> {
    let value = "x".repeat(1024);
    (0..count)
        .map(|i| command(&["SET", &format!("{prefix}:{i}"), &value]))
        .collect()
}

/// What the dataset grew by on each side, per command family.
#[test]
fn used_memory_grows_as_redis_server_s_does() {
    let p = pair("maxmemory-accounting", true, &[]);
    let mut growth = Vec::new();
    for port in p.ports {
        let mut conn = RespConn::connect(port);
        let empty = info_field(port, "memory", "used_memory");
        pipeline(&mut conn, &kb_sets("key", 10_000));
        let strings = info_field(port, "memory", "used_memory");
        let hashes: Vec<_> = (0..5_000)
            .map(|i| {
                command(&[
                    "HSET",
                    &format!("h:{i}"),
                    "name",
                    "ann",
                    "age",
                    "42",
                    "city",
                    "oslo",
                ])
            })
            .collect();
        pipeline(&mut conn, &hashes);
        let with_hashes = info_field(port, "memory", "used_memory");
        growth.push((empty, strings - empty, with_hashes - strings));
    }
    let [(ours_empty, ours_strings, ours_hashes), (redis_empty, redis_strings, redis_hashes)] =
        growth[..]
    else {
        unreachable!()
    };
    eprintln!(
        "empty {ours_empty} vs {redis_empty}; 10k SETs of 1 KB {ours_strings} vs \
         {redis_strings}; 5k small hashes {ours_hashes} vs {redis_hashes}"
    );
    let ratio = |a: u64, b: u64| a as f64 / b as f64;
    let strings = ratio(ours_strings, redis_strings);
    let hashes = ratio(ours_hashes, redis_hashes);
    assert!(
        (0.95..=1.05).contains(&strings),
        "1 KB strings: ratio {strings:.3}"
    );
    assert!(
        (0.90..=1.10).contains(&hashes),
        "small hashes: ratio {hashes:.3}"
    );
}

/// Fills far past the limit (10,000 × 1 KB), then writes a hot and a cold set as large as an
/// eighth of what fits, reads the hot one once the LRU clock (seconds) moved on, and writes
/// as many new keys as fit less the hot set: every key older than the read must go before a
/// hot one need. Returns the highest `used_memory` seen, `evicted_keys`, and the hot and
/// cold survivors out of the set size.
fn lru_run(port: u16) -> (u64, u64, usize, usize, usize) {
    let mut conn = RespConn::connect(port);
    let mut used_max = 0;
    for chunk in kb_sets("fill", 10_000).chunks(1_000) {
        for reply in pipeline(&mut conn, chunk) {
            assert_eq!(reply, b"+OK\r\n", "allkeys-lru always makes room");
        }
        used_max = used_max.max(info_field(port, "memory", "used_memory"));
    }
    let evicted = info_field(port, "stats", "evicted_keys");
    let fits: usize = command_text(port, &["DBSIZE"]).parse().expect("DBSIZE");
    let set_size = fits / 8;
    pipeline(&mut conn, &kb_sets("hot", set_size));
    pipeline(&mut conn, &kb_sets("cold", set_size));
    std::thread::sleep(Duration::from_millis(2_100));
    let reads: Vec<_> = (0..set_size)
        .map(|i| command(&["GET", &format!("hot:{i}")]))
        .collect();
    pipeline(&mut conn, &reads);
    pipeline(&mut conn, &kb_sets("new", fits - set_size));
    let mut survivors = |prefix: &str| {
        let exists: Vec<_> = (0..set_size)
            .map(|i| command(&["EXISTS", &format!("{prefix}:{i}")]))
            .collect();
        pipeline(&mut conn, &exists)
            .iter()
            .filter(|r| r.as_slice() == b":1\r\n")
            .count()
    };
    let (hot, cold) = (survivors("hot"), survivors("cold"));
    (used_max, evicted, set_size, hot, cold)
}

#[test]
fn allkeys_lru_holds_the_limit_and_keeps_recently_read_keys() {
    let limit = 2 * 1024 * 1024;
    let conf = [("maxmemory", "2mb"), ("maxmemory-policy", "allkeys-lru")];
    let p = pair("maxmemory-lru", true, &conf);
    let started = Instant::now();
    for (who, port) in ["clusterlab", "redis-server"].into_iter().zip(p.ports) {
        let (used_max, evicted, set_size, hot, cold) = lru_run(port);
        eprintln!(
            "{who}: used_memory max {used_max}, evicted {evicted}, survivors of {set_size}: \
             hot {hot}, cold {cold}"
        );
        // Sampled after each 1,000 writes: over by at most the last write.
        assert!(used_max <= limit + 2_048, "{who}: {used_max} over {limit}");
        assert!(evicted > 0, "{who}: nothing evicted");
        assert!(set_size >= 10, "{who}: room for {set_size} keys per set");
        assert!(hot > 2 * cold, "{who}: hot {hot} vs cold {cold}");
        assert!(
            hot * 2 >= set_size,
            "{who}: only {hot} of {set_size} hot keys kept"
        );
        assert_eq!(
            info_field(port, "memory", "maxmemory"),
            limit,
            "{who}: maxmemory"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn noeviction_answers_oom_as_redis_server_does() {
    let conf = [("maxmemory-policy", "noeviction")];
    let p = pair("maxmemory-oom", false, &conf);
    let cases: &[&[&str]] = &[
        &["SET", "k", "v"],
        // Every server is over one byte.
        &["CONFIG", "SET", "maxmemory", "1"],
        &["SET", "k2", "v"],
        &["GET", "k"],
        &["APPEND", "k", "more"],
        &["EXPIRE", "k", "100"],
        &["MULTI"],
        &["GET", "k"],
        &["EXEC"],
        &["EVAL", "return redis.call('set', 'x', 'y')", "0"],
        &["EVAL", "return redis.pcall('set', 'x', 'y')", "0"],
        &["EVAL", "return redis.call('get', 'k')", "0"],
        &["EVAL", "#!lua\nreturn redis.call('get', 'k')", "0"],
        &[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get', 'k')",
            "0",
        ],
        &["DEL", "k"],
        &["SET", "k3", "v"],
        &["CONFIG", "SET", "maxmemory", "0"],
        &["SET", "k3", "v"],
    ];
    let run = |port| {
        let mut conn = RespConn::connect(port);
        let commands: Vec<_> = cases.iter().map(|c| command(c)).collect();
        let replies: Vec<String> = commands
            .iter()
            .map(|c| {
                let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                String::from_utf8_lossy(&conn.call(&args)).into_owned()
            })
            .collect();
        replies
    };
    let (ours, redis) = (run(p.ports[0]), run(p.ports[1]));
    for ((case, a), b) in cases.iter().zip(&ours).zip(&redis) {
        assert_eq!(a, b, "{case:?}: clusterlab, then redis-server");
    }
    assert_eq!(
        ours[2],
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(info_field(p.ports[0], "stats", "evicted_keys"), 0);
}
