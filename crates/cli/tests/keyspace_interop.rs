//! COPY, RENAME, TOUCH, SORT, bitmaps and HyperLogLog against a real `redis-server` 7.0: the
//! same command stream sent to both (raw replies compared byte for byte), HyperLogLogs built
//! from thousands of PFADDs compared by their GET bytes and carried across by DUMP/RESTORE,
//! and cluster mode's refusals (COPY to another db, SORT's BY/GET patterns, CROSSSLOT).
//!
//! The stream stays where Redis's answers are deterministic: no SORT of a set listed without
//! sorting (its order is Redis's hash table's), no ALPHA BY ties, and no SORT weight out of
//! double range (redis-server 7.0.15 leaves `errno` at ERANGE after one, and numeric SORTs
//! of non-integer strings then fail until some later system call overwrites it).

mod common;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// Hand-picked edge cases, one command a line (arguments split on spaces).
const EDGE_CASES: &str = include_str!("keyspace_interop/edge_cases.txt");

fn split(line: &str) -> Vec<Vec<u8>> {
    line.split_whitespace()
        .map(|w| {
            if w == "\"\"" {
                Vec::new()
            } else {
                w.as_bytes().to_vec()
            }
        })
        .collect()
}

/// Runs `commands` on both servers, asserting equal raw replies.
fn compare(ours: &mut RespConn, redis: &mut RespConn, commands: &[Vec<Vec<u8>>]) {
    for command in commands {
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
}

fn lines(text: &str) -> Vec<Vec<Vec<u8>>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(split)
        .collect()
}

/// A seeded stream of bit commands over a few keys, each followed by a GET of its key.
fn generated_bit_commands() -> Vec<Vec<Vec<u8>>> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let mut out = Vec::new();
    for _ in 0..600 {
        let key = ["gb1", "gb2", "gb3"][next(3) as usize];
        let other = ["gb1", "gb2", "gb3", "gbx"][next(4) as usize];
        let offset = next(200);
        let (a, b) = (next(40) as i64 - 20, next(40) as i64 - 20);
        let ty = ["u1", "u8", "i8", "u13", "i16", "i33", "u63", "i64"][next(8) as usize];
        let unit = ["BYTE", "BIT"][next(2) as usize];
        let overflow = ["WRAP", "SAT", "FAIL"][next(3) as usize];
        let value = next(1 << 20) as i64 - (1 << 19);
        let command = match next(9) {
            0 | 1 => format!("SETBIT {key} {offset} {}", next(2)),
            2 => format!("GETBIT {key} {offset}"),
            3 => format!("BITCOUNT {key} {a} {b} {unit}"),
            4 => format!("BITPOS {key} {} {a} {b} {unit}", next(2)),
            5 => format!("BITPOS {key} {} {a}", next(2)),
            6 => format!(
                "BITOP {} {key} {key} {other}",
                ["AND", "OR", "XOR"][next(3) as usize]
            ),
            7 => format!(
                "BITFIELD {key} OVERFLOW {overflow} INCRBY {ty} {offset} {value} GET {ty} #{}",
                next(9)
            ),
            _ => format!(
                "BITFIELD {key} OVERFLOW {overflow} SET {ty} #{} {value} GET u8 {offset}",
                next(9)
            ),
        };
        out.push(split(&command));
        out.push(split(&format!("GET {key}")));
    }
    out
}

