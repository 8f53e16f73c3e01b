//! Who could reach whom, when: the fault schedule replayed as up/down and cut-off
//! stretches per node, for the checks that need to know what the network allowed.

use std::collections::{BTreeMap, BTreeSet};

/// Who could send to whom over a run: the network faults of a schedule replayed in time,
/// with the stretches each node was down (crashed, paused or wiped).
///
/// Times are virtual ms since the run started; `offset_ms` is when the schedule's time 0 was
/// (the safety phase's start) and faults at or after `span_ms` are never applied, and all are
/// undone at `offset_ms + span_ms`, as the injector does.
#[derive(Clone, Debug)]
pub struct Connectivity {
    node_count: usize,
    /// Faults in application order, at run ms.
    faults: Vec<(u64, crate::faults::Fault)>,
    heal_all_ms: u64,
    /// `(node, from ms, to ms)`.
    down: Vec<(usize, u64, u64)>,
    /// Every moment something changes, sorted.
    changes: Vec<u64>,
}

/// The network as the faults left it at one moment.
#[derive(Clone, Debug, Default)]
struct NetState {
    groups: Vec<Vec<usize>>,
    links: BTreeSet<(usize, usize)>,
    clogged: BTreeMap<usize, crate::faults::Direction>,
    /// Latency or packet loss other than madsim's defaults.
    degraded: bool,
    /// The one-way latency at most, in ms.
    latency_ms: u64,
    /// Packets lost per thousand.
    loss_permille: u32,
}

impl Connectivity {
    /// Replays `schedule` for a cluster of `node_count` nodes whose safety phase started at
    /// `offset_ms` and lasted `span_ms`. `down` holds `(node index, from ms, to ms)` stretches
    /// in run ms (`to` exclusive), as `FaultInjector::down_intervals` (simulation build)
    /// reports them in µs.
    pub fn new(
        schedule: &crate::faults::FaultSchedule,
        node_count: usize,
        offset_ms: u64,
        span_ms: u64,
        down: Vec<(usize, u64, u64)>,
    ) -> Connectivity {
        let faults: Vec<(u64, crate::faults::Fault)> = schedule
            .iter()
            .filter(|f| f.at_ms < span_ms)
            .map(|f| (offset_ms + f.at_ms, f.fault.clone()))
            .collect();
        let heal_all_ms = offset_ms + span_ms;
        let mut changes: Vec<u64> = faults.iter().map(|&(t, _)| t).collect();
        changes.push(heal_all_ms);
        for &(_, from, to) in &down {
            changes.push(from);
            changes.push(to);
        }
        changes.sort_unstable();
        changes.dedup();
        Connectivity {
            node_count,
            faults,
            heal_all_ms,
            down,
            changes,
        }
    }

    /// The same network with more `(node, from ms, to ms)` down stretches (nodes held for a
    /// sync after the stretches given to [`Connectivity::new`] were known).
    pub fn with_down(&self, more: impl IntoIterator<Item = (usize, u64, u64)>) -> Connectivity {
        let mut net = self.clone();
        for (node, from, to) in more {
            net.down.push((node, from, to));
            net.changes.extend([from, to]);
        }
        net.changes.sort_unstable();
        net.changes.dedup();
        net
    }

    fn state_at(&self, t_ms: u64) -> NetState {
        use crate::faults::{Fault, DEFAULT_LATENCY_MS};
        let mut state = NetState {
            latency_ms: DEFAULT_LATENCY_MS.1,
            ..NetState::default()
        };
        if t_ms >= self.heal_all_ms {
            return state;
        }
        let (mut latency, mut loss) = (false, false);
        for (_, fault) in self.faults.iter().take_while(|(at, _)| *at <= t_ms) {
            match fault {
                Fault::Partition { groups } => state.groups = groups.clone(),
                Fault::Heal => state.groups.clear(),
                Fault::ClogLink { from, to } => {
                    state.links.insert((*from, *to));
                }
                Fault::UnclogLink { from, to } => {
                    state.links.remove(&(*from, *to));
                }
                Fault::ClogNode { node, direction } => {
                    state.clogged.insert(*node, *direction);
                }
                Fault::UnclogNode { node } => {
                    state.clogged.remove(node);
                }
                Fault::Latency { min_ms, max_ms } => {
                    latency = (*min_ms, *max_ms) != DEFAULT_LATENCY_MS;
                    state.latency_ms = *max_ms;
                }
                Fault::PacketLoss { permille } => {
                    loss = *permille > 0;
                    state.loss_permille = *permille;
                }
                _ => {}
            }
        }
        state.degraded = latency || loss;
        state
    }

