//! PSYNC, both sides: a partial resync from the backlog when the replica's history is one this
//! master can continue, else a full sync whose snapshot waits for `repl-diskless-sync-delay`.
//!
//! Master side (Redis's `masterTryPartialResynchronization`): `PSYNC <replid> <offset>`
//! continues when `replid` is this node's ID, or its previous ID with `offset` at most
//! `second_offset` (PSYNC2: the replica followed the master this node replaced, no further
//! than this node did), and the backlog still holds every byte from `offset` on. The reply
//! `+CONTINUE <replid>` and the backlog from `offset` go out at once. Otherwise the replica
//! waits for a full sync: when the replica waiting longest has waited the delay, every waiting
//! replica gets `+FULLRESYNC <replid> <offset>` and the one snapshot of that moment (Redis
//! sends `+FULLRESYNC` when it forks for the snapshot, not when PSYNC arrives). Either reply
//! travels in the replica client's stream, ahead of what follows it.
//!
//! Replica side (Redis's `slaveTryPartialResynchronization`): the driver asks
//! [`Node::replication_psync_args`] what to send, and reports `+CONTINUE` with
//! [`Node::replication_link_continue`] (the data stays, nothing is flushed) or `+FULLRESYNC`
//! with [`Node::replication_link_up`].

use super::*;
use crate::node::Node;

impl Node {
    // ---- master side ---------------------------------------------------------------------

    /// Answers the PSYNC of `client` (already a replica client) in its stream.
    pub(crate) fn answer_psync(&mut self, client: ClientId, replid: &str, offset: Option<i64>) {
        if let Some(backlog) = self.partial_resync_data(replid, offset) {
            self.stats.sync_partial_ok += 1;
            let mut data = format!("+CONTINUE {}\r\n", self.repl.replid).into_bytes();
            data.extend_from_slice(&backlog);
            let (sent, from) = (backlog.len(), offset.unwrap_or(0));
            self.log(
                LogLevel::Notice,
                format!(
                    "Partial resynchronization request from {} accepted. Sending {sent} bytes \
                     of backlog starting from offset {from}.",
                    self.clients[&client].addr
                ),
            );
            let data = Bytes::from(data);
            self.out.push(Effect::ReplicaStream { client, data });
            return;
        }
        if replid != "?" {
            self.stats.sync_partial_err += 1;
        }
        self.stats.sync_full += 1;
        if self.repl.backlog.is_none() {
            self.create_backlog_for_first_replica();
        }
        self.repl.waiting_full_sync.insert(client, self.now.mono_ms);
        if self.config.repl_diskless_sync_delay_s > 0 {
            self.log(LogLevel::Notice, "Delay next BGSAVE for diskless SYNC");
        }
        self.start_full_sync_if_due();
    }

    /// The backlog from the requested offset, when PSYNC may continue (see the module doc).
    fn partial_resync_data(&mut self, replid: &str, offset: Option<i64>) -> Option<Bytes> {
        let repl = &self.repl;
        let offset = offset.and_then(|o| u64::try_from(o).ok());
        let second_ok = offset.is_some_and(|o| o as i64 <= repl.second_offset);
        if replid != repl.replid && (replid != repl.replid2 || !second_ok) {
            let text = if replid == "?" {
                "Full resync requested by replica".to_string()
            } else if replid == repl.replid2 {
                format!(
                    "Partial resynchronization not accepted: Requested offset for second ID \
                     was {}, but I can reply up to {}",
                    offset.map_or(-1, |o| o as i64),
                    repl.second_offset
                )
            } else {
                format!(
                    "Partial resynchronization not accepted: Replication ID mismatch \
                     (Replica asked for '{replid}', my replication IDs are '{}' and '{}')",
                    repl.replid, repl.replid2
                )
            };
            self.log(LogLevel::Notice, text);
            return None;
        }
        let data = offset.and_then(|o| repl.backlog.as_ref()?.since(o));
        if data.is_none() {
            self.log(
                LogLevel::Notice,
                format!(
                    "Unable to partial resync with replica: lack of backlog (Replica request \
                     was: {}).",
                    offset.map_or(-1, |o| o as i64)
                ),
            );
        }
        data
    }

    /// Redis creates the backlog when a first replica attaches, under a new ID with no
    /// previous one: no replica may continue a history this node did not keep.
    fn create_backlog_for_first_replica(&mut self) {
        self.repl.replid = NodeId::random(&mut self.rng).to_string();
        self.repl.replid2 = "0".repeat(40);
        self.repl.second_offset = -1;
        self.repl.backlog = Some(Backlog::new(self.cluster.me().repl_offset));
        self.log(
            LogLevel::Notice,
            format!(
                "Replication backlog created, my new replication IDs are '{}' and '{}'",
                self.repl.replid, self.repl.replid2
            ),
        );
    }

