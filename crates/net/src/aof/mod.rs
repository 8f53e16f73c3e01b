//! The append-only file: Redis 7's multi-part layout, appending the node's writes under the
//! configured `appendfsync` policy, and replaying them at start-up.
//!
//! Layout under `<dir>/<appenddirname>/`, as `redis-server --aof-use-rdb-preamble no` makes it:
//! an empty base file `<appendfilename>.1.base.aof`, the incr file `<appendfilename>.1.incr.aof`
//! that every write is appended to, and the manifest `<appendfilename>.manifest` naming them. We
//! never rewrite the log (no BGREWRITEAOF), so the base stays empty unless the directory came
//! from elsewhere, but a manifest listing several files is loaded as Redis loads it.
//!
//! Loading follows Redis 7.0's rules and words, so operators and tools see the same messages:
//! a torn tail of the last file is cut back to the last whole command when
//! `aof-load-truncated yes`, a transaction left open at the end counts as torn, and anything
//! else wrong stops the start-up with an [`AofError`] whose `Display` is the line to print
//! before exiting 1. A failed load never modifies a file.
//!
//! Every access goes through [`Disk`], so in the simulator an unsynced tail really is lost on a
//! crash and the fsync policy decides which acknowledged writes survive.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use clusterlab_core::config::AppendFsync;
use clusterlab_core::{Config, Node, Time};

use crate::disk::Disk;
use crate::resp::split_args;

/// `appendfsync everysec`: the longest a written command may stay unsynced, give or take a tick.
pub const EVERYSEC_INTERVAL_MS: u64 = 1000;
/// Longest manifest line Redis reads, its newline included.
const MANIFEST_MAX_LINE: usize = 1024;
/// Largest argument a command in the file may carry (`proto-max-bulk-len`).
const MAX_BULK_LEN: u64 = crate::resp::MAX_BULK_LEN as u64;
/// Largest argument count Redis would ever have logged.
const MAX_ARGC: u64 = i32::MAX as u64;

// ---- errors ----------------------------------------------------------------------------------

/// Why the AOF cannot be opened or loaded. `Display` is Redis 7.0's message, byte for byte where
/// Redis has one; the driver prints it and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum AofError {
    #[error("{0}")]
    Manifest(ManifestError),
    #[error("Unable to obtain the AOF file {file} length. stat: No such file or directory")]
    MissingFile { file: String },
    #[error(
        "Unexpected end of file reading the append only file {file}. You can: 1) Make a backup \
         of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) \
         Alternatively you can set the 'aof-load-truncated' configuration option to yes and \
         restart the server."
    )]
    UnexpectedEof { file: String },
    #[error(
        "Bad file format reading the append only file {file}: make a backup of your AOF file, \
         then use ./redis-check-aof --fix <filename.manifest>"
    )]
    BadFormat { file: String },
    /// A command the node refused to replay; `message` is `Unknown command '<name>'`, a wrong
    /// arity, or the error a write command returned (the file disagrees with the keyspace).
    #[error("{message} reading the append only file {file}")]
    Replay { file: String, message: String },
    /// A torn file followed by others: cutting it would silently drop what comes after.
    #[error("Fatal error: the truncated file is not the last file")]
    TruncatedNotLast { file: String },
    #[error(
        "The AOF file {file} starts with an RDB preamble, which clusterlab cannot load \
         (only files written with aof-use-rdb-preamble no)"
    )]
    RdbPreamble { file: String },
    #[error("Error truncating the AOF file {file}: {source}")]
    Truncate { file: String, source: io::Error },
    /// Any other I/O failure; `context` names the operation and the file.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl AofError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> AofError {
        let context = context.into();
        move |source| AofError::Io { context, source }
    }
}

impl From<ManifestError> for AofError {
    fn from(e: ManifestError) -> AofError {
        AofError::Manifest(e)
    }
}

/// A manifest Redis would refuse. `Display` renders Redis's block (without the final newline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// 1-based line number and the line as Redis echoes it (trimmed); `None` for errors about
    /// the file as a whole.
    pub line: Option<(usize, String)>,
    /// The last line of the block, e.g. `Invalid AOF manifest file format`.
    pub reason: &'static str,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\n*** FATAL AOF MANIFEST FILE ERROR ***\n")?;
        if let Some((number, line)) = &self.line {
            write!(
                f,
                "Reading the manifest file, at line {number}\n>>> '{line}'\n"
            )?;
        }
        f.write_str(self.reason)
    }
}

