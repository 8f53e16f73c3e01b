//! Master → replica replication: our own protocol over the master's client port, modelled on
//! Redis's.
//!
//! Replica side. While this node is a replica of a known master with an address, the cron
//! emits [`Effect::ReplicaConnect`] (at most once a second, until the driver reports the link
//! up or down). The driver connects to the master's client port, sends
//! `REPLCONF listening-port <port>`, `REPLCONF capa eof capa psync2` and `PSYNC <replid>
//! <offset>` as [`Node::replication_psync_args`] says: the history this node's data is (its
//! last master's ID and offset + 1, kept across a dropped link, or its own when it was a
//! master), or `? -1`. The master answers `+CONTINUE <replid>` (the driver reports
//! [`Node::replication_link_continue`]: nothing is flushed, the stream goes on from the
//! offset) or `+FULLRESYNC <replid> <offset>` ([`Node::replication_link_up`]), perhaps only
//! after `repl-diskless-sync-delay` (see the `psync` module). After a full resync the first
//! commands are the snapshot: `FLUSHALL`, one `RESTORE key <abs-ms|0> <payload> ABSTTL
//! REPLACE` per key, then the marker `REPLCONF SNAPSHOT-END`; they count for no offset (like
//! Redis's RDB transfer), and the keyspace is replaced only at the marker. Every later command
//! is applied without redirection (as the AOF loader does), logged verbatim to this node's AOF,
//! and advances the replication offset by its length (the master's `REPLCONF` and keep-alive
//! `PING` advance it too, as data nobody logs). Every second the driver sends `REPLCONF ACK
//! <offset>` with [`Node::replication_offset`]. A link silent for `repl-timeout` is dropped
//! (see the `keepalive` module). When this node stops being a replica of that master
//! (failover, `CLUSTER RESET`, a new master), the node emits [`Effect::ReplicaDisconnect`] and
//! ignores anything more from that link.
//!
//! Master side. `REPLCONF listening-port|capa|ACK` and `PSYNC` are commands (see
//! [`crate::cmd::replication`]): PSYNC marks the client as a replica and answers in its stream
//! (a partial resync from the backlog, or a full one: see the `psync` module). Every write
//! that reaches `Node::log_write` (the AOF seam, which runs whether or not `appendonly` is on)
//! is streamed to each replica client as a RESP array and kept in the backlog (`backlog`
//! module), and the master offset grows by its length even with no replica attached. Replica
//! clients get no replies (REPLCONF ACK included), so the driver writes only the stream to
//! them. Transactions are streamed command by command, without MULTI/EXEC; the stream has no
//! `SELECT` (db 0 only). Every `repl-ping-replica-period` the master streams a `PING`.
//!
//! Replication IDs follow Redis's: a replica takes its master's ID once synced, a promoted
//! replica shifts to a new one keeping the old as `replid2` up to `second_offset`, and a
//! master turned replica caches itself as its master (`roles` module).
//!
//! Acknowledgements. `WAIT numreplicas timeout` blocks its client (see [`Effect::BlockClient`])
//! until enough replicas acknowledged the client's last write offset or the timeout passes; the
//! master then puts `REPLCONF GETACK *` into the stream (it counts in the offset, as in Redis),
//! and a replica answers it at once with [`Effect::ReplicaAck`] instead of waiting for its
//! next one-second ACK. Every input ends in `replication_before_reply`, which also answers the
//! blocked clients whose condition now holds (an ACK arrived, a timeout passed, writes were
//! unpaused after a manual failover, or this node became a replica).
//!
//! `cluster.me().repl_offset` is the offset everywhere (master: bytes streamed; replica: bytes
//! applied): it travels in bus headers and ranks replicas in a failover election.
//!
//! [`Node::replication_link_up`]: crate::node::Node::replication_link_up
//! [`Node::replication_apply`]: crate::node::Node::replication_apply
//! [`Node::replication_offset`]: crate::node::Node::replication_offset
//! [`Node::replication_psync_args`]: crate::node::Node::replication_psync_args
//! [`Node::replication_link_continue`]: crate::node::Node::replication_link_continue

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::cmd::{self, is};
use crate::effect::{ClientId, Effect, LogLevel, Time};
use crate::event::ClusterEvent;
use crate::node_id::NodeId;
use crate::outbox::Outbox;
use crate::reply::Reply;

