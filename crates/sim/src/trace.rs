//! The run trace: every event the harness observes, stamped with virtual time and the node it
//! concerns, and a 64-bit FNV-1a hash over its rendered lines.
//!
//! Two runs of the same seed must produce the same trace byte for byte, so the hash is a cheap
//! determinism check; the rendered lines are the timeline a person reads when a seed fails.
//! The trace is shared (`Clone` gives another handle to the same events) because events come
//! from the scenario driver and from the tasks that run each node.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// One observed event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// Virtual time since the start of the run, in microseconds.
    pub time_us: u64,
    /// Which node (or `client`, `harness`) the event concerns.
    pub node: String,
    pub event: String,
}

impl TraceEvent {
    /// `  12.345678s node1 event` — fixed-width time so timelines line up.
    pub fn render(&self) -> String {
        let mut line = String::new();
        self.render_into(&mut line);
        line
    }

    /// [`TraceEvent::render`] appended to `out` (a whole trace renders without a String per
    /// event).
    pub fn render_into(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:>5}.{:06}s {} {}",
            self.time_us / 1_000_000,
            self.time_us % 1_000_000,
            self.node,
            self.event
        );
    }
}

impl TraceEvent {
    /// Reads back a line [`TraceEvent::render`] wrote (`None` if it is not one).
    pub fn parse(line: &str) -> Option<TraceEvent> {
        let line = line.trim_start();
        let (time, rest) = line.split_once(' ')?;
        let (secs, micros) = time.strip_suffix('s')?.split_once('.')?;
        if micros.len() != 6 {
            return None;
        }
        let time_us = secs.parse::<u64>().ok()? * 1_000_000 + micros.parse::<u64>().ok()?;
        let (node, event) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(TraceEvent {
            time_us,
            node: node.to_string(),
            event: event.to_string(),
        })
    }
}

/// The events of a rendered trace ([`Trace::render`]); a line that is no event (an event
/// text with a line break in it) continues the previous event.
pub fn parse_rendered(text: &str) -> Vec<TraceEvent> {
    let mut events: Vec<TraceEvent> = Vec::new();
    for line in text.lines() {
        match (TraceEvent::parse(line), events.last_mut()) {
            (Some(event), _) => events.push(event),
            (None, Some(last)) => {
                last.event.push('\n');
                last.event.push_str(line);
            }
            (None, None) => {}
        }
    }
    events
}

/// A shared, append-only list of events.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    events: Arc<Mutex<Vec<TraceEvent>>>,
}

