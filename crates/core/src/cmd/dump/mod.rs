//! DUMP, RESTORE and RESTORE-ASKING, and the dump payload they exchange with Redis.
//!
//! A payload is `<type byte><RDB value><u16 LE RDB version><u64 LE CRC64>`, the checksum
//! covering every byte before it. Keys move between nodes in this form (MIGRATE sends
//! `RESTORE-ASKING`), so it must be byte-compatible with Redis 7.0 in both directions: we encode
//! strings as Redis does (integers in 1, 2 or 4 bytes, LZF-compressed under `rdbcompression
//! yes` when longer than 20 bytes and that saves at least 4, otherwise length-prefixed), and we
//! decode everything Redis writes for a string.
//! Collections (`types`) are written as Redis 7.0 writes them, their packed blobs in
//! `listpack`, streams in `stream`; a type byte we do not read (modules, zipmaps) is `Bad data
//! format`.

use bytes::Bytes;
use crc::{Crc, CRC_64_REDIS};

use super::keys::{already_past, argv, lookup_read, lookup_write, propagate};
use super::{is, parse_i64, CommandSpec};
use crate::cmd::CmdFlags as F;
use crate::db::{EncodingLimits, Value, ValueRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(crate) mod listpack;
mod lzf;
mod stream;
mod types;
pub(crate) use types::quicklist_node_takes;
mod ziplist;

/// The RDB version we write; payloads from newer versions are refused.
pub const RDB_VERSION: u16 = 10;

/// CRC-64/Jones, reflected, init 0, no final xor: Redis's `crc64`.
const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

/// Bytes after the value: the version and the checksum.
const FOOTER_LEN: usize = 2 + 8;

/// RDB object type of a plain string.
const TYPE_STRING: u8 = 0;

/// Top two bits of a length byte: how the length (or special encoding) is stored.
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_WIDE: u8 = 2;
const LEN_SPECIAL: u8 = 3;
/// The two wide length markers.
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
/// Special string encodings (the low 6 bits after `LEN_SPECIAL`).
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Redis only tries the integer form on strings this short (`-2147483648` is 11 bytes).
const MAX_INT_STRING_LEN: usize = 11;
/// Redis tries LZF only on strings longer than this.
const LZF_MIN_LEN_EXCLUSIVE: usize = 20;
/// What compression must save for Redis to keep it.
const LZF_MIN_SAVING: usize = 4;

/// Whether strings are written LZF-compressed where that pays (`rdbcompression`, on by
/// default as in Redis), in DUMP payloads, RDB files and FUNCTION DUMP alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Lzf,
    Off,
}

impl Compression {
    /// The setting of `rdbcompression`.
    pub fn from_config(rdbcompression: bool) -> Compression {
        if rdbcompression {
            Compression::Lzf
        } else {
            Compression::Off
        }
    }
}

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "dump",
        arity: 2,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@slow"],
        group: "generic",
        summary: "Return a serialized version of the value stored at the specified key.",
        since: "2.6.0",
        handler: dump,
    },
    CommandSpec {
        name: "restore",
        arity: -4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        group: "generic",
        summary:
            "Create a key using the provided serialized value, previously obtained using DUMP.",
        since: "2.6.0",
        handler: restore,
    },
    CommandSpec {
        name: "restore-asking",
        arity: -4,
        flags: F::WRITE.union(F::DENYOOM).union(F::ASKING),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        group: "server",
        summary: "An internal command for migrating keys in a cluster",
        since: "3.0.0",
        handler: restore,
    },
];

// ---- payload format ---------------------------------------------------------------------------

/// Why a payload was refused, one variant per Redis error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, RDB version newer than ours, or checksum mismatch.
    VersionOrChecksum,
    /// The value itself is malformed or of a type we do not have.
    BadFormat,
}

impl PayloadError {
    pub fn reply(self) -> Reply {
        match self {
            PayloadError::VersionOrChecksum => {
                Reply::err("DUMP payload version or checksum are wrong")
            }
            PayloadError::BadFormat => Reply::err("Bad data format"),
        }
    }
}

/// The DUMP payload of `value` (stored or owned).
pub fn dump_payload<'a>(value: impl Into<ValueRef<'a>>, compression: Compression) -> Bytes {
    let mut out = Vec::new();
    encode_typed_value(value.into(), compression, &mut out);
    seal_payload(out)
}

