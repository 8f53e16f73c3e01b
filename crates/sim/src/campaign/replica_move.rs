//! The planned replica move at the end of a campaign run: the operator moves every replica of
//! one master to another master (`CLUSTER REPLICATE`), leaving the first orphaned, and the
//! run expects what Redis's replica migration then does.
//!
//! Redis 7.0 (`clusterHandleSlaveMigration`): a master that had replicas and has no working
//! one left is orphaned; once it has been so for 5 s, the replica with the smallest ID among
//! those of the masters with the most working replicas (at least two) moves to it (to the
//! first orphan by ID, when masters were orphaned already), if its own
//! master keeps more than `cluster-migration-barrier` (1) working replicas, the cluster is ok
//! and `cluster-allow-replica-migration` is yes. So when migration is allowed and a master is
//! left with two replicas or more, some replica must become the orphan's within
//! [`migration_bound_ms`] (`replica_migration_missing`); otherwise none may
//! (`replica_migration_unwanted`). Judged from the nodes' own `BecameReplica` events, on a
//! view whose roles every node shares.

use std::time::Duration;

use clusterlab_core::cluster::migration::MIGRATION_DELAY_MS;
use clusterlab_core::reply::Reply;
use clusterlab_core::ClusterEvent;

use crate::cluster::mix64;
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::runner::poll::{node_names, poll_all, views_of};
use crate::runner::{Run, LIVENESS_POLL_MS};
use crate::view::NodeLine;

/// Salt for the seed's draw of the two masters.
const PICK_SALT: u64 = 0x0072_6570_6c69_6361;

/// How long after the move a replica must have migrated: the delay Redis waits, the time for
/// the candidate to hear from the moved replicas themselves (a replica's master is only in its
/// own messages' header; a node pings a peer once its last pong is half a node timeout old, so
/// up to a node timeout passes between two messages of a pair), two cron ticks and a second
/// of slack.
pub(super) fn migration_bound_ms(node_timeout_ms: u64) -> u64 {
    MIGRATION_DELAY_MS + node_timeout_ms + 200 + 1000
}

/// A master, its ID and its replicas (node indexes), from one node's view.
struct Shard {
    master: usize,
    id: String,
    replicas: Vec<usize>,
}

/// Moves the replicas of one master to another and judges what replica migration does.
pub(super) async fn planned_replica_move(run: &mut Run<'_>) {
    let (addrs, names) = (run.cluster.addrs(), node_names(run.cluster));
    let Some(lines) = agreed_roles(run, &addrs, &names).await else {
        return run.record("replica move: the nodes' views never agreed on every role; not judged");
    };
    let shards = shards(&lines, &addrs);
    let with_replicas: Vec<&Shard> = shards.iter().filter(|s| !s.replicas.is_empty()).collect();
    if with_replicas.is_empty() || shards.len() < 2 {
        return;
    }
    let draw = mix64(run.cluster.seed() ^ PICK_SALT);
    let from = with_replicas[(draw % with_replicas.len() as u64) as usize];
    let others: Vec<&Shard> = shards.iter().filter(|s| s.master != from.master).collect();
    let to = others[((draw >> 32) % others.len() as u64) as usize];
    let started_us = run.cluster.elapsed().as_micros() as u64;
    let seen = run.cluster.trace().len();
    for &replica in &from.replicas {
        let reply = run
            .cluster
            .command(replica, &["CLUSTER", "REPLICATE", &to.id])
            .await;
        if !matches!(reply, Ok(Reply::Simple(ref s)) if s == "OK") {
            return run.record(format!(
                "replica move: CLUSTER REPLICATE on {} -> {reply:?}; not judged",
                names[replica]
            ));
        }
    }
    let bound_ms = migration_bound_ms(run.shape.node_timeout_ms);
    // Only replicas of a master left with at least two migrate.
    let donor_replicas = shards
        .iter()
        .filter(|s| s.master != from.master)
        .map(|s| {
            s.replicas.len()
                + if s.master == to.master {
                    from.replicas.len()
                } else {
                    0
                }
        })
        .max()
        .unwrap_or(0);
    let allowed = run.cluster.config().allow_replica_migration && donor_replicas >= 2;
    // Masters already orphaned may be picked first (Redis takes the first in ID order).
    let orphans: Vec<String> = shards
        .iter()
        .filter(|s| s.master == from.master || (s.replicas.is_empty() && s.master != to.master))
        .map(|s| s.id.clone())
        .collect();
    let back = wait_for_replica_of(run, &orphans, (seen, started_us), bound_ms).await;
    let orphan = &names[from.master];
    let donor = &names[to.master];
    match (allowed, back) {
        (true, None) => run.violations.push(Violation::new(
            ViolationKind::ReplicaMigrationMissing,
            format!(
                "{orphan} orphaned at {:.3}s (its replicas moved to {donor} by CLUSTER \
                 REPLICATE), a master left with {donor_replicas} replicas, migration allowed: \
                 no replica moved to {orphan} or another orphaned master within {bound_ms} ms",
                started_us as f64 / 1e6
            ),
        )),
        (false, Some(node)) => run.violations.push(Violation::new(
            ViolationKind::ReplicaMigrationUnwanted,
            format!(
                "{} became a replica of an orphaned master ({orphan} orphaned at {:.3}s by \
                 CLUSTER REPLICATE), although {}",
                names[node],
                started_us as f64 / 1e6,
                if donor_replicas < 2 {
                    format!("no master had more than one replica ({donor_replicas} at most)")
                } else {
                    "cluster-allow-replica-migration is no".to_string()
                }
            ),
        )),
        _ => {}
    }
}

