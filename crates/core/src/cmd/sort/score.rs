//! SORT's numeric weights as Redis reads them with C's `strtod`: leading spaces skipped, the
//! whole rest a decimal or hexadecimal (`0x1.8p3`) number or an infinity; NaN, overflow and
//! underflow (a non-zero number too small for a normal double) are errors; an empty text is 0.

/// The weight of `text`, or `None` where Redis reports a score that can't be converted.
pub(super) fn parse_score(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    if text.is_empty() {
        return Some(0.0);
    }
    let unsigned = text.trim_start_matches(['+', '-']);
    if unsigned.len() + 1 < text.len() {
        return None;
    }
    let negative = text.starts_with('-');
    let magnitude = if unsigned.starts_with("0x") || unsigned.starts_with("0X") {
        parse_hex(&unsigned[2..])?
    } else if unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        let value: f64 = unsigned.parse().ok()?;
        let mantissa = unsigned.split(['e', 'E']).next().unwrap_or("");
        let nonzero = mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
        if value.is_infinite() || (nonzero && (value == 0.0 || value.is_subnormal())) {
            return None;
        }
        value
    } else {
        // `inf`, `infinity` in any case (Rust's parser takes both spellings, and `nan`).
        let value: f64 = unsigned.parse().ok()?;
        if value.is_nan() {
            return None;
        }
        value
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `h.hhh[p±d]` after `0x`: hex digits with an optional fraction and a binary exponent.
fn parse_hex(text: &str) -> Option<f64> {
    let (mantissa, exponent) = match text.find(['p', 'P']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0.0;
    for c in whole.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in fraction.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let exponent: i32 = match exponent {
        Some(e) => e.parse().ok()?,
        None => 0,
    };
    let nonzero = value != 0.0;
    let value = value * 2f64.powi(exponent);
    let out_of_range = value.is_infinite() || (nonzero && (value == 0.0 || value.is_subnormal()));
    (!out_of_range).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::parse_score;

    #[test]
    fn reads_like_strtod() {
        let cases: &[(&str, Option<f64>)] = &[
            ("", Some(0.0)),
            (" 3", Some(3.0)),
            ("-2.5", Some(-2.5)),
            ("+1e3", Some(1000.0)),
            (".5", Some(0.5)),
            ("0x10", Some(16.0)),
            ("-0X1.8p1", Some(-3.0)),
            ("inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("0e-400", Some(0.0)),
            ("3 ", None),
            ("1e400", None),
            ("1e-400", None),
            ("4.9e-324", None),
            ("nan", None),
            ("0x", None),
            ("0x1p", None),
            ("--1", None),
            ("abc", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_score(text.as_bytes()), *expected, "{text:?}");
        }
    }
}
