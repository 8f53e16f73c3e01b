//! One key in one allocation: the packed `Record` the keyspace's hash table holds.
//!
//! Layout: `[tag][access clock, 3 bytes LE][key length, LEB128][key][expiry, u64 LE, if the tag
//! says so][value]`. The access clock is Redis's 24-bit `lru` field (see `access`). For a
//! string the value is its bytes; for a collection it is the 4-byte slot number of the
//! collection in the keyspace's slab. Only the keyspace builds records, so their layout is
//! trusted when read.

use super::ValueRef;
use crate::cmd::server::memory::{dataset_value_bytes, sds};

/// A keyspace dict entry in cluster mode: Redis 7.0's 24 bytes and 16 of metadata (the
/// slot's key list links), in jemalloc's 48-byte class.
const CLUSTER_DICT_ENTRY_BYTES: usize = 48;

/// Tag bit: an 8-byte expiry follows the key.
const TAG_EXPIRES: u8 = 0x80;
/// Tag type bits: a string value (bytes follow).
const TAG_STRING: u8 = 0;
/// Tag type bits: a collection (a u32 LE slab slot follows).
const TAG_COLLECTION: u8 = 1;
/// Tag bit: a string APPEND or SETRANGE built in place, which Redis holds as `raw` whatever
/// its length; any other write of the value clears it.
const TAG_RAW_STRING: u8 = 0x40;
const TAG_TYPE_MASK: u8 = 0x3f;
/// Where the 24-bit access clock sits, right after the tag.
const CLOCK_AT: usize = 1;
const CLOCK_LEN: usize = 3;

/// What a record's value part holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Raw<'a> {
    String(&'a [u8]),
    /// A slot in the keyspace's collection slab.
    Collection(u32),
}

impl Raw<'_> {
    fn stored_len(self) -> usize {
        match self {
            Raw::String(s) => s.len(),
            Raw::Collection(_) => 4,
        }
    }

    fn tag(self) -> u8 {
        match self {
            Raw::String(_) => TAG_STRING,
            Raw::Collection(_) => TAG_COLLECTION,
        }
    }

    fn write_to(self, out: &mut [u8]) {
        match self {
            Raw::String(s) => out.copy_from_slice(s),
            Raw::Collection(slot) => out.copy_from_slice(&slot.to_le_bytes()),
        }
    }
}

/// A record's parts.
#[derive(Clone, Copy, Debug)]
pub(super) struct RawEntry<'a> {
    pub key: &'a [u8],
    pub raw: Raw<'a>,
    pub expires_at_ms: Option<u64>,
}

#[derive(Debug)]
pub(super) struct Record(pub(super) Box<[u8]>);

impl Record {
    pub(super) fn new(key: &[u8], raw: Raw<'_>, expires_at_ms: Option<u64>, clock: u32) -> Record {
        debug_assert!(clock <= super::access::LRU_CLOCK_MAX, "24-bit clock");
        let expiry_len = if expires_at_ms.is_some() { 8 } else { 0 };
        let len = 1 + CLOCK_LEN + varint_len(key.len()) + key.len() + expiry_len + raw.stored_len();
        let mut out = Vec::with_capacity(len);
        out.push(Self::tag(raw, expires_at_ms));
        out.extend_from_slice(&clock.to_le_bytes()[..CLOCK_LEN]);
        push_varint(&mut out, key.len());
        out.extend_from_slice(key);
        if let Some(at_ms) = expires_at_ms {
            out.extend_from_slice(&at_ms.to_le_bytes());
        }
        let value_start = out.len();
        out.resize(len, 0);
        raw.write_to(&mut out[value_start..]);
        Record(out.into_boxed_slice())
    }

    fn tag(raw: Raw<'_>, expires_at_ms: Option<u64>) -> u8 {
        raw.tag()
            | if expires_at_ms.is_some() {
                TAG_EXPIRES
            } else {
                0
            }
    }

