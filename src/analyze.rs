//! The pipeline: inputs → records → segments (merged in time order across inputs)
//! → connection tracking → classification → [`Report`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use crate::capture::{CaptureError, CaptureReader, Compression, LinkType, Warning};
use crate::classify::Thresholds;
use crate::decode::{self, Located, Segment, Skip};
use crate::flow::{Connection, FlowKey, Tracker, TrackerConfig};
use crate::merge::{Batch, Collect, ConnectionSink, Finished, Key, Merger, through};
use crate::report::filter::Filter;
use crate::report::{
    Counts, InputReport, LinkTypeCount, Report, SCHEMA_VERSION, Skipped, Tool, report_of, summarize,
};
use crate::time::Timestamp;

/// Segments handed to a worker at a time, at most ([`batch_len`]).
const BATCH: usize = 4096;
/// Batches in flight per worker before the reader waits (bounds memory).
const IN_FLIGHT: usize = 8;
/// With one thread, the shard hands its finished connections to the merger
/// this often (in segments); the reading thread's shard, with workers, at
/// every [`TICK_EVERY`].
const DRAIN_EVERY: u64 = 1024;
/// Connections per batch when a shard hands on those still tracked at the end
/// of the capture.
const FINAL_BATCH: usize = 1024;
/// Every worker hears from the reader at least this often (in segments), even
/// when no segment of the interval is its own, so its watermark moves on and the
/// report is written as the capture is read.
const TICK_EVERY: u64 = 16_384;

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
    /// The report; its `connections` are empty when they went to a sink.
    pub report: Report,
    /// The first error the sink returned (the rest of its connections were
    /// dropped, and reading stopped).
    pub output_error: Option<std::io::Error>,
    /// Inputs from which nothing could be read (missing, not a capture, bad header).
    pub unreadable: usize,
    /// Messages for stderr, each naming its file.
    pub messages: Vec<String>,
}

