//! A replica receiving and loading a full sync's RDB payload, as Redis does with
//! `repl-diskless-load disabled`: the payload is gathered whole (the old data still served),
//! then the old data is flushed and the file loaded, then the AOF restarts by a rewrite.
//! (`on-empty-db` and `swapdb` load from the socket instead: the `socket_load` module; the
//! stepping and the end below are shared.)
//!
//! Loading takes time: `key-load-delay` microseconds per key (Redis's debug knob; `-n` means
//! one microsecond per `n` keys). Rather than block, the node loads the keys due by its clock
//! at the payload's arrival and at each cron tick after, so the simulator's virtual clock
//! paces it as the real one does. Meanwhile the node is *loading*: `INFO persistence` says
//! `loading:1`, commands Redis refuses while loading get `-LOADING`, the replica announces
//! offset 0 (hidden from `CLUSTER SLOTS`, `health: loading` in `CLUSTER SHARDS`), sends no
//! `REPLCONF ACK`, and the master's stream that follows the payload is held until the end.
//! With the default delay of 0 the whole file loads in the call that completes the payload.

use std::collections::VecDeque;

use super::*;
use crate::db::Db;
use crate::node::Node;
use crate::rdb::{self, RdbEntry};

/// An RDB being loaded into the keyspace.
#[derive(Debug)]
pub struct Loading {
    /// Keys not loaded yet, in file order.
    pub(super) pending: VecDeque<RdbEntry>,
    pub keys_total: u64,
    pub keys_loaded: u64,
    /// The payload's size (`loading_total_bytes`).
    pub bytes_total: u64,
    /// `used-mem` from the file's aux fields (`loading_rdb_used_mem`).
    pub rdb_used_mem: u64,
    pub started_mono_ms: u64,
    pub started_unix_s: u64,
    /// The link whose payload this is, and the history it is (`+FULLRESYNC`'s replid, offset).
    pub(super) link: ReplLinkId,
    pub(super) replid: String,
    pub(super) offset: u64,
    /// Loading from the socket: the file still arriving (`None` once whole), and the payload
    /// bytes received so far.
    pub(super) parser: Option<rdb::incremental::IncrementalRdb>,
    pub(super) socket_bytes: Option<u64>,
    /// `swapdb`: the keyspace being loaded, swapped in at the end; the old one stays until
    /// then, and if the load fails.
    pub(super) temp_db: Option<TempDb>,
    /// The FUNCTION libraries to install at the swap (`swapdb` keeps the old ones meanwhile).
    pub(super) functions: Vec<Bytes>,
    /// Redis's async loading (`swapdb` over the history this replica already had): the old
    /// data is served meanwhile, and INFO says `async_loading:1`, `loading:0`.
    pub is_async: bool,
}

/// The keyspace a `swapdb` load builds (shown by its size).
pub(super) struct TempDb(pub(super) Box<Db>);

impl std::fmt::Debug for TempDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TempDb({} keys)", self.0.len())
    }
}

impl Loading {
    /// A load of `pending` (possibly more to come from the socket) for `link`'s sync.
    pub(super) fn new(
        link: &MasterLink,
        pending: VecDeque<RdbEntry>,
        bytes_total: u64,
        now: Time,
    ) -> Loading {
        Loading {
            keys_total: pending.len() as u64,
            pending,
            keys_loaded: 0,
            bytes_total,
            rdb_used_mem: 0,
            started_mono_ms: now.mono_ms,
            started_unix_s: now.unix_ms / 1000,
            link: link.id,
            replid: link.master_replid.clone(),
            offset: link.sync_offset,
            parser: None,
            socket_bytes: None,
            temp_db: None,
            functions: Vec::new(),
            is_async: false,
        }
    }

    /// What part of the file is loaded (`loading_loaded_bytes`): from the socket, the bytes
    /// received; else by keys, as bytes.
    pub fn loaded_bytes(&self) -> u64 {
        if let Some(bytes) = self.socket_bytes {
            return bytes;
        }
        match self.keys_total {
            0 => self.bytes_total,
            n => self.bytes_total * self.keys_loaded / n,
        }
    }
}

