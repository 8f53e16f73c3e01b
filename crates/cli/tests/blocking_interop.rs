//! The blocking list pops against a real `redis-server` 7.0 and `clusterlab node`: two
//! connections where one blocks and the other pushes, timeouts, CLIENT UNBLOCK, and the
//! immediate forms (errors, MULTI, COMMAND INFO) compared byte for byte.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// Deterministic cases: parse errors in Redis's order, pops that need not wait, WRONGTYPE,
/// the forms inside MULTI, CLIENT UNBLOCK's errors, the command table.
const EDGE_CASES: &[&str] = &[
    "BLPOP k",
    "BLPOP k abc",
    "BLPOP k -1",
    "BLPOP k -0.002",
    "BLPOP k inf",
    "BLPOP k nan",
    "BLPOP k 9.3e15",
    "BRPOPLPUSH k d abc",
    "BLMOVE k d UP LEFT abc",
    "BLMOVE k d LEFT RIGHT abc",
    "BLMPOP abc 0 k LEFT",
    "BLMPOP abc 1 k UP",
    "BLMPOP abc 1 k LEFT COUNT 0",
    "BLMPOP abc 1 k LEFT COUNT",
    "BLMPOP abc 1 k LEFT",
    "BLMPOP 0 2 k LEFT",
    "RPUSH bl a b c d e",
    "BLPOP missing bl 0",
    "BRPOP bl 0",
    "BLMPOP 0 2 missing bl RIGHT COUNT 2",
    "BLMPOP 0.5 1 bl LEFT COUNT 9",
    "EXISTS bl",
    "SET bs v",
    "BLPOP missing bs 0",
    "BLMOVE bs d LEFT LEFT 0",
    "BLMPOP 0 1 bs LEFT",
    "RPUSH bl2 1 2 3",
    "BLMOVE bl2 bs LEFT LEFT 0",
    "BLMOVE bl2 bl3 left RIGHT 0",
    "BRPOPLPUSH bl2 bl3 0",
    "BRPOPLPUSH bl3 bl3 0",
    "LRANGE bl3 0 -1",
    "LRANGE bl2 0 -1",
    "MULTI",
    "BLPOP nokey 0",
    "BRPOP nokey 1",
    "BLMOVE nokey d LEFT LEFT 0",
    "BRPOPLPUSH nokey d 0",
    "BLMPOP 0 1 nokey LEFT",
    "RPUSH nokey x",
    "BLPOP nokey 0",
    "EXEC",
    "CLIENT UNBLOCK abc",
    "CLIENT UNBLOCK abc foo",
    "CLIENT UNBLOCK 999999",
    "CLIENT UNBLOCK 999999 ERROR",
    "CLIENT UNBLOCK 1 timeout x",
    "COMMAND INFO blpop brpop blmove brpoplpush blmpop",
    "COMMAND GETKEYS BLMPOP 0 2 a b LEFT",
    "COMMAND GETKEYS BLPOP a b 0",
    "BZPOPMIN z abc",
    "BZPOPMIN z -1",
    "BZMPOP abc 0 z MIN",
    "BZMPOP abc 1 z UP",
    "BZMPOP abc 1 z MIN COUNT 0",
    "ZADD z 1 a 2 b 3 c 4.5 d",
    "BZPOPMIN missing z 0",
    "BZPOPMAX z 0",
    "BZMPOP 0 2 missing z MAX COUNT 9",
    "EXISTS z",
    "BZPOPMIN bs 0",
    "MULTI",
    "BZPOPMAX nokey 0",
    "BZMPOP 0 1 nokey MIN",
    "EXEC",
    "COMMAND INFO bzpopmin bzpopmax bzmpop",
    "COMMAND GETKEYS BZMPOP 0 2 a b MIN",
    // Last: its blocking lines alone are compared.
    "INFO clients",
];

/// A raw connection: requests written whole, replies read as they come.
struct Conn(TcpStream);

impl Conn {
    fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("server reachable");
        Conn(stream)
    }

    fn send(&mut self, command: &str) {
        let args: Vec<&str> = command.split_whitespace().collect();
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        self.0.write_all(&request).unwrap();
    }

    /// Whatever arrives within `wait` (nothing if the connection is blocked).
    fn read_for(&mut self, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.0
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Sends one command and returns what came back within a short while.
    fn call(&mut self, command: &str) -> String {
        self.send(command);
        self.read_for(Duration::from_millis(150))
    }
}

/// Both servers: ours (standalone) and redis-server, killed when dropped.
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
    let Some(redis_server) = RedisServer::start(redis, &[]) else {
        panic!("redis-server is needed for the blocking interop test");
    };
    let node = NodeProcess::start(&dir.path, ours, NODE_TIMEOUT_MS, "cluster-enabled no");
    Servers {
        _dir: dir,
        _node: node,
        _redis: redis_server,
        ports: [ours, redis],
    }
}

/// Runs `scenario` on both servers and asserts the same transcript.
fn same_on_both(name: &str, scenario: impl Fn(u16) -> Vec<String>) {
    let s = servers(name);
    let ours = scenario(s.ports[0]);
    let redis = scenario(s.ports[1]);
    assert_eq!(ours, redis, "clusterlab, then redis-server");
    if std::env::var("BLOCKING_TRANSCRIPT").is_ok() {
        eprintln!("{ours:#?}");
    }
}

