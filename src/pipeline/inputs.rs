//! Opening the inputs (directories expanded) and reading each one's TCP
//! segments, counting what is not TCP.

use std::path::{Path, PathBuf};

use super::Options;
use super::merge::Park;
use super::shard::Routed;
use crate::capture::{
    CaptureError, CaptureReader, Compression, LinkType, Reopen, Warning, file_id,
};
use crate::decode::{self, Segment, Skip};
use crate::report::{FileStamp, InputReport, LinkTypeCount, Skipped};
use crate::time::Timestamp;

pub(super) struct Input {
    pub(super) index: u16,
    pub(super) reader: Option<CaptureReader>,
    pub(super) report: InputReport,
    /// Size of the input when known (regular files, compressed or not), in
    /// the bytes [`CaptureReader::progress`] counts.
    pub(super) total_len: Option<u64>,
    /// How far reading had come when the reader was dropped.
    pub(super) final_progress: u64,
    /// How to open the file again (a regular file), and whether it is
    /// closed between reads ([`super::merge::Park`]).
    reopen: Option<Reopen>,
}

impl Input {
    fn failed(path: String, err: &dyn std::fmt::Display) -> Input {
        let mut report = empty_input_report(path);
        report.error = Some(err.to_string());
        Input {
            index: 0,
            reader: None,
            report,
            total_len: Some(0),
            final_progress: 0,
            reopen: None,
        }
    }

    /// How far reading has come, in the bytes [`Input::total_len`] counts.
    pub(super) fn progress(&self) -> u64 {
        self.reader
            .as_ref()
            .map_or(self.final_progress, |r| r.progress().0)
    }

    /// The next TCP segment of this input, counting everything else.
    pub(super) fn next_segment(&mut self) -> Option<Segment> {
        self.next_with(decode::decode)
    }

    /// The next TCP segment of this input, located when it can be and decoded
    /// otherwise ([`Routed`]).
    pub(super) fn next_routed(&mut self) -> Option<Routed> {
        self.next_with(|raw, input| match decode::locate(raw, input) {
            Some(located) => Ok(Routed::Located(located)),
            None => decode::decode(raw, input).map(Routed::Segment),
        })
    }

    /// The next record of this input that `decode` makes something of,
    /// counting the others.
    #[inline]
    fn next_with<T>(
        &mut self,
        decode: impl Fn(&crate::capture::RawPacket<'_>, u16) -> Result<T, Skip>,
    ) -> Option<T> {
        if let Some(reopened) = self.reopen.as_mut().and_then(Reopen::unpark) {
            match reopened {
                Ok(reader) => self.reader = Some(reader),
                Err(e) => self.report.error = Some(e.to_string()),
            }
        }
        let reader = self.reader.as_mut()?;
        loop {
            match reader.next_packet() {
                Ok(Some(raw)) => {
                    let r = &mut self.report;
                    r.packets += 1;
                    r.bytes += raw.data.len() as u64;
                    r.first_ts = Some(r.first_ts.map_or(raw.ts, |t| t.min(raw.ts)));
                    r.last_ts = Some(r.last_ts.map_or(raw.ts, |t| t.max(raw.ts)));
                    count_link_type(&mut r.link_types, raw.linktype);
                    match decode(&raw, self.index) {
                        Ok(seg) => {
                            r.tcp_packets += 1;
                            return Some(seg);
                        }
                        Err(skip) => count_skip(&mut r.skipped, skip),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.report.error = Some(e.to_string());
                    break;
                }
            }
        }
        // End of this input: collect what the reader noted.
        if let Some(mut reader) = self.reader.take() {
            self.final_progress = reader.progress().0;
            self.report.warnings.extend(reader.take_warnings());
            (self.report.interfaces, self.report.interfaces_omitted) = reader.interfaces();
        }
        for lt in &self.report.link_types {
            if !lt.linktype.is_supported() {
                self.report.warnings.push(Warning {
                    offset: None,
                    packet: None,
                    message: format!(
                        "{} packets with unsupported {} skipped",
                        lt.packets, lt.linktype
                    ),
                });
            }
        }
        None
    }
}

impl super::merge::Park for Input {
    fn is_open(&self) -> bool {
        self.reader.is_some()
    }

    fn can_park(&self) -> bool {
        self.reader.is_some() && self.reopen.is_some()
    }

    fn park(&mut self) {
        if let (Some(at), Some(mut reader)) = (&mut self.reopen, self.reader.take()) {
            self.final_progress = reader.progress().0;
            self.report.warnings.extend(reader.take_warnings());
            at.park(reader);
        }
    }
}

/// The last timestamp of the whole capture.
pub(super) fn capture_end(inputs: &[Input]) -> Timestamp {
    inputs
        .iter()
        .filter_map(|i| i.report.last_ts)
        .max()
        .unwrap_or_default()
}

pub(super) fn empty_input_report(path: String) -> InputReport {
    InputReport {
        path,
        format: None,
        compression: Compression::None,
        packets: 0,
        bytes: 0,
        tcp_packets: 0,
        first_ts: None,
        last_ts: None,
        link_types: Vec::new(),
        skipped: Skipped::default(),
        interfaces: Vec::new(),
        interfaces_omitted: 0,
        stamp: None,
        warnings: Vec::new(),
        error: None,
    }
}

#[inline]
pub(super) fn count_link_type(counts: &mut Vec<LinkTypeCount>, linktype: LinkType) {
    // Nearly always the link type of the packet before.
    if let Some(c) = counts.last_mut()
        && c.linktype == linktype
    {
        c.packets += 1;
        return;
    }
    match counts.iter_mut().find(|c| c.linktype == linktype) {
        Some(c) => c.packets += 1,
        None => counts.push(LinkTypeCount {
            linktype,
            name: linktype.name(),
            packets: 1,
        }),
    }
}

pub(super) fn count_skip(s: &mut Skipped, skip: Skip) {
    match skip {
        Skip::UnsupportedLinkType(_) => s.unsupported_link_type += 1,
        Skip::NotIp => s.not_ip += 1,
        Skip::NotTcp => s.not_tcp += 1,
        Skip::Fragment => s.fragments += 1,
        Skip::TooShort => s.too_short += 1,
        Skip::Malformed => s.malformed += 1,
    }
}

/// What the inputs name: each file, with the named directory it was found in
/// (recursively, sorted by path; symbolic links followed, a loop cut where a
/// directory comes round again), and the directories that could not be read.
pub(super) struct Expanded {
    /// The files, each with the index in `options.inputs` of the directory
    /// it was found in (`None`: named itself).
    pub(super) files: Vec<(PathBuf, Option<usize>)>,
    /// Messages for directories or entries that could not be read.
    pub(super) problems: Vec<String>,
}

pub(super) fn expand(inputs: &[PathBuf]) -> Expanded {
    let mut out = Expanded {
        files: Vec::new(),
        problems: Vec::new(),
    };
    for (i, p) in inputs.iter().enumerate() {
        if p.is_dir() {
            let mut files = Vec::new();
            let mut seen = Vec::new();
            walk(p, &mut files, &mut seen, &mut out.problems);
            files.sort();
            out.files.extend(files.into_iter().map(|f| (f, Some(i))));
        } else {
            out.files.push((p.clone(), None));
        }
    }
    out
}

/// The files under `dir`. `seen` holds the (device, inode) of the
/// directories on the way down, so a link back up is not followed again.
fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    seen: &mut Vec<(u64, u64)>,
    problems: &mut Vec<String>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(format!(
                "teardown: {}: cannot read the directory: {e}",
                dir.display()
            ));
            return;
        }
    };
    if let Ok(meta) = std::fs::metadata(dir) {
        let id = file_id(&meta);
        if seen.contains(&id) {
            return;
        }
        seen.push(id);
    }
    for e in entries {
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                problems.push(format!(
                    "teardown: {}: cannot read the directory: {err}",
                    dir.display()
                ));
                continue;
            }
        };
        let path = e.path();
        // Through symbolic links: a link to a capture is a capture.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, out, seen, problems),
            Ok(m) if m.is_file() => out.push(path),
            Ok(_) => {}
            Err(err) => problems.push(format!("teardown: {}: {err}", path.display())),
        }
    }
    seen.pop();
}

