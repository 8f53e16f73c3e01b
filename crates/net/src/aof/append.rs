//! Writing: opening the AOF (creating its files on a first start), appending the node's writes
//! and syncing them under the `appendfsync` policy.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clusterlab_core::config::AppendFsync;
use clusterlab_core::Config;

use super::fsync::{AofReport, Syncs};
use super::manifest::{
    aof_dir, file_name, manifest_path, rdb_base_name, AofFileInfo, AofFileKind, Manifest,
};
use super::{AofError, EVERYSEC_INTERVAL_MS};
use crate::disk::Disk;

/// The open AOF: where writes go and when they are synced.
///
/// The driver buffers the data of every `Effect::AppendAof` of a turn in order
/// ([`Aof::buffer_write`]) and writes it in one go at the turn's end ([`Aof::end_turn`]),
/// before writing the turn's replies: with `appendfsync always` the data is durable once
/// [`Aof::end_turn`] returns and the driver has held the node for [`Aof::take_stall`] (a slow
/// simulated disk). It calls [`Aof::tick`] from its 100 ms timer (the `everysec` background
/// sync, and writes postponed meanwhile: see the `fsync` module) and [`Aof::flush_and_sync`] on
/// SHUTDOWN and SIGTERM. [`Aof::take_reports`] says what the node must know.
///
/// A failed write or sync is fatal under `always` (the error is returned, and reported in
/// [`Aof::health`] like any other: Redis exits rather than acknowledge what it could not
/// persist). Under `everysec` and `no` it is not fatal: unwritten bytes wait in memory and
/// every append and tick retries them, and a failed `everysec` sync is retried a second
/// later, as Redis does.
pub struct Aof {
    disk: Arc<dyn Disk>,
    incr_path: PathBuf,
    policy: AppendFsync,
    /// `None` until the first sync, which `everysec` then does at once.
    last_sync_ms: Option<u64>,
    /// Bytes were appended since the last sync.
    dirty: bool,
    /// Bytes logged but not yet written (a write failed): they go first at the next try.
    pending: Vec<u8>,
    /// The incr file's length as written so far: a failed write is cut back to it.
    written_len: u64,
    health: AofHealth,
    startup_log: Vec<String>,
    /// The config the file names come from.
    config: Config,
    /// A replica's full sync loaded a new dataset that is not on disk yet: the new base (the
    /// snapshot, then every command appended since), waiting to replace the files whole.
    rewrite_pending: Option<Vec<u8>>,
    /// When installing `rewrite_pending` was last tried (retried once a second).
    rewrite_tried_ms: u64,
    /// The manifest a rewrite switched to, whose history files wait to be deleted until it
    /// is durable.
    history: Option<Manifest>,
    /// The replication offset of the last write appended (in `pending` or written).
    buffered_offset: u64,
    /// The replication offset of the last write in the file.
    written_offset: u64,
    syncs: Syncs,
}

/// The last failure of each kind, as the system described it (`None`: the last try worked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AofHealth {
    /// Writing to the file failed: bytes are waiting in memory.
    pub write: Option<String>,
    /// Syncing it failed: written bytes are only in the page cache.
    pub fsync: Option<String>,
}

/// The system's text for an error, without Rust's ` (os error N)` suffix (what Redis prints
/// with `strerror`).
pub fn error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if e.raw_os_error().is_some() => text[..at].to_string(),
        _ => text,
    }
}

