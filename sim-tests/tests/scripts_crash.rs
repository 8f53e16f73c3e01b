//! A script's writes across a crash, in the simulator. A master under `appendfsync always`
//! on a slow disk (each fsync takes virtual time) runs scripts, `EVAL` and `FCALL` in turn,
//! each setting three keys of its own and appending its number to a shared list. After a
//! seed-chosen number of acknowledged scripts, one more is sent and the master crashes
//! while it is in flight, with a seed-chosen crash kind (power loss, process kill, or a torn
//! power loss that keeps part of the unsynced AOF tail). After the restart every
//! acknowledged script's writes are all there, and the one in flight is all there or all
//! absent: the AOF holds a script's effects inside MULTI/EXEC, and the loader reverts a
//! transaction a torn tail cut (`aof-load-truncated yes`). Some seed must tear the tail
//! inside such a block, or the test would show nothing. Only a torn tail may do that: the
//! driver writes a script's whole MULTI/EXEC in one `write` and one `always` sync (as Redis
//! writes its AOF buffer once per event-loop turn), so neither a process kill (written bytes
//! kept) nor a power loss (synced bytes kept) leaves the file inside a transaction.
//!
//! Replicas too: a master killed after scripts (acknowledged, then `WAIT`ed for) is failed
//! over, and the promoted replica holds whole scripts only, every waited one among them.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test scripts_crash -- --nocapture`.
#![cfg(madsim)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clusterlab_core::config::AppendFsync;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::Reply;
use clusterlab_sim::client::ClusterClient;
use clusterlab_sim::cluster::{mix64, SimCluster};
use clusterlab_sim::faults::CrashKind;
use clusterlab_sim::runner::in_runtime;
use clusterlab_sim::scenario::failover::replicas_of;
use clusterlab_sim::SimConfig;

/// Every key shares this hash tag: one slot, one master.
const TAG: &str = "{s}";
/// The list each script appends its number to.
const LOG_KEY: &str = "{s}log";
/// Keys each script sets besides the list.
const KEYS_PER_SCRIPT: usize = 3;
/// Virtual time each fsync of the master's disk takes.
const FSYNC_MS: u64 = 40;
/// Seeds the crash test runs.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=12;

const EVAL_BODY: &str = "for i = 1, #KEYS - 1 do redis.call('SET', KEYS[i], ARGV[1]) end \
                         redis.call('RPUSH', KEYS[#KEYS], ARGV[1]) return #KEYS";
const LIBRARY: &str = "#!lua name=crashlib\n\
                       redis.register_function('writemany', function(keys, args)\n\
                         for i = 1, #keys - 1 do redis.call('SET', keys[i], args[1]) end\n\
                         redis.call('RPUSH', keys[#keys], args[1])\n\
                         return #keys\n\
                       end)";

fn config(replicas: usize) -> SimConfig {
    SimConfig {
        masters: 3,
        replicas,
        node_timeout_ms: 5000,
        repl_diskless_sync_delay_s: 0,
        ..SimConfig::default()
    }
}

fn cluster_of(replicas: usize) -> SimCluster {
    SimCluster::builder()
        .config(config(replicas))
        .appendfsync(AppendFsync::Always)
        .build()
}

async fn sleep_ms(ms: u64) {
    madsim::time::sleep(Duration::from_millis(ms)).await;
}

/// The master `create` gave the tag's slot: masters split the slots in equal ranges.
fn owner_of_tag(masters: usize) -> usize {
    let slot = usize::from(key_hash_slot(TAG.as_bytes()));
    (0..masters)
        .find(|m| slot < (m + 1) * 16384 / masters)
        .expect("a slot is below 16384")
}

fn keys_of(n: usize) -> Vec<String> {
    (1..=KEYS_PER_SCRIPT)
        .map(|k| format!("{TAG}{n}:{k}"))
        .collect()
}

/// Script `n`'s value: long enough that a torn tail usually cuts inside its block.
fn value_of(n: usize) -> String {
    format!("{n}-{}", "v".repeat(40))
}

/// Script `n` as a command: odd ones `EVAL`, even ones `FCALL`.
fn script_args(n: usize) -> Vec<String> {
    let mut args: Vec<String> = if n % 2 == 1 {
        vec!["EVAL".into(), EVAL_BODY.into()]
    } else {
        vec!["FCALL".into(), "writemany".into()]
    };
    args.push((KEYS_PER_SCRIPT + 1).to_string());
    args.extend(keys_of(n));
    args.push(LOG_KEY.into());
    args.push(value_of(n));
    args
}

const SCRIPT_REPLY: Reply = Reply::Integer(KEYS_PER_SCRIPT as i64 + 1);

/// Sends script `n` to `addr` on `client`.
async fn run_script(client: &mut ClusterClient, addr: &str, n: usize) -> std::io::Result<Reply> {
    let args = script_args(n);
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    client.send_to(addr, &refs).await
}

