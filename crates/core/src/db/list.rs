//! The list type: a sequence of byte strings with cheap pushes and pops at both ends.
//!
//! Redis 7.0 stores every list as a quicklist (a linked list of listpacks of about 8 KB), so
//! `OBJECT ENCODING` always says `quicklist` whatever the size. We do the same in spirit: a
//! ring of chunks, each a `PackedVec` of up to [`CHUNK_MAX_BYTES`] of elements, so an element
//! costs its bytes and a 4-byte offset. Pushes and pops touch one chunk; access by index walks
//! the chunks (a few hundred elements each) from the nearer end.

use std::collections::VecDeque;

use super::packed::PackedVec;

/// A chunk stops taking elements at this many bytes (Redis's `list-max-listpack-size -2`).
const CHUNK_MAX_BYTES: usize = 8 * 1024;

/// One list value. Never empty while stored: commands delete the key with the last element.
#[derive(Clone, Debug, Default)]
pub struct List {
    chunks: VecDeque<PackedVec>,
    len: usize,
}

impl PartialEq for List {
    /// Same elements in the same order, however they are chunked.
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for List {}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `OBJECT ENCODING`'s name: Redis 7.0 has no other list encoding.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    fn has_room(chunk: Option<&PackedVec>, item: &[u8]) -> bool {
        chunk.is_some_and(|c| c.is_empty() || c.byte_len() + item.len() <= CHUNK_MAX_BYTES)
    }

    pub fn push_front(&mut self, item: &[u8]) {
        if !Self::has_room(self.chunks.front(), item) {
            if let Some(full) = self.chunks.front_mut() {
                full.shrink_to_fit();
            }
            self.chunks.push_front(PackedVec::default());
        }
        self.chunks[0].insert(0, item);
        self.len += 1;
    }

    pub fn push_back(&mut self, item: &[u8]) {
        if !Self::has_room(self.chunks.back(), item) {
            if let Some(full) = self.chunks.back_mut() {
                full.shrink_to_fit();
            }
            self.chunks.push_back(PackedVec::default());
        }
        self.chunks.back_mut().expect("just ensured").push(item);
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Box<[u8]>> {
        let chunk = self.chunks.front_mut()?;
        let item = chunk.remove(0);
        if chunk.is_empty() {
            self.chunks.pop_front();
        }
        self.len -= 1;
        Some(item)
    }

    pub fn pop_back(&mut self) -> Option<Box<[u8]>> {
        let chunk = self.chunks.back_mut()?;
        let item = chunk.pop().expect("stored chunks are not empty");
        if chunk.is_empty() {
            self.chunks.pop_back();
        }
        self.len -= 1;
        Some(item)
    }

    /// The chunk holding element `index` and the position inside it.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        if index < self.len / 2 {
            let mut rest = index;
            for (i, chunk) in self.chunks.iter().enumerate() {
                if rest < chunk.len() {
                    return Some((i, rest));
                }
                rest -= chunk.len();
            }
        } else {
            let mut rest = self.len - 1 - index;
            for (i, chunk) in self.chunks.iter().enumerate().rev() {
                if rest < chunk.len() {
                    return Some((i, chunk.len() - 1 - rest));
                }
                rest -= chunk.len();
            }
        }
        unreachable!("chunk lengths add up to the list's length")
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let (chunk, at) = self.locate(index)?;
        self.chunks[chunk].get(at)
    }

    /// Replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: usize, item: &[u8]) -> bool {
        match self.locate(index) {
            Some((chunk, at)) => {
                self.chunks[chunk].set(at, item);
                true
            }
            None => false,
        }
    }

    /// Inserts before the element now at `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, item: &[u8]) {
        assert!(index <= self.len, "insert past the end");
        if index == self.len {
            self.push_back(item);
            return;
        }
        let (chunk, at) = self.locate(index).expect("in range");
        self.chunks[chunk].insert(at, item);
        self.len += 1;
        if self.chunks[chunk].byte_len() > 2 * CHUNK_MAX_BYTES && self.chunks[chunk].len() > 1 {
            self.split(chunk);
        }
    }

    /// Halves a chunk that inserts made too big.
    fn split(&mut self, chunk: usize) {
        let whole = std::mem::take(&mut self.chunks[chunk]);
        let half = whole.len() / 2;
        let (mut first, mut second) = (PackedVec::default(), PackedVec::default());
        for (i, item) in whole.iter().enumerate() {
            if i < half {
                first.push(item)
            } else {
                second.push(item)
            }
        }
        self.chunks[chunk] = first;
        self.chunks.insert(chunk + 1, second);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.chunks.iter().flat_map(PackedVec::iter)
    }

    /// Elements `from..=to` (caller-clamped to the list).
    pub fn range(&self, from: usize, to: usize) -> impl Iterator<Item = &[u8]> + '_ {
        debug_assert!(from <= to && to < self.len(), "range out of bounds");
        let (first_chunk, at) = self.locate(from).expect("in range");
        self.chunks
            .range(first_chunk..)
            .flat_map(PackedVec::iter)
            .skip(at)
            .take(to - from + 1)
    }

    /// Removes up to `limit` elements equal to `item` (0 = all), scanning from the head, or
    /// from the tail when `from_tail`; returns how many went.
    pub fn remove_matching(&mut self, item: &[u8], limit: usize, from_tail: bool) -> usize {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let mut matches: Vec<usize> = Vec::new();
        let mut note = |i: usize, element: &[u8]| {
            if matches.len() < limit && element == item {
                matches.push(i);
            }
        };
        if from_tail {
            let last = self.len.saturating_sub(1);
            self.iter()
                .rev()
                .enumerate()
                .for_each(|(k, e)| note(last - k, e));
            matches.reverse();
        } else {
            self.iter().enumerate().for_each(|(i, e)| note(i, e));
        }
        if !matches.is_empty() {
            let mut gone = matches.iter().peekable();
            let kept: List = self
                .iter()
                .enumerate()
                .filter(|(i, _)| gone.next_if_eq(&i).is_none())
                .map(|(_, e)| e)
                .collect();
            *self = kept;
        }
        matches.len()
    }

    /// Keeps only elements `from..=to`; an empty range (`from > to`) empties the list.
    pub fn trim(&mut self, from: usize, to: usize) {
        if from > to || from >= self.len() {
            *self = List::new();
            return;
        }
        let to = to.min(self.len - 1);
        let mut back = self.len - 1 - to;
        let mut front = from;
        // Whole chunks go at once; at most one chunk per end is cut.
        while front > 0 {
            let chunk = self.chunks.front_mut().expect("elements remain");
            let taken = front.min(chunk.len());
            if taken == chunk.len() {
                self.chunks.pop_front();
            } else {
                chunk.remove_front(taken);
            }
            (front, self.len) = (front - taken, self.len - taken);
        }
        while back > 0 {
            let chunk = self.chunks.back_mut().expect("elements remain");
            let taken = back.min(chunk.len());
            if taken == chunk.len() {
                self.chunks.pop_back();
            } else {
                chunk.truncate(chunk.len() - taken);
            }
            (back, self.len) = (back - taken, self.len - taken);
        }
    }

    /// Element bytes and offsets, for `INFO`'s memory estimate.
    pub fn memory_bytes(&self) -> usize {
        self.chunks.iter().map(PackedVec::memory_bytes).sum()
    }
}

