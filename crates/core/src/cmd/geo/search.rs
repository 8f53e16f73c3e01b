//! Searches: GEOSEARCH, GEOSEARCHSTORE and the older GEORADIUS, GEORADIUSBYMEMBER (with
//! STORE/STOREDIST) and their `_RO` forms, parsed as Redis's one routine parses them.
//!
//! A search walks the centre's cell and its 8 neighbours at the precision the radius asks
//! for (see `hash::search_cells`), each cell a score range of the sorted set, keeps the points
//! inside the shape, then sorts by distance when asked (or when COUNT is given without ANY).

use bytes::Bytes;

use super::hash::{align52, decode_score, search_cells, within, Cell, Shape, ShapeKind};
use super::{coordinates_reply, distance_reply, parse_point, parse_unit, read_zset};
use crate::cmd::keys::{argv, propagate};
use crate::cmd::zsets::parse_score;
use crate::cmd::{is, parse_i64};
use crate::db::{ScoreBound, ZSet};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

#[derive(Clone, Copy, PartialEq)]
enum Form {
    Radius,
    ByMember,
    Search,
    SearchStore,
}

#[derive(Default)]
struct Options {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    /// `Some(true)` ascending, `Some(false)` descending.
    ascending: Option<bool>,
    count: u64,
    store: Option<Bytes>,
    store_dist: bool,
    center: Option<[f64; 2]>,
    from_member: bool,
    from_lonlat: bool,
    shape: Option<Shape>,
}

/// One point found.
struct Found {
    member: Bytes,
    score: f64,
    point: [f64; 2],
    dist: f64,
}

/// `radius unit`, in Redis's checks.
fn parse_radius(value: &[u8], unit: &[u8]) -> Result<Shape, Reply> {
    let radius = parse_score(value).ok_or_else(|| Reply::err("need numeric radius"))?;
    if radius < 0.0 {
        return Err(Reply::err("radius cannot be negative"));
    }
    Ok(Shape {
        kind: ShapeKind::Radius(radius),
        conversion: parse_unit(unit)?,
    })
}

/// `width height unit`, in Redis's checks.
fn parse_box(width: &[u8], height: &[u8], unit: &[u8]) -> Result<Shape, Reply> {
    let width = parse_score(width).ok_or_else(|| Reply::err("need numeric width"))?;
    let height = parse_score(height).ok_or_else(|| Reply::err("need numeric height"))?;
    if width < 0.0 || height < 0.0 {
        return Err(Reply::err("height or width cannot be negative"));
    }
    Ok(Shape {
        kind: ShapeKind::Box { width, height },
        conversion: parse_unit(unit)?,
    })
}

/// A member's point, or Redis's error.
fn member_point(zset: &ZSet, member: &[u8]) -> Result<[f64; 2], Reply> {
    zset.score(member)
        .map(decode_score)
        .ok_or_else(|| Reply::err("could not decode requested zset member"))
}

