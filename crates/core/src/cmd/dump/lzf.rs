//! LZF, the compression Redis's RDB writer applies to strings (`rdbcompression yes`).
//!
//! The compressor reproduces, byte for byte, what liblzf 3.6 emits when built as redis-server
//! 7.0 builds it (Redis's bundled copy, or Debian's system liblzf, which redis-server 7.0.15 on
//! this machine links): a 2^16-slot hash table of 3-byte prefixes, the "very fast" mode (after
//! a back-reference only its last two positions are hashed), references at most 8192 bytes
//! back and 264 long, literal runs of at most 32 bytes, and liblzf's exact points at which it
//! gives up because the output would not fit. Two quirks matter for equal bytes: a position
//! is never referenced if it is the input's first byte, and a match whose remaining bound is
//! over 16 is first extended by 16 bytes unchecked against that bound (so the last bytes of
//! an input can join it). liblzf leaves its hash table uninitialised, so a slot never written
//! in the current call holds whatever was there; we start empty, which is what liblzf does
//! whenever such a stale slot fails its byte comparison (nearly always).
//!
//! The stream is a sequence of items, each led by a control byte: below 32 it is a run of
//! `ctrl + 1` literal bytes; otherwise its top 3 bits are a length (7 = one more length byte
//! follows, added) and its low 5 bits the high part of a back distance whose low byte follows;
//! it copies `length + 2` bytes starting `distance + 1` bytes back in the output (the copy may
//! overlap what it writes).

/// Bits of a hash-table index (liblzf's `HLOG`).
const HASH_BITS: u32 = 16;
/// Longest literal run one control byte announces.
const MAX_LITERAL_RUN: usize = 32;
/// Farthest back a reference reaches (13 bits of distance - 1).
const MAX_DISTANCE: usize = 1 << 13;
/// Longest reference: 2 + 7 + 255 bytes.
const MAX_REFERENCE_LEN: usize = 264;

/// The compressed form of `input`, or `None` where liblzf returns 0: the output would exceed
/// `out_len_max` bytes (Redis passes the input's length - 4: compression must save 4 bytes),
/// or there is nothing to compress.
pub(crate) fn compress(input: &[u8], out_len_max: usize) -> Option<Vec<u8>> {
    if input.is_empty() || out_len_max == 0 {
        return None;
    }
    let mut out = Output::new(out_len_max);
    let mut slots = HashSlots::new(input.len());
    let mut ip = 0;
    let mut hash = if input.len() >= 2 { first(input, 0) } else { 0 };
    while ip + 2 < input.len() {
        hash = next(hash, input, ip);
        let reference = slots.replace(index(hash), ip);
        let Some(reference) = reference.filter(|&r| is_match(input, r, ip)) else {
            out.literal(input[ip])?;
            ip += 1;
            continue;
        };
        let bound = (input.len() - ip - 2).min(MAX_REFERENCE_LEN);
        let len = match_len(input, reference, ip, bound);
        out.reference(ip - reference - 1, len)?;
        ip += len;
        if ip + 2 >= input.len() {
            break;
        }
        // Very fast mode: only the reference's last two positions enter the table.
        ip -= 2;
        hash = first(input, ip);
        for _ in 0..2 {
            hash = next(hash, input, ip);
            slots.replace(index(hash), ip);
            ip += 1;
        }
    }
    out.finish(&input[ip..])
}

/// Whether the earlier position `reference` may serve the bytes at `ip`: not the first byte,
/// within reach, and the same three bytes.
fn is_match(input: &[u8], reference: usize, ip: usize) -> bool {
    debug_assert!(reference < ip, "the table holds only earlier positions");
    reference > 0
        && ip - reference - 1 < MAX_DISTANCE
        && input[reference..reference + 3] == input[ip..ip + 3]
}

/// How many bytes from `ip` equal those from `reference` (at least the 3 already compared),
/// counted as liblzf counts them: with `bound` over 16 it first compares up to 16 more bytes
/// regardless of `bound`, then goes on while under `bound`.
fn match_len(input: &[u8], reference: usize, ip: usize, bound: usize) -> usize {
    let mut len = 2;
    if bound > 16 {
        for _ in 0..16 {
            len += 1;
            if input[reference + len] != input[ip + len] {
                return len;
            }
        }
    }
    loop {
        len += 1;
        if len >= bound || input[reference + len] != input[ip + len] {
            assert!(ip + len <= input.len(), "a match stays inside the input");
            return len;
        }
    }
}

/// liblzf's first two bytes of a hash (`FRST`).
fn first(input: &[u8], at: usize) -> u32 {
    u32::from(input[at]) << 8 | u32::from(input[at + 1])
}

/// Shifts the third byte at `at` into the hash (`NEXT`); older bytes fall out in `index`.
fn next(hash: u32, input: &[u8], at: usize) -> u32 {
    hash << 8 | u32::from(input[at + 2])
}

