//! Why the owner of a lost write's slot came to lack it, and the verdict each reason gives:
//! the words of the loss rule's evidence.

use clusterlab_core::event::{AofOp, PromotionKind};

use super::{fmt_us, LossCause, LossVerdict};

/// A promotion that replaced the write's holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Promotion {
    /// The promoted node.
    pub node: String,
    /// The master it replaced (the holder until then).
    pub replaced: String,
    pub at_us: u64,
    pub kind: PromotionKind,
    /// The promoted node's replication offset.
    pub offset: u64,
    /// A default-mode `CLUSTER FAILOVER`: the replica caught up with its paused master.
    pub coordinated: bool,
    /// The write's offset in the replaced master's stream (`None`: it had lost the write).
    pub write_offset: Option<u64>,
    /// It happened before the write was applied: the master that acknowledged the write had
    /// already been replaced.
    pub before_write: bool,
    /// It replaced another node than the write's holder, and its claim on the slot later won
    /// by config epoch (two replicas promoted in place of one master).
    pub rival: bool,
    /// It never synced with the replaced master's current incarnation (the master restarted
    /// after the replica's last sync, or it never synced at all).
    pub unsynced: bool,
}

impl Promotion {
    /// `node2 (election, 12.300s) replacing node1 with offset 4000`.
    fn text(&self) -> String {
        let how = if self.coordinated {
            "coordinated CLUSTER FAILOVER".to_string()
        } else {
            self.kind.to_string()
        };
        format!(
            "{} promoted by {how} at {} replacing {}, with offset {}",
            self.node,
            fmt_us(self.at_us),
            self.replaced,
            self.offset
        )
    }

    /// The promotion as one step the write survived.
    pub(super) fn carried(&self) -> String {
        format!("{} (had the write)", self.text())
    }
}

