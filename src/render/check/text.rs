//! The check's log output: one line per rule, then the offending connections.

use std::io::{self, Write};

use super::{by_id, describe, observed};
use crate::policy::{CheckResult, MAX_LISTED};
use crate::report::Report;

pub fn write_text(result: &CheckResult, report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    writeln!(
        out,
        "teardown check: {}, {}",
        plural(result.connections, "connection", "connections"),
        plural(result.rules.len() as u64, "rule", "rules")
    )?;
    for r in &result.rules {
        writeln!(
            out,
            "{:<6}  {:<32} observed {}, {}",
            if r.held { "held" } else { "FAILED" },
            r.rule,
            observed(r),
            fmt_limit(r),
        )?;
    }
    let offenders = result.offenders();
    if !offenders.is_empty() {
        writeln!(
            out,
            "offending connections: {} ({} shown)",
            result.offending,
            offenders.len().min(MAX_LISTED)
        )?;
        for id in offenders.iter().take(MAX_LISTED) {
            if let Some(c) = by_id(report, *id) {
                writeln!(out, "  {}", describe(c))?;
            }
        }
        let shown = offenders.len().min(MAX_LISTED) as u64;
        if result.offending > shown {
            writeln!(
                out,
                "  ... and {} more (see --format json)",
                result.offending - shown
            )?;
        }
    }
    let failed = result.failed_rules().count();
    if result.held {
        writeln!(out, "result: held")
    } else {
        writeln!(
            out,
            "result: FAILED ({failed} of {} rules)",
            result.rules.len()
        )
    }
}

/// `allowed 10`, or `at least 1` for a minimum.
pub(crate) fn fmt_limit(r: &crate::policy::RuleResult) -> String {
    if r.at_least {
        format!("at least {}", fmt_allowed(r.allowed))
    } else {
        format!("allowed {}", fmt_allowed(r.allowed))
    }
}

pub(crate) fn fmt_allowed(a: f64) -> String {
    if a.fract() == 0.0 {
        format!("{a:.0}")
    } else {
        format!("{a:.2}")
    }
}
