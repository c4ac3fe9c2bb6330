//! The plain-text summary for terminals: the same numbers as the JSON summary.

use std::io::{self, Write};

use super::Renderer;
use crate::classify::Class;
use crate::pipeline::Analysis;
use crate::report::findings::Kind;
use crate::report::problems::Ranked;
use crate::report::sink::{Records, Sink};
use crate::report::{ConnectionReport, Report};

/// How many problem connections the text summary lists, shared between the
/// kinds of problem ([`Ranked`]).
pub const MAX_LISTED: usize = 20;

/// `--format text`: the summary, written once the analysis is over.
pub struct Text<'o> {
    out: &'o mut (dyn Write + Send),
    listed: Ranked,
    /// Columns to wrap the prose to (`None`: no wrapping).
    width: Option<usize>,
}

impl<'o> Text<'o> {
    pub fn new(out: &'o mut (dyn Write + Send), width: Option<usize>) -> Text<'o> {
        Text {
            out,
            listed: Ranked::new(MAX_LISTED),
            width,
        }
    }
}

impl Sink for Text<'_> {
    type Encoder = Records;
    fn connection(&mut self, c: Box<ConnectionReport>) -> io::Result<()> {
        self.listed.add(*c);
        Ok(())
    }
}

impl Renderer for Text<'_> {
    fn finish(&mut self, analysis: &Analysis) -> io::Result<()> {
        write_text_from(&analysis.report, &self.listed, self.width, self.out)
    }
}

/// The summary of a report with all its connections.
pub fn write_text(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    write_text_from(report, &ranked(report), None, out)
}

/// The problem list of a report with all its connections.
fn ranked(report: &Report) -> Ranked {
    let mut listed = Ranked::new(MAX_LISTED);
    for c in &report.connections {
        listed.add(c.clone());
    }
    listed
}

/// `1 connection`, `2 connections`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A class's share: one decimal, `<0.1%` for a share that one decimal would
/// show as none.
fn share(n: u64, total: u64) -> String {
    let pct = 100.0 * n as f64 / total.max(1) as f64;
    if n > 0 && pct < 0.05 {
        "<0.1%".to_string()
    } else {
        format!("{pct:.1}%")
    }
}

/// Writes `text` indented by `indent` (and `first` before its first line),
/// wrapped to `width` columns when given.
fn paragraph(
    out: &mut dyn Write,
    width: Option<usize>,
    first: &str,
    indent: &str,
    text: &str,
) -> io::Result<()> {
    match width {
        Some(w) => {
            let options = textwrap::Options::new(w.max(40))
                .initial_indent(first)
                .subsequent_indent(indent);
            for line in textwrap::wrap(text, options) {
                writeln!(out, "{line}")?;
            }
            Ok(())
        }
        None => writeln!(out, "{first}{text}"),
    }
}

