//! Scenarios: seeded runs of a [`SimCluster`] that check named expectations and end in a
//! [`RunReport`]. Each scenario is one file implementing [`Scenario`] and one line in
//! [`SCENARIOS`] (the registry, which [`run`], seed-file replay and the CLI read); the helpers
//! here (cluster start, views, the closing report) are what the scenarios share. Scenarios use
//! these and [`crate::runner`], never one another's runners.

use clusterlab_core::Reply;

use crate::client::{describe_reply, reply_text};
use crate::cluster::SimCluster;
use crate::invariants::views_agree;
use crate::report::{RunReport, Violation, ViolationKind};
use crate::trace::Event;
use crate::view::{parse_cluster_nodes, slot_owners, NodeLine};

mod admin_steps;
pub mod crash;
pub mod durability;
pub mod failover;
mod node_down;
pub mod partition;
mod probe;
mod registry;
pub mod reshard;
pub mod tutorial;
pub mod walkthrough;

#[cfg(test)]
mod truncation_tests;

pub use registry::{find, names, run, run_record, Scenario, SCENARIOS};
pub use walkthrough::{
    walkthrough, walkthrough_current, walkthrough_with, TUTORIAL_KEY, TUTORIAL_KEY_SLOT,
};

pub use crate::runner::CLUSTER_OK_TIMEOUT_MS;

/// The start the masters-only scenarios share: no replicas (one would fail over and change
/// what they measure), nodes listening, `create`, then `cluster_state:ok` everywhere. False,
/// with the violation recorded, when a step failed.
async fn start_masters_only(
    cluster: &SimCluster,
    scenario: &str,
    violations: &mut Vec<Violation>,
) -> bool {
    if cluster.config().replicas != 0 {
        violations.push(Violation::new(
            ViolationKind::ConfigUnsupported,
            format!("{scenario} expects masters without replicas (a replica would fail over)"),
        ));
        return false;
    }
    if let Err(e) = cluster.wait_listening().await {
        violations.push(Violation::new(
            ViolationKind::NodeNotListening,
            e.to_string(),
        ));
        return false;
    }
    if let Err(e) = cluster.create().await {
        violations.push(Violation::new(ViolationKind::CreateFailed, e));
        return false;
    }
    wait_cluster_ok(cluster, violations).await
}

/// Waits (bounded by [`CLUSTER_OK_TIMEOUT_MS`]) until every node says `cluster_state:ok`.
async fn wait_cluster_ok(cluster: &SimCluster, violations: &mut Vec<Violation>) -> bool {
    match cluster.wait_cluster_ok(CLUSTER_OK_TIMEOUT_MS).await {
        Ok(()) => true,
        Err(states) => {
            violations.push(Violation::new(
                ViolationKind::ClusterNotOk,
                format!("after {CLUSTER_OK_TIMEOUT_MS} ms: {states}"),
            ));
            false
        }
    }
}

/// Fetches and parses `CLUSTER NODES` from node `index`.
async fn fetch_view(cluster: &SimCluster, index: usize) -> Result<(String, Vec<NodeLine>), String> {
    let reply = cluster
        .command(index, &["CLUSTER", "NODES"])
        .await
        .map_err(|e| e.to_string())?;
    let text = reply_text(&reply).ok_or_else(|| describe_reply(&reply))?;
    let lines = parse_cluster_nodes(&text)?;
    Ok((text, lines))
}

/// Who owns `slot` according to node `index`, as `ip:port`.
async fn slot_owner_addr(
    cluster: &SimCluster,
    index: usize,
    slot: u16,
    violations: &mut Vec<Violation>,
) -> Option<String> {
    let view = fetch_view(cluster, index).await;
    let owner = view.as_ref().ok().and_then(|(_, lines)| {
        let owners = slot_owners(lines).ok()?;
        let id = owners[usize::from(slot)].as_ref()?;
        lines.iter().find(|l| &l.id == id).map(|l| l.addr.clone())
    });
    if owner.is_none() {
        let evidence = match view {
            Ok((text, _)) => format!("no owner of slot {slot} in {text:?}"),
            Err(e) => e,
        };
        violations.push(Violation::new(ViolationKind::SlotOwnerUnknown, evidence));
    }
    owner
}

