//! A run's trace as a timeline a person can read: one self-contained HTML page (inline SVG
//! and CSS, no script, nothing fetched) with one lane per node over virtual time.
//!
//! Each node lane shows what the node reported (`cluster_state` ok/fail, unreachable), when
//! it was down, paused or cut off, how the others flagged it (PFAIL / FAIL), its role, config
//! epoch and slot count at each change, the failovers it ran (election, promotion), the
//! faults that hit it, the workload requests it failed, and every violation whose evidence
//! names it. Above the nodes a lane holds the fault schedule and the network-wide faults
//! (partition, latency, packet loss); below them the workload (requests per half second, ok
//! and failed) and the harness's phases and violations. Every mark carries a tooltip with the
//! trace line it came from, and the whole trace follows the picture as text.
//!
//! Rendering is a pure function of the trace events ([`build`] parses them into a
//! [`Timeline`], [`render_html`] draws it), so it is unit-tested in the normal build. A node's
//! elections, promotions, FAIL markings, `cluster_state` changes and epochs come from its
//! typed events ([`Event::Cluster`]); the rest from the lines the harness writes: `sample …`
//! summaries (campaign sampler), `kill`/`pause`/`restart`/…, `faults …`, the clients'
//! `ip:port CMD -> reply` lines and `harness violation …`. Lines it does not know are kept in
//! the text below, never dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clusterlab_core::event::FailSource;
use clusterlab_core::ClusterEvent;

use crate::faults::Fault;
use crate::node_idx::NodeIdx;
use crate::report::Violation;
use crate::trace::{Event, FaultEvent, NodeSample, Outcome, ProcessEvent, Sampled, TraceEvent};

/// What kind of thing a mark shows (its shape and colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkKind {
    /// A scheduled fault that names this node (or, on the faults lane, any fault).
    Fault,
    /// The node process started or exited.
    Lifecycle,
    /// A failover election started (or was scheduled).
    Election,
    /// The node became master by a failover (election won, manual takeover).
    Promotion,
    /// A node marked this one FAIL.
    FailFlag,
    /// The node logged a `cluster_state` change.
    State,
    /// Its role, config epoch or slots changed (from the sampler).
    Config,
    /// A workload request to this node failed.
    WorkloadError,
    /// A violation is about this node, at the first time its evidence names.
    Violation,
    /// Another node or moment the violation's evidence names.
    Evidence,
    /// A harness phase or step.
    Phase,
}

/// A point event on one lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub lane: usize,
    pub time_us: u64,
    pub kind: MarkKind,
    /// Short text drawn next to the mark (empty: tooltip only).
    pub label: String,
    /// The tooltip: the trace line(s) behind the mark.
    pub detail: String,
}

/// What an interval on a lane shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BandKind {
    /// `cluster_state:ok` as the node reported it.
    StateOk,
    /// `cluster_state:fail`.
    StateFail,
    /// The sampler could not reach the node.
    Unreachable,
    /// Crashed (killed, not started yet).
    Down,
    Paused,
    /// Clogged, or on the minority side of a partition.
    CutOff,
    /// Some node flags it `fail?` (PFAIL).
    FlaggedPfail,
    /// Some node flags it `fail`.
    FlaggedFail,
    /// Network-wide faults on the faults lane.
    Partition,
    Latency,
    PacketLoss,
}

impl BandKind {
    /// Which row of a lane the band is drawn in: 0 state, 1 lifecycle, 2 flags.
    fn row(self) -> usize {
        match self {
            BandKind::StateOk | BandKind::StateFail | BandKind::Unreachable => 0,
            BandKind::Down | BandKind::Paused | BandKind::CutOff => 1,
            BandKind::FlaggedPfail | BandKind::FlaggedFail => 2,
            BandKind::Partition => 0,
            BandKind::Latency => 1,
            BandKind::PacketLoss => 2,
        }
    }

    fn class(self) -> &'static str {
        match self {
            BandKind::StateOk => "ok",
            BandKind::StateFail => "fail",
            BandKind::Unreachable => "unreach",
            BandKind::Down => "down",
            BandKind::Paused => "paused",
            BandKind::CutOff => "cutoff",
            BandKind::FlaggedPfail => "pfail",
            BandKind::FlaggedFail => "flagfail",
            BandKind::Partition => "partition",
            BandKind::Latency => "latency",
            BandKind::PacketLoss => "loss",
        }
    }
}

/// An interval on one lane; `label` is drawn inside when it fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    pub lane: usize,
    pub from_us: u64,
    pub to_us: u64,
    pub kind: BandKind,
    pub label: String,
    pub detail: String,
}

/// Workload requests in one time bucket of the workload lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub ok: usize,
    pub failed: usize,
    /// Distinct failure texts (capped), for the tooltip.
    pub errors: Vec<String>,
}

/// What [`build`] read out of a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Lane names, top to bottom: `faults`, the nodes in number order, `workload`, `harness`.
    pub lanes: Vec<String>,
    pub marks: Vec<Mark>,
    pub bands: Vec<Band>,
    /// Workload requests per [`BUCKET_US`], from time 0.
    pub buckets: Vec<Bucket>,
    pub end_us: u64,
    pub violations: Vec<Violation>,
}

/// Width of one workload bucket.
pub const BUCKET_US: u64 = 500_000;
/// Distinct error texts kept per bucket.
const MAX_ERRORS_PER_BUCKET: usize = 4;

impl Timeline {
    pub fn lane(&self, name: &str) -> Option<usize> {
        self.lanes.iter().position(|l| l == name)
    }

    /// The marks on the named lane.
    pub fn marks_on(&self, name: &str) -> Vec<&Mark> {
        let lane = self.lane(name);
        self.marks.iter().filter(|m| Some(m.lane) == lane).collect()
    }

    /// The bands on the named lane.
    pub fn bands_on(&self, name: &str) -> Vec<&Band> {
        let lane = self.lane(name);
        self.bands.iter().filter(|b| Some(b.lane) == lane).collect()
    }
}

// ---- reading the trace -----------------------------------------------------------------------

/// Node index → lane name (`node1` is index 0).
fn node_name(index: usize) -> String {
    NodeIdx(index).name()
}

/// What a fault is called on the lanes of the nodes it names (`None`: the node's own
/// process events show it).
fn lane_label(fault: &Fault) -> Option<&'static str> {
    Some(match fault {
        Fault::Partition { .. } => "partition",
        Fault::Restart { .. } => "restart",
        Fault::ClogLink { .. } => "clog link",
        Fault::UnclogLink { .. } => "unclog link",
        Fault::ClogNode { .. } => "clog",
        Fault::UnclogNode { .. } => "unclog",
        Fault::WipeRestart { .. } => "wipe and restart",
        Fault::ManualFailover { .. } => "manual failover",
        Fault::MoveSlots { .. } => "move",
        Fault::Crash { .. }
        | Fault::Pause { .. }
        | Fault::Heal
        | Fault::Latency { .. }
        | Fault::PacketLoss { .. } => return None,
    })
}

