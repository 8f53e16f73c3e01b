//! A tiny cluster-aware client for scenarios: it follows `MOVED` (switching its current node,
//! as `redis-cli -c` does) and `ASK` (one `ASKING` + retry on the target, current node kept),
//! and records every hop in the trace.
//!
//! Every request is bounded by a virtual-time timeout because a clogged or paused node stalls a
//! stream instead of failing it; a scenario must see that as an error, not hang.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use clusterlab_core::Reply;
use clusterlab_net::client::Connection;

use crate::trace::{Event, Outcome, Request, Trace};

/// A redirection reply, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// `-MOVED`: the slot now lives at `addr`; the client sends there from now on.
    Moved {
        /// The key's hash slot.
        slot: u16,
        /// `ip:port` of the node that serves it.
        addr: String,
    },
    /// `-ASK`: this one request goes to `addr` (after `ASKING`); the slot is being migrated.
    Ask {
        /// The key's hash slot.
        slot: u16,
        /// `ip:port` of the node importing it.
        addr: String,
    },
}

/// `-MOVED <slot> <ip:port>` / `-ASK <slot> <ip:port>`; anything else is not a redirect.
pub fn parse_redirect(reply: &Reply) -> Option<Redirect> {
    let Reply::Error(text) = reply else {
        return None;
    };
    let mut parts = text.split(' ');
    let kind = parts.next()?;
    let slot: u16 = parts.next()?.parse().ok()?;
    let addr = parts.next()?.to_string();
    if parts.next().is_some() || slot >= 16384 || !addr.contains(':') {
        return None;
    }
    match kind {
        "MOVED" => Some(Redirect::Moved { slot, addr }),
        "ASK" => Some(Redirect::Ask { slot, addr }),
        _ => None,
    }
}

/// One request as sent to one node, and what that node answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    /// `ip:port` of the node.
    pub addr: String,
    /// What it answered (an `ASKING` before a retry is a hop of its own).
    pub reply: Reply,
}

/// The final reply of a routed command and every hop that led to it (the last hop's reply is
/// `reply`).
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    /// The last reply: not a redirect, unless [`MAX_REDIRECTS`] ran out.
    pub reply: Reply,
    /// Every request sent for the command, in order.
    pub hops: Vec<Hop>,
}

impl Routed {
    /// The redirects followed, in order.
    pub fn redirects(&self) -> Vec<Redirect> {
        self.hops
            .iter()
            .filter_map(|h| parse_redirect(&h.reply))
            .collect()
    }
}

/// Follows at most this many redirects per command; more means the cluster disagrees with
/// itself, which the caller should see as an error reply rather than a loop.
pub const MAX_REDIRECTS: usize = 5;

/// Per-request virtual-time limit.
pub const REQUEST_TIMEOUT_MS: u64 = 5000;

/// The cluster-aware client. `label` names it in the trace.
pub struct ClusterClient {
    label: String,
    current: String,
    conns: BTreeMap<String, Connection>,
    trace: Trace,
    timeout_ms: u64,
}

impl ClusterClient {
    /// A client whose first requests go to `entry` (`ip:port`).
    pub fn new(label: impl Into<String>, entry: impl Into<String>, trace: Trace) -> ClusterClient {
        ClusterClient {
            label: label.into(),
            current: entry.into(),
            conns: BTreeMap::new(),
            trace,
            timeout_ms: REQUEST_TIMEOUT_MS,
        }
    }

    /// The node the next command goes to first.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// Sends the next commands to `addr` first (a caller that knows the slot's owner saves a
    /// redirect).
    pub fn set_current(&mut self, addr: impl Into<String>) {
        self.current = addr.into();
    }

    /// Sets the virtual-time limit, in ms, of each connect and each request (per hop, not per
    /// command); the default is [`REQUEST_TIMEOUT_MS`].
    pub fn set_timeout_ms(&mut self, timeout_ms: u64) {
        self.timeout_ms = timeout_ms;
    }

    /// Sends `args`, following redirects. After [`MAX_REDIRECTS`] the last redirect is returned
    /// as the reply.
    pub async fn command(&mut self, args: &[&[u8]]) -> io::Result<Routed> {
        let mut hops = Vec::new();
        let mut target = self.current.clone();
        let mut asking = false;
        for _ in 0..=MAX_REDIRECTS {
            if asking {
                let reply = self.send_to(&target, &[b"ASKING"]).await?;
                hops.push(Hop {
                    addr: target.clone(),
                    reply,
                });
            }
            let reply = self.send_to(&target, args).await?;
            hops.push(Hop {
                addr: target.clone(),
                reply: reply.clone(),
            });
            match parse_redirect(&reply) {
                Some(Redirect::Moved { addr, .. }) => {
                    self.current = addr.clone();
                    target = addr;
                    asking = false;
                }
                Some(Redirect::Ask { addr, .. }) => {
                    target = addr;
                    asking = true;
                }
                None => return Ok(Routed { reply, hops }),
            }
        }
        let reply = hops.last().map(|h| h.reply.clone()).unwrap_or(Reply::Nil);
        Ok(Routed { reply, hops })
    }

