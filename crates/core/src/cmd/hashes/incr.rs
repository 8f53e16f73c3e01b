//! Counters in hash fields: HINCRBY and HINCRBYFLOAT (in Redis's long double arithmetic,
//! see `cmd::long_double`, so the text of every sum is Redis's).

use bytes::Bytes;

use super::{hash_for_write, write_hash};
use crate::cmd::keys::{argv, propagate};
use crate::cmd::long_double::LongDouble;
use crate::cmd::parse_i64;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn hincrby(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(delta) = parse_i64(&args[3]) else {
        return Reply::not_integer();
    };
    let (key, field) = (&args[1], &args[2]);
    let current = match current_value(node, key, field) {
        Ok(current) => current,
        Err(e) => return e,
    };
    let current = match current.as_deref().map(parse_i64) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return Reply::err("hash value is not an integer"),
    };
    let Some(new) = current.checked_add(delta) else {
        return Reply::err("increment or decrement would overflow");
    };
    let limits = node.config.encoding_limits;
    let hash = hash_for_write(node, key).expect("the type was checked");
    hash.insert_limited(field, itoa::Buffer::new().format(new).as_bytes(), &limits);
    propagate(node, argv(args));
    Reply::Integer(new)
}

pub(super) fn hincrbyfloat(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(delta) = LongDouble::parse(&args[3]) else {
        return Reply::err("value is not a valid float");
    };
    if !delta.is_finite() {
        return Reply::err("value is NaN or Infinity");
    }
    let (key, field) = (&args[1], &args[2]);
    let current = match current_value(node, key, field) {
        Ok(current) => current,
        Err(e) => return e,
    };
    let current = match current.as_deref().map(LongDouble::parse) {
        None => LongDouble::parse(b"0").expect("zero parses"),
        Some(Some(n)) => n,
        Some(None) => return Reply::err("hash value is not a float"),
    };
    let sum = current.add(delta);
    if !sum.is_finite() {
        return Reply::err("increment would produce NaN or Infinity");
    }
    let text = Bytes::from(sum.to_human());
    let limits = node.config.encoding_limits;
    let hash = hash_for_write(node, key).expect("the type was checked");
    hash.insert_limited(field, &text, &limits);
    let replay = vec![
        Bytes::from_static(b"HSET"),
        key.clone(),
        field.clone(),
        text.clone(),
    ];
    propagate(node, replay);
    Reply::Bulk(text)
}

/// The field's current value (`None` when the key or field is missing), or `WRONGTYPE`.
fn current_value(node: &mut Node, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    Ok(write_hash(node, key)?
        .and_then(|h| h.get(field))
        .map(<[u8]>::to_vec))
}
