//! The kernel's timers that packets do not show: when a socket that the
//! capture leaves in some state is gone on its host, and by which rule.
//!
//! The state machine ([`super::state`]) moves only on evidence; a socket
//! whose last packet left it in FIN_WAIT_2, SYN_SENT or retransmitting is,
//! on Linux, removed by a timer a while later without a packet (no RST).
//! `Connection::life` applies those timers to each side's [`Path`]: the
//! report's end states and the host timeline both read the result, while the
//! verdict is taken from the packets alone (a FIN_WAIT_2 orphan that timed
//! out was still a half-closed hang). docs/teardown.md cites the kernel code
//! behind each rule.

use serde::Serialize;

use super::state::State;
use crate::time::Timestamp;

const MS: i64 = 1_000_000;
const SEC: i64 = 1_000 * MS;
/// `TCP_RTO_MIN`, the base of the give-up model once synchronized.
const RTO_MIN: i64 = 200 * MS;
/// `TCP_RTO_MAX`: the back-off stops doubling here.
const RTO_MAX: i64 = 120 * SEC;
/// `TCP_TIMEOUT_INIT`: the first RTO of a SYN or SYN-ACK.
const TIMEOUT_INIT: i64 = SEC;

/// The hosts' settings the timers run on, with Linux's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Timers {
    /// `net.ipv4.tcp_fin_timeout` (s): how long an orphaned FIN_WAIT_2
    /// socket waits for the peer's FIN.
    #[serde(rename = "fin_timeout", serialize_with = "secs")]
    pub fin_timeout_ns: i64,
    /// `net.ipv4.tcp_syn_retries`.
    pub syn_retries: u32,
    /// `net.ipv4.tcp_syn_linear_timeouts`: SYN retransmissions 1 s apart
    /// before the back-off starts doubling (0 before Linux 6.18).
    pub syn_linear_timeouts: u32,
    /// `net.ipv4.tcp_synack_retries`.
    pub synack_retries: u32,
    /// `net.ipv4.tcp_retries2`.
    pub retries2: u32,
    /// `net.ipv4.tcp_orphan_retries` (0 means 8: `tcp_orphan_retries()`).
    pub orphan_retries: u32,
}

fn secs<S: serde::Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*ns as f64 / 1e9)
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            fin_timeout_ns: 60 * SEC,
            syn_retries: 6,
            syn_linear_timeouts: 4,
            synack_retries: 5,
            retries2: 15,
            orphan_retries: 0,
        }
    }
}

/// The rule that ended a side's socket without a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// TIME_WAIT lasted 2×MSL (`TCP_TIMEWAIT_LEN`, 60 s on Linux).
    TimeWait,
    /// An orphaned FIN_WAIT_2 waited `tcp_fin_timeout` for the peer's FIN.
    FinTimeout,
    /// SYN_SENT: the SYN's retransmissions ran out (`tcp_syn_retries`).
    SynRetries,
    /// SYN_RECEIVED: the SYN-ACK's retransmissions ran out
    /// (`tcp_synack_retries`).
    SynackRetries,
    /// Data retransmitted until `tcp_retries2` gave up.
    Retries2,
    /// An orphan's FIN retransmitted until `tcp_orphan_retries` gave up.
    OrphanRetries,
}

impl Rule {
    pub const ALL: [Rule; 6] = [
        Rule::TimeWait,
        Rule::FinTimeout,
        Rule::SynRetries,
        Rule::SynackRetries,
        Rule::Retries2,
        Rule::OrphanRetries,
    ];

    /// Its name in reports: the kernel setting or constant behind it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::TimeWait => "time_wait",
            Rule::FinTimeout => "tcp_fin_timeout",
            Rule::SynRetries => "tcp_syn_retries",
            Rule::SynackRetries => "tcp_synack_retries",
            Rule::Retries2 => "tcp_retries2",
            Rule::OrphanRetries => "tcp_orphan_retries",
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A side's socket ended by a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Expiry {
    /// The state it was in.
    pub state: State,
    pub rule: Rule,
    /// When the timer ran out (modelled: see docs/teardown.md).
    pub at: Timestamp,
}

