//! `tutorial`: the whole Redis Cluster tutorial in the simulator, driven by `net::admin` (the
//! code behind `clusterlab cluster …`) instead of redis-cli. Three masters are created on
//! nodes 1-3 (node 4, `10.0.0.4:7004`, waits outside); keys are written to slots 0-9 and the
//! tutorial's `key`/`key2`; node 1 (7001) crashes and restarts; node 4 is added; 10 slots with
//! their keys move from 7001 to 7004 and back; node 4 is deleted; `CLUSTER SETSLOT 12539
//! MIGRATING` on 7003 opens a slot that `check` must flag, and `fix` must close it.
//!
//! After every step the members' views must agree (waited for, bounded), every key must read
//! back its value through a cluster client, and each member's `CLUSTER NODES` is recorded (ping
//! and pong times masked: they move with every change of timing, the configuration is what the
//! snapshots are about).

use std::time::Duration;

use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::Reply;
use clusterlab_net::admin::{self, AddNodeRole, CheckReport, ReshardOptions, Sources};

pub use super::admin_steps::AGREE_BOUND_MS;
use super::admin_steps::{on_admin, step, wait_agreement, wait_members_ok};
use super::node_down::{detect_bound_ms, recover_bound_ms, SETTLE_MS};
use super::probe::{self, cluster_info, field, my_id};
use super::{close_report, fetch_view, final_views, write_keys, CLUSTER_OK_TIMEOUT_MS};
use crate::client::reply_text;
use crate::cluster::SimCluster;
use crate::invariants::views_agree;
use crate::report::{RunReport, Violation, ViolationKind};
use crate::seeds::SimConfig;

/// Scenario name.
pub const NAME: &str = "tutorial";

/// A tutorial run: the report and the recorded views.
#[derive(Clone, Debug, Default)]
pub struct TutorialRun {
    /// The run's report (violations, trace, final views).
    pub report: RunReport,
    /// `(step, members' CLUSTER NODES)` after each step, in order.
    pub steps: Vec<(String, String)>,
    /// `check` output while slot 12539 was open.
    pub open_check: Option<CheckReport>,
}

/// The registry's handle on this scenario.
pub struct Tutorial;

impl super::Scenario for Tutorial {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "the whole tutorial via net::admin: create, crash, add a node, reshard, delete it, fix"
    }

    fn run(&self, seed: u64, config: &SimConfig) -> RunReport {
        run(seed, config).report
    }
}

/// The tutorial with `seed`, in a fresh runtime (`config.masters` masters plus one spare
/// node; replicas are not part of the tutorial).
pub fn run(seed: u64, config: &SimConfig) -> TutorialRun {
    crate::runner::in_runtime(seed, tutorial_in(seed, config.clone()))
}

/// The tutorial on the default cluster, seeded by the current runtime.
pub async fn current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    tutorial_in(seed, SimConfig::default()).await.report
}

async fn tutorial_in(seed: u64, config: SimConfig) -> TutorialRun {
    let masters = config.masters;
    let cluster = SimCluster::builder()
        .config(SimConfig {
            masters: masters + 1,
            ..config
        })
        .seed(seed)
        .build();
    let mut run = TutorialRun::default();
    let mut violations = Vec::new();
    if let Err(v) = tutorial_steps(&cluster, masters, &mut run).await {
        violations.push(v);
    }
    run.report = report(&cluster, NAME, violations).await;
    run
}

/// `(key, value)` pairs the tutorial writes: one key in each of slots 0-9, `key` (slot
/// 12539) and `key2` (slot 4998).
pub fn tutorial_keys() -> Vec<(String, String)> {
    let mut keys = vec![String::new(); 10];
    let mut found = 0;
    for i in 0..100_000 {
        let key = format!("key{i}");
        let slot = usize::from(key_hash_slot(key.as_bytes()));
        if slot < 10 && keys[slot].is_empty() {
            keys[slot] = key;
            found += 1;
            if found == 10 {
                break;
            }
        }
    }
    assert_eq!(found, 10, "keys for slots 0-9");
    let mut pairs: Vec<(String, String)> = keys
        .into_iter()
        .map(|k| (k.clone(), format!("v-{k}")))
        .collect();
    pairs.push(("key".into(), "value".into()));
    pairs.push(("key2".into(), "world".into()));
    pairs
}

