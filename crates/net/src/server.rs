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
//! stream for a replica client in that client's [`ClientOut`] and writes it to the replica's
//! socket, without waiting, before the task that ran the write sends its own replies (as Redis
//! fills replicas' buffers in the same event-loop turn as the reply): a crash then loses at most
//! what the socket could not take. The replica client's own task writes whatever is left.
//! Files go through [`Disk`] only.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clusterlab_core::canary::Canary;
use clusterlab_core::config::AppendFsync;
use clusterlab_core::node::LogLevel;
use clusterlab_core::{ClientId, Config, Effect, LinkId, Node, Time};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::task::{AbortHandle, JoinHandle};

use crate::aof::{self, Aof};
use crate::disk::{Disk, DiskLock, FileDisk};
use crate::{bus_codec, client, resp};
use clusterlab_core::cmd::migrate::{MigrateJob, MigrateOutcome};
use clusterlab_core::replication::ReplLinkId;

/// How often the node's cron runs, as in Redis (`hz 10`).
const TICK_INTERVAL_MS: u64 = 100;
/// Bytes a connection reads at a time.
const READ_CHUNK: usize = 16 * 1024;
/// How often a replica acknowledges its offset to its master, as Redis does.
const REPLICA_ACK_INTERVAL_MS: u64 = 1000;

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
    run_with_disk(config, seed, Arc::new(FileDisk)).await
}

/// Runs a node on the given disk (the simulator passes a [`crate::disk::MemDisk`]).
pub async fn run_with_disk(config: Config, seed: u64, disk: Arc<dyn Disk>) -> io::Result<Exit> {
    Server::bind(config, seed, disk).await?.serve().await
}

/// Receives every typed event the node emits ([`clusterlab_core::ClusterEvent`]), in order,
/// while the node is locked: keep it short and never block.
pub type EventObserver = Arc<dyn Fn(&clusterlab_core::ClusterEvent) + Send + Sync>;

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
        let _node = self.shared.lock_node();
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
        let clock = Clock::start();
        let mut node = create_node(&*disk, &paths.nodes_conf, config, clock.now(), seed)?;
        let (aof, aof_lock) = open_aof(&disk, &mut node, &clock)?;
        let (exit_tx, exit_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            node: Arc::new(Mutex::new(node)),
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
            // Whatever the node still wants done at start (start-up logs).
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

/// File locations derived from the config (the AOF's are [`Aof`]'s business).
struct Paths {
    nodes_conf: PathBuf,
}

impl Paths {
    fn new(config: &Config) -> Paths {
        Paths {
            nodes_conf: Path::new(&config.dir).join(&config.cluster_config_file),
        }
    }
}

/// The node from its saved `nodes.conf` (cluster mode), or a new one whose `nodes.conf` is
/// written at once, durably, as Redis does on a first start.
fn create_node(
    disk: &dyn Disk,
    nodes_conf: &Path,
    config: Config,
    now: Time,
    seed: u64,
) -> io::Result<Node> {
    if !config.cluster_enabled {
        return Ok(Node::new(config, now, seed));
    }
    let saved = disk.read(nodes_conf)?;
    let saved = saved.filter(|bytes| !bytes.iter().all(u8::is_ascii_whitespace));
    let Some(saved) = saved else {
        let node = Node::new(config, now, seed);
        tracing::info!("No cluster configuration found, I'm {}", node.myself());
        disk.write_atomic(nodes_conf, node.nodes_conf().as_bytes(), true)
            .map_err(|e| {
                tracing::warn!("Could not save {}: {e}", nodes_conf.display());
                io::Error::new(e.kind(), "Fatal: can't update cluster config file.")
            })?;
        return Ok(node);
    };
    let text = String::from_utf8_lossy(&saved);
    match Node::from_nodes_conf(config, now, seed, &text) {
        Ok(node) => {
            tracing::info!("Node configuration loaded, I'm {}", node.myself());
            Ok(node)
        }
        Err(e) => {
            tracing::warn!(
                "{} line {}: {} ({})",
                nodes_conf.display(),
                e.line_number,
                e.line,
                e.reason
            );
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "Unrecoverable error: corrupted cluster config file.",
            ))
        }
    }
}

/// With `appendonly yes`: locks the AOF directory, replays the AOF into the node, then opens
/// it for appending.
fn open_aof(
    disk: &Arc<dyn Disk>,
    node: &mut Node,
    clock: &Clock,
) -> io::Result<(Option<Aof>, Option<DiskLock>)> {
    let config = node.config().clone();
    if !config.appendonly {
        return Ok((None, None));
    }
    let lock = lock_aof_dir(&**disk, &config)?;
    let fatal = |e: aof::AofError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let started = tokio::time::Instant::now();
    let report = aof::load(&**disk, &config, node, clock.now()).map_err(fatal)?;
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    if report.found {
        tracing::info!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    let aof = Aof::open(disk.clone(), &config).map_err(fatal)?;
    for line in aof.startup_log() {
        tracing::info!("{line}");
    }
    Ok((Some(aof), Some(lock)))
}

/// Two nodes appending to one AOF would each replay the other's writes on restart. Redis does
/// not guard against it (nodes started in one directory share `appendonlydir`); we refuse.
fn lock_aof_dir(disk: &dyn Disk, config: &Config) -> io::Result<DiskLock> {
    disk.lock(&aof::manifest_path(config)).map_err(|e| {
        let dir = aof::aof_dir(config);
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "Sorry, the append only file directory {} is already used by another node. \
                     Please give every node its own dir or appenddirname.",
                    dir.display()
                ),
            )
        } else {
            io::Error::new(
                e.kind(),
                format!(
                    "Can't open the append only file directory {}: {}",
                    dir.display(),
                    os_error_text(&e)
                ),
            )
        }
    })
}

fn lock_config_file(disk: &dyn Disk, path: &Path, config: &Config) -> io::Result<DiskLock> {
    disk.lock(path).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "Sorry, the cluster configuration file {} is already used by a different \
                     Redis Cluster node. Please make sure that different nodes use different \
                     cluster configuration files.",
                    config.cluster_config_file
                ),
            )
        } else {
            // Redis names the file as configured (it runs inside `dir`).
            io::Error::new(
                e.kind(),
                format!(
                    "Can't open {} in order to acquire a lock: {}",
                    config.cluster_config_file,
                    os_error_text(&e)
                ),
            )
        }
    })
}

/// The IPv4 addresses to listen on: `*`/`0.0.0.0` covers everything; IPv6 entries are skipped.
fn listen_ips(bind: &[String]) -> Vec<(IpAddr, bool)> {
    let mut ips = Vec::new();
    for entry in bind {
        let (optional, text) = match entry.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, entry.as_str()),
        };
        let ip = if text == "*" {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            match text.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V4(_)) => ip,
                _ => continue,
            }
        };
        if !ips.iter().any(|(known, _)| *known == ip) {
            ips.push((ip, optional));
        }
    }
    if ips.iter().any(|(ip, _)| ip.is_unspecified()) {
        // A wildcard listener already covers the specific addresses (and a real kernel refuses
        // binding both to one port).
        ips.retain(|(ip, _)| ip.is_unspecified());
    }
    if ips.is_empty() {
        ips.push((IpAddr::V4(Ipv4Addr::UNSPECIFIED), false));
    }
    ips
}

/// How Redis names a listening address in its errors: the `bind` entry as written, without
/// the optional mark (`*`, `127.0.0.1`).
fn bind_label(bind: &[String], ip: IpAddr) -> String {
    bind.iter()
        .map(|entry| entry.strip_prefix('-').unwrap_or(entry))
        .find(|text| match *text {
            "*" => ip.is_unspecified(),
            _ => text.parse::<IpAddr>() == Ok(ip),
        })
        .map_or_else(|| ip.to_string(), str::to_string)
}

/// `Address already in use` rather than `Address already in use (os error 98)`: Redis prints
/// the bare `strerror` text and log readers match on it.
fn os_error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// Binds `port` on every `bind` address; `what` names the listener in errors as Redis does
/// (`TCP`, `cluster`).
async fn bind_listeners(bind: &[String], port: u16, what: &str) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for (ip, optional) in listen_ips(bind) {
        match TcpListener::bind(SocketAddr::new(ip, port)).await {
            Ok(listener) => listeners.push(listener),
            // As in Redis, an optional address may be missing, not taken by someone else.
            Err(e) if optional && e.kind() != io::ErrorKind::AddrInUse => {
                tracing::debug!("Skipping optional bind address {ip}:{port}: {e}")
            }
            Err(e) => {
                tracing::warn!(
                    "Warning: Could not create server TCP listening socket {}:{port}: bind: {}",
                    bind_label(bind, ip),
                    os_error_text(&e)
                );
                return Err(io::Error::new(
                    e.kind(),
                    format!("Failed listening on port {port} ({what}), aborting."),
                ));
            }
        }
    }
    Ok(listeners)
}

// ---- shared state ---------------------------------------------------------------------------

const MONO_BASE_MS: u64 = 1000;

/// Monotonic time since start and the wall clock; both virtual under madsim.
struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
        }
    }

    fn now(&self) -> Time {
        Time {
            // Core uses 0 for "never" (no ping pending, no pong yet), so time starts at 1 s.
            mono_ms: MONO_BASE_MS + self.start.elapsed().as_millis() as u64,
            unix_ms: unix_now_ms(),
        }
    }
}

#[cfg(not(madsim))]
fn unix_now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_millis() as u64
}

