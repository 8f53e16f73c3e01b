//! Small unsigned big integers: just what exact long double parsing, addition and printing
//! need (shifts, small multiplies and divides, add, subtract, compare, decimal text).

use std::cmp::Ordering;

/// Unsigned big integer, little-endian 32-bit limbs.
#[derive(Clone, Debug, Default)]
pub(super) struct Big(Vec<u32>);

impl Big {
    pub(super) fn from_u64(n: u64) -> Big {
        let mut big = Big(vec![n as u32, (n >> 32) as u32]);
        big.trim();
        big
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    pub(super) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => 32 * (self.0.len() as u64 - 1) + u64::from(32 - top.leading_zeros()),
        }
    }

    pub(super) fn bit(&self, i: u64) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|limb| limb >> (i % 32) & 1 == 1)
    }

    /// Whether any bit below `i` is set.
    pub(super) fn any_below(&self, i: u64) -> bool {
        let (whole, part) = ((i / 32) as usize, i % 32);
        self.0.iter().take(whole).any(|&l| l != 0)
            || (part > 0
                && self
                    .0
                    .get(whole)
                    .is_some_and(|l| l & ((1 << part) - 1) != 0))
    }

    pub(super) fn mul_add_small(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(mul) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    /// Divides in place; returns the remainder.
    pub(super) fn div_small(&mut self, div: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 32) | u64::from(*limb);
            *limb = (v / u64::from(div)) as u32;
            rem = v % u64::from(div);
        }
        self.trim();
        rem as u32
    }

    pub(super) fn shl(&self, bits: u64) -> Big {
        let (whole, part) = ((bits / 32) as usize, bits % 32);
        let mut out = vec![0u32; whole];
        let mut carry = 0u32;
        for &limb in &self.0 {
            out.push(if part == 0 {
                limb
            } else {
                (limb << part) | carry
            });
            carry = if part == 0 { 0 } else { limb >> (32 - part) };
        }
        out.push(carry);
        let mut big = Big(out);
        big.trim();
        big
    }

    /// The bits from `from` up (a right shift).
    pub(super) fn shr(&self, from: u64) -> Big {
        let mut out = Big::default();
        let len = self.bit_len();
        let mut i = len;
        while i > from {
            i -= 1;
            out = out.shl(1);
            if self.bit(i) {
                out.mul_add_small(1, 1);
            }
        }
        out
    }

    pub(super) fn to_u64(&self) -> u64 {
        debug_assert!(self.bit_len() <= 64, "fits in 64 bits");
        self.0
            .iter()
            .rev()
            .fold(0u64, |acc, &l| (acc << 32) | u64::from(l))
    }

    pub(super) fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    pub(super) fn add(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len().max(other.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(other.0.len()) {
            let v = u64::from(*self.0.get(i).unwrap_or(&0))
                + u64::from(*other.0.get(i).unwrap_or(&0))
                + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        out.push(carry as u32);
        let mut big = Big(out);
        big.trim();
        big
    }

    /// `self - other`, `self >= other`.
    pub(super) fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v = i64::from(self.0[i]) - i64::from(*other.0.get(i).unwrap_or(&0)) - borrow;
            borrow = i64::from(v < 0);
            if v < 0 {
                v += 1 << 32;
            }
            out.push(v as u32);
        }
        let mut big = Big(out);
        big.trim();
        big
    }

    pub(super) fn to_decimal(&self) -> String {
        let mut n = self.clone();
        let mut groups = Vec::new();
        while !n.is_zero() {
            groups.push(n.div_small(1_000_000_000));
        }
        let mut text = groups.last().map_or("0".to_string(), |g| g.to_string());
        for g in groups.iter().rev().skip(1) {
            text.push_str(&format!("{g:09}"));
        }
        text
    }
}
