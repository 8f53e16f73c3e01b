//! clusterlab-sim: the deterministic simulation harness. It runs the very same node runtime
//! (`clusterlab_net::server`) on madsim's virtual clock and network, drives scenarios from a
//! seed, checks named invariants and records a hashed trace so any run can be replayed exactly.
//!
//! The runtime parts exist only in the simulation build (`RUSTFLAGS="--cfg madsim"`, target dir
//! `target/sim`): [`cluster`] (the `SimCluster` builder), [`client`] (a cluster-aware client
//! that follows `MOVED`/`ASK`), [`runner`] (the runtime setup and the two-phase safety +
//! liveness run that scenarios share), [`scenario`] (the scenarios and their registry) and
//! [`campaign`] (the randomized two-phase run `cargo sim` does by default). The plain-data parts — [`trace`],
//! [`report`], [`seeds`], [`view`], [`invariants`], [`faults`] (fault schedules, swarm and
//! proptest generation, shrinking), [`workload`], [`history`] and [`timeline`] (a trace drawn
//! as an HTML page) — compile everywhere, so they are unit-tested in the normal build too.

pub mod detection;
pub mod faults;
pub mod history;
pub mod invariants;
pub mod report;
pub mod seeds;
pub mod timeline;
pub mod trace;
pub mod view;
pub mod workload;

#[cfg(madsim)]
pub mod campaign;
#[cfg(madsim)]
pub mod canary;
#[cfg(madsim)]
pub mod client;
#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
pub mod env_seeds;
#[cfg(madsim)]
pub mod fuzz;
#[cfg(madsim)]
pub mod runner;
#[cfg(madsim)]
pub mod scenario;

pub use report::{RunReport, Violation};
pub use seeds::{Expectation, SeedRecord, SimConfig};
pub use trace::{Trace, TraceEvent};
