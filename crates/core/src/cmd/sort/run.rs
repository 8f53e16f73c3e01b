//! SORT's execution: load the elements, weigh them (by themselves or a BY pattern), sort,
//! cut the LIMIT window, then answer them (or their GET patterns) or store them as a list.

use std::cmp::Ordering;

use bytes::Bytes;

use super::score::parse_score;
use super::Options;
use crate::cmd::keys::{expire_if_due, lookup_read, propagate, store_destination};
use crate::db::{Entry, List, Value, ValueRef};
use crate::node::Node;
use crate::reply::Reply;

/// What an element is ordered by.
enum Weight {
    Number(f64),
    /// ALPHA with a BY pattern: the looked-up value, `None` when missing (sorts first).
    Text(Option<Vec<u8>>),
    /// ALPHA without BY: the element itself.
    Itself,
}

/// The elements of the key to sort in their stored order (a set in its iteration order), or
/// `WRONGTYPE`; a missing key sorts like an empty list. Whether it is a set comes along.
fn load(node: &mut Node, key: &[u8]) -> Result<(Vec<Vec<u8>>, bool), Reply> {
    let Some(entry) = lookup_read(node, key) else {
        return Ok((Vec::new(), false));
    };
    match entry.value {
        ValueRef::List(l) => Ok((l.iter().map(<[u8]>::to_vec).collect(), false)),
        ValueRef::Set(s) => Ok((s.iter().map(<[u8]>::to_vec).collect(), true)),
        ValueRef::ZSet(z) => Ok((
            z.sorted().into_iter().map(|(m, _)| m.to_vec()).collect(),
            false,
        )),
        _ => Err(Reply::wrong_type()),
    }
}

/// Redis's pattern lookup: `#` is the element; otherwise the first `*` is replaced by the
/// element, and a `->field` after it reads that field of a hash. Only strings (or hash
/// fields) are found; a pattern without `*` finds nothing.
fn lookup_pattern(node: &mut Node, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after.windows(2).position(|w| w == b"->");
    let (suffix, field) = match arrow {
        Some(at) if at + 2 < after.len() => (&after[..at], Some(&after[at + 2..])),
        _ => (after, None),
    };
    let key = [&pattern[..star], element, suffix].concat();
    let entry = lookup_read(node, &key)?;
    match (entry.value, field) {
        (ValueRef::Hash(h), Some(field)) => h.get(field).map(<[u8]>::to_vec),
        (ValueRef::String(s), None) => Some(s.to_vec()),
        _ => None,
    }
}

fn weigh(node: &mut Node, o: &Options, element: &[u8]) -> Result<Weight, ()> {
    let by = match &o.by {
        Some(pattern) => lookup_pattern(node, pattern, element),
        None => None,
    };
    if o.alpha {
        return Ok(if o.by.is_some() {
            Weight::Text(by)
        } else {
            Weight::Itself
        });
    }
    match (&o.by, by) {
        (Some(_), None) => Ok(Weight::Number(0.0)),
        (_, found) => parse_score(found.as_deref().unwrap_or(element))
            .map(Weight::Number)
            .ok_or(()),
    }
}

fn compare(a: &(Vec<u8>, Weight), b: &(Vec<u8>, Weight)) -> Ordering {
    match (&a.1, &b.1) {
        (Weight::Number(x), Weight::Number(y)) => x
            .partial_cmp(y)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0)),
        (Weight::Text(x), Weight::Text(y)) => x.cmp(y),
        _ => a.0.cmp(&b.0),
    }
}

/// LIMIT's window over `len` elements as Redis clamps it: `start..end` (end exclusive).
fn window(len: usize, (offset, count): (i64, i64)) -> (usize, usize) {
    let len_i = len as i64;
    let start = offset.clamp(0, len_i);
    let count = count.clamp(-1, len_i);
    let end = if count < 0 {
        len_i
    } else {
        (start + count).min(len_i)
    };
    (start as usize, end.max(start) as usize)
}

pub(super) fn sort(node: &mut Node, key: &[u8], o: &Options, args: &[Bytes]) -> Reply {
    let (mut elements, is_set) = match load(node, key) {
        Ok(loaded) => loaded,
        Err(e) => return e,
    };
    let mut dont_sort = o.dont_sort;
    let mut forced = None;
    if dont_sort && is_set && o.store.is_some() {
        // A set's order is not replicable: Redis sorts it ALPHA before storing.
        dont_sort = false;
        forced = Some(Options {
            alpha: true,
            by: None,
            gets: Vec::new(),
            store: None,
            ..*o
        });
    }
    let weights_from = forced.as_ref().unwrap_or(o);
    if dont_sort {
        if o.desc && !is_set {
            elements.reverse();
        }
    } else {
        let mut weighed = Vec::with_capacity(elements.len());
        let mut bad_score = false;
        for element in elements {
            let weight = weigh(node, weights_from, &element).unwrap_or_else(|()| {
                bad_score = true;
                Weight::Number(0.0)
            });
            weighed.push((element, weight));
        }
        if bad_score {
            return Reply::err("One or more scores can't be converted into double");
        }
        weighed.sort_by(|a, b| {
            let order = compare(a, b);
            if o.desc {
                order.reverse()
            } else {
                order
            }
        });
        elements = weighed.into_iter().map(|(e, _)| e).collect();
    }
    let (start, end) = window(elements.len(), o.limit);
    let picked = &elements[start..end];
    let items = output(node, o, picked);
    match &o.store {
        None => Reply::Array(
            items
                .into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::bulk))
                .collect(),
        ),
        Some(dest) => store(node, dest, items, args),
    }
}

/// The answer's items: the elements, or each GET pattern's value per element.
fn output(node: &mut Node, o: &Options, picked: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    if o.gets.is_empty() {
        return picked.iter().cloned().map(Some).collect();
    }
    let mut out = Vec::with_capacity(picked.len() * o.gets.len());
    for element in picked {
        for pattern in &o.gets {
            out.push(lookup_pattern(node, pattern, element));
        }
    }
    out
}

/// STORE: the items as a list (a missing GET as an empty string), replacing the
/// destination and its TTL; no items delete it. Answers the count.
fn store(node: &mut Node, dest: &[u8], items: Vec<Option<Vec<u8>>>, args: &[Bytes]) -> Reply {
    let count = items.len();
    expire_if_due(node, dest);
    if count == 0 {
        if node.db.remove(dest) {
            propagate(node, args.to_vec());
        }
        return Reply::Integer(0);
    }
    let list: List = items.iter().map(|i| i.as_deref().unwrap_or(b"")).collect();
    let entry = Entry {
        value: Value::List(list),
        expires_at_ms: None,
    };
    store_destination(node, dest, entry, false);
    propagate(node, args.to_vec());
    Reply::Integer(count as i64)
}
