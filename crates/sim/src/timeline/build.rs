//! Reading the trace in order into lanes, bands and marks: a node's typed events, the
//! harness's process actions, sampler readings, faults, requests and violations.

use std::collections::BTreeMap;

use clusterlab_core::event::FailSource;
use clusterlab_core::ClusterEvent;

use super::names::{is_node_lane, lane_label, node_of_addr, nodes_named, times_named};
use super::{Band, BandKind, Bucket, Mark, MarkKind, Timeline, BUCKET_US, MAX_ERRORS_PER_BUCKET};
use crate::faults::Fault;
use crate::node_idx::NodeIdx;
use crate::report::Violation;
use crate::trace::{Event, FaultEvent, NodeSample, Outcome, ProcessEvent, Sampled, TraceEvent};

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
    /// `(lane, node name)` of every node lane, in lane order.
    fn node_lanes(&self) -> Vec<(usize, String)> {
        self.tl
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| is_node_lane(l))
            .map(|(i, l)| (i, l.clone()))
            .collect()
    }

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
        if let Some(lane) = self.lane_of(&ev.node).filter(|_| is_node_lane(&ev.node)) {
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
            Event::Fault(_)
            | Event::Request(_)
            | Event::Phase(_)
            | Event::Violation(_)
            | Event::Text(_) => {}
        }
    }

    fn process_event(&mut self, lane: usize, t: u64, event: &ProcessEvent, line: &str) {
        match event {
            ProcessEvent::Kill(_) => {
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
            ProcessEvent::ClockSet { .. } => self.mark(lane, t, MarkKind::Fault, "clock", line),
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
            self.config_changes(lane, t, &prev, sample, line);
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
        let nodes = self.node_lanes();
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
            E::ManualElectionSetUp { .. } => {
                self.mark(lane, t, MarkKind::Election, "manual election set up", line)
            }
            E::ElectionStarted { epoch } => self.mark(
                lane,
                t,
                MarkKind::Election,
                &format!("election e{epoch}"),
                line,
            ),
            E::VoteGranted { .. } | E::ElectionDelayed { .. } => {
                self.mark(lane, t, MarkKind::Election, "", line)
            }
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
            E::SlotImported { slot, .. } => {
                self.mark(lane, t, MarkKind::Config, &format!("imported {slot}"), line)
            }
            E::SlotsAdopted { .. } => self.mark(lane, t, MarkKind::Config, "adopted slots", line),
            E::ConfigEpochChanged { .. } => self.mark(lane, t, MarkKind::Config, "", line),
            E::AofFailed { op, .. } => {
                self.mark(lane, t, MarkKind::State, &format!("AOF {op} fails"), line)
            }
            E::AofRecovered { op } => {
                self.mark(lane, t, MarkKind::State, &format!("AOF {op} ok"), line)
            }
            E::AofWritePostponed => {
                self.mark(lane, t, MarkKind::State, "AOF write postponed", line)
            }
            E::AofWriteResumed { .. } => {
                self.mark(lane, t, MarkKind::State, "AOF write resumed", line)
            }
            E::FailCleared { .. }
            | E::ReplicationLinkUp { .. }
            | E::ReplicationLinkDown { .. }
            | E::PartialResync { .. }
            | E::FullResync { .. }
            | E::SnapshotTaken { .. }
            | E::SyncLoadStarted { .. }
            | E::SyncLoadAborted { .. } => self.mark(lane, t, MarkKind::Lifecycle, "", line),
            E::FailMarked { .. }
            | E::PfailMarked { .. }
            | E::PfailCleared { .. }
            | E::CurrentEpochChanged { .. }
            | E::SlotsAssigned { .. }
            | E::PeerConfigEpochChanged { .. }
            | E::ImportChanged { .. }
            | E::WriteApplied { .. }
            | E::AofSynced { .. }
            | E::SyncStalled { .. }
            | E::NodeStarted { .. }
            | E::FailQuorumReached { .. }
            | E::KeysMigrated { .. }
            | E::KeyServed { .. }
            | E::KeyEvicted { .. } => {}
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
            Event::Fault(FaultEvent::SlotMoveEnded { .. } | FaultEvent::CopiesDropped { .. }) => {
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
                if let Some(lane) = self.lane_of(&NodeIdx(node).name()) {
                    self.mark(lane, t, MarkKind::Fault, label, line);
                }
            }
        }
    }

    /// A partition: every node outside the largest group is cut off.
    fn partition(&mut self, t: u64, groups: &[Vec<usize>], label: String, line: &str) {
        let faults_lane = self.lane_of("faults").unwrap_or(0);
        self.open(faults_lane, t, BandKind::Partition, label, line.into());
        let all: Vec<String> = self.node_lanes().into_iter().map(|(_, l)| l).collect();
        let mut groups: Vec<Vec<String>> = groups
            .iter()
            .map(|g| g.iter().map(|&n| NodeIdx(n).name()).collect())
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
            Some(why) => cut.insert(NodeIdx(node).name(), why),
            None => cut.remove(&NodeIdx(node).name()),
        };
        self.set_cut(t, cut, line);
    }

    fn set_cut(&mut self, t: u64, cut: BTreeMap<String, String>, line: &str) {
        let nodes = self.node_lanes();
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
            self.mark(
                lane,
                ev.time_us,
                MarkKind::Violation,
                violation.name(),
                line,
            );
            return;
        }
        let label = match &ev.event {
            Event::Phase(phase) => phase.label(),
            _ => "",
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
        if is_writer(&ev.node) {
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
        if failed && (is_writer(&ev.node) || ev.node == "reader") {
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
                        self.mark(lane, t, MarkKind::Violation, v.name(), &text);
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
                names.extend(fault.nodes().into_iter().map(|n| NodeIdx(n).name()));
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

/// The single writer (`writer`) or an append client (`writer1`, …).
fn is_writer(label: &str) -> bool {
    label
        .strip_prefix("writer")
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}
