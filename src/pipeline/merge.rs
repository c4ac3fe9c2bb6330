//! The one time-ordered merge of the inputs, used by the analysis and by the
//! second pass that collects ladders: each input's next segment on a heap keyed
//! by (timestamp, input index), so rotated files line up and each file's own
//! order is kept even where its timestamps go backwards. At most a budget of
//! inputs is open at once: the one whose next segment comes last is closed
//! ([`Park`]) and opened again when the merge reaches it, so a directory of
//! rotated files, read one after the other, is opened about once per file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::decode::Segment;
use crate::time::Timestamp;

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
///
/// At most `max_open` inputs are kept open ([`park_latest`]); `next_of` opens
/// a parked one again.
pub(super) fn read_all<I: Park, T: Stamped>(
    inputs: &mut [I],
    mut pending: Vec<Option<T>>,
    max_open: usize,
    mut tick: impl FnMut(&[I], u64),
    mut next_of: impl FnMut(&mut I) -> Option<T>,
    mut sink: impl FnMut(T) -> bool,
) {
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
            if segments.is_multiple_of(TICK_SEGMENTS) {
                tick(inputs, segments);
            }
            next = next_of(&mut inputs[0]);
        }
        return;
    }
    let mut heads: BinaryHeap<Reverse<(Timestamp, usize)>> = pending
        .iter()
        .enumerate()
        .filter_map(|(i, seg)| seg.as_ref().map(|s| Reverse((s.ts(), i))))
        .collect();
    // Records taken so far from each input, and from all of them.
    let mut taken = vec![0u64; inputs.len()];
    let mut order = 0u64;
    let mut open = inputs.iter().filter(|i| i.is_open()).count();
    while let Some(Reverse((_, i))) = heads.pop() {
        if let Some(mut seg) = pending[i].take() {
            order += seg.number().saturating_sub(taken[i]);
            taken[i] = seg.number();
            seg.set_order(order);
            segments += 1;
            if !sink(seg) {
                return;
            }
            if segments.is_multiple_of(TICK_SEGMENTS) {
                tick(inputs, segments);
            }
        }
        let was_open = inputs[i].is_open();
        let next = next_of(&mut inputs[i]);
        if let Some(s) = &next {
            heads.push(Reverse((s.ts(), i)));
        }
        pending[i] = next;
        open = open + usize::from(inputs[i].is_open()) - usize::from(was_open);
        park_latest(inputs, &pending, &mut open, max_open);
    }
}

/// Reads each input's first segment, keeping at most `max_open` inputs open
/// ([`park_latest`]), for [`read_all`].
pub(super) fn first_segments<I: Park, T: Stamped>(
    inputs: &mut [I],
    max_open: usize,
    mut next_of: impl FnMut(&mut I) -> Option<T>,
) -> Vec<Option<T>> {
    let mut open = inputs.iter().filter(|i| i.is_open()).count();
    let mut pending = Vec::with_capacity(inputs.len());
    for i in 0..inputs.len() {
        let was_open = inputs[i].is_open();
        pending.push(next_of(&mut inputs[i]));
        open = open + usize::from(inputs[i].is_open()) - usize::from(was_open);
        park_latest(inputs, &pending, &mut open, max_open);
    }
    pending
}

/// While more than `max_open` inputs are open, closes the one whose pending
/// segment comes last (ties: the later input), of those `pending` covers: the
/// input the merge needs again last, so each reopening is one the merge could
/// not avoid (Belady's rule). Rotated files, read one after the other, are
/// opened about once each; only inputs whose packets interleave, more of them
/// than the budget, are opened again and again (each time reading past their
/// records up to where they stopped).
fn park_latest<I: Park, T: Stamped>(
    inputs: &mut [I],
    pending: &[Option<T>],
    open: &mut usize,
    max_open: usize,
) {
    while *open > max_open {
        let latest = pending
            .iter()
            .enumerate()
            .filter(|(j, _)| inputs[*j].can_park())
            .filter_map(|(j, seg)| seg.as_ref().map(|s| (s.ts(), j)))
            .max();
        let Some((_, j)) = latest else { return };
        inputs[j].park();
        *open -= 1;
    }
}

