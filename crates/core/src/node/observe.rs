//! What the node records about its own command durations: the SLOWLOG and the LATENCY
//! monitor's events (and who is in `MONITOR` mode, fed by `cmd::server::monitor`).
//!
//! The core has no clock of its own: within one call `node.now` does not move. So the driver
//! measures each [`Node::command`] on its monotonic clock and reports it with
//! [`Node::command_took`]; under madsim that clock is virtual and a command takes no time, so
//! only a `slowlog-log-slower-than` of 0 logs anything there. Commands run by `EXEC` are logged
//! one by one, as in Redis, each with the duration of the whole `EXEC` (an upper bound: the
//! driver times the call, not each command inside it). The same durations feed `INFO
//! commandstats` (`usec`) and `LATENCY HISTOGRAM` for every command, slow or not; commands
//! no client call ran (a replica applying its master's stream, a blocked client served
//! later, the AOF loaded at start) are counted there but not timed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::{ClientId, Node};
use crate::cmd::{CmdFlags, CommandSpec};

/// Redis keeps at most this many arguments of a logged command…
const SLOWLOG_ARGS_MAX: usize = 32;
/// …and this many bytes of each.
const SLOWLOG_ARG_BYTES_MAX: usize = 128;
/// Redis's defaults for `slowlog-log-slower-than` (µs) and `slowlog-max-len`.
pub(crate) const SLOWLOG_SLOWER_THAN_US: i64 = 10_000;
pub(crate) const SLOWLOG_MAX_LEN: i64 = 128;
/// Commands timed per call at most (a longer EXEC or script times only its first ones).
const RAN_PER_CALL_MAX: usize = 4096;
/// Samples kept per latency event (Redis's `LATENCY_TS_LEN`).
pub(crate) const LATENCY_SAMPLES_MAX: usize = 160;

/// One SLOWLOG entry, as `SLOWLOG GET` shows it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SlowlogEntry {
    pub id: u64,
    pub unix_s: u64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: Bytes,
}

/// One latency event's samples: (unix seconds, ms), one per second at most (the highest).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LatencyEvent {
    pub samples: VecDeque<(u64, u64)>,
    pub max_ms: u64,
}

