//! Ziplists, the packed blobs of Redis 6 and older (and of RDB files they wrote), read so that
//! RESTORE takes a small list, hash or sorted set MIGRATEd from an older node, as Redis 7.0
//! does. We never write them.
//!
//! A ziplist is `[total bytes u32 LE][offset of the last entry u32 LE][count u16 LE]`, the
//! entries, then `0xFF`. An entry is the previous entry's length (1 byte, or `0xFE` and 4 bytes
//! LE), an encoding, and the data: strings with a 6-, 14- (big-endian) or 32-bit (big-endian)
//! length, integers of 8, 16, 24, 32 or 64 bits (LE), or 0..12 in the encoding byte itself.

use super::PayloadError;

const ZL_HEADER_BYTES: usize = 10;
const ZL_END: u8 = 0xff;
/// A previous-length byte at or above this is followed by a 4-byte length.
const ZL_BIG_PREVLEN: u8 = 0xfe;

/// The entries of a ziplist, integers spelled in decimal; any inconsistency is `BadFormat`.
pub(super) fn decode_ziplist(zl: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let bad = PayloadError::BadFormat;
    if zl.len() < ZL_HEADER_BYTES + 1 {
        return Err(bad);
    }
    let total = u32::from_le_bytes(zl[..4].try_into().expect("4 bytes")) as usize;
    let count = u16::from_le_bytes([zl[8], zl[9]]);
    if total != zl.len() || zl[total - 1] != ZL_END {
        return Err(bad);
    }
    let mut items = Vec::new();
    let mut at = ZL_HEADER_BYTES;
    while zl[at] != ZL_END {
        at += if zl[at] >= ZL_BIG_PREVLEN { 5 } else { 1 };
        let (item, len) = decode_entry(zl.get(at..total - 1).ok_or(bad)?).ok_or(bad)?;
        items.push(item);
        at += len;
        if at >= total {
            return Err(bad);
        }
    }
    if count != u16::MAX && usize::from(count) != items.len() {
        return Err(bad);
    }
    Ok(items)
}

/// One entry's value and the size of its encoding and data.
fn decode_entry(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let b = *data.first()?;
    let string = |start: usize, len: usize| {
        let item = data.get(start..start.checked_add(len)?)?;
        Some((item.to_vec(), start + len))
    };
    let int = |width: usize| -> Option<(Vec<u8>, usize)> {
        let bytes = data.get(1..1 + width)?;
        let mut raw = [0u8; 8];
        raw[..width].copy_from_slice(bytes);
        if bytes[width - 1] & 0x80 != 0 {
            raw[width..].fill(0xff);
        }
        Some((i64::from_le_bytes(raw).to_string().into_bytes(), 1 + width))
    };
    match b >> 6 {
        0 => string(1, usize::from(b & 0x3f)),
        1 => string(2, (usize::from(b & 0x3f) << 8) | usize::from(*data.get(1)?)),
        2 if b == 0x80 => {
            let len = u32::from_be_bytes(data.get(1..5)?.try_into().ok()?);
            string(5, usize::try_from(len).ok()?)
        }
        _ => match b {
            0xc0 => int(2),
            0xd0 => int(4),
            0xe0 => int(8),
            0xf0 => int(3),
            0xfe => int(1),
            0xf1..=0xfd => Some((i64::from((b & 0x0f) - 1).to_string().into_bytes(), 1)),
            _ => None,
        },
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A ziplist of `items`, encoded as Redis 6 would (for tests; we never write them).
    pub(crate) fn encode(items: &[&[u8]]) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut prev_len = 0usize;
        let mut last = ZL_HEADER_BYTES;
        for item in items {
            last = ZL_HEADER_BYTES + entries.len();
            let mut entry = Vec::new();
            if prev_len < 254 {
                entry.push(prev_len as u8);
            } else {
                entry.push(ZL_BIG_PREVLEN);
                entry.extend_from_slice(&(prev_len as u32).to_le_bytes());
            }
            match std::str::from_utf8(item)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
            {
                Some(n) if (0..=12).contains(&n) => entry.push(0xf1 + n as u8),
                Some(n) if i8::try_from(n).is_ok() => entry.extend([0xfe, n as u8]),
                Some(n) if i16::try_from(n).is_ok() => {
                    entry.push(0xc0);
                    entry.extend_from_slice(&(n as i16).to_le_bytes());
                }
                Some(n) if (-(1 << 23)..(1 << 23)).contains(&n) => {
                    entry.push(0xf0);
                    entry.extend_from_slice(&n.to_le_bytes()[..3]);
                }
                Some(n) if i32::try_from(n).is_ok() => {
                    entry.push(0xd0);
                    entry.extend_from_slice(&(n as i32).to_le_bytes());
                }
                Some(n) => {
                    entry.push(0xe0);
                    entry.extend_from_slice(&n.to_le_bytes());
                }
                None if item.len() < 64 => {
                    entry.push(item.len() as u8);
                    entry.extend_from_slice(item);
                }
                None if item.len() < 16384 => {
                    entry.extend([0x40 | (item.len() >> 8) as u8, item.len() as u8]);
                    entry.extend_from_slice(item);
                }
                None => {
                    entry.push(0x80);
                    entry.extend_from_slice(&(item.len() as u32).to_be_bytes());
                    entry.extend_from_slice(item);
                }
            }
            prev_len = entry.len();
            entries.extend(entry);
        }
        let total = ZL_HEADER_BYTES + entries.len() + 1;
        let mut zl = Vec::with_capacity(total);
        zl.extend_from_slice(&(total as u32).to_le_bytes());
        zl.extend_from_slice(&(last as u32).to_le_bytes());
        zl.extend_from_slice(&(items.len() as u16).to_le_bytes());
        zl.extend(entries);
        zl.push(ZL_END);
        zl
    }

    #[test]
    fn every_entry_encoding_reads_back() {
        let long = vec![b'x'; 300];
        let huge = vec![b'y'; 20_000];
        let items: Vec<&[u8]> = vec![
            b"",
            b"a",
            &long,
            &huge,
            b"0",
            b"12",
            b"13",
            b"-1",
            b"-200",
            b"30000",
            b"-8000000",
            b"2000000000",
            b"-9223372036854775808",
        ];
        let zl = encode(&items);
        let back = decode_ziplist(&zl).expect("decodes");
        assert_eq!(back, items.iter().map(|i| i.to_vec()).collect::<Vec<_>>());
        let mut cut = zl.clone();
        cut.pop();
        assert!(decode_ziplist(&cut).is_err());
        let mut miscounted = zl;
        miscounted[8] = 1;
        assert!(decode_ziplist(&miscounted).is_err());
    }
}
