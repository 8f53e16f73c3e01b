//! The text and reply shapes of `CLUSTER NODES`, `INFO`, `SLOTS`, `SHARDS` and `nodes.conf`,
//! byte-identical to Redis 7.0 (reference §4.1 and §8).
//!
//! Rendering reads only the cluster state and the clock (ping and pong times are shown as unix
//! ms), so it runs on a `ClusterView` borrowing exactly those, not on the node.

use std::fmt::Write as _;

use crate::bus::{flags, MessageType};
use crate::cluster::ClusterNode;
use crate::effect::Time;
use crate::reply::Reply;
use crate::slot::{ranges_of, SlotSet, SLOT_COUNT};

/// Converts a monotonic timestamp to the unix-ms value Redis shows at `now` (0 stays 0).
pub(crate) fn unix_ms_of(mono_ms: u64, now: Time) -> u64 {
    if mono_ms == 0 {
        return 0;
    }
    (mono_ms as i64 + clock_offset_ms(now)).max(0) as u64
}

/// How far the unix clock is ahead of the monotonic one.
pub(crate) fn clock_offset_ms(now: Time) -> i64 {
    now.unix_ms as i64 - now.mono_ms as i64
}

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
    let mut text = String::new();
    push_flags(&mut text, bits);
    text
}

fn push_flags(out: &mut String, bits: u16) {
    let mut any = false;
    for (bit, word) in FLAG_WORDS {
        if bits & bit != 0 {
            if any {
                out.push(',');
            }
            out.push_str(word);
            any = true;
        }
    }
    if !any {
        out.push_str("noflags");
    }
}

/// Appends `value` in decimal. `CLUSTER NODES` and `CLUSTER INFO` are mostly numbers and the
/// simulator asks for them all the time; this skips the formatting machinery.
fn push_u64(out: &mut String, value: u64) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// One `name:value\r\n` line of an INFO text; the name comes in pieces.
fn push_field(out: &mut String, name: &[&str], value: u64) {
    for piece in name {
        out.push_str(piece);
    }
    out.push(':');
    push_u64(out, value);
    out.push_str("\r\n");
}

/// `0-5460 7 9-10`, as `format_ranges(&slot_runs(set))` gives, appended to `out`.
fn push_slot_runs(out: &mut String, set: &SlotSet) {
    let mut first = true;
    for_each_slot_run(set, |start, end| {
        if !first {
            out.push(' ');
        }
        first = false;
        crate::text::push_range(out, start, end);
    });
}

/// The set's runs of consecutive slots, ascending (same result as `SlotSet::ranges`). Every
/// `CLUSTER NODES` reply and every `nodes.conf` save renders them, so this is hot in the
/// simulator: it jumps from run edge to run edge a 64-bit word at a time, so a master's
/// thousands of contiguous slots, or slots scattered by resharding, cost a step per run and
/// per word rather than per slot.
#[cfg(test)]
fn slot_runs(set: &SlotSet) -> Vec<(u16, u16)> {
    let mut runs = Vec::new();
    for_each_slot_run(set, |start, end| runs.push((start, end)));
    runs
}

fn for_each_slot_run(set: &SlotSet, mut run: impl FnMut(u16, u16)) {
    const WORDS: usize = SLOT_COUNT / 64;
    let word = |i: usize| {
        let bytes: [u8; 8] = set.0[i * 8..i * 8 + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(bytes)
    };
    // The first slot at or after `from` whose bit is `bit`, or SLOT_COUNT.
    let next = |from: usize, bit: bool| -> usize {
        let mut i = from / 64;
        if i >= WORDS {
            return SLOT_COUNT;
        }
        let flip = if bit { 0 } else { u64::MAX };
        let mut w = (word(i) ^ flip) & (u64::MAX << (from % 64));
        while w == 0 {
            i += 1;
            if i == WORDS {
                return SLOT_COUNT;
            }
            w = word(i) ^ flip;
        }
        i * 64 + w.trailing_zeros() as usize
    };
    let mut at = 0;
    loop {
        let start = next(at, true);
        if start == SLOT_COUNT {
            return;
        }
        let end = next(start, false);
        run(start as u16, (end - 1) as u16);
        at = end;
    }
}

/// The cluster as of one instant, for rendering.
pub(crate) struct ClusterView<'a> {
    pub cluster: &'a super::Cluster,
    pub now: Time,
}

