//! Two sides compared: [`Diff::between`], the model every diff renderer
//! reads (its JSON is docs/diff.md's schema).
//!
//! What counts as a change, and why (docs/diff.md, "Method"):
//! - a class's or flag's rate: the test of [`stats::proportions`], Holm-adjusted
//!   over the classes and flags with a connection, below `alpha`, and a
//!   change of at least `min_rate_change` (or from or to none);
//! - a server's or client's problem rate: the same test, Holm-adjusted over
//!   the endpoints with a problem on either side;
//! - a duration: the KS test, Holm-adjusted over the four, below `alpha`,
//!   and a median or p95 moved by at least `min_time_change` and by at least
//!   `min_time_ratio` of the larger (scheduler noise on a veth moves them by
//!   microseconds, and with 200 connections that is "significant");
//! - a finding: appeared, disappeared, or its connections at least doubled
//!   or halved by at least [`FINDING_STEP`];
//! - a host's peak in a state: moved by at least `min_peak_change` sockets and
//!   by `min_peak_ratio` of the larger (a one-socket blip is the grid's
//!   sampling, not a change).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use super::side::{Conn, Endpoints, Origin, Side, TIMINGS, Tally, problems};
use super::stats::{self, Test, Tested};
use crate::classify::{Class, Flag};
use crate::decode::EndpointAddr;
use crate::report::SCHEMA_VERSION;
use crate::time::Timestamp;

/// A finding's connections must change by this many to have grown or shrunk.
pub const FINDING_STEP: u64 = 5;
/// Rows of a list kept in the JSON (the rest counted).
pub const MAX_ROWS: usize = 100;
/// Example pairs kept per class transition of a replay.
const EXAMPLES: usize = 5;

/// The thresholds of the method, each a flag of `teardown diff`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Method {
    /// Significance level, after Holm's correction within each family.
    pub alpha: f64,
    /// Smallest change of a rate that counts, as a fraction (0.001 = 0.1
    /// percentage point); a rate from or to zero always counts.
    pub min_rate_change: f64,
    /// Smallest move of a median or p95 that counts (s).
    pub min_time_change: f64,
    /// ... and as a fraction of the larger of the two.
    pub min_time_ratio: f64,
    /// Smallest change of a host's peak in a state that counts (sockets).
    pub min_peak_change: u32,
    /// ... and as a fraction of the larger of the two.
    pub min_peak_ratio: f64,
    /// Matched connections' starts (from each side's first packet) may
    /// differ by this much from their median difference (s).
    pub replay_tolerance: f64,
    /// The share of the larger side's connections that must match for the
    /// sides to be a replay.
    pub replay_share: f64,
}

impl Default for Method {
    fn default() -> Method {
        Method {
            alpha: 0.01,
            min_rate_change: 0.001,
            min_time_change: 0.010,
            min_time_ratio: 0.25,
            min_peak_change: 3,
            min_peak_ratio: 0.25,
            replay_tolerance: 0.050,
            replay_share: 0.9,
        }
    }
}

/// What became of a compared quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Up, beyond chance and the method's floor.
    Increased,
    /// Down, beyond chance and the method's floor.
    Decreased,
    /// Not beyond chance, or below the floor.
    Unchanged,
    /// No outcome with these totals could have been told from chance.
    TooFew,
    /// On one side only (a duration no connection of the other had; a
    /// finding; a problem endpoint).
    Appeared,
    Disappeared,
    /// Not comparable: the other side's report does not list it (a host
    /// outside its top hosts).
    Unknown,
}

impl Verdict {
    /// A change worth reporting.
    pub fn changed(self) -> bool {
        matches!(
            self,
            Verdict::Increased | Verdict::Decreased | Verdict::Appeared | Verdict::Disappeared
        )
    }
}

/// A side as the diff describes it.
#[derive(Clone, Debug, Serialize)]
pub struct SideInfo {
    /// The path given.
    pub label: String,
    /// `capture` (analyzed now) or `report` (a JSON report read).
    pub origin: &'static str,
    /// The report's schema, for a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_schema: Option<u32>,
    pub inputs: Vec<String>,
    pub connections: u64,
    pub packets: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

/// A count out of a total.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Share {
    pub count: u64,
    pub of: u64,
    /// `count / of` (0 when `of` is 0).
    pub rate: f64,
}

