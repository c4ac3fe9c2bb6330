//! The HTML report: one self-contained page to attach to an incident ticket.
//!
//! A renderer over the same [`Report`] value as the JSON and the text summary:
//! it formats, counts and lays out, and never re-derives a verdict. The page is
//! one file with its CSS, a little JavaScript (sorting and filtering the table,
//! nothing else) and its charts as inline SVG; it fetches nothing, and a
//! Content-Security-Policy (`default-src 'none'`, the script allowed by its hash)
//! makes the browser refuse any fetch. Without JavaScript everything but sorting
//! and filtering works.
//!
//! Every string from a capture (paths, pcapng interface names and descriptions,
//! warning messages) goes through the template engine's HTML escaping (askama,
//! `src/render/html/templates/`); nothing is marked safe but the page's own CSS and
//! script.
//!
//! # Size
//!
//! The page is bounded whatever the capture: the charts aggregate over all
//! connections; the table of problem connections has at most
//! [`MAX_TABLE_ROWS`] rows and the ladder diagrams at most [`MAX_LADDERS`]
//! connections (each of at most [`ladder::HEAD_PACKETS`] +
//! [`ladder::TAIL_PACKETS`] + [`ladder::MAX_KEPT`] packets), both shared fairly
//! between the kinds of problem (each problem class and `time_wait_reuse` gets an
//! equal share, unused shares go to the others; within a kind, capture order).
//! The page states the totals; the JSON report has every connection. Inputs,
//! their interfaces and warnings are capped likewise.
//!
//! So is the memory it takes: [`HtmlSink`] gathers a [`Digest`] while the
//! analysis runs — what the charts count, and only the connections the table
//! and the ladders can choose from — instead of every record.
//!
//! # Ladders
//!
//! The report keeps only evidence per connection, so the packets of the
//! connections that get a ladder are read by a second pass over the inputs
//! ([`crate::ladder::collect_ladders`]). Standard input cannot be read twice: the
//! page then says so instead of drawing ladders.
//!
//! # Deterministic
//!
//! The page depends only on the report and the inputs: no current time, paths as
//! given. `reports/client.html` is checked against a fresh rendering by the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;

mod top;

use askama::Template;
use sha2::{Digest as _, Sha256};

use super::Renderer;
use crate::classify::{Class, ClosedBy, Flag};
use crate::decode::EndpointAddr;
use crate::flow::Side;
use crate::pipeline::{Analysis, Options, ladders};
use crate::report::ladder::{self, LadderRequest, LadderRow, Ladders, SeqBase};
use crate::report::sink::{Records, Sink};
use crate::report::{ConnectionReport, Report};
use crate::time::Timestamp;
use top::TopCounts;

/// Rows of the problem-connection table, at most.
pub const MAX_TABLE_ROWS: usize = 1000;
/// Connections drawn as ladder diagrams, at most.
pub const MAX_LADDERS: usize = 50;
/// Inputs listed in the header, at most (a directory may hold thousands).
pub const MAX_INPUTS_LISTED: usize = 100;
/// Warnings and interfaces listed per input, at most.
pub const MAX_MESSAGES_PER_INPUT: usize = 10;
/// Bins of the "connections ending over time" chart.
const TIMELINE_BINS: usize = 48;
/// Rows of the "top servers" and "top clients" charts.
const TOP_N: usize = 10;
/// Endpoints the "top" charts count exactly; past that many, a summary of that
/// many (the busiest) in bounded memory (see [`super::top`]).
const TOP_TRACKED: usize = 16_384;
/// Kinds of problem a "top" chart stacks: the classes, then `time_wait_reuse`
/// ([`kind_order`]).
const KINDS: usize = Class::ALL.len() + 1;

const STYLE: &str = include_str!("templates/report.css");
const SCRIPT: &str = include_str!("templates/report.js");

/// Renders the page, reading `inputs` a second time for the ladder diagrams.
/// `inputs` are the paths of `report.inputs`, in the same order (input indexes in
/// the evidence refer to them).
pub fn write_html(report: &Report, inputs: &[PathBuf], out: &mut dyn Write) -> io::Result<()> {
    let ladders = ladders::collect_ladders(inputs, &ladder_requests(report), 1);
    write_html_with_ladders(report, &ladders, out)
}

/// The input paths of a report, for [`write_html`].
pub fn report_inputs(report: &Report) -> Vec<PathBuf> {
    report
        .inputs
        .iter()
        .map(|i| PathBuf::from(&i.path))
        .collect()
}

/// Renders the page with ladders already collected.
pub fn write_html_with_ladders(
    report: &Report,
    ladders: &Ladders,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (digest, listed) = digest_of(report);
    render_page(&listed, &digest, ladders, out)
}

/// Renders the page from what an [`HtmlSink`] gathered: `report` holds the
/// connections the sink listed, in report order (its `summary` and `inputs`
/// are the whole analysis's). Reads the inputs again for the ladders, with as
/// many `threads` as the analysis.
pub fn write_html_from(
    report: &Report,
    digest: &Digest,
    inputs: &[PathBuf],
    threads: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    let ladders = ladders::collect_ladders(inputs, &listed_ladders(report), threads);
    render_page(report, digest, &ladders, out)
}

fn render_page(
    listed: &Report,
    digest: &Digest,
    ladders: &Ladders,
    out: &mut dyn Write,
) -> io::Result<()> {
    let page = Page::build(listed, digest, ladders);
    let html = page.render().map_err(io::Error::other)?;
    out.write_all(html.as_bytes())
}

/// The digest of a whole report, and a report of the connections it lists.
fn digest_of(report: &Report) -> (Digest, Report) {
    let mut digest = Digest::default();
    let listed = report
        .connections
        .iter()
        .filter(|c| digest.add(c))
        .cloned()
        .collect();
    let listed = Report {
        schema_version: report.schema_version,
        tool: report.tool.clone(),
        settings: report.settings,
        filter: report.filter.clone(),
        connections: listed,
        inputs: report.inputs.clone(),
        summary: report.summary.clone(),
    };
    (digest, listed)
}

/// The connections that get a ladder, with their evidence packets.
pub fn ladder_requests(report: &Report) -> Vec<LadderRequest> {
    listed_ladders(&digest_of(report).1)
}

/// [`ladder_requests`] of a report that holds only listed connections.
fn listed_ladders(report: &Report) -> Vec<LadderRequest> {
    let sel = Selection::of(report);
    sel.ladders
        .iter()
        .map(|&i| {
            let c = &report.connections[i];
            LadderRequest {
                id: c.id,
                client: c.client,
                server: c.server,
                first_ts: c.first_ts,
                last_ts: c.last_ts,
                keep: evidence_marks(c).into_keys().collect(),
            }
        })
        .collect()
}

/// Which problem connections get a table row and which a ladder (indexes into
/// `report.connections`, in report order).
struct Selection {
    rows: Vec<usize>,
    ladders: Vec<usize>,
}

