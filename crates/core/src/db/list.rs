//! The list type: a sequence of byte strings with cheap pushes and pops at both ends.
//!
//! Redis 7.0 stores every list as a quicklist (a linked list of listpacks), so `OBJECT
//! ENCODING` always says `quicklist` whatever the size. Here the elements sit in a ring buffer
//! of boxed byte strings: O(1) at both ends and O(1) by index, which LINDEX/LSET/LRANGE want.
//! It costs more per element than a listpack (a 16-byte slot plus the allocation); the API
//! below is the only way in, so a packed representation can replace it later.

use std::collections::VecDeque;

/// One list value. Never empty while stored: commands delete the key with the last element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `OBJECT ENCODING`'s name: Redis 7.0 has no other list encoding.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn push_front(&mut self, item: &[u8]) {
        self.items.push_front(Box::from(item));
    }

    pub fn push_back(&mut self, item: &[u8]) {
        self.items.push_back(Box::from(item));
    }

    pub fn pop_front(&mut self) -> Option<Box<[u8]>> {
        self.items.pop_front()
    }

    pub fn pop_back(&mut self) -> Option<Box<[u8]>> {
        self.items.pop_back()
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(|b| &b[..])
    }

    /// Replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: usize, item: &[u8]) -> bool {
        match self.items.get_mut(index) {
            Some(slot) => {
                *slot = Box::from(item);
                true
            }
            None => false,
        }
    }

    /// Inserts before the element now at `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, item: &[u8]) {
        self.items.insert(index, Box::from(item));
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        self.items.iter().map(|b| &b[..])
    }

    /// Elements `from..=to` (caller-clamped to the list).
    pub fn range(&self, from: usize, to: usize) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        debug_assert!(from <= to && to < self.len(), "range out of bounds");
        self.items.range(from..=to).map(|b| &b[..])
    }

    /// Removes up to `limit` elements equal to `item` (0 = all), scanning from the head, or
    /// from the tail when `from_tail`; returns how many went.
    pub fn remove_matching(&mut self, item: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let len = self.items.len();
        let mut keep = vec![true; len];
        let order: Box<dyn Iterator<Item = usize>> = if from_tail {
            Box::new((0..len).rev())
        } else {
            Box::new(0..len)
        };
        for i in order {
            if limit != 0 && removed == limit {
                break;
            }
            if &*self.items[i] == item {
                keep[i] = false;
                removed += 1;
            }
        }
        if removed > 0 {
            let mut i = 0;
            self.items.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        removed
    }

    /// Keeps only elements `from..=to`; an empty range (`from > to`) empties the list.
    pub fn trim(&mut self, from: usize, to: usize) {
        if from > to || from >= self.len() {
            self.items.clear();
            return;
        }
        self.items.truncate(to + 1);
        self.items.drain(..from);
    }

    /// The sum of the element lengths, for memory estimates.
    pub fn data_bytes(&self) -> usize {
        self.items.iter().map(|b| b.len()).sum()
    }
}

impl<'a> FromIterator<&'a [u8]> for List {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> List {
        List {
            items: iter.into_iter().map(Box::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        items.iter().map(|s| s.as_bytes()).collect()
    }

    fn texts(l: &List) -> Vec<String> {
        l.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn remove_matching_counts_from_either_end() {
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove_matching(b"a", 1, true), 1);
        assert_eq!(texts(&l), ["a", "b", "a", "c"]);
        assert_eq!(l.remove_matching(b"a", 1, false), 1);
        assert_eq!(texts(&l), ["b", "a", "c"]);
        assert_eq!(l.remove_matching(b"x", 0, false), 0);
        assert_eq!(l.remove_matching(b"a", 0, false), 1);
        assert_eq!(texts(&l), ["b", "c"]);
    }

    #[test]
    fn trim_keeps_the_inclusive_range() {
        let mut l = list(&["a", "b", "c", "d"]);
        l.trim(1, 2);
        assert_eq!(texts(&l), ["b", "c"]);
        l.trim(1, 0);
        assert!(l.is_empty());
    }
}