/// The summary of `report` (whose `connections` are not read) with the problem
/// connections `sink` kept, its prose wrapped to `width` columns when given.
pub fn write_text_from(
    report: &Report,
    sink: &Ranked,
    width: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = &report.summary;
    let span = match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => format!(", {:.1} s", b.secs_since(a)),
        _ => String::new(),
    };
    writeln!(
        out,
        "{} {}: {}, {} ({} TCP){span}",
        report.tool.name,
        report.tool.version,
        count(report.inputs.len() as u64, "input", "inputs"),
        count(s.packets, "packet", "packets"),
        s.tcp_packets,
    )?;
    if s.interrupted {
        writeln!(
            out,
            "interrupted: reading stopped before the end of the inputs; this covers what was read"
        )?;
    }
    if let Some(filter) = &report.filter {
        writeln!(
            out,
            "filter: {filter}; {} left out",
            count(s.filtered_out, "connection", "connections")
        )?;
    }
    write_findings(report, width, out)?;
    write_timeline(report, width, out)?;
    writeln!(
        out,
        "\n{}",
        count(s.connections, "connection", "connections")
    )?;
    for class in Class::ALL {
        let n = s.classes.get(class.name()).copied().unwrap_or(0);
        writeln!(
            out,
            "  {:<18} {:>8}  {:>6}",
            class.name(),
            n,
            share(n, s.connections)
        )?;
    }
    let flags: Vec<String> = s
        .flags
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| format!("{f} {n}"))
        .collect();
    if !flags.is_empty() {
        writeln!(out)?;
        paragraph(out, width, "flags: ", "  ", &flags.join(", "))?;
    }

    if sink.total() > 0 {
        let rows = sink.rows();
        writeln!(
            out,
            "\nproblem connections ({} total, {} shown, worst first)",
            sink.total(),
            rows.len()
        )?;
        let mut heading = None;
        for (kind, c) in &rows {
            if heading != Some(*kind) {
                heading = Some(*kind);
                let n = sink.count(*kind);
                let shown = rows.iter().filter(|(k, _)| k == kind).count() as u64;
                if shown < n {
                    writeln!(out, " {}: {n}, first {shown} shown", kind.name())?;
                } else {
                    writeln!(out, " {}: {n}", kind.name())?;
                }
            }
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
        // Reuses a finding has weighed already: one line, not the lecture.
        if d.topic == "time_wait_reuse" && report.findings.iter().any(|f| f.kind == Kind::PortReuse)
        {
            writeln!(
                out,
                "\ntime_wait_reuse ({}): see the port_reuse finding above",
                d.count
            )?;
            continue;
        }
        writeln!(out)?;
        paragraph(
            out,
            width,
            "",
            "  ",
            &format!("{} ({}): {}", d.topic, d.count, d.title),
        )?;
        paragraph(out, width, "  ", "  ", &d.meaning)?;
        for c in &d.checks {
            paragraph(out, width, "  - ", "    ", c)?;
        }
    }

    let warnings: u64 = report.inputs.iter().map(|i| i.warnings.len() as u64).sum();
    let errors = report.inputs.iter().filter(|i| i.error.is_some()).count() as u64;
    if warnings + errors > 0 {
        writeln!(
            out,
            "\ninput problems: {} stopped early, {}; see stderr or the JSON report",
            count(errors, "input", "inputs"),
            count(warnings, "warning", "warnings")
        )?;
    }
    Ok(())
}

/// The findings, first: what the connections add up to.
fn write_findings(report: &Report, width: Option<usize>, out: &mut dyn Write) -> io::Result<()> {
    if report.findings.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{}",
        count(report.findings.len() as u64, "finding", "findings")
    )?;
    for f in report.findings.iter().take(MAX_FINDINGS) {
        let label = if f.problem { "" } else { " (no failure)" };
        paragraph(
            out,
            width,
            "  ",
            "    ",
            &format!("{}{label}: {}", f.kind.name(), f.summary),
        )?;
        let ids: Vec<String> = f
            .evidence
            .iter()
            .take(5)
            .map(|id| format!("#{id}"))
            .collect();
        let more = if f.connections > ids.len() as u64 {
            " …"
        } else {
            ""
        };
        writeln!(out, "    connections {}{more}", ids.join(" "))?;
    }
    if let Some(rest) = report
        .findings
        .get(MAX_FINDINGS..)
        .filter(|r| !r.is_empty())
    {
        let mut kinds: Vec<&str> = rest.iter().map(|f| f.kind.name()).collect();
        kinds.dedup();
        writeln!(
            out,
            "  … {} more ({}; every one in the JSON report)",
            rest.len(),
            kinds.join(", ")
        )?;
    }
    Ok(())
}

