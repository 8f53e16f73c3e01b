//! The sorted set type: members with scores, ordered by (score, member bytes) as Redis orders
//! them.
//!
//! Redis 7.0 keeps a small sorted set as a listpack and converts it for good to a skiplist
//! once it has more than `zset-max-listpack-entries` members or a member longer than
//! `zset-max-listpack-value` bytes. We do the same: while Redis would hold a listpack, the
//! members sit in order in one packed buffer with their scores beside them (a few bytes each,
//! a member found by a linear scan as in a listpack); afterwards a member → score hash map
//! answers lookups and an order index (sorted chunks with counted sizes, see `index`) keeps the
//! order, so ranks, rank ranges and score and lex ranges start in O(log n).
//!
//! Ranges come out as iterators over `(member, score)` in the asked direction; the range
//! arguments' meaning (bounds, lex items) lives in [`ScoreBound`] and [`LexBound`].

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use super::hash::FixedState;
use super::packed::PackedVec;
use super::EncodingLimits;

mod bounds;
mod index;

pub use bounds::{LexBound, ScoreBound};
use index::{order, Entry, OrderIndex};

/// `zset-max-listpack-entries`' default in Redis 7.0.
pub const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
/// `zset-max-listpack-value`'s default in Redis 7.0 (bytes).
pub const ZSET_MAX_LISTPACK_VALUE_BYTES: usize = 64;

/// A skiplist-sized member's cost beyond its bytes: the map's bucket (shared slice and score:
/// 24, a control byte, spare capacity: about 38), the index's slot (score and shared slice: 24,
/// chunks about 3/4 full) and the shared allocation's counts, header and rounding (about 32);
/// measured: 146 bytes of RSS per 13-byte member at 1000 members.
const TREE_ENTRY_OVERHEAD_BYTES: usize = 105;

/// Members with scores, in the asked direction.
pub type ZIter<'a> = Box<dyn Iterator<Item = (&'a [u8], f64)> + 'a>;

#[derive(Clone, Debug)]
enum Repr {
    /// Members in Redis's order, scores at the same positions, while Redis holds a listpack.
    Packed {
        members: PackedVec,
        scores: Vec<f64>,
    },
    Tree {
        scores: HashMap<Arc<[u8]>, f64, FixedState>,
        order: OrderIndex,
    },
}

/// One sorted set value. Never empty while stored; scores are never NaN.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::new()
    }
}