/// A seeded stream of COPY, RENAME, RENAMENX, TOUCH and SORT over keys of every type (lists
/// of numbers, intsets, small hashes, strings), each key read back after a change.
fn generated_keyspace_commands() -> Vec<Vec<Vec<u8>>> {
    let mut x: u64 = 0x5851_f42d_4c95_7f2d;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let keys = ["gk1", "gk2", "gk3", "gk4"];
    let mut out = vec![split("MSET gw_1 5 gw_2 -3 gw_3 2.5 gw_4 10 gw_5 0")];
    for _ in 0..500 {
        let (a, b) = (keys[next(4) as usize], keys[next(4) as usize]);
        let (n1, n2) = (next(7), next(7));
        let (offset, count) = (next(5) as i64 - 1, next(5) as i64 - 1);
        let order = ["ASC", "DESC"][next(2) as usize];
        let command = match next(16) {
            0 | 1 => format!("RPUSH {a} {n1} {n2} {}", next(6)),
            2 => format!("SADD {a} {n1} {n2}"),
            3 => format!("HSET {a} f{n1} {n2}"),
            4 => format!("SET {a} {n1}"),
            5 => format!("RENAME {a} {b}"),
            6 => format!("RENAMENX {a} {b}"),
            7 => format!("COPY {a} {b}"),
            8 => format!("COPY {a} {b} REPLACE"),
            9 => format!("TOUCH {a} {b} gk9"),
            10 => format!("SORT {a} {order} LIMIT {offset} {count}"),
            11 => format!("SORT {a} BY gw_* {order} GET # GET gw_*"),
            12 => format!("SORT {a} ALPHA {order} STORE {b}"),
            13 => format!("SORT_RO {a} BY nosort {order} LIMIT {offset} {count}"),
            14 => format!("DEL {a}"),
            _ => format!("TYPE {a}"),
        };
        out.push(split(&command));
        for key in [a, b] {
            out.push(split(&format!("TYPE {key}")));
            out.push(split(&format!("SORT {key} LIMIT 0 100")));
            out.push(split(&format!("OBJECT ENCODING {key}")));
        }
    }
    out
}

#[test]
fn keyspace_bits_and_sort_match_redis_server_byte_for_byte() {
    let dir = TestDir::new("keyspace-diff");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    compare(&mut ours, &mut redis, &lines(EDGE_CASES));
    compare(&mut ours, &mut redis, &generated_bit_commands());
    compare(&mut ours, &mut redis, &generated_keyspace_commands());
    // RESP3: the same shapes (nulls inside arrays) in the other protocol.
    ours.call(&[b"HELLO", b"3"]);
    redis.call(&[b"HELLO", b"3"]);
    let resp3 = "SORT lst BY w_* ALPHA GET # GET nokey_*\nBITFIELD k OVERFLOW FAIL INCRBY u8 0 1000 GET u8 0\nSORT nokey\nPFCOUNT h\nTOUCH nokey";
    compare(&mut ours, &mut redis, &lines(resp3));
}

/// PFADD streams of a few thousand elements build the same bytes (sparse, then dense past
/// `hll-sparse-max-bytes`), the same counts and unions; DUMP payloads restore both ways.
#[test]
fn hyperloglogs_match_redis_server_byte_for_byte() {
    let dir = TestDir::new("keyspace-hll");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    let mut commands = Vec::new();
    for (key, count, step) in [("hll1", 4000, 7), ("hll2", 300, 1), ("hll3", 2500, 250)] {
        for start in (0..count).step_by(step) {
            let mut line = format!("PFADD {key}");
            for i in start..(start + step).min(count) {
                line.push_str(&format!(" el:{}:{i}", key.len() * 31 + i % 97));
            }
            commands.push(split(&line));
            if start % (step * 20) == 0 {
                commands.push(split(&format!("GET {key}")));
                commands.push(split(&format!("PFCOUNT {key}")));
            }
        }
        commands.push(split(&format!("GET {key}")));
        commands.push(split(&format!("PFCOUNT {key}")));
        commands.push(split(&format!("GET {key}")));
    }
    let tail = "PFCOUNT hll1 hll2 hll3\nPFCOUNT hll2 hll3 nokey\nPFMERGE m2 hll2\nGET m2\nPFMERGE m2 hll3\nGET m2\nPFCOUNT m2\nPFMERGE hll2 hll1\nGET hll2\nPFCOUNT hll2\nCONFIG SET hll-sparse-max-bytes 100\nPFADD small a b c d e f g h i j k l m n o p q r s t u v w x y z\nGET small\nPFADD small2 a b c\nPFADD small2 one-more\nGET small2";
    commands.extend(lines(tail));
    compare(&mut ours, &mut redis, &commands);
    for key in ["hll1", "hll3", "small2"] {
        dump_across(&mut ours, &mut redis, key);
        dump_across(&mut redis, &mut ours, key);
    }
    // Corrupt sparse strings: runs that do not add up to 16384 registers, an XZERO cut short.
    let corrupt: [&[u8]; 3] = [
        b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f",
        b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x40",
        b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x3f\x3f",
    ];
    for bytes in corrupt {
        let mut commands = vec![vec![b"SET".to_vec(), b"bad".to_vec(), bytes.to_vec()]];
        let reads = "PFADD bad a b c\nGET bad\nPFCOUNT bad\nPFADD bad zz\nGET bad\nPFCOUNT bad bad\nPFMERGE bad2 bad\nPFDEBUG DECODE bad\nPFDEBUG TODENSE bad";
        commands.extend(lines(reads));
        compare(&mut ours, &mut redis, &commands);
    }
}

