//! The compressor against DUMP payloads that redis-server 7.0.15 (with its default
//! `rdbcompression yes`) produced on this machine for the values built below (`SET k <value>`,
//! `DUMP k`), and round trips through the decompressor.

use proptest::prelude::*;

use super::*;
use crate::cmd::dump::{dump_payload, Compression};
use crate::db::Value;

use crate::cmd::dump::tests::noise;

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "whole bytes");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn payload(value: &[u8], compression: Compression) -> Vec<u8> {
    dump_payload(
        &Value::String(bytes::Bytes::copy_from_slice(value)),
        compression,
    )
    .to_vec()
}

/// Values and redis-server's whole DUMP payload of each.
fn whole_payloads() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        // The shortest string Redis tries; the match runs to the end (16 bytes compared past
        // its bound).
        ("a x21", vec![b'a'; 21], "00c30615016161e00a000a00fd0cb36807413f68"),
        // One byte shorter: never tried.
        ("a x20", vec![b'a'; 20], "001461616161616161616161616161616161616161610a0083b46b5e1b11acf1"),
        // A literal run longer than 32 splits.
        (
            "alphabet x2",
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEF".repeat(2),
            "00c33340541f303132333435363738396162636465666768696a6b6c6d6e6f707172737475760a7778797a41424344454630e01e290145460a00b4cca8ea299bb09b",
        ),
        // References longer than 264 bytes split.
        ("x x600", vec![b'x'; 600], "00c30f4258017878e0ff00e0ff00e03b000178780a00d6c65b8cf9bd3e3a"),
        (
            "text",
            b"the quick brown fox jumps over the lazy dog; the quick brown fox sleeps".to_vec(),
            "00c33940471f74686520717569636b2062726f776e20666f78206a756d7073206f7665722074201e086c617a7920646f673b600de0072c05736c656570730a005b3fa6dcd01c21d9",
        ),
        // Compression would save 3 bytes, not 4: stored verbatim.
        (
            "noise48 a x13",
            concat(&[&noise(48), &[b'a'; 13]]),
            "003d1c43e2d5538fcb64d030fdfb29d37a55a95f615c0716388aa783da414b74f3080ce7c3487c362f11d74a2a0ecc52da02616161616161616161616161610a008c9269756f688dbf",
        ),
        // One more byte and it saves 5: compressed.
        (
            "noise48 a x14",
            concat(&[&noise(48), &[b'a'; 14]]),
            "00c3393e1f1c43e2d5538fcb64d030fdfb29d37a55a95f615c0716388aa783da414b74f308100ce7c3487c362f11d74a2a0ecc52da0261e002000161610a00324d40b6cf280b85",
        ),
        // The last reference swallows the input's last two bytes: no literal run closes it.
        (
            "noise48 a x20",
            concat(&[&noise(48), &[b'a'; 20]]),
            "00c33640441f1c43e2d5538fcb64d030fdfb29d37a55a95f615c0716388aa783da414b74f308100ce7c3487c362f11d74a2a0ecc52da0261e00a000a00d3442b957908f359",
        ),
    ]
}

#[test]
fn strings_compress_as_redis_does() {
    for (name, value, expected) in whole_payloads() {
        assert_eq!(payload(&value, Compression::Lzf), hex(expected), "{name}");
    }
}

/// Long values: redis-server's payload length and its last 10 bytes (version, then the CRC-64
/// of everything before, so equal footers mean equal payloads).
#[test]
fn long_strings_compress_as_redis_does() {
    let cases: [(&str, Vec<u8>, usize, &str); 4] = [
        // A 13-bit distance: its high bits in the control byte.
        (
            "noise300 + its first 40",
            concat(&[&noise(300), &noise(300)[..40]]),
            333,
            "0a0078d4f7ef52d24828",
        ),
        (
            "40 back 8140 bytes",
            concat(&[&noise(40), &[b'b'; 8100], &noise(40)]),
            160,
            "0a008fff3d9ef9d2b72e",
        ),
        // Past 8192 bytes back: literals again.
        (
            "40 back 8240 bytes",
            concat(&[&noise(40), &[b'b'; 8200], &noise(40)]),
            197,
            "0a0046acb338fbbdec8c",
        ),
        (
            "noise 100 (verbatim)",
            noise(100),
            113,
            "0a003345a34b34103900",
        ),
    ];
    for (name, value, len, footer) in cases {
        let ours = payload(&value, Compression::Lzf);
        assert_eq!(ours.len(), len, "{name}");
        assert_eq!(&ours[len - 10..], &hex(footer)[..], "{name}");
    }
}

#[test]
fn compression_off_writes_verbatim() {
    let ours = payload(&[b'a'; 21], Compression::Off);
    assert_eq!(ours[..23], concat(&[&[0, 21], &[b'a'; 21]])[..]);
}

#[test]
fn compressor_gives_up_where_liblzf_does() {
    let input = concat(&[&noise(48), &[b'a'; 14]]);
    let compressed = compress(&input, input.len() - 4).expect("fits in 58");
    assert_eq!(compressed.len(), 57);
    // liblzf's checks are conservative: with room for exactly 57 it still gives up.
    assert_eq!(compress(&input, 57), None);
    assert_eq!(compress(&noise(100), 96), None);
    assert_eq!(compress(b"", 10), None);
    assert_eq!(compress(b"abc", 0), None);
    assert_eq!(compress(b"ab", 10), Some(b"\x01ab".to_vec()));
}

#[test]
fn hash_slot_depends_on_the_last_three_bytes_only() {
    let input = b"xyabc";
    let mut hash = first(input, 0);
    for at in 0..3 {
        hash = next(hash, input, at);
    }
    assert_ne!(hash, 0x00_61_62_63, "older bytes are still in the hash");
    // (0x6162 - 0x616263 * 5) mod 2^16: only bits 0..24 count.
    assert_eq!(index(hash), 0x7573);
    assert_eq!(index(0x00_61_62_63), 0x7573);
}

proptest! {
    #[test]
    fn compressed_round_trips(
        unit in proptest::collection::vec(any::<u8>(), 1..12),
        repeats in 1usize..200,
        noise_len in 0usize..64,
    ) {
        let mut input = unit.repeat(repeats);
        input.extend_from_slice(&noise(noise_len));
        if let Some(compressed) = compress(&input, input.len() + 64) {
            prop_assert_eq!(decompress(&compressed, input.len()), Some(input));
        }
    }

    #[test]
    fn arbitrary_bytes_round_trip(input in proptest::collection::vec(any::<u8>(), 1..600)) {
        let compressed = compress(&input, input.len() * 2 + 4).expect("room for literals");
        prop_assert_eq!(decompress(&compressed, input.len()), Some(input));
    }
}
