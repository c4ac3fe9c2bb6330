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

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use super::inputs::read_ahead;
use super::merge::{Park, first_segments, read_all};
use crate::capture::{CaptureReader, Reopen};
use crate::decode::{self, Control, EndpointAddr, Segment};
use crate::flow::Side;
use crate::report::FileStamp;
use crate::report::ladder::{
    HEAD_PACKETS, Ladder, LadderPacket, LadderRequest, LadderRow, Ladders, MAX_KEPT, SeqBase,
    TAIL_PACKETS,
};
use crate::time::Timestamp;

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
            flags: seg.flags,
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
    /// How to open it again, and whether it is closed between reads
    /// ([`Park`]).
    reopen: Option<Reopen>,
    index: u16,
    /// Records outside these are not decoded. Only with one input: merging
    /// several orders their segments by the timestamps of all of them (a file
    /// whose clock steps back interleaves differently without some), so there
    /// every TCP segment is decoded, as in the analysis.
    only: Option<Windows>,
}

impl Reread {
    fn next_segment(
        &mut self,
        problems: &mut Vec<(usize, String)>,
        names: &[String],
    ) -> Option<Segment> {
        let name = &names[usize::from(self.index)];
        match self.reopen.as_mut().and_then(Reopen::unpark) {
            Some(Ok(reader)) => self.reader = Some(reader),
            Some(Err(e)) => problems.push((
                usize::from(self.index),
                format!("{name}: reading it again stopped: {e}"),
            )),
            None => {}
        }
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

impl Park for Reread {
    fn is_open(&self) -> bool {
        self.reader.is_some()
    }

    fn can_park(&self) -> bool {
        self.reader.is_some() && self.reopen.is_some()
    }

    fn park(&mut self) {
        if let (Some(at), Some(reader)) = (&mut self.reopen, self.reader.take()) {
            at.park(reader);
        }
    }
}

/// Reads `inputs` again (the report's inputs, in the report's order, so that input
/// indexes match the evidence) and collects the packets of each wanted connection.
/// With `threads` above 1, large files are read ahead as in the
/// analysis ([`crate::capture::CaptureReader::read_ahead`]).
pub fn collect_ladders(
    inputs: &[(PathBuf, Option<FileStamp>)],
    wanted: &[LadderRequest],
    threads: usize,
) -> Ladders {
    collect(inputs, wanted, threads, inputs.len() == 1)
}

/// [`collect_ladders`], decoding only records inside the wanted windows when
/// `windowed` (one input; see [`Reread::only`]).
fn collect(
    inputs: &[(PathBuf, Option<FileStamp>)],
    wanted: &[LadderRequest],
    threads: usize,
    windowed: bool,
) -> Ladders {
    let mut out = Ladders::default();
    if wanted.is_empty() {
        return out;
    }
    if inputs.iter().any(|(p, _)| p.as_os_str() == "-") {
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

    let names: Vec<String> = inputs
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let max_open = crate::capture::open_files_allowed();
    let mut readers: Vec<Reread> = Vec::with_capacity(inputs.len());
    for (i, (path, stamp)) in inputs.iter().enumerate() {
        // Only the file the analysis read: a pipe or device cannot be read
        // again (a FIFO would wait for a writer that is gone), and a file
        // rotated or rewritten since would draw another capture's packets.
        let now = FileStamp::of(path);
        let reopen = Reopen::of(path);
        // Past the budget, opened when the merge reads it.
        let parked = i >= max_open && reopen.is_some() && now == *stamp;
        let reader = if stamp.is_none() {
            out.problems.push((
                i,
                format!(
                    "{}: not a regular file, so not read a second time",
                    names[i]
                ),
            ));
            None
        } else if now != *stamp {
            out.problems.push((
                i,
                format!(
                    "{}: changed since the analysis (rotated or rewritten), so not read again",
                    names[i]
                ),
            ));
            None
        } else if parked {
            None
        } else {
            match CaptureReader::open(path) {
                Ok((reader, _)) => Some(reader),
                Err(e) => {
                    out.problems
                        .push((i, format!("{}: cannot read it again: {e}", names[i])));
                    None
                }
            }
        };
        readers.push(Reread {
            reader,
            reopen: if parked {
                reopen.map(Reopen::unopened)
            } else {
                reopen
            },
            index: u16::try_from(i).unwrap_or(u16::MAX),
            only: windowed.then(|| Windows::of(wanted)),
        });
    }
    read_ahead(
        readers.iter_mut().filter_map(|r| r.reader.as_mut()),
        threads,
    );

    // The analysis' merge, so the per-connection order is the same.
    let mut problems = Vec::new();
    let mut next_of = |r: &mut Reread| r.next_segment(&mut problems, &names);
    let pending: Vec<Option<Segment>> = first_segments(&mut readers, max_open, &mut next_of);
    read_all(
        &mut readers,
        pending,
        max_open,
        |_, _| {},
        next_of,
        |seg| {
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
            true
        },
    );
    out.problems.extend(problems);

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
            let mut options = crate::pipeline::Options::demo(1);
            options.inputs = vec![path.clone()];
            let analysis = crate::pipeline::analyze(&options);
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
            let inputs = [(path.clone(), FileStamp::of(&path))];
            let skipping = collect(&inputs, &wanted, 1, true);
            let decoding_all = collect(&inputs, &wanted, 1, false);
            assert_eq!(skipping.ladders.len(), wanted.len(), "{file}");
            assert_eq!(skipping.ladders, decoding_all.ladders, "{file}");
        }
    }

    #[test]
    fn standard_input_is_not_read_twice() {
        let req = request(0, 1);
        let l = collect_ladders(&[(PathBuf::from("-"), None)], &[req], 1);
        assert!(l.ladders.is_empty());
        assert!(l.unavailable.is_some());
    }

    /// Issue 35, D7: the second pass reads only the file the analysis read;
    /// a file rewritten since, or a pipe, gets a note instead of ladders of
    /// another capture.
    #[test]
    fn a_file_changed_since_the_analysis_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rotating.pcap");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(root.join("fixtures/kernel/client.pcap"), &path).unwrap();
        let stamp = FileStamp::of(&path);
        assert!(stamp.is_some());
        let req = request(0, i64::MAX);
        // Rotated: another capture under the same name.
        std::fs::copy(root.join("fixtures/kernel/client-rot1.pcap"), &path).unwrap();
        let l = collect_ladders(&[(path.clone(), stamp)], std::slice::from_ref(&req), 1);
        assert!(l.ladders.is_empty());
        assert!(
            l.problems[0].1.contains("changed since the analysis"),
            "{:?}",
            l.problems
        );
        // Not a regular file when the analysis read it: not read again.
        let l = collect_ladders(&[(path, None)], &[req], 1);
        assert!(
            l.problems[0].1.contains("not a regular file"),
            "{:?}",
            l.problems
        );
    }
}
