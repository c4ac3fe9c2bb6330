//! One Zeek connection: a port of Zeek's TCP session adapter
//! (src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc, `Process` and the
//! `Update*State` functions), its timers, and its reuse test.
//!
//! Function and variable names follow Zeek's so the two can be read side by
//! side; comments give Zeek's names where ours differ.

use arrayvec::ArrayVec;

use super::endpoint::{Endpoint, EndpointState, seq_delta};
use super::history::{History, mask};
use super::ports;
use crate::decode::{Segment, TcpFlags};
use crate::time::Timestamp;

mod machine;

use EndpointState::*;

const SEC: i64 = 1_000_000_000;
/// Zeek's defaults (base/init-bare.zeek).
const TCP_SYN_TIMEOUT: i64 = 5 * SEC;
const TCP_SESSION_TIMER: i64 = 6 * SEC;
const TCP_CONNECTION_LINGER: i64 = 5 * SEC;
const TCP_ATTEMPT_DELAY: i64 = 5 * SEC;
const TCP_CLOSE_DELAY: i64 = 5 * SEC;
const TCP_INACTIVITY_TIMEOUT: i64 = 300 * SEC;
/// What `TCPAnalyzer::MakeSessionAdapter` starts a TCP connection with, until
/// the handshake is over.
const UDP_INACTIVITY_TIMEOUT: i64 = 60 * SEC;
/// base/protocols/conn/inactivity.zeek, `port_inactivity_timeouts`.
const LONG_INACTIVITY_TIMEOUT: i64 = 3600 * SEC;
/// `TOO_LARGE_SEQ_DELTA` in TCPSessionAdapter.cc.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// Bits of `first_packet_seen`.
const ORIG: u8 = 1;
const RESP: u8 = 2;

#[derive(Clone, Debug)]
pub(super) struct Session {
    /// The two sides; `orig_ix` says which one is Zeek's originator.
    ep: [Endpoint; 2],
    orig_ix: usize,
    pub history: History,
    /// Time of the first packet (`start_time`).
    pub start: Timestamp,
    /// Processing order of the first packet (what its uid comes from).
    pub start_order: u64,
    /// `Conn()->LastTime()`: the last packet before both sides closed.
    pub last_time: Timestamp,
    is_partial: bool,
    first_packet_seen: u8,
    /// Cleared by `ConnectionReset`/`ConnectionFinished`; Zeek's timers do
    /// nothing on an inactive connection.
    is_active: bool,
    attempt_timer: Option<i64>,
    /// Pending ExpireTimers: the constructor's, and one per side that closed
    /// while the other had not.
    expire_timers: ArrayVec<i64, 3>,
    delete_timer: Option<i64>,
    inactivity_timeout: i64,
    /// Content-gap bytes (`missed_bytes`).
    pub missed_bytes: u64,
}

/// Flags, lengths and numbers of one packet, as `Process` uses them.
struct Packet {
    flags: TcpFlags,
    base_seq: u32,
    ack_seq: u32,
    len: u32,
    window: u16,
    t: Timestamp,
}

impl Session {
    /// `IPBasedAnalyzer::NewConn`: the sender of the first packet is the
    /// originator, unless `TCPAnalyzer::WantConnection` flips the roles.
    pub fn new(seg: &Segment) -> Session {
        let src = seg.src_endpoint();
        let dst = seg.dst_endpoint();
        let mut s = Session {
            ep: [Endpoint::new(src, true), Endpoint::new(dst, false)],
            orig_ix: 0,
            history: History::default(),
            start: seg.ts,
            start_order: seg.order,
            last_time: seg.ts,
            is_partial: false,
            first_packet_seen: 0,
            is_active: true,
            // The adapter's constructor schedules the first ExpireTimer.
            attempt_timer: None,
            expire_timers: std::iter::once(seg.ts.0.saturating_add(TCP_SYN_TIMEOUT)).collect(),
            delete_timer: None,
            inactivity_timeout: UDP_INACTIVITY_TIMEOUT,
            missed_bytes: 0,
        };
        if want_flip(seg) {
            s.flip_roles();
        }
        s
    }