impl std::error::Error for ManifestError {}

// ---- the manifest ----------------------------------------------------------------------------

/// The role of a file listed in the manifest (`type b|h|i`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AofFileKind {
    Base,
    /// Left over from a rewrite, waiting to be deleted; never loaded.
    History,
    Incr,
}

impl AofFileKind {
    fn letter(self) -> char {
        match self {
            AofFileKind::Base => 'b',
            AofFileKind::History => 'h',
            AofFileKind::Incr => 'i',
        }
    }
}

/// One `file … seq … type …` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFileInfo {
    pub name: String,
    pub seq: i64,
    pub kind: AofFileKind,
}

/// The manifest: which files make up the AOF, in load order (base, then incr by sequence).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFileInfo>,
    pub history: Vec<AofFileInfo>,
    pub incr: Vec<AofFileInfo>,
}

impl Manifest {
    /// Parses a manifest with Redis 7.0's rules: `#` lines skipped, every other line trimmed,
    /// split with redis-cli quoting into ≥ 6 words in key/value pairs; `file`, `seq` and `type`
    /// required (unknown keys ignored), one base at most, incr sequences strictly increasing.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let whole = |reason| ManifestError { line: None, reason };
        if bytes.is_empty() {
            return Err(whole("Found an empty AOF manifest"));
        }
        let mut manifest = Manifest::default();
        for (index, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            if raw.first() == Some(&b'#') {
                continue;
            }
            if raw.last() != Some(&b'\n') || raw.len() > MANIFEST_MAX_LINE {
                return Err(whole("The AOF manifest file contains too long line"));
            }
            let line = trim_blanks(raw);
            let at = |reason| ManifestError {
                line: Some((index + 1, String::from_utf8_lossy(line).into_owned())),
                reason,
            };
            let info = parse_manifest_line(line).map_err(at)?;
            manifest.add(info).map_err(at)?;
        }
        Ok(manifest)
    }

    fn add(&mut self, info: AofFileInfo) -> Result<(), &'static str> {
        match info.kind {
            AofFileKind::Base if self.base.is_some() => {
                return Err("Found duplicate base file information")
            }
            AofFileKind::Base => self.base = Some(info),
            AofFileKind::History => self.history.push(info),
            AofFileKind::Incr => {
                let last_seq = self.incr.last().map_or(0, |i| i.seq);
                if info.seq <= last_seq {
                    return Err("Found a non-monotonic sequence number");
                }
                self.incr.push(info);
            }
        }
        Ok(())
    }

    /// True when the manifest names nothing to load, which Redis treats as no AOF at all.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// The files to replay, in order.
    pub fn load_order(&self) -> impl Iterator<Item = &AofFileInfo> {
        self.base.iter().chain(self.incr.iter())
    }

    /// The manifest text, one line per file: base, history, then incr files.
    pub fn render(&self) -> String {
        let all = self.base.iter().chain(&self.history).chain(&self.incr);
        all.map(|info| {
            format!(
                "file {} seq {} type {}\n",
                quote_if_needed(&info.name),
                info.seq,
                info.kind.letter()
            )
        })
        .collect()
    }
}

fn trim_blanks(mut line: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while let [first, rest @ ..] = line {
        if !blank(first) {
            break;
        }
        line = rest;
    }
    while let [rest @ .., last] = line {
        if !blank(last) {
            break;
        }
        line = rest;
    }
    line
}

fn parse_manifest_line(line: &[u8]) -> Result<AofFileInfo, &'static str> {
    const INVALID: &str = "Invalid AOF manifest file format";
    let words = split_args(line).ok_or(INVALID)?;
    // At least the three pairs; more pairs are allowed so newer versions can add keys.
    if words.len() < 6 || words.len() % 2 != 0 {
        return Err(INVALID);
    }
    let (mut name, mut seq, mut kind) = (None, 0i64, 0u8);
    for pair in words.chunks_exact(2) {
        let value = &pair[1];
        match pair[0].to_ascii_lowercase().as_slice() {
            b"file" => {
                if value.contains(&b'/') || value.contains(&b'\\') {
                    return Err("File can't be a path, just a filename");
                }
                name = Some(value.clone());
            }
            b"seq" => seq = leading_integer(value),
            b"type" => kind = value.first().copied().unwrap_or(0),
            _ => {}
        }
    }
    let name = name.and_then(|n| String::from_utf8(n).ok());
    let (Some(name), true, true) = (name, seq != 0, kind != 0) else {
        return Err(INVALID);
    };
    let kind = match kind {
        b'b' => AofFileKind::Base,
        b'h' => AofFileKind::History,
        b'i' => AofFileKind::Incr,
        _ => return Err("Unknown AOF file type"),
    };
    Ok(AofFileInfo { name, seq, kind })
}

