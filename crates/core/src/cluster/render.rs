//! The text and reply shapes of `CLUSTER NODES`, `INFO`, `SLOTS`, `SHARDS` and `nodes.conf`,
//! byte-identical to Redis 7.0 (reference §4.1 and §8).

use crate::bus::{flags, MessageType};
use crate::cluster::ClusterNode;
use crate::node::Node;
use crate::reply::Reply;
use crate::slot::{format_ranges, ranges_of, SlotSet, SLOT_COUNT};

/// Flag words in the order Redis prints them.
const FLAG_WORDS: [(u16, &str); 8] = [
    (flags::MYSELF, "myself"),
    (flags::MASTER, "master"),
    (flags::SLAVE, "slave"),
    (flags::PFAIL, "fail?"),
    (flags::FAIL, "fail"),
    (flags::HANDSHAKE, "handshake"),
    (flags::NOADDR, "noaddr"),
    (flags::NOFAILOVER, "nofailover"),
];

/// `myself,master` or `noflags`.
pub fn flags_text(bits: u16) -> String {
    let words: Vec<&str> = FLAG_WORDS
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, w)| *w)
        .collect();
    if words.is_empty() {
        "noflags".into()
    } else {
        words.join(",")
    }
}

/// The set's runs of consecutive slots, ascending, a 64-bit word at a time: a master's
/// thousands of contiguous slots cost a few hundred word tests instead of a step per slot.
/// Every `CLUSTER NODES` reply and every `nodes.conf` save renders them, so this is hot in
/// the simulator (same result as `SlotSet::ranges`).
fn slot_runs(set: &SlotSet) -> Vec<(u16, u16)> {
    let mut runs = Vec::new();
    let mut start: Option<usize> = None;
    for (i, chunk) in set.0.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8 bytes"));
        let base = i * 64;
        if word == u64::MAX {
            start.get_or_insert(base);
            continue;
        }
        if word == 0 {
            if let Some(s) = start.take() {
                runs.push((s as u16, (base - 1) as u16));
            }
            continue;
        }
        for bit in 0..64 {
            let slot = base + bit;
            match (word >> bit & 1 == 1, start) {
                (true, None) => start = Some(slot),
                (false, Some(s)) => {
                    runs.push((s as u16, (slot - 1) as u16));
                    start = None;
                }
                _ => {}
            }
        }
    }
    if let Some(s) = start {
        runs.push((s as u16, (SLOT_COUNT - 1) as u16));
    }
    runs
}

impl Node {
    /// One `CLUSTER NODES` line, without the trailing newline.
    pub(crate) fn node_line(&self, n: &ClusterNode) -> String {
        let master = match (n.is_replica(), n.master) {
            (true, Some(m)) => m.to_string(),
            _ => "-".into(),
        };
        // A replica shows its master's epoch.
        let epoch = n
            .master
            .filter(|_| n.is_replica())
            .and_then(|m| self.cluster.nodes.get(&m))
            .map_or(n.config_epoch, |m| m.config_epoch);
        let link = if n.has(flags::MYSELF) || n.link.is_some() {
            "connected"
        } else {
            "disconnected"
        };
        let mut line = format!(
            "{} {}:{}@{} {} {} {} {} {} {}",
            n.id,
            n.ip,
            n.port,
            n.cport,
            flags_text(n.flags),
            master,
            self.unix_ms_of(n.ping_sent_ms),
            self.unix_ms_of(n.pong_received_ms),
            epoch,
            link
        );
        if n.is_master() && !n.slots.is_empty() {
            line.push(' ');
            line.push_str(&format_ranges(&slot_runs(&n.slots)));
        }
        if n.has(flags::MYSELF) {
            for (slot, to) in &self.cluster.migrating {
                line.push_str(&format!(" [{slot}->-{to}]"));
            }
            for (slot, from) in &self.cluster.importing {
                line.push_str(&format!(" [{slot}-<-{from}]"));
            }
        }
        line
    }

    /// `CLUSTER NODES` text; `nodes.conf` leaves out nodes still in handshake.
    pub(crate) fn render_nodes(&self, for_config: bool) -> String {
        let mut out = String::new();
        for n in self.cluster.nodes.values() {
            if for_config && n.in_handshake() {
                continue;
            }
            out.push_str(&self.node_line(n));
            out.push('\n');
        }
        out
    }

    pub(crate) fn render_nodes_conf(&self) -> String {
        let mut out = self.render_nodes(true);
        out.push_str(&format!(
            "vars currentEpoch {} lastVoteEpoch {}\n",
            self.cluster.current_epoch, self.cluster.last_vote_epoch
        ));
        out
    }

