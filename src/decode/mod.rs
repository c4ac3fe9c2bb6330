//! Packet decoding: a link-layer frame in, one TCP [`Segment`] out.
//!
//! Link headers that etherparse knows (Ethernet with VLAN tags, three of which it
//! slices and the rest `unwrap_encapsulation` skips, Linux SLL) go through etherparse; SLL2, BSD NULL/LOOP and raw IP are unwrapped here to
//! an EtherType or an IP header. IP goes through etherparse's lax slicer, which keeps
//! whatever a short snaplen left. The TCP header's fixed 20 bytes are read here so a
//! frame cut inside the TCP options still yields flags and sequence numbers, and the
//! payload length comes from the IP header's lengths, never from the captured length.
//! A tunnel (`tunnel.rs`) is followed to the TCP inside, which is decoded as if it
//! had been captured alone.

mod addr;
pub mod seq;
pub mod tcp;
mod tunnel;

use std::net::IpAddr;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, ip_number};

use crate::capture::{LinkType, RawPacket};
use crate::time::Timestamp;

pub use tcp::{Control, TcpFlags, TcpOptions};

pub use addr::{EndpointAddr, ipv4_text};
pub use seq::SeqNumber;

/// One TCP segment, owned and compact, with everything the tracker needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub ts: Timestamp,
    /// Which input (position on the command line) and which record in it.
    pub input: u16,
    pub number: u64,
    /// Position in the merged stream of all inputs (set by the reader): the order
    /// in which segments are processed, and so the order of connections.
    pub order: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNumber,
    /// The acknowledgment number when the ACK bit is set.
    pub ack: Option<SeqNumber>,
    pub control: Control,
    pub window: u16,
    /// Payload length from the IP header's lengths.
    pub payload_len: u32,
    pub options: TcpOptions,
    /// The frame was cut by the snaplen before the end of the segment.
    pub truncated: bool,
    /// Every control bit as sent: the one view of the flags, for Zeek, the
    /// ladders and the rare combinations; the tracker decides on `control`.
    pub flags: TcpFlags,
    /// Length of the IP datagram as its header states it (0 in a TSO frame);
    /// what Zeek counts as IP bytes.
    pub ip_len: u32,
    /// The IPv4 TTL or IPv6 hop limit as captured: a RST whose TTL differs
    /// from its sender's other segments was made by something else on the path.
    pub ttl: u8,
    /// The IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    /// The TCP header with its options was not all captured, or the IP length is
    /// shorter than it (Zeek skips such a packet, `truncated_header`).
    pub header_cut: bool,
}

impl Segment {
    /// A FIN bit that rode along with a RST (FIN+RST); the RST decides.
    pub fn fin_with_rst(&self) -> bool {
        self.flags.fin && self.control == Control::Rst
    }

    /// The sender's address and port.
    pub fn src_endpoint(&self) -> EndpointAddr {
        EndpointAddr {
            ip: self.src,
            port: self.src_port,
        }
    }

    /// The receiver's address and port.
    pub fn dst_endpoint(&self) -> EndpointAddr {
        EndpointAddr {
            ip: self.dst,
            port: self.dst_port,
        }
    }

    /// Sequence space the segment occupies: payload plus one for SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload_len + self.control.seq_len()
    }
}

/// Why a frame yielded no segment; counted per input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The link type is not one we decode.
    UnsupportedLinkType(LinkType),
    /// Not IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, a tunnel we do not decapsulate yet).
    NotTcp,
    /// A non-first IPv4 fragment or IPv6 fragment without the TCP header.
    Fragment,
    /// The frame ends before the headers we need.
    TooShort,
    /// A header field is impossible (bad IHL, TCP data offset below 5).
    Malformed,
}

/// Decodes one captured frame.
pub fn decode(raw: &RawPacket<'_>, input: u16) -> Result<Segment, Skip> {
    match fast_path(raw, input) {
        Some(seg) => Ok(seg),
        None => decode_general(raw, input),
    }
}

