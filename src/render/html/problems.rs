//! The table of problem connections.

use super::*;

pub(super) struct TableView {
    pub(super) rows: Vec<RowView>,
    pub(super) total: usize,
    pub(super) classes: Vec<(&'static str, usize)>,
    pub(super) flags: Vec<(&'static str, usize)>,
}

pub(super) struct RowView {
    pub(super) id: u64,
    pub(super) ladder: bool,
    pub(super) client: String,
    pub(super) server: String,
    pub(super) endpoints: String,
    pub(super) class: &'static str,
    pub(super) flags: Vec<&'static str>,
    pub(super) flags_attr: String,
    pub(super) end_client: &'static str,
    pub(super) end_server: &'static str,
    pub(super) closed_by: &'static str,
    pub(super) start: String,
    pub(super) start_v: String,
    pub(super) duration: String,
    pub(super) duration_v: String,
    pub(super) close_wait: String,
    pub(super) close_wait_v: String,
    pub(super) idle: String,
    pub(super) idle_v: String,
    pub(super) packets: String,
    pub(super) packets_v: u64,
}

pub(super) fn table(
    report: &Report,
    sel: &Selection,
    problems: usize,
    start: Timestamp,
) -> TableView {
    let laddered: BTreeSet<usize> = sel.ladders.iter().copied().collect();
    let mut classes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut flags: BTreeMap<&'static str, usize> = BTreeMap::new();
    let rows = sel
        .rows
        .iter()
        .map(|&i| {
            let c = &report.connections[i];
            *classes.entry(c.class.name()).or_default() += 1;
            for f in c.flags.iter() {
                *flags.entry(f.name()).or_default() += 1;
            }
            let secs = |v: Option<f64>| (v.map(duration).unwrap_or_default(), num(v));
            let (close_wait, close_wait_v) = secs(c.timings.close_wait.map(f64::from));
            let close_wait = if c.timings.close_wait_ongoing {
                format!("{close_wait}+")
            } else {
                close_wait
            };
            let (idle, idle_v) = secs(c.timings.idle_before_close.map(f64::from));
            let dur = c.last_ts.secs_since(c.first_ts);
            let flag_names: Vec<&'static str> = c.flags.iter().map(|f| f.name()).collect();
            RowView {
                id: c.id,
                ladder: laddered.contains(&i),
                client: c.client.to_string(),
                server: c.server.to_string(),
                endpoints: format!("{} {}", c.client, c.server),
                class: c.class.name(),
                flags_attr: flag_names.join(" "),
                flags: flag_names,
                end_client: c.end_state.client.name(),
                end_server: c.end_state.server.name(),
                closed_by: closed_by(c.closed_by),
                start: format!("+{:.3} s", c.first_ts.secs_since(start)),
                start_v: format!("{:.6}", c.first_ts.secs_since(start)),
                duration: duration(dur),
                duration_v: format!("{dur:.6}"),
                close_wait,
                close_wait_v,
                idle,
                idle_v,
                packets: format!("{} / {}", c.packets.client, c.packets.server),
                packets_v: c.packets.client + c.packets.server,
            }
        })
        .collect();
    TableView {
        rows,
        total: problems,
        classes: classes.into_iter().collect(),
        flags: flags.into_iter().collect(),
    }
}
