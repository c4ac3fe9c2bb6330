//! `teardown check`: a policy over a report, for CI.
//!
//! A policy is a list of rules — `fail-on TARGET` (any connection with the class
//! or flag fails) and `max TARGET=N` / `max TARGET=P%` (more than N connections,
//! or more than P percent of all connections, fails) — plus an optional connection
//! filter. It comes from `--policy FILE` (TOML) and the command line, which adds to
//! the file:
//!
//! ```toml
//! fail_on = ["half_closed_hang", "lost_fin"]
//!
//! [max]
//! reset = 10
//! refused = "1%"
//!
//! [max_state]
//! CLOSE_WAIT = 1000
//!
//! [filter]
//! port = [443]
//! net = ["10.0.0.0/8"]
//! ```
//!
//! `max_state` (`--max-state STATE=N`) is about hosts, not connections: it
//! fails when any host's peak in that state (the report's `timeline`) is
//! above N.
//!
//! `max_increase` (`--max-increase TARGET=N|P%`, with `--baseline`) compares
//! with a baseline side (`compare::Side`): `P%` allows the target's rate to
//! grow by P percentage points over the baseline's, `N` allows N connections
//! more than the baseline's rate gives for the checked connections.

use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::classify::{Class, Flag};
use crate::compare::Side;
use crate::compare::stats::{self, Test};
use crate::report::ConnectionReport;
use crate::report::filter::Filter;
use crate::report::findings::{self, Finding};
use crate::report::problems::{Problem, fair_pick};
use crate::report::sink::{Records, Sink};
use crate::report::timeline::Timeline;

/// How many offending connections renderers list per rule.
pub const MAX_LISTED: usize = 20;

#[derive(Debug, Error, PartialEq)]
pub enum PolicyError {
    #[error("`{0}` is not a class, flag or finding (classes: {classes}; flags: {flags}; findings: {findings})", classes = class_names(), flags = flag_names(), findings = finding_names())]
    UnknownTarget(String),
    #[error("`{0}` is not a limit: use a count (`10`) or a percentage (`1.5%`)")]
    BadLimit(String),
    #[error("`{0}` is not a rule: use TARGET=N or TARGET=P%")]
    BadMax(String),
    #[error(
        "`{0}` is not an increase: use TARGET=N (connections more than the baseline's rate gives) or TARGET=P% (percentage points)"
    )]
    BadIncrease(String),
    #[error("policy file: {0}")]
    Toml(String),
    #[error("`{0}` is not a state rule: use STATE=N with a state of {states}", states = crate::report::timeline::COLUMNS[..9].join(", "))]
    BadMaxState(String),
}

/// A state's name as the timeline writes it, from its RFC 9293 or `ss` name
/// (`CLOSE_WAIT`, `close-wait`, `ESTAB`, `SYN-RECV`).
pub fn state_name(s: &str) -> Option<&'static str> {
    let n = s.trim().to_ascii_uppercase().replace('-', "_");
    let n = match n.as_str() {
        "ESTAB" => "ESTABLISHED",
        "SYN_RECV" => "SYN_RECEIVED",
        other => other,
    };
    crate::report::timeline::COLUMNS[..9]
        .iter()
        .find(|c| **c == n)
        .copied()
}

/// Parses `--max-state`'s `STATE=N`.
pub fn parse_max_state(s: &str) -> Result<(&'static str, u64), PolicyError> {
    let bad = || PolicyError::BadMaxState(s.to_string());
    let (state, n) = s.split_once('=').ok_or_else(bad)?;
    Ok((
        state_name(state).ok_or_else(bad)?,
        n.trim().parse().map_err(|_| bad())?,
    ))
}

fn class_names() -> String {
    Class::ALL.map(|c| c.name()).join(", ")
}

fn flag_names() -> String {
    Flag::ALL.map(|f| f.name()).join(", ")
}

