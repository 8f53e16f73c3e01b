//! Lists, hashes and sets against a real `redis-server` 7.0: the same command stream sent to both
//! (raw replies compared byte for byte), DUMP payloads restored across the two in both
//! directions, and CROSSSLOT for list moves in cluster mode.
//!
//! The differential stream stays where Redis's answers are deterministic and ours are meant to
//! be identical: no HRANDFIELD below the hash's size, HGETALL/HKEYS/HVALS/HSCAN only on hashes
//! Redis keeps as listpacks (their order is insertion order there), and set listings only of
//! sets Redis keeps as intsets (sorted there).

mod common;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// Payloads in the ziplist encodings of Redis 6 and older (RDB types 10, 14, 13, 12), built
/// by the test encoder in `cmd/dump/ziplist.rs`; redis-server 7.0.15 restores each of them.
const OLD_LIST_ZIPLIST: &str = "0a4094940000002c000000080000016103f802c038ff04c0307504f000ee8505d00094357706e000000000000000800a40647a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7aff0a00790c41a57e72b5a4";
const OLD_LIST_QUICKLIST: &str = "0e0211110000000e000000020000026e3104f2ff141400000010000000030000026e3204fd02fe0dff0a0076a46c9f2a184a69";
const OLD_HASH_ZIPLIST: &str =
    "0d171700000013000000040000016603017603016e03fefbff0a006b00e4ea5430f073";
const OLD_ZSET_ZIPLIST: &str =
    "0c191900000013000000040000016b03fefe03016d0303312e35ff0a0081c68049f15cd655";

/// Hand-picked edge cases, one command a line: errors, empty results, key deletion, TTLs,
/// WRONGTYPE, encodings, configured thresholds, long double sums, COMMAND INFO.
const EDGE_CASES: &str = include_str!("types_interop/edge_cases.txt");

/// A few hundred generated list and hash commands over a handful of keys and values, from a
/// fixed seed.
fn generated_commands() -> Vec<String> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let mut out = Vec::new();
    for _ in 0..400 {
        let list = ["gl1", "gl2", "gl3"][next(3) as usize];
        let other = ["gl1", "gl2", "gl3"][next(3) as usize];
        let hash = ["gh1", "gh2"][next(2) as usize];
        let v = ["a", "b", "c", "7", "-3", "300", "word"][next(7) as usize];
        let i = next(9) as i64 - 4;
        let end = ["LEFT", "RIGHT"][next(2) as usize];
        let field = ["f", "g", "h", "n", "7"][next(5) as usize];
        let command = match next(22) {
            0 => format!("LPUSH {list} {v} {v}"),
            1 => format!("RPUSH {list} {v}"),
            2 => format!("LPOP {list}"),
            3 => format!("RPOP {list} {}", next(3)),
            4 => format!("LRANGE {list} {i} {}", i + next(5) as i64),
            5 => format!("LINDEX {list} {i}"),
            6 => format!("LSET {list} {i} {v}"),
            7 => format!("LINSERT {list} BEFORE {v} x"),
            8 => format!("LREM {list} {i} {v}"),
            9 => format!("LTRIM {list} {i} {}", i + 3),
            10 => format!(
                "LPOS {list} {v} RANK {} COUNT {}",
                [1, -1, 2][next(3) as usize],
                next(3)
            ),
            11 => format!("LMOVE {list} {other} {end} LEFT"),
            12 => format!("LMPOP 2 {list} {other} {end} COUNT {}", next(3) + 1),
            13 => format!("LLEN {list}"),
            14 => format!("HSET {hash} {field} {v}"),
            15 => format!("HDEL {hash} {field}"),
            16 => format!("HINCRBY {hash} {field} {i}"),
            17 => format!("HGETALL {hash}"),
            18 => format!("HMGET {hash} {field} f n"),
            19 => format!("HSETNX {hash} {field} {v}"),
            20 => format!("HKEYS {hash}"),
            _ => format!("LRANGE {list} 0 -1"),
        };
        out.push(command);
    }
    out
}