    /// Sends one request to one node without following redirects.
    pub async fn send_to(&mut self, addr: &str, args: &[&[u8]]) -> io::Result<Reply> {
        let result = self.send_inner(addr, args).await;
        // Every request of a run lands here: the texts are built without intermediate Strings.
        let mut text = String::with_capacity(32);
        push_args(&mut text, args);
        let mut reply_text = String::with_capacity(16);
        let outcome = match &result {
            Ok(reply) => {
                push_reply(&mut reply_text, reply);
                outcome_of(reply)
            }
            Err(e) => {
                let _ = write!(reply_text, "io error: {e}");
                Outcome::Io
            }
        };
        let request = Request {
            addr: addr.to_string(),
            args: text,
            reply: reply_text,
            outcome,
        };
        self.trace
            .record(self.label.clone(), Event::Request(request));
        if result.is_err() {
            // The stream may be half-used; the next request reconnects.
            self.conns.remove(addr);
        }
        result
    }

    async fn send_inner(&mut self, addr: &str, args: &[&[u8]]) -> io::Result<Reply> {
        let timeout = Duration::from_millis(self.timeout_ms);
        if !self.conns.contains_key(addr) {
            let conn = madsim::time::timeout(timeout, Connection::connect(addr))
                .await
                .map_err(|_| timed_out("connect"))??;
            self.conns.insert(addr.to_string(), conn);
        }
        let conn = self
            .conns
            .get_mut(addr)
            .ok_or_else(|| io::Error::other("connection vanished"))?;
        madsim::time::timeout(timeout, conn.command(args))
            .await
            .map_err(|_| timed_out("request"))?
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// Arguments as one line, binary-safe (`SET key value`).
pub fn describe_args(args: &[&[u8]]) -> String {
    let mut out = String::with_capacity(args.iter().map(|a| a.len() + 1).sum());
    push_args(&mut out, args);
    out
}

/// Whether a reply is a redirection, another error or a success.
fn outcome_of(reply: &Reply) -> Outcome {
    match reply {
        Reply::Error(e) if e.starts_with("MOVED ") || e.starts_with("ASK ") => Outcome::Redirect,
        Reply::Error(_) => Outcome::Error,
        _ => Outcome::Ok,
    }
}

fn push_args(out: &mut String, args: &[&[u8]]) {
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_escaped(out, arg);
    }
}

/// Appends `bytes` as `String::from_utf8_lossy(bytes).escape_debug()` shows them. Every
/// request and reply of a run lands in the trace this way, so plain ASCII (nearly all of it)
/// skips the lossy conversion; escaping one ASCII char at a time gives the same text.
fn push_escaped(out: &mut String, bytes: &[u8]) {
    if !bytes.is_ascii() {
        out.extend(String::from_utf8_lossy(bytes).escape_debug());
        return;
    }
    for &b in bytes {
        if (b' '..=b'~').contains(&b) && !matches!(b, b'\\' | b'\'' | b'"') {
            out.push(char::from(b));
        } else {
            out.extend(char::from(b).escape_debug());
        }
    }
}

/// A reply on one line, in roughly RESP's notation: `+OK`, `-MOVED …`, `:1`, `"text"`, `(nil)`,
/// `*[…]`. Newlines are escaped so each trace event stays one line.
pub fn describe_reply(reply: &Reply) -> String {
    let mut out = String::new();
    push_reply(&mut out, reply);
    out
}

fn push_reply(out: &mut String, reply: &Reply) {
    match reply {
        Reply::Simple(s) => {
            out.push('+');
            push_escaped(out, s.as_bytes());
        }
        Reply::Error(s) => {
            out.push('-');
            push_escaped(out, s.as_bytes());
        }
        Reply::Integer(n) => {
            let _ = write!(out, ":{n}");
        }
        Reply::Bulk(b) => {
            out.push('"');
            push_escaped(out, b);
            out.push('"');
        }
        Reply::Nil | Reply::NilArray => out.push_str("(nil)"),
        Reply::Array(items) | Reply::Set(items) => {
            out.push_str("*[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_reply(out, item);
            }
            out.push(']');
        }
        Reply::Map(pairs) => {
            out.push_str("%{");
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_reply(out, k);
                out.push_str(" => ");
                push_reply(out, v);
            }
            out.push('}');
        }
        Reply::Verbatim(_, s) => {
            out.push('"');
            push_escaped(out, s.as_bytes());
            out.push('"');
        }
        Reply::Double(d) => {
            let _ = write!(out, ",{d}");
        }
        Reply::Bool(b) => {
            out.push('#');
            out.push(if *b { 't' } else { 'f' });
        }
    }
}

/// The text of a bulk/simple/verbatim reply, if it is one.
pub fn reply_text(reply: &Reply) -> Option<String> {
    match reply {
        // The campaign reads every `CLUSTER NODES` through here: checking UTF-8 first takes the
        // fast ASCII path, the lossy conversion only runs for the rare invalid text.
        Reply::Bulk(b) => Some(match std::str::from_utf8(b) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(b).into_owned(),
        }),
        Reply::Simple(s) | Reply::Verbatim(_, s) => Some(s.clone()),
        _ => None,
    }
}

