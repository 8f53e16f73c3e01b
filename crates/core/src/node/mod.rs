//! The node: one value holding the keyspace, the cluster state and the connected clients.
//!
//! Drivers call the entry points (`command`, `bus_message`, link events, `tick`) with the current
//! [`Time`] and then drain [`Node::take_effects`]. Command dispatch lives here: lookup, arity,
//! MULTI queueing and the cluster redirection rules (`MOVED`, `ASK`, `CLUSTERDOWN`, …) that decide
//! whether this node may run a keyed command at all.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cluster::nodes_conf::NodesConfError;
use crate::cluster::Cluster;
use crate::cmd::{self, CommandSpec};
use crate::config::Config;
use crate::db::access::AccessPolicy;
use crate::db::Db;
use crate::event::ClusterEvent;
use crate::node_id::NodeId;
use crate::outbox::Outbox;

pub use crate::effect::{ClientId, Effect, LinkId, LogLevel, Time};
use crate::reply::Reply;
use crate::slot::key_hash_slot;

/// No command name is longer (checked by a test), so `lookup` lowercases on the stack.
const MAX_COMMAND_NAME_LEN: usize = 32;

/// Per-connection state.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: ClientId,
    pub addr: String,
    pub local_addr: String,
    pub name: Option<Bytes>,
    /// RESP protocol version negotiated with `HELLO` (2 or 3).
    pub protocol: u8,
    /// `ASKING` was sent: the next command may touch an importing slot.
    pub asking: bool,
    /// `READONLY`: reads may be served by a replica of the slot's master.
    pub readonly: bool,
    pub created_ms: u64,
    pub last_command_ms: u64,
    /// Queued commands while inside MULTI; `Some` means MULTI is open.
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command failed to queue: EXEC must abort.
    pub multi_dirty: bool,
    /// `WATCH`ed keys with the entry each had then; EXEC aborts if any differs now.
    pub watched: Vec<(Bytes, Option<crate::db::Entry>)>,
    /// The replication offset right after this client's last write (what `WAIT` waits for).
    pub woff: u64,
    /// Last command, reply mode, tracking, monitoring (see `session`).
    pub session: session::Session,
    /// Gave the password (`AUTH`), or connected while none was required.
    pub authenticated: bool,
    /// What the driver holds for it, and its soft output limit's clock (see `client_limits`).
    pub buffers: client_limits::ClientBuffers,
}

impl Client {
    pub(crate) fn new(id: ClientId, addr: String, local_addr: String, now: Time) -> Client {
        Client {
            id,
            addr,
            local_addr,
            name: None,
            protocol: 2,
            asking: false,
            readonly: false,
            created_ms: now.mono_ms,
            last_command_ms: now.mono_ms,
            buffers: Default::default(),
            multi: None,
            multi_dirty: false,
            watched: Vec::new(),
            woff: 0,
            session: session::Session::default(),
            authenticated: true,
        }
    }
}

/// Counters that INFO reports.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub rejected_calls: u64,
    /// Full syncs served as a master (`sync_full`).
    pub sync_full: u64,
    /// PSYNCs answered `+CONTINUE` (`sync_partial_ok`).
    pub sync_partial_ok: u64,
    /// PSYNCs naming a history that could not continue (`sync_partial_err`).
    pub sync_partial_err: u64,
    /// `INFO commandstats` and `INFO errorstats`.
    pub calls: call_stats::CallStats,
    /// Times the AOF was written while a background fsync still ran (`aof_delayed_fsync`).
    pub aof_delayed_fsync: u64,
    /// Keys evicted for `maxmemory` (`evicted_keys`).
    pub evicted_keys: u64,
    /// Connections refused for `maxclients` (`rejected_connections`).
    pub rejected_connections: u64,
}

