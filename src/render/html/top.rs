//! Counts per key (an endpoint) and kind (of problem) for the HTML page's "top
//! servers" and "top clients" charts, in memory bounded whatever the capture.
//!
//! A spoofed SYN flood brings a new client address with every packet, so an
//! exact count per address grows with the capture, not with the connections
//! tracked at once. [`TopCounts`] counts exactly while at most `capacity`
//! distinct keys have been seen, which covers every ordinary capture; past that
//! it turns into the Space-Saving summary (Metwally, Agrawal and El Abbadi,
//! "Efficient Computation of Frequent and Top-k Elements in Data Streams",
//! ICDT 2005): an unseen key takes the place of the key with the smallest count
//! and inherits that count as its possible error. Any key counted more than
//! `total / capacity` times is then still in the summary, and the counts since
//! a key (last) took its place, per kind, are exact: the page draws those, so a
//! chart never shows more than happened.
//!
//! Everything depends only on the order of the calls, which is report order:
//! the same for any `-j`.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// One key's counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<K, const N: usize> {
    pub key: K,
    /// Counts per kind since the key took its place: exact.
    pub kinds: [u64; N],
    /// Counts the key may have had before it took its place, inherited from the
    /// key it replaced (0 while the counts are exact).
    pub error: u64,
}

impl<K, const N: usize> Entry<K, N> {
    /// The counts known to belong to this key: the sum of [`Entry::kinds`].
    pub fn counted(&self) -> u64 {
        self.kinds.iter().sum()
    }

    /// Space-Saving's estimate, the order in which entries are replaced: the
    /// counted ones plus the inherited error.
    fn estimate(&self) -> u64 {
        self.counted() + self.error
    }
}

/// Counts per key and kind, exact up to `capacity` distinct keys and a
/// Space-Saving summary of `capacity` keys beyond (see the module's docs).
#[derive(Debug)]
pub struct TopCounts<K, const N: usize> {
    capacity: usize,
    entries: Vec<Entry<K, N>>,
    index: HashMap<K, usize>,
    /// `(estimate, slot)` of every entry, to find the smallest one to replace:
    /// built when the summary first fills, so exact counting does not pay for it.
    by_estimate: BTreeSet<(u64, usize)>,
    /// Keys that took the place of another one.
    replaced: u64,
    total: u64,
}

