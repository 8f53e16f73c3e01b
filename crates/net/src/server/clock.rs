//! The node's clocks: monotonic time since start for timeouts, and the wall clock for what
//! Redis stamps with unix time ([`unix_now_ms`], also used by the simulator and the binary's
//! log lines). Both are virtual under madsim, so they come from the seed.
//!
//! A machine's wall clock may be wrong: [`MachineClock`] holds how far it is off true time
//! and how fast it drifts ([`ClockSkew`]); the simulator's clock faults change it, and it
//! outlives restarts of the node (the skew belongs to the machine). Timeouts use the
//! monotonic clock, which no skew touches, unless the machine clock is built with
//! [`MachineClock::wall_timeouts`]: then, as Redis 7.0's `mstime()` does, they follow the
//! skewed wall clock (held at its highest value while the wall clock is behind it, see
//! [`Clock::now`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use clusterlab_core::Time;

const MONO_BASE_MS: u64 = 1000;

/// How far a wall clock is off true time: `offset_us` at true time `since_us`, then drifting
/// by `drift_ppm` millionths of the true time elapsed (positive: it runs fast). True time is
/// [`true_now_us`]'s; the simulator's trace uses the same µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockSkew {
    /// Offset at `since_us`, in µs (positive: the clock is ahead).
    pub offset_us: i64,
    /// Rate error from `since_us` on, in parts per million.
    pub drift_ppm: i32,
    /// True time of the last change, in µs.
    pub since_us: u64,
}

impl ClockSkew {
    /// The offset at true time `now_us` (not before `since_us`).
    pub fn offset_at_us(&self, now_us: u64) -> i64 {
        let elapsed_us = now_us.saturating_sub(self.since_us) as i64;
        // i128: hours of drift at hundreds of ppm overflow nothing, but stay exact.
        let drift_us = i128::from(self.drift_ppm) * i128::from(elapsed_us) / 1_000_000;
        self.offset_us + drift_us as i64
    }

    /// This skew after the clock is stepped by `by_us` at true time `now_us`.
    pub fn jumped(self, now_us: u64, by_us: i64) -> ClockSkew {
        ClockSkew {
            offset_us: self.offset_at_us(now_us) + by_us,
            drift_ppm: self.drift_ppm,
            since_us: now_us,
        }
    }

    /// This skew when the clock starts drifting by `ppm` at true time `now_us` (0: it keeps
    /// its offset and runs at true speed).
    pub fn drifting(self, now_us: u64, ppm: i32) -> ClockSkew {
        ClockSkew {
            offset_us: self.offset_at_us(now_us),
            drift_ppm: ppm,
            since_us: now_us,
        }
    }
}

/// One machine's wall clock error, shared by the node's driver (which reads it at every
/// [`Clock::now`]) and whoever skews it; clones share it.
#[derive(Clone, Debug, Default)]
pub struct MachineClock {
    skew: Arc<Mutex<ClockSkew>>,
    wall_timeouts: bool,
}

impl MachineClock {
    /// A clock whose timeouts follow its (skewed) wall clock, as Redis 7.0's do.
    pub fn wall_timeouts() -> MachineClock {
        MachineClock {
            wall_timeouts: true,
            ..MachineClock::default()
        }
    }

    /// Whether timeouts follow the wall clock.
    pub fn has_wall_timeouts(&self) -> bool {
        self.wall_timeouts
    }

    /// The current skew.
    pub fn skew(&self) -> ClockSkew {
        *self.skew.lock().expect("skew lock poisoned")
    }

    /// Changes the skew with `change` at true time [`true_now_us`]; returns the new one.
    pub fn update(&self, change: impl FnOnce(ClockSkew, u64) -> ClockSkew) -> ClockSkew {
        let mut skew = self.skew.lock().expect("skew lock poisoned");
        *skew = change(*skew, true_now_us());
        *skew
    }

    /// The wall clock's offset from true time now, in µs.
    pub fn offset_now_us(&self) -> i64 {
        self.skew().offset_at_us(true_now_us())
    }

    /// Milliseconds since the unix epoch on this machine's (skewed) wall clock.
    pub fn unix_now_ms(&self) -> u64 {
        let true_us = unix_now_us() as i64;
        (true_us + self.offset_now_us()).max(0) as u64 / 1000
    }
}