/// A Redis Cluster node as a state machine. See the crate docs.
pub struct Node {
    pub(crate) config: Config,
    pub(crate) now: Time,
    pub(crate) started: Time,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) run_id: String,
    pub(crate) db: Db,
    pub(crate) cluster: Cluster,
    pub(crate) clients: BTreeMap<ClientId, Client>,
    pub(crate) next_client_id: ClientId,
    pub(crate) stats: Stats,
    pub(crate) out: Outbox,
    /// Whether the AOF already has its `SELECT 0`.
    pub(crate) aof_db_selected: bool,
    /// Set while replaying the AOF or applying the master's stream: no redirection, and
    /// handlers log nothing (the caller does).
    pub(crate) replaying: bool,
    pub(crate) repl: crate::replication::Replication,
    /// The top-level command being dispatched (EXEC's queued commands see "exec"): only a
    /// command sent on its own may block.
    pub(crate) top_command: &'static str,
    /// Whether a command is running (a script's or EXEC's commands run inside it): the
    /// client's `ASKING` holds until the outermost one ends, as Redis resets it only then.
    executing: bool,
    /// [`crate::event::request_digest`] of the client write being executed (0 between
    /// commands, for reads, and while an expiry deletes a key): what its `WriteApplied` event
    /// carries, so a checker finds the write it sent.
    pub(crate) request: u64,
    /// Keys of MIGRATE jobs waiting for their target, with how many jobs hold each
    /// (see `cmd::migrate`).
    pub(crate) keys_in_flight: std::collections::HashMap<Bytes, usize>,
    replay_client: Option<ClientId>,
    /// What the driver last said of the AOF (see `disk_errors`).
    pub(crate) aof_health: disk_errors::AofHealth,
    /// `DEBUG DROP-CLUSTER-PACKET-FILTER`: bus messages of this type are dropped on arrival.
    pub(crate) drop_bus_messages: Option<crate::bus::MessageType>,
    /// `CLIENT PAUSE` under way (see `client_pause`).
    pub(crate) client_pause: Option<client_pause::ClientPause>,
    /// `DEBUG SET-ACTIVE-EXPIRE 0`: the cron deletes no expired key (reads still hide them).
    pub(crate) active_expire_disabled: bool,
    /// Snapshots and AOF rewrites (see `persistence`).
    pub(crate) persistence: persistence::Persistence,
    /// Clients blocked on keys (BLPOP, BLMOVE, …; see `crate::blocking`).
    pub(crate) blocked_keys: crate::blocking::BlockedOnKeys,
    /// SLOWLOG and latency events (see `observe`).
    pub(crate) observed: observe::Observed,
    /// Who listens to which channels (see `crate::pubsub`).
    pub(crate) pubsub: crate::pubsub::PubSub,
    /// The Lua interpreter and script cache (see `cmd::scripting`).
    pub(crate) scripting: cmd::scripting::Engine,
    /// While a script runs: the writes it made, each with the `request` digest of the
    /// command the script called and where `redis.set_repl` sends it, propagated when it
    /// ends (see `cmd::scripting::run`).
    pub(crate) script_writes: Option<Vec<ScriptWrite>>,
    /// The `maxmemory` directives and the eviction pool (see `evict`).
    pub(crate) memory_limit: evict::MemoryLimit,
    pub(crate) eviction: evict::Eviction,
    /// The biggest client buffers of the last seconds (see `client_limits`).
    pub(crate) recent_peaks: client_limits::RecentPeaks,
    /// The parsing limits as the driver reads them without the node.
    pub(crate) limits_watch: std::sync::Arc<client_limits::LimitsWatch>,
    /// Built from a saved `nodes.conf` (for [`Node::announce_start`]).
    loaded: bool,
    commands: HashMap<&'static str, &'static CommandSpec>,
}

impl Node {
    /// Whether a deliberate bug is switched on (simulation build only; see [`crate::canary`]).
    pub(crate) fn canary(&self, canary: crate::canary::Canary) -> bool {
        self.config.canaries.on(canary)
    }

