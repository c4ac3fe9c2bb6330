//! Findings: finished connections grouped into named causes (docs/findings.md).
//!
//! Every connection report passes through [`Findings::add`] as it finishes (each
//! shard keeps its own, [`Findings::merge`] adds them up), which files it under at
//! most a few groups, each a cause and the host it is about. [`Findings::finish`]
//! turns the groups large and tight enough into [`Finding`]s, most severe
//! first. Memory is bounded: a group is a few counters and the 20 smallest ids,
//! and at most [`MAX_GROUPS`] groups are kept (those with the smallest keys,
//! so the result does not depend on how the connections were split between
//! shards).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::{ConnectionReport, PerSide};
use crate::classify::{Class, Flag};
use crate::decode::EndpointAddr;
use crate::flow::{Side, Signals, State};
use crate::time::Timestamp;

/// `Kind::name` (the name in the JSON report) and `Kind::target_name` (the
/// target of `check --fail-on`, `finding:NAME`) from one list.
macro_rules! names {
    ($($kind:ident => $name:literal,)*) => {
        /// The name in the JSON report and in `check --fail-on finding:NAME`.
        pub fn name(self) -> &'static str {
            match self {
                $(Kind::$kind => $name,)*
            }
        }

        /// The target of `check --fail-on`: `finding:NAME`.
        pub fn target_name(self) -> &'static str {
            match self {
                $(Kind::$kind => concat!("finding:", $name),)*
            }
        }
    };
}

