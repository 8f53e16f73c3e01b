//! `CLUSTER` subcommands as `COMMAND` describes them (Redis 7.0's arity, flags and ACL
//! categories). Dispatch stays with the arity table in `mod.rs`; each spec's handler is the
//! container itself, which picks the subcommand again.

use super::cluster;
use crate::cmd::{keyless, CmdFlags as F, CommandSpec};

const ADMIN: F = F::ADMIN.union(F::STALE).union(F::NO_ASYNC_LOADING);
const ADMIN_SYNC: F = F::ADMIN.union(F::STALE);
const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];
const READ: F = F::STALE;
const SLOW: &[&str] = &["@slow"];

const fn sub(
    name: &'static str,
    arity: i32,
    flags: F,
    acl: &'static [&'static str],
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    keyless(name, arity, flags, acl, "cluster", summary, since, cluster)
}

#[rustfmt::skip]
pub(crate) static CLUSTER_SUBCOMMANDS: &[CommandSpec] = &[
    sub("cluster|addslots", -3, ADMIN, ADMIN_ACL, "Claim hash slots for this node", "3.0.0"),
    sub("cluster|addslotsrange", -4, ADMIN, ADMIN_ACL, "Claim ranges of hash slots for this node", "7.0.0"),
    sub("cluster|bumpepoch", 2, ADMIN, ADMIN_ACL, "Take a new config epoch", "3.0.0"),
    sub("cluster|count-failure-reports", 3, ADMIN_SYNC, ADMIN_ACL, "Count the failure reports about a node", "3.0.0"),
    sub("cluster|countkeysinslot", 3, READ, SLOW, "Count the keys of a hash slot", "3.0.0"),
    sub("cluster|delslots", -3, ADMIN, ADMIN_ACL, "Give up hash slots", "3.0.0"),
    sub("cluster|delslotsrange", -4, ADMIN, ADMIN_ACL, "Give up ranges of hash slots", "7.0.0"),
    sub("cluster|failover", -2, ADMIN, ADMIN_ACL, "Make this replica take over its master", "3.0.0"),
    sub("cluster|flushslots", 2, ADMIN, ADMIN_ACL, "Give up every hash slot", "3.0.0"),
    sub("cluster|forget", 3, ADMIN, ADMIN_ACL, "Drop a node from this node's view for a while", "3.0.0"),
    sub("cluster|getkeysinslot", 4, READ, SLOW, "List keys of a hash slot", "3.0.0"),
    sub("cluster|help", 2, F::LOADING.union(F::STALE), SLOW, "List the CLUSTER subcommands", "5.0.0"),
    sub("cluster|info", 2, READ, SLOW, "Report the cluster's state", "3.0.0"),
    sub("cluster|keyslot", 3, READ, SLOW, "Return the hash slot of a key", "3.0.0"),
    sub("cluster|links", 2, READ, SLOW, "Describe this node's bus links", "7.0.0"),
    sub("cluster|meet", -4, ADMIN, ADMIN_ACL, "Join another node's cluster", "3.0.0"),
    sub("cluster|myid", 2, READ, SLOW, "Return this node's ID", "3.0.0"),
    sub("cluster|nodes", 2, READ, SLOW, "Describe every node as nodes.conf lines", "3.0.0"),
    sub("cluster|replicas", 3, ADMIN_SYNC, ADMIN_ACL, "List a master's replicas", "5.0.0"),
    sub("cluster|replicate", 3, ADMIN, ADMIN_ACL, "Make this node a replica of a master", "3.0.0"),
    sub("cluster|reset", -2, F::ADMIN.union(F::NOSCRIPT).union(F::STALE), ADMIN_ACL, "Forget the cluster and start over", "3.0.0"),
    sub("cluster|saveconfig", 2, ADMIN, ADMIN_ACL, "Write nodes.conf now", "3.0.0"),
    sub("cluster|set-config-epoch", 3, ADMIN, ADMIN_ACL, "Set a fresh node's config epoch", "3.0.0"),
    sub("cluster|setslot", -4, ADMIN, ADMIN_ACL, "Migrate, import or assign a hash slot", "3.0.0"),
    sub("cluster|shards", 2, READ, SLOW, "Describe the shards and their slots", "7.0.0"),
    sub("cluster|slaves", 3, ADMIN_SYNC, ADMIN_ACL, "List a master's replicas (old name)", "3.0.0"),
    sub("cluster|slots", 2, READ, SLOW, "Map slot ranges to nodes", "3.0.0"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand the container dispatches is described, with the same arity.
    #[test]
    fn table_matches_dispatch() {
        assert_eq!(CLUSTER_SUBCOMMANDS.len(), super::super::SUBCOMMANDS.len());
        for (name, arity, _) in super::super::SUBCOMMANDS {
            let spec = CLUSTER_SUBCOMMANDS
                .iter()
                .find(|s| s.name == format!("cluster|{name}"))
                .expect("described");
            assert_eq!(spec.arity, *arity, "{name}");
        }
    }
}
