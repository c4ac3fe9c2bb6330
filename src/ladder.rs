//! Ladder (sequence) diagrams: the packets of a few chosen connections, collected by
//! a second pass over the inputs.
//!
//! The analysis keeps only evidence per connection (a handful of packet references),
//! never the packets themselves: that is what lets it run over captures with
//! millions of connections in bounded memory. A ladder needs every packet of its
//! connection, so the renderer that draws ladders asks for them here, for a capped
//! number of connections, and this module reads the captures again with the same
//! readers and decoder ([`CaptureReader`], [`decode::decode`]), merged across inputs
//! in the same order as the analysis (by timestamp, ties in input order, each
//! file's own order kept).
//!
//! Per connection it keeps the first [`HEAD_PACKETS`] and the last
//! [`TAIL_PACKETS`] packets, plus the evidence packets named in the request
//! wherever they fall; what lies between is counted, not kept. Sequence and
//! acknowledgment numbers are made relative to each side's ISN (its SYN), or,
//! without a SYN, to the first sequence number that side sent in the connection.
//!
//! Standard input cannot be read a second time: with `-` among the inputs nothing
//! is collected and [`Ladders::unavailable`] says why.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use crate::capture::CaptureReader;
use crate::decode::EndpointAddr;
use crate::decode::{self, Control, Segment};
use crate::flow::Side;
use crate::time::Timestamp;

/// Packets kept from the start of each connection (handshake and first exchanges).
pub const HEAD_PACKETS: usize = 12;
/// Packets kept from the end of each connection (the teardown).
pub const TAIL_PACKETS: usize = 40;
/// Evidence packets kept per connection beyond the head and the tail.
pub const MAX_KEPT: usize = 24;

/// One connection whose packets are wanted.
#[derive(Clone, Debug)]
pub struct LadderRequest {
    /// The connection's report id (the key of [`Ladders::ladders`]).
    pub id: u64,
    pub client: EndpointAddr,
    pub server: EndpointAddr,
    /// Its first and last packet's time: packets of the 4-tuple outside this
    /// window belong to other connections on the same 4-tuple.
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// Packets to keep wherever they fall, as (input index, frame number): the
    /// verdict's evidence. At most [`MAX_KEPT`] are honoured.
    pub keep: Vec<(u16, u64)>,
}

/// TCP header flags of one packet, as Wireshark lists them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub fin: bool,
    pub syn: bool,
    pub rst: bool,
    pub psh: bool,
    pub ack: bool,
}

impl TcpFlags {
    fn of(seg: &Segment) -> TcpFlags {
        TcpFlags {
            fin: seg.control == Control::Fin || seg.fin_with_rst,
            syn: seg.control == Control::Syn,
            rst: seg.control == Control::Rst,
            psh: seg.psh,
            ack: seg.ack.is_some(),
        }
    }
}

impl std::fmt::Display for TcpFlags {
    /// `FIN, ACK`, `SYN`, `RST, ACK`... in Wireshark's order; `none` without any.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (self.fin, "FIN"),
            (self.syn, "SYN"),
            (self.rst, "RST"),
            (self.psh, "PSH"),
            (self.ack, "ACK"),
        ];
        let mut first = true;
        for (set, name) in names {
            if set {
                if !first {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// One packet of a ladder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderPacket {
    pub ts: Timestamp,
    /// Input index and 1-based frame number (Wireshark's `frame.number`).
    pub input: u16,
    pub number: u64,
    /// Who sent it.
    pub from: Side,
    pub flags: TcpFlags,
    /// Sequence number relative to the sender's base (see [`Ladder::base`]).
    pub rel_seq: u32,
    /// Acknowledgment number relative to the receiver's base; `None` without the
    /// ACK bit, or when the receiver sent nothing in this connection (no base).
    pub rel_ack: Option<u32>,
    /// The raw acknowledgment number, for when there is no base to relate it to.
    pub raw_ack: Option<u32>,
    /// TCP payload length (from the IP header).
    pub len: u32,
    /// Advertised window, unscaled.
    pub window: u16,
}

/// A row of a ladder: a packet, or packets left out between two kept ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LadderRow {
    Packet(LadderPacket),
    Omitted(u64),
}

/// What sequence numbers of one side are relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqBase {
    /// The ISN of its SYN (or SYN-ACK): relative numbers are Wireshark's.
    Isn(u32),
    /// No SYN from this side in the connection: the first sequence number it sent.
    FirstSeen(u32),
    /// The side sent nothing.
    None,
}

