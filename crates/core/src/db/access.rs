//! Each key's 24-bit access clock, as Redis 7.0 keeps it in an object's `lru` field, and the
//! arithmetic `OBJECT IDLETIME`/`FREQ` (and, later, the `maxmemory` eviction sampler) read.
//!
//! Under the LRU policies (and `noeviction`) the field is the LRU clock: unix seconds modulo
//! 2^24, set on every access. Under `allkeys-lfu`/`volatile-lfu` it is a pair: the minute of
//! the last access (16 bits, modulo 2^16) above a logarithmic access counter (8 bits) that
//! starts at 5, grows by one with probability `1 / ((counter - 5) * lfu-log-factor + 1)` per
//! access and loses one per `lfu-decay-time` minutes idle. The field sits in the key's record
//! (three bytes beside the tag), so reading it costs no lookup beyond the key's own.

use crate::config::Config;

/// The largest LRU clock value; the clock wraps to 0 after it (Redis's `LRU_CLOCK_MAX`).
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// The LFU counter of a new key (Redis's `LFU_INIT_VAL`), so it is not evicted at once.
pub const LFU_INIT_COUNTER: u8 = 5;
/// The LFU minutes timestamp wraps after this (16 bits).
const LFU_MINUTES_MAX: u32 = 65_535;

/// How the access clock is kept, from `maxmemory-policy`, `lfu-log-factor`, `lfu-decay-time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AccessPolicy {
    /// Seconds-resolution LRU clock (every policy but the two LFU ones).
    #[default]
    Lru,
    Lfu {
        log_factor: u32,
        decay_time_min: u32,
    },
}

impl AccessPolicy {
    /// The policy `config` selects; values the directive table accepted always parse.
    pub fn from_config(config: &Config) -> AccessPolicy {
        let value = |name: &str| config.ignored.get(name).map(String::as_str);
        let lfu = matches!(
            value("maxmemory-policy"),
            Some("allkeys-lfu" | "volatile-lfu")
        );
        if !lfu {
            return AccessPolicy::Lru;
        }
        let number = |name: &str, default: u32| {
            value(name)
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(default)
        };
        AccessPolicy::Lfu {
            log_factor: number("lfu-log-factor", 10),
            decay_time_min: number("lfu-decay-time", 1),
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, AccessPolicy::Lfu { .. })
    }

    /// The field of a key created at `unix_ms`.
    pub fn new_key_clock(self, unix_ms: u64) -> u32 {
        match self {
            AccessPolicy::Lru => lru_clock(unix_ms),
            AccessPolicy::Lfu { .. } => lfu_pack(lfu_minutes(unix_ms), LFU_INIT_COUNTER),
        }
    }

    /// The field after an access at `unix_ms`. `draw` yields a uniform number in [0, 1); it
    /// is called only when the LFU counter may grow with a probability below one, so the
    /// node's rng is not consumed otherwise.
    pub fn touched(self, clock: u32, unix_ms: u64, draw: impl FnOnce() -> f64) -> u32 {
        let AccessPolicy::Lfu {
            log_factor,
            decay_time_min,
        } = self
        else {
            return lru_clock(unix_ms);
        };
        let counter = lfu_counter(clock, unix_ms, decay_time_min);
        let counter = lfu_incremented(counter, log_factor, draw);
        lfu_pack(lfu_minutes(unix_ms), counter)
    }
}

/// Redis's LRU clock at `unix_ms`: seconds, modulo 2^24.
pub fn lru_clock(unix_ms: u64) -> u32 {
    ((unix_ms / 1000) & u64::from(LRU_CLOCK_MAX)) as u32
}

/// Milliseconds since the access an LRU `clock` records, at `unix_ms`, across one wrap of
/// the clock (Redis's `estimateObjectIdleTime`, including its off-by-one past the wrap).
pub fn lru_idle_ms(clock: u32, unix_ms: u64) -> u64 {
    let now = lru_clock(unix_ms);
    let idle_s = if now >= clock {
        now - clock
    } else {
        now + (LRU_CLOCK_MAX - clock)
    };
    u64::from(idle_s) * 1000
}

/// Redis's LFU minutes: unix minutes modulo 2^16.
pub fn lfu_minutes(unix_ms: u64) -> u32 {
    ((unix_ms / 60_000) & u64::from(LFU_MINUTES_MAX)) as u32
}

fn lfu_pack(minutes: u32, counter: u8) -> u32 {
    debug_assert!(minutes <= LFU_MINUTES_MAX, "16-bit minutes");
    (minutes << 8) | u32::from(counter)
}

/// The LFU counter of `clock` at `unix_ms`, less one per `decay_time_min` minutes since its
/// last access (`OBJECT FREQ`'s answer; the stored field does not change).
pub fn lfu_counter(clock: u32, unix_ms: u64, decay_time_min: u32) -> u8 {
    let counter = (clock & 0xff) as u8;
    if decay_time_min == 0 {
        return counter;
    }
    let last = clock >> 8;
    let now = lfu_minutes(unix_ms);
    let elapsed_min = if now >= last {
        now - last
    } else {
        LFU_MINUTES_MAX - last + now
    };
    let periods = elapsed_min / decay_time_min;
    counter.saturating_sub(periods.min(255) as u8)
}