    /// A fresh node with a new random ID drawn from `seed`.
    pub fn new(config: Config, now: Time, seed: u64) -> Node {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut db = Db::default();
        db.set_access_now(AccessPolicy::from_config(&config), now.unix_ms);
        let myself = NodeId::random(&mut rng);
        let run_id = NodeId::random(&mut rng).to_string();
        let cluster = Cluster::new(myself, &config, now);
        let commands = cmd::all().map(|spec| (spec.name, spec)).collect();
        let memory_limit = evict::MemoryLimit::from_config(&config);
        let limits_watch =
            std::sync::Arc::new(client_limits::LimitsWatch::new(&config.client_limits));
        let repl = crate::replication::Replication::new(run_id.clone());
        let scripting = cmd::scripting::Engine::new();
        scripting
            .watch
            .set_threshold_ms(config.busy_reply_threshold_ms);
        Node {
            config,
            now,
            started: now,
            rng,
            run_id,
            db,
            cluster,
            clients: BTreeMap::new(),
            next_client_id: 1,
            stats: Stats::default(),
            out: Outbox::default(),
            aof_db_selected: false,
            replaying: false,
            repl,
            top_command: "",
            executing: false,
            request: 0,
            keys_in_flight: std::collections::HashMap::new(),
            replay_client: None,
            aof_health: Default::default(),
            drop_bus_messages: None,
            client_pause: None,
            active_expire_disabled: false,
            persistence: persistence::Persistence::starting_at(now),
            blocked_keys: Default::default(),
            observed: Default::default(),
            pubsub: Default::default(),
            scripting,
            script_writes: None,
            memory_limit,
            eviction: Default::default(),
            recent_peaks: Default::default(),
            limits_watch,
            loaded: false,
            commands,
        }
    }

    /// A node restarted from its saved `nodes.conf`: same ID, epochs, slots and peers.
    pub fn from_nodes_conf(
        config: Config,
        now: Time,
        seed: u64,
        nodes_conf: &str,
    ) -> Result<Node, NodesConfError> {
        let mut out = Outbox::default();
        let cluster = crate::cluster::nodes_conf::load(nodes_conf, &config, now, &mut out)?;
        let mut node = Node::new(config, now, seed);
        node.cluster = cluster;
        // The loaded slots are reported with the node's first effects, as they always were.
        node.out = out;
        node.loaded = true;
        Ok(node)
    }

    /// Reports [`ClusterEvent::NodeStarted`]: who this node is and the epochs it starts
    /// from. Drivers call it once, after the AOF was replayed (the replay drops effects), so a
    /// checker can tell a restart from `nodes.conf` from a fresh identity.
    pub fn announce_start(&mut self) {
        if !self.config.cluster_enabled {
            return;
        }
        let me = self.cluster.me();
        let flagged = self
            .cluster
            .nodes
            .values()
            .filter(|n| n.has(crate::bus::flags::PFAIL | crate::bus::flags::FAIL))
            .map(|n| (n.id, n.has(crate::bus::flags::FAIL)))
            .collect();
        let event = ClusterEvent::NodeStarted {
            id: self.cluster.myself,
            loaded: self.loaded,
            current_epoch: self.cluster.current_epoch(),
            config_epoch: me.config_epoch,
            last_vote_epoch: self.cluster.last_vote_epoch(),
            master: me.master,
            flagged,
        };
        self.emit(event);
        // Imports loaded from nodes.conf are open from the start.
        for (slot, from) in self.cluster.imports() {
            self.emit(ClusterEvent::ImportChanged {
                slot,
                from: Some(from),
            });
        }
        self.adopt_keys_of_unowned_slots();
    }

    /// Redis's `verifyClusterConfigWithData`: a master that loaded keys of a slot it neither
    /// serves nor imports (an import whose unsynced `nodes.conf` a crash lost, say) takes the
    /// slot when nobody serves it, and otherwise imports it from its owner, so the keys stay
    /// reachable by `ASKING` and `cluster fix` finds the open slot. A replica takes whatever
    /// its master sends instead.
    fn adopt_keys_of_unowned_slots(&mut self) {
        if self.cluster.me().is_replica() {
            return;
        }
        let mut adopted = Vec::new();
        for slot in 0..crate::slot::SLOT_COUNT as u16 {
            let kept = self.cluster.owns(slot) || self.cluster.importing_from(slot).is_some();
            if kept || self.db.count_in_slot(slot) == 0 {
                continue;
            }
            match self.cluster.slot_owner(slot) {
                None => {
                    self.log(
                        LogLevel::Notice,
                        format!(
                            "I have keys for unassigned slot {slot}. Taking responsibility for it."
                        ),
                    );
                    self.cluster.change_my_slots(&[slot], true, &mut self.out);
                    adopted.push(slot);
                }
                Some(owner) => {
                    self.log(
                        LogLevel::Notice,
                        format!(
                            "I have keys for slot {slot}, but the slot is assigned to another \
                             node. Setting it to importing state."
                        ),
                    );
                    self.cluster.set_import(slot, Some(owner), &mut self.out);
                    self.cluster.request_save(false);
                }
            }
        }
        if !adopted.is_empty() {
            let ranges = crate::slot::ranges_of(adopted.into_iter());
            self.emit(ClusterEvent::SlotsAdopted { ranges });
        }
    }