/// DUMPs `key` on `from`, RESTOREs it on `to` as `copy`: the same bytes and count.
fn dump_across(from: &mut RespConn, to: &mut RespConn, key: &str) {
    let payload = bulk_body(&from.call(&[b"DUMP", key.as_bytes()]));
    to.call(&[b"DEL", b"copy"]);
    assert_eq!(to.call(&[b"RESTORE", b"copy", b"0", &payload]), b"+OK\r\n");
    assert_eq!(
        to.call(&[b"GET", b"copy"]),
        from.call(&[b"GET", key.as_bytes()]),
        "{key}"
    );
    assert_eq!(
        to.call(&[b"PFCOUNT", b"copy"]),
        from.call(&[b"PFCOUNT", key.as_bytes()])
    );
}

fn bulk_body(raw: &[u8]) -> Vec<u8> {
    let header_end = raw.iter().position(|&b| b == b'\n').expect("a bulk header") + 1;
    raw[header_end..raw.len() - 2].to_vec()
}

/// In cluster mode both refuse COPY to another database, SORT's BY and GET patterns, and
/// keys of two slots (RENAME, COPY, SORT … STORE), with the same errors.
#[test]
fn cluster_mode_refusals_match_redis_server() {
    let dir = TestDir::new("keyspace-cluster");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let conf = dir.join("redis-nodes.conf");
    let redis_args = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        conf.to_str().unwrap(),
    ];
    let Some(_redis) = RedisServer::start(redis_port, &redis_args) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "");
    for port in [ours_port, redis_port] {
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
    }
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    let commands = "SET {a}x 1\nRPUSH {a}l 3 1 2\nCOPY {a}x {a}y DB 1\nCOPY {a}x {a}y DB 16\nCOPY {a}x {a}y DB 0\nCOPY {a}x y\nRENAME {a}x y\nRENAMENX {a}x y\nRENAME {a}y {a}z\nSORT {a}l BY w_*\nSORT {a}l BY {a}w_*\nSORT {a}l BY nosort\nSORT {a}l GET #\nSORT_RO {a}l GET {a}x_*\nSORT {a}l STORE d\nSORT {a}l STORE {a}d\nLRANGE {a}d 0 -1\nBITOP AND {a}d {a}x y\nPFMERGE {a}d y\nPFCOUNT {a}x y\nTOUCH {a}x y";
    compare(&mut ours, &mut redis, &lines(commands));
}