impl Share {
    fn new(count: u64, of: u64) -> Share {
        Share {
            count,
            of,
            rate: if of == 0 {
                0.0
            } else {
                count as f64 / of as f64
            },
        }
    }
}

/// A test's result as written.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Significance {
    pub test: Test,
    pub p: f64,
    /// `p` after Holm's correction within its family.
    pub p_adjusted: f64,
}

/// A class's or flag's rate on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct RateChange {
    pub name: &'static str,
    /// `class` or `flag`.
    pub kind: &'static str,
    pub before: Share,
    pub after: Share,
    /// `after.rate − before.rate`.
    pub change: f64,
    /// Connections the change amounts to on the after side:
    /// `after.count − before.rate × after.of`.
    pub excess: f64,
    pub significance: Significance,
    pub verdict: Verdict,
}

/// The class whose rate moved most at an endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct ClassMove {
    pub class: &'static str,
    pub before: u64,
    pub after: u64,
}

/// One server's or client's problem rate on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointChange {
    /// `address:port` for a server, the address for a client.
    pub endpoint: String,
    /// Connections and problem connections ([`Class::is_problem`]).
    pub before: Share,
    pub after: Share,
    pub change: f64,
    pub excess: f64,
    /// The problem class whose count moved most.
    pub class: ClassMove,
    pub significance: Significance,
    /// `appeared` (problems where there were none: a new problem endpoint),
    /// `disappeared` (resolved), `increased`, `decreased`, `unchanged`,
    /// `too_few`.
    pub verdict: Verdict,
    /// The change is beyond chance.
    pub significant: bool,
}

/// Servers or clients compared.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EndpointChanges {
    /// Endpoints with a problem on either side.
    pub compared: u64,
    /// The changed ones, most excess problems first (at most [`MAX_ROWS`]),
    /// then the unchanged with the most problems, to fill the list.
    pub rows: Vec<EndpointChange>,
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_omitted: u64,
    /// A side had more endpoints than it counts apart.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A duration's distribution summarized.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spread {
    /// Connections with the duration.
    pub n: u64,
    pub median: Option<f64>,
    pub p95: Option<f64>,
}

/// A duration on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct TimingChange {
    pub name: &'static str,
    pub before: Spread,
    pub after: Spread,
    /// The KS statistic, absent when a side has no value.
    pub ks_d: Option<f64>,
    pub significance: Option<Significance>,
    pub verdict: Verdict,
    /// Both sides' cumulative distributions (value, share), for charts.
    #[serde(skip)]
    pub cdf: [Vec<(f64, f64)>; 2],
}

/// A finding on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct FindingChange {
    pub name: String,
    pub host: String,
    /// Connections it covers (0: absent).
    pub before: u64,
    pub after: u64,
    pub problem: bool,
    /// The finding's own summary, from the side that has it (after first).
    pub summary: String,
    pub verdict: Verdict,
}

/// A host's peak in one state.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Peak {
    pub peak: u32,
    /// Seconds from the side's first packet.
    pub peak_at: f64,
    pub end: u32,
    pub drained: bool,
}

/// A host's peak in a state on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct PeakChange {
    pub host: IpAddr,
    pub state: &'static str,
    /// `None`: none on that side (or, with `verdict` `unknown`, not listed).
    pub before: Option<Peak>,
    pub after: Option<Peak>,
    pub change: i64,
    pub verdict: Verdict,
    /// Both sides' counts over time (grid step, counts), for charts.
    #[serde(skip)]
    pub series: [Option<(f64, Vec<u32>)>; 2],
}

/// Connections that changed class between the sides of a replay.
#[derive(Clone, Debug, Serialize)]
pub struct Transition {
    pub from: &'static str,
    pub to: &'static str,
    pub connections: u64,
    /// Some pairs of ids (before, after).
    pub examples: Vec<(u64, u64)>,
}

