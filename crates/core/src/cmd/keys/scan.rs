//! Walking the keyspace: KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHALL and FLUSHDB.

use bytes::Bytes;
use rand::Rng;

use super::{argv, expire_if_due, propagate, RANDOMKEY_MAX_TRIES, SCAN_DEFAULT_COUNT};
use crate::cmd::{is, parse_i64};
use crate::db::EntryRef;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// KEYS lists live keys without removing expired ones (it never deletes, as in Redis).
pub(super) fn keys(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let pattern = &args[1];
    let now_ms = node.now.unix_ms;
    let matched = node
        .db
        .entries_in_order()
        .filter(|e| e.is_live(now_ms) && pattern_matches(pattern, e.key))
        .map(|e| Reply::Bulk(Bytes::copy_from_slice(e.key)))
        .collect();
    Reply::Array(matched)
}

/// `*` alone matches every key, the empty one included (the matcher alone would not: a
/// pattern only matches an empty text when it is empty itself).
pub(crate) fn pattern_matches(pattern: &[u8], key: &[u8]) -> bool {
    pattern == b"*" || crate::text::glob_match(pattern, key, false)
}

/// HSCAN's and SSCAN's `[MATCH pattern] [COUNT count]`: the pattern, if any (the count is
/// checked, as Redis does, but a one-step scan has no use for it).
pub(crate) fn collection_scan_pattern(options: &[Bytes]) -> Result<Option<&Bytes>, Reply> {
    let mut pattern = None;
    for pair in options.chunks(2) {
        match pair {
            [name, value] if is(name, "match") => pattern = Some(value),
            [name, value] if is(name, "count") => match parse_i64(value) {
                None => return Err(Reply::not_integer()),
                Some(n) if n < 1 => return Err(Reply::syntax_error()),
                Some(_) => {}
            },
            _ => return Err(Reply::syntax_error()),
        }
    }
    Ok(pattern)
}

/// A one-step collection scan's reply: cursor 0 and every item.
pub(crate) fn collection_scan_reply(items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk_str("0"), Reply::Array(items)])
}

/// A SCAN cursor as Redis reads it (`strtoul`): optional sign, digits, nothing else; a
/// negative number wraps; the empty string is 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if arg.is_empty() {
        return Some(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

struct ScanOptions {
    count: usize,
    pattern: Option<Bytes>,
    type_name: Option<Bytes>,
}

impl ScanOptions {
    fn parse(options: &[Bytes]) -> Result<ScanOptions, Reply> {
        let mut parsed = ScanOptions {
            count: SCAN_DEFAULT_COUNT,
            pattern: None,
            type_name: None,
        };
        for pair in options.chunks(2) {
            let [name, value] = pair else {
                return Err(Reply::syntax_error());
            };
            if is(name, "count") {
                let count = parse_i64(value).ok_or_else(Reply::not_integer)?;
                if count < 1 {
                    return Err(Reply::syntax_error());
                }
                parsed.count = usize::try_from(count).unwrap_or(usize::MAX);
            } else if is(name, "match") {
                parsed.pattern = Some(value.clone());
            } else if is(name, "type") {
                parsed.type_name = Some(value.clone());
            } else {
                return Err(Reply::syntax_error());
            }
        }
        Ok(parsed)
    }

    fn wants(&self, key: &[u8], entry: EntryRef<'_>) -> bool {
        let pattern_ok = self
            .pattern
            .as_ref()
            .is_none_or(|p| pattern_matches(p, key));
        let type_ok = self
            .type_name
            .as_ref()
            .is_none_or(|t| is(t, entry.value.type_name()));
        pattern_ok && type_ok
    }
}

/// The cursor is a scan position plus one (0 is reserved for start and end). Positions are
/// fixed per key, so a key present for the whole scan lies in exactly one step's range.
pub(super) fn scan(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return Reply::err("invalid cursor");
    };
    let options = match ScanOptions::parse(&args[2..]) {
        Ok(options) => options,
        Err(e) => return e,
    };
    let (visited, next) = node.db.scan(cursor.saturating_sub(1), options.count);
    let mut found = Vec::new();
    for key in visited {
        expire_if_due(node, &key);
        if let Some(entry) = node.db.get(&key, node.now.unix_ms) {
            if options.wants(&key, entry) {
                found.push(Reply::Bulk(key));
            }
        }
    }
    let next_cursor = next.map_or(0, |position| position + 1);
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next_cursor.to_string())),
        Reply::Array(found),
    ])
}

pub(super) fn randomkey(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    for _ in 0..RANDOMKEY_MAX_TRIES {
        let pick = node.rng.gen::<u64>();
        let Some(key) = node.db.key_near(pick).map(Bytes::copy_from_slice) else {
            return Reply::Nil;
        };
        expire_if_due(node, &key);
        if node.db.contains(&key, node.now.unix_ms) {
            return Reply::Bulk(key);
        }
    }
    // Only a replica full of expired keys gets here; like Redis, answer with one of them.
    match node.db.key_near(node.rng.gen::<u64>()) {
        Some(key) => Reply::Bulk(Bytes::copy_from_slice(key)),
        None => Reply::Nil,
    }
}

pub(super) fn dbsize(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(i64::try_from(node.db.len()).unwrap_or(i64::MAX))
}

/// FLUSHALL and FLUSHDB (cluster mode has one database). ASYNC frees synchronously here.
pub(super) fn flush(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match &args[1..] {
        [] => {}
        [mode] if is(mode, "async") || is(mode, "sync") => {}
        _ => return Reply::syntax_error(),
    }
    node.db.clear();
    propagate(node, argv(args));
    Reply::ok()
}
