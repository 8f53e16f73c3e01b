//! Sorted sets and geo against a real `redis-server` 7.0: the same command stream sent to both
//! (raw replies compared byte for byte, in RESP2 and RESP3), DUMP payloads of sets built by
//! commands restored across the two in both directions, and CROSSSLOT for the multi-key forms
//! in cluster mode.
//!
//! The stream stays where Redis's answers are deterministic: no ZRANDMEMBER below the set's
//! size, ZSCAN only of sets Redis keeps as listpacks (a skiplist scans in hash-table order).

mod common;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// Hand-picked cases, one command a line: every command's errors, empty results, key deletion,
/// score printing, lex ranges, encodings and thresholds.
const CASES: &str = include_str!("types_interop/zset_cases.txt");

/// Geo cases: every command's errors, units, stores, sorts and the unsorted walk order.
const GEO_CASES: &str = include_str!("types_interop/geo_cases.txt");

/// Generated geo commands from a fixed seed: points worldwide and in two clusters, searches
/// by radius and box in every unit, sorted or in walk order, COUNT, ANY, stores.
fn generated_geo_commands() -> Vec<String> {
    let mut x: u64 = 0x5851_f42d_4c95_7f2d;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let point = |n: &mut dyn FnMut(u64) -> u64| {
        let frac = |n: &mut dyn FnMut(u64) -> u64| n(1_000_000) as f64 / 1e6;
        match n(3) {
            0 => format!(
                "{:.6} {:.6}",
                frac(n) * 360.0 - 180.0,
                frac(n) * 170.0 - 85.0
            ),
            1 => format!("{:.6} {:.6}", 12.0 + frac(n) * 4.0, 36.0 + frac(n) * 4.0),
            _ => format!("{:.5} {:.5}", frac(n) * 2.0 - 1.0, frac(n) * 2.0 - 1.0),
        }
    };
    const OPTIONS: [&str; 10] = [
        "",
        "ASC",
        "DESC",
        "WITHDIST",
        "WITHHASH ASC",
        "WITHDIST DESC",
        "COUNT 3",
        "COUNT 5 ANY",
        "COUNT 2 DESC WITHDIST",
        "WITHDIST WITHHASH",
    ];
    const RADII: [&str; 8] = [
        "100 m",
        "5000 m",
        "3000000 m",
        "1 km",
        "300 km",
        "5000 km",
        "100 mi",
        "1000000 ft",
    ];
    let mut out = Vec::new();
    for _ in 0..1500 {
        let key = ["geo1", "geo2"][next(2) as usize];
        let radius = RADII[next(8) as usize];
        let options = OPTIONS[next(10) as usize];
        let command = match next(11) {
            0..=4 => {
                let points: Vec<String> = (0..1 + next(15))
                    .map(|_| format!("{} p{}", point(&mut next), next(300)))
                    .collect();
                format!("GEOADD {key} {}", points.join(" "))
            }
            5 => format!(
                "GEOSEARCH {key} FROMLONLAT {} BYRADIUS {radius} {options}",
                point(&mut next)
            ),
            6 => {
                let (size, unit) = radius.split_once(' ').expect("a unit");
                let member = next(300);
                format!("GEOSEARCH {key} FROMMEMBER p{member} BYBOX {size} {size} {unit} {options}")
            }
            7 => format!("GEORADIUSBYMEMBER {key} p{} {radius} {options}", next(300)),
            8 => format!("GEORADIUS {key} {} {radius} {options}", point(&mut next)),
            9 => format!("GEODIST {key} p{} p{} km", next(300), next(300)),
            _ => format!(
                "GEOSEARCHSTORE gs {key} FROMLONLAT {} BYRADIUS {radius} STOREDIST",
                point(&mut next)
            ),
        };
        out.push(command);
    }
    out.push("ZRANGE gs 0 -1 WITHSCORES".into());
    out.push("GEOHASH geo1 p1 p2 p3 p4 p5".into());
    out
}

