//! Replication between in-process nodes and against a hand-made replica: the snapshot and the
//! stream, `WAIT`, and the stream reaching the replica's socket before the write's reply.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use clusterlab_core::{ClientId, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{cluster_config, local_config, read_exactly, read_line, roundtrip, start, unused_port};
use crate::client;
use crate::disk::{Disk, MemDisk};
use crate::server::client::{CloseSignal, Step};
use crate::server::Server;

/// Sends a command on a fresh connection and returns the reply as text.
async fn ask(addr: SocketAddr, args: &[&str]) -> String {
    let mut conn = client::Connection::connect(&addr.to_string())
        .await
        .unwrap();
    reply_text(conn.command_str(args).await.unwrap())
}

fn reply_text(reply: clusterlab_core::Reply) -> String {
    use clusterlab_core::Reply;
    match reply {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Simple(s) | Reply::Error(s) | Reply::Verbatim(_, s) => s,
        Reply::Integer(n) => n.to_string(),
        Reply::Nil => "(nil)".into(),
        other => format!("{other:?}"),
    }
}

/// The value of one `INFO replication` field.
async fn repl_field(addr: SocketAddr, name: &str) -> String {
    let info = ask(addr, &["INFO", "replication"]).await;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_default()
        .to_string()
}

/// Polls `check` every 50 ms for up to 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_replica_copies_its_masters_keys_then_follows_its_writes() {
    let master_config = Config {
        port: unused_port().await,
        ..cluster_config().await
    };
    let replica_config = Config {
        port: unused_port().await,
        appendonly: true,
        ..cluster_config().await
    };
    let replica_disk = MemDisk::new();
    let (m, m_shared, _m_serving) = start(master_config.clone(), MemDisk::new()).await;
    // Its own seed, or both nodes would draw the same ID.
    let server = Server::bind(replica_config, 8, Arc::new(replica_disk.clone()))
        .await
        .unwrap();
    let r = server.client_addr().unwrap();
    let _r_serving = tokio::spawn(server.serve());
    assert_eq!(
        ask(m, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).await,
        "OK"
    );
    eventually("the master's cluster_state:ok", || async {
        ask(m, &["CLUSTER", "INFO"])
            .await
            .contains("cluster_state:ok")
    })
    .await;
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(ask(m, &["SET", k, v]).await, "OK");
    }
    assert_eq!(ask(m, &["PEXPIRE", "c", "100000"]).await, "1");
    let port = master_config.port.to_string();
    let cport = master_config.cluster_port.to_string();
    assert_eq!(
        ask(r, &["CLUSTER", "MEET", "127.0.0.1", &port, &cport]).await,
        "OK"
    );
    let master_id = m_shared.lock_node().myself().to_string();
    eventually("the replica to know the master", || async {
        let nodes = ask(r, &["CLUSTER", "NODES"]).await;
        nodes.contains(&format!("{master_id} 127.0.0.1:{port}@")) && !nodes.contains("handshake")
    })
    .await;
    assert_eq!(ask(r, &["CLUSTER", "REPLICATE", &master_id]).await, "OK");
    eventually("the link up", || async {
        repl_field(r, "master_link_status").await == "up"
    })
    .await;
    let mut conn = client::Connection::connect(&r.to_string()).await.unwrap();
    assert_eq!(
        reply_text(conn.command_str(&["READONLY"]).await.unwrap()),
        "OK"
    );
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(reply_text(conn.command_str(&["GET", k]).await.unwrap()), v);
    }
    let pttl = reply_text(conn.command_str(&["PTTL", "c"]).await.unwrap());
    assert!(pttl.parse::<u64>().unwrap() > 90_000, "PTTL {pttl}");
    // Writes on the replica are redirected (keyed) or refused (keyless).
    assert!(ask(r, &["SET", "a", "x"]).await.starts_with("MOVED "));
    assert_eq!(
        ask(r, &["FLUSHALL"]).await,
        "READONLY You can't write against a read only replica."
    );
    // A later write arrives, and both sides agree on the offset.
    let before: u64 = repl_field(m, "master_repl_offset").await.parse().unwrap();
    assert_eq!(ask(m, &["SET", "d", "4"]).await, "OK");
    let set_len = "*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4\r\n".len() as u64;
    let after: u64 = repl_field(m, "master_repl_offset").await.parse().unwrap();
    assert_eq!(after, before + set_len);
    eventually("the write on the replica", || async {
        repl_field(r, "slave_repl_offset").await == after.to_string()
    })
    .await;
    assert_eq!(
        reply_text(conn.command_str(&["GET", "d"]).await.unwrap()),
        "4"
    );
    eventually("the master to see the ACK", || async {
        repl_field(m, "slave0")
            .await
            .contains(&format!("state=online,offset={after},"))
    })
    .await;
    assert_eq!(repl_field(m, "connected_slaves").await, "1");
    // The replica's AOF starts again from the loaded dataset, as a new base (an RDB file,
    // the old files deleted once the manifest names the new ones), and logs the stream to
    // the new incr file.
    let base = replica_disk
        .read(Path::new("data/appendonlydir/appendonly.aof.2.base.rdb"))
        .unwrap()
        .unwrap();
    let (base, _) = clusterlab_core::rdb::decode(&base, &Default::default()).unwrap();
    let mut keys: Vec<&[u8]> = base.entries.iter().map(|e| &e.key[..]).collect();
    keys.sort();
    assert_eq!(keys, [&b"a"[..], b"b", b"c"]);
    assert_eq!(
        replica_disk
            .read(Path::new("data/appendonlydir/appendonly.aof.1.incr.aof"))
            .unwrap(),
        None
    );
    let aof = replica_disk
        .read(Path::new("data/appendonlydir/appendonly.aof.2.incr.aof"))
        .unwrap()
        .unwrap();
    let aof = String::from_utf8_lossy(&aof);
    assert!(
        aof.ends_with("*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4\r\n"),
        "{aof}"
    );
    let manifest = replica_disk
        .read(Path::new("data/appendonlydir/appendonly.aof.manifest"))
        .unwrap()
        .unwrap();
    let manifest = String::from_utf8_lossy(&manifest);
    assert!(
        manifest.contains("appendonly.aof.2.base.rdb seq 2 type b"),
        "{manifest}"
    );
    // A `repl-timeout` shorter than the master's PING period: the quiet link is dropped, and
    // the replica continues from its offset (a partial resync, no second full sync).
    let stat = |name: &'static str| async move {
        let info = ask(m, &["INFO", "stats"]).await;
        let line = info
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")));
        line.unwrap_or_default().to_string()
    };
    assert_eq!(
        (stat("sync_full").await, stat("sync_partial_ok").await),
        ("1".into(), "0".into())
    );
    assert_eq!(ask(r, &["CONFIG", "SET", "repl-timeout", "1"]).await, "OK");
    eventually("a partial resync", || async {
        stat("sync_partial_ok").await != "0"
    })
    .await;
    assert_eq!(ask(r, &["CONFIG", "SET", "repl-timeout", "60"]).await, "OK");
    assert_eq!(stat("sync_full").await, "1");
    assert_eq!(ask(m, &["SET", "e", "5"]).await, "OK");
    let after: u64 = repl_field(m, "master_repl_offset").await.parse().unwrap();
    eventually("the next write on the replica", || async {
        repl_field(r, "slave_repl_offset").await == after.to_string()
    })
    .await;
    for (k, v) in [("a", "1"), ("d", "4"), ("e", "5")] {
        assert_eq!(reply_text(conn.command_str(&["GET", k]).await.unwrap()), v);
    }
}

