//! A full sync's RDB payload on the wire, both sides, as Redis 7.0 frames it.
//!
//! Disk-based (`repl-diskless-sync no`, or a replica without `capa eof`) the file goes as
//! `$<len>\r\n<len bytes>`. Diskless (the default) the master cannot know the length up front,
//! so it sends `$EOF:<40-char mark>\r\n<rdb><the same mark>`; the mark is random, and the
//! replica ends the payload where the mark appears. Either way no `\r\n` follows the payload:
//! the replication stream starts right after it. Before the header a master may send bare
//! `\n`s to keep the link alive while the snapshot is being prepared.
//!
//! [`PayloadReader`] is the replica's incremental parser: the driver feeds it whatever it read,
//! it says how much it took, and hands back the whole RDB once it is complete.

use std::fmt;

/// Length of the end mark of a diskless payload (Redis's `RDB_EOF_MARK_SIZE`).
pub const EOF_MARK_LEN: usize = 40;

/// A header line longer than this is not a payload header (`$EOF:` and the mark are 45 bytes;
/// a length has at most 20 digits).
const HEADER_LEN_MAX: usize = 64;

/// The RDB `rdb` framed for the wire: with `eof_mark` the diskless form, else the sized one.
pub fn frame_payload(rdb: &[u8], eof_mark: Option<&[u8; EOF_MARK_LEN]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(rdb.len() + 2 * EOF_MARK_LEN + 8);
    match eof_mark {
        Some(mark) => {
            out.extend_from_slice(b"$EOF:");
            out.extend_from_slice(mark);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(rdb);
            out.extend_from_slice(mark);
        }
        None => {
            out.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
            out.extend_from_slice(rdb);
        }
    }
    out
}

/// Why a payload could not be read; the link is then broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// The master answered an error instead of a payload (`-…`), or the header is not one.
    BadHeader(String),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::BadHeader(line) => {
                write!(
                    f,
                    "Bad protocol from MASTER, the first byte is not '$': {line}"
                )
            }
        }
    }
}

/// The replica's side: what has arrived of one payload.
#[derive(Clone, Debug, Default)]
pub struct PayloadReader {
    /// The header line so far (no header parsed yet).
    header: Vec<u8>,
    /// Once the header is read: how the payload ends.
    framing: Option<Framing>,
    /// The payload bytes so far (with a mark framing, possibly a partial mark at the end);
    /// when streaming, only those not handed back yet.
    body: Vec<u8>,
    /// Payload bytes already handed back by [`PayloadReader::feed_streaming`].
    streamed: usize,
}

/// What [`PayloadReader::feed_streaming`] took from one read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Streamed {
    /// Bytes of the input consumed (header and payload).
    pub used: usize,
    /// The payload's bytes now known not to be part of the end mark.
    pub body: Vec<u8>,
    /// The payload ended: what follows is the replication stream.
    pub done: bool,
}

#[derive(Clone, Debug)]
enum Framing {
    Sized(usize),
    Marked([u8; EOF_MARK_LEN]),
}

impl PayloadReader {
    pub fn new() -> PayloadReader {
        PayloadReader::default()
    }

    /// Payload bytes received so far, header excluded.
    pub fn received_len(&self) -> usize {
        self.streamed + self.body.len()
    }

    /// Whether the header has been read (the payload's bytes come next).
    pub fn has_header(&self) -> bool {
        self.framing.is_some()
    }

    /// The payload's size, when the header announced it (`$<len>`).
    pub fn announced_len(&self) -> Option<usize> {
        match self.framing {
            Some(Framing::Sized(len)) => Some(len),
            _ => None,
        }
    }

    /// Like [`PayloadReader::feed`], but hands the payload back as it arrives rather than
    /// gathering it (a replica loading from the socket): only the last bytes that may still
    /// turn out to be the end mark are held back.
    pub fn feed_streaming(&mut self, data: &[u8]) -> Result<Streamed, PayloadError> {
        let mut used = 0;
        if self.framing.is_none() {
            used = self.feed_header(data)?;
            if self.framing.is_none() {
                let body = Vec::new();
                return Ok(Streamed {
                    used,
                    body,
                    done: false,
                });
            }
        }
        let rest = &data[used..];
        let (taken, done) = match self.framing.clone().expect("header parsed") {
            Framing::Sized(len) => {
                let want = len - self.received_len();
                let taken = want.min(rest.len());
                self.body.extend_from_slice(&rest[..taken]);
                (taken, self.received_len() == len)
            }
            Framing::Marked(mark) => self.feed_marked(rest, &mark),
        };
        used += taken;
        let keep = match self.framing {
            Some(Framing::Marked(_)) if done => EOF_MARK_LEN,
            Some(Framing::Marked(_)) => self.body.len().min(EOF_MARK_LEN - 1),
            _ => 0,
        };
        let release = self.body.len() - keep;
        let body: Vec<u8> = self.body.drain(..release).collect();
        self.streamed += body.len();
        if done {
            *self = PayloadReader::default();
        }
        Ok(Streamed { used, body, done })
    }

