//! Parsing a node's `CLUSTER NODES` reply into its view of the cluster, and comparing views.
//!
//! Scenarios and invariants reason about what each node *believes* (who owns which slot, who is
//! master, who is failing), so they need the reply as data. Migrating/importing entries
//! (`[slot->-id]`) are kept apart from owned ranges.

use std::collections::BTreeMap;

use clusterlab_core::text::{NodesLine, SlotField};

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// One line of `CLUSTER NODES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLine {
    /// The 40-character node ID.
    pub id: String,
    /// `ip:port` (the part before `@`).
    pub addr: String,
    /// `ip:port@cport[,hostname]` as sent.
    pub raw_addr: String,
    /// The comma-separated flags as words (`myself`, `master`, `slave`, `fail?`, `fail`, …).
    pub flags: Vec<String>,
    /// The master's id, or `None` for `-`.
    pub master: Option<String>,
    /// When the pending ping to this node was sent, in Unix ms of the answering node's clock;
    /// 0 when none is pending.
    pub ping_sent_ms: u64,
    /// When the last pong from this node arrived, in Unix ms of the answering node's clock;
    /// 0 when none has.
    pub pong_recv_ms: u64,
    /// The config epoch the answering node knows for this node.
    pub config_epoch: u64,
    /// `connected` or `disconnected`: the answering node's bus link to this node.
    pub link_state: String,
    /// Owned slot ranges, inclusive.
    pub slots: Vec<(u16, u16)>,
    /// `[…]` entries, verbatim.
    pub open_slots: Vec<String>,
}

impl NodeLine {
    /// Whether `flag` is one of [`Self::flags`] (exact word).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether this is the answering node's own line.
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }

    /// Whether the line is flagged `master`.
    pub fn is_master(&self) -> bool {
        self.has_flag("master")
    }
}

/// Parses one line.
pub fn parse_line(line: &str) -> Result<NodeLine, String> {
    let fields: Vec<&str> = line.split(' ').collect();
    let Some(parsed) = NodesLine::from_fields(&fields) else {
        return Err(format!("fewer than 8 fields: {line:?}"));
    };
    let number = |i: usize, text: &str| -> Result<u64, String> {
        text.parse()
            .map_err(|_| format!("field {i} is not a number: {line:?}"))
    };
    let mut slots = Vec::new();
    let mut open_slots = Vec::new();
    for field in &parsed.slots {
        if field.starts_with('[') {
            open_slots.push(field.to_string());
        } else {
            let range = SlotField::parse(field).range();
            slots.push(range.ok_or_else(|| format!("bad slot range {field:?}"))?);
        }
    }
    Ok(NodeLine {
        id: parsed.id.to_string(),
        addr: parsed.host_port().to_string(),
        raw_addr: parsed.address.to_string(),
        flags: parsed.flag_words().map(str::to_string).collect(),
        master: parsed.master_id().map(str::to_string),
        ping_sent_ms: number(4, parsed.ping_sent)?,
        pong_recv_ms: number(5, parsed.pong_recv)?,
        config_epoch: number(6, parsed.config_epoch)?,
        link_state: parsed.link_state.to_string(),
        slots,
        open_slots,
    })
}

/// Parses a whole reply (one line per node, `\n`-terminated).
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeLine>, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(parse_line)
        .collect()
}

/// The owner id of every slot in one node's view (`None` = unassigned). A slot claimed by two
/// lines is an error: one view must never give a slot two owners.
pub fn slot_owners(lines: &[NodeLine]) -> Result<Vec<Option<String>>, String> {
    let mut owners: Vec<Option<String>> = vec![None; SLOTS];
    for line in lines {
        for &(lo, hi) in &line.slots {
            let range = usize::from(lo)..=usize::from(hi);
            for (owner, slot) in owners[range.clone()].iter_mut().zip(range) {
                if let Some(other) = owner {
                    return Err(format!("slot {slot} claimed by {other} and {}", line.id));
                }
                *owner = Some(line.id.clone());
            }
        }
    }
    Ok(owners)
}

/// `id → ranges` summary of a view (`a…: 0-5460`), used as evidence in violations.
pub fn describe_owners(owners: &[Option<String>]) -> String {
    let mut ranges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut start = 0;
    for slot in 1..=owners.len() {
        if slot == owners.len() || owners[slot] != owners[start] {
            let owner = owners[start]
                .as_deref()
                .map_or("unassigned".to_string(), |id| id.chars().take(8).collect());
            let range = clusterlab_core::text::range_text(start, slot - 1);
            ranges.entry(owner).or_default().push(range);
            start = slot;
        }
    }
    let parts: Vec<String> = ranges
        .into_iter()
        .map(|(owner, r)| format!("{owner}: {}", r.join(",")))
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TUTORIAL: &str = "\
f2bcff12612ab068b68f48bc46de575895b947e5 127.0.0.1:7003@17003 master - 0 1555065315455 3 connected 10923-16383
433e9fbd5a51a829bfbf87a8d1755c78f852f0d2 127.0.0.1:7002@17002 master - 0 1555065313450 2 connected 5461-10922
995c0743f7e499b2b6af8e808c148d200f40bb6e 127.0.0.1:7001@17001 myself,master - 0 1555065312000 1 connected 0-5460
";

    #[test]
    fn parses_the_tutorial_reply() {
        let lines = parse_cluster_nodes(TUTORIAL).unwrap();
        assert_eq!(lines.len(), 3);
        let me = &lines[2];
        assert_eq!(me.id, "995c0743f7e499b2b6af8e808c148d200f40bb6e");
        assert_eq!(me.addr, "127.0.0.1:7001");
        assert_eq!(me.raw_addr, "127.0.0.1:7001@17001");
        assert!(me.is_myself() && me.is_master());
        assert_eq!(me.master, None);
        assert_eq!((me.ping_sent_ms, me.pong_recv_ms), (0, 1555065312000));
        assert_eq!(me.config_epoch, 1);
        assert_eq!(me.link_state, "connected");
        assert_eq!(me.slots, vec![(0, 5460)]);

        let owners = slot_owners(&lines).unwrap();
        assert_eq!(owners[12539].as_deref(), Some(lines[0].id.as_str()));
        assert!(owners.iter().all(Option::is_some));
        assert_eq!(
            describe_owners(&owners),
            "433e9fbd: 5461-10922; 995c0743: 0-5460; f2bcff12: 10923-16383"
        );
    }

    #[test]
    fn open_slots_single_slots_and_errors() {
        let line = parse_line(
            "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0 2-3 [4->-b] [5-<-c]",
        )
        .unwrap();
        assert_eq!(line.slots, vec![(0, 0), (2, 3)]);
        assert_eq!(line.open_slots, vec!["[4->-b]", "[5-<-c]"]);
        let owners = slot_owners(std::slice::from_ref(&line)).unwrap();
        assert_eq!(describe_owners(&owners[..6]), "a: 0,2-3; unassigned: 1,4-5");

        assert!(parse_line("a b c").is_err());
        assert!(parse_line("a 1:2@3 master - x 0 1 connected").is_err());
        assert!(parse_line("a 1:2@3 master - 0 0 1 connected 5-4").is_err());
        assert!(parse_line("a 1:2@3 master - 0 0 1 connected 16384").is_err());

        let twice = parse_cluster_nodes(
            "a 1:2@3 master - 0 0 1 connected 0-10\nb 1:3@4 master - 0 0 2 connected 10\n",
        )
        .unwrap();
        assert!(slot_owners(&twice).unwrap_err().contains("slot 10"));
    }
}
