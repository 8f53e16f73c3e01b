//! The GET family: GET, MGET, GETDEL and STRLEN.

use bytes::Bytes;

use super::{bulk_or_nil, string_copy, string_value};
use crate::cmd::keys::{expiry_now_ms, lookup_read, propagate};
use crate::db::Peek;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn get(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_string(node, &args[1]) {
        Ok(value) => bulk_or_nil(value),
        Err(wrong_type) => wrong_type,
    }
}

/// `lookup_read` and a copy of the value, with one probe unless the key has expired;
/// `WRONGTYPE` for a key of another type.
fn read_string(node: &mut Node, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match node.db.peek(key, expiry_now_ms(node)) {
        Peek::Live(entry) => {
            let value = string_copy(&entry);
            node.stats.keyspace_hits += 1;
            return value.map(Some);
        }
        Peek::Missing => {
            node.stats.keyspace_misses += 1;
            return Ok(None);
        }
        Peek::Expired => {}
    }
    lookup_read(node, key).map(|e| string_copy(&e)).transpose()
}

/// MGET answers nil for a key of another type, as Redis does, rather than failing.
pub(super) fn mget(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let values = args[1..]
        .iter()
        .map(|key| bulk_or_nil(read_string(node, key).ok().flatten()))
        .collect();
    Reply::Array(values)
}

pub(super) fn getdel(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let value = match lookup_read(node, key).map(|e| string_copy(&e)) {
        None => return Reply::Nil,
        Some(Err(wrong_type)) => return wrong_type,
        Some(Ok(value)) => value,
    };
    node.db.remove(key);
    propagate(node, vec![Bytes::from_static(b"DEL"), key.clone()]);
    Reply::Bulk(value)
}

pub(super) fn strlen(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let len = match lookup_read(node, &args[1]).map(|e| string_value(&e).map(<[u8]>::len)) {
        None => 0,
        Some(Ok(len)) => len,
        Some(Err(wrong_type)) => return wrong_type,
    };
    Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX))
}