/// Generated ZADD-heavy commands over three keys, from a fixed seed: the sets cross the
/// listpack limit both ways, and every range, pop and algebra form reads them.
fn generated_commands() -> Vec<String> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    const SCORES: [&str; 12] = [
        "1", "2", "-3", "0.5", "1.1", "1e3", "-0", "inf", "-inf", "3.14159", "-7", "0.333",
    ];
    const BOUNDS: [&str; 11] = [
        "-inf", "+inf", "(1", "1", "(0", "0", "5", "(5", "-5", "2.5", "(2.5",
    ];
    const ADD_OPTIONS: [&str; 8] = ["", "NX", "XX", "GT", "LT", "CH", "GT CH", "XX LT CH"];
    let keys = ["g1", "g2", "g3"];
    let mut out = Vec::new();
    for _ in 0..3000 {
        let k = keys[next(3) as usize];
        let o = keys[next(3) as usize];
        let command = match next(30) {
            0..=7 => {
                let options = ADD_OPTIONS[next(8) as usize];
                let pairs: Vec<String> = (0..5 + next(20))
                    .map(|_| format!("{} {}", SCORES[next(12) as usize], m(next(300))))
                    .collect();
                format!("ZADD {k} {options} {}", pairs.join(" "))
            }
            8 => format!("ZINCRBY {k} {} {}", SCORES[next(12) as usize], m(next(300))),
            9 => format!("ZREM {k} {} {}", m(next(300)), m(next(300))),
            10 => format!(
                "ZRANGE {k} {} {} WITHSCORES",
                next(40) as i64 - 20,
                next(40) as i64 - 20
            ),
            11 => format!(
                "ZRANGEBYSCORE {k} {} {} WITHSCORES LIMIT {} {}",
                BOUNDS[next(11) as usize],
                BOUNDS[next(11) as usize],
                next(5),
                next(11) as i64 - 1
            ),
            12 => format!(
                "ZREVRANGEBYSCORE {k} {} {}",
                BOUNDS[next(11) as usize],
                BOUNDS[next(11) as usize]
            ),
            13 => format!("ZRANK {k} {}", m(next(300))),
            14 => format!("ZREVRANK {k} {}", m(next(300))),
            15 => format!(
                "ZCOUNT {k} {} {}",
                BOUNDS[next(11) as usize],
                BOUNDS[next(11) as usize]
            ),
            16 => format!("ZMSCORE {k} {} {}", m(next(300)), m(next(300))),
            17 => format!("ZPOPMIN {k} {}", next(3)),
            18 => format!("ZPOPMAX {k}"),
            19 => format!(
                "ZMPOP 2 {k} {o} {} COUNT {}",
                ["MIN", "MAX"][next(2) as usize],
                next(3) + 1
            ),
            20 => format!(
                "ZUNIONSTORE g4 2 {k} {o} WEIGHTS {} {} AGGREGATE {}",
                ["1", "2", "0.5"][next(3) as usize],
                ["1", "-1", "3"][next(3) as usize],
                ["SUM", "MIN", "MAX"][next(3) as usize]
            ),
            21 => format!("ZINTER 2 {k} {o} WITHSCORES"),
            22 => format!("ZDIFF 2 {k} {o} WITHSCORES"),
            23 => format!("ZCARD {k}"),
            24 => format!(
                "OBJECT ENCODING {}",
                ["g1", "g2", "g3", "g4", "g5"][next(5) as usize]
            ),
            25 => format!(
                "ZREMRANGEBYSCORE {k} {} {}",
                BOUNDS[next(11) as usize],
                BOUNDS[next(11) as usize]
            ),
            26 => format!(
                "ZREMRANGEBYRANK {k} {} {}",
                next(10) as i64 - 5,
                next(10) as i64 - 5
            ),
            27 => format!(
                "ZRANGE {k} {} {} BYSCORE REV LIMIT {} {} WITHSCORES",
                BOUNDS[next(11) as usize],
                BOUNDS[next(11) as usize],
                next(3),
                next(6) as i64 - 1
            ),
            28 => format!(
                "ZRANGESTORE g5 {k} {} {}",
                next(40) as i64 - 20,
                next(220) as i64 - 20
            ),
            _ => format!("ZINTERCARD 2 {k} {o} LIMIT {}", next(5)),
        };
        out.push(command);
    }
    out
}

