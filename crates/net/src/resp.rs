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
    loop {
        if buf.is_empty() {
            return Ok(None);
        }
        let scan = if buf[0] == b'*' {
            scan_multibulk(buf)?
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
fn scan_multibulk(buf: &[u8]) -> Result<Scan<Args>, ProtocolError> {
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
            Some(n) if (0..=MAX_BULK_LEN).contains(&n) => n as usize,
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    /// Parses every request in `input`; the error, if any, ends the list.
    fn requests(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<String>, usize) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match parse_request(&mut buf) {
                Ok(Some(req)) => out.push(req),
                Ok(None) => return (out, None, buf.len()),
                Err(e) => return (out, Some(e.to_string()), buf.len()),
            }
        }
    }

    fn error_of(input: &[u8]) -> String {
        requests(input).1.expect("expected a protocol error")
    }

    #[test]
    fn multibulk_requests_pipelined() {
        let (reqs, err, left) =
            requests(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4");
        assert_eq!(reqs, vec![args(&["GET", "k"]), args(&["PING"])]);
        assert_eq!(err, None);
        assert_eq!(left, 6, "the partial third request stays in the buffer");
    }

    #[test]
    fn request_errors_match_redis() {
        // Each case was sent raw to redis-server 7.0.15; the expected text is its reply.
        let cases: &[(&[u8], &str)] = &[
            (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
            (
                b"*2147483648\r\n",
                "ERR Protocol error: invalid multibulk length",
            ),
            (b"*01\r\n", "ERR Protocol error: invalid multibulk length"),
            (b"*-0\r\n", "ERR Protocol error: invalid multibulk length"),
            (b"*+1\r\n", "ERR Protocol error: invalid multibulk length"),
            (b"*\r\n", "ERR Protocol error: invalid multibulk length"),
            (b"*1\r\nx3\r\n", "ERR Protocol error: expected '$', got 'x'"),
            // An empty line where a bulk length belongs (redis-server 7.0.15 answers this).
            (b"*2\r\n\r\n", "ERR Protocol error: expected '$', got ' '"),
            (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
            (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
            (b"*1\r\n$ 4\r\n", "ERR Protocol error: invalid bulk length"),
            (b"*1\r\n$4 \r\n", "ERR Protocol error: invalid bulk length"),
            (
                b"*1\r\n$536870913\r\n",
                "ERR Protocol error: invalid bulk length",
            ),
            (
                b"\"abc\r\n",
                "ERR Protocol error: unbalanced quotes in request",
            ),
            (
                b"'abc\r\n",
                "ERR Protocol error: unbalanced quotes in request",
            ),
            (
                b"\"a\"b\r\n",
                "ERR Protocol error: unbalanced quotes in request",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &error_of(input),
                expected,
                "input {:?}",
                Bytes::copy_from_slice(input)
            );
        }
        assert_eq!(
            requests(b"*1\r\n$4\r\nPING\r\n*1\r\nq\r\n"),
            (
                vec![args(&["PING"])],
                Some("ERR Protocol error: expected '$', got 'q'".into()),
                7
            )
        );
    }

    #[test]
    fn size_limits_match_redis() {
        let mut inline = vec![b'A'; MAX_INLINE_LEN];
        assert_eq!(
            requests(&inline).1,
            None,
            "64 KB without newline still waits"
        );
        inline.push(b'A');
        assert_eq!(
            error_of(&inline),
            "ERR Protocol error: too big inline request"
        );

        let mut long_line = b"ECHO ".to_vec();
        long_line.extend(std::iter::repeat_n(b'A', 70_000));
        long_line.extend_from_slice(b"\r\n");
        let (reqs, err, _) = requests(&long_line);
        assert_eq!((reqs[0][1].len(), err), (70_000, None));

        let mut count = b"*".to_vec();
        count.extend(std::iter::repeat_n(b'1', MAX_INLINE_LEN + 1));
        assert_eq!(
            error_of(&count),
            "ERR Protocol error: too big mbulk count string"
        );
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(std::iter::repeat_n(b'1', MAX_INLINE_LEN + 1));
        assert_eq!(
            error_of(&bulk),
            "ERR Protocol error: too big bulk count string"
        );

        // Accepted headers that wait for more data, as Redis does.
        for input in [
            &b"*2147483647\r\n"[..],
            b"*2000000\r\n",
            b"*1\r\n$536870912\r\n",
            b"*1\n",
        ] {
            assert_eq!(requests(input), (vec![], None, input.len()));
        }
    }

    #[test]
    fn lengths_follow_redis_integer_syntax() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"0", Some(0)),
            (b"7", Some(7)),
            (b"-1", Some(-1)),
            (b"123456", Some(123456)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"-0", None),
            (b"01", None),
            (b"+1", None),
            (b"", None),
            (b"-", None),
            (b"1a", None),
            (b" 1", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(
                parse_redis_int(text),
                expected,
                "{:?}",
                Bytes::copy_from_slice(text)
            );
        }
    }

    #[test]
    fn small_frames_share_one_copy_and_large_ones_copy_each_argument() {
        let mut small = BytesMut::new();
        encode_request(&["SET", "key", "value"], &mut small);
        small.extend_from_slice(b"+next");
        let args = parse_request(&mut small).unwrap().unwrap();
        assert_eq!(args, vec!["SET", "key", "value"]);
        // `*3\r\n$3\r\nSET\r\n$3\r\n` lies between the start of "SET" and of "key".
        assert_eq!(
            args[1].as_ptr() as usize - args[0].as_ptr() as usize,
            3 + 2 + 4
        );
        assert_eq!(
            &small[..],
            b"+next",
            "the frame was consumed, the rest kept"
        );

        let value = "v".repeat(SHARED_FRAME_MAX_LEN);
        let mut large = BytesMut::new();
        encode_request(&["SET", "key", &value], &mut large);
        let args = parse_request(&mut large).unwrap().unwrap();
        assert_eq!(args, vec!["SET", "key", value.as_str()]);
        assert!(large.is_empty());
    }

    #[test]
    fn empty_frames_are_skipped() {
        let (reqs, err, left) = requests(b"*-1\r\n*0\r\n*-5\r\n\r\n   \r\n\nPING\n");
        assert_eq!((reqs, err, left), (vec![args(&["PING"])], None, 0));
        assert_eq!(requests(b"*0\r\n"), (vec![], None, 0));
    }

    #[test]
    fn lenient_terminators_like_redis() {
        let (reqs, _, left) = requests(b"*1\r\n$4\r\nPINGxx*1\rX$4\rXPING\r\n");
        assert_eq!((reqs, left), (vec![args(&["PING"]), args(&["PING"])], 0));
    }

    #[test]
    fn inline_quoting_matches_redis() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"ECHO \"a\\x41\\n\\q\\\\\"\r\n", &[b"ECHO", b"aA\nq\\"]),
            (b"ECHO 'a\\'b\\n'\r\n", &[b"ECHO", b"a'b\\n"]),
            (b"ECHO a\"b c\"\r\n", &[b"ECHO", b"ab c"]),
            (b"ECHO \"\"\r\n", &[b"ECHO", b""]),
            (b"ECHO \"\\x4g\"\r\n", &[b"ECHO", b"x4g"]),
            (b"ECHO a\tb\r\n", &[b"ECHO", b"a", b"b"]),
            (b"ECHO a\x0bb\r\n", &[b"ECHO", b"a\x0bb"]),
            (
                b"  SET  k   \"\\t\\r\\b\\a\"  \n",
                &[b"SET", b"k", b"\t\r\x08\x07"],
            ),
        ];
        for (input, expected) in cases {
            let (reqs, err, left) = requests(input);
            let expected: Vec<Bytes> = expected.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            assert_eq!(
                (reqs, err, left),
                (vec![expected], None, 0),
                "input {input:?}"
            );
        }
        assert_eq!(split_args(b"\"abc\\\""), None);
        assert_eq!(split_args(b"'a'b"), None);
    }

    #[test]
    fn encode_replies_resp2_and_resp3() {
        let cases: Vec<(Reply, &str, &str)> = vec![
            (Reply::ok(), "+OK\r\n", "+OK\r\n"),
            (Reply::err("x\r\ny"), "-ERR x  y\r\n", "-ERR x  y\r\n"),
            (Reply::Integer(-42), ":-42\r\n", ":-42\r\n"),
            (
                Reply::Integer(i64::MIN),
                ":-9223372036854775808\r\n",
                ":-9223372036854775808\r\n",
            ),
            (Reply::bulk_str("hi"), "$2\r\nhi\r\n", "$2\r\nhi\r\n"),
            (Reply::Nil, "$-1\r\n", "_\r\n"),
            (Reply::NilArray, "*-1\r\n", "_\r\n"),
            (
                Reply::Array(vec![Reply::Integer(1), Reply::Nil]),
                "*2\r\n:1\r\n$-1\r\n",
                "*2\r\n:1\r\n_\r\n",
            ),
            (
                Reply::Map(vec![(Reply::bulk_str("a"), Reply::Integer(1))]),
                "*2\r\n$1\r\na\r\n:1\r\n",
                "%1\r\n$1\r\na\r\n:1\r\n",
            ),
            (
                Reply::Set(vec![Reply::bulk_str("m")]),
                "*1\r\n$1\r\nm\r\n",
                "~1\r\n$1\r\nm\r\n",
            ),
            (
                Reply::Verbatim("txt", "a b".into()),
                "$3\r\na b\r\n",
                "=7\r\ntxt:a b\r\n",
            ),
            (
                Reply::Double(1.1),
                "$18\r\n1.1000000000000001\r\n",
                ",1.1000000000000001\r\n",
            ),
            (
                Reply::Double(f64::NEG_INFINITY),
                "$4\r\n-inf\r\n",
                ",-inf\r\n",
            ),
            (Reply::Bool(true), ":1\r\n", "#t\r\n"),
            (Reply::Bool(false), ":0\r\n", "#f\r\n"),
        ];
        for (reply, resp2, resp3) in cases {
            for (protocol, expected) in [(2, resp2), (3, resp3)] {
                let mut out = BytesMut::new();
                encode_reply(&reply, protocol, &mut out);
                assert_eq!(&out[..], expected.as_bytes(), "{reply:?} in RESP{protocol}");
            }
        }
    }

    #[test]
    fn doubles_print_like_c_percent_17g() {
        // Expected strings from C's printf("%.17g") (via Python's % operator) and ZSCORE.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (3.0, "3"),
            (0.5, "0.5"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (1e100, "1e+100"),
            (-2.5e-300, "-2.5e-300"),
            (5e-324, "4.9406564584124654e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.1, "0.10000000000000001"),
            (2.0 / 3.0, "0.66666666666666663"),
            (-123.456, "-123.456"),
            (0.0001, "0.0001"),
            (1e-5, "1.0000000000000001e-05"),
            (9.999999999999999e-05, "9.9999999999999991e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.2345678901234568e+16, "12345678901234568"),
            (10928588.983213553, "10928588.983213553"),
            (-7.571968556055867e-74, "-7.5719685560558675e-74"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ];
        for &(d, expected) in cases {
            assert_eq!(format_double(d), expected, "{d:e}");
        }
    }

    fn reply_of(input: &[u8]) -> Result<Option<Reply>, ProtocolError> {
        parse_reply(&mut BytesMut::from(input))
    }

    #[test]
    fn parse_resp3_replies() {
        let cases: Vec<(&[u8], Reply)> = vec![
            (b"_\r\n", Reply::Nil),
            (b"$-1\r\n", Reply::Nil),
            (b"*-1\r\n", Reply::NilArray),
            (b",inf\r\n", Reply::Double(f64::INFINITY)),
            (b",1.5\r\n", Reply::Double(1.5)),
            (
                b"(12345678901234567890\r\n",
                Reply::bulk_str("12345678901234567890"),
            ),
            (b"!9\r\nERR oops!\r\n", Reply::err("oops!")),
            (b"=7\r\nmkd:a b\r\n", Reply::Verbatim("mkd", "a b".into())),
            (b"=7\r\nxyz:a b\r\n", Reply::bulk_str("a b")),
            (
                b">2\r\n+a\r\n:1\r\n",
                Reply::Array(vec![Reply::simple("a"), Reply::Integer(1)]),
            ),
            (b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", Reply::bulk_str("v")),
            (b"~0\r\n", Reply::Set(vec![])),
        ];
        for (input, expected) in cases {
            assert_eq!(reply_of(input), Ok(Some(expected)), "{input:?}");
        }
        for bad in [
            &b"?x\r\n"[..],
            b"#x\r\n",
            b":1x\r\n",
            b"$1\r\nab\r\n",
            b"+a\rb\r\n",
            b"*-2\r\n",
        ] {
            assert!(reply_of(bad).is_err(), "{bad:?}");
        }
        let deep = b"*1\r\n".repeat(MAX_REPLY_DEPTH + 2);
        assert!(reply_of(&deep).is_err());
    }

    /// What a RESP2 reader sees of a reply.
    fn resp2_view(reply: &Reply) -> Reply {
        match reply {
            Reply::Array(items) | Reply::Set(items) => {
                Reply::Array(items.iter().map(resp2_view).collect())
            }
            Reply::Map(pairs) => Reply::Array(
                pairs
                    .iter()
                    .flat_map(|(k, v)| [resp2_view(k), resp2_view(v)])
                    .collect(),
            ),
            Reply::Verbatim(_, text) => Reply::bulk_str(text),
            Reply::Double(d) => Reply::bulk_str(&format_double(*d)),
            Reply::Bool(b) => Reply::Integer(*b as i64),
            other => other.clone(),
        }
    }

    /// What a RESP3 reader sees of a reply.
    fn resp3_view(reply: &Reply) -> Reply {
        match reply {
            Reply::NilArray => Reply::Nil,
            Reply::Array(items) => Reply::Array(items.iter().map(resp3_view).collect()),
            Reply::Set(items) => Reply::Set(items.iter().map(resp3_view).collect()),
            Reply::Map(pairs) => Reply::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (resp3_view(k), resp3_view(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn line_text() -> impl Strategy<Value = String> {
        "[^\r\n]{0,12}"
    }

    fn any_reply() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            line_text().prop_map(Reply::Simple),
            line_text().prop_map(Reply::Error),
            any::<i64>().prop_map(Reply::Integer),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| Reply::Bulk(v.into())),
            Just(Reply::Nil),
            Just(Reply::NilArray),
            (prop_oneof![Just("txt"), Just("mkd")], ".{0,10}")
                .prop_map(|(f, t)| Reply::Verbatim(f, t)),
            any::<f64>()
                .prop_filter("nan never equals itself", |d| !d.is_nan())
                .prop_map(Reply::Double),
            any::<bool>().prop_map(Reply::Bool),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Array),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Set),
                proptest::collection::vec((inner.clone(), inner), 0..3).prop_map(Reply::Map),
            ]
        })
    }

    /// Every proper prefix of `frame` is incomplete and consumes nothing; the whole frame parses
    /// to `expected` and is consumed exactly.
    fn check_splits<T: PartialEq + std::fmt::Debug>(
        frame: &[u8],
        expected: &T,
        parse: impl Fn(&mut BytesMut) -> Result<Option<T>, ProtocolError>,
    ) {
        for cut in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..cut]);
            assert_eq!(parse(&mut buf), Ok(None), "prefix of {cut} bytes");
            assert_eq!(buf.len(), cut, "a partial frame was consumed");
        }
        let mut buf = BytesMut::from(frame);
        buf.extend_from_slice(b"+next");
        let got = parse(&mut buf);
        assert_eq!(got.as_ref().map(|o| o.as_ref()), Ok(Some(expected)));
        assert_eq!(&buf[..], b"+next");
    }

    proptest! {
        #[test]
        fn request_round_trip_and_splits(
            list in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..6)
        ) {
            let mut frame = BytesMut::new();
            encode_request(&list, &mut frame);
            let expected: Vec<Bytes> = list.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            check_splits(&frame, &expected, parse_request);
        }

        #[test]
        fn inline_hex_quoting_round_trips(
            list in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 1..5)
        ) {
            let mut line = Vec::new();
            for arg in &list {
                line.extend_from_slice(b" \"");
                for b in arg {
                    line.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                }
                line.push(b'"');
            }
            line.extend_from_slice(b"\r\n");
            let expected: Vec<Bytes> = list.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            let mut buf = BytesMut::from(&line[..]);
            prop_assert_eq!(parse_request(&mut buf), Ok(Some(expected)));
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn reply_round_trips_and_splits(reply in any_reply()) {
            for (protocol, view) in [(2u8, resp2_view(&reply)), (3, resp3_view(&reply))] {
                let mut frame = BytesMut::new();
                encode_reply(&reply, protocol, &mut frame);
                check_splits(&frame, &view, parse_reply);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = parse_request(&mut buf) {}
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = parse_reply(&mut buf) {}
        }

        #[test]
        fn resp_like_bytes_never_panic(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(&b"*"[..]), Just(&b"$"[..]), Just(&b"\r\n"[..]), Just(&b"-1"[..]),
                    Just(&b"2"[..]), Just(&b"%"[..]), Just(&b"|"[..]), Just(&b"\""[..]),
                    Just(&b"'"[..]), Just(&b"\\x"[..]), Just(&b"="[..]), Just(&b"a"[..]),
                ],
                0..40,
            )
        ) {
            let data = parts.concat();
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = parse_request(&mut buf) {}
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = parse_reply(&mut buf) {}
        }
    }
}
