//! RESP codec on `bytes`: client requests in, replies out (RESP2 or RESP3), and the reverse
//! direction (requests out, replies in) for our own client.
//!
//! Parsing never blocks and never consumes a partial frame: a parser returns `Ok(None)` until the
//! buffer holds a whole frame, then removes exactly that frame. Requests follow what Redis 7.0
//! accepts byte for byte: a buffer starting with `*` is a multibulk request, anything else an
//! inline line split with Redis's quoting rules. The limits and error texts are Redis's, so a
//! driver can send `-<ProtocolError>` and close the connection exactly as `redis-server` does.
//! Quirks kept on purpose because clients never notice them but a byte-level comparison would:
//! the two bytes after `\r` of a count line and after bulk data are skipped unchecked, and
//! `*0`/`*-N` requests are silently skipped.

use bytes::{Buf, Bytes, BytesMut};
use clusterlab_core::Reply;

/// Longest bulk argument a client may send (`proto-max-bulk-len` default, 512 MB).
pub const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;
/// Largest multibulk count Redis 7.0 accepts (`INT_MAX`).
pub const MAX_MULTIBULK_LEN: i64 = i32::MAX as i64;
/// Longest inline line (and count line) without its terminator, as Redis's 64 KB.
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Nesting limit when parsing replies, so hostile input cannot overflow the stack.
pub const MAX_REPLY_DEPTH: usize = 256;

/// A malformed frame. `Display` of the request errors is the exact Redis 7.0 error reply text
/// (without the leading `-`); the connection is closed after sending it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("ERR Protocol error: expected '$', got '{}'", error_char(*.0))]
    ExpectedDollar(u8),
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("ERR Protocol error: too big inline request")]
    TooBigInline,
    #[error("ERR Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    #[error("ERR Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// A reply (read by our client) that is not valid RESP2/RESP3.
    #[error("Protocol error: invalid reply ({0})")]
    InvalidReply(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Requests in
// ---------------------------------------------------------------------------------------------

/// What scanning the front of the buffer found.
enum Scan<T> {
    Incomplete,
    /// A frame of this many bytes that carries no command (`*0`, `*-1`, an empty inline line).
    Skip(usize),
    /// A frame of this many bytes and what it carries.
    Frame(usize, T),
}

/// Frames up to this size are copied once and their arguments are slices of that copy: one
/// allocation per request, and every later clone of an argument (into the keyspace, the AOF,
/// the replication stream) only bumps a shared count. A stored key or value then keeps its whole
/// frame alive, so larger frames get one exact copy per argument instead, which bounds that
/// overhead by this many bytes per stored argument. 512 covers SET with values of a few hundred
/// bytes and MSET of ten small pairs (about 330 bytes).
pub const SHARED_FRAME_MAX_LEN: usize = 512;

/// Removes one complete request from `buf` and returns its arguments; `Ok(None)` when `buf`
/// does not yet hold a whole request (nothing is consumed then, apart from frames that carry no
/// command, which are dropped as Redis drops them).
pub fn parse_request(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    parse_request_limited(buf, MAX_BULK_LEN as u64)
}

/// [`parse_request`] with a client's `proto-max-bulk-len`: a longer bulk argument is an
/// `invalid bulk length`.
pub fn parse_request_limited(
    buf: &mut BytesMut,
    max_bulk_len: u64,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let max_bulk_len = max_bulk_len.min(i64::MAX as u64) as i64;
    loop {
        if buf.is_empty() {
            return Ok(None);
        }
        let scan = if buf[0] == b'*' {
            scan_multibulk(buf, max_bulk_len)?
        } else {
            scan_inline(buf)?
        };
        match scan {
            Scan::Incomplete => return Ok(None),
            Scan::Skip(len) => buf.advance(len),
            Scan::Frame(len, Args::Multibulk(count)) => {
                // Copied rather than sliced from `buf`: a slice would pin the whole read
                // buffer for as long as the keyspace keeps the value.
                let args = multibulk_args(&buf[..len], count);
                buf.advance(len);
                return Ok(Some(args));
            }
            Scan::Frame(len, Args::Owned(args)) => {
                buf.advance(len);
                return Ok(Some(args.into_iter().map(Bytes::from).collect()));
            }
        }
    }
}

/// Arguments of a scanned request: how many a checked multibulk frame holds, or freshly built
/// values (inline, where quoting rewrites bytes).
enum Args {
    Multibulk(usize),
    Owned(Vec<Vec<u8>>),
}

/// The count line `<prefix><digits>\r?` starting at `pos`: its value and where the next line
/// starts. Redis looks for `\r` only and skips the byte after it without checking it.
fn scan_count_line(
    buf: &[u8],
    pos: usize,
    too_big: ProtocolError,
) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = &buf[pos..];
    match memchr_cr(rest) {
        None if rest.len() > MAX_INLINE_LEN => Err(too_big),
        None => Ok(None),
        Some(cr) if cr + 2 > rest.len() => Ok(None),
        // An empty line (`cr == 0`) has no prefix byte either: the caller reports the byte
        // it found instead of the prefix it expected.
        Some(cr) => Ok(Some((rest.get(1..cr).unwrap_or_default(), pos + cr + 2))),
    }
}

