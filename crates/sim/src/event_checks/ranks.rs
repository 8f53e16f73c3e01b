//! The rank a replica gives itself when it schedules an election (Redis 7.0's
//! `clusterGetSlaveRank`): how many other replicas of its master have a larger replication
//! offset, as their last pings told it.
//!
//! Offsets only grow and a ping tells an offset the sender had then, so a sibling counts
//! only if its offset may have been larger: a sibling whose own later election shows an
//! offset no larger than the replica's cannot have been counted. The rank must not exceed
//! the siblings that may; a lower rank is no verdict (the replica may not have heard the
//! newest offsets yet).

use std::collections::BTreeMap;

use clusterlab_core::NodeId;

use super::state::Replay;
use super::{at, short};
use crate::report::ViolationKind;

/// One scheduled election, for the check at the end of the trace.
#[derive(Clone, Debug)]
pub(super) struct Scheduled {
    pub(super) time_us: u64,
    pub(super) node: String,
    pub(super) id: NodeId,
    pub(super) master: NodeId,
    pub(super) rank: usize,
    pub(super) offset: u64,
}

/// What the rank check keeps: every election scheduled, whose replica each ID was when, and
/// every offset an ID announced (with its life, since a restart may start lower).
#[derive(Debug, Default)]
pub(super) struct Ranks {
    pub(super) scheduled: Vec<Scheduled>,
    /// `id → [(from µs, master)]`: `None` while a master.
    pub(super) roles: BTreeMap<NodeId, Vec<(u64, Option<NodeId>)>>,
    /// `id → [(µs, life, offset)]`.
    pub(super) offsets: BTreeMap<NodeId, Vec<(u64, u64, u64)>>,
}

impl Ranks {
    pub(super) fn role(&mut self, time_us: u64, id: NodeId, master: Option<NodeId>) {
        self.roles.entry(id).or_default().push((time_us, master));
    }

    /// Whether `id` was a replica of `master` at any time up to `time_us`. A replica ranks
    /// itself by its own view of its master's replicas, which may be stale: a sibling
    /// promoted or moved while this one was paused or cut off is still listed there, with the
    /// offset it last announced (seed 460083: a replica resumed from a pause ranked itself
    /// behind a sibling promoted meanwhile, as Redis would).
    fn ever_replica_of(&self, id: &NodeId, master: NodeId, time_us: u64) -> bool {
        self.roles
            .get(id)
            .is_some_and(|roles| roles.iter().any(|r| r.0 <= time_us && r.1 == Some(master)))
    }

    /// The least offset `id` showed at or after `time_us`: an upper bound of anything it
    /// told before, provided its offsets never went back up to then. A full resync to a
    /// restarted master, or a restart, may start over lower, and a ping from before that
    /// may still be what a sibling knows: then there is no bound.
    fn offset_bound(
        &self,
        id: &NodeId,
        time_us: u64,
        lives: &BTreeMap<NodeId, Vec<u64>>,
    ) -> Option<u64> {
        let seen = self.offsets.get(id)?;
        let (at_us, bound) = seen
            .iter()
            .filter(|&&(t, _, _)| t >= time_us)
            .map(|&(t, _, offset)| (t, offset))
            .min_by_key(|&(_, offset)| offset)?;
        let restarted = Self::life_at(lives, id, at_us) > 1;
        let monotone = seen
            .iter()
            .filter(|&&(t, _, _)| t <= at_us)
            .map(|&(_, _, offset)| offset)
            .collect::<Vec<_>>()
            .windows(2)
            .all(|w| w[0] <= w[1]);
        (monotone && !restarted && self.only_ever_replica_of(id, at_us)).then_some(bound)
    }

    /// Whether `id`, up to `until_us`, followed one master only, without a life as a master
    /// serving clients (a demoted master may have told its own, larger, master offset).
    fn only_ever_replica_of(&self, id: &NodeId, until_us: u64) -> bool {
        let Some(roles) = self.roles.get(id) else {
            return false;
        };
        let masters: Vec<Option<NodeId>> = roles
            .iter()
            .filter(|r| r.0 <= until_us)
            .map(|r| r.1)
            .collect();
        match masters.as_slice() {
            [Some(_)] => true,
            // A fresh node is a master of nothing until it joins as a replica; one that took
            // writes before had an offset of its own.
            [None, Some(_)] => self
                .offsets
                .get(id)
                .is_some_and(|seen| seen.first().is_some_and(|&(t, _, _)| t >= roles[1].0)),
            _ => false,
        }
    }

    /// The life (count of starts) of each ID at a moment, from `lives`.
    fn life_at(lives: &BTreeMap<NodeId, Vec<u64>>, id: &NodeId, time_us: u64) -> u64 {
        lives.get(id).map_or(0, |starts| {
            starts.iter().filter(|&&t| t <= time_us).count() as u64
        })
    }

    /// Every rank above what the siblings' offsets allow, as evidence.
    pub(super) fn too_high(&self, lives: &BTreeMap<NodeId, Vec<u64>>) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.scheduled {
            let siblings = self
                .roles
                .keys()
                .filter(|id| **id != s.id && self.ever_replica_of(id, s.master, s.time_us));
            let mut may_be_ahead = 0;
            let mut behind = Vec::new();
            for sibling in siblings {
                match self.offset_bound(sibling, s.time_us, lives) {
                    Some(bound) if bound <= s.offset => {
                        behind.push(format!("{} (offset ≤ {bound})", short(sibling)))
                    }
                    _ => may_be_ahead += 1,
                }
            }
            if s.rank > may_be_ahead {
                out.push(format!(
                    "{} scheduled its election at rank {} with offset {}, but at most \
                     {may_be_ahead} sibling(s) can have been ahead; behind it: {}",
                    at(&s.node, s.time_us),
                    s.rank,
                    s.offset,
                    behind.join(", ")
                ));
            }
        }
        out
    }
}

impl Replay {
    /// Notes a scheduled election for the rank check.
    pub(super) fn note_rank(&mut self, t: u64, node: &str, rank: usize, offset: u64) {
        let state = self.node(node);
        let Some(master) = state.master else {
            return;
        };
        let id = state.id;
        let life = self.life_of(&id, t);
        self.ranks
            .offsets
            .entry(id)
            .or_default()
            .push((t, life, offset));
        self.ranks.scheduled.push(Scheduled {
            time_us: t,
            node: node.to_string(),
            id,
            master,
            rank,
            offset,
        });
    }

    fn life_of(&self, id: &NodeId, t: u64) -> u64 {
        Ranks::life_at(&self.lives, id, t)
    }

    /// An offset a node showed (a replica's link up or down, a master's write), for the
    /// rank bounds.
    pub(super) fn note_offset(&mut self, t: u64, node: &str, offset: u64) {
        let id = self.node(node).id;
        let life = self.life_of(&id, t);
        self.ranks
            .offsets
            .entry(id)
            .or_default()
            .push((t, life, offset));
    }

    /// The rank check's findings, once the whole trace is in.
    pub(super) fn finish_ranks(&mut self) {
        for evidence in self.ranks.too_high(&self.lives) {
            self.found.push(ViolationKind::ElectionRuleBroken, evidence);
        }
    }
}