#[test]
fn immediate_forms_match_redis_server_byte_for_byte() {
    same_on_both("blocking-edge", |port| {
        let mut conn = Conn::connect(port);
        let mut out: Vec<String> = EDGE_CASES.iter().map(|c| conn.call(c)).collect();
        assert!(
            out.iter().all(|reply| !reply.is_empty()),
            "nothing blocks here: {out:?}"
        );
        // INFO clients differs in what it counts besides blocked clients: keep those lines.
        let info = out.pop().unwrap();
        let blocked: Vec<&str> = info
            .lines()
            .filter(|l| l.contains("block") || l.contains("timeout"))
            .collect();
        out.push(blocked.join("\n"));
        out
    });
}

#[test]
fn a_blocked_pop_is_served_by_a_push_from_another_connection_first_blocked_first() {
    same_on_both("blocking-wake", |port| {
        let (mut a, mut b, mut c) = (
            Conn::connect(port),
            Conn::connect(port),
            Conn::connect(port),
        );
        let mut out = Vec::new();
        a.send("BLPOP q 0");
        out.push(a.read_for(Duration::from_millis(200)));
        c.send("BRPOP other q 0");
        out.push(c.read_for(Duration::from_millis(100)));
        out.push(
            b.call("INFO clients")
                .lines()
                .filter(|l| l.starts_with("blocked"))
                .collect(),
        );
        out.push(b.call("RPUSH q x"));
        out.push(a.read_for(Duration::from_millis(200)));
        out.push(c.read_for(Duration::from_millis(100)));
        out.push(b.call("RPUSH q y z"));
        out.push(c.read_for(Duration::from_millis(200)));
        out.push(b.call("LRANGE q 0 -1"));
        // BLMOVE serves, and its push wakes a client blocked on the destination.
        a.send("BLMOVE src dst RIGHT LEFT 0");
        c.send("BLPOP dst 0");
        out.push(b.call("LPUSH src m"));
        out.push(a.read_for(Duration::from_millis(200)));
        out.push(c.read_for(Duration::from_millis(100)));
        // BLMPOP, in RESP3.
        out.push(a.call("HELLO 3").lines().take(1).collect());
        a.send("BLMPOP 0 2 m1 m2 LEFT COUNT 3");
        out.push(b.call("RPUSH m2 1 2"));
        out.push(a.read_for(Duration::from_millis(200)));
        // The sorted-set pops, in RESP3 (the score a double), served by a ZADD.
        a.send("BZPOPMIN zq 0");
        out.push(b.call("ZADD zq 2 two 1 one"));
        out.push(a.read_for(Duration::from_millis(200)));
        a.send("BZMPOP 0 1 zq2 MAX COUNT 2");
        out.push(b.call("ZADD zq2 1 x 2 y 3 z"));
        out.push(a.read_for(Duration::from_millis(200)));
        // A pipelined command waits behind the blocked one.
        a.send("BLPOP p 0");
        a.send("PING");
        out.push(a.read_for(Duration::from_millis(200)));
        out.push(b.call("RPUSH p v"));
        out.push(a.read_for(Duration::from_millis(200)));
        out
    });
}

#[test]
fn timeouts_and_client_unblock_answer_as_redis_server_does() {
    same_on_both("blocking-timeout", |port| {
        let (mut a, mut b) = (Conn::connect(port), Conn::connect(port));
        let mut out = Vec::new();
        for (command, timeout_ms) in [
            ("BLPOP t 0.3", 300u128),
            ("BLMOVE t d LEFT LEFT 0.3", 300),
            ("BLMPOP 0.3 1 t LEFT", 300),
        ] {
            let start = Instant::now();
            a.send(command);
            let reply = a.read_for(Duration::from_millis(1000));
            let waited = start.elapsed().as_millis();
            assert!(
                waited >= timeout_ms,
                "{command}: answered after {waited} ms"
            );
            out.push(reply);
        }
        // A reply within the timeout window arrives before a late one would.
        a.send("BRPOP t 0.3");
        out.push(a.read_for(Duration::from_millis(100)));
        out.push(a.read_for(Duration::from_millis(1000)));
        // RESP3's null.
        a.call("HELLO 3");
        a.send("BLPOP t 0.1");
        out.push(a.read_for(Duration::from_millis(800)));
        // CLIENT UNBLOCK from the other connection: as a timeout, or as an error.
        let id = a.call("CLIENT ID");
        let id = id.trim_start_matches(':').trim();
        a.send("BLPOP t 0");
        a.read_for(Duration::from_millis(100));
        out.push(b.call(&format!("CLIENT UNBLOCK {id}")));
        out.push(a.read_for(Duration::from_millis(200)));
        a.send("BRPOPLPUSH t d 0");
        a.read_for(Duration::from_millis(100));
        out.push(b.call(&format!("CLIENT UNBLOCK {id} ERROR")));
        out.push(a.read_for(Duration::from_millis(200)));
        out.push(b.call(&format!("CLIENT UNBLOCK {id}")));
        out
    });
}
