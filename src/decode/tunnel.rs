//! Tunnels followed to the TCP inside, the ones Zeek decapsulates by default
//! (its packet analyzers under src/packet_analysis/protocol/: ip, gre, vxlan,
//! geneve, gtpv1, ayiya, teredo): IP in IP, GRE (also over UDP, RFC 8086),
//! VXLAN, Geneve, GTP-U, AYIYA, and Teredo, which Zeek finds by content on any
//! UDP port: an IPv6 packet whose length fills the datagram exactly, after the
//! optional authentication and origin indicators (RFC 4380 §5.1.1).

/// What a tunnel carries.
pub(super) enum Inner<'a> {
    Ethernet(&'a [u8]),
    Ip(&'a [u8]),
}

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;

const UDP_GTP_U: u16 = 2152;
const UDP_AYIYA: u16 = 5072;
const UDP_GRE: u16 = 4754;
const UDP_VXLAN: u16 = 4789;
const UDP_GENEVE: u16 = 6081;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_TEB: u16 = 0x6558;
/// ERSPAN types I and II, told apart by the GRE sequence number.
const ETHERTYPE_ERSPAN_2: u16 = 0x88be;
const ETHERTYPE_ERSPAN_3: u16 = 0x22eb;
const ETHERTYPE_PPP: u16 = 0x880b;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The packet inside an IP payload of protocol `proto`, if it is a tunnel.
pub(super) fn decapsulate(proto: u8, payload: &[u8]) -> Option<Inner<'_>> {
    match proto {
        IPPROTO_IPIP | IPPROTO_IPV6 => Some(Inner::Ip(payload)),
        IPPROTO_GRE => gre(payload),
        IPPROTO_UDP => {
            let (src, dst) = (be16(payload, 0)?, be16(payload, 2)?);
            let body = payload.get(8..)?;
            let port = |p: u16| src == p || dst == p;
            if port(UDP_VXLAN) {
                vxlan(body)
            } else if port(UDP_GENEVE) {
                geneve(body)
            } else if port(UDP_GTP_U) {
                gtp_u(body)
            } else if port(UDP_GRE) {
                gre(body)
            } else if port(UDP_AYIYA) {
                ayiya(body)
            } else {
                teredo(body)
            }
        }
        _ => None,
    }
}

