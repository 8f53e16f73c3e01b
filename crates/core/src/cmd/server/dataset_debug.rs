//! `DEBUG POPULATE`, `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`: filling a node with test keys and
//! fingerprinting its data, as Redis's own tests do to compare a master with its replicas.
//!
//! The digest is Redis 7.0's, bit for bit, so the same data gives the same digest on
//! redis-server and here: each key's digest starts from its type, mixes in its value (list
//! elements in order; set members, hash fields and sorted-set members combined without order)
//! and a mark if it has a TTL; the dataset's is every key's digest, mixed with its key,
//! combined without order. SHA-1 throughout; an empty dataset is all zeros.

use bytes::Bytes;
use sha1::{Digest as _, Sha1};

use crate::cmd::parse_i64;
use crate::db::stream::StreamId;
use crate::db::{EntryRef, ValueRef};
use crate::node::Node;
use crate::reply::Reply;

type Digest = [u8; 20];

/// XORs the SHA-1 of `bytes` into `digest`.
fn xor_digest(digest: &mut Digest, bytes: &[u8]) {
    let hash = Sha1::digest(bytes);
    digest.iter_mut().zip(hash).for_each(|(d, h)| *d ^= h);
}

/// XORs the SHA-1 of `bytes` in, then replaces `digest` by its own SHA-1 (order matters).
fn mix_digest(digest: &mut Digest, bytes: &[u8]) {
    xor_digest(digest, bytes);
    *digest = Sha1::digest(*digest).into();
}

/// Redis's type numbers (`OBJ_STRING` … `OBJ_HASH`), as the digest mixes them in.
fn type_code(value: ValueRef<'_>) -> u32 {
    match value {
        ValueRef::String(_) => 0,
        ValueRef::List(_) => 1,
        ValueRef::Set(_) => 2,
        ValueRef::ZSet(_) => 3,
        ValueRef::Hash(_) => 4,
        ValueRef::Stream(_) => 6,
    }
}

/// A key's value digest (`DEBUG DIGEST-VALUE`), TTL mark included.
fn value_digest(entry: EntryRef<'_>) -> Digest {
    let mut digest = [0u8; 20];
    mix_object(&mut digest, entry);
    digest
}

/// Mixes a value (its type first, its TTL mark last) into `digest`.
fn mix_object(digest: &mut Digest, entry: EntryRef<'_>) {
    mix_digest(digest, &type_code(entry.value).to_be_bytes());
    match entry.value {
        ValueRef::String(s) => mix_digest(digest, s),
        ValueRef::List(list) => list.iter().for_each(|e| mix_digest(digest, e)),
        ValueRef::Set(set) => set.iter().for_each(|m| xor_digest(digest, m)),
        ValueRef::Hash(hash) => {
            for (field, value) in hash.iter() {
                let mut pair = [0u8; 20];
                mix_digest(&mut pair, field);
                mix_digest(&mut pair, value);
                xor_digest(digest, &pair);
            }
        }
        ValueRef::ZSet(zset) => {
            for (member, score) in zset.sorted() {
                let mut pair = [0u8; 20];
                mix_digest(&mut pair, member);
                mix_digest(&mut pair, format_g17(score).as_bytes());
                xor_digest(digest, &pair);
            }
        }
        ValueRef::Stream(stream) => {
            let all = stream.range(StreamId::ZERO, StreamId::MAX, 0, false);
            for (id, pairs) in all {
                mix_digest(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                pairs.iter().for_each(|p| mix_digest(digest, p));
            }
        }
    }
    if entry.expires_at_ms.is_some() {
        xor_digest(digest, b"!!expire!!");
    }
}

/// The whole dataset's digest (`DEBUG DIGEST`): zeros when it is empty.
fn dataset_digest(node: &Node) -> Digest {
    let mut total = [0u8; 20];
    if node.db.is_empty() {
        return total;
    }
    // Database 0's number starts the digest.
    mix_digest(&mut total, &0u32.to_be_bytes());
    for entry in node.db.entries_in_order() {
        // The key, then its value, mixed into one digest (order matters within a key).
        let mut digest = [0u8; 20];
        mix_digest(&mut digest, entry.key);
        mix_object(&mut digest, entry);
        xor_digest(&mut total, &digest);
    }
    total
}

fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A double as C's `%.17g` prints it (17 significant digits, trailing zeros dropped).
fn format_g17(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{x:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if (-4..17).contains(&exp) {
        let decimals = (16 - exp).max(0) as usize;
        trim(format!("{x:.decimals$}"))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_string()), exp.abs())
    }
}

pub(super) fn digest(node: &mut Node) -> Reply {
    Reply::Simple(hex(&dataset_digest(node)))
}

pub(super) fn digest_value(node: &mut Node, keys: &[Bytes]) -> Reply {
    let now_ms = node.now.unix_ms;
    let digests = keys
        .iter()
        .map(|key| {
            let digest = node.db.get(key, now_ms).map_or([0; 20], value_digest);
            Reply::Simple(hex(&digest))
        })
        .collect();
    Reply::Array(digests)
}

