//! A replica's link to its master: connect, handshake (`REPLCONF`, `PSYNC`), hand a full
//! sync's RDB payload to the node as it arrives, then apply the stream and acknowledge the
//! offset every second, or at once when the master asks.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use clusterlab_core::replication::ReplLinkId;
use clusterlab_core::{Effect, Node};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::{write_and_flush, Shared, LOG_TARGET, READ_CHUNK, TICK_INTERVAL_MS};
use crate::{buggify, resp};

/// How often a replica acknowledges its offset to its master, as Redis does.
const REPLICA_ACK_INTERVAL_MS: u64 = 1000;

impl Shared {
    pub(super) fn replica_connect(
        self: &Arc<Self>,
        link: ReplLinkId,
        ip: String,
        port: u16,
        node: &Node,
    ) {
        let timeout_ms = node.config().cluster_node_timeout_ms.max(TICK_INTERVAL_MS);
        let my_port = node.config().port;
        let repl_timeout_ms = node.config().repl_timeout_s * 1000;
        let bandwidth = node.config().repl_transfer_bytes_per_s;
        let mut io = self.lock_io();
        let task = tokio::spawn(replica_link(
            self.clone(),
            link,
            (ip, port),
            my_port,
            (timeout_ms, repl_timeout_ms),
            bandwidth,
        ));
        io.replica_links.insert(link, task.abort_handle());
    }

    pub(super) fn replica_disconnect(&self, link: ReplLinkId) {
        if let Some(task) = self.lock_io().replica_links.remove(&link) {
            task.abort();
        }
    }
}

/// What a link task is started with.
struct LinkParams {
    /// This node's client port (`REPLCONF listening-port`).
    my_port: u16,
    /// For the connection and the first replies (the node timeout), and for the answer to
    /// PSYNC (`repl-timeout`).
    timeouts_ms: (u64, u64),
    /// The simulated bandwidth for a snapshot, bytes a second (`None`: not paced).
    bandwidth: Option<u64>,
}

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
/// The link task (see [`LinkParams`] for what the arguments mean).
async fn replica_link(
    shared: Arc<Shared>,
    link: ReplLinkId,
    (ip, port): (String, u16),
    my_port: u16,
    timeouts_ms: (u64, u64),
    bandwidth: Option<u64>,
) {
    let params = LinkParams {
        my_port,
        timeouts_ms,
        bandwidth,
    };
    let end = run_replica_link(&shared, link, &ip, port, &params).await;
    if let LinkEnd::Broken(why) = end {
        tracing::debug!(target: LOG_TARGET, "Replication link {link} to {ip}:{port}: {why}");
        shared.wait_while_paused().await;
        shared.replica_link_broken(link);
    }
}

