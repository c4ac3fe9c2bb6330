//! The tests a diff applies, and the distributions it keeps.
//!
//! - Two counts out of two totals (a class's connections before and after):
//!   Fisher's exact test when an expected cell of the 2×2 table is under 5,
//!   else the pooled two-proportion z-test ([`proportions`]).
//! - Two distributions of durations: the two-sample Kolmogorov–Smirnov test
//!   on [`Histogram`]s, with the asymptotic Kolmogorov distribution
//!   ([`ks`]).
//! - A family of tests: Holm's step-down correction ([`holm`]).
//!
//! The normal distribution, the hypergeometric one and `ln Γ` come from
//! `statrs`.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Discrete, Hypergeometric, Normal};

/// Which test gave a p-value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// Fisher's exact test, two-sided (the tables at most as probable as the
    /// one observed).
    Fisher,
    /// The pooled two-proportion z-test, two-sided.
    TwoProportionZ,
    /// The two-sample Kolmogorov–Smirnov test, asymptotic p-value.
    KolmogorovSmirnov,
}

impl Test {
    pub fn name(self) -> &'static str {
        match self {
            Test::Fisher => "Fisher's exact test",
            Test::TwoProportionZ => "two-proportion z-test",
            Test::KolmogorovSmirnov => "Kolmogorov-Smirnov test",
        }
    }
}

/// A test's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tested {
    pub test: Test,
    pub p: f64,
    /// The smallest p-value any outcome with these totals could have had: at
    /// or above the significance level, no count could have told a change
    /// from chance ("too few connections to tell").
    pub best_p: f64,
}

/// Tests `a` of `n` against `b` of `m`. Fisher's exact test when a cell of
/// the table is expected below 5, else the z-test.
pub fn proportions(a: u64, n: u64, b: u64, m: u64) -> Tested {
    let total = n + m;
    let events = a + b;
    if total == 0 {
        return Tested {
            test: Test::Fisher,
            p: 1.0,
            best_p: 1.0,
        };
    }
    let expected_min = [n, m]
        .into_iter()
        .flat_map(|side| {
            let e = side as f64 * events as f64 / total as f64;
            [e, side as f64 - e]
        })
        .fold(f64::INFINITY, f64::min);
    let best_p = fisher_best(n, m, events);
    if expected_min < 5.0 {
        return Tested {
            test: Test::Fisher,
            p: fisher(a, n, b, m),
            best_p,
        };
    }
    let (pa, pb) = (a as f64 / n as f64, b as f64 / m as f64);
    let pooled = events as f64 / total as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n as f64 + 1.0 / m as f64)).sqrt();
    let p = if se == 0.0 {
        1.0
    } else {
        let z = ((pa - pb) / se).abs();
        let normal = Normal::standard();
        2.0 * normal.sf(z)
    };
    Tested {
        test: Test::TwoProportionZ,
        p: p.clamp(0.0, 1.0),
        best_p,
    }
}

/// The hypergeometric law of the first row's events: `n` drawn from `n + m`
/// of which `events` are events. `None` when a margin is empty.
fn table(n: u64, m: u64, events: u64) -> Option<(Hypergeometric, u64, u64)> {
    let lo = events.saturating_sub(m);
    let hi = events.min(n);
    Some((Hypergeometric::new(n + m, events, n).ok()?, lo, hi))
}

/// Fisher's exact test, two-sided: the probability of every table with the
/// same margins at most as probable as the one observed.
pub fn fisher(a: u64, n: u64, b: u64, m: u64) -> f64 {
    let Some((h, lo, hi)) = table(n, m, a + b) else {
        return 1.0;
    };
    let observed = h.pmf(a);
    // A relative tolerance, as R's fisher.test, for tables equally probable.
    let bound = observed * (1.0 + 1e-7);
    let p: f64 = (lo..=hi).map(|k| h.pmf(k)).filter(|&q| q <= bound).sum();
    p.min(1.0)
}