/// Decodes any frame through etherparse's lax slicer.
fn decode_general(raw: &RawPacket<'_>, input: u16) -> Result<Segment, Skip> {
    let data = raw.data;
    let sliced = match raw.linktype {
        LinkType::ETHERNET => LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::TooShort)?,
        LinkType::LINUX_SLL => {
            if data.len() < 16 {
                return Err(Skip::TooShort);
            }
            ether(u16::from_be_bytes([data[14], data[15]]), &data[16..])
        }
        LinkType::LINUX_SLL2 => {
            if data.len() < 20 {
                return Err(Skip::TooShort);
            }
            ether(u16::from_be_bytes([data[0], data[1]]), &data[20..])
        }
        LinkType::NULL | LinkType::LOOP => {
            // The 4-byte family field is in the writer's byte order (NULL) or network
            // order (LOOP), and its values differ per OS: the IP version nibble that
            // follows is the reliable signal.
            if data.len() < 5 {
                return Err(Skip::TooShort);
            }
            ip(&data[4..])?
        }
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => {
            ip(data)?
        }
        other => return Err(Skip::UnsupportedLinkType(other)),
    };
    segment_of(sliced, raw, input, 0)
}

/// What a segment keeps of its IP header.
#[derive(Clone, Copy, Debug)]
struct IpMeta {
    /// The datagram's length as its header states it.
    len: u32,
    ttl: u8,
    id: u16,
}

/// How many tunnels deep a TCP segment is looked for.
const MAX_TUNNEL_DEPTH: u8 = 3;

/// The TCP segment in a sliced frame: link-layer encapsulations etherparse does
/// not know are unwrapped, then tunnels (GRE, VXLAN, Geneve, GTP-U, AYIYA,
/// Teredo, IP in IP; see [`tunnel`]) are followed to the TCP inside.
fn segment_of<'a>(
    sliced: LaxSlicedPacket<'a>,
    raw: &RawPacket<'a>,
    input: u16,
    depth: u8,
) -> Result<Segment, Skip> {
    // etherparse stops at encapsulations it does not know, and after three VLAN
    // tags; PPPoE sessions, MPLS label stacks, VN-Tags, 802.1ah (PBB), FabricPath
    // and the further VLAN tags are unwrapped here.
    let mut sliced = sliced;
    for _ in 0..4 {
        match (&sliced.net, sliced.ether_payload()) {
            (None, Some(p)) => sliced = unwrap_encapsulation(p.ether_type.0, p.payload)?,
            _ => break,
        }
    }
    let net = sliced.net.as_ref().ok_or(Skip::NotIp)?;
    let (src, dst, payload) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
            )
        }
        LaxNetSlice::Arp(_) => return Err(Skip::NotIp),
    };
    if payload.ip_number != ip_number::TCP {
        // A tunnel: the TCP inside is decoded as if it had been captured alone
        // (an outer datagram cut into fragments is not reassembled).
        if depth < MAX_TUNNEL_DEPTH && !payload.fragmented {
            let inner = match tunnel::decapsulate(payload.ip_number.0, payload.payload) {
                Some(tunnel::Inner::Ethernet(frame)) => {
                    LaxSlicedPacket::from_ethernet(frame).map_err(|_| Skip::TooShort)?
                }
                Some(tunnel::Inner::Ip(packet)) => ip(packet)?,
                None => return Err(Skip::NotTcp),
            };
            return segment_of(inner, raw, input, depth + 1);
        }
        return Err(Skip::NotTcp);
    }
    let claimed = claimed_transport_len(net, payload.payload.len());
    if payload.fragmented {
        // Only the first fragment carries the TCP header; etherparse does not slice
        // transport for fragments, so read it ourselves. Later fragments are skipped.
        if !is_first_fragment(net) {
            return Err(Skip::Fragment);
        }
    }
    segment(
        (raw.ts, raw.number, input),
        (src, dst),
        payload.payload,
        claimed,
        payload.incomplete,
        ip_meta(net),
    )
}

