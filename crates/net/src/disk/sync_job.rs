//! Syncs that take time: the background fsync Redis runs in its `bio` thread for `appendfsync
//! everysec` ([`SyncJob`]), and the simulated slow disk's queue of syncs that complete later in
//! virtual time ([`SyncQueue`], inside [`super::MemDisk`]).

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A sync started off the caller's thread. [`SyncJob::poll`] gives its result once it has
/// finished: when the thread doing it returned (a real disk) and the virtual time it takes has
/// passed (a simulated slow disk).
pub struct SyncJob {
    result: Arc<Mutex<Option<io::Result<()>>>>,
    done_at: Option<Instant>,
}

impl SyncJob {
    /// A sync whose outcome is known now, finished `after` from now (zero: at once).
    pub fn finished(result: io::Result<()>, after: Duration) -> SyncJob {
        SyncJob {
            result: Arc::new(Mutex::new(Some(result))),
            // Reading the clock only when needed keeps a zero wait free of any runtime.
            done_at: (!after.is_zero()).then(|| Instant::now() + after),
        }
    }

    /// Runs `sync` on a thread of its own (Redis's background fsync thread).
    pub fn on_thread(sync: impl FnOnce() -> io::Result<()> + Send + 'static) -> SyncJob {
        let result = Arc::new(Mutex::new(None));
        let slot = result.clone();
        std::thread::spawn(move || {
            let outcome = sync();
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        });
        SyncJob {
            result,
            done_at: None,
        }
    }

    /// The sync's result once it has finished (given once), `None` while it runs.
    pub fn poll(&mut self) -> Option<io::Result<()>> {
        if self.done_at.is_some_and(|at| Instant::now() < at) {
            return None;
        }
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// One sync a slow [`super::MemDisk`] has not finished: at `done_at`, `path` durably holds
/// `bytes`.
#[derive(Clone, Debug)]
struct InFlight {
    path: PathBuf,
    bytes: Vec<u8>,
    queued_at: Instant,
    done_at: Instant,
}

/// The syncs a slow simulated disk is still doing. The device does one at a time, in order,
/// each taking `fsync_ms` of virtual time, so a sync started behind another finishes after it.
#[derive(Clone, Debug, Default)]
pub(super) struct SyncQueue {
    /// Virtual time every sync takes (0: a sync is done when the call returns).
    fsync_ms: u64,
    in_flight: Vec<InFlight>,
}

impl SyncQueue {
    /// From now on each sync takes `fsync_ms`: the one the device is doing finishes as it
    /// would have, those waiting behind it take the new time.
    pub(super) fn set_fsync_ms(&mut self, fsync_ms: u64) {
        self.fsync_ms = fsync_ms;
        let Some((first, rest)) = self.in_flight.split_first_mut() else {
            return;
        };
        let mut prev = first.done_at;
        for sync in rest {
            sync.done_at = sync.queued_at.max(prev) + Duration::from_millis(fsync_ms);
            prev = sync.done_at;
        }
    }

    /// Whether a sync started now finishes at once.
    pub(super) fn is_instant(&self) -> bool {
        self.fsync_ms == 0 && self.in_flight.is_empty()
    }

    /// Queues a sync of `path` with the contents it has now; done `fsync_ms` after the last
    /// queued one (or now).
    pub(super) fn push(&mut self, path: PathBuf, bytes: Vec<u8>) {
        let now = Instant::now();
        let start = self.in_flight.last().map_or(now, |s| s.done_at.max(now));
        self.in_flight.push(InFlight {
            path,
            bytes,
            queued_at: now,
            done_at: start + Duration::from_millis(self.fsync_ms),
        });
    }

    /// Takes the syncs finished by now, in the order they finished.
    pub(super) fn take_finished(&mut self) -> Vec<(PathBuf, Vec<u8>)> {
        if self.in_flight.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        let done = self
            .in_flight
            .iter()
            .take_while(|s| s.done_at <= now)
            .count();
        self.in_flight
            .drain(..done)
            .map(|s| (s.path, s.bytes))
            .collect()
    }

    /// How long until every queued sync has finished.
    pub(super) fn wait(&self) -> Duration {
        match self.in_flight.last() {
            Some(last) => last.done_at.saturating_duration_since(Instant::now()),
            None => Duration::ZERO,
        }
    }

    /// A crash: syncs not finished never reach the disk.
    pub(super) fn drop_unfinished(&mut self) {
        self.in_flight.clear();
    }
}
