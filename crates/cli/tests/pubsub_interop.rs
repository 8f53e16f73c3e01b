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
