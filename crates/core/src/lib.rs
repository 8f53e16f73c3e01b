//! clusterlab-core: a Redis Cluster node as a sans-IO state machine.
//!
//! The driver (crate `clusterlab-net`) feeds the [`Node`] client commands, cluster-bus messages,
//! link events and a 100 ms tick, each with the current [`Time`]; the node answers with replies
//! and a list of [`Effect`]s (send a bus message, open a link, persist `nodes.conf`, …) that the
//! driver performs. Nothing here touches a socket, a clock, a file or a global rng, which is what
//! lets the very same code run on real TCP and inside the madsim simulator.

pub(crate) mod blocking;
pub mod bus;
pub mod canary;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod db;
pub mod effect;
pub mod event;
pub mod node;
pub mod node_id;
pub mod outbox;
pub mod pubsub;
pub mod rdb;
pub mod replication;
pub mod reply;
pub mod slot;
pub mod text;

pub use config::Config;
pub use event::ClusterEvent;
pub use node::{ClientId, Effect, LinkId, Node, Time};
pub use node_id::NodeId;
pub use outbox::Outbox;
pub use reply::Reply;
