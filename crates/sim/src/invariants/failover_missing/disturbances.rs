//! What the faults a run applied did, as spans of virtual time: when each node was down or
//! touched by a fault, when partitions, packet loss and extra latency were in force. Read
//! from the injector's `Applied` fault events only.

use std::collections::{BTreeMap, BTreeSet};

use crate::faults::{Direction, Fault, DEFAULT_LATENCY_MS};
use crate::trace::{Event, FaultEvent, TraceEvent};

/// `[from, to)` in µs.
pub(super) type Span = (u64, u64);

/// What the applied faults did to each node and to the whole network.
#[derive(Default)]
pub(super) struct Disturbances {
    /// Per node index: when a crash, a pause or a clog of its outgoing traffic had it down.
    pub(super) down: BTreeMap<usize, Vec<Span>>,
    /// Per node index: when any fault touched it (down, clogged, failed over, wiped).
    pub(super) touched: BTreeMap<usize, Vec<Span>>,
    /// When extra latency was in force, with its longest delay in ms.
    pub(super) latency: Vec<(Span, u64)>,
    /// Each partition while it lasted, with its sides (every node on exactly one).
    pub(super) partitions: Vec<(Span, Vec<Vec<usize>>)>,
    /// When packet loss was in force.
    pub(super) lossy: Vec<Span>,
}

/// The sides of a partition: its groups and one more of the nodes in none.
fn sides(groups: &[Vec<usize>], nodes: usize) -> Vec<Vec<usize>> {
    let grouped: BTreeSet<usize> = groups.iter().flatten().copied().collect();
    let rest: Vec<usize> = (0..nodes).filter(|n| !grouped.contains(n)).collect();
    let mut all = groups.to_vec();
    if !rest.is_empty() {
        all.push(rest);
    }
    all
}

/// The spans still open while [`Disturbances::of`] walks the events: per `(kind, node,
/// node)` (kind 0: down, 1: touched), the partition, packet loss and extra latency.
#[derive(Default)]
struct Open {
    nodes: BTreeMap<(u8, usize, usize), u64>,
    split: Option<(u64, Vec<Vec<usize>>)>,
    loss: Option<u64>,
    slow: Option<(u64, u64)>,
}

pub(super) fn overlaps(spans: &[Span], (from, to): Span) -> bool {
    spans.iter().any(|&(a, b)| a < to && from < b)
}

impl Disturbances {
    pub(super) fn of(events: &[TraceEvent], nodes: usize) -> Disturbances {
        let mut d = Disturbances::default();
        let mut open = Open::default();
        for e in events {
            match &e.event {
                Event::Fault(FaultEvent::Applied(f)) => d.apply(&mut open, e.time_us, f, nodes),
                Event::Fault(FaultEvent::HealAll) => d.close_all(&mut open, e.time_us),
                _ => {}
            }
        }
        let end = events.last().map_or(0, |e| e.time_us) + 1;
        d.close_all(&mut open, end);
        d
    }

    /// Ends every span still open at `t` (the heal, or the end of the trace).
    fn close_all(&mut self, open: &mut Open, t: u64) {
        for ((kind, a, b), from) in std::mem::take(&mut open.nodes) {
            self.close(kind, a, b, from, t);
        }
        // The heal resumes paused nodes too, however long their pause was meant to last.
        for spans in self.down.values_mut().chain(self.touched.values_mut()) {
            for span in spans.iter_mut().filter(|(from, to)| *from <= t && t < *to) {
                span.1 = t;
            }
        }
        self.end_split(open, t);
        if let Some(from) = open.loss.take() {
            self.lossy.push((from, t));
        }
        if let Some((from, max_ms)) = open.slow.take() {
            self.latency.push(((from, t), max_ms));
        }
    }

    fn end_split(&mut self, open: &mut Open, t: u64) {
        if let Some((from, groups)) = open.split.take() {
            self.partitions.push(((from, t), groups));
        }
    }

    fn end_node(&mut self, open: &mut Open, key: (u8, usize, usize), t: u64) {
        if let Some(from) = open.nodes.remove(&key) {
            self.close(key.0, key.1, key.2, from, t);
        }
    }

