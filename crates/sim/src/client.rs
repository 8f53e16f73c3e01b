//! A tiny cluster-aware client for scenarios: it follows `MOVED` (switching its current node,
//! as `redis-cli -c` does) and `ASK` (one `ASKING` + retry on the target, current node kept),
//! and records every hop in the trace.
//!
//! Every request is bounded by a virtual-time timeout because a clogged or paused node stalls a
//! stream instead of failing it; a scenario must see that as an error, not hang.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use clusterlab_core::Reply;
use clusterlab_net::client::Connection;

use crate::trace::Trace;

/// A redirection reply, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    Moved { slot: u16, addr: String },
    Ask { slot: u16, addr: String },
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
    pub addr: String,
    pub reply: Reply,
}

/// The final reply of a routed command and every hop that led to it (the last hop's reply is
/// `reply`).
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    pub reply: Reply,
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
        let outcome = match &result {
            Ok(reply) => describe_reply(reply),
            Err(e) => format!("io error: {e}"),
        };
        self.trace.record(
            self.label.clone(),
            format!("{addr} {} -> {outcome}", describe_args(args)),
        );
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
    let parts: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).escape_debug().to_string())
        .collect();
    parts.join(" ")
}

/// A reply on one line, in roughly RESP's notation: `+OK`, `-MOVED …`, `:1`, `"text"`, `(nil)`,
/// `*[…]`. Newlines are escaped so each trace event stays one line.
pub fn describe_reply(reply: &Reply) -> String {
    match reply {
        Reply::Simple(s) => format!("+{}", s.escape_debug()),
        Reply::Error(s) => format!("-{}", s.escape_debug()),
        Reply::Integer(n) => format!(":{n}"),
        Reply::Bulk(b) => format!("\"{}\"", String::from_utf8_lossy(b).escape_debug()),
        Reply::Nil | Reply::NilArray => "(nil)".to_string(),
        Reply::Array(items) | Reply::Set(items) => {
            let inner: Vec<String> = items.iter().map(describe_reply).collect();
            format!("*[{}]", inner.join(", "))
        }
        Reply::Map(pairs) => {
            let inner: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{} => {}", describe_reply(k), describe_reply(v)))
                .collect();
            format!("%{{{}}}", inner.join(", "))
        }
        Reply::Verbatim(_, s) => format!("\"{}\"", s.escape_debug()),
        Reply::Double(d) => format!(",{d}"),
        Reply::Bool(b) => format!("#{}", if *b { 't' } else { 'f' }),
    }
}

/// The text of a bulk/simple/verbatim reply, if it is one.
pub fn reply_text(reply: &Reply) -> Option<String> {
    match reply {
        Reply::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
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

    #[test]
    fn reads_info_fields() {
        let info = Reply::bulk_str("cluster_state:ok\r\ncluster_size:3\r\n");
        assert_eq!(info_field(&info, "cluster_state").as_deref(), Some("ok"));
        assert_eq!(info_field(&info, "cluster_size").as_deref(), Some("3"));
        assert_eq!(info_field(&info, "cluster"), None);
        assert_eq!(info_field(&Reply::Integer(1), "cluster_state"), None);
    }
}
