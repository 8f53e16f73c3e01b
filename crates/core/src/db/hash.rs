//! The hash type: field → value, iterated in a deterministic order.
//!
//! Redis 7.0 keeps a small hash as a listpack (fields in insertion order, a deleted field
//! closing its gap) and converts it for good to a hash table once it has more than
//! `hash-max-listpack-entries` fields or any field or value longer than
//! `hash-max-listpack-value` bytes. We do the same: a packed vector of field, value, field,
//! value … searched linearly (a few bytes per entry, like a listpack), then an
//! insertion-ordered hash map. While packed, HGETALL/HKEYS/HSCAN answer in Redis's order;
//! once a table, Redis's order is its table's and cannot be matched, so deletions swap the last
//! field in (O(1)) and the order stays a function of the command history, which is all
//! determinism needs.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use indexmap::IndexMap;

use super::packed::PackedVec;
use super::EncodingLimits;

/// `hash-max-listpack-entries`' default in Redis 7.0.
pub const HASH_MAX_LISTPACK_ENTRIES: usize = 128;
/// `hash-max-listpack-value`'s default in Redis 7.0 (bytes, fields and values alike).
pub const HASH_MAX_LISTPACK_VALUE_BYTES: usize = 64;

/// SipHash with fixed keys: lookups only, iteration order comes from the map's insertion order.
pub(crate) type FixedState = BuildHasherDefault<DefaultHasher>;

/// A table entry's cost beyond its bytes: the map's bucket (hash and two boxed slices, 40)
/// and index slot (8), the two allocations' headers and rounding (about 16 each).
pub(crate) const TABLE_ENTRY_OVERHEAD_BYTES: usize = 80;

type Table = IndexMap<Box<[u8]>, Box<[u8]>, FixedState>;

#[derive(Clone, Debug)]
enum Fields {
    /// Field, value, field, value, … while Redis would hold a listpack.
    Packed(PackedVec),
    Table(Table),
}

/// One hash value. Never empty while stored.
#[derive(Clone, Debug)]
pub struct Hash {
    fields: Fields,
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::new()
    }
}

impl PartialEq for Hash {
    /// Same fields and values, in the same order (the order is observable through HGETALL),
    /// and the same encoding.
    fn eq(&self, other: &Hash) -> bool {
        self.is_listpack() == other.is_listpack() && self.iter().eq(other.iter())
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash {
            fields: Fields::Packed(PackedVec::default()),
        }
    }

    /// A hash loaded from pairs (RESTORE), in that order, encoded as Redis would load it.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Hash {
        let mut hash = Hash::new();
        for (field, value) in pairs {
            hash.insert(field, value);
        }
        hash
    }

    pub fn len(&self) -> usize {
        match &self.fields {
            Fields::Packed(p) => p.len() / 2,
            Fields::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self.fields, Fields::Packed(_))
    }

    pub fn encoding(&self) -> &'static str {
        if self.is_listpack() {
            "listpack"
        } else {
            "hashtable"
        }
    }

    /// Where `field` sits in a packed hash (the index of the field, its value follows).
    fn packed_position(packed: &PackedVec, field: &[u8]) -> Option<usize> {
        (0..packed.len())
            .step_by(2)
            .find(|&i| packed.get(i) == Some(field))
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.fields {
            Fields::Packed(p) => p.get(Self::packed_position(p, field)? + 1),
            Fields::Table(t) => t.get(field).map(|v| &v[..]),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` under Redis's default limits; true when it is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.insert_limited(field, value, &EncodingLimits::default())
    }

    /// Sets `field`; true when it is new. An existing field keeps its place in the order. A
    /// packed hash past `limits` becomes a table.
    pub fn insert_limited(&mut self, field: &[u8], value: &[u8], limits: &EncodingLimits) -> bool {
        let long = field.len().max(value.len()) > limits.hash_max_listpack_value;
        if long {
            self.convert();
        }
        let added = match &mut self.fields {
            Fields::Packed(p) => match Self::packed_position(p, field) {
                Some(at) => {
                    p.set(at + 1, value);
                    false
                }
                None => {
                    p.push(field);
                    p.push(value);
                    true
                }
            },
            Fields::Table(t) => match t.get_mut(field) {
                Some(slot) => {
                    *slot = Box::from(value);
                    false
                }
                None => {
                    t.insert(Box::from(field), Box::from(value));
                    true
                }
            },
        };
        if self.len() > limits.hash_max_listpack_entries {
            self.convert();
        }
        added
    }

    /// Turns a packed hash into a table, keeping the order (one-way, as in Redis).
    fn convert(&mut self) {
        let Fields::Packed(p) = &self.fields else {
            return;
        };
        let mut table = Table::with_capacity_and_hasher(p.len() / 2, FixedState::default());
        let mut items = p.iter();
        while let (Some(field), Some(value)) = (items.next(), items.next()) {
            table.insert(Box::from(field), Box::from(value));
        }
        drop(items);
        self.fields = Fields::Table(table);
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.fields {
            Fields::Packed(p) => match Self::packed_position(p, field) {
                Some(at) => {
                    p.remove(at);
                    p.remove(at);
                    true
                }
                None => false,
            },
            Fields::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// Fields and values in the hash's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.fields {
            Fields::Packed(p) => Box::new((0..p.len() / 2).map(|i| {
                (
                    p.get(2 * i).expect("in range"),
                    p.get(2 * i + 1).expect("in range"),
                )
            })),
            Fields::Table(t) => Box::new(t.iter().map(|(f, v)| (&f[..], &v[..]))),
        }
    }

    /// An estimate of the bytes held, for `INFO`: packed, the data and offsets; as a table,
    /// the data and about [`TABLE_ENTRY_OVERHEAD_BYTES`] per field (O(fields)).
    pub fn memory_bytes(&self) -> usize {
        match &self.fields {
            Fields::Packed(p) => p.memory_bytes(),
            Fields::Table(t) => t
                .iter()
                .map(|(f, v)| f.len() + v.len() + TABLE_ENTRY_OVERHEAD_BYTES)
                .sum(),
        }
    }

    /// The pair at position `index` of the order (HRANDFIELD).
    pub fn get_index(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match &self.fields {
            Fields::Packed(p) => Some((p.get(2 * index)?, p.get(2 * index + 1)?)),
            Fields::Table(t) => t.get_index(index).map(|(f, v)| (&f[..], &v[..])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_until_a_threshold_then_hashtable_for_good() {
        let mut h = Hash::new();
        assert!(h.insert(b"a", b"1"));
        assert!(!h.insert(b"a", b"2"));
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"b", &[b'x'; 65]);
        assert_eq!(h.encoding(), "hashtable");
        assert!(h.remove(b"b"));
        assert_eq!(h.encoding(), "hashtable", "no way back, as in Redis");
        let mut many = Hash::new();
        for i in 0..=HASH_MAX_LISTPACK_ENTRIES {
            assert_eq!(many.encoding(), "listpack");
            many.insert(i.to_string().as_bytes(), b"v");
        }
        assert_eq!(many.encoding(), "hashtable");
    }

    #[test]
    fn listpack_deletes_keep_insertion_order() {
        let mut h = Hash::from_pairs([(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"c", b"3")]);
        h.remove(b"a");
        h.insert(b"a", b"4");
        let order: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(order, [&b"b"[..], b"c", b"a"]);
    }
}
