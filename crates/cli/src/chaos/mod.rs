//! Chaos for a real local cluster (`clusterlab up --chaos SEED`): the schedule (`schedule`,
//! drawn from a seed or read from JSON, pure and unit-tested), the driver that applies it to
//! the processes `up` started (`driver`, thin), the health check the driver waits on
//! (`health`), and the timestamps it prints (`timestamp`).

mod driver;
mod health;
mod schedule;
mod timestamp;

pub use driver::run;
pub use schedule::{draw, ChaosSchedule, ChaosShape};
