//! Where a node's files live: `nodes.conf`, the AOF and their locks.
//!
//! Everything the node runtime persists goes through the [`Disk`] trait, so the very same
//! server code writes real files in a `clusterlab node` process ([`FileDisk`]) and an in-memory
//! image inside the simulator ([`MemDisk`]), where `std::fs` must not be touched. [`MemDisk`]
//! tracks which bytes reached stable storage, so the simulator can drop the rest on a crash.
//!
//! All calls but [`Disk::start_sync`] are synchronous: they run while the node's lock is held,
//! which is what keeps persistence ordered with the effects and replies of the call that asked
//! for it. A simulated slow disk ([`MemDisk::set_fsync_ms`]) cannot block the virtual clock:
//! its syncs return at once and complete later, and [`Disk::pending_sync`] tells the caller how
//! long it must behave as if the call were still blocked.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

mod sync_job;

pub use sync_job::SyncJob;
use sync_job::SyncQueue;

/// Held for as long as a file must not be used by another node (released on drop).
pub struct DiskLock {
    _held: Box<dyn std::any::Any + Send + Sync>,
}

/// Storage for one node.
pub trait Disk: Send + Sync {
    /// Replaces the whole file: afterwards readers see either the old or the new bytes, never a
    /// mix. With `fsync`, the new contents (and the rename) are durable when this returns.
    fn write_atomic(&self, path: &Path, bytes: &[u8], fsync: bool) -> io::Result<()>;
    /// The file's contents, or `None` when it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Appends to the file, creating it (and its directory) if needed; not yet durable.
    fn append(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything written to the file so far durable.
    fn sync(&self, path: &Path) -> io::Result<()>;
    /// Cuts the file down to its first `len` bytes (never extends it); not yet durable.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// The file's length in bytes (`NotFound` when it does not exist).
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Takes the exclusive lock on `path`; `ErrorKind::WouldBlock` when someone else holds it.
    fn lock(&self, path: &Path) -> io::Result<DiskLock>;
    /// Deletes the file (an AOF rewrite's old files). `NotFound` when it does not exist.
    fn remove(&self, path: &Path) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{}: this disk cannot delete files", path.display()),
        ))
    }
    /// Starts [`Disk::sync`] off the caller's thread (Redis's background fsync); the job says
    /// when it has finished. By default the sync runs now and the job is finished at once.
    fn start_sync(&self, path: &Path) -> SyncJob {
        let result = self.sync(path);
        SyncJob::finished(result, self.pending_sync())
    }
    /// How long until every sync started so far is durable, on a disk whose syncs return
    /// before they complete (the simulated slow disk): a caller that must block on its sync
    /// (`appendfsync always`, a `nodes.conf` save) waits this out. Zero on a real disk, whose
    /// sync blocks for as long as it takes.
    fn pending_sync(&self) -> Duration {
        Duration::ZERO
    }
}

// ---- real files ---------------------------------------------------------------------------

/// Real files through `std::fs`. Only for real processes: the simulator uses [`MemDisk`].
///
/// Files appended to stay open, as Redis keeps its AOF open: opening and closing the file on
/// every append cost more than the write itself. A handle is dropped when its path is
/// replaced or removed, so the next append opens the new file.
#[derive(Debug, Default, Clone)]
pub struct FileDisk {
    open: Arc<Mutex<BTreeMap<PathBuf, Arc<std::fs::File>>>>,
}

impl FileDisk {
    fn open_files(&self) -> MutexGuard<'_, BTreeMap<PathBuf, Arc<std::fs::File>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open handle for appending to `path`, opening (and creating) the file if needed.
    fn appender(&self, path: &Path) -> io::Result<Arc<std::fs::File>> {
        if let Some(file) = self.open_files().get(path) {
            return Ok(file.clone());
        }
        Self::ensure_parent(path)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let file = Arc::new(file);
        self.open_files().insert(path.to_path_buf(), file.clone());
        Ok(file)
    }

    /// Drops the handle of `path`: the name now means another file, or none.
    fn forget(&self, path: &Path) {
        self.open_files().remove(path);
    }