fn m(n: u64) -> String {
    format!("m{n}")
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

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[test]
fn sorted_sets_match_redis_server_byte_for_byte() {
    let dir = TestDir::new("zsets-diff");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    compare(&mut ours, &mut redis, &lines(CASES));
    let generated = generated_commands();
    compare(&mut ours, &mut redis, &generated);
    // RESP3: doubles, [member, score] pairs, nulls; the same cases and stream again.
    for conn in [&mut ours, &mut redis] {
        conn.call(&[b"HELLO", b"3"]);
        conn.call(&[b"FLUSHALL"]);
    }
    compare(&mut ours, &mut redis, &lines(CASES));
    compare(&mut ours, &mut redis, &generated[..1000]);
}

#[test]
fn geo_matches_redis_server_byte_for_byte() {
    let dir = TestDir::new("geo-diff");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis_port, &[]) else {
        panic!("redis-server is needed for the differential test");
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    compare(&mut ours, &mut redis, &lines(GEO_CASES));
    compare(&mut ours, &mut redis, &generated_geo_commands());
}

/// Sorted sets built by commands, DUMPed by one server, RESTOREd by the other with the same
/// replies and encoding.
#[test]
fn zsets_dump_and_restore_cross_between_clusterlab_and_redis_server() {
    let dir = TestDir::new("zsets-dump");
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
    let mut big = vec!["ZADD".to_string(), "zbig".into()];
    for i in 0..300 {
        big.push(format!("{}.25", i % 50));
        big.push(format!("member-{i}"));
    }
    let setup: Vec<Vec<String>> = vec![
        "ZADD zsmall 1 a 2.5 b -3 c 1e20 d inf e -inf f 123456789012345678 g"
            .split(' ')
            .map(String::from)
            .collect(),
        "ZINCRBY zsmall 0.1 a"
            .split(' ')
            .map(String::from)
            .collect(),
        vec![
            "ZADD".into(),
            "zlong".into(),
            "1".into(),
            long,
            "2".into(),
            "x".into(),
        ],
        big,
        "ZUNIONSTORE zstore 2 zsmall zlong WEIGHTS 2 3"
            .split(' ')
            .map(String::from)
            .collect(),
    ];
    let keys = ["zsmall", "zlong", "zbig", "zstore"];
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
        for key in keys {
            let dumped = from.call(&[b"DUMP", key.as_bytes()]);
            let payload = bulk_body(&dumped);
            let restored = to.call(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
            assert_eq!(restored, b"+OK\r\n", "{key}");
            let read = [&b"ZRANGE"[..], key.as_bytes(), b"0", b"-1", b"WITHSCORES"];
            assert_eq!(from.call(&read), to.call(&read), "{key}");
            let encoding = [&b"OBJECT"[..], b"ENCODING", key.as_bytes()];
            assert_eq!(from.call(&encoding), to.call(&encoding), "{key}");
        }
    }
}

fn bulk_body(raw: &[u8]) -> Vec<u8> {
    let header_end = raw.iter().position(|&b| b == b'\n').expect("a bulk header") + 1;
    raw[header_end..raw.len() - 2].to_vec()
}

#[test]
fn zset_multi_key_forms_across_slots_are_crossslot_in_cluster_mode() {
    let dir = TestDir::new("zsets-crossslot");
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
    let across: [&[&[u8]]; 9] = [
        &[b"ZUNIONSTORE", b"d", b"2", b"a", b"b"],
        &[b"ZINTERSTORE", b"{a}d", b"1", b"b"],
        &[b"ZDIFF", b"2", b"a", b"b"],
        &[b"ZINTER", b"2", b"a", b"b"],
        &[b"ZINTERCARD", b"2", b"a", b"b"],
        &[b"ZMPOP", b"2", b"a", b"b", b"MIN"],
        &[b"ZRANGESTORE", b"a", b"b", b"0", b"-1"],
        &[
            b"GEOSEARCHSTORE",
            b"a",
            b"b",
            b"FROMLONLAT",
            b"1",
            b"1",
            b"BYRADIUS",
            b"1",
            b"m",
        ],
        &[b"GEORADIUS", b"a", b"1", b"1", b"5", b"km", b"STORE", b"b"],
    ];
    for args in across {
        assert_eq!(conn.call(args), crossslot, "{args:?}");
    }
    assert_eq!(conn.call(&[b"ZADD", b"{t}a", b"1", b"x"]), b":1\r\n");
    assert_eq!(
        conn.call(&[b"ZUNIONSTORE", b"{t}d", b"2", b"{t}a", b"{t}b"]),
        b":1\r\n"
    );
    assert_eq!(
        conn.call(&[b"ZMPOP", b"2", b"{t}b", b"{t}d", b"MAX"]),
        b"*2\r\n$4\r\n{t}d\r\n*1\r\n*2\r\n$1\r\nx\r\n$1\r\n1\r\n"
    );
}

/// A replica gets sorted sets both ways a replica can: in its full sync (RESTORE payloads) and
/// in the write stream after it (the propagated forms: ZMPOP as ZPOPMIN/ZPOPMAX, GEOADD as
/// ZADD, …). Master and replica then answer every read the same.
#[test]
fn a_replica_receives_sorted_sets_by_full_sync_and_by_stream() {
    let dir = TestDir::new("zsets-replica");
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
    let mut big = String::from("ZADD {t}big");
    for i in 0..200 {
        big.push_str(&format!(" {}.5 m{i}", i % 17));
    }
    let before_sync = [
        "ZADD {t}z 1 a 2 b 3 c 4 d 5 e",
        big.as_str(),
        "GEOADD {t}g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
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
        "ZINCRBY {t}z 0.1 a",
        "ZADD {t}z GT CH 9 b 0 c",
        "ZPOPMIN {t}z",
        "ZMPOP 2 {t}none {t}z MAX COUNT 2",
        "ZPOPMAX {t}big 3",
        "ZREMRANGEBYSCORE {t}big (3 5",
        "ZREMRANGEBYRANK {t}big 0 4",
        "ZUNIONSTORE {t}u 2 {t}z {t}big WEIGHTS 2 0.5 AGGREGATE MAX",
        "ZRANGESTORE {t}r {t}big (1 +inf BYSCORE LIMIT 2 10",
        "GEOADD {t}g 2.349014 48.864716 Paris",
        "GEOSEARCHSTORE {t}gs {t}g FROMMEMBER Palermo BYRADIUS 300 km STOREDIST",
    ];
    run_all(&mut master, &after_sync);
    assert_eq!(master.call(&[b"WAIT", b"1", b"5000"]), b":1\r\n");
    assert_eq!(replica.call(&[b"READONLY"]), ok);
    assert_eq!(
        String::from_utf8_lossy(&replica.call(&[b"ZRANGE", b"{t}z", b"0", b"-1", b"WITHSCORES"])),
        "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"
    );
    let reads = [
        "ZRANGE {t}z 0 -1 WITHSCORES",
        "ZRANGE {t}big 0 -1 WITHSCORES",
        "ZRANGE {t}u 0 -1 WITHSCORES",
        "ZRANGE {t}r 0 -1 WITHSCORES",
        "ZRANGE {t}g 0 -1 WITHSCORES",
        "ZRANGE {t}gs 0 -1 WITHSCORES",
        "OBJECT ENCODING {t}big",
        "OBJECT ENCODING {t}u",
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
