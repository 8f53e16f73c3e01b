//! Member by member: SADD, SREM, SISMEMBER, SMISMEMBER, SCARD, SMEMBERS, SMOVE and SSCAN.

use bytes::Bytes;

use super::{members_reply, read_set, set_for_add, write_set};
use crate::cmd::keys::{
    argv, collection_scan_pattern, collection_scan_reply, parse_cursor, pattern_matches, propagate,
};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn sadd(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let limits = node.config.encoding_limits;
    let set = match set_for_add(node, &args[1]) {
        Ok(set) => set,
        Err(wrong_type) => return wrong_type,
    };
    let added = args[2..]
        .iter()
        .filter(|m| set.insert_limited(m, &limits))
        .count();
    if added > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(added as i64)
}

pub(super) fn srem(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let set = match write_set(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(set)) => set,
    };
    let removed = args[2..].iter().filter(|m| set.remove(m)).count();
    if set.is_empty() {
        node.db.remove(key);
    }
    if removed > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(removed as i64)
}

pub(super) fn sismember(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_set(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(set) => Reply::Integer(i64::from(set.is_some_and(|s| s.contains(&args[2])))),
    }
}

pub(super) fn smismember(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let set = match read_set(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(set) => set,
    };
    let answers = args[2..]
        .iter()
        .map(|m| Reply::Integer(i64::from(set.is_some_and(|s| s.contains(m)))))
        .collect();
    Reply::Array(answers)
}

pub(super) fn scard(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_set(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(set) => Reply::Integer(set.map_or(0, |s| s.len()) as i64),
    }
}

pub(super) fn smembers(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_set(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(None) => Reply::Set(Vec::new()),
        Ok(Some(set)) => members_reply(set.iter()),
    }
}

/// SMOVE `source destination member`: 1 when the member moved (or, for the same key, is
/// there), 0 otherwise. Both types are checked first.
pub(super) fn smove(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (source, destination, member) = (&args[1], &args[2], &args[3]);
    let present = match read_set(node, source) {
        Err(wrong_type) => return wrong_type,
        Ok(set) => set.is_some_and(|s| s.contains(member)),
    };
    if let Err(wrong_type) = read_set(node, destination) {
        return wrong_type;
    }
    if !present || source == destination {
        return Reply::Integer(i64::from(present));
    }
    let set = write_set(node, source)
        .ok()
        .flatten()
        .expect("checked above");
    set.remove(member);
    if set.is_empty() {
        node.db.remove(source);
    }
    let limits = node.config.encoding_limits;
    set_for_add(node, destination)
        .expect("checked above")
        .insert_limited(member, &limits);
    propagate(node, argv(args));
    Reply::Integer(1)
}

/// SSCAN `key cursor [MATCH pattern] [COUNT count]`: every matching member in one step with
/// cursor 0 (see `hashes::whole` for why one step).
pub(super) fn sscan(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if parse_cursor(&args[2]).is_none() {
        return Reply::err("invalid cursor");
    }
    let set = match read_set(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return collection_scan_reply(Vec::new()),
        Ok(Some(set)) => set,
    };
    let pattern = match collection_scan_pattern(&args[3..]) {
        Ok(pattern) => pattern,
        Err(e) => return e,
    };
    let members = set
        .iter()
        .filter(|m| pattern.is_none_or(|p| pattern_matches(p, m)))
        .map(|m| Reply::Bulk(Bytes::copy_from_slice(m)))
        .collect();
    collection_scan_reply(members)
}