/// The options after the fixed arguments (`rest`), in Redis's order of checks.
fn parse_options(
    form: Form,
    read_only: bool,
    zset: Option<&ZSet>,
    rest: &[Bytes],
    o: &mut Options,
) -> Result<(), Reply> {
    let search = matches!(form, Form::Search | Form::SearchStore);
    let mut i = 0;
    while i < rest.len() {
        let (word, left) = (&rest[i], rest.len() - i - 1);
        if is(word, "withdist") {
            o.with_dist = true;
        } else if is(word, "withhash") {
            o.with_hash = true;
        } else if is(word, "withcoord") {
            o.with_coord = true;
        } else if is(word, "any") {
            o.any = true;
        } else if is(word, "asc") {
            o.ascending = Some(true);
        } else if is(word, "desc") {
            o.ascending = Some(false);
        } else if is(word, "count") && left >= 1 {
            let count = parse_i64(&rest[i + 1]).ok_or_else(Reply::not_integer)?;
            if count <= 0 {
                return Err(Reply::err("COUNT must be > 0"));
            }
            o.count = count as u64;
            i += 1;
        } else if !search && !read_only && left >= 1 && (is(word, "store") || is(word, "storedist"))
        {
            o.store = Some(rest[i + 1].clone());
            o.store_dist = is(word, "storedist");
            i += 1;
        } else if form == Form::SearchStore && is(word, "storedist") {
            o.store_dist = true;
        } else if search && is(word, "frommember") && left >= 1 && !o.from_lonlat {
            if let Some(zset) = zset {
                o.center = Some(member_point(zset, &rest[i + 1])?);
            }
            o.from_member = true;
            i += 1;
        } else if search && is(word, "fromlonlat") && left >= 2 && !o.from_member {
            o.center = Some(parse_point(&rest[i + 1], &rest[i + 2])?);
            o.from_lonlat = true;
            i += 2;
        } else if search && is(word, "byradius") && left >= 2 && !is_box(o.shape) {
            o.shape = Some(parse_radius(&rest[i + 1], &rest[i + 2])?);
            i += 2;
        } else if search && is(word, "bybox") && left >= 3 && !is_radius(o.shape) {
            o.shape = Some(parse_box(&rest[i + 1], &rest[i + 2], &rest[i + 3])?);
            i += 3;
        } else {
            return Err(Reply::syntax_error());
        }
        i += 1;
    }
    Ok(())
}

fn is_box(shape: Option<Shape>) -> bool {
    matches!(shape.map(|s| s.kind), Some(ShapeKind::Box { .. }))
}

fn is_radius(shape: Option<Shape>) -> bool {
    matches!(shape.map(|s| s.kind), Some(ShapeKind::Radius(_)))
}