    /// The `nodes.conf` text describing the current cluster state.
    pub fn nodes_conf(&self) -> String {
        self.cluster_view().render_nodes_conf()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn myself(&self) -> NodeId {
        self.cluster.myself
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// What a driver sees of a running script without the node (see
    /// [`cmd::scripting::ScriptWatch`]): whether other clients get `-BUSY`, and the kills.
    pub fn script_watch(&self) -> std::sync::Arc<cmd::scripting::ScriptWatch> {
        std::sync::Arc::clone(&self.scripting.watch)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Drains the effects produced since the last call, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        self.out.take()
    }

    /// Reports a protocol decision as a typed event, in order with the other effects.
    pub(crate) fn emit(&mut self, event: ClusterEvent) {
        self.out.push(Effect::Event(event));
    }

    pub(crate) fn log(&mut self, level: LogLevel, text: impl Into<String>) {
        self.out.push(Effect::Log {
            level,
            text: text.into(),
        });
    }

    /// The time of the last input (the driver's clock reading it was given).
    pub fn now(&self) -> Time {
        self.now
    }

    pub(crate) fn set_time(&mut self, now: Time) {
        // Monotonic time never goes back; a driver that violates this is buggy.
        debug_assert!(now.mono_ms >= self.now.mono_ms, "time went backwards");
        self.now = now;
        let policy = self.db.access_policy();
        self.db.set_access_now(policy, now.unix_ms);
    }

    // ---- clients -------------------------------------------------------------------------

    /// Registers a new client connection from `addr` (as `ip:port`) on `local_addr`.
    pub fn client_connected(&mut self, now: Time, addr: String, local_addr: String) -> ClientId {
        self.set_time(now);
        let id = self.next_client_id;
        self.next_client_id += 1;
        self.stats.total_connections_received += 1;
        let mut client = Client::new(id, addr, local_addr, now);
        client.authenticated = self.config.requirepass.is_empty();
        self.clients.insert(id, client);
        id
    }

    pub fn client_disconnected(&mut self, client: ClientId) {
        self.clients.remove(&client);
        self.observed.monitors.remove(&client);
        self.pubsub.remove_client(client);
        self.repl.forget_client(client);
        self.forget_blocked_on_keys(client);
    }

    /// The RESP version the client negotiated (2 unless it sent `HELLO 3`).
    pub fn client_protocol(&self, client: ClientId) -> u8 {
        self.clients.get(&client).map_or(2, |c| c.protocol)
    }

    /// Whether the client connected from the loopback address (what `enable-debug-command
    /// local` and `enable-protected-configs local` let through).
    pub(crate) fn client_is_local(&self, client: ClientId) -> bool {
        let addr = &self.clients[&client].addr;
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "127.0.0.1" || host == "::1"
    }

    pub(crate) fn client_mut(&mut self, client: ClientId) -> &mut Client {
        self.clients
            .get_mut(&client)
            .expect("command from unknown client")
    }

    // ---- commands ------------------------------------------------------------------------

    /// Runs one client command and returns its reply. Effects go to [`Node::take_effects`].
    pub fn command(&mut self, now: Time, client: ClientId, args: &[Bytes]) -> Reply {
        let offset_before = self.cluster.me().repl_offset;
        self.session_command_starts(client, args);
        self.observe_call_starts(client);
        let reply = self.dispatch(now, client, args);
        self.session_command_ends(client);
        self.stats.calls.count_errors(&reply);
        self.note_client_write(client, offset_before);
        self.cluster_before_reply();
        self.replication_before_reply();
        self.drop_unserved_shard_channels();
        reply
    }

    fn dispatch(&mut self, now: Time, client: ClientId, args: &[Bytes]) -> Reply {
        self.set_time(now);
        assert!(!args.is_empty(), "empty command");
        self.client_mut(client).last_command_ms = now.mono_ms;
        let Some(spec) = self.lookup(&args[0]) else {
            self.flag_multi_error(client);
            self.stats.rejected_calls += 1;
            return unknown_command(args);
        };
        if !spec.arity_ok(args.len()) {
            self.flag_multi_error(client);
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return Reply::wrong_arity(spec.name);
        }
        if self.auth_required(client) && !spec.flags.contains(cmd::CmdFlags::NO_AUTH) {
            self.flag_multi_error(client);
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return Reply::error("NOAUTH Authentication required.");
        }
        if self.clients[&client].session.monitor && touches_keyspace(spec) {
            self.flag_multi_error(client);
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return Reply::err("Replica can't interact with the keyspace");
        }
        if let Some(refused) = self.refused_while_subscribed(client, spec) {
            self.flag_multi_error(client);
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return refused;
        }
        let refused = if self.is_async_loading() {
            spec.flags.contains(cmd::CmdFlags::NO_ASYNC_LOADING)
        } else {
            self.is_loading() && refused_while_loading(spec, args)
        };
        if refused {
            self.flag_multi_error(client);
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return Reply::error("LOADING Redis is loading the dataset in memory");
        }
        if let Some(oom) = self.refused_for_memory(client, spec, args) {
            // Cluster redirections come first, as in Redis.
            let refused = self.redirection(client, spec, args).unwrap_or(oom);
            self.flag_multi_error(client);
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return refused;
        }
        if self.clients[&client].multi.is_some() && !spec.is_multi_control() {
            return self.queue_in_multi(client, spec, args);
        }
        if self.postpone_if_paused(client, spec, args)
            || self.postpone_if_migrating(client, spec, args)
        {
            return Reply::Nil;
        }
        self.top_command = spec.name;
        self.execute(client, spec, args)
    }

    /// A password is set and `client` has not given it (clearing the password lets everyone
    /// in, as Redis's default user turning `nopass` does).
    pub(crate) fn auth_required(&self, client: ClientId) -> bool {
        !self.config.requirepass.is_empty() && !self.clients[&client].authenticated
    }

    /// The command named `name`, in any case. Lowercases into a stack buffer: this runs for
    /// every command, and a name longer than any known one is simply unknown.
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; MAX_COMMAND_NAME_LEN];
        let lower = buf.get_mut(..name.len())?;
        for (to, from) in lower.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        let lower = std::str::from_utf8(lower).ok()?;
        self.commands.get(lower).copied()
    }

