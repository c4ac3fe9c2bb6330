//! A Markdown summary for CI job pages (e.g. `$GITHUB_STEP_SUMMARY`).

use std::io::{self, Write};

use super::by_id;
use super::text::fmt_allowed;
use crate::classify::Class;
use crate::policy::{CheckResult, MAX_LISTED};
use crate::report::Report;

/// Escapes the characters that would break a table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

pub fn write_markdown(
    result: &CheckResult,
    report: &Report,
    out: &mut dyn Write,
) -> io::Result<()> {
    let verdict = if result.held {
        "✅ held"
    } else {
        "❌ failed"
    };
    writeln!(out, "## teardown check: {verdict}\n")?;
    writeln!(out, "{} connections checked.\n", result.connections)?;
    writeln!(out, "| rule | result | observed | allowed |")?;
    writeln!(out, "|---|---|---:|---:|")?;
    for r in &result.rules {
        writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            cell(&r.rule),
            if r.held { "held" } else { "**failed**" },
            cell(&super::observed(r)),
            if r.at_least {
                format!("≥ {}", fmt_allowed(r.allowed))
            } else {
                fmt_allowed(r.allowed)
            }
        )?;
    }
    writeln!(out, "\n| class | connections |")?;
    writeln!(out, "|---|---:|")?;
    for class in Class::ALL {
        let n = report
            .summary
            .classes
            .get(class.name())
            .copied()
            .unwrap_or(0);
        writeln!(out, "| {} | {n} |", class.name())?;
    }
    let offenders = result.offenders();
    if !offenders.is_empty() {
        writeln!(
            out,
            "\n### Offending connections ({}{})\n",
            result.offending,
            if result.offending > MAX_LISTED as u64 {
                format!(", first {MAX_LISTED}")
            } else {
                String::new()
            }
        )?;
        writeln!(
            out,
            "| id | client | server | class | flags | end states | first packet |"
        )?;
        writeln!(out, "|---:|---|---|---|---|---|---|")?;
        for id in offenders.iter().take(MAX_LISTED) {
            if let Some(c) = by_id(report, *id) {
                let flags: Vec<&str> = c.flags.iter().map(|f| f.name()).collect();
                writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} / {} | {} |",
                    c.id,
                    cell(&c.client.to_string()),
                    cell(&c.server.to_string()),
                    c.class.name(),
                    flags.join(", "),
                    c.end_state.client,
                    c.end_state.server,
                    c.first_ts.rfc3339()
                )?;
            }
        }
    }
    Ok(())
}
