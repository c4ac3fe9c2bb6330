//! Legacy pcap: micro- and nanosecond magic, both byte orders, and the "modified"
//! (Kuznetzov) format with its 24-byte record headers.
//!
//! File headers are decoded by pcap-parser (but for the big-endian modified format,
//! which it does not know); this module owns the framing so that a record length is
//! checked against [`MAX_RECORD_LEN`] before anything is buffered, and a short read at
//! the end of a pipe is told apart from a truncation. A record header's four fields
//! are read here, in the file's byte order, whatever its length.

use pcap_parser::Linktype;
use pcap_parser::pcap::{PcapHeader, parse_pcap_header};

use super::{
    CaptureError, Format, LinkType, MAX_RECORD_LEN, RawPacket, Source, TimestampCheck, Warning,
    read_u32,
};
use crate::time::Timestamp;

const HEADER_LEN: usize = 24;
/// The link-type field's low bits; the upper bits carry FCS information and
/// reserved bits (libpcap's `LT_LINKTYPE`).
const LINKTYPE_MASK: u32 = 0x03FF_FFFF;
const LINKTYPE_RESERVED: u32 = 0x03FF_0000;
/// Kuznetzov's modified magic `a1b2cd34` written big-endian, read as little-endian.
/// libpcap and Wireshark (`PCAP_SWAPPED_MODIFIED_MAGIC`) read it; pcap-parser does not.
const MODIFIED_MAGIC_SWAPPED: u32 = 0x34cd_b2a1;

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
    /// Kuznetzov's modified format (24-byte record headers), in either byte order.
    modified: bool,
    record_header_len: usize,
    pub warnings: Vec<Warning>,
    timestamps: TimestampCheck,
    pub(super) number: u64,
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
            Err(_) if read_u32(head, 0, false) == MODIFIED_MAGIC_SWAPPED => {
                swapped_modified_header(&head[..HEADER_LEN])
            }
            Err(_) => {
                return Err(CaptureError::Malformed {
                    what: "pcap file header",
                    offset: 0,
                    reason: "magic number not recognised".into(),
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
        let modified = header.is_modified_format() || header.magic_number == MODIFIED_MAGIC_SWAPPED;
        let record_header_len = if modified { 24 } else { 16 };
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
            modified,
            record_header_len,
            warnings,
            timestamps: TimestampCheck::default(),
            number: 0,
            pending: 0,
        })
    }

    pub fn format(&self) -> Format {
        if self.modified {
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
        let caplen = read_u32(head, 8, big) as usize;
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
        // ts_sec, ts_usec (or nanoseconds), caplen, orig_len; the modified
        // format's 8 more bytes (interface index, protocol, packet type) are not used.
        let fields: &[u8; 16] = buf[..16]
            .try_into()
            .expect("a record header is 16 bytes or more");
        let (ts_sec, ts_frac) = (read_u32(fields, 0, big), read_u32(fields, 4, big));
        let orig_len = read_u32(fields, 12, big);
        let data = &buf[hlen..total];
        self.number += 1;
        self.pending = total;
        let frac = i64::from(ts_frac);
        let nanos = if self.header.is_nanosecond_precision() {
            frac
        } else {
            frac * 1000
        };
        // 32-bit seconds and fractions cannot leave the nanosecond range.
        let ts = Timestamp::from_secs_nanos(i64::from(ts_sec), nanos);
        if let Some(message) = self.timestamps.check(ts, false) {
            self.warnings.push(Warning {
                offset: Some(offset),
                packet: Some(self.number),
                message,
            });
        }
        Ok(Some(RawPacket {
            number: self.number,
            offset,
            ts,
            linktype: self.linktype,
            data,
            orig_len,
        }))
    }
}

/// The file header of a big-endian modified pcap. Its magic stays swapped, so
/// that `is_bigendian` holds; the reader notes the format itself.
fn swapped_modified_header(h: &[u8]) -> PcapHeader {
    PcapHeader {
        magic_number: MODIFIED_MAGIC_SWAPPED,
        version_major: u16::from_be_bytes([h[4], h[5]]),
        version_minor: u16::from_be_bytes([h[6], h[7]]),
        thiszone: read_u32(h, 8, true) as i32,
        sigfigs: read_u32(h, 12, true),
        snaplen: read_u32(h, 16, true),
        network: Linktype(read_u32(h, 20, true) as i32),
    }
}
