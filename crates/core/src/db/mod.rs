//! The keyspace: values of every type with optional expiry, indexed by hash slot.
//!
//! Expiry is lazy on access (plus an active sweep the node runs from `tick`); the slot index
//! serves `CLUSTER COUNTKEYSINSLOT`/`GETKEYSINSLOT` and the cleanup when a slot moves away.
//!
//! Memory is the main design force: each key is one allocation, a `Record` packing the key,
//! the expiry and the value, kept in a hash table that hashes and compares the key part only.
//! A collection (list, hash, set, sorted set) lives in a slab beside the table and its record
//! holds the slot number, so strings cost exactly what they did before collections existed.
//!
//! Every key has a *scan position*: its slot in the top bits and a 48-bit hash of the key below,
//! so a slot's keys are contiguous and a SCAN cursor (a plain number) can name a point in the
//! order that stays meaningful while keys come and go. An ordered set holds the occupied
//! positions (not the keys); the hash table is hashed by the position's hash bits, so the keys
//! at a position are found with one probe. Two keys of one slot may share a position (a 48-bit
//! collision); they are then ordered by key bytes. Keys with a TTL are also kept by expiry time,
//! which lets the active sweep find exactly the keys that are due instead of sampling.
//!
//! Determinism: the simulator replays a seed exactly, so nothing here reveals the hash table's
//! iteration order; every listing goes through the position order.

use std::collections::BTreeSet;

use bytes::Bytes;
use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::HashTable;

use crate::slot::{key_hash_slot, SLOT_COUNT};

pub mod access;
pub mod evict_pool;
mod hash;
mod limits;
mod list;
mod packed;
mod ready;
mod record;
mod set;
mod slab;
pub mod stream;
mod value;
mod zset;

use access::AccessPolicy;
pub use hash::{Hash, HASH_MAX_LISTPACK_ENTRIES, HASH_MAX_LISTPACK_VALUE_BYTES};
pub use limits::EncodingLimits;
pub use list::List;
use record::{Raw, RawEntry, Record};
pub use set::{Set, SET_MAX_INTSET_ENTRIES};
use slab::Slab;
pub use stream::Stream;
pub use value::{Collection, Value, ValueRef};
pub use zset::{
    LexBound, ScoreBound, ZIter, ZSet, ZSET_MAX_LISTPACK_ENTRIES, ZSET_MAX_LISTPACK_VALUE_BYTES,
};

/// Bits of a scan position below the slot number.
const POSITION_HASH_BITS: u32 = 48;
const POSITION_HASH_MASK: u64 = (1 << POSITION_HASH_BITS) - 1;

/// Upper bound (exclusive) of scan positions: 14 slot bits above the hash bits.
pub const POSITION_END: u64 = (SLOT_COUNT as u64) << POSITION_HASH_BITS;

/// A key's share of the keyspace dict's bucket array (8-byte pointers at a load between one
/// half and one): what `used_memory` adds per key beyond the key's own footprint (see
/// `Record::footprint_bytes`). Linear rather than Redis's power-of-two steps, so evicting one
/// key never seems to free half a table.
pub const PER_KEY_OVERHEAD_BYTES: u64 = 12;

/// The extra cost of a TTL in Redis: an entry in the expires dict (24 bytes; the key is
/// shared) and its bucket share.
pub const PER_EXPIRY_OVERHEAD_BYTES: u64 = 24 + PER_KEY_OVERHEAD_BYTES;

/// A value and its expiry, owned (what `WATCH` remembers).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// Absolute unix-ms expiry time, if any.
    pub expires_at_ms: Option<u64>,
}

/// A stored key, borrowed from the keyspace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntryRef<'a> {
    pub key: &'a [u8],
    pub value: ValueRef<'a>,
    /// Absolute unix-ms expiry time, if any.
    pub expires_at_ms: Option<u64>,
}

impl EntryRef<'_> {
    /// Whether the TTL, if any, is still ahead at `now_ms`.
    pub fn is_live(self, now_ms: u64) -> bool {
        self.expires_at_ms.is_none_or(|t| t > now_ms)
    }

    pub fn to_entry(self) -> Entry {
        Entry {
            value: self.value.to_value(),
            expires_at_ms: self.expires_at_ms,
        }
    }
}