/// How the sides' connections were matched.
#[derive(Clone, Debug, Serialize)]
pub struct Matching {
    /// Matched by endpoints, order and start time.
    pub matched: u64,
    /// `matched` over the larger side's connections.
    pub share: f64,
    /// The sides recorded the same traffic: `share` ≥ the method's.
    pub replay: bool,
    /// The median difference of the matched starts (after − before, s).
    pub offset: f64,
    pub unmatched_before: u64,
    pub unmatched_after: u64,
    /// For a replay: the matched connections whose class changed, most first.
    pub transitions: Vec<Transition>,
    /// Why matching was not tried (too many connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// One significant change, for the ranked list.
#[derive(Clone, Debug, Serialize)]
pub struct Ranked {
    /// `class`, `flag`, `server`, `client`, `timing`, `finding`, `peak`.
    pub section: &'static str,
    /// Its row's index in that section's list.
    pub index: usize,
    /// Connections (or sockets) it amounts to, by which the list is ranked.
    pub weight: f64,
}

/// Two sides compared.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    pub schema_version: u32,
    pub method: Method,
    pub before: SideInfo,
    pub after: SideInfo,
    /// `replay` (connections matched one to one) or `rates`.
    pub comparison: &'static str,
    pub matching: Matching,
    /// Settings the sides were analyzed with that differ (name, before,
    /// after).
    pub settings_differ: Vec<(String, serde_json::Value, serde_json::Value)>,
    /// What limits the comparison, in words.
    pub warnings: Vec<String>,
    /// Any change beyond chance and the floors.
    pub significant: bool,
    /// The significant changes, most weight first.
    pub ranked: Vec<Ranked>,
    pub rates: Vec<RateChange>,
    pub servers: EndpointChanges,
    pub clients: EndpointChanges,
    pub timings: Vec<TimingChange>,
    pub findings: Vec<FindingChange>,
    pub peaks: Vec<PeakChange>,
}

fn info(side: &Side) -> SideInfo {
    SideInfo {
        label: side.label.clone(),
        origin: match side.origin {
            Origin::Capture => "capture",
            Origin::Report(_) => "report",
        },
        report_schema: match side.origin {
            Origin::Report(v) => Some(v),
            Origin::Capture => None,
        },
        inputs: side.inputs.clone(),
        connections: side.connections,
        packets: side.packets,
        first_ts: side.first_ts,
        last_ts: side.last_ts,
    }
}

fn significance(t: Tested, adjusted: f64) -> Significance {
    Significance {
        test: t.test,
        p: t.p,
        p_adjusted: adjusted,
    }
}

/// The verdict of a rate tested, given the floor.
fn rate_verdict(t: Tested, adjusted: f64, a: Share, b: Share, method: &Method) -> Verdict {
    // The same rate is no change, however few the connections.
    if a.rate == b.rate {
        return Verdict::Unchanged;
    }
    if t.best_p >= method.alpha {
        return Verdict::TooFew;
    }
    let change = b.rate - a.rate;
    let floor = change.abs() >= method.min_rate_change || a.count == 0 || b.count == 0;
    if adjusted < method.alpha && floor && change != 0.0 {
        if change > 0.0 {
            Verdict::Increased
        } else {
            Verdict::Decreased
        }
    } else {
        Verdict::Unchanged
    }
}

fn rates(before: &Side, after: &Side, method: &Method) -> Vec<RateChange> {
    let mut rows: Vec<(&'static str, &'static str, u64, u64)> = Vec::new();
    for (i, c) in Class::ALL.iter().enumerate() {
        rows.push((c.name(), "class", before.classes[i], after.classes[i]));
    }
    for (i, f) in Flag::ALL.iter().enumerate() {
        rows.push((f.name(), "flag", before.flags[i], after.flags[i]));
    }
    rows.retain(|r| r.2 > 0 || r.3 > 0);
    let (n, m) = (before.connections, after.connections);
    let tests: Vec<Tested> = rows
        .iter()
        .map(|r| stats::proportions(r.2, n, r.3, m))
        .collect();
    let adjusted = stats::holm(&tests.iter().map(|t| t.p).collect::<Vec<_>>());
    rows.iter()
        .zip(tests)
        .zip(adjusted)
        .map(|((&(name, kind, a, b), t), adj)| {
            let (sa, sb) = (Share::new(a, n), Share::new(b, m));
            RateChange {
                name,
                kind,
                before: sa,
                after: sb,
                change: sb.rate - sa.rate,
                excess: b as f64 - sa.rate * m as f64,
                significance: significance(t, adj),
                verdict: rate_verdict(t, adj, sa, sb, method),
            }
        })
        .collect()
}

