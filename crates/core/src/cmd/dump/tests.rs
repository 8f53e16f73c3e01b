use super::lzf::decompress as lzf_decompress;
use super::*;
use crate::cmd::keys::tests::{bulk, err, int, ok, take_propagated, Harness};
use crate::db::stream::StreamId;
use proptest::prelude::*;

// Payloads captured from redis-server 7.0.15 (`SET k <value>` then `DUMP k`).
const V2: &[u8] = b"\x00\x02\x76\x32\x0a\x00\xf6\x3f\xe7\x54\xe2\x85\x16\x6c";
const REDIS_DUMPS: &[(&[u8], &[u8])] = &[
    (b"v2", V2),
    (b"12345", b"\x00\xc1\x39\x30\x0a\x00\x9d\x94\xea\x27\x93\xfc\x08\xb9"),
    (b"", b"\x00\x00\x0a\x00\x5d\x9b\x5c\x40\x0f\x7f\xa2\xda"),
    (b"0", b"\x00\xc0\x00\x0a\x00\x98\x40\xa7\x78\xf8\x50\x03\x08"),
    (b"-1", b"\x00\xc0\xff\x0a\x00\x0c\x93\x7e\x24\x85\x08\x9d\xc5"),
    (b"-128", b"\x00\xc0\x80\x0a\x00\x99\x66\x32\x6d\x2f\x0c\x5b\xd9"),
    (b"128", b"\x00\xc1\x80\x00\x0a\x00\xeb\x7a\xb3\xb5\x10\xcf\x4b\x65"),
    (b"-129", b"\x00\xc1\x7f\xff\x0a\x00\x17\x60\x82\x28\x54\x80\x84\x80"),
    (b"32767", b"\x00\xc1\xff\x7f\x0a\x00\x49\x5a\x37\xda\x17\xf4\xd5\x2b"),
    (
        b"32768",
        b"\x00\xc2\x00\x80\x00\x00\x0a\x00\x45\xd8\x2e\xed\xd5\xbd\xa9\x10",
    ),
    (
        b"-2147483648",
        b"\x00\xc2\x00\x00\x00\x80\x0a\x00\xc7\x4f\x87\x3e\x33\x55\x81\x87",
    ),
    (
        b"2147483648",
        b"\x00\x0a\x32\x31\x34\x37\x34\x38\x33\x36\x34\x38\x0a\x00\xe7\xb1\x29\xa3\x4c\x1d\x76\xee",
    ),
    (
        b"12345678901",
        b"\x00\x0b\x31\x32\x33\x34\x35\x36\x37\x38\x39\x30\x31\x0a\x00\x30\x4e\x52\xd7\x27\x17\x65\x10",
    ),
    (b"007", b"\x00\x03\x30\x30\x37\x0a\x00\x72\x58\xe2\x7b\x4c\x69\xba\xd9"),
];
// Redis LZF-compresses strings over 20 bytes when that saves space; we must read these.
const REDIS_LZF_DUMPS: &[(&[u8], &[u8])] = &[
    (
        b"aaaaaaaaaaaaaaaaaaaaa",
        b"\x00\xc3\x06\x15\x01\x61\x61\xe0\x0a\x00\x0a\x00\xfd\x0c\xb3\x68\x07\x41\x3f\x68",
    ),
    (
        b"hello world hello world hello world",
        b"\x00\xc3\x14\x23\x0c\x68\x65\x6c\x6c\x6f\x20\x77\x6f\x72\x6c\x64\x20\x68\xe0\x0b\x0b\x01\x6c\x64\x0a\x00\x77\x83\x90\x69\x69\x34\xac\xb7",
    ),
    (
        &[b'x'; 100],
        b"\x00\xc3\x09\x40\x64\x01\x78\x78\xe0\x57\x00\x01\x78\x78\x0a\x00\x5d\xb7\xf6\x63\xbb\x08\x62\x5f",
    ),
];
/// `XADD st 1-1 f v` then `DUMP st` on redis-server 7.0 (a stream).
const REDIS_STREAM_DUMP: &[u8] = b"\x13\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x1d\x1d\x00\x00\x00\x0a\x00\x01\x01\x00\x01\x01\x01\x81\x66\x02\x00\x01\x02\x01\x00\x01\x00\x01\x81\x76\x02\x04\x01\xff\x01\x01\x01\x01\x01\x00\x00\x01\x00\x0a\x00\xff\x55\xab\x62\x6a\xc0\x35\xdb";
/// Bytes no compressor shrinks: the top byte of a 64-bit LCG (same generator used to
/// capture the Redis payloads; the LZF tests use it too).
pub(super) fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 12345;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn string(s: &[u8]) -> Value {
    Value::String(Bytes::copy_from_slice(s))
}

