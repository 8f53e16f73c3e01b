//! The set type.
//!
//! Redis 7.0 keeps a set of integers as an intset (sorted, at most `set-max-intset-entries`)
//! and converts it for good to a hash table when a non-integer member arrives or it grows past
//! that; 7.0 has no listpack sets. While ours would be an intset its members sit in a packed
//! vector of their decimal text in ascending numeric order (a few bytes each, found by binary
//! search), which SMEMBERS, SSCAN and the set algebra then answer in, as Redis does.
//! Afterwards it is an insertion-ordered hash set: new members go last and removals swap the
//! last member in (O(1)), an order Redis's hash table cannot be matched with anyway but that
//! is deterministic.

use std::cmp::Ordering;

use indexmap::IndexSet;

use super::hash::FixedState;
use super::packed::PackedVec;
use super::EncodingLimits;
use crate::cmd::parse_i64;

/// `set-max-intset-entries`' default in Redis 7.0.
pub const SET_MAX_INTSET_ENTRIES: usize = 512;

/// A hash set entry's cost beyond its bytes: bucket (hash and boxed slice, 24), index slot
/// (8) and the allocation's header and rounding (about 16).
const SET_ENTRY_OVERHEAD_BYTES: usize = 48;

#[derive(Clone, Debug)]
enum Members {
    /// Canonical decimal integers, ascending by value.
    Ints(PackedVec),
    Table(IndexSet<Box<[u8]>, FixedState>),
}

/// One set value. Never empty while stored.
#[derive(Clone, Debug)]
pub struct Set {
    members: Members,
}

impl Default for Set {
    fn default() -> Set {
        Set::new()
    }
}

impl PartialEq for Set {
    /// Same members and encoding; the order is not part of a set.
    fn eq(&self, other: &Set) -> bool {
        self.is_intset() == other.is_intset()
            && self.len() == other.len()
            && self.iter().all(|m| other.contains(m))
    }
}

impl Set {
    pub fn new() -> Set {
        Set {
            members: Members::Ints(PackedVec::default()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.members {
            Members::Ints(p) => p.len(),
            Members::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_intset(&self) -> bool {
        matches!(self.members, Members::Ints(_))
    }

    pub fn encoding(&self) -> &'static str {
        if self.is_intset() {
            "intset"
        } else {
            "hashtable"
        }
    }

    /// Where `n` is (`Ok`) or would go (`Err`) among an intset's members.
    fn search(ints: &PackedVec, n: i64) -> Result<usize, usize> {
        let (mut low, mut high) = (0, ints.len());
        while low < high {
            let mid = (low + high) / 2;
            match as_integer(ints.get(mid).expect("in range")).cmp(&n) {
                Ordering::Less => low = mid + 1,
                Ordering::Greater => high = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(low)
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.members {
            Members::Ints(p) => parse_i64(member).is_some_and(|n| Self::search(p, n).is_ok()),
            Members::Table(t) => t.contains(member),
        }
    }

    /// Adds `member` under Redis's default limit; true when it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        self.insert_limited(member, &EncodingLimits::default())
    }

    /// Adds `member`; true when it is new. An intset past `limits` becomes a hash set.
    pub fn insert_limited(&mut self, member: &[u8], limits: &EncodingLimits) -> bool {
        if let Members::Ints(p) = &mut self.members {
            if let Some(n) = parse_i64(member) {
                match Self::search(p, n) {
                    Ok(_) => return false,
                    Err(at) if p.len() < limits.set_max_intset_entries => {
                        p.insert(at, member);
                        return true;
                    }
                    Err(_) => {}
                }
            }
            self.convert();
        }
        match &mut self.members {
            Members::Table(t) => t.insert(Box::from(member)),
            Members::Ints(_) => unreachable!("converted above"),
        }
    }

    /// Turns an intset into a hash set, keeping the order (one-way, as in Redis).
    fn convert(&mut self) {
        let Members::Ints(p) = &self.members else {
            return;
        };
        let table = p.iter().map(Box::from).collect();
        self.members = Members::Table(table);
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.members {
            Members::Ints(p) => match parse_i64(member).map(|n| Self::search(p, n)) {
                Some(Ok(at)) => {
                    p.remove(at);
                    true
                }
                _ => false,
            },
            Members::Table(t) => t.swap_remove(member),
        }
    }

    /// The member at position `index` of the set's order (SPOP, SRANDMEMBER).
    pub fn get_index(&self, index: usize) -> Option<&[u8]> {
        match &self.members {
            Members::Ints(p) => p.get(index),
            Members::Table(t) => t.get_index(index).map(|m| &m[..]),
        }
    }

    /// Members in the set's order (ascending while an intset).
    pub fn iter(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match &self.members {
            Members::Ints(p) => Box::new(p.iter()),
            Members::Table(t) => Box::new(t.iter().map(|m| &m[..])),
        }
    }

    /// An estimate of the bytes held, for `INFO` (O(members) once a hash set).
    pub fn memory_bytes(&self) -> usize {
        match &self.members {
            Members::Ints(p) => p.memory_bytes(),
            Members::Table(t) => t.iter().map(|m| m.len() + SET_ENTRY_OVERHEAD_BYTES).sum(),
        }
    }

    /// An intset's members as integers, ascending; `None` when not an intset.
    pub fn sorted_integers(&self) -> Option<Vec<i64>> {
        match &self.members {
            Members::Ints(p) => Some(p.iter().map(as_integer).collect()),
            Members::Table(_) => None,
        }
    }
}

fn as_integer(member: &[u8]) -> i64 {
    parse_i64(member).expect("intset members are integers")
}

impl<'a> FromIterator<&'a [u8]> for Set {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> Set {
        let mut set = Set::new();
        for member in iter {
            set.insert(member);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_until_a_string_member() {
        let mut s: Set = [&b"3"[..], b"-1", b"2"].into_iter().collect();
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.sorted_integers(), Some(vec![-1, 2, 3]));
        assert!(s.iter().eq([&b"-1"[..], b"2", b"3"]), "kept sorted");
        assert!(s.insert(b"01"), "not canonical, so not an integer");
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"01"));
        assert_eq!(s.encoding(), "hashtable");
    }
}
