//! `CLIENT LIST` and `CLIENT INFO`: one line per connection with every field Redis 7.0
//! prints, in its order.
//!
//! Fields about state this node keeps are exact (`multi-mem` is Redis's sum of argument bytes
//! plus a pointer per argument). The buffer fields are the driver's last report (each cron
//! tick, `node/client_limits.rs`): `qbuf`/`qbuf-free` its unparsed input and room, `obl`,
//! `oll`, `omem` its unwritten output on Redis's model (a 16 KB fixed buffer, then a list of
//! 16 KB blocks); no file descriptor (`fd=-1`), no read-buffer fields (`rbs`, `rbp` 0), and
//! `tot-mem` is the client's state as this node holds it (its struct, arguments, queued
//! transaction, input buffer and reply list).

use bytes::Bytes;

use super::{is, parse_i64};
use crate::config::ClientClass;
use crate::node::{Client, ClientId, Node};
use crate::reply::Reply;

pub(super) fn client_info(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Verbatim("txt", client_line(node, client))
}

/// `CLIENT LIST [TYPE normal|master|replica|slave|pubsub] | [ID id …]`. Replica clients
/// are of type `replica`; a monitor counts as `normal`, as in Redis.
pub(super) fn client_list(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let ids: Vec<ClientId> = if args.len() == 2 {
        node.clients.keys().copied().collect()
    } else if is(&args[2], "type") && args.len() == 4 {
        let kind = &args[3];
        let replica = |id: &ClientId| node.repl.is_replica_client(*id);
        // A subscriber in RESP2 or RESP3 (its output limits differ).
        let pubsub = |id: &ClientId| node.client_class(*id) == ClientClass::PubSub;
        if is(kind, "normal") {
            let normal = |id: &&ClientId| !replica(id) && !pubsub(id);
            node.clients.keys().filter(normal).copied().collect()
        } else if is(kind, "replica") || is(kind, "slave") {
            node.clients
                .keys()
                .filter(|id| replica(id))
                .copied()
                .collect()
        } else if is(kind, "pubsub") {
            node.clients
                .keys()
                .filter(|id| pubsub(id))
                .copied()
                .collect()
        } else if is(kind, "master") {
            Vec::new()
        } else {
            return Reply::err(format!(
                "Unknown client type '{}'",
                String::from_utf8_lossy(kind)
            ));
        }
    } else if is(&args[2], "id") && args.len() >= 4 {
        let mut ids = Vec::new();
        for arg in &args[3..] {
            let Some(id) = parse_i64(arg) else {
                return Reply::err("Invalid client ID");
            };
            if id > 0 && node.clients.contains_key(&(id as ClientId)) {
                ids.push(id as ClientId);
            }
        }
        ids
    } else {
        return Reply::syntax_error();
    };
    let text: String = ids.into_iter().map(|id| client_line(node, id)).collect();
    Reply::Verbatim("txt", text)
}

/// One `CLIENT LIST` line, newline included.
pub(crate) fn client_line(node: &Node, id: ClientId) -> String {
    let c = &node.clients[&id];
    let now_ms = node.now.mono_ms;
    let multi = c.multi.as_ref().map_or(-1, |q| q.len() as i64);
    let multi_mem = multi_mem(c);
    let b = c.buffers.sizes;
    let tot_mem = std::mem::size_of::<Client>() as u64
        + (c.session.argv_mem + multi_mem) as u64
        + b.query_bytes
        + b.query_free_bytes
        + b.list_bytes();
    let redir = match &c.session.tracking {
        None => -1,
        Some(t) => t.redirect.map_or(0, |r| r as i64),
    };
    let (sub, psub, ssub) = node.pubsub.counts(id);
    format!(
        "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db=0 sub={sub} psub={psub} ssub={ssub} \
         multi={multi} qbuf={} qbuf-free={} argv-mem={} multi-mem={multi_mem} rbs=0 rbp=0 obl={} \
         oll={} omem={} tot-mem={tot_mem} events=r cmd={} user=default redir={redir} resp={}\n",
        c.id,
        c.addr,
        c.local_addr,
        c.name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default(),
        now_ms.saturating_sub(c.created_ms) / 1000,
        now_ms.saturating_sub(c.last_command_ms) / 1000,
        flags(node, c),
        b.query_bytes,
        b.query_free_bytes,
        c.session.argv_mem,
        b.fixed_buffer_bytes(),
        b.list_blocks(),
        b.list_bytes(),
        c.session.last_cmd.unwrap_or("NULL"),
        c.protocol
    )
}

/// Redis's flag letters, in its order; `N` when none applies.
fn flags(node: &Node, c: &Client) -> String {
    let s = &c.session;
    let tracking = s.tracking.as_ref();
    let letters = [
        (s.monitor, 'O'),
        (node.repl.is_replica_client(c.id), 'S'),
        (node.pubsub.is_subscribed(c.id), 'P'),
        (c.multi.is_some(), 'x'),
        (node.is_parked(c.id), 'b'),
        (tracking.is_some(), 't'),
        (tracking.is_some_and(|t| t.broken_redirect), 'R'),
        (tracking.is_some_and(|t| t.bcast), 'B'),
        (watched_key_changed(node, c), 'd'),
        (c.readonly, 'r'),
        (s.no_evict, 'e'),
    ];
    let flags: String = letters
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, l)| l)
        .collect();
    if flags.is_empty() {
        "N".into()
    } else {
        flags
    }
}

/// A key the client WATCHes changed: its EXEC will fail (Redis's dirty-CAS flag).
fn watched_key_changed(node: &Node, c: &Client) -> bool {
    let now_ms = node.now.unix_ms;
    c.watched
        .iter()
        .any(|(key, seen)| node.db.get(key, now_ms).map(crate::db::EntryRef::to_entry) != *seen)
}

/// Redis's `multi-mem`: each queued argument's bytes plus one pointer for it.
fn multi_mem(c: &Client) -> usize {
    let queue = c.multi.as_deref().unwrap_or_default();
    queue
        .iter()
        .flat_map(|command| command.iter())
        .map(|arg| arg.len() + std::mem::size_of::<usize>())
        .sum()
}