    /// The handle to sync `path` through: the open one, else a new one.
    fn sync_handle(&self, path: &Path) -> io::Result<Arc<std::fs::File>> {
        if let Some(file) = self.open_files().get(path) {
            return Ok(file.clone());
        }
        Ok(Arc::new(
            std::fs::OpenOptions::new().append(true).open(path)?,
        ))
    }

    fn ensure_parent(path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
            _ => Ok(()),
        }
    }

    /// The directory to fsync after a rename, so the new name itself survives a power loss.
    fn parent_dir(path: &Path) -> &Path {
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    fn temp_path(path: &Path) -> PathBuf {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp-{}", std::process::id()));
        path.with_file_name(name)
    }
}

impl Disk for FileDisk {
    fn write_atomic(&self, path: &Path, bytes: &[u8], fsync: bool) -> io::Result<()> {
        use std::io::Write;
        Self::ensure_parent(path)?;
        let temp = Self::temp_path(path);
        let written = (|| {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(bytes)?;
            if fsync {
                file.sync_all()?;
            }
            std::fs::rename(&temp, path)
        })();
        self.forget(path);
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written?;
        if fsync {
            std::fs::File::open(Self::parent_dir(path))?.sync_all()?;
        }
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn append(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let file = self.appender(path)?;
        let written = (&*file).write_all(bytes);
        if written.is_err() {
            // Start afresh next time, as a new open would (the file may have gone).
            self.forget(path);
        }
        written
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        self.sync_handle(path)?.sync_data()
    }

    fn start_sync(&self, path: &Path) -> SyncJob {
        match self.sync_handle(path) {
            Ok(file) => SyncJob::on_thread(move || file.sync_data()),
            Err(e) => SyncJob::finished(Err(e), Duration::ZERO),
        }
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        if file.metadata()?.len() < len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: cannot truncate beyond the end", path.display()),
            ));
        }
        file.set_len(len)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.forget(path);
        std::fs::remove_file(path)
    }

    /// `write_atomic` replaces the file (a new inode), which would silently drop a lock taken on
    /// the file itself; so the lock lives on a sibling `<name>.lock` that is never replaced.
    fn lock(&self, path: &Path) -> io::Result<DiskLock> {
        Self::ensure_parent(path)?;
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .append(true)
            .open(path.with_file_name(name))?;
        flock_exclusive(&file)?;
        // Closing the file releases the lock, so the file itself is what the guard holds.
        Ok(DiskLock {
            _held: Box::new(file),
        })
    }
}

#[cfg(unix)]
fn flock_exclusive(file: &std::fs::File) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Err(io::Error::new(io::ErrorKind::WouldBlock, err));
    }
    Err(err)
}

#[cfg(not(unix))]
fn flock_exclusive(_file: &std::fs::File) -> io::Result<()> {
    Ok(())
}

// ---- in memory ----------------------------------------------------------------------------

/// One file of a [`MemDisk`]: what a reader sees now, and what would survive a crash.
#[derive(Clone, Debug, Default)]
struct MemFile {
    current: Vec<u8>,
    /// `None`: the file itself would not survive a crash (created and never synced).
    durable: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
struct MemState {
    files: BTreeMap<PathBuf, MemFile>,
    locked: BTreeSet<PathBuf>,
    failure: Option<DiskFailure>,
    /// Syncs of a slow disk that have not completed yet.
    syncs: SyncQueue,
}

impl MemState {
    /// Makes the syncs that completed by now durable.
    fn settle(&mut self) {
        for (path, bytes) in self.syncs.take_finished() {
            if let Some(file) = self.files.get_mut(&path) {
                file.durable = Some(bytes);
            }
        }
    }

    /// Syncs `path` as it is now: at once, or (a slow disk) when the device gets to it.
    fn sync_file(&mut self, path: &Path) {
        let Some(file) = self.files.get_mut(path) else {
            return;
        };
        if self.syncs.is_instant() {
            file.durable = Some(file.current.clone());
        } else {
            let bytes = file.current.clone();
            self.syncs.push(path.to_path_buf(), bytes);
        }
    }

