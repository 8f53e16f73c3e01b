//! Persistence effects: saving `nodes.conf` and appending to and syncing the AOF; a failure
//! stops the node, as it would stop Redis.

use std::io;

use clusterlab_core::canary::Canary;
use clusterlab_core::config::AppendFsync;
use clusterlab_core::{Config, Node};

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
        }
    }

    pub(super) fn append_aof(&self, node: &Node, data: &[u8]) {
        let mut io = self.lock_io();
        let Some(aof) = io.aof.as_mut() else {
            return;
        };
        // `CONFIG SET appendfsync` changes the node's config; the file follows it.
        aof.set_fsync_policy(fsync_policy(node.config()));
        if let Err(e) = aof.append(data, self.clock.now().mono_ms) {
            drop(io);
            tracing::warn!(target: LOG_TARGET, "Error writing to the AOF file: {e}");
            self.stop(Err(e));
        }
    }

    /// Makes everything appended to the AOF durable (shutdown).
    pub(super) fn sync_aof(&self) -> io::Result<()> {
        match self.lock_io().aof.as_mut() {
            Some(aof) => aof.flush_and_sync(),
            None => Ok(()),
        }
    }

    /// The `everysec` background sync.
    pub(super) fn tick_aof(&self, node: &Node) -> io::Result<()> {
        match self.lock_io().aof.as_mut() {
            Some(aof) => {
                aof.set_fsync_policy(fsync_policy(node.config()));
                aof.tick(self.clock.now().mono_ms)
            }
            None => Ok(()),
        }
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
