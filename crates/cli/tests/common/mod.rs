//! Shared helpers for the interop tests: free ports, temp dirs, `clusterlab node` processes
//! (killed by PID when dropped), raw RESP sockets and bounded runs of external tools.
//!
//! Ports: client ports lie in 12000..20000, so bus ports (+10000) stay below 32768 where the
//! kernel hands out ephemeral ports. Each call takes a fresh block from a per-process cursor
//! (started at a pid-dependent offset), and both ports of every candidate are checked free, so
//! tests in one binary and test binaries run side by side do not collide.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_clusterlab");

const PORT_LOW: u32 = 12000;
const PORT_HIGH: u32 = 20000;
const BUS_OFFSET: u16 = 10000;
/// How long a node may take to answer PING after start.
const START_TIMEOUT: Duration = Duration::from_secs(15);

static PORT_CURSOR: AtomicU32 = AtomicU32::new(0);
static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// `count` consecutive client ports whose bus ports are free as well.
pub fn free_ports(count: usize) -> Vec<u16> {
    let span = PORT_HIGH - PORT_LOW;
    let offset = (std::process::id() * 211) % span;
    for _ in 0..200 {
        let step = PORT_CURSOR.fetch_add(count as u32 + 1, Ordering::SeqCst);
        let first = PORT_LOW + (offset + step) % (span - count as u32);
        let ports: Vec<u16> = (0..count as u32).map(|i| (first + i) as u16).collect();
        if ports
            .iter()
            .all(|&p| port_free(p) && port_free(p + BUS_OFFSET))
        {
            return ports;
        }
    }
    panic!("no block of {count} free ports found");
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// A scratch directory, removed on drop unless the test failed (then its path is printed so
/// the node logs can be read).
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("clusterlab-it-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create test dir");
        TestDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The redis.conf a test node gets: loopback only, cluster mode, a short node timeout.
pub fn node_conf(dir: &Path, port: u16, node_timeout_ms: u64, extra: &str) -> String {
    format!(
        "port {port}\n\
         bind 127.0.0.1\n\
         cluster-enabled yes\n\
         cluster-config-file nodes-{port}.conf\n\
         cluster-node-timeout {node_timeout_ms}\n\
         dir \"{dir}\"\n\
         logfile \"{dir}/node-{port}.log\"\n\
         pidfile \"{dir}/node-{port}.pid\"\n\
         save \"\"\n\
         appenddirname appendonlydir-{port}\n\
         {extra}\n",
        dir = dir.display()
    )
}

/// One `clusterlab node` process; killed (SIGKILL, by PID) when dropped.
pub struct NodeProcess {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl NodeProcess {
    /// Writes the conf, starts the node and waits until it answers PING.
    pub fn start(dir: &Path, port: u16, node_timeout_ms: u64, extra_conf: &str) -> NodeProcess {
        let conf = dir.join(format!("node-{port}.conf"));
        std::fs::write(&conf, node_conf(dir, port, node_timeout_ms, extra_conf)).unwrap();
        NodeProcess::start_from_existing_conf(dir, port)
    }

    /// Starts the node on the conf an earlier [`NodeProcess::start`] wrote (and it may have
    /// rewritten), and waits until it answers PING.
    #[allow(dead_code)] // Not every test binary restarts a node this way.
    pub fn start_from_existing_conf(dir: &Path, port: u16) -> NodeProcess {
        let conf = dir.join(format!("node-{port}.conf"));
        let stderr = std::fs::File::create(dir.join(format!("node-{port}.stderr"))).unwrap();
        let child = Command::new(BIN)
            .arg("node")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start clusterlab node");
        let mut node = NodeProcess {
            port,
            dir: dir.to_path_buf(),
            child,
        };
        node.wait_until_answering();
        node
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("node-{}.log", self.port)))
            .unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("node-{}.stderr", self.port)))
            .unwrap_or_default()
    }

    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "node {} exited at start ({status}):\n{}{}",
                    self.port,
                    self.stderr(),
                    self.log()
                );
            }
            if let Ok(reply) = resp_roundtrip(self.port, b"PING\r\n") {
                if reply == b"+PONG\r\n" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not answer PING in time:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit on its own (bounded).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node {} did not exit", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- log of node {} ---\n{}", self.port, self.log());
        }
    }
}

