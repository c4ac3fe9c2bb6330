//! The problem lists: which connections count as problems, of what kind, in
//! what order of severity, and how a list of a few rows is shared between the
//! kinds so that one kind (a capture's 100,000 TIME_WAIT reuses) does not crowd
//! out the rest (its 16 resets).

use std::collections::BTreeMap;

use super::ConnectionReport;
use crate::classify::Class;

/// A listed connection's kind of problem, most severe first: the order the
/// text summary lists them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Problem {
    Reset,
    LostFin,
    HalfClosedHang,
    Refused,
    Unanswered,
    /// A SYN on a 4-tuple still in TIME_WAIT that Linux would not accept (ISN
    /// and timestamps not newer): the new connection may fail or be confused
    /// with the old one.
    UnsafeReuse,
    /// A TIME_WAIT reuse the peer's kernel accepts: a flag worth knowing (port
    /// pressure), listed after every real problem.
    Reuse,
}

impl Problem {
    pub const ALL: [Problem; 7] = [
        Problem::Reset,
        Problem::LostFin,
        Problem::HalfClosedHang,
        Problem::Refused,
        Problem::Unanswered,
        Problem::UnsafeReuse,
        Problem::Reuse,
    ];

    /// The kind `c` is listed under, or `None` when it is no problem: its class
    /// when that is a problem, else its TIME_WAIT reuse.
    pub fn of(c: &ConnectionReport) -> Option<Problem> {
        let by_class = match c.class {
            Class::Reset => Some(Problem::Reset),
            Class::LostFin => Some(Problem::LostFin),
            Class::HalfClosedHang => Some(Problem::HalfClosedHang),
            Class::Refused => Some(Problem::Refused),
            Class::Unanswered => Some(Problem::Unanswered),
            Class::Clean | Class::Open | Class::Incomplete => None,
        };
        by_class.or_else(|| {
            c.reuse.as_ref().map(|r| {
                if r.kernel_accepts {
                    Problem::Reuse
                } else {
                    Problem::UnsafeReuse
                }
            })
        })
    }

    /// How the lists name the kind.
    pub fn name(self) -> &'static str {
        match self {
            Problem::Reset => Class::Reset.name(),
            Problem::LostFin => Class::LostFin.name(),
            Problem::HalfClosedHang => Class::HalfClosedHang.name(),
            Problem::Refused => Class::Refused.name(),
            Problem::Unanswered => Class::Unanswered.name(),
            Problem::UnsafeReuse => "time_wait_reuse (not accepted)",
            Problem::Reuse => "time_wait_reuse (accepted)",
        }
    }
}

/// At most `cap` of `items`, shared fairly between kinds: each kind gets an
/// equal share, what a small kind leaves goes to the others, and the rows an
/// equal split cannot share go to the first kinds in `K`'s order (for
/// [`Problem`], the most severe). Within a kind, the first ones (capture
/// order). The result is in the items' order.
pub fn fair_pick<K: Ord + Copy>(items: &[(usize, K)], cap: usize) -> Vec<usize> {
    let mut by_kind: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for &(i, k) in items {
        by_kind.entry(k).or_default().push(i);
    }
    // In `K`'s order.
    let kinds: Vec<Vec<usize>> = by_kind.into_values().collect();
    let mut by_size: Vec<usize> = (0..kinds.len()).collect();
    by_size.sort_by_key(|&k| (kinds[k].len(), k));
    let mut take = vec![0; kinds.len()];
    let mut left = cap;
    for (done, &k) in by_size.iter().enumerate() {
        let share = left / (by_size.len() - done);
        if kinds[k].len() <= share {
            take[k] = kinds[k].len();
            left -= take[k];
            continue;
        }
        // This kind and every larger one get more than the share: each gets
        // the share, the first in `K`'s order one more while rows are left.
        let mut rest = by_size[done..].to_vec();
        rest.sort_unstable();
        let share = left / rest.len();
        let mut extra = left % rest.len();
        for k in rest {
            take[k] = share + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
        }
        break;
    }
    let mut picked: Vec<usize> = kinds
        .iter()
        .zip(take)
        .flat_map(|(v, n)| v[..n].iter().copied())
        .collect();
    picked.sort_unstable();
    picked
}