impl Aof {
    /// Opens the AOF for appending, creating the base, incr and manifest files when the
    /// manifest is absent (or names no file). Call after [`load`](fn@super::load), which may cut
    /// the incr file.
    pub fn open(disk: Arc<dyn Disk>, config: &Config) -> Result<Aof, AofError> {
        let dir = aof_dir(config);
        let manifest_path = manifest_path(config);
        let manifest = match disk.read(&manifest_path).map_err(AofError::io(format!(
            "Can't read the AOF manifest {}",
            manifest_path.display()
        )))? {
            Some(bytes) => Manifest::parse(&bytes)?,
            None => Manifest::default(),
        };
        let mut startup_log = Vec::new();
        let incr = match manifest.incr.last() {
            Some(incr) => {
                startup_log.push(format!(
                    "Opening AOF incr file {} on server start",
                    incr.name
                ));
                incr.name.clone()
            }
            None => create_missing_files(&*disk, config, manifest, &mut startup_log)?,
        };
        let incr_path = dir.join(incr);
        // A listed incr file that does not exist yet is created by the first append.
        let written_len = match disk.len(&incr_path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            other => other,
        }
        .map_err(AofError::io(format!(
            "Can't open the append-only file {}",
            incr_path.display()
        )))?;
        Ok(Aof {
            disk,
            incr_path,
            policy: config.appendfsync,
            last_sync_ms: None,
            dirty: false,
            pending: Vec::new(),
            written_len,
            health: AofHealth::default(),
            startup_log,
            config: config.clone(),
            rewrite_pending: None,
            rewrite_tried_ms: 0,
            history: None,
            buffered_offset: 0,
            written_offset: 0,
            syncs: Syncs::default(),
        })
    }

    /// The file writes are appended to.
    pub fn incr_path(&self) -> &Path {
        &self.incr_path
    }

    /// What Redis logs at this point of start-up (`Creating AOF base file … on server start`).
    pub fn startup_log(&self) -> &[String] {
        &self.startup_log
    }

    /// `CONFIG SET appendfsync`.
    pub fn set_fsync_policy(&mut self, policy: AppendFsync) {
        self.policy = policy;
    }

    pub fn fsync_policy(&self) -> AppendFsync {
        self.policy
    }

    /// What failed last, if anything.
    pub fn health(&self) -> &AofHealth {
        &self.health
    }

    /// What happened since the last call that the node must know: syncs finished, writes
    /// postponed and resumed.
    pub fn take_reports(&mut self) -> Vec<AofReport> {
        self.syncs.take_reports()
    }

    /// How long the driver must hold the node (no input, no reply) for the syncs `always` ran
    /// on its thread since the last call: Redis's main thread is blocked in `fsync` that long.
    pub fn take_stall(&mut self) -> Duration {
        self.syncs.take_stall()
    }

    /// Appends RESP-encoded commands (see [`Aof::append_write`]), at the offset of the last
    /// write appended before.
    pub fn append(&mut self, data: &[u8], now_ms: u64) -> io::Result<()> {
        self.append_write(data, self.buffered_offset, now_ms)
    }

