//! The plain-text summary for terminals: the same numbers as the JSON summary.

use std::io::{self, Write};

use super::{ConnectionReport, Report};
use crate::classify::Class;

/// How many problem connections the text summary lists.
pub const MAX_LISTED: usize = 20;

/// The connections the text and HTML summaries list as problems: a problem class
/// (half-closed hang, lost FIN, reset, refused, unanswered) or a TIME_WAIT reuse.
pub fn is_problem(c: &ConnectionReport) -> bool {
    c.class.is_problem() || c.reuse.is_some()
}

pub fn write_text(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    let span = match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => format!(", {:.1} s", b.secs_since(a)),
        _ => String::new(),
    };
    writeln!(
        out,
        "{} {}: {} input{}, {} packets ({} TCP){span}",
        report.tool.name,
        report.tool.version,
        report.inputs.len(),
        if report.inputs.len() == 1 { "" } else { "s" },
        s.packets,
        s.tcp_packets,
    )?;
    writeln!(out, "\n{} connections", s.connections)?;
    let total = s.connections.max(1) as f64;
    for class in Class::ALL {
        let n = s.classes.get(class.name()).copied().unwrap_or(0);
        writeln!(
            out,
            "  {:<18} {:>8}  {:>5.1}%",
            class.name(),
            n,
            100.0 * n as f64 / total
        )?;
    }
    let flags: Vec<String> = s
        .flags
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| format!("{f} {n}"))
        .collect();
    if !flags.is_empty() {
        writeln!(out, "\nflags: {}", flags.join(", "))?;
    }

    let problems: Vec<_> = report
        .connections
        .iter()
        .filter(|c| is_problem(c))
        .collect();
    if !problems.is_empty() {
        writeln!(
            out,
            "\nproblem connections ({} total, first {} shown)",
            problems.len(),
            problems.len().min(MAX_LISTED)
        )?;
        for c in problems.iter().take(MAX_LISTED) {
            let flags: Vec<&str> = c.flags.iter().map(|f| f.name()).collect();
            writeln!(
                out,
                "  #{:<6} {} -> {}  {}  client {} / server {}{}",
                c.id,
                c.client_display(),
                c.server_display(),
                c.class.name(),
                c.end_state.client,
                c.end_state.server,
                if flags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", flags.join(","))
                }
            )?;
        }
    }

    for d in &s.diagnoses {
        if matches!(d.topic, "clean" | "open") {
            continue;
        }
        writeln!(out, "\n{} ({}): {}", d.topic, d.count, d.title)?;
        writeln!(out, "  {}", d.meaning)?;
        for c in &d.checks {
            writeln!(out, "  - {c}")?;
        }
    }

    let warnings: usize = report.inputs.iter().map(|i| i.warnings.len()).sum();
    let errors = report.inputs.iter().filter(|i| i.error.is_some()).count();
    if warnings + errors > 0 {
        writeln!(
            out,
            "\ninput problems: {errors} input(s) stopped early, {warnings} warning(s); see stderr or the JSON report"
        )?;
    }
    Ok(())
}
