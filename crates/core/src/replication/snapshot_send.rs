//! A master sending a full sync's snapshot, as Redis 7.0 paces it and puts the replica online.
//!
//! The snapshot is taken at once (the fork), but producing the file takes
//! `rdb-key-save-delay` microseconds per key (Redis's debug knob, `-n`: one microsecond per `n`
//! keys). Diskless (`$EOF:` framing) the bytes go out as they are produced: the cron sends the
//! file up to the last key due by the clock. Disk-based (`$<len>`) the file is written first
//! and sent whole once done. Until then the replica's stream is held (it follows the file).
//!
//! After a diskless payload Redis waits for the replica's first `REPLCONF ACK` before it
//! streams to it (`repl_put_online_on_ack`: the ACK says the replica found the end mark and
//! loaded the file); after a disk-based one the stream follows at once. While a replica waits
//! for its snapshot to start (`repl-diskless-sync-delay`) or for a disk-based file to be
//! written, the master sends it a bare `\n` once a second, which the replica skips, so neither
//! side times the link out.

use super::*;
use crate::node::Node;

/// How often a waiting replica gets a keep-alive newline (Redis's replication cron).
const NEWLINE_INTERVAL_MS: u64 = 1000;

/// One snapshot being produced and sent to the replicas that share it.
#[derive(Clone, Debug)]
pub(super) struct SnapshotSend {
    pub(super) clients: Vec<ClientId>,
    /// The framed payload (`transfer::frame_payload`).
    pub(super) payload: Bytes,
    /// Where the keys start, and where each ends, in `payload`.
    pub(super) keys_from: usize,
    pub(super) key_ends: Vec<usize>,
    /// Bytes of `payload` sent so far.
    pub(super) sent: usize,
    pub(super) started_mono_ms: u64,
    pub(super) diskless: bool,
}

impl SnapshotSend {
    /// How much of the payload is out by `now_ms` at `delay` µs per key, and whether all is.
    fn due(&self, now_ms: u64, delay: i64) -> (usize, bool) {
        let elapsed_us = now_ms.saturating_sub(self.started_mono_ms) * 1000;
        let keys = super::loading::keys_due(elapsed_us, delay);
        let total = self.key_ends.len() as u64;
        if keys >= total {
            return (self.payload.len(), true);
        }
        if !self.diskless {
            return (0, false);
        }
        let upto = match keys {
            0 => self.keys_from,
            k => self.key_ends[k as usize - 1],
        };
        (upto, false)
    }
}

impl Node {
    /// Starts sending `payload` (the keys from `keys_from`, each ending at `key_ends`) to
    /// `clients`, each after its own `answer` (`+FULLRESYNC …`, none for SYNC) and with its
    /// stream held behind it; what is due goes out at once, in one piece with the answer.
    pub(super) fn start_snapshot_send(
        &mut self,
        clients: Vec<(ClientId, Vec<u8>)>,
        payload: Vec<u8>,
        (keys_from, key_ends): (usize, Vec<usize>),
        diskless: bool,
    ) {
        assert!(
            key_ends.windows(2).all(|w| w[0] < w[1]),
            "keys in file order"
        );
        let mut send = SnapshotSend {
            clients: clients.iter().map(|(c, _)| *c).collect(),
            payload: Bytes::from(payload),
            keys_from,
            key_ends,
            sent: 0,
            started_mono_ms: self.now.mono_ms,
            diskless,
        };
        let (upto, _) = send.due(self.now.mono_ms, self.config.rdb_key_save_delay);
        for (client, mut data) in clients {
            let replica = self
                .repl
                .replicas
                .get_mut(&client)
                .expect("a waiting replica");
            replica.held = Some(Vec::new());
            data.extend_from_slice(&send.payload[..upto]);
            if !data.is_empty() {
                let data = Bytes::from(data);
                self.out.push(Effect::ReplicaStream { client, data });
            }
        }
        send.sent = upto;
        self.repl.sends.push(send);
        self.advance_snapshot_sends();
    }

