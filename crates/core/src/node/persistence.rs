//! Snapshots and AOF rewrites as the node decides them: `SAVE`/`BGSAVE`, the `save` schedule,
//! loading an RDB file, `BGREWRITEAOF`, the automatic rewrite by `auto-aof-rewrite-percentage`
//! and `auto-aof-rewrite-min-size`, and turning the AOF on and off at run time.
//!
//! The node builds the bytes (an RDB file, or an AOF base) and hands them to the driver as an
//! effect; the driver writes them and reports back with [`Node::rdb_saved`]. Redis forks a child
//! for a background save or rewrite; here the snapshot is taken at once (the node is a value,
//! copying it is the child's copy-on-write view), so "in progress" lasts only until the
//! driver's report.

use bytes::Bytes;

use super::{ClientId, Effect, LogLevel, Node};
use crate::cmd::dump::Compression;
use crate::cmd::propagate::encode_command;
use crate::rdb::{self, RdbContents};
use crate::reply::Reply;

/// What INFO's persistence section reports, and what the schedules decide from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Persistence {
    /// Writes since the last successful save (`rdb_changes_since_last_save`).
    pub(crate) dirty: u64,
    /// `dirty` when the save under way started: what a successful save subtracts.
    dirty_at_save: u64,
    /// Unix seconds of the last successful save (`LASTSAVE`); the start time before any.
    pub(crate) last_save_unix_s: u64,
    /// Whether the last save attempt worked (`rdb_last_bgsave_status`).
    pub(crate) last_save_failed: bool,
    /// Saves that succeeded (`rdb_saves`).
    pub(crate) saves: u64,
    /// A save was handed to the driver and has not been reported yet.
    pub(crate) save_in_progress: bool,
    /// When the last save attempt started (mono ms): a failed one is retried only after
    /// Redis's 5 s back-off (`CONFIG_BGSAVE_RETRY_DELAY`).
    last_save_try_ms: u64,
    /// Bytes appended to the AOF since start-up or the last rewrite, and the base's size
    /// (`aof_current_size`, `aof_base_size`).
    pub(crate) aof_current_size: u64,
    pub(crate) aof_base_size: u64,
    /// Rewrites done (`aof_rewrites`).
    pub(crate) aof_rewrites: u64,
}

impl Persistence {
    /// A node just started: "last saved" is now, as Redis counts it.
    pub(crate) fn starting_at(now: super::Time) -> Persistence {
        Persistence {
            last_save_unix_s: now.unix_ms / 1000,
            ..Persistence::default()
        }
    }
}

/// Redis waits this long after a failed background save before the `save` schedule tries
/// again.
const SAVE_RETRY_DELAY_MS: u64 = 5000;

impl Node {
    /// The whole keyspace as an RDB file, with the aux fields Redis 7.0 writes.
    pub fn rdb_snapshot(&self) -> Vec<u8> {
        self.rdb_snapshot_with(&[])
    }

    /// [`Node::rdb_snapshot`] with `extra` aux fields after Redis's usual ones.
    pub(crate) fn rdb_snapshot_with(&self, extra: &[(&str, String)]) -> Vec<u8> {
        self.rdb_snapshot_with_key_ends(extra).0
    }

    /// [`Node::rdb_snapshot_with`], and where each key ends in it (`rdb::encode_with_key_ends`).
    pub(crate) fn rdb_snapshot_with_key_ends(
        &self,
        extra: &[(&str, String)],
    ) -> (Vec<u8>, Vec<usize>) {
        let mut aux = vec![
            ("redis-ver", crate::cmd::server::REDIS_VERSION.to_string()),
            ("redis-bits", "64".to_string()),
            ("ctime", (self.now.unix_ms / 1000).to_string()),
            ("used-mem", self.db.used_memory_estimate().to_string()),
            ("aof-base", "0".to_string()),
        ];
        aux.extend(extra.iter().cloned());
        let functions = crate::cmd::scripting::library_codes(self);
        let options = rdb::WriteOptions {
            compression: self.rdb_compression(),
            checksum: self.config.rdb_checksum,
        };
        rdb::encode_with_key_ends(&self.db, &aux, &functions, options)
    }

    /// How the RDB writer stores strings (`rdbcompression`): in files, DUMP and MIGRATE.
    pub(crate) fn rdb_compression(&self) -> Compression {
        Compression::from_config(self.config.rdb_compression)
    }

    /// Hands a snapshot to the driver (`SaveRdb`); `client` (SAVE) waits for the outcome.
    pub(crate) fn start_save(&mut self, client: Option<ClientId>) {
        self.persistence.save_in_progress = true;
        self.persistence.dirty_at_save = self.persistence.dirty;
        self.persistence.last_save_try_ms = self.now.mono_ms;
        let info = self.replication_save_info();
        let data = Bytes::from(self.rdb_snapshot_with(&info));
        self.out.push(Effect::SaveRdb { data, client });
    }

    /// The driver's report on a `SaveRdb`: `Err` carries the reason (an I/O error's text).
    /// A waiting SAVE gets `+OK` or Redis's error.
    pub fn rdb_saved(&mut self, client: Option<ClientId>, result: Result<(), String>) {
        let p = &mut self.persistence;
        p.save_in_progress = false;
        p.last_save_failed = result.is_err();
        let reply = match &result {
            Ok(()) => {
                p.dirty = p.dirty.saturating_sub(p.dirty_at_save);
                p.saves += 1;
                p.last_save_unix_s = self.now.unix_ms / 1000;
                self.log(LogLevel::Notice, "DB saved on disk");
                Reply::ok()
            }
            Err(e) => {
                self.log(LogLevel::Warning, format!("Error saving DB on disk: {e}"));
                // Redis answers a failed SAVE with its bare generic error.
                Reply::Error("ERR".into())
            }
        };
        if let Some(client) = client {
            self.out.push(Effect::UnblockClient { client, reply });
        }
    }

