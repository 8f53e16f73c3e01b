//! The random stream behind a script's `math.random`: the 48-bit linear congruential
//! generator of POSIX `lrand48`, which Redis 7.0 uses so every machine draws the same numbers.
//! One stream per node, from the fixed POSIX start, continued across script calls and reset
//! only by `math.randomseed`: nothing from the host reaches it, so the simulator replays it.

const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const INCREMENT: u64 = 0xB;
const MASK_48: u64 = (1 << 48) - 1;
/// POSIX's state before any seeding.
const START: u64 = 0x1234_ABCD_330E;
/// Redis divides by `INT32_MAX` (and takes the draw modulo it).
const LRAND48_MAX: u64 = i32::MAX as u64;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rand48 {
    state: u64,
}

impl Default for Rand48 {
    fn default() -> Self {
        Rand48 { state: START }
    }
}

impl Rand48 {
    /// `srand48`: the seed's 32 bits above the constant low word.
    pub(crate) fn seed(&mut self, seed: i32) {
        self.state = ((seed as u32 as u64) << 16) | 0x330E;
    }

    /// `lrand48`: the next 31-bit draw.
    pub(crate) fn next_u31(&mut self) -> u64 {
        self.state = (self.state.wrapping_mul(MULTIPLIER) + INCREMENT) & MASK_48;
        self.state >> 17
    }

    /// What `math.random()` returns: a draw in [0, 1).
    pub(crate) fn next_unit(&mut self) -> f64 {
        (self.next_u31() % LRAND48_MAX) as f64 / LRAND48_MAX as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_posix_lrand48() {
        // glibc: srand48(0), then lrand48() three times.
        let mut r = Rand48::default();
        r.seed(0);
        assert_eq!(
            [r.next_u31(), r.next_u31(), r.next_u31()],
            [366850414, 1610402240, 206956554]
        );
    }
}
