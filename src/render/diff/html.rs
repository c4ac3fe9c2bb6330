//! The diff as a self-contained HTML page: both sides' charts overlaid
//! (class and flag rates side by side, each duration's two cumulative
//! distributions, the changed host states' two series), then the ranked
//! changes and the tables. No script; a Content-Security-Policy forbids any
//! fetch. Every string goes through askama's escaping.

use std::io::{self, Write};

use askama::Template;

use super::{comparison_line, dur, p_text, pct, points, sentence, side_line, verdict_word};
use crate::compare::diff::Diff;

const STYLE: &str = include_str!("templates/diff.css");

/// Plot geometry shared by the line charts.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 410.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 160.0;

struct Bar {
    y: f64,
    label_x: f64,
    name: &'static str,
    kind: &'static str,
    before_w: f64,
    after_w: f64,
    before: String,
    after: String,
    verdict: String,
    changed: bool,
}

struct Tick {
    pos: f64,
    label: String,
}

struct LineChart {
    title: String,
    note: String,
    before: String,
    after: String,
    x_ticks: Vec<Tick>,
    y_ticks: Vec<Tick>,
    x_label: &'static str,
    changed: bool,
}

struct Row {
    cells: Vec<String>,
    changed: bool,
}

#[derive(Template)]
#[template(
    path = "diff.html",
    config = "src/render/diff/templates/askama.toml",
    whitespace = "minimize"
)]
struct Page {
    csp: &'static str,
    style: &'static str,
    title: String,
    before: String,
    after: String,
    comparison: String,
    warnings: Vec<String>,
    significant: bool,
    ranked: Vec<String>,
    bars: Vec<Bar>,
    bars_height: f64,
    cdfs: Vec<LineChart>,
    series: Vec<LineChart>,
    /// ("Servers", rows), ("Clients", rows).
    endpoints: Vec<(&'static str, Vec<Row>)>,
    findings: Vec<Row>,
    transitions: Vec<String>,
    method: String,
}

fn bars(diff: &Diff) -> Vec<Bar> {
    let max = diff
        .rates
        .iter()
        .map(|r| r.before.rate.max(r.after.rate))
        .fold(0.0, f64::max)
        .max(1e-9);
    diff.rates
        .iter()
        .enumerate()
        .map(|(i, r)| Bar {
            y: 22.0 * i as f64,
            label_x: 182.0 + 300.0 * r.before.rate.max(r.after.rate) / max,
            name: r.name,
            kind: if r.kind == "class" { r.name } else { "flag" },
            before_w: 300.0 * r.before.rate / max,
            after_w: 300.0 * r.after.rate / max,
            before: format!("{} ({})", pct(r.before.rate), r.before.count),
            after: format!("{} ({})", pct(r.after.rate), r.after.count),
            verdict: if r.verdict.changed() {
                format!(
                    "{}, {}",
                    verdict_word(r.verdict),
                    p_text(r.significance.p_adjusted)
                )
            } else {
                verdict_word(r.verdict).to_string()
            },
            changed: r.verdict.changed(),
        })
        .collect()
}

fn polyline(points: impl Iterator<Item = (f64, f64)>) -> String {
    let mut s = String::new();
    for (x, y) in points {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&format!("{x:.1},{y:.1}"));
    }
    s
}

fn cdf_chart(t: &crate::compare::diff::TimingChange) -> LineChart {
    // Log x from the smallest positive value to the largest, over both sides.
    let values = t.cdf.iter().flatten().map(|(v, _)| *v).filter(|v| *v > 0.0);
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        let lo = 10f64.powf(lo.log10().floor());
        let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
        (lo, hi)
    } else {
        (1e-6, 1.0)
    };
    let x = |v: f64| {
        let v = v.max(lo);
        LEFT + (RIGHT - LEFT) * (v.log10() - lo.log10()) / (hi.log10() - lo.log10())
    };
    let y = |share: f64| BOTTOM - (BOTTOM - TOP) * share;
    let line = |cdf: &[(f64, f64)]| {
        // A step: each bin's share from its value on.
        let mut pts = Vec::with_capacity(cdf.len() * 2 + 1);
        let mut last = 0.0;
        pts.push((LEFT, y(0.0)));
        for &(v, share) in cdf {
            pts.push((x(v), y(last)));
            pts.push((x(v), y(share)));
            last = share;
        }
        pts.push((RIGHT, y(last)));
        polyline(pts.into_iter())
    };
    let mut x_ticks = Vec::new();
    let mut v = lo;
    while v <= hi * 1.0001 {
        x_ticks.push(Tick {
            pos: x(v),
            label: dur(Some(v)),
        });
        v *= 10.0;
    }
    LineChart {
        title: t.name.to_string(),
        note: format!(
            "median {} → {}, p95 {} → {}; {}",
            dur(t.before.median),
            dur(t.after.median),
            dur(t.before.p95),
            dur(t.after.p95),
            verdict_word(t.verdict)
        ),
        before: line(&t.cdf[0]),
        after: line(&t.cdf[1]),
        x_ticks,
        y_ticks: [0.0, 0.5, 1.0]
            .iter()
            .map(|&s| Tick {
                pos: y(s),
                label: format!("{:.0} %", s * 100.0),
            })
            .collect(),
        x_label: "duration (log scale); share of connections at or below",
        changed: t.verdict.changed(),
    }
}

