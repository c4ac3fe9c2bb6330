//! The ladder diagrams: each chosen connection's packets as an SVG sequence
//! diagram, its evidence marked, and the facts behind its verdict.

use super::*;

pub(super) struct LadderView {
    pub(super) id: u64,
    pub(super) client: String,
    pub(super) server: String,
    pub(super) class: &'static str,
    pub(super) flags: Vec<&'static str>,
    pub(super) end_client: &'static str,
    pub(super) end_server: &'static str,
    pub(super) facts: Vec<String>,
    pub(super) svg: Option<LadderSvg>,
    pub(super) note: Option<String>,
    pub(super) open: bool,
    /// The heading of a group of ladders, on the first of each kind of problem.
    pub(super) group: Option<String>,
    pub(super) group_key: &'static str,
}

pub(super) struct LadderSvg {
    pub(super) width: f64,
    pub(super) height: f64,
    pub(super) cx: f64,
    pub(super) sx: f64,
    pub(super) line_top: f64,
    pub(super) line_bottom: f64,
    pub(super) state_y: f64,
    pub(super) rows: Vec<LadderRowView>,
    pub(super) seq_note: String,
}

pub(super) struct LadderRowView {
    pub(super) y: f64,
    /// `Some(text)` for a stretch of left-out packets.
    pub(super) gap: Option<String>,
    pub(super) x1: f64,
    pub(super) x2: f64,
    pub(super) y2: f64,
    pub(super) head: String,
    pub(super) label: String,
    pub(super) label_x: f64,
    pub(super) label_y: f64,
    pub(super) time: String,
    pub(super) frame: String,
    pub(super) marks: String,
    pub(super) style: &'static str,
}

/// What each evidence packet of a connection is, by (input, frame number).
pub(crate) fn evidence_marks(
    c: &ConnectionReport,
) -> BTreeMap<(u16, u64), Vec<(String, &'static str)>> {
    let mut marks: BTreeMap<(u16, u64), Vec<(String, &'static str)>> = BTreeMap::new();
    let mut mark = |p: &crate::flow::PacketRef, label: String, style: &'static str| {
        marks
            .entry((p.input(), p.packet()))
            .or_default()
            .push((label, style));
    };
    let e = &c.evidence;
    if let Some(p) = &e.syn {
        mark(p, "SYN".into(), "hs");
    }
    if let Some(p) = &e.syn_ack {
        mark(p, "SYN-ACK".into(), "hs");
    }
    if let Some(p) = &e.handshake_ack {
        mark(p, "handshake ACK".into(), "hs");
    }
    for f in &e.fins {
        let side = f.side.name();
        let style = if f.acknowledged { "fin" } else { "bad" };
        if f.transmissions > 1 {
            mark(
                &f.first,
                format!("{side} FIN, 1st of {}", f.transmissions),
                style,
            );
            if let Some(last) = &f.last {
                mark(
                    last,
                    format!("{side} FIN, last of {}", f.transmissions),
                    style,
                );
            }
        } else {
            mark(&f.first, format!("{side} FIN"), style);
        }
        if let Some(a) = &f.ack {
            let lost = if f.acks_lost > 0 { " (lost)" } else { "" };
            mark(a, format!("ACK of {side} FIN{lost}"), "fin");
        }
    }
    for r in &e.rsts {
        let side = r.side.name();
        if r.valid {
            mark(&r.at, format!("{side} RST"), "rst");
        } else if r.challenged {
            mark(&r.at, format!("{side} RST, challenged (ignored)"), "bad");
        } else {
            mark(&r.at, format!("{side} RST, invalid (ignored)"), "bad");
        }
    }
    marks
}