impl SeqBase {
    fn value(self) -> Option<u32> {
        match self {
            SeqBase::Isn(v) | SeqBase::FirstSeen(v) => Some(v),
            SeqBase::None => None,
        }
    }
}

/// The collected packets of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ladder {
    pub id: u64,
    /// In capture order (the analysis' order), with the left-out stretches.
    pub rows: Vec<LadderRow>,
    /// Packets of the connection found in the second pass.
    pub packets: u64,
    /// What each side's sequence numbers are relative to: `[client, server]`.
    pub base: [SeqBase; 2],
    /// Requested evidence packets that were not found: the inputs changed since
    /// the analysis (or the request was wrong).
    pub missing: Vec<(u16, u64)>,
}

/// The result of [`collect_ladders`].
#[derive(Clone, Debug, Default)]
pub struct Ladders {
    /// By report id. Connections with no packet found are absent.
    pub ladders: BTreeMap<u64, Ladder>,
    /// Why no ladder could be collected at all (standard input among the inputs).
    pub unavailable: Option<String>,
    /// Inputs that could not be read again, or not to their end: (input index,
    /// message naming the file).
    pub problems: Vec<(usize, String)>,
}

/// Per-request state during the pass.
struct Acc {
    keep: HashSet<(u16, u64)>,
    head: Vec<(u64, LadderPacket, u32, Option<u32>)>,
    tail: VecDeque<(u64, LadderPacket, u32, Option<u32>)>,
    kept: Vec<(u64, LadderPacket, u32, Option<u32>)>,
    found: HashSet<(u16, u64)>,
    count: u64,
    first_syn_seq: [Option<u32>; 2],
    first_seq: [Option<u32>; 2],
}

impl Acc {
    fn new(req: &LadderRequest) -> Acc {
        Acc {
            keep: req.keep.iter().copied().take(MAX_KEPT).collect(),
            head: Vec::new(),
            tail: VecDeque::new(),
            kept: Vec::new(),
            found: HashSet::new(),
            count: 0,
            first_syn_seq: [None; 2],
            first_seq: [None; 2],
        }
    }

    fn push(&mut self, seg: &Segment, from: Side) {
        let s = side_index(from);
        let seq = seg.seq.0;
        if self.first_seq[s].is_none() {
            self.first_seq[s] = Some(seq);
        }
        if seg.control == Control::Syn && self.first_syn_seq[s].is_none() {
            self.first_syn_seq[s] = Some(seq);
        }
        let key = (seg.input, seg.number);
        if self.keep.contains(&key) {
            self.found.insert(key);
        }
        let packet = LadderPacket {
            ts: seg.ts,
            input: seg.input,
            number: seg.number,
            from,
            flags: TcpFlags::of(seg),
            rel_seq: 0,
            rel_ack: None,
            raw_ack: seg.ack.map(|a| a.0),
            len: seg.payload_len,
            window: seg.window,
        };
        let entry = (self.count, packet, seq, seg.ack.map(|a| a.0));
        self.count += 1;
        if self.head.len() < HEAD_PACKETS {
            self.head.push(entry);
            return;
        }
        self.tail.push_back(entry);
        if self.tail.len() > TAIL_PACKETS
            && let Some(out) = self.tail.pop_front()
            && self.keep.contains(&(out.1.input, out.1.number))
        {
            self.kept.push(out);
        }
    }