async fn tutorial_steps(
    cluster: &SimCluster,
    masters: usize,
    run: &mut TutorialRun,
) -> Result<(), Violation> {
    let members: Vec<usize> = (0..masters).collect();
    let spare = masters;
    let addrs = cluster.addrs();
    step(
        ViolationKind::NodeNotListening,
        cluster.wait_listening().await.map_err(|e| e.to_string()),
    )?;
    let create_addrs = addrs[..masters].to_vec();
    cluster.trace().record("harness", "admin create");
    step(
        ViolationKind::CreateFailed,
        on_admin(
            cluster,
            async move { admin::create(&create_addrs, 0).await },
        )
        .await,
    )?;
    wait_members_ok(cluster, &members, CLUSTER_OK_TIMEOUT_MS).await?;
    record_step(cluster, &members, "created", run).await?;

    let keys = tutorial_keys();
    write_keys(cluster, &keys).await?;
    check_keys(cluster, &keys, "after writing").await?;

    // 7001 crashes and comes back (its keys were synced: appendfsync everysec, 2 s of quiet).
    madsim::time::sleep(Duration::from_millis(SETTLE_MS)).await;
    crash_and_restart(cluster, 0, &members).await?;
    check_keys(cluster, &keys, "after the restart of node1").await?;
    record_step(cluster, &members, "restarted", run).await?;

    // add-node 7004 7001.
    let (new, existing) = (addrs[spare].clone(), addrs[0].clone());
    cluster
        .trace()
        .record("harness", format!("admin add-node {new} {existing}"));
    let id4 = step(
        ViolationKind::AddNodeFailed,
        on_admin(cluster, async move {
            admin::add_node(&new, &existing, AddNodeRole::Master).await
        })
        .await,
    )?;
    let with_new: Vec<usize> = (0..=spare).collect();
    wait_known_nodes(cluster, &with_new, with_new.len()).await?;
    wait_members_ok(cluster, &with_new, CLUSTER_OK_TIMEOUT_MS).await?;
    wait_agreement(cluster, &with_new).await?;
    record_step(cluster, &with_new, "added", run).await?;

    // reshard 10 slots (0-9, a key each) from 7001 to 7004, then back.
    let id1 = step(ViolationKind::IdentityUnreadable, my_id(cluster, 0).await)?;
    reshard(cluster, &id1, &id4, 10).await?;
    expect_myself_slots(cluster, spare, " connected 0-9").await?;
    wait_agreement(cluster, &with_new).await?;
    check_keys(cluster, &keys, "after resharding 0-9 to node4").await?;
    record_step(cluster, &with_new, "resharded", run).await?;
    reshard(cluster, &id4, &id1, 10).await?;
    expect_myself_slots(cluster, 0, " connected 0-5460").await?;
    wait_agreement(cluster, &with_new).await?;
    check_keys(cluster, &keys, "after resharding 0-9 back").await?;
    record_step(cluster, &with_new, "resharded_back", run).await?;

    // del-node: known_nodes back to the members everywhere; node 4 reset.
    let (entry, victim) = (addrs[0].clone(), id4.clone());
    cluster
        .trace()
        .record("harness", format!("admin del-node {entry} {victim}"));
    step(
        ViolationKind::DelNodeFailed,
        on_admin(
            cluster,
            async move { admin::del_node(&entry, &victim).await },
        )
        .await,
    )?;
    wait_known_nodes(cluster, &members, masters).await?;
    wait_known_nodes(cluster, &[spare], 1).await?;
    wait_agreement(cluster, &members).await?;
    check_keys(cluster, &keys, "after del-node").await?;
    record_step(cluster, &members, "deleted", run).await?;

    open_slot_check_and_fix(cluster, &members, &id1, run).await
}