/// The integer at the start of `text` (C's `atoll`: blanks, a sign, digits; 0 when none), so
/// `seq 1x` reads as 1 just as Redis reads it.
fn leading_integer(text: &[u8]) -> i64 {
    let text = match text.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(start) => &text[start..],
        None => return 0,
    };
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    let magnitude = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// File names with blanks, quotes or control bytes are written quoted, so the manifest parser
/// (redis-cli word splitting) reads them back intact.
fn quote_if_needed(name: &str) -> String {
    let plain = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '\'';
    if !name.is_empty() && name.chars().all(plain) {
        return name.to_string();
    }
    clusterlab_core::text::quote_repr(name.as_bytes())
}

// ---- names -----------------------------------------------------------------------------------

/// `<dir>/<appenddirname>`.
pub fn aof_dir(config: &Config) -> PathBuf {
    Path::new(&config.dir).join(&config.appenddirname)
}

/// `<dir>/<appenddirname>/<appendfilename>.manifest`.
pub fn manifest_path(config: &Config) -> PathBuf {
    aof_dir(config).join(format!("{}.manifest", config.appendfilename))
}

fn file_name(config: &Config, seq: i64, kind: AofFileKind) -> String {
    let part = match kind {
        AofFileKind::Base => "base",
        AofFileKind::History | AofFileKind::Incr => "incr",
    };
    format!("{}.{seq}.{part}.aof", config.appendfilename)
}

// ---- appending -------------------------------------------------------------------------------

/// The open AOF: where writes go and when they are synced.
///
/// The driver appends the data of every `Effect::AppendAof` in order, before writing the
/// replies of the same call: with `appendfsync always` the data is durable once
/// [`Aof::append`] returns. It calls [`Aof::tick`] from its 100 ms timer (the `everysec`
/// background sync) and [`Aof::flush_and_sync`] on SHUTDOWN and SIGTERM.
pub struct Aof {
    disk: Arc<dyn Disk>,
    incr_path: PathBuf,
    policy: AppendFsync,
    /// `None` until the first sync, which `everysec` then does at once.
    last_sync_ms: Option<u64>,
    /// Bytes were appended since the last sync.
    dirty: bool,
    startup_log: Vec<String>,
}

impl Aof {
    /// Opens the AOF for appending, creating the base, incr and manifest files when the
    /// manifest is absent (or names no file). Call after [`load`], which may cut the incr file.
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
        Ok(Aof {
            disk,
            incr_path: dir.join(incr),
            policy: config.appendfsync,
            last_sync_ms: None,
            dirty: false,
            startup_log,
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

    /// Appends RESP-encoded commands. `always` syncs before returning; `everysec` syncs when
    /// the last sync is at least [`EVERYSEC_INTERVAL_MS`] old; `no` leaves it to the OS.
    pub fn append(&mut self, data: &[u8], now_ms: u64) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.disk.append(&self.incr_path, data)?;
        self.dirty = true;
        match self.policy {
            AppendFsync::Always => self.sync(now_ms),
            AppendFsync::Everysec => self.sync_if_due(now_ms),
            AppendFsync::No => Ok(()),
        }
    }

    /// The `everysec` background sync, from the driver's 100 ms timer.
    pub fn tick(&mut self, now_ms: u64) -> io::Result<()> {
        match self.policy {
            AppendFsync::Everysec => self.sync_if_due(now_ms),
            AppendFsync::Always | AppendFsync::No => Ok(()),
        }
    }

    /// Makes everything appended so far durable, whatever the policy (SHUTDOWN, SIGTERM).
    pub fn flush_and_sync(&mut self) -> io::Result<()> {
        self.disk.sync(&self.incr_path)?;
        self.dirty = false;
        Ok(())
    }

    fn sync_if_due(&mut self, now_ms: u64) -> io::Result<()> {
        let due = self
            .last_sync_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= EVERYSEC_INTERVAL_MS);
        if self.dirty && due {
            self.sync(now_ms)?;
        }
        Ok(())
    }

