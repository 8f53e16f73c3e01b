//! The keyspace: string values with optional expiry, indexed by hash slot.
//!
//! Expiry is lazy on access (plus an active sweep the node runs from `tick`); the slot index
//! serves `CLUSTER COUNTKEYSINSLOT`/`GETKEYSINSLOT` and the cleanup when a slot moves away.
//!
//! Two ordered indexes sit beside the hash map. Every key has a *scan position*: its slot in the
//! top bits and a hash of the key below, so a slot's keys are contiguous and a SCAN cursor (a
//! plain number) can name a point in the order that stays meaningful while keys come and go.
//! Keys with a TTL are also kept by expiry time, which lets the active sweep find exactly the
//! keys that are due instead of sampling.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;

use crate::slot::{key_hash_slot, SLOT_COUNT};

/// Bits of a scan position below the slot number.
const POSITION_HASH_BITS: u32 = 48;

/// Upper bound (exclusive) of scan positions: 14 slot bits above the hash bits.
pub const POSITION_END: u64 = (SLOT_COUNT as u64) << POSITION_HASH_BITS;

/// A stored value. Only strings for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    String(Bytes),
}

impl Value {
    /// The name `TYPE` and `SCAN … TYPE` use.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: Value,
    /// Absolute unix-ms expiry time, if any.
    pub expires_at_ms: Option<u64>,
}

/// What one probe of the hash map found (see [`Db::peek`]): hot command paths read or change a
/// live key with a single lookup and leave the rare expired key to the lazy-expiry path.
#[derive(Debug)]
pub enum Peek<E> {
    Missing,
    Live(E),
    /// Stored, but its TTL has passed (not removed yet).
    Expired,
}

/// One database (cluster mode only has db 0).
pub struct Db {
    entries: HashMap<Bytes, Entry>,
    /// (scan position, key) for every key; see the module docs.
    by_position: BTreeSet<(u64, Bytes)>,
    slot_counts: Vec<u32>,
    /// (expiry unix ms, key) for every key with a TTL, soonest first.
    by_expiry: BTreeSet<(u64, Bytes)>,
}

impl Default for Db {
    fn default() -> Self {
        Db {
            entries: HashMap::new(),
            by_position: BTreeSet::new(),
            slot_counts: vec![0; SLOT_COUNT],
            by_expiry: BTreeSet::new(),
        }
    }
}

/// Where `key` sits in the scan order: slot in the top bits, a key hash below.
pub fn scan_position(key: &[u8]) -> u64 {
    position_in_slot(key_hash_slot(key), key)
}

fn position_in_slot(slot: u16, key: &[u8]) -> u64 {
    (u64::from(slot) << POSITION_HASH_BITS) | (key_hash64(key) >> (64 - POSITION_HASH_BITS))
}