/// RFC 2784/2890 GRE (version 0: optional checksum, key, sequence number) and
/// the enhanced GRE of PPTP (version 1, RFC 2637), with ERSPAN I/II/III mirrors.
fn gre(b: &[u8]) -> Option<Inner<'_>> {
    let (flags, version) = (*b.first()?, *b.get(1)? & 0x07);
    let proto = be16(b, 2)?;
    let has = |bit: u8| flags & bit != 0;
    match version {
        0 => {
            if has(0x40) {
                // Source routing (RFC 1701) is not followed.
                return None;
            }
            let mut len = 4;
            for bit in [0x80, 0x20, 0x10] {
                if has(bit) {
                    len += 4;
                }
            }
            let body = b.get(len..)?;
            match proto {
                ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some(Inner::Ip(body)),
                ETHERTYPE_TEB => Some(Inner::Ethernet(body)),
                // ERSPAN type II: a sequence number, then an 8-byte header.
                ETHERTYPE_ERSPAN_2 if has(0x10) => Some(Inner::Ethernet(body.get(8..)?)),
                // Type I: no sequence number and no ERSPAN header, the mirrored
                // frame right after GRE (Wireshark's dissect_erspan_88BE, Zeek's
                // GRE analyzer: the sequence bit alone decides).
                ETHERTYPE_ERSPAN_2 => Some(Inner::Ethernet(body)),
                // ERSPAN type III: 12 bytes, 8 more with the optional subheader.
                ETHERTYPE_ERSPAN_3 => {
                    let o = body.get(11)? & 0x01 != 0;
                    Some(Inner::Ethernet(body.get(if o { 20 } else { 12 }..)?))
                }
                _ => None,
            }
        }
        1 if proto == ETHERTYPE_PPP => {
            let mut len = 8;
            if has(0x10) {
                len += 4;
            }
            if *b.get(1)? & 0x80 != 0 {
                len += 4;
            }
            let mut ppp = b.get(len..)?;
            // Address and control fields, when not compressed away.
            if ppp.starts_with(&[0xff, 0x03]) {
                ppp = &ppp[2..];
            }
            match be16(ppp, 0)? {
                0x0021 | 0x0057 => Some(Inner::Ip(ppp.get(2..)?)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// RFC 4380 Teredo: optional authentication indicator (`00 01`, lengths,
/// client id, authentication value, 8-byte nonce, confirmation byte), optional
/// origin indication (`00 00` and 6 bytes), then an IPv6 packet that must fill
/// the rest of the datagram exactly.
fn teredo(b: &[u8]) -> Option<Inner<'_>> {
    let mut at = 0;
    if b.get(..2)? == [0x00, 0x01] {
        let (id_len, au_len) = (usize::from(*b.get(2)?), usize::from(*b.get(3)?));
        at = 4 + id_len + au_len + 8 + 1;
    }
    if b.get(at..at + 2)? == [0x00, 0x00] {
        at += 8;
    }
    let ipv6 = b.get(at..)?;
    let payload_len = usize::from(be16(ipv6, 4)?);
    (ipv6.len() >= 40 && ipv6[0] >> 4 == 6 && 40 + payload_len == ipv6.len())
        .then_some(Inner::Ip(ipv6))
}

/// AYIYA ("Anything In Anything", SixXS): 8 bytes, the identity (2^n bytes)
/// and the signature (4·m bytes); only a forwarded (opcode 1) IPv4 or IPv6
/// packet is followed (Zeek's src/packet_analysis/protocol/ayiya/AYIYA.cc).
fn ayiya(b: &[u8]) -> Option<Inner<'_>> {
    let id_len = 1usize << (*b.first()? >> 4);
    let sig_len = usize::from(*b.get(1)? >> 4) * 4;
    if *b.get(2)? & 0x0f != 1 || !matches!(*b.get(3)?, IPPROTO_IPIP | IPPROTO_IPV6) {
        return None;
    }
    Some(Inner::Ip(b.get(8 + id_len + sig_len..)?))
}

/// RFC 7348 VXLAN: 8 bytes, then the Ethernet frame.
fn vxlan(b: &[u8]) -> Option<Inner<'_>> {
    Some(Inner::Ethernet(b.get(8..)?))
}

/// RFC 8926 Geneve: 8 bytes plus the options, then what the protocol type says.
fn geneve(b: &[u8]) -> Option<Inner<'_>> {
    let opt_len = usize::from(*b.first()? & 0x3f) * 4;
    let body = b.get(8 + opt_len..)?;
    match be16(b, 2)? {
        ETHERTYPE_TEB => Some(Inner::Ethernet(body)),
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some(Inner::Ip(body)),
        _ => None,
    }
}

