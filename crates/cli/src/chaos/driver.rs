//! Applies a chaos schedule to the processes `up` started: each step at its time (signals to
//! the node's PID, a restart from its config and data, `CLUSTER FAILOVER`, a reshard through
//! `net::admin`), printed with a timestamp as it happens. A fault first waits, bounded, for the
//! cluster to be healthy, and later steps shift by that wait, so every fault strikes a cluster
//! that had recovered from the previous one, as the schedule was drawn. When the duration is
//! up, faults not yet begun are skipped (heals still run); then the cluster gets a bounded time
//! to be healthy, and the verdict is printed and returned.

use std::time::{Duration, Instant};

use clusterlab_core::Reply;
use clusterlab_net::admin::{self, ClusterNode, ReshardOptions, Sources, Topology};
use clusterlab_net::client::Connection;

use super::health::wait_healthy;
use super::schedule::{Action, ChaosSchedule};
use super::timestamp::now_utc;
use crate::up_nodes::Nodes;

/// How long a fault waits for the cluster to be healthy before it strikes anyway.
const SETTLE_LIMIT_MS: u64 = 20_000;
/// How long the cluster gets after the last step to be healthy again.
const FINAL_HEALTH_LIMIT_MS: u64 = 30_000;
/// How long a manual failover may take to show the replica as a master.
const FAILOVER_LIMIT_MS: u64 = 10_000;
/// A reshard step's `MIGRATE` timeout, and the bound on the whole step.
const MIGRATE_TIMEOUT_MS: u64 = 5_000;
const RESHARD_LIMIT_MS: u64 = 30_000;
/// The bound on one admin request (a paused node must not hang the driver).
const REQUEST_TIMEOUT_MS: u64 = 2_000;
const POLL_MS: u64 = 100;

