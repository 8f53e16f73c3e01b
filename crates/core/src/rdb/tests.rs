//! RDB files: every type and TTL survive a round trip, the layout is Redis's, and damaged
//! files are refused with Redis's reasons.

use bytes::Bytes;

use super::*;
use crate::db::{Hash, List, Set, ZSet};

fn sample_db() -> Db {
    let mut db = Db::default();
    db.set_owned(b"s", Value::String(Bytes::from_static(b"hello")), None);
    db.set_owned(
        b"n",
        Value::String(Bytes::from_static(b"12345")),
        Some(4_000_000_000_000),
    );
    let list: List = [&b"a"[..], b"b", b"300"].into_iter().collect();
    db.set_owned(b"l", Value::List(list), None);
    let mut hash = Hash::new();
    hash.insert(b"f", b"v");
    db.set_owned(b"h", Value::Hash(hash), None);
    let set: Set = [&b"1"[..], b"2", b"x"].into_iter().collect();
    db.set_owned(b"set", Value::Set(set), None);
    let mut zset = ZSet::new();
    zset.insert(b"m", 1.5);
    db.set_owned(b"z", Value::ZSet(zset), None);
    db
}

fn decode_default(data: &[u8]) -> Result<(RdbContents, usize), RdbError> {
    decode(data, &EncodingLimits::default())
}

#[test]
fn every_type_and_ttl_survive_a_round_trip() {
    let db = sample_db();
    let data = encode(
        &db,
        &[
            ("redis-ver", "7.0.15".into()),
            ("ctime", "1700000000".into()),
        ],
    );
    let (contents, used) = decode_default(&data).unwrap();
    assert_eq!(used, data.len());
    assert_eq!(contents.aux("redis-ver"), Some("7.0.15"));
    assert_eq!(contents.aux("ctime"), Some("1700000000"));
    assert_eq!(contents.entries.len(), db.len());
    for entry in &contents.entries {
        let stored = db
            .entries_in_order()
            .find(|e| e.key == &entry.key[..])
            .unwrap();
        assert_eq!(stored.value.to_value(), entry.value, "{:?}", entry.key);
        assert_eq!(stored.expires_at_ms, entry.expires_at_ms);
    }
}

#[test]
fn the_layout_is_redis_s() {
    let mut db = Db::default();
    db.set_owned(b"k", Value::String(Bytes::from_static(b"v")), Some(0x0102));
    let data = encode(&db, &[("redis-bits", "64".into())]);
    let mut want = b"REDIS0010".to_vec();
    // aux "redis-bits" = 64, stored as an 8-bit integer.
    want.extend_from_slice(&[0xFA, 10]);
    want.extend_from_slice(b"redis-bits");
    want.extend_from_slice(&[0xC0, 64]);
    // SELECTDB 0, RESIZEDB 1 key 1 expiry, then the key with its ms expiry.
    want.extend_from_slice(&[0xFE, 0, 0xFB, 1, 1, 0xFC, 2, 1, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[0, 1, b'k', 1, b'v', 0xFF]);
    assert_eq!(&data[..data.len() - 8], &want[..]);
    let crc = crate::cmd::dump::crc64(&want);
    assert_eq!(&data[data.len() - 8..], &crc.to_le_bytes());
}

#[test]
fn an_empty_keyspace_has_no_db_section() {
    let data = encode(&Db::default(), &[]);
    assert_eq!(&data[..10], b"REDIS0010\xff");
    assert_eq!(data.len(), 18);
    assert!(decode_default(&data).unwrap().0.entries.is_empty());
}

#[test]
fn damaged_files_are_refused_with_the_reason() {
    let data = encode(&sample_db(), &[]);
    assert_eq!(
        decode_default(b"RADIS0010").unwrap_err(),
        RdbError::BadSignature
    );
    let mut newer = data.clone();
    newer[5..9].copy_from_slice(b"0011");
    assert_eq!(decode_default(&newer).unwrap_err(), RdbError::Version(11));
    assert_eq!(
        decode_default(&data[..data.len() - 12]).unwrap_err(),
        RdbError::Short
    );
    let mut flipped = data.clone();
    let at = data.len() - 20;
    flipped[at] ^= 0x40;
    assert!(matches!(
        decode_default(&flipped).unwrap_err(),
        RdbError::Checksum { .. } | RdbError::Short | RdbError::Unsupported(_)
    ));
    let mut bad_crc = data.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    assert!(matches!(
        decode_default(&bad_crc).unwrap_err(),
        RdbError::Checksum { .. }
    ));
    assert_eq!(
        RdbError::Version(11).to_string(),
        "Can't handle RDB format version 11"
    );
}

#[test]
fn a_zero_checksum_is_not_checked_and_hints_are_skipped() {
    let mut data = b"REDIS0010".to_vec();
    // An LRU hint and an LFU hint before a key, as Redis writes under a maxmemory policy.
    data.extend_from_slice(&[0xF8, 5, 0xF9, 3, 0, 1, b'k', 1, b'v', 0xFF]);
    data.extend_from_slice(&[0; 8]);
    let (contents, _) = decode_default(&data).unwrap();
    assert_eq!(contents.entries[0].key, Bytes::from_static(b"k"));
    assert_eq!(contents.entries[0].expires_at_ms, None);
}

#[test]
fn modules_functions_and_other_dbs_are_refused() {
    // FUNCTION2 records are read (the libraries' code); the pre-GA form is not.
    let mut data = b"REDIS0010".to_vec();
    data.extend_from_slice(&[0xF5, 1, b'x', 0xFF, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        decode_default(&data).unwrap().0.functions,
        vec![Bytes::from("x")]
    );
    for (op, err) in [
        (0xF6, RdbError::Unsupported(0xF6)),
        (0xF7, RdbError::Unsupported(0xF7)),
        (15, RdbError::Unsupported(15)),
    ] {
        let mut data = b"REDIS0010".to_vec();
        data.extend_from_slice(&[op, 0, 0, 0, 0xFF]);
        assert_eq!(decode_default(&data).unwrap_err(), err);
    }
    let mut data = b"REDIS0010".to_vec();
    data.extend_from_slice(&[0xFE, 3, 0xFF]);
    assert_eq!(decode_default(&data).unwrap_err(), RdbError::Db(3));
}
