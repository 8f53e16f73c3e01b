//! RESP codec. (Owner: codec helper.)
//!
//! API other modules rely on:
//! - `parse_request(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError>`
//! - `encode_reply(reply: &Reply, protocol: u8, out: &mut BytesMut)`
//! - `parse_reply(buf: &mut BytesMut) -> Result<Option<Reply>, ProtocolError>`
//! - `encode_request(args: &[impl AsRef<[u8]>], out: &mut BytesMut)`
