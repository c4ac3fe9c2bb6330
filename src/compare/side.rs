//! One side of a comparison: what a capture set's analysis, or a JSON report
//! already written, says of its connections, in bounded memory.
//!
//! A [`Side`] is built the same way from both: every connection record is
//! added ([`Side::add`]: counts per class and flag, per server and client,
//! the durations, and, for replays, its endpoints and start), then the
//! report's own parts (summary, findings, timeline, settings) are taken
//! ([`Side::finish`], [`Side::read_json`]). A test holds the two ways to the
//! same result on every fixture pair.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::stats::Histogram;
use crate::classify::{Class, Flag};
use crate::decode::EndpointAddr;
use crate::report::sink::{Records, Sink};
use crate::report::timeline::COLUMNS;
use crate::report::{ConnectionReport, Report, SCHEMA_VERSION};
use crate::time::Timestamp;

/// Servers (address:port) and clients (address) counted apart, each; past
/// it, the rest are counted together as "other".
pub const MAX_ENDPOINTS: usize = 65_536;
/// Connections kept for replay matching; past it the comparison is of rates.
pub const MAX_REPLAY: usize = 1_000_000;
/// The oldest JSON report a side may be: schema 5 has everything a side
/// reads but the timeline (schema 7), which is then left out.
pub const OLDEST_SCHEMA: u32 = 5;

/// The durations compared, as the report's `timings` names them.
pub const TIMINGS: [&str; 4] = [
    "handshake_rtt",
    "close_duration",
    "close_wait",
    "idle_before_close",
];

/// Connections per class, in [`Class::ALL`] order.
pub type Tally = [u64; Class::ALL.len()];

/// A tally's problem connections ([`Class::is_problem`]).
pub fn problems(t: &Tally) -> u64 {
    Class::ALL
        .iter()
        .zip(t)
        .filter(|(c, _)| c.is_problem())
        .map(|(_, n)| n)
        .sum()
}

/// Counts per endpoint, at most [`MAX_ENDPOINTS`] apart.
#[derive(Clone, Debug)]
pub struct Endpoints<K> {
    pub each: HashMap<K, Tally>,
    /// The endpoints past the cap, summed.
    pub other: Tally,
    pub truncated: bool,
}

impl<K> Default for Endpoints<K> {
    fn default() -> Self {
        Endpoints {
            each: HashMap::new(),
            other: [0; Class::ALL.len()],
            truncated: false,
        }
    }
}

impl<K: std::hash::Hash + Eq> Endpoints<K> {
    fn add(&mut self, key: K, class: usize) {
        let len = self.each.len();
        match self.each.get_mut(&key) {
            Some(t) => t[class] += 1,
            None if len < MAX_ENDPOINTS => {
                let mut t = [0; Class::ALL.len()];
                t[class] = 1;
                self.each.insert(key, t);
            }
            None => {
                self.other[class] += 1;
                self.truncated = true;
            }
        }
    }
}

/// A connection as replay matching needs it.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub client: EndpointAddr,
    pub server: EndpointAddr,
    /// Nanoseconds from the side's first packet.
    pub start: i64,
    pub id: u64,
    pub class: Class,
}

/// A finding, as a diff compares it.
#[derive(Clone, Debug, Deserialize)]
pub struct FindingOf {
    pub name: String,
    pub host: String,
    pub connections: u64,
    pub problem: bool,
    pub summary: String,
}

/// One host's sockets in one state over the side's timeline.
#[derive(Clone, Debug)]
pub struct HostState {
    pub host: IpAddr,
    pub state: &'static str,
    pub peak: u32,
    /// Seconds from the side's first packet.
    pub peak_at: f64,
    pub end: u32,
    pub drained: bool,
    /// Its count at each grid point (empty when the report gave only the
    /// peak).
    pub counts: Vec<u32>,
}