    pub fn orig(&self) -> &Endpoint {
        &self.ep[self.orig_ix]
    }

    pub fn resp(&self) -> &Endpoint {
        &self.ep[1 - self.orig_ix]
    }

    fn index_of(&self, seg: &Segment) -> usize {
        if self.ep[0].addr.ip == seg.src && self.ep[0].addr.port == seg.src_port {
            0
        } else {
            1
        }
    }

    /// `Connection::FlipRoles` with `TCPSessionAdapter::FlipRoles`.
    fn flip_roles(&mut self) {
        self.orig_ix = 1 - self.orig_ix;
        for e in &mut self.ep {
            e.is_orig = !e.is_orig;
        }
        self.first_packet_seen =
            ((self.first_packet_seen & ORIG) << 1) | ((self.first_packet_seen & RESP) >> 1);
        self.is_partial = false;
        self.history.add_flip();
    }

    /// `TCP_Endpoint::SetState`: leaving the handshake states (both sides in
    /// them before) switches the inactivity timeout to the TCP one.
    fn set_state(&mut self, i: usize, new: EndpointState) {
        let (state, peer) = (self.ep[i].state, self.ep[1 - i].state);
        if new == state {
            return;
        }
        if !new.is_handshake() && state.is_handshake() && peer.is_handshake() {
            self.inactivity_timeout = TCP_INACTIVITY_TIMEOUT;
        }
        self.ep[i].prev_state = state;
        self.ep[i].state = new;
    }

    fn set_first_packet_seen(&mut self, is_orig: bool) {
        self.first_packet_seen |= if is_orig { ORIG } else { RESP };
    }

    /// The `connection_established` event, as base/protocols/conn/inactivity.zeek
    /// handles it: interactive services get an hour of inactivity.
    fn connection_established(&mut self) {
        let (orig, resp) = (self.orig(), self.resp());
        let mut service = resp.addr.port;
        if orig.state == Inactive
            && !ports::is_likely_server_port(service)
            && ports::is_likely_server_port(orig.addr.port)
        {
            service = orig.addr.port;
        }
        if ports::has_long_inactivity_timeout(service) {
            self.inactivity_timeout = LONG_INACTIVITY_TIMEOUT;
        }
    }

