//! Ladder (sequence) diagrams: what the HTML renderer asks the second pass
//! over the inputs for ([`LadderRequest`]) and what it gets back ([`Ladders`]);
//! the pass itself is `pipeline::ladders`.

use std::collections::BTreeMap;

use crate::decode::{EndpointAddr, TcpFlags};
use crate::flow::Side;
use crate::time::Timestamp;

/// Packets kept from the start of each connection (handshake and first exchanges).
pub const HEAD_PACKETS: usize = 12;
/// Packets kept from the end of each connection (the teardown).
pub const TAIL_PACKETS: usize = 40;
/// Evidence packets kept per connection beyond the head and the tail.
pub const MAX_KEPT: usize = 24;

/// One connection whose packets are wanted.
#[derive(Clone, Debug)]
pub struct LadderRequest {
    /// The connection's report id (the key of [`Ladders::ladders`]).
    pub id: u64,
    pub client: EndpointAddr,
    pub server: EndpointAddr,
    /// Its first and last packet's time: packets of the 4-tuple outside this
    /// window belong to other connections on the same 4-tuple.
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// Packets to keep wherever they fall, as (input index, frame number): the
    /// verdict's evidence. At most [`MAX_KEPT`] are honoured.
    pub keep: Vec<(u16, u64)>,
}

/// One packet of a ladder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderPacket {
    pub ts: Timestamp,
    /// Input index and 1-based frame number (Wireshark's `frame.number`).
    pub input: u16,
    pub number: u64,
    /// Who sent it.
    pub from: Side,
    /// Every control bit as sent.
    pub flags: TcpFlags,
    /// Sequence number relative to the sender's base (see [`Ladder::base`]).
    pub rel_seq: u32,
    /// Acknowledgment number relative to the receiver's base; `None` without the
    /// ACK bit, or when the receiver sent nothing in this connection (no base).
    pub rel_ack: Option<u32>,
    /// The raw acknowledgment number, for when there is no base to relate it to.
    pub raw_ack: Option<u32>,
    /// TCP payload length (from the IP header).
    pub len: u32,
    /// Advertised window, unscaled.
    pub window: u16,
}

/// A row of a ladder: a packet, or packets left out between two kept ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LadderRow {
    Packet(LadderPacket),
    Omitted(u64),
}

/// What sequence numbers of one side are relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqBase {
    /// The ISN of its SYN (or SYN-ACK): relative numbers are Wireshark's.
    Isn(u32),
    /// No SYN from this side in the connection: the first sequence number it sent.
    FirstSeen(u32),
    /// The side sent nothing.
    None,
}

impl SeqBase {
    pub(crate) fn value(self) -> Option<u32> {
        match self {
            SeqBase::Isn(v) | SeqBase::FirstSeen(v) => Some(v),
            SeqBase::None => None,
        }
    }
}

/// The collected packets of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ladder {
    pub id: u64,
    /// In capture order (the analysis' order), with the left-out stretches.
    pub rows: Vec<LadderRow>,
    /// Packets of the connection found in the second pass.
    pub packets: u64,
    /// What each side's sequence numbers are relative to: `[client, server]`.
    pub base: [SeqBase; 2],
    /// Requested evidence packets that were not found: the inputs changed since
    /// the analysis (or the request was wrong).
    pub missing: Vec<(u16, u64)>,
}

/// The result of the second pass (`pipeline::ladders::collect_ladders`).
#[derive(Clone, Debug, Default)]
pub struct Ladders {
    /// By report id. Connections with no packet found are absent.
    pub ladders: BTreeMap<u64, Ladder>,
    /// Why no ladder could be collected at all (standard input among the inputs).
    pub unavailable: Option<String>,
    /// Inputs that could not be read again, or not to their end: (input index,
    /// message naming the file).
    pub problems: Vec<(usize, String)>,
}