/// A command run during the current call, waiting for the driver's duration.
#[derive(Clone, Debug)]
struct Pending {
    args: Vec<Bytes>,
    fast: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Observed {
    pub slowlog: VecDeque<SlowlogEntry>,
    pub next_slowlog_id: u64,
    /// By event name (`command`, `fast-command`), in name order.
    pub latency: BTreeMap<&'static str, LatencyEvent>,
    /// Clients in `MONITOR` mode.
    pub monitors: BTreeSet<ClientId>,
    pending: Vec<Pending>,
    pending_client: Option<ClientId>,
    /// [`Node::observing`] at the start of the current call.
    on: bool,
    /// Every command run during the current call, for `INFO commandstats` and
    /// `LATENCY HISTOGRAM`, which time all of them.
    ran: Vec<&'static str>,
}

impl Node {
    /// An integer directive the configuration only stores (`slowlog-max-len`, …), by its
    /// canonical name, or its default when never set. A map lookup: this runs per command.
    pub(crate) fn config_i64(&self, name: &str, default: i64) -> i64 {
        let value = self.config.ignored.get(name);
        value.and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// Whether durations are recorded at all (SLOWLOG or the latency monitor is on).
    fn observing(&self) -> bool {
        let slowlog = self.config_i64("slowlog-log-slower-than", SLOWLOG_SLOWER_THAN_US) >= 0
            && self.config_i64("slowlog-max-len", SLOWLOG_MAX_LEN) > 0;
        slowlog || self.config_i64("latency-monitor-threshold", 0) > 0
    }

    /// Reports how long the last [`Node::command`] call for `client` took, on the driver's
    /// monotonic clock: its commands enter the SLOWLOG and the latency events if slow enough.
    pub fn command_took(&mut self, client: ClientId, duration_us: u64) {
        if self.observed.pending_client != Some(client) {
            return;
        }
        self.observed.pending_client = None;
        for name in std::mem::take(&mut self.observed.ran) {
            self.stats.calls.timed(name, duration_us);
        }
        let pending = std::mem::take(&mut self.observed.pending);
        for call in pending {
            self.log_slow(client, &call.args, duration_us);
            let event = if call.fast { "fast-command" } else { "command" };
            self.latency_sample(event, duration_us / 1000);
        }
    }

    /// Before a call: nothing is waiting for a duration any more.
    pub(super) fn observe_call_starts(&mut self, client: ClientId) {
        self.observed.pending.clear();
        self.observed.ran.clear();
        self.observed.pending_client = Some(client);
        self.observed.on = self.observing();
    }

    /// A command ran (on its own or inside EXEC): remembered until the driver's duration.
    pub(super) fn observe_command(&mut self, spec: &CommandSpec, args: &[Bytes]) {
        let timed = self.observed.pending_client.is_some();
        if timed && !self.replaying && self.observed.ran.len() < RAN_PER_CALL_MAX {
            self.observed.ran.push(spec.name);
        }
        let skip = spec.flags.contains(CmdFlags::SKIP_SLOWLOG);
        if !self.observed.on || self.replaying || skip {
            return;
        }
        self.observed.pending.push(Pending {
            args: args.to_vec(),
            fast: spec.flags.contains(CmdFlags::FAST),
        });
    }

    fn log_slow(&mut self, client: ClientId, args: &[Bytes], duration_us: u64) {
        let threshold_us = self.config_i64("slowlog-log-slower-than", SLOWLOG_SLOWER_THAN_US);
        let max_len = self.config_i64("slowlog-max-len", SLOWLOG_MAX_LEN).max(0) as usize;
        if threshold_us < 0 || max_len == 0 || duration_us < threshold_us as u64 {
            return;
        }
        let Some(c) = self.clients.get(&client) else {
            return;
        };
        let entry = SlowlogEntry {
            id: self.observed.next_slowlog_id,
            unix_s: self.now.unix_ms / 1000,
            duration_us,
            args: slowlog_args(args),
            addr: c.addr.clone(),
            name: c.name.clone().unwrap_or_default(),
        };
        self.observed.next_slowlog_id += 1;
        let log = &mut self.observed.slowlog;
        log.push_front(entry);
        log.truncate(max_len);
    }

    /// Records `latency_ms` for `event` if it reaches `latency-monitor-threshold` (0: off).
    pub(crate) fn latency_sample(&mut self, event: &'static str, latency_ms: u64) {
        let threshold_ms = self.config_i64("latency-monitor-threshold", 0);
        if threshold_ms <= 0 || latency_ms < threshold_ms as u64 {
            return;
        }
        let now_s = self.now.unix_ms / 1000;
        let e = self.observed.latency.entry(event).or_default();
        e.max_ms = e.max_ms.max(latency_ms);
        match e.samples.back_mut() {
            Some((at, ms)) if *at == now_s => *ms = (*ms).max(latency_ms),
            _ => e.samples.push_back((now_s, latency_ms)),
        }
        if e.samples.len() > LATENCY_SAMPLES_MAX {
            e.samples.pop_front();
        }
    }
}

/// Redis's shortening of a logged command: at most 32 arguments (the last saying how many
/// more there were) and 128 bytes of each (saying how many more bytes there were).
fn slowlog_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = if args.len() > SLOWLOG_ARGS_MAX {
        SLOWLOG_ARGS_MAX - 1
    } else {
        args.len()
    };
    let mut out: Vec<Bytes> = args[..kept]
        .iter()
        .map(|a| {
            if a.len() > SLOWLOG_ARG_BYTES_MAX {
                let mut cut = a[..SLOWLOG_ARG_BYTES_MAX].to_vec();
                let more = a.len() - SLOWLOG_ARG_BYTES_MAX;
                cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                Bytes::from(cut)
            } else {
                a.clone()
            }
        })
        .collect();
    if kept < args.len() {
        let more = args.len() - kept;
        out.push(Bytes::from(format!("... ({more} more arguments)")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_shortened_like_redis() {
        let args: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let out = slowlog_args(&args);
        assert_eq!(out.len(), 32);
        assert_eq!(out[30], Bytes::from("30"));
        assert_eq!(out[31], Bytes::from("... (9 more arguments)"));
        let long = Bytes::from(vec![b'x'; 130]);
        let out = slowlog_args(&[long]);
        let expected = format!("{}... (2 more bytes)", "x".repeat(128));
        assert_eq!(out[0], Bytes::from(expected));
    }
}
