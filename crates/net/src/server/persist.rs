//! Persistence effects: saving `nodes.conf` and appending to and syncing the AOF (both once
//! per turn: see `turn`). A
//! `nodes.conf` that cannot be saved stops the node, as does any AOF failure under `appendfsync
//! always`; other AOF failures make the node refuse writes until the disk works again (see
//! `clusterlab_core`'s `disk_errors`), as Redis 7.0 does.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use clusterlab_core::canary::Canary;
use clusterlab_core::config::AppendFsync;
use clusterlab_core::event::AofOp;
use clusterlab_core::{ClientId, Config, Node};

use crate::aof::{Aof, AofReport};

use super::{Shared, LOG_TARGET};

impl Shared {
    pub(super) fn save_config(&self, contents: &str, fsync: bool) {
        let path = &self.paths.nodes_conf;
        if let Err(e) = self.disk.write_atomic(path, contents.as_bytes(), fsync) {
            tracing::warn!(target: LOG_TARGET, "Could not save {}: {e}", path.display());
            tracing::warn!(target: LOG_TARGET, "Fatal: can't update cluster config file.");
            self.stop(Err(io::Error::new(
                e.kind(),
                "Fatal: can't update cluster config file.",
            )));
            return;
        }
        if fsync {
            // Redis fsyncs nodes.conf on its main thread: a slow disk holds the whole node.
            self.stall(self.disk.pending_sync());
        }
    }

    /// Buffers an `AppendAof` until the end of the turn ([`Shared::persist_turn`]).
    pub(super) fn append_aof(&self, data: &[u8]) {
        let mut io = self.lock_io();
        let offset = io.last_write_offset;
        if let Some(aof) = io.aof.as_mut() {
            aof.buffer_write(data, offset);
        }
    }

    /// Writes the turn's buffered AOF records in one `write`, synced as the policy says.
    pub(super) fn flush_aof(self: &Arc<Self>, node: &mut Node) {
        let now = self.clock.now();
        let result = self.with_aof(node, |aof| aof.end_turn(now.mono_ms));
        if let Err(e) = result {
            tracing::warn!(target: LOG_TARGET, "Error writing to the AOF file: {e}");
            tracing::warn!(
                target: LOG_TARGET,
                "Can't recover from AOF write error when the AOF fsync policy is 'always'. \
                 Exiting..."
            );
            self.stop(Err(e));
        }
    }

    /// A new base replaces the AOF (a rewrite, a full sync's end, `appendonly` turned on).
    /// With the AOF closed the files are opened for it, and closed again after unless
    /// `appendonly` is now on (Redis 7.0 writes the base even with `appendonly no`).
    pub(super) fn rewrite_aof(self: &Arc<Self>, node: &mut Node, base: &[u8]) {
        let now = self.clock.now();
        let opened_here = self.lock_io().aof.is_none();
        if opened_here {
            match Aof::open(self.disk.clone(), node.config()) {
                Ok(aof) => self.lock_io().aof = Some(aof),
                Err(e) => {
                    tracing::warn!(target: LOG_TARGET, "Can't open the append-only file: {e}");
                    return;
                }
            }
        }
        let _ = self.with_aof(node, |aof| {
            aof.rewrite(base, now.mono_ms);
            Ok(())
        });
        if opened_here && !node.config().appendonly {
            self.stop_aof();
        }
    }

    /// `CONFIG SET appendonly no`: what was appended is made durable and the file closed.
    pub(super) fn stop_aof(&self) {
        let mut io = self.lock_io();
        if let Some(mut aof) = io.aof.take() {
            if let Err(e) = aof.flush_and_sync() {
                tracing::warn!(target: LOG_TARGET, "Error syncing the AOF file on stop: {e}");
            }
        }
    }