/// Every `nodeN` named in `text`, in order of appearance, without repeats.
fn nodes_named(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("node") {
        let start = i + pos;
        let mut end = start + 4;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if end > start + 4 && before_ok {
            let name = text[start..end].to_string();
            if !found.contains(&name) {
                found.push(name);
            }
        }
        i = end.max(start + 4);
    }
    found
}

/// `10.0.0.N:port` (the simulator's addressing) → `nodeN`.
pub fn node_of_addr(addr: &str) -> Option<String> {
    NodeIdx::from_addr(addr).map(NodeIdx::name)
}

/// Times written as `12.345s` in `text`, in µs.
fn times_named(text: &str) -> Vec<u64> {
    let mut times = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "(),;[]".contains(c)) {
        let Some(number) = word.strip_suffix('s') else {
            continue;
        };
        let Some((secs, millis)) = number.split_once('.') else {
            continue;
        };
        if secs.is_empty() || millis.len() != 3 {
            continue;
        }
        if let (Ok(s), Ok(ms)) = (secs.parse::<u64>(), millis.parse::<u64>()) {
            times.push(s * 1_000_000 + ms * 1000);
        }
    }
    times
}

/// Builds lanes, bands and marks while reading the trace in order.
struct Builder {
    tl: Timeline,
    /// Open bands per (lane, kind group): `(from, kind, label, detail)`.
    open: BTreeMap<(usize, usize), (u64, BandKind, String, String)>,
    /// Last sample summary per node lane.
    last_sample: BTreeMap<usize, NodeSample>,
    /// Per observer node, the peers it flags: `node → flag`.
    flags_by_observer: BTreeMap<String, BTreeMap<String, String>>,
    /// Short node ID (8 chars) → node name.
    ids: BTreeMap<String, String>,
    /// Nodes currently on the minority side of a partition or clogged.
    cut: BTreeMap<String, String>,
}

impl Builder {
    fn lane_of(&self, name: &str) -> Option<usize> {
        self.tl.lane(name)
    }

    fn mark(&mut self, lane: usize, time_us: u64, kind: MarkKind, label: &str, detail: &str) {
        self.tl.marks.push(Mark {
            lane,
            time_us,
            kind,
            label: label.to_string(),
            detail: detail.to_string(),
        });
    }

    /// Closes the open band of `group` on `lane` at `at_us`.
    fn close(&mut self, lane: usize, group: usize, at_us: u64) {
        if let Some((from_us, kind, label, detail)) = self.open.remove(&(lane, group)) {
            if at_us > from_us {
                self.tl.bands.push(Band {
                    lane,
                    from_us,
                    to_us: at_us,
                    kind,
                    label,
                    detail,
                });
            }
        }
    }

    /// Starts a band (closing whatever the same row of the lane showed); the same kind with
    /// the same label just goes on.
    fn open(&mut self, lane: usize, at_us: u64, kind: BandKind, label: String, detail: String) {
        if let Some(open) = self.open.get_mut(&(lane, band_group(kind))) {
            if open.1 == kind && open.2 == label {
                // Who flags a node changes often; the tooltip keeps the longest list.
                if detail.len() > open.3.len() {
                    open.3 = detail;
                }
                return;
            }
        }
        self.close(lane, band_group(kind), at_us);
        self.open
            .insert((lane, band_group(kind)), (at_us, kind, label, detail));
    }

    fn event(&mut self, ev: &TraceEvent) {
        let line = ev.render();
        let line = line.trim_start();
        if let Some(lane) = self
            .lane_of(&ev.node)
            .filter(|_| ev.node.starts_with("node"))
        {
            self.node_event(lane, ev, line);
            return;
        }
        match ev.node.as_str() {
            "faults" => self.fault_event(ev, line),
            "harness" => self.harness_event(ev, line),
            _ => self.client_event(ev, line),
        }
    }

    fn node_event(&mut self, lane: usize, ev: &TraceEvent, line: &str) {
        let t = ev.time_us;
        match &ev.event {
            Event::Cluster(event) => self.cluster_event(lane, t, event, line),
            Event::Process(event) => self.process_event(lane, t, event, line),
            Event::Sample(Sampled::Seen(sample)) => self.sample_event(lane, ev, sample, line),
            Event::Sample(Sampled::Unreachable(_)) => {
                self.open(lane, t, BandKind::Unreachable, String::new(), line.into())
            }
            Event::Fault(_) | Event::Request(_) | Event::Violation(_) | Event::Text(_) => {}
        }
    }

    fn process_event(&mut self, lane: usize, t: u64, event: &ProcessEvent, line: &str) {
        match event {
            ProcessEvent::Kill => {
                self.open(lane, t, BandKind::Down, "down".into(), line.into());
                self.mark(lane, t, MarkKind::Fault, "kill", line);
            }
            ProcessEvent::Pause => {
                self.open(lane, t, BandKind::Paused, "paused".into(), line.into());
                self.mark(lane, t, MarkKind::Fault, "pause", line);
            }
            ProcessEvent::Resume => {
                self.close(lane, 1, t);
                self.mark(lane, t, MarkKind::Lifecycle, "", line);
            }
            ProcessEvent::Restart => self.close(lane, 1, t),
            ProcessEvent::Start { incarnation, .. } => {
                self.close(lane, 1, t);
                let label = if *incarnation == 0 { "" } else { "start" };
                self.mark(lane, t, MarkKind::Lifecycle, label, line);
            }
            ProcessEvent::Exit(_) => self.mark(lane, t, MarkKind::Lifecycle, "exit", line),
            // The injector's own fault lines show clogs on the lanes.
            ProcessEvent::Clog
            | ProcessEvent::Unclog
            | ProcessEvent::ClogLink { .. }
            | ProcessEvent::UnclogLink { .. } => {}
        }
    }

    fn sample_event(&mut self, lane: usize, ev: &TraceEvent, sample: &NodeSample, line: &str) {
        let t = ev.time_us;
        let kind = if sample.state_ok {
            BandKind::StateOk
        } else {
            BandKind::StateFail
        };
        let role = if sample.master == Some(true) {
            "M"
        } else {
            "R"
        };
        let label = format!("{role} e{} {}sl", sample.config_epoch, sample.slots);
        self.open(lane, t, kind, label, line.into());
        if !sample.short_id.is_empty() {
            self.ids.insert(sample.short_id.clone(), ev.node.clone());
        }
        if let Some(prev) = self.last_sample.get(&lane).cloned() {
            self.config_changes(lane, t, &prev, &sample, line);
        }
        self.last_sample.insert(lane, sample.clone());
        let flags: BTreeMap<String, String> = sample
            .failing
            .iter()
            .filter_map(|(addr, fail)| {
                let flag = if *fail { "fail" } else { "fail?" };
                Some((node_of_addr(addr)?, flag.to_string()))
            })
            .collect();
        self.flags_by_observer.insert(ev.node.clone(), flags);
        self.refresh_flags(t);
    }