/// A live key opened for changing its value in place. The key and the TTL stay: the TTL
/// changes only through [`Db::set_expiry`], which keeps the expiry index in step.
pub struct EntryMut<'a> {
    record: &'a mut Record,
    data_bytes: &'a mut u64,
    slab: &'a mut Slab,
    ready: &'a mut ready::ReadyKeys,
}

impl<'a> EntryMut<'a> {
    pub fn view(&self) -> EntryRef<'_> {
        resolve(self.slab, self.record.view())
    }

    pub fn value(&self) -> ValueRef<'_> {
        self.view().value
    }

    pub fn expires_at_ms(&self) -> Option<u64> {
        self.record.expires_at_ms()
    }

    /// Replaces the value; a string of the same size overwrites in place without allocating.
    pub fn set_value(&mut self, value: ValueRef<'_>) {
        *self.data_bytes -= self.record.footprint_bytes() as u64;
        if let Some(slot) = self.record.collection_slot() {
            if let Collection::Stream(_) = self.slab.remove(slot) {
                // An XREADGROUP blocked on a stream overwritten is let go.
                self.ready.created(self.record.key());
            }
        }
        let raw = store_raw(self.slab, value);
        let expires_at_ms = self.expires_at_ms();
        // The command that changes a value has looked the key up, which stamped its clock.
        let clock = self.record.clock();
        self.record.replace(raw, expires_at_ms, clock);
        *self.data_bytes += self.record.footprint_bytes() as u64;
    }

    /// Appends to the string value (growing the record in place when the allocator can);
    /// returns the new length. The caller has checked that the value is a string.
    pub fn append(&mut self, suffix: &[u8]) -> usize {
        *self.data_bytes -= self.record.footprint_bytes() as u64;
        self.record.append(suffix);
        self.record.mark_raw_string();
        *self.data_bytes += self.record.footprint_bytes() as u64;
        self.value().as_string().map_or(0, <[u8]>::len)
    }

    /// The string value's bytes, changed in place without a copy (SETBIT, BITFIELD); `None`
    /// for a collection.
    pub fn string_mut(&mut self) -> Option<&mut [u8]> {
        self.record.string_mut()
    }

    /// Marks the string as built in place (SETRANGE), which `OBJECT ENCODING` reports as `raw`.
    pub fn mark_raw_string(&mut self) {
        *self.data_bytes -= self.record.footprint_bytes() as u64;
        self.record.mark_raw_string();
        *self.data_bytes += self.record.footprint_bytes() as u64;
    }

    /// [`EntryMut::collection_mut`] keeping the keyspace's borrow, for helpers that hand a
    /// typed collection back to a command.
    pub fn into_collection_mut(self) -> Option<&'a mut Collection> {
        let slot = self.record.collection_slot()?;
        Some(self.slab.get_mut(slot))
    }

    /// The collection, to change in place; `None` for a string. A command that empties it
    /// removes the key afterwards (Redis never stores an empty collection).
    pub fn collection_mut(&mut self) -> Option<&mut Collection> {
        let slot = self.record.collection_slot()?;
        Some(self.slab.get_mut(slot))
    }
}

/// A record's parts with its collection, if any, looked up in the slab.
fn resolve<'a>(slab: &'a Slab, raw: RawEntry<'a>) -> EntryRef<'a> {
    let value = match raw.raw {
        Raw::String(s) => ValueRef::String(s),
        Raw::Collection(slot) => slab.get(slot).view(),
    };
    EntryRef {
        key: raw.key,
        value,
        expires_at_ms: raw.expires_at_ms,
    }
}

/// The record form of `value`: a string as is, a collection copied into the slab.
fn store_raw<'v>(slab: &mut Slab, value: ValueRef<'v>) -> Raw<'v> {
    let collection = match value {
        ValueRef::String(s) => return Raw::String(s),
        ValueRef::List(l) => Collection::List(l.clone()),
        ValueRef::Hash(h) => Collection::Hash(h.clone()),
        ValueRef::Set(s) => Collection::Set(s.clone()),
        ValueRef::ZSet(z) => Collection::ZSet(z.clone()),
        ValueRef::Stream(s) => Collection::Stream(Box::new(s.clone())),
    };
    Raw::Collection(slab.insert(collection))
}

