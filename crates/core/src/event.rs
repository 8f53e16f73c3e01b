//! Typed events: what the node decided, as values a checker can read.
//!
//! The node's log lines are for people and follow Redis's wording, which may change; a
//! simulation harness that judged the node by parsing them would go quiet the day a line is
//! reworded. So every protocol decision a checker cares about (votes, elections, promotions,
//! failure flags, epochs, slot ownership, `cluster_state`, the replication link, acknowledged
//! writes) is also emitted as a [`ClusterEvent`] through [`crate::Effect::Event`]. Drivers
//! that have no use for them drop them; the simulator stores them in its trace.
//! [`fmt::Display`] renders one line for people; nothing should parse that line back.

use std::fmt;

use crate::node_id::NodeId;

/// How a replica became master.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum PromotionKind {
    /// It won an election (automatic failover, or `CLUSTER FAILOVER` / `FORCE`).
    Election,
    /// `CLUSTER FAILOVER TAKEOVER`: it took a new epoch without votes.
    Takeover,
}

/// Why this node's `currentEpoch` moved.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EpochReason {
    /// A peer's message carried a greater epoch.
    LearnedFromPeer,
    /// This replica started an election.
    Election,
    /// `CLUSTER FAILOVER TAKEOVER`.
    Takeover,
    /// Two masters had the same config epoch and this one (the smaller ID) moved.
    Collision,
    /// An operator's `CLUSTER BUMPEPOCH` or `CLUSTER SETSLOT … NODE` took a new epoch.
    Bump,
    /// `CLUSTER SET-CONFIG-EPOCH` (at `redis-cli --cluster create`).
    SetConfigEpoch,
}

/// Why this node's own config epoch changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConfigEpochReason {
    /// It won an election.
    Election,
    /// `CLUSTER FAILOVER TAKEOVER`.
    Takeover,
    /// Config epoch collision with `other` (this node has the smaller ID).
    Collision { other: NodeId },
    /// `CLUSTER BUMPEPOCH` or `CLUSTER SETSLOT … NODE`.
    Bump,
    /// `CLUSTER SET-CONFIG-EPOCH`.
    SetConfigEpoch,
}

/// How a node came to be flagged FAIL in this node's view.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum FailSource {
    /// This node counted a quorum of masters' PFAIL reports (and broadcast FAIL).
    Quorum,
    /// A peer's FAIL message.
    Message,
}