/// A byte as an error line may show it: Redis turns line breaks into spaces so the error
/// stays one RESP line.
fn error_char(byte: u8) -> char {
    match byte {
        b'\r' | b'\n' => ' ',
        other => char::from(other),
    }
}

fn memchr_cr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\r')
}

/// Checks the multibulk frame at the front of `buf` without copying anything: its length and
/// argument count once it is complete.
fn scan_multibulk(buf: &[u8], max_bulk_len: i64) -> Result<Scan<Args>, ProtocolError> {
    debug_assert_eq!(buf[0], b'*');
    let Some((digits, mut pos)) = scan_count_line(buf, 0, ProtocolError::TooBigMultibulkCount)?
    else {
        return Ok(Scan::Incomplete);
    };
    let count = match parse_redis_int(digits) {
        Some(n) if n <= MAX_MULTIBULK_LEN => n,
        _ => return Err(ProtocolError::InvalidMultibulkLength),
    };
    if count <= 0 {
        return Ok(Scan::Skip(pos));
    }
    for _ in 0..count {
        let Some((digits, data_start)) = scan_count_line(buf, pos, ProtocolError::TooBigBulkCount)?
        else {
            return Ok(Scan::Incomplete);
        };
        if buf[pos] != b'$' {
            return Err(ProtocolError::ExpectedDollar(buf[pos]));
        }
        let len = match parse_redis_int(digits) {
            Some(n) if (0..=max_bulk_len).contains(&n) => n as usize,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        let data_end = data_start + len;
        if buf.len() < data_end + 2 {
            return Ok(Scan::Incomplete);
        }
        pos = data_end + 2;
    }
    Ok(Scan::Frame(pos, Args::Multibulk(count as usize)))
}

/// The `count` arguments of `frame`, a whole multibulk request that [`scan_multibulk`] accepted.
fn multibulk_args(frame: &[u8], count: usize) -> Vec<Bytes> {
    let shared = (frame.len() <= SHARED_FRAME_MAX_LEN).then(|| Bytes::copy_from_slice(frame));
    let mut args = Vec::with_capacity(count);
    let mut pos = memchr_cr(frame).expect("checked frame") + 2;
    for _ in 0..count {
        let cr = pos + memchr_cr(&frame[pos..]).expect("checked frame");
        let len = parse_redis_int(&frame[pos + 1..cr]).expect("checked frame") as usize;
        let (start, end) = (cr + 2, cr + 2 + len);
        args.push(match &shared {
            Some(copy) => copy.slice(start..end),
            None => Bytes::copy_from_slice(&frame[start..end]),
        });
        pos = end + 2;
    }
    debug_assert_eq!(pos, frame.len(), "arguments end where the frame ends");
    args
}

fn scan_inline(buf: &[u8]) -> Result<Scan<Args>, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(Scan::Incomplete);
    };
    let mut line = &buf[..newline];
    if let [head @ .., b'\r'] = line {
        line = head;
    }
    let args = split_args(line).ok_or(ProtocolError::UnbalancedQuotes)?;
    if args.is_empty() {
        return Ok(Scan::Skip(newline + 1));
    }
    Ok(Scan::Frame(newline + 1, Args::Owned(args)))
}

