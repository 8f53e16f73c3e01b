//! The RDB encodings of lists, hashes, sets and sorted sets in DUMP payloads.
//!
//! We write what Redis 7.0 writes at the same size: a list as a quicklist of listpack nodes
//! (each node at most `list-max-listpack-size -2`'s 8 KB), a hash or sorted set as one listpack
//! while Redis would still hold it as one (else as plain field/value or member/score pairs),
//! a set as an intset while it is one (else as plain members). We read everything Redis 7.0
//! writes, plus what older versions wrote and Redis 7.0 still loads: the plain `LIST` and
//! `ZSET` (text scores) forms and the ziplist-based ones (`ziplist`). Zipmaps (Redis 2.4) are
//! refused as `Bad data format`.

use super::listpack::{decode_intset, decode_listpack, encode_intset, ListpackWriter};
use super::ziplist::decode_ziplist;
use super::{encode_length, encode_string, Compression, PayloadError, Reader};
use crate::db::{EncodingLimits, Hash, List, Set, Value, ValueRef, ZSet};

pub(super) const TYPE_LIST: u8 = 1;
pub(super) const TYPE_SET: u8 = 2;
pub(super) const TYPE_ZSET: u8 = 3;
pub(super) const TYPE_HASH: u8 = 4;
pub(super) const TYPE_ZSET_2: u8 = 5;
pub(super) const TYPE_LIST_ZIPLIST: u8 = 10;
pub(super) const TYPE_SET_INTSET: u8 = 11;
pub(super) const TYPE_ZSET_ZIPLIST: u8 = 12;
pub(super) const TYPE_HASH_ZIPLIST: u8 = 13;
pub(super) const TYPE_LIST_QUICKLIST: u8 = 14;
pub(super) const TYPE_HASH_LISTPACK: u8 = 16;
pub(super) const TYPE_ZSET_LISTPACK: u8 = 17;
pub(super) const TYPE_LIST_QUICKLIST_2: u8 = 18;

/// Quicklist node containers.
const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

/// `list-max-listpack-size -2`: a node's listpack stays within 8 KB.
const QUICKLIST_NODE_MAX_BYTES: usize = 8 * 1024;
/// What Redis's quicklist adds to an element's length when it estimates a node's growth.
const QUICKLIST_ENTRY_OVERHEAD_BYTES: usize = 8;

/// Whether a pushed element of `item_len` bytes joins a quicklist node of `node_bytes`, by
/// Redis's estimate (`_quicklistNodeAllowInsert`: the element's length plus 8 bytes, whatever
/// its listpack encoding takes), not by the entry's exact size.
pub(crate) fn quicklist_node_takes(node_bytes: usize, item_len: usize) -> bool {
    node_bytes + item_len + QUICKLIST_ENTRY_OVERHEAD_BYTES <= QUICKLIST_NODE_MAX_BYTES
}

/// Appends the type byte and RDB body of a collection; false for a string (the caller's).
pub(super) fn encode_collection(value: ValueRef<'_>, c: Compression, out: &mut Vec<u8>) -> bool {
    match value {
        ValueRef::String(_) => return false,
        ValueRef::List(l) => encode_list(l, c, out),
        ValueRef::Hash(h) => encode_hash(h, c, out),
        ValueRef::Set(s) => encode_set(s, c, out),
        ValueRef::ZSet(z) => encode_zset(z, c, out),
        ValueRef::Stream(s) => super::stream::encode_stream(s, c, out),
    }
    true
}

fn encode_list(list: &List, c: Compression, out: &mut Vec<u8>) {
    let mut nodes = Vec::new();
    let mut node = ListpackWriter::new();
    for item in list.iter() {
        if node.count() > 0 && !quicklist_node_takes(node.len_bytes(), item.len()) {
            nodes.push(std::mem::replace(&mut node, ListpackWriter::new()).finish());
        }
        node.push(item);
    }
    if node.count() > 0 {
        nodes.push(node.finish());
    }
    out.push(TYPE_LIST_QUICKLIST_2);
    encode_length(nodes.len() as u64, out);
    for lp in nodes {
        encode_length(QUICKLIST_NODE_PACKED, out);
        encode_string(&lp, c, out);
    }
}

fn encode_hash(hash: &Hash, c: Compression, out: &mut Vec<u8>) {
    if hash.is_listpack() {
        let mut lp = ListpackWriter::new();
        for (field, value) in hash.iter() {
            lp.push(field);
            lp.push(value);
        }
        out.push(TYPE_HASH_LISTPACK);
        encode_string(&lp.finish(), c, out);
        return;
    }
    out.push(TYPE_HASH);
    encode_length(hash.len() as u64, out);
    for (field, value) in hash.iter() {
        encode_string(field, c, out);
        encode_string(value, c, out);
    }
}

