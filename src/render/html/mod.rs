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
//! So is the memory it takes: [`Html`] gathers a [`Digest`] while the
//! analysis runs — what the charts count, and only the connections the table
//! and the ladders can choose from — instead of every record.
//!
//! # Ladders
//!
//! The report keeps only evidence per connection, so the packets of the
//! connections that get a ladder are read by a second pass over the inputs
//! (`pipeline::ladders::collect_ladders`). Standard input cannot be read twice: the
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

mod charts;
mod diagrams;
mod page;
mod problems;
mod top;

use askama::Template;
use sha2::{Digest as _, Sha256};

use super::Renderer;
use crate::classify::{Class, ClosedBy, Flag};
use crate::decode::EndpointAddr;
use crate::flow::Side;
use crate::pipeline::{Analysis, Options, ladders};
use crate::report::ladder::{self, LadderRequest, LadderRow, Ladders, SeqBase};
use crate::report::problems::fair_pick;
use crate::report::sink::{Records, Sink};
use crate::report::{ConnectionReport, FileStamp, Report};
use crate::time::Timestamp;
pub(crate) use diagrams::evidence_marks;
use page::Page;
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
pub fn write_html(
    report: &Report,
    inputs: &[(PathBuf, Option<FileStamp>)],
    out: &mut dyn Write,
) -> io::Result<()> {
    let ladders = ladders::collect_ladders(inputs, &ladder_requests(report), 1);
    write_html_with_ladders(report, &ladders, out)
}

/// The input paths of a report, for [`write_html`].
pub fn report_inputs(report: &Report) -> Vec<(PathBuf, Option<FileStamp>)> {
    report
        .inputs
        .iter()
        .map(|i| (PathBuf::from(&i.path), i.stamp))
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

/// Renders the page from what an [`Html`] renderer gathered: `report` holds the
/// connections the sink listed, in report order (its `summary` and `inputs`
/// are the whole analysis's). Reads the inputs again for the ladders, with as
/// many `threads` as the analysis.
pub fn write_html_from(
    report: &Report,
    digest: &Digest,
    inputs: &[(PathBuf, Option<FileStamp>)],
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
        findings: report.findings.clone(),
        timeline: report.timeline.clone(),
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
/// per endpoint stay within `TOP_TRACKED` endpoints each.
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

fn class_label(key: &str) -> &'static str {
    let Some(class) = Class::ALL.into_iter().find(|c| c.name() == key) else {
        return if key == Flag::TimeWaitReuse.name() {
            "TIME_WAIT reuse"
        } else {
            "Other"
        };
    };
    // Exhaustive: a new class does not compile until the page names it.
    match class {
        Class::Clean => "Clean close",
        Class::HalfClosedHang => "Half-closed hang",
        Class::LostFin => "Lost FIN",
        Class::Reset => "Reset",
        Class::Refused => "Refused",
        Class::Unanswered => "Unanswered",
        Class::Open => "Open at capture end",
        Class::Incomplete => "Incomplete",
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
    use super::charts::axis;
    use super::page::spans;
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
        use crate::decode::{EndpointAddr, TcpFlags};
        use crate::flow::Side;
        use crate::render::html;
        use crate::report::ladder::{
            HEAD_PACKETS, Ladder, LadderPacket, LadderRow, Ladders, MAX_KEPT, SeqBase, TAIL_PACKETS,
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
