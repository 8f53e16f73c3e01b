//! Applying a [`FaultSchedule`] to a running [`SimCluster`] (simulation build only):
//! [`FaultInjector`] turns each fault into madsim kills, pauses, clogs and network settings at
//! its virtual time, skips (and notes in the trace) what makes no sense in the current state,
//! and can undo everything for the liveness phase.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::rand::Rng;
use madsim::runtime::Handle;
use madsim::time::Instant;

use super::client_cut::ClientCut;
use super::slot_move::{move_slots, MAX_HOLD_BEFORE_NODE_MS};
use super::{CrashKind, Direction, FailoverMode, Fault, FaultSchedule};
use crate::cluster::SimCluster;
use crate::report::Violation;
use crate::trace::{Event, FaultEvent, ProcessEvent};
use clusterlab_core::Reply;
use clusterlab_net::disk::Disk;

/// A killed node's tasks are dropped only when the executor next runs them, and until then
/// its `nodes.conf` lock is held: a restart waits this long after the kill.
pub const RESTART_GAP_MS: u64 = 100;

/// A slot move gives up after this long (a node it talks to may be paused).
pub(crate) const SLOT_MOVE_TIMEOUT_MS: u64 = 30_000;

/// How long a `CLUSTER FAILOVER` request waits for its reply (for the trace only).
pub(crate) const MANUAL_FAILOVER_TIMEOUT_MS: u64 = 2000;

/// Times are ms after the injector's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeState {
    Up,
    Down {
        since_ms: u64,
    },
    /// Down, to be started at `at_ms`.
    Restarting {
        at_ms: u64,
    },
    Paused {
        until_ms: u64,
    },
}

impl NodeState {
    fn is_down(self) -> bool {
        matches!(self, NodeState::Down { .. } | NodeState::Restarting { .. })
    }

    /// When this node has something due (resume or restart).
    fn due_ms(self) -> Option<u64> {
        match self {
            NodeState::Restarting { at_ms } => Some(at_ms),
            NodeState::Paused { until_ms } => Some(until_ms),
            NodeState::Up | NodeState::Down { .. } => None,
        }
    }
}

/// How long after a disk repair a node may still stop on the old failure: one `everysec`
/// sync interval and a cron tick.
const AOF_RECOVERY_MS: u64 = 1100;

/// Applies faults to a [`SimCluster`] and remembers what it did, so the liveness phase
/// can undo all of it ([`FaultInjector::heal_all`]).
pub struct FaultInjector<'a> {
    cluster: &'a SimCluster,
    start: Instant,
    nodes: Vec<NodeState>,
    groups: Vec<Vec<usize>>,
    explicit_links: BTreeSet<(usize, usize)>,
    /// Links clogged in the simulated network right now (partition ∪ explicit).
    clogged_links: BTreeSet<(usize, usize)>,
    clogged_nodes: BTreeMap<usize, Direction>,
    client_cut: ClientCut,
    /// Nodes whose disk fails now ([`Fault::DiskError`]).
    failing_disks: BTreeSet<usize>,
    /// Nodes whose syncs are slow now ([`Fault::SlowDisk`]).
    slow_disks: BTreeSet<usize>,
    net_default: madsim::net::Config,
    /// `(node, µs since the run started)` of every wipe and of every (re)start.
    wiped: Vec<(usize, u64)>,
    restarts: Vec<(usize, u64)>,
    /// `(node, from µs, to µs)` of every stretch a node was crashed or paused
    /// (`u64::MAX`: not over yet); `down_since` holds the open ones.
    down: Vec<(usize, u64, u64)>,
    down_since: BTreeMap<usize, u64>,
    /// `CLUSTER FAILOVER` requests [`Self::apply`] queued for
    /// [`Self::send_manual_failovers`].
    manual_failovers: Vec<(usize, FailoverMode)>,
    /// `(from, to, count)` moves [`Self::apply`] queued for [`Self::start_slot_moves`].
    queued_moves: Vec<(usize, usize, usize)>,
    /// Set while a slot move runs: moves never overlap.
    move_busy: Arc<AtomicBool>,
    move_tasks: Vec<madsim::task::JoinHandle<()>>,
    move_findings: Arc<Mutex<Vec<Violation>>>,
    /// The slots moves take (the workload's key slots, sorted); empty: `redis-cli`'s choice.
    slot_pool: Arc<Vec<u16>>,
    /// Moves started so far: each starts further along the pool.
    moves_started: usize,
}

