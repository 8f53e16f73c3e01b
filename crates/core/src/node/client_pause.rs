//! `CLIENT PAUSE` and `CLIENT UNPAUSE`: an operator holds clients back for a while, every
//! command (`ALL`) or only writes (`WRITE`). Held commands wait as blocked clients and run when
//! the pause ends, as Redis 7.0 does; replicas are never held. While any pause lasts the
//! dataset stands still (no active expiry, no GETACK), as under a manual failover's pause.

use crate::node::Node;

/// A pause under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientPause {
    /// Monotonic ms when it ends.
    pub(crate) until_ms: u64,
    /// `ALL`: every command waits, not only writes.
    pub(crate) all: bool,
}

impl Node {
    /// Starts a pause of `ms`; a pause already under way keeps the later end and the wider
    /// mode, as Redis merges them.
    pub(crate) fn pause_clients(&mut self, ms: u64, all: bool) {
        let until_ms = self.now.mono_ms.saturating_add(ms);
        let merged = match self.client_pause {
            Some(p) if self.now.mono_ms < p.until_ms => ClientPause {
                until_ms: until_ms.max(p.until_ms),
                all: all || p.all,
            },
            _ => ClientPause { until_ms, all },
        };
        self.client_pause = Some(merged);
    }

    /// `CLIENT UNPAUSE`: held clients run at the end of this call.
    pub(crate) fn unpause_clients(&mut self) {
        self.client_pause = None;
    }

    /// The pause under way, if it has not ended.
    pub(crate) fn client_pause_now(&self) -> Option<ClientPause> {
        self.client_pause.filter(|p| self.now.mono_ms < p.until_ms)
    }
}
