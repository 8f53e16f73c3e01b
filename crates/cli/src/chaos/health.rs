//! Whether the chaos cluster is healthy: every node answers and says `cluster_state:ok`, and
//! `redis-cli --cluster check`'s verdict (our `admin::check`) holds — the nodes agree on the
//! slots, none is open, all 16384 are covered. The driver waits for this before each fault
//! and at the end. Every call is bounded: a paused node must not hang the driver.

use std::time::{Duration, Instant};

use clusterlab_net::admin;

/// How long one node gets to answer `CLUSTER INFO`.
const INFO_TIMEOUT_MS: u64 = 1_000;
/// How long the whole `check` (a `CLUSTER NODES` per node) may take.
const CHECK_TIMEOUT_MS: u64 = 5_000;
const POLL_MS: u64 = 250;

/// `Ok` if the cluster of `addrs` is healthy now, else what is wrong.
pub async fn health(addrs: &[String]) -> Result<(), String> {
    for addr in addrs {
        let info = tokio::time::timeout(
            Duration::from_millis(INFO_TIMEOUT_MS),
            admin::cluster_info(addr),
        )
        .await
        .map_err(|_| format!("{addr} does not answer"))?
        .map_err(|e| format!("{addr}: {e}"))?;
        if admin::info_field(&info, "cluster_state") != Some("ok") {
            return Err(format!("{addr} says cluster_state is not ok"));
        }
    }
    let entry = addrs.first().ok_or("no nodes")?;
    let report = tokio::time::timeout(Duration::from_millis(CHECK_TIMEOUT_MS), admin::check(entry))
        .await
        .map_err(|_| "the check timed out".to_string())?
        .map_err(|e| format!("check: {e}"))?;
    if !report.agree {
        return Err("the nodes do not agree on the slots".into());
    }
    if !report.open_slots.is_empty() || !report.uncovered.is_empty() {
        return Err(format!(
            "{} open slots, {} slots not covered",
            report.open_slots.len(),
            report.uncovered.len()
        ));
    }
    if !report.unreachable.is_empty() {
        return Err(format!("unreachable: {}", report.unreachable.join(", ")));
    }
    Ok(())
}

/// Polls [`health`] until it holds or `limit_ms` passed; returns the last answer.
pub async fn wait_healthy(addrs: &[String], limit_ms: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_millis(limit_ms);
    loop {
        let answer = health(addrs).await;
        if answer.is_ok() || Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}
