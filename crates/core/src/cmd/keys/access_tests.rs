//! OBJECT IDLETIME and FREQ over the access clock: which commands stamp it, how LRU and LFU
//! read it, and what RENAME, COPY and RESTORE do to it.

use super::tests::{bulk, int, Harness};
use crate::reply::Reply;

const LFU_ONLY: &str = "An LFU maxmemory policy is not selected, access frequency not tracked. \
     Please note that when switching between policies at runtime LRU and LFU data will take some \
     time to adjust.";
const LRU_ONLY: &str = "An LFU maxmemory policy is selected, idle time not tracked. Please note \
     that when switching between policies at runtime LRU and LFU data will take some time to \
     adjust.";

fn lfu(h: &mut Harness, log_factor: &str, decay_min: &str) {
    let set = [
        "CONFIG",
        "SET",
        "maxmemory-policy",
        "allkeys-lfu",
        "lfu-log-factor",
        log_factor,
        "lfu-decay-time",
        decay_min,
    ];
    assert_eq!(h.cmd(&set), Reply::ok());
}

#[test]
fn idletime_counts_seconds_since_the_last_read_or_write() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "k"]), Reply::Nil);
    h.cmd(&["SET", "k", "v"]);
    h.advance_ms(5_500);
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "k"]), int(5));
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "k"]), int(0));
    h.advance_ms(3_000);
    // Lookups Redis makes without stamping.
    for probe in [
        &["TYPE", "k"][..],
        &["EXISTS", "k"],
        &["TTL", "k"],
        &["PTTL", "k"],
        &["OBJECT", "ENCODING", "k"],
        &["MEMORY", "USAGE", "k"],
    ] {
        h.cmd(probe);
    }
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "k"]), int(3));
    assert_eq!(h.cmd(&["TOUCH", "k", "nokey"]), int(1));
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "k"]), int(0));
    h.advance_ms(2_000);
    h.cmd(&["APPEND", "k", "w"]);
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "k"]), int(0));
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "k"]), Reply::err(LFU_ONLY));
}

#[test]
fn freq_counts_accesses_logarithmically_and_decays() {
    let mut h = Harness::new();
    lfu(&mut h, "0", "1");
    h.cmd(&["RPUSH", "k", "a"]);
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "k"]), int(5));
    for _ in 0..3 {
        h.cmd(&["LLEN", "k"]);
    }
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "k"]), int(8));
    // A value replaced whole keeps its counter (Redis's dbSetValue), after the lookup's +1.
    h.cmd(&["SET", "k", "now a string"]);
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "k"]), int(9));
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "k"]), Reply::err(LRU_ONLY));
    // One point per idle minute; reading does not store the decay.
    h.advance_ms(2 * 60_000);
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "k"]), int(7));
    lfu(&mut h, "0", "0");
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "k"]), int(9));
    // RENAME carries the counter (after its +1); COPY makes a new object.
    assert_eq!(h.cmd(&["RENAME", "k", "r"]), Reply::ok());
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "r"]), int(10));
    assert_eq!(h.cmd(&["COPY", "r", "c"]), int(1));
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "c"]), int(5));
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "r"]), int(11));
}

#[test]
fn restore_sets_the_clock_of_the_policy_in_force() {
    let mut h = Harness::new();
    let payload = crate::cmd::dump::dump_payload(
        crate::db::ValueRef::String(b"v"),
        crate::cmd::dump::Compression::Lzf,
    );
    let restore = |h: &mut Harness, key: &str, opt: &str, n: &str| {
        let args = [
            bytes::Bytes::from_static(b"RESTORE"),
            bytes::Bytes::copy_from_slice(key.as_bytes()),
            bytes::Bytes::from_static(b"0"),
            payload.clone(),
            bytes::Bytes::copy_from_slice(opt.as_bytes()),
            bytes::Bytes::copy_from_slice(n.as_bytes()),
        ];
        h.node.command(h.now, h.client, &args)
    };
    assert_eq!(restore(&mut h, "a", "IDLETIME", "50"), Reply::ok());
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "a"]), int(50));
    // FREQ means nothing under LRU: the key is stamped as new.
    assert_eq!(restore(&mut h, "b", "FREQ", "50"), Reply::ok());
    assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "b"]), int(0));
    lfu(&mut h, "10", "1");
    assert_eq!(restore(&mut h, "c", "FREQ", "100"), Reply::ok());
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "c"]), int(100));
    assert_eq!(restore(&mut h, "d", "IDLETIME", "100"), Reply::ok());
    assert_eq!(h.cmd(&["OBJECT", "FREQ", "d"]), int(5));
}

#[test]
fn lfu_increments_draw_from_the_node_rng() {
    let counted = || {
        let mut h = Harness::new();
        lfu(&mut h, "10", "1");
        h.cmd(&["SET", "k", "v"]);
        for _ in 0..1000 {
            h.cmd(&["GET", "k"]);
        }
        h.cmd(&["OBJECT", "FREQ", "k"])
    };
    let Reply::Integer(freq) = counted() else {
        panic!("integer")
    };
    // Redis documents about 18 after 1k hits at factor 10; same seed, same count.
    assert!((12..=24).contains(&freq), "freq {freq}");
    assert_eq!(counted(), int(freq));
}
