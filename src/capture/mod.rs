//! Capture reading: files, pipes and compressed streams in, raw link-layer records out.
//!
//! One module per format (`pcap`, `pcapng`), both reading from a [`Source`]. Readers
//! are lenient: a problem that only affects one record or block becomes a
//! [`Warning`] and reading goes on; a problem that makes the rest of the file
//! unreadable (a truncated record, a length no real capture has) ends the file with a
//! [`CaptureError`] naming the byte offset, and everything read before it is kept.

pub mod linktype;
pub mod pcap;
pub mod pcapng;
pub mod source;

use std::path::Path;

use serde::Serialize;
use thiserror::Error;

pub use linktype::LinkType;
pub use source::{Compression, Source};

use crate::time::Timestamp;

/// The largest record we buffer. libpcap refuses records above 256 KiB for every
/// link type we decode; pcapng blocks get the same bound plus their own overhead.
pub const MAX_RECORD_LEN: usize = 256 * 1024;
/// The largest pcapng block of any type we read (interface and name blocks can carry
/// long option lists, so this is looser than a record).
pub const MAX_BLOCK_LEN: usize = 16 * 1024 * 1024;

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Debug)]
pub struct RawPacket<'a> {
    /// 1-based record number in this input, as Wireshark numbers frames.
    pub number: u64,
    /// Byte offset of the record in the (decompressed) input.
    pub offset: u64,
    pub ts: Timestamp,
    pub linktype: LinkType,
    /// The captured bytes (may be shorter than the frame on the wire).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}

/// The container format of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Legacy pcap with microsecond timestamps.
    Pcap,
    /// Legacy pcap with nanosecond timestamps (magic `a1b23c4d`).
    PcapNsec,
    /// Kuznetzov's modified pcap (magic `a1b2cd34`, 24-byte record headers).
    PcapModified,
    Pcapng,
}

/// Something that stops reading a file; what was read before it is kept.
#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("I/O error at offset {offset}: {source}")]
    IoAt { offset: u64, source: std::io::Error },
    #[error("empty file")]
    Empty,
    #[error("not a pcap or pcapng capture (starts with {0})")]
    NotACapture(String),
    #[error("unsupported {format} version {major}.{minor}")]
    UnsupportedVersion {
        format: &'static str,
        major: u16,
        minor: u16,
    },
    #[error("truncated {what} at offset {offset}: {needed} bytes needed, {available} present")]
    Truncated {
        what: &'static str,
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error("{what} at offset {offset} claims {len} bytes, more than the {limit}-byte limit")]
    Oversized {
        what: &'static str,
        offset: u64,
        len: u64,
        limit: u64,
    },
    #[error("malformed {what} at offset {offset}: {reason}")]
    Malformed {
        what: &'static str,
        offset: u64,
        reason: String,
    },
    /// A file closed between reads (`Reopen`) could not be read again
    /// where it had stopped.
    #[error("closed between reads and not the same when opened again: {0}")]
    Reopened(String),
}

/// A capture file closed between reads, and where to go on: a directory of
/// rotated captures is read one file after the other, so only the files whose
/// packets interleave need to be open at once ([`Reopen::unpark`]).
#[derive(Debug)]
pub struct Reopen {
    path: std::path::PathBuf,
    /// The file's device and inode when it was opened first: a path rotated
    /// to another file since is not read again.
    id: (u64, u64),
    /// Records the reader had returned.
    records: u64,
    /// Closed between reads: the next read opens it again.
    parked: bool,
}

impl Reopen {
    /// What reopening the regular file at `path` needs; `None` for standard
    /// input, a pipe or a device, which cannot be read again.
    pub fn of(path: &Path) -> Option<Reopen> {
        if path.as_os_str() == "-" {
            return None;
        }
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        Some(Reopen {
            path: path.to_path_buf(),
            id: file_id(&meta),
            records: 0,
            parked: false,
        })
    }

    /// The same, for a file not opened yet: its first read opens it.
    pub fn unopened(mut self) -> Reopen {
        self.parked = true;
        self
    }

    /// Closes `reader` (of this file), noting where it stopped.
    pub fn park(&mut self, reader: CaptureReader) {
        self.records = reader.records();
        self.parked = true;
    }

    /// The file opened again where it stopped, when it was parked.
    #[inline]
    pub fn unpark(&mut self) -> Option<Result<CaptureReader, CaptureError>> {
        if !self.parked {
            return None;
        }
        self.parked = false;
        Some(CaptureReader::reopen(self))
    }
}

