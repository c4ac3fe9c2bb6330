//! pcapng: several sections, several interfaces with their own link types and
//! timestamp resolutions, enhanced, simple and obsolete packet blocks.
//!
//! This module frames blocks itself (so a block length is validated before it is
//! buffered, and a bad block can be skipped because its length is known) and hands
//! each whole block to pcap-parser. Timestamps are decoded here: `if_tsresol` may be
//! a power of two (high bit set), which pcap-parser's helper rejects, and
//! `if_tsoffset` must follow the section's byte order.

use pcap_parser::pcapng::{Block, parse_block_be, parse_block_le};

use super::{
    CaptureError, LinkType, MAX_BLOCK_LEN, MAX_RECORD_LEN, RawPacket, Source, TimestampCheck,
    Warning, read_u32,
};
use crate::time::Timestamp;

/// Section Header Block type; the same bytes in either byte order.
pub const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
/// The obsolete Packet Block (pcapng draft), still written by old tools.
const PB_TYPE: u32 = 0x0000_0002;
const SPB_TYPE: u32 = 0x0000_0003;
const EPB_TYPE: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Option codes inside an Interface Description Block.
const OPT_END: u16 = 0;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_DESCRIPTION: u16 = 3;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
/// Warnings kept per file; the rest are counted.
const MAX_WARNINGS: usize = 100;

/// Units of an interface's timestamps (`if_tsresol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsUnit {
    /// 10^-n seconds.
    Decimal(u8),
    /// 2^-n seconds.
    Binary(u8),
}

impl TsUnit {
    pub fn from_tsresol(raw: u8) -> TsUnit {
        if raw & 0x80 != 0 {
            TsUnit::Binary(raw & 0x7f)
        } else {
            TsUnit::Decimal(raw)
        }
    }

    /// Converts a raw 64-bit timestamp to nanoseconds, saturating.
    #[inline]
    pub fn to_nanos(self, raw: u64) -> i64 {
        // Microseconds (the default) and nanoseconds, nearly every capture's,
        // without the 128-bit arithmetic; `saturating_nanos` gives the same.
        match self {
            TsUnit::Decimal(6) => raw
                .checked_mul(1000)
                .map_or(i64::MAX, |ns| i64::try_from(ns).unwrap_or(i64::MAX)),
            TsUnit::Decimal(9) => i64::try_from(raw).unwrap_or(i64::MAX),
            _ => self.saturating_nanos(raw),
        }
    }

    /// [`TsUnit::to_nanos`] for any unit, in 128-bit arithmetic.
    fn saturating_nanos(self, raw: u64) -> i64 {
        let raw = u128::from(raw);
        let ns: u128 = match self {
            TsUnit::Decimal(e) if e <= 9 => raw * 10u128.pow(u32::from(9 - e)),
            TsUnit::Decimal(e) => match 10u128.checked_pow(u32::from(e - 9)) {
                Some(div) => raw / div,
                None => 0,
            },
            TsUnit::Binary(e) => (raw * 1_000_000_000) >> e.min(127),
        };
        i64::try_from(ns).unwrap_or(i64::MAX)
    }
}

struct Interface {
    linktype: LinkType,
    snaplen: u32,
    unit: TsUnit,
    offset_secs: i64,
}

/// Interfaces listed per input; the rest are counted (a file may declare
/// thousands, each with 64 KB of text: issue 35, D2).
pub const MAX_INTERFACES_LISTED: usize = 100;
/// Bytes kept of an interface's name or description (then `…`).
pub const MAX_INTERFACE_TEXT: usize = 256;