/// The verdict's evidence in words, from the report's fields.
pub(super) fn facts(c: &ConnectionReport) -> Vec<String> {
    let mut facts = Vec::new();
    let frame = |p: &crate::flow::PacketRef| {
        if p.input() == 0 {
            format!("#{}", p.packet())
        } else {
            format!("#{} of input {}", p.packet(), u32::from(p.input()) + 1)
        }
    };
    for f in &c.evidence.fins {
        let seq = f
            .relative_seq
            .map(|s| format!(" (relative seq {s})"))
            .unwrap_or_default();
        let sent = if f.transmissions > 1 {
            format!(
                "sent {} times ({} … {})",
                f.transmissions,
                frame(&f.first),
                frame(&f.last.unwrap_or(f.first))
            )
        } else {
            format!("sent once ({})", frame(&f.first))
        };
        let ack = match (&f.ack, f.acks_lost, f.acknowledged) {
            (None, _, _) => "never acknowledged".to_string(),
            (Some(a), 0, true) => format!("acknowledged by {}", frame(a)),
            (Some(a), lost, acked) => format!(
                "acknowledged by {}, then sent again {lost} time{} after that ACK, which never reached it{}",
                frame(a),
                if lost == 1 { "" } else { "s" },
                if acked {
                    "; acknowledged durably later"
                } else {
                    "; not acknowledged at capture end"
                }
            ),
        };
        facts.push(format!("{} FIN{seq}: {sent}; {ack}.", f.side.name()));
    }
    for r in &c.evidence.rsts {
        let what = if r.valid {
            "acceptable"
        } else if r.challenged {
            "inside the receiver's window but not at its next expected sequence number, challenged and ignored"
        } else {
            "outside the receiver's window, ignored"
        };
        let after = if r.after_close {
            ", after both FINs were acknowledged"
        } else {
            ""
        };
        let fin = if r.with_fin { " (with FIN)" } else { "" };
        facts.push(format!(
            "{} RST{fin} at {}: {what}{after}.",
            r.side.name(),
            frame(&r.at)
        ));
    }
    if let Some(r) = &c.reset {
        facts.push(format!(
            "Reset by the {}{}.",
            r.by.name(),
            if r.after_fin { ", after a FIN" } else { "" }
        ));
    }
    let t = &c.timings;
    let mut timings = Vec::new();
    if let Some(v) = t.handshake_rtt.map(f64::from) {
        timings.push(format!("handshake RTT {}", duration(v)));
    }
    if let Some(v) = t.close_duration.map(f64::from) {
        timings.push(format!("close {}", duration(v)));
    }
    if let Some(v) = t.close_wait.map(f64::from) {
        timings.push(format!(
            "CLOSE_WAIT {}{}",
            duration(v),
            if t.close_wait_ongoing {
                " (still at capture end)"
            } else {
                ""
            }
        ));
    }
    if let Some(v) = t.idle_before_close.map(f64::from) {
        timings.push(format!("idle before close {}", duration(v)));
    }
    if !timings.is_empty() {
        facts.push(format!("Timings: {}.", timings.join(", ")));
    }
    if let Some(r) = &c.reuse {
        let yn = |b: bool| if b { "yes" } else { "no" };
        facts.push(format!(
            "Reuses the 4-tuple of #{} {} after it entered TIME_WAIT (held by the {}); new ISN above the old sequence space: {}; newer timestamp: {}; Linux accepts it: {}.",
            r.previous,
            duration(r.gap),
            r.time_wait_side.name(),
            yn(r.isn_advanced),
            r.ts_advanced.map_or("no timestamps", yn),
            yn(r.kernel_accepts),
        ));
    }
    facts
}

pub(super) const L_WIDTH: f64 = 900.0;
pub(super) const L_CX: f64 = 250.0;
pub(super) const L_SX: f64 = 630.0;
pub(super) const L_TOP: f64 = 58.0;
pub(super) const L_ROW: f64 = 26.0;

pub(super) fn ladder_views(
    report: &Report,
    sel: &Selection,
    ladders: &Ladders,
) -> (Vec<LadderView>, Option<String>) {
    let note = ladders.unavailable.clone();
    // Grouped by kind of problem (in class order, TIME_WAIT reuse last), capture
    // order within a group; the first of each group is open.
    let order = kind_order();
    let mut picked: Vec<(usize, &'static str)> = sel
        .ladders
        .iter()
        .map(|&i| (i, problem_kind(&report.connections[i]).unwrap_or("")))
        .collect();
    picked.sort_by_key(|&(i, k)| (order.iter().position(|o| *o == k), i));
    let mut group_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, k) in &picked {
        *group_sizes.entry(k).or_default() += 1;
    }
    let mut seen = BTreeSet::new();
    let views = picked
        .into_iter()
        .map(|(i, kind)| {
            let first_of_kind = seen.insert(kind);
            let c = &report.connections[i];
            let (svg, note) = match (ladders.ladders.get(&c.id), &ladders.unavailable) {
                (_, Some(_)) => (None, None),
                (None, None) => (
                    None,
                    Some("No packet of this connection was found when the inputs were read again.".to_string()),
                ),
                (Some(l), None) => {
                    let note = (!l.missing.is_empty()).then(|| {
                        format!(
                            "{} evidence packet(s) were not found when the inputs were read again: the files may have changed since the analysis.",
                            l.missing.len()
                        )
                    });
                    (Some(ladder_svg(c, l)), note)
                }
            };
            LadderView {
                id: c.id,
                client: c.client.to_string(),
                server: c.server.to_string(),
                class: c.class.name(),
                flags: c.flags.iter().map(|f| f.name()).collect(),
                end_client: c.end_state.client.name(),
                end_server: c.end_state.server.name(),
                facts: facts(c),
                svg,
                note,
                open: first_of_kind,
                group: first_of_kind.then(|| {
                    format!("{} ({})", class_label(kind), group_sizes.get(kind).copied().unwrap_or(0))
                }),
                group_key: kind,
            }
        })
        .collect();
    (views, note)
}