/// What a node holds of the scripts: the list's numbers, and per script `1..=upto` how many
/// of its keys hold its value (any other value is a failure at once).
async fn scripts_on(cluster: &SimCluster, node: usize, upto: usize) -> (Vec<usize>, Vec<usize>) {
    let log = match cluster.command(node, &["LRANGE", LOG_KEY, "0", "-1"]).await {
        Ok(Reply::Array(items)) => items
            .iter()
            .map(|i| match i {
                Reply::Bulk(b) => String::from_utf8_lossy(b)
                    .split('-')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("a script number"),
                other => panic!("LRANGE item {other:?}"),
            })
            .collect(),
        other => panic!("LRANGE answered {other:?}"),
    };
    let mut whole = Vec::new();
    for n in 1..=upto {
        let keys = keys_of(n);
        let mut args = vec!["MGET"];
        args.extend(keys.iter().map(String::as_str));
        let Ok(Reply::Array(values)) = cluster.command(node, &args).await else {
            panic!("MGET failed");
        };
        let value = Reply::bulk(value_of(n));
        let present = values.iter().filter(|v| **v == value).count();
        assert!(
            values.iter().all(|v| *v == value || *v == Reply::Nil),
            "script {n}: {values:?}"
        );
        whole.push(present);
    }
    (log, whole)
}

/// The crash a seed draws: how many scripts are acknowledged first, how long after sending
/// the next one the master dies, and how.
fn draw(seed: u64) -> (usize, u64, CrashKind) {
    let r = mix64(seed ^ 0x5c81_97f0);
    let acked = 3 + (r % 6) as usize;
    let delay_ms = 1 + (r >> 8) % (2 * FSYNC_MS);
    let kind = match (r >> 16) % 3 {
        0 => CrashKind::PowerLoss,
        1 => CrashKind::Process,
        _ => CrashKind::Torn {
            keep_permille: 1 + ((r >> 24) % 999) as u32,
        },
    };
    (acked, delay_ms, kind)
}

/// Whether the node's AOF incr file ends inside an open MULTI (a torn script).
fn ends_inside_multi(cluster: &SimCluster, node: usize) -> bool {
    let disk = &cluster.node(node).disk;
    let Some(incr) = disk
        .paths()
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
    else {
        return false;
    };
    let bytes = clusterlab_net::disk::Disk::read(disk, &incr)
        .expect("read")
        .unwrap_or_default();
    let count = |word: &[u8]| bytes.windows(word.len()).filter(|w| *w == word).count();
    count(b"$5\r\nMULTI\r\n") > count(b"$4\r\nEXEC\r\n")
}

#[derive(Debug, PartialEq)]
struct CrashRun {
    acked: usize,
    kind: CrashKind,
    in_flight_acked: bool,
    in_flight_kept: bool,
    torn_inside_script: bool,
    trace_hash: u64,
}

fn crash_after_scripts(seed: u64) -> CrashRun {
    in_runtime(seed, async move {
        let (acked, delay_ms, kind) = draw(seed);
        let cluster = cluster_of(0);
        cluster.create().await.expect("create");
        cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
        let victim = owner_of_tag(3);
        let addr = cluster.node(victim).addr();
        let load = cluster
            .command(victim, &["FUNCTION", "LOAD", LIBRARY])
            .await;
        assert_eq!(load.expect("FUNCTION LOAD"), Reply::bulk("crashlib"));
        cluster.node(victim).disk.set_fsync_ms(FSYNC_MS);
        let machine = cluster.client_machine(0);
        let mut client = cluster.client(victim);
        let addr2 = addr.clone();
        let mut client = machine
            .spawn(async move {
                for n in 1..=acked {
                    let reply = run_script(&mut client, &addr2, n).await;
                    assert_eq!(reply.expect("script"), SCRIPT_REPLY, "script {n}");
                }
                client
            })
            .await
            .expect("the acknowledged scripts");
        let next = acked + 1;
        let in_flight = machine.spawn(async move { run_script(&mut client, &addr, next).await });
        sleep_ms(delay_ms).await;
        cluster.crash(victim, kind);
        let reply = in_flight.await.expect("script task");
        let in_flight_acked = matches!(&reply, Ok(r) if *r == SCRIPT_REPLY);
        let torn_inside_script = ends_inside_multi(&cluster, victim);
        if !matches!(kind, CrashKind::Torn { .. }) {
            assert!(!torn_inside_script, "a {kind:?} left a partial MULTI");
        }
        sleep_ms(1000).await;
        cluster.restart(victim);
        cluster.wait_listening().await.expect("restarted");
        cluster
            .wait_cluster_ok(30_000)
            .await
            .expect("cluster ok after the restart");
        let (log, whole) = scripts_on(&cluster, victim, next).await;
        let kept = log.len();
        assert!(kept == acked || kept == next, "log {log:?}");
        assert_eq!(log, (1..=kept).collect::<Vec<_>>(), "the list is a prefix");
        for (i, present) in whole.iter().enumerate() {
            let expected = if i < kept { KEYS_PER_SCRIPT } else { 0 };
            assert_eq!(
                *present,
                expected,
                "script {}: keys and list disagree",
                i + 1
            );
        }
        if in_flight_acked {
            assert_eq!(kept, next, "the acknowledged script {next} was lost");
        }
        CrashRun {
            acked,
            kind,
            in_flight_acked,
            in_flight_kept: kept == next,
            torn_inside_script,
            trace_hash: cluster.trace().hash(),
        }
    })
}