/// The common case, decoded without building etherparse's full lax slice (whose
/// by-value cursor copies dominated the decoding profile): Ethernet without tags,
/// Linux SLL/SLL2, NULL/LOOP or raw IP, carrying IPv4 without fragmentation or
/// IPv6 without extension headers, carrying TCP, with the IP length set. Any
/// other frame returns `None` and takes the general path, which gives the same
/// answer for these frames.
fn fast_path(raw: &RawPacket<'_>, input: u16) -> Option<Segment> {
    let f = fast_fields(raw)?;
    segment(
        (raw.ts, raw.number, input),
        f.addrs,
        f.transport,
        f.claimed,
        f.incomplete,
        f.ip,
    )
    .ok()
}

/// What the fast path reads of the link and IP layers.
struct FastFields<'a> {
    addrs: (IpAddr, IpAddr),
    /// The transport bytes captured, up to the IP length.
    transport: &'a [u8],
    /// The transport length the IP header claims.
    claimed: usize,
    /// The frame ends before the IP length.
    incomplete: bool,
    ip: IpMeta,
}

/// The link and IP layers of a frame the fast path takes ([`fast_path`]).
#[inline(always)]
fn fast_fields<'a>(raw: &RawPacket<'a>) -> Option<FastFields<'a>> {
    const IPV4: u16 = 0x0800;
    const IPV6: u16 = 0x86dd;
    let data = raw.data;
    let ip_bytes = match raw.linktype {
        LinkType::ETHERNET if data.len() > 14 => match u16::from_be_bytes([data[12], data[13]]) {
            IPV4 | IPV6 => &data[14..],
            _ => return None,
        },
        LinkType::LINUX_SLL if data.len() > 16 => match u16::from_be_bytes([data[14], data[15]]) {
            IPV4 | IPV6 => &data[16..],
            _ => return None,
        },
        LinkType::LINUX_SLL2 if data.len() > 20 => match u16::from_be_bytes([data[0], data[1]]) {
            IPV4 | IPV6 => &data[20..],
            _ => return None,
        },
        LinkType::NULL | LinkType::LOOP if data.len() > 4 => &data[4..],
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => {
            data
        }
        _ => return None,
    };
    let (addrs, header_len, total, ttl, id) = match ip_bytes.first()? >> 4 {
        4 => {
            let h = etherparse::Ipv4HeaderSlice::from_slice(ip_bytes).ok()?;
            if h.protocol() != ip_number::TCP || h.is_fragmenting_payload() {
                return None;
            }
            let addrs = (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
            );
            let len = h.slice().len();
            (
                addrs,
                len,
                usize::from(h.total_len()),
                h.ttl(),
                h.identification(),
            )
        }
        6 => {
            let h = etherparse::Ipv6HeaderSlice::from_slice(ip_bytes).ok()?;
            if h.next_header() != ip_number::TCP {
                return None;
            }
            let addrs = (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
            );
            (
                addrs,
                40,
                40 + usize::from(h.payload_length()),
                h.hop_limit(),
                0,
            )
        }
        _ => return None,
    };
    // A zero or impossible IP length (TSO, jumbograms) takes the general path.
    if total <= header_len || (header_len == 40 && total == 40) {
        return None;
    }
    let end = total.min(ip_bytes.len());
    Some(FastFields {
        addrs,
        transport: &ip_bytes[header_len..end],
        claimed: total - header_len,
        incomplete: ip_bytes.len() < total,
        ip: IpMeta {
            len: u32::try_from(total).ok()?,
            ttl,
            id,
        },
    })
}

/// Bytes of TCP header a [`Located`] segment carries: the fixed 20 and 24 of
/// options, as much as nearly every segment has (32 with Timestamps, 40 in a
/// Linux SYN). A longer header is decoded by the reading thread.
const LOCATED_HEADER: usize = 44;

