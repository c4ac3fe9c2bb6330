//! The page's view model: every number formatted, every shape placed. The
//! templates only lay it out.

use super::charts::*;
use super::diagrams::*;
use super::problems::*;
use super::*;
use crate::report::printable;

#[derive(Template)]
#[template(
    path = "report.html",
    config = "src/render/html/templates/askama.toml",
    whitespace = "minimize"
)]
pub(super) struct Page<'a> {
    pub(super) title: String,
    pub(super) csp: String,
    pub(super) style: &'static str,
    pub(super) script: &'static str,
    pub(super) tool_name: &'a str,
    pub(super) tool_version: &'a str,
    pub(super) schema_version: u32,
    pub(super) overview: Overview,
    pub(super) inputs: Vec<InputView>,
    pub(super) inputs_hidden: usize,
    /// Many inputs: the list is folded away.
    pub(super) inputs_collapsed: bool,
    pub(super) settings: Vec<(&'static str, String)>,
    pub(super) filter: Vec<(&'static str, String)>,
    pub(super) cards: Vec<Card>,
    pub(super) flags: Vec<FlagChip>,
    pub(super) diagnoses: Vec<DiagView>,
    pub(super) findings: Vec<FindingView>,
    /// Findings past [`MAX_FINDINGS_SHOWN`] (in the JSON report).
    pub(super) findings_hidden: usize,
    pub(super) timeline: VChart,
    /// The top hosts' sockets per state (the report's `timeline`).
    pub(super) host_charts: Vec<HostChart>,
    pub(super) close_wait_chart: VChart,
    pub(super) close_chart: VChart,
    pub(super) top_servers: HChart,
    pub(super) top_clients: HChart,
    pub(super) legend: Vec<LegendItem>,
    pub(super) table: TableView,
    pub(super) ladders: Vec<LadderView>,
    pub(super) ladder_note: Option<String>,
    pub(super) ladder_problems: Vec<String>,
    pub(super) max_table_rows: usize,
    pub(super) max_ladders: usize,
    pub(super) head_packets: usize,
    pub(super) tail_packets: usize,
}

pub(super) struct Overview {
    pub(super) connections: u64,
    pub(super) filtered_out: u64,
    pub(super) packets: u64,
    pub(super) tcp_packets: u64,
    pub(super) start: String,
    pub(super) end: String,
    pub(super) span: String,
    pub(super) problems: usize,
    /// Reading was stopped before the inputs' end (Ctrl-C).
    pub(super) interrupted: bool,
}

pub(super) struct InputView {
    pub(super) path: String,
    pub(super) format: String,
    pub(super) link_types: String,
    pub(super) packets: u64,
    pub(super) tcp_packets: u64,
    pub(super) bytes: u64,
    pub(super) span: String,
    pub(super) skipped: String,
    pub(super) interfaces: Vec<InterfaceView>,
    pub(super) interfaces_hidden: usize,
    pub(super) warnings: Vec<String>,
    pub(super) warnings_hidden: usize,
    pub(super) error: Option<String>,
}

pub(super) struct InterfaceView {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) linktype: String,
}

pub(super) struct Card {
    /// A link to the chart of the host with the highest peak in a state of
    /// this class: its id and the link's text.
    pub(super) states: Option<(String, String)>,
    pub(super) key: &'static str,
    pub(super) label: &'static str,
    pub(super) note: &'static str,
    pub(super) count: u64,
    pub(super) pct: String,
    pub(super) primary: bool,
    pub(super) zero: bool,
}

pub(super) struct FlagChip {
    pub(super) name: &'static str,
    pub(super) count: u64,
}

/// Findings the page shows, most severe first.
const MAX_FINDINGS_SHOWN: usize = 50;

/// A finding as the page shows it: its line, its connections (linked to
/// their ladders where drawn), what it means and what to check.
pub(super) struct FindingView {
    pub(super) name: &'static str,
    pub(super) summary: String,
    pub(super) problem: bool,
    pub(super) connections: u64,
    pub(super) evidence: Vec<(u64, bool)>,
    pub(super) meaning: Vec<TextSpan>,
    pub(super) checks: Vec<Vec<TextSpan>>,
}