#[cfg(madsim)]
fn unix_now_ms() -> u64 {
    // The simulated wall clock, explicitly: it must come from the seed, not the host.
    let now = madsim::time::TimeHandle::current().now_time();
    let since_epoch = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_millis() as u64
}

/// Everything the tasks share. Lock order: `node` first, then `io`.
struct Shared {
    node: Arc<Mutex<Node>>,
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
}

struct LinkHandle {
    frames: mpsc::UnboundedSender<Bytes>,
    task: Option<AbortHandle>,
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

/// A client connection's writing side. Replies are written by the connection's own task; the
/// replication stream (replica clients only) is queued in `stream` under the node lock, so in
/// stream order, and written by any task holding `writer`: first, without waiting, by the task
/// whose input produced it ([`Shared::write_streams_now`]), and otherwise by the connection's
/// own task, woken through `wake`.
struct ClientOut {
    writer: tokio::sync::Mutex<WriteHalf<TcpStream>>,
    /// Stream bytes not written yet. Taken only by a holder of `writer`, so they go out in order.
    stream: Mutex<BytesMut>,
    wake: Notify,
}

impl ClientOut {
    fn new(writer: WriteHalf<TcpStream>) -> ClientOut {
        ClientOut {
            writer: tokio::sync::Mutex::new(writer),
            stream: Mutex::new(BytesMut::new()),
            wake: Notify::new(),
        }
    }

    fn lock_stream(&self) -> MutexGuard<'_, BytesMut> {
        self.stream.lock().expect("stream lock poisoned")
    }

    /// Writes replies (the connection's own task).
    async fn write_replies(&self, bytes: &[u8]) -> io::Result<()> {
        let mut writer = self.writer.lock().await;
        write_and_flush(&mut *writer, bytes).await
    }

    /// Writes the queued stream, waiting for the socket as long as needed (the connection's
    /// own task). Loops because more may be queued while it writes.
    async fn write_stream(&self) -> io::Result<()> {
        let mut writer = self.writer.lock().await;
        loop {
            let data = std::mem::take(&mut *self.lock_stream());
            if data.is_empty() {
                // Also delivers what an earlier non-waiting write left unflushed.
                return writer.flush().await;
            }
            writer.write_all(&data).await?;
        }
    }

    /// Writes as much of the queued stream as the socket takes without waiting. True when all
    /// of it went out; otherwise the rest stays queued, in front of anything queued meanwhile.
    fn try_write_stream(&self) -> bool {
        // Busy: the connection's own task is writing, and writes the rest after.
        let Ok(mut writer) = self.writer.try_lock() else {
            return false;
        };
        let mut data = std::mem::take(&mut *self.lock_stream());
        // A no-op waker: a `Pending` here leaves the work to the connection's task, whose own
        // poll then registers its real waker.
        let mut cx = Context::from_waker(Waker::noop());
        let mut written = 0;
        while written < data.len() {
            match Pin::new(&mut *writer).poll_write(&mut cx, &data[written..]) {
                Poll::Ready(Ok(n)) if n > 0 => written += n,
                // Errors and a closed socket are the connection task's to see and report.
                _ => break,
            }
        }
        let flushed = written == data.len()
            && matches!(
                Pin::new(&mut *writer).poll_flush(&mut cx),
                Poll::Ready(Ok(()))
            );
        if written < data.len() {
            let mut rest = data.split_off(written);
            let mut stream = self.lock_stream();
            rest.extend_from_slice(&stream);
            *stream = rest;
        }
        flushed
    }
}

/// `CloseClient` for a connection: close once the pending replies are written.
#[derive(Default)]
struct CloseSignal {
    requested: AtomicBool,
    wake: Notify,
}

impl CloseSignal {
    fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

impl Shared {
    fn lock_node(&self) -> MutexGuard<'_, Node> {
        // A poisoned lock means a node call panicked: an invariant broke, so stop loudly.
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
        let performed = self.perform_queued(node, effects);
        self.write_streams_now();
        performed
    }