struct Input {
    index: u16,
    reader: Option<CaptureReader>,
    report: InputReport,
    /// Size of the input when known (regular files, compressed or not), in
    /// the bytes [`CaptureReader::progress`] counts.
    total_len: Option<u64>,
    /// How far reading had come when the reader was dropped.
    final_progress: u64,
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
            final_progress: 0,
        }
    }

    /// How far reading has come, in the bytes [`Input::total_len`] counts.
    fn progress(&self) -> u64 {
        self.reader
            .as_ref()
            .map_or(self.final_progress, |r| r.progress().0)
    }

    /// The next TCP segment of this input, counting everything else.
    fn next_segment(&mut self) -> Option<Segment> {
        self.next_with(decode::decode)
    }

    /// The next TCP segment of this input, located when it can be and decoded
    /// otherwise ([`Routed`]).
    fn next_routed(&mut self) -> Option<Routed> {
        self.next_with(|raw, input| match decode::locate(raw, input) {
            Some(located) => Ok(Routed::Located(located)),
            None => decode::decode(raw, input).map(Routed::Segment),
        })
    }

    /// The next record of this input that `decode` makes something of,
    /// counting the others.
    #[inline]
    fn next_with<T>(
        &mut self,
        decode: impl Fn(&crate::capture::RawPacket<'_>, u16) -> Result<T, Skip>,
    ) -> Option<T> {
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
                    match decode(&raw, self.index) {
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
            self.final_progress = reader.progress().0;
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

#[inline]
fn count_link_type(counts: &mut Vec<LinkTypeCount>, linktype: LinkType) {
    // Nearly always the link type of the packet before.
    if let Some(c) = counts.last_mut()
        && c.linktype == linktype
    {
        c.packets += 1;
        return;
    }
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
                    total_len: reader.progress().1,
                    reader: Some(reader),
                    report,
                    final_progress: 0,
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
/// processing order set) to `sink` until it returns `false`. The heap holds each
/// input's next segment; ties go to the earlier input, so rotated files line up and
/// order within one file is kept even when its timestamps go backwards.
///
/// `pending` holds each input's first segment, and `next_of` reads the next.
///
/// A segment's `order` is its position among the records of all inputs: with one
/// input, its frame number; with several, the records of every input up to it
/// (non-TCP records count where they lie in their own file). It increases with
/// every segment, which is all the tracker needs, and makes connection ids frame
/// numbers a user can look up.
fn read_all<T: Stamped>(
    inputs: &mut [Input],
    mut pending: Vec<Option<T>>,
    progress: &mut Progress<'_>,
    mut next_of: impl FnMut(&mut Input) -> Option<T>,
    mut sink: impl FnMut(T) -> bool,
) {
    let mut heads: BinaryHeap<Reverse<(Timestamp, u16)>> = pending
        .iter()
        .zip(inputs.iter())
        .filter_map(|(seg, input)| seg.as_ref().map(|s| Reverse((s.ts(), input.index))))
        .collect();
    let mut segments = 0u64;
    if inputs.len() == 1 {
        // One input: no merging, and no segment parked in `pending` between reads.
        let mut next = pending[0].take();
        while let Some(mut seg) = next {
            seg.set_order(seg.number());
            segments += 1;
            if !sink(seg) {
                return;
            }
            if segments.is_multiple_of(65_536) {
                progress.tick(inputs, segments);
            }
            next = next_of(&mut inputs[0]);
        }
        return;
    }
    // Records taken so far from each input, and from all of them.
    let mut taken = vec![0u64; inputs.len()];
    let mut order = 0u64;
    while let Some(Reverse((_, idx))) = heads.pop() {
        let i = usize::from(idx);
        if let Some(mut seg) = pending[i].take() {
            order += seg.number().saturating_sub(taken[i]);
            taken[i] = seg.number();
            seg.set_order(order);
            segments += 1;
            if !sink(seg) {
                return;
            }
            if segments.is_multiple_of(65_536) {
                progress.tick(inputs, segments);
            }
        }
        let next = next_of(&mut inputs[i]);
        if let Some(s) = &next {
            heads.push(Reverse((s.ts(), idx)));
        }
        pending[i] = next;
    }
}

/// What [`read_all`] reads of a segment, decoded or located.
trait Stamped {
    fn ts(&self) -> Timestamp;
    fn number(&self) -> u64;
    fn order(&self) -> u64;
    fn set_order(&mut self, order: u64);
}

impl Stamped for Segment {
    fn ts(&self) -> Timestamp {
        self.ts
    }
    fn number(&self) -> u64 {
        self.number
    }
    fn order(&self) -> u64 {
        self.order
    }
    fn set_order(&mut self, order: u64) {
        self.order = order;
    }
}

/// A segment as the reading thread routes it to a shard: decoded, or from
/// [`LOCATE_FROM`] threads on, when it can be, located ([`decode::locate`]) for
/// the shard that owns it to decode.
enum Routed {
    Segment(Segment),
    Located(Located),
}

impl Routed {
    fn into_segment(self) -> Segment {
        match self {
            Routed::Segment(s) => s,
            Routed::Located(l) => l.segment(),
        }
    }
}

impl Routable for Routed {
    #[inline]
    fn hash(&self) -> u64 {
        match self {
            Routed::Segment(s) => FlowKey::of(s).hash(),
            Routed::Located(l) => FlowKey::of_endpoints(l.src_endpoint(), l.dst_endpoint()).hash(),
        }
    }

    #[inline]
    fn push_to(&self, tracker: &mut Tracker, hash: u64) {
        match self {
            Routed::Segment(s) => tracker.push_hashed(s, hash),
            Routed::Located(l) => tracker.push_hashed(&l.segment(), hash),
        }
    }

    fn into_routed(self) -> Routed {
        self
    }
}

impl Stamped for Routed {
    fn ts(&self) -> Timestamp {
        match self {
            Routed::Segment(s) => s.ts,
            Routed::Located(l) => l.ts,
        }
    }
    fn number(&self) -> u64 {
        match self {
            Routed::Segment(s) => s.number,
            Routed::Located(l) => l.number,
        }
    }
    fn order(&self) -> u64 {
        match self {
            Routed::Segment(s) => s.order,
            Routed::Located(l) => l.order,
        }
    }
    fn set_order(&mut self, order: u64) {
        match self {
            Routed::Segment(s) => s.order = order,
            Routed::Located(l) => l.order = order,
        }
    }
}

/// A segment as the reading thread routes it ([`Segment`] or [`Routed`]).
trait Routable: Stamped {
    /// The [`FlowKey::hash`] of its 4-tuple, which routes it.
    fn hash(&self) -> u64;
    /// Hands the segment to `tracker`.
    fn push_to(&self, tracker: &mut Tracker, hash: u64);
    fn into_routed(self) -> Routed;
}

impl Routable for Segment {
    #[inline]
    fn hash(&self) -> u64 {
        FlowKey::of(self).hash()
    }
    #[inline]
    fn push_to(&self, tracker: &mut Tracker, hash: u64) {
        tracker.push_hashed(self, hash);
    }
    #[inline]
    fn into_routed(self) -> Routed {
        Routed::Segment(self)
    }
}

/// The reading thread's side of the parallel pipeline: its own shard, and a
/// batch on its way to each worker.
struct Router<'r, 'o> {
    own: &'r mut Shard<'o>,
    /// Which shard owns each partition.
    owner: &'r [usize],
    cfg: TrackerConfig,
    batches: Vec<Vec<(u64, Routed)>>,
    senders: &'r [SyncSender<Msg>],
    out_tx: &'r SyncSender<Batch>,
    stop: &'r AtomicBool,
    batch_len: usize,
    routed: u64,
}

impl Router<'_, '_> {
    /// Routes one segment to the shard that owns its 4-tuple's partition;
    /// `false` once the output has failed (checked at each tick).
    #[inline]
    fn route<T: Routable>(&mut self, seg: T) -> bool {
        let order = seg.order();
        let hash = seg.hash();
        let shard = self.owner[self.cfg.partition_of(hash)];
        self.routed += 1;
        if shard == 0 {
            seg.push_to(&mut self.own.tracker, hash);
        } else {
            let batch = &mut self.batches[shard - 1];
            batch.push((hash, seg.into_routed()));
            if batch.len() == self.batch_len {
                let full = std::mem::replace(batch, Vec::with_capacity(self.batch_len));
                // A worker only stops after `End`; a send cannot fail first.
                let _ = self.senders[shard - 1].send(Msg::Batch(full, order));
            }
        }
        if self.routed.is_multiple_of(TICK_EVERY) {
            // The writer and every worker learn how far the capture has got.
            // Only this often: each hand-over may wake a thread, and on two
            // cores half the context switches were the reading thread's
            // shard handing on every [`DRAIN_EVERY`] segments (step 42).
            let _ = self.out_tx.send(self.own.batch(order));
            for (tx, batch) in self.senders.iter().zip(self.batches.iter_mut()) {
                let part = std::mem::replace(batch, Vec::with_capacity(self.batch_len));
                let _ = tx.send(Msg::Batch(part, order));
            }
            return !self.stop.load(Ordering::Relaxed);
        }
        true
    }
}

enum Msg {
    /// Segments in order, and the reader's order when it sent them (the worker's
    /// next watermark).
    /// Each segment with its [`FlowKey::hash`].
    Batch(Vec<(u64, Routed)>, u64),
    /// No more segments; the capture ended at this time.
    End(Timestamp),
}

/// How shards hand on finished connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// As records (the sink gets [`Finished::Record`]).
    Records,
    /// As JSON objects serialized by the shard ([`Finished::Json`]).
    Json,
}

/// One shard of the traffic: its tracker, and what becomes of its finished
/// connections (classified, filtered, counted, and serialized when asked to, all
/// on the shard's own thread).
struct Shard<'a> {
    index: usize,
    tracker: Tracker,
    thresholds: Thresholds,
    filter: &'a Filter,
    emit: Emit,
    counts: Counts,
    /// Connections opened by all shards, for the progress bar: each shard adds
    /// its own with every batch.
    opened: &'a AtomicU64,
    /// How many of this shard's are in `opened` already.
    opened_told: u64,
    /// Where records are serialized before being copied out at their exact size
    /// (a connection ending at the end of the capture waits in the merger, so
    /// a SYN flood's tens of thousands of them are all held at once).
    scratch: Vec<u8>,
}

impl<'a> Shard<'a> {
    fn new(
        index: usize,
        cfg: TrackerConfig,
        partitions: Range<usize>,
        options: &'a Options,
        emit: Emit,
        opened: &'a AtomicU64,
    ) -> Shard<'a> {
        Shard {
            index,
            tracker: Tracker::of_partitions(cfg, partitions),
            thresholds: options.thresholds,
            filter: &options.filter,
            emit,
            counts: Counts::default(),
            opened,
            opened_told: 0,
            scratch: Vec::with_capacity(4096),
        }
    }

    fn finished(&mut self, c: &Connection) -> Option<(Key, Finished)> {
        let r = report_of(c, &self.thresholds);
        if !self.filter.is_empty() && !self.filter.matches(&r) {
            self.counts.filtered_out += 1;
            return None;
        }
        self.counts.add(&r);
        let key = (r.end_order, r.id);
        Some(match self.emit {
            Emit::Records => (key, Finished::Record(Box::new(r))),
            Emit::Json => {
                self.scratch.clear();
                crate::render::json::compact::connection_to_vec(&mut self.scratch, &r);
                (key, Finished::Json(self.scratch.clone()))
            }
        })
    }

    /// The connections finished so far, as a batch with `watermark`.
    fn batch(&mut self, watermark: u64) -> Batch {
        let opened = self.tracker.opened();
        self.opened
            .fetch_add(opened - self.opened_told, Ordering::Relaxed);
        self.opened_told = opened;
        let done: Vec<Box<Connection>> = self.tracker.drain_finished().collect();
        let items = done.into_iter().filter_map(|c| self.finished(&c)).collect();
        Batch {
            shard: self.index,
            items,
            watermark: through(watermark),
            done: false,
        }
    }

    /// Ends the shard at the end of the capture: hands its last connections to
    /// `send` in batches of [`FINAL_BATCH`] (a flood leaves up to
    /// `--max-connections` of them), and returns its counts and how many
    /// connections it evicted.
    fn finish(mut self, capture_end: Timestamp, mut send: impl FnMut(Batch)) -> (Counts, u64) {
        let evicted = self.tracker.evicted();
        let mut all = self.tracker.finish(capture_end);
        loop {
            // Each connection is dropped as soon as its record is made.
            let items: Vec<(Key, Finished)> = all
                .by_ref()
                .filter_map(|c| self.finished(&c))
                .take(FINAL_BATCH)
                .collect();
            let done = items.len() < FINAL_BATCH;
            let watermark = match items.last() {
                Some((key, _)) if !done => *key,
                _ => through(u64::MAX),
            };
            send(Batch {
                shard: self.index,
                items,
                watermark,
                done,
            });
            if done {
                return (self.counts, evicted);
            }
        }
    }
}

/// From this many threads on, the reading thread locates segments and the
/// shards decode them ([`Routed`]): with its own decoding, it was the busiest
/// thread from four threads on, whatever its share.
const LOCATE_FROM: usize = 4;

/// The partitions of each shard, contiguous and in order. Shard 0 runs on the
/// reading thread, which also reads and routes every packet, and decodes every
/// one below [`LOCATE_FROM`] threads: about a third of the work the shards do
/// between them for a JSON report then, a quarter when it only locates them
/// (callgrind per thread, docs/performance.md, "Past two cores"). Its share `s`
/// of the partitions evens the threads out: with that work `R = r·X` besides
/// the shards' `X`, `R + s·X = (1 − s)·X/(n − 1)` gives `s = (1 − r(n − 1))/n`:
/// with `r = 1/3`, `(4 − n)/(3n)`: all of them with one shard, a third with
/// two, a ninth with three; with `r = 1/4` from four threads on, `(5 − n)/(4n)`:
/// a sixteenth with four, none from five on, where the reading thread is the
/// busiest whatever it is given. The workers share the rest evenly. With more
/// shards than partitions, some get none.
fn shard_ranges(partitions: usize, shards: usize) -> Vec<Range<usize>> {
    let own = if shards < LOCATE_FROM {
        partitions * (4 - shards) / (3 * shards)
    } else {
        partitions * 5usize.saturating_sub(shards) / (4 * shards)
    };
    let workers = shards - 1;
    let start = |shard: usize| match shard {
        0 => 0,
        w => own + (partitions - own) * (w - 1) / workers,
    };
    (0..shards)
        .map(|s| {
            start(s)..if s + 1 == shards {
                partitions
            } else {
                start(s + 1)
            }
        })
        .collect()
}

/// With more than one thread, inputs up to this many are read (and
/// decompressed) each by a thread of its own, ahead of the decoding: a few MiB
/// each. More inputs are read on the reading thread: a directory of rotated
/// files is read one file after the other anyway.
const READ_AHEAD_INPUTS: usize = 4;

/// Starts reading ahead ([`CaptureReader::read_ahead`]) for each of `readers`
/// when `threads` allows and they are few enough ([`READ_AHEAD_INPUTS`]).
pub(crate) fn read_ahead<'r>(readers: impl Iterator<Item = &'r mut CaptureReader>, threads: usize) {
    if threads < 2 {
        return;
    }
    let readers: Vec<_> = readers.collect();
    if readers.len() <= READ_AHEAD_INPUTS {
        for reader in readers {
            reader.read_ahead();
        }
    }
}