/// A cause, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Kind {
    MiddleboxReset,
    IdleTimeout,
    KeepaliveRace,
    PeerVanishedRetransmissions,
    PeerVanishedKeepalive,
    ZeroWindowStall,
    FinWait1Pileup,
    CloseWaitLeak,
    ListenQueueOverflow,
    PortReuse,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::MiddleboxReset,
        Kind::IdleTimeout,
        Kind::KeepaliveRace,
        Kind::PeerVanishedRetransmissions,
        Kind::PeerVanishedKeepalive,
        Kind::ZeroWindowStall,
        Kind::FinWait1Pileup,
        Kind::CloseWaitLeak,
        Kind::ListenQueueOverflow,
        Kind::PortReuse,
    ];

    names! {
        MiddleboxReset => "middlebox_reset",
        IdleTimeout => "idle_timeout",
        KeepaliveRace => "keepalive_race",
        PeerVanishedRetransmissions => "peer_vanished_retransmissions",
        PeerVanishedKeepalive => "peer_vanished_keepalive",
        ZeroWindowStall => "zero_window_stall",
        FinWait1Pileup => "fin_wait_1_pileup",
        CloseWaitLeak => "close_wait_leak",
        ListenQueueOverflow => "listen_queue_overflow",
        PortReuse => "port_reuse",
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Connections a group needs before it is a finding.
    fn min_connections(self) -> u64 {
        match self {
            Kind::FinWait1Pileup | Kind::CloseWaitLeak => 10,
            Kind::ZeroWindowStall | Kind::MiddleboxReset => 2,
            _ => 3,
        }
    }

    /// What it means, in one paragraph.
    fn meaning(self) -> &'static str {
        match self {
            Kind::MiddleboxReset => {
                "RSTs that carry the endpoint's address but another TTL than its other packets on the same connection: something on the path (a firewall, NAT, load balancer or IPS) made them, not the endpoint."
            }
            Kind::IdleTimeout => {
                "Connections ended by the same side after the same silence, within a tight spread: a timer, in that endpoint or in a device between (a load balancer, NAT or firewall forgetting idle flows)."
            }
            Kind::KeepaliveRace => {
                "Requests sent on a pooled connection just after the server closed it for idleness: the server's keep-alive timeout is shorter than the client pool's idle timeout, so the server answers the request with a RST."
            }
            Kind::PeerVanishedRetransmissions => {
                "Data resent with growing back-off and never acknowledged, then nothing: the peer stopped answering (gone, unplugged, or its packets dropped), and the sender's kernel gave up after tcp_retries2 without a packet."
            }
            Kind::PeerVanishedKeepalive => {
                "Keep-alive probes left unanswered, then a RST from the prober: the peer vanished while the connection was idle, and the prober's keep-alive timer gave up."
            }
            Kind::ZeroWindowStall => {
                "A receiver that advertised a zero window and never opened it again: its application stopped reading. The sender probes for as long as the probes are answered; only an application or a timeout ends it."
            }
            Kind::FinWait1Pileup => {
                "Many connections of one host sent a FIN that was never acknowledged, at once: its peers stopped acknowledging (unreachable, a flood, a zero-window attack), and the host holds them in FIN_WAIT_1."
            }
            Kind::CloseWaitLeak => {
                "Many connections of one host acknowledged the peer's FIN and never closed: its application does not close() sockets whose peer has gone, so CLOSE_WAIT sockets accumulate."
            }
            Kind::ListenQueueOverflow => {
                "A listener that answered some SYNs at once and let others go unanswered until they were retransmitted: its accept queue (or SYN queue) was full, so the kernel dropped the SYNs."
            }
            Kind::PortReuse => {
                "One client reused the same source ports toward one server while the previous connection on each 4-tuple was still in TIME_WAIT."
            }
        }
    }

    /// What to check, with the knobs and counters.
    fn checks(self) -> &'static [&'static str] {
        match self {
            Kind::MiddleboxReset => &[
                "The devices between the capture point and the endpoint, about as many hops away as the TTL difference: their idle timeouts, connection limits and IPS rules.",
                "On the endpoint: `nstat -az TcpOutRsts` did not count these RSTs.",
            ],
            Kind::IdleTimeout => &[
                "Timers of that value on the side that closed: the application's idle or keep-alive timeout, a load balancer's idle timeout, a NAT's or firewall's TCP established timeout (Linux conntrack: `nf_conntrack_tcp_timeout_established`).",
                "Keep-alives (`SO_KEEPALIVE` with `TCP_KEEPIDLE` below the timer) or a client idle timeout below it keep the connection from meeting it.",
            ],
            Kind::KeepaliveRace => &[
                "Set the client pool's idle timeout below the server's keep-alive timeout (nginx `keepalive_timeout`, Apache `KeepAliveTimeout`, Node `server.keepAliveTimeout`).",
                "Retry idempotent requests that fail on a reused connection.",
                "On the server: `nstat -az TcpExtTCPAbortOnData TcpOutRsts`.",
            ],
            Kind::PeerVanishedRetransmissions => &[
                "Whether the peer is reachable at all (routes, firewalls dropping one direction, the host down).",
                "`net.ipv4.tcp_retries2` (default 15, about 15 minutes) or `TCP_USER_TIMEOUT` bound how long the sender tries; `nstat -az TcpExtTCPAbortOnTimeout` counts the give-ups.",
            ],
            Kind::PeerVanishedKeepalive => &[
                "Whether the peer is reachable (it went away while the connection was idle).",
                "`net.ipv4.tcp_keepalive_time`, `tcp_keepalive_intvl`, `tcp_keepalive_probes` (or `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`): the probes and the give-up; `nstat -az TcpExtTCPKeepAlive TcpExtTCPAbortOnTimeout`.",
            ],
            Kind::ZeroWindowStall => &[
                "The receiving application: is it reading its sockets (a blocked worker, a full downstream)? `ss -tnm` shows its Recv-Q growing.",
                "On the sender, `nstat -az TcpExtTCPWinProbe`; an orphaned sender gives up after `tcp_orphan_retries` probes, a live one never does.",
            ],
            Kind::FinWait1Pileup => &[
                "Raising `tcp_fin_timeout` is the wrong knob: it bounds orphaned FIN_WAIT_2, not FIN_WAIT_1.",
                "FIN_WAIT_1 is bounded by the retransmissions of the FIN: `net.ipv4.tcp_orphan_retries` for orphans (`tcp_retries2` otherwise), and by `net.ipv4.tcp_max_orphans` (past it, orphans are reset: `TcpExtTCPAbortOnMemory`).",
                "Whether the peers are reachable, or are flooding or keeping their window at zero.",
            ],
            Kind::CloseWaitLeak => &[
                "The application on that host: a code path that does not close() a socket once read() returned 0 (end of stream). `ss -tanp state close-wait` names the process.",
                "No kernel timer ends CLOSE_WAIT; only the application's close() or keep-alive (`SO_KEEPALIVE`) failing on a vanished peer.",
            ],
            Kind::ListenQueueOverflow => &[
                "The listen backlog (`listen(fd, n)`, capped by `net.core.somaxconn`) and `net.ipv4.tcp_max_syn_backlog`; an application slow to accept().",
                "`nstat -az TcpExtListenOverflows TcpExtListenDrops` on the server, and `ss -ltn` (Recv-Q above Send-Q on the LISTEN socket).",
            ],
            Kind::PortReuse => &[
                "The client's `net.ipv4.ip_local_port_range` (default 32768–60999) against its connection rate; `net.ipv4.tcp_tw_reuse` on the client.",
                "Keep connections alive (pooling) instead of one connection per request.",
            ],
        }
    }
}

/// One finding in the report.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Which finding; written as its [`Kind::name`] (`"name"`).
    #[serde(rename = "name", serialize_with = "kind_name")]
    pub kind: Kind,
    /// One line that says it all, for people.
    pub summary: String,
    /// `false` for what is worth knowing but failed nothing (every reuse
    /// accepted); `check --fail-on finding:NAME` fails on any finding anyway.
    pub problem: bool,
    /// The host (address, or address:port for a server) it is about.
    pub host: String,
    /// Connections it covers.
    pub connections: u64,
    /// First and last packet of those connections.
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// Report ids of some of them (at most 20): those that make it a problem
    /// (a reuse the kernel would not accept), then the smallest.
    pub evidence: Vec<u64>,
    /// The numbers behind the summary, each named in docs/findings.md.
    pub values: BTreeMap<&'static str, f64>,
    pub meaning: &'static str,
    pub checks: &'static [&'static str],
}

