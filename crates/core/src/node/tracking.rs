//! Client-side caching (`CLIENT TRACKING`): which keys each tracking client read, and the
//! `invalidate` push frames sent when someone then writes them.
//!
//! Keys are counted at the command level, as Redis's `call()` does: a read-only command's keys
//! are remembered for its client (default mode; OPTIN only after `CLIENT CACHING yes`, OPTOUT
//! unless `CLIENT CACHING no`), and a write command that succeeded invalidates its keys;
//! `FLUSHALL`/`FLUSHDB` invalidate everything (a null key list), and an expired key is
//! invalidated when it is removed. (Redis invalidates only keys a write really changed, and
//! also evicted keys; there is no eviction here.) BCAST clients hear of every written key under one of their
//! prefixes (or every key, without prefixes). A client hears of a key once, then forgets it.
//!
//! Delivery follows Redis: a RESP3 client gets `>2 invalidate [keys]` itself, or at its
//! `REDIRECT` target when that is RESP3; a RESP2 target would need to be subscribed to
//! `__redis__:invalidate`, and without pub/sub here it never is, so, as Redis does for an
//! unsubscribed RESP2 target, nothing is sent.

use bytes::Bytes;

use super::{ClientId, Node};
use crate::cmd::CommandSpec;
use crate::effect::Effect;
use crate::reply::Reply;

impl Node {
    /// After a command ran: remember the keys a tracking client read, or invalidate the keys
    /// a write changed.
    pub(super) fn track_command(
        &mut self,
        client: ClientId,
        spec: &CommandSpec,
        args: &[Bytes],
        reply: &Reply,
    ) {
        let anyone_tracks = self.clients.values().any(|c| c.session.tracking.is_some());
        if !anyone_tracks || reply.is_error() {
            return;
        }
        if matches!(spec.name, "flushall" | "flushdb") {
            self.invalidate_everything();
            return;
        }
        let keys: Vec<Bytes> = spec.keys(args).into_iter().cloned().collect();
        if keys.is_empty() {
            return;
        }
        if spec.is_write() {
            self.invalidate_keys(client, &keys);
        } else if spec.flags.contains(crate::cmd::CmdFlags::READONLY) {
            self.remember_keys(client, keys);
        }
    }

    /// A key expired: the tracking clients that read it hear of it, as of a write.
    pub(crate) fn tracked_key_expired(&mut self, key: &[u8]) {
        if self.clients.values().any(|c| c.session.tracking.is_some()) {
            // No client wrote it, so no NOLOOP applies (client ids start at 1).
            self.invalidate_keys(0, &[Bytes::copy_from_slice(key)]);
        }
    }

    fn remember_keys(&mut self, client: ClientId, keys: Vec<Bytes>) {
        let Some(t) = self
            .clients
            .get_mut(&client)
            .and_then(|c| c.session.tracking.as_mut())
        else {
            return;
        };
        let wanted = if t.bcast {
            false
        } else if t.optin {
            t.caching == Some(true)
        } else if t.optout {
            t.caching != Some(false)
        } else {
            true
        };
        if wanted {
            t.keys.extend(keys);
        }
    }

    /// A flush: every tracking client hears `invalidate` with a null key list and forgets
    /// what it read.
    fn invalidate_everything(&mut self) {
        let mut targets = Vec::new();
        for c in self.clients.values_mut() {
            if let Some(t) = c.session.tracking.as_mut() {
                t.keys.clear();
                targets.push(t.redirect.unwrap_or(c.id));
            }
        }
        for to in targets {
            if self.clients.get(&to).is_some_and(|c| c.protocol >= 3) {
                self.out.push(Effect::ClientPush {
                    client: to,
                    items: vec![Reply::bulk_str("invalidate"), Reply::Nil],
                });
            }
        }
    }

    /// Tells every tracking client that read (or, in BCAST, watches the prefix of) one of
    /// `keys`, except the writer itself when it asked for NOLOOP.
    fn invalidate_keys(&mut self, writer: ClientId, keys: &[Bytes]) {
        let live: Vec<ClientId> = self.clients.keys().copied().collect();
        // (target, keys, one frame for all of them): BCAST batches, the default mode sends one
        // frame per key, as Redis does.
        let mut pushes: Vec<(ClientId, Vec<Bytes>, bool)> = Vec::new();
        let mut broken: Vec<(ClientId, ClientId, usize)> = Vec::new();
        for c in self.clients.values_mut() {
            let Some(t) = c.session.tracking.as_mut() else {
                continue;
            };
            if t.noloop && c.id == writer {
                continue;
            }
            let hit: Vec<Bytes> = if t.bcast {
                keys.iter()
                    .filter(|k| {
                        t.prefixes.is_empty() || t.prefixes.iter().any(|p| k.starts_with(p))
                    })
                    .cloned()
                    .collect()
            } else {
                keys.iter().filter(|k| t.keys.remove(*k)).cloned().collect()
            };
            if hit.is_empty() {
                continue;
            }
            let to = t.redirect.unwrap_or(c.id);
            if to != c.id && !live.contains(&to) {
                // The target is gone: Redis tells the tracking client instead, once per
                // message it could not deliver.
                t.broken_redirect = true;
                let messages = if t.bcast { 1 } else { hit.len() };
                broken.push((c.id, to, messages));
                continue;
            }
            pushes.push((to, hit, t.bcast));
        }
        for (client, gone, messages) in broken {
            if self.clients[&client].protocol < 3 {
                continue;
            }
            for _ in 0..messages {
                self.out.push(Effect::ClientPush {
                    client,
                    items: vec![
                        Reply::bulk_str("tracking-redir-broken"),
                        Reply::Integer(gone as i64),
                    ],
                });
            }
        }
        for (to, keys, batched) in pushes {
            if self.clients.get(&to).is_none_or(|c| c.protocol < 3) {
                continue;
            }
            let frames: Vec<Vec<Bytes>> = if batched {
                vec![keys]
            } else {
                keys.into_iter().map(|k| vec![k]).collect()
            };
            for keys in frames {
                let keys = Reply::Array(keys.into_iter().map(Reply::Bulk).collect());
                self.out.push(Effect::ClientPush {
                    client: to,
                    items: vec![Reply::bulk_str("invalidate"), keys],
                });
            }
        }
    }
}
