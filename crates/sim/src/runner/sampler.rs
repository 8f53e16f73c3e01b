//! The sampler of a safety phase: one task per node on the client machine reads the node's
//! `CLUSTER NODES` and `CLUSTER INFO` every [`SAMPLE_INTERVAL_MS`] while the faults run, and
//! records in the trace each change in what the node reports.

use std::time::Duration;

use clusterlab_net::client::Connection;

use super::poll::{connect, fetch_on, summary};
use crate::cluster::SimCluster;
use crate::invariants::Sample;
use crate::trace::{Event, Sampled, Trace};

/// How often the sampler reads every node during the safety phase.
pub const SAMPLE_INTERVAL_MS: u64 = 500;
/// A node that does not answer a sample within this long is skipped for that round (it is
/// paused, clogged or down). Above twice the largest injected latency (a quarter of the node
/// timeout in swarm schedules), so a slow network is still observed.
pub const SAMPLE_TIMEOUT_MS: u64 = 3000;

/// Samples every node every [`SAMPLE_INTERVAL_MS`] for `span_ms`, on the client machine,
/// recording in the trace each change in what a node reports.
pub async fn spawn_sampler(
    cluster: &SimCluster,
    span_ms: u64,
) -> madsim::task::JoinHandle<Vec<Sample>> {
    let addrs = cluster.addrs();
    let names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
    let trace = cluster.trace().clone();
    let sampler = sample_loop(addrs, names, trace, span_ms);
    // The handle is the point: the sampler runs on while the faults are injected.
    #[allow(clippy::async_yields_async)]
    let spawned = cluster.on_client(async move { madsim::task::spawn(sampler) });
    spawned.await
}

/// One sampling task per node, so a node that does not answer (paused, clogged, or slow
/// under injected latency) delays only its own samples; all samples, merged in time order.
async fn sample_loop(
    addrs: Vec<String>,
    names: Vec<String>,
    trace: Trace,
    span_ms: u64,
) -> Vec<Sample> {
    let start = madsim::time::Instant::now();
    let tasks: Vec<_> = addrs
        .into_iter()
        .zip(names)
        .map(|(addr, name)| {
            let trace = trace.clone();
            madsim::task::spawn(sample_node(addr, name, trace, start, span_ms))
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap_or_default());
    }
    // Stable: equal times keep node order.
    samples.sort_by_key(|s| s.time_ms);
    samples
}

async fn sample_node(
    addr: String,
    name: String,
    trace: Trace,
    start: madsim::time::Instant,
    span_ms: u64,
) -> Vec<Sample> {
    let mut conn: Option<Connection> = None;
    let mut last_summary: Option<Sampled> = None;
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_millis(span_ms) {
        let opened = match conn.take() {
            Some(c) => Ok(c),
            None => connect(&addr, SAMPLE_TIMEOUT_MS).await,
        };
        let fetched = match opened {
            Ok(mut c) => {
                let f = fetch_on(&mut c, &name, SAMPLE_TIMEOUT_MS).await;
                if f.is_ok() {
                    conn = Some(c);
                }
                f
            }
            Err(e) => Err(e),
        };
        let sample = summary(&fetched);
        if last_summary.as_ref() != Some(&sample) {
            trace.record(&name, Event::Sample(sample.clone()));
            last_summary = Some(sample);
        }
        if let Ok(f) = fetched {
            samples.push(f.sample);
        }
        madsim::time::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS)).await;
    }
    samples
}