/// A TCP segment found by the fast path and not decoded yet: its addresses,
/// the lengths its IP header gives, and a copy of its TCP header as captured.
///
/// From four threads on, the reading thread only locates the segments it can
/// (`locate`) and routes them by their 4-tuple; the shard that owns the
/// connection decodes them ([`Located::segment`]), so decoding is spread over
/// the workers instead of being the reading thread's (docs/performance.md,
/// "Past two cores"). A located segment always decodes: `locate` checked what
/// decoding the TCP header can reject.
#[derive(Clone, Debug)]
pub struct Located {
    pub ts: Timestamp,
    pub number: u64,
    /// As [`Segment::order`], set by the reader.
    pub order: u64,
    pub input: u16,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Transport bytes captured (up to the IP length), and claimed by the IP header.
    present: u32,
    claimed: u32,
    ip: IpMeta,
    incomplete: bool,
    /// How much of `header` is the segment's: its TCP header, or what of it
    /// was captured.
    kept: u8,
    header: [u8; LOCATED_HEADER],
}

impl Located {
    /// The sender's address and port, as [`Segment::src_endpoint`].
    pub fn src_endpoint(&self) -> EndpointAddr {
        EndpointAddr {
            ip: self.src,
            port: u16::from_be_bytes([self.header[0], self.header[1]]),
        }
    }

    /// The receiver's address and port, as [`Segment::dst_endpoint`].
    pub fn dst_endpoint(&self) -> EndpointAddr {
        EndpointAddr {
            ip: self.dst,
            port: u16::from_be_bytes([self.header[2], self.header[3]]),
        }
    }

    /// The segment, as [`decode`] gives it for the frame it was located in.
    #[inline]
    pub fn segment(&self) -> Segment {
        let transport = &self.header[..usize::from(self.kept)];
        let tcp = tcp::Header::parse_checked(transport);
        let mut seg = segment_of_header(
            (self.ts, self.number, self.input),
            (self.src, self.dst),
            tcp,
            self.present as usize,
            self.claimed as usize,
            self.incomplete,
            self.ip,
        );
        seg.order = self.order;
        seg
    }
}

/// Locates the TCP segment of a frame the fast path takes, whose TCP header
/// decodes and fits a [`Located`]; `None` for any other frame, which is
/// decoded as before ([`decode`]).
#[inline]
pub fn locate(raw: &RawPacket<'_>, input: u16) -> Option<Located> {
    let f = fast_fields(raw)?;
    let tcp_len = tcp::Header::checked_len(f.transport).ok()?;
    let kept = tcp_len.min(f.transport.len());
    if kept > LOCATED_HEADER {
        return None;
    }
    let mut header = [0u8; LOCATED_HEADER];
    header[..kept].copy_from_slice(&f.transport[..kept]);
    Some(Located {
        ts: raw.ts,
        number: raw.number,
        order: 0,
        input,
        src: f.addrs.0,
        dst: f.addrs.1,
        present: u32::try_from(f.transport.len()).ok()?,
        claimed: u32::try_from(f.claimed).ok()?,
        ip: f.ip,
        incomplete: f.incomplete,
        kept: kept as u8,
        header,
    })
}

/// Builds the segment from the transport bytes present and the transport length
/// the IP header claims.
fn segment(
    at: (Timestamp, u64, u16),
    addrs: (IpAddr, IpAddr),
    transport: &[u8],
    claimed: usize,
    incomplete: bool,
    ip: IpMeta,
) -> Result<Segment, Skip> {
    let tcp = tcp::Header::parse(transport)?;
    let present = transport.len();
    Ok(segment_of_header(
        at, addrs, tcp, present, claimed, incomplete, ip,
    ))
}

