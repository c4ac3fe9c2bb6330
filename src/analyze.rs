//! The pipeline: inputs → records → segments (merged in time order across inputs)
//! → connection tracking → classification → [`Report`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use crate::capture::{CaptureError, CaptureReader, Compression, LinkType, Warning};
use crate::classify::Thresholds;
use crate::decode::{self, Segment, Skip};
use crate::filter::Filter;
use crate::flow::{FlowKey, Tracker, TrackerConfig};
use crate::report::{
    ConnectionReport, InputReport, LinkTypeCount, Report, SCHEMA_VERSION, Skipped, Tool,
    assign_ids, report_of, summarize,
};
use crate::time::Timestamp;

/// Segments handed to a worker at a time.
const BATCH: usize = 4096;
/// Batches in flight per worker before the reader waits (bounds memory).
const IN_FLIGHT: usize = 8;
/// A tracker's finished connections are turned into report records this often.
const DRAIN_EVERY: usize = 1024;

/// What to analyze and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Files, directories (read recursively, in name order) or `-` for stdin.
    pub inputs: Vec<PathBuf>,
    pub thresholds: Thresholds,
    /// Which connections the report keeps (all when empty).
    pub filter: Filter,
    /// Threads to use (1: everything on the calling thread). The output does not
    /// depend on it.
    pub threads: usize,
    /// Show a progress bar on stderr once the run takes more than a second.
    pub progress: bool,
    /// Most connections tracked at once, over all threads (memory bound; the
    /// least recently active are evicted beyond it).
    pub max_connections: usize,
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
    /// Size of the input when known (regular uncompressed files).
    total_len: Option<u64>,
    /// Bytes read when the reader was dropped.
    final_offset: u64,
}

impl Input {
    fn failed(path: String, err: &dyn std::fmt::Display) -> Input {
        let mut report = empty_input_report(path);
        report.error = Some(err.to_string());
        Input {
            index: 0,
            reader: None,
            report,
            total_len: Some(0),
            final_offset: 0,
        }
    }