/// How many keys `delay` lets load in `elapsed_us` (see the module doc); the first key takes
/// a whole delay.
pub(crate) fn keys_due(elapsed_us: u64, delay: i64) -> u64 {
    match delay {
        0 => u64::MAX,
        d if d > 0 => elapsed_us / d as u64,
        d => elapsed_us.saturating_mul(d.unsigned_abs()),
    }
}

impl Node {
    /// Whether `link` is between `+FULLRESYNC` and the payload's last byte: the driver then
    /// hands the bytes it reads to [`Node::replication_payload`].
    pub fn replication_awaiting_payload(&self, link: ReplLinkId) -> bool {
        self.repl
            .link
            .as_ref()
            .is_some_and(|l| l.id == link && l.payload.is_some())
    }

    /// Bytes of the payload on `link`: returns how many it took. Once the payload is whole
    /// it is loaded (see the module doc). `Err` (a bad header, a damaged file) breaks the
    /// link; the old data stays.
    pub fn replication_payload(
        &mut self,
        now: Time,
        link: ReplLinkId,
        data: &[u8],
    ) -> Result<usize, String> {
        self.set_time(now);
        let Some(l) = self.repl.link.as_mut().filter(|l| l.id == link) else {
            return Ok(data.len());
        };
        if l.load_from_socket {
            return self.payload_from_socket(link, data);
        }
        let reader = l.payload.as_mut().expect("awaiting a payload");
        l.last_io_ms = now.mono_ms;
        let (used, rdb) = reader.feed(data).map_err(|e| e.to_string())?;
        let Some(rdb) = rdb else {
            return Ok(used);
        };
        l.payload = None;
        self.log(
            LogLevel::Notice,
            format!(
                "MASTER <-> REPLICA sync: receiving {} bytes from master to disk",
                rdb.len()
            ),
        );
        let contents = match rdb::decode(&rdb, &self.config.encoding_limits) {
            Ok((contents, _)) => contents,
            Err(e) => {
                self.log(
                    LogLevel::Warning,
                    format!("Failed trying to load the MASTER synchronization DB from disk: {e}"),
                );
                return Err(e.to_string());
            }
        };
        self.start_loading(link, contents, rdb.len() as u64);
        self.replication_before_reply();
        Ok(used)
    }