/// A protocol decision of one node, in the order it made them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClusterEvent {
    /// This replica scheduled an election after `delay_ms` (rank among its master's
    /// replicas, replication offset).
    ElectionScheduled {
        delay_ms: u64,
        rank: usize,
        offset: u64,
    },
    /// This replica learned it ranks worse than when it scheduled its election (`rank`) and
    /// put the election off by `added_ms` more.
    ElectionDelayed { rank: usize, added_ms: u64 },
    /// A manual failover (`CLUSTER FAILOVER`, or its FORCE form) set up an election that may
    /// start at once: rank 0, no delay. Like a scheduled one, it holds back the next attempt
    /// until its retry time has passed, even when the manual failover itself ends first.
    ManualElectionSetUp { offset: u64 },
    /// This replica asked for votes for `epoch`.
    ElectionStarted { epoch: u64 },
    /// This master voted for `candidate`, a replica of `master`, in `epoch`.
    VoteGranted {
        epoch: u64,
        candidate: NodeId,
        master: NodeId,
    },
    /// This replica became master in place of `old_master`, with config epoch `config_epoch`,
    /// holding the data of replication offset `offset`. `coordinated`: a default-mode
    /// `CLUSTER FAILOVER`, where the master paused its writes and this replica caught up with
    /// its offset before the election (so it holds every write the master acknowledged).
    Promoted {
        kind: PromotionKind,
        config_epoch: u64,
        old_master: NodeId,
        offset: u64,
        coordinated: bool,
    },
    /// This node stopped answering pings in time (PFAIL, local only).
    PfailMarked { node: NodeId },
    /// PFAIL cleared: `node` answered again before it was failed.
    PfailCleared { node: NodeId },
    /// `node` is FAIL in this node's view.
    FailMarked { node: NodeId, source: FailSource },
    /// `node`'s FAIL flag was cleared (it is reachable again).
    FailCleared { node: NodeId },
    /// `currentEpoch` moved to `epoch`.
    CurrentEpochChanged { epoch: u64, reason: EpochReason },
    /// This node's own config epoch became `epoch`.
    ConfigEpochChanged {
        epoch: u64,
        reason: ConfigEpochReason,
    },
    /// In this node's view, `node`'s config epoch is now `epoch` (learned from its messages or
    /// an UPDATE; 0 once it is seen as a replica). Voters compare it with a candidate's claim.
    PeerConfigEpochChanged { node: NodeId, epoch: u64 },
    /// In this node's view, `ranges` (inclusive) are now served by `owner` (`None`: unassigned).
    SlotsAssigned {
        ranges: Vec<(u16, u16)>,
        owner: Option<NodeId>,
    },
    /// This node now imports `slot` from `from` (`SETSLOT IMPORTING`), or (`None`) no longer
    /// imports it: only then may it serve the slot to `ASKING` clients.
    ImportChanged { slot: u16, from: Option<NodeId> },
    /// `cluster_state` became ok or fail.
    ClusterStateChanged { ok: bool },
    /// This node became a replica of `master`.
    BecameReplica { master: NodeId },
    /// This replica finished loading its master's snapshot: it holds the master's data up
    /// to `offset` and now follows the write stream.
    ReplicationLinkUp { offset: u64 },
    /// This replica's link to its master broke, at replication offset `offset`.
    ReplicationLinkDown { offset: u64 },
    /// A write was applied (on a master, or by a replica from its master's stream); the
    /// replication offset is now `offset`. `request` is [`request_digest`] of the client
    /// command as received, when a client's command made this write; 0 for a replica applying
    /// the stream and for writes no client sent (expiry `DEL`s).
    WriteApplied { offset: u64, request: u64 },
    /// `CLUSTER SETSLOT <slot> NODE <me>` closed this node's import of `slot`: it owns the slot
    /// now, with the keys migrated to it, at replication offset `offset`.
    SlotImported { slot: u16, offset: u64 },
    /// At start-up this master held keys of `ranges` (inclusive), which no node served in its
    /// view, and took them (Redis's `verifyClusterConfigWithData`, case A): a claim at its
    /// own config epoch, which wins the slots from an owner with a smaller one.
    SlotsAdopted { ranges: Vec<(u16, u16)> },
    /// The node started with ID `id`: fresh (`loaded` false: a new ID, nothing on disk) or
    /// from its saved `nodes.conf`, holding these epochs, as a replica this master, and the
    /// failure flags the file kept (`(node, true)`: FAIL, `false`: PFAIL).
    NodeStarted {
        id: NodeId,
        loaded: bool,
        current_epoch: u64,
        config_epoch: u64,
        last_vote_epoch: u64,
        master: Option<NodeId>,
        flagged: Vec<(NodeId, bool)>,
    },
    /// This node marked `node` FAIL by quorum, counting the valid failure reports of
    /// `reporters` (itself not included) against a cluster of `size` slot-serving masters.
    FailQuorumReached {
        node: NodeId,
        reporters: Vec<NodeId>,
        size: usize,
    },
    /// MIGRATE moved `count` keys of `slot` out of this node to its target `to` (they live
    /// there now; `None`: an address no known node serves).
    KeysMigrated {
        slot: u16,
        count: usize,
        to: Option<NodeId>,
    },
    /// This node ran a keyed command for `slot` itself instead of redirecting it; `asking`
    /// and `readonly` are the client's flags when it did.
    KeyServed {
        slot: u16,
        asking: bool,
        readonly: bool,
    },
    /// The driver could not `op` the AOF (`error` is the system's text): from now on this
    /// node refuses writes with `-MISCONF`. After a failed write, what it acknowledges is
    /// held in memory only; after a failed sync, in the page cache only.
    AofFailed { op: AofOp, error: String },
    /// The AOF `op` works again: writes held back are in the file now.
    AofRecovered { op: AofOp },
    /// This replica's master answered its PSYNC with `+CONTINUE`: the replica keeps its data
    /// (nothing flushed) and follows `master`'s stream on from replication offset `offset`.
    PartialResync { master: NodeId, offset: u64 },
    /// This replica's master answered its PSYNC with `+FULLRESYNC <replid> <offset>`: a
    /// snapshot of `master`'s data as of `offset` follows, and replaces this replica's data
    /// once loaded ([`ClusterEvent::ReplicationLinkUp`]). The master made it when it said
    /// [`ClusterEvent::SnapshotTaken`] with the same `replid` and `offset` (perhaps long
    /// before, and in an incarnation since gone: the bytes were on their way).
    FullResync {
        master: NodeId,
        offset: u64,
        replid: String,
    },
    /// This master took the snapshot of a full sync, of its data at replication offset
    /// `offset` under replication ID `replid`, for every replica waiting for one.
    SnapshotTaken { replid: String, offset: u64 },
    /// This replica began loading the snapshot [`ClusterEvent::FullResync`] announced:
    /// `from_socket` as it arrives (`repl-diskless-load on-empty-db|swapdb`), else once whole.
    /// With `keeps_old_data` (`swapdb`) it loads into a new keyspace and the old data stays
    /// until the load completes ([`ClusterEvent::ReplicationLinkUp`]) or fails; otherwise the
    /// old data was flushed now. `async_loading`: the old data is served meanwhile.
    SyncLoadStarted {
        from_socket: bool,
        keeps_old_data: bool,
        async_loading: bool,
    },
    /// The snapshot loading from the socket was given up (the link dropped, the payload was
    /// damaged): with `kept_old_data` the data is what it was before the sync (`swapdb`),
    /// otherwise the partly loaded keys were flushed (`on-empty-db`: the node is empty).
    SyncLoadAborted { kept_old_data: bool },
    /// A sync of the AOF finished: the file holds every write up to replication offset
    /// `offset` durably. Under `appendfsync always` this comes before the replies of those
    /// writes leave.
    AofSynced { offset: u64 },
    /// `appendfsync everysec` with a background sync still running: the AOF buffer is held in
    /// memory (Redis's postponed flush), so what the node acknowledges meanwhile is in its
    /// memory only, lost by any crash, until [`ClusterEvent::AofWriteResumed`].
    AofWritePostponed,
    /// The held writes went to the file; `delayed`: without waiting for the sync any longer
    /// (two seconds passed, Redis's `aof_delayed_fsync`).
    AofWriteResumed { delayed: bool },
    /// The driver holds this node for `ms` (rounded up) while a sync runs on its thread
    /// (`appendfsync always`, a `nodes.conf` save, on a slow disk): no input is read, no
    /// reply or message leaves and the cron does not run, as with Redis's main thread
    /// blocked in `fsync`.
    SyncStalled { ms: u64 },
    /// This node evicted `key` to fit `maxmemory` under `policy` (a `maxmemory-policy`
    /// name); the key's `DEL` follows on the AOF and, from a master, to the replicas.
    KeyEvicted {
        key: bytes::Bytes,
        policy: &'static str,
    },
}

