//! Redis's command flags (`write`, `readonly`, `fast`, …) as a bit set.
//!
//! The command tables used to spell them as string lists, so a typo was a new flag and a
//! check such as "is this a write" was a string search. `COMMAND` still shows the words, in
//! Redis's order, which is the order of [`WORDS`].

bitflags::bitflags! {
    /// The flags of one command. Only the ones some command here carries, plus
    /// `no_mandatory_keys` which `COMMAND GETKEYS` consults, are defined.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
    pub struct CmdFlags: u32 {
        const WRITE = 1 << 0;
        const READONLY = 1 << 1;
        const DENYOOM = 1 << 2;
        const ADMIN = 1 << 3;
        const NOSCRIPT = 1 << 4;
        const LOADING = 1 << 5;
        const STALE = 1 << 6;
        const SKIP_SLOWLOG = 1 << 7;
        const ASKING = 1 << 8;
        const FAST = 1 << 9;
        const NO_AUTH = 1 << 10;
        const NO_MANDATORY_KEYS = 1 << 11;
        const NO_ASYNC_LOADING = 1 << 12;
        const NO_MULTI = 1 << 13;
        const ALLOW_BUSY = 1 << 14;
        /// Keys found by parsing (a key count argument), not by first/last/step.
        const MOVABLEKEYS = 1 << 15;
        /// May block its client (BLPOP, …).
        const BLOCKING = 1 << 16;
        const PUBSUB = 1 << 17;
        /// Not shown to MONITOR by itself (EVAL, FCALL: their commands are).
        const SKIP_MONITOR = 1 << 18;
        /// May reach the replication stream without being a write (EVAL, PUBLISH, PFCOUNT's
        /// cache refresh): a write pause holds it too. `COMMAND` hides it, as Redis does.
        const MAY_REPLICATE = 1 << 19;
    }
}

/// Each flag with its `COMMAND` word, in the order Redis lists them.
const WORDS: &[(CmdFlags, &str)] = &[
    (CmdFlags::WRITE, "write"),
    (CmdFlags::READONLY, "readonly"),
    (CmdFlags::DENYOOM, "denyoom"),
    (CmdFlags::ADMIN, "admin"),
    (CmdFlags::PUBSUB, "pubsub"),
    (CmdFlags::NOSCRIPT, "noscript"),
    (CmdFlags::BLOCKING, "blocking"),
    (CmdFlags::LOADING, "loading"),
    (CmdFlags::STALE, "stale"),
    (CmdFlags::SKIP_MONITOR, "skip_monitor"),
    (CmdFlags::SKIP_SLOWLOG, "skip_slowlog"),
    (CmdFlags::ASKING, "asking"),
    (CmdFlags::FAST, "fast"),
    (CmdFlags::NO_AUTH, "no_auth"),
    (CmdFlags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (CmdFlags::NO_ASYNC_LOADING, "no_async_loading"),
    (CmdFlags::NO_MULTI, "no_multi"),
    (CmdFlags::MOVABLEKEYS, "movablekeys"),
    (CmdFlags::ALLOW_BUSY, "allow_busy"),
];

impl CmdFlags {
    /// The words `COMMAND` shows for these flags, in Redis's order.
    pub fn words(self) -> impl Iterator<Item = &'static str> {
        WORDS
            .iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|(_, word)| *word)
    }
}

/// Lets tests state a command's flags as the word list `COMMAND` would show.
impl<const N: usize> PartialEq<&[&str; N]> for CmdFlags {
    fn eq(&self, words: &&[&str; N]) -> bool {
        self.words().eq(words.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_but_the_hidden_one_has_one_word() {
        let all = WORDS
            .iter()
            .fold(CmdFlags::empty(), |acc, (flag, _)| acc | *flag);
        assert_eq!(all, CmdFlags::all() - CmdFlags::MAY_REPLICATE);
        assert_eq!(WORDS.len() + 1, CmdFlags::all().iter().count());
        assert_eq!(CmdFlags::MAY_REPLICATE.words().count(), 0);
    }

    #[test]
    fn words_follow_redis_order() {
        let flags = CmdFlags::FAST | CmdFlags::WRITE | CmdFlags::DENYOOM;
        assert_eq!(
            flags.words().collect::<Vec<_>>(),
            ["write", "denyoom", "fast"]
        );
        assert_eq!(flags, &["write", "denyoom", "fast"]);
        assert_eq!(CmdFlags::empty().words().count(), 0);
    }
}