    /// Appends RESP-encoded commands whose last write is at replication offset `offset`.
    /// `always` syncs before returning; `everysec` starts a background sync when the last one
    /// is at least [`EVERYSEC_INTERVAL_MS`] old, and holds the data in memory while one is
    /// still running (see the `fsync` module); `no` leaves it to the OS. An error is returned
    /// only when it is fatal (see [`Aof`]).
    pub fn append_write(&mut self, data: &[u8], offset: u64, now_ms: u64) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.buffer_write(data, offset);
        self.end_turn(now_ms)
    }

    /// Adds RESP-encoded commands whose last write is at replication offset `offset` to the
    /// turn's buffer (Redis's `aof_buf`), writing nothing yet: [`Aof::end_turn`] writes the
    /// whole turn in one `write`, as Redis's `beforeSleep` does.
    pub fn buffer_write(&mut self, data: &[u8], offset: u64) {
        if data.is_empty() {
            return;
        }
        if let Some(base) = self.rewrite_pending.as_mut() {
            // The old files hold the old dataset: nothing goes there any more.
            base.extend_from_slice(data);
            return;
        }
        self.pending.extend_from_slice(data);
        self.buffered_offset = offset;
    }

    /// Whether [`Aof::end_turn`] has anything to write.
    pub fn has_buffered(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The end of a driver turn (Redis's `flushAppendOnlyFile(0)` in `beforeSleep`): writes
    /// what the turn buffered in one `write` and syncs as the policy says: under `always`
    /// once for the whole turn, before the driver sends the turn's replies (group commit);
    /// under `everysec` by starting the background sync when due. An error is returned only
    /// when it is fatal (see [`Aof`]).
    pub fn end_turn(&mut self, now_ms: u64) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.flush(now_ms)
    }

    /// From the driver's 100 ms timer: reports finished syncs, writes held-back bytes, and
    /// the `everysec` sync.
    pub fn tick(&mut self, now_ms: u64) -> io::Result<()> {
        self.delete_history_once_durable();
        if self.rewrite_pending.is_some() {
            if now_ms.saturating_sub(self.rewrite_tried_ms) >= EVERYSEC_INTERVAL_MS {
                self.install_rewrite(now_ms);
            }
            return Ok(());
        }
        self.flush(now_ms)
    }

    /// Redis's `flushAppendOnlyFile(0)`: writes the buffered bytes (unless `everysec` holds
    /// them for a running background sync), then syncs as the policy says.
    fn flush(&mut self, now_ms: u64) -> io::Result<()> {
        self.poll_syncs();
        if !self.pending.is_empty() {
            let hold = self.policy == AppendFsync::Everysec
                && self.syncs.background_running()
                && self.syncs.hold_writes(now_ms);
            if hold {
                return Ok(());
            }
            self.syncs.writing();
            self.write_pending()?;
        }
        match self.policy {
            AppendFsync::Always if self.dirty => self.sync(now_ms),
            AppendFsync::Everysec => {
                self.sync_if_due(now_ms);
                Ok(())
            }
            AppendFsync::Always | AppendFsync::No => Ok(()),
        }
    }

    /// Notes the syncs that finished by now (see [`Aof::take_reports`]).
    pub fn poll(&mut self) {
        self.poll_syncs();
    }

    /// Reports finished syncs; a failed background one is tried again a second later.
    fn poll_syncs(&mut self) {
        let before = self.syncs.background_running();
        match self.syncs.poll() {
            Some(e) => {
                self.dirty = true;
                self.health.fsync = Some(error_text(&e));
            }
            None if before && !self.syncs.background_running() => self.health.fsync = None,
            None => {}
        }
    }

    /// A replica's full sync finished loading `base` (RESP-encoded): the AOF becomes a new
    /// base file with it and a new empty incr file, the manifest naming them written last,
    /// so a crash at any point restarts on either the old files or the new ones whole. Redis
    /// stops the AOF before loading a sync's RDB and turns it on again by a rewrite
    /// (`readSyncBulkPayload`, `restartAOFAfterSYNC`); the old files stay the loaded ones
    /// until that rewrite finishes. A failed install is not fatal: writes are then refused
    /// (the write error is reported) and it is tried again a second later, the commands
    /// appended meanwhile kept with the base.
    pub fn rewrite(&mut self, base: &[u8], now_ms: u64) {
        // Held writes are part of the old dataset, which the new base replaces.
        self.syncs.writing();
        self.pending.clear();
        self.rewrite_pending = Some(base.to_vec());
        self.install_rewrite(now_ms);
    }

    /// Deletes the old files of the last rewrite once every sync started so far (the switched
    /// manifest's among them) is durable.
    fn delete_history_once_durable(&mut self) {
        if !self.disk.pending_sync().is_zero() {
            return;
        }
        if let Some(manifest) = self.history.take() {
            delete_history(&*self.disk, &self.config, manifest);
        }
    }

    fn install_rewrite(&mut self, now_ms: u64) {
        self.rewrite_tried_ms = now_ms;
        let Some(base) = self.rewrite_pending.as_deref() else {
            return;
        };
        match install_new_base(&*self.disk, &self.config, base) {
            Ok((incr_path, manifest)) => {
                self.incr_path = incr_path;
                self.written_len = 0;
                self.dirty = false;
                self.rewrite_pending = None;
                self.health = AofHealth::default();
                self.history = Some(manifest);
                self.delete_history_once_durable();
            }
            Err(e) => self.health.write = Some(error_text(&e)),
        }
    }

    /// Makes everything appended so far durable, whatever the policy (SHUTDOWN, SIGTERM).
    pub fn flush_and_sync(&mut self) -> io::Result<()> {
        if let Some(base) = self.rewrite_pending.as_deref() {
            let (incr_path, manifest) = install_new_base(&*self.disk, &self.config, base)?;
            self.incr_path = incr_path;
            self.rewrite_pending = None;
            self.history = Some(manifest);
            self.delete_history_once_durable();
            return Ok(());
        }
        if !self.pending.is_empty() {
            self.syncs.writing();
            self.disk.append(&self.incr_path, &self.pending)?;
            self.written_len += self.pending.len() as u64;
            self.pending.clear();
        }
        self.disk.sync(&self.incr_path)?;
        self.dirty = false;
        Ok(())
    }

    /// Writes the held-back bytes. A failure cuts any part that made it back off the file,
    /// so a retry never leaves half a record in the middle.
    fn write_pending(&mut self) -> io::Result<()> {
        match self.disk.append(&self.incr_path, &self.pending) {
            Ok(()) => {
                self.written_len += self.pending.len() as u64;
                self.pending.clear();
                self.written_offset = self.buffered_offset;
                self.dirty = true;
                self.health.write = None;
                Ok(())
            }
            Err(e) => {
                let _ = self.disk.truncate(&self.incr_path, self.written_len);
                // Reported under `always` too, though the error then stops the node: its
                // events say why it stopped.
                self.health.write = Some(error_text(&e));
                if self.policy == AppendFsync::Always {
                    return Err(e);
                }
                Ok(())
            }
        }
    }

    /// `everysec`: starts the background sync when a second passed since the last one, unless
    /// one is still running (then the next try is a second later, as Redis's `aof_last_fsync`
    /// moves on either way). A failed one is tried again a second later, not at every append.
    fn sync_if_due(&mut self, now_ms: u64) {
        let due = self
            .last_sync_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= EVERYSEC_INTERVAL_MS);
        if !(self.dirty && due) {
            return;
        }
        self.last_sync_ms = Some(now_ms);
        if self.syncs.background_running() {
            return;
        }
        self.dirty = false;
        let job = self.disk.start_sync(&self.incr_path);
        self.syncs
            .started(job, self.written_offset, true, Duration::ZERO);
        // A sync that finished at once (an instant disk) is reported by this same call.
        self.poll_syncs();
    }

    /// `always`: syncs on the node's thread; on a slow simulated disk the node is then held
    /// until the sync completes ([`Aof::take_stall`]).
    fn sync(&mut self, now_ms: u64) -> io::Result<()> {
        self.last_sync_ms = Some(now_ms);
        match self.disk.sync(&self.incr_path) {
            Ok(()) => {
                self.dirty = false;
                self.health.fsync = None;
                let wait = self.disk.pending_sync();
                let job = crate::disk::SyncJob::finished(Ok(()), wait);
                self.syncs.started(job, self.written_offset, false, wait);
                self.poll_syncs();
                Ok(())
            }
            Err(e) => {
                // Under `always` the node stops (Redis exits: "Can't persist AOF for fsync
                // error when the AOF fsync policy is 'always'"), the written bytes left in
                // the page cache: reported first, so its events show a failed sync.
                self.health.fsync = Some(error_text(&e));
                Err(e)
            }
        }
    }
}

