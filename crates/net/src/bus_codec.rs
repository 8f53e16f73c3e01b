//! Cluster-bus wire format: our own versioned, length-prefixed, checksummed binary framing of
//! [`Message`]. Only clusterlab nodes speak it (real Redis nodes use a different layout), so it
//! favours simple validation over compatibility: any frame that is not exactly right is an error
//! and the driver closes the link, the way Redis drops a link on a bad signature or length.
//!
//! # Layout (version 2)
//!
//! All integers are big-endian. Offsets are from the start of the frame.
//!
//! | off  | len  | field                                                              |
//! |------|------|--------------------------------------------------------------------|
//! | 0    | 4    | magic `CLbs`                                                       |
//! | 4    | 2    | version = 2 (1 had no hostname)                                    |
//! | 6    | 2    | message type ([`MessageType`] number: PING 0 … PUBLISHSHARD 10)    |
//! | 8    | 4    | total frame length in bytes, these 16 prefix bytes included        |
//! | 12   | 4    | CRC-32/ISCSI of bytes 0..12 followed by bytes 16..total            |
//! | 16   | 2    | port (client port of the sender)                                   |
//! | 18   | 2    | cport (bus port of the sender)                                     |
//! | 20   | 8    | current_epoch                                                      |
//! | 28   | 8    | config_epoch                                                       |
//! | 36   | 8    | repl_offset                                                        |
//! | 44   | 40   | sender node id (lowercase hex ASCII)                               |
//! | 84   | 40   | slaveof node id, or 40 zero bytes for none                         |
//! | 124  | 2048 | myslots bitmap: slot s is byte s/8, bit s%8 (LSB first)            |
//! | 2172 | 2    | node flags                                                         |
//! | 2174 | 1    | cluster state: 0 ok, 1 fail                                        |
//! | 2175 | 1    | mflags                                                             |
//! | 2176 | 1    | myip length L (0 = use the socket address)                         |
//! | 2177 | L    | myip, UTF-8                                                        |
//! | +L   | 1    | hostname length H (0 = none announced)                             |
//! | +1   | H    | hostname, UTF-8 (`cluster-announce-hostname`, under 256 bytes)     |
//!
//! The body follows the header and depends on the type:
//!
//! - PING, PONG, MEET: u16 entry count N, then N gossip entries, each:
//!   node id (40), ping_sent_s u32, pong_received_s u32, port u16, cport u16, flags u16,
//!   ip length u8, ip (UTF-8, that many bytes).
//! - FAIL: node id (40).
//! - UPDATE: config_epoch u64, node id (40), slots bitmap (2048).
//! - AUTH_REQUEST, AUTH_ACK, MFSTART, PUBLISH, MODULE, PUBLISHSHARD: empty.
//!
//! The frame must end exactly where its body ends. Decoding rejects a wrong magic, another
//! version, an unknown type, a length outside `MIN_FRAME_LEN..=MAX_FRAME_LEN` (checked as soon
//! as the 16-byte prefix is in, before waiting for the rest), a checksum mismatch, node ids that
//! are not 40 hex characters, non-UTF-8 addresses, a state byte other than 0/1, and trailing or
//! missing body bytes.

use bytes::{Buf, BufMut, BytesMut};
use clusterlab_core::bus::{Body, GossipEntry, Header, Message, MessageType};
use clusterlab_core::node_id::NODE_ID_LEN;
use clusterlab_core::slot::{SlotSet, SLOT_COUNT};
use clusterlab_core::NodeId;

pub const MAGIC: [u8; 4] = *b"CLbs";
pub const VERSION: u16 = 2;
/// Bytes before the header: magic, version, type, length, checksum.
pub const PREFIX_LEN: usize = 16;
const SLOT_BYTES: usize = SLOT_COUNT / 8;
/// Header bytes that do not depend on the message (everything but the myip and hostname
/// texts).
const HEADER_FIXED_LEN: usize =
    2 + 2 + 8 + 8 + 8 + NODE_ID_LEN * 2 + SLOT_BYTES + 2 + 1 + 1 + 1 + 1;
