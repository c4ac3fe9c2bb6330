//! One connection: one use of a 4-tuple, from its SYN (or first packet seen) to its
//! end, with the evidence each endpoint left.
//!
//! [`Connection::on_segment`] turns a segment into state-machine events for the
//! two endpoints (see [`super::state`] for the rules of evidence) and keeps the
//! facts the classifier and the reports need: ISNs, FIN sequence numbers and their
//! transmissions, the ACKs that covered them, RSTs and whether they were acceptable.

use serde::Serialize;

use super::state::{Event, State, step};
use super::timers::{Expiry, Life, Path, Resends, Rule, Timers, syn_give_up, synack_give_up};
use crate::decode::{Control, EndpointAddr, Segment, SeqNumber};
use crate::time::Timestamp;
use crate::zeek::ZeekState;

/// The state-machine events one segment produces, on the stack.
type Events = arrayvec::ArrayVec<(Side, Event), 8>;

/// At most this many transitions are kept per endpoint (unit tests only).
#[cfg(test)]
const MAX_TRANSITIONS: usize = 32;
/// At most this many RSTs not taken are kept per endpoint (the rest are counted).
const MAX_INVALID_RSTS: usize = 8;
/// Duplicates seen twice by `tcpdump -i any` (once per interface) arrive within
/// microseconds; a real retransmission takes at least Linux's 200 ms minimum RTO
/// (or a tail-loss probe, a few ms on a LAN). Identical segments closer than this
/// are one transmission.
const DUPLICATE_WINDOW_NS: i64 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// Where a piece of evidence is in the capture: enough to find it in Wireshark.
///
/// Serialized as `{"ts": seconds, "input": index, "packet": frame number}`. The
/// input index and frame number share one word (16 + 48 bits), which keeps the
/// per-connection records small; a frame number beyond 2^48 saturates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketRef {
    /// Capture timestamp, seconds since the epoch.
    pub ts: Timestamp,
    loc: u64,
}

impl PacketRef {
    const PACKET_BITS: u32 = 48;

    pub fn new(ts: Timestamp, input: u16, packet: u64) -> PacketRef {
        let packet = packet.min((1 << Self::PACKET_BITS) - 1);
        PacketRef {
            ts,
            loc: (u64::from(input) << Self::PACKET_BITS) | packet,
        }
    }

    pub fn of(seg: &Segment) -> PacketRef {
        PacketRef::new(seg.ts, seg.input, seg.number)
    }

    /// Index of the input file (0-based, command-line order).
    pub fn input(&self) -> u16 {
        (self.loc >> Self::PACKET_BITS) as u16
    }

    /// 1-based frame number in that input (Wireshark's `frame.number`).
    pub fn packet(&self) -> u64 {
        self.loc & ((1 << Self::PACKET_BITS) - 1)
    }

    /// The same packet reference at another time (end-of-capture inferences).
    pub fn at_time(self, ts: Timestamp) -> PacketRef {
        PacketRef { ts, ..self }
    }
}

impl Serialize for PacketRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // The input index only with several inputs' worth of meaning: absent
        // for the first (usually only) input.
        let input = self.input();
        let mut st = s.serialize_struct("PacketRef", if input == 0 { 2 } else { 3 })?;
        if input != 0 {
            st.serialize_field("input", &input)?;
        }
        st.serialize_field("packet", &self.packet())?;
        st.serialize_field("ts", &self.ts)?;
        st.end()
    }
}

/// A state change of one endpoint and the packet that proved it.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: State,
    pub to: State,
    /// The packet that proved the change (for end-of-capture changes, the last
    /// packet of the connection, at the capture's end time).
    pub at: PacketRef,
}

/// A state change of one side, kept when the connection is traced
/// (`teardown explain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StateChange {
    pub side: Side,
    pub from: State,
    pub to: State,
    /// The packet that proved the change (for changes at the end of the
    /// observation, its last packet).
    pub at: PacketRef,
}

/// At most this many state changes are traced per connection.
pub const MAX_TRACED: usize = 256;

/// A FIN and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinEvidence {
    /// The sequence number the FIN occupies (`seq + payload_len` of its segment).
    pub seq: SeqNumber,
    pub first: PacketRef,
    /// The latest transmission.
    pub last: PacketRef,
    /// The transmission before `last`, to estimate the retransmission back-off.
    pub prev_tx: Option<Timestamp>,
    pub transmissions: u32,
    /// Where the give-up clock of its retransmissions starts
    /// ([`Resends::clock`]).
    clock: Timestamp,
    /// The acknowledgment number the first FIN carried (which of the peer's bytes,
    /// and whether the peer's FIN, its sender had received).
    pub ack_on_first: Option<SeqNumber>,
    /// The FIN rode on a data segment.
    pub with_data: bool,
    /// The peer's ACK that covers the FIN, cleared when the FIN is sent again.
    pub acked: Option<PacketRef>,
    /// The first ACK ever seen for it (kept for timings and evidence).
    pub first_ack: Option<PacketRef>,
    /// Times the FIN was resent after an ACK for it had been seen.
    pub acks_lost: u32,
}

/// A RST and whether it was acceptable to its receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RstEvidence {
    pub at: PacketRef,
    pub seq: SeqNumber,
    /// Taken by its receiver (RFC 9293 §3.10.7.3 / RFC 5961 §3): the
    /// connection was reset.
    pub valid: bool,
    /// Not taken although inside the receiver's window: not at its RCV.NXT,
    /// so challenged (RFC 5961 §3.2).
    pub challenged: bool,
    /// The RST segment also had FIN set.
    pub with_fin: bool,
    /// A FIN (from either side) was seen before it.
    pub after_fin: bool,
    /// Both FINs had been seen and acknowledged (at least once) before it.
    pub after_close: bool,
}