    /// Start-up, at `now`: the keys of an RDB file (`dump.rdb`, or an AOF base with the preamble). A
    /// master drops keys whose TTL has passed; a replica keeps them for its master's `DEL`,
    /// as Redis's loader does.
    pub fn load_rdb_at(&mut self, now: super::Time, mut contents: RdbContents) {
        self.set_time(now);
        let aux = std::mem::take(&mut contents.aux);
        self.load_rdb(contents);
        self.restore_replication_info(&aux);
    }

    /// [`Node::load_rdb_at`] at the node's current time.
    pub(crate) fn load_rdb(&mut self, contents: RdbContents) {
        crate::cmd::scripting::replace_libraries(self, &contents.functions);
        let is_master = !self.cluster.me().is_replica();
        let now_ms = self.now.unix_ms;
        for entry in contents.entries {
            if is_master && entry.expires_at_ms.is_some_and(|at| at <= now_ms) {
                continue;
            }
            self.db
                .set_owned(&entry.key, entry.value, entry.expires_at_ms);
        }
    }

    /// Starts an AOF rewrite: the new base (an RDB file under `aof-use-rdb-preamble yes`,
    /// else commands that rebuild every key) replaces the files at the driver.
    pub(crate) fn rewrite_aof(&mut self) {
        let base = if self.config.aof_use_rdb_preamble {
            self.rdb_snapshot()
        } else {
            self.aof_base_commands()
        };
        self.persistence.aof_base_size = base.len() as u64;
        self.persistence.aof_current_size = base.len() as u64;
        self.persistence.aof_rewrites += 1;
        self.aof_db_selected = false;
        self.log(
            LogLevel::Notice,
            "Background append only file rewriting started",
        );
        self.out.push(Effect::RewriteAof {
            base: Bytes::from(base),
        });
    }

    /// `SELECT 0`, then per key a `RESTORE … ABSTTL` of its DUMP payload (the commands a
    /// full sync's snapshot is made of), so every type rebuilds exactly.
    fn aof_base_commands(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_command(
            &[Bytes::from_static(b"SELECT"), Bytes::from_static(b"0")],
            &mut out,
        );
        for entry in self.db.entries_in_order() {
            let payload = crate::cmd::dump::dump_payload(entry.value, self.rdb_compression());
            let at_ms = entry.expires_at_ms.unwrap_or(0).to_string();
            let args = [
                Bytes::from_static(b"RESTORE"),
                Bytes::copy_from_slice(entry.key),
                Bytes::from(at_ms),
                payload,
                Bytes::from_static(b"ABSTTL"),
            ];
            encode_command(&args, &mut out);
        }
        if let Some(restore) = crate::cmd::scripting::functions_restore_command(self) {
            encode_command(&restore, &mut out);
        }
        out
    }

    /// `CONFIG SET appendonly`: on, a rewrite writes the dataset as the new base and appends
    /// follow it; off, the driver syncs and closes the file.
    pub(crate) fn appendonly_changed(&mut self, on: bool) {
        if on {
            self.rewrite_aof();
        } else {
            self.out.push(Effect::StopAof);
        }
    }

    /// Before stopping (SHUTDOWN, SIGTERM): a last snapshot when `save` points are configured
    /// (`wanted: None`) or SHUTDOWN SAVE asked (`Some(true)`); none for NOSAVE (`Some(false)`),
    /// as Redis's `prepareForShutdown` decides.
    pub fn save_before_shutdown(&mut self, wanted: Option<bool>) {
        let wanted = wanted.unwrap_or_else(|| self.config.save_points().next().is_some());
        if wanted {
            self.start_save(None);
        }
    }

    /// Counts a write for the `save` schedule.
    pub(crate) fn count_change(&mut self) {
        self.persistence.dirty += 1;
    }

    /// Counts bytes appended to the AOF, for the automatic rewrite.
    pub(crate) fn count_aof_bytes(&mut self, len: usize) {
        self.persistence.aof_current_size += len as u64;
    }

    /// The `save` schedule and the automatic AOF rewrite, from the cron.
    pub(crate) fn persistence_cron(&mut self) {
        if self.persistence.save_in_progress {
            return;
        }
        if self.save_due() {
            self.start_save(None);
        } else if self.aof_rewrite_due() {
            self.rewrite_aof();
        }
    }

    /// A `save <seconds> <changes>` pair is met (and a failed save is not being backed off).
    fn save_due(&self) -> bool {
        let p = &self.persistence;
        let since_save_s = (self.now.unix_ms / 1000).saturating_sub(p.last_save_unix_s);
        let backing_off = p.last_save_failed
            && self.now.mono_ms.saturating_sub(p.last_save_try_ms) < SAVE_RETRY_DELAY_MS;
        !backing_off
            && self
                .config
                .save_points()
                .any(|(seconds, changes)| p.dirty >= changes && since_save_s >= seconds)
    }

    /// The AOF grew past `auto-aof-rewrite-min-size` and by `auto-aof-rewrite-percentage`
    /// of its size after the last rewrite.
    fn aof_rewrite_due(&self) -> bool {
        let p = &self.persistence;
        let percentage = self.config.auto_aof_rewrite_percentage;
        if !self.config.appendonly || percentage == 0 {
            return false;
        }
        let base = p.aof_base_size.max(1);
        let growth_pct = p.aof_current_size.saturating_sub(base) * 100 / base;
        p.aof_current_size > self.config.auto_aof_rewrite_min_size && growth_pct >= percentage
    }
}
