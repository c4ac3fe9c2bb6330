//! `teardown explain`: one connection's verdict for a person at a terminal —
//! what it is, its end states, the packets as a text ladder with the evidence
//! marked, and what the class and flags mean — or the same as JSON.
//!
//! The analysis runs whole (a verdict depends on the 4-tuple's earlier
//! connections and on the capture's end) and keeps only the record asked for;
//! its packets come from a second pass over the inputs, as the HTML page's
//! ladders do (`pipeline::ladders`).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::html::evidence_marks;
use crate::classify::diagnosis::{self, Diagnosis};
use crate::flow::Side;
use crate::flow::connection::{MAX_TRACED, StateChange};
use crate::pipeline::{Analysis, Options, analyze_into, ladders};
use crate::report::findings::{Finding, Findings};
use crate::report::ladder::{Ladder, LadderRequest, LadderRow, SeqBase};
use crate::report::record::ConnectionRecord;
use crate::report::sink::{Records, Sink};
use crate::report::{ConnectionReport, SCHEMA_VERSION};

/// Keeps the one record with the wanted id.
struct One {
    id: u64,
    found: Option<Box<ConnectionReport>>,
}

impl Sink for One {
    type Encoder = Records;
    fn connection(&mut self, c: Box<ConnectionReport>) -> io::Result<()> {
        if c.id == self.id {
            self.found = Some(c);
        }
        Ok(())
    }
}

/// One connection explained.
pub struct Explained {
    pub connection: ConnectionReport,
    /// Its packets, as many as a ladder keeps (the handshake, the teardown and
    /// every evidence packet), or `None` with the reason.
    pub ladder: Result<Ladder, String>,
    /// What its class and flags mean, and what to check.
    pub diagnoses: Vec<Diagnosis>,
    /// The analysis' findings it belongs to.
    pub findings: Vec<Finding>,
}

/// Analyzes `options.inputs` and explains connection `id`; `None` when the
/// capture has no connection with that id (or the filter left it out).
pub fn explain(options: &Options, id: u64) -> (Analysis, Option<Explained>) {
    let mut one = One { id, found: None };
    let traced = Options {
        trace: true,
        ..options.clone()
    };
    let analysis = analyze_into(&traced, &mut one);
    let Some(c) = one.found else {
        return (analysis, None);
    };
    let c = *c;
    let inputs: Vec<(PathBuf, _)> = analysis
        .report
        .inputs
        .iter()
        .map(|i| (PathBuf::from(&i.path), i.stamp))
        .collect();
    let request = LadderRequest {
        id: c.id,
        client: c.client,
        server: c.server,
        first_ts: c.first_ts,
        last_ts: c.last_ts,
        keep: evidence_marks(&c).into_keys().collect(),
    };
    let mut found = ladders::collect_ladders(&inputs, &[request], 1);
    let ladder = match (found.ladders.remove(&c.id), found.unavailable) {
        (Some(l), _) => Ok(l),
        (None, Some(why)) => Err(why),
        (None, None) => Err(found
            .problems
            .into_iter()
            .map(|(_, m)| m)
            .next()
            .unwrap_or_else(|| {
                "its packets were not found when the inputs were read again".into()
            })),
    };
    let classes = BTreeMap::from([(c.class.name(), 1)]);
    let flags = c.flags.iter().map(|f| (f.name(), 1)).collect();
    let diagnoses = diagnosis::for_counts(&classes, &flags, &options.thresholds);
    let findings = Findings::of(&c, &analysis.report.findings)
        .into_iter()
        .cloned()
        .collect();
    (
        analysis,
        Some(Explained {
            connection: c,
            ladder,
            diagnoses,
            findings,
        }),
    )
}

/// One packet as explained: time after the connection's first packet, who
/// sent it, and what the ladder shows of it.
#[derive(Serialize)]
struct PacketRow {
    /// Seconds after the connection's first packet.
    t: f64,
    input: u16,
    frame: u64,
    from: Side,
    flags: String,
    seq: u32,
    ack: Option<u32>,
    len: u32,
    window: u16,
    /// What the verdict took this packet as, when it is evidence.
    evidence: Vec<String>,
    /// The state changes this packet proved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    states: Vec<StateChange>,
}

/// The ladder's rows: packets, and how many were left out between them.
#[derive(Serialize)]
#[serde(untagged)]
enum Row {
    Packet(PacketRow),
    Omitted { omitted: u64 },
}

fn rows(e: &Explained, ladder: &Ladder) -> Vec<Row> {
    let marks = evidence_marks(&e.connection);
    ladder
        .rows
        .iter()
        .map(|row| match row {
            LadderRow::Omitted(n) => Row::Omitted { omitted: *n },
            LadderRow::Packet(p) => Row::Packet(PacketRow {
                t: p.ts.secs_since(e.connection.first_ts),
                input: p.input,
                frame: p.number,
                from: p.from,
                flags: p.flags.to_string(),
                seq: p.rel_seq,
                ack: p.rel_ack.or(p.raw_ack),
                len: p.len,
                window: p.window,
                evidence: marks
                    .get(&(p.input, p.number))
                    .map(|m| m.iter().map(|(label, _)| label.clone()).collect())
                    .unwrap_or_default(),
                states: e
                    .connection
                    .transitions
                    .iter()
                    .filter(|t| (t.at.input(), t.at.packet()) == (p.input, p.number))
                    .copied()
                    .collect(),
            }),
        })
        .collect()
}