impl Selection {
    fn of(report: &Report) -> Selection {
        let problems: Vec<(usize, &'static str)> = report
            .connections
            .iter()
            .enumerate()
            .filter_map(|(i, c)| problem_kind(c).map(|k| (i, k)))
            .collect();
        let rows = fair_pick(&problems, MAX_TABLE_ROWS);
        let row_kinds: Vec<(usize, &'static str)> = rows
            .iter()
            .map(|&i| (i, problem_kind(&report.connections[i]).unwrap_or("")))
            .collect();
        let ladders = fair_pick(&row_kinds, MAX_LADDERS);
        Selection { rows, ladders }
    }
}

/// The kind of problem a listed connection counts under: its class when that is
/// a problem, else `time_wait_reuse`. `None` for connections not listed.
fn problem_kind(c: &ConnectionReport) -> Option<&'static str> {
    if !c.is_problem() {
        None
    } else if c.class.is_problem() {
        Some(c.class.name())
    } else {
        Some(Flag::TimeWaitReuse.name())
    }
}

/// The position of a [`problem_kind`] in [`kind_order`]: a class's own, or
/// after the classes for `time_wait_reuse`.
fn kind_index(kind: &str) -> usize {
    Class::ALL
        .iter()
        .position(|c| c.name() == kind)
        .unwrap_or(Class::ALL.len())
}

/// At most `cap` of `items`, shared fairly between kinds: each kind gets an equal
/// share, and what a small kind leaves goes to the others. Within a kind, the
/// first ones (capture order). The result is in the items' order.
fn fair_pick(items: &[(usize, &'static str)], cap: usize) -> Vec<usize> {
    let mut by_kind: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &(i, k) in items {
        by_kind.entry(k).or_default().push(i);
    }
    let mut kinds: Vec<(&str, Vec<usize>)> = by_kind.into_iter().collect();
    kinds.sort_by_key(|(k, v)| (v.len(), *k));
    let mut left = cap;
    let n = kinds.len();
    let mut picked = Vec::new();
    for (done, (_, v)) in kinds.iter().enumerate() {
        let share = left / (n - done);
        let take = v.len().min(share);
        picked.extend_from_slice(&v[..take]);
        left -= take;
    }
    picked.sort_unstable();
    picked
}

// ---------------------------------------------------------------------------
// What the page needs from every connection.

/// Connections per class or kind of problem.
type KindCounts = BTreeMap<&'static str, u64>;
/// A duration histogram: per bin of [`DURATION_BINS`], connections per class.
type DurationBins = Vec<KindCounts>;

/// What the page needs from every connection, gathered one connection at a
/// time: the charts' counts, and which connections the table may list. No kind
/// of problem gets more than [`MAX_TABLE_ROWS`] rows, so the first that many of
/// each kind (in report order) are all the table and the ladders choose from.
/// The timeline's bins depend on the capture's span, known only at the end, so
/// it keeps each connection's last packet time and class (9 bytes). The counts
/// per endpoint stay within [`TOP_TRACKED`] endpoints each.
#[derive(Debug)]
pub struct Digest {
    /// Problem connections (a problem class or a TIME_WAIT reuse).
    problems: usize,
    /// Problem connections listed so far, per kind.
    listed: BTreeMap<&'static str, usize>,
    ends: Vec<Timestamp>,
    end_classes: Vec<Class>,
    close_wait: DurationBins,
    close: DurationBins,
    /// Problem connections per server (address and port) and kind.
    servers: TopCounts<EndpointAddr, KINDS>,
    /// Problem connections per client address and kind.
    clients: TopCounts<IpAddr, KINDS>,
}

impl Default for Digest {
    fn default() -> Digest {
        Digest {
            problems: 0,
            listed: BTreeMap::new(),
            ends: Vec::new(),
            end_classes: Vec::new(),
            close_wait: DurationBins::new(),
            close: DurationBins::new(),
            servers: TopCounts::new(TOP_TRACKED),
            clients: TopCounts::new(TOP_TRACKED),
        }
    }
}

impl Digest {
    /// Counts `c`; true when the table may list it (its record must be kept).
    pub fn add(&mut self, c: &ConnectionReport) -> bool {
        self.ends.push(c.last_ts);
        self.end_classes.push(c.class);
        let bin = |bins: &mut DurationBins, v: Option<f32>| {
            let Some(v) = v.map(f64::from) else { return };
            if bins.is_empty() {
                *bins = vec![KindCounts::new(); DURATION_BINS.len()];
            }
            let i = DURATION_BINS
                .iter()
                .position(|(edge, _)| v < *edge)
                .unwrap_or(DURATION_BINS.len() - 1);
            *bins[i].entry(c.class.name()).or_default() += 1;
        };
        bin(&mut self.close_wait, c.timings.close_wait);
        bin(&mut self.close, c.timings.close_duration);
        let Some(kind) = problem_kind(c) else {
            return false;
        };
        self.problems += 1;
        let at = kind_index(kind);
        self.servers.add(c.server, at);
        self.clients.add(c.client.ip, at);
        let listed = self.listed.entry(kind).or_default();
        *listed += 1;
        *listed <= MAX_TABLE_ROWS
    }
}

/// `--format html`: gathers the page while the analysis runs ([`Digest`]),
/// in memory that grows by 9 bytes a connection, not by its whole record;
/// at the end reads the inputs again for the ladders and writes the page.
pub struct Html<'o> {
    out: &'o mut (dyn Write + Send),
    /// Threads for the second pass, as many as the analysis.
    threads: usize,
    digest: Digest,
    /// The connections the table may list, in report order.
    listed: Vec<ConnectionReport>,
}

impl<'o> Html<'o> {
    pub fn new(out: &'o mut (dyn Write + Send), options: &Options) -> Html<'o> {
        Html {
            out,
            threads: options.threads,
            digest: Digest::default(),
            listed: Vec::new(),
        }
    }
}

impl Sink for Html<'_> {
    type Encoder = Records;
    fn connection(&mut self, c: Box<ConnectionReport>) -> io::Result<()> {
        if self.digest.add(&c) {
            self.listed.push(*c);
        }
        Ok(())
    }
}

impl Renderer for Html<'_> {
    fn finish(&mut self, analysis: &Analysis) -> io::Result<()> {
        // The report as the page reads it: the whole analysis's summary and
        // inputs, the connections the table may list.
        let report = Report {
            connections: std::mem::take(&mut self.listed),
            ..analysis.report.clone()
        };
        let inputs = report_inputs(&report);
        write_html_from(&report, &self.digest, &inputs, self.threads, self.out)
    }
}

// ---------------------------------------------------------------------------
// The page's view model: every number formatted, every shape placed. The
// templates only lay it out.

#[derive(Template)]
#[template(
    path = "report.html",
    config = "src/render/html/templates/askama.toml",
    whitespace = "minimize"
)]
struct Page<'a> {
    title: String,
    csp: String,
    style: &'static str,
    script: &'static str,
    tool_name: &'a str,
    tool_version: &'a str,
    schema_version: u32,
    overview: Overview,
    inputs: Vec<InputView>,
    inputs_hidden: usize,
    /// Many inputs: the list is folded away.
    inputs_collapsed: bool,
    settings: Vec<(&'static str, String)>,
    filter: Vec<(&'static str, String)>,
    cards: Vec<Card>,
    flags: Vec<FlagChip>,
    diagnoses: Vec<DiagView>,
    timeline: VChart,
    close_wait_chart: VChart,
    close_chart: VChart,
    top_servers: HChart,
    top_clients: HChart,
    legend: Vec<LegendItem>,
    table: TableView,
    ladders: Vec<LadderView>,
    ladder_note: Option<String>,
    ladder_problems: Vec<String>,
    max_table_rows: usize,
    max_ladders: usize,
    head_packets: usize,
    tail_packets: usize,
}

struct Overview {
    connections: u64,
    filtered_out: u64,
    packets: u64,
    tcp_packets: u64,
    start: String,
    end: String,
    span: String,
    problems: usize,
}

struct InputView {
    path: String,
    format: String,
    link_types: String,
    packets: u64,
    tcp_packets: u64,
    bytes: u64,
    span: String,
    skipped: String,
    interfaces: Vec<InterfaceView>,
    interfaces_hidden: usize,
    warnings: Vec<String>,
    warnings_hidden: usize,
    error: Option<String>,
}

struct InterfaceView {
    name: String,
    description: String,
    linktype: String,
}

struct Card {
    key: &'static str,
    label: &'static str,
    note: &'static str,
    count: u64,
    pct: String,
    primary: bool,
    zero: bool,
}

struct FlagChip {
    name: &'static str,
    count: u64,
}

struct DiagView {
    topic: &'static str,
    title: &'static str,
    states: &'static str,
    count: u64,
    meaning: Vec<TextSpan>,
    causes: Vec<Vec<TextSpan>>,
    checks: Vec<Vec<TextSpan>>,
    open: bool,
}

/// A piece of prose: plain, or `code` (written between backticks in the source).
struct TextSpan {
    code: bool,
    text: String,
}

struct LegendItem {
    key: &'static str,
    label: &'static str,
}

/// A vertical stacked bar chart.
struct VChart {
    width: f64,
    height: f64,
    plot_left: f64,
    plot_right: f64,
    plot_bottom: f64,
    segs: Vec<Seg>,
    totals: Vec<BarLabel>,
    x_ticks: Vec<Tick>,
    y_ticks: Vec<Tick>,
    x_label: String,
    empty: Option<&'static str>,
    desc: String,
}

/// A horizontal stacked bar chart (top lists).
struct HChart {
    width: f64,
    height: f64,
    label_x: f64,
    rows: Vec<HRow>,
    empty: Option<&'static str>,
    desc: String,
}

struct HRow {
    text_y: f64,
    label: String,
    full: String,
    total: u64,
    total_x: f64,
    segs: Vec<Seg>,
}

struct Seg {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    kind: &'static str,
    tip: String,
}

struct BarLabel {
    x: f64,
    y: f64,
    text: String,
}

struct Tick {
    pos: f64,
    label: String,
    /// SVG `text-anchor`: the first and last labels of an axis stay inside.
    anchor: &'static str,
}

struct TableView {
    rows: Vec<RowView>,
    total: usize,
    classes: Vec<(&'static str, usize)>,
    flags: Vec<(&'static str, usize)>,
}

struct RowView {
    id: u64,
    ladder: bool,
    client: String,
    server: String,
    endpoints: String,
    class: &'static str,
    flags: Vec<&'static str>,
    flags_attr: String,
    end_client: &'static str,
    end_server: &'static str,
    closed_by: &'static str,
    start: String,
    start_v: String,
    duration: String,
    duration_v: String,
    close_wait: String,
    close_wait_v: String,
    idle: String,
    idle_v: String,
    packets: String,
    packets_v: u64,
}

struct LadderView {
    id: u64,
    client: String,
    server: String,
    class: &'static str,
    flags: Vec<&'static str>,
    end_client: &'static str,
    end_server: &'static str,
    facts: Vec<String>,
    svg: Option<LadderSvg>,
    note: Option<String>,
    open: bool,
    /// The heading of a group of ladders, on the first of each kind of problem.
    group: Option<String>,
    group_key: &'static str,
}

struct LadderSvg {
    width: f64,
    height: f64,
    cx: f64,
    sx: f64,
    line_top: f64,
    line_bottom: f64,
    state_y: f64,
    rows: Vec<LadderRowView>,
    seq_note: String,
}

struct LadderRowView {
    y: f64,
    /// `Some(text)` for a stretch of left-out packets.
    gap: Option<String>,
    x1: f64,
    x2: f64,
    y2: f64,
    head: String,
    label: String,
    label_x: f64,
    label_y: f64,
    time: String,
    frame: String,
    marks: String,
    style: &'static str,
}

impl<'a> Page<'a> {
    /// The page of `report`, which holds only the connections `digest` listed.
    fn build(report: &'a Report, digest: &Digest, ladders: &Ladders) -> Page<'a> {
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

fn class_label(key: &str) -> &'static str {
    match key {
        "clean" => "Clean close",
        "half_closed_hang" => "Half-closed hang",
        "lost_fin" => "Lost FIN",
        "time_wait_reuse" => "TIME_WAIT reuse",
        "reset" => "Reset",
        "refused" => "Refused",
        "unanswered" => "Unanswered",
        "open" => "Open at capture end",
        "incomplete" => "Incomplete",
        _ => "Other",
    }
}

fn card_note(key: &str) -> &'static str {
    match key {
        "clean" => "both FINs acknowledged",
        "half_closed_hang" => "FIN_WAIT_2 / CLOSE_WAIT",
        "lost_fin" => "FIN_WAIT_1, or TIME_WAIT / LAST_ACK",
        "time_wait_reuse" => "flag: 4-tuple reused within 2×MSL",
        "reset" => "ended by a RST",
        "refused" => "SYN answered by RST",
        "unanswered" => "SYN with no reply",
        "open" => "no FIN, no RST",
        "incomplete" => "capture ended mid-close",
        _ => "",
    }
}

fn cards(report: &Report) -> Vec<Card> {
    let s = &report.summary;
    let total = s.connections.max(1) as f64;
    let card = |key: &'static str, count: u64, primary: bool| Card {
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

fn input_view(i: &crate::report::InputReport) -> InputView {
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
        path: i.path.clone(),
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
                name: f.name.clone().unwrap_or_default(),
                description: f.description.clone().unwrap_or_default(),
                linktype: f.linktype.to_string(),
            })
            .collect(),
        interfaces_hidden: i.interfaces.len().saturating_sub(MAX_MESSAGES_PER_INPUT),
        warnings: i
            .warnings
            .iter()
            .take(MAX_MESSAGES_PER_INPUT)
            .map(|w| w.to_string())
            .collect(),
        warnings_hidden: i.warnings.len().saturating_sub(MAX_MESSAGES_PER_INPUT),
        error: i.error.clone(),
    }
}

/// Splits prose on backticks: odd pieces are code.
fn spans(s: &str) -> Vec<TextSpan> {
    s.split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| TextSpan {
            code: i % 2 == 1,
            text: t.to_string(),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Charts

/// Width of the full-width chart and of the half-width ones (SVG units, which
/// are CSS pixels at the page's usual width).
const WIDE_W: f64 = 1160.0;
const HALF_W: f64 = 560.0;
const CHART_H: f64 = 230.0;
const PLOT_LEFT: f64 = 44.0;
const PLOT_TOP: f64 = 18.0;
const PLOT_BOTTOM: f64 = CHART_H - 36.0;

/// The stacking order of every chart: the classes, then `time_wait_reuse`.
fn kind_order() -> Vec<&'static str> {
    Class::ALL
        .iter()
        .map(|c| c.name())
        .chain(std::iter::once(Flag::TimeWaitReuse.name()))
        .collect()
}

/// Rounds to one decimal for compact SVG coordinates.
fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// An axis step (1, 2 or 5 × 10^n) that divides `0..=max` into at most 5 steps,
/// and the axis maximum it gives.
fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut unit = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = unit * m;
            if max.div_ceil(step) <= 5 {
                return (step, max.div_ceil(step) * step);
            }
        }
        unit *= 10;
    }
}