/// What failed on the AOF ([`ClusterEvent::AofFailed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AofOp {
    /// Writing to the file.
    Write,
    /// Syncing it (`fsync`).
    Fsync,
}

impl fmt::Display for AofOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AofOp::Write => "write",
            AofOp::Fsync => "fsync",
        })
    }
}

impl ClusterEvent {
    /// The slot-assignment event for one slot, or the previous event extended by it when the
    /// slot continues its last range with the same owner (a command that assigns thousands of
    /// slots one at a time still yields one event).
    pub fn push_slot(events: &mut Vec<ClusterEvent>, slot: u16, owner: Option<NodeId>) {
        if let Some(ClusterEvent::SlotsAssigned {
            ranges,
            owner: last_owner,
        }) = events.last_mut()
        {
            if *last_owner == owner {
                if let Some(last) = ranges
                    .last_mut()
                    .filter(|r| r.1.checked_add(1) == Some(slot))
                {
                    last.1 = slot;
                } else {
                    ranges.push((slot, slot));
                }
                return;
            }
        }
        events.push(ClusterEvent::SlotsAssigned {
            ranges: vec![(slot, slot)],
            owner,
        });
    }
}

impl fmt::Display for PromotionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PromotionKind::Election => "election",
            PromotionKind::Takeover => "takeover",
        })
    }
}

impl fmt::Display for EpochReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EpochReason::LearnedFromPeer => "learned from a peer",
            EpochReason::Election => "election",
            EpochReason::Takeover => "takeover",
            EpochReason::Collision => "config epoch collision",
            EpochReason::Bump => "bump",
            EpochReason::SetConfigEpoch => "set-config-epoch",
        })
    }
}

impl fmt::Display for ConfigEpochReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigEpochReason::Election => f.write_str("election"),
            ConfigEpochReason::Takeover => f.write_str("takeover"),
            ConfigEpochReason::Collision { other } => write!(f, "collision with {other}"),
            ConfigEpochReason::Bump => f.write_str("bump"),
            ConfigEpochReason::SetConfigEpoch => f.write_str("set-config-epoch"),
        }
    }
}

