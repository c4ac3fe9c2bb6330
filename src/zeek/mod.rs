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
    /// next packet starts a new row. Absent when there are none.
    pub continued: Vec<ZeekRow>,
}

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
    /// Zeek connections already ended (by a timer or a reuse).
    done: Vec<Session>,
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
                let ended = self.current.take();
                self.done.extend(ended);
            }
        }
        self.current
            .get_or_insert_with(|| Session::new(seg))
            .deliver(seg);
    }

    /// Zeek's rows at the end of the capture.
    pub fn info(&self) -> ZeekInfo {
        let mut rows = self.done.iter().chain(self.current.iter()).map(row_of);
        let row = rows.next().unwrap_or_else(empty_row);
        ZeekInfo {
            row,
            continued: rows.collect(),
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

/// `C` + base62 of the low 96 bits of FNV-1a-128 over originator address and
/// port, responder address and port, and the start time in nanoseconds (all
/// big-endian). The same packets always give the same uid; Zeek's own uids are
/// random, so ours never equal them.
pub fn uid(orig: EndpointAddr, resp: EndpointAddr, ts: Timestamp) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u128::from(b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for a in [orig, resp] {
        match a.ip {
            std::net::IpAddr::V4(ip) => eat(&ip.octets()),
            std::net::IpAddr::V6(ip) => eat(&ip.octets()),
        }
        eat(&a.port.to_be_bytes());
    }
    eat(&ts.0.to_be_bytes());
    uid_text(h & ((1u128 << 96) - 1))
}

/// `C` and the base62 digits of `n` (below 2^96), most significant first.
fn uid_text(n: u128) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    /// 62^10, the largest power of 62 below 2^64: one 128-bit division splits
    /// `n` into two 64-bit halves (a 128-bit division per digit was most of a
    /// uid's cost).
    const LOW: u128 = 62u128.pow(10);
    // 96 bits are at most 17 base62 digits.
    let mut text = [0u8; 18];
    let mut at = text.len();
    let mut put = |mut v: u64, min_digits: usize| {
        let end = at;
        while v > 0 || end - at < min_digits {
            at -= 1;
            text[at] = DIGITS[(v % 62) as usize];
            v /= 62;
        }
    };
    let (high, low) = ((n / LOW) as u64, (n % LOW) as u64);
    if high > 0 {
        put(low, 10);
        put(high, 0);
    } else {
        put(low, 1);
    }
    at -= 1;
    text[at] = b'C';
    text[at..].iter().map(|&b| char::from(b)).collect()
}