    fn sync(&mut self, now_ms: u64) -> io::Result<()> {
        self.disk.sync(&self.incr_path)?;
        self.dirty = false;
        self.last_sync_ms = Some(now_ms);
        Ok(())
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

// ---- loading ---------------------------------------------------------------------------------

/// What [`load`] did, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// False when there was no manifest, or it named no file: a first start, nothing loaded.
    pub found: bool,
    /// Non-empty files replayed, in order (Redis skips empty ones silently).
    pub files_loaded: Vec<String>,
    pub commands_replayed: u64,
    /// The file cut back to its last whole command, and its new length.
    pub truncated: Option<(String, u64)>,
    /// Redis's warning lines, in order (`!!! Warning: short read …`).
    pub warnings: Vec<String>,
}

/// Replays the AOF into `node`: every file the manifest names, base first, each command as if
/// a client sent it (no redirection, nothing logged again). Only a torn tail of the last file
/// may be cut, and only with `aof-load-truncated yes`; any other problem is an error and leaves
/// every file as it was.
pub fn load(
    disk: &dyn Disk,
    config: &Config,
    node: &mut Node,
    now: Time,
) -> Result<LoadReport, AofError> {
    let manifest_path = manifest_path(config);
    let Some(text) = disk.read(&manifest_path).map_err(AofError::io(format!(
        "Can't read the AOF manifest {}",
        manifest_path.display()
    )))?
    else {
        return Ok(LoadReport::default());
    };
    let manifest = Manifest::parse(&text)?;
    if manifest.is_empty() {
        return Ok(LoadReport::default());
    }
    // Every listed file must exist before anything is replayed, as Redis sizes them all first.
    let mut files = Vec::new();
    for info in manifest.load_order() {
        let path = aof_dir(config).join(&info.name);
        let contents = disk
            .read(&path)
            .map_err(AofError::io(format!(
                "Can't open the append-only file {}",
                info.name
            )))?
            .ok_or_else(|| AofError::MissingFile {
                file: info.name.clone(),
            })?;
        files.push((info.name.clone(), path, contents));
    }
    let mut report = LoadReport {
        found: true,
        ..LoadReport::default()
    };
    let last = files.len() - 1;
    let mut loader = Loader {
        disk,
        config,
        node,
        now,
        report: &mut report,
    };
    let loaded = files
        .iter()
        .enumerate()
        .try_for_each(|(i, (name, path, contents))| {
            loader.load_file(name, path, contents, i == last)
        });
    // The loader's client goes, and with it any transaction a file left open.
    loader.node.end_replay();
    loaded?;
    Ok(report)
}

struct Loader<'a> {
    disk: &'a dyn Disk,
    config: &'a Config,
    node: &'a mut Node,
    now: Time,
    report: &'a mut LoadReport,
}

impl Loader<'_> {
    fn load_file(
        &mut self,
        name: &str,
        path: &Path,
        contents: &[u8],
        is_last: bool,
    ) -> Result<(), AofError> {
        if contents.is_empty() {
            return Ok(());
        }
        if contents.starts_with(b"REDIS") {
            return Err(AofError::RdbPreamble {
                file: name.to_string(),
            });
        }
        // End of the last whole command: where a torn file is cut.
        let mut valid_up_to = 0;
        // `valid_up_to` when the open MULTI was read: a transaction the file never finished
        // is cut as a whole.
        let mut multi_start = None;
        loop {
            let (args, end) = match scan_command(contents, valid_up_to) {
                Scan::Command(args, end) => (args, end),
                Scan::End => break,
                Scan::Torn => return self.torn(name, path, valid_up_to, is_last),
                Scan::Bad => {
                    return Err(AofError::BadFormat {
                        file: name.to_string(),
                    })
                }
            };
            let command = args[0].to_ascii_lowercase();
            if command == b"multi" && multi_start.is_none() {
                multi_start = Some(valid_up_to);
            }
            self.node
                .replay_command(self.now, &args)
                .map_err(|message| AofError::Replay {
                    file: name.to_string(),
                    message,
                })?;
            if command == b"exec" {
                multi_start = None;
            }
            self.report.commands_replayed += 1;
            valid_up_to = end;
        }
        if let Some(start) = multi_start {
            self.report.warnings.push(format!(
                "Revert incomplete MULTI/EXEC transaction in AOF file {name}"
            ));
            return self.torn(name, path, start, is_last);
        }
        self.report.files_loaded.push(name.to_string());
        Ok(())
    }

    /// The file ends inside a command (or an open transaction): cut it at `valid_up_to` if
    /// allowed, else stop.
    fn torn(
        &mut self,
        name: &str,
        path: &Path,
        valid_up_to: usize,
        is_last: bool,
    ) -> Result<(), AofError> {
        let file = name.to_string();
        if !self.config.aof_load_truncated {
            return Err(AofError::UnexpectedEof { file });
        }
        if !is_last {
            return Err(AofError::TruncatedNotLast { file });
        }
        let warnings = &mut self.report.warnings;
        warnings.push(format!(
            "!!! Warning: short read while loading the AOF file {name}!!!"
        ));
        warnings.push(format!(
            "!!! Truncating the AOF {name} at offset {valid_up_to} !!!"
        ));
        let len = valid_up_to as u64;
        let cut = self
            .disk
            .truncate(path, len)
            .and_then(|()| self.disk.sync(path));
        cut.map_err(|source| AofError::Truncate {
            file: file.clone(),
            source,
        })?;
        self.report.warnings.push(format!(
            "AOF {name} loaded anyway because aof-load-truncated is enabled"
        ));
        self.report.files_loaded.push(file.clone());
        self.report.truncated = Some((file, len));
        Ok(())
    }
}

