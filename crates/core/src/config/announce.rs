//! How this node presents itself to clients and peers: the `cluster-announce-*` directives,
//! `cluster-preferred-endpoint-type` (what `CLUSTER SLOTS`, `CLUSTER SHARDS` and redirects
//! name a node by) and `cluster-link-sendbuf-limit` (the bus send buffer a link may hold).
//! Kept apart from the rest of [`super::Config`] because they are read together by the
//! cluster's rendering and bus code, and validated with Redis 7.0's own rules and wording.

use super::args::{enum_arg, int_arg, memory_arg};
use super::directives::Kind;

/// Longest hostname plus one: Redis's `NET_HOST_STR_LEN`.
pub const HOSTNAME_LEN_LIMIT: usize = 256;

/// `cluster-preferred-endpoint-type`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EndpointType {
    Ip,
    Hostname,
    /// Clients are told to use the address they already connected to.
    UnknownEndpoint,
}

pub(super) const ENDPOINT_TYPES: &[&str] = &["ip", "hostname", "unknown-endpoint"];

impl EndpointType {
    pub fn name(self) -> &'static str {
        match self {
            EndpointType::Ip => "ip",
            EndpointType::Hostname => "hostname",
            EndpointType::UnknownEndpoint => "unknown-endpoint",
        }
    }
}

/// The announce settings; zero or empty means "not announced, use the real one".
#[derive(Clone, Debug, PartialEq)]
pub struct Announce {
    pub hostname: String,
    pub ip: String,
    pub port: u16,
    pub bus_port: u16,
    /// Accepted and shown; without TLS Redis 7.0 announces it nowhere either.
    pub tls_port: u16,
    pub preferred_endpoint: EndpointType,
    /// 0 = no limit.
    pub link_sendbuf_limit_bytes: u64,
}

impl Default for Announce {
    fn default() -> Self {
        Announce {
            hostname: String::new(),
            ip: String::new(),
            port: 0,
            bus_port: 0,
            tls_port: 0,
            preferred_endpoint: EndpointType::Ip,
            link_sendbuf_limit_bytes: 0,
        }
    }
}

/// The directives this module owns, all `CONFIG SET`-able.
pub(super) const NAMES: &[&str] = &[
    "cluster-announce-hostname",
    "cluster-announce-ip",
    "cluster-announce-port",
    "cluster-announce-bus-port",
    "cluster-announce-tls-port",
    "cluster-preferred-endpoint-type",
    "cluster-link-sendbuf-limit",
];

/// Redis's check of an announced hostname (`isValidAnnouncedHostname`).
pub fn check_hostname(name: &str) -> Result<(), String> {
    if name.len() >= HOSTNAME_LEN_LIMIT {
        return Err(format!(
            "Hostnames must be less than {HOSTNAME_LEN_LIMIT} characters"
        ));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    if !name.bytes().all(allowed) {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into());
    }
    Ok(())
}

impl Announce {
    /// Sets the directive `name` (one of [`NAMES`]); on error nothing changes.
    pub(super) fn assign(&mut self, name: &str, kind: Kind, arg: &str) -> Result<(), String> {
        match name {
            "cluster-announce-hostname" => {
                check_hostname(arg)?;
                self.hostname = arg.to_string();
            }
            "cluster-announce-ip" => self.ip = arg.to_string(),
            "cluster-announce-port" => self.port = int_arg(kind, arg)? as u16,
            "cluster-announce-bus-port" => self.bus_port = int_arg(kind, arg)? as u16,
            "cluster-announce-tls-port" => self.tls_port = int_arg(kind, arg)? as u16,
            "cluster-preferred-endpoint-type" => {
                self.preferred_endpoint = match enum_arg(ENDPOINT_TYPES, arg)? {
                    "hostname" => EndpointType::Hostname,
                    "unknown-endpoint" => EndpointType::UnknownEndpoint,
                    _ => EndpointType::Ip,
                }
            }
            "cluster-link-sendbuf-limit" => self.link_sendbuf_limit_bytes = memory_arg(arg)?,
            other => unreachable!("{other} is not an announce directive"),
        }
        Ok(())
    }

    /// The value `CONFIG GET` shows for `name` (one of [`NAMES`]).
    pub(super) fn value_of(&self, name: &str) -> String {
        match name {
            "cluster-announce-hostname" => self.hostname.clone(),
            "cluster-announce-ip" => self.ip.clone(),
            "cluster-announce-port" => self.port.to_string(),
            "cluster-announce-bus-port" => self.bus_port.to_string(),
            "cluster-announce-tls-port" => self.tls_port.to_string(),
            "cluster-preferred-endpoint-type" => self.preferred_endpoint.name().to_string(),
            "cluster-link-sendbuf-limit" => self.link_sendbuf_limit_bytes.to_string(),
            other => unreachable!("{other} is not an announce directive"),
        }
    }
}

impl super::Config {
    /// The client port peers and clients are told: `cluster-announce-port`, else `port`.
    pub fn announced_port(&self) -> u16 {
        match self.announce.port {
            0 => self.port,
            port => port,
        }
    }

    /// The bus port peers are told: `cluster-announce-bus-port`, else the bus port.
    pub fn announced_bus_port(&self) -> u16 {
        match self.announce.bus_port {
            0 => self.bus_port(),
            port => port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn hostnames_are_checked_with_redis_wording() {
        assert_eq!(check_hostname("host-1.example.com"), Ok(()));
        assert_eq!(check_hostname(""), Ok(()));
        assert_eq!(check_hostname(&"x".repeat(255)), Ok(()));
        assert_eq!(
            check_hostname(&"x".repeat(256)),
            Err("Hostnames must be less than 256 characters".into())
        );
        for bad in ["?.com", "a b", "a_b", "é"] {
            assert_eq!(
                check_hostname(bad),
                Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn config_set_and_get_of_every_announce_directive() {
        let mut c = Config::default();
        assert_eq!(
            c.get("cluster-preferred-endpoint-type"),
            vec![("cluster-preferred-endpoint-type".into(), "ip".into())]
        );
        c.set("cluster-announce-hostname", "me.com").unwrap();
        c.set("cluster-preferred-endpoint-type", "UNKNOWN-endpoint")
            .unwrap();
        c.set("cluster-link-sendbuf-limit", "256kb").unwrap();
        c.set("cluster-announce-port", "7001").unwrap();
        c.set("cluster-announce-bus-port", "17009").unwrap();
        assert_eq!(c.announce.hostname, "me.com");
        assert_eq!(c.announce.preferred_endpoint, EndpointType::UnknownEndpoint);
        assert_eq!(c.announce.link_sendbuf_limit_bytes, 262144);
        assert_eq!((c.announced_port(), c.announced_bus_port()), (7001, 17009));
        assert_eq!(
            c.get("cluster-link-sendbuf-limit"),
            vec![("cluster-link-sendbuf-limit".into(), "262144".into())]
        );
        let err = c.set("cluster-announce-hostname", "?.com").unwrap_err();
        assert!(err.contains("alphanumeric"), "{err}");
        assert_eq!(
            c.announce.hostname, "me.com",
            "a refused value changes nothing"
        );
        let err = c.set("cluster-preferred-endpoint-type", "dns").unwrap_err();
        assert_eq!(
            err,
            "argument(s) must be one of the following: ip, hostname, unknown-endpoint"
        );
        let err = c.set("cluster-announce-port", "70000").unwrap_err();
        assert_eq!(err, "argument must be between 0 and 65535 inclusive");
    }
}