fn endpoints<K: std::hash::Hash + Eq + Ord + Copy>(
    before: &Endpoints<K>,
    after: &Endpoints<K>,
    base: Share,
    name: impl Fn(K) -> String,
    method: &Method,
) -> EndpointChanges {
    let zero: Tally = [0; Class::ALL.len()];
    let mut keys: Vec<K> = before
        .each
        .iter()
        .chain(&after.each)
        .filter(|(_, t)| problems(t) > 0)
        .map(|(k, _)| *k)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let pairs: Vec<(K, &Tally, &Tally)> = keys
        .iter()
        .map(|k| {
            (
                *k,
                before.each.get(k).unwrap_or(&zero),
                after.each.get(k).unwrap_or(&zero),
            )
        })
        .collect();
    // What an endpoint's after side is tested against: its own before
    // side, or, absent before, the before side's overall problem rate (a
    // new server that fails every connection is a change).
    let reference = |a: &Tally| match a.iter().sum::<u64>() {
        0 => base,
        n => Share::new(problems(a), n),
    };
    let tests: Vec<Tested> = pairs
        .iter()
        .map(|(_, a, b)| {
            let r = reference(a);
            stats::proportions(r.count, r.of, problems(b), b.iter().sum())
        })
        .collect();
    let adjusted = stats::holm(&tests.iter().map(|t| t.p).collect::<Vec<_>>());
    let mut rows: Vec<EndpointChange> = pairs
        .iter()
        .zip(tests)
        .zip(adjusted)
        .map(|((&(k, a, b), t), adj)| {
            let sa = Share::new(problems(a), a.iter().sum());
            let sb = Share::new(problems(b), b.iter().sum());
            let excess = if sa.of == 0 {
                sb.count as f64
            } else {
                sb.count as f64 - sa.rate * sb.of as f64
            };
            let tested = rate_verdict(t, adj, reference(a), sb, method);
            let significant = tested.changed();
            let verdict = if sa.count == 0 && sb.count > 0 {
                Verdict::Appeared
            } else if sa.count > 0 && sb.count == 0 {
                Verdict::Disappeared
            } else {
                tested
            };
            let scale = |n: u64, of: u64, to: u64| {
                if of == 0 {
                    n as f64
                } else {
                    n as f64 * to as f64 / of as f64
                }
            };
            let class = Class::ALL
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_problem())
                .max_by(|(i, _), (j, _)| {
                    let d = |i: usize| (b[i] as f64 - scale(a[i], sa.of, sb.of)).abs();
                    d(*i).total_cmp(&d(*j)).then(j.cmp(i))
                })
                .map(|(i, c)| ClassMove {
                    class: c.name(),
                    before: a[i],
                    after: b[i],
                })
                .expect("problem classes");
            EndpointChange {
                endpoint: name(k),
                before: sa,
                after: sb,
                change: sb.rate - sa.rate,
                excess,
                class,
                significance: significance(t, adj),
                verdict,
                significant,
            }
        })
        .collect();
    let compared = rows.len() as u64;
    // The significant first, by excess; then the rest by problems.
    rows.sort_by(|x, y| {
        y.significant
            .cmp(&x.significant)
            .then(y.excess.abs().total_cmp(&x.excess.abs()))
            .then((y.after.count + y.before.count).cmp(&(x.after.count + x.before.count)))
            .then(x.endpoint.cmp(&y.endpoint))
    });
    let omitted = rows.len().saturating_sub(MAX_ROWS) as u64;
    rows.truncate(MAX_ROWS);
    EndpointChanges {
        compared,
        rows,
        rows_omitted: omitted,
        truncated: before.truncated || after.truncated,
    }
}

