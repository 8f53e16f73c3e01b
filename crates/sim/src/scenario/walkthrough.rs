//! `walkthrough`: the tutorial's first steps. A write before any slot is assigned fails with
//! `CLUSTERDOWN Hash slot not served`, `--cluster create` forms the cluster, every node reports
//! `cluster_state:ok`, `SET key value` is redirected to the owner of slot 12539, `GET key` from
//! every node reaches the value. Then, with no fault injected, two node timeouts of quiet must
//! leave every ping answered and no peer flagged failing; finally every node's `CLUSTER NODES`
//! is collected and the views must agree on all 16384 slots.

use std::time::Duration;

use clusterlab_core::Reply;
use clusterlab_net::clock::unix_now_ms;

use super::{fetch_view, finish, slot_owner_addr, wait_cluster_ok, Scenario};
use crate::client::{describe_reply, info_field, Redirect};
use crate::cluster::SimCluster;
use crate::invariants::{no_failing_flags, no_stale_pings};
use crate::report::{RunReport, Violation, ViolationKind};
use crate::seeds::SimConfig;

/// The scenario's name in [`super::SCENARIOS`] and seed files.
pub const NAME: &str = "walkthrough";

/// The key the tutorial writes.
pub const TUTORIAL_KEY: &str = "key";
/// [`TUTORIAL_KEY`]'s hash slot (served by the third master, as in the tutorial).
pub const TUTORIAL_KEY_SLOT: u16 = 12539;

/// The registry's handle on this scenario.
pub struct Walkthrough;

impl Scenario for Walkthrough {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "the tutorial's first steps (create, redirects, reads) on a healthy cluster"
    }

    fn run(&self, seed: u64, config: &SimConfig) -> RunReport {
        walkthrough_with(seed, config)
    }
}

/// The walkthrough on the tutorial's cluster (3 masters, node timeout 5000 ms).
pub fn walkthrough(seed: u64) -> RunReport {
    walkthrough_with(seed, &SimConfig::default())
}

/// The walkthrough on a cluster of the given shape, in a fresh runtime.
pub fn walkthrough_with(seed: u64, config: &SimConfig) -> RunReport {
    crate::runner::in_runtime(seed, walkthrough_in(seed, config.clone()))
}

/// The walkthrough inside the current runtime, seeded by it (for `#[madsim::test]` and
/// `Runtime::check_determinism`).
pub async fn walkthrough_current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    walkthrough_in(seed, SimConfig::default()).await
}

async fn walkthrough_in(seed: u64, config: SimConfig) -> RunReport {
    let cluster = SimCluster::builder().config(config).seed(seed).build();
    let mut violations = Vec::new();
    walkthrough_steps(&cluster, &mut violations).await;
    finish(&cluster, NAME, violations).await
}

async fn walkthrough_steps(cluster: &SimCluster, violations: &mut Vec<Violation>) {
    if let Err(e) = cluster.wait_listening().await {
        violations.push(Violation::new(
            ViolationKind::NodeNotListening,
            e.to_string(),
        ));
        return;
    }
    check_unserved_slot(cluster, violations).await;
    if let Err(e) = cluster.create().await {
        violations.push(Violation::new(ViolationKind::CreateFailed, e));
        return;
    }
    if !wait_cluster_ok(cluster, violations).await {
        return;
    }
    let Some(owner_addr) = slot_owner_addr(cluster, 0, TUTORIAL_KEY_SLOT, violations).await else {
        return;
    };
    check_set_redirect(cluster, &owner_addr, violations).await;
    check_get_everywhere(cluster, &owner_addr, violations).await;
    check_stays_healthy(cluster, violations).await;
}

/// Before `create`, no slot has an owner: a keyed write must say so.
async fn check_unserved_slot(cluster: &SimCluster, violations: &mut Vec<Violation>) {
    let want = Reply::error("CLUSTERDOWN Hash slot not served");
    match cluster.command(0, &["SET", "foo", "bar"]).await {
        Ok(reply) if reply == want => {}
        Ok(reply) => violations.push(Violation::new(
            ViolationKind::UnservedSlotReply,
            format!("SET foo bar before create: {}", describe_reply(&reply)),
        )),
        Err(e) => violations.push(Violation::new(
            ViolationKind::ClientIo,
            format!("SET foo bar: {e}"),
        )),
    }
}