/// GTP-U (3GPP TS 29.281): a G-PDU (message type 255) carries an IP packet
/// after the 8-byte header, the optional 4-byte sequence/N-PDU/next-type
/// word, and any extension headers.
fn gtp_u(b: &[u8]) -> Option<Inner<'_>> {
    let flags = *b.first()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || *b.get(1)? != 0xff {
        return None;
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        let mut next = *b.get(11)?;
        at = 12;
        while next != 0 {
            let words = usize::from(*b.get(at)?);
            if words == 0 {
                return None;
            }
            at += words * 4;
            next = *b.get(at - 1)?;
        }
    }
    let body = b.get(at..)?;
    match body.first()? >> 4 {
        4 | 6 => Some(Inner::Ip(body)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_of(i: Option<Inner<'_>>) -> Option<&[u8]> {
        match i {
            Some(Inner::Ip(b)) => Some(b),
            _ => None,
        }
    }

    fn eth_of(i: Option<Inner<'_>>) -> Option<&[u8]> {
        match i {
            Some(Inner::Ethernet(b)) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn gre_skips_its_optional_fields() {
        // Key and sequence number present, IPv4 inside.
        let b = [0x30, 0, 0x08, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0x45, 0];
        assert_eq!(ip_of(decapsulate(IPPROTO_GRE, &b)), Some(&[0x45, 0][..]));
        // Transparent Ethernet bridging.
        let b = [0, 0, 0x65, 0x58, 0xaa];
        assert_eq!(eth_of(decapsulate(IPPROTO_GRE, &b)), Some(&[0xaa][..]));
        // Source routing is not followed.
        assert!(decapsulate(IPPROTO_GRE, &[0x40, 0, 8, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn erspan_is_told_apart_by_the_gre_sequence_number() {
        // Type I: no sequence number, the mirrored frame right after GRE
        // (with a key here), as Wireshark's packet-erspan.c and Zeek read it.
        let b = [0x20, 0, 0x88, 0xbe, 0, 0, 0, 7, 0xaa];
        assert_eq!(eth_of(decapsulate(IPPROTO_GRE, &b)), Some(&[0xaa][..]));
        assert_eq!(
            eth_of(decapsulate(IPPROTO_GRE, &[0, 0, 0x88, 0xbe, 0xaa])),
            Some(&[0xaa][..])
        );
        // Type II: a sequence number, then the 8-byte ERSPAN header.
        let b = [
            0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 3, 0, 0, 0, 0, 0xaa,
        ];
        assert_eq!(eth_of(decapsulate(IPPROTO_GRE, &b)), Some(&[0xaa][..]));
    }

    #[test]
    fn pptp_gre_carries_ppp() {
        let b = [
            0x30, 0x81, 0x88, 0x0b, 0, 4, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0x03, 0x00, 0x21,
            0x45,
        ];
        assert_eq!(ip_of(decapsulate(IPPROTO_GRE, &b)), Some(&[0x45][..]));
    }

    #[test]
    fn udp_tunnels_are_found_by_port() {
        let mut vx = vec![0x12, 0x34, 0x12, 0xb5, 0, 0, 0, 0];
        vx.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 1, 0xee]);
        assert_eq!(eth_of(decapsulate(IPPROTO_UDP, &vx)), Some(&[0xee][..]));
        let mut gn = vec![0x17, 0xc1, 0x17, 0xc1, 0, 0, 0, 0];
        gn.extend_from_slice(&[0x01, 0, 0x65, 0x58, 0, 0, 1, 0, 9, 9, 9, 9, 0xee]);
        assert_eq!(eth_of(decapsulate(IPPROTO_UDP, &gn)), Some(&[0xee][..]));
        let other = [0x00, 0x35, 0x12, 0x34, 0, 0, 0, 0, 1];
        assert!(decapsulate(IPPROTO_UDP, &other).is_none());
    }

    #[test]
    fn ayiya_skips_identity_and_signature() {
        let mut a = vec![0x13, 0xd0, 0x13, 0xd0, 0, 0, 0, 0];
        // 16-byte identity, 20-byte signature, forward, IPv6.
        a.extend_from_slice(&[0x41, 0x52, 0x11, 41, 0, 0, 0, 0]);
        a.extend_from_slice(&[0; 36]);
        a.push(0x60);
        assert_eq!(ip_of(decapsulate(IPPROTO_UDP, &a)), Some(&[0x60][..]));
        a[8 + 2] = 0x10;
        assert!(decapsulate(IPPROTO_UDP, &a).is_none());
    }

    #[test]
    fn teredo_is_an_ipv6_packet_filling_the_datagram() {
        let mut t = vec![0x0e, 0xd5, 0x80, 0x84, 0, 0, 0, 0];
        // Origin indication, then IPv6 with 2 bytes of payload.
        t.extend_from_slice(&[0, 0, 1, 2, 3, 4, 5, 6]);
        let mut v6 = vec![0x60, 0, 0, 0, 0, 2, 6, 64];
        v6.extend_from_slice(&[0; 32]);
        v6.extend_from_slice(&[7, 7]);
        t.extend_from_slice(&v6);
        assert_eq!(ip_of(decapsulate(IPPROTO_UDP, &t)), Some(&v6[..]));
        // One byte more or less than the IPv6 length says: not Teredo.
        t.push(0);
        assert!(decapsulate(IPPROTO_UDP, &t).is_none());
        t.truncate(t.len() - 2);
        assert!(decapsulate(IPPROTO_UDP, &t).is_none());
    }

    #[test]
    fn gtp_u_skips_the_optional_word_and_extensions() {
        let mut g = vec![0x08, 0x68, 0x08, 0x68, 0, 0, 0, 0];
        // Version 1, PT, E set; G-PDU; extension of one word, then none.
        g.extend_from_slice(&[
            0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0, 0, 0, 0x45,
        ]);
        assert_eq!(ip_of(decapsulate(IPPROTO_UDP, &g)), Some(&[0x45][..]));
        // Not a G-PDU.
        let mut echo = vec![0x08, 0x68, 0x08, 0x68, 0, 0, 0, 0];
        echo.extend_from_slice(&[0x30, 0x01, 0, 0, 0, 0, 0, 1, 0x45]);
        assert!(decapsulate(IPPROTO_UDP, &echo).is_none());
    }

    #[test]
    fn truncated_headers_are_no_tunnel() {
        assert!(decapsulate(IPPROTO_GRE, &[0x30, 0, 8]).is_none());
        assert!(decapsulate(IPPROTO_UDP, &[0x12, 0xb5]).is_none());
    }
}
