//! Legacy pcap: micro- and nanosecond magic, both byte orders, and the "modified"
//! (Kuznetzov) format with its 24-byte record headers.
//!
//! Headers and records are decoded by pcap-parser; this module owns the framing so
//! that a record length is checked against [`MAX_RECORD_LEN`] before anything is
//! buffered, and a short read at the end of a pipe is told apart from a truncation.

use pcap_parser::pcap::{
    PcapHeader, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
};

use super::{CaptureError, Format, LinkType, MAX_RECORD_LEN, RawPacket, Source, Warning};
use crate::time::Timestamp;

const HEADER_LEN: usize = 24;
/// The link-type field's low bits; the upper bits carry FCS information and
/// reserved bits (libpcap's `LT_LINKTYPE`).
const LINKTYPE_MASK: u32 = 0x03FF_FFFF;
const LINKTYPE_RESERVED: u32 = 0x03FF_0000;

/// True for the four magic numbers (either byte order) of the pcap family, read as
/// little-endian.
pub fn is_pcap_magic(m: u32) -> bool {
    matches!(
        m,
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1
    )
}

pub struct PcapReader {
    src: Source,
    header: PcapHeader,
    linktype: LinkType,
    record_header_len: usize,
    pub warnings: Vec<Warning>,
    number: u64,
    /// Bytes of the record handed out last, consumed on the next call.
    pending: usize,
}

impl PcapReader {
    pub fn new(mut src: Source) -> Result<PcapReader, CaptureError> {
        let head = src.fill(HEADER_LEN).map_err(|e| CaptureError::IoAt {
            offset: 0,
            source: e,
        })?;
        if head.len() < HEADER_LEN {
            return Err(CaptureError::Truncated {
                what: "pcap file header",
                offset: 0,
                needed: HEADER_LEN as u64,
                available: head.len() as u64,
            });
        }
        let header = match parse_pcap_header(&head[..HEADER_LEN]) {
            Ok((_, h)) => h,
            Err(_) => {
                return Err(CaptureError::Malformed {
                    what: "pcap file header",
                    offset: 0,
                    reason:
                        "magic number not recognised (big-endian modified pcap is not supported)"
                            .into(),
                });
            }
        };
        // libpcap reads major version 2 only (and treats 2.x alike).
        if header.version_major != 2 {
            return Err(CaptureError::UnsupportedVersion {
                format: "pcap",
                major: header.version_major,
                minor: header.version_minor,
            });
        }
        src.consume(HEADER_LEN);
        let record_header_len = if header.is_modified_format() { 24 } else { 16 };
        let raw_linktype = header.network.0 as u32;
        let mut warnings = Vec::new();
        if raw_linktype & LINKTYPE_RESERVED != 0 {
            warnings.push(Warning {
                offset: Some(20),
                packet: None,
                message: format!(
                    "link-type field {raw_linktype:#010x} has reserved bits set; using link type {}",
                    raw_linktype & 0xffff
                ),
            });
        }
        let linktype = if raw_linktype & LINKTYPE_RESERVED != 0 {
            LinkType(raw_linktype & 0xffff)
        } else {
            LinkType(raw_linktype & LINKTYPE_MASK)
        };
        Ok(PcapReader {
            src,
            header,
            linktype,
            record_header_len,
            warnings,
            number: 0,
            pending: 0,
        })
    }

    pub fn format(&self) -> Format {
        if self.header.is_modified_format() {
            Format::PcapModified
        } else if self.header.is_nanosecond_precision() {
            Format::PcapNsec
        } else {
            Format::Pcap
        }
    }

    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    pub fn read_ahead(&mut self) {
        self.src.read_ahead();
    }

    pub fn progress(&self) -> (u64, Option<u64>) {
        self.src.progress()
    }

    pub fn offset(&self) -> u64 {
        self.src.offset() + self.pending as u64
    }

    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        self.src.consume(std::mem::take(&mut self.pending));
        let offset = self.src.offset();
        let hlen = self.record_header_len;
        let big = self.header.is_bigendian();
        let io = |e| CaptureError::IoAt { offset, source: e };
        let head = self.src.fill(hlen).map_err(io)?;
        if head.is_empty() {
            return Ok(None);
        }
        if head.len() < hlen {
            return Err(CaptureError::Truncated {
                what: "record header",
                offset,
                needed: hlen as u64,
                available: head.len() as u64,
            });
        }
        let caplen_bytes = [head[8], head[9], head[10], head[11]];
        let caplen = if big {
            u32::from_be_bytes(caplen_bytes)
        } else {
            u32::from_le_bytes(caplen_bytes)
        } as usize;
        if caplen > MAX_RECORD_LEN {
            return Err(CaptureError::Oversized {
                what: "record",
                offset,
                len: caplen as u64,
                limit: MAX_RECORD_LEN as u64,
            });
        }
        let total = hlen + caplen;
        let buf = self.src.fill(total).map_err(io)?;
        if buf.len() < total {
            return Err(CaptureError::Truncated {
                what: "record",
                offset,
                needed: total as u64,
                available: buf.len() as u64,
            });
        }
        let record = &buf[..total];
        let parsed = if self.header.is_modified_format() {
            parse_pcap_frame_modified(record)
        } else if big {
            parse_pcap_frame_be(record)
        } else {
            parse_pcap_frame(record)
        };
        let block = parsed.map_err(|e| CaptureError::Malformed {
            what: "record",
            offset,
            reason: format!("{e:?}"),
        })?;
        let block = block.1;
        self.number += 1;
        self.pending = total;
        let frac = i64::from(block.ts_usec);
        let nanos = if self.header.is_nanosecond_precision() {
            frac
        } else {
            frac * 1000
        };
        Ok(Some(RawPacket {
            number: self.number,
            offset,
            ts: Timestamp::from_secs_nanos(i64::from(block.ts_sec), nanos),
            linktype: self.linktype,
            data: block.data,
            orig_len: block.origlen,
        }))
    }
}
