//! Streams against a real `redis-server` 7.0: the same commands sent to both (raw replies
//! compared byte for byte, RESP2 and RESP3, DUMP payloads included, which shows the entries
//! sit in the same listpack nodes, tombstones and all), DUMP payloads restored across in both
//! directions, the forms written to a replica's stream (read off a raw `PSYNC` connection),
//! a blocked XREAD woken by an XADD, and XADD's `*` IDs (shape only: the clocks differ).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

const CASES: &str = include_str!("types_interop/stream_cases.txt");

/// Consumer groups: every command's errors, deliveries, history, claims, acknowledgements.
const GROUP_CASES: &str = include_str!("types_interop/stream_group_cases.txt");

/// redis-server with its defaults (`rdbcompression yes`: DUMP compares LZF-compressed
/// listpacks), full syncs at once.
const REDIS_ARGS: &[&str] = &["--repl-diskless-sync-delay", "0"];
const OURS_CONF: &str = "cluster-enabled no\nrepl-diskless-sync-delay 0";

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Generated commands over three keys from a fixed seed: explicit growing IDs (some with
/// `<ms>-*`), repeated or fresh field sets, trims of both kinds exact and approximate, deletes
/// that leave tombstones and empty nodes, every read, and DUMP of each key now and then.
fn generated_commands() -> Vec<String> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let keys = ["x1", "x2", "x3"];
    let mut ms = [1u64; 3];
    let mut out = Vec::new();
    for _ in 0..2500 {
        let k = next(3) as usize;
        let key = keys[k];
        let near = |n: u64, ms: u64| ms.saturating_sub(n);
        let command = match next(24) {
            0..=9 => {
                ms[k] += next(3);
                let id = match next(4) {
                    0 => format!("{}-*", ms[k]),
                    1 => format!("{}", ms[k] + 1),
                    _ => format!("{}-{}", ms[k], next(5) + 1),
                };
                let fields = match next(3) {
                    0 => "name alice age 30".to_string(),
                    1 => format!("name n{} age {}", next(100), next(1000)),
                    _ => format!(
                        "f{} {} long {}",
                        next(4),
                        next(100_000),
                        "v".repeat(next(90) as usize)
                    ),
                };
                let trim = match next(8) {
                    0 => format!("MAXLEN ~ {} ", next(60)),
                    1 => format!("MAXLEN {} ", next(60) + 5),
                    2 => format!("MINID ~ {} ", near(next(40), ms[k])),
                    3 => format!("MAXLEN ~ {} LIMIT {} ", next(30), next(20)),
                    _ => String::new(),
                };
                format!("XADD {key} {trim}{id} {fields}")
            }
            10 | 11 => format!(
                "XDEL {key} {}-{} {}-{}",
                near(next(30), ms[k]),
                next(6),
                near(next(30), ms[k]),
                next(6)
            ),
            12 => format!("XTRIM {key} MAXLEN ~ {}", next(50)),
            13 => format!("XTRIM {key} MINID {}", near(next(50), ms[k])),
            14 => format!("XTRIM {key} MAXLEN = {}", next(50) + 10),
            15 => format!("XRANGE {key} {} + COUNT {}", near(next(40), ms[k]), next(6)),
            16 => format!(
                "XREVRANGE {key} + ({} COUNT {}",
                near(next(40), ms[k]),
                next(6)
            ),
            17 => format!("XRANGE {key} - +"),
            18 => format!("XLEN {key}"),
            19 => format!(
                "XREAD COUNT {} STREAMS {key} {} {}-{}",
                next(5),
                keys[next(3) as usize],
                near(next(20), ms[k]),
                next(3)
            ),
            20 | 21 => format!("DUMP {key}"),
            22 if next(2) == 0 => format!("DEBUG DIGEST-VALUE {key}"),
            22 => format!("XINFO STREAM {key}"),
            _ if next(2) == 0 => format!("MEMORY USAGE {key} SAMPLES {}", next(3)),
            _ => format!("XREVRANGE {key} + - COUNT 1"),
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

fn both(ours: &mut RespConn, redis: &mut RespConn, command: &str) {
    let args: Vec<&[u8]> = command.split_whitespace().map(str::as_bytes).collect();
    assert_eq!(ours.call(&args), redis.call(&args), "`{command}`");
}

fn start_pair(name: &str) -> (TestDir, NodeProcess, RedisServer, RespConn, RespConn) {
    let dir = TestDir::new(name);
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(redis) = RedisServer::start(redis_port, REDIS_ARGS) else {
        panic!("redis-server is needed for the differential test");
    };
    let node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, OURS_CONF);
    let ours = RespConn::connect(ours_port);
    let redis_conn = RespConn::connect(redis_port);
    (dir, node, redis, ours, redis_conn)
}

#[test]
fn streams_match_redis_server_byte_for_byte() {
    let (_dir, _node, _redis, mut ours, mut redis) = start_pair("streams-diff");
    compare(&mut ours, &mut redis, &lines(CASES));
    both(&mut ours, &mut redis, "FLUSHALL");
    compare(&mut ours, &mut redis, &lines(GROUP_CASES));
    let generated = generated_commands();
    both(&mut ours, &mut redis, "FLUSHALL");
    compare(&mut ours, &mut redis, &generated);
    // Small nodes: many node boundaries, approximate trims that take some, tombstones.
    both(&mut ours, &mut redis, "FLUSHALL");
    both(
        &mut ours,
        &mut redis,
        "CONFIG SET stream-node-max-entries 7",
    );
    both(
        &mut ours,
        &mut redis,
        "CONFIG SET stream-node-max-bytes 300",
    );
    compare(&mut ours, &mut redis, &generated);
    both(&mut ours, &mut redis, "DEBUG DIGEST");
    // RESP3: XREAD's map; the same cases again.
    for conn in [&mut ours, &mut redis] {
        conn.call(&[b"HELLO", b"3"]);
        conn.call(&[b"FLUSHALL"]);
        conn.call(&[b"CONFIG", b"SET", b"stream-node-max-entries", b"100"]);
        conn.call(&[b"CONFIG", b"SET", b"stream-node-max-bytes", b"4096"]);
    }
    compare(&mut ours, &mut redis, &lines(CASES));
    compare(&mut ours, &mut redis, &generated[..800]);
}

fn bulk_body(raw: &[u8]) -> Vec<u8> {
    let header_end = raw.iter().position(|&b| b == b'\n').expect("a bulk header") + 1;
    raw[header_end..raw.len() - 2].to_vec()
}

/// Streams built by commands on one server, DUMPed, RESTOREd on the other: the same entries,
/// the same XLEN, and the same payload DUMPed back.
#[test]
fn stream_dumps_restore_across_both_ways() {
    let (_dir, _node, _redis, mut ours, mut redis) = start_pair("streams-dump");
    let setup = [
        "XADD a 1-1 f v",
        "XADD b 5 name x age 1",
        "XADD b 6 name y age 2",
        "XADD b 7 other z",
        "XDEL b 6-0",
        "XSETID b 9 ENTRIESADDED 12 MAXDELETEDID 8",
        "XADD e 3 a 1",
        "XDEL e 3-0",
        "XGROUP CREATE b g 0",
        "XREADGROUP GROUP g alice COUNT 1 STREAMS b >",
        "XGROUP CREATE b g2 $ ENTRIESREAD 5",
        "XGROUP CREATECONSUMER b g bob",
        "XGROUP CREATE e g 0",
    ];
    let mut big: Vec<String> = (1..=450)
        .map(|i| {
            format!(
                "XADD big {i}-{} k{} {} shared {}",
                i % 3,
                i % 4,
                i * 7,
                "w".repeat(i % 60)
            )
        })
        .collect();
    big.push("XTRIM big MAXLEN ~ 300".into());
    big.push("XDEL big 200-2 201-0 350-2".into());
    let keys = ["a", "b", "e", "big"];
    let mut servers = [&mut ours, &mut redis];
    for direction in 0..2 {
        let [first, second] = &mut servers;
        let (from, to) = if direction == 0 {
            (first, second)
        } else {
            (second, first)
        };
        from.call(&[b"FLUSHALL"]);
        to.call(&[b"FLUSHALL"]);
        for command in setup
            .iter()
            .map(|s| s.to_string())
            .chain(big.iter().cloned())
        {
            let args: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
            let reply = from.call(&args);
            assert!(!reply.starts_with(b"-"), "`{command}`: {reply:?}");
        }
        for key in keys {
            let dumped = from.call(&[b"DUMP", key.as_bytes()]);
            let payload = bulk_body(&dumped);
            let restored = to.call(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
            assert_eq!(String::from_utf8_lossy(&restored), "+OK\r\n", "{key}");
            assert_eq!(
                to.call(&[b"DUMP", key.as_bytes()]),
                dumped,
                "{key} dumped back"
            );
            let reads: [&[&[u8]]; 4] = [
                &[b"XRANGE", key.as_bytes(), b"-", b"+"],
                &[b"XLEN", key.as_bytes()],
                &[b"XPENDING", key.as_bytes(), b"g"],
                &[
                    b"XREADGROUP",
                    b"GROUP",
                    b"g",
                    b"alice",
                    b"STREAMS",
                    key.as_bytes(),
                    b"0",
                ],
            ];
            for read in reads {
                assert_eq!(from.call(read), to.call(read), "{key}");
            }
            assert_eq!(to.call(&[b"TYPE", key.as_bytes()]), b"+stream\r\n");
        }
        // The IDs kept: the next automatic sequence follows the last ID.
        let next = [&b"XADD"[..], b"b", b"9-*", b"f", b"v"];
        assert_eq!(from.call(&next), to.call(&next));
    }
}

/// A raw replica: `PSYNC ? -1`, the snapshot skipped, then the commands of the stream.
struct RawReplica {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawReplica {
    fn attach(port: u16) -> RawReplica {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        stream
            .write_all(b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
            .unwrap();
        let mut replica = RawReplica {
            stream,
            buf: Vec::new(),
        };
        let line = replica.line();
        assert!(line.starts_with("+FULLRESYNC"), "{line}");
        let mut size = replica.line();
        while size.is_empty() {
            size = replica.line();
        }
        let len: usize = size
            .trim_start_matches('$')
            .parse()
            .expect("a sized payload");
        replica.take(len);
        replica
    }

    fn fill(&mut self, deadline: Instant) {
        let mut chunk = [0u8; 4096];
        assert!(Instant::now() < deadline, "the stream stalled");
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("the master closed the link"),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }

    fn line(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return line;
            }
            // A keepalive newline before the payload.
            if self.buf.first() == Some(&b'\n') {
                self.buf.remove(0);
                return String::new();
            }
            self.fill(deadline);
        }
    }

    fn take(&mut self, len: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.buf.len() < len {
            self.fill(deadline);
        }
        self.buf.drain(..len).collect()
    }

    fn command(&mut self) -> Vec<String> {
        let count: usize = self
            .line()
            .trim_start_matches('*')
            .parse()
            .expect("an array");
        (0..count)
            .map(|_| {
                let len: usize = self.line().trim_start_matches('$').parse().expect("a bulk");
                let arg = String::from_utf8_lossy(&self.take(len)).into_owned();
                self.take(2);
                arg
            })
            .collect()
    }

    /// The commands up to `SET marker <tag>`, without PING and SELECT.
    fn commands_until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let command = self.command();
            let first = command[0].to_ascii_uppercase();
            if first == "SET" && command[1] == "marker" && command[2] == tag {
                return out;
            }
            if first != "PING" && first != "SELECT" {
                out.push(command.join(" "));
            }
        }
    }
}

/// What each server writes to its replicas for the same writes: XADD's chosen IDs made
/// concrete, approximate trims made exact.
#[test]
fn the_replication_stream_carries_redis_forms() {
    let (_dir, node, redis, mut ours, mut redis_conn) = start_pair("streams-propagate");
    let mut ours_replica = RawReplica::attach(node.port);
    let mut redis_replica = RawReplica::attach(redis.port);
    let writes = [
        "CONFIG SET stream-node-max-entries 4",
        "XADD s 1-1 a 1",
        "XADD s 1-* a 2",
        "XADD s 2 a 3",
        "XADD s 3-* b 1 c 2",
        "XADD s 3 b 1",
        "XADD s 4-7 a 1",
        "XADD s 5-0 a 1",
        "XADD s MAXLEN ~ 3 6-* a 1",
        "XADD s MAXLEN ~ 3 LIMIT 1 7-* a 1",
        "XADD s MINID ~ 6 8-* a 1",
        "XADD s MAXLEN = 20 9-* a 1",
        "XADD none NOMKSTREAM 1 a 1",
        "XDEL s 7-0 9-0 99",
        "XDEL s 99",
        "XTRIM s MAXLEN ~ 1",
        "XTRIM s MINID ~ 100",
        "XTRIM s MAXLEN 0",
        "XTRIM s MAXLEN 0",
        "XSETID s 20",
        "XADD s 20-5 a 1",
        "XREAD STREAMS s 0",
        "XADD s 21 a 1",
        "XADD s 22 a 1",
        "XADD s 23 a 1",
        "XADD s 24 a 1",
        "XGROUP CREATE s g 0",
        "XGROUP CREATE s g2 $ ENTRIESREAD 2",
        "XGROUP CREATE m g $ MKSTREAM",
        "XREADGROUP GROUP g c1 COUNT 2 STREAMS s >",
        "XREADGROUP GROUP g c2 NOACK COUNT 1 STREAMS s >",
        "XREADGROUP GROUP g c3 NOACK COUNT 1 STREAMS s >",
        "XREADGROUP GROUP g c1 STREAMS s 0",
        "XACK s g 21-0 99",
        "XCLAIM s g c4 0 20-5 JUSTID",
        "XCLAIM s g c4 0 24-0 FORCE RETRYCOUNT 5",
        "XCLAIM s g c4 0 99 LASTID 30",
        "XDEL s 24-0",
        "XAUTOCLAIM s g c5 0 0",
        "XGROUP SETID s g 22-0 ENTRIESREAD 3",
        "XGROUP CREATECONSUMER s g c9",
        "XGROUP DELCONSUMER s g c9",
        "XGROUP DESTROY s g2",
        "XGROUP DESTROY s g2",
    ];
    for conn in [&mut ours, &mut redis_conn] {
        for write in writes {
            let args: Vec<&[u8]> = write.split(' ').map(str::as_bytes).collect();
            conn.call(&args);
        }
        conn.call(&[b"SET", b"marker", b"end"]);
    }
    // XCLAIM's TIME is each server's clock.
    let masked = |commands: Vec<String>| -> Vec<String> {
        let mask = |c: String| {
            let mut words: Vec<String> = c.split(' ').map(String::from).collect();
            if words[0] == "XCLAIM" && words.len() > 7 && words[6] == "TIME" {
                words[7] = "<time>".into();
            }
            words.join(" ")
        };
        commands.into_iter().map(mask).collect()
    };
    let got = masked(ours_replica.commands_until("end"));
    let expected = masked(redis_replica.commands_until("end"));
    assert_eq!(got, expected);
    for form in [
        "XADD s MAXLEN = 3 6-0 a 1",
        "XTRIM s MINID = 18446744073709551615-18446744073709551615",
        "XCLAIM s g c1 0 21-0 TIME <time> RETRYCOUNT 1 FORCE JUSTID LASTID 21-0",
        "XGROUP SETID s g 22-0 ENTRIESREAD 13",
        "XGROUP CREATECONSUMER s g c2",
        "XCLAIM s g c4 0 24-0 TIME <time> RETRYCOUNT 5 FORCE JUSTID LASTID 23-0",
    ] {
        assert!(got.iter().any(|c| c == form), "{form}: {got:?}");
    }
}

/// XREAD BLOCK on two connections each: the blocked reply when an XADD comes, a timeout's
/// null, and `$` taken when it blocked.
#[test]
fn a_blocked_xread_is_woken_the_same_way() {
    let (_dir, node, redis, mut ours, mut redis_conn) = start_pair("streams-block");
    let mut waiter_ours = RespConn::connect(node.port);
    let mut waiter_redis = RespConn::connect(redis.port);
    for protocol in ["2", "3"] {
        let mut replies = Vec::new();
        for (waiter, writer) in [
            (&mut waiter_ours, &mut ours),
            (&mut waiter_redis, &mut redis_conn),
        ] {
            waiter.call(&[b"HELLO", protocol.as_bytes()]);
            writer.call(&[b"DEL", b"s"]);
            writer.call(&[b"XADD", b"s", b"1-1", b"old", b"x"]);
            waiter.send(&[
                b"XREAD", b"BLOCK", b"0", b"STREAMS", b"other", b"s", b"0", b"$",
            ]);
            wait_for_blocked(writer);
            writer.call(&[b"XADD", b"s", b"1-2", b"new", b"y"]);
            let woken = waiter.read();
            let timed_out = waiter.call(&[b"XREAD", b"BLOCK", b"50", b"STREAMS", b"s", b"$"]);
            // A consumer waiting for new entries, then its group destroyed under it.
            writer.call(&[b"XGROUP", b"CREATE", b"s", b"g", b"$"]);
            waiter.send(&[
                b"XREADGROUP",
                b"GROUP",
                b"g",
                b"c",
                b"BLOCK",
                b"0",
                b"STREAMS",
                b"s",
                b">",
            ]);
            wait_for_blocked(writer);
            writer.call(&[b"XADD", b"s", b"1-3", b"more", b"z"]);
            let delivered = waiter.read();
            let pending = writer.call(&[b"XPENDING", b"s", b"g"]);
            waiter.send(&[
                b"XREADGROUP",
                b"GROUP",
                b"g",
                b"c",
                b"BLOCK",
                b"0",
                b"STREAMS",
                b"s",
                b">",
            ]);
            wait_for_blocked(writer);
            writer.call(&[b"XGROUP", b"DESTROY", b"s", b"g"]);
            let gone = waiter.read();
            // Then the stream itself deleted under a waiting consumer.
            writer.call(&[b"XGROUP", b"CREATE", b"s", b"g", b"$"]);
            waiter.send(&[
                b"XREADGROUP",
                b"GROUP",
                b"g",
                b"c",
                b"BLOCK",
                b"0",
                b"STREAMS",
                b"s",
                b">",
            ]);
            wait_for_blocked(writer);
            writer.call(&[b"DEL", b"s"]);
            let deleted = waiter.read();
            replies.push((
                woken,
                [timed_out, delivered, pending, gone, deleted].concat(),
            ));
        }
        assert_eq!(
            String::from_utf8_lossy(&replies[0].0),
            String::from_utf8_lossy(&replies[1].0),
            "RESP{protocol}"
        );
        assert_eq!(
            String::from_utf8_lossy(&replies[0].1),
            String::from_utf8_lossy(&replies[1].1),
            "RESP{protocol}: timeout, group delivery, pending, group destroyed"
        );
    }
}

fn wait_for_blocked(conn: &mut RespConn) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = String::from_utf8_lossy(&conn.call(&[b"INFO", b"clients"])).into_owned();
        if info.contains("blocked_clients:1\r\n") {
            return;
        }
        assert!(Instant::now() < deadline, "no client blocked: {info}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `*` takes each server's clock: the same shape, `<ms>-0` then `<ms>-1` within a second.
#[test]
fn automatic_ids_have_the_same_shape() {
    let (_dir, _node, _redis, mut ours, mut redis) = start_pair("streams-auto");
    let mut firsts = Vec::new();
    for conn in [&mut ours, &mut redis] {
        let first =
            String::from_utf8_lossy(&bulk_body(&conn.call(&[b"XADD", b"s", b"*", b"a", b"1"])))
                .into_owned();
        let (ms, seq) = first.split_once('-').expect("an ID");
        assert_eq!(seq, "0");
        let ms: u64 = ms.parse().expect("milliseconds");
        let next = conn.call(&[b"XADD", b"s", format!("{ms}-*").as_bytes(), b"a", b"2"]);
        assert_eq!(
            String::from_utf8_lossy(&bulk_body(&next)),
            format!("{ms}-1")
        );
        firsts.push(ms);
    }
    assert!(firsts[0].abs_diff(firsts[1]) < 5_000, "{firsts:?}");
}

/// Streams a `dump.rdb` holds: what redis-server saved loads here with the same digest and
/// payloads, what we saved loads into redis-server alike, and an AOF rewritten without the RDB
/// preamble (RESTORE commands) restarts us with the same streams.
#[test]
fn streams_cross_in_rdb_files_and_survive_an_aof_rewrite() {
    let dir = TestDir::new("streams-rdb");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let path = dir.path.display().to_string();
    let redis_args = ["--dir", path.as_str(), "--enable-debug-command", "yes"];
    let mut writes: Vec<String> = (1..=250)
        .map(|i| format!("XADD big {i} k{} {} same x", i % 3, i * 11))
        .collect();
    writes.extend(
        [
            "XDEL big 5 6 100",
            "XTRIM big MAXLEN ~ 200",
            "XADD small 1-1 a 1",
            "XSETID small 9 ENTRIESADDED 4 MAXDELETEDID 3",
            "XADD empty 1 a 1",
            "XDEL empty 1",
        ]
        .map(String::from),
    );
    let reads = [
        "DEBUG DIGEST",
        "DUMP big",
        "DUMP small",
        "DUMP empty",
        "DBSIZE",
    ];
    let snapshot = |conn: &mut RespConn| -> Vec<Vec<u8>> {
        let call = |conn: &mut RespConn, c: &str| {
            let args: Vec<&[u8]> = c.split(' ').map(str::as_bytes).collect();
            conn.call(&args)
        };
        reads.iter().map(|r| call(conn, r)).collect()
    };
    let expected;
    {
        let _redis = RedisServer::start(redis_port, &redis_args).expect("redis-server");
        let mut redis = RespConn::connect(redis_port);
        for w in &writes {
            let args: Vec<&[u8]> = w.split(' ').map(str::as_bytes).collect();
            assert!(!redis.call(&args).starts_with(b"-"), "{w}");
        }
        expected = snapshot(&mut redis);
        assert_eq!(redis.call(&[b"SAVE"]), b"+OK\r\n");
    }
    let conf = "cluster-enabled no\nenable-debug-command yes\nappendonly no";
    {
        let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, conf);
        let mut ours = RespConn::connect(ours_port);
        assert_eq!(
            snapshot(&mut ours),
            expected,
            "redis-server's file loaded here"
        );
        std::fs::remove_file(dir.join("dump.rdb")).unwrap();
        assert_eq!(ours.call(&[b"SAVE"]), b"+OK\r\n");
    }
    {
        let _redis = RedisServer::start(redis_port, &redis_args).expect("redis-server");
        let mut redis = RespConn::connect(redis_port);
        assert_eq!(snapshot(&mut redis), expected, "our file loaded there");
    }
    let aof_conf = "cluster-enabled no\nenable-debug-command yes\nappendonly yes\n\
                    aof-use-rdb-preamble no\nappenddirname aofdir\ndbfilename none.rdb";
    {
        let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, aof_conf);
        let mut ours = RespConn::connect(ours_port);
        for w in &writes {
            let args: Vec<&[u8]> = w.split(' ').map(str::as_bytes).collect();
            ours.call(&args);
        }
        let reply = ours.call(&[b"BGREWRITEAOF"]);
        assert!(reply.starts_with(b"+Background"), "{reply:?}");
        wait_until(Duration::from_secs(10), "the rewrite", || {
            command_text(ours_port, &["INFO", "persistence"]).contains("aof_rewrite_in_progress:0")
        });
        ours.call(&[b"XADD", b"small", b"10", b"after", b"rewrite"]);
        ours.call(&[b"XDEL", b"small", b"10"]);
    }
    let _node = NodeProcess::start_from_existing_conf(&dir.path, ours_port);
    let mut ours = RespConn::connect(ours_port);
    let mut after = snapshot(&mut ours);
    // XADD then XDEL moved small's last ID and counters on, as on redis-server.
    let mut redis_after;
    {
        let _redis = RedisServer::start(redis_port, &redis_args).expect("redis-server");
        let mut redis = RespConn::connect(redis_port);
        redis.call(&[b"XADD", b"small", b"10", b"after", b"rewrite"]);
        redis.call(&[b"XDEL", b"small", b"10"]);
        redis_after = snapshot(&mut redis);
    }
    assert_eq!(after.remove(0), redis_after.remove(0), "digest");
    assert_eq!(after, redis_after);
}

