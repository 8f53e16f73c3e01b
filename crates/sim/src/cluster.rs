//! `SimCluster`: a cluster of simulated machines, one madsim node per cluster node, each running
//! the real node runtime (`clusterlab_net::server`), plus one client machine that drives
//! commands and the admin operations.
//!
//! Addresses are fixed so traces and `CLUSTER NODES` read like the tutorial: node N (1-based)
//! is `10.0.0.N:700N` (bus port +10000) and the client is `10.0.0.100`. Each node's rng seed
//! is derived from the run seed, its index and how many times it has started, so node IDs come
//! from the seed and a restarted node does not silently reuse its previous randomness.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId as MachineId;

use clusterlab_core::canary::{Canaries, Canary};
use clusterlab_core::config::{AppendFsync, DisklessLoad};
use clusterlab_core::{ClusterEvent, Config, Reply};
use clusterlab_net::clock::{ClockSkew, MachineClock};
use clusterlab_net::disk::MemDisk;
use clusterlab_net::server;

use crate::client::{describe_reply, info_field, ClusterClient};
use crate::faults::CrashKind;
use crate::seeds::SimConfig;
use crate::trace::{ProcessEvent, RunPhase, Trace};

pub use crate::node_idx::{BASE_PORT, CLIENT_OCTET};

/// SplitMix64 finaliser: spreads (seed, index, incarnation) into unrelated node seeds.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The rng seed of node `index` (0-based) the `incarnation`-th time it starts (0 = first).
pub fn node_seed(run_seed: u64, index: usize, incarnation: u64) -> u64 {
    mix64(mix64(run_seed ^ mix64(index as u64)) ^ incarnation)
}

/// One simulated machine running one cluster node.
pub struct SimNode {
    /// `node1`, `node2`, … (1-based, as in the trace).
    pub name: String,
    /// `10.0.0.N` for node N.
    pub ip: IpAddr,
    /// The client port, `7000 + N` for node N (the bus port is 10000 more).
    pub port: u16,
    /// The machine's madsim id, for kill/restart/pause/clog.
    pub machine: MachineId,
    /// The machine's disk; it survives restarts of the node.
    pub disk: MemDisk,
    /// The machine's wall clock error (clock faults change it); it survives restarts too.
    pub clock: MachineClock,
    /// How many times the node has been started.
    starts: Arc<AtomicU64>,
    /// How many times its runtime returned by itself (a shutdown, or a fatal error).
    exits: Arc<AtomicU64>,
    _handle: NodeHandle,
}

impl SimNode {
    /// `ip:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// How many times the node's runtime has started so far (the first start counts; each
    /// restart adds one).
    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed)
    }

    /// Whether the node's runtime returned by itself since its last start (it stopped on a
    /// fatal error or a SHUTDOWN, and stays down until restarted).
    pub fn exited(&self) -> bool {
        self.exits.load(Ordering::Relaxed) >= self.starts()
    }
}

/// Builds a [`SimCluster`]; defaults are the tutorial's (3 masters, 0 replicas, 5000 ms).
#[derive(Clone, Debug)]
pub struct SimClusterBuilder {
    config: SimConfig,
    seed: Option<u64>,
    /// AOF settings of every node (`appendonly yes`, `appendfsync everysec` by default).
    aof: AofSettings,
}

/// `appendonly` / `appendfsync` of every node of a [`SimCluster`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AofSettings {
    /// `appendonly`: whether writes go to the append-only file (default `yes`).
    pub appendonly: bool,
    /// `appendfsync`: when the AOF is synced to the disk (default `everysec`); unsynced
    /// writes are lost when the node is killed.
    pub appendfsync: AppendFsync,
}

impl Default for AofSettings {
    fn default() -> Self {
        AofSettings {
            appendonly: true,
            appendfsync: AppendFsync::Everysec,
        }
    }
}

impl SimClusterBuilder {
    /// Takes the shape, node timeout and canaries from `config` (the AOF settings and the
    /// seed stay).
    pub fn config(mut self, config: SimConfig) -> Self {
        self.config = config;
        self
    }

    /// Number of masters `create` makes.
    pub fn masters(mut self, masters: usize) -> Self {
        self.config.masters = masters;
        self
    }

