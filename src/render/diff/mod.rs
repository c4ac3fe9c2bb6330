//! `teardown diff`'s outputs: text (one screen, changes ranked), JSON (the
//! [`Diff`] itself, docs/diff.md), Markdown (a pull request comment or a job
//! summary) and HTML (both sides' charts overlaid). They only format the
//! diff; what counts as a change is `compare`'s.

pub mod html;
pub mod markdown;
pub mod text;

use std::io::{self, Write};

use crate::compare::diff::{Diff, EndpointChange, Ranked, RateChange, Share, Verdict};

/// The formats of `teardown diff --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
    Html,
}

impl DiffFormat {
    /// The format a file name's extension says.
    pub fn of_extension(path: &std::path::Path) -> Option<DiffFormat> {
        match path.extension()?.to_str()? {
            "txt" => Some(DiffFormat::Text),
            "json" => Some(DiffFormat::Json),
            "md" | "markdown" => Some(DiffFormat::Markdown),
            "html" | "htm" => Some(DiffFormat::Html),
            _ => None,
        }
    }
}

/// Writes `diff` as `format`.
pub fn write(format: DiffFormat, diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
    match format {
        DiffFormat::Text => text::write_text(diff, out),
        DiffFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, diff)?;
            writeln!(out)
        }
        DiffFormat::Markdown => markdown::write_markdown(diff, out),
        DiffFormat::Html => html::write_html(diff, out),
    }
}

/// `48.1 %`, with more digits for small rates.
pub(crate) fn pct(rate: f64) -> String {
    let p = 100.0 * rate;
    if p == 0.0 || p >= 10.0 {
        format!("{p:.1} %")
    } else if p >= 0.1 {
        format!("{p:.2} %")
    } else {
        format!("{p:.3} %")
    }
}

/// `+48.1 pp`.
pub(crate) fn points(change: f64) -> String {
    let p = 100.0 * change;
    let digits = if p.abs() >= 1.0 { 1 } else { 3 };
    format!("{p:+.digits$} pp")
}

/// A p-value for people: `p = 0.031`, `p = 3e-12`, `p < 1e-300`.
pub(crate) fn p_text(p: f64) -> String {
    if p <= 0.0 || p < 1e-300 {
        "p < 1e-300".to_string()
    } else if p < 1e-3 {
        format!("p = {p:.0e}")
    } else {
        format!("p = {p:.3}")
    }
}

/// A duration in seconds for people: `0.044 ms`, `12.3 ms`, `18.0 s`.
pub(crate) fn dur(secs: Option<f64>) -> String {
    match secs {
        None => "–".to_string(),
        Some(0.0) => "0".to_string(),
        Some(s) if s < 1e-3 => format!("{:.3} ms", s * 1e3),
        Some(s) if s < 1.0 => format!("{:.1} ms", s * 1e3),
        Some(s) => format!("{s:.1} s"),
    }
}

/// `0 → 100 of 208`.
pub(crate) fn counts(a: Share, b: Share) -> String {
    format!("{} of {} → {} of {}", a.count, a.of, b.count, b.of)
}

pub(crate) fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Increased => "increased",
        Verdict::Decreased => "decreased",
        Verdict::Unchanged => "no significant change",
        Verdict::TooFew => "too few connections to tell",
        Verdict::Appeared => "appeared",
        Verdict::Disappeared => "disappeared",
        Verdict::Unknown => "not comparable",
    }
}

fn rate_line(r: &RateChange) -> String {
    format!(
        "{} {}: {} → {} ({}), {}, {} ({})",
        r.kind,
        r.name,
        pct(r.before.rate),
        pct(r.after.rate),
        counts(r.before, r.after),
        points(r.change),
        p_text(r.significance.p_adjusted),
        r.significance.test.name()
    )
}