fn spread(h: &stats::Histogram) -> Spread {
    Spread {
        n: h.len(),
        median: h.quantile(0.5),
        p95: h.quantile(0.95),
    }
}

fn timings(before: &Side, after: &Side, method: &Method) -> Vec<TimingChange> {
    let tested: Vec<Option<(f64, Tested)>> = before
        .timings
        .iter()
        .zip(&after.timings)
        .map(|(a, b)| stats::ks(a, b))
        .collect();
    let ps: Vec<f64> = tested.iter().flatten().map(|(_, t)| t.p).collect();
    let mut adjusted = stats::holm(&ps).into_iter();
    let mut out = Vec::new();
    for (i, ((a, b), t)) in before
        .timings
        .iter()
        .zip(&after.timings)
        .zip(tested)
        .enumerate()
    {
        if a.is_empty() && b.is_empty() {
            continue;
        }
        let (sa, sb) = (spread(a), spread(b));
        let (d, sig, verdict) = match t {
            None if a.is_empty() => (None, None, Verdict::Appeared),
            None => (None, None, Verdict::Disappeared),
            Some((d, t)) => {
                let adj = adjusted.next().expect("one adjusted p a test");
                let moved = |x: Option<f64>, y: Option<f64>| {
                    let (x, y) = (x.unwrap_or(0.0), y.unwrap_or(0.0));
                    let delta = y - x;
                    (delta.abs() >= method.min_time_change
                        && delta.abs() >= method.min_time_ratio * x.max(y))
                    .then_some(delta)
                };
                let shift = moved(sa.median, sb.median).or(moved(sa.p95, sb.p95));
                let verdict = if t.best_p >= method.alpha {
                    Verdict::TooFew
                } else {
                    match shift {
                        Some(delta) if adj < method.alpha => {
                            if delta > 0.0 {
                                Verdict::Increased
                            } else {
                                Verdict::Decreased
                            }
                        }
                        _ => Verdict::Unchanged,
                    }
                };
                (Some(d), Some(significance(t, adj)), verdict)
            }
        };
        out.push(TimingChange {
            name: TIMINGS[i],
            before: sa,
            after: sb,
            ks_d: d,
            significance: sig,
            verdict,
            cdf: [a.cdf(), b.cdf()],
        });
    }
    out
}

fn findings(before: &Side, after: &Side) -> Vec<FindingChange> {
    let mut by: BTreeMap<(String, String), FindingChange> = BTreeMap::new();
    for (side, list) in [(0, &before.findings), (1, &after.findings)] {
        for f in list {
            let row = by
                .entry((f.name.clone(), f.host.clone()))
                .or_insert_with(|| FindingChange {
                    name: f.name.clone(),
                    host: f.host.clone(),
                    before: 0,
                    after: 0,
                    problem: f.problem,
                    summary: f.summary.clone(),
                    verdict: Verdict::Unchanged,
                });
            if side == 0 {
                row.before += f.connections;
            } else {
                row.after += f.connections;
                row.summary = f.summary.clone();
                row.problem |= f.problem;
            }
        }
    }
    let mut rows: Vec<FindingChange> = by
        .into_values()
        .map(|mut f| {
            let (a, b) = (f.before, f.after);
            f.verdict = if a == 0 {
                Verdict::Appeared
            } else if b == 0 {
                Verdict::Disappeared
            } else if b >= 2 * a && b - a >= FINDING_STEP {
                Verdict::Increased
            } else if a >= 2 * b && a - b >= FINDING_STEP {
                Verdict::Decreased
            } else {
                Verdict::Unchanged
            };
            f
        })
        .collect();
    rows.sort_by(|x, y| {
        y.verdict
            .changed()
            .cmp(&x.verdict.changed())
            .then(y.before.abs_diff(y.after).cmp(&x.before.abs_diff(x.after)))
            .then(x.name.cmp(&y.name))
            .then(x.host.cmp(&y.host))
    });
    rows
}

