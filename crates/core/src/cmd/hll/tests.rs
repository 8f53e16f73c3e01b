use super::*;
use crate::cmd::keys::tests::{err, int, ok, take_propagated, Harness};

fn get(h: &mut Harness, key: &str) -> Vec<u8> {
    match h.cmd(&["GET", key]) {
        Reply::Bulk(b) => b.to_vec(),
        other => panic!("GET {key}: {other:?}"),
    }
}

/// Bytes redis-server 7.0.15 returns for `PFADD h a b c` (then GET).
const ABC: &[u8] =
    b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ";

#[test]
fn pfadd_builds_redis_sparse_bytes_and_pfcount_caches() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["PFADD", "h", "a", "b", "c"]), int(1));
    assert_eq!(take_propagated(), vec!["PFADD h a b c"]);
    assert_eq!(get(&mut h, "h"), ABC);
    assert_eq!(h.cmd(&["PFADD", "h", "a"]), int(0));
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["PFCOUNT", "h"]), int(3));
    // Refreshing the cache changes the string: Redis propagates the PFCOUNT.
    assert_eq!(take_propagated(), vec!["PFCOUNT h"]);
    let mut cached = ABC.to_vec();
    cached[8] = 3;
    cached[15] = 0;
    assert_eq!(get(&mut h, "h"), cached);
    assert_eq!(h.cmd(&["PFCOUNT", "h"]), int(3));
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["OBJECT", "ENCODING", "h"]), Reply::bulk_str("raw"));
}

#[test]
fn pfadd_without_elements_creates_an_empty_hll() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["PFADD", "e"]), int(1));
    assert_eq!(
        get(&mut h, "e"),
        b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff"
    );
    assert_eq!(h.cmd(&["PFADD", "e"]), int(0));
    assert_eq!(h.cmd(&["PFCOUNT", "e"]), int(0));
    assert_eq!(h.cmd(&["PFCOUNT", "nokey"]), int(0));
}

#[test]
fn not_an_hll_is_refused() {
    let mut h = Harness::new();
    h.cmd(&["SET", "s", "HYLLxx"]);
    h.cmd(&["RPUSH", "l", "a"]);
    h.cmd(&["PFADD", "h", "a"]);
    let not_hll = err("WRONGTYPE Key is not a valid HyperLogLog string value.");
    assert_eq!(h.cmd(&["PFADD", "s", "a"]), not_hll);
    assert_eq!(h.cmd(&["PFCOUNT", "s", "h"]), not_hll);
    assert_eq!(h.cmd(&["PFMERGE", "s", "h"]), not_hll);
    assert_eq!(h.cmd(&["PFADD", "l", "a"]), Reply::wrong_type());
    assert_eq!(h.cmd(&["PFCOUNT", "l"]), Reply::wrong_type());
    // A dense header with the wrong length is not an HLL either.
    h.cmd(&["SET", "d", "HYLL\0\0\0\0\0\0\0\0\0\0\0\0xx"]);
    assert_eq!(h.cmd(&["PFCOUNT", "d"]), not_hll);
}

#[test]
fn many_elements_promote_to_dense_and_count_close() {
    let mut h = Harness::new();
    let elements: Vec<String> = (0..5000).map(|i| format!("e{i}")).collect();
    for chunk in elements.chunks(100) {
        let mut line = vec!["PFADD", "big"];
        line.extend(chunk.iter().map(String::as_str));
        h.cmd(&line);
    }
    let bytes = get(&mut h, "big");
    assert_eq!((bytes.len(), bytes[4]), (dense::DENSE_BYTES, DENSE));
    let Reply::Integer(n) = h.cmd(&["PFCOUNT", "big"]) else {
        panic!()
    };
    assert!((4900..5100).contains(&n), "{n}");
}

#[test]
fn sparse_limit_follows_the_configured_bytes() {
    let mut h = Harness::new();
    h.cmd(&["CONFIG", "SET", "hll-sparse-max-bytes", "40"]);
    let elements: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
    let mut line = vec!["PFADD", "k"];
    line.extend(elements.iter().map(String::as_str));
    h.cmd(&line);
    assert_eq!(get(&mut h, "k")[4], DENSE);
}

