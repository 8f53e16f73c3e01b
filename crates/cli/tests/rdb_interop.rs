//! RDB files and AOF rewrites against a real `redis-server` 7.0: a `dump.rdb` written by either
//! loads into the other with the same `DEBUG DIGEST` (every type, TTLs), an AOF rewritten by
//! clusterlab (`BGREWRITEAOF`: an RDB base, then an incr file) restarts both clusterlab and
//! redis-server with the same data, and `CONFIG SET appendonly yes` at run time leaves an AOF
//! a restart loads.

mod common;

use std::path::Path;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// Every type, compact and large encodings, integers, TTLs.
const DATASET: &[&str] = &[
    "SET s hello",
    "SET n 12345",
    "SET big xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "SET ttl v PX 500000",
    "RPUSH l a b c 1 2 3",
    "HSET h f v g 2",
    "SADD si 1 2 3 -7",
    "SADD sw apple pear",
    "ZADD z 1 a 2.5 b -3 c",
    "PEXPIRE l 600000",
];

fn load(conn: &mut RespConn, commands: &[&str]) {
    for command in commands {
        let args: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
        let reply = conn.call(&args);
        assert!(!reply.starts_with(b"-"), "`{command}`: {}", text(&reply));
    }
}

/// Enough large values to force the large encodings (quicklist nodes, hashtable, skiplist).
fn big_collections(conn: &mut RespConn) {
    for i in 0..300 {
        let i = i.to_string();
        let value = format!("value-{i}-{}", "y".repeat(70));
        for args in [
            vec!["RPUSH", "bl", value.as_str()],
            vec!["HSET", "bh", i.as_str(), value.as_str()],
            vec!["SADD", "bs", value.as_str()],
            vec!["ZADD", "bz", i.as_str(), value.as_str()],
        ] {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            conn.call(&args);
        }
    }
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn digest(conn: &mut RespConn) -> String {
    text(&conn.call(&[b"DEBUG", b"DIGEST"]))
}

fn dbsize(conn: &mut RespConn) -> String {
    text(&conn.call(&[b"DBSIZE"]))
}

fn pttl_near(conn: &mut RespConn, key: &str, ms: i64) {
    let reply = text(&conn.call(&[b"PTTL", key.as_bytes()]));
    let left: i64 = reply.trim_start_matches(':').trim().parse().unwrap();
    assert!(left > ms - 60_000 && left <= ms, "PTTL {key}: {left}");
}

fn redis_in(dir: &Path, port: u16, extra: &[&str]) -> RedisServer {
    let dir = dir.display().to_string();
    let mut args = vec!["--dir", dir.as_str(), "--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    RedisServer::start(port, &args).expect("redis-server is needed for the RDB interop test")
}

const OURS_NO_AOF: &str = "cluster-enabled no\nenable-debug-command yes\nappendonly no";

#[test]
fn a_dump_rdb_from_redis_server_loads_into_clusterlab() {
    let dir = TestDir::new("rdb-from-redis");
    let [redis_port, ours_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let redis_digest;
    {
        let _redis = redis_in(&dir.path, redis_port, &[]);
        let mut redis = RespConn::connect(redis_port);
        load(&mut redis, DATASET);
        big_collections(&mut redis);
        redis_digest = digest(&mut redis);
        assert_eq!(text(&redis.call(&[b"SAVE"])), "+OK\r\n");
    }
    assert!(dir.join("dump.rdb").exists());
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, OURS_NO_AOF);
    let mut ours = RespConn::connect(ours_port);
    assert_eq!(dbsize(&mut ours), ":13\r\n");
    assert_eq!(digest(&mut ours), redis_digest);
    pttl_near(&mut ours, "ttl", 500_000);
    assert_eq!(
        text(&ours.call(&[b"OBJECT", b"ENCODING", b"bz"])),
        "$8\r\nskiplist\r\n"
    );
}

#[test]
fn a_dump_rdb_from_clusterlab_loads_into_redis_server() {
    let dir = TestDir::new("rdb-to-redis");
    let [redis_port, ours_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let ours_digest;
    {
        let node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, OURS_NO_AOF);
        let mut ours = RespConn::connect(ours_port);
        load(&mut ours, DATASET);
        big_collections(&mut ours);
        ours_digest = digest(&mut ours);
        assert_eq!(text(&ours.call(&[b"SAVE"])), "+OK\r\n");
        let lastsave = text(&ours.call(&[b"LASTSAVE"]));
        assert!(lastsave.starts_with(':'), "{lastsave}");
        drop(node);
    }
    {
        let _redis = redis_in(&dir.path, redis_port, &[]);
        let mut redis_conn = RespConn::connect(redis_port);
        assert_eq!(dbsize(&mut redis_conn), ":13\r\n");
        assert_eq!(digest(&mut redis_conn), ours_digest);
        pttl_near(&mut redis_conn, "l", 600_000);
    }
    // And clusterlab restarts from its own file.
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, OURS_NO_AOF);
    let mut ours = RespConn::connect(ours_port);
    assert_eq!(digest(&mut ours), ours_digest);
}

#[test]
fn a_rewritten_aof_restarts_clusterlab_and_redis_server_alike() {
    let dir = TestDir::new("aof-rewrite");
    let [redis_port, ours_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let extra =
        "cluster-enabled no\nenable-debug-command yes\nappendonly yes\nappenddirname aofdir";
    let before_restart;
    {
        let node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, extra);
        let mut ours = RespConn::connect(ours_port);
        load(&mut ours, DATASET);
        let reply = text(&ours.call(&[b"BGREWRITEAOF"]));
        assert_eq!(reply, "+Background append only file rewriting started\r\n");
        load(&mut ours, &["RPUSH l after", "SET s2 later", "DEL n"]);
        before_restart = digest(&mut ours);
        drop(node);
    }
    let aof_dir = dir.join("aofdir");
    let mut files: Vec<String> = std::fs::read_dir(&aof_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    files.sort();
    // The first base and incr are gone; the rewrite's base is an RDB file.
    assert_eq!(
        files,
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.2.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    {
        let node = NodeProcess::start_from_existing_conf(&dir.path, ours_port);
        let mut ours = RespConn::connect(ours_port);
        assert_eq!(digest(&mut ours), before_restart);
        drop(node);
    }
    let _redis = redis_in(
        &dir.path,
        redis_port,
        &["--appendonly", "yes", "--appenddirname", "aofdir"],
    );
    let mut redis = RespConn::connect(redis_port);
    assert_eq!(digest(&mut redis), before_restart);
}

#[test]
fn appendonly_turned_on_at_run_time_survives_a_restart() {
    let dir = TestDir::new("aof-at-runtime");
    let [ours_port] = free_ports(1)[..] else {
        unreachable!()
    };
    let extra = "cluster-enabled no\nenable-debug-command yes\nappendonly no";
    let before;
    {
        let node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, extra);
        let mut ours = RespConn::connect(ours_port);
        load(&mut ours, DATASET);
        let set = ours.call(&[b"CONFIG", b"SET", b"appendonly", b"yes"]);
        assert_eq!(text(&set), "+OK\r\n");
        load(&mut ours, &["SET after on"]);
        let info = text(&ours.call(&[b"INFO", b"persistence"]));
        assert!(info.contains("aof_enabled:1"), "{info}");
        assert!(info.contains("aof_rewrites:1"), "{info}");
        assert_eq!(text(&ours.call(&[b"CONFIG", b"REWRITE"])), "+OK\r\n");
        before = digest(&mut ours);
        drop(node);
    }
    let _node = NodeProcess::start_from_existing_conf(&dir.path, ours_port);
    let mut ours = RespConn::connect(ours_port);
    assert_eq!(digest(&mut ours), before);
    assert_eq!(text(&ours.call(&[b"GET", b"after"])), "$2\r\non\r\n");
}

/// Skips one RDB string field (plain, integer-encoded or LZF) starting at `at`.
fn skip_rdb_string(file: &[u8], at: usize) -> usize {
    let (len, at) = rdb_length(file, at);
    match len {
        RdbLen::Plain(n) => at + n,
        RdbLen::Int(bytes) => at + bytes,
        RdbLen::Lzf => {
            let (compressed, at) = rdb_length(file, at);
            let (_, at) = rdb_length(file, at);
            let RdbLen::Plain(compressed) = compressed else {
                panic!("an LZF length")
            };
            at + compressed
        }
    }
}

enum RdbLen {
    Plain(usize),
    Int(usize),
    Lzf,
}

fn rdb_length(file: &[u8], at: usize) -> (RdbLen, usize) {
    let first = file[at];
    match first >> 6 {
        0 => (RdbLen::Plain(usize::from(first & 0x3f)), at + 1),
        1 => (
            RdbLen::Plain(usize::from(first & 0x3f) << 8 | usize::from(file[at + 1])),
            at + 2,
        ),
        2 => {
            assert_eq!(first, 0x80, "a 32-bit length");
            let n = u32::from_be_bytes(file[at + 1..at + 5].try_into().unwrap());
            (RdbLen::Plain(n as usize), at + 5)
        }
        _ => match first & 0x3f {
            0 => (RdbLen::Int(1), at + 1),
            1 => (RdbLen::Int(2), at + 1),
            2 => (RdbLen::Int(4), at + 1),
            3 => (RdbLen::Lzf, at + 1),
            other => panic!("special encoding {other}"),
        },
    }
}

/// A `dump.rdb` from the magic's end past its aux fields (which differ: times, memory) up to
/// the checksum, and the checksum.
fn keys_and_checksum(file: &[u8]) -> (&[u8], &[u8]) {
    assert!(file.starts_with(b"REDIS0010"));
    let mut at = 9;
    while file[at] == 0xfa {
        at = skip_rdb_string(file, at + 1);
        at = skip_rdb_string(file, at);
    }
    file[at..].split_at(file.len() - at - 8)
}

/// A one-key `dump.rdb` equals redis-server's byte for byte after the aux fields: keys and
/// values LZF-compressed under the default `rdbcompression yes` (a long key name too), verbatim
/// under `no`, and loads back.
#[test]
fn one_key_files_equal_redis_servers_compressed_or_not() {
    let dir = TestDir::new("rdb-bytes");
    let [redis_port, ours_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let redis_dir = dir.join("redis");
    let ours_dir = dir.join("ours");
    std::fs::create_dir_all(&redis_dir).unwrap();
    std::fs::create_dir_all(&ours_dir).unwrap();
    let _redis = redis_in(&redis_dir, redis_port, &[]);
    let _node = NodeProcess::start(&ours_dir, ours_port, NODE_TIMEOUT_MS, OURS_NO_AOF);
    let mut redis = RespConn::connect(redis_port);
    let mut ours = RespConn::connect(ours_port);
    let long_key = format!("key-{}", "k".repeat(40));
    let items: Vec<String> = (0..1500).map(|i| format!("item-{i}")).collect();
    let mut list = vec!["RPUSH", "list"];
    list.extend(items.iter().map(String::as_str));
    let text_value = "lorem ipsum dolor sit amet ".repeat(20);
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "SET",
            long_key.as_str(),
            text_value.as_str(),
            "PXAT",
            "4102444800000",
        ],
        vec![
            "SET",
            "incompressible",
            "q8#Zp!2Lx@9Wm$4Rv^7Tb&1Ny*6Hc(3Kd)5Gs",
        ],
        list,
    ];
    let mut compressed_files = 0;
    for compression in ["yes", "no"] {
        for conn in [&mut ours, &mut redis] {
            let reply = conn.call(&[b"CONFIG", b"SET", b"rdbcompression", compression.as_bytes()]);
            assert_eq!(text(&reply), "+OK\r\n");
        }
        for case in &cases {
            let args: Vec<&[u8]> = case.iter().map(|a| a.as_bytes()).collect();
            let mut files = Vec::new();
            for (conn, dir) in [(&mut ours, &ours_dir), (&mut redis, &redis_dir)] {
                conn.call(&[b"FLUSHALL"]);
                assert!(!conn.call(&args).starts_with(b"-"), "{}", case[0]);
                assert_eq!(text(&conn.call(&[b"SAVE"])), "+OK\r\n");
                files.push(std::fs::read(dir.join("dump.rdb")).unwrap());
            }
            let (ours_keys, ours_sum) = keys_and_checksum(&files[0]);
            let (redis_keys, redis_sum) = keys_and_checksum(&files[1]);
            assert!(
                ours_keys == redis_keys,
                "{} {}, compression {compression}",
                case[0],
                case[1]
            );
            assert!(ours_sum != [0; 8] && redis_sum != [0; 8]);
            compressed_files += usize::from(ours_keys.windows(1).any(|b| b[0] == 0xc3));
        }
        // The last file (the list) loads back as it was.
        assert_eq!(text(&ours.call(&[b"DEBUG", b"RELOAD"])), "+OK\r\n");
        assert_eq!(text(&ours.call(&[b"LLEN", b"list"])), ":1500\r\n");
    }
    assert!(compressed_files >= 2, "{compressed_files}");
}
