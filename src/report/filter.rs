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

impl std::fmt::Display for Filter {
    /// The filter as the command line gives it: `--port 443 --host 10.0.0.5`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.host.iter().map(|h| format!("--host {h}")));
        parts.extend(self.net.iter().map(|n| format!("--net {n}")));
        parts.extend(self.port.iter().map(|p| format!("--port {p}")));
        parts.extend(self.since.map(|t| format!("--since {}", t.rfc3339())));
        parts.extend(self.until.map(|t| format!("--until {}", t.rfc3339())));
        f.write_str(&parts.join(" "))
    }
}

/// Parses a time given as seconds since the epoch (`1795261850.5`) or as RFC 3339
/// with its offset (`2026-11-21T11:00:00Z`, `2026-11-21T12:00:00+01:00`; a
/// space for the `T`; without an offset, UTC, as a capture's clock is).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return Ok(Timestamp((secs * 1e9).round() as i64));
    }
    let bad = |why: &dyn std::fmt::Display| {
        format!("`{s}` is neither epoch seconds nor an RFC 3339 time ({why})")
    };
    // The offset: `Z`, `+HH:MM` or `-HH:MM` after the time of day.
    let (local, offset_s) = match s
        .char_indices()
        .rev()
        .find(|&(i, c)| (c == '+' || c == '-') && i > 10 || c == 'Z' || c == 'z')
    {
        Some((i, 'Z' | 'z')) => (&s[..i], 0i64),
        Some((i, sign)) => {
            let (h, m) = s[i + 1..]
                .split_once(':')
                .ok_or_else(|| bad(&"an offset is +HH:MM or -HH:MM"))?;
            let (h, m): (i64, i64) = (
                h.parse().map_err(|_| bad(&"bad offset hours"))?,
                m.parse().map_err(|_| bad(&"bad offset minutes"))?,
            );
            if h > 23 || m > 59 {
                return Err(bad(&"offset out of range"));
            }
            let secs = h * 3600 + m * 60;
            (&s[..i], if sign == '-' { -secs } else { secs })
        }
        None => (s, 0),
    };
    let t = humantime::parse_rfc3339_weak(local).map_err(|e| bad(&e))?;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("`{s}` is before 1970"))?;
    let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    Ok(Timestamp(
        ns.saturating_sub(offset_s.saturating_mul(1_000_000_000)),
    ))
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
    fn times_with_an_offset_are_that_far_from_utc() {
        let utc = parse_time("2026-11-21T11:00:00Z").unwrap();
        assert_eq!(parse_time("2026-11-21T12:00:00+01:00").unwrap(), utc);
        assert_eq!(parse_time("2026-11-21T06:30:00-04:30").unwrap(), utc);
        assert_eq!(
            parse_time("2026-11-21 12:00:00.5+01:00").unwrap().0,
            utc.0 + 500_000_000
        );
        // Without an offset, UTC.
        assert_eq!(parse_time("2026-11-21T11:00:00").unwrap(), utc);
        assert!(parse_time("2026-11-21T11:00:00+1").is_err());
        assert!(parse_time("2026-11-21T11:00:00+25:00").is_err());
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
