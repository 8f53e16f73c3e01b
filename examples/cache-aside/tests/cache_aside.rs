//! The cache-aside layer tested two ways. `layer_*`: against an in-memory cache, in every
//! build. `cache_aside_*` (simulation build only): against a simulated Redis Cluster of 3
//! masters with a replica each, while a reshard moves slots holding the layer's keys and a
//! replica takes over with `CLUSTER FAILOVER`; the promise checked is the layer's own (no
//! read returns a value an acknowledged write replaced) plus the harness's invariants and a
//! snapshot of the cluster's shape afterwards.
//!
//! `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-example-cache-aside`. A failing seed is named in the panic; replay it alone
//! with `CACHE_ASIDE_SEED=<seed>` on `cache_aside_survives_failover_and_reshard`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use clusterlab_example_cache_aside::{Cache, CacheAside};

/// A cache in a map; `fail_del` makes deletes fail, as a cut-off node would.
#[derive(Default)]
struct MapCache {
    map: BTreeMap<String, String>,
    fail_del: bool,
}

impl Cache for MapCache {
    async fn get(&mut self, key: &str) -> Result<Option<String>, String> {
        Ok(self.map.get(key).cloned())
    }
    async fn set(&mut self, key: &str, value: &str, _ttl_ms: u64) -> Result<(), String> {
        self.map.insert(key.to_string(), value.to_string());
        Ok(())
    }
    async fn del(&mut self, key: &str) -> Result<(), String> {
        if self.fail_del {
            return Err("connection reset".to_string());
        }
        self.map.remove(key);
        Ok(())
    }
}

/// Runs a future that never waits (the map cache's): one poll must finish it.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the map cache never waits"),
    }
}

#[test]
fn layer_fills_on_miss_and_invalidates_on_write() {
    let mut layer = CacheAside::new(MapCache::default(), 60_000);
    assert_eq!(ready(layer.read("k")), None);
    ready(layer.write("k", "v1")).expect("written");
    assert_eq!(ready(layer.read("k")), Some("v1".to_string()));
    assert_eq!(
        layer.cache_mut().map.get("k").map(String::as_str),
        Some("v1")
    );
    assert_eq!(ready(layer.read("k")), Some("v1".to_string()));
    ready(layer.write("k", "v2")).expect("written");
    assert!(
        !layer.cache_mut().map.contains_key("k"),
        "write deletes the copy"
    );
    assert_eq!(ready(layer.read("k")), Some("v2".to_string()));
    assert_eq!((layer.stats().hits, layer.stats().misses), (1, 3));
}

#[test]
fn layer_reports_a_failed_delete() {
    let mut layer = CacheAside::new(MapCache::default(), 60_000);
    ready(layer.write("k", "v1")).expect("written");
    assert_eq!(ready(layer.read("k")), Some("v1".to_string()));
    layer.cache_mut().fail_del = true;
    assert_eq!(
        ready(layer.write("k", "v2")),
        Err("connection reset".to_string())
    );
    assert_eq!(layer.stats().cache_errors, 1);
    // The stale copy is what the Err warned about.
    assert_eq!(ready(layer.read("k")), Some("v1".to_string()));
}

#[cfg(madsim)]
mod sim {
    use clusterlab_core::config::AppendFsync;
    use clusterlab_core::slot::key_hash_slot;
    use clusterlab_core::Reply;
    use clusterlab_example_cache_aside::{Cache, CacheAside, Stats};
    use clusterlab_sim::client::{describe_reply, reply_text};
    use clusterlab_sim::faults::FailoverMode;
    use clusterlab_sim::timeline::render_html;
    use clusterlab_sim::trace::{Event, FaultEvent};
    use clusterlab_sim::{
        in_runtime, sim_test, ClusterClient, Fault, FaultInjector, FaultSchedule, RunReport,
        SimCluster, TimedFault,
    };

    /// The seed whose cluster shape is snapshotted.
    const SNAPSHOT_SEED: u64 = 1;
    /// The layer's keys: `user:0` … `user:11`.
    const KEYS: usize = 12;
    /// The user code's work: one write and two reads every `STEP_MS`, for `SPAN_MS`.
    const STEP_MS: u64 = 25;
    const SPAN_MS: u64 = 8000;