/// Redis's integer syntax for lengths: optional `-`, no `+`, no leading zeros, fits in i64.
fn parse_redis_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    match digits {
        [b'0'] if !negative => return Some(0), // "0" but not "-0"
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    // Accumulated on the negative side so that i64::MIN parses too.
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// Inline requests, redis-cli lines and AOF manifests split words like redis.conf does.
pub use clusterlab_core::text::split_args;

// ---------------------------------------------------------------------------------------------
// Replies out, requests out
// ---------------------------------------------------------------------------------------------

/// Appends `reply` in RESP2 (`protocol` 2) or RESP3 (3 and above).
pub fn encode_reply(reply: &Reply, protocol: u8, out: &mut BytesMut) {
    let resp3 = protocol >= 3;
    match reply {
        Reply::Simple(text) => put_line(out, b'+', text),
        Reply::Error(text) => put_line(out, b'-', text),
        Reply::Integer(n) => put_header(out, b':', *n),
        Reply::Bulk(data) => put_bulk(out, data),
        Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(items) => put_aggregate(out, b'*', items, protocol),
        Reply::Set(items) => put_aggregate(out, if resp3 { b'~' } else { b'*' }, items, protocol),
        Reply::Map(pairs) => {
            if resp3 {
                put_header(out, b'%', pairs.len() as i64);
            } else {
                put_header(out, b'*', 2 * pairs.len() as i64);
            }
            for (key, value) in pairs {
                encode_reply(key, protocol, out);
                encode_reply(value, protocol, out);
            }
        }
        Reply::Verbatim(format, text) if resp3 => {
            assert_eq!(format.len(), 3, "verbatim format is three letters");
            put_header(out, b'=', (text.len() + 4) as i64);
            out.extend_from_slice(format.as_bytes());
            out.extend_from_slice(b":");
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Reply::Verbatim(_, text) => put_bulk(out, text.as_bytes()),
        Reply::Double(d) if resp3 => put_line(out, b',', &format_double(*d)),
        Reply::Double(d) => put_bulk(out, format_double(*d).as_bytes()),
        Reply::Bool(b) if resp3 => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(b) => out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
    }
}

/// Appends a push frame (`>` in RESP3; an array in RESP2, which has no pushes).
pub fn encode_push(items: &[Reply], protocol: u8, out: &mut BytesMut) {
    let kind = if protocol >= 3 { b'>' } else { b'*' };
    put_aggregate(out, kind, items, protocol);
}

/// Appends what an [`Effect::ClientPush`] or [`Effect::ClientNotice`] carries, in the
/// client's protocol; other effects append nothing.
///
/// [`Effect::ClientPush`]: clusterlab_core::Effect::ClientPush
/// [`Effect::ClientNotice`]: clusterlab_core::Effect::ClientNotice
pub fn encode_out_of_band(effect: &clusterlab_core::Effect, protocol: u8, out: &mut BytesMut) {
    match effect {
        clusterlab_core::Effect::ClientPush { items, .. } => encode_push(items, protocol, out),
        clusterlab_core::Effect::ClientNotice { reply, .. } => encode_reply(reply, protocol, out),
        _ => {}
    }
}

/// Appends a request as a multibulk frame: the encoding the node logs and replicates.
pub use clusterlab_core::cmd::propagate::encode_command as encode_request;

/// A line-type reply; `\r` and `\n` would end the frame early, so they become spaces (Redis
/// does the same to the error texts it formats).
fn put_line(out: &mut BytesMut, prefix: u8, text: &str) {
    out.extend_from_slice(&[prefix]);
    let bytes = text.as_bytes();
    if bytes.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            bytes
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(b"\r\n");
}

fn put_header(out: &mut BytesMut, prefix: u8, n: i64) {
    out.extend_from_slice(&[prefix]);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    put_header(out, b'$', data.len() as i64);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn put_aggregate(out: &mut BytesMut, prefix: u8, items: &[Reply], protocol: u8) {
    put_header(out, prefix, items.len() as i64);
    for item in items {
        encode_reply(item, protocol, out);
    }
}

/// A double as Redis 7.0 prints it: C's `%.17g`, with `inf`, `-inf` and `nan`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    const PRECISION: i32 = 17;
    // Rounding to 17 significant digits first tells which notation %g picks.
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, d);
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("{:e} output has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    if (-4..PRECISION).contains(&exponent) {
        let fixed = format!("{:.*}", (PRECISION - 1 - exponent) as usize, d);
        trim_fraction_zeros(&fixed).to_string()
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}e{}{:02}",
            trim_fraction_zeros(mantissa),
            sign,
            exponent.abs()
        )
    }
}

