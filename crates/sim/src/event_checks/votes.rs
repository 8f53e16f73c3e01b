//! Elections and votes, by Redis 7.0's rules (`clusterHandleSlaveFailover`,
//! `clusterSendFailoverAuthIfNeeded`):
//!
//! - a replica waits 500 ms + up to 499 ms + 1000 ms per rank before it asks for votes (a
//!   worse rank learnt meanwhile only adds to the wait); a manual failover asks at once;
//! - a master votes only while it is a master serving slots, only in its current epoch, once
//!   per epoch (`lastVoteEpoch`, kept in `nodes.conf`), for a replica of a master it flags
//!   FAIL (unless the replica runs a manual failover, `FORCEACK`), and not for a second
//!   replica of the same master within two node timeouts (kept in memory only), and not
//!   when its table gives a slot the candidate claims to a node with a higher config epoch
//!   than the claim;
//! - a replica wins with the votes of a majority of the slot-serving masters for its
//!   election's epoch, and takes that epoch as its config epoch.

use clusterlab_core::event::PromotionKind;
use clusterlab_core::slot::SLOT_COUNT;
use clusterlab_core::NodeId;

use super::state::{Replay, VoteRequest};
use super::{at, short};
use crate::faults::{FailoverMode, DEFAULT_LATENCY_MS};
use crate::report::ViolationKind;

/// Base of the election delay (ms).
const ELECTION_DELAY_MS: u64 = 500;
/// The random part of the delay is below this (ms).
const ELECTION_JITTER_MS: u64 = 500;
/// Each better-ranked sibling adds this (ms).
const RANK_DELAY_MS: u64 = 1000;
/// A manual failover's election may come this long after the harness sent the command: the
/// replica waits for its master's offset up to the 5 s manual-failover limit
/// (`CLUSTER_MF_TIMEOUT`), and the request itself may wait on a slow network.
const MANUAL_FAILOVER_WINDOW_MS: u64 = 5000;
/// A node reads its clock once per call; the trace stamps each event when its driver
/// performed it, up to a millisecond later.
const CLOCK_SLACK_US: u64 = 1000;

impl Replay {
    pub(super) fn election_scheduled(&mut self, t: u64, node: &str, delay_ms: u64, rank: usize) {
        self.node_mut(node).scheduled = Some((t, delay_ms));
        let low = ELECTION_DELAY_MS + rank as u64 * RANK_DELAY_MS;
        if (low..low + ELECTION_JITTER_MS).contains(&delay_ms) {
            return;
        }
        self.found.push(
            ViolationKind::ElectionRuleBroken,
            format!(
                "{} scheduled its election in {delay_ms} ms at rank {rank}: the rule gives {low} \
                 to {} ms",
                at(node, t),
                low + ELECTION_JITTER_MS - 1
            ),
        );
    }

    /// A manual failover set up an election with no delay (rank 0, votes forced).
    pub(super) fn election_scheduled_manually(&mut self, t: u64, node: &str) {
        self.node_mut(node).scheduled = Some((t, 0));
    }

    /// Whether `node` ran a manual failover (the harness sent one) shortly before `t`. Its
    /// `mf_end` counts from when the command arrived, one message delay after it was sent
    /// (madsim's default at most, plus any extra delay in force): a replica that waited out
    /// an earlier election's retry time may ask for votes at the very end of it.
    fn manual_failover_near(&self, node: &str, t: u64) -> bool {
        self.manual.iter().any(|(n, sent, _)| {
            let late_ms = self.delays.max_delay_ms(*sent, t) + DEFAULT_LATENCY_MS.1;
            let window_us = (MANUAL_FAILOVER_WINDOW_MS + late_ms) * 1000;
            n == node && *sent <= t && t - sent <= window_us
        })
    }