/// How many segments a worker's batch holds when the shards own `ranges` of
/// `partitions`: [`BATCH`], or the largest worker's share of a [`TICK_EVERY`]
/// interval when that is less. Every batch goes at each tick however full, and
/// its capacity is memory in flight: with 16 threads, batches of 4096 segments
/// sent holding ~1,060 made peak RSS grow by ~6 MiB a thread.
fn batch_len(ranges: &[Range<usize>], partitions: usize) -> usize {
    let most = ranges[1..].iter().map(|r| r.len()).max().unwrap_or(0);
    BATCH.min((TICK_EVERY as usize * most).div_ceil(partitions).max(1))
}

/// A worker thread: one shard fed by the reader.
fn worker(mut shard: Shard<'_>, rx: Receiver<Msg>, out: SyncSender<Batch>) -> (Counts, u64) {
    for msg in rx {
        match msg {
            Msg::Batch(segments, watermark) => {
                for (hash, seg) in &segments {
                    seg.push_to(&mut shard.tracker, *hash);
                }
                let _ = out.send(shard.batch(watermark));
            }
            Msg::End(capture_end) => {
                return shard.finish(capture_end, |batch| {
                    let _ = out.send(batch);
                });
            }
        }
    }
    (shard.counts, shard.tracker.evicted())
}