pub use crate::effect::ReplLinkId;

/// What a master puts in the stream to ask every replica for an ACK now.
const GETACK: &[&[u8]] = &[b"REPLCONF", b"GETACK", b"*"];
/// `WAIT` on a node that became a replica while the client was blocked, as Redis words it.
const UNBLOCKED_BY_ROLE_CHANGE: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

/// A replica tries to (re)connect to its master at most this often, as Redis's cron does.
const RECONNECT_INTERVAL_MS: u64 = 1000;

/// Replication state of a node, both roles.
#[derive(Debug)]
pub struct Replication {
    /// This node's replication ID as a master.
    replid: String,
    /// The ID of the master this node replicated before it was promoted.
    replid2: String,
    /// First offset served under `replid` after a promotion; -1 if none.
    second_offset: i64,
    /// Replica side: the connection to my master, if any.
    link: Option<MasterLink>,
    next_link: ReplLinkId,
    /// Monotonic ms of the last connect attempt (throttles reconnects).
    last_attempt_ms: u64,
    /// Monotonic ms when the last link went down; 0 = never up.
    down_since_ms: u64,
    /// Master side: `REPLCONF listening-port` values of clients not yet replicas.
    listening_ports: BTreeMap<ClientId, u16>,
    /// Master side: clients not yet replicas that sent `REPLCONF capa eof` (they read a
    /// diskless payload) or `REPLCONF rdb-only 1` (they want the file and no stream).
    capa_eof: BTreeSet<ClientId>,
    rdb_only: BTreeSet<ClientId>,
    /// Master side: clients that sent PSYNC.
    replicas: BTreeMap<ClientId, ReplicaClient>,
    /// Clients blocked in `WAIT` or on a paused write, answered in client-id order.
    blocked: BTreeMap<ClientId, Blocked>,
    /// A `WAIT` blocked: ask the replicas for an ACK before the call returns.
    get_ack_pending: bool,
    /// The latest bytes of the stream, for partial resyncs; `None` until a first replica
    /// attached (master) or a first sync finished (replica), as in Redis.
    backlog: Option<Backlog>,
    /// The history this replica's data is, to ask for with `PSYNC <replid> <offset+1>`
    /// (Redis's cached master): kept when a synced link drops, or made from this node's own
    /// ID and offset when a master turns replica.
    cached_master: Option<CachedMaster>,
    /// Whether this node was a replica at the last [`Node::replication_before_reply`]: role
    /// changes shift or cache the replication IDs.
    ///
    /// [`Node::replication_before_reply`]: crate::node::Node::replication_before_reply
    was_replica: bool,
    /// Master side: replicas that asked for a full sync and wait for the next snapshot, with
    /// the monotonic ms each asked (`repl-diskless-sync-delay`).
    waiting_full_sync: BTreeMap<ClientId, u64>,
    /// Master side: monotonic ms of the last keep-alive `PING` to the replicas.
    last_ping_ms: u64,
    /// Replica side: a full sync's RDB being loaded (see the `loading` module).
    loading: Option<Loading>,
    /// Master side: snapshots still being produced and sent (`snapshot_send` module).
    sends: Vec<snapshot_send::SnapshotSend>,
    /// Master side: monotonic ms of the last keep-alive newline to waiting replicas.
    last_newline_ms: u64,
}

/// The history a replica's data is: `replid`'s stream up to `offset`.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedMaster {
    pub replid: String,
    pub offset: u64,
}

/// Why a client gets no reply yet.
#[derive(Clone, Debug, PartialEq)]
pub enum Blocked {
    /// `WAIT`: until `numreplicas` replicas acknowledged `offset`, or until `deadline_ms`
    /// (monotonic; `None` = for ever).
    Wait {
        offset: u64,
        numreplicas: i64,
        deadline_ms: Option<u64>,
    },
    /// A write sent while writes are paused (manual failover): it runs when the pause ends,
    /// possibly as a redirection if this node became a replica meanwhile.
    Paused { args: Vec<Bytes> },
    /// A write to a key a MIGRATE job is moving: it runs when the job ends, usually as an
    /// `-ASK` or `-MOVED` since the key has left.
    Migrating { args: Vec<Bytes> },
}