/// The grid and the states of a side's timeline.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Seconds between grid points.
    pub step: f64,
    /// Hosts that held a socket; when more than the report lists, a host
    /// absent from [`Timeline::states`] is not known to have held none.
    pub hosts_seen: u64,
    /// Hosts the report lists (its top hosts).
    pub hosts_listed: u64,
    pub states: Vec<HostState>,
}

/// Where a side came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Captures, analyzed for this comparison.
    Capture,
    /// A JSON report (`analyze -f json`) of that schema version.
    Report(u32),
}

/// What one side says of its connections.
#[derive(Clone, Debug)]
pub struct Side {
    /// The path given for the side.
    pub label: String,
    pub origin: Origin,
    /// The inputs the report names.
    pub inputs: Vec<String>,
    pub connections: u64,
    pub packets: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub interrupted: bool,
    pub evicted: u64,
    pub filtered_out: u64,
    pub classes: Tally,
    /// Per flag, in [`Flag::ALL`] order.
    pub flags: [u64; Flag::ALL.len()],
    pub servers: Endpoints<EndpointAddr>,
    pub clients: Endpoints<IpAddr>,
    /// Per duration of [`TIMINGS`].
    pub timings: [Histogram; 4],
    pub findings: Vec<FindingOf>,
    /// `None` when the report has none (an older schema, or no packet).
    pub timeline: Option<Timeline>,
    /// The report's `settings` (thresholds and hosts' timers), as its JSON
    /// gives them.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The report's `filter`, if any, as its JSON gives it.
    pub filter: Option<serde_json::Value>,
    /// For replay matching; `None` past [`MAX_REPLAY`] connections.
    pub replay: Option<Vec<Conn>>,
}

impl Side {
    pub fn new(label: &str, origin: Origin) -> Side {
        Side {
            label: label.to_string(),
            origin,
            inputs: Vec::new(),
            connections: 0,
            packets: 0,
            first_ts: None,
            last_ts: None,
            interrupted: false,
            evicted: 0,
            filtered_out: 0,
            classes: [0; Class::ALL.len()],
            flags: [0; Flag::ALL.len()],
            servers: Endpoints::default(),
            clients: Endpoints::default(),
            timings: Default::default(),
            findings: Vec::new(),
            timeline: None,
            settings: serde_json::Map::new(),
            filter: None,
            replay: Some(Vec::new()),
        }
    }

    /// Connections with class or flag `name` (`None`: no such name).
    pub fn count_of(&self, name: &str) -> Option<u64> {
        if let Some(i) = Class::ALL.iter().position(|c| c.name() == name) {
            return Some(self.classes[i]);
        }
        Flag::ALL
            .iter()
            .position(|f| f.name() == name)
            .map(|i| self.flags[i])
    }

    /// Connections the findings of kind `name` cover.
    pub fn finding_connections(&self, name: &str) -> u64 {
        self.findings
            .iter()
            .filter(|f| f.name == name)
            .map(|f| f.connections)
            .sum()
    }

    fn add_one(&mut self, one: One) {
        let class = Class::ALL
            .iter()
            .position(|c| *c == one.class)
            .expect("a class of Class::ALL");
        self.connections += 1;
        self.classes[class] += 1;
        for f in one.flags {
            self.flags[f] += 1;
        }
        self.servers.add(one.server, class);
        self.clients.add(one.client.ip, class);
        for (h, t) in self.timings.iter_mut().zip(one.timings) {
            if let Some(t) = t {
                h.add(f64::from(t));
            }
        }
        if let Some(list) = &mut self.replay {
            if list.len() < MAX_REPLAY {
                list.push(Conn {
                    client: one.client,
                    server: one.server,
                    start: one.start,
                    id: one.id,
                    class: one.class,
                });
            } else {
                self.replay = None;
            }
        }
    }