/// What the findings (`report::findings`) read of an endpoint beyond its
/// state: the IP header's TTL, data it resent, probes nobody answered, a
/// window it closed. 56 bytes: times without a value are [`Signals::NONE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signals {
    /// TTL (hop limit) of its first segment other than a RST.
    pub ttl: Option<u8>,
    /// A later segment other than a RST had another TTL (a path change, or
    /// segments from more than one host under its address).
    pub ttl_varies: bool,
    /// TTL and IPv4 identification of its first acceptable RST.
    pub rst_ttl: Option<u8>,
    pub rst_ip_id: u16,
    /// Probes (keep-alive or zero-window) it sent since the peer's last
    /// segment.
    pub unanswered_probes: u32,
    /// Its latest new data segment while the peer has not acknowledged it:
    /// sequence number, transmissions (0: none), first and latest.
    stuck_seq: SeqNumber,
    stuck_tx: u32,
    stuck_first: Timestamp,
    stuck_last: Timestamp,
    /// The transmission before the latest, and where the give-up clock
    /// starts ([`Resends::clock`]).
    stuck_prev: Timestamp,
    stuck_clock: Timestamp,
    /// When the first of the unanswered probes went out.
    probes_since: Timestamp,
    /// Since when the window it advertises has been zero.
    zero_window_since: Timestamp,
}

impl Default for Signals {
    fn default() -> Signals {
        Signals {
            ttl: None,
            ttl_varies: false,
            rst_ttl: None,
            rst_ip_id: 0,
            unanswered_probes: 0,
            stuck_seq: SeqNumber(0),
            stuck_tx: 0,
            stuck_first: Signals::NONE,
            stuck_last: Signals::NONE,
            stuck_prev: Signals::NONE,
            stuck_clock: Signals::NONE,
            probes_since: Signals::NONE,
            zero_window_since: Signals::NONE,
        }
    }
}

impl Signals {
    /// A time not set.
    const NONE: Timestamp = Timestamp(i64::MIN);

    /// The latest new data segment not acknowledged: sequence number, first
    /// and latest transmission, and how many.
    pub fn stuck(&self) -> Option<(SeqNumber, Timestamp, Timestamp, u32)> {
        (self.stuck_tx > 0).then_some((
            self.stuck_seq,
            self.stuck_first,
            self.stuck_last,
            self.stuck_tx,
        ))
    }

    /// The latest new data segment's retransmissions, while unacknowledged
    /// and sent more than once.
    pub fn resends(&self) -> Option<Resends> {
        (self.stuck_tx > 1).then_some(Resends {
            clock: self.stuck_clock,
            prev: self.stuck_prev,
            last: self.stuck_last,
        })
    }

    /// When the first unanswered probe went out.
    pub fn probes_since(&self) -> Option<Timestamp> {
        (self.unanswered_probes > 0).then_some(self.probes_since)
    }

    /// Since when its window has been zero, if it still is.
    pub fn zero_window_since(&self) -> Option<Timestamp> {
        (self.zero_window_since != Signals::NONE).then_some(self.zero_window_since)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Signature {
    seq: SeqNumber,
    ack: Option<SeqNumber>,
    control: Control,
    payload_len: u32,
    window: u16,
    tsval: Option<u32>,
    ts: Timestamp,
}

/// Everything one endpoint did.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: EndpointAddr,
    pub state: State,
    /// The states it went through, and when ([`Connection::life`] reads it).
    pub path: Path,
    /// Its TIME_WAIT outlived 2×MSL ([`Connection::finish`]).
    pub time_wait_expired: bool,
    /// In FIN_WAIT_2 it acknowledged new data: its socket was shut down for
    /// writing, not closed (an orphan would have answered with a RST).
    pub read_in_fin_wait_2: bool,
    /// Every state change, for the unit tests to check the path through the
    /// state machine. Not kept outside tests: no report shows it, and it was two
    /// heap allocations per connection.
    #[cfg(test)]
    pub transitions: Vec<Transition>,
    /// ISN from its SYN or SYN-ACK.
    pub isn: Option<SeqNumber>,
    /// First SYN (or SYN-ACK) it sent, and the latest.
    pub syn_first: Option<PacketRef>,
    pub syn_last: Option<PacketRef>,
    /// SYNs (pure, or SYN-ACKs) it sent: every transmission.
    pub syn_count: u32,
    /// Of those, the ones that repeated an earlier SYN or SYN-ACK (the one SYN and
    /// one SYN-ACK each side sends in a simultaneous open are not repeats).
    pub syn_repeats: u32,
    /// When it entered TIME_WAIT, or last acknowledged a resent FIN there (which
    /// restarts the 2×MSL timer: RFC 9293 §3.10.7.4, Linux's
    /// `tcp_timewait_state_process`).
    pub time_wait_since: Option<PacketRef>,
    /// It answered with SYN-ACK rather than opening with SYN.
    pub sent_syn_ack: bool,
    /// It sent a pure SYN (active open).
    pub sent_pure_syn: bool,
    /// One past the highest sequence number it has used (SYN and FIN included).
    pub next_seq: Option<SeqNumber>,
    /// Highest acknowledgment number it sent (its RCV.NXT, as far as we know).
    pub highest_ack: Option<SeqNumber>,
    pub acked_peer_syn: Option<PacketRef>,
    /// Its FIN (boxed: most tracked connections have sent none yet, or never
    /// will, as in a SYN flood).
    pub fin: Option<Box<FinEvidence>>,
    /// First acceptable RST it sent.
    pub rst: Option<RstEvidence>,
    /// The first RSTs it sent that the receiver did not take (far outside its
    /// window, or challenged), at most [`MAX_INVALID_RSTS`].
    pub invalid_rsts: Vec<RstEvidence>,
    /// Of those, every one far outside the receiver's window.
    pub invalid_rst_count: u32,
    /// RSTs it sent inside the receiver's window but not where the receiver
    /// would take them (RCV.NXT, RCV.NXT-1 after the FIN): Linux answers such a
    /// RST with a challenge ACK and the connection goes on (RFC 5961 §3.2).
    pub challenged_rsts: u32,
    /// Segments it sent that the receiver discards before they change anything:
    /// without ACK (and neither SYN nor RST) to a receiver past LISTEN, or a SYN
    /// with a new ISN to a synchronized one (challenged, RFC 5961 §4).
    pub ignored: u32,
    /// Its latest segment carried SACK blocks, whose edges are not kept: a RST
    /// at the right edge of one is also taken (`tcp_validate_incoming`).
    sack_blocks: bool,
    pub packets: u64,
    /// TCP payload bytes it sent (retransmissions included; duplicates excluded).
    pub bytes: u64,
    pub duplicates: u64,
    /// Keep-alive and zero-window probes (one byte or none, below `next_seq`).
    pub probes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Last segment that carried new data.
    pub last_data: Option<Timestamp>,
    /// Payload bytes it sent after acknowledging the peer's FIN (half-close used).
    pub data_after_peer_fin: u64,
    pub window: u16,
    pub window_scale: Option<u8>,
    pub first_tsval: Option<u32>,
    pub last_tsval: Option<u32>,
    /// Some of its frames were cut by the snaplen.
    pub truncated: bool,
    pub signals: Signals,
    last_sig: Option<Signature>,
}

impl Endpoint {
    fn new(addr: EndpointAddr) -> Endpoint {
        Endpoint {
            addr,
            state: State::Closed,
            path: Path::default(),
            time_wait_expired: false,
            read_in_fin_wait_2: false,
            #[cfg(test)]
            transitions: Vec::new(),
            isn: None,
            syn_first: None,
            syn_last: None,
            syn_count: 0,
            syn_repeats: 0,
            time_wait_since: None,
            sent_syn_ack: false,
            sent_pure_syn: false,
            next_seq: None,
            highest_ack: None,
            acked_peer_syn: None,
            fin: None,
            rst: None,
            invalid_rsts: Vec::new(),
            invalid_rst_count: 0,
            challenged_rsts: 0,
            ignored: 0,
            sack_blocks: false,
            packets: 0,
            bytes: 0,
            duplicates: 0,
            probes: 0,
            first_ts: None,
            last_ts: None,
            last_data: None,
            data_after_peer_fin: 0,
            window: 0,
            window_scale: None,
            first_tsval: None,
            last_tsval: None,
            truncated: false,
            signals: Signals::default(),
            last_sig: None,
        }
    }

