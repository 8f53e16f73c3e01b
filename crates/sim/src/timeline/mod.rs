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
//! Rendering is a pure function of the trace events ([`build`] reads them into a
//! [`Timeline`], [`render_html`] draws it), so it is unit-tested in the normal build. It
//! matches on the typed events ([`trace::Event`](crate::trace::Event)), never on rendered
//! text: a node's elections, promotions, FAIL markings, `cluster_state` changes and epochs
//! come from its core's events ([`Event::Cluster`](crate::trace::Event::Cluster)); down,
//! paused and restarted stretches from the harness's process actions (`Event::Process`);
//! roles, config epochs, slot counts and PFAIL/FAIL flags from the campaign sampler's
//! readings (`Event::Sample`); the fault lane and cut-off bands from the injector's
//! `Event::Fault`s; the workload lane and failed-request marks from the clients'
//! `Event::Request`s; and the harness lane from its `Event::Violation`s and free-text phase
//! notes (`Event::Text`). Every event, drawn or not, is in the text below the picture.

mod build;
mod html;
mod names;
#[cfg(test)]
mod tests;

pub use build::build;
pub use html::{escape, render_html};
pub use names::node_of_addr;

use crate::report::Violation;

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
    /// Index into [`Timeline::lanes`].
    pub lane: usize,
    /// Virtual µs since the run started.
    pub time_us: u64,
    /// What it shows.
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
    /// Frozen by a pause fault.
    Paused,
    /// Clogged, or on the minority side of a partition.
    CutOff,
    /// Some node flags it `fail?` (PFAIL).
    FlaggedPfail,
    /// Some node flags it `fail`.
    FlaggedFail,
    /// A partition is in place (faults lane).
    Partition,
    /// Latency other than madsim's default (faults lane).
    Latency,
    /// Packet loss above zero (faults lane).
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
    /// Index into [`Timeline::lanes`].
    pub lane: usize,
    /// Start: virtual µs since the run started.
    pub from_us: u64,
    /// End (exclusive), in virtual µs since the run started; bands still open when the trace
    /// ends stop at [`Timeline::end_us`].
    pub to_us: u64,
    /// What it shows.
    pub kind: BandKind,
    /// Short text drawn inside.
    pub label: String,
    /// The tooltip: the trace line(s) behind the band.
    pub detail: String,
}

/// Workload requests in one time bucket of the workload lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// The writer's requests that got a reply that is not an error (redirects not counted).
    pub ok: usize,
    /// The writer's requests that got an error reply or failed on the connection.
    pub failed: usize,
    /// Distinct failure texts (capped), for the tooltip.
    pub errors: Vec<String>,
}

/// What [`build`] read out of a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Lane names, top to bottom: `faults`, the nodes in number order, `workload`, `harness`.
    pub lanes: Vec<String>,
    /// Point events of every lane.
    pub marks: Vec<Mark>,
    /// Intervals, in the order they closed.
    pub bands: Vec<Band>,
    /// Workload requests per [`BUCKET_US`], from time 0.
    pub buckets: Vec<Bucket>,
    /// Time of the last event (at least 1), in virtual µs since the run started: where the
    /// picture ends.
    pub end_us: u64,
    /// The violations given to [`build`], as given.
    pub violations: Vec<Violation>,
}

/// Width of one workload bucket.
pub const BUCKET_US: u64 = 500_000;
/// Distinct error texts kept per bucket.
const MAX_ERRORS_PER_BUCKET: usize = 4;

impl Timeline {
    /// Index of the lane called `name` (`node2`, `faults`, …).
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