    /// Marks what changed between two samples of one node: role, config epoch, slots.
    fn config_changes(
        &mut self,
        lane: usize,
        t: u64,
        prev: &NodeSample,
        now: &NodeSample,
        line: &str,
    ) {
        let mut parts = Vec::new();
        if prev.master != now.master {
            match now.master {
                Some(true) => parts.push("→master".to_string()),
                Some(false) => parts.push("→replica".to_string()),
                None => {}
            }
        }
        if prev.config_epoch != now.config_epoch {
            parts.push(format!("cfg e{}", now.config_epoch));
        }
        if prev.slots != now.slots {
            let delta = now.slots as i64 - prev.slots as i64;
            parts.push(format!("{delta:+} slots"));
        }
        if !parts.is_empty() {
            self.mark(lane, t, MarkKind::Config, &parts.join(" "), line);
        }
    }

    /// Recomputes how the others flag each node (worst flag any observer shows).
    fn refresh_flags(&mut self, t: u64) {
        let mut worst: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for (observer, flags) in &self.flags_by_observer {
            for (node, flag) in flags {
                let entry = worst.entry(node.clone()).or_default();
                if flag == "fail" || entry.0.is_empty() {
                    entry.0 = flag.clone();
                }
                entry.1.push(format!("{observer}:{flag}"));
            }
        }
        let nodes: Vec<(usize, String)> = self
            .tl
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("node"))
            .map(|(i, l)| (i, l.clone()))
            .collect();
        for (lane, node) in nodes {
            let current = self.open.get(&(lane, 2)).map(|o| (o.1, o.3.clone()));
            match worst.get(&node) {
                None => self.close(lane, 2, t),
                Some((flag, by)) => {
                    let kind = if flag == "fail" {
                        BandKind::FlaggedFail
                    } else {
                        BandKind::FlaggedPfail
                    };
                    let detail = format!("{node} flagged by {}", by.join(" "));
                    if current != Some((kind, detail.clone())) {
                        self.open(lane, t, kind, String::new(), detail);
                    }
                }
            }
        }
    }

    /// A node's typed event: failovers, FAIL markings by quorum, state and config changes.
    /// Per-write offsets, PFAIL and slot moves are too frequent to mark (the samples show
    /// flags and slot counts).
    fn cluster_event(&mut self, lane: usize, t: u64, event: &ClusterEvent, line: &str) {
        use ClusterEvent as E;
        match event {
            E::ElectionScheduled { .. } => {
                self.mark(lane, t, MarkKind::Election, "election scheduled", line)
            }
            E::ElectionStarted { epoch } => self.mark(
                lane,
                t,
                MarkKind::Election,
                &format!("election e{epoch}"),
                line,
            ),
            E::VoteGranted { .. } => self.mark(lane, t, MarkKind::Election, "", line),
            E::Promoted { .. } => self.mark(lane, t, MarkKind::Promotion, "promoted", line),
            E::FailMarked {
                node,
                source: FailSource::Quorum,
            } => {
                let target = self.node_of_id(&node.to_string());
                let observer = self.tl.lanes[lane].clone();
                match target.and_then(|n| self.lane_of(&n)) {
                    Some(target_lane) => self.mark(
                        target_lane,
                        t,
                        MarkKind::FailFlag,
                        &format!("FAIL by {observer}"),
                        line,
                    ),
                    None => self.mark(lane, t, MarkKind::FailFlag, "marks FAIL", line),
                }
            }
            E::ClusterStateChanged { ok } => {
                let state = if *ok { "ok" } else { "fail" };
                self.mark(lane, t, MarkKind::State, &format!("state {state}"), line)
            }
            E::BecameReplica { .. } => self.mark(lane, t, MarkKind::Config, "→replica", line),
            E::ConfigEpochChanged { .. } => self.mark(lane, t, MarkKind::Config, "", line),
            E::FailCleared { .. } | E::ReplicationLinkUp { .. } | E::ReplicationLinkDown { .. } => {
                self.mark(lane, t, MarkKind::Lifecycle, "", line)
            }
            E::FailMarked { .. }
            | E::PfailMarked { .. }
            | E::PfailCleared { .. }
            | E::CurrentEpochChanged { .. }
            | E::SlotsAssigned { .. }
            | E::WriteApplied { .. } => {}
        }
    }

    fn node_of_id(&self, id: &str) -> Option<String> {
        let short = id.get(..8)?;
        self.ids.get(short).cloned()
    }

    fn fault_event(&mut self, ev: &TraceEvent, line: &str) {
        let t = ev.time_us;
        let Some(faults_lane) = self.lane_of("faults") else {
            return;
        };
        let fault = match &ev.event {
            Event::Fault(FaultEvent::Applied(fault)) => fault,
            Event::Fault(FaultEvent::Skipped { .. }) => {
                return self.mark(faults_lane, t, MarkKind::Phase, "", line);
            }
            Event::Fault(FaultEvent::HealAll) => {
                self.mark(faults_lane, t, MarkKind::Fault, "heal all", line);
                self.close(faults_lane, 0, t);
                return self.set_cut(t, BTreeMap::new(), line);
            }
            Event::Fault(FaultEvent::SlotMoveEnded { .. }) => {
                let short: String = line.chars().take(28).collect();
                return self.mark(faults_lane, t, MarkKind::Fault, &short, line);
            }
            _ => return,
        };
        let short: String = fault.to_string().chars().take(28).collect();
        self.mark(faults_lane, t, MarkKind::Fault, &short, line);
        match fault {
            Fault::Partition { groups } => self.partition(t, groups, fault.to_string(), line),
            Fault::Heal => {
                self.close(faults_lane, 0, t);
                self.set_cut(t, BTreeMap::new(), line);
            }
            // madsim's default latency ends the band.
            Fault::Latency {
                min_ms: 1,
                max_ms: 10,
            } => self.close(faults_lane, 1, t),
            Fault::Latency { .. } => {
                let label = fault.to_string();
                self.open(faults_lane, t, BandKind::Latency, label, line.into())
            }
            Fault::PacketLoss { permille: 0 } => self.close(faults_lane, 2, t),
            Fault::PacketLoss { .. } => {
                let label = fault.to_string();
                self.open(faults_lane, t, BandKind::PacketLoss, label, line.into())
            }
            Fault::ClogNode { node, .. } => self.clog(t, *node, Some(fault.to_string()), line),
            Fault::UnclogNode { node } => self.clog(t, *node, None, line),
            _ => {}
        }
        // Faults naming nodes also show on those lanes (crash and pause already do, from the
        // node's own `kill`/`pause` event).
        if let Some(label) = lane_label(fault) {
            for node in fault.nodes() {
                if let Some(lane) = self.lane_of(&node_name(node)) {
                    self.mark(lane, t, MarkKind::Fault, label, line);
                }
            }
        }
    }

    /// A partition: every node outside the largest group is cut off.
    fn partition(&mut self, t: u64, groups: &[Vec<usize>], label: String, line: &str) {
        let faults_lane = self.lane_of("faults").unwrap_or(0);
        self.open(faults_lane, t, BandKind::Partition, label, line.into());
        let all: Vec<String> = self
            .tl
            .lanes
            .iter()
            .filter(|l| l.starts_with("node"))
            .cloned()
            .collect();
        let mut groups: Vec<Vec<String>> = groups
            .iter()
            .map(|g| g.iter().map(|&n| node_name(n)).collect())
            .collect();
        let rest: Vec<String> = all
            .iter()
            .filter(|n| !groups.iter().any(|g| g.contains(n)))
            .cloned()
            .collect();
        if !rest.is_empty() {
            groups.push(rest);
        }
        let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
        let majority = groups.iter().position(|g| g.len() == largest);
        let mut cut = BTreeMap::new();
        for (i, group) in groups.iter().enumerate() {
            if Some(i) == majority {
                continue;
            }
            for node in group {
                cut.insert(
                    node.clone(),
                    format!("partitioned with [{}]", group.join(" ")),
                );
            }
        }
        self.set_cut(t, cut, line);
    }

    /// A whole-node clog (`Some(why)`) or its end (`None`) cuts the node's lane off or
    /// rejoins it.
    fn clog(&mut self, t: u64, node: usize, why: Option<String>, line: &str) {
        let mut cut = self.cut.clone();
        match why {
            Some(why) => cut.insert(node_name(node), why),
            None => cut.remove(&node_name(node)),
        };
        self.set_cut(t, cut, line);
    }

    fn set_cut(&mut self, t: u64, cut: BTreeMap<String, String>, line: &str) {
        let nodes: Vec<(usize, String)> = self
            .tl
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("node"))
            .map(|(i, l)| (i, l.clone()))
            .collect();
        for (lane, node) in nodes {
            let was = self.cut.get(&node);
            let now = cut.get(&node);
            if was == now {
                continue;
            }
            // Down and paused win over cut off in the same row: don't end them here.
            let busy = matches!(
                self.open.get(&(lane, 1)).map(|o| o.1),
                Some(BandKind::Down | BandKind::Paused)
            );
            if busy {
                continue;
            }
            match now {
                Some(why) => self.open(
                    lane,
                    t,
                    BandKind::CutOff,
                    "cut off".into(),
                    format!("{why} ({line})"),
                ),
                None => self.close(lane, 1, t),
            }
        }
        self.cut = cut;
    }

    fn harness_event(&mut self, ev: &TraceEvent, line: &str) {
        let Some(lane) = self.lane_of("harness") else {
            return;
        };
        if let Event::Violation(violation) = &ev.event {
            self.mark(lane, ev.time_us, MarkKind::Violation, &violation.name, line);
            return;
        }
        let text = ev.event.text();
        let label = if text.starts_with("safety phase") {
            "safety phase"
        } else if text.starts_with("liveness phase") {
            "liveness phase"
        } else if text.starts_with("whole after") {
            "whole"
        } else if text.starts_with("readmit") {
            "readmit"
        } else if text.starts_with("create ") {
            "create"
        } else {
            ""
        };
        self.mark(lane, ev.time_us, MarkKind::Phase, label, line);
    }

    fn client_event(&mut self, ev: &TraceEvent, line: &str) {
        let Event::Request(request) = &ev.event else {
            return;
        };
        let Some(node) = node_of_addr(&request.addr) else {
            return;
        };
        if request.args == "ASKING" {
            return;
        }
        let failed = request.outcome.failed();
        let reply = request.reply.as_str();
        if ev.node == "writer" {
            let index = (ev.time_us / BUCKET_US) as usize;
            if self.tl.buckets.len() <= index {
                self.tl.buckets.resize(index + 1, Bucket::default());
            }
            let bucket = &mut self.tl.buckets[index];
            if failed {
                bucket.failed += 1;
                let short: String = reply.chars().take(60).collect();
                if bucket.errors.len() < MAX_ERRORS_PER_BUCKET && !bucket.errors.contains(&short) {
                    bucket.errors.push(short);
                }
            } else if request.outcome == Outcome::Ok {
                bucket.ok += 1;
            }
        }
        if failed && matches!(ev.node.as_str(), "writer" | "reader") {
            if let Some(lane) = self.lane_of(&node) {
                self.mark(lane, ev.time_us, MarkKind::WorkloadError, "", line);
            }
        }
    }

    /// Puts each violation on the lanes of the nodes its evidence names, at the times it
    /// names (or at the end of the run when it names none).
    fn place_violations(&mut self) {
        for v in self.tl.violations.clone() {
            let text = v.to_string();
            let mut times = times_named(&v.evidence);
            times.retain(|&t| t <= self.tl.end_us);
            if times.is_empty() {
                times.push(self.tl.end_us);
            }
            let nodes: Vec<String> = nodes_named(&v.evidence)
                .into_iter()
                .chain(
                    v.evidence
                        .split(|c: char| c.is_whitespace() || "(),;[]".contains(c))
                        .filter_map(node_of_addr),
                )
                .collect();
            let mut lanes: Vec<usize> = Vec::new();
            for lane in nodes.iter().filter_map(|n| self.lane_of(n)) {
                if !lanes.contains(&lane) {
                    lanes.push(lane);
                }
            }
            // The node the evidence is about (named first) at the first moment it names gets
            // the violation; every other (node, moment) it names gets a small evidence mark.
            for (i, &lane) in lanes.iter().enumerate() {
                for (j, &t) in times.iter().enumerate() {
                    if i == 0 && j == 0 {
                        self.mark(lane, t, MarkKind::Violation, &v.name, &text);
                    } else {
                        self.mark(lane, t, MarkKind::Evidence, "", &text);
                    }
                }
            }
        }
    }
}