impl ClusterView<'_> {
    /// Converts a monotonic timestamp to the unix-ms value Redis shows (0 stays 0).
    pub(crate) fn unix_ms_of(&self, mono_ms: u64) -> u64 {
        unix_ms_of(mono_ms, self.now)
    }

    /// One `CLUSTER NODES` line, without the trailing newline.
    pub(crate) fn node_line(&self, n: &ClusterNode) -> String {
        let mut line = String::with_capacity(160);
        self.push_node_line(&mut line, n);
        line
    }

    fn push_node_line(&self, line: &mut String, n: &ClusterNode) {
        line.push_str(n.id.as_str());
        line.push(' ');
        line.push_str(&n.ip);
        line.push(':');
        push_u64(line, n.port.into());
        line.push('@');
        push_u64(line, n.cport.into());
        if !n.hostname.is_empty() {
            line.push(',');
            line.push_str(&n.hostname);
        }
        line.push(' ');
        push_flags(line, n.flags);
        line.push(' ');
        match (n.is_replica(), n.master) {
            (true, Some(m)) => line.push_str(m.as_str()),
            _ => line.push('-'),
        }
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
        for number in [
            self.unix_ms_of(n.ping_sent_ms),
            self.unix_ms_of(n.pong_received_ms),
            epoch,
        ] {
            line.push(' ');
            push_u64(line, number);
        }
        line.push(' ');
        line.push_str(link);
        if n.is_master() && !n.slots.is_empty() {
            line.push(' ');
            push_slot_runs(line, &n.slots);
        }
        if n.has(flags::MYSELF) {
            for (slot, to) in &self.cluster.migrating {
                let _ = write!(line, " [{slot}->-{to}]");
            }
            for (slot, from) in &self.cluster.importing {
                let _ = write!(line, " [{slot}-<-{from}]");
            }
        }
    }

    /// `CLUSTER NODES` text; `nodes.conf` leaves out nodes still in handshake.
    pub(crate) fn render_nodes(&self, for_config: bool) -> String {
        let mut out = String::with_capacity(self.cluster.nodes.len() * 160);
        for n in self.cluster.nodes.values() {
            if for_config && n.in_handshake() {
                continue;
            }
            self.push_node_line(&mut out, n);
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
        let (mut pfail, mut fail) = (0, 0);
        for (id, count) in c.slot_counts() {
            let Some(o) = c.nodes.get(&id) else { continue };
            if o.has(flags::FAIL) {
                fail += count;
            } else if o.has(flags::PFAIL) {
                pfail += count;
            }
        }
        let assigned = c.assigned_slot_count();
        let me = c.me();
        let my_epoch = me
            .master
            .filter(|_| me.is_replica())
            .and_then(|m| c.nodes.get(&m))
            .map_or(me.config_epoch, |m| m.config_epoch);
        let mut text = String::with_capacity(1024);
        let state = if c.state_ok { "ok" } else { "fail" };
        text.push_str("cluster_state:");
        text.push_str(state);
        text.push_str("\r\n");
        push_field(&mut text, &["cluster_slots_assigned"], assigned as u64);
        push_field(
            &mut text,
            &["cluster_slots_ok"],
            (assigned - pfail - fail) as u64,
        );
        push_field(&mut text, &["cluster_slots_pfail"], pfail as u64);
        push_field(&mut text, &["cluster_slots_fail"], fail as u64);
        push_field(&mut text, &["cluster_known_nodes"], c.nodes.len() as u64);
        push_field(&mut text, &["cluster_size"], c.size as u64);
        push_field(&mut text, &["cluster_current_epoch"], c.current_epoch);
        push_field(&mut text, &["cluster_my_epoch"], my_epoch);
        for (direction, counts) in [("sent", &c.stats_sent), ("received", &c.stats_received)] {
            for kind in MessageType::ALL {
                let count = counts[kind as usize];
                if count > 0 {
                    let name = ["cluster_stats_messages_", kind.stats_name(), "_", direction];
                    push_field(&mut text, &name, count);
                }
            }
            let name = ["cluster_stats_messages_", direction];
            push_field(&mut text, &name, counts.iter().sum());
        }
        let exceeded = c.links_buffer_limit_exceeded();
        push_field(
            &mut text,
            &["total_cluster_links_buffer_limit_exceeded"],
            exceeded,
        );
        text
    }

    /// Replicas of `master` that may serve reads: not failed, and with data (a replica with
    /// offset 0 is loading or never synced; Redis 7.0's `isReplicaAvailable`).
    fn serving_replicas(&self, master: &ClusterNode) -> Vec<&ClusterNode> {
        self.cluster
            .nodes
            .values()
            .filter(|n| n.is_replica() && n.master == Some(master.id) && !n.has(flags::FAIL))
            .filter(|n| self.cluster.announced_offset(n) != 0)
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
                self.cluster.slots_node_entry(master),
            ];
            entry.extend(
                self.serving_replicas(master)
                    .into_iter()
                    .map(|r| self.cluster.slots_node_entry(r)),
            );
            entries.push(Reply::Array(entry));
            slot += 1;
        }
        Reply::Array(entries)
    }

    /// One node of a `CLUSTER SHARDS` shard. A replica whose offset is still 0 has not
    /// finished its first sync: Redis reports it `loading`.
    fn shard_node_entry(&self, n: &ClusterNode) -> Reply {
        let offset = self.cluster.announced_offset(n);
        let health = if n.has(flags::FAIL) {
            "fail"
        } else if n.is_replica() && offset == 0 {
            "loading"
        } else {
            "online"
        };
        let role = if n.is_replica() { "replica" } else { "master" };
        let endpoint = self.cluster.preferred_endpoint_of(n);
        let mut fields = vec![
            (Reply::bulk_str("id"), Reply::bulk_str(n.id.as_str())),
            (Reply::bulk_str("port"), Reply::Integer(n.port as i64)),
            (Reply::bulk_str("ip"), Reply::bulk_str(&n.ip)),
            (Reply::bulk_str("endpoint"), Reply::bulk_str(endpoint)),
        ];
        if !n.hostname.is_empty() {
            fields.push((Reply::bulk_str("hostname"), Reply::bulk_str(&n.hostname)));
        }
        fields.extend([
            (Reply::bulk_str("role"), Reply::bulk_str(role)),
            (
                Reply::bulk_str("replication-offset"),
                Reply::Integer(offset as i64),
            ),
            (Reply::bulk_str("health"), Reply::bulk_str(health)),
        ]);
        Reply::Map(fields)
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
            (0..16384).filter(|s| s % 7 < 3).collect(),
            (0..16384).filter(|s| s % 130 > 60).collect(),
            vec![16383],
            vec![62, 63, 64, 65, 16320, 16321],
            (1..16383).collect(),
        ];
        for slots in sets {
            let mut set = SlotSet::default();
            for &s in &slots {
                set.insert(s);
            }
            assert_eq!(slot_runs(&set), set.ranges(), "{slots:?}");
            let mut text = String::new();
            push_slot_runs(&mut text, &set);
            assert_eq!(text, crate::slot::format_ranges(&set.ranges()), "{slots:?}");
        }
    }

    #[test]
    fn numbers_and_flags_render_like_format() {
        for value in [0, 7, 9, 10, 99, 100, 16383, 1_700_000_000_123, u64::MAX] {
            let mut text = String::from("x");
            push_u64(&mut text, value);
            assert_eq!(text, format!("x{value}"));
        }
        assert_eq!(flags_text(0), "noflags");
        assert_eq!(flags_text(flags::MYSELF | flags::MASTER), "myself,master");
        assert_eq!(
            flags_text(flags::SLAVE | flags::PFAIL | flags::FAIL | flags::NOFAILOVER),
            "slave,fail?,fail,nofailover"
        );
    }
}
