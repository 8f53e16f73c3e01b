//! What the scenarios that take a node down share: the tutorial's `key2`, the bounds on
//! detecting a failure, on a minority master refusing writes and on recovering, and the checks
//! on keyed commands, on `key2` and on FAIL being kept for two node timeouts.

use clusterlab_core::Reply;

use crate::client::describe_reply;
use crate::cluster::SimCluster;
use crate::report::{Violation, ViolationKind};

/// The key the tutorial writes before the crash.
pub const CRASH_KEY: &str = "key2";
/// [`CRASH_KEY`]'s hash slot (served by the first master).
pub const CRASH_KEY_SLOT: u16 = 4998;
/// The value written to [`CRASH_KEY`].
pub const CRASH_VALUE: &str = "world";

/// Pause between the acknowledged `SET key2` and the crash: longer than `appendfsync
/// everysec`'s sync interval (plus a tick), so the write is on stable storage as it was in the
/// tutorial, where minutes passed.
pub const SETTLE_MS: u64 = 2000;

/// Failure detection bound after the crash: PFAIL needs a ping unanswered for one node
/// timeout, and that ping may go out up to half a node timeout after the last pong; FAIL then
/// needs the other masters' reports to meet in gossip. Three node timeouts plus 2 s of margin.
pub fn detect_bound_ms(node_timeout_ms: u64) -> u64 {
    3 * node_timeout_ms + 2000
}

/// Recovery bound after the restart: the other nodes clear FAIL of a master with slots only
/// two node timeouts after they set it, the restarted master waits its 2 s writable delay; one
/// more node timeout plus 2 s of margin covers reconnecting and gossip.
pub fn recover_bound_ms(node_timeout_ms: u64) -> u64 {
    3 * node_timeout_ms + 2000
}

/// How soon the isolated master must stop serving: a peer is flagged `fail?` once a ping to
/// it has gone unanswered for a node timeout, and the next ping leaves at the latest half a
/// node timeout after the last pong; plus 1 s for ticks and our polling.
pub fn minority_bound_ms(node_timeout_ms: u64) -> u64 {
    node_timeout_ms * 3 / 2 + 1000
}

/// How much earlier than our poll saw it a node may have set FAIL: one poll round and change.
pub const FAIL_SEEN_SLACK_MS: u64 = 500;

/// The others may clear FAIL of a master with slots only two node timeouts after setting it,
/// even when it answers again sooner. `failed_at_ms` is when every node was seen with the FAIL
/// set, `ok_at_ms` when every node said `ok` again (virtual ms since the run started); name
/// `fail_cleared_early`.
pub(crate) fn check_fail_kept(
    node_timeout_ms: u64,
    failed_at_ms: u64,
    ok_at_ms: u64,
) -> Option<Violation> {
    let earliest_ms = (failed_at_ms + 2 * node_timeout_ms).saturating_sub(FAIL_SEEN_SLACK_MS);
    (ok_at_ms < earliest_ms).then(|| {
        Violation::new(
            ViolationKind::FailClearedEarly,
            format!(
                "FAIL seen at {failed_at_ms} ms, every node ok at {ok_at_ms} ms, before                  {earliest_ms} ms (two node timeouts of {node_timeout_ms} ms)"
            ),
        )
    })
}

/// A node whose cluster is down answers a keyed command with `CLUSTERDOWN The cluster is down`
/// (name `keyed_command_not_refused`).
pub(crate) async fn check_refuses_keys(
    cluster: &SimCluster,
    index: usize,
    violations: &mut Vec<Violation>,
) {
    let want = Reply::error("CLUSTERDOWN The cluster is down");
    let name = &cluster.node(index).name;
    for args in [
        &["GET", CRASH_KEY][..],
        &["SET", CRASH_KEY, "while-down"][..],
    ] {
        match cluster.command(index, args).await {
            Ok(reply) if reply == want => {}
            Ok(reply) => violations.push(Violation::new(
                ViolationKind::KeyedCommandNotRefused,
                format!("{name} {}: {}", args.join(" "), describe_reply(&reply)),
            )),
            Err(e) => violations.push(Violation::new(
                ViolationKind::ClientIo,
                format!("{name} {}: {e}", args.join(" ")),
            )),
        }
    }
}

/// `GET key` through the cluster client returns `value` (name `acked_write_lost`).
pub(crate) async fn check_key_survived(
    cluster: &SimCluster,
    key: &'static str,
    value: &'static str,
    violations: &mut Vec<Violation>,
) {
    if let Err(v) = check_value(cluster, key, value).await {
        violations.push(v);
    }
}

/// `GET key` through the cluster client must return `value` (name `acked_write_lost`).
pub(crate) async fn check_value(
    cluster: &SimCluster,
    key: &'static str,
    value: &'static str,
) -> Result<(), Violation> {
    let routed = cluster
        .on_client({
            let mut client = cluster.client(0);
            async move { client.command(&[b"GET", key.as_bytes()]).await }
        })
        .await;
    match routed {
        Ok(r) if r.reply == Reply::bulk_str(value) => Ok(()),
        Ok(r) => Err(Violation::new(
            ViolationKind::AckedWriteLost,
            format!("GET {key}: {}, want {value:?}", describe_reply(&r.reply)),
        )),
        Err(e) => Err(Violation::new(
            ViolationKind::ClientIo,
            format!("GET {key}: {e}"),
        )),
    }
}