/// Why the node owning the write's slot lacks the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Reason {
    /// The slot went to a promoted node that never had the write.
    Promotion(Promotion),
    /// The holder crashed under `appendfsync everysec` within [`super::EVERYSEC_WINDOW_US`]
    /// of getting the write.
    Unsynced {
        node: String,
        kill_us: u64,
        since_us: u64,
    },
    /// The holder went down (`how`) at `down_us` while its AOF `op` had been failing since
    /// `since_us`: what it acknowledged meanwhile was in its memory only (a failed write,
    /// lost by any crash or exit) or in the page cache only (a failed sync, lost by a power
    /// loss), as Redis 7.0 keeps acknowledging with `appendfsync everysec`.
    DiskFailed {
        node: String,
        op: AofOp,
        since_us: u64,
        down_us: u64,
        how: String,
    },
    /// The holder got the write at `since_us` and stopped at `stopped_us` before syncing it
    /// (a process crash or stop: the page cache kept it, unsynced); restarted, it appended
    /// nothing (its first append would have synced the file) before it lost power at
    /// `kill_us`.
    UnsyncedRestart {
        node: String,
        since_us: u64,
        stopped_us: u64,
        kill_us: u64,
    },
    /// The holder's disk was wiped; `survivors` still have a copy at the end (name, the
    /// write's offset in their stream); `drops` says how other copies were lost since.
    Wiped {
        node: String,
        at_us: u64,
        survivors: Vec<(String, u64)>,
        drops: Vec<String>,
    },
    /// The write went to `importer` (an `ASKING` write to a slot it imported), which was then
    /// replaced by `by` before the import closed: the promoted node does not import the slot
    /// (Redis 7.0 does not replicate the importing state), so the key sits where no slot
    /// leads and the owner never gets it.
    ImportDropped {
        importer: String,
        by: String,
        at_us: u64,
    },
    /// `importer` took the key while importing the slot, then learnt that its own slots had
    /// been taken over and became a replica of `master` (which lacks the key) before the
    /// import closed.
    ImporterDemoted {
        importer: String,
        master: String,
        at_us: u64,
    },
    /// The slot moved to `importer` by a migration its holder, promoted mid-move, never took
    /// part in (Redis 7.0 does not replicate the migrating state).
    Stranded {
        holder: String,
        importer: String,
        at_us: u64,
        promotion: Promotion,
    },
    /// The key sat on `importer` (MIGRATEd there, or written there by `ASKING`) when
    /// `promotion` replaced the slot's migrating source; the promoted node owned the slot
    /// outright, took writes that made the key anew, and the operator's `fix` at `dropped_us`
    /// kept the owner's copy and deleted the importer's.
    Forked {
        importer: String,
        promotion: Promotion,
        dropped_us: u64,
    },
    /// The holder MIGRATEd the key to `importer`, then lost power (at `lost_us`) and with it
    /// its `SETSLOT … MIGRATING` state (Redis saves `nodes.conf` for it without an fsync), so
    /// it served the slot as plain owner again and made the key anew; the operator's fix
    /// kept the owner's copy and deleted the importer's (at `dropped_us`).
    ForkedByPowerLoss {
        source: String,
        importer: String,
        lost_us: u64,
        dropped_us: u64,
    },
    /// The holder became a replica of `to`, which lacked the write, with no promotion or
    /// migration that handed the slot over.
    Demoted {
        node: String,
        to: String,
        at_us: u64,
    },
    /// `adopter` restarted holding keys of the slot, which no node served in its view, and
    /// claimed it (`verifyClusterConfigWithData`, at `adopted_us`); its config epoch was the
    /// greater, so `holder` yielded the slot at `at_us` and deleted its keys there
    /// (`clusterUpdateSlotsConfigWith`), and the adopter's loaded data lacked the write.
    Adopted {
        holder: String,
        adopter: String,
        adopted_us: u64,
        at_us: u64,
    },
    /// The holder MIGRATEd the key to `importer` (importing the slot since `opened_us`),
    /// which lost power at `kill_us` within the `everysec` interval of the key's restore.
    MigratedUnsynced {
        holder: String,
        importer: String,
        opened_us: u64,
        kill_us: u64,
    },
    /// The holder MIGRATEd the key to `importer`, importing the slot since `opened_us`, whose
    /// AOF writes were held in memory since `postponed_us` (no later), and which went down at
    /// `down_us`: the restored key was in its memory only.
    MigratedPostponed {
        holder: String,
        importer: String,
        postponed_us: u64,
        opened_us: u64,
        down_us: u64,
    },
    /// The holder, still a master, gave the slot up at `at_us` to `owner`, whose claim rests
    /// on a config epoch taken without votes at `bumped_us`, and deleted its keys there.
    Yielded {
        holder: String,
        owner: String,
        bumped_us: u64,
        at_us: u64,
    },
    /// The holder became a replica of `to`, whose claim won with a config epoch it took
    /// without votes (`SETSLOT … NODE` or `BUMPEPOCH`, or a collision after one) at
    /// `bumped_us`: Redis settles the slot by that epoch, and the holder's data is replaced.
    OutbidByBump {
        node: String,
        to: String,
        at_us: u64,
        bumped_us: u64,
    },
    /// The holder MIGRATEd the key to `importer`, whose AOF write of the `RESTORE` failed at
    /// `failed_us` (held in memory for a retry), and which went down at `down_us` before a
    /// retry succeeded.
    MigratedUnwritten {
        holder: String,
        importer: String,
        failed_us: u64,
        down_us: u64,
    },
    /// The holder's disk was slow: it got the write at `since_us` and lost power at `kill_us`
    /// before any AOF sync holding it completed (no `AofSynced` reaching its offset).
    SyncPending {
        node: String,
        since_us: u64,
        kill_us: u64,
    },
    /// The holder got the write at `since_us` while its AOF writes were postponed for a
    /// running background fsync (since `postponed_us`): the bytes were in its memory only, so
    /// any crash or exit (`how`, at `down_us`) loses them, as Redis's `aof_buf` is lost.
    WritePostponed {
        node: String,
        postponed_us: u64,
        since_us: u64,
        down_us: u64,
        how: String,
    },
}

impl Reason {
    /// What kind of loss this is, for counting.
    pub(super) fn cause(&self) -> LossCause {
        match self {
            Reason::Promotion(p) if p.before_write => LossCause::DeposedMaster,
            Reason::Promotion(_) => LossCause::Failover,
            Reason::Unsynced { .. }
            | Reason::UnsyncedRestart { .. }
            | Reason::MigratedUnsynced { .. }
            | Reason::MigratedPostponed { .. }
            | Reason::SyncPending { .. }
            | Reason::WritePostponed { .. } => LossCause::UnsyncedCrash,
            Reason::DiskFailed { .. } | Reason::MigratedUnwritten { .. } => LossCause::DiskError,
            Reason::Wiped { .. } => LossCause::WipedDisk,
            Reason::Demoted { .. } | Reason::OutbidByBump { .. } | Reason::Yielded { .. } => {
                LossCause::Demotion
            }
            Reason::Adopted { .. } => LossCause::Adoption,
            Reason::Stranded { .. }
            | Reason::ImportDropped { .. }
            | Reason::ImporterDemoted { .. }
            | Reason::Forked { .. }
            | Reason::ForkedByPowerLoss { .. } => LossCause::MigrationAfterFailover,
        }
    }

