//! Redis's `long double` arithmetic, emulated: x87 80-bit extended precision (a 64-bit
//! mantissa), as HINCRBYFLOAT (and INCRBYFLOAT) compute on x86-64.
//!
//! Redis parses both operands with `strtold`, adds them, and prints the sum with `%.17Lf`,
//! trailing zeros trimmed. The text is the reply and what is stored, so any difference in
//! rounding shows: `5010.1 + 0.0025` is `5010.00249999999999995` there, not `5010.0025`. We
//! reproduce the three steps exactly with round-half-even at 64 bits, using small unsigned
//! big integers for the exact intermediate values. Not covered: hexadecimal input (which
//! `strtold` accepts), and the reduced precision of subnormals (below about 3.4e-4932).

use std::cmp::Ordering;

mod big;
mod millis;

use big::Big;

/// Redis refuses longer float arguments (`MAX_LONG_DOUBLE_CHARS`).
const MAX_TEXT_LEN: usize = 5 * 1024;
/// Decimals `%.17Lf` prints.
const DECIMALS: u32 = 17;
/// Exponent range of normal x87 extended values, for `mantissa * 2^exponent` with a
/// 64-bit normalized mantissa.
const EXPONENT_MAX: i64 = 16383 - 63;
const EXPONENT_MIN: i64 = -16382 - 63;

/// A finite value `(-1)^negative * mantissa * 2^exponent`, the mantissa normalized (top bit
/// set) unless the value is zero; or an infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LongDouble {
    Finite {
        negative: bool,
        mantissa: u64,
        exponent: i64,
    },
    Infinite {
        negative: bool,
    },
}

/// `n * 2^exponent` rounded half-to-even to a 64-bit mantissa (`sticky`: nonzero bits were
/// already dropped below `n`).
fn round(negative: bool, n: &Big, exponent: i64, sticky: bool) -> LongDouble {
    if n.is_zero() {
        return LongDouble::Finite {
            negative,
            mantissa: 0,
            exponent: 0,
        };
    }
    let len = n.bit_len();
    let (mut mantissa, mut exponent) = if len <= 64 {
        (n.to_u64() << (64 - len), exponent - (64 - len) as i64)
    } else {
        let drop = len - 64;
        let mut top = n.shr(drop).to_u64();
        let half = n.bit(drop - 1);
        let rest = sticky || n.any_below(drop - 1);
        let mut exp = exponent + drop as i64;
        if half && (rest || top & 1 == 1) {
            top = top.wrapping_add(1);
            if top == 0 {
                top = 1 << 63;
                exp += 1;
            }
        }
        (top, exp)
    };
    if exponent > EXPONENT_MAX {
        return LongDouble::Infinite { negative };
    }
    // Below the normal range a subnormal keeps fewer bits than this; we keep 64 (a value
    // that small prints as 0 either way). Below the smallest subnormal it is 0.
    if exponent < EXPONENT_MIN - 63 {
        (mantissa, exponent) = (0, 0);
    }
    LongDouble::Finite {
        negative,
        mantissa,
        exponent,
    }
}

impl LongDouble {
    pub(crate) fn is_finite(self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }

    /// `strtold` as Redis's `string2ld` takes it: decimal text (digits, a point, an
    /// exponent) or `inf`/`infinity`, nothing before or after; out of range or NaN is `None`.
    pub(crate) fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_TEXT_LEN {
            return None;
        }
        let text = std::str::from_utf8(text).ok()?;
        let (negative, body) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
            return Some(LongDouble::Infinite { negative });
        }
        let (number, exp10) = parse_decimal(body)?;
        if number.is_zero() {
            return Some(LongDouble::Finite {
                negative,
                mantissa: 0,
                exponent: 0,
            });
        }
        let value = from_decimal(negative, &number, exp10)?;
        // strtold reports ERANGE for overflow and for underflow to zero; Redis refuses both.
        match value {
            LongDouble::Finite { mantissa: 0, .. } | LongDouble::Infinite { .. } => None,
            value => Some(value),
        }
    }

    /// The exact sum, rounded once.
    pub(crate) fn add(self, other: LongDouble) -> LongDouble {
        let (
            LongDouble::Finite {
                negative: na,
                mantissa: ma,
                exponent: ea,
            },
            LongDouble::Finite {
                negative: nb,
                mantissa: mb,
                exponent: eb,
            },
        ) = (self, other)
        else {
            return if self.is_finite() { other } else { self };
        };
        if mb == 0 {
            return if ma == 0 {
                LongDouble::Finite {
                    negative: na && nb,
                    mantissa: 0,
                    exponent: 0,
                }
            } else {
                self
            };
        }
        if ma == 0 {
            return other;
        }
        // A term more than 130 bits below the other cannot reach its rounding.
        if ea - eb > 130 {
            return self;
        }
        if eb - ea > 130 {
            return other;
        }
        let low = ea.min(eb);
        let a = Big::from_u64(ma).shl((ea - low) as u64);
        let b = Big::from_u64(mb).shl((eb - low) as u64);
        if na == nb {
            return round(na, &a.add(&b), low, false);
        }
        match a.cmp(&b) {
            Ordering::Equal => LongDouble::Finite {
                negative: false,
                mantissa: 0,
                exponent: 0,
            },
            Ordering::Greater => round(na, &a.sub(&b), low, false),
            Ordering::Less => round(nb, &b.sub(&a), low, false),
        }
    }

    /// `%.17Lf` with trailing zeros (and a bare point) trimmed and `-0` as `0`: Redis's
    /// `ld2string(…, LD_STR_HUMAN)`.
    pub(crate) fn to_human(self) -> String {
        let (negative, mantissa, exponent) = match self {
            LongDouble::Infinite { negative } => {
                return if negative { "-inf" } else { "inf" }.into()
            }
            LongDouble::Finite {
                negative,
                mantissa,
                exponent,
            } => (negative, mantissa, exponent),
        };
        let mut scaled = Big::from_u64(mantissa);
        for _ in 0..DECIMALS {
            scaled.mul_add_small(10, 0);
        }
        let fixed = if exponent >= 0 {
            scaled.shl(exponent as u64)
        } else {
            let drop = exponent.unsigned_abs();
            let mut q = scaled.shr(drop);
            let half = drop > 0 && scaled.bit(drop - 1);
            if half && (scaled.any_below(drop - 1) || q.bit(0)) {
                q.mul_add_small(1, 1);
            }
            q
        };
        let digits = format!("{:0>18}", fixed.to_decimal());
        let (whole, fraction) = digits.split_at(digits.len() - DECIMALS as usize);
        let fraction = fraction.trim_end_matches('0');
        let mut text = String::from(if negative { "-" } else { "" });
        text.push_str(whole);
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        if text == "-0" {
            text = "0".into();
        }
        text
    }
}