    /// Redirection check, then the handler. Also used by EXEC for each queued command.
    pub(crate) fn execute(
        &mut self,
        client: ClientId,
        spec: &CommandSpec,
        args: &[Bytes],
    ) -> Reply {
        let outer = std::mem::replace(&mut self.executing, true);
        let reply = self.execute_checked(client, spec, args);
        self.executing = outer;
        if !outer {
            self.clear_asking(client, spec);
        }
        reply
    }

    fn execute_checked(&mut self, client: ClientId, spec: &CommandSpec, args: &[Bytes]) -> Reply {
        self.stats.total_commands_processed += 1;
        if let Some(redirect) = self.redirection(client, spec, args) {
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return redirect;
        }
        self.report_key_served(client, spec, args);
        if let Some(refused) = self.refused_for_disk_error(cmd::server::flags_spec(spec, args)) {
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return refused;
        }
        // Keyed writes were redirected above; keyless ones (FLUSHALL) stop here, as in Redis.
        let replica = self.config.cluster_enabled && self.cluster.me().is_replica();
        if replica && !self.replaying && cmd::server::flags_spec(spec, args).is_write() {
            self.stats.rejected_calls += 1;
            self.stats.calls.rejected(spec.name);
            return Reply::error("READONLY You can't write against a read only replica.");
        }
        if let Some(busy) = self.blocked_by_migration(spec, args) {
            self.stats.calls.rejected(spec.name);
            return busy;
        }
        // Only writes are hashed (a few bytes each); EXEC's queued commands nest in here.
        let outer = self.request;
        self.request = if spec.is_write() {
            crate::event::request_digest(args)
        } else {
            0
        };
        self.touch_keys(spec, args);
        let reply = (spec.handler)(self, client, args);
        self.track_command(client, spec, args, &reply);
        self.observe_command(spec, args);
        cmd::server::feed_monitors(self, client, spec, args);
        self.request = outer;
        self.stats.calls.ran(spec.name, &reply);
        reply
    }