fn kind_name<S: serde::Serializer>(k: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

/// Findings' groups kept at most.
pub const MAX_GROUPS: usize = 4096;
/// Ids kept per group.
const EVIDENCE: usize = 20;
/// Ids of the connections that make a group a problem, kept per group.
const NOTABLE: usize = 5;

/// Keeps `id` in `list` (sorted, at most `cap`) if it is among the smallest.
fn keep_smallest(list: &mut Vec<u64>, id: u64, cap: usize) {
    let at = list.partition_point(|&x| x < id);
    if at < cap && list.get(at) != Some(&id) {
        list.insert(at, id);
        list.truncate(cap);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    kind: Kind,
    host: EndpointAddr,
    /// The peer address, for what is about a pair of hosts.
    peer: Option<IpAddr>,
    /// A kind's own sub-key (an idle time's tenth of a second, a TTL pair).
    bucket: i64,
}

/// Minimum, maximum and sum of a value.
#[derive(Clone, Copy, Debug)]
struct Stat {
    n: u64,
    min: f64,
    max: f64,
    sum: f64,
}

impl Default for Stat {
    fn default() -> Stat {
        Stat {
            n: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }
}

impl Stat {
    fn add(&mut self, v: f64) {
        self.n += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
    }

    fn merge(&mut self, o: &Stat) {
        self.n += o.n;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
    }

    fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }
}

#[derive(Clone, Debug)]
struct Group {
    count: u64,
    first: Timestamp,
    last: Timestamp,
    ids: Vec<u64>,
    /// The smallest ids of the connections that make it a problem (a
    /// `port_reuse`'s reuses the kernel would not accept), listed first.
    notable: Vec<u64>,
    a: Stat,
    b: Stat,
    c: Stat,
    /// Connections whose close answered the segment that ended the silence.
    answered: u64,
    /// Source ports seen (port reuse only).
    ports: Ports,
}

/// A set of ports: a sorted list while it is short (a flood's groups reuse a
/// port or two each), a bit per port past [`Ports::FEW`] (8 KiB).
#[derive(Clone, Debug, Default)]
enum Ports {
    #[default]
    None,
    Few(Vec<u16>),
    Many(Box<[u64; 1024]>),
}

impl Ports {
    const FEW: usize = 64;

    fn insert(&mut self, port: u16) {
        match self {
            Ports::None => *self = Ports::Few(vec![port]),
            Ports::Few(list) => match list.binary_search(&port) {
                Ok(_) => {}
                Err(at) if list.len() < Ports::FEW => list.insert(at, port),
                Err(_) => {
                    let mut bits = Box::new([0u64; 1024]);
                    for &p in list.iter().chain([&port]) {
                        bits[usize::from(p) / 64] |= 1 << (p % 64);
                    }
                    *self = Ports::Many(bits);
                }
            },
            Ports::Many(bits) => bits[usize::from(port) / 64] |= 1 << (port % 64),
        }
    }

    fn merge(&mut self, other: Ports) {
        match other {
            Ports::None => {}
            Ports::Few(list) => list.into_iter().for_each(|p| self.insert(p)),
            Ports::Many(theirs) => {
                if let Ports::Many(mine) = self {
                    for (m, t) in mine.iter_mut().zip(theirs.iter()) {
                        *m |= t;
                    }
                } else {
                    let mine = std::mem::replace(self, Ports::Many(theirs));
                    self.merge(mine);
                }
            }
        }
    }

    fn len(&self) -> u64 {
        match self {
            Ports::None => 0,
            Ports::Few(list) => list.len() as u64,
            Ports::Many(bits) => bits.iter().map(|w| u64::from(w.count_ones())).sum(),
        }
    }
}

impl Group {
    fn new() -> Group {
        Group {
            count: 0,
            first: Timestamp(i64::MAX),
            last: Timestamp(i64::MIN),
            ids: Vec::new(),
            notable: Vec::new(),
            a: Stat::default(),
            b: Stat::default(),
            c: Stat::default(),
            answered: 0,
            ports: Ports::None,
        }
    }

    fn merge(&mut self, o: Group) {
        self.count += o.count;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        for id in o.ids {
            keep_smallest(&mut self.ids, id, EVIDENCE);
        }
        for id in o.notable {
            keep_smallest(&mut self.notable, id, NOTABLE);
        }
        self.a.merge(&o.a);
        self.b.merge(&o.b);
        self.c.merge(&o.c);
        self.answered += o.answered;
        self.ports.merge(o.ports);
    }
}

/// The findings' groups of the connections seen so far.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    groups: BTreeMap<Key, Group>,
    /// Groups were dropped to stay within [`MAX_GROUPS`].
    truncated: bool,
    /// What a connection past the cap is counted in (and forgotten).
    spare: Group,
}

impl Default for Group {
    fn default() -> Group {
        Group::new()
    }
}

/// Seconds between two timestamps.
fn secs(later: Timestamp, earlier: Timestamp) -> f64 {
    later.secs_since(earlier)
}

/// The address a finding names for `side`: a server with its port, a client
/// by its address alone (its ports come and go).
fn host_of(c: &ConnectionReport, side: Side) -> EndpointAddr {
    match side {
        Side::Server => c.server,
        Side::Client => EndpointAddr {
            ip: c.client.ip,
            port: 0,
        },
    }
}

fn side_of<T>(p: &PerSide<T>, side: Side) -> &T {
    match side {
        Side::Client => &p.client,
        Side::Server => &p.server,
    }
}

impl Findings {
    /// Files one finished connection under the groups it belongs to.
    pub fn add(&mut self, c: &ConnectionReport) {
        // Claimed by a finding that names its cause better than a timer.
        let mut claimed = false;
        // Who closed first, with what, and when.
        let fin = c.evidence.fins.iter().min_by_key(|f| f.first.ts);
        let rst = c.evidence.rsts.iter().find(|r| r.valid);
        let first_close = match (fin, rst) {
            (Some(f), Some(r)) if r.at.ts < f.first.ts => Some((r.side, true, r.at.ts)),
            (Some(f), _) => Some((f.side, false, f.first.ts)),
            (None, Some(r)) => Some((r.side, true, r.at.ts)),
            (None, None) => None,
        };
        if let Some(reset) = &c.reset {
            let by = reset.by;
            let signals = side_of(&c.signals, by);
            // A keep-alive race: the closer's FIN, the peer's request after
            // it, the closer's RST.
            if let (Some(f), Some(r)) = (fin, rst)
                && f.side == by
                && r.side == by
                && c.flags.contains(&Flag::DataAfterFin)
            {
                claimed = true;
                let g = self.group(c, Kind::KeepaliveRace, host_of(c, by), None, 0);
                g.a.add(f64::from(c.timings.idle_before_close.unwrap_or(0.0)));
                g.b.add(secs(r.at.ts, f.first.ts));
            }
            // A RST with another TTL than its sender's other segments.
            if let (Some(rt), Some(t)) = (signals.rst_ttl, signals.ttl)
                && rt != t
                && !signals.ttl_varies
            {
                let bucket = i64::from(rt) << 8 | i64::from(t);
                let g = self.group(c, Kind::MiddleboxReset, host_of(c, by), None, bucket);
                g.a.add(f64::from(signals.rst_ip_id));
                g.b.add(c.quiet_before_close.unwrap_or(0.0));
            }
            // Keep-alive probes unanswered, then the prober's RST.
            if signals.unanswered_probes >= 2
                && let (Some(since), Some(r)) = (signals.probes_since(), rst)
                && side_of(&c.signals, by.other())
                    .zero_window_since()
                    .is_none()
            {
                claimed = true;
                let g = self.group(
                    c,
                    Kind::PeerVanishedKeepalive,
                    host_of(c, by.other()),
                    None,
                    0,
                );
                g.a.add(f64::from(signals.unanswered_probes));
                g.b.add(secs(r.at.ts, since));
            }
        }
        // Ended by one side after the same silence.
        if !claimed
            && matches!(
                c.class,
                Class::Reset | Class::LostFin | Class::HalfClosedHang
            )
            && let (Some((side, by_rst, at)), Some(quiet)) = (first_close, c.quiet_before_close)
            && quiet >= IDLE_MIN_S
        {
            let bucket = (quiet * 10.0).round() as i64 * 2 + i64::from(by_rst);
            let g = self.group(c, Kind::IdleTimeout, host_of(c, side), None, bucket);
            g.a.add(quiet);
            g.c.add(at.as_secs_f64());
            g.answered += u64::from(c.close_answered);
            let s = side_of(&c.signals, side);
            let injected = by_rst && matches!((s.rst_ttl, s.ttl), (Some(r), Some(t)) if r != t);
            if injected {
                g.b.add(f64::from(s.rst_ttl.unwrap_or(0)) * 256.0 + f64::from(s.ttl.unwrap_or(0)));
            }
        }
        for side in [Side::Client, Side::Server] {
            let s: &Signals = side_of(&c.signals, side);
            // The side's last data resent and never acknowledged.
            if let Some((_, first, last, tx)) = s.stuck()
                && tx >= 3
                && c.class != Class::Clean
            {
                let g = self.group(
                    c,
                    Kind::PeerVanishedRetransmissions,
                    host_of(c, side.other()),
                    None,
                    0,
                );
                g.a.add(f64::from(tx - 1));
                g.b.add(secs(last, first));
            }
            // A receiver whose window stayed shut.
            if let Some(since) = s.zero_window_since() {
                let end = rst.map_or(c.last_ts, |r| r.at.ts);
                let stalled = secs(end, since);
                if stalled >= ZERO_WINDOW_MIN_S {
                    let g = self.group(c, Kind::ZeroWindowStall, host_of(c, side), None, 0);
                    g.a.add(stalled);
                    g.b.add(if rst.is_some() { 1.0 } else { 0.0 });
                }
            }
        }
        // FIN_WAIT_1 that never ended.
        if c.class == Class::LostFin
            && let Some(f) = fin
            && c.last_seen_state(f.side) == State::FinWait1
        {
            let g = self.group(c, Kind::FinWait1Pileup, host_of(c, f.side), None, 0);
            g.a.add(f64::from(f.transmissions));
            g.b.add(f.first.ts.as_secs_f64());
        }
        // CLOSE_WAIT that never ended.
        if c.class == Class::HalfClosedHang {
            for side in [Side::Client, Side::Server] {
                if c.last_seen_state(side) == State::CloseWait {
                    let g = self.group(c, Kind::CloseWaitLeak, host_of(c, side), None, 0);
                    g.a.add(f64::from(c.timings.close_wait.unwrap_or(0.0)));
                }
            }
        }
        // SYNs retransmitted before the listener answered.
        if c.evidence.syn_transmissions.client >= 3
            && c.evidence.syn_ack.is_some()
            && let Some(syn) = c.evidence.syn
            && let Some(ack) = c.evidence.syn_ack
        {
            let g = self.group(c, Kind::ListenQueueOverflow, c.server, None, 0);
            g.a.add(secs(ack.ts, c.first_ts.min(syn.ts)));
            g.b.add(f64::from(c.evidence.syn_transmissions.client));
        }
        // A 4-tuple reused while its previous connection was in TIME_WAIT.
        if let Some(reuse) = &c.reuse {
            let g = self.group(c, Kind::PortReuse, c.server, Some(c.client.ip), 0);
            g.a.add(reuse.gap);
            if !reuse.kernel_accepts {
                g.b.add(1.0);
                keep_smallest(&mut g.notable, c.id, NOTABLE);
            }
            g.ports.insert(c.client.port);
        }
    }

    /// The findings of `report` connection `c` belongs to: those of the kinds
    /// and hosts it was filed under.
    pub fn of<'f>(c: &ConnectionReport, findings: &'f [Finding]) -> Vec<&'f Finding> {
        let mut one = Findings::default();
        one.add(c);
        findings
            .iter()
            .filter(|f| {
                one.groups
                    .keys()
                    .any(|k| k.kind == f.kind && display(k.host) == f.host)
            })
            .collect()
    }

    /// The group of `c` under this key, counting `c` in it.
    fn group(
        &mut self,
        c: &ConnectionReport,
        kind: Kind,
        host: EndpointAddr,
        peer: Option<IpAddr>,
        bucket: i64,
    ) -> &mut Group {
        let key = Key {
            kind,
            host,
            peer,
            bucket,
        };
        if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(&key) {
            self.truncated = true;
            // Keep the smallest keys: the last one makes way for a smaller.
            let last = *self.groups.keys().next_back().expect("full");
            if key < last {
                self.groups.remove(&last);
            } else {
                // Counted nowhere.
                self.spare = Group::new();
                return &mut self.spare;
            }
        }
        let g = self.groups.entry(key).or_default();
        g.count += 1;
        g.first = g.first.min(c.first_ts);
        g.last = g.last.max(c.last_ts);
        keep_smallest(&mut g.ids, c.id, EVIDENCE);
        g
    }

    pub fn merge(&mut self, other: Findings) {
        self.truncated |= other.truncated;
        for (k, g) in other.groups {
            match self.groups.get_mut(&k) {
                Some(mine) => mine.merge(g),
                None => {
                    self.groups.insert(k, g);
                }
            }
        }
        while self.groups.len() > MAX_GROUPS {
            self.truncated = true;
            self.groups.pop_last();
        }
    }

    /// The findings, most severe first (then by connections, most first).
    /// `thresholds.port_range` is the clients' ephemeral port range.
    pub fn finish(self, thresholds: &crate::classify::Thresholds) -> Vec<Finding> {
        let range = thresholds.port_range;
        let mut out = Vec::new();
        let mut idle: BTreeMap<(EndpointAddr, bool), Vec<(i64, Group)>> = BTreeMap::new();
        let mut absorbed: Vec<EndpointAddr> = Vec::new();
        for (key, g) in self.groups {
            if key.kind == Kind::IdleTimeout {
                idle.entry((key.host, key.bucket % 2 == 1))
                    .or_default()
                    .push((key.bucket / 2, g));
                continue;
            }
            if g.count < key.kind.min_connections() {
                continue;
            }
            out.push((key, g));
        }
        // Idle times: the densest run of adjacent tenths of a second.
        let mut idle_findings = Vec::new();
        for ((host, by_rst), buckets) in idle {
            if let Some(g) = densest(buckets) {
                // A timer: the same silence before closes spread out in
                // time, not closes at one instant after varied silences
                // (a host closing all its connections at once).
                let spread = g.a.max - g.a.min;
                let closes_span = g.c.max - g.c.min;
                if g.count >= Kind::IdleTimeout.min_connections()
                    && spread <= (g.a.mean() * 0.05).max(0.5)
                    && closes_span > 2.0 * spread
                {
                    if g.b.n * 2 > g.count {
                        absorbed.push(host);
                    }
                    idle_findings.push((host, by_rst, g));
                }
            }
        }
        let mut findings: Vec<Finding> = Vec::new();
        for (host, by_rst, g) in idle_findings {
            findings.push(idle_finding(host, by_rst, g));
        }
        for (key, g) in out {
            if key.kind == Kind::MiddleboxReset && absorbed.contains(&key.host) {
                continue;
            }
            findings.push(finding(key, g, range));
        }
        findings.sort_by(|a, b| {
            let key = |f: &Finding| (!f.problem, f.kind, std::cmp::Reverse(f.connections));
            key(a).cmp(&key(b)).then_with(|| a.host.cmp(&b.host))
        });
        findings
    }

    /// Groups were dropped to stay within [`MAX_GROUPS`].
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

