//! The limits a client is held to, decided here and carried out by the driver: output
//! buffers per class (Redis's `checkClientOutputBufferLimits`), the query buffer, `maxclients`
//! at accept time, and the idle `timeout` the cron enforces.
//!
//! The driver holds the bytes (the core does no I/O): every cron tick it reports each
//! client's buffers ([`Node::client_buffers`]), as it reports bus links' buffers. The core
//! keeps the latest report for `CLIENT LIST` (`qbuf`, `obl`, `oll`, `omem`, `tot-mem`) and
//! `INFO clients` (the recent peaks), and drops a client over its class's hard limit, or over
//! its soft limit for longer than the limit's seconds: the core forgets the client at once and
//! tells the driver to close it without writing what it still holds ([`Effect::DropClient`]).
//! Redis also checks as each reply is queued: so does the driver, after each turn's writes,
//! for the clients left holding more than the fixed buffer ([`Node::client_output_queued`]),
//! with Redis's "scheduled to be closed ASAP" wording.
//!
//! The output model is Redis's: the first [`REPLY_BUFFER_BYTES`] of pending output sit in the
//! client's fixed buffer (`obl`) and are not counted against the limits; the rest is the reply
//! list (`oll` blocks of that size, `omem` bytes), which is. A replica still receiving its
//! snapshot is judged by the stream held back for it instead (the payload is not output in
//! Redis's sense).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{ClientId, LogLevel, Node};
use crate::config::{ClientClass, ClientLimits};
use crate::effect::Effect;

/// Redis's per-client reply buffer (`PROTO_REPLY_CHUNK_BYTES`): output up to this size is
/// not counted against the output limits.
pub const REPLY_BUFFER_BYTES: u64 = 16 * 1024;
/// Seconds of history `client_recent_max_*` covers (`CLIENTS_PEAK_MEM_USAGE_SLOTS`).
const PEAK_SLOTS: usize = 8;
/// How much of a refused query buffer the log line shows.
const QUERY_HEAD_SHOWN_BYTES: usize = 64;

/// What the driver holds for one client, as it last reported.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientBufferSizes {
    /// Output not yet written to the socket (replies, pushes, the replication stream).
    pub output_bytes: u64,
    /// Input read and not yet parsed into a whole request.
    pub query_bytes: u64,
    /// Room left in the input buffer.
    pub query_free_bytes: u64,
}

impl ClientBufferSizes {
    /// `obl`: bytes in the fixed reply buffer.
    pub fn fixed_buffer_bytes(&self) -> u64 {
        self.output_bytes.min(REPLY_BUFFER_BYTES)
    }

    /// `omem`: bytes in the reply list, what the limits count.
    pub fn list_bytes(&self) -> u64 {
        self.output_bytes.saturating_sub(REPLY_BUFFER_BYTES)
    }

    /// `oll`: blocks in the reply list.
    pub fn list_blocks(&self) -> u64 {
        self.list_bytes().div_ceil(REPLY_BUFFER_BYTES)
    }
}

/// Per client: its buffers and since when it is over its soft limit.
#[derive(Clone, Debug, Default)]
pub struct ClientBuffers {
    pub sizes: ClientBufferSizes,
    /// The second (of the monotonic clock) in which the soft limit was first seen passed,
    /// while it stays passed.
    soft_limit_since_s: Option<u64>,
}

/// The biggest input and output a client had, per second over the last [`PEAK_SLOTS`].
#[derive(Clone, Debug, Default)]
pub struct RecentPeaks {
    input: [u64; PEAK_SLOTS],
    output: [u64; PEAK_SLOTS],
}

impl RecentPeaks {
    fn record(&mut self, now_s: u64, input_bytes: u64, output_bytes: u64) {
        let slot = (now_s % PEAK_SLOTS as u64) as usize;
        self.input[slot] = self.input[slot].max(input_bytes);
        self.output[slot] = self.output[slot].max(output_bytes);
    }

    /// A new second starts with a clean slot, as Redis zeroes the next one each cron.
    fn clear_next(&mut self, now_s: u64) {
        let next = ((now_s + 1) % PEAK_SLOTS as u64) as usize;
        self.input[next] = 0;
        self.output[next] = 0;
    }

    /// `client_recent_max_input_buffer`, `client_recent_max_output_buffer`.
    pub fn max(&self) -> (u64, u64) {
        let max = |s: &[u64; PEAK_SLOTS]| s.iter().copied().max().unwrap_or(0);
        (max(&self.input), max(&self.output))
    }
}

/// The two limits the driver applies while parsing, before it locks the node: read without
/// the node, written by it whenever the config changes.
#[derive(Debug)]
pub struct LimitsWatch {
    proto_max_bulk_len_bytes: AtomicU64,
    query_buffer_bytes: AtomicU64,
}