/// What one probe of the hash table found (see [`Db::peek`]): hot command paths read or change a
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
    /// Every key, hashed by [`table_hash`] of its position's hash bits.
    records: HashTable<Record>,
    /// The scan position of every key (one entry for keys sharing a position).
    positions: BTreeSet<u64>,
    slot_counts: Vec<u32>,
    /// (expiry unix ms, key) for every key with a TTL, soonest first.
    by_expiry: BTreeSet<(u64, Box<[u8]>)>,
    /// The footprint of every record (`Record::footprint_bytes`): keys and strings as Redis
    /// holds them; collections are priced by the slab.
    data_bytes: u64,
    /// The collections records refer to.
    slab: Slab,
    /// Keys clients block on, and those of them created lately (see `ready`).
    pub(crate) ready: ready::ReadyKeys,
    /// How records are stamped, and the unix time of the command running now.
    access_policy: AccessPolicy,
    access_unix_ms: u64,
}

impl Default for Db {
    fn default() -> Self {
        Db {
            records: HashTable::new(),
            positions: BTreeSet::new(),
            slot_counts: vec![0; SLOT_COUNT],
            by_expiry: BTreeSet::new(),
            data_bytes: 0,
            slab: Slab::default(),
            ready: ready::ReadyKeys::default(),
            access_policy: AccessPolicy::default(),
            access_unix_ms: 0,
        }
    }
}

/// Where `key` sits in the scan order: slot in the top bits, a key hash below.
pub fn scan_position(key: &[u8]) -> u64 {
    position_in_slot(key_hash_slot(key), key_hash_bits(key))
}

fn position_in_slot(slot: u16, hash_bits: u64) -> u64 {
    (u64::from(slot) << POSITION_HASH_BITS) | hash_bits
}

/// The hash part of a key's scan position.
fn key_hash_bits(key: &[u8]) -> u64 {
    key_hash64(key) >> (64 - POSITION_HASH_BITS)
}

