//! Reading every node at once: one poll of `CLUSTER NODES` and `CLUSTER INFO` on each node
//! ([`poll_all`], [`Fetched`]) and what the two-phase run and the sampler make of it — whether
//! the cluster is whole, the views, the states, what the trace shows when a node's report
//! changes ([`summary`]).

use std::time::Duration;

use clusterlab_net::client::Connection;

use super::LIVENESS_POLL_MS;
use crate::client::{describe_reply, info_field, reply_text};
use crate::cluster::SimCluster;
use crate::invariants::{states_ok, views_agree, views_agree_quickly, SafetyMonitor, Sample};
use crate::report::Violation;
use crate::trace::{NodeSample, Sampled};
use crate::view::{parse_cluster_nodes, NodeLine};

/// One node's answer to a poll: its name and what it said (or why it did not answer).
pub type Polled = (String, Result<Fetched, String>);

/// One node's sample and the raw `CLUSTER NODES` text it came from.
pub struct Fetched {
    /// The parsed view and `CLUSTER INFO` fields.
    pub sample: Sample,
    /// The `CLUSTER NODES` reply as the node sent it.
    pub nodes_text: String,
}

/// Virtual milliseconds since the run started.
pub fn now_ms() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_millis() as u64
}

/// `CLUSTER NODES` then `CLUSTER INFO`, pipelined on one connection, bounded by `timeout_ms`.
pub async fn fetch_on(
    conn: &mut Connection,
    name: &str,
    timeout_ms: u64,
) -> Result<Fetched, String> {
    let exchange = async {
        conn.send(&[b"CLUSTER", b"NODES"]).await?;
        conn.send(&[b"CLUSTER", b"INFO"]).await?;
        let nodes = conn.read_reply().await?;
        let info = conn.read_reply().await?;
        Ok::<_, std::io::Error>((nodes, info))
    };
    let (nodes, info) = madsim::time::timeout(Duration::from_millis(timeout_ms), exchange)
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("io error: {e}"))?;
    let nodes_text = reply_text(&nodes).ok_or_else(|| describe_reply(&nodes))?;
    let lines = parse_cluster_nodes(&nodes_text)?;
    let current_epoch = info_field(&info, "cluster_current_epoch")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| format!("no cluster_current_epoch in {}", describe_reply(&info)))?;
    let cluster_state = info_field(&info, "cluster_state").unwrap_or_else(|| describe_reply(&info));
    Ok(Fetched {
        sample: Sample {
            node: name.to_string(),
            time_ms: now_ms(),
            lines,
            current_epoch,
            cluster_state,
        },
        nodes_text,
    })
}

/// A connection to `addr`, or why none was made within `timeout_ms` of virtual time.
pub async fn connect(addr: &str, timeout_ms: u64) -> Result<Connection, String> {
    madsim::time::timeout(Duration::from_millis(timeout_ms), Connection::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("io error: {e}"))
}

/// One sample of every node, each on a fresh connection.
pub async fn fetch_all(
    addrs: &[String],
    names: &[String],
    timeout_ms: u64,
) -> Vec<(String, Result<Fetched, String>)> {
    let mut out = Vec::new();
    for (addr, name) in addrs.iter().zip(names) {
        let fetched = match connect(addr, timeout_ms).await {
            Ok(mut conn) => fetch_on(&mut conn, name, timeout_ms).await,
            Err(e) => Err(e),
        };
        out.push((name.clone(), fetched));
    }
    out
}

/// What the trace shows when what a node reports changes: its state, epochs, role and the
/// peers it flags failing (the sampler records it when it differs from the last one).
pub fn summary(fetched: &Result<Fetched, String>) -> Sampled {
    let f = match fetched {
        Ok(f) => f,
        Err(e) => return Sampled::Unreachable(e.clone()),
    };
    let me = f.sample.myself();
    let failing = f
        .sample
        .lines
        .iter()
        .filter(|l| l.has_flag("fail?") || l.has_flag("fail"))
        .map(|l| (l.addr.clone(), l.has_flag("fail")))
        .collect();
    let slots = me.map_or(0, |m| {
        m.slots
            .iter()
            .map(|(lo, hi)| usize::from(hi - lo) + 1)
            .sum::<usize>()
    });
    Sampled::Seen(NodeSample {
        state_ok: f.sample.cluster_state == "ok",
        current_epoch: f.sample.current_epoch,
        master: me.map(|m| m.is_master()),
        config_epoch: me.map_or(0, |m| m.config_epoch),
        slots,
        ranges: me.map_or(String::new(), |m| slot_ranges(&m.slots)),
        short_id: me.map_or(String::new(), |m| {
            m.id.get(..8).unwrap_or(&m.id).to_string()
        }),
        failing,
    })
}

