//! The pipeline: inputs → records → segments (merged in time order across inputs)
//! → connection tracking → classification → [`Report`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use crate::capture::{CaptureError, CaptureReader, Compression, LinkType, Warning};
use crate::classify::Thresholds;
use crate::decode::{self, Segment, Skip};
use crate::filter::Filter;
use crate::flow::{Tracker, TrackerConfig};
use crate::report::{
    InputReport, LinkTypeCount, Report, SCHEMA_VERSION, Skipped, Tool, connection_reports,
    summarize,
};

/// What to analyze and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Files, directories (read recursively, in name order) or `-` for stdin.
    pub inputs: Vec<PathBuf>,
    pub thresholds: Thresholds,
    /// Which connections the report keeps (all when empty).
    pub filter: Filter,
}

/// The report plus what the command line needs to tell the user.
pub struct Analysis {
    pub report: Report,
    /// Inputs from which nothing could be read (missing, not a capture, bad header).
    pub unreadable: usize,
    /// Messages for stderr, each naming its file.
    pub messages: Vec<String>,
}

struct Input {
    index: u16,
    reader: Option<CaptureReader>,
    report: InputReport,
}

impl Input {
    fn failed(path: String, err: &dyn std::fmt::Display) -> Input {
        let mut report = empty_input_report(path);
        report.error = Some(err.to_string());
        Input {
            index: 0,
            reader: None,
            report,
        }
    }

