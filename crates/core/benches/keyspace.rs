//! Micro-benchmarks of the request hot path inside core: key → slot (CRC16 with hash tags) and
//! keyspace insert/lookup. Run with `cargo bench -p clusterlab-core --bench keyspace`; compare
//! runs on the same machine only.

use bytes::Bytes;
use clusterlab_core::db::{Db, ValueRef};
use clusterlab_core::slot::key_hash_slot;
use divan::{black_box, Bencher};

fn main() {
    divan::main();
}

/// Keys as redis-benchmark sends them, a hash-tagged one and a long one.
#[divan::bench(args = ["key:000000012345", "key:{user1000}:profile", "long"])]
fn key_to_slot(bencher: Bencher, kind: &str) {
    let key: Vec<u8> = match kind {
        "long" => vec![b'k'; 1024],
        other => other.as_bytes().to_vec(),
    };
    bencher.bench(|| key_hash_slot(black_box(&key)));
}

fn keys(count: usize) -> Vec<Bytes> {
    (0..count)
        .map(|i| Bytes::from(format!("key:{i:012}")))
        .collect()
}

/// Filling an empty keyspace (records, hash table, slot counts and position index).
#[divan::bench(args = [10_000, 100_000])]
fn db_insert(bencher: Bencher, count: usize) {
    let keys = keys(count);
    bencher
        .counter(divan::counter::ItemsCount::new(count))
        .bench(|| {
            let mut db = Db::default();
            for key in &keys {
                db.set(key, ValueRef::String(b"xxx"), None);
            }
            db
        });
}

/// A keyspace of `n` keys and a separate copy of those keys to probe it with.
fn loaded_with_probe_copies(n: usize) -> (Db, Vec<Bytes>) {
    let mut db = Db::default();
    for key in &keys(n) {
        db.set(key, ValueRef::String(b"xxx"), None);
    }
    (db, keys(n))
}

/// GET-style lookups of present keys in a keyspace of 100k keys. The probes are separate copies
/// of the keys, as a request's arguments are: probing with the very buffers a keyspace stores
/// would find the stored key's bytes already in cache.
#[divan::bench]
fn db_lookup(bencher: Bencher) {
    let (db, keys) = loaded_with_probe_copies(100_000);
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 7919) % keys.len();
        db.get(black_box(&keys[i]), 0).is_some()
    });
}

/// Overwriting present keys (SET on an existing key), probing with copies as above.
#[divan::bench]
fn db_overwrite(bencher: Bencher) {
    let (mut db, keys) = loaded_with_probe_copies(100_000);
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 7919) % keys.len();
        db.set(&keys[i], ValueRef::String(b"yyy"), None);
    });
}
