//! The limits a client connection is held to: `client-output-buffer-limit` (hard and soft
//! limits per class), `client-query-buffer-limit`, `proto-max-bulk-len`, `maxclients` and
//! `timeout`. Kept apart from the rest of [`super::Config`] because the node's client checks
//! read them together, and they are validated with Redis 7.0's own rules and wording (an
//! output-limit string is refused or taken whole; the memory limits have Redis's 1 MB floor).

use super::args::{int_arg, memory_arg};
use super::directives::Kind;

/// Which output-buffer limits a client is held to. A replica's master link is held to the
/// normal class; a `MONITOR` client is normal too, as in Redis.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClientClass {
    Normal,
    Replica,
    PubSub,
}

impl ClientClass {
    /// In `CONFIG GET`'s order.
    pub const ALL: [ClientClass; 3] = [
        ClientClass::Normal,
        ClientClass::Replica,
        ClientClass::PubSub,
    ];

    /// The name `CONFIG GET` shows (Redis still says `slave`).
    pub fn name(self) -> &'static str {
        match self {
            ClientClass::Normal => "normal",
            ClientClass::Replica => "slave",
            ClientClass::PubSub => "pubsub",
        }
    }

    fn parse(name: &str) -> Option<ClientClass> {
        match name.to_ascii_lowercase().as_str() {
            "normal" => Some(ClientClass::Normal),
            "slave" | "replica" => Some(ClientClass::Replica),
            "pubsub" => Some(ClientClass::PubSub),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One class's output-buffer limits; 0 turns a limit off.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    /// How long the soft limit may be passed without a break before the client is closed.
    pub soft_seconds: u64,
}

/// Redis's floor for the two memory limits below.
pub const MEMORY_LIMIT_MIN_BYTES: u64 = 1024 * 1024;
/// Redis's ceiling for them (`LONG_MAX`).
const MEMORY_LIMIT_MAX_BYTES: u64 = i64::MAX as u64;

/// The client limits, with Redis 7.0's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientLimits {
    /// By [`ClientClass`]: normal, replica, pubsub.
    pub output: [OutputLimit; 3],
    /// `client-query-buffer-limit`: unparsed input a client may hold.
    pub query_buffer_bytes: u64,
    /// `proto-max-bulk-len`: longest bulk argument of a request.
    pub proto_max_bulk_len_bytes: u64,
    /// Clients plus cluster-bus connections the node accepts.
    pub maxclients: u64,
    /// Idle seconds before the cron closes a client; 0 = never.
    pub timeout_s: u64,
}

impl Default for ClientLimits {
    fn default() -> Self {
        let mb = 1024 * 1024;
        ClientLimits {
            output: [
                OutputLimit::default(),
                OutputLimit {
                    hard_bytes: 256 * mb,
                    soft_bytes: 64 * mb,
                    soft_seconds: 60,
                },
                OutputLimit {
                    hard_bytes: 32 * mb,
                    soft_bytes: 8 * mb,
                    soft_seconds: 60,
                },
            ],
            query_buffer_bytes: 1024 * mb,
            proto_max_bulk_len_bytes: 512 * mb,
            maxclients: 10000,
            timeout_s: 0,
        }
    }
}

/// The directives this module owns, all `CONFIG SET`-able.
pub(super) const NAMES: &[&str] = &[
    "client-output-buffer-limit",
    "client-query-buffer-limit",
    "proto-max-bulk-len",
    "maxclients",
    "timeout",
];

impl ClientLimits {
    pub fn output_limit(&self, class: ClientClass) -> OutputLimit {
        self.output[class.index()]
    }

    /// Sets the directive `name` (one of [`NAMES`]) from its arguments; on error nothing
    /// changes.
    pub(super) fn assign(&mut self, name: &str, kind: Kind, args: &[String]) -> Result<(), String> {
        let arg = args.first().map(String::as_str).unwrap_or("");
        match name {
            "client-output-buffer-limit" => self.output = output_limits(self.output, args)?,
            "client-query-buffer-limit" => self.query_buffer_bytes = bounded_memory_arg(arg)?,
            "proto-max-bulk-len" => self.proto_max_bulk_len_bytes = bounded_memory_arg(arg)?,
            "maxclients" | "timeout" => {
                let value = int_arg(kind, arg)? as u64;
                if name == "maxclients" {
                    self.maxclients = value;
                } else {
                    self.timeout_s = value;
                }
            }
            other => unreachable!("{other} is not a client-limit directive"),
        }
        Ok(())
    }

