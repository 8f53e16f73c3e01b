//! The `CLIENT` subcommands that switch a connection's modes: `REPLY`, `NO-EVICT`,
//! `TRACKING`/`TRACKINGINFO`/`CACHING`/`GETREDIR`, and `UNBLOCK` (of a client parked by
//! any blocking command; today `WAIT` and writes held back by a pause).
//!
//! Tracking keeps Redis's option rules and errors; what it delivers is in
//! [`crate::node::tracking`].

use bytes::Bytes;

use super::{is, parse_i64};
use crate::node::session::{ReplyMode, Tracking};
use crate::node::{ClientId, Node};
use crate::replication::UnblockHow;
use crate::reply::Reply;

/// `CLIENT REPLY ON|OFF|SKIP`: only ON answers (`+OK`); OFF and SKIP are silent themselves.
pub(super) fn client_reply(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let mode = match () {
        _ if is(&args[2], "on") => ReplyMode::On,
        _ if is(&args[2], "off") => ReplyMode::Off,
        _ if is(&args[2], "skip") => ReplyMode::SkipNext,
        _ => return Reply::syntax_error(),
    };
    let session = &mut node.client_mut(client).session;
    session.reply = mode;
    session.reply_silenced = mode != ReplyMode::On;
    Reply::ok()
}

pub(super) fn client_no_evict(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let on = match () {
        _ if is(&args[2], "on") => true,
        _ if is(&args[2], "off") => false,
        _ => return Reply::syntax_error(),
    };
    node.client_mut(client).session.no_evict = on;
    Reply::ok()
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: 1 if the client was blocked (on keys, in `WAIT`, or
/// by a pause) and is answered now.
pub(super) fn client_unblock(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return crate::cmd::server::subcommand_syntax_error(args, "CLIENT");
    }
    // The reason is checked before the id, as Redis does.
    let how = match args.get(3) {
        None => UnblockHow::Timeout,
        Some(a) if is(a, "timeout") => UnblockHow::Timeout,
        Some(a) if is(a, "error") => UnblockHow::Error,
        Some(_) => return Reply::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let Some(id) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    // Blocked on keys (BLPOP, …), else parked in WAIT or by a pause.
    let error = how == UnblockHow::Error;
    let done = id > 0
        && (node.unblock_by_request(id as ClientId, error)
            || node.unblock_parked(id as ClientId, how));
    Reply::Integer(i64::from(done))
}

/// -1 without tracking, 0 when tracking without redirection, else the target's id.
pub(super) fn client_getredir(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(match &node.clients[&client].session.tracking {
        None => -1,
        Some(t) => t.redirect.map_or(0, |id| id as i64),
    })
}

pub(super) fn client_trackinginfo(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    let tracking = node.clients[&client].session.tracking.as_ref();
    let mut flags = Vec::new();
    let redirect = match tracking {
        None => {
            flags.push("off");
            -1
        }
        Some(t) => {
            flags.push("on");
            for (on, word) in [(t.bcast, "bcast"), (t.optin, "optin"), (t.optout, "optout")] {
                if on {
                    flags.push(word);
                }
            }
            match t.caching {
                Some(true) => flags.push("caching-yes"),
                Some(false) => flags.push("caching-no"),
                None => {}
            }
            if t.noloop {
                flags.push("noloop");
            }
            if t.broken_redirect {
                flags.push("broken_redirect");
            }
            t.redirect.map_or(0, |id| id as i64)
        }
    };
    let prefixes = tracking.map_or(Vec::new(), |t| t.prefixes.clone());
    Reply::Map(vec![
        (
            Reply::bulk_str("flags"),
            Reply::Set(flags.into_iter().map(Reply::bulk_str).collect()),
        ),
        (Reply::bulk_str("redirect"), Reply::Integer(redirect)),
        (
            Reply::bulk_str("prefixes"),
            Reply::Array(prefixes.into_iter().map(Reply::Bulk).collect()),
        ),
    ])
}

/// `CLIENT CACHING YES|NO`: marks the next command (OPTIN: YES, OPTOUT: NO).
pub(super) fn client_caching(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let tracking = node.client_mut(client).session.tracking.as_mut();
    let Some(t) = tracking.filter(|t| t.optin || t.optout) else {
        return Reply::err(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN \
             or OPTOUT mode enabled",
        );
    };
    if is(&args[2], "yes") {
        if !t.optin {
            return Reply::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
        t.caching = Some(true);
    } else if is(&args[2], "no") {
        if !t.optout {
            return Reply::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
        t.caching = Some(false);
    } else {
        return Reply::syntax_error();
    }
    Reply::ok()
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`.
pub(super) fn client_tracking(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let on = match () {
        _ if is(&args[2], "on") => true,
        _ if is(&args[2], "off") => false,
        _ => return Reply::syntax_error(),
    };
    let wanted = match parse_tracking(node, &args[3..]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let session = &mut node.client_mut(client).session;
    if !on {
        session.tracking = None;
        return Reply::ok();
    }
    if let Err(e) = check_tracking(session.tracking.as_ref(), &wanted) {
        return e;
    }
    session.tracking = Some(wanted);
    Reply::ok()
}

fn parse_tracking(node: &Node, args: &[Bytes]) -> Result<Tracking, Reply> {
    let mut t = Tracking::default();
    let mut i = 0;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "redirect") && more {
            if t.redirect.is_some() {
                return Err(Reply::err(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = parse_i64(&args[i + 1]).ok_or_else(Reply::not_integer)?;
            if id <= 0 || !node.clients.contains_key(&(id as ClientId)) {
                return Err(Reply::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
            t.redirect = Some(id as ClientId);
            i += 1;
        } else if is(&args[i], "bcast") {
            t.bcast = true;
        } else if is(&args[i], "optin") {
            t.optin = true;
        } else if is(&args[i], "optout") {
            t.optout = true;
        } else if is(&args[i], "noloop") {
            t.noloop = true;
        } else if is(&args[i], "prefix") && more {
            t.prefixes.push(args[i + 1].clone());
            i += 1;
        } else {
            return Err(Reply::syntax_error());
        }
        i += 1;
    }
    Ok(t)
}

/// Redis's rules between the options, and against the tracking already on.
fn check_tracking(current: Option<&Tracking>, t: &Tracking) -> Result<(), Reply> {
    if !t.bcast && !t.prefixes.is_empty() {
        return Err(Reply::err(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if let Some(cur) = current {
        if cur.bcast != t.bcast {
            return Err(Reply::err(
                "You can't switch BCAST mode on/off before disabling tracking for this client, \
                 and then re-enabling it with a different mode.",
            ));
        }
    }
    if t.optin && t.optout {
        return Err(Reply::err(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if let Some(cur) = current {
        if (t.optin && cur.optout) || (t.optout && cur.optin) {
            return Err(Reply::err(
                "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, \
                 and then re-enabling it with a different mode.",
            ));
        }
    }
    if t.bcast && (t.optin || t.optout) {
        return Err(Reply::err("OPTIN and OPTOUT are not compatible with BCAST"));
    }
    for (i, a) in t.prefixes.iter().enumerate() {
        for b in &t.prefixes[i + 1..] {
            if a.starts_with(b) || b.starts_with(a) {
                return Err(Reply::err(format!(
                    "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a \
                     single client must not overlap.",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b)
                )));
            }
        }
    }
    Ok(())
}
