//! The node processes `clusterlab up` starts, `clusterlab node` or `redis-server`, and what
//! may be done to them: wait until they answer, stop them in order, and the chaos faults
//! (`kill -9` and restart, `SIGSTOP`/`SIGCONT`).
//!
//! They run in their own process group (so a terminal's Ctrl-C reaches only `up`, which then
//! stops them in order), get SIGTERM on exit, SIGKILL if they linger, and are killed by PID on
//! any early return. Signals only ever go to the PIDs of children not yet reaped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clusterlab_net::admin;
use clusterlab_net::client::Connection;

/// How long a started node may take to answer PING.
const START_TIMEOUT_MS: u64 = 10_000;
/// How long the created cluster may take to report `cluster_state:ok` everywhere.
const STATE_OK_TIMEOUT_MS: u64 = 30_000;
/// How long a node may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT_MS: u64 = 5_000;
const POLL_MS: u64 = 100;

/// Which server the nodes run.
#[derive(Clone, Debug)]
pub enum ServerKind {
    /// `clusterlab node <conf>`, this very binary.
    Clusterlab(PathBuf),
    /// `redis-server <conf>` from the PATH.
    RedisServer,
}

impl ServerKind {
    pub fn name(&self) -> &'static str {
        match self {
            ServerKind::Clusterlab(_) => "clusterlab node",
            ServerKind::RedisServer => "redis-server",
        }
    }

    fn command(&self, conf: &Path) -> Command {
        let mut command = match self {
            ServerKind::Clusterlab(exe) => {
                let mut c = Command::new(exe);
                c.arg("node");
                c
            }
            ServerKind::RedisServer => Command::new("redis-server"),
        };
        command.arg(conf);
        command
    }
}

/// The started node processes. Dropping it kills those still running.
pub struct Nodes {
    pub dir: PathBuf,
    kind: ServerKind,
    /// `(port, process)` in start order; a node's position here is its chaos number.
    pub children: Vec<(u16, Child)>,
    /// Nodes we sent SIGSTOP and not yet SIGCONT.
    paused: Vec<bool>,
}

impl Nodes {
    pub fn new(dir: PathBuf, kind: ServerKind) -> Nodes {
        Nodes {
            dir,
            kind,
            children: Vec::new(),
            paused: Vec::new(),
        }
    }

    pub fn kind(&self) -> &ServerKind {
        &self.kind
    }

    /// Starts one more node from `<dir>/<port>/redis.conf`.
    pub fn spawn(&mut self, port: u16) -> Result<(), String> {
        let child = self.spawn_process(port)?;
        self.children.push((port, child));
        self.paused.push(false);
        Ok(())
    }