impl LimitsWatch {
    pub(crate) fn new(limits: &ClientLimits) -> LimitsWatch {
        let watch = LimitsWatch {
            proto_max_bulk_len_bytes: AtomicU64::new(0),
            query_buffer_bytes: AtomicU64::new(0),
        };
        watch.update(limits);
        watch
    }

    pub(crate) fn update(&self, limits: &ClientLimits) {
        let bulk = limits.proto_max_bulk_len_bytes;
        self.proto_max_bulk_len_bytes.store(bulk, Ordering::Relaxed);
        let query = limits.query_buffer_bytes;
        self.query_buffer_bytes.store(query, Ordering::Relaxed);
    }

    /// `proto-max-bulk-len`: a request's bulk argument longer than this is a protocol error.
    pub fn proto_max_bulk_len_bytes(&self) -> u64 {
        self.proto_max_bulk_len_bytes.load(Ordering::Relaxed)
    }

    /// `client-query-buffer-limit`: input held beyond this goes to
    /// [`Node::query_buffer_over_limit`].
    pub fn query_buffer_bytes(&self) -> u64 {
        self.query_buffer_bytes.load(Ordering::Relaxed)
    }
}

impl Node {
    /// The limits the driver reads without the node (see [`LimitsWatch`]).
    pub fn limits_watch(&self) -> Arc<LimitsWatch> {
        self.limits_watch.clone()
    }

    /// `CONFIG SET` ran: the driver's copy of the parsing limits follows.
    pub(crate) fn client_limits_changed(&mut self) {
        self.limits_watch.update(&self.config.client_limits);
    }

    /// The class whose output limits hold for `client`: a replica (not a monitor), a client
    /// subscribed to anything (RESP2 or RESP3), or normal.
    pub(crate) fn client_class(&self, client: ClientId) -> ClientClass {
        let monitor = self.clients.get(&client).is_some_and(|c| c.session.monitor);
        if self.repl.is_replica_client(client) && !monitor {
            ClientClass::Replica
        } else if self.pubsub.is_subscribed(client) {
            ClientClass::PubSub
        } else {
            ClientClass::Normal
        }
    }

    /// The driver's report of its clients' buffers, each cron tick. Clients it names that
    /// are gone are skipped; clients over their output limits are dropped.
    pub fn client_buffers(&mut self, now: super::Time, reports: &[(ClientId, ClientBufferSizes)]) {
        self.set_time(now);
        let now_s = now.mono_ms / 1000;
        self.recent_peaks.clear_next(now_s);
        let mut over = Vec::new();
        for &(client, sizes) in reports {
            let Some(c) = self.clients.get_mut(&client) else {
                continue;
            };
            if sizes.query_bytes != c.buffers.sizes.query_bytes {
                // Redis counts a read as interaction, whole request or not.
                c.last_command_ms = now.mono_ms;
            }
            c.buffers.sizes = sizes;
            let input = sizes.query_bytes + sizes.query_free_bytes + c.session.argv_mem as u64;
            self.recent_peaks.record(now_s, input, sizes.list_bytes());
            if self.output_limit_reached(client) {
                over.push(client);
            }
        }
        for client in over {
            self.drop_client_over_output_limit(client, "closed");
        }
    }

    /// Output just queued for `reports`' clients stayed unwritten past their fixed reply
    /// buffer (the driver's report after a turn's writes): their limits are judged now, as
    /// Redis judges them whenever a reply grows the list. Only the output sizes are taken.
    pub fn client_output_queued(
        &mut self,
        now: super::Time,
        reports: &[(ClientId, ClientBufferSizes)],
    ) {
        self.set_time(now);
        let mut over = Vec::new();
        for &(client, sizes) in reports {
            let Some(c) = self.clients.get_mut(&client) else {
                continue;
            };
            c.buffers.sizes.output_bytes = sizes.output_bytes;
            if self.output_limit_reached(client) {
                over.push(client);
            }
        }
        for client in over {
            self.drop_client_over_output_limit(client, "scheduled to be closed ASAP");
        }
    }

    /// Redis's `checkClientOutputBufferLimits`, which also starts or clears the soft limit's
    /// clock. A client with nothing in its reply list is not judged (nor its clock cleared),
    /// replicas excepted.
    fn output_limit_reached(&mut self, client: ClientId) -> bool {
        let class = self.client_class(client);
        let mut limit = self.config.client_limits.output_limit(class);
        if class == ClientClass::Replica && limit.hard_bytes != 0 {
            // A replica's limit below the backlog would break every partial resync.
            limit.hard_bytes = limit.hard_bytes.max(self.config.repl_backlog_size);
        }
        let now_s = self.now.mono_ms / 1000;
        // A replica still receiving its snapshot: the driver's queue holds the payload, which
        // Redis sends outside the output buffer; what counts is the stream held back for it.
        let held = self.repl.held_stream_bytes(client);
        let c = self
            .clients
            .get_mut(&client)
            .expect("reported client exists");
        let used = held.unwrap_or_else(|| c.buffers.sizes.list_bytes());
        if used == 0 && class != ClientClass::Replica {
            return false;
        }
        let hard = limit.hard_bytes != 0 && used >= limit.hard_bytes;
        let soft = limit.soft_bytes != 0 && used >= limit.soft_bytes;
        if !soft {
            c.buffers.soft_limit_since_s = None;
            return hard;
        }
        // Whole seconds, as Redis counts them: over for more than N seconds means a close
        // between N and N + 1 seconds after the limit was passed.
        let since_s = *c.buffers.soft_limit_since_s.get_or_insert(now_s);
        hard || now_s - since_s > limit.soft_seconds
    }