/// A replica connected to this master.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaClient {
    pub ip: String,
    pub port: u16,
    /// Offset the replica last acknowledged.
    pub ack_offset: u64,
    /// Monotonic ms of its last ACK (or of the PSYNC).
    pub ack_ms: u64,
    /// It reads the diskless payload form (`REPLCONF capa eof`).
    pub capa_eof: bool,
    /// It sent PSYNC (gets `+FULLRESYNC` before the payload), not the old SYNC.
    pub psync: bool,
    /// `REPLCONF rdb-only 1`: the payload and nothing after it (`redis-cli --rdb`).
    pub rdb_only: bool,
    /// The stream kept for it until it is online (its snapshot is still being sent, or it
    /// has not acknowledged a diskless one yet); `None` once online.
    pub held: Option<Vec<Bytes>>,
    /// It has its whole diskless payload: its first ACK puts it online.
    pub online_on_ack: bool,
}

/// This replica's link to its master.
#[derive(Clone, Debug)]
pub struct MasterLink {
    pub id: ReplLinkId,
    pub master: NodeId,
    pub ip: String,
    pub port: u16,
    /// `+FULLRESYNC` arrived.
    pub up: bool,
    /// The full sync is not over: its payload is arriving or loading.
    pub loading: bool,
    /// The payload loads from the socket as it arrives (`repl-diskless-load`; decided at
    /// `+FULLRESYNC`, see the `socket_load` module).
    pub load_from_socket: bool,
    /// The RDB payload so far, from `+FULLRESYNC` until it is whole: the replica keeps serving
    /// its old data meanwhile and keeps it if the link drops first (Redis with
    /// `repl-diskless-load disabled` loads the RDB only once it has all of it).
    pub payload: Option<transfer::PayloadReader>,
    /// The master's stream that arrived while the payload loads, with each command's length:
    /// applied once the load ends.
    pub held: Vec<(Vec<Bytes>, u64)>,
    /// The offset the snapshot corresponds to.
    pub sync_offset: u64,
    pub master_replid: String,
    /// The internal client commands from the master run as.
    pub client: Option<ClientId>,
    /// Monotonic ms of the last data from the master.
    pub last_io_ms: u64,
}

impl Replication {
    pub fn new(replid: String) -> Replication {
        Replication {
            replid,
            replid2: "0".repeat(40),
            second_offset: -1,
            link: None,
            next_link: 1,
            last_attempt_ms: 0,
            down_since_ms: 0,
            listening_ports: BTreeMap::new(),
            capa_eof: BTreeSet::new(),
            rdb_only: BTreeSet::new(),
            replicas: BTreeMap::new(),
            blocked: BTreeMap::new(),
            get_ack_pending: false,
            backlog: None,
            cached_master: None,
            was_replica: false,
            waiting_full_sync: BTreeMap::new(),
            last_ping_ms: 0,
            loading: None,
            sends: Vec::new(),
            last_newline_ms: 0,
        }
    }

    /// The backlog, if this node keeps one.
    pub fn backlog(&self) -> Option<&Backlog> {
        self.backlog.as_ref()
    }

    /// `CONFIG SET repl-backlog-size`: a smaller backlog drops its oldest history now.
    pub(crate) fn resize_backlog(&mut self, size: u64) {
        if let Some(backlog) = &mut self.backlog {
            backlog.trim(size);
        }
    }

    /// What this replica would ask for with PSYNC, if it may try a partial resync.
    pub fn cached_master(&self) -> Option<&CachedMaster> {
        self.cached_master.as_ref()
    }

    /// Whether `client` sent PSYNC: it then gets the stream and no replies.
    pub fn is_replica_client(&self, client: ClientId) -> bool {
        self.replicas.contains_key(&client)
    }

    /// Bytes of the stream held for a replica until it is online (its snapshot still on the
    /// way); `None` for an online replica or another client.
    pub(crate) fn held_stream_bytes(&self, client: ClientId) -> Option<u64> {
        let held = self.replicas.get(&client)?.held.as_ref()?;
        Some(held.iter().map(|d| d.len() as u64).sum())
    }

    /// This node's replication ID as a master.
    pub fn replid(&self) -> &str {
        &self.replid
    }