    /// From PSYNC and the cron: once the replica waiting longest for a full sync has waited
    /// `repl-diskless-sync-delay`, every waiting replica gets `+FULLRESYNC` and one snapshot
    /// of now, an RDB file framed as Redis 7.0 frames it (Redis's `replicationStartPendingFork`;
    /// see the `transfer` module).
    pub(crate) fn start_full_sync_if_due(&mut self) {
        let Some(&first_ms) = self.repl.waiting_full_sync.values().min() else {
            return;
        };
        let delay_ms = self.config.repl_diskless_sync_delay_s * 1000;
        if self.now.mono_ms.saturating_sub(first_ms) < delay_ms {
            return;
        }
        let waiting = std::mem::take(&mut self.repl.waiting_full_sync);
        let offset = self.cluster.me().repl_offset;
        let replid = self.repl.replid.clone();
        let (rdb, key_bounds) = self.rdb_for_replicas(&replid, offset);
        // Diskless when configured and every replica of this snapshot reads the mark form
        // (Redis decides by the replicas' common capabilities).
        let diskless = self.config.repl_diskless_sync
            && waiting.keys().all(|c| self.repl.replicas[c].capa_eof);
        let target = if diskless { "replicas sockets" } else { "disk" };
        self.log(
            LogLevel::Notice,
            format!(
                "Starting BGSAVE for SYNC with target: {target} ({} replicas, offset {offset})",
                waiting.len()
            ),
        );
        // One random mark per snapshot, from the node's seeded rng (the simulator replays it).
        let mark = diskless.then(|| {
            let id = NodeId::random(&mut self.rng);
            <[u8; transfer::EOF_MARK_LEN]>::try_from(id.as_str().as_bytes()).expect("40 hex digits")
        });
        let payload = transfer::frame_payload(&rdb, mark.as_ref());
        // Where the file starts in the framed payload: key positions move with it.
        let header_len = payload.len() - rdb.len() - mark.map_or(0, |m| m.len());
        let keys_from = header_len + key_bounds.first().copied().unwrap_or(rdb.len());
        let key_ends = key_bounds
            .iter()
            .skip(1)
            .map(|end| header_len + end)
            .collect();
        self.emit(ClusterEvent::SnapshotTaken {
            replid: replid.clone(),
            offset,
        });
        let answer = format!("+FULLRESYNC {replid} {offset}\r\n").into_bytes();
        let clients = waiting
            .into_keys()
            .map(|c| {
                let psync = self.repl.replicas[&c].psync;
                (c, if psync { answer.clone() } else { Vec::new() })
            })
            .collect();
        self.start_snapshot_send(clients, payload, (keys_from, key_ends), diskless);
    }

    /// The snapshot as an RDB file, with the aux fields Redis adds for a replica (the
    /// history it is: `repl-id`, `repl-offset`, and the stream's db).
    fn rdb_for_replicas(&self, replid: &str, offset: u64) -> (Vec<u8>, Vec<usize>) {
        let extra = [
            ("repl-stream-db", "0".to_string()),
            ("repl-id", replid.to_string()),
            ("repl-offset", offset.to_string()),
        ];
        self.rdb_snapshot_with_key_ends(&extra)
    }

    // ---- replica side --------------------------------------------------------------------

    /// What this replica sends as `PSYNC <replid> <offset>` on `link`: its cached history's
    /// ID and the offset after it, or `? -1`. `None` when the link is no longer wanted.
    pub fn replication_psync_args(&mut self, link: ReplLinkId) -> Option<(String, String)> {
        self.repl.link.as_ref().filter(|l| l.id == link)?;
        let args = match &self.repl.cached_master {
            Some(c) => {
                let (replid, next) = (c.replid.clone(), c.offset + 1);
                self.log(
                    LogLevel::Notice,
                    format!("Trying a partial resynchronization (request {replid}:{next})."),
                );
                (replid, next.to_string())
            }
            None => {
                self.log(
                    LogLevel::Notice,
                    "Partial resynchronization not possible (no cached master)",
                );
                ("?".to_string(), "-1".to_string())
            }
        };
        Some(args)
    }

    /// The master answered `+CONTINUE <replid>`: this replica keeps its data and offset and
    /// follows the stream from there. Returns false when the link is no longer wanted, or
    /// when this node no longer has the history it asked to continue (the driver closes it).
    pub fn replication_link_continue(&mut self, now: Time, link: ReplLinkId, replid: &str) -> bool {
        self.set_time(now);
        let Some(cached) = self.repl.cached_master.clone() else {
            return false;
        };
        let offset = self.cluster.me().repl_offset;
        assert_eq!(cached.offset, offset, "a replica's data moved with no link");
        let replid = if replid.is_empty() {
            cached.replid.as_str()
        } else {
            replid
        };
        let Some(master) = self.start_link(now, link, replid, false) else {
            return false;
        };
        self.repl.cached_master = None;
        if replid != cached.replid {
            // The master was promoted since: my history goes on under its new ID.
            self.log(
                LogLevel::Notice,
                format!("Master replication ID changed to {replid}"),
            );
            self.repl.replid2 = cached.replid.clone();
            self.repl.second_offset = offset as i64 + 1;
            self.repl.replid = replid.to_string();
        }
        if self.repl.backlog.is_none() {
            self.repl.backlog = Some(Backlog::new(offset));
        }
        self.log(
            LogLevel::Notice,
            "Successful partial resynchronization with master.",
        );
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.",
        );
        self.emit(ClusterEvent::PartialResync { master, offset });
        self.replication_before_reply();
        true
    }
}

impl Replication {
    /// A replica applied `args` from its master's stream that no `feed_write` logs (the
    /// stream's `REPLCONF` commands): they are in the history all the same.
    pub(super) fn feed_backlog(&mut self, args: &[Bytes], size: u64) {
        if let Some(backlog) = &mut self.backlog {
            let mut data = Vec::new();
            cmd::propagate::encode_command(args, &mut data);
            backlog.feed(Bytes::from(data), size);
        }
    }
}
