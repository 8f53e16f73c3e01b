//! Our own `clusterlab cluster …` admin commands against `clusterlab node` processes: the
//! tutorial's second half (add-node, reshard 10 slots holding keys and back, an open slot that
//! `check` flags with exit 1 and `fix` closes, `del-node`), `info`, and `rebalance` onto a
//! fresh empty master. No redis-cli needed: commands go over raw RESP.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;
const SETTLE: Duration = Duration::from_secs(20);

/// `clusterlab cluster <args>`, bounded.
fn admin(args: &[&str]) -> Output {
    run_bounded(
        Command::new(BIN).arg("cluster").args(args),
        // A rebalance moves 4096 slots, about 40 ms each on a busy 2-core machine.
        Duration::from_secs(600),
    )
}

fn describe(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn admin_ok(args: &[&str]) -> String {
    let out = admin(args);
    assert!(out.status.success(), "cluster {args:?}: {}", describe(&out));
    stdout(&out)
}

fn wait_state_ok(ports: &[u16]) {
    for &port in ports {
        wait_until(SETTLE, "cluster_state:ok", || {
            cluster_info_field(port, "cluster_state") == "ok"
        });
    }
}

/// Waits until `clusterlab cluster check` passes (the views agree once gossip settles).
fn wait_check_ok(addr: &str) {
    wait_until(SETTLE, "a clean cluster check", || {
        admin(&["check", addr]).status.success()
    });
}

/// Every key reads its value on the node that owns its slot now.
fn assert_keys_readable(ports: &[u16], keys: &[String]) {
    for key in keys {
        let slot = clusterlab_core::slot::key_hash_slot(key.as_bytes()).to_string();
        let owner = ports
            .iter()
            .copied()
            .find(|&p| command_text(p, &["CLUSTER", "COUNTKEYSINSLOT", &slot]) == "1")
            .unwrap_or_else(|| panic!("no node holds {key} (slot {slot})"));
        assert_eq!(command_text(owner, &["GET", key]), format!("v-{key}"));
    }
}

#[test]
fn our_admin_commands_run_the_tutorial_and_rebalance() {
    let dir = TestDir::new("admin");
    let nodes: Vec<NodeProcess> = free_ports(5)
        .into_iter()
        .map(|port| NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, ""))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(NodeProcess::addr).collect();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let (p1, p3, p4, p5) = (ports[0], ports[2], ports[3], ports[4]);
    let masters: Vec<u16> = vec![ports[0], ports[1], ports[2]];
    admin_ok(&["create", &addrs[0], &addrs[1], &addrs[2]]);
    wait_state_ok(&masters);
    let keys = keys_for_low_slots();
    for key in &keys {
        assert_eq!(command_text(p1, &["SET", key, &format!("v-{key}")]), "OK");
    }

    // add-node: a fourth master without slots, known everywhere.
    let added = admin_ok(&["add-node", &addrs[3], &addrs[0]]);
    assert!(added.contains("[OK] New node added correctly."), "{added}");
    for &port in &ports[..4] {
        wait_until(SETTLE, "4 known nodes", || {
            cluster_info_field(port, "cluster_known_nodes") == "4"
        });
    }
    wait_state_ok(&ports[..4]);
    wait_check_ok(&addrs[0]);
    let (id1, id4) = (
        command_text(p1, &["CLUSTER", "MYID"]),
        command_text(p4, &["CLUSTER", "MYID"]),
    );
    let info = admin_ok(&["info", &addrs[0]]);
    assert!(
        info.contains(&format!(
            "{} ({}...) -> 0 keys | 0 slots | 0 slaves.",
            addrs[3],
            &id4[..8]
        )),
        "{info}"
    );
    assert!(info.contains("[OK] 10 keys in 4 masters."), "{info}");

    // reshard 10 slots with their keys to the new node, then back.
    let reshard = |from: &str, to: &str| {
        let out = admin_ok(&[
            "reshard", &addrs[0], "--from", from, "--to", to, "--slots", "10", "--yes",
        ]);
        assert!(out.contains("[OK] Moved 10 slots (10 keys)."), "{out}");
    };
    reshard(&id1, &id4);
    assert!(
        myself_line(p4).ends_with(" connected 0-9"),
        "{}",
        myself_line(p4)
    );
    for (slot, key) in keys.iter().enumerate() {
        let slot = slot.to_string();
        assert_eq!(
            command_text(p4, &["CLUSTER", "COUNTKEYSINSLOT", &slot]),
            "1"
        );
        assert_eq!(
            command_text(p1, &["CLUSTER", "COUNTKEYSINSLOT", &slot]),
            "0"
        );
        assert_eq!(command_text(p4, &["GET", key]), format!("v-{key}"));
    }
    wait_check_ok(&addrs[0]);
    let refused = admin(&["del-node", &addrs[0], &id4]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&format!(
            "[ERR] Node {} is not empty! Reshard data away and try again.",
            addrs[3]
        )),
        "{}",
        describe(&refused)
    );
    reshard(&id4, &id1);
    assert!(
        myself_line(p1).ends_with(" connected 0-5460"),
        "{}",
        myself_line(p1)
    );
    assert_keys_readable(&masters, &keys);
    wait_check_ok(&addrs[0]);
    let clean = admin_ok(&["check", &addrs[0]]);
    assert!(clean.contains("[OK] All 16384 slots covered."), "{clean}");

    // An open slot fails the check (exit 1) until fix closes it.
    assert_eq!(
        command_text(p3, &["CLUSTER", "SETSLOT", "12539", "MIGRATING", &id1]),
        "OK"
    );
    let open = admin(&["check", &addrs[0]]);
    assert_eq!(open.status.code(), Some(1), "{}", describe(&open));
    for want in [
        format!(
            "[WARNING] Node {} has slots in migrating state 12539.",
            addrs[2]
        ),
        "[WARNING] The following slots are open: 12539.".to_string(),
    ] {
        assert!(stdout(&open).contains(&want), "{want} in {}", stdout(&open));
    }
    admin_ok(&["fix", &addrs[0], "--yes"]);
    assert!(!myself_line(p3).contains('['), "{}", myself_line(p3));
    wait_check_ok(&addrs[0]);

    // del-node: the emptied node goes; three known nodes again, it was reset.
    admin_ok(&["del-node", &addrs[0], &id4]);
    for &port in &masters {
        wait_until(SETTLE, "3 known nodes", || {
            cluster_info_field(port, "cluster_known_nodes") == "3"
        });
    }
    assert_eq!(
        cluster_info_field(p4, "cluster_known_nodes"),
        "1",
        "the removed node was reset"
    );
    assert_keys_readable(&masters, &keys);
    wait_check_ok(&addrs[0]);

    // rebalance onto a fresh empty master: 4096 slots each (±1 from rounding).
    admin_ok(&["add-node", &addrs[4], &addrs[0]]);
    let four = [p1, ports[1], p3, p5];
    wait_state_ok(&four);
    wait_check_ok(&addrs[0]);
    let idle = admin_ok(&["rebalance", &addrs[0]]);
    assert!(
        idle.contains("*** No rebalancing needed! All nodes are within the 2.00% threshold."),
        "{idle}"
    );
    let out = admin_ok(&["rebalance", &addrs[0], "--use-empty-masters"]);
    assert!(out.contains("[OK] Moved 4096 slots"), "{out}");
    for port in four {
        let n = slot_count(port);
        assert!((4095..=4097).contains(&n), "{port} owns {n} slots");
    }
    assert_keys_readable(&four, &keys);
    wait_check_ok(&addrs[0]);
    let again = admin_ok(&["rebalance", &addrs[0], "--use-empty-masters"]);
    assert!(again.contains("*** No rebalancing needed!"), "{again}");
    let info = admin_ok(&["info", &addrs[0]]);
    assert!(info.contains("[OK] 10 keys in 4 masters."), "{info}");
    assert!(
        info.contains(&format!("{} (", addrs[4])) && info.contains("4096 slots | 0 slaves."),
        "{info}"
    );
}
