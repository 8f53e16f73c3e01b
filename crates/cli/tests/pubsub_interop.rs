//! Pub/Sub against a real `redis-server` 7.0: the same subscribe, publish and introspection
//! sequence on both, every confirmation, message, push and reply compared byte for byte, in
//! RESP2 (with its subscribed context) and RESP3 (push frames).

mod common;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// One server's pair of connections: a subscriber and a publisher.
struct Side {
    sub: RespConn,
    publ: RespConn,
}

impl Side {
    fn new(port: u16) -> Side {
        Side {
            sub: RespConn::connect(port),
            publ: RespConn::connect(port),
        }
    }
}

/// A step: who sends what, and how many frames the subscriber then reads.
enum Step {
    /// The subscriber sends a command and reads this many frames.
    Sub(&'static str, usize),
    /// The publisher sends a command (one reply); the subscriber then reads this many frames.
    Pub(&'static str, usize),
}

fn args(line: &str) -> Vec<&[u8]> {
    line.split(' ').map(str::as_bytes).collect()
}

fn run(side: &mut Side, step: &Step) -> Vec<String> {
    let text = |raw: Vec<u8>| String::from_utf8_lossy(&raw).into_owned();
    let mut out = Vec::new();
    let reads = match step {
        Step::Sub(line, reads) => {
            side.sub.send(&args(line));
            *reads
        }
        Step::Pub(line, reads) => {
            out.push(text(side.publ.call(&args(line))));
            *reads
        }
    };
    for _ in 0..reads {
        out.push(text(side.sub.read()));
    }
    out
}

fn compare(ours: &mut Side, redis: &mut Side, steps: &[Step]) {
    for step in steps {
        let (got, want) = (run(ours, step), run(redis, step));
        let line = match step {
            Step::Sub(l, _) | Step::Pub(l, _) => l,
        };
        assert_eq!(got, want, "`{line}`");
    }
}

#[test]
fn pubsub_matches_redis_server_byte_for_byte() {
    let dir = TestDir::new("pubsub-diff");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let _redis = RedisServer::start(redis_port, &[]).expect("redis-server is needed");
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    let (mut ours, mut redis) = (Side::new(ours_port), Side::new(redis_port));
    compare(
        &mut ours,
        &mut redis,
        &[
            Step::Sub("SUBSCRIBE news sports", 2),
            Step::Sub("PSUBSCRIBE n*", 1),
            Step::Pub("PUBLISH news hello", 2),
            Step::Pub("PUBLISH nothing x", 1),
            Step::Pub("PUBLISH weather x", 0),
            Step::Sub("GET k", 1),
            Step::Sub("PING", 1),
            Step::Sub("PING hi", 1),
            // Redis lists several channels in hash-table order: one at a time here.
            Step::Pub("PUBSUB CHANNELS n*", 0),
            Step::Pub("PUBSUB CHANNELS s*", 0),
            Step::Pub("PUBSUB NUMSUB news sports none", 0),
            Step::Pub("PUBSUB NUMPAT", 0),
            Step::Pub("PUBSUB CHANNELS a b", 0),
            Step::Sub("UNSUBSCRIBE news", 1),
            Step::Sub("UNSUBSCRIBE nope", 1),
            Step::Sub("PUNSUBSCRIBE", 1),
            Step::Sub("UNSUBSCRIBE sports", 1),
            Step::Sub("UNSUBSCRIBE", 1),
            Step::Sub("GET k", 1),
            Step::Sub("SSUBSCRIBE orders", 1),
            Step::Pub("SPUBLISH orders o1", 1),
            Step::Pub("PUBSUB SHARDCHANNELS", 0),
            Step::Pub("PUBSUB SHARDNUMSUB orders", 0),
            Step::Sub("SUNSUBSCRIBE", 1),
            Step::Sub("SUBSCRIBE", 1),
        ],
    );
    // RESP3: confirmations and messages are push frames, and every command stays allowed.
    for side in [&mut ours, &mut redis] {
        side.sub.call(&[b"HELLO", b"3"]);
    }
    compare(
        &mut ours,
        &mut redis,
        &[
            Step::Sub("SUBSCRIBE news", 1),
            Step::Pub("PUBLISH news hello", 1),
            Step::Sub("GET k", 1),
            Step::Sub("PING", 1),
            Step::Sub("PSUBSCRIBE *", 1),
            Step::Pub("PUBLISH news again", 2),
            Step::Sub("UNSUBSCRIBE news", 1),
            Step::Sub("PUNSUBSCRIBE", 1),
        ],
    );
}

// ---- client limits (issue #22): output buffers, maxclients, bulk and query lengths, timeout --

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Payload of each flooding PUBLISH: big, so the kernel's socket buffers fill in few calls.
const FLOOD_PAYLOAD_BYTES: usize = 64 * 1024;
/// At most this many flooding publishes (64 MB) per case.
const FLOOD_PUBLISHES_MAX: usize = 1000;

fn config_set(port: u16, name: &str, value: &str) {
    assert_eq!(
        command_text(port, &["CONFIG", "SET", name, value]),
        "OK",
        "{name} {value}"
    );
}

/// A subscriber to `ch`, named `silent`, that never reads past its confirmation.
fn silent_subscriber(port: u16) -> TcpStream {
    use std::io::Read;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"CLIENT SETNAME silent\r\nSUBSCRIBE ch\r\n")
        .unwrap();
    let want = b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
    let mut got = vec![0u8; want.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
    stream
}

/// The silent subscriber's `CLIENT LIST` line, if it is still connected.
fn silent_line(port: u16) -> Option<String> {
    let list = command_text(port, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    list.lines()
        .find(|l| l.contains(" name=silent "))
        .map(String::from)
}

fn omem(line: &str) -> u64 {
    let field = line
        .split(' ')
        .find_map(|f| f.strip_prefix("omem="))
        .expect("omem field");
    field.parse().expect("omem number")
}

/// Publishes big messages until `done` says so; returns how many went out.
fn flood(publisher: &mut RespConn, mut done: impl FnMut(&[u8]) -> bool) -> usize {
    let payload = vec![b'x'; FLOOD_PAYLOAD_BYTES];
    for n in 1..=FLOOD_PUBLISHES_MAX {
        let reply = publisher.call(&[b"PUBLISH", b"ch", &payload]);
        if done(&reply) {
            return n;
        }
    }
    panic!("still not done after {FLOOD_PUBLISHES_MAX} publishes");
}

/// Hard limit: a subscriber that never reads is closed once its reply list passes 1 MB.
/// Returns how many megabytes went out before `PUBLISH` stopped counting it.
fn hard_limit_case(port: u16) -> usize {
    config_set(port, "client-output-buffer-limit", "pubsub 1mb 0 0");
    let mut silent = silent_subscriber(port);
    let mut publisher = RespConn::connect(port);
    let started = Instant::now();
    let publishes = flood(&mut publisher, |reply| reply == b":0\r\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5));
    assert!(closed, "the subscriber's connection was closed");
    publishes * FLOOD_PAYLOAD_BYTES / (1024 * 1024)
}

/// Soft limit of 1 s: the subscriber stays while over it for less, and is closed after.
/// Returns the ms between the fill and the close.
fn soft_limit_case(port: u16) -> u128 {
    config_set(port, "client-output-buffer-limit", "pubsub 0 512kb 1");
    let _silent = silent_subscriber(port);
    let mut publisher = RespConn::connect(port);
    flood(&mut publisher, |_| {
        std::thread::sleep(Duration::from_millis(2));
        silent_line(port).is_some_and(|l| omem(&l) >= 600_000)
    });
    let filled = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let line = silent_line(port).expect("still connected 300 ms over the soft limit");
    assert!(omem(&line) >= 512_000, "{line}");
    wait_until(
        Duration::from_secs(5),
        "the soft limit to close the subscriber",
        || silent_line(port).is_none(),
    );
    filled.elapsed().as_millis()
}

/// `maxclients 2` with two clients connected: a third is told so and closed.
fn maxclients_case(port: u16) -> (Vec<u8>, bool, String) {
    let mut first = RespConn::connect(port);
    wait_until(Duration::from_secs(5), "earlier connections gone", || {
        info_field(&mut first, "connected_clients") == "1"
    });
    first.call(&[b"CONFIG", b"SET", b"maxclients", b"2"]);
    let mut second = RespConn::connect(port);
    assert_eq!(second.call(&[b"PING"]), b"+PONG\r\n");
    let mut third = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (said, closed) = read_until_closed(&mut third, Duration::from_secs(5));
    let rejected = info_field(&mut first, "rejected_connections");
    first.call(&[b"CONFIG", b"SET", b"maxclients", b"10000"]);
    (said, closed, rejected)
}

fn info_field(conn: &mut RespConn, name: &str) -> String {
    let raw = conn.call(&[b"INFO", b"everything"]);
    let text = String::from_utf8_lossy(&raw);
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_default()
        .to_string()
}

/// Sends `request` raw (a refused write is fine: the server may close first) and returns
/// what came back and whether the server closed the connection.
fn raw_exchange(port: u16, request: &[u8]) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = stream.write_all(request);
    read_until_closed(&mut stream, Duration::from_secs(5))
}

/// `proto-max-bulk-len 1mb`: a bulk one byte longer is a protocol error; one at the limit is
/// taken. Then `client-query-buffer-limit 1mb`: 1.5 MB of a bigger bulk closes the client
/// without a reply.
fn lengths_case(port: u16) -> Vec<(Vec<u8>, bool)> {
    config_set(port, "proto-max-bulk-len", "1mb");
    let over = raw_exchange(port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n");
    let mut at_limit = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n".to_vec();
    at_limit.extend(std::iter::repeat_n(b'v', 1048576));
    at_limit.extend_from_slice(b"\r\n*1\r\n$4\r\nQUIT\r\n");
    let taken = raw_exchange(port, &at_limit);
    config_set(port, "proto-max-bulk-len", "512mb");
    config_set(port, "client-query-buffer-limit", "1mb");
    let mut big = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'v', 1_500_000));
    let query = raw_exchange(port, &big);
    config_set(port, "client-query-buffer-limit", "1gb");
    vec![over, taken, query]
}

/// `timeout 1`: an idle client is closed by the cron, a subscriber is not. Returns the ms
/// the idle client lasted.
fn timeout_case(port: u16) -> u128 {
    let mut subscriber = RespConn::connect(port);
    subscriber.call(&[b"SUBSCRIBE", b"quiet"]);
    config_set(port, "timeout", "1");
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let started = Instant::now();
    let (said, closed) = read_until_closed(&mut idle, Duration::from_secs(5));
    let lasted = started.elapsed().as_millis();
    assert!(
        closed && said.is_empty(),
        "idle client closed silently: {said:?}"
    );
    // The subscriber is spared: it still answers.
    assert_eq!(
        subscriber.call(&[b"PING"]),
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n".to_vec()
    );
    config_set(port, "timeout", "0");
    lasted
}

#[test]
fn client_limits_match_redis_server() {
    let dir = TestDir::new("client-limits");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let _redis = RedisServer::start(redis_port, &[]).expect("redis-server is needed");
    let node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, "cluster-enabled no");
    // CONFIG SET's checks and CONFIG GET's shape, byte for byte.
    let mut ours = RespConn::connect(ours_port);
    let mut redis = RespConn::connect(redis_port);
    for args in [
        &["CONFIG", "SET", "client-output-buffer-limit", "normal 1 2"][..],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "master 1 2 3",
        ],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1 2 x",
        ],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1mb 512k 5 replica 9 8 7",
        ],
        &["CONFIG", "GET", "client-output-buffer-limit"],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0 slave 256mb 64mb 60",
        ],
        &["CONFIG", "SET", "proto-max-bulk-len", "100"],
        &["CONFIG", "SET", "client-query-buffer-limit", "abc"],
        &["CONFIG", "SET", "maxclients", "0"],
        &["CONFIG", "SET", "timeout", "-1"],
        &["CONFIG", "GET", "proto-max-bulk-len"],
        &["CONFIG", "GET", "client-query-buffer-limit"],
        &["CONFIG", "GET", "timeout"],
    ] {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let (got, want) = (ours.call(&args), redis.call(&args));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{args:?}"
        );
    }
    drop((ours, redis));

    let hard = [hard_limit_case(ours_port), hard_limit_case(redis_port)];
    eprintln!("hard limit: subscriber closed after [ours, redis] = {hard:?} MB published");
    // Both close it between the limit and what the kernel's socket buffers hold beyond it.
    for mb in hard {
        assert!((1..=16).contains(&mb), "closed after {mb} MB");
    }
    assert!(node
        .log()
        .contains("scheduled to be closed ASAP for overcoming of output buffer limits."));

    let soft = [soft_limit_case(ours_port), soft_limit_case(redis_port)];
    eprintln!("soft limit (1 s): closed [ours, redis] = {soft:?} ms after the fill");
    for ms in soft {
        assert!(
            (900..=4000).contains(&ms),
            "soft limit closed after {ms} ms ({soft:?})"
        );
    }

    let (said, closed, rejected) = maxclients_case(ours_port);
    let want = maxclients_case(redis_port);
    assert_eq!((said.clone(), closed, rejected.clone()), want);
    assert_eq!(said, b"-ERR max number of clients reached\r\n");
    assert!(closed);
    assert_eq!(rejected, "1");

    let lengths = lengths_case(ours_port);
    assert_eq!(lengths, lengths_case(redis_port));
    assert_eq!(
        lengths[0],
        (
            b"-ERR Protocol error: invalid bulk length\r\n".to_vec(),
            true
        )
    );
    assert_eq!(lengths[1], (b"+OK\r\n+OK\r\n".to_vec(), true));
    assert_eq!(lengths[2], (Vec::new(), true));
    assert!(node
        .log()
        .contains("Closing client that reached max query buffer length: id="));

    let lasted = [timeout_case(ours_port), timeout_case(redis_port)];
    eprintln!("timeout 1: idle client closed after [ours, redis] = {lasted:?} ms");
    for ms in lasted {
        assert!(
            (900..=3500).contains(&ms),
            "idle client lasted {ms} ms ({lasted:?})"
        );
    }
}
