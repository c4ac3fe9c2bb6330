//! The pipeline: inputs → records → segments (merged in time order across
//! inputs) → connection tracking on `-j` shards → classification → a [`Sink`],
//! in report order, while the capture is read.
//!
//! * [`inputs`]: opening the inputs (directories expanded), reading each one's
//!   TCP segments and counting the rest.
//! * [`merge`]: the one time-ordered merge of the inputs, also used by
//!   [`ladders`]' second pass.
//! * [`route`]: which shard owns each segment's 4-tuple, and the reading
//!   thread's side of the hand-over.
//! * [`shard`]: a tracker, and what becomes of each connection it finishes.
//! * [`writer`]: the shards' connections merged back into report order.
//! * [`ladders`]: the second pass over the inputs for the HTML ladders.
//!
//! The pipeline knows no output format: its caller's [`Sink`] says what the
//! shards make of each connection ([`crate::report::sink::Encode`]).

mod inputs;
pub(crate) mod ladders;
mod merge;
mod progress;
mod route;
mod shard;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};

use inputs::{Input, capture_end, open_inputs, read_ahead};
use merge::{first_segments, read_all};
use progress::Progress;
use route::{IN_FLIGHT, LOCATE_FROM, Router, batch_len, shard_ranges};
use shard::{DRAIN_EVERY, Msg, Routed, Shard, worker};
use writer::{Batch, Budget, Finished, Merger, Outbox};

use crate::classify::Thresholds;
use crate::flow::TrackerConfig;
use crate::report::filter::Filter;
use crate::report::sink::{Collect, Item, Sink};
use crate::report::timeline::Builder;
use crate::report::{Counts, InputReport, Report, SCHEMA_VERSION, Tool, summarize};

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
    /// Once set (by a signal handler, say), reading stops at the next segment
    /// and the analysis finishes with what was read (`summary.interrupted`).
    pub interrupt: Option<Arc<AtomicBool>>,
    /// The text summary wraps its prose to this many columns (a terminal's
    /// width); `None`: no wrapping, one line per paragraph.
    pub text_width: Option<usize>,
    /// Keep each connection's state changes in its report
    /// ([`crate::report::ConnectionReport::transitions`]; `teardown explain`):
    /// an allocation per connection.
    pub trace: bool,
    /// The host timeline's grid step (`--timeline-step`); chosen from the
    /// capture's span when `None`.
    pub timeline_step: Option<std::time::Duration>,
}