/// `text` cut to [`MAX_INTERFACE_TEXT`] bytes at a character boundary, `…`
/// marking the cut.
fn bounded(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    if text.len() <= MAX_INTERFACE_TEXT {
        return text.into_owned();
    }
    let mut end = MAX_INTERFACE_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What the report says about an interface. Both strings come from the capture.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InterfaceInfo {
    pub linktype: LinkType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

pub struct PcapNgReader {
    src: Source,
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// The interfaces of every section, for the report: the first
    /// [`MAX_INTERFACES_LISTED`], and how many more there were.
    all_interfaces: Vec<InterfaceInfo>,
    interfaces_omitted: u64,
    pub(super) number: u64,
    pending: usize,
    last_ts: Timestamp,
    timestamps: TimestampCheck,
    pub warnings: Vec<Warning>,
    warnings_dropped: u64,
}

impl PcapNgReader {
    pub fn new(src: Source) -> Result<PcapNgReader, CaptureError> {
        Ok(PcapNgReader {
            src,
            big_endian: false,
            interfaces: Vec::new(),
            all_interfaces: Vec::new(),
            interfaces_omitted: 0,
            number: 0,
            pending: 0,
            last_ts: Timestamp::default(),
            timestamps: TimestampCheck::default(),
            warnings: Vec::new(),
            warnings_dropped: 0,
        })
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

    /// The interfaces listed, and how many more the file declared.
    pub fn interface_infos(&self) -> (Vec<InterfaceInfo>, u64) {
        (self.all_interfaces.clone(), self.interfaces_omitted)
    }

    fn warn(&mut self, offset: u64, packet: Option<u64>, message: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning {
                offset: Some(offset),
                packet,
                message,
            });
        } else {
            self.warnings_dropped += 1;
        }
    }

    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        loop {
            self.src.consume(std::mem::take(&mut self.pending));
            let offset = self.src.offset();
            let io = |e| CaptureError::IoAt { offset, source: e };
            let head = self.src.fill(12).map_err(io)?;
            if head.is_empty() {
                if self.warnings_dropped > 0 {
                    let n = self.warnings_dropped;
                    self.warnings_dropped = 0;
                    self.warnings.push(Warning {
                        offset: None,
                        packet: None,
                        message: format!("{n} more warnings not listed"),
                    });
                }
                return Ok(None);
            }
            if head.len() < 12 {
                return Err(CaptureError::Truncated {
                    what: "block header",
                    offset,
                    needed: 12,
                    available: head.len() as u64,
                });
            }
            let block_type = read_u32(head, 0, false);
            if block_type == SHB_TYPE {
                // The byte-order magic decides how this section is read, including
                // the length of the section header itself.
                self.big_endian = match read_u32(head, 8, false) {
                    BYTE_ORDER_MAGIC => false,
                    m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                    m => {
                        return Err(CaptureError::Malformed {
                            what: "section header block",
                            offset,
                            reason: format!("byte-order magic {m:#010x} is not 1a2b3c4d"),
                        });
                    }
                };
            }
            let block_type = read_u32(head, 0, self.big_endian);
            let len = read_u32(head, 4, self.big_endian) as usize;
            if len < 12 || !len.is_multiple_of(4) {
                return Err(CaptureError::Malformed {
                    what: "block",
                    offset,
                    reason: format!("block length {len} is not a multiple of 4 of at least 12"),
                });
            }
            let limit = if matches!(block_type, EPB_TYPE | SPB_TYPE | PB_TYPE) {
                MAX_RECORD_LEN + 64 * 1024
            } else {
                MAX_BLOCK_LEN
            };
            if len > limit {
                return Err(CaptureError::Oversized {
                    what: "block",
                    offset,
                    len: len as u64,
                    limit: limit as u64,
                });
            }
            let buf = self.src.fill(len).map_err(io)?;
            if buf.len() < len {
                return Err(CaptureError::Truncated {
                    what: "block",
                    offset,
                    needed: len as u64,
                    available: buf.len() as u64,
                });
            }
            self.pending = len;
            match block_type {
                SHB_TYPE => self.section_header(offset)?,
                IDB_TYPE => self.interface_description(offset),
                EPB_TYPE | SPB_TYPE | PB_TYPE => {
                    self.number += 1;
                    match self.packet_block(block_type) {
                        Ok((ts, saturated, linktype, start, caplen, orig_len)) => {
                            self.last_ts = ts;
                            if let Some(message) = self.timestamps.check(ts, saturated) {
                                self.warn(offset, Some(self.number), message);
                            }
                            // Borrowed again only on the way out: a borrow kept
                            // across the loop would hold `self` for good.
                            let block = self.block();
                            return Ok(Some(RawPacket {
                                number: self.number,
                                offset,
                                ts,
                                linktype,
                                data: &block[start..start + caplen],
                                orig_len,
                            }));
                        }
                        Err(message) => self.warn(offset, Some(self.number), message),
                    }
                }
                // Name resolution, statistics, secrets, custom and unknown blocks.
                _ => {}
            }
        }
    }

    /// The block being read: `next_packet` has buffered its `pending` bytes.
    fn block(&self) -> &[u8] {
        self.src.buffered().get(..self.pending).unwrap_or_default()
    }

    fn parse<'b>(big_endian: bool, block: &'b [u8]) -> Option<Block<'b>> {
        let parsed = if big_endian {
            parse_block_be(block)
        } else {
            parse_block_le(block)
        };
        parsed.ok().map(|(_, b)| b)
    }

    fn section_header(&mut self, offset: u64) -> Result<(), CaptureError> {
        let big = self.big_endian;
        let block = self.block();
        if block.len() < 16 {
            // A 12-byte block (the smallest length the framing accepts) has no
            // version to check: nothing after it can be trusted.
            return Err(CaptureError::Malformed {
                what: "section header block",
                offset,
                reason: format!("{} bytes long, too short for a version", block.len()),
            });
        }
        let (major, minor) = (read_u16(block, 12, big), read_u16(block, 14, big));
        // SHB: type, length, byte-order magic, version (4), section length (8).
        let parsed_ok = block.len() >= 28 && !walk_options(&block[24..block.len() - 4], big).1;
        if major != 1 {
            return Err(CaptureError::UnsupportedVersion {
                format: "pcapng",
                major,
                minor,
            });
        }
        if !parsed_ok {
            self.warn(
                offset,
                None,
                "section header options are malformed; options ignored".into(),
            );
        }
        // Interface ids are per section.
        self.interfaces.clear();
        Ok(())
    }

    fn interface_description(&mut self, offset: u64) {
        let big = self.big_endian;
        let block = self.block();
        if block.len() < 20 {
            self.warn(offset, None, "interface description block too short".into());
            return;
        }
        // Fixed fields are read directly, so a malformed option list still leaves
        // the interface usable.
        let linktype = LinkType(u32::from(read_u16(block, 8, big)));
        let snaplen = read_u32(block, 12, big);
        let mut unit = TsUnit::Decimal(6);
        let mut offset_secs = 0i64;
        let mut name = None;
        let mut description = None;
        let (options, malformed) = walk_options(&block[16..block.len() - 4], big);
        for (code, value) in options {
            match code {
                OPT_IF_TSRESOL if !value.is_empty() => unit = TsUnit::from_tsresol(value[0]),
                OPT_IF_TSOFFSET if value.len() >= 8 => {
                    let b: [u8; 8] = value[..8].try_into().unwrap_or_default();
                    offset_secs = if big {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                }
                OPT_IF_NAME => name = Some(bounded(value)),
                OPT_IF_DESCRIPTION => description = Some(bounded(value)),
                _ => {}
            }
        }
        if malformed {
            self.warn(
                offset,
                None,
                "interface description options are malformed; later options ignored".into(),
            );
        }
        if self.all_interfaces.len() < MAX_INTERFACES_LISTED {
            self.all_interfaces.push(InterfaceInfo {
                linktype,
                name,
                description,
            });
        } else {
            self.interfaces_omitted += 1;
        }
        self.interfaces.push(Interface {
            linktype,
            snaplen,
            unit,
            offset_secs,
        });
    }

    /// Decodes the packet block being read into (timestamp, whether it was
    /// saturated, link type, data start, captured length, wire length), or why
    /// it must be skipped.
    #[allow(clippy::type_complexity)]
    fn packet_block(
        &self,
        block_type: u32,
    ) -> Result<(Timestamp, bool, LinkType, usize, usize, u32), String> {
        let big = self.big_endian;
        let block = self.block();
        let len = block.len();
        // (interface id, raw timestamp or None for SPB, captured length, wire
        // length, data start)
        let (if_id, raw_ts, caplen, orig_len, start): (u32, Option<u64>, usize, u32, usize) =
            match block_type {
                EPB_TYPE => match epb_fields(block, big) {
                    Some((if_id, ts, caplen, origlen)) => (if_id, Some(ts), caplen, origlen, 28),
                    None => {
                        return Err("enhanced packet block does not parse; packet skipped".into());
                    }
                },
                SPB_TYPE => match PcapNgReader::parse(big, block) {
                    Some(Block::SimplePacket(spb)) => (
                        0,
                        None,
                        (spb.origlen as usize).min(len.saturating_sub(16)),
                        spb.origlen,
                        12,
                    ),
                    _ => return Err("simple packet block does not parse; packet skipped".into()),
                },
                _ => {
                    // Obsolete Packet Block: if_id u16, drops u16, ts high, ts low,
                    // caplen, origlen, data. pcap-parser does not know it.
                    if len < 32 {
                        return Err("obsolete packet block too short; packet skipped".into());
                    }
                    let caplen = read_u32(block, 20, big) as usize;
                    (
                        u32::from(read_u16(block, 8, big)),
                        Some(
                            (u64::from(read_u32(block, 12, big)) << 32)
                                | u64::from(read_u32(block, 16, big)),
                        ),
                        caplen.min(len - 32),
                        read_u32(block, 24, big),
                        28,
                    )
                }
            };
        let Some(iface) = self.interfaces.get(if_id as usize) else {
            return Err(format!(
                "packet names interface {if_id}, which this section does not declare; packet skipped"
            ));
        };
        let caplen = if block_type == SPB_TYPE && iface.snaplen > 0 {
            caplen.min(iface.snaplen as usize)
        } else {
            caplen
        };
        let (ts, saturated) = match raw_ts {
            Some(raw) => {
                let nanos = iface.unit.to_nanos(raw);
                let offset = iface.offset_secs.checked_mul(Timestamp::NANOS_PER_SEC);
                // `to_nanos` saturates at i64::MAX; the offset may overflow on
                // its own or when added.
                let exact = offset
                    .and_then(|o| nanos.checked_add(o))
                    .filter(|_| nanos != i64::MAX);
                let ts = exact.unwrap_or_else(|| {
                    nanos.saturating_add(iface.offset_secs.saturating_mul(Timestamp::NANOS_PER_SEC))
                });
                (Timestamp(ts), exact.is_none())
            }
            // Simple packet blocks carry no timestamp: reuse the previous one so
            // ordering across files stays sensible.
            None => (self.last_ts, false),
        };
        Ok((ts, saturated, iface.linktype, start, caplen, orig_len))
    }
}

