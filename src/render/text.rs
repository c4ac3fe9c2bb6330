//! The plain-text summary for terminals: the same numbers as the JSON summary.

use std::io::{self, Write};

use super::Renderer;
use crate::classify::Class;
use crate::pipeline::Analysis;
use crate::report::sink::{Records, Sink};
use crate::report::{ConnectionReport, Report};

/// How many problem connections the text summary lists.
pub const MAX_LISTED: usize = 20;

/// Keeps what the text summary shows of the connections — the first
/// [`MAX_LISTED`] problem connections and how many there are — so the summary
/// of any capture is made in bounded memory.
#[derive(Default)]
pub struct Listed {
    pub listed: Vec<ConnectionReport>,
    pub problems: u64,
}

impl Listed {
    /// Counts `c` if it is a problem, and says whether to list it.
    fn wants(&mut self, c: &ConnectionReport) -> bool {
        if !c.is_problem() {
            return false;
        }
        self.problems += 1;
        self.listed.len() < MAX_LISTED
    }
}

/// `--format text`: the summary, written once the analysis is over.
pub struct Text<'o> {
    out: &'o mut (dyn Write + Send),
    listed: Listed,
}

impl<'o> Text<'o> {
    pub fn new(out: &'o mut (dyn Write + Send)) -> Text<'o> {
        Text {
            out,
            listed: Listed::default(),
        }
    }
}

impl Sink for Text<'_> {
    type Encoder = Records;
    fn connection(&mut self, c: Box<ConnectionReport>) -> io::Result<()> {
        if self.listed.wants(&c) {
            self.listed.listed.push(*c);
        }
        Ok(())
    }
}

impl Renderer for Text<'_> {
    fn finish(&mut self, analysis: &Analysis) -> io::Result<()> {
        write_text_from(&analysis.report, &self.listed, self.out)
    }
}

/// The summary of a report with all its connections.
pub fn write_text(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut listed = Listed::default();
    for c in &report.connections {
        if listed.wants(c) {
            listed.listed.push(c.clone());
        }
    }
    write_text_from(report, &listed, out)
}

/// The summary of `report` (whose `connections` are not read) with the problem
/// connections `sink` kept.
pub fn write_text_from(report: &Report, sink: &Listed, out: &mut dyn Write) -> io::Result<()> {
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
    if s.interrupted {
        writeln!(
            out,
            "interrupted: reading stopped before the end of the inputs; this covers what was read"
        )?;
    }
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
    use crate::pipeline::{Options, analyze};
    use crate::render::{Format, render};

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
            let mut got = Vec::new();
            render(Format::Text, &options(threads), &mut got)
                .output
                .unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), want, "-j {threads}");
        }
    }
}
