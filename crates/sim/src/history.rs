//! Judging what a key reads back against the writes a [`WriteHistory`] recorded, as a
//! linearizable register: the final value must come from a write that could have been the
//! last one applied.
//!
//! An indeterminate write (timed out, connection lost) may take effect at any moment after it
//! was sent — also long after the client gave up and after later writes were acknowledged:
//! its bytes can still sit in a TCP send buffer, and madsim's links, like real TCP, deliver
//! them once a clogged path clears. So an indeterminate write is always a legal final value.
//! An acknowledged write is a legal final value unless some other acknowledged write started
//! after it finished (that one must be ordered later, so it would win). Nothing in the
//! workload deletes keys, so an absent key is legal only if no write to it was acknowledged.

use std::collections::BTreeMap;

use crate::workload::{op_of_value, WriteHistory, WriteOp, WriteOutcome};

/// What reading one key shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterCheck {
    /// The key read.
    pub key: String,
    /// The operation whose value was read (`None`: absent, or a phantom).
    pub visible: Option<usize>,
    /// Acknowledged writes that a linearizable register could not have lost, given what was
    /// read: they had to be ordered after the visible write.
    pub lost_acked: Vec<usize>,
    /// A value no accepted write to this key carried.
    pub phantom: Option<String>,
}

impl RegisterCheck {
    /// Whether the read is legal: no acknowledged write lost and no phantom value.
    pub fn ok(&self) -> bool {
        self.lost_acked.is_empty() && self.phantom.is_none()
    }
}

/// Until when `op` may have taken effect (µs): its end if acknowledged, forever otherwise.
fn effective_end_us(op: &WriteOp) -> u64 {
    match op.outcome {
        WriteOutcome::Acked => op.end_us,
        WriteOutcome::Indeterminate(_) | WriteOutcome::Rejected(_) => u64::MAX,
    }
}

/// Judges `read` for `key` (see the module docs).
///
/// ```
/// use clusterlab_sim::history::check_register;
/// use clusterlab_sim::workload::{WriteHistory, WriteOp, WriteOutcome};
///
/// let op = |id: usize, start_ms: u64, outcome: WriteOutcome| WriteOp {
///     id,
///     key: "k".to_string(),
///     value: format!("v{id}"),
///     start_us: start_ms * 1000,
///     end_us: start_ms * 1000 + 500,
///     addr: "10.0.0.1:7001".to_string(),
///     outcome,
/// };
/// let timed_out = WriteOutcome::Indeterminate("timed out".to_string());
/// let history = WriteHistory {
///     ops: vec![op(0, 0, WriteOutcome::Acked), op(1, 10, WriteOutcome::Acked), op(2, 20, timed_out)],
/// };
/// assert!(check_register(&history, "k", Some("v1")).ok());
/// // A timed-out write may land at any time, so it is a legal final value.
/// assert!(check_register(&history, "k", Some("v2")).ok());
/// // v1 started after v0 was acknowledged: reading v0 back means v1 was lost.
/// assert_eq!(check_register(&history, "k", Some("v0")).lost_acked, vec![1]);
/// assert_eq!(check_register(&history, "k", None).lost_acked, vec![0, 1]);
/// assert_eq!(check_register(&history, "k", Some("v9")).phantom.as_deref(), Some("v9"));
/// ```
pub fn check_register(history: &WriteHistory, key: &str, read: Option<&str>) -> RegisterCheck {
    let writes: Vec<&WriteOp> = history.ops.iter().filter(|op| op.key == key).collect();
    let acked = writes.iter().filter(|op| op.is_acked());
    let mut check = RegisterCheck {
        key: key.to_string(),
        visible: None,
        lost_acked: Vec::new(),
        phantom: None,
    };
    let Some(value) = read else {
        check.lost_acked = acked.map(|op| op.id).collect();
        return check;
    };
    let source = op_of_value(value).and_then(|id| writes.iter().find(|op| op.id == id));
    let source = match source {
        Some(op) if !matches!(op.outcome, WriteOutcome::Rejected(_)) => op,
        _ => {
            check.phantom = Some(value.to_string());
            return check;
        }
    };
    check.visible = Some(source.id);
    let end_us = effective_end_us(source);
    check.lost_acked = acked
        .filter(|op| op.id != source.id && op.start_us > end_us)
        .map(|op| op.id)
        .collect();
    check
}

/// [`check_register`] for every key the history wrote (`reads[key]`; a key missing from
/// `reads` reads as absent), in key order.
pub fn check_reads(
    history: &WriteHistory,
    reads: &BTreeMap<String, Option<String>>,
) -> Vec<RegisterCheck> {
    history
        .keys()
        .iter()
        .map(|key| check_register(history, key, reads.get(key).and_then(|v| v.as_deref())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::value_for;

    fn op(id: usize, key: &str, start_ms: u64, end_ms: u64, outcome: WriteOutcome) -> WriteOp {
        WriteOp {
            id,
            key: key.to_string(),
            value: value_for(id),
            start_us: start_ms * 1000,
            end_us: end_ms * 1000,
            addr: "10.0.0.1:7001".to_string(),
            outcome,
        }
    }

    fn history() -> WriteHistory {
        use WriteOutcome::*;
        WriteHistory {
            ops: vec![
                op(0, "k", 0, 1, Acked),
                // Sent while the node was cut off; timed out at 1001 ms.
                op(1, "k", 1, 1001, Indeterminate("request timed out".into())),
                op(2, "k", 2000, 2001, Acked),
                op(3, "k", 3000, 3001, Rejected("CLUSTERDOWN".into())),
                op(4, "j", 3100, 3101, Acked),
            ],
        }
    }

    #[test]
    fn a_late_indeterminate_write_may_win() {
        // The timed-out write landed after write 2 was acknowledged: legal.
        let c = check_register(&history(), "k", Some("v1"));
        assert!(c.ok(), "{c:?}");
        assert_eq!(c.visible, Some(1));
        // The last acknowledged write is fine too.
        assert!(check_register(&history(), "k", Some("v2")).ok());
    }

    #[test]
    fn an_overwritten_acked_value_loses_the_later_acked_write() {
        let c = check_register(&history(), "k", Some("v0"));
        assert_eq!((c.visible, c.lost_acked.clone()), (Some(0), vec![2]));
        assert!(!c.ok());
    }

    #[test]
    fn absent_phantom_and_rejected_values() {
        let absent = check_register(&history(), "k", None);
        assert_eq!(absent.lost_acked, vec![0, 2]);
        for bad in ["v3", "v4", "v99", "x"] {
            let c = check_register(&history(), "k", Some(bad));
            assert_eq!(c.phantom.as_deref(), Some(bad), "{c:?}");
            assert!(c.lost_acked.is_empty());
        }
        assert!(check_register(&history(), "never", None).ok());
    }

    #[test]
    fn overlapping_acked_writes_may_land_in_either_order() {
        use WriteOutcome::*;
        let h = WriteHistory {
            ops: vec![op(0, "k", 0, 10, Acked), op(1, "k", 5, 8, Acked)],
        };
        assert!(check_register(&h, "k", Some("v0")).ok());
        assert!(check_register(&h, "k", Some("v1")).ok());
    }

    #[test]
    fn check_reads_covers_every_key() {
        let reads = BTreeMap::from([("k".to_string(), Some("v2".to_string()))]);
        let checks = check_reads(&history(), &reads);
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].key, "j");
        assert_eq!(checks[0].lost_acked, vec![4]);
        assert!(checks[1].ok());
    }
}
