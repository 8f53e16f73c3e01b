//! Keys that became ready for clients blocked on them (Redis's `signalKeyAsReady`).
//!
//! The node tells the keyspace which keys some client blocks on (BLPOP, BLMOVE, …); when
//! a collection is stored whole at one of them (LPUSH creating the list, RESTORE,
//! LMOVE's destination, a replicated write, …) it is queued here, once, in the order
//! keys were created. The node drains the queue after each command or transaction and serves
//! the blocked clients. Strings never wake anyone, so only collections are queued; whether the
//! type matches what a client waits for is checked when it is served.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

#[derive(Debug, Default)]
pub(crate) struct ReadyKeys {
    /// Keys some client blocks on, with how many clients block on each.
    watched: BTreeMap<Bytes, usize>,
    /// Watched keys created since the queue was last drained, first created first.
    queue: VecDeque<Bytes>,
}

impl ReadyKeys {
    /// One more client blocks on `key`.
    pub(crate) fn watch(&mut self, key: &Bytes) {
        *self.watched.entry(key.clone()).or_insert(0) += 1;
    }

    /// One client less blocks on `key`.
    pub(crate) fn unwatch(&mut self, key: &[u8]) {
        if let Some(count) = self.watched.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.watched.remove(key);
            }
        }
    }

    /// A collection was stored whole at `key`, or a stream at `key` got an entry (XADD).
    pub(crate) fn created(&mut self, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        if let Some((watched, _)) = self.watched.get_key_value(key) {
            if !self.queue.contains(watched) {
                self.queue.push_back(watched.clone());
            }
        }
    }

    /// The oldest ready key, taken off the queue (it may be queued again once served).
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_watched_keys_once_in_creation_order() {
        let mut ready = ReadyKeys::default();
        let (a, b) = (Bytes::from_static(b"a"), Bytes::from_static(b"b"));
        ready.created(b"a");
        assert_eq!(ready.pop(), None, "nobody blocks on a");
        ready.watch(&a);
        ready.watch(&b);
        ready.watch(&b);
        ready.created(b"b");
        ready.created(b"c");
        ready.created(b"a");
        ready.created(b"b");
        assert_eq!(
            (ready.pop(), ready.pop(), ready.pop()),
            (Some(b.clone()), Some(a), None)
        );
        ready.unwatch(b"b");
        ready.created(b"b");
        assert_eq!(ready.pop(), Some(b.clone()), "one client still blocks on b");
        ready.unwatch(b"b");
        ready.created(b"b");
        assert_eq!(ready.pop(), None);
    }
}
