//! Streams in Redis 7.0's RDB encoding (`RDB_TYPE_STREAM_LISTPACKS_2`, type 19): the nodes as
//! listpacks keyed by their 128-bit big-endian master ID, then the length, last ID, first ID,
//! largest deleted ID, entries added, and the consumer groups (see `encode_group`).
//!
//! A node's listpack is the master entry (`live`, `deleted`, field count, fields, `0`) and
//! then each entry: flags (deleted, same fields as the master), the ID as deltas from the
//! master ID, the field count and fields unless they are the master's, the values, and the
//! number of elements the entry took (so it can be walked backwards).

use bytes::Bytes;

use super::listpack::{decode_listpack, ListpackWriter};
use super::{encode_length, encode_string, Compression, PayloadError, Reader};
use crate::db::stream::{
    elements_before_count, StreamEntry, StreamId, StreamMeta, FLAG_DELETED, FLAG_SAME_FIELDS,
};
use crate::db::stream::{Group, Pending};
use crate::db::Stream;

pub(super) const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// A master ID as the radix tree's key: ms then seq, big-endian.
fn node_key(id: StreamId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id.ms.to_be_bytes());
    key[8..].copy_from_slice(&id.seq.to_be_bytes());
    key
}

pub(super) fn encode_stream(stream: &Stream, c: Compression, out: &mut Vec<u8>) {
    out.push(TYPE_STREAM_LISTPACKS_2);
    let nodes: Vec<_> = stream.nodes().collect();
    encode_length(nodes.len() as u64, out);
    for (master, node) in nodes {
        encode_string(&node_key(*master), c, out);
        let lp = node_listpack(stream, *master);
        assert_eq!(lp.len(), node.lp_bytes(), "node sizes follow the listpack");
        encode_string(&lp, c, out);
    }
    let meta = stream.meta();
    for n in [
        meta.len,
        meta.last_id.ms,
        meta.last_id.seq,
        meta.first_id.ms,
        meta.first_id.seq,
        meta.max_deleted_id.ms,
        meta.max_deleted_id.seq,
        meta.entries_added,
    ] {
        encode_length(n, out);
    }
    encode_length(stream.groups.len() as u64, out);
    for (name, group) in &stream.groups {
        encode_group(name, group, c, out);
    }
}

/// A group: name, last ID, entries read (-1 as a 64-bit length, as Redis writes it), the
/// pending entries (raw ID, delivery time as 8 bytes LE, delivery count), then the consumers
/// (name, seen time, the raw IDs they own).
fn encode_group(name: &[u8], group: &Group, c: Compression, out: &mut Vec<u8>) {
    encode_string(name, c, out);
    encode_length(group.last_id.ms, out);
    encode_length(group.last_id.seq, out);
    encode_length(group.entries_read as u64, out);
    encode_length(group.pending.len() as u64, out);
    for (id, pending) in &group.pending {
        out.extend_from_slice(&node_key(*id));
        out.extend_from_slice(&pending.delivery_time_ms.to_le_bytes());
        encode_length(pending.delivery_count, out);
    }
    encode_length(group.consumers.len() as u64, out);
    for (name, consumer) in &group.consumers {
        encode_string(name, c, out);
        out.extend_from_slice(&consumer.seen_time_ms.to_le_bytes());
        encode_length(consumer.pending.len() as u64, out);
        for id in &consumer.pending {
            out.extend_from_slice(&node_key(*id));
        }
    }
}

fn decode_group(reader: &mut Reader<'_>) -> Result<(Bytes, Group), PayloadError> {
    let bad = PayloadError::BadFormat;
    let name = Bytes::from(reader.string()?);
    let last_id = StreamId::new(reader.plain_length()?, reader.plain_length()?);
    let entries_read = reader.plain_length()? as i64;
    let mut group = Group::new(last_id, entries_read);
    let mut unowned = std::collections::BTreeMap::new();
    for _ in 0..reader.plain_length()? {
        let id = parse_node_key(reader.take(16)?)?;
        let time_ms = u64::from_le_bytes(reader.array::<8>()?);
        let count = reader.plain_length()?;
        if unowned.insert(id, (time_ms, count)).is_some() {
            return Err(bad);
        }
    }
    for _ in 0..reader.plain_length()? {
        let consumer = Bytes::from(reader.string()?);
        let seen_ms = u64::from_le_bytes(reader.array::<8>()?);
        if !group.consumer_or_create(&consumer, seen_ms) {
            return Err(bad);
        }
        for _ in 0..reader.plain_length()? {
            let id = parse_node_key(reader.take(16)?)?;
            let (delivery_time_ms, delivery_count) = unowned.remove(&id).ok_or(bad)?;
            let pending = Pending {
                consumer: consumer.clone(),
                delivery_time_ms,
                delivery_count,
            };
            group.assign(id, &consumer, pending);
        }
    }
    // Every pending entry has an owner (Redis checks it under deep sanitization).
    if !unowned.is_empty() {
        return Err(bad);
    }
    Ok((name, group))
}

