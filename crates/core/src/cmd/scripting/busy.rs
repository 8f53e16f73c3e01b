//! What a running script shares with the driver while it holds the node: whether a script
//! runs, since when (the node's monotonic clock at its command), whether it was EVAL or a
//! function, whether it wrote, and a kill request. The driver reads it without the node to
//! answer other clients `-BUSY` once the script ran past `busy-reply-threshold`, and sets the
//! kill request on `SCRIPT KILL`/`FUNCTION KILL`; the interpreter's instruction hook reads
//! the request and stops the script. Nothing here reads a clock: the driver passes its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::reply::Reply;

/// Redis 7.0's reply to other clients while an EVAL is busy.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The same while a function (FCALL) is busy.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
/// What a killed script's caller gets, before Redis's `script: …, on …` suffix.
pub(crate) const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against \
                          the dataset. You can either wait the script termination or kill the \
                          server in a hard way using the SHUTDOWN NOSAVE command.";

/// `busy-reply-threshold`'s default, in ms (Redis 7.0's).
pub const DEFAULT_THRESHOLD_MS: u64 = 5000;

/// The shared state (see the module docs). One per node, behind an `Arc`.
#[derive(Debug)]
pub struct ScriptWatch {
    running: AtomicBool,
    eval: AtomicBool,
    wrote: AtomicBool,
    kill: AtomicBool,
    started_mono_ms: AtomicU64,
    threshold_ms: AtomicU64,
}

impl Default for ScriptWatch {
    fn default() -> Self {
        ScriptWatch {
            running: AtomicBool::new(false),
            eval: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            started_mono_ms: AtomicU64::new(0),
            threshold_ms: AtomicU64::new(DEFAULT_THRESHOLD_MS),
        }
    }
}

impl ScriptWatch {
    /// Whether a script runs now (the node is held by it).
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// The `-BUSY` reply other clients get at `now_mono_ms`: `Some` once a script has run
    /// for the threshold (`busy-reply-threshold`; 0 means never busy, as in Redis).
    pub fn busy_reply(&self, now_mono_ms: u64) -> Option<Reply> {
        let threshold_ms = self.threshold_ms.load(Ordering::Relaxed);
        if !self.running() || threshold_ms == 0 {
            return None;
        }
        let started = self.started_mono_ms.load(Ordering::Acquire);
        if now_mono_ms.saturating_sub(started) < threshold_ms {
            return None;
        }
        Some(self.busy_error())
    }

    /// How long until the running script turns busy at `now_mono_ms` (`None`: no script, or
    /// no threshold), so a driver can wait that long before answering `-BUSY`.
    pub fn busy_in_ms(&self, now_mono_ms: u64) -> Option<u64> {
        let threshold_ms = self.threshold_ms.load(Ordering::Relaxed);
        if !self.running() || threshold_ms == 0 {
            return None;
        }
        let started = self.started_mono_ms.load(Ordering::Acquire);
        Some((started + threshold_ms).saturating_sub(now_mono_ms))
    }

    /// `SCRIPT KILL` (`by_eval`) or `FUNCTION KILL` sent while a script is busy: the reply,
    /// and the kill request set when it is `+OK`. Redis refuses a script that wrote, and a
    /// KILL of the other kind (with the running kind's `-BUSY`).
    pub fn kill(&self, by_eval: bool) -> Reply {
        if !self.running() {
            return Reply::error("NOTBUSY No scripts in execution right now.");
        }
        if self.wrote.load(Ordering::Acquire) {
            return Reply::error(UNKILLABLE);
        }
        if by_eval != self.eval.load(Ordering::Acquire) {
            return self.busy_error();
        }
        self.kill.store(true, Ordering::Release);
        Reply::ok()
    }

    fn busy_error(&self) -> Reply {
        match self.eval.load(Ordering::Acquire) {
            true => Reply::error(BUSY_EVAL),
            false => Reply::error(BUSY_FUNCTION),
        }
    }

    /// Sets `busy-reply-threshold` (ms).
    pub(crate) fn set_threshold_ms(&self, threshold_ms: u64) {
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
    }