/// In cluster mode XREAD and XREADGROUP's keys share one slot or the command is CROSSSLOT.
#[test]
fn stream_reads_across_slots_are_crossslot_in_cluster_mode() {
    let dir = TestDir::new("streams-crossslot");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let _node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "");
    let mut conn = RespConn::connect(port);
    let slots = [&b"CLUSTER"[..], b"ADDSLOTSRANGE", b"0", b"16383"];
    assert_eq!(conn.call(&slots), b"+OK\r\n");
    wait_until(Duration::from_secs(10), "cluster state ok", || {
        cluster_info_field(port, "cluster_state") == "ok"
    });
    let crossslot = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    let across: [&[&[u8]]; 2] = [
        &[b"XREAD", b"STREAMS", b"a", b"b", b"0", b"0"],
        &[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            b"c",
            b"STREAMS",
            b"a",
            b"b",
            b">",
            b">",
        ],
    ];
    for args in across {
        assert_eq!(conn.call(args), crossslot, "{args:?}");
    }
    assert_eq!(
        conn.call(&[b"XADD", b"{t}a", b"1", b"f", b"v"]),
        b"$3\r\n1-0\r\n"
    );
    assert_eq!(
        conn.call(&[b"XREAD", b"STREAMS", b"{t}a", b"{t}b", b"0", b"0"]),
        b"*1\r\n*2\r\n$4\r\n{t}a\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
}