/// Caps the trace so a runaway scenario cannot exhaust memory; the hash still covers every event.
const MAX_KEPT_EVENTS: usize = 200_000;

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Records an event at an explicit virtual time (microseconds since the run started).
    pub fn record_at(&self, time_us: u64, node: impl Into<String>, event: impl Into<String>) {
        let event = TraceEvent {
            time_us,
            node: node.into(),
            event: event.into(),
        };
        let mut events = self.lock();
        if events.len() < MAX_KEPT_EVENTS {
            events.push(event);
        }
    }

    /// Records an event at the current virtual time.
    #[cfg(madsim)]
    pub fn record(&self, node: impl Into<String>, event: impl Into<String>) {
        let elapsed = madsim::time::TimeHandle::current().elapsed();
        self.record_at(elapsed.as_micros() as u64, node, event);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// A copy of the events recorded so far.
    pub fn events(&self) -> Vec<TraceEvent> {
        self.lock().clone()
    }

    /// All events, one rendered line each.
    pub fn render(&self) -> String {
        let events = self.lock();
        let size: usize = events
            .iter()
            .map(|e| e.node.len() + e.event.len() + 18)
            .sum();
        let mut out = String::with_capacity(size);
        for event in events.iter() {
            event.render_into(&mut out);
            out.push('\n');
        }
        out
    }

    /// [`Trace::render`] and [`Trace::hash`] in one pass (the hash is FNV-1a over exactly
    /// the rendered text).
    pub fn render_and_hash(&self) -> (String, u64) {
        let text = self.render();
        let mut hash = Fnv64::new();
        hash.write(text.as_bytes());
        (text, hash.finish())
    }

    /// FNV-1a over the rendered lines (each followed by `\n`).
    pub fn hash(&self) -> u64 {
        let mut hash = Fnv64::new();
        let mut line = String::new();
        for event in self.lock().iter() {
            line.clear();
            event.render_into(&mut line);
            hash.write(line.as_bytes());
            hash.write(b"\n");
        }
        hash.finish()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<TraceEvent>> {
        // A panic while holding the lock leaves a valid Vec; keep using it.
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Node log lines in the trace: while the returned guard lives, every log line a node's
/// runtime writes at notice level or above (elections, promotions, FAIL markings,
/// `cluster_state` changes, reconfigurations) is recorded as `log <text>` under the node's
/// name, at the virtual time it was written. `machines` maps madsim machine IDs to names;
/// lines from other machines (the client) are ignored.
///
/// madsim runs a whole simulation on the thread that calls `block_on`, so a thread-local
/// subscriber (set inside the simulation) sees exactly this run's nodes, also when several
/// seeds run side by side on other threads.
#[cfg(madsim)]
pub fn capture_node_logs(
    trace: &Trace,
    machines: Vec<(madsim::task::NodeId, String)>,
) -> tracing::subscriber::DefaultGuard {
    tracing::subscriber::set_default(node_logs::NodeLogs {
        trace: trace.clone(),
        machines: machines.into_iter().collect(),
    })
}

#[cfg(madsim)]
mod node_logs {
    use std::collections::BTreeMap;
    use std::fmt;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::Trace;

    /// The node runtime's log lines come from this module (see `clusterlab_net::server::log`).
    const NODE_LOG_TARGET: &str = "clusterlab_net::server";

    pub(super) struct NodeLogs {
        pub(super) trace: Trace,
        pub(super) machines: BTreeMap<madsim::task::NodeId, String>,
    }

    /// Pulls the formatted message out of an event.
    struct Message(String);

    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.0 = value.to_string();
            }
        }
    }

    impl Subscriber for NodeLogs {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            // `INFO` is redis's notice level; more verbose lines would flood the trace.
            metadata.is_event()
                && *metadata.level() <= Level::INFO
                && metadata.target() == NODE_LOG_TARGET
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            // Never called: no span is enabled.
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let Some(name) = self.machines.get(&madsim::plugin::node()) else {
                return;
            };
            let mut message = Message(String::new());
            event.record(&mut message);
            // One trace line per log line.
            let text = message.0.replace(['\r', '\n'], " ");
            self.trace.record(name.clone(), format!("log {text}"));
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }
}

/// 64-bit FNV-1a: tiny, dependency-free and stable across platforms and Rust versions (unlike
/// `std`'s `DefaultHasher`), which matters for hashes people compare across machines.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Fnv64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub fn new() -> Fnv64 {
        Fnv64(Self::OFFSET_BASIS)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(Fnv64::new().finish(), 0xcbf29ce484222325);
        let mut h = Fnv64::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63dc4c8601ec8c);
        let mut h = Fnv64::new();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0x85944171f73967e8);
    }

    #[test]
    fn render_and_hash_depend_on_every_field() {
        let a = Trace::new();
        a.record_at(12_345_678, "node1", "PING -> PONG");
        assert_eq!(a.render(), "   12.345678s node1 PING -> PONG\n");

        let same = Trace::new();
        same.record_at(12_345_678, "node1", "PING -> PONG");
        assert_eq!(a.hash(), same.hash());
        same.record_at(12_345_679, "node2", "x");
        assert_eq!(same.render_and_hash(), (same.render(), same.hash()));

        for (t, node, ev) in [
            (12_345_679, "node1", "PING -> PONG"),
            (12_345_678, "node2", "PING -> PONG"),
            (12_345_678, "node1", "PING -> ERR"),
        ] {
            let other = Trace::new();
            other.record_at(t, node, ev);
            assert_ne!(a.hash(), other.hash(), "{t} {node} {ev}");
        }
    }

    #[test]
    fn rendered_traces_parse_back() {
        let t = Trace::new();
        t.record_at(12_345_678, "node1", "PING -> PONG");
        t.record_at(1_000_000_000, "harness", "violation x: y");
        t.record_at(5, "writer", "");
        assert_eq!(parse_rendered(&t.render()), t.events());
        assert_eq!(TraceEvent::parse("nonsense"), None);
        // A stray line continues the event before it.
        let events = parse_rendered("    0.000001s a b\nmore\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "b\nmore");
    }

    #[test]
    fn clones_share_events() {
        let a = Trace::new();
        let b = a.clone();
        b.record_at(1, "client", "x");
        assert_eq!(a.len(), 1);
        assert_eq!(a.events()[0].event, "x");
    }
}
