//! Runs one node on TCP: the client listener(s), the cluster-bus listener and links, and the
//! 100 ms tick, around the sans-IO [`Node`].
//!
//! The same code runs in a real `clusterlab node` process and inside the madsim simulator
//! (`tokio` is `madsim-tokio`). The node sits behind one `std::sync::Mutex` that is never held
//! across an `.await`: every task locks it, feeds one input (a batch of pipelined commands, a bus
//! message, a link event, a tick), and performs the resulting [`Effect`]s in order *before*
//! unlocking. That is what makes "nodes.conf is saved before the reply goes out" and "a link
//! closed by the node reports nothing more" hold without any further coordination.
//!
//! Tasks: one accept loop per listener, one task per client connection, one task per bus link
//! (it connects, for outbound links, then reads and decodes) plus a writer task per link fed by an
//! unbounded channel of encoded frames, and the tick task. A replica also runs one task for its
//! link to its master (handshake, stream, `REPLCONF ACK` every second). A master queues the
//! stream for a replica client in that client's `ClientOut` and writes it to the replica's
//! socket, without waiting, before the task that ran the write sends its own replies (as Redis
//! fills replicas' buffers in the same event-loop turn as the reply): a crash then loses at most
//! what the socket could not take. The replica client's own task writes whatever is left.
//! Files go through [`Disk`] only.
//!
//! This file holds the entry points ([`run`], [`Server`]), the state the tasks share and the
//! effect dispatcher (`Shared::perform`); the rest is split along the same seams:
//!
//! - `startup`: `cluster-config-file` lock, `nodes.conf` load or creation, AOF replay, binding.
//! - [`clock`]: the node's monotonic and wall clocks (virtual under madsim).
//! - `client`: client connections: request batches, replies, blocking, MIGRATE, replica streams.
//! - `bus_link`: cluster-bus links, inbound and outbound.
//! - `replica_link`: a replica's link to its master.
//! - `tick`: the 100 ms cron.
//! - `persist`: the `nodes.conf` saves and AOF writes that effects ask for.
//! - `turn`: the end of a turn, where those are performed once (Redis's `beforeSleep`).
//! - `tests` (real sockets) and `sim_tests` (madsim): the driver's own tests.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clusterlab_core::node::LogLevel;
use clusterlab_core::replication::ReplLinkId;
use clusterlab_core::{ClientId, Config, Effect, LinkId, Node};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};

use crate::aof::Aof;
use crate::buggify;
use crate::disk::{Disk, DiskLock, FileDisk};
use bus_link::register_inbound_link;
use client::{register_client, ClientOut, CloseSignal};
use clock::{Clock, MachineClock};
use startup::{bind_listeners, create_node, lock_config_file, open_aof, Paths};
use tick::tick;

mod bus_link;
mod client;
pub mod clock;
mod config_file;
mod persist;
mod replica_link;
#[cfg(all(test, madsim))]
mod sim_tests;
mod startup;
#[cfg(all(test, not(madsim)))]
mod tests;
mod tick;
mod turn;

/// The tracing target of the node's log lines, which the simulator captures by it
/// (`NODE_LOG_TARGET` in clusterlab-sim's `trace.rs`). Lines logged in this file have it by
/// default; the submodules name it explicitly.
const LOG_TARGET: &str = "clusterlab_net::server";

/// How often the node's cron runs, as in Redis (`hz 10`).
const TICK_INTERVAL_MS: u64 = 100;
/// Bytes a connection reads at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Why [`Server::serve`] returned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `SHUTDOWN` or a requested stop: files are synced; exit cleanly.
    Shutdown,
    /// `DEBUG SEGFAULT`: the process must die at once without flushing anything.
    Crash,
}

/// Runs a node with real files until it shuts down or crashes.
pub async fn run(config: Config, seed: u64) -> io::Result<Exit> {
    run_with_disk(config, seed, Arc::new(FileDisk::default())).await
}

/// Runs a node on the given disk (the simulator passes a [`crate::disk::MemDisk`]).
pub async fn run_with_disk(config: Config, seed: u64, disk: Arc<dyn Disk>) -> io::Result<Exit> {
    Server::bind(config, seed, disk).await?.serve().await
}

/// Receives every typed event the node emits ([`clusterlab_core::ClusterEvent`]), in order,
/// while the node is locked: keep it short and never block.
pub type EventObserver = Arc<dyn Fn(clusterlab_core::ClusterEvent) + Send + Sync>;