impl<'a> FaultInjector<'a> {
    /// An injector whose schedule times count from now.
    pub fn new(cluster: &'a SimCluster) -> FaultInjector<'a> {
        let mut net_default = madsim::net::Config::default();
        NetSim::current().update_config(|c| net_default = c.clone());
        FaultInjector {
            cluster,
            start: Instant::now(),
            nodes: vec![NodeState::Up; cluster.len()],
            groups: Vec::new(),
            explicit_links: BTreeSet::new(),
            clogged_links: BTreeSet::new(),
            clogged_nodes: BTreeMap::new(),
            client_cut: ClientCut::default(),
            failing_disks: BTreeSet::new(),
            slow_disks: BTreeSet::new(),
            net_default,
            wiped: Vec::new(),
            restarts: Vec::new(),
            down: Vec::new(),
            down_since: BTreeMap::new(),
            manual_failovers: Vec::new(),
            queued_moves: Vec::new(),
            move_busy: Arc::new(AtomicBool::new(false)),
            move_tasks: Vec::new(),
            move_findings: Arc::new(Mutex::new(Vec::new())),
            slot_pool: Arc::new(Vec::new()),
            moves_started: 0,
        }
    }

    /// Slot moves take their slots from `slots` (a workload's key slots), so they carry
    /// the keys under load.
    pub fn with_slot_pool(mut self, mut slots: Vec<u16>) -> Self {
        slots.sort_unstable();
        slots.dedup();
        self.slot_pool = Arc::new(slots);
        self
    }

    /// No partition, clog or stopped node right now.
    fn network_whole(&self) -> bool {
        self.groups.is_empty()
            && self.clogged_links.is_empty()
            && self.clogged_nodes.is_empty()
            && self.nodes.iter().all(|s| *s == NodeState::Up)
    }

    /// Waits for the slot move still running, if any (each gives up after 30 virtual
    /// seconds), and returns what the moves found wrong.
    pub async fn finish_slot_moves(&mut self) -> Vec<Violation> {
        for task in std::mem::take(&mut self.move_tasks) {
            // A move never panics on purpose; a failed join is reported by the trace.
            let _ = task.await;
        }
        std::mem::take(&mut *self.move_findings.lock().expect("not poisoned"))
    }

    /// Starts the moves [`Self::apply`] queued, each on the client machine, unless one
    /// is still running. While the network is not whole the latest request waits (an
    /// operator reshards a healthy cluster: a slot taken over during a split bumps an epoch
    /// without consensus, which may equal one a failover on the other side wins; Redis
    /// accepts that and resolves it as a collision) and older ones are dropped.
    pub async fn start_slot_moves(&mut self) {
        if !self.network_whole() {
            while self.queued_moves.len() > 1 {
                let (from, to, _) = self.queued_moves.remove(0);
                self.skip(
                    format!("move node{}->node{}", from + 1, to + 1),
                    "the cluster was not whole until a later move replaced it",
                );
            }
            return;
        }
        for (from, to, count) in std::mem::take(&mut self.queued_moves) {
            if self.move_busy.swap(true, Ordering::SeqCst) {
                self.skip(
                    format!("move node{}->node{}", from + 1, to + 1),
                    "a move is in progress",
                );
                continue;
            }
            let (from_addr, to_addr) =
                (self.cluster.node(from).addr(), self.cluster.node(to).addr());
            let trace = self.cluster.trace().clone();
            let (busy, findings) = (self.move_busy.clone(), self.move_findings.clone());
            let (pool, rotation) = (self.slot_pool.clone(), self.moves_started * count);
            self.moves_started += 1;
            // madsim's rng: deterministic for the run's seed.
            let hold_ms = madsim::rand::thread_rng().gen_range(0..=MAX_HOLD_BEFORE_NODE_MS);
            let work = async move {
                let limit = Duration::from_millis(SLOT_MOVE_TIMEOUT_MS);
                let moving = move_slots(&from_addr, &to_addr, count, &pool, rotation, hold_ms);
                let outcome = madsim::time::timeout(limit, moving).await;
                let text = match outcome {
                    Err(_) => "timed out".to_string(),
                    Ok(Err(e)) => e,
                    Ok(Ok((moved, found))) => {
                        findings.lock().expect("not poisoned").extend(found);
                        format!("moved slots {moved:?}")
                    }
                };
                let ended = FaultEvent::SlotMoveEnded {
                    from: from_addr,
                    to: to_addr,
                    outcome: text,
                };
                trace.record("faults", ended);
                busy.store(false, Ordering::SeqCst);
            };
            #[allow(clippy::async_yields_async)]
            let task = self
                .cluster
                .on_client(async move { madsim::task::spawn(work) });
            self.move_tasks.push(task.await);
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn note(&self, event: FaultEvent) {
        self.cluster.trace().record("faults", event);
    }

    fn skip(&self, what: String, why: impl Into<String>) {
        let why = why.into();
        self.note(FaultEvent::Skipped { what, why });
    }

    /// Nodes wiped so far, with the virtual time of the wipe (µs since the run started).
    pub fn wiped(&self) -> &[(usize, u64)] {
        &self.wiped
    }

    /// Every node start after a crash or wipe, with its virtual time (µs since the run
    /// started).
    pub fn restarts(&self) -> &[(usize, u64)] {
        &self.restarts
    }

    /// Every stretch of time a node could not send anything (crashed, paused or wiped):
    /// `(node, from µs, to µs)`, `to` being `u64::MAX` while it lasts.
    pub fn down_intervals(&self) -> Vec<(usize, u64, u64)> {
        let mut all = self.down.clone();
        all.extend(
            self.down_since
                .iter()
                .map(|(&n, &from)| (n, from, u64::MAX)),
        );
        all.sort_unstable();
        all
    }

    fn went_down(&mut self, node: usize) {
        self.down_since
            .entry(node)
            .or_insert_with(Self::run_time_us);
    }

    fn came_up(&mut self, node: usize) {
        if let Some(from) = self.down_since.remove(&node) {
            self.down.push((node, from, Self::run_time_us()));
        }
    }

    fn run_time_us() -> u64 {
        madsim::time::TimeHandle::current().elapsed().as_micros() as u64
    }

    /// Runs `schedule` from the injector's start until `span_ms`, resuming paused nodes
    /// and starting restarting ones on time. Faults at or after `span_ms` are not applied.
    pub async fn run(&mut self, schedule: &FaultSchedule, span_ms: u64) {
        let mut pending = schedule.iter().filter(|f| f.at_ms < span_ms).peekable();
        loop {
            let next_fault = pending.peek().map(|f| f.at_ms);
            let next_due = self.next_due();
            let next = match (next_fault, next_due) {
                (Some(f), Some((d, _))) => f.min(d),
                (Some(f), None) => f,
                (None, Some((d, _))) => d,
                (None, None) => break,
            };
            if next >= span_ms {
                break;
            }
            madsim::time::sleep_until(self.start + Duration::from_millis(next)).await;
            // Due resumes and restarts go before faults at the same time.
            if let Some((_, node)) = next_due.filter(|(d, _)| *d <= next) {
                self.fire_due(node);
                self.start_slot_moves().await;
                continue;
            }
            if let Some(timed) = pending.next() {
                self.apply(&timed.fault);
                self.send_manual_failovers().await;
                self.start_slot_moves().await;
            }
        }
        madsim::time::sleep_until(self.start + Duration::from_millis(span_ms)).await;
    }

    fn next_due(&self) -> Option<(u64, usize)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.due_ms().map(|d| (d, i)))
            .min()
    }

    fn fire_due(&mut self, node: usize) {
        match self.nodes[node] {
            NodeState::Paused { .. } => self.resume(node),
            NodeState::Restarting { .. } => self.start_node(node),
            NodeState::Up | NodeState::Down { .. } => {}
        }
    }

    fn resume(&mut self, node: usize) {
        self.cluster.resume(node);
        self.nodes[node] = NodeState::Up;
        self.came_up(node);
    }

    fn start_node(&mut self, node: usize) {
        self.cluster.restart(node);
        self.nodes[node] = NodeState::Up;
        self.came_up(node);
        self.restarts.push((node, Self::run_time_us()));
    }

    /// Applies one fault now.
    pub fn apply(&mut self, fault: &Fault) {
        if let Some(bad) = fault.nodes().into_iter().find(|&n| n >= self.nodes.len()) {
            self.skip(fault.to_string(), format!("no node index {bad}"));
            return;
        }
        self.note(FaultEvent::Applied(fault.clone()));
        match fault {
            Fault::Partition { groups } => {
                self.groups = groups.clone();
                self.sync_links();
            }
            Fault::Heal => {
                self.groups.clear();
                self.sync_links();
            }
            Fault::ClientPartition { nodes } => self.client_cut.set(self.cluster, nodes),
            Fault::ClientHeal => self.client_cut.heal(self.cluster),
            Fault::Crash { node, how } => self.crash(*node, *how),
            Fault::Restart { node } => self.restart(*node),
            Fault::Pause { node, ms } => self.pause(*node, *ms),
            Fault::ClogLink { from, to } => {
                self.explicit_links.insert((*from, *to));
                self.sync_links();
            }
            Fault::UnclogLink { from, to } => {
                self.explicit_links.remove(&(*from, *to));
                self.sync_links();
            }
            Fault::ClogNode { node, direction } => self.clog_node(*node, *direction),
            Fault::UnclogNode { node } => self.unclog_node(*node),
            Fault::Latency { min_ms, max_ms } => {
                let range = Duration::from_millis(*min_ms)..Duration::from_millis(*max_ms);
                NetSim::current().update_config(|c| c.send_latency = range);
            }
            Fault::PacketLoss { permille } => {
                let rate = f64::from(*permille) / 1000.0;
                NetSim::current().update_config(|c| c.packet_loss_rate = rate);
            }
            Fault::WipeRestart { node } => self.wipe_restart(*node),
            Fault::DiskError { node, error } => {
                self.cluster
                    .node(*node)
                    .disk
                    .set_failure(Some(error.failure()));
                self.failing_disks.insert(*node);
            }
            Fault::DiskRepair { node } => {
                let disk = &self.cluster.node(*node).disk;
                let slow = self.slow_disks.remove(node);
                if slow {
                    disk.set_fsync_ms(0);
                }
                if !self.failing_disks.remove(node) {
                    if !slow {
                        self.skip(fault.to_string(), "disk not failing");
                    }
                    return;
                }
                disk.set_failure(None);
                self.restart_if_exited(*node);
            }
            Fault::SlowDisk { node, fsync_ms } => {
                self.cluster.node(*node).disk.set_fsync_ms(*fsync_ms);
                match fsync_ms {
                    0 => self.slow_disks.remove(node),
                    _ => self.slow_disks.insert(*node),
                };
            }
            Fault::ManualFailover { node, mode } => {
                self.manual_failovers.push((*node, *mode));
            }
            Fault::MoveSlots { from, to, count } => {
                self.queued_moves.push((*from, *to, *count));
            }
            Fault::ClockJump { node, by_ms } => self.cluster.jump_clock(*node, *by_ms),
            Fault::ClockDrift { node, ppm } => self.cluster.drift_clock(*node, *ppm),
        }
    }

    /// Sends the `CLUSTER FAILOVER` commands [`Self::apply`] queued, each from its own
    /// task on the client machine (a paused target must not hold up the schedule); the
    /// reply goes to the trace.
    pub async fn send_manual_failovers(&mut self) {
        for (node, mode) in std::mem::take(&mut self.manual_failovers) {
            let addr = self.cluster.node(node).addr();
            let trace = self.cluster.trace().clone();
            // `send_to` records the request and its outcome in the trace.
            let request = async move {
                let mut client =
                    crate::client::ClusterClient::new("faults", addr.clone(), trace.clone());
                client.set_timeout_ms(MANUAL_FAILOVER_TIMEOUT_MS);
                let args: Vec<&[u8]> = mode.args().iter().map(|a| a.as_bytes()).collect();
                let reply = client.send_to(&addr, &args).await;
                if matches!(reply, Ok(Reply::Simple(ref s)) if s == "OK") {
                    let accepted = FaultEvent::ManualFailoverAccepted { node, mode };
                    trace.record("faults", accepted);
                }
            };
            // Spawned from the client machine so the request leaves from there.
            #[allow(clippy::async_yields_async)]
            let spawned = self
                .cluster
                .on_client(async move { madsim::task::spawn(request) });
            drop(spawned.await);
        }
    }

    fn crash(&mut self, node: usize, how: CrashKind) {
        if self.nodes[node].is_down() {
            return self.skip(format!("crash node{}", node + 1), "already down");
        }
        self.cluster.crash(node, how);
        self.went_down(node);
        self.nodes[node] = NodeState::Down {
            since_ms: self.now_ms(),
        };
    }

    /// Starts a node again that stopped by itself (a disk error was fatal to it), as an
    /// operator would: it counts as down from its exit until now.
    fn restart_if_exited(&mut self, node: usize) {
        let sim_node = self.cluster.node(node);
        if self.nodes[node] != NodeState::Up || !sim_node.exited() {
            return;
        }
        let exit_us = self
            .cluster
            .trace()
            .last_time_us(|e| {
                e.node == sim_node.name && matches!(e.event, Event::Process(ProcessEvent::Exit(_)))
            })
            .unwrap_or_else(Self::run_time_us);
        self.down_since.insert(node, exit_us);
        // The process is gone, but madsim releases its ports only on a kill (a restart of a
        // machine whose tasks ended keeps them bound); not traced: nothing dies here.
        Handle::current().kill(sim_node.machine);
        self.start_node(node);
    }

    fn restart(&mut self, node: usize) {
        let NodeState::Down { since_ms } = self.nodes[node] else {
            return self.skip(format!("restart node{}", node + 1), "not down");
        };
        let at_ms = since_ms + RESTART_GAP_MS;
        if at_ms <= self.now_ms() {
            self.start_node(node);
        } else {
            self.nodes[node] = NodeState::Restarting { at_ms };
        }
    }

    fn pause(&mut self, node: usize, ms: u64) {
        if self.nodes[node] != NodeState::Up {
            return self.skip(format!("pause node{}", node + 1), "not running");
        }
        self.cluster.pause(node);
        self.went_down(node);
        self.nodes[node] = NodeState::Paused {
            until_ms: self.now_ms().saturating_add(ms),
        };
    }

    /// Kills the node (again, if it is down: harmless), empties its disk and starts it
    /// after [`RESTART_GAP_MS`].
    fn wipe_restart(&mut self, node: usize) {
        let sim_node = self.cluster.node(node);
        Handle::current().kill(sim_node.machine);
        sim_node.disk.wipe();
        self.went_down(node);
        let now = self.now_ms();
        self.nodes[node] = NodeState::Restarting {
            at_ms: now + RESTART_GAP_MS,
        };
        self.wiped.push((node, Self::run_time_us()));
    }

    fn clog_node(&mut self, node: usize, direction: Direction) {
        self.unclog_node(node);
        let machine = self.cluster.node(node).machine;
        let net = NetSim::current();
        match direction {
            Direction::In => net.clog_node_in(machine),
            Direction::Out => net.clog_node_out(machine),
            Direction::Both => net.clog_node(machine),
        }
        self.clogged_nodes.insert(node, direction);
    }

    fn unclog_node(&mut self, node: usize) {
        if self.clogged_nodes.remove(&node).is_some() {
            NetSim::current().unclog_node(self.cluster.node(node).machine);
        }
    }

    /// The links the partition and the explicit clogs want clogged.
    fn wanted_links(&self) -> BTreeSet<(usize, usize)> {
        let n = self.nodes.len();
        let mut side = vec![usize::MAX; n];
        for (g, members) in self.groups.iter().enumerate() {
            for &m in members {
                side[m] = g;
            }
        }
        let mut wanted = self.explicit_links.clone();
        if !self.groups.is_empty() {
            for a in 0..n {
                for b in 0..n {
                    if a != b && side[a] != side[b] {
                        wanted.insert((a, b));
                    }
                }
            }
        }
        wanted
    }

    fn sync_links(&mut self) {
        let wanted = self.wanted_links();
        let net = NetSim::current();
        for &(a, b) in self.clogged_links.difference(&wanted) {
            net.unclog_link(self.cluster.node(a).machine, self.cluster.node(b).machine);
        }
        for &(a, b) in wanted.difference(&self.clogged_links) {
            net.clog_link(self.cluster.node(a).machine, self.cluster.node(b).machine);
        }
        self.clogged_links = wanted;
    }

    /// Undoes everything: network back to normal (no partition, no clogs, default latency
    /// and loss), paused nodes resumed, crashed nodes restarted on their disks (after
    /// [`RESTART_GAP_MS`] if they were killed just now). Wiped nodes run again afterwards
    /// but need an operator's repair ([`Self::wiped`]).
    pub async fn heal_all(&mut self) {
        self.note(FaultEvent::HealAll);
        self.groups.clear();
        self.explicit_links.clear();
        self.sync_links();
        self.client_cut.heal(self.cluster);
        let clogged: Vec<usize> = self.clogged_nodes.keys().copied().collect();
        for node in clogged {
            self.unclog_node(node);
        }
        let default = self.net_default.clone();
        NetSim::current().update_config(|c| *c = default);
        // A sync started on a slow disk still ends at the old speed (a disk made fast earlier
        // may still hold a node for the syncs queued before), and a node blocked on it answers
        // nobody meanwhile; an operator's redis-cli would just wait, the harness's requests
        // time out: the heal waits every such sync out first (seeds 968309, 964271).
        for node in std::mem::take(&mut self.slow_disks) {
            self.cluster.node(node).disk.set_fsync_ms(0);
        }
        let syncs_left = (0..self.nodes.len())
            .map(|node| self.cluster.node(node).disk.pending_sync())
            .max()
            .unwrap_or_default();
        if !syncs_left.is_zero() {
            madsim::time::sleep(syncs_left).await;
        }
        let repaired = std::mem::take(&mut self.failing_disks);
        for &node in &repaired {
            self.cluster.node(node).disk.set_failure(None);
        }
        if !repaired.is_empty() {
            // A repaired node refuses writes until its next sync succeeds (at most a second
            // later, as Redis retries its background fsync); a replica that gets a write from
            // its master meanwhile stops, as Redis panics. Let that happen now, so the
            // restarts below bring it back.
            madsim::time::sleep(Duration::from_millis(AOF_RECOVERY_MS)).await;
        }
        if self.nodes.iter().any(|s| s.is_down()) {
            madsim::time::sleep(Duration::from_millis(RESTART_GAP_MS)).await;
        }
        for node in 0..self.nodes.len() {
            match self.nodes[node] {
                NodeState::Up => self.restart_if_exited(node),
                // A node that stopped by itself (a fatal disk error) before it was paused is
                // started again too (seed 997252).
                NodeState::Paused { .. } => {
                    self.resume(node);
                    self.restart_if_exited(node);
                }
                NodeState::Down { .. } | NodeState::Restarting { .. } => self.start_node(node),
            }
        }
    }
}
