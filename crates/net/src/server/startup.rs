//! Start-up, as redis-server does it: the `cluster-config-file` lock, loading `nodes.conf` (or
//! creating the node and writing it), replaying and reopening the AOF, and binding the client
//! and bus listeners, each failure with the message Redis logs for it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clusterlab_core::rdb;
use clusterlab_core::{Config, Node, Time};
use tokio::net::TcpListener;

use super::clock::Clock;
use super::LOG_TARGET;
use crate::aof::{self, Aof};
use crate::disk::{Disk, DiskLock};

/// File locations derived from the config (the AOF's are [`Aof`]'s business).
pub(super) struct Paths {
    pub(super) nodes_conf: PathBuf,
}

impl Paths {
    pub(super) fn new(config: &Config) -> Paths {
        Paths {
            nodes_conf: Path::new(&config.dir).join(&config.cluster_config_file),
        }
    }
}

/// The node from its saved `nodes.conf` (cluster mode), or a new one whose `nodes.conf` is
/// written at once, durably, as Redis does on a first start.
pub(super) fn create_node(
    disk: &dyn Disk,
    nodes_conf: &Path,
    config: Config,
    now: Time,
    seed: u64,
) -> io::Result<Node> {
    if !config.cluster_enabled {
        return Ok(Node::new(config, now, seed));
    }
    let saved = disk.read(nodes_conf)?;
    let saved = saved.filter(|bytes| !bytes.iter().all(u8::is_ascii_whitespace));
    let Some(saved) = saved else {
        let node = Node::new(config, now, seed);
        tracing::info!(target: LOG_TARGET, "No cluster configuration found, I'm {}", node.myself());
        disk.write_atomic(nodes_conf, node.nodes_conf().as_bytes(), true)
            .map_err(|e| {
                tracing::warn!(target: LOG_TARGET, "Could not save {}: {e}", nodes_conf.display());
                io::Error::new(e.kind(), "Fatal: can't update cluster config file.")
            })?;
        return Ok(node);
    };
    let text = String::from_utf8_lossy(&saved);
    match Node::from_nodes_conf(config, now, seed, &text) {
        Ok(node) => {
            tracing::info!(target: LOG_TARGET, "Node configuration loaded, I'm {}", node.myself());
            Ok(node)
        }
        Err(e) => {
            tracing::warn!(target: LOG_TARGET,
                "{} line {}: {} ({})",
                nodes_conf.display(),
                e.line_number,
                e.line,
                e.reason
            );
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "Unrecoverable error: corrupted cluster config file.",
            ))
        }
    }
}

/// With `appendonly yes`: locks the AOF directory, replays the AOF into the node, then opens
/// it for appending. With `appendonly no`: loads `<dir>/<dbfilename>` if there is one, as
/// Redis loads its RDB file only when the AOF is off.
pub(super) fn open_aof(
    disk: &Arc<dyn Disk>,
    node: &mut Node,
    clock: &Clock,
) -> io::Result<(Option<Aof>, Option<DiskLock>)> {
    let config = node.config().clone();
    if !config.appendonly {
        load_rdb_file(&**disk, node, clock)?;
        return Ok((None, None));
    }
    let lock = lock_aof_dir(&**disk, &config)?;
    let fatal = |e: aof::AofError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let started = tokio::time::Instant::now();
    let report = aof::load(&**disk, &config, node, clock.now()).map_err(fatal)?;
    for warning in &report.warnings {
        tracing::warn!(target: LOG_TARGET, "{warning}");
    }
    if report.found {
        tracing::info!(target: LOG_TARGET,
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    let aof = Aof::open(disk.clone(), &config).map_err(fatal)?;
    for line in aof.startup_log() {
        tracing::info!(target: LOG_TARGET, "{line}");
    }
    Ok((Some(aof), Some(lock)))
}

/// Loads the RDB file, if any; a damaged one stops the start-up, as in Redis.
fn load_rdb_file(disk: &dyn Disk, node: &mut Node, clock: &Clock) -> io::Result<()> {
    let config = node.config().clone();
    let path = Path::new(&config.dir).join(&config.dbfilename);
    let Some(data) = disk.read(&path)? else {
        return Ok(());
    };
    let started = tokio::time::Instant::now();
    let (contents, _) = rdb::decode(&data, &config.encoding_limits)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let keys = contents.entries.len();
    node.load_rdb_at(clock.now(), contents);
    tracing::info!(target: LOG_TARGET,
        "DB loaded from disk: {:.3} seconds ({keys} keys in the file)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Two nodes appending to one AOF would each replay the other's writes on restart. Redis does
/// not guard against it (nodes started in one directory share `appendonlydir`); we refuse.
fn lock_aof_dir(disk: &dyn Disk, config: &Config) -> io::Result<DiskLock> {
    disk.lock(&aof::manifest_path(config)).map_err(|e| {
        let dir = aof::aof_dir(config);
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "Sorry, the append only file directory {} is already used by another node. \
                     Please give every node its own dir or appenddirname.",
                    dir.display()
                ),
            )
        } else {
            io::Error::new(
                e.kind(),
                format!(
                    "Can't open the append only file directory {}: {}",
                    dir.display(),
                    os_error_text(&e)
                ),
            )
        }
    })
}

pub(super) fn lock_config_file(
    disk: &dyn Disk,
    path: &Path,
    config: &Config,
) -> io::Result<DiskLock> {
    disk.lock(path).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "Sorry, the cluster configuration file {} is already used by a different \
                     Redis Cluster node. Please make sure that different nodes use different \
                     cluster configuration files.",
                    config.cluster_config_file
                ),
            )
        } else {
            // Redis names the file as configured (it runs inside `dir`).
            io::Error::new(
                e.kind(),
                format!(
                    "Can't open {} in order to acquire a lock: {}",
                    config.cluster_config_file,
                    os_error_text(&e)
                ),
            )
        }
    })
}

