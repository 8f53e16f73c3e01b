//! SETBIT and GETBIT: one bit at a time.

use bytes::Bytes;

use super::{bit_at, bit_offset, edit_bits, line, set_bit_in};
use crate::cmd::keys::{lookup_read, propagate};
use crate::cmd::parse_i64;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// SETBIT `key offset 0|1`: the bit's old value. Only a write that changes the string (a new
/// bit value, a new or longer key) is propagated, as in Redis 7.0.
pub(super) fn setbit(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let offset = match bit_offset(&args[2], None) {
        Ok(offset) => offset,
        Err(e) => return e,
    };
    let on = match parse_i64(&args[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Reply::err("bit is not an integer or out of range"),
    };
    let edit = |bytes: &mut [u8]| {
        let old = bit_at(bytes, offset);
        set_bit_in(bytes, offset, on);
        old
    };
    let (old, grew) = match edit_bits(node, &args[1], offset, edit) {
        Ok(done) => done,
        Err(e) => return e,
    };
    if grew || old != on {
        propagate(node, line(args));
    }
    Reply::Integer(i64::from(old))
}

/// GETBIT `key offset`: 0 past the end of the string or for a missing key.
pub(super) fn getbit(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let offset = match bit_offset(&args[2], None) {
        Ok(offset) => offset,
        Err(e) => return e,
    };
    let Some(entry) = lookup_read(node, &args[1]) else {
        return Reply::Integer(0);
    };
    match entry.value.as_string() {
        Some(bytes) => Reply::Integer(i64::from(bit_at(bytes, offset))),
        None => Reply::wrong_type(),
    }
}