fn encode_set(set: &Set, c: Compression, out: &mut Vec<u8>) {
    if let Some(ints) = set.sorted_integers() {
        out.push(TYPE_SET_INTSET);
        encode_string(&encode_intset(&ints), c, out);
        return;
    }
    out.push(TYPE_SET);
    encode_length(set.len() as u64, out);
    for member in set.iter() {
        encode_string(member, c, out);
    }
}

fn encode_zset(zset: &ZSet, c: Compression, out: &mut Vec<u8>) {
    let sorted = zset.sorted();
    if zset.is_listpack() {
        let mut lp = ListpackWriter::new();
        for (member, score) in sorted {
            lp.push(member);
            lp.push(score_text(score).as_bytes());
        }
        out.push(TYPE_ZSET_LISTPACK);
        encode_string(&lp.finish(), c, out);
        return;
    }
    out.push(TYPE_ZSET_2);
    encode_length(sorted.len() as u64, out);
    // Highest score first, as Redis saves a skiplist (from its tail).
    for (member, score) in sorted.into_iter().rev() {
        encode_string(member, c, out);
        out.extend_from_slice(&score.to_le_bytes());
    }
}

/// A score as listpack text, as Redis's `d2string` writes it.
fn score_text(score: f64) -> String {
    String::from_utf8_lossy(&crate::cmd::zsets::listpack_score_text(score)).into_owned()
}

/// The collection after a collection type byte; `None` when `rdb_type` is not one we read.
pub(super) fn decode_collection(
    rdb_type: u8,
    reader: &mut Reader<'_>,
    limits: &EncodingLimits,
) -> Option<Result<Value, PayloadError>> {
    let value = match rdb_type {
        TYPE_LIST_QUICKLIST_2 => decode_quicklist(reader).map(Value::List),
        TYPE_LIST => decode_plain_list(reader).map(Value::List),
        TYPE_LIST_ZIPLIST => ziplist_items(reader)
            .map(|items| Value::List(items.iter().map(Vec::as_slice).collect())),
        TYPE_LIST_QUICKLIST => decode_old_quicklist(reader).map(Value::List),
        TYPE_HASH_ZIPLIST => ziplist_items(reader)
            .and_then(|items| hash_from(&items, limits))
            .map(Value::Hash),
        TYPE_ZSET_ZIPLIST => ziplist_items(reader)
            .and_then(|items| zset_from_pairs(&items, limits))
            .map(Value::ZSet),
        TYPE_HASH_LISTPACK => decode_listpack_hash(reader, limits).map(Value::Hash),
        TYPE_HASH => decode_plain_hash(reader, limits).map(Value::Hash),
        TYPE_SET_INTSET => decode_intset_set(reader, limits).map(Value::Set),
        TYPE_SET => decode_plain_set(reader, limits).map(Value::Set),
        TYPE_ZSET_LISTPACK => decode_listpack_zset(reader, limits).map(Value::ZSet),
        TYPE_ZSET_2 | TYPE_ZSET => decode_plain_zset(reader, rdb_type, limits).map(Value::ZSet),
        super::stream::TYPE_STREAM_LISTPACKS_2 => {
            super::stream::decode_stream(reader).map(|s| Value::Stream(Box::new(s)))
        }
        _ => return None,
    };
    // Redis refuses to create an empty collection from a payload.
    Some(value.and_then(|v| {
        if is_empty(&v) {
            Err(PayloadError::BadFormat)
        } else {
            Ok(v)
        }
    }))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::String(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        // Redis stores and loads empty streams.
        Value::Stream(_) => false,
    }
}

/// A count of elements, bounded by what the remaining bytes could hold (each element takes at
/// least one byte), so a forged count cannot make us allocate.
fn element_count(reader: &mut Reader<'_>) -> Result<usize, PayloadError> {
    let n = reader.plain_length()?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n <= reader.remaining())
        .ok_or(PayloadError::BadFormat)
}

fn decode_quicklist(reader: &mut Reader<'_>) -> Result<List, PayloadError> {
    let nodes = element_count(reader)?;
    let mut items = Vec::new();
    for _ in 0..nodes {
        match reader.plain_length()? {
            QUICKLIST_NODE_PLAIN => items.push(reader.string()?),
            QUICKLIST_NODE_PACKED => items.extend(decode_listpack(&reader.string()?)?),
            _ => return Err(PayloadError::BadFormat),
        }
    }
    Ok(items.iter().map(Vec::as_slice).collect())
}

fn ziplist_items(reader: &mut Reader<'_>) -> Result<Vec<Vec<u8>>, PayloadError> {
    decode_ziplist(&reader.string()?)
}

