//! `maxmemory` eviction, with exact effects: which key each policy evicts given access
//! clocks, TTLs and the seeded rng; the `-OOM` refusals; the `DEL` a master propagates; a
//! replica that does not evict on its own; the running memory estimate against a fresh walk.

use bytes::Bytes;

use super::evict::OOM_ERROR;
use super::{Effect, Node};
use crate::cmd::keys::tests::{bulk, int, Harness};
use crate::event::ClusterEvent;
use crate::reply::Reply;

/// Each test key: `k<n>` holding 100 bytes.
fn put(h: &mut Harness, key: &str) -> Reply {
    h.cmd(&["SET", key, &"v".repeat(100)])
}

/// Sets `maxmemory` to what the node holds now plus `spare_bytes`, under `policy`.
fn limit_to_now(h: &mut Harness, policy: &str, spare_bytes: u64) {
    h.node.db.settle_memory();
    let max = h.node.used_memory_bytes() + spare_bytes;
    let reply = h.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        &max.to_string(),
        "maxmemory-policy",
        policy,
    ]);
    assert_eq!(reply, Reply::ok());
}

/// The keys evicted since the last call, from the node's events.
fn evicted(node: &mut Node) -> Vec<String> {
    node.take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Event(ClusterEvent::KeyEvicted { key, .. }) => {
                Some(String::from_utf8_lossy(&key).into_owned())
            }
            _ => None,
        })
        .collect()
}

fn info(h: &mut Harness, section: &str) -> String {
    match h.cmd(&["INFO", section]) {
        Reply::Verbatim(_, text) => text,
        other => panic!("INFO gave {other:?}"),
    }
}

fn exists(h: &mut Harness, key: &str) -> bool {
    h.cmd(&["EXISTS", key]) == int(1)
}

#[test]
fn allkeys_lru_evicts_the_longest_idle_key() {
    let mut h = Harness::new();
    for key in ["a", "b", "c"] {
        put(&mut h, key);
        h.advance_ms(1_000);
    }
    assert_eq!(h.cmd(&["GET", "a"]), bulk(&"v".repeat(100)));
    limit_to_now(&mut h, "allkeys-lru", 0);
    h.advance_ms(1_000);
    evicted(&mut h.node);
    // The SET runs within the limit, then holds one key too many: the next command evicts.
    assert_eq!(put(&mut h, "d"), Reply::ok());
    assert_eq!(evicted(&mut h.node), Vec::<String>::new());
    assert_eq!(h.cmd(&["PING"]), Reply::simple("PONG"));
    // b was written at second 1 and never read again; a was read at second 3.
    assert_eq!(evicted(&mut h.node), vec!["b"]);
    assert!(!exists(&mut h, "b") && exists(&mut h, "a"));
    let stats = info(&mut h, "stats");
    assert!(stats.contains("\r\nevicted_keys:1\r\n"), "{stats}");
}

