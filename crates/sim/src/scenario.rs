//! Scenarios: seeded runs of a [`SimCluster`] that check named expectations and end in a
//! [`RunReport`].
//!
//! `walkthrough` replays the tutorial's first steps: a write before any slot is assigned fails
//! with `CLUSTERDOWN Hash slot not served`, `--cluster create` forms the cluster, every node
//! reports `cluster_state:ok`, `SET key value` is redirected to the owner of slot 12539,
//! `GET key` from every node reaches the value. Then, with no fault injected, two node timeouts
//! of quiet must leave every ping answered and no peer flagged failing; finally every node's
//! `CLUSTER NODES` is collected and the views must agree on all 16384 slots.

use std::future::Future;
use std::time::Duration;

use madsim::runtime::Runtime;

use clusterlab_core::config::AppendFsync;
use clusterlab_core::Reply;
use clusterlab_net::clock::unix_now_ms;

use crate::client::{describe_reply, info_field, reply_text, Redirect};
use crate::cluster::SimCluster;
use crate::invariants::{no_failing_flags, no_stale_pings, views_agree};
use crate::report::{RunReport, Violation};
use crate::seeds::SimConfig;
use crate::trace::Event;
use crate::view::{parse_cluster_nodes, slot_owners, NodeLine};

pub mod crash;
pub mod durability;
pub mod failover;
pub mod partition;
mod probe;
pub mod reshard;
pub mod tutorial;

/// Scenario names accepted by [`run`].
pub const SCENARIOS: &[&str] = &[
    "walkthrough",
    "campaign",
    "crash",
    "partition",
    "durability",
    "durability-everysec",
    failover::NAME,
    reshard::NAME,
    tutorial::NAME,
];

/// The key the tutorial writes, and its slot.
pub const TUTORIAL_KEY: &str = "key";
pub const TUTORIAL_KEY_SLOT: u16 = 12539;

/// Virtual-time bound for `cluster_state:ok` on every node after create.
pub const CLUSTER_OK_TIMEOUT_MS: u64 = 30_000;

/// A backstop far beyond any scenario's own bounds: madsim panics past it instead of looping.
const RUN_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// Runs scenario `name` with `seed` in a fresh madsim runtime. Unknown names are an error.
pub fn run(name: &str, seed: u64, config: &SimConfig) -> Result<RunReport, String> {
    match name {
        "walkthrough" => Ok(walkthrough_with(seed, config)),
        "campaign" => Ok(crate::campaign::run(seed, config, None)),
        "crash" => Ok(crash::run(seed, config).report),
        "partition" => Ok(partition::run(seed, config).report),
        "durability" => Ok(durability::run(seed, config, AppendFsync::Always).report),
        "durability-everysec" => Ok(durability::run(seed, config, AppendFsync::Everysec).report),
        failover::NAME => Ok(failover::run(seed, config, None).report),
        reshard::NAME => Ok(reshard::run(seed, config).report),
        tutorial::NAME => Ok(tutorial::run(seed, config).report),
        _ => Err(format!(
            "unknown scenario {name:?}; known: {}",
            SCENARIOS.join(", ")
        )),
    }
}

/// Replays a seed file: its scenario, seed and config, and its explicit fault schedule if it
/// has one (only scenarios that inject faults from a schedule accept one).
pub fn run_record(record: &crate::seeds::SeedRecord) -> Result<RunReport, String> {
    match (&record.schedule, record.scenario.as_str()) {
        (None, name) => run(name, record.seed, &record.config),
        (Some(schedule), crate::campaign::NAME) => Ok(crate::campaign::run(
            record.seed,
            &record.config,
            Some(schedule.clone()),
        )),
        (Some(schedule), failover::NAME) => {
            Ok(failover::run(record.seed, &record.config, Some(schedule.clone())).report)
        }
        (Some(_), name) => Err(format!("scenario {name:?} takes no fault schedule")),
    }
}

/// The walkthrough on the tutorial's cluster (3 masters, node timeout 5000 ms).
pub fn walkthrough(seed: u64) -> RunReport {
    walkthrough_with(seed, &SimConfig::default())
}

/// The walkthrough on a cluster of the given shape, in a fresh runtime.
pub fn walkthrough_with(seed: u64, config: &SimConfig) -> RunReport {
    let config = config.clone();
    in_runtime(seed, move || walkthrough_in(seed, config))
}

/// The walkthrough inside the current runtime, seeded by it (for `#[madsim::test]` and
/// `Runtime::check_determinism`).
pub async fn walkthrough_current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    walkthrough_in(seed, SimConfig::default()).await
}

fn in_runtime<F, Fut>(seed: u64, scenario: F) -> RunReport
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = RunReport>,
{
    let mut runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.set_time_limit(RUN_TIME_LIMIT);
    runtime.block_on(scenario())
}

async fn walkthrough_in(seed: u64, config: SimConfig) -> RunReport {
    let cluster = SimCluster::builder().config(config).seed(seed).build();
    let mut violations = Vec::new();
    walkthrough_steps(&cluster, &mut violations).await;
    finish(&cluster, "walkthrough", violations).await
}

async fn walkthrough_steps(cluster: &SimCluster, violations: &mut Vec<Violation>) {
    if let Err(e) = cluster.wait_listening().await {
        violations.push(Violation::new("node_not_listening", e.to_string()));
        return;
    }
    check_unserved_slot(cluster, violations).await;
    if let Err(e) = cluster.create().await {
        violations.push(Violation::new("create_failed", e));
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
            "unserved_slot_reply",
            format!("SET foo bar before create: {}", describe_reply(&reply)),
        )),
        Err(e) => violations.push(Violation::new("client_io", format!("SET foo bar: {e}"))),
    }
}

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
            "config_unsupported",
            format!("{scenario} expects masters without replicas (a replica would fail over)"),
        ));
        return false;
    }
    if let Err(e) = cluster.wait_listening().await {
        violations.push(Violation::new("node_not_listening", e.to_string()));
        return false;
    }
    if let Err(e) = cluster.create().await {
        violations.push(Violation::new("create_failed", e));
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
                "cluster_not_ok",
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
        violations.push(Violation::new("slot_owner_unknown", evidence));
    }
    owner
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
            violations.push(Violation::new("client_io", format!("SET key value: {e}")));
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
            "set_redirect",
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
                "get_mismatch",
                format!("GET key from {name}: hops {:?}", r.hops),
            )),
            Err(e) => violations.push(Violation::new(
                "client_io",
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
                "cluster_nodes_unreadable",
                format!("{name}: {e}"),
            )),
        }
        match cluster.command(index, &["CLUSTER", "INFO"]).await {
            Ok(reply) => {
                let state = info_field(&reply, "cluster_state");
                if state.as_deref() != Some("ok") {
                    violations.push(Violation::new(
                        "cluster_not_ok",
                        format!("{name} after {quiet_ms} ms of quiet: cluster_state {state:?}"),
                    ));
                }
            }
            Err(e) => violations.push(Violation::new(
                "client_io",
                format!("CLUSTER INFO on {name}: {e}"),
            )),
        }
    }
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
                    "cluster_nodes_unreadable",
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
    violations: Vec<Violation>,
    cluster_nodes: Vec<(String, String)>,
) -> RunReport {
    for v in &violations {
        cluster
            .trace()
            .record("harness", Event::Violation(v.clone()));
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
        Err(Violation::new("write_refused", failures.join("; ")))
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
            Err(e) => violations.push(Violation::new("read_failed", format!("GET {key}: {e}"))),
        }
    }
    reads
}
