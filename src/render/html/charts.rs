//! The charts: stacked bars over time, per duration and per endpoint, as SVG
//! shapes placed for the template.

use super::*;

pub(super) struct LegendItem {
    pub(super) key: &'static str,
    pub(super) label: &'static str,
}

/// A vertical stacked bar chart.
pub(super) struct VChart {
    pub(super) width: f64,
    pub(super) height: f64,
    pub(super) plot_left: f64,
    pub(super) plot_right: f64,
    pub(super) plot_bottom: f64,
    pub(super) segs: Vec<Seg>,
    pub(super) totals: Vec<BarLabel>,
    pub(super) x_ticks: Vec<Tick>,
    pub(super) y_ticks: Vec<Tick>,
    pub(super) x_label: String,
    pub(super) empty: Option<&'static str>,
    pub(super) desc: String,
}

/// A horizontal stacked bar chart (top lists).
pub(super) struct HChart {
    pub(super) width: f64,
    pub(super) height: f64,
    pub(super) label_x: f64,
    pub(super) rows: Vec<HRow>,
    pub(super) empty: Option<&'static str>,
    pub(super) desc: String,
}

pub(super) struct HRow {
    pub(super) text_y: f64,
    pub(super) label: String,
    pub(super) full: String,
    pub(super) total: u64,
    pub(super) total_x: f64,
    pub(super) segs: Vec<Seg>,
}

pub(super) struct Seg {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) w: f64,
    pub(super) h: f64,
    pub(super) kind: &'static str,
    pub(super) tip: String,
}

pub(super) struct BarLabel {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) text: String,
}

pub(super) struct Tick {
    pub(super) pos: f64,
    pub(super) label: String,
    /// SVG `text-anchor`: the first and last labels of an axis stay inside.
    pub(super) anchor: &'static str,
}

/// Width of the full-width chart and of the half-width ones (SVG units, which
/// are CSS pixels at the page's usual width).
pub(super) const WIDE_W: f64 = 1160.0;
pub(super) const HALF_W: f64 = 560.0;
pub(super) const CHART_H: f64 = 230.0;
pub(super) const PLOT_LEFT: f64 = 44.0;
pub(super) const PLOT_TOP: f64 = 18.0;
pub(super) const PLOT_BOTTOM: f64 = CHART_H - 36.0;

/// An axis step (1, 2 or 5 × 10^n) that divides `0..=max` into at most 5 steps,
/// and the axis maximum it gives.
pub(super) fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut unit = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = unit * m;
            if max.div_ceil(step) <= 5 {
                return (step, max.div_ceil(step) * step);
            }
        }
        unit *= 10;
    }
}