/// [`run_with_disk`] that hands the node's typed events to `observer` (the simulator's
/// trace).
pub async fn run_observed(
    config: Config,
    seed: u64,
    disk: Arc<dyn Disk>,
    observer: EventObserver,
) -> io::Result<Exit> {
    Server::bind_observed(config, seed, disk, Some(observer))
        .await?
        .serve()
        .await
}

/// [`run_observed`] on a machine whose wall clock `clock` may skew (the simulator's clock
/// faults), and whose timeouts may follow it.
pub async fn run_on_clock(
    config: Config,
    seed: u64,
    disk: Arc<dyn Disk>,
    observer: EventObserver,
    clock: MachineClock,
) -> io::Result<Exit> {
    Server::bind_on_clock(config, seed, disk, Some(observer), clock)
        .await?
        .serve()
        .await
}

/// A node whose listeners are bound; [`Server::serve`] runs it.
pub struct Server {
    shared: Arc<Shared>,
    client_listeners: Vec<TcpListener>,
    bus_listeners: Vec<TcpListener>,
    exit_rx: mpsc::UnboundedReceiver<io::Result<Exit>>,
    _config_lock: Option<DiskLock>,
    _aof_lock: Option<DiskLock>,
}

/// Asks a running [`Server`] to stop as for `SHUTDOWN` (the binary's SIGTERM handler uses it).
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    pub fn shutdown(&self) {
        // Holding the node lock orders the stop after any call in progress.
        let mut node = self.shared.lock_node();
        node.save_before_shutdown(None);
        let effects = node.take_effects();
        self.shared.perform(&mut node, effects);
        self.shared.shutdown();
    }
}

impl Server {
    /// Starts a node as redis-server does: locks `cluster-config-file`, binds the client and
    /// bus listeners, loads `nodes.conf` (or creates the node and writes it), replays the AOF
    /// and opens it for appending. Errors carry the message Redis logs for the same failure.
    pub async fn bind(config: Config, seed: u64, disk: Arc<dyn Disk>) -> io::Result<Server> {
        Server::bind_observed(config, seed, disk, None).await
    }

    /// [`Server::bind`] with an observer of the node's typed events.
    pub async fn bind_observed(
        config: Config,
        seed: u64,
        disk: Arc<dyn Disk>,
        observer: Option<EventObserver>,
    ) -> io::Result<Server> {
        Server::bind_on_clock(config, seed, disk, observer, MachineClock::default()).await
    }

    /// [`Server::bind_observed`] on a machine clock that may skew.
    pub async fn bind_on_clock(
        config: Config,
        seed: u64,
        disk: Arc<dyn Disk>,
        observer: Option<EventObserver>,
        machine_clock: MachineClock,
    ) -> io::Result<Server> {
        let paths = Paths::new(&config);
        let config_lock = if config.cluster_enabled {
            Some(lock_config_file(&*disk, &paths.nodes_conf, &config)?)
        } else {
            None
        };
        let client_listeners = bind_listeners(&config.bind, config.port, "TCP").await?;
        let bus_listeners = if config.cluster_enabled {
            bind_listeners(&config.bind, config.bus_port(), "cluster").await?
        } else {
            Vec::new()
        };
        let clock = Clock::start(machine_clock);
        let mut node = create_node(&*disk, &paths.nodes_conf, config, clock.now(), seed)?;
        let (aof, aof_lock) = open_aof(&disk, &mut node, &clock)?;
        node.announce_start();
        let (exit_tx, exit_rx) = mpsc::unbounded_channel();
        let scripts = node.script_watch();
        let limits = node.limits_watch();
        let shared = Arc::new(Shared {
            node: Arc::new(Mutex::new(node)),
            scripts,
            limits,
            io: Mutex::new(Io {
                aof,
                ..Io::default()
            }),
            clock,
            disk,
            paths,
            exit_tx,
            observer,
        });
        {
            // Whatever the node still wants done at start (start-up logs, who it is).
            let mut node = shared.lock_node();
            let effects = node.take_effects();
            shared.perform(&mut node, effects);
        }
        Ok(Server {
            shared,
            client_listeners,
            bus_listeners,
            exit_rx,
            _config_lock: config_lock,
            _aof_lock: aof_lock,
        })
    }