/// Runs `commands` on both servers (one connection each), asserting equal raw replies.
fn compare(ours: &mut RespConn, redis: &mut RespConn, commands: &[String]) {
    for command in commands {
        let args: Vec<&[u8]> = command.split_whitespace().map(str::as_bytes).collect();
        let expected = redis.call(&args);
        let got = ours.call(&args);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "`{command}`"
        );
    }
}

fn edge_cases() -> Vec<String> {
    EDGE_CASES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn lists_hashes_and_sets_match_redis_server_byte_for_byte() {
    let dir = TestDir::new("types-diff");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    compare(&mut ours, &mut redis, &edge_cases());
    compare(&mut ours, &mut redis, &generated_commands());
    // RESP3: maps for HGETALL, pairs for HRANDFIELD WITHVALUES, null types.
    ours.call(&[b"HELLO", b"3"]);
    redis.call(&[b"HELLO", b"3"]);
    let resp3: Vec<String> = [
        "HSET r3 a 1 b 2",
        "HGETALL r3",
        "HGETALL nokey",
        "HRANDFIELD r3 5 WITHVALUES",
        "HMGET r3 a zz",
        "HGET r3 zz",
        "RPUSH r3l a b c",
        "LPOP r3l 2",
        "LPOP nokey 2",
        "LPOP nokey",
        "LMPOP 1 r3l LEFT",
        "LMPOP 1 nokey LEFT",
        "LPOS r3l zz",
        "HSCAN r3 0",
        "HINCRBYFLOAT r3 a 1.5",
        "SADD r3s 3 1 2",
        "SMEMBERS r3s",
        "SMEMBERS nokey",
        "SINTER r3s r3s",
        "SUNION r3s nokey",
        "SRANDMEMBER r3s 10",
        "SRANDMEMBER nokey 10",
        "SPOP nokey 2",
        "SPOP r3s 10",
        "SSCAN r3s 0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    compare(&mut ours, &mut redis, &resp3);
}

/// Values of every type DUMPed by one server RESTORE on the other with the same replies.
#[test]
fn dump_and_restore_cross_between_clusterlab_and_redis_server() {
    let dir = TestDir::new("types-dump");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the DUMP/RESTORE test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    let long = "y".repeat(70);
    let many: Vec<String> = (0..2000).map(|i| format!("element-{i}")).collect();
    let many_fields: Vec<String> = (0..600)
        .flat_map(|i| [format!("f{i}"), format!("{i}")])
        .collect();
    let mut setup: Vec<Vec<String>> = vec![
        "RPUSH small a b 1 -5 300 70000"
            .split(' ')
            .map(String::from)
            .collect(),
        "HSET hsmall f1 v1 f2 2"
            .split(' ')
            .map(String::from)
            .collect(),
        vec!["HSET".into(), "hlong".into(), "f".into(), long.clone()],
    ];
    let mut big_list = vec!["RPUSH".to_string(), "big".into()];
    big_list.extend(many);
    setup.push(big_list);
    let mut big_hash = vec!["HSET".to_string(), "hbig".into()];
    big_hash.extend(many_fields);
    setup.push(big_hash);
    // (key, a read whose reply must survive the trip)
    let reads: &[(&str, &[&str])] = &[
        ("small", &["LRANGE", "small", "0", "-1"]),
        ("hsmall", &["HGETALL", "hsmall"]),
        ("hlong", &["HGET", "hlong", "f"]),
        ("big", &["LRANGE", "big", "0", "-1"]),
        ("hbig", &["HLEN", "hbig"]),
    ];
    let mut servers = [&mut ours, &mut redis];
    for direction in 0..2 {
        let [a, b] = &mut servers;
        let (from, to) = if direction == 0 { (a, b) } else { (b, a) };
        from.call(&[b"FLUSHALL"]);
        to.call(&[b"FLUSHALL"]);
        for command in &setup {
            let args: Vec<&[u8]> = command.iter().map(String::as_bytes).collect();
            from.call(&args);
        }
        for (key, read) in reads {
            let dumped = from.call(&[b"DUMP", key.as_bytes()]);
            let payload = bulk_body(&dumped);
            let restored = to.call(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
            assert_eq!(restored, b"+OK\r\n", "{key}");
            let read: Vec<&[u8]> = read.iter().map(|a| a.as_bytes()).collect();
            assert_eq!(from.call(&read), to.call(&read), "{key}");
            let encoding = [&b"OBJECT"[..], b"ENCODING", key.as_bytes()];
            assert_eq!(from.call(&encoding), to.call(&encoding), "{key}");
        }
    }
}

/// Deterministic bytes LZF cannot shrink (an LCG's top byte).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

/// The same keys built on both servers DUMP to the same bytes under the default
/// `rdbcompression yes` (long strings and packed collections LZF-compressed, where that saves
/// 4 bytes) and under `no`, and `DEBUG OBJECT` reports the same `serializedlength`. Keys whose
/// Redis encoding lists members in hash-table order are left out.
#[test]
fn dump_payloads_equal_redis_bytes_compressed_or_not() {
    let dir = TestDir::new("types-dump-bytes");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &["--enable-debug-command", "yes"]) else {
        panic!("redis-server is needed for the DUMP byte test");
    };
    let conf = "cluster-enabled no\nenable-debug-command yes";
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, conf);
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    let near = |extra: usize| [noise(48, 7), vec![b'a'; extra]].concat();
    let strings: Vec<(&str, Vec<u8>)> = vec![
        ("s20", vec![b'a'; 20]),
        ("s21", vec![b'a'; 21]),
        (
            "text",
            b"the quick brown fox jumps over the lazy dog ".repeat(30),
        ),
        ("noise", noise(3000, 1)),
        ("noise-repeated", noise(500, 2).repeat(3)),
        ("saves3", near(13)),
        ("saves5", near(14)),
        ("long", b"0123456789".repeat(5000)),
    ];
    let mut commands: Vec<Vec<Vec<u8>>> = strings
        .iter()
        .map(|(k, v)| vec![b"SET".to_vec(), k.as_bytes().to_vec(), v.clone()])
        .collect();
    let many = |prefix: &str, n: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{prefix}-{i}").into_bytes())
            .collect()
    };
    let mut push = |words: &[&[u8]], rest: Vec<Vec<u8>>| {
        let mut c: Vec<Vec<u8>> = words.iter().map(|w| w.to_vec()).collect();
        c.extend(rest);
        commands.push(c);
    };
    push(&[b"RPUSH", b"list"], many("element", 3000));
    push(
        &[b"RPUSH", b"list-noise"],
        vec![noise(200, 3), noise(200, 4)],
    );
    push(
        &[b"SADD", b"intset"],
        (0..400).map(|i| (i * 3).to_string().into_bytes()).collect(),
    );
    let pairs: Vec<Vec<u8>> = (0..60)
        .flat_map(|i| {
            [
                format!("field-{i}").into_bytes(),
                format!("value-{i}").into_bytes(),
            ]
        })
        .collect();
    push(&[b"HSET", b"hash-listpack"], pairs);
    push(&[b"HSET", b"hash-long-value", b"f"], vec![b"v".repeat(300)]);
    let scored: Vec<Vec<u8>> = (0..60)
        .flat_map(|i| {
            [
                i.to_string().into_bytes(),
                format!("member-{i}").into_bytes(),
            ]
        })
        .collect();
    push(&[b"ZADD", b"zset-listpack"], scored);
    let long_members: Vec<Vec<u8>> = (0..20)
        .flat_map(|i| {
            [
                i.to_string().into_bytes(),
                format!("{i}-{}", "m".repeat(80)).into_bytes(),
            ]
        })
        .collect();
    push(&[b"ZADD", b"zset-skiplist"], long_members);
    for conn in [&mut ours, &mut redis] {
        for command in &commands {
            let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
            let reply = conn.call(&args);
            assert!(
                !reply.starts_with(b"-"),
                "{}",
                String::from_utf8_lossy(&reply)
            );
        }
    }
    let keys: Vec<&str> = strings
        .iter()
        .map(|(k, _)| *k)
        .chain([
            "list",
            "list-noise",
            "intset",
            "hash-listpack",
            "hash-long-value",
            "zset-listpack",
            "zset-skiplist",
        ])
        .collect();
    let serialized_len = |conn: &mut RespConn, key: &str| {
        let reply = String::from_utf8_lossy(&conn.call(&[b"DEBUG", b"OBJECT", key.as_bytes()]))
            .into_owned();
        let field = reply
            .split(' ')
            .find(|f| f.starts_with("serializedlength:"));
        field
            .unwrap_or_else(|| panic!("{key}: {reply}"))
            .to_string()
    };
    let mut compressed_keys = 0;
    for compression in ["yes", "no"] {
        for conn in [&mut ours, &mut redis] {
            let set = [
                &b"CONFIG"[..],
                b"SET",
                b"rdbcompression",
                compression.as_bytes(),
            ];
            assert_eq!(conn.call(&set), b"+OK\r\n");
        }
        for key in &keys {
            let theirs = redis.call(&[b"DUMP", key.as_bytes()]);
            assert!(theirs.len() > 10, "{key}");
            assert!(
                ours.call(&[b"DUMP", key.as_bytes()]) == theirs,
                "DUMP {key}, rdbcompression {compression}"
            );
            assert_eq!(
                serialized_len(&mut ours, key),
                serialized_len(&mut redis, key),
                "{key}"
            );
            // The LZF marker right after the type byte: a string value compressed.
            let body = bulk_body(&theirs);
            compressed_keys += usize::from(body.len() > 1 && body[1] == 0xc3);
        }
    }
    assert!(
        compressed_keys >= 4,
        "the strings that compress did: {compressed_keys}"
    );
}