#[test]
fn allkeys_lfu_evicts_the_least_used_key() {
    let mut h = Harness::new();
    assert_eq!(
        h.cmd(&[
            "CONFIG",
            "SET",
            "maxmemory-policy",
            "allkeys-lfu",
            "lfu-log-factor",
            "0"
        ]),
        Reply::ok()
    );
    for key in ["a", "b", "c"] {
        put(&mut h, key);
    }
    // With factor 0 every access counts: a 5+3, b 5+1, c 5+2.
    for (key, reads) in [("a", 3), ("b", 1), ("c", 2)] {
        for _ in 0..reads {
            h.cmd(&["GET", key]);
        }
    }
    limit_to_now(&mut h, "allkeys-lfu", 0);
    put(&mut h, "d");
    evicted(&mut h.node);
    h.cmd(&["PING"]);
    // d is new (5) and below b (6).
    assert_eq!(evicted(&mut h.node), vec!["d"]);
    // Three idle minutes later a, b, c count 5, 3, 4; a new key starts at 5.
    h.advance_ms(3 * 60_000);
    put(&mut h, "e");
    h.cmd(&["PING"]);
    assert_eq!(evicted(&mut h.node), vec!["b"]);
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiry_and_spares_keys_without_one() {
    let mut h = Harness::new();
    put(&mut h, "forever");
    h.cmd(&["SET", "late", "x", "EX", "500"]);
    h.cmd(&["SET", "soon", "x", "EX", "100"]);
    limit_to_now(&mut h, "volatile-ttl", 0);
    evicted(&mut h.node);
    // Smaller than "soon" (no TTL): one eviction makes room.
    h.cmd(&["SET", "more", "x"]);
    h.cmd(&["PING"]);
    assert_eq!(evicted(&mut h.node), vec!["soon"]);
    // A larger write: both volatile keys go, then nothing more may, and SET is refused.
    assert_eq!(
        h.cmd(&["SET", "big", &"x".repeat(400)]),
        Reply::ok(),
        "within the limit before it ran"
    );
    assert_eq!(h.cmd(&["SET", "more2", "x"]), Reply::error(OOM_ERROR));
    assert_eq!(evicted(&mut h.node), vec!["late"]);
    assert!(exists(&mut h, "forever") && exists(&mut h, "big"));
    // Reads and deletions still run.
    assert_eq!(h.cmd(&["GET", "more2"]), Reply::Nil);
    assert_eq!(h.cmd(&["DEL", "big"]), int(1));
    assert_eq!(h.cmd(&["SET", "more2", "x"]), Reply::ok());
}

#[test]
fn volatile_lru_skips_keys_without_a_ttl() {
    let mut h = Harness::new();
    h.cmd(&["SET", "old", "x"]);
    h.advance_ms(10_000);
    h.cmd(&["SET", "young", "x", "EX", "100"]);
    limit_to_now(&mut h, "volatile-lru", 0);
    evicted(&mut h.node);
    put(&mut h, "k");
    h.cmd(&["PING"]);
    assert_eq!(evicted(&mut h.node), vec!["young"], "old has no TTL");
    assert_eq!(put(&mut h, "k2"), Reply::error(OOM_ERROR));
}

#[test]
fn random_policies_follow_the_seed() {
    let run = |seed: u64, policy: &str| {
        let mut h = Harness::new();
        h.node.rng = rand::SeedableRng::seed_from_u64(seed);
        for i in 0..20 {
            match i % 2 {
                0 => put(&mut h, &format!("k{i}")),
                _ => h.cmd(&["SET", &format!("k{i}"), &"v".repeat(100), "EX", "100"]),
            };
        }
        limit_to_now(&mut h, policy, 0);
        evicted(&mut h.node);
        for i in 0..5 {
            put(&mut h, &format!("new{i}"));
        }
        h.cmd(&["PING"]);
        evicted(&mut h.node)
    };
    let first = run(7, "allkeys-random");
    assert!((4..=5).contains(&first.len()), "{first:?}");
    assert_eq!(
        run(7, "allkeys-random"),
        first,
        "the same seed evicts the same keys"
    );
    // Each volatile key frees more than a new key takes: four or five go.
    let volatile = run(7, "volatile-random");
    assert!((4..=5).contains(&volatile.len()), "{volatile:?}");
    for key in &volatile {
        let n: usize = key[1..].parse().expect("a k<n> key");
        assert_eq!(n % 2, 1, "{key} has no TTL");
    }
    let other_seeds: Vec<Vec<String>> = (8..12).map(|s| run(s, "allkeys-random")).collect();
    assert!(other_seeds.iter().any(|e| *e != first), "the seed matters");
}

#[test]
fn noeviction_refuses_denyoom_commands_only() {
    let mut h = Harness::new();
    put(&mut h, "a");
    limit_to_now(&mut h, "noeviction", 0);
    put(&mut h, "b");
    assert_eq!(put(&mut h, "c"), Reply::error(OOM_ERROR));
    assert_eq!(h.cmd(&["RPUSH", "l", "x"]), Reply::error(OOM_ERROR));
    assert_eq!(h.cmd(&["GET", "a"]), bulk(&"v".repeat(100)));
    assert_eq!(h.cmd(&["EXPIRE", "a", "100"]), int(1), "not denyoom");
    assert_eq!(evicted(&mut h.node), Vec::<String>::new());
    // Inside MULTI everything but EXEC/DISCARD is refused, and EXEC aborts.
    assert_eq!(h.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(h.cmd(&["GET", "a"]), Reply::error(OOM_ERROR));
    assert_eq!(
        h.cmd(&["EXEC"]),
        Reply::error("EXECABORT Transaction discarded because of previous errors.")
    );
    let stats = info(&mut h, "stats");
    assert!(stats.contains("\r\nevicted_keys:0\r\n"), "{stats}");
    let memory = info(&mut h, "memory");
    let max = h.node.memory_limit.maxmemory_bytes;
    assert!(
        memory.contains(&format!("\r\nmaxmemory:{max}\r\n"))
            && memory.contains("\r\nmaxmemory_policy:noeviction\r\n")
            && memory.contains("\r\nmem_not_counted_for_evict:0\r\n"),
        "{memory}"
    );
}

#[test]
fn exec_of_a_denyoom_command_is_refused_whole() {
    let mut h = Harness::new();
    put(&mut h, "a");
    limit_to_now(&mut h, "noeviction", 1_000);
    assert_eq!(h.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(put(&mut h, "b"), Reply::simple("QUEUED"));
    // Over the limit by the time EXEC comes (another client wrote).
    let other = h
        .node
        .client_connected(h.now, "127.0.0.1:5001".into(), "127.0.0.1:6379".into());
    let big = [&b"SET"[..], b"big", &[b'x'; 2_000]].map(Bytes::copy_from_slice);
    assert_eq!(h.node.command(h.now, other, &big), Reply::ok());
    assert_eq!(
        h.cmd(&["EXEC"]),
        Reply::error(format!(
            "EXECABORT Transaction discarded because of: {OOM_ERROR}"
        ))
    );
    assert_eq!(h.cmd(&["EXEC"]), Reply::err("EXEC without MULTI"));
    assert!(!exists(&mut h, "b"));
}

#[test]
fn scripts_are_held_to_the_limit_at_their_first_write() {
    let mut h = Harness::new();
    put(&mut h, "a");
    limit_to_now(&mut h, "noeviction", 0);
    put(&mut h, "b");
    // No shebang: the script runs, its first write fails with the OOM error.
    let eval = |h: &mut Harness, body: &str| h.cmd(&["EVAL", body, "0"]);
    assert_eq!(
        eval(&mut h, "return redis.pcall('set', 'x', 'y')"),
        Reply::error(OOM_ERROR)
    );
    assert_eq!(
        eval(&mut h, "return redis.call('get', 'a')"),
        bulk(&"v".repeat(100))
    );
    // A shebang script that may write is refused before it runs; `allow-oom` lets it.
    assert_eq!(
        eval(&mut h, "#!lua\nreturn redis.call('get', 'a')"),
        Reply::error(OOM_ERROR)
    );
    assert_eq!(
        eval(
            &mut h,
            "#!lua flags=allow-oom\nreturn redis.call('set', 'x', 'y')"
        ),
        Reply::ok()
    );
}

#[test]
fn an_eviction_is_a_del_on_the_aof_and_the_replication_stream() {
    let mut h = Harness::new();
    h.node.config.appendonly = true;
    put(&mut h, "a");
    h.advance_ms(1_000);
    put(&mut h, "b");
    limit_to_now(&mut h, "allkeys-lru", 0);
    put(&mut h, "c");
    h.node.take_effects();
    let offset = h.node.cluster.me().repl_offset;
    h.cmd(&["PING"]);
    let del = b"*2\r\n$3\r\nDEL\r\n$1\r\na\r\n";
    let effects = h.node.take_effects();
    let aof: Vec<&Bytes> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::AppendAof { data } => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(aof, vec![&Bytes::from_static(del)]);
    assert_eq!(h.node.cluster.me().repl_offset, offset + del.len() as u64);
    let events: Vec<&ClusterEvent> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(ev) => Some(ev),
            _ => None,
        })
        .collect();
    let written = offset + del.len() as u64;
    assert_eq!(
        events,
        vec![
            &ClusterEvent::KeyEvicted {
                key: Bytes::from_static(b"a"),
                policy: "allkeys-lru"
            },
            &ClusterEvent::WriteApplied {
                offset: written,
                request: 0
            },
        ]
    );
}

#[test]
fn a_replica_evicts_only_when_told_not_to_ignore_maxmemory() {
    let mut h = Harness::new();
    h.node.config.appendonly = true;
    put(&mut h, "a");
    put(&mut h, "b");
    limit_to_now(&mut h, "allkeys-lru", 0);
    // Over the limit as a replica: the master's DELs are what shrink it.
    h.node
        .db
        .set(b"c", crate::db::ValueRef::String(&[b'x'; 500]), None);
    h.become_replica();
    h.cmd(&["PING"]);
    assert_eq!(evicted(&mut h.node), Vec::<String>::new());
    assert_eq!(h.cmd(&["GET", "c"]), bulk(&"x".repeat(500)));
    // As CONFIG SET would (its cluster part wants a cluster-mode replica).
    let ignore = ("replica-ignore-maxmemory".to_string(), "no".to_string());
    h.node.config.ignored.insert(ignore.0, ignore.1);
    h.node.memory_config_changed();
    h.node.take_effects();
    let offset = h.node.cluster.me().repl_offset;
    h.cmd(&["PING"]);
    let effects = h.node.take_effects();
    let evicted_now: Vec<_> = effects
        .iter()
        .filter(|e| matches!(e, Effect::Event(ClusterEvent::KeyEvicted { .. })))
        .collect();
    assert!(!evicted_now.is_empty(), "the next command evicts");
    // The DEL goes to the replica's AOF, never into its replication offset.
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::AppendAof { .. })));
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::Event(ClusterEvent::WriteApplied { .. }))));
    assert_eq!(h.node.cluster.me().repl_offset, offset);
}