pub(super) struct DiagView {
    pub(super) topic: &'static str,
    pub(super) title: &'static str,
    pub(super) states: &'static str,
    pub(super) count: u64,
    pub(super) meaning: Vec<TextSpan>,
    pub(super) causes: Vec<Vec<TextSpan>>,
    pub(super) checks: Vec<Vec<TextSpan>>,
    pub(super) open: bool,
}

/// A piece of prose: plain, or `code` (written between backticks in the source).
pub(super) struct TextSpan {
    pub(super) code: bool,
    pub(super) text: String,
}

impl<'a> Page<'a> {
    /// The page of `report`, which holds only the connections `digest` listed.
    pub(super) fn build(report: &'a Report, digest: &Digest, ladders: &Ladders) -> Page<'a> {
        let s = &report.summary;
        let sel = Selection::of(report);
        let start = s.first_ts.unwrap_or_default();
        let end = s.last_ts.unwrap_or(start);
        let span = end.secs_since(start).max(0.0);
        let script_hash = base64(&Sha256::digest(SCRIPT.as_bytes()));
        let csp = format!(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
        );
        let title = match report.inputs.as_slice() {
            [one] => format!("TCP teardown report: {}", one.path),
            many => format!("TCP teardown report: {} inputs", many.len()),
        };
        let overview = Overview {
            connections: s.connections,
            filtered_out: s.filtered_out,
            packets: s.packets,
            tcp_packets: s.tcp_packets,
            start: s
                .first_ts
                .map(Timestamp::rfc3339)
                .unwrap_or_else(|| "–".into()),
            end: s
                .last_ts
                .map(Timestamp::rfc3339)
                .unwrap_or_else(|| "–".into()),
            span: duration(span),
            problems: digest.problems,
            interrupted: s.interrupted,
        };
        let t = &report.settings;
        let settings = vec![
            ("hang after", format!("{} s", t.hang_after.as_secs_f64())),
            ("FIN grace", format!("{} s", t.fin_grace.as_secs_f64())),
            (
                "MSL",
                format!(
                    "{} s (TIME_WAIT = 2×MSL = {} s)",
                    t.msl.as_secs_f64(),
                    2.0 * t.msl.as_secs_f64()
                ),
            ),
            (
                "host timers",
                format!(
                    "tcp_fin_timeout {} s, tcp_syn_retries {} (+{} linear), tcp_synack_retries {}, tcp_retries2 {}, tcp_orphan_retries {}",
                    t.timers.fin_timeout_ns as f64 / 1e9,
                    t.timers.syn_retries,
                    t.timers.syn_linear_timeouts,
                    t.timers.synack_retries,
                    t.timers.retries2,
                    t.timers.orphan_retries
                ),
            ),
        ];
        let mut filter = Vec::new();
        if let Some(f) = &report.filter {
            let join = |v: Vec<String>| v.join(", ");
            if !f.host.is_empty() {
                filter.push(("host", join(f.host.iter().map(|h| h.to_string()).collect())));
            }
            if !f.net.is_empty() {
                filter.push(("net", join(f.net.iter().map(|n| n.to_string()).collect())));
            }
            if !f.port.is_empty() {
                filter.push(("port", join(f.port.iter().map(|p| p.to_string()).collect())));
            }
            if let Some(t) = f.since {
                filter.push(("since", t.rfc3339()));
            }
            if let Some(t) = f.until {
                filter.push(("until", t.rfc3339()));
            }
        }
        let (ladder_views, ladder_note) = ladder_views(report, &sel, ladders);
        Page {
            title,
            csp,
            style: STYLE,
            script: SCRIPT,
            tool_name: report.tool.name,
            tool_version: report.tool.version,
            schema_version: report.schema_version,
            overview,
            inputs: report
                .inputs
                .iter()
                .take(MAX_INPUTS_LISTED)
                .map(input_view)
                .collect(),
            inputs_hidden: report.inputs.len().saturating_sub(MAX_INPUTS_LISTED),
            inputs_collapsed: report.inputs.len() > 5,
            settings,
            filter,
            cards: cards(report),
            flags: Flag::ALL
                .iter()
                .map(|f| FlagChip {
                    name: f.name(),
                    count: s.flags.get(f.name()).copied().unwrap_or(0),
                })
                .collect(),
            findings_hidden: report.findings.len().saturating_sub(MAX_FINDINGS_SHOWN),
            findings: report
                .findings
                .iter()
                .take(MAX_FINDINGS_SHOWN)
                .map(|f| FindingView {
                    name: f.kind.name(),
                    summary: f.summary.clone(),
                    problem: f.problem,
                    connections: f.connections,
                    evidence: f
                        .evidence
                        .iter()
                        .map(|&id| (id, ladder_views.iter().any(|l| l.id == id)))
                        .collect(),
                    meaning: spans(f.meaning),
                    checks: f.checks.iter().map(|c| spans(c)).collect(),
                })
                .collect(),
            diagnoses: s
                .diagnoses
                .iter()
                .map(|d| DiagView {
                    topic: d.topic,
                    title: d.title,
                    states: d.states,
                    count: d.count,
                    meaning: spans(&d.meaning),
                    causes: d.causes.iter().map(|c| spans(c)).collect(),
                    checks: d.checks.iter().map(|c| spans(c)).collect(),
                    open: !matches!(d.topic, "clean" | "open"),
                })
                .collect(),
            timeline: timeline(digest, start, span),
            host_charts: report
                .timeline
                .as_ref()
                .map(host_charts)
                .unwrap_or_default(),
            close_wait_chart: duration_histogram(&digest.close_wait, "CLOSE_WAIT duration"),
            close_chart: duration_histogram(&digest.close, "close duration"),
            top_servers: top_chart(&digest.servers, ("server", "servers")),
            top_clients: top_chart(&digest.clients, ("client", "clients")),
            legend: Class::ALL
                .iter()
                .map(|c| LegendItem {
                    key: c.name(),
                    label: class_label(c.name()),
                })
                .chain(std::iter::once(LegendItem {
                    key: Flag::TimeWaitReuse.name(),
                    label: class_label(Flag::TimeWaitReuse.name()),
                }))
                .collect(),
            table: table(report, &sel, digest.problems, start),
            ladders: ladder_views,
            ladder_note,
            // Inputs the analysis could not read (or not to the end) fail the
            // same way again: that is in the inputs list already.
            ladder_problems: ladders
                .problems
                .iter()
                .filter(|(i, _)| {
                    report
                        .inputs
                        .get(*i)
                        .is_some_and(|r| r.format.is_some() && r.error.is_none())
                })
                .map(|(_, m)| m.clone())
                .collect(),
            max_table_rows: MAX_TABLE_ROWS,
            max_ladders: MAX_LADDERS,
            head_packets: ladder::HEAD_PACKETS,
            tail_packets: ladder::TAIL_PACKETS,
        }
    }
}

pub(super) fn card_note(key: &str) -> &'static str {
    let Some(class) = Class::ALL.into_iter().find(|c| c.name() == key) else {
        return if key == Flag::TimeWaitReuse.name() {
            "flag: 4-tuple reused within 2×MSL"
        } else {
            ""
        };
    };
    // Exhaustive: a new class does not compile until its card has a note.
    match class {
        Class::Clean => "both FINs acknowledged",
        Class::HalfClosedHang => "FIN_WAIT_2 / CLOSE_WAIT",
        Class::LostFin => "FIN_WAIT_1, or TIME_WAIT / LAST_ACK",
        Class::Reset => "ended by a RST",
        Class::Refused => "SYN answered by RST",
        Class::Unanswered => "SYN with no reply",
        Class::Open => "no FIN, no RST",
        Class::Incomplete => "capture ended mid-close",
    }
}