/// Digits and the power of ten they are scaled by: `12.5e3` is (125, 2).
fn parse_decimal(body: &str) -> Option<(Big, i64)> {
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits_ok(whole) || !digits_ok(fraction) {
        return None;
    }
    let mut exp10: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits_ok(digits) {
                return None;
            }
            // Past this the value is out of range either way.
            let magnitude: i64 = digits.parse().unwrap_or(1_000_000).min(1_000_000);
            if e.starts_with('-') {
                -magnitude
            } else {
                magnitude
            }
        }
    };
    let mut number = Big::default();
    for b in whole.bytes().chain(fraction.bytes()) {
        number.mul_add_small(10, u32::from(b - b'0'));
    }
    exp10 -= fraction.len() as i64;
    Some((number, exp10))
}

/// `number * 10^exp10` rounded to a long double; `None` when far out of range.
fn from_decimal(negative: bool, number: &Big, exp10: i64) -> Option<LongDouble> {
    if exp10 >= 0 {
        if exp10 > 6000 {
            return Some(LongDouble::Infinite { negative });
        }
        let mut n = number.clone();
        for _ in 0..exp10 {
            n.mul_add_small(10, 0);
        }
        return Some(round(negative, &n, 0, false));
    }
    let k = exp10.unsigned_abs();
    if k > 6000 + number.bit_len() / 3 {
        return Some(LongDouble::Finite {
            negative,
            mantissa: 0,
            exponent: 0,
        });
    }
    // Enough bits that the quotient has more than 66 of them (log2(10) < 4 per digit).
    let shift = (70 + 4 * k).saturating_sub(number.bit_len());
    let mut q = number.shl(shift);
    let mut sticky = false;
    for _ in 0..k {
        sticky |= q.div_small(10) != 0;
    }
    Some(round(negative, &q, -(shift as i64), sticky))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        let a = LongDouble::parse(a.as_bytes()).expect("a");
        let b = LongDouble::parse(b.as_bytes()).expect("b");
        a.add(b).to_human()
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        // Each expected text is what redis-server 7.0.15 answered to HINCRBYFLOAT.
        let cases = [
            ("10", "0.1", "10.1"),
            ("10.1", "-0.1", "10"),
            ("10", "5.0e3", "5010"),
            ("5010.1", "2.5e-3", "5010.10250000000000004"),
            ("5010", "2.5e-3", "5010.00249999999999995"),
            ("1.5", "1.1", "2.6"),
            ("0", "1e-20", "0"),
            ("3", "-3", "0"),
            ("-0.5", "0", "-0.5"),
            ("0.1", "0.2", "0.3"),
            (
                "123456789.123456789",
                "0.000000001",
                "123456789.12345678999554366",
            ),
            ("0", "-0.0000000000000000001", "0"),
            ("0", "1e-4940", "0"),
            ("0", "12345678901234567890123", "12345678901234567889920"),
            (
                "0",
                "3.14159265358979323846264338327950288",
                "3.14159265358979324",
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(sum(a, b), expected, "{a} + {b}");
        }
    }

    #[test]
    fn parsing_is_strict_and_range_checked() {
        let bad_texts = [
            "", " 1", "1 ", "x", "nan", "1e", "1.2.3", "--1", "1e99999", "1e-5000", ".",
        ];
        for bad in bad_texts {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert!(!LongDouble::parse(b"-inf").unwrap().is_finite());
        assert_eq!(LongDouble::parse(b".5").unwrap().to_human(), "0.5");
        assert_eq!(LongDouble::parse(b"5.").unwrap().to_human(), "5");
        assert_eq!(
            LongDouble::parse(b"1e20").unwrap().to_human(),
            "100000000000000000000"
        );
        let huge = LongDouble::parse(b"1e4000").unwrap();
        assert!(huge.add(huge).is_finite(), "long doubles reach 1.1e4932");
        assert!(!LongDouble::parse(b"1e4932")
            .unwrap()
            .add(LongDouble::parse(b"1e4932").unwrap())
            .is_finite());
    }
}
