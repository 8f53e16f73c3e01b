//! Consumer groups: each has a last-delivered ID, a count of entries read (for the lag), the
//! pending entries list (delivered, not yet acknowledged, each owned by one consumer) and its
//! consumers, each with its own view of the pending entries it owns.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{Stream, StreamId};

/// `entries_read` when it is not known (Redis's `SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

/// A delivered entry awaiting its XACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub consumer: Bytes,
    /// Unix ms of the last delivery.
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Unix ms the consumer was last seen by a command naming it.
    pub seen_time_ms: u64,
    /// The pending entries it owns.
    pub pending: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pending: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pending: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer `name`, created (seen now) when missing; true when it was created.
    pub fn consumer_or_create(&mut self, name: &Bytes, now_ms: u64) -> bool {
        let created = !self.consumers.contains_key(name);
        let consumer = self.consumers.entry(name.clone()).or_default();
        consumer.seen_time_ms = now_ms;
        created
    }

    /// Gives the pending entry `id` to `consumer` (which exists), taking it from its owner.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, pending: Pending) {
        if let Some(old) = self.pending.get(&id) {
            if let Some(owner) = self.consumers.get_mut(&old.consumer) {
                owner.pending.remove(&id);
            }
        }
        let owner = self
            .consumers
            .get_mut(consumer)
            .expect("an existing consumer");
        owner.pending.insert(id);
        assert_eq!(
            &pending.consumer, consumer,
            "a pending entry names its owner"
        );
        self.pending.insert(id, pending);
    }

    /// Removes the pending entry `id` (XACK, or its entry gone); false if it was not pending.
    pub fn acknowledge(&mut self, id: StreamId) -> bool {
        let Some(pending) = self.pending.remove(&id) else {
            return false;
        };
        if let Some(owner) = self.consumers.get_mut(&pending.consumer) {
            owner.pending.remove(&id);
        }
        true
    }

    /// Removes a consumer and its pending entries; how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pending {
            self.pending.remove(id);
        }
        Some(consumer.pending.len())
    }
}

impl Stream {
    /// Whether an XDEL may have left a hole between `start` and `end` (Redis's
    /// `streamRangeHasTombstones`, which only knows the largest deleted ID).
    pub fn has_tombstones_in(&self, start: StreamId, end: StreamId) -> bool {
        if self.is_empty() || self.max_deleted_id == StreamId::ZERO {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// How many entries were added up to `id`, when that can be told (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`); [`ENTRIES_READ_UNKNOWN`] otherwise.
    pub fn entries_up_to(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.is_empty() && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        } else if id > self.last_id {
            return ENTRIES_READ_UNKNOWN;
        }
        let no_holes = self.max_deleted_id == StreamId::ZERO || self.max_deleted_id < self.first_id;
        if no_holes {
            if id < self.first_id {
                return added - self.len as i64;
            } else if id == self.first_id {
                return added - self.len as i64 + 1;
            }
        }
        ENTRIES_READ_UNKNOWN
    }

    /// A group's lag (entries added it has not read), when it can be told.
    pub fn lag(&self, group: &Group) -> Option<i64> {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != ENTRIES_READ_UNKNOWN
            && !self.has_tombstones_in(group.last_id, StreamId::MAX)
        {
            return Some(added - group.entries_read);
        }
        let read = self.entries_up_to(group.last_id);
        (read != ENTRIES_READ_UNKNOWN).then(|| added - read)
    }

    /// A group's bookkeeping for delivering entry `id` past its last ID.
    pub fn advance_group(&mut self, name: &[u8], id: StreamId) {
        let known = {
            let group = &self.groups[name];
            group.entries_read != ENTRIES_READ_UNKNOWN && !self.has_tombstones_in(id, StreamId::MAX)
        };
        let estimate = self.entries_up_to(id);
        let added = self.entries_added;
        let group = self.groups.get_mut(name).expect("the group exists");
        assert!(id > group.last_id, "a group only moves forward by delivery");
        if known {
            group.entries_read += 1;
        } else if added > 0 {
            group.entries_read = estimate;
        }
        group.last_id = id;
    }

    /// The live entry `id`'s pairs.
    pub fn get(&self, id: StreamId) -> Option<&[Bytes]> {
        self.range(id, id, 1, false).first().map(|(_, p)| *p)
    }
}