/// Lays out a vertical stacked bar chart `width` wide: `bins[i]` is the count per
/// kind of bar i, `bar_labels[i]` its name in tooltips.
fn vchart(
    width: f64,
    bins: &[BTreeMap<&'static str, u64>],
    bar_labels: &[String],
    x_ticks: Vec<(f64, String)>,
    x_label: String,
    desc: String,
    empty: &'static str,
) -> VChart {
    let n = bins.len().max(1);
    let max = bins
        .iter()
        .map(|b| b.values().sum::<u64>())
        .max()
        .unwrap_or(0);
    let (step, top) = axis(max);
    let plot_right = width - 12.0;
    let plot_w = plot_right - PLOT_LEFT;
    let plot_h = PLOT_BOTTOM - PLOT_TOP;
    let slot = plot_w / n as f64;
    let gap = if n > 20 { 1.0 } else { slot * 0.25 };
    let order = kind_order();
    let mut segs = Vec::new();
    let mut totals = Vec::new();
    for (i, bin) in bins.iter().enumerate() {
        let x = PLOT_LEFT + i as f64 * slot + gap / 2.0;
        let mut y = PLOT_BOTTOM;
        let total: u64 = bin.values().sum();
        for k in &order {
            let Some(&v) = bin.get(k) else { continue };
            if v == 0 {
                continue;
            }
            let h = v as f64 / top as f64 * plot_h;
            y -= h;
            segs.push(Seg {
                x: r1(x),
                y: r1(y),
                w: r1(slot - gap),
                h: r1(h),
                kind: k,
                tip: format!("{}: {v} {k}", bar_labels[i]),
            });
        }
        if total > 0 && n <= 20 {
            totals.push(BarLabel {
                x: r1(x + (slot - gap) / 2.0),
                y: r1(y - 4.0),
                text: total.to_string(),
            });
        }
    }
    let y_ticks = (0..=top / step)
        .map(|i| Tick {
            pos: r1(PLOT_BOTTOM - (i * step) as f64 / top as f64 * plot_h),
            label: (i * step).to_string(),
            anchor: "end",
        })
        .collect();
    let last = x_ticks.len().saturating_sub(1);
    VChart {
        width,
        height: CHART_H,
        plot_left: PLOT_LEFT,
        plot_right,
        plot_bottom: PLOT_BOTTOM,
        segs,
        totals,
        x_ticks: x_ticks
            .into_iter()
            .enumerate()
            .map(|(i, (pos, label))| Tick {
                pos: r1(pos),
                label,
                anchor: match i {
                    0 if pos <= PLOT_LEFT => "start",
                    i if i == last && pos >= plot_right => "end",
                    _ => "middle",
                },
            })
            .collect(),
        y_ticks,
        x_label,
        empty: (max == 0).then_some(empty),
        desc,
    }
}

/// Connections ending (their last packet) per class over the capture.
fn timeline(digest: &Digest, start: Timestamp, span: f64) -> VChart {
    let n = TIMELINE_BINS;
    let mut bins: Vec<BTreeMap<&'static str, u64>> = vec![BTreeMap::new(); n];
    for (last_ts, class) in digest.ends.iter().zip(&digest.end_classes) {
        let at = last_ts.secs_since(start);
        let i = if span > 0.0 {
            ((at / span * n as f64).floor().max(0.0) as usize).min(n - 1)
        } else {
            0
        };
        *bins[i].entry(class.name()).or_default() += 1;
    }
    let width = span / n as f64;
    let labels: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "+{} to +{}",
                duration(i as f64 * width),
                duration((i + 1) as f64 * width)
            )
        })
        .collect();
    let plot_w = WIDE_W - 12.0 - PLOT_LEFT;
    let x_ticks = (0..=4)
        .map(|q| {
            let f = q as f64 / 4.0;
            (PLOT_LEFT + f * plot_w, format!("+{}", duration(f * span)))
        })
        .collect();
    let desc = format!(
        "{} connections by the time of their last packet, in {n} intervals of {}, stacked by class",
        digest.ends.len(),
        duration(width)
    );
    vchart(
        WIDE_W,
        &bins,
        &labels,
        x_ticks,
        "time since the first packet of the capture".into(),
        desc,
        "no connections",
    )
}

