//! Stream entry IDs, `<ms>-<seq>`: two unsigned 64-bit numbers ordered as one 128-bit number,
//! and the forms clients write them in (`-`, `+`, `<ms>`, `<ms>-*`).

use std::fmt;

/// One entry's ID. `0-0` is never an entry's (it means "before everything").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

/// How an ID argument reads (Redis's `streamGenericParseIDOrReply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSyntax {
    /// `-` and `+` mean the smallest and largest IDs; a missing sequence is `missing_seq`.
    Loose { missing_seq: u64 },
    /// `-` and `+` are refused.
    Strict { missing_seq: u64 },
}

impl IdSyntax {
    /// Strict, a missing sequence being 0.
    pub const STRICT: IdSyntax = IdSyntax::Strict { missing_seq: 0 };
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or `None` past the last one.
    pub fn incr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID, or `None` before `0-0`.
    pub fn decr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    /// Parses an ID argument; `None` is Redis's "Invalid stream ID" error.
    pub fn parse(arg: &[u8], syntax: IdSyntax) -> Option<StreamId> {
        Self::parse_inner(arg, syntax, false).map(|(id, _)| id)
    }

    /// XADD's ID: strict, and `<ms>-*` leaves the sequence to the stream (the flag is false
    /// then; true when the sequence was written).
    pub fn parse_for_add(arg: &[u8]) -> Option<(StreamId, bool)> {
        Self::parse_inner(arg, IdSyntax::STRICT, true)
    }

    fn parse_inner(arg: &[u8], syntax: IdSyntax, seq_star: bool) -> Option<(StreamId, bool)> {
        // Redis copies the argument into a 128-byte buffer first.
        if arg.len() > 127 {
            return None;
        }
        match (arg, syntax) {
            (b"-" | b"+", IdSyntax::Strict { .. }) => return None,
            (b"-", _) => return Some((StreamId::ZERO, true)),
            (b"+", _) => return Some((StreamId::MAX, true)),
            _ => {}
        }
        let (IdSyntax::Loose { missing_seq } | IdSyntax::Strict { missing_seq }) = syntax;
        let (ms_text, seq_text) = match arg.iter().position(|&b| b == b'-') {
            Some(at) => (&arg[..at], Some(&arg[at + 1..])),
            None => (arg, None),
        };
        let ms = parse_u64(ms_text)?;
        match seq_text {
            None => Some((StreamId::new(ms, missing_seq), true)),
            Some(b"*") if seq_star => Some((StreamId::new(ms, 0), false)),
            Some(text) => Some((StreamId::new(ms, parse_u64(text)?), true)),
        }
    }
}

/// Redis's `string2ull`: digits only (no sign, no spaces), fitting in 64 bits; `""` is not
/// a number. Leading zeros are accepted.
fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let loose = IdSyntax::Loose { missing_seq: 7 };
        assert_eq!(StreamId::parse(b"5", loose), Some(StreamId::new(5, 7)));
        assert_eq!(StreamId::parse(b"5-3", loose), Some(StreamId::new(5, 3)));
        assert_eq!(StreamId::parse(b"-", loose), Some(StreamId::ZERO));
        assert_eq!(StreamId::parse(b"+", loose), Some(StreamId::MAX));
        assert_eq!(StreamId::parse(b"+", IdSyntax::STRICT), None);
        assert_eq!(
            StreamId::parse(b"5", IdSyntax::STRICT),
            Some(StreamId::new(5, 0))
        );
        assert_eq!(StreamId::parse(b"007-01", loose), Some(StreamId::new(7, 1)));
        for bad in [
            &b""[..],
            b"a",
            b"1-",
            b"-1",
            b"1-2-3",
            b"1-*",
            b" 1",
            b"18446744073709551616",
        ] {
            assert_eq!(StreamId::parse(bad, loose), None, "{bad:?}");
        }
        assert_eq!(
            StreamId::parse_for_add(b"5-*"),
            Some((StreamId::new(5, 0), false))
        );
        assert_eq!(
            StreamId::parse_for_add(b"5"),
            Some((StreamId::new(5, 0), true))
        );
        assert_eq!(StreamId::parse_for_add(b"-"), None);
    }

    #[test]
    fn steps_across_the_sequence_boundary() {
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::ZERO.decr(), None);
        assert_eq!(StreamId::new(3, 4).to_string(), "3-4");
    }
}