    /// The node itself, for inspection (the simulator checks invariants through it). Lock it
    /// only briefly and never across an `.await`.
    pub fn node(&self) -> Arc<Mutex<Node>> {
        self.shared.node.clone()
    }

    /// Where clients can connect (the first bound listener).
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client_listeners.first()?.local_addr().ok()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves clients and peers until the node shuts down, crashes or fails to persist; then
    /// stops every task it started.
    pub async fn serve(self) -> io::Result<Exit> {
        let Server {
            shared,
            client_listeners,
            bus_listeners,
            mut exit_rx,
            _config_lock,
            _aof_lock,
        } = self;
        tracing::info!("Ready to accept connections");
        let mut tasks: Vec<AbortOnDrop> = Vec::new();
        for listener in client_listeners {
            tasks.push(AbortOnDrop::spawn(accept_loop(
                shared.clone(),
                listener,
                "client",
                register_client,
            )));
        }
        for listener in bus_listeners {
            tasks.push(AbortOnDrop::spawn(accept_loop(
                shared.clone(),
                listener,
                "cluster bus",
                register_inbound_link,
            )));
        }
        tasks.push(AbortOnDrop::spawn(tick(shared.clone())));
        let exit = exit_rx
            .recv()
            .await
            .unwrap_or_else(|| Err(io::Error::other("node stopped without a reason")));
        drop(tasks);
        shared.stop_connections();
        exit
    }
}

/// Everything the tasks share. Lock order: `node` first, then `io`.
struct Shared {
    node: Arc<Mutex<Node>>,
    /// The running script as seen without the node: `-BUSY` answers and kills (`client`).
    scripts: Arc<clusterlab_core::cmd::scripting::ScriptWatch>,
    /// `proto-max-bulk-len` and `client-query-buffer-limit`, read while parsing (`client`).
    limits: Arc<clusterlab_core::node::client_limits::LimitsWatch>,
    io: Mutex<Io>,
    clock: Clock,
    disk: Arc<dyn Disk>,
    paths: Paths,
    exit_tx: mpsc::UnboundedSender<io::Result<Exit>>,
    observer: Option<EventObserver>,
}

/// The driver's side of connections and links.
#[derive(Default)]
struct Io {
    /// Set once the node crashed, shut down or failed to persist: nothing more is fed to it
    /// and no more replies are written.
    stopped: bool,
    // Ordered maps: stopping walks them, and the simulator needs that order fixed.
    links: BTreeMap<LinkId, LinkHandle>,
    clients: BTreeMap<ClientId, ClientHandle>,
    /// Replica side: the task holding the connection to the master, per link.
    replica_links: BTreeMap<ReplLinkId, AbortHandle>,
    /// The append-only file, with `appendonly yes`.
    aof: Option<Aof>,
    /// `DEBUG SLEEP`: no input reaches the node and no reply leaves before this instant.
    paused_until: Option<tokio::time::Instant>,
    /// Replica clients that got stream bytes since the last [`Shared::write_streams_now`].
    streams_to_write: Vec<ClientId>,
    /// The replication offset of the last `WriteApplied` performed: where the AOF bytes that
    /// follow it end.
    last_write_offset: u64,
    /// The node is held for a sync on its thread: when the hold ends, the finished syncs are
    /// reported before anything else leaves.
    stalled_on_sync: bool,
    /// The `nodes.conf` save the current turn asked for (see `turn`).
    config_save: turn::ConfigSave,
}

struct LinkHandle {
    frames: mpsc::UnboundedSender<Bytes>,
    task: Option<AbortHandle>,
    /// What the link holds, for the node's `cluster-link-sendbuf-limit` check.
    bytes: Arc<bus_link::LinkBytes>,
}

struct ClientHandle {
    closing: Arc<CloseSignal>,
    task: Option<AbortHandle>,
    /// The connection's writing side, shared so replication stream bytes can be written by
    /// whichever task produced them.
    out: Arc<ClientOut>,
    /// The encoded reply a blocked client (`WAIT`, a paused write) waits for.
    unblocked: mpsc::UnboundedSender<Bytes>,
}

/// Whether this task runs on a multi-threaded tokio runtime (`clusterlab node`'s), the only
/// kind that can hand a blocked worker's tasks to another thread. Not under madsim, where a
/// script runs to its end within one step of virtual time.
#[cfg(not(madsim))]
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

