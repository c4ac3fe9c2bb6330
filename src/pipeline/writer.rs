//! Report order across shards: every shard hands on its finished connections
//! in its own `(end_order, id)` order, with a *watermark* (no later connection of
//! that shard will come at or before it), and the [`Merger`] releases them in the
//! global order as soon as no shard can still come up with an earlier one. The
//! report is thus written while the capture is read, in bounded memory, and the
//! bytes do not depend on the number of shards.
//!
//! A shard that runs ahead of the others would pile up its connections in the
//! merger until the slowest shard caught up (8 threads on 2 cores: 80 MB of
//! encoded records in a flood of evictions). The [`Budget`] bounds what all
//! shards have handed on and the writer has not yet released, whatever the
//! number of threads.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Condvar, Mutex};

use crate::report::sink::{Item, Sink};
use crate::report::timeline::{Builder, Sockets};

/// A finished connection on its way to the sink: what the sink's encoder made
/// of it, and what the host timeline counts of it.
pub struct Finished<T> {
    pub item: T,
    pub sockets: Sockets,
}

/// The key connections are reported in: the processing order of the packet that
/// ended their observation (`u64::MAX` for the end of the capture), then the id.
pub type Key = (u64, u64);

/// What one shard hands on at a time.
pub struct Batch<T> {
    pub shard: usize,
    /// Finished connections, in increasing key order.
    pub items: Vec<(Key, T)>,
    /// No later connection of this shard will have this key or an earlier one:
    /// [`through`] an order while the capture is read; the last item's key as
    /// the connections still tracked at its end are handed on in parts.
    pub watermark: Key,
    /// The shard has finished: nothing more will come from it.
    pub done: bool,
}

/// The watermark of a shard that will end no more connections at or before
/// processing order `order`.
pub fn through(order: u64) -> Key {
    (order, u64::MAX)
}

struct Queue<T> {
    items: VecDeque<(Key, T)>,
    watermark: Key,
    done: bool,
}

/// Merges the shards' batches into report order.
pub struct Merger<T> {
    queues: Vec<Queue<T>>,
    /// Connections released since [`Merger::take_released`].
    released: usize,
}

impl<T> Merger<T> {
    pub fn new(shards: usize) -> Merger<T> {
        Merger {
            queues: (0..shards)
                .map(|_| Queue {
                    items: VecDeque::new(),
                    watermark: through(0),
                    done: false,
                })
                .collect(),
            released: 0,
        }
    }

    /// How many connections were released since the last call.
    fn take_released(&mut self) -> usize {
        std::mem::take(&mut self.released)
    }

    pub fn push(&mut self, batch: Batch<T>) {
        let q = &mut self.queues[batch.shard];
        debug_assert!(
            batch.items.windows(2).all(|w| w[0].0 < w[1].0)
                && q.items
                    .back()
                    .zip(batch.items.first())
                    .is_none_or(|(a, b)| a.0 < b.0),
            "a shard's connections come in key order"
        );
        q.items.extend(batch.items);
        q.watermark = q.watermark.max(batch.watermark);
        q.done |= batch.done;
    }

    /// Every shard has finished and everything was released.
    pub fn is_finished(&self) -> bool {
        self.queues.iter().all(|q| q.done && q.items.is_empty())
    }

    /// The next connection in report order, if no shard can still hand on an
    /// earlier one.
    pub fn pop(&mut self) -> Option<T> {
        let (key, shard) = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.items.front().map(|(k, _)| (*k, i)))
            .min()?;
        let waiting = self
            .queues
            .iter()
            .any(|q| q.items.is_empty() && !q.done && q.watermark < key);
        if waiting {
            return None;
        }
        self.released += 1;
        self.queues[shard].items.pop_front().map(|(_, f)| f)
    }
}

impl<I> Merger<Finished<I>> {
    /// Releases everything that can be released to `sink`, counting each
    /// connection in `timeline` on the way; after the first error the rest is
    /// dropped (the error is kept by the caller).
    pub fn drain_to<S: Sink<Encoder: crate::report::sink::Encode<Item = I>>>(
        &mut self,
        sink: &mut S,
        timeline: &mut Builder,
        error: &mut Option<io::Error>,
    ) {
        while let Some(f) = self.pop() {
            timeline.add(&f.sockets);
            if error.is_none()
                && let Err(e) = sink.connection(f.item)
            {
                *error = Some(e);
            }
        }
    }
}

/// Connections handed on by the shards and not yet released by the writer
/// above which the reading thread waits, at its next tick, for the writer.
pub(super) const BUDGET: usize = 8192;

/// What the shards have handed on and the writer not yet released. Shards
/// never wait for it: the reading thread does, at a tick, when every shard
/// has just been told how far the capture has got. Once the shards have worked
/// through what they were given, every connection they handed on is at or
/// before that point and can be released, so the wait always ends.
pub(super) struct Budget {
    held: Mutex<Held>,
    released: Condvar,
}

struct Held {
    items: usize,
    /// The writer has gone: nobody waits any more.
    closed: bool,
}

