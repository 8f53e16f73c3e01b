//! Client connections: pipelining, protocol errors, `QUIT`, shutdown, `DEBUG SEGFAULT` and
//! `DEBUG SLEEP`.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::{local_config, read_to_end, roundtrip, start};
use crate::disk::MemDisk;
use crate::server::{Exit, ShutdownHandle};

#[tokio::test]
async fn pipelined_requests_run_before_a_protocol_error_closes_the_connection() {
    let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
    let mut bad = TcpStream::connect(addr).await.unwrap();
    let mut good = TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_to_end(&mut bad).await,
        b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"
    );
    assert_eq!(
        roundtrip(&mut good, b"*1\r\n$4\r\nPING\r\n", 7).await,
        b"+PONG\r\n"
    );
}

#[tokio::test]
async fn quit_answers_then_closes_without_running_the_rest() {
    let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"PING\r\nQUIT\r\nPING\r\n").await.unwrap();
    assert_eq!(read_to_end(&mut conn).await, b"+PONG\r\n+OK\r\n");
}

#[tokio::test]
async fn requests_split_across_reads_are_answered_once_complete() {
    let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel")
        .await
        .unwrap();
    conn.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        roundtrip(&mut conn, b"lo\r\n", 11).await,
        b"$5\r\nhello\r\n"
    );
}

#[tokio::test]
async fn shutdown_handle_stops_serving_and_frees_the_port() {
    let (addr, shared, serving) = start(local_config(), MemDisk::new()).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    assert_eq!(roundtrip(&mut conn, b"PING\r\n", 7).await, b"+PONG\r\n");
    ShutdownHandle { shared }.shutdown();
    let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
    assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Shutdown);
    assert_eq!(read_to_end(&mut conn).await, b"");
    assert!(TcpListener::bind(addr).await.is_ok(), "port still bound");
}

#[tokio::test]
async fn debug_segfault_crashes_without_a_reply() {
    let (addr, _shared, serving) = start(local_config(), MemDisk::new()).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"DEBUG SEGFAULT\r\nPING\r\n").await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
    assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Crash);
    assert_eq!(read_to_end(&mut conn).await, b"");
}

#[tokio::test]
async fn debug_sleep_holds_every_client() {
    let (addr, _shared, _serving) = start(local_config(), MemDisk::new()).await;
    let mut sleeper = TcpStream::connect(addr).await.unwrap();
    let mut other = TcpStream::connect(addr).await.unwrap();
    let started = tokio::time::Instant::now();
    sleeper.write_all(b"DEBUG SLEEP 0.3\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(roundtrip(&mut other, b"PING\r\n", 7).await, b"+PONG\r\n");
    assert!(
        started.elapsed() >= Duration::from_millis(280),
        "PING answered during sleep"
    );
    assert_eq!(roundtrip(&mut sleeper, b"", 5).await, b"+OK\r\n");
}
