use super::record::varint_len;
use super::*;
use crate::cmd::server::memory::{dataset_value_bytes, sds};

fn set(db: &mut Db, key: &[u8], value: &str, expires_at_ms: Option<u64>) {
    db.set(key, ValueRef::String(value.as_bytes()), expires_at_ms);
}

fn value_of<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Option<&'a [u8]> {
    db.get(key, now_ms).and_then(|e| e.value.as_string())
}

#[test]
fn slot_index_follows_inserts_and_removes() {
    let mut db = Db::default();
    set(&mut db, b"{a}1", "x", None);
    set(&mut db, b"{a}2", "y", Some(10));
    set(&mut db, b"{a}1", "z", None);
    let slot = key_hash_slot(b"a");
    assert_eq!(db.count_in_slot(slot), 2);
    let first = db.keys_in_slot(slot, 1);
    assert_eq!(first.len(), 1);
    assert!(first[0] == "{a}1" || first[0] == "{a}2");
    assert_eq!(db.keys_in_slot(slot, 10).len(), 2);
    assert_eq!(db.expiring_count(), 1);
    assert!(db.get(b"{a}2", 9).is_some());
    assert!(db.get(b"{a}2", 10).is_none());
    assert!(db.expire_if_needed(b"{a}2", 10));
    assert!(!db.expire_if_needed(b"{a}2", 10));
    assert_eq!(db.count_in_slot(slot), 1);
    assert_eq!(db.expiring_count(), 0);
    assert_eq!(value_of(&db, b"{a}1", 0), Some(&b"z"[..]));
    assert!(db.remove(b"{a}1"));
    assert!(!db.remove(b"{a}1"));
    assert!(db.is_empty());
    assert_eq!(db.count_in_slot(slot), 0);
    assert_eq!(db.entries_in_order().count(), 0);
    assert_eq!(db.used_memory_estimate(), 0);
}

#[test]
fn peek_tells_live_missing_and_expired() {
    let mut db = Db::default();
    set(&mut db, b"live", "x", None);
    set(&mut db, b"old", "y", Some(10));
    assert!(matches!(
        db.peek(b"live", 10),
        Peek::Live(e) if e.value == ValueRef::String(b"x") && e.key == b"live"
    ));
    assert!(matches!(db.peek(b"none", 10), Peek::Missing));
    assert!(matches!(db.peek(b"old", 9), Peek::Live(_)));
    assert!(matches!(db.peek(b"old", 10), Peek::Expired));
    if let Peek::Live(mut e) = db.peek_mut(b"live", 10) {
        e.set_value(ValueRef::String(b"z"));
    }
    assert_eq!(
        db.get(b"live", 10).map(EntryRef::to_entry),
        Some(Entry {
            value: Value::String(Bytes::from_static(b"z")),
            expires_at_ms: None
        })
    );
    assert!(matches!(db.peek_mut(b"old", 10), Peek::Expired));
    assert!(matches!(db.peek_mut(b"none", 10), Peek::Missing));
    assert_eq!(db.len(), 2, "peeking removes nothing");
}

#[test]
fn records_keep_key_value_and_expiry_of_any_size() {
    let long_key = vec![b'k'; 20_000]; // a 3-byte length
    let long_value = "v".repeat(300);
    let cases: [(&[u8], &str, Option<u64>); 6] = [
        (b"", "", None),
        (b"", "x", Some(0)),
        (b"k", "", Some(u64::MAX)),
        (&long_key[..127], "abc", None),
        (&long_key[..128], &long_value, Some(7)),
        (&long_key, &long_value, None),
    ];
    for (key, value, expiry) in cases {
        let mut record = Record::new(key, Raw::String(value.as_bytes()), expiry, 0xab_cdef);
        assert_eq!(record.clock(), 0xab_cdef);
        record.set_clock(7);
        assert_eq!(record.clock(), 7);
        let view = record.view();
        assert_eq!(
            (view.key, view.raw, view.expires_at_ms),
            (key, Raw::String(value.as_bytes()), expiry)
        );
        assert_eq!(record.key(), key);
        let value_bytes = dataset_value_bytes(ValueRef::String(value.as_bytes()), false);
        assert_eq!(record.footprint_bytes(), 48 + sds(key.len()) + value_bytes);
        assert_eq!(
            record.0.len(),
            4 + varint_len(key.len()) + key.len() + 8 * usize::from(expiry.is_some()) + value.len()
        );
    }
    // The dict entry, a 1-byte-header sds of 1 byte (8) and an embstr of 3 (32).
    let short = Record::new(b"k", Raw::String(b"abc"), None, 0);
    assert_eq!(short.footprint_bytes(), 48 + 8 + 32);
    assert_eq!(
        (varint_len(127), varint_len(128), varint_len(20_000)),
        (1, 2, 3)
    );
}