/// The smallest two-sided p-value of Fisher's test with these margins: that
/// of the most lopsided table.
fn fisher_best(n: u64, m: u64, events: u64) -> f64 {
    let Some((h, lo, hi)) = table(n, m, events) else {
        return 1.0;
    };
    let end = if h.pmf(lo) <= h.pmf(hi) { lo } else { hi };
    let bound = h.pmf(end) * (1.0 + 1e-7);
    let p: f64 = (lo..=hi).map(|k| h.pmf(k)).filter(|&q| q <= bound).sum();
    p.min(1.0)
}

/// Holm's step-down correction: each p-value of a family adjusted so that
/// comparing it with the significance level keeps the chance of any false
/// positive in the family below it.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![1.0; p.len()];
    let mut running: f64 = 0.0;
    let k = p.len();
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((k - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Bins per factor of ten: bins are 10^(1/64) ≈ 3.7 % wide, so a quantile
/// read from them is within 1.8 % of the exact one.
const PER_DECADE: f64 = 64.0;
/// The smallest duration told from zero: 1 µs.
const FLOOR: f64 = 1e-6;
/// Bins from 1 µs to 10^6 s (11.6 days); longer durations go in the last.
const BINS: usize = 12 * PER_DECADE as usize + 1;

/// A distribution of durations in seconds, in bounded memory: a count for
/// zero (under 1 µs), and logarithmic bins of 1/64 of a decade above.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BINS + 1],
            n: 0,
        }
    }
}

impl Histogram {
    fn bin(secs: f64) -> usize {
        // Below the floor, or not a number.
        if secs.is_nan() || secs < FLOOR {
            return 0;
        }
        let b = ((secs / FLOOR).log10() * PER_DECADE).floor() as usize + 1;
        b.min(BINS)
    }

    /// The value a bin stands for: its geometric middle (0 for the zero bin).
    fn value(bin: usize) -> f64 {
        if bin == 0 {
            return 0.0;
        }
        FLOOR * 10f64.powf((bin as f64 - 0.5) / PER_DECADE)
    }

    pub fn add(&mut self, secs: f64) {
        self.counts[Self::bin(secs)] += 1;
        self.n += 1;
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The `q` quantile (0..=1), within a bin's width; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (bin, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::value(bin));
            }
        }
        None
    }

    /// The cumulative share at each bin's upper edge, with the edges'
    /// values: what a chart of the distribution draws. Only the bins from
    /// the first to the last with a count.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let (Some(first), Some(last)) = (
            self.counts.iter().position(|&c| c > 0),
            self.counts.iter().rposition(|&c| c > 0),
        ) else {
            return Vec::new();
        };
        let mut seen = 0;
        (first..=last)
            .map(|bin| {
                seen += self.counts[bin];
                (Self::value(bin), seen as f64 / self.n as f64)
            })
            .collect()
    }

    /// A histogram of `values`.
    #[cfg(test)]
    pub fn of(values: impl IntoIterator<Item = f64>) -> Histogram {
        let mut h = Histogram::default();
        values.into_iter().for_each(|v| h.add(v));
        h
    }
}

/// The KS statistic (the largest gap between the two cumulative
/// distributions, read at the bins' edges) and its p-value.
pub fn ks(a: &Histogram, b: &Histogram) -> Option<(f64, Tested)> {
    if a.n == 0 || b.n == 0 {
        return None;
    }
    let (mut ca, mut cb, mut d) = (0u64, 0u64, 0f64);
    for (x, y) in a.counts.iter().zip(&b.counts) {
        ca += x;
        cb += y;
        d = d.max((ca as f64 / a.n as f64 - cb as f64 / b.n as f64).abs());
    }
    let ne = (a.n as f64 * b.n as f64) / (a.n + b.n) as f64;
    let p_of = |d: f64| {
        let sq = ne.sqrt();
        kolmogorov_q((sq + 0.12 + 0.11 / sq) * d)
    };
    Some((
        d,
        Tested {
            test: Test::KolmogorovSmirnov,
            p: p_of(d),
            best_p: p_of(1.0),
        },
    ))
}

