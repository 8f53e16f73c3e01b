//! Keeping a replication link honest, as Redis does: a master puts `PING` into its replicas'
//! stream every `repl-ping-replica-period` seconds (it counts in the offset, like any stream
//! byte), so a replica that heard nothing at all for `repl-timeout` seconds knows the link is
//! dead even when no connection error says so (a cut network), drops it and connects again,
//! continuing from its offset if the master's backlog still covers it.

use super::*;
use crate::node::Node;

impl Node {
    /// From the cron, on a master: the keep-alive `PING`, unless writes are paused (a manual
    /// failover compares offsets, and this would move the master's, as Redis also holds it).
    pub(super) fn ping_replicas_if_due(&mut self) {
        let period_ms = self.config.repl_ping_replica_period_s * 1000;
        let now = self.now.mono_ms;
        if self.repl.replicas.is_empty() || now.saturating_sub(self.repl.last_ping_ms) < period_ms {
            return;
        }
        self.repl.last_ping_ms = now;
        if self.writes_paused() || self.cluster.me().is_replica() {
            return;
        }
        let args = words(&[b"PING"]);
        let size = self.config.repl_backlog_size;
        self.repl.stream_to_replicas(&args, size, &mut self.out);
        self.cluster.me_mut().repl_offset += encoded_len(&args);
    }

    /// From the cron, on a replica: drops a link that brought nothing for `repl-timeout`
    /// (Redis's "MASTER timeout: no data nor PING received"). True if it did.
    pub(super) fn master_link_timed_out(&mut self) -> bool {
        let timeout_ms = self.config.repl_timeout_s * 1000;
        let now = self.now.mono_ms;
        let Some(l) = self.repl.link.as_ref().filter(|l| l.up) else {
            return false;
        };
        if now.saturating_sub(l.last_io_ms) <= timeout_ms {
            return false;
        }
        let (link, loading) = (l.id, l.loading);
        let text = if loading {
            "Timeout receiving bulk data from MASTER... If the problem persists try to set the \
             'repl-timeout' parameter in redis.conf to a larger value."
        } else {
            "MASTER timeout: no data nor PING received..."
        };
        self.log(LogLevel::Warning, text);
        self.out.push(Effect::ReplicaDisconnect { link });
        self.replication_link_down(self.now, link);
        true
    }
}