fn peaks(before: &Side, after: &Side, method: &Method) -> Vec<PeakChange> {
    let (Some(ta), Some(tb)) = (&before.timeline, &after.timeline) else {
        return Vec::new();
    };
    let complete = |t: &super::side::Timeline| t.hosts_seen <= t.hosts_listed;
    let mut keys: Vec<(IpAddr, &'static str)> = ta
        .states
        .iter()
        .chain(&tb.states)
        .map(|s| (s.host, s.state))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let listed = |t: &super::side::Timeline, host: IpAddr| t.states.iter().any(|s| s.host == host);
    let mut rows: Vec<PeakChange> = keys
        .into_iter()
        .map(|(host, state)| {
            let find = |t: &super::side::Timeline| {
                t.states
                    .iter()
                    .find(|s| s.host == host && s.state == state)
                    .map(|s| {
                        (
                            Peak {
                                peak: s.peak,
                                // To the µs a report writes times in.
                                peak_at: (s.peak_at * 1e6).round() / 1e6,
                                end: s.end,
                                drained: s.drained,
                            },
                            (!s.counts.is_empty()).then(|| (t.step, s.counts.clone())),
                        )
                    })
            };
            let (a, b) = (find(ta), find(tb));
            // Absent from a side that lists only its top hosts, and not
            // among them: unknown, not zero.
            let unknown = |t: &super::side::Timeline, x: &Option<_>| {
                x.is_none() && !complete(t) && !listed(t, host)
            };
            let pa = a.as_ref().map_or(0, |(p, _)| p.peak);
            let pb = b.as_ref().map_or(0, |(p, _)| p.peak);
            let change = i64::from(pb) - i64::from(pa);
            let verdict = if unknown(ta, &a) || unknown(tb, &b) {
                Verdict::Unknown
            } else if change.unsigned_abs() >= u64::from(method.min_peak_change)
                && change.unsigned_abs() as f64 >= method.min_peak_ratio * f64::from(pa.max(pb))
            {
                if change > 0 {
                    Verdict::Increased
                } else {
                    Verdict::Decreased
                }
            } else {
                Verdict::Unchanged
            };
            PeakChange {
                host,
                state,
                before: a.as_ref().map(|(p, _)| *p),
                after: b.as_ref().map(|(p, _)| *p),
                change,
                verdict,
                series: [a.and_then(|(_, s)| s), b.and_then(|(_, s)| s)],
            }
        })
        .collect();
    rows.sort_by(|x, y| {
        y.verdict
            .changed()
            .cmp(&x.verdict.changed())
            .then(y.change.abs().cmp(&x.change.abs()))
            .then(x.host.cmp(&y.host))
            .then(x.state.cmp(y.state))
    });
    rows
}

/// Matches the sides' connections by endpoints, order and start time.
fn matching(before: &Side, after: &Side, method: &Method) -> Matching {
    let (Some(a), Some(b)) = (&before.replay, &after.replay) else {
        return Matching {
            matched: 0,
            share: 0.0,
            replay: false,
            offset: 0.0,
            unmatched_before: before.connections,
            unmatched_after: after.connections,
            transitions: Vec::new(),
            skipped: Some(format!(
                "a side has more than {} connections: not matched one to one",
                super::side::MAX_REPLAY
            )),
        };
    };
    type Key = (EndpointAddr, EndpointAddr);
    let group = |list: &[Conn]| {
        let mut by: HashMap<Key, Vec<usize>> = HashMap::new();
        for (i, c) in list.iter().enumerate() {
            by.entry((c.client, c.server)).or_default().push(i);
        }
        for v in by.values_mut() {
            v.sort_by_key(|&i| (list[i].start, list[i].id));
        }
        by
    };
    let (ga, gb) = (group(a), group(b));
    // Candidate pairs: the k-th connection of a 4-tuple on each side.
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (key, va) in &ga {
        if let Some(vb) = gb.get(key) {
            pairs.extend(va.iter().zip(vb).map(|(&i, &j)| (i, j)));
        }
    }
    let mut deltas: Vec<i64> = pairs
        .iter()
        .map(|&(i, j)| b[j].start - a[i].start)
        .collect();
    deltas.sort_unstable();
    let offset = deltas.get(deltas.len() / 2).copied().unwrap_or(0);
    let tolerance = (method.replay_tolerance * 1e9) as i64;
    pairs.retain(|&(i, j)| (b[j].start - a[i].start - offset).abs() <= tolerance);
    pairs.sort_unstable();
    let matched = pairs.len() as u64;
    let larger = before.connections.max(after.connections);
    let share = if larger == 0 {
        0.0
    } else {
        matched as f64 / larger as f64
    };
    let replay = larger > 0 && share >= method.replay_share;
    let mut transitions: Vec<Transition> = Vec::new();
    if replay {
        type Examples = (u64, Vec<(u64, u64)>);
        let mut by: BTreeMap<(Class, Class), Examples> = BTreeMap::new();
        for &(i, j) in &pairs {
            let (x, y) = (&a[i], &b[j]);
            if x.class != y.class {
                let e = by.entry((x.class, y.class)).or_default();
                e.0 += 1;
                if e.1.len() < EXAMPLES {
                    e.1.push((x.id, y.id));
                }
            }
        }
        transitions = by
            .into_iter()
            .map(|((from, to), (n, examples))| Transition {
                from: from.name(),
                to: to.name(),
                connections: n,
                examples,
            })
            .collect();
        transitions.sort_by_key(|t| std::cmp::Reverse(t.connections));
    }
    Matching {
        matched,
        share,
        replay,
        offset: offset as f64 / 1e9,
        unmatched_before: before.connections - matched,
        unmatched_after: after.connections - matched,
        transitions,
        skipped: None,
    }
}

fn settings_differ(
    before: &Side,
    after: &Side,
) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    let null = serde_json::Value::Null;
    let mut keys: Vec<&String> = before
        .settings
        .keys()
        .chain(after.settings.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                before.settings.get(k).unwrap_or(&null),
                after.settings.get(k).unwrap_or(&null),
            );
            (x != y).then(|| (k.clone(), x.clone(), y.clone()))
        })
        .collect()
}