/// A non-fatal problem, recorded in the report's `inputs[].warnings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Byte offset in the (decompressed) input, when the problem has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// 1-based packet number, when the problem concerns one packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<u64>,
    /// What went wrong and what was skipped.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.packet, self.offset) {
            (Some(p), Some(o)) => write!(f, "packet {p} (offset {o}): {}", self.message),
            (Some(p), None) => write!(f, "packet {p}: {}", self.message),
            (None, Some(o)) => write!(f, "offset {o}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// How far (in nanoseconds) a record's timestamp may go back from the previous
/// record's before its input gets a warning: captures merged from several
/// interfaces or written by several threads interleave by less.
const BACKWARDS_WARN_NS: i64 = Timestamp::NANOS_PER_SEC;

/// Watches one input's timestamps for the first that goes back by more than
/// [`BACKWARDS_WARN_NS`] from the previous record's, or that does not fit in
/// 64-bit nanoseconds (the reader saturated it). Such timestamps are kept as
/// they are; the input gets one warning, not one per record.
#[derive(Debug)]
pub(crate) struct TimestampCheck {
    /// The previous record's timestamp (`i64::MIN` before the first).
    last: Timestamp,
    warned: bool,
}

impl Default for TimestampCheck {
    fn default() -> TimestampCheck {
        TimestampCheck {
            last: Timestamp(i64::MIN),
            warned: false,
        }
    }
}

impl TimestampCheck {
    /// The warning for the record stamped `ts`, the first time there is one.
    /// Called for every record: the common case is two comparisons, the
    /// warning's text is made out of line.
    #[inline]
    pub(crate) fn check(&mut self, ts: Timestamp, saturated: bool) -> Option<String> {
        let prev = std::mem::replace(&mut self.last, ts);
        if self.warned || (!saturated && prev.0.saturating_sub(ts.0) <= BACKWARDS_WARN_NS) {
            return None;
        }
        self.warned = true;
        Some(Self::warning(prev, ts, saturated))
    }

    #[cold]
    #[inline(never)]
    fn warning(prev: Timestamp, ts: Timestamp, saturated: bool) -> String {
        let problem = if saturated {
            "timestamp out of range: the interface's if_tsresol or if_tsoffset put it \
             past what 64-bit nanoseconds since 1970 hold (years 1678 to 2262), so it \
             was clamped"
                .to_string()
        } else {
            format!(
                "timestamp goes back {} s from the previous record's ({} to {}): \
                 records are out of time order, so first and last times and durations \
                 may be wrong",
                prev.secs_since(ts),
                prev.as_secs_f64(),
                ts.as_secs_f64()
            )
        };
        format!("{problem}; later timestamp problems in this input are not reported")
    }
}

/// The 32-bit field at `at` of `b`, in the file's byte order.
pub(crate) fn read_u32(b: &[u8], at: usize, big: bool) -> u32 {
    let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(x)
    } else {
        u32::from_le_bytes(x)
    }
}

/// How many capture files the analysis keeps open at once (the others are
/// closed between reads, `Reopen`): the soft limit on open files less 64 for
/// everything else (outputs, standard streams, the second HTML pass), at
/// least 4, and at most 1,024, as each open input holds its read buffers
/// (128 KiB for a small plain file, a few MiB for a large or compressed one).
/// The binary raises the soft limit to the hard one first.
pub fn open_files_allowed() -> usize {
    #[cfg(unix)]
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    #[cfg(not(unix))]
    let soft: Option<u64> = None;
    let soft = soft.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    soft.saturating_sub(64).clamp(4, 1024)
}