    fn offset(&self) -> u64 {
        self.reader
            .as_ref()
            .map_or(self.final_offset, |r| r.offset())
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
            self.final_offset = reader.offset();
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

/// The last timestamp of the whole capture.
fn capture_end(inputs: &[Input]) -> Timestamp {
    inputs
        .iter()
        .filter_map(|i| i.report.last_ts)
        .max()
        .unwrap_or_default()
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
                    total_len: reader.total_len(),
                    reader: Some(reader),
                    report,
                    final_offset: 0,
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

/// Reads every input, merged by timestamp, and hands each TCP segment (with its
/// processing order set) to `sink`. The heap holds each input's next segment; ties
/// go to the earlier input, so rotated files line up and order within one file is
/// kept even when its timestamps go backwards.
fn read_all(inputs: &mut [Input], progress: &mut Progress, mut sink: impl FnMut(Segment)) {
    let mut heads: BinaryHeap<Reverse<(Timestamp, u16)>> = BinaryHeap::new();
    let mut pending: Vec<Option<Segment>> = Vec::with_capacity(inputs.len());
    for input in inputs.iter_mut() {
        let seg = input.next_segment();
        if let Some(s) = &seg {
            heads.push(Reverse((s.ts, input.index)));
        }
        pending.push(seg);
    }
    let mut order = 0u64;
    if inputs.len() == 1 {
        // One input: no merging, and no segment parked in `pending` between reads.
        let mut next = pending[0].take();
        while let Some(mut seg) = next {
            seg.order = order;
            order += 1;
            sink(seg);
            if order.is_multiple_of(65_536) {
                progress.tick(inputs, order);
            }
            next = inputs[0].next_segment();
        }
        return;
    }
    while let Some(Reverse((_, idx))) = heads.pop() {
        let i = usize::from(idx);
        if let Some(mut seg) = pending[i].take() {
            seg.order = order;
            order += 1;
            sink(seg);
            if order.is_multiple_of(65_536) {
                progress.tick(inputs, order);
            }
        }
        let next = inputs[i].next_segment();
        if let Some(s) = &next {
            heads.push(Reverse((s.ts, idx)));
        }
        pending[i] = next;
    }
}

enum Msg {
    Batch(Vec<Segment>),
    /// No more segments; the capture ended at this time.
    End(Timestamp),
}

/// A shard: tracks the connections whose 4-tuples hash to it and turns each
/// finished connection into its compact report record as soon as it ends.
fn worker(rx: Receiver<Msg>, cfg: TrackerConfig, t: Thresholds) -> (Vec<ConnectionReport>, u64) {
    let mut tracker = Tracker::new(cfg);
    let mut out = Vec::new();
    for msg in rx {
        match msg {
            Msg::Batch(batch) => {
                for seg in &batch {
                    tracker.push(seg);
                }
                out.extend(tracker.drain_finished().map(|c| report_of(&c, &t)));
            }
            Msg::End(capture_end) => {
                let evicted = tracker.evicted();
                out.extend(tracker.finish(capture_end).iter().map(|c| report_of(c, &t)));
                return (out, evicted);
            }
        }
    }
    (out, tracker.evicted())
}

/// A progress bar (bytes read, packets/s, connections) shown on stderr only once
/// a run has taken more than a second.
struct Progress {
    enabled: bool,
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
    total: Option<u64>,
}

impl Progress {
    fn new(enabled: bool, total: Option<u64>) -> Progress {
        Progress {
            enabled,
            start: Instant::now(),
            bar: None,
            total,
        }
    }

    fn tick(&mut self, inputs: &[Input], segments: u64) {
        if !self.enabled || self.start.elapsed() < Duration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = match self.total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let read: u64 = inputs.iter().map(|i| i.offset()).sum();
        bar.set_position(read);
        let rate = segments as f64 / self.start.elapsed().as_secs_f64();
        bar.set_message(format!("{segments} TCP segments, {rate:.0}/s"));
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Runs the whole analysis. Never fails as a whole: problems are per input.
pub fn analyze(options: &Options) -> Analysis {
    let mut messages = Vec::new();
    let (mut inputs, mut unreadable) = open_inputs(options, &mut messages);
    let t = options.thresholds;
    let workers = options.threads.max(1) - 1;
    let cfg = TrackerConfig {
        msl_ns: t.msl.as_nanos() as i64,
        fin_grace_ns: t.fin_grace.as_nanos() as i64,
        // Each shard gets its share of the cap.
        max_tracked: options.max_connections.div_ceil(workers.max(1)).max(1),
    };
    let total_bytes = inputs.iter().map(|i| i.total_len).sum::<Option<u64>>();
    let mut progress = Progress::new(options.progress, total_bytes);
    let mut reports: Vec<ConnectionReport> = Vec::new();
    let mut evicted = 0u64;
    if workers == 0 {
        let mut tracker = Tracker::new(cfg);
        read_all(&mut inputs, &mut progress, |seg| {
            tracker.push(&seg);
            if seg.order.is_multiple_of(DRAIN_EVERY as u64) {
                reports.extend(tracker.drain_finished().map(|c| report_of(&c, &t)));
            }
        });
        let capture_end = capture_end(&inputs);
        evicted = tracker.evicted();
        reports.extend(tracker.finish(capture_end).iter().map(|c| report_of(c, &t)));
    } else {
        // The reader decodes and routes by a direction-independent hash of the
        // 4-tuple, so every segment of a connection goes, in order, to one worker.
        std::thread::scope(|scope| {
            let mut senders: Vec<SyncSender<Msg>> = Vec::with_capacity(workers);
            let mut handles = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (tx, rx) = sync_channel(IN_FLIGHT);
                senders.push(tx);
                handles.push(scope.spawn(move || worker(rx, cfg, t)));
            }
            let hasher = ahash::RandomState::new();
            let mut batches: Vec<Vec<Segment>> =
                (0..workers).map(|_| Vec::with_capacity(BATCH)).collect();
            read_all(&mut inputs, &mut progress, |seg| {
                let shard = (hasher.hash_one(FlowKey::of(&seg)) % workers as u64) as usize;
                let batch = &mut batches[shard];
                batch.push(seg);
                if batch.len() == BATCH {
                    let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
                    // A worker only stops after `End`; a send cannot fail first.
                    let _ = senders[shard].send(Msg::Batch(full));
                }
            });
            let capture_end = capture_end(&inputs);
            for (tx, batch) in senders.iter().zip(batches) {
                let _ = tx.send(Msg::Batch(batch));
                let _ = tx.send(Msg::End(capture_end));
            }
            drop(senders);
            for h in handles {
                match h.join() {
                    // Take the first shard's vector as it is: copying it would
                    // double the peak memory of the records.
                    Ok((mut part, n)) => {
                        evicted += n;
                        if reports.is_empty() {
                            std::mem::swap(&mut reports, &mut part);
                        } else {
                            reports.append(&mut part);
                        }
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
    }
    progress.finish();

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
    assign_ids(&mut reports);
    let mut connection_reports = reports;
    let total = connection_reports.len();
    if !options.filter.is_empty() {
        connection_reports.retain(|c| options.filter.matches(c));
    }
    let mut summary = summarize(&connection_reports, &input_reports, &t);
    summary.filtered_out = (total - connection_reports.len()) as u64;
    summary.evicted = evicted;
    if evicted > 0 {
        messages.push(format!(
            "teardown: warning: {evicted} connections were evicted to stay within --max-connections {} (flagged `evicted`; their verdicts cover what was seen until then)",
            options.max_connections
        ));
    }
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