/// FNV-1a followed by a 64-bit finalizer so the high bits depend on every input byte. Fixed
/// (unseeded) on purpose: positions must be the same in every run for determinism.
fn key_hash64(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Db {
    /// Number of keys, including ones expired but not yet removed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys with an expiry set.
    pub fn expiring_count(&self) -> usize {
        self.by_expiry.len()
    }

    fn is_live(entry: &Entry, now_ms: u64) -> bool {
        entry.expires_at_ms.is_none_or(|t| t > now_ms)
    }

    /// The entry for `key` unless it is missing or expired (expired keys are not removed here;
    /// see [`Db::expire_if_needed`]).
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| Self::is_live(e, now_ms))
    }

    /// Like [`Db::get`], for changing the value in place. The expiry index does not see changes
    /// made here: change `expires_at_ms` only through [`Db::set_expiry`].
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        self.entries
            .get_mut(key)
            .filter(|e| Self::is_live(e, now_ms))
    }

    /// One lookup that tells a live key from a missing or an expired one.
    pub fn peek(&self, key: &[u8], now_ms: u64) -> Peek<&Entry> {
        match self.entries.get(key) {
            None => Peek::Missing,
            Some(e) if Self::is_live(e, now_ms) => Peek::Live(e),
            Some(_) => Peek::Expired,
        }
    }

    /// [`Db::peek`] for changing a live value in place; as with [`Db::get_mut`], change
    /// `expires_at_ms` only through [`Db::set_expiry`].
    pub fn peek_mut(&mut self, key: &[u8], now_ms: u64) -> Peek<&mut Entry> {
        match self.entries.get_mut(key) {
            None => Peek::Missing,
            Some(e) if Self::is_live(e, now_ms) => Peek::Live(e),
            Some(_) => Peek::Expired,
        }
    }

    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Whether `key` is stored but its TTL has passed.
    pub fn is_expired(&self, key: &[u8], now_ms: u64) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| !Self::is_live(e, now_ms))
    }

    /// Removes `key` if it has expired; returns true when it did.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        if self.is_expired(key, now_ms) {
            self.remove(key);
            true
        } else {
            false
        }
    }

    /// Inserts or replaces `key`.
    pub fn set(&mut self, key: Bytes, entry: Entry) {
        let new_at_ms = entry.expires_at_ms;
        match self.entries.insert(key.clone(), entry) {
            Some(old) => {
                if let Some(old_at_ms) = old.expires_at_ms {
                    self.by_expiry.remove(&(old_at_ms, key.clone()));
                }
            }
            None => {
                let slot = key_hash_slot(&key);
                self.slot_counts[slot as usize] += 1;
                let position = position_in_slot(slot, &key);
                self.by_position.insert((position, key.clone()));
            }
        }
        if let Some(at_ms) = new_at_ms {
            self.by_expiry.insert((at_ms, key));
        }
    }

    /// Sets or clears the expiry of an existing key; false if the key is missing.
    pub fn set_expiry(&mut self, key: &[u8], expires_at_ms: Option<u64>) -> bool {
        let Some((key, entry)) = self.entries.get_key_value(key) else {
            return false;
        };
        let key = key.clone();
        if let Some(old_at_ms) = entry.expires_at_ms {
            self.by_expiry.remove(&(old_at_ms, key.clone()));
        }
        if let Some(at_ms) = expires_at_ms {
            self.by_expiry.insert((at_ms, key.clone()));
        }
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.expires_at_ms = expires_at_ms;
        }
        true
    }

    /// Removes `key` (live or expired); returns the entry if there was one.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (key, entry) = self.entries.remove_entry(key)?;
        if let Some(at_ms) = entry.expires_at_ms {
            let removed = self.by_expiry.remove(&(at_ms, key.clone()));
            debug_assert!(removed, "expiry index out of step");
        }
        self.slot_counts[key_hash_slot(&key) as usize] -= 1;
        let removed = self.by_position.remove(&(scan_position(&key), key));
        debug_assert!(removed, "position index out of step");
        Some(entry)
    }

    pub fn clear(&mut self) {
        *self = Db::default();
    }

    pub fn count_in_slot(&self, slot: u16) -> usize {
        self.slot_counts[slot as usize] as usize
    }

    /// Up to `limit` keys of `slot`, in a stable order.
    pub fn keys_in_slot(&self, slot: u16, limit: usize) -> Vec<Bytes> {
        let start = u64::from(slot) << POSITION_HASH_BITS;
        let end = (u64::from(slot) + 1) << POSITION_HASH_BITS;
        self.by_position
            .range((start, Bytes::new())..(end, Bytes::new()))
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// All keys (live or not) in no particular order; callers filter.
    pub fn keys(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.entries.iter()
    }

    /// All keys (live or not) in scan order; callers filter.
    pub fn keys_in_order(&self) -> impl Iterator<Item = &Bytes> {
        self.by_position.iter().map(|(_, k)| k)
    }

    /// One SCAN step: keys (live or not; callers filter) from scan position `from` on, `count`
    /// of them or more, and the position the next step starts at (`None` at the end). Keys that
    /// share the last position are all taken, so every step ends strictly between two positions:
    /// a key present throughout a scan is therefore returned at least once.
    pub fn scan(&self, from: u64, count: usize) -> (Vec<Bytes>, Option<u64>) {
        assert!(count > 0, "a zero-count scan step makes no progress");
        let mut keys = Vec::with_capacity(count.min(1024));
        let mut last_position = None;
        for (position, key) in self.by_position.range((from, Bytes::new())..) {
            if keys.len() >= count && last_position != Some(*position) {
                return (keys, Some(*position));
            }
            keys.push(key.clone());
            last_position = Some(*position);
        }
        (keys, None)
    }

    /// The first key at or after scan position `pick` (wrapping around), for `RANDOMKEY`.
    pub fn key_near(&self, pick: u64) -> Option<&Bytes> {
        self.by_position
            .range((pick % POSITION_END, Bytes::new())..)
            .chain(self.by_position.iter())
            .next()
            .map(|(_, k)| k)
    }

    /// Up to `limit` keys whose TTL has passed at `now_ms`, soonest expiry first.
    pub fn due_for_expiry(&self, now_ms: u64, limit: usize) -> Vec<Bytes> {
        self.by_expiry
            .iter()
            .take_while(|(at_ms, _)| *at_ms <= now_ms)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(v: &str, exp: Option<u64>) -> Entry {
        Entry {
            value: Value::String(Bytes::copy_from_slice(v.as_bytes())),
            expires_at_ms: exp,
        }
    }

    #[test]
    fn slot_index_follows_inserts_and_removes() {
        let mut db = Db::default();
        db.set(Bytes::from_static(b"{a}1"), string("x", None));
        db.set(Bytes::from_static(b"{a}2"), string("y", Some(10)));
        db.set(Bytes::from_static(b"{a}1"), string("z", None));
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
        assert_eq!(db.count_in_slot(slot), 1);
        assert_eq!(db.expiring_count(), 0);
        assert_eq!(
            db.remove(b"{a}1").map(|e| e.value),
            Some(Value::String("z".into()))
        );
        assert!(db.is_empty());
        assert_eq!(db.count_in_slot(slot), 0);
    }

    #[test]
    fn peek_tells_live_missing_and_expired() {
        let mut db = Db::default();
        db.set(Bytes::from_static(b"live"), string("x", None));
        db.set(Bytes::from_static(b"old"), string("y", Some(10)));
        assert!(
            matches!(db.peek(b"live", 10), Peek::Live(e) if e.value == Value::String("x".into()))
        );
        assert!(matches!(db.peek(b"none", 10), Peek::Missing));
        assert!(matches!(db.peek(b"old", 9), Peek::Live(_)));
        assert!(matches!(db.peek(b"old", 10), Peek::Expired));
        if let Peek::Live(e) = db.peek_mut(b"live", 10) {
            e.value = Value::String("z".into());
        }
        assert_eq!(db.get(b"live", 10), Some(&string("z", None)));
        assert!(matches!(db.peek_mut(b"old", 10), Peek::Expired));
        assert_eq!(db.len(), 2, "peeking removes nothing");
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
        // Same input, same position: cursors must mean the same thing in every run.
        assert_eq!(scan_position(b"foo"), scan_position(b"foo"));
    }

    #[test]
    fn scan_steps_cover_every_key_once_when_nothing_changes() {
        let mut db = Db::default();
        for i in 0..500 {
            db.set(key(i), string("v", None));
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
        seen.sort();
        let mut expected: Vec<Bytes> = (0..500).map(key).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn scan_step_never_splits_keys_sharing_a_position() {
        let mut db = Db::default();
        for i in 0..50 {
            db.set(key(i), string("v", None));
        }
        // Find a step boundary, then check nothing at the boundary position was returned.
        let (keys, next) = db.scan(0, 10);
        let next = next.expect("more keys remain");
        assert!(keys.iter().all(|k| scan_position(k) < next));
        let (rest, _) = db.scan(next, 1000);
        assert!(rest.iter().all(|k| scan_position(k) >= next));
        assert_eq!(keys.len() + rest.len(), 50);
    }

    #[test]
    fn expiry_index_tracks_set_replace_and_remove() {
        let mut db = Db::default();
        db.set(key(1), string("a", Some(100)));
        db.set(key(2), string("b", Some(50)));
        db.set(key(3), string("c", None));
        assert_eq!(db.due_for_expiry(49, 10), Vec::<Bytes>::new());
        assert_eq!(db.due_for_expiry(100, 10), vec![key(2), key(1)]);
        assert_eq!(db.due_for_expiry(100, 1), vec![key(2)]);
        // Replacing drops the old TTL; set_expiry moves it.
        db.set(key(2), string("b2", None));
        assert!(db.set_expiry(&key(1), Some(200)));
        assert!(db.set_expiry(&key(3), Some(10)));
        assert!(!db.set_expiry(&key(9), Some(10)));
        assert_eq!(db.due_for_expiry(150, 10), vec![key(3)]);
        assert_eq!(db.expiring_count(), 2);
        assert!(db.is_expired(&key(3), 10));
        assert!(!db.is_expired(&key(3), 9));
        db.remove(&key(3));
        assert!(db.set_expiry(&key(1), None));
        assert_eq!(db.expiring_count(), 0);
        assert_eq!(db.due_for_expiry(u64::MAX, 10), Vec::<Bytes>::new());
    }

    #[test]
    fn key_near_wraps_around() {
        let mut db = Db::default();
        assert_eq!(db.key_near(0), None);
        db.set(key(1), string("a", None));
        let p = scan_position(&key(1));
        assert_eq!(db.key_near(p), Some(&key(1)));
        assert_eq!(db.key_near(p + 1), Some(&key(1)));
        assert_eq!(db.key_near(u64::MAX), Some(&key(1)));
        assert_eq!(db.keys_in_order().count(), 1);
    }
}
