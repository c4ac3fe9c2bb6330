//! Connection filters shared by `analyze` and `check`: hosts, networks, ports and
//! a time window. A connection is kept when every kind of filter given matches it
//! (several values of one kind match if any does).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::report::ConnectionReport;
use crate::time::Timestamp;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Either endpoint has one of these addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host: Vec<IpAddr>,
    /// Either endpoint is in one of these networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net: Vec<IpNet>,
    /// Either endpoint uses one of these ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port: Vec<u16>,
    /// The connection was active at or after this time (its last packet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The connection was active at or before this time (its first packet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self == &Filter::default()
    }

    /// Adds the rules of `other` to this filter.
    pub fn merge(&mut self, other: Filter) {
        self.host.extend(other.host);
        self.net.extend(other.net);
        self.port.extend(other.port);
        self.since = self.since.max(other.since);
        self.until = match (self.until, other.until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn matches(&self, c: &ConnectionReport) -> bool {
        let ips = [c.client.ip, c.server.ip];
        let ports = [c.client.port, c.server.port];
        (self.host.is_empty() || ips.iter().any(|ip| self.host.contains(ip)))
            && (self.net.is_empty() || ips.iter().any(|ip| self.net.iter().any(|n| n.contains(ip))))
            && (self.port.is_empty() || ports.iter().any(|p| self.port.contains(p)))
            && self.since.is_none_or(|t| c.last_ts >= t)
            && self.until.is_none_or(|t| c.first_ts <= t)
    }
}

/// Parses a time given as seconds since the epoch (`1795261850.5`) or as RFC 3339
/// (`2026-11-21T11:00:00Z`; without a zone, UTC).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return Ok(Timestamp((secs * 1e9).round() as i64));
    }
    let t = humantime::parse_rfc3339_weak(s.trim_end_matches('Z'))
        .map_err(|e| format!("`{s}` is neither epoch seconds nor an RFC 3339 time: {e}"))?;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("`{s}` is before 1970"))?;
    Ok(Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Secs(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Secs(s) => Ok(Timestamp((s * 1e9).round() as i64)),
            Repr::Text(t) => parse_time(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_epoch_or_rfc3339() {
        assert_eq!(parse_time("10.5").unwrap(), Timestamp(10_500_000_000));
        assert_eq!(
            parse_time("1970-01-01T00:01:00Z").unwrap(),
            Timestamp(60_000_000_000)
        );
        assert_eq!(
            parse_time("1970-01-01 00:01:00").unwrap(),
            Timestamp(60_000_000_000)
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn merge_narrows_the_time_window() {
        let mut a = Filter {
            since: Some(Timestamp(5)),
            until: Some(Timestamp(50)),
            ..Filter::default()
        };
        a.merge(Filter {
            since: Some(Timestamp(10)),
            until: Some(Timestamp(40)),
            port: vec![80],
            ..Filter::default()
        });
        assert_eq!(a.since, Some(Timestamp(10)));
        assert_eq!(a.until, Some(Timestamp(40)));
        assert_eq!(a.port, vec![80]);
    }
}