/// Silence (s) below which a close is not looked at for a timer.
const IDLE_MIN_S: f64 = 1.0;
/// A zero window held this long (s) is a stall.
const ZERO_WINDOW_MIN_S: f64 = 1.0;

/// The run of adjacent buckets (tenths of a second) holding the most
/// connections, merged.
fn densest(mut buckets: Vec<(i64, Group)>) -> Option<Group> {
    buckets.sort_by_key(|(b, _)| *b);
    let mut best: Option<(u64, usize, usize)> = None;
    let mut start = 0;
    for i in 0..buckets.len() {
        if i > 0 && buckets[i].0 > buckets[i - 1].0 + 1 {
            start = i;
        }
        // Runs of up to 3 tenths: a tight spread.
        while buckets[i].0 - buckets[start].0 > 2 {
            start += 1;
        }
        let n: u64 = buckets[start..=i].iter().map(|(_, g)| g.count).sum();
        if best.is_none_or(|(m, ..)| n > m) {
            best = Some((n, start, i));
        }
    }
    let (_, s, e) = best?;
    let mut run = buckets.drain(s..=e);
    let mut g = run.next()?.1;
    for (_, o) in run {
        g.merge(o);
    }
    Some(g)
}

fn idle_finding(host: EndpointAddr, by_rst: bool, g: Group) -> Finding {
    let how = if by_rst { "reset" } else { "closed with a FIN" };
    let mut values = BTreeMap::from([
        ("idle_s", round3(g.a.mean())),
        ("idle_min_s", round3(g.a.min)),
        ("idle_max_s", round3(g.a.max)),
    ]);
    // Closes that answered the first segment after the silence say the
    // timer ran out during it: at most that long. Closes that came by
    // themselves say how long it is.
    let answered = g.answered * 2 > g.count;
    let timer = if answered {
        format!(
            "a timer of at most {:.1} s (each {} answered the first segment after the silence)",
            g.a.mean(),
            if by_rst { "RST" } else { "FIN" }
        )
    } else {
        format!("a timer of about {:.1} s", g.a.mean())
    };
    let mut summary = format!(
        "{} connections {how} by {} after {:.1} ± {:.1} s idle: {timer}",
        g.count,
        display(host),
        g.a.mean(),
        (g.a.max - g.a.min) / 2.0,
    );
    if g.b.n * 2 > g.count {
        // One connection's pair (they are alike when the RSTs come from one device).
        let pair = g.b.min as u32;
        let (rst_ttl, ttl) = (pair >> 8, pair & 0xff);
        values.insert("rst_ttl", f64::from(rst_ttl));
        values.insert("endpoint_ttl", f64::from(ttl));
        summary.push_str(&format!(
            "; the RSTs came from the path, not {}: TTL {rst_ttl} where its packets had {ttl}",
            host.ip
        ));
    } else {
        summary.push_str(", in that endpoint or a device between");
    }
    if !answered && let Some(suspects) = commonly(g.a.mean()) {
        summary.push_str(&format!(" (commonly, a timer of this value is {suspects})"));
    }
    Finding {
        kind: Kind::IdleTimeout,
        summary,
        problem: true,
        host: display(host),
        connections: g.count,
        first_ts: g.first,
        last_ts: g.last,
        evidence: g.ids,
        values,
        meaning: Kind::IdleTimeout.meaning(),
        checks: Kind::IdleTimeout.checks(),
    }
}

