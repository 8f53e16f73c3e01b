//! redis-cli's "load": `CLUSTER NODES` on the entry node, then on every node it lists (nodes
//! it flags `fail`, `noaddr` or `handshake`, and nodes that cannot be reached, are left out),
//! each node described by its *own* myself line — its slots, open slots, role and epoch — as
//! redis-cli does. The other operations plan on the resulting [`Topology`] and send their
//! commands through its connections.

use super::*;
use clusterlab_core::text::{NodesLine, SlotField};
use std::collections::{BTreeMap, BTreeSet};

/// One reachable node, as it describes itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    pub id: String,
    /// `ip:port` as the admin connects to it.
    pub addr: String,
    pub flags: Vec<String>,
    /// The master's id for a replica.
    pub master_id: Option<String>,
    pub config_epoch: u64,
    pub slots: BTreeSet<u16>,
    /// Slot → node id the slot is being migrated to (`[slot->-id]`).
    pub migrating: BTreeMap<u16, String>,
    /// Slot → node id the slot is being imported from (`[slot-<-id]`).
    pub importing: BTreeMap<u16, String>,
    /// The node's whole `CLUSTER NODES` reply.
    pub nodes_text: String,
}

impl ClusterNode {
    pub fn is_master(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }
}

/// The reachable nodes of a cluster, the entry node first, with open connections.
pub struct Topology {
    pub nodes: Vec<ClusterNode>,
    /// Listed nodes that could not be loaded, as `addr: reason`.
    pub unreachable: Vec<String>,
    conns: Vec<Node>,
}

/// One parsed line of `CLUSTER NODES`: id, address, flags, master, epoch, slot fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Line<'a> {
    pub id: &'a str,
    /// `ip:port` (before `@`).
    pub addr: &'a str,
    pub flags: Vec<&'a str>,
    pub master: Option<&'a str>,
    pub config_epoch: u64,
    pub slot_fields: Vec<&'a str>,
}

impl Line<'_> {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// Parses the lines of a `CLUSTER NODES` reply; malformed lines are skipped.
pub(super) fn parse_lines(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let line = NodesLine::from_fields(&fields)?;
            Some(Line {
                id: line.id,
                addr: line.host_port(),
                flags: line.flag_words().collect(),
                master: line.master_id(),
                config_epoch: line.config_epoch.parse().ok()?,
                slot_fields: line
                    .slots
                    .iter()
                    .copied()
                    .filter(|f| !f.is_empty())
                    .collect(),
            })
        })
        .collect()
}

/// The node a `CLUSTER NODES` text describes, from its myself line; `addr` is where we reached
/// it (the myself line may show an empty IP).
pub(super) fn describe_myself(text: &str, addr: &str) -> Option<ClusterNode> {
    let lines = parse_lines(text);
    let me = lines.iter().find(|l| l.has_flag("myself"))?;
    let mut node = ClusterNode {
        id: me.id.to_string(),
        addr: addr.to_string(),
        flags: me
            .flags
            .iter()
            .filter(|f| **f != "myself")
            .map(|f| f.to_string())
            .collect(),
        master_id: me.master.map(str::to_string),
        config_epoch: me.config_epoch,
        slots: BTreeSet::new(),
        migrating: BTreeMap::new(),
        importing: BTreeMap::new(),
        nodes_text: text.to_string(),
    };
    for field in &me.slot_fields {
        match SlotField::parse(field) {
            SlotField::Migrating(slot, id) => {
                if let Ok(slot) = slot.parse() {
                    node.migrating.insert(slot, id.to_string());
                }
            }
            SlotField::Importing(slot, id) => {
                if let Ok(slot) = slot.parse() {
                    node.importing.insert(slot, id.to_string());
                }
            }
            SlotField::OtherOpen => {}
            range @ SlotField::Range(..) => {
                if let Some((lo, hi)) = range.range() {
                    node.slots.extend(lo..=hi);
                }
            }
        }
    }
    Some(node)
}

/// Slots as redis-cli prints them: `0-5460,5462` (ranges joined by `,`).
pub fn format_ranges(slots: impl IntoIterator<Item = u16>) -> String {
    let runs = clusterlab_core::slot::ranges_of(slots.into_iter());
    clusterlab_core::text::ranges_text(runs, ',')
}