/// The row a band kind occupies, so a new band ends the previous one of the same row.
fn band_group(kind: BandKind) -> usize {
    kind.row()
}

/// Reads `events` (in time order, as a trace holds them) and `violations` into lanes, bands
/// and marks.
pub fn build(events: &[TraceEvent], violations: &[Violation]) -> Timeline {
    let mut numbers: Vec<usize> = events
        .iter()
        .flat_map(|e| {
            let mut names = vec![e.node.clone()];
            if let Event::Fault(FaultEvent::Applied(fault)) = &e.event {
                names.extend(fault.nodes().into_iter().map(node_name));
            }
            names
        })
        .filter_map(|n| NodeIdx::from_name(&n).map(|i| i.0 + 1))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut lanes = vec!["faults".to_string()];
    lanes.extend(numbers.iter().map(|n| format!("node{n}")));
    lanes.push("workload".to_string());
    lanes.push("harness".to_string());
    let end_us = events.iter().map(|e| e.time_us).max().unwrap_or(0).max(1);
    let mut builder = Builder {
        tl: Timeline {
            lanes,
            end_us,
            violations: violations.to_vec(),
            ..Timeline::default()
        },
        open: BTreeMap::new(),
        last_sample: BTreeMap::new(),
        flags_by_observer: BTreeMap::new(),
        ids: BTreeMap::new(),
        cut: BTreeMap::new(),
    };
    for ev in events {
        builder.event(ev);
    }
    let open: Vec<(usize, usize)> = builder.open.keys().copied().collect();
    for (lane, group) in open {
        builder.close(lane, group, end_us);
    }
    builder.place_violations();
    builder.tl
}

// ---- drawing ---------------------------------------------------------------------------------

/// Escapes text for HTML/SVG content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const LEFT_PX: f64 = 90.0;
const PLOT_PX: f64 = 1480.0;
const AXIS_PX: f64 = 28.0;
const NODE_LANE_PX: f64 = 82.0;
const SIDE_LANE_PX: f64 = 52.0;
/// Rough width of one character of the 10 px label font.
const CHAR_PX: f64 = 5.6;

