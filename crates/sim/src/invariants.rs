//! Named invariants over the nodes' `CLUSTER NODES` views. Each returns the violations it finds,
//! with the evidence a person needs to start debugging (which node, which line, which numbers).
//!
//! They are pure functions of parsed views (and a clock reading), so they are unit-tested here
//! and reused by every scenario.

use crate::report::Violation;
use crate::view::{describe_owners, slot_owners, NodeLine};

/// Every view lists `node_count` nodes with exactly one `myself` line; no view gives a slot two
/// owners; every view covers all 16384 slots; all views agree on every slot's owner.
///
/// Names: `view_membership`, `slot_double_owner`, `slot_coverage`, `slot_agreement`.
pub fn views_agree(views: &[(String, Vec<NodeLine>)], node_count: usize) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut reference: Option<(&str, Vec<Option<String>>)> = None;
    for (name, lines) in views {
        let myself = lines.iter().filter(|l| l.is_myself()).count();
        if lines.len() != node_count || myself != 1 {
            violations.push(Violation::new(
                "view_membership",
                format!(
                    "{name} lists {} nodes ({myself} myself), want {node_count} (1)",
                    lines.len()
                ),
            ));
        }
        let owners = match slot_owners(lines) {
            Ok(o) => o,
            Err(e) => {
                violations.push(Violation::new("slot_double_owner", format!("{name}: {e}")));
                continue;
            }
        };
        if owners.iter().any(Option::is_none) {
            violations.push(Violation::new(
                "slot_coverage",
                format!("{name}: {}", describe_owners(&owners)),
            ));
        }
        match &reference {
            None => reference = Some((name, owners)),
            Some((first, first_owners)) if *first_owners != owners => {
                violations.push(Violation::new(
                    "slot_agreement",
                    format!(
                        "{first}: {} | {name}: {}",
                        describe_owners(first_owners),
                        describe_owners(&owners)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    violations
}

/// Without faults, no node flags a peer `fail?` or `fail` (name `peer_flagged_failing`).
pub fn no_failing_flags(node: &str, lines: &[NodeLine]) -> Vec<Violation> {
    lines
        .iter()
        .filter(|l| l.has_flag("fail?") || l.has_flag("fail"))
        .map(|l| {
            Violation::new(
                "peer_flagged_failing",
                format!(
                    "{node} flags {} {} ({}) without any fault",
                    l.id,
                    l.addr,
                    l.flags.join(",")
                ),
            )
        })
        .collect()
}

/// Without faults, every ping is answered well within the node timeout: a `ping-sent` older
/// than `node_timeout_ms` at `now_ms` (the node's unix clock) means a PONG was lost or never
/// recorded (name `ping_unanswered`). Redis would have flagged such a peer PFAIL by then.
pub fn no_stale_pings(
    node: &str,
    lines: &[NodeLine],
    now_ms: u64,
    node_timeout_ms: u64,
) -> Vec<Violation> {
    lines
        .iter()
        .filter(|l| l.ping_sent_ms != 0 && now_ms.saturating_sub(l.ping_sent_ms) > node_timeout_ms)
        .map(|l| {
            Violation::new(
                "ping_unanswered",
                format!(
                    "{node}: ping to {} {} pending {} ms (node timeout {node_timeout_ms} ms), \
                     pong-recv {}, flags {}",
                    l.id,
                    l.addr,
                    now_ms.saturating_sub(l.ping_sent_ms),
                    l.pong_recv_ms,
                    l.flags.join(",")
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::parse_cluster_nodes;

    fn view(name: &str, text: &str) -> (String, Vec<NodeLine>) {
        (name.to_string(), parse_cluster_nodes(text).unwrap())
    }

    const A: &str = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8191\n\
                     b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
    const B: &str = "a 10.0.0.1:7001@17001 master - 0 100 1 connected 0-8191\n\
                     b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 8192-16383\n";

    fn names(violations: &[Violation]) -> Vec<&str> {
        violations.iter().map(|v| v.name.as_str()).collect()
    }

    #[test]
    fn agreeing_views_pass() {
        assert!(views_agree(&[view("n1", A), view("n2", B)], 2).is_empty());
    }

    #[test]
    fn each_disagreement_is_named() {
        // b thinks it also owns slot 0..=10 → disagreement; also a's view is short one node.
        let b_greedy = "a 10.0.0.1:7001@17001 master - 0 100 1 connected 11-8191\n\
                        b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 0-10 8192-16383\n";
        let v = views_agree(&[view("n1", A), view("n2", b_greedy)], 2);
        assert_eq!(names(&v), vec!["slot_agreement"]);
        assert!(
            v[0].evidence.contains("n2: a: 11-8191; b: 0-10,8192-16383"),
            "{}",
            v[0].evidence
        );

        let v = views_agree(&[view("n1", A)], 3);
        assert_eq!(names(&v), vec!["view_membership"]);

        let uncovered = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8190\n\
                         b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
        let v = views_agree(&[view("n1", uncovered)], 2);
        assert_eq!(names(&v), vec!["slot_coverage"]);
        assert!(v[0].evidence.contains("unassigned: 8191"));

        let double = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8192\n\
                      b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
        assert_eq!(
            names(&views_agree(&[view("n1", double)], 2)),
            vec!["slot_double_owner"]
        );
    }

    #[test]
    fn failing_flags_and_stale_pings() {
        let (_, lines) = view(
            "n1",
            "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8191\n\
             b 10.0.0.2:7002@17002 master,fail? - 1000 500 2 connected 8192-16383\n",
        );
        assert_eq!(
            names(&no_failing_flags("n1", &lines)),
            vec!["peer_flagged_failing"]
        );
        assert!(no_failing_flags("n1", &parse_cluster_nodes(A).unwrap()).is_empty());

        // ping sent at 1000: fine up to 1000 + timeout, stale after.
        assert!(no_stale_pings("n1", &lines, 6000, 5000).is_empty());
        let v = no_stale_pings("n1", &lines, 6001, 5000);
        assert_eq!(names(&v), vec!["ping_unanswered"]);
        assert!(
            v[0].evidence.contains("pending 5001 ms"),
            "{}",
            v[0].evidence
        );
    }
}