    /// Runs the timers due by `now` (Zeek expires timers before it processes a
    /// packet). Returns true when one of them removed the connection: Zeek logs
    /// it, and the next packet of the 4-tuple starts a new one.
    pub fn expire_timers(&mut self, now: Timestamp) -> bool {
        let now = now.0;
        // Almost every packet finds nothing due: answer that without the search.
        if self.last_time.0.saturating_add(self.inactivity_timeout) > now
            && self.delete_timer.is_none_or(|t| t > now)
            && self.attempt_timer.is_none_or(|t| t > now)
            && self.expire_timers.iter().all(|&t| t > now)
        {
            return false;
        }
        loop {
            let inactivity = self.last_time.0.saturating_add(self.inactivity_timeout);
            let expire = self
                .expire_timers
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|e| e.1);
            let mut next = (inactivity, Timer::Inactivity);
            for cand in [
                self.delete_timer.map(|t| (t, Timer::Delete)),
                self.attempt_timer.map(|t| (t, Timer::Attempt)),
                expire.map(|(i, t)| (t, Timer::Expire(i))),
            ]
            .into_iter()
            .flatten()
            {
                if cand.0 < next.0 {
                    next = cand;
                }
            }
            let (at, timer) = next;
            if at > now {
                return false;
            }
            match timer {
                // `ConnDeleteTimer` / `Session::InactivityTimer`.
                Timer::Delete | Timer::Inactivity => return true,
                Timer::Attempt => {
                    // `AttemptTimer`: a SYN that got no answer.
                    self.attempt_timer = None;
                    if self.is_active
                        && matches!(self.orig().state, SynSent | SynAckSent)
                        && self.resp().state == Inactive
                    {
                        return true;
                    }
                }
                Timer::Expire(i) => {
                    if !self.is_active {
                        self.expire_timers.swap_remove(i);
                        continue;
                    }
                    if self.expire_timer_removes(at) {
                        return true;
                    }
                    // Nothing changes before the next packet: once the linger
                    // time is over, the timer keeps rescheduling itself.
                    let idle = self.last_time.0.saturating_add(TCP_CONNECTION_LINGER) < at;
                    let next = if idle {
                        let periods = now.saturating_sub(at) / TCP_SESSION_TIMER + 1;
                        at.saturating_add(periods.saturating_mul(TCP_SESSION_TIMER))
                    } else {
                        at.saturating_add(TCP_SESSION_TIMER)
                    };
                    if next > at {
                        self.expire_timers[i] = next;
                    } else {
                        // At the end of time (a nonsense timestamp): drop it.
                        self.expire_timers.swap_remove(i);
                    }
                }
            }
        }
    }

    /// `ExpireTimer(t)`: after `tcp_connection_linger` of silence, a connection
    /// one side has closed goes if both closed, either reset, or either never
    /// spoke; one nobody ever spoke in goes too.
    fn expire_timer_removes(&self, t: i64) -> bool {
        if self.last_time.0.saturating_add(TCP_CONNECTION_LINGER) >= t {
            return false;
        }
        let (o, r) = (self.orig(), self.resp());
        if (o.did_close || r.did_close)
            && ((o.did_close && r.did_close)
                || o.state == Reset
                || r.state == Reset
                || o.state == Inactive
                || r.state == Inactive)
        {
            return true;
        }
        r.state == Inactive && o.state == Inactive
    }

    /// `TCPSessionAdapter::IsReuse`: a SYN (or, when the originator never
    /// spoke, a SYN-ACK) that starts a new connection on this 4-tuple.
    pub fn is_reuse(&self, seg: &Segment) -> bool {
        if !seg.flags.syn {
            return false;
        }
        let mut conn_orig = self.orig();
        if seg.flags.ack {
            if self.orig().state != Inactive {
                return false;
            }
            conn_orig = self.resp();
        }
        let closed = self.orig().did_close || self.resp().did_close;
        if !closed {
            let base_seq = seg.seq.0;
            if base_seq == conn_orig.start_seq32() {
                return false;
            }
            // A SYN and its SYN-ACK seen in reverse order: not a reuse.
            if !seg.flags.ack
                && conn_orig.state == SynAckSent
                && self.resp().state == Inactive
                && base_seq == self.resp().start_seq32()
            {
                return false;
            }
        }
        true
    }

    /// One packet of this connection (`TCPAnalyzer::DeliverPacket` and
    /// `TCPSessionAdapter::Process`).
    pub fn deliver(&mut self, seg: &Segment) {
        if seg.header_cut {
            // `ExtractTCP_Header` fails (`truncated_header`): the connection
            // exists, the packet is not processed or counted.
            return;
        }
        let pkt = Packet {
            flags: seg.flags,
            base_seq: seg.seq.0,
            ack_seq: seg.ack.map_or(0, |a| a.0),
            len: seg.payload_len,
            window: seg.window,
            t: seg.ts,
        };
        let e = self.index_of(seg);
        self.maybe_flip_after_syn_ack(&pkt);
        let is_orig = self.ep[e].is_orig;
        self.process(e, is_orig, &pkt, seg.truncated);
        // The ConnSize analyzer counts the packet for the side that sent it.
        self.ep[e].packets += 1;
        self.ep[e].ip_bytes += u64::from(seg.ip_len);
    }

    /// zeek/zeek#2191: a connection that began with a SYN-ACK Zeek did not flip
    /// is flipped when an ACK or data follows, in either direction (a stealth
    /// scan would answer with a RST or nothing). The SYN-ACK's sender becomes
    /// the responder, established as if its SYN-ACK had come from the
    /// responder in the first place.
    fn maybe_flip_after_syn_ack(&mut self, pkt: &Packet) {
        let f = pkt.flags;
        if self.orig().state != SynAckSent
            || self.resp().state != Inactive
            || f.syn
            || f.rst
            || !(f.ack || pkt.len > 0)
        {
            return;
        }
        self.orig_ix = 1 - self.orig_ix;
        for e in &mut self.ep {
            e.is_orig = !e.is_orig;
        }
        self.first_packet_seen =
            ((self.first_packet_seen & ORIG) << 1) | ((self.first_packet_seen & RESP) >> 1) | ORIG;
        self.is_partial = false;
        self.history.flip_retroactively();
        let resp = 1 - self.orig_ix;
        self.set_state(resp, Established);
        self.connection_established();
    }

    /// `SetPartialStatus`.
    fn set_partial_status(&mut self, flags: TcpFlags, is_orig: bool) {
        if is_orig {
            if self.first_packet_seen & ORIG == 0 {
                self.is_partial = !flags.syn || flags.ack;
            }
        } else if self.first_packet_seen & RESP == 0 && !self.is_partial {
            self.is_partial = !flags.syn;
        }
    }

    fn process(&mut self, e: usize, is_orig: bool, pkt: &Packet, truncated: bool) {
        let p = 1 - e;
        let flags = pkt.flags;
        let len = pkt.len;
        self.set_partial_status(flags, self.ep[e].is_orig);

        let seg_len = segment_len(len, flags);
        let seq_one_past_segment = pkt.base_seq.wrapping_add(seg_len);
        init_endpoint(&mut self.ep[e], flags, pkt.base_seq, seq_one_past_segment);

        let (last, wraps) = (self.ep[e].last_seq, self.ep[e].seq_wraps);
        let (rel_seq, seq_underflow) = relative_seq(&self.ep[e], pkt.base_seq, last, wraps);

        self.update_history(e, flags, rel_seq, len);
        self.update_window(e, pkt);

        if !self.ep[0].did_close || !self.ep[1].did_close {
            self.last_time = pkt.t;
        }
        if flags.fin {
            self.ep[e].fin_cnt += 1;
            self.ep[e].fin_seq = rel_seq.wrapping_add(u64::from(seg_len));
        }

        let mut rel_ack = 0;
        if flags.ack {
            if self.ep[p].state == Inactive {
                rel_ack = 1;
                // `init_peer`: number the peer as if its SYN had been seen.
                let s = pkt.ack_seq.wrapping_sub(1);
                self.ep[p].init_seqs(s, s);
            } else {
                let (ack, wraps) = (self.ep[p].ack_seq, self.ep[p].ack_wraps);
                let (rel, underflow) = relative_seq(&self.ep[p], pkt.ack_seq, ack, wraps);
                if underflow {
                    rel_ack = 0;
                } else {
                    rel_ack = rel;
                    if !flags.rst {
                        // Acknowledgments on a RST are not trusted.
                        update_ack_seq(&mut self.ep[p], pkt.ack_seq);
                    }
                }
            }
        }

        let delta_last = self.update_last_seq(e, seq_one_past_segment, flags, len);

        let (do_close, gen_event) = self.update_state_machine(e, is_orig, pkt, delta_last);

        if flags.ack {
            self.ack_received(p, rel_ack);
        }

        // `CheckPIA_FirstPacket` marks this side's first packet as seen.
        self.set_first_packet_seen(is_orig);

        let rel_data_seq = if flags.syn {
            rel_seq.wrapping_add(1)
        } else {
            rel_seq
        };
        if len > 0 && !flags.rst && !seq_underflow && !truncated {
            // `TCP_Endpoint::DataSent`: a payload cut by the snaplen is not
            // given to the reassembler (`truncated_tcp_payload`), so the ACK
            // that covers it later shows a gap.
            let ep = &mut self.ep[e];
            let acked = ep.to_relative(ep.ack_seq, ep.ack_wraps);
            let no_data_acked = ep.no_data_acked();
            ep.reassembler
                .data_sent(rel_data_seq, u64::from(len), acked, no_data_acked);
        }

        if do_close {
            self.connection_closed(e, gen_event);
        }
    }

    /// `update_history`.
    fn update_history(&mut self, e: usize, flags: TcpFlags, rel_seq: u64, len: u32) {
        let is_orig = self.ep[e].is_orig;
        let bits_set = u8::from(flags.syn) + u8::from(flags.fin) + u8::from(flags.rst);
        let h = &mut self.history;
        let ep = &mut self.ep[e];
        if bits_set > 1 {
            if flags.fin && flags.rst {
                h.check(mask::FIN_RST, is_orig, 'I');
            } else {
                h.check(mask::MULTI_FLAG, is_orig, 'Q');
            }
        } else if bits_set == 1 {
            if flags.syn {
                let code = if flags.ack { 'H' } else { 'S' };
                if h.check(mask::SYN, is_orig, code) && rel_seq != ep.hist_last_syn {
                    h.add(is_orig, code);
                }
                ep.hist_last_syn = rel_seq;
            }
            if flags.fin {
                // A FIN's sequence number is at the end of its data.
                let fin_at = rel_seq.wrapping_add(u64::from(len));
                if h.check(mask::FIN, is_orig, 'F') && fin_at != ep.hist_last_fin {
                    h.add(is_orig, 'F');
                }
                ep.hist_last_fin = fin_at;
            }
            if flags.rst {
                if h.check(mask::RST, is_orig, 'R') && rel_seq != ep.hist_last_rst {
                    h.add(is_orig, 'R');
                }
                ep.hist_last_rst = rel_seq;
            }
        } else if len > 0 {
            h.check(mask::DATA, is_orig, 'D');
        } else if flags.ack {
            h.check(mask::ACK, is_orig, 'A');
        }
    }

    /// The zero-window part of `update_window` (history `w`): not on a RST,
    /// nor after this side's RST, nor once the peer has sent a FIN.
    fn update_window(&mut self, e: usize, pkt: &Packet) {
        if pkt.window == 0
            && !pkt.flags.rst
            && self.ep[1 - e].state != Closed
            && self.ep[e].state != Reset
            && self.ep[e].zero_window.hit()
        {
            let is_orig = self.ep[e].is_orig;
            self.history.add(is_orig, 'W');
        }
    }

    /// `update_last_seq`; a retransmission of data counts for history `t`.
    fn update_last_seq(&mut self, e: usize, last_seq: u32, flags: TcpFlags, len: u32) -> i32 {
        let ep = &mut self.ep[e];
        let delta_last = seq_delta(last_seq, ep.last_seq);
        if (flags.syn || flags.rst)
            && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta_last)
        {
            // Far-off sequence numbers on a SYN or RST are not trusted.
        } else if flags.fin && ep.last_seq == ep.start_seq32().wrapping_add(1) {
            // Only the SYN and the FIN seen (maybe a > 2 GB connection).
            ep.update_last_seq(last_seq);
        } else if ep.state == Reset {
            // Nothing after a RST is trusted.
        } else if delta_last > 0 {
            ep.update_last_seq(last_seq);
        } else if len > 0 && ep.rxmit.hit() {
            let is_orig = ep.is_orig;
            self.history.add(is_orig, 'T');
        }
        delta_last
    }

    /// Zeek's `conn_state()` (base/protocols/conn/main.zeek) from the two
    /// endpoint states.
    pub fn conn_state(&self) -> &'static str {
        let (o, r) = (self.orig(), self.resp());
        let (os, rs) = (o.state, r.state);
        let o_inactive = os.is_inactive_or_partial();
        let r_inactive = rs.is_inactive_or_partial();
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent)
                || (os == Reset && o.size(rs) == 0 && r.size(os) == 0)
            {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                if originator_syn_then_rst(self.history.as_str()) {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive { "SH" } else { "S2" }
        } else if rs == Closed {
            if o_inactive { "SHR" } else { "S3" }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }

    pub fn sizes(&self) -> (u64, u64) {
        let (o, r) = (self.orig(), self.resp());
        (o.size(r.state), r.size(o.state))
    }
}