    /// Adds one finished connection of an analysis (`start`: the capture's
    /// first packet).
    pub fn add(&mut self, c: &ConnectionReport, start: Timestamp) {
        let t = &c.timings;
        self.add_one(One {
            id: c.id,
            client: c.client,
            server: c.server,
            start: c.first_ts.0 - start.0,
            class: c.class,
            flags: c
                .flags
                .iter()
                .map(|f| {
                    Flag::ALL
                        .iter()
                        .position(|g| *g == f)
                        .expect("in Flag::ALL")
                })
                .collect(),
            timings: [
                t.handshake_rtt,
                t.close_duration,
                t.close_wait,
                t.idle_before_close,
            ],
        });
    }

    /// Takes the report's parts other than its connections (an analysis
    /// whose connections went to [`Collector`]).
    pub fn finish(&mut self, report: &Report) {
        let s = &report.summary;
        self.inputs = report.inputs.iter().map(|i| i.path.clone()).collect();
        self.packets = s.packets;
        self.first_ts = s.first_ts;
        self.last_ts = s.last_ts;
        self.interrupted = s.interrupted;
        self.evicted = s.evicted;
        self.filtered_out = s.filtered_out;
        // Through the JSON, as a report read back gives them.
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(report.settings) {
            self.settings = m;
        }
        self.filter = report
            .filter
            .as_ref()
            .and_then(|f| serde_json::to_value(f).ok());
        self.findings = report
            .findings
            .iter()
            .map(|f| FindingOf {
                name: f.kind.name().to_string(),
                host: f.host.clone(),
                connections: f.connections,
                problem: f.problem,
                summary: f.summary.clone(),
            })
            .collect();
        self.timeline = report.timeline.as_ref().map(|t| {
            let at = |ts: Timestamp| ts.secs_since(t.start);
            let mut states = Vec::new();
            for h in &t.hosts {
                let Some(host) = h.host else { continue };
                for s in &h.states {
                    states.push(HostState {
                        host,
                        state: s.state,
                        peak: s.stats.peak,
                        peak_at: at(s.stats.peak_at),
                        end: s.stats.end,
                        drained: s.stats.drained_at.is_some(),
                        counts: s.counts.clone(),
                    });
                }
            }
            for p in &t.peaks {
                if !states
                    .iter()
                    .any(|s| s.host == p.host && s.state == p.state)
                {
                    states.push(HostState {
                        host: p.host,
                        state: p.state,
                        peak: p.stats.peak,
                        peak_at: at(p.stats.peak_at),
                        end: p.stats.end,
                        drained: p.stats.drained_at.is_some(),
                        counts: Vec::new(),
                    });
                }
            }
            Timeline {
                step: t.step,
                hosts_seen: t.hosts_seen,
                hosts_listed: t.hosts.iter().filter(|h| h.host.is_some()).count() as u64,
                states,
            }
        });
    }

    /// Reads a JSON report (`teardown analyze -f json`), one connection
    /// record at a time.
    pub fn read_json(label: &str, input: impl Read) -> Result<Side, String> {
        let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(
            1 << 20,
            input,
        ));
        let mut side = Side::new(label, Origin::Report(0));
        ReportSeed(&mut side)
            .deserialize(&mut de)
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        match side.origin {
            Origin::Report(v) if (OLDEST_SCHEMA..=SCHEMA_VERSION).contains(&v) => Ok(side),
            Origin::Report(0) => Err("not a teardown JSON report: no schema_version".into()),
            Origin::Report(v) => Err(format!(
                "a report of schema {v}; this teardown reads schemas {OLDEST_SCHEMA} to {SCHEMA_VERSION}"
            )),
            Origin::Capture => unreachable!("set to Report above"),
        }
    }
}

/// A connection record's parts a side counts.
struct One {
    id: u64,
    client: EndpointAddr,
    server: EndpointAddr,
    start: i64,
    class: Class,
    flags: Vec<usize>,
    timings: [Option<f32>; 4],
}

/// A [`Sink`] that adds every connection of an analysis to a side.
pub struct Collector {
    pub side: Side,
    start: Timestamp,
}

impl Collector {
    pub fn new(side: Side) -> Collector {
        Collector {
            side,
            start: Timestamp(0),
        }
    }
}