/// The listpack Redis would hold for the node started at `master`.
fn node_listpack(stream: &Stream, master: StreamId) -> Vec<u8> {
    let node = stream
        .nodes()
        .find(|(k, _)| **k == master)
        .map(|(_, n)| n)
        .expect("a stored node");
    let mut lp = ListpackWriter::new();
    let int = |lp: &mut ListpackWriter, n: i64| lp.push(n.to_string().as_bytes());
    int(&mut lp, node.live as i64);
    int(&mut lp, node.deleted as i64);
    int(&mut lp, node.master_fields.len() as i64);
    node.master_fields.iter().for_each(|f| lp.push(f));
    int(&mut lp, 0);
    for (id, entry) in stream.node_entries(master) {
        let same = node.same_fields(&entry.pairs);
        let flags =
            if same { FLAG_SAME_FIELDS } else { 0 } | if entry.deleted { FLAG_DELETED } else { 0 };
        int(&mut lp, flags);
        int(&mut lp, id.ms.wrapping_sub(master.ms) as i64);
        int(&mut lp, id.seq.wrapping_sub(master.seq) as i64);
        let fields = entry.pairs.len() / 2;
        if same {
            entry
                .pairs
                .iter()
                .skip(1)
                .step_by(2)
                .for_each(|v| lp.push(v));
        } else {
            int(&mut lp, fields as i64);
            entry.pairs.iter().for_each(|p| lp.push(p));
        }
        int(&mut lp, elements_before_count(fields, same));
    }
    lp.finish()
}

pub(super) fn decode_stream(reader: &mut Reader<'_>) -> Result<Stream, PayloadError> {
    let bad = |_| PayloadError::BadFormat;
    let node_count = reader.plain_length()?;
    let mut stream = Stream::new();
    for _ in 0..node_count {
        let key = reader.string()?;
        let master = parse_node_key(&key)?;
        let items = decode_listpack(&reader.string()?)?;
        let (fields, entries) = parse_node(master, &items)?;
        stream
            .push_loaded_node(master, fields, entries)
            .map_err(bad)?;
    }
    let mut n = || reader.plain_length();
    let meta = StreamMeta {
        len: n()?,
        last_id: StreamId::new(n()?, n()?),
        first_id: StreamId::new(n()?, n()?),
        max_deleted_id: StreamId::new(n()?, n()?),
        entries_added: n()?,
    };
    stream.finish_load(meta).map_err(bad)?;
    for _ in 0..reader.plain_length()? {
        let (name, group) = decode_group(reader)?;
        if stream.groups.insert(name, group).is_some() {
            return Err(PayloadError::BadFormat);
        }
    }
    Ok(stream)
}

fn parse_node_key(key: &[u8]) -> Result<StreamId, PayloadError> {
    let key: [u8; 16] = key.try_into().map_err(|_| PayloadError::BadFormat)?;
    let half = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
    Ok(StreamId::new(half(&key[..8]), half(&key[8..])))
}

/// A node's master fields and entries.
type ParsedNode = (Vec<Bytes>, Vec<(StreamId, StreamEntry)>);

/// Walks one node's elements; any inconsistency is `BadFormat`.
fn parse_node(master: StreamId, items: &[Vec<u8>]) -> Result<ParsedNode, PayloadError> {
    let mut rest = items.iter();
    let mut next = || rest.next().ok_or(PayloadError::BadFormat);
    let int = |item: &[u8]| -> Result<i64, PayloadError> {
        crate::cmd::parse_i64(item).ok_or(PayloadError::BadFormat)
    };
    let live = int(next()?)?;
    let deleted = int(next()?)?;
    let field_count = usize::try_from(int(next()?)?).map_err(|_| PayloadError::BadFormat)?;
    let mut master_fields = Vec::new();
    for _ in 0..field_count {
        master_fields.push(Bytes::copy_from_slice(next()?));
    }
    if int(next()?)? != 0 {
        return Err(PayloadError::BadFormat);
    }
    let mut entries = Vec::new();
    let (mut seen_live, mut seen_deleted) = (0i64, 0i64);
    while let Ok(flags) = next() {
        let flags = int(flags)?;
        let ms = master.ms.wrapping_add(int(next()?)? as u64);
        let seq = master.seq.wrapping_add(int(next()?)? as u64);
        let same = flags & FLAG_SAME_FIELDS != 0;
        let fields = if same {
            field_count
        } else {
            usize::try_from(int(next()?)?).map_err(|_| PayloadError::BadFormat)?
        };
        let mut pairs = Vec::with_capacity(2 * fields);
        for at in 0..fields {
            let field = match master_fields.get(at) {
                Some(field) if same => field.clone(),
                _ => Bytes::copy_from_slice(next()?),
            };
            pairs.push(field);
            pairs.push(Bytes::copy_from_slice(next()?));
        }
        let lp_count = int(next()?)?;
        if lp_count != elements_before_count(fields, same) || fields == 0 {
            return Err(PayloadError::BadFormat);
        }
        let is_deleted = flags & FLAG_DELETED != 0;
        if is_deleted {
            seen_deleted += 1;
        } else {
            seen_live += 1;
        }
        let entry = StreamEntry {
            pairs,
            deleted: is_deleted,
        };
        entries.push((StreamId::new(ms, seq), entry));
    }
    if (seen_live, seen_deleted) != (live, deleted) {
        return Err(PayloadError::BadFormat);
    }
    Ok((master_fields, entries))
}