    /// `how`: Redis's words for a close from the cron or from a reply being queued.
    fn drop_client_over_output_limit(&mut self, client: ClientId, how: &str) {
        let info = self.client_info_line(client);
        self.log(
            LogLevel::Warning,
            format!("Client {info} {how} for overcoming of output buffer limits."),
        );
        self.drop_client(client);
    }

    /// Forgets `client` now and has the driver close it without writing what it holds
    /// (Redis's `freeClient`).
    fn drop_client(&mut self, client: ClientId) {
        assert!(
            self.clients.contains_key(&client),
            "dropping unknown client {client}"
        );
        self.client_disconnected(client);
        self.out.push(Effect::DropClient { client });
        assert!(
            !self.clients.contains_key(&client),
            "dropped client {client} stayed"
        );
    }

    /// `CLIENT LIST`'s line for `client`, without its newline, as Redis's log lines show it.
    fn client_info_line(&self, client: ClientId) -> String {
        let line = crate::cmd::connection::client_list::client_line(self, client);
        line.trim_end_matches('\n').to_string()
    }

    /// A new connection, before it becomes a client: `Some(error)` (the line to write before
    /// closing it) when the node already has `maxclients` clients and cluster connections.
    /// Cluster connections count as Redis counts them: two per other known node.
    pub fn connection_refused(&mut self) -> Option<&'static str> {
        let cluster_connections = if self.config.cluster_enabled {
            2 * (self.cluster.nodes.len() as u64).saturating_sub(1)
        } else {
            0
        };
        let used = self.clients.len() as u64 + cluster_connections;
        if used < self.config.client_limits.maxclients {
            return None;
        }
        self.stats.rejected_connections += 1;
        Some(if self.config.cluster_enabled {
            "ERR max number of clients + cluster connections reached"
        } else {
            "ERR max number of clients reached"
        })
    }

    /// The driver holds more unparsed input from `client` than `client-query-buffer-limit`
    /// allows (`query_bytes`, starting with `head`): true when the client must be closed,
    /// which is then logged as Redis logs it. The driver closes it without replying.
    pub fn query_buffer_over_limit(
        &mut self,
        client: ClientId,
        query_bytes: u64,
        head: &[u8],
    ) -> bool {
        if query_bytes <= self.config.client_limits.query_buffer_bytes {
            return false;
        }
        let Some(c) = self.clients.get_mut(&client) else {
            return false;
        };
        c.buffers.sizes.query_bytes = query_bytes;
        let shown = &head[..head.len().min(QUERY_HEAD_SHOWN_BYTES)];
        let info = self.client_info_line(client);
        let text = format!(
            "Closing client that reached max query buffer length: {info} (qbuf initial bytes: {})",
            crate::text::quote_repr(shown)
        );
        self.log(LogLevel::Warning, text);
        true
    }

    /// The cron's idle check (`timeout`): a client silent for longer is closed, unless it is
    /// a replica or monitor, blocked, or subscribed, as Redis spares those.
    pub(crate) fn close_idle_clients(&mut self) {
        let timeout_s = self.config.client_limits.timeout_s;
        if timeout_s == 0 {
            return;
        }
        // Whole seconds, as Redis compares them: idle between N and N + 1 seconds at the close.
        let now_s = self.now.mono_ms / 1000;
        let idle: Vec<ClientId> = self
            .clients
            .values()
            .filter(|c| now_s.saturating_sub(c.last_command_ms / 1000) > timeout_s)
            .map(|c| c.id)
            .filter(|&id| !self.spared_from_timeout(id))
            .collect();
        for client in idle {
            self.log(LogLevel::Verbose, "Closing idle client".to_string());
            self.drop_client(client);
        }
    }

    fn spared_from_timeout(&self, client: ClientId) -> bool {
        let c = &self.clients[&client];
        c.session.monitor
            || self.repl.is_replica_client(client)
            || self.is_parked(client)
            || self.blocked_keys.contains(client)
            || self.pubsub.is_subscribed(client)
    }

    /// `client_recent_max_input_buffer` and `client_recent_max_output_buffer`.
    pub(crate) fn recent_max_buffers(&self) -> (u64, u64) {
        self.recent_peaks.max()
    }
}