    /// The value `CONFIG GET` shows for `name` (one of [`NAMES`]).
    pub(super) fn value_of(&self, name: &str) -> String {
        match name {
            "client-output-buffer-limit" => {
                let classes: Vec<String> = ClientClass::ALL
                    .iter()
                    .map(|&class| {
                        let l = self.output_limit(class);
                        format!(
                            "{} {} {} {}",
                            class.name(),
                            l.hard_bytes,
                            l.soft_bytes,
                            l.soft_seconds
                        )
                    })
                    .collect();
                classes.join(" ")
            }
            "client-query-buffer-limit" => self.query_buffer_bytes.to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len_bytes.to_string(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout_s.to_string(),
            other => unreachable!("{other} is not a client-limit directive"),
        }
    }
}

/// A memory value within Redis's bounds for the query-buffer and bulk limits.
fn bounded_memory_arg(arg: &str) -> Result<u64, String> {
    let value = memory_arg(arg)?;
    if !(MEMORY_LIMIT_MIN_BYTES..=MEMORY_LIMIT_MAX_BYTES).contains(&value) {
        return Err(format!(
            "argument must be between {MEMORY_LIMIT_MIN_BYTES} and {MEMORY_LIMIT_MAX_BYTES} \
             inclusive"
        ));
    }
    Ok(value)
}

/// `<class> <hard> <soft> <soft seconds>` groups applied over `current`: every group is
/// checked before any is taken, so a bad one changes nothing.
fn output_limits(current: [OutputLimit; 3], args: &[String]) -> Result<[OutputLimit; 3], String> {
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = current;
    for group in args.chunks_exact(4) {
        let class = ClientClass::parse(&group[0]).ok_or_else(|| {
            "Invalid client class specified in buffer limit configuration.".to_string()
        })?;
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard_bytes = memory_arg(&group[1]).map_err(|_| bad())?;
        let soft_bytes = memory_arg(&group[2]).map_err(|_| bad())?;
        let soft_seconds = group[3].parse::<u64>().map_err(|_| bad())?;
        limits[class.index()] = OutputLimit {
            hard_bytes,
            soft_bytes,
            soft_seconds,
        };
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn set(c: &mut Config, name: &str, value: &str) -> Result<(), String> {
        c.set(name, value)
    }

    #[test]
    fn output_limits_are_set_per_class_and_shown_as_one_string() {
        let mut c = Config::default();
        assert_eq!(
            c.get("client-output-buffer-limit")[0].1,
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        set(&mut c, "client-output-buffer-limit", "pubsub 1mb 512k 5").unwrap();
        set(&mut c, "client-output-buffer-limit", "replica 1 2 3").unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit")[0].1,
            "normal 0 0 0 slave 1 2 3 pubsub 1048576 512000 5"
        );
        // Nothing to set is fine, as in Redis.
        set(&mut c, "client-output-buffer-limit", "").unwrap();
        let limit = c.client_limits.output_limit(super::ClientClass::PubSub);
        assert_eq!(
            (limit.hard_bytes, limit.soft_bytes, limit.soft_seconds),
            (1048576, 512000, 5)
        );
    }

    #[test]
    fn bad_output_limits_change_nothing_and_say_what_redis_says() {
        let mut c = Config::default();
        let before = c.client_limits.clone();
        let wrong = "Wrong number of arguments in buffer limit configuration.";
        let class = "Invalid client class specified in buffer limit configuration.";
        let value = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        for (arg, err) in [
            ("foo", wrong),
            ("normal 1 0 1 pubsub 1 1", wrong),
            ("bogus 1 2 3", class),
            ("master 1 2 3", class),
            ("normal 1 2 x", value),
            ("normal -1 0 0", value),
            ("normal 0 0 -1", value),
            ("normal 1x 0 0", value),
            ("pubsub 1 1 1 normal 10mbs 0 0", value),
        ] {
            assert_eq!(
                set(&mut c, "client-output-buffer-limit", arg),
                Err(err.into()),
                "{arg}"
            );
        }
        assert_eq!(c.client_limits, before);
    }

    #[test]
    fn memory_limits_have_redis_floor_and_integers_their_ranges() {
        let mut c = Config::default();
        let floor = "argument must be between 1048576 and 9223372036854775807 inclusive";
        for name in ["proto-max-bulk-len", "client-query-buffer-limit"] {
            assert_eq!(set(&mut c, name, "100"), Err(floor.into()));
            assert_eq!(
                set(&mut c, name, "abc"),
                Err("argument must be a memory value".into())
            );
            set(&mut c, name, "1mb").unwrap();
            assert_eq!(c.get(name)[0].1, "1048576");
        }
        assert_eq!(c.client_limits.proto_max_bulk_len_bytes, 1048576);
        assert_eq!(c.client_limits.query_buffer_bytes, 1048576);
        assert_eq!(
            set(&mut c, "maxclients", "0"),
            Err("argument must be between 1 and 4294967295 inclusive".into())
        );
        assert_eq!(
            set(&mut c, "timeout", "-1"),
            Err("argument must be between 0 and 2147483647 inclusive".into())
        );
        assert_eq!(
            set(&mut c, "timeout", "abc"),
            Err("argument couldn't be parsed into an integer".into())
        );
        set(&mut c, "maxclients", "5").unwrap();
        set(&mut c, "timeout", "7").unwrap();
        assert_eq!(
            (c.client_limits.maxclients, c.client_limits.timeout_s),
            (5, 7)
        );
        assert_eq!(c.get("maxclients")[0].1, "5");
        assert_eq!(c.get("timeout")[0].1, "7");
    }

    #[test]
    fn config_file_lines_set_one_class_each() {
        let text = "client-output-buffer-limit normal 1mb 0 0\n\
                    client-output-buffer-limit pubsub 2mb 1mb 10\n\
                    proto-max-bulk-len 2mb\nmaxclients 50\ntimeout 30\n";
        let c = Config::parse(text, &[]).unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit")[0].1,
            "normal 1048576 0 0 slave 268435456 67108864 60 pubsub 2097152 1048576 10"
        );
        assert_eq!(c.client_limits.proto_max_bulk_len_bytes, 2 * 1024 * 1024);
        assert_eq!(
            (c.client_limits.maxclients, c.client_limits.timeout_s),
            (50, 30)
        );
    }
}
