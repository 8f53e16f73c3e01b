//! Client-side caching (`CLIENT TRACKING`): which keys each tracking client read, and the
//! `invalidate` push frames sent when someone then writes them.
//!
//! Keys are counted at the command level, as Redis's `call()` does: a read-only command's keys
//! are remembered for its client (default mode; OPTIN only after `CLIENT CACHING yes`, OPTOUT
//! unless `CLIENT CACHING no`), and a write command that succeeded invalidates its keys. (Redis
//! invalidates only keys a write really changed, and also expired, evicted and flushed keys;
//! those are not tracked here.) BCAST clients hear of every written key under one of their
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

    /// Tells every tracking client that read (or, in BCAST, watches the prefix of) one of
    /// `keys`, except the writer itself when it asked for NOLOOP.
    fn invalidate_keys(&mut self, writer: ClientId, keys: &[Bytes]) {
        // (target, keys, one frame for all of them): BCAST batches, the default mode sends one
        // frame per key, as Redis does.
        let mut pushes: Vec<(ClientId, Vec<Bytes>, bool)> = Vec::new();
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
            if !hit.is_empty() {
                pushes.push((t.redirect.unwrap_or(c.id), hit, t.bcast));
            }
        }
        for (to, keys, batched) in pushes {
            if !self.clients.get(&to).is_some_and(|c| c.protocol >= 3) {
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