/// Collects every node's `CLUSTER NODES`, checks the views agree, and builds the report.
async fn finish(cluster: &SimCluster, scenario: &str, mut violations: Vec<Violation>) -> RunReport {
    let (texts, views) = final_views(cluster, cluster.len(), &mut violations).await;
    // Agreement only means something once the cluster was formed.
    if violations.is_empty() {
        violations.extend(views_agree(&views, cluster.len()));
    }
    cluster.trace().record(
        "harness",
        format!("end network_messages={}", cluster.network_messages()),
    );
    close_report(cluster, scenario, violations, texts)
}

/// Every node's `CLUSTER NODES` text (empty, with a violation, where unreadable) and the
/// parsed views of the first `members` nodes.
async fn final_views(
    cluster: &SimCluster,
    members: usize,
    violations: &mut Vec<Violation>,
) -> (Vec<(String, String)>, Vec<(String, Vec<NodeLine>)>) {
    let mut texts = Vec::new();
    let mut views = Vec::new();
    for index in 0..cluster.len() {
        let name = cluster.node(index).name.clone();
        match fetch_view(cluster, index).await {
            Ok((text, lines)) => {
                texts.push((name.clone(), text));
                if index < members {
                    views.push((name, lines));
                }
            }
            Err(e) => {
                violations.push(Violation::new(
                    ViolationKind::ClusterNodesUnreadable,
                    format!("{name}: {e}"),
                ));
                texts.push((name, String::new()));
            }
        }
    }
    (texts, views)
}

/// Records every violation in the trace and builds the report from the trace as it stands.
pub(crate) fn close_report(
    cluster: &SimCluster,
    scenario: &str,
    mut violations: Vec<Violation>,
    cluster_nodes: Vec<(String, String)>,
) -> RunReport {
    let dropped = cluster.trace().dropped();
    if dropped > 0 {
        violations.push(Violation::new(
            ViolationKind::TraceTruncated,
            format!(
                "{dropped} events past the trace's cap of {} were dropped",
                crate::trace::MAX_KEPT_EVENTS
            ),
        ));
    }
    for v in &violations {
        cluster
            .trace()
            .record("harness", Event::Violation(v.clone()));
    }
    let buggify: Vec<(String, u64)> = clusterlab_net::buggify::fired()
        .into_iter()
        .map(|(point, n)| (point.name().to_string(), n))
        .collect();
    clusterlab_net::buggify::disable();
    if !buggify.is_empty() {
        let fired: Vec<String> = buggify.iter().map(|(p, n)| format!("{p}={n}")).collect();
        cluster
            .trace()
            .record("harness", format!("buggify fired {}", fired.join(" ")));
    }
    let trace = cluster.trace();
    let (trace_text, trace_hash) = trace.render_and_hash();
    RunReport {
        seed: cluster.seed(),
        scenario: scenario.to_string(),
        violations,
        virtual_ms: cluster.elapsed().as_millis() as u64,
        trace_hash,
        trace_len: trace.len(),
        trace_text,
        trace: trace.events(),
        cluster_nodes,
        buggify,
    }
}

/// `SET`s every pair through a cluster client entering at node 1.
pub(super) async fn write_keys(
    cluster: &SimCluster,
    keys: &[(String, String)],
) -> Result<(), Violation> {
    let keys = keys.to_vec();
    let mut client = cluster.client(0);
    let failures = cluster
        .on_client(async move {
            let mut failures = Vec::new();
            for (key, value) in keys {
                match client
                    .command(&[b"SET", key.as_bytes(), value.as_bytes()])
                    .await
                {
                    Ok(r) if r.reply == Reply::ok() => {}
                    other => failures.push(format!("SET {key}: {other:?}")),
                }
            }
            failures
        })
        .await;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Violation::new(
            ViolationKind::WriteRefused,
            failures.join("; "),
        ))
    }
}

/// Reads every key of `history` back; each key that cannot be read is a `read_failed`
/// violation and missing from the map.
async fn read_keys(
    cluster: &SimCluster,
    history: &crate::workload::WriteHistory,
    violations: &mut Vec<Violation>,
) -> std::collections::BTreeMap<String, Option<String>> {
    let mut reads = std::collections::BTreeMap::new();
    for (key, result) in crate::workload::read_back(cluster, history.keys()).await {
        match result {
            Ok(value) => {
                reads.insert(key, value);
            }
            Err(e) => violations.push(Violation::new(
                ViolationKind::ReadFailed,
                format!("GET {key}: {e}"),
            )),
        }
    }
    reads
}