/// Monotonic time since start and the wall clock; both virtual under madsim.
pub(super) struct Clock {
    start: tokio::time::Instant,
    machine: MachineClock,
    /// Wall-clock timeouts: the wall clock when the node started, in ms.
    wall_start_ms: u64,
    /// Wall-clock timeouts: the highest `mono_ms` handed out so far.
    mono_high_ms: AtomicU64,
}

impl Clock {
    pub(super) fn start(machine: MachineClock) -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
            wall_start_ms: machine.unix_now_ms(),
            machine,
            mono_high_ms: AtomicU64::new(MONO_BASE_MS),
        }
    }

    /// The time the node is called with. Under [`MachineClock::wall_timeouts`], `mono_ms`
    /// is the wall clock's progress since the start (Redis's `mstime()`, shifted); when the
    /// wall clock goes back it stays at its highest value until the wall clock is past it
    /// again. In Redis a timestamp taken before the step makes `now - then` negative, which
    /// never exceeds a timeout, for about as long as the step: holding the time gives the
    /// same delay without teaching the core that time may go back.
    pub(super) fn now(&self) -> Time {
        let unix_ms = self.machine.unix_now_ms();
        let mono_ms = if self.machine.has_wall_timeouts() {
            let wall_ms = MONO_BASE_MS as i64 + unix_ms as i64 - self.wall_start_ms as i64;
            let wall_ms = wall_ms.max(MONO_BASE_MS as i64) as u64;
            self.mono_high_ms
                .fetch_max(wall_ms, Ordering::Relaxed)
                .max(wall_ms)
        } else {
            // Core uses 0 for "never" (no ping pending, no pong yet), so time starts at 1 s.
            MONO_BASE_MS + self.start.elapsed().as_millis() as u64
        };
        Time { mono_ms, unix_ms }
    }
}

/// Milliseconds since the unix epoch on the wall clock (0 if it is set before 1970).
pub fn unix_now_ms() -> u64 {
    unix_now_us() / 1000
}

/// Microseconds since the unix epoch on the host's wall clock.
#[cfg(not(madsim))]
fn unix_now_us() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_micros() as u64
}

/// Microseconds since the unix epoch on the simulated wall clock; call it inside a madsim
/// runtime.
#[cfg(madsim)]
fn unix_now_us() -> u64 {
    // The simulated wall clock, explicitly: it must come from the seed, not the host.
    let now = madsim::time::TimeHandle::current().now_time();
    let since_epoch = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_micros() as u64
}

/// The true time skews are keyed on, in µs: under madsim the virtual time since the run
/// started (the trace's clock), otherwise the host's unix time.
#[cfg(madsim)]
pub fn true_now_us() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_micros() as u64
}

/// The true time skews are keyed on, in µs: under madsim the virtual time since the run
/// started (the trace's clock), otherwise the host's unix time.
#[cfg(not(madsim))]
pub fn true_now_us() -> u64 {
    unix_now_us()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_add_and_drift_accumulates_from_the_change() {
        let skew = ClockSkew::default().jumped(1_000, 5_000);
        assert_eq!(skew.offset_at_us(2_000_000), 5_000);
        // 200 ppm fast from t = 1 s: 10 s later it is 2 ms further ahead.
        let skew = skew.drifting(1_000_000, 200);
        assert_eq!(skew.offset_at_us(11_000_000), 7_000);
        // A backward step keeps the drift; drift 0 freezes the offset reached.
        let skew = skew.jumped(11_000_000, -3_600_000_000);
        assert_eq!(skew.offset_at_us(11_000_000), 7_000 - 3_600_000_000);
        assert_eq!(skew.drift_ppm, 200);
        let skew = skew.drifting(21_000_000, 0);
        assert_eq!(skew.offset_at_us(99_000_000), 9_000 - 3_600_000_000);
        // Slow clocks drift back.
        let slow = ClockSkew::default().drifting(0, -500);
        assert_eq!(slow.offset_at_us(4_000_000), -2_000);
    }

    // Reads the host's clock: the normal build only.
    #[cfg(not(madsim))]
    #[test]
    fn machine_clocks_share_their_skew() {
        let clock = MachineClock::default();
        let same = clock.clone();
        same.update(|s, now| s.jumped(now, 60_000_000));
        assert_eq!(clock.skew().offset_us, 60_000_000);
        assert!(!clock.has_wall_timeouts());
        assert!(MachineClock::wall_timeouts().has_wall_timeouts());
        let ahead = clock.unix_now_ms();
        let now = unix_now_ms();
        assert!(
            ahead >= now + 59_000 && ahead <= now + 61_000,
            "{ahead} vs {now}"
        );
    }
}
