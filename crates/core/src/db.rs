//! The keyspace: string values with optional expiry, indexed by hash slot.
//!
//! Expiry is lazy on access (plus an active sweep the node runs from `tick`); the slot index
//! serves `CLUSTER COUNTKEYSINSLOT`/`GETKEYSINSLOT` and the cleanup when a slot moves away.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;

use crate::slot::{key_hash_slot, SLOT_COUNT};

/// A stored value. Only strings for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    String(Bytes),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: Value,
    /// Absolute unix-ms expiry time, if any.
    pub expires_at_ms: Option<u64>,
}

/// One database (cluster mode only has db 0).
pub struct Db {
    entries: HashMap<Bytes, Entry>,
    /// (slot, key) for every key, so keys of a slot come out in a stable order.
    by_slot: BTreeSet<(u16, Bytes)>,
    slot_counts: Vec<u32>,
    expiring: usize,
}

impl Default for Db {
    fn default() -> Self {
        Db {
            entries: HashMap::new(),
            by_slot: BTreeSet::new(),
            slot_counts: vec![0; SLOT_COUNT],
            expiring: 0,
        }
    }
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
        self.expiring
    }

    fn is_live(entry: &Entry, now_ms: u64) -> bool {
        entry.expires_at_ms.is_none_or(|t| t > now_ms)
    }

    /// The entry for `key` unless it is missing or expired (expired keys are not removed here;
    /// see [`Db::expire_if_needed`]).
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| Self::is_live(e, now_ms))
    }

    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        self.entries
            .get_mut(key)
            .filter(|e| Self::is_live(e, now_ms))
    }

    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Removes `key` if it has expired; returns true when it did.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        match self.entries.get(key) {
            Some(e) if !Self::is_live(e, now_ms) => {
                self.remove(key);
                true
            }
            _ => false,
        }
    }

    /// Inserts or replaces `key`.
    pub fn set(&mut self, key: Bytes, entry: Entry) {
        if entry.expires_at_ms.is_some() {
            self.expiring += 1;
        }
        match self.entries.insert(key.clone(), entry) {
            Some(old) => {
                if old.expires_at_ms.is_some() {
                    self.expiring -= 1;
                }
            }
            None => {
                let slot = key_hash_slot(&key);
                self.slot_counts[slot as usize] += 1;
                self.by_slot.insert((slot, key));
            }
        }
    }

    /// Sets or clears the expiry of an existing key; false if the key is missing.
    pub fn set_expiry(&mut self, key: &[u8], expires_at_ms: Option<u64>) -> bool {
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        match (entry.expires_at_ms.is_some(), expires_at_ms.is_some()) {
            (false, true) => self.expiring += 1,
            (true, false) => self.expiring -= 1,
            _ => {}
        }
        entry.expires_at_ms = expires_at_ms;
        true
    }

    /// Removes `key` (live or expired); returns the entry if there was one.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (key, entry) = self.entries.remove_entry(key)?;
        if entry.expires_at_ms.is_some() {
            self.expiring -= 1;
        }
        let slot = key_hash_slot(&key);
        self.slot_counts[slot as usize] -= 1;
        self.by_slot.remove(&(slot, key));
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
        self.by_slot
            .range((slot, Bytes::new())..)
            .take_while(|(s, _)| *s == slot)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// All keys (live or not); callers filter.
    pub fn keys(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.entries.iter()
    }

    /// Keys in slot order from position `cursor` on: used by SCAN so that cursors are stable.
    pub fn scan_from(&self, cursor: &(u16, Bytes)) -> impl Iterator<Item = &(u16, Bytes)> {
        self.by_slot.range(cursor.clone()..)
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
        assert_eq!(db.keys_in_slot(slot, 1), vec![Bytes::from_static(b"{a}1")]);
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
}