impl Diff {
    /// Compares `before` with `after`.
    pub fn between(before: &Side, after: &Side, method: Method) -> Diff {
        let rates = rates(before, after, &method);
        let base = Share::new(problems(&before.classes), before.connections);
        let servers = endpoints(
            &before.servers,
            &after.servers,
            base,
            |k: EndpointAddr| {
                serde_json::to_value(k)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            },
            &method,
        );
        let clients = endpoints(
            &before.clients,
            &after.clients,
            base,
            |k: IpAddr| k.to_string(),
            &method,
        );
        let timings = timings(before, after, &method);
        let findings = findings(before, after);
        let peaks = peaks(before, after, &method);
        let matching = matching(before, after, &method);
        let settings_differ = settings_differ(before, after);
        let mut warnings = Vec::new();
        if !settings_differ.is_empty() {
            warnings.push(format!(
                "the sides were analyzed with different settings ({}): classes and the timeline may differ for that reason alone",
                settings_differ
                    .iter()
                    .map(|(k, _, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if before.filter != after.filter {
            warnings.push("the sides were analyzed with different filters".to_string());
        }
        for (name, s) in [("before", before), ("after", after)] {
            if s.interrupted {
                warnings.push(format!("the {name} side's analysis was interrupted"));
            }
            if s.evicted > 0 {
                warnings.push(format!(
                    "the {name} side evicted {} connections (--max-connections)",
                    s.evicted
                ));
            }
            if s.servers.truncated || s.clients.truncated {
                warnings.push(format!(
                    "the {name} side has more than {} servers or clients: the rest are counted together",
                    super::side::MAX_ENDPOINTS
                ));
            }
            if matches!(s.origin, Origin::Report(v) if v < 7) {
                warnings.push(format!(
                    "the {name} side is a report of schema {} without a timeline: peaks are not compared",
                    match s.origin {
                        Origin::Report(v) => v,
                        Origin::Capture => 0,
                    }
                ));
            }
        }
        if let Some(why) = &matching.skipped {
            warnings.push(format!("{why}; rates are compared"));
        }
        let mut ranked = Vec::new();
        for (i, r) in rates.iter().enumerate() {
            if r.verdict.changed() {
                let section = if r.kind == "class" { "class" } else { "flag" };
                ranked.push(Ranked {
                    section,
                    index: i,
                    weight: r.excess.abs(),
                });
            }
        }
        for (section, list) in [("server", &servers), ("client", &clients)] {
            for (i, e) in list.rows.iter().enumerate() {
                if e.significant {
                    ranked.push(Ranked {
                        section,
                        index: i,
                        weight: e.excess.abs(),
                    });
                }
            }
        }
        for (i, t) in timings.iter().enumerate() {
            if t.verdict.changed() {
                ranked.push(Ranked {
                    section: "timing",
                    index: i,
                    weight: t.ks_d.unwrap_or(1.0) * t.after.n.max(t.before.n) as f64,
                });
            }
        }
        for (i, f) in findings.iter().enumerate() {
            if f.verdict.changed() {
                ranked.push(Ranked {
                    section: "finding",
                    index: i,
                    weight: f.before.abs_diff(f.after) as f64,
                });
            }
        }
        for (i, p) in peaks.iter().enumerate() {
            if p.verdict.changed() {
                ranked.push(Ranked {
                    section: "peak",
                    index: i,
                    weight: p.change.unsigned_abs() as f64,
                });
            }
        }
        // Heaviest first; on a tie, the sections' order above.
        let order = |s: &str| {
            [
                "class", "finding", "server", "client", "peak", "flag", "timing",
            ]
            .iter()
            .position(|x| *x == s)
            .unwrap_or(9)
        };
        ranked.sort_by(|x, y| {
            y.weight
                .total_cmp(&x.weight)
                .then(order(x.section).cmp(&order(y.section)))
                .then(x.index.cmp(&y.index))
        });
        Diff {
            schema_version: SCHEMA_VERSION,
            method,
            before: info(before),
            after: info(after),
            comparison: if matching.replay { "replay" } else { "rates" },
            significant: !ranked.is_empty(),
            ranked,
            matching,
            settings_differ,
            warnings,
            rates,
            servers,
            clients,
            timings,
            findings,
            peaks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(total: u64, resets: u64) -> Side {
        let mut s = Side::new("x", Origin::Capture);
        let reset = Class::ALL.iter().position(|c| *c == Class::Reset).unwrap();
        let clean = Class::ALL.iter().position(|c| *c == Class::Clean).unwrap();
        s.connections = total;
        s.classes[reset] = resets;
        s.classes[clean] = total - resets;
        s
    }

    fn reset_verdict(a: &Side, b: &Side) -> Verdict {
        let d = Diff::between(a, b, Method::default());
        d.rates.iter().find(|r| r.name == "reset").unwrap().verdict
    }

    #[test]
    fn small_counts_are_too_few_to_tell_and_large_ones_are_not() {
        // 0 of 5 against 3 of 5: p = 0.17 at best, never an arrow.
        assert_eq!(reset_verdict(&side(5, 0), &side(5, 3)), Verdict::TooFew);
        // 0 of 500 against 30 of 500: beyond chance.
        assert_eq!(
            reset_verdict(&side(500, 0), &side(500, 30)),
            Verdict::Increased
        );
        // The same rate is no change at any size.
        assert_eq!(reset_verdict(&side(5, 1), &side(5, 1)), Verdict::Unchanged);
    }

    #[test]
    fn tiny_rate_moves_on_huge_sides_are_below_the_floor() {
        // 1.00 % against 1.05 % of a million: significant (p ≈ 4e-4) but a
        // move of 0.05 percentage point, under the 0.1 floor.
        let (a, b) = (side(1_000_000, 10_000), side(1_000_000, 10_500));
        let d = Diff::between(&a, &b, Method::default());
        let r = d.rates.iter().find(|r| r.name == "reset").unwrap();
        assert!(r.significance.p < 0.01, "{}", r.significance.p);
        assert_eq!(r.verdict, Verdict::Unchanged);
        assert!(!d.significant);
    }
}
