//! Points one by one: GEOADD (as a ZADD of geohash scores), GEOPOS, GEODIST and GEOHASH.

use bytes::Bytes;

use super::hash::{align52, decode_score, distance, encode_score, geohash_text};
use super::{coordinates_reply, distance_reply, parse_point, parse_unit, read_zset};
use crate::cmd::is;
use crate::cmd::zsets::zadd;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// GEOADD `key [NX|XX] [CH] longitude latitude member …`: the points' scores are computed,
/// then ZADD does the rest (and replays as the `zadd` Redis 7.0 rewrites GEOADD to).
pub(super) fn geoadd(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while let Some(word) = args.get(first) {
        if is(word, "nx") {
            nx = true;
        } else if is(word, "xx") {
            xx = true;
        } else if !is(word, "ch") {
            break;
        }
        first += 1;
    }
    let triples = &args[first..];
    if triples.is_empty() || !triples.len().is_multiple_of(3) || (nx && xx) {
        return Reply::syntax_error();
    }
    let mut zadd_args = vec![Bytes::from_static(b"zadd")];
    zadd_args.extend_from_slice(&args[1..first]);
    for triple in triples.chunks(3) {
        let [long, lat] = match parse_point(&triple[0], &triple[1]) {
            Ok(point) => point,
            Err(e) => return e,
        };
        let cell = encode_score(long, lat).expect("a checked point");
        zadd_args.push(Bytes::from(align52(cell).to_string()));
        zadd_args.push(triple[2].clone());
    }
    zadd(node, client, &zadd_args)
}

/// The scores of `members` in the sorted set at `key` (`None` per missing member), or
/// `WRONGTYPE`.
fn scores_of(node: &mut Node, key: &[u8], members: &[Bytes]) -> Result<Vec<Option<f64>>, Reply> {
    let zset = read_zset(node, key)?;
    Ok(members
        .iter()
        .map(|m| zset.and_then(|z| z.score(m)))
        .collect())
}

/// GEOPOS `key member …`: each member's `[longitude, latitude]`, or a null array.
pub(super) fn geopos(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match scores_of(node, &args[1], &args[2..]) {
        Err(wrong_type) => wrong_type,
        Ok(scores) => Reply::Array(
            scores
                .into_iter()
                .map(|s| s.map_or(Reply::NilArray, |s| coordinates_reply(decode_score(s))))
                .collect(),
        ),
    }
}

/// GEODIST `key member1 member2 [unit]`: the distance, null when a member is missing.
pub(super) fn geodist(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let unit = match args.len() {
        4 => 1.0,
        5 => match parse_unit(&args[4]) {
            Ok(unit) => unit,
            Err(e) => return e,
        },
        _ => return Reply::syntax_error(),
    };
    match scores_of(node, &args[1], &args[2..4]) {
        Err(wrong_type) => wrong_type,
        Ok(scores) => match scores[..] {
            [Some(a), Some(b)] => {
                let ([x1, y1], [x2, y2]) = (decode_score(a), decode_score(b));
                distance_reply(distance(x1, y1, x2, y2), unit)
            }
            _ => Reply::Nil,
        },
    }
}

/// GEOHASH `key member …`: each member's 11-character geohash, or null.
pub(super) fn geohash(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match scores_of(node, &args[1], &args[2..]) {
        Err(wrong_type) => wrong_type,
        Ok(scores) => Reply::Array(
            scores
                .into_iter()
                .map(|s| s.map_or(Reply::Nil, |s| Reply::Bulk(Bytes::from(geohash_text(s)))))
                .collect(),
        ),
    }
}
