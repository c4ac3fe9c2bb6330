//! A shard: the tracker of its partitions of the 4-tuples, and what becomes
//! of each connection it finishes (classified, filtered, counted, encoded for
//! the sink), on the shard's own thread.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use super::Options;
use super::route::{Msg, Routable};
use super::writer::{Batch, Key, through};
use crate::classify::Thresholds;
use crate::flow::{Connection, Tracker, TrackerConfig};
use crate::report::filter::Filter;
use crate::report::sink::Encode;
use crate::report::{Counts, report_of};
use crate::time::Timestamp;

/// With one thread, the shard hands its finished connections to the merger
/// this often (in segments); the reading thread's shard, with workers, at
/// every [`TICK_EVERY`].
pub(super) const DRAIN_EVERY: u64 = 1024;
/// Connections per batch when a shard hands on those still tracked at the end
/// of the capture.
const FINAL_BATCH: usize = 1024;

/// One shard of the traffic: its tracker, and what becomes of its finished
/// connections (classified, filtered, counted, and encoded for the sink, all
/// on the shard's own thread).
pub(super) struct Shard<'a, E> {
    index: usize,
    pub(super) tracker: Tracker,
    thresholds: Thresholds,
    filter: &'a Filter,
    encoder: E,
    pub(super) counts: Counts,
    /// Connections opened by all shards, for the progress bar: each shard adds
    /// its own with every batch.
    opened: &'a AtomicU64,
    /// How many of this shard's are in `opened` already.
    opened_told: u64,
}

impl<'a, E: Encode> Shard<'a, E> {
    pub(super) fn new(
        index: usize,
        cfg: TrackerConfig,
        partitions: Range<usize>,
        options: &'a Options,
        opened: &'a AtomicU64,
    ) -> Shard<'a, E> {
        Shard {
            index,
            tracker: Tracker::of_partitions(cfg, partitions),
            thresholds: options.thresholds,
            filter: &options.filter,
            encoder: E::default(),
            counts: Counts::default(),
            opened,
            opened_told: 0,
        }
    }

    fn finished(&mut self, c: &Connection) -> Option<(Key, E::Item)> {
        let r = report_of(c, &self.thresholds);
        if !self.filter.is_empty() && !self.filter.matches(&r) {
            self.counts.filtered_out += 1;
            return None;
        }
        self.counts.add(&r);
        let key = (r.end_order, r.id);
        Some((key, self.encoder.encode(r)))
    }

    /// The connections finished so far, as a batch with `watermark`.
    pub(super) fn batch(&mut self, watermark: u64) -> Batch<E::Item> {
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
    pub(super) fn finish(
        mut self,
        capture_end: Timestamp,
        mut send: impl FnMut(Batch<E::Item>),
    ) -> (Counts, u64) {
        let evicted = self.tracker.evicted();
        let mut all = self.tracker.finish(capture_end);
        loop {
            // Each connection is dropped as soon as its record is made.
            let items: Vec<(Key, E::Item)> = all
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

/// A worker thread: one shard fed by the reader.
pub(super) fn worker<E: Encode>(
    mut shard: Shard<'_, E>,
    rx: Receiver<Msg>,
    out: SyncSender<Batch<E::Item>>,
) -> (Counts, u64) {
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