fn finding(key: Key, g: Group, (low, high): (u16, u16)) -> Finding {
    let host = display(key.host);
    let n = g.count;
    let mut values = BTreeMap::new();
    let mut problem = true;
    let summary = match key.kind {
        Kind::MiddleboxReset => {
            let (rst_ttl, ttl) = (key.bucket >> 8, key.bucket & 0xff);
            values.insert("rst_ttl", rst_ttl as f64);
            values.insert("endpoint_ttl", ttl as f64);
            let hops = (rst_ttl - ttl).abs();
            let where_ = if rst_ttl > ttl {
                "closer to"
            } else {
                "farther from"
            };
            let ids = if g.a.max == 0.0 && key.host.ip.is_ipv4() {
                ", all with IP ID 0"
            } else {
                ""
            };
            format!(
                "{n} RSTs in the name of {host} came from the path: TTL {rst_ttl} where {}'s packets had {ttl}, about {hops} hop{} {where_} the capture point{ids}",
                key.host.ip,
                if hops == 1 { "" } else { "s" }
            )
        }
        Kind::KeepaliveRace => {
            values.insert("server_idle_s", round3(g.a.mean()));
            values.insert("server_idle_min_s", round3(g.a.min));
            values.insert("server_idle_max_s", round3(g.a.max));
            values.insert("race_max_s", round3(g.b.max));
            format!(
                "{n} requests sent on pooled connections to {host} up to {:.0} ms after its keep-alive FIN were reset: it closes idle connections after {:.2} s, the clients reuse them later; set the client's idle timeout below {:.2} s",
                g.b.max * 1000.0,
                g.a.min,
                g.a.min
            )
        }
        Kind::PeerVanishedRetransmissions => {
            values.insert("retransmissions_max", g.a.max);
            values.insert("retrying_max_s", round3(g.b.max));
            format!(
                "{n} connections to {host} resent their last data up to {} times over {:.1} s without an acknowledgment, then went silent: the peer vanished and the sender gave up (tcp_retries2)",
                g.a.max, g.b.max
            )
        }
        Kind::PeerVanishedKeepalive => {
            values.insert("probes_max", g.a.max);
            values.insert("probing_max_s", round3(g.b.max));
            format!(
                "{n} connections to {host} sent up to {} keep-alive probes over {:.1} s that went unanswered, then reset: the peer vanished while idle",
                g.a.max, g.b.max
            )
        }
        Kind::ZeroWindowStall => {
            values.insert("stalled_max_s", round3(g.a.max));
            values.insert("reset_by_sender", g.b.sum);
            format!(
                "{host} kept a zero window on {n} connections for up to {:.1} s: it stopped reading; {} of them were reset by the sender, the others still stalled at the end",
                g.a.max, g.b.sum
            )
        }
        Kind::FinWait1Pileup => {
            values.insert("fin_transmissions_max", g.a.max);
            values.insert("fins_spread_s", round3(g.b.max - g.b.min));
            format!(
                "{host} held {n} connections in FIN_WAIT_1: their FINs (sent within {}, each up to {} times) were never acknowledged; tcp_orphan_retries and tcp_max_orphans bound this, not tcp_fin_timeout",
                duration(g.b.max - g.b.min),
                g.a.max
            )
        }
        Kind::CloseWaitLeak => {
            values.insert("close_wait_max_s", round3(g.a.max));
            format!(
                "{host} left {n} connections in CLOSE_WAIT (up to {:.1} s): its application does not close sockets its peers have closed",
                g.a.max
            )
        }
        Kind::ListenQueueOverflow => {
            values.insert("handshake_delay_max_s", round3(g.a.max));
            values.insert("syn_transmissions_max", g.b.max);
            format!(
                "{host} left the SYNs of {n} connections unanswered until they had been sent up to {} times (answered up to {} late): its listen queue was full",
                g.b.max,
                duration(g.a.max)
            )
        }
        Kind::PortReuse => {
            let peer = key.peer.map(|p| p.to_string()).unwrap_or_default();
            let ports = g.ports.len();
            let unsafe_reuses = g.b.n;
            values.insert("ports", ports as f64);
            values.insert("reuse_gap_s", round3(g.a.mean()));
            values.insert("unsafe_reuses", unsafe_reuses as f64);
            // connect() takes ports of the range's low parity first
            // (`__inet_hash_connect`): past most of that half, every connect()
            // scans further and the other half is next.
            let range = u64::from(high - low) + 1;
            let first_pass = range.div_ceil(2);
            let share = ports as f64 / range as f64;
            let pressure = ports as f64 >= 0.9 * first_pass as f64;
            problem = unsafe_reuses > 0 || pressure;
            values.insert("range_share", round3(share));
            let listed: Vec<String> = g.notable.iter().map(|id| format!("#{id}")).collect();
            let verdict = match unsafe_reuses {
                0 => "every reuse was accepted".to_string(),
                1 => format!("1 reuse the kernel would not accept ({})", listed.join(" ")),
                u => format!(
                    "{u} reuses the kernel would not accept ({}{})",
                    listed.join(" "),
                    if u > listed.len() as u64 { " …" } else { "" }
                ),
            };
            let pressure_note = if pressure {
                format!(
                    "; near exhaustion: connect() takes the {} ports of one parity first and {} are in use",
                    group_digits(first_pass),
                    group_digits(ports)
                )
            } else {
                String::new()
            };
            format!(
                "{peer} cycles {} source ports ({} of the port range {low}–{high}) toward {host}, each reused ~{:.1} s after its TIME_WAIT began ({} reuses); {verdict}{pressure_note}",
                group_digits(ports),
                percent(share),
                g.a.mean(),
                group_digits(n)
            )
        }
        Kind::IdleTimeout => unreachable!("idle groups are merged first"),
    };
    // The connections that make it a problem first, then the smallest others.
    let mut evidence = g.notable.clone();
    for &id in &g.ids {
        if evidence.len() < EVIDENCE && !evidence.contains(&id) {
            evidence.push(id);
        }
    }
    Finding {
        kind: key.kind,
        summary,
        problem,
        host,
        connections: n,
        first_ts: g.first,
        last_ts: g.last,
        evidence,
        values,
        meaning: key.kind.meaning(),
        checks: key.kind.checks(),
    }
}