    /// When it last showed the application at work: new data, SYN, FIN or RST.
    pub fn last_progress(&self) -> Option<Timestamp> {
        [
            self.last_data,
            self.syn_last.map(|p| p.ts),
            self.fin.as_ref().map(|f| f.first.ts),
            self.rst.as_ref().map(|r| r.at.ts),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// When it entered `state` last, if it did.
    #[cfg(test)]
    pub fn entered(&self, state: State) -> Option<PacketRef> {
        self.transitions
            .iter()
            .rev()
            .find(|t| t.to == state)
            .map(|t| t.at)
    }

    /// Its FIN is acknowledged (and no retransmission showed the ACK lost).
    pub fn fin_acked(&self) -> bool {
        self.fin.as_ref().is_some_and(|f| f.acked.is_some())
    }

    /// Receive window in bytes, scaled when both sides negotiated scaling.
    fn window_bytes(&self, scaled: bool) -> i64 {
        let shift = if scaled {
            self.window_scale.unwrap_or(0).min(14)
        } else {
            0
        };
        i64::from(self.window) << shift
    }
}

/// One use of a 4-tuple.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Processing order of its first segment (`Segment::order`): its report id.
    pub serial: u64,
    /// Processing order of the segment that ended its observation (a newer
    /// connection's SYN, or an eviction), `u64::MAX` when the capture ended it:
    /// with `serial`, the key that orders finished connections in the report.
    pub end_order: u64,
    /// The end of what can be observed of it: the end of the capture, or the first
    /// packet of a newer connection that took over its 4-tuple. Set by `finish`.
    pub observed_until: Timestamp,
    pub client: Endpoint,
    pub server: Endpoint,
    pub first: PacketRef,
    pub last: PacketRef,
    /// No SYN or SYN-ACK opened it in the capture.
    pub mid_stream: bool,
    /// Client and server were guessed from the ports.
    pub roles_guessed: bool,
    /// Either side reached ESTABLISHED (or the connection was picked up mid-stream).
    pub established: bool,
    /// The SYN that the first SYN-ACK answered (the last one sent before it).
    pub answered_syn: Option<PacketRef>,
    pub first_syn_ack: Option<PacketRef>,
    /// First FIN or valid RST, and who sent it.
    pub first_close: Option<(Side, PacketRef)>,
    /// Last new data of either side before `first_close`.
    pub last_data_before_close: Option<Timestamp>,
    /// The gaps (ns) before the latest segment's predecessor and before the
    /// latest segment.
    gaps: (i64, i64),
    /// The longer of those two gaps when the first close came: the silence
    /// the close ended, or that ended just before the segment a RST answers.
    pub quiet_before_close: Option<i64>,
    /// That silence ended with the peer's segment, which the close answered
    /// (the timer ran out before it), not with the close itself.
    pub close_answered: bool,
    /// Set by the tracker when this connection reused a 4-tuple in TIME_WAIT.
    pub reuse: Option<Reuse>,
    /// Tracking gave up on it to stay within the cap on tracked connections.
    pub evicted: bool,
    /// Zeek's view of the same packets (`conn_state`, `history`), fed beside
    /// this connection by the tracker ([`super::tracker`]): our state machine
    /// and Zeek's never read each other.
    pub zeek: ZeekState,
    /// SYNs with a new ISN that met this connection while their receiver was
    /// synchronized, held by the tracker until it knows whether they open the
    /// next connection on the 4-tuple (see [`HeldSyns`]).
    pub held_syns: Option<Box<HeldSyns>>,
    /// Every state change of both sides in order (at most [`MAX_TRACED`]),
    /// when the tracker traces ([`super::TrackerConfig::trace`]); `None`
    /// otherwise, as it costs an allocation per connection.
    #[allow(
        clippy::box_collection,
        reason = "8 bytes in every connection when not tracing, not 24"
    )]
    pub trace: Option<Box<Vec<StateChange>>>,
}

/// SYNs (one, and its retransmissions) with a new ISN that reached a
/// synchronized receiver of this connection. Linux answers them with a
/// challenge ACK in this connection's sequence space and discards them (RFC
/// 5961 §4). They open the next connection only once the receiver takes them:
/// its SYN-ACK (or RST) acknowledges the new ISN, or the SYN comes again when
/// the receiver is no longer synchronized (the sender's answer to the
/// challenge ACK, a RST at RCV.NXT, ended it) or has stayed silent since. Until
/// then this connection's segments stay this connection's; if it ends first,
/// they count as its ignored segments.
#[derive(Clone, Debug)]
pub struct HeldSyns {
    /// Who sent them.
    pub side: Side,
    /// In capture order, all with the first one's sequence number.
    pub segs: Vec<Segment>,
    /// The receiver's packet count when the first one came.
    pub receiver_packets: u64,
}