/// The checks after the options.
fn check_options(form: Form, name: &[u8], o: &Options) -> Result<(), Reply> {
    if o.store.is_some() && (o.with_dist || o.with_hash || o.with_coord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::err(format!(
            "{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(name);
    let search = matches!(form, Form::Search | Form::SearchStore);
    if search && !(o.from_member || o.from_lonlat) {
        return Err(Reply::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search && o.shape.is_none() {
        return Err(Reply::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if o.any && o.count == 0 {
        return Err(Reply::err("the ANY argument requires COUNT argument"));
    }
    Ok(())
}

/// The points inside the shape, cell by cell in the walk's order (a cell equal to the one
/// walked just before is skipped, as Redis skips it); ANY stops at `limit`.
fn find(zset: &ZSet, center: [f64; 2], shape: Shape, limit: u64) -> Vec<Found> {
    let mut found = Vec::new();
    let cells = search_cells(center[0], center[1], shape);
    // The cell walked last and its position: Redis skips a cell equal to it, unless it was
    // the centre.
    let mut last: Option<(usize, Cell)> = None;
    for (i, cell) in cells.iter().enumerate() {
        let Some(cell) = *cell else {
            continue;
        };
        if matches!(last, Some((j, walked)) if j != 0 && walked == cell) {
            continue;
        }
        let min = align52(cell) as f64;
        let max = align52(Cell {
            bits: cell.bits + 1,
            step: cell.step,
        }) as f64;
        let lower = ScoreBound {
            value: min,
            exclusive: false,
        };
        let upper = ScoreBound {
            value: max,
            exclusive: true,
        };
        for (member, score) in zset.score_range(lower, upper, false) {
            let point = decode_score(score);
            if let Some(dist) = within(center, point, shape) {
                found.push(Found {
                    member: Bytes::copy_from_slice(member),
                    score,
                    point,
                    dist,
                });
                if limit > 0 && found.len() as u64 >= limit {
                    return found;
                }
            }
        }
        last = Some((i, cell));
    }
    found
}

fn generic(node: &mut Node, args: &[Bytes], form: Form, read_only: bool) -> Reply {
    let source = if form == Form::SearchStore {
        &args[2]
    } else {
        &args[1]
    };
    let zset = match read_zset(node, source) {
        Ok(zset) => zset,
        Err(wrong_type) => return wrong_type,
    };
    let mut o = Options::default();
    let base = match form {
        Form::Radius => {
            match parse_point(&args[2], &args[3])
                .and_then(|c| Ok((c, parse_radius(&args[4], &args[5])?)))
            {
                Ok((center, shape)) => (o.center, o.shape) = (Some(center), Some(shape)),
                Err(e) => return e,
            }
            6
        }
        Form::ByMember => {
            if let Some(zset) = zset {
                match member_point(zset, &args[2])
                    .and_then(|c| Ok((c, parse_radius(&args[3], &args[4])?)))
                {
                    Ok((center, shape)) => (o.center, o.shape) = (Some(center), Some(shape)),
                    Err(e) => return e,
                }
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => {
            o.store = Some(args[1].clone());
            3
        }
    };
    if let Err(e) = parse_options(form, read_only, zset, &args[base..], &mut o) {
        return e;
    }
    if let Err(e) = check_options(form, &args[0], &o) {
        return e;
    }
    let Some(zset) = zset else {
        return match &o.store {
            Some(dest) => {
                let dest = dest.clone();
                if node.db.remove(&dest) {
                    propagate(node, argv(args));
                }
                Reply::Integer(0)
            }
            None => Reply::Array(Vec::new()),
        };
    };
    let (center, shape) = (o.center.expect("checked"), o.shape.expect("checked"));
    let mut found = find(zset, center, shape, if o.any { o.count } else { 0 });
    if o.count > 0 && o.ascending.is_none() && !o.any {
        o.ascending = Some(true);
    }
    match o.ascending {
        Some(true) => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Some(false) => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        None => {}
    }
    if o.count > 0 {
        found.truncate(usize::try_from(o.count).unwrap_or(usize::MAX));
    }
    match o.store.clone() {
        None => reply(found, &o, shape.conversion),
        Some(dest) => store(node, args, &dest, found, &o, shape.conversion),
    }
}

fn reply(found: Vec<Found>, o: &Options, unit: f64) -> Reply {
    let plain = !(o.with_dist || o.with_hash || o.with_coord);
    let items = found.into_iter().map(|f| {
        if plain {
            return Reply::Bulk(f.member);
        }
        let mut item = vec![Reply::Bulk(f.member)];
        if o.with_dist {
            item.push(distance_reply(f.dist, unit));
        }
        if o.with_hash {
            item.push(Reply::Integer(f.score as i64));
        }
        if o.with_coord {
            item.push(coordinates_reply(f.point));
        }
        Reply::Array(item)
    });
    Reply::Array(items.collect())
}

/// Stores the points (scored by geohash, or by distance with STOREDIST) at `dest`, as a
/// listpack when small enough; an empty result deletes it. Replays as sent.
fn store(
    node: &mut Node,
    args: &[Bytes],
    dest: &[u8],
    found: Vec<Found>,
    o: &Options,
    unit: f64,
) -> Reply {
    let limits = node.config.encoding_limits;
    let mut result = ZSet::new_skiplist();
    for f in &found {
        let score = if o.store_dist { f.dist / unit } else { f.score };
        result.insert_limited(&f.member, score, &limits);
    }
    let changed = if result.is_empty() {
        node.db.remove(dest)
    } else {
        let result = result.into_compact(&limits);
        node.db
            .set_owned(dest, crate::db::Value::ZSet(result), None);
        true
    };
    if changed {
        propagate(node, argv(args));
    }
    Reply::Integer(found.len() as i64)
}

pub(super) fn geosearch(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    generic(node, args, Form::Search, true)
}

pub(super) fn geosearchstore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    generic(node, args, Form::SearchStore, false)
}

pub(super) fn georadius(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    generic(node, args, Form::Radius, false)
}

pub(super) fn georadius_ro(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    generic(node, args, Form::Radius, true)
}

pub(super) fn georadiusbymember(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    generic(node, args, Form::ByMember, false)
}

pub(super) fn georadiusbymember_ro(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    generic(node, args, Form::ByMember, true)
}
