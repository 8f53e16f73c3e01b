//! Runs one node on TCP (real or simulated). (Owner: driver helper.)
//!
//! API: `run(config: Config, seed: u64) -> io::Result<()>` (returns on SHUTDOWN).