    /// Logs a write, already in its exact-replay form, to the AOF (the first entry selects
    /// db 0, as Redis writes it) and streams it to the replicas (see [`crate::replication`]).
    pub(crate) fn log_write(&mut self, args: &[Bytes]) {
        if self.replaying {
            return;
        }
        if let Some(writes) = &mut self.script_writes {
            writes.push(ScriptWrite {
                args: args.to_vec(),
                request: self.request,
                targets: Propagate::ALL,
            });
            return;
        }
        self.feed_write(args, crate::replication::encoded_len(args));
    }

    /// [`Node::log_write`] to the AOF only, to the replicas only, or both (a script's
    /// `redis.set_repl`). The replicas' part moves the replication offset; the AOF's alone
    /// does not, as in Redis.
    pub(crate) fn log_write_to(&mut self, args: &[Bytes], targets: Propagate) {
        if self.replaying || targets == Propagate::ALL {
            return self.log_write(args);
        }
        debug_assert!(
            targets != Propagate::NONE,
            "nothing to propagate is never recorded"
        );
        if targets == Propagate::AOF {
            self.count_change();
            self.log_to_aof(args);
        } else {
            debug_assert_eq!(targets, Propagate::REPLICAS);
            let len = crate::replication::encoded_len(args);
            self.feed_replicas(args, len);
            self.count_change();
        }
    }

    /// Replays one command from the append-only file at start-up: no redirection, nothing
    /// logged again. Unknown commands and wrong arity are errors that stop the load.
    pub fn replay_command(&mut self, now: Time, args: &[Bytes]) -> Result<(), String> {
        self.set_time(now);
        let Some(spec) = self.lookup(&args[0]) else {
            return Err(format!(
                "Unknown command '{}'",
                String::from_utf8_lossy(&args[0])
            ));
        };
        if !spec.arity_ok(args.len()) {
            return Err(format!("Wrong arity for '{}'", spec.name));
        }
        let client = *self.replay_client.get_or_insert_with(|| {
            let id = self.next_client_id;
            self.next_client_id += 1;
            id
        });
        self.clients
            .entry(client)
            .or_insert_with(|| Client::new(client, "aof".into(), String::new(), now));
        self.replaying = true;
        let reply = if self.clients[&client].multi.is_some() && !spec.is_multi_control() {
            self.queue_in_multi(client, spec, args)
        } else {
            (spec.handler)(self, client, args)
        };
        self.replaying = false;
        self.out.discard_effects();
        match reply {
            Reply::Error(e) if spec.is_write() => Err(e),
            _ => Ok(()),
        }
    }

    /// Ends an AOF load: the loader's client goes away, and with it a MULTI the file left
    /// unfinished (a torn transaction is not applied).
    pub fn end_replay(&mut self) {
        if let Some(client) = self.replay_client.take() {
            self.clients.remove(&client);
        }
    }

    fn clear_asking(&mut self, client: ClientId, spec: &CommandSpec) {
        if spec.name != "asking" {
            if let Some(c) = self.clients.get_mut(&client) {
                c.asking = false;
            }
        }
    }

