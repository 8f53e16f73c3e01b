//! A clusterlab replica under `repl-diskless-load swapdb` on real processes, as Redis's suite
//! file 17 drives it: the replica saves its data (with its replication history), is killed,
//! its master takes more writes than its backlog holds, and the replica comes back to a full
//! sync whose payload the master produces slowly (`rdb-key-save-delay`). Meanwhile the
//! replica loads asynchronously: `async_loading:1`, `loading:0`, reads answered from its old
//! data. Killing the master mid-transfer leaves the old data and its keys-to-slots map; a
//! transfer that completes leaves exactly the master's data.

mod common;

use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 3000;
/// Keys written while the replica is down: more than the backlog holds.
const KEYS: usize = 300;
/// Per key while the master produces the snapshot: 300 keys take 3 s.
const KEY_SAVE_DELAY_US: u64 = 10_000;
const WAIT: Duration = Duration::from_secs(20);
/// A key of slot 0.
const SLOT0_KEY: &str = "06S";

fn conf(port: u16, extra: &str) -> String {
    format!("appendonly no\nenable-debug-command yes\ndbfilename dump-{port}.rdb\n{extra}")
}

fn call(port: u16, args: &[&str]) -> String {
    let mut conn = RespConn::connect(port);
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    String::from_utf8_lossy(&conn.call(&args)).into_owned()
}

/// A read on the replica, after `READONLY`.
fn replica_read(port: u16, args: &[&str]) -> String {
    let mut conn = RespConn::connect(port);
    assert_eq!(conn.call(&[b"READONLY"]), b"+OK\r\n");
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    String::from_utf8_lossy(&conn.call(&args)).into_owned()
}

fn persistence_field(port: u16, name: &str) -> String {
    let text = call(port, &["INFO", "persistence"]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A master with every slot and a replica that holds `SLOT0_KEY` = 1 and has saved it; the
/// replica is then killed and the master takes `KEYS` writes and loses `SLOT0_KEY`.
fn pair_with_stale_replica(dir: &TestDir) -> (NodeProcess, u16) {
    let [master_port, replica_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let master = NodeProcess::start(
        &dir.path,
        master_port,
        NODE_TIMEOUT_MS,
        &conf(master_port, ""),
    );
    let swapdb = conf(replica_port, "repl-diskless-load swapdb");
    let replica = NodeProcess::start(&dir.path, replica_port, NODE_TIMEOUT_MS, &swapdb);
    assert!(call(master_port, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).starts_with("+OK"));
    let port = master_port.to_string();
    assert!(call(replica_port, &["CLUSTER", "MEET", "127.0.0.1", &port]).starts_with("+OK"));
    let master_id = myid(master_port);
    wait_until(WAIT, "the replica knows the master", || {
        call(replica_port, &["CLUSTER", "NODES"]).contains(&master_id)
    });
    let replicate = call(replica_port, &["CLUSTER", "REPLICATE", &master_id]);
    assert!(replicate.starts_with("+OK"), "{replicate}");
    for (name, value) in [
        ("repl-backlog-size", "16384"),
        ("repl-diskless-sync-delay", "0"),
        ("rdbcompression", "no"),
    ] {
        assert!(call(master_port, &["CONFIG", "SET", name, value]).starts_with("+OK"));
    }
    wait_until(WAIT, "the cluster is up", || {
        [master_port, replica_port]
            .iter()
            .all(|&p| cluster_info_field(p, "cluster_state") == "ok")
    });
    assert_eq!(call(master_port, &["SET", SLOT0_KEY, "1"]), "+OK\r\n");
    wait_until(WAIT, "the replica has the key", || {
        replica_read(replica_port, &["GET", SLOT0_KEY]) == "$1\r\n1\r\n"
    });
    assert_eq!(call(replica_port, &["SAVE"]), "+OK\r\n");
    drop(replica);

    assert_eq!(call(master_port, &["DEL", SLOT0_KEY]), ":1\r\n");
    let value = "A".repeat(100);
    let mut conn = RespConn::connect(master_port);
    for i in 0..KEYS {
        let key = i.to_string();
        conn.send(&[b"SET", key.as_bytes(), value.as_bytes()]);
    }
    for _ in 0..KEYS {
        assert_eq!(conn.read(), b"+OK\r\n");
    }
    let delay = KEY_SAVE_DELAY_US.to_string();
    assert!(call(
        master_port,
        &["CONFIG", "SET", "rdb-key-save-delay", &delay]
    )
    .starts_with("+OK"));
    (master, replica_port)
}

/// Restarts the replica and waits until it loads asynchronously; checks it serves its old
/// data meanwhile.
fn restart_into_async_loading(dir: &TestDir, replica_port: u16) -> NodeProcess {
    let replica = NodeProcess::start_from_existing_conf(&dir.path, replica_port);
    wait_until(WAIT, "async loading", || {
        persistence_field(replica_port, "async_loading") == "1"
    });
    assert_eq!(persistence_field(replica_port, "loading"), "0");
    assert_eq!(
        replica_read(replica_port, &["GET", SLOT0_KEY]),
        "$1\r\n1\r\n"
    );
    assert_eq!(
        call(replica_port, &["DBSIZE"]),
        ":1\r\n",
        "the old data set"
    );
    replica
}

#[test]
fn a_swapdb_replica_keeps_its_old_data_when_the_master_dies_mid_transfer() {
    let dir = TestDir::new("diskless-load-abort");
    let (master, replica_port) = pair_with_stale_replica(&dir);
    let replica = restart_into_async_loading(&dir, replica_port);
    drop(master);
    wait_until(WAIT, "the load is given up", || {
        persistence_field(replica_port, "async_loading") == "0"
    });
    assert_eq!(persistence_field(replica_port, "loading"), "0");
    assert_eq!(
        replica_read(replica_port, &["GET", SLOT0_KEY]),
        "$1\r\n1\r\n"
    );
    assert_eq!(
        replica_read(replica_port, &["CLUSTER", "GETKEYSINSLOT", "0", "1"]),
        "*1\r\n$3\r\n06S\r\n"
    );
    assert_eq!(call(replica_port, &["DBSIZE"]), ":1\r\n");
    assert!(
        replica.log().contains("Discarding temporary DB"),
        "{}",
        replica.log()
    );
}

#[test]
fn a_swapdb_replica_swaps_in_exactly_the_masters_data_when_the_transfer_completes() {
    let dir = TestDir::new("diskless-load-swap");
    let (master, replica_port) = pair_with_stale_replica(&dir);
    let replica = restart_into_async_loading(&dir, replica_port);
    wait_until(WAIT, "the load completes", || {
        persistence_field(replica_port, "async_loading") == "0"
    });
    let master_digest = call(master.port, &["DEBUG", "DIGEST"]);
    wait_until(WAIT, "the replica holds the master's data", || {
        call(replica_port, &["DEBUG", "DIGEST"]) == master_digest
    });
    assert_eq!(call(replica_port, &["DBSIZE"]), format!(":{KEYS}\r\n"));
    assert_eq!(replica_read(replica_port, &["GET", SLOT0_KEY]), "$-1\r\n");
    assert!(
        replica.log().contains("Swapping active DB with loaded DB"),
        "{}",
        replica.log()
    );
    // The stream goes on after the swap.
    assert_eq!(call(master.port, &["SET", SLOT0_KEY, "2"]), "+OK\r\n");
    wait_until(WAIT, "the stream follows", || {
        replica_read(replica_port, &["GET", SLOT0_KEY]) == "$1\r\n2\r\n"
    });
}