    /// [`Shared::perform`] without writing the queued stream: a batch of commands writes it
    /// once, at its end.
    fn perform_queued(self: &Arc<Self>, node: &mut Node, effects: Vec<Effect>) -> bool {
        for effect in effects {
            if self.stopped() {
                return false;
            }
            match effect {
                Effect::Connect { link, ip, port } => self.connect(link, ip, port, node),
                Effect::Send { link, msg } => self.send(link, &msg),
                Effect::CloseLink { link } => self.close_link(link),
                Effect::CloseClient { client } => self.close_client(client),
                Effect::SaveConfig { contents, fsync } => self.save_config(&contents, fsync),
                Effect::AppendAof { data } => self.append_aof(node, &data),
                Effect::Log { level, text } => log(level, &text),
                Effect::Event(event) => {
                    if let Some(observer) = &self.observer {
                        observer(&event);
                    }
                }
                Effect::Crash => self.stop(Ok(Exit::Crash)),
                Effect::Shutdown => self.shutdown(),
                Effect::Sleep { ms } => self.pause(ms),
                Effect::ReplicaConnect { link, ip, port } => {
                    self.replica_connect(link, ip, port, node)
                }
                Effect::ReplicaDisconnect { link } => self.replica_disconnect(link),
                Effect::ReplicaStream { client, data } => self.queue_stream(client, &data),
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

    /// `DEBUG SLEEP`: the process hangs, as far as clients and peers can tell.
    fn pause(&self, ms: u64) {
        let until = tokio::time::Instant::now() + Duration::from_millis(ms);
        let mut io = self.lock_io();
        io.paused_until = Some(io.paused_until.map_or(until, |t| t.max(until)));
    }

    /// Waits out a `DEBUG SLEEP`. Every task calls it before feeding the node or writing
    /// replies, which is how a hung process looks from outside.
    async fn wait_while_paused(&self) {
        loop {
            let until = self.lock_io().paused_until;
            match until {
                Some(t) if t > tokio::time::Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    fn connect(self: &Arc<Self>, link: LinkId, ip: String, port: u16, node: &Node) {
        let timeout_ms = node.config().cluster_node_timeout_ms.max(TICK_INTERVAL_MS);
        let (frames, rx) = mpsc::unbounded_channel();
        let mut io = self.lock_io();
        let task = tokio::spawn(connect_link(self.clone(), link, ip, port, timeout_ms, rx));
        io.links.insert(
            link,
            LinkHandle {
                frames,
                task: Some(task.abort_handle()),
            },
        );
    }

    fn send(&self, link: LinkId, msg: &clusterlab_core::bus::Message) {
        let io = self.lock_io();
        // A link the node still uses but the driver already dropped (it broke): the node hears
        // about it through `bus_link_closed`, so the message can go.
        if let Some(handle) = io.links.get(&link) {
            let mut frame = BytesMut::new();
            bus_codec::encode(msg, &mut frame);
            let _ = handle.frames.send(frame.freeze());
        }
    }

    fn close_link(&self, link: LinkId) {
        let handle = self.lock_io().links.remove(&link);
        if let Some(LinkHandle {
            task: Some(task), ..
        }) = handle
        {
            task.abort();
        }
    }

    fn replica_connect(self: &Arc<Self>, link: ReplLinkId, ip: String, port: u16, node: &Node) {
        let timeout_ms = node.config().cluster_node_timeout_ms.max(TICK_INTERVAL_MS);
        let my_port = node.config().port;
        let mut io = self.lock_io();
        let task = tokio::spawn(replica_link(
            self.clone(),
            link,
            ip,
            port,
            my_port,
            timeout_ms,
        ));
        io.replica_links.insert(link, task.abort_handle());
    }

    fn replica_disconnect(&self, link: ReplLinkId) {
        if let Some(task) = self.lock_io().replica_links.remove(&link) {
            task.abort();
        }
    }

    /// Puts `replies` in front of the client's queued stream, so that they go out first.
    fn queue_stream_in_front(&self, client: ClientId, replies: &mut BytesMut) {
        let mut io = self.lock_io();
        if let Some(handle) = io.clients.get(&client) {
            let mut stream = handle.out.lock_stream();
            replies.extend_from_slice(&stream);
            *stream = replies.split();
            drop(stream);
            if !io.streams_to_write.contains(&client) {
                io.streams_to_write.push(client);
            }
        }
    }

    fn queue_stream(&self, client: ClientId, data: &[u8]) {
        let mut io = self.lock_io();
        if let Some(handle) = io.clients.get(&client) {
            handle.out.lock_stream().extend_from_slice(data);
            if !io.streams_to_write.contains(&client) {
                io.streams_to_write.push(client);
            }
        }
    }

    /// Writes the stream queued for each replica client to its socket now, as far as the
    /// socket takes it without waiting; the client's own task writes the rest. Called before
    /// the replies of the input that produced the stream are written.
    fn write_streams_now(&self) {
        let (outs, paused) = {
            let mut io = self.lock_io();
            let clients = std::mem::take(&mut io.streams_to_write);
            if io.stopped {
                return;
            }
            let outs: Vec<Arc<ClientOut>> = clients
                .iter()
                .filter_map(|c| io.clients.get(c).map(|h| h.out.clone()))
                .collect();
            let paused = io
                .paused_until
                .is_some_and(|t| t > tokio::time::Instant::now());
            (outs, paused)
        };
        for out in outs {
            // During a DEBUG SLEEP nothing leaves; the client's task waits it out, then writes.
            if paused || !out.try_write_stream() {
                out.wake.notify_one();
            }
        }
    }

    fn unblock_client(&self, client: ClientId, reply: &clusterlab_core::Reply, protocol: u8) {
        if let Some(handle) = self.lock_io().clients.get(&client) {
            let mut out = BytesMut::new();
            resp::encode_reply(reply, protocol, &mut out);
            let _ = handle.unblocked.send(out.freeze());
        }
    }

    fn close_client(&self, client: ClientId) {
        if let Some(handle) = self.lock_io().clients.get(&client) {
            handle.closing.request();
        }
    }

    fn save_config(&self, contents: &str, fsync: bool) {
        let path = &self.paths.nodes_conf;
        if let Err(e) = self.disk.write_atomic(path, contents.as_bytes(), fsync) {
            tracing::warn!("Could not save {}: {e}", path.display());
            tracing::warn!("Fatal: can't update cluster config file.");
            self.stop(Err(io::Error::new(
                e.kind(),
                "Fatal: can't update cluster config file.",
            )));
        }
    }

    fn append_aof(&self, node: &Node, data: &[u8]) {
        let mut io = self.lock_io();
        let Some(aof) = io.aof.as_mut() else {
            return;
        };
        // `CONFIG SET appendfsync` changes the node's config; the file follows it.
        aof.set_fsync_policy(fsync_policy(node.config()));
        if let Err(e) = aof.append(data, self.clock.now().mono_ms) {
            drop(io);
            tracing::warn!("Error writing to the AOF file: {e}");
            self.stop(Err(e));
        }
    }

    /// Makes everything appended to the AOF durable (shutdown).
    fn sync_aof(&self) -> io::Result<()> {
        match self.lock_io().aof.as_mut() {
            Some(aof) => aof.flush_and_sync(),
            None => Ok(()),
        }
    }

    /// The `everysec` background sync.
    fn tick_aof(&self, node: &Node) -> io::Result<()> {
        match self.lock_io().aof.as_mut() {
            Some(aof) => {
                aof.set_fsync_policy(fsync_policy(node.config()));
                aof.tick(self.clock.now().mono_ms)
            }
            None => Ok(()),
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

// ---- clients --------------------------------------------------------------------------------

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

fn register_client(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .map_or_else(|_| String::from("?:0"), |a| a.to_string());
    let mut node = shared.lock_node();
    if shared.stopped() {
        return;
    }
    let now = shared.clock.now();
    let client = node.client_connected(now, peer.to_string(), local);
    tracing::debug!("Accepted {peer}");
    let closing = Arc::new(CloseSignal::default());
    let (reader, writer) = tokio::io::split(stream);
    let out = Arc::new(ClientOut::new(writer));
    let (unblocked, unblocked_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(serve_client(
        shared.clone(),
        reader,
        client,
        closing.clone(),
        ClientInbox {
            out: out.clone(),
            unblocked: unblocked_rx,
        },
    ));
    // Registered under the node lock, which the task needs first: it cannot finish (and
    // unregister) before this entry exists.
    shared.lock_io().clients.insert(
        client,
        ClientHandle {
            closing,
            task: Some(task.abort_handle()),
            out,
            unblocked,
        },
    );
    let effects = node.take_effects();
    shared.perform(&mut node, effects);
}

/// What to do with a connection after a batch of requests.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    /// Write the replies and keep reading.
    Continue,
    /// Write the replies (the last one is a protocol error), then close.
    Close,
    /// The node stopped: close without writing anything.
    Stop,
    /// A MIGRATE must talk to its target before this client's next reply.
    Migrate(MigrateJob),
    /// The last command blocked (`WAIT`, a paused write): write the replies so far, then wait
    /// for its reply before running the rest of the input.
    Blocked,
}

/// What a client task gets besides its input: its writing side (with the replication stream,
/// for a replica client) and the replies that unblock it.
struct ClientInbox {
    out: Arc<ClientOut>,
    unblocked: mpsc::UnboundedReceiver<Bytes>,
}

/// Takes the client's own `BlockClient` out of its command's effects.
fn take_block(effects: &mut Vec<Effect>, client: ClientId) -> bool {
    let at = effects
        .iter()
        .position(|e| matches!(e, Effect::BlockClient { client: c } if *c == client));
    at.map(|at| effects.remove(at)).is_some()
}

/// Waits for a blocked client's reply, still reading its input (kept for later) so that a
/// client that goes away is noticed. `None`: the connection is closing.
async fn wait_unblocked<R: tokio::io::AsyncRead + Unpin>(
    closing: &CloseSignal,
    reader: &mut R,
    input: &mut BytesMut,
    unblocked: &mut mpsc::UnboundedReceiver<Bytes>,
) -> Option<Bytes> {
    loop {
        if closing.is_requested() {
            return None;
        }
        tokio::select! {
            biased;
            _ = closing.wake.notified() => {}
            reply = unblocked.recv() => return reply,
            read = reader.read_buf(input) => match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            },
        }
    }
}

/// Pulls the MIGRATE job (at most one per command) out of a command's effects.
fn take_migrate(effects: &mut Vec<Effect>) -> Option<MigrateJob> {
    let at = effects
        .iter()
        .position(|e| matches!(e, Effect::Migrate(_)))?;
    match effects.remove(at) {
        Effect::Migrate(job) => Some(job),
        _ => unreachable!("position checked the variant"),
    }
}

/// Sends a MIGRATE job's requests to its target over a fresh connection, within its timeout.
async fn migrate_to_target(job: &MigrateJob) -> MigrateOutcome {
    let timeout = Duration::from_millis(job.timeout_ms);
    let addr = format!("{}:{}", job.host, job.port);
    let connected = tokio::time::timeout(timeout, client::Connection::connect(&addr)).await;
    let Ok(Ok(mut conn)) = connected else {
        return MigrateOutcome::ConnectFailed;
    };
    for request in &job.requests {
        let args: Vec<&[u8]> = request.iter().map(|a| a.as_ref()).collect();
        match tokio::time::timeout(timeout, conn.send(&args)).await {
            Ok(Ok(())) => {}
            _ => return MigrateOutcome::WriteFailed,
        }
    }
    let mut replies = Vec::with_capacity(job.requests.len());
    for _ in &job.requests {
        match tokio::time::timeout(timeout, conn.read_reply()).await {
            Ok(Ok(reply)) => replies.push(reply),
            _ => return MigrateOutcome::ReadFailed,
        }
    }
    MigrateOutcome::Replies(replies)
}

async fn serve_client(
    shared: Arc<Shared>,
    mut reader: ReadHalf<TcpStream>,
    client: ClientId,
    closing: Arc<CloseSignal>,
    inbox: ClientInbox,
) {
    let ClientInbox { out, mut unblocked } = inbox;
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::new();
    loop {
        shared.wait_while_paused().await;
        let step = shared.run_requests(client, &closing, &mut input, &mut output);
        if step == Step::Stop {
            return;
        }
        if let Step::Migrate(job) = step {
            // Replies so far go out first; the rest of the input waits for this one.
            if out.write_replies(&output).await.is_err() {
                break;
            }
            output.clear();
            shared.run_migrate(job, &mut output).await;
            continue;
        }
        if step == Step::Blocked {
            if out.write_replies(&output).await.is_err() {
                break;
            }
            output.clear();
            match wait_unblocked(&closing, &mut reader, &mut input, &mut unblocked).await {
                Some(reply) => output.extend_from_slice(&reply),
                None => break,
            }
            continue;
        }
        // A DEBUG SLEEP sent in this batch holds its own reply back too.
        shared.wait_while_paused().await;
        if !output.is_empty() {
            let written = out.write_replies(&output).await;
            output.clear();
            if written.is_err() {
                break;
            }
        }
        if step == Step::Close || closing.is_requested() {
            break;
        }
        tokio::select! {
            biased;
            _ = closing.wake.notified() => {}
            // Stream bytes the task that produced them could not write at once.
            _ = out.wake.notified() => {
                shared.wait_while_paused().await;
                if out.write_stream().await.is_err() {
                    break;
                }
            }
            read = reader.read_buf(&mut input) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
        }
    }
    shared.wait_while_paused().await;
    shared.client_gone(client);
}

async fn write_and_flush<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
) -> io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}

impl Shared {
    /// Parses every complete request in `input` and runs them under one lock, appending the
    /// encoded replies to `output`. Requests before a malformed one still run, as in Redis;
    /// none run after one that closes the connection (`QUIT`, `CLIENT KILL` of itself).
    /// The replication stream the batch produced is on the replicas' sockets (as far as they
    /// take it) before this returns, so before the replies are written.
    fn run_requests(
        self: &Arc<Self>,
        client: ClientId,
        closing: &CloseSignal,
        input: &mut BytesMut,
        output: &mut BytesMut,
    ) -> Step {
        let step = self.run_batch(client, closing, input, output);
        self.write_streams_now();
        step
    }

    fn run_batch(
        self: &Arc<Self>,
        client: ClientId,
        closing: &CloseSignal,
        input: &mut BytesMut,
        output: &mut BytesMut,
    ) -> Step {
        // Parsed one at a time so that requests after a MIGRATE stay in `input` until its
        // reply is known.
        // The clock is read once per batch, right after locking (so times never go back
        // between tasks), as Redis reads it once per event-loop turn.
        let mut locked: Option<(MutexGuard<'_, Node>, Time)> = None;
        loop {
            let args = match resp::parse_request(input) {
                Ok(Some(args)) if args.is_empty() => continue,
                Ok(Some(args)) => args,
                Ok(None) => return Step::Continue,
                Err(e) => {
                    tracing::debug!("Protocol error from client {client}: {e}");
                    output.extend_from_slice(b"-");
                    output.extend_from_slice(e.to_string().as_bytes());
                    output.extend_from_slice(b"\r\n");
                    return Step::Close;
                }
            };
            let (node, now) = locked.get_or_insert_with(|| {
                let node = self.lock_node();
                (node, self.clock.now())
            });
            if self.stopped() {
                return Step::Stop;
            }
            // A replica client (after its PSYNC) gets the stream and no replies, as in Redis.
            let quiet = node.is_replica_client(client);
            let reply = node.command(*now, client, &args);
            let mut effects = node.take_effects();
            let migrate = take_migrate(&mut effects);
            let blocked = take_block(&mut effects, client);
            if !self.perform_queued(node, effects) {
                return Step::Stop;
            }
            if let Some(job) = migrate {
                return Step::Migrate(job);
            }
            if blocked {
                return Step::Blocked;
            }
            if !quiet {
                resp::encode_reply(&reply, node.client_protocol(client), output);
                if node.is_replica_client(client) {
                    // PSYNC: its reply (and any before it) precedes the snapshot it queued.
                    self.queue_stream_in_front(client, output);
                }
            }
            if closing.is_requested() {
                return Step::Close;
            }
        }
    }

    /// Talks to the MIGRATE target without holding the node, then lets the node finish.
    async fn run_migrate(self: &Arc<Self>, job: MigrateJob, output: &mut BytesMut) {
        let outcome = migrate_to_target(&job).await;
        let mut node = self.lock_node();
        if self.stopped() {
            return;
        }
        let client = job.client;
        let reply = node.migrate_finished(self.clock.now(), job, outcome);
        let effects = node.take_effects();
        if self.perform(&mut node, effects) {
            resp::encode_reply(&reply, node.client_protocol(client), output);
        }
    }

    fn client_gone(self: &Arc<Self>, client: ClientId) {
        let mut node = self.lock_node();
        self.lock_io().clients.remove(&client);
        if self.stopped() {
            return;
        }
        node.client_disconnected(client);
        let effects = node.take_effects();
        self.perform(&mut node, effects);
    }
}

// ---- cluster bus ----------------------------------------------------------------------------

fn register_inbound_link(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let local_ip = stream
        .local_addr()
        .map_or_else(|_| String::new(), |a| a.ip().to_string());
    let mut node = shared.lock_node();
    if shared.stopped() {
        return;
    }
    let link = node.bus_link_accepted(shared.clock.now(), peer.ip().to_string(), local_ip);
    tracing::debug!("Accepted cluster node {peer} as link {link}");
    let (frames, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(link_io(shared.clone(), link, stream, rx));
    // Before the effects: messages the node sends on the new link must find it.
    shared.lock_io().links.insert(
        link,
        LinkHandle {
            frames,
            task: Some(task.abort_handle()),
        },
    );
    let effects = node.take_effects();
    shared.perform(&mut node, effects);
}

/// An outbound link: connect (bounded by the node timeout), report it, then serve it.
async fn connect_link(
    shared: Arc<Shared>,
    link: LinkId,
    ip: String,
    port: u16,
    timeout_ms: u64,
    frames: mpsc::UnboundedReceiver<Bytes>,
) {
    let connect = TcpStream::connect((ip.as_str(), port));
    match tokio::time::timeout(Duration::from_millis(timeout_ms), connect).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            shared.wait_while_paused().await;
            if shared.link_connected(link) {
                link_io(shared, link, stream, frames).await;
            }
        }
        Ok(Err(e)) => {
            tracing::debug!("Connecting link {link} to {ip}:{port}: {e}");
            shared.wait_while_paused().await;
            shared.link_broken(link);
        }
        Err(_) => {
            tracing::debug!("Connecting link {link} to {ip}:{port}: timed out");
            shared.wait_while_paused().await;
            shared.link_broken(link);
        }
    }
}

/// Reads and decodes messages until the link breaks; a writer task drains `frames`.
async fn link_io(
    shared: Arc<Shared>,
    link: LinkId,
    stream: TcpStream,
    frames: mpsc::UnboundedReceiver<Bytes>,
) {
    let (mut reader, writer) = tokio::io::split(stream);
    let mut writer_task = AbortOnDrop::spawn(write_frames(writer, frames));
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    loop {
        tokio::select! {
            biased;
            _ = &mut writer_task.0 => break,
            read = reader.read_buf(&mut input) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
        }
        shared.wait_while_paused().await;
        let (messages, bad_frame) = decode_all(&mut input);
        if let Some(e) = &bad_frame {
            tracing::warn!("Closing cluster bus link {link}: {e}");
        }
        if !shared.deliver(link, messages) || bad_frame.is_some() {
            break;
        }
    }
    shared.wait_while_paused().await;
    shared.link_broken(link);
}

/// Every complete message in `input`, and the decode error that stopped the scan, if any.
fn decode_all(
    input: &mut BytesMut,
) -> (
    Vec<clusterlab_core::bus::Message>,
    Option<bus_codec::BusCodecError>,
) {
    let mut messages = Vec::new();
    loop {
        match bus_codec::decode(input) {
            Ok(Some(msg)) => messages.push(msg),
            Ok(None) => return (messages, None),
            Err(e) => return (messages, Some(e)),
        }
    }
}

async fn write_frames<W: tokio::io::AsyncWrite + Unpin>(
    mut writer: W,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut batch = BytesMut::new();
    while let Some(frame) = frames.recv().await {
        batch.extend_from_slice(&frame);
        while let Ok(more) = frames.try_recv() {
            batch.extend_from_slice(&more);
        }
        if write_and_flush(&mut writer, &batch).await.is_err() {
            return;
        }
        batch.clear();
    }
}

impl Shared {
    /// Reports an outbound link as up; false when the node dropped it meanwhile.
    fn link_connected(self: &Arc<Self>, link: LinkId) -> bool {
        let mut node = self.lock_node();
        if self.stopped() || !self.lock_io().links.contains_key(&link) {
            return false;
        }
        node.bus_link_connected(self.clock.now(), link);
        let effects = node.take_effects();
        self.perform(&mut node, effects)
    }

    /// Feeds messages to the node; false when the link is gone (closed by the node) or the
    /// node stopped, so the reader must stop.
    fn deliver(
        self: &Arc<Self>,
        link: LinkId,
        messages: Vec<clusterlab_core::bus::Message>,
    ) -> bool {
        if messages.is_empty() {
            return true;
        }
        let mut node = self.lock_node();
        for msg in messages {
            if self.stopped() || !self.lock_io().links.contains_key(&link) {
                return false;
            }
            node.bus_message(self.clock.now(), link, msg);
            let effects = node.take_effects();
            if !self.perform(&mut node, effects) {
                return false;
            }
        }
        true
    }

    /// The link failed to connect or broke: tell the node, unless the node closed it itself
    /// (then it expects nothing more about it).
    fn link_broken(self: &Arc<Self>, link: LinkId) {
        let mut node = self.lock_node();
        let removed = self.lock_io().links.remove(&link);
        if removed.is_none() || self.stopped() {
            return;
        }
        node.bus_link_closed(self.clock.now(), link);
        let effects = node.take_effects();
        self.perform(&mut node, effects);
    }
}

// ---- replication (replica side) -----------------------------------------------------------

/// Why a replica link ended.
#[derive(Debug)]
enum LinkEnd {
    /// The node dropped the link (it said so, or it stopped): report nothing.
    Unwanted,
    /// Connect, handshake or stream failure: report the link down.
    Broken(String),
}

/// The replica's connection to its master: handshake, then apply the stream and acknowledge
/// the offset every second (see `clusterlab_core::replication`).
async fn replica_link(
    shared: Arc<Shared>,
    link: ReplLinkId,
    ip: String,
    port: u16,
    my_port: u16,
    timeout_ms: u64,
) {
    let end = run_replica_link(&shared, link, &ip, port, my_port, timeout_ms).await;
    if let LinkEnd::Broken(why) = end {
        tracing::debug!("Replication link {link} to {ip}:{port}: {why}");
        shared.wait_while_paused().await;
        shared.replica_link_broken(link);
    }
}

async fn run_replica_link(
    shared: &Arc<Shared>,
    link: ReplLinkId,
    ip: &str,
    port: u16,
    my_port: u16,
    timeout_ms: u64,
) -> LinkEnd {
    let timeout = Duration::from_millis(timeout_ms);
    let stream = match tokio::time::timeout(timeout, TcpStream::connect((ip, port))).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return LinkEnd::Broken(format!("connect: {e}")),
        Err(_) => return LinkEnd::Broken("connect timed out".into()),
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let port_text = my_port.to_string();
    let handshake: [&[&str]; 2] = [
        &["REPLCONF", "listening-port", &port_text],
        &["PSYNC", "?", "-1"],
    ];
    let mut last = clusterlab_core::Reply::Nil;
    for request in handshake {
        let mut out = BytesMut::new();
        resp::encode_request(request, &mut out);
        if write_and_flush(&mut writer, &out).await.is_err() {
            return LinkEnd::Broken("write failed".into());
        }
        last = match tokio::time::timeout(timeout, read_one_reply(&mut reader, &mut input)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return LinkEnd::Broken(e),
            Err(_) => return LinkEnd::Broken("handshake timed out".into()),
        };
        if last.is_error() {
            return LinkEnd::Broken(format!("{request:?}: {last:?}"));
        }
    }
    let Some((replid, offset)) = parse_fullresync(&last) else {
        return LinkEnd::Broken(format!("unexpected PSYNC reply {last:?}"));
    };
    shared.wait_while_paused().await;
    if !shared.replica_link_up(link, &replid, offset) {
        return LinkEnd::Unwanted;
    }
    let mut ack = tokio::time::interval(Duration::from_millis(REPLICA_ACK_INTERVAL_MS));
    loop {
        if !input.is_empty() {
            shared.wait_while_paused().await;
            let mut ack_now = None;
            match shared.replica_apply(link, &mut input, &mut ack_now) {
                Ok(true) => {}
                Ok(false) => return LinkEnd::Unwanted,
                Err(e) => return LinkEnd::Broken(e),
            }
            // The master asked (GETACK): acknowledge at once rather than at the next tick.
            if let Some(offset) = ack_now {
                let mut out = BytesMut::new();
                resp::encode_request(&["REPLCONF", "ACK", &offset.to_string()], &mut out);
                if write_and_flush(&mut writer, &out).await.is_err() {
                    return LinkEnd::Broken("ACK write failed".into());
                }
            }
        }
        tokio::select! {
            biased;
            _ = ack.tick() => {
                shared.wait_while_paused().await;
                let Some(offset) = shared.replica_offset(link) else {
                    return LinkEnd::Unwanted;
                };
                let mut out = BytesMut::new();
                resp::encode_request(&["REPLCONF", "ACK", &offset.to_string()], &mut out);
                if write_and_flush(&mut writer, &out).await.is_err() {
                    return LinkEnd::Broken("ACK write failed".into());
                }
            }
            read = reader.read_buf(&mut input) => match read {
                Ok(0) => return LinkEnd::Broken("master closed the connection".into()),
                Err(e) => return LinkEnd::Broken(format!("read: {e}")),
                Ok(_) => {}
            },
        }
    }
}

/// Reads until one whole reply is in `input`, and removes it.
async fn read_one_reply<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    input: &mut BytesMut,
) -> Result<clusterlab_core::Reply, String> {
    loop {
        match resp::parse_reply(input) {
            Ok(Some(reply)) => return Ok(reply),
            Ok(None) => {}
            Err(e) => return Err(format!("bad reply: {e}")),
        }
        match reader.read_buf(input).await {
            Ok(0) => return Err("master closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// `+FULLRESYNC <replid> <offset>` → its two fields.
fn parse_fullresync(reply: &clusterlab_core::Reply) -> Option<(String, u64)> {
    let clusterlab_core::Reply::Simple(text) = reply else {
        return None;
    };
    let mut words = text.split(' ');
    if words.next()? != "FULLRESYNC" {
        return None;
    }
    let replid = words.next()?.to_string();
    let offset = words.next()?.parse().ok()?;
    Some((replid, offset))
}

impl Shared {
    /// True when the node still wants the link (the driver keeps it in `replica_links`).
    fn replica_link_wanted(&self, link: ReplLinkId) -> bool {
        !self.stopped() && self.lock_io().replica_links.contains_key(&link)
    }

    fn replica_link_up(self: &Arc<Self>, link: ReplLinkId, replid: &str, offset: u64) -> bool {
        let mut node = self.lock_node();
        if !self.replica_link_wanted(link) {
            return false;
        }
        let up = node.replication_link_up(self.clock.now(), link, replid, offset);
        let effects = node.take_effects();
        self.perform(&mut node, effects) && up
    }

    /// Applies every complete command in `input` under one lock. `Ok(false)`: link unwanted.
    /// `ack_now` gets the offset to acknowledge at once, if the master asked for it.
    fn replica_apply(
        self: &Arc<Self>,
        link: ReplLinkId,
        input: &mut BytesMut,
        ack_now: &mut Option<u64>,
    ) -> Result<bool, String> {
        let mut node = self.lock_node();
        let now = self.clock.now();
        loop {
            if !self.replica_link_wanted(link) {
                return Ok(false);
            }
            let before = input.len();
            let args = match resp::parse_request(input) {
                Ok(Some(args)) => args,
                Ok(None) => return Ok(true),
                Err(e) => return Err(format!("bad stream: {e}")),
            };
            let bytes_len = (before - input.len()) as u64;
            let applied = node.replication_apply(now, link, &args, bytes_len);
            let mut effects = node.take_effects();
            effects.retain(|e| match e {
                Effect::ReplicaAck { link: l, offset } if *l == link => {
                    *ack_now = Some(*offset);
                    false
                }
                _ => true,
            });
            if !self.perform(&mut node, effects) || !applied {
                return Ok(false);
            }
        }
    }

    fn replica_offset(&self, link: ReplLinkId) -> Option<u64> {
        let node = self.lock_node();
        self.replica_link_wanted(link)
            .then(|| node.replication_offset())
    }

    fn replica_link_broken(self: &Arc<Self>, link: ReplLinkId) {
        let mut node = self.lock_node();
        let removed = self.lock_io().replica_links.remove(&link);
        if removed.is_none() || self.stopped() {
            return;
        }
        node.replication_link_down(self.clock.now(), link);
        let effects = node.take_effects();
        self.perform(&mut node, effects);
    }
}

// ---- cron -----------------------------------------------------------------------------------

async fn tick(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(Duration::from_millis(TICK_INTERVAL_MS)).await;
        shared.wait_while_paused().await;
        if !shared.tick_once() {
            return;
        }
    }
}

impl Shared {
    fn tick_once(self: &Arc<Self>) -> bool {
        let mut node = self.lock_node();
        if self.stopped() {
            return false;
        }
        node.tick(self.clock.now());
        let effects = node.take_effects();
        if !self.perform(&mut node, effects) {
            return false;
        }
        if let Err(e) = self.tick_aof(&node) {
            tracing::warn!("Error syncing the AOF file: {e}");
            self.stop(Err(e));
            return false;
        }
        true
    }
}

/// The AOF's fsync policy: the configured one, unless the `aof-no-fsync` canary (simulation
/// build only) drops the syncs `always` promises.
fn fsync_policy(config: &Config) -> AppendFsync {
    let policy = config.appendfsync;
    if policy == AppendFsync::Always && config.canaries.on(Canary::AofNoFsync) {
        return AppendFsync::No;
    }
    policy
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use crate::disk::MemDisk;
    use clusterlab_core::bus::{Body, Header, Message, MessageType};
    use clusterlab_core::config::DebugCommand;
    use clusterlab_core::slot::SlotSet;
    use clusterlab_core::NodeId;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn listen_errors_name_the_address_as_configured() {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(bind_label(&words(&["*", "-::*"]), any), "*");
        assert_eq!(bind_label(&words(&["0.0.0.0"]), any), "0.0.0.0");
        assert_eq!(bind_label(&words(&["-127.0.0.1"]), lo), "127.0.0.1");
        // The default when nothing usable was configured.
        assert_eq!(bind_label(&words(&["::1"]), any), "0.0.0.0");
        let in_use = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(os_error_text(&in_use), "Address already in use");
    }

    #[tokio::test]
    async fn a_port_in_use_is_reported_as_redis_does() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = bind_listeners(&words(&["127.0.0.1"]), port, "TCP")
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!("Failed listening on port {port} (TCP), aborting.")
        );
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // Optional addresses may be absent, but one taken by someone else is still fatal.
        let err = bind_listeners(&words(&["-127.0.0.1"]), port, "cluster")
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!("Failed listening on port {port} (cluster), aborting.")
        );
    }

    #[test]
    fn an_unopenable_config_file_is_named_as_configured() {
        struct Refusing;
        impl Disk for Refusing {
            fn write_atomic(&self, _: &Path, _: &[u8], _: bool) -> io::Result<()> {
                unreachable!()
            }
            fn read(&self, _: &Path) -> io::Result<Option<Vec<u8>>> {
                unreachable!()
            }
            fn append(&self, _: &Path, _: &[u8]) -> io::Result<()> {
                unreachable!()
            }
            fn sync(&self, _: &Path) -> io::Result<()> {
                unreachable!()
            }
            fn truncate(&self, _: &Path, _: u64) -> io::Result<()> {
                unreachable!()
            }
            fn lock(&self, _: &Path) -> io::Result<DiskLock> {
                Err(io::Error::from_raw_os_error(libc::ENOENT))
            }
        }
        let config = Config {
            cluster_config_file: "nodes-7001.conf".into(),
            ..Config::default()
        };
        let path = Path::new("/somewhere/nodes-7001.conf");
        let err = lock_config_file(&Refusing, path, &config).err().unwrap();
        assert_eq!(
            err.to_string(),
            "Can't open nodes-7001.conf in order to acquire a lock: No such file or directory"
        );
    }

    #[test]
    fn bind_addresses_follow_redis_rules() {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(listen_ips(&words(&["*", "-::*"])), vec![(any, false)]);
        assert_eq!(listen_ips(&words(&["127.0.0.1"])), vec![(lo, false)]);
        assert_eq!(
            listen_ips(&words(&["127.0.0.1", "-10.0.0.9", "::1"])),
            vec![(lo, false), ("10.0.0.9".parse().unwrap(), true)]
        );
        assert_eq!(
            listen_ips(&words(&["127.0.0.1", "0.0.0.0"])),
            vec![(any, false)]
        );
        assert_eq!(listen_ips(&words(&["-::*"])), vec![(any, false)]);
    }

    #[test]
    fn a_locked_config_file_gives_redis_message() {
        let disk = MemDisk::new();
        let config = Config {
            cluster_config_file: "nodes-7001.conf".into(),
            ..Config::default()
        };
        let path = Path::new("nodes-7001.conf");
        let _held = lock_config_file(&disk, path, &config).unwrap();
        let err = lock_config_file(&disk, path, &config).err().unwrap();
        assert_eq!(
            err.to_string(),
            "Sorry, the cluster configuration file nodes-7001.conf is already used by a \
             different Redis Cluster node. Please make sure that different nodes use different \
             cluster configuration files."
        );
    }

    fn local_config() -> Config {
        Config {
            port: 0,
            bind: words(&["127.0.0.1"]),
            dir: "data".into(),
            enable_debug_command: DebugCommand::Yes,
            ..Config::default()
        }
    }

    async fn start(
        config: Config,
        disk: MemDisk,
    ) -> (SocketAddr, Arc<Shared>, JoinHandle<io::Result<Exit>>) {
        let server = Server::bind(config, 7, Arc::new(disk)).await.unwrap();
        let addr = server.client_addr().unwrap();
        let shared = server.shared.clone();
        (addr, shared, tokio::spawn(server.serve()))
    }

    async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
        let mut all = Vec::new();
        let read = stream.read_to_end(&mut all);
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("connection not closed in time")
            .unwrap();
        all
    }

    async fn roundtrip(stream: &mut TcpStream, request: &[u8], reply_len: usize) -> Vec<u8> {
        stream.write_all(request).await.unwrap();
        read_exactly(stream, reply_len).await
    }

    #[tokio::test]
    async fn pipelined_requests_run_before_a_protocol_error_closes_the_connection() {
        let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
        let mut bad = TcpStream::connect(addr).await.unwrap();
        let mut good = TcpStream::connect(addr).await.unwrap();
        bad.write_all(b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n")
            .await
            .unwrap();
        assert_eq!(
            read_to_end(&mut bad).await,
            b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"
        );
        assert_eq!(
            roundtrip(&mut good, b"*1\r\n$4\r\nPING\r\n", 7).await,
            b"+PONG\r\n"
        );
    }

    #[tokio::test]
    async fn quit_answers_then_closes_without_running_the_rest() {
        let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"PING\r\nQUIT\r\nPING\r\n").await.unwrap();
        assert_eq!(read_to_end(&mut conn).await, b"+PONG\r\n+OK\r\n");
    }

    #[tokio::test]
    async fn requests_split_across_reads_are_answered_once_complete() {
        let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel")
            .await
            .unwrap();
        conn.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            roundtrip(&mut conn, b"lo\r\n", 11).await,
            b"$5\r\nhello\r\n"
        );
    }

    #[tokio::test]
    async fn shutdown_handle_stops_serving_and_frees_the_port() {
        let (addr, shared, serving) = start(local_config(), MemDisk::new()).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        assert_eq!(roundtrip(&mut conn, b"PING\r\n", 7).await, b"+PONG\r\n");
        ShutdownHandle { shared }.shutdown();
        let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
        assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Shutdown);
        assert_eq!(read_to_end(&mut conn).await, b"");
        assert!(TcpListener::bind(addr).await.is_ok(), "port still bound");
    }

    #[tokio::test]
    async fn debug_segfault_crashes_without_a_reply() {
        let (addr, _shared, serving) = start(local_config(), MemDisk::new()).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"DEBUG SEGFAULT\r\nPING\r\n").await.unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
        assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Crash);
        assert_eq!(read_to_end(&mut conn).await, b"");
    }