/// The table slot of a hash (`IDX` in very fast mode).
fn index(hash: u32) -> u16 {
    let mixed = (hash >> (24 - HASH_BITS)).wrapping_sub(hash.wrapping_mul(5));
    (mixed & ((1 << HASH_BITS) - 1)) as u16
}

/// liblzf's 2^16-entry table, holding only the slots one input touches (at most one per byte),
/// so a short string does not pay for clearing 64K entries: open addressing keyed by slot.
struct HashSlots {
    /// `(slot + 1, position)`; a key of 0 is empty.
    entries: Vec<(u32, usize)>,
    mask: usize,
}

impl HashSlots {
    fn new(input_len: usize) -> HashSlots {
        // At most half full; past 2^17 entries every slot has its own.
        let capacity = (2 * input_len).next_power_of_two().clamp(16, 1 << 17);
        HashSlots {
            entries: vec![(0, 0); capacity],
            mask: capacity - 1,
        }
    }

    /// Stores `position` in `slot`, returning what the slot held.
    fn replace(&mut self, slot: u16, position: usize) -> Option<usize> {
        let key = u32::from(slot) + 1;
        let mut i = usize::from(slot) & self.mask;
        loop {
            let (k, previous) = self.entries[i];
            if k == key {
                self.entries[i].1 = position;
                return Some(previous);
            }
            if k == 0 {
                self.entries[i] = (key, position);
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// The output under construction: each literal run's control byte is reserved when the run
/// starts and filled in when it stops.
struct Output {
    bytes: Vec<u8>,
    /// Literals in the open run.
    run: usize,
    len_max: usize,
}

impl Output {
    fn new(len_max: usize) -> Output {
        let mut bytes = Vec::with_capacity(len_max + 1);
        bytes.push(0);
        Output {
            bytes,
            run: 0,
            len_max,
        }
    }

    fn literal(&mut self, byte: u8) -> Option<()> {
        if self.bytes.len() >= self.len_max {
            return None;
        }
        self.push_literal(byte);
        Some(())
    }

    fn push_literal(&mut self, byte: u8) {
        self.run += 1;
        self.bytes.push(byte);
        if self.run == MAX_LITERAL_RUN {
            self.close_run();
            self.bytes.push(0);
        }
    }

    /// Ends the open run: its control byte says `run - 1`, or it goes if the run is empty.
    fn close_run(&mut self) {
        let control_at = self.bytes.len() - self.run - 1;
        if self.run == 0 {
            self.bytes.pop();
        } else {
            self.bytes[control_at] = (self.run - 1) as u8;
        }
        self.run = 0;
    }

    /// A back-reference of `len` bytes, `distance + 1` bytes back; then a new run opens.
    fn reference(&mut self, distance: usize, len: usize) -> Option<()> {
        assert!(distance < MAX_DISTANCE && (3..=MAX_REFERENCE_LEN).contains(&len));
        // liblzf's room check counts the reserved control byte unless the run is empty.
        let at = self.bytes.len() - usize::from(self.run == 0);
        if at + 4 >= self.len_max {
            return None;
        }
        self.close_run();
        let code = len - 2;
        let high = (distance >> 8) as u8;
        if code < 7 {
            self.bytes.push(high + ((code as u8) << 5));
        } else {
            self.bytes.push(high + (7 << 5));
            self.bytes.push((code - 7) as u8);
        }
        self.bytes.push(distance as u8);
        self.bytes.push(0);
        Some(())
    }

    /// The last (at most two) bytes, taken as literals if three bytes of room are left.
    fn finish(mut self, tail: &[u8]) -> Option<Vec<u8>> {
        if self.bytes.len() + 3 > self.len_max {
            return None;
        }
        for &byte in tail {
            self.push_literal(byte);
        }
        self.close_run();
        Some(self.bytes)
    }
}

/// Longest output one back-reference (3 input bytes) can produce.
const MAX_EXPANSION: usize = MAX_REFERENCE_LEN;

/// Decompresses LZF data that must expand to exactly `len` bytes; `None` if it is malformed.
pub(crate) fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // The claimed length comes from outside: reserve no more than the input could expand to.
    let bound = input.len().saturating_mul(MAX_EXPANSION);
    let mut out = Vec::with_capacity(len.min(bound));
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let literal = input.get(i..i + ctrl + 1)?;
            if out.len() + literal.len() > len {
                return None;
            }
            out.extend_from_slice(literal);
            i += literal.len();
            continue;
        }
        let mut run = ctrl >> 5;
        if run == 7 {
            run += usize::from(*input.get(i)?);
            i += 1;
        }
        run += 2;
        let distance = ((ctrl & 0x1f) << 8 | usize::from(*input.get(i)?)) + 1;
        i += 1;
        let start = out.len().checked_sub(distance)?;
        if out.len() + run > len {
            return None;
        }
        for k in start..start + run {
            out.push(out[k]);
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests;