    /// The verdict for a write described as `write` (`SET k v acked by node1 at 3.2s, offset
    /// 812`), with the steps it survived before (`steps`, may be empty).
    pub(super) fn verdict(&self, write: &str, steps: &[String]) -> LossVerdict {
        let via = if steps.is_empty() {
            String::new()
        } else {
            format!(" (after {})", steps.join("; "))
        };
        match self {
            Reason::Promotion(p) => promotion_verdict(p, write, &via),
            Reason::Unsynced {
                node,
                kill_us,
                since_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {node} got it at {} and crashed at {}, within the everysec \
                 sync interval",
                fmt_us(*since_us),
                fmt_us(*kill_us)
            )),
            Reason::UnsyncedRestart {
                node,
                since_us,
                stopped_us,
                kill_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {node} got it at {}, stopped at {} before syncing it (its page \
                 cache kept it), and lost power at {} before anything synced it again",
                fmt_us(*since_us),
                fmt_us(*stopped_us),
                fmt_us(*kill_us)
            )),
            Reason::DiskFailed {
                node,
                op,
                since_us,
                down_us,
                how,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {node}'s AOF {op} had been failing since {} when it went down \
                 at {} ({how})",
                fmt_us(*since_us),
                fmt_us(*down_us)
            )),
            Reason::Wiped {
                node,
                at_us,
                survivors,
                drops,
            } if survivors.is_empty() => {
                let since = if drops.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", drops.join("; "))
                };
                LossVerdict::Allowed(format!(
                    "{write}{via}: {node}'s disk was wiped at {} and no other node kept it{since}",
                    fmt_us(*at_us)
                ))
            }
            Reason::Wiped {
                node,
                at_us,
                survivors,
                ..
            } => {
                let had: Vec<String> = survivors
                    .iter()
                    .map(|(n, o)| format!("{n} (write offset {o})"))
                    .collect();
                LossVerdict::Violation(format!(
                    "{write}{via} was lost: {node}'s disk was wiped at {}, but {} still had \
                     it, and none of them took the slot over",
                    fmt_us(*at_us),
                    had.join(", ")
                ))
            }
            Reason::Stranded {
                holder,
                importer,
                at_us,
                promotion,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: the slot moved to {importer} at {} by a migration begun before \
                 {} ({holder} never MIGRATEd it: Redis 7.0 does not replicate the migrating \
                 state)",
                fmt_us(*at_us),
                promotion.text()
            )),
            Reason::ImportDropped {
                importer,
                by,
                at_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {importer} took it while importing the slot and was replaced by \
                 {by} at {} before the import closed (Redis 7.0 does not replicate the \
                 importing state, so the key is left outside every owner)",
                fmt_us(*at_us)
            )),
            Reason::ImporterDemoted {
                importer,
                master,
                at_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {importer} took it while importing the slot, then found its \
                 own slots taken over and became a replica of {master} at {} before the \
                 import closed (Redis 7.0 closes every open slot of a master that turns \
                 replica, and the full sync from {master}, which lacks the key, replaces its \
                 data: the key is left nowhere)",
                fmt_us(*at_us)
            )),
            Reason::Forked {
                importer,
                promotion,
                dropped_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: the key sat on {importer}, importing the slot, when {} in the \
                 middle of the move; the promoted node owns the slot outright (Redis 7.0 does \
                 not replicate the migrating state) and made the key anew, so the operator's \
                 fix at {} kept the owner's copy and deleted {importer}'s (redis-cli stops on \
                 differing values; --cluster-replace would delete the owner's instead)",
                promotion.text(),
                fmt_us(*dropped_us)
            )),
            Reason::ForkedByPowerLoss {
                source,
                importer,
                lost_us,
                dropped_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: the key sat on {importer}, importing the slot, when {source} \
                 lost power at {} and with it its MIGRATING state (Redis saves nodes.conf for \
                 SETSLOT MIGRATING without an fsync); {source} served the slot as its owner \
                 again and made the key anew, so the operator's fix at {} kept the owner's copy \
                 and deleted {importer}'s (redis-cli stops on differing values; \
                 --cluster-replace would delete the owner's instead)",
                fmt_us(*lost_us),
                fmt_us(*dropped_us)
            )),
            Reason::OutbidByBump {
                node,
                to,
                at_us,
                bumped_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {node} became a replica of {to} at {}, whose config epoch, \
                 taken without votes at {} (clusterBumpConfigEpochWithoutConsensus, then the \
                 collision rule), outbid {node}'s",
                fmt_us(*at_us),
                fmt_us(*bumped_us)
            )),
            Reason::Adopted {
                holder,
                adopter,
                adopted_us,
                at_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {adopter} restarted at {} with keys of the slot, unassigned in \
                 its view, and took it (verifyClusterConfigWithData); its config epoch outbid \
                 {holder}'s, which yielded the slot at {} and dropped its keys there \
                 (clusterUpdateSlotsConfigWith), and {adopter}'s data never had the write",
                fmt_us(*adopted_us),
                fmt_us(*at_us)
            )),
            Reason::MigratedUnsynced {
                holder,
                importer,
                opened_us,
                kill_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {holder} MIGRATEd the key to {importer}, importing the slot since \
                 {}, which lost power at {} within the everysec sync interval of the key's \
                 RESTORE (the source deletes a key once the target acknowledged its RESTORE)",
                fmt_us(*opened_us),
                fmt_us(*kill_us)
            )),
            Reason::MigratedPostponed {
                holder,
                importer,
                postponed_us,
                opened_us,
                down_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {holder} MIGRATEd the key to {importer}, importing the slot since \
                 {}, whose AOF writes were held in memory for a slow fsync since {} and which \
                 went down at {} (the source deletes a key once the target acknowledged its \
                 RESTORE)",
                fmt_us(*opened_us),
                fmt_us(*postponed_us),
                fmt_us(*down_us)
            )),
            Reason::MigratedUnwritten {
                holder,
                importer,
                failed_us,
                down_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {holder} MIGRATEd the key to {importer}, whose AOF write of the \
                 RESTORE failed at {} (kept in memory for a retry, the RESTORE acknowledged, so \
                 the source deleted the key) and which went down at {} before a retry succeeded",
                fmt_us(*failed_us),
                fmt_us(*down_us)
            )),
            Reason::Yielded {
                holder,
                owner,
                bumped_us,
                at_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {holder} gave the slot up to {owner} at {}, whose config epoch, \
                 taken without votes at {} (SETSLOT … NODE, BUMPEPOCH or a collision), outbid \
                 {holder}'s (clusterUpdateSlotsConfigWith); {holder}, serving the slot unaware \
                 of that claim, deleted its keys there (delKeysInSlot), and {owner} never had it",
                fmt_us(*at_us),
                fmt_us(*bumped_us)
            )),
            Reason::SyncPending {
                node,
                since_us,
                kill_us,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {node} got it at {} and lost power at {} before any AOF sync \
                 holding it completed (slow disk)",
                fmt_us(*since_us),
                fmt_us(*kill_us)
            )),
            Reason::WritePostponed {
                node,
                postponed_us,
                since_us,
                down_us,
                how,
            } => LossVerdict::Allowed(format!(
                "{write}{via}: {node} got it at {} while its AOF writes were held in memory \
                 for a slow fsync (since {}), and went down at {} ({how})",
                fmt_us(*since_us),
                fmt_us(*postponed_us),
                fmt_us(*down_us)
            )),
            Reason::Demoted { node, to, at_us } => LossVerdict::Violation(format!(
                "{write}{via} was lost: {node}, owning its slot, became a replica of {to} at {} \
                 with no promotion or migration handing {to} the slot, and {to} never had it",
                fmt_us(*at_us)
            )),
        }
    }
}

