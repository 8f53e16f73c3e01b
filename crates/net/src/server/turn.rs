//! The end of a driver turn, as Redis's `beforeSleep` ends an event-loop turn: what one input
//! (a client's batch of pipelined commands, the bus messages of one read, a tick, a chunk of
//! the replication stream) asked to persist is written once, after all of it ran and before
//! anything it produced leaves the process.
//!
//! Redis 7.0 saves `nodes.conf` at most once per turn (`clusterBeforeSleep`, fsynced only
//! when some change of the turn asked for `CLUSTER_TODO_FSYNC_CONFIG`), then writes the
//! turn's AOF buffer in one `write` (`flushAppendOnlyFile`, with the `always` fsync), and only
//! then writes replies and replica streams. Bus messages, too, sit in link buffers until
//! then. Here replies and replica streams are written after the turn anyway; an effect that
//! would leave at once (a bus message, another client's unblocking reply, a close) first
//! persists what the turn has so far, so nothing is seen before it is saved.

use std::sync::Arc;

use clusterlab_core::{Effect, Node};

use super::Shared;

/// The `nodes.conf` save a turn asked for: the newest contents, fsynced when any request of
/// the turn wanted it (a newer file holds everything an older one did, so its fsync covers
/// both).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ConfigSave {
    pending: Option<(String, bool)>,
}

impl ConfigSave {
    pub(super) fn request(&mut self, contents: String, fsync: bool) {
        let fsync = fsync || self.pending.as_ref().is_some_and(|(_, f)| *f);
        self.pending = Some((contents, fsync));
    }

    /// The save to perform now, if any: `(contents, fsync)`.
    pub(super) fn take(&mut self) -> Option<(String, bool)> {
        self.pending.take()
    }
}

/// Effects that reach another process (or another client) as soon as they are performed, so
/// the turn's persistence must come first.
pub(super) fn leaves_at_once(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::Send { .. }
            | Effect::UnblockClient { .. }
            | Effect::CloseClient { .. }
            | Effect::DropClient { .. }
            | Effect::Shutdown
            | Effect::RewriteConfig
    )
}

impl Shared {
    /// Saves `nodes.conf` now if the turn asked for it. Before a typed event too: an event
    /// reports state the node holds from then on, and the simulator's checkers take what it
    /// says of `nodes.conf` (epochs, votes, roles) as saved; a save that fails stops the node
    /// with the event never seen, as when the core's one save per call came first. False
    /// once the node stopped.
    pub(super) fn persist_config(self: &Arc<Self>) -> bool {
        let save = self.lock_io().config_save.take();
        if let Some((contents, fsync)) = save {
            self.save_config(&contents, fsync);
        }
        !self.stopped()
    }

    /// Persists what the turn asked for so far: the one `nodes.conf` save, then the AOF's
    /// buffered writes in one `write` (synced under `always`). False once the node stopped
    /// (a save that failed, a fatal AOF error); nothing of the turn may then leave.
    pub(super) fn persist_turn(self: &Arc<Self>, node: &mut Node) -> bool {
        // Reporting an AOF failure to the node may ask for another save: at most twice.
        for _ in 0..2 {
            if self.stopped() {
                return false;
            }
            if !self.persist_config() {
                return false;
            }
            let buffered = self
                .lock_io()
                .aof
                .as_ref()
                .is_some_and(|a| a.has_buffered());
            if buffered {
                self.flush_aof(node);
            }
            let io = self.lock_io();
            let done = io.config_save == ConfigSave::default();
            if done || io.stopped {
                return !io.stopped;
            }
        }
        !self.stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_saves_its_newest_contents_fsynced_if_any_request_asked() {
        let mut save = ConfigSave::default();
        assert_eq!(save.take(), None);
        save.request("v1".into(), true);
        save.request("v2".into(), false);
        assert_eq!(save.take(), Some(("v2".to_string(), true)));
        assert_eq!(save.take(), None);
        save.request("v3".into(), false);
        save.request("v4".into(), false);
        assert_eq!(save.take(), Some(("v4".to_string(), false)));
    }
}
