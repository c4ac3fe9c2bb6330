//! The part of Zeek's TCP reassembler that shows in conn.log: content gaps
//! (history `g`, `missed_bytes`).
//!
//! Zeek reassembles every TCP stream from its first packet
//! (`dpd_reassemble_first_packets`). A gap is reported when the peer
//! acknowledges bytes the reassembler never received: `AckReceived` →
//! `TrimToSeq` → `Undelivered` → `Gap` (src/analyzer/protocol/tcp/TCP_Reassembler.cc,
//! src/Reassem.cc). Only the sequence ranges are kept here, never the bytes.
//! Sequence numbers are relative to the endpoint's start (data starts at 1).

/// `tcp_max_above_hole_without_any_acks` (init-bare.zeek).
const MAX_ABOVE_HOLE_WITHOUT_ANY_ACKS: u64 = 16384;
/// `tcp_excessive_data_without_further_acks` (init-bare.zeek).
const EXCESSIVE_DATA_WITHOUT_FURTHER_ACKS: u64 = 10 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Reassembler {
    /// Everything below this has been delivered (or given up on as a gap).
    last_reassem_seq: u64,
    /// Everything below this has been acknowledged and dropped.
    trim_seq: u64,
    /// Received ranges not yet trimmed, sorted, merged: `[seq, upper)`.
    blocks: Vec<(u64, u64)>,
    /// Zeek gave up reassembling this direction.
    skip_deliveries: bool,
}

impl Reassembler {
    pub fn new() -> Reassembler {
        Reassembler {
            last_reassem_seq: 1,
            trim_seq: 1,
            blocks: Vec::new(),
            skip_deliveries: false,
        }
    }

    fn undelivered_bytes(&self) -> u64 {
        self.blocks
            .last()
            .map_or(0, |&(_, upper)| upper.saturating_sub(self.last_reassem_seq))
    }

    fn data_size(&self) -> u64 {
        self.blocks.iter().map(|&(s, u)| u - s).sum()
    }

    /// `TCP_Reassembler::DataSent` for a fully captured payload: `acked` is the
    /// peer's highest acknowledgment of this side's data (relative),
    /// `no_data_acked` whether none of it has been acknowledged yet.
    pub fn data_sent(&mut self, seq: u64, len: u64, acked: u64, no_data_acked: bool) {
        if self.skip_deliveries || len == 0 {
            return;
        }
        let mut seq = seq;
        let upper = seq.wrapping_add(len);
        if upper <= seq {
            // Numbers past 2^64 only come from nonsense sequence numbers.
            return;
        }
        if seq < acked {
            if upper <= acked {
                // Already delivered and acknowledged.
                return;
            }
            seq = acked;
        }
        self.new_block(seq, upper);
        if no_data_acked && self.undelivered_bytes() > MAX_ABOVE_HOLE_WITHOUT_ANY_ACKS {
            // above_hole_data_without_any_acks
            self.blocks.clear();
            self.skip_deliveries = true;
        }
        if self.data_size() > EXCESSIVE_DATA_WITHOUT_FURTHER_ACKS {
            // excessive_data_without_further_acks
            self.blocks.clear();
            self.skip_deliveries = true;
        }
    }

    /// `Reassembler::NewBlock` and `BlockInserted`: keep the range, deliver what
    /// became contiguous.
    fn new_block(&mut self, seq: u64, upper: u64) {
        if upper <= self.trim_seq {
            return;
        }
        let seq = seq.max(self.trim_seq);
        self.insert(seq, upper);
        self.deliver_contiguous();
    }

    fn insert(&mut self, seq: u64, upper: u64) {
        let at = self.blocks.partition_point(|&(_, u)| u < seq);
        let mut end = at;
        let (mut lo, mut hi) = (seq, upper);
        while end < self.blocks.len() && self.blocks[end].0 <= hi {
            lo = lo.min(self.blocks[end].0);
            hi = hi.max(self.blocks[end].1);
            end += 1;
        }
        self.blocks.splice(at..end, [(lo, hi)]);
    }