async fn run_replica_link(
    shared: &Arc<Shared>,
    link: ReplLinkId,
    ip: &str,
    port: u16,
    params: &LinkParams,
) -> LinkEnd {
    let (timeout_ms, repl_timeout_ms) = params.timeouts_ms;
    let timeout = Duration::from_millis(timeout_ms);
    let stream = match tokio::time::timeout(timeout, TcpStream::connect((ip, port))).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return LinkEnd::Broken(format!("connect: {e}")),
        Err(_) => return LinkEnd::Broken("connect timed out".into()),
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let port_text = params.my_port.to_string();
    let handshake: [&[&str]; 2] = [
        &["REPLCONF", "listening-port", &port_text],
        &["REPLCONF", "capa", "eof", "capa", "psync2"],
    ];
    for request in handshake {
        if let Err(e) = request_reply(&mut reader, &mut writer, &mut input, request, timeout).await
        {
            return LinkEnd::Broken(e);
        }
    }
    let Some((replid, offset)) = shared.replica_psync_args(link) else {
        return LinkEnd::Unwanted;
    };
    // The answer to PSYNC may wait for the master's sync delay: Redis's replica waits for
    // it up to `repl-timeout` (the node then times the link out itself once it is up).
    let psync = ["PSYNC", replid.as_str(), offset.as_str()];
    let repl_timeout = Duration::from_millis(repl_timeout_ms);
    let last = match request_reply(&mut reader, &mut writer, &mut input, &psync, repl_timeout).await
    {
        Ok(reply) => reply,
        Err(e) => return LinkEnd::Broken(e),
    };
    shared.wait_while_paused().await;
    let wanted = match parse_psync_reply(&last) {
        Some(PsyncReply::Full { replid, offset }) => shared.replica_link_up(link, &replid, offset),
        Some(PsyncReply::Continue { replid }) => shared.replica_link_continue(link, &replid),
        None => return LinkEnd::Broken(format!("unexpected PSYNC reply {last:?}")),
    };
    if !wanted {
        return LinkEnd::Unwanted;
    }
    // What came with the answer is the snapshot's start: it takes its time too.
    shared
        .pace_snapshot(link, input.len(), params.bandwidth)
        .await;
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
                let Some(ack) = shared.replica_ack_offset(link) else {
                    return LinkEnd::Unwanted;
                };
                // Nothing to acknowledge while the snapshot still loads.
                if let Some(offset) = ack {
                    let mut out = BytesMut::new();
                    resp::encode_request(&["REPLCONF", "ACK", &offset.to_string()], &mut out);
                    if write_and_flush(&mut writer, &out).await.is_err() {
                        return LinkEnd::Broken("ACK write failed".into());
                    }
                }
            }
            read = reader.read_buf(&mut input) => match read {
                Ok(0) => return LinkEnd::Broken("master closed the connection".into()),
                Err(e) => return LinkEnd::Broken(format!("read: {e}")),
                Ok(_) if buggify::fires(buggify::Point::ReplicationLinkReset) => {
                    return LinkEnd::Broken("connection reset (buggify)".into());
                }
                Ok(n) => shared.pace_snapshot(link, n, params.bandwidth).await,
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
        // A master preparing a snapshot keeps the link alive with bare newlines.
        let newlines = input.iter().take_while(|&&b| b == b'\n').count();
        input.advance(newlines);
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

/// Sends one handshake request and reads its reply; an error reply breaks the link.
async fn request_reply<R, W>(
    reader: &mut R,
    writer: &mut W,
    input: &mut BytesMut,
    request: &[&str],
    timeout: Duration,
) -> Result<clusterlab_core::Reply, String>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut out = BytesMut::new();
    resp::encode_request(request, &mut out);
    if write_and_flush(writer, &out).await.is_err() {
        return Err("write failed".into());
    }
    let reply = match tokio::time::timeout(timeout, read_one_reply(reader, input)).await {
        Ok(reply) => reply?,
        Err(_) => return Err("handshake timed out".into()),
    };
    if reply.is_error() {
        return Err(format!("{request:?}: {reply:?}"));
    }
    Ok(reply)
}

/// The master's answer to PSYNC.
#[derive(Debug, PartialEq)]
enum PsyncReply {
    /// `+FULLRESYNC <replid> <offset>`: a snapshot follows.
    Full { replid: String, offset: u64 },
    /// `+CONTINUE [<replid>]`: the stream goes on from the offset asked for (no ID: the same).
    Continue { replid: String },
}

fn parse_psync_reply(reply: &clusterlab_core::Reply) -> Option<PsyncReply> {
    let clusterlab_core::Reply::Simple(text) = reply else {
        return None;
    };
    let mut words = text.split(' ');
    match words.next()? {
        "FULLRESYNC" => {
            let replid = words.next()?.to_string();
            let offset = words.next()?.parse().ok()?;
            Some(PsyncReply::Full { replid, offset })
        }
        "CONTINUE" => {
            let replid = words.next().unwrap_or("").to_string();
            Some(PsyncReply::Continue { replid })
        }
        _ => None,
    }
}

/// Moves an ACK the node wants sent at once on `link` out of `effects` into `ack_now`.
fn take_ack(effects: &mut Vec<Effect>, link: ReplLinkId, ack_now: &mut Option<u64>) {
    effects.retain(|e| match e {
        Effect::ReplicaAck { link: l, offset } if *l == link => {
            *ack_now = Some(*offset);
            false
        }
        _ => true,
    });
}

