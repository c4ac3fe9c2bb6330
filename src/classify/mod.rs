//! Classification: a pure function from a finished connection's evidence to its
//! verdict. Renderers never re-derive any of this.
//!
//! The rules are stated in `docs/teardown.md`; each branch below names its rule.

use std::time::Duration;

use serde::Serialize;

pub mod diagnosis;

use crate::flow::connection::{FinEvidence, RstEvidence};
use crate::flow::{Connection, Endpoint, Side};
use crate::time::Timestamp;

/// How a connection ended: exactly one per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Class {
    /// Both sides sent a FIN and each FIN was acknowledged.
    Clean,
    /// One FIN acknowledged; the other side sent no FIN or RST and stayed silent
    /// for at least the hang threshold until the capture ended.
    HalfClosedHang,
    /// A FIN was never (durably) acknowledged: retransmitted, resent after its ACK,
    /// or unanswered beyond the grace period.
    LostFin,
    /// An established connection ended by an acceptable RST before a clean close.
    Reset,
    /// The opening SYN was answered by a RST and never by a SYN-ACK.
    Refused,
    /// The handshake got no answer in the capture.
    Unanswered,
    /// No FIN and no RST by the end of the capture.
    Open,
    /// A close began but the capture ended before the evidence could decide.
    Incomplete,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::Clean,
        Class::HalfClosedHang,
        Class::LostFin,
        Class::Reset,
        Class::Refused,
        Class::Unanswered,
        Class::Open,
        Class::Incomplete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Clean => "clean",
            Class::HalfClosedHang => "half_closed_hang",
            Class::LostFin => "lost_fin",
            Class::Reset => "reset",
            Class::Refused => "refused",
            Class::Unanswered => "unanswered",
            Class::Open => "open",
            Class::Incomplete => "incomplete",
        }
    }

    /// Classes that signal a problem worth a look.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            Class::HalfClosedHang
                | Class::LostFin
                | Class::Reset
                | Class::Refused
                | Class::Unanswered
        )
    }
}

/// What the class does not say. Zero or more per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Flag {
    /// The SYN reused the 4-tuple while the previous connection on it was still in
    /// TIME_WAIT (less than 2×MSL after it entered it).
    TimeWaitReuse,
    /// No SYN or SYN-ACK opened the connection in the capture.
    MidStream,
    /// A FIN was sent more than once.
    FinRetransmitted,
    /// A SYN or SYN-ACK was sent more than once.
    SynRetransmitted,
    /// Each side sent its FIN before it had received the other's.
    SimultaneousClose,
    /// An acceptable RST arrived after both FINs had been acknowledged.
    RstAfterClose,
    /// A side kept sending data after it had acknowledged the peer's FIN.
    DataAfterFin,
    /// A RST far outside the receiver's window was seen and ignored.
    InvalidRst,
    /// A RST inside the receiver's window but not at its RCV.NXT was seen: Linux
    /// answers it with a challenge ACK and the connection goes on (RFC 5961
    /// §3.2), so it does not decide the class.
    ChallengedRst,
    /// Segments the receiver discards before they change anything were seen and
    /// left out: without ACK (neither SYN nor RST), or a SYN with a new ISN on
    /// a synchronized connection (challenged, RFC 5961 §4).
    IgnoredSegments,
    /// Frames were cut by the snaplen (the verdict still holds: lengths come from
    /// the IP header).
    Truncated,
    /// Tracking gave up on the connection to stay within `--max-connections`; its
    /// verdict covers what was seen until then.
    Evicted,
}

impl Flag {
    pub const ALL: [Flag; 12] = [
        Flag::TimeWaitReuse,
        Flag::MidStream,
        Flag::FinRetransmitted,
        Flag::SynRetransmitted,
        Flag::SimultaneousClose,
        Flag::RstAfterClose,
        Flag::DataAfterFin,
        Flag::InvalidRst,
        Flag::ChallengedRst,
        Flag::IgnoredSegments,
        Flag::Truncated,
        Flag::Evicted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flag::TimeWaitReuse => "time_wait_reuse",
            Flag::MidStream => "mid_stream",
            Flag::FinRetransmitted => "fin_retransmitted",
            Flag::SynRetransmitted => "syn_retransmitted",
            Flag::SimultaneousClose => "simultaneous_close",
            Flag::RstAfterClose => "rst_after_close",
            Flag::DataAfterFin => "data_after_fin",
            Flag::InvalidRst => "invalid_rst",
            Flag::ChallengedRst => "challenged_rst",
            Flag::IgnoredSegments => "ignored_segments",
            Flag::Truncated => "truncated",
            Flag::Evicted => "evicted",
        }
    }
}

/// A set of flags, stored as bits; serialized as a JSON array of flag names in
/// the order of [`Flag::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlagSet(u16);

