//! Pub/Sub: `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`, their `UN…` forms, `PUBLISH`, `SPUBLISH`
//! and `PUBSUB`, with Redis 7.0's replies.
//!
//! Confirmations and messages are push frames (`>` in RESP3, arrays in RESP2) sent outside the
//! request/reply flow, one per channel, so a (un)subscribe command answers only with pushes.
//! In cluster mode a `PUBLISH` also goes to every node over the bus, and an `SPUBLISH` to the
//! nodes of this shard (the slot's master and its replicas); each node delivers to its own
//! subscribers (`Node::deliver_published`). The count a publish returns is of this node's
//! receivers, as in Redis.

use bytes::Bytes;

use super::server::{help_reply, run_subcommand, subcommand_syntax_error};
use super::{keyless, CmdFlags as F, CommandSpec};
use crate::bus::{Body, MessageType};
use crate::node::{ClientId, Effect, Node};
use crate::pubsub::Kind;
use crate::reply::Reply;

const SUB_FLAGS: F = F::PUBSUB
    .union(F::NOSCRIPT)
    .union(F::LOADING)
    .union(F::STALE);
const PUB_FLAGS: F = F::PUBSUB
    .union(F::LOADING)
    .union(F::STALE)
    .union(F::FAST)
    .union(F::MAY_REPLICATE);
const SLOW: &[&str] = &["@pubsub", "@slow"];
const FAST: &[&str] = &["@pubsub", "@fast"];

/// A command whose channel arguments are keys for routing (the sharded forms).
const fn sharded(
    name: &'static str,
    arity: i32,
    flags: F,
    last_key: i32,
    acl: &'static [&'static str],
    summary: &'static str,
    handler: super::Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: 1,
        last_key,
        key_step: 1,
        acl_categories: acl,
        group: "pubsub",
        summary,
        since: "7.0.0",
        handler,
    }
}

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyless("subscribe", -2, SUB_FLAGS, SLOW, "pubsub", "Listen for messages published to the given channels", "2.0.0", subscribe),
    keyless("unsubscribe", -1, SUB_FLAGS, SLOW, "pubsub", "Stop listening for messages posted to the given channels", "2.0.0", unsubscribe),
    keyless("psubscribe", -2, SUB_FLAGS, SLOW, "pubsub", "Listen for messages published to channels matching the given patterns", "2.0.0", psubscribe),
    keyless("punsubscribe", -1, SUB_FLAGS, SLOW, "pubsub", "Stop listening for messages posted to channels matching the given patterns", "2.0.0", punsubscribe),
    keyless("publish", 3, PUB_FLAGS, FAST, "pubsub", "Post a message to a channel", "2.0.0", publish),
    sharded("ssubscribe", -2, SUB_FLAGS, -1, SLOW, "Listen for messages published to the given shard channels", ssubscribe),
    sharded("sunsubscribe", -1, SUB_FLAGS, -1, SLOW, "Stop listening for messages posted to the given shard channels", sunsubscribe),
    sharded("spublish", 3, PUB_FLAGS, 1, FAST, "Post a message to a shard channel", spublish),
    keyless("pubsub", -2, F::empty(), &["@slow"], "pubsub", "A container for Pub/Sub commands", "2.8.0", pubsub),
];

const INTROSPECT: F = F::PUBSUB.union(F::LOADING).union(F::STALE);

#[rustfmt::skip]
pub(crate) static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("pubsub|channels", -2, INTROSPECT, SLOW, "pubsub", "List active channels", "2.8.0", channels),
    keyless("pubsub|numsub", -2, INTROSPECT, SLOW, "pubsub", "Get the count of subscribers for channels", "2.8.0", numsub),
    keyless("pubsub|numpat", 2, INTROSPECT, SLOW, "pubsub", "Get the count of unique patterns pattern subscriptions", "2.8.0", numpat),
    keyless("pubsub|shardchannels", -2, INTROSPECT, SLOW, "pubsub", "List active shard channels", "7.0.0", shardchannels),
    keyless("pubsub|shardnumsub", -2, INTROSPECT, SLOW, "pubsub", "Get the count of subscribers for shard channels", "7.0.0", shardnumsub),
    keyless("pubsub|help", 2, F::LOADING.union(F::STALE), &["@slow"], "pubsub", "Show helpful text about the different subcommands", "6.2.0", pubsub_help),
];

/// The confirmation word of each (un)subscription kind.
fn words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

fn push(node: &mut Node, client: ClientId, items: Vec<Reply>) {
    node.out.push(Effect::ClientPush { client, items });
}

/// The count a confirmation carries.
fn count_for(node: &Node, client: ClientId, kind: Kind) -> i64 {
    let n = match kind {
        Kind::Shard => node.pubsub.shard_count(client),
        _ => node.pubsub.count(client),
    };
    n as i64
}

/// The command itself answers nothing: its confirmations are the pushes.
fn only_pushes(node: &mut Node, client: ClientId) -> Reply {
    node.client_mut(client).session.reply_silenced = true;
    Reply::Nil
}

