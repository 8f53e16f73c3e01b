//! Three `clusterlab node` processes made into the tutorial's cluster, then driven by real
//! clients: `redis-cli --cluster create`, `redis-cli -c`, the Rust `redis` crate's cluster
//! client, and `clusterlab up`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use redis::Commands;

/// Short, so failure detection would not stall a test, but long enough for a loaded machine.
const NODE_TIMEOUT_MS: u64 = 2000;
const SETTLE: Duration = Duration::from_secs(20);

/// The tutorial's allocation for three masters, in argument order.
const RANGES: [&str; 3] = ["0-5460", "5461-10922", "10923-16383"];

fn start_three(dir: &TestDir) -> Vec<NodeProcess> {
    free_ports(3)
        .into_iter()
        .map(|port| NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, ""))
        .collect()
}

fn connection(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap()
}

/// `CLUSTER INFO` as field → value.
fn cluster_info(port: u16) -> BTreeMap<String, String> {
    let text: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut connection(port))
        .unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn wait_for_state_ok(nodes: &[NodeProcess]) {
    for node in nodes {
        wait_until(
            SETTLE,
            &format!("cluster_state:ok on {}", node.port),
            || {
                cluster_info(node.port)
                    .get("cluster_state")
                    .map(String::as_str)
                    == Some("ok")
            },
        );
    }
}

/// Waits until every node shows a connected link to every peer: `cluster_state:ok` needs the
/// slots covered, not every node's outbound link up yet (Redis too reports a peer
/// `disconnected` until its first outbound connection completes).
fn wait_for_links_up(nodes: &[NodeProcess]) {
    for node in nodes {
        wait_until(
            SETTLE,
            &format!("every link connected on {}", node.port),
            || {
                cluster_nodes(node.port)
                    .iter()
                    .all(|line| line.link_state == "connected")
            },
        );
    }
}

/// One `CLUSTER NODES` line, split into the fields tests look at.
struct NodesLine {
    id: String,
    addr: String,
    flags: Vec<String>,
    config_epoch: u64,
    link_state: String,
    slots: Vec<String>,
}

fn cluster_nodes(port: u16) -> Vec<NodesLine> {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut connection(port))
        .unwrap();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert!(f.len() >= 8, "short CLUSTER NODES line: {line}");
            NodesLine {
                id: f[0].to_string(),
                addr: f[1].to_string(),
                flags: f[2].split(',').map(str::to_string).collect(),
                config_epoch: f[6].parse().unwrap(),
                link_state: f[7].to_string(),
                slots: f[8..].iter().map(|s| s.to_string()).collect(),
            }
        })
        .collect()
}

/// Every node lists all three masters with the tutorial's ranges, epochs 1..3, links up, and
/// `myself` on its own line.
fn assert_tutorial_layout(nodes: &[NodeProcess]) {
    let mut ids: Option<Vec<String>> = None;
    for viewer in nodes {
        let mut lines = cluster_nodes(viewer.port);
        assert_eq!(
            lines.len(),
            3,
            "node {} knows {} nodes",
            viewer.port,
            lines.len()
        );
        lines.sort_by_key(|l| l.addr.clone());
        for (i, (line, owner)) in lines.iter().zip(nodes).enumerate() {
            let expected_addr = format!("127.0.0.1:{}@{}", owner.port, owner.port + 10000);
            assert_eq!(line.addr, expected_addr);
            assert!(
                line.flags.contains(&"master".to_string()),
                "{:?}",
                line.flags
            );
            assert_eq!(
                line.flags.contains(&"myself".to_string()),
                owner.port == viewer.port,
                "myself flag on {} as seen by {}",
                owner.port,
                viewer.port
            );
            assert_eq!(line.config_epoch, i as u64 + 1);
            assert_eq!(line.link_state, "connected");
            assert_eq!(line.slots, vec![RANGES[i].to_string()]);
        }
        let these: Vec<String> = lines.iter().map(|l| l.id.clone()).collect();
        match &ids {
            Some(known) => assert_eq!(known, &these, "nodes disagree about IDs"),
            None => ids = Some(these),
        }
    }
}

fn assert_tutorial_info(nodes: &[NodeProcess]) {
    for (i, node) in nodes.iter().enumerate() {
        let info = cluster_info(node.port);
        let field = |k: &str| info.get(k).cloned().unwrap_or_default();
        assert_eq!(field("cluster_state"), "ok");
        assert_eq!(field("cluster_slots_assigned"), "16384");
        assert_eq!(field("cluster_slots_ok"), "16384");
        assert_eq!(field("cluster_slots_pfail"), "0");
        assert_eq!(field("cluster_slots_fail"), "0");
        assert_eq!(field("cluster_known_nodes"), "3");
        assert_eq!(field("cluster_size"), "3");
        assert_eq!(field("cluster_current_epoch"), "3");
        assert_eq!(field("cluster_my_epoch"), (i + 1).to_string());
    }
}