    fn queue_in_multi(&mut self, client: ClientId, spec: &CommandSpec, args: &[Bytes]) -> Reply {
        if spec.flags.contains(cmd::CmdFlags::NO_MULTI) {
            self.flag_multi_error(client);
            return Reply::err("Command not allowed inside a transaction");
        }
        if let Some(refused) = self
            .redirection(client, spec, args)
            .or_else(|| self.refused_for_disk_error(spec))
        {
            self.flag_multi_error(client);
            return refused;
        }
        let c = self.client_mut(client);
        c.multi.get_or_insert_with(Vec::new).push(args.to_vec());
        Reply::simple("QUEUED")
    }

    fn flag_multi_error(&mut self, client: ClientId) {
        if let Some(c) = self.clients.get_mut(&client) {
            if c.multi.is_some() {
                c.multi_dirty = true;
            }
        }
    }

    /// Looks a queued command up again and runs it (EXEC).
    pub(crate) fn execute_queued(&mut self, client: ClientId, args: &[Bytes]) -> Reply {
        match self.lookup(&args[0]) {
            Some(spec) => self.execute(client, spec, args),
            None => unknown_command(args),
        }
    }

    /// A keyed command passed the redirection check and runs here: [`ClusterEvent::KeyServed`]
    /// lets a checker hold it against the slots this node's events say it owns.
    fn report_key_served(&mut self, client: ClientId, spec: &CommandSpec, args: &[Bytes]) {
        if !self.config.cluster_enabled || self.replaying {
            return;
        }
        let slot = match spec.single_key(args) {
            Some(key) => key_hash_slot(key),
            None => match spec.keys(args).first() {
                Some(key) => key_hash_slot(key),
                None => return,
            },
        };
        let state = &self.clients[&client];
        // RESTORE-ASKING (what MIGRATE sends) asks by itself, as Redis's `asking` command flag
        // says, and MIGRATE runs on a node importing the slot too (`fix` moves a stray key
        // back from the importer): the redirection check lets both into an importing slot
        // like ASKING would.
        let by_itself = matches!(spec.name, "restore-asking" | "migrate");
        let event = ClusterEvent::KeyServed {
            slot,
            asking: state.asking || by_itself,
            readonly: state.readonly,
        };
        self.emit(event);
    }

    /// Whether this node may run a keyed command, following Redis's `getNodeByQuery`: `None`
    /// means run it here, `Some(error)` is the redirection or cluster error to send instead.
    pub(crate) fn redirection(
        &self,
        client: ClientId,
        spec: &CommandSpec,
        args: &[Bytes],
    ) -> Option<Reply> {
        // The AOF loader replays what this node accepted before, whoever owns the slot now.
        if !self.config.cluster_enabled || self.replaying {
            return None;
        }
        // Most keyed commands have one key: look at it without building a list.
        let (single, many);
        let keys: &[&Bytes] = match spec.single_key(args) {
            Some(key) => {
                single = key;
                std::slice::from_ref(&single)
            }
            None => {
                many = spec.keys(args);
                &many
            }
        };
        let first = keys.first()?;
        let slot = key_hash_slot(first);
        if keys.iter().any(|k| key_hash_slot(k) != slot) {
            return Some(Reply::error(
                "CROSSSLOT Keys in request don't hash to the same slot",
            ));
        }
        let cluster = &self.cluster;
        let Some(owner) = cluster.slot_owner(slot) else {
            return Some(Reply::error("CLUSTERDOWN Hash slot not served"));
        };
        let myself = cluster.myself;
        // Shard channels are no keys: a slot being moved leaves them where they are until
        // `SETSLOT … NODE` (Redis's `pubsubshard_included` skips ASK and TRYAGAIN), and the
        // slot's replicas serve them too, READONLY or not.
        let shard_pubsub = matches!(spec.name, "ssubscribe" | "sunsubscribe" | "spublish");
        let migrating = owner == myself && cluster.migrating_to(slot).is_some() && !shard_pubsub;
        let importing = cluster.importing_from(slot).is_some() && !shard_pubsub;
        let mut missing = 0usize;
        if migrating || importing {
            missing = keys
                .iter()
                .filter(|k| !self.db.contains(k, self.now.unix_ms))
                .count();
        }
        if !cluster.state_ok() {
            let reads_ok = self.config.cluster_allow_reads_when_down;
            if !reads_ok {
                return Some(Reply::error("CLUSTERDOWN The cluster is down"));
            }
            if spec.is_write() {
                return Some(Reply::error(
                    "CLUSTERDOWN The cluster is down and only accepts read commands",
                ));
            }
        }
        if spec.name == "migrate" && (migrating || importing) {
            return None;
        }
        if migrating && missing > 0 {
            if missing < keys.len() {
                return Some(Reply::error(
                    "TRYAGAIN Multiple keys request during rehashing of slot",
                ));
            }
            let target = cluster.migrating_to(slot).expect("checked above");
            return Some(self.cluster.redirect_error("ASK", slot, target));
        }
        let client_state = &self.clients[&client];
        if importing && (client_state.asking || spec.name == "restore-asking") {
            let distinct = keys.iter().collect::<std::collections::HashSet<_>>().len();
            if distinct > 1 && missing > 0 {
                return Some(Reply::error(
                    "TRYAGAIN Multiple keys request during rehashing of slot",
                ));
            }
            return None;
        }
        if (client_state.readonly || shard_pubsub) && !spec.is_write() && cluster.replicates(owner)
        {
            return None;
        }
        if owner != myself {
            return Some(self.cluster.redirect_error("MOVED", slot, owner));
        }
        None
    }