    /// A crash: what completed is durable, what did not never will be.
    fn crash(&mut self) {
        self.settle();
        self.syncs.drop_unfinished();
    }
}

/// A failing disk, for [`MemDisk::set_failure`]. Reads always work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFailure {
    /// The disk is full (`ENOSPC`): appends and file writes fail; syncing what is already
    /// written and cutting files (which frees space) still work.
    Full,
    /// The device fails (`EIO`): appends, writes, syncs and cuts all fail.
    Broken,
    /// Writes land in the page cache but every sync fails (`EIO` from `fsync`).
    SyncFails,
}

impl DiskFailure {
    fn check(self, op: DiskOp) -> io::Result<()> {
        let errno = match (self, op) {
            (DiskFailure::Full, DiskOp::Write) => libc::ENOSPC,
            (DiskFailure::Broken, _) | (DiskFailure::SyncFails, DiskOp::Sync) => libc::EIO,
            _ => return Ok(()),
        };
        Err(io::Error::from_raw_os_error(errno))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DiskOp {
    Write,
    Sync,
    Cut,
}

/// An in-memory disk for the simulator. Clones share the same files, so the harness keeps one
/// per simulated machine across node restarts and can inspect it.
#[derive(Clone, Debug, Default)]
pub struct MemDisk {
    state: Arc<Mutex<MemState>>,
}

impl MemDisk {
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    fn state(&self) -> MutexGuard<'_, MemState> {
        // Every update below is a single assignment, so a poisoned lock still holds a
        // consistent image.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a crash leaves behind: every file goes back to its last synced contents, and files
    /// never synced disappear.
    pub fn lose_unsynced_writes(&self) {
        let mut state = self.state();
        state.crash();
        state.files.retain(|_, f| f.durable.is_some());
        for file in state.files.values_mut() {
            file.current = file.durable.clone().unwrap_or_default();
        }
    }

    /// A power loss in the middle of writing back: each file keeps its synced bytes plus the
    /// first `keep_permille` thousandths of what was appended after them, so the cut usually
    /// lands inside a record. A file rewritten or cut since its last sync goes back to its
    /// synced contents (a rewrite is a rename, which is all or nothing), and a file never
    /// synced disappears (its directory entry never reached the disk).
    pub fn tear_unsynced_writes(&self, keep_permille: u32) {
        let mut state = self.state();
        state.crash();
        state.files.retain(|_, f| f.durable.is_some());
        for file in state.files.values_mut() {
            let durable = file.durable.clone().unwrap_or_default();
            if file.current.starts_with(&durable) {
                let tail = file.current.len() - durable.len();
                let kept = tail * keep_permille.min(1000) as usize / 1000;
                file.current.truncate(durable.len() + kept);
            } else {
                file.current = durable.clone();
            }
            assert!(
                file.current.starts_with(&durable),
                "a tear never loses synced bytes"
            );
            // After the crash, whatever is on the platter is simply the file.
            file.durable = Some(file.current.clone());
        }
    }

    /// From now on the disk fails as `failure` says (`None`: it works again).
    pub fn set_failure(&self, failure: Option<DiskFailure>) {
        self.state().failure = failure;
    }

    /// From now on every sync takes `fsync_ms` of virtual time (0: syncs are instant again);
    /// the sync the device is doing finishes as it would have, those queued behind it take
    /// the new time. A crash before a sync completes keeps what was durable before it.
    pub fn set_fsync_ms(&self, fsync_ms: u64) {
        let mut state = self.state();
        state.settle();
        state.syncs.set_fsync_ms(fsync_ms);
    }

    fn check(&self, op: DiskOp) -> io::Result<()> {
        match self.state().failure {
            Some(failure) => failure.check(op),
            None => Ok(()),
        }
    }

    /// A replaced disk: every file is gone (locks stay with whoever holds them). The simulator
    /// uses it to bring a node back as a brand-new node.
    pub fn wipe(&self) {
        let mut state = self.state();
        state.syncs.drop_unfinished();
        state.files.clear();
    }

    /// Paths of the files that exist now, for inspection and traces.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.state().files.keys().cloned().collect()
    }

    /// Paths whose contents a power loss now would change (written since their last
    /// completed sync, or never synced): what a crash at this instant cuts.
    pub fn unsynced_paths(&self) -> Vec<PathBuf> {
        let mut state = self.state();
        state.settle();
        state
            .files
            .iter()
            .filter(|(_, f)| f.durable.as_ref() != Some(&f.current))
            .map(|(path, _)| path.clone())
            .collect()
    }
}

impl Disk for MemDisk {
    fn write_atomic(&self, path: &Path, bytes: &[u8], fsync: bool) -> io::Result<()> {
        self.check(DiskOp::Write)?;
        if fsync {
            self.check(DiskOp::Sync)?;
        }
        let mut state = self.state();
        state.settle();
        let file = state.files.entry(path.to_path_buf()).or_default();
        file.current = bytes.to_vec();
        if fsync {
            state.sync_file(path);
        }
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        Ok(self.state().files.get(path).map(|f| f.current.clone()))
    }

