//! A clusterlab master's full sync read by real Redis 7.0 tools: `redis-cli --rdb` (SYNC with
//! `REPLCONF capa eof` and `rdb-only`) saves a file redis-server loads with the same
//! `DEBUG DIGEST`, and a redis-server `REPLICAOF` a clusterlab node (both `cluster-enabled no`)
//! loads its diskless payload, then follows the stream, in either payload form.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;
const OURS: &str = "cluster-enabled no\nenable-debug-command yes\nappendonly no\n\
                    repl-diskless-sync-delay 0";

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn call(conn: &mut RespConn, command: &str) -> String {
    let args: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
    text(&conn.call(&args))
}

/// Every type, a TTL, and enough keys to span many reads.
fn fill(conn: &mut RespConn) {
    for command in [
        "SET s hello",
        "SET ttl v PX 500000",
        "RPUSH l a b c 1 2 3",
        "HSET h f v g 2",
        "SADD si 1 2 3 -7",
        "ZADD z 1 a 2.5 b -3 c",
        "DEBUG POPULATE 2000 key 100",
    ] {
        let reply = call(conn, command);
        assert!(!reply.starts_with('-'), "`{command}`: {reply}");
    }
}

#[test]
fn redis_cli_rdb_saves_a_file_redis_server_loads_with_the_same_digest() {
    if !redis_cli_available() {
        return;
    }
    let dir = TestDir::new("full-sync-redis-cli-rdb");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let _node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, OURS);
    let mut ours = RespConn::connect(ours_port);
    fill(&mut ours);
    let digest = call(&mut ours, "DEBUG DIGEST");
    let file = dir.join("fetched.rdb").display().to_string();
    let output = run_bounded(
        Command::new("redis-cli").args(["-p", &ours_port.to_string(), "--rdb", &file]),
        Duration::from_secs(30),
    );
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // The diskless form (`$EOF:<mark>`), as Redis 7.0 sends it by default.
    assert!(stderr.contains("until EOF marker"), "{stderr}");
    let dir_arg = dir.path.display().to_string();
    let _redis = RedisServer::start(
        redis_port,
        &[
            "--dir",
            &dir_arg,
            "--dbfilename",
            "fetched.rdb",
            "--enable-debug-command",
            "yes",
        ],
    )
    .expect("redis-server is needed for this test");
    let mut redis = RespConn::connect(redis_port);
    assert_eq!(call(&mut redis, "DBSIZE"), ":2006\r\n");
    let redis_digest = text(&redis.call(&[b"DEBUG", b"DIGEST"]));
    assert_eq!(redis_digest, digest);
}

/// redis-server replicating the node at `ours_port` until it says the link is up.
fn replicate_from(redis: &mut RespConn, ours_port: u16) {
    let reply = call(redis, &format!("REPLICAOF 127.0.0.1 {ours_port}"));
    assert_eq!(reply, "+OK\r\n");
    wait_until(Duration::from_secs(20), "the replica's link up", || {
        call(redis, "INFO replication").contains("master_link_status:up")
    });
}

/// `target` is what the master logs for the payload form it chose.
fn redis_server_follows(ours_extra: &str, target: &str) {
    let dir = TestDir::new("full-sync-replicaof");
    let [ours_port, redis_port] = free_ports(2)[..] else {
        unreachable!()
    };
    let conf = format!("{OURS}\n{ours_extra}");
    let node = NodeProcess::start(&dir.path, ours_port, NODE_TIMEOUT_MS, &conf);
    let mut ours = RespConn::connect(ours_port);
    fill(&mut ours);
    let _redis = RedisServer::start(redis_port, &["--enable-debug-command", "yes"])
        .expect("redis-server is needed for this test");
    let mut redis = RespConn::connect(redis_port);
    call(&mut redis, "SET stale x");
    replicate_from(&mut redis, ours_port);
    let log = node.log();
    assert!(log.contains(&format!("with target: {target}")), "{log}");
    assert_eq!(
        call(&mut redis, "DEBUG DIGEST"),
        call(&mut ours, "DEBUG DIGEST"),
        "the snapshot"
    );
    // Then the stream: writes after the payload reach it in order.
    for command in ["SET after 1", "INCR n", "RPUSH l tail", "DEL s"] {
        call(&mut ours, command);
    }
    let want = call(&mut ours, "DEBUG DIGEST");
    wait_until(Duration::from_secs(10), "the stream applied", || {
        call(&mut redis, "DEBUG DIGEST") == want
    });
    assert_eq!(call(&mut redis, "EXISTS stale"), ":0\r\n");
}

#[test]
fn redis_server_replicates_a_clusterlab_master_from_its_diskless_payload() {
    redis_server_follows("", "replicas sockets");
}

#[test]
fn redis_server_replicates_a_clusterlab_master_from_its_sized_payload() {
    redis_server_follows("repl-diskless-sync no", "disk");
}
