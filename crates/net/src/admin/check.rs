//! `check`: what `redis-cli --cluster check` verifies, as data — whether every node's
//! `CLUSTER NODES` gives the same slot configuration, which slots are open (a `[…]` entry on
//! some myself line), which slots nobody claims — plus redis-cli's printed lines, so the CLI
//! can show them verbatim and exit 1 when anything is wrong.

use super::topology::{format_ranges, Topology};
use super::*;
use clusterlab_core::slot::SLOT_COUNT;
use std::collections::BTreeSet;

/// The outcome of a check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Every loaded node's join signature is the same.
    pub agree: bool,
    /// `(addr, slots)` of masters with slots in migrating state.
    pub migrating: Vec<(String, Vec<u16>)>,
    /// `(addr, slots)` of masters with slots in importing state.
    pub importing: Vec<(String, Vec<u16>)>,
    /// Every slot that is migrating or importing somewhere, ascending.
    pub open_slots: Vec<u16>,
    /// Slots no node claims on its myself line, ascending.
    pub uncovered: Vec<u16>,
    /// Listed nodes that could not be reached (not counted as a problem by themselves).
    pub unreachable: Vec<String>,
    /// redis-cli's output lines.
    pub lines: Vec<String>,
}

impl CheckReport {
    /// No disagreement, no open slot, full coverage.
    pub fn is_ok(&self) -> bool {
        self.agree && self.open_slots.is_empty() && self.uncovered.is_empty()
    }

    /// The printed report, one line each.
    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
}

/// Loads the cluster from `addr` and checks it.
pub async fn check(addr: &str) -> Result<CheckReport, AdminError> {
    let topology = super::load(addr).await?;
    Ok(analyze(&topology))
}

/// The check of an already loaded topology (pure).
pub fn analyze(topology: &Topology) -> CheckReport {
    let mut report = CheckReport {
        unreachable: topology.unreachable.clone(),
        ..CheckReport::default()
    };
    let entry = topology.nodes.first().map_or("", |n| n.addr.as_str());
    report
        .lines
        .push(format!(">>> Performing Cluster Check (using node {entry})"));
    describe_nodes(topology, &mut report.lines);
    for unreachable in &topology.unreachable {
        report
            .lines
            .push(format!("*** Node {unreachable} (unreachable, skipped)"));
    }
    let signatures: Vec<Option<String>> = topology
        .nodes
        .iter()
        .map(|n| join_signature(&n.nodes_text))
        .collect();
    report.agree = signatures_agree(&signatures);
    report.lines.push(if report.agree {
        "[OK] All nodes agree about slots configuration.".to_string()
    } else {
        "[ERR] Nodes don't agree about configuration!".to_string()
    });
    check_open_slots(topology, &mut report);
    check_coverage(topology, &mut report);
    report
}

/// redis-cli's `M:`/`S:` listing of every node.
fn describe_nodes(topology: &Topology, lines: &mut Vec<String>) {
    for node in &topology.nodes {
        let role = if node.is_master() { "M" } else { "S" };
        lines.push(format!("{role}: {} {}", node.id, node.addr));
        let ranges = format_ranges(node.slots.iter().copied());
        let kind = if node.is_master() { "master" } else { "slave" };
        let slots = if ranges.is_empty() {
            format!("   slots: ({} slots) {kind}", node.slots.len())
        } else {
            format!("   slots:[{ranges}] ({} slots) {kind}", node.slots.len())
        };
        lines.push(slots);
        if let Some(master) = &node.master_id {
            lines.push(format!("   replicates {master}"));
        }
        let replicas = topology.replicas_of(&node.id).len();
        if node.is_master() && replicas > 0 {
            lines.push(format!("   {replicas} additional replica(s)"));
        }
    }
}

fn check_open_slots(topology: &Topology, report: &mut CheckReport) {
    report.lines.push(">>> Check for open slots...".to_string());
    let mut open = BTreeSet::new();
    for node in topology.nodes.iter().filter(|n| n.is_master()) {
        if !node.migrating.is_empty() {
            let slots: Vec<u16> = node.migrating.keys().copied().collect();
            report.lines.push(format!(
                "[WARNING] Node {} has slots in migrating state {}.",
                node.addr,
                join_slots(&slots)
            ));
            open.extend(slots.iter().copied());
            report.migrating.push((node.addr.clone(), slots));
        }
        if !node.importing.is_empty() {
            let slots: Vec<u16> = node.importing.keys().copied().collect();
            report.lines.push(format!(
                "[WARNING] Node {} has slots in importing state {}.",
                node.addr,
                join_slots(&slots)
            ));
            open.extend(slots.iter().copied());
            report.importing.push((node.addr.clone(), slots));
        }
    }
    report.open_slots = open.into_iter().collect();
    if !report.open_slots.is_empty() {
        report.lines.push(format!(
            "[WARNING] The following slots are open: {}.",
            join_slots(&report.open_slots)
        ));
    }
}

