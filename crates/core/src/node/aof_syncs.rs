//! What the driver reports of the AOF's syncs: a sync finished (the event a checker proves
//! `appendfsync always` durability with), and `everysec` writes held in memory while a slow
//! background fsync runs, then written anyway after two seconds (`aof_delayed_fsync`), as
//! Redis 7.0's `flushAppendOnlyFile` does.

use crate::effect::{LogLevel, Time};
use crate::event::ClusterEvent;

use super::Node;

impl Node {
    /// A sync of the AOF finished: every write up to replication offset `offset` is durable.
    pub fn aof_synced(&mut self, now: Time, offset: u64) {
        self.set_time(now);
        self.emit(ClusterEvent::AofSynced { offset });
    }

    /// The AOF buffer is held in memory: a background fsync is still running.
    pub fn aof_write_postponed(&mut self, now: Time) {
        self.set_time(now);
        self.emit(ClusterEvent::AofWritePostponed);
    }

    /// The held AOF buffer was written; `delayed`: the fsync was still running (two seconds
    /// passed), which Redis counts and logs.
    pub fn aof_write_resumed(&mut self, now: Time, delayed: bool) {
        self.set_time(now);
        if delayed {
            self.stats.aof_delayed_fsync += 1;
            self.log(
                LogLevel::Notice,
                "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF \
                 buffer without waiting for fsync to complete, this may slow down Redis.",
            );
        }
        self.emit(ClusterEvent::AofWriteResumed { delayed });
    }
}