/// The hash table's hash of a key, from its position's hash bits alone so that the keys at a
/// position can be found from the position. The multiply spreads the 48 bits over all 64: the
/// table takes its bucket from the low bits and a tag from the top 7. Unseeded, so not proof
/// against crafted collisions; fine for a local test bed, and it keeps runs reproducible.
fn table_hash(hash_bits: u64) -> u64 {
    hash_bits.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn record_hash(record: &Record) -> u64 {
    table_hash(key_hash_bits(record.key()))
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

fn is_live(record: &Record, now_ms: u64) -> bool {
    record.expires_at_ms().is_none_or(|t| t > now_ms)
}

impl Db {
    /// Number of keys, including ones expired but not yet removed.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Keys with an expiry set.
    pub fn expiring_count(&self) -> usize {
        self.by_expiry.len()
    }

    /// An estimate of the memory Redis would hold for this keyspace (see
    /// [`PER_KEY_OVERHEAD_BYTES`]), kept as keys change: collections changed in place count
    /// as of the last [`Db::settle_memory`].
    pub fn used_memory_estimate(&self) -> u64 {
        self.data_bytes
            + self.slab.memory_bytes()
            + self.len() as u64 * PER_KEY_OVERHEAD_BYTES
            + self.expiring_count() as u64 * PER_EXPIRY_OVERHEAD_BYTES
    }

    /// Prices again the collections changed in place since the last call (see `Slab`).
    pub fn settle_memory(&mut self) {
        self.slab.settle();
    }

    /// [`Db::used_memory_estimate`] from a fresh walk of every key (tests hold the running
    /// total to it).
    #[cfg(test)]
    pub(crate) fn used_memory_walked(&self) -> u64 {
        let records: u64 = self
            .records
            .iter()
            .map(|r| r.footprint_bytes() as u64)
            .sum();
        records
            + self.slab.memory_bytes_walked()
            + self.len() as u64 * PER_KEY_OVERHEAD_BYTES
            + self.expiring_count() as u64 * PER_EXPIRY_OVERHEAD_BYTES
    }

    /// The expiry times of all keys with a TTL, soonest first.
    pub fn expiry_times(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_expiry.iter().map(|(at_ms, _)| *at_ms)
    }

    fn find(&self, key: &[u8]) -> Option<&Record> {
        let hash = table_hash(key_hash_bits(key));
        self.records.find(hash, |r| r.key() == key)
    }

    /// The entry for `key` unless it is missing or expired (expired keys are not removed here;
    /// see [`Db::expire_if_needed`]).
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<EntryRef<'_>> {
        match self.peek(key, now_ms) {
            Peek::Live(entry) => Some(entry),
            Peek::Missing | Peek::Expired => None,
        }
    }

    /// Like [`Db::get`], for changing the value in place.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<EntryMut<'_>> {
        match self.peek_mut(key, now_ms) {
            Peek::Live(entry) => Some(entry),
            Peek::Missing | Peek::Expired => None,
        }
    }

    /// One lookup that tells a live key from a missing or an expired one.
    pub fn peek(&self, key: &[u8], now_ms: u64) -> Peek<EntryRef<'_>> {
        match self.find(key) {
            None => Peek::Missing,
            Some(r) if is_live(r, now_ms) => Peek::Live(resolve(&self.slab, r.view())),
            Some(_) => Peek::Expired,
        }
    }

    /// [`Db::peek`] for changing a live value in place.
    pub fn peek_mut(&mut self, key: &[u8], now_ms: u64) -> Peek<EntryMut<'_>> {
        let hash = table_hash(key_hash_bits(key));
        let Db {
            records,
            data_bytes,
            slab,
            ready,
            ..
        } = self;
        match records.find_mut(hash, |r| r.key() == key) {
            None => Peek::Missing,
            Some(record) if is_live(record, now_ms) => Peek::Live(EntryMut {
                record,
                data_bytes,
                slab,
                ready,
            }),
            Some(_) => Peek::Expired,
        }
    }

    /// Whether `key` holds a string that APPEND or SETRANGE built (`OBJECT ENCODING` `raw`).
    pub fn is_raw_string(&self, key: &[u8]) -> bool {
        self.find(key).is_some_and(Record::is_raw_string)
    }

    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.find(key).is_some_and(|r| is_live(r, now_ms))
    }

    /// Whether `key` is stored but its TTL has passed.
    pub fn is_expired(&self, key: &[u8], now_ms: u64) -> bool {
        self.find(key).is_some_and(|r| !is_live(r, now_ms))
    }

    /// Removes `key` if it has expired; returns true when it did.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.is_expired(key, now_ms) && self.remove(key)
    }

    /// Inserts or replaces `key`, with one hash lookup (a collection value is copied).
    pub fn set(&mut self, key: &[u8], value: ValueRef<'_>, expires_at_ms: Option<u64>) {
        let raw = store_raw(&mut self.slab, value);
        self.set_raw(key, raw, expires_at_ms);
    }

    /// [`Db::set`] for an owned value, whose collection moves in without a copy.
    pub fn set_owned(&mut self, key: &[u8], value: Value, expires_at_ms: Option<u64>) {
        match value.into_stored() {
            Ok(string) => self.set_raw(key, Raw::String(&string), expires_at_ms),
            Err(collection) => {
                let slot = self.slab.insert(collection);
                self.set_raw(key, Raw::Collection(slot), expires_at_ms);
            }
        }
    }

    fn set_raw(&mut self, key: &[u8], value: Raw<'_>, expires_at_ms: Option<u64>) {
        // Collections change in place; one stored whole is new here (or replaced a value of
        // another kind, as RESTORE REPLACE does), so clients blocked on the key may be served.
        if matches!(value, Raw::Collection(_)) {
            self.ready.created(key);
        }
        let hash_bits = key_hash_bits(key);
        let entry = self
            .records
            .entry(table_hash(hash_bits), |r| r.key() == key, record_hash);
        let old_expiry = match entry {
            TableEntry::Occupied(mut found) => {
                let record = found.get_mut();
                let old_expiry = record.expires_at_ms();
                self.data_bytes -= record.footprint_bytes() as u64;
                if let Some(slot) = record.collection_slot() {
                    if let Collection::Stream(_) = self.slab.remove(slot) {
                        // An XREADGROUP blocked on a stream overwritten is let go.
                        self.ready.created(key);
                    }
                }
                // Redis's dbSetValue: an overwritten key keeps its LFU counter; under LRU the
                // new object is stamped now.
                let clock = if self.access_policy.is_lfu() {
                    record.clock()
                } else {
                    self.access_policy.new_key_clock(self.access_unix_ms)
                };
                record.replace(value, expires_at_ms, clock);
                self.data_bytes += record.footprint_bytes() as u64;
                old_expiry
            }
            TableEntry::Vacant(free) => {
                let clock = self.access_policy.new_key_clock(self.access_unix_ms);
                let record = free.insert(Record::new(key, value, expires_at_ms, clock));
                self.data_bytes += record.get().footprint_bytes() as u64;
                let slot = key_hash_slot(key);
                self.slot_counts[slot as usize] += 1;
                self.positions.insert(position_in_slot(slot, hash_bits));
                None
            }
        };
        self.reindex_expiry(key, old_expiry, expires_at_ms);
    }

    fn reindex_expiry(&mut self, key: &[u8], old: Option<u64>, new: Option<u64>) {
        if old == new {
            return;
        }
        if let Some(at_ms) = old {
            let removed = self.by_expiry.remove(&(at_ms, Box::from(key)));
            debug_assert!(removed, "expiry index out of step");
        }
        if let Some(at_ms) = new {
            self.by_expiry.insert((at_ms, Box::from(key)));
        }
    }

    /// Sets or clears the expiry of an existing key; false if the key is missing.
    pub fn set_expiry(&mut self, key: &[u8], expires_at_ms: Option<u64>) -> bool {
        let hash = table_hash(key_hash_bits(key));
        let Some(record) = self.records.find_mut(hash, |r| r.key() == key) else {
            return false;
        };
        let old = record.expires_at_ms();
        if old != expires_at_ms {
            *record = record.with_expiry(expires_at_ms);
            self.reindex_expiry(key, old, expires_at_ms);
        }
        true
    }

    /// Removes `key` (live or expired); returns whether it was there.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let hash_bits = key_hash_bits(key);
        let Ok(found) = self
            .records
            .find_entry(table_hash(hash_bits), |r| r.key() == key)
        else {
            return false;
        };
        let (record, _) = found.remove();
        self.data_bytes -= record.footprint_bytes() as u64;
        if let Some(slot) = record.collection_slot() {
            if let Collection::Stream(_) = self.slab.remove(slot) {
                // An XREADGROUP blocked on a deleted stream is let go.
                self.ready.created(key);
            }
        }
        self.reindex_expiry(key, record.expires_at_ms(), None);
        let slot = key_hash_slot(key);
        self.slot_counts[slot as usize] -= 1;
        let position = position_in_slot(slot, hash_bits);
        if self.at_position(position).next().is_none() {
            let removed = self.positions.remove(&position);
            debug_assert!(removed, "position index out of step");
        }
        true
    }

    /// Removes every key (the blocked clients' keys stay watched).
    pub fn clear(&mut self) {
        let ready = std::mem::take(&mut self.ready);
        let (policy, unix_ms) = (self.access_policy, self.access_unix_ms);
        *self = Db::default();
        self.ready = ready;
        self.set_access_now(policy, unix_ms);
    }

    // ---- access clock (see `access`) ----------------------------------------------------------

    /// The policy and time that stamp the records written from now on.
    pub fn set_access_now(&mut self, policy: AccessPolicy, unix_ms: u64) {
        self.access_policy = policy;
        self.access_unix_ms = unix_ms;
    }

    pub fn access_policy(&self) -> AccessPolicy {
        self.access_policy
    }

    /// The access clock of a live `key`.
    pub fn access_clock(&self, key: &[u8], now_ms: u64) -> Option<u32> {
        self.find(key)
            .filter(|r| is_live(r, now_ms))
            .map(Record::clock)
    }

    /// `key` as stored, expired or not, with its access clock and its record's address
    /// (`DEBUG OBJECT`, which reads the table without the lookup rules).
    pub fn debug_view(&self, key: &[u8]) -> Option<(EntryRef<'_>, u32, usize)> {
        let record = self.find(key)?;
        let address = record.0.as_ptr() as usize;
        Some((resolve(&self.slab, record.view()), record.clock(), address))
    }

    /// Sets the access clock of `key` (live or not); false if it is missing.
    pub fn set_access_clock(&mut self, key: &[u8], clock: u32) -> bool {
        let hash = table_hash(key_hash_bits(key));
        let Some(record) = self.records.find_mut(hash, |r| r.key() == key) else {
            return false;
        };
        record.set_clock(clock);
        true
    }

    /// An access to a live `key` at the current time, as Redis's `lookupKey` stamps it;
    /// `draw` is the LFU increment's uniform [0, 1) number.
    pub fn touch(&mut self, key: &[u8], now_ms: u64, draw: impl FnOnce() -> f64) {
        let hash = table_hash(key_hash_bits(key));
        let Some(record) = self.records.find_mut(hash, |r| r.key() == key) else {
            return;
        };
        if is_live(record, now_ms) {
            let clock = self
                .access_policy
                .touched(record.clock(), self.access_unix_ms, draw);
            record.set_clock(clock);
        }
    }

    pub fn count_in_slot(&self, slot: u16) -> usize {
        self.slot_counts[slot as usize] as usize
    }

    /// The keys at scan position `position`, smallest first: almost always none or one, so
    /// nothing is allocated then.
    fn at_position(&self, position: u64) -> impl Iterator<Item = EntryRef<'_>> {
        let hash_bits = position & POSITION_HASH_MASK;
        let slot = position >> POSITION_HASH_BITS;
        let mut found = self
            .records
            .iter_hash(table_hash(hash_bits))
            .map(|r| resolve(&self.slab, r.view()))
            .filter(move |e| {
                key_hash_bits(e.key) == hash_bits && u64::from(key_hash_slot(e.key)) == slot
            });
        let first = found.next();
        let mut more: Vec<EntryRef<'_>> = found.collect();
        let first = match first {
            Some(entry) if !more.is_empty() => {
                more.push(entry);
                more.sort_unstable_by(|a, b| a.key.cmp(b.key));
                None
            }
            first => first,
        };
        first.into_iter().chain(more)
    }

    /// Up to `limit` keys of `slot`, in scan order.
    pub fn keys_in_slot(&self, slot: u16, limit: usize) -> Vec<Bytes> {
        let start = u64::from(slot) << POSITION_HASH_BITS;
        let end = (u64::from(slot) + 1) << POSITION_HASH_BITS;
        self.positions
            .range(start..end)
            .flat_map(|&p| self.at_position(p))
            .take(limit)
            .map(|e| Bytes::copy_from_slice(e.key))
            .collect()
    }

    /// All keys (live or not) in scan order; callers filter.
    pub fn entries_in_order(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.positions.iter().flat_map(|&p| self.at_position(p))
    }

    /// One SCAN step: keys (live or not; callers filter) from scan position `from` on, `count`
    /// of them or more, and the position the next step starts at (`None` at the end). Keys that
    /// share the last position are all taken, so every step ends strictly between two positions:
    /// a key present throughout a scan is therefore returned at least once.
    pub fn scan(&self, from: u64, count: usize) -> (Vec<Bytes>, Option<u64>) {
        assert!(count > 0, "a zero-count scan step makes no progress");
        let mut keys = Vec::with_capacity(count.min(1024));
        for &position in self.positions.range(from..) {
            if keys.len() >= count {
                return (keys, Some(position));
            }
            keys.extend(
                self.at_position(position)
                    .map(|e| Bytes::copy_from_slice(e.key)),
            );
        }
        (keys, None)
    }

    /// The first key at or after scan position `pick` (wrapping around), for `RANDOMKEY`.
    pub fn key_near(&self, pick: u64) -> Option<&[u8]> {
        let position = self
            .positions
            .range(pick % POSITION_END..)
            .chain(&self.positions)
            .next()?;
        self.at_position(*position).next().map(|e| e.key)
    }

    /// Up to `limit` keys whose TTL has passed at `now_ms`, soonest expiry first.
    pub fn due_for_expiry(&self, now_ms: u64, limit: usize) -> Vec<Bytes> {
        self.by_expiry
            .iter()
            .take_while(|(at_ms, _)| *at_ms <= now_ms)
            .take(limit)
            .map(|(_, k)| Bytes::copy_from_slice(k))
            .collect()
    }
}

#[cfg(test)]
mod tests;