fn check_coverage(topology: &Topology, report: &mut CheckReport) {
    report.lines.push(">>> Check slots coverage...".to_string());
    let mut covered = vec![false; SLOT_COUNT];
    for node in &topology.nodes {
        for &slot in &node.slots {
            covered[usize::from(slot)] = true;
        }
    }
    report.uncovered = (0..SLOT_COUNT as u16)
        .filter(|&s| !covered[usize::from(s)])
        .collect();
    report.lines.push(if report.uncovered.is_empty() {
        format!("[OK] All {SLOT_COUNT} slots covered.")
    } else {
        format!("[ERR] Not all {SLOT_COUNT} slots are covered by nodes.")
    });
}

/// Slots as redis-cli lists open slots: each one, joined by `,`.
fn join_slots(slots: &[u16]) -> String {
    slots
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::super::topology::describe_myself;
    use super::*;

    const A: &str = "a1 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460\n\
b2 10.0.0.2:7002@17002 master - 0 0 2 connected 5461-10922\n\
c3 10.0.0.3:7003@17003 master - 0 0 3 connected 10923-16383\n";

    fn topology(texts: &[(&str, &str)]) -> Topology {
        let nodes = texts
            .iter()
            .map(|(text, addr)| describe_myself(text, addr).expect("myself"))
            .collect();
        Topology::offline(nodes)
    }

    fn as_myself(text: &str, id: &str) -> String {
        text.lines()
            .map(|l| {
                let l = l.replace("myself,", "");
                if l.starts_with(id) {
                    l.replacen(" master ", " myself,master ", 1)
                } else {
                    l
                }
            })
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn clean_cluster_passes_with_redis_cli_lines() {
        let (b, c) = (as_myself(A, "b2"), as_myself(A, "c3"));
        let t = topology(&[
            (A, "10.0.0.1:7001"),
            (&b, "10.0.0.2:7002"),
            (&c, "10.0.0.3:7003"),
        ]);
        let report = analyze(&t);
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(
            report.lines,
            vec![
                ">>> Performing Cluster Check (using node 10.0.0.1:7001)",
                "M: a1 10.0.0.1:7001",
                "   slots:[0-5460] (5461 slots) master",
                "M: b2 10.0.0.2:7002",
                "   slots:[5461-10922] (5462 slots) master",
                "M: c3 10.0.0.3:7003",
                "   slots:[10923-16383] (5461 slots) master",
                "[OK] All nodes agree about slots configuration.",
                ">>> Check for open slots...",
                ">>> Check slots coverage...",
                "[OK] All 16384 slots covered.",
            ]
        );
    }

    #[test]
    fn open_slot_and_uncovered_slots_are_reported() {
        let b = as_myself(A, "b2");
        let c = as_myself(A, "c3").replace("10923-16383", "10923-12538 12540-16383 [12539->-a1]");
        let t = topology(&[
            (A, "10.0.0.1:7001"),
            (&b, "10.0.0.2:7002"),
            (&c, "10.0.0.3:7003"),
        ]);
        let report = analyze(&t);
        assert!(!report.is_ok());
        assert!(!report.agree, "c3 no longer claims 12539");
        assert_eq!(report.open_slots, vec![12539]);
        assert_eq!(report.uncovered, vec![12539]);
        assert_eq!(
            report.migrating,
            vec![("10.0.0.3:7003".to_string(), vec![12539])]
        );
        for want in [
            "[ERR] Nodes don't agree about configuration!",
            "[WARNING] Node 10.0.0.3:7003 has slots in migrating state 12539.",
            "[WARNING] The following slots are open: 12539.",
            "[ERR] Not all 16384 slots are covered by nodes.",
        ] {
            assert!(
                report.lines.iter().any(|l| l == want),
                "{want} in {report:?}"
            );
        }
    }
}
