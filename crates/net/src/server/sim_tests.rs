//! The same driver inside the simulator: virtual sockets, clock and disk.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clusterlab_core::config::DebugCommand;
use clusterlab_core::{Config, Reply};
use madsim::runtime::Handle;

use super::{run_with_disk, Exit};
use crate::client::Connection;
use crate::disk::{Disk, MemDisk};

fn sim_config(port: u16) -> Config {
    Config {
        port,
        bind: vec!["*".into()],
        dir: "data".into(),
        cluster_enabled: true,
        cluster_node_timeout_ms: 2000,
        enable_debug_command: DebugCommand::Yes,
        ..Config::default()
    }
}

fn start(
    name: &str,
    ip: [u8; 4],
    port: u16,
    disk: MemDisk,
) -> madsim::task::JoinHandle<io::Result<Exit>> {
    // Distinct seeds, or both nodes would draw the same node ID.
    let seed = u64::from(port);
    let node = Handle::current()
        .create_node()
        .name(name)
        .ip(IpAddr::from(ip))
        .build();
    node.spawn(async move { run_with_disk(sim_config(port), seed, Arc::new(disk)).await })
}

async fn text(conn: &mut Connection, args: &[&str]) -> String {
    match conn.command_str(args).await.unwrap() {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Simple(s) => s,
        Reply::Verbatim(_, s) => s,
        other => panic!("{args:?}: unexpected reply {other:?}"),
    }
}

#[madsim::test]
async fn simulated_nodes_meet_over_the_bus_and_crash_on_request() {
    let disk = MemDisk::new();
    let first = start("n1", [10, 0, 0, 1], 7001, disk.clone());
    let _second = start("n2", [10, 0, 0, 2], 7002, MemDisk::new());
    let client = Handle::current()
        .create_node()
        .name("client")
        .ip(IpAddr::from([10, 0, 0, 9]))
        .build();
    let checked = client.spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut conn = Connection::connect("10.0.0.1:7001").await.unwrap();
        assert_eq!(text(&mut conn, &["PING"]).await, "PONG");
        // The wall clock is the simulator's, not the host's.
        let time = conn.command_str(&["TIME"]).await.unwrap();
        let Reply::Array(parts) = time else {
            panic!("TIME: {time:?}")
        };
        let Reply::Bulk(secs) = &parts[0] else {
            panic!("TIME: {parts:?}")
        };
        let secs: u64 = std::str::from_utf8(secs).unwrap().parse().unwrap();
        let sim_secs = madsim::time::TimeHandle::current()
            .now_time()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            secs.abs_diff(sim_secs) <= 1,
            "TIME {secs} vs simulated {sim_secs}"
        );
        assert_eq!(
            text(&mut conn, &["CLUSTER", "MEET", "10.0.0.2", "7002"]).await,
            "OK"
        );
        let mut nodes = String::new();
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            nodes = text(&mut conn, &["CLUSTER", "NODES"]).await;
            let lines: Vec<&str> = nodes.lines().collect();
            // Joined: both known, out of handshake, links up, and each address known
            // (a node learns its own IP from the first PING that reaches it).
            let joined = |l: &&str| {
                l.contains(" connected")
                    && !l.contains("handshake")
                    && !l
                        .split(' ')
                        .nth(1)
                        .is_some_and(|addr| addr.starts_with(':'))
            };
            if lines.len() == 2 && lines.iter().all(joined) {
                break;
            }
        }
        assert!(nodes.contains("10.0.0.2:7002@17002 master"), "{nodes}");
        assert!(
            nodes.contains("10.0.0.1:7001@17001 myself,master"),
            "{nodes}"
        );
        conn.send(&[b"DEBUG", b"SEGFAULT"]).await.unwrap();
        assert!(conn.read_reply().await.is_err(), "a crash sends no reply");
    });
    checked.await.unwrap();
    assert_eq!(first.await.unwrap().unwrap(), Exit::Crash);
    let saved = disk.read(Path::new("data/nodes.conf")).unwrap().unwrap();
    assert!(String::from_utf8(saved)
        .unwrap()
        .contains("10.0.0.2:7002@17002"));
}

/// Polls `args` on `conn` every 100 ms (virtual) until the text reply satisfies `check`.
async fn wait_for(conn: &mut Connection, args: &[&str], check: impl Fn(&str) -> bool) {
    let mut last = String::new();
    for _ in 0..200 {
        last = text(conn, args).await;
        if check(&last) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{args:?} never satisfied the check; last reply:\n{last}");
}

#[madsim::test]
async fn a_simulated_replica_copies_its_master_and_follows_its_writes() {
    let _master = start("m", [10, 0, 0, 1], 7001, MemDisk::new());
    let _replica = start("r", [10, 0, 0, 2], 7002, MemDisk::new());
    let client = Handle::current()
        .create_node()
        .name("client")
        .ip(IpAddr::from([10, 0, 0, 9]))
        .build();
    let checked = client.spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut m = Connection::connect("10.0.0.1:7001").await.unwrap();
        let mut r = Connection::connect("10.0.0.2:7002").await.unwrap();
        let ok = |t: &str| t == "OK";
        assert!(ok(&text(
            &mut m,
            &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]
        )
        .await));
        wait_for(&mut m, &["CLUSTER", "INFO"], |t| {
            t.contains("cluster_state:ok")
        })
        .await;
        assert!(ok(&text(&mut m, &["SET", "before", "1"]).await));
        assert!(ok(
            &text(&mut r, &["CLUSTER", "MEET", "10.0.0.1", "7001"]).await
        ));
        let master_id = text(&mut m, &["CLUSTER", "MYID"]).await;
        wait_for(&mut r, &["CLUSTER", "NODES"], |t| {
            t.contains(&format!("{master_id} 10.0.0.1:7001@17001 master"))
        })
        .await;
        assert!(ok(
            &text(&mut r, &["CLUSTER", "REPLICATE", &master_id]).await
        ));
        wait_for(&mut r, &["INFO", "replication"], |t| {
            t.contains("master_link_status:up")
        })
        .await;
        assert!(ok(&text(&mut m, &["SET", "after", "2"]).await));
        let info = text(&mut m, &["INFO", "replication"]).await;
        let offset = info
            .lines()
            .find_map(|l| l.strip_prefix("master_repl_offset:"))
            .unwrap()
            .to_string();
        wait_for(&mut r, &["INFO", "replication"], |t| {
            t.contains(&format!("slave_repl_offset:{offset}\r\n"))
        })
        .await;
        assert!(ok(&text(&mut r, &["READONLY"]).await));
        assert_eq!(text(&mut r, &["GET", "before"]).await, "1");
        assert_eq!(text(&mut r, &["GET", "after"]).await, "2");
    });
    checked.await.unwrap();
}
