//! What the fault scenarios ask the nodes: `CLUSTER INFO` fields, `CLUSTER MYID`, a node's view
//! of one peer, and the identity (node ID, current epoch) that must survive restarts. Each
//! helper turns an unreachable node or an odd reply into an `Err` with the evidence, so the
//! scenarios can report it as a violation instead of panicking.

use std::collections::BTreeMap;

use clusterlab_core::Reply;

use super::fetch_view;
use crate::client::{describe_reply, reply_text};
use crate::cluster::SimCluster;
use crate::report::{Violation, ViolationKind};
use crate::view::NodeLine;

/// `CLUSTER INFO` of node `index` as `field → value`.
pub(super) async fn cluster_info(
    cluster: &SimCluster,
    index: usize,
) -> Result<BTreeMap<String, String>, String> {
    let reply = cluster
        .command(index, &["CLUSTER", "INFO"])
        .await
        .map_err(|e| format!("io error: {e}"))?;
    let text = reply_text(&reply).ok_or_else(|| describe_reply(&reply))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
        .collect())
}

/// One `CLUSTER INFO` field, or the error that kept us from reading it.
pub(super) fn field<'a>(info: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    info.get(name).map_or("<missing>", String::as_str)
}

/// `CLUSTER MYID` of node `index`.
pub(super) async fn my_id(cluster: &SimCluster, index: usize) -> Result<String, String> {
    match cluster.command(index, &["CLUSTER", "MYID"]).await {
        Ok(Reply::Bulk(id)) => Ok(String::from_utf8_lossy(&id).into_owned()),
        Ok(other) => Err(describe_reply(&other)),
        Err(e) => Err(format!("io error: {e}")),
    }
}

/// What one node believes about the peer with address `addr`: its `CLUSTER NODES` line.
pub(super) async fn line_about(
    cluster: &SimCluster,
    index: usize,
    addr: &str,
) -> Result<NodeLine, String> {
    let (_, lines) = fetch_view(cluster, index).await?;
    lines
        .into_iter()
        .find(|l| l.addr == addr)
        .ok_or_else(|| format!("{addr} missing from the view"))
}

/// Node `observer`'s line about the peer at `addr`, and its own `cluster_state`.
pub(super) async fn line_and_state(
    cluster: &SimCluster,
    observer: usize,
    addr: &str,
) -> Result<(NodeLine, String), String> {
    let line = line_about(cluster, observer, addr).await?;
    let info = cluster_info(cluster, observer).await?;
    Ok((line, field(&info, "cluster_state").to_string()))
}

/// How many slots node `index` owns, according to node `observer`.
pub(super) async fn slot_count_of(
    cluster: &SimCluster,
    observer: usize,
    index: usize,
) -> Result<usize, String> {
    let line = line_about(cluster, observer, &cluster.node(index).addr()).await?;
    Ok(line
        .slots
        .iter()
        .map(|&(lo, hi)| usize::from(hi - lo) + 1)
        .sum())
}

/// A node's identity as far as restarts must keep it: node ID and current epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Identity {
    pub id: String,
    pub current_epoch: u64,
}

/// Every node's identity, or the evidence of the first one that could not be read.
pub(super) async fn identities(cluster: &SimCluster) -> Result<Vec<Identity>, String> {
    let mut out = Vec::with_capacity(cluster.len());
    for index in 0..cluster.len() {
        let name = &cluster.node(index).name;
        let id = my_id(cluster, index)
            .await
            .map_err(|e| format!("{name} CLUSTER MYID: {e}"))?;
        let info = cluster_info(cluster, index)
            .await
            .map_err(|e| format!("{name} CLUSTER INFO: {e}"))?;
        let epoch = field(&info, "cluster_current_epoch");
        let current_epoch = epoch
            .parse()
            .map_err(|_| format!("{name} cluster_current_epoch {epoch:?}"))?;
        out.push(Identity { id, current_epoch });
    }
    Ok(out)
}

