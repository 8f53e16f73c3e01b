//! A Pub/Sub subscriber for scenario tests: one RESP2 connection kept on its own client
//! machine, which sends (un)subscribe commands without waiting and collects what the node
//! pushes for a stretch of virtual time. Every frame it gets is written to the run's trace,
//! so the trace hash covers the messages.

use std::time::Duration;

use clusterlab_core::Reply;
use clusterlab_net::client::Connection;
use clusterlab_sim::client::describe_reply;
use clusterlab_sim::cluster::SimCluster;
use clusterlab_sim::Trace;
use madsim::runtime::NodeHandle;

/// One subscriber connection. `closed` turns true when the node closed it (a crash).
pub struct Subscriber {
    label: String,
    machine: NodeHandle,
    conn: Option<Connection>,
    trace: Trace,
    /// Whether the connection ended (EOF or an error) while reading.
    pub closed: bool,
}

impl Subscriber {
    /// Connects to `addr` from client machine `machine` (see [`SimCluster::client_machine`]).
    pub async fn open(cluster: &SimCluster, machine: usize, label: &str, addr: &str) -> Self {
        let handle = cluster.client_machine(machine);
        let target = addr.to_string();
        let conn = handle
            .spawn(async move { Connection::connect(&target).await })
            .await
            .expect("connect task")
            .unwrap_or_else(|e| panic!("{label}: connect to {addr}: {e}"));
        Subscriber {
            label: label.to_string(),
            machine: handle,
            conn: Some(conn),
            trace: cluster.trace().clone(),
            closed: false,
        }
    }

    /// Writes one command; its reply (or confirmation pushes) comes with [`Self::read_for`].
    pub async fn send(&mut self, args: &[&str]) {
        let mut conn = self.conn.take().expect("connection in place");
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let (conn, result) = self
            .machine
            .spawn(async move {
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                let result = conn.send(&refs).await;
                (conn, result)
            })
            .await
            .expect("send task");
        self.conn = Some(conn);
        result.unwrap_or_else(|e| panic!("{}: send: {e}", self.label));
    }

    /// Every frame that arrives within `ms` of virtual time, in order; stops early when the
    /// connection ends (then `closed` is set).
    pub async fn read_for(&mut self, ms: u64) -> Vec<Reply> {
        let mut conn = self.conn.take().expect("connection in place");
        let (conn, frames, closed) = self
            .machine
            .spawn(async move {
                let deadline = madsim::time::Instant::now() + Duration::from_millis(ms);
                let mut frames = Vec::new();
                // Bounded: each round takes a frame or ends the loop.
                for _ in 0..10_000 {
                    let left = deadline.saturating_duration_since(madsim::time::Instant::now());
                    match madsim::time::timeout(left, conn.read_reply()).await {
                        Ok(Ok(frame)) => frames.push(frame),
                        Ok(Err(_)) => return (conn, frames, true),
                        Err(_) => break,
                    }
                }
                (conn, frames, false)
            })
            .await
            .expect("read task");
        self.conn = Some(conn);
        self.closed |= closed;
        for frame in &frames {
            let text = format!("push {}", describe_reply(frame));
            self.trace.record(self.label.clone(), text);
        }
        if closed {
            self.trace.record(self.label.clone(), "connection closed");
        }
        frames
    }

    /// Sends `args` and returns what arrives within `ms`.
    pub async fn command(&mut self, args: &[&str], ms: u64) -> Vec<Reply> {
        self.send(args).await;
        self.read_for(ms).await
    }
}

/// A push or reply as Redis 7.0 frames a Pub/Sub event in RESP2: `[kind, channel, tail]`.
pub fn event(kind: &str, channel: &str, tail: Reply) -> Reply {
    Reply::Array(vec![Reply::bulk_str(kind), Reply::bulk_str(channel), tail])
}

/// `["smessage", channel, message]`.
pub fn smessage(channel: &str, message: &str) -> Reply {
    event("smessage", channel, Reply::bulk_str(message))
}

/// `["message", channel, message]`.
pub fn message(channel: &str, message: &str) -> Reply {
    event("message", channel, Reply::bulk_str(message))
}