pub(super) fn cards(report: &Report) -> Vec<Card> {
    let s = &report.summary;
    let total = s.connections.max(1) as f64;
    let card = |key: &'static str, count: u64, primary: bool| Card {
        states: (count > 0).then(|| states_link(report, key)).flatten(),
        key,
        label: class_label(key),
        note: card_note(key),
        count,
        pct: format!("{:.1}%", 100.0 * count as f64 / total),
        primary,
        zero: count == 0,
    };
    let class = |c: Class| s.classes.get(c.name()).copied().unwrap_or(0);
    let reuse = s
        .flags
        .get(Flag::TimeWaitReuse.name())
        .copied()
        .unwrap_or(0);
    // The four the issue asks about first, always shown; then the other classes.
    let mut cards = vec![
        card("clean", class(Class::Clean), true),
        card("half_closed_hang", class(Class::HalfClosedHang), true),
        card("lost_fin", class(Class::LostFin), true),
        card("time_wait_reuse", reuse, true),
    ];
    for c in Class::ALL {
        if !matches!(c, Class::Clean | Class::HalfClosedHang | Class::LostFin) {
            cards.push(card(c.name(), class(c), false));
        }
    }
    cards
}

/// The states whose pile-up a class card links to.
fn class_states(key: &str) -> &'static [&'static str] {
    match key {
        "half_closed_hang" => &["CLOSE_WAIT", "FIN_WAIT_2"],
        "lost_fin" => &["FIN_WAIT_1", "LAST_ACK", "CLOSING"],
        "time_wait_reuse" | "clean" => &["TIME_WAIT"],
        "unanswered" => &["SYN_SENT"],
        _ => &[],
    }
}