impl Budget {
    pub(super) fn new() -> Budget {
        Budget {
            held: Mutex::new(Held {
                items: 0,
                closed: false,
            }),
            released: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits while more than [`BUDGET`] connections are held.
    pub(super) fn wait(&self) {
        let mut held = self.lock();
        while !held.closed && held.items > BUDGET {
            held = self.released.wait(held).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn hand_on(&self, n: usize) {
        if n > 0 {
            self.lock().items += n;
        }
    }

    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut held = self.lock();
        held.items -= n;
        let wake = held.items <= BUDGET;
        drop(held);
        if wake {
            self.released.notify_all();
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.released.notify_all();
    }
}

/// A shard's way to the writer: the channel, counted in the [`Budget`].
pub(super) struct Outbox<'b, T> {
    pub(super) tx: SyncSender<Batch<T>>,
    pub(super) budget: &'b Budget,
}

impl<T> Outbox<'_, T> {
    pub(super) fn send(&self, batch: Batch<T>) {
        self.budget.hand_on(batch.items.len());
        // The writer receives until every shard is done; it only stops
        // early by panicking, and that panic is what the caller reports.
        let _ = self.tx.send(batch);
    }
}

impl<T> Clone for Outbox<'_, T> {
    fn clone(&self) -> Self {
        Outbox {
            tx: self.tx.clone(),
            budget: self.budget,
        }
    }
}

/// Wakes the reading thread when the writer ends, however it ends.
struct Closer<'b>(&'b Budget);

impl Drop for Closer<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The writer thread: releases the shards' connections to `sink` in report
/// order as they come.
pub(super) fn writer<S: Sink>(
    shards: usize,
    rx: Receiver<Batch<Finished<Item<S>>>>,
    budget: &Budget,
    sink: &mut S,
    timeline: &mut Builder,
    stop: &AtomicBool,
) -> Option<io::Error> {
    let _closer = Closer(budget);
    let mut merger = Merger::new(shards);
    let mut error = None;
    for batch in rx {
        merger.push(batch);
        merger.drain_to(sink, timeline, &mut error);
        budget.release(merger.take_released());
        if error.is_some() {
            stop.store(true, Ordering::Relaxed);
        }
        if merger.is_finished() {
            break;
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(end: u64, id: u64) -> (Key, String) {
        ((end, id), format!("{end}/{id}"))
    }

    fn text(s: String) -> String {
        s
    }

    #[test]
    fn holds_a_connection_until_every_shard_is_past_its_end() {
        let mut m = Merger::new(2);
        m.push(Batch {
            shard: 0,
            items: vec![item(10, 1), item(20, 2)],
            watermark: through(25),
            done: false,
        });
        // Shard 1 has said nothing: it might still end something at order 1.
        assert!(m.pop().is_none());
        m.push(Batch {
            shard: 1,
            items: vec![],
            watermark: through(12),
            done: false,
        });
        assert_eq!(text(m.pop().unwrap()), "10/1");
        // 20 > shard 1's watermark 12.
        assert!(m.pop().is_none());
        m.push(Batch {
            shard: 1,
            items: vec![item(15, 7)],
            watermark: through(30),
            done: false,
        });
        assert_eq!(text(m.pop().unwrap()), "15/7");
        assert_eq!(text(m.pop().unwrap()), "20/2");
        assert!(m.pop().is_none());
    }

    #[test]
    fn end_of_capture_connections_wait_for_every_shard_then_go_by_id() {
        let mut m = Merger::new(2);
        m.push(Batch {
            shard: 0,
            items: vec![item(u64::MAX, 3), item(u64::MAX, 9)],
            watermark: through(u64::MAX),
            done: true,
        });
        m.push(Batch {
            shard: 1,
            items: vec![item(u64::MAX, 5)],
            watermark: through(1_000),
            done: false,
        });
        // Shard 1 may still end connections before the capture's end.
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/3");
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/5");
        assert!(m.pop().is_none(), "9 could still be preceded by shard 1");
        assert!(!m.is_finished());
        m.push(Batch {
            shard: 1,
            items: vec![item(u64::MAX, 11)],
            watermark: through(u64::MAX),
            done: true,
        });
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/9");
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/11");
        assert!(m.is_finished());
    }

    /// The connections still tracked at the end of the capture come in parts,
    /// each with its last key as the watermark: the merger releases what every
    /// shard is past, so no shard's whole end waits in memory.
    #[test]
    fn end_of_capture_connections_in_parts_go_as_soon_as_every_shard_is_past_them() {
        let end = u64::MAX;
        let mut m = Merger::new(2);
        m.push(Batch {
            shard: 0,
            items: vec![item(end, 3), item(end, 9)],
            watermark: (end, 9),
            done: false,
        });
        m.push(Batch {
            shard: 1,
            items: vec![item(end, 5)],
            watermark: (end, 5),
            done: false,
        });
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/3");
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/5");
        assert!(m.pop().is_none(), "shard 1 may still hand on 6, 7 or 8");
        m.push(Batch {
            shard: 1,
            items: vec![item(end, 7)],
            watermark: (end, 7),
            done: false,
        });
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/7");
        assert!(m.pop().is_none());
        m.push(Batch {
            shard: 1,
            items: vec![],
            watermark: (end, 10),
            done: false,
        });
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/9");
        m.push(Batch {
            shard: 0,
            items: vec![],
            watermark: through(end),
            done: true,
        });
        m.push(Batch {
            shard: 1,
            items: vec![item(end, 12)],
            watermark: through(end),
            done: true,
        });
        assert_eq!(text(m.pop().unwrap()), "18446744073709551615/12");
        assert!(m.is_finished());
    }
}