    /// Replicas per master.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.config.replicas = replicas;
        self
    }

    /// `cluster-node-timeout` of every node, in ms.
    pub fn node_timeout_ms(mut self, node_timeout_ms: u64) -> Self {
        self.config.node_timeout_ms = node_timeout_ms;
        self
    }

    /// `appendonly` of every node (default `yes`).
    pub fn appendonly(mut self, appendonly: bool) -> Self {
        self.aof.appendonly = appendonly;
        self
    }

    /// `appendfsync` of every node (default `everysec`).
    pub fn appendfsync(mut self, appendfsync: AppendFsync) -> Self {
        self.aof.appendfsync = appendfsync;
        self
    }

    /// The run seed node seeds derive from; defaults to the runtime's seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Creates the machines and starts every node. Must run inside a madsim runtime.
    pub fn build(self) -> SimCluster {
        let count = self.config.node_count();
        assert!(
            count > 0 && count < usize::from(CLIENT_OCTET),
            "node count {count} out of range"
        );
        let handle = Handle::current();
        let seed = self.seed.unwrap_or_else(|| handle.seed());
        let trace = Trace::new();
        trace.record(
            "harness",
            format!(
                "build seed={seed} masters={} replicas={} node_timeout_ms={}",
                self.config.masters, self.config.replicas, self.config.node_timeout_ms
            ),
        );
        let nodes = (0..count)
            .map(|index| start_node(&handle, &self.config, self.aof, seed, index, &trace))
            .collect();
        let client = handle
            .create_node()
            .name("client")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, CLIENT_OCTET)))
            .build();
        SimCluster {
            handle,
            seed,
            config: self.config,
            nodes,
            client,
            client_machines: Arc::default(),
            trace,
            aof: self.aof,
        }
    }
}

/// The node configuration the simulator runs: the tutorial's redis.conf, on a virtual IP.
pub fn node_config(config: &SimConfig, ip: IpAddr, port: u16, seed: u64) -> Config {
    Config {
        port,
        bind: vec![ip.to_string()],
        cluster_enabled: true,
        cluster_config_file: format!("nodes-{port}.conf"),
        cluster_node_timeout_ms: config.node_timeout_ms,
        appendonly: true,
        appendfsync: AppendFsync::Everysec,
        dbfilename: format!("dump-{port}.rdb"),
        protected_mode: false,
        save: String::new(),
        loglevel: "warning".into(),
        seed: Some(seed),
        cluster_replica_validity_factor: config.validity_factor,
        cluster_require_full_coverage: config.require_full_coverage,
        cluster_allow_reads_when_down: config.allow_reads_when_down,
        cluster_allow_replica_migration: config.allow_replica_migration,
        canaries: canaries(&config.canaries),
        repl_timeout_s: config.repl_timeout_s,
        repl_diskless_sync_delay_s: config.repl_diskless_sync_delay_s,
        repl_transfer_bytes_per_s: Some(config.repl_transfer_bytes_per_s),
        repl_diskless_load: DisklessLoad::from_name(&config.repl_diskless_load).unwrap_or_else(
            || panic!("unknown repl-diskless-load {:?}", config.repl_diskless_load),
        ),
        rdb_key_save_delay: config.rdb_key_save_delay_us,
        ignored: maxmemory_directives(config.maxmemory.as_ref()),
        ..Config::default()
    }
}

/// The `maxmemory` directives as redis.conf sets them (held with the other directives the
/// config table keeps by name).
fn maxmemory_directives(
    maxmemory: Option<&crate::seeds::Maxmemory>,
) -> std::collections::BTreeMap<String, String> {
    let Some(m) = maxmemory else {
        return Default::default();
    };
    [
        ("maxmemory".to_string(), m.bytes.to_string()),
        ("maxmemory-policy".to_string(), m.policy.clone()),
    ]
    .into()
}

/// The canaries named in a sim config; an unknown name is a bug in the caller.
fn canaries(names: &[String]) -> Canaries {
    names.iter().fold(Canaries::default(), |set, name| {
        let canary = Canary::parse(name).unwrap_or_else(|| panic!("unknown canary {name:?}"));
        set.with(canary)
    })
}