impl fmt::Display for ClusterEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ClusterEvent::*;
        match self {
            ElectionScheduled {
                delay_ms,
                rank,
                offset,
            } => write!(
                f,
                "election scheduled in {delay_ms} ms (rank {rank}, offset {offset})"
            ),
            ElectionStarted { epoch } => write!(f, "election started for epoch {epoch}"),
            ElectionDelayed { rank, added_ms } => {
                write!(f, "election delayed {added_ms} ms more (rank {rank})")
            }
            ManualElectionSetUp { offset } => {
                write!(f, "manual election set up (offset {offset})")
            }
            VoteGranted {
                epoch,
                candidate,
                master,
            } => write!(
                f,
                "vote granted to {candidate} for epoch {epoch} (replica of {master})"
            ),
            Promoted {
                kind,
                config_epoch,
                old_master,
                offset,
                coordinated,
            } => {
                write!(
                    f,
                    "promoted by {kind} replacing {old_master}, config epoch {config_epoch}, \
                     offset {offset}"
                )?;
                if *coordinated {
                    f.write_str(" (coordinated)")?;
                }
                Ok(())
            }
            PfailMarked { node } => write!(f, "pfail {node}"),
            PfailCleared { node } => write!(f, "pfail cleared {node}"),
            FailMarked { node, source } => {
                let why = match source {
                    FailSource::Quorum => "quorum",
                    FailSource::Message => "message",
                };
                write!(f, "fail {node} ({why})")
            }
            FailCleared { node } => write!(f, "fail cleared {node}"),
            CurrentEpochChanged { epoch, reason } => {
                write!(f, "current epoch {epoch} ({reason})")
            }
            ConfigEpochChanged { epoch, reason } => {
                write!(f, "config epoch {epoch} ({reason})")
            }
            PeerConfigEpochChanged { node, epoch } => {
                write!(f, "config epoch of {node} is {epoch}")
            }
            SlotsAssigned { ranges, owner } => {
                let text = crate::text::ranges_text(ranges.iter().copied(), ' ');
                write!(f, "slots {text}")?;
                match owner {
                    Some(owner) => write!(f, " -> {owner}"),
                    None => f.write_str(" -> unassigned"),
                }
            }
            SlotsAdopted { ranges } => {
                let text = crate::text::ranges_text(ranges.iter().copied(), ' ');
                write!(f, "adopted slots {text} (keys loaded, slots unassigned)")
            }
            ImportChanged { slot, from } => match from {
                Some(from) => write!(f, "importing slot {slot} from {from}"),
                None => write!(f, "slot {slot} no longer importing"),
            },
            ClusterStateChanged { ok } => {
                write!(f, "cluster state {}", if *ok { "ok" } else { "fail" })
            }
            BecameReplica { master } => write!(f, "replica of {master}"),
            ReplicationLinkUp { offset } => write!(f, "replication link up at offset {offset}"),
            ReplicationLinkDown { offset } => {
                write!(f, "replication link down at offset {offset}")
            }
            WriteApplied { offset, request } => {
                write!(f, "write applied, offset {offset}")?;
                if *request != 0 {
                    write!(f, ", request {request:016x}")?;
                }
                Ok(())
            }
            SlotImported { slot, offset } => {
                write!(f, "imported slot {slot} at offset {offset}")
            }
            NodeStarted {
                id,
                loaded,
                current_epoch,
                config_epoch,
                last_vote_epoch,
                master,
                flagged,
            } => {
                let from = if *loaded { "nodes.conf" } else { "scratch" };
                write!(
                    f,
                    "started as {id} from {from}: current epoch {current_epoch}, config epoch \
                     {config_epoch}, last vote epoch {last_vote_epoch}"
                )?;
                if let Some(master) = master {
                    write!(f, ", replica of {master}")?;
                }
                for (node, fail) in flagged {
                    write!(f, ", {} {node}", if *fail { "fail" } else { "pfail" })?;
                }
                Ok(())
            }
            FailQuorumReached {
                node,
                reporters,
                size,
            } => {
                write!(f, "fail quorum for {node} (size {size}):")?;
                for reporter in reporters {
                    write!(f, " {reporter}")?;
                }
                Ok(())
            }
            KeysMigrated { slot, count, to } => {
                write!(f, "migrated {count} key(s) of slot {slot}")?;
                match to {
                    Some(to) => write!(f, " to {to}"),
                    None => f.write_str(" to an unknown node"),
                }
            }
            KeyServed {
                slot,
                asking,
                readonly,
            } => {
                write!(f, "served slot {slot}")?;
                if *asking {
                    f.write_str(" asking")?;
                }
                if *readonly {
                    f.write_str(" readonly")?;
                }
                Ok(())
            }
            AofFailed { op, error } => write!(f, "AOF {op} failed: {error}"),
            AofRecovered { op } => write!(f, "AOF {op} works again"),
            PartialResync { master, offset } => {
                write!(f, "partial resync with {master} from offset {offset}")
            }
            FullResync {
                master,
                offset,
                replid,
            } => write!(f, "full resync from {master} at {replid}:{offset}"),
            SnapshotTaken { replid, offset } => {
                write!(f, "snapshot for full sync at {replid}:{offset}")
            }
            SyncLoadStarted {
                from_socket,
                keeps_old_data,
                async_loading,
            } => write!(
                f,
                "loading the snapshot{}{}{}",
                if *from_socket { " from the socket" } else { "" },
                if *keeps_old_data {
                    ", old data kept"
                } else {
                    ", old data flushed"
                },
                if *async_loading {
                    ", served meanwhile"
                } else {
                    ""
                }
            ),
            SyncLoadAborted { kept_old_data } => write!(
                f,
                "snapshot load aborted, {}",
                if *kept_old_data {
                    "old data kept"
                } else {
                    "flushed"
                }
            ),
            AofSynced { offset } => write!(f, "synced up to offset {offset}"),
            AofWritePostponed => f.write_str("writes held in memory for a running AOF fsync"),
            SyncStalled { ms } => write!(f, "held {ms} ms by a sync"),
            KeyEvicted { key, policy } => {
                write!(f, "evicted {} ({policy})", String::from_utf8_lossy(key))
            }
            AofWriteResumed { delayed } => {
                f.write_str("held writes written to the AOF")?;
                if *delayed {
                    f.write_str(" without waiting for the fsync")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        NodeId([c; crate::node_id::NODE_ID_LEN])
    }

    #[test]
    fn consecutive_slots_of_one_owner_make_one_event() {
        let mut events = Vec::new();
        for slot in [0, 1, 2, 5, 6] {
            ClusterEvent::push_slot(&mut events, slot, Some(id(b'a')));
        }
        ClusterEvent::push_slot(&mut events, 7, None);
        assert_eq!(
            events,
            vec![
                ClusterEvent::SlotsAssigned {
                    ranges: vec![(0, 2), (5, 6)],
                    owner: Some(id(b'a'))
                },
                ClusterEvent::SlotsAssigned {
                    ranges: vec![(7, 7)],
                    owner: None
                },
            ]
        );
        assert_eq!(
            events[0].to_string(),
            format!("slots 0-2 5-6 -> {}", id(b'a'))
        );
        assert_eq!(events[1].to_string(), "slots 7 -> unassigned");
    }

    #[test]
    fn vote_renders_its_fields() {
        let vote = ClusterEvent::VoteGranted {
            epoch: 7,
            candidate: id(b'c'),
            master: id(b'm'),
        };
        assert_eq!(
            vote.to_string(),
            format!(
                "vote granted to {} for epoch 7 (replica of {})",
                id(b'c'),
                id(b'm')
            )
        );
    }
}

/// A stable 64-bit digest of a client command's arguments as received (FNV-1a over each
/// argument, length first, so `["ab","c"]` and `["a","bc"]` differ). A checker computes the
/// same digest for the command it sent, to find the [`ClusterEvent::WriteApplied`] of its
/// own write among a node's events.
pub fn request_digest(args: &[impl AsRef<[u8]>]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for arg in args {
        let arg = arg.as_ref();
        feed(&(arg.len() as u64).to_le_bytes());
        feed(arg);
    }
    hash
}

#[cfg(test)]
mod digest_tests {
    use super::request_digest;

    #[test]
    fn the_digest_separates_arguments_and_is_stable() {
        assert_ne!(request_digest(&["ab", "c"]), request_digest(&["a", "bc"]));
        assert_eq!(
            request_digest(&[b"SET".as_slice(), b"k", b"v"]),
            request_digest(&["SET", "k", "v"])
        );
        // Pinned: the simulator's histories and the node must agree across versions.
        assert_eq!(request_digest(&[] as &[&str]), 0xcbf2_9ce4_8422_2325);
    }
}
