//! Reading an RDB file while it is still arriving: a replica that loads a full sync straight
//! from the socket (`repl-diskless-load on-empty-db|swapdb`) turns each piece of the payload
//! into the keys it completes, as Redis's loader reads the connection as it goes.
//!
//! The parser keeps only the bytes of the section not yet whole. A short section is tried again
//! with every piece while it is small; past [`RETRY_ALWAYS_LEN`] only once the bytes held have
//! doubled (or the payload ended), so a large value that arrives in many small pieces is
//! parsed a logarithmic number of times. The checksum is computed
//! over the bytes as they are consumed, so nothing already parsed is kept.

use bytes::Bytes;
use crc::{Crc, Digest, CRC_64_REDIS};

use super::{read_section, RdbEntry, RdbError, Section, MAGIC};
use crate::cmd::dump::{Reader, RDB_VERSION};
use crate::db::EncodingLimits;

/// Redis's CRC-64, as a static so a running digest can borrow it.
static CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

/// Magic and four version digits.
const HEADER_LEN: usize = 9;
/// The checksum after `EOF`.
const CHECKSUM_LEN: usize = 8;
/// A short section this small is cheap to parse again with every piece.
const RETRY_ALWAYS_LEN: usize = 64 * 1024;

/// One RDB file being read piece by piece.
#[derive(Clone)]
pub struct IncrementalRdb {
    /// Received, not parsed yet.
    buf: Vec<u8>,
    /// Parse again only once `buf` holds this many bytes (see the module doc).
    retry_len: usize,
    version: Option<u32>,
    expires_at_ms: Option<u64>,
    digest: Digest<'static, u64>,
    eof_seen: bool,
    /// `EOF` and the checksum read and checked: the file is whole.
    complete: bool,
    /// Aux fields and FUNCTION libraries, in file order.
    pub aux: Vec<(String, String)>,
    pub functions: Vec<Bytes>,
}

impl std::fmt::Debug for IncrementalRdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncrementalRdb")
            .field("buffered", &self.buf.len())
            .field("complete", &self.complete)
            .finish()
    }
}

impl Default for IncrementalRdb {
    fn default() -> Self {
        IncrementalRdb {
            buf: Vec::new(),
            retry_len: 0,
            version: None,
            expires_at_ms: None,
            digest: CRC64.digest(),
            eof_seen: false,
            complete: false,
            aux: Vec::new(),
            functions: Vec::new(),
        }
    }
}

impl IncrementalRdb {
    pub fn new() -> IncrementalRdb {
        IncrementalRdb::default()
    }