    /// Gone at once and for good (a crash does not bring it back), like an unlink whose
    /// directory was synced.
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.check(DiskOp::Write)?;
        match self.state().files.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file", path.display()),
            )),
        }
    }

    fn append(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.check(DiskOp::Write)?;
        let mut state = self.state();
        let file = state.files.entry(path.to_path_buf()).or_default();
        file.current.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        self.check(DiskOp::Sync)?;
        let mut state = self.state();
        state.settle();
        if !state.files.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file", path.display()),
            ));
        }
        state.sync_file(path);
        Ok(())
    }

    /// Like a real truncate, the shorter length survives a crash only once synced.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.check(DiskOp::Cut)?;
        let mut state = self.state();
        let Some(file) = state.files.get_mut(path) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file", path.display()),
            ));
        };
        match usize::try_from(len) {
            Ok(len) if len <= file.current.len() => {
                file.current.truncate(len);
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: cannot truncate beyond the end", path.display()),
            )),
        }
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        match self.state().files.get(path) {
            Some(file) => Ok(file.current.len() as u64),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file", path.display()),
            )),
        }
    }

    fn pending_sync(&self) -> Duration {
        let mut state = self.state();
        state.settle();
        state.syncs.wait()
    }

    fn lock(&self, path: &Path) -> io::Result<DiskLock> {
        let mut state = self.state();
        if !state.locked.insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked", path.display()),
            ));
        }
        Ok(DiskLock {
            _held: Box::new(MemLock {
                disk: self.clone(),
                path: path.to_path_buf(),
            }),
        })
    }
}

