//! Random picks: SPOP and SRANDMEMBER, drawn from the node's seeded rng.

use bytes::Bytes;
use rand::Rng;

use super::{members_reply, read_set, write_set};
use crate::cmd::keys::{expiry_now_ms, propagate};
use crate::cmd::{parse_i64, RANDOM_REPEATS_MAX};
use crate::db::{Set, ValueRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// SPOP `key [count]`: removes and answers random members; replays as SREM (or DEL when it
/// took every member).
pub(super) fn spop(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::syntax_error();
    }
    let count = match args.get(2).map(|c| parse_i64(c)) {
        None => None,
        Some(Some(n)) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        Some(_) => return Reply::err("value is out of range, must be positive"),
    };
    let key = &args[1];
    let len = match write_set(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) if count.is_some() => return Reply::Set(Vec::new()),
        Ok(None) => return Reply::Nil,
        Ok(Some(set)) => set.len(),
    };
    let Some(count) = count else {
        let at = node_pick(node, len);
        let picked = take(node, key, &[at]);
        let member = picked.into_iter().next().expect("one picked");
        let srem = vec![Bytes::from_static(b"SREM"), key.clone(), member.clone()];
        propagate(node, srem);
        return Reply::Bulk(member);
    };
    if count == 0 {
        return Reply::Set(Vec::new());
    }
    if count >= len {
        let reply = members_reply(set_again(node, key).iter());
        node.db.remove(key);
        propagate(node, vec![Bytes::from_static(b"DEL"), key.clone()]);
        return reply;
    }
    let at = rand::seq::index::sample(&mut node.rng, len, count).into_vec();
    let picked = take(node, key, &at);
    // Redis 7.0 writes one SREM per member inside MULTI/EXEC; one SREM of them all is the
    // same change, and atomic without the wrapper.
    let mut srem = vec![Bytes::from_static(b"SREM"), key.clone()];
    srem.extend(picked.iter().cloned());
    propagate(node, srem);
    Reply::Set(picked.into_iter().map(Reply::Bulk).collect())
}

fn node_pick(node: &mut Node, len: usize) -> usize {
    node.rng.gen_range(0..len)
}

/// Removes the members at positions `at` (all within the set), answering them in that order;
/// the key goes with its last member.
fn take(node: &mut Node, key: &[u8], at: &[usize]) -> Vec<Bytes> {
    let set = set_again(node, key);
    let picked: Vec<Bytes> = at
        .iter()
        .map(|&i| Bytes::copy_from_slice(set.get_index(i).expect("in range")))
        .collect();
    let set = write_set(node, key).ok().flatten().expect("read above");
    for member in &picked {
        set.remove(member);
    }
    if set.is_empty() {
        node.db.remove(key);
    }
    picked
}

/// The set just looked up (and counted) once more, after the rng has been used.
fn set_again<'a>(node: &'a Node, key: &[u8]) -> &'a Set {
    match node.db.get(key, expiry_now_ms(node)).map(|e| e.value) {
        Some(ValueRef::Set(set)) => set,
        _ => unreachable!("the set was just read"),
    }
}

/// SRANDMEMBER `key [count]`: distinct members for a positive count (the whole set, in
/// order, when it has no more), `-count` members with repeats for a negative one.
pub(super) fn srandmember(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::syntax_error();
    }
    let count = match args.get(2).map(|c| parse_i64(c)) {
        None => None,
        Some(None) => return Reply::not_integer(),
        Some(Some(i64::MIN)) => {
            return Reply::err(
                "value is out of range, value must between -9223372036854775807 and \
                 9223372036854775807",
            )
        }
        Some(Some(n)) if n < 0 && n.unsigned_abs() > RANDOM_REPEATS_MAX => {
            return Reply::err("value is out of range")
        }
        Some(Some(n)) => Some(n),
    };
    let len = match read_set(node, &args[1]) {
        Err(wrong_type) => return wrong_type,
        Ok(None) if count.is_some() => return Reply::Array(Vec::new()),
        Ok(None) => return Reply::Nil,
        Ok(Some(set)) => set.len(),
    };
    let Some(count) = count else {
        let at = node_pick(node, len);
        let member = set_again(node, &args[1]).get_index(at).expect("in range");
        return Reply::Bulk(Bytes::copy_from_slice(member));
    };
    let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let at: Vec<usize> = if count < 0 {
        (0..wanted).map(|_| node_pick(node, len)).collect()
    } else if wanted >= len {
        (0..len).collect()
    } else {
        rand::seq::index::sample(&mut node.rng, len, wanted).into_vec()
    };
    let set = set_again(node, &args[1]);
    let members = at
        .into_iter()
        .map(|i| Reply::Bulk(Bytes::copy_from_slice(set.get_index(i).expect("in range"))));
    Reply::Array(members.collect())
}
