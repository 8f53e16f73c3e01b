//! The operator's steps the admin-driven scenarios (`tutorial`, `reshard`) share: run a
//! `net::admin` operation from the client machine ([`on_admin`]), turn a failed step into a
//! violation ([`step`]), and wait for the members to be ok ([`wait_members_ok`]) and to agree
//! ([`wait_agreement`], within [`AGREE_BOUND_MS`]).

use std::future::Future;
use std::time::Duration;

use clusterlab_net::admin;

use super::fetch_view;
use super::probe::{self, cluster_info, field};
use crate::cluster::SimCluster;
use crate::report::{Violation, ViolationKind};

/// Bound for gossip to carry a configuration change to every member.
pub const AGREE_BOUND_MS: u64 = 20_000;

/// Runs an admin operation on the client machine; its error as text.
pub(crate) async fn on_admin<T, Fut>(cluster: &SimCluster, op: Fut) -> Result<T, String>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, admin::AdminError>> + Send + 'static,
{
    cluster
        .on_client(async move { op.await.map_err(|e| e.to_string()) })
        .await
}

/// A violation of `kind` unless `result` is Ok.
pub(crate) fn step<T>(kind: ViolationKind, result: Result<T, String>) -> Result<T, Violation> {
    result.map_err(|e| Violation::new(kind, e))
}

/// Waits until every member says `cluster_state:ok`.
pub(crate) async fn wait_members_ok(
    cluster: &SimCluster,
    members: &[usize],
    bound_ms: u64,
) -> Result<u64, Violation> {
    let waited = probe::wait_all(cluster, members, bound_ms, |i| async move {
        let info = cluster_info(cluster, i).await?;
        match field(&info, "cluster_state") {
            "ok" => Ok(()),
            state => Err(format!("cluster_state:{state}")),
        }
    })
    .await;
    step(ViolationKind::ClusterNotOk, waited)
}

/// Waits until the members agree: equal join signatures (redis-cli's test) and the same role
/// and master for every node they know.
pub(crate) async fn wait_agreement(
    cluster: &SimCluster,
    members: &[usize],
) -> Result<(), Violation> {
    let mut last = Vec::new();
    for _ in 0..AGREE_BOUND_MS / probe::POLL_MS {
        last.clear();
        for &i in members {
            let text = fetch_view(cluster, i)
                .await
                .map(|(t, _)| t)
                .unwrap_or_default();
            last.push((admin::join_signature(&text), roles(&text)));
        }
        let signatures: Vec<Option<String>> = last.iter().map(|l| l.0.clone()).collect();
        if admin::signatures_agree(&signatures) && last.iter().all(|l| l.1 == last[0].1) {
            return Ok(());
        }
        madsim::time::sleep(Duration::from_millis(probe::POLL_MS)).await;
    }
    Err(Violation::new(
        ViolationKind::ViewsDisagree,
        format!("after {AGREE_BOUND_MS} ms: {last:?}"),
    ))
}

/// `id role master` of every line of a `CLUSTER NODES` text, sorted (`myself` dropped).
fn roles(text: &str) -> Vec<String> {
    let mut roles: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let flags: Vec<&str> = fields
                .get(2)?
                .split(',')
                .filter(|f| *f != "myself")
                .collect();
            Some(format!(
                "{} {} {}",
                fields[0],
                flags.join(","),
                fields.get(3)?
            ))
        })
        .collect();
    roles.sort();
    roles
}
