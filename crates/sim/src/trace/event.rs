//! What the trace holds: typed values for everything a checker or the timeline reads, with a
//! [`fmt::Display`] that renders one line for people (and for the trace hash).
//!
//! Nothing parses a rendered line back: a node's decisions are the core's
//! [`ClusterEvent`]s, the harness's own observations are the types below.

use std::fmt;

use clusterlab_core::ClusterEvent;

use crate::faults::Fault;
use crate::report::Violation;

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node's own protocol decision, as its core reported it.
    Cluster(ClusterEvent),
    /// The harness drove a node process (start, crash, pause, network cut).
    Process(ProcessEvent),
    /// The fault injector applied, skipped or healed faults.
    Fault(FaultEvent),
    /// What the sampler read from one node (only recorded when it changed).
    Sample(Sampled),
    /// One client request and its outcome.
    Request(Request),
    /// The run moved to a new phase (create, safety, liveness, settled, a readmission).
    Phase(RunPhase),
    /// A broken expectation, recorded when the run ends.
    Violation(Violation),
    /// Anything else the harness writes for people (phases, notes); nothing reads it.
    Text(String),
}

/// The harness's action on one node process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessEvent {
    /// The node's runtime started (incarnation 0 is the first start).
    Start {
        /// How many times the node started before this one.
        incarnation: u64,
        /// The node's rng seed for this start (derived from the run seed, the node and the
        /// incarnation).
        seed: u64,
    },
    /// The node's runtime returned (its outcome as Rust prints it).
    Exit(String),
    /// The machine was killed (a crash); its disk keeps what the crash kind says.
    Kill(crate::faults::CrashKind),
    /// A killed machine was started again (on its disk, emptied if it was wiped);
    /// [`ProcessEvent::Start`] follows.
    Restart,
    /// The machine was frozen: its tasks stop running, its connections stay open.
    Pause,
    /// A paused machine runs again.
    Resume,
    /// Cut off the network both ways.
    Clog,
    /// [`ProcessEvent::Clog`] undone.
    Unclog,
    /// Traffic from this node to `to` is dropped.
    ClogLink {
        /// Name of the receiving node (`node2`, …).
        to: String,
    },
    /// [`ProcessEvent::ClogLink`] to `to` undone.
    UnclogLink {
        /// Name of the receiving node (`node2`, …).
        to: String,
    },
    /// The machine's wall clock error changed (a clock fault): from now on it is
    /// `offset_us` off true time (positive: ahead), plus `drift_ppm` millionths of the true
    /// time elapsed since (`clusterlab_net::clock::ClockSkew`). Every change is recorded, so
    /// the trace knows each node's wall clock at any virtual time ([`crate::wall_clock`]).
    ClockSet {
        /// Offset from true time now, in µs.
        offset_us: i64,
        /// Rate error from now on, in parts per million.
        drift_ppm: i32,
    },
}

/// What the fault injector did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultEvent {
    /// It applied this fault of the schedule.
    Applied(Fault),
    /// It skipped a fault: `what` it would have done and `why` not.
    Skipped {
        /// What it would have done, as text (`crash node2`, …).
        what: String,
        /// Why it made no sense in the current state.
        why: String,
    },
    /// The end of the safety phase: every fault undone.
    HealAll,
    /// A node answered `+OK` to the `CLUSTER FAILOVER` of a [`Fault::ManualFailover`].
    ManualFailoverAccepted {
        /// The replica (0-based).
        node: usize,
        /// The mode it was sent in.
        mode: crate::faults::FailoverMode,
    },
    /// An operator's slot move (from [`Fault::MoveSlots`]) ended: between which addresses,
    /// and how.
    SlotMoveEnded {
        /// `ip:port` of the master that gave the slots.
        from: String,
        /// `ip:port` of the master that received them.
        to: String,
        /// `moved slots [...]`, `timed out`, or why nothing moved.
        outcome: String,
    },
    /// The operator's `fix` deleted a non-owner's copies of keys the slot's owner also held
    /// (the owner's copies win): the values on `node` are gone.
    CopiesDropped {
        /// The node that lost its copies (0-based).
        node: usize,
        /// Their slot.
        slot: u16,
        /// The keys deleted.
        keys: Vec<String>,
    },
}

/// A step of the run itself, as the runner announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// The cluster is being created.
    Create {
        /// The nodes' `ip:port` addresses.
        addrs: Vec<String>,
    },
    /// The safety phase starts.
    Safety {
        /// How long faults are injected.
        span_ms: u64,
    },
    /// The liveness phase starts: every fault is healed.
    Liveness {
        /// What must hold (e.g. `whole`).
        goal: String,
        /// Within this long after the heal.
        bound_ms: u64,
    },
    /// The liveness goal held.
    Settled {
        /// The goal, as in [`RunPhase::Liveness`].
        goal: String,
        /// When it first held, after the heal.
        after_ms: u64,
        /// How much longer it was seen to hold.
        stable_ms: u64,
    },
    /// A node that came back with a wiped disk joins the cluster again.
    Readmit {
        /// The node's trace name.
        node: String,
        /// The ID the cluster knew it by (forgotten now).
        old_id: String,
        /// The ID it has now.
        new_id: String,
    },
}

