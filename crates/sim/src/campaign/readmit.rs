//! The campaign's operator: after the heal, a node whose disk was wiped is re-admitted the way
//! `redis-cli --cluster fix` would after a disk replacement ([`readmit_wiped`]), and the
//! liveness phase keeps sweeping the old IDs gossip brings back ([`forget_stale`]).

use std::time::Duration;

use clusterlab_core::Reply;

use crate::client::{describe_reply, info_field, reply_text};
use crate::cluster::SimCluster;
use crate::runner::poll::Polled;
use crate::trace::RunPhase;
use crate::view::{parse_cluster_nodes, slot_owners, NodeLine, SLOTS};

/// `CLUSTER MYID` of node `index`.
pub(super) async fn my_id(cluster: &SimCluster, index: usize) -> Result<String, String> {
    match cluster.command(index, &["CLUSTER", "MYID"]).await {
        Ok(reply) => reply_text(&reply).ok_or_else(|| describe_reply(&reply)),
        Err(e) => Err(format!("CLUSTER MYID on node{}: {e}", index + 1)),
    }
}

/// How long re-admission waits for a wiped node to learn the cluster before bumping its
/// epoch.
const READMIT_WAIT_MS: u64 = 5000;

/// Re-admits a wiped node as `redis-cli --cluster fix` would after a disk replacement: every
/// other node forgets its old ID, one introduces the new node, which takes back the slots the
/// old ID still owns (or replicates the old ID's master) and then bumps its config epoch.
pub(super) async fn readmit_wiped(
    cluster: &SimCluster,
    node: usize,
    old_id: &str,
    wiped: &[usize],
) -> Result<String, String> {
    let name = cluster.node(node).name.clone();
    let new_id = my_id(cluster, node).await?;
    let others: Vec<usize> = (0..cluster.len()).filter(|i| !wiped.contains(i)).collect();
    let Some(&reference) = others.first() else {
        return Err("every node was wiped".to_string());
    };
    let view = fetch_lines(cluster, reference).await?;
    let old = view.iter().find(|l| l.id == old_id).cloned();
    let epoch = current_epoch(cluster, reference).await.unwrap_or(0);
    let readmit = RunPhase::Readmit {
        node: name.clone(),
        old_id: old_id.to_string(),
        new_id: new_id.to_string(),
    };
    cluster.trace().record("harness", readmit);
    take_over_from_replica(cluster, reference, old_id, &others).await;
    // Some may refuse (a replica will not forget its master) or learn the old ID again from
    // gossip still in flight: the liveness phase keeps sweeping (`forget_stale`).
    for &other in &others {
        forget(cluster, other, old_id).await;
    }
    let ip = cluster.node(node).ip.to_string();
    let port = cluster.node(node).port.to_string();
    expect_ok(cluster, reference, &["CLUSTER", "MEET", &ip, &port]).await?;
    // Bumping before the new node has heard the cluster's current epoch would hand it an
    // epoch some master already holds.
    wait_learnt(cluster, node, cluster.len(), epoch).await;
    let Some(old) = old else {
        return Ok(new_id);
    };
    // The shard may change under our feet (a failover right after the heal, the new node
    // hearing of an owner first): decide on a fresh view each attempt.
    let mut result = Err("no attempt".to_string());
    for _ in 0..READMIT_WAIT_MS / 500 {
        let view = fetch_lines(cluster, reference).await.unwrap_or_default();
        let claimed = self_claimed(cluster, &others).await;
        result = assign_role(cluster, node, &old, &view, &claimed).await;
        if result.is_ok() {
            break;
        }
        madsim::time::sleep(Duration::from_millis(500)).await;
    }
    result.map(|()| new_id)
}

/// How long the operator waits for a takeover to show in the reference's view.
const TAKEOVER_WAIT_MS: u64 = 5000;

