//! Disk errors: the driver reports when the AOF cannot be written or synced, and while it
//! cannot, the node refuses clients' writes (and PING) with `-MISCONF`, as Redis 7.0 does; a
//! replica in that state stops when its master sends it a write (Redis panics rather than
//! apply a write it cannot log).

use crate::cmd::CommandSpec;
use crate::effect::{ClientId, LogLevel, Time};
use crate::event::{AofOp, ClusterEvent};
use crate::reply::Reply;

use super::Node;

/// The AOF's last failure of each kind, as the driver reported it (`None`: it works).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AofHealth {
    write: Option<String>,
    fsync: Option<String>,
}

impl AofHealth {
    fn slot(&mut self, op: AofOp) -> &mut Option<String> {
        match op {
            AofOp::Write => &mut self.write,
            AofOp::Fsync => &mut self.fsync,
        }
    }
}

impl Node {
    /// The driver could not `op` the AOF; `error` is the system's text (`No space left on
    /// device`). Writes are refused until [`Node::aof_recovered`].
    pub fn aof_failed(&mut self, now: Time, op: AofOp, error: String) {
        self.set_time(now);
        let slot = self.aof_health.slot(op);
        if slot.as_deref() == Some(error.as_str()) {
            return;
        }
        *slot = Some(error.clone());
        let what = match op {
            AofOp::Write => "writing to",
            AofOp::Fsync => "syncing",
        };
        self.log(
            LogLevel::Warning,
            format!("Error {what} the AOF file: {error}"),
        );
        self.emit(ClusterEvent::AofFailed { op, error });
    }

    /// The AOF `op` worked again.
    pub fn aof_recovered(&mut self, now: Time, op: AofOp) {
        self.set_time(now);
        if self.aof_health.slot(op).take().is_none() {
            return;
        }
        if op == AofOp::Write {
            self.log(
                LogLevel::Warning,
                "AOF write error looks solved, Redis can write again.",
            );
        }
        self.emit(ClusterEvent::AofRecovered { op });
    }

    /// The error writes are refused with, if any: a failed write's first (Redis reports the
    /// last write error, and a failed sync's only when writes work).
    pub fn aof_error(&self) -> Option<&str> {
        let health = &self.aof_health;
        health.write.as_deref().or(health.fsync.as_deref())
    }

    /// `-MISCONF` for a client's write or PING while the AOF fails (a replayed or replicated
    /// command is not refused here: see [`Node::replica_cannot_log`]).
    pub(crate) fn refused_for_disk_error(&self, spec: &CommandSpec) -> Option<Reply> {
        if self.replaying || !(spec.is_write() || spec.name == "ping") {
            return None;
        }
        self.aof_error().map(misconf)
    }

    /// EXEC of a transaction holding a write while the AOF fails: Redis discards it whole.
    pub(crate) fn exec_refused_for_disk_error(&mut self, client: ClientId) -> Option<Reply> {
        let error = self.aof_error()?.to_string();
        let queued_write = self.clients[&client]
            .multi
            .as_ref()?
            .iter()
            .any(|args| self.lookup(&args[0]).is_some_and(CommandSpec::is_write));
        if !queued_write {
            return None;
        }
        let c = self.client_mut(client);
        c.multi = None;
        c.multi_dirty = false;
        c.watched.clear();
        Some(Reply::error(format!(
            "EXECABORT Transaction discarded because of: {}",
            misconf_text(&error)
        )))
    }

    /// A replica whose AOF fails got a write from its master: it stops, as Redis 7.0 panics
    /// (`repl-ignore-disk-write-error no`), rather than apply what it cannot log. True when it
    /// stopped.
    pub(crate) fn replica_cannot_log(&mut self, spec: Option<&CommandSpec>) -> bool {
        if self.aof_error().is_none() || !spec.is_some_and(CommandSpec::is_write) {
            return false;
        }
        self.log(
            LogLevel::Warning,
            "Replica was unable to write command to disk.",
        );
        self.out.push(crate::effect::Effect::Crash);
        true
    }
}

fn misconf_text(error: &str) -> String {
    format!("MISCONF Errors writing to the AOF file: {error}")
}

fn misconf(error: &str) -> Reply {
    Reply::error(misconf_text(error))
}
