//! Ranges: ZRANGE (BYSCORE|BYLEX, REV, LIMIT, WITHSCORES), its older forms (ZREVRANGE,
//! Z[REV]RANGEBYSCORE, Z[REV]RANGEBYLEX), ZRANGESTORE, and the removals ZREMRANGEBYRANK,
//! ZREMRANGEBYSCORE and ZREMRANGEBYLEX.
//!
//! Every form parses as Redis's one `zrange` routine does: options first (each form fixes
//! what its name says, so `REV` after ZREVRANGE is a syntax error), then the conflicts, then
//! the range itself, then the key.

use bytes::Bytes;

use super::score::{parse_lex_range, parse_score_range};
use super::{is_resp3, read_zset, scored_reply_owned, store_zset, write_zset};
use crate::cmd::keys::{argv, propagate};
use crate::cmd::{is, parse_i64};
use crate::db::{LexBound, ScoreBound, ZIter, ZSet};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

/// A parsed range: which members, in which direction, how many.
enum Range {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

struct Request {
    range: Range,
    rev: bool,
    with_scores: bool,
    /// LIMIT's offset and count (−1: all).
    offset: i64,
    limit: i64,
}

/// Parses `min max [options]` starting at `args[at]` (`at + 2` is the first option). `kind`
/// and `rev` are fixed by the older forms; `store` refuses WITHSCORES.
fn parse(
    args: &[Bytes],
    at: usize,
    kind: Option<Kind>,
    rev: Option<bool>,
    store: bool,
) -> Result<Request, Reply> {
    let (mut kind_set, mut rev_set) = (kind, rev);
    let (mut with_scores, mut offset, mut limit) = (false, 0, -1);
    let mut j = at + 2;
    while j < args.len() {
        let word = &args[j];
        let left = args.len() - j - 1;
        if !store && is(word, "withscores") {
            with_scores = true;
        } else if is(word, "limit") && left >= 2 {
            offset = parse_i64(&args[j + 1]).ok_or_else(Reply::not_integer)?;
            limit = parse_i64(&args[j + 2]).ok_or_else(Reply::not_integer)?;
            j += 2;
        } else if rev_set.is_none() && is(word, "rev") {
            rev_set = Some(true);
        } else if kind_set.is_none() && is(word, "bylex") {
            kind_set = Some(Kind::Lex);
        } else if kind_set.is_none() && is(word, "byscore") {
            kind_set = Some(Kind::Score);
        } else {
            return Err(Reply::syntax_error());
        }
        j += 1;
    }
    let kind = kind_set.unwrap_or(Kind::Rank);
    let rev = rev_set.unwrap_or(false);
    if limit != -1 && kind == Kind::Rank {
        return Err(Reply::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && kind == Kind::Lex {
        return Err(Reply::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Score and lex ranges are written max first when reversed.
    let (lo, hi) = match (kind, rev) {
        (Kind::Rank, _) | (_, false) => (&args[at], &args[at + 1]),
        (_, true) => (&args[at + 1], &args[at]),
    };
    let range = match kind {
        Kind::Rank => match (parse_i64(lo), parse_i64(hi)) {
            (Some(start), Some(end)) => Range::Rank(start, end),
            _ => return Err(Reply::not_integer()),
        },
        Kind::Score => parse_score_range(lo, hi)
            .map(|(min, max)| Range::Score(min, max))
            .map_err(Reply::err)?,
        Kind::Lex => parse_lex_range(lo, hi)
            .map(|(min, max)| Range::Lex(min, max))
            .map_err(Reply::err)?,
    };
    Ok(Request {
        range,
        rev,
        with_scores,
        offset,
        limit,
    })
}

/// Positions `start..=end` after Redis's clamping (negative from the end), `None` if empty.
pub(super) fn clamp_ranks(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let end = if end < 0 { end + len } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// The members a request selects, copied out, in reply order.
fn select(zset: &ZSet, request: &Request) -> Vec<(Bytes, f64)> {
    let items: ZIter<'_> = match &request.range {
        Range::Rank(start, end) => match clamp_ranks(*start, *end, zset.len()) {
            Some((start, end)) => zset.rank_range(start, end, request.rev),
            None => return Vec::new(),
        },
        Range::Score(min, max) => zset.score_range(*min, *max, request.rev),
        Range::Lex(min, max) => zset.lex_range(min, max, request.rev),
    };
    if request.offset < 0 {
        return Vec::new();
    }
    let take = usize::try_from(request.limit).unwrap_or(usize::MAX);
    items
        .skip(request.offset as usize)
        .take(take)
        .map(|(m, s)| (Bytes::copy_from_slice(m), s))
        .collect()
}

fn answer(
    node: &mut Node,
    client: ClientId,
    args: &[Bytes],
    kind: Option<Kind>,
    rev: Option<bool>,
) -> Reply {
    let request = match parse(args, 2, kind, rev, false) {
        Ok(request) => request,
        Err(e) => return e,
    };
    let resp3 = is_resp3(node, client);
    match read_zset(node, &args[1]) {
        Err(wrong_type) => wrong_type,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(zset)) => {
            let items = select(zset, &request);
            scored_reply_owned(items.into_iter(), request.with_scores, resp3)
        }
    }
}

pub(super) fn zrange(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, None, None)
}

pub(super) fn zrevrange(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, Some(Kind::Rank), Some(true))
}

pub(super) fn zrangebyscore(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, Some(Kind::Score), Some(false))
}

pub(super) fn zrevrangebyscore(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, Some(Kind::Score), Some(true))
}