    /// Whether the file's end (and its checksum) has been read.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The value of aux field `name`, if read already.
    pub fn aux(&self, name: &str) -> Option<&str> {
        self.aux
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Takes the next bytes of the file; returns the keys they completed.
    pub fn feed(
        &mut self,
        data: &[u8],
        limits: &EncodingLimits,
    ) -> Result<Vec<RdbEntry>, RdbError> {
        if self.complete && !data.is_empty() {
            // Bytes after the checksum: not the file Redis frames.
            return Err(RdbError::Short);
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() < self.retry_len {
            return Ok(Vec::new());
        }
        self.parse(limits)
    }

    /// The payload ended: the keys still buffered, or `Short` if the file is not whole.
    pub fn finish(&mut self, limits: &EncodingLimits) -> Result<Vec<RdbEntry>, RdbError> {
        let entries = self.parse(limits)?;
        if !self.complete || !self.buf.is_empty() {
            return Err(RdbError::Short);
        }
        Ok(entries)
    }

    /// Parses every whole section in `buf`, drops the bytes it consumed.
    fn parse(&mut self, limits: &EncodingLimits) -> Result<Vec<RdbEntry>, RdbError> {
        let mut entries = Vec::new();
        let mut pos = 0;
        if self.version.is_none() {
            if self.buf.len() < HEADER_LEN {
                return Ok(entries);
            }
            self.version = Some(read_version(&self.buf[..HEADER_LEN])?);
            pos = HEADER_LEN;
        }
        while !self.eof_seen {
            let mut reader = Reader::new(&self.buf[pos..]);
            match read_section(&mut reader, limits, &mut self.expires_at_ms) {
                Ok(section) => {
                    pos += reader.position();
                    match section {
                        Section::Eof => self.eof_seen = true,
                        Section::Aux(name, value) => self.aux.push((name, value)),
                        Section::Function(code) => self.functions.push(code),
                        Section::Entry(entry) => entries.push(entry),
                        Section::Other => {}
                    }
                }
                Err(RdbError::Short) => break,
                Err(e) => return Err(e),
            }
        }
        self.digest.update(&self.buf[..pos]);
        self.buf.drain(..pos);
        if self.eof_seen && !self.complete {
            self.check_sum()?;
        }
        self.retry_len = match self.buf.len() {
            n if n < RETRY_ALWAYS_LEN => 0,
            n => n * 2,
        };
        Ok(entries)
    }

    /// After `EOF`: the stored checksum (0: not computed, as Redis allows) against ours.
    fn check_sum(&mut self) -> Result<(), RdbError> {
        if self.version.is_some_and(|v| v < 5) {
            self.complete = true;
            return Ok(());
        }
        if self.buf.len() < CHECKSUM_LEN {
            return Ok(());
        }
        let stored: [u8; CHECKSUM_LEN] = self.buf[..CHECKSUM_LEN].try_into().expect("8 bytes");
        let stored = u64::from_le_bytes(stored);
        let computed = self.digest.clone().finalize();
        if stored != 0 && stored != computed {
            return Err(RdbError::Checksum {
                expected: stored,
                got: computed,
            });
        }
        self.buf.drain(..CHECKSUM_LEN);
        self.complete = true;
        Ok(())
    }
}

/// The version from the file's first nine bytes, as [`super::decode`] checks it.
fn read_version(header: &[u8]) -> Result<u32, RdbError> {
    if !header.starts_with(MAGIC) {
        return Err(RdbError::BadSignature);
    }
    let version: u32 = std::str::from_utf8(&header[5..HEADER_LEN])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(RdbError::BadSignature)?;
    if version == 0 || version > u32::from(RDB_VERSION) {
        return Err(RdbError::Version(version));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, Value};

    fn sample_file(keys: usize) -> (Vec<u8>, Db) {
        let mut db = Db::default();
        for i in 0..keys {
            let value = Value::String(Bytes::from(format!("value-{i}").repeat(i % 7 + 1)));
            let expiry = (i % 3 == 0).then_some(4_000_000_000_000 + i as u64);
            db.set_owned(format!("key:{i}").as_bytes(), value, expiry);
        }
        let file = super::super::encode(&db, &[("repl-id", "abc".to_string())]);
        (file, db)
    }

    /// Feeds `file` in `chunk`-byte pieces; returns every key read, in order.
    fn read_in_chunks(file: &[u8], chunk: usize) -> (Vec<RdbEntry>, IncrementalRdb) {
        let limits = EncodingLimits::default();
        let mut parser = IncrementalRdb::new();
        let mut entries = Vec::new();
        for piece in file.chunks(chunk) {
            entries.extend(parser.feed(piece, &limits).unwrap());
        }
        entries.extend(parser.finish(&limits).unwrap());
        (entries, parser)
    }

    #[test]
    fn any_chunking_reads_the_same_keys_as_the_whole_file() {
        let (file, _) = sample_file(40);
        let (whole, _) = super::super::decode(&file, &EncodingLimits::default()).unwrap();
        for chunk in [1, 2, 9, 13, 64, 4096] {
            let (entries, parser) = read_in_chunks(&file, chunk);
            assert_eq!(entries, whole.entries, "chunk {chunk}");
            assert_eq!(parser.aux("repl-id"), Some("abc"), "chunk {chunk}");
            assert!(parser.is_complete());
        }
    }

    #[test]
    fn keys_come_out_as_soon_as_their_bytes_are_in() {
        let (file, _) = sample_file(10);
        let limits = EncodingLimits::default();
        let mut parser = IncrementalRdb::new();
        // Everything but the last key's last byte, EOF and checksum: nine keys.
        let cut = file.len() - 1 - CHECKSUM_LEN - 1;
        let first = parser.feed(&file[..cut], &limits).unwrap();
        assert_eq!(first.len(), 9);
        assert!(!parser.is_complete());
        let rest = parser.feed(&file[cut..], &limits).unwrap();
        assert_eq!(rest.len(), 1);
        assert!(parser.is_complete());
    }

    #[test]
    fn a_truncated_or_damaged_file_fails_at_its_end() {
        let (file, _) = sample_file(5);
        let limits = EncodingLimits::default();
        let mut parser = IncrementalRdb::new();
        parser.feed(&file[..file.len() - 3], &limits).unwrap();
        assert_eq!(parser.finish(&limits).unwrap_err(), RdbError::Short);

        let mut bad = file.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let mut parser = IncrementalRdb::new();
        let err = parser.feed(&bad, &limits).unwrap_err();
        assert!(matches!(err, RdbError::Checksum { .. }), "{err:?}");

        let mut parser = IncrementalRdb::new();
        assert_eq!(
            parser.feed(b"NOTREDIS0", &limits).unwrap_err(),
            RdbError::BadSignature
        );
    }

    #[test]
    fn a_big_value_in_small_pieces_is_parsed_few_times() {
        let mut db = Db::default();
        let big = Value::String(Bytes::from(vec![b'x'; 1 << 20]));
        db.set_owned(b"big", big, None);
        let file = super::super::encode(&db, &[]);
        let limits = EncodingLimits::default();
        let mut parser = IncrementalRdb::new();
        let mut attempts = 0;
        for piece in file.chunks(1024) {
            let before = parser.retry_len;
            parser.feed(piece, &limits).unwrap();
            attempts += usize::from(parser.retry_len != before || parser.is_complete());
        }
        // Every piece up to 64 KiB, then doubling: about 64 + log2(1 MiB / 64 KiB) attempts,
        // not a thousand.
        assert!(attempts <= 64 + 8, "{attempts} attempts");
        parser.finish(&limits).unwrap();
        assert!(parser.is_complete());
    }
}