    /// Writes an RDB snapshot to `<dir>/<dbfilename>` and tells the node how it went. Redis
    /// writes it from a forked child, so the node is never held for the sync.
    pub(super) fn save_rdb(
        self: &Arc<Self>,
        node: &mut Node,
        data: &[u8],
        client: Option<ClientId>,
    ) {
        let path = std::path::Path::new(&node.config().dir).join(&node.config().dbfilename);
        let result = self
            .disk
            .write_atomic(&path, data, true)
            .map_err(|e| crate::aof::error_text(&e));
        node.rdb_saved(client, result);
        let effects = node.take_effects();
        self.perform_queued(node, effects);
    }

    /// Makes everything appended to the AOF durable (shutdown).
    pub(super) fn sync_aof(&self) -> io::Result<()> {
        match self.lock_io().aof.as_mut() {
            Some(aof) => aof.flush_and_sync(),
            None => Ok(()),
        }
    }

    /// The 100 ms AOF work: retrying held-back writes, and the `everysec` background sync.
    pub(super) fn tick_aof(self: &Arc<Self>, node: &mut Node) -> io::Result<()> {
        let now = self.clock.now();
        self.with_aof(node, |aof| aof.tick(now.mono_ms))
    }

    /// After a stall: reports the syncs that finished meanwhile, before anything else (a reply)
    /// leaves the node.
    pub(super) fn poll_aof(self: &Arc<Self>, node: &mut Node) {
        let _ = self.with_aof(node, |aof| {
            aof.poll();
            Ok(())
        });
    }

    /// Holds the node for `wait` (a sync on its thread): no input, no reply, no cron. The
    /// observer hears of it, so checkers know the node did not run meanwhile.
    fn stall(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        self.pause_for(wait);
        self.lock_io().stalled_on_sync = true;
        if let Some(observer) = &self.observer {
            let ms = wait.as_micros().div_ceil(1000) as u64;
            observer(clusterlab_core::ClusterEvent::SyncStalled { ms });
        }
    }

    /// Runs `step` on the open AOF (under the node's current `appendfsync`), tells the node
    /// when a kind of failure starts or ends, so it refuses or takes writes again, and what
    /// else the AOF reports; holds the node for a sync `step` ran on its thread.
    fn with_aof(
        self: &Arc<Self>,
        node: &mut Node,
        step: impl FnOnce(&mut Aof) -> io::Result<()>,
    ) -> io::Result<()> {
        let (before, result, after, reports, stall) = {
            let mut io = self.lock_io();
            let Some(aof) = io.aof.as_mut() else {
                return Ok(());
            };
            // `CONFIG SET appendfsync` changes the node's config; the file follows it.
            aof.set_fsync_policy(fsync_policy(node.config()));
            let before = aof.health().clone();
            let result = step(aof);
            let (reports, stall) = (aof.take_reports(), aof.take_stall());
            (before, result, aof.health().clone(), reports, stall)
        };
        self.stall(stall);
        let now = self.clock.now();
        for report in &reports {
            match *report {
                AofReport::Synced { offset } => node.aof_synced(now, offset),
                AofReport::Postponed => node.aof_write_postponed(now),
                AofReport::Resumed { delayed } => node.aof_write_resumed(now, delayed),
            }
        }
        if before == after && reports.is_empty() {
            return result;
        }
        for (op, was, is) in [
            (AofOp::Write, before.write, after.write),
            (AofOp::Fsync, before.fsync, after.fsync),
        ] {
            match (was, is) {
                (_, Some(error)) => node.aof_failed(now, op, error),
                (Some(_), None) => node.aof_recovered(now, op),
                (None, None) => {}
            }
        }
        let effects = node.take_effects();
        self.perform_queued(node, effects);
        result
    }
}

/// The AOF's fsync policy: the configured one, unless the `aof-no-fsync` canary (simulation
/// build only) drops the syncs `always` promises.
fn fsync_policy(config: &Config) -> AppendFsync {
    let policy = config.appendfsync;
    if policy == AppendFsync::Always && config.canaries.on(Canary::AofNoFsync) {
        return AppendFsync::No;
    }
    policy
}