const DURATION_BINS: [(f64, &str); 8] = [
    (1e-3, "< 1 ms"),
    (1e-2, "1–10 ms"),
    (1e-1, "10–100 ms"),
    (1.0, "0.1–1 s"),
    (10.0, "1–10 s"),
    (60.0, "10–60 s"),
    (600.0, "1–10 min"),
    (f64::INFINITY, "≥ 10 min"),
];

/// Distribution of one timing over the connections that have it, stacked by class.
fn duration_histogram(bins: &DurationBins, what: &str) -> VChart {
    let n: u64 = bins.iter().flat_map(|b| b.values()).sum();
    let labels: Vec<String> = DURATION_BINS.iter().map(|(_, l)| l.to_string()).collect();
    let slot = (HALF_W - 12.0 - PLOT_LEFT) / DURATION_BINS.len() as f64;
    let x_ticks = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (PLOT_LEFT + (i as f64 + 0.5) * slot, l.clone()))
        .collect();
    vchart(
        HALF_W,
        bins,
        &labels,
        x_ticks,
        format!("{what} (logarithmic intervals)"),
        format!(
            "{n} connection{} with a {what}, stacked by class",
            if n == 1 { "" } else { "s" }
        ),
        "no connection has this timing",
    )
}

/// The endpoints with the most problem connections, stacked by kind of problem.
fn top_chart<K>(counts: &TopCounts<K, KINDS>, (one, many): (&str, &str)) -> HChart
where
    K: Copy + Eq + std::hash::Hash + std::fmt::Display,
{
    let mut list: Vec<(String, u64, [u64; KINDS])> = counts
        .entries()
        .iter()
        .map(|e| (e.key.to_string(), e.counted(), e.kinds))
        .collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(TOP_N);
    let label_w = 250.0;
    let right = HALF_W - 50.0;
    let row_h = 24.0;
    let max = list.first().map_or(1, |r| r.1).max(1) as f64;
    let order = kind_order();
    let rows = list
        .into_iter()
        .enumerate()
        .map(|(i, (k, total, m))| {
            let y = 6.0 + i as f64 * row_h;
            let mut x = label_w;
            let mut segs = Vec::new();
            for (kind, &v) in order.iter().zip(&m) {
                if v == 0 {
                    continue;
                }
                let w = v as f64 / max * (right - label_w);
                segs.push(Seg {
                    x: r1(x),
                    y,
                    w: r1(w),
                    h: row_h - 6.0,
                    kind,
                    tip: format!("{k}: {v} {kind}"),
                });
                x += w;
            }
            // Long IPv6 endpoints are shortened in the middle; the tooltip has
            // them whole.
            let chars: Vec<char> = k.chars().collect();
            let label = if chars.len() > 32 {
                let head: String = chars[..15].iter().collect();
                let tail: String = chars[chars.len() - 15..].iter().collect();
                format!("{head}…{tail}")
            } else {
                k.clone()
            };
            HRow {
                text_y: y + (row_h - 6.0) / 2.0 + 4.0,
                label,
                full: k,
                total,
                total_x: r1(x + 6.0),
                segs,
            }
        })
        .collect::<Vec<_>>();
    HChart {
        width: HALF_W,
        height: (rows.len().max(1) as f64) * row_h + 8.0,
        label_x: label_w - 8.0,
        empty: rows.is_empty().then_some("no problem connections"),
        desc: match counts.distinct() {
            Some(0) => format!("no {one} has problem connections"),
            Some(1) => format!("the one {one} with problem connections"),
            Some(d) if d > rows.len() => format!(
                "the {} of {d} {many} with the most problem connections",
                rows.len()
            ),
            Some(d) => format!("all {d} {many} with problem connections"),
            None => format!(
                "the {} {many} with the most problem connections, of more than {cap}: past {cap} {many} only the busiest are counted, so these counts may fall short",
                rows.len(),
                cap = counts.capacity()
            ),
        },
        rows,
    }
}

