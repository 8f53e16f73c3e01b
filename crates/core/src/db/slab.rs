//! The keyspace's collections, in numbered slots a record refers to by number.
//!
//! A record is one packed allocation (see `record.rs`); a collection cannot live inside it
//! without rebuilding the record on every change, so the record holds a 4-byte slot number
//! here instead. Freed slots are reused, newest first; nothing iterates the slab, so its order
//! never reaches a reply.

use super::Collection;

#[derive(Debug, Default)]
pub(super) struct Slab {
    slots: Vec<Option<Collection>>,
    free: Vec<u32>,
}

impl Slab {
    pub(super) fn insert(&mut self, collection: Collection) -> u32 {
        if let Some(slot) = self.free.pop() {
            let place = &mut self.slots[slot as usize];
            debug_assert!(place.is_none(), "a free slot was in use");
            *place = Some(collection);
            return slot;
        }
        let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 collections");
        self.slots.push(Some(collection));
        slot
    }

    pub(super) fn get(&self, slot: u32) -> &Collection {
        self.slots[slot as usize]
            .as_ref()
            .expect("a record refers to a live slot")
    }

    pub(super) fn get_mut(&mut self, slot: u32) -> &mut Collection {
        self.slots[slot as usize]
            .as_mut()
            .expect("a record refers to a live slot")
    }

    pub(super) fn remove(&mut self, slot: u32) -> Collection {
        let collection = self.slots[slot as usize]
            .take()
            .expect("a slot is freed once");
        self.free.push(slot);
        collection
    }

    /// Collections stored.
    /// What the collections hold, estimated (walks them: for `INFO`, not hot paths).
    pub(super) fn memory_bytes(&self) -> u64 {
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