fn start_node(
    handle: &Handle,
    config: &SimConfig,
    aof: AofSettings,
    run_seed: u64,
    index: usize,
    trace: &Trace,
) -> SimNode {
    let idx = crate::node_idx::NodeIdx(index);
    let (ip, port, name) = (IpAddr::V4(idx.ip()), idx.port(), idx.name());
    let disk = MemDisk::new();
    let clock = if config.wall_clock_timeouts {
        MachineClock::wall_timeouts()
    } else {
        MachineClock::default()
    };
    let starts = Arc::new(AtomicU64::new(0));
    let exits = Arc::new(AtomicU64::new(0));
    let init = {
        let (config, name, trace, starts, exits) = (
            config.clone(),
            name.clone(),
            trace.clone(),
            starts.clone(),
            exits.clone(),
        );
        let (disk, clock) = (disk.clone(), clock.clone());
        move || {
            let incarnation = starts.fetch_add(1, Ordering::Relaxed);
            let seed = node_seed(run_seed, index, incarnation);
            let node_config = Config {
                appendonly: aof.appendonly,
                appendfsync: aof.appendfsync,
                ..node_config(&config, ip, port, seed)
            };
            let (name, trace, disk, exits, clock) = (
                name.clone(),
                trace.clone(),
                disk.clone(),
                exits.clone(),
                clock.clone(),
            );
            // The node's typed events go into the trace under its name, as it makes them.
            let observer: server::EventObserver = {
                let (name, trace) = (name.clone(), trace.clone());
                Arc::new(move |event: ClusterEvent| trace.record(name.as_str(), event))
            };
            async move {
                trace.record(&name, ProcessEvent::Start { incarnation, seed });
                let outcome =
                    server::run_on_clock(node_config, seed, Arc::new(disk), observer, clock).await;
                trace.record(&name, ProcessEvent::Exit(format!("{outcome:?}")));
                // Counted only once the runtime returned: a kill drops this future first.
                exits.store(incarnation + 1, Ordering::Relaxed);
            }
        }
    };
    let node = handle.create_node().name(&name).ip(ip).init(init).build();
    SimNode {
        name,
        ip,
        port,
        machine: node.id(),
        disk,
        clock,
        starts,
        exits,
        _handle: node,
    }
}

/// A running simulated cluster. See the module docs.
pub struct SimCluster {
    handle: Handle,
    seed: u64,
    config: SimConfig,
    nodes: Vec<SimNode>,
    client: NodeHandle,
    /// The machines [`SimCluster::client_machine`] made, in order.
    client_machines: Arc<std::sync::Mutex<Vec<MachineId>>>,
    trace: Trace,
    /// The nodes' AOF settings (the loss rule's disk rules depend on `appendfsync`).
    aof: AofSettings,
}

/// How often [`SimCluster::command`] retries a refused connection while a node starts.
const CONNECT_RETRY_MS: u64 = 100;
/// How many times it retries.
const CONNECT_ATTEMPTS: usize = 50;
/// How often [`SimCluster::wait_cluster_ok`] polls.
const POLL_INTERVAL_MS: u64 = 100;

impl SimCluster {
    /// A builder with the tutorial's defaults.
    pub fn builder() -> SimClusterBuilder {
        SimClusterBuilder {
            config: SimConfig::default(),
            seed: None,
            aof: AofSettings::default(),
        }
    }

    /// The run seed every node seed derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The shape and settings the cluster was built with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The nodes' `appendonly` / `appendfsync` settings.
    pub fn aof(&self) -> AofSettings {
        self.aof
    }

    /// The run's trace (cloning it gives another handle to the same events).
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Number of nodes (masters and replicas).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no node (never true for a built one).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node, in index order.
    pub fn nodes(&self) -> &[SimNode] {
        &self.nodes
    }

    /// Node `index` (0-based).
    pub fn node(&self, index: usize) -> &SimNode {
        &self.nodes[index]
    }

