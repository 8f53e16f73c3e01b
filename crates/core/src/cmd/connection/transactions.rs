//! MULTI, EXEC, DISCARD, WATCH and UNWATCH: queueing a client's commands and running them as
//! one, with the AOF records of a transaction wrapped in MULTI … EXEC.

use super::*;

pub(super) fn multi(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    let c = node.client_mut(client);
    if c.multi.is_some() {
        // Not a queueing error: the open transaction stays valid.
        return Reply::err("MULTI calls can not be nested");
    }
    c.multi = Some(Vec::new());
    c.multi_dirty = false;
    Reply::ok()
}

pub(super) fn discard(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    let c = node.client_mut(client);
    if c.multi.take().is_none() {
        return Reply::err("DISCARD without MULTI");
    }
    c.multi_dirty = false;
    c.watched.clear();
    Reply::ok()
}

pub(super) fn exec(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    // Redis refuses a transaction holding a write before anything else EXEC checks.
    if let Some(refused) = node.exec_refused_for_disk_error(client) {
        return refused;
    }
    let c = node.client_mut(client);
    let Some(queue) = c.multi.take() else {
        return Reply::err("EXEC without MULTI");
    };
    let dirty = std::mem::take(&mut c.multi_dirty);
    let watched = std::mem::take(&mut c.watched);
    if dirty {
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    let now_ms = node.now.unix_ms;
    if watched
        .iter()
        .any(|(key, seen)| node.db.get(key, now_ms).map(EntryRef::to_entry) != *seen)
    {
        return Reply::NilArray;
    }
    let first_effect = node.out.len();
    let replies = queue
        .iter()
        .map(|args| node.execute_queued(client, args))
        .collect();
    wrap_aof_in_multi(node.out.effects_since_mut(first_effect));
    Reply::Array(replies)
}

/// Surrounds the AOF records a transaction produced with MULTI … EXEC, as Redis logs it, so a
/// file cut short inside the transaction never replays half of it.
pub(super) fn wrap_aof_in_multi(effects: &mut [Effect]) {
    let aof: Vec<usize> = (0..effects.len())
        .filter(|&i| matches!(effects[i], Effect::AppendAof { .. }))
        .collect();
    let (Some(&first), Some(&last)) = (aof.first(), aof.last()) else {
        return;
    };
    let encode = |words: &[&'static [u8]]| {
        let words: Vec<Bytes> = words.iter().map(|w| Bytes::from_static(w)).collect();
        let mut out = Vec::new();
        crate::cmd::propagate::encode_command(&words, &mut out);
        out
    };
    if let Effect::AppendAof { data } = &mut effects[first] {
        // The file's first record selects the database; Redis writes it before MULTI.
        let select = encode(&[b"SELECT", b"0"]);
        let split = if data.starts_with(&select) {
            select.len()
        } else {
            0
        };
        let mut wrapped = data[..split].to_vec();
        wrapped.extend_from_slice(&encode(&[b"MULTI"]));
        wrapped.extend_from_slice(&data[split..]);
        *data = Bytes::from(wrapped);
    }
    if let Effect::AppendAof { data } = &mut effects[last] {
        let mut wrapped = data.to_vec();
        wrapped.extend_from_slice(&encode(&[b"EXEC"]));
        *data = Bytes::from(wrapped);
    }
}

pub(super) fn watch(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if node.clients[&client].multi.is_some() {
        return Reply::err("WATCH inside MULTI is not allowed");
    }
    let now_ms = node.now.unix_ms;
    let snapshots: Vec<_> = args[1..]
        .iter()
        .map(|key| {
            (
                key.clone(),
                node.db.get(key, now_ms).map(EntryRef::to_entry),
            )
        })
        .collect();
    let c = node.client_mut(client);
    for (key, entry) in snapshots {
        if !c.watched.iter().any(|(k, _)| *k == key) {
            c.watched.push((key, entry));
        }
    }
    Reply::ok()
}

pub(super) fn unwatch(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    node.client_mut(client).watched.clear();
    Reply::ok()
}
