//! Access by index and by value: LINDEX, LSET, LRANGE, LTRIM, LPOS, LINSERT and LREM.
//!
//! Arguments are parsed before the key is looked up, so a bad argument wins over
//! `WRONGTYPE`, in Redis's order.

use bytes::Bytes;

use super::{bulk_items, position, range, read_list, remove_if_empty, write_list};
use crate::cmd::keys::{argv, propagate};
use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn lindex(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(index) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    match read_list(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(None) => Reply::Nil,
        Ok(Some(list)) => match position(index, list.len()).and_then(|at| list.get(at)) {
            Some(item) => Reply::Bulk(Bytes::copy_from_slice(item)),
            None => Reply::Nil,
        },
    }
}

pub(super) fn lset(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(index) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    let list = match write_list(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::err("no such key"),
        Ok(Some(list)) => list,
    };
    match position(index, list.len()) {
        Some(at) => {
            list.set(at, &args[3]);
            propagate(node, argv(args));
            Reply::ok()
        }
        None => Reply::err("index out of range"),
    }
}

pub(super) fn lrange(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (Some(start), Some(stop)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return Reply::not_integer();
    };
    match read_list(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(list)) => match range(start, stop, list.len()) {
            Some((from, to)) => bulk_items(list.range(from, to)),
            None => Reply::Array(Vec::new()),
        },
    }
}

/// LTRIM keeps `start..=stop`; an empty range deletes the key. Only a trim that removed
/// something is propagated (Redis counts the removed elements as its dirty count).
pub(super) fn ltrim(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (Some(start), Some(stop)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return Reply::not_integer();
    };
    let key = &args[1];
    let list = match write_list(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::ok(),
        Ok(Some(list)) => list,
    };
    let before = list.len();
    match range(start, stop, before) {
        Some((from, to)) => list.trim(from, to),
        None => list.trim(1, 0),
    }
    let removed = before - list.len();
    remove_if_empty(node, key);
    if removed > 0 {
        propagate(node, argv(args));
    }
    Reply::ok()
}

/// LPOS's options.
struct LposOptions {
    /// Which match to start from: 1 the first from the head, -1 the first from the tail.
    rank: i64,
    /// `Some` when COUNT was given (the reply is then an array); 0 means all matches.
    count: Option<usize>,
    /// How many elements to look at; 0 means all.
    max_len: usize,
}

impl LposOptions {
    fn parse(options: &[Bytes]) -> Result<LposOptions, Reply> {
        let mut parsed = LposOptions {
            rank: 1,
            count: None,
            max_len: 0,
        };
        for pair in options.chunks(2) {
            let [name, value] = pair else {
                return Err(Reply::syntax_error());
            };
            let n = || parse_i64(value).ok_or_else(Reply::not_integer);
            if is(name, "rank") {
                parsed.rank = n()?;
                if parsed.rank == 0 {
                    return Err(Reply::err(
                        "RANK can't be zero: use 1 to start from the first match, 2 from the \
                         second ... or use negative to start from the end of the list",
                    ));
                }
            } else if is(name, "count") {
                let count = n()?;
                let count =
                    usize::try_from(count).map_err(|_| Reply::err("COUNT can't be negative"))?;
                parsed.count = Some(count);
            } else if is(name, "maxlen") {
                let max_len = n()?;
                parsed.max_len =
                    usize::try_from(max_len).map_err(|_| Reply::err("MAXLEN can't be negative"))?;
            } else {
                return Err(Reply::syntax_error());
            }
        }
        Ok(parsed)
    }
}

/// LPOS `key element [RANK r] [COUNT n] [MAXLEN m]`: the indexes of matching elements.
pub(super) fn lpos(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let options = match LposOptions::parse(&args[3..]) {
        Ok(options) => options,
        Err(e) => return e,
    };
    let list = match read_list(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(list) => list,
    };
    let mut found = Vec::new();
    if let Some(list) = list {
        let len = list.len();
        let examined = if options.max_len == 0 {
            len
        } else {
            options.max_len.min(len)
        };
        let skip = usize::try_from(options.rank.unsigned_abs() - 1).unwrap_or(usize::MAX);
        let wanted = options
            .count
            .map_or(1, |c| if c == 0 { usize::MAX } else { c });
        let element = &args[2][..];
        // Walk from the chosen end, one pass (index access would walk the chunks each time).
        let indexed: Box<dyn Iterator<Item = (usize, &[u8])>> = if options.rank > 0 {
            Box::new(list.iter().enumerate())
        } else {
            Box::new(
                list.iter()
                    .rev()
                    .enumerate()
                    .map(move |(k, e)| (len - 1 - k, e)),
            )
        };
        let matches = indexed
            .take(examined)
            .filter(|&(_, item)| item == element)
            .map(|(i, _)| i);
        found.extend(matches.skip(skip).take(wanted));
    }
    match options.count {
        Some(_) => Reply::Array(
            found
                .into_iter()
                .map(|i| Reply::Integer(i as i64))
                .collect(),
        ),
        None => found
            .first()
            .map_or(Reply::Nil, |&i| Reply::Integer(i as i64)),
    }
}

/// LINSERT `key BEFORE|AFTER pivot element`: the new length, -1 without the pivot, 0 without
/// the key.
pub(super) fn linsert(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Reply::syntax_error();
    };
    let list = match write_list(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(list)) => list,
    };
    let Some(at) = list.iter().position(|item| item == &args[3][..]) else {
        return Reply::Integer(-1);
    };
    list.insert(at + usize::from(after), &args[4]);
    let len = list.len();
    propagate(node, argv(args));
    Reply::Integer(len as i64)
}

/// LREM `key count element`: removes up to `count` matches from the head (from the tail for
/// a negative count, all for 0).
pub(super) fn lrem(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(count) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    let key = &args[1];
    let list = match write_list(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(list)) => list,
    };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = list.remove_matching(&args[3], limit, count < 0);
    remove_if_empty(node, key);
    if removed > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(removed as i64)
}