/// Appends the footer (RDB version, then the CRC64 of everything before it) to a body.
pub fn seal_payload(mut body: Vec<u8>) -> Bytes {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(body)
}

/// The bytes before the footer, if the payload's version and checksum are acceptable.
pub fn verify_payload(payload: &[u8]) -> Result<&[u8], PayloadError> {
    if payload.len() < FOOTER_LEN {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (signed, crc) = payload.split_at(payload.len() - 8);
    let (body, version) = signed.split_at(signed.len() - 2);
    let version = u16::from_le_bytes([version[0], version[1]]);
    let mut crc_bytes = [0u8; 8];
    crc_bytes.copy_from_slice(crc);
    if version > RDB_VERSION || CRC64.checksum(signed) != u64::from_le_bytes(crc_bytes) {
        return Err(PayloadError::VersionOrChecksum);
    }
    Ok(body)
}

/// The value a payload holds, encoded as Redis's default limits say. Bytes left over after the
/// value are ignored, as Redis does.
pub fn parse_payload(payload: &[u8]) -> Result<Value, PayloadError> {
    parse_payload_limited(payload, &EncodingLimits::default())
}

/// [`parse_payload`] under configured encoding limits (what RESTORE uses).
pub fn parse_payload_limited(
    payload: &[u8],
    limits: &EncodingLimits,
) -> Result<Value, PayloadError> {
    let body = verify_payload(payload)?;
    let mut reader = Reader::new(body);
    let rdb_type = reader.byte()?;
    decode_typed_value(rdb_type, &mut reader, limits)
}

/// A string the way Redis's RDB writer stores it.
fn encode_string(s: &[u8], compression: Compression, out: &mut Vec<u8>) {
    if let Some(n) = integer_form(s) {
        let special = LEN_SPECIAL << 6;
        if let Ok(n) = i8::try_from(n) {
            out.push(special | ENC_INT8);
            out.extend_from_slice(&n.to_le_bytes());
            return;
        }
        if let Ok(n) = i16::try_from(n) {
            out.push(special | ENC_INT16);
            out.extend_from_slice(&n.to_le_bytes());
            return;
        }
        if let Ok(n) = i32::try_from(n) {
            out.push(special | ENC_INT32);
            out.extend_from_slice(&n.to_le_bytes());
            return;
        }
    }
    if compression == Compression::Lzf && s.len() > LZF_MIN_LEN_EXCLUSIVE {
        if let Some(compressed) = lzf::compress(s, s.len() - LZF_MIN_SAVING) {
            debug_assert!(compressed.len() <= s.len() - LZF_MIN_SAVING);
            out.push(LEN_SPECIAL << 6 | ENC_LZF);
            encode_length(compressed.len() as u64, out);
            encode_length(s.len() as u64, out);
            out.extend_from_slice(&compressed);
            return;
        }
    }
    encode_length(s.len() as u64, out);
    out.extend_from_slice(s);
}

/// The integer `s` spells, if it spells one canonically (so decoding gives back the same bytes).
fn integer_form(s: &[u8]) -> Option<i64> {
    if s.len() > MAX_INT_STRING_LEN {
        return None;
    }
    let n = parse_i64(s)?;
    (n.to_string().as_bytes() == s).then_some(n)
}

/// RDB length: 6 bits, 14 bits (big-endian), or a marker then 32 or 64 bits big-endian.
fn encode_length(len: u64, out: &mut Vec<u8>) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push((LEN_14BIT << 6) | (len >> 8) as u8);
        out.push(len as u8);
    } else if let Ok(len) = u32::try_from(len) {
        out.push(LEN_32BIT);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// What an RDB length field holds.
enum Length {
    Plain(u64),
    /// A special string encoding (`ENC_*`).
    Special(u8),
}

/// Reads RDB fields from a payload body (or an RDB file); any read past its end is `BadFormat`.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    /// Bytes read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], PayloadError> {
        let remaining = self.data.len() - self.pos;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= remaining)
            .ok_or(PayloadError::BadFormat)?;
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], PayloadError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64)?);
        Ok(out)
    }

    fn length(&mut self) -> Result<Length, PayloadError> {
        let first = self.byte()?;
        let low = first & 0x3f;
        Ok(match first >> 6 {
            LEN_6BIT => Length::Plain(u64::from(low)),
            LEN_14BIT => Length::Plain(u64::from(low) << 8 | u64::from(self.byte()?)),
            LEN_WIDE => match first {
                LEN_32BIT => Length::Plain(u64::from(u32::from_be_bytes(self.array()?))),
                LEN_64BIT => Length::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(PayloadError::BadFormat),
            },
            // Two bits leave only LEN_SPECIAL.
            _ => Length::Special(low),
        })
    }

    pub(crate) fn plain_length(&mut self) -> Result<u64, PayloadError> {
        match self.length()? {
            Length::Plain(n) => Ok(n),
            Length::Special(_) => Err(PayloadError::BadFormat),
        }
    }

    pub(crate) fn string(&mut self) -> Result<Vec<u8>, PayloadError> {
        let n: i64 = match self.length()? {
            Length::Plain(len) => return Ok(self.take(len)?.to_vec()),
            Length::Special(ENC_INT8) => i8::from_le_bytes(self.array()?).into(),
            Length::Special(ENC_INT16) => i16::from_le_bytes(self.array()?).into(),
            Length::Special(ENC_INT32) => i32::from_le_bytes(self.array()?).into(),
            Length::Special(ENC_LZF) => {
                let compressed_len = self.plain_length()?;
                let len = self.plain_length()?;
                let compressed = self.take(compressed_len)?;
                let len = usize::try_from(len).map_err(|_| PayloadError::BadFormat)?;
                return lzf::decompress(compressed, len).ok_or(PayloadError::BadFormat);
            }
            Length::Special(_) => return Err(PayloadError::BadFormat),
        };
        Ok(n.to_string().into_bytes())
    }
}

