//! Listpacks and intsets, the packed blobs inside Redis 7.0's RDB encodings of small hashes,
//! sorted sets, integer sets and list nodes.
//!
//! A listpack is `[total bytes u32 LE][entry count u16 LE, 65535 = too many to say]`, the
//! entries, then `0xFF`. Each entry is an encoding byte (with any length or integer that
//! follows), the data, and a "backlen": the entry's size so far in 7-bit groups, stored so that
//! it can be read right to left. Strings that spell a canonical 64-bit integer are stored as
//! the smallest integer form, as Redis does, so our listpacks are the bytes Redis would write.
//!
//! An intset is `[element width u32 LE: 2, 4 or 8][count u32 LE][sorted integers LE]`.

use super::PayloadError;
use crate::cmd::parse_i64;

const LP_HEADER_BYTES: usize = 6;
const LP_END: u8 = 0xff;
/// The count field saturates here; readers then walk the entries.
const LP_COUNT_UNKNOWN: u16 = u16::MAX;

/// Builds one listpack entry by entry.
pub(crate) struct ListpackWriter {
    bytes: Vec<u8>,
    count: usize,
}

impl ListpackWriter {
    pub(crate) fn new() -> ListpackWriter {
        ListpackWriter {
            bytes: vec![0; LP_HEADER_BYTES],
            count: 0,
        }
    }