impl Shared {
    /// True when the node still wants the link (the driver keeps it in `replica_links`).
    fn replica_link_wanted(&self, link: ReplLinkId) -> bool {
        !self.stopped() && self.lock_io().replica_links.contains_key(&link)
    }

    /// A full sync's payload takes as long as `bytes` need at `bandwidth` (the simulator's
    /// model of the transfer; the bytes that follow the payload are not held back).
    async fn pace_snapshot(&self, link: ReplLinkId, bytes: usize, bandwidth: Option<u64>) {
        let Some(bytes_per_s) = bandwidth.filter(|&b| b > 0) else {
            return;
        };
        let receiving = {
            let node = self.lock_node();
            self.replica_link_wanted(link) && node.replication_awaiting_payload(link)
        };
        if receiving {
            let us = bytes as u64 * 1_000_000 / bytes_per_s;
            tokio::time::sleep(Duration::from_micros(us)).await;
        }
    }

    /// `None` when the link is no longer wanted; otherwise PSYNC's two arguments.
    fn replica_psync_args(self: &Arc<Self>, link: ReplLinkId) -> Option<(String, String)> {
        let mut node = self.lock_node();
        if !self.replica_link_wanted(link) {
            return None;
        }
        let args = node.replication_psync_args(link);
        let effects = node.take_effects();
        if self.perform(&mut node, effects) {
            args
        } else {
            None
        }
    }

    fn replica_link_continue(self: &Arc<Self>, link: ReplLinkId, replid: &str) -> bool {
        let mut node = self.lock_node();
        if !self.replica_link_wanted(link) {
            return false;
        }
        let up = node.replication_link_continue(self.clock.now(), link, replid);
        let effects = node.take_effects();
        self.perform(&mut node, effects) && up
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

    /// Hands the node what `input` holds of a full sync's payload, then applies every
    /// complete command after it, under one lock. `Ok(false)`: link unwanted. `ack_now` gets
    /// the offset to acknowledge at once, if the master asked for it.
    fn replica_apply(
        self: &Arc<Self>,
        link: ReplLinkId,
        input: &mut BytesMut,
        ack_now: &mut Option<u64>,
    ) -> Result<bool, String> {
        let mut node = self.lock_node();
        // One turn for the whole chunk: its commands reach the AOF in one write.
        let applied = self.replica_apply_locked(&mut node, link, input, ack_now);
        let persisted = self.persist_turn(&mut node);
        let backed_up = self.write_streams_now();
        self.judge_backed_up(&mut node, backed_up);
        applied.map(|wanted| wanted && persisted)
    }

    fn replica_apply_locked(
        self: &Arc<Self>,
        node: &mut Node,
        link: ReplLinkId,
        input: &mut BytesMut,
        ack_now: &mut Option<u64>,
    ) -> Result<bool, String> {
        loop {
            // Read per command: performing the last one's effects may have moved the node's
            // clock on (a debug build asserts time never goes back).
            let now = self.clock.now();
            if !self.replica_link_wanted(link) {
                return Ok(false);
            }
            if node.replication_awaiting_payload(link) {
                let used = node.replication_payload(now, link, input);
                let mut effects = node.take_effects();
                take_ack(&mut effects, link, ack_now);
                if !self.perform(node, effects) {
                    return Ok(false);
                }
                input.advance(used?);
                if node.replication_awaiting_payload(link) {
                    return Ok(true);
                }
                continue;
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
            take_ack(&mut effects, link, ack_now);
            if !self.perform_queued(node, effects) || !applied {
                return Ok(false);
            }
        }
    }

    /// `None` when the link is no longer wanted; otherwise what to acknowledge now (see
    /// [`Node::replication_ack_offset`]).
    fn replica_ack_offset(&self, link: ReplLinkId) -> Option<Option<u64>> {
        let node = self.lock_node();
        self.replica_link_wanted(link)
            .then(|| node.replication_ack_offset())
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
