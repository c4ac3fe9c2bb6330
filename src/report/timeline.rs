//! The host socket-state timeline: how many sockets each host held in each
//! RFC 9293 state over the capture, as `ss -tan` on that host would have
//! counted them, summed from every connection's two [`Life`]s (each side on
//! its own host, timers applied: docs/teardown.md).
//!
//! A [`Builder`] takes the finished connections in report order (on the
//! pipeline's writer, so what it keeps never depends on `-j`). Per host and
//! state it keeps a difference array on a fixed grid: a socket in a state
//! from `a` to `b` adds 1 at the first grid instant at or after `a` and takes
//! it back at the first at or after `b`, so a grid point's count is what a
//! sampler at that instant would have seen. The grid starts at the capture's
//! first packet; its step is the smallest of [`STEPS_MS`] that keeps the span
//! within [`MAX_POINTS`] points (coarsened by a whole factor as the capture
//! goes on) or `--timeline-step`. A host that touched few points keeps them
//! as a short list; at most [`KEEP_HOSTS`]×2 hosts are kept apart (fewer on
//! a `--timeline-step` grid, whose arrays are longer), the least busy half
//! folded into "other hosts" beyond that. [`Builder::finish`]
//! picks the [`TOP_HOSTS`] with the highest peak in a state other than
//! ESTABLISHED.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::{EndpointAddr, Life, State, Timestamp};
use crate::flow::timers::Path;

/// The states counted, in the order the reports list them, then the sockets
/// whose state the capture cannot show.
pub const COLUMNS: [&str; COLS] = [
    "SYN_SENT",
    "SYN_RECEIVED",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
    "unknown",
];
const COLS: usize = 10;
const UNKNOWN: usize = 9;
const ESTABLISHED: usize = 2;

/// The states counted, in [`COLUMNS`] order.
pub const STATES: [State; 9] = [
    State::SynSent,
    State::SynReceived,
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::CloseWait,
    State::Closing,
    State::LastAck,
    State::TimeWait,
];

/// A state's name in the timeline (`None` for CLOSED, which it does not count).
pub fn state_name(s: State) -> Option<&'static str> {
    column(s).map(|c| COLUMNS[c])
}

fn column(s: State) -> Option<usize> {
    Some(match s {
        State::SynSent => 0,
        State::SynReceived => 1,
        State::Established => 2,
        State::FinWait1 => 3,
        State::FinWait2 => 4,
        State::CloseWait => 5,
        State::Closing => 6,
        State::LastAck => 7,
        State::TimeWait => 8,
        State::Closed => return None,
    })
}

/// Hosts shown one by one; the others are summed as "other hosts".
pub const TOP_HOSTS: usize = 10;
/// Hosts kept apart while reading: past twice this, the least busy half is
/// folded into "other hosts".
pub const KEEP_HOSTS: usize = 256;
/// Grid points at most, unless `--timeline-step` asks for a finer grid.
pub const MAX_POINTS: u64 = 2000;
/// Grid points at most whatever the step asked for.
pub const MAX_FIXED_POINTS: u64 = 50_000;
/// The steps the grid is chosen from (ms): each a whole multiple of the one
/// before, so the grid coarsens without losing a count.
pub const STEPS_MS: [i64; 19] = [
    1, 2, 10, 20, 100, 200, 1_000, 2_000, 10_000, 20_000, 60_000, 120_000, 600_000, 1_200_000,
    3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000,
];
const MS: i64 = 1_000_000;
/// A host's short list becomes one array per state past this many entries.
const SPARSE_MAX: usize = 64;

/// What the timeline takes of a finished connection: each side's address and
/// socket life, less the expiry (its path says it).
#[derive(Clone, Copy, Debug)]
pub struct Sockets {
    pub local: [EndpointAddr; 2],
    pub path: [Path; 2],
    /// The end of the observation ([`Life::until`]).
    pub until: Timestamp,
    /// [`Life::runs_on`] and [`Life::unknown`] of each side.
    pub runs_on: [bool; 2],
    pub unknown: [bool; 2],
    /// [`Life::until`] of a side the capture cannot show (its last packet).
    pub unknown_until: Timestamp,
}

