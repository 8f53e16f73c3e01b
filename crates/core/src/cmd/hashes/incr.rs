//! Counters in hash fields: HINCRBY and HINCRBYFLOAT.
//!
//! Redis adds HINCRBYFLOAT increments in 80-bit long doubles and prints the sum with 17
//! decimals, trailing zeros trimmed. We add in f64 and print at most 15 significant digits
//! (capped at 17 decimals), which gives Redis's text whenever the exact sum needs no more than
//! 15 significant digits and the long double lands on it (`10.1`, `0.3`, `5000`). It does not
//! always: `5010.1 + 2.5e-3` prints `5010.00249999999999995` in Redis and `5010.0025` here.
//! Magnitudes beyond f64 (`1e400`) are refused here. Hexadecimal increments (which `strtold`
//! takes) are refused. Exact parity needs 80-bit arithmetic and printing: a follow-up.

use bytes::Bytes;

use super::{hash_for_write, write_hash};
use crate::cmd::keys::{argv, propagate};
use crate::cmd::parse_i64;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Significant digits we trust in an f64 sum.
const FLOAT_SIGNIFICANT_DIGITS: i32 = 15;
/// Redis prints long doubles with this many decimals (`%.17Lf`).
const FLOAT_MAX_DECIMALS: i32 = 17;

pub(super) fn hincrby(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(delta) = parse_i64(&args[3]) else {
        return Reply::not_integer();
    };
    let (key, field) = (&args[1], &args[2]);
    let current = match current_value(node, key, field) {
        Ok(current) => current,
        Err(e) => return e,
    };
    let current = match current.as_deref().map(parse_i64) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return Reply::err("hash value is not an integer"),
    };
    let Some(new) = current.checked_add(delta) else {
        return Reply::err("increment or decrement would overflow");
    };
    let hash = hash_for_write(node, key).expect("the type was checked");
    hash.insert(field, itoa::Buffer::new().format(new).as_bytes());
    propagate(node, argv(args));
    Reply::Integer(new)
}

pub(super) fn hincrbyfloat(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(delta) = parse_float(&args[3]) else {
        return Reply::err("value is not a valid float");
    };
    if !delta.is_finite() {
        return Reply::err("value is NaN or Infinity");
    }
    let (key, field) = (&args[1], &args[2]);
    let current = match current_value(node, key, field) {
        Ok(current) => current,
        Err(e) => return e,
    };
    let current = match current.as_deref().map(parse_float) {
        None => 0.0,
        Some(Some(n)) if n.is_finite() => n,
        Some(_) => return Reply::err("hash value is not a float"),
    };
    let sum = current + delta;
    if !sum.is_finite() {
        return Reply::err("increment would produce NaN or Infinity");
    }
    let text = Bytes::from(format_float(sum));
    let hash = hash_for_write(node, key).expect("the type was checked");
    hash.insert(field, &text);
    let replay = vec![
        Bytes::from_static(b"HSET"),
        key.clone(),
        field.clone(),
        text.clone(),
    ];
    propagate(node, replay);
    Reply::Bulk(text)
}

/// The field's current value (`None` when the key or field is missing), or `WRONGTYPE`.
fn current_value(node: &mut Node, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    Ok(write_hash(node, key)?
        .and_then(|h| h.get(field))
        .map(<[u8]>::to_vec))
}

/// A float as Redis's `strtold` check accepts it: no leading space, the whole text used.
fn parse_float(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("nan") {
        return None;
    }
    text.parse().ok()
}

/// The sum as Redis prints it: fixed notation, trailing zeros and point trimmed, no `-0`.
pub(crate) fn format_float(value: f64) -> String {
    debug_assert!(value.is_finite(), "callers refuse NaN and infinities");
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (FLOAT_SIGNIFICANT_DIGITS - 1 - magnitude).clamp(0, FLOAT_MAX_DECIMALS);
    let mut text = format!("{:.*}", decimals as usize, value);
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_redis_long_doubles_when_short() {
        let cases = [
            (10.0 + 0.1, "10.1"),
            (0.1 + 0.2, "0.3"),
            (5000.0, "5000"),
            (1.5 + 1.1, "2.6"),
            (-2.5, "-2.5"),
            (1e20, "100000000000000000000"),
            (16.0 + 1e-20, "16"),
            (1e-5, "0.00001"),
            (-1e-30, "0"),
        ];
        for (value, text) in cases {
            assert_eq!(format_float(value), text, "{value}");
        }
    }

    #[test]
    fn float_arguments_are_strict() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [&b""[..], b" 1", b"1 ", b"x", b"nan", b"1.5.5"] {
            assert_eq!(parse_float(bad), None, "{bad:?}");
        }
    }
}