impl FlagSet {
    fn bit(flag: Flag) -> u16 {
        1 << Flag::ALL.iter().position(|f| *f == flag).unwrap_or(15)
    }
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= Self::bit(flag);
    }
    pub fn contains(&self, flag: &Flag) -> bool {
        self.0 & Self::bit(*flag) != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn iter(&self) -> impl Iterator<Item = Flag> + '_ {
        Flag::ALL.into_iter().filter(|f| self.contains(f))
    }
}

impl FromIterator<Flag> for FlagSet {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> FlagSet {
        let mut set = FlagSet::default();
        for f in iter {
            set.insert(f);
        }
        set
    }
}

impl Serialize for FlagSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Who began the close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClosedBy {
    Client,
    Server,
    /// A simultaneous close.
    Both,
    None,
}

/// The thresholds of the rules, documented options of the command line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// Silence after an acknowledged FIN that makes a half-close a hang (s).
    #[serde(serialize_with = "secs")]
    pub hang_after: Duration,
    /// How long a FIN may stay unacknowledged without a retransmission before it
    /// counts as lost (s).
    #[serde(serialize_with = "secs")]
    pub fin_grace: Duration,
    /// Maximum segment lifetime; TIME_WAIT lasts 2×MSL (s).
    #[serde(serialize_with = "secs")]
    pub msl: Duration,
    /// The clients' `net.ipv4.ip_local_port_range`, `[low, high]`: what the
    /// `port_reuse` finding weighs the ports a client cycles against.
    pub port_range: (u16, u16),
    /// The hosts' kernel timers that end sockets without a packet (the
    /// report's end states and the host timeline, not the verdict).
    #[serde(flatten)]
    pub timers: crate::flow::Timers,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            hang_after: Duration::from_secs(5),
            fin_grace: Duration::from_secs(3),
            msl: Duration::from_secs(30),
            port_range: (32768, 60999),
            timers: crate::flow::Timers::default(),
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Thresholds {
    /// `hang_after` in nanoseconds, as the rules compare it with timestamps.
    pub fn hang_after_ns(&self) -> i64 {
        ns(self.hang_after)
    }
    /// `fin_grace` in nanoseconds.
    pub fn fin_grace_ns(&self) -> i64 {
        ns(self.fin_grace)
    }
    /// `msl` in nanoseconds.
    pub fn msl_ns(&self) -> i64 {
        ns(self.msl)
    }
}

/// A duration in nanoseconds, saturating (every threshold goes through here).
fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The verdict on one connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub class: Class,
    pub flags: FlagSet,
    pub closed_by: ClosedBy,
    /// For `reset`: who sent the RST that ended it.
    pub reset_by: Option<Side>,
}

/// Classifies a finished connection. `capture_end` is the last timestamp of the
/// whole capture, not of the connection.
pub fn classify(c: &Connection, t: &Thresholds, capture_end: Timestamp) -> Verdict {
    let class = decide(c, t, capture_end);
    let reset_by = (class == Class::Reset)
        .then(|| ending_rst(c).map(|(s, _)| s))
        .flatten();
    Verdict {
        class,
        flags: flags(c),
        closed_by: closed_by(c),
        reset_by,
    }
}

/// The first acceptable RST that arrived before the close completed.
fn ending_rst(c: &Connection) -> Option<(Side, &RstEvidence)> {
    let candidates = [
        (Side::Client, c.client.rst.as_ref()),
        (Side::Server, c.server.rst.as_ref()),
    ];
    candidates
        .into_iter()
        .filter_map(|(s, r)| r.filter(|r| !r.after_close).map(|r| (s, r)))
        .min_by_key(|(_, r)| r.at.ts)
}

fn decide(c: &Connection, t: &Thresholds, end: Timestamp) -> Class {
    let opener = if c.client.syn_first.is_some() || !c.server.sent_syn_ack {
        &c.client
    } else {
        &c.server
    };
    let answerer = if std::ptr::eq(opener, &c.client) {
        &c.server
    } else {
        &c.client
    };

    // Rule 1: the handshake never completed (a connection picked up mid-stream
    // had one we did not see).
    if !c.established && !c.mid_stream {
        if answerer.packets == 0 {
            return Class::Unanswered;
        }
        if answerer.rst.is_some() && !answerer.sent_syn_ack {
            return Class::Refused;
        }
        if ending_rst(c).is_some() {
            return Class::Reset;
        }
        // SYN-ACKs nobody completed: the handshake is still unanswered.
        if answerer.fin.is_none() && opener.fin.is_none() {
            return Class::Unanswered;
        }
    }

    // Rule 2: an acceptable RST before the close completed ends it.
    if ending_rst(c).is_some() {
        return Class::Reset;
    }

    match (&c.client.fin, &c.server.fin) {
        // Rule 3: no FIN and no RST.
        (None, None) => Class::Open,
        // Rule 4: both FINs: clean when both are (still) acknowledged.
        (Some(a), Some(b)) => match (a.acked.is_some(), b.acked.is_some()) {
            (true, true) => Class::Clean,
            (false, true) => fin_fate(a, t, end),
            (true, false) => fin_fate(b, t, end),
            (false, false) => fin_fate(a, t, end).max_severity(fin_fate(b, t, end)),
        },
        // Rule 5: one FIN.
        (Some(fin), None) => one_fin(fin, &c.server, t, end),
        (None, Some(fin)) => one_fin(fin, &c.client, t, end),
    }
}

