//! Client connections: the task that reads pipelined requests, runs them in batches under the
//! node lock and writes the replies; blocked clients (`WAIT`, paused writes); MIGRATE's talk to
//! its target; and the replication stream a master queues and writes to its replica clients.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clusterlab_core::cmd::migrate::{MigrateJob, MigrateOutcome};
use clusterlab_core::cmd::scripting::busy;
use clusterlab_core::node::client_limits::{ClientBufferSizes, REPLY_BUFFER_BYTES};
use clusterlab_core::{ClientId, Effect, Node, Reply, Time};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use super::{read_some, write_and_flush, ClientHandle, Shared, LOG_TARGET, READ_CHUNK};
use crate::{buggify, client, resp};

/// A client connection's writing side. Replies are written by the connection's own task; the
/// replication stream (replica clients only) is queued in `stream` under the node lock, so in
/// stream order, and written by any task holding `writer`: first, without waiting, by the task
/// whose input produced it ([`Shared::write_streams_now`]), and otherwise by the connection's
/// own task, woken through `wake`.
pub(super) struct ClientOut {
    writer: tokio::sync::Mutex<WriteHalf<TcpStream>>,
    /// Stream bytes not written yet. Taken only by a holder of `writer`, so they go out in order.
    stream: Mutex<BytesMut>,
    wake: Notify,
    /// What the connection holds, for the node's client limits (reported every tick).
    bytes: ClientBytes,
}

/// A connection's buffer sizes as the node's limits see them: output not yet on the socket
/// (queued stream and pushes, replies being written) and input not yet parsed.
#[derive(Default)]
pub(super) struct ClientBytes {
    output: AtomicU64,
    query: AtomicU64,
    query_free: AtomicU64,
}

impl ClientBytes {
    fn queued(&self, n: usize) {
        self.output.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn written(&self, n: usize) {
        let _ = self
            .output
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_sub(n as u64))
            });
    }

    fn input_held(&self, input: &BytesMut) {
        self.query.store(input.len() as u64, Ordering::Relaxed);
        let free = input.capacity() - input.len();
        self.query_free.store(free as u64, Ordering::Relaxed);
    }

    pub(super) fn sizes(&self) -> ClientBufferSizes {
        ClientBufferSizes {
            output_bytes: self.output.load(Ordering::Relaxed),
            query_bytes: self.query.load(Ordering::Relaxed),
            query_free_bytes: self.query_free.load(Ordering::Relaxed),
        }
    }
}

impl ClientOut {
    fn new(writer: WriteHalf<TcpStream>) -> ClientOut {
        ClientOut {
            writer: tokio::sync::Mutex::new(writer),
            stream: Mutex::new(BytesMut::new()),
            wake: Notify::new(),
            bytes: ClientBytes::default(),
        }
    }

    pub(super) fn sizes(&self) -> ClientBufferSizes {
        self.bytes.sizes()
    }

