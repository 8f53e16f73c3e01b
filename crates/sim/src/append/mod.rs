//! Concurrent, append-based histories (issue #15, rule 2): several clients, each on its own
//! simulated machine, mix `APPEND`, `GET` (also from replicas after `READONLY`), `SET`,
//! `INCR`, TTL commands and `WAIT` on a shared, bounded key set; every write carries a unique
//! token, so each value read back names the writes that made it, in order.
//!
//! [`op`] is the history's data and the key set ([`workload_slots`] for code that must reach
//! the workload's slots); [`check`] and [`other`] find the anomalies; [`judge`] puts the
//! writes found gone to the loss rule and turns everything into violations. The clients and
//! the read-back run in the simulator only ([`client`]).

pub mod check;
pub mod durable;
pub mod judge;
pub mod op;
pub mod other;
pub mod spec;
pub mod wait;

#[cfg(madsim)]
pub mod client;
#[cfg(madsim)]
pub mod run;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_clock;
#[cfg(test)]
mod tests_durable;
#[cfg(test)]
mod tests_other;

pub use durable::check_durable_acks;
pub use judge::{acked_write, check, judge, Judged, MAX_PER_KIND};
pub use op::{workload_keys, workload_slots, AppendHistory, KeySet, Kind, Op, Outcome, Value};
pub use spec::AppendSpec;
pub use wait::check_waits;
