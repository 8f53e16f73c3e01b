//! `clusterlab up` (a local cluster of `clusterlab node` child processes, created and ready)
//! and `clusterlab cluster create` (redis-cli's `--cluster create` through `net::admin`).
//!
//! `up` owns the processes it starts: they run in their own process group (so a terminal's
//! Ctrl-C reaches only `up`, which then stops them in order), get SIGTERM on exit, SIGKILL if
//! they linger, and are killed by PID on any early return.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clusterlab_net::admin::{self, AdminError};
use clusterlab_net::client::Connection;

use crate::{logging, CreateArgs, UpArgs};

/// How long a started node may take to answer PING.
const START_TIMEOUT_MS: u64 = 10_000;
/// How long the created cluster may take to report `cluster_state:ok` everywhere.
const STATE_OK_TIMEOUT_MS: u64 = 30_000;
/// How long a node may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT_MS: u64 = 5_000;
const POLL_MS: u64 = 100;

/// `clusterlab cluster create …`
pub fn create(args: CreateArgs) -> ExitCode {
    logging::init_stderr_warnings();
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(admin::create(&args.nodes, args.replicas)) {
        Ok(()) => {
            let masters = args.nodes.len() / (args.replicas + 1);
            println!(
                "[OK] Cluster created: {masters} masters, {} replicas per master.",
                args.replicas
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `clusterlab up …`
pub fn up(args: UpArgs) -> ExitCode {
    logging::init_stderr_warnings();
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    // Catch Ctrl-C and SIGTERM before saying "ready": a signal that came in between would
    // otherwise kill this process the default way and leave the nodes running.
    let signals = runtime.block_on(async { StopSignals::install() });
    match start_cluster(&args) {
        Ok(mut nodes) => {
            runtime.block_on(wait_for_stop(&mut nodes, signals));
            println!("Stopping {} nodes...", nodes.children.len());
            nodes.stop();
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            eprintln!("Can't start the runtime: {e}");
            None
        }
    }
}

/// Starts the processes, creates the cluster and waits until it is ok.
fn start_cluster(args: &UpArgs) -> Result<Nodes, String> {
    if args.masters < 3 {
        return Err("*** Redis Cluster requires at least 3 master nodes.".into());
    }
    let count = args.masters * (args.replicas + 1);
    let last_port = u32::from(args.port) + count as u32 - 1;
    if args.port == 0 || last_port + 10000 > u32::from(u16::MAX) {
        return Err(format!(
            "Ports {}..={last_port} and their bus ports (+10000) must fit below 65536.",
            args.port
        ));
    }
    let dir = absolute(
        args.dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("clusterlab-up-{}", args.port))),
    )?;
    let exe = std::env::current_exe().map_err(|e| format!("Can't find my own binary: {e}"))?;
    let mut nodes = Nodes {
        dir: dir.clone(),
        children: Vec::new(),
    };
    for i in 0..count {
        let port = args.port + i as u16;
        let conf = write_node_conf(&dir, port, args.node_timeout_ms)?;
        nodes.children.push((port, spawn_node(&exe, &conf, &dir)?));
    }
    let runtime = runtime().ok_or("no runtime")?;
    runtime.block_on(nodes.wait_until_answering())?;
    let addrs: Vec<String> = nodes.addrs();
    println!(">>> Creating the cluster on {}", addrs.join(" "));
    match runtime.block_on(admin::create(&addrs, args.replicas)) {
        Ok(()) => {}
        Err(AdminError::NotEmpty(addr)) => {
            println!("Node {addr} already belongs to a cluster (state kept in {}); not creating it again.", dir.display());
        }
        Err(e) => return Err(e.to_string()),
    }
    runtime.block_on(nodes.wait_until_state_ok())?;
    println!(
        "Cluster ready: {} masters, {} replicas per master, ports {}-{}.",
        args.masters, args.replicas, args.port, last_port
    );
    println!("Connect with: redis-cli -c -p {}", args.port);
    println!("Config, logs and data: {}", dir.display());
    println!("Press Ctrl-C to stop the nodes.");
    Ok(nodes)
}

fn absolute(path: PathBuf) -> Result<PathBuf, String> {
    if path.is_absolute() {
        return Ok(path);
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|e| format!("Can't read the current directory: {e}"))
}

/// Writes `<dir>/<port>/redis.conf`, dropping state a previous default run left there.
fn write_node_conf(dir: &Path, port: u16, node_timeout_ms: u64) -> Result<PathBuf, String> {
    let node_dir = dir.join(port.to_string());
    fs::create_dir_all(&node_dir)
        .map_err(|e| format!("Can't create {}: {e}", node_dir.display()))?;
    let conf = node_dir.join("redis.conf");
    let text = format!(
        "# Written by clusterlab up.\n\
         port {port}\n\
         bind 127.0.0.1\n\
         cluster-enabled yes\n\
         cluster-config-file nodes.conf\n\
         cluster-node-timeout {node_timeout_ms}\n\
         dir \"{dir}\"\n\
         logfile \"{dir}/node.log\"\n\
         pidfile \"{dir}/node.pid\"\n\
         save \"\"\n",
        dir = node_dir.display()
    );
    fs::write(&conf, text).map_err(|e| format!("Can't write {}: {e}", conf.display()))?;
    Ok(conf)
}

fn spawn_node(exe: &Path, conf: &Path, dir: &Path) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    let node_dir = conf.parent().unwrap_or(dir);
    let stderr = fs::File::create(node_dir.join("stderr.log"))
        .map_err(|e| format!("Can't create {}: {e}", node_dir.display()))?;
    Command::new(exe)
        .arg("node")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        // Own process group: a terminal's Ctrl-C goes to `up` only, which stops the nodes.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("Can't start {}: {e}", exe.display()))
}

/// The started node processes. Dropping it kills those still running.
struct Nodes {
    dir: PathBuf,
    children: Vec<(u16, Child)>,
}

impl Nodes {
    fn addrs(&self) -> Vec<String> {
        self.children
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect()
    }

    async fn wait_until_answering(&mut self) -> Result<(), String> {
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

    async fn wait_until_state_ok(&self) -> Result<(), String> {
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
    fn report_exits(&mut self, reported: &mut [bool]) {
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
    fn stop(mut self) {
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                terminate(child.id());
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

fn terminate(pid: u32) {
    // SAFETY: kill only sends a signal; the pid is one of our own children not yet reaped
    // (checked by try_wait just before), so it cannot name another process.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
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

/// SIGINT and SIGTERM handlers (`None`: the OS refused one; that signal then acts as usual).
struct StopSignals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn install() -> StopSignals {
        use tokio::signal::unix::{signal, SignalKind};
        StopSignals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }
}

async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal.as_mut() {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Runs until Ctrl-C or SIGTERM, reporting nodes that exit meanwhile.
async fn wait_for_stop(nodes: &mut Nodes, mut signals: StopSignals) {
    let mut check = tokio::time::interval(Duration::from_millis(1000));
    let mut reported = vec![false; nodes.children.len()];
    loop {
        tokio::select! {
            biased;
            _ = next_signal(&mut signals.interrupt) => return,
            _ = next_signal(&mut signals.terminate) => return,
            _ = check.tick() => nodes.report_exits(&mut reported),
        }
    }
}