    /// A script starts at the node's `now_mono_ms` (its command's time).
    pub(crate) fn start(&self, eval: bool, now_mono_ms: u64) {
        assert!(!self.running(), "scripts never nest");
        self.eval.store(eval, Ordering::Release);
        self.wrote.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Release);
        self.started_mono_ms.store(now_mono_ms, Ordering::Release);
        self.running.store(true, Ordering::Release);
    }

    /// The running script ran a write command: it can no longer be killed.
    pub(crate) fn wrote(&self) {
        debug_assert!(self.running(), "only a running script writes");
        self.wrote.store(true, Ordering::Release);
    }

    /// Whether the running script ran a write command yet.
    pub(crate) fn has_written(&self) -> bool {
        self.wrote.load(Ordering::Acquire)
    }

    /// Whether a KILL asked the running script to stop.
    pub(crate) fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }

    /// The script ended (normally, with an error, or killed).
    pub(crate) fn end(&self) {
        self.running.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Release);
    }
}

/// Whether a driver may let `args` through while a script is busy: `SCRIPT KILL`,
/// `FUNCTION KILL` and `SHUTDOWN NOSAVE` (Redis 7.0 also lets a few connection commands
/// through, which this node answers `-BUSY`).
pub fn allowed_while_busy(args: &[bytes::Bytes]) -> bool {
    let word = |i: usize| args.get(i).map(|a| a.to_ascii_lowercase());
    matches!(
        (word(0).as_deref(), word(1).as_deref(), args.len()),
        (Some(b"script" | b"function"), Some(b"kill"), 2) | (Some(b"shutdown"), Some(b"nosave"), 2)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_only_past_the_threshold_and_with_the_running_kind() {
        let watch = ScriptWatch::default();
        watch.set_threshold_ms(200);
        assert_eq!(watch.busy_reply(1000), None);
        watch.start(true, 1000);
        assert_eq!(watch.busy_in_ms(1050), Some(150));
        assert_eq!(watch.busy_reply(1199), None);
        assert_eq!(watch.busy_reply(1200), Some(Reply::error(BUSY_EVAL)));
        watch.end();
        assert_eq!(watch.busy_reply(1300), None);
        watch.start(false, 2000);
        assert_eq!(watch.busy_reply(2500), Some(Reply::error(BUSY_FUNCTION)));
        watch.set_threshold_ms(0);
        assert_eq!(watch.busy_reply(9000), None, "0 turns the threshold off");
    }

    #[test]
    fn kill_is_refused_after_a_write_and_across_kinds() {
        let watch = ScriptWatch::default();
        assert_eq!(
            watch.kill(true),
            Reply::error("NOTBUSY No scripts in execution right now.")
        );
        watch.start(true, 0);
        assert_eq!(watch.kill(false), Reply::error(BUSY_EVAL));
        assert!(!watch.kill_requested());
        assert_eq!(watch.kill(true), Reply::ok());
        assert!(watch.kill_requested());
        watch.end();
        watch.start(false, 0);
        assert!(!watch.kill_requested(), "a new script starts unkilled");
        watch.wrote();
        assert_eq!(watch.kill(false), Reply::error(UNKILLABLE));
        assert!(!watch.kill_requested());
    }

    #[test]
    fn only_the_kills_and_shutdown_nosave_pass() {
        let args = |words: &[&str]| -> Vec<bytes::Bytes> {
            words
                .iter()
                .map(|w| bytes::Bytes::from(w.to_string()))
                .collect()
        };
        assert!(allowed_while_busy(&args(&["SCRIPT", "KILL"])));
        assert!(allowed_while_busy(&args(&["function", "kill"])));
        assert!(allowed_while_busy(&args(&["shutdown", "NOSAVE"])));
        assert!(!allowed_while_busy(&args(&["SHUTDOWN"])));
        assert!(!allowed_while_busy(&args(&["PING"])));
        assert!(!allowed_while_busy(&args(&["SCRIPT", "FLUSH"])));
    }
}