/// First start (or a manifest without an incr file): creates what is missing, durably, and
/// writes the manifest last so it never names a file that does not exist. Existing files are
/// kept, never overwritten. Returns the incr file's name.
fn create_missing_files(
    disk: &dyn Disk,
    config: &Config,
    mut manifest: Manifest,
    log: &mut Vec<String>,
) -> Result<String, AofError> {
    let dir = aof_dir(config);
    let cant_open = |name: &str| AofError::io(format!("Can't open the append-only file {name}"));
    if manifest.is_empty() {
        let name = file_name(config, 1, AofFileKind::Base);
        let path = dir.join(&name);
        if disk.read(&path).map_err(cant_open(&name))?.is_none() {
            disk.write_atomic(&path, b"", true)
                .map_err(cant_open(&name))?;
        }
        log.push(format!("Creating AOF base file {name} on server start"));
        manifest.base = Some(AofFileInfo {
            name,
            seq: 1,
            kind: AofFileKind::Base,
        });
    }
    assert!(manifest.incr.is_empty(), "called with an incr file present");
    let name = file_name(config, 1, AofFileKind::Incr);
    let path = dir.join(&name);
    // An empty append creates the file; the sync makes its existence durable.
    disk.append(&path, b"").map_err(cant_open(&name))?;
    disk.sync(&path).map_err(cant_open(&name))?;
    log.push(format!("Creating AOF incr file {name} on server start"));
    manifest.incr.push(AofFileInfo {
        name: name.clone(),
        seq: 1,
        kind: AofFileKind::Incr,
    });
    let manifest_path = manifest_path(config);
    disk.write_atomic(&manifest_path, manifest.render().as_bytes(), true)
        .map_err(AofError::io(format!(
            "Can't persist the AOF manifest {}",
            manifest_path.display()
        )))?;
    Ok(name)
}

