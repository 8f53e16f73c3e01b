//! The planned failover at the end of a campaign run: once the healed cluster has settled, the
//! operator sends `CLUSTER FAILOVER` (default mode) to one replica, drawn from the seed, as for
//! maintenance, while a client keeps appending to a key of that shard (plain `APPEND`s and
//! `APPEND`s inside `EVAL`, in turn); then it waits for the
//! cluster to be whole again before the final reads.
//!
//! In a quiet cluster Redis finishes a manual failover within a few cron ticks and loses no
//! acknowledged write (the master holds its clients until the replica has its whole stream),
//! so `manual_failover_unfinished` judges the failover and the key's final value must hold
//! every acknowledged append, once each, on every seed with replicas. The schedule's own
//! manual failovers mostly land among other faults, where neither can be demanded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clusterlab_core::cluster::failover::MANUAL_FAILOVER_TIMEOUT_MS;
use clusterlab_core::reply::Reply;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::ClusterEvent;

use crate::append::op::scripted_args;
use crate::client::ClusterClient;
use crate::cluster::mix64;
use crate::faults::{FailoverMode, Fault};
use crate::invariants::identical_ownership;
use crate::report::{Violation, ViolationKind};
use crate::runner::poll::{node_names, nodes_texts, now_ms, poll_all, views_of, whole};
use crate::runner::{liveness_bound_ms, Run, LIVENESS_POLL_MS};
use crate::trace::{Event, FaultEvent};
use crate::view::NodeLine;

/// Salt for the seed's draw of the replica (any constant: it only has to differ from other
/// draws of the same seed).
const PICK_SALT: u64 = 0x0070_6c61_6e6e_6564;

/// Runs the planned failover on a settled run whose last poll saw `views`.
pub(super) async fn planned_failover(run: &mut Run<'_>, views: &[(String, Vec<NodeLine>)]) {
    let addrs = run.cluster.addrs();
    // A view that agrees with the others only up to a phantom claim (a master others credit
    // with a slot it does not claim itself: redis/redis#3776, which 7.0 never settles) turns
    // into an unserved slot when the failover demotes the master that view names instead
    // (seed 3200295): no coordinated failover can be demanded of such a cluster.
    if !identical_ownership(views, addrs.len()) {
        run.record(
            "planned failover skipped: the views agree only up to a phantom claim".to_string(),
        );
        return;
    }
    let candidates: Vec<usize> = views
        .first()
        .map(|(_, lines)| replicas_of_serving_masters(lines))
        .unwrap_or_default()
        .iter()
        .filter_map(|addr| addrs.iter().position(|a| a == addr))
        .collect();
    if candidates.is_empty() {
        return;
    }
    let pick = mix64(run.cluster.seed() ^ PICK_SALT) % candidates.len() as u64;
    let node = candidates[pick as usize];
    let Some(key) = views
        .first()
        .and_then(|(_, l)| key_of_master_of(l, &addrs[node]))
    else {
        return;
    };
    wait_quiet(run).await;
    let writer = Writer::start(run, &key).await;
    let mut whole_again = true;
    for _ in 0..ATTEMPTS {
        if ask_failover(run, node).await {
            whole_again = wait_whole_again(run, node).await;
            break;
        }
        madsim::time::sleep(Duration::from_millis(RETRY_MS)).await;
    }
    let acked = writer.stop().await;
    if whole_again {
        check_appends(run, &key, &acked).await;
    }
}

/// A key (`planned:N`) in a slot the master of the replica at `replica_addr` serves.
fn key_of_master_of(lines: &[NodeLine], replica_addr: &str) -> Option<String> {
    let master_id = lines
        .iter()
        .find(|l| l.addr == replica_addr)?
        .master
        .clone()?;
    let master = lines.iter().find(|l| l.id == master_id)?;
    let serves = |slot: u16| master.slots.iter().any(|&(a, b)| a <= slot && slot <= b);
    (0..100_000u32)
        .map(|n| format!("planned:{n}"))
        .find(|key| serves(key_hash_slot(key.as_bytes())))
}

