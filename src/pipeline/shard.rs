//! A shard: the tracker of its partitions of the 4-tuples, and what becomes
//! of each connection it finishes (classified, filtered, counted, encoded for
//! the sink), on the shard's own thread.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;

use super::Options;
use super::merge::Stamped;
use super::writer::{Batch, Finished, Key, Outbox, through};
use crate::classify::Thresholds;
use crate::decode::{Located, Segment};
use crate::flow::{Connection, FlowKey, Tracker, TrackerConfig};
use crate::report::filter::Filter;
use crate::report::sink::Encode;
use crate::report::{Counts, report_of};
use crate::time::Timestamp;

/// A segment as the reading thread routes it to a shard: decoded, or from
/// [`LOCATE_FROM`] threads on, when it can be, located ([`decode::locate`]) for
/// the shard that owns it to decode.
pub(super) enum Routed {
    Segment(Segment),
    Located(Located),
}

impl Routed {
    pub(super) fn into_segment(self) -> Segment {
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
pub(super) trait Routable: Stamped {
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

pub(super) enum Msg {
    /// Segments in order, and the reader's order when it sent them (the worker's
    /// next watermark).
    /// Each segment with its [`FlowKey::hash`].
    Batch(Vec<(u64, Routed)>, u64),
    /// No more segments; the capture ended at this time.
    End(Timestamp),
}

/// With one thread, the shard hands its finished connections to the merger
/// this often (in segments); the reading thread's shard, with workers, at
/// every [`TICK_EVERY`].
pub(super) const DRAIN_EVERY: u64 = 1024;
/// Connections per batch when a shard hands on those still tracked at the end
/// of the capture, and the most a shard keeps finished before handing them on
/// (a flood of evictions ends one or more connections per segment).
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

    fn finished(&mut self, c: &Connection) -> Option<(Key, Finished<E::Item>)> {
        let r = report_of(c, &self.thresholds);
        if !self.filter.is_empty() && !self.filter.matches(&r) {
            self.counts.filtered_out += 1;
            return None;
        }
        self.counts.add(&r);
        let key = (r.end_order, r.id);
        let sockets = r.sockets;
        Some((
            key,
            Finished {
                item: self.encoder.encode(r),
                sockets,
            },
        ))
    }

    /// Enough connections have finished to hand them on now.
    #[inline]
    pub(super) fn is_full(&self) -> bool {
        self.tracker.finished_len() >= FINAL_BATCH
    }

    /// The connections finished so far, as a batch with `watermark`.
    pub(super) fn batch(&mut self, watermark: u64) -> Batch<Finished<E::Item>> {
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
        mut send: impl FnMut(Batch<Finished<E::Item>>),
    ) -> (Counts, u64) {
        let evicted = self.tracker.evicted();
        let mut all = self.tracker.finish(capture_end);
        loop {
            // Each connection is dropped as soon as its record is made.
            let items: Vec<(Key, Finished<E::Item>)> = all
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
    out: Outbox<'_, Finished<E::Item>>,
) -> (Counts, u64) {
    for msg in rx {
        match msg {
            Msg::Batch(segments, watermark) => {
                for (hash, seg) in &segments {
                    seg.push_to(&mut shard.tracker, *hash);
                    if shard.is_full() {
                        out.send(shard.batch(seg.order()));
                    }
                }
                out.send(shard.batch(watermark));
            }
            Msg::End(capture_end) => {
                return shard.finish(capture_end, |batch| out.send(batch));
            }
        }
    }
    (shard.counts, shard.tracker.evicted())
}