// ---------------------------------------------------------------------------
// The table

fn table(report: &Report, sel: &Selection, problems: usize, start: Timestamp) -> TableView {
    let laddered: BTreeSet<usize> = sel.ladders.iter().copied().collect();
    let mut classes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut flags: BTreeMap<&'static str, usize> = BTreeMap::new();
    let rows = sel
        .rows
        .iter()
        .map(|&i| {
            let c = &report.connections[i];
            *classes.entry(c.class.name()).or_default() += 1;
            for f in c.flags.iter() {
                *flags.entry(f.name()).or_default() += 1;
            }
            let secs = |v: Option<f64>| (v.map(duration).unwrap_or_default(), num(v));
            let (close_wait, close_wait_v) = secs(c.timings.close_wait.map(f64::from));
            let close_wait = if c.timings.close_wait_ongoing {
                format!("{close_wait}+")
            } else {
                close_wait
            };
            let (idle, idle_v) = secs(c.timings.idle_before_close.map(f64::from));
            let dur = c.last_ts.secs_since(c.first_ts);
            let flag_names: Vec<&'static str> = c.flags.iter().map(|f| f.name()).collect();
            RowView {
                id: c.id,
                ladder: laddered.contains(&i),
                client: c.client.to_string(),
                server: c.server.to_string(),
                endpoints: format!("{} {}", c.client, c.server),
                class: c.class.name(),
                flags_attr: flag_names.join(" "),
                flags: flag_names,
                end_client: c.end_state.client.name(),
                end_server: c.end_state.server.name(),
                closed_by: closed_by(c.closed_by),
                start: format!("+{:.3} s", c.first_ts.secs_since(start)),
                start_v: format!("{:.6}", c.first_ts.secs_since(start)),
                duration: duration(dur),
                duration_v: format!("{dur:.6}"),
                close_wait,
                close_wait_v,
                idle,
                idle_v,
                packets: format!("{} / {}", c.packets.client, c.packets.server),
                packets_v: c.packets.client + c.packets.server,
            }
        })
        .collect();
    TableView {
        rows,
        total: problems,
        classes: classes.into_iter().collect(),
        flags: flags.into_iter().collect(),
    }
}

/// A sortable number for a `data-v` attribute (empty sorts first).
fn num(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.6}")).unwrap_or_else(|| "-1".into())
}

fn closed_by(c: ClosedBy) -> &'static str {
    match c {
        ClosedBy::Client => "client",
        ClosedBy::Server => "server",
        ClosedBy::Both => "both",
        ClosedBy::None => "none",
    }
}

