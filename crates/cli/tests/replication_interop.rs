//! Replication on real processes: three masters and three replicas made by the real
//! `redis-cli --cluster create … --cluster-replicas 1`; keys written through `redis-cli -c`
//! reach every replica (offsets equal to their masters', values readable after `READONLY`);
//! then one master is killed with SIGKILL, its replica is promoted by the automatic failover
//! and still serves the keys, and the survivors report `cluster_state:ok`. The old master,
//! restarted, follows its heir and gets the same keys again.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;
const SETTLE: Duration = Duration::from_secs(30);
const KEYS: usize = 30;

fn connection(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))?
        .get_connection_with_timeout(Duration::from_secs(5))
}

/// `INFO <section>` or `CLUSTER INFO` text as field → value (empty when unreachable).
fn fields(port: u16, command: &[&str]) -> BTreeMap<String, String> {
    let text: String = connection(port)
        .and_then(|mut c| {
            let mut cmd = redis::cmd(command[0]);
            for arg in &command[1..] {
                cmd.arg(*arg);
            }
            cmd.query(&mut c)
        })
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field(port: u16, command: &[&str], name: &str) -> String {
    fields(port, command).remove(name).unwrap_or_default()
}

fn cluster_state(port: u16) -> String {
    field(port, &["CLUSTER", "INFO"], "cluster_state")
}

fn my_id(port: u16) -> String {
    let mut conn = connection(port).expect("connect");
    redis::cmd("CLUSTER").arg("MYID").query(&mut conn).unwrap()
}

/// replica port → master port, from one node's `CLUSTER NODES` (lines it cannot read yet,
/// such as nodes still in handshake, are skipped).
fn replica_pairs(viewer: u16) -> BTreeMap<u16, u16> {
    let text: String = connection(viewer)
        .and_then(|mut c| redis::cmd("CLUSTER").arg("NODES").query(&mut c))
        .unwrap_or_default();
    let port_of = |addr: &str| -> Option<u16> {
        let host_port = addr.split('@').next()?;
        host_port.rsplit(':').next()?.parse().ok()
    };
    let mut ports_by_id = BTreeMap::new();
    let mut masters_of = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let (Some(id), Some(port), Some(flags), Some(master)) = (
            parts.first(),
            parts.get(1).and_then(|a| port_of(a)),
            parts.get(2),
            parts.get(3),
        ) else {
            continue;
        };
        ports_by_id.insert(id.to_string(), port);
        if flags.contains("slave") {
            masters_of.push((port, master.to_string()));
        }
    }
    // A node still learning the cluster may name a master it does not list yet.
    masters_of
        .into_iter()
        .filter_map(|(replica, master)| Some((replica, *ports_by_id.get(&master)?)))
        .collect()
}

fn get(port: u16, readonly: bool, key: &str) -> redis::RedisResult<Option<String>> {
    let mut conn = connection(port)?;
    if readonly {
        redis::cmd("READONLY").query::<()>(&mut conn)?;
    }
    redis::cmd("GET").arg(key).query(&mut conn)
}

#[test]
fn replicas_copy_their_masters_and_a_promoted_replica_keeps_the_keys() {
    if !redis_cli_available() {
        return;
    }
    let dir = TestDir::new("replication");
    let ports = free_ports(6);
    let mut nodes: Vec<NodeProcess> = ports
        .iter()
        .map(|&port| NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "appendonly yes"))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(NodeProcess::addr).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    let output = run_bounded(
        Command::new("redis-cli").args(&args),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "create failed:\n{stdout}");
    assert!(stdout.contains("[OK] All 16384 slots covered."), "{stdout}");
    for &port in &ports {
        wait_until(SETTLE, &format!("cluster_state:ok on {port}"), || {
            cluster_state(port) == "ok"
        });
    }
    wait_until(SETTLE, "three replicas everywhere", || {
        ports.iter().all(|&p| replica_pairs(p).len() == 3)
    });
    let pairs = replica_pairs(ports[0]);

    let first = ports[0].to_string();
    for i in 0..KEYS {
        let (key, value) = (format!("key:{i}"), format!("value:{i}"));
        assert_eq!(
            redis_cli(&["-c", "-p", &first, "set", &key, &value]),
            "OK\n"
        );
    }
    for (&replica, &master) in &pairs {
        wait_until(SETTLE, &format!("replica {replica} caught up"), || {
            let r = fields(replica, &["INFO", "replication"]);
            let m = fields(master, &["INFO", "replication"]);
            r.get("master_link_status").map(String::as_str) == Some("up")
                && r.get("role").map(String::as_str) == Some("slave")
                && r.get("master_port") == Some(&master.to_string())
                && r.contains_key("slave_repl_offset")
                && r.get("slave_repl_offset") == m.get("master_repl_offset")
        });
        let m = fields(master, &["INFO", "replication"]);
        assert_eq!(m["connected_slaves"], "1", "{m:?}");
        assert!(
            m["slave0"].starts_with(&format!("ip=127.0.0.1,port={replica},state=online,")),
            "{m:?}"
        );
    }
    // Every key is readable on exactly one replica (its master's), after READONLY.
    for i in 0..KEYS {
        let key = format!("key:{i}");
        let served: Vec<u16> = pairs
            .keys()
            .copied()
            .filter(|&r| get(r, true, &key).ok().flatten() == Some(format!("value:{i}")))
            .collect();
        assert_eq!(served.len(), 1, "{key} served by replicas {served:?}");
    }

    // SIGKILL the first master that has a replica; the replica takes over with the data.
    let (&replica, &master) = pairs.iter().next().unwrap();
    let at = ports.iter().position(|&p| p == master).unwrap();
    let replica_id = my_id(replica);
    let status = Command::new("kill")
        .args(["-9", &nodes[at].pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    nodes[at].wait_exit(Duration::from_secs(5));
    let survivors: Vec<u16> = ports.iter().copied().filter(|&p| p != master).collect();
    wait_until(SETTLE, "the replica promoted", || {
        field(replica, &["INFO", "replication"], "role") == "master"
    });
    for &port in &survivors {
        wait_until(SETTLE, &format!("cluster_state:ok on {port}"), || {
            cluster_state(port) == "ok"
        });
    }
    // The old master comes back as a replica of its heir and resyncs from it.
    let old = NodeProcess::start(&dir.path, master, NODE_TIMEOUT_MS, "appendonly yes");
    nodes[at] = old;
    wait_until(
        SETTLE,
        "the old master to follow the promoted replica",
        || {
            let r = fields(master, &["INFO", "replication"]);
            let m = fields(replica, &["INFO", "replication"]);
            r.get("role").map(String::as_str) == Some("slave")
                && r.get("master_port") == Some(&replica.to_string())
                && r.get("master_link_status").map(String::as_str) == Some("up")
                && r.get("slave_repl_offset") == m.get("master_repl_offset")
        },
    );
    let mut held = 0;
    for i in 0..KEYS {
        let key = format!("key:{i}");
        if let Ok(Some(value)) = get(replica, false, &key) {
            assert_eq!(value, format!("value:{i}"));
            assert_eq!(get(master, true, &key).unwrap(), Some(value));
            held += 1;
        }
    }
    assert!(held > 0, "the promoted replica serves none of the keys");
    // Every key is still readable through the cluster, the dead master's through its heir.
    for i in 0..KEYS {
        let key = format!("key:{i}");
        let p = survivors[0].to_string();
        assert_eq!(
            redis_cli(&["-c", "-p", &p, "get", &key]),
            format!("value:{i}\n"),
            "{key} lost (new master {replica_id})"
        );
    }
}
