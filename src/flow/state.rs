//! RFC 9293 connection states of one endpoint, as inferred by an observer, and the
//! one function that moves between them.
//!
//! An observer cannot see a host's memory, only segments. The rules:
//! * what an endpoint *sends* is proof of its own state (a FIN proves `close()` or
//!   `shutdown()`);
//! * what it *receives* only counts once it proves receipt: a FIN is taken as
//!   received when the receiver sends an ACK covering it, not when the FIN passes the
//!   capture point (it may be dropped after it);
//! * an ACK of our FIN is presumed delivered until the FIN is sent again, which
//!   proves it was not ([`Event::FinAckLost`]).
//!
//! Every change goes through [`step`], a single `match (state, event)`.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Closed,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    Closing,
    TimeWait,
    CloseWait,
    LastAck,
}

impl State {
    /// Past the handshake on this side (RFC 9293's synchronized states): Linux
    /// checks a segment's sequence number, and RFC 5961's rules for RST and SYN,
    /// before it changes anything (`tcp_validate_incoming`, and
    /// `tcp_timewait_state_process` for TIME_WAIT).
    pub fn synchronized(self) -> bool {
        matches!(
            self,
            State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
                | State::TimeWait
        )
    }

    /// A SYN with a new ISN reaching this side is answered with a challenge ACK
    /// and discarded (RFC 5961 §4; `tcp_validate_incoming`'s `syn_challenge`):
    /// every synchronized state but TIME_WAIT, which may take the SYN as a new
    /// connection (`tcp_timewait_state_process`).
    pub fn challenges_syn(self) -> bool {
        self.synchronized() && self != State::TimeWait
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::SynSent => "SYN_SENT",
            State::SynReceived => "SYN_RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME_WAIT",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
        }
    }
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to one endpoint, as far as the capture proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// It sent a SYN without ACK (active open).
    SendSyn,
    /// It sent a SYN-ACK (passive open, or the second half of a simultaneous open).
    SendSynAck,
    /// It sent a segment acknowledging the peer's SYN (it has the peer's SYN).
    AckPeerSyn,
    /// The peer acknowledged its SYN.
    SynAcked,
    /// It sent a non-SYN segment while we knew nothing of it (mid-stream pick-up).
    SeenMidStream,
    /// It sent its first FIN.
    SendFin,
    /// It acknowledged the peer's FIN: proof it received it.
    AckPeerFin,
    /// The peer acknowledged its FIN.
    FinAcked,
    /// It sent its FIN again after the peer's ACK of it was seen: that ACK was lost.
    FinAckLost,
    /// It sent a RST.
    SendRst,
    /// It was sent a RST that is acceptable for its window.
    RecvRst,
    /// The capture ended 2×MSL or more after it entered TIME_WAIT.
    TimeWaitExpired,
}