/// An Enhanced Packet Block's interface id, raw timestamp, captured length and
/// wire length, or `None` where pcap-parser's `parse_block_*` rejects the block.
///
/// Read directly: pcap-parser's parser dispatches on the block type, then parses
/// the fixed fields and collects the options into a `Vec`, about 260
/// instructions a packet for four fields (docs/performance.md, "What is kept and why"). Its
/// checks, which this repeats: the block is at least 32 bytes and its trailing
/// length equals its leading one, the captured length is below `u32::MAX - 4`
/// and fits the block padded to 4 bytes. Options never make it fail (it stops
/// at the first one it cannot read). `epb_fields_agree_with_pcap_parser` holds
/// the two to the same answer on arbitrary blocks.
#[inline]
fn epb_fields(block: &[u8], big: bool) -> Option<(u32, u64, usize, u32)> {
    let len = block.len();
    if len < 32 || read_u32(block, 4, big) as usize != len {
        return None;
    }
    if read_u32(block, len - 4, big) as usize != len {
        return None;
    }
    let caplen = read_u32(block, 20, big);
    if caplen >= u32::MAX - 4 || 32 + (caplen as usize).next_multiple_of(4) > len {
        return None;
    }
    let ts = (u64::from(read_u32(block, 12, big)) << 32) | u64::from(read_u32(block, 16, big));
    Some((
        read_u32(block, 8, big),
        ts,
        caplen as usize,
        read_u32(block, 24, big),
    ))
}

