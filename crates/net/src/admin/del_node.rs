//! `del_node`: `redis-cli --cluster del-node EXISTING ID`. A node that still owns slots is
//! refused; its replicas move to the master with fewest replicas; every other node forgets
//! it (`CLUSTER FORGET`, which bans it from gossip for 60 s); finally the removed node, if
//! reachable, gets `CLUSTER RESET SOFT` so it forgets the cluster too (it is not shut down).

use super::add_node::fewest_replicas;
use super::*;

/// Removes node `id` from the cluster `existing` belongs to.
pub async fn del_node(existing: &str, id: &str) -> Result<(), AdminError> {
    let mut topology = super::load(existing).await?;
    let Some(victim) = topology.find(id) else {
        return Err(AdminError::NoSuchNode(id.to_string()));
    };
    if !topology.nodes[victim].slots.is_empty() {
        return Err(AdminError::NodeHasSlots(
            topology.nodes[victim].addr.clone(),
        ));
    }
    let victim_id = topology.nodes[victim].id.clone();
    let replicas = topology.replicas_of(&victim_id);
    if !replicas.is_empty() {
        let Some(master) = fewest_replicas(&topology, Some(&victim_id)) else {
            return Err(AdminError::Failed(
                "[ERR] No master to move the node's replicas to".into(),
            ));
        };
        for replica in replicas {
            topology
                .conn(replica)
                .ok(&["CLUSTER", "REPLICATE", &master])
                .await?;
        }
    }
    for other in 0..topology.nodes.len() {
        if other != victim {
            topology
                .conn(other)
                .ok(&["CLUSTER", "FORGET", &victim_id])
                .await?;
        }
    }
    topology
        .conn(victim)
        .ok(&["CLUSTER", "RESET", "SOFT"])
        .await
}
