//! A client's session settings beyond the protocol basics: what `CLIENT LIST` shows of its
//! last command, and the modes the `CLIENT` subcommands and `MONITOR` switch (reply
//! suppression, tracking, no-evict, monitoring).

use std::collections::BTreeSet;

use bytes::Bytes;

use super::{ClientId, Node};

/// `CLIENT REPLY`: which replies the driver writes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// `SKIP` was just sent: the next command's reply is dropped.
    SkipNext,
    /// This command's reply is dropped, then back to `On`.
    Skip,
}

/// `CLIENT TRACKING ON …`: what the client asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracking {
    /// Client id invalidations go to (`REDIRECT`); `None`: this client, as RESP3 pushes.
    pub redirect: Option<ClientId>,
    pub bcast: bool,
    pub prefixes: Vec<Bytes>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// `CLIENT CACHING yes|no` for the next command only (OPTIN: yes tracks it, OPTOUT: no
    /// skips it).
    pub caching: Option<bool>,
    /// Keys this client read since it was last told about them (default mode only).
    pub keys: BTreeSet<Bytes>,
    /// The `REDIRECT` target went away (`R` in CLIENT LIST, `broken_redirect`).
    pub broken_redirect: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Session {
    /// Full name (`client|list`) of the last command looked up, `None` for an unknown one.
    pub last_cmd: Option<&'static str>,
    /// Bytes of the arguments of the command being run (or parked) — `argv-mem`.
    pub argv_mem: usize,
    pub reply: ReplyMode,
    /// The reply of the command just run must not be written (`CLIENT REPLY OFF|SKIP`).
    pub reply_silenced: bool,
    pub monitor: bool,
    pub no_evict: bool,
    pub tracking: Option<Tracking>,
}

impl Node {
    /// Whether the driver must drop the reply `Node::command` just returned for `client`
    /// (`CLIENT REPLY OFF` or `SKIP`).
    pub fn reply_silenced(&self, client: ClientId) -> bool {
        self.clients
            .get(&client)
            .is_some_and(|c| c.session.reply_silenced)
    }

    /// Before a command: what `CLIENT LIST` shows of it.
    pub(super) fn session_command_starts(&mut self, client: ClientId, args: &[Bytes]) {
        let name = self.lookup(&args[0]).map(|spec| {
            let subs = crate::cmd::server::subcommands_of(spec.name);
            match args.get(1) {
                Some(sub) if !subs.is_empty() => {
                    let full = format!(
                        "{}|{}",
                        spec.name,
                        String::from_utf8_lossy(sub).to_ascii_lowercase()
                    );
                    subs.iter().find(|s| s.name == full).map(|s| s.name)
                }
                _ => Some(spec.name),
            }
        });
        let session = &mut self.client_mut(client).session;
        session.last_cmd = name.flatten();
        session.argv_mem = args.iter().map(|a| a.len()).sum();
        session.reply_silenced = false;
    }

    /// After a command: its reply's fate under `CLIENT REPLY`, and `argv-mem` back to 0 unless
    /// the client is parked with its command.
    pub(super) fn session_command_ends(&mut self, client: ClientId) {
        let parked = self.is_parked(client);
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        let s = &mut c.session;
        s.reply_silenced = matches!(s.reply, ReplyMode::Off | ReplyMode::Skip) || s.reply_silenced;
        s.reply = match s.reply {
            ReplyMode::Skip => ReplyMode::On,
            ReplyMode::SkipNext => ReplyMode::Skip,
            other => other,
        };
        if !parked {
            s.argv_mem = 0;
        }
        // CLIENT CACHING marks the next command; as in Redis, CLIENT subcommands and
        // commands queued in MULTI keep the mark.
        let keeps = s.last_cmd.is_some_and(|name| name.starts_with("client|"));
        if !keeps && c.multi.is_none() {
            if let Some(t) = s.tracking.as_mut() {
                t.caching = None;
            }
        }
    }
}