    /// Whether `node` runs at `t_ms`.
    pub fn up(&self, node: usize, t_ms: u64) -> bool {
        !self
            .down
            .iter()
            .any(|&(n, from, to)| n == node && from <= t_ms && t_ms < to)
    }

    fn group_of(&self, state: &NetState, node: usize) -> Option<usize> {
        if state.groups.is_empty() {
            return None;
        }
        Some(
            state
                .groups
                .iter()
                .position(|g| g.contains(&node))
                .unwrap_or(state.groups.len()),
        )
    }

    /// Whether traffic from `from` reaches `to` at `t_ms` (both run, nothing clogged between).
    pub fn can_send(&self, from: usize, to: usize, t_ms: u64) -> bool {
        use crate::faults::Direction;
        if !self.up(from, t_ms) || !self.up(to, t_ms) {
            return false;
        }
        let state = self.state_at(t_ms);
        let out_blocked = matches!(
            state.clogged.get(&from),
            Some(Direction::Out | Direction::Both)
        );
        let in_blocked = matches!(
            state.clogged.get(&to),
            Some(Direction::In | Direction::Both)
        );
        !out_blocked
            && !in_blocked
            && !state.links.contains(&(from, to))
            && self.group_of(&state, from) == self.group_of(&state, to)
    }

    /// Whether latency or packet loss differed from the defaults at `t_ms`.
    pub fn degraded(&self, t_ms: u64) -> bool {
        self.state_at(t_ms).degraded
    }

    /// The longest one-way latency in force at any moment of `[from_ms, to_ms]`, in ms.
    pub fn max_latency_ms(&self, from_ms: u64, to_ms: u64) -> u64 {
        self.checkpoints(from_ms, to_ms)
            .into_iter()
            .map(|t| self.state_at(t).latency_ms)
            .max()
            .unwrap_or(0)
    }

    /// The longest a message sent during `[from_ms, to_ms]` may take on a link that is not
    /// cut, in ms: the worst latency plus the retries packet loss may cost (madsim resends a
    /// lost packet after a doubling backoff, and the stream behind it waits).
    pub fn max_delivery_ms(&self, from_ms: u64, to_ms: u64) -> u64 {
        self.checkpoints(from_ms, to_ms)
            .into_iter()
            .map(|t| {
                let state = self.state_at(t);
                state.latency_ms + crate::event_checks::loss_delay_ms(state.loss_permille)
            })
            .max()
            .unwrap_or(0)
    }

    /// `t_ms` and every change point in `(from_ms, to_ms]`: where a condition that holds on
    /// each of them holds over the whole stretch.
    pub(crate) fn checkpoints(&self, from_ms: u64, to_ms: u64) -> Vec<u64> {
        let mut points = vec![from_ms];
        points.extend(
            self.changes
                .iter()
                .copied()
                .filter(|&c| c > from_ms && c <= to_ms),
        );
        points
    }

    /// Whether `from` could send to `to` during all of `[from_ms, to_ms]`.
    pub fn linked_throughout(&self, from: usize, to: usize, from_ms: u64, to_ms: u64) -> bool {
        self.checkpoints(from_ms, to_ms)
            .into_iter()
            .all(|t| self.can_send(from, to, t))
    }

    /// The last moment at or before `until_ms` at which `from` could send to `to` (`None`:
    /// never since the run started).
    pub fn last_delivery(&self, from: usize, to: usize, until_ms: u64) -> Option<u64> {
        if self.can_send(from, to, until_ms) {
            return Some(until_ms);
        }
        // Between two change points nothing changes: test each stretch at its start.
        let mut starts: Vec<u64> = vec![0];
        starts.extend(self.changes.iter().copied().filter(|&c| c < until_ms));
        starts.dedup();
        for (i, &start) in starts.iter().enumerate().rev() {
            if self.can_send(from, to, start) {
                let end = starts.get(i + 1).copied().unwrap_or(until_ms);
                return Some(end.min(until_ms));
            }
        }
        None
    }

    /// Number of nodes, as given to [`Connectivity::new`].
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Every moment something changes, in order: conditions are constant in between.
    pub fn change_points(&self) -> &[u64] {
        &self.changes
    }

    /// Whether `node`'s disk was wiped at or before `t_ms` (it runs under a new ID since).
    pub fn wiped_by(&self, node: usize, t_ms: u64) -> bool {
        self.faults.iter().any(|(at, f)| {
            *at <= t_ms && matches!(f, crate::faults::Fault::WipeRestart { node: n } if *n == node)
        })
    }
}
