//! The run trace: every event the harness observes, stamped with virtual time and the node it
//! concerns, and a 64-bit FNV-1a hash over its rendered lines.
//!
//! Two runs of the same seed must produce the same trace byte for byte, so the hash is a cheap
//! determinism check; the rendered lines are the timeline a person reads when a seed fails.
//! The trace is shared (`Clone` gives another handle to the same events) because events come
//! from the scenario driver and from the tasks that run each node.
//!
//! Every event is a typed value ([`Event`]); a node's protocol decisions arrive straight from
//! the core's `ClusterEvent`s. Checkers and the timeline match on values, never on rendered
//! text.

mod event;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use event::{Event, FaultEvent, NodeSample, Outcome, ProcessEvent, Request, RunPhase, Sampled};

/// One observed event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// Virtual time since the start of the run, in microseconds.
    pub time_us: u64,
    /// Which node (or `client`, `harness`) the event concerns.
    pub node: String,
    /// What happened.
    pub event: Event,
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

/// A shared, append-only list of events.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    events: Arc<Mutex<Vec<TraceEvent>>>,
    /// Events past [`MAX_KEPT_EVENTS`] that were not kept; a run reports them as a violation
    /// rather than judging a partial trace in silence.
    dropped: Arc<AtomicU64>,
}

/// Caps the trace so a runaway scenario cannot exhaust memory; later events are dropped (and
/// counted, see [`Trace::dropped`]), so the rendering and the hash cover only the first this
/// many.
pub const MAX_KEPT_EVENTS: usize = 200_000;

impl Trace {
    /// An empty trace.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Records an event at an explicit virtual time (microseconds since the run started).
    pub fn record_at(&self, time_us: u64, node: impl Into<String>, event: impl Into<Event>) {
        let event = TraceEvent {
            time_us,
            node: node.into(),
            event: event.into(),
        };
        let mut events = self.lock();
        if events.len() < MAX_KEPT_EVENTS {
            events.push(event);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many events were recorded past [`MAX_KEPT_EVENTS`] and not kept.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records an event at the current virtual time.
    #[cfg(madsim)]
    pub fn record(&self, node: impl Into<String>, event: impl Into<Event>) {
        let elapsed = madsim::time::TimeHandle::current().elapsed();
        self.record_at(elapsed.as_micros() as u64, node, event);
    }

    /// Events recorded so far (at most the cap of 200 000 kept events).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// A copy of the events recorded so far.
    pub fn events(&self) -> Vec<TraceEvent> {
        self.lock().clone()
    }

    /// When the last event `wanted` picks was recorded (µs), looked up without copying the
    /// trace.
    pub fn last_time_us(&self, wanted: impl Fn(&TraceEvent) -> bool) -> Option<u64> {
        self.lock()
            .iter()
            .rev()
            .find(|e| wanted(e))
            .map(|e| e.time_us)
    }

    /// A copy of the events recorded since the first `start` (for a poll that reads only
    /// what is new).
    pub fn events_from(&self, start: usize) -> Vec<TraceEvent> {
        let events = self.lock();
        events
            .get(start..)
            .map_or_else(Vec::new, <[TraceEvent]>::to_vec)
    }

    /// All events, one rendered line each.
    pub fn render(&self) -> String {
        let events = self.lock();
        let size: usize = events
            .iter()
            .map(|e| e.node.len() + e.event.text().len() + 18)
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

/// 64-bit FNV-1a: tiny, dependency-free and stable across platforms and Rust versions (unlike
/// `std`'s `DefaultHasher`), which matters for hashes people compare across machines.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Fnv64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The hash of no bytes (the FNV offset basis).
    pub fn new() -> Fnv64 {
        Fnv64(Self::OFFSET_BASIS)
    }

    /// Hashes `bytes` in; writing `a` then `b` equals writing `a ++ b`.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// The hash of everything written so far (writing more afterwards continues it).
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
    use clusterlab_core::ClusterEvent;

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
    fn typed_events_render_for_people_and_stay_typed() {
        let t = Trace::new();
        t.record_at(
            1_000_000,
            "node2",
            ClusterEvent::ClusterStateChanged { ok: false },
        );
        t.record_at(2_000_000, "harness", "heal");
        assert_eq!(
            t.render(),
            "    1.000000s node2 cluster state fail\n    2.000000s harness heal\n"
        );
        let events = t.events();
        assert_eq!(
            events[0].event.cluster(),
            Some(&ClusterEvent::ClusterStateChanged { ok: false })
        );
        assert_eq!(events[0].event.text(), "");
        assert_eq!(events[1].event.cluster(), None);
        assert_eq!(events[1].event.text(), "heal");
    }

    #[test]
    fn events_past_the_cap_are_counted_not_kept() {
        let t = Trace::new();
        for i in 0..MAX_KEPT_EVENTS as u64 + 3 {
            t.record_at(i, "node1", "x");
        }
        assert_eq!(t.len(), MAX_KEPT_EVENTS);
        assert_eq!(t.dropped(), 3);
        assert_eq!(t.clone().dropped(), 3, "clones share the count");
    }

    #[test]
    fn clones_share_events() {
        let a = Trace::new();
        let b = a.clone();
        b.record_at(1, "client", "x");
        assert_eq!(a.len(), 1);
        assert_eq!(a.events()[0].event.text(), "x");
    }
}
