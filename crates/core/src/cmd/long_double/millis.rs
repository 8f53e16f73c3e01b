//! Seconds to milliseconds as Redis turns a blocking command's timeout into them:
//! `(long long) ceill(seconds * 1000.0)` in x87 extended precision, where a result outside
//! the `long long` range becomes `LLONG_MIN` (the x87 "integer indefinite"), which Redis then
//! refuses as negative.

use super::{round, Big, LongDouble};

impl LongDouble {
    /// `ceil(self * 1000)` as an i64, `i64::MIN` when it does not fit (infinities too).
    pub(crate) fn ceil_millis(self) -> i64 {
        let LongDouble::Finite {
            negative,
            mantissa,
            exponent,
        } = self
        else {
            return i64::MIN;
        };
        let mut product = Big::from_u64(mantissa);
        product.mul_add_small(1000, 0);
        match round(negative, &product, exponent, false) {
            LongDouble::Finite {
                negative,
                mantissa,
                exponent,
            } => ceil_to_i64(negative, mantissa, exponent),
            LongDouble::Infinite { .. } => i64::MIN,
        }
    }
}

/// `ceil((-1)^negative * mantissa * 2^exponent)` for a normalized (or zero) mantissa.
fn ceil_to_i64(negative: bool, mantissa: u64, exponent: i64) -> i64 {
    if mantissa == 0 {
        return 0;
    }
    if exponent >= 0 {
        // The top bit is set: at least 2^63, beyond i64 (even -2^63 comes out as i64::MIN).
        return i64::MIN;
    }
    let shift = exponent.unsigned_abs();
    let (whole, fraction) = if shift >= 64 {
        (0, true)
    } else {
        (mantissa >> shift, mantissa & ((1u64 << shift) - 1) != 0)
    };
    let whole = whole as i64; // < 2^63: at least one bit was shifted out
    match (negative, fraction) {
        // Towards zero is up for a negative value: -0.5 s is 0 ms, which Redis takes as 0.
        (true, _) => -whole,
        (false, false) => whole,
        (false, true) => whole.checked_add(1).unwrap_or(i64::MIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Option<i64> {
        LongDouble::parse(text.as_bytes()).map(LongDouble::ceil_millis)
    }

    #[test]
    fn converts_as_redis_does() {
        assert_eq!(ms("1.5"), Some(1500));
        assert_eq!(ms("0"), Some(0));
        assert_eq!(ms("-0"), Some(0));
        assert_eq!(ms("0.0001"), Some(1), "rounds up");
        assert_eq!(ms("-0.0001"), Some(0), "rounds up to zero: for ever");
        // -0.001 is a little closer to zero in x87 precision: Redis blocks for ever on it.
        assert_eq!(ms("-0.001"), Some(0));
        assert_eq!(ms("-0.002"), Some(-1));
        assert_eq!(ms("0.001"), Some(1));
        assert_eq!(ms("0.3"), Some(300));
        assert_eq!(ms("1e15"), Some(1_000_000_000_000_000_000));
        assert_eq!(ms("9e15"), Some(9_000_000_000_000_000_000));
        for beyond in ["9.3e15", "9223372036854775807", "1e500", "inf", "-inf"] {
            assert_eq!(ms(beyond), Some(i64::MIN), "{beyond}");
        }
        assert_eq!(ms("nan"), None);
        assert_eq!(ms(" 1"), None);
    }
}
