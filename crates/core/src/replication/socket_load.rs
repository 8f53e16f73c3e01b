//! A replica loading a full sync straight from the socket, as Redis 7.0 does under
//! `repl-diskless-load on-empty-db|swapdb` (`useDisklessLoad`, `readSyncBulkPayload`).
//!
//! Whether it does is decided when `+FULLRESYNC` arrives: always under `swapdb`, under
//! `on-empty-db` only when the dataset is empty, never under `disabled` (the `loading` module
//! gathers the payload whole first). From the payload's header on, every piece the driver
//! hands over is parsed as it comes (`rdb::incremental`) and its whole keys are loaded at
//! `key-load-delay`:
//!
//! - `on-empty-db`: into the keyspace itself, flushed first; the node is loading (`-LOADING`).
//!   If the transfer fails the partly loaded keys are flushed again.
//! - `swapdb`: into a new keyspace; the old one and its keys-to-slots map stay. When the
//!   replica's own history is the one the master resyncs (its replication ID is the
//!   `+FULLRESYNC` one: the old data is an earlier point of the same data set) the load is
//!   Redis's *async loading*: the old data keeps being served, INFO says `async_loading:1`
//!   and `loading:0`, and only commands flagged `no-async-loading` get `-LOADING`; otherwise
//!   the node is loading as above. The new keyspace replaces the old one when the file is
//!   whole and loaded; if the transfer fails first it is dropped and the old data stays.
//!
//! Either way a failed transfer is a [`ClusterEvent::SyncLoadAborted`], and the link reconnects
//! as after any failure.

use std::collections::VecDeque;

use super::*;
use crate::config::DisklessLoad;
use crate::db::Db;
use crate::node::Node;
use crate::rdb::incremental::IncrementalRdb;
use crate::rdb::RdbError;

impl Node {
    /// Redis's `useDisklessLoad`: whether the coming payload loads from the socket.
    pub(super) fn use_diskless_load(&self) -> bool {
        match self.config.repl_diskless_load {
            DisklessLoad::Disabled => false,
            DisklessLoad::OnEmptyDb => self.db.is_empty(),
            DisklessLoad::Swapdb => true,
        }
    }

    /// Bytes of a payload that loads from the socket (see the module doc).
    pub(super) fn payload_from_socket(
        &mut self,
        link: ReplLinkId,
        data: &[u8],
    ) -> Result<usize, String> {
        let l = self.repl.link.as_mut().expect("checked by the caller");
        assert_eq!(l.id, link, "the payload's own link");
        // Data from the master: the link is alive (`repl-timeout`).
        l.last_io_ms = self.now.mono_ms;
        let reader = l.payload.as_mut().expect("awaiting a payload");
        let fed = reader.feed_streaming(data).map_err(|e| e.to_string())?;
        let header_read = reader.has_header() || fed.done;
        let announced = reader.announced_len();
        if fed.done {
            l.payload = None;
        }
        if header_read && self.repl.loading.is_none() {
            self.start_socket_loading(announced);
        }
        if let Err(e) = self.parse_socket_bytes(&fed.body, fed.done) {
            self.log(
                LogLevel::Warning,
                format!("Failed trying to load the MASTER synchronization DB from socket: {e}"),
            );
            self.abort_socket_loading();
            return Err(e.to_string());
        }
        self.advance_loading();
        self.replication_before_reply();
        Ok(fed.used)
    }

    /// The header is in: the load begins, into a new keyspace (`swapdb`) or the flushed one.
    fn start_socket_loading(&mut self, announced_len: Option<usize>) {
        let l = self.repl.link.as_ref().expect("the payload's link");
        let bytes_total = announced_len.unwrap_or(0) as u64;
        let mut loading = Loading::new(l, VecDeque::new(), bytes_total, self.now);
        loading.parser = Some(IncrementalRdb::new());
        loading.socket_bytes = Some(0);
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to parser",
        );
        let swapdb = self.config.repl_diskless_load == DisklessLoad::Swapdb;
        if swapdb {
            loading.is_async = self.repl.replid == loading.replid;
            let mut temp = Db::default();
            temp.set_access_now(self.db.access_policy(), self.now.unix_ms);
            loading.temp_db = Some(super::loading::TempDb(Box::new(temp)));
        } else {
            self.log(
                LogLevel::Notice,
                "MASTER <-> REPLICA sync: Flushing old data",
            );
            self.db.clear();
            crate::cmd::scripting::replace_libraries(self, &[]);
        }
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Loading DB in memory",
        );
        self.emit(ClusterEvent::SyncLoadStarted {
            from_socket: true,
            keeps_old_data: swapdb,
            async_loading: loading.is_async,
        });
        self.repl.loading = Some(loading);
    }

    /// Parses `body`, queueing the keys it completes; at the payload's end the file must be
    /// whole.
    fn parse_socket_bytes(&mut self, body: &[u8], done: bool) -> Result<(), RdbError> {
        let limits = &self.config.encoding_limits;
        let Some(loading) = self.repl.loading.as_mut() else {
            // Still before the header: nothing of the file yet.
            assert!(body.is_empty(), "payload bytes before its header");
            return Ok(());
        };
        let parser = loading.parser.as_mut().expect("the file is still arriving");
        let mut entries = parser.feed(body, limits)?;
        if done {
            entries.extend(parser.finish(limits)?);
        }
        *loading.socket_bytes.get_or_insert(0) += body.len() as u64;
        loading.keys_total += entries.len() as u64;
        loading.pending.extend(entries);
        if done {
            let parser = loading.parser.take().expect("checked");
            loading.rdb_used_mem = parser
                .aux("used-mem")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            loading.bytes_total = loading.socket_bytes.unwrap_or(0);
            loading.functions = parser.functions;
        }
        Ok(())
    }

    /// The transfer failed before the file was whole: `swapdb` drops the new keyspace and
    /// keeps the old data, `on-empty-db` flushes what it loaded. A load whose file is whole
    /// goes on (it no longer needs the link).
    pub(super) fn abort_socket_loading(&mut self) {
        let arriving = self
            .repl
            .loading
            .as_ref()
            .is_some_and(|l| l.parser.is_some());
        if !arriving {
            return;
        }
        let loading = self.repl.loading.take().expect("checked");
        let kept_old_data = loading.temp_db.is_some();
        if kept_old_data {
            self.log(
                LogLevel::Notice,
                "MASTER <-> REPLICA sync: Discarding temporary DB in background",
            );
        } else {
            self.db.clear();
            crate::cmd::scripting::replace_libraries(self, &[]);
        }
        assert!(self.repl.loading.is_none(), "the aborted load is gone");
        self.emit(ClusterEvent::SyncLoadAborted { kept_old_data });
    }

    /// `swapdb`'s end: the loaded keyspace and libraries replace the old ones (clients blocked
    /// on keys stay blocked on the same keys).
    pub(super) fn swap_in_loaded_db(&mut self, mut loaded: Db, functions: &[Bytes]) {
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Swapping active DB with loaded DB",
        );
        std::mem::swap(&mut self.db, &mut loaded);
        std::mem::swap(&mut self.db.ready, &mut loaded.ready);
        self.db
            .set_access_now(loaded.access_policy(), self.now.unix_ms);
        crate::cmd::scripting::replace_libraries(self, functions);
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Discarding old DB in background",
        );
    }
}