/// `body` with a version and a correct checksum.
fn signed(body: &[u8], version: u16) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn run(h: &mut Harness, args: &[&[u8]]) -> Reply {
    let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    h.node.command(h.now, h.client, &args)
}

/// How `take_propagated` shows a command holding a payload.
fn shown(parts: &[&[u8]]) -> String {
    parts
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- payload format ----

#[test]
fn crc64_is_redis_jones() {
    assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
}

#[test]
fn dump_payloads_match_redis_byte_for_byte() {
    for (value, expected) in REDIS_DUMPS {
        assert_eq!(
            &dump_payload(&string(value), Compression::Lzf)[..],
            *expected,
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
}

#[test]
fn long_strings_use_14_and_32_bit_lengths_like_redis() {
    let mut expected = b"\x00\x40\x40".to_vec();
    expected.extend_from_slice(&noise(64));
    expected.extend_from_slice(b"\x0a\x00\xb3\xa8\xdc\xa2\x94\x2a\xe2\xf9");
    assert_eq!(
        &dump_payload(&string(&noise(64)), Compression::Lzf)[..],
        &expected[..]
    );

    let big = dump_payload(&string(&noise(70_000)), Compression::Lzf);
    assert_eq!(big.len(), 70_016);
    assert_eq!(&big[..6], b"\x00\x80\x00\x01\x11\x70");
    assert_eq!(&big[6..70_006], &noise(70_000)[..]);
    assert_eq!(&big[70_006..], b"\x0a\x00\x96\xb9\x8f\x89\x3a\x27\x08\xb8");
}

#[test]
fn length_encoding_boundaries() {
    let len_bytes = |len: u64| {
        let mut out = Vec::new();
        encode_length(len, &mut out);
        out
    };
    assert_eq!(len_bytes(63), [63]);
    assert_eq!(len_bytes(64), [0x40, 0x40]);
    assert_eq!(len_bytes(16_383), [0x7f, 0xff]);
    assert_eq!(len_bytes(16_384), [0x80, 0, 0, 0x40, 0]);
    assert_eq!(
        len_bytes(u64::from(u32::MAX)),
        [0x80, 0xff, 0xff, 0xff, 0xff]
    );
    assert_eq!(len_bytes(1 << 32), [0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
    for len in [0, 63, 64, 16_383, 16_384, 1 << 32, u64::MAX] {
        let bytes = len_bytes(len);
        let mut reader = Reader {
            data: &bytes,
            pos: 0,
        };
        assert_eq!(reader.plain_length(), Ok(len));
        assert_eq!(reader.pos, bytes.len());
    }
}

#[test]
fn only_canonical_integers_of_at_most_11_bytes_are_integer_encoded() {
    assert_eq!(integer_form(b"-2147483648"), Some(-2_147_483_648));
    assert_eq!(integer_form(b"9223372036854775807"), None, "too long");
    for s in [&b"01"[..], b"-0", b"+1", b" 1", b"1 ", b"", b"1e3", b"0x10"] {
        assert_eq!(integer_form(s), None, "{:?}", String::from_utf8_lossy(s));
    }
}

#[test]
fn redis_payloads_parse_back_to_their_values() {
    for (value, payload) in REDIS_DUMPS.iter().chain(REDIS_LZF_DUMPS) {
        assert_eq!(parse_payload(payload), Ok(string(value)));
    }
    let mut payload = b"\x00\x40\x40".to_vec();
    payload.extend_from_slice(&noise(64));
    payload.extend_from_slice(b"\x0a\x00\xb3\xa8\xdc\xa2\x94\x2a\xe2\xf9");
    assert_eq!(parse_payload(&payload), Ok(string(&noise(64))));
}

#[test]
fn payload_footer_checks() {
    let mut newer = V2.to_vec();
    newer[4] = 11;
    let wrong = Err(PayloadError::VersionOrChecksum);
    assert_eq!(parse_payload(&newer), wrong);
    assert_eq!(parse_payload(&signed(b"\x00\x02v2", 11)), wrong);
    let mut bad_crc = V2.to_vec();
    bad_crc[13] ^= 1;
    assert_eq!(parse_payload(&bad_crc), wrong);
    let mut bad_body = V2.to_vec();
    bad_body[2] = b'w';
    assert_eq!(parse_payload(&bad_body), wrong);
    assert_eq!(parse_payload(&V2[..9]), wrong);
    assert_eq!(parse_payload(b""), wrong);
    // Older RDB versions are fine (Redis accepts them too).
    assert_eq!(parse_payload(&signed(b"\x00\x02v2", 9)), Ok(string(b"v2")));
    assert_eq!(parse_payload(&signed(b"\x00\x02v2", 0)), Ok(string(b"v2")));
    // A bare footer: no type byte.
    assert_eq!(verify_payload(&signed(b"", 10)), Ok(&b""[..]));
    assert_eq!(
        parse_payload(&signed(b"", 10)),
        Err(PayloadError::BadFormat)
    );
}

#[test]
fn a_redis_stream_payload_loads_and_dumps_back_byte_for_byte() {
    let value = parse_payload(REDIS_STREAM_DUMP).expect("a stream");
    let Value::Stream(stream) = &value else {
        panic!("{value:?}");
    };
    let all = stream.range(StreamId::ZERO, StreamId::MAX, 0, false);
    let pairs = [Bytes::from_static(b"f"), Bytes::from_static(b"v")];
    assert_eq!(all, vec![(StreamId::new(1, 1), &pairs[..])]);
    assert_eq!(
        (stream.entries_added, stream.last_id),
        (1, StreamId::new(1, 1))
    );
    assert_eq!(
        &dump_payload(&value, Compression::Lzf)[..],
        REDIS_STREAM_DUMP
    );
}

#[test]
fn malformed_values_are_bad_data_format() {
    let bad = Err(PayloadError::BadFormat);
    // The stream's one entry closes with an element count of 4 (flags, two deltas, the
    // value); a count that does not add up is refused.
    let body = &REDIS_STREAM_DUMP[..REDIS_STREAM_DUMP.len() - 10];
    let at = body
        .windows(2)
        .rposition(|w| w == b"\x04\x01")
        .expect("the count");
    let mut miscounted = body.to_vec();
    miscounted[at] = 5;
    assert_eq!(parse_payload(&signed(&miscounted, 10)), bad);
    for body in [
        &b"\x00"[..],                       // no value
        b"\x06\x02v2",                      // unknown type
        b"\x00\x05v2",                      // runs past the body (Redis reads into the footer)
        b"\x00\xc0",                        // int8 with no byte
        b"\x00\xc2\x01\x02",                // int32 cut short
        b"\x00\xc4\x01",                    // no such special encoding
        b"\x00\x82\x00",                    // no such wide length marker
        b"\x00\xc3\x05\x03\x02abc",         // LZF: compressed length wrong
        b"\x00\xc3\x04\x04\x02abc",         // LZF: expands to fewer bytes than claimed
        b"\x00\xc3\x06\x07\x02abc\x20\x05", // LZF: reference before the start
        b"\x00\xc3\xc0\x03\x02abc",         // LZF: encoded compressed length
    ] {
        assert_eq!(parse_payload(&signed(body, 10)), bad, "{body:?}");
    }
}

#[test]
fn lenient_where_redis_is_lenient() {
    // Bytes after the value are ignored, and non-minimal lengths are accepted.
    assert_eq!(
        parse_payload(&signed(b"\x00\x02v2XYZ", 10)),
        Ok(string(b"v2"))
    );
    assert_eq!(
        parse_payload(&signed(b"\x00\xc0\x05\x00", 10)),
        Ok(string(b"5"))
    );
    for body in [
        &b"\x00\x40\x02v2"[..],
        b"\x00\x80\x00\x00\x00\x02v2",
        b"\x00\x81\x00\x00\x00\x00\x00\x00\x00\x02v2",
    ] {
        assert_eq!(parse_payload(&signed(body, 10)), Ok(string(b"v2")));
    }
    // LZF lengths may themselves use a wide form.
    assert_eq!(
        parse_payload(&signed(b"\x00\xc3\x80\x00\x00\x00\x04\x03\x02abc", 10)),
        Ok(string(b"abc"))
    );
}

#[test]
fn lzf_literals_and_overlapping_back_references() {
    assert_eq!(lzf_decompress(b"\x02abc", 3), Some(b"abc".to_vec()));
    assert_eq!(
        lzf_decompress(b"\x02abc\x20\x02", 6),
        Some(b"abcabc".to_vec())
    );
    // Distance 1, length 5+2: repeats the last byte (the copy reads what it writes).
    assert_eq!(
        lzf_decompress(b"\x00a\xa0\x00", 8),
        Some(b"aaaaaaaa".to_vec())
    );
    // Length 7 takes an extra byte: 7 + 10 + 2 = 19.
    assert_eq!(
        lzf_decompress(b"\x01aa\xe0\x0a\x00", 21),
        Some(vec![b'a'; 21])
    );
    // 13-bit distance: high bits in the control byte.
    let mut input = vec![31];
    input.extend_from_slice(&noise(32));
    let mut expected = noise(32);
    expected.extend_from_slice(&noise(32)[..3]);
    input.extend_from_slice(&[0x20, 31]);
    assert_eq!(lzf_decompress(&input, 35), Some(expected));
    assert_eq!(
        lzf_decompress(&[0x21, 0x00], 3),
        None,
        "distance 257 with no output"
    );
    for (input, len) in [
        (&b"\x02ab"[..], 3), // literal cut short
        (b"\x02abc\x20", 6), // reference cut short
        (b"\x02abc\xe0", 9), // long reference cut short
        (b"\x02abc", 2),     // output longer than claimed
        (b"\x02abc", 0),
        (b"\x02abc\x20\x02", 5),
        (b"", 1),
    ] {
        assert_eq!(lzf_decompress(input, len), None, "{input:?} {len}");
    }
    assert_eq!(lzf_decompress(b"", 0), Some(Vec::new()));
}

#[test]
fn lzf_claimed_length_does_not_drive_allocation() {
    let payload = signed(
        b"\x00\xc3\x04\x81\x7f\xff\xff\xff\xff\xff\xff\xff\x02abc",
        10,
    );
    assert_eq!(parse_payload(&payload), Err(PayloadError::BadFormat));
    let payload = signed(b"\x00\x81\x7f\xff\xff\xff\xff\xff\xff\xffab", 10);
    assert_eq!(parse_payload(&payload), Err(PayloadError::BadFormat));
}

proptest! {
    #[test]
    fn any_string_round_trips(s in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(parse_payload(&dump_payload(&string(&s), Compression::Lzf)), Ok(string(&s)));
    }

    #[test]
    fn any_integer_string_round_trips(n in any::<i64>(), pad in 0usize..2) {
        let text = format!("{}{}", "0".repeat(pad), n);
        let value = string(text.as_bytes());
        prop_assert_eq!(parse_payload(&dump_payload(&value, Compression::Lzf)), Ok(value));
    }
}

// ---- commands ----

#[test]
fn dump_returns_the_payload_or_nil() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["DUMP", "k"]), Reply::Nil);
    assert_eq!(h.node.stats.keyspace_misses, 1);
    for (value, payload) in REDIS_DUMPS {
        assert_eq!(run(&mut h, &[b"SET", b"k", value]), ok());
        assert_eq!(h.cmd(&["DUMP", "k"]), Reply::bulk(payload.to_vec()));
    }
    assert_eq!(h.node.stats.keyspace_hits, REDIS_DUMPS.len() as u64);
    assert_eq!(h.cmd(&["SET", "t", "v", "PX", "10"]), ok());
    h.advance_ms(10);
    assert_eq!(h.cmd(&["DUMP", "t"]), Reply::Nil, "expired");
    assert_eq!(
        h.cmd(&["DUMP"]),
        err("ERR wrong number of arguments for 'dump' command")
    );
    assert_eq!(
        h.cmd(&["DUMP", "a", "b"]),
        err("ERR wrong number of arguments for 'dump' command")
    );
}

#[test]
fn restore_creates_keys_from_redis_payloads() {
    let mut h = Harness::new();
    for (i, (value, payload)) in REDIS_DUMPS.iter().chain(REDIS_LZF_DUMPS).enumerate() {
        let key = format!("k{i}");
        assert_eq!(
            run(&mut h, &[b"RESTORE", key.as_bytes(), b"0", payload]),
            ok()
        );
        assert_eq!(
            run(&mut h, &[b"GET", key.as_bytes()]),
            Reply::bulk(value.to_vec())
        );
        assert_eq!(h.cmd(&["PTTL", &key]), int(-1));
    }
    assert_eq!(
        take_propagated()[0],
        shown(&[b"RESTORE", b"k0", b"0", V2]),
        "no TTL: replayed as sent"
    );
}

#[test]
fn dump_then_restore_round_trips_through_commands() {
    let mut h = Harness::new();
    let long = "hello world ".repeat(50);
    for value in ["", "v2", "-2147483649", "3.14", long.as_str()] {
        assert_eq!(h.cmd(&["SET", "src", value]), ok());
        let Reply::Bulk(payload) = h.cmd(&["DUMP", "src"]) else {
            panic!("DUMP of an existing key");
        };
        assert_eq!(
            run(&mut h, &[b"RESTORE", b"dst", b"0", &payload, b"REPLACE"]),
            ok()
        );
        assert_eq!(h.cmd(&["GET", "dst"]), bulk(value));
    }
}

#[test]
fn restore_errors_in_redis_order() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["SET", "k", "old"]), ok());
    take_propagated();
    let busy = err("BUSYKEY Target key name already exists.");
    let syntax = err("ERR syntax error");
    let not_int = err("ERR value is not an integer or out of range");
    let wrong = err("ERR DUMP payload version or checksum are wrong");
    let bad = err("ERR Bad data format");
    // Redis's dump of a stream whose entry's closing count is off by one.
    let mut miscounted = REDIS_STREAM_DUMP[..REDIS_STREAM_DUMP.len() - 10].to_vec();
    let at = miscounted
        .windows(2)
        .rposition(|w| w == b"\x04\x01")
        .unwrap();
    miscounted[at] = 5;
    let miscounted = signed(&miscounted, 10);
    let cases: &[(&[&[u8]], &Reply)] = &[
        // Options are checked first, then the existing key, then TTL, then payload.
        (&[b"RESTORE", b"k", b"-1", b"junk", b"BOGUS"], &syntax),
        (&[b"RESTORE", b"k", b"abc", b"junk"], &busy),
        (&[b"RESTORE", b"k", b"0", V2], &busy),
        (&[b"RESTORE", b"n", b"abc", V2], &not_int),
        (
            &[b"RESTORE", b"n", b"-1", V2],
            &err("ERR Invalid TTL value, must be >= 0"),
        ),
        (&[b"RESTORE", b"n", b"0", b"junk"], &wrong),
        (&[b"RESTORE", b"n", b"0", &miscounted], &bad),
        (&[b"RESTORE", b"k", b"0", &miscounted, b"REPLACE"], &bad),
        (&[b"RESTORE", b"n", b"0", V2, b"IDLETIME"], &syntax),
        (&[b"RESTORE", b"n", b"0", V2, b"FREQ"], &syntax),
        (
            &[b"RESTORE", b"n", b"0", V2, b"IDLETIME", b"-1"],
            &err("ERR Invalid IDLETIME value, must be >= 0"),
        ),
        (&[b"RESTORE", b"n", b"0", V2, b"IDLETIME", b"x"], &not_int),
        (
            &[b"RESTORE", b"n", b"0", V2, b"FREQ", b"256"],
            &err("ERR Invalid FREQ value, must be >= 0 and <= 255"),
        ),
        (
            &[b"RESTORE", b"n", b"0", V2, b"FREQ", b"-1"],
            &err("ERR Invalid FREQ value, must be >= 0 and <= 255"),
        ),
        (&[b"RESTORE", b"n", b"0", V2, b"FREQ", b"x"], &not_int),
        (
            &[b"RESTORE", b"n", b"0", V2, b"FREQ", b"5", b"IDLETIME", b"5"],
            &syntax,
        ),
        (
            &[b"RESTORE", b"n", b"0", V2, b"IDLETIME", b"5", b"FREQ", b"5"],
            &syntax,
        ),
        // Repeats are fine, so this reaches the key check.
        (
            &[b"RESTORE", b"k", b"0", V2, b"FREQ", b"5", b"FREQ", b"6"],
            &busy,
        ),
        (
            &[b"RESTORE", b"a"],
            &err("ERR wrong number of arguments for 'restore' command"),
        ),
        (
            &[b"RESTORE-ASKING", b"a", b"0"],
            &err("ERR wrong number of arguments for 'restore-asking' command"),
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(&run(&mut h, args), *expected, "{}", shown(args));
    }
    assert_eq!(h.cmd(&["GET", "k"]), bulk("old"));
    assert_eq!(h.cmd(&["EXISTS", "n"]), int(0));
    assert_eq!(take_propagated(), Vec::<String>::new());
}

