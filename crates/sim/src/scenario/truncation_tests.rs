//! A run whose trace outgrows its cap must fail loudly: the checks would otherwise judge a
//! partial history in silence.

use crate::cluster::SimCluster;
use crate::report::ViolationKind;
use crate::trace::MAX_KEPT_EVENTS;

#[test]
fn a_trace_past_its_cap_fails_the_run_with_the_count_dropped() {
    let report = crate::runner::in_runtime(5, async {
        let cluster = SimCluster::builder().seed(5).build();
        // The builder's own events count too: fill up to the cap, then 7 more.
        let filler = MAX_KEPT_EVENTS - cluster.trace().len() + 7;
        for i in 0..filler as u64 {
            cluster.trace().record_at(i, "harness", "filler");
        }
        super::close_report(&cluster, "truncation", Vec::new(), Vec::new())
    });
    assert!(!report.ok());
    let names: Vec<&str> = report.violations.iter().map(|v| v.name()).collect();
    assert_eq!(names, ["trace_truncated"]);
    assert_eq!(report.violations[0].kind, ViolationKind::TraceTruncated);
    assert_eq!(
        report.violations[0].evidence,
        format!("7 events past the trace's cap of {MAX_KEPT_EVENTS} were dropped")
    );
    assert_eq!(report.trace_len, MAX_KEPT_EVENTS);
}
