//! The node's side of replication: the driver's entry points (link up/down, one command of
//! the master's stream), applying that stream, feeding every write to the AOF and the replicas,
//! and keeping the link in line with the cluster role after each input and from the cron.
//!
//! These are `Node` methods because they run commands, touch clients and the keyspace and
//! read the cluster role; what needs only replication state is on [`super::Replication`].

use super::*;
use crate::config::DisklessLoad;
use crate::node::Node;

impl Node {
    // ---- entry points for the driver -----------------------------------------------------

    /// This node's replication offset: what a master has served, what a replica has applied.
    pub fn replication_offset(&self) -> u64 {
        self.cluster.me().repl_offset
    }

    /// The offset a replica acknowledges with its periodic `REPLCONF ACK`, or `None` while the
    /// snapshot of a full sync is still loading: its offset is then the one from before the
    /// sync, and acknowledging it would let the master count, for `WAIT`, data this replica has
    /// not loaded (Redis sends no ACK until the sync is done).
    pub fn replication_ack_offset(&self) -> Option<u64> {
        let loading = self.repl.master_link().is_some_and(|l| l.loading);
        (!loading).then(|| self.replication_offset())
    }

    /// The link reached `+FULLRESYNC <replid> <offset>`: the snapshot follows. Returns false
    /// when the node no longer wants this link (the driver must close it).
    pub fn replication_link_up(
        &mut self,
        now: Time,
        link: ReplLinkId,
        replid: &str,
        offset: u64,
    ) -> bool {
        self.set_time(now);
        let Some(master) = self.start_link(now, link, replid, true) else {
            return false;
        };
        let load_from_socket = self.use_diskless_load();
        let l = self.repl.link.as_mut().expect("started");
        l.sync_offset = offset;
        l.payload = Some(transfer::PayloadReader::new());
        l.load_from_socket = load_from_socket;
        // The data will be replaced: the history it was is no use any more. Redis discards
        // its cached master when it flushes for the load (`replicationAttachToNewMaster`);
        // under `swapdb` only once the new data is swapped in, so a failed transfer leaves
        // the old data with its history to continue.
        let swapdb = load_from_socket && self.config.repl_diskless_load == DisklessLoad::Swapdb;
        if !swapdb {
            self.repl.cached_master = None;
        }
        self.log(
            LogLevel::Notice,
            format!("Full resync from master: {replid}:{offset}"),
        );
        let replid = replid.to_string();
        self.emit(ClusterEvent::FullResync {
            master,
            offset,
            replid,
        });
        self.replication_before_reply();
        true
    }