/// Walks a pcapng option list: (code, value) pairs up to `opt_endofopt`, and
/// whether an option ran past the end of its block.
fn walk_options(opts: &[u8], big: bool) -> (Vec<(u16, &[u8])>, bool) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 4 <= opts.len() {
        let code = read_u16(opts, at, big);
        let len = usize::from(read_u16(opts, at + 2, big));
        let start = at + 4;
        if code == OPT_END {
            break;
        }
        if start + len > opts.len() {
            return (out, true);
        }
        out.push((code, &opts[start..start + len]));
        at = start + len.div_ceil(4) * 4;
    }
    (out, false)
}

fn read_u16(b: &[u8], at: usize, big: bool) -> u16 {
    let x = [b[at], b[at + 1]];
    if big {
        u16::from_be_bytes(x)
    } else {
        u16::from_le_bytes(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8]) -> (usize, Option<CaptureError>) {
        let (src, _) =
            Source::from_reader(Box::new(std::io::Cursor::new(data.to_vec())), None).unwrap();
        let mut r = PcapNgReader::new(src).unwrap();
        let mut n = 0;
        loop {
            match r.next_packet() {
                Ok(Some(_)) => n += 1,
                Ok(None) => return (n, None),
                Err(e) => return (n, Some(e)),
            }
        }
    }

    #[test]
    fn a_section_header_too_short_for_a_version_ends_the_file() {
        // Regression: a 12-byte section header (type, length, byte-order magic)
        // was read past its end for the version, a panic.
        let mut shb = vec![0x0a, 0x0d, 0x0d, 0x0a, 12, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a];
        let (n, e) = read_all(&shb);
        assert_eq!(n, 0);
        let e = e.unwrap().to_string();
        assert!(e.contains("section header block at offset 0"), "{e}");
        // Big-endian, after a valid first section.
        let mut file = vec![
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0,
        ];
        shb[4..8].copy_from_slice(&[0, 0, 0, 12]);
        shb[8..12].copy_from_slice(&[0x1a, 0x2b, 0x3c, 0x4d]);
        file.extend_from_slice(&shb);
        let e = read_all(&file).1.unwrap().to_string();
        assert!(e.contains("at offset 28"), "{e}");
    }

    /// pcap-parser's reading of an EPB, as `packet_block` used it.
    fn epb_by_pcap_parser(block: &[u8], big: bool) -> Option<(u32, u64, usize, u32)> {
        match PcapNgReader::parse(big, block) {
            Some(Block::EnhancedPacket(epb)) => Some((
                epb.if_id,
                (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low),
                (epb.caplen as usize).min(epb.data.len()),
                epb.origlen,
            )),
            _ => None,
        }
    }

    fn epb(big: bool, caplen: u32, data: usize, options: &[u8], trailer_delta: i64) -> Vec<u8> {
        let put = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let mut b = Vec::new();
        let len = 32 + data.next_multiple_of(4) + options.len();
        put(&mut b, EPB_TYPE);
        put(&mut b, len as u32);
        for x in [3, 0x0006_1234, 0x5678_9abc, caplen, 1514] {
            put(&mut b, x);
        }
        b.extend((0..data.next_multiple_of(4)).map(|i| i as u8));
        b.extend_from_slice(options);
        put(&mut b, (len as i64 + trailer_delta) as u32);
        b
    }

    #[test]
    fn epb_fields_are_read_where_pcap_parser_reads_them() {
        for big in [false, true] {
            let b = epb(big, 60, 60, &[], 0);
            assert_eq!(
                epb_fields(&b, big),
                Some((3, 0x0006_1234_5678_9abc, 60, 1514))
            );
            assert_eq!(epb_fields(&b, big), epb_by_pcap_parser(&b, big));
            // A captured length past the block, and a trailer that disagrees.
            let long = epb(big, 61, 60, &[], 0);
            assert_eq!(epb_fields(&long, big), None);
            assert_eq!(epb_by_pcap_parser(&long, big), None);
            let bad = epb(big, 60, 60, &[], 4);
            assert_eq!(epb_fields(&bad, big), None);
            assert_eq!(epb_by_pcap_parser(&bad, big), None);
            // Options (an epb_flags option, then a cut one) do not matter.
            let opts = [2, 0, 4, 0, 1, 0, 0, 0, 1, 0, 200, 0];
            let with = epb(big, 57, 60, &opts, 0);
            assert_eq!(
                epb_fields(&with, big),
                Some((3, 0x0006_1234_5678_9abc, 57, 1514))
            );
            assert_eq!(epb_fields(&with, big), epb_by_pcap_parser(&with, big));
        }
    }

    proptest::proptest! {
        /// Any bytes as a block (its leading length set to its size, as the
        /// framing guarantees), and well-formed blocks with random fields.
        #[test]
        fn epb_fields_agree_with_pcap_parser(
            big: bool,
            mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 12..200),
            caplen in 0u32..80,
            data in 0usize..80,
            options in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
            trailer in proptest::prop_oneof![proptest::strategy::Just(0i64), -8i64..8],
        ) {
            let len = bytes.len() as u32;
            bytes[0..4].copy_from_slice(&if big { EPB_TYPE.to_be_bytes() } else { EPB_TYPE.to_le_bytes() });
            bytes[4..8].copy_from_slice(&if big { len.to_be_bytes() } else { len.to_le_bytes() });
            proptest::prop_assert_eq!(epb_fields(&bytes, big), epb_by_pcap_parser(&bytes, big));
            let options: Vec<u8> = options[..options.len() / 4 * 4].to_vec();
            let b = epb(big, caplen, data, &options, trailer);
            proptest::prop_assert_eq!(epb_fields(&b, big), epb_by_pcap_parser(&b, big));
        }

        #[test]
        fn usual_resolutions_convert_as_the_general_path(raw: u64, small in 0u64..1 << 62) {
            for unit in [TsUnit::Decimal(6), TsUnit::Decimal(9)] {
                proptest::prop_assert_eq!(unit.to_nanos(raw), unit.saturating_nanos(raw));
                proptest::prop_assert_eq!(unit.to_nanos(small), unit.saturating_nanos(small));
            }
        }
    }

    #[test]
    fn decimal_resolutions_convert_to_nanoseconds() {
        assert_eq!(TsUnit::Decimal(6).to_nanos(1_500_000), 1_500_000_000);
        assert_eq!(TsUnit::Decimal(9).to_nanos(42), 42);
        assert_eq!(TsUnit::Decimal(12).to_nanos(42_000), 42);
        assert_eq!(TsUnit::Decimal(0).to_nanos(3), 3_000_000_000);
    }

    #[test]
    fn power_of_two_resolution_converts_to_nanoseconds() {
        // if_tsresol 0x80 | 10: units of 1/1024 s.
        assert_eq!(TsUnit::from_tsresol(0x8a), TsUnit::Binary(10));
        assert_eq!(TsUnit::Binary(10).to_nanos(1024), 1_000_000_000);
        assert_eq!(TsUnit::Binary(10).to_nanos(512), 500_000_000);
        // 2^-30 s units, a common choice of hardware timestampers.
        assert_eq!(TsUnit::Binary(30).to_nanos(1 << 30), 1_000_000_000);
    }

    /// A section with one interface (`idb_options`) and EPBs stamped `raw`.
    fn one_interface(idb_options: &[u8], raw: &[u64]) -> Vec<u8> {
        let block = |kind: u32, body: &[u8]| {
            let len = (12 + body.len()) as u32;
            let mut b = kind.to_le_bytes().to_vec();
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(body);
            b.extend_from_slice(&len.to_le_bytes());
            b
        };
        let mut shb = BYTE_ORDER_MAGIC.to_le_bytes().to_vec();
        shb.extend_from_slice(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let mut file = block(SHB_TYPE, &shb);
        let mut idb = vec![1, 0, 0, 0, 0, 0, 1, 0];
        idb.extend_from_slice(idb_options);
        idb.extend_from_slice(&[0, 0, 0, 0]);
        file.extend(block(IDB_TYPE, &idb));
        for &ts in raw {
            // Interface 0, the timestamp, 4 bytes captured of 4, the bytes.
            let mut epb = Vec::new();
            for x in [0, (ts >> 32) as u32, ts as u32, 4, 4, 0] {
                epb.extend_from_slice(&x.to_le_bytes());
            }
            file.extend(block(EPB_TYPE, &epb));
        }
        file
    }

    fn warnings_of(data: &[u8]) -> Vec<Warning> {
        let (src, _) =
            Source::from_reader(Box::new(std::io::Cursor::new(data.to_vec())), None).unwrap();
        let mut r = PcapNgReader::new(src).unwrap();
        while let Ok(Some(_)) = r.next_packet() {}
        r.warnings
    }

    #[test]
    fn timestamps_past_the_nanosecond_range_warn_once() {
        let us = 1_700_000_000_000_000u64;
        let offset = |secs: i64| {
            let mut o = vec![14, 0, 8, 0];
            o.extend_from_slice(&secs.to_le_bytes());
            o
        };
        for (what, opts) in [
            // Microseconds read as seconds.
            ("if_tsresol 0", vec![9, 0, 1, 0, 0, 0, 0, 0]),
            ("if_tsoffset 1e11", offset(100_000_000_000)),
            // Saturates the other way, then adds the packet's own time.
            ("if_tsoffset i64::MIN", offset(i64::MIN)),
        ] {
            let w = warnings_of(&one_interface(&opts, &[us, us + 1, us + 2]));
            assert_eq!(w.len(), 1, "{what}: {w:?}");
            assert_eq!(w[0].packet, Some(1), "{what}");
            assert!(w[0].message.contains("out of range"), "{what}: {w:?}");
        }
        // An offset that fits, even a large one, is no problem.
        let fine = one_interface(&offset(-1_000_000_000), &[us, us + 1]);
        assert_eq!(warnings_of(&fine), []);
    }

    #[test]
    fn absurd_resolutions_saturate_instead_of_overflowing() {
        assert_eq!(TsUnit::Decimal(127).to_nanos(u64::MAX), 0);
        assert_eq!(TsUnit::Decimal(0).to_nanos(u64::MAX), i64::MAX);
        assert_eq!(TsUnit::Binary(127).to_nanos(u64::MAX), 0);
    }
}