impl Sockets {
    /// A connection's sockets from its two ends and their lives.
    pub fn of(client: EndpointAddr, server: EndpointAddr, c: &Life, s: &Life) -> Sockets {
        Sockets {
            local: [client, server],
            path: [c.path, s.path],
            until: if c.unknown { s.until } else { c.until },
            runs_on: [c.runs_on, s.runs_on],
            unknown: [c.unknown, s.unknown],
            unknown_until: if c.unknown { c.until } else { s.until },
        }
    }

    /// Side `i`'s life.
    pub fn life(&self, i: usize) -> Life {
        Life {
            path: self.path[i],
            until: if self.unknown[i] {
                self.unknown_until
            } else {
                self.until
            },
            runs_on: self.runs_on[i],
            expiry: None,
            unknown: self.unknown[i],
        }
    }
}

/// One host's counts, as a difference array per column.
#[derive(Clone, Debug)]
enum Series {
    /// `(point, column, change)`, unsorted.
    Sparse(Vec<(u32, u8, i32)>),
    Dense(Box<[Vec<i32>; COLS]>),
}

impl Default for Series {
    fn default() -> Series {
        Series::Sparse(Vec::new())
    }
}

impl Series {
    fn add(&mut self, point: u32, col: usize, d: i32) {
        match self {
            Series::Sparse(v) => {
                v.push((point, col as u8, d));
                if v.len() > SPARSE_MAX {
                    coalesce(v);
                    if v.len() > SPARSE_MAX / 2 {
                        let mut dense: Box<[Vec<i32>; COLS]> = Box::default();
                        for &(p, c, d) in v.iter() {
                            add_dense(&mut dense[usize::from(c)], p, d);
                        }
                        *self = Series::Dense(dense);
                    }
                }
            }
            Series::Dense(cols) => add_dense(&mut cols[col], point, d),
        }
    }

    fn merge_into(self, into: &mut Series) {
        match self {
            Series::Sparse(v) => v
                .into_iter()
                .for_each(|(p, c, d)| into.add(p, usize::from(c), d)),
            Series::Dense(cols) => {
                for (c, v) in cols.iter().enumerate() {
                    for (p, &d) in v.iter().enumerate() {
                        if d != 0 {
                            into.add(p as u32, c, d);
                        }
                    }
                }
            }
        }
    }

    /// The grid coarsened `f` times: point `j` goes to `ceil(j / f)`.
    fn coarsen(&mut self, f: u32) {
        let to = |p: u32| p.div_ceil(f);
        match self {
            Series::Sparse(v) => v.iter_mut().for_each(|e| e.0 = to(e.0)),
            Series::Dense(cols) => {
                for v in cols.iter_mut() {
                    let mut out = vec![0i32; v.len().div_ceil(f as usize) + 1];
                    for (p, &d) in v.iter().enumerate() {
                        out[to(p as u32) as usize] += d;
                    }
                    while out.last() == Some(&0) {
                        out.pop();
                    }
                    *v = out;
                }
            }
        }
    }

    /// Column `col`'s counts at each of `points` grid points, into `out`.
    fn counts(&self, col: usize, points: usize, out: &mut Vec<u32>) {
        out.clear();
        out.resize(points, 0);
        let mut diff = vec![0i64; points + 1];
        match self {
            Series::Sparse(v) => {
                for &(p, c, d) in v {
                    if usize::from(c) == col {
                        diff[(p as usize).min(points)] += i64::from(d);
                    }
                }
            }
            Series::Dense(cols) => {
                for (p, &d) in cols[col].iter().enumerate() {
                    diff[p.min(points)] += i64::from(d);
                }
            }
        }
        let mut n = 0i64;
        for (o, d) in out.iter_mut().zip(&diff) {
            n += d;
            *o = n.max(0) as u32;
        }
    }
}

/// The first point at or after `t` of the grid of `step` ns from `origin`.
fn grid_point(t: Timestamp, origin: Timestamp, step: i64) -> u64 {
    let d = t.0.saturating_sub(origin.0);
    if d <= 0 {
        0
    } else {
        ((d - 1) / step + 1) as u64
    }
}

fn add_dense(v: &mut Vec<i32>, point: u32, d: i32) {
    let p = point as usize;
    if v.len() <= p {
        v.resize(p + 1, 0);
    }
    v[p] += d;
}