fn finding_names() -> String {
    findings::Kind::ALL
        .iter()
        .map(|k| k.target_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A class, a flag or a finding a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Class(Class),
    Flag(Flag),
    /// `finding:NAME`: the connections of the findings of that kind, known
    /// once the analysis is over ([`Checker::finish`]).
    Finding(findings::Kind),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, PolicyError> {
        let s = s.trim();
        if let Some(c) = Class::ALL.into_iter().find(|c| c.name() == s) {
            return Ok(Target::Class(c));
        }
        if let Some(f) = Flag::ALL.into_iter().find(|f| f.name() == s) {
            return Ok(Target::Flag(f));
        }
        if let Some(k) = s
            .strip_prefix("finding:")
            .and_then(findings::Kind::from_name)
        {
            return Ok(Target::Finding(k));
        }
        Err(PolicyError::UnknownTarget(s.to_string()))
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Class(c) => c.name(),
            Target::Flag(f) => f.name(),
            Target::Finding(k) => k.target_name(),
        }
    }

    /// Whether connection `c` has the class or flag (a finding's connections
    /// are known only at the end).
    pub fn matches(self, c: &ConnectionReport) -> bool {
        match self {
            Target::Class(class) => c.class == class,
            Target::Flag(flag) => c.flags.contains(&flag),
            Target::Finding(_) => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    Count(u64),
    Percent(f64),
}

impl Limit {
    pub fn parse(s: &str) -> Result<Limit, PolicyError> {
        let s = s.trim();
        let bad = || PolicyError::BadLimit(s.to_string());
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&v) {
                return Err(bad());
            }
            Ok(Limit::Percent(v))
        } else {
            Ok(Limit::Count(s.parse().map_err(|_| bad())?))
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    FailOn(Target),
    Max(Target, Limit),
    /// Against the baseline: `Limit::Count(n)`, n connections more than the
    /// baseline's rate gives; `Limit::Percent(p)`, p percentage points more.
    MaxIncrease(Target, Limit),
}

impl Rule {
    /// Parses the value of `--max`: `TARGET=N` or `TARGET=P%`.
    pub fn parse_max(s: &str) -> Result<Rule, PolicyError> {
        let (t, l) = s
            .split_once('=')
            .ok_or_else(|| PolicyError::BadMax(s.to_string()))?;
        Ok(Rule::Max(Target::parse(t)?, Limit::parse(l)?))
    }

    /// Parses the value of `--max-increase`: `TARGET=N` or `TARGET=P%`.
    pub fn parse_max_increase(s: &str) -> Result<Rule, PolicyError> {
        let (t, l) = s
            .split_once('=')
            .ok_or_else(|| PolicyError::BadIncrease(s.to_string()))?;
        let limit = Limit::parse(l).map_err(|_| PolicyError::BadIncrease(s.to_string()))?;
        Ok(Rule::MaxIncrease(Target::parse(t)?, limit))
    }

    pub fn target(self) -> Target {
        match self {
            Rule::FailOn(t) | Rule::Max(t, _) | Rule::MaxIncrease(t, _) => t,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::FailOn(t) => write!(f, "fail-on {}", t.name()),
            Rule::Max(t, l) => write!(f, "max {}={l}", t.name()),
            Rule::MaxIncrease(t, l) => write!(f, "max-increase {}={l}", t.name()),
        }
    }
}

/// Rules and the filter they apply to.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub rules: Vec<Rule>,
    /// Per state, the most sockets any host may hold in it at once.
    pub max_state: Vec<(&'static str, u64)>,
    pub filter: Filter,
    /// The policy fails when fewer connections than this survived the filter:
    /// a gate that held on no evidence would be a silent failure.
    pub min_connections: u64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            rules: Vec::new(),
            max_state: Vec::new(),
            filter: Filter::default(),
            min_connections: 1,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    fail_on: Vec<String>,
    #[serde(default)]
    max: BTreeMap<String, LimitRepr>,
    #[serde(default)]
    max_state: BTreeMap<String, u64>,
    #[serde(default)]
    max_increase: BTreeMap<String, LimitRepr>,
    #[serde(default)]
    filter: Filter,
    min_connections: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LimitRepr {
    Count(u64),
    Text(String),
}

impl Policy {
    /// Parses a policy file (TOML; see the module documentation).
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        let mut rules = Vec::new();
        for t in &file.fail_on {
            rules.push(Rule::FailOn(Target::parse(t)?));
        }
        for (t, l) in &file.max {
            let limit = match l {
                LimitRepr::Count(n) => Limit::Count(*n),
                LimitRepr::Text(s) => Limit::parse(s)?,
            };
            rules.push(Rule::Max(Target::parse(t)?, limit));
        }
        for (t, l) in &file.max_increase {
            let limit = match l {
                LimitRepr::Count(n) => Limit::Count(*n),
                LimitRepr::Text(s) => {
                    Limit::parse(s).map_err(|_| PolicyError::BadIncrease(format!("{t}={s}")))?
                }
            };
            rules.push(Rule::MaxIncrease(Target::parse(t)?, limit));
        }
        let max_state = file
            .max_state
            .iter()
            .map(|(k, n)| {
                state_name(k)
                    .map(|s| (s, *n))
                    .ok_or_else(|| PolicyError::BadMaxState(format!("{k}={n}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            rules,
            max_state,
            filter: file.filter,
            min_connections: file.min_connections.unwrap_or(1),
        })
    }
}

/// The outcome of one rule.
#[derive(Clone, Debug, Serialize)]
pub struct RuleResult {
    /// The rule as written on the command line (`max reset=10`).
    pub rule: String,
    /// The class or flag it is about.
    pub target: &'static str,
    /// Connections with that class or flag.
    pub observed: u64,
    /// `observed` as a percentage of all connections checked.
    pub observed_percent: f64,
    /// The most connections the rule allows (0 for `fail-on`; for a percentage,
    /// the count it amounts to, possibly fractional); for `min-connections`,
    /// the fewest it requires (see `at_least`).
    pub allowed: f64,
    /// `allowed` is a minimum: present, `true`, only for `min-connections`,
    /// whose `observed` is every connection checked.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub at_least: bool,
    pub held: bool,
    /// Ids (as in the report) of the connections with the class or flag: the
    /// first [`MAX_IDS`] in report order (`observed` counts them all).
    pub connections: Vec<u64>,
    /// Connections with the class or flag beyond those in `connections`
    /// (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub connections_omitted: u64,
    /// For a `max-state` rule: the host whose peak `observed` is, and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<std::net::IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_at: Option<crate::time::Timestamp>,
    /// A `max-state` rule: `observed` counts one host's sockets, not
    /// connections.
    #[serde(skip)]
    pub per_host: bool,
    /// A `max-increase` rule: the baseline's count, and whether the change
    /// is beyond chance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineResult>,
}

/// What a `max-increase` rule compared with.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineResult {
    /// The baseline's connections (after the filter) and those with the
    /// target.
    pub connections: u64,
    pub observed: u64,
    pub observed_percent: f64,
    /// The test of the two rates (docs/diff.md) and its p-value: whether the
    /// change is beyond chance, which the rule itself does not require.
    pub test: Test,
    pub p: f64,
}

/// Ids a rule's verdict lists at most: the verdict's memory stays bounded
/// whatever the capture (issue 35, D11).
pub const MAX_IDS: usize = 1000;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The verdict of `teardown check` (`--format json`).
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    /// Same versioning as the analysis report.
    pub schema_version: u32,
    /// Every rule held.
    pub held: bool,
    /// Connections the rules were applied to (after the filter).
    pub connections: u64,
    /// Connections that a failed rule is about, each once.
    pub offending: u64,
    pub rules: Vec<RuleResult>,
    /// The offending connections listed: [`MAX_LISTED`] of the failed rules'
    /// smallest ids, shared fairly between the rules, worst kind first.
    #[serde(skip)]
    pub listed_offenders: Vec<u64>,
}

impl CheckResult {
    pub fn failed_rules(&self) -> impl Iterator<Item = &RuleResult> {
        self.rules.iter().filter(|r| !r.held)
    }

    /// The offending connections listed ([`CheckResult::listed_offenders`]).
    pub fn offenders(&self) -> &[u64] {
        &self.listed_offenders
    }
}

/// Applies the rules connection by connection, as the analysis hands them on
/// (a [`Sink`]), in memory that does not grow with the capture: per rule a
/// count, the first [`MAX_IDS`] ids in report order, and the [`MAX_LISTED`]
/// smallest; per combination of rules a connection met, a count (so the
/// offending connections are counted once each, whichever rules fail); and
/// the records a renderer may list — per rule the first [`MAX_LISTED`]
/// offenders in report order (JUnit) and the [`MAX_LISTED`] with the
/// smallest ids (the log and the Markdown summary share their rows between
/// the failed rules, worst kind first).
pub struct Checker {
    rules: Vec<Rule>,
    max_state: Vec<(&'static str, u64)>,
    min_connections: u64,
    per_rule: Vec<RuleIds>,
    /// Connections per set of rules they met (a bit per rule), for the count
    /// of distinct offenders.
    combinations: std::collections::HashMap<Vec<u64>, u64>,
    /// The bits of the connection being added (reused).
    bits: Vec<u64>,
    /// The records some rule may list, by id, with how many rules' lists
    /// hold each.
    kept: BTreeMap<u64, (Box<ConnectionReport>, u32)>,
    total: u64,
    baseline: Option<Side>,
}

/// What one rule keeps of its connections.
#[derive(Clone, Default)]
struct RuleIds {
    count: u64,
    /// The first [`MAX_IDS`], in report order.
    first: Vec<u64>,
    /// The largest of its [`MAX_LISTED`] smallest ids on top.
    smallest: BinaryHeap<u64>,
}

impl Checker {
    /// The checker of `rules`, failing also below `min_connections`.
    pub fn new(rules: Vec<Rule>, min_connections: u64) -> Checker {
        let n = rules.len();
        Checker {
            rules,
            max_state: Vec::new(),
            min_connections,
            per_rule: vec![RuleIds::default(); n],
            combinations: std::collections::HashMap::new(),
            bits: vec![0; n.div_ceil(64)],
            kept: BTreeMap::new(),
            total: 0,
            baseline: None,
        }
    }

    /// The side `max-increase` rules compare with.
    pub fn baseline(mut self, side: Side) -> Checker {
        self.baseline = Some(side);
        self
    }

    /// Adds `max-state` limits: per state, the most sockets a host may hold.
    pub fn max_state(mut self, limits: Vec<(&'static str, u64)>) -> Checker {
        self.max_state = limits;
        self
    }

    /// Counts one connection against every rule.
    pub fn add(&mut self, c: Box<ConnectionReport>) {
        self.total += 1;
        self.bits.iter_mut().for_each(|w| *w = 0);
        let mut lists = 0u32;
        for i in 0..self.rules.len() {
            if !self.rules[i].target().matches(&c) {
                continue;
            }
            self.bits[i / 64] |= 1 << (i % 64);
            let r = &mut self.per_rule[i];
            r.count += 1;
            if r.first.len() < MAX_IDS {
                r.first.push(c.id);
            }
            // Listed by JUnit (its first MAX_LISTED), or among its smallest.
            if r.first.len() <= MAX_LISTED && r.first.last() == Some(&c.id) {
                lists += 1;
            }
            r.smallest.push(c.id);
            if r.smallest.len() > MAX_LISTED {
                let out = r.smallest.pop().expect("more than MAX_LISTED");
                if out == c.id {
                    continue;
                }
                release(&mut self.kept, out);
            }
            lists += 1;
        }
        if self.bits.iter().any(|&w| w != 0) {
            match self.combinations.get_mut(self.bits.as_slice()) {
                Some(n) => *n += 1,
                None => {
                    self.combinations.insert(self.bits.clone(), 1);
                }
            }
        }
        if lists > 0 {
            self.kept.insert(c.id, (c, lists));
        }
    }

    /// The offenders the log and the Markdown summary list: [`MAX_LISTED`] of
    /// the failed rules' smallest ids, shared fairly between the rules (10,000
    /// accepted TIME_WAIT reuses do not hide the one reset another rule is
    /// about), the worst kind of problem first, then by id.
    fn listable(
        kept: &BTreeMap<u64, (Box<ConnectionReport>, u32)>,
        mut listed: Vec<(u64, usize)>,
    ) -> Vec<u64> {
        listed.sort_unstable();
        listed.dedup_by_key(|(id, _)| *id);
        let items: Vec<(usize, usize)> = listed
            .iter()
            .enumerate()
            .map(|(i, (_, rule))| (i, *rule))
            .collect();
        let mut ids: Vec<u64> = fair_pick(&items, MAX_LISTED)
            .into_iter()
            .map(|i| listed[i].0)
            .collect();
        ids.sort_by_key(|id| {
            let kind = kept.get(id).and_then(|(c, _)| Problem::of(c));
            (kind.is_none(), kind, *id)
        });
        ids
    }

    /// The verdict, with the analysis' `findings` for the `finding:` rules
    /// and its `timeline` for the `max-state` ones, and the records its
    /// renderers may list (in id order).
    pub fn finish(
        self,
        findings: &[Finding],
        timeline: Option<&Timeline>,
    ) -> (CheckResult, Vec<ConnectionReport>) {
        let total = self.total;
        let mut failed = vec![0u64; self.rules.len().div_ceil(64)];
        // (id, rule) for each failed rule's smallest ids.
        let mut listed: Vec<(u64, usize)> = Vec::new();
        let mut results: Vec<RuleResult> = Vec::with_capacity(self.rules.len() + 1);
        let mut found_offending = 0u64;
        for (i, (rule, mut ids)) in self.rules.iter().zip(self.per_rule).enumerate() {
            if let Target::Finding(kind) = rule.target() {
                for f in findings.iter().filter(|f| f.kind == kind) {
                    ids.count += f.connections;
                    ids.first.extend(&f.evidence);
                }
                ids.first.sort_unstable();
            }
            let observed = ids.count;
            let baseline = match (rule, &self.baseline) {
                (Rule::MaxIncrease(t, _), Some(side)) => {
                    let count = match t {
                        Target::Finding(k) => side.finding_connections(k.name()),
                        t => side.count_of(t.name()).unwrap_or(0),
                    };
                    let tested = stats::proportions(count, side.connections, observed, total);
                    Some(BaselineResult {
                        connections: side.connections,
                        observed: count,
                        observed_percent: if side.connections == 0 {
                            0.0
                        } else {
                            100.0 * count as f64 / side.connections as f64
                        },
                        test: tested.test,
                        p: tested.p,
                    })
                }
                _ => None,
            };
            let base_rate = baseline
                .as_ref()
                .map_or(0.0, |b| b.observed_percent / 100.0);
            let allowed = match rule {
                Rule::FailOn(_) => 0.0,
                Rule::Max(_, Limit::Count(n)) => *n as f64,
                Rule::Max(_, Limit::Percent(p)) => p / 100.0 * total as f64,
                Rule::MaxIncrease(_, Limit::Count(n)) => base_rate * total as f64 + *n as f64,
                Rule::MaxIncrease(_, Limit::Percent(p)) => (base_rate + p / 100.0) * total as f64,
            };
            let held = (observed as f64) <= allowed;
            if !held {
                failed[i / 64] |= 1 << (i % 64);
                listed.extend(ids.smallest.into_iter().map(|id| (id, i)));
                if matches!(rule.target(), Target::Finding(_)) {
                    found_offending += observed;
                }
            }
            results.push(RuleResult {
                rule: rule.to_string(),
                target: rule.target().name(),
                observed,
                observed_percent: if total == 0 {
                    0.0
                } else {
                    100.0 * observed as f64 / total as f64
                },
                allowed,
                at_least: false,
                held,
                connections_omitted: observed - ids.first.len() as u64,
                connections: ids.first,
                host: None,
                peak_at: None,
                per_host: false,
                baseline,
            });
        }
        for &(state, limit) in &self.max_state {
            let peak = timeline.and_then(|t| t.peaks.iter().find(|p| p.state == state));
            let observed = peak.map_or(0, |p| u64::from(p.stats.peak));
            results.push(RuleResult {
                rule: format!("max-state {state}={limit}"),
                target: state,
                observed,
                observed_percent: 0.0,
                allowed: limit as f64,
                at_least: false,
                held: observed <= limit,
                connections: Vec::new(),
                connections_omitted: 0,
                host: peak.map(|p| p.host),
                peak_at: peak.map(|p| p.stats.peak_at),
                per_host: true,
                baseline: None,
            });
        }
        if self.min_connections > 0 {
            results.push(RuleResult {
                rule: format!("min-connections {}", self.min_connections),
                target: "connections",
                observed: total,
                observed_percent: if total == 0 { 0.0 } else { 100.0 },
                allowed: self.min_connections as f64,
                at_least: true,
                held: total >= self.min_connections,
                connections: Vec::new(),
                connections_omitted: 0,
                host: None,
                peak_at: None,
                per_host: false,
                baseline: None,
            });
        }
        let offending = self
            .combinations
            .iter()
            .filter(|(bits, _)| bits.iter().zip(&failed).any(|(b, f)| b & f != 0))
            .map(|(_, n)| n)
            .sum::<u64>()
            + found_offending;
        let listed = Self::listable(&self.kept, listed);
        let result = CheckResult {
            schema_version: crate::report::SCHEMA_VERSION,
            held: results.iter().all(|r| r.held),
            connections: total,
            offending,
            rules: results,
            listed_offenders: listed,
        };
        let kept = self.kept.into_values().map(|(c, _)| *c).collect();
        (result, kept)
    }
}

/// One rule's list lets go of record `id`; it is dropped when no list holds it.
fn release(kept: &mut BTreeMap<u64, (Box<ConnectionReport>, u32)>, id: u64) {
    if let Some((_, lists)) = kept.get_mut(&id) {
        *lists -= 1;
        if *lists == 0 {
            kept.remove(&id);
        }
    }
}

impl Sink for Checker {
    type Encoder = Records;
    fn connection(&mut self, c: Box<ConnectionReport>) -> std::io::Result<()> {
        self.add(c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_classes_or_flags() {
        assert_eq!(Target::parse("reset").unwrap(), Target::Class(Class::Reset));
        assert_eq!(
            Target::parse("time_wait_reuse").unwrap(),
            Target::Flag(Flag::TimeWaitReuse)
        );
        assert!(matches!(
            Target::parse("resets"),
            Err(PolicyError::UnknownTarget(_))
        ));
    }

    #[test]
    fn max_rules_take_counts_and_percentages() {
        assert_eq!(
            Rule::parse_max("reset=10").unwrap(),
            Rule::Max(Target::Class(Class::Reset), Limit::Count(10))
        );
        assert_eq!(
            Rule::parse_max("refused=2.5%").unwrap(),
            Rule::Max(Target::Class(Class::Refused), Limit::Percent(2.5))
        );
        assert!(Rule::parse_max("reset").is_err());
        assert!(Rule::parse_max("reset=-1").is_err());
        assert!(Rule::parse_max("reset=120%").is_err());
        assert_eq!(
            Rule::parse_max("reset=10").unwrap().to_string(),
            "max reset=10"
        );
    }

    #[test]
    fn policy_files_hold_rules_and_a_filter() {
        let p = Policy::from_toml(
            r#"
            fail_on = ["half_closed_hang"]
            [max]
            reset = 10
            refused = "1%"
            [filter]
            port = [443]
            net = ["10.0.0.0/8"]
            "#,
        )
        .unwrap();
        assert_eq!(p.rules.len(), 3);
        assert_eq!(
            p.rules[0],
            Rule::FailOn(Target::Class(Class::HalfClosedHang))
        );
        assert!(p.rules.contains(&Rule::Max(
            Target::Class(Class::Refused),
            Limit::Percent(1.0)
        )));
        assert_eq!(p.filter.port, vec![443]);
        assert_eq!(p.filter.net.len(), 1);
    }

    #[test]
    fn policy_file_mistakes_are_reported() {
        assert!(matches!(
            Policy::from_toml("fail_on = [\"nope\"]"),
            Err(PolicyError::UnknownTarget(_))
        ));
        assert!(matches!(
            Policy::from_toml("fail-on = [\"reset\"]"),
            Err(PolicyError::Toml(_))
        ));
        assert!(matches!(
            Policy::from_toml("[max]\nreset = \"many\""),
            Err(PolicyError::BadLimit(_))
        ));
    }

    #[test]
    fn max_increase_allows_the_baseline_rate_plus_points_or_connections() {
        use crate::compare::{Origin, Side};
        let mut base = Side::new("base", Origin::Capture);
        // 1,000 connections, 10 resets (1 %).
        base.connections = 1000;
        let reset = Class::ALL.iter().position(|c| *c == Class::Reset).unwrap();
        base.classes[reset] = 10;
        let rules = vec![
            Rule::parse_max_increase("reset=0.5%").unwrap(),
            Rule::parse_max_increase("reset=3").unwrap(),
        ];
        assert_eq!(
            rules[0],
            Rule::MaxIncrease(Target::Class(Class::Reset), Limit::Percent(0.5))
        );
        let report = crate::pipeline::analyze(&crate::pipeline::Options::demo(1)).report;
        let mut checker = Checker::new(rules, 0).baseline(base);
        let n = report.connections.len() as f64;
        for c in report.connections {
            checker.add(Box::new(c));
        }
        let (result, _) = checker.finish(&[], None);
        // 1 % + 0.5 points of the checked connections; 1 % of them + 3.
        assert!((result.rules[0].allowed - 0.015 * n).abs() < 1e-9);
        assert!((result.rules[1].allowed - (0.01 * n + 3.0)).abs() < 1e-9);
        let b = result.rules[0].baseline.as_ref().unwrap();
        assert_eq!((b.connections, b.observed), (1000, 10));
        assert_eq!(result.rules[0].rule, "max-increase reset=0.5%");
        assert!(matches!(
            Policy::from_toml("[max_increase]\nreset = \"lots\""),
            Err(PolicyError::BadIncrease(_))
        ));
        let p = Policy::from_toml("[max_increase]\nlost_fin = 2\nreset = \"0.5%\"").unwrap();
        assert!(p.rules.contains(&Rule::MaxIncrease(
            Target::Class(Class::LostFin),
            Limit::Count(2)
        )));
    }
}