/// Applies `schedule` to `nodes`; true if the cluster ended healthy.
pub async fn run(nodes: &mut Nodes, schedule: &ChaosSchedule) -> bool {
    let start = Instant::now();
    let shape = schedule.shape;
    assert_eq!(
        shape.node_count(),
        nodes.children.len(),
        "schedule and cluster agree"
    );
    let addrs = nodes.addrs();
    say(
        start,
        &format!(
            "chaos: seed {}, {} steps over {} s on {} ({} masters, {} replicas each, node timeout {} ms)",
            schedule.seed,
            schedule.steps.len(),
            shape.duration_ms / 1000,
            nodes.kind().name(),
            shape.masters,
            shape.replicas,
            shape.node_timeout_ms
        ),
    );
    let mut lag_ms = 0;
    let total = schedule.steps.len();
    // A fault skipped for lack of time takes its heal (the next step) with it.
    let mut skipped = false;
    for (i, step) in schedule.steps.iter().enumerate() {
        let strikes = !step.action.is_heal();
        if !strikes && skipped {
            say(
                start,
                &format!(
                    "step {}/{total}: skipped with its fault: {:?}",
                    i + 1,
                    step.action
                ),
            );
            continue;
        }
        skipped = strikes && elapsed_ms(start) >= shape.duration_ms;
        if skipped {
            say(
                start,
                &format!(
                    "step {}/{total}: skipped, time is up: {:?}",
                    i + 1,
                    step.action
                ),
            );
            continue;
        }
        sleep_until(start, step.at_ms + lag_ms).await;
        if strikes {
            let waited = Instant::now();
            if let Err(why) = wait_healthy(&addrs, SETTLE_LIMIT_MS).await {
                say(
                    start,
                    &format!("cluster not healthy ({why}); striking anyway"),
                );
            }
            lag_ms += waited.elapsed().as_millis() as u64;
        }
        let stamp = now_utc();
        let began = elapsed_ms(start);
        let text = match apply(nodes, &step.action).await {
            Ok(text) => text,
            Err(e) => format!("{:?} failed: {e}", step.action),
        };
        println!(
            "[{stamp} +{:.3}s] chaos step {}/{total}: {text}",
            began as f64 / 1000.0,
            i + 1
        );
    }
    sleep_until(start, shape.duration_ms).await;
    say(
        start,
        "chaos: schedule done; waiting for the cluster to be healthy",
    );
    match wait_healthy(&addrs, FINAL_HEALTH_LIMIT_MS).await {
        Ok(()) => {
            say(
                start,
                "chaos: done, cluster healthy (state ok everywhere, slots agreed and covered)",
            );
            true
        }
        Err(why) => {
            say(start, &format!("chaos: done, cluster NOT healthy: {why}"));
            false
        }
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

async fn sleep_until(start: Instant, at_ms: u64) {
    tokio::time::sleep_until((start + Duration::from_millis(at_ms)).into()).await;
}

/// Prints one line with the wall-clock time and the time since the chaos began.
fn say(start: Instant, text: &str) {
    println!(
        "[{} +{:.3}s] {text}",
        now_utc(),
        start.elapsed().as_secs_f64()
    );
}

/// Does one step; says what was done.
async fn apply(nodes: &mut Nodes, action: &Action) -> Result<String, String> {
    match *action {
        Action::Kill { node } => {
            let role = role_of(&nodes.addr(node)).await;
            let pid = nodes.kill9(node)?;
            Ok(format!(
                "kill -9 {} (node {node}, {role}, pid {pid})",
                nodes.addr(node)
            ))
        }
        Action::Restart { node } => {
            let pid = nodes.restart(node)?;
            Ok(format!(
                "restart {} (node {node}, pid {pid})",
                nodes.addr(node)
            ))
        }
        Action::Pause { node } => {
            let role = role_of(&nodes.addr(node)).await;
            let pid = nodes.pause(node)?;
            Ok(format!(
                "SIGSTOP {} (node {node}, {role}, pid {pid})",
                nodes.addr(node)
            ))
        }
        Action::Resume { node } => {
            let pid = nodes.resume(node)?;
            Ok(format!(
                "SIGCONT {} (node {node}, pid {pid})",
                nodes.addr(node)
            ))
        }
        Action::Failover { node } => failover(&nodes.addrs(), node).await,
        Action::Reshard {
            from_master,
            to_master,
            slots,
        } => reshard(&nodes.addrs(), from_master, to_master, slots).await,
    }
}

/// `master`, `replica` or `?`, from the node's own `CLUSTER NODES`.
async fn role_of(addr: &str) -> &'static str {
    let nodes = within(REQUEST_TIMEOUT_MS, admin::cluster_nodes(addr)).await;
    let Ok(text) = nodes else { return "?" };
    let flags = text
        .lines()
        .filter_map(|l| l.split(' ').nth(2))
        .find(|flags| flags.split(',').any(|f| f == "myself"))
        .unwrap_or("");
    if flags.split(',').any(|f| f == "master") {
        "master"
    } else if flags.split(',').any(|f| f == "slave") {
        "replica"
    } else {
        "?"
    }
}

async fn within<T, E: std::fmt::Display>(
    limit_ms: u64,
    future: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(Duration::from_millis(limit_ms), future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {limit_ms} ms")),
    }
}

/// The cluster as the first node that answers describes it.
async fn load_any(addrs: &[String]) -> Result<Topology, String> {
    let mut last = String::from("no nodes");
    for addr in addrs {
        match within(RESHARD_LIMIT_MS, admin::load(addr)).await {
            Ok(topology) => return Ok(topology),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

fn port_of(node: &ClusterNode) -> u16 {
    node.addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// `CLUSTER FAILOVER` on `node` if it is a replica, else on its replica with the lowest port;
/// waits until the replica says it is a master.
async fn failover(addrs: &[String], node: usize) -> Result<String, String> {
    let topology = load_any(addrs).await?;
    let addr = &addrs[node];
    let named = topology
        .nodes
        .iter()
        .find(|n| &n.addr == addr)
        .ok_or_else(|| format!("{addr} is not reachable"))?;
    let replica = if named.is_master() {
        let mut replicas: Vec<&ClusterNode> = topology
            .replicas_of(&named.id)
            .into_iter()
            .map(|i| &topology.nodes[i])
            .collect();
        replicas.sort_by_key(|n| port_of(n));
        *replicas
            .first()
            .ok_or_else(|| format!("master {addr} has no replica to fail over to"))?
    } else {
        named
    };
    let began = Instant::now();
    let mut conn = within(REQUEST_TIMEOUT_MS, Connection::connect(&replica.addr)).await?;
    let reply = within(
        REQUEST_TIMEOUT_MS,
        conn.command_str(&["CLUSTER", "FAILOVER"]),
    )
    .await?;
    if reply != Reply::Simple("OK".into()) {
        return Err(format!("CLUSTER FAILOVER on {}: {reply:?}", replica.addr));
    }
    let deadline = began + Duration::from_millis(FAILOVER_LIMIT_MS);
    while role_of(&replica.addr).await != "master" {
        if Instant::now() >= deadline {
            return Err(format!(
                "CLUSTER FAILOVER on {}: still not a master after {FAILOVER_LIMIT_MS} ms",
                replica.addr
            ));
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
    Ok(format!(
        "CLUSTER FAILOVER on {} (node {node} named; replica of {}): master after {} ms",
        replica.addr,
        replica
            .master_id
            .as_deref()
            .map_or("?", |id| &id[..id.len().min(8)]),
        began.elapsed().as_millis()
    ))
}

/// Moves `slots` slots from one master to another (positions among the masters that own
/// slots, by port, modulo their number) with `admin::reshard`.
async fn reshard(
    addrs: &[String],
    from_master: usize,
    to_master: usize,
    slots: u16,
) -> Result<String, String> {
    let topology = load_any(addrs).await?;
    let mut masters: Vec<&ClusterNode> = topology
        .masters()
        .into_iter()
        .map(|i| &topology.nodes[i])
        .filter(|n| !n.slots.is_empty())
        .collect();
    masters.sort_by_key(|n| port_of(n));
    if masters.len() < 2 {
        return Err("fewer than two masters own slots".into());
    }
    let from = masters[from_master % masters.len()];
    let to = masters[to_master % masters.len()];
    if from.id == to.id {
        return Err(format!("both ends are {}", from.addr));
    }
    let options = ReshardOptions {
        timeout_ms: MIGRATE_TIMEOUT_MS,
        ..ReshardOptions::default()
    };
    let began = Instant::now();
    let report = within(
        RESHARD_LIMIT_MS,
        admin::reshard(
            &to.addr,
            Sources::Ids(vec![from.id.clone()]),
            &to.id,
            usize::from(slots),
            options,
        ),
    )
    .await?;
    let moved: Vec<String> = report.moves.iter().map(|m| m.slot.to_string()).collect();
    Ok(format!(
        "reshard {} slots ({} keys) from {} to {} in {} ms: slots {}",
        report.moves.len(),
        report.keys(),
        from.addr,
        to.addr,
        began.elapsed().as_millis(),
        moved.join(",")
    ))
}