#[test]
fn restore_options_are_case_insensitive_and_repeatable() {
    let mut h = Harness::new();
    let args: &[&[u8]] = &[
        b"RESTORE",
        b"n",
        b"0",
        V2,
        b"replace",
        b"REPLACE",
        b"absttl",
        b"IdleTime",
        b"5",
        b"IDLETIME",
        b"6",
    ];
    assert_eq!(run(&mut h, args), ok());
    assert_eq!(
        run(
            &mut h,
            &[b"RESTORE", b"n", b"0", V2, b"FREQ", b"0", b"REPLACE"]
        ),
        ok()
    );
    assert_eq!(h.cmd(&["GET", "n"]), bulk("v2"));
}

#[test]
fn restore_replace_overwrites_value_and_ttl() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["SET", "k", "old", "PX", "5000"]), ok());
    take_propagated();
    assert_eq!(run(&mut h, &[b"RESTORE", b"k", b"0", V2, b"REPLACE"]), ok());
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v2"));
    assert_eq!(h.cmd(&["PTTL", "k"]), int(-1));
    assert_eq!(
        take_propagated(),
        vec![shown(&[b"RESTORE", b"k", b"0", V2, b"REPLACE"])]
    );
    assert_eq!(h.node.db.expiring_count(), 0);
}