impl Shared {
    fn lock_node(&self) -> MutexGuard<'_, Node> {
        // A poisoned lock means a node call panicked: an invariant broke, so stop loudly.
        match self.node.try_lock() {
            Ok(node) => return node,
            Err(std::sync::TryLockError::Poisoned(_)) => panic!("node lock poisoned"),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        #[cfg(not(madsim))]
        if self.scripts.running() && on_multi_thread_runtime() {
            // A script may hold the node for seconds: this worker hands its other tasks to
            // another thread meanwhile, so clients still get their `-BUSY` answers.
            return tokio::task::block_in_place(|| self.node.lock().expect("node lock poisoned"));
        }
        self.node.lock().expect("node lock poisoned")
    }

    fn lock_io(&self) -> MutexGuard<'_, Io> {
        self.io.lock().expect("io lock poisoned")
    }

    fn stopped(&self) -> bool {
        self.lock_io().stopped
    }

    /// Performs effects in order, then writes the replication stream they queued. Returns
    /// false once the node has stopped (crash, shutdown or a failed write); the remaining
    /// effects are then dropped, as a crashed process would. Called with the node locked so
    /// effects of different calls never interleave.
    fn perform(self: &Arc<Self>, node: &mut Node, effects: Vec<Effect>) -> bool {
        let performed = self.perform_queued(node, effects) && self.persist_turn(node);
        let backed_up = self.write_streams_now();
        self.judge_backed_up(node, backed_up);
        performed
    }

    /// [`Shared::perform`] without ending the turn: a batch of inputs persists and writes the
    /// queued stream once, at its end ([`Shared::persist_turn`], [`Shared::write_streams_now`]).
    fn perform_queued(self: &Arc<Self>, node: &mut Node, effects: Vec<Effect>) -> bool {
        for effect in effects {
            if self.stopped() {
                return false;
            }
            if turn::leaves_at_once(&effect) && !self.persist_turn(node) {
                return false;
            }
            if matches!(effect, Effect::Event(_)) && !self.persist_config() {
                return false;
            }
            match effect {
                Effect::Connect { link, ip, port } => self.connect(link, ip, port, node),
                Effect::Send { link, msg } => self.send(link, &msg),
                Effect::CloseLink { link } => self.close_link(link),
                Effect::CloseClient { client } => self.close_client(client),
                Effect::DropClient { client } => self.drop_client(client),
                Effect::SaveConfig { contents, fsync } => {
                    self.lock_io().config_save.request(contents, fsync)
                }
                Effect::AppendAof { data } => self.append_aof(&data),
                Effect::RewriteAof { base } => self.rewrite_aof(node, &base),
                Effect::SaveRdb { data, client } => self.save_rdb(node, &data, client),
                Effect::StopAof => self.stop_aof(),
                Effect::Log { level, text } => log(level, &text),
                Effect::Event(event) => {
                    if let clusterlab_core::ClusterEvent::WriteApplied { offset, .. } = event {
                        self.lock_io().last_write_offset = offset;
                    }
                    if let Some(observer) = &self.observer {
                        observer(event);
                    }
                }
                Effect::Crash => self.stop(Ok(Exit::Crash)),
                Effect::Shutdown => self.shutdown(),
                Effect::RewriteConfig => self.rewrite_config(node),
                Effect::Sleep { ms } => self.pause_for(Duration::from_millis(ms)),
                Effect::ReplicaConnect { link, ip, port } => {
                    self.replica_connect(link, ip, port, node)
                }
                Effect::ReplicaDisconnect { link } => self.replica_disconnect(link),
                Effect::ReplicaStream { client, data } => self.queue_stream(client, &data),
                Effect::ClientPush { client, .. } | Effect::ClientNotice { client, .. } => {
                    let mut data = bytes::BytesMut::new();
                    crate::resp::encode_out_of_band(
                        &effect,
                        node.client_protocol(client),
                        &mut data,
                    );
                    self.queue_stream(client, &data);
                }
                Effect::UnblockClient { client, reply } => {
                    self.unblock_client(client, &reply, node.client_protocol(client))
                }
                // `run_requests` and `replica_apply` take these out of the calls that make them.
                Effect::BlockClient { .. } | Effect::ReplicaAck { .. } => {}
                // Only a client's own command yields one, and `run_requests` takes it out
                // first; a second MIGRATE queued in one MULTI is not supported.
                Effect::Migrate(job) => {
                    tracing::warn!(
                        "Dropped a MIGRATE to {}:{} inside MULTI",
                        job.host,
                        job.port
                    )
                }
            }
        }
        !self.stopped()
    }

    fn stop(&self, exit: io::Result<Exit>) {
        let mut io = self.lock_io();
        if !io.stopped {
            io.stopped = true;
            let _ = self.exit_tx.send(exit);
        }
    }

    fn shutdown(&self) {
        if self.stopped() {
            return;
        }
        tracing::warn!("User requested shutdown...");
        match self.sync_aof() {
            Ok(()) => {
                tracing::warn!("Redis is now ready to exit, bye bye...");
                self.stop(Ok(Exit::Shutdown));
            }
            Err(e) => self.stop(Err(e)),
        }
    }

    /// `DEBUG SLEEP` (or a sync on the node's thread): the process hangs, as far as clients
    /// and peers can tell.
    fn pause_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut io = self.lock_io();
        io.paused_until = Some(io.paused_until.map_or(until, |t| t.max(until)));
    }

    /// Waits out a `DEBUG SLEEP`. Every task calls it before feeding the node or writing
    /// replies, which is how a hung process looks from outside.
    async fn wait_while_paused(self: &Arc<Self>) {
        loop {
            let (until, stalled) = {
                let io = self.lock_io();
                (io.paused_until, io.stalled_on_sync)
            };
            let now = tokio::time::Instant::now();
            match until {
                Some(t) if t > now && stalled => {
                    // A disk made fast again ends the syncs queued behind the current one
                    // sooner than the stall was sized for: the thread is free once they are.
                    if self.disk.pending_sync().is_zero() {
                        self.lock_io().paused_until = None;
                        break;
                    }
                    let slice = (t - now).min(Duration::from_millis(100));
                    tokio::time::sleep(slice).await;
                }
                Some(t) if t > now => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        if std::mem::take(&mut self.lock_io().stalled_on_sync) {
            let mut node = self.lock_node();
            if !self.stopped() {
                self.poll_aof(&mut node);
            }
        }
    }

    /// After the node stopped: aborts every connection and link task.
    fn stop_connections(&self) {
        let mut io = self.lock_io();
        io.stopped = true;
        for link in std::mem::take(&mut io.links).into_values() {
            if let Some(task) = link.task {
                task.abort();
            }
        }
        for client in std::mem::take(&mut io.clients).into_values() {
            if let Some(task) = client.task {
                task.abort();
            }
        }
        for task in std::mem::take(&mut io.replica_links).into_values() {
            task.abort();
        }
    }
}

fn log(level: LogLevel, text: &str) {
    match level {
        LogLevel::Debug => tracing::trace!("{text}"),
        LogLevel::Verbose => tracing::debug!("{text}"),
        LogLevel::Notice => tracing::info!("{text}"),
        LogLevel::Warning => tracing::warn!("{text}"),
    }
}

/// Aborts the task when dropped, so tasks owned by another task die with it.
struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    fn spawn(future: impl std::future::Future<Output = ()> + Send + 'static) -> AbortOnDrop {
        AbortOnDrop(tokio::spawn(future))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Accepts connections on a client or bus listener and hands each to `register`.
async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    what: &'static str,
    register: fn(&Arc<Shared>, TcpStream, SocketAddr),
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                shared.wait_while_paused().await;
                register(&shared, stream, peer);
            }
            Err(e) => {
                tracing::warn!("Accepting {what} connection: {e}");
                // Out of descriptors and the like: give the node a moment instead of spinning.
                tokio::time::sleep(Duration::from_millis(TICK_INTERVAL_MS)).await;
            }
        }
    }
}

/// Reads what the socket has into `input`; where the buggify `point` fires, only a few bytes
/// (a request or message arriving in pieces, which every parser must take).
async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    input: &mut BytesMut,
    point: buggify::Point,
) -> io::Result<usize> {
    use tokio::io::AsyncReadExt;
    if buggify::fires(point) {
        let mut small = [0u8; 16];
        let want = buggify::delay_ms(small.len() as u64) as usize;
        let read = reader.read(&mut small[..want]).await?;
        input.extend_from_slice(&small[..read]);
        return Ok(read);
    }
    reader.read_buf(input).await
}

async fn write_and_flush<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
) -> io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}