#[test]
fn pfcount_of_several_keys_is_the_union_and_pfmerge_stores_it() {
    let mut h = Harness::new();
    h.cmd(&["PFADD", "a", "1", "2", "3"]);
    h.cmd(&["PFADD", "b", "3", "4"]);
    take_propagated();
    assert_eq!(h.cmd(&["PFCOUNT", "a", "b", "nokey"]), int(4));
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["PFMERGE", "m", "a", "b"]), ok());
    assert_eq!(take_propagated(), vec!["PFMERGE m a b"]);
    assert_eq!(h.cmd(&["PFCOUNT", "m"]), int(4));
    assert_eq!(h.cmd(&["PFMERGE", "d", "nokey"]), ok());
    assert_eq!(
        get(&mut h, "d"),
        b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff"
    );
}

#[test]
fn murmur_and_estimator_agree_with_known_values() {
    // An empty HLL estimates 0; a single register at rank 1 estimates 1.
    let mut histogram = [0u32; 64];
    histogram[0] = REGISTERS as u32;
    assert_eq!(dense::estimate(&histogram), 0);
    histogram[0] -= 1;
    histogram[1] = 1;
    assert_eq!(dense::estimate(&histogram), 1);
    // Same input, same hash; the seed and the length both matter.
    assert_eq!(dense::murmur64a(b"a", 1), dense::murmur64a(b"a", 1));
    assert_ne!(dense::murmur64a(b"a", 1), dense::murmur64a(b"a", 2));
    assert_ne!(dense::murmur64a(b"", 1), dense::murmur64a(b"\0", 1));
}

#[test]
fn pfdebug_looks_inside_and_converts() {
    let mut h = Harness::new();
    h.cmd(&["PFADD", "p", "a"]);
    take_propagated();
    assert_eq!(
        h.cmd(&["PFDEBUG", "ENCODING", "p"]),
        Reply::simple("sparse")
    );
    assert_eq!(
        h.cmd(&["PFDEBUG", "decode", "p"]),
        Reply::bulk_str("Z:12711 v:2,1 Z:3672")
    );
    assert!(take_propagated().is_empty());
    assert_eq!(h.cmd(&["PFDEBUG", "TODENSE", "p"]), int(1));
    assert_eq!(take_propagated(), vec!["PFDEBUG TODENSE p"]);
    assert_eq!(h.cmd(&["PFDEBUG", "TODENSE", "p"]), int(0));
    assert_eq!(h.cmd(&["PFDEBUG", "ENCODING", "p"]), Reply::simple("dense"));
    assert_eq!(
        h.cmd(&["PFDEBUG", "DECODE", "p"]),
        err("ERR HLL encoding is not sparse")
    );
    let Reply::Array(registers) = h.cmd(&["PFDEBUG", "GETREG", "p"]) else {
        panic!("GETREG answers an array");
    };
    assert_eq!(registers.len(), REGISTERS);
    assert_eq!(registers[12711], int(2));
    assert_eq!(registers.iter().filter(|r| **r != int(0)).count(), 1);
    assert_eq!(h.cmd(&["PFCOUNT", "p"]), int(1));
    assert_eq!(
        h.cmd(&["PFDEBUG", "FOO", "p"]),
        err("ERR Unknown PFDEBUG subcommand 'FOO'")
    );
    assert_eq!(
        h.cmd(&["PFDEBUG", "foo", "nokey"]),
        err("ERR The specified key does not exist")
    );
    h.cmd(&["SET", "s", "x"]);
    assert_eq!(
        h.cmd(&["PFDEBUG", "GETREG", "s"]),
        err("WRONGTYPE Key is not a valid HyperLogLog string value.")
    );
}

#[test]
fn pfselftest_passes() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["PFSELFTEST"]), ok());
}

#[test]
fn pfcount_on_a_replica_refreshes_without_feeding_a_stream() {
    let mut h = Harness::new();
    h.cmd(&["PFADD", "h", "a", "b", "c"]);
    h.become_replica();
    take_propagated();
    let offset = h.node.cluster.me().repl_offset;
    assert_eq!(h.cmd(&["PFCOUNT", "h"]), int(3));
    assert!(take_propagated().is_empty());
    assert_eq!(h.node.cluster.me().repl_offset, offset);
    assert_eq!(get(&mut h, "h")[15], 0);
}
