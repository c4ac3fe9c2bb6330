//! The TCP header, decoded once: the rest of the program never tests flag bits.

use super::Skip;

/// What a segment does to the connection's control state (smoltcp's `Control`).
///
/// Exactly one applies: a RST wins over everything (FIN+RST is a reset), a SYN over
/// a FIN (SYN+FIN is treated as a SYN, as stacks that accept it do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Control {
    None,
    Syn,
    Fin,
    Rst,
}

impl Control {
    /// Sequence space the control flag occupies (RFC 9293 §3.4: SYN and FIN count).
    pub fn seq_len(self) -> u32 {
        match self {
            Control::Syn | Control::Fin => 1,
            Control::None | Control::Rst => 0,
        }
    }
}

/// The control bits as sent, every combination kept (SYN+FIN, SYN+RST, FIN+RST):
/// [`Control`] picks the one that decides for the tracker, while Zeek's view
/// counts each bit, as its history codes `q` and `i` need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    pub ack: bool,
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

/// The TCP options the tracker uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Timestamps option (RFC 7323): TSval, TSecr.
    pub timestamp: Option<(u32, u32)>,
    /// Window scale shift from a SYN.
    pub window_scale: Option<u8>,
    /// SACK blocks present (their edges are not kept).
    pub sack: bool,
}

pub(crate) struct Header {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: Option<u32>,
    pub control: Control,
    pub flags: TcpFlags,
    pub window: u16,
    pub header_len: usize,
    pub options: TcpOptions,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

impl Header {
    /// Parses the fixed header and as many options as were captured.
    #[inline]
    pub fn parse(b: &[u8]) -> Result<Header, Skip> {
        Self::checked_len(b)?;
        Ok(Self::parse_checked(b))
    }

    /// The header's length from its data offset, or why `b` cannot be parsed:
    /// what [`Header::parse`] rejects.
    #[inline]
    pub fn checked_len(b: &[u8]) -> Result<usize, Skip> {
        if b.len() < 20 {
            return Err(Skip::TooShort);
        }
        let header_len = usize::from(b[12] >> 4) * 4;
        if header_len < 20 {
            return Err(Skip::Malformed);
        }
        Ok(header_len)
    }