    /// Opens or closes the spans `fault` starts or ends at `t`.
    fn apply(&mut self, open: &mut Open, t: u64, fault: &Fault, nodes: usize) {
        let mut start = |key: (u8, usize, usize)| {
            open.nodes.entry(key).or_insert(t);
        };
        match fault {
            Fault::Crash { node, .. } => start((0, *node, *node)),
            Fault::Restart { node } => self.end_node(open, (0, *node, *node), t),
            Fault::Pause { node, ms } => self.close(0, *node, *node, t, t + ms * 1000),
            // Nothing from the node reaches its peers: they flag it as if it were down.
            // Traffic to it dropped alone is not enough: Redis 7.0 counts any data received
            // from a node as a sign of life, and its own pings still arrive.
            Fault::ClogNode { node, direction } => {
                start((u8::from(*direction == Direction::In), *node, *node))
            }
            Fault::UnclogNode { node } => {
                self.end_node(open, (0, *node, *node), t);
                self.end_node(open, (1, *node, *node), t);
            }
            Fault::ClogLink { from, to } => start((1, *from, *to)),
            Fault::UnclogLink { from, to } => self.end_node(open, (1, *from, *to), t),
            Fault::WipeRestart { node } => self.close(1, *node, *node, t, u64::MAX),
            // A failing disk may stop the node, which peers then fail over; or it refuses
            // writes and stays up. Either way it is not a clean voter or candidate.
            Fault::DiskError { node, .. } => start((1, *node, *node)),
            Fault::DiskRepair { node } => self.end_node(open, (1, *node, *node), t),
            // A slow disk holds the node for each sync it waits on (`always`, `nodes.conf`
            // saves): it may be failed over, and it answers votes late.
            Fault::SlowDisk { node, fsync_ms } if *fsync_ms > 0 => start((1, *node, *node)),
            Fault::SlowDisk { node, .. } => self.end_node(open, (1, *node, *node), t),
            Fault::ManualFailover { node, .. } => self.close(1, *node, *node, t, t + 1),
            // A reshard holds no vote back and stops no replica, and a client partition
            // leaves the bus whole: not disturbances.
            // A wrong wall clock delays no timeout either: they read a monotonic clock
            // (`SimConfig::wall_clock_timeouts` is never drawn).
            Fault::MoveSlots { .. }
            | Fault::ClientPartition { .. }
            | Fault::ClientHeal
            | Fault::ClockJump { .. }
            | Fault::ClockDrift { .. } => {}
            Fault::Partition { groups } => {
                self.end_split(open, t);
                open.split = Some((t, sides(groups, nodes)));
            }
            Fault::Heal => self.end_split(open, t),
            Fault::Latency { min_ms, max_ms } => {
                if let Some((from, max_ms)) = open.slow.take() {
                    self.latency.push(((from, t), max_ms));
                }
                if (*min_ms, *max_ms) != DEFAULT_LATENCY_MS {
                    open.slow = Some((t, *max_ms));
                }
            }
            Fault::PacketLoss { permille } => match (*permille > 0, open.loss) {
                (true, None) => open.loss = Some(t),
                (false, Some(from)) => {
                    self.lossy.push((from, t));
                    open.loss = None;
                }
                _ => {}
            },
        }
    }

    /// The longest extra delay in force at any time of `window`, in ms (0: none).
    pub(super) fn latency_ms(&self, window: Span) -> u64 {
        self.latency
            .iter()
            .filter(|(span, _)| overlaps(&[*span], window))
            .map(|&(_, max_ms)| max_ms)
            .max()
            .unwrap_or(0)
    }

    /// Records a span of kind 0 (down: also touched) or 1 (touched) for nodes `a` and `b`.
    fn close(&mut self, kind: u8, a: usize, b: usize, from: u64, to: u64) {
        for node in [a, b].into_iter().collect::<BTreeSet<_>>() {
            if kind == 0 {
                self.down.entry(node).or_default().push((from, to));
            }
            self.touched.entry(node).or_default().push((from, to));
        }
    }

    pub(super) fn touched(&self, node: usize, window: Span) -> bool {
        self.touched
            .get(&node)
            .is_some_and(|spans| overlaps(spans, window))
    }
}