/// The segment of a decoded TCP header, `present` bytes of whose transport
/// layer were captured (all of [`segment`]'s bytes; for a [`Located`] copy,
/// what the frame had).
#[inline]
fn segment_of_header(
    (ts, number, input): (Timestamp, u64, u16),
    (src, dst): (IpAddr, IpAddr),
    tcp: tcp::Header,
    present: usize,
    claimed: usize,
    incomplete: bool,
    ip: IpMeta,
) -> Segment {
    let payload_len = claimed.saturating_sub(tcp.header_len) as u32;
    let truncated = incomplete || present < claimed;
    let header_cut = present < tcp.header_len || claimed < tcp.header_len;
    Segment {
        ts,
        input,
        number,
        order: 0,
        src,
        dst,
        src_port: tcp.src_port,
        dst_port: tcp.dst_port,
        seq: SeqNumber(tcp.seq),
        ack: tcp.ack.map(SeqNumber),
        control: tcp.control,
        window: tcp.window,
        payload_len,
        options: tcp.options,
        truncated,
        flags: tcp.flags,
        ip_len: ip.len,
        ttl: ip.ttl,
        ip_id: ip.id,
        header_cut,
    }
}

const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// The pre-802.1ad QinQ tag some switches still write; etherparse reads it too.
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_VNTAG: u16 = 0x8926;
const ETHERTYPE_PBB: u16 = 0x88e7;
const ETHERTYPE_FABRICPATH: u16 = 0x8903;
const ETHERTYPE_MPLS_UNICAST: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

/// PPPoE session (RFC 2516: 6-byte header, then the PPP protocol), MPLS (4-byte
/// labels until bottom-of-stack, then IP recognised by its version nibble),
/// Cisco VN-Tag (4 bytes, then the next EtherType) and 802.1ah provider backbone
/// bridging (a 4-byte I-TAG, then the customer's Ethernet frame), Cisco
/// FabricPath (a 2-byte FTag/TTL, then the original Ethernet frame), and the
/// VLAN tags past the three etherparse slices (each a 2-byte TCI, then the next
/// EtherType), as many as the frame holds.
fn unwrap_encapsulation(ether_type: u16, payload: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match ether_type {
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
            let (mut ether_type, mut rest) = (ether_type, payload);
            while matches!(
                ether_type,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            ) {
                if rest.len() < 4 {
                    return Err(Skip::TooShort);
                }
                ether_type = u16::from_be_bytes([rest[2], rest[3]]);
                rest = &rest[4..];
            }
            Ok(ether(ether_type, rest))
        }
        ETHERTYPE_PPPOE_SESSION => {
            if payload.len() < 8 {
                return Err(Skip::TooShort);
            }
            match u16::from_be_bytes([payload[6], payload[7]]) {
                PPP_IPV4 | PPP_IPV6 => ip(&payload[8..]),
                _ => Err(Skip::NotIp),
            }
        }
        ETHERTYPE_VNTAG => {
            if payload.len() < 6 {
                return Err(Skip::TooShort);
            }
            Ok(ether(
                u16::from_be_bytes([payload[4], payload[5]]),
                &payload[6..],
            ))
        }
        ETHERTYPE_PBB => {
            if payload.len() < 4 {
                return Err(Skip::TooShort);
            }
            LaxSlicedPacket::from_ethernet(&payload[4..]).map_err(|_| Skip::TooShort)
        }
        ETHERTYPE_FABRICPATH => {
            if payload.len() < 2 {
                return Err(Skip::TooShort);
            }
            LaxSlicedPacket::from_ethernet(&payload[2..]).map_err(|_| Skip::TooShort)
        }
        ETHERTYPE_MPLS_UNICAST | ETHERTYPE_MPLS_MULTICAST => {
            let mut rest = payload;
            loop {
                if rest.len() < 4 {
                    return Err(Skip::TooShort);
                }
                let bottom = rest[2] & 0x01 != 0;
                rest = &rest[4..];
                if bottom {
                    return ip(rest);
                }
            }
        }
        _ => Err(Skip::NotIp),
    }
}

fn ether(ether_type: u16, payload: &[u8]) -> LaxSlicedPacket<'_> {
    LaxSlicedPacket::from_ether_type(EtherType(ether_type), payload)
}

