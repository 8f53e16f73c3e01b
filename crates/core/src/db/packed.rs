//! A vector of byte strings packed into one buffer: what small collections are made of.
//!
//! Redis keeps small hashes and list nodes as listpacks, a few bytes of framing per element.
//! A `Vec<Box<[u8]>>` costs a 16-byte pointer and an allocation (16 bytes of header and
//! rounding at least) per element instead; a `PackedVec` costs the element's bytes plus a
//! 4-byte end offset. Inserting or removing in the middle moves the bytes after it, so callers
//! keep these small (a list chunk, a listpack-sized hash) as Redis keeps its listpacks.

/// Elements back to back in `bytes`; `ends[i]` is where element `i` ends.
#[derive(Clone, Debug, Default)]
pub(super) struct PackedVec {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl PackedVec {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of element data held.
    pub(super) fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    fn start(&self, index: usize) -> usize {
        if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        }
    }

    pub(super) fn get(&self, index: usize) -> Option<&[u8]> {
        let end = *self.ends.get(index)? as usize;
        Some(&self.bytes[self.start(index)..end])
    }

    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        (0..self.len()).map(|i| self.get(i).expect("in range"))
    }

    pub(super) fn push(&mut self, item: &[u8]) {
        self.bytes.extend_from_slice(item);
        self.ends.push(offset(self.bytes.len()));
    }

    /// Inserts before element `index` (`len` appends).
    pub(super) fn insert(&mut self, index: usize, item: &[u8]) {
        assert!(index <= self.len(), "insert past the end");
        let at = self.start(index);
        self.bytes.splice(at..at, item.iter().copied());
        self.ends.insert(index, offset(at + item.len()));
        self.shift_ends(index + 1, item.len() as i64);
    }

    pub(super) fn remove(&mut self, index: usize) -> Box<[u8]> {
        let (start, end) = (self.start(index), self.ends[index] as usize);
        let item: Box<[u8]> = self.bytes.drain(start..end).collect();
        self.ends.remove(index);
        self.shift_ends(index, -((end - start) as i64));
        item
    }

    pub(super) fn pop(&mut self) -> Option<Box<[u8]>> {
        let last = self.len().checked_sub(1)?;
        let item = Box::from(self.get(last).expect("in range"));
        self.bytes.truncate(self.start(last));
        self.ends.pop();
        Some(item)
    }

    /// Removes the first `count` elements with one move of the rest.
    pub(super) fn remove_front(&mut self, count: usize) {
        let cut = self.start(count);
        self.bytes.drain(..cut);
        self.ends.drain(..count);
        self.shift_ends(0, -(cut as i64));
    }

    /// Keeps the first `count` elements.
    pub(super) fn truncate(&mut self, count: usize) {
        self.bytes.truncate(self.start(count));
        self.ends.truncate(count);
    }

    /// Replaces element `index`.
    pub(super) fn set(&mut self, index: usize, item: &[u8]) {
        let (start, end) = (self.start(index), self.ends[index] as usize);
        self.bytes.splice(start..end, item.iter().copied());
        self.ends[index] = offset(start + item.len());
        self.shift_ends(index + 1, item.len() as i64 - (end - start) as i64);
    }

    fn shift_ends(&mut self, from: usize, delta: i64) {
        if delta == 0 {
            return;
        }
        for end in &mut self.ends[from..] {
            *end = offset((i64::from(*end) + delta) as usize);
        }
    }

    /// Data and offset bytes, for memory estimates.
    pub(super) fn memory_bytes(&self) -> usize {
        self.bytes.len() + 4 * self.ends.len()
    }

    /// Gives back spare capacity (a chunk that will not grow soon).
    pub(super) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// A byte offset as stored: collections stay far below 4 GB per packed vector.
fn offset(at: usize) -> u32 {
    u32::try_from(at).expect("a packed vector holds less than 4 GB")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(p: &PackedVec) -> Vec<String> {
        p.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn edits_keep_offsets_in_step() {
        let mut p = PackedVec::default();
        for item in ["a", "bb", "", "ccc"] {
            p.push(item.as_bytes());
        }
        p.insert(0, b"zz");
        p.insert(3, b"y");
        assert_eq!(items(&p), ["zz", "a", "bb", "y", "", "ccc"]);
        assert_eq!(&*p.remove(2), b"bb");
        p.set(0, b"Z");
        p.set(3, b"long one");
        assert_eq!(items(&p), ["Z", "a", "y", "long one", "ccc"]);
        assert_eq!(p.pop().as_deref(), Some(&b"ccc"[..]));
        assert_eq!(p.byte_len(), 1 + 1 + 1 + 8);
        assert!(p.iter().rev().eq([&b"long one"[..], b"y", b"a", b"Z"]));
        while p.pop().is_some() {}
        assert!(p.is_empty() && p.byte_len() == 0);
    }
}