#[test]
fn an_expired_key_is_not_busy() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["SET", "k", "old", "PX", "5"]), ok());
    h.advance_ms(5);
    take_propagated();
    assert_eq!(run(&mut h, &[b"RESTORE", b"k", b"0", V2]), ok());
    assert_eq!(
        take_propagated(),
        vec!["DEL k".to_string(), shown(&[b"RESTORE", b"k", b"0", V2])]
    );
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v2"));
}

#[test]
fn relative_ttl_is_stored_and_propagated_as_absolute() {
    let mut h = Harness::new();
    // The harness clock reads unix 1_000_000 ms.
    assert_eq!(run(&mut h, &[b"RESTORE", b"k", b"5000", V2]), ok());
    assert_eq!(h.cmd(&["PTTL", "k"]), int(5000));
    assert_eq!(
        take_propagated(),
        vec![shown(&[b"RESTORE", b"k", b"1005000", V2, b"ABSTTL"])]
    );
    assert_eq!(
        run(
            &mut h,
            &[
                b"RESTORE-ASKING",
                b"k",
                b"7000",
                V2,
                b"REPLACE",
                b"IDLETIME",
                b"3"
            ]
        ),
        ok()
    );
    assert_eq!(
        take_propagated(),
        vec![shown(&[
            b"RESTORE-ASKING",
            b"k",
            b"1007000",
            V2,
            b"REPLACE",
            b"IDLETIME",
            b"3",
            b"ABSTTL"
        ])]
    );
    h.advance_ms(6999);
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v2"));
    h.advance_ms(1);
    assert_eq!(h.cmd(&["GET", "k"]), Reply::Nil);
    assert_eq!(take_propagated(), vec!["DEL k"]);
}

