//! What a write leaves in the append-only file: the command as received, except that relative
//! expiry becomes absolute, so that replaying the log later rebuilds the same keyspace.

use bytes::Bytes;

use super::{is, parse_i64};

fn bulk(text: String) -> Bytes {
    Bytes::from(text.into_bytes())
}

/// Rewrites one executed write command for the log.
pub(crate) fn for_log(args: &[Bytes], now_unix_ms: u64) -> Vec<Bytes> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let abs_ms = |arg: &Bytes, unit_ms: i64, relative: bool| -> Option<Bytes> {
        let n = parse_i64(arg)?;
        let base = if relative { now_unix_ms as i64 } else { 0 };
        Some(bulk(base.saturating_add(n.saturating_mul(unit_ms)).to_string()))
    };
    let rewritten = match name.as_str() {
        "expire" | "pexpire" | "expireat" => {
            let unit_ms = if name == "pexpire" { 1 } else { 1000 };
            abs_ms(&args[2], unit_ms, name != "expireat").map(|at| {
                let mut out = vec![Bytes::from_static(b"PEXPIREAT"), args[1].clone(), at];
                out.extend_from_slice(&args[3..]);
                out
            })
        }
        "setex" | "psetex" => {
            let unit_ms = if name == "setex" { 1000 } else { 1 };
            abs_ms(&args[2], unit_ms, true).map(|at| {
                vec![
                    Bytes::from_static(b"SET"),
                    args[1].clone(),
                    args[3].clone(),
                    Bytes::from_static(b"PXAT"),
                    at,
                ]
            })
        }
        "set" => rewrite_set_expiry(args, now_unix_ms),
        _ => None,
    };
    rewritten.unwrap_or_else(|| args.to_vec())
}

/// `SET k v EX 10` → `SET k v PXAT <abs ms>` (also PX and EXAT).
fn rewrite_set_expiry(args: &[Bytes], now_unix_ms: u64) -> Option<Vec<Bytes>> {
    let mut out = args.to_vec();
    let mut i = 3;
    while i + 1 < out.len() {
        let (unit_ms, relative) = match () {
            _ if is(&out[i], "ex") => (1000, true),
            _ if is(&out[i], "px") => (1, true),
            _ if is(&out[i], "exat") => (1000, false),
            _ => {
                i += 1;
                continue;
            }
        };
        let n = parse_i64(&out[i + 1])?;
        let base = if relative { now_unix_ms as i64 } else { 0 };
        out[i] = Bytes::from_static(b"PXAT");
        out[i + 1] = bulk(base.saturating_add(n.saturating_mul(unit_ms)).to_string());
        i += 2;
    }
    Some(out)
}

/// RESP array of bulk strings, the form commands take in the log.
pub fn encode_command(args: &[Bytes], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<Bytes> {
        ws.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn relative_expiry_becomes_absolute() {
        let now = 1_000_000;
        let cases: &[(&[&str], &[&str])] = &[
            (&["expire", "k", "10"], &["PEXPIREAT", "k", "1010000"]),
            (&["PEXPIRE", "k", "5", "NX"], &["PEXPIREAT", "k", "1000005", "NX"]),
            (&["expireat", "k", "7"], &["PEXPIREAT", "k", "7000"]),
            (&["setex", "k", "2", "v"], &["SET", "k", "v", "PXAT", "1002000"]),
            (&["psetex", "k", "2", "v"], &["SET", "k", "v", "PXAT", "1000002"]),
            (&["set", "k", "v", "EX", "1"], &["set", "k", "v", "PXAT", "1001000"]),
            (&["set", "k", "v", "nx", "px", "3"], &["set", "k", "v", "nx", "PXAT", "1000003"]),
            (&["set", "k", "v", "exat", "3"], &["set", "k", "v", "PXAT", "3000"]),
            (&["set", "k", "v"], &["set", "k", "v"]),
            (&["incr", "k"], &["incr", "k"]),
        ];
        for (input, expected) in cases {
            assert_eq!(for_log(&words(input), now), words(expected), "{input:?}");
        }
    }

    #[test]
    fn encodes_resp_arrays() {
        let mut out = Vec::new();
        encode_command(&words(&["SELECT", "0"]), &mut out);
        assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n");
    }
}