    /// How many clients are replicas of this master.
    pub fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    /// Replica side: the full sync's RDB being loaded, if any.
    pub fn loading(&self) -> Option<&Loading> {
        self.loading.as_ref()
    }

    /// Replica side: the connection to my master, if any.
    pub fn master_link(&self) -> Option<&MasterLink> {
        self.link.as_ref()
    }

    /// The ID of the master this node replicated before it was promoted.
    pub fn replid2(&self) -> &str {
        &self.replid2
    }

    /// First offset served under `replid` after a promotion; -1 if none.
    pub fn second_offset(&self) -> i64 {
        self.second_offset
    }

    /// Monotonic ms when the last link to my master went down; 0 = never up.
    pub fn down_since_ms(&self) -> u64 {
        self.down_since_ms
    }

    /// Master side: the replica clients, in client-id order.
    pub fn replicas(&self) -> impl Iterator<Item = &ReplicaClient> {
        self.replicas.values()
    }

    /// Master side: the replica clients, in client-id order, each with its state as Redis's
    /// `INFO` names it: `wait_bgsave` until its snapshot is wholly sent, then `online` (a
    /// diskless one while it has not acknowledged yet too, as in Redis).
    pub fn replicas_with_state(&self) -> impl Iterator<Item = (&ReplicaClient, &'static str)> {
        self.replicas.iter().map(|(client, replica)| {
            let sending = self.sends.iter().any(|s| s.clients.contains(client));
            let waiting = sending || self.waiting_full_sync.contains_key(client);
            (replica, if waiting { "wait_bgsave" } else { "online" })
        })
    }

    /// Tests: as if no link to the master was ever made (`0`) or one went down at `since_ms`.
    #[cfg(test)]
    pub(crate) fn set_link_down_since(&mut self, since_ms: u64) {
        self.link = None;
        self.down_since_ms = since_ms;
    }

    /// Replicas whose last ACK covers `offset`.
    pub(crate) fn replicas_acked(&self, offset: u64) -> i64 {
        let count = self
            .replicas
            .values()
            .filter(|r| r.ack_offset >= offset)
            .count();
        count as i64
    }

    /// A client went away: whatever it was to replication goes with it.
    pub(crate) fn forget_client(&mut self, client: ClientId) {
        self.listening_ports.remove(&client);
        self.capa_eof.remove(&client);
        self.rdb_only.remove(&client);
        self.replicas.remove(&client);
        self.waiting_full_sync.remove(&client);
        self.blocked.remove(&client);
    }

    /// Parks `client` (it sends no other command until unblocked).
    fn block_client(&mut self, client: ClientId, why: Blocked, out: &mut Outbox) {
        assert!(
            !self.blocked.contains_key(&client),
            "a blocked client sent another command"
        );
        self.blocked.insert(client, why);
        out.push(Effect::BlockClient { client });
    }

    /// Writes `args` as one RESP array to the backlog (keeping at most `backlog_size` bytes)
    /// and to every replica's stream, except those still waiting for their snapshot (it will
    /// include this write). The caller moves the offset by the same length.
    fn stream_to_replicas(&mut self, args: &[Bytes], backlog_size: u64, out: &mut Outbox) {
        if self.replicas.is_empty() && self.backlog.is_none() {
            return;
        }
        let mut data = Vec::new();
        cmd::propagate::encode_command(args, &mut data);
        let data = Bytes::from(data);
        if let Some(backlog) = &mut self.backlog {
            backlog.feed(data.clone(), backlog_size);
        }
        let waiting = &self.waiting_full_sync;
        let streamed = self
            .replicas
            .iter_mut()
            .filter(|(c, r)| !r.rdb_only && !waiting.contains_key(c));
        for (&client, replica) in streamed {
            match &mut replica.held {
                // Not online yet: it follows the snapshot being sent.
                Some(held) => held.push(data.clone()),
                None => out.push(Effect::ReplicaStream {
                    client,
                    data: data.clone(),
                }),
            }
        }
    }