fn coalesce(v: &mut Vec<(u32, u8, i32)>) {
    v.sort_unstable_by_key(|&(p, c, _)| (p, c));
    let mut out: Vec<(u32, u8, i32)> = Vec::with_capacity(v.len());
    for &(p, c, d) in v.iter() {
        match out.last_mut() {
            Some(last) if (last.0, last.1) == (p, c) => last.2 += d,
            _ => out.push((p, c, d)),
        }
    }
    out.retain(|e| e.2 != 0);
    *v = out;
}

#[derive(Clone, Debug, Default)]
struct Host {
    series: Series,
    /// Sockets counted, problem states weighing four: which hosts are folded.
    score: u64,
    /// Per column the local port of its sockets when they all had one.
    ports: [Port; COLS],
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Port {
    #[default]
    None,
    One(u16),
    Many,
}

impl Port {
    fn add(&mut self, port: u16) {
        *self = match *self {
            Port::None => Port::One(port),
            Port::One(p) if p == port => Port::One(p),
            _ => Port::Many,
        }
    }
    fn one(self) -> Option<u16> {
        match self {
            Port::One(p) => Some(p),
            _ => None,
        }
    }
}

/// Builds the timeline from the finished connections (see the module).
#[derive(Debug)]
pub struct Builder {
    origin: Option<Timestamp>,
    step_ns: i64,
    /// The step's place in [`STEPS_MS`]; `None` when `--timeline-step` set it.
    step_index: Option<usize>,
    max_points: u64,
    hosts: HashMap<IpAddr, Host, ahash::RandomState>,
    other: Host,
    folded: u64,
    /// The step had to be raised above the one asked for.
    raised: bool,
    /// Hosts kept apart after a fold: [`KEEP_HOSTS`] on the usual grid,
    /// fewer on a finer one, so the arrays stay within the same memory.
    keep: usize,
}

impl Builder {
    /// A timeline starting at the capture's first packet, on a grid of
    /// `step` (chosen from the span when `None`).
    pub fn new(first_packet: Option<Timestamp>, step: Option<std::time::Duration>) -> Builder {
        let fixed = step.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX).max(1));
        Builder {
            origin: first_packet,
            step_ns: fixed.unwrap_or(STEPS_MS[0] * MS),
            step_index: if fixed.is_some() { None } else { Some(0) },
            max_points: if fixed.is_some() {
                MAX_FIXED_POINTS
            } else {
                MAX_POINTS
            },
            hosts: HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
            other: Host::default(),
            folded: 0,
            raised: false,
            keep: if fixed.is_some() {
                (KEEP_HOSTS * MAX_POINTS as usize / MAX_FIXED_POINTS as usize).max(16)
            } else {
                KEEP_HOSTS
            },
        }
    }

    fn point(&self, t: Timestamp) -> u64 {
        grid_point(t, self.origin.unwrap_or(t), self.step_ns)
    }

    /// Coarsens the grid until `t` falls within it.
    fn fit(&mut self, t: Timestamp) {
        while self.point(t) >= self.max_points {
            let f = match self.step_index {
                Some(i) if i + 1 < STEPS_MS.len() => {
                    self.step_index = Some(i + 1);
                    (STEPS_MS[i + 1] / STEPS_MS[i]) as u32
                }
                // Past a day a step (or past the asked one): doubled.
                _ => {
                    self.raised |= self.step_index.is_none();
                    2
                }
            };
            self.step_ns = self.step_ns.saturating_mul(i64::from(f));
            for h in self.hosts.values_mut() {
                h.series.coarsen(f);
            }
            self.other.series.coarsen(f);
        }
    }

    /// Counts a finished connection's two sockets.
    pub fn add(&mut self, s: &Sockets) {
        self.fit(s.until.max(s.unknown_until));
        let (origin, step) = (self.origin.unwrap_or(s.until), self.step_ns);
        // Below `max_points` once fitted.
        let point = |t: Timestamp| grid_point(t, origin, step) as u32;
        for i in 0..2 {
            let path = &s.path[i];
            let n = path.len();
            if n == 0 {
                continue;
            }
            let (unknown, runs_on) = (s.unknown[i], s.runs_on[i]);
            let until = if unknown { s.unknown_until } else { s.until };
            let local = s.local[i];
            let h = self.hosts.entry(local.ip).or_default();
            let mut problem = false;
            // No time past the observation's end (a capture whose clock went
            // back has packets after its last one): the grid was fitted to it.
            let (mut state, mut from) = path.get(0);
            from = from.min(until);
            let mut a = point(from);
            for k in 1..=n {
                // The next state's entry ends this one (the observation's
                // end ends the last).
                let (next, mut to) = if k < n {
                    path.get(k)
                } else {
                    (State::Closed, until)
                };
                to = Timestamp(to.0.clamp(from.0, until.0.max(from.0)));
                let b = point(to);
                let col = if unknown {
                    Some(UNKNOWN)
                } else {
                    column(state)
                };
                // Still held when the capture ended: it goes on past the
                // last grid point.
                let open = k == n && runs_on;
                if let Some(col) = col
                    && (a != b || open)
                {
                    h.series.add(a, col, 1);
                    if !open {
                        h.series.add(b, col, -1);
                    }
                    h.ports[col].add(local.port);
                    problem |= col != ESTABLISHED && col != UNKNOWN;
                    h.score += 1;
                }
                (state, from, a) = (next, to, b);
            }
            if problem {
                h.score += 3;
            }
        }
        if self.hosts.len() >= 2 * self.keep {
            self.fold(self.keep);
        }
    }

    /// Folds all but the `keep` busiest hosts into "other hosts".
    fn fold(&mut self, keep: usize) {
        let mut order: Vec<(u64, IpAddr)> = self.hosts.iter().map(|(a, h)| (h.score, *a)).collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, addr) in order.into_iter().skip(keep) {
            if let Some(h) = self.hosts.remove(&addr) {
                h.series.merge_into(&mut self.other.series);
                self.folded += 1;
            }
        }
    }

    /// The timeline up to `end` (the capture's last packet).
    pub fn finish(mut self, end: Option<Timestamp>) -> Option<Timeline> {
        let (origin, end) = (self.origin?, end?);
        self.fit(end);
        // The last grid point at or before the last packet.
        let span = end.0.saturating_sub(origin.0).max(0);
        let points = (span / self.step_ns) as usize + 1;
        let at = |p: usize| {
            Timestamp(
                origin
                    .0
                    .saturating_add((p as i64).saturating_mul(self.step_ns)),
            )
        };
        let mut buf = Vec::new();
        // Every host's peaks, to rank them and to find each state's highest.
        let mut ranked: Vec<(u32, u32, IpAddr, [Option<Stats>; COLS])> = self
            .hosts
            .iter()
            .map(|(addr, h)| {
                let stats: [Option<Stats>; COLS] = std::array::from_fn(|col| {
                    h.series.counts(col, points, &mut buf);
                    Stats::of(&buf, &at, h.ports[col].one())
                });
                let problem = (0..COLS)
                    .filter(|&c| c != ESTABLISHED && c != UNKNOWN)
                    .filter_map(|c| stats[c].as_ref().map(|s| s.peak))
                    .max()
                    .unwrap_or(0);
                let total = stats.iter().flatten().map(|s| s.peak).max().unwrap_or(0);
                (problem, total, *addr, stats)
            })
            // A host whose sockets all fell between grid points.
            .filter(|(_, total, _, _)| *total > 0)
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut peaks = Vec::new();
        for col in 0..COLS {
            if col == ESTABLISHED || col == UNKNOWN {
                continue;
            }
            let best = ranked
                .iter()
                .filter_map(|(_, _, addr, s)| s[col].as_ref().map(|s| (s, addr)))
                .max_by(|(a, x), (b, y)| {
                    a.peak
                        .cmp(&b.peak)
                        .then(b.peak_at.cmp(&a.peak_at))
                        .then(y.cmp(x))
                });
            if let Some((s, addr)) = best {
                peaks.push(StatePeak {
                    state: COLUMNS[col],
                    host: *addr,
                    stats: s.clone(),
                });
            }
        }
        let hosts_seen = ranked.len() as u64 + self.folded;
        let mut hosts = Vec::new();
        for (_, _, addr, stats) in ranked.iter().take(TOP_HOSTS) {
            let h = &self.hosts[addr];
            hosts.push(HostTimeline {
                host: Some(*addr),
                hosts: 1,
                states: columns_of(&h.series, stats, points, &mut buf),
            });
        }
        let mut other = std::mem::take(&mut self.other);
        let mut others = self.folded;
        for (_, _, addr, _) in ranked.iter().skip(TOP_HOSTS) {
            if let Some(h) = self.hosts.remove(addr) {
                h.series.merge_into(&mut other.series);
                others += 1;
            }
        }
        let other_hosts = (others > 0).then(|| {
            let stats: [Option<Stats>; COLS] = std::array::from_fn(|col| {
                other.series.counts(col, points, &mut buf);
                Stats::of(&buf, &at, None)
            });
            HostTimeline {
                host: None,
                hosts: others,
                states: columns_of(&other.series, &stats, points, &mut buf),
            }
        });
        Some(Timeline {
            start: origin,
            step: self.step_ns as f64 / 1e9,
            points,
            step_raised: self.raised,
            hosts_seen,
            peaks,
            hosts,
            other_hosts,
        })
    }
}

