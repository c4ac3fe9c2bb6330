//! The one time-ordered merge of the inputs, used by the analysis and by the
//! second pass that collects ladders: each input's next segment on a heap keyed
//! by (timestamp, input index), so rotated files line up and each file's own
//! order is kept even where its timestamps go backwards.

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
pub(super) fn read_all<I, T: Stamped>(
    inputs: &mut [I],
    mut pending: Vec<Option<T>>,
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
        let next = next_of(&mut inputs[i]);
        if let Some(s) = &next {
            heads.push(Reverse((s.ts(), i)));
        }
        pending[i] = next;
    }
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
