//! Names in the trace: node indexes and addresses as lane names, and the node names and
//! moments a violation's evidence mentions.

use crate::faults::Fault;
use crate::node_idx::NodeIdx;

/// What a fault is called on the lanes of the nodes it names (`None`: the node's own
/// process events show it).
pub(super) fn lane_label(fault: &Fault) -> Option<&'static str> {
    Some(match fault {
        Fault::Partition { .. } => "partition",
        Fault::Restart { .. } => "restart",
        Fault::ClogLink { .. } => "clog link",
        Fault::UnclogLink { .. } => "unclog link",
        Fault::ClogNode { .. } => "clog",
        Fault::UnclogNode { .. } => "unclog",
        Fault::WipeRestart { .. } => "wipe and restart",
        Fault::ManualFailover { .. } => "manual failover",
        Fault::MoveSlots { .. } => "move",
        Fault::ClientPartition { .. } => "clients cut",
        Fault::DiskError { .. } => "disk error",
        Fault::DiskRepair { .. } => "disk repaired",
        Fault::SlowDisk { fsync_ms: 0, .. } => "disk fast again",
        Fault::SlowDisk { .. } => "slow disk",
        Fault::Crash { .. }
        | Fault::Pause { .. }
        | Fault::Heal
        | Fault::ClientHeal
        | Fault::Latency { .. }
        | Fault::PacketLoss { .. }
        | Fault::ClockJump { .. }
        | Fault::ClockDrift { .. } => return None,
    })
}

/// Every `nodeN` named in `text`, in order of appearance, without repeats.
pub(super) fn nodes_named(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("node") {
        let start = i + pos;
        let mut end = start + 4;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if end > start + 4 && before_ok {
            let name = text[start..end].to_string();
            if !found.contains(&name) {
                found.push(name);
            }
        }
        i = end.max(start + 4);
    }
    found
}

/// `10.0.0.N:port` (the simulator's addressing) → `nodeN`.
pub fn node_of_addr(addr: &str) -> Option<String> {
    NodeIdx::from_addr(addr).map(NodeIdx::name)
}

/// Times written as `12.345s` in `text`, in µs.
pub(super) fn times_named(text: &str) -> Vec<u64> {
    let mut times = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "(),;[]".contains(c)) {
        let Some(number) = word.strip_suffix('s') else {
            continue;
        };
        let Some((secs, millis)) = number.split_once('.') else {
            continue;
        };
        if secs.is_empty() || millis.len() != 3 {
            continue;
        }
        if let (Ok(s), Ok(ms)) = (secs.parse::<u64>(), millis.parse::<u64>()) {
            times.push(s * 1_000_000 + ms * 1000);
        }
    }
    times
}

/// Whether a lane belongs to a node (rather than the faults, workload or harness lane).
pub(super) fn is_node_lane(name: &str) -> bool {
    NodeIdx::from_name(name).is_some()
}