impl PartialEq for ZSet {
    /// Same members, scores and encoding.
    fn eq(&self, other: &ZSet) -> bool {
        self.is_listpack() == other.is_listpack()
            && self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((m1, s1), (m2, s2))| m1 == m2 && s1.to_bits() == s2.to_bits())
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet {
            repr: Repr::Packed {
                members: PackedVec::default(),
                scores: Vec::new(),
            },
        }
    }

    /// An empty skiplist, whatever its size will be (Redis's `createZsetObject`).
    pub fn new_skiplist() -> ZSet {
        let mut zset = ZSet::new();
        zset.convert();
        zset
    }

    /// This set as a listpack if it fits the limits (Redis's
    /// `zsetConvertToListpackIfNeeded`, for the algebra's stored results).
    pub fn into_compact(self, limits: &EncodingLimits) -> ZSet {
        let fits = self.len() <= limits.zset_max_listpack_entries
            && self
                .iter()
                .all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
        if self.is_listpack() || !fits {
            return self;
        }
        let mut packed = ZSet::new();
        for (member, score) in self.iter() {
            packed.insert_limited(member, score, limits);
        }
        packed
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed { scores, .. } => scores.len(),
            Repr::Tree { scores, .. } => scores.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self.repr, Repr::Packed { .. })
    }

    pub fn encoding(&self) -> &'static str {
        if self.is_listpack() {
            "listpack"
        } else {
            "skiplist"
        }
    }

    /// Where `member` sits in a packed set.
    fn packed_position(members: &PackedVec, member: &[u8]) -> Option<usize> {
        members.iter().position(|m| m == member)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed { members, scores } => {
                Self::packed_position(members, member).map(|at| scores[at])
            }
            Repr::Tree { scores, .. } => scores.get(member).copied(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Sets `member`'s score under Redis's default limits; true when it is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        self.insert_limited(member, score, &EncodingLimits::default())
    }

    /// Sets `member`'s score; true when it is new. A listpack past `limits` becomes a skiplist.
    pub fn insert_limited(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) -> bool {
        assert!(!score.is_nan(), "a NaN score reached the sorted set");
        // Only a new member converts, as in Redis (an update keeps a listpack even past
        // limits lowered since).
        let added = self.remove(member).is_none();
        let too_long = member.len() > limits.zset_max_listpack_value;
        if added && (too_long || self.len() + 1 > limits.zset_max_listpack_entries) {
            self.convert();
        }
        match &mut self.repr {
            Repr::Packed { members, scores } => {
                // A listpack keeps a score as text and reads "-0" back as the integer 0.
                let score = if score == 0.0 { 0.0 } else { score };
                let at = first_false(scores.len(), |i| {
                    let m = members.get(i).expect("in range");
                    order(scores[i], m, score, member) == Ordering::Less
                });
                members.insert(at, member);
                scores.insert(at, score);
            }
            Repr::Tree { scores, order } => {
                let member: Arc<[u8]> = Arc::from(member);
                scores.insert(Arc::clone(&member), score);
                order.insert(Entry { score, member });
            }
        }
        added
    }

    /// Turns a listpack into a skiplist (one-way, as in Redis).
    fn convert(&mut self) {
        let Repr::Packed { members, scores } = &self.repr else {
            return;
        };
        let mut map = HashMap::with_capacity_and_hasher(scores.len(), FixedState::default());
        let mut tree = OrderIndex::default();
        for (member, &score) in members.iter().zip(scores) {
            let member: Arc<[u8]> = Arc::from(member);
            map.insert(Arc::clone(&member), score);
            tree.insert(Entry { score, member });
        }
        self.repr = Repr::Tree {
            scores: map,
            order: tree,
        };
    }

    /// Removes `member`, answering the score it had.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Packed { members, scores } => {
                let at = Self::packed_position(members, member)?;
                members.remove(at);
                Some(scores.remove(at))
            }
            Repr::Tree { scores, order } => {
                let score = scores.remove(member)?;
                let at = order.position(score, member).expect("indexed");
                order.remove_at(at);
                Some(score)
            }
        }
    }

    /// Removes and answers the lowest (or, `from_max`, the highest) member.
    pub fn pop(&mut self, from_max: bool) -> Option<(Box<[u8]>, f64)> {
        match &mut self.repr {
            Repr::Packed { members, scores } => {
                let at = if from_max {
                    scores.len().checked_sub(1)?
                } else if scores.is_empty() {
                    return None;
                } else {
                    0
                };
                Some((members.remove(at), scores.remove(at)))
            }
            Repr::Tree { scores, order } => {
                let at = if from_max {
                    order.len().checked_sub(1)?
                } else {
                    0
                };
                if order.len() == 0 {
                    return None;
                }
                let entry = order.remove_at(at);
                scores.remove(&entry.member);
                Some((Box::from(&*entry.member), entry.score))
            }
        }
    }

    /// `member`'s 0-based position in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Packed { members, .. } => Self::packed_position(members, member),
            Repr::Tree { scores, order } => {
                let score = *scores.get(member)?;
                order.position(score, member)
            }
        }
    }

    /// Every member in ascending order.
    pub fn iter(&self) -> Box<dyn DoubleEndedIterator<Item = (&[u8], f64)> + '_> {
        match &self.repr {
            Repr::Packed { members, scores } => {
                Box::new(members.iter().zip(scores.iter().copied()))
            }
            Repr::Tree { order, .. } => Box::new(order.iter().map(|e| (&e.member[..], e.score))),
        }
    }

    /// Members at positions `start..=end` (`end < len`) of the ascending order, or of the
    /// descending order when `rev`.
    pub fn rank_range(&self, start: usize, end: usize, rev: bool) -> ZIter<'_> {
        match &self.repr {
            Repr::Packed { .. } if rev => {
                let len = self.len();
                self.packed_slice(len - 1 - end, len - start, true)
            }
            Repr::Packed { .. } => self.packed_slice(start, end + 1, false),
            Repr::Tree { order, .. } if rev => {
                let len = order.len();
                tree_slice(order, len - 1 - end, len - start, true)
            }
            Repr::Tree { order, .. } => tree_slice(order, start, end + 1, false),
        }
    }

    /// A packed set's positions `from..to`, in either direction.
    fn packed_slice(&self, from: usize, to: usize, rev: bool) -> ZIter<'_> {
        let Repr::Packed { members, scores } = &self.repr else {
            unreachable!("packed only");
        };
        let at = move |i: usize| (members.get(i).expect("in range"), scores[i]);
        let positions = from..to.max(from);
        if rev {
            Box::new(positions.rev().map(at))
        } else {
            Box::new(positions.map(at))
        }
    }

    /// Members with scores within `min..max`, ascending (descending from `max` when `rev`).
    pub fn score_range(&self, min: ScoreBound, max: ScoreBound, rev: bool) -> ZIter<'_> {
        let (first, end) = self.score_span(min, max);
        match &self.repr {
            Repr::Packed { .. } => self.packed_slice(first, end, rev),
            Repr::Tree { order, .. } => tree_slice(order, first, end, rev),
        }
    }

    /// How many members have scores within `min..max` (O(log n)).
    pub fn score_count(&self, min: ScoreBound, max: ScoreBound) -> usize {
        let (first, end) = self.score_span(min, max);
        end.saturating_sub(first)
    }

    /// The positions `first..end` of the scores within `min..max` (`end < first` when none).
    fn score_span(&self, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
        match &self.repr {
            Repr::Packed { scores, .. } => (
                scores.partition_point(|&s| !min.above_min(s)),
                scores.partition_point(|&s| max.below_max(s)),
            ),
            Repr::Tree { order, .. } => (
                order.partition_point(|e| !min.above_min(e.score)),
                order.partition_point(|e| max.below_max(e.score)),
            ),
        }
    }

    /// Members within a lex range, walked as Redis walks a listpack: from the first member
    /// (the last, when `rev`) inside the start bound, while inside the other. With one score
    /// for every member, as lex ranges expect, that is a contiguous run found in O(log n).
    pub fn lex_range<'a>(&'a self, min: &'a LexBound, max: &'a LexBound, rev: bool) -> ZIter<'a> {
        if self.single_score().is_some() {
            // One score: the order is the members' order, the range a contiguous run.
            let (first, end) = match &self.repr {
                Repr::Packed { members, .. } => (
                    first_false(members.len(), |i| {
                        !min.above_min(members.get(i).expect("in range"))
                    }),
                    first_false(members.len(), |i| {
                        max.below_max(members.get(i).expect("in range"))
                    }),
                ),
                Repr::Tree { order, .. } => (
                    order.partition_point(|e| !min.above_min(&e.member)),
                    order.partition_point(|e| max.below_max(&e.member)),
                ),
            };
            return match &self.repr {
                Repr::Packed { .. } => self.packed_slice(first, end, rev),
                Repr::Tree { order, .. } => tree_slice(order, first, end, rev),
            };
        }
        if rev {
            let walk = self
                .iter()
                .rev()
                .skip_while(move |(m, _)| !max.below_max(m));
            Box::new(walk.take_while(move |(m, _)| min.above_min(m)))
        } else {
            let walk = self.iter().skip_while(move |(m, _)| !min.above_min(m));
            Box::new(walk.take_while(move |(m, _)| max.below_max(m)))
        }
    }

    /// The score every member has, if they all have the same.
    fn single_score(&self) -> Option<f64> {
        let (_, first) = self.iter().next()?;
        let (_, last) = self.iter().next_back()?;
        (first == last).then_some(first)
    }

    /// An estimate of the bytes held, for `INFO` (O(members) once a skiplist).
    pub fn memory_bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed { members, scores } => members.memory_bytes() + 8 * scores.len(),
            Repr::Tree { scores, .. } => scores
                .keys()
                .map(|m| m.len() + TREE_ENTRY_OVERHEAD_BYTES)
                .sum(),
        }
    }

    /// Members by ascending score, ties by member bytes: Redis's order.
    pub fn sorted(&self) -> Vec<(&[u8], f64)> {
        self.iter().collect()
    }
}

/// The first of `0..n` where `pred` (true, then false) is false.
fn first_false(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, n);
    while low < high {
        let mid = (low + high) / 2;
        if pred(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
}

/// A skiplist-sized set's positions `from..to`, in either direction.
fn tree_slice(order: &OrderIndex, from: usize, to: usize, rev: bool) -> ZIter<'_> {
    Box::new(order.range(from, to, rev).map(|e| (&e.member[..], e.score)))
}

impl<'a> FromIterator<(&'a [u8], f64)> for ZSet {
    fn from_iter<I: IntoIterator<Item = (&'a [u8], f64)>>(iter: I) -> ZSet {
        let mut zset = ZSet::new();
        for (member, score) in iter {
            zset.insert(member, score);
        }
        zset
    }
}

#[cfg(test)]
mod tests;
