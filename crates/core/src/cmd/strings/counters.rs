//! Counters: INCR, DECR, INCRBY and DECRBY on integer strings, and INCRBYFLOAT in Redis's
//! long double arithmetic (`cmd::long_double`), keeping the key's TTL.

use bytes::Bytes;

use crate::cmd::keys::{argv, expiry_now_ms, lookup_write, propagate};
use crate::cmd::long_double::LongDouble;
use crate::cmd::parse_i64;
use crate::db::{Peek, ValueRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn incr(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    add_to_integer(node, args, 1)
}

pub(super) fn decr(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    add_to_integer(node, args, -1)
}

pub(super) fn incrby(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match parse_i64(&args[2]) {
        Some(delta) => add_to_integer(node, args, delta),
        None => Reply::not_integer(),
    }
}

pub(super) fn decrby(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match parse_i64(&args[2]) {
        Some(i64::MIN) => Reply::err("decrement would overflow"),
        Some(delta) => add_to_integer(node, args, -delta),
        None => Reply::not_integer(),
    }
}

/// Adds `delta` to the integer at `args[1]` (missing = 0), keeping any TTL.
fn add_to_integer(node: &mut Node, args: &[Bytes], delta: i64) -> Reply {
    let key = &args[1];
    let now_ms = expiry_now_ms(node);
    if let Peek::Live(mut entry) = node.db.peek_mut(key, now_ms) {
        // The common case, changed in place with one lookup.
        let Some(text) = entry.value().as_string() else {
            return Reply::wrong_type();
        };
        let Some(current) = parse_i64(text) else {
            return Reply::not_integer();
        };
        let Some(new) = current.checked_add(delta) else {
            return Reply::err("increment or decrement would overflow");
        };
        entry.set_value(ValueRef::String(itoa::Buffer::new().format(new).as_bytes()));
        propagate(node, argv(args));
        return Reply::Integer(new);
    }
    let current = match lookup_write(node, key) {
        Some(entry) => match entry.value().as_string().map(parse_i64) {
            Some(Some(n)) => Some(n),
            Some(None) => return Reply::not_integer(),
            None => return Reply::wrong_type(),
        },
        None => None,
    };
    let Some(new) = current.unwrap_or(0).checked_add(delta) else {
        return Reply::err("increment or decrement would overflow");
    };
    let mut buffer = itoa::Buffer::new();
    let text = buffer.format(new).as_bytes();
    match lookup_write(node, key) {
        Some(mut entry) => entry.set_value(ValueRef::String(text)),
        None => node.db.set(key, ValueRef::String(text), None),
    }
    propagate(node, argv(args));
    Reply::Integer(new)
}

/// INCRBYFLOAT `key increment`: the sum as Redis prints it; replays as `SET key sum KEEPTTL`
/// so a replica stores the same text. Checks run in Redis's order: type, stored value,
/// increment, result.
pub(super) fn incrbyfloat(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let current = match lookup_write(node, key) {
        None => Some(b"0".to_vec()),
        Some(entry) => match entry.value().as_string() {
            Some(text) => Some(text.to_vec()),
            None => return Reply::wrong_type(),
        },
    };
    let current = current.and_then(|text| LongDouble::parse(&text));
    let (Some(current), Some(delta)) = (current, LongDouble::parse(&args[2])) else {
        return Reply::err("value is not a valid float");
    };
    let sum = current.add(delta);
    if !sum.is_finite() {
        return Reply::err("increment would produce NaN or Infinity");
    }
    let text = Bytes::from(sum.to_human());
    match lookup_write(node, key) {
        Some(mut entry) => entry.set_value(ValueRef::String(&text)),
        None => node.db.set(key, ValueRef::String(&text), None),
    }
    let replay = vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        text.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ];
    propagate(node, replay);
    Reply::Bulk(text)
}