    /// From the cron (and at the start): each snapshot's bytes due by now go out; a finished
    /// one puts its replicas online, or on the way there.
    pub(super) fn advance_snapshot_sends(&mut self) {
        let delay = self.config.rdb_key_save_delay;
        let now_ms = self.now.mono_ms;
        let mut finished = Vec::new();
        for (i, send) in self.repl.sends.iter_mut().enumerate() {
            let (upto, done) = send.due(now_ms, delay);
            if upto > send.sent {
                let data = send.payload.slice(send.sent..upto);
                for &client in &send.clients {
                    if self.repl.replicas.contains_key(&client) {
                        let data = data.clone();
                        self.out.push(Effect::ReplicaStream { client, data });
                    }
                }
                send.sent = upto;
            }
            if done {
                finished.push(i);
            }
        }
        for i in finished.into_iter().rev() {
            let send = self.repl.sends.remove(i);
            assert_eq!(
                send.sent,
                send.payload.len(),
                "a finished send sent everything"
            );
            for client in send.clients {
                self.snapshot_sent(client, send.diskless);
            }
        }
    }

    /// `client` has its whole snapshot: an `rdb-only` client is closed, a diskless one waits
    /// for its first ACK, a disk-based one gets its stream now.
    fn snapshot_sent(&mut self, client: ClientId, diskless: bool) {
        let Some(replica) = self.repl.replicas.get_mut(&client) else {
            return;
        };
        if replica.rdb_only {
            // It wanted the file only: Redis closes it once the transfer is done.
            self.out.push(Effect::CloseClient { client });
            return;
        }
        let addr = format!("{}:{}", replica.ip, replica.port);
        if diskless {
            replica.online_on_ack = true;
            self.log(
                LogLevel::Notice,
                format!(
                    "Streamed RDB transfer with replica {addr} succeeded (socket). Waiting for \
                     REPLCONF ACK from replica to enable streaming"
                ),
            );
            return;
        }
        self.log(
            LogLevel::Notice,
            format!("Synchronization with replica {addr} succeeded"),
        );
        self.put_replica_online(client);
    }

    /// `REPLCONF ACK` from `client`: the first one after a diskless payload puts it online.
    pub(crate) fn replica_acked(&mut self, client: ClientId) {
        let Some(replica) = self.repl.replicas.get_mut(&client) else {
            return;
        };
        if !replica.online_on_ack {
            return;
        }
        replica.online_on_ack = false;
        let addr = format!("{}:{}", replica.ip, replica.port);
        self.log(
            LogLevel::Notice,
            format!("Synchronization with replica {addr} succeeded"),
        );
        self.put_replica_online(client);
    }

    /// The stream held for `client` goes out, and the rest follows as it comes.
    fn put_replica_online(&mut self, client: ClientId) {
        let replica = self.repl.replicas.get_mut(&client).expect("checked");
        let held = replica.held.take().unwrap_or_default();
        assert!(!replica.online_on_ack, "online means streamed to");
        if held.is_empty() {
            return;
        }
        let data = Bytes::from(held.concat());
        self.out.push(Effect::ReplicaStream { client, data });
    }

    /// From the cron: a newline, once a second, to replicas waiting for their snapshot to
    /// start or for a disk-based file to be written.
    pub(super) fn send_newline_keepalives(&mut self) {
        let now_ms = self.now.mono_ms;
        if now_ms.saturating_sub(self.repl.last_newline_ms) < NEWLINE_INTERVAL_MS {
            return;
        }
        self.repl.last_newline_ms = now_ms;
        let waiting = self.repl.waiting_full_sync.keys().copied();
        let writing = self
            .repl
            .sends
            .iter()
            .filter(|s| !s.diskless)
            .flat_map(|s| s.clients.iter().copied());
        let clients: BTreeSet<ClientId> = waiting.chain(writing).collect();
        for client in clients {
            if self.repl.replicas.contains_key(&client) {
                let data = Bytes::from_static(b"\n");
                self.out.push(Effect::ReplicaStream { client, data });
            }
        }
    }
}
