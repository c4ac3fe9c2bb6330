//! `teardown check`'s verdict, for a CI log, JUnit and a job summary.

pub mod junit;
pub mod markdown;
pub mod text;

use crate::report::{ConnectionReport, Report};

/// The connection with report id `id` (connections are in the order they
/// ended, not by id; this is called for the few offenders listed).
pub(crate) fn by_id(report: &Report, id: u64) -> Option<&ConnectionReport> {
    report.connections.iter().find(|c| c.id == id)
}

/// One line about an offending connection, with its key timestamps.
pub(crate) fn describe(c: &ConnectionReport) -> String {
    let flags: Vec<&str> = c.flags.iter().map(|f| f.name()).collect();
    let close = c
        .evidence
        .fins
        .first()
        .map(|f| (f.side, "FIN", f.first))
        .into_iter()
        .chain(
            c.evidence
                .rsts
                .iter()
                .find(|r| r.valid)
                .map(|r| (r.side, "RST", r.at)),
        )
        .min_by_key(|(_, _, at)| at.ts);
    let close = close
        .map(|(side, what, at)| {
            format!(
                ", first {what} from {} at {} (packet {})",
                side.name(),
                at.ts.rfc3339(),
                at.packet()
            )
        })
        .unwrap_or_default();
    format!(
        "#{} {} -> {} {}{} client {} / server {}; {} .. {}{close}",
        c.id,
        c.client,
        c.server,
        c.class.name(),
        if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(","))
        },
        c.end_state.client,
        c.end_state.server,
        c.first_ts.rfc3339(),
        c.last_ts.rfc3339(),
    )
}

/// What a rule observed: connections and their share, or for a
/// `max-state` rule the host's peak and when.
pub fn observed(r: &crate::policy::RuleResult) -> String {
    if r.per_host {
        match (r.host, r.peak_at) {
            (Some(h), Some(at)) => format!("{} sockets on {h} at {}", r.observed, at.rfc3339()),
            _ => "no socket on any host".into(),
        }
    } else {
        format!("{} ({:.1}%){}", r.observed, r.observed_percent, against(r))
    }
}

/// `, baseline 0 of 208 (0.0%), p = 3e-21 (Fisher's exact test)` for a
/// `max-increase` rule; empty for the others.
pub fn against(r: &crate::policy::RuleResult) -> String {
    r.baseline.as_ref().map_or_else(String::new, |b| {
        format!(
            ", baseline {} of {} ({:.1}%), change {}",
            b.observed,
            b.connections,
            b.observed_percent,
            crate::render::diff::p_text(b.p)
        ) + &format!(" ({})", b.test.name())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Class, Flag};
    use crate::policy::{CheckResult, Checker, Limit, MAX_LISTED, Rule, Target};

    /// The demo capture's connections, repeated until there are `n`, under
    /// ids that do not follow report order (as reused 4-tuples and end-of-capture
    /// connections make them), and the report holding them all.
    fn many_connections(n: usize) -> Report {
        let mut report = crate::pipeline::analyze(&crate::pipeline::Options::demo(1)).report;
        let demo = std::mem::take(&mut report.connections);
        report.connections = (0..n)
            .map(|i| {
                let mut c = demo[i % demo.len()].clone();
                // A permutation of 0..n (n is odd, 7919 is prime to it).
                c.id = (i as u64 * 7919) % n as u64;
                c
            })
            .collect();
        report
    }

    fn rendered(result: &CheckResult, report: &Report) -> (String, String, String) {
        let mut text = Vec::new();
        let mut junit = Vec::new();
        let mut md = Vec::new();
        text::write_text(result, report, &mut text).unwrap();
        junit::write_junit(result, report, &mut junit).unwrap();
        markdown::write_markdown(result, report, &mut md).unwrap();
        let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
        (s(text), s(junit), s(md))
    }

    #[test]
    fn the_streaming_checker_keeps_exactly_what_the_renderers_list() {
        let report = many_connections(2001);
        let rules = vec![
            Rule::FailOn(Target::Class(Class::Clean)),
            Rule::FailOn(Target::Flag(Flag::TimeWaitReuse)),
            Rule::Max(Target::Class(Class::Reset), Limit::Count(1)),
            Rule::Max(Target::Class(Class::Open), Limit::Percent(50.0)),
        ];
        let mut checker = Checker::new(rules.clone(), 1);
        for c in &report.connections {
            checker.add(Box::new(c.clone()));
        }
        let (result, listed) = checker.finish(&[], None);
        // Per rule at most the first and the smallest MAX_LISTED.
        assert!(
            listed.len() <= rules.len() * 2 * MAX_LISTED,
            "{}",
            listed.len()
        );
        assert!(listed.len() > MAX_LISTED);
        // The verdict counted every connection.
        assert_eq!(result.connections, 2001);
        let clean = report
            .connections
            .iter()
            .filter(|c| c.class == Class::Clean)
            .count();
        assert_eq!(result.rules[0].observed, clean as u64);
        // After the rules as given, min-connections.
        assert_eq!(result.rules.last().unwrap().rule, "min-connections 1");
        assert!(!result.held);
        // Every renderer says the same with the kept records as with all.
        let kept = Report {
            connections: listed,
            ..report.clone()
        };
        let (text, junit, md) = rendered(&result, &kept);
        assert_eq!((text.clone(), junit, md), rendered(&result, &report));
        assert_eq!(text.matches("\n  #").count(), MAX_LISTED, "{text}");
    }

    /// Issue 35, D11: a verdict keeps per rule a count and bounded lists,
    /// whatever the number of offenders and rules, and still counts the
    /// offending connections exactly, once each.
    #[test]
    fn a_verdict_over_many_offenders_and_rules_stays_bounded() {
        let report = many_connections(20_001);
        let mut rules = Vec::new();
        for _ in 0..50 {
            rules.push(Rule::FailOn(Target::Class(Class::Clean)));
            rules.push(Rule::FailOn(Target::Flag(Flag::TimeWaitReuse)));
        }
        let mut checker = Checker::new(rules.clone(), 1);
        for c in &report.connections {
            checker.add(Box::new(c.clone()));
        }
        let (result, listed) = checker.finish(&[], None);
        assert!(listed.len() <= 2 * 2 * MAX_LISTED, "{}", listed.len());
        let clean_or_reused = report
            .connections
            .iter()
            .filter(|c| c.class == Class::Clean || c.flags.contains(&Flag::TimeWaitReuse))
            .count() as u64;
        assert_eq!(result.offending, clean_or_reused);
        for r in &result.rules[..rules.len()] {
            assert!(r.connections.len() <= crate::policy::MAX_IDS);
            assert_eq!(
                r.connections.len() as u64 + r.connections_omitted,
                r.observed
            );
        }
        assert_eq!(result.offenders().len(), MAX_LISTED);
    }
}