    #[tokio::test]
    async fn debug_sleep_holds_every_client() {
        let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
        let mut sleeper = TcpStream::connect(addr).await.unwrap();
        let mut other = TcpStream::connect(addr).await.unwrap();
        let started = tokio::time::Instant::now();
        sleeper.write_all(b"DEBUG SLEEP 0.3\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(roundtrip(&mut other, b"PING\r\n", 7).await, b"+PONG\r\n");
        assert!(
            started.elapsed() >= Duration::from_millis(280),
            "PING answered during sleep"
        );
        assert_eq!(roundtrip(&mut sleeper, b"", 5).await, b"+OK\r\n");
    }

    const INCR: &str = "data/appendonlydir/appendonly.aof.1.incr.aof";

    fn aof_config(appendfsync: AppendFsync) -> Config {
        Config {
            appendonly: true,
            appendfsync,
            ..local_config()
        }
    }

    fn perform_now(shared: &Arc<Shared>, effects: Vec<Effect>) -> bool {
        let mut node = shared.lock_node();
        shared.perform(&mut node, effects)
    }

    fn append(data: &'static [u8]) -> Effect {
        Effect::AppendAof {
            data: Bytes::from_static(data),
        }
    }

    fn save(contents: &str, fsync: bool) -> Effect {
        Effect::SaveConfig {
            contents: contents.into(),
            fsync,
        }
    }

    #[tokio::test]
    async fn effects_persist_in_order_and_stop_at_a_crash() {
        let disk = MemDisk::new();
        let config = aof_config(AppendFsync::Everysec);
        let (_addr, shared, serving) = start(config, disk.clone()).await;
        let conf = Path::new("data/nodes.conf");
        let incr = Path::new(INCR);
        let effects = vec![
            save("v1", true),
            append(b"a"),
            save("v2", false),
            append(b"b"),
        ];
        assert!(perform_now(&shared, effects));
        assert_eq!(disk.read(conf).unwrap(), Some(b"v2".to_vec()));
        assert_eq!(disk.read(incr).unwrap(), Some(b"ab".to_vec()));

        let effects = vec![append(b"c"), Effect::Crash, save("after the crash", true)];
        assert!(!perform_now(&shared, effects));
        // The append before the crash happened, the save after it did not.
        assert_eq!(disk.read(incr).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(disk.read(conf).unwrap(), Some(b"v2".to_vec()));
        let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
        assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Crash);
        // everysec synced the first append at once; the rest was still in flight.
        disk.lose_unsynced_writes();
        assert_eq!(disk.read(conf).unwrap(), Some(b"v1".to_vec()));
        assert_eq!(disk.read(incr).unwrap(), Some(b"a".to_vec()));
    }

    #[tokio::test]
    async fn appendfsync_always_syncs_before_returning() {
        let disk = MemDisk::new();
        let (_addr, shared, _serving) = start(aof_config(AppendFsync::Always), disk.clone()).await;
        assert!(perform_now(&shared, vec![append(b"x"), append(b"y")]));
        disk.lose_unsynced_writes();
        assert_eq!(disk.read(Path::new(INCR)).unwrap(), Some(b"xy".to_vec()));
    }

    #[tokio::test]
    async fn shutdown_syncs_the_aof() {
        let disk = MemDisk::new();
        let (_addr, shared, serving) = start(aof_config(AppendFsync::No), disk.clone()).await;
        assert!(perform_now(&shared, vec![append(b"x")]));
        ShutdownHandle { shared }.shutdown();
        let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
        assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Shutdown);
        disk.lose_unsynced_writes();
        assert_eq!(disk.read(Path::new(INCR)).unwrap(), Some(b"x".to_vec()));
    }