#[test]
fn config_set_maxmemory_evicts_down_at_once() {
    let mut h = Harness::new();
    for i in 0..10 {
        put(&mut h, &format!("k{i}"));
    }
    h.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    h.node.db.settle_memory();
    let target = h.node.used_memory_bytes() - 500;
    evicted(&mut h.node);
    let reply = h.cmd(&["CONFIG", "SET", "maxmemory", &target.to_string()]);
    assert_eq!(reply, Reply::ok());
    // Each key costs 196 bytes: three must go to free 500.
    assert_eq!(evicted(&mut h.node).len(), 3);
    assert!(h.node.used_memory_bytes() <= target);
    assert_eq!(h.cmd(&["DBSIZE"]), int(7));
    // A CONFIG SET of another directive leaves eviction to the next command.
    h.node
        .db
        .set(b"big", crate::db::ValueRef::String(&[b'x'; 600]), None);
    h.node.memory_config_changed();
    assert_eq!(evicted(&mut h.node).len(), 0);
    h.cmd(&["PING"]);
    assert!(!evicted(&mut h.node).is_empty());
}

#[test]
fn the_running_estimate_matches_a_fresh_walk() {
    let mut h = Harness::new();
    let script: &[&[&str]] = &[
        &["SET", "s", "12345"],
        &["APPEND", "s", "abc"],
        &["SET", "t", "x", "EX", "100"],
        &["RPUSH", "l", "a", "b", "c"],
        &["LPOP", "l"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["SADD", "set", "1", "2", "x"],
        &["ZADD", "z", "1", "a", "2", "b"],
        &["SETRANGE", "s", "20", "y"],
        &["INCR", "n"],
        &["PERSIST", "t"],
        &["EXPIRE", "s", "50"],
        &["HDEL", "h", "f"],
        &["DEL", "set"],
        &["RENAME", "z", "z2"],
        &["XADD", "x", "1-1", "f", "v"],
        &["XADD", "x", "2-1", "f", "longer value"],
        &["XGROUP", "CREATE", "x", "g", "0"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">"],
        &["XACK", "x", "g", "1-1"],
        &["XDEL", "x", "2-1"],
        &["XTRIM", "x", "MAXLEN", "0"],
    ];
    for args in script {
        h.cmd(args);
        h.node.db.settle_memory();
        assert_eq!(
            h.node.db.used_memory_estimate(),
            h.node.db.used_memory_walked(),
            "after {args:?}"
        );
    }
    // Big collections too (hash tables, a skiplist, a multi-node list).
    for i in 0..300 {
        let (f, v) = (format!("f{i}"), "v".repeat(i % 90));
        h.cmd(&["HSET", "bigh", &f, &v]);
        h.cmd(&["ZADD", "bigz", &i.to_string(), &f]);
        h.cmd(&["RPUSH", "bigl", &v]);
        h.cmd(&["XADD", "bigx", "*", &f, &v]);
    }
    h.node.db.settle_memory();
    assert_eq!(
        h.node.db.used_memory_estimate(),
        h.node.db.used_memory_walked()
    );
}
