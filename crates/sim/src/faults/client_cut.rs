//! The client partition of a [`Fault::ClientPartition`](super::Fault::ClientPartition): which
//! links between the append clients' machines and the nodes are cut, kept in step with the
//! simulated network. The bus between nodes is never touched here.

use std::collections::BTreeSet;

use madsim::net::NetSim;
use madsim::task::NodeId as MachineId;

use crate::cluster::SimCluster;

/// The client machines cut off and from which nodes, as applied to the network.
#[derive(Debug, Default)]
pub(super) struct ClientCut {
    /// `(client machine, node machine)` pairs clogged both ways right now.
    clogged: BTreeSet<(MachineId, MachineId)>,
}

impl ClientCut {
    /// Cuts every append client off `nodes` (and only those), replacing the previous cut.
    pub(super) fn set(&mut self, cluster: &SimCluster, nodes: &[usize]) {
        let wanted: BTreeSet<(MachineId, MachineId)> = cluster
            .client_machine_ids()
            .into_iter()
            .flat_map(|c| nodes.iter().map(move |&n| (c, cluster.node(n).machine)))
            .collect();
        let net = NetSim::current();
        for &(c, n) in self.clogged.difference(&wanted) {
            net.unclog_link(c, n);
            net.unclog_link(n, c);
        }
        for &(c, n) in wanted.difference(&self.clogged) {
            net.clog_link(c, n);
            net.clog_link(n, c);
        }
        self.clogged = wanted;
    }

    /// Every client reaches every node again.
    pub(super) fn heal(&mut self, cluster: &SimCluster) {
        self.set(cluster, &[]);
    }
}