fn trim_fraction_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------------
// Replies in
// ---------------------------------------------------------------------------------------------

/// Removes one complete RESP2 or RESP3 reply from `buf`; `Ok(None)` when incomplete (nothing is
/// consumed). RESP3 attributes are read and dropped; pushes come back as arrays, big numbers as
/// bulk strings, blob errors as errors, and `_` as `Nil`.
pub fn parse_reply(buf: &mut BytesMut) -> Result<Option<Reply>, ProtocolError> {
    let mut reader = ReplyReader {
        buf: &buf[..],
        pos: 0,
    };
    match reader.reply(0)? {
        Some(reply) => {
            let len = reader.pos;
            buf.advance(len);
            Ok(Some(reply))
        }
        None => Ok(None),
    }
}

/// A cursor over a buffer being parsed; `None` results mean "need more bytes".
struct ReplyReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

type Parsed<T> = Result<Option<T>, ProtocolError>;

fn invalid<T>(what: &'static str) -> Parsed<T> {
    Err(ProtocolError::InvalidReply(what))
}

impl<'a> ReplyReader<'a> {
    /// The next `\r\n`-terminated line, without its terminator.
    fn line(&mut self) -> Parsed<&'a [u8]> {
        let buf = self.buf;
        let rest = &buf[self.pos..];
        let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
            return Ok(None);
        };
        match rest.get(cr + 1) {
            None => Ok(None),
            Some(b'\n') => {
                self.pos += cr + 2;
                Ok(Some(&rest[..cr]))
            }
            Some(_) => invalid("line not ended by CRLF"),
        }
    }

    fn integer_line(&mut self) -> Parsed<i64> {
        let Some(line) = self.line()? else {
            return Ok(None);
        };
        match std::str::from_utf8(line).ok().and_then(|s| s.parse().ok()) {
            Some(n) => Ok(Some(n)),
            None => invalid("bad integer"),
        }
    }

    /// `len` bytes followed by CRLF.
    fn blob(&mut self, len: i64) -> Parsed<&'a [u8]> {
        let buf = self.buf;
        if !(0..=MAX_BULK_LEN).contains(&len) {
            return invalid("bad blob length");
        }
        let start = self.pos;
        let end = start + len as usize;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return invalid("blob not ended by CRLF");
        }
        self.pos = end + 2;
        Ok(Some(&buf[start..end]))
    }

    fn reply(&mut self, depth: usize) -> Parsed<Reply> {
        if depth > MAX_REPLY_DEPTH {
            return invalid("nested too deeply");
        }
        let Some(&kind) = self.buf.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        match kind {
            b'+' | b'-' | b'(' => self.line_reply(kind),
            b':' => Ok(self.integer_line()?.map(Reply::Integer)),
            b'_' => match self.line()? {
                None => Ok(None),
                Some([]) => Ok(Some(Reply::Nil)),
                Some(_) => invalid("bad null"),
            },
            b',' => self.double(),
            b'#' => match self.line()? {
                None => Ok(None),
                Some(b"t") => Ok(Some(Reply::Bool(true))),
                Some(b"f") => Ok(Some(Reply::Bool(false))),
                Some(_) => invalid("bad boolean"),
            },
            b'$' | b'!' | b'=' => self.blob_reply(kind),
            b'*' | b'~' | b'>' => self.aggregate(kind, depth),
            b'%' => self.map(depth),
            b'|' => {
                // An attribute decorates the reply that follows it; our callers only want that.
                if self.map(depth)?.is_none() {
                    return Ok(None);
                }
                self.reply(depth + 1)
            }
            _ => invalid("unknown type byte"),
        }
    }

    fn line_reply(&mut self, kind: u8) -> Parsed<Reply> {
        let Some(line) = self.line()? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(line).into_owned();
        Ok(Some(match kind {
            b'+' => Reply::Simple(text),
            b'-' => Reply::Error(text),
            _ => Reply::Bulk(Bytes::from(text)),
        }))
    }

    fn double(&mut self) -> Parsed<Reply> {
        let Some(line) = self.line()? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(line).unwrap_or("");
        let value = match text {
            "inf" | "+inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" | "-nan" => f64::NAN,
            _ => match text.parse::<f64>() {
                Ok(d) if d.is_finite() => d,
                _ => return invalid("bad double"),
            },
        };
        Ok(Some(Reply::Double(value)))
    }

    fn blob_reply(&mut self, kind: u8) -> Parsed<Reply> {
        let Some(len) = self.integer_line()? else {
            return Ok(None);
        };
        if kind == b'$' && len == -1 {
            return Ok(Some(Reply::Nil));
        }
        let Some(data) = self.blob(len)? else {
            return Ok(None);
        };
        Ok(Some(match kind {
            b'$' => Reply::Bulk(Bytes::copy_from_slice(data)),
            b'!' => Reply::Error(String::from_utf8_lossy(data).into_owned()),
            _ => verbatim(data)?,
        }))
    }

    /// Element count of an aggregate; `Some(None)` is RESP2's null array.
    fn count(&mut self, allow_null: bool) -> Parsed<Option<usize>> {
        let Some(n) = self.integer_line()? else {
            return Ok(None);
        };
        match n {
            -1 if allow_null => Ok(Some(None)),
            n if (0..=MAX_MULTIBULK_LEN).contains(&n) => Ok(Some(Some(n as usize))),
            _ => invalid("bad aggregate length"),
        }
    }

    fn aggregate(&mut self, kind: u8, depth: usize) -> Parsed<Reply> {
        let Some(count) = self.count(kind == b'*')? else {
            return Ok(None);
        };
        let Some(count) = count else {
            return Ok(Some(Reply::NilArray));
        };
        let mut items = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let Some(item) = self.reply(depth + 1)? else {
                return Ok(None);
            };
            items.push(item);
        }
        Ok(Some(if kind == b'~' {
            Reply::Set(items)
        } else {
            Reply::Array(items)
        }))
    }

    fn map(&mut self, depth: usize) -> Parsed<Reply> {
        let Some(Some(count)) = self.count(false)? else {
            return Ok(None);
        };
        let mut pairs = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let Some(key) = self.reply(depth + 1)? else {
                return Ok(None);
            };
            let Some(value) = self.reply(depth + 1)? else {
                return Ok(None);
            };
            pairs.push((key, value));
        }
        Ok(Some(Reply::Map(pairs)))
    }
}

/// `fmt:text`; the formats RESP3 defines keep their tag, others read as a plain bulk string.
fn verbatim(data: &[u8]) -> Result<Reply, ProtocolError> {
    if data.len() < 4 || data[3] != b':' {
        return Err(ProtocolError::InvalidReply("bad verbatim string"));
    }
    let format: &'static str = match &data[..3] {
        b"txt" => "txt",
        b"mkd" => "mkd",
        _ => return Ok(Reply::Bulk(Bytes::copy_from_slice(&data[4..]))),
    };
    let text = String::from_utf8_lossy(&data[4..]).into_owned();
    Ok(Reply::Verbatim(format, text))
}

#[cfg(test)]
mod tests;