fn series_chart(p: &crate::compare::diff::PeakChange) -> Option<LineChart> {
    let sides: Vec<&(f64, Vec<u32>)> = p.series.iter().flatten().collect();
    if sides.is_empty() {
        return None;
    }
    let span = sides
        .iter()
        .map(|(step, c)| step * c.len().saturating_sub(1) as f64)
        .fold(0.0, f64::max)
        .max(1e-9);
    let top = sides
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let line = |s: &Option<(f64, Vec<u32>)>| match s {
        None => String::new(),
        Some((step, counts)) => {
            // At most ~400 points drawn: the largest count of each stretch.
            let per = counts.len().div_ceil(400).max(1);
            polyline(counts.chunks(per).enumerate().map(|(i, c)| {
                let t = (i * per) as f64 * step;
                let n = c.iter().copied().max().unwrap_or(0) as f64;
                (
                    LEFT + (RIGHT - LEFT) * t / span,
                    BOTTOM - (BOTTOM - TOP) * n / top,
                )
            }))
        }
    };
    Some(LineChart {
        title: format!("{} on {}", p.state, p.host),
        note: format!(
            "peak {} → {}; {}",
            p.before.map_or(0, |x| x.peak),
            p.after.map_or(0, |x| x.peak),
            verdict_word(p.verdict)
        ),
        before: line(&p.series[0]),
        after: line(&p.series[1]),
        x_ticks: [0.0, 0.5, 1.0]
            .iter()
            .map(|&f| Tick {
                pos: LEFT + (RIGHT - LEFT) * f,
                label: format!("{:.1} s", span * f),
            })
            .collect(),
        y_ticks: [0.0, 0.5, 1.0]
            .iter()
            .map(|&f| Tick {
                pos: BOTTOM - (BOTTOM - TOP) * f,
                label: format!("{:.0}", top * f),
            })
            .collect(),
        x_label: "seconds from each side's first packet",
        changed: p.verdict.changed(),
    })
}

fn endpoint_rows(list: &crate::compare::diff::EndpointChanges) -> Vec<Row> {
    list.rows
        .iter()
        .take(20)
        .map(|e| Row {
            cells: vec![
                e.endpoint.clone(),
                format!(
                    "{} ({} of {})",
                    pct(e.before.rate),
                    e.before.count,
                    e.before.of
                ),
                format!(
                    "{} ({} of {})",
                    pct(e.after.rate),
                    e.after.count,
                    e.after.of
                ),
                points(e.change),
                format!("{} {} → {}", e.class.class, e.class.before, e.class.after),
                if e.significant {
                    format!(
                        "{}, {}",
                        verdict_word(e.verdict),
                        p_text(e.significance.p_adjusted)
                    )
                } else {
                    format!("{}, not beyond chance", verdict_word(e.verdict))
                },
            ],
            changed: e.significant,
        })
        .collect()
}

pub fn write_html(diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
    let bars = bars(diff);
    let series: Vec<LineChart> = diff
        .peaks
        .iter()
        .filter(|p| p.verdict.changed())
        .take(6)
        .filter_map(series_chart)
        .collect();
    let page = Page {
        csp: "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
        style: STYLE,
        title: format!(
            "teardown diff: {} → {}",
            diff.before.label, diff.after.label
        ),
        before: side_line(&diff.before),
        after: side_line(&diff.after),
        comparison: comparison_line(diff),
        warnings: diff.warnings.clone(),
        significant: diff.significant,
        ranked: diff.ranked.iter().map(|r| sentence(diff, r)).collect(),
        bars_height: 22.0 * bars.len() as f64 + 8.0,
        bars,
        cdfs: diff.timings.iter().map(cdf_chart).collect(),
        series,
        endpoints: vec![
            ("Servers", endpoint_rows(&diff.servers)),
            ("Clients", endpoint_rows(&diff.clients)),
        ],
        findings: diff
            .findings
            .iter()
            .map(|f| Row {
                cells: vec![
                    f.name.clone(),
                    f.host.clone(),
                    f.before.to_string(),
                    f.after.to_string(),
                    verdict_word(f.verdict).to_string(),
                    f.summary.clone(),
                ],
                changed: f.verdict.changed(),
            })
            .collect(),
        transitions: super::transition_lines(diff, 20),
        method: format!(
            "α = {} after Holm's correction; a rate must also move by {} (or from or to zero), a median or p95 by {} and {:.0} % of the larger, a host's peak by {} sockets and {:.0} %. docs/diff.md has the method.",
            diff.method.alpha,
            points(diff.method.min_rate_change),
            dur(Some(diff.method.min_time_change)),
            100.0 * diff.method.min_time_ratio,
            diff.method.min_peak_change,
            100.0 * diff.method.min_peak_ratio
        ),
    };
    let html = page
        .render()
        .map_err(|e| io::Error::other(format!("diff page: {e}")))?;
    out.write_all(html.as_bytes())
}
