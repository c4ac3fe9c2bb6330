//! The report: one serde value that every renderer reads.
//!
//! # JSON format (`schema_version` 4)
//!
//! The JSON report is public API; these structs (and, for each connection,
//! [`record::ConnectionRecord`]) *are* its schema, with a doc
//! comment on every field. Timestamps are numbers of seconds since the Unix
//! epoch; durations are numbers of seconds. Changing a field's meaning or removing
//! one bumps [`SCHEMA_VERSION`]. `docs/json.md` shows an example.
//!
//! ```text
//! { "schema_version": 4, "tool": {...}, "settings": {...},
//!   "connections": [ {...} ], "inputs": [ {...} ], "summary": {...} }
//! ```
//!
//! `connections` comes before `inputs` and `summary` because it is written while
//! the capture is read (in bounded memory); the totals are known only at the end.
//!
//! `--format ndjson` writes the same connection objects, one per line, and nothing
//! else.

pub mod filter;
pub mod findings;
pub mod ladder;
pub mod problems;
pub mod record;
pub mod sink;
pub mod timeline;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::classify::{Verdict, classify};
use crate::flow::{Connection, Signals};
pub use crate::flow::{Expiry, Life, Rule, Timers};

pub use crate::capture::pcapng::InterfaceInfo;
pub use crate::capture::{Compression, Format as CaptureFormat, LinkType, Warning};
pub use crate::classify::diagnosis::{self, Diagnosis};
pub use crate::classify::{Class, ClosedBy, Flag, FlagSet, Thresholds};
pub use crate::decode::EndpointAddr;
pub use crate::flow::connection::{Reuse, StateChange};
pub use crate::flow::{PacketRef, Side, State};
pub use crate::time::Timestamp;
pub use crate::zeek::{ZeekInfo, ZeekRow};

