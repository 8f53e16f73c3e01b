//! BITCOUNT and BITPOS over a whole string or a `start end [BYTE|BIT]` range. Like Redis 7.0
//! they look the key up before reading the range: a missing key answers whatever the range.

use bytes::Bytes;

use super::bit_at;
use crate::cmd::keys::lookup_read;
use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// `BYTE` (the default) or `BIT`; anything else is a syntax error.
fn unit_is_bit(arg: Option<&Bytes>) -> Result<bool, Reply> {
    match arg {
        None => Ok(false),
        Some(a) if is(a, "bit") => Ok(true),
        Some(a) if is(a, "byte") => Ok(false),
        Some(_) => Err(Reply::syntax_error()),
    }
}

fn integer(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(Reply::not_integer)
}

/// Redis's index rules over `total` units: negatives count from the end, both ends clamped;
/// `None` for an empty range.
fn clamp(start: i64, end: i64, total: i64) -> Option<(i64, i64)> {
    let resolve = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (resolve(start), resolve(end).min(total - 1));
    (start <= end).then_some((start, end))
}

/// An inclusive unit range as an inclusive bit range.
fn to_bits((start, end): (i64, i64), bit_unit: bool) -> (u64, u64) {
    if bit_unit {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    }
}

fn count_ones(bytes: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let whole: u64 = bytes[first..=last]
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    // Take off the bits of the edge bytes that lie outside the range.
    let before = bytes[first] & !(0xffu8 >> (from & 7));
    let after = bytes[last] & (0x7fu8 >> (to & 7));
    whole - u64::from(before.count_ones()) - u64::from(after.count_ones())
}

/// BITCOUNT `key [start end [BYTE|BIT]]`.
pub(super) fn bitcount(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(entry) = lookup_read(node, &args[1]) else {
        return Reply::Integer(0);
    };
    let Some(bytes) = entry.value.as_string() else {
        return Reply::wrong_type();
    };
    let len = bytes.len() as i64;
    let range = match args.len() {
        2 => clamp(0, -1, len).map(|r| to_bits(r, false)),
        4 | 5 => {
            let parsed = integer(&args[2]).and_then(|start| {
                let end = integer(&args[3])?;
                Ok((start, end, unit_is_bit(args.get(4))?))
            });
            let (start, end, bit_unit) = match parsed {
                Ok(parsed) => parsed,
                Err(e) => return e,
            };
            let total = if bit_unit { len * 8 } else { len };
            // Two negative indexes the wrong way round are empty before any clamping.
            if start < 0 && end < 0 && start > end {
                return Reply::Integer(0);
            }
            clamp(start, end, total).map(|r| to_bits(r, bit_unit))
        }
        _ => return Reply::syntax_error(),
    };
    let count = range.map_or(0, |(from, to)| count_ones(bytes, from, to));
    Reply::Integer(count as i64)
}

/// BITPOS `key bit [start [end [BYTE|BIT]]]`: the first bit equal to `bit` in the range, or -1.
/// Looking for a 0 without an explicit end, the string counts as padded with zeros, so a
/// range of ones answers the first bit after it.
pub(super) fn bitpos(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let want = match parse_i64(&args[2]) {
        None => return Reply::not_integer(),
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return Reply::err("The bit argument must be 1 or 0."),
    };
    let Some(entry) = lookup_read(node, &args[1]) else {
        return Reply::Integer(if want { -1 } else { 0 });
    };
    let Some(bytes) = entry.value.as_string() else {
        return Reply::wrong_type();
    };
    let len = bytes.len() as i64;
    let (range, end_given) = match args.len() {
        3 => (clamp(0, -1, len).map(|r| to_bits(r, false)), false),
        4..=6 => match bitpos_range(args, len) {
            Ok(found) => found,
            Err(e) => return e,
        },
        _ => return Reply::syntax_error(),
    };
    let Some((from, to)) = range else {
        return Reply::Integer(-1);
    };
    match first_bit(bytes, from, to, want) {
        Some(pos) => Reply::Integer(pos as i64),
        None if want || end_given => Reply::Integer(-1),
        None => Reply::Integer(to as i64 + 1),
    }
}

/// The first bit equal to `want` in `from..=to`, skipping whole bytes that cannot hold it.
fn first_bit(bytes: &[u8], from: u64, to: u64, want: bool) -> Option<u64> {
    let skip = if want { 0x00 } else { 0xff };
    let mut i = from;
    while i <= to {
        if i & 7 == 0 && i + 7 <= to && bytes[(i >> 3) as usize] == skip {
            i += 8;
            continue;
        }
        if bit_at(bytes, i) == want {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// BITPOS's `start [end [unit]]`, parsed in Redis's order (start, unit, end): the bit range and
/// whether an end was given.
#[allow(clippy::type_complexity)]
fn bitpos_range(args: &[Bytes], len: i64) -> Result<(Option<(u64, u64)>, bool), Reply> {
    let start = integer(&args[3])?;
    let bit_unit = unit_is_bit(args.get(5))?;
    let total = if bit_unit { len * 8 } else { len };
    let end = match args.get(4) {
        Some(end) => integer(end)?,
        None => total - 1,
    };
    let range = clamp(start, end, total).map(|r| to_bits(r, bit_unit));
    Ok((range, args.len() >= 5))
}
