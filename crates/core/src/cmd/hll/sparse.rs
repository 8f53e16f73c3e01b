//! Redis 7.0's sparse HyperLogLog encoding: after the header, a run-length sequence of
//! opcodes covering the 16384 registers in order: `ZERO` (`00llllll`, 1-64 zero registers),
//! `XZERO` (`01llllll llllllll`, 1-16384 zero registers) and `VAL` (`1vvvvvll`, 1-4 registers
//! holding 1-32). Updates edit the sequence exactly as Redis does (split the run, then merge
//! equal neighbouring `VAL`s), so a PFADD stream builds the same bytes here and there.

use super::dense::{self, DENSE_BYTES, HEADER_BYTES, REGISTERS};
use super::Corrupt;

const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_BIT: u8 = 0x40;
const VAL_BIT: u8 = 0x80;

/// One decoded opcode.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    fn at(s: &[u8], p: usize) -> Op {
        let b = s[p];
        if b & VAL_BIT != 0 {
            Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 0x3) + 1)
        } else if b & 0xc0 == XZERO_BIT {
            let low = s.get(p + 1).copied().unwrap_or(0);
            Op::XZero(((usize::from(b & 0x3f) << 8) | usize::from(low)) + 1)
        } else {
            Op::Zero(usize::from(b & 0x3f) + 1)
        }
    }

    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    fn bytes(self) -> usize {
        if matches!(self, Op::XZero(_)) {
            2
        } else {
            1
        }
    }
}

fn val(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len as u8 - 1) | VAL_BIT
}

/// A run of `len` zero registers, as one ZERO or XZERO opcode.
fn zeros(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.extend([(l >> 8) as u8 | XZERO_BIT, (l & 0xff) as u8]);
    } else {
        out.push(len as u8 - 1);
    }
}

/// An empty sparse body: XZERO runs over every register.
pub(super) fn empty_body() -> Vec<u8> {
    let mut body = Vec::new();
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(16384);
        zeros(&mut body, run);
        left -= run;
    }
    body
}

/// What setting a register in the sparse form came to.
pub(super) enum SetOutcome {
    Unchanged,
    Updated,
    /// The value or the grown string does not fit: convert to dense and set it there.
    Promote,
}

/// Raises register `index` to `count` in the sparse string `s` (header included), keeping
/// it at most `max_bytes` long.
pub(super) fn set(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<SetOutcome, Corrupt> {
    if count > VAL_MAX_VALUE {
        return Ok(SetOutcome::Promote);
    }
    // Step 1: the opcode covering `index`, the one before it, and its first register.
    let (mut p, mut first, mut prev, mut op) = (HEADER_BYTES, 0, None, None);
    while p < s.len() {
        let here = Op::at(s, p);
        op = Some(here);
        if index < first + here.span() {
            break;
        }
        prev = Some(p);
        p += here.bytes();
        first += here.span();
    }
    let op = match op {
        Some(op) if p < s.len() => op,
        _ => return Err(Corrupt),
    };
    // Step 2: the cheap cases, then the replacement sequence.
    let simple = match op {
        Op::Val(old, _) if old >= count => return Ok(SetOutcome::Unchanged),
        Op::Val(_, 1) | Op::Zero(1) => true,
        _ => false,
    };
    if simple {
        s[p] = val(count, 1);
    } else {
        let last = first + op.span() - 1;
        let mut seq = Vec::with_capacity(5);
        match op {
            Op::Val(current, _) => {
                if index != first {
                    seq.push(val(current, index - first));
                }
                seq.push(val(count, 1));
                if index != last {
                    seq.push(val(current, last - index));
                }
            }
            Op::Zero(_) | Op::XZero(_) => {
                if index != first {
                    zeros(&mut seq, index - first);
                }
                seq.push(val(count, 1));
                if index != last {
                    zeros(&mut seq, last - index);
                }
            }
        }
        // Step 3: put it in place of the old opcode, unless the string would grow too long.
        let old_len = op.bytes();
        if seq.len() > old_len && s.len() + seq.len() - old_len > max_bytes {
            return Ok(SetOutcome::Promote);
        }
        if p + old_len <= s.len() {
            s.splice(p..p + old_len, seq);
        } else {
            // A corrupt XZERO cut short at the end: Redis read its second byte from the
            // string's terminator, and the new sequence's last byte lands there again.
            let new_len = s.len() + seq.len() - old_len;
            s.truncate(p);
            s.extend(seq);
            s.truncate(new_len);
        }
    }
    merge_values(s, prev.unwrap_or(HEADER_BYTES));
    Ok(SetOutcome::Updated)
}

/// Step 4: merges equal adjacent VAL opcodes among the (up to) five from `p` on.
fn merge_values(s: &mut Vec<u8>, mut p: usize) {
    let mut scans = 5;
    while p < s.len() && scans > 0 {
        scans -= 1;
        match Op::at(s, p) {
            Op::XZero(_) => p += 2,
            Op::Zero(_) => p += 1,
            Op::Val(v1, l1) => {
                if let Some(Op::Val(v2, l2)) = (p + 1 < s.len()).then(|| Op::at(s, p + 1)) {
                    if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                        s[p + 1] = val(v1, l1 + l2);
                        s.remove(p);
                        // Try the merged run against its right neighbour too.
                        continue;
                    }
                }
                p += 1;
            }
        }
    }
}

/// Calls `run(first_register, len, value)` for each opcode of the body; fails unless the
/// runs cover exactly the 16384 registers.
pub(super) fn for_each_run(
    body: &[u8],
    mut run: impl FnMut(usize, usize, u8),
) -> Result<(), Corrupt> {
    let (mut p, mut index) = (0, 0);
    while p < body.len() {
        let op = Op::at(body, p);
        let value = match op {
            Op::Val(v, _) => v,
            _ => 0,
        };
        if value > 0 && index + op.span() > REGISTERS {
            return Err(Corrupt);
        }
        run(index, op.span(), value);
        index += op.span();
        p += op.bytes();
    }
    if index == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// The dense form of a sparse HyperLogLog (same header, encoding byte 0).
pub(super) fn to_dense(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut out = vec![0u8; DENSE_BYTES];
    out[..HEADER_BYTES].copy_from_slice(&s[..HEADER_BYTES]);
    out[4] = super::DENSE;
    let regs = &mut out[HEADER_BYTES..];
    for_each_run(&s[HEADER_BYTES..], |first, len, value| {
        for i in first..first + len {
            if value > 0 {
                dense::raise(regs, i, value);
            }
        }
    })?;
    Ok(out)
}

/// PFDEBUG DECODE's text: `z:len` (ZERO), `Z:len` (XZERO), `v:value,len` (VAL), spaced.
pub(super) fn describe(body: &[u8]) -> String {
    let mut words = Vec::new();
    let mut p = 0;
    while p < body.len() {
        let op = Op::at(body, p);
        words.push(match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        });
        p += op.bytes();
    }
    words.join(" ")
}