// ---- shared with RDB files (`crate::rdb`) ------------------------------------------------------

/// `<type byte><value>` of `value`: a payload's body, and a key's entry in an RDB file.
pub(crate) fn encode_typed_value(value: ValueRef<'_>, compression: Compression, out: &mut Vec<u8>) {
    if let ValueRef::String(s) = value {
        out.push(TYPE_STRING);
        encode_string(s, compression, out);
    } else {
        let encoded = types::encode_collection(value, compression, out);
        debug_assert!(encoded, "every other type is a collection");
    }
}

/// A string field (keys, aux fields) as RDB stores it.
pub(crate) fn encode_rdb_string(s: &[u8], compression: Compression, out: &mut Vec<u8>) {
    encode_string(s, compression, out);
}

/// A length field as RDB stores it.
pub(crate) fn encode_rdb_length(len: u64, out: &mut Vec<u8>) {
    encode_length(len, out);
}

/// The value after type byte `rdb_type`; `BadFormat` for a type we do not read.
pub(crate) fn decode_typed_value(
    rdb_type: u8,
    reader: &mut Reader<'_>,
    limits: &EncodingLimits,
) -> Result<Value, PayloadError> {
    match rdb_type {
        TYPE_STRING => Ok(Value::String(Bytes::from(reader.string()?))),
        rdb_type => types::decode_collection(rdb_type, reader, limits)
            .unwrap_or(Err(PayloadError::BadFormat)),
    }
}

/// Redis's CRC-64 of `data` (RDB files end with it).
pub(crate) fn crc64(data: &[u8]) -> u64 {
    CRC64.checksum(data)
}

// ---- commands ---------------------------------------------------------------------------------

/// DUMP `key`: the payload, or nil for a missing key.
fn dump(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let compression = node.rdb_compression();
    match lookup_read(node, &args[1]) {
        Some(entry) => Reply::Bulk(dump_payload(entry.value, compression)),
        None => Reply::Nil,
    }
}

/// RESTORE's options after the payload.
#[derive(Debug, Default, PartialEq)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idle_s: Option<u64>,
    freq: Option<u8>,
}