    fn lock_stream(&self) -> MutexGuard<'_, BytesMut> {
        self.stream.lock().expect("stream lock poisoned")
    }

    /// Writes replies (the connection's own task).
    async fn write_replies(&self, bytes: &[u8]) -> io::Result<()> {
        self.bytes.queued(bytes.len());
        let written = self.write_replies_counted(bytes).await;
        self.bytes.written(bytes.len());
        written
    }

    async fn write_replies_counted(&self, bytes: &[u8]) -> io::Result<()> {
        let mut writer = self.writer.lock().await;
        if bytes.len() > 1 && buggify::fires(buggify::Point::ClientReplySplit) {
            let (first, rest) = bytes.split_at(bytes.len() / 2);
            write_and_flush(&mut *writer, first).await?;
            let pause = Duration::from_millis(buggify::delay_ms(5));
            tokio::time::sleep(pause).await;
            return write_and_flush(&mut *writer, rest).await;
        }
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
            // Piece by piece, so the node's limits see what is still held.
            let mut rest = &data[..];
            while !rest.is_empty() {
                let n = writer.write(rest).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                self.bytes.written(n);
                rest = &rest[n..];
            }
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
        self.bytes.written(written);
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
pub(super) struct CloseSignal {
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
    /// Puts `replies` in front of the client's queued stream, so that they go out first.
    fn queue_stream_in_front(&self, client: ClientId, replies: &mut BytesMut) {
        let mut io = self.lock_io();
        if let Some(handle) = io.clients.get(&client) {
            handle.out.bytes.queued(replies.len());
            let mut stream = handle.out.lock_stream();
            replies.extend_from_slice(&stream);
            *stream = replies.split();
            drop(stream);
            if !io.streams_to_write.contains(&client) {
                io.streams_to_write.push(client);
            }
        }
    }

    pub(super) fn queue_stream(&self, client: ClientId, data: &[u8]) {
        let mut io = self.lock_io();
        if let Some(handle) = io.clients.get(&client) {
            handle.out.bytes.queued(data.len());
            handle.out.lock_stream().extend_from_slice(data);
            if !io.streams_to_write.contains(&client) {
                io.streams_to_write.push(client);
            }
        }
    }

    /// Writes the stream (and pushes) queued for each client to its socket now, as far as
    /// the socket takes it without waiting; the client's own task writes the rest. Called
    /// before the replies of the input that produced the stream are written. Returns the
    /// clients left holding more than their fixed reply buffer, whose output limits the node
    /// must judge now ([`Shared::judge_backed_up`]), as Redis judges them as replies queue.
    #[must_use]
    pub(super) fn write_streams_now(&self) -> Vec<ClientId> {
        let (outs, paused) = {
            let mut io = self.lock_io();
            let clients = std::mem::take(&mut io.streams_to_write);
            if io.stopped {
                return Vec::new();
            }
            let outs: Vec<(ClientId, Arc<ClientOut>)> = clients
                .iter()
                .filter_map(|c| io.clients.get(c).map(|h| (*c, h.out.clone())))
                .collect();
            let paused = io
                .paused_until
                .is_some_and(|t| t > tokio::time::Instant::now());
            (outs, paused)
        };
        let mut backed_up = Vec::new();
        for (client, out) in outs {
            // During a DEBUG SLEEP nothing leaves; the client's task waits it out, then writes.
            if paused || !out.try_write_stream() {
                out.wake.notify_one();
            }
            if out.sizes().output_bytes > REPLY_BUFFER_BYTES {
                backed_up.push(client);
            }
        }
        backed_up
    }

    /// Hands the node the output sizes of `clients` (from [`Shared::write_streams_now`]) and
    /// carries out its verdict: a client over its output limits is dropped. Needs the node.
    pub(super) fn judge_backed_up(self: &Arc<Self>, node: &mut Node, clients: Vec<ClientId>) {
        if clients.is_empty() || self.stopped() {
            return;
        }
        let reports: Vec<(ClientId, ClientBufferSizes)> = {
            let io = self.lock_io();
            clients
                .iter()
                .filter_map(|c| io.clients.get(c).map(|h| (*c, h.out.sizes())))
                .collect()
        };
        node.client_output_queued(self.clock.now(), &reports);
        let effects = node.take_effects();
        self.perform_queued(node, effects);
    }

    pub(super) fn unblock_client(
        &self,
        client: ClientId,
        reply: &clusterlab_core::Reply,
        protocol: u8,
    ) {
        if let Some(handle) = self.lock_io().clients.get(&client) {
            let mut out = BytesMut::new();
            resp::encode_reply(reply, protocol, &mut out);
            let _ = handle.unblocked.send(out.freeze());
        }
    }

    pub(super) fn close_client(&self, client: ClientId) {
        if let Some(handle) = self.lock_io().clients.get(&client) {
            handle.closing.request();
        }
    }

    /// `DropClient`: the node has forgotten the client; its task stops where it waits (on a
    /// socket that takes nothing, say), and what it held is dropped with the connection.
    pub(super) fn drop_client(&self, client: ClientId) {
        let handle = self.lock_io().clients.remove(&client);
        if let Some(handle) = handle {
            handle.closing.request();
            if let Some(task) = handle.task {
                task.abort();
            }
        }
    }

    /// Every client's buffer sizes, for [`Node::client_buffers`].
    pub(super) fn client_buffer_reports(&self) -> Vec<(ClientId, ClientBufferSizes)> {
        let io = self.lock_io();
        io.clients
            .iter()
            .map(|(&client, handle)| (client, handle.out.sizes()))
            .collect()
    }
}

pub(super) fn register_client(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    if shared.scripts.running() {
        // A script holds the node: the connection is answered without it until the script
        // ends (`-BUSY`, the KILLs), then registered with what it sent meanwhile.
        tokio::spawn(register_after_script(shared.clone(), stream, peer));
        return;
    }
    register_with_input(shared, stream, peer, BytesMut::with_capacity(READ_CHUNK));
}

/// Serves a connection accepted while a script runs (see [`register_client`]), for at most
/// [`BUSY_POLLS_MAX`] polls of [`BUSY_POLL_MS`].
async fn register_after_script(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::new();
    for _ in 0..BUSY_POLLS_MAX {
        if !shared.scripts.running() {
            break;
        }
        if shared.answer_while_busy(&mut input, &mut output).await {
            if write_and_flush(&mut stream, &output).await.is_err() {
                return;
            }
            output.clear();
        }
        let poll = Duration::from_millis(BUSY_POLL_MS);
        let read = tokio::time::timeout(poll, stream.read_buf(&mut input)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            return;
        }
    }
    register_with_input(&shared, stream, peer, input);
}

/// Gives the connection its client in the node and starts its task, which runs `input` (what
/// it sent already) first.
fn register_with_input(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr, input: BytesMut) {
    let local = stream
        .local_addr()
        .map_or_else(|_| String::from("?:0"), |a| a.to_string());
    let mut node = shared.lock_node();
    if shared.stopped() {
        return;
    }
    if let Some(error) = node.connection_refused() {
        // Best effort, as Redis writes it: the connection closes once it is out (or not).
        tokio::spawn(async move {
            let mut stream = stream;
            let line = format!("-{error}\r\n");
            let _ = write_and_flush(&mut stream, line.as_bytes()).await;
        });
        return;
    }
    let now = shared.clock.now();
    let client = node.client_connected(now, peer.to_string(), local);
    tracing::debug!(target: LOG_TARGET, "Accepted {peer}");
    let closing = Arc::new(CloseSignal::default());
    let (reader, writer) = tokio::io::split(stream);
    let out = Arc::new(ClientOut::new(writer));
    let (unblocked, unblocked_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(serve_client(
        shared.clone(),
        reader,
        client,
        input,
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

/// Commands that may run a script (EXEC may hold one).
#[cfg(not(madsim))]
const SCRIPT_COMMANDS: &[&[u8]] = &[
    b"eval",
    b"evalsha",
    b"eval_ro",
    b"evalsha_ro",
    b"fcall",
    b"fcall_ro",
    b"exec",
];

/// Runs one command. A script may run for seconds: on `clusterlab node`'s multi-threaded
/// runtime its worker hands its queued tasks and the I/O driver to another thread first, so
/// the other connections are still read (and answered `-BUSY`) meanwhile.
fn run_command(node: &mut Node, now: Time, client: ClientId, args: &[Bytes]) -> Reply {
    #[cfg(not(madsim))]
    {
        let script = args
            .first()
            .is_some_and(|name| SCRIPT_COMMANDS.iter().any(|c| name.eq_ignore_ascii_case(c)));
        if script && super::on_multi_thread_runtime() {
            return tokio::task::block_in_place(|| node.command(now, client, args));
        }
    }
    node.command(now, client, args)
}

/// What to do with a connection after a batch of requests.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Step {
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
        // A reply sent together with a close still goes out first, as Redis writes a reply
        // before closing a client flagged to close after it.
        if let Ok(reply) = unblocked.try_recv() {
            return Some(reply);
        }
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

/// Takes the pushes and MONITOR lines for `client` itself out of its command's effects: they
/// follow its reply.
fn take_own_out_of_band(effects: &mut Vec<Effect>, client: ClientId) -> Vec<Effect> {
    let (own, rest): (Vec<Effect>, Vec<Effect>) =
        std::mem::take(effects).into_iter().partition(|e| match e {
            Effect::ClientPush { client: c, .. } | Effect::ClientNotice { client: c, .. } => {
                *c == client
            }
            _ => false,
        });
    *effects = rest;
    own
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
    mut input: BytesMut,
    closing: Arc<CloseSignal>,
    inbox: ClientInbox,
) {
    let ClientInbox { out, mut unblocked } = inbox;
    let mut output = BytesMut::new();
    loop {
        shared.wait_while_paused().await;
        if shared.answer_while_busy(&mut input, &mut output).await {
            if out.write_replies(&output).await.is_err() {
                break;
            }
            output.clear();
            match read_some(&mut reader, &mut input, buggify::Point::ClientShortRead).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        let step = shared.run_requests(client, &closing, &mut input, &mut output);
        out.bytes.input_held(&input);
        if step == Step::Stop {
            return;
        }
        if let Step::Migrate(job) = step {
            // Replies so far go out first; the rest of the input waits for this one.
            shared.wait_while_paused().await;
            if out.write_replies(&output).await.is_err() {
                break;
            }
            output.clear();
            shared.run_migrate(job, &mut output).await;
            continue;
        }
        if step == Step::Blocked {
            shared.wait_while_paused().await;
            if out.write_replies(&output).await.is_err() {
                break;
            }
            output.clear();
            match wait_unblocked(&closing, &mut reader, &mut input, &mut unblocked).await {
                Some(reply) => output.extend_from_slice(&reply),
                None => break,
            }
            if closing.is_requested() {
                // Let go with a close (a demoted master's BLPOP): the reply, then nothing more.
                shared.wait_while_paused().await;
                let _ = out.write_replies(&output).await;
                break;
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
            read = read_some(&mut reader, &mut input, buggify::Point::ClientShortRead) => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    }
    shared.wait_while_paused().await;
    shared.client_gone(client);
}

/// How often a client waiting on a script looks whether it turned busy or ended, in ms.
const BUSY_POLL_MS: u64 = 10;
/// At most this many looks (60 s) before the client waits for the node as usual.
const BUSY_POLLS_MAX: u32 = 6000;

impl Shared {
    /// Redis answers other clients while a script runs past `busy-reply-threshold`. A client
    /// with complete requests waits here (not on the node) while a script runs; once the
    /// script is busy, each request is answered without the node: `SCRIPT KILL` and
    /// `FUNCTION KILL` through the watch, `SHUTDOWN NOSAVE` by exiting, anything else
    /// `-BUSY`. Returns whether it answered anything (the replies are in `output`).
    async fn answer_while_busy(&self, input: &mut BytesMut, output: &mut BytesMut) -> bool {
        if input.is_empty() || !self.scripts.running() {
            return false;
        }
        for _ in 0..BUSY_POLLS_MAX {
            match self.scripts.busy_in_ms(self.clock.now().mono_ms) {
                None => return false,
                Some(0) => break,
                Some(ms) => tokio::time::sleep(Duration::from_millis(ms.min(BUSY_POLL_MS))).await,
            }
        }
        let mut answered = false;
        while let Some(busy) = self.scripts.busy_reply(self.clock.now().mono_ms) {
            let args = match resp::parse_request(input) {
                Ok(Some(args)) if args.is_empty() => continue,
                Ok(Some(args)) => args,
                // Incomplete or malformed: the usual path reads or refuses it later.
                Ok(None) | Err(_) => break,
            };
            let reply = self.answer_busy(&args, busy);
            resp::encode_reply(&reply, 2, output);
            answered = true;
        }
        answered
    }

    fn answer_busy(&self, args: &[Bytes], busy: Reply) -> Reply {
        if !busy::allowed_while_busy(args) {
            return busy;
        }
        if args[0].eq_ignore_ascii_case(b"shutdown") {
            self.shutdown_while_busy();
        }
        self.scripts.kill(args[0].eq_ignore_ascii_case(b"script"))
    }

    /// `SHUTDOWN NOSAVE` while a script holds the node: the process exits at once, with
    /// nothing saved (the node cannot be reached to stop it in order).
    fn shutdown_while_busy(&self) {
        tracing::warn!(target: LOG_TARGET, "User requested shutdown...");
        tracing::warn!(target: LOG_TARGET, "Redis is now ready to exit, bye bye...");
        #[cfg(not(madsim))]
        std::process::exit(0);
    }

    /// Parses every complete request in `input` and runs them under one lock, appending the
    /// encoded replies to `output`. Requests before a malformed one still run, as in Redis;
    /// none run after one that closes the connection (`QUIT`, `CLIENT KILL` of itself).
    /// The replication stream the batch produced is on the replicas' sockets (as far as they
    /// take it) before this returns, so before the replies are written.
    pub(super) fn run_requests(
        self: &Arc<Self>,
        client: ClientId,
        closing: &CloseSignal,
        input: &mut BytesMut,
        output: &mut BytesMut,
    ) -> Step {
        if input.len() as u64 > self.limits.query_buffer_bytes()
            && self.query_buffer_refused(client, input)
        {
            return Step::Close;
        }
        let step = self.run_batch(client, closing, input, output);
        let backed_up = self.write_streams_now();
        if !backed_up.is_empty() {
            let mut node = self.lock_node();
            self.judge_backed_up(&mut node, backed_up);
        }
        step
    }

    /// The node's verdict on input held past `client-query-buffer-limit` (Redis closes such a
    /// client without a reply); the log line it asks for is written meanwhile.
    fn query_buffer_refused(self: &Arc<Self>, client: ClientId, input: &BytesMut) -> bool {
        let mut node = self.lock_node();
        if self.stopped() {
            return true;
        }
        let head = &input[..input.len().min(64)];
        let refused = node.query_buffer_over_limit(client, input.len() as u64, head);
        let effects = node.take_effects();
        self.perform(&mut node, effects);
        refused
    }

    /// One turn: the batch's commands, then what they asked to persist, all under one lock.
    fn run_batch(
        self: &Arc<Self>,
        client: ClientId,
        closing: &CloseSignal,
        input: &mut BytesMut,
        output: &mut BytesMut,
    ) -> Step {
        // The clock is read once per batch, right after locking (so times never go back
        // between tasks), as Redis reads it once per event-loop turn.
        let mut locked: Option<(MutexGuard<'_, Node>, Time)> = None;
        let step = self.run_commands(client, closing, input, output, &mut locked);
        if let (Some((node, _)), false) = (locked.as_mut(), step == Step::Stop) {
            if !self.persist_turn(node) {
                return Step::Stop;
            }
        }
        step
    }

    fn run_commands<'a>(
        self: &'a Arc<Self>,
        client: ClientId,
        closing: &CloseSignal,
        input: &mut BytesMut,
        output: &mut BytesMut,
        locked: &mut Option<(MutexGuard<'a, Node>, Time)>,
    ) -> Step {
        // Parsed one at a time so that requests after a MIGRATE stay in `input` until its
        // reply is known.
        loop {
            let max_bulk_len = self.limits.proto_max_bulk_len_bytes();
            let args = match resp::parse_request_limited(input, max_bulk_len) {
                Ok(Some(args)) if args.is_empty() => continue,
                Ok(Some(args)) => args,
                Ok(None) => return Step::Continue,
                Err(e) => {
                    tracing::debug!(target: LOG_TARGET, "Protocol error from client {client}: {e}");
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
            // A write that woke another client persisted the turn so far mid-batch, and the
            // AOF's report moved the node's clock past the batch's: go on from there.
            if node.now().mono_ms > now.mono_ms {
                *now = node.now();
            }
            // Timed on the monotonic clock (virtual under madsim) for SLOWLOG and LATENCY.
            let started = tokio::time::Instant::now();
            let reply = run_command(node, *now, client, &args);
            node.command_took(client, started.elapsed().as_micros() as u64);
            // A replica client gets the stream and no replies, as in Redis; its PSYNC's answer
            // is in the stream too (it may come after the sync delay).
            let quiet = node.is_replica_client(client);
            let mut effects = node.take_effects();
            let migrate = take_migrate(&mut effects);
            let blocked = take_block(&mut effects, client);
            let own = take_own_out_of_band(&mut effects, client);
            if !self.perform_queued(node, effects) {
                return Step::Stop;
            }
            if let Some(job) = migrate {
                return Step::Migrate(job);
            }
            if blocked {
                return Step::Blocked;
            }
            if quiet {
                if !output.is_empty() {
                    // The replies before PSYNC (`REPLCONF`) precede the stream it started.
                    self.queue_stream_in_front(client, output);
                }
            } else {
                let protocol = node.client_protocol(client);
                if !node.reply_silenced(client) {
                    resp::encode_reply(&reply, protocol, output);
                }
                for effect in &own {
                    resp::encode_out_of_band(effect, protocol, output);
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
