//! Bitmaps: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO, on the string
//! type. Bits are numbered from the most significant bit of the first byte; a string reads as
//! if padded with zero bytes forever, and a write grows it with zero bytes.
//!
//! Here: the command table, offset parsing and the read/grow helpers; the commands are in
//! `single` (SETBIT, GETBIT), `count` (BITCOUNT, BITPOS), `bitop` and `bitfield`.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::keys::lookup_write;
use crate::cmd::parse_i64;
use crate::cmd::CmdFlags as F;
use crate::db::ValueRef;
use crate::node::Node;
use crate::reply::Reply;

mod bitfield;
mod bitop;
mod count;
mod single;

use bitfield::{bitfield, bitfield_ro};
use bitop::bitop;
use count::{bitcount, bitpos};
use single::{getbit, setbit};

/// A bit offset addresses a byte below this (`proto-max-bulk-len`'s default, 512 MB).
const BITMAP_MAX_BYTES: u64 = 512 * 1024 * 1024;

const fn spec(
    name: &'static str,
    arity: i32,
    flags: F,
    acl_categories: &'static [&'static str],
    summary: &'static str,
    since: &'static str,
    handler: crate::cmd::Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories,
        group: "bitmap",
        summary,
        since,
        handler,
    }
}

pub(crate) static COMMANDS: &[CommandSpec] = &[
    spec(
        "setbit",
        4,
        F::WRITE.union(F::DENYOOM),
        &["@write", "@bitmap", "@slow"],
        "Sets or clears the bit at offset in the string value stored at key",
        "2.2.0",
        setbit,
    ),
    spec(
        "getbit",
        3,
        F::READONLY.union(F::FAST),
        &["@read", "@bitmap", "@fast"],
        "Returns the bit value at offset in the string value stored at key",
        "2.2.0",
        getbit,
    ),
    spec(
        "bitcount",
        -2,
        F::READONLY,
        &["@read", "@bitmap", "@slow"],
        "Count set bits in a string",
        "2.6.0",
        bitcount,
    ),
    spec(
        "bitpos",
        -3,
        F::READONLY,
        &["@read", "@bitmap", "@slow"],
        "Find first bit set or clear in a string",
        "2.8.7",
        bitpos,
    ),
    CommandSpec {
        name: "bitop",
        arity: -4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 2,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@write", "@bitmap", "@slow"],
        group: "bitmap",
        summary: "Perform bitwise operations between strings",
        since: "2.6.0",
        handler: bitop,
    },
    spec(
        "bitfield",
        -2,
        F::WRITE.union(F::DENYOOM),
        &["@write", "@bitmap", "@slow"],
        "Perform arbitrary bitfield integer operations on strings",
        "3.2.0",
        bitfield,
    ),
    spec(
        "bitfield_ro",
        -2,
        F::READONLY.union(F::FAST),
        &["@read", "@bitmap", "@fast"],
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        "6.0.0",
        bitfield_ro,
    ),
];

fn bad_offset() -> Reply {
    Reply::err("bit offset is not an integer or out of range")
}

/// A bit offset argument; with `width` (BITFIELD) `#n` means the n-th field of that width.
fn bit_offset(arg: &[u8], width: Option<u32>) -> Result<u64, Reply> {
    let (digits, scale) = match (arg.first(), width) {
        (Some(b'#'), Some(w)) => (&arg[1..], i64::from(w)),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(bad_offset)?;
    match u64::try_from(offset) {
        Ok(offset) if offset >> 3 < BITMAP_MAX_BYTES => Ok(offset),
        _ => Err(bad_offset()),
    }
}

/// Bit `offset` of `bytes` (0 past the end).
fn bit_at(bytes: &[u8], offset: u64) -> bool {
    usize::try_from(offset >> 3)
        .ok()
        .and_then(|byte| bytes.get(byte))
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// Sets bit `offset` of `bytes`, which is long enough.
fn set_bit_in(bytes: &mut [u8], offset: u64, on: bool) {
    let (byte, mask) = ((offset >> 3) as usize, 0x80u8 >> (offset & 7));
    if on {
        bytes[byte] |= mask;
    } else {
        bytes[byte] &= !mask;
    }
}

/// Runs `edit` in place on the string a bit write works on, first created or grown with zero
/// bytes to hold bit `max_bit`: `(edit's result, grew)`, where `grew` says the key is new or
/// longer. As in Redis the string is `raw` afterwards, changed or not. `WRONGTYPE` for
/// other types.
fn edit_bits<R>(
    node: &mut Node,
    key: &[u8],
    max_bit: u64,
    edit: impl FnOnce(&mut [u8]) -> R,
) -> Result<(R, bool), Reply> {
    let needed = (max_bit >> 3) as usize + 1;
    let grew = match lookup_write(node, key) {
        None => {
            node.db.set(key, ValueRef::String(&vec![0; needed]), None);
            true
        }
        Some(mut entry) => {
            let Some(len) = entry.value().as_string().map(<[u8]>::len) else {
                return Err(Reply::wrong_type());
            };
            if len < needed {
                entry.append(&vec![0; needed - len]);
            }
            len < needed
        }
    };
    let mut entry = node
        .db
        .get_mut(key, 0)
        .expect("the string was just written");
    entry.mark_raw_string();
    let bytes = entry.string_mut().expect("a string");
    Ok((edit(bytes), grew))
}

/// Stores a new string result (BITOP), replacing the key and its TTL; `raw` as Redis builds it.
fn store_new(node: &mut Node, key: &[u8], bytes: &[u8]) {
    node.db.set(key, ValueRef::String(bytes), None);
    if let Some(mut entry) = node.db.get_mut(key, 0) {
        entry.mark_raw_string();
    }
}

/// Arguments as an owned command line, for propagation.
fn line(args: &[Bytes]) -> Vec<Bytes> {
    args.to_vec()
}

#[cfg(test)]
mod tests;
