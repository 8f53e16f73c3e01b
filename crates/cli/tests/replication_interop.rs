//! Replication on real processes: three masters and three replicas made by the real
//! `redis-cli --cluster create … --cluster-replicas 1`; keys written through `redis-cli -c`
//! reach every replica (offsets equal to their masters', values readable after `READONLY`);
//! then one master is killed with SIGKILL, its replica is promoted by the automatic failover
//! and still serves the keys, and the survivors report `cluster_state:ok`. The old master,
//! restarted, follows its heir and gets the same keys again.
//!
//! A second test grows a three-master cluster with `redis-cli --cluster add-node
//! --cluster-slave` (with and without `--cluster-master-id`), checks `WAIT` and `CLUSTER
//! REPLICAS`, then runs a coordinated `CLUSTER FAILOVER` on a replica while a client keeps
//! writing: every write acknowledged by `WAIT` survives, and the old master follows the new.

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

/// `redis-cli --cluster add-node <new> <existing> --cluster-slave [--cluster-master-id id]`.
fn add_replica(new: &str, existing: &str, master_id: Option<&str>) {
    let mut args = vec!["--cluster", "add-node", new, existing, "--cluster-slave"];
    if let Some(id) = master_id {
        args.extend(["--cluster-master-id", id]);
    }
    let output = run_bounded(
        Command::new("redis-cli").args(&args),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "add-node failed:\n{stdout}");
    assert!(
        stdout.contains("[OK] New node added correctly."),
        "{stdout}"
    );
}

/// Replica `replica` follows `master` with its link up and the same offset.
fn in_sync(replica: u16, master: u16) -> bool {
    let r = fields(replica, &["INFO", "replication"]);
    let m = fields(master, &["INFO", "replication"]);
    r.get("role").map(String::as_str) == Some("slave")
        && r.get("master_port") == Some(&master.to_string())
        && r.get("master_link_status").map(String::as_str) == Some("up")
        && r.contains_key("slave_repl_offset")
        && r.get("slave_repl_offset") == m.get("master_repl_offset")
}

/// `SET key value` then `WAIT 1 1000` on one connection to `port`; `None` if the key is not
/// served there (or the node refuses writes), else WAIT's count.
fn set_and_wait(conn: &mut redis::Connection, key: &str, value: &str) -> Option<i64> {
    let set: redis::RedisResult<String> = redis::cmd("SET").arg(key).arg(value).query(conn);
    set.ok()?;
    redis::cmd("WAIT").arg(1).arg(1000).query(conn).ok()
}

#[test]
fn add_node_as_replica_wait_and_a_manual_failover_lose_no_acknowledged_write() {
    if !redis_cli_available() {
        return;
    }
    let dir = TestDir::new("manual-failover");
    let ports = free_ports(5);
    let _nodes: Vec<NodeProcess> = ports
        .iter()
        .map(|&port| NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "appendonly yes"))
        .collect();
    let addr = |p: u16| format!("127.0.0.1:{p}");
    let mut args = vec!["--cluster".to_string(), "create".to_string()];
    args.extend(ports[..3].iter().map(|&p| addr(p)));
    args.push("--cluster-yes".into());
    let output = run_bounded(
        Command::new("redis-cli").args(&args),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "create: {output:?}");
    for &port in &ports[..3] {
        wait_until(SETTLE, &format!("cluster_state:ok on {port}"), || {
            cluster_state(port) == "ok"
        });
    }
    let (master, replica, other) = (ports[0], ports[3], ports[4]);
    let master_id = my_id(master);
    add_replica(&addr(replica), &addr(master), Some(&master_id));
    wait_until(SETTLE, "the first replica in sync", || {
        in_sync(replica, master)
    });
    let replica_id = my_id(replica);
    // redis-cli picks the master for the next one from this view: let it show the replica.
    wait_until(SETTLE, "every master to see the replica", || {
        ports[..3]
            .iter()
            .all(|&p| replica_pairs(p).get(&replica) == Some(&master))
    });
    // Without a master id, redis-cli picks a master that has no replica yet.
    add_replica(&addr(other), &addr(master), None);
    wait_until(
        SETTLE,
        "the second replica in sync with another master",
        || {
            let m: u16 = field(other, &["INFO", "replication"], "master_port")
                .parse()
                .unwrap_or(0);
            ports[1..3].contains(&m) && in_sync(other, m)
        },
    );
    let listed: Vec<String> = connection(master)
        .and_then(|mut c| {
            redis::cmd("CLUSTER")
                .arg("REPLICAS")
                .arg(&master_id)
                .query(&mut c)
        })
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].starts_with(&format!(
            "{replica_id} 127.0.0.1:{replica}@{} slave {master_id} ",
            replica + 10000
        )),
        "{listed:?}"
    );

    // Writes to the master, each acknowledged by the replica through WAIT.
    let mut conn = connection(master).unwrap();
    let mut acked = Vec::new();
    for i in 0..200 {
        let key = format!("acked:{i}");
        if let Some(count) = set_and_wait(&mut conn, &key, &i.to_string()) {
            assert_eq!(count, 1, "WAIT 1 1000 after a write to {key}");
            acked.push(key);
        }
    }
    assert!(
        acked.len() > 30,
        "only {} keys hashed to the master",
        acked.len()
    );
    wait_until(SETTLE, "the replica caught up", || in_sync(replica, master));
    for key in &acked {
        assert!(
            get(replica, true, key).unwrap().is_some(),
            "{key} not replicated"
        );
    }

    // A writer keeps going during the failover; what WAIT acknowledged must survive.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut acked_during = Vec::new();
            let Ok(mut conn) = connection(master) else {
                return acked_during;
            };
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::SeqCst) || i > 100_000 {
                    break;
                }
                let key = format!("during:{i}");
                if set_and_wait(&mut conn, &key, "x") == Some(1) {
                    acked_during.push(key);
                }
            }
            acked_during
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        redis_cli(&["-p", &replica.to_string(), "CLUSTER", "FAILOVER"]),
        "OK\n"
    );
    wait_until(SETTLE, "the replica promoted", || {
        field(replica, &["INFO", "replication"], "role") == "master"
    });
    wait_until(SETTLE, "the old master following the new one", || {
        in_sync(master, replica)
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let acked_during = writer.join().unwrap();
    assert!(
        !acked_during.is_empty(),
        "no write was acknowledged around the failover"
    );
    for &port in &ports {
        wait_until(SETTLE, &format!("cluster_state:ok on {port}"), || {
            cluster_state(port) == "ok"
        });
    }
    // Every node learns the old master's new role from its own messages.
    let follower = format!("slave {replica_id} ");
    for &port in &ports {
        wait_until(
            SETTLE,
            &format!("{port} to see the old master follow"),
            || {
                let nodes: String = connection(port)
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("NODES").query(&mut c))
                    .unwrap_or_default();
                nodes
                    .lines()
                    .any(|l| l.starts_with(&master_id) && l.contains(&follower))
            },
        );
    }
    for key in acked.iter().chain(&acked_during) {
        let p = other.to_string();
        assert_ne!(
            redis_cli(&["-c", "-p", &p, "get", key]),
            "\n",
            "{key} was acknowledged by WAIT and then lost"
        );
        assert!(
            get(master, true, key).unwrap().is_some(),
            "{key} not on the old master"
        );
    }
}