/// `CLUSTER SETSLOT 12539 MIGRATING <7001>` on the owner of 12539; `check` must flag the open
/// slot; `fix` must close it and `check` pass again.
async fn open_slot_check_and_fix(
    cluster: &SimCluster,
    members: &[usize],
    id1: &str,
    run: &mut TutorialRun,
) -> Result<(), Violation> {
    let owner = *members.last().expect("members");
    let args = ["CLUSTER", "SETSLOT", "12539", "MIGRATING", id1];
    match cluster.command(owner, &args).await {
        Ok(reply) if reply == Reply::ok() => {}
        other => {
            return Err(Violation::new(
                ViolationKind::SetslotRefused,
                format!("{other:?}"),
            ));
        }
    }
    record_step(cluster, members, "open_slot", run).await?;
    let entry = cluster.node(0).addr();
    let report = step(
        ViolationKind::CheckFailed,
        on_admin(cluster, {
            let entry = entry.clone();
            async move { admin::check(&entry).await }
        })
        .await,
    )?;
    let owner_addr = cluster.node(owner).addr();
    let warned = report
        .lines
        .iter()
        .any(|l| *l == format!("[WARNING] Node {owner_addr} has slots in migrating state 12539."));
    if report.is_ok() || report.open_slots != [12539] || !warned {
        return Err(Violation::new(
            ViolationKind::OpenSlotNotFlagged,
            report.text(),
        ));
    }
    run.open_check = Some(report);
    cluster
        .trace()
        .record("harness", format!("admin fix {entry}"));
    step(
        ViolationKind::FixFailed,
        on_admin(cluster, {
            let entry = entry.clone();
            async move { admin::fix(&entry, ReshardOptions::default(), true).await }
        })
        .await,
    )?;
    wait_check_ok(cluster, &entry, AGREE_BOUND_MS).await?;
    wait_agreement(cluster, members).await?;
    record_step(cluster, members, "fixed", run).await
}

/// `admin::reshard` of `count` slots from `from` to `to` through node 1.
async fn reshard(
    cluster: &SimCluster,
    from: &str,
    to: &str,
    count: usize,
) -> Result<(), Violation> {
    let entry = cluster.node(0).addr();
    let (from, to) = (from.to_string(), to.to_string());
    cluster.trace().record(
        "harness",
        format!("admin reshard {count} slots {from} -> {to}"),
    );
    let report = step(
        ViolationKind::ReshardFailed,
        on_admin(cluster, async move {
            admin::reshard(
                &entry,
                Sources::Ids(vec![from]),
                &to,
                count,
                ReshardOptions::default(),
            )
            .await
        })
        .await,
    )?;
    cluster.trace().record(
        "harness",
        format!(
            "reshard moved {} slots, {} keys",
            report.moves.len(),
            report.keys()
        ),
    );
    if report.moves.len() != count {
        return Err(Violation::new(
            ViolationKind::ReshardShort,
            format!("{} of {count} slots moved", report.moves.len()),
        ));
    }
    Ok(())
}

async fn crash_and_restart(
    cluster: &SimCluster,
    victim: usize,
    members: &[usize],
) -> Result<(), Violation> {
    let node_timeout_ms = cluster.config().node_timeout_ms;
    let others: Vec<usize> = members.iter().copied().filter(|&i| i != victim).collect();
    cluster.kill(victim);
    let failed = probe::wait_all(
        cluster,
        &others,
        detect_bound_ms(node_timeout_ms),
        |i| async move {
            let info = cluster_info(cluster, i).await?;
            match field(&info, "cluster_state") {
                "fail" => Ok(()),
                state => Err(format!("cluster_state:{state}")),
            }
        },
    )
    .await;
    step(ViolationKind::FailureNotDetected, failed)?;
    cluster.restart(victim);
    wait_members_ok(cluster, members, recover_bound_ms(node_timeout_ms)).await?;
    Ok(())
}

async fn wait_known_nodes(
    cluster: &SimCluster,
    members: &[usize],
    known: usize,
) -> Result<u64, Violation> {
    let want = known.to_string();
    let waited = probe::wait_all(cluster, members, AGREE_BOUND_MS, |i| {
        let want = want.clone();
        async move {
            let info = cluster_info(cluster, i).await?;
            match field(&info, "cluster_known_nodes") {
                n if n == want => Ok(()),
                n => Err(format!("cluster_known_nodes:{n}, want {want}")),
            }
        }
    })
    .await;
    step(ViolationKind::KnownNodes, waited)
}

