//! RDB files in Redis 7.0's format (version 10): the whole keyspace in one file. `SAVE`,
//! `BGSAVE`, `DEBUG RELOAD` and an AOF rewrite's base (with `aof-use-rdb-preamble yes`) write
//! one; start-up reads `dump.rdb`, or an AOF base that begins with one.
//!
//! A file is the magic `REDIS0010`, aux fields (`0xFA name value`), for a non-empty db 0 a
//! `SELECTDB`/`RESIZEDB` pair, one entry per key (an optional `EXPIRETIME_MS`, then the type
//! byte, the key and the value exactly as in a DUMP payload), `EOF` and the CRC-64 of every
//! byte before the checksum (zero under `rdbchecksum no`, as Redis writes it). Strings are
//! LZF-compressed as `rdbcompression` says (`cmd::dump::Compression`). Values share their encoders and decoders with DUMP/RESTORE
//! (`cmd::dump`), so anything RESTORE reads, a file may hold. Redis writes LRU/LFU hints and
//! modules' data too; hints are skipped on load, and module or function sections (which this
//! node cannot hold) stop the load with an error.

use std::fmt;

use bytes::Bytes;

use crate::cmd::dump::{
    crc64, decode_typed_value, encode_rdb_length, encode_rdb_string, encode_typed_value,
    Compression, Reader, RDB_VERSION,
};
use crate::db::{Db, EncodingLimits, Value};

/// Opcodes that precede a type byte or stand instead of one.
const OP_FUNCTION2: u8 = 0xF5;
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;

/// The file's first five bytes; four decimal digits of version follow.
const MAGIC: &[u8] = b"REDIS";

/// One key read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct RdbEntry {
    pub key: Bytes,
    pub value: Value,
    /// Absolute unix-ms expiry, if any (possibly already past: the loader decides).
    pub expires_at_ms: Option<u64>,
}

/// What a file held.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RdbContents {
    pub entries: Vec<RdbEntry>,
    /// Aux fields in file order (`redis-ver`, `ctime`, …).
    pub aux: Vec<(String, String)>,
    /// FUNCTION libraries' code, in file order.
    pub functions: Vec<Bytes>,
}

impl RdbContents {
    /// The value of aux field `name`, if the file has it.
    pub fn aux(&self, name: &str) -> Option<&str> {
        self.aux
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a file could not be loaded; `Display` gives Redis's wording where it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RdbError {
    /// No `REDIS` magic at the start.
    BadSignature,
    /// A version we cannot read.
    Version(u32),
    /// The file ends early or a field is malformed.
    Short,
    /// The stored checksum does not match the contents.
    Checksum { expected: u64, got: u64 },
    /// A section this node cannot hold (modules, functions) or an unknown type byte.
    Unsupported(u8),
    /// A database other than 0 (cluster mode has only db 0).
    Db(u64),
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::BadSignature => f.write_str("Wrong signature trying to load DB from file"),
            RdbError::Version(v) => write!(f, "Can't handle RDB format version {v}"),
            RdbError::Short => f.write_str(
                "Short read or OOM loading DB. Unrecoverable error, aborting now.",
            ),
            RdbError::Checksum { expected, got } => write!(
                f,
                "Wrong RDB checksum expected: ({expected:x}) got ({got:x}). Aborting now."
            ),
            RdbError::Unsupported(t) => write!(f, "Unknown RDB encoding type {t}"),
            RdbError::Db(db) => write!(f, "FATAL: Data file was created with a Redis server configured to handle more than 1 databases (db {db})"),
        }
    }
}

impl std::error::Error for RdbError {}

/// How a file is written: `rdbcompression` and `rdbchecksum` (both on by default, as in Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    pub compression: Compression,
    pub checksum: bool,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions {
            compression: Compression::Lzf,
            checksum: true,
        }
    }
}

/// The whole keyspace as an RDB file, with `aux` fields after the magic. Expired keys not yet
/// removed are written with their expiry, as Redis writes them; the loader drops them.
pub fn encode(db: &Db, aux: &[(&str, String)]) -> Vec<u8> {
    encode_with_functions(db, aux, &[], WriteOptions::default())
}

/// [`encode`] with FUNCTION libraries' code, written after the aux fields as Redis does.
pub fn encode_with_functions(
    db: &Db,
    aux: &[(&str, String)],
    functions: &[Bytes],
    options: WriteOptions,
) -> Vec<u8> {
    encode_with_key_ends(db, aux, functions, options).0
}

/// [`encode_with_functions`], and the keys' bounds in the file: where the first key's entry
/// starts, then where each ends, in order (none for an empty keyspace). A master producing
/// the file at `rdb-key-save-delay` sends it up to the keys done.
pub fn encode_with_key_ends(
    db: &Db,
    aux: &[(&str, String)],
    functions: &[Bytes],
    options: WriteOptions,
) -> (Vec<u8>, Vec<usize>) {
    let c = options.compression;
    let mut out = Vec::with_capacity(64 + db.len() * 32);
    let mut key_ends = Vec::with_capacity(db.len() + 1);
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    for (name, value) in aux {
        out.push(OP_AUX);
        encode_rdb_string(name.as_bytes(), c, &mut out);
        encode_rdb_string(value.as_bytes(), c, &mut out);
    }
    for code in functions {
        out.push(OP_FUNCTION2);
        encode_rdb_string(code, c, &mut out);
    }
    if !db.is_empty() {
        out.push(OP_SELECTDB);
        encode_rdb_length(0, &mut out);
        out.push(OP_RESIZEDB);
        encode_rdb_length(db.len() as u64, &mut out);
        encode_rdb_length(db.expiring_count() as u64, &mut out);
        key_ends.push(out.len());
        for entry in db.entries_in_order() {
            if let Some(at_ms) = entry.expires_at_ms {
                out.push(OP_EXPIRETIME_MS);
                out.extend_from_slice(&at_ms.to_le_bytes());
            }
            let mut typed = Vec::new();
            encode_typed_value(entry.value, c, &mut typed);
            // The type byte, then the key, then the value.
            out.push(typed[0]);
            encode_rdb_string(entry.key, c, &mut out);
            out.extend_from_slice(&typed[1..]);
            key_ends.push(out.len());
        }
    }
    out.push(OP_EOF);
    let crc = if options.checksum { crc64(&out) } else { 0 };
    out.extend_from_slice(&crc.to_le_bytes());
    (out, key_ends)
}