/// The client appending `p0;`, `p1;`, … to the key while the failover runs.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: madsim::task::JoinHandle<Vec<String>>,
}

impl Writer {
    /// Starts appending from the client machine, and lets a few appends land before the
    /// failover is asked for.
    async fn start(run: &Run<'_>, key: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, key) = (stop.clone(), key.to_string());
        let entry = run.cluster.addrs()[0].clone();
        let trace = run.cluster.trace().clone();
        let appends = async move {
            let mut client = ClusterClient::new("planned", entry, trace);
            let mut acked = Vec::new();
            for n in 0..MAX_APPENDS {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let token = format!("p{n};");
                let args = append_args(n, &key, &token);
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                if let Ok(routed) = client.command(&refs).await {
                    if matches!(routed.reply, Reply::Integer(_)) {
                        acked.push(token);
                    }
                }
                madsim::time::sleep(Duration::from_millis(APPEND_EVERY_MS)).await;
            }
            acked
        };
        #[allow(clippy::async_yields_async)]
        let handle = run
            .cluster
            .on_client(async move { madsim::task::spawn(appends) })
            .await;
        madsim::time::sleep(Duration::from_millis(20 * APPEND_EVERY_MS)).await;
        Writer { stop, handle }
    }

    /// Stops after a few more appends; the tokens acknowledged.
    async fn stop(self) -> Vec<String> {
        madsim::time::sleep(Duration::from_millis(20 * APPEND_EVERY_MS)).await;
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.unwrap_or_default()
    }
}

/// Every other append runs inside a script: the master must hold scripts as it holds
/// writes while its replica catches up (Redis's pause covers commands that may replicate).
fn scripted(n: usize) -> bool {
    !n.is_multiple_of(2)
}

fn append_args(n: usize, key: &str, token: &str) -> Vec<String> {
    if scripted(n) {
        return scripted_args("APPEND", key, token);
    }
    ["APPEND", key, token].map(String::from).to_vec()
}

/// How the append of `token` (`p<n>;`) was sent, as [`append_args`] chose.
fn sent_as(token: &str) -> &'static str {
    let n: usize = token
        .trim_start_matches('p')
        .trim_end_matches(';')
        .parse()
        .unwrap_or(0);
    if scripted(n) {
        "EVAL-wrapped APPEND"
    } else {
        "APPEND"
    }
}

/// At most this many appends (the writer stops earlier, once the failover is over).
const MAX_APPENDS: usize = 2000;
const APPEND_EVERY_MS: u64 = 10;