/// The shortest valid frame: an empty-bodied message with no myip and no hostname.
pub const MIN_FRAME_LEN: usize = PREFIX_LEN + HEADER_FIXED_LEN;
/// The longest frame accepted: room for the largest gossip section an encoder can produce.
pub const MAX_FRAME_LEN: usize = 32 * 1024 * 1024;
/// Address texts carry a one-byte length.
pub const MAX_IP_LEN: usize = u8::MAX as usize;

/// Why a byte stream is not a valid frame; the link carrying it should be closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusCodecError {
    #[error("bad magic {0:02x?}")]
    BadMagic(Vec<u8>),
    #[error("unsupported bus format version {0}")]
    UnsupportedVersion(u16),
    #[error("unknown message type {0}")]
    UnknownType(u16),
    #[error("frame length {0} outside {MIN_FRAME_LEN}..={MAX_FRAME_LEN}")]
    BadLength(u32),
    #[error("checksum mismatch: frame says {expected:08x}, content gives {actual:08x}")]
    BadChecksum { expected: u32, actual: u32 },
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

/// Appends `msg` as one frame.
///
/// Panics if the body does not fit the message type, an address is longer than
/// [`MAX_IP_LEN`] bytes or there are more than 65535 gossip entries: those are bugs in the
/// caller, not conditions of the network.
pub fn encode(msg: &Message, out: &mut BytesMut) {
    assert!(
        body_fits_type(msg.header.kind, &msg.body),
        "bus message body {:?} does not fit type {:?}",
        msg.body,
        msg.header.kind
    );
    let start = out.len();
    // One allocation per frame instead of the doublings of growing a fresh buffer.
    out.reserve(encoded_len(msg));
    out.put_slice(&MAGIC);
    out.put_u16(VERSION);
    out.put_u16(msg.header.kind as u16);
    out.put_u32(0); // length, patched below
    out.put_u32(0); // checksum, patched below
    put_header(&msg.header, out);
    put_body(&msg.body, out);
    let len = out.len() - start;
    assert!(len <= MAX_FRAME_LEN, "bus frame of {len} bytes is too long");
    out[start + 8..start + 12].copy_from_slice(&(len as u32).to_be_bytes());
    let crc = checksum(&out[start..start + len]);
    out[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
}

/// The exact size of `msg`'s frame.
fn encoded_len(msg: &Message) -> usize {
    let body = match &msg.body {
        Body::Gossip(entries) => {
            2 + entries
                .iter()
                .map(|e| NODE_ID_LEN + 4 + 4 + 2 + 2 + 2 + 1 + e.ip.len())
                .sum::<usize>()
        }
        Body::Fail(_) => NODE_ID_LEN,
        Body::Update { .. } => 8 + NODE_ID_LEN + SLOT_BYTES,
        Body::Empty => 0,
        Body::Publish { channel, message } => 4 + channel.len() + 4 + message.len(),
    };
    PREFIX_LEN + HEADER_FIXED_LEN + msg.header.myip.len() + msg.header.hostname.len() + body
}

/// Removes one frame from `buf` and decodes it; `Ok(None)` while the frame is incomplete
/// (nothing is consumed then). After an error the stream cannot be resynchronised.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Message>, BusCodecError> {
    let available = buf.len().min(MAGIC.len());
    if buf[..available] != MAGIC[..available] {
        return Err(BusCodecError::BadMagic(buf[..available].to_vec()));
    }
    if buf.len() < PREFIX_LEN {
        return Ok(None);
    }
    let version = u16::from_be_bytes([buf[4], buf[5]]);
    if version != VERSION {
        return Err(BusCodecError::UnsupportedVersion(version));
    }
    let type_number = u16::from_be_bytes([buf[6], buf[7]]);
    let kind = MessageType::from_u16(type_number).ok_or(BusCodecError::UnknownType(type_number))?;
    let len = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if !(MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&(len as usize)) {
        return Err(BusCodecError::BadLength(len));
    }
    let len = len as usize;
    if buf.len() < len {
        return Ok(None);
    }
    let expected = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
    let actual = checksum(&buf[..len]);
    if expected != actual {
        return Err(BusCodecError::BadChecksum { expected, actual });
    }
    let mut reader = Reader(&buf[PREFIX_LEN..len]);
    let header = reader.header(kind)?;
    let body = reader.body(kind)?;
    if !reader.0.is_empty() {
        return Err(BusCodecError::Malformed("bytes after the body"));
    }
    buf.advance(len);
    Ok(Some(Message { header, body }))
}

