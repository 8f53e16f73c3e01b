//! The set type (stored and moved by DUMP/RESTORE; its commands are not written yet).
//!
//! Redis 7.0 keeps a set of integers as an intset (sorted, at most `set-max-intset-entries`)
//! and converts it for good to a hash table when a non-integer member arrives or it grows past
//! that; 7.0 has no listpack sets. We keep members in insertion order and remember the
//! encoding; an intset's order (ascending) is produced on demand where it is observable.

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
        if parse_i64(member).is_none() {
            self.intset = false;
        }
        let added = self.members.insert(Box::from(member));
        if self.members.len() > SET_MAX_INTSET_ENTRIES {
            self.intset = false;
        }
        added
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        self.members.shift_remove(member)
    }

    /// Members in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.members.iter().map(|m| &m[..])
    }

    /// An intset's members as integers, ascending; `None` when not an intset.
    pub fn sorted_integers(&self) -> Option<Vec<i64>> {
        if !self.intset {
            return None;
        }
        let mut ints: Vec<i64> = self
            .members
            .iter()
            .map(|m| parse_i64(m).expect("intset members are integers"))
            .collect();
        ints.sort_unstable();
        Some(ints)
    }
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
        assert!(s.insert(b"01"), "not canonical, so not an integer");
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"01"));
        assert_eq!(s.encoding(), "hashtable");
    }
}