struct Geometry {
    end_us: u64,
    /// Top y of every lane, and its height.
    tops: Vec<(f64, f64)>,
}

impl Geometry {
    fn new(tl: &Timeline) -> Geometry {
        let mut y = AXIS_PX + 4.0;
        let tops = tl
            .lanes
            .iter()
            .map(|name| {
                let h = if name.starts_with("node") {
                    NODE_LANE_PX
                } else {
                    SIDE_LANE_PX
                };
                let top = (y, h);
                y += h;
                top
            })
            .collect();
        Geometry {
            end_us: tl.end_us,
            tops,
        }
    }

    fn x(&self, t_us: u64) -> f64 {
        LEFT_PX + PLOT_PX * (t_us.min(self.end_us) as f64) / (self.end_us as f64)
    }

    fn height(&self) -> f64 {
        self.tops.last().map_or(100.0, |(y, h)| y + h) + 8.0
    }
}

/// Row geometry inside a lane: (y offset, height).
fn row_box(row: usize) -> (f64, f64) {
    match row {
        0 => (4.0, 14.0),
        1 => (20.0, 9.0),
        _ => (31.0, 6.0),
    }
}

/// A tick step (µs) giving at most ~24 ticks.
fn tick_step_us(end_us: u64) -> u64 {
    const STEPS_S: [u64; 9] = [1, 2, 5, 10, 20, 30, 60, 120, 300];
    for s in STEPS_S {
        if end_us / (s * 1_000_000) <= 24 {
            return s * 1_000_000;
        }
    }
    600_000_000
}

fn fmt_s(t_us: u64) -> String {
    format!("{}.{:03}s", t_us / 1_000_000, (t_us % 1_000_000) / 1000)
}