/// At most this many state changes are kept per side (a longer walk is
/// folded: [`Path::push`]).
pub const PATH_LEN: usize = 6;

/// The states one side went through and when it entered each (56 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    states: [State; PATH_LEN],
    at: [Timestamp; PATH_LEN],
    len: u8,
}

impl Default for Path {
    fn default() -> Path {
        Path {
            states: [State::Closed; PATH_LEN],
            at: [Timestamp(0); PATH_LEN],
            len: 0,
        }
    }
}

impl Path {
    /// Notes that the side entered `state` at `at`. A full path makes room
    /// where it costs the timeline least, keeping the first state and the
    /// new one: a round trip A → B → A is folded into A, the briefest B
    /// first; without one, the briefest state in between is dropped and the
    /// one before it lasts over it (a simultaneous open that ends in an
    /// expired TIME_WAIT walks seven states).
    pub fn push(&mut self, state: State, at: Timestamp) {
        let n = usize::from(self.len);
        if n < PATH_LEN {
            self.states[n] = state;
            self.at[n] = at;
            self.len += 1;
            return;
        }
        let mut steps: arrayvec::ArrayVec<(State, Timestamp), { PATH_LEN + 1 }> =
            self.steps().collect();
        steps.push((state, at));
        // steps[i] lasts until steps[i + 1]; the first and the new one stay.
        let brief = |i: &usize| steps[*i + 1].1.0.saturating_sub(steps[*i].1.0);
        let inner = 1..steps.len() - 1;
        let trip = inner
            .clone()
            .filter(|&i| steps[i - 1].0 == steps[i + 1].0)
            .min_by_key(brief);
        match trip {
            Some(i) => drop(steps.drain(i..=i + 1)),
            None => drop(steps.remove(inner.min_by_key(brief).unwrap_or(1))),
        }
        for (i, &(s, t)) in steps.iter().enumerate() {
            self.states[i] = s;
            self.at[i] = t;
        }
        self.len = steps.len() as u8;
    }

    /// Each state entered, with when.
    pub fn steps(&self) -> impl Iterator<Item = (State, Timestamp)> + '_ {
        let n = usize::from(self.len);
        self.states[..n]
            .iter()
            .copied()
            .zip(self.at[..n].iter().copied())
    }

    /// How many states it entered.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// It entered none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`th state entered and when.
    pub fn get(&self, i: usize) -> (State, Timestamp) {
        (self.states[i], self.at[i])
    }

    /// The latest state entered and when.
    pub fn last(&self) -> Option<(State, Timestamp)> {
        self.steps().last()
    }

    /// The state entered before the latest one.
    pub fn before_last(&self) -> Option<State> {
        let n = usize::from(self.len);
        (n >= 2).then(|| self.states[n - 2])
    }

    /// Forgets the latest state entered.
    pub(super) fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    /// Ends the path at `at`: drops what it entered after, then enters CLOSED.
    pub(super) fn close_at(&mut self, at: Timestamp) {
        while self.len > 0 && self.at[usize::from(self.len) - 1] > at {
            self.len -= 1;
        }
        self.push(State::Closed, at);
    }
}

/// What a side's socket did over the capture, timers applied: the states
/// it was in and until when, for the host timeline and the report's end
/// state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Life {
    pub path: Path,
    /// The end of the observation: the state last entered lasts until then
    /// (unless it is CLOSED).
    pub until: Timestamp,
    /// The observation ended with the capture (not a newer connection on the
    /// 4-tuple, nor an eviction): a state still held then goes on past it.
    pub runs_on: bool,
    /// The timer that closed it, if one did.
    pub expiry: Option<Expiry>,
    /// Nothing was seen from this side while its peer went past the
    /// handshake: a socket whose state the capture cannot show.
    pub unknown: bool,
}