/// The Kolmogorov distribution's upper tail, `Q(λ) = 2 Σ (−1)^(j−1) e^(−2 j² λ²)`.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..=100 {
        let term = (-2.0 * (j * j) as f64 * lambda * lambda).exp();
        sum += sign * term;
        if term < 1e-12 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn fisher_matches_r_on_the_tea_tasting_table() {
        // R: fisher.test(matrix(c(3,1,1,3),2))$p.value = 0.4857
        assert!(close(fisher(3, 4, 1, 4), 0.485_714, 1e-4));
        // fisher.test(matrix(c(0,100,100,0),2)): tiny, and symmetric.
        let p = fisher(0, 100, 100, 100);
        assert!(p < 1e-50, "{p}");
        assert!(close(fisher(100, 100, 0, 100), p, 1e-9));
        // Equal tables: 1.
        assert!(close(fisher(5, 10, 5, 10), 1.0, 1e-9));
    }

    #[test]
    fn small_counts_take_fisher_and_can_be_too_few_to_tell() {
        let t = proportions(0, 5, 3, 5);
        assert_eq!(t.test, Test::Fisher);
        // 0 of 5 against 3 of 5 is the most lopsided table with 3 events:
        // p = 0.1667 (R), and nothing with these margins could do better.
        assert!(close(t.p, 0.166_667, 1e-4), "{}", t.p);
        assert!(close(t.best_p, t.p, 1e-9));
        // 0 of 100 against 100 of 100: far below any level.
        assert!(proportions(0, 100, 100, 100).best_p < 1e-50);
    }

    #[test]
    fn large_counts_take_the_z_test() {
        // 100 of 1000 against 150 of 1000: z = 3.38, p = 7.3e-4 (prop.test
        // without continuity correction).
        let t = proportions(100, 1000, 150, 1000);
        assert_eq!(t.test, Test::TwoProportionZ);
        assert!(close(t.p, 7.3e-4, 0.03), "{}", t.p);
        assert!(close(proportions(100, 1000, 100, 1000).p, 1.0, 1e-9));
    }

    #[test]
    fn holm_adjusts_step_down_and_stays_monotone() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        // sorted 0.005, 0.01, 0.03, 0.04 × 4, 3, 2, 1 → 0.02, 0.03, 0.06, 0.06
        assert_eq!(adj.len(), 4);
        assert!(close(adj[3], 0.02, 1e-9));
        assert!(close(adj[0], 0.03, 1e-9));
        assert!(close(adj[2], 0.06, 1e-9));
        assert!(close(adj[1], 0.06, 1e-9));
    }

    #[test]
    fn histogram_quantiles_are_within_a_bin() {
        let h = Histogram::of((1..=1000).map(|i| i as f64 * 1e-3));
        let median = h.quantile(0.5).unwrap();
        assert!(close(median, 0.5, 0.02), "{median}");
        let p95 = h.quantile(0.95).unwrap();
        assert!(close(p95, 0.95, 0.02), "{p95}");
        let zeros = Histogram::of([0.0, 0.0, 5e-7, 2.0]);
        assert_eq!(zeros.quantile(0.5), Some(0.0));
        assert!(Histogram::default().quantile(0.5).is_none());
        // Beyond the last bin, and not a number: counted, not lost.
        let odd = Histogram::of([1e9, f64::NAN]);
        assert_eq!(odd.len(), 2);
    }

    #[test]
    fn ks_tells_shifted_distributions_and_not_equal_ones() {
        let a = Histogram::of((0..500).map(|i| 0.01 + i as f64 * 1e-4));
        let b = Histogram::of((0..500).map(|i| 0.01 + i as f64 * 1e-4));
        let (d, t) = ks(&a, &b).unwrap();
        assert_eq!(d, 0.0);
        assert!(close(t.p, 1.0, 1e-9));
        let c = Histogram::of((0..500).map(|i| 0.03 + i as f64 * 1e-4));
        let (d, t) = ks(&a, &c).unwrap();
        assert!(d > 0.35, "{d}");
        assert!(t.p < 1e-20, "{}", t.p);
        // Kolmogorov's Q at λ = 1.36 is the 5 % point.
        assert!(close(kolmogorov_q(1.358), 0.05, 0.01));
        assert!(ks(&a, &Histogram::default()).is_none());
    }
}
