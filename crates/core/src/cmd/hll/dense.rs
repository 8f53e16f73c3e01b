//! The HyperLogLog registers and estimate, as Redis 7.0 computes them: MurmurHash64A picks a
//! register (the low 14 bits) and a run length (trailing zeros of the rest, plus one); dense
//! registers are 6-bit fields packed little-end first; the estimate is Ertl's improved raw
//! estimator over the register histogram.

/// Registers: 2^14.
pub(super) const REGISTERS: usize = 1 << P;
const P: u32 = 14;
/// Hash bits left for the run length once the register index is taken.
const Q: usize = 64 - P as usize;
const REGISTER_BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << REGISTER_BITS) - 1;
/// Header bytes: `HYLL`, the encoding, three unused bytes and the cached cardinality.
pub(super) const HEADER_BYTES: usize = 16;
/// A dense HyperLogLog's exact length.
pub(super) const DENSE_BYTES: usize = HEADER_BYTES + (REGISTERS * REGISTER_BITS).div_ceil(8);
const SEED: u64 = 0xadc8_3b19;
/// 1 / (2 ln 2), the estimator's constant for an unbounded number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// MurmurHash64A as Redis uses it (little-endian 8-byte words).
pub(super) fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut k = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= u64::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the run length it offers (1 ..= 51).
pub(super) fn register_and_rank(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The sentinel bit bounds the count at Q + 1.
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Register `index` of the dense registers `regs` (the bytes after the header).
pub(super) fn get(regs: &[u8], index: usize) -> u8 {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let low = regs[byte] >> shift;
    let high = regs
        .get(byte + 1)
        .map_or(0, |b| b.checked_shl(8 - shift as u32).unwrap_or(0));
    (low | high) & REGISTER_MAX
}

fn put(regs: &mut [u8], index: usize, value: u8) {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    regs[byte] &= !(REGISTER_MAX << shift);
    regs[byte] |= value << shift;
    if let Some(next) = regs.get_mut(byte + 1) {
        let spill = 8 - shift as u32;
        *next &= !REGISTER_MAX.checked_shr(spill).unwrap_or(0);
        *next |= value.checked_shr(spill).unwrap_or(0);
    }
}

/// Raises register `index` to `rank`; whether it changed.
pub(super) fn raise(regs: &mut [u8], index: usize, rank: u8) -> bool {
    if get(regs, index) >= rank {
        return false;
    }
    put(regs, index, rank);
    true
}

/// The cardinality estimate from `histogram[r]` = how many registers hold `r`.
pub(super) fn estimate(histogram: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histogram[Q + 1])) / m);
    for count in histogram[1..=Q].iter().rev() {
        z += f64::from(*count);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}