impl Sink for Collector {
    type Encoder = Records;
    fn begin(&mut self, first_packet: Option<Timestamp>) -> std::io::Result<()> {
        self.start = first_packet.unwrap_or(Timestamp(0));
        Ok(())
    }
    fn connection(&mut self, c: Box<ConnectionReport>) -> std::io::Result<()> {
        self.side.add(&c, self.start);
        Ok(())
    }
}

// ---- Reading a JSON report ----

fn endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<EndpointAddr, D::Error> {
    let s = std::borrow::Cow::<str>::deserialize(d)?;
    let a: SocketAddr = s.parse().map_err(serde::de::Error::custom)?;
    Ok(EndpointAddr {
        ip: a.ip(),
        port: a.port(),
    })
}

fn seconds_ts<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    Ok(ts_of(f64::deserialize(d)?))
}

fn ts_of(secs: f64) -> Timestamp {
    // The report writes microseconds; rounding to them gives back its value.
    Timestamp(((secs * 1e6).round() as i64).saturating_mul(1000))
}

#[derive(Deserialize, Default)]
struct TimingsOf {
    handshake_rtt: Option<f32>,
    close_duration: Option<f32>,
    close_wait: Option<f32>,
    idle_before_close: Option<f32>,
}

#[derive(Deserialize)]
struct RecordOf<'a> {
    id: u64,
    #[serde(deserialize_with = "endpoint")]
    client: EndpointAddr,
    #[serde(deserialize_with = "endpoint")]
    server: EndpointAddr,
    #[serde(deserialize_with = "seconds_ts")]
    first_ts: Timestamp,
    #[serde(borrow)]
    class: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    flags: Vec<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    timings: TimingsOf,
}

#[derive(Deserialize)]
struct SummaryOf {
    connections: u64,
    #[serde(default)]
    filtered_out: u64,
    #[serde(default)]
    evicted: u64,
    #[serde(default)]
    interrupted: bool,
    packets: u64,
    first_ts: Option<f64>,
    last_ts: Option<f64>,
}

#[derive(Deserialize)]
struct InputOf {
    path: String,
}

#[derive(Deserialize)]
struct StatsOf {
    peak: u32,
    peak_at: f64,
    end: u32,
    drained_at: Option<f64>,
    #[serde(default)]
    counts: Vec<u32>,
}

#[derive(Deserialize)]
struct PeakOf {
    state: String,
    host: IpAddr,
    #[serde(flatten)]
    stats: StatsOf,
}

#[derive(Deserialize)]
struct HostOf {
    host: Option<IpAddr>,
    states: std::collections::BTreeMap<String, StatsOf>,
}

#[derive(Deserialize)]
struct TimelineOf {
    start: f64,
    step: f64,
    #[serde(default)]
    hosts_seen: u64,
    #[serde(default)]
    peaks: Vec<PeakOf>,
    #[serde(default)]
    hosts: Vec<HostOf>,
}

fn state_of(name: &str) -> Option<&'static str> {
    COLUMNS.iter().find(|c| **c == name).copied()
}

impl TimelineOf {
    fn into_timeline(self, start: Option<Timestamp>) -> Timeline {
        let origin = start.map_or(self.start, |s| s.as_secs_f64());
        let at = |t: f64| t - origin;
        let mut states = Vec::new();
        let hosts_listed = self.hosts.iter().filter(|h| h.host.is_some()).count() as u64;
        for h in self.hosts {
            let Some(host) = h.host else { continue };
            // The report writes states in COLUMNS order; keep it.
            let mut these: Vec<(usize, HostState)> = h
                .states
                .into_iter()
                .filter_map(|(name, s)| {
                    let state = state_of(&name)?;
                    let order = COLUMNS.iter().position(|c| *c == state)?;
                    Some((
                        order,
                        HostState {
                            host,
                            state,
                            peak: s.peak,
                            peak_at: at(s.peak_at),
                            end: s.end,
                            drained: s.drained_at.is_some(),
                            counts: s.counts,
                        },
                    ))
                })
                .collect();
            these.sort_by_key(|(o, _)| *o);
            states.extend(these.into_iter().map(|(_, s)| s));
        }
        for p in self.peaks {
            let Some(state) = state_of(&p.state) else {
                continue;
            };
            if !states.iter().any(|s| s.host == p.host && s.state == state) {
                states.push(HostState {
                    host: p.host,
                    state,
                    peak: p.stats.peak,
                    peak_at: at(p.stats.peak_at),
                    end: p.stats.end,
                    drained: p.stats.drained_at.is_some(),
                    counts: Vec::new(),
                });
            }
        }
        Timeline {
            step: self.step,
            hosts_seen: self.hosts_seen,
            hosts_listed,
            states,
        }
    }
}

