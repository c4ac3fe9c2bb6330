//! One side of a connection as Zeek's TCP analyzer tracks it
//! (src/analyzer/protocol/tcp/TCP_Endpoint.{h,cc}): its state, the sequence
//! numbers it is measured by, and the counters behind the scaled history letters.

use super::history::Scaled;
use super::reassembly::Reassembler;
use crate::decode::EndpointAddr;

/// Zeek's endpoint states (`EndpointState` in TCP_Endpoint.h), with the names
/// Zeek's scripts know them by (`TCP_INACTIVE` ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointState {
    /// Nothing seen from this side.
    Inactive,
    /// A SYN seen, no ACK.
    SynSent,
    /// A SYN-ACK seen from a side that sent no SYN.
    SynAckSent,
    /// Data seen, but no SYN.
    Partial,
    /// A SYN-ACK seen (implicitly for the SYN sender).
    Established,
    /// A FIN seen.
    Closed,
    /// A RST seen.
    Reset,
}

impl EndpointState {
    pub fn name(self) -> &'static str {
        match self {
            EndpointState::Inactive => "TCP_INACTIVE",
            EndpointState::SynSent => "TCP_SYN_SENT",
            EndpointState::SynAckSent => "TCP_SYN_ACK_SENT",
            EndpointState::Partial => "TCP_PARTIAL",
            EndpointState::Established => "TCP_ESTABLISHED",
            EndpointState::Closed => "TCP_CLOSED",
            EndpointState::Reset => "TCP_RESET",
        }
    }

    /// `is_handshake` in TCP_Endpoint.cc.
    pub fn is_handshake(self) -> bool {
        matches!(
            self,
            EndpointState::Inactive | EndpointState::SynSent | EndpointState::SynAckSent
        )
    }

    /// Inactive or partial: what `conn_state()` calls `o_inactive`/`r_inactive`.
    pub fn is_inactive_or_partial(self) -> bool {
        matches!(self, EndpointState::Inactive | EndpointState::Partial)
    }
}

impl std::fmt::Display for EndpointState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Signed distance from `b` to `a` in sequence space (Zeek's `seq_delta`).
pub(super) fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

#[derive(Clone, Debug)]
pub(super) struct Endpoint {
    pub addr: EndpointAddr,
    /// Whether this side is currently Zeek's originator.
    pub is_orig: bool,
    pub state: EndpointState,
    pub prev_state: EndpointState,
    /// Initial sequence number (as though a SYN had been seen, for partial
    /// connections); signed 64-bit as in Zeek.
    pub start_seq: i64,
    /// One past the highest sequence number sent.
    pub last_seq: u32,
    /// Highest acknowledgment of this side's data (from the peer).
    pub ack_seq: u32,
    pub seq_wraps: u32,
    pub ack_wraps: u32,
    /// Relative sequence number just past this side's FIN.
    pub fin_seq: u64,
    pub fin_cnt: u32,
    /// Zeek has reported this side closing (`did_close`).
    pub did_close: bool,
    pub hist_last_syn: u64,
    pub hist_last_fin: u64,
    pub hist_last_rst: u64,
    pub rxmit: Scaled,
    pub zero_window: Scaled,
    pub gap: Scaled,
    /// The content reassembler, which notices the gaps (letter `g`).
    pub reassembler: Reassembler,
    /// What the ConnSize analyzer counts: packets and IP bytes.
    pub packets: u64,
    pub ip_bytes: u64,
}

impl Endpoint {
    pub fn new(addr: EndpointAddr, is_orig: bool) -> Endpoint {
        Endpoint {
            addr,
            is_orig,
            state: EndpointState::Inactive,
            prev_state: EndpointState::Inactive,
            start_seq: 0,
            last_seq: 0,
            ack_seq: 0,
            seq_wraps: 0,
            ack_wraps: 0,
            fin_seq: 0,
            fin_cnt: 0,
            did_close: false,
            hist_last_syn: 0,
            hist_last_fin: 0,
            hist_last_rst: 0,
            rxmit: Scaled::default(),
            zero_window: Scaled::default(),
            gap: Scaled::default(),
            reassembler: Reassembler::new(),
            packets: 0,
            ip_bytes: 0,
        }
    }

    /// `StartSeq()`: the initial sequence number as a 32-bit value.
    pub fn start_seq32(&self) -> u32 {
        self.start_seq as u32
    }

    /// Sets start, ack and last sequence numbers together (`InitStartSeq`,
    /// `InitAckSeq`, `InitLastSeq`).
    pub fn init_seqs(&mut self, start: u32, last: u32) {
        self.start_seq = i64::from(start);
        self.ack_seq = start;
        self.last_seq = last;
    }

    /// `UpdateLastSeq`: a smaller raw value means the space wrapped.
    pub fn update_last_seq(&mut self, seq: u32) {
        if seq < self.last_seq {
            self.seq_wraps += 1;
        }
        self.last_seq = seq;
    }

    /// `UpdateAckSeq`.
    pub fn update_ack_seq(&mut self, seq: u32) {
        if seq < self.ack_seq {
            self.ack_wraps += 1;
        }
        self.ack_seq = seq;
    }

    /// `ToRelativeSeqSpace`: a 32-bit number, `wraps` times around, relative to
    /// the start.
    pub fn to_relative(&self, seq: u32, wraps: u32) -> u64 {
        full_seq(seq, wraps).wrapping_sub(self.start_seq as u64)
    }

    /// `NoDataAcked`: nothing of this side acknowledged beyond its SYN.
    pub fn no_data_acked(&self) -> bool {
        let ack = full_seq(self.ack_seq, self.ack_wraps);
        let start = self.start_seq as u64;
        ack == start || ack == start.wrapping_add(1)
    }

    /// `Size()`: payload bytes sent, from the sequence numbers (SYN and FIN
    /// octets excluded), what conn.log calls `orig_bytes`/`resp_bytes`.
    pub fn size(&self, peer_state: EndpointState) -> u64 {
        if self.prev_state == EndpointState::SynSent
            && self.state == EndpointState::Reset
            && peer_state == EndpointState::Inactive
            && !self.no_data_acked()
        {
            // A half-open connection discovered and aborted.
            return 0;
        }
        let last = full_seq(self.last_seq, self.seq_wraps);
        let ack = full_seq(self.ack_seq, self.ack_wraps);
        // Neither the SYN nor the FIN octet is payload.
        let size = last
            .max(ack)
            .wrapping_sub(self.start_seq as u64)
            .saturating_sub(1);
        if self.fin_cnt > 0 {
            size.saturating_sub(1)
        } else {
            size
        }
    }
}

/// `ToFullSeqSpace`.
fn full_seq(seq: u32, wraps: u32) -> u64 {
    (u64::from(wraps) << 32) + u64::from(seq)
}
