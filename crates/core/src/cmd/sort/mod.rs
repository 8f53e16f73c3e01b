//! SORT and SORT_RO over lists, sets and sorted sets: numeric or ALPHA order, ASC/DESC,
//! LIMIT, BY and GET patterns (`*` replaced by the element, `->field` reading a hash field,
//! `#` the element itself) and, for SORT, STORE into a list.
//!
//! Here: the table, the option parser and SORT's keys (the sorted key and the last STORE
//! key, as Redis's `sortGetKeys` finds them); the sorting itself is in `run`.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::CmdFlags as F;
use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

mod run;
mod score;
#[cfg(test)]
mod tests;

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sort",
        arity: -2,
        flags: F::WRITE.union(F::DENYOOM).union(F::MOVABLEKEYS),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &[
            "@write",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ],
        group: "generic",
        summary: "Sort the elements in a list, set or sorted set",
        since: "1.0.0",
        handler: sort,
    },
    CommandSpec {
        name: "sort_ro",
        arity: -2,
        flags: F::READONLY.union(F::MOVABLEKEYS),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &[
            "@read",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ],
        group: "generic",
        summary: "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        since: "7.0.0",
        handler: sort_ro,
    },
];

/// What a SORT command line asks for.
pub(super) struct Options {
    pub desc: bool,
    pub alpha: bool,
    /// LIMIT's offset and count as given (0, -1 without LIMIT).
    pub limit: (i64, i64),
    pub by: Option<Bytes>,
    /// A BY pattern without `*`: keep the stored order.
    pub dont_sort: bool,
    pub gets: Vec<Bytes>,
    pub store: Option<Bytes>,
}

/// The argument positions of SORT's keys: the sorted key and the key after the last STORE
/// that has one (LIMIT's two arguments and BY's and GET's one are skipped, not searched).
pub(crate) fn key_positions(args: &[Bytes]) -> Vec<usize> {
    if args.len() < 2 {
        return Vec::new();
    }
    let mut positions = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "limit") {
            i += 2;
        } else if is(&args[i], "get") || is(&args[i], "by") {
            i += 1;
        } else if is(&args[i], "store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    positions.extend(store);
    positions
}

fn sort(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match parse(args, false, node.config.cluster_enabled) {
        Ok(options) => run::sort(node, &args[1], &options, args),
        Err(e) => e,
    }
}

fn sort_ro(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match parse(args, true, node.config.cluster_enabled) {
        Ok(options) => run::sort(node, &args[1], &options, args),
        Err(e) => e,
    }
}

/// Parses the options in order, failing at the first bad one. In cluster mode Redis 7.0
/// refuses every BY pattern with a `*` and every GET (even `GET #`): their keys could be
/// anywhere.
fn parse(args: &[Bytes], read_only: bool, cluster: bool) -> Result<Options, Reply> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit: (0, -1),
        by: None,
        dont_sort: false,
        gets: Vec::new(),
        store: None,
    };
    let mut j = 2;
    while j < args.len() {
        let (word, left) = (&args[j], args.len() - j - 1);
        if is(word, "asc") {
            o.desc = false;
        } else if is(word, "desc") {
            o.desc = true;
        } else if is(word, "alpha") {
            o.alpha = true;
        } else if is(word, "limit") && left >= 2 {
            let offset = parse_i64(&args[j + 1]).ok_or_else(Reply::not_integer)?;
            let count = parse_i64(&args[j + 2]).ok_or_else(Reply::not_integer)?;
            o.limit = (offset, count);
            j += 2;
        } else if !read_only && is(word, "store") && left >= 1 {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if is(word, "by") && left >= 1 {
            let pattern = &args[j + 1];
            if !pattern.contains(&b'*') {
                o.dont_sort = true;
            } else if cluster {
                return Err(Reply::err("BY option of SORT denied in Cluster mode."));
            }
            o.by = Some(pattern.clone());
            j += 1;
        } else if is(word, "get") && left >= 1 {
            if cluster {
                return Err(Reply::err("GET option of SORT denied in Cluster mode."));
            }
            o.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(Reply::syntax_error());
        }
        j += 1;
    }
    Ok(o)
}