/// `DEBUG POPULATE count [prefix] [size]`: keys `prefix:N` (default `key`) holding
/// `value:N`, cut or zero-padded to `size` bytes when given; existing keys stay as they are.
pub(super) fn populate(node: &mut Node, args: &[Bytes]) -> Reply {
    let positive = |arg: &Bytes| parse_i64(arg).filter(|&n| n >= 0);
    let Some(count) = positive(&args[2]) else {
        return Reply::err("value is out of range, must be positive");
    };
    let prefix = args.get(3).map_or(&b"key"[..], |p| &p[..]);
    let size = match args.get(4).map(positive) {
        None => None,
        Some(Some(size)) => Some(size as usize),
        Some(None) => return Reply::err("value is out of range, must be positive"),
    };
    let now_ms = node.now.unix_ms;
    for n in 0..count {
        let mut key = prefix.to_vec();
        key.extend_from_slice(format!(":{n}").as_bytes());
        if node.db.contains(&key, now_ms) {
            continue;
        }
        let mut value = format!("value:{n}").into_bytes();
        if let Some(size) = size {
            value.resize(size, 0);
        }
        node.db.set(&key, ValueRef::String(&value), None);
    }
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;
    use crate::config::{Config, DebugCommand};

    fn debug_node() -> (Node, crate::node::ClientId) {
        node_with(Config {
            enable_debug_command: DebugCommand::Yes,
            ..Config::default()
        })
    }

    /// Digests redis-server 7.0.15 gave for the same commands.
    #[test]
    fn digests_match_redis_server() {
        let (mut n, c) = debug_node();
        let digest = |n: &mut Node| run(n, c, "DEBUG DIGEST");
        assert_eq!(
            digest(&mut n),
            Reply::simple("0000000000000000000000000000000000000000")
        );
        run(&mut n, c, "SET a b");
        assert_eq!(
            digest(&mut n),
            Reply::simple("479783d7290f02957dfbe3408a858ba13eea1709")
        );
        run(&mut n, c, "RPUSH l x 12 yy");
        run(&mut n, c, "HSET h f1 v1 f2 v2");
        run(&mut n, c, "SADD si 3 1 2");
        run(&mut n, c, "SADD ss p q");
        let value = |n: &mut Node, key: &str| {
            let Reply::Array(items) = run(n, c, &format!("DEBUG DIGEST-VALUE {key}")) else {
                panic!("array")
            };
            items[0].clone()
        };
        for (key, expected) in [
            ("a", "b78559cd22bce6e6df712eb99ce7f3b08e8f8f1f"),
            ("l", "a5539597d13f7858f3391e9cabb759da75580e7a"),
            ("h", "047cc60ea73a34cde6d08a2721a4a26d19ee6570"),
            ("si", "2a462a3f51a1db89738ebbeef0c47ce1bbc85246"),
            ("ss", "c138421e1e81060a6d5eb162bc97ddcf14cbcf0f"),
            ("nokey", "0000000000000000000000000000000000000000"),
        ] {
            assert_eq!(value(&mut n, key), Reply::simple(expected), "{key}");
        }
        run(&mut n, c, "PEXPIREAT l 99999999999999");
        assert_eq!(
            value(&mut n, "l"),
            Reply::simple("43d66b680d06920c322ff564eedd96416ff64ff9")
        );
    }

    #[test]
    fn zset_scores_print_as_percent_17g() {
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(2.0), "2");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(1.25e-7), "1.2499999999999999e-07");
        assert_eq!(format_g17(1e16), "10000000000000000");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(-3.0), "-3");
    }

    #[test]
    fn populate_fills_missing_keys_only_with_redis_values() {
        let (mut n, c) = debug_node();
        run(&mut n, c, "SET key:0 mine");
        assert_eq!(run(&mut n, c, "DEBUG POPULATE 3"), Reply::ok());
        assert_eq!(run(&mut n, c, "GET key:0"), Reply::bulk_str("mine"));
        assert_eq!(run(&mut n, c, "GET key:2"), Reply::bulk_str("value:2"));
        run(&mut n, c, "DEBUG POPULATE 2 foo 10");
        assert_eq!(
            run(&mut n, c, "GET foo:1"),
            Reply::Bulk(Bytes::from_static(b"value:1\0\0\0"))
        );
        run(&mut n, c, "DEBUG POPULATE 2 bar 2");
        assert_eq!(run(&mut n, c, "GET bar:1"), Reply::bulk_str("va"));
        let out_of_range = Reply::err("value is out of range, must be positive");
        for bad in [
            "DEBUG POPULATE x",
            "DEBUG POPULATE -1",
            "DEBUG POPULATE 1 p -5",
        ] {
            assert_eq!(run(&mut n, c, bad), out_of_range, "{bad}");
        }
    }
}
