//! clusterlab-sim: the deterministic simulation harness. It runs the very same node runtime
//! (`clusterlab_net::server`) on madsim's virtual clock and network, drives scenarios from a
//! seed, checks named invariants and records a hashed trace so any run can be replayed exactly.
//!
//! The runtime parts exist only in the simulation build (`RUSTFLAGS="--cfg madsim"`, target dir
//! `target/sim`):
//!
//! - `cluster`: `SimCluster`, the simulated machines running the node runtime, and its builder;
//! - `client`: a cluster-aware client that follows `MOVED`/`ASK` and traces every request;
//! - `runner`: the seeded runtime setup and the two-phase (safety, then liveness) run that
//!   scenarios share;
//! - `scenario`: the named scenarios and their registry (`scenario::SCENARIOS`), each a seeded
//!   run ending in a [`RunReport`];
//! - `campaign`: the randomized two-phase run `cargo sim` does by default;
//! - `canary`: hunting the core's deliberate bugs with campaign seeds;
//! - `fuzz`: the proptest search over fault schedules, shrinking a failure to a seed record;
//! - `env_seeds`: which seeds a scenario test runs, from madsim's environment variables.
//!
//! The plain-data parts compile everywhere, so they are unit-tested in the normal build too:
//!
//! - [`trace`]: the hashed run trace, a list of typed events ([`trace::Event`]);
//! - [`report`]: a run's outcome ([`RunReport`], [`Violation`]);
//! - [`seeds`]: seed files of the regression corpus and the cluster shape ([`SimConfig`]);
//! - [`node_idx`]: a node's index, name, IP and port ([`NodeIdx`]);
//! - [`view`]: a `CLUSTER NODES` reply parsed into a node's view;
//! - [`invariants`]: the named checks over sampled views;
//! - [`detection`]: failure-detection checks against who could reach whom;
//! - [`faults`]: fault schedules, swarm and proptest generation, shrinking, and (simulation
//!   build) the injector;
//! - [`workload`]: the write workload, its keys, values and history (the writer itself runs
//!   only in the simulator);
//! - [`history`]: judging what a key reads back against that history;
//! - [`timeline`]: a trace drawn as an HTML page;
//! - [`wall_clock`]: each node's wall clock over a run, from the trace's clock events.
//!
//! # Your own simulation tests
//!
//! The crate is also a library for testing your code against a simulated cluster: build one
//! (`SimCluster::builder`: shape, settings, seed), run your client code on its client
//! machine (`SimCluster::on_client`, `ClusterClient`), inject faults (`FaultInjector`
//! with the [`Fault`] values the swarm uses), judge the run (`sim_test::check`, the history
//! checker [`workload::WriteHistory::check_reads`]) and get the trace and its timeline
//! ([`RunReport`], [`timeline::render_html`]). Those items exist only in the simulation
//! build, so read these docs built with `RUSTDOCFLAGS="--cfg madsim" RUSTFLAGS="--cfg madsim"
//! cargo doc --target-dir target/sim -p clusterlab-sim`, where the next section shows the
//! whole flow in one example (also run as a doctest). The guide is
//! `docs/writing-a-simulation-test.md`; `examples/cache-aside` is a worked example.
//!
//! The Rust `redis` crate's async cluster client cannot run on the simulated network as
//! published: it depends on the real `tokio` (not madsim's), and it converts each socket to
//! a `std::net::TcpStream` for its TCP settings. The guide's last section says what exactly
//! blocks it and what would make it work.
#![cfg_attr(madsim, doc = include_str!("flow_example.md"))]
#![warn(missing_docs, unreachable_pub)]

pub mod append;
pub mod detection;
pub mod event_checks;
pub mod faults;
pub mod history;
pub mod invariants;
pub mod loss;
pub mod node_idx;
pub mod report;
pub mod seeds;
pub mod timeline;
pub mod trace;
pub mod view;
pub mod violation_kind;
pub mod wall_clock;
pub mod workload;

#[cfg(test)]
mod test_events;

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
#[cfg(madsim)]
pub mod sim_test;

pub use node_idx::NodeIdx;
pub use report::{RunReport, Violation, ViolationKind};
pub use seeds::{Expectation, Fsync, Maxmemory, SeedRecord, SimConfig};
pub use trace::{Trace, TraceEvent};

#[cfg(madsim)]
pub use client::ClusterClient;
#[cfg(madsim)]
pub use cluster::{SimCluster, SimClusterBuilder};
#[cfg(madsim)]
pub use faults::FaultInjector;
pub use faults::{Fault, FaultSchedule, TimedFault};
#[cfg(madsim)]
pub use runner::in_runtime;