fn columns_of(
    series: &Series,
    stats: &[Option<Stats>; COLS],
    points: usize,
    buf: &mut Vec<u32>,
) -> Vec<StateSeries> {
    (0..COLS)
        .filter_map(|col| {
            let s = stats[col].clone()?;
            series.counts(col, points, buf);
            Some(StateSeries {
                state: COLUMNS[col],
                stats: s,
                counts: buf.clone(),
            })
        })
        .collect()
}

/// The timeline: JSON `timeline` (docs/json.md).
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// The first grid point: the capture's first packet.
    pub start: Timestamp,
    /// Seconds between grid points.
    pub step: f64,
    /// Grid points, the last at or before the capture's last packet.
    pub points: usize,
    /// `--timeline-step` was raised to stay within [`MAX_FIXED_POINTS`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub step_raised: bool,
    /// Addresses that held a socket at a grid point.
    pub hosts_seen: u64,
    /// Per state other than ESTABLISHED, the host with the highest peak.
    pub peaks: Vec<StatePeak>,
    /// The hosts with the highest peak in a state other than ESTABLISHED, at
    /// most [`TOP_HOSTS`].
    pub hosts: Vec<HostTimeline>,
    /// The other hosts summed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_hosts: Option<HostTimeline>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatePeak {
    pub state: &'static str,
    pub host: IpAddr,
    #[serde(flatten)]
    pub stats: Stats,
}

