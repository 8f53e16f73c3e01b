//! The form writes take in the append-only file: RESP arrays of bulk strings.
//!
//! Handlers decide *what* to log (see `keys::propagate`: absolute expiry, `DEL` for expired
//! keys); this module only encodes it.

use bytes::Bytes;

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

    #[test]
    fn encodes_resp_arrays() {
        let mut out = Vec::new();
        encode_command(
            &[Bytes::from_static(b"SELECT"), Bytes::from_static(b"0")],
            &mut out,
        );
        assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n");
    }
}