fn promotion_verdict(p: &Promotion, write: &str, via: &str) -> LossVerdict {
    let why = if p.rival {
        "never had it, and its claim on the slot won by config epoch (a rival promotion)"
            .to_string()
    } else if p.before_write {
        format!(
            "before {} applied the write (a deposed master still serving)",
            p.replaced
        )
    } else {
        match p.write_offset {
            Some(o) => format!(
                "never had it (the write: offset {o} in {}'s stream)",
                p.replaced
            ),
            None => format!("never had it ({} had lost it)", p.replaced),
        }
    };
    let text = format!("{write}{via}: {}, {why}", p.text());
    if p.coordinated && p.unsynced {
        // Redis's manual failover compares offsets only (`clusterHandleManualFailover`:
        // `mf_master_offset == replicationGetSlaveOffset()`), and a master restarted from its
        // AOF counts its offset from 0 again: a replica that never synced with that
        // incarnation may match it by coincidence and be promoted without its data (seed
        // 604697, once full syncs waited `repl-diskless-sync-delay`).
        LossVerdict::Allowed(format!(
            "{text}; it never synced with {}'s current incarnation, and Redis's manual \
             failover compares only offsets",
            p.replaced
        ))
    } else if p.coordinated && !p.before_write && !p.rival {
        // Redis's manual failover pauses the master's clients and promotes the replica only
        // once it has processed the master's whole stream: it never loses an acked write.
        // (A write the deposed master accepted after it was replaced is not the failover's:
        // that master serves until it hears of the new owner, as after any promotion. Nor is
        // a write of a rival's slot: the replica caught up with its own master, while the
        // slot it took with the master's claim was another node's (a stale view of the
        // master's slots, which Redis 7.0 may keep; seed 822415).)
        LossVerdict::Violation(format!("{text}; a coordinated failover loses nothing"))
    } else {
        LossVerdict::Allowed(text)
    }
}
