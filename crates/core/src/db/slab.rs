//! The keyspace's collections, in numbered slots a record refers to by number, with what each
//! costs in memory kept as a running total.
//!
//! A record is one packed allocation (see `record.rs`); a collection cannot live inside it
//! without rebuilding the record on every change, so the record holds a 4-byte slot number
//! here instead. Freed slots are reused, newest first; nothing iterates the slab, so its order
//! never reaches a reply.
//!
//! Memory: commands change a collection in place through [`Slab::get_mut`], so the slab cannot
//! see the change itself. It notes the slot as changed instead, and [`Slab::settle`] prices
//! the changed collections again (once each, however often they changed): the node settles
//! before each command, so `used_memory` and the eviction check cost what the last command
//! touched, not a walk of the keyspace.

use super::Collection;

#[derive(Debug, Default)]
pub(super) struct Slab {
    slots: Vec<Option<Collection>>,
    free: Vec<u32>,
    /// What each slot's collection cost when last priced (0 when free).
    priced_bytes: Vec<u64>,
    /// The sum of `priced_bytes`.
    total_bytes: u64,
    /// Slots changed since they were last priced, each once (`changed[slot]` says so).
    unpriced: Vec<u32>,
    changed: Vec<bool>,
}

impl Slab {
    pub(super) fn insert(&mut self, collection: Collection) -> u32 {
        let bytes = collection.memory_bytes() as u64;
        let slot = if let Some(slot) = self.free.pop() {
            let place = &mut self.slots[slot as usize];
            debug_assert!(place.is_none(), "a free slot was in use");
            *place = Some(collection);
            slot
        } else {
            let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 collections");
            self.slots.push(Some(collection));
            self.priced_bytes.push(0);
            self.changed.push(false);
            slot
        };
        debug_assert_eq!(
            self.priced_bytes[slot as usize], 0,
            "a free slot is unpriced"
        );
        self.priced_bytes[slot as usize] = bytes;
        self.total_bytes += bytes;
        slot
    }

    pub(super) fn get(&self, slot: u32) -> &Collection {
        self.slots[slot as usize]
            .as_ref()
            .expect("a record refers to a live slot")
    }

    /// The collection, to change in place: it is priced again at the next [`Slab::settle`].
    pub(super) fn get_mut(&mut self, slot: u32) -> &mut Collection {
        let at = slot as usize;
        if !self.changed[at] {
            self.changed[at] = true;
            self.unpriced.push(slot);
        }
        self.slots[at]
            .as_mut()
            .expect("a record refers to a live slot")
    }

    pub(super) fn remove(&mut self, slot: u32) -> Collection {
        let at = slot as usize;
        let collection = self.slots[at].take().expect("a slot is freed once");
        self.total_bytes -= std::mem::take(&mut self.priced_bytes[at]);
        // A stale entry in `unpriced` is skipped by `settle` (the slot is free or re-marked).
        self.changed[at] = false;
        self.free.push(slot);
        collection
    }

    /// Prices the collections changed since the last call.
    pub(super) fn settle(&mut self) {
        for slot in std::mem::take(&mut self.unpriced) {
            let at = slot as usize;
            if !std::mem::take(&mut self.changed[at]) {
                continue;
            }
            let Some(collection) = &self.slots[at] else {
                continue;
            };
            let bytes = collection.memory_bytes() as u64;
            self.total_bytes = self.total_bytes - self.priced_bytes[at] + bytes;
            self.priced_bytes[at] = bytes;
            debug_assert!(bytes <= self.total_bytes, "the total holds each part");
        }
    }

    /// What the collections cost, as last settled.
    pub(super) fn memory_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// What the collections cost, priced afresh (tests compare it with the running total).
    #[cfg(test)]
    pub(super) fn memory_bytes_walked(&self) -> u64 {
        self.slots
            .iter()
            .flatten()
            .map(|c| c.memory_bytes() as u64)
            .sum()
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}