#[test]
fn values_change_in_place_or_regrow() {
    let mut db = Db::default();
    set(&mut db, b"k", "123", Some(50));
    let mut e = db.get_mut(b"k", 0).expect("live");
    e.set_value(ValueRef::String(b"456"));
    assert_eq!(e.expires_at_ms(), Some(50), "the TTL stays");
    e.set_value(ValueRef::String(b"longer value"));
    assert_eq!(e.append(b"!!"), 14);
    assert_eq!(e.value(), ValueRef::String(b"longer value!!"));
    assert_eq!(e.view().key, b"k");
    assert_eq!(value_of(&db, b"k", 0), Some(&b"longer value!!"[..]));
    assert_eq!(db.get(b"k", 0).and_then(|e| e.expires_at_ms), Some(50));
    // Dict entry 48, key sds 8, a raw string (APPEND built it): object 16, sds 32.
    assert_eq!(
        db.used_memory_estimate(),
        104 + PER_KEY_OVERHEAD_BYTES + PER_EXPIRY_OVERHEAD_BYTES
    );
    // Overwriting with another TTL, same size, then without one.
    set(&mut db, b"k", "abcdefghijklmn", Some(60));
    assert_eq!(db.due_for_expiry(60, 10), vec![Bytes::from_static(b"k")]);
    set(&mut db, b"k", "abcdefghijklmn", None);
    assert_eq!(db.expiring_count(), 0);
    // An embstr of 14 bytes: object, header and bytes in one 48-byte allocation.
    assert_eq!(db.used_memory_estimate(), 104 + PER_KEY_OVERHEAD_BYTES);
    assert_eq!(db.used_memory_estimate(), db.used_memory_walked());
    assert!(db.get_mut(b"none", 0).is_none());
}

fn key(i: usize) -> Bytes {
    Bytes::from(format!("key:{i}"))
}

#[test]
fn positions_group_keys_by_slot() {
    for k in [&b"foo"[..], b"{foo}bar", b"", b"x"] {
        let slot = u64::from(key_hash_slot(k));
        assert_eq!(scan_position(k) >> POSITION_HASH_BITS, slot);
        assert!(scan_position(k) < POSITION_END);
    }
    // Fixed values: cursors must mean the same thing in every run and every version.
    assert_eq!(scan_position(b"foo"), 0x2f96_af85_ea55_6958);
    assert_eq!(scan_position(b""), 0x0000_efd0_1f60_ba99);
}