    /// How old this replica's data is, for the failover's validity check: while the link to
    /// the master is up, since `heard_ms` (the master's last sign of life; an idle stream is
    /// in sync); otherwise since the link went down. `None` when no link has been up since
    /// this node started: its data may be arbitrarily old (Redis's `repl_down_since` of 0).
    pub(crate) fn data_age_ms(&self, now_ms: u64, heard_ms: u64) -> Option<u64> {
        // A sync still under way is not a connected link (Redis's `REPL_STATE_TRANSFER`):
        // the data is as old as the last link that finished.
        if self.link.as_ref().is_some_and(|l| l.up && !l.loading) {
            return Some(now_ms.saturating_sub(heard_ms));
        }
        (self.down_since_ms != 0).then(|| now_ms.saturating_sub(self.down_since_ms))
    }

    /// A promoted replica keeps serving its old master's history (up to `offset`) under the
    /// new ID `replid` (Redis's `shiftReplicationId`).
    fn shift_replid(&mut self, replid: String, offset: u64, out: &mut Outbox) {
        self.replid2 = std::mem::replace(&mut self.replid, replid);
        self.second_offset = offset as i64 + 1;
        out.log(
            LogLevel::Notice,
            format!(
                "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
                self.replid2, self.second_offset, self.replid
            ),
        );
    }

    /// `REPLCONF listening-port`: where a client that will PSYNC accepts connections.
    pub(crate) fn note_listening_port(&mut self, client: ClientId, port: u16) {
        self.listening_ports.insert(client, port);
    }

    /// `REPLCONF capa eof`: the client reads the diskless payload form.
    pub(crate) fn note_capa_eof(&mut self, client: ClientId) {
        self.capa_eof.insert(client);
    }

    /// `REPLCONF rdb-only 0|1`.
    pub(crate) fn note_rdb_only(&mut self, client: ClientId, on: bool) {
        if on {
            self.rdb_only.insert(client);
        } else {
            self.rdb_only.remove(&client);
        }
    }

    /// `REPLCONF ACK`: a replica's acknowledged offset never goes back.
    pub(crate) fn note_ack(&mut self, client: ClientId, offset: u64, now_ms: u64) {
        if let Some(r) = self.replicas.get_mut(&client) {
            r.ack_offset = r.ack_offset.max(offset);
            r.ack_ms = now_ms;
        }
    }

    /// PSYNC (`psync`) or SYNC: `client` becomes a replica at `ip`, listening where
    /// `REPLCONF listening-port` said, else on its peer port.
    pub(crate) fn add_replica(
        &mut self,
        client: ClientId,
        (ip, peer_port): (String, u16),
        psync: bool,
        now_ms: u64,
    ) -> &ReplicaClient {
        let port = self.listening_ports.remove(&client).unwrap_or(peer_port);
        let capa_eof = self.capa_eof.remove(&client);
        let rdb_only = self.rdb_only.remove(&client);
        // Nothing is acknowledged before the replica's first ACK (it has not loaded the
        // snapshot).
        let replica = ReplicaClient {
            ip,
            port,
            ack_offset: 0,
            ack_ms: now_ms,
            capa_eof,
            psync,
            rdb_only,
            held: None,
            online_on_ack: false,
        };
        self.replicas.entry(client).or_insert(replica)
    }
}

/// Exact length of `args` as a RESP array of bulk strings.
pub fn encoded_len(args: &[Bytes]) -> u64 {
    let digits = |n: usize| n.to_string().len();
    let mut len = 1 + digits(args.len()) + 2;
    for arg in args {
        len += 1 + digits(arg.len()) + 2 + arg.len() + 2;
    }
    len as u64
}

/// `REPLCONF …` and the keep-alive `PING` in the master's stream: protocol, not data.
fn is_stream_control(args: &[Bytes]) -> bool {
    (args.len() >= 2 && is(&args[0], "replconf")) || (args.len() == 1 && is(&args[0], "ping"))
}

fn words(ws: &[&[u8]]) -> Vec<Bytes> {
    ws.iter().map(|w| Bytes::copy_from_slice(w)).collect()
}

mod backlog;
mod blocked;
mod flow;
mod keepalive;
mod loading;
mod psync;
mod roles;
mod save_info;
mod snapshot_send;
mod socket_load;
pub mod transfer;

pub use backlog::{Backlog, BACKLOG_MIN_SIZE};
pub(crate) use blocked::UnblockHow;
pub use loading::Loading;

#[cfg(test)]
mod loading_tests;
#[cfg(test)]
mod psync_tests;
#[cfg(test)]
mod socket_load_tests;
#[cfg(test)]
pub(crate) mod tests;
