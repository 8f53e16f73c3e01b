//! Master → replica replication: our own protocol over the master's client port, modelled on
//! Redis's.
//!
//! Replica side. While this node is a replica of a known master with an address, the cron
//! emits [`Effect::ReplicaConnect`] (at most once a second, until the driver reports the link
//! up or down). The driver connects to the master's client port and sends
//! `REPLCONF listening-port <port>` and `PSYNC ? -1`, reading each reply. The master answers
//! `+FULLRESYNC <replid> <offset>`; the driver reports [`Node::replication_link_up`], which
//! flushes the keyspace. From then on the driver reads RESP commands for ever and hands each to
//! [`Node::replication_apply`] with its length in bytes. The first commands are the snapshot:
//! `FLUSHALL`, one `RESTORE key <abs-ms|0> <payload> ABSTTL REPLACE` per key, then the marker
//! `REPLCONF SNAPSHOT-END`; they count for no offset (like Redis's RDB transfer). Every later
//! command is applied without redirection (as the AOF loader does), logged verbatim to this
//! node's AOF, and advances the replication offset by its length. Every second the driver sends
//! `REPLCONF ACK <offset>` with [`Node::replication_offset`]. When this node stops being a
//! replica of that master (failover, `CLUSTER RESET`, a new master), the node emits
//! [`Effect::ReplicaDisconnect`] and ignores anything more from that link.
//!
//! Master side. `REPLCONF listening-port|capa|ACK` and `PSYNC` are commands (see
//! [`crate::cmd::replication`]): PSYNC marks the client as a replica, replies
//! `+FULLRESYNC <replid> <offset>` and emits
//! [`Effect::ReplicaStream`] with the snapshot. Every write that reaches `Node::log_write` (the
//! AOF seam, which runs whether or not `appendonly` is on) is streamed to each replica client
//! as a RESP array, and the master offset grows by its length even with no replica attached.
//! Replica clients get no replies (REPLCONF ACK included), so the driver writes only the stream
//! to them once PSYNC's own reply is out. Transactions are streamed command by command, without
//! MULTI/EXEC; the stream has no `SELECT` (db 0 only) and no keep-alive `PING`.
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

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::cmd::{self, is};
use crate::event::ClusterEvent;
use crate::node::{ClientId, Effect, LogLevel, Node, Time};
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
#[derive(Clone, Debug)]
pub struct Replication {
    /// This node's replication ID as a master.
    pub replid: String,
    /// The ID of the master this node replicated before it was promoted.
    pub replid2: String,
    /// First offset served under `replid` after a promotion; -1 if none.
    pub second_offset: i64,
    /// Replica side: the connection to my master, if any.
    pub link: Option<MasterLink>,
    next_link: ReplLinkId,
    /// Monotonic ms of the last connect attempt (throttles reconnects).
    last_attempt_ms: u64,
    /// Monotonic ms when the last link went down; 0 = never up.
    pub down_since_ms: u64,
    /// Master side: `REPLCONF listening-port` values of clients not yet replicas.
    listening_ports: BTreeMap<ClientId, u16>,
    /// Master side: clients that sent PSYNC.
    pub replicas: BTreeMap<ClientId, ReplicaClient>,
    /// Clients blocked in `WAIT` or on a paused write, answered in client-id order.
    pub blocked: BTreeMap<ClientId, Blocked>,
    /// A `WAIT` blocked: ask the replicas for an ACK before the call returns.
    get_ack_pending: bool,
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
    /// The snapshot is still being applied.
    pub loading: bool,
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
            replicas: BTreeMap::new(),
            blocked: BTreeMap::new(),
            get_ack_pending: false,
        }
    }

    /// Whether `client` sent PSYNC: it then gets the stream and no replies.
    pub fn is_replica_client(&self, client: ClientId) -> bool {
        self.replicas.contains_key(&client)
    }

    /// This node's replication ID as a master.
    pub fn replid(&self) -> &str {
        &self.replid
    }

    /// How many clients are replicas of this master.
    pub fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    /// Replica side: the connection to my master, if any.
    pub fn master_link(&self) -> Option<&MasterLink> {
        self.link.as_ref()
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
        self.replicas.remove(&client);
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

    /// Writes `args` as one RESP array to every replica's stream.
    fn stream_to_replicas(&self, args: &[Bytes], out: &mut Outbox) {
        if self.replicas.is_empty() {
            return;
        }
        let mut data = Vec::new();
        cmd::propagate::encode_command(args, &mut data);
        let data = Bytes::from(data);
        for &client in self.replicas.keys() {
            out.push(Effect::ReplicaStream {
                client,
                data: data.clone(),
            });
        }
    }

    /// How old this replica's data is, for the failover's validity check: while the link to
    /// the master is up, since `heard_ms` (the master's last sign of life; an idle stream is
    /// in sync); otherwise since the link went down. `None` when no link has been up since
    /// this node started: its data may be arbitrarily old (Redis's `repl_down_since` of 0).
    pub(crate) fn data_age_ms(&self, now_ms: u64, heard_ms: u64) -> Option<u64> {
        if self.link.as_ref().is_some_and(|l| l.up) {
            return Some(now_ms.saturating_sub(heard_ms));
        }
        (self.down_since_ms != 0).then(|| now_ms.saturating_sub(self.down_since_ms))
    }

    /// A promoted replica keeps serving its old master's history (up to `offset`) under the
    /// new ID `replid`.
    fn shift_replid(&mut self, old_replid: String, replid: String, offset: u64, out: &mut Outbox) {
        self.replid2 = old_replid;
        self.replid = replid;
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

    /// `REPLCONF ACK`: a replica's acknowledged offset never goes back.
    pub(crate) fn note_ack(&mut self, client: ClientId, offset: u64, now_ms: u64) {
        if let Some(r) = self.replicas.get_mut(&client) {
            r.ack_offset = r.ack_offset.max(offset);
            r.ack_ms = now_ms;
        }
    }

    /// PSYNC: `client` becomes a replica at `ip`, listening where `REPLCONF listening-port`
    /// said, else on its peer port.
    pub(crate) fn add_replica(
        &mut self,
        client: ClientId,
        ip: String,
        peer_port: u16,
        now_ms: u64,
    ) -> &ReplicaClient {
        let port = self.listening_ports.remove(&client).unwrap_or(peer_port);
        // Nothing is acknowledged before the replica's first ACK (it has not loaded the
        // snapshot).
        let replica = ReplicaClient {
            ip,
            port,
            ack_offset: 0,
            ack_ms: now_ms,
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

/// `REPLCONF …` in the master's stream: protocol, not data.
fn is_stream_control(args: &[Bytes]) -> bool {
    args.len() >= 2 && is(&args[0], "replconf")
}

fn words(ws: &[&[u8]]) -> Vec<Bytes> {
    ws.iter().map(|w| Bytes::copy_from_slice(w)).collect()
}

impl Node {
    // ---- entry points for the driver -----------------------------------------------------

    /// The offset a replica acknowledges with `REPLCONF ACK` (and a master serves).
    pub fn replication_offset(&self) -> u64 {
        self.cluster.me().repl_offset
    }

    /// The link reached `+FULLRESYNC <replid> <offset>`. Returns false when the node no longer
    /// wants this link (the driver must close it).
    pub fn replication_link_up(
        &mut self,
        now: Time,
        link: ReplLinkId,
        replid: &str,
        offset: u64,
    ) -> bool {
        self.set_time(now);
        let Some(l) = self.repl.link.as_mut().filter(|l| l.id == link) else {
            return false;
        };
        l.up = true;
        l.loading = true;
        l.sync_offset = offset;
        l.master_replid = replid.to_string();
        l.last_io_ms = now.mono_ms;
        let (ip, port) = (l.ip.clone(), l.port);
        let id = self.next_client_id;
        self.next_client_id += 1;
        self.clients.insert(
            id,
            crate::node::Client::new(id, format!("{ip}:{port}"), String::new(), now),
        );
        self.repl.link.as_mut().expect("checked").client = Some(id);
        // The snapshot replaces everything: keys from an older master must not survive it.
        self.db.clear();
        self.log(
            LogLevel::Notice,
            format!("Full resync from master: {replid}:{offset}"),
        );
        self.replication_before_reply();
        true
    }

    /// The link failed to connect, broke, or the master refused the handshake.
    pub fn replication_link_down(&mut self, now: Time, link: ReplLinkId) {
        self.set_time(now);
        if self.repl.link.as_ref().is_some_and(|l| l.id == link) {
            let was_up = self.repl.link.as_ref().is_some_and(|l| l.up);
            self.drop_master_link();
            if was_up {
                self.repl.down_since_ms = now.mono_ms;
                self.log(LogLevel::Notice, "Connection with master lost.");
                let offset = self.cluster.me().repl_offset;
                self.emit(ClusterEvent::ReplicationLinkDown { offset });
            }
        }
        self.replication_before_reply();
    }

    /// One command from the master's stream, `bytes_len` bytes on the wire. Returns false when
    /// the link is no longer wanted (the driver must close it).
    pub fn replication_apply(
        &mut self,
        now: Time,
        link: ReplLinkId,
        args: &[Bytes],
        bytes_len: u64,
    ) -> bool {
        self.set_time(now);
        let Some(l) = self.repl.link.as_mut().filter(|l| l.id == link && l.up) else {
            return false;
        };
        l.last_io_ms = now.mono_ms;
        let loading = l.loading;
        let client = l.client.expect("an up link has its client");
        if args.is_empty() {
            return true;
        }
        let marker = args.len() == 2 && is(&args[0], "replconf") && is(&args[1], "snapshot-end");
        if marker && loading {
            let l = self.repl.link.as_mut().expect("checked");
            l.loading = false;
            let offset = l.sync_offset;
            self.cluster.me_mut().repl_offset = offset;
            self.log(
                LogLevel::Notice,
                format!(
                    "MASTER <-> REPLICA sync: Finished with success ({} keys)",
                    self.db.len()
                ),
            );
            self.emit(ClusterEvent::ReplicationLinkUp { offset });
            return true;
        }
        if !loading && is_stream_control(args) {
            // Not data: it moves the offset (the master counted it) and may ask for an ACK.
            self.cluster.me_mut().repl_offset += bytes_len;
            if is(&args[1], "getack") {
                let offset = self.cluster.me().repl_offset;
                self.out.push(Effect::ReplicaAck { link, offset });
            }
            self.replication_before_reply();
            return true;
        }
        self.run_from_master(client, args);
        if loading {
            self.log_to_aof(args);
        } else {
            self.feed_write(args, bytes_len);
        }
        self.replication_before_reply();
        true
    }

    /// Whether `client` sent PSYNC: it then gets the stream and no replies.
    pub fn is_replica_client(&self, client: ClientId) -> bool {
        self.repl.is_replica_client(client)
    }

    // ---- internals -----------------------------------------------------------------------

    /// Runs a command of the master's stream like the AOF loader does: no redirection, no
    /// logging by the handler (the caller logs the command verbatim).
    fn run_from_master(&mut self, client: ClientId, args: &[Bytes]) {
        let Some(spec) = self.lookup(&args[0]) else {
            self.log(
                LogLevel::Warning,
                format!(
                    "Unknown command '{}' from master",
                    String::from_utf8_lossy(&args[0])
                ),
            );
            return;
        };
        if !spec.arity_ok(args.len()) {
            self.log(
                LogLevel::Warning,
                format!("Wrong arity for '{}' from master", spec.name),
            );
            return;
        }
        self.replaying = true;
        let reply = (spec.handler)(self, client, args);
        self.replaying = false;
        if let Reply::Error(e) = reply {
            self.log(
                LogLevel::Warning,
                format!("Error from master's command '{}': {e}", spec.name),
            );
        }
    }

    /// Appends one command to the AOF (db 0 selected first), with `appendonly yes`.
    pub(crate) fn log_to_aof(&mut self, args: &[Bytes]) {
        if !self.config.appendonly {
            return;
        }
        let mut data = Vec::new();
        if !self.aof_db_selected {
            self.aof_db_selected = true;
            cmd::propagate::encode_command(&words(&[b"SELECT", b"0"]), &mut data);
        }
        cmd::propagate::encode_command(args, &mut data);
        self.out.push(Effect::AppendAof {
            data: Bytes::from(data),
        });
    }

    /// A write that changed the keyspace: to the AOF, to every replica, and into the offset.
    pub(crate) fn feed_write(&mut self, args: &[Bytes], bytes_len: u64) {
        self.log_to_aof(args);
        self.repl.stream_to_replicas(args, &mut self.out);
        let offset = self.cluster.me().repl_offset + bytes_len;
        // Offsets only grow: a write that adds no bytes would break the replicas' catch-up.
        assert!(bytes_len > 0, "a write of no bytes");
        self.cluster.me_mut().repl_offset = offset;
        self.emit(ClusterEvent::WriteApplied { offset });
    }

    fn drop_master_link(&mut self) {
        if let Some(l) = self.repl.link.take() {
            if let Some(client) = l.client {
                self.clients.remove(&client);
            }
        }
    }

    /// The master this node should replicate from, with its address, if any.
    fn wanted_master(&self) -> Option<(NodeId, &str, u16)> {
        let me = self.cluster.me();
        let master = me.master.filter(|_| me.is_replica())?;
        let m = self.cluster.node(&master)?;
        if m.ip.is_empty() || m.port == 0 {
            return None;
        }
        Some((master, m.ip.as_str(), m.port))
    }

    /// Brings the replication state in line with the cluster role after any input: drops a
    /// link to a master I no longer replicate (and starts a new history if I was promoted),
    /// and as a replica, drops replicas of my own.
    pub(crate) fn replication_before_reply(&mut self) {
        // Runs after every command: compares in place rather than copy the address.
        let wanted = self.wanted_master();
        let wanted_any = wanted.is_some();
        if let Some(l) = &self.repl.link {
            let still =
                wanted.is_some_and(|(m, ip, port)| m == l.master && ip == l.ip && port == l.port);
            if !still {
                let id = l.id;
                let old_replid = l.master_replid.clone();
                let was_synced = l.up && !l.loading;
                if l.up {
                    // The data's age now counts from here, as after any lost link.
                    self.repl.down_since_ms = self.now.mono_ms;
                }
                self.drop_master_link();
                self.out.push(Effect::ReplicaDisconnect { link: id });
                if !wanted_any && self.cluster.me().is_master() && was_synced {
                    // Drawn here, in the same place of the rng sequence as always.
                    let replid = NodeId::random(&mut self.rng).to_string();
                    let offset = self.cluster.me().repl_offset;
                    self.repl
                        .shift_replid(old_replid, replid, offset, &mut self.out);
                }
            }
        }
        if self.cluster.me().is_replica() && !self.repl.replicas.is_empty() {
            let clients: Vec<ClientId> = self.repl.replicas.keys().copied().collect();
            self.repl.replicas.clear();
            for client in clients {
                self.out.push(Effect::CloseClient { client });
            }
        }
        self.manual_failover_before_reply();
        self.serve_blocked_clients();
        self.send_getack_if_pending();
    }

    /// From the cron: connect to my master when I have no link.
    pub(crate) fn replication_cron(&mut self) {
        self.replication_before_reply();
        if self.repl.link.is_some() {
            return;
        }
        let Some((master, ip, port)) = self.wanted_master() else {
            return;
        };
        let ip = ip.to_string();
        let now = self.now.mono_ms;
        if self.repl.last_attempt_ms != 0
            && now.saturating_sub(self.repl.last_attempt_ms) < RECONNECT_INTERVAL_MS
        {
            return;
        }
        self.repl.last_attempt_ms = now;
        let id = self.repl.next_link;
        self.repl.next_link += 1;
        self.repl.link = Some(MasterLink {
            id,
            master,
            ip: ip.clone(),
            port,
            up: false,
            loading: false,
            sync_offset: 0,
            master_replid: String::new(),
            client: None,
            last_io_ms: 0,
        });
        self.log(
            LogLevel::Notice,
            format!("Connecting to MASTER {ip}:{port}"),
        );
        self.out.push(Effect::ReplicaConnect { link: id, ip, port });
    }

    // ---- blocked clients -----------------------------------------------------------------

    /// After a client's command: a command that moved the offset was a write of this client.
    pub(crate) fn note_client_write(&mut self, client: ClientId, offset_before: u64) {
        let offset = self.cluster.me().repl_offset;
        if offset != offset_before {
            if let Some(c) = self.clients.get_mut(&client) {
                c.woff = offset;
            }
        }
    }

    /// Blocks `client` in `WAIT` and asks the replicas for an ACK before the call returns.
    pub(crate) fn block_for_acks(
        &mut self,
        client: ClientId,
        offset: u64,
        numreplicas: i64,
        deadline_ms: Option<u64>,
    ) {
        let why = Blocked::Wait {
            offset,
            numreplicas,
            deadline_ms,
        };
        self.repl.block_client(client, why, &mut self.out);
        self.repl.get_ack_pending = true;
    }

    /// A write (or an EXEC holding one) while writes are paused waits for the pause to end.
    pub(crate) fn postpone_if_paused(
        &mut self,
        client: ClientId,
        spec: &cmd::CommandSpec,
        args: &[Bytes],
    ) -> bool {
        if !self.writes_paused() {
            return false;
        }
        let writes = match spec.name {
            "exec" => self.clients[&client].multi.as_ref().is_some_and(|queue| {
                queue
                    .iter()
                    .any(|a| self.lookup(&a[0]).is_some_and(|s| s.is_write()))
            }),
            _ => spec.is_write(),
        };
        if writes {
            let args = args.to_vec();
            let why = Blocked::Paused { args };
            self.repl.block_client(client, why, &mut self.out);
        }
        writes
    }

    /// Answers every blocked client whose wait is over, in client-id order.
    fn serve_blocked_clients(&mut self) {
        if self.repl.blocked.is_empty() {
            return;
        }
        let now = self.now.mono_ms;
        let replica = self.cluster.me().is_replica();
        let paused = self.writes_paused();
        let ids: Vec<ClientId> = self.repl.blocked.keys().copied().collect();
        for client in ids {
            let reply = match self.repl.blocked[&client].clone() {
                Blocked::Wait { .. } if replica => Reply::error(UNBLOCKED_BY_ROLE_CHANGE),
                Blocked::Wait {
                    offset,
                    numreplicas,
                    deadline_ms,
                } => {
                    let acked = self.repl.replicas_acked(offset);
                    let expired = deadline_ms.is_some_and(|d| now >= d);
                    if acked < numreplicas && !expired {
                        continue;
                    }
                    Reply::Integer(acked)
                }
                Blocked::Paused { .. } if paused => continue,
                Blocked::Paused { args } => {
                    // Unblocked first: the command runs as a fresh one from this client.
                    self.repl.blocked.remove(&client);
                    self.run_postponed(client, &args)
                }
            };
            self.repl.blocked.remove(&client);
            self.out.push(Effect::UnblockClient { client, reply });
        }
    }

    /// Runs a write held back by a pause, as if it arrived now.
    fn run_postponed(&mut self, client: ClientId, args: &[Bytes]) -> Reply {
        let spec = self
            .lookup(&args[0])
            .expect("a postponed command was looked up when it arrived");
        let offset_before = self.cluster.me().repl_offset;
        self.top_command = spec.name;
        let reply = self.execute(client, spec, args);
        self.note_client_write(client, offset_before);
        reply
    }

    /// `REPLCONF GETACK *` to every replica, unless writes are paused (a manual failover
    /// compares offsets, and this would move mine).
    fn send_getack_if_pending(&mut self) {
        if !self.repl.get_ack_pending || self.writes_paused() {
            return;
        }
        self.repl.get_ack_pending = false;
        if self.repl.replicas.is_empty() {
            return;
        }
        let args = words(GETACK);
        self.repl.stream_to_replicas(&args, &mut self.out);
        self.cluster.me_mut().repl_offset += encoded_len(&args);
    }
}

#[cfg(test)]
pub(crate) mod tests;