/// What [`scan_command`] found at a position of a file.
#[derive(Debug, PartialEq)]
enum Scan {
    /// A whole command and the offset just past it.
    Command(Vec<Bytes>, usize),
    /// The file ends cleanly here (possibly after annotations).
    End,
    /// The file ends inside a command.
    Torn,
    /// Bytes that are no command at all.
    Bad,
}

/// Reads one command (a RESP array of bulk strings) at `pos`, skipping `#` annotation lines.
///
/// Not [`crate::resp::parse_request`]: the AOF grammar differs from what clients may send (no
/// inline commands, annotations, `*0` is an error) and the loader must tell a torn tail from
/// garbage. A file cut anywhere inside a valid command is `Torn`; a line that cannot start what
/// comes next is `Bad`, even at the end of the file, as in Redis.
fn scan_command(buf: &[u8], mut pos: usize) -> Scan {
    let argc = loop {
        let Some(first) = buf.get(pos) else {
            return Scan::End;
        };
        let Some((line, next)) = read_line(buf, pos) else {
            // An unfinished annotation ends the file harmlessly; a command start is torn.
            return match first {
                b'#' => Scan::End,
                b'*' => Scan::Torn,
                _ => Scan::Bad,
            };
        };
        pos = next;
        match line.split_first() {
            Some((b'#', _)) => continue,
            Some((b'*', digits)) => match parse_length(digits, MAX_ARGC) {
                Some(argc) if argc > 0 => break argc,
                _ => return Scan::Bad,
            },
            _ => return Scan::Bad,
        }
    };
    // The count comes from the file: grow with the data, not with the claim.
    let mut args = Vec::with_capacity(argc.min(64) as usize);
    for _ in 0..argc {
        let Some(&first) = buf.get(pos) else {
            return Scan::Torn;
        };
        if first != b'$' {
            return Scan::Bad;
        }
        let Some((line, data_start)) = read_line(buf, pos) else {
            return Scan::Torn;
        };
        let Some(len) = parse_length(&line[1..], MAX_BULK_LEN) else {
            return Scan::Bad;
        };
        let data_end = data_start + len as usize;
        match buf.get(data_end..data_end + 2) {
            None => return Scan::Torn,
            Some(b"\r\n") => {}
            Some(_) => return Scan::Bad,
        }
        args.push(Bytes::copy_from_slice(&buf[data_start..data_end]));
        pos = data_end + 2;
    }
    Scan::Command(args, pos)
}

/// The line at `pos` without its `\r\n` (or bare `\n`), and where the next one starts; `None`
/// when the file ends before the newline.
fn read_line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let newline = pos + buf[pos..].iter().position(|&b| b == b'\n')?;
    let line = &buf[pos..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, newline + 1))
}

/// A non-negative decimal length no larger than `max`.
fn parse_length(digits: &[u8], max: u64) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (value <= max).then_some(value)
}

#[cfg(test)]
mod tests;