/// `teardown explain -f json`.
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    connection: ConnectionRecord<'a>,
    /// Packets of the connection found when the inputs were read again.
    packets_in_connection: Option<u64>,
    rows: Vec<Row>,
    /// Why there are no rows, when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    packets_unavailable: Option<&'a str>,
    /// Every state change of both sides, in order (also on the rows of the
    /// packets shown).
    transitions: &'a [StateChange],
    diagnoses: &'a [Diagnosis],
    /// The analysis' findings it belongs to (as in the report's `findings`).
    findings: &'a [Finding],
}

pub fn write_json(e: &Explained, out: &mut dyn Write) -> io::Result<()> {
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        connection: ConnectionRecord::of(&e.connection),
        packets_in_connection: e.ladder.as_ref().ok().map(|l| l.packets),
        rows: e.ladder.as_ref().map(|l| rows(e, l)).unwrap_or_default(),
        packets_unavailable: e.ladder.as_ref().err().map(String::as_str),
        transitions: &e.connection.transitions,
        diagnoses: &e.diagnoses,
        findings: &e.findings,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

pub fn write_text(e: &Explained, out: &mut dyn Write) -> io::Result<()> {
    let c = &e.connection;
    writeln!(
        out,
        "connection #{}  {} -> {}  (uid {})",
        c.id,
        c.client_display(),
        c.server_display(),
        c.zeek.row.uid
    )?;
    writeln!(
        out,
        "  {} .. {} ({:.6} s), {} from the client, {} from the server",
        c.first_ts.rfc3339(),
        c.last_ts.rfc3339(),
        c.last_ts.secs_since(c.first_ts),
        packets(c.packets.client),
        packets(c.packets.server)
    )?;
    writeln!(out, "  class:  {}", c.class.name())?;
    writeln!(
        out,
        "  end:    client {} / server {}",
        c.end_state.client, c.end_state.server
    )?;
    if !c.flags.is_empty() {
        let flags: Vec<&str> = c.flags.iter().map(|f| f.name()).collect();
        writeln!(out, "  flags:  {}", flags.join(", "))?;
    }
    writeln!(out)?;
    match &e.ladder {
        Err(why) => writeln!(out, "packets: not shown: {why}")?,
        Ok(ladder) => {
            let rows = rows(e, ladder);
            let shown = rows.iter().filter(|r| matches!(r, Row::Packet(_))).count();
            writeln!(
                out,
                "packets ({} in the connection, {shown} shown; seq/ack relative{})",
                ladder.packets,
                base_note(ladder)
            )?;
            writeln!(
                out,
                "  {:>10}  {:>7}  {:<8}  {:<16}  {:>10}  {:>10}  {:>5}  {:>5}  evidence",
                "time", "frame", "dir", "flags", "seq", "ack", "len", "win"
            )?;
            for row in &rows {
                match row {
                    Row::Omitted { omitted } => {
                        writeln!(out, "  {:>10}  ... {omitted} packets left out ...", "")?
                    }
                    Row::Packet(p) => {
                        let dir = match p.from {
                            Side::Client => "C -> S",
                            Side::Server => "C <- S",
                        };
                        let ack = p.ack.map_or_else(|| "-".to_string(), |a| a.to_string());
                        let line = format!(
                            "  {:>10.6}  {:>7}  {:<8}  {:<16}  {:>10}  {:>10}  {:>5}  {:>5}  {}",
                            p.t,
                            p.frame,
                            dir,
                            p.flags,
                            p.seq,
                            ack,
                            p.len,
                            p.window,
                            p.evidence.join("; ")
                        );
                        writeln!(out, "{}", line.trim_end())?;
                        for t in &p.states {
                            writeln!(out, "{:>48}{}: {} -> {}", "", t.side.name(), t.from, t.to)?;
                        }
                    }
                }
            }
            let shown = |t: &&StateChange| {
                rows.iter()
                    .any(|r| matches!(r, Row::Packet(p) if p.states.contains(t)))
            };
            let unseen: Vec<&StateChange> = c.transitions.iter().filter(|t| !shown(t)).collect();
            if !unseen.is_empty() {
                writeln!(out, "state changes at packets left out:")?;
                for t in unseen {
                    writeln!(
                        out,
                        "  frame {}: {}: {} -> {}",
                        t.at.packet(),
                        t.side.name(),
                        t.from,
                        t.to
                    )?;
                }
            }
        }
    }
    if c.transitions.len() >= MAX_TRACED {
        writeln!(out, "(only the first {MAX_TRACED} state changes were kept)")?;
    }
    for f in &e.findings {
        writeln!(out)?;
        writeln!(out, "finding {}: {}", f.kind.name(), f.summary)?;
        writeln!(out, "  {}", f.meaning)?;
        for check in f.checks {
            writeln!(out, "  - {check}")?;
        }
    }
    for d in &e.diagnoses {
        writeln!(out)?;
        writeln!(out, "{}: {}", d.topic, d.title)?;
        writeln!(out, "  {}", d.meaning)?;
        for check in &d.checks {
            writeln!(out, "  - {check}")?;
        }
    }
    Ok(())
}

/// What the ladder's sequence numbers are relative to.
fn base_note(ladder: &Ladder) -> String {
    let of = |b: SeqBase| match b {
        SeqBase::Isn(_) | SeqBase::None => "its ISN",
        SeqBase::FirstSeen(_) => "its first sequence number (it sent no SYN)",
    };
    let [client, server] = ladder.base;
    if of(client) == of(server) {
        format!(" to each side's {}", &of(client)[4..])
    } else {
        format!(" to: client {}, server {}", of(client), of(server))
    }
}

/// `1 packet`, `2 packets`.
fn packets(n: u64) -> String {
    format!("{n} packet{}", if n == 1 { "" } else { "s" })
}
