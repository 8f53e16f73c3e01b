//! The AOF's syncs as Redis 7.0 runs them (`flushAppendOnlyFile`): under `appendfsync
//! everysec` a background sync at most once a second, and while one is still running the
//! writes wait in memory for up to two seconds before they are written anyway (counted as
//! `aof_delayed_fsync`); under `always` a sync on the node's own thread before the replies,
//! which on a slow disk stalls the whole node. Replies do not wait for a postponed write:
//! Redis sends them in the same `beforeSleep` right after the flush returns.
//!
//! [`Syncs`] tracks the syncs started and not yet finished, and what the driver must tell the
//! node ([`AofReport`]) and how long it must hold the node for a blocking sync.

use std::io;
use std::time::Duration;

use crate::disk::SyncJob;

/// Longest Redis holds writes back for a running background sync, in whole seconds of its
/// clock (`server.unixtime - aof_flush_postponed_start < 2`): so between one and two seconds.
const POSTPONE_LIMIT_S: u64 = 2;

/// What the AOF did that the node must know (its events, `INFO persistence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AofReport {
    /// A sync finished: the AOF holds every write up to replication offset `offset` durably.
    Synced { offset: u64 },
    /// `everysec`: a background sync is still running, so writes are held in memory.
    Postponed,
    /// The held writes were written; `delayed`: without waiting for the sync any longer (two
    /// seconds passed: Redis's `aof_delayed_fsync`).
    Resumed { delayed: bool },
}

/// A sync started and not reported yet.
struct Running {
    job: SyncJob,
    /// The replication offset of the last write in the file when it started.
    offset: u64,
    /// `everysec`'s background sync (the one Redis's `aofFsyncInProgress` sees).
    background: bool,
}

/// The syncs in flight, the postponement of writes and what to report.
#[derive(Default)]
pub(super) struct Syncs {
    running: Vec<Running>,
    /// The second (of the node's clock) writes were first held back, while they are.
    postponed_since_s: Option<u64>,
    /// Whether the held writes are going out without waiting any longer.
    delayed: bool,
    reports: Vec<AofReport>,
    /// How long the driver must hold the node for syncs it started on the node's thread.
    stall: Duration,
}

impl Syncs {
    pub(super) fn background_running(&self) -> bool {
        self.running.iter().any(|r| r.background)
    }

    /// A sync was started; `stall` is how long the node's thread is blocked by it (zero for a
    /// background one, and for a real disk, whose blocking sync already took its time).
    pub(super) fn started(&mut self, job: SyncJob, offset: u64, background: bool, stall: Duration) {
        self.stall += stall;
        self.running.push(Running {
            job,
            offset,
            background,
        });
    }

    /// Reports the syncs that finished; returns the error of a failed one (the last, if
    /// several failed).
    pub(super) fn poll(&mut self) -> Option<io::Error> {
        let mut failed = None;
        let mut still = Vec::with_capacity(self.running.len());
        for mut sync in std::mem::take(&mut self.running) {
            match sync.job.poll() {
                None => still.push(sync),
                Some(Ok(())) => self.reports.push(AofReport::Synced {
                    offset: sync.offset,
                }),
                Some(Err(e)) => failed = Some(e),
            }
        }
        self.running = still;
        failed
    }

    /// `everysec` with a background sync running: whether the buffered writes stay in memory
    /// at `now_ms`. The first time starts the postponement; past the limit they go out
    /// (`aof_delayed_fsync`).
    pub(super) fn hold_writes(&mut self, now_ms: u64) -> bool {
        let now_s = now_ms / 1000;
        match self.postponed_since_s {
            None => {
                self.postponed_since_s = Some(now_s);
                self.reports.push(AofReport::Postponed);
                true
            }
            Some(since) if now_s.saturating_sub(since) < POSTPONE_LIMIT_S => true,
            Some(_) => {
                self.delayed = true;
                false
            }
        }
    }

    /// The buffered writes are being written: any postponement ends.
    pub(super) fn writing(&mut self) {
        if self.postponed_since_s.take().is_some() {
            let delayed = std::mem::take(&mut self.delayed);
            self.reports.push(AofReport::Resumed { delayed });
        }
    }

    pub(super) fn take_reports(&mut self) -> Vec<AofReport> {
        std::mem::take(&mut self.reports)
    }

    pub(super) fn take_stall(&mut self) -> Duration {
        std::mem::take(&mut self.stall)
    }
}