    #[tokio::test]
    async fn writes_come_back_from_the_aof_after_a_restart() {
        let disk = MemDisk::new();
        let config = aof_config(AppendFsync::Always);
        let (addr, shared, serving) = start(config.clone(), disk.clone()).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n";
        assert_eq!(roundtrip(&mut conn, set, 5).await, b"+OK\r\n");
        ShutdownHandle { shared }.shutdown();
        assert_eq!(serving.await.unwrap().unwrap(), Exit::Shutdown);

        let (addr, _shared, _serving) = start(config, disk).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(roundtrip(&mut conn, get, 8).await, b"$2\r\nv1\r\n");
    }

    /// A port nobody listens on right now (for the bus of in-process cluster nodes).
    async fn unused_port() -> u16 {
        let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
        probe.local_addr().unwrap().port()
    }

    async fn cluster_config() -> Config {
        Config {
            cluster_enabled: true,
            cluster_port: unused_port().await,
            ..local_config()
        }
    }

    #[tokio::test]
    async fn a_first_start_writes_nodes_conf_and_a_restart_keeps_the_id() {
        let disk = MemDisk::new();
        let server = Server::bind(cluster_config().await, 1, Arc::new(disk.clone()))
            .await
            .unwrap();
        let first_id = server.node().lock().unwrap().myself();
        let saved = disk.read(Path::new("data/nodes.conf")).unwrap().unwrap();
        let saved = String::from_utf8(saved).unwrap();
        assert!(
            saved.starts_with(&format!("{first_id} :0@")),
            "nodes.conf: {saved}"
        );
        assert!(saved.contains("myself,master"), "nodes.conf: {saved}");
        // The lock is held while the node lives...
        let again = Server::bind(cluster_config().await, 2, Arc::new(disk.clone())).await;
        assert!(again
            .err()
            .unwrap()
            .to_string()
            .starts_with("Sorry, the cluster configuration file"));
        drop(server);
        // ...and a restart with another seed still comes back as the same node.
        let server = Server::bind(cluster_config().await, 2, Arc::new(disk.clone()))
            .await
            .unwrap();
        assert_eq!(server.node().lock().unwrap().myself(), first_id);
    }