/// Redis 6's quicklist: a count of nodes, each a ziplist.
fn decode_old_quicklist(reader: &mut Reader<'_>) -> Result<List, PayloadError> {
    let nodes = element_count(reader)?;
    let mut items = Vec::new();
    for _ in 0..nodes {
        items.extend(decode_ziplist(&reader.string()?)?);
    }
    Ok(items.iter().map(Vec::as_slice).collect())
}

fn decode_plain_list(reader: &mut Reader<'_>) -> Result<List, PayloadError> {
    let n = element_count(reader)?;
    let items = (0..n)
        .map(|_| reader.string())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(items.iter().map(Vec::as_slice).collect())
}

/// Pairs into a hash; a repeated field is a corrupt payload, as Redis judges it.
fn hash_from(items: &[Vec<u8>], limits: &EncodingLimits) -> Result<Hash, PayloadError> {
    if !items.len().is_multiple_of(2) {
        return Err(PayloadError::BadFormat);
    }
    let mut hash = Hash::new();
    for pair in items.chunks(2) {
        if !hash.insert_limited(&pair[0], &pair[1], limits) {
            return Err(PayloadError::BadFormat);
        }
    }
    Ok(hash)
}

fn decode_listpack_hash(
    reader: &mut Reader<'_>,
    limits: &EncodingLimits,
) -> Result<Hash, PayloadError> {
    hash_from(&decode_listpack(&reader.string()?)?, limits)
}

fn decode_plain_hash(
    reader: &mut Reader<'_>,
    limits: &EncodingLimits,
) -> Result<Hash, PayloadError> {
    let pairs = element_count(reader)?;
    let items = (0..pairs * 2)
        .map(|_| reader.string())
        .collect::<Result<Vec<_>, _>>()?;
    hash_from(&items, limits)
}

fn set_from(items: &[Vec<u8>], limits: &EncodingLimits) -> Result<Set, PayloadError> {
    let mut set = Set::new();
    for member in items {
        if !set.insert_limited(member, limits) {
            return Err(PayloadError::BadFormat);
        }
    }
    Ok(set)
}

fn decode_intset_set(
    reader: &mut Reader<'_>,
    limits: &EncodingLimits,
) -> Result<Set, PayloadError> {
    set_from(&decode_intset(&reader.string()?)?, limits)
}

fn decode_plain_set(reader: &mut Reader<'_>, limits: &EncodingLimits) -> Result<Set, PayloadError> {
    let n = element_count(reader)?;
    let items = (0..n)
        .map(|_| reader.string())
        .collect::<Result<Vec<_>, _>>()?;
    set_from(&items, limits)
}

fn zset_insert(
    zset: &mut ZSet,
    member: &[u8],
    score: f64,
    limits: &EncodingLimits,
) -> Result<(), PayloadError> {
    if score.is_nan() || !zset.insert_limited(member, score, limits) {
        return Err(PayloadError::BadFormat);
    }
    Ok(())
}

fn decode_listpack_zset(
    reader: &mut Reader<'_>,
    limits: &EncodingLimits,
) -> Result<ZSet, PayloadError> {
    zset_from_pairs(&decode_listpack(&reader.string()?)?, limits)
}

/// Member, score, member, score … (a listpack's or ziplist's entries) into a sorted set.
fn zset_from_pairs(items: &[Vec<u8>], limits: &EncodingLimits) -> Result<ZSet, PayloadError> {
    if !items.len().is_multiple_of(2) {
        return Err(PayloadError::BadFormat);
    }
    let mut zset = ZSet::new();
    for pair in items.chunks(2) {
        zset_insert(&mut zset, &pair[0], parse_score_text(&pair[1])?, limits)?;
    }
    Ok(zset)
}

fn decode_plain_zset(
    reader: &mut Reader<'_>,
    rdb_type: u8,
    limits: &EncodingLimits,
) -> Result<ZSet, PayloadError> {
    let n = element_count(reader)?;
    let mut zset = ZSet::new();
    for _ in 0..n {
        let member = reader.string()?;
        let score = if rdb_type == TYPE_ZSET_2 {
            f64::from_le_bytes(reader.array()?)
        } else {
            old_score(reader)?
        };
        zset_insert(&mut zset, &member, score, limits)?;
    }
    Ok(zset)
}

/// The text-score form of the old `ZSET` type: a length byte (253 NaN, 254 +inf, 255 -inf).
fn old_score(reader: &mut Reader<'_>) -> Result<f64, PayloadError> {
    match reader.byte()? {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        len => parse_score_text(reader.take(u64::from(len))?),
    }
}

fn parse_score_text(text: &[u8]) -> Result<f64, PayloadError> {
    let text = std::str::from_utf8(text).map_err(|_| PayloadError::BadFormat)?;
    let score = match text {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => text.parse().map_err(|_| PayloadError::BadFormat)?,
    };
    if score.is_nan() {
        return Err(PayloadError::BadFormat);
    }
    Ok(score)
}