/// Reads the key back: every acknowledged append must be in it, once.
async fn check_appends(run: &mut Run<'_>, key: &str, acked: &[String]) {
    let entry = run.cluster.addrs()[0].clone();
    let trace = run.cluster.trace().clone();
    let key_owned = key.to_string();
    let read = run
        .cluster
        .on_client(async move {
            let mut client = ClusterClient::new("planned", entry, trace);
            client.command(&[b"GET", key_owned.as_bytes()]).await
        })
        .await;
    let value = match read.map(|r| r.reply) {
        Ok(Reply::Bulk(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(Reply::Nil) => String::new(),
        other => {
            let why = format!("GET {key} after the planned CLUSTER FAILOVER: {other:?}");
            run.violations
                .push(Violation::new(ViolationKind::ClusterNotWhole, why));
            return;
        }
    };
    let tokens: Vec<&str> = value.split_inclusive(';').collect();
    let count = |t: &String| tokens.iter().filter(|v| **v == t.as_str()).count();
    let mut missing: Vec<&String> = acked.iter().filter(|t| count(t) == 0).collect();
    if evicted_before_its_survivors(run, key, acked, &missing) {
        missing.clear();
    }
    let repeated: Vec<&String> = acked.iter().filter(|t| count(t) > 1).collect();
    for (found, kind, what) in [
        (missing, ViolationKind::AckedWriteLost, "missing from"),
        (
            repeated,
            ViolationKind::AppendDuplicated,
            "more than once in",
        ),
    ] {
        let Some(first) = found.first() else {
            continue;
        };
        run.violations.push(Violation::new(
            kind,
            format!(
                "{} {key} {first} acknowledged during the planned CLUSTER FAILOVER (no \
                 fault: a coordinated failover loses nothing) is {what} the value read after \
                 it ({} of {} acknowledged appends): {value:?}",
                sent_as(first),
                found.len(),
                acked.len()
            ),
        ));
    }
}

/// Whether a node evicted `key` for `maxmemory` (a `KeyEvicted` event) and every `missing`
/// append came before every one the value kept: an evicted key starts again empty, so it
/// holds the appends since its last eviction and loses the ones before.
fn evicted_before_its_survivors(
    run: &Run<'_>,
    key: &str,
    acked: &[String],
    missing: &[&String],
) -> bool {
    let evicted = run.cluster.trace().events().iter().any(|e| {
        matches!(e.event.cluster(),
            Some(clusterlab_core::ClusterEvent::KeyEvicted { key: k, .. }) if k.as_ref() == key.as_bytes())
    });
    let position = |t: &String| acked.iter().position(|a| a == t);
    let last_missing = missing.iter().filter_map(|t| position(t)).max();
    let first_kept = acked.iter().position(|t| !missing.contains(&t));
    evicted && last_missing.zip(first_kept).is_none_or(|(m, k)| m < k)
}

/// How often the operator sends the request when the replica refuses it (its view may still
/// flag the master failed for a moment after the heal: "Master is down or failed"), and how
/// long it waits in between.
const ATTEMPTS: usize = 3;
const RETRY_MS: u64 = 1000;

/// The replicas (by `ip:port`) whose master serves slots, in one node's view.
fn replicas_of_serving_masters(lines: &[NodeLine]) -> Vec<String> {
    let serving = |id: &str| {
        lines
            .iter()
            .any(|l| l.id == id && l.is_master() && !l.slots.is_empty())
    };
    let mut found: Vec<String> = lines
        .iter()
        .filter(|l| l.master.as_deref().is_some_and(serving))
        .map(|l| l.addr.clone())
        .collect();
    found.sort();
    found
}

/// Waits until two node timeouts have passed since the heal and since the last FAIL flag,
/// election or vote, and no node flags any other `fail` or `fail?`: no fault of the schedule
/// is then recent enough to excuse a slow failover (`manual_failover_unfinished` looks back
/// that far), no master still holds back its vote for the shard (Redis refuses a second vote
/// for replicas of one master within two node timeouts), and no replica is about to fail over
/// a live master still flagged FAIL from the faults (Redis clears that flag only two node
/// timeouts after setting it; meanwhile the replica's election is legitimate, and so are the
/// writes the old master loses to it, seed 989547).
async fn wait_quiet(run: &Run<'_>) {
    let (addrs, names) = (run.cluster.addrs(), node_names(run.cluster));
    let bound_ms = liveness_bound_ms(run.shape.node_timeout_ms);
    for _ in 0..bound_ms.div_ceil(LIVENESS_POLL_MS) {
        sleep_past_recent_events(run).await;
        let fetched = poll_all(run.cluster, &addrs, &names).await;
        if views_of(&fetched).len() == addrs.len() && !flags_failure(&fetched) {
            return;
        }
        madsim::time::sleep(Duration::from_millis(LIVENESS_POLL_MS)).await;
    }
}

/// Sleeps until two node timeouts after the last heal, FAIL flag, scheduled or started
/// election, vote or promotion.
async fn sleep_past_recent_events(run: &Run<'_>) {
    let last_us = run
        .cluster
        .trace()
        .last_time_us(|e| {
            matches!(
                e.event,
                Event::Fault(FaultEvent::HealAll)
                    | Event::Cluster(
                        ClusterEvent::FailMarked { .. }
                            | ClusterEvent::ElectionScheduled { .. }
                            | ClusterEvent::ElectionStarted { .. }
                            | ClusterEvent::VoteGranted { .. }
                            | ClusterEvent::Promoted { .. }
                    )
            )
        })
        .unwrap_or(0);
    let quiet_us = last_us + 2 * run.shape.node_timeout_ms * 1000 + 1000;
    let elapsed_us = run.cluster.elapsed().as_micros() as u64;
    if elapsed_us < quiet_us {
        madsim::time::sleep(Duration::from_micros(quiet_us - elapsed_us)).await;
    }
}

/// Whether some node's view flags a node `fail` or `fail?`.
fn flags_failure(fetched: &[(String, Result<crate::runner::poll::Fetched, String>)]) -> bool {
    views_of(fetched).iter().any(|(_, lines)| {
        lines
            .iter()
            .any(|l| l.flags.iter().any(|f| f == "fail" || f == "fail?"))
    })
}

/// Sends `CLUSTER FAILOVER` to `node` from the client machine; the request and an `+OK` go
/// to the trace as the injector's manual failovers do. Whether it answered `+OK`.
async fn ask_failover(run: &Run<'_>, node: usize) -> bool {
    let mode = FailoverMode::Default;
    run.record(FaultEvent::Applied(Fault::ManualFailover { node, mode }));
    let addr = run.cluster.node(node).addr();
    let trace = run.cluster.trace().clone();
    let reply = run
        .cluster
        .on_client(async move {
            let mut client = ClusterClient::new("faults", addr.clone(), trace);
            client.set_timeout_ms(MANUAL_FAILOVER_TIMEOUT_MS);
            client.send_to(&addr, &[b"CLUSTER", b"FAILOVER"]).await
        })
        .await;
    let accepted = matches!(reply, Ok(Reply::Simple(ref s)) if s == "OK");
    if accepted {
        run.record(FaultEvent::ManualFailoverAccepted { node, mode });
    }
    accepted
}

/// Polls until the cluster is whole again with `node` a master, or whole once Redis would
/// have given the failover up (whether it had to finish is `manual_failover_unfinished`'s to
/// judge); the liveness bound running out first is a violation. The last poll becomes the
/// run's final views. Whether it was whole.
async fn wait_whole_again(run: &mut Run<'_>, node: usize) -> bool {
    let given_up_ms = now_ms() + MANUAL_FAILOVER_TIMEOUT_MS + 1000;
    let (addrs, names) = (run.cluster.addrs(), node_names(run.cluster));
    let bound_ms = liveness_bound_ms(run.shape.node_timeout_ms);
    let name = run.cluster.node(node).name.clone();
    let addr = run.cluster.node(node).addr();
    let mut last = Vec::new();
    for _ in 0..bound_ms.div_ceil(LIVENESS_POLL_MS) {
        madsim::time::sleep(Duration::from_millis(LIVENESS_POLL_MS)).await;
        last = poll_all(run.cluster, &addrs, &names).await;
        let promoted = views_of(&last).iter().any(|(_, lines)| {
            lines
                .iter()
                .any(|l| l.is_myself() && l.addr == addr && l.is_master())
        });
        if (promoted || now_ms() > given_up_ms) && whole(&last, run.cluster.len()) {
            run.final_texts = nodes_texts(&last);
            return true;
        }
    }
    run.final_texts = nodes_texts(&last);
    run.violations.push(Violation::new(
        ViolationKind::ClusterNotWhole,
        format!("not whole {bound_ms} ms after the planned CLUSTER FAILOVER sent to {name}"),
    ));
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_alternate_between_plain_and_scripted() {
        assert_eq!(append_args(0, "k", "p0;"), ["APPEND", "k", "p0;"]);
        let scripted = append_args(1, "k", "p1;");
        assert_eq!(scripted[0], "EVAL");
        assert_eq!(&scripted[2..], ["1", "k", "APPEND", "p1;"]);
        assert_eq!(sent_as("p0;"), "APPEND");
        assert_eq!(sent_as("p11;"), "EVAL-wrapped APPEND");
    }
}