/// `0-5460,10923` — the owned ranges for the trace, the first few only (after a reshard a
/// node may own hundreds of ranges).
fn slot_ranges(slots: &[(u16, u16)]) -> String {
    const SHOWN: usize = 4;
    if slots.is_empty() {
        return String::new();
    }
    let mut parts: Vec<String> = slots
        .iter()
        .take(SHOWN)
        .map(|&(lo, hi)| crate::invariants::range_text(lo, hi))
        .collect();
    if slots.len() > SHOWN {
        parts.push("…".to_string());
    }
    parts.join(",")
}

/// One liveness poll: every node's `CLUSTER NODES` and `CLUSTER INFO`, from the client machine.
pub async fn poll_all(
    cluster: &SimCluster,
    addrs: &[String],
    names: &[String],
) -> Vec<(String, Result<Fetched, String>)> {
    let (addrs, names) = (addrs.to_vec(), names.to_vec());
    cluster
        .on_client(async move { fetch_all(&addrs, &names, 1000).await })
        .await
}

/// Feeds the monitor every sample of one poll and keeps them.
pub fn observe_poll(
    monitor: &mut SafetyMonitor,
    samples: &mut Vec<Sample>,
    fetched: &[(String, Result<Fetched, String>)],
) {
    for (_, fetched) in fetched {
        if let Ok(f) = fetched {
            monitor.observe(&f.sample);
            samples.push(f.sample.clone());
        }
    }
}

/// All nodes answered, all say ok, and their views agree on every slot.
pub fn whole(fetched: &[(String, Result<Fetched, String>)], node_count: usize) -> bool {
    let mut views = Vec::new();
    for (name, f) in fetched {
        match f {
            Ok(f) if f.sample.cluster_state == "ok" => {
                views.push((name.clone(), f.sample.lines.clone()));
            }
            _ => return false,
        }
    }
    views_agree_quickly(&views, node_count)
}

/// Waits until every node knows every node and all agree on the slots: `cluster_state:ok`
/// alone comes earlier, while gossip is still spreading the replicas. Faults start from
/// there, as an operator's would, so that a crash cannot take the only node that knows a
/// new one (its `nodes.conf` written but not yet fsynced) and leave that one a stranger.
pub async fn wait_whole(cluster: &SimCluster, timeout_ms: u64) -> Result<(), String> {
    let (addrs, names) = (cluster.addrs(), node_names(cluster));
    let mut fetched = Vec::new();
    for _ in 0..timeout_ms.div_ceil(LIVENESS_POLL_MS).max(1) {
        fetched = poll_all(cluster, &addrs, &names).await;
        if whole(&fetched, cluster.len()) {
            return Ok(());
        }
        madsim::time::sleep(Duration::from_millis(LIVENESS_POLL_MS)).await;
    }
    let views = views_of(&fetched);
    let found = views_agree(&views, cluster.len());
    let first = found
        .first()
        .map_or("no view".to_string(), |v| v.to_string());
    Err(format!("not whole {timeout_ms} ms after create: {first}"))
}

/// Every node's name, in index order.
pub fn node_names(cluster: &SimCluster) -> Vec<String> {
    cluster.nodes().iter().map(|n| n.name.clone()).collect()
}

/// `(node, cluster_state or why it did not answer)` of one poll, for [`states_ok`].
pub fn cluster_states(fetched: &[(String, Result<Fetched, String>)]) -> Vec<(String, String)> {
    fetched
        .iter()
        .map(|(name, f)| {
            let state = match f {
                Ok(f) => f.sample.cluster_state.clone(),
                Err(e) => e.clone(),
            };
            (name.clone(), state)
        })
        .collect()
}

/// `(node, CLUSTER NODES text or why it did not answer)` of one poll, for the report.
pub fn nodes_texts(fetched: &[(String, Result<Fetched, String>)]) -> Vec<(String, String)> {
    fetched
        .iter()
        .map(|(name, f)| {
            let text = f
                .as_ref()
                .map_or_else(|e| e.clone(), |f| f.nodes_text.clone());
            (name.clone(), text)
        })
        .collect()
}

/// The views of the nodes that answered one poll.
pub fn views_of(fetched: &[(String, Result<Fetched, String>)]) -> Vec<(String, Vec<NodeLine>)> {
    fetched
        .iter()
        .filter_map(|(name, f)| {
            f.as_ref()
                .ok()
                .map(|f| (name.clone(), f.sample.lines.clone()))
        })
        .collect()
}

/// Why a liveness phase did not end whole: each node's state, the views that disagree and
/// `extra`, every evidence prefixed with `context`.
pub fn not_whole(
    last: &[(String, Result<Fetched, String>)],
    views: &[(String, Vec<NodeLine>)],
    node_count: usize,
    context: &str,
    extra: Vec<Violation>,
) -> Vec<Violation> {
    let mut found = states_ok(&cluster_states(last), context);
    for mut v in views_agree(views, node_count).into_iter().chain(extra) {
        v.evidence = format!("{context}: {}", v.evidence);
        found.push(v);
    }
    found
}