/// The value of `field` in an INFO-style (`name:value` lines) reply.
pub fn info_field(reply: &Reply, field: &str) -> Option<String> {
    let text = reply_text(reply)?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim_end().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redirects() {
        assert_eq!(
            parse_redirect(&Reply::error("MOVED 12539 10.0.0.3:7003")),
            Some(Redirect::Moved {
                slot: 12539,
                addr: "10.0.0.3:7003".into()
            })
        );
        assert_eq!(
            parse_redirect(&Reply::error("ASK 0 10.0.0.1:7001")),
            Some(Redirect::Ask {
                slot: 0,
                addr: "10.0.0.1:7001".into()
            })
        );
        for not in [
            Reply::error("CLUSTERDOWN Hash slot not served"),
            Reply::error("MOVED 16384 10.0.0.3:7003"),
            Reply::error("MOVED x 10.0.0.3:7003"),
            Reply::error("MOVED 1 10.0.0.3:7003 extra"),
            Reply::error("MOVED 1"),
            Reply::simple("MOVED 1 10.0.0.3:7003"),
        ] {
            assert_eq!(parse_redirect(&not), None, "{not:?}");
        }
    }

    #[test]
    fn describes_replies_on_one_line() {
        assert_eq!(describe_reply(&Reply::ok()), "+OK");
        assert_eq!(
            describe_reply(&Reply::bulk_str("a\nb")),
            "\"a\\nb\"".to_string()
        );
        assert_eq!(
            describe_reply(&Reply::Array(vec![Reply::Integer(1), Reply::Nil])),
            "*[:1, (nil)]"
        );
        assert_eq!(describe_args(&[b"SET", b"k", b"v"]), "SET k v");
    }

    /// The old rendering, kept as the reference the fast paths must match.
    fn reference_reply(reply: &Reply) -> String {
        match reply {
            Reply::Simple(s) => format!("+{}", s.escape_debug()),
            Reply::Error(s) => format!("-{}", s.escape_debug()),
            Reply::Integer(n) => format!(":{n}"),
            Reply::Bulk(b) => format!("\"{}\"", String::from_utf8_lossy(b).escape_debug()),
            Reply::Nil | Reply::NilArray => "(nil)".to_string(),
            Reply::Array(items) | Reply::Set(items) => {
                let inner: Vec<String> = items.iter().map(reference_reply).collect();
                format!("*[{}]", inner.join(", "))
            }
            Reply::Map(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{} => {}", reference_reply(k), reference_reply(v)))
                    .collect();
                format!("%{{{}}}", inner.join(", "))
            }
            Reply::Verbatim(_, s) => format!("\"{}\"", s.escape_debug()),
            Reply::Double(d) => format!(",{d}"),
            Reply::Bool(b) => format!("#{}", if *b { 't' } else { 'f' }),
        }
    }

    #[test]
    fn fast_descriptions_match_lossy_escape_debug() {
        let every_byte: Vec<u8> = (0..=255u8).collect();
        let ascii: Vec<u8> = (0..=127u8).collect();
        let texts: Vec<&[u8]> = vec![
            b"",
            b"plain text 123",
            b"q\"uo'te\\s\r\n\t\0\x7f\x01",
            &ascii,
            &every_byte,
            "caf\u{e9} \u{301}x \u{200b}".as_bytes(),
            b"\xff\xfe bad utf8",
        ];
        for text in &texts {
            let lossy = String::from_utf8_lossy(text).into_owned();
            let replies = [
                Reply::Bulk(bytes::Bytes::copy_from_slice(text)),
                Reply::Simple(lossy.clone()),
                Reply::Error(lossy.clone()),
                Reply::Verbatim("txt", lossy.clone()),
            ];
            for reply in replies {
                assert_eq!(describe_reply(&reply), reference_reply(&reply), "{reply:?}");
            }
            let expected = format!("SET {} x", String::from_utf8_lossy(text).escape_debug());
            assert_eq!(describe_args(&[b"SET", text, b"x"]), expected);
        }
        let nested = Reply::Array(vec![
            Reply::Map(vec![(Reply::bulk_str("k\n"), Reply::Double(1.5))]),
            Reply::Bool(true),
            Reply::NilArray,
            Reply::Set(vec![Reply::Integer(-3)]),
        ]);
        assert_eq!(describe_reply(&nested), reference_reply(&nested));
    }

    #[test]
    fn reads_info_fields() {
        let info = Reply::bulk_str("cluster_state:ok\r\ncluster_size:3\r\n");
        assert_eq!(info_field(&info, "cluster_state").as_deref(), Some("ok"));
        assert_eq!(info_field(&info, "cluster_size").as_deref(), Some("3"));
        assert_eq!(info_field(&info, "cluster"), None);
        assert_eq!(info_field(&Reply::Integer(1), "cluster_state"), None);
    }
}