fn display(host: EndpointAddr) -> String {
    if host.port == 0 {
        host.ip.to_string()
    } else {
        host.to_string()
    }
}

/// Timers of about `secs` seconds often met, said as "commonly" only: a
/// match of the value, not a fact about the capture's devices.
fn commonly(secs: f64) -> Option<&'static str> {
    const TIMERS: &[(f64, &str)] = &[
        (
            5.0,
            "Apache's KeepAliveTimeout or Node.js's server.keepAliveTimeout default",
        ),
        (
            60.0,
            "an AWS Application Load Balancer's default idle timeout",
        ),
        (75.0, "nginx's default keepalive_timeout"),
        (
            240.0,
            "an Azure Load Balancer's default idle timeout (4 minutes)",
        ),
        (350.0, "an AWS Network Load Balancer's TCP idle timeout"),
        (
            600.0,
            "a cloud firewall's connection tracking timeout (10 minutes)",
        ),
    ];
    TIMERS
        .iter()
        .find(|(t, _)| (secs - t).abs() <= t * 0.02 + 0.1)
        .map(|(_, what)| *what)
}

/// A share for people: `<1%` rather than `0%`.
fn percent(share: f64) -> String {
    if share > 0.0 && share < 0.005 {
        "<1%".into()
    } else {
        format!("{:.0}%", share * 100.0)
    }
}