#[test]
fn scan_steps_cover_every_key_once_when_nothing_changes() {
    let mut db = Db::default();
    for i in 0..500 {
        set(&mut db, &key(i), "v", None);
    }
    let mut seen = Vec::new();
    let mut from = 0;
    for _ in 0..1000 {
        let (keys, next) = db.scan(from, 7);
        assert!(keys.len() >= 7 || next.is_none());
        seen.extend(keys);
        match next {
            Some(n) => {
                assert!(n > from);
                from = n;
            }
            None => break,
        }
    }
    let in_order: Vec<Bytes> = db
        .entries_in_order()
        .map(|e| Bytes::copy_from_slice(e.key))
        .collect();
    assert_eq!(seen, in_order, "steps follow the full order");
    let positions: Vec<u64> = seen.iter().map(|k| scan_position(k)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    seen.sort();
    let mut expected: Vec<Bytes> = (0..500).map(key).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn scan_step_never_splits_keys_sharing_a_position() {
    let mut db = Db::default();
    for i in 0..50 {
        set(&mut db, &key(i), "v", None);
    }
    // Find a step boundary, then check nothing at the boundary position was returned.
    let (keys, next) = db.scan(0, 10);
    let next = next.expect("more keys remain");
    assert!(keys.iter().all(|k| scan_position(k) < next));
    let (rest, _) = db.scan(next, 1000);
    assert!(rest.iter().all(|k| scan_position(k) >= next));
    assert_eq!(keys.len() + rest.len(), 50);
}

/// Two keys of one slot whose 48 hash bits are equal (found by a search over `{t}<n>`).
const TWINS: [&[u8]; 2] = [b"{t}36868915", b"{t}32952004"];

#[test]
fn keys_sharing_a_position_are_ordered_by_key_and_counted_once() {
    assert_eq!(scan_position(TWINS[0]), scan_position(TWINS[1]));
    assert_ne!(TWINS[0], TWINS[1]);
    let position = scan_position(TWINS[0]);
    let slot = key_hash_slot(TWINS[0]);
    let mut db = Db::default();
    set(&mut db, TWINS[0], "a", None);
    set(&mut db, b"{t}other", "b", None);
    set(&mut db, TWINS[1], "c", Some(5));
    assert_eq!(value_of(&db, TWINS[0], 0), Some(&b"a"[..]));
    assert_eq!(value_of(&db, TWINS[1], 0), Some(&b"c"[..]));
    assert_eq!(db.count_in_slot(slot), 3);
    assert_eq!(db.positions.len(), 2);
    // Smaller key first, wherever a listing meets the shared position.
    let twins = vec![Bytes::from_static(TWINS[1]), Bytes::from_static(TWINS[0])];
    assert_eq!(
        db.scan(position, 1),
        (
            twins.clone(),
            db.positions.range(position + 1..).next().copied()
        )
    );
    assert_eq!(db.key_near(position), Some(TWINS[1]));
    let in_slot = db.keys_in_slot(slot, 10);
    let at = in_slot.iter().position(|k| k == TWINS[1]).expect("listed");
    assert_eq!(in_slot[at..at + 2], twins[..]);
    assert_eq!(db.keys_in_slot(slot, 3).len(), 3);
    // The position stays while one of the two remains.
    assert!(db.remove(TWINS[1]));
    assert_eq!(db.positions.len(), 2);
    assert_eq!(db.key_near(position), Some(TWINS[0]));
    assert_eq!(db.expiring_count(), 0);
    assert!(db.remove(TWINS[0]));
    assert_eq!(db.positions.len(), 1);
    assert_eq!(db.count_in_slot(slot), 1);
}

#[test]
fn expiry_index_tracks_set_replace_and_remove() {
    let mut db = Db::default();
    set(&mut db, &key(1), "a", Some(100));
    set(&mut db, &key(2), "b", Some(50));
    set(&mut db, &key(3), "c", None);
    assert_eq!(db.due_for_expiry(49, 10), Vec::<Bytes>::new());
    assert_eq!(db.due_for_expiry(100, 10), vec![key(2), key(1)]);
    assert_eq!(db.due_for_expiry(100, 1), vec![key(2)]);
    assert_eq!(db.expiry_times().collect::<Vec<_>>(), vec![50, 100]);
    // Replacing drops the old TTL; set_expiry moves it.
    set(&mut db, &key(2), "b2", None);
    assert!(db.set_expiry(&key(1), Some(200)));
    assert!(db.set_expiry(&key(1), Some(200)));
    assert!(db.set_expiry(&key(3), Some(10)));
    assert!(!db.set_expiry(&key(9), Some(10)));
    assert_eq!(db.due_for_expiry(150, 10), vec![key(3)]);
    assert_eq!(db.expiring_count(), 2);
    assert!(db.is_expired(&key(3), 10));
    assert!(!db.is_expired(&key(3), 9));
    assert_eq!(
        value_of(&db, &key(3), 9),
        Some(&b"c"[..]),
        "the value survives"
    );
    db.remove(&key(3));
    assert!(db.set_expiry(&key(1), None));
    assert_eq!(
        db.get(&key(1), u64::MAX).map(|e| e.expires_at_ms),
        Some(None)
    );
    assert_eq!(db.expiring_count(), 0);
    assert_eq!(db.due_for_expiry(u64::MAX, 10), Vec::<Bytes>::new());
}

#[test]
fn key_near_wraps_around() {
    let mut db = Db::default();
    assert_eq!(db.key_near(0), None);
    set(&mut db, &key(1), "a", None);
    let p = scan_position(&key(1));
    assert_eq!(db.key_near(p), Some(&key(1)[..]));
    assert_eq!(db.key_near(p + 1), Some(&key(1)[..]));
    assert_eq!(db.key_near(u64::MAX), Some(&key(1)[..]));
    assert_eq!(db.entries_in_order().count(), 1);
}

#[test]
fn clear_empties_every_index() {
    let mut db = Db::default();
    set(&mut db, b"a", "1", Some(5));
    set(&mut db, b"b", "2", None);
    db.clear();
    assert!(db.is_empty());
    assert_eq!((db.expiring_count(), db.used_memory_estimate()), (0, 0));
    assert_eq!(db.count_in_slot(key_hash_slot(b"a")), 0);
    assert_eq!(db.key_near(0), None);
}

fn list_of(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| s.as_bytes()).collect())
}

