//! The set type.
//!
//! Redis 7.0 keeps a set of integers as an intset (sorted, at most `set-max-intset-entries`)
//! and converts it for good to a hash table when a non-integer member arrives or it grows past
//! that; 7.0 has no listpack sets. While ours would be an intset its members are kept in
//! ascending numeric order, which SMEMBERS, SSCAN and the set algebra then answer in, as Redis
//! does; afterwards new members go last and removals swap the last member in (O(1)), an
//! order Redis's hash table cannot be matched with anyway but that is deterministic.

use indexmap::IndexSet;

use super::hash::FixedState;
use crate::cmd::parse_i64;

/// `set-max-intset-entries`' default in Redis 7.0.
pub const SET_MAX_INTSET_ENTRIES: usize = 512;

/// One set value. Never empty while stored.
#[derive(Clone, Debug, Default)]
pub struct Set {
    members: IndexSet<Box<[u8]>, FixedState>,
    /// Whether Redis would still hold it as an intset (one-way).
    intset: bool,
}

impl PartialEq for Set {
    /// Same members and encoding; the order is not part of a set.
    fn eq(&self, other: &Set) -> bool {
        self.intset == other.intset && self.members == other.members
    }
}

impl Set {
    pub fn new() -> Set {
        Set {
            members: IndexSet::default(),
            intset: true,
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn is_intset(&self) -> bool {
        self.intset
    }

    pub fn encoding(&self) -> &'static str {
        if self.intset {
            "intset"
        } else {
            "hashtable"
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.members.contains(member)
    }

    /// Adds `member`; true when it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        let number = parse_i64(member);
        if number.is_none()
            || (self.members.len() >= SET_MAX_INTSET_ENTRIES && !self.contains(member))
        {
            self.intset = false;
        }
        match number {
            Some(n) if self.intset => {
                let found = self.members.binary_search_by_key(&n, |m| as_integer(m));
                match found {
                    Ok(_) => false,
                    Err(at) => self.members.shift_insert(at, Box::from(member)),
                }
            }
            _ => self.members.insert(Box::from(member)),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        if self.intset {
            self.members.shift_remove(member)
        } else {
            self.members.swap_remove(member)
        }
    }

    /// The member at position `index` of the set's order (SPOP, SRANDMEMBER).
    pub fn get_index(&self, index: usize) -> Option<&[u8]> {
        self.members.get_index(index).map(|m| &m[..])
    }

    /// Members in the set's order (ascending while an intset).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.members.iter().map(|m| &m[..])
    }

    /// An intset's members as integers, ascending; `None` when not an intset.
    pub fn sorted_integers(&self) -> Option<Vec<i64>> {
        self.intset
            .then(|| self.members.iter().map(|m| as_integer(m)).collect())
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