/// The link from a class card to the chart of the host with the highest
/// peak in one of its states, when that host has a chart.
fn states_link(report: &Report, key: &str) -> Option<(String, String)> {
    let t = report.timeline.as_ref()?;
    let (state, host, peak) = class_states(key)
        .iter()
        .filter_map(|s| t.peaks.iter().find(|p| p.state == *s))
        .map(|p| (p.state, p.host, p.stats.peak))
        .max_by_key(|&(_, _, n)| n)?;
    let i = t
        .hosts
        .iter()
        .take(MAX_HOST_CHARTS)
        .position(|h| h.host == Some(host))?;
    Some((
        format!("states-{}", i + 1),
        format!("{state} peaked at {peak} on {host}"),
    ))
}

pub(super) fn input_view(i: &crate::report::InputReport) -> InputView {
    let format = match i.format {
        Some(crate::capture::Format::Pcap) => "pcap",
        Some(crate::capture::Format::PcapNsec) => "pcap (ns)",
        Some(crate::capture::Format::PcapModified) => "pcap (modified)",
        Some(crate::capture::Format::Pcapng) => "pcapng",
        None => "unrecognised",
    };
    let compression = match i.compression {
        crate::capture::Compression::None => "",
        crate::capture::Compression::Gzip => ", gzip",
        crate::capture::Compression::Zstd => ", zstd",
    };
    let span = match (i.first_ts, i.last_ts) {
        (Some(a), Some(b)) => format!(
            "{} to {} ({})",
            a.rfc3339(),
            b.rfc3339(),
            duration(b.secs_since(a))
        ),
        _ => "–".into(),
    };
    let k = &i.skipped;
    let skipped: Vec<String> = [
        (k.unsupported_link_type, "unsupported link type"),
        (k.not_ip, "not IP"),
        (k.not_tcp, "not TCP"),
        (k.fragments, "fragments"),
        (k.too_short, "too short"),
        (k.malformed, "malformed"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    InputView {
        path: printable(&i.path).into_owned(),
        format: format!("{format}{compression}"),
        link_types: i
            .link_types
            .iter()
            .map(|l| format!("{} × {}", l.linktype, l.packets))
            .collect::<Vec<_>>()
            .join(", "),
        packets: i.packets,
        tcp_packets: i.tcp_packets,
        bytes: i.bytes,
        span,
        skipped: skipped.join(", "),
        interfaces: i
            .interfaces
            .iter()
            .take(MAX_MESSAGES_PER_INPUT)
            .map(|f| InterfaceView {
                name: printable(f.name.as_deref().unwrap_or_default()).into_owned(),
                description: printable(f.description.as_deref().unwrap_or_default()).into_owned(),
                linktype: f.linktype.to_string(),
            })
            .collect(),
        interfaces_hidden: i.interfaces.len().saturating_sub(MAX_MESSAGES_PER_INPUT)
            + usize::try_from(i.interfaces_omitted).unwrap_or(usize::MAX),
        warnings: i
            .warnings
            .iter()
            .take(MAX_MESSAGES_PER_INPUT)
            .map(|w| printable(&w.to_string()).into_owned())
            .collect(),
        warnings_hidden: i.warnings.len().saturating_sub(MAX_MESSAGES_PER_INPUT),
        error: i.error.as_deref().map(|e| printable(e).into_owned()),
    }
}

/// Splits prose on backticks: odd pieces are code.
pub(super) fn spans(s: &str) -> Vec<TextSpan> {
    s.split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| TextSpan {
            code: i % 2 == 1,
            text: t.to_string(),
        })
        .collect()
}