/// At most this many SYNs are held (further ones count as ignored at once).
const MAX_HELD_SYNS: usize = 8;

/// Updates both sides' [`Signals`] for a segment `me` sent.
#[inline]
fn note_signals(
    me: &mut Endpoint,
    peer: &mut Endpoint,
    seg: &Segment,
    probe: bool,
    new_data: bool,
) {
    let s = &mut me.signals;
    if seg.control != Control::Rst {
        match s.ttl {
            None => s.ttl = Some(seg.ttl),
            Some(t) => s.ttl_varies |= t != seg.ttl,
        }
        if seg.window == 0 && seg.control != Control::Syn {
            if s.zero_window_since == Signals::NONE {
                s.zero_window_since = seg.ts;
            }
        } else {
            s.zero_window_since = Signals::NONE;
        }
    }
    if probe {
        if s.unanswered_probes == 0 {
            s.probes_since = seg.ts;
        }
        s.unanswered_probes += 1;
    } else if seg.payload_len > 0 {
        if s.stuck_tx > 0 && s.stuck_seq == seg.seq {
            s.stuck_tx += 1;
            s.stuck_clock = Resends::clock_after(
                s.stuck_tx,
                s.stuck_first,
                s.stuck_last,
                s.stuck_clock,
                seg.ts,
            );
            s.stuck_prev = s.stuck_last;
            s.stuck_last = seg.ts;
        } else if new_data {
            (s.stuck_seq, s.stuck_tx, s.stuck_first, s.stuck_last) = (seg.seq, 1, seg.ts, seg.ts);
            (s.stuck_prev, s.stuck_clock) = (seg.ts, seg.ts);
        }
    }
    peer.signals.unanswered_probes = 0;
}

/// What becomes of a RST (decided before it changes anything).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RstFate {
    /// The receiver takes it: the connection is reset.
    Resets,
    /// Inside the window but not at RCV.NXT: a challenge ACK, nothing else.
    Challenged,
    /// Far outside the window: dropped.
    OutOfWindow,
}

/// How a connection reused the 4-tuple of the previous one while it was in
/// TIME_WAIT.
#[derive(Clone, Debug, PartialEq)]
pub struct Reuse {
    /// Report id of the previous connection on this 4-tuple.
    pub previous: u64,
    /// Seconds from the previous connection entering TIME_WAIT to this SYN.
    pub gap: f64,
    /// Which endpoint of *this* connection held the 4-tuple in TIME_WAIT.
    pub time_wait_side: Side,
    /// The new ISN is above the previous connection's last sequence number from
    /// the same sender (what Linux checks when timestamps are off).
    pub isn_advanced: bool,
    /// The new SYN's TSval is above the last one of the previous connection
    /// (RFC 6191 / PAWS); `None` when timestamps were not in use.
    pub ts_advanced: Option<bool>,
    /// Linux would accept the SYN although the 4-tuple was in TIME_WAIT.
    pub kernel_accepts: bool,
}

impl Connection {
    /// Starts a connection from its first segment, choosing client and server.
    pub fn new(seg: &Segment, serial: u64) -> Connection {
        let src = seg.src_endpoint();
        let dst = seg.dst_endpoint();
        let (client, server, mid_stream, guessed) = match (seg.control, seg.ack) {
            // The sender of the pure SYN is the client.
            (Control::Syn, None) => (src, dst, false, false),
            // Without the SYN, the sender of the SYN-ACK is the server.
            (Control::Syn, Some(_)) => (dst, src, false, false),
            // Otherwise guess: the lower (well-known) port is the server's.
            _ => {
                let src_is_server = (src.port, src.ip) < (dst.port, dst.ip);
                if src_is_server {
                    (dst, src, true, true)
                } else {
                    (src, dst, true, true)
                }
            }
        };
        let at = PacketRef::of(seg);
        Connection {
            serial,
            end_order: u64::MAX,
            client: Endpoint::new(client),
            server: Endpoint::new(server),
            observed_until: seg.ts,
            first: at,
            last: at,
            mid_stream,
            roles_guessed: guessed,
            established: false,
            answered_syn: None,
            first_syn_ack: None,
            first_close: None,
            last_data_before_close: None,
            gaps: (0, 0),
            quiet_before_close: None,
            close_answered: false,
            reuse: None,
            evicted: false,
            zeek: ZeekState::new(),
            held_syns: None,
            trace: None,
        }
    }

    /// Holds a SYN with a new ISN that met a synchronized receiver (the tracker
    /// calls this instead of feeding it; see [`HeldSyns`]).
    pub fn hold_syn(&mut self, seg: &Segment) {
        let side = self.side_of(seg);
        if let Some(held) = self.held_syns.as_mut()
            && held.side == side
            && held.segs[0].seq == seg.seq
        {
            if held.segs.len() < MAX_HELD_SYNS {
                held.segs.push(seg.clone());
            } else {
                self.pair_mut(side).0.ignored += 1;
            }
            return;
        }
        self.drop_held_syns();
        let receiver_packets = self.endpoint(side.other()).packets;
        self.held_syns = Some(Box::new(HeldSyns {
            side,
            segs: vec![seg.clone()],
            receiver_packets,
        }));
    }

    /// The state of `side` if the observation ended at `now`: an ACK of a FIN
    /// that was already lost once does not count yet (see [`Connection::finish`]).
    pub fn state_at(&self, side: Side, now: Timestamp, grace_ns: i64) -> State {
        let ep = self.endpoint(side);
        match ep
            .fin
            .as_deref()
            .and_then(|f| f.ack_in_doubt(now, grace_ns))
        {
            Some(acked) if !self.reset_since(acked) => step(ep.state, Event::FinAckLost),
            _ => ep.state,
        }
    }

    /// A RST that its receiver took came at or after `t`.
    fn reset_since(&self, t: PacketRef) -> bool {
        [&self.client.rst, &self.server.rst]
            .into_iter()
            .flatten()
            .any(|r| r.valid && r.at.ts >= t.ts)
    }

