//! The ordered index of a skiplist-sized sorted set: entries in Redis's order, in sorted chunks
//! of at most [`CHUNK_MAX`], with a Fenwick tree over the chunk sizes.
//!
//! A position (rank) maps to its chunk in O(log chunks), an entry or a bound to its position
//! by two binary searches, so ranks, rank ranges and score or lex ranges all start in
//! O(log n); an insert or removal moves at most a chunk's entries. This is what Redis's
//! skiplist spans give it, with 24 bytes an entry and no per-node allocation.

use std::cmp::Ordering;
use std::sync::Arc;

/// Most entries a chunk holds before it splits in two.
const CHUNK_MAX: usize = 256;

/// One member in the order.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub score: f64,
    /// Shared with the map's key: one allocation per member.
    pub member: Arc<[u8]>,
}

/// Redis's order: score (−0 and 0 tie; NaN never gets in), then member bytes.
pub(super) fn order(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    let by_score = a_score.partial_cmp(&b_score).expect("no NaN scores");
    by_score.then_with(|| a_member.cmp(b_member))
}

#[derive(Clone, Debug, Default)]
pub(super) struct OrderIndex {
    chunks: Vec<Vec<Entry>>,
    /// Fenwick tree: `sizes[i]` sums the chunk sizes of a range ending at chunk `i - 1`.
    sizes: Vec<usize>,
    len: usize,
}

impl OrderIndex {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Rebuilds the Fenwick tree after chunks were added or removed (O(chunks)).
    fn rebuild(&mut self) {
        let n = self.chunks.len();
        self.sizes = vec![0; n + 1];
        for i in 1..=n {
            self.sizes[i] += self.chunks[i - 1].len();
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.sizes[parent] += self.sizes[i];
            }
        }
    }

    fn add(&mut self, chunk: usize, delta: isize) {
        let mut i = chunk + 1;
        while i < self.sizes.len() {
            self.sizes[i] = self.sizes[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Entries in the chunks before `chunk`.
    fn before(&self, chunk: usize) -> usize {
        let (mut i, mut sum) = (chunk, 0);
        while i > 0 {
            sum += self.sizes[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }

    /// The chunk and offset of position `pos` (< len).
    fn locate(&self, pos: usize) -> (usize, usize) {
        let (mut chunk, mut rest) = (0, pos);
        let mut step = self.sizes.len().next_power_of_two();
        while step > 0 {
            let next = chunk + step;
            if next < self.sizes.len() && self.sizes[next] <= rest {
                chunk = next;
                rest -= self.sizes[next];
            }
            step /= 2;
        }
        (chunk, rest)
    }

    /// The first position whose entry is not `before` (a predicate true then false along
    /// the order).
    pub(super) fn partition_point(&self, before: impl Fn(&Entry) -> bool) -> usize {
        let chunk = self
            .chunks
            .partition_point(|c| before(c.last().expect("chunks are never empty")));
        if chunk == self.chunks.len() {
            return self.len;
        }
        self.before(chunk) + self.chunks[chunk].partition_point(&before)
    }

    /// The position of the entry `(score, member)`, if present.
    pub(super) fn position(&self, score: f64, member: &[u8]) -> Option<usize> {
        let below = |e: &Entry| order(e.score, &e.member, score, member) == Ordering::Less;
        let pos = self.partition_point(below);
        let e = self.get(pos)?;
        (order(e.score, &e.member, score, member) == Ordering::Equal).then_some(pos)
    }

    pub(super) fn get(&self, pos: usize) -> Option<&Entry> {
        if pos >= self.len {
            return None;
        }
        let (chunk, offset) = self.locate(pos);
        Some(&self.chunks[chunk][offset])
    }

    pub(super) fn insert(&mut self, entry: Entry) {
        let key = |e: &Entry| order(e.score, &e.member, entry.score, &entry.member);
        if self.chunks.is_empty() {
            self.chunks.push(vec![entry]);
            self.len = 1;
            self.rebuild();
            return;
        }
        let last = self.chunks.len() - 1;
        let chunk = self
            .chunks
            .partition_point(|c| key(c.last().expect("non-empty")) == Ordering::Less)
            .min(last);
        let at = self.chunks[chunk].partition_point(|e| key(e) == Ordering::Less);
        self.chunks[chunk].insert(at, entry);
        self.len += 1;
        if self.chunks[chunk].len() > CHUNK_MAX {
            // Both halves keep room for a full chunk, so a chunk reallocates at most once.
            let mut upper = self.chunks[chunk].split_off(CHUNK_MAX / 2);
            upper.reserve_exact(CHUNK_MAX + 1 - upper.len());
            self.chunks[chunk].shrink_to(CHUNK_MAX + 1);
            self.chunks.insert(chunk + 1, upper);
            self.rebuild();
        } else {
            self.add(chunk, 1);
        }
    }

    /// Removes the entry at `pos` (< len).
    pub(super) fn remove_at(&mut self, pos: usize) -> Entry {
        let (chunk, offset) = self.locate(pos);
        let entry = self.chunks[chunk].remove(offset);
        self.len -= 1;
        let size = self.chunks[chunk].len();
        if size == 0 {
            self.chunks.remove(chunk);
            self.rebuild();
        } else if size < CHUNK_MAX / 4 && chunk + 1 < self.chunks.len() {
            // A thin chunk takes in its successor when both fit, so deletions do not leave
            // many near-empty chunks behind.
            if size + self.chunks[chunk + 1].len() <= CHUNK_MAX / 2 {
                let next = self.chunks.remove(chunk + 1);
                self.chunks[chunk].extend(next);
                self.rebuild();
            } else {
                self.add(chunk, -1);
            }
        } else {
            self.add(chunk, -1);
        }
        if let Some(c) = self.chunks.get_mut(chunk) {
            if c.capacity() > 4 * c.len().max(8) {
                c.shrink_to(2 * c.len());
            }
        }
        entry
    }

    /// Entries at positions `from..to`, ascending or (`rev`) descending.
    pub(super) fn range(
        &self,
        from: usize,
        to: usize,
        rev: bool,
    ) -> Box<dyn Iterator<Item = &Entry> + '_> {
        let to = to.min(self.len);
        if from >= to {
            return Box::new(std::iter::empty());
        }
        if rev {
            let (chunk, offset) = self.locate(to - 1);
            let head = self.chunks[chunk][..=offset].iter().rev();
            let rest = self.chunks[..chunk]
                .iter()
                .rev()
                .flat_map(|c| c.iter().rev());
            Box::new(head.chain(rest).take(to - from))
        } else {
            let (chunk, offset) = self.locate(from);
            let head = self.chunks[chunk][offset..].iter();
            let rest = self.chunks[chunk + 1..].iter().flatten();
            Box::new(head.chain(rest).take(to - from))
        }
    }

    /// Every entry, in order, both ways.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> + '_ {
        self.chunks.iter().flatten()
    }
}