/// A view whose roles (master or whose replica) every node's view shares, polled for up to
/// two node timeouts: a failover just made (the planned one) takes that long to reach every
/// node, and a stale view could show an orphan where there is none.
async fn agreed_roles(run: &Run<'_>, addrs: &[String], names: &[String]) -> Option<Vec<NodeLine>> {
    let roles = |lines: &[NodeLine]| -> Vec<(String, bool, Option<String>)> {
        let mut roles: Vec<_> = lines
            .iter()
            .map(|l| (l.id.clone(), l.is_master(), l.master.clone()))
            .collect();
        roles.sort();
        roles
    };
    for _ in 0..(2 * run.shape.node_timeout_ms).div_ceil(LIVENESS_POLL_MS) {
        let views = views_of(&poll_all(run.cluster, addrs, names).await);
        let first = views.first().map(|(_, lines)| roles(lines));
        let agreed = views.len() == addrs.len()
            && views.iter().all(|(_, lines)| Some(roles(lines)) == first);
        if agreed {
            return views.into_iter().next().map(|(_, lines)| lines);
        }
        madsim::time::sleep(Duration::from_millis(LIVENESS_POLL_MS)).await;
    }
    None
}

/// Every master serving slots in `lines`, with its replicas, by node index.
fn shards(lines: &[NodeLine], addrs: &[String]) -> Vec<Shard> {
    let index = |addr: &str| addrs.iter().position(|a| a == addr);
    let mut shards: Vec<Shard> = lines
        .iter()
        .filter(|l| l.is_master() && !l.slots.is_empty())
        .filter_map(|l| {
            Some(Shard {
                master: index(&l.addr)?,
                id: l.id.clone(),
                replicas: Vec::new(),
            })
        })
        .collect();
    for l in lines {
        let Some(shard) = shards.iter_mut().find(|s| Some(&s.id) == l.master.as_ref()) else {
            continue;
        };
        shard.replicas.extend(index(&l.addr));
    }
    shards.sort_by_key(|s| s.master);
    for s in &mut shards {
        s.replicas.sort_unstable();
    }
    shards
}

/// The first node that became a replica of one of `masters` (IDs) after the trace's first
/// `seen` events, from the nodes' own events, waiting up to `bound_ms` after `since_us` (the
/// whole bound when none does: a migration Redis would not make must not come late either).
async fn wait_for_replica_of(
    run: &Run<'_>,
    masters: &[String],
    (seen, since_us): (usize, u64),
    bound_ms: u64,
) -> Option<usize> {
    let deadline_us = since_us + bound_ms * 1000;
    let mut seen = seen;
    loop {
        let new = run.cluster.trace().events_from(seen);
        seen += new.len();
        let found = new.iter().find_map(|e| {
            let became = matches!(e.event.cluster(),
                Some(ClusterEvent::BecameReplica { master }) if masters.contains(&master.to_string()));
            (became && e.time_us <= deadline_us)
                .then(|| NodeIdx::from_name(&e.node).map(|n| n.0))
                .flatten()
        });
        if found.is_some() {
            return found;
        }
        if run.cluster.elapsed().as_micros() as u64 > deadline_us {
            return None;
        }
        madsim::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

/// How often the trace is read while waiting.
const POLL_MS: u64 = 250;