fn ip(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match data.first().map(|b| b >> 4) {
        Some(4) | Some(6) => LaxSlicedPacket::from_ip(data).map_err(|_| Skip::Malformed),
        Some(_) => Err(Skip::NotIp),
        None => Err(Skip::TooShort),
    }
}

/// The transport length the IP header claims (for a fragment: this fragment's).
fn claimed_transport_len(net: &LaxNetSlice<'_>, present: usize) -> usize {
    match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let total = usize::from(h.total_len());
            let hdr = h.slice().len() + v4.extensions().auth.map(|a| a.slice().len()).unwrap_or(0);
            // total_len 0 is what TSO-offloaded frames show at the sender: fall back
            // to what was captured.
            if total >= hdr && total > 0 {
                total - hdr
            } else {
                present
            }
        }
        LaxNetSlice::Ipv6(v6) => {
            let plen = usize::from(v6.header().payload_length());
            let ext = v6.extensions().slice().len();
            // payload_length 0 means a jumbogram or a TSO frame: use what was captured.
            if plen > 0 && plen >= ext {
                plen - ext
            } else {
                present
            }
        }
        LaxNetSlice::Arp(_) => present,
    }
}

/// The IP datagram's length as its header states it: the IPv4 total length
/// (0 in a TSO frame, where the payload length comes from the capture), or 40
/// plus the IPv6 payload length. Zeek counts this as IP bytes.
fn ip_meta(net: &LaxNetSlice<'_>) -> IpMeta {
    match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            IpMeta {
                len: u32::from(h.total_len()),
                ttl: h.ttl(),
                id: h.identification(),
            }
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            IpMeta {
                len: 40 + u32::from(h.payload_length()),
                ttl: h.hop_limit(),
                id: 0,
            }
        }
        LaxNetSlice::Arp(_) => IpMeta {
            len: 0,
            ttl: 0,
            id: 0,
        },
    }
}