/// Polls `admin::check` through `entry` until it passes.
pub(super) async fn wait_check_ok(
    cluster: &SimCluster,
    entry: &str,
    bound_ms: u64,
) -> Result<(), Violation> {
    let mut last = String::new();
    for _ in 0..bound_ms / 500 {
        let entry = entry.to_string();
        match on_admin(cluster, async move { admin::check(&entry).await }).await {
            Ok(report) if report.is_ok() => return Ok(()),
            Ok(report) => last = report.text(),
            Err(e) => last = e,
        }
        madsim::time::sleep(Duration::from_millis(500)).await;
    }
    Err(Violation::new(
        ViolationKind::CheckNotOk,
        format!("after {bound_ms} ms:\n{last}"),
    ))
}

async fn expect_myself_slots(
    cluster: &SimCluster,
    index: usize,
    suffix: &str,
) -> Result<(), Violation> {
    let (text, _) = step(
        ViolationKind::ClusterNodesUnreadable,
        fetch_view(cluster, index).await,
    )?;
    let myself = text
        .lines()
        .find(|l| l.contains("myself"))
        .unwrap_or_default();
    if myself.ends_with(suffix) {
        Ok(())
    } else {
        Err(Violation::new(
            ViolationKind::SlotsNotMoved,
            format!(
                "{}: myself line {myself:?}, want it to end with {suffix:?}",
                cluster.node(index).name
            ),
        ))
    }
}

/// `GET`s every key through a cluster client entering at node 2: each must have its value.
pub(super) async fn check_keys(
    cluster: &SimCluster,
    keys: &[(String, String)],
    when: &str,
) -> Result<(), Violation> {
    let keys = keys.to_vec();
    let mut client = cluster.client(1);
    let wrong = cluster
        .on_client(async move {
            let mut wrong = Vec::new();
            for (key, value) in keys {
                match client.command(&[b"GET", key.as_bytes()]).await {
                    Ok(r) if reply_text(&r.reply).as_deref() == Some(value.as_str()) => {}
                    Ok(r) => wrong.push(format!("GET {key}: hops {:?}", r.hops)),
                    Err(e) => wrong.push(format!("GET {key}: {e}")),
                }
            }
            wrong
        })
        .await;
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Violation::new(
            ViolationKind::KeyUnreadable,
            format!("{when}: {}", wrong.join("; ")),
        ))
    }
}

/// A `CLUSTER NODES` reply with the ping-sent and pong-recv fields replaced by `-`.
pub fn mask_times(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split(' ').collect();
            if fields.len() >= 8 {
                fields[4] = "-";
                fields[5] = "-";
            }
            format!("{}\n", fields.join(" "))
        })
        .collect()
}

/// Records the members' masked views under `name`.
async fn record_step(
    cluster: &SimCluster,
    members: &[usize],
    name: &str,
    run: &mut TutorialRun,
) -> Result<(), Violation> {
    let mut text = String::new();
    for &i in members {
        let (view, _) = step(
            ViolationKind::ClusterNodesUnreadable,
            fetch_view(cluster, i).await,
        )?;
        text.push_str(&format!(
            "# {}\n{}",
            cluster.node(i).name,
            mask_times(&view)
        ));
    }
    cluster.trace().record("harness", format!("step {name}"));
    run.steps.push((name.to_string(), text));
    Ok(())
}

/// The report: every node's final view, agreement among the members that still form the
/// cluster (every node but the last, which was deleted).
pub(super) async fn report(
    cluster: &SimCluster,
    scenario: &str,
    mut violations: Vec<Violation>,
) -> RunReport {
    let members = cluster.len() - 1;
    let (texts, views) = final_views(cluster, members, &mut violations).await;
    if violations.is_empty() {
        violations.extend(views_agree(&views, members));
    }
    close_report(cluster, scenario, violations, texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_slots_zero_to_nine_and_the_tutorial_keys() {
        let keys = tutorial_keys();
        for (slot, (key, value)) in keys.iter().take(10).enumerate() {
            assert_eq!(usize::from(key_hash_slot(key.as_bytes())), slot);
            assert_eq!(*value, format!("v-{key}"));
        }
        assert_eq!(key_hash_slot(b"key"), 12539);
        assert_eq!(key_hash_slot(b"key2"), 4998);
    }

    #[test]
    fn times_are_masked() {
        let text = "a 10.0.0.1:7001@17001 myself,master - 0 1665467011000 1 connected 0-5460\n";
        assert_eq!(
            mask_times(text),
            "a 10.0.0.1:7001@17001 myself,master - - - 1 connected 0-5460\n"
        );
    }
}