#[derive(Clone, Copy, Debug)]
enum Timer {
    Inactivity,
    Delete,
    Attempt,
    Expire(usize),
}

/// `/\^?S[^HAFGIQ]*R.*/ == c$history`: the originator's SYN followed by its RST,
/// with no handshake, ACK, FIN, gap or odd packet from it in between.
fn originator_syn_then_rst(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

/// `TCPAnalyzer::WantConnection`: a first packet that is not a plain SYN is a
/// partial connection, and a likely server port as its source flips the roles
/// (when both ports are likely: only for a non-SYN from the lower port).
fn want_flip(seg: &Segment) -> bool {
    let f = seg.flags;
    if f.syn && !f.ack {
        return false;
    }
    if !ports::is_likely_server_port(seg.src_port) {
        return false;
    }
    if ports::is_likely_server_port(seg.dst_port) {
        !f.syn && seg.src_port < seg.dst_port
    } else {
        true
    }
}

/// `get_segment_len`: sequence space of the segment (a RST's data does not count).
fn segment_len(len: u32, flags: TcpFlags) -> u32 {
    let mut n = len;
    if flags.syn {
        n = n.wrapping_add(1);
    }
    if flags.fin {
        n = n.wrapping_add(1);
    }
    if flags.rst {
        n = n.wrapping_sub(len);
    }
    n
}

/// `init_endpoint`: number an endpoint's sequence space from its first packet
/// (as though a SYN had been seen), or renumber it on a new SYN.
fn init_endpoint(ep: &mut Endpoint, flags: TcpFlags, first_seg_seq: u32, last_seq: u32) {
    match ep.state {
        Inactive => {
            if flags.syn {
                ep.init_seqs(first_seg_seq, last_seq);
            } else {
                // Partial: pretend a SYN preceded, and do not count the first
                // packet as a retransmission.
                ep.init_seqs(first_seg_seq.wrapping_sub(1), first_seg_seq);
            }
        }
        SynSent | SynAckSent => {
            if flags.syn && first_seg_seq != ep.start_seq32() {
                ep.init_seqs(first_seg_seq, last_seq);
            }
        }
        Established | Partial => {
            if flags.syn {
                ep.init_seqs(first_seg_seq, last_seq);
            }
        }
        Reset => {
            if flags.syn && ep.prev_state == Inactive {
                ep.init_seqs(first_seg_seq, last_seq);
            }
        }
        Closed => {}
    }
}

/// `get_relative_seq`: `cur_base` relative to the endpoint's start, in 64 bits;
/// the flag says it lies before the start (`underflow`).
fn relative_seq(ep: &Endpoint, cur_base: u32, last: u32, wraps: u32) -> (u64, bool) {
    let mut wraps = wraps;
    let delta = seq_delta(cur_base, last);
    if delta < 0 {
        if wraps > 0 && cur_base > last {
            wraps -= 1;
        }
    } else if delta > 0 && cur_base < last {
        wraps += 1;
    }
    if wraps == 0 {
        let d = seq_delta(cur_base, ep.start_seq32());
        return (i64::from(d) as u64, d < 0);
    }
    (ep.to_relative(cur_base, wraps), false)
}

/// `update_ack_seq`.
fn update_ack_seq(ep: &mut Endpoint, ack_seq: u32) {
    let delta = seq_delta(ack_seq, ep.ack_seq);
    if ack_seq == 0 && delta > TOO_LARGE_SEQ_DELTA {
        // More likely a broken ACK than a wrap landing on 0.
    } else if delta > 0 {
        ep.update_ack_seq(ack_seq);
    }
}
