//! Zeek-compatible `conn_state` and `history` for each connection, computed with
//! Zeek's rules, so a report can be joined with and checked against Zeek's
//! `conn.log`.
//!
//! The rules are ported from Zeek's source (paths in zeek/zeek):
//! - the per-packet processing, endpoint states and timers:
//!   src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc ([`session`]);
//! - the endpoint's sequence numbers, sizes and scaled history letters:
//!   src/analyzer/protocol/tcp/TCP_Endpoint.{h,cc} ([`endpoint`]);
//! - history letters: `update_history` in TCPSessionAdapter.cc and
//!   `Session::CheckHistory`/`ScaledHistoryEntry` ([`history`]);
//! - content gaps: src/analyzer/protocol/tcp/TCP_Reassembler.cc ([`reassembly`]);
//! - originator and responder: `TCPAnalyzer::WantConnection` and
//!   `likely_server_ports` ([`ports`]), `Connection::FlipRoles` (src/Conn.cc);
//! - `conn_state`: `conn_state()` in scripts/base/protocols/conn/main.zeek.
//!
//! Zeek's view is kept separate from ours: its originator is the sender of the
//! first packet (flipped by its own heuristics, `^`), its states follow what it
//! *saw*, not what was acknowledged, and its connections end after its timers
//! and on reuse, where ours may go on: such packets make further rows
//! ([`ZeekInfo::continued`]). Checksums are not verified (like `zeek -C`).
//! docs/zeek.md lists every difference.

mod endpoint;
mod history;
mod ports;
mod reassembly;
mod session;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use endpoint::EndpointState;

use crate::decode::EndpointAddr;
use crate::decode::Segment;
use crate::time::Timestamp;
use session::Session;

/// One row of Zeek's conn.log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZeekRow {
    /// Zeek's `conn_state` (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH).
    pub conn_state: &'static str,
    /// Zeek's `history` letters (upper case: originator; `^`: roles flipped).
    pub history: String,
    /// Time of the row's first packet.
    pub ts: Timestamp,
    /// The row's uid (the conn.log's `uid`): from its first packet, so the
    /// first row's is the connection's.
    pub uid: Uid,
    /// Zeek's originator and responder (after its flips; may be the reverse
    /// of our client and server).
    pub orig: EndpointAddr,
    pub resp: EndpointAddr,
    /// Seconds from the first to the last packet Zeek counts (not the trailing
    /// packets after both sides closed); `null` when zero, as in Zeek.
    pub duration: Option<f64>,
    /// Payload bytes from sequence numbers (`Size()`), set when `duration` is.
    pub orig_bytes: Option<u64>,
    pub resp_bytes: Option<u64>,
    /// Bytes acknowledged but never seen (content gaps).
    pub missed_bytes: u64,
    /// Packets and IP bytes (IP total length) per side.
    pub orig_pkts: u64,
    pub orig_ip_bytes: u64,
    pub resp_pkts: u64,
    pub resp_ip_bytes: u64,
    /// Zeek's endpoint states at the end (`TCP_ESTABLISHED` ...).
    pub orig_state: &'static str,
    pub resp_state: &'static str,
}

/// What Zeek would log for the packets of one connection: the row its first
/// packet opens (fields flattened) and any rows Zeek starts for later packets.
#[derive(Clone, Debug, PartialEq)]
pub struct ZeekInfo {
    pub row: ZeekRow,
    /// Rows Zeek would log for later packets of this connection: Zeek ends a
    /// connection on its timers (an unanswered SYN after 5 s, 5 s after a
    /// close, after inactivity) and on a SYN that reuses the 4-tuple, and the
    /// next packet starts a new row. Absent when there are none. At most
    /// the first 4 (`FIRST_ROWS`) and the last 4 (`LAST_ROWS`) of them.
    pub continued: Vec<ZeekRow>,
    /// Rows between those, not kept (a connection with a packet every 301 s
    /// opens a Zeek row per packet).
    pub continued_omitted: u64,
}

/// Rows kept of a connection's first Zeek connections (its own first included).
pub const FIRST_ROWS: usize = 4;
/// Rows kept of its last ended ones (besides the one still open).
pub const LAST_ROWS: usize = 4;

impl ZeekInfo {
    /// Every row, in order.
    pub fn rows(&self) -> impl Iterator<Item = &ZeekRow> {
        std::iter::once(&self.row).chain(self.continued.iter())
    }
}

/// Per-connection recorder of Zeek's endpoint states and history, fed every
/// segment of the connection in capture order.
#[derive(Clone, Debug, Default)]
pub struct ZeekState {
    /// The rows of the first Zeek connections already ended (by a timer or a
    /// reuse), made as each ends: at most [`FIRST_ROWS`].
    first: Vec<ZeekRow>,
    /// The rows of the last ones ended after those: at most [`LAST_ROWS`].
    last: std::collections::VecDeque<ZeekRow>,
    /// Rows ended between `first` and `last`, counted, not kept.
    omitted: u64,
    current: Option<Session>,
}

impl ZeekState {
    pub fn new() -> ZeekState {
        ZeekState::default()
    }

    /// Records one segment (every segment, duplicates included, as Zeek sees
    /// them).
    #[inline]
    pub fn on_segment(&mut self, seg: &Segment) {
        if let Some(s) = self.current.as_mut() {
            // Zeek runs its timers before it looks the packet's connection up,
            // then checks whether a SYN starts a new one.
            if s.expire_timers(seg.ts) || s.is_reuse(seg) {
                let row = row_of(s);
                self.current = None;
                self.ended(row);
            }
        }
        self.current
            .get_or_insert_with(|| Session::new(seg))
            .deliver(seg);
    }

