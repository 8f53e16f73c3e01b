//! The append workload inside a two-phase run: the clients run through the safety phase;
//! after the liveness phase every key is read back and the whole history is judged, with the
//! loss rule over the run's events.

use super::client::read_final;
use super::judge::judge;
use super::op::{workload_keys, AppendHistory, Kill};
use super::spec::AppendSpec;
use crate::loss::{LossConfig, LossRule};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::runner::Run;
use crate::trace::{Event, ProcessEvent};

/// What the clients of a safety phase did.
#[derive(Clone, Debug, Default)]
pub struct Appends {
    /// What they were asked to do.
    pub spec: Option<AppendSpec>,
    /// Every operation they sent.
    pub history: AppendHistory,
}

/// Reads every workload key back (a read that fails counts only if the cluster `settled`)
/// and judges the history with the reads it got; allowed losses and a summary go to the
/// trace, the rest to the run's violations.
pub async fn check_appends(
    run: &mut Run<'_>,
    appends: &Appends,
    settled: bool,
    rule_config: LossConfig,
) {
    let Some(spec) = &appends.spec else {
        return;
    };
    let mut history = appends.history.clone();
    let (finals, failed) = read_final(run.cluster, workload_keys(&spec.keys)).await;
    if settled && !failed.is_empty() {
        let shown = failed[..failed.len().min(5)].join("; ");
        let evidence = format!("{} keys unreadable: {shown}", failed.len());
        run.violations
            .push(Violation::new(ViolationKind::ReadFailed, evidence));
    }
    for op in finals {
        history.push(op);
    }
    let events = run.cluster.trace().events();
    history.kills = events
        .iter()
        .filter_map(|e| match e.event {
            Event::Process(ProcessEvent::Kill(how)) => Some(Kill {
                addr: NodeIdx::from_name(&e.node)?.addr(),
                at_us: e.time_us,
                loses_unsynced: how.loses_unsynced(),
            }),
            _ => None,
        })
        .collect();
    let rule = LossRule::new(&events, rule_config);
    let judged = judge(&history, &mut |write| rule.judge(write));
    run.violations
        .extend(crate::append::check_waits(&history, &events, &rule));
    let allowed = judged.allowed.len();
    for line in judged.allowed {
        run.record(line);
    }
    let writes = history.acked_writes().count();
    run.record(format!(
        "appends: {} ops by {} clients, {writes} writes acknowledged; lost as Redis allows: \
         {allowed}",
        appends.history.ops.len(),
        spec.clients
    ));
    run.violations.extend(judged.violations);
}