/// Lays out a vertical stacked bar chart `width` wide: `bins[i]` is the count per
/// kind of bar i, `bar_labels[i]` its name in tooltips.
pub(super) fn vchart(
    width: f64,
    bins: &[BTreeMap<&'static str, u64>],
    bar_labels: &[String],
    x_ticks: Vec<(f64, String)>,
    x_label: String,
    desc: String,
    empty: &'static str,
) -> VChart {
    let n = bins.len().max(1);
    let max = bins
        .iter()
        .map(|b| b.values().sum::<u64>())
        .max()
        .unwrap_or(0);
    let (step, top) = axis(max);
    let plot_right = width - 12.0;
    let plot_w = plot_right - PLOT_LEFT;
    let plot_h = PLOT_BOTTOM - PLOT_TOP;
    let slot = plot_w / n as f64;
    let gap = if n > 20 { 1.0 } else { slot * 0.25 };
    let order = kind_order();
    let mut segs = Vec::new();
    let mut totals = Vec::new();
    for (i, bin) in bins.iter().enumerate() {
        let x = PLOT_LEFT + i as f64 * slot + gap / 2.0;
        let mut y = PLOT_BOTTOM;
        let total: u64 = bin.values().sum();
        for k in &order {
            let Some(&v) = bin.get(k) else { continue };
            if v == 0 {
                continue;
            }
            let h = v as f64 / top as f64 * plot_h;
            y -= h;
            segs.push(Seg {
                x: r1(x),
                y: r1(y),
                w: r1(slot - gap),
                h: r1(h),
                kind: k,
                tip: format!("{}: {v} {k}", bar_labels[i]),
            });
        }
        if total > 0 && n <= 20 {
            totals.push(BarLabel {
                x: r1(x + (slot - gap) / 2.0),
                y: r1(y - 4.0),
                text: total.to_string(),
            });
        }
    }
    let y_ticks = (0..=top / step)
        .map(|i| Tick {
            pos: r1(PLOT_BOTTOM - (i * step) as f64 / top as f64 * plot_h),
            label: (i * step).to_string(),
            anchor: "end",
        })
        .collect();
    let last = x_ticks.len().saturating_sub(1);
    VChart {
        width,
        height: CHART_H,
        plot_left: PLOT_LEFT,
        plot_right,
        plot_bottom: PLOT_BOTTOM,
        segs,
        totals,
        x_ticks: x_ticks
            .into_iter()
            .enumerate()
            .map(|(i, (pos, label))| Tick {
                pos: r1(pos),
                label,
                anchor: match i {
                    0 if pos <= PLOT_LEFT => "start",
                    i if i == last && pos >= plot_right => "end",
                    _ => "middle",
                },
            })
            .collect(),
        y_ticks,
        x_label,
        empty: (max == 0).then_some(empty),
        desc,
    }
}

/// Connections ending (their last packet) per class over the capture.
pub(super) fn timeline(digest: &Digest, start: Timestamp, span: f64) -> VChart {
    let n = TIMELINE_BINS;
    let mut bins: Vec<BTreeMap<&'static str, u64>> = vec![BTreeMap::new(); n];
    for (last_ts, class) in digest.ends.iter().zip(&digest.end_classes) {
        let at = last_ts.secs_since(start);
        let i = if span > 0.0 {
            ((at / span * n as f64).floor().max(0.0) as usize).min(n - 1)
        } else {
            0
        };
        *bins[i].entry(class.name()).or_default() += 1;
    }
    let width = span / n as f64;
    let labels: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "+{} to +{}",
                duration(i as f64 * width),
                duration((i + 1) as f64 * width)
            )
        })
        .collect();
    let plot_w = WIDE_W - 12.0 - PLOT_LEFT;
    let x_ticks = (0..=4)
        .map(|q| {
            let f = q as f64 / 4.0;
            (PLOT_LEFT + f * plot_w, format!("+{}", duration(f * span)))
        })
        .collect();
    let desc = format!(
        "{} connections by the time of their last packet, in {n} intervals of {}, stacked by class",
        digest.ends.len(),
        duration(width)
    );
    vchart(
        WIDE_W,
        &bins,
        &labels,
        x_ticks,
        "time since the first packet of the capture".into(),
        desc,
        "no connections",
    )
}

/// Distribution of one timing over the connections that have it, stacked by class.
pub(super) fn duration_histogram(bins: &DurationBins, what: &str) -> VChart {
    let n: u64 = bins.iter().flat_map(|b| b.values()).sum();
    let labels: Vec<String> = DURATION_BINS.iter().map(|(_, l)| l.to_string()).collect();
    let slot = (HALF_W - 12.0 - PLOT_LEFT) / DURATION_BINS.len() as f64;
    let x_ticks = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (PLOT_LEFT + (i as f64 + 0.5) * slot, l.clone()))
        .collect();
    vchart(
        HALF_W,
        bins,
        &labels,
        x_ticks,
        format!("{what} (logarithmic intervals)"),
        format!(
            "{n} connection{} with a {what}, stacked by class",
            if n == 1 { "" } else { "s" }
        ),
        "no connection has this timing",
    )
}