fn bulk_body(raw: &[u8]) -> Vec<u8> {
    let header_end = raw.iter().position(|&b| b == b'\n').expect("a bulk header") + 1;
    raw[header_end..raw.len() - 2].to_vec()
}

#[test]
fn list_moves_across_slots_are_crossslot_in_cluster_mode() {
    let dir = TestDir::new("types-crossslot");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let _node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "");
    let mut conn = RespConn::connect(port);
    assert_eq!(
        conn.call(&[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"]),
        b"+OK\r\n"
    );
    wait_until(
        std::time::Duration::from_secs(10),
        "cluster state ok",
        || cluster_info_field(port, "cluster_state") == "ok",
    );
    let crossslot = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    assert_eq!(
        conn.call(&[b"LMOVE", b"a", b"b", b"LEFT", b"LEFT"]),
        crossslot
    );
    assert_eq!(conn.call(&[b"RPOPLPUSH", b"a", b"b"]), crossslot);
    assert_eq!(conn.call(&[b"LMPOP", b"2", b"a", b"b", b"LEFT"]), crossslot);
    assert_eq!(conn.call(&[b"RPUSH", b"{t}a", b"x"]), b":1\r\n");
    assert_eq!(
        conn.call(&[b"LMOVE", b"{t}a", b"{t}b", b"LEFT", b"LEFT"]),
        b"$1\r\nx\r\n"
    );
    assert_eq!(
        conn.call(&[b"LMPOP", b"2", b"{t}a", b"{t}b", b"LEFT"]),
        b"*2\r\n$4\r\n{t}b\r\n*1\r\n$1\r\nx\r\n"
    );
}

/// MIGRATE carries lists and hashes from clusterlab to redis-server and back (what a reshard
/// does key by key), keeping their TTL.
#[test]
fn migrate_moves_lists_and_hashes_to_redis_server_and_back() {
    let dir = TestDir::new("types-migrate");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the MIGRATE test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    ours.call(&[b"RPUSH", b"ml", b"a", b"b", b"c"]);
    ours.call(&[b"HSET", b"mh", b"f", b"v", b"n", b"1"]);
    ours.call(&[b"EXPIRE", b"ml", b"1000"]);
    let redis_port_text = redis_port.to_string();
    let ours_port_text = ours_port.to_string();
    let migrate = |port: &str| -> Vec<Vec<u8>> {
        [
            "MIGRATE",
            "127.0.0.1",
            port,
            "",
            "0",
            "5000",
            "KEYS",
            "ml",
            "mh",
        ]
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect()
    };
    let call = |conn: &mut RespConn, args: &[Vec<u8>]| {
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        conn.call(&args)
    };
    assert_eq!(call(&mut ours, &migrate(&redis_port_text)), b"+OK\r\n");
    assert_eq!(ours.call(&[b"EXISTS", b"ml", b"mh"]), b":0\r\n");
    assert_eq!(
        redis.call(&[b"LRANGE", b"ml", b"0", b"-1"]),
        b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert_eq!(redis.call(&[b"HGET", b"mh", b"n"]), b"$1\r\n1\r\n");
    assert!(ttl_near_1000(&redis.call(&[b"TTL", b"ml"])));
    assert_eq!(call(&mut redis, &migrate(&ours_port_text)), b"+OK\r\n");
    assert_eq!(
        ours.call(&[b"HGETALL", b"mh"]),
        b"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nn\r\n$1\r\n1\r\n"
    );
    assert_eq!(ours.call(&[b"LLEN", b"ml"]), b":3\r\n");
    assert!(ttl_near_1000(&ours.call(&[b"TTL", b"ml"])));
}

fn ttl_near_1000(reply: &[u8]) -> bool {
    let text = String::from_utf8_lossy(reply);
    let ttl: i64 = text.trim().trim_start_matches(':').parse().unwrap_or(0);
    (990..=1000).contains(&ttl)
}

/// A replica gets lists, hashes and sets both ways a replica can: in its full sync (RESTORE
/// payloads) and in the write stream after it (the propagated forms: LMPOP as LPOP, SPOP as
/// SREM, HINCRBYFLOAT as HSET, …). Master and replica then answer every read the same.
#[test]
fn a_replica_receives_every_type_by_full_sync_and_by_stream() {
    let dir = TestDir::new("types-replica");
    let [master_port, replica_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let _master = NodeProcess::start(&dir.path, master_port, NODE_TIMEOUT_MS, "");
    let _replica = NodeProcess::start(&dir.path, replica_port, NODE_TIMEOUT_MS, "");
    let mut master = RespConn::connect(master_port);
    let mut replica = RespConn::connect(replica_port);
    let ok = b"+OK\r\n".to_vec();
    assert_eq!(
        master.call(&[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"]),
        ok
    );
    wait_until(
        std::time::Duration::from_secs(10),
        "cluster state ok",
        || cluster_info_field(master_port, "cluster_state") == "ok",
    );
    let before_sync = [
        "RPUSH {t}l a b c 1 2 3",
        "HSET {t}h f v n 1.5",
        "SADD {t}si 3 1 2",
        "SADD {t}sw x y z",
        "RPUSH {t}ttl a",
        "PEXPIRE {t}ttl 500000",
    ];
    run_all(&mut master, &before_sync);
    let port = master_port.to_string();
    let meet = [&b"CLUSTER"[..], b"MEET", b"127.0.0.1", port.as_bytes()];
    assert_eq!(replica.call(&meet), ok);
    let master_id = myid(master_port);
    wait_until(
        std::time::Duration::from_secs(20),
        "the replica knows the master",
        || command_text(replica_port, &["CLUSTER", "NODES"]).contains(&master_id),
    );
    let replicate = [&b"CLUSTER"[..], b"REPLICATE", master_id.as_bytes()];
    assert_eq!(replica.call(&replicate), ok);
    wait_until(
        std::time::Duration::from_secs(20),
        "the replica's link is up",
        || command_text(replica_port, &["INFO", "replication"]).contains("master_link_status:up"),
    );
    let after_sync = [
        "LPUSH {t}l z",
        "LMOVE {t}l {t}l2 LEFT RIGHT",
        "LMPOP 2 {t}none {t}l RIGHT COUNT 2",
        "LSET {t}l 0 A",
        "LINSERT {t}l AFTER A B",
        "LREM {t}l 0 b",
        "LTRIM {t}l 0 2",
        "HINCRBYFLOAT {t}h n 2.5e-3",
        "HINCRBY {t}h i 7",
        "HDEL {t}h f",
        "SPOP {t}sw 2",
        "SMOVE {t}si {t}s2 1",
        "SINTERSTORE {t}s3 {t}si {t}s2",
        "SUNIONSTORE {t}s4 {t}si {t}s2",
        "INCRBYFLOAT {t}fl 0.1",
        "APPEND {t}str abc",
    ];
    run_all(&mut master, &after_sync);
    assert_eq!(master.call(&[b"WAIT", b"1", b"5000"]), b":1\r\n");
    assert_eq!(replica.call(&[b"READONLY"]), ok);
    let reads = [
        "LRANGE {t}l 0 -1",
        "LRANGE {t}l2 0 -1",
        "HGETALL {t}h",
        "SMEMBERS {t}si",
        "SMEMBERS {t}sw",
        "SMEMBERS {t}s2",
        "SMEMBERS {t}s3",
        "SMEMBERS {t}s4",
        "OBJECT ENCODING {t}sw",
        "GET {t}fl",
        "GET {t}str",
        "DBSIZE",
    ];
    for read in reads {
        let args: Vec<&[u8]> = read.split(' ').map(str::as_bytes).collect();
        assert_eq!(
            String::from_utf8_lossy(&replica.call(&args)),
            String::from_utf8_lossy(&master.call(&args)),
            "`{read}`"
        );
    }
    let ttl = replica.call(&[b"PTTL", b"{t}ttl"]);
    assert!(ttl.starts_with(b":4") && ttl.len() == 9, "{ttl:?}");
}

fn run_all(conn: &mut RespConn, commands: &[&str]) {
    for command in commands {
        let args: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
        let reply = conn.call(&args);
        assert!(
            !reply.starts_with(b"-"),
            "`{command}`: {}",
            String::from_utf8_lossy(&reply)
        );
    }
}

/// Payloads of Redis 6's ziplist encodings restore in clusterlab as in redis-server 7.0.
#[test]
fn redis_6_ziplist_payloads_restore_as_in_redis_server() {
    let dir = TestDir::new("types-ziplist");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the ziplist test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    let cases: [(&str, &str, &[&str]); 4] = [
        ("zl10", OLD_LIST_ZIPLIST, &["LRANGE", "zl10", "0", "-1"]),
        ("zl14", OLD_LIST_QUICKLIST, &["LRANGE", "zl14", "0", "-1"]),
        ("zl13", OLD_HASH_ZIPLIST, &["HGETALL", "zl13"]),
        ("zl12", OLD_ZSET_ZIPLIST, &["TYPE", "zl12"]),
    ];
    for (key, hex, read) in cases {
        let payload = from_hex(hex);
        for conn in [&mut ours, &mut redis] {
            let restore = [&b"RESTORE"[..], key.as_bytes(), b"0", &payload];
            assert_eq!(conn.call(&restore), b"+OK\r\n", "{key}");
        }
        let read: Vec<&[u8]> = read.iter().map(|a| a.as_bytes()).collect();
        assert_eq!(ours.call(&read), redis.call(&read), "{key}");
        let encoding = [&b"OBJECT"[..], b"ENCODING", key.as_bytes()];
        assert_eq!(ours.call(&encoding), redis.call(&encoding), "{key}");
    }
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}