/// Loads the cluster that `entry` (`ip:port`) belongs to (see the module docs).
pub async fn load(entry: &str) -> Result<Topology, AdminError> {
    let mut first = Node::connect(entry).await?;
    let text = first.text(&["CLUSTER", "NODES"]).await?;
    let me = describe_myself(&text, entry).ok_or_else(|| AdminError::Command {
        addr: entry.to_string(),
        command: "CLUSTER NODES".into(),
        reply: "no myself line".into(),
    })?;
    let mut topology = Topology {
        nodes: vec![me],
        unreachable: Vec::new(),
        conns: vec![first],
    };
    for line in parse_lines(&text) {
        let skip = ["myself", "fail", "noaddr", "handshake"];
        if skip.iter().any(|f| line.has_flag(f)) || line.addr.starts_with(':') {
            continue;
        }
        let addr = line.addr.to_string();
        match load_one(&addr).await {
            Ok((node, conn)) if topology.find(&node.id).is_none() => {
                topology.nodes.push(node);
                topology.conns.push(conn);
            }
            Ok(_) => {}
            Err(e) => topology.unreachable.push(format!("{addr}: {e}")),
        }
    }
    Ok(topology)
}

async fn load_one(addr: &str) -> Result<(ClusterNode, Node), AdminError> {
    let mut conn = Node::connect(addr).await?;
    let text = conn.text(&["CLUSTER", "NODES"]).await?;
    let node = describe_myself(&text, addr).ok_or_else(|| AdminError::Command {
        addr: addr.to_string(),
        command: "CLUSTER NODES".into(),
        reply: "no myself line".into(),
    })?;
    Ok((node, conn))
}

impl Topology {
    /// A topology from already described nodes, without connections (for planning tests).
    #[cfg(test)]
    pub(super) fn offline(nodes: Vec<ClusterNode>) -> Topology {
        Topology {
            nodes,
            unreachable: Vec::new(),
            conns: Vec::new(),
        }
    }

    /// Index of the node with id `id` (exact, case-insensitive like redis-cli).
    pub fn find(&self, id: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.id.eq_ignore_ascii_case(id))
    }

    /// Indices of the masters.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_master())
            .collect()
    }

    /// The master that claims `slot` on its own myself line.
    pub fn owner_of(&self, slot: u16) -> Option<usize> {
        (0..self.nodes.len())
            .find(|&i| self.nodes[i].is_master() && self.nodes[i].slots.contains(&slot))
    }

    /// Ids of the nodes that say they replicate `master_id`.
    pub fn replicas_of(&self, master_id: &str) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].master_id.as_deref() == Some(master_id))
            .collect()
    }

    /// The connection to node `index`.
    pub(super) fn conn(&mut self, index: usize) -> &mut Node {
        &mut self.conns[index]
    }

    /// `ip` and `port` of node `index`.
    pub(super) fn endpoint(&self, index: usize) -> (String, u16) {
        (self.conns[index].ip.clone(), self.conns[index].port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn myself_line_with_open_slots() {
        let text = "\
b2 10.0.0.2:7002@17002 master - 0 1 2 connected 5461-10922\n\
a1 :7001@17001 myself,master - 0 0 1 connected 0-3 7 [5->-b2] [6000-<-b2]\n\
c3 10.0.0.3:7003@17003 slave a1 0 1 1 connected\n";
        let me = describe_myself(text, "10.0.0.1:7001").expect("myself");
        assert_eq!(me.id, "a1");
        assert_eq!(me.addr, "10.0.0.1:7001");
        assert_eq!(me.flags, vec!["master"]);
        assert!(me.is_master());
        assert_eq!(
            me.slots.iter().copied().collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 7]
        );
        assert_eq!(me.migrating, BTreeMap::from([(5, "b2".to_string())]));
        assert_eq!(me.importing, BTreeMap::from([(6000, "b2".to_string())]));
        let lines = parse_lines(text);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2].master, Some("a1"));
        assert_eq!(lines[0].addr, "10.0.0.2:7002");
        assert!(describe_myself("garbage\n", "x:1").is_none());
    }

    #[test]
    fn ranges_format_like_redis_cli() {
        assert_eq!(format_ranges([0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_ranges([12539]), "12539");
        assert_eq!(format_ranges(std::iter::empty()), "");
    }
}