    /// Periodic work; drivers call it every 100 ms.
    pub fn tick(&mut self, now: Time) {
        self.set_time(now);
        cmd::keys::active_expire_cycle(self);
        self.cluster_cron();
        self.cluster_before_reply();
        self.replication_cron();
        self.persistence_cron();
        self.redirect_blocked_on_keys();
        self.drop_unserved_shard_channels();
        self.close_idle_clients();
    }
}

/// Reads and writes: what a monitor (a replica in Redis's eyes) may not run.
fn touches_keyspace(spec: &CommandSpec) -> bool {
    spec.flags
        .intersects(cmd::CmdFlags::READONLY.union(cmd::CmdFlags::WRITE))
}

/// Whether Redis refuses `args` while it loads: the command (or, for a container, the
/// subcommand) lacks the `loading` flag. An unknown subcommand is left to its handler's error.
fn refused_while_loading(spec: &CommandSpec, args: &[Bytes]) -> bool {
    let flags = cmd::server::flags_spec(spec, args);
    let unknown_subcommand =
        std::ptr::eq(flags, spec) && !cmd::server::subcommands_of(spec.name).is_empty();
    !unknown_subcommand && !flags.flags.contains(cmd::CmdFlags::LOADING)
}

/// `ERR unknown command 'foo', with args beginning with: 'bar' `.
fn unknown_command(args: &[Bytes]) -> Reply {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(&args[0])
    );
    for arg in &args[1..] {
        text.push_str(&format!("'{}' ", String::from_utf8_lossy(arg)));
    }
    Reply::Error(text)
}

mod access;
mod aof_syncs;
mod bus;
pub mod call_stats;
pub mod client_limits;
#[cfg(test)]
mod client_limits_tests;
mod client_pause;
mod disk_errors;
pub mod evict;
#[cfg(test)]
mod evict_tests;
pub mod latency_histogram;
mod observe;
mod persistence;
mod pubsub;
pub mod session;
#[cfg(test)]
mod tests;
mod tracking;

/// A write a running script made, held until it ends.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScriptWrite {
    pub(crate) args: Vec<Bytes>,
    /// The `request` digest of the command the script called.
    pub(crate) request: u64,
    pub(crate) targets: Propagate,
}

/// Where a write goes: Redis's `PROPAGATE_AOF` and `PROPAGATE_REPL` bits, as
/// `redis.set_repl`'s `REPL_*` values spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Propagate(pub(crate) u8);

impl Propagate {
    pub(crate) const NONE: Propagate = Propagate(0);
    pub(crate) const AOF: Propagate = Propagate(1);
    pub(crate) const REPLICAS: Propagate = Propagate(2);
    pub(crate) const ALL: Propagate = Propagate(3);
}