const STYLE: &str = "
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:18px;margin:0 0 6px}
.meta{color:#555;margin-bottom:8px}
.viol{background:#fdecea;border-left:4px solid #c62828;padding:6px 10px;margin:6px 0;font-family:monospace;white-space:pre-wrap}
.ok-run{background:#e8f5e9;border-left:4px solid #2e7d32;padding:6px 10px}
svg text{font:10px system-ui,sans-serif;fill:#222}
svg .lane-name{font:bold 12px system-ui,sans-serif}
svg .axis{font:10px monospace;fill:#555}
svg .band-label{font:9px system-ui,sans-serif;fill:#1b3a1b}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:14px;height:10px;vertical-align:middle;margin-right:4px;border:1px solid #999}
pre.trace{font:11px/1.35 monospace;background:#fafafa;border:1px solid #ddd;padding:8px;overflow:auto;max-height:60em}
rect.ok{fill:#a5d6a7}rect.fail{fill:#ef5350}rect.unreach{fill:#bdbdbd}
rect.down{fill:#212121}rect.paused{fill:#7e57c2}rect.cutoff{fill:#ffa726}
rect.pfail{fill:#ffcc80}rect.flagfail{fill:#c62828}
rect.partition{fill:#ffe0b2;stroke:#fb8c00}rect.latency{fill:#b3e5fc}rect.loss{fill:#f8bbd0}
";

/// Colour of each mark kind.
fn mark_colour(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Fault => "#e65100",
        MarkKind::Lifecycle => "#616161",
        MarkKind::Election => "#1565c0",
        MarkKind::Promotion => "#f9a825",
        MarkKind::FailFlag => "#b71c1c",
        MarkKind::State => "#2e7d32",
        MarkKind::Config => "#6a1b9a",
        MarkKind::WorkloadError => "#d32f2f",
        MarkKind::Violation | MarkKind::Evidence => "#c62828",
        MarkKind::Phase => "#37474f",
    }
}

/// The SVG shape of a mark at (x, y): y is the top of the mark row.
fn mark_shape(out: &mut String, kind: MarkKind, x: f64, y: f64) {
    let c = mark_colour(kind);
    let _ = match kind {
        MarkKind::Fault => write!(
            out,
            "<path d='M{:.1} {:.1}l-5 -8h10z' fill='{c}'/>",
            x,
            y + 9.0
        ),
        MarkKind::Promotion => write!(
            out,
            "<path d='M{:.1} {:.1}l4 6l-4 6l-4 -6z' fill='{c}' stroke='#5d4037' stroke-width='0.8'/>",
            x, y
        ),
        MarkKind::Election => write!(
            out,
            "<circle cx='{x:.1}' cy='{:.1}' r='4' fill='{c}'/>",
            y + 6.0
        ),
        MarkKind::Violation => write!(
            out,
            "<path d='M{:.1} {:.1}l10 10m0 -10l-10 10' stroke='{c}' stroke-width='3'/>\
             <line x1='{x:.1}' x2='{x:.1}' y1='{:.1}' y2='{:.1}' stroke='{c}' stroke-width='1' \
             stroke-dasharray='2,2'/>",
            x - 5.0,
            y + 1.0,
            y - 40.0,
            y + 14.0
        ),
        MarkKind::WorkloadError => write!(
            out,
            "<rect x='{:.1}' y='{:.1}' width='2' height='5' fill='{c}'/>",
            x - 1.0,
            y + 38.0
        ),
        MarkKind::Evidence => write!(
            out,
            "<circle cx='{x:.1}' cy='{:.1}' r='4' fill='none' stroke='{c}' stroke-width='2'/>",
            y + 6.0
        ),
        MarkKind::FailFlag => write!(
            out,
            "<rect x='{:.1}' y='{:.1}' width='7' height='7' fill='{c}'/>",
            x - 3.5,
            y + 2.0
        ),
        _ => write!(
            out,
            "<line x1='{x:.1}' x2='{x:.1}' y1='{:.1}' y2='{:.1}' stroke='{c}' stroke-width='2'/>",
            y,
            y + 12.0
        ),
    };
}

/// Greedy label placement: a label goes into the first of `rows` text rows where it does
/// not overlap the previous label; when none is free it is left to the tooltip.
struct LabelRows {
    /// Per text row, the x intervals already taken.
    taken: Vec<Vec<(f64, f64)>>,
}

impl LabelRows {
    fn new(rows: usize) -> LabelRows {
        LabelRows {
            taken: vec![Vec::new(); rows],
        }
    }

    fn place(&mut self, x: f64, text: &str) -> Option<usize> {
        let (from, to) = (x + 4.0, x + 9.0 + text.chars().count() as f64 * CHAR_PX);
        let row = self
            .taken
            .iter()
            .position(|spans| spans.iter().all(|&(a, b)| to < a || from > b))?;
        self.taken[row].push((from, to));
        Some(row)
    }
}

/// Which labels win a crowded spot: the lower, the earlier placed.
fn label_priority(kind: MarkKind) -> u8 {
    match kind {
        MarkKind::Violation => 0,
        MarkKind::Promotion => 1,
        MarkKind::Fault => 2,
        MarkKind::FailFlag => 3,
        MarkKind::Election => 4,
        MarkKind::Config => 5,
        MarkKind::State => 6,
        MarkKind::Phase | MarkKind::Lifecycle | MarkKind::WorkloadError | MarkKind::Evidence => 7,
    }
}

/// Draws the timeline as SVG.
fn svg(tl: &Timeline) -> String {
    let g = Geometry::new(tl);
    let width = LEFT_PX + PLOT_PX + 20.0;
    let height = g.height();
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0}' height='{height:.0}' \
         viewBox='0 0 {width:.0} {height:.0}'>"
    );
    // Lane backgrounds and names.
    for (i, name) in tl.lanes.iter().enumerate() {
        let (y, h) = g.tops[i];
        let fill = if i % 2 == 0 { "#f7f7f7" } else { "#ffffff" };
        let _ = write!(
            out,
            "<rect x='0' y='{y:.1}' width='{width:.0}' height='{h:.1}' fill='{fill}'/>\
             <text class='lane-name' x='6' y='{:.1}'>{}</text>",
            y + 16.0,
            escape(name)
        );
        if let Some(last) = tl
            .bands
            .iter()
            .rev()
            .find(|b| b.lane == i && b.kind.row() == 0)
        {
            if name.starts_with("node") && !last.label.is_empty() {
                let _ = write!(
                    out,
                    "<text x='6' y='{:.1}' class='axis'>{}</text>",
                    y + 30.0,
                    escape(&last.label)
                );
            }
        }
    }
    // Time axis and grid.
    let step = tick_step_us(tl.end_us);
    let mut t = 0;
    while t <= tl.end_us {
        let x = g.x(t);
        let _ = write!(
            out,
            "<line x1='{x:.1}' x2='{x:.1}' y1='{:.1}' y2='{height:.1}' stroke='#e0e0e0'/>\
             <text class='axis' x='{x:.1}' y='18' text-anchor='middle'>{}s</text>",
            AXIS_PX - 2.0,
            t / 1_000_000
        );
        t += step;
    }
    for band in &tl.bands {
        draw_band(&mut out, &g, band);
    }
    draw_buckets(&mut out, &g, tl);
    draw_marks(&mut out, &g, tl);
    out.push_str("</svg>");
    out
}

fn draw_band(out: &mut String, g: &Geometry, band: &Band) {
    let (top, _) = g.tops[band.lane];
    let (dy, h) = row_box(band.kind.row());
    let (x0, x1) = (g.x(band.from_us), g.x(band.to_us));
    let w = (x1 - x0).max(1.0);
    let _ = write!(
        out,
        "<rect class='{}' x='{x0:.1}' y='{:.1}' width='{w:.1}' height='{h:.1}'><title>{} → {}: {}</title></rect>",
        band.kind.class(),
        top + dy,
        fmt_s(band.from_us),
        fmt_s(band.to_us),
        escape(&band.detail)
    );
    let fits = band.label.chars().count() as f64 * CHAR_PX + 6.0 < w;
    if fits && !band.label.is_empty() && band.kind.row() == 0 {
        let class = if band.kind == BandKind::StateFail {
            "band-label' style='fill:#fff"
        } else {
            "band-label"
        };
        let _ = write!(
            out,
            "<text class='{class}' x='{:.1}' y='{:.1}'>{}</text>",
            x0 + 3.0,
            top + dy + 10.5,
            escape(&band.label)
        );
    }
}

fn draw_buckets(out: &mut String, g: &Geometry, tl: &Timeline) {
    let Some(lane) = tl.lane("workload") else {
        return;
    };
    let (top, h) = g.tops[lane];
    let max = tl
        .buckets
        .iter()
        .map(|b| b.ok + b.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bar_h = h - 10.0;
    for (i, bucket) in tl.buckets.iter().enumerate() {
        let from = i as u64 * BUCKET_US;
        let (x0, x1) = (g.x(from), g.x(from + BUCKET_US));
        let w = (x1 - x0 - 0.5).max(0.5);
        let ok_h = bar_h * bucket.ok as f64 / max;
        let failed_h = bar_h * bucket.failed as f64 / max;
        let base = top + h - 4.0;
        let tip = format!(
            "{}–{}: {} ok, {} failed{}{}",
            fmt_s(from),
            fmt_s(from + BUCKET_US),
            bucket.ok,
            bucket.failed,
            if bucket.errors.is_empty() { "" } else { ": " },
            bucket.errors.join(" | ")
        );
        let _ = write!(
            out,
            "<g><title>{}</title><rect x='{x0:.1}' y='{:.1}' width='{w:.1}' height='{ok_h:.1}' \
             fill='#81c784'/><rect x='{x0:.1}' y='{:.1}' width='{w:.1}' height='{failed_h:.1}' \
             fill='#e53935'/></g>",
            escape(&tip),
            base - ok_h,
            base - ok_h - failed_h
        );
    }
}

fn draw_marks(out: &mut String, g: &Geometry, tl: &Timeline) {
    // Labels are placed by priority (a promotion's beats a routine epoch note nearby), then
    // drawn with violations last so they end up on top.
    let mut by_priority: Vec<&Mark> = tl.marks.iter().collect();
    by_priority.sort_by_key(|m| (label_priority(m.kind), m.lane, m.time_us));
    let mut rows: BTreeMap<usize, LabelRows> = BTreeMap::new();
    let mut label_row: BTreeMap<*const Mark, usize> = BTreeMap::new();
    for m in by_priority.iter().filter(|m| !m.label.is_empty()) {
        let rows_here = if tl.lanes[m.lane].starts_with("node") {
            3
        } else {
            2
        };
        let label_rows = rows
            .entry(m.lane)
            .or_insert_with(|| LabelRows::new(rows_here));
        if let Some(row) = label_rows.place(g.x(m.time_us), &m.label) {
            label_row.insert(*m as *const Mark, row);
        }
    }
    let mut order: Vec<&Mark> = tl.marks.iter().collect();
    order.sort_by_key(|m| (m.kind == MarkKind::Violation, m.lane, m.time_us));
    for m in order {
        let (top, h) = g.tops[m.lane];
        let node_lane = tl.lanes[m.lane].starts_with("node");
        let mark_y = if node_lane { top + 46.0 } else { top + 20.0 };
        let x = g.x(m.time_us);
        // Trace lines carry their own time; violation evidence does not.
        let tip = if m.detail.starts_with(|c: char| c.is_ascii_digit()) {
            m.detail.clone()
        } else {
            format!("{} {}", fmt_s(m.time_us), m.detail)
        };
        let _ = write!(out, "<g><title>{}</title>", escape(&tip));
        if m.kind == MarkKind::WorkloadError {
            mark_shape(out, m.kind, x, top);
        } else {
            mark_shape(out, m.kind, x, mark_y);
        }
        if let Some(&row) = label_row.get(&(m as *const Mark)) {
            let y = (mark_y + 10.0 + row as f64 * 11.0).min(top + h - 2.0);
            let weight = if m.kind == MarkKind::Violation {
                " style='font-weight:bold;fill:#b71c1c'"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<text x='{:.1}' y='{y:.1}'{weight}>{}</text>",
                x + 6.0,
                escape(&m.label)
            );
        }
        out.push_str("</g>");
    }
}

fn legend() -> String {
    let swatch = |class_colour: &str, text: &str| {
        format!("<span><i class='sw' style='background:{class_colour}'></i>{text}</span>")
    };
    let items = [
        ("#a5d6a7", "cluster_state ok (role, config epoch, slots)"),
        ("#ef5350", "cluster_state fail"),
        ("#bdbdbd", "unreachable by the sampler"),
        ("#212121", "down"),
        ("#7e57c2", "paused"),
        ("#ffa726", "cut off (partition minority / clogged)"),
        ("#ffcc80", "flagged PFAIL by some node"),
        (
            "#c62828",
            "flagged FAIL / violation (✕; ○ other moments its evidence names)",
        ),
        ("#e65100", "fault"),
        ("#1565c0", "election"),
        ("#f9a825", "promotion"),
        ("#6a1b9a", "role / epoch / slots change"),
        ("#d32f2f", "failed workload request (ticks under the flags)"),
    ];
    let spans: Vec<String> = items.iter().map(|(c, t)| swatch(c, t)).collect();
    format!("<div class='legend'>{}</div>", spans.join(""))
}

/// The whole page: `title`, the violations, the legend, the SVG timeline and the full trace.
pub fn render_html(title: &str, events: &[TraceEvent], violations: &[Violation]) -> String {
    let tl = build(events, violations);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{}</title>\
         <style>{STYLE}</style></head><body><h1>{}</h1>",
        escape(title),
        escape(title)
    );
    let _ = write!(
        out,
        "<div class='meta'>{} events, {} of virtual time, {} nodes. Hover any mark or band for \
         the trace line behind it.</div>",
        events.len(),
        fmt_s(tl.end_us),
        tl.lanes.iter().filter(|l| l.starts_with("node")).count()
    );
    if violations.is_empty() {
        out.push_str("<div class='ok-run'>no violation</div>");
    }
    for v in violations {
        let _ = write!(out, "<div class='viol'>{}</div>", escape(&v.to_string()));
    }
    out.push_str(&legend());
    out.push_str(&svg(&tl));
    out.push_str("<h2 style='font-size:15px'>Trace</h2><pre class='trace'>");
    for ev in events {
        out.push_str(&escape(&ev.render()));
        out.push('\n');
    }
    out.push_str("</pre></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(time_ms: u64, node: &str, event: impl Into<Event>) -> TraceEvent {
        TraceEvent {
            time_us: time_ms * 1000,
            node: node.to_string(),
            event: event.into(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seen(
        short_id: &str,
        state_ok: bool,
        current_epoch: u64,
        master: bool,
        config_epoch: u64,
        slots: usize,
        ranges: &str,
        failing: &[(&str, bool)],
    ) -> Event {
        Event::Sample(Sampled::Seen(NodeSample {
            state_ok,
            current_epoch,
            master: Some(master),
            config_epoch,
            slots,
            ranges: ranges.to_string(),
            short_id: short_id.to_string(),
            failing: failing.iter().map(|(a, f)| (a.to_string(), *f)).collect(),
        }))
    }

    fn applied(fault: Fault) -> Event {
        Event::Fault(FaultEvent::Applied(fault))
    }

    fn request(addr: &str, args: &str, reply: &str, outcome: Outcome) -> Event {
        Event::Request(crate::trace::Request {
            addr: addr.into(),
            args: args.into(),
            reply: reply.into(),
            outcome,
        })
    }

    /// node2's ID (its samples show `id=bbbbbbbb`).
    fn node2_id() -> clusterlab_core::NodeId {
        clusterlab_core::NodeId([b'b'; clusterlab_core::node_id::NODE_ID_LEN])
    }

    /// A small run: node2 crashes, node3 is cut off by a partition, node4 takes over
    /// node2's slots, the writer sees errors, and one violation names node4.
    fn events() -> Vec<TraceEvent> {
        vec![
            ev(0, "harness", "safety phase for 30000 ms"),
            ev(
                100,
                "node1",
                seen("aaaaaaaa", true, 3, true, 1, 5461, "0-5460", &[]),
            ),
            ev(
                100,
                "node2",
                seen("bbbbbbbb", true, 3, true, 2, 5462, "5461-10922", &[]),
            ),
            ev(
                100,
                "node4",
                seen("dddddddd", true, 3, false, 2, 0, "", &[]),
            ),
            ev(1000, "faults", applied(Fault::Crash { node: 1 })),
            ev(1000, "node2", ProcessEvent::Kill),
            ev(
                1200,
                "writer",
                request(
                    "10.0.0.2:7002",
                    "SET key:1 v7",
                    "io error: connection reset",
                    Outcome::Io,
                ),
            ),
            ev(
                1300,
                "writer",
                request("10.0.0.1:7001", "SET key:2 v8", "+OK", Outcome::Ok),
            ),
            ev(
                1400,
                "writer",
                request(
                    "10.0.0.1:7001",
                    "SET key:3 v9",
                    "-MOVED 1 10.0.0.2:7002",
                    Outcome::Redirect,
                ),
            ),
            ev(
                2000,
                "faults",
                applied(Fault::Partition {
                    groups: vec![vec![0, 1, 3], vec![2]],
                }),
            ),
            ev(
                3000,
                "node1",
                seen(
                    "aaaaaaaa",
                    true,
                    3,
                    true,
                    1,
                    5461,
                    "0-5460",
                    &[("10.0.0.2:7002", false)],
                ),
            ),
            ev(
                6000,
                "node1",
                ClusterEvent::FailMarked {
                    node: node2_id(),
                    source: FailSource::Quorum,
                },
            ),
            ev(
                6100,
                "node4",
                ClusterEvent::ElectionScheduled {
                    delay_ms: 700,
                    rank: 0,
                    offset: 10,
                },
            ),
            ev(6800, "node4", ClusterEvent::ElectionStarted { epoch: 4 }),
            ev(
                6900,
                "node4",
                ClusterEvent::Promoted {
                    kind: clusterlab_core::event::PromotionKind::Election,
                    config_epoch: 4,
                    old_master: node2_id(),
                },
            ),
            ev(
                7000,
                "node4",
                seen(
                    "dddddddd",
                    true,
                    4,
                    true,
                    4,
                    5462,
                    "5461-10922",
                    &[("10.0.0.2:7002", true)],
                ),
            ),
            ev(
                7500,
                "node1",
                ClusterEvent::ClusterStateChanged { ok: false },
            ),
            ev(
                7600,
                "node1",
                seen("aaaaaaaa", false, 4, true, 1, 5461, "0-5460", &[]),
            ),
            ev(8000, "faults", applied(Fault::Heal)),
            ev(9000, "node2", ProcessEvent::Restart),
            ev(
                9000,
                "node2",
                ProcessEvent::Start {
                    incarnation: 1,
                    seed: 0,
                },
            ),
            ev(
                9500,
                "node3",
                Event::Sample(Sampled::Unreachable("timed out".into())),
            ),
            ev(
                10_000,
                "faults",
                applied(Fault::Latency {
                    min_ms: 50,
                    max_ms: 400,
                }),
            ),
            ev(
                12_000,
                "faults",
                applied(Fault::Latency {
                    min_ms: 1,
                    max_ms: 10,
                }),
            ),
            ev(
                20_000,
                "harness",
                Event::Violation(Violation::new(
                    "stale_replica_promoted",
                    "node4 <x> at 6.900s",
                )),
            ),
        ]
    }

    fn violations() -> Vec<Violation> {
        vec![Violation::new(
            "stale_replica_promoted",
            "node4 promoted at 6.900s over node3 (10.0.0.3:7003)",
        )]
    }

    fn kinds(marks: &[&Mark]) -> Vec<(u64, MarkKind, String)> {
        marks
            .iter()
            .map(|m| (m.time_us / 1000, m.kind, m.label.clone()))
            .collect()
    }

    #[test]
    fn lanes_are_faults_nodes_workload_harness() {
        let tl = build(&events(), &violations());
        assert_eq!(
            tl.lanes,
            ["faults", "node1", "node2", "node3", "node4", "workload", "harness"]
        );
        assert_eq!(tl.end_us, 20_000_000);
    }

    #[test]
    fn node_lanes_hold_failover_faults_and_violations() {
        let tl = build(&events(), &violations());
        let node4 = kinds(&tl.marks_on("node4"));
        assert!(
            node4.contains(&(6100, MarkKind::Election, "election scheduled".into())),
            "{node4:?}"
        );
        assert!(
            node4.contains(&(6800, MarkKind::Election, "election e4".into())),
            "{node4:?}"
        );
        assert!(
            node4.contains(&(6900, MarkKind::Promotion, "promoted".into())),
            "{node4:?}"
        );
        assert!(
            node4.contains(&(7000, MarkKind::Config, "→master cfg e4 +5462 slots".into())),
            "{node4:?}"
        );
        assert!(
            node4.contains(&(6900, MarkKind::Violation, "stale_replica_promoted".into())),
            "{node4:?}"
        );
        // The evidence names node3 by address: an evidence mark on its lane, not a second
        // violation.
        let node3 = kinds(&tl.marks_on("node3"));
        assert!(
            node3.contains(&(6900, MarkKind::Evidence, String::new())),
            "{node3:?}"
        );
        assert!(
            !node3.iter().any(|m| m.1 == MarkKind::Violation),
            "{node3:?}"
        );
        // node1's FAIL marking of bbbbbbbb (node2's ID from its samples) lands on node2.
        let node2 = kinds(&tl.marks_on("node2"));
        assert!(
            node2.contains(&(6000, MarkKind::FailFlag, "FAIL by node1".into())),
            "{node2:?}"
        );
        assert!(
            node2.contains(&(1000, MarkKind::Fault, "kill".into())),
            "{node2:?}"
        );
        assert!(
            node2.contains(&(1200, MarkKind::WorkloadError, String::new())),
            "{node2:?}"
        );
        assert!(
            node2.contains(&(9000, MarkKind::Lifecycle, "start".into())),
            "{node2:?}"
        );
        let node1 = kinds(&tl.marks_on("node1"));
        assert!(
            node1.contains(&(7500, MarkKind::State, "state fail".into())),
            "{node1:?}"
        );
        // Redirects are not failures.
        assert!(
            !node1.iter().any(|m| m.1 == MarkKind::WorkloadError),
            "{node1:?}"
        );
        let harness = kinds(&tl.marks_on("harness"));
        assert!(harness.contains(&(20_000, MarkKind::Violation, "stale_replica_promoted".into())));
        assert!(harness.contains(&(0, MarkKind::Phase, "safety phase".into())));
    }

    #[test]
    fn bands_show_state_down_cut_off_flags_and_network_faults() {
        let tl = build(&events(), &violations());
        let spans = |lane: &str| -> Vec<(u64, u64, BandKind)> {
            tl.bands_on(lane)
                .iter()
                .map(|b| (b.from_us / 1000, b.to_us / 1000, b.kind))
                .collect()
        };
        let node1 = spans("node1");
        assert!(node1.contains(&(100, 7600, BandKind::StateOk)), "{node1:?}");
        assert!(
            node1.contains(&(7600, 20_000, BandKind::StateFail)),
            "{node1:?}"
        );
        let node2 = spans("node2");
        assert!(node2.contains(&(1000, 9000, BandKind::Down)), "{node2:?}");
        // node1 flagged node2 fail? at 3 s, node4 fail at 7 s; node1's empty list at 7.6 s
        // leaves node4's flag.
        assert!(
            node2.contains(&(3000, 7000, BandKind::FlaggedPfail)),
            "{node2:?}"
        );
        assert!(
            node2.contains(&(7000, 20_000, BandKind::FlaggedFail)),
            "{node2:?}"
        );
        let node3 = spans("node3");
        assert!(node3.contains(&(2000, 8000, BandKind::CutOff)), "{node3:?}");
        assert!(
            node3.contains(&(9500, 20_000, BandKind::Unreachable)),
            "{node3:?}"
        );
        let faults = spans("faults");
        assert!(
            faults.contains(&(2000, 8000, BandKind::Partition)),
            "{faults:?}"
        );
        assert!(
            faults.contains(&(10_000, 12_000, BandKind::Latency)),
            "{faults:?}"
        );
        // Workload: one failure in 1.0–1.5 s, one success at 1.3 s; the redirect not counted.
        assert_eq!(tl.buckets[2].failed, 1);
        assert_eq!(tl.buckets[2].ok, 1);
        assert_eq!(
            tl.buckets[2].errors,
            vec!["io error: connection reset".to_string()]
        );
    }

    #[test]
    fn the_page_is_self_contained_and_holds_every_event() {
        let events = events();
        let html = render_html("campaign seed 7 <x>", &events, &violations());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>campaign seed 7 &lt;x&gt;</title>"));
        for forbidden in ["<script", "http://", "https://", "<link", "@import", "src="] {
            let outside_svg_ns = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_svg_ns.contains(forbidden), "{forbidden}");
        }
        // Every trace line is in the text, escaped.
        for e in &events {
            assert!(html.contains(&escape(&e.render())), "{}", e.render());
        }
        assert!(html.contains("<div class='viol'>stale_replica_promoted: node4 promoted at 6.900s"));
        // Marks carry their trace line as a tooltip.
        assert!(html.contains("<title>6.900000s node4 promoted by election replacing bbbb"));
        assert!(html.contains(">promoted</text>"));
        assert!(html.contains(">FAIL by node1</text>"));
        assert_eq!(html.matches("<svg").count(), 1);
    }

    #[test]
    fn helpers() {
        assert_eq!(
            nodes_named("clog link node1->node12, node1"),
            vec!["node1", "node12"]
        );
        assert_eq!(nodes_named("subnode3 node"), Vec::<String>::new());
        assert_eq!(node_of_addr("10.0.0.7:7007").as_deref(), Some("node7"));
        assert_eq!(node_of_addr("10.0.0.100:1"), None);
        assert_eq!(
            times_named("at 12.345s (to 1.000s), 3s 2.5s"),
            vec![12_345_000, 1_000_000]
        );
        assert_eq!(tick_step_us(40_000_000), 2_000_000);
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
