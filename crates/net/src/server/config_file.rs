//! `CONFIG REWRITE`'s side: read the config file the node started from, write back the core's
//! rewrite of it in one atomic, fsynced replace.

use std::path::Path;

use clusterlab_core::Node;

use super::{Shared, LOG_TARGET};

impl Shared {
    pub(super) fn rewrite_config(&self, node: &Node) {
        let path = Path::new(&node.config().config_file);
        let result = self.disk.read(path).and_then(|old| {
            let old = String::from_utf8_lossy(&old.unwrap_or_default()).into_owned();
            let text = node.config().rewrite_text(&old);
            self.disk.write_atomic(path, text.as_bytes(), true)
        });
        match result {
            Ok(()) => tracing::info!(target: LOG_TARGET, "CONFIG REWRITE executed with success."),
            Err(e) => tracing::warn!(
                target: LOG_TARGET,
                "CONFIG REWRITE failed: {}",
                crate::aof::error_text(&e)
            ),
        }
    }
}
