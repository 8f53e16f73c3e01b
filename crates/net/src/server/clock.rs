//! The node's clocks: monotonic time since start for timeouts, and the wall clock for what
//! Redis stamps with unix time ([`unix_now_ms`], also used by the simulator and the binary's
//! log lines). Both are virtual under madsim, so they come from the seed.

use clusterlab_core::Time;

const MONO_BASE_MS: u64 = 1000;

/// Monotonic time since start and the wall clock; both virtual under madsim.
pub(super) struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    pub(super) fn start() -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
        }
    }

    pub(super) fn now(&self) -> Time {
        Time {
            // Core uses 0 for "never" (no ping pending, no pong yet), so time starts at 1 s.
            mono_ms: MONO_BASE_MS + self.start.elapsed().as_millis() as u64,
            unix_ms: unix_now_ms(),
        }
    }
}

/// Milliseconds since the unix epoch on the wall clock (0 if it is set before 1970).
#[cfg(not(madsim))]
pub fn unix_now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_millis() as u64
}

/// Milliseconds since the unix epoch on the simulated wall clock; call it inside a madsim
/// runtime.
#[cfg(madsim)]
pub fn unix_now_ms() -> u64 {
    // The simulated wall clock, explicitly: it must come from the seed, not the host.
    let now = madsim::time::TimeHandle::current().now_time();
    let since_epoch = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_millis() as u64
}