/// CRC of a whole frame, skipping its own 4-byte field. Every frame carries a 2 KiB slot
/// bitmap and is checksummed twice (send and receive), so this is hot in the simulator: the
/// `crc32c` crate uses the CPU's CRC-32C instruction where there is one (a table otherwise).
fn checksum(frame: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&frame[..12]), &frame[PREFIX_LEN..])
}

fn body_fits_type(kind: MessageType, body: &Body) -> bool {
    matches!(
        (kind, body),
        (
            MessageType::Ping | MessageType::Pong | MessageType::Meet,
            Body::Gossip(_)
        ) | (MessageType::Fail, Body::Fail(_))
            | (MessageType::Update, Body::Update { .. })
            | (
                MessageType::Publish | MessageType::PublishShard,
                Body::Publish { .. }
            )
            | (
                MessageType::AuthRequest
                    | MessageType::AuthAck
                    | MessageType::MfStart
                    | MessageType::Module,
                Body::Empty
            )
    )
}

fn put_header(h: &Header, out: &mut BytesMut) {
    out.put_u16(h.port);
    out.put_u16(h.cport);
    out.put_u64(h.current_epoch);
    out.put_u64(h.config_epoch);
    out.put_u64(h.repl_offset);
    out.put_slice(&h.sender.0);
    match &h.slaveof {
        Some(id) => out.put_slice(&id.0),
        None => out.put_bytes(0, NODE_ID_LEN),
    }
    out.put_slice(&h.myslots.0[..]);
    out.put_u16(h.flags);
    out.put_u8(h.state_fail as u8);
    out.put_u8(h.mflags);
    put_text(&h.myip, out);
    put_text(&h.hostname, out);
}

fn put_text(text: &str, out: &mut BytesMut) {
    assert!(text.len() <= MAX_IP_LEN, "bus text {text:?} is too long");
    out.put_u8(text.len() as u8);
    out.put_slice(text.as_bytes());
}

fn put_body(body: &Body, out: &mut BytesMut) {
    match body {
        Body::Gossip(entries) => {
            let count = u16::try_from(entries.len()).expect("at most 65535 gossip entries");
            out.put_u16(count);
            for entry in entries {
                out.put_slice(&entry.id.0);
                out.put_u32(entry.ping_sent_s);
                out.put_u32(entry.pong_received_s);
                out.put_u16(entry.port);
                out.put_u16(entry.cport);
                out.put_u16(entry.flags);
                put_text(&entry.ip, out);
            }
        }
        Body::Fail(id) => out.put_slice(&id.0),
        Body::Update {
            config_epoch,
            id,
            slots,
        } => {
            out.put_u64(*config_epoch);
            out.put_slice(&id.0);
            out.put_slice(&slots.0[..]);
        }
        Body::Empty => {}
        Body::Publish { channel, message } => {
            // Redis's layout: both lengths, then both byte strings.
            out.put_u32(u32::try_from(channel.len()).expect("a channel under 4 GiB"));
            out.put_u32(u32::try_from(message.len()).expect("a message under 4 GiB"));
            out.put_slice(channel);
            out.put_slice(message);
        }
    }
}