/// A host (or the other hosts) and its states' series.
#[derive(Clone, Debug)]
pub struct HostTimeline {
    /// `None` for the other hosts.
    pub host: Option<IpAddr>,
    /// How many hosts are summed (1 for a host).
    pub hosts: u64,
    /// The states it ever held a socket in, in [`COLUMNS`] order.
    pub states: Vec<StateSeries>,
}

impl Serialize for HostTimeline {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        match self.host {
            Some(h) => m.serialize_entry("host", &h)?,
            None => m.serialize_entry("hosts", &self.hosts)?,
        }
        m.serialize_entry("states", &States(&self.states))?;
        m.end()
    }
}

struct States<'a>(&'a [StateSeries]);

impl Serialize for States<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for st in self.0 {
            m.serialize_entry(st.state, st)?;
        }
        m.end()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StateSeries {
    #[serde(skip)]
    pub state: &'static str,
    #[serde(flatten)]
    pub stats: Stats,
    /// The count at each grid point.
    pub counts: Vec<u32>,
}

impl StateSeries {
    /// The count at `t`: the latest grid point at or before it.
    pub fn at(&self, t: Timestamp, start: Timestamp, step: f64) -> u32 {
        let p = ((t.0 - start.0) as f64 / (step * 1e9)).floor();
        if p < 0.0 {
            return 0;
        }
        self.counts.get(p as usize).copied().unwrap_or(0)
    }
}

/// A series' peak and what came before and after it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// The local port of all its sockets, when they had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The highest count, and its first grid point.
    pub peak: u32,
    pub peak_at: Timestamp,
    /// The lowest count before the peak, and the last point it was seen:
    /// where the rise to the peak began.
    pub rise_from: u32,
    pub rise_at: Timestamp,
    /// The count at the last grid point.
    pub end: u32,
    /// The first point after the peak with no socket left, if any.
    pub drained_at: Option<Timestamp>,
}