/// Whether `data` starts like an RDB file (an AOF base written with the preamble does).
pub fn is_rdb(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

/// Reads a whole file. A checksum of zero means "not computed" (`rdbchecksum no`), as in Redis.
/// Returns the contents and how many bytes the RDB part took (an AOF base may go on with
/// commands after it).
pub fn decode(data: &[u8], limits: &EncodingLimits) -> Result<(RdbContents, usize), RdbError> {
    if data.len() < 9 || !data.starts_with(MAGIC) {
        return Err(RdbError::BadSignature);
    }
    let version: u32 = std::str::from_utf8(&data[5..9])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(RdbError::BadSignature)?;
    if version == 0 || version > u32::from(RDB_VERSION) {
        return Err(RdbError::Version(version));
    }
    let mut reader = Reader::new(&data[9..]);
    let contents = read_sections(&mut reader, limits)?;
    let eof_at = 9 + reader.position();
    let mut end = eof_at;
    if version >= 5 {
        let stored = data.get(eof_at..eof_at + 8).ok_or(RdbError::Short)?;
        let stored = u64::from_le_bytes(stored.try_into().expect("8 bytes"));
        let computed = crc64(&data[..eof_at]);
        if stored != 0 && stored != computed {
            return Err(RdbError::Checksum {
                expected: stored,
                got: computed,
            });
        }
        end += 8;
    }
    Ok((contents, end))
}

/// Everything between the magic and `EOF` (consumed).
fn read_sections(
    reader: &mut Reader<'_>,
    limits: &EncodingLimits,
) -> Result<RdbContents, RdbError> {
    let mut contents = RdbContents::default();
    let mut expires_at_ms = None;
    loop {
        match read_section(reader, limits, &mut expires_at_ms)? {
            Section::Eof => return Ok(contents),
            Section::Aux(name, value) => contents.aux.push((name, value)),
            Section::Function(code) => contents.functions.push(code),
            Section::Entry(entry) => contents.entries.push(entry),
            Section::Other => {}
        }
    }
}

/// One opcode's worth of a file, as [`read_section`] reads it.
#[derive(Debug)]
pub(crate) enum Section {
    Eof,
    Aux(String, String),
    Function(Bytes),
    Entry(RdbEntry),
    /// A database selector, a size hint, an expiry (held for the next key) or an LRU/LFU hint.
    Other,
}

/// Reads one opcode and what follows it. An expiry is kept in `expires_at_ms` for the key
/// after it. `Short` when the bytes end early, so a reader of a file still arriving may try
/// again with more.
pub(crate) fn read_section(
    reader: &mut Reader<'_>,
    limits: &EncodingLimits,
    expires_at_ms: &mut Option<u64>,
) -> Result<Section, RdbError> {
    let short = |_| RdbError::Short;
    let op = reader.byte().map_err(short)?;
    let section = match op {
        OP_EOF => Section::Eof,
        OP_AUX => {
            let name = reader.string().map_err(short)?;
            let value = reader.string().map_err(short)?;
            Section::Aux(lossy(&name), lossy(&value))
        }
        OP_SELECTDB => match reader.plain_length().map_err(short)? {
            0 => Section::Other,
            db => return Err(RdbError::Db(db)),
        },
        OP_RESIZEDB => {
            reader.plain_length().map_err(short)?;
            reader.plain_length().map_err(short)?;
            Section::Other
        }
        OP_EXPIRETIME_MS => {
            let ms = u64::from_le_bytes(reader.array().map_err(short)?);
            *expires_at_ms = Some(ms);
            Section::Other
        }
        OP_EXPIRETIME => {
            let s = u32::from_le_bytes(reader.array().map_err(short)?);
            *expires_at_ms = Some(u64::from(s) * 1000);
            Section::Other
        }
        // LRU and LFU hints: this node keeps neither.
        OP_IDLE => {
            reader.plain_length().map_err(short)?;
            Section::Other
        }
        OP_FREQ => {
            reader.byte().map_err(short)?;
            Section::Other
        }
        OP_FUNCTION2 => Section::Function(Bytes::from(reader.string().map_err(short)?)),
        OP_MODULE_AUX | OP_FUNCTION_PRE_GA => return Err(RdbError::Unsupported(op)),
        rdb_type => {
            let key = reader.string().map_err(short)?;
            let value = decode_typed_value(rdb_type, reader, limits)
                .map_err(|_| unsupported_or_short(rdb_type))?;
            Section::Entry(RdbEntry {
                key: Bytes::from(key),
                value,
                expires_at_ms: expires_at_ms.take(),
            })
        }
    };
    Ok(section)
}

/// A type byte Redis 7.0 never writes for a type this node has (streams, modules, …) is
/// unsupported; anything else that failed to decode is a damaged file.
fn unsupported_or_short(rdb_type: u8) -> RdbError {
    const KNOWN: &[u8] = &[0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 16, 17, 18];
    if KNOWN.contains(&rdb_type) {
        RdbError::Short
    } else {
        RdbError::Unsupported(rdb_type)
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub mod incremental;
#[cfg(test)]
mod tests;