/// `SET key value` from node 1 lands on the slot owner: one `MOVED 12539 <owner>` unless node 1
/// is the owner, then `+OK`.
async fn check_set_redirect(cluster: &SimCluster, owner: &str, violations: &mut Vec<Violation>) {
    let entry = cluster.node(0).addr();
    let routed = cluster
        .on_client({
            let mut client = cluster.client(0);
            async move {
                client
                    .command(&[b"SET", TUTORIAL_KEY.as_bytes(), b"value"])
                    .await
            }
        })
        .await;
    let routed = match routed {
        Ok(r) => r,
        Err(e) => {
            violations.push(Violation::new(
                ViolationKind::ClientIo,
                format!("SET key value: {e}"),
            ));
            return;
        }
    };
    let want_redirects = if entry == owner {
        vec![]
    } else {
        vec![Redirect::Moved {
            slot: TUTORIAL_KEY_SLOT,
            addr: owner.to_string(),
        }]
    };
    if routed.reply != Reply::ok() || routed.redirects() != want_redirects {
        violations.push(Violation::new(
            ViolationKind::SetRedirect,
            format!(
                "SET key value from {entry}: hops {:?}, want {want_redirects:?} then +OK",
                routed.hops
            ),
        ));
    }
}

/// `GET key` starting from every node returns `"value"`, redirected at most once, to the owner.
async fn check_get_everywhere(cluster: &SimCluster, owner: &str, violations: &mut Vec<Violation>) {
    for index in 0..cluster.len() {
        let routed = cluster
            .on_client({
                let mut client = cluster.client(index);
                async move { client.command(&[b"GET", TUTORIAL_KEY.as_bytes()]).await }
            })
            .await;
        let name = &cluster.node(index).name;
        match routed {
            Ok(r)
                if r.reply == Reply::bulk_str("value")
                    && r.hops.len() <= 2
                    && r.hops.last().is_some_and(|h| h.addr == owner) => {}
            Ok(r) => violations.push(Violation::new(
                ViolationKind::GetMismatch,
                format!("GET key from {name}: hops {:?}", r.hops),
            )),
            Err(e) => violations.push(Violation::new(
                ViolationKind::ClientIo,
                format!("GET key from {name}: {e}"),
            )),
        }
    }
}

/// With no fault injected, a formed cluster stays formed: after two node timeouts of quiet, no
/// node has a ping pending for longer than the node timeout (a lost PONG), none flags a peer
/// `fail?`/`fail`, and every node still says `cluster_state:ok`.
async fn check_stays_healthy(cluster: &SimCluster, violations: &mut Vec<Violation>) {
    let quiet_ms = 2 * cluster.config().node_timeout_ms;
    cluster
        .trace()
        .record("harness", format!("quiet for {quiet_ms} ms"));
    madsim::time::sleep(Duration::from_millis(quiet_ms)).await;
    for index in 0..cluster.len() {
        let name = &cluster.node(index).name;
        match fetch_view(cluster, index).await {
            Ok((_, lines)) => {
                violations.extend(no_failing_flags(name, &lines));
                violations.extend(no_stale_pings(
                    name,
                    &lines,
                    unix_now_ms(),
                    cluster.config().node_timeout_ms,
                ));
            }
            Err(e) => violations.push(Violation::new(
                ViolationKind::ClusterNodesUnreadable,
                format!("{name}: {e}"),
            )),
        }
        match cluster.command(index, &["CLUSTER", "INFO"]).await {
            Ok(reply) => {
                let state = info_field(&reply, "cluster_state");
                if state.as_deref() != Some("ok") {
                    violations.push(Violation::new(
                        ViolationKind::ClusterNotOk,
                        format!("{name} after {quiet_ms} ms of quiet: cluster_state {state:?}"),
                    ));
                }
            }
            Err(e) => violations.push(Violation::new(
                ViolationKind::ClientIo,
                format!("CLUSTER INFO on {name}: {e}"),
            )),
        }
    }
}