/// Node IDs never change and current epochs never decrease across restarts (names
/// `node_id_changed`, `epoch_decreased`).
pub(super) fn identities_survive(
    cluster: &SimCluster,
    before: &[Identity],
    after: &[Identity],
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (index, (b, a)) in before.iter().zip(after).enumerate() {
        let name = &cluster.node(index).name;
        if a.id != b.id {
            violations.push(Violation::new(
                ViolationKind::NodeIdChanged,
                format!("{name}: CLUSTER MYID {} before, {} after", b.id, a.id),
            ));
        }
        if a.current_epoch < b.current_epoch {
            violations.push(Violation::new(
                ViolationKind::EpochDecreased,
                format!(
                    "{name}: cluster_current_epoch {} before, {} after",
                    b.current_epoch, a.current_epoch
                ),
            ));
        }
    }
    violations
}

/// Checks identities against `before`, recording why they could not be read as a violation.
pub(super) async fn check_identities(
    cluster: &SimCluster,
    before: &[Identity],
    violations: &mut Vec<Violation>,
) {
    match identities(cluster).await {
        Ok(after) => violations.extend(identities_survive(cluster, before, &after)),
        Err(e) => violations.push(Violation::new(ViolationKind::IdentityUnreadable, e)),
    }
}

/// Virtual milliseconds since the run started.
pub(super) fn now_ms(cluster: &SimCluster) -> u64 {
    cluster.elapsed().as_millis() as u64
}

/// How often the wait loops below poll.
pub(super) const POLL_MS: u64 = 100;

/// Whether node `observer` sees node `victim` failed the way the tutorial shows it:
/// `cluster_state:fail`, `cluster_slots_fail:<victim's slots>` and `master,fail` on the
/// victim's `CLUSTER NODES` line. `Err` describes what it sees instead.
pub(super) async fn sees_failed(
    cluster: &SimCluster,
    observer: usize,
    victim: usize,
    victim_slots: usize,
) -> Result<(), String> {
    let info = cluster_info(cluster, observer).await?;
    let line = line_about(cluster, observer, &cluster.node(victim).addr()).await?;
    let state = field(&info, "cluster_state");
    let slots_fail = field(&info, "cluster_slots_fail");
    let flags = line.flags.join(",");
    let flagged = line.is_master() && line.has_flag("fail");
    if state == "fail" && slots_fail == victim_slots.to_string() && flagged {
        Ok(())
    } else {
        Err(format!(
            "cluster_state:{state} cluster_slots_fail:{slots_fail} {} flags {flags}",
            cluster.node(victim).name
        ))
    }
}

/// Polls `check` on every observer until all pass; returns the virtual milliseconds it took,
/// or after `bound_ms` the last state each observer showed.
pub(super) async fn wait_all<F, Fut>(
    cluster: &SimCluster,
    observers: &[usize],
    bound_ms: u64,
    mut check: F,
) -> Result<u64, String>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let start_ms = now_ms(cluster);
    let mut last = vec![String::new(); observers.len()];
    loop {
        let mut all = true;
        for (slot, &observer) in last.iter_mut().zip(observers) {
            match check(observer).await {
                Ok(()) => slot.clear(),
                Err(e) => {
                    all = false;
                    *slot = format!("{}: {e}", cluster.node(observer).name);
                }
            }
        }
        let waited_ms = now_ms(cluster) - start_ms;
        if all {
            return Ok(waited_ms);
        }
        if waited_ms >= bound_ms {
            let states: Vec<&str> = last
                .iter()
                .filter(|s| !s.is_empty())
                .map(String::as_str)
                .collect();
            return Err(format!("after {waited_ms} ms: {}", states.join("; ")));
        }
        madsim::time::sleep(std::time::Duration::from_millis(POLL_MS)).await;
    }
}

/// Waits until every node says `cluster_state:ok`; the virtual milliseconds it took.
pub(super) async fn wait_all_ok(cluster: &SimCluster, bound_ms: u64) -> Result<u64, String> {
    let all: Vec<usize> = (0..cluster.len()).collect();
    wait_all(cluster, &all, bound_ms, |index| async move {
        let info = cluster_info(cluster, index).await?;
        match field(&info, "cluster_state") {
            "ok" => Ok(()),
            state => Err(format!("cluster_state:{state}")),
        }
    })
    .await
}