    fn spawn_process(&self, port: u16) -> Result<Child, String> {
        use std::os::unix::process::CommandExt;
        let node_dir = self.dir.join(port.to_string());
        let stderr = fs::File::create(node_dir.join("stderr.log"))
            .map_err(|e| format!("Can't create {}: {e}", node_dir.display()))?;
        self.kind
            .command(&node_dir.join("redis.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Own process group: a terminal's Ctrl-C goes to `up` only, which stops the nodes.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("Can't start {}: {e}", self.kind.name()))
    }

    pub fn addr(&self, node: usize) -> String {
        format!("127.0.0.1:{}", self.children[node].0)
    }

    pub fn addrs(&self) -> Vec<String> {
        (0..self.children.len()).map(|i| self.addr(i)).collect()
    }

    pub fn pid(&self, node: usize) -> u32 {
        self.children[node].1.id()
    }

    fn running(&mut self, node: usize) -> bool {
        matches!(self.children[node].1.try_wait(), Ok(None))
    }

    /// `kill -9`, and reaps it (so its PID is never signalled again).
    pub fn kill9(&mut self, node: usize) -> Result<u32, String> {
        assert!(
            !self.paused[node],
            "a paused node is resumed before anything else"
        );
        if !self.running(node) {
            return Err(format!("node {} is not running", self.addr(node)));
        }
        let child = &mut self.children[node].1;
        let pid = child.id();
        child.kill().map_err(|e| format!("kill -9 {pid}: {e}"))?;
        let _ = child.wait();
        Ok(pid)
    }

    /// Starts a killed node again from its config and data; returns the new PID.
    pub fn restart(&mut self, node: usize) -> Result<u32, String> {
        if self.running(node) {
            return Err(format!("node {} is still running", self.addr(node)));
        }
        let child = self.spawn_process(self.children[node].0)?;
        let pid = child.id();
        self.children[node].1 = child;
        Ok(pid)
    }

    /// `SIGSTOP`.
    pub fn pause(&mut self, node: usize) -> Result<u32, String> {
        if self.paused[node] || !self.running(node) {
            return Err(format!("node {} is paused or not running", self.addr(node)));
        }
        let pid = self.pid(node);
        signal(pid, libc::SIGSTOP);
        self.paused[node] = true;
        Ok(pid)
    }

    /// `SIGCONT` after a pause.
    pub fn resume(&mut self, node: usize) -> Result<u32, String> {
        if !self.paused[node] {
            return Err(format!("node {} is not paused", self.addr(node)));
        }
        let pid = self.pid(node);
        if self.running(node) {
            signal(pid, libc::SIGCONT);
        }
        self.paused[node] = false;
        Ok(pid)
    }

    /// Resumes every paused node (a stopped process would not see SIGTERM).
    pub fn resume_all(&mut self) {
        for node in 0..self.children.len() {
            if self.paused[node] {
                let _ = self.resume(node);
            }
        }
    }

    /// Waits until every started node answers PING.
    pub async fn wait_until_answering(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(START_TIMEOUT_MS);
        for i in 0..self.children.len() {
            let (port, _) = self.children[i];
            let addr = format!("127.0.0.1:{port}");
            loop {
                if ping(&addr).await {
                    break;
                }
                if let Some(status) = self.children[i].1.try_wait().ok().flatten() {
                    let log =
                        fs::read_to_string(self.dir.join(port.to_string()).join("stderr.log"))
                            .unwrap_or_default();
                    return Err(format!("Node {addr} exited ({status}):\n{log}"));
                }
                if Instant::now() > deadline {
                    return Err(format!("Node {addr} did not answer PING in time."));
                }
                tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
            }
        }
        Ok(())
    }

    pub async fn wait_until_state_ok(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(STATE_OK_TIMEOUT_MS);
        for addr in self.addrs() {
            loop {
                let info = admin::cluster_info(&addr).await.unwrap_or_default();
                if info.lines().any(|l| l.trim() == "cluster_state:ok") {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "Node {addr} did not reach cluster_state:ok in time."
                    ));
                }
                tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
            }
        }
        Ok(())
    }

    /// Reports, once each, nodes that exited since the last call (a crash, `SHUTDOWN`).
    pub fn report_exits(&mut self, reported: &mut [bool]) {
        for (i, (port, child)) in self.children.iter_mut().enumerate() {
            if reported[i] {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                println!("Node 127.0.0.1:{port} exited ({status}).");
                reported[i] = true;
            }
        }
    }

    /// SIGTERM to every running node, then SIGKILL for those still up after the grace period.
    pub fn stop(mut self) {
        self.resume_all();
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                signal(child.id(), libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_millis(STOP_TIMEOUT_MS);
        for (port, child) in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(POLL_MS));
            }
            if matches!(child.try_wait(), Ok(None)) {
                println!("Node 127.0.0.1:{port} ignored SIGTERM; killing it.");
            }
        }
        // Drop kills whatever is left.
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill only sends a signal; every caller passes the pid of one of our own
    // children not yet reaped (checked by try_wait just before), so it names no other process.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

async fn ping(addr: &str) -> bool {
    let Ok(mut conn) = Connection::connect(addr).await else {
        return false;
    };
    matches!(
        conn.command_str(&["PING"]).await,
        Ok(clusterlab_core::Reply::Simple(pong)) if pong == "PONG"
    )
}