pub(super) fn zrangebylex(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, Some(Kind::Lex), Some(false))
}

pub(super) fn zrevrangebylex(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    answer(node, client, args, Some(Kind::Lex), Some(true))
}

/// ZRANGESTORE `dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: the range as a
/// new sorted set at `dst` (encoded as any set of its size), its size answered; an empty
/// range deletes `dst`. Replays as sent.
pub(super) fn zrangestore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let request = match parse(args, 3, None, None, true) {
        Ok(request) => request,
        Err(e) => return e,
    };
    let items = match read_zset(node, &args[2]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => Vec::new(),
        Ok(Some(zset)) => select(zset, &request),
    };
    let limits = node.config.encoding_limits;
    let mut result = ZSet::new();
    for (member, score) in &items {
        result.insert_limited(member, *score, &limits);
    }
    if store_zset(node, &args[1], result) {
        propagate(node, argv(args));
    }
    Reply::Integer(items.len() as i64)
}

/// Removes what `range` selects from the set at `args[1]`; the range is checked before the
/// key. Replays as sent when it removed anything.
fn remove_range(node: &mut Node, args: &[Bytes], range: Result<Range, Reply>) -> Reply {
    let range = match range {
        Ok(range) => range,
        Err(e) => return e,
    };
    let key = &args[1];
    let zset = match write_zset(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(zset)) => zset,
    };
    let request = Request {
        range,
        rev: false,
        with_scores: false,
        offset: 0,
        limit: -1,
    };
    let doomed = select(zset, &request);
    for (member, _) in &doomed {
        zset.remove(member);
    }
    if zset.is_empty() {
        node.db.remove(key);
    }
    if !doomed.is_empty() {
        propagate(node, argv(args));
    }
    Reply::Integer(doomed.len() as i64)
}

pub(super) fn zremrangebyrank(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let range = match (parse_i64(&args[2]), parse_i64(&args[3])) {
        (Some(start), Some(end)) => Ok(Range::Rank(start, end)),
        _ => Err(Reply::not_integer()),
    };
    remove_range(node, args, range)
}

pub(super) fn zremrangebyscore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let range = parse_score_range(&args[2], &args[3])
        .map(|(min, max)| Range::Score(min, max))
        .map_err(Reply::err);
    remove_range(node, args, range)
}

pub(super) fn zremrangebylex(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let range = parse_lex_range(&args[2], &args[3])
        .map(|(min, max)| Range::Lex(min, max))
        .map_err(Reply::err);
    remove_range(node, args, range)
}
