//! Routing: the reading thread sends every segment, by a direction-independent
//! hash of its 4-tuple, to the one shard that owns the 4-tuple's partition, so
//! every segment of a connection reaches one tracker, in order.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;

use super::shard::{Msg, Routable, Routed, Shard};
use super::writer::{Finished, Outbox};
use crate::flow::TrackerConfig;
use crate::report::sink::Encode;

/// Segments handed to a worker at a time, at most ([`batch_len`]).
pub(super) const BATCH: usize = 4096;
/// Batches in flight per worker before the reader waits (bounds memory).
pub(super) const IN_FLIGHT: usize = 8;

/// Every worker hears from the reader at least this often (in segments), even
/// when no segment of the interval is its own, so its watermark moves on and the
/// report is written as the capture is read.
pub(super) const TICK_EVERY: u64 = 16_384;

/// The reading thread's side of the parallel pipeline: its own shard, and a
/// batch on its way to each worker.
pub(super) struct Router<'r, 'o, E: Encode> {
    pub(super) own: &'r mut Shard<'o, E>,
    /// Which shard owns each partition.
    pub(super) owner: &'r [usize],
    pub(super) cfg: TrackerConfig,
    pub(super) batches: Vec<Vec<(u64, Routed)>>,
    pub(super) senders: &'r [SyncSender<Msg>],
    pub(super) out_tx: &'r Outbox<'r, Finished<E::Item>>,
    pub(super) stop: &'r AtomicBool,
    pub(super) batch_len: usize,
    pub(super) routed: u64,
}

impl<E: Encode> Router<'_, '_, E> {
    /// Routes one segment to the shard that owns its 4-tuple's partition;
    /// `false` once the output has failed (checked at each tick).
    #[inline]
    pub(super) fn route<T: Routable>(&mut self, seg: T) -> bool {
        let order = seg.order();
        let hash = seg.hash();
        let shard = self.owner[self.cfg.partition_of(hash)];
        self.routed += 1;
        if shard == 0 {
            seg.push_to(&mut self.own.tracker, hash);
            if self.own.is_full() {
                self.out_tx.send(self.own.batch(order));
            }
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
            // shard handing on every [`DRAIN_EVERY`] segments.
            self.out_tx.send(self.own.batch(order));
            for (tx, batch) in self.senders.iter().zip(self.batches.iter_mut()) {
                let part = std::mem::replace(batch, Vec::with_capacity(self.batch_len));
                let _ = tx.send(Msg::Batch(part, order));
            }
            // Every shard now has all it needs to reach `order`, so the wait
            // ends once they have (writer::Budget).
            self.out_tx.budget.wait();
            return !self.stop.load(Ordering::Relaxed);
        }
        true
    }
}

/// From this many threads on, the reading thread locates segments and the
/// shards decode them ([`Routed`]): with its own decoding, it was the busiest
/// thread from four threads on, whatever its share.
pub(super) const LOCATE_FROM: usize = 4;

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
pub(super) fn shard_ranges(partitions: usize, shards: usize) -> Vec<Range<usize>> {
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

/// How many segments a worker's batch holds when the shards own `ranges` of
/// `partitions`: [`BATCH`], or the largest worker's share of a [`TICK_EVERY`]
/// interval when that is less. Every batch goes at each tick however full, and
/// its capacity is memory in flight: with 16 threads, batches of 4096 segments
/// sent holding ~1,060 made peak RSS grow by ~6 MiB a thread.
pub(super) fn batch_len(ranges: &[Range<usize>], partitions: usize) -> usize {
    let most = ranges[1..].iter().map(|r| r.len()).max().unwrap_or(0);
    BATCH.min((TICK_EVERY as usize * most).div_ceil(partitions).max(1))
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