impl Options {
    /// `inputs` with the default thresholds, no filter, every core, no
    /// progress bar and the default cap on tracked connections.
    pub fn new(inputs: Vec<PathBuf>) -> Options {
        Options {
            inputs,
            thresholds: Thresholds::default(),
            filter: Filter::default(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            progress: false,
            max_connections: TrackerConfig::DEFAULT_MAX_TRACKED,
            interrupt: None,
            text_width: None,
            trace: false,
            timeline_step: None,
        }
    }

    /// The demo capture (`fixtures/kernel/client.pcap`) with the default
    /// thresholds, for tests across the crate.
    #[cfg(test)]
    pub(crate) fn demo(threads: usize) -> Options {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        Options {
            threads,
            max_connections: 100_000,
            ..Options::new(vec![root.join("fixtures/kernel/client.pcap")])
        }
    }
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

/// Runs the whole analysis and keeps every connection record in the report.
/// Never fails as a whole: problems are per input.
pub fn analyze(options: &Options) -> Analysis {
    let mut collect = Collect::default();
    let mut analysis = analyze_into(options, &mut collect);
    analysis.report.connections = collect.into_records();
    analysis
}

/// Runs the whole analysis, handing every finished connection to `sink` in report
/// order while the capture is read (encoded by the shards as the sink asks).
/// The returned report has no `connections`; everything else is complete.
pub fn analyze_into<S: Sink>(options: &Options, sink: &mut S) -> Analysis {
    let mut messages = Vec::new();
    let max_open = crate::capture::open_files_allowed();
    let (mut inputs, unreadable) = open_inputs(options, max_open, &mut messages);
    let shards = options.threads.max(1);
    read_ahead(inputs.iter_mut().filter_map(|i| i.reader.as_mut()), shards);
    let cfg = TrackerConfig {
        msl_ns: options.thresholds.msl_ns(),
        fin_grace_ns: options.thresholds.fin_grace_ns(),
        max_tracked: options.max_connections,
        trace: options.trace,
    };
    let total_bytes = inputs.iter().map(|i| i.total_len).sum::<Option<u64>>();
    let opened = AtomicU64::new(0);
    let mut progress = Progress::new(options.progress, total_bytes, &opened);
    // From four threads on the reading thread only locates the segments it
    // can, and the shards decode them (`Routed`).
    let locate = shards >= LOCATE_FROM;
    // The inputs' first packets are read before anything can finish, so the
    // sink learns when the capture starts before its first connection.
    let pending: Vec<Option<Routed>> = first_segments(&mut inputs, max_open, |input| {
        if locate {
            input.next_routed()
        } else {
            input.next_segment().map(Routed::Segment)
        }
    });
    let first_packet = inputs.iter().filter_map(|i| i.report.first_ts).min();
    sink.inputs(
        &inputs
            .iter()
            .map(|i| i.report.path.as_str())
            .collect::<Vec<_>>(),
    );
    let mut run = Run {
        options,
        cfg,
        inputs: &mut inputs,
        max_open,
        progress: &mut progress,
        opened: &opened,
        counts: Counts::default(),
        evicted: 0,
        timeline: Builder::new(first_packet, options.timeline_step),
        output_error: sink.begin(first_packet).err(),
    };
    if shards == 1 {
        run.on_this_thread(pending, sink);
    } else {
        run.on_threads(shards, locate, pending, sink);
    }
    let tally = Tally {
        counts: run.counts,
        timeline: run.timeline,
        evicted: run.evicted,
    };
    let output_error = run.output_error;
    progress.finish();
    assemble(options, inputs, tally, output_error, unreadable, messages)
}

/// One analysis under way: what its shards add up to.
struct Run<'r, 'o> {
    options: &'o Options,
    cfg: TrackerConfig,
    inputs: &'r mut [Input],
    /// Inputs open at once at most (`capture::open_files_allowed`).
    max_open: usize,
    progress: &'r mut Progress<'o>,
    opened: &'o AtomicU64,
    counts: Counts,
    evicted: u64,
    /// The host timeline, fed in report order by whoever drains the merger.
    timeline: Builder,
    /// The first error of the sink (its `begin` included).
    output_error: Option<std::io::Error>,
}

impl Run<'_, '_> {
    /// Adds what a finished shard counted.
    fn add(&mut self, (counts, evicted): (Counts, u64)) {
        self.counts.merge(counts);
        self.evicted += evicted;
    }

    /// One thread: one shard, fed and drained on the calling thread.
    fn on_this_thread<S: Sink>(&mut self, pending: Vec<Option<Routed>>, sink: &mut S) {
        let mut own: Shard<'_, S::Encoder> = Shard::new(
            0,
            self.cfg,
            0..self.cfg.partitions(),
            self.options,
            self.opened,
        );
        let mut merger = Merger::new(1);
        let mut segments = 0u64;
        let pending = pending.into_iter().map(|r| r.map(Routed::into_segment));
        let progress = &mut *self.progress;
        let output_error = &mut self.output_error;
        let timeline = &mut self.timeline;
        let options = self.options;
        read_all(
            self.inputs,
            pending.collect(),
            self.max_open,
            |inputs, n| progress.tick(inputs, n),
            Input::next_segment,
            |seg| {
                own.tracker.push(&seg);
                segments += 1;
                if segments.is_multiple_of(DRAIN_EVERY) {
                    merger.push(own.batch(seg.order));
                    merger.drain_to(sink, timeline, output_error);
                }
                output_error.is_none() && !interrupted(options)
            },
        );
        let end = capture_end(self.inputs);
        let done = own.finish(end, |batch| {
            merger.push(batch);
            merger.drain_to(sink, timeline, output_error);
        });
        self.add(done);
    }

    /// Several threads: the reading thread decodes (or locates) and routes
    /// every segment by a direction-independent hash of its 4-tuple, so every
    /// segment of a connection goes, in order, to one shard; it runs shard 0
    /// itself, workers the others, and a writer thread merges their
    /// connections back into report order for the sink. A sink that failed to
    /// begin stops the reading (at the next tick).
    fn on_threads<S: Sink>(
        &mut self,
        shards: usize,
        locate: bool,
        pending: Vec<Option<Routed>>,
        sink: &mut S,
    ) {
        let ranges = shard_ranges(self.cfg.partitions(), shards);
        // Which shard owns each partition, for routing.
        let owner: Vec<usize> = ranges
            .iter()
            .enumerate()
            .flat_map(|(shard, r)| r.clone().map(move |_| shard))
            .collect();
        let (options, cfg, opened) = (self.options, self.cfg, self.opened);
        let mut own: Shard<'_, S::Encoder> = Shard::new(0, cfg, ranges[0].clone(), options, opened);
        let stop = AtomicBool::new(self.output_error.is_some());
        let budget = Budget::new();
        // The writer thread feeds it; it is back in `self` once that ends.
        let mut timeline = std::mem::replace(&mut self.timeline, Builder::new(None, None));
        std::thread::scope(|scope| {
            // Bounded too: a slow output (a pipe) holds the reading back instead
            // of piling up the report in memory. The writer always receives, so
            // this cannot deadlock.
            let (out_tx, out_rx) = sync_channel::<Batch<Finished<Item<S>>>>(4 * shards);
            let budget = &budget;
            let out_tx = Outbox { tx: out_tx, budget };
            let stop = &stop;
            let timeline = &mut timeline;
            let writer =
                scope.spawn(move || writer::writer(shards, out_rx, budget, sink, timeline, stop));
            let mut senders: Vec<SyncSender<Msg>> = Vec::with_capacity(shards - 1);
            let mut handles = Vec::with_capacity(shards - 1);
            for (index, partitions) in ranges.iter().enumerate().skip(1) {
                let (tx, rx) = sync_channel(IN_FLIGHT);
                senders.push(tx);
                let shard = Shard::new(index, cfg, partitions.clone(), options, opened);
                let out = out_tx.clone();
                handles.push(scope.spawn(move || worker::<S::Encoder>(shard, rx, out)));
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
            let progress = &mut *self.progress;
            let tick = |inputs: &[Input], n| progress.tick(inputs, n);
            // Monomorphic for each kind of segment: routing decoded segments
            // (up to three threads) pays nothing for the located ones.
            if locate {
                read_all(
                    self.inputs,
                    pending,
                    self.max_open,
                    tick,
                    Input::next_routed,
                    |seg| router.route(seg) && !interrupted(options),
                );
            } else {
                let pending = pending.into_iter().map(|r| r.map(Routed::into_segment));
                read_all(
                    self.inputs,
                    pending.collect(),
                    self.max_open,
                    tick,
                    Input::next_segment,
                    |seg| router.route(seg) && !interrupted(options),
                );
            }
            let batches = router.batches;
            let capture_end = capture_end(self.inputs);
            for (tx, batch) in senders.iter().zip(batches) {
                let _ = tx.send(Msg::Batch(batch, u64::MAX - 1));
                let _ = tx.send(Msg::End(capture_end));
            }
            drop(senders);
            let done = own.finish(capture_end, |batch| out_tx.send(batch));
            self.add(done);
            drop(out_tx);
            for h in handles {
                match h.join() {
                    Ok(done) => self.add(done),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            match writer.join() {
                // An error from `begin` came first.
                Ok(e) => self.output_error = self.output_error.take().or(e),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        self.timeline = timeline;
    }
}

/// The run's interrupt flag is set.
#[inline]
fn interrupted(options: &Options) -> bool {
    options
        .interrupt
        .as_ref()
        .is_some_and(|f| f.load(Ordering::Relaxed))
}

/// What the shards and the writer added up.
struct Tally {
    counts: Counts,
    timeline: Builder,
    evicted: u64,
}

/// The report (without its connections) and the messages for the user, once
/// every input has been read.
fn assemble(
    options: &Options,
    inputs: Vec<Input>,
    Tally {
        counts,
        timeline,
        evicted,
    }: Tally,
    output_error: Option<std::io::Error>,
    mut unreadable: usize,
    mut messages: Vec<String>,
) -> Analysis {
    let t = options.thresholds;
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
    if counts.findings.truncated() {
        messages.push(format!(
            "teardown: warning: more than {} groups of connections for the findings; those of the smallest hosts were kept, the others are not in any finding",
            crate::report::findings::MAX_GROUPS
        ));
    }
    let findings = counts.findings.finish(&t);
    let timeline = timeline.finish(summary.last_ts);
    if timeline.as_ref().is_some_and(|t| t.step_raised) {
        messages.push(format!(
            "teardown: warning: --timeline-step was raised to {} s to keep the timeline within {} points",
            timeline.as_ref().map_or(0.0, |t| t.step),
            crate::report::timeline::MAX_FIXED_POINTS
        ));
    }
    summary.evicted = evicted;
    summary.interrupted = interrupted(options);
    if summary.interrupted {
        messages.push(format!(
            "teardown: warning: interrupted after {} packets: the report covers what was read until then (connections still open are reported as at a capture's end)",
            summary.packets
        ));
    }
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
            findings,
            timeline,
        },
        output_error,
        unreadable,
        messages,
    }
}