#[test]
fn redis_cli_cluster_create_builds_the_tutorial_cluster() {
    if !redis_cli_available() {
        return;
    }
    let dir = TestDir::new("rediscli-create");
    let nodes = start_three(&dir);
    let addrs: Vec<String> = nodes.iter().map(NodeProcess::addr).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.push("--cluster-yes");
    let output = run_bounded(
        Command::new("redis-cli").args(&args),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "redis-cli --cluster create failed:\n{stdout}"
    );
    assert!(
        stdout.contains("[OK] All nodes agree about slots configuration."),
        "{stdout}"
    );
    assert!(stdout.contains("[OK] All 16384 slots covered."), "{stdout}");

    wait_for_state_ok(&nodes);
    wait_for_links_up(&nodes);
    assert_tutorial_info(&nodes);
    assert_tutorial_layout(&nodes);

    let (a, c) = (nodes[0].port.to_string(), nodes[2].port.to_string());
    // Slot 12539 lives on the third master: -c follows the redirection, plain redis-cli shows it.
    assert_eq!(redis_cli(&["-c", "-p", &a, "set", "key", "value"]), "OK\n");
    assert_eq!(
        redis_cli(&["-p", &a, "get", "key"]),
        format!("MOVED 12539 127.0.0.1:{c}\n\n")
    );
    assert_eq!(redis_cli(&["-c", "-p", &a, "get", "key"]), "value\n");
    assert_eq!(redis_cli(&["-p", &c, "get", "key"]), "value\n");
    // Slot 4998 is the first master's own.
    assert_eq!(redis_cli(&["-c", "-p", &c, "set", "key2", "world"]), "OK\n");
    assert_eq!(redis_cli(&["-p", &a, "get", "key2"]), "world\n");

    let check = run_bounded(
        Command::new("redis-cli").args(["--cluster", "check", &addrs[0]]),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "redis-cli --cluster check failed:\n{stdout}"
    );
    assert!(stdout.contains("[OK] All 16384 slots covered."), "{stdout}");
}

#[test]
fn rust_cluster_client_reads_and_writes_on_all_three_masters() {
    let dir = TestDir::new("rust-client");
    let nodes = start_three(&dir);
    let mut create = Command::new(BIN);
    create.args(["cluster", "create"]);
    create.args(nodes.iter().map(NodeProcess::addr));
    let output = run_bounded(&mut create, Duration::from_secs(90));
    assert!(
        output.status.success(),
        "clusterlab cluster create: {output:?}"
    );
    wait_for_state_ok(&nodes);
    wait_for_links_up(&nodes);
    assert_tutorial_layout(&nodes);

    let client =
        redis::cluster::ClusterClient::new(vec![format!("redis://127.0.0.1:{}/", nodes[0].port)])
            .unwrap();
    let mut conn = client.get_connection().unwrap();
    // One key per master: slots 4998, 5970 and 12539.
    let keys = [("key2", 0), ("user:{123}:profile", 1), ("key", 2)];
    for (key, _) in keys {
        let _: () = conn.set(key, format!("value of {key}")).unwrap();
    }
    for (key, owner) in keys {
        let value: String = conn.get(key).unwrap();
        assert_eq!(value, format!("value of {key}"));
        // And the key really lives on the master that owns its slot.
        let direct: Option<String> = connection(nodes[owner].port).get(key).unwrap();
        assert_eq!(
            direct.as_deref(),
            Some(value.as_str()),
            "{key} on {}",
            nodes[owner].port
        );
    }
}

#[test]
fn clusterlab_up_serves_a_ready_cluster_until_interrupted() {
    let dir = TestDir::new("up");
    let ports = free_ports(3);
    let mut up = Command::new(BIN)
        .args(["up", "--masters", "3", "--port", &ports[0].to_string()])
        .args(["--node-timeout-ms", &NODE_TIMEOUT_MS.to_string()])
        .arg("--dir")
        .arg(&dir.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kills `up` (by PID) if an assertion fails before it is stopped below; its nodes then
    // die with their stdin/stdout gone or are found by the port check of the next run.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return; // Already reaped: its PID may belong to someone else by now.
            }
            // SIGTERM first so `up` stops its nodes, then make sure.
            // SAFETY: kill signals our own child, which has not been reaped.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = up.stdout.take().unwrap();
    let mut up = KillOnDrop(up);
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let ready = format!("Connect with: redis-cli -c -p {}", ports[0]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == ready => break,
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "`clusterlab up` never got ready; output:\n{}",
                seen.join("\n")
            ),
        }
    }
    for &port in &ports {
        assert_eq!(cluster_info(port)["cluster_state"], "ok");
    }

    // SAFETY: kill sends SIGINT to our own child, not yet reaped.
    unsafe { libc::kill(up.0.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = up.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "`clusterlab up` did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    for &port in &ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "node {port} still running after `up` stopped"
        );
    }
}