/// The writer thread: releases the shards' connections to `sink` in report
/// order as they come.
fn writer(
    shards: usize,
    rx: Receiver<Batch>,
    sink: &mut dyn ConnectionSink,
    stop: &AtomicBool,
) -> Option<std::io::Error> {
    let mut merger = Merger::new(shards);
    let mut error = None;
    for batch in rx {
        merger.push(batch);
        merger.drain_to(sink, &mut error);
        if error.is_some() {
            stop.store(true, Ordering::Relaxed);
        }
        if merger.is_finished() {
            break;
        }
    }
    error
}

/// A progress bar shown on stderr only once a run has taken more than a
/// second: bytes of the inputs read out of their size (compressed bytes for a
/// compressed file: its decompressed size is not known), TCP segments and
/// their rate, connections opened so far.
struct Progress<'a> {
    enabled: bool,
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
    total: Option<u64>,
    /// Connections opened so far, added to by the shards.
    opened: &'a AtomicU64,
}

impl<'a> Progress<'a> {
    fn new(enabled: bool, total: Option<u64>, opened: &'a AtomicU64) -> Progress<'a> {
        Progress {
            enabled,
            start: Instant::now(),
            bar: None,
            total,
            opened,
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
            }
            // The bar appears after a second; its clock counts from the start.
            .with_elapsed(self.start.elapsed());
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let read: u64 = inputs.iter().map(Input::progress).sum();
        bar.set_position(read);
        let rate = segments as f64 / self.start.elapsed().as_secs_f64();
        let connections = self.opened.load(Ordering::Relaxed);
        bar.set_message(format!(
            "{segments} TCP segments ({rate:.0}/s), {connections} connections"
        ));
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Options {
    /// The demo capture (`fixtures/kernel/client.pcap`) with the default
    /// thresholds, for tests across the crate.
    #[cfg(test)]
    pub(crate) fn demo(threads: usize) -> Options {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        Options {
            inputs: vec![root.join("fixtures/kernel/client.pcap")],
            thresholds: Thresholds::default(),
            filter: Filter::default(),
            threads,
            progress: false,
            max_connections: 100_000,
        }
    }
}

/// Runs the whole analysis and keeps every connection record in the report.
/// Never fails as a whole: problems are per input.
pub fn analyze(options: &Options) -> Analysis {
    let mut collect = Collect::default();
    let mut analysis = analyze_into(options, Emit::Records, &mut collect);
    analysis.report.connections = collect.into_records();
    analysis
}

/// Runs the whole analysis, handing every finished connection to `sink` in report
/// order while the capture is read (serialized by the shards when `emit` says
/// so). The returned report has no `connections`; everything else is complete.
pub fn analyze_into(options: &Options, emit: Emit, sink: &mut dyn ConnectionSink) -> Analysis {
    let mut messages = Vec::new();
    let (mut inputs, mut unreadable) = open_inputs(options, &mut messages);
    let t = options.thresholds;
    let shards = options.threads.max(1);
    read_ahead(inputs.iter_mut().filter_map(|i| i.reader.as_mut()), shards);
    let cfg = TrackerConfig {
        msl_ns: t.msl.as_nanos() as i64,
        fin_grace_ns: t.fin_grace.as_nanos() as i64,
        max_tracked: options.max_connections,
    };
    let ranges = shard_ranges(cfg.partitions(), shards);
    // Which shard owns each partition, for routing.
    let owner: Vec<usize> = ranges
        .iter()
        .enumerate()
        .flat_map(|(shard, r)| r.clone().map(move |_| shard))
        .collect();
    let total_bytes = inputs.iter().map(|i| i.total_len).sum::<Option<u64>>();
    let opened = AtomicU64::new(0);
    let mut progress = Progress::new(options.progress, total_bytes, &opened);
    let mut counts = Counts::default();
    let mut evicted = 0u64;
    let mut output_error = None;
    // Shard 0 runs on the reading thread; shards 1.. on worker threads.
    let mut own = Shard::new(0, cfg, ranges[0].clone(), options, emit, &opened);
    // From four threads on the reading thread only locates the segments it
    // can, and the shards decode them (`Routed`).
    let locate = shards >= LOCATE_FROM;
    let next_of = |input: &mut Input| {
        if locate {
            input.next_routed()
        } else {
            input.next_segment().map(Routed::Segment)
        }
    };
    // The inputs' first packets are read before anything can finish, so the
    // sink learns when the capture starts before its first connection.
    let pending: Vec<Option<Routed>> = inputs.iter_mut().map(next_of).collect();
    let first_packet = inputs.iter().filter_map(|i| i.report.first_ts).min();
    if let Err(e) = sink.begin(first_packet) {
        output_error = Some(e);
    }
    if shards == 1 {
        let mut merger = Merger::new(1);
        let mut segments = 0u64;
        let pending = pending.into_iter().map(|r| r.map(Routed::into_segment));
        read_all(
            &mut inputs,
            pending.collect(),
            &mut progress,
            Input::next_segment,
            |seg| {
                own.tracker.push(&seg);
                segments += 1;
                if segments.is_multiple_of(DRAIN_EVERY) {
                    merger.push(own.batch(seg.order));
                    merger.drain_to(sink, &mut output_error);
                }
                output_error.is_none()
            },
        );
        let (c, e) = own.finish(capture_end(&inputs), |batch| {
            merger.push(batch);
            merger.drain_to(sink, &mut output_error);
        });
        counts.merge(&c);
        evicted += e;
    } else {
        // The reader decodes and routes by a direction-independent hash of the
        // 4-tuple, so every segment of a connection goes, in order, to one shard.
        // A sink that failed to begin stops the reading (at the next tick).
        let stop = AtomicBool::new(output_error.is_some());
        std::thread::scope(|scope| {
            // Bounded too: a slow output (a pipe) holds the reading back instead
            // of piling up the report in memory. The writer always receives, so
            // this cannot deadlock.
            let (out_tx, out_rx) = sync_channel::<Batch>(4 * shards);
            let stop = &stop;
            let writer = scope.spawn(move || writer(shards, out_rx, sink, stop));
            let mut senders: Vec<SyncSender<Msg>> = Vec::with_capacity(shards - 1);
            let mut handles = Vec::with_capacity(shards - 1);
            for (index, partitions) in ranges.iter().enumerate().skip(1) {
                let (tx, rx) = sync_channel(IN_FLIGHT);
                senders.push(tx);
                let shard = Shard::new(index, cfg, partitions.clone(), options, emit, &opened);
                let out = out_tx.clone();
                handles.push(scope.spawn(move || worker(shard, rx, out)));
            }
            let batch_len = batch_len(&ranges, cfg.partitions());
            let batches: Vec<Vec<(u64, Routed)>> =
                (1..shards).map(|_| Vec::with_capacity(batch_len)).collect();
            let mut router = Router {
                own: &mut own,
                owner: &owner,
                cfg,
                batches,
                senders: &senders,
                out_tx: &out_tx,
                stop,
                batch_len,
                routed: 0,
            };
            // Monomorphic for each kind of segment: routing decoded segments
            // (up to three threads) pays nothing for the located ones.
            if locate {
                read_all(
                    &mut inputs,
                    pending,
                    &mut progress,
                    Input::next_routed,
                    |seg| router.route(seg),
                );
            } else {
                let pending = pending.into_iter().map(|r| r.map(Routed::into_segment));
                read_all(
                    &mut inputs,
                    pending.collect(),
                    &mut progress,
                    Input::next_segment,
                    |seg| router.route(seg),
                );
            }
            let batches = router.batches;
            let capture_end = capture_end(&inputs);
            for (tx, batch) in senders.iter().zip(batches) {
                let _ = tx.send(Msg::Batch(batch, u64::MAX - 1));
                let _ = tx.send(Msg::End(capture_end));
            }
            drop(senders);
            let (c, e) = own.finish(capture_end, |batch| {
                let _ = out_tx.send(batch);
            });
            counts.merge(&c);
            evicted += e;
            drop(out_tx);
            for h in handles {
                match h.join() {
                    Ok((c, e)) => {
                        counts.merge(&c);
                        evicted += e;
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            match writer.join() {
                // An error from `begin` came first.
                Ok(e) => output_error = output_error.take().or(e),
                Err(panic) => std::panic::resume_unwind(panic),
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
    let mut summary = summarize(&counts, &input_reports, &t);
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
            connections: Vec::new(),
            inputs: input_reports,
            summary,
        },
        output_error,
        unreadable,
        messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_get_contiguous_partitions_with_less_for_the_reading_thread_the_more_there_are() {
        assert_eq!(shard_ranges(256, 1), vec![0..256]);
        assert_eq!(shard_ranges(256, 2), [0..85, 85..256]);
        assert_eq!(shard_ranges(256, 3), [0..28, 28..142, 142..256]);
        assert_eq!(shard_ranges(256, 4), [0..16, 16..96, 96..176, 176..256]);
        assert_eq!(shard_ranges(256, 5)[0], 0..0);
        for shards in 5..=64 {
            let r = shard_ranges(256, shards);
            assert!(r[0].is_empty());
            // The workers' shares differ by at most one partition.
            let lens: Vec<usize> = r[1..].iter().map(|r| r.len()).collect();
            assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
        }
        // More shards than partitions: some get none, every partition has one.
        let r = shard_ranges(2, 4);
        assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), 2);
        assert!(r.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!((r[0].start, r[3].end), (0, 2));
    }

    #[test]
    fn worker_batches_shrink_to_a_workers_share_of_a_tick_with_many_threads() {
        let len = |shards| batch_len(&shard_ranges(256, shards), 256);
        for shards in 2..=5 {
            assert_eq!(len(shards), BATCH);
        }
        // 16 threads: the 15 workers own 17 or 18 of the 256 partitions each,
        // ~1,150 segments a tick.
        assert_eq!(len(16), 1152);
        let tick = TICK_EVERY as usize;
        for shards in 6..=1024 {
            let r = shard_ranges(256, shards);
            let len = batch_len(&r, 256);
            assert!(len > 0 && len < BATCH);
            // The largest worker's whole share of a tick fits one batch.
            let most = r[1..].iter().map(|r| r.len()).max().unwrap();
            assert!(len * 256 >= tick * most, "{shards}");
        }
    }
}