impl<'a> FromIterator<&'a [u8]> for List {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> List {
        let mut list = List::new();
        for item in iter {
            list.push_back(item);
        }
        list
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
    fn chunks_split_and_index_from_both_ends() {
        let items: Vec<String> = (0..5000).map(|i| format!("item-{i:05}")).collect();
        let mut l: List = items.iter().map(|s| s.as_bytes()).collect();
        assert!(l.chunks.len() > 5, "{} chunks", l.chunks.len());
        for i in [0, 1, 700, 2500, 4998, 4999] {
            assert_eq!(l.get(i), Some(items[i].as_bytes()));
        }
        assert_eq!(l.get(5000), None);
        l.push_front(b"front");
        l.insert(3000, b"middle");
        assert!(l.set(4000, b"changed"));
        assert_eq!(l.get(0), Some(&b"front"[..]));
        assert_eq!(l.get(3000), Some(&b"middle"[..]));
        assert_eq!(l.get(3001), Some(items[2999].as_bytes()));
        assert_eq!(l.get(4000), Some(&b"changed"[..]));
        assert_eq!(l.len(), 5002);
        assert_eq!(l.iter().count(), 5002);
        assert!(l.range(2999, 3001).eq([
            items[2998].as_bytes(),
            b"middle",
            items[2999].as_bytes()
        ]));
        while l.pop_back().is_some() {}
        assert!(l.is_empty() && l.chunks.is_empty());
    }

    #[test]
    fn trim_drops_whole_chunks_and_cuts_the_edges() {
        let items: Vec<String> = (0..5000).map(|i| format!("item-{i:05}")).collect();
        let mut l: List = items.iter().map(|s| s.as_bytes()).collect();
        l.trim(1234, 3456);
        assert_eq!(l.len(), 3456 - 1234 + 1);
        assert!(l.iter().eq(items[1234..=3456].iter().map(|s| s.as_bytes())));
        assert_eq!(l.get(0), Some(items[1234].as_bytes()));
        assert_eq!(l.get(l.len() - 1), Some(items[3456].as_bytes()));
        l.push_front(b"x");
        assert_eq!(l.get(1), Some(items[1234].as_bytes()));
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