trait Severity {
    fn max_severity(self, other: Class) -> Class;
}

impl Severity for Class {
    /// Of two unacknowledged FINs, a proven loss outranks "too early to tell".
    fn max_severity(self, other: Class) -> Class {
        if self == Class::LostFin || other == Class::LostFin {
            Class::LostFin
        } else {
            self
        }
    }
}

/// An unacknowledged FIN: lost when it was sent again or waited out the grace
/// period while the capture went on, otherwise too early to tell.
fn fin_fate(fin: &FinEvidence, t: &Thresholds, end: Timestamp) -> Class {
    let resent = fin.transmissions > 1 || fin.acks_lost > 0;
    let waited_out = end.0.saturating_sub(fin.last.ts.0) > t.fin_grace_ns();
    if resent || waited_out {
        Class::LostFin
    } else {
        Class::Incomplete
    }
}

/// One side closed; the other neither sent a FIN nor a RST.
fn one_fin(fin: &FinEvidence, passive: &Endpoint, t: &Thresholds, end: Timestamp) -> Class {
    let Some(acked) = fin.acked else {
        return fin_fate(fin, t, end);
    };
    // Silent since its last sign of life that was more than an ACK, or since it
    // acknowledged the FIN, whichever is later.
    let silent_since = passive
        .last_progress()
        .map_or(acked.ts, |p| p.max(acked.ts));
    if end.0.saturating_sub(silent_since.0) >= t.hang_after_ns() {
        Class::HalfClosedHang
    } else {
        Class::Incomplete
    }
}

fn closed_by(c: &Connection) -> ClosedBy {
    if is_simultaneous_close(c) {
        return ClosedBy::Both;
    }
    match c.first_close {
        Some((Side::Client, _)) => ClosedBy::Client,
        Some((Side::Server, _)) => ClosedBy::Server,
        None => ClosedBy::None,
    }
}

/// Each FIN was sent by a side that had not yet received the other's — the ACK
/// number on each first FIN does not cover the other FIN, which holds wherever
/// the capture was taken — and the two FINs crossed: the second was sent within
/// [`CROSSING_WINDOW_NS`] (or four handshake round trips, if longer) of the
/// first. Without the time bound, a first FIN that was lost and a close by the
/// peer minutes later would look simultaneous.
fn is_simultaneous_close(c: &Connection) -> bool {
    let (Some(a), Some(b)) = (&c.client.fin, &c.server.fin) else {
        return false;
    };
    let covers =
        |f: &FinEvidence, other: &FinEvidence| f.ack_on_first.is_some_and(|ack| ack > other.seq);
    // Saturating: a crafted capture can put any timestamps in these packets.
    let rtt = match (c.answered_syn, c.client.acked_peer_syn) {
        (Some(syn), Some(ack)) => ack.ts.0.saturating_sub(syn.ts.0).max(0),
        _ => 0,
    };
    let window = CROSSING_WINDOW_NS.max(rtt.saturating_mul(4));
    let apart = a.first.ts.0.abs_diff(b.first.ts.0);
    !covers(a, b) && !covers(b, a) && apart <= window.unsigned_abs()
}

/// How far apart two FINs may be sent and still count as crossing (1 s).
const CROSSING_WINDOW_NS: i64 = 1_000_000_000;

fn flags(c: &Connection) -> FlagSet {
    let eps = [&c.client, &c.server];
    let any = |f: &dyn Fn(&Endpoint) -> bool| eps.iter().any(|e| f(e));
    let mut out = FlagSet::default();
    let mut set = |cond: bool, flag: Flag| {
        if cond {
            out.insert(flag);
        }
    };
    set(c.reuse.is_some(), Flag::TimeWaitReuse);
    set(c.mid_stream, Flag::MidStream);
    set(
        any(&|e| e.fin.as_ref().is_some_and(|f| f.transmissions > 1)),
        Flag::FinRetransmitted,
    );
    set(any(&|e| e.syn_repeats > 0), Flag::SynRetransmitted);
    set(is_simultaneous_close(c), Flag::SimultaneousClose);
    set(
        any(&|e| e.rst.as_ref().is_some_and(|r| r.after_close)),
        Flag::RstAfterClose,
    );
    set(any(&|e| e.data_after_peer_fin > 0), Flag::DataAfterFin);
    set(any(&|e| e.invalid_rst_count > 0), Flag::InvalidRst);
    set(any(&|e| e.challenged_rsts > 0), Flag::ChallengedRst);
    set(any(&|e| e.ignored > 0), Flag::IgnoredSegments);
    set(any(&|e| e.truncated), Flag::Truncated);
    set(c.evicted, Flag::Evicted);
    out
}