impl<K: Copy + Eq + Hash, const N: usize> TopCounts<K, N> {
    /// A summary of at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> TopCounts<K, N> {
        TopCounts {
            capacity: capacity.max(1),
            entries: Vec::new(),
            index: HashMap::new(),
            by_estimate: BTreeSet::new(),
            replaced: 0,
            total: 0,
        }
    }

    /// Counts one occurrence of `key` under kind `kind` (`< N`).
    pub fn add(&mut self, key: K, kind: usize) {
        self.total += 1;
        if let Some(&slot) = self.index.get(&key) {
            let e = &mut self.entries[slot];
            let before = e.estimate();
            e.kinds[kind] += 1;
            if !self.by_estimate.is_empty() {
                self.by_estimate.remove(&(before, slot));
                self.by_estimate.insert((before + 1, slot));
            }
            return;
        }
        let mut kinds = [0; N];
        kinds[kind] = 1;
        if self.entries.len() < self.capacity {
            self.index.insert(key, self.entries.len());
            self.entries.push(Entry {
                key,
                kinds,
                error: 0,
            });
            return;
        }
        if self.by_estimate.is_empty() {
            self.by_estimate = self
                .entries
                .iter()
                .enumerate()
                .map(|(slot, e)| (e.estimate(), slot))
                .collect();
        }
        let (smallest, slot) = self
            .by_estimate
            .pop_first()
            .expect("a full summary has entries");
        self.index.remove(&self.entries[slot].key);
        self.index.insert(key, slot);
        self.entries[slot] = Entry {
            key,
            kinds,
            error: smallest,
        };
        self.by_estimate.insert((smallest + 1, slot));
        self.replaced += 1;
    }

    /// Every entry kept, in no particular order.
    pub fn entries(&self) -> &[Entry<K, N>] {
        &self.entries
    }

    /// The number of distinct keys counted, when it is known: `None` once keys
    /// have replaced others (then more than `capacity` were counted).
    pub fn distinct(&self) -> Option<usize> {
        (self.replaced == 0).then_some(self.entries.len())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Occurrences counted, of every key.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(stream: &[(u8, usize)]) -> HashMap<u8, [u64; 3]> {
        let mut m: HashMap<u8, [u64; 3]> = HashMap::new();
        for &(k, kind) in stream {
            m.entry(k).or_default()[kind] += 1;
        }
        m
    }

    #[test]
    fn a_new_key_replaces_the_smallest_and_inherits_its_count() {
        let mut t: TopCounts<u8, 1> = TopCounts::new(2);
        for k in [1, 1, 1, 2, 3] {
            t.add(k, 0);
        }
        // 3 replaced 2 (estimate 1), so it may have been seen twice.
        let mut e: Vec<_> = t.entries().to_vec();
        e.sort_by_key(|e| e.key);
        assert_eq!(e[0].key, 1);
        assert_eq!((e[0].counted(), e[0].error), (3, 0));
        assert_eq!(e[1].key, 3);
        assert_eq!((e[1].counted(), e[1].error), (1, 1));
        assert_eq!(t.distinct(), None);
        assert_eq!(t.total(), 5);
    }

    #[test]
    fn a_flood_of_new_keys_stays_within_the_capacity() {
        let mut t: TopCounts<u32, 2> = TopCounts::new(100);
        for k in 0..100_000u32 {
            t.add(k, (k % 2) as usize);
        }
        t.add(7, 0);
        assert_eq!(t.entries().len(), 100);
        assert_eq!(t.index.len(), 100);
        assert_eq!(t.by_estimate.len(), 100);
        assert_eq!(t.total(), 100_001);
    }

    proptest! {
        /// Up to `capacity` distinct keys, every count is exact.
        #[test]
        fn counts_are_exact_up_to_the_capacity(
            stream in prop::collection::vec((0u8..20, 0usize..3), 0..400),
        ) {
            let mut t: TopCounts<u8, 3> = TopCounts::new(20);
            for &(k, kind) in &stream {
                t.add(k, kind);
            }
            let want = exact(&stream);
            prop_assert_eq!(t.distinct(), Some(want.len()));
            prop_assert_eq!(t.entries().len(), want.len());
            for e in t.entries() {
                prop_assert_eq!(e.error, 0);
                prop_assert_eq!(&e.kinds, &want[&e.key]);
            }
        }

        /// Past the capacity: the counts drawn never exceed what happened, the
        /// true count lies within the error, and a key seen more than
        /// `total / capacity` times is kept.
        #[test]
        fn the_summary_keeps_space_savings_guarantees(
            stream in prop::collection::vec((0u8..60, 0usize..3), 0..600),
            capacity in 1usize..30,
        ) {
            let mut t: TopCounts<u8, 3> = TopCounts::new(capacity);
            for &(k, kind) in &stream {
                t.add(k, kind);
            }
            let want = exact(&stream);
            prop_assert!(t.entries().len() <= capacity);
            prop_assert_eq!(t.total(), stream.len() as u64);
            for e in t.entries() {
                let truth = want[&e.key];
                for (counted, real) in e.kinds.iter().zip(&truth) {
                    prop_assert!(counted <= real);
                }
                let n: u64 = truth.iter().sum();
                prop_assert!(e.counted() <= n && n <= e.counted() + e.error);
            }
            for (k, counts) in &want {
                let n: u64 = counts.iter().sum();
                if n * capacity as u64 > stream.len() as u64 {
                    prop_assert!(t.entries().iter().any(|e| e.key == *k), "key {} lost", k);
                }
            }
        }
    }
}
