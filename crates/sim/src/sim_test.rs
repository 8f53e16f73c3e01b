//! The three calls a user's own simulation test needs besides [`SimCluster`],
//! [`ClusterClient`](crate::ClusterClient) and [`FaultInjector`](crate::FaultInjector):
//! [`start`] (nodes up, `create`, every view in agreement), [`check`] (the named invariants
//! over every node's view now, plus the event checks over the whole trace so far) and
//! [`finish`] (the run closed into a [`RunReport`] with its trace and trace hash). They are
//! the steps every built-in scenario takes, exposed so a test of user code takes them the
//! same way. The crate docs show them in one flow; `docs/writing-a-simulation-test.md` is
//! the guide.

use crate::cluster::SimCluster;
use crate::event_checks::check_events;
use crate::invariants::{config_epochs_distinct, states_ok, views_agree};
use crate::report::{RunReport, Violation};
use crate::runner::poll::{cluster_states, node_names, nodes_texts, poll_all, views_of};

/// Starts the cluster the way every scenario does: waits for the nodes to listen, runs
/// `redis-cli --cluster create`'s sequence, then waits (30 virtual seconds at most) for
/// `cluster_state:ok` everywhere and for every node to know every node and agree on every
/// slot. The error says which wait failed and what the nodes showed.
pub async fn start(cluster: &SimCluster) -> Result<(), String> {
    crate::runner::two_phase::create_whole(cluster).await
}

/// Judges the cluster as it is now and the trace so far: every node answers with
/// `cluster_state:ok` (`cluster_state_not_ok`), all views agree on every slot's owner
/// (the `views_agree` names), no two masters share a config epoch, and the typed events
/// break no safety rule of [`crate::event_checks`] (one slot owner per epoch, epochs
/// never going back, votes, …). Empty when all hold. Call it after healing the faults and
/// giving the cluster time to settle: during a partition `cluster_state` is legitimately
/// `fail` somewhere.
pub async fn check(cluster: &SimCluster) -> Vec<Violation> {
    let (addrs, names) = (cluster.addrs(), node_names(cluster));
    let fetched = poll_all(cluster, &addrs, &names).await;
    let views = views_of(&fetched);
    let mut violations = states_ok(&cluster_states(&fetched), "check");
    violations.extend(views_agree(&views, cluster.len()));
    violations.extend(config_epochs_distinct(&views));
    let events = cluster.trace().events();
    violations.extend(check_events(&events, cluster.config().node_timeout_ms));
    violations
}

/// Closes the run: records `violations` (the test's own findings and [`check`]'s) in the
/// trace and returns the [`RunReport`] named `name`, with every node's `CLUSTER NODES`
/// now, the rendered trace, its hash (equal for equal seeds) and the typed events (for
/// [`crate::timeline::render_html`]).
pub async fn finish(cluster: &SimCluster, name: &str, violations: Vec<Violation>) -> RunReport {
    let (addrs, names) = (cluster.addrs(), node_names(cluster));
    let fetched = poll_all(cluster, &addrs, &names).await;
    crate::scenario::close_report(cluster, name, violations, nodes_texts(&fetched))
}

/// Waits (at most `timeout_ms` of virtual time) until every node answers `cluster_state:ok`
/// and all views agree on every slot: the state to judge a run in after
/// [`FaultInjector::heal_all`](crate::FaultInjector::heal_all).
pub use crate::runner::poll::wait_whole;