/// Reads fields off the checksummed part of a frame; running short is an error because the
/// frame length already told how much there is.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BusCodecError> {
        if self.0.len() < n {
            return Err(BusCodecError::Malformed("frame ends inside a field"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BusCodecError> {
        let bytes = self.take(N)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    fn u8(&mut self) -> Result<u8, BusCodecError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, BusCodecError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, BusCodecError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, BusCodecError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn node_id(&mut self) -> Result<NodeId, BusCodecError> {
        let bytes = self.take(NODE_ID_LEN)?;
        NodeId::parse(bytes).ok_or(BusCodecError::Malformed("node id is not 40 hex digits"))
    }

    fn optional_node_id(&mut self) -> Result<Option<NodeId>, BusCodecError> {
        if self.0.len() >= NODE_ID_LEN && self.0[..NODE_ID_LEN].iter().all(|&b| b == 0) {
            self.take(NODE_ID_LEN)?;
            return Ok(None);
        }
        self.node_id().map(Some)
    }

    fn slots(&mut self) -> Result<SlotSet, BusCodecError> {
        Ok(SlotSet(Box::new(self.array()?)))
    }

    fn text(&mut self) -> Result<String, BusCodecError> {
        let len = self.u8()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| BusCodecError::Malformed("address is not UTF-8"))
    }

    fn header(&mut self, kind: MessageType) -> Result<Header, BusCodecError> {
        Ok(Header {
            kind,
            port: self.u16()?,
            cport: self.u16()?,
            current_epoch: self.u64()?,
            config_epoch: self.u64()?,
            repl_offset: self.u64()?,
            sender: self.node_id()?,
            slaveof: self.optional_node_id()?,
            myslots: self.slots()?,
            flags: self.u16()?,
            state_fail: match self.u8()? {
                0 => false,
                1 => true,
                _ => return Err(BusCodecError::Malformed("cluster state is not 0 or 1")),
            },
            mflags: self.u8()?,
            myip: self.text()?,
            hostname: self.text()?,
        })
    }

    fn body(&mut self, kind: MessageType) -> Result<Body, BusCodecError> {
        Ok(match kind {
            MessageType::Ping | MessageType::Pong | MessageType::Meet => {
                let count = self.u16()?;
                let mut entries = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    entries.push(self.gossip_entry()?);
                }
                Body::Gossip(entries)
            }
            MessageType::Fail => Body::Fail(self.node_id()?),
            MessageType::Update => Body::Update {
                config_epoch: self.u64()?,
                id: self.node_id()?,
                slots: self.slots()?,
            },
            MessageType::Publish | MessageType::PublishShard => {
                let channel_len = self.u32()? as usize;
                let message_len = self.u32()? as usize;
                Body::Publish {
                    channel: bytes::Bytes::copy_from_slice(self.take(channel_len)?),
                    message: bytes::Bytes::copy_from_slice(self.take(message_len)?),
                }
            }
            MessageType::AuthRequest
            | MessageType::AuthAck
            | MessageType::MfStart
            | MessageType::Module => Body::Empty,
        })
    }

    fn gossip_entry(&mut self) -> Result<GossipEntry, BusCodecError> {
        Ok(GossipEntry {
            id: self.node_id()?,
            ping_sent_s: self.u32()?,
            pong_received_s: self.u32()?,
            port: self.u16()?,
            cport: self.u16()?,
            flags: self.u16()?,
            ip: self.text()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(fill: u8) -> NodeId {
        NodeId([fill; NODE_ID_LEN])
    }

    fn slots(list: &[u16]) -> SlotSet {
        let mut set = SlotSet::default();
        for &s in list {
            set.insert(s);
        }
        set
    }

    fn header(kind: MessageType) -> Header {
        Header {
            kind,
            port: 30001,
            cport: 40001,
            current_epoch: 7,
            config_epoch: 3,
            repl_offset: 1 << 40,
            sender: id(b'a'),
            myslots: slots(&[0, 1, 5460, 16383]),
            slaveof: None,
            myip: "127.0.0.1".into(),
            hostname: String::new(),
            flags: 0x111,
            state_fail: false,
            mflags: 0,
        }
    }

    fn ping() -> Message {
        Message {
            header: header(MessageType::Ping),
            body: Body::Gossip(vec![GossipEntry {
                id: id(b'b'),
                ping_sent_s: 1,
                pong_received_s: 1_700_000_000,
                ip: "10.0.0.2".into(),
                port: 30002,
                cport: 40002,
                flags: 1,
            }]),
        }
    }

    fn frame_of(msg: &Message) -> BytesMut {
        let mut out = BytesMut::new();
        encode(msg, &mut out);
        out
    }

    #[test]
    fn layout_matches_module_doc() {
        let frame = frame_of(&ping());
        assert_eq!(&frame[0..4], b"CLbs");
        assert_eq!(&frame[4..8], &[0, 2, 0, 0], "version 2, type PING");
        let gossip_len = 2 + NODE_ID_LEN + 4 + 4 + 2 + 2 + 2 + 1 + "10.0.0.2".len();
        let len = MIN_FRAME_LEN + "127.0.0.1".len() + gossip_len;
        assert_eq!(
            u32::from_be_bytes(frame[8..12].try_into().unwrap()),
            len as u32
        );
        assert_eq!(frame.len(), len);
        assert_eq!(
            &frame[16..20],
            &[0x75, 0x31, 0x9c, 0x41],
            "ports 30001, 40001"
        );
        assert_eq!(&frame[44..84], &[b'a'; 40]);
        assert_eq!(&frame[84..124], &[0; 40], "no slaveof");
        assert_eq!(frame[124], 0b11, "slots 0 and 1");
        assert_eq!(frame[124 + 2047], 0x80, "slot 16383");
        assert_eq!(&frame[2172..2177], &[0x01, 0x11, 0, 0, 9]);
        assert_eq!(&frame[2177..2186], b"127.0.0.1");
        assert_eq!(frame[2186], 0, "no hostname");
        assert_eq!(&frame[2187..2189], &[0, 1], "one gossip entry");
    }

    /// The announced hostname travels right after myip, length first, and decodes back.
    #[test]
    fn hostname_follows_myip_and_round_trips() {
        let mut msg = ping();
        msg.header.hostname = "host-3.example.com".into();
        let mut frame = frame_of(&msg);
        let plain_len = frame_of(&ping()).len();
        assert_eq!(frame.len(), plain_len + "host-3.example.com".len());
        assert_eq!(frame[2186], 18, "hostname length");
        assert_eq!(&frame[2187..2205], b"host-3.example.com");
        assert_eq!(&frame[2205..2207], &[0, 1], "one gossip entry");
        let decoded = decode(&mut frame).unwrap().unwrap();
        assert_eq!(decoded.header.hostname, "host-3.example.com");
        assert_eq!(decoded, msg);
        assert!(frame.is_empty());

        let mut longest = ping();
        longest.header.hostname = "h".repeat(255);
        let decoded = decode(&mut frame_of(&longest)).unwrap().unwrap();
        assert_eq!(decoded.header.hostname.len(), 255);
    }

    /// CRC-32C one bit at a time, straight from the polynomial: the table-driven checksum
    /// must keep giving exactly these values (the wire format depends on them).
    fn bitwise_crc32c(parts: &[&[u8]]) -> u32 {
        let mut crc = !0u32;
        for &byte in parts.iter().flat_map(|p| p.iter()) {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn checksum_is_crc32c_of_the_frame_without_its_own_field() {
        assert_eq!(
            crc32c::crc32c(b"123456789"),
            0xE306_9283,
            "CRC-32/ISCSI check value"
        );
        assert_eq!(bitwise_crc32c(&[b"1234", b"56789"]), 0xE306_9283);
        let frame = frame_of(&ping());
        let expected = bitwise_crc32c(&[&frame[..12], &frame[PREFIX_LEN..]]);
        assert_eq!(checksum(&frame), expected);
        assert_eq!(&frame[12..16], &expected.to_be_bytes());
    }

    #[test]
    fn every_body_kind_round_trips() {
        let mut replica = header(MessageType::Pong);
        replica.slaveof = Some(id(b'c'));
        replica.state_fail = true;
        replica.mflags = 3;
        replica.myip = String::new();
        let messages = [
            ping(),
            Message {
                header: replica,
                body: Body::Gossip(vec![]),
            },
            Message {
                header: header(MessageType::Fail),
                body: Body::Fail(id(b'd')),
            },
            Message {
                header: header(MessageType::Update),
                body: Body::Update {
                    config_epoch: 9,
                    id: id(b'e'),
                    slots: slots(&[42]),
                },
            },
            Message {
                header: header(MessageType::MfStart),
                body: Body::Empty,
            },
            Message {
                header: header(MessageType::PublishShard),
                body: Body::Publish {
                    channel: bytes::Bytes::from_static(b"orders"),
                    message: bytes::Bytes::from_static(b"\x00new\r\n"),
                },
            },
        ];
        let mut stream = BytesMut::new();
        for msg in &messages {
            encode(msg, &mut stream);
        }
        for msg in &messages {
            assert_eq!(decode(&mut stream), Ok(Some(msg.clone())));
        }
        assert_eq!(decode(&mut stream), Ok(None));
        assert!(stream.is_empty());
    }

    #[test]
    fn bad_prefixes_are_rejected_early() {
        assert_eq!(
            decode(&mut BytesMut::from(&b"RC"[..])),
            Err(BusCodecError::BadMagic(b"RC".to_vec()))
        );
        let frame = frame_of(&ping());
        let with = |offset: usize, bytes: &[u8]| {
            let mut prefix = BytesMut::from(&frame[..PREFIX_LEN]);
            prefix[offset..offset + bytes.len()].copy_from_slice(bytes);
            decode(&mut prefix)
        };
        assert_eq!(with(4, &[0, 1]), Err(BusCodecError::UnsupportedVersion(1)));
        assert_eq!(with(4, &[0, 3]), Err(BusCodecError::UnsupportedVersion(3)));
        assert_eq!(with(6, &[0, 11]), Err(BusCodecError::UnknownType(11)));
        let too_long = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        assert_eq!(
            with(8, &too_long),
            Err(BusCodecError::BadLength(MAX_FRAME_LEN as u32 + 1))
        );
        let too_short = (MIN_FRAME_LEN as u32 - 1).to_be_bytes();
        assert_eq!(
            with(8, &too_short),
            Err(BusCodecError::BadLength(MIN_FRAME_LEN as u32 - 1))
        );
        assert_eq!(with(0, &[]), Ok(None), "a valid prefix waits for the rest");
    }

    #[test]
    #[should_panic(expected = "does not fit type")]
    fn encoding_a_mismatched_body_is_a_bug() {
        let msg = Message {
            header: header(MessageType::Fail),
            body: Body::Empty,
        };
        encode(&msg, &mut BytesMut::new());
    }

    /// A frame whose checksum is right but whose content is not: decoding must still refuse it.
    fn resealed(mut frame: BytesMut) -> BytesMut {
        let crc = checksum(&frame);
        frame[12..16].copy_from_slice(&crc.to_be_bytes());
        frame
    }

    #[test]
    fn malformed_content_is_rejected_even_with_a_valid_checksum() {
        let frame = frame_of(&ping());
        let mut bad_id = frame.clone();
        bad_id[44] = b'g';
        assert_eq!(
            decode(&mut resealed(bad_id)),
            Err(BusCodecError::Malformed("node id is not 40 hex digits"))
        );
        let mut bad_state = frame.clone();
        bad_state[2174] = 2;
        assert_eq!(
            decode(&mut resealed(bad_state)),
            Err(BusCodecError::Malformed("cluster state is not 0 or 1"))
        );
        let mut trailing = frame.clone();
        trailing.put_u8(0);
        let len = (trailing.len() as u32).to_be_bytes();
        trailing[8..12].copy_from_slice(&len);
        assert_eq!(
            decode(&mut resealed(trailing)),
            Err(BusCodecError::Malformed("bytes after the body"))
        );
        let mut short = frame.clone();
        short[2188] = 2; // two gossip entries announced, one present
        assert_eq!(
            decode(&mut resealed(short)),
            Err(BusCodecError::Malformed("frame ends inside a field"))
        );
    }

    fn any_id() -> impl Strategy<Value = NodeId> {
        "[0-9a-f]{40}".prop_map(|s| NodeId::parse(s.as_bytes()).expect("hex id"))
    }

    fn any_slots() -> impl Strategy<Value = SlotSet> {
        proptest::collection::vec(0..SLOT_COUNT as u16, 0..20).prop_map(|list| slots(&list))
    }

    fn any_gossip() -> impl Strategy<Value = GossipEntry> {
        (
            any_id(),
            any::<u32>(),
            any::<u32>(),
            ".{0,8}",
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(
                |(id, ping_sent_s, pong_received_s, ip, port, cport, flags)| GossipEntry {
                    id,
                    ping_sent_s,
                    pong_received_s,
                    ip,
                    port,
                    cport,
                    flags,
                },
            )
    }

    fn any_message() -> impl Strategy<Value = Message> {
        let header = (
            proptest::sample::select(MessageType::ALL.to_vec()),
            (
                any::<u16>(),
                any::<u16>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
            ),
            (
                any_id(),
                any_slots(),
                proptest::option::of(any_id()),
                "[0-9a-f.:]{0,16}",
                "[a-z0-9.-]{0,12}",
            ),
            (any::<u16>(), any::<bool>(), any::<u8>()),
        )
            .prop_map(|(kind, nums, ids, bits)| Header {
                kind,
                port: nums.0,
                cport: nums.1,
                current_epoch: nums.2,
                config_epoch: nums.3,
                repl_offset: nums.4,
                sender: ids.0,
                myslots: ids.1,
                slaveof: ids.2,
                myip: ids.3,
                hostname: ids.4,
                flags: bits.0,
                state_fail: bits.1,
                mflags: bits.2,
            });
        let bodies = (
            proptest::collection::vec(any_gossip(), 0..5),
            any_id(),
            (any::<u64>(), any_id(), any_slots()),
            (
                proptest::collection::vec(any::<u8>(), 0..40),
                proptest::collection::vec(any::<u8>(), 0..40),
            ),
        );
        (header, bodies).prop_map(|(header, (gossip, failed, update, published))| {
            let body = match header.kind {
                MessageType::Ping | MessageType::Pong | MessageType::Meet => Body::Gossip(gossip),
                MessageType::Fail => Body::Fail(failed),
                MessageType::Update => Body::Update {
                    config_epoch: update.0,
                    id: update.1,
                    slots: update.2,
                },
                MessageType::Publish | MessageType::PublishShard => Body::Publish {
                    channel: published.0.into(),
                    message: published.1.into(),
                },
                _ => Body::Empty,
            };
            Message { header, body }
        })
    }

    proptest! {
        #[test]
        fn round_trip_and_every_split_waits(msg in any_message()) {
            let frame = frame_of(&msg);
            prop_assert_eq!(encoded_len(&msg), frame.len());
            for cut in 0..frame.len() {
                let mut partial = BytesMut::from(&frame[..cut]);
                prop_assert_eq!(decode(&mut partial), Ok(None));
                prop_assert_eq!(partial.len(), cut);
            }
            let mut buf = frame.clone();
            buf.extend_from_slice(b"CL");
            prop_assert_eq!(decode(&mut buf), Ok(Some(msg)));
            prop_assert_eq!(&buf[..], b"CL");
        }

        #[test]
        fn any_corrupted_byte_is_detected(
            msg in any_message(),
            position in any::<proptest::sample::Index>(),
            flip in 1..=255u8,
        ) {
            let mut frame = frame_of(&msg);
            let at = position.index(frame.len());
            frame[at] ^= flip;
            let result = decode(&mut frame);
            if (8..12).contains(&at) {
                // A changed length may just mean "wait for more"; it never yields a message.
                prop_assert!(!matches!(result, Ok(Some(_))), "{:?}", result);
            } else {
                prop_assert!(result.is_err(), "byte {} corrupted, got {:?}", at, result);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if data.len() >= 4 && data[0] & 1 == 0 {
                data[..4].copy_from_slice(&MAGIC);
            }
            let mut buf = BytesMut::from(&data[..]);
            let _ = decode(&mut buf);
        }
    }
}