impl RunPhase {
    /// A short label for the timeline.
    pub fn label(&self) -> &str {
        match self {
            RunPhase::Create { .. } => "create",
            RunPhase::Safety { .. } => "safety phase",
            RunPhase::Liveness { .. } => "liveness phase",
            RunPhase::Settled { goal, .. } => goal,
            RunPhase::Readmit { .. } => "readmit",
        }
    }
}

impl fmt::Display for RunPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunPhase::Create { addrs } => write!(f, "create {}", addrs.join(" ")),
            RunPhase::Safety { span_ms } => write!(f, "safety phase for {span_ms} ms"),
            RunPhase::Liveness { goal, bound_ms } => {
                write!(f, "liveness phase: {goal} within {bound_ms} ms")
            }
            RunPhase::Settled {
                goal,
                after_ms,
                stable_ms,
            } => write!(
                f,
                "{goal} after {after_ms} ms, and still after {stable_ms} ms more"
            ),
            RunPhase::Readmit {
                node,
                old_id,
                new_id,
            } => write!(f, "readmit {node}: old id {old_id}, new id {new_id}"),
        }
    }
}

/// One sampler reading of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sampled {
    /// The node did not answer (why).
    Unreachable(String),
    /// The node answered; what its view showed.
    Seen(NodeSample),
}

/// A node's own view, summarised from `CLUSTER INFO` and `CLUSTER NODES`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSample {
    /// `cluster_state` is ok.
    pub state_ok: bool,
    /// `cluster_current_epoch`.
    pub current_epoch: u64,
    /// Its own line says master (`None`: it has no myself line).
    pub master: Option<bool>,
    /// The config epoch on its own line (0 without one).
    pub config_epoch: u64,
    /// Slots it serves.
    pub slots: usize,
    /// Its first few ranges as text (`0-5460,…`), empty when it serves none.
    pub ranges: String,
    /// The first 8 characters of its node ID (empty: no myself line).
    pub short_id: String,
    /// `(ip:port, flagged FAIL)` of every peer it flags PFAIL (`false`) or FAIL (`true`).
    pub failing: Vec<(String, bool)>,
}

/// A request a simulated client sent to one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The node's `ip:port`.
    pub addr: String,
    /// The arguments, escaped as text.
    pub args: String,
    /// The reply (or I/O error), escaped as text.
    pub reply: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// How a request ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A reply that is not an error.
    Ok,
    /// `-MOVED` or `-ASK`: routing, not a failure.
    Redirect,
    /// Any other error reply.
    Error,
    /// The connection failed.
    Io,
}

impl Outcome {
    /// The request failed (a redirect did not).
    pub fn failed(self) -> bool {
        matches!(self, Outcome::Error | Outcome::Io)
    }
}

impl Event {
    /// The node's typed event, if this is one.
    pub fn cluster(&self) -> Option<&ClusterEvent> {
        match self {
            Event::Cluster(event) => Some(event),
            _ => None,
        }
    }

    /// The harness's free text, if this is one (empty otherwise).
    pub fn text(&self) -> &str {
        match self {
            Event::Text(text) => text,
            _ => "",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Cluster(event) => write!(f, "{event}"),
            Event::Process(event) => write!(f, "{event}"),
            Event::Fault(event) => write!(f, "{event}"),
            Event::Sample(sample) => write!(f, "sample {sample}"),
            Event::Request(request) => write!(f, "{request}"),
            Event::Phase(phase) => write!(f, "{phase}"),
            Event::Violation(violation) => write!(f, "violation {violation}"),
            Event::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Display for ProcessEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessEvent::Start { incarnation, seed } => {
                write!(f, "start incarnation={incarnation} seed={seed:016x}")
            }
            ProcessEvent::Exit(outcome) => write!(f, "exit {outcome}"),
            ProcessEvent::Kill(how) => write!(f, "kill ({how})"),
            ProcessEvent::Restart => f.write_str("restart"),
            ProcessEvent::Pause => f.write_str("pause"),
            ProcessEvent::Resume => f.write_str("resume"),
            ProcessEvent::Clog => f.write_str("clog"),
            ProcessEvent::Unclog => f.write_str("unclog"),
            ProcessEvent::ClogLink { to } => write!(f, "clog link to {to}"),
            ProcessEvent::UnclogLink { to } => write!(f, "unclog link to {to}"),
            ProcessEvent::ClockSet {
                offset_us,
                drift_ppm,
            } => write!(
                f,
                "wall clock {offset_us:+} µs off, drift {drift_ppm:+} ppm"
            ),
        }
    }
}