/// An input the merge may close between reads.
pub(crate) trait Park {
    /// Whether it holds an open file.
    fn is_open(&self) -> bool;
    /// Whether it is open and can be opened again where it stops (a regular
    /// file: standard input or a pipe cannot).
    fn can_park(&self) -> bool;
    /// Closes it; its next read opens it again where it stopped. Only called
    /// when [`Park::can_park`].
    fn park(&mut self);
}

/// `tick` is called every this many segments (for the progress bar).
const TICK_SEGMENTS: u64 = 65_536;

/// What [`read_all`] reads of a segment, decoded or located.
pub(crate) trait Stamped {
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    /// Inputs open now and the most open at once.
    type Live = Rc<Cell<(usize, usize)>>;

    /// An input whose records are at the given seconds, each a segment,
    /// counting how often it was opened.
    struct Fake {
        times: Vec<i64>,
        next: usize,
        open: bool,
        parked: bool,
        opened: usize,
        live: Live,
    }

    impl Fake {
        fn set_open(&mut self, open: bool) {
            if open != self.open {
                let (now, most) = self.live.get();
                let now = if open { now + 1 } else { now - 1 };
                self.live.set((now, most.max(now)));
                self.open = open;
            }
        }
    }

    struct Seg {
        ts: Timestamp,
        number: u64,
        order: u64,
    }

    impl Stamped for Seg {
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

    impl Park for Fake {
        fn is_open(&self) -> bool {
            self.open
        }
        fn can_park(&self) -> bool {
            self.open
        }
        fn park(&mut self) {
            self.set_open(false);
            self.parked = true;
        }
    }

    fn next(f: &mut Fake) -> Option<Seg> {
        if f.parked {
            f.parked = false;
            f.set_open(true);
            f.opened += 1;
        }
        let Some(&t) = f.times.get(f.next) else {
            f.set_open(false);
            return None;
        };
        f.next += 1;
        Some(Seg {
            ts: Timestamp::from_secs_nanos(t, 0),
            number: f.next as u64,
            order: 0,
        })
    }

    /// Merges inputs of these times with at most `max_open` open: the
    /// (second, order) of each segment in merge order, the most inputs open
    /// at once, and how often each was opened.
    fn merge(times: &[Vec<i64>], max_open: usize) -> (Vec<(i64, u64)>, usize, Vec<usize>) {
        let live: Live = Rc::default();
        let mut inputs: Vec<Fake> = times
            .iter()
            .map(|t| Fake {
                times: t.clone(),
                next: 0,
                open: false,
                parked: true,
                opened: 0,
                live: Rc::clone(&live),
            })
            .collect();
        // Opened as `open_inputs` does: the first `max_open`.
        for f in inputs.iter_mut().take(max_open) {
            f.parked = false;
            f.opened = 1;
            f.set_open(true);
        }
        let pending = first_segments(&mut inputs, max_open, next);
        let mut out = Vec::new();
        read_all(
            &mut inputs,
            pending,
            max_open,
            |_, _| {},
            next,
            |seg| {
                out.push((seg.ts.as_secs_f64() as i64, seg.order));
                true
            },
        );
        let opened = inputs.iter().map(|f| f.opened).collect();
        (out, live.get().1, opened)
    }

    #[test]
    fn a_budget_of_open_inputs_keeps_the_merge_order_and_opens_rotated_files_about_once() {
        // Ten rotated files, one after the other.
        let rotated: Vec<Vec<i64>> = (0..10).map(|i| (i * 10..i * 10 + 10).collect()).collect();
        let (all, most_all, _) = merge(&rotated, usize::MAX);
        assert_eq!(most_all, 10);
        let (few, most, opened) = merge(&rotated, 2);
        assert_eq!(few, all);
        // One over the budget while a parked input is opened again, before
        // another is closed.
        assert!(most <= 3, "{most} open at once");
        assert!(opened.iter().all(|&n| n <= 2), "{opened:?}");
    }

    #[test]
    fn interleaved_inputs_past_the_budget_are_reopened_and_merge_as_if_all_were_open() {
        let interleaved: Vec<Vec<i64>> = (0..7)
            .map(|i| (0..20).map(|k| k * 7 + i).collect())
            .collect();
        let (all, _, _) = merge(&interleaved, usize::MAX);
        let (few, most, opened) = merge(&interleaved, 3);
        assert_eq!(few, all);
        assert!(most <= 4, "{most} open at once");
        assert!(opened.iter().sum::<usize>() > 7, "{opened:?}");
    }
}