pub(super) fn ladder_svg(c: &ConnectionReport, l: &ladder::Ladder) -> LadderSvg {
    let marks = evidence_marks(c);
    let unacked: Vec<Side> = c
        .evidence
        .fins
        .iter()
        .filter(|f| !f.acknowledged)
        .map(|f| f.side)
        .collect();
    let multi_input = l.rows.iter().any(|r| match r {
        LadderRow::Packet(p) => p.input != 0,
        LadderRow::Omitted(_) => false,
    });
    let t0 = c.first_ts;
    let mut rows = Vec::new();
    let mut y = L_TOP + 16.0;
    for row in &l.rows {
        match row {
            LadderRow::Omitted(n) => {
                rows.push(LadderRowView {
                    y: r1(y),
                    gap: Some(format!(
                        "… {n} packet{} not drawn …",
                        if *n == 1 { "" } else { "s" }
                    )),
                    x1: 0.0,
                    x2: 0.0,
                    y2: 0.0,
                    head: String::new(),
                    label: String::new(),
                    label_x: 0.0,
                    label_y: 0.0,
                    time: String::new(),
                    frame: String::new(),
                    marks: String::new(),
                    style: "",
                });
                y += L_ROW;
            }
            LadderRow::Packet(p) => {
                let (x1, x2) = match p.from {
                    Side::Client => (L_CX, L_SX),
                    Side::Server => (L_SX, L_CX),
                };
                let y2 = y + 10.0;
                // Arrowhead at (x2, y2), pointing along the line.
                let dir = if x2 > x1 { -1.0 } else { 1.0 };
                let head = format!(
                    "{},{} {},{} {},{}",
                    r1(x2),
                    r1(y2),
                    r1(x2 + dir * 9.0),
                    r1(y2 - 5.5),
                    r1(x2 + dir * 10.0),
                    r1(y2 + 2.5)
                );
                let mut label = p.flags.to_string();
                label.push_str(&format!("  seq={}", p.rel_seq));
                match (p.rel_ack, p.raw_ack) {
                    (Some(a), _) => label.push_str(&format!(" ack={a}")),
                    (None, Some(a)) => label.push_str(&format!(" ack={a} (raw)")),
                    _ => {}
                }
                if p.len > 0 {
                    label.push_str(&format!(" len={}", p.len));
                }
                if p.window == 0 && !p.flags.rst {
                    label.push_str(" win=0");
                }
                let m = marks.get(&(p.input, p.number));
                let mut style = match m {
                    Some(list) if list.iter().any(|(_, s)| *s == "bad") => "bad",
                    Some(list) if list.iter().any(|(_, s)| *s == "rst") => "rst",
                    Some(list) if list.iter().any(|(_, s)| *s == "fin") => "fin",
                    Some(_) => "hs",
                    None => "",
                };
                if style.is_empty() && p.flags.fin && unacked.contains(&p.from) {
                    style = "bad";
                }
                let marks = m
                    .map(|list| {
                        list.iter()
                            .map(|(l, _)| l.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                let frame = if multi_input {
                    format!("#{} ({})", p.number, u32::from(p.input) + 1)
                } else {
                    format!("#{}", p.number)
                };
                rows.push(LadderRowView {
                    y: r1(y),
                    gap: None,
                    x1,
                    x2,
                    y2: r1(y2),
                    head,
                    label,
                    label_x: r1((L_CX + L_SX) / 2.0),
                    label_y: r1(y - 1.0),
                    time: format!("+{:.6}", p.ts.secs_since(t0)),
                    frame,
                    marks,
                    style,
                });
                y += L_ROW;
            }
        }
    }
    let seq_note = match l.base {
        [SeqBase::Isn(_), SeqBase::Isn(_)] => {
            "seq/ack relative to each side's ISN".to_string()
        }
        _ => "seq/ack relative to each side's ISN, or without a SYN to the first sequence number it sent".to_string(),
    };
    let line_bottom = y + 4.0;
    LadderSvg {
        width: L_WIDTH,
        height: r1(line_bottom + 52.0),
        cx: L_CX,
        sx: L_SX,
        line_top: L_TOP,
        line_bottom: r1(line_bottom),
        state_y: r1(line_bottom + 6.0),
        rows,
        seq_note,
    }
}
