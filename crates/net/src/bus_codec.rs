//! Cluster bus wire format. (Owner: codec helper.)
//!
//! API: `encode(msg: &Message, out: &mut BytesMut)`,
//! `decode(buf: &mut BytesMut) -> Result<Option<Message>, BusCodecError>`.