    /// The next TCP segment of this input, counting everything else.
    fn next_segment(&mut self) -> Option<Segment> {
        let reader = self.reader.as_mut()?;
        loop {
            match reader.next_packet() {
                Ok(Some(raw)) => {
                    let r = &mut self.report;
                    r.packets += 1;
                    r.bytes += raw.data.len() as u64;
                    r.first_ts = Some(r.first_ts.map_or(raw.ts, |t| t.min(raw.ts)));
                    r.last_ts = Some(r.last_ts.map_or(raw.ts, |t| t.max(raw.ts)));
                    count_link_type(&mut r.link_types, raw.linktype);
                    match decode::decode(&raw, self.index) {
                        Ok(seg) => {
                            r.tcp_packets += 1;
                            return Some(seg);
                        }
                        Err(skip) => count_skip(&mut r.skipped, skip),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.report.error = Some(e.to_string());
                    break;
                }
            }
        }
        // End of this input: collect what the reader noted.
        if let Some(mut reader) = self.reader.take() {
            self.report.warnings.extend(reader.take_warnings());
            self.report.interfaces = reader.interfaces();
        }
        for lt in &self.report.link_types {
            if !lt.linktype.is_supported() {
                self.report.warnings.push(Warning {
                    offset: None,
                    packet: None,
                    message: format!(
                        "{} packets with unsupported {} skipped",
                        lt.packets, lt.linktype
                    ),
                });
            }
        }
        None
    }
}

fn empty_input_report(path: String) -> InputReport {
    InputReport {
        path,
        format: None,
        compression: Compression::None,
        packets: 0,
        bytes: 0,
        tcp_packets: 0,
        first_ts: None,
        last_ts: None,
        link_types: Vec::new(),
        skipped: Skipped::default(),
        interfaces: Vec::new(),
        warnings: Vec::new(),
        error: None,
    }
}

fn count_link_type(counts: &mut Vec<LinkTypeCount>, linktype: LinkType) {
    match counts.iter_mut().find(|c| c.linktype == linktype) {
        Some(c) => c.packets += 1,
        None => counts.push(LinkTypeCount {
            linktype,
            name: linktype.name(),
            packets: 1,
        }),
    }
}

fn count_skip(s: &mut Skipped, skip: Skip) {
    match skip {
        Skip::UnsupportedLinkType(_) => s.unsupported_link_type += 1,
        Skip::NotIp => s.not_ip += 1,
        Skip::NotTcp => s.not_tcp += 1,
        Skip::Fragment => s.fragments += 1,
        Skip::TooShort => s.too_short += 1,
        Skip::Malformed => s.malformed += 1,
    }
}

/// Expands directories (recursively, sorted by path) into their files. Files found
/// in a directory that are not captures are skipped with a message, not an error.
fn expand(inputs: &[PathBuf]) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut files = Vec::new();
            walk(p, &mut files);
            files.sort();
            out.extend(files.into_iter().map(|f| (f, true)));
        } else {
            out.push((p.clone(), false));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn open_inputs(options: &Options, messages: &mut Vec<String>) -> (Vec<Input>, usize) {
    let mut inputs = Vec::new();
    let mut unreadable = 0;
    for (path, from_dir) in expand(&options.inputs) {
        let name = path.display().to_string();
        match CaptureReader::open(&path) {
            Ok((reader, compression)) => {
                let mut report = empty_input_report(name);
                report.format = Some(reader.format());
                report.compression = compression;
                inputs.push(Input {
                    index: 0,
                    reader: Some(reader),
                    report,
                });
            }
            Err(CaptureError::NotACapture(_) | CaptureError::Empty) if from_dir => {
                messages.push(format!("teardown: {name}: skipped, not a capture file"));
            }
            Err(e) => {
                messages.push(format!("teardown: {name}: {e}"));
                unreadable += 1;
                inputs.push(Input::failed(name, &e));
            }
        }
    }
    for (i, input) in inputs.iter_mut().enumerate() {
        input.index = u16::try_from(i).unwrap_or(u16::MAX);
    }
    (inputs, unreadable)
}

/// Runs the whole analysis. Never fails as a whole: problems are per input.
pub fn analyze(options: &Options) -> Analysis {
    let mut messages = Vec::new();
    let (mut inputs, mut unreadable) = open_inputs(options, &mut messages);
    let t = options.thresholds;
    let mut tracker = Tracker::new(TrackerConfig {
        msl_ns: t.msl.as_nanos() as i64,
        fin_grace_ns: t.fin_grace.as_nanos() as i64,
    });

    // Merge inputs by timestamp: the heap holds each input's next segment, ties
    // broken by input order, so rotated files line up and order within one file is
    // kept even when its timestamps go backwards.
    let mut heads: BinaryHeap<Reverse<(crate::time::Timestamp, u16)>> = BinaryHeap::new();
    let mut pending: Vec<Option<Segment>> = Vec::with_capacity(inputs.len());
    for input in inputs.iter_mut() {
        let seg = input.next_segment();
        if let Some(s) = &seg {
            heads.push(Reverse((s.ts, input.index)));
        }
        pending.push(seg);
    }
    while let Some(Reverse((_, idx))) = heads.pop() {
        let i = usize::from(idx);
        if let Some(seg) = pending[i].take() {
            tracker.push(&seg);
        }
        let next = inputs[i].next_segment();
        if let Some(s) = &next {
            heads.push(Reverse((s.ts, idx)));
        }
        pending[i] = next;
    }

    let mut input_reports: Vec<InputReport> = inputs.into_iter().map(|i| i.report).collect();
    for r in &mut input_reports {
        if let Some(err) = &r.error
            && r.packets > 0
        {
            messages.push(format!(
                "teardown: {}: {err}; the {} packets before it are analyzed",
                r.path, r.packets
            ));
        } else if let Some(err) = &r.error
            && r.format.is_some()
        {
            // Header read, nothing after it.
            messages.push(format!("teardown: {}: {err}", r.path));
            unreadable += 1;
        }
        for w in &r.warnings {
            messages.push(format!("teardown: {}: warning: {w}", r.path));
        }
    }
    let capture_end = input_reports
        .iter()
        .filter_map(|r| r.last_ts)
        .max()
        .unwrap_or_default();
    let mut connections = tracker.finish(capture_end);
    connections.sort_by_key(|c| (c.first.ts, c.first.input, c.first.packet));
    let mut connection_reports = connection_reports(&connections, &t, capture_end);
    let total = connection_reports.len();
    if !options.filter.is_empty() {
        connection_reports.retain(|c| options.filter.matches(c));
    }
    let mut summary = summarize(&connection_reports, &input_reports, &t);
    summary.filtered_out = (total - connection_reports.len()) as u64;
    Analysis {
        report: Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            settings: t,
            filter: (!options.filter.is_empty()).then(|| options.filter.clone()),
            inputs: input_reports,
            summary,
            connections: connection_reports,
        },
        unreadable,
        messages,
    }
}