fn subscribe_all(node: &mut Node, client: ClientId, kind: Kind, names: &[Bytes]) -> Reply {
    for name in names {
        node.pubsub.subscribe(client, kind, name);
        let count = count_for(node, client, kind);
        let items = vec![
            Reply::bulk_str(words(kind).0),
            Reply::Bulk(name.clone()),
            Reply::Integer(count),
        ];
        push(node, client, items);
    }
    only_pushes(node, client)
}

/// Unsubscribes from `names`, or from everything of `kind` when none are named (then, with
/// nothing to leave, one confirmation with a nil channel, as Redis answers).
pub(crate) fn unsubscribe_all(
    node: &mut Node,
    client: ClientId,
    kind: Kind,
    names: &[Bytes],
) -> Reply {
    let names = if names.is_empty() {
        node.pubsub.names_of(client, kind)
    } else {
        names.to_vec()
    };
    let word = words(kind).1;
    if names.is_empty() {
        let count = count_for(node, client, kind);
        push(
            node,
            client,
            vec![Reply::bulk_str(word), Reply::Nil, Reply::Integer(count)],
        );
    }
    for name in &names {
        node.pubsub.unsubscribe(client, kind, name);
        let count = count_for(node, client, kind);
        let items = vec![
            Reply::bulk_str(word),
            Reply::Bulk(name.clone()),
            Reply::Integer(count),
        ];
        push(node, client, items);
    }
    only_pushes(node, client)
}

fn subscribe(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    subscribe_all(node, client, Kind::Channel, &args[1..])
}

fn unsubscribe(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    unsubscribe_all(node, client, Kind::Channel, &args[1..])
}

fn psubscribe(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    subscribe_all(node, client, Kind::Pattern, &args[1..])
}

fn punsubscribe(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    unsubscribe_all(node, client, Kind::Pattern, &args[1..])
}

fn ssubscribe(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    subscribe_all(node, client, Kind::Shard, &args[1..])
}

fn sunsubscribe(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    unsubscribe_all(node, client, Kind::Shard, &args[1..])
}

fn publish(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (channel, message) = (&args[1], &args[2]);
    let receivers = node.deliver_published(MessageType::Publish, channel, message);
    if node.config.cluster_enabled {
        let body = Body::Publish {
            channel: channel.clone(),
            message: message.clone(),
        };
        node.broadcast(MessageType::Publish, body);
    }
    Reply::Integer(receivers as i64)
}

fn spublish(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (channel, message) = (&args[1], &args[2]);
    let receivers = node.deliver_published(MessageType::PublishShard, channel, message);
    if node.config.cluster_enabled {
        let body = Body::Publish {
            channel: channel.clone(),
            message: message.clone(),
        };
        node.bus().send_to_my_shard(MessageType::PublishShard, body);
    }
    Reply::Integer(receivers as i64)
}

fn pubsub(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "PUBSUB", PUBSUB_SUBCOMMANDS)
}

fn bulk_list(names: Vec<Bytes>) -> Reply {
    Reply::Array(names.into_iter().map(Reply::Bulk).collect())
}

/// `[pattern]`: at most one argument after the subcommand.
fn optional_pattern(args: &[Bytes]) -> Result<Option<&[u8]>, Reply> {
    match args.len() {
        2 => Ok(None),
        3 => Ok(Some(&args[2][..])),
        _ => Err(subcommand_syntax_error(args, "PUBSUB")),
    }
}

fn channels(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match optional_pattern(args) {
        Ok(pattern) => bulk_list(node.pubsub.active(Kind::Channel, pattern)),
        Err(e) => e,
    }
}

fn shardchannels(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match optional_pattern(args) {
        Ok(pattern) => bulk_list(node.pubsub.active(Kind::Shard, pattern)),
        Err(e) => e,
    }
}

/// Channel, count, channel, count… (a map in RESP3).
fn numsub_of(node: &Node, kind: Kind, names: &[Bytes]) -> Reply {
    Reply::Map(
        names
            .iter()
            .map(|name| {
                let n = node.pubsub.subscribers(kind, name) as i64;
                (Reply::Bulk(name.clone()), Reply::Integer(n))
            })
            .collect(),
    )
}

fn numsub(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    numsub_of(node, Kind::Channel, &args[2..])
}

fn shardnumsub(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    numsub_of(node, Kind::Shard, &args[2..])
}

fn numpat(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(node.pubsub.pattern_count() as i64)
}

fn pubsub_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "PUBSUB",
        &[
            (
                "CHANNELS [<pattern>]",
                "Channels with a subscriber on this node, those matching <pattern> if given.",
            ),
            (
                "NUMPAT",
                "How many distinct patterns clients here subscribed to.",
            ),
            (
                "NUMSUB [<channel> ...]",
                "Subscribers of each channel (pattern subscriptions not counted).",
            ),
            (
                "SHARDCHANNELS [<pattern>]",
                "Shard channels with a subscriber on this node, those matching <pattern> if given.",
            ),
            (
                "SHARDNUMSUB [<shardchannel> ...]",
                "Subscribers of each shard channel.",
            ),
        ],
    )
}

#[cfg(test)]
mod tests;