    /// The held SYNs went nowhere: they were ignored segments of this connection.
    fn drop_held_syns(&mut self) {
        if let Some(held) = self.held_syns.take() {
            let n = u32::try_from(held.segs.len()).unwrap_or(u32::MAX);
            let me = self.pair_mut(held.side).0;
            me.ignored = me.ignored.saturating_add(n);
        }
    }

    pub fn side_of(&self, seg: &Segment) -> Side {
        if seg.src == self.client.addr.ip && seg.src_port == self.client.addr.port {
            Side::Client
        } else {
            Side::Server
        }
    }

    pub fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    fn pair_mut(&mut self, side: Side) -> (&mut Endpoint, &mut Endpoint) {
        match side {
            Side::Client => (&mut self.client, &mut self.server),
            Side::Server => (&mut self.server, &mut self.client),
        }
    }

    /// The connection has ended as far as a new SYN on its 4-tuple is concerned:
    /// reset, or both sides sent a FIN.
    pub fn is_closed(&self) -> bool {
        self.client.rst.is_some()
            || self.server.rst.is_some()
            || (self.client.fin.is_some() && self.server.fin.is_some())
    }

    /// Both FINs have been sent and each was acknowledged at some point (even if
    /// a later retransmission showed an ACK lost): the close handshake is over as
    /// far as anything after it is concerned.
    pub fn close_completed(&self) -> bool {
        let acked_once = |e: &Endpoint| e.fin.as_ref().is_some_and(|f| f.first_ack.is_some());
        acked_once(&self.client) && acked_once(&self.server)
    }

    /// Feeds one segment of this connection, in capture order.
    pub fn on_segment(&mut self, seg: &Segment) {
        let side = self.side_of(seg);
        let at = PacketRef::of(seg);
        self.gaps = (self.gaps.1, seg.ts.0.saturating_sub(self.last.ts.0));
        self.last = at;
        let scaled = self.client.window_scale.is_some() && self.server.window_scale.is_some();
        let (me, peer) = self.pair_mut(side);
        let first_from_side = me.packets == 0;
        me.packets += 1;
        me.first_ts.get_or_insert(seg.ts);
        me.last_ts = Some(seg.ts);
        me.truncated |= seg.truncated;

        // The receiver's acceptance test, before anything changes: a segment
        // with neither ACK, SYN nor RST is dropped by any socket past LISTEN
        // (`tcp_rcv_established`'s slow path, `tcp_rcv_state_process`,
        // `tcp_check_req`), whatever its sequence number; a SYN with a new ISN
        // to a synchronized socket is challenged and dropped (RFC 5961 §4).
        let ignored = match seg.control {
            Control::None | Control::Fin => seg.ack.is_none() && peer.state != State::Closed,
            Control::Syn => {
                seg.ack.is_none() && peer.state.challenges_syn() && me.isn != Some(seg.seq)
            }
            Control::Rst => false,
        };
        if ignored {
            me.ignored += 1;
            return;
        }
        // A RST's fate, before it moves the sender's sequence space.
        let rst_fate = (seg.control == Control::Rst).then(|| rst_fate(seg, me, peer, scaled));

        let tsval = seg.options.timestamp.map(|(v, _)| v);
        let sig = Signature {
            seq: seg.seq,
            ack: seg.ack,
            control: seg.control,
            payload_len: seg.payload_len,
            window: seg.window,
            tsval,
            ts: seg.ts,
        };
        if let Some(prev) = me.last_sig {
            let same = Signature { ts: prev.ts, ..sig } == prev;
            if same && seg.ts.0.abs_diff(prev.ts.0) < DUPLICATE_WINDOW_NS.unsigned_abs() {
                me.duplicates += 1;
                return;
            }
        }
        me.last_sig = Some(sig);
        me.bytes += u64::from(seg.payload_len);
        me.window = seg.window;
        me.sack_blocks = seg.options.sack;
        if let Some(v) = tsval {
            me.first_tsval.get_or_insert(v);
            me.last_tsval = Some(v);
        }

        // Data accounting. A probe (keep-alive or zero-window) sits one byte below
        // the next sequence number and carries at most one byte: not new data.
        let probe = seg.control == Control::None
            && seg.payload_len <= 1
            && me.next_seq == Some(seg.seq + 1);
        if probe {
            me.probes += 1;
        }
        let data_end = seg.seq + seg.payload_len;
        let new_data =
            seg.payload_len > 0 && !probe && me.next_seq.is_none_or(|next| data_end > next);
        note_signals(me, peer, seg, probe, new_data);
        if new_data {
            me.last_data = Some(seg.ts);
            let after_peer_fin = match (&peer.fin, seg.ack) {
                (Some(fin), Some(ack)) => ack > fin.seq,
                _ => false,
            };
            if after_peer_fin {
                me.data_after_peer_fin += u64::from(seg.payload_len);
            }
        }
        let seg_end = seg.seq + seg.seq_len();
        // A RST the receiver does not take says nothing of the sender's
        // sequence space (it may be forged, anywhere in the window).
        if rst_fate.is_none_or(|f| f == RstFate::Resets) {
            me.next_seq = Some(me.next_seq.map_or(seg_end, |n| n.max(seg_end)));
        }

        // At most: mid-stream pick-up, two per ACK part, two per control part.
        let mut events = Events::new();
        if seg.control == Control::Syn {
            // The control part first: a SYN-ACK in a simultaneous open moves
            // SYN_SENT to SYN_RECEIVED before its ACK part is looked at.
            self.syn(side, seg, at, &mut events);
            self.ack(side, seg, at, &mut events);
        } else {
            // A side first seen without a SYN is picked up mid-stream; only its
            // first segment says so (a CLOSED side sending later, e.g. a FIN resent
            // after the close or data in flight after a RST, stays CLOSED).
            let me = self.endpoint(side);
            if first_from_side
                && me.state == State::Closed
                && me.syn_first.is_none()
                && seg.control != Control::Rst
            {
                events.push((side, Event::SeenMidStream));
            }
            // The ACK part first: a FIN+ACK that acknowledges the peer's FIN is a
            // passive close (CLOSE_WAIT, then LAST_ACK), not a simultaneous one.
            self.ack(side, seg, at, &mut events);
            match seg.control {
                Control::Fin => self.fin(side, seg, at, &mut events),
                Control::Rst => {
                    let fate = rst_fate.unwrap_or(RstFate::Resets);
                    self.rst(side, seg, at, fate, &mut events);
                }
                _ => {}
            }
        }
        for (s, e) in events {
            self.apply(s, e, at);
        }
    }