    /// Marks the link up after the master's PSYNC reply and gives the master's commands their
    /// client; `loading` while a snapshot is to come. Returns the master, or `None` when the
    /// link is no longer wanted.
    pub(super) fn start_link(
        &mut self,
        now: Time,
        link: ReplLinkId,
        replid: &str,
        loading: bool,
    ) -> Option<NodeId> {
        let l = self.repl.link.as_mut().filter(|l| l.id == link)?;
        l.up = true;
        l.loading = loading;
        l.master_replid = replid.to_string();
        l.last_io_ms = now.mono_ms;
        let (ip, port, master) = (l.ip.clone(), l.port, l.master);
        let id = self.next_client_id;
        self.next_client_id += 1;
        self.clients.insert(
            id,
            crate::node::Client::new(id, format!("{ip}:{port}"), String::new(), now),
        );
        self.repl.link.as_mut().expect("checked").client = Some(id);
        Some(master)
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
        if !loading && is_stream_control(args) {
            // Not data: it moves the offset (the master counted it) and may ask for an ACK.
            self.cluster.me_mut().repl_offset += bytes_len;
            let size = self.config.repl_backlog_size;
            self.repl.feed_backlog(args, size);
            if args.len() >= 2 && is(&args[1], "getack") {
                let offset = self.cluster.me().repl_offset;
                self.out.push(Effect::ReplicaAck { link, offset });
            }
            self.replication_before_reply();
            return true;
        }
        if loading {
            // The stream after the payload waits for the load to end (Redis reads no more
            // from its master while it loads).
            let l = self.repl.link.as_mut().expect("checked");
            assert!(l.payload.is_none(), "stream bytes before the payload ended");
            l.held.push((args.to_vec(), bytes_len));
            return true;
        }
        if self.replica_cannot_log(self.lookup(&args[0])) {
            return false;
        }
        self.run_from_master(client, args);
        if is(&args[0], "append") && self.canary(crate::canary::Canary::ReplicaAppendsTwice) {
            self.run_from_master(client, args);
        }
        self.feed_write(args, bytes_len);
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
    pub(super) fn run_from_master(&mut self, client: ClientId, args: &[Bytes]) {
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
        // A replica that does not ignore `maxmemory` evicts before its master's commands too.
        self.perform_evictions();
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
        self.count_aof_bytes(data.len());
        self.out.push(Effect::AppendAof {
            data: Bytes::from(data),
        });
    }

    /// A write that changed the keyspace: into the offset, to the AOF and to every replica.
    ///
    /// `WriteApplied` goes before the AOF append: the write is in memory once the command ran,
    /// and Redis writes and syncs the AOF only afterwards (`flushAppendOnlyFile`, before the
    /// replies go out). A driver that stops on a failed append (`appendfsync always`) drops
    /// the effects after it, and the write must still be on record: the bytes may be in the
    /// page cache, loaded again at a restart (seed 808127).
    pub(crate) fn feed_write(&mut self, args: &[Bytes], bytes_len: u64) {
        self.advance_offset(bytes_len);
        self.count_change();
        self.log_to_aof(args);
        let size = self.config.repl_backlog_size;
        self.repl.stream_to_replicas(args, size, &mut self.out);
    }

    /// A write for the replicas only (a script's `redis.set_repl(redis.REPL_REPLICA)`).
    pub(crate) fn feed_replicas(&mut self, args: &[Bytes], bytes_len: u64) {
        self.advance_offset(bytes_len);
        let size = self.config.repl_backlog_size;
        self.repl.stream_to_replicas(args, size, &mut self.out);
    }

    /// Moves the replication offset past a write of `bytes_len` and reports it applied.
    fn advance_offset(&mut self, bytes_len: u64) {
        let offset = self.cluster.me().repl_offset + bytes_len;
        // Offsets only grow: a write that adds no bytes would break the replicas' catch-up.
        assert!(bytes_len > 0, "a write of no bytes");
        self.cluster.me_mut().repl_offset = offset;
        // A replica applying its master's stream runs no client command: `request` is 0.
        let request = self.request;
        self.emit(ClusterEvent::WriteApplied { offset, request });
    }

    /// Drops the link to my master. A link that had finished its sync leaves its history
    /// cached (Redis's `replicationCacheMaster`), to try `PSYNC` with it next time.
    pub(super) fn drop_master_link(&mut self) {
        // A load from the socket cannot go on without it (Redis: "I/O error trying to sync").
        self.abort_socket_loading();
        if let Some(l) = self.repl.link.take() {
            if let Some(client) = l.client {
                self.clients.remove(&client);
            }
            if l.up && !l.loading {
                self.repl.cached_master = Some(CachedMaster {
                    replid: self.repl.replid.clone(),
                    offset: self.cluster.me().repl_offset,
                });
            }
        }
    }

    /// The master this node should replicate from, with its address, if any.
    pub(super) fn wanted_master(&self) -> Option<(NodeId, &str, u16)> {
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
        if let Some(l) = &self.repl.link {
            let still =
                wanted.is_some_and(|(m, ip, port)| m == l.master && ip == l.ip && port == l.port);
            if !still {
                let id = l.id;
                if l.up {
                    // The data's age now counts from here, as after any lost link.
                    self.repl.down_since_ms = self.now.mono_ms;
                }
                self.drop_master_link();
                self.out.push(Effect::ReplicaDisconnect { link: id });
            }
        }
        self.replication_role_changes();
        self.cluster.offset_unknown = self.replica_offset_unknown();
        if self.cluster.me().is_replica() && !self.repl.replicas.is_empty() {
            let clients: Vec<ClientId> = self.repl.replicas.keys().copied().collect();
            self.repl.replicas.clear();
            self.repl.waiting_full_sync.clear();
            self.repl.sends.clear();
            for client in clients {
                self.out.push(Effect::CloseClient { client });
            }
        }
        self.manual_failover_before_reply();
        self.serve_blocked_clients();
        self.blocked_on_keys_before_reply();
        self.send_getack_if_pending();
    }

    /// A replica with neither a synced link nor a cached history (a full sync under way, or
    /// one that failed) cannot name its offset (Redis's `replicationGetSlaveOffset` is 0).
    fn replica_offset_unknown(&self) -> bool {
        let synced = self.repl.link.as_ref().is_some_and(|l| l.up && !l.loading);
        self.cluster.me().is_replica() && !synced && self.repl.cached_master.is_none()
    }

    /// From the cron: connect to my master when I have no link.
    pub(crate) fn replication_cron(&mut self) {
        self.replication_before_reply();
        self.start_full_sync_if_due();
        self.advance_snapshot_sends();
        self.send_newline_keepalives();
        self.ping_replicas_if_due();
        self.advance_loading();
        if self.master_link_timed_out() {
            return;
        }
        // No new link while a file loads (Redis's load blocks its cron).
        if self.repl.link.is_some() || self.repl.loading.is_some() {
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
            load_from_socket: false,
            payload: None,
            held: Vec::new(),
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
}