#[test]
fn collections_live_in_the_slab_and_leave_with_their_key() {
    let mut db = Db::default();
    db.set_owned(b"l", list_of(&["a", "b"]), None);
    db.set_owned(
        b"h",
        Value::Hash(Hash::from_pairs([(&b"f"[..], &b"v"[..])])),
        Some(50),
    );
    assert_eq!(db.slab.len(), 2);
    let entry = db.get(b"l", 0).expect("stored");
    assert_eq!(entry.value.type_name(), "list");
    assert_eq!(entry.value.as_string(), None);
    assert_eq!(entry.to_entry().value, list_of(&["a", "b"]));
    // A TTL change rebuilds the record around the same slot.
    assert!(db.set_expiry(b"l", Some(99)));
    assert_eq!(db.get(b"l", 0).map(|e| e.value.type_name()), Some("list"));
    // Overwriting with a string frees the slot; so does removing.
    db.set(b"l", ValueRef::String(b"s"), None);
    assert_eq!(db.slab.len(), 1);
    assert_eq!(value_of(&db, b"l", 0), Some(&b"s"[..]));
    assert!(db.remove(b"h"));
    assert_eq!(db.slab.len(), 0);
    // Changed in place through EntryMut, and replaced by a copy of another collection.
    db.set_owned(b"l2", list_of(&["x"]), None);
    let mut e = db.get_mut(b"l2", 0).expect("live");
    match e.collection_mut() {
        Some(Collection::List(l)) => l.push_back(b"y"),
        other => panic!("{other:?}"),
    }
    let copy = list_of(&["x", "y"]);
    assert_eq!(e.value(), copy.view());
    e.set_value(ValueRef::String(b"now a string"));
    assert_eq!(db.slab.len(), 0);
    db.set(b"l3", copy.view(), None);
    assert_eq!(db.slab.len(), 1);
    db.clear();
    assert_eq!(db.slab.len(), 0);
}

#[test]
fn string_records_stay_as_small_as_before() {
    // Tag, access clock, key length, key, value.
    let record = Record::new(b"key", Raw::String(b"val"), None, 0);
    assert_eq!(record.0.len(), 1 + 3 + 1 + 3 + 3);
    let collection = Record::new(b"key", Raw::Collection(7), None, 0);
    assert_eq!(collection.0.len(), 1 + 3 + 1 + 3 + 4);
    assert_eq!(collection.view().raw, Raw::Collection(7));
}

#[test]
fn used_memory_counts_collection_contents() {
    let mut db = Db::default();
    db.set_owned(b"l", list_of(&["abc", "de"]), None);
    // Dict entry and key sds (56), the object, quicklist and one node (96), then 5 data
    // bytes and two 4-byte offsets.
    assert_eq!(
        db.used_memory_estimate(),
        56 + PER_KEY_OVERHEAD_BYTES + 96 + 5 + 8
    );
    let mut e = db.get_mut(b"l", 0).expect("live");
    match e.collection_mut() {
        Some(Collection::List(l)) => l.push_back(b"fgh"),
        other => panic!("{other:?}"),
    }
    let before = 56 + PER_KEY_OVERHEAD_BYTES + 96 + 5 + 8;
    assert_eq!(db.used_memory_estimate(), before, "priced when settled");
    db.settle_memory();
    assert_eq!(
        db.used_memory_estimate(),
        before + 3 + 4,
        "changes in place are seen"
    );
    assert_eq!(db.used_memory_estimate(), db.used_memory_walked());
    db.remove(b"l");
    assert_eq!(db.used_memory_estimate(), 0);
}