/// A file's device and inode: the same file, whatever path or link led to it.
#[cfg(unix)]
pub(crate) fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
pub(crate) fn file_id(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// A reader for either container format.
pub enum CaptureReader {
    Pcap(pcap::PcapReader),
    Pcapng(pcapng::PcapNgReader),
}

impl CaptureReader {
    /// Opens `path` (`-` for stdin), detecting compression and format by magic bytes.
    pub fn open(path: &Path) -> Result<(CaptureReader, Compression), CaptureError> {
        let (source, compression) = Source::open(path)?;
        Ok((Self::from_source(source)?, compression))
    }

    /// Opens `at`'s file again and reads past the records a closed reader had
    /// returned, so the next record is the one that reader would have
    /// returned. The records read past were told before: their warnings are
    /// dropped. Reading them again costs their framing, not their decoding.
    fn reopen(at: &Reopen) -> Result<CaptureReader, CaptureError> {
        let now = std::fs::metadata(&at.path)?;
        if file_id(&now) != at.id {
            return Err(CaptureError::Reopened(
                "another file has taken its name (rotated?)".into(),
            ));
        }
        let (mut reader, _) = Self::open(&at.path)?;
        while reader.records() < at.records {
            if reader.next_packet()?.is_none() {
                return Err(CaptureError::Reopened(format!(
                    "it now ends before record {}",
                    at.records
                )));
            }
        }
        reader.take_warnings();
        Ok(reader)
    }

    /// Records returned so far (the last one's [`RawPacket::number`]).
    pub fn records(&self) -> u64 {
        match self {
            CaptureReader::Pcap(r) => r.number,
            CaptureReader::Pcapng(r) => r.number,
        }
    }

    /// Detects the format of an already opened source.
    pub fn from_source(mut source: Source) -> Result<CaptureReader, CaptureError> {
        let head = source.fill(4).map_err(|e| CaptureError::IoAt {
            offset: 0,
            source: e,
        })?;
        if head.is_empty() {
            return Err(CaptureError::Empty);
        }
        if head.len() < 4 {
            return Err(CaptureError::NotACapture(hex_prefix(head)));
        }
        let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        match magic {
            pcapng::SHB_TYPE => Ok(CaptureReader::Pcapng(pcapng::PcapNgReader::new(source)?)),
            m if pcap::is_pcap_magic(m) => Ok(CaptureReader::Pcap(pcap::PcapReader::new(source)?)),
            _ => Err(CaptureError::NotACapture(hex_prefix(head))),
        }
    }

    /// The next record, `Ok(None)` at a clean end of input.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        match self {
            CaptureReader::Pcap(r) => r.next_packet(),
            CaptureReader::Pcapng(r) => r.next_packet(),
        }
    }

    pub fn format(&self) -> Format {
        match self {
            CaptureReader::Pcap(r) => r.format(),
            CaptureReader::Pcapng(_) => Format::Pcapng,
        }
    }

    /// Warnings about blocks or records that were skipped, drained by the caller.
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        match self {
            CaptureReader::Pcap(r) => std::mem::take(&mut r.warnings),
            CaptureReader::Pcapng(r) => std::mem::take(&mut r.warnings),
        }
    }

    /// Interfaces declared in a pcapng file (names and descriptions are capture text:
    /// renderers must escape them).
    /// A pcapng file's interfaces (the first `MAX_INTERFACES_LISTED`) and how
    /// many more it declared.
    pub fn interfaces(&self) -> (Vec<pcapng::InterfaceInfo>, u64) {
        match self {
            CaptureReader::Pcap(_) => (Vec::new(), 0),
            CaptureReader::Pcapng(r) => r.interface_infos(),
        }
    }

    /// Reads (and decompresses) on a thread of its own from now on, a few
    /// MiB ahead of the caller ([`Source::read_ahead`]).
    pub fn read_ahead(&mut self) {
        match self {
            CaptureReader::Pcap(r) => r.read_ahead(),
            CaptureReader::Pcapng(r) => r.read_ahead(),
        }
    }

    /// Bytes of the file read so far and its size when known (the compressed
    /// ones for a compressed file), for a progress bar ([`Source::progress`]).
    pub fn progress(&self) -> (u64, Option<u64>) {
        match self {
            CaptureReader::Pcap(r) => r.progress(),
            CaptureReader::Pcapng(r) => r.progress(),
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        match self {
            CaptureReader::Pcap(r) => r.offset(),
            CaptureReader::Pcapng(r) => r.offset(),
        }
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Timestamp {
        Timestamp((s * 1e9) as i64)
    }

    #[test]
    fn a_timestamp_going_back_more_than_a_second_warns_once() {
        let mut check = TimestampCheck::default();
        // Forward jumps and interleaving by under a second are no problem.
        for t in [100.0, 100.5, 100.2, 5000.0, 4999.1] {
            assert_eq!(check.check(secs(t), false), None, "{t}");
        }
        let w = check.check(secs(4000.0), false).unwrap();
        assert!(w.contains("goes back 999.1 s"), "{w}");
        assert!(w.contains("not reported"), "{w}");
        // Once per input.
        assert_eq!(check.check(secs(10.0), false), None);
        assert_eq!(check.check(secs(10.0), true), None);
    }

    #[test]
    fn a_saturated_timestamp_warns_once() {
        let mut check = TimestampCheck::default();
        let w = check.check(Timestamp(i64::MAX), true).unwrap();
        assert!(w.contains("out of range"), "{w}");
        assert_eq!(check.check(secs(1.0), false), None);
    }
}