/// The IPv4 addresses to listen on: `*`/`0.0.0.0` covers everything; IPv6 entries are skipped.
pub(super) fn listen_ips(bind: &[String]) -> Vec<(IpAddr, bool)> {
    let mut ips = Vec::new();
    for entry in bind {
        let (optional, text) = match entry.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, entry.as_str()),
        };
        let ip = if text == "*" {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            match text.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V4(_)) => ip,
                _ => continue,
            }
        };
        if !ips.iter().any(|(known, _)| *known == ip) {
            ips.push((ip, optional));
        }
    }
    if ips.iter().any(|(ip, _)| ip.is_unspecified()) {
        // A wildcard listener already covers the specific addresses (and a real kernel refuses
        // binding both to one port).
        ips.retain(|(ip, _)| ip.is_unspecified());
    }
    if ips.is_empty() {
        ips.push((IpAddr::V4(Ipv4Addr::UNSPECIFIED), false));
    }
    ips
}

/// How Redis names a listening address in its errors: the `bind` entry as written, without
/// the optional mark (`*`, `127.0.0.1`).
pub(super) fn bind_label(bind: &[String], ip: IpAddr) -> String {
    bind.iter()
        .map(|entry| entry.strip_prefix('-').unwrap_or(entry))
        .find(|text| match *text {
            "*" => ip.is_unspecified(),
            _ => text.parse::<IpAddr>() == Ok(ip),
        })
        .map_or_else(|| ip.to_string(), str::to_string)
}

/// `Address already in use` rather than `Address already in use (os error 98)`: Redis prints
/// the bare `strerror` text and log readers match on it.
pub(super) fn os_error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// Binds `port` on every `bind` address; `what` names the listener in errors as Redis does
/// (`TCP`, `cluster`).
pub(super) async fn bind_listeners(
    bind: &[String],
    port: u16,
    what: &str,
) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for (ip, optional) in listen_ips(bind) {
        match TcpListener::bind(SocketAddr::new(ip, port)).await {
            Ok(listener) => listeners.push(listener),
            // As in Redis, an optional address may be missing, not taken by someone else.
            Err(e) if optional && e.kind() != io::ErrorKind::AddrInUse => {
                tracing::debug!(target: LOG_TARGET, "Skipping optional bind address {ip}:{port}: {e}")
            }
            Err(e) => {
                tracing::warn!(target: LOG_TARGET,
                    "Warning: Could not create server TCP listening socket {}:{port}: bind: {}",
                    bind_label(bind, ip),
                    os_error_text(&e)
                );
                return Err(io::Error::new(
                    e.kind(),
                    format!("Failed listening on port {port} ({what}), aborting."),
                ));
            }
        }
    }
    Ok(listeners)
}