    /// Size of the finished listpack so far (the end byte included).
    pub(crate) fn len_bytes(&self) -> usize {
        self.bytes.len() + 1
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    pub(crate) fn push(&mut self, item: &[u8]) {
        let start = self.bytes.len();
        encode_entry(item, &mut self.bytes);
        let entry_len = self.bytes.len() - start;
        push_backlen(entry_len, &mut self.bytes);
        self.count += 1;
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        self.bytes.push(LP_END);
        let total = u32::try_from(self.bytes.len()).expect("listpacks stay below 4 GB");
        self.bytes[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(LP_COUNT_UNKNOWN);
        self.bytes[4..6].copy_from_slice(&count.to_le_bytes());
        self.bytes
    }
}

/// Bytes one element takes in a listpack (its encoding, data and backlen), as Redis's
/// `lpBytes` grows by it; streams size their nodes with it.
pub(crate) fn entry_bytes(item: &[u8]) -> usize {
    let mut encoded = Vec::new();
    encode_entry(item, &mut encoded);
    encoded.len() + backlen_size(encoded.len())
}

/// [`entry_bytes`] of an integer element.
pub(crate) fn integer_bytes(n: i64) -> usize {
    let mut encoded = Vec::new();
    encode_integer(n, &mut encoded);
    encoded.len() + backlen_size(encoded.len())
}

/// An empty listpack's header and end byte.
pub(crate) const LP_EMPTY_BYTES: usize = LP_HEADER_BYTES + 1;

/// Encoding byte(s) and data of one entry: the smallest integer form for a canonical integer,
/// else a string with a 6-, 12- or 32-bit length.
fn encode_entry(item: &[u8], out: &mut Vec<u8>) {
    if let Some(n) = parse_i64(item).filter(|_| item.len() <= 20) {
        encode_integer(n, out);
        return;
    }
    let len = item.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.push(0xe0 | (len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(0xf0);
        let len = u32::try_from(len).expect("elements stay below 4 GB");
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(item);
}

fn encode_integer(n: i64, out: &mut Vec<u8>) {
    if (0..=127).contains(&n) {
        out.push(n as u8);
    } else if (-4096..=4095).contains(&n) {
        let v = (n as u64) & 0x1fff;
        out.push(0xc0 | (v >> 8) as u8);
        out.push(v as u8);
    } else if let Ok(v) = i16::try_from(n) {
        out.push(0xf1);
        out.extend_from_slice(&v.to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&n) {
        out.push(0xf2);
        out.extend_from_slice(&n.to_le_bytes()[..3]);
    } else if let Ok(v) = i32::try_from(n) {
        out.push(0xf3);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(0xf4);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// The entry size in 7-bit groups, most significant first; every byte but the first (the
/// leftmost) has its top bit set, so a reader going right to left knows when to stop.
fn push_backlen(entry_len: usize, out: &mut Vec<u8>) {
    let mut groups = vec![(entry_len & 0x7f) as u8];
    let mut rest = entry_len >> 7;
    while rest > 0 {
        groups.push((rest & 0x7f) as u8);
        rest >>= 7;
    }
    let last = groups.len() - 1;
    for (i, group) in groups.iter().enumerate().rev() {
        out.push(if i == last { *group } else { group | 0x80 });
    }
}

fn backlen_size(entry_len: usize) -> usize {
    match entry_len {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        2097152..=268435455 => 4,
        _ => 5,
    }
}

/// The entries of a listpack, integers spelled in decimal. Any inconsistency (sizes, an
/// unknown encoding, a missing end byte) is `BadFormat`.
pub(super) fn decode_listpack(lp: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let bad = PayloadError::BadFormat;
    if lp.len() < LP_HEADER_BYTES + 1 {
        return Err(bad);
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    let count = u16::from_le_bytes([lp[4], lp[5]]);
    if total != lp.len() || lp[total - 1] != LP_END {
        return Err(bad);
    }
    let mut items = Vec::new();
    let mut at = LP_HEADER_BYTES;
    while lp[at] != LP_END {
        let (item, entry_len) = decode_entry(&lp[at..total - 1]).ok_or(bad)?;
        items.push(item);
        at += entry_len + backlen_size(entry_len);
        if at >= total {
            return Err(bad);
        }
    }
    if at != total - 1 || (count != LP_COUNT_UNKNOWN && usize::from(count) != items.len()) {
        return Err(bad);
    }
    Ok(items)
}

/// One entry's value and the size of its encoding and data (backlen excluded).
fn decode_entry(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let b = *data.first()?;
    let int = |n: i64, len: usize| Some((n.to_string().into_bytes(), len));
    let string = |start: usize, len: usize| {
        let item = data.get(start..start.checked_add(len)?)?;
        Some((item.to_vec(), start + len))
    };
    let le = |n: usize| -> Option<[u8; 8]> {
        let bytes = data.get(1..1 + n)?;
        let mut out = [0u8; 8];
        out[..n].copy_from_slice(bytes);
        // Sign-extend from the top bit of the last byte read.
        if bytes[n - 1] & 0x80 != 0 {
            out[n..].fill(0xff);
        }
        Some(out)
    };
    match b {
        0x00..=0x7f => int(i64::from(b), 1),
        0x80..=0xbf => string(1, usize::from(b & 0x3f)),
        0xc0..=0xdf => {
            let v = (i64::from(b & 0x1f) << 8) | i64::from(*data.get(1)?);
            int(if v >= 1 << 12 { v - (1 << 13) } else { v }, 2)
        }
        0xe0..=0xef => string(2, (usize::from(b & 0x0f) << 8) | usize::from(*data.get(1)?)),
        0xf0 => {
            let len = u32::from_le_bytes(data.get(1..5)?.try_into().ok()?);
            string(5, usize::try_from(len).ok()?)
        }
        0xf1 => int(i64::from_le_bytes(le(2)?), 3),
        0xf2 => int(i64::from_le_bytes(le(3)?), 4),
        0xf3 => int(i64::from_le_bytes(le(4)?), 5),
        0xf4 => int(i64::from_le_bytes(le(8)?), 9),
        _ => None,
    }
}

/// An intset of `values` (sorted, distinct), in the narrowest width that holds them all.
pub(super) fn encode_intset(values: &[i64]) -> Vec<u8> {
    debug_assert!(values.windows(2).all(|w| w[0] < w[1]), "intsets are sorted");
    let fits = |bits: u32| {
        values
            .iter()
            .all(|&v| v >= -(1i64 << (bits - 1)) && v < (1i64 << (bits - 1)))
    };
    let width: usize = if fits(16) {
        2
    } else if fits(32) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The integers of an intset blob, as decimal strings.
pub(super) fn decode_intset(blob: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let bad = PayloadError::BadFormat;
    let header = blob.get(..8).ok_or(bad)?;
    let width = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let count = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width * count {
        return Err(bad);
    }
    let values = blob[8..].chunks(width).map(|chunk| {
        let n = match width {
            2 => i64::from(i16::from_le_bytes(chunk.try_into().expect("2 bytes"))),
            4 => i64::from(i32::from_le_bytes(chunk.try_into().expect("4 bytes"))),
            _ => i64::from_le_bytes(chunk.try_into().expect("8 bytes")),
        };
        n.to_string().into_bytes()
    });
    Ok(values.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(items: &[&[u8]]) -> Vec<u8> {
        let mut w = ListpackWriter::new();
        for item in items {
            w.push(item);
        }
        let lp = w.finish();
        let back = decode_listpack(&lp).expect("decodes");
        assert_eq!(back, items.iter().map(|i| i.to_vec()).collect::<Vec<_>>());
        lp
    }

    #[test]
    fn integers_take_the_smallest_form() {
        let lp = round_trip(&[b"0", b"127", b"128", b"-1", b"-4096", b"4095"]);
        // 7-bit uints: 2 bytes each; 13-bit ints: 3 bytes each.
        assert_eq!(lp.len(), 6 + 2 * 2 + 4 * 3 + 1);
        round_trip(&[
            b"32767",
            b"-32769",
            b"8388607",
            b"-2147483648",
            b"9223372036854775807",
        ]);
        round_trip(&[b"-9223372036854775808", b"01", b"+1", b"-0", b" 1"]);
    }

    #[test]
    fn strings_of_every_length_class() {
        let long = vec![b'x'; 5000];
        let medium = vec![b'y'; 200];
        round_trip(&[b"", b"a", &medium, &long]);
        let mut w = ListpackWriter::new();
        w.push(&medium);
        // 2 length bytes + 200 data bytes, then a 2-byte backlen (202 > 127).
        assert_eq!(w.len_bytes(), 6 + 202 + 2 + 1);
    }

    #[test]
    fn backlen_reads_right_to_left() {
        let mut out = Vec::new();
        push_backlen(202, &mut out);
        assert_eq!(out, [1, 0x80 | 74]);
        out.clear();
        push_backlen(5, &mut out);
        assert_eq!(out, [5]);
    }

    #[test]
    fn corrupt_listpacks_are_refused() {
        let lp = round_trip(&[b"a", b"b"]);
        let mut short = lp.clone();
        short.pop();
        assert!(decode_listpack(&short).is_err());
        let mut wrong_count = lp.clone();
        wrong_count[4] = 3;
        assert!(decode_listpack(&wrong_count).is_err());
        let mut bad_encoding = lp;
        bad_encoding[6] = 0xf5;
        assert!(decode_listpack(&bad_encoding).is_err());
    }

    #[test]
    fn intsets_pick_their_width() {
        assert_eq!(encode_intset(&[1, 2]), [2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0]);
        assert_eq!(encode_intset(&[-1, 70000])[0], 4);
        assert_eq!(encode_intset(&[1 << 40])[0], 8);
        let back = decode_intset(&encode_intset(&[-5, 7, 1 << 40])).unwrap();
        assert_eq!(
            back,
            [b"-5".to_vec(), b"7".to_vec(), b"1099511627776".to_vec()]
        );
        assert!(decode_intset(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0]).is_err());
    }
}