/// A problem list of at most `cap` rows made one connection at a time in
/// bounded memory: per kind, the count and the first `cap` connections (all a
/// fair share of the rows can need).
#[derive(Debug)]
pub struct Ranked {
    cap: usize,
    kept: Vec<(Problem, ConnectionReport)>,
    counts: [u64; Problem::ALL.len()],
}

impl Ranked {
    pub fn new(cap: usize) -> Ranked {
        Ranked {
            cap,
            kept: Vec::new(),
            counts: [0; Problem::ALL.len()],
        }
    }

    /// Counts `c` under its kind; keeps it when its kind has fewer than `cap`.
    pub fn add(&mut self, c: ConnectionReport) {
        let Some(kind) = Problem::of(&c) else {
            return;
        };
        let n = &mut self.counts[kind as usize];
        *n += 1;
        if *n as usize <= self.cap {
            self.kept.push((kind, c));
        }
    }

    /// Problem connections counted, of every kind.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Connections counted under `kind`.
    pub fn count(&self, kind: Problem) -> u64 {
        self.counts[kind as usize]
    }

    /// The rows: a fair share of `cap` per kind, most severe kind first, in
    /// capture order within a kind.
    pub fn rows(&self) -> Vec<(Problem, &ConnectionReport)> {
        let items: Vec<(usize, Problem)> = self
            .kept
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (i, *k))
            .collect();
        let mut rows: Vec<(Problem, &ConnectionReport)> = fair_pick(&items, self.cap)
            .into_iter()
            .map(|i| (self.kept[i].0, &self.kept[i].1))
            .collect();
        // Stable: capture order stays within a kind.
        rows.sort_by_key(|(k, _)| *k);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_pick_shares_the_cap_between_kinds() {
        // 10 resets, 2 hangs, 5 reuses; cap 9: the hangs get their 2, the reuses
        // an equal share of the 7 left (3), the resets the rest (4).
        let mut items = Vec::new();
        for i in 0..10 {
            items.push((i, Problem::Reset));
        }
        items.push((10, Problem::HalfClosedHang));
        items.push((11, Problem::HalfClosedHang));
        for i in 12..17 {
            items.push((i, Problem::Reuse));
        }
        let got = fair_pick(&items, 9);
        assert_eq!(got.len(), 9);
        assert!(got.contains(&10) && got.contains(&11));
        assert_eq!(got.iter().filter(|&&i| i < 10).count(), 4);
        assert_eq!(got.iter().filter(|&&i| i >= 12).count(), 3);
        // 1 unsafe reuse, 10 resets, 1,000 accepted reuses, 20 rows: the
        // row an even split of 19 leaves goes to the resets.
        let mut many = vec![(0, Problem::UnsafeReuse)];
        many.extend((1..11).map(|i| (i, Problem::Reset)));
        many.extend((11..1011).map(|i| (i, Problem::Reuse)));
        let got = fair_pick(&many, 20);
        assert_eq!(got.len(), 20);
        assert_eq!(got.iter().filter(|&&i| (1..11).contains(&i)).count(), 10);
        assert!(got.contains(&0));
        // Under the cap, everything.
        assert_eq!(fair_pick(&items, 100).len(), items.len());
        assert!(fair_pick(&items, 0).is_empty());
    }

    #[test]
    fn the_kinds_are_in_order_of_severity() {
        let mut sorted = Problem::ALL;
        sorted.sort();
        assert_eq!(sorted, Problem::ALL);
        assert!(Problem::Reset < Problem::LostFin);
        assert!(Problem::Unanswered < Problem::UnsafeReuse);
        assert!(Problem::UnsafeReuse < Problem::Reuse);
    }
}