fn endpoint_line(what: &str, e: &EndpointChange) -> String {
    let status = match e.verdict {
        Verdict::Appeared if e.before.of == 0 => "new endpoint with problems",
        Verdict::Appeared => "new problem endpoint",
        Verdict::Disappeared => "resolved",
        Verdict::Increased => "worse",
        Verdict::Decreased => "better",
        v => verdict_word(v),
    };
    format!(
        "{what} {}: problems {} → {} ({}), {status}; mostly {} {} → {}; {}",
        e.endpoint,
        pct(e.before.rate),
        pct(e.after.rate),
        counts(e.before, e.after),
        e.class.class,
        e.class.before,
        e.class.after,
        p_text(e.significance.p_adjusted)
    )
}

/// One line about a ranked change.
pub(crate) fn sentence(diff: &Diff, r: &Ranked) -> String {
    match r.section {
        "class" | "flag" => rate_line(&diff.rates[r.index]),
        "server" => endpoint_line("server", &diff.servers.rows[r.index]),
        "client" => endpoint_line("client", &diff.clients.rows[r.index]),
        "timing" => {
            let t = &diff.timings[r.index];
            let test = t
                .significance
                .map(|s| {
                    format!(
                        ", KS D = {:.2}, {}",
                        t.ks_d.unwrap_or(0.0),
                        p_text(s.p_adjusted)
                    )
                })
                .unwrap_or_default();
            format!(
                "{}: median {} → {}, p95 {} → {} ({} → {} connections){test}",
                t.name,
                dur(t.before.median),
                dur(t.after.median),
                dur(t.before.p95),
                dur(t.after.p95),
                t.before.n,
                t.after.n
            )
        }
        "finding" => {
            let f = &diff.findings[r.index];
            format!(
                "finding {} on {} {}: {} → {} connections ({})",
                f.name,
                f.host,
                verdict_word(f.verdict),
                f.before,
                f.after,
                f.summary
            )
        }
        "peak" => {
            let p = &diff.peaks[r.index];
            let held = |x: Option<crate::compare::diff::Peak>| {
                x.filter(|x| !x.drained && x.end > 0).map(|x| x.end)
            };
            let end = match (held(p.before), held(p.after)) {
                (_, Some(e)) => format!(", {e} still held at the end"),
                (Some(e), None) => format!(", all drained (before: {e} held at the end)"),
                (None, None) => String::new(),
            };
            format!(
                "{} on {}: peak {} → {} sockets{end}",
                p.state,
                p.host,
                p.before.map_or(0, |x| x.peak),
                p.after.map_or(0, |x| x.peak),
            )
        }
        _ => String::new(),
    }
}

/// The replay's class changes, one line each.
pub(crate) fn transition_lines(diff: &Diff, max: usize) -> Vec<String> {
    diff.matching
        .transitions
        .iter()
        .take(max)
        .map(|t| {
            let ex: Vec<String> = t
                .examples
                .iter()
                .take(3)
                .map(|(a, b)| format!("#{a} → #{b}"))
                .collect();
            format!(
                "{} → {}: {} connection{} (e.g. {})",
                t.from,
                t.to,
                t.connections,
                if t.connections == 1 { "" } else { "s" },
                ex.join(", ")
            )
        })
        .collect()
}

/// How the sides were compared, in a sentence.
pub(crate) fn comparison_line(diff: &Diff) -> String {
    let m = &diff.matching;
    if m.replay {
        format!(
            "replay: {} of {} connections matched by endpoints and start time (after starts {:+.3} s from before); {} changed class",
            m.matched,
            diff.before.connections.max(diff.after.connections),
            m.offset,
            m.transitions.iter().map(|t| t.connections).sum::<u64>()
        )
    } else {
        format!(
            "rates compared: {:.0} % of the connections match by endpoints and start time, too few for a replay",
            100.0 * m.share
        )
    }
}

/// `BEFORE (capture, 208 connections, 28.0 s)`.
pub(crate) fn side_line(s: &crate::compare::diff::SideInfo) -> String {
    let span = match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => format!(", {:.1} s", b.secs_since(a)),
        _ => String::new(),
    };
    let origin = match s.report_schema {
        Some(v) => format!("report, schema {v}"),
        None => s.origin.to_string(),
    };
    format!(
        "{} ({origin}, {} connections{span})",
        crate::report::printable(&s.label),
        s.connections
    )
}