/// A duration for people: µs, ms, s, or minutes.
fn duration(secs: f64) -> String {
    let s = secs.max(0.0);
    if s == 0.0 {
        "0 s".into()
    } else if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 120.0 {
        format!("{s:.2} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86_400.0)
    }
}

// ---------------------------------------------------------------------------
// Ladders

/// What each evidence packet of a connection is, by (input, frame number).
fn evidence_marks(c: &ConnectionReport) -> BTreeMap<(u16, u64), Vec<(String, &'static str)>> {
    let mut marks: BTreeMap<(u16, u64), Vec<(String, &'static str)>> = BTreeMap::new();
    let mut mark = |p: &crate::flow::PacketRef, label: String, style: &'static str| {
        marks
            .entry((p.input(), p.packet()))
            .or_default()
            .push((label, style));
    };
    let e = &c.evidence;
    if let Some(p) = &e.syn {
        mark(p, "SYN".into(), "hs");
    }
    if let Some(p) = &e.syn_ack {
        mark(p, "SYN-ACK".into(), "hs");
    }
    if let Some(p) = &e.handshake_ack {
        mark(p, "handshake ACK".into(), "hs");
    }
    for f in &e.fins {
        let side = f.side.name();
        let style = if f.acknowledged { "fin" } else { "bad" };
        if f.transmissions > 1 {
            mark(
                &f.first,
                format!("{side} FIN, 1st of {}", f.transmissions),
                style,
            );
            if let Some(last) = &f.last {
                mark(
                    last,
                    format!("{side} FIN, last of {}", f.transmissions),
                    style,
                );
            }
        } else {
            mark(&f.first, format!("{side} FIN"), style);
        }
        if let Some(a) = &f.ack {
            let lost = if f.acks_lost > 0 { " (lost)" } else { "" };
            mark(a, format!("ACK of {side} FIN{lost}"), "fin");
        }
    }
    for r in &e.rsts {
        let side = r.side.name();
        if r.valid {
            mark(&r.at, format!("{side} RST"), "rst");
        } else {
            mark(&r.at, format!("{side} RST, invalid (ignored)"), "bad");
        }
    }
    marks
}

/// The verdict's evidence in words, from the report's fields.
fn facts(c: &ConnectionReport) -> Vec<String> {
    let mut facts = Vec::new();
    let frame = |p: &crate::flow::PacketRef| {
        if p.input() == 0 {
            format!("#{}", p.packet())
        } else {
            format!("#{} of input {}", p.packet(), u32::from(p.input()) + 1)
        }
    };
    for f in &c.evidence.fins {
        let seq = f
            .relative_seq
            .map(|s| format!(" (relative seq {s})"))
            .unwrap_or_default();
        let sent = if f.transmissions > 1 {
            format!(
                "sent {} times ({} … {})",
                f.transmissions,
                frame(&f.first),
                frame(&f.last.unwrap_or(f.first))
            )
        } else {
            format!("sent once ({})", frame(&f.first))
        };
        let ack = match (&f.ack, f.acks_lost, f.acknowledged) {
            (None, _, _) => "never acknowledged".to_string(),
            (Some(a), 0, true) => format!("acknowledged by {}", frame(a)),
            (Some(a), lost, acked) => format!(
                "acknowledged by {}, then sent again {lost} time{} after that ACK, which never reached it{}",
                frame(a),
                if lost == 1 { "" } else { "s" },
                if acked {
                    "; acknowledged durably later"
                } else {
                    "; not acknowledged at capture end"
                }
            ),
        };
        facts.push(format!("{} FIN{seq}: {sent}; {ack}.", f.side.name()));
    }
    for r in &c.evidence.rsts {
        let what = if r.valid {
            "acceptable"
        } else {
            "outside the receiver's window, ignored"
        };
        let after = if r.after_close {
            ", after both FINs were acknowledged"
        } else {
            ""
        };
        let fin = if r.with_fin { " (with FIN)" } else { "" };
        facts.push(format!(
            "{} RST{fin} at {}: {what}{after}.",
            r.side.name(),
            frame(&r.at)
        ));
    }
    if let Some(r) = &c.reset {
        facts.push(format!(
            "Reset by the {}{}.",
            r.by.name(),
            if r.after_fin { ", after a FIN" } else { "" }
        ));
    }
    let t = &c.timings;
    let mut timings = Vec::new();
    if let Some(v) = t.handshake_rtt.map(f64::from) {
        timings.push(format!("handshake RTT {}", duration(v)));
    }
    if let Some(v) = t.close_duration.map(f64::from) {
        timings.push(format!("close {}", duration(v)));
    }
    if let Some(v) = t.close_wait.map(f64::from) {
        timings.push(format!(
            "CLOSE_WAIT {}{}",
            duration(v),
            if t.close_wait_ongoing {
                " (still at capture end)"
            } else {
                ""
            }
        ));
    }
    if let Some(v) = t.idle_before_close.map(f64::from) {
        timings.push(format!("idle before close {}", duration(v)));
    }
    if !timings.is_empty() {
        facts.push(format!("Timings: {}.", timings.join(", ")));
    }
    if let Some(r) = &c.reuse {
        let yn = |b: bool| if b { "yes" } else { "no" };
        facts.push(format!(
            "Reuses the 4-tuple of #{} {} after it entered TIME_WAIT (held by the {}); new ISN above the old sequence space: {}; newer timestamp: {}; Linux accepts it: {}.",
            r.previous,
            duration(r.gap),
            r.time_wait_side.name(),
            yn(r.isn_advanced),
            r.ts_advanced.map_or("no timestamps", yn),
            yn(r.kernel_accepts),
        ));
    }
    facts
}

const L_WIDTH: f64 = 900.0;
const L_CX: f64 = 250.0;
const L_SX: f64 = 630.0;
const L_TOP: f64 = 58.0;
const L_ROW: f64 = 26.0;

fn ladder_views(
    report: &Report,
    sel: &Selection,
    ladders: &Ladders,
) -> (Vec<LadderView>, Option<String>) {
    let note = ladders.unavailable.clone();
    // Grouped by kind of problem (in class order, TIME_WAIT reuse last), capture
    // order within a group; the first of each group is open.
    let order = kind_order();
    let mut picked: Vec<(usize, &'static str)> = sel
        .ladders
        .iter()
        .map(|&i| (i, problem_kind(&report.connections[i]).unwrap_or("")))
        .collect();
    picked.sort_by_key(|&(i, k)| (order.iter().position(|o| *o == k), i));
    let mut group_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, k) in &picked {
        *group_sizes.entry(k).or_default() += 1;
    }
    let mut seen = BTreeSet::new();
    let views = picked
        .into_iter()
        .map(|(i, kind)| {
            let first_of_kind = seen.insert(kind);
            let c = &report.connections[i];
            let (svg, note) = match (ladders.ladders.get(&c.id), &ladders.unavailable) {
                (_, Some(_)) => (None, None),
                (None, None) => (
                    None,
                    Some("No packet of this connection was found when the inputs were read again.".to_string()),
                ),
                (Some(l), None) => {
                    let note = (!l.missing.is_empty()).then(|| {
                        format!(
                            "{} evidence packet(s) were not found when the inputs were read again: the files may have changed since the analysis.",
                            l.missing.len()
                        )
                    });
                    (Some(ladder_svg(c, l)), note)
                }
            };
            LadderView {
                id: c.id,
                client: c.client.to_string(),
                server: c.server.to_string(),
                class: c.class.name(),
                flags: c.flags.iter().map(|f| f.name()).collect(),
                end_client: c.end_state.client.name(),
                end_server: c.end_state.server.name(),
                facts: facts(c),
                svg,
                note,
                open: first_of_kind,
                group: first_of_kind.then(|| {
                    format!("{} ({})", class_label(kind), group_sizes.get(kind).copied().unwrap_or(0))
                }),
                group_key: kind,
            }
        })
        .collect();
    (views, note)
}

fn ladder_svg(c: &ConnectionReport, l: &ladder::Ladder) -> LadderSvg {
    let marks = evidence_marks(c);
    let unacked: Vec<Side> = c
        .evidence
        .fins
        .iter()
        .filter(|f| !f.acknowledged)
        .map(|f| f.side)
        .collect();
    let multi_input = l.rows.iter().any(|r| match r {
        LadderRow::Packet(p) => p.input != 0,
        LadderRow::Omitted(_) => false,
    });
    let t0 = c.first_ts;
    let mut rows = Vec::new();
    let mut y = L_TOP + 16.0;
    for row in &l.rows {
        match row {
            LadderRow::Omitted(n) => {
                rows.push(LadderRowView {
                    y: r1(y),
                    gap: Some(format!(
                        "… {n} packet{} not drawn …",
                        if *n == 1 { "" } else { "s" }
                    )),
                    x1: 0.0,
                    x2: 0.0,
                    y2: 0.0,
                    head: String::new(),
                    label: String::new(),
                    label_x: 0.0,
                    label_y: 0.0,
                    time: String::new(),
                    frame: String::new(),
                    marks: String::new(),
                    style: "",
                });
                y += L_ROW;
            }
            LadderRow::Packet(p) => {
                let (x1, x2) = match p.from {
                    Side::Client => (L_CX, L_SX),
                    Side::Server => (L_SX, L_CX),
                };
                let y2 = y + 10.0;
                // Arrowhead at (x2, y2), pointing along the line.
                let dir = if x2 > x1 { -1.0 } else { 1.0 };
                let head = format!(
                    "{},{} {},{} {},{}",
                    r1(x2),
                    r1(y2),
                    r1(x2 + dir * 9.0),
                    r1(y2 - 5.5),
                    r1(x2 + dir * 10.0),
                    r1(y2 + 2.5)
                );
                let mut label = p.flags.to_string();
                label.push_str(&format!("  seq={}", p.rel_seq));
                match (p.rel_ack, p.raw_ack) {
                    (Some(a), _) => label.push_str(&format!(" ack={a}")),
                    (None, Some(a)) => label.push_str(&format!(" ack={a} (raw)")),
                    _ => {}
                }
                if p.len > 0 {
                    label.push_str(&format!(" len={}", p.len));
                }
                if p.window == 0 && !p.flags.rst {
                    label.push_str(" win=0");
                }
                let m = marks.get(&(p.input, p.number));
                let mut style = match m {
                    Some(list) if list.iter().any(|(_, s)| *s == "bad") => "bad",
                    Some(list) if list.iter().any(|(_, s)| *s == "rst") => "rst",
                    Some(list) if list.iter().any(|(_, s)| *s == "fin") => "fin",
                    Some(_) => "hs",
                    None => "",
                };
                if style.is_empty() && p.flags.fin && unacked.contains(&p.from) {
                    style = "bad";
                }
                let marks = m
                    .map(|list| {
                        list.iter()
                            .map(|(l, _)| l.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                let frame = if multi_input {
                    format!("#{} ({})", p.number, u32::from(p.input) + 1)
                } else {
                    format!("#{}", p.number)
                };
                rows.push(LadderRowView {
                    y: r1(y),
                    gap: None,
                    x1,
                    x2,
                    y2: r1(y2),
                    head,
                    label,
                    label_x: r1((L_CX + L_SX) / 2.0),
                    label_y: r1(y - 1.0),
                    time: format!("+{:.6}", p.ts.secs_since(t0)),
                    frame,
                    marks,
                    style,
                });
                y += L_ROW;
            }
        }
    }
    let seq_note = match l.base {
        [SeqBase::Isn(_), SeqBase::Isn(_)] => {
            "seq/ack relative to each side's ISN".to_string()
        }
        _ => "seq/ack relative to each side's ISN, or without a SYN to the first sequence number it sent".to_string(),
    };
    let line_bottom = y + 4.0;
    LadderSvg {
        width: L_WIDTH,
        height: r1(line_bottom + 52.0),
        cx: L_CX,
        sx: L_SX,
        line_top: L_TOP,
        line_bottom: r1(line_bottom),
        state_y: r1(line_bottom + 6.0),
        rows,
        seq_note,
    }
}

/// Standard base64 (RFC 4648, with padding), for the CSP script hash.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    /// The demo capture's connections repeated `n` times over, renumbered.
    fn repeated_demo(n: usize) -> Report {
        let mut report = crate::pipeline::analyze(&crate::pipeline::Options::demo(1)).report;
        let demo = std::mem::take(&mut report.connections);
        report.connections = (0..n * demo.len())
            .map(|i| {
                let mut c = demo[i % demo.len()].clone();
                c.id = i as u64;
                c
            })
            .collect();
        report
    }

    #[test]
    fn the_digest_keeps_every_connection_the_table_and_the_ladders_choose() {
        // 300 × the demo: 1,200 resets and TIME_WAIT reuses each, more than
        // the table's 1,000 rows, and fewer of the other problems; then the
        // resets and clean connections alone, so that one kind takes every row.
        let mixed = repeated_demo(300);
        let mut resets = mixed.clone();
        resets
            .connections
            .retain(|c| c.class == Class::Reset || (c.class == Class::Clean && c.flags.is_empty()));
        for full in [mixed, resets] {
            let (digest, listed) = digest_of(&full);
            let problems = full
                .connections
                .iter()
                .filter(|c| problem_kind(c).is_some())
                .count();
            assert!(problems > MAX_TABLE_ROWS);
            assert_eq!(digest.problems, problems);
            assert!(listed.connections.len() <= digest.listed.len() * MAX_TABLE_ROWS);
            let ids = |r: &Report, picked: &[usize]| -> Vec<u64> {
                picked.iter().map(|&i| r.connections[i].id).collect()
            };
            let (a, b) = (Selection::of(&full), Selection::of(&listed));
            assert_eq!(a.rows.len(), MAX_TABLE_ROWS);
            assert_eq!(ids(&full, &a.rows), ids(&listed, &b.rows));
            assert_eq!(ids(&full, &a.ladders), ids(&listed, &b.ladders));
            // The charts count every connection.
            assert_eq!(digest.ends.len(), full.connections.len());
            assert_eq!(digest.servers.total() as usize, problems);
            let servers: u64 = digest.servers.entries().iter().map(|e| e.counted()).sum();
            assert_eq!(servers as usize, problems);
        }
    }

    #[test]
    fn fair_pick_shares_the_cap_between_kinds() {
        // 10 resets, 2 hangs, 5 reuses; cap 9: the hangs get their 2, the reuses
        // an equal share of the 7 left (3), the resets the rest (4).
        let mut items = Vec::new();
        for i in 0..10 {
            items.push((i, "reset"));
        }
        items.push((10, "half_closed_hang"));
        items.push((11, "half_closed_hang"));
        for i in 12..17 {
            items.push((i, "time_wait_reuse"));
        }
        let got = fair_pick(&items, 9);
        assert_eq!(got.len(), 9);
        assert!(got.contains(&10) && got.contains(&11));
        assert_eq!(got.iter().filter(|&&i| i < 10).count(), 4);
        assert_eq!(got.iter().filter(|&&i| i >= 12).count(), 3);
        // Under the cap, everything.
        assert_eq!(fair_pick(&items, 100).len(), items.len());
        assert!(fair_pick(&items, 0).is_empty());
    }

    #[test]
    fn prose_backticks_become_code() {
        let s = spans("run `ss -tan` now");
        assert_eq!(s.len(), 3);
        assert!(!s[0].code && s[1].code && !s[2].code);
        assert_eq!(s[1].text, "ss -tan");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.0), "0 s");
        assert_eq!(duration(0.000044), "44 µs");
        assert_eq!(duration(0.0123), "12.3 ms");
        assert_eq!(duration(9.3), "9.30 s");
        assert_eq!(duration(600.0), "10.0 min");
        assert_eq!(duration(7200.0), "2.0 h");
        assert_eq!(duration(864_000.0), "10.0 days");
    }

    #[test]
    fn axes_have_whole_steps() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(3), (1, 3));
        assert_eq!(axis(7), (2, 8));
        assert_eq!(axis(16), (5, 20));
        assert_eq!(axis(170_000), (50_000, 200_000));
    }

    /// The page for a capture far larger than the bench capture (170k problem
    /// connections, long IPv6 endpoints, every flag, ladders at their largest, many
    /// inputs full of warnings) stays under 8 MiB.
    #[test]
    fn page_size_is_bounded_for_huge_captures() {
        use crate::classify::{Class, Flag};
        use crate::decode::EndpointAddr;
        use crate::flow::Side;
        use crate::render::html;
        use crate::report::ladder::{
            HEAD_PACKETS, Ladder, LadderPacket, LadderRow, Ladders, MAX_KEPT, SeqBase,
            TAIL_PACKETS, TcpFlags,
        };
        use crate::time::Timestamp;

        let mut report = crate::pipeline::analyze(&crate::pipeline::Options::demo(1)).report;
        let template = report
            .connections
            .iter()
            .find(|c| c.reuse.is_some())
            .cloned()
            .unwrap();
        let kinds = [
            Class::HalfClosedHang,
            Class::LostFin,
            Class::Reset,
            Class::Refused,
            Class::Unanswered,
        ];
        let n = 170_000u64;
        report.connections = (0..n)
            .map(|i| {
                let mut c = template.clone();
                c.id = i + 1;
                c.class = kinds[(i % 5) as usize];
                c.flags = Flag::ALL.into_iter().collect();
                c.client = EndpointAddr {
                    ip: format!(
                        "fd00:ffff:ffff:ffff:ffff:ffff:{:x}:{:x}",
                        i >> 16,
                        i & 0xffff
                    )
                    .parse()
                    .unwrap(),
                    port: 65535,
                };
                c.server = EndpointAddr {
                    ip: format!("fd01:ffff:ffff:ffff:ffff:ffff:ffff:{:x}", i % 5000)
                        .parse()
                        .unwrap(),
                    port: 65535,
                };
                c
            })
            .collect();
        report.summary.connections = n;
        let input = report.inputs[0].clone();
        report.inputs = (0..5000)
            .map(|i| {
                let mut r = input.clone();
                r.path = format!("/very/long/path/to/a/rotated/capture/file-{i:08}.pcapng.zst");
                r.warnings = (0..100)
                    .map(|_| crate::capture::Warning {
                        offset: Some(u64::MAX),
                        packet: Some(u64::MAX),
                        message: "x".repeat(300),
                    })
                    .collect();
                r
            })
            .collect();

        // The largest ladder each selected connection can have.
        let wanted = html::ladder_requests(&report);
        assert_eq!(wanted.len(), html::MAX_LADDERS);
        let rows_per = HEAD_PACKETS + MAX_KEPT + TAIL_PACKETS;
        let mut ladders = Ladders::default();
        for w in &wanted {
            let mut rows = Vec::new();
            for k in 0..rows_per {
                rows.push(LadderRow::Omitted(u64::MAX / 2));
                rows.push(LadderRow::Packet(LadderPacket {
                    ts: Timestamp(i64::MAX / 2),
                    input: u16::MAX,
                    number: u64::MAX >> 16,
                    from: if k % 2 == 0 {
                        Side::Client
                    } else {
                        Side::Server
                    },
                    flags: TcpFlags {
                        fin: true,
                        syn: true,
                        rst: true,
                        psh: true,
                        ack: true,
                    },
                    rel_seq: u32::MAX,
                    rel_ack: None,
                    raw_ack: Some(u32::MAX),
                    len: u32::MAX,
                    window: 0,
                }));
            }
            ladders.ladders.insert(
                w.id,
                Ladder {
                    id: w.id,
                    rows,
                    packets: u64::MAX,
                    base: [SeqBase::FirstSeen(0), SeqBase::None],
                    missing: vec![(0, 1)],
                },
            );
        }
        let mut out = Vec::new();
        html::write_html_with_ladders(&report, &ladders, &mut out).unwrap();
        let size = out.len();
        eprintln!("page for {n} problem connections: {size} bytes");
        assert!(size <= 8 << 20, "{size} bytes, over 8 MiB");
        let page = String::from_utf8(out).unwrap();
        assert_eq!(
            page.matches("<tr data-class=").count(),
            html::MAX_TABLE_ROWS
        );
        assert!(page.contains(&format!("{} of {n} shown", html::MAX_TABLE_ROWS)));
    }

    /// The second pass finds every packet of a connection, in order, with sequence
    /// numbers relative to each side's ISN and the evidence kept.
    #[test]
    fn ladders_hold_the_connections_packets() {
        use crate::pipeline::ladders::collect_ladders;
        use crate::render::html;
        use crate::report::ladder::{LadderRow, SeqBase};

        let report = crate::pipeline::analyze(&crate::pipeline::Options::demo(1)).report;
        let wanted = html::ladder_requests(&report);
        assert_eq!(wanted.len(), 15);
        let ladders = collect_ladders(&html::report_inputs(&report), &wanted, 2);
        assert!(ladders.unavailable.is_none() && ladders.problems.is_empty());
        for w in &wanted {
            let c = report.connections.iter().find(|c| c.id == w.id).unwrap();
            let l = &ladders.ladders[&w.id];
            assert_eq!(
                l.packets,
                c.packets.client + c.packets.server,
                "#{}: every packet of the connection",
                c.id
            );
            assert!(
                l.missing.is_empty(),
                "#{}: evidence {:?} not found",
                c.id,
                l.missing
            );
            assert!(matches!(l.base[0], SeqBase::Isn(_)));
        }
        // Scenario 8 (client port 41008): the server's FIN sent 7 times at relative
        // seq 201.
        let s8 = report
            .connections
            .iter()
            .find(|c| c.client.port == 41008)
            .unwrap();
        let l = &ladders.ladders[&s8.id];
        let fins: Vec<u32> = l
            .rows
            .iter()
            .filter_map(|r| match r {
                LadderRow::Packet(p) if p.flags.fin && p.from == crate::flow::Side::Server => {
                    Some(p.rel_seq)
                }
                _ => None,
            })
            .collect();
        assert_eq!(fins, vec![201; 7]);
    }
}