/// The endpoints with the most problem connections, stacked by kind of problem.
pub(super) fn top_chart<K>(counts: &TopCounts<K, KINDS>, (one, many): (&str, &str)) -> HChart
where
    K: Copy + Eq + std::hash::Hash + std::fmt::Display,
{
    let mut list: Vec<(String, u64, [u64; KINDS])> = counts
        .entries()
        .iter()
        .map(|e| (e.key.to_string(), e.counted(), e.kinds))
        .collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(TOP_N);
    let label_w = 250.0;
    let right = HALF_W - 50.0;
    let row_h = 24.0;
    let max = list.first().map_or(1, |r| r.1).max(1) as f64;
    let order = kind_order();
    let rows = list
        .into_iter()
        .enumerate()
        .map(|(i, (k, total, m))| {
            let y = 6.0 + i as f64 * row_h;
            let mut x = label_w;
            let mut segs = Vec::new();
            for (kind, &v) in order.iter().zip(&m) {
                if v == 0 {
                    continue;
                }
                let w = v as f64 / max * (right - label_w);
                segs.push(Seg {
                    x: r1(x),
                    y,
                    w: r1(w),
                    h: row_h - 6.0,
                    kind,
                    tip: format!("{k}: {v} {kind}"),
                });
                x += w;
            }
            // Long IPv6 endpoints are shortened in the middle; the tooltip has
            // them whole.
            let chars: Vec<char> = k.chars().collect();
            let label = if chars.len() > 32 {
                let head: String = chars[..15].iter().collect();
                let tail: String = chars[chars.len() - 15..].iter().collect();
                format!("{head}…{tail}")
            } else {
                k.clone()
            };
            HRow {
                text_y: y + (row_h - 6.0) / 2.0 + 4.0,
                label,
                full: k,
                total,
                total_x: r1(x + 6.0),
                segs,
            }
        })
        .collect::<Vec<_>>();
    HChart {
        width: HALF_W,
        height: (rows.len().max(1) as f64) * row_h + 8.0,
        label_x: label_w - 8.0,
        empty: rows.is_empty().then_some("no problem connections"),
        desc: match counts.distinct() {
            Some(0) => format!("no {one} has problem connections"),
            Some(1) => format!("the one {one} with problem connections"),
            Some(d) if d > rows.len() => format!(
                "the {} of {d} {many} with the most problem connections",
                rows.len()
            ),
            Some(d) => format!("all {d} {many} with problem connections"),
            None => format!(
                "the {} {many} with the most problem connections, of more than {cap}: past {cap} {many} only the busiest are counted, so these counts may fall short",
                rows.len(),
                cap = counts.capacity()
            ),
        },
        rows,
    }
}

/// Hosts that get a chart of their sockets' states.
pub(super) const MAX_HOST_CHARTS: usize = 6;
/// Columns (x positions) a host chart draws at most.
const HOST_COLUMNS: usize = 400;

/// One top host's sockets per state over the capture, stacked.
pub(super) struct HostChart {
    pub(super) id: String,
    pub(super) host: String,
    pub(super) desc: String,
    pub(super) width: f64,
    pub(super) height: f64,
    pub(super) plot_left: f64,
    pub(super) plot_right: f64,
    pub(super) plot_bottom: f64,
    /// Bottom to top; `d` is an SVG path of the stacked band.
    pub(super) areas: Vec<Area>,
    pub(super) y_ticks: Vec<Tick>,
    pub(super) x_ticks: Vec<Tick>,
    /// The legend, beside the chart: each state drawn, with its peak.
    pub(super) legend: Vec<(&'static str, String)>,
}

pub(super) struct Area {
    pub(super) state: &'static str,
    pub(super) d: String,
}

/// The states stacked from the bottom: open sockets first, then the
/// handshake, the hangs and TIME_WAIT.
const STACK: [&str; 10] = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECEIVED",
    "CLOSE_WAIT",
    "FIN_WAIT_2",
    "FIN_WAIT_1",
    "LAST_ACK",
    "CLOSING",
    "TIME_WAIT",
    "unknown",
];

/// The stacked-area chart of each of the timeline's first hosts.
pub(super) fn host_charts(t: &crate::report::timeline::Timeline) -> Vec<HostChart> {
    t.hosts
        .iter()
        .take(MAX_HOST_CHARTS)
        .enumerate()
        .filter_map(|(i, h)| {
            let host = h.host?.to_string();
            Some(host_chart(t, &h.states, format!("states-{}", i + 1), host))
        })
        .collect()
}

