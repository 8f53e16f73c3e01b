//! Scores and ranges as Redis reads and prints them: `strtod` with Redis's checks on top,
//! score ranges (`(1.5`, `-inf`), lex ranges (`[a`, `(a`, `-`, `+`) and `%.17g` text.

use bytes::Bytes;

use crate::db::{LexBound, ScoreBound};

/// `strtod` over the whole text: Rust's float syntax is C's decimal and `inf`/`infinity`/`nan`
/// forms (hexadecimal floats aside), and a number out of range saturates as with `strtod`.
fn strtod(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.parse::<f64>().ok()
}

/// A score or increment argument (Redis's `getDoubleFromObject`): no leading space, no
/// overflow to infinity nor underflow to zero, no NaN.
pub(crate) fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg
        .first()
        .is_none_or(|b| b.is_ascii_whitespace() || *b == 0x0b)
    {
        return None;
    }
    let value = strtod(arg)?;
    let named_infinity = arg.iter().any(|b| b.eq_ignore_ascii_case(&b'i'));
    let overflowed = value.is_infinite() && !named_infinity;
    let underflowed =
        value == 0.0 && arg.iter().any(|b| (b'1'..=b'9').contains(b)) && !mantissa_is_zero(arg);
    (!value.is_nan() && !overflowed && !underflowed).then_some(value)
}

/// Whether the digits before any exponent are all zeros (`0.000e5` is a true zero).
fn mantissa_is_zero(arg: &[u8]) -> bool {
    arg.iter()
        .take_while(|b| !b.eq_ignore_ascii_case(&b'e'))
        .all(|b| !(b'1'..=b'9').contains(b))
}

/// One end of a score range (`zslParseRange`): `(` makes it exclusive; `strtod` may skip
/// leading space and takes the empty text as 0; NaN is refused.
pub(super) fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let start = text
        .iter()
        .position(|b| !(b.is_ascii_whitespace() || *b == 0x0b))
        .unwrap_or(text.len());
    let text = &text[start..];
    let value = if text.is_empty() { 0.0 } else { strtod(text)? };
    (!value.is_nan()).then_some(ScoreBound { value, exclusive })
}

/// Both ends of a score range, or Redis's error.
pub(super) fn parse_score_range(
    min: &[u8],
    max: &[u8],
) -> Result<(ScoreBound, ScoreBound), &'static str> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err("min or max is not a float"),
    }
}

/// One end of a lex range (`zslParseLexRangeItem`).
pub(super) fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg {
        b"+" => Some(LexBound::Max),
        b"-" => Some(LexBound::Min),
        [b'[', item @ ..] => Some(LexBound::Inclusive(Box::from(item))),
        [b'(', item @ ..] => Some(LexBound::Exclusive(Box::from(item))),
        _ => None,
    }
}

/// Both ends of a lex range, or Redis's error.
pub(super) fn parse_lex_range(
    min: &[u8],
    max: &[u8],
) -> Result<(LexBound, LexBound), &'static str> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err("min or max not valid string range item"),
    }
}

/// A score as Redis 7.0 prints it in bulk strings: C's `%.17g`, `inf`, `-inf`.
pub(crate) fn score_text(score: f64) -> Bytes {
    if score.is_infinite() {
        return Bytes::from_static(if score > 0.0 { b"inf" } else { b"-inf" });
    }
    const PRECISION: i32 = 17;
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, score);
    let (mantissa, exponent) = scientific.split_once('e').expect("an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    let text = if (-4..PRECISION).contains(&exponent) {
        let fixed = format!("{:.*}", (PRECISION - 1 - exponent) as usize, score);
        trim_zeros(&fixed).to_string()
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa), exponent.abs())
    };
    Bytes::from(text)
}

/// A score as a listpack holds it (Redis's `d2string`): integral scores within ±2^62 as
/// integers, others as [`score_text`]. ZSCAN of a listpack and DUMP answer this text.
pub(crate) fn listpack_score_text(score: f64) -> Bytes {
    const HALF_RANGE: f64 = 4_611_686_018_427_387_904.0; // LLONG_MAX / 2 as a double
    if (-HALF_RANGE..=HALF_RANGE).contains(&score) && score == score.trunc() {
        return Bytes::from((score as i64).to_string());
    }
    score_text(score)
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_as_redis_reads_them() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0e10"), Some(0.0));
        for bad in ["", " 1", "1 ", "nan", "abc", "1e400", "1e-400", "1e"] {
            assert_eq!(parse_score(bad.as_bytes()), None, "{bad}");
        }
        let bound = parse_score_bound(b"(2").expect("valid");
        assert_eq!((bound.value, bound.exclusive), (2.0, true));
        assert_eq!(parse_score_bound(b"").map(|b| b.value), Some(0.0));
        assert_eq!(
            parse_score_bound(b"1e400").map(|b| b.value),
            Some(f64::INFINITY)
        );
        assert!(parse_score_bound(b"(nan").is_none());
        assert_eq!(parse_lex_bound(b"-"), Some(LexBound::Min));
        assert!(parse_lex_bound(b"a").is_none() && parse_lex_bound(b"++").is_none());
    }

    #[test]
    fn scores_print_as_percent_17g() {
        let cases = [
            (1.1, "1.1000000000000001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e20, "1e+20"),
            (2.0, "2"),
            (-0.0, "-0"),
            (1e-5, "1.0000000000000001e-05"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (score, text) in cases {
            assert_eq!(score_text(score), text);
        }
        assert_eq!(
            listpack_score_text(1.2345678901234568e17),
            "123456789012345680"
        );
        assert_eq!(listpack_score_text(-0.0), "0");
        assert_eq!(listpack_score_text(1e19), "1e+19");
        assert_eq!(listpack_score_text(0.5), "0.5");
    }
}