    /// Every node's `ip:port`, in node order.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(SimNode::addr).collect()
    }

    /// Runs `future` on the client machine (the only one with sockets the harness may use) and
    /// waits for it.
    pub async fn on_client<F>(&self, future: F) -> F::Output
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.client.spawn(future).await {
            Ok(output) => output,
            // The client machine is never killed, so a failed join is a panic in `future`.
            Err(e) => panic!("client task failed: {e}"),
        }
    }

    /// A fresh machine for workload client `index` (0-based): `writer<index+1>` at
    /// `10.0.0.<101+index>`, so each client has links of its own. Keep the handle while the
    /// client runs.
    pub fn client_machine(&self, index: usize) -> NodeHandle {
        let octet = u8::try_from(usize::from(CLIENT_OCTET) + 1 + index)
            .expect("client index fits an IPv4 octet");
        let machine = self
            .handle
            .create_node()
            .name(format!("writer{}", index + 1))
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet)))
            .build();
        self.client_machines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(machine.id());
        machine
    }

    /// The machines of the clients [`SimCluster::client_machine`] made so far.
    pub fn client_machine_ids(&self) -> Vec<MachineId> {
        self.client_machines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A cluster-aware client whose first node is `entry`.
    pub fn client(&self, entry: usize) -> ClusterClient {
        ClusterClient::new("client", self.nodes[entry].addr(), self.trace.clone())
    }

    /// One command to node `index`, no redirects followed. Retries a refused connection for a
    /// few virtual seconds so callers need not know whether the node is listening yet.
    pub async fn command(&self, index: usize, args: &[&str]) -> io::Result<Reply> {
        let addr = self.nodes[index].addr();
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let trace = self.trace.clone();
        self.on_client(async move {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let mut client = ClusterClient::new("client", addr.clone(), trace);
            let mut last = None;
            for _ in 0..CONNECT_ATTEMPTS {
                match client.send_to(&addr, &refs).await {
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => last = Some(e),
                    other => return other,
                }
                madsim::time::sleep(Duration::from_millis(CONNECT_RETRY_MS)).await;
            }
            Err(last.unwrap_or_else(|| io::Error::other("no attempt made")))
        })
        .await
    }

    /// Waits until every node accepts connections (answers `PING`).
    pub async fn wait_listening(&self) -> io::Result<()> {
        for index in 0..self.len() {
            self.command(index, &["PING"]).await?;
        }
        Ok(())
    }

    /// Polls `CLUSTER INFO` on every node until all say `cluster_state:ok`; after `timeout_ms`
    /// of virtual time, the last state seen on each node is the error.
    pub async fn wait_cluster_ok(&self, timeout_ms: u64) -> Result<(), String> {
        let mut states = vec![String::new(); self.len()];
        for _ in 0..timeout_ms.div_ceil(POLL_INTERVAL_MS).max(1) {
            for (index, state) in states.iter_mut().enumerate() {
                *state = match self.command(index, &["CLUSTER", "INFO"]).await {
                    Ok(reply) => info_field(&reply, "cluster_state")
                        .unwrap_or_else(|| describe_reply(&reply)),
                    Err(e) => format!("io error: {e}"),
                };
            }
            if states.iter().all(|s| s == "ok") {
                return Ok(());
            }
            madsim::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        }
        let states: Vec<String> = states
            .iter()
            .zip(&self.nodes)
            .map(|(s, n)| format!("{}={s}", n.name))
            .collect();
        Err(states.join(" "))
    }

    /// Creates the cluster as `redis-cli --cluster create … --cluster-replicas R` does.
    pub async fn create(&self) -> Result<(), String> {
        let addrs = self.addrs();
        let replicas = self.config.replicas;
        self.trace.record(
            "harness",
            RunPhase::Create {
                addrs: addrs.clone(),
            },
        );
        let result = self
            .on_client(async move {
                clusterlab_net::admin::create(&addrs, replicas)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
        self.trace
            .record("harness", format!("create -> {result:?}"));
        result
    }

    /// Virtual time since the run started.
    pub fn elapsed(&self) -> Duration {
        madsim::time::TimeHandle::current().elapsed()
    }

    // ---- faults ----------------------------------------------------------------------------

    /// Crashes node `index` by a power loss: all its tasks stop, its connections drop,
    /// unsynced disk writes are lost.
    pub fn kill(&self, index: usize) {
        self.crash(index, CrashKind::PowerLoss);
    }

    /// Crashes node `index`: all its tasks stop, its connections drop, and its disk keeps
    /// what `how` says.
    pub fn crash(&self, index: usize, how: CrashKind) {
        let node = &self.nodes[index];
        self.trace.record(&node.name, ProcessEvent::Kill(how));
        self.handle.kill(node.machine);
        match how {
            CrashKind::PowerLoss => node.disk.lose_unsynced_writes(),
            CrashKind::Process => {}
            CrashKind::Torn { keep_permille } => node.disk.tear_unsynced_writes(keep_permille),
        }
    }

    /// Starts node `index` again on the same disk (call [`SimCluster::kill`] first).
    pub fn restart(&self, index: usize) {
        let node = &self.nodes[index];
        self.trace.record(&node.name, ProcessEvent::Restart);
        self.handle.restart(node.machine);
    }

    /// Steps the wall clock of node `index`'s machine by `by_ms` (negative: back).
    pub fn jump_clock(&self, index: usize, by_ms: i64) {
        self.skew_clock(index, |skew, now_us| {
            skew.jumped(now_us, by_ms.saturating_mul(1000))
        });
    }

    /// Makes the wall clock of node `index`'s machine drift by `ppm` from now (0: no more).
    pub fn drift_clock(&self, index: usize, ppm: i32) {
        self.skew_clock(index, |skew, now_us| skew.drifting(now_us, ppm));
    }

    /// Changes node `index`'s clock skew and records the new one in the trace.
    fn skew_clock(&self, index: usize, change: impl FnOnce(ClockSkew, u64) -> ClockSkew) {
        let node = &self.nodes[index];
        let skew = node.clock.update(change);
        let set = ProcessEvent::ClockSet {
            offset_us: skew.offset_us,
            drift_ppm: skew.drift_ppm,
        };
        self.trace.record(&node.name, set);
    }

    /// Freezes node `index`: its tasks stop running until [`SimCluster::resume`]; its
    /// connections stay open, so peers see silence, not errors.
    pub fn pause(&self, index: usize) {
        self.trace
            .record(&self.nodes[index].name, ProcessEvent::Pause);
        self.handle.pause(self.nodes[index].machine);
    }

    /// Lets a paused node `index` run again.
    pub fn resume(&self, index: usize) {
        self.trace
            .record(&self.nodes[index].name, ProcessEvent::Resume);
        self.handle.resume(self.nodes[index].machine);
    }

    /// Cuts node `index` off the network in both directions.
    pub fn clog_node(&self, index: usize) {
        self.trace
            .record(&self.nodes[index].name, ProcessEvent::Clog);
        NetSim::current().clog_node(self.nodes[index].machine);
    }

    /// Undoes [`SimCluster::clog_node`].
    pub fn unclog_node(&self, index: usize) {
        self.trace
            .record(&self.nodes[index].name, ProcessEvent::Unclog);
        NetSim::current().unclog_node(self.nodes[index].machine);
    }

    /// Drops traffic from node `from` to node `to` (one direction).
    pub fn clog_link(&self, from: usize, to: usize) {
        let (a, b) = (&self.nodes[from], &self.nodes[to]);
        let to = b.name.clone();
        self.trace.record(&a.name, ProcessEvent::ClogLink { to });
        NetSim::current().clog_link(a.machine, b.machine);
    }

    /// Undoes [`SimCluster::clog_link`] for the same `from` and `to`.
    pub fn unclog_link(&self, from: usize, to: usize) {
        let (a, b) = (&self.nodes[from], &self.nodes[to]);
        let to = b.name.clone();
        self.trace.record(&a.name, ProcessEvent::UnclogLink { to });
        NetSim::current().unclog_link(a.machine, b.machine);
    }

    /// Messages the simulated network has delivered so far: a cheap fingerprint of the whole
    /// run's traffic for the trace.
    pub fn network_messages(&self) -> u64 {
        NetSim::current().stat().msg_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_seeds_differ_by_every_input() {
        let base = node_seed(1, 0, 0);
        assert_eq!(base, node_seed(1, 0, 0));
        assert_ne!(base, node_seed(2, 0, 0));
        assert_ne!(base, node_seed(1, 1, 0));
        assert_ne!(base, node_seed(1, 0, 1));
        // SplitMix64 reference: first output for state 0.
        assert_eq!(mix64(0), 0xe220a8397b1dcdaf);
    }
}

/// Harness tests on real nodes in the simulator (these run in the simulation build only, like
/// the whole module).
#[cfg(test)]
mod sim_tests {
    use super::*;

    fn in_runtime<F: std::future::Future>(seed: u64, f: impl FnOnce() -> F) -> F::Output {
        crate::runner::in_runtime(seed, f())
    }

    #[test]
    fn every_node_answers_ping_on_its_address() {
        in_runtime(1, || async {
            let cluster = SimCluster::builder().seed(1).build();
            assert_eq!(
                cluster.addrs(),
                vec!["10.0.0.1:7001", "10.0.0.2:7002", "10.0.0.3:7003"]
            );
            for index in 0..cluster.len() {
                let reply = cluster.command(index, &["PING"]).await.unwrap();
                assert_eq!(reply, Reply::simple("PONG"));
            }
            let trace = cluster.trace().render();
            assert!(trace.contains("node1 start incarnation=0"), "{trace}");
            assert!(
                trace.contains("client 10.0.0.3:7003 PING -> +PONG"),
                "{trace}"
            );
        });
    }

    #[test]
    fn kill_restart_and_clog() {
        in_runtime(2, || async {
            let cluster = SimCluster::builder().seed(2).build();
            cluster.wait_listening().await.unwrap();
            cluster.kill(0);
            let refused = cluster.command(0, &["PING"]).await;
            assert!(refused.is_err(), "{refused:?}");
            cluster.restart(0);
            assert_eq!(
                cluster.command(0, &["PING"]).await.unwrap(),
                Reply::simple("PONG")
            );
            assert_eq!(cluster.node(0).starts(), 2);
            assert!(cluster
                .trace()
                .render()
                .contains("node1 start incarnation=1"));

            cluster.clog_node(1);
            let stalled = cluster.command(1, &["PING"]).await;
            assert!(stalled.is_err(), "{stalled:?}");
            cluster.unclog_node(1);
            assert_eq!(
                cluster.command(1, &["PING"]).await.unwrap(),
                Reply::simple("PONG")
            );
        });
    }

    /// The node id of node `index`, from its `CLUSTER MYID`.
    async fn my_id(cluster: &SimCluster, index: usize) -> String {
        match cluster.command(index, &["CLUSTER", "MYID"]).await.unwrap() {
            Reply::Bulk(id) => String::from_utf8(id.to_vec()).unwrap(),
            other => panic!("CLUSTER MYID: {other:?}"),
        }
    }

    #[test]
    fn client_follows_moved_and_ask() {
        use crate::client::Redirect;
        in_runtime(3, || async {
            let cluster = SimCluster::builder().seed(3).build();
            cluster.wait_listening().await.unwrap();
            cluster.create().await.unwrap();
            cluster.wait_cluster_ok(30_000).await.unwrap();
            // Slot 12539 ("key") belongs to node3; start migrating it to node1.
            let (id1, id3) = (my_id(&cluster, 0).await, my_id(&cluster, 2).await);
            let importing = ["CLUSTER", "SETSLOT", "12539", "IMPORTING", id3.as_str()];
            assert_eq!(cluster.command(0, &importing).await.unwrap(), Reply::ok());
            let migrating = ["CLUSTER", "SETSLOT", "12539", "MIGRATING", id1.as_str()];
            assert_eq!(cluster.command(2, &migrating).await.unwrap(), Reply::ok());

            let routed = cluster
                .on_client({
                    let mut client = cluster.client(1);
                    async move { client.command(&[b"GET", b"key"]).await.unwrap() }
                })
                .await;
            // node2 → MOVED to node3 → key absent there, so ASK to node1 → ASKING + GET.
            assert_eq!(routed.reply, Reply::Nil);
            let hops: Vec<(&str, &Reply)> = routed
                .hops
                .iter()
                .map(|h| (h.addr.as_str(), &h.reply))
                .collect();
            assert_eq!(
                hops,
                vec![
                    ("10.0.0.2:7002", &Reply::error("MOVED 12539 10.0.0.3:7003")),
                    ("10.0.0.3:7003", &Reply::error("ASK 12539 10.0.0.1:7001")),
                    ("10.0.0.1:7001", &Reply::ok()),
                    ("10.0.0.1:7001", &Reply::Nil),
                ]
            );
            assert_eq!(
                routed.redirects(),
                vec![
                    Redirect::Moved {
                        slot: 12539,
                        addr: "10.0.0.3:7003".into()
                    },
                    Redirect::Ask {
                        slot: 12539,
                        addr: "10.0.0.1:7001".into()
                    },
                ]
            );
            let trace = cluster.trace().render();
            assert!(
                trace.contains("client 10.0.0.1:7001 ASKING -> +OK"),
                "{trace}"
            );
        });
    }
}
