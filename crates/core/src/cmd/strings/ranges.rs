//! APPEND and byte ranges: GETRANGE and SETRANGE.

use bytes::Bytes;

use super::{string_value, too_long, STRING_MAX_BYTES};
use crate::cmd::keys::{argv, lookup_read, lookup_write, propagate};
use crate::cmd::parse_i64;
use crate::db::ValueRef;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn append(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (key, suffix) = (&args[1], &args[2]);
    let new_len = match lookup_write(node, key) {
        None => {
            node.db.set(key, ValueRef::String(suffix), None);
            suffix.len()
        }
        Some(mut entry) => {
            let Some(current) = entry.value().as_string() else {
                return Reply::wrong_type();
            };
            let total = current.len() + suffix.len();
            if total > STRING_MAX_BYTES {
                return too_long();
            }
            entry.append(suffix)
        }
    };
    propagate(node, argv(args));
    Reply::Integer(i64::try_from(new_len).unwrap_or(i64::MAX))
}

/// GETRANGE `key start end`, both inclusive, negative counting from the end, clamped.
pub(super) fn getrange(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return Reply::not_integer();
    };
    let Some(entry) = lookup_read(node, &args[1]) else {
        return Reply::Bulk(Bytes::new());
    };
    let value = match string_value(&entry) {
        Ok(value) => value,
        Err(wrong_type) => return wrong_type,
    };
    match substring_bounds(value.len(), start, end) {
        Some((from, to)) => Reply::Bulk(Bytes::copy_from_slice(&value[from..=to])),
        None => Reply::Bulk(Bytes::new()),
    }
}

/// Inclusive byte bounds of GETRANGE over a string of `len` bytes, or `None` when empty.
fn substring_bounds(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return None;
    }
    let len_i = i64::try_from(len).ok()?;
    let resolve = |i: i64| if i < 0 { (len_i + i).max(0) } else { i };
    let (start, end) = (resolve(start), resolve(end).min(len_i - 1));
    if start > end {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// SETRANGE `key offset value`: overwrites from `offset`, zero-padding a gap; returns the new
/// length. An empty value changes nothing (and creates no key).
pub(super) fn setrange(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(offset) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    let Ok(offset) = usize::try_from(offset) else {
        return Reply::err("offset is out of range");
    };
    let (key, patch) = (&args[1], &args[3]);
    let current = match lookup_write(node, key).map(|e| e.value().as_string().map(<[u8]>::to_vec)) {
        None => None,
        Some(Some(current)) => Some(current),
        Some(None) => return Reply::wrong_type(),
    };
    if patch.is_empty() {
        let len = current.map_or(0, |v| v.len());
        return Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX));
    }
    let end = offset.saturating_add(patch.len());
    if end > STRING_MAX_BYTES {
        return too_long();
    }
    let mut buf = current.unwrap_or_default();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset..end].copy_from_slice(patch);
    let new_len = buf.len();
    if lookup_write(node, key).is_none() {
        node.db.set(key, ValueRef::String(&buf), None);
    }
    // SETRANGE builds its string in place in Redis, new or not: `raw` to OBJECT ENCODING.
    let mut entry = lookup_write(node, key).expect("just written");
    entry.set_value(ValueRef::String(&buf));
    entry.mark_raw_string();
    propagate(node, argv(args));
    Reply::Integer(i64::try_from(new_len).unwrap_or(i64::MAX))
}