    /// [`Header::parse`] of bytes [`Header::checked_len`] accepted (any other
    /// panics on the index of the fixed header).
    #[inline]
    pub fn parse_checked(b: &[u8]) -> Header {
        let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
        let be32 = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let header_len = usize::from(b[12] >> 4) * 4;
        let flags = b[13];
        let has = |bit: u8| flags & bit != 0;
        let control = if has(RST) {
            Control::Rst
        } else if has(SYN) {
            Control::Syn
        } else if has(FIN) {
            Control::Fin
        } else {
            Control::None
        };
        let options_end = header_len.min(b.len());
        Header {
            src_port: be16(0),
            dst_port: be16(2),
            seq: be32(4),
            ack: has(ACK).then(|| be32(8)),
            control,
            flags: TcpFlags {
                syn: has(SYN),
                fin: has(FIN),
                rst: has(RST),
                psh: has(PSH),
                ack: has(ACK),
            },
            window: be16(14),
            header_len,
            options: parse_options(&b[20..options_end]),
        }
    }
}

/// Reads the options as far as they were captured.
fn parse_options(o: &[u8]) -> TcpOptions {
    // What nearly every segment after the handshake carries (Linux, BSD,
    // Windows with timestamps on): NOP, NOP, Timestamps. Read without the walk.
    if let &[1, 1, 8, 10, a0, a1, a2, a3, e0, e1, e2, e3] = o {
        return TcpOptions {
            timestamp: Some((
                u32::from_be_bytes([a0, a1, a2, a3]),
                u32::from_be_bytes([e0, e1, e2, e3]),
            )),
            ..TcpOptions::default()
        };
    }
    walk_options(o)
}

/// Walks the options one by one; a cut or malformed option ends the walk.
fn walk_options(mut o: &[u8]) -> TcpOptions {
    let mut out = TcpOptions::default();
    while let Some(&kind) = o.first() {
        match kind {
            0 => break,
            1 => o = &o[1..],
            _ => {
                let Some(&len) = o.get(1) else { break };
                let len = usize::from(len);
                if len < 2 || len > o.len() {
                    break;
                }
                let v = &o[2..len];
                match (kind, v.len()) {
                    (3, 1) => out.window_scale = Some(v[0]),
                    (5, _) => out.sack = true,
                    (8, 8) => {
                        out.timestamp = Some((
                            u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                            u32::from_be_bytes([v[4], v[5], v[6], v[7]]),
                        ))
                    }
                    _ => {}
                }
                o = &o[len..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(flags: u8, options: &[u8]) -> Vec<u8> {
        let mut b = vec![
            0x1f, 0x90, 0x00, 0x50, // ports 8080 -> 80
            0x80, 0x00, 0x00, 0x01, // seq 2^31 + 1
            0xff, 0xff, 0xff, 0xff, // ack 2^32 - 1
            0x00, flags, 0x10, 0x00, // offset, flags, window 4096
            0x00, 0x00, 0x00, 0x00,
        ];
        let words = (20 + options.len()).div_ceil(4);
        b[12] = (words as u8) << 4;
        b.extend_from_slice(options);
        b.resize(words * 4, 0);
        b
    }

    #[test]
    fn flags_decode_into_one_control() {
        let h = Header::parse(&header(SYN | ACK, &[])).unwrap();
        assert_eq!(h.control, Control::Syn);
        assert_eq!(h.ack, Some(0xffff_ffff));
        assert_eq!(h.seq, 0x8000_0001);
        let h = Header::parse(&header(FIN | RST | ACK, &[])).unwrap();
        assert_eq!(h.control, Control::Rst);
        assert!(h.flags.fin && h.control == Control::Rst);
        let h = Header::parse(&header(FIN | PSH, &[])).unwrap();
        assert_eq!(h.control, Control::Fin);
        assert_eq!(h.ack, None);
        assert!(h.flags.psh);
    }

    #[test]
    fn timestamps_and_window_scale_are_read() {
        let opts = [
            2, 4, 0x05, 0xb4, // MSS
            4, 2, // SACK permitted
            8, 10, 0, 0, 0, 7, 0, 0, 0, 9, // TS 7, 9
            1, 3, 3, 7, // NOP, WS 7
        ];
        let h = Header::parse(&header(SYN, &opts)).unwrap();
        assert_eq!(h.options.timestamp, Some((7, 9)));
        assert_eq!(h.options.window_scale, Some(7));
        assert_eq!(h.header_len, 40);
    }

    #[test]
    fn options_cut_by_snaplen_keep_the_fixed_header() {
        let opts = [2, 4, 0x05, 0xb4, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
        let full = header(SYN, &opts);
        let h = Header::parse(&full[..26]).unwrap();
        assert_eq!(h.control, Control::Syn);
        assert_eq!(h.header_len, 36);
        assert_eq!(h.options.timestamp, None);
    }

    #[test]
    fn impossible_data_offset_is_malformed() {
        let mut b = header(ACK, &[]);
        b[12] = 0x40;
        assert!(matches!(Header::parse(&b), Err(Skip::Malformed)));
        assert!(matches!(Header::parse(&b[..19]), Err(Skip::TooShort)));
    }

    #[test]
    fn nop_nop_timestamps_takes_the_fast_path_and_reads_the_same() {
        let opts = [1, 1, 8, 10, 0, 0, 0, 7, 0xff, 0, 0, 9];
        let h = Header::parse(&header(ACK, &opts)).unwrap();
        assert_eq!(h.options.timestamp, Some((7, 0xff00_0009)));
        assert_eq!(h.options, walk_options(&opts));
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_the_walk(
            ts in proptest::collection::vec(any::<u8>(), 8),
            tail in proptest::collection::vec(any::<u8>(), 0..28),
            noise in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut o = vec![1, 1, 8, 10];
            o.extend_from_slice(&ts);
            prop_assert_eq!(parse_options(&o), walk_options(&o));
            o.extend_from_slice(&tail);
            prop_assert_eq!(parse_options(&o), walk_options(&o));
            prop_assert_eq!(parse_options(&noise), walk_options(&noise));
        }
    }

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
        // Every bit as sent: a SYN+FIN is drawn as both.
        let syn_fin = TcpFlags {
            syn: true,
            fin: true,
            ..TcpFlags::default()
        };
        assert_eq!(syn_fin.to_string(), "FIN, SYN");
    }
}
