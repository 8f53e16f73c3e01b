//! Per-command and per-error counters for `INFO commandstats` and `INFO errorstats`, as Redis
//! 7.0 keeps them: a command refused before it ran (arity, redirection, `READONLY`, `MISCONF`)
//! is a rejected call; one that ran and answered an error a failed call; every error reply,
//! however it arose, counts under its first word (`ERR`, `MOVED`, `WRONGTYPE`, …).

use std::collections::BTreeMap;

use super::latency_histogram::LatencyHistogram;
use crate::reply::Reply;

/// One command's counters (`cmdstat_<name>`). `usec` adds up the durations the driver
/// reported (see [`crate::node::Node::command_took`]); calls it never timed add nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// Counters by command name and by error prefix; `CONFIG RESETSTAT` clears them.
#[derive(Clone, Debug, Default)]
pub struct CallStats {
    pub commands: BTreeMap<&'static str, CommandStats>,
    pub errors: BTreeMap<String, u64>,
    pub total_error_replies: u64,
    /// Timed calls by command name, for `LATENCY HISTOGRAM`.
    pub histograms: BTreeMap<&'static str, LatencyHistogram>,
}

impl CallStats {
    pub(crate) fn rejected(&mut self, command: &'static str) {
        self.commands.entry(command).or_default().rejected_calls += 1;
    }

    /// A call that ran; `reply` is what it answered.
    pub(crate) fn ran(&mut self, command: &'static str, reply: &Reply) {
        let stats = self.commands.entry(command).or_default();
        stats.calls += 1;
        if matches!(reply, Reply::Error(_)) {
            stats.failed_calls += 1;
        }
    }

    /// A call of `command` the driver timed at `duration_us`.
    pub(crate) fn timed(&mut self, command: &'static str, duration_us: u64) {
        self.commands.entry(command).or_default().usec += duration_us;
        self.histograms
            .entry(command)
            .or_default()
            .record(duration_us);
    }

    /// Counts every error in a reply going to a client (EXEC's array holds its commands').
    pub(crate) fn count_errors(&mut self, reply: &Reply) {
        match reply {
            Reply::Error(text) => {
                let prefix = text.split(' ').next().unwrap_or_default();
                *self.errors.entry(prefix.to_string()).or_default() += 1;
                self.total_error_replies += 1;
            }
            Reply::Array(items) => items.iter().for_each(|r| self.count_errors(r)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_count_by_prefix_nested_ones_included() {
        let mut s = CallStats::default();
        s.count_errors(&Reply::error("MOVED 866 127.0.0.1:7002"));
        s.count_errors(&Reply::Array(vec![
            Reply::ok(),
            Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value"),
            Reply::error("ERR value is not an integer or out of range"),
        ]));
        let errors: Vec<(&str, u64)> = s.errors.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(errors, vec![("ERR", 1), ("MOVED", 1), ("WRONGTYPE", 1)]);
        assert_eq!(s.total_error_replies, 3);
        s.rejected("set");
        s.ran("set", &Reply::ok());
        s.ran("set", &Reply::error("ERR syntax error"));
        let set = s.commands["set"];
        assert_eq!((set.calls, set.rejected_calls, set.failed_calls), (2, 1, 1));
    }
}