    /// Keeps an ended Zeek connection's row, bounded ([`FIRST_ROWS`],
    /// [`LAST_ROWS`]).
    fn ended(&mut self, row: ZeekRow) {
        if self.first.len() < FIRST_ROWS {
            self.first.push(row);
            return;
        }
        self.last.push_back(row);
        if self.last.len() > LAST_ROWS {
            self.last.pop_front();
            self.omitted += 1;
        }
    }

    /// Zeek's rows at the end of the capture.
    pub fn info(&self) -> ZeekInfo {
        let current = self.current.as_ref().map(row_of);
        let mut rows = self
            .first
            .iter()
            .cloned()
            .chain(self.last.iter().cloned())
            .chain(current);
        let row = rows.next().unwrap_or_else(empty_row);
        ZeekInfo {
            row,
            continued: rows.collect(),
            continued_omitted: self.omitted,
        }
    }
}

fn row_of(s: &Session) -> ZeekRow {
    let (orig, resp) = (s.orig(), s.resp());
    let duration_ns = s.last_time.0.saturating_sub(s.start.0);
    let (orig_bytes, resp_bytes) = s.sizes();
    let timed = duration_ns > 0;
    ZeekRow {
        conn_state: s.conn_state(),
        history: s.history.as_str().to_string(),
        ts: s.start,
        uid: Uid::of(s.start_order, s.start),
        orig: orig.addr,
        resp: resp.addr,
        duration: timed.then(|| duration_ns as f64 / 1e9),
        orig_bytes: timed.then_some(orig_bytes),
        resp_bytes: timed.then_some(resp_bytes),
        missed_bytes: s.missed_bytes,
        orig_pkts: orig.packets,
        orig_ip_bytes: orig.ip_bytes,
        resp_pkts: resp.packets,
        resp_ip_bytes: resp.ip_bytes,
        orig_state: orig.state.name(),
        resp_state: resp.state.name(),
    }
}

/// A connection always has a first segment; this is only for a recorder that
/// was never fed.
fn empty_row() -> ZeekRow {
    let nobody = EndpointAddr {
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        port: 0,
    };
    ZeekRow {
        conn_state: "OTH",
        history: String::new(),
        ts: Timestamp(0),
        uid: Uid::of(0, Timestamp(0)),
        orig: nobody,
        resp: nobody,
        duration: None,
        orig_bytes: None,
        resp_bytes: None,
        missed_bytes: 0,
        orig_pkts: 0,
        orig_ip_bytes: 0,
        resp_pkts: 0,
        resp_ip_bytes: 0,
        orig_state: EndpointState::Inactive.name(),
        resp_state: EndpointState::Inactive.name(),
    }
}

/// A Zeek-style connection uid: 96 bits, written as Zeek writes its own
/// (`UID::Base62`, src/UID.cc): `C`, then the base62 digits of the high 32
/// bits and of the low 64 bits, each least significant digit first and without
/// padding (`util::uitoa_n`, alphabet `0-9a-zA-Z`): at most 18 characters,
/// usually 16 to 18.
///
/// Zeek's are random; ours come from the row's first packet: the low 64 bits
/// are a bijection of its processing order (the connection's `id` for a
/// connection's first row), so no two rows of a report share a uid, and the
/// high 32 bits mix in its time, so two captures seldom do. The same capture
/// always gives the same uids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Uid {
    pub high: u32,
    pub low: u64,
}

impl Uid {
    /// The uid of a row whose first packet has processing order `order`
    /// (its frame number for a single input) and time `ts`.
    #[inline]
    pub fn of(order: u64, ts: Timestamp) -> Uid {
        // splitmix64's finalizer: a bijection of 64 bits.
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let low = mix(order ^ 0x9e37_79b9_7f4a_7c15);
        let high = (mix(low ^ (ts.0 as u64)) >> 32) as u32;
        Uid { high, low }
    }

    /// The text, in a buffer of its own (no allocation).
    #[inline]
    pub fn text(self) -> UidText {
        let mut bytes = [b'C'; 20];
        // 32 bits are at most 6 digits, 64 bits 11: 18 bytes hold both (a
        // last pair may write one byte past them).
        let at = put_base62(u64::from(self.high), &mut bytes, 1);
        let len = put_base62(self.low, &mut bytes, at.min(7)) as u8;
        UidText { bytes, len }
    }
}

/// `util::uitoa_n`'s digits, least significant first.
const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Two digits at once, least significant first: one division by 62² for two
/// by 62 (half a uid's cost).
const DIGIT_PAIRS: [[u8; 2]; 62 * 62] = {
    let mut t = [[0; 2]; 62 * 62];
    let mut i = 0;
    while i < t.len() {
        t[i] = [DIGITS[i % 62], DIGITS[i / 62]];
        i += 1;
    }
    t
};

/// The base62 digits of `v` (least significant first, at least one) from
/// `at`; returns where they end.
#[inline(always)]
fn put_base62(mut v: u64, bytes: &mut [u8; 20], mut at: usize) -> usize {
    loop {
        let r = (v % (62 * 62)) as usize;
        v /= 62 * 62;
        let [a, b] = DIGIT_PAIRS[r];
        bytes[at] = a;
        bytes[at + 1] = b;
        at += 2;
        if v == 0 {
            // The pair's second digit is a leading zero when r < 62.
            return at - usize::from(r < 62);
        }
    }
}

/// A [`Uid`]'s text: `C` and at most 6 + 11 base62 digits.
#[derive(Clone, Copy)]
pub struct UidText {
    bytes: [u8; 20],
    len: u8,
}

impl UidText {
    /// The text's bytes (ASCII letters and digits), for writers of bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(18)]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are written.
        std::str::from_utf8(self.as_bytes()).unwrap_or("C")
    }
}

impl std::fmt::Display for Uid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl Serialize for Uid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text().as_str())
    }
}