    /// Start and end of the key.
    fn key_bounds(&self) -> (usize, usize) {
        let (mut len, mut shift, mut at) = (0usize, 0, CLOCK_AT + CLOCK_LEN);
        loop {
            let byte = self.0[at];
            at += 1;
            len |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return (at, at + len);
            }
            shift += 7;
        }
    }

    /// The 24-bit access clock (see `access`).
    pub(super) fn clock(&self) -> u32 {
        let b = &self.0[CLOCK_AT..CLOCK_AT + CLOCK_LEN];
        u32::from_le_bytes([b[0], b[1], b[2], 0])
    }

    pub(super) fn set_clock(&mut self, clock: u32) {
        debug_assert!(clock <= super::access::LRU_CLOCK_MAX, "24-bit clock");
        self.0[CLOCK_AT..CLOCK_AT + CLOCK_LEN].copy_from_slice(&clock.to_le_bytes()[..CLOCK_LEN]);
    }

    pub(super) fn key(&self) -> &[u8] {
        let (start, end) = self.key_bounds();
        &self.0[start..end]
    }

    pub(super) fn expires_at_ms(&self) -> Option<u64> {
        let (_, key_end) = self.key_bounds();
        self.expiry_at(key_end)
    }

    fn expiry_at(&self, key_end: usize) -> Option<u64> {
        if self.0[0] & TAG_EXPIRES == 0 {
            return None;
        }
        let mut at_ms = [0u8; 8];
        at_ms.copy_from_slice(&self.0[key_end..key_end + 8]);
        Some(u64::from_le_bytes(at_ms))
    }

    pub(super) fn view(&self) -> RawEntry<'_> {
        let (key_start, key_end) = self.key_bounds();
        let expires_at_ms = self.expiry_at(key_end);
        let value_start = key_end + if expires_at_ms.is_some() { 8 } else { 0 };
        let value = &self.0[value_start..];
        let raw = match self.0[0] & TAG_TYPE_MASK {
            TAG_STRING => Raw::String(value),
            TAG_COLLECTION => {
                let mut slot = [0u8; 4];
                slot.copy_from_slice(value);
                Raw::Collection(u32::from_le_bytes(slot))
            }
            tag => unreachable!("record tag {tag} is not written by this module"),
        };
        RawEntry {
            key: &self.0[key_start..key_end],
            raw,
            expires_at_ms,
        }
    }

    /// Whether the string was built in place (see [`TAG_RAW_STRING`]).
    pub(super) fn is_raw_string(&self) -> bool {
        self.0[0] & TAG_RAW_STRING != 0
    }

    pub(super) fn mark_raw_string(&mut self) {
        debug_assert!(
            matches!(self.view().raw, Raw::String(_)),
            "only strings are raw"
        );
        self.0[0] |= TAG_RAW_STRING;
    }

    /// The same record with another expiry; flags stay.
    pub(super) fn with_expiry(&self, expires_at_ms: Option<u64>) -> Record {
        let entry = self.view();
        let mut record = Record::new(entry.key, entry.raw, expires_at_ms, self.clock());
        record.0[0] |= self.0[0] & TAG_RAW_STRING;
        record
    }

    /// The collection slot the record refers to, if it holds a collection.
    pub(super) fn collection_slot(&self) -> Option<u32> {
        match self.view().raw {
            Raw::Collection(slot) => Some(slot),
            Raw::String(_) => None,
        }
    }

    /// What the key costs Redis, as `used_memory` counts it: the key's dict entry and sds,
    /// and a string value's object (a collection's cost is the slab's, see `Slab`).
    pub(super) fn footprint_bytes(&self) -> usize {
        let entry = self.view();
        let value = match entry.raw {
            Raw::String(s) => dataset_value_bytes(ValueRef::String(s), self.is_raw_string()),
            Raw::Collection(_) => 0,
        };
        CLUSTER_DICT_ENTRY_BYTES + sds(entry.key.len()) + value
    }

    /// New value, expiry and access clock for the same key: in place when the size stays (a
    /// SET of a value as long as the old one, most INCRs), else a new allocation. The caller
    /// frees any collection slot the old value held.
    pub(super) fn replace(&mut self, raw: Raw<'_>, expires_at_ms: Option<u64>, clock: u32) {
        let (_, key_end) = self.key_bounds();
        let expiry_len = if expires_at_ms.is_some() { 8 } else { 0 };
        if key_end + expiry_len + raw.stored_len() != self.0.len() {
            *self = Record::new(self.key(), raw, expires_at_ms, clock);
            return;
        }
        self.0[0] = Self::tag(raw, expires_at_ms);
        self.set_clock(clock);
        if let Some(at_ms) = expires_at_ms {
            self.0[key_end..key_end + 8].copy_from_slice(&at_ms.to_le_bytes());
        }
        raw.write_to(&mut self.0[key_end + expiry_len..]);
    }

    /// The string value's bytes, to change in place (bit commands); the length stays.
    pub(super) fn string_mut(&mut self) -> Option<&mut [u8]> {
        let len = match self.view().raw {
            Raw::String(s) => s.len(),
            Raw::Collection(_) => return None,
        };
        let total = self.0.len();
        Some(&mut self.0[total - len..])
    }

    /// Appends to a string value, which is last in the record.
    pub(super) fn append(&mut self, suffix: &[u8]) {
        debug_assert!(
            matches!(self.view().raw, Raw::String(_)),
            "append to a collection"
        );
        let mut bytes = std::mem::take(&mut self.0).into_vec();
        bytes.reserve_exact(suffix.len());
        bytes.extend_from_slice(suffix);
        self.0 = bytes.into_boxed_slice();
    }
}

pub(super) fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}
