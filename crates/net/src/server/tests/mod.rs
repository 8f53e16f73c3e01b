//! Tests of the driver on real sockets (the normal build): shared helpers here, the tests by
//! topic in the submodules.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clusterlab_core::config::{AppendFsync, DebugCommand};
use clusterlab_core::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::{Exit, Server, Shared};
use crate::disk::MemDisk;

mod clients;
mod effects;
mod replication;
mod startup;

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn local_config() -> Config {
    Config {
        port: 0,
        bind: words(&["127.0.0.1"]),
        dir: "data".into(),
        enable_debug_command: DebugCommand::Yes,
        // Full syncs at once (the core tests `repl-diskless-sync-delay`).
        repl_diskless_sync_delay_s: 0,
        ..Config::default()
    }
}

async fn start(
    config: Config,
    disk: MemDisk,
) -> (SocketAddr, Arc<Shared>, JoinHandle<io::Result<Exit>>) {
    let server = Server::bind(config, 7, Arc::new(disk)).await.unwrap();
    let addr = server.client_addr().unwrap();
    let shared = server.shared.clone();
    (addr, shared, tokio::spawn(server.serve()))
}

async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let read = stream.read_to_end(&mut all);
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("connection not closed in time")
        .unwrap();
    all
}

async fn roundtrip(stream: &mut TcpStream, request: &[u8], reply_len: usize) -> Vec<u8> {
    stream.write_all(request).await.unwrap();
    read_exactly(stream, reply_len).await
}

/// Reads until `expected` bytes arrived (or fails after 5 s).
async fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0; len];
    let read = stream.read_exact(&mut got);
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("not enough bytes in time")
        .unwrap();
    got
}

/// Reads one byte at a time up to and including the next CRLF.
async fn read_line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        line.extend(read_exactly(stream, 1).await);
    }
    line
}

const INCR: &str = "data/appendonlydir/appendonly.aof.1.incr.aof";

fn aof_config(appendfsync: AppendFsync) -> Config {
    Config {
        appendonly: true,
        appendfsync,
        ..local_config()
    }
}

/// A port nobody listens on right now (for the bus of in-process cluster nodes).
async fn unused_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    probe.local_addr().unwrap().port()
}

async fn cluster_config() -> Config {
    Config {
        cluster_enabled: true,
        cluster_port: unused_port().await,
        ..local_config()
    }
}