#[test]
fn absttl_is_used_as_is() {
    let mut h = Harness::new();
    assert_eq!(
        run(&mut h, &[b"RESTORE", b"k", b"1002500", V2, b"ABSTTL"]),
        ok()
    );
    assert_eq!(h.cmd(&["PTTL", "k"]), int(2500));
    assert_eq!(
        take_propagated(),
        vec![shown(&[b"RESTORE", b"k", b"1002500", V2, b"ABSTTL"])]
    );
    // A TTL of 0 means no expiry, with or without ABSTTL.
    assert_eq!(run(&mut h, &[b"RESTORE", b"z", b"0", V2, b"ABSTTL"]), ok());
    assert_eq!(h.cmd(&["PTTL", "z"]), int(-1));
    // Far in the future is fine.
    assert_eq!(
        run(
            &mut h,
            &[b"RESTORE", b"far", b"9223372036854775807", V2, b"ABSTTL"]
        ),
        ok()
    );
    assert_eq!(h.cmd(&["PTTL", "far"]), int(9_223_372_036_853_775_807));
}

#[test]
fn a_ttl_already_past_creates_nothing() {
    let mut h = Harness::new();
    assert_eq!(
        run(&mut h, &[b"RESTORE", b"k", b"1000000", V2, b"ABSTTL"]),
        ok()
    );
    assert_eq!(h.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(take_propagated(), Vec::<String>::new());
    // With REPLACE the old key still goes, and that is what replays.
    assert_eq!(h.cmd(&["SET", "k", "old"]), ok());
    take_propagated();
    assert_eq!(
        run(&mut h, &[b"RESTORE", b"k", b"1", V2, b"ABSTTL", b"REPLACE"]),
        ok()
    );
    assert_eq!(h.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(take_propagated(), vec!["DEL k"]);
    // A relative TTL whose sum overflows wraps into the past, as in Redis.
    assert_eq!(
        run(&mut h, &[b"RESTORE", b"big", b"9223372036854775807", V2]),
        ok()
    );
    assert_eq!(h.cmd(&["EXISTS", "big"]), int(0));
    assert_eq!(take_propagated(), Vec::<String>::new());
}

#[test]
fn a_replica_keeps_a_past_ttl_for_its_master_del() {
    let mut h = Harness::new();
    h.become_replica();
    assert_eq!(
        run(&mut h, &[b"RESTORE", b"k", b"999000", V2, b"ABSTTL"]),
        ok()
    );
    assert_eq!(h.node.db.len(), 1);
    assert_eq!(h.cmd(&["EXISTS", "k"]), int(0), "hidden, not deleted");
}

#[test]
fn the_propagated_form_replays_to_the_same_state() {
    let mut h = Harness::new();
    assert_eq!(run(&mut h, &[b"RESTORE", b"k", b"5000", V2]), ok());
    let replay: Vec<Bytes> = vec![
        Bytes::from_static(b"RESTORE"),
        Bytes::from_static(b"k"),
        Bytes::from_static(b"1005000"),
        Bytes::from_static(V2),
        Bytes::from_static(b"ABSTTL"),
    ];
    assert_eq!(
        take_propagated(),
        vec![shown(&[b"RESTORE", b"k", b"1005000", V2, b"ABSTTL"])]
    );
    // A restart two seconds later must not stretch the TTL.
    let mut later = Harness::new();
    later.advance_ms(2000);
    assert_eq!(later.node.replay_command(later.now, &replay), Ok(()));
    assert_eq!(later.cmd(&["PTTL", "k"]), int(3000));
    assert_eq!(later.cmd(&["GET", "k"]), bulk("v2"));
}

#[test]
fn specs_match_redis_command_info() {
    let spec = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect(name);
    let dump = spec("dump");
    assert_eq!(
        (dump.arity, dump.first_key, dump.last_key, dump.key_step),
        (2, 1, 1, 1)
    );
    assert_eq!(dump.flags, &["readonly"]);
    assert_eq!(dump.acl_categories, &["@keyspace", "@read", "@slow"]);
    for name in ["restore", "restore-asking"] {
        let s = spec(name);
        assert_eq!(
            (s.arity, s.first_key, s.last_key, s.key_step),
            (-4, 1, 1, 1)
        );
        assert_eq!(
            s.acl_categories,
            &["@keyspace", "@write", "@slow", "@dangerous"]
        );
        assert!(s.is_write());
    }
    assert_eq!(spec("restore").flags, &["write", "denyoom"]);
    assert_eq!(
        spec("restore-asking").flags,
        &["write", "denyoom", "asking"]
    );
    assert_eq!(spec("restore").group, "generic");
    assert_eq!(spec("restore-asking").group, "server");
    let args: Vec<Bytes> = ["RESTORE", "k", "0", "p", "REPLACE"]
        .iter()
        .map(|s| Bytes::from(*s))
        .collect();
    assert_eq!(spec("restore").keys(&args), vec![&args[1]]);
}

/// A stream with tombstones, several nodes and two groups survives its own payload whole,
/// and a pending entry no consumer owns is refused.
#[test]
fn streams_with_groups_round_trip_and_orphan_pending_entries_are_refused() {
    let mut h = Harness::new();
    h.cmd(&["CONFIG", "SET", "stream-node-max-entries", "3"]);
    for i in 1..=8 {
        h.cmd(&["XADD", "s", &format!("{i}-0"), "f", &i.to_string()]);
    }
    for cmd in [
        &["XDEL", "s", "2-0", "5-0"][..],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "CREATE", "s", "h", "$", "ENTRIESREAD", "8"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "3",
            "STREAMS",
            "s",
            ">",
        ],
        &["XGROUP", "CREATECONSUMER", "s", "g", "bob"],
    ] {
        h.cmd(cmd);
    }
    let Some(entry) = h.node.db.get(b"s", 0) else {
        panic!("the stream");
    };
    let value = entry.value.to_value();
    let payload = dump_payload(&value, Compression::Lzf);
    assert_eq!(parse_payload(&payload), Ok(value.clone()));
    let Value::Stream(stream) = &value else {
        panic!("{value:?}");
    };
    assert_eq!(stream.groups[&b"g"[..]].pending.len(), 3);
    // Drop alice's claim on her first entry (the 16 bytes of 1-0 after her name): the
    // group's pending entry then has no owner.
    let body = &payload[..payload.len() - 10];
    let alice = body.windows(5).rposition(|w| w == b"alice").expect("alice");
    let owned_at = alice + 5 + 8;
    assert_eq!(body[owned_at], 3, "alice owns three entries");
    let mut orphaned = body[..owned_at].to_vec();
    orphaned.push(2);
    orphaned.extend_from_slice(&body[owned_at + 1 + 16..]);
    assert_eq!(
        parse_payload(&signed(&orphaned, 10)),
        Err(PayloadError::BadFormat)
    );
}
