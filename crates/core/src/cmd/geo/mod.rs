//! Geo commands: points stored in a sorted set, each scored by its 52-bit geohash
//! (`hash`): GEOADD, GEOPOS, GEODIST, GEOHASH (`points`) and the searches GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS[BYMEMBER][_RO] (`search`).
//!
//! Writes go through ZADD (GEOADD replays as the `zadd` of the scores it computed, as Redis
//! 7.0 rewrites it); stored searches replay as sent.

use bytes::Bytes;

use super::{CommandSpec, Handler};
use crate::cmd::is;
use crate::cmd::keys::lookup_read;
use crate::cmd::CmdFlags as F;
use crate::db::{ValueRef, ZSet};
use crate::node::Node;
use crate::reply::Reply;

mod hash;
mod points;
mod search;

use points::{geoadd, geodist, geohash, geopos};
use search::{
    georadius, georadius_ro, georadiusbymember, georadiusbymember_ro, geosearch, geosearchstore,
};

/// One command of the family (its group is `geo`).
#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i32,
    flags: F,
    [first_key, last_key, key_step]: [i32; 3],
    acl_categories: &'static [&'static str],
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> CommandSpec {
    super::keyed(
        "geo",
        name,
        arity,
        flags,
        [first_key, last_key, key_step],
        acl_categories,
        since,
        summary,
        handler,
    )
}

/// Arity, flags, key positions, ACL categories and docs as Redis 7.0.15's `COMMAND` has them.
pub(crate) static COMMANDS: &[CommandSpec] = &[
    spec("geoadd", -5, F::WRITE.union(F::DENYOOM), [1, 1, 1], &["@write", "@geo", "@slow"], "3.2.0",
        "Add one or more geospatial items in the geospatial index represented using a sorted set", geoadd),
    spec("geopos", -2, F::READONLY, [1, 1, 1], &["@read", "@geo", "@slow"], "3.2.0",
        "Returns longitude and latitude of members of a geospatial index", geopos),
    spec("geodist", -4, F::READONLY, [1, 1, 1], &["@read", "@geo", "@slow"], "3.2.0",
        "Returns the distance between two members of a geospatial index", geodist),
    spec("geohash", -2, F::READONLY, [1, 1, 1], &["@read", "@geo", "@slow"], "3.2.0",
        "Returns members of a geospatial index as standard geohash strings", geohash),
    spec("geosearch", -7, F::READONLY, [1, 1, 1], &["@read", "@geo", "@slow"], "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", geosearch),
    spec("geosearchstore", -8, F::WRITE.union(F::DENYOOM), [1, 2, 1], &["@write", "@geo", "@slow"], "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", geosearchstore),
    spec("georadius", -6, F::WRITE.union(F::DENYOOM).union(F::MOVABLEKEYS), [1, 1, 1], &["@write", "@geo", "@slow"], "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", georadius),
    spec("georadius_ro", -6, F::READONLY, [1, 1, 1], &["@read", "@geo", "@slow"], "3.2.10",
        "A read-only variant for GEORADIUS", georadius_ro),
    spec("georadiusbymember", -5, F::WRITE.union(F::DENYOOM).union(F::MOVABLEKEYS), [1, 1, 1], &["@write", "@geo", "@slow"], "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", georadiusbymember),
    spec("georadiusbymember_ro", -5, F::READONLY, [1, 1, 1], &["@read", "@geo", "@slow"], "3.2.10",
        "A read-only variant for GEORADIUSBYMEMBER", georadiusbymember_ro),
];

/// The sorted set at `key` for reading: `Ok(None)` when missing, `WRONGTYPE` for another type.
fn read_zset<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a ZSet>, Reply> {
    match lookup_read(node, key).map(|e| e.value) {
        None => Ok(None),
        Some(ValueRef::ZSet(zset)) => Ok(Some(zset)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// A coordinate printed as Redis's "human" long double: 17 decimals, trailing zeros cut.
fn coordinate_text(x: f64) -> Bytes {
    let text = format!("{x:.17}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    Bytes::from(text.to_string())
}

/// `[longitude, latitude]` as a reply (RESP2's text; RESP3 gets the same as bulk strings,
/// where Redis sends them as doubles).
fn coordinates_reply([long, lat]: [f64; 2]) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(coordinate_text(long)),
        Reply::Bulk(coordinate_text(lat)),
    ])
}

/// A distance as Redis prints it: four decimals.
fn distance_reply(meters: f64, unit: f64) -> Reply {
    Reply::Bulk(Bytes::from(format!("{:.4}", meters / unit)))
}

/// A unit's size in meters (`m`, `km`, `ft`, `mi`, any case).
fn parse_unit(arg: &[u8]) -> Result<f64, Reply> {
    match () {
        _ if is(arg, "m") => Ok(1.0),
        _ if is(arg, "km") => Ok(1000.0),
        _ if is(arg, "ft") => Ok(0.3048),
        _ if is(arg, "mi") => Ok(1609.34),
        _ => Err(Reply::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// `longitude latitude` arguments, checked against the indexable range.
fn parse_point(long: &[u8], lat: &[u8]) -> Result<[f64; 2], Reply> {
    let parse = |arg: &[u8]| {
        crate::cmd::zsets::parse_score(arg).ok_or_else(|| Reply::err("value is not a valid float"))
    };
    let (long, lat) = (parse(long)?, parse(lat)?);
    if !(hash::LONG_MIN..=hash::LONG_MAX).contains(&long)
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&lat)
    {
        return Err(Reply::err(format!(
            "invalid longitude,latitude pair {long:.6},{lat:.6}"
        )));
    }
    Ok([long, lat])
}

#[cfg(test)]
mod tests;