    #[tokio::test]
    async fn a_corrupt_nodes_conf_stops_the_start() {
        let disk = MemDisk::new();
        disk.write_atomic(Path::new("data/nodes.conf"), b"garbage\n", true)
            .unwrap();
        let err = Server::bind(cluster_config().await, 1, Arc::new(disk))
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "Unrecoverable error: corrupted cluster config file."
        );
    }

    /// Sends a command on a fresh connection and returns the reply as text.
    async fn ask(addr: SocketAddr, args: &[&str]) -> String {
        let mut conn = client::Connection::connect(&addr.to_string())
            .await
            .unwrap();
        reply_text(conn.command_str(args).await.unwrap())
    }

    fn reply_text(reply: clusterlab_core::Reply) -> String {
        use clusterlab_core::Reply;
        match reply {
            Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            Reply::Simple(s) | Reply::Error(s) | Reply::Verbatim(_, s) => s,
            Reply::Integer(n) => n.to_string(),
            Reply::Nil => "(nil)".into(),
            other => format!("{other:?}"),
        }
    }

    /// The value of one `INFO replication` field.
    async fn repl_field(addr: SocketAddr, name: &str) -> String {
        let info = ask(addr, &["INFO", "replication"]).await;
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_default()
            .to_string()
    }

    /// Polls `check` every 50 ms for up to 10 s.
    async fn eventually<F, Fut>(what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..200 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn a_replica_copies_its_masters_keys_then_follows_its_writes() {
        let master_config = Config {
            port: unused_port().await,
            ..cluster_config().await
        };
        let replica_config = Config {
            port: unused_port().await,
            appendonly: true,
            ..cluster_config().await
        };
        let replica_disk = MemDisk::new();
        let (m, m_shared, _m_serving) = start(master_config.clone(), MemDisk::new()).await;
        // Its own seed, or both nodes would draw the same ID.
        let server = Server::bind(replica_config, 8, Arc::new(replica_disk.clone()))
            .await
            .unwrap();
        let r = server.client_addr().unwrap();
        let _r_serving = tokio::spawn(server.serve());
        assert_eq!(
            ask(m, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).await,
            "OK"
        );
        eventually("the master's cluster_state:ok", || async {
            ask(m, &["CLUSTER", "INFO"])
                .await
                .contains("cluster_state:ok")
        })
        .await;
        for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
            assert_eq!(ask(m, &["SET", k, v]).await, "OK");
        }
        assert_eq!(ask(m, &["PEXPIRE", "c", "100000"]).await, "1");
        let port = master_config.port.to_string();
        let cport = master_config.cluster_port.to_string();
        assert_eq!(
            ask(r, &["CLUSTER", "MEET", "127.0.0.1", &port, &cport]).await,
            "OK"
        );
        let master_id = m_shared.lock_node().myself().to_string();
        eventually("the replica to know the master", || async {
            let nodes = ask(r, &["CLUSTER", "NODES"]).await;
            nodes.contains(&format!("{master_id} 127.0.0.1:{port}@"))
                && !nodes.contains("handshake")
        })
        .await;
        assert_eq!(ask(r, &["CLUSTER", "REPLICATE", &master_id]).await, "OK");
        eventually("the link up", || async {
            repl_field(r, "master_link_status").await == "up"
        })
        .await;
        let mut conn = client::Connection::connect(&r.to_string()).await.unwrap();
        assert_eq!(
            reply_text(conn.command_str(&["READONLY"]).await.unwrap()),
            "OK"
        );
        for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
            assert_eq!(reply_text(conn.command_str(&["GET", k]).await.unwrap()), v);
        }
        let pttl = reply_text(conn.command_str(&["PTTL", "c"]).await.unwrap());
        assert!(pttl.parse::<u64>().unwrap() > 90_000, "PTTL {pttl}");
        // Writes on the replica are redirected (keyed) or refused (keyless).
        assert!(ask(r, &["SET", "a", "x"]).await.starts_with("MOVED "));
        assert_eq!(
            ask(r, &["FLUSHALL"]).await,
            "READONLY You can't write against a read only replica."
        );
        // A later write arrives, and both sides agree on the offset.
        let before: u64 = repl_field(m, "master_repl_offset").await.parse().unwrap();
        assert_eq!(ask(m, &["SET", "d", "4"]).await, "OK");
        let set_len = "*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4\r\n".len() as u64;
        let after: u64 = repl_field(m, "master_repl_offset").await.parse().unwrap();
        assert_eq!(after, before + set_len);
        eventually("the write on the replica", || async {
            repl_field(r, "slave_repl_offset").await == after.to_string()
        })
        .await;
        assert_eq!(
            reply_text(conn.command_str(&["GET", "d"]).await.unwrap()),
            "4"
        );
        eventually("the master to see the ACK", || async {
            repl_field(m, "slave0")
                .await
                .contains(&format!("state=online,offset={after},"))
        })
        .await;
        assert_eq!(repl_field(m, "connected_slaves").await, "1");
        // The replica logged the snapshot and the stream to its own AOF.
        let aof = replica_disk.read(Path::new(INCR)).unwrap().unwrap();
        let aof = String::from_utf8_lossy(&aof);
        assert!(
            aof.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$8\r\nFLUSHALL\r\n"),
            "{aof}"
        );
        assert!(
            aof.ends_with("*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4\r\n"),
            "{aof}"
        );
    }

    /// Reads until `expected` bytes arrived (or fails after 5 s).
    async fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
        let mut got = vec![0; len];
        let read = stream.read_exact(&mut got);
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("not enough bytes in time")
            .unwrap();
        got
    }

    #[tokio::test]
    async fn wait_holds_the_client_and_its_next_commands_until_the_replica_acks() {
        let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
        // A hand-made replica: handshake, then the snapshot of an empty keyspace.
        let mut replica = TcpStream::connect(addr).await.unwrap();
        let psync = b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n";
        let header = roundtrip(&mut replica, psync, 1).await;
        assert_eq!(header, b"+");
        let snapshot_end = b"*2\r\n$8\r\nREPLCONF\r\n$12\r\nSNAPSHOT-END\r\n";
        let mut seen = Vec::new();
        while !seen.ends_with(snapshot_end) {
            seen.extend(read_exactly(&mut replica, 1).await);
        }
        let mut client = TcpStream::connect(addr).await.unwrap();
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
        assert_eq!(roundtrip(&mut client, set, 5).await, b"+OK\r\n");
        // WAIT and a PING behind it: neither reply comes before the ACK.
        client
            .write_all(b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n")
            .await
            .unwrap();
        let getack = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
        let stream = read_exactly(&mut replica, set.len() + getack.len()).await;
        assert_eq!(
            stream,
            [&set[..], &getack[..]].concat(),
            "the write, then GETACK"
        );
        let mut early = [0u8; 1];
        let nothing = tokio::time::timeout(Duration::from_millis(300), client.read(&mut early));
        assert!(nothing.await.is_err(), "no reply before the ACK");
        let offset = (set.len() + getack.len()).to_string();
        let ack = format!(
            "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n${}\r\n{offset}\r\n",
            offset.len()
        );
        replica.write_all(ack.as_bytes()).await.unwrap();
        assert_eq!(read_exactly(&mut client, 11).await, b":1\r\n+PONG\r\n");
        // A timeout answers with the count so far; a client that leaves while blocked is
        // simply forgotten.
        assert_eq!(roundtrip(&mut client, set, 5).await, b"+OK\r\n");
        let wait = b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$3\r\n200\r\n";
        assert_eq!(roundtrip(&mut client, wait, 4).await, b":0\r\n");
        let mut leaving = TcpStream::connect(addr).await.unwrap();
        assert_eq!(roundtrip(&mut leaving, set, 5).await, b"+OK\r\n");
        leaving
            .write_all(b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n")
            .await
            .unwrap();
        drop(leaving);
        let ping = b"*1\r\n$4\r\nPING\r\n";
        assert_eq!(roundtrip(&mut client, ping, 7).await, b"+PONG\r\n");
    }

    /// Reads one byte at a time up to and including the next CRLF.
    async fn read_line(stream: &mut TcpStream) -> Vec<u8> {
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            line.extend(read_exactly(stream, 1).await);
        }
        line
    }

    /// A write's stream is on the replica's socket when the batch that ran it returns, that is
    /// before its reply is written: a master killed right after replying has sent it (Redis
    /// too writes replicas' buffers in the same event-loop turn as the reply).
    #[tokio::test]
    async fn a_write_is_on_the_replica_socket_before_its_reply_is_written() {
        let (addr, shared, _serving) = start(local_config(), MemDisk::new()).await;
        let mut replica = TcpStream::connect(addr).await.unwrap();
        let psync = b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n";
        replica.write_all(psync).await.unwrap();
        assert!(read_line(&mut replica).await.starts_with(b"+FULLRESYNC "));
        let snapshot_end = b"*2\r\n$8\r\nREPLCONF\r\n$12\r\nSNAPSHOT-END\r\n";
        let mut seen = Vec::new();
        while !seen.ends_with(snapshot_end) {
            seen.extend(read_exactly(&mut replica, 1).await);
        }
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
            .await
            .unwrap();
        let id_line = read_line(&mut client).await;
        let id: ClientId = std::str::from_utf8(&id_line[1..id_line.len() - 2])
            .unwrap()
            .parse()
            .unwrap();
        let replica = replica.into_std().unwrap();
        // Runs a pipelined batch as the client's task does, with no `.await` until the check:
        // on this single-threaded runtime no other task (the replica client's included) runs
        // in between, so only `run_requests` itself can have written the stream.
        let set_a = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
        let set_b = b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n";
        let expected = [&set_a[..], &set_b[..]].concat();
        let mut input = BytesMut::from(&expected[..]);
        let mut output = BytesMut::new();
        let step = shared.run_requests(id, &CloseSignal::default(), &mut input, &mut output);
        assert_eq!(step, Step::Continue);
        assert_eq!(&output[..], b"+OK\r\n+OK\r\n");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        for _ in 0..200 {
            match std::io::Read::read(&mut &replica, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if got.len() >= expected.len() {
                        break;
                    }
                    // Loopback delivery is done within the write; this only rides out a slow
                    // kernel, and still lets no task of this runtime run.
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("replica read: {e}"),
            }
        }
        assert_eq!(got, expected, "the stream of both writes, in order");
    }

    fn ping_message() -> Message {
        Message {
            header: Header {
                kind: MessageType::Ping,
                port: 7001,
                cport: 17001,
                current_epoch: 3,
                config_epoch: 1,
                repl_offset: 0,
                sender: NodeId([b'a'; 40]),
                myslots: SlotSet::default(),
                slaveof: None,
                myip: String::new(),
                flags: 1,
                state_fail: false,
                mflags: 0,
            },
            body: Body::Gossip(Vec::new()),
        }
    }

    #[tokio::test]
    async fn outbound_links_carry_encoded_messages_until_closed() {
        let (_addr, shared, _serving) = start(local_config(), MemDisk::new()).await;
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = peer.local_addr().unwrap().port();
        let link: LinkId = 4242;
        let msg = ping_message();
        {
            let mut node = shared.lock_node();
            let effects = vec![
                Effect::Connect {
                    link,
                    ip: "127.0.0.1".into(),
                    port,
                },
                // Queued before the connection is up, sent once it is.
                Effect::Send {
                    link,
                    msg: msg.clone(),
                },
            ];
            assert!(shared.perform(&mut node, effects));
        }
        let (mut accepted, _) = tokio::time::timeout(Duration::from_secs(5), peer.accept())
            .await
            .unwrap()
            .unwrap();
        let mut input = BytesMut::new();
        let decoded = loop {
            if let Some(m) = bus_codec::decode(&mut input).unwrap() {
                break m;
            }
            let read = accepted.read_buf(&mut input);
            let n = tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "link closed before the message arrived");
        };
        assert_eq!(decoded, msg);
        {
            let mut node = shared.lock_node();
            assert!(shared.perform(&mut node, vec![Effect::CloseLink { link }]));
        }
        assert_eq!(read_to_end(&mut accepted).await, b"");
        assert!(!shared.lock_io().links.contains_key(&link));
    }
}