    fn deliver_contiguous(&mut self) {
        for &(seq, upper) in &self.blocks {
            if seq <= self.last_reassem_seq && upper > self.last_reassem_seq {
                self.last_reassem_seq = upper;
            }
        }
    }

    /// `TCP_Reassembler::AckReceived(seq)` (already clipped below the FIN by the
    /// caller). Returns the gaps found, as `(seq, len)`; `partial` is the
    /// adapter's `IsPartial()`.
    pub fn ack_received(&mut self, seq: u64, partial: bool) -> Vec<(u64, u64)> {
        if seq <= self.trim_seq {
            return Vec::new();
        }
        let mut gaps = Vec::new();
        if self.last_reassem_seq < seq {
            self.undelivered(seq, partial, &mut gaps);
        }
        // Trim what is acknowledged.
        self.blocks.retain(|&(_, u)| u > seq);
        if let Some(first) = self.blocks.first_mut() {
            first.0 = first.0.max(seq);
        }
        self.trim_seq = seq;
        gaps
    }

    /// `TCP_Reassembler::Undelivered(up_to_seq)`.
    fn undelivered(&mut self, up_to: u64, partial: bool, gaps: &mut Vec<(u64, u64)>) {
        if up_to <= 2 && partial {
            // The faked SYN of a partial connection, or a keep-alive: ignored,
            // and (as in Zeek) `last_reassem_seq` is left alone.
            return;
        }
        if !self.skip_deliveries {
            while let Some(&(seq, _)) = self
                .blocks
                .iter()
                .find(|&&(s, _)| s >= self.last_reassem_seq && s < up_to)
            {
                gaps.push((self.last_reassem_seq, seq - self.last_reassem_seq));
                self.last_reassem_seq = seq;
                self.deliver_contiguous();
            }
            if up_to > self.last_reassem_seq {
                gaps.push((self.last_reassem_seq, up_to - self.last_reassem_seq));
            }
        }
        self.last_reassem_seq = self.last_reassem_seq.max(up_to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_data_then_ack_has_no_gap() {
        let mut r = Reassembler::new();
        r.data_sent(1, 100, 1, true);
        r.data_sent(101, 100, 1, true);
        assert!(r.ack_received(201, false).is_empty());
    }

    #[test]
    fn acked_data_never_seen_is_a_gap() {
        let mut r = Reassembler::new();
        r.data_sent(1, 100, 1, true);
        assert_eq!(r.ack_received(301, false), vec![(101, 200)]);
        // Reported once.
        assert!(r.ack_received(301, false).is_empty());
    }

    #[test]
    fn a_hole_below_received_data_is_a_gap_when_acked_past() {
        let mut r = Reassembler::new();
        r.data_sent(1, 100, 1, true);
        r.data_sent(201, 100, 1, true);
        assert_eq!(r.ack_received(301, false), vec![(101, 100)]);
    }

    #[test]
    fn a_filled_hole_is_no_gap() {
        let mut r = Reassembler::new();
        r.data_sent(1, 100, 1, true);
        r.data_sent(201, 100, 1, true);
        r.data_sent(101, 100, 1, true);
        assert!(r.ack_received(301, false).is_empty());
    }

    #[test]
    fn partial_connections_ignore_the_first_two_octets() {
        let mut r = Reassembler::new();
        assert!(r.ack_received(2, true).is_empty());
        assert_eq!(r.ack_received(2, false), Vec::<(u64, u64)>::new());
    }

    #[test]
    fn retransmitted_acked_data_is_dropped() {
        let mut r = Reassembler::new();
        r.data_sent(1, 100, 1, true);
        assert!(r.ack_received(101, false).is_empty());
        r.data_sent(1, 100, 101, false);
        assert!(r.blocks.is_empty());
    }
}
