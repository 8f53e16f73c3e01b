//! The node's interface with its driver: the clocks and IDs it is called with, and the
//! [`Effect`]s it asks the driver to perform.
//!
//! These are plain values with no behaviour, kept apart from `Node` so that the parts of the
//! core that only report effects (the cluster and replication logic, the [`crate::outbox`])
//! need not depend on the node itself.

use bytes::Bytes;

use crate::bus::Message;
use crate::event::ClusterEvent;
use crate::reply::Reply;

/// Identifies one replica → master connection attempt; never reused.
pub type ReplLinkId = u64;
/// Identifies a client connection; assigned by the node, never reused.
pub type ClientId = u64;
/// Identifies one cluster-bus link (inbound or outbound); assigned by the node.
pub type LinkId = u64;

/// The two clocks a node needs, both in milliseconds. Timers use `mono_ms`; fields Redis shows
/// (`pong-recv`, `ping-sent`) use `unix_ms`. Under madsim both are virtual. Timestamps of 0
/// mean "never", so drivers start `mono_ms` above 0.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Time {
    pub mono_ms: u64,
    pub unix_ms: u64,
}

/// Log levels, as redis.conf names them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// Work the driver must do on the node's behalf.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Open an outbound bus link; answer with `bus_link_connected` or `bus_link_closed`.
    Connect {
        link: LinkId,
        ip: String,
        port: u16,
    },
    /// Send a message on a bus link.
    Send {
        link: LinkId,
        msg: Message,
    },
    /// Close a bus link (the driver then reports nothing more for it).
    CloseLink {
        link: LinkId,
    },
    /// Close a client connection once its pending replies are written.
    CloseClient {
        client: ClientId,
    },
    /// Close a client connection at once, discarding what it was not sent yet (a client over
    /// its limits). The node has forgotten the client already.
    DropClient {
        client: ClientId,
    },
    /// Persist `nodes.conf` with these contents, fsynced when `fsync` is set, before replies
    /// produced by the same call are sent.
    SaveConfig {
        contents: String,
        fsync: bool,
    },
    /// Append RESP-encoded commands to the append-only file.
    AppendAof {
        data: Bytes,
    },
    /// A replica's full sync finished loading: replace the AOF with a new base holding
    /// `base` (the snapshot, RESP-encoded) and a new empty incr file, swapped in whole (the
    /// manifest last), as Redis's rewrite after a sync does (`restartAOFAfterSYNC`). Until
    /// then the old files stay as they were: a crash in between restarts on the old dataset.
    /// Later `AppendAof`s go to the new incr file.
    RewriteAof {
        base: Bytes,
    },
    Log {
        level: LogLevel,
        text: String,
    },
    /// A protocol decision as a typed value (see [`crate::event`]); drivers may drop it.
    Event(ClusterEvent),
    /// `MIGRATE`: send the job's requests to its target, then call
    /// `Node::migrate_finished`; its reply replaces the one the MIGRATE command returned.
    /// Later commands of the same client wait for it.
    Migrate(MigrateJob),
    /// `DEBUG SEGFAULT`: stop at once, flushing nothing.
    Crash,
    /// `SHUTDOWN`: flush, fsync and exit.
    Shutdown,
    /// `CONFIG REWRITE`: bring the config file up to date with the running config (the driver
    /// reads the file and writes back [`crate::Config::rewrite_text`] of it, atomically).
    RewriteConfig,
    /// `DEBUG SLEEP`: stop serving clients and the bus for this long, as if the process hung.
    Sleep {
        ms: u64,
    },
    /// Replica: connect to my master's client port and run the handshake (see
    /// `crate::replication`); report with `replication_link_up`/`replication_link_down`.
    ReplicaConnect {
        link: ReplLinkId,
        ip: String,
        port: u16,
    },
    /// Replica: close that link; the node ignores anything more from it.
    ReplicaDisconnect {
        link: ReplLinkId,
    },
    /// Master: write these bytes to a replica client, after any reply already produced for it.
    ReplicaStream {
        client: ClientId,
        data: Bytes,
    },
    /// The client's command blocked (`WAIT`, or a write while writes are paused for a manual
    /// failover): the reply `Node::command` returned is not sent, and the client's later
    /// commands wait until [`Effect::UnblockClient`] names it.
    BlockClient {
        client: ClientId,
    },
    /// The reply a blocked client waited for; its queued commands may run again.
    UnblockClient {
        client: ClientId,
        reply: Reply,
    },
    /// A RESP3 push frame (`>`: a tracking `invalidate`) for a client, outside the
    /// request/reply flow: after the reply of the command being run when it is that client's,
    /// else as soon as possible.
    ClientPush {
        client: ClientId,
        items: Vec<Reply>,
    },
    /// A `MONITOR` line for a monitoring client, encoded as a reply in its protocol, outside
    /// the request/reply flow like [`Effect::ClientPush`].
    ClientNotice {
        client: ClientId,
        reply: Reply,
    },
    /// Replica: send `REPLCONF ACK <offset>` on that link now (the master asked with GETACK).
    ReplicaAck {
        link: ReplLinkId,
        offset: u64,
    },
    /// `SAVE`, `BGSAVE`, the `save` schedule: write this RDB file to `<dir>/<dbfilename>`
    /// (whole, synced, replacing the old one), then report with `Node::rdb_saved`, passing
    /// `client` back (a SAVE waiting for its reply).
    SaveRdb {
        data: Bytes,
        client: Option<ClientId>,
    },
    /// `CONFIG SET appendonly no`: sync the AOF and stop appending (the files stay).
    StopAof,
}

/// What the driver must do for one MIGRATE, and what it hands back to `migrate_finished`.
#[derive(Clone, Debug, PartialEq)]
pub struct MigrateJob {
    pub client: ClientId,
    pub host: String,
    pub port: u16,
    pub timeout_ms: u64,
    /// Commands to send in order (one `RESTORE-ASKING` per key), each expecting one reply.
    pub requests: Vec<Vec<Bytes>>,
    /// The key each request moves.
    pub keys: Vec<Bytes>,
    pub copy: bool,
}