/// Hands the slots a wiped master's old ID still owns to its freshest replica (among
/// `candidates`), as an operator would with `CLUSTER FAILOVER TAKEOVER`, before the empty node
/// is re-admitted. Redis never fails such a master over by itself: a PONG under the new ID
/// flags the old one noaddr, and Redis's cron skips noaddr peers when it looks for PFAIL. Giving
/// the empty node its old slots back instead would drop every write the replica holds. Each
/// replica's own view says whom it follows and what that master owns (the reference's view
/// may be stale); the operator then waits until the reference sees the new owner.
async fn take_over_from_replica(
    cluster: &SimCluster,
    reference: usize,
    old_id: &str,
    candidates: &[usize],
) {
    let mut best: Option<(u64, usize, u16)> = None;
    for &replica in candidates {
        let Some(slot) = master_slot(cluster, replica, old_id).await else {
            continue;
        };
        let Some(offset) = repl_offset(cluster, replica).await else {
            continue;
        };
        if best.is_none_or(|(most, _, _)| offset > most) {
            best = Some((offset, replica, slot));
        }
    }
    let Some((offset, replica, slot)) = best else {
        return;
    };
    let name = &cluster.node(replica).name;
    let reply = cluster
        .command(replica, &["CLUSTER", "FAILOVER", "TAKEOVER"])
        .await;
    let said = reply.map_or_else(|e| e.to_string(), |r| describe_reply(&r));
    cluster.trace().record(
        "harness",
        format!("{name} (offset {offset}) takes over the wiped {old_id}'s slots: {said}"),
    );
    let Ok(new_id) = my_id(cluster, replica).await else {
        return;
    };
    for _ in 0..TAKEOVER_WAIT_MS / 100 {
        let lines = fetch_lines(cluster, reference).await.unwrap_or_default();
        let owners = slot_owners(&lines).unwrap_or_default();
        if owners.get(usize::from(slot)).and_then(|o| o.as_deref()) == Some(new_id.as_str()) {
            return;
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A slot `master_id` owns, in the view of `replica` when it replicates that master.
async fn master_slot(cluster: &SimCluster, replica: usize, master_id: &str) -> Option<u16> {
    let lines = fetch_lines(cluster, replica).await.ok()?;
    let me = lines.iter().find(|l| l.is_myself())?;
    if me.is_master() || me.master.as_deref() != Some(master_id) {
        return None;
    }
    let master = lines.iter().find(|l| l.id == master_id)?;
    master.slots.first().map(|&(lo, _)| lo)
}

/// A replica's `slave_repl_offset`.
async fn repl_offset(cluster: &SimCluster, node: usize) -> Option<u64> {
    let reply = cluster.command(node, &["INFO", "replication"]).await.ok()?;
    info_field(&reply, "slave_repl_offset")?.parse().ok()
}

/// What the operator's nodes claim for themselves: as `redis-cli --cluster check/fix` sees
/// the cluster. redis-cli (`clusterManagerNodeLoadInfo`) takes a node's slots only from the
/// `myself` line of that node's own `CLUSTER NODES`; the lines it shows about other nodes
/// carry no slots for it.
#[derive(Debug)]
pub(super) struct Claims {
    /// Every slot some node claims for itself in its own view (a master just promoted claims
    /// its slots before the others hear of it).
    pub(super) claimed: Vec<bool>,
    /// The IDs of the nodes whose own view was read.
    pub(super) answered: Vec<String>,
}

async fn self_claimed(cluster: &SimCluster, nodes: &[usize]) -> Claims {
    let mut claims = Claims {
        claimed: vec![false; SLOTS],
        answered: Vec::new(),
    };
    for &n in nodes {
        let lines = fetch_lines(cluster, n).await.unwrap_or_default();
        let Some(me) = lines.iter().find(|l| l.is_myself()) else {
            continue;
        };
        claims.answered.push(me.id.clone());
        for &(lo, hi) in &me.slots {
            for slot in lo..=hi {
                claims.claimed[usize::from(slot)] = true;
            }
        }
    }
    claims
}

/// The slots nobody owns any more, as ranges: no node claims them in its own view, and the
/// reference's view gives them to nobody or to a node that answered and does not claim them.
/// The latter is a stale view: a Redis 7.0 node only updates the slots a sender claims
/// (`clusterUpdateSlotsConfigWith` walks the sender's bitmap), so a node that missed a
/// migration (crashed, restarted from an older nodes.conf) keeps the old owner for a slot whose
/// new owner's disk was wiped, and the old owner never claims it again (seed 805901: slot
/// 3649, moved to the wiped node, stayed with its previous owner in the reference's view and
/// unassigned everywhere else). redis-cli's fix covers such a slot, since no node claims it.
/// An owner whose own view could not be read keeps its slots (it may be down, not gone).
pub(super) fn orphaned_ranges(owners: &[Option<String>], claims: &Claims) -> Vec<(u16, u16)> {
    (0..SLOTS as u16)
        .filter(|&slot| {
            let owner = owners[usize::from(slot)].as_ref();
            !claims.claimed[usize::from(slot)] && owner.is_none_or(|o| claims.answered.contains(o))
        })
        .fold(Vec::new(), |mut ranges, slot| {
            match ranges.last_mut() {
                Some((_, hi)) if *hi + 1 == slot => *hi = slot,
                _ => ranges.push((slot, slot)),
            }
            ranges
        })
}

/// Gives the new node the old node's place, as `redis-cli --cluster fix` would: every slot
/// nobody owns any more (forgetting the old ID unassigned its slots, unless a failover had
/// moved them already), then a fresh config epoch; with no such slot, a replica's place under
/// the master of the old node's shard. A slot counts as orphaned only when no node claims it
/// in its own view either (`claimed`): redis-cli's fix, too, looks at every node's claims, and
/// one node's stale view may not yet show a fresh failover's winner (seed 430036: the bumped
/// empty node took a shard from the replica just promoted, and its data was lost).
async fn assign_role(
    cluster: &SimCluster,
    node: usize,
    old: &NodeLine,
    view: &[NodeLine],
    claims: &Claims,
) -> Result<(), String> {
    // The reference may have heard of the old ID again from gossip sent before its FORGET:
    // whatever that ID still owns is as orphaned as if it were gone (the new node never knew
    // it, so following it would fail with "Unknown node").
    let view: Vec<NodeLine> = view.iter().filter(|l| l.id != old.id).cloned().collect();
    let owners = slot_owners(&view).map_err(|e| format!("reference view: {e}"))?;
    let orphans = orphaned_ranges(&owners, claims);
    if !orphans.is_empty() {
        let mut args: Vec<String> = vec!["CLUSTER".into(), "ADDSLOTSRANGE".into()];
        for (lo, hi) in &orphans {
            args.push(lo.to_string());
            args.push(hi.to_string());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        expect_ok(cluster, node, &refs).await?;
        let _ = cluster.command(node, &["CLUSTER", "BUMPEPOCH"]).await;
        return Ok(());
    }
    // A master whose slots a replica took over, or a replica: follow the shard's master.
    let shard_master = match old.slots.first() {
        Some(&(slot, _)) => owners[usize::from(slot)].clone(),
        None => current_master(&view, old.master.as_deref()),
    };
    match shard_master {
        Some(master) => expect_ok(cluster, node, &["CLUSTER", "REPLICATE", &master]).await,
        None => Ok(()),
    }
}

/// The operator's sweep after re-admitting wiped nodes (`replaced`: old ID, new ID): every
/// node whose view still lists an old ID is told to forget it (it may have heard of it again
/// from gossip sent before the first `FORGET`), or, if it still replicates the old ID (and so
/// refuses to forget it), to replicate the node that took its place.
pub(super) async fn forget_stale(
    cluster: &SimCluster,
    fetched: &[Polled],
    replaced: &[(String, String)],
) {
    for (index, (_, f)) in fetched.iter().enumerate() {
        let Ok(f) = f else { continue };
        let following = f.sample.myself().and_then(|me| me.master.clone());
        for (old_id, new_id) in replaced {
            if !f.sample.lines.iter().any(|l| l.id == *old_id) {
                continue;
            }
            let name = &cluster.node(index).name;
            // A replica will not forget its master: point it at the node that took the old
            // one's place first.
            if following.as_deref() == Some(old_id.as_str()) {
                // The re-admitted node is a replica itself when a replica took the wiped
                // master's slots over: follow the shard's master, as the node's view has it
                // (seed 460147: REPLICATE of the replica was refused until the bound ran out).
                let shard_master = current_master(&f.sample.lines, Some(new_id.as_str()))
                    .unwrap_or_else(|| new_id.clone());
                cluster.trace().record(
                    "harness",
                    format!("{name} still follows {old_id}: replicate {shard_master}"),
                );
                let _ = cluster
                    .command(index, &["CLUSTER", "REPLICATE", &shard_master])
                    .await;
            } else {
                cluster
                    .trace()
                    .record("harness", format!("{name} still lists {old_id}: forget it"));
                forget(cluster, index, old_id).await;
            }
        }
    }
}

/// `CLUSTER FORGET id` on `node`; true when the node no longer knows `id` ("Unknown node" is
/// fine: it never learnt the ID or forgot it already).
async fn forget(cluster: &SimCluster, node: usize, id: &str) -> bool {
    match cluster.command(node, &["CLUSTER", "FORGET", id]).await {
        Ok(Reply::Error(e)) => e.starts_with("ERR Unknown node"),
        Ok(_) => true,
        Err(_) => false,
    }
}

/// The master of the old node's shard now: its recorded master, or, if a failover made that
/// one a replica, whichever master it follows.
fn current_master(view: &[NodeLine], recorded: Option<&str>) -> Option<String> {
    let mut id = recorded?;
    for _ in 0..view.len() {
        let line = view.iter().find(|l| l.id == id)?;
        match line.master.as_deref() {
            Some(next) if !line.is_master() => id = next,
            _ => return Some(id.to_string()),
        }
    }
    None
}

async fn expect_ok(cluster: &SimCluster, node: usize, args: &[&str]) -> Result<(), String> {
    match cluster.command(node, args).await {
        Ok(reply) if reply == Reply::ok() => Ok(()),
        Ok(reply) => Err(format!("{}: {}", args.join(" "), describe_reply(&reply))),
        Err(e) => Err(format!("{}: {e}", args.join(" "))),
    }
}

async fn current_epoch(cluster: &SimCluster, node: usize) -> Option<u64> {
    let reply = cluster.command(node, &["CLUSTER", "INFO"]).await.ok()?;
    info_field(&reply, "cluster_current_epoch")?.parse().ok()
}

/// Waits (bounded) until `node` knows `count` nodes and has reached current epoch `epoch`.
async fn wait_learnt(cluster: &SimCluster, node: usize, count: usize, epoch: u64) {
    for _ in 0..READMIT_WAIT_MS / 100 {
        if let Ok(reply) = cluster.command(node, &["CLUSTER", "INFO"]).await {
            let number = |field| info_field(&reply, field).and_then(|v| v.parse::<u64>().ok());
            let known = number("cluster_known_nodes").is_some_and(|k| k >= count as u64);
            if known && number("cluster_current_epoch").is_some_and(|e| e >= epoch) {
                return;
            }
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fetch_lines(cluster: &SimCluster, node: usize) -> Result<Vec<NodeLine>, String> {
    let reply = cluster
        .command(node, &["CLUSTER", "NODES"])
        .await
        .map_err(|e| e.to_string())?;
    let text = reply_text(&reply).ok_or_else(|| describe_reply(&reply))?;
    parse_cluster_nodes(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(ranges: &[(u16, u16, &str)]) -> Vec<Option<String>> {
        let mut owners = vec![None; SLOTS];
        for &(lo, hi, id) in ranges {
            for slot in lo..=hi {
                owners[usize::from(slot)] = Some(id.to_string());
            }
        }
        owners
    }

    fn claims(ranges: &[(u16, u16)], answered: &[&str]) -> Claims {
        let mut claimed = vec![false; SLOTS];
        for &(lo, hi) in ranges {
            for slot in lo..=hi {
                claimed[usize::from(slot)] = true;
            }
        }
        Claims {
            claimed,
            answered: answered.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Seed 805901: the reference still gives slot 3649 to its owner before a migration (it
    /// missed the move); that owner answers and no longer claims it, nor does anyone else.
    #[test]
    fn a_slot_only_a_stale_view_assigns_is_orphaned() {
        // Reference view: b owns 3277-6553 (stale for 3649), c's slots were unassigned by FORGET.
        let owners = owners(&[(0, 3276, "a"), (3277, 6553, "b"), (9830, 16383, "d")]);
        let claims = claims(
            &[(0, 3276), (3277, 3648), (3650, 6553), (9830, 16383)],
            &["a", "b", "d"],
        );
        assert_eq!(
            orphaned_ranges(&owners, &claims),
            [(3649, 3649), (6554, 9829)]
        );
    }

    /// Counter-case: an owner whose own view could not be read may be down, not gone: its
    /// slots stay its own; and a slot some node claims itself is never orphaned.
    #[test]
    fn an_owner_that_did_not_answer_keeps_its_slots() {
        let owners = owners(&[(0, 3276, "a"), (3277, 6553, "b"), (9830, 16383, "d")]);
        let claims = claims(&[(0, 3276), (6554, 6600), (9830, 16383)], &["a", "d"]);
        assert_eq!(orphaned_ranges(&owners, &claims), [(6601, 9829)]);
    }
}