impl Life {
    /// Each state held, with its start and end (CLOSED left out).
    pub fn intervals(&self) -> impl Iterator<Item = (State, Timestamp, Timestamp)> + '_ {
        let steps: arrayvec::ArrayVec<(State, Timestamp), PATH_LEN> = self.path.steps().collect();
        (0..steps.len()).filter_map(move |i| {
            let (state, from) = steps[i];
            let to = steps.get(i + 1).map_or(self.until, |&(_, t)| t);
            (state != State::Closed && to > from).then_some((state, from, to.min(self.until)))
        })
    }

    /// The state it was in at `t` (CLOSED before it opened and once gone).
    pub fn state_at(&self, t: Timestamp) -> State {
        self.intervals()
            .find(|&(_, from, to)| from <= t && t < to)
            .map_or(State::Closed, |(s, _, _)| s)
    }

    /// Its state at the end of the observation.
    pub fn end_state(&self) -> State {
        self.path.last().map_or(State::Closed, |(s, _)| s)
    }
}

/// The RFC 6298 back-off the kernel models a give-up on
/// (`tcp_model_timeout()`): how long `boundary` retransmissions take from an
/// RTO of `rto_base`, doubling up to `TCP_RTO_MAX`.
pub fn model_timeout(boundary: u32, rto_base: i64) -> i64 {
    let thresh = (RTO_MAX / rto_base).max(1).ilog2();
    if boundary <= thresh {
        ((2i64 << boundary) - 1) * rto_base
    } else {
        ((2i64 << thresh) - 1) * rto_base + i64::from(boundary - thresh) * RTO_MAX
    }
}

/// When a SYN first sent at `first` is given up (`tcp_write_timeout()` in
/// SYN_SENT): at the first RTO expiry where either `retries + linear`
/// retransmissions have gone out or `model_timeout(retries, 1 s)` has
/// passed; the RTO stays 1 s for `linear` retransmissions, then doubles.
/// With `sent` transmissions seen, the last at `last`, the schedule is
/// stretched to the RTO the host really used (jiffies make it 1.02 s, say).
pub fn syn_give_up(
    first: Timestamp,
    last: Timestamp,
    sent: u32,
    retries: u32,
    linear: u32,
) -> Timestamp {
    let timeout = model_timeout(retries, TIMEOUT_INIT);
    let max = retries.saturating_add(linear);
    let (mut t, mut rto, mut resent) = (0i64, TIMEOUT_INIT, 0u32);
    // The model's time of the last retransmission seen.
    let mut last_model = None;
    loop {
        t += rto;
        if resent >= max || t >= timeout {
            break;
        }
        resent += 1;
        if resent + 1 == sent {
            last_model = Some(t);
        }
        if resent > linear {
            rto = (rto * 2).min(RTO_MAX);
        }
    }
    let seen = last.0.saturating_sub(first.0);
    let stretched = match last_model {
        Some(m) if seen > 0 => (t as i128 * seen as i128 / m as i128) as i64,
        _ => t,
    };
    Timestamp(first.0.saturating_add(stretched))
}

/// When a SYN-ACK first sent at `first` is given up: after `retries`
/// retransmissions doubling from 1 s (`reqsk_timer_handler()`), at the
/// expiry that would send the next one.
pub fn synack_give_up(first: Timestamp, retries: u32) -> Timestamp {
    let (mut t, mut rto) = (0i64, TIMEOUT_INIT);
    for _ in 0..=retries {
        t += rto;
        rto = (rto * 2).min(RTO_MAX);
    }
    Timestamp(first.0.saturating_add(t))
}

/// A segment retransmitted by the RTO timer: its transmissions as the
/// capture saw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resends {
    /// Where the give-up clock starts (`retrans_stamp`): the first
    /// retransmission the RTO timer sent. A tail-loss probe, which does not
    /// start it, comes first when the gap to the second retransmission is
    /// no longer than the gap to the first.
    pub clock: Timestamp,
    pub prev: Timestamp,
    pub last: Timestamp,
}