/// Per state other than ESTABLISHED, the host that held the most sockets in
/// it, when, and whether they drained.
fn write_timeline(report: &Report, width: Option<usize>, out: &mut dyn Write) -> io::Result<()> {
    let Some(t) = &report.timeline else {
        return Ok(());
    };
    let lines: Vec<String> = TEXT_STATES
        .iter()
        .filter_map(|&state| {
            let p = t.peaks.iter().find(|p| p.state == state)?;
            let s = &p.stats;
            // One socket passing through a state is no pile-up (the JSON has it).
            if s.peak <= 1 && s.drained_at.is_some() {
                return None;
            }
            let host = match s.port {
                Some(port) => crate::report::EndpointAddr { ip: p.host, port }.to_string(),
                None => p.host.to_string(),
            };
            let after = match (s.drained_at, s.end) {
                (Some(d), 0) => format!("drained to 0 by {}", clock(d)),
                (Some(d), end) => {
                    format!("drained to 0 by {}, {end} again at capture end", clock(d))
                }
                (None, end) if end == s.peak => {
                    format!("still {end} at capture end; it never drained")
                }
                (None, end) => format!("down to {end} at capture end; it never drained"),
            };
            Some(format!(
                "{state} on {host}: {} at {} → {} at {}, {after}",
                s.rise_from,
                clock(s.rise_at),
                s.peak,
                clock(s.peak_at),
            ))
        })
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    paragraph(
        out,
        width,
        "",
        "  ",
        &format!(
            "sockets per host, as `ss -tan` would have counted them every {} s (UTC; the peak of each state):",
            t.step
        ),
    )?;
    for line in &lines {
        paragraph(out, width, "  ", "    ", line)?;
    }
    Ok(())
}

/// The states the summary reports a peak for, the hangs first.
const TEXT_STATES: [&str; 8] = [
    "CLOSE_WAIT",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "LAST_ACK",
    "CLOSING",
    "SYN_RECEIVED",
    "SYN_SENT",
    "TIME_WAIT",
];

/// A time of day in UTC, to the tenth of a second: `14:03:00.1` (the JSON
/// report has the dates).
fn clock(t: crate::time::Timestamp) -> String {
    let full = t.rfc3339();
    full.get(11..21).map_or(full.clone(), str::to_string)
}

/// Findings the text summary lists (the most severe first); the rest are
/// counted by kind.
const MAX_FINDINGS: usize = 10;

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
        assert!(want.contains("problem connections (15 total, 15 shown, worst first)"));
        for threads in [1, 2, 3] {
            let mut got = Vec::new();
            render(Format::Text, &options(threads), &mut got)
                .output
                .unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), want, "-j {threads}");
        }
    }

    #[test]
    fn small_shares_and_single_things_read_as_they_should() {
        assert_eq!(share(0, 10_000), "0.0%");
        assert_eq!(share(1, 10_000), "<0.1%");
        assert_eq!(share(5, 10_000), "0.1%");
        assert_eq!(share(1, 3), "33.3%");
        assert_eq!(count(1, "rule", "rules"), "1 rule");
        assert_eq!(count(2, "rule", "rules"), "2 rules");
    }

    /// On a terminal the prose wraps to its width (here 60 columns); the
    /// tables and connection lines do not change; a filter is said with
    /// what it left out.
    #[test]
    fn prose_wraps_to_the_width_and_the_filter_is_said() {
        let mut opts = options(1);
        opts.filter.port = vec![8003, 8008];
        let report = analyze(&opts).report;
        let listed = ranked(&report);
        let mut wrapped = Vec::new();
        write_text_from(&report, &listed, Some(60), &mut wrapped).unwrap();
        let wrapped = String::from_utf8(wrapped).unwrap();
        assert!(wrapped.contains("filter: --port 8003 --port 8008; 28 connections left out"));
        let mut long = Vec::new();
        write_text_from(&report, &listed, None, &mut long).unwrap();
        let long = String::from_utf8(long).unwrap();
        assert!(long.lines().any(|l| l.chars().count() > 100));
        for line in wrapped.lines().filter(|l| !l.starts_with("  #")) {
            assert!(line.chars().count() <= 60, "{line:?}");
        }
        // The same words either way.
        let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(words(&wrapped), words(&long));
    }
}