    /// Takes what it can of `data`: returns how many bytes it consumed and, once the payload
    /// is complete, the RDB (bytes after it are left for the stream).
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, Option<Vec<u8>>), PayloadError> {
        let mut used = 0;
        if self.framing.is_none() {
            used = self.feed_header(data)?;
            if self.framing.is_none() {
                return Ok((used, None));
            }
        }
        let rest = &data[used..];
        let framing = self.framing.clone().expect("header parsed");
        let (taken, done) = match framing {
            Framing::Sized(len) => {
                let want = len - self.body.len();
                let taken = want.min(rest.len());
                self.body.extend_from_slice(&rest[..taken]);
                (taken, self.body.len() == len)
            }
            Framing::Marked(mark) => self.feed_marked(rest, &mark),
        };
        used += taken;
        if !done {
            return Ok((used, None));
        }
        let mut rdb = std::mem::take(&mut self.body);
        if matches!(framing, Framing::Marked(_)) {
            rdb.truncate(rdb.len() - EOF_MARK_LEN);
        }
        *self = PayloadReader::default();
        Ok((used, Some(rdb)))
    }

    /// Up to and including the header's `\n`, skipping keep-alive newlines before it.
    fn feed_header(&mut self, data: &[u8]) -> Result<usize, PayloadError> {
        for (i, &b) in data.iter().enumerate() {
            if b != b'\n' {
                self.header.push(b);
                if self.header.len() > HEADER_LEN_MAX {
                    return Err(self.bad_header());
                }
                continue;
            }
            if self.header.is_empty() {
                continue;
            }
            self.framing = Some(self.parse_header()?);
            return Ok(i + 1);
        }
        Ok(data.len())
    }

    fn parse_header(&self) -> Result<Framing, PayloadError> {
        let line = self.header.strip_suffix(b"\r").unwrap_or(&self.header);
        let Some(rest) = line.strip_prefix(b"$") else {
            return Err(self.bad_header());
        };
        if let Some(mark) = rest.strip_prefix(b"EOF:") {
            let mark: [u8; EOF_MARK_LEN] = mark.try_into().map_err(|_| self.bad_header())?;
            return Ok(Framing::Marked(mark));
        }
        std::str::from_utf8(rest)
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
            .map(Framing::Sized)
            .ok_or_else(|| self.bad_header())
    }

    fn bad_header(&self) -> PayloadError {
        PayloadError::BadHeader(String::from_utf8_lossy(&self.header).into_owned())
    }

    /// Appends `rest` up to the end of the mark, if it is in there.
    fn feed_marked(&mut self, rest: &[u8], mark: &[u8; EOF_MARK_LEN]) -> (usize, bool) {
        // Only the new bytes and the mark's length before them can complete a mark.
        let from = self.body.len().saturating_sub(EOF_MARK_LEN - 1);
        self.body.extend_from_slice(rest);
        let found = self.body[from..]
            .windows(EOF_MARK_LEN)
            .position(|w| w == mark);
        match found {
            Some(at) => {
                let end = from + at + EOF_MARK_LEN;
                let extra = self.body.len() - end;
                self.body.truncate(end);
                (rest.len() - extra, true)
            }
            None => (rest.len(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &[u8; EOF_MARK_LEN] = b"0123456789abcdef0123456789abcdef01234567";

    /// Feeds `wire` in chunks of `chunk` bytes; returns the RDB and the bytes left after it.
    fn read_in_chunks(wire: &[u8], chunk: usize) -> (Vec<u8>, Vec<u8>) {
        let mut reader = PayloadReader::new();
        let mut at = 0;
        while at < wire.len() {
            let end = (at + chunk).min(wire.len());
            let (used, done) = reader.feed(&wire[at..end]).unwrap();
            if let Some(rdb) = done {
                return (rdb, wire[at + used..].to_vec());
            }
            assert_eq!(used, end - at, "an incomplete payload takes every byte");
            at += used;
        }
        panic!("payload never completed");
    }

    #[test]
    fn the_sized_form_is_read_whole_at_any_chunking() {
        let rdb = b"REDIS0010\xff12345678".to_vec();
        let mut wire = frame_payload(&rdb, None);
        assert!(wire.starts_with(b"$18\r\nREDIS0010"));
        wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for chunk in [1, 2, 7, 100] {
            let (got, rest) = read_in_chunks(&wire, chunk);
            assert_eq!(got, rdb, "chunk {chunk}");
            assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n", "chunk {chunk}");
        }
    }

    #[test]
    fn the_marked_form_ends_at_the_mark_even_split_across_reads() {
        let rdb = b"REDIS0010 some data \xff\x00\x01".to_vec();
        let mut wire = frame_payload(&rdb, Some(MARK));
        assert!(wire.starts_with(b"$EOF:0123456789abcdef0123456789abcdef01234567\r\nREDIS"));
        assert!(wire.ends_with(MARK));
        wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for chunk in [1, 3, 39, 40, 41, 1000] {
            let (got, rest) = read_in_chunks(&wire, chunk);
            assert_eq!(got, rdb, "chunk {chunk}");
            assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n", "chunk {chunk}");
        }
    }

    #[test]
    fn keepalive_newlines_before_the_header_are_skipped() {
        let mut wire = b"\n\n\n".to_vec();
        wire.extend_from_slice(&frame_payload(b"REDIS0010", None));
        let (got, rest) = read_in_chunks(&wire, 2);
        assert_eq!(got, b"REDIS0010");
        assert!(rest.is_empty());
    }

    #[test]
    fn an_error_or_garbage_header_is_refused() {
        let mut reader = PayloadReader::new();
        let err = reader.feed(b"-ERR no\r\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Bad protocol from MASTER, the first byte is not '$': -ERR no\r"
        );
        assert!(PayloadReader::new().feed(b"$EOF:short\r\n").is_err());
        assert!(PayloadReader::new().feed(b"$12x\r\n").is_err());
        assert!(PayloadReader::new().feed(&[b'x'; 100]).is_err());
    }

    /// Streams `wire` in chunks of `chunk` bytes; returns the payload and the bytes after it.
    fn stream_in_chunks(wire: &[u8], chunk: usize) -> (Vec<u8>, Vec<u8>) {
        let mut reader = PayloadReader::new();
        let mut payload = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let end = (at + chunk).min(wire.len());
            let fed = reader.feed_streaming(&wire[at..end]).unwrap();
            payload.extend_from_slice(&fed.body);
            if fed.done {
                return (payload, wire[at + fed.used..].to_vec());
            }
            assert_eq!(fed.used, end - at, "an incomplete payload takes every byte");
            at += fed.used;
        }
        panic!("payload never completed");
    }

    #[test]
    fn streaming_hands_back_the_same_payload_without_the_mark() {
        let rdb = b"REDIS0010 some longer data that spans several reads \xff\x00\x01".to_vec();
        for eof_mark in [Some(MARK), None] {
            let mut wire = frame_payload(&rdb, eof_mark);
            wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
            for chunk in [1, 3, 39, 40, 41, 1000] {
                let (got, rest) = stream_in_chunks(&wire, chunk);
                assert_eq!(got, rdb, "chunk {chunk}");
                assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n", "chunk {chunk}");
            }
        }
    }

    #[test]
    fn streaming_holds_back_only_what_may_be_the_mark() {
        let mut reader = PayloadReader::new();
        let mut wire = b"$EOF:".to_vec();
        wire.extend_from_slice(MARK);
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&[b'a'; 100]);
        let fed = reader.feed_streaming(&wire).unwrap();
        assert_eq!(fed.body.len(), 100 - (EOF_MARK_LEN - 1));
        assert!(!fed.done && reader.has_header());
        assert_eq!(reader.received_len(), 100);
    }

    #[test]
    fn an_empty_sized_payload_completes_at_its_header() {
        let mut reader = PayloadReader::new();
        let (used, rdb) = reader.feed(b"$0\r\nrest").unwrap();
        assert_eq!((used, rdb), (4, Some(Vec::new())));
    }
}