    pub(super) fn election_started(&mut self, t: u64, node: &str, epoch: u64) {
        self.node_mut(node).election_epoch = Some(epoch);
        self.note_request(node, epoch);
        if self.manual_failover_near(node, t) {
            let id = self.node(node).id;
            self.manual_elections.insert((id, epoch));
            return;
        }
        let problem = match self.node(node).scheduled {
            None => "without scheduling it first".to_string(),
            Some((at_us, delay_ms)) if t + CLOCK_SLACK_US < at_us + delay_ms * 1000 => format!(
                "{} ms after scheduling it with a delay of {delay_ms} ms",
                (t - at_us) / 1000
            ),
            Some(_) => return,
        };
        self.found.push(
            ViolationKind::ElectionRuleBroken,
            format!(
                "{} started an election for epoch {epoch} {problem}",
                at(node, t)
            ),
        );
    }

    /// The request a replica sends when its election starts: its master's slots and config
    /// epoch in its view (`clusterBuildMessageHdr`). A view learned before a restart is not
    /// in the trace; no view runs ahead of the master's own epoch, so that bounds the claim.
    fn note_request(&mut self, node: &str, epoch: u64) {
        let state = self.node(node);
        let Some(master) = state.master else {
            return;
        };
        let slots = (0..SLOT_COUNT as u16)
            .filter(|&s| state.owners[usize::from(s)] == Some(master))
            .collect();
        let own = self.persisted.get(&master).map_or(0, |p| p.config_epoch);
        let config_epoch_at_most = state.peer_epochs.get(&master).copied().unwrap_or(own);
        let request = VoteRequest {
            slots,
            config_epoch_at_most,
        };
        self.requests.insert((state.id, epoch), request);
    }

    /// A slot the request claims that the voter's table gives to a node with a higher
    /// config epoch than the claim: Redis refuses the vote (the candidate's master is stale).
    fn claim_outdated(&self, node: &str, candidate: NodeId, epoch: u64) -> Option<String> {
        let request = self.requests.get(&(candidate, epoch))?;
        let state = self.node(node);
        request.slots.iter().find_map(|&slot| {
            let owner = state.owners[usize::from(slot)]?;
            let owner_epoch = if owner == state.id {
                state.config_epoch
            } else {
                state.peer_epochs.get(&owner).copied().unwrap_or(0)
            };
            (owner_epoch > request.config_epoch_at_most).then(|| {
                format!(
                    "its table gives claimed slot {slot} to {} at config epoch {owner_epoch}, \
                     above the candidate's claim of at most {}",
                    short(&owner),
                    request.config_epoch_at_most
                )
            })
        })
    }

    pub(super) fn vote(
        &mut self,
        t: u64,
        node: &str,
        epoch: u64,
        candidate: NodeId,
        master: NodeId,
    ) {
        let voter = self.node(node).id;
        self.double_vote(t, node, epoch, candidate, master);
        let forced = self.manual_elections.contains(&(candidate, epoch));
        let state = self.node(node);
        let mut wrong = Vec::new();
        if state.master.is_some() || !state.serves_slots() {
            wrong.push("it is not a master serving slots".to_string());
        }
        if epoch != state.current_epoch {
            wrong.push(format!("its current epoch is {}", state.current_epoch));
        }
        if let Some(outdated) = self.claim_outdated(node, candidate, epoch) {
            wrong.push(outdated);
        }
        if !state.fail.contains(&master) && !forced {
            wrong.push(format!(
                "it does not flag the candidate's master {} FAIL and no manual failover runs",
                short(&master)
            ));
        }
        let p = self.persisted_mut(node);
        p.last_vote_epoch = p.last_vote_epoch.max(epoch);
        p.votes
            .entry(epoch)
            .or_insert((candidate, t, node.to_string()));
        self.node_mut(node).voted_for.insert(master, t);
        self.ballots
            .entry((candidate, epoch))
            .or_default()
            .insert(voter);
        if wrong.is_empty() {
            return;
        }
        self.found.push(
            ViolationKind::VoteRuleBroken,
            format!(
                "{} ({}) voted for {} in epoch {epoch}, but {}",
                at(node, t),
                short(&voter),
                short(&candidate),
                wrong.join("; ")
            ),
        );
    }