impl Resends {
    /// When the sender gives up (`tcp_write_timeout()`): at the first RTO
    /// expiry after `last` (each doubling the latest gap, up to
    /// `TCP_RTO_MAX`) that is `model_timeout(retries, TCP_RTO_MIN)` or more
    /// past the clock.
    pub fn give_up(&self, retries: u32) -> Timestamp {
        let timeout = model_timeout(retries, RTO_MIN);
        let (mut t, mut gap) = (self.last.0, (self.last.0 - self.prev.0).max(RTO_MIN / 2));
        for _ in 0..64 {
            gap = (gap * 2).min(RTO_MAX);
            t = t.saturating_add(gap);
            if t - self.clock.0 >= timeout {
                break;
            }
        }
        Timestamp(t)
    }

    /// The clock after a transmission at `ts`, the `n`th (1: the original),
    /// following `first` and `prev`.
    pub fn clock_after(
        n: u32,
        first: Timestamp,
        prev: Timestamp,
        clock: Timestamp,
        ts: Timestamp,
    ) -> Timestamp {
        match n {
            2 => ts,
            3 if ts.0 - prev.0 <= (prev.0 - first.0) * 3 / 2 => ts,
            _ => clock,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> i64 {
        (x * 1e9).round() as i64
    }

    #[test]
    fn model_timeout_is_the_kernels_for_its_two_bases() {
        // tcp_retries2 = 15 with TCP_RTO_MIN: 924.6 s (ip-sysctl.rst).
        assert_eq!(model_timeout(15, RTO_MIN), s(924.6));
        assert_eq!(model_timeout(3, RTO_MIN), s(3.0));
        // tcp_orphan_retries 0 means 8: 102.2 s, ">100 seconds" in tcp_timer.c.
        assert_eq!(model_timeout(8, RTO_MIN), s(102.2));
        assert_eq!(model_timeout(2, TIMEOUT_INIT), s(7.0));
        assert_eq!(model_timeout(6, TIMEOUT_INIT), s(127.0));
    }

    #[test]
    fn syn_sent_gives_up_by_time_with_few_retries_and_by_count_with_the_defaults() {
        // fixtures/timeline workload e: tcp_syn_retries 2, 4 linear: six SYNs
        // 1 s apart, dead at the expiry 7 s after the first.
        let z = Timestamp(0);
        assert_eq!(syn_give_up(z, z, 1, 2, 4), Timestamp(s(7.0)));
        // The same SYNs 1.02 s apart, as jiffies made them: 7.14 s.
        assert_eq!(
            syn_give_up(z, Timestamp(s(5.1)), 6, 2, 4),
            Timestamp(s(7.14))
        );
        // The defaults: 10 retransmissions, gone 131 s after the first SYN.
        assert_eq!(syn_give_up(z, z, 1, 6, 4), Timestamp(s(131.0)));
        // Before tcp_syn_linear_timeouts: 1+2+4+8+16+32 and the last 64.
        assert_eq!(syn_give_up(z, z, 1, 6, 0), Timestamp(s(127.0)));
    }

    #[test]
    fn synack_gives_up_after_its_retries() {
        assert_eq!(synack_give_up(Timestamp(0), 5), Timestamp(s(63.0)));
    }

    #[test]
    fn data_retransmitted_gives_up_at_the_first_expiry_past_the_model() {
        // Workload f: sent at 0, TLP 0.21, RTO 0.41 (clock), 0.85, 1.68,
        // 3.35; tcp_retries2 3 models 3.0 s, so the expiry at 3.35 (2.94 s)
        // resends and the one at ~6.7 s gives up.
        let r = Resends {
            clock: Timestamp(s(0.41)),
            prev: Timestamp(s(1.68)),
            last: Timestamp(s(3.35)),
        };
        assert_eq!(r.give_up(3), Timestamp(s(3.35 + 3.34)));
        // Workload b: a FIN at 0, 0.21, 0.42, 0.85, 1.69; tcp_orphan_retries
        // 2 models 1.4 s from 0.42: gone at the next expiry, ~3.35.
        let fin = Resends {
            clock: Timestamp(s(0.42)),
            prev: Timestamp(s(0.85)),
            last: Timestamp(s(1.69)),
        };
        assert_eq!(fin.give_up(2), Timestamp(s(1.69 + 1.68)));
    }

    #[test]
    fn the_clock_skips_a_tail_loss_probe() {
        let (t0, t1) = (Timestamp(0), Timestamp(s(0.21)));
        let c = Resends::clock_after(2, t0, t0, t0, t1);
        assert_eq!(c, t1);
        // 0.20 after a 0.21 gap: the first one was a probe.
        assert_eq!(
            Resends::clock_after(3, t0, t1, c, Timestamp(s(0.41))),
            Timestamp(s(0.41))
        );
        // 0.42 after a 0.21 gap: the back-off doubled, the first was the RTO.
        assert_eq!(Resends::clock_after(3, t0, t1, c, Timestamp(s(0.63))), t1);
    }

    #[test]
    fn a_path_closed_early_drops_what_came_after() {
        let t = |ms: i64| Timestamp(ms * MS);
        let mut p = Path::default();
        p.push(State::Established, t(0));
        p.push(State::FinWait1, t(1000));
        p.push(State::FinWait2, t(1040));
        p.push(State::Closed, t(9000));
        p.close_at(t(6040));
        let steps: Vec<_> = p.steps().collect();
        assert_eq!(
            steps,
            [
                (State::Established, t(0)),
                (State::FinWait1, t(1000)),
                (State::FinWait2, t(1040)),
                (State::Closed, t(6040))
            ]
        );
    }

    #[test]
    fn a_full_path_folds_a_round_trip_and_keeps_the_state_it_came_back_to() {
        // FIN_WAIT_2 → FIN_WAIT_1 → FIN_WAIT_2: a round trip of 2 µs, the
        // briefest of the walk; tcp_fin_timeout then closes the orphan.
        let t = |us: i64| Timestamp(us * 1000);
        let mut p = Path::default();
        for (state, at) in [
            (State::SynReceived, t(4)),
            (State::Established, t(7)),
            (State::FinWait1, t(2_157)),
            (State::FinWait2, t(3_693)),
            (State::FinWait1, t(213_495)),
            (State::FinWait2, t(213_497)),
            (State::Closed, t(60_003_693)),
        ] {
            p.push(state, at);
        }
        let steps: Vec<_> = p.steps().collect();
        assert_eq!(
            steps,
            [
                (State::SynReceived, t(4)),
                (State::Established, t(7)),
                (State::FinWait1, t(2_157)),
                (State::FinWait2, t(3_693)),
                (State::Closed, t(60_003_693)),
            ]
        );
    }

    #[test]
    fn a_full_path_without_a_round_trip_drops_its_briefest_inner_state() {
        let mut p = Path::default();
        for (state, at) in [
            (State::SynSent, 0),
            (State::SynReceived, 5),
            (State::Established, 10),
            (State::FinWait1, 1000),
            (State::Closing, 1001),
            (State::TimeWait, 1500),
            (State::Closed, 61_500),
        ] {
            p.push(state, Timestamp(at));
        }
        let states: Vec<_> = p.steps().map(|(s, _)| s).collect();
        assert_eq!(
            states,
            [
                State::SynSent,
                State::SynReceived,
                State::Established,
                State::Closing,
                State::TimeWait,
                State::Closed
            ]
        );
    }

    #[test]
    fn a_long_walk_keeps_its_first_state_and_its_latest() {
        let mut p = Path::default();
        for i in 0..20 {
            let state = if i % 2 == 0 {
                State::FinWait1
            } else {
                State::FinWait2
            };
            p.push(state, Timestamp(i));
        }
        p.push(State::TimeWait, Timestamp(100));
        assert!(p.len() <= PATH_LEN);
        assert_eq!(p.get(0), (State::FinWait1, Timestamp(0)));
        assert_eq!(p.last(), Some((State::TimeWait, Timestamp(100))));
    }
}