    fn syn(&mut self, side: Side, seg: &Segment, at: PacketRef, events: &mut Events) {
        let me = match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        };
        me.isn.get_or_insert(seg.seq);
        let repeat = if seg.ack.is_some() {
            me.sent_syn_ack
        } else {
            std::mem::replace(&mut me.sent_pure_syn, true)
        };
        if repeat {
            me.syn_repeats += 1;
        }
        me.syn_count += 1;
        me.syn_first.get_or_insert(at);
        me.syn_last = Some(at);
        if let Some(ws) = seg.options.window_scale {
            me.window_scale = Some(ws);
        }
        if seg.ack.is_some() {
            me.sent_syn_ack = true;
            if self.first_syn_ack.is_none() {
                self.first_syn_ack = Some(at);
                self.answered_syn = self.endpoint(side.other()).syn_last;
            }
            events.push((side, Event::SendSynAck));
        } else {
            events.push((side, Event::SendSyn));
        }
    }

    fn ack(&mut self, side: Side, seg: &Segment, at: PacketRef, events: &mut Events) {
        let Some(ack) = seg.ack else { return };
        let (me, peer) = self.pair_mut(side);
        if me.state == State::FinWait2 && me.highest_ack.is_some_and(|h| ack > h) {
            me.read_in_fin_wait_2 = true;
        }
        me.highest_ack = Some(me.highest_ack.map_or(ack, |h| h.max(ack)));
        if let Some(isn) = peer.isn
            && ack > isn
        {
            if me.acked_peer_syn.is_none() {
                me.acked_peer_syn = Some(at);
                events.push((side, Event::AckPeerSyn));
            }
            // Every ACK of its SYN counts for a peer still waiting for one: in a
            // simultaneous open the first one reaches it while it is SYN_SENT.
            if peer.state == State::SynReceived || me.acked_peer_syn == Some(at) {
                events.push((side.other(), Event::SynAcked));
            }
        }
        // A TIME_WAIT holder that acknowledges the peer's FIN again (it was resent)
        // restarts its 2×MSL timer.
        if me.state == State::TimeWait && peer.fin.as_ref().is_some_and(|f| ack > f.seq) {
            me.time_wait_since = Some(at);
        }
        if peer.signals.stuck_tx > 0 && ack > peer.signals.stuck_seq {
            peer.signals.stuck_tx = 0;
        }
        if let Some(fin) = peer.fin.as_mut()
            && fin.acked.is_none()
            && ack > fin.seq
        {
            fin.acked = Some(at);
            fin.first_ack.get_or_insert(at);
            events.push((side, Event::AckPeerFin));
            events.push((side.other(), Event::FinAcked));
        }
    }

    fn fin(&mut self, side: Side, seg: &Segment, at: PacketRef, events: &mut Events) {
        let fin_seq = seg.seq + seg.payload_len;
        let last_data = self.client.last_data.max(self.server.last_data);
        let me = match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        };
        match me.fin.as_mut() {
            None => {
                me.fin = Some(Box::new(FinEvidence {
                    seq: fin_seq,
                    first: at,
                    last: at,
                    prev_tx: None,
                    transmissions: 1,
                    clock: seg.ts,
                    ack_on_first: seg.ack,
                    with_data: seg.payload_len > 0,
                    acked: None,
                    first_ack: None,
                    acks_lost: 0,
                }));
                events.push((side, Event::SendFin));
                if self.first_close.is_none() {
                    self.first_close = Some((side, at));
                    self.last_data_before_close = last_data;
                    self.quiet_before_close = Some(self.gaps.0.max(self.gaps.1));
                    self.close_answered = self.gaps.0 > self.gaps.1;
                }
            }
            Some(fin) => {
                // The same FIN again (or, from a broken stack, a FIN further on).
                fin.seq = fin.seq.max(fin_seq);
                fin.transmissions += 1;
                fin.clock = Resends::clock_after(
                    fin.transmissions,
                    fin.first.ts,
                    fin.last.ts,
                    fin.clock,
                    seg.ts,
                );
                fin.prev_tx = Some(fin.last.ts);
                fin.last = at;
                if fin.acked.take().is_some() {
                    fin.acks_lost += 1;
                    events.push((side, Event::FinAckLost));
                }
            }
        }
    }

    fn rst(
        &mut self,
        side: Side,
        seg: &Segment,
        at: PacketRef,
        fate: RstFate,
        events: &mut Events,
    ) {
        let after_fin = self.client.fin.is_some() || self.server.fin.is_some();
        let after_close = self.close_completed();
        let last_data = self.client.last_data.max(self.server.last_data);
        // Its sender has a SYN held: the RST is the new socket's answer (from
        // SYN_SENT, `tcp_rcv_synsent_state_process`) to the challenge ACK, and
        // says nothing of the sender's old socket.
        let from_new_socket = self.held_syns.as_ref().is_some_and(|h| h.side == side);
        let me = self.pair_mut(side).0;
        let valid = fate == RstFate::Resets;
        let challenged = fate == RstFate::Challenged;
        let evidence = RstEvidence {
            at,
            seq: seg.seq,
            valid,
            challenged,
            with_fin: seg.fin_with_rst(),
            after_fin,
            after_close,
        };
        if !valid {
            if challenged {
                me.challenged_rsts += 1;
            } else {
                me.invalid_rst_count += 1;
            }
            if me.invalid_rsts.len() < MAX_INVALID_RSTS {
                me.invalid_rsts.push(evidence);
            }
            return;
        }
        // Every acceptable RST closes (a refused SYN may be retried and refused
        // again); the first one is kept as evidence.
        if !from_new_socket {
            events.push((side, Event::SendRst));
        }
        events.push((side.other(), Event::RecvRst));
        if me.rst.is_none() {
            me.rst = Some(evidence);
            me.signals.rst_ttl = Some(seg.ttl);
            me.signals.rst_ip_id = seg.ip_id;
            if self.first_close.is_none() {
                self.first_close = Some((side, at));
                self.last_data_before_close = last_data;
                self.quiet_before_close = Some(self.gaps.0.max(self.gaps.1));
                self.close_answered = self.gaps.0 > self.gaps.1;
            }
        }
    }

    fn apply(&mut self, side: Side, event: Event, at: PacketRef) {
        // A receiver's state changed when the peer's FIN arrived, not when it
        // acknowledged it (a delayed ACK comes ~40 ms later): its path says
        // so, though the change needs the ACK as proof.
        let when = match event {
            Event::AckPeerFin => self
                .endpoint(side.other())
                .fin
                .as_ref()
                .map_or(at.ts, |f| f.last.ts.min(at.ts)),
            _ => at.ts,
        };
        let since = self.endpoint(side).path.last().map_or(when, |(_, t)| t);
        let entered = when.max(since);
        let ep = match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        };
        let to = step(ep.state, event);
        if to != ep.state {
            if let Some(trace) = &mut self.trace
                && trace.len() < MAX_TRACED
            {
                trace.push(StateChange {
                    side,
                    from: ep.state,
                    to,
                    at,
                });
            }
            #[cfg(test)]
            if ep.transitions.len() < MAX_TRANSITIONS {
                ep.transitions.push(Transition {
                    from: ep.state,
                    to,
                    at,
                });
            }
            ep.state = to;
            // The host never took the ACK that FinAckLost undoes: the state
            // before it lasted on, from when it was entered.
            if event == Event::FinAckLost && ep.path.before_last() == Some(to) {
                ep.path.pop();
            } else {
                ep.path.push(to, entered);
            }
            if to == State::TimeWait {
                ep.time_wait_since = Some(at);
            }
            if to == State::Established {
                self.established = true;
            }
        }
    }

    /// From when on the connection is over for good: both endpoints are CLOSED
    /// or in TIME_WAIT, and from the returned time finishing it
    /// ([`Connection::finish`]) gives the same result as at any later time —
    /// TIME_WAIT has outlived 2×MSL (on Linux the 4-tuple is then forgotten, and
    /// a late segment is answered with a RST), every FIN is past its grace
    /// period, and an ACK that had been lost once has stood long enough to show
    /// the FIN would not be sent again. `None` while an endpoint is in any other
    /// state: its verdict still depends on what the capture goes on to show.
    pub fn settled_at(&self, msl_ns: i64, grace_ns: i64) -> Option<Timestamp> {
        let over = |e: &Endpoint| matches!(e.state, State::Closed | State::TimeWait);
        if !over(&self.client) || !over(&self.server) {
            return None;
        }
        let mut at = self.last.ts.0.saturating_add(msl_ns.saturating_mul(2));
        for ep in [&self.client, &self.server] {
            let Some(fin) = ep.fin.as_deref() else {
                continue;
            };
            // Strictly past the grace period (`classify` compares with `>`).
            at = at.max(fin.last.ts.0.saturating_add(grace_ns).saturating_add(1));
            if let (Some(needed), Some(acked)) = (fin.lost_ack_window(grace_ns), fin.acked) {
                at = at.max(acked.ts.0.saturating_add(needed));
            }
        }
        Some(Timestamp(at))
    }

    /// Applies what the end of its observation (`capture_end`: the end of the
    /// capture, or the takeover of its 4-tuple) proves: TIME_WAIT that outlived
    /// 2×MSL is gone, and an ACK of a FIN that had already been lost once counts
    /// only if the capture went on long enough to show the FIN was not sent again.
    pub fn finish(&mut self, capture_end: Timestamp, msl_ns: i64, grace_ns: i64) {
        self.observed_until = capture_end;
        self.drop_held_syns();
        let at = self.last.at_time(capture_end);
        for side in [Side::Client, Side::Server] {
            let ep = match side {
                Side::Client => &mut self.client,
                Side::Server => &mut self.server,
            };
            let mut lost = false;
            if let Some(acked) = ep
                .fin
                .as_deref()
                .and_then(|f| f.ack_in_doubt(capture_end, grace_ns))
            {
                if let Some(fin) = ep.fin.as_mut() {
                    fin.acked = None;
                }
                // A RST taken after that ACK closed the endpoint anyway.
                lost = !self.reset_since(acked);
            }
            if lost {
                self.apply(side, Event::FinAckLost, at);
            }
            let ep = self.endpoint(side);
            if ep.state == State::TimeWait
                && let Some(since) = ep.time_wait_since
                && capture_end.0.saturating_sub(since.ts.0) >= msl_ns.saturating_mul(2)
            {
                let expired = at.at_time(Timestamp(
                    since.ts.0.saturating_add(msl_ns.saturating_mul(2)),
                ));
                self.apply(side, Event::TimeWaitExpired, expired);
                match side {
                    Side::Client => self.client.time_wait_expired = true,
                    Side::Server => self.server.time_wait_expired = true,
                }
            }
        }
    }
}