/// Writes `base` as a new base file and an empty new incr file (both durable), then the
/// manifest naming them (the old files listed as history, never loaded again). Returns the new
/// incr file's path.
fn install_new_base(
    disk: &dyn Disk,
    config: &Config,
    base: &[u8],
) -> io::Result<(PathBuf, Manifest)> {
    let dir = aof_dir(config);
    let manifest_path = manifest_path(config);
    let old = match disk.read(&manifest_path)? {
        Some(bytes) => Manifest::parse(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}")))?,
        None => Manifest::default(),
    };
    let seq = old
        .base
        .iter()
        .chain(&old.history)
        .chain(&old.incr)
        .map(|info| info.seq)
        .max()
        .unwrap_or(0)
        + 1;
    let base_name = if clusterlab_core::rdb::is_rdb(base) {
        rdb_base_name(config, seq)
    } else {
        file_name(config, seq, AofFileKind::Base)
    };
    disk.write_atomic(&dir.join(&base_name), base, true)?;
    let incr_name = file_name(config, seq, AofFileKind::Incr);
    let incr_path = dir.join(&incr_name);
    disk.write_atomic(&incr_path, b"", true)?;
    let history = old
        .base
        .into_iter()
        .chain(old.history)
        .chain(old.incr)
        .map(|info| AofFileInfo {
            kind: AofFileKind::History,
            ..info
        })
        .collect();
    let manifest = Manifest {
        base: Some(AofFileInfo {
            name: base_name,
            seq,
            kind: AofFileKind::Base,
        }),
        history,
        incr: vec![AofFileInfo {
            name: incr_name,
            seq,
            kind: AofFileKind::Incr,
        }],
    };
    disk.write_atomic(&manifest_path, manifest.render().as_bytes(), true)?;
    Ok((incr_path, manifest))
}

/// Deletes the files the switched manifest marks as history, then drops them from it, as
/// Redis does after a rewrite (so the AOF stays as big as the dataset, not its history). A
/// crash in between leaves history entries, which loading skips. Called only once the
/// switched manifest is durable: before, a power loss could bring back the old manifest,
/// which names these files (seed 990568, on a slow disk).
fn delete_history(disk: &dyn Disk, config: &Config, mut manifest: Manifest) {
    if manifest.history.is_empty() {
        return;
    }
    for info in std::mem::take(&mut manifest.history) {
        let path = aof_dir(config).join(&info.name);
        if let Err(e) = disk.remove(&path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!("Could not delete the AOF history file {}: {e}", info.name);
                return;
            }
        }
    }
    if let Err(e) = disk.write_atomic(&manifest_path(config), manifest.render().as_bytes(), true) {
        tracing::warn!("Could not save the AOF manifest without its history: {e}");
    }
}