/// A replica gets bitmaps, HyperLogLogs, renamed, copied and sorted keys both ways: in its
/// full sync and in the stream after it (PFCOUNT's cache refresh included). Master and
/// replica then answer every read, HLL bytes included, the same.
#[test]
fn a_replica_receives_keyspace_bits_and_hlls_by_full_sync_and_by_stream() {
    let dir = TestDir::new("keyspace-replica");
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
    let elements: String = (0..3000).map(|i| format!(" e{i}")).collect();
    let before_sync = [
        format!("PFADD {{t}}dense{elements}"),
        "PFADD {t}sparse a b c".into(),
        "SETBIT {t}bits 100 1".into(),
        "RPUSH {t}l 3 1 2".into(),
        "SADD {t}s 5 4".into(),
    ];
    run_all(&mut master, &before_sync);
    let port = master_port.to_string();
    assert_eq!(
        replica.call(&[b"CLUSTER", b"MEET", b"127.0.0.1", port.as_bytes()]),
        ok
    );
    let master_id = myid(master_port);
    wait_until(
        std::time::Duration::from_secs(20),
        "the replica knows the master",
        || command_text(replica_port, &["CLUSTER", "NODES"]).contains(&master_id),
    );
    assert_eq!(
        replica.call(&[b"CLUSTER", b"REPLICATE", master_id.as_bytes()]),
        ok
    );
    wait_until(
        std::time::Duration::from_secs(20),
        "the replica's link is up",
        || command_text(replica_port, &["INFO", "replication"]).contains("master_link_status:up"),
    );
    let after_sync = [
        "PFCOUNT {t}dense".to_string(),
        "PFADD {t}sparse d e f".into(),
        "PFMERGE {t}merged {t}sparse {t}dense".into(),
        "PFCOUNT {t}sparse".into(),
        "SETBIT {t}bits 7 1".into(),
        "BITFIELD {t}bits INCRBY i5 20 7 SET u8 #4 200".into(),
        "BITOP XOR {t}x {t}bits {t}sparse".into(),
        "RENAME {t}l {t}l2".into(),
        "COPY {t}s {t}s2".into(),
        "SORT {t}l2 STORE {t}sorted".into(),
        "SORT {t}s DESC STORE {t}sorted2".into(),
    ];
    run_all(&mut master, &after_sync);
    assert_eq!(master.call(&[b"WAIT", b"1", b"5000"]), b":1\r\n");
    assert_eq!(replica.call(&[b"READONLY"]), ok);
    let reads = [
        "GET {t}dense",
        "GET {t}sparse",
        "GET {t}merged",
        "GET {t}bits",
        "GET {t}x",
        "LRANGE {t}l2 0 -1",
        "SMEMBERS {t}s2",
        "LRANGE {t}sorted 0 -1",
        "LRANGE {t}sorted2 0 -1",
        "EXISTS {t}l",
        "DBSIZE",
    ];
    for read in reads {
        let args = split(read);
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(replica.call(&args), master.call(&args), "`{read}`");
    }
    // A PFCOUNT on the replica refreshes its own copy and leaves its offset alone (tried a
    // few times: the master's keepalive PING may move the offset meanwhile).
    let offset = |port| info_field(port, "master_repl_offset");
    let still = (0..3).any(|i| {
        run_all(&mut master, &[format!("PFADD {{t}}merged more-{i}")]);
        assert_eq!(master.call(&[b"WAIT", b"1", b"5000"]), b":1\r\n");
        let before = offset(replica_port);
        let counted = replica.call(&[b"PFCOUNT", b"{t}merged"]);
        let after = offset(replica_port);
        assert_eq!(counted, master.call(&[b"PFCOUNT", b"{t}merged"]));
        before == after
    });
    assert!(still, "a replica's PFCOUNT moved its replication offset");
}

fn run_all(conn: &mut RespConn, commands: &[String]) {
    for command in commands {
        let args = split(command);
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let reply = conn.call(&args);
        assert!(
            !reply.starts_with(b"-"),
            "`{command}`: {}",
            String::from_utf8_lossy(&reply)
        );
    }
}

fn info_field(port: u16, name: &str) -> String {
    let text = command_text(port, &["INFO", "replication"]);
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_default()
        .trim()
        .to_string()
}