/// The transition function. Unlisted pairs leave the state as it is: an observer
/// must accept segments a host would discard (retransmissions, late duplicates).
pub fn step(state: State, event: Event) -> State {
    use Event as E;
    use State as S;
    match (state, event) {
        // Active open: SYN sent (again, if retransmitted).
        (S::Closed, E::SendSyn) => S::SynSent,
        // Passive open, or simultaneous open answered with SYN-ACK.
        (S::Closed | S::SynSent, E::SendSynAck) => S::SynReceived,
        // The opener acknowledged the SYN-ACK: handshake complete on its side.
        (S::SynSent, E::AckPeerSyn) => S::Established,
        // The answerer's SYN was acknowledged: handshake complete on its side.
        (S::SynReceived, E::SynAcked) => S::Established,
        // A side we first see mid-stream is taken to be established.
        (S::Closed, E::SeenMidStream) => S::Established,
        // close() before the handshake finished, or on an open connection.
        (S::SynReceived | S::Established, E::SendFin) => S::FinWait1,
        // The passive closer closes too.
        (S::CloseWait, E::SendFin) => S::LastAck,
        // Simultaneous close seen from this side: FIN sent after the peer's arrived.
        (S::FinWait1, E::AckPeerFin) => S::Closing,
        // The peer's FIN arrives while we are still open: half-closed by the peer.
        (S::SynReceived | S::Established, E::AckPeerFin) => S::CloseWait,
        // Our FIN was acknowledged and now the peer's FIN arrives.
        (S::FinWait2, E::AckPeerFin) => S::TimeWait,
        // Our FIN acknowledged: wait for the peer's.
        (S::FinWait1, E::FinAcked) => S::FinWait2,
        // Simultaneous close completes.
        (S::Closing, E::FinAcked) => S::TimeWait,
        // The passive closer's FIN acknowledged: the connection is gone.
        (S::LastAck, E::FinAcked) => S::Closed,
        // A FIN resent after its ACK proves the ACK never arrived: undo FinAcked.
        (S::FinWait2, E::FinAckLost) => S::FinWait1,
        (S::TimeWait, E::FinAckLost) => S::Closing,
        (S::Closed, E::FinAckLost) => S::LastAck,
        // A reset, sent or accepted, ends the connection at once (RFC 9293 §3.10.7).
        (_, E::SendRst | E::RecvRst) => S::Closed,
        // TIME_WAIT lasts 2×MSL.
        (S::TimeWait, E::TimeWaitExpired) => S::Closed,
        (s, _) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::Event as E;
    use super::State as S;
    use super::*;

    fn run(from: S, events: &[E]) -> S {
        events.iter().fold(from, |s, &e| step(s, e))
    }

    // The states below are built on each other, smoltcp-style: each helper starts
    // from the one before.
    fn client_established() -> S {
        run(S::Closed, &[E::SendSyn, E::AckPeerSyn])
    }
    fn server_established() -> S {
        run(S::Closed, &[E::SendSynAck, E::SynAcked])
    }
    fn fin_wait_1() -> S {
        step(client_established(), E::SendFin)
    }
    fn fin_wait_2() -> S {
        step(fin_wait_1(), E::FinAcked)
    }
    fn close_wait() -> S {
        step(server_established(), E::AckPeerFin)
    }
    fn last_ack() -> S {
        step(close_wait(), E::SendFin)
    }

    mod handshake {
        use super::*;

        #[test]
        fn active_open_reaches_established() {
            assert_eq!(step(S::Closed, E::SendSyn), S::SynSent);
            assert_eq!(client_established(), S::Established);
        }

        #[test]
        fn retransmitted_syn_stays_in_syn_sent() {
            assert_eq!(run(S::Closed, &[E::SendSyn, E::SendSyn]), S::SynSent);
        }

        #[test]
        fn passive_open_waits_for_the_ack() {
            assert_eq!(step(S::Closed, E::SendSynAck), S::SynReceived);
            assert_eq!(server_established(), S::Established);
        }

        #[test]
        fn simultaneous_open_goes_through_syn_received() {
            let s = run(S::Closed, &[E::SendSyn, E::SendSynAck]);
            assert_eq!(s, S::SynReceived);
            assert_eq!(step(s, E::SynAcked), S::Established);
        }

        #[test]
        fn refused_syn_ends_closed() {
            assert_eq!(run(S::Closed, &[E::SendSyn, E::RecvRst]), S::Closed);
        }

        #[test]
        fn mid_stream_side_is_established() {
            assert_eq!(step(S::Closed, E::SeenMidStream), S::Established);
            assert_eq!(step(S::FinWait2, E::SeenMidStream), S::FinWait2);
        }
    }

    mod established {
        use super::*;

        #[test]
        fn close_enters_fin_wait_1() {
            assert_eq!(fin_wait_1(), S::FinWait1);
        }

        #[test]
        fn peer_fin_enters_close_wait() {
            assert_eq!(close_wait(), S::CloseWait);
        }

        #[test]
        fn reset_closes() {
            assert_eq!(step(S::Established, E::RecvRst), S::Closed);
            assert_eq!(step(S::Established, E::SendRst), S::Closed);
        }
    }

    mod fin_wait_1 {
        use super::*;

        #[test]
        fn ack_of_fin_enters_fin_wait_2() {
            assert_eq!(fin_wait_2(), S::FinWait2);
        }

        #[test]
        fn crossing_fins_enter_closing_then_time_wait() {
            let s = step(fin_wait_1(), E::AckPeerFin);
            assert_eq!(s, S::Closing);
            assert_eq!(step(s, E::FinAcked), S::TimeWait);
        }

        #[test]
        fn lost_ack_of_fin_returns_to_fin_wait_1() {
            assert_eq!(step(fin_wait_2(), E::FinAckLost), S::FinWait1);
        }
    }

    mod fin_wait_2 {
        use super::*;

        #[test]
        fn peer_fin_enters_time_wait() {
            assert_eq!(step(fin_wait_2(), E::AckPeerFin), S::TimeWait);
        }

        #[test]
        fn time_wait_expires_to_closed() {
            let tw = step(fin_wait_2(), E::AckPeerFin);
            assert_eq!(step(tw, E::TimeWaitExpired), S::Closed);
        }

        #[test]
        fn data_from_the_peer_changes_nothing() {
            assert_eq!(step(fin_wait_2(), E::SynAcked), S::FinWait2);
        }
    }

    mod close_wait {
        use super::*;

        #[test]
        fn close_enters_last_ack() {
            assert_eq!(last_ack(), S::LastAck);
        }

        #[test]
        fn last_ack_closes_on_the_ack() {
            assert_eq!(step(last_ack(), E::FinAcked), S::Closed);
        }

        #[test]
        fn lost_last_ack_returns_to_last_ack() {
            let closed = step(last_ack(), E::FinAcked);
            assert_eq!(step(closed, E::FinAckLost), S::LastAck);
        }

        #[test]
        fn retransmitted_peer_fin_changes_nothing() {
            assert_eq!(step(close_wait(), E::AckPeerFin), S::CloseWait);
        }
    }

    #[test]
    fn display_uses_rfc_names() {
        assert_eq!(S::FinWait2.to_string(), "FIN_WAIT_2");
        assert_eq!(
            serde_json::to_string(&S::CloseWait).unwrap(),
            "\"CLOSE_WAIT\""
        );
        assert_eq!(
            serde_json::to_string(&S::FinWait1).unwrap(),
            "\"FIN_WAIT_1\""
        );
    }
}
