//! clusterlab-net: the async drivers around the sans-IO core, identical for real and simulated
//! runs (tokio is `madsim-tokio`, so under `--cfg madsim` every socket and timer is virtual).
//!
//! - [`resp`]: RESP2/RESP3 codec (requests in, replies out, and replies in for the client side).
//! - [`bus_codec`]: our binary framing of cluster-bus messages.
//! - [`server`]: runs one node — client listener, bus listener and links, the 100 ms tick.
//! - [`clock`]: the nodes' clocks; [`clock::unix_now_ms`] is the wall clock, virtual under madsim.
//! - [`aof`]: the append-only file in Redis 7's multi-part layout: appends, fsyncs, replay.
//! - [`disk`]: the `Disk` trait for nodes.conf and the AOF, with the real-file implementation.
//! - [`client`]: a small RESP client connection.
//! - [`admin`]: redis-cli's `--cluster` operations (create, …) over [`client`].
//! - [`buggify`]: named points where a simulated run may take a rare but legal path.

pub mod admin;
pub mod aof;
pub mod buggify;
pub mod bus_codec;
pub mod client;
pub mod disk;
pub mod resp;
pub mod server;

pub use server::clock;
