//! The replication backlog: the latest bytes of this node's replication stream (as a master,
//! what it streamed; as a replica, what it applied from its master), kept so that a replica
//! whose link dropped can continue from its offset (`PSYNC <replid> <offset>` answered
//! `+CONTINUE`) instead of loading a whole snapshot again.
//!
//! Offsets are Redis's: the stream's bytes are numbered from 1, a node's replication offset is
//! the number of the last byte it streamed or applied, and the backlog holds bytes
//! `first_byte_offset ..= first_byte_offset + histlen - 1`. Whole commands are dropped from
//! the front when the backlog outgrows `repl-backlog-size` (Redis trims its buffer block by
//! block too, so it may hold a little less than the size, never more history than it says).

use std::collections::VecDeque;

use bytes::Bytes;

/// Redis never keeps a backlog smaller than this (`CONFIG_REPL_BACKLOG_MIN_SIZE`).
pub const BACKLOG_MIN_SIZE: u64 = 16 * 1024;

/// The backlog (Redis creates it when a first replica attaches, or when a replica syncs).
#[derive(Clone, Debug, Default)]
pub struct Backlog {
    /// The stream's chunks (one command each), oldest first.
    chunks: VecDeque<Bytes>,
    /// Total length of `chunks`.
    histlen: u64,
    /// The offset of the first byte in `chunks` (or of the next byte when empty).
    first_byte_offset: u64,
}

impl Backlog {
    /// An empty backlog whose next byte follows `offset` (Redis's `createReplicationBacklog`).
    pub fn new(offset: u64) -> Backlog {
        Backlog {
            chunks: VecDeque::new(),
            histlen: 0,
            first_byte_offset: offset + 1,
        }
    }

    /// Bytes of history held.
    pub fn histlen(&self) -> u64 {
        self.histlen
    }

    /// The offset of the first byte held (of the next byte when nothing is).
    pub fn first_byte_offset(&self) -> u64 {
        self.first_byte_offset
    }

    /// The stream advanced by `data`; keeps at most `size` bytes (at least the minimum).
    pub fn feed(&mut self, data: Bytes, size: u64) {
        self.histlen += data.len() as u64;
        self.chunks.push_back(data);
        self.trim(size);
    }

    /// Drops whole commands from the front until at most `size` bytes are held.
    pub fn trim(&mut self, size: u64) {
        let size = size.max(BACKLOG_MIN_SIZE);
        while self.histlen > size {
            let chunk = self.chunks.pop_front().expect("histlen counts the chunks");
            self.histlen -= chunk.len() as u64;
            self.first_byte_offset += chunk.len() as u64;
        }
    }

    /// The stream from byte `from` to the end, if the backlog holds all of it (`from` one past
    /// the end is an empty continuation, as Redis allows).
    pub fn since(&self, from: u64) -> Option<Bytes> {
        let end = self.first_byte_offset + self.histlen;
        if from < self.first_byte_offset || from > end {
            return None;
        }
        let mut skip = from - self.first_byte_offset;
        let mut out = Vec::with_capacity((end - from) as usize);
        for chunk in &self.chunks {
            let len = chunk.len() as u64;
            if skip >= len {
                skip -= len;
                continue;
            }
            out.extend_from_slice(&chunk[skip as usize..]);
            skip = 0;
        }
        Some(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_latest_whole_commands_and_serves_from_any_offset_inside() {
        let mut b = Backlog::new(100);
        assert_eq!(b.first_byte_offset(), 101);
        assert_eq!(
            b.since(101),
            Some(Bytes::new()),
            "nothing to send is a continuation"
        );
        assert_eq!(b.since(102), None, "past the end");
        assert_eq!(b.since(100), None, "before the start");
        let chunk = |c: u8| Bytes::from(vec![c; 8 * 1024]);
        b.feed(chunk(b'a'), 16 * 1024);
        b.feed(chunk(b'b'), 16 * 1024);
        assert_eq!((b.first_byte_offset(), b.histlen()), (101, 16 * 1024));
        let tail = b.since(101 + 8 * 1024 + 5).unwrap();
        assert_eq!(tail.len(), 8 * 1024 - 5);
        assert!(tail.iter().all(|&c| c == b'b'));
        // A third chunk pushes the first out whole.
        b.feed(chunk(b'c'), 1);
        assert_eq!(
            (b.first_byte_offset(), b.histlen()),
            (101 + 8 * 1024, 16 * 1024)
        );
        assert_eq!(b.since(101), None);
        assert_eq!(b.since(101 + 24 * 1024), Some(Bytes::new()));
        // Growing the size keeps what is held; shrinking drops from the front.
        b.trim(1024 * 1024);
        assert_eq!(b.histlen(), 16 * 1024);
    }
}