    fn finish(self, id: u64, requested: &[(u16, u64)]) -> Ladder {
        let base = [0, 1].map(|s| match (self.first_syn_seq[s], self.first_seq[s]) {
            (Some(isn), _) => SeqBase::Isn(isn),
            (None, Some(first)) => SeqBase::FirstSeen(first),
            (None, None) => SeqBase::None,
        });
        let mut rows = Vec::new();
        let mut next = 0u64;
        let all = self.head.into_iter().chain(self.kept).chain(self.tail);
        for (index, mut p, seq, ack) in all {
            if index > next {
                rows.push(LadderRow::Omitted(index - next));
            }
            next = index + 1;
            let me = side_index(p.from);
            p.rel_seq = base[me].value().map_or(seq, |b| seq.wrapping_sub(b));
            p.rel_ack = ack.and_then(|a| base[1 - me].value().map(|b| a.wrapping_sub(b)));
            rows.push(LadderRow::Packet(p));
        }
        let missing = requested
            .iter()
            .take(MAX_KEPT)
            .filter(|k| !self.found.contains(k))
            .copied()
            .collect();
        Ladder {
            id,
            rows,
            packets: self.count,
            base,
            missing,
        }
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// The wanted connections' time windows, sorted and merged where they overlap:
/// a packet outside all of them belongs to none of the wanted connections.
struct Windows(Vec<(Timestamp, Timestamp)>);

impl Windows {
    fn of(wanted: &[LadderRequest]) -> Windows {
        let mut spans: Vec<(Timestamp, Timestamp)> =
            wanted.iter().map(|w| (w.first_ts, w.last_ts)).collect();
        spans.sort_unstable();
        let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(spans.len());
        for (first, last) in spans {
            match merged.last_mut() {
                Some(prev) if first <= prev.1 => prev.1 = prev.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        Windows(merged)
    }

    fn contains(&self, ts: Timestamp) -> bool {
        // Disjoint and sorted, so the ends are sorted too.
        let i = self.0.partition_point(|&(_, last)| last < ts);
        self.0.get(i).is_some_and(|&(first, _)| first <= ts)
    }
}

/// One input being read again.
struct Reread {
    reader: Option<CaptureReader>,
    index: u16,
    /// Records outside these are not decoded. Only with one input: merging
    /// several orders their segments by the timestamps of all of them (a file
    /// whose clock steps back interleaves differently without some), so there
    /// every TCP segment is decoded, as in the analysis.
    only: Option<Windows>,
}

impl Reread {
    fn next_segment(&mut self, problems: &mut Vec<(usize, String)>, name: &str) -> Option<Segment> {
        let reader = self.reader.as_mut()?;
        loop {
            match reader.next_packet() {
                Ok(Some(raw)) => {
                    if self.only.as_ref().is_some_and(|w| !w.contains(raw.ts)) {
                        continue;
                    }
                    if let Ok(seg) = decode::decode(&raw, self.index) {
                        return Some(seg);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    problems.push((
                        usize::from(self.index),
                        format!("{name}: reading it again stopped: {e}"),
                    ));
                    break;
                }
            }
        }
        self.reader = None;
        None
    }
}

/// Reads `inputs` again (the report's inputs, in the report's order, so that input
/// indexes match the evidence) and collects the packets of each wanted connection.
/// With `threads` above 1, large files are read ahead as in the
/// analysis ([`crate::capture::CaptureReader::read_ahead`]).
pub fn collect_ladders(inputs: &[PathBuf], wanted: &[LadderRequest], threads: usize) -> Ladders {
    collect(inputs, wanted, threads, inputs.len() == 1)
}

/// [`collect_ladders`], decoding only records inside the wanted windows when
/// `windowed` (one input; see [`Reread::only`]).
fn collect(
    inputs: &[PathBuf],
    wanted: &[LadderRequest],
    threads: usize,
    windowed: bool,
) -> Ladders {
    let mut out = Ladders::default();
    if wanted.is_empty() {
        return out;
    }
    if inputs.iter().any(|p| p.as_os_str() == "-") {
        out.unavailable = Some(
            "standard input was among the inputs and cannot be read a second time; \
             run on capture files to get ladder diagrams"
                .into(),
        );
        return out;
    }
    // Looked up twice for every segment read: ahash, not SipHash.
    let mut by_tuple: HashMap<(EndpointAddr, EndpointAddr), Vec<usize>, ahash::RandomState> =
        HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4));
    for (i, w) in wanted.iter().enumerate() {
        by_tuple.entry((w.client, w.server)).or_default().push(i);
    }
    let mut accs: Vec<Acc> = wanted.iter().map(Acc::new).collect();

    let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let mut readers: Vec<Reread> = Vec::with_capacity(inputs.len());
    for (i, path) in inputs.iter().enumerate() {
        let reader = match CaptureReader::open(path) {
            Ok((reader, _)) => Some(reader),
            Err(e) => {
                out.problems
                    .push((i, format!("{}: cannot read it again: {e}", names[i])));
                None
            }
        };
        readers.push(Reread {
            reader,
            index: u16::try_from(i).unwrap_or(u16::MAX),
            only: windowed.then(|| Windows::of(wanted)),
        });
    }
    crate::analyze::read_ahead(
        readers.iter_mut().filter_map(|r| r.reader.as_mut()),
        threads,
    );

    // The analysis' merge: each input's next segment on a heap keyed by
    // (timestamp, input index), so the per-connection order is the same.
    let mut heads: BinaryHeap<Reverse<(Timestamp, usize)>> = BinaryHeap::new();
    let mut pending: Vec<Option<Segment>> = Vec::with_capacity(readers.len());
    for (i, r) in readers.iter_mut().enumerate() {
        let seg = r.next_segment(&mut out.problems, &names[i]);
        if let Some(s) = &seg {
            heads.push(Reverse((s.ts, i)));
        }
        pending.push(seg);
    }
    while let Some(Reverse((_, i))) = heads.pop() {
        if let Some(seg) = pending[i].take() {
            let src = seg.src_endpoint();
            let dst = seg.dst_endpoint();
            for (key, from) in [((src, dst), Side::Client), ((dst, src), Side::Server)] {
                if let Some(list) = by_tuple.get(&key) {
                    for &w in list {
                        let req = &wanted[w];
                        if seg.ts >= req.first_ts && seg.ts <= req.last_ts {
                            accs[w].push(&seg, from);
                        }
                    }
                }
            }
        }
        let next = readers[i].next_segment(&mut out.problems, &names[i]);
        if let Some(s) = &next {
            heads.push(Reverse((s.ts, i)));
        }
        pending[i] = next;
    }

    for (acc, req) in accs.into_iter().zip(wanted) {
        if acc.count > 0 {
            out.ladders.insert(req.id, acc.finish(req.id, &req.keep));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_in_wiresharks_order() {
        let f = TcpFlags {
            fin: true,
            psh: true,
            ack: true,
            ..TcpFlags::default()
        };
        assert_eq!(f.to_string(), "FIN, PSH, ACK");
        assert_eq!(TcpFlags::default().to_string(), "none");
        let syn_ack = TcpFlags {
            syn: true,
            ack: true,
            ..TcpFlags::default()
        };
        assert_eq!(syn_ack.to_string(), "SYN, ACK");
    }

    fn request(first_ts: i64, last_ts: i64) -> LadderRequest {
        LadderRequest {
            id: 1,
            client: EndpointAddr {
                ip: "10.0.0.1".parse().unwrap(),
                port: 1,
            },
            server: EndpointAddr {
                ip: "10.0.0.2".parse().unwrap(),
                port: 2,
            },
            first_ts: Timestamp(first_ts),
            last_ts: Timestamp(last_ts),
            keep: Vec::new(),
        }
    }

    #[test]
    fn windows_merge_overlapping_spans_and_hold_only_their_times() {
        let w = Windows::of(&[
            request(50, 60),
            request(10, 20),
            request(15, 30),
            request(30, 30),
            request(61, 61),
        ]);
        assert_eq!(
            w.0,
            [
                (Timestamp(10), Timestamp(30)),
                (Timestamp(50), Timestamp(60)),
                (Timestamp(61), Timestamp(61)),
            ]
        );
        for inside in [10, 11, 30, 50, 55, 60, 61] {
            assert!(w.contains(Timestamp(inside)), "{inside}");
        }
        for outside in [i64::MIN, 9, 31, 49, 62, i64::MAX] {
            assert!(!w.contains(Timestamp(outside)), "{outside}");
        }
        assert!(!Windows::of(&[]).contains(Timestamp(0)));
    }

    /// Every connection of some real captures asked for at once (their windows
    /// overlap and interleave): skipping the records outside the windows finds
    /// exactly what decoding every record does.
    #[test]
    fn skipping_records_outside_the_windows_collects_the_same_ladders() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        for file in [
            "kernel/client.pcap",
            "kernel/client.pcapng",
            "kernel/server-any-s96.pcap",
            "zeek/scripts.base.protocols.ssh.basic/ssh.pcap",
            "zeek/core.cisco-fabric-path/cisco-fabric-path.pcap",
            "churn/churn.pcap",
        ] {
            let path = root.join(file);
            let mut options = crate::analyze::Options::demo(1);
            options.inputs = vec![path.clone()];
            let analysis = crate::analyze::analyze(&options);
            let wanted: Vec<LadderRequest> = analysis
                .report
                .connections
                .iter()
                .map(|c| LadderRequest {
                    id: c.id,
                    client: c.client,
                    server: c.server,
                    first_ts: c.first_ts,
                    last_ts: c.last_ts,
                    keep: Vec::new(),
                })
                .collect();
            assert!(wanted.len() > 1, "{file}");
            let inputs = [path];
            let skipping = collect(&inputs, &wanted, 1, true);
            let decoding_all = collect(&inputs, &wanted, 1, false);
            assert_eq!(skipping.ladders.len(), wanted.len(), "{file}");
            assert_eq!(skipping.ladders, decoding_all.ladders, "{file}");
        }
    }

    #[test]
    fn standard_input_is_not_read_twice() {
        let req = request(0, 1);
        let l = collect_ladders(&[PathBuf::from("-")], &[req], 1);
        assert!(l.ladders.is_empty());
        assert!(l.unavailable.is_some());
    }
}