    /// One vote per epoch per voter ID (across restarts), one replica of a master per two
    /// node timeouts per life of the voter.
    fn double_vote(&mut self, t: u64, node: &str, epoch: u64, candidate: NodeId, master: NodeId) {
        let state = self.node(node);
        let voter = state.id;
        let p = self.persisted.get(&voter);
        let mut evidence = None;
        if let Some((first, first_us, first_node)) = p.and_then(|p| p.votes.get(&epoch)) {
            evidence = Some(format!(
                "twice in epoch {epoch}: for {} ({}), then for {}",
                short(first),
                at(first_node, *first_us),
                short(&candidate)
            ));
        } else if let Some(last) = p.map(|p| p.last_vote_epoch).filter(|&last| last > epoch) {
            evidence = Some(format!(
                "in epoch {epoch} after voting in epoch {last} (lastVoteEpoch went back)"
            ));
        } else if let Some(&before) = state.voted_for.get(&master) {
            let gap_us = t - before;
            if gap_us + CLOCK_SLACK_US < 2 * self.nt_ms * 1000 {
                evidence = Some(format!(
                    "for two replicas of {} {} ms apart (within two node timeouts), the second \
                     {} in epoch {epoch}",
                    short(&master),
                    gap_us / 1000,
                    short(&candidate)
                ));
            }
        }
        if let Some(evidence) = evidence {
            self.found.push(
                ViolationKind::DoubleVote,
                format!("{} ({}) voted {evidence}", at(node, t), short(&voter)),
            );
        }
    }

    /// `node` answered `+OK` to `CLUSTER FAILOVER TAKEOVER` at `t`. Redis takes over inside
    /// the command (`clusterBumpConfigEpochWithoutConsensus`, then
    /// `clusterFailoverReplaceYourMaster`), so the promotion comes before the reply, after the
    /// command was sent. Which request this `+OK` answers is not traced: it is one of the
    /// TAKEOVERs sent since the node's previous `+OK` (a request of another mode, or a second
    /// TAKEOVER, may have gone out while this reply was delayed: seeds 604321, 961159).
    pub(super) fn takeover_accepted(&mut self, node: &str, t: u64) {
        let answered = self.takeovers_answered.get(node).copied();
        let sent = self
            .manual
            .iter()
            .find(|(n, at, mode)| {
                n == node
                    && *at <= t
                    && answered.is_none_or(|a| *at > a)
                    && *mode == FailoverMode::Takeover
            })
            .map_or(0, |(_, at, _)| *at);
        self.takeovers_answered.insert(node.to_string(), t);
        let done = self
            .takeovers
            .iter()
            .any(|(n, at)| n == node && (sent..=t).contains(at));
        if !done {
            self.found.push(
                ViolationKind::TakeoverIgnored,
                format!(
                    "{} answered +OK to CLUSTER FAILOVER TAKEOVER (sent at {}) without taking \
                     over its master",
                    at(node, t),
                    crate::invariants::fmt_ms(sent / 1000)
                ),
            );
        }
    }

    pub(super) fn promoted(&mut self, t: u64, node: &str, kind: PromotionKind, config_epoch: u64) {
        if kind == PromotionKind::Takeover {
            self.takeovers.push((node.to_string(), t));
        }
        self.node_mut(node).master = None;
        self.persisted_mut(node).replica_since = None;
        let id = self.node(node).id;
        self.ranks.role(t, id, None);
        if kind != PromotionKind::Election {
            return;
        }
        let state = self.node(node);
        let (id, quorum) = (state.id, state.quorum_at(t));
        let Some(epoch) = state.election_epoch else {
            self.found.push(
                ViolationKind::ElectionRuleBroken,
                format!(
                    "{} was promoted by election without starting one",
                    at(node, t)
                ),
            );
            return;
        };
        if config_epoch != epoch {
            self.found.push(
                ViolationKind::ElectionRuleBroken,
                format!(
                    "{} won the election for epoch {epoch} but took config epoch {config_epoch}",
                    at(node, t)
                ),
            );
        }
        let votes = self.ballots.get(&(id, epoch)).map_or(0, |v| v.len());
        if votes < quorum {
            self.found.push(
                ViolationKind::PromotedWithoutMajority,
                format!(
                    "{} ({}) was promoted for epoch {epoch} with {votes} vote(s), quorum \
                     {quorum}",
                    at(node, t),
                    short(&id)
                ),
            );
        }
    }
}
