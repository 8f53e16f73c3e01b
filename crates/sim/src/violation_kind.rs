//! Every kind of broken expectation the harness reports, as one enum.
//!
//! A violation's kind is what seeds are counted by, what a seed file expects
//! (`violation:<name>`) and what a canary must trip; its evidence is text for people. The
//! names are stable: they are written into seed files and compared across runs.

use std::fmt;

/// Declares the enum with, for each kind, its doc, its variant and its stable name.
macro_rules! violation_kinds {
    ($($(#[doc = $doc:literal])+ $variant:ident => $name:literal,)+) => {
        /// What a [`crate::Violation`] is about.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ViolationKind {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ViolationKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ViolationKind] = &[$(ViolationKind::$variant,)+];

            /// The stable name seed files and summaries use (`acked_write_lost`).
            pub fn name(self) -> &'static str {
                match self {
                    $(ViolationKind::$variant => $name,)+
                }
            }
        }
    };
}

violation_kinds! {
    // ---- data: what clients were told vs what the cluster kept ----
    /// A write the cluster acknowledged is gone, and Redis's asynchronous replication does
    /// not explain it.
    AckedWriteLost => "acked_write_lost",
    /// A node evicted a key with no `maxmemory` limit, or under `noeviction`.
    EvictionNotAllowed => "eviction_not_allowed",
    /// A replica evicted a key on its own (`replica-ignore-maxmemory yes`: only its master's
    /// `DEL`s remove its keys).
    ReplicaEvicted => "replica_evicted",
    /// An acknowledged write was lost outside the window in which Redis may lose it (between
    /// its acknowledgement and the failover that dropped it).
    AckedWriteLostOutsideWindow => "acked_write_lost_outside_window",
    /// More writes were lost than the `appendfsync` policy allows.
    LossWindowExceeded => "loss_window_exceeded",
    /// A key reads a value no accepted write carried.
    PhantomValue => "phantom_value",
    /// A key that was written is missing after a reshard.
    KeyLost => "key_lost",
    /// A key exists on more than one node after a reshard.
    KeyDuplicated => "key_duplicated",
    /// A key could not be read back at all.
    KeyUnreadable => "key_unreadable",
    /// A `GET` through the cluster client returned something other than what was set.
    GetMismatch => "get_mismatch",
    /// The final read-back of the written keys failed.
    ReadFailed => "read_failed",
    /// A write was refused where Redis accepts it.
    WriteRefused => "write_refused",
    /// A master on the minority side of a partition acknowledged a write after it should
    /// have stopped accepting them.
    MinorityMasterAcceptedWrite => "minority_master_accepted_write",
    /// A node answered a request for a slot it neither owns nor imports.
    ServedUnownedSlot => "served_unowned_slot",
    /// A keyed command was served before the cluster had slots (Redis refuses it).
    UnservedSlotReply => "unserved_slot_reply",
    /// A keyed command ran on a node that should have refused it (down cluster).
    KeyedCommandNotRefused => "keyed_command_not_refused",
    /// A `SET` was acknowledged by a node that does not own the key's slot.
    SetRedirect => "set_redirect",

    // ---- views: what the nodes say about the cluster ----
    /// A view lists the wrong number of nodes, or not exactly one `myself`.
    ViewMembership => "view_membership",
    /// One view gives a slot two owners.
    SlotDoubleOwner => "slot_double_owner",
    /// A view leaves slots without an owner.
    SlotCoverage => "slot_coverage",
    /// Two views disagree on a slot's owner.
    SlotAgreement => "slot_agreement",
    /// Views still disagree after the bound for agreement.
    ViewsDisagree => "views_disagree",
    /// No node names an owner for a slot.
    SlotOwnerUnknown => "slot_owner_unknown",
    /// Two owners of one slot were seen at the same config epoch.
    SlotEpochConflict => "slot_epoch_conflict",
    /// A node's `currentEpoch` is below a config epoch it shows.
    CurrentEpochBehind => "current_epoch_behind",
    /// A node's epoch went down (also across a restart).
    EpochDecreased => "epoch_decreased",
    /// Two masters serving slots keep the same config epoch once settled.
    ConfigEpochCollision => "config_epoch_collision",
    /// A node still flags a peer failing although nothing failed.
    PeerFlaggedFailing => "peer_flagged_failing",
    /// A ping stays unanswered although nothing failed.
    PingUnanswered => "ping_unanswered",
    /// A node reports `cluster_state` other than ok.
    ClusterNotOk => "cluster_not_ok",
    /// After the faults were healed the cluster did not become whole (every node up, ok and
    /// agreeing) within the liveness bound.
    ClusterNotWhole => "cluster_not_whole",
    /// Slot ownership kept changing after the reshard was fixed.
    SlotsNotStable => "slots_not_stable",
    /// The number of shards (masters with slots) is not what the scenario expects.
    ShardCount => "shard_count",
    /// A node on the minority side of a partition sees a view it cannot have.
    MinorityView => "minority_view",
    /// A node's ID changed across a restart.
    NodeIdChanged => "node_id_changed",

    // ---- failure detection and failover ----
    /// A node was marked FAIL without a quorum of masters' reports.
    FailWithoutQuorum => "fail_without_quorum",
    /// A master cut off with a minority kept saying `cluster_state:ok`.
    MinorityMasterOk => "minority_master_ok",
    /// A node was flagged failing earlier than the node timeout allows.
    FailureDetectedEarly => "failure_detected_early",
    /// A failed node was not flagged FAIL within the bound.
    FailureNotDetected => "failure_not_detected",
    /// A FAIL flag was cleared earlier than Redis clears it.
    FailClearedEarly => "fail_cleared_early",
    /// The isolated minority stopped serving earlier than the node timeout allows.
    MinorityDownEarly => "minority_down_early",
    /// The isolated minority kept serving past the bound.
    MinorityStillUp => "minority_still_up",
    /// A master voted twice in one epoch, or for two replicas of one master within two node
    /// timeouts.
    DoubleVote => "double_vote",
    /// A replica with stale data (cut off, or restarted behind a sibling) was promoted.
    StaleReplicaPromoted => "stale_replica_promoted",
    /// A master kept claiming slots long after it could learn of their newer owner.
    StaleOwnerKept => "stale_owner_kept",
    /// No replica was promoted in place of the failed master.
    ReplicaNotPromoted => "replica_not_promoted",
    /// The old master did not come back as a replica of the new one.
    OldMasterNotReplica => "old_master_not_replica",
    /// A replica lost its master (no master, or a master that is not one).
    ReplicaDetached => "replica_detached",
    /// A replica's replication link stayed down.
    ReplicaLinkDown => "replica_link_down",
    /// A shard was left without a master.
    NoMaster => "no_master",

    // ---- operations: create, reshard, fix ----
    /// The nodes did not all come to know each other within the bound.
    KnownNodes => "known_nodes",
    /// A slot stayed open (migrating or importing) after its move ended.
    SlotLeftOpen => "slot_left_open",
    /// `redis-cli --cluster check` did not flag an open slot.
    OpenSlotNotFlagged => "open_slot_not_flagged",
    /// `--cluster check` reported problems after the operation.
    CheckNotOk => "check_not_ok",
    /// A reshard moved fewer slots than asked.
    ReshardShort => "reshard_short",
    /// Slots were not where the reshard should have put them.
    SlotsNotMoved => "slots_not_moved",
    /// `CLUSTER SETSLOT` was refused.
    SetslotRefused => "setslot_refused",
    /// Creating the cluster failed.
    CreateFailed => "create_failed",
    /// `--cluster add-node` failed.
    AddNodeFailed => "add_node_failed",
    /// `--cluster del-node` failed.
    DelNodeFailed => "del_node_failed",
    /// `--cluster check` could not run.
    CheckFailed => "check_failed",
    /// `--cluster fix` failed.
    FixFailed => "fix_failed",
    /// `--cluster reshard` failed.
    ReshardFailed => "reshard_failed",
    /// A node restarted with a wiped disk could not be readmitted.
    ReadmitFailed => "readmit_failed",

    // ---- the harness itself ----
    /// A node did not accept connections.
    NodeNotListening => "node_not_listening",
    /// `CLUSTER NODES` could not be read or parsed.
    ClusterNodesUnreadable => "cluster_nodes_unreadable",
    /// A node's identity (`CLUSTER MYID`) could not be read.
    IdentityUnreadable => "identity_unreadable",
    /// A client request failed with an I/O error.
    ClientIo => "client_io",
    /// The scenario's setup failed before any check ran.
    SetupFailed => "setup_failed",
    /// The scenario does not support this cluster shape or configuration.
    ConfigUnsupported => "config_unsupported",
    /// A fault schedule breaks the schedule rules (e.g. loses the majority).
    BadSchedule => "bad_schedule",
    /// The workload writer failed.
    WriterFailed => "writer_failed",
    /// The workload failed to run.
    WorkloadFailed => "workload_failed",
    /// The run panicked.
    RunPanicked => "run_panicked",
    /// The trace hit its cap and dropped events: the checks saw only part of the run.
    TraceTruncated => "trace_truncated",
    // ---- concurrent append histories (`crate::append`) ----
    /// A read shows one write's token twice: a write was applied more than once.
    AppendDuplicated => "append_duplicated",
    /// A read lists an append before another that completed before it began.
    AppendOrderInverted => "append_order_inverted",
    /// A read is no prefix of what the key held: a write out of place, or an observed write
    /// gone from the final value without a loss Redis allows.
    ReadNotPrefix => "read_not_prefix",
    /// A client read a shorter value from a node than it had read from it before, and the
    /// loss rule does not excuse what went missing.
    ReadNotMonotonic => "read_not_monotonic",
    /// A read shows a token no write of that key carried (or one rejected with an error).
    PhantomToken => "phantom_token",
    /// A key was read after its TTL surely ran out.
    ReadAfterExpiry => "read_after_expiry",
    /// A counter holds, or an `INCR` answered, more increments than were sent.
    CounterOvercounted => "counter_overcounted",
    /// `WAIT` answered more replicas than had applied the client's last write before the
    /// reply (from the replicas' own events).
    WaitOvercounted => "wait_overcounted",
    // ---- protocol rules judged on typed events (`crate::event_checks`) ----
    /// A master granted a failover vote Redis's rules forbid: not a master serving slots, the
    /// candidate's master not FAIL in its view (outside a manual failover), an epoch other
    /// than its current one, or a claimed slot its table gives to a newer config epoch.
    VoteRuleBroken => "vote_rule_broken",
    /// A replica's election broke Redis's rules: a delay outside 500 + rank × 1000 ms + up to
    /// 499 ms, an election started before its delay ran out, or a winner whose config epoch
    /// is not its election's epoch.
    ElectionRuleBroken => "election_rule_broken",
    /// A replica promoted by election without votes from a majority of the slot-serving
    /// masters in that epoch.
    PromotedWithoutMajority => "promoted_without_majority",
    /// A node restarted from its `nodes.conf` with epochs or a vote older than ones it had
    /// reached (and saved) before, or started fresh under an ID already used.
    RestartForgotState => "restart_forgot_state",
    /// A node flagged a peer PFAIL although both ran and both directions delivered for the
    /// node timeout and the network's worst delays before.
    PfailWithoutSilence => "pfail_without_silence",
    /// A replica answered `+OK` to `CLUSTER FAILOVER TAKEOVER` without promoting itself
    /// first (Redis takes over inside the command).
    TakeoverIgnored => "takeover_ignored",
    /// A master stayed down past the failover bound while an eligible replica and a voting
    /// majority were undisturbed, and no replica replaced it.
    FailoverMissing => "failover_missing",
    /// A replica answered `+OK` to a default or `FORCE` `CLUSTER FAILOVER` in a quiet cluster
    /// and was not promoted within Redis's manual failover timeout.
    ManualFailoverUnfinished => "manual_failover_unfinished",
    /// A master left without replicas got none by replica migration in time, although a
    /// master with more than the migration barrier's replicas could give one and migration
    /// is allowed.
    ReplicaMigrationMissing => "replica_migration_missing",
    /// A replica migrated to an orphaned master although `cluster-allow-replica-migration`
    /// is no.
    ReplicaMigrationUnwanted => "replica_migration_unwanted",
    /// Under `appendfsync always` a client got the reply to a write before any AOF sync
    /// holding it had completed on the node (Redis fsyncs before it writes the replies).
    AckedBeforeFsync => "acked_before_fsync",
}

impl ViolationKind {
    /// The kind named `name` (as [`ViolationKind::name`] gives it).
    pub fn from_name(name: &str) -> Option<ViolationKind> {
        ViolationKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut names: Vec<&str> = ViolationKind::ALL.iter().map(|k| k.name()).collect();
        for name in &names {
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert_eq!(
                ViolationKind::from_name(name).map(|k| k.name()),
                Some(*name)
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ViolationKind::ALL.len());
        assert_eq!(ViolationKind::from_name("nonsense"), None);
        assert_eq!(ViolationKind::DoubleVote.to_string(), "double_vote");
    }
}