/// Opens every input, leaving at most `max_open` of them open (the others
/// are opened again when the merge reads them).
pub(super) fn open_inputs(
    options: &Options,
    max_open: usize,
    messages: &mut Vec<String>,
) -> (Vec<Input>, usize) {
    let mut inputs = Vec::new();
    let mut open = 0usize;
    let expanded = expand(&options.inputs);
    let mut unreadable = expanded.problems.len();
    messages.extend(expanded.problems);
    // Captures opened from each named directory.
    let mut found = vec![0usize; options.inputs.len()];
    for (path, from_dir) in expanded.files {
        let name = path.display().to_string();
        match CaptureReader::open(&path) {
            Ok((reader, compression)) => {
                let mut report = empty_input_report(name);
                report.format = Some(reader.format());
                report.compression = compression;
                report.stamp = FileStamp::of(&path);
                if let Some(d) = from_dir {
                    found[d] += 1;
                }
                let mut input = Input {
                    index: 0,
                    total_len: reader.progress().1,
                    reader: Some(reader),
                    report,
                    final_progress: 0,
                    reopen: Reopen::of(&path),
                };
                // Past the budget, closed until the merge reads it.
                if open < max_open || !input.can_park() {
                    open += 1;
                } else {
                    input.park();
                }
                inputs.push(input);
            }
            Err(CaptureError::NotACapture(_) | CaptureError::Empty) if from_dir.is_some() => {
                messages.push(format!("teardown: {name}: skipped, not a capture file"));
            }
            Err(e) => {
                messages.push(format!("teardown: {name}: {e}"));
                unreadable += 1;
                inputs.push(Input::failed(name, &e));
            }
        }
    }
    for (dir, n) in options.inputs.iter().zip(found) {
        if n == 0 && dir.is_dir() {
            messages.push(format!(
                "teardown: {}: no capture file in this directory",
                dir.display()
            ));
            unreadable += 1;
        }
    }
    for (i, input) in inputs.iter_mut().enumerate() {
        input.index = u16::try_from(i).unwrap_or(u16::MAX);
    }
    (inputs, unreadable)
}

/// With more than one thread, inputs up to this many are read (and
/// decompressed) each by a thread of its own, ahead of the decoding: a few MiB
/// each. More inputs are read on the reading thread: a directory of rotated
/// files is read one file after the other anyway.
pub(super) const READ_AHEAD_INPUTS: usize = 4;

/// Starts reading ahead ([`CaptureReader::read_ahead`]) for each of `readers`
/// when `threads` allows and they are few enough ([`READ_AHEAD_INPUTS`]).
pub(crate) fn read_ahead<'r>(readers: impl Iterator<Item = &'r mut CaptureReader>, threads: usize) {
    if threads < 2 {
        return;
    }
    let readers: Vec<_> = readers.collect();
    if readers.len() <= READ_AHEAD_INPUTS {
        for reader in readers {
            reader.read_ahead();
        }
    }
}
