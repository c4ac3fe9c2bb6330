//! The plain-text summary for terminals: the same numbers as the JSON summary.

use std::io::{self, Write};

use crate::classify::Class;
use crate::merge::{ConnectionSink, Finished};
use crate::report::{ConnectionReport, Report};

/// How many problem connections the text summary lists.
pub const MAX_LISTED: usize = 20;

/// The connections the text and HTML summaries list as problems: a problem class
/// (half-closed hang, lost FIN, reset, refused, unanswered) or a TIME_WAIT reuse.
pub fn is_problem(c: &ConnectionReport) -> bool {
    c.class.is_problem() || c.reuse.is_some()
}

/// Keeps what the text summary shows of the connections — the first
/// [`MAX_LISTED`] problem connections and how many there are — so the summary
/// of any capture is made in bounded memory.
#[derive(Default)]
pub struct TextSink {
    pub listed: Vec<ConnectionReport>,
    pub problems: u64,
}

impl ConnectionSink for TextSink {
    fn connection(&mut self, c: Finished) -> io::Result<()> {
        let Finished::Record(c) = c else {
            return Err(io::Error::other("the text summary needs records"));
        };
        if is_problem(&c) {
            self.problems += 1;
            if self.listed.len() < MAX_LISTED {
                self.listed.push(*c);
            }
        }
        Ok(())
    }
}

/// The summary of a report with all its connections.
pub fn write_text(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut sink = TextSink::default();
    for c in &report.connections {
        if is_problem(c) {
            sink.problems += 1;
            if sink.listed.len() < MAX_LISTED {
                sink.listed.push(c.clone());
            }
        }
    }
    write_text_from(report, &sink, out)
}

/// The summary of `report` (whose `connections` are not read) with the problem
/// connections `sink` kept.
pub fn write_text_from(report: &Report, sink: &TextSink, out: &mut dyn Write) -> io::Result<()> {
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

    if sink.problems > 0 {
        writeln!(
            out,
            "\nproblem connections ({} total, first {} shown)",
            sink.problems,
            sink.listed.len()
        )?;
        for c in &sink.listed {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Emit, Options, analyze, analyze_into};

    fn options(threads: usize) -> Options {
        Options::demo(threads)
    }

    /// The command line's bounded-memory summary is the summary of the whole
    /// report.
    #[test]
    fn summary_from_the_sink_is_the_summary_of_the_collected_report() {
        let mut want = Vec::new();
        write_text(&analyze(&options(1)).report, &mut want).unwrap();
        let want = String::from_utf8(want).unwrap();
        assert!(want.contains("problem connections (15 total, first 15 shown)"));
        for threads in [1, 2, 3] {
            let mut sink = TextSink::default();
            let analysis = analyze_into(&options(threads), Emit::Records, &mut sink);
            let mut got = Vec::new();
            write_text_from(&analysis.report, &sink, &mut got).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), want, "-j {threads}");
        }
    }
}