    /// The layer's cache: the simulated cluster through the harness's cluster client.
    struct SimCache(ClusterClient);

    impl SimCache {
        async fn run(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
            match self.0.command(args).await {
                Ok(routed) => match routed.reply {
                    Reply::Error(e) => Err(e),
                    reply => Ok(reply),
                },
                Err(e) => Err(format!("io error: {e}")),
            }
        }
    }

    impl Cache for SimCache {
        async fn get(&mut self, key: &str) -> Result<Option<String>, String> {
            match self.run(&[b"GET", key.as_bytes()]).await? {
                Reply::Nil => Ok(None),
                reply => reply_text(&reply).map(Some).ok_or(describe_reply(&reply)),
            }
        }
        async fn set(&mut self, key: &str, value: &str, ttl_ms: u64) -> Result<(), String> {
            let ttl = ttl_ms.to_string();
            let args: [&[u8]; 5] = [
                b"SET",
                key.as_bytes(),
                value.as_bytes(),
                b"PX",
                ttl.as_bytes(),
            ];
            self.run(&args).await.map(drop)
        }
        async fn del(&mut self, key: &str) -> Result<(), String> {
            self.run(&[b"DEL", key.as_bytes()]).await.map(drop)
        }
    }

    /// What the user code saw.
    #[derive(Debug, Default)]
    struct Seen {
        stats: Stats,
        reads: usize,
        /// `key: read <got>, last acknowledged write <want>` for each stale read.
        stale: Vec<String>,
        failed_writes: usize,
    }

    /// The user code: writes `user:<n % KEYS>`, reads it back and reads the key after it;
    /// each read must show the key's last written value. A key whose last write returned
    /// `Err` is exempt until its next `Ok` write: the layer warned the cache may be stale.
    async fn user_code(mut layer: CacheAside<SimCache>) -> Seen {
        let mut seen = Seen::default();
        let mut last: Vec<Option<String>> = vec![None; KEYS];
        let mut warned = [false; KEYS];
        let started = madsim::time::Instant::now();
        for n in 0..(SPAN_MS / STEP_MS) as usize {
            if started.elapsed().as_millis() as u64 >= SPAN_MS {
                break;
            }
            let (key, value) = (n % KEYS, format!("v{n}"));
            warned[key] = layer.write(&format!("user:{key}"), &value).await.is_err();
            seen.failed_writes += usize::from(warned[key]);
            last[key] = Some(value);
            for read in [key, (key + 1) % KEYS] {
                let got = layer.read(&format!("user:{read}")).await;
                seen.reads += 1;
                if got != last[read] && !warned[read] {
                    seen.stale.push(format!(
                        "user:{read}: read {got:?}, last write {:?}",
                        last[read]
                    ));
                }
            }
            madsim::time::sleep(std::time::Duration::from_millis(STEP_MS)).await;
        }
        seen.stats = layer.stats().clone();
        seen
    }

    /// Node, role and slots of each node's own line, IDs and addresses left out.
    fn shape(report: &RunReport) -> String {
        let mut out = String::new();
        for (node, text) in &report.cluster_nodes {
            let myself = text.lines().find(|l| l.contains("myself")).unwrap_or("?");
            let fields: Vec<&str> = myself.split(' ').collect();
            let role = if fields.get(2).is_some_and(|f| f.contains("master")) {
                "master"
            } else {
                "slave"
            };
            let slots = fields.get(8..).unwrap_or(&[]).join(" ");
            out.push_str(format!("{node} {role} {slots}").trim_end());
            out.push('\n');
        }
        out
    }

    fn slot_moves(report: &RunReport) -> Vec<String> {
        report
            .trace
            .iter()
            .filter_map(|e| match &e.event {
                Event::Fault(FaultEvent::SlotMoveEnded { outcome, .. }) => Some(outcome.clone()),
                _ => None,
            })
            .collect()
    }

