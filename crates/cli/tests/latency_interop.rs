//! `LATENCY HISTOGRAM` against a real `redis-server` 7.0: the reply's shape in RESP2 and RESP3
//! byte for byte, with each histogram's rows (which depend on timing) checked for Redis's
//! bucket bounds and cumulative counts ending at the call count, then masked.

mod common;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

/// Redis's reported bounds in µs (powers of two from 1024 ns, as its HdrHistogram prints them).
const BOUNDS_US: &[u64] = &[
    1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266,
    270532, 541065, 1073741,
];

fn call(conn: &mut RespConn, line: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    conn.call(&args)
}

/// The reply's lines with each `histogram_usec` map's rows checked and replaced by `<rows>`.
fn masked(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8(raw.to_vec()).expect("text reply");
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        out.push(lines[i].to_string());
        if lines[i] == "histogram_usec" {
            let calls: u64 = lines[i - 2].trim_start_matches(':').parse().expect("calls");
            let header = lines[i + 1];
            let pairs: usize = header[1..].parse().expect("map length");
            let pairs = if header.starts_with('*') {
                pairs / 2
            } else {
                pairs
            };
            let mut last = 0;
            for p in 0..pairs {
                let us: u64 = lines[i + 2 + 2 * p][1..].parse().unwrap();
                let cumulative: u64 = lines[i + 3 + 2 * p][1..].parse().unwrap();
                assert!(BOUNDS_US.contains(&us), "bound {us} in {text:?}");
                assert!(cumulative > last, "cumulative grows: {text:?}");
                last = cumulative;
            }
            assert_eq!(last, calls, "the last row counts every call: {text:?}");
            out.push(format!("{} <rows>", &header[..1]));
            i += 2 + 2 * pairs;
            continue;
        }
        i += 1;
    }
    out
}

fn transcript(port: u16) -> Vec<Vec<String>> {
    let mut conn = RespConn::connect(port);
    call(&mut conn, "CONFIG RESETSTAT");
    for _ in 0..5 {
        call(&mut conn, "SET a b");
    }
    for _ in 0..3 {
        call(&mut conn, "GET a");
    }
    call(&mut conn, "LPUSH l x");
    let mut out = vec![
        masked(&call(&mut conn, "LATENCY HISTOGRAM set get nosuch lpush")),
        masked(&call(&mut conn, "LATENCY HISTOGRAM nosuch")),
        masked(&call(&mut conn, "LATENCY HISTOGRAM get get")),
    ];
    call(&mut conn, "HELLO 3");
    out.push(masked(&call(&mut conn, "LATENCY HISTOGRAM get set")));
    call(&mut conn, "CONFIG RESETSTAT");
    out.push(masked(&call(&mut conn, "LATENCY HISTOGRAM set")));
    out
}

#[test]
fn histogram_replies_have_redis_shape_in_resp2_and_resp3() {
    let dir = TestDir::new("latency-histogram");
    let [ours, redis] = free_ports(2)[..] else {
        unreachable!()
    };
    let Some(_redis) = RedisServer::start(redis, &[]) else {
        panic!("redis-server is needed for the latency interop test");
    };
    let _node = NodeProcess::start(&dir.path, ours, NODE_TIMEOUT_MS, "cluster-enabled no");
    let theirs = transcript(redis);
    if std::env::var("LATENCY_TRANSCRIPT").is_ok() {
        eprintln!("{theirs:?}");
    }
    assert_eq!(transcript(ours), theirs, "clusterlab, then redis-server");
    assert!(
        theirs[0].iter().any(|l| l == ":5"),
        "five SETs counted: {theirs:?}"
    );
}
