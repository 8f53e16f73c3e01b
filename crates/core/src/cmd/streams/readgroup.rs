//! XREADGROUP's deliveries: new entries past the group's last ID (each made pending for the
//! consumer unless NOACK), or the consumer's own pending history; and what replays them, as
//! Redis 7.0 writes it: an `XCLAIM … FORCE JUSTID LASTID` per delivered entry, `XGROUP SETID`
//! when NOACK moved the group, `XGROUP CREATECONSUMER` when NOACK created the consumer.

use bytes::Bytes;

use super::{entries_reply, id_reply, write_stream};
use crate::db::stream::{Pending, StreamId};
use crate::db::Stream;
use crate::node::Node;
use crate::reply::Reply;

/// One stream of an XREADGROUP.
pub(super) struct GroupRead<'a> {
    pub key: &'a Bytes,
    pub group: &'a Bytes,
    pub consumer: &'a Bytes,
    pub noack: bool,
    /// 0 = all.
    pub count: usize,
}

fn word(w: &'static str) -> Bytes {
    Bytes::from_static(w.as_bytes())
}

/// Looks the consumer up (seen now) or creates it; a NOACK read replays its creation.
fn touch_consumer(node: &mut Node, read: &GroupRead<'_>, replays: &mut Vec<Vec<Bytes>>) {
    let now_ms = node.now.unix_ms;
    let stream = write_stream(node, read.key)
        .ok()
        .flatten()
        .expect("a stream");
    let group = stream.groups.get_mut(&read.group[..]).expect("checked");
    let created = group.consumer_or_create(read.consumer, now_ms);
    if created && read.noack {
        let replay = vec![
            word("XGROUP"),
            word("CREATECONSUMER"),
            read.key.clone(),
            read.group.clone(),
            read.consumer.clone(),
        ];
        replays.push(replay);
    }
}

/// The consumer seen now (created if new), the delivery time, and the group's stream, which
/// the caller checked exists.
fn reading_consumer<'n>(
    node: &'n mut Node,
    read: &GroupRead<'_>,
    replays: &mut Vec<Vec<Bytes>>,
) -> (u64, &'n mut Stream) {
    touch_consumer(node, read, replays);
    let now_ms = node.now.unix_ms;
    let stream = write_stream(node, read.key)
        .ok()
        .flatten()
        .expect("a stream");
    (now_ms, stream)
}

/// The live entries past `after`, delivered to the consumer.
pub(super) fn deliver_new(
    node: &mut Node,
    read: &GroupRead<'_>,
    after: StreamId,
    replays: &mut Vec<Vec<Bytes>>,
) -> Reply {
    let (now_ms, stream) = reading_consumer(node, read, replays);
    let start = after.incr().unwrap_or(StreamId::MAX);
    let entries: Vec<(StreamId, Vec<Bytes>)> = stream
        .range(start, StreamId::MAX, read.count, false)
        .into_iter()
        .map(|(id, pairs)| (id, pairs.to_vec()))
        .collect();
    let mut moved = false;
    for (id, _) in &entries {
        if *id > stream.groups[&read.group[..]].last_id {
            stream.advance_group(read.group, *id);
            moved = true;
        }
        if read.noack {
            continue;
        }
        let group = stream.groups.get_mut(&read.group[..]).expect("checked");
        let pending = Pending {
            consumer: read.consumer.clone(),
            delivery_time_ms: now_ms,
            delivery_count: 1,
        };
        group.assign(*id, read.consumer, pending);
        replays.push(xclaim_replay(
            read.key,
            read.group,
            *id,
            &group.pending[id],
            group.last_id,
        ));
    }
    let group = &stream.groups[&read.group[..]];
    let setid = (read.noack && moved).then(|| {
        vec![
            word("XGROUP"),
            word("SETID"),
            read.key.clone(),
            read.group.clone(),
            Bytes::from(group.last_id.to_string()),
            word("ENTRIESREAD"),
            Bytes::from(group.entries_read.to_string()),
        ]
    });
    replays.extend(setid);
    let borrowed = entries.iter().map(|(id, p)| (*id, p.as_slice())).collect();
    entries_reply(borrowed)
}

/// What replays a delivery or a claim: `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n
/// FORCE JUSTID LASTID group-last-id`.
pub(super) fn xclaim_replay(
    key: &Bytes,
    group: &Bytes,
    id: StreamId,
    pending: &Pending,
    last_id: StreamId,
) -> Vec<Bytes> {
    vec![
        word("XCLAIM"),
        key.clone(),
        group.clone(),
        pending.consumer.clone(),
        word("0"),
        Bytes::from(id.to_string()),
        word("TIME"),
        Bytes::from(pending.delivery_time_ms.to_string()),
        word("RETRYCOUNT"),
        Bytes::from(pending.delivery_count.to_string()),
        word("FORCE"),
        word("JUSTID"),
        word("LASTID"),
        Bytes::from(last_id.to_string()),
    ]
}

/// The consumer's pending entries past `after`, each delivered again (an entry deleted since
/// reads as `[id, nil]`); nothing replays.
pub(super) fn deliver_history(
    node: &mut Node,
    read: &GroupRead<'_>,
    after: StreamId,
    replays: &mut Vec<Vec<Bytes>>,
) -> Reply {
    let (now_ms, stream) = reading_consumer(node, read, replays);
    let Some(start) = after.incr() else {
        return Reply::Array(Vec::new());
    };
    let owned = &stream.groups[&read.group[..]].consumers[&read.consumer[..]].pending;
    let limit = if read.count == 0 {
        usize::MAX
    } else {
        read.count
    };
    let ids: Vec<StreamId> = owned.range(start..).take(limit).copied().collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(pairs) = stream.get(id).map(<[Bytes]>::to_vec) else {
            out.push(Reply::Array(vec![id_reply(id), Reply::NilArray]));
            continue;
        };
        let group = stream.groups.get_mut(&read.group[..]).expect("checked");
        let pending = group
            .pending
            .get_mut(&id)
            .expect("owned entries are pending");
        pending.delivery_time_ms = now_ms;
        pending.delivery_count += 1;
        out.push(Reply::Array(vec![
            id_reply(id),
            Reply::Array(pairs.into_iter().map(Reply::Bulk).collect()),
        ]));
    }
    Reply::Array(out)
}