/// Sends raw bytes and returns what arrives within a short while (the reply of a simple
/// command is one read away on loopback).
pub fn resp_roundtrip(port: u16, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request)?;
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// One command over RESP; the reply's text (bulk/simple/error/integer), `nil` for null.
pub fn command_text(port: u16, args: &[&str]) -> String {
    let mut request = format!("*{}\r\n", args.len());
    for a in args {
        request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    let raw = resp_roundtrip(port, request.as_bytes()).expect("node reachable");
    let text = String::from_utf8_lossy(&raw).into_owned();
    match text.as_bytes().first() {
        Some(b'$') if text.starts_with("$-1") => "nil".into(),
        Some(b'$') => {
            let (_, body) = text.split_once("\r\n").expect("bulk header");
            body.strip_suffix("\r\n").unwrap_or(body).to_string()
        }
        Some(b'+' | b'-' | b':') => text[1..].trim_end().to_string(),
        _ => text,
    }
}

/// One `CLUSTER INFO` field of the node on `port` (empty when missing).
pub fn cluster_info_field(port: u16, name: &str) -> String {
    command_text(port, &["CLUSTER", "INFO"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A finished process's standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `CLUSTER MYID` of the node on `port`.
pub fn myid(port: u16) -> String {
    command_text(port, &["CLUSTER", "MYID"])
}

/// The myself line of `CLUSTER NODES` on `port`.
pub fn myself_line(port: u16) -> String {
    command_text(port, &["CLUSTER", "NODES"])
        .lines()
        .find(|l| l.contains("myself"))
        .expect("a myself line")
        .to_string()
}

/// How many slots the node on `port` owns, from its myself line.
pub fn slot_count(port: u16) -> usize {
    myself_line(port)
        .split(' ')
        .skip(8)
        .filter(|f| !f.starts_with('['))
        .map(|r| match r.split_once('-') {
            Some((lo, hi)) => hi.parse::<usize>().unwrap() - lo.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

/// A key (`key<i>`) for each of slots 0..=9.
pub fn keys_for_low_slots() -> Vec<String> {
    let mut keys = vec![String::new(); 10];
    for i in 0..200_000 {
        let key = format!("key{i}");
        let slot = usize::from(clusterlab_core::slot::key_hash_slot(key.as_bytes()));
        if slot < 10 && keys[slot].is_empty() {
            keys[slot] = key;
        }
    }
    assert!(keys.iter().all(|k| !k.is_empty()), "keys for slots 0..9");
    keys
}

/// Reads until the peer closes (bounded by `timeout`); returns the bytes and whether it closed.
pub fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (all, true),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (all, true),
        }
    }
    (all, false)
}

/// Runs a command with stdout/stderr captured, killing it after `timeout`.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn command");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_reader.join().unwrap();
            panic!(
                "{command:?} did not finish within {timeout:?}; output so far:\n{}",
                String::from_utf8_lossy(&stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Whether `redis-cli` can be used. Missing: the test fails in CI (`CI=true`) and is skipped
/// with a message elsewhere.
pub fn redis_cli_available() -> bool {
    let found = Command::new("redis-cli")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !in_ci,
            "redis-cli is required for interop tests in CI but was not found"
        );
        eprintln!("SKIPPED: redis-cli not found (install redis-tools to run this test)");
    }
    found
}

/// `redis-cli <args>` with a time bound; returns stdout (stdout is not a tty, so replies come
/// without `(error)`/quotes decoration).
pub fn redis_cli(args: &[&str]) -> String {
    let output = run_bounded(
        Command::new("redis-cli").args(args),
        Duration::from_secs(30),
    );
    assert!(
        output.status.success(),
        "redis-cli {args:?} failed: {output:?}"
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Polls `check` every 50 ms until it returns true; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A throwaway `redis-server` (the reference for differential tests) on 127.0.0.1 without
/// persistence; killed by PID when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    /// Its own working directory (unless `extra_args` name another `--dir`): a file it writes
    /// there, such as the `dump.rdb` a replica saves on a full sync, must not be loaded by the
    /// next test's server, as one in the tests' shared working directory would be.
    dir: std::path::PathBuf,
}

impl RedisServer {
    /// `None` when `redis-server` is not installed (callers then fail in CI, skip locally).
    pub fn start(port: u16, extra_args: &[&str]) -> Option<RedisServer> {
        let dir = std::env::temp_dir().join(format!(
            "clusterlab-redis-server-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer { port, child, dir };
        wait_until(START_TIMEOUT, "redis-server answers PING", || {
            resp_roundtrip(port, b"PING\r\n").is_ok_and(|r| r == b"+PONG\r\n")
        });
        Some(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One client connection that sends commands and reads back each reply's raw bytes.
pub struct RespConn {
    reader: std::io::BufReader<TcpStream>,
    writer: TcpStream,
}

impl RespConn {
    pub fn connect(port: u16) -> RespConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("server reachable");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        RespConn {
            reader: std::io::BufReader::new(stream),
            writer,
        }
    }

    /// Sends `args` as a RESP array and returns the complete raw reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        let mut raw = Vec::new();
        read_reply(&mut self.reader, &mut raw);
        raw
    }

    /// Reads the next whole reply or push, raw.
    #[allow(dead_code)] // Not every test binary reads pushes.
    pub fn read(&mut self) -> Vec<u8> {
        let mut raw = Vec::new();
        read_reply(&mut self.reader, &mut raw);
        raw
    }

    /// Sends `args` as a RESP array without reading anything back.
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&request).unwrap();
    }

    /// Whatever arrives within 200 ms of quiet (pushes, or nothing), raw.
    pub fn drain(&mut self) -> Vec<u8> {
        use std::io::BufRead;
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut raw = Vec::new();
        while let Ok(buf) = self.reader.fill_buf() {
            if buf.is_empty() {
                break;
            }
            raw.extend_from_slice(buf);
            let n = buf.len();
            self.reader.consume(n);
        }
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        raw
    }
}

/// Reads one whole RESP2/RESP3 value, appending its bytes to `raw`.
fn read_reply(reader: &mut impl std::io::BufRead, raw: &mut Vec<u8>) {
    let start = raw.len();
    reader.read_until(b'\n', raw).expect("a reply line");
    let line = String::from_utf8_lossy(&raw[start..])
        .trim_end()
        .to_string();
    let (kind, rest) = line.split_at(1);
    let n: i64 = rest.parse().unwrap_or(0);
    match kind {
        "$" | "=" | "!" if n >= 0 => {
            let mut body = vec![0u8; n as usize + 2];
            reader.read_exact(&mut body).unwrap();
            raw.extend_from_slice(&body);
        }
        "*" | "~" | ">" => (0..n.max(0)).for_each(|_| read_reply(reader, raw)),
        "%" | "|" => (0..n.max(0) * 2).for_each(|_| read_reply(reader, raw)),
        _ => {}
    }
}
