//! The GET family: GET, MGET, GETDEL and STRLEN.

use bytes::Bytes;

use super::{bulk_or_nil, string_copy, string_value};
use crate::cmd::keys::{expiry_now_ms, lookup_read, propagate};
use crate::db::Peek;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn get(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    bulk_or_nil(read_string(node, &args[1]))
}

/// `lookup_read` and a copy of the value, with one probe unless the key has expired.
fn read_string(node: &mut Node, key: &[u8]) -> Option<Bytes> {
    match node.db.peek(key, expiry_now_ms(node)) {
        Peek::Live(entry) => {
            let value = string_copy(&entry);
            node.stats.keyspace_hits += 1;
            return Some(value);
        }
        Peek::Missing => {
            node.stats.keyspace_misses += 1;
            return None;
        }
        Peek::Expired => {}
    }
    lookup_read(node, key).map(|e| string_copy(&e))
}

pub(super) fn mget(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let values = args[1..]
        .iter()
        .map(|key| bulk_or_nil(read_string(node, key)))
        .collect();
    Reply::Array(values)
}

pub(super) fn getdel(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(value) = lookup_read(node, key).map(|e| string_copy(&e)) else {
        return Reply::Nil;
    };
    node.db.remove(key);
    propagate(node, vec![Bytes::from_static(b"DEL"), key.clone()]);
    Reply::Bulk(value)
}

pub(super) fn strlen(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let len = lookup_read(node, &args[1]).map_or(0, |e| string_value(&e).len());
    Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX))
}