    /// Flushes the old data and starts loading `contents`.
    fn start_loading(&mut self, link: ReplLinkId, contents: rdb::RdbContents, bytes: u64) {
        let l = self.repl.link.as_ref().expect("the payload's link");
        let rdb_used_mem = contents.aux("used-mem").and_then(|v| v.parse().ok());
        let pending: VecDeque<RdbEntry> = contents.entries.into();
        let mut loading = Loading::new(l, pending, bytes, self.now);
        assert_eq!(loading.link, link, "the payload's own link");
        loading.rdb_used_mem = rdb_used_mem.unwrap_or(0);
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Flushing old data",
        );
        self.db.clear();
        crate::cmd::scripting::replace_libraries(self, &contents.functions);
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Loading DB in memory",
        );
        self.emit(ClusterEvent::SyncLoadStarted {
            from_socket: false,
            keeps_old_data: false,
            async_loading: false,
        });
        self.repl.loading = Some(loading);
        self.advance_loading();
    }

    /// Loads the keys due by now (from the payload's arrival and the cron) that have arrived;
    /// the last one of a whole file ends the full sync.
    pub(crate) fn advance_loading(&mut self) {
        let delay = self.config.key_load_delay;
        let now_ms = self.now.mono_ms;
        let Some(loading) = self.repl.loading.as_mut() else {
            return;
        };
        let elapsed_us = now_ms.saturating_sub(loading.started_mono_ms) * 1000;
        let due = keys_due(elapsed_us, delay).min(loading.keys_total);
        let db = match loading.temp_db.as_mut() {
            Some(temp) => &mut *temp.0,
            None => &mut self.db,
        };
        while loading.keys_loaded < due {
            let entry = loading
                .pending
                .pop_front()
                .expect("keys_loaded < keys_total");
            // A replica keeps keys already expired: its master's DEL will come.
            db.set_owned(&entry.key, entry.value, entry.expires_at_ms);
            loading.keys_loaded += 1;
        }
        assert_eq!(
            loading.pending.len() as u64,
            loading.keys_total - loading.keys_loaded,
            "every key loads once"
        );
        if loading.pending.is_empty() && loading.parser.is_none() {
            let loading = self.repl.loading.take().expect("checked");
            self.finish_loading(loading);
        }
    }

    /// The file is in: the data is the master's history now, its ID mine with no older one,
    /// and the backlog starts again here (Redis frees it before loading, then creates it).
    /// Redis stopped the AOF for the load and starts it again by a rewrite
    /// (`restartAOFAfterSYNC`): the new base replaces the old dataset's files whole.
    fn finish_loading(&mut self, loading: Loading) {
        let Loading {
            link,
            replid,
            offset,
            keys_loaded,
            temp_db,
            functions,
            socket_bytes,
            ..
        } = loading;
        if let Some(temp_db) = temp_db {
            self.swap_in_loaded_db(*temp_db.0, &functions);
        } else if socket_bytes.is_some() {
            // `on-empty-db` loaded into the flushed keyspace; its libraries come now.
            crate::cmd::scripting::replace_libraries(self, &functions);
        }
        self.log(
            LogLevel::Notice,
            format!("Done loading RDB, keys loaded: {keys_loaded}, keys expired: 0."),
        );
        if self.config.appendonly {
            self.rewrite_aof();
        }
        self.cluster.me_mut().repl_offset = offset;
        self.repl.replid = replid.clone();
        self.repl.replid2 = "0".repeat(40);
        self.repl.second_offset = -1;
        self.repl.backlog = Some(Backlog::new(offset));
        // `swapdb` kept the old history until now.
        self.repl.cached_master = None;
        let still_linked = self
            .repl
            .link
            .as_ref()
            .is_some_and(|l| l.id == link && l.up);
        if !still_linked {
            // The link broke while the file loaded: the data is that history all the same,
            // so the next PSYNC may continue it.
            self.repl.cached_master = Some(CachedMaster { replid, offset });
            return;
        }
        let l = self.repl.link.as_mut().expect("checked");
        l.loading = false;
        let held = std::mem::take(&mut l.held);
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Finished with success",
        );
        self.emit(ClusterEvent::ReplicationLinkUp { offset });
        // Acknowledge at once: a master that sent a diskless payload streams nothing more
        // until it hears from this replica (Redis's replica sends this ACK too).
        self.out.push(Effect::ReplicaAck { link, offset });
        let now = self.now;
        for (args, bytes_len) in held {
            if !self.replication_apply(now, link, &args, bytes_len) {
                break;
            }
        }
    }

    /// Whether this node is loading a dataset and refuses what Redis refuses meanwhile
    /// (Redis's `server.loading && !server.async_loading`).
    pub fn is_loading(&self) -> bool {
        self.repl.loading.as_ref().is_some_and(|l| !l.is_async)
    }

    /// Whether this replica loads a full sync into a new keyspace while it serves the old
    /// one (Redis's `server.async_loading`).
    pub fn is_async_loading(&self) -> bool {
        self.repl.loading.as_ref().is_some_and(|l| l.is_async)
    }
}

#[cfg(test)]
mod tests {
    use super::keys_due;

    #[test]
    fn key_load_delay_paces_keys_by_elapsed_time() {
        assert_eq!(keys_due(0, 0), u64::MAX);
        assert_eq!(keys_due(0, 4000), 0);
        assert_eq!(keys_due(3999, 4000), 0);
        assert_eq!(keys_due(100_000, 4000), 25);
        // Negative: one microsecond per n keys.
        assert_eq!(keys_due(1000, -10), 10_000);
        assert_eq!(keys_due(0, -10), 0);
    }
}