impl Connection {
    /// Side `side`'s socket over the observation with the hosts' `timers`
    /// applied (TIME_WAIT's 2×MSL was applied by [`Connection::finish`]).
    pub fn life(&self, side: Side, timers: &Timers) -> Life {
        let ep = self.endpoint(side);
        let mut life = Life {
            path: ep.path,
            until: self.observed_until.max(self.last.ts),
            runs_on: self.end_order == u64::MAX,
            expiry: None,
            unknown: false,
        };
        let peer = self.endpoint(side.other());
        if ep.packets == 0 && peer.state != State::SynSent && self.established {
            life.path = Path::default();
            life.path.push(State::Established, self.first.ts);
            life.until = self.last.ts;
            life.runs_on = false;
            life.unknown = true;
            return life;
        }
        if ep.time_wait_expired
            && let Some((_, at)) = ep.path.last()
        {
            life.expiry = Some(Expiry {
                state: State::TimeWait,
                rule: Rule::TimeWait,
                at,
            });
            return life;
        }
        let sent_last = ep.last_ts.unwrap_or(self.first.ts);
        let expiry = match ep.state {
            State::FinWait2 => self.fin_timeout(side, timers),
            State::Closed => self.closed_after_fin_timeout(side, timers),
            State::SynSent => ep.syn_first.and_then(|syn| {
                let last = ep.syn_last.map_or(syn.ts, |p| p.ts);
                let at = syn_give_up(
                    syn.ts,
                    last,
                    ep.syn_count,
                    timers.syn_retries,
                    timers.syn_linear_timeouts,
                );
                (sent_last < at).then_some((Rule::SynRetries, at))
            }),
            State::SynReceived => ep.syn_first.filter(|_| ep.sent_syn_ack).and_then(|syn| {
                let at = synack_give_up(syn.ts, timers.synack_retries);
                (sent_last < at).then_some((Rule::SynackRetries, at))
            }),
            State::FinWait1 | State::Closing | State::LastAck
                if ep.fin.as_ref().is_some_and(|f| f.acked.is_none()) =>
            {
                let retries = match timers.orphan_retries {
                    0 => 8,
                    n => n,
                };
                ep.fin
                    .as_ref()
                    .and_then(|f| f.resends())
                    .map(|r| (Rule::OrphanRetries, r.give_up(retries)))
            }
            State::Established | State::CloseWait => ep
                .signals
                .resends()
                .map(|r| (Rule::Retries2, r.give_up(timers.retries2))),
            _ => None,
        };
        // A timer that ran out before the side's last packet did not: except
        // a RST from a host whose orphan had timed out.
        let pulled_back = ep.state == State::Closed;
        if let Some((rule, at)) = expiry
            && at <= life.until
            && (sent_last <= at || pulled_back)
        {
            let state = life.state_at(at);
            life.path.close_at(at);
            life.expiry = Some(Expiry { state, rule, at });
        }
        life
    }