#[test]
fn a_crash_keeps_acknowledged_scripts_whole_and_the_one_in_flight_all_or_nothing() {
    let runs: Vec<CrashRun> = SEEDS.map(crash_after_scripts).collect();
    for (seed, run) in SEEDS.zip(&runs) {
        println!(
            "seed {seed:>2}: {} acked, crash {:?}, in flight acked {} kept {}, torn inside a \
             script {}",
            run.acked, run.kind, run.in_flight_acked, run.in_flight_kept, run.torn_inside_script
        );
    }
    assert!(
        runs.iter().any(|r| r.torn_inside_script),
        "no seed tore the AOF inside a script's block"
    );
    assert!(
        runs.iter().any(|r| r.in_flight_kept && !r.in_flight_acked),
        "no seed kept an unacknowledged script"
    );
    assert!(
        runs.iter().any(|r| !r.in_flight_kept),
        "no seed lost the script in flight"
    );
    let again = crash_after_scripts(*SEEDS.start());
    assert_eq!(again, runs[0], "same seed, same run");
}

/// The master is killed (power loss) after scripts it acknowledged and `WAIT`ed one replica
/// for, with one more in flight; the replica is promoted and holds whole scripts only.
fn failover_after_scripts(seed: u64) -> (usize, usize, u64) {
    in_runtime(seed, async move {
        let (acked, delay_ms, _) = draw(seed);
        let cluster = cluster_of(1);
        cluster.create().await.expect("create");
        cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
        madsim::time::sleep(Duration::from_secs(3)).await;
        let victim = owner_of_tag(3);
        let replica = replicas_of(cluster.config(), victim)[0];
        let addr = cluster.node(victim).addr();
        let load = cluster
            .command(victim, &["FUNCTION", "LOAD", LIBRARY])
            .await;
        assert_eq!(load.expect("FUNCTION LOAD"), Reply::bulk("crashlib"));
        cluster.node(victim).disk.set_fsync_ms(FSYNC_MS);
        let machine = cluster.client_machine(0);
        let mut client = cluster.client(victim);
        let waited = Arc::new(AtomicUsize::new(0));
        let waited2 = Arc::clone(&waited);
        let writes = machine.spawn(async move {
            for n in 1..=acked {
                let reply = run_script(&mut client, &addr, n).await;
                assert_eq!(reply.expect("script"), SCRIPT_REPLY, "script {n}");
                let wait = client.send_to(&addr, &[b"WAIT", b"1", b"2000"]).await;
                assert_eq!(wait.expect("WAIT"), Reply::Integer(1), "script {n}");
                waited2.store(n, Ordering::SeqCst);
            }
            let _ = run_script(&mut client, &addr, acked + 1).await;
        });
        // The master dies while the last script is in flight.
        for _ in 0..2000 {
            if waited.load(Ordering::SeqCst) == acked {
                break;
            }
            sleep_ms(5).await;
        }
        assert_eq!(
            waited.load(Ordering::SeqCst),
            acked,
            "the scripts never finished"
        );
        sleep_ms(delay_ms).await;
        cluster.kill(victim);
        writes.await.expect("the writer");
        let mut promoted = false;
        for _ in 0..600 {
            if let Ok(Reply::Array(role)) = cluster.command(replica, &["ROLE"]).await {
                if role.first() == Some(&Reply::bulk("master")) {
                    promoted = true;
                    break;
                }
            }
            sleep_ms(100).await;
        }
        assert!(promoted, "the replica was never promoted");
        let (log, whole) = scripts_on(&cluster, replica, acked + 1).await;
        let kept = log.len();
        assert!(kept >= acked, "a waited script is missing: {log:?}");
        assert_eq!(log, (1..=kept).collect::<Vec<_>>(), "the list is a prefix");
        for (i, present) in whole.iter().enumerate() {
            let expected = if i < kept { KEYS_PER_SCRIPT } else { 0 };
            assert_eq!(
                *present,
                expected,
                "script {}: keys and list disagree",
                i + 1
            );
        }
        (acked, kept, cluster.trace().hash())
    })
}

#[test]
fn a_promoted_replica_holds_whole_scripts_only() {
    let runs: Vec<_> = (1..=4).map(failover_after_scripts).collect();
    for (seed, (acked, kept, _)) in (1..=4).zip(&runs) {
        println!("failover seed {seed}: {acked} waited, {kept} on the promoted replica");
    }
    assert_eq!(failover_after_scripts(1), runs[0], "same seed, same run");
}