/// Seconds for people: milliseconds below one second.
fn duration(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.1} s")
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Options, analyze};

    fn connections(rel: &str) -> Vec<ConnectionReport> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(rel);
        let mut options = Options::new(vec![path]);
        options.threads = 1;
        analyze(&options).report.connections
    }

    fn json(f: &[Finding]) -> String {
        serde_json::to_string(f).unwrap()
    }

    #[test]
    fn findings_merged_from_shards_are_the_findings_of_one() {
        let t = crate::classify::Thresholds::default();
        for rel in [
            "findings/keepalive-race.pcap",
            "findings/idle-timeout.pcap",
            "findings/port-reuse.pcap",
            "timeline/client.pcap",
        ] {
            let all = connections(rel);
            let mut one = Findings::default();
            let (mut a, mut b) = (Findings::default(), Findings::default());
            for c in &all {
                one.add(c);
                if c.id % 3 == 0 { a.add(c) } else { b.add(c) }
            }
            a.merge(b);
            let whole = one.finish(&t);
            assert!(!whole.is_empty(), "{rel}");
            assert_eq!(json(&a.finish(&t)), json(&whole), "{rel}");
        }
    }

    #[test]
    fn a_finding_s_evidence_is_its_smallest_ids_whatever_the_order() {
        let t = crate::classify::Thresholds::default();
        let mut all = connections("findings/port-reuse.pcap");
        let mut forward = Findings::default();
        all.iter().for_each(|c| forward.add(c));
        all.reverse();
        let mut backward = Findings::default();
        all.iter().for_each(|c| backward.add(c));
        let (f, b) = (forward.finish(&t), backward.finish(&t));
        assert_eq!(f[0].evidence.len(), EVIDENCE);
        assert!(f[0].evidence.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(f[0].evidence, b[0].evidence);
    }

    #[test]
    fn past_the_group_cap_the_smallest_hosts_are_kept_whatever_the_shards() {
        let t = crate::classify::Thresholds::default();
        let raced = connections("findings/keepalive-race.pcap")
            .into_iter()
            .find(|c| c.class == Class::Reset)
            .unwrap();
        // Each its own server port: one group each, past the cap.
        let many: Vec<ConnectionReport> = (0..(MAX_GROUPS as u64 + 500))
            .flat_map(|i| (0..3).map(move |k| (i, k)))
            .map(|(i, k)| {
                let mut c = raced.clone();
                c.id = i * 3 + k;
                c.server.port = 1 + i as u16;
                c
            })
            .collect();
        let mut one = Findings::default();
        let (mut a, mut b) = (Findings::default(), Findings::default());
        for c in &many {
            one.add(c);
            if c.id % 7 < 3 { a.add(c) } else { b.add(c) }
        }
        a.merge(b);
        assert!(one.truncated() && a.truncated());
        assert_eq!(one.groups.len(), MAX_GROUPS);
        let (whole, merged) = (one.finish(&t), a.finish(&t));
        assert_eq!(json(&merged), json(&whole));
        // The ports kept are the smallest ones, each with all 3 connections.
        assert_eq!(whole.len(), MAX_GROUPS);
        assert!(whole.iter().all(|f| f.connections == 3));
        assert!(
            whole.iter().all(
                |f| f.host.rsplit(':').next().unwrap().parse::<usize>().unwrap() <= MAX_GROUPS
            )
        );
    }

    fn bucket(count: u64, idle: f64) -> Group {
        let mut g = Group::new();
        g.count = count;
        for _ in 0..count {
            g.a.add(idle);
        }
        g
    }

    #[test]
    fn the_densest_idle_run_spans_at_most_three_adjacent_tenths() {
        let g = densest(vec![
            (20, bucket(5, 2.0)),
            (21, bucket(4, 2.1)),
            (22, bucket(1, 2.2)),
            (23, bucket(6, 2.3)),
            (50, bucket(9, 5.0)),
        ])
        .unwrap();
        // 2.1–2.3 holds 11, more than 5.0's 9 and than 2.0–2.2's 10.
        assert_eq!(g.count, 11);
        assert_eq!((g.a.min, g.a.max), (2.1, 2.3));
        assert!(densest(Vec::new()).is_none());
    }

    #[test]
    fn a_port_set_counts_each_port_once_as_a_list_and_as_bits() {
        let (mut a, mut b) = (Ports::default(), Ports::default());
        for p in (0..200u16).map(|i| i * 3) {
            a.insert(p);
            a.insert(p);
        }
        for p in 0..10u16 {
            b.insert(p);
        }
        assert!(matches!(a, Ports::Many(_)) && matches!(b, Ports::Few(_)));
        assert_eq!((a.len(), b.len()), (200, 10));
        // 0, 3, 6, 9 are in both.
        let mut few_first = b.clone();
        few_first.merge(a.clone());
        a.merge(b);
        assert_eq!((a.len(), few_first.len()), (206, 206));
    }

    #[test]
    fn common_timers_are_named_only_near_their_value() {
        assert!(commonly(350.2).unwrap().contains("Network Load Balancer"));
        assert!(commonly(75.0).unwrap().contains("nginx"));
        assert_eq!(commonly(100.0), None);
        assert_eq!(commonly(2.0), None);
    }
}