/// The same driver inside the simulator: virtual sockets, clock and disk.
#[cfg(all(test, madsim))]
mod sim_tests {
    use super::*;
    use crate::client::Connection;
    use crate::disk::MemDisk;
    use clusterlab_core::config::DebugCommand;
    use clusterlab_core::Reply;
    use madsim::runtime::Handle;

    fn sim_config(port: u16) -> Config {
        Config {
            port,
            bind: vec!["*".into()],
            dir: "data".into(),
            cluster_enabled: true,
            cluster_node_timeout_ms: 2000,
            enable_debug_command: DebugCommand::Yes,
            ..Config::default()
        }
    }

    fn start(
        name: &str,
        ip: [u8; 4],
        port: u16,
        disk: MemDisk,
    ) -> madsim::task::JoinHandle<io::Result<Exit>> {
        // Distinct seeds, or both nodes would draw the same node ID.
        let seed = u64::from(port);
        let node = Handle::current()
            .create_node()
            .name(name)
            .ip(IpAddr::from(ip))
            .build();
        node.spawn(async move { run_with_disk(sim_config(port), seed, Arc::new(disk)).await })
    }

    async fn text(conn: &mut Connection, args: &[&str]) -> String {
        match conn.command_str(args).await.unwrap() {
            Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            Reply::Simple(s) => s,
            Reply::Verbatim(_, s) => s,
            other => panic!("{args:?}: unexpected reply {other:?}"),
        }
    }