impl RestoreOptions {
    /// `[REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`, in any order and repeatable, but IDLETIME and
    /// FREQ exclude each other; the one the `maxmemory-policy` keeps sets the key's clock.
    fn parse(options: &[Bytes]) -> Result<RestoreOptions, Reply> {
        let mut parsed = RestoreOptions::default();
        let (mut idletime_given, mut freq_given) = (false, false);
        let mut i = 0;
        while i < options.len() {
            let option = &options[i];
            let has_value = i + 1 < options.len();
            if is(option, "replace") {
                parsed.replace = true;
            } else if is(option, "absttl") {
                parsed.absttl = true;
            } else if is(option, "idletime") && has_value && !freq_given {
                let idle_s = parse_i64(&options[i + 1]).ok_or_else(Reply::not_integer)?;
                if idle_s < 0 {
                    return Err(Reply::err("Invalid IDLETIME value, must be >= 0"));
                }
                idletime_given = true;
                parsed.idle_s = Some(idle_s as u64);
                i += 1;
            } else if is(option, "freq") && has_value && !idletime_given {
                let freq = parse_i64(&options[i + 1]).ok_or_else(Reply::not_integer)?;
                if !(0..=255).contains(&freq) {
                    return Err(Reply::err("Invalid FREQ value, must be >= 0 and <= 255"));
                }
                freq_given = true;
                parsed.freq = Some(freq as u8);
                i += 1;
            } else {
                return Err(Reply::syntax_error());
            }
            i += 1;
        }
        Ok(parsed)
    }
}

/// RESTORE and RESTORE-ASKING `key ttl payload [options]`. Checks run in Redis's order: options,
/// existing key, TTL, payload. A TTL already past creates nothing (an old key that REPLACE
/// removed is propagated as `DEL`); a relative TTL is propagated as absolute with `ABSTTL`.
fn restore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let options = match RestoreOptions::parse(&args[4..]) {
        Ok(options) => options,
        Err(e) => return e,
    };
    let key = &args[1];
    if !options.replace && lookup_write(node, key).is_some() {
        return Reply::error("BUSYKEY Target key name already exists.");
    }
    let Some(ttl_ms) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    if ttl_ms < 0 {
        return Reply::err("Invalid TTL value, must be >= 0");
    }
    let limits = node.config.encoding_limits;
    let mut value = match parse_payload_limited(&args[3], &limits) {
        Ok(value) => value,
        Err(e) => return e.reply(),
    };
    if node.canary(crate::canary::Canary::RestoreListReversed) {
        reverse_list(&mut value);
    }
    // Like Redis's dbDelete: an old key goes whether or not its own TTL has passed.
    let replaced = options.replace && node.db.remove(key);
    let expires_at_ms = restore_expiry_ms(node, ttl_ms, options.absttl);
    if expires_at_ms.is_some_and(|at_ms| already_past(node, at_ms)) {
        if replaced {
            propagate(node, vec![Bytes::from_static(b"DEL"), key.clone()]);
        }
        return Reply::ok();
    }
    // Only a replica stores a time already past; it then waits for its master's DEL.
    let expires_at_ms = expires_at_ms.map(|at_ms| u64::try_from(at_ms).unwrap_or(0));
    node.db.set_owned(key, value, expires_at_ms);
    let policy = node.db.access_policy();
    let restored =
        crate::db::access::restored_clock(policy, options.idle_s, options.freq, node.now.unix_ms);
    if let Some(clock) = restored {
        node.db.set_access_clock(key, clock);
    }
    let mut replay = argv(args);
    if let (Some(at_ms), false) = (expires_at_ms, options.absttl) {
        replay[2] = Bytes::from(at_ms.to_string());
        replay.push(Bytes::from_static(b"ABSTTL"));
    }
    propagate(node, replay);
    Reply::ok()
}

/// The `restore-list-reversed` canary's bug: a list decoded back to front.
fn reverse_list(value: &mut Value) {
    if let Value::List(list) = value {
        let items: Vec<Vec<u8>> = list.iter().map(|item| item.to_vec()).collect();
        *list = items.iter().rev().map(Vec::as_slice).collect();
    }
}

/// The absolute unix-ms expiry a RESTORE asks for; `None` for a TTL of 0 (no expiry). A relative
/// TTL so large that the sum overflows wraps negative as in Redis, i.e. it is already past.
fn restore_expiry_ms(node: &Node, ttl_ms: i64, absttl: bool) -> Option<i64> {
    debug_assert!(ttl_ms >= 0, "negative TTLs are refused before this");
    if ttl_ms == 0 {
        return None;
    }
    if absttl {
        return Some(ttl_ms);
    }
    let now_ms = i64::try_from(node.now.unix_ms).unwrap_or(i64::MAX);
    Some(ttl_ms.wrapping_add(now_ms))
}

#[cfg(test)]
mod collection_tests;
#[cfg(test)]
mod tests;