    /// One run: the user code against the cluster while node1 gives 3 of its slots that
    /// hold the layer's keys to node2 (at 1 s) and node4, a replica, takes over with
    /// `CLUSTER FAILOVER` (at 4 s).
    fn run(seed: u64) -> (RunReport, Seen) {
        in_runtime(seed, async move {
            let cluster = SimCluster::builder()
                .seed(seed)
                .masters(3)
                .replicas(1)
                .node_timeout_ms(2000)
                .appendfsync(AppendFsync::Always)
                .build();
            sim_test::start(&cluster).await.expect("cluster whole");
            let layer = CacheAside::new(SimCache(cluster.client(0)), 60_000);
            // The machine stops when its handle drops: keep it until the user code is done.
            let machine = cluster.client_machine(0);
            let user = machine.spawn(user_code(layer));
            let slots = (0..KEYS).map(|k| key_hash_slot(format!("user:{k}").as_bytes()));
            let mut faults = FaultInjector::new(&cluster).with_slot_pool(slots.collect());
            let schedule = FaultSchedule::new(vec![
                TimedFault {
                    at_ms: 1000,
                    fault: Fault::MoveSlots {
                        from: 0,
                        to: 1,
                        count: 3,
                    },
                },
                TimedFault {
                    at_ms: 4000,
                    fault: Fault::ManualFailover {
                        node: 3,
                        mode: FailoverMode::Default,
                    },
                },
            ]);
            faults.run(&schedule, SPAN_MS).await;
            let mut violations = faults.finish_slot_moves().await;
            faults.heal_all().await;
            let seen = user.await.expect("user code ran");
            sim_test::wait_whole(&cluster, 30_000)
                .await
                .expect("whole again");
            violations.extend(sim_test::check(&cluster).await);
            (
                sim_test::finish(&cluster, "cache-aside", violations).await,
                seen,
            )
        })
    }

    /// A failing seed's trace and timeline, under `target/sim/tmp/` (the panic follows).
    fn keep_evidence(seed: u64, report: &RunReport) {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let html = render_html("cache-aside", &report.trace, &report.violations);
        let (trace, page) = (
            dir.join(format!("cache-aside-{seed}.trace")),
            dir.join(format!("cache-aside-{seed}.html")),
        );
        std::fs::write(&trace, &report.trace_text).expect("trace written");
        std::fs::write(&page, html).expect("timeline written");
        eprintln!(
            "seed {seed}: trace {}, timeline {}",
            trace.display(),
            page.display()
        );
    }

    fn seed_from_env() -> Option<u64> {
        let text = std::env::var("CACHE_ASIDE_SEED").ok()?;
        Some(text.parse().expect("CACHE_ASIDE_SEED is a seed"))
    }

    #[test]
    fn cache_aside_survives_failover_and_reshard() {
        let seeds: Vec<u64> = seed_from_env().map_or(vec![SNAPSHOT_SEED, 2], |s| vec![s]);
        for seed in seeds {
            let (report, seen) = run(seed);
            let why = format!("seed {seed} (replay: CACHE_ASIDE_SEED={seed})");
            if !report.ok() || !seen.stale.is_empty() {
                keep_evidence(seed, &report);
            }
            report.assert_ok();
            assert!(
                seen.stale.is_empty(),
                "{why}: stale reads {:#?}",
                seen.stale
            );
            assert!(
                seen.stats.hits > 0 && seen.stats.misses > 0,
                "{why}: {seen:?}"
            );
            let moves = slot_moves(&report);
            assert!(
                moves.iter().any(|m| m.starts_with("moved slots")),
                "{why}: {moves:?}"
            );
            assert!(
                shape(&report).contains("node4 master"),
                "{why}:\n{}",
                shape(&report)
            );
            if seed == SNAPSHOT_SEED {
                let verdict = format!(
                    "violations: {:?}\nstale reads: {}\nslot moves: {moves:?}\n{}",
                    report.violation_counts(),
                    seen.stale.len(),
                    shape(&report)
                );
                insta::assert_snapshot!("cache_aside_verdict", verdict);
            }
        }
    }

    #[test]
    fn same_seed_same_run() {
        let (first, _) = run(SNAPSHOT_SEED);
        let (second, _) = run(SNAPSHOT_SEED);
        assert_eq!(first.trace_hash, second.trace_hash);
    }
}