impl Stats {
    fn of(v: &[u32], at: &impl Fn(usize) -> Timestamp, port: Option<u16>) -> Option<Stats> {
        let peak = *v.iter().max()?;
        if peak == 0 {
            return None;
        }
        let p = v.iter().position(|&n| n == peak)?;
        let rise_from = *v[..=p].iter().min()?;
        let r = v[..=p].iter().rposition(|&n| n == rise_from)?;
        Some(Stats {
            port,
            peak,
            peak_at: at(p),
            rise_from,
            rise_at: at(r),
            end: *v.last()?,
            drained_at: v[p..].iter().position(|&n| n == 0).map(|i| at(p + i)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    fn life(steps: &[(State, u32)], until_s: i64) -> Life {
        let mut path = Path::default();
        for &(s, ms) in steps {
            path.push(s, Timestamp(i64::from(ms) * 1_000_000));
        }
        Life {
            path,
            until: Timestamp(until_s * SEC),
            runs_on: true,
            expiry: None,
            unknown: false,
        }
    }

    fn sockets(client: Life, server: Life, port: u16) -> Sockets {
        let a = |s: &str, port| EndpointAddr {
            ip: s.parse().unwrap(),
            port,
        };
        let r = [client, server];
        Sockets {
            local: [a("10.0.0.1", port), a("10.0.0.2", 80)],
            path: [client.path, server.path],
            until: r
                .iter()
                .find(|l| !l.unknown)
                .map_or(client.until, |l| l.until),
            runs_on: [client.runs_on, server.runs_on],
            unknown: [client.unknown, server.unknown],
            unknown_until: r
                .iter()
                .find(|l| l.unknown)
                .map_or(client.until, |l| l.until),
        }
    }

    fn series<'a>(t: &'a Timeline, host: &str, state: &str) -> &'a StateSeries {
        let h = t
            .hosts
            .iter()
            .find(|h| h.host == Some(host.parse().unwrap()))
            .unwrap();
        h.states.iter().find(|s| s.state == state).unwrap()
    }

    #[test]
    fn counts_are_what_a_sampler_at_each_grid_point_would_see() {
        let mut b = Builder::new(Some(Timestamp(0)), Some(std::time::Duration::from_secs(1)));
        // Client ESTABLISHED 0–2.5 s, TIME_WAIT 2.5–62.5 s; server
        // ESTABLISHED to 2.5 s, then gone.
        let c = life(
            &[
                (State::Established, 0),
                (State::TimeWait, 2_500),
                (State::Closed, 62_500),
            ],
            100,
        );
        let s = life(&[(State::Established, 0), (State::Closed, 2_500)], 100);
        b.add(&sockets(c, s, 40000));
        let t = b.finish(Some(Timestamp(100 * SEC))).unwrap();
        assert_eq!(t.points, 101);
        let tw = series(&t, "10.0.0.1", "TIME_WAIT");
        // Points 3 s .. 62 s see it; 2 s (before) and 63 s (after) do not.
        assert_eq!(&tw.counts[2..5], &[0, 1, 1]);
        assert_eq!(&tw.counts[61..64], &[1, 1, 0]);
        assert_eq!(tw.stats.port, Some(40000));
        assert_eq!(tw.stats.drained_at, Some(Timestamp(63 * SEC)));
        let est = series(&t, "10.0.0.2", "ESTABLISHED");
        assert_eq!(&est.counts[..4], &[1, 1, 1, 0]);
    }

    #[test]
    fn the_grid_coarsens_as_the_capture_grows_and_keeps_every_count() {
        let mut fine = Builder::new(Some(Timestamp(0)), None);
        let mut fixed = Builder::new(Some(Timestamp(0)), Some(std::time::Duration::from_secs(2)));
        for i in 0..50u32 {
            let c = life(&[(State::CloseWait, i * 2_000)], 3_000);
            let s = life(
                &[
                    (State::FinWait2, i * 2_000),
                    (State::Closed, i * 2_000 + 30_000),
                ],
                3_000,
            );
            fine.add(&sockets(c, s, 9000));
            fixed.add(&sockets(c, s, 9000));
        }
        let (a, b) = (
            fine.finish(Some(Timestamp(3_000 * SEC))).unwrap(),
            fixed.finish(Some(Timestamp(3_000 * SEC))).unwrap(),
        );
        assert_eq!(a.step, 2.0, "3,000 s in at most 2,000 points");
        assert_eq!(a.hosts[0].states[0].counts, b.hosts[0].states[0].counts);
        let cw = series(&a, "10.0.0.1", "CLOSE_WAIT");
        assert_eq!(
            (cw.stats.peak, cw.stats.end, cw.stats.drained_at),
            (50, 50, None)
        );
        let fw2 = series(&a, "10.0.0.2", "FIN_WAIT_2");
        assert_eq!(fw2.stats.peak, 15);
        assert_eq!(fw2.stats.end, 0);
    }

    #[test]
    fn hosts_beyond_the_kept_ones_are_summed_and_the_busiest_stay() {
        let mut b = Builder::new(Some(Timestamp(0)), None);
        // One server in SYN_RECEIVED for 5,000 spoofed clients in SYN_SENT.
        for i in 0..5_000u32 {
            let c = life(&[(State::SynSent, 0), (State::Closed, 3_000)], 10);
            let s = life(&[(State::SynReceived, 0), (State::Closed, 5_000)], 10);
            let mut x = sockets(c, s, 40000);
            x.local[0].ip = IpAddr::from([172, 16, (i >> 8) as u8, i as u8]);
            b.add(&x);
        }
        assert!(b.hosts.len() < 2 * KEEP_HOSTS);
        let t = b.finish(Some(Timestamp(10 * SEC))).unwrap();
        assert_eq!(t.hosts_seen, 5_001);
        assert_eq!(t.hosts[0].host, Some("10.0.0.2".parse().unwrap()));
        let syn_recv = series(&t, "10.0.0.2", "SYN_RECEIVED");
        assert_eq!(syn_recv.stats.peak, 5_000);
        let other = t.other_hosts.as_ref().unwrap();
        assert_eq!(other.hosts, 5_000 - (TOP_HOSTS as u64 - 1));
        let others_syn_sent = other.states.iter().find(|s| s.state == "SYN_SENT").unwrap();
        assert_eq!(others_syn_sent.stats.peak, 5_000 - (TOP_HOSTS as u32 - 1));
    }

    #[test]
    fn a_side_the_capture_cannot_show_is_counted_apart() {
        let mut b = Builder::new(Some(Timestamp(0)), Some(std::time::Duration::from_secs(1)));
        let c = life(&[(State::Established, 0)], 10);
        let mut s = life(&[(State::Established, 0)], 5);
        s.unknown = true;
        b.add(&sockets(c, s, 40000));
        let t = b.finish(Some(Timestamp(10 * SEC))).unwrap();
        let h = t
            .hosts
            .iter()
            .find(|h| h.host == Some("10.0.0.2".parse().unwrap()))
            .unwrap();
        assert_eq!(
            h.states.iter().map(|s| s.state).collect::<Vec<_>>(),
            ["unknown"]
        );
    }

    #[test]
    fn times_past_the_observation_and_a_span_of_decades_stay_within_the_grid() {
        let mut b = Builder::new(Some(Timestamp(0)), None);
        // A path entered after the observation's end (a clock that went
        // back), and one 50 years on.
        let c = life(&[(State::Established, 0), (State::CloseWait, 9_000)], 5);
        let s = life(&[(State::Established, 0)], 5);
        b.add(&sockets(c, s, 40000));
        let far = 50 * 365 * 86_400;
        let late = life(&[(State::TimeWait, (far as u32).wrapping_mul(0))], far);
        b.add(&sockets(late, s, 40001));
        let t = b.finish(Some(Timestamp(far * SEC))).unwrap();
        assert!(t.points as u64 <= MAX_POINTS, "{} points", t.points);
        assert!(!t.step_raised, "no step was asked for");
        let h = t
            .hosts
            .iter()
            .find(|h| h.host == Some("10.0.0.1".parse().unwrap()))
            .unwrap();
        assert!(h.states.iter().all(|s| s.counts.len() == t.points));
    }
}