/// A full sync's payload to a replica that did not send `capa eof`: `$<len>\r\n` and an RDB
/// file of that length.
async fn read_sized_payload(replica: &mut TcpStream) -> Vec<u8> {
    let header = read_line(replica).await;
    let len: usize = std::str::from_utf8(&header[1..header.len() - 2])
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(header[0], b'$');
    let rdb = read_exactly(replica, len).await;
    assert!(rdb.starts_with(b"REDIS0010"));
    rdb
}

#[tokio::test]
async fn wait_holds_the_client_and_its_next_commands_until_the_replica_acks() {
    let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
    // A hand-made replica: handshake, then the snapshot of an empty keyspace.
    let mut replica = TcpStream::connect(addr).await.unwrap();
    let psync = b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n";
    let header = roundtrip(&mut replica, psync, 1).await;
    assert_eq!(header, b"+");
    assert!(read_line(&mut replica).await.starts_with(b"FULLRESYNC "));
    read_sized_payload(&mut replica).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
    assert_eq!(roundtrip(&mut client, set, 5).await, b"+OK\r\n");
    // WAIT and a PING behind it: neither reply comes before the ACK.
    client
        .write_all(b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n")
        .await
        .unwrap();
    let getack = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
    let stream = read_exactly(&mut replica, set.len() + getack.len()).await;
    assert_eq!(
        stream,
        [&set[..], &getack[..]].concat(),
        "the write, then GETACK"
    );
    let mut early = [0u8; 1];
    let nothing = tokio::time::timeout(Duration::from_millis(300), client.read(&mut early));
    assert!(nothing.await.is_err(), "no reply before the ACK");
    let offset = (set.len() + getack.len()).to_string();
    let ack = format!(
        "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n${}\r\n{offset}\r\n",
        offset.len()
    );
    replica.write_all(ack.as_bytes()).await.unwrap();
    assert_eq!(read_exactly(&mut client, 11).await, b":1\r\n+PONG\r\n");
    // A timeout answers with the count so far; a client that leaves while blocked is
    // simply forgotten.
    assert_eq!(roundtrip(&mut client, set, 5).await, b"+OK\r\n");
    let wait = b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$3\r\n200\r\n";
    assert_eq!(roundtrip(&mut client, wait, 4).await, b":0\r\n");
    let mut leaving = TcpStream::connect(addr).await.unwrap();
    assert_eq!(roundtrip(&mut leaving, set, 5).await, b"+OK\r\n");
    leaving
        .write_all(b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n")
        .await
        .unwrap();
    drop(leaving);
    let ping = b"*1\r\n$4\r\nPING\r\n";
    assert_eq!(roundtrip(&mut client, ping, 7).await, b"+PONG\r\n");
}

/// A write's stream is on the replica's socket when the batch that ran it returns, that is
/// before its reply is written: a master killed right after replying has sent it (Redis
/// too writes replicas' buffers in the same event-loop turn as the reply).
#[tokio::test]
async fn a_write_is_on_the_replica_socket_before_its_reply_is_written() {
    let (addr, shared, _serving) = start(local_config(), MemDisk::new()).await;
    let mut replica = TcpStream::connect(addr).await.unwrap();
    let psync = b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n";
    replica.write_all(psync).await.unwrap();
    assert!(read_line(&mut replica).await.starts_with(b"+FULLRESYNC "));
    read_sized_payload(&mut replica).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        .await
        .unwrap();
    let id_line = read_line(&mut client).await;
    let id: ClientId = std::str::from_utf8(&id_line[1..id_line.len() - 2])
        .unwrap()
        .parse()
        .unwrap();
    let replica = replica.into_std().unwrap();
    // Runs a pipelined batch as the client's task does, with no `.await` until the check:
    // on this single-threaded runtime no other task (the replica client's included) runs
    // in between, so only `run_requests` itself can have written the stream.
    let set_a = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
    let set_b = b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n";
    let expected = [&set_a[..], &set_b[..]].concat();
    let mut input = BytesMut::from(&expected[..]);
    let mut output = BytesMut::new();
    let step = shared.run_requests(id, &CloseSignal::default(), &mut input, &mut output);
    assert_eq!(step, Step::Continue);
    assert_eq!(&output[..], b"+OK\r\n+OK\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    for _ in 0..200 {
        match std::io::Read::read(&mut &replica, &mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if got.len() >= expected.len() {
                    break;
                }
                // Loopback delivery is done within the write; this only rides out a slow
                // kernel, and still lets no task of this runtime run.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("replica read: {e}"),
        }
    }
    assert_eq!(got, expected, "the stream of both writes, in order");
}