impl fmt::Display for FaultEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultEvent::Applied(fault) => write!(f, "{fault}"),
            FaultEvent::Skipped { what, why } => write!(f, "skip {what}: {why}"),
            FaultEvent::HealAll => f.write_str("heal all"),
            FaultEvent::ManualFailoverAccepted { node, mode } => {
                write!(f, "node{} accepted manual failover {mode:?}", node + 1)
            }
            FaultEvent::SlotMoveEnded { from, to, outcome } => {
                write!(f, "move {from}->{to}: {outcome}")
            }
            FaultEvent::CopiesDropped { node, slot, keys } => write!(
                f,
                "fix dropped node{}'s copies of {} in slot {slot}",
                node + 1,
                keys.join(" ")
            ),
        }
    }
}

impl fmt::Display for Sampled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampled::Unreachable(why) => write!(f, "unreachable ({why})"),
            Sampled::Seen(s) => write!(f, "{s}"),
        }
    }
}

impl fmt::Display for NodeSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.master {
            Some(true) => "master",
            Some(false) => "replica",
            None => "?",
        };
        let id = if self.short_id.is_empty() {
            "?"
        } else {
            &self.short_id
        };
        let ranges = if self.ranges.is_empty() {
            String::new()
        } else {
            format!(":{}", self.ranges)
        };
        write!(
            f,
            "state={} current_epoch={} {role} config_epoch={} slots={}{ranges} id={id} failing=[",
            if self.state_ok { "ok" } else { "fail" },
            self.current_epoch,
            self.config_epoch,
            self.slots,
        )?;
        for (i, (addr, fail)) in self.failing.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let flag = if *fail { "fail" } else { "fail?" };
            write!(f, "{sep}{addr}:{flag}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.addr, self.args, self.reply)
    }
}

impl From<ClusterEvent> for Event {
    fn from(event: ClusterEvent) -> Event {
        Event::Cluster(event)
    }
}

impl From<ProcessEvent> for Event {
    fn from(event: ProcessEvent) -> Event {
        Event::Process(event)
    }
}

impl From<FaultEvent> for Event {
    fn from(event: FaultEvent) -> Event {
        Event::Fault(event)
    }
}

impl From<RunPhase> for Event {
    fn from(phase: RunPhase) -> Event {
        Event::Phase(phase)
    }
}

impl From<String> for Event {
    fn from(text: String) -> Event {
        Event::Text(text)
    }
}

impl From<&str> for Event {
    fn from(text: &str) -> Event {
        Event::Text(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_render_as_the_sampler_summarised_them() {
        let sample = NodeSample {
            state_ok: true,
            current_epoch: 4,
            master: Some(true),
            config_epoch: 4,
            slots: 5462,
            ranges: "5461-10922".into(),
            short_id: "dddddddd".into(),
            failing: vec![
                ("10.0.0.2:7002".into(), true),
                ("10.0.0.3:7003".into(), false),
            ],
        };
        assert_eq!(
            Event::Sample(Sampled::Seen(sample)).to_string(),
            "sample state=ok current_epoch=4 master config_epoch=4 slots=5462:5461-10922 \
             id=dddddddd failing=[10.0.0.2:7002:fail 10.0.0.3:7003:fail?]"
        );
        let empty = NodeSample::default();
        assert_eq!(
            empty.to_string(),
            "state=fail current_epoch=0 ? config_epoch=0 slots=0 id=? failing=[]"
        );
        assert_eq!(
            Sampled::Unreachable("timed out".into()).to_string(),
            "unreachable (timed out)"
        );
    }

    #[test]
    fn run_phases_render_the_runner_lines_and_label_the_timeline() {
        let settled = RunPhase::Settled {
            goal: "whole".into(),
            after_ms: 1200,
            stable_ms: 5000,
        };
        assert_eq!(
            settled.to_string(),
            "whole after 1200 ms, and still after 5000 ms more"
        );
        assert_eq!(settled.label(), "whole");
        let liveness = RunPhase::Liveness {
            goal: "whole".into(),
            bound_ms: 35_000,
        };
        assert_eq!(
            liveness.to_string(),
            "liveness phase: whole within 35000 ms"
        );
        let create = RunPhase::Create {
            addrs: vec!["10.0.0.1:7001".into(), "10.0.0.2:7002".into()],
        };
        assert_eq!(
            Event::Phase(create).to_string(),
            "create 10.0.0.1:7001 10.0.0.2:7002"
        );
    }

    #[test]
    fn process_events_and_requests_render_one_line() {
        let start = ProcessEvent::Start {
            incarnation: 1,
            seed: 0xab,
        };
        assert_eq!(
            start.to_string(),
            "start incarnation=1 seed=00000000000000ab"
        );
        let to = "node2".to_string();
        assert_eq!(
            ProcessEvent::ClogLink { to }.to_string(),
            "clog link to node2"
        );
        let request = Request {
            addr: "10.0.0.1:7001".into(),
            args: "SET k v".into(),
            reply: "-MOVED 1 10.0.0.2:7002".into(),
            outcome: Outcome::Redirect,
        };
        assert_eq!(
            request.to_string(),
            "10.0.0.1:7001 SET k v -> -MOVED 1 10.0.0.2:7002"
        );
        assert!(!Outcome::Redirect.failed() && Outcome::Io.failed() && Outcome::Error.failed());
    }
}
