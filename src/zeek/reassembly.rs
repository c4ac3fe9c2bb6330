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
/// Separate received ranges kept at most; past it this direction is given up
/// on, as Zeek gives up on a stream it cannot follow: 1-byte segments above
/// holes otherwise made every segment cost a pass over all of them (issue 35,
/// D4).
const MAX_BLOCKS: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Reassembler {
    /// Everything below this has been delivered (or given up on as a gap).
    last_reassem_seq: u64,
    /// Everything below this has been acknowledged and dropped.
    trim_seq: u64,
    /// Received ranges not yet trimmed, sorted, merged (no two touch):
    /// `[seq, upper)`.
    blocks: Vec<(u64, u64)>,
    /// Bytes in `blocks`.
    size: u64,
    /// Zeek gave up reassembling this direction.
    skip_deliveries: bool,
}

impl Reassembler {
    pub fn new() -> Reassembler {
        Reassembler {
            last_reassem_seq: 1,
            trim_seq: 1,
            blocks: Vec::new(),
            size: 0,
            skip_deliveries: false,
        }
    }

    /// Gives up on this direction (Zeek's `SetSkipDeliveries`).
    fn give_up(&mut self) {
        self.blocks.clear();
        self.size = 0;
        self.skip_deliveries = true;
    }

    fn undelivered_bytes(&self) -> u64 {
        self.blocks
            .last()
            .map_or(0, |&(_, upper)| upper.saturating_sub(self.last_reassem_seq))
    }

    fn data_size(&self) -> u64 {
        self.size
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
            self.give_up();
        }
        if self.data_size() > EXCESSIVE_DATA_WITHOUT_FURTHER_ACKS || self.blocks.len() > MAX_BLOCKS
        {
            // excessive_data_without_further_acks, or too many holes to follow
            self.give_up();
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
        let mut merged = 0;
        while end < self.blocks.len() && self.blocks[end].0 <= hi {
            let (s, u) = self.blocks[end];
            lo = lo.min(s);
            hi = hi.max(u);
            merged += u - s;
            end += 1;
        }
        self.blocks.splice(at..end, [(lo, hi)]);
        self.size = self.size - merged + (hi - lo);
    }

    /// Moves `last_reassem_seq` past the block holding it. The blocks are
    /// sorted and merged, so only the first one ending above it can, and the
    /// next one starts beyond its end.
    fn deliver_contiguous(&mut self) {
        let last = self.last_reassem_seq;
        let i = self.blocks.partition_point(|&(_, u)| u <= last);
        if let Some(&(seq, upper)) = self.blocks.get(i)
            && seq <= last
        {
            self.last_reassem_seq = upper;
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
        // Trim what is acknowledged: the blocks ending at or below it, and
        // the start of the next.
        let k = self.blocks.partition_point(|&(_, u)| u <= seq);
        let dropped: u64 = self.blocks[..k].iter().map(|&(s, u)| u - s).sum();
        self.blocks.drain(..k);
        self.size -= dropped;
        if let Some(first) = self.blocks.first_mut() {
            let start = first.0.max(seq);
            self.size -= start - first.0;
            first.0 = start;
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
                .get(
                    self.blocks
                        .partition_point(|&(s, _)| s < self.last_reassem_seq),
                )
                .filter(|&&(s, _)| s < up_to)
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

    /// 1-byte segments each above a hole: the blocks kept stay bounded and
    /// the direction is given up on, as Zeek gives up on such a stream.
    #[test]
    fn holes_without_end_are_given_up_on() {
        let mut r = Reassembler::new();
        for i in 0..20_000u64 {
            r.data_sent(2 + 2 * i, 1, 1, false);
            assert!(r.blocks.len() <= MAX_BLOCKS);
        }
        assert!(r.skip_deliveries);
        assert_eq!((r.blocks.len(), r.data_size()), (0, 0));
    }

    /// The reassembler as it was, scanning every block: the reference the
    /// searching one is held to.
    #[derive(Default)]
    struct Scanning {
        last: u64,
        trim: u64,
        blocks: Vec<(u64, u64)>,
    }

    impl Scanning {
        fn new() -> Scanning {
            Scanning {
                last: 1,
                trim: 1,
                blocks: Vec::new(),
            }
        }
        fn deliver(&mut self) {
            for &(s, u) in &self.blocks {
                if s <= self.last && u > self.last {
                    self.last = u;
                }
            }
        }
        fn sent(&mut self, seq: u64, len: u64, acked: u64) {
            let (mut seq, upper) = (seq, seq + len);
            if len == 0 || (seq < acked && upper <= acked) {
                return;
            }
            seq = seq.max(acked);
            if upper <= self.trim {
                return;
            }
            let seq = seq.max(self.trim);
            let at = self.blocks.partition_point(|&(_, u)| u < seq);
            let (mut lo, mut hi, mut end) = (seq, upper, at);
            while end < self.blocks.len() && self.blocks[end].0 <= hi {
                lo = lo.min(self.blocks[end].0);
                hi = hi.max(self.blocks[end].1);
                end += 1;
            }
            self.blocks.splice(at..end, [(lo, hi)]);
            self.deliver();
        }
        fn ack(&mut self, seq: u64) -> Vec<(u64, u64)> {
            if seq <= self.trim {
                return Vec::new();
            }
            let mut gaps = Vec::new();
            if self.last < seq {
                while let Some(&(s, _)) = self
                    .blocks
                    .iter()
                    .find(|&&(s, _)| s >= self.last && s < seq)
                {
                    gaps.push((self.last, s - self.last));
                    self.last = s;
                    self.deliver();
                }
                if seq > self.last {
                    gaps.push((self.last, seq - self.last));
                }
                self.last = self.last.max(seq);
            }
            self.blocks.retain(|&(_, u)| u > seq);
            if let Some(first) = self.blocks.first_mut() {
                first.0 = first.0.max(seq);
            }
            self.trim = seq;
            gaps
        }
    }

    proptest::proptest! {
        #[test]
        fn the_searching_reassembler_does_what_the_scanning_one_did(
            ops in proptest::collection::vec((0u64..600, 0u64..40, proptest::bool::ANY), 1..200)
        ) {
            let (mut fast, mut slow) = (Reassembler::new(), Scanning::new());
            let mut acked = 1;
            for (seq, len, is_ack) in ops {
                if is_ack {
                    acked = acked.max(seq + 3);
                    proptest::prop_assert_eq!(fast.ack_received(acked, false), slow.ack(acked));
                } else {
                    fast.data_sent(seq + 1, len, acked, false);
                    slow.sent(seq + 1, len, acked);
                }
                proptest::prop_assert_eq!(&fast.blocks, &slow.blocks);
                proptest::prop_assert_eq!(fast.last_reassem_seq, slow.last);
                proptest::prop_assert_eq!(fast.data_size(), slow.blocks.iter().map(|&(s, u)| u - s).sum::<u64>());
            }
        }
    }
}