fn is_first_fragment(net: &LaxNetSlice<'_>) -> bool {
    match net {
        LaxNetSlice::Ipv4(v4) => v4.header().fragments_offset().value() == 0,
        // etherparse stops at the IPv6 fragment header; without reassembly we cannot
        // reliably find the TCP header there.
        _ => false,
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use crate::capture::{CaptureReader, Source};

    /// Calls `f` with every frame of every capture under `fixtures/`.
    fn for_each_fixture_frame(mut f: impl FnMut(&std::path::Path, &RawPacket<'_>)) {
        for path in crate::fixtures::files() {
            let Ok((src, _)) = Source::open(&path) else {
                continue;
            };
            let Ok(mut reader) = CaptureReader::from_source(src) else {
                continue;
            };
            while let Ok(Some(raw)) = reader.next_packet() {
                f(&path, &raw);
            }
        }
    }

    /// Every frame of every fixture: when the fast path decodes it, the general
    /// path gives the same segment.
    #[test]
    fn fast_path_agrees_with_the_general_path_on_every_fixture() {
        let (mut fast, mut total) = (0usize, 0usize);
        for_each_fixture_frame(|path, raw| {
            total += 1;
            if let Some(seg) = fast_path(raw, 0) {
                fast += 1;
                assert_eq!(
                    Ok(seg),
                    decode_general(raw, 0),
                    "{} packet {}",
                    path.display(),
                    raw.number
                );
            }
        });
        assert!(total > 10_000 && fast > total / 2, "fast {fast} of {total}");
    }

    /// A located segment, decoded on another thread, is the segment `decode`
    /// gives for its frame; a frame that cannot be located is decoded there.
    #[test]
    fn located_segments_decode_as_their_frames_on_every_fixture() {
        let (mut located, mut fast) = (0usize, 0usize);
        for_each_fixture_frame(|path, raw| {
            fast += usize::from(fast_path(raw, 3).is_some());
            if let Some(l) = locate(raw, 3) {
                located += 1;
                let seg = l.segment();
                assert_eq!(
                    (l.src_endpoint(), l.dst_endpoint()),
                    (seg.src_endpoint(), seg.dst_endpoint())
                );
                assert_eq!(
                    Ok(seg),
                    decode(raw, 3),
                    "{} packet {}",
                    path.display(),
                    raw.number
                );
            }
        });
        // Nearly every segment the fast path takes fits.
        assert!(
            located > fast * 9 / 10,
            "located {located} of the fast path's {fast}"
        );
    }

    /// The copy of the TCP header stops at the header (or at what was
    /// captured of it), so a frame cut inside the options, or one whose
    /// payload was cut, still gives its flags as captured.
    #[test]
    fn located_segments_keep_what_was_captured_of_the_header() {
        let frame = |tcp_len: usize, payload: usize, captured: usize| {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&[0x08, 0x00]);
            let total = (20 + tcp_len + payload) as u16;
            f.extend_from_slice(&[
                0x45,
                0,
                (total >> 8) as u8,
                total as u8,
                0,
                0,
                0x40,
                0,
                64,
                6,
                0,
                0,
            ]);
            f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
            let mut tcp = vec![0u8; tcp_len];
            tcp[..4].copy_from_slice(&[0x1f, 0x90, 0x00, 0x50]);
            tcp[12] = ((tcp_len / 4) as u8) << 4;
            tcp[13] = 0x18;
            for (i, b) in tcp[20..].iter_mut().enumerate() {
                *b = [1, 1, 8, 10][i % 4];
            }
            f.extend_from_slice(&tcp);
            f.extend(std::iter::repeat_n(0xaa, payload));
            f.truncate(captured);
            f
        };
        for (tcp_len, payload, captured, locatable) in [
            (32, 100, 34 + 32 + 100, true),
            (32, 100, 34 + 32 + 10, true),
            (32, 100, 34 + 25, true),
            (44, 0, 34 + 44, true),
            (48, 0, 34 + 48, false),
            (48, 0, 34 + 40, true),
            (20, 0, 34 + 19, false),
        ] {
            let data = frame(tcp_len, payload, captured);
            let raw = RawPacket {
                number: 7,
                offset: 0,
                ts: Timestamp(5),
                linktype: LinkType::ETHERNET,
                data: &data,
                orig_len: (34 + tcp_len + payload) as u32,
            };
            let l = locate(&raw, 0);
            assert_eq!(l.is_some(), locatable, "{tcp_len} {payload} {captured}");
            if let Some(l) = l {
                assert_eq!(
                    Ok(l.segment()),
                    decode(&raw, 0),
                    "{tcp_len} {payload} {captured}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame with `tags` VLAN tags (802.1ad, 802.1Q and the old
    /// 9100 in turn) around a bare IPv4 SYN from port 40000 to 80.
    fn tagged_syn(tags: usize) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for i in 0..tags {
            let tpid = [ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETHERTYPE_QINQ_OLD][i % 3];
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&(i as u16 + 1).to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
        f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        f
    }

    fn decode_ethernet(data: &[u8]) -> Result<Segment, Skip> {
        let raw = RawPacket {
            number: 1,
            offset: 0,
            ts: Timestamp(0),
            linktype: LinkType::ETHERNET,
            data,
            orig_len: data.len() as u32,
        };
        decode(&raw, 0)
    }

    #[test]
    fn any_number_of_vlan_tags_is_unwrapped() {
        for tags in 0..=40 {
            let seg =
                decode_ethernet(&tagged_syn(tags)).unwrap_or_else(|e| panic!("{tags}: {e:?}"));
            assert_eq!((seg.src_port, seg.dst_port), (40000, 80), "{tags} tags");
            assert_eq!(seg.control, Control::Syn, "{tags} tags");
        }
    }

    #[test]
    fn a_frame_ending_inside_its_vlan_tags_is_too_short() {
        let frame = tagged_syn(6);
        // Cut inside the fifth tag: past the three etherparse reads.
        assert_eq!(
            decode_ethernet(&frame[..12 + 4 * 4 + 2]),
            Err(Skip::TooShort)
        );
    }
}