    /// `CLUSTER INFO` text with `\r\n` line ends.
    pub(crate) fn render_cluster_info(&self) -> String {
        let c = &self.cluster;
        let (mut assigned, mut pfail, mut fail) = (0, 0, 0);
        for o in c.nodes.values() {
            let n = o.slots.count();
            assigned += n;
            if o.has(flags::FAIL) {
                fail += n;
            } else if o.has(flags::PFAIL) {
                pfail += n;
            }
        }
        let me = c.me();
        let my_epoch = me
            .master
            .filter(|_| me.is_replica())
            .and_then(|m| c.nodes.get(&m))
            .map_or(me.config_epoch, |m| m.config_epoch);
        let mut lines = vec![
            format!("cluster_state:{}", if c.state_ok { "ok" } else { "fail" }),
            format!("cluster_slots_assigned:{assigned}"),
            format!("cluster_slots_ok:{}", assigned - pfail - fail),
            format!("cluster_slots_pfail:{pfail}"),
            format!("cluster_slots_fail:{fail}"),
            format!("cluster_known_nodes:{}", c.nodes.len()),
            format!("cluster_size:{}", c.size),
            format!("cluster_current_epoch:{}", c.current_epoch),
            format!("cluster_my_epoch:{my_epoch}"),
        ];
        for (direction, counts) in [("sent", &c.stats_sent), ("received", &c.stats_received)] {
            for kind in MessageType::ALL {
                let count = counts[kind as usize];
                if count > 0 {
                    lines.push(format!(
                        "cluster_stats_messages_{}_{direction}:{count}",
                        kind.stats_name()
                    ));
                }
            }
            let total: u64 = counts.iter().sum();
            lines.push(format!("cluster_stats_messages_{direction}:{total}"));
        }
        lines.push("total_cluster_links_buffer_limit_exceeded:0".into());
        let mut text = lines.join("\r\n");
        text.push_str("\r\n");
        text
    }

    /// `[ip, port, id, {}]` as `CLUSTER SLOTS` lists a node.
    fn slots_node_entry(n: &ClusterNode) -> Reply {
        Reply::Array(vec![
            Reply::bulk_str(&n.ip),
            Reply::Integer(n.port as i64),
            Reply::bulk_str(n.id.as_str()),
            Reply::Map(vec![]),
        ])
    }

    /// Replicas of `master` that may serve reads (not failed).
    fn serving_replicas(&self, master: &ClusterNode) -> Vec<&ClusterNode> {
        self.cluster
            .nodes
            .values()
            .filter(|n| n.is_replica() && n.master == Some(master.id) && !n.has(flags::FAIL))
            .collect()
    }

    pub(crate) fn render_cluster_slots(&self) -> Reply {
        let mut entries = Vec::new();
        let mut slot = 0usize;
        while slot < SLOT_COUNT {
            let Some(owner) = self.cluster.slot_owner(slot as u16) else {
                slot += 1;
                continue;
            };
            let start = slot;
            while slot + 1 < SLOT_COUNT && self.cluster.slot_owner(slot as u16 + 1) == Some(owner) {
                slot += 1;
            }
            let master = &self.cluster.nodes[&owner];
            let mut entry = vec![
                Reply::Integer(start as i64),
                Reply::Integer(slot as i64),
                Self::slots_node_entry(master),
            ];
            entry.extend(
                self.serving_replicas(master)
                    .into_iter()
                    .map(Self::slots_node_entry),
            );
            entries.push(Reply::Array(entry));
            slot += 1;
        }
        Reply::Array(entries)
    }

    fn shard_node_entry(&self, n: &ClusterNode) -> Reply {
        let health = if n.has(flags::FAIL) { "fail" } else { "online" };
        let role = if n.is_master() { "master" } else { "replica" };
        Reply::Map(vec![
            (Reply::bulk_str("id"), Reply::bulk_str(n.id.as_str())),
            (Reply::bulk_str("port"), Reply::Integer(n.port as i64)),
            (Reply::bulk_str("ip"), Reply::bulk_str(&n.ip)),
            (Reply::bulk_str("endpoint"), Reply::bulk_str(&n.ip)),
            (Reply::bulk_str("role"), Reply::bulk_str(role)),
            (
                Reply::bulk_str("replication-offset"),
                Reply::Integer(n.repl_offset as i64),
            ),
            (Reply::bulk_str("health"), Reply::bulk_str(health)),
        ])
    }

    pub(crate) fn render_cluster_shards(&self) -> Reply {
        let masters = self.cluster.nodes.values().filter(|n| n.is_master());
        let shards = masters
            .map(|m| {
                let slots = ranges_of(m.slots.iter())
                    .into_iter()
                    .flat_map(|(a, b)| [Reply::Integer(a as i64), Reply::Integer(b as i64)])
                    .collect();
                let replicas = self
                    .cluster
                    .nodes
                    .values()
                    .filter(|n| n.is_replica() && n.master == Some(m.id));
                let nodes = std::iter::once(m)
                    .chain(replicas)
                    .map(|n| self.shard_node_entry(n))
                    .collect();
                Reply::Map(vec![
                    (Reply::bulk_str("slots"), Reply::Array(slots)),
                    (Reply::bulk_str("nodes"), Reply::Array(nodes)),
                ])
            })
            .collect();
        Reply::Array(shards)
    }
}

#[cfg(test)]
mod slot_run_tests {
    use super::*;

    #[test]
    fn word_runs_match_slot_by_slot_runs() {
        let sets: Vec<Vec<u16>> = vec![
            vec![],
            (0..16384).collect(),
            (0..=5460).collect(),
            (5461..=10922).collect(),
            (10923..16384).collect(),
            vec![0, 63, 64, 127, 128, 16383],
            (60..200).chain(300..301).chain(16000..16384).collect(),
            (0..16384).filter(|s| s % 3 != 0).collect(),
        ];
        for slots in sets {
            let mut set = SlotSet::default();
            for &s in &slots {
                set.insert(s);
            }
            assert_eq!(slot_runs(&set), set.ranges(), "{slots:?}");
        }
    }
}