/// One access's logarithmic increment: certain below the initial value, ever rarer above it.
pub fn lfu_incremented(counter: u8, log_factor: u32, draw: impl FnOnce() -> f64) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_COUNTER));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if p >= 1.0 || draw() < p {
        counter + 1
    } else {
        counter
    }
}

/// The field `RESTORE … IDLETIME seconds` (LRU) or `FREQ n` (LFU) sets, as Redis's
/// `objectSetLRUOrLFU`; `None` when the option does not apply to the policy.
pub fn restored_clock(
    policy: AccessPolicy,
    idle_s: Option<u64>,
    freq: Option<u8>,
    unix_ms: u64,
) -> Option<u32> {
    match policy {
        AccessPolicy::Lfu { .. } => freq.map(|f| lfu_pack(lfu_minutes(unix_ms), f)),
        AccessPolicy::Lru => {
            let idle_s = idle_s?;
            let now = i64::from(lru_clock(unix_ms));
            let mut at = now - idle_s.min(i64::MAX as u64 / 2) as i64;
            if at < 0 {
                at += i64::from(LRU_CLOCK_MAX);
            }
            // An idle time beyond a whole wrap leaves Redis's field negative too; clamp.
            Some(at.clamp(0, i64::from(LRU_CLOCK_MAX)) as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LFU10: AccessPolicy = AccessPolicy::Lfu {
        log_factor: 10,
        decay_time_min: 1,
    };

    #[test]
    fn lru_clock_is_seconds_and_wraps() {
        assert_eq!(lru_clock(1_700_000_123_456), 1_700_000_123 & LRU_CLOCK_MAX);
        assert_eq!(lru_clock(u64::from(LRU_CLOCK_MAX + 1) * 1000), 0);
        assert_eq!(lru_idle_ms(lru_clock(10_000), 12_999), 2000);
        // Accessed 2 s before the wrap, read at second 3 after it: Redis counts 5.
        let before = LRU_CLOCK_MAX - 2;
        assert_eq!(lru_idle_ms(before, 3000), 5000);
    }

    #[test]
    fn lfu_new_keys_start_at_five_and_decay_per_period() {
        let t0 = 120 * 60_000; // minute 120
        let clock = LFU10.new_key_clock(t0);
        assert_eq!(clock, (120 << 8) | 5);
        assert_eq!(lfu_counter(clock, t0 + 59_999, 1), 5);
        assert_eq!(lfu_counter(clock, t0 + 3 * 60_000, 1), 2);
        assert_eq!(lfu_counter(clock, t0 + 3 * 60_000, 2), 4);
        assert_eq!(lfu_counter(clock, t0 + 300 * 60_000, 1), 0);
        assert_eq!(lfu_counter(clock, t0 + 300 * 60_000, 0), 5);
        // The minutes wrap at 2^16.
        let late = (65_535 << 8) | 9;
        assert_eq!(lfu_counter(late, 2 * 60_000, 1), 9 - 2);
    }

    #[test]
    fn lfu_increment_probability_follows_the_log_factor() {
        let never = || panic!("no draw needed");
        assert_eq!(lfu_incremented(0, 10, never), 1);
        assert_eq!(lfu_incremented(5, 10, never), 6);
        assert_eq!(lfu_incremented(200, 0, never), 201);
        assert_eq!(lfu_incremented(255, 0, never), 255);
        // Counter 7 with factor 10: p = 1/21.
        assert_eq!(lfu_incremented(7, 10, || 0.047), 8);
        assert_eq!(lfu_incremented(7, 10, || 0.048), 7);
    }

    #[test]
    fn touch_decays_then_increments_and_restamps() {
        let t0 = 120 * 60_000;
        let clock = (100 << 8) | 30; // last touched 20 minutes ago
        let lfu0 = AccessPolicy::Lfu {
            log_factor: 0,
            decay_time_min: 1,
        };
        assert_eq!(lfu0.touched(clock, t0, || 0.5), (120 << 8) | 11);
        assert_eq!(
            AccessPolicy::Lru.touched(clock, 5_000, || panic!()),
            lru_clock(5_000)
        );
    }

    #[test]
    fn restore_options_apply_to_their_policy_only() {
        let now_ms = 1_000_000;
        assert_eq!(
            restored_clock(AccessPolicy::Lru, Some(100), None, now_ms),
            Some(900)
        );
        assert_eq!(
            restored_clock(AccessPolicy::Lru, Some(1001), None, now_ms),
            Some(LRU_CLOCK_MAX - 1)
        );
        assert_eq!(
            restored_clock(AccessPolicy::Lru, None, Some(3), now_ms),
            None
        );
        assert_eq!(
            restored_clock(LFU10, None, Some(3), 60_000 * 7),
            Some((7 << 8) | 3)
        );
        assert_eq!(restored_clock(LFU10, Some(5), None, now_ms), None);
    }
}
