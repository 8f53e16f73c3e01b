//! The hash type: field → value, iterated in a deterministic order.
//!
//! Redis 7.0 keeps a small hash as a listpack (fields in insertion order, a deleted field
//! closing its gap) and converts it for good to a hash table once it has more than
//! `hash-max-listpack-entries` fields or any field or value longer than
//! `hash-max-listpack-value` bytes. We keep one insertion-ordered map and remember which
//! encoding Redis would be using: while "listpack", HGETALL/HKEYS/HSCAN answer in Redis's
//! order (deletions shift, as in a listpack); once "hashtable", Redis's order is its table's
//! and cannot be matched, so deletions swap the last field in (O(1)) and the order stays a
//! function of the command history, which is all determinism needs.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use indexmap::IndexMap;

/// `hash-max-listpack-entries`' default in Redis 7.0.
pub const HASH_MAX_LISTPACK_ENTRIES: usize = 512;
/// `hash-max-listpack-value`'s default in Redis 7.0 (bytes, fields and values alike).
pub const HASH_MAX_LISTPACK_VALUE_BYTES: usize = 64;

/// SipHash with fixed keys: lookups only, iteration order comes from the map's insertion order.
pub(crate) type FixedState = BuildHasherDefault<DefaultHasher>;

/// One hash value. Never empty while stored.
#[derive(Clone, Debug, Default)]
pub struct Hash {
    fields: IndexMap<Box<[u8]>, Box<[u8]>, FixedState>,
    /// Whether Redis would still hold it as a listpack (the conversion is one-way).
    listpack: bool,
}

impl PartialEq for Hash {
    /// Same fields and values, in the same order (the order is observable through HGETALL).
    fn eq(&self, other: &Hash) -> bool {
        self.listpack == other.listpack && self.fields.iter().eq(other.fields.iter())
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash {
            fields: IndexMap::default(),
            listpack: true,
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
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn is_listpack(&self) -> bool {
        self.listpack
    }

    pub fn encoding(&self) -> &'static str {
        if self.listpack {
            "listpack"
        } else {
            "hashtable"
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.fields.get(field).map(|v| &v[..])
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.fields.contains_key(field)
    }

    /// Sets `field`; true when it is new. An existing field keeps its place in the order.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if field.len() > HASH_MAX_LISTPACK_VALUE_BYTES
            || value.len() > HASH_MAX_LISTPACK_VALUE_BYTES
        {
            self.listpack = false;
        }
        let added = match self.fields.get_mut(field) {
            Some(slot) => {
                *slot = Box::from(value);
                false
            }
            None => {
                self.fields.insert(Box::from(field), Box::from(value));
                true
            }
        };
        if self.fields.len() > HASH_MAX_LISTPACK_ENTRIES {
            self.listpack = false;
        }
        added
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        if self.listpack {
            self.fields.shift_remove(field).is_some()
        } else {
            self.fields.swap_remove(field).is_some()
        }
    }

    /// Fields and values in the hash's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|(f, v)| (&f[..], &v[..]))
    }

    /// The pair at position `index` of the order (HRANDFIELD, HSCAN).
    pub fn get_index(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.fields.get_index(index).map(|(f, v)| (&f[..], &v[..]))
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
