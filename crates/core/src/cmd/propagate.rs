//! The form writes take in the append-only file: RESP arrays of bulk strings.
//!
//! Handlers decide *what* to log (see `keys::propagate`: absolute expiry, `DEL` for expired
//! keys); this module only encodes it. The same encoding is what clients send, so the
//! driver's request encoder (`clusterlab_net::resp::encode_request`) is this one too.

use bytes::BufMut;

/// RESP array of bulk strings, the form commands take in the log, in the replication
/// stream and on the wire as requests.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut impl BufMut) {
    put_header(out, b'*', args.len());
    for arg in args {
        let arg = arg.as_ref();
        put_header(out, b'$', arg.len());
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

fn put_header(out: &mut impl BufMut, prefix: u8, len: usize) {
    out.put_u8(prefix);
    out.put_slice(itoa::Buffer::new().format(len).as_bytes());
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

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
