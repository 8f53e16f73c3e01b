//! `clusterlab up` (a local cluster of `clusterlab node` child processes, created and ready)
//! and `clusterlab cluster create` (redis-cli's `--cluster create` through `net::admin`).
//!
//! `up` owns the processes it starts (`up_nodes`); with `--chaos SEED` or `--schedule FILE`
//! it applies a fault schedule to them (`chaos`) for `--duration` seconds, reports whether the
//! cluster ended healthy, and stops them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clusterlab_net::admin::{self, AdminError};

use crate::chaos::{self, ChaosSchedule, ChaosShape};
use crate::up_nodes::{Nodes, ServerKind};
use crate::{logging, CreateArgs, UpArgs};

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
    let schedule = match chaos_schedule(&args) {
        Ok(schedule) => schedule,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let (true, Some(schedule)) = (args.dry_run, &schedule) {
        println!("{}", schedule.to_json());
        return ExitCode::SUCCESS;
    }
    // Catch Ctrl-C and SIGTERM before saying "ready": a signal that came in between would
    // otherwise kill this process the default way and leave the nodes running.
    let mut signals = runtime.block_on(async { StopSignals::install() });
    let shape = schedule.as_ref().map(|s| s.shape);
    let mut nodes = match start_cluster(&args, shape) {
        Ok(nodes) => nodes,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let mut code = ExitCode::SUCCESS;
    let mut stopped = false;
    if let Some(schedule) = &schedule {
        let outcome = runtime.block_on(async {
            tokio::select! {
                biased;
                _ = next_signal(&mut signals.interrupt) => None,
                _ = next_signal(&mut signals.terminate) => None,
                healthy = chaos::run(&mut nodes, schedule) => Some(healthy),
            }
        });
        stopped = outcome.is_none();
        if stopped {
            println!("Chaos interrupted by a signal.");
        }
        if !matches!(outcome, Some(true)) {
            code = ExitCode::FAILURE;
        }
    }
    if !stopped && (schedule.is_none() || args.keep_up) {
        println!("Press Ctrl-C to stop the nodes.");
        runtime.block_on(wait_for_stop(&mut nodes, signals));
    }
    println!("Stopping {} nodes...", nodes.children.len());
    nodes.stop();
    code
}

/// The schedule to apply: drawn from `--chaos`, or read from `--schedule` (its shape then
/// wins over the flags); written to `--schedule-out` if asked.
fn chaos_schedule(args: &UpArgs) -> Result<Option<ChaosSchedule>, String> {
    let schedule = match (&args.schedule, args.chaos) {
        (Some(file), _) => {
            let text = fs::read_to_string(file)
                .map_err(|e| format!("Can't read {}: {e}", file.display()))?;
            ChaosSchedule::from_json(&text).map_err(|e| format!("{}: {e}", file.display()))?
        }
        (None, Some(_)) if args.masters < 3 => {
            return Err("*** Redis Cluster requires at least 3 master nodes.".into())
        }
        (None, Some(seed)) => chaos::draw(
            seed,
            ChaosShape {
                masters: args.masters,
                replicas: args.replicas,
                node_timeout_ms: args.node_timeout_ms,
                duration_ms: args.duration.saturating_mul(1000),
            },
        ),
        (None, None) if args.schedule_out.is_some() || args.keep_up || args.dry_run => {
            return Err(
                "--schedule-out, --keep-up and --dry-run need --chaos SEED or --schedule FILE"
                    .into(),
            )
        }
        (None, None) => return Ok(None),
    };
    schedule.validate()?;
    if let Some(out) = &args.schedule_out {
        fs::write(out, schedule.to_json() + "\n")
            .map_err(|e| format!("Can't write {}: {e}", out.display()))?;
        println!("Chaos schedule written to {}", out.display());
    }
    Ok(Some(schedule))
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

/// Starts the processes, creates the cluster and waits until it is ok. A chaos schedule's
/// shape replaces the flags' (and the node config changes, see `write_node_conf`).
fn start_cluster(args: &UpArgs, chaos: Option<ChaosShape>) -> Result<Nodes, String> {
    let (masters, replicas, node_timeout_ms) = match chaos {
        Some(shape) => (shape.masters, shape.replicas, shape.node_timeout_ms),
        None => (args.masters, args.replicas, args.node_timeout_ms),
    };
    if masters < 3 {
        return Err("*** Redis Cluster requires at least 3 master nodes.".into());
    }
    let count = masters * (replicas + 1);
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
    let kind = if args.redis_server {
        ServerKind::RedisServer
    } else {
        let exe = std::env::current_exe().map_err(|e| format!("Can't find my own binary: {e}"))?;
        ServerKind::Clusterlab(exe)
    };
    let mut nodes = Nodes::new(dir.clone(), kind);
    for i in 0..count {
        let port = args.port + i as u16;
        write_node_conf(&dir, port, node_timeout_ms, chaos.is_some())?;
        nodes.spawn(port)?;
    }
    let runtime = runtime().ok_or("no runtime")?;
    runtime.block_on(nodes.wait_until_answering())?;
    let addrs: Vec<String> = nodes.addrs();
    println!(">>> Creating the cluster on {}", addrs.join(" "));
    match runtime.block_on(admin::create(&addrs, replicas)) {
        Ok(()) => {}
        Err(AdminError::NotEmpty(addr)) => {
            println!("Node {addr} already belongs to a cluster (state kept in {}); not creating it again.", dir.display());
        }
        Err(e) => return Err(e.to_string()),
    }
    runtime.block_on(nodes.wait_until_state_ok())?;
    println!(
        "Cluster ready: {masters} masters, {replicas} replicas per master, ports {}-{last_port} ({}).",
        args.port,
        nodes.kind().name()
    );
    println!("Connect with: redis-cli -c -p {}", args.port);
    println!("Config, logs and data: {}", dir.display());
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
/// Under chaos the append-only file is on (a `kill -9` then loses no write the node
/// acknowledged: the file was written before the reply) and a full sync starts at once
/// instead of 5 s later (`repl-diskless-sync-delay 0`), so a restarted or demoted node has
/// its data again before the next fault.
fn write_node_conf(
    dir: &Path,
    port: u16,
    node_timeout_ms: u64,
    chaos: bool,
) -> Result<PathBuf, String> {
    let node_dir = dir.join(port.to_string());
    fs::create_dir_all(&node_dir)
        .map_err(|e| format!("Can't create {}: {e}", node_dir.display()))?;
    let conf = node_dir.join("redis.conf");
    let mut text = format!(
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
        dir = node_dir.display(),
    );
    if chaos {
        text.push_str("appendonly yes\nrepl-diskless-sync-delay 0\n");
    }
    fs::write(&conf, text).map_err(|e| format!("Can't write {}: {e}", conf.display()))?;
    Ok(conf)
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
