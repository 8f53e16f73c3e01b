//! The append-only file: Redis 7's multi-part layout, appending the node's writes under the
//! configured `appendfsync` policy, and replaying them at start-up.
//!
//! Layout under `<dir>/<appenddirname>/`, as Redis 7.0 makes it: a base file (empty at first,
//! `<appendfilename>.1.base.aof`; after a rewrite the dataset, as an RDB file `….base.rdb`
//! under `aof-use-rdb-preamble yes` or as commands), the incr file `….incr.aof` that every
//! write is appended to, and the manifest `<appendfilename>.manifest` naming them. A rewrite
//! (`BGREWRITEAOF`, the automatic one, `CONFIG SET appendonly yes`, the end of a full sync)
//! writes a new base and incr, switches the manifest, then deletes the old files.
//!
//! Loading follows Redis 7.0's rules and words, so operators and tools see the same messages:
//! a torn tail of the last file is cut back to the last whole command when
//! `aof-load-truncated yes`, a transaction left open at the end counts as torn, and anything
//! else wrong stops the start-up with an [`AofError`] whose `Display` is the line to print
//! before exiting 1. A failed load never modifies a file.
//!
//! Every access goes through [`Disk`](crate::disk::Disk), so in the simulator an unsynced tail
//! really is lost on a crash and the fsync policy decides which acknowledged writes survive.

use std::fmt;
use std::io;

mod append;
mod fsync;
mod load;
mod manifest;

pub use append::{error_text, Aof, AofHealth};
pub use fsync::AofReport;
pub use load::{load, LoadReport};
pub use manifest::{aof_dir, manifest_path, AofFileInfo, AofFileKind, Manifest};

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
    /// The RDB file a base starts with could not be read.
    #[error("Error reading the RDB base file {file}, AOF loading aborted: {reason}")]
    RdbPreamble {
        file: String,
        reason: clusterlab_core::rdb::RdbError,
    },
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

#[cfg(test)]
mod fsync_tests;
#[cfg(test)]
mod rewrite_tests;
#[cfg(test)]
mod tests;