/// Version of the JSON layout. 1: capture facts only; 2: verdicts, evidence;
/// 3: connections in the order they ended, written before `inputs` and
/// `summary`; ids are first-packet numbers; absent instead of `null` / `false` /
/// empty for optional evidence and timings; 4: each fact said once
/// ([`record`]); 6: the hosts' timers; 7: the host timeline; 8: `check`'s
/// `max-increase` rules with their `baseline`, and `teardown diff`'s JSON
/// (docs/diff.md).
pub const SCHEMA_VERSION: u32 = 8;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Version of this layout; bumped on any incompatible change.
    pub schema_version: u32,
    /// The program that wrote the report.
    pub tool: Tool,
    /// The thresholds the verdicts were made with.
    pub settings: Thresholds,
    /// The connection filter in force (`--host`, `--net`, `--port`, `--since`,
    /// `--until`), absent when every connection is reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<filter::Filter>,
    /// Every TCP connection (after the filter), in the order their observation
    /// ended, as Zeek writes conn.log: at the SYN of a newer connection on the
    /// same 4-tuple, once it is over for good (closed, TIME_WAIT outlived), at
    /// an eviction, or at the end of the capture; ties by `id`.
    /// This order lets the report be written while the capture is read.
    pub connections: Vec<ConnectionReport>,
    /// One entry per input file, in command-line order (directories expanded).
    pub inputs: Vec<InputReport>,
    /// Totals, counts per class and flag, and the diagnoses.
    pub summary: Summary,
    /// The causes the connections were grouped into, most severe first
    /// (docs/findings.md).
    pub findings: Vec<findings::Finding>,
    /// Per host, its sockets in each state over the capture
    /// (docs/json.md, `timeline`); absent without packets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<timeline::Timeline>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    /// Always `teardown`.
    pub name: &'static str,
    /// The crate version.
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Tool {
        Tool {
            name: "teardown",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// What was read from one input.
#[derive(Clone, Debug, Serialize)]
pub struct InputReport {
    /// The path as given (or found in a directory); `-` for standard input.
    pub path: String,
    /// Container format, `null` when the file could not be recognised.
    pub format: Option<CaptureFormat>,
    /// Compression detected from magic bytes.
    pub compression: Compression,
    /// Packet records read.
    pub packets: u64,
    /// Captured bytes in those records.
    pub bytes: u64,
    /// Records that decoded to a TCP segment.
    pub tcp_packets: u64,
    /// Timestamp of the first and last record read (`null` if none).
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Packets per link type, in order of first appearance.
    pub link_types: Vec<LinkTypeCount>,
    /// Records that yielded no TCP segment, by reason.
    pub skipped: Skipped,
    /// pcapng interfaces (names and descriptions are text from the capture,
    /// each cut to 256 bytes), the first 100.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceInfo>,
    /// Interfaces the file declared beyond those listed (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub interfaces_omitted: u64,
    /// Problems that skipped part of the input; reading went on.
    pub warnings: Vec<Warning>,
    /// The problem that stopped reading this input early, if any. What was read
    /// before it is in the report.
    pub error: Option<String>,
    /// The file as the analysis opened it (a regular file; `None` for a pipe,
    /// a device or standard input), for a second read to check it is the same.
    #[serde(skip)]
    pub stamp: Option<FileStamp>,
}

/// What tells a file apart from another one at the same path, or from itself
/// once it changed: device, inode, size and modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    id: (u64, u64),
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    /// The stamp of the regular file at `path` now (`None` for anything else).
    pub fn of(path: &std::path::Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        Some(FileStamp {
            id: crate::capture::file_id(&meta),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LinkTypeCount {
    /// LINKTYPE_ number.
    pub linktype: LinkType,
    /// Its name, `null` for link types this tool does not decode.
    pub name: Option<&'static str>,
    pub packets: u64,
}

/// Records skipped per reason.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Skipped {
    /// Link type not decoded (counted per type in `link_types`).
    pub unsupported_link_type: u64,
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    pub not_ip: u64,
    /// IP but not TCP (UDP, ICMP, tunnels not decapsulated yet).
    pub not_tcp: u64,
    /// IP fragments that do not carry the TCP header.
    pub fragments: u64,
    /// Frames too short for their headers.
    pub too_short: u64,
    /// Impossible header fields.
    pub malformed: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Number of connections reported (after the filter).
    pub connections: u64,
    /// Connections the filter left out.
    pub filtered_out: u64,
    /// Connections evicted to stay within the cap on tracked connections
    /// (`--max-connections`); each is also flagged `evicted`.
    pub evicted: u64,
    /// Reading was stopped (Ctrl-C, SIGTERM) before the inputs' end: the
    /// report covers what was read until then, the connections still open
    /// reported as at a capture's end. Present, `true`, only then.
    #[serde(skip_serializing_if = "is_false")]
    pub interrupted: bool,
    /// Packet records read over all inputs.
    pub packets: u64,
    /// Records that were TCP segments.
    pub tcp_packets: u64,
    /// First and last timestamp over all inputs (`null` for an empty capture).
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Connections per class; every class is present, zeros included.
    pub classes: BTreeMap<&'static str, u64>,
    /// Connections carrying each flag; every flag is present, zeros included.
    pub flags: BTreeMap<&'static str, u64>,
    /// What each problem present means and what to check, in class order.
    pub diagnoses: Vec<Diagnosis>,
}

/// One connection and its verdict, as the renderers read it; the JSON report
/// writes it as a [`record::ConnectionRecord`] (schema 4).
#[derive(Clone, Debug)]
pub struct ConnectionReport {
    /// The connection's first packet: its frame number for a single input (as
    /// Wireshark numbers frames), its 1-based position among the records of all
    /// inputs merged in time order for several. Unique in the report, and the
    /// same whatever the filter or thread count.
    pub id: u64,
    /// Processing order of the packet that ended its observation (`u64::MAX`:
    /// the end of the capture); connections are reported in `(end_order, id)`
    /// order.
    pub end_order: u64,
    /// The endpoint that sent the opening SYN (or, without one, see
    /// `roles_guessed`).
    pub client: EndpointAddr,
    pub server: EndpointAddr,
    /// Client and server were guessed from the ports (no SYN or SYN-ACK seen).
    pub roles_guessed: bool,
    /// Time of the first and last packet of this connection.
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// Packets sent by each side (duplicates seen twice by the capture included).
    pub packets: PerSide<u64>,
    /// TCP payload bytes sent by each side (lengths from the IP header).
    pub bytes: PerSide<u64>,
    /// How it ended: `clean`, `half_closed_hang`, `lost_fin`, `reset`, `refused`,
    /// `unanswered`, `open` or `incomplete`.
    pub class: Class,
    /// What the class does not say (see docs/teardown.md).
    pub flags: FlagSet,
    /// RFC 9293 state each side was inferred to be in when the capture ended,
    /// the hosts' timers applied (`evidence.expired` names the rule that
    /// closed a side without a packet).
    pub end_state: PerSide<State>,
    /// Who began the close: `client`, `server`, `both` (simultaneous) or `none`.
    pub closed_by: ClosedBy,
    /// For `reset`: who sent the RST and whether a FIN came before it (absent
    /// otherwise).
    pub reset: Option<ResetReport>,
    /// The timings users ask about, in seconds (each absent when not applicable).
    pub timings: Timings,
    /// Present when this connection reused a 4-tuple still in TIME_WAIT.
    pub reuse: Option<Reuse>,
    /// What Zeek would log for the same packets: `conn_state` and `history`
    /// (docs/zeek.md explains where Zeek's view and ours differ).
    pub zeek: ZeekInfo,
    /// The packets behind the verdict, to check it in Wireshark.
    pub evidence: Evidence,
    /// Each side's state changes in order, when the analysis traced them
    /// ([`crate::pipeline::Options::trace`]); empty otherwise. Not in the
    /// JSON report; `teardown explain` shows them.
    pub transitions: Vec<StateChange>,
    /// What the findings read of each side ([`findings`]); not in the JSON
    /// report (the findings say what they make of it).
    pub signals: PerSide<Signals>,
    /// Seconds of silence that the first FIN or RST ended (or that ended just
    /// before the segment a RST answered).
    pub quiet_before_close: Option<f64>,
    /// The close answered the segment that ended that silence.
    pub close_answered: bool,
    /// Each side's socket over the observation, timers applied: what the
    /// host timeline counts and `teardown at` lists. Not in the JSON report.
    pub sockets: timeline::Sockets,
}

impl ConnectionReport {
    /// The state the packets left `side` in: its end state, or the state a
    /// timer then closed it from.
    pub fn last_seen_state(&self, side: Side) -> State {
        self.evidence
            .expired
            .iter()
            .find(|(s, _)| *s == side)
            .map_or(
                match side {
                    Side::Client => self.end_state.client,
                    Side::Server => self.end_state.server,
                },
                |(_, e)| e.state,
            )
    }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct PerSide<T> {
    pub client: T,
    pub server: T,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResetReport {
    /// The side that sent the RST.
    pub by: Side,
    /// A FIN (from either side) was sent before the RST.
    pub after_fin: bool,
}

/// Durations are kept as `f32` seconds (7 significant digits: microseconds up to
/// minutes, milliseconds up to hours), which halves the size of every record.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// From the SYN that was answered to the ACK that completed the handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_rtt: Option<f32>,
    /// From the first FIN to the ACK that covered the second FIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_duration: Option<f32>,
    /// How long the passive side stayed in CLOSE_WAIT: from acknowledging the
    /// first FIN to sending its own FIN or RST, or to the capture's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_wait: Option<f32>,
    /// `close_wait` was still running when the capture ended (present, `true`,
    /// only then).
    #[serde(skip_serializing_if = "is_false")]
    pub close_wait_ongoing: bool,
    /// From the last data segment (either side) to the first FIN or RST.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_before_close: Option<f32>,
}

#[derive(Clone, Debug)]
pub struct Evidence {
    /// The opening SYN (the one answered), the first SYN-ACK, and the ACK of the
    /// SYN-ACK; each absent when not seen.
    pub syn: Option<PacketRef>,
    pub syn_ack: Option<PacketRef>,
    pub handshake_ack: Option<PacketRef>,
    /// SYNs (or SYN-ACKs) sent by each side.
    pub syn_transmissions: PerSide<u32>,
    /// Each side's FIN, if it sent one, in order of first transmission (absent
    /// when neither did).
    pub fins: arrayvec::ArrayVec<FinReport, 2>,
    /// The RSTs kept as evidence: each side's first acceptable one and the first
    /// few judged invalid (absent when none).
    pub rsts: Vec<RstReport>,
    /// The sides a kernel timer closed without a packet.
    pub expired: arrayvec::ArrayVec<(Side, Expiry), 2>,
}

#[derive(Clone, Debug)]
pub struct FinReport {
    /// Who sent it.
    pub side: Side,
    /// Its sequence number relative to the sender's ISN (`null` without a SYN).
    pub relative_seq: Option<u32>,
    /// First and last transmission (`last` absent when it was sent once).
    pub first: PacketRef,
    pub last: Option<PacketRef>,
    pub transmissions: u32,
    /// It rode on a data segment.
    pub with_data: bool,
    /// The ACK that covered it (the first one; see `acks_lost`), absent when
    /// none did.
    pub ack: Option<PacketRef>,
    /// It was sent again this many times after an ACK for it had been seen: those
    /// ACKs never reached its sender.
    pub acks_lost: u32,
    /// Whether the acknowledgment stands at the end of the capture.
    pub acknowledged: bool,
}

#[derive(Clone, Debug)]
pub struct RstReport {
    /// Who sent it.
    pub side: Side,
    pub at: PacketRef,
    /// Its receiver took it: the connection was reset.
    pub valid: bool,
    /// Not taken although inside the receiver's window (not at its RCV.NXT):
    /// challenged.
    pub challenged: bool,
    /// The segment had FIN set too.
    pub with_fin: bool,
    /// Both FINs had been acknowledged before it.
    pub after_close: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Text from a capture or a file name, made safe to show: control characters
/// (C0, DEL, C1: an escape sequence would act on a terminal) and the bidi
/// controls that reorder what follows them become `\u{..}`.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The report record of one finished connection.
pub fn report_of(c: &Connection, thresholds: &Thresholds) -> ConnectionReport {
    let verdict = classify(c, thresholds, c.observed_until);
    connection_report(c, &verdict, c.observed_until, &thresholds.timers)
}

fn connection_report(
    c: &Connection,
    v: &Verdict,
    capture_end: Timestamp,
    timers: &Timers,
) -> ConnectionReport {
    let life = PerSide {
        client: c.life(Side::Client, timers),
        server: c.life(Side::Server, timers),
    };
    let end = |l: &Life, ep: &crate::flow::Endpoint| {
        if l.expiry.is_some() {
            State::Closed
        } else {
            ep.state
        }
    };
    let per = |f: &dyn Fn(&crate::flow::Endpoint) -> u64| PerSide {
        client: f(&c.client),
        server: f(&c.server),
    };
    let reset = v.reset_by.map(|by| ResetReport {
        by,
        after_fin: c.endpoint(by).rst.as_ref().is_some_and(|r| r.after_fin),
    });
    ConnectionReport {
        id: c.serial,
        end_order: c.end_order,
        client: c.client.addr,
        server: c.server.addr,
        roles_guessed: c.roles_guessed,
        first_ts: c.first.ts,
        last_ts: c.last.ts,
        packets: per(&|e| e.packets),
        bytes: per(&|e| e.bytes),
        class: v.class,
        flags: v.flags,
        end_state: PerSide {
            client: end(&life.client, &c.client),
            server: end(&life.server, &c.server),
        },
        closed_by: v.closed_by,
        reset,
        timings: timings(c, capture_end),
        reuse: c.reuse.clone(),
        zeek: c.zeek.info(),
        evidence: evidence(c, &life),
        transitions: c.trace.as_deref().cloned().unwrap_or_default(),
        signals: PerSide {
            client: c.client.signals,
            server: c.server.signals,
        },
        quiet_before_close: c.quiet_before_close.map(|ns| ns as f64 / 1e9),
        close_answered: c.close_answered,
        sockets: timeline::Sockets::of(c.client.addr, c.server.addr, &life.client, &life.server),
    }
}

fn timings(c: &Connection, capture_end: Timestamp) -> Timings {
    let mut t = Timings::default();
    if let (Some(syn), Some(ack)) = (c.answered_syn, c.client.acked_peer_syn)
        && c.first_syn_ack.is_some()
    {
        t.handshake_rtt = Some(ack.ts.secs_since(syn.ts) as f32);
    }
    let Some((first_side, first_at)) = c.first_close else {
        return t;
    };
    if let Some(last) = c.last_data_before_close {
        t.idle_before_close = Some(first_at.ts.secs_since(last).max(0.0) as f32);
    }
    if let (Some(a), Some(b)) = (&c.client.fin, &c.server.fin)
        && let (Some(_), Some(_)) = (a.acked, b.acked)
    {
        let first = a.first.ts.min(b.first.ts);
        let last_ack = [a.acked, b.acked].into_iter().flatten().map(|p| p.ts).max();
        if let Some(last_ack) = last_ack {
            t.close_duration = Some(last_ack.secs_since(first) as f32);
        }
    }
    // CLOSE_WAIT of the passive side: it acknowledged the first FIN, then (maybe)
    // closed itself.
    let active = c.endpoint(first_side);
    let passive = c.endpoint(first_side.other());
    if let Some(fin) = &active.fin
        && let Some(ack) = fin.first_ack
    {
        let own_close = [
            passive.fin.as_ref().map(|f| f.first.ts),
            passive.rst.as_ref().map(|r| r.at.ts),
        ]
        .into_iter()
        .flatten()
        .filter(|ts| *ts >= ack.ts)
        .min();
        let simultaneous = passive.fin.as_ref().is_some_and(|f| f.first.ts < ack.ts);
        if !simultaneous {
            match own_close {
                Some(ts) => t.close_wait = Some(ts.secs_since(ack.ts) as f32),
                None => {
                    t.close_wait = Some(capture_end.secs_since(ack.ts) as f32);
                    t.close_wait_ongoing = true;
                }
            }
        }
    }
    t
}

fn evidence(c: &Connection, life: &PerSide<Life>) -> Evidence {
    let mut fins = arrayvec::ArrayVec::new();
    let mut rsts = Vec::new();
    for side in [Side::Client, Side::Server] {
        let ep = c.endpoint(side);
        if let Some(f) = &ep.fin {
            fins.push(FinReport {
                side,
                relative_seq: ep.isn.map(|isn| f.seq.0.wrapping_sub(isn.0)),
                first: f.first,
                last: (f.transmissions > 1 || f.last != f.first).then_some(f.last),
                transmissions: f.transmissions,
                with_data: f.with_data,
                ack: f.first_ack,
                acks_lost: f.acks_lost,
                acknowledged: f.acked.is_some(),
            });
        }
        for r in ep.rst.iter().chain(ep.invalid_rsts.iter()) {
            rsts.push(RstReport {
                side,
                at: r.at,
                valid: r.valid,
                challenged: r.challenged,
                with_fin: r.with_fin,
                after_close: r.after_close,
            });
        }
    }
    fins.sort_by_key(|f| f.first.ts);
    rsts.sort_by_key(|r| r.at.ts);
    Evidence {
        syn: c.answered_syn.or(c.client.syn_first),
        syn_ack: c.first_syn_ack,
        handshake_ack: c
            .client
            .acked_peer_syn
            .filter(|_| c.first_syn_ack.is_some()),
        syn_transmissions: PerSide {
            client: c.client.syn_count,
            server: c.server.syn_count,
        },
        fins,
        rsts,
        expired: [
            (Side::Client, life.client.expiry),
            (Side::Server, life.server.expiry),
        ]
        .into_iter()
        .filter_map(|(side, e)| e.map(|e| (side, e)))
        .collect(),
    }
}

/// Connections per class and flag, accumulated as records are made (each shard
/// keeps its own; [`Counts::merge`] adds them up).
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Indexed by `Class as usize`.
    classes: [u64; Class::ALL.len()],
    /// Indexed by `Flag as usize`.
    flags: [u64; Flag::ALL.len()],
    /// Connections counted.
    pub connections: u64,
    /// Connections the filter left out (not counted above).
    pub filtered_out: u64,
    /// The findings' groups.
    pub findings: findings::Findings,
}

impl Counts {
    pub fn add(&mut self, c: &ConnectionReport) {
        self.connections += 1;
        self.classes[c.class as usize] += 1;
        for f in c.flags.iter() {
            self.flags[f as usize] += 1;
        }
        self.findings.add(c);
    }

    pub fn merge(&mut self, other: Counts) {
        self.findings.merge(other.findings);
        self.connections += other.connections;
        self.filtered_out += other.filtered_out;
        for (a, b) in self.classes.iter_mut().zip(other.classes) {
            *a += b;
        }
        for (a, b) in self.flags.iter_mut().zip(other.flags) {
            *a += b;
        }
    }

    pub fn of(connections: &[ConnectionReport]) -> Counts {
        let mut counts = Counts::default();
        for c in connections {
            counts.add(c);
        }
        counts
    }
}

/// Counts per class and flag, and the diagnoses for what is present.
pub fn summarize(counts: &Counts, inputs: &[InputReport], thresholds: &Thresholds) -> Summary {
    let classes: BTreeMap<&'static str, u64> = Class::ALL
        .iter()
        .map(|&c| (c.name(), counts.classes[c as usize]))
        .collect();
    let flags: BTreeMap<&'static str, u64> = Flag::ALL
        .iter()
        .map(|&f| (f.name(), counts.flags[f as usize]))
        .collect();
    let diagnoses = diagnosis::for_counts(&classes, &flags, thresholds);
    Summary {
        connections: counts.connections,
        filtered_out: counts.filtered_out,
        evicted: 0,
        interrupted: false,
        packets: inputs.iter().map(|i| i.packets).sum(),
        tcp_packets: inputs.iter().map(|i| i.tcp_packets).sum(),
        first_ts: inputs.iter().filter_map(|i| i.first_ts).min(),
        last_ts: inputs.iter().filter_map(|i| i.last_ts).max(),
        classes,
        flags,
        diagnoses,
    }
}

impl ConnectionReport {
    /// The connections the summaries list as problems: a problem class
    /// (half-closed hang, lost FIN, reset, refused, unanswered) or a TIME_WAIT
    /// reuse.
    pub fn is_problem(&self) -> bool {
        self.class.is_problem() || self.reuse.is_some()
    }

    pub fn client_display(&self) -> String {
        self.client.to_string()
    }
    pub fn server_display(&self) -> String {
        self.server.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Counts` indexes its arrays by discriminant: `ALL` must list the
    /// variants in declaration order.
    #[test]
    fn class_and_flag_lists_are_in_declaration_order() {
        for (i, c) in Class::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
        }
        for (i, f) in Flag::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i, "{f:?}");
        }
    }
}