/// Releases a [`MemDisk`] lock when the node holding it goes away (also when it is killed).
struct MemLock {
    disk: MemDisk,
    path: PathBuf,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.disk.state().locked.remove(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn mem_disk_reads_back_what_was_written() {
        let disk = MemDisk::new();
        assert_eq!(disk.read(&p("d/nodes.conf")).unwrap(), None);
        disk.write_atomic(&p("d/nodes.conf"), b"one", false)
            .unwrap();
        disk.write_atomic(&p("d/nodes.conf"), b"two", false)
            .unwrap();
        assert_eq!(
            disk.read(&p("d/nodes.conf")).unwrap(),
            Some(b"two".to_vec())
        );
        disk.append(&p("d/aof"), b"ab").unwrap();
        disk.append(&p("d/aof"), b"cd").unwrap();
        assert_eq!(disk.read(&p("d/aof")).unwrap(), Some(b"abcd".to_vec()));
    }

    #[test]
    fn mem_disk_crash_keeps_only_synced_bytes() {
        let disk = MemDisk::new();
        disk.write_atomic(&p("nodes.conf"), b"v1", true).unwrap();
        disk.write_atomic(&p("nodes.conf"), b"v2", false).unwrap();
        disk.append(&p("aof"), b"set1").unwrap();
        disk.sync(&p("aof")).unwrap();
        disk.append(&p("aof"), b"set2").unwrap();
        disk.append(&p("never-synced"), b"x").unwrap();
        disk.lose_unsynced_writes();
        assert_eq!(disk.read(&p("nodes.conf")).unwrap(), Some(b"v1".to_vec()));
        assert_eq!(disk.read(&p("aof")).unwrap(), Some(b"set1".to_vec()));
        assert_eq!(disk.read(&p("never-synced")).unwrap(), None);
        assert_eq!(disk.paths(), vec![p("aof"), p("nodes.conf")]);
    }

    #[test]
    fn mem_disk_torn_crash_keeps_a_prefix_of_appended_bytes() {
        let disk = MemDisk::new();
        disk.append(&p("aof"), b"set1").unwrap();
        disk.sync(&p("aof")).unwrap();
        disk.append(&p("aof"), b"0123456789").unwrap();
        disk.write_atomic(&p("nodes.conf"), b"v1", true).unwrap();
        disk.write_atomic(&p("nodes.conf"), b"v2 longer", false)
            .unwrap();
        disk.append(&p("never-synced"), b"x").unwrap();
        disk.tear_unsynced_writes(300);
        assert_eq!(disk.read(&p("aof")).unwrap(), Some(b"set1012".to_vec()));
        assert_eq!(disk.read(&p("nodes.conf")).unwrap(), Some(b"v1".to_vec()));
        assert_eq!(disk.read(&p("never-synced")).unwrap(), None);
        // What survived is durable now: a second tear keeps it.
        disk.tear_unsynced_writes(0);
        assert_eq!(disk.read(&p("aof")).unwrap(), Some(b"set1012".to_vec()));
    }

    #[test]
    fn mem_disk_torn_crash_of_a_cut_file_goes_back_to_its_synced_bytes() {
        let disk = MemDisk::new();
        disk.append(&p("aof"), b"abcdef").unwrap();
        disk.sync(&p("aof")).unwrap();
        disk.truncate(&p("aof"), 3).unwrap();
        disk.append(&p("aof"), b"XY").unwrap();
        disk.tear_unsynced_writes(1000);
        assert_eq!(disk.read(&p("aof")).unwrap(), Some(b"abcdef".to_vec()));
    }

    #[test]
    fn mem_disk_failures_fail_the_operations_they_name() {
        let disk = MemDisk::new();
        disk.append(&p("aof"), b"ab").unwrap();
        let errno = |r: io::Result<()>| r.unwrap_err().raw_os_error();
        disk.set_failure(Some(DiskFailure::Full));
        assert_eq!(errno(disk.append(&p("aof"), b"c")), Some(libc::ENOSPC));
        assert_eq!(
            errno(disk.write_atomic(&p("nodes.conf"), b"x", false)),
            Some(libc::ENOSPC)
        );
        disk.sync(&p("aof")).unwrap();
        disk.set_failure(Some(DiskFailure::SyncFails));
        disk.append(&p("aof"), b"c").unwrap();
        assert_eq!(errno(disk.sync(&p("aof"))), Some(libc::EIO));
        assert_eq!(
            errno(disk.write_atomic(&p("nodes.conf"), b"x", true)),
            Some(libc::EIO)
        );
        disk.set_failure(Some(DiskFailure::Broken));
        assert_eq!(errno(disk.truncate(&p("aof"), 1)), Some(libc::EIO));
        assert_eq!(disk.read(&p("aof")).unwrap(), Some(b"abc".to_vec()));
        disk.set_failure(None);
        disk.append(&p("aof"), b"d").unwrap();
        disk.sync(&p("aof")).unwrap();
    }

    /// A slow sync completes `fsync_ms` later (on the tokio clock, real here), one after the
    /// other; a crash before then keeps what was durable before it.
    #[test]
    fn mem_disk_slow_sync_is_durable_only_once_it_completes() {
        let disk = MemDisk::new();
        disk.append(&p("aof"), b"a").unwrap();
        disk.sync(&p("aof")).unwrap();
        assert_eq!(disk.pending_sync(), Duration::ZERO);
        disk.set_fsync_ms(30);
        disk.append(&p("aof"), b"b").unwrap();
        disk.sync(&p("aof")).unwrap();
        disk.write_atomic(&p("nodes.conf"), b"v1", true).unwrap();
        // Queued behind the first: both done in about 60 ms; made fast, the second one is
        // done with the first.
        let wait = disk.pending_sync();
        assert!(wait > Duration::from_millis(50), "{wait:?}");
        disk.set_fsync_ms(0);
        let wait = disk.pending_sync();
        assert!(wait <= Duration::from_millis(30), "{wait:?}");
        disk.set_fsync_ms(30);
        disk.lose_unsynced_writes();
        assert_eq!(disk.read(&p("aof")).unwrap(), Some(b"a".to_vec()));
        assert_eq!(disk.read(&p("nodes.conf")).unwrap(), None);
        assert_eq!(disk.pending_sync(), Duration::ZERO);
        disk.append(&p("aof"), b"c").unwrap();
        let mut job = disk.start_sync(&p("aof"));
        assert!(job.poll().is_none(), "still running");
        std::thread::sleep(Duration::from_millis(35));
        assert!(matches!(job.poll(), Some(Ok(()))));
        disk.tear_unsynced_writes(0);
        assert_eq!(disk.read(&p("aof")).unwrap(), Some(b"ac".to_vec()));
        disk.set_fsync_ms(0);
        disk.append(&p("aof"), b"d").unwrap();
        disk.sync(&p("aof")).unwrap();
        disk.lose_unsynced_writes();
        assert_eq!(disk.read(&p("aof")).unwrap(), Some(b"acd".to_vec()));
    }

    #[test]
    fn file_disk_background_sync_finishes() {
        let dir = temp_dir("bgsync");
        let aof = dir.join("a.aof");
        let disk = FileDisk::default();
        disk.append(&aof, b"x").unwrap();
        let mut job = disk.start_sync(&aof);
        let result = loop {
            match job.poll() {
                Some(result) => break result,
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        result.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mem_disk_wipe_removes_every_file() {
        let disk = MemDisk::new();
        disk.write_atomic(&p("nodes.conf"), b"v1", true).unwrap();
        disk.append(&p("aof"), b"set1").unwrap();
        disk.wipe();
        assert!(disk.paths().is_empty());
        assert_eq!(disk.read(&p("nodes.conf")).unwrap(), None);
    }

    #[test]
    fn mem_disk_sync_of_missing_file_fails() {
        let disk = MemDisk::new();
        let err = disk.sync(&p("nope")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn mem_disk_lock_is_exclusive_until_dropped() {
        let disk = MemDisk::new();
        let held = disk.lock(&p("nodes.conf")).unwrap();
        let err = disk.lock(&p("nodes.conf")).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(disk.lock(&p("other.conf")).is_ok());
        drop(held);
        assert!(disk.lock(&p("nodes.conf")).is_ok());
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("clusterlab-disk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn file_disk_writes_atomically_and_appends() {
        let dir = temp_dir("write");
        let conf = dir.join("sub/nodes.conf");
        let disk = FileDisk::default();
        assert_eq!(disk.read(&conf).unwrap(), None);
        disk.write_atomic(&conf, b"first version, long", true)
            .unwrap();
        disk.write_atomic(&conf, b"second", false).unwrap();
        assert_eq!(disk.read(&conf).unwrap(), Some(b"second".to_vec()));
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("nodes.conf")]);
        let aof = dir.join("aofdir/a.aof");
        disk.append(&aof, b"*1\r\n").unwrap();
        disk.append(&aof, b"$4\r\nPING\r\n").unwrap();
        disk.sync(&aof).unwrap();
        assert_eq!(std::fs::read(&aof).unwrap(), b"*1\r\n$4\r\nPING\r\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_disk_appends_to_the_file_a_path_names_now() {
        let dir = temp_dir("reopen");
        let aof = dir.join("a.aof");
        let disk = FileDisk::default();
        disk.append(&aof, b"old").unwrap();
        // Replaced under the open handle: appends go to the new file.
        disk.write_atomic(&aof, b"base;", true).unwrap();
        disk.append(&aof, b"next").unwrap();
        assert_eq!(disk.read(&aof).unwrap(), Some(b"base;next".to_vec()));
        // Cut short: appends continue at the new end.
        disk.truncate(&aof, 4).unwrap();
        disk.append(&aof, b"!").unwrap();
        assert_eq!(disk.read(&aof).unwrap(), Some(b"base!".to_vec()));
        // Removed: the next append creates it again.
        disk.remove(&aof).unwrap();
        disk.append(&aof, b"new").unwrap();
        disk.sync(&aof).unwrap();
        assert_eq!(std::fs::read(&aof).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_disk_lock_is_exclusive_until_dropped() {
        let dir = temp_dir("lock");
        let conf = dir.join("nodes.conf");
        let disk = FileDisk::default();
        let held = disk.lock(&conf).unwrap();
        let err = disk.lock(&conf).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        assert!(disk.lock(&conf).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
