//! The tutorial's second half with the real redis-cli against `clusterlab node` processes:
//! add-node, reshard 10 slots holding keys to the new node and back, del-node, and an open
//! slot that `--cluster check` reports until `SETSLOT … STABLE` (or `--cluster fix`) closes it;
//! then a fresh empty master that `--cluster rebalance --cluster-use-empty-masters` fills to
//! its share, as `--cluster info` shows.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;
const SETTLE: Duration = Duration::from_secs(20);

fn cli(args: &[&str]) -> Output {
    run_bounded(
        Command::new("redis-cli").args(args),
        Duration::from_secs(90),
    )
}

#[test]
fn add_node_reshard_with_keys_and_back_del_node_and_open_slots() {
    if !redis_cli_available() {
        return;
    }
    let dir = TestDir::new("reshard");
    let nodes: Vec<NodeProcess> = free_ports(5)
        .into_iter()
        .map(|port| NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "appendonly yes"))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(NodeProcess::addr).collect();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let (p1, p3, p4) = (ports[0], ports[2], ports[3]);
    let create = cli(&[
        "--cluster",
        "create",
        &addrs[0],
        &addrs[1],
        &addrs[2],
        "--cluster-yes",
    ]);
    assert!(create.status.success(), "{}", stdout(&create));
    for &port in &ports[..3] {
        wait_until(SETTLE, "cluster_state:ok", || {
            cluster_info_field(port, "cluster_state") == "ok"
        });
    }
    let keys = keys_for_low_slots();
    for key in &keys {
        let set = redis_cli(&["-c", "-p", &p1.to_string(), "set", key, &format!("v-{key}")]);
        assert_eq!(set, "OK\n");
    }

    // add-node: the new master joins with no slots; everyone knows four nodes.
    let add = cli(&["--cluster", "add-node", &addrs[3], &addrs[0]]);
    assert!(
        stdout(&add).contains("[OK] New node added correctly."),
        "{}",
        stdout(&add)
    );
    for &port in &ports[..4] {
        wait_until(SETTLE, "4 known nodes", || {
            cluster_info_field(port, "cluster_known_nodes") == "4"
        });
        // A node refuses RESTORE-ASKING while its own cluster_state is still fail.
        wait_until(SETTLE, "cluster_state:ok", || {
            cluster_info_field(port, "cluster_state") == "ok"
        });
    }

    // reshard 10 slots (0-9, one key each) from the first master to the new one.
    let (id1, id4) = (myid(p1), myid(p4));
    let reshard = |from: &str, to: &str| {
        let out = cli(&[
            "--cluster",
            "reshard",
            &addrs[0],
            "--cluster-from",
            from,
            "--cluster-to",
            to,
            "--cluster-slots",
            "10",
            "--cluster-yes",
        ]);
        assert!(out.status.success(), "reshard failed: {}", stdout(&out));
    };
    reshard(&id1, &id4);
    assert!(
        myself_line(p4).ends_with(" connected 0-9"),
        "{}",
        myself_line(p4)
    );
    for (slot, key) in keys.iter().enumerate() {
        let count = redis_cli(&[
            "-p",
            &p4.to_string(),
            "cluster",
            "countkeysinslot",
            &slot.to_string(),
        ]);
        assert_eq!(count, "1\n", "slot {slot} on the new node");
        let value = redis_cli(&["-c", "-p", &ports[1].to_string(), "get", key]);
        assert_eq!(value, format!("v-{key}\n"));
    }

    // ... and back, then del-node: three known nodes everywhere, the keys still readable.
    reshard(&id4, &id1);
    assert!(
        myself_line(p1).ends_with(" connected 0-5460"),
        "{}",
        myself_line(p1)
    );
    let del = cli(&["--cluster", "del-node", &addrs[0], &id4]);
    assert!(del.status.success(), "{}", stdout(&del));
    for &port in &ports[..3] {
        wait_until(SETTLE, "3 known nodes", || {
            cluster_info_field(port, "cluster_known_nodes") == "3"
        });
    }
    assert_eq!(
        cluster_info_field(p4, "cluster_known_nodes"),
        "1",
        "the removed node was reset"
    );
    for key in &keys {
        let value = redis_cli(&["-c", "-p", &p3.to_string(), "get", key]);
        assert_eq!(value, format!("v-{key}\n"));
    }

    // An open slot: check warns and fails until SETSLOT STABLE; fix closes it too.
    let open = redis_cli(&[
        "-p",
        &p3.to_string(),
        "cluster",
        "setslot",
        "12539",
        "migrating",
        &id1,
    ]);
    assert_eq!(open, "OK\n");
    assert!(
        myself_line(p3).ends_with(&format!("[12539->-{id1}]")),
        "{}",
        myself_line(p3)
    );
    let check = cli(&["--cluster", "check", &addrs[0]]);
    assert!(!check.status.success(), "check must fail on an open slot");
    assert!(
        stdout(&check).contains("[WARNING] The following slots are open: 12539."),
        "{}",
        stdout(&check)
    );
    redis_cli(&[
        "-p",
        &p3.to_string(),
        "cluster",
        "setslot",
        "12539",
        "stable",
    ]);
    assert!(cli(&["--cluster", "check", &addrs[0]]).status.success());
    redis_cli(&[
        "-p",
        &p3.to_string(),
        "cluster",
        "setslot",
        "12539",
        "migrating",
        &id1,
    ]);
    let fix = cli(&["--cluster", "fix", &addrs[0], "--cluster-yes"]);
    assert!(fix.status.success(), "{}", stdout(&fix));
    assert!(cli(&["--cluster", "check", &addrs[0]]).status.success());
    assert!(!myself_line(p3).contains('['), "{}", myself_line(p3));

    // rebalance onto an empty master (after add-node), and info: 4096 slots each (±1).
    let add = cli(&["--cluster", "add-node", &addrs[4], &addrs[0]]);
    assert!(add.status.success(), "{}", stdout(&add));
    let four = [ports[0], ports[1], ports[2], ports[4]];
    for port in four {
        wait_until(SETTLE, "4 known nodes", || {
            cluster_info_field(port, "cluster_known_nodes") == "4"
        });
        wait_until(SETTLE, "cluster_state:ok", || {
            cluster_info_field(port, "cluster_state") == "ok"
        });
    }
    wait_until(SETTLE, "a clean --cluster check", || {
        cli(&["--cluster", "check", &addrs[0]]).status.success()
    });
    let rebalance = run_bounded(
        Command::new("redis-cli").args([
            "--cluster",
            "rebalance",
            &addrs[0],
            "--cluster-use-empty-masters",
        ]),
        // 4096 slot moves at tens of milliseconds each.
        Duration::from_secs(600),
    );
    assert!(rebalance.status.success(), "{}", stdout(&rebalance));
    for port in four {
        let n = slot_count(port);
        assert!((4095..=4097).contains(&n), "{port} owns {n} slots");
    }
    for key in &keys {
        let value = redis_cli(&["-c", "-p", &ports[4].to_string(), "get", key]);
        assert_eq!(value, format!("v-{key}\n"));
    }
    let info = cli(&["--cluster", "info", &addrs[0]]);
    assert!(info.status.success(), "{}", stdout(&info));
    let id5 = myid(ports[4]);
    let info = stdout(&info);
    assert!(
        info.contains(&format!("{} ({}...) -> ", addrs[4], &id5[..8]))
            && info.contains("4096 slots | 0 slaves."),
        "{info}"
    );
    assert!(info.contains("[OK] 10 keys in 4 masters."), "{info}");
    assert!(cli(&["--cluster", "check", &addrs[0]]).status.success());
}
