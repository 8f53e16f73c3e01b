//! Cluster bus messages as values.
//!
//! The fields follow what Redis Cluster nodes exchange (header with epochs, the sender's slots
//! and flags; gossip entries about other nodes; FAIL and UPDATE bodies). How they are laid out on
//! the wire is our own format, defined by the codec in `clusterlab-net::bus_codec`.

use crate::node_id::NodeId;
use crate::slot::SlotSet;

/// Message types, numbered as Redis numbers them (the numbers only show up in stats order).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MessageType {
    Ping = 0,
    Pong = 1,
    Meet = 2,
    Fail = 3,
    Publish = 4,
    AuthRequest = 5,
    AuthAck = 6,
    Update = 7,
    MfStart = 8,
    Module = 9,
    PublishShard = 10,
}

impl MessageType {
    pub const ALL: [MessageType; 11] = [
        MessageType::Ping,
        MessageType::Pong,
        MessageType::Meet,
        MessageType::Fail,
        MessageType::Publish,
        MessageType::AuthRequest,
        MessageType::AuthAck,
        MessageType::Update,
        MessageType::MfStart,
        MessageType::Module,
        MessageType::PublishShard,
    ];

    pub fn from_u16(v: u16) -> Option<MessageType> {
        MessageType::ALL.get(v as usize).copied()
    }

    /// The name `CLUSTER INFO` uses in `cluster_stats_messages_<name>_sent`.
    pub fn stats_name(self) -> &'static str {
        match self {
            MessageType::Ping => "ping",
            MessageType::Pong => "pong",
            MessageType::Meet => "meet",
            MessageType::Fail => "fail",
            MessageType::Publish => "publish",
            MessageType::AuthRequest => "auth-req",
            MessageType::AuthAck => "auth-ack",
            MessageType::Update => "update",
            MessageType::MfStart => "mfstart",
            MessageType::Module => "module",
            MessageType::PublishShard => "publishshard",
        }
    }
}

/// Node flag bits, as Redis numbers them.
pub mod flags {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;
}

/// Message flags (`mflags`).
pub mod mflags {
    pub const PAUSED: u8 = 1;
    pub const FORCEACK: u8 = 2;
}

/// What every message carries about its sender.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub kind: MessageType,
    /// Client port of the sender.
    pub port: u16,
    /// Bus port of the sender.
    pub cport: u16,
    pub current_epoch: u64,
    /// The sender's config epoch (a replica sends its master's).
    pub config_epoch: u64,
    pub repl_offset: u64,
    pub sender: NodeId,
    /// Slots the sender claims (a replica sends its master's).
    pub myslots: SlotSet,
    pub slaveof: Option<NodeId>,
    /// The sender's announced IP; empty means "use the address the message came from".
    pub myip: String,
    /// The sender's announced hostname, empty when none (Redis's hostname ping extension).
    pub hostname: String,
    pub flags: u16,
    /// The sender's view of `cluster_state`: true when `fail`.
    pub state_fail: bool,
    pub mflags: u8,
}

/// One gossip section entry: what the sender knows about some other node.
#[derive(Clone, Debug, PartialEq)]
pub struct GossipEntry {
    pub id: NodeId,
    /// Seconds, as Redis carries them.
    pub ping_sent_s: u32,
    pub pong_received_s: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// PING, PONG and MEET carry gossip.
    Gossip(Vec<GossipEntry>),
    /// FAIL names the failed node.
    Fail(NodeId),
    /// UPDATE tells a node about another node's newer slot configuration.
    Update {
        config_epoch: u64,
        id: NodeId,
        slots: SlotSet,
    },
    /// AUTH_REQUEST, AUTH_ACK, MFSTART.
    Empty,
    /// PUBLISH and PUBLISHSHARD: a message for the receiver's subscribers.
    Publish {
        channel: bytes::Bytes,
        message: bytes::Bytes,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}