    /// An orphaned FIN_WAIT_2 (one that acknowledged nothing new since it got
    /// there: a socket shut down for writing, still read, would have) is gone
    /// `tcp_fin_timeout` after it entered FIN_WAIT_2.
    fn fin_timeout(&self, side: Side, timers: &Timers) -> Option<(Rule, Timestamp)> {
        let ep = self.endpoint(side);
        if ep.read_in_fin_wait_2 {
            return None;
        }
        let (_, entered) = ep.path.last()?;
        Some((
            Rule::FinTimeout,
            Timestamp(entered.0.saturating_add(timers.fin_timeout_ns)),
        ))
    }

    /// A side reset out of FIN_WAIT_2 after its orphan timer had run out was
    /// gone then: the RST was its host's answer to a segment for a socket
    /// it no longer had.
    fn closed_after_fin_timeout(&self, side: Side, timers: &Timers) -> Option<(Rule, Timestamp)> {
        let ep = self.endpoint(side);
        let mut steps = ep
            .path
            .steps()
            .collect::<arrayvec::ArrayVec<_, 8>>()
            .into_iter()
            .rev();
        let (State::Closed, closed) = steps.next()? else {
            return None;
        };
        let (State::FinWait2, entered) = steps.next()? else {
            return None;
        };
        if ep.read_in_fin_wait_2 {
            return None;
        }
        let at = Timestamp(entered.0.saturating_add(timers.fin_timeout_ns));
        (closed > at).then_some((Rule::FinTimeout, at))
    }
}

impl FinEvidence {
    /// Its retransmissions, while unacknowledged and sent more than once.
    fn resends(&self) -> Option<Resends> {
        self.prev_tx.map(|prev| Resends {
            clock: self.clock,
            prev,
            last: self.last.ts,
        })
    }

    /// Its ACK, when that ACK does not count yet at `now`: the FIN was already
    /// sent again after an earlier ACK, and this one has not stood long enough
    /// (see [`FinEvidence::lost_ack_window`]).
    fn ack_in_doubt(&self, now: Timestamp, grace_ns: i64) -> Option<PacketRef> {
        let needed = self.lost_ack_window(grace_ns)?;
        self.acked.filter(|a| now.0.saturating_sub(a.ts.0) < needed)
    }

    /// For a FIN already sent again after an ACK of it was seen (so that ACK was
    /// lost beyond the capture point), how long its latest ACK must stand
    /// unchallenged before it counts: the grace period, or the next
    /// retransmission's doubled back-off if longer. `None` for other FINs.
    fn lost_ack_window(&self, grace_ns: i64) -> Option<i64> {
        (self.acks_lost > 0).then(|| {
            let backoff = self
                .prev_tx
                .map_or(0, |p| self.last.ts.0.saturating_sub(p.0));
            grace_ns.max(backoff.saturating_mul(2))
        })
    }
}

/// RFC 9293 §3.10.7.3 and RFC 5961 §3.2 as Linux applies them
/// (`tcp_validate_incoming`, `tcp_reset_check`), seen from outside.
///
/// In SYN-SENT a RST is taken when it acknowledges the SYN. Otherwise it must be
/// within a window of the receiver's RCV.NXT (its highest ACK sent): we allow
/// one window on either side (at least 64 KiB) because the observer's RCV.NXT
/// lags or leads the host's, so only a RST *far* outside is out of the window.
/// A synchronized receiver then takes it only at RCV.NXT exactly — its highest
/// ACK, or the sender's next sequence number (where RCV.NXT is once the data
/// in flight arrives) — or at RCV.NXT-1 after the sender's FIN, or (not
/// checked: the edges are not kept) at the right edge of its highest SACK
/// block, so any RST while it was sending SACK blocks is taken. Any other RST
/// in the window is challenged.
fn rst_fate(seg: &Segment, sender: &Endpoint, receiver: &Endpoint, scaled: bool) -> RstFate {
    if receiver.state == State::SynSent {
        // Without an ACK that acknowledges the SYN, RFC 9293 drops the RST.
        let taken = match (seg.ack, receiver.isn) {
            (Some(ack), Some(isn)) => ack == isn + 1,
            (Some(_), None) => true,
            (None, _) => false,
        };
        return if taken {
            RstFate::Resets
        } else {
            RstFate::OutOfWindow
        };
    }
    let Some(rcv_nxt) = receiver.highest_ack else {
        return RstFate::Resets;
    };
    let window = receiver.window_bytes(scaled).max(65_535);
    let d = i64::from(seg.seq.diff(rcv_nxt));
    if !(-window <= d && d <= window) {
        return RstFate::OutOfWindow;
    }
    let exact = d == 0
        || sender.next_seq == Some(seg.seq)
        || sender.fin.as_ref().is_some_and(|f| f.seq == seg.seq);
    if exact || !receiver.state.synchronized() || receiver.sack_blocks {
        RstFate::Resets
    } else {
        RstFate::Challenged
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