fn host_chart(
    t: &crate::report::timeline::Timeline,
    states: &[crate::report::timeline::StateSeries],
    id: String,
    host: String,
) -> HostChart {
    let points = t.points.max(1);
    let cols = points.min(HOST_COLUMNS);
    // Each column shows the highest count of each state over its points.
    let series: Vec<(&'static str, Vec<u32>)> = STACK
        .iter()
        .filter_map(|name| {
            let s = states.iter().find(|s| s.state == *name)?;
            let v = (0..cols)
                .map(|c| {
                    let (a, b) = (
                        c * points / cols,
                        ((c + 1) * points / cols).max(c * points / cols + 1),
                    );
                    s.counts[a.min(s.counts.len())..b.min(s.counts.len())]
                        .iter()
                        .copied()
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            Some((*name, v))
        })
        .collect();
    let max = (0..cols)
        .map(|c| series.iter().map(|(_, v)| u64::from(v[c])).sum::<u64>())
        .max()
        .unwrap_or(0);
    let (step, top) = axis(max);
    let (width, height) = (WIDE_W - 220.0, 200.0);
    let plot_bottom = height - 36.0;
    let plot_right = width - 12.0;
    let plot_w = plot_right - PLOT_LEFT;
    let plot_h = plot_bottom - PLOT_TOP;
    let x = |c: usize| PLOT_LEFT + c as f64 / cols as f64 * plot_w;
    let y = |n: u64| plot_bottom - n as f64 / top as f64 * plot_h;
    let mut below = vec![0u64; cols];
    let mut areas = Vec::new();
    for (state, v) in &series {
        let above: Vec<u64> = below
            .iter()
            .zip(v)
            .map(|(b, n)| b + u64::from(*n))
            .collect();
        // Steps: each column flat across its width, the band from `below`
        // to `above`.
        let mut d = String::new();
        for (c, &n) in above.iter().enumerate() {
            let cmd = if c == 0 { 'M' } else { 'L' };
            let (x0, x1, y) = (r1(x(c)), r1(x(c + 1)), r1(y(n)));
            d.push_str(&format!("{cmd}{x0} {y} L{x1} {y} "));
        }
        for (c, &n) in below.iter().enumerate().rev() {
            let (x0, x1, y) = (r1(x(c)), r1(x(c + 1)), r1(y(n)));
            d.push_str(&format!("L{x1} {y} L{x0} {y} "));
        }
        d.push('Z');
        areas.push(Area { state, d });
        below = above;
    }
    let span = t.step * (points - 1) as f64;
    let x_ticks = (0..=4)
        .map(|q| {
            let f = q as f64 / 4.0;
            Tick {
                pos: r1(PLOT_LEFT + f * plot_w),
                label: format!("+{}", duration(f * span)),
                anchor: match q {
                    0 => "start",
                    4 => "end",
                    _ => "middle",
                },
            }
        })
        .collect();
    let y_ticks = (0..=top / step)
        .map(|i| Tick {
            pos: r1(y(i * step)),
            label: (i * step).to_string(),
            anchor: "end",
        })
        .collect();
    let legend = series
        .iter()
        .rev()
        .filter_map(|(state, _)| {
            let s = states.iter().find(|s| s.state == *state)?;
            let port = s
                .stats
                .port
                .map_or(String::new(), |p| format!(" (port {p})"));
            Some((
                *state,
                format!(
                    "{state}: peak {} at +{}{port}, {} at the end",
                    s.stats.peak,
                    duration(s.stats.peak_at.secs_since(t.start)),
                    s.stats.end
                ),
            ))
        })
        .collect();
    HostChart {
        desc: format!(
            "sockets of {host} per state, counted every {} and stacked; each of the {cols} columns shows each state's highest count over its interval",
            duration(t.step)
        ),
        id,
        host,
        width,
        height,
        plot_left: PLOT_LEFT,
        plot_right,
        plot_bottom,
        areas,
        y_ticks,
        x_ticks,
        legend,
    }
}