/// The whole report: its keys in any order, the connections streamed.
struct ReportSeed<'s>(&'s mut Side);

impl<'de> DeserializeSeed<'de> for ReportSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReportSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a teardown JSON report (an object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        let side = self.0;
        // The connections come before the summary: their start times are
        // kept from the epoch and made relative at the end.
        let mut timeline: Option<TimelineOf> = None;
        let mut summary = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "schema_version" => side.origin = Origin::Report(map.next_value()?),
                "settings" => side.settings = map.next_value()?,
                "filter" => side.filter = map.next_value()?,
                "inputs" => {
                    let inputs: Vec<InputOf> = map.next_value()?;
                    side.inputs = inputs.into_iter().map(|i| i.path).collect();
                }
                "summary" => {
                    let s: SummaryOf = map.next_value()?;
                    side.packets = s.packets;
                    side.first_ts = s.first_ts.map(ts_of);
                    side.last_ts = s.last_ts.map(ts_of);
                    side.interrupted = s.interrupted;
                    side.evicted = s.evicted;
                    side.filtered_out = s.filtered_out;
                    summary = Some(s.connections);
                }
                "connections" => map.next_value_seed(ConnectionsSeed(side))?,
                "findings" => side.findings = map.next_value()?,
                "timeline" => timeline = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match summary {
            None => return Err(A::Error::custom("the report has no summary")),
            Some(n) if n != side.connections => {
                return Err(A::Error::custom(format!(
                    "its summary counts {n} connections but it holds {} records: \
                     a side needs every connection's record (write it with -f json)",
                    side.connections
                )));
            }
            Some(_) => {}
        }
        let start = side.first_ts.map_or(0, |t| t.0);
        if let Some(list) = &mut side.replay {
            list.iter_mut().for_each(|c| c.start -= start);
        }
        side.timeline = timeline.map(|t| t.into_timeline(side.first_ts));
        Ok(())
    }
}

struct ConnectionsSeed<'s>(&'s mut Side);

impl<'de> DeserializeSeed<'de> for ConnectionsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ConnectionsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the report's connections (an array)")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        use serde::de::Error;
        while let Some(r) = seq.next_element::<RecordOf>()? {
            let class = Class::ALL
                .into_iter()
                .find(|c| c.name() == r.class)
                .ok_or_else(|| {
                    A::Error::custom(format!("connection {}: unknown class `{}`", r.id, r.class))
                })?;
            let flags = r
                .flags
                .iter()
                .map(|f| {
                    Flag::ALL.iter().position(|g| g.name() == f).ok_or_else(|| {
                        A::Error::custom(format!("connection {}: unknown flag `{f}`", r.id))
                    })
                })
                .collect::<Result<_, _>>()?;
            let t = &r.timings;
            self.0.add_one(One {
                id: r.id,
                client: r.client,
                server: r.server,
                // From the epoch until the summary says where the capture starts.
                start: r.first_ts.0,
                class,
                flags,
                timings: [
                    t.handshake_rtt,
                    t.close_duration,
                    t.close_wait,
                    t.idle_before_close,
                ],
            });
        }
        Ok(())
    }
}