    #[madsim::test]
    async fn simulated_nodes_meet_over_the_bus_and_crash_on_request() {
        let disk = MemDisk::new();
        let first = start("n1", [10, 0, 0, 1], 7001, disk.clone());
        let _second = start("n2", [10, 0, 0, 2], 7002, MemDisk::new());
        let client = Handle::current()
            .create_node()
            .name("client")
            .ip(IpAddr::from([10, 0, 0, 9]))
            .build();
        let checked = client.spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut conn = Connection::connect("10.0.0.1:7001").await.unwrap();
            assert_eq!(text(&mut conn, &["PING"]).await, "PONG");
            // The wall clock is the simulator's, not the host's.
            let time = conn.command_str(&["TIME"]).await.unwrap();
            let Reply::Array(parts) = time else {
                panic!("TIME: {time:?}")
            };
            let Reply::Bulk(secs) = &parts[0] else {
                panic!("TIME: {parts:?}")
            };
            let secs: u64 = std::str::from_utf8(secs).unwrap().parse().unwrap();
            let sim_secs = madsim::time::TimeHandle::current()
                .now_time()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(
                secs.abs_diff(sim_secs) <= 1,
                "TIME {secs} vs simulated {sim_secs}"
            );
            assert_eq!(
                text(&mut conn, &["CLUSTER", "MEET", "10.0.0.2", "7002"]).await,
                "OK"
            );
            let mut nodes = String::new();
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                nodes = text(&mut conn, &["CLUSTER", "NODES"]).await;
                let lines: Vec<&str> = nodes.lines().collect();
                // Joined: both known, out of handshake, links up, and each address known
                // (a node learns its own IP from the first PING that reaches it).
                let joined = |l: &&str| {
                    l.contains(" connected")
                        && !l.contains("handshake")
                        && !l
                            .split(' ')
                            .nth(1)
                            .is_some_and(|addr| addr.starts_with(':'))
                };
                if lines.len() == 2 && lines.iter().all(joined) {
                    break;
                }
            }
            assert!(nodes.contains("10.0.0.2:7002@17002 master"), "{nodes}");
            assert!(
                nodes.contains("10.0.0.1:7001@17001 myself,master"),
                "{nodes}"
            );
            conn.send(&[b"DEBUG", b"SEGFAULT"]).await.unwrap();
            assert!(conn.read_reply().await.is_err(), "a crash sends no reply");
        });
        checked.await.unwrap();
        assert_eq!(first.await.unwrap().unwrap(), Exit::Crash);
        let saved = disk.read(Path::new("data/nodes.conf")).unwrap().unwrap();
        assert!(String::from_utf8(saved)
            .unwrap()
            .contains("10.0.0.2:7002@17002"));
    }

    /// Polls `args` on `conn` every 100 ms (virtual) until the text reply satisfies `check`.
    async fn wait_for(conn: &mut Connection, args: &[&str], check: impl Fn(&str) -> bool) {
        let mut last = String::new();
        for _ in 0..200 {
            last = text(conn, args).await;
            if check(&last) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{args:?} never satisfied the check; last reply:\n{last}");
    }

    #[madsim::test]
    async fn a_simulated_replica_copies_its_master_and_follows_its_writes() {
        let _master = start("m", [10, 0, 0, 1], 7001, MemDisk::new());
        let _replica = start("r", [10, 0, 0, 2], 7002, MemDisk::new());
        let client = Handle::current()
            .create_node()
            .name("client")
            .ip(IpAddr::from([10, 0, 0, 9]))
            .build();
        let checked = client.spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut m = Connection::connect("10.0.0.1:7001").await.unwrap();
            let mut r = Connection::connect("10.0.0.2:7002").await.unwrap();
            let ok = |t: &str| t == "OK";
            assert!(ok(&text(
                &mut m,
                &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]
            )
            .await));
            wait_for(&mut m, &["CLUSTER", "INFO"], |t| {
                t.contains("cluster_state:ok")
            })
            .await;
            assert!(ok(&text(&mut m, &["SET", "before", "1"]).await));
            assert!(ok(
                &text(&mut r, &["CLUSTER", "MEET", "10.0.0.1", "7001"]).await
            ));
            let master_id = text(&mut m, &["CLUSTER", "MYID"]).await;
            wait_for(&mut r, &["CLUSTER", "NODES"], |t| {
                t.contains(&format!("{master_id} 10.0.0.1:7001@17001 master"))
            })
            .await;
            assert!(ok(
                &text(&mut r, &["CLUSTER", "REPLICATE", &master_id]).await
            ));
            wait_for(&mut r, &["INFO", "replication"], |t| {
                t.contains("master_link_status:up")
            })
            .await;
            assert!(ok(&text(&mut m, &["SET", "after", "2"]).await));
            let info = text(&mut m, &["INFO", "replication"]).await;
            let offset = info
                .lines()
                .find_map(|l| l.strip_prefix("master_repl_offset:"))
                .unwrap()
                .to_string();
            wait_for(&mut r, &["INFO", "replication"], |t| {
                t.contains(&format!("slave_repl_offset:{offset}\r\n"))
            })
            .await;
            assert!(ok(&text(&mut r, &["READONLY"]).await));
            assert_eq!(text(&mut r, &["GET", "before"]).await, "1");
            assert_eq!(text(&mut r, &["GET", "after"]).await, "2");
        });
        checked.await.unwrap();
    }
}
