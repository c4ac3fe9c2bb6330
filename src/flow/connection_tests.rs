//! Segment-level tests of `Connection` and of the classifier over it.
//!
//! smoltcp-style: a small segment builder (client 10.0.0.1:40000, server
//! 10.0.0.2:80, times in ms), fixtures that build on each other (`syn_sent` →
//! `syn_received` → `established` → `fin_wait_1` → `fin_wait_2` → `last_ack` →
//! `time_wait`), one module per state. The scenarios that matter run with two sets
//! of ISNs: [`WRAP`], whose sequence numbers cross 2^32 during the test (the
//! client's FIN sits at 0xFFFF_FFFF and is acknowledged with 0), and [`HALF`],
//! whose sequence numbers cross 2^31.
//!

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::Side::{Client as C, Server as S};
use super::*;
use crate::classify::{Class, ClosedBy, Flag, Thresholds, Verdict, classify};
use crate::decode::TcpOptions;
use crate::flow::tracker::{Tracker, TrackerConfig};

const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 1), 40000);
const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 2), 80);
/// Linux's initial window; below the 64 KiB floor of the RST check.
const WINDOW: u16 = 64240;
const NS_PER_MS: i64 = 1_000_000;

/// Payload of the client's request and of the server's response in `established`.
const REQUEST: u32 = 0xFE;
const RESPONSE: u32 = 0x400;

/// The two ISNs of a connection.
#[derive(Clone, Copy, Debug)]
struct Isn {
    client: SeqNumber,
    server: SeqNumber,
}

/// The client's FIN lands on 0xFFFF_FFFF, its ACK on 0; the server's response
/// wraps inside its payload.
const WRAP: Isn = Isn {
    client: SeqNumber(0xFFFF_FF00),
    server: SeqNumber(0xFFFF_FFF0),
};
/// Request and response both cross 2^31 (where a signed cast of a plain `u32`
/// difference would flip).
const HALF: Isn = Isn {
    client: SeqNumber(0x7FFF_FFF0),
    server: SeqNumber(0x7FFF_FF80),
};
const ISNS: [Isn; 2] = [WRAP, HALF];

impl Isn {
    /// The client's next sequence number after its request: where its FIN goes.
    fn c(self) -> SeqNumber {
        self.client + 1 + REQUEST
    }
    /// The server's next sequence number after its response.
    fn s(self) -> SeqNumber {
        self.server + 1 + RESPONSE
    }
}

// ---------------------------------------------------------------------------
// Segment builder.

fn segment(
    from: Side,
    seq: SeqNumber,
    ack: Option<SeqNumber>,
    control: Control,
    len: u32,
) -> Segment {
    let ((src, src_port), (dst, dst_port)) = match from {
        C => (CLIENT, SERVER),
        S => (SERVER, CLIENT),
    };
    Segment {
        ts: Timestamp(0),
        input: 0,
        number: 0,
        order: 0,
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        src_port,
        dst_port,
        seq,
        ack,
        control,
        window: WINDOW,
        payload_len: len,
        options: TcpOptions::default(),
        truncated: false,
        flags: crate::decode::TcpFlags {
            syn: control == Control::Syn,
            fin: control == Control::Fin,
            rst: control == Control::Rst,
            psh: len > 0,
            ack: ack.is_some(),
        },
        ip_len: 40 + len,
        header_cut: false,
        ttl: 64,
        ip_id: 0,
    }
}

/// A pure SYN from the client.
fn syn(seq: SeqNumber) -> Segment {
    syn_from(C, seq)
}
fn syn_from(from: Side, seq: SeqNumber) -> Segment {
    segment(from, seq, None, Control::Syn, 0)
}
/// A SYN-ACK from the server.
fn syn_ack(seq: SeqNumber, ack: SeqNumber) -> Segment {
    syn_ack_from(S, seq, ack)
}
fn syn_ack_from(from: Side, seq: SeqNumber, ack: SeqNumber) -> Segment {
    segment(from, seq, Some(ack), Control::Syn, 0)
}
fn ack(from: Side, seq: SeqNumber, ack: SeqNumber) -> Segment {
    segment(from, seq, Some(ack), Control::None, 0)
}
fn data(from: Side, seq: SeqNumber, ack: SeqNumber, len: u32) -> Segment {
    segment(from, seq, Some(ack), Control::None, len)
}
/// FIN+ACK (add data with `.payload(n)`).
fn fin(from: Side, seq: SeqNumber, ack: SeqNumber) -> Segment {
    segment(from, seq, Some(ack), Control::Fin, 0)
}
/// RST, with the ACK bit when `ack` is given.
fn rst(from: Side, seq: SeqNumber, ack: Option<SeqNumber>) -> Segment {
    segment(from, seq, ack, Control::Rst, 0)
}

trait SegmentExt {
    fn at(self, ms: i64) -> Segment;
    fn at_us(self, us: i64) -> Segment;
    fn win(self, window: u16) -> Segment;
    fn wscale(self, shift: u8) -> Segment;
    fn tsval(self, tsval: u32) -> Segment;
    fn payload(self, len: u32) -> Segment;
    /// FIN+RST.
    fn and_fin(self) -> Segment;
    fn cut(self) -> Segment;
}

impl SegmentExt for Segment {
    fn at(self, ms: i64) -> Segment {
        self.at_us(ms * 1000)
    }
    fn at_us(self, us: i64) -> Segment {
        Segment {
            ts: Timestamp(us * 1000),
            ..self
        }
    }
    fn win(self, window: u16) -> Segment {
        Segment { window, ..self }
    }
    fn wscale(mut self, shift: u8) -> Segment {
        self.options.window_scale = Some(shift);
        self
    }
    fn tsval(mut self, tsval: u32) -> Segment {
        self.options.timestamp = Some((tsval, 0));
        self
    }
    fn payload(self, len: u32) -> Segment {
        Segment {
            payload_len: len,
            flags: crate::decode::TcpFlags {
                psh: true,
                ..self.flags
            },
            ..self
        }
    }
    fn and_fin(self) -> Segment {
        Segment {
            flags: crate::decode::TcpFlags {
                fin: true,
                ..self.flags
            },
            ..self
        }
    }
    fn cut(self) -> Segment {
        Segment {
            truncated: true,
            ..self
        }
    }
}

// ---------------------------------------------------------------------------
// Harness.

fn ms(t: i64) -> Timestamp {
    Timestamp(t * NS_PER_MS)
}

/// Where frame `packet` at `t` ms is (the harness numbers frames from 1).
fn frame(t: i64, packet: u64) -> PacketRef {
    PacketRef::new(ms(t), 0, packet)
}

/// Starts a connection from its first segment (frame 1).
fn open(seg: Segment) -> Connection {
    let seg = Segment {
        number: 1,
        order: 0,
        ..seg
    };
    let mut c = Connection::new(&seg, 0);
    c.on_segment(&seg);
    c
}

/// Feeds the next frame of the capture.
fn send(c: &mut Connection, seg: Segment) {
    let number = c.client.packets + c.server.packets + 1;
    c.on_segment(&Segment {
        number,
        order: number - 1,
        ..seg
    });
}

fn send_all(c: &mut Connection, segs: impl IntoIterator<Item = Segment>) {
    for seg in segs {
        send(c, seg);
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap()
}

/// Ends the capture at `end` ms (end-of-capture inferences), then classifies with
/// the default thresholds (hang 5 s, grace 3 s, MSL 30 s).
fn verdict(c: &mut Connection, end: i64) -> Verdict {
    verdict_with(c, end, &Thresholds::default())
}

fn verdict_with(c: &mut Connection, end: i64, t: &Thresholds) -> Verdict {
    c.finish(ms(end), nanos(t.msl), nanos(t.fin_grace));
    classify(c, t, ms(end))
}

fn states(c: &Connection) -> (State, State) {
    (c.client.state, c.server.state)
}

/// Every state an endpoint went through, in order.
fn path(e: &Endpoint) -> Vec<State> {
    let mut out = vec![e.transitions.first().map_or(e.state, |t| t.from)];
    out.extend(e.transitions.iter().map(|t| t.to));
    out
}

fn fin_of(c: &Connection, side: Side) -> &FinEvidence {
    c.endpoint(side).fin.as_ref().expect("a FIN")
}

/// The verdict's flags, in the order of `Flag::ALL`.
fn flags(v: &Verdict) -> Vec<Flag> {
    v.flags.iter().collect()
}

fn rst_of(c: &Connection, side: Side) -> &RstEvidence {
    c.endpoint(side).rst.as_ref().expect("an acceptable RST")
}

// ---------------------------------------------------------------------------
// Scripts (segments without frame numbers) and the fixtures built from them.

/// SYN (0 ms), SYN-ACK (1), ACK (2), a request (3), the response (10) and its ACK
/// (11): frames 1 to 6.
fn opening(i: Isn) -> Vec<Segment> {
    let (c, s) = (i.c(), i.s());
    vec![
        syn(i.client).at(0),
        syn_ack(i.server, i.client + 1).at(1),
        ack(C, i.client + 1, i.server + 1).at(2),
        data(C, i.client + 1, i.server + 1, REQUEST).at(3),
        data(S, i.server + 1, c, RESPONSE).at(10),
        ack(C, c, s).at(11),
    ]
}

/// The client closes: FIN (100 ms), the server's ACK (101), the server's FIN (200),
/// the client's last ACK (201): frames 7 to 10.
fn client_close(i: Isn) -> Vec<Segment> {
    let (c, s) = (i.c(), i.s());
    vec![
        fin(C, c, s).at(100),
        ack(S, s, c + 1).at(101),
        fin(S, s, c + 1).at(200),
        ack(C, c + 1, s + 1).at(201),
    ]
}

/// The server closes: FIN (100 ms), the client's ACK (101), the client's FIN
/// (150), the server's last ACK (151): frames 7 to 10.
fn server_close(i: Isn) -> Vec<Segment> {
    let (c, s) = (i.c(), i.s());
    vec![
        fin(S, s, c).at(100),
        ack(C, c, s + 1).at(101),
        fin(C, c, s + 1).at(150),
        ack(S, s + 1, c + 1).at(151),
    ]
}

/// Both send a SYN (0, 1 ms), then both a SYN-ACK (2, 3 ms), RFC 9293 figure 8.
fn simultaneous_opening(i: Isn) -> Vec<Segment> {
    vec![
        syn(i.client).at(0),
        syn_from(S, i.server).at(1),
        syn_ack_from(C, i.client, i.server + 1).at(2),
        syn_ack_from(S, i.server, i.client + 1).at(3),
    ]
}

/// `segs` shifted `t0` ms later.
fn later(segs: Vec<Segment>, t0: i64) -> Vec<Segment> {
    segs.into_iter()
        .map(|s| {
            let ts = Timestamp(s.ts.0 + t0 * NS_PER_MS);
            Segment { ts, ..s }
        })
        .collect()
}

/// Client: SYN_SENT. Server: nothing seen.
fn syn_sent(i: Isn) -> Connection {
    open(opening(i).remove(0))
}

/// Client: SYN_SENT (it has not acknowledged the SYN-ACK yet). Server: SYN_RECEIVED.
fn syn_received(i: Isn) -> Connection {
    let mut c = syn_sent(i);
    send(&mut c, opening(i).remove(1));
    c
}

/// Both ESTABLISHED, request and response exchanged and acknowledged (11 ms).
fn established(i: Isn) -> Connection {
    let mut c = syn_received(i);
    send_all(&mut c, opening(i).into_iter().skip(2));
    c
}

/// Client: FIN_WAIT_1 (FIN at 100 ms). Server: still ESTABLISHED.
fn fin_wait_1(i: Isn) -> Connection {
    let mut c = established(i);
    send(&mut c, client_close(i).remove(0));
    c
}

/// Client: FIN_WAIT_2. Server: CLOSE_WAIT (it acknowledged the FIN at 101 ms).
fn fin_wait_2(i: Isn) -> Connection {
    let mut c = fin_wait_1(i);
    send(&mut c, client_close(i).remove(1));
    c
}

/// Client: FIN_WAIT_2 (until it acknowledges the server's FIN). Server: LAST_ACK
/// (FIN at 200 ms).
fn last_ack(i: Isn) -> Connection {
    let mut c = fin_wait_2(i);
    send(&mut c, client_close(i).remove(2));
    c
}

/// Client: TIME_WAIT (since 201 ms). Server: CLOSED.
fn time_wait(i: Isn) -> Connection {
    let mut c = last_ack(i);
    send(&mut c, client_close(i).remove(3));
    c
}

/// Crossing FINs (both at 100 ms, neither acknowledging the other); the client has
/// acknowledged the server's FIN (150 ms): client CLOSING, server FIN_WAIT_2.
fn closing(i: Isn) -> Connection {
    let (c, s) = (i.c(), i.s());
    let mut conn = fin_wait_1(i);
    send(&mut conn, fin(S, s, c).at(100));
    send(&mut conn, ack(C, c + 1, s + 1).at(150));
    conn
}

/// The server closed first, the client acknowledged (101 ms): server FIN_WAIT_2,
/// client CLOSE_WAIT.
fn server_fin_wait_2(i: Isn) -> Connection {
    let mut c = established(i);
    send_all(&mut c, server_close(i).into_iter().take(2));
    c
}

/// The server closed first and holds TIME_WAIT (since 151 ms); the client is CLOSED.
fn server_time_wait(i: Isn) -> Connection {
    let mut c = server_fin_wait_2(i);
    send_all(&mut c, server_close(i).into_iter().skip(2));
    c
}

/// Picked up mid-stream: the server's data (0 ms, no SYN seen), the client's ACK.
fn mid_stream(i: Isn) -> Connection {
    let (c, s) = (i.c(), i.s());
    let mut conn = open(data(S, s, c, 100).at(0));
    send(&mut conn, ack(C, c, s + 100).at(1));
    conn
}

mod syn_sent {
    use super::*;

    #[test]
    fn syn_puts_the_client_in_syn_sent_and_records_its_isn() {
        for i in ISNS {
            let c = syn_sent(i);
            assert_eq!(states(&c), (State::SynSent, State::Closed), "{i:?}");
            assert_eq!(c.client.addr.port, CLIENT.1);
            assert_eq!(c.server.addr.port, SERVER.1);
            assert_eq!(c.client.isn, Some(i.client));
            assert_eq!(c.client.next_seq, Some(i.client + 1));
            assert_eq!(c.client.syn_count, 1);
            assert_eq!(c.client.syn_first, Some(frame(0, 1)));
            assert!(!c.client.sent_syn_ack);
            assert!(!c.mid_stream && !c.roles_guessed && !c.established);
            assert_eq!(path(&c.client), [State::Closed, State::SynSent]);
            assert_eq!(c.client.transitions[0].at, frame(0, 1));
            assert_eq!(c.server.packets, 0);
        }
    }

    #[test]
    fn unanswered_syn_is_unanswered() {
        for i in ISNS {
            let mut c = syn_sent(i);
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Unanswered, "{i:?}");
            assert_eq!(flags(&v), []);
            assert_eq!(v.closed_by, ClosedBy::None);
            assert_eq!(v.reset_by, None);
            assert_eq!(states(&c), (State::SynSent, State::Closed));
        }
    }

    #[test]
    fn syn_retransmitted_with_the_same_isn_stays_in_syn_sent() {
        for i in ISNS {
            let mut c = syn_sent(i);
            send(&mut c, syn(i.client).at(1_000));
            send(&mut c, syn(i.client).at(3_000));
            assert_eq!(c.client.state, State::SynSent, "{i:?}");
            assert_eq!(c.client.syn_count, 3);
            assert_eq!(c.client.isn, Some(i.client));
            assert_eq!(c.client.syn_first, Some(frame(0, 1)));
            assert_eq!(c.client.syn_last, Some(frame(3_000, 3)));
            assert_eq!(c.client.next_seq, Some(i.client + 1));
            assert_eq!(c.client.duplicates, 0);
            assert_eq!(path(&c.client), [State::Closed, State::SynSent]);
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Unanswered);
            assert_eq!(flags(&v), [Flag::SynRetransmitted]);
        }
    }

    #[test]
    fn syn_ack_moves_only_the_server_to_syn_received() {
        for i in ISNS {
            let c = syn_received(i);
            // The client has the SYN-ACK only once it acknowledges it.
            assert_eq!(states(&c), (State::SynSent, State::SynReceived), "{i:?}");
            assert_eq!(c.server.isn, Some(i.server));
            assert!(c.server.sent_syn_ack);
            assert_eq!(c.server.acked_peer_syn, Some(frame(1, 2)));
            assert_eq!(c.first_syn_ack, Some(frame(1, 2)));
            assert_eq!(c.answered_syn, Some(frame(0, 1)));
            assert_eq!(c.client.acked_peer_syn, None);
            assert!(!c.established);
        }
    }

    #[test]
    fn ack_of_the_syn_ack_establishes_both_sides() {
        for i in ISNS {
            let mut c = syn_received(i);
            send(&mut c, ack(C, i.client + 1, i.server + 1).at(2));
            assert_eq!(
                states(&c),
                (State::Established, State::Established),
                "{i:?}"
            );
            assert!(c.established);
            assert_eq!(c.client.acked_peer_syn, Some(frame(2, 3)));
            assert_eq!(
                path(&c.client),
                [State::Closed, State::SynSent, State::Established]
            );
            assert_eq!(
                path(&c.server),
                [State::Closed, State::SynReceived, State::Established]
            );
            assert_eq!(c.server.entered(State::Established), Some(frame(2, 3)));
        }
    }

    #[test]
    fn answered_syn_is_the_last_syn_before_the_first_syn_ack() {
        for i in ISNS {
            let mut c = syn_sent(i);
            send(&mut c, syn(i.client).at(1_000));
            send(&mut c, syn_ack(i.server, i.client + 1).at(1_001));
            send(&mut c, ack(C, i.client + 1, i.server + 1).at(1_002));
            assert_eq!(c.answered_syn, Some(frame(1_000, 2)), "{i:?}");
            assert_eq!(c.first_syn_ack, Some(frame(1_001, 3)));
            assert_eq!(c.client.acked_peer_syn, Some(frame(1_002, 4)));
            assert_eq!(states(&c), (State::Established, State::Established));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Open);
            assert_eq!(flags(&v), [Flag::SynRetransmitted]);
        }
    }

    #[test]
    fn syn_ack_retransmitted_keeps_the_server_in_syn_received() {
        for i in ISNS {
            let mut c = syn_received(i);
            send(&mut c, syn_ack(i.server, i.client + 1).at(1_001));
            assert_eq!(states(&c), (State::SynSent, State::SynReceived), "{i:?}");
            assert_eq!(c.server.syn_count, 2);
            assert_eq!(c.first_syn_ack, Some(frame(1, 2)));
            assert_eq!(c.server.syn_last, Some(frame(1_001, 3)));
            send(&mut c, ack(C, i.client + 1, i.server + 1).at(1_002));
            assert_eq!(states(&c), (State::Established, State::Established));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Open);
            assert_eq!(flags(&v), [Flag::SynRetransmitted]);
        }
    }

    #[test]
    fn syn_acks_nobody_completed_are_unanswered() {
        for i in ISNS {
            let mut c = syn_received(i);
            send(&mut c, syn_ack(i.server, i.client + 1).at(1_001));
            send(&mut c, syn_ack(i.server, i.client + 1).at(3_001));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Unanswered, "{i:?}");
            assert_eq!(flags(&v), [Flag::SynRetransmitted]);
            assert_eq!(states(&c), (State::SynSent, State::SynReceived));
            assert!(!c.established);
        }
    }

    #[test]
    fn refused_syn_answered_by_rst_ack_closes_both_sides() {
        for i in ISNS {
            let mut c = syn_sent(i);
            send(&mut c, rst(S, SeqNumber(0), Some(i.client + 1)).at(1));
            assert_eq!(states(&c), (State::Closed, State::Closed), "{i:?}");
            let r = rst_of(&c, S);
            assert!(r.valid && !r.after_fin && !r.after_close && !r.with_fin);
            assert_eq!(r.at, frame(1, 2));
            assert_eq!(c.server.invalid_rst_count, 0);
            assert_eq!(
                path(&c.client),
                [State::Closed, State::SynSent, State::Closed]
            );
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Refused);
            assert_eq!(flags(&v), []);
            assert_eq!(v.closed_by, ClosedBy::Server);
            assert_eq!(v.reset_by, None);
        }
    }

    #[test]
    fn rst_whose_ack_does_not_acknowledge_the_syn_is_ignored() {
        for i in ISNS {
            let mut c = syn_sent(i);
            send(&mut c, rst(S, SeqNumber(0), Some(i.client + 2)).at(1));
            assert_eq!(states(&c), (State::SynSent, State::Closed), "{i:?}");
            assert!(c.server.rst.is_none());
            assert_eq!(c.server.invalid_rst_count, 1);
            assert_eq!(c.server.invalid_rsts.len(), 1);
            assert!(!c.server.invalid_rsts[0].valid);
            assert_eq!(c.server.invalid_rsts[0].at, frame(1, 2));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Unanswered);
            assert_eq!(flags(&v), [Flag::InvalidRst]);
            assert_eq!(v.closed_by, ClosedBy::None);
        }
    }

    #[test]
    fn rst_without_ack_in_syn_sent_is_not_acceptable() {
        for i in ISNS {
            let mut c = syn_sent(i);
            send(&mut c, rst(S, SeqNumber(0), None).at(1));
            assert_eq!(states(&c), (State::SynSent, State::Closed), "{i:?}");
            assert!(c.server.rst.is_none());
            assert_eq!(c.server.invalid_rst_count, 1);
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Unanswered);
            assert_eq!(flags(&v), [Flag::InvalidRst]);
        }
    }

    #[test]
    fn refused_syn_retried_after_the_rst_ends_closed() {
        for i in ISNS {
            let mut c = syn_sent(i);
            send(&mut c, rst(S, SeqNumber(0), Some(i.client + 1)).at(1));
            send(&mut c, syn(i.client).at(500));
            send(&mut c, rst(S, SeqNumber(0), Some(i.client + 1)).at(501));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Refused, "{i:?}");
            assert_eq!(flags(&v), [Flag::SynRetransmitted]);
            assert_eq!(states(&c), (State::Closed, State::Closed));
        }
    }

    #[test]
    fn rst_answering_the_syn_ack_is_a_reset_not_a_refusal() {
        for i in ISNS {
            // The client gave up on the connect(): its stack resets the SYN-ACK.
            let mut c = syn_received(i);
            send(&mut c, rst(C, i.client + 1, None).at(2));
            assert_eq!(states(&c), (State::Closed, State::Closed), "{i:?}");
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Reset);
            assert_eq!(v.reset_by, Some(C));
            assert_eq!(v.closed_by, ClosedBy::Client);
        }
    }

    #[test]
    fn simultaneous_open_goes_through_syn_received_and_is_one_handshake() {
        for i in ISNS {
            let mut segs = simultaneous_opening(i).into_iter();
            let mut c = open(segs.next().unwrap());
            send(&mut c, segs.next().unwrap());
            assert_eq!(states(&c), (State::SynSent, State::SynSent), "{i:?}");
            assert_eq!(c.server.isn, Some(i.server));
            assert!(!c.server.sent_syn_ack);
            send(&mut c, segs.next().unwrap());
            assert_eq!(c.client.state, State::SynReceived);
            assert!(c.client.sent_syn_ack);
            // The first SYN-ACK answered the server's SYN.
            assert_eq!(c.first_syn_ack, Some(frame(2, 3)));
            assert_eq!(c.answered_syn, Some(frame(1, 2)));
            send(&mut c, segs.next().unwrap());
            // The server's SYN-ACK acknowledges the client's SYN.
            assert_eq!(c.client.state, State::Established);
            assert!(c.established);
            assert_eq!(c.client.isn, Some(i.client));
            assert_eq!(c.server.isn, Some(i.server));
        }
    }

    #[test]
    fn simultaneous_open_ends_with_both_sides_established() {
        for i in ISNS {
            let mut segs = simultaneous_opening(i).into_iter();
            let mut c = open(segs.next().unwrap());
            send_all(&mut c, segs);
            // Data both ways, each acknowledged.
            send(&mut c, data(C, i.client + 1, i.server + 1, 10).at(4));
            send(&mut c, data(S, i.server + 1, i.client + 11, 10).at(5));
            send(&mut c, ack(C, i.client + 11, i.server + 11).at(6));
            assert_eq!(
                states(&c),
                (State::Established, State::Established),
                "{i:?}"
            );
        }
    }

    #[test]
    fn simultaneous_open_is_not_a_syn_retransmission() {
        for i in ISNS {
            let mut segs = simultaneous_opening(i).into_iter();
            let mut c = open(segs.next().unwrap());
            send_all(&mut c, segs);
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Open, "{i:?}");
            assert_eq!(flags(&v), []);
        }
    }

    #[test]
    fn capture_starting_at_the_syn_ack_takes_its_sender_as_server() {
        for i in ISNS {
            let mut c = open(syn_ack(i.server, i.client + 1).at(1));
            assert_eq!(c.client.addr.port, CLIENT.1, "{i:?}");
            assert_eq!(c.server.addr.port, SERVER.1);
            assert!(!c.mid_stream && !c.roles_guessed);
            assert_eq!(states(&c), (State::Closed, State::SynReceived));
            send(&mut c, ack(C, i.client + 1, i.server + 1).at(2));
            assert_eq!(states(&c), (State::Established, State::Established));
            assert_eq!(c.client.isn, None);
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Open);
            assert_eq!(flags(&v), []);
        }
    }
}

mod established {
    use super::*;

    #[test]
    fn handshake_and_request_leave_both_sides_established() {
        for i in ISNS {
            let c = established(i);
            assert_eq!(
                states(&c),
                (State::Established, State::Established),
                "{i:?}"
            );
            assert_eq!(c.client.next_seq, Some(i.c()));
            assert_eq!(c.server.next_seq, Some(i.s()));
            assert_eq!(c.client.highest_ack, Some(i.s()));
            assert_eq!(c.server.highest_ack, Some(i.c()));
            assert_eq!(c.client.bytes, u64::from(REQUEST));
            assert_eq!(c.server.bytes, u64::from(RESPONSE));
            assert_eq!((c.client.packets, c.server.packets), (4, 2));
            assert_eq!(c.client.last_data, Some(ms(3)));
            assert_eq!(c.server.last_data, Some(ms(10)));
            assert_eq!((c.client.probes, c.server.probes), (0, 0));
            assert_eq!(c.first_close, None);
        }
    }

    #[test]
    fn open_connection_without_fin_or_rst_is_open() {
        for i in ISNS {
            let mut c = established(i);
            let v = verdict(&mut c, 600_000);
            assert_eq!(v.class, Class::Open, "{i:?}");
            assert_eq!(flags(&v), []);
            assert_eq!(v.closed_by, ClosedBy::None);
            assert_eq!(states(&c), (State::Established, State::Established));
        }
    }

    #[test]
    fn retransmitted_data_is_not_new_data() {
        for i in ISNS {
            let mut c = established(i);
            send(&mut c, data(C, i.client + 1, i.server + 1, REQUEST).at(500));
            assert_eq!(c.client.next_seq, Some(i.c()), "{i:?}");
            assert_eq!(c.client.last_data, Some(ms(3)));
            assert_eq!(c.client.bytes, 2 * u64::from(REQUEST));
            assert_eq!(c.client.probes, 0);
            assert_eq!(c.client.duplicates, 0);
            assert_eq!(c.client.state, State::Established);
        }
    }

    #[test]
    fn reordered_segment_does_not_move_next_seq_backwards() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            // The second segment overtakes the first one.
            send(&mut c, data(C, cs + 100, s, 100).at(300));
            assert_eq!(c.client.next_seq, Some(cs + 200), "{i:?}");
            assert_eq!(c.client.last_data, Some(ms(300)));
            send(&mut c, data(C, cs, s, 100).at(301));
            assert_eq!(c.client.next_seq, Some(cs + 200));
            assert_eq!(c.client.last_data, Some(ms(300)));
            assert_eq!(c.client.bytes, u64::from(REQUEST) + 200);
            assert_eq!(c.client.probes, 0);
            send(&mut c, ack(S, s, cs + 200).at(302));
            assert_eq!(c.server.highest_ack, Some(cs + 200));
        }
    }

    #[test]
    fn keep_alives_are_probes_not_data() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            // Linux: no payload, one below SND.NXT.
            send(&mut c, ack(C, cs - 1, s).at(1_000));
            assert_eq!(c.client.probes, 1, "{i:?}");
            assert_eq!(c.client.bytes, u64::from(REQUEST));
            // Windows: one garbage byte, one below SND.NXT.
            send(&mut c, data(C, cs - 1, s, 1).at(2_000));
            assert_eq!(c.client.probes, 2);
            assert_eq!(c.client.bytes, u64::from(REQUEST) + 1);
            assert_eq!(c.client.last_data, Some(ms(3)));
            assert_eq!(c.client.next_seq, Some(cs));
            // The peer answers with a plain ACK: not a probe, not data.
            send(&mut c, ack(S, s, cs).at(2_001));
            assert_eq!(c.server.probes, 0);
            assert_eq!(c.server.last_data, Some(ms(10)));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Open);
        }
    }

    #[test]
    fn zero_window_probes_are_probes_until_the_window_opens() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, ack(S, s, cs).win(0).at(20));
            for t in [220, 620, 1_420] {
                send(&mut c, ack(C, cs - 1, s).at(t));
                send(&mut c, ack(S, s, cs).win(0).at(t + 1));
            }
            assert_eq!(c.client.probes, 3, "{i:?}");
            assert_eq!(c.client.last_data, Some(ms(3)));
            assert_eq!(c.server.window, 0);
            send(&mut c, ack(S, s, cs).at(2_000));
            send(&mut c, data(C, cs, s, 500).at(2_001));
            assert_eq!(c.client.probes, 3);
            assert_eq!(c.client.last_data, Some(ms(2_001)));
            assert_eq!(c.client.next_seq, Some(cs + 500));
        }
    }

    #[test]
    fn identical_segment_within_one_millisecond_counts_once() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, data(C, cs, s, 100).at_us(300_000));
            send(&mut c, data(C, cs, s, 100).at_us(300_400));
            assert_eq!(c.client.duplicates, 1, "{i:?}");
            assert_eq!(c.client.packets, 6);
            assert_eq!(c.client.bytes, u64::from(REQUEST) + 100);
            // One millisecond apart is a retransmission, not a copy.
            send(&mut c, data(C, cs, s, 100).at_us(301_000));
            assert_eq!(c.client.duplicates, 1);
            assert_eq!(c.client.bytes, u64::from(REQUEST) + 200);
            assert_eq!(c.client.last_data, Some(Timestamp(300_000_000)));
            assert_eq!(c.client.next_seq, Some(cs + 100));
        }
    }

    #[test]
    fn segment_differing_in_its_window_is_not_a_duplicate() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, ack(S, s, cs).at_us(300_000));
            send(&mut c, ack(S, s, cs).win(1000).at_us(300_100));
            assert_eq!(c.server.duplicates, 0, "{i:?}");
            assert_eq!(c.server.window, 1000);
        }
    }

    #[test]
    fn rst_at_rcv_nxt_resets_the_connection() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, rst(C, cs, Some(s)).at(50));
            assert_eq!(states(&c), (State::Closed, State::Closed), "{i:?}");
            let r = rst_of(&c, C);
            assert!(r.valid && !r.after_fin && !r.after_close && !r.with_fin);
            assert_eq!(r.seq, cs);
            assert_eq!(c.first_close, Some((C, frame(50, 7))));
            assert_eq!(c.last_data_before_close, Some(ms(10)));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Reset);
            assert_eq!(v.reset_by, Some(C));
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(flags(&v), []);
        }
    }

    #[test]
    fn rst_without_ack_within_the_window_resets_the_connection() {
        for i in ISNS {
            let mut c = established(i);
            send(&mut c, rst(S, i.s(), None).at(50));
            assert_eq!(states(&c), (State::Closed, State::Closed), "{i:?}");
            assert!(rst_of(&c, S).valid);
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Reset);
            assert_eq!(v.reset_by, Some(S));
            assert_eq!(v.closed_by, ClosedBy::Server);
        }
    }

    #[test]
    fn rst_far_outside_the_window_changes_nothing() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, rst(C, cs + 1_000_000, Some(s)).at(50));
            send(&mut c, rst(S, s - 100_000, None).at(60));
            assert_eq!(
                states(&c),
                (State::Established, State::Established),
                "{i:?}"
            );
            assert!(c.client.rst.is_none() && c.server.rst.is_none());
            assert_eq!(c.client.invalid_rst_count, 1);
            assert_eq!(c.client.invalid_rsts[0].seq, cs + 1_000_000);
            assert!(!c.client.invalid_rsts[0].valid);
            assert_eq!(c.server.invalid_rst_count, 1);
            assert_eq!(c.first_close, None);
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Open);
            assert_eq!(flags(&v), [Flag::InvalidRst]);
            assert_eq!(v.closed_by, ClosedBy::None);
            assert_eq!(v.reset_by, None);
        }
    }

    /// Linux takes a RST in a synchronized state only at RCV.NXT exactly
    /// (`tcp_validate_incoming`, RFC 5961 §3.2); any other RST in the window
    /// gets a challenge ACK and the connection goes on.
    #[test]
    fn rst_in_the_window_but_not_at_rcv_nxt_is_challenged_and_changes_nothing() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, rst(C, cs + 1_000, None).at(50));
            // The challenge ACK, then the connection goes on and closes.
            send(&mut c, ack(S, s, cs).at(50));
            assert_eq!(states(&c), (State::Established, State::Established));
            assert!(c.client.rst.is_none(), "{i:?}");
            assert_eq!(c.client.challenged_rsts, 1);
            assert_eq!(c.client.invalid_rst_count, 0);
            let kept = &c.client.invalid_rsts[0];
            assert!(kept.challenged && !kept.valid);
            assert_eq!((kept.at, kept.seq), (frame(50, 7), cs + 1_000));
            // Its sequence number is not the client's: its data still is new.
            assert_eq!(c.client.next_seq, Some(cs));
            assert_eq!(c.first_close, None);
            send_all(&mut c, later(client_close(i), 100));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Clean, "{i:?}");
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(flags(&v), [Flag::ChallengedRst]);
            assert_eq!(states(&c), (State::TimeWait, State::Closed));
        }
    }

    /// Where RCV.NXT is: the receiver's highest ACK, the sender's next sequence
    /// number (RCV.NXT once the data in flight arrives), or, after the sender's
    /// FIN, the FIN's own number (`tcp_reset_check`: RCV.NXT-1 in CLOSE_WAIT,
    /// LAST_ACK, CLOSING).
    #[test]
    fn rst_is_taken_at_the_receivers_ack_the_senders_next_seq_or_its_fin() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            // Data in flight: the server has not acknowledged it yet.
            let mut c = established(i);
            send(&mut c, data(C, cs, s, 500).at(40));
            send(&mut c, rst(C, cs + 500, None).at(41));
            assert!(rst_of(&c, C).valid, "{i:?}");
            assert_eq!(states(&c), (State::Closed, State::Closed));
            // One past the data in flight is not RCV.NXT.
            let mut c = established(i);
            send(&mut c, data(C, cs, s, 500).at(40));
            send(&mut c, rst(C, cs + 501, None).at(41));
            assert_eq!(c.client.challenged_rsts, 1, "{i:?}");
            // At the FIN's number, after the FIN.
            let mut c = fin_wait_2(i);
            send(&mut c, rst(C, cs, None).at(150));
            assert!(rst_of(&c, C).valid && rst_of(&c, C).after_fin, "{i:?}");
            assert_eq!(c.server.state, State::Closed);
            // A receiver sending SACK blocks may take a RST at a block's edge,
            // which is not kept: any RST in the window is taken then.
            let mut c = established(i);
            let mut sack = ack(S, s, cs).at(40);
            sack.options.sack = true;
            send(&mut c, sack);
            send(&mut c, rst(C, cs + 3_000, None).at(41));
            assert!(rst_of(&c, C).valid, "{i:?}");
        }
    }

    #[test]
    fn rst_window_is_at_least_64_kib_on_either_side() {
        for i in ISNS {
            for (offset, in_window) in [(65_535, true), (65_536, false)] {
                let mut c = established(i);
                send(&mut c, rst(C, i.c() + offset, Some(i.s())).at(50));
                let mut c2 = established(i);
                send(&mut c2, rst(C, i.c() - offset, Some(i.s())).at(50));
                for c in [c, c2] {
                    // In the window, not at RCV.NXT: challenged.
                    assert!(c.client.rst.is_none(), "{i:?} {offset}");
                    assert_eq!(c.client.challenged_rsts, u32::from(in_window));
                    assert_eq!(c.client.invalid_rst_count, u32::from(!in_window));
                    assert_eq!(c.server.state, State::Established);
                }
            }
        }
    }

    /// A handshake with the given window-scale options, then the server advertises
    /// a window of 1000 units.
    fn scaled(i: Isn, client_ws: Option<u8>, server_ws: Option<u8>) -> Connection {
        let mut segs = opening(i);
        if let Some(ws) = client_ws {
            segs[0] = segs[0].clone().wscale(ws);
        }
        if let Some(ws) = server_ws {
            segs[1] = segs[1].clone().wscale(ws);
        }
        let mut segs = segs.into_iter();
        let mut c = open(segs.next().unwrap());
        send_all(&mut c, segs);
        send(&mut c, ack(S, i.s(), i.c()).win(1000).at(20));
        c
    }

    #[test]
    fn window_scale_negotiated_by_both_sides_widens_the_rst_window() {
        for i in ISNS {
            let mut c = scaled(i, Some(7), Some(7));
            assert_eq!(c.server.window_scale, Some(7));
            // 1000 << 7 = 128 000 bytes: in the window, so challenged (not
            // out of the window).
            send(&mut c, rst(C, i.c() + 100_000, Some(i.s())).at(50));
            assert_eq!(c.client.challenged_rsts, 1, "{i:?}");
            assert_eq!(c.client.invalid_rst_count, 0);
            assert_eq!(states(&c), (State::Established, State::Established));
        }
    }

    #[test]
    fn window_scale_of_one_side_only_is_not_applied() {
        for i in ISNS {
            for (cw, sw) in [(Some(7), None), (None, Some(7))] {
                let mut c = scaled(i, cw, sw);
                send(&mut c, rst(C, i.c() + 100_000, Some(i.s())).at(50));
                assert!(c.client.rst.is_none(), "{i:?} {cw:?} {sw:?}");
                assert_eq!(c.client.invalid_rst_count, 1);
                assert_eq!(c.client.challenged_rsts, 0);
                assert_eq!(states(&c), (State::Established, State::Established));
            }
        }
    }

    /// A segment with neither ACK, SYN nor RST is dropped by a socket past
    /// LISTEN before any sequence check (`tcp_rcv_established`'s slow path:
    /// `if (!th->ack && !th->rst && !th->syn) goto discard`).
    #[test]
    fn fin_without_ack_is_ignored_wherever_it_lies() {
        for i in ISNS {
            for offset in [0, 1_000, 1 << 30] {
                let cs = i.c();
                let mut c = established(i);
                send(
                    &mut c,
                    segment(C, cs + offset, None, Control::Fin, 0).at(50),
                );
                send(
                    &mut c,
                    segment(C, cs + offset, None, Control::None, 10).at(60),
                );
                assert!(c.client.fin.is_none(), "{i:?} {offset}");
                assert_eq!(c.client.ignored, 2);
                assert_eq!(c.client.next_seq, Some(cs));
                assert_eq!(states(&c), (State::Established, State::Established));
                send_all(&mut c, later(client_close(i), 100));
                let v = verdict(&mut c, 10_000);
                assert_eq!(v.class, Class::Clean, "{i:?} {offset}");
                assert_eq!(v.closed_by, ClosedBy::Client);
                assert_eq!(flags(&v), [Flag::IgnoredSegments]);
                assert_eq!(fin_of(&c, C).transmissions, 1);
                assert_eq!(fin_of(&c, C).first, frame(200, 9));
                assert_eq!(c.client.packets, 8);
            }
        }
    }

    /// A SYN with a new ISN on a synchronized connection is challenged and
    /// dropped (`tcp_validate_incoming`: `syn_challenge`, RFC 5961 §4).
    #[test]
    fn syn_with_a_new_isn_is_ignored() {
        for i in ISNS {
            let mut c = established(i);
            send(&mut c, syn(SeqNumber(0x1357_9bdf)).at(50));
            assert_eq!(c.client.isn, Some(i.client), "{i:?}");
            assert_eq!(c.client.syn_count, 1);
            assert_eq!(c.client.ignored, 1);
            assert_eq!(states(&c), (State::Established, State::Established));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Open);
            assert_eq!(flags(&v), [Flag::IgnoredSegments]);
        }
    }

    #[test]
    fn fin_rst_is_a_reset_not_a_fin() {
        for i in ISNS {
            let mut c = established(i);
            send(&mut c, rst(C, i.c(), Some(i.s())).and_fin().at(50));
            assert!(c.client.fin.is_none(), "{i:?}");
            assert!(rst_of(&c, C).with_fin);
            assert_eq!(c.client.next_seq, Some(i.c()));
            assert_eq!(states(&c), (State::Closed, State::Closed));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Reset);
            assert_eq!(v.reset_by, Some(C));
            assert_eq!(flags(&v), []);
        }
    }

    #[test]
    fn segments_in_flight_after_a_reset_change_nothing() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, rst(S, s, None).at(50));
            send(&mut c, data(C, cs, s, 100).at(51));
            send(&mut c, rst(S, s, None).at(52));
            assert_eq!(states(&c), (State::Closed, State::Closed), "{i:?}");
            assert_eq!(rst_of(&c, S).at, frame(50, 7));
            assert_eq!(path(&c.client).last(), Some(&State::Closed));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Reset);
            assert_eq!(v.reset_by, Some(S));
        }
    }

    #[test]
    fn truncated_frames_set_the_flag_but_keep_their_sequence_space() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, data(C, cs, s, 1400).cut().at(20));
            send(&mut c, fin(C, cs + 1400, s).cut().at(21));
            send(&mut c, ack(S, s, cs + 1401).at(22));
            assert!(c.client.truncated && !c.server.truncated, "{i:?}");
            assert_eq!(fin_of(&c, C).seq, cs + 1400);
            assert_eq!(c.client.state, State::FinWait2);
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Incomplete);
            assert_eq!(flags(&v), [Flag::Truncated]);
        }
    }
}

mod fin_wait_1 {
    use super::*;

    #[test]
    fn fin_moves_only_its_sender_to_fin_wait_1() {
        for i in ISNS {
            let c = fin_wait_1(i);
            // The server has not proven it received the FIN.
            assert_eq!(states(&c), (State::FinWait1, State::Established), "{i:?}");
            assert_eq!(c.server.transitions.len(), 2);
            let f = fin_of(&c, C);
            assert_eq!(f.seq, i.c());
            assert_eq!(f.first, frame(100, 7));
            assert_eq!(f.last, frame(100, 7));
            assert_eq!(f.transmissions, 1);
            assert_eq!(f.ack_on_first, Some(i.s()));
            assert!(!f.with_data);
            assert_eq!(f.acked, None);
            assert_eq!(f.acks_lost, 0);
            assert_eq!(c.client.next_seq, Some(i.c() + 1));
            assert_eq!(c.first_close, Some((C, frame(100, 7))));
            assert_eq!(c.last_data_before_close, Some(ms(10)));
            assert!(!c.is_closed() && !c.close_completed());
        }
    }

    #[test]
    fn ack_of_data_below_the_fin_does_not_acknowledge_it() {
        for i in ISNS {
            let mut c = fin_wait_1(i);
            send(&mut c, ack(S, i.s(), i.c()).at(101));
            assert_eq!(states(&c), (State::FinWait1, State::Established), "{i:?}");
            assert_eq!(fin_of(&c, C).acked, None);
        }
    }

    #[test]
    fn ack_beyond_the_fin_moves_the_sender_to_fin_wait_2_and_the_receiver_to_close_wait() {
        for i in ISNS {
            let c = fin_wait_2(i);
            assert_eq!(states(&c), (State::FinWait2, State::CloseWait), "{i:?}");
            let f = fin_of(&c, C);
            assert_eq!(f.acked, Some(frame(101, 8)));
            assert_eq!(f.first_ack, Some(frame(101, 8)));
            assert_eq!(c.server.entered(State::CloseWait), Some(frame(101, 8)));
            assert_eq!(c.client.entered(State::FinWait2), Some(frame(101, 8)));
            assert!(c.client.fin_acked());
        }
    }

    #[test]
    fn fin_with_data_occupies_seq_plus_payload_len() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = established(i);
            send(&mut c, fin(C, cs, s).payload(100).at(100));
            let f = fin_of(&c, C);
            assert_eq!(f.seq, cs + 100, "{i:?}");
            assert!(f.with_data);
            assert_eq!(c.client.next_seq, Some(cs + 101));
            assert_eq!(c.client.last_data, Some(ms(100)));
            assert_eq!(c.client.bytes, u64::from(REQUEST) + 100);
            // The FIN's own segment carried the last data.
            assert_eq!(c.last_data_before_close, Some(ms(100)));
            // Acknowledging the data is not acknowledging the FIN.
            send(&mut c, ack(S, s, cs + 100).at(101));
            assert_eq!(states(&c), (State::FinWait1, State::Established));
            send(&mut c, ack(S, s, cs + 101).at(102));
            assert_eq!(states(&c), (State::FinWait2, State::CloseWait));
            assert_eq!(fin_of(&c, C).acked, Some(frame(102, 9)));
        }
    }

    #[test]
    fn fin_retransmitted_without_an_ack_is_a_lost_fin() {
        for i in ISNS {
            let mut c = fin_wait_1(i);
            for t in [300, 700, 1_500] {
                send(&mut c, fin(C, i.c(), i.s()).at(t));
            }
            let f = fin_of(&c, C);
            assert_eq!(f.transmissions, 4, "{i:?}");
            assert_eq!(f.first, frame(100, 7));
            assert_eq!(f.last, frame(1_500, 10));
            assert_eq!(f.prev_tx, Some(ms(700)));
            assert_eq!(f.acks_lost, 0);
            assert_eq!(c.client.next_seq, Some(i.c() + 1));
            let v = verdict(&mut c, 2_000);
            assert_eq!(v.class, Class::LostFin);
            assert_eq!(flags(&v), [Flag::FinRetransmitted]);
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(states(&c), (State::FinWait1, State::Established));
        }
    }

    #[test]
    fn unacknowledged_fin_within_the_grace_period_is_incomplete() {
        for i in ISNS {
            let mut c = fin_wait_1(i);
            // Exactly the grace period (3 s) after the FIN: not more.
            let v = verdict(&mut c, 3_100);
            assert_eq!(v.class, Class::Incomplete, "{i:?}");
            assert_eq!(flags(&v), []);
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(states(&c), (State::FinWait1, State::Established));
        }
    }

    #[test]
    fn unacknowledged_fin_older_than_the_grace_period_is_a_lost_fin() {
        for i in ISNS {
            let mut c = fin_wait_1(i);
            let v = verdict(&mut c, 3_101);
            assert_eq!(v.class, Class::LostFin, "{i:?}");
            assert_eq!(flags(&v), []);
            assert_eq!(states(&c), (State::FinWait1, State::Established));
        }
    }

    #[test]
    fn grace_period_is_configurable() {
        for i in ISNS {
            let t = Thresholds {
                fin_grace: Duration::from_millis(500),
                ..Thresholds::default()
            };
            let mut c = fin_wait_1(i);
            assert_eq!(verdict_with(&mut c, 600, &t).class, Class::Incomplete);
            let mut c = fin_wait_1(i);
            assert_eq!(verdict_with(&mut c, 601, &t).class, Class::LostFin);
        }
    }

    #[test]
    fn duplicate_fin_within_one_millisecond_is_not_a_retransmission() {
        for i in ISNS {
            let mut c = fin_wait_1(i);
            send(&mut c, fin(C, i.c(), i.s()).at_us(100_500));
            assert_eq!(c.client.duplicates, 1, "{i:?}");
            assert_eq!(c.client.packets, 6);
            assert_eq!(fin_of(&c, C).transmissions, 1);
            assert_eq!(fin_of(&c, C).last, frame(100, 7));
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Incomplete);
            assert_eq!(flags(&v), []);
        }
    }

    #[test]
    fn fin_dropped_after_the_capture_point_leaves_the_peer_established() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = fin_wait_1(i);
            // The server keeps sending; its ACKs never cover the FIN.
            for (k, t) in [(0, 150), (1, 350), (2, 750)] {
                send(&mut c, data(S, s + 100 * k, cs, 100).at(t));
                send(&mut c, fin(C, cs, s + 100 * (k + 1)).at(t + 50));
            }
            assert_eq!(states(&c), (State::FinWait1, State::Established), "{i:?}");
            assert_eq!(c.server.data_after_peer_fin, 0);
            assert_eq!(c.server.last_data, Some(ms(750)));
            assert_eq!(fin_of(&c, C).transmissions, 4);
            let v = verdict(&mut c, 2_000);
            assert_eq!(v.class, Class::LostFin);
            assert_eq!(flags(&v), [Flag::FinRetransmitted]);
        }
    }

    #[test]
    fn crossing_fins_pass_through_closing_to_time_wait() {
        for i in ISNS {
            let mut c = closing(i);
            assert_eq!(states(&c), (State::Closing, State::FinWait2), "{i:?}");
            assert_eq!(
                path(&c.server)[2..],
                [State::Established, State::FinWait1, State::FinWait2]
            );
            send(&mut c, ack(S, i.s() + 1, i.c() + 1).at(151));
            assert_eq!(states(&c), (State::TimeWait, State::TimeWait));
            assert_eq!(
                path(&c.client)[2..],
                [
                    State::Established,
                    State::FinWait1,
                    State::Closing,
                    State::TimeWait
                ]
            );
            assert_eq!(c.client.entered(State::TimeWait), Some(frame(151, 10)));
            assert_eq!(c.server.entered(State::TimeWait), Some(frame(151, 10)));
        }
    }

    #[test]
    fn simultaneous_close_is_clean_and_closed_by_both() {
        for i in ISNS {
            let mut c = closing(i);
            send(&mut c, ack(S, i.s() + 1, i.c() + 1).at(151));
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Clean, "{i:?}");
            assert_eq!(flags(&v), [Flag::SimultaneousClose]);
            assert_eq!(v.closed_by, ClosedBy::Both);
            assert_eq!(states(&c), (State::TimeWait, State::TimeWait));
            // Both TIME_WAITs run out 2×MSL later.
            let mut c2 = closing(i);
            send(&mut c2, ack(S, i.s() + 1, i.c() + 1).at(151));
            verdict(&mut c2, 60_151);
            assert_eq!(states(&c2), (State::Closed, State::Closed));
        }
    }

    #[test]
    fn a_lost_fin_and_a_peer_close_minutes_later_are_not_a_simultaneous_close() {
        // zeek's pppoe-over-qinq trace: the client's FIN is never acknowledged
        // (the server's ACKs stop just below it), and the server closes on its
        // own 235 s later; neither FIN acknowledges the other, but they did not
        // cross.
        for i in ISNS {
            let mut c = fin_wait_1(i);
            send(&mut c, ack(S, i.s(), i.c()).at(500));
            send(&mut c, fin(S, i.s(), i.c()).at(235_000));
            send(&mut c, fin(S, i.s(), i.c()).at(236_000));
            let v = verdict(&mut c, 240_000);
            assert_eq!(v.class, Class::LostFin, "{i:?}");
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert!(!flags(&v).contains(&Flag::SimultaneousClose));
            assert_eq!(states(&c), (State::FinWait1, State::FinWait1));
        }
    }

    #[test]
    fn crossing_fins_without_acks_are_incomplete_then_lost() {
        for i in ISNS {
            let crossed = || {
                let mut c = fin_wait_1(i);
                send(&mut c, fin(S, i.s(), i.c()).at(100));
                c
            };
            let mut c = crossed();
            assert_eq!(states(&c), (State::FinWait1, State::FinWait1), "{i:?}");
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Incomplete);
            assert_eq!(v.closed_by, ClosedBy::Both);
            let mut c = crossed();
            assert_eq!(verdict(&mut c, 3_101).class, Class::LostFin);
        }
    }

    #[test]
    fn rst_ack_answering_the_fin_is_a_reset_after_fin() {
        for i in ISNS {
            let mut c = fin_wait_1(i);
            send(&mut c, rst(S, i.s(), Some(i.c() + 1)).at(101));
            assert_eq!(states(&c), (State::Closed, State::Closed), "{i:?}");
            let r = rst_of(&c, S);
            assert!(r.valid && r.after_fin && !r.after_close);
            assert_eq!(c.first_close, Some((C, frame(100, 7))));
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Reset);
            assert_eq!(v.reset_by, Some(S));
            assert_eq!(v.closed_by, ClosedBy::Client);
        }
    }
}

mod fin_wait_2 {
    use super::*;

    #[test]
    fn peer_fin_leaves_the_active_closer_in_fin_wait_2_until_it_acks() {
        for i in ISNS {
            let c = last_ack(i);
            assert_eq!(states(&c), (State::FinWait2, State::LastAck), "{i:?}");
            assert_eq!(fin_of(&c, S).acked, None);
        }
    }

    #[test]
    fn ack_of_the_peer_fin_enters_time_wait() {
        for i in ISNS {
            let c = time_wait(i);
            assert_eq!(states(&c), (State::TimeWait, State::Closed), "{i:?}");
            assert_eq!(c.client.entered(State::TimeWait), Some(frame(201, 10)));
            assert_eq!(fin_of(&c, S).acked, Some(frame(201, 10)));
            assert_eq!(
                path(&c.client),
                [
                    State::Closed,
                    State::SynSent,
                    State::Established,
                    State::FinWait1,
                    State::FinWait2,
                    State::TimeWait
                ]
            );
        }
    }

    #[test]
    fn half_close_silent_past_the_hang_threshold_is_a_hang() {
        for i in ISNS {
            let mut c = fin_wait_2(i);
            // Silent from the ACK of the FIN (101 ms) for exactly 5 s.
            let v = verdict(&mut c, 5_101);
            assert_eq!(v.class, Class::HalfClosedHang, "{i:?}");
            assert_eq!(flags(&v), []);
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(states(&c), (State::FinWait2, State::CloseWait));
        }
    }

    #[test]
    fn half_close_shorter_than_the_hang_threshold_is_incomplete() {
        for i in ISNS {
            let mut c = fin_wait_2(i);
            let v = verdict(&mut c, 5_100);
            assert_eq!(v.class, Class::Incomplete, "{i:?}");
            assert_eq!(states(&c), (State::FinWait2, State::CloseWait));
        }
    }

    #[test]
    fn hang_threshold_is_configurable() {
        for i in ISNS {
            let t = Thresholds {
                hang_after: Duration::from_secs(1),
                ..Thresholds::default()
            };
            let mut c = fin_wait_2(i);
            assert_eq!(verdict_with(&mut c, 1_100, &t).class, Class::Incomplete);
            let mut c = fin_wait_2(i);
            assert_eq!(verdict_with(&mut c, 1_101, &t).class, Class::HalfClosedHang);
        }
    }

    #[test]
    fn passive_side_still_sending_data_is_incomplete() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = fin_wait_2(i);
            for (k, t) in [(0, 1_000), (1, 3_000), (2, 5_000)] {
                send(&mut c, data(S, s + 100 * k, cs + 1, 100).at(t));
                send(&mut c, ack(C, cs + 1, s + 100 * (k + 1)).at(t + 1));
            }
            assert_eq!(c.server.data_after_peer_fin, 300, "{i:?}");
            assert_eq!(c.server.last_data, Some(ms(5_000)));
            assert_eq!(c.server.last_progress(), Some(ms(5_000)));
            let v = verdict(&mut c, 9_999);
            assert_eq!(v.class, Class::Incomplete);
            assert_eq!(flags(&v), [Flag::DataAfterFin]);
            assert_eq!(states(&c), (State::FinWait2, State::CloseWait));
        }
    }

    #[test]
    fn passive_side_silent_after_its_last_data_is_a_hang() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = fin_wait_2(i);
            send(&mut c, data(S, s, cs + 1, 100).at(1_000));
            let v = verdict(&mut c, 6_000);
            assert_eq!(v.class, Class::HalfClosedHang, "{i:?}");
            assert_eq!(flags(&v), [Flag::DataAfterFin]);
        }
    }

    #[test]
    fn passive_side_sending_only_keep_alives_is_still_a_hang() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = fin_wait_2(i);
            for t in [2_101, 4_101, 6_101] {
                send(&mut c, ack(S, s - 1, cs + 1).at(t));
                send(&mut c, ack(C, cs + 1, s).at(t + 1));
            }
            assert_eq!(c.server.probes, 3, "{i:?}");
            assert_eq!(c.server.last_data, Some(ms(10)));
            assert_eq!(c.server.next_seq, Some(s));
            assert_eq!(c.server.data_after_peer_fin, 0);
            assert_eq!(c.client.probes, 0);
            let v = verdict(&mut c, 6_102);
            assert_eq!(v.class, Class::HalfClosedHang);
            assert_eq!(flags(&v), []);
            assert_eq!(states(&c), (State::FinWait2, State::CloseWait));
        }
    }

    #[test]
    fn retransmitted_data_from_the_passive_side_is_not_progress() {
        for i in ISNS {
            let mut c = fin_wait_2(i);
            send(&mut c, data(S, i.server + 1, i.c() + 1, RESPONSE).at(3_000));
            assert_eq!(c.server.last_data, Some(ms(10)), "{i:?}");
            assert_eq!(c.server.data_after_peer_fin, 0);
            assert_eq!(c.server.bytes, 2 * u64::from(RESPONSE));
            let v = verdict(&mut c, 5_101);
            assert_eq!(v.class, Class::HalfClosedHang);
            assert_eq!(flags(&v), []);
        }
    }

    #[test]
    fn fin_retransmitted_after_its_ack_returns_the_closer_to_fin_wait_1() {
        for i in ISNS {
            let mut c = fin_wait_2(i);
            send(&mut c, fin(C, i.c(), i.s()).at(400));
            assert_eq!(states(&c), (State::FinWait1, State::CloseWait), "{i:?}");
            let f = fin_of(&c, C);
            assert_eq!(f.acks_lost, 1);
            assert_eq!(f.acked, None);
            assert_eq!(f.first_ack, Some(frame(101, 8)));
            assert_eq!(f.transmissions, 2);
            send(&mut c, ack(S, i.s(), i.c() + 1).at(401));
            assert_eq!(states(&c), (State::FinWait2, State::CloseWait));
            assert_eq!(fin_of(&c, C).acked, Some(frame(401, 10)));
            assert_eq!(fin_of(&c, C).first_ack, Some(frame(101, 8)));
        }
    }

    #[test]
    fn data_after_the_fin_ack_then_a_clean_close_sets_data_after_fin() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let mut c = fin_wait_2(i);
            send(&mut c, data(S, s, cs + 1, 100).at(150));
            send(&mut c, ack(C, cs + 1, s + 100).at(151));
            send(&mut c, fin(S, s + 100, cs + 1).at(200));
            send(&mut c, ack(C, cs + 1, s + 101).at(201));
            assert_eq!(c.server.data_after_peer_fin, 100, "{i:?}");
            assert_eq!(fin_of(&c, S).seq, s + 100);
            assert_eq!(states(&c), (State::TimeWait, State::Closed));
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Clean);
            assert_eq!(flags(&v), [Flag::DataAfterFin]);
        }
    }

    #[test]
    fn data_sent_before_the_fin_arrived_is_not_data_after_fin() {
        for i in ISNS {
            let mut c = fin_wait_1(i);
            send(&mut c, data(S, i.s(), i.c(), 100).at(100));
            assert_eq!(c.server.last_data, Some(ms(100)), "{i:?}");
            assert_eq!(c.server.data_after_peer_fin, 0);
        }
    }
}

mod close_wait {
    use super::*;

    #[test]
    fn passive_side_stays_in_close_wait_until_it_sends_its_fin() {
        for i in ISNS {
            let mut c = fin_wait_2(i);
            send(&mut c, ack(S, i.s(), i.c() + 1).at(1_000));
            send(&mut c, data(S, i.s(), i.c() + 1, 10).at(2_000));
            assert_eq!(c.server.state, State::CloseWait, "{i:?}");
            assert_eq!(c.server.entered(State::CloseWait), Some(frame(101, 8)));
            send(&mut c, fin(S, i.s() + 10, i.c() + 1).at(3_000));
            assert_eq!(c.server.state, State::LastAck);
            assert_eq!(c.server.entered(State::LastAck), Some(frame(3_000, 11)));
        }
    }

    #[test]
    fn fin_from_close_wait_enters_last_ack() {
        for i in ISNS {
            let c = last_ack(i);
            assert_eq!(c.server.state, State::LastAck, "{i:?}");
            let f = fin_of(&c, S);
            assert_eq!(f.seq, i.s());
            assert_eq!(f.ack_on_first, Some(i.c() + 1));
            assert_eq!(f.first, frame(200, 9));
            assert_eq!(c.first_close, Some((C, frame(100, 7))));
            assert!(c.is_closed() && !c.close_completed());
        }
    }

    #[test]
    fn fin_ack_that_acknowledges_the_peer_fin_is_a_passive_close() {
        for i in ISNS {
            // Three-way close: the server's FIN carries the ACK of the client's.
            let mut c = fin_wait_1(i);
            send(&mut c, fin(S, i.s(), i.c() + 1).at(101));
            assert_eq!(states(&c), (State::FinWait2, State::LastAck), "{i:?}");
            assert_eq!(
                path(&c.server)[2..],
                [State::Established, State::CloseWait, State::LastAck]
            );
            send(&mut c, ack(C, i.c() + 1, i.s() + 1).at(102));
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Clean);
            assert_eq!(flags(&v), []);
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(states(&c), (State::TimeWait, State::Closed));
        }
    }

    #[test]
    fn rst_from_close_wait_is_a_reset_after_fin() {
        for i in ISNS {
            let mut c = fin_wait_2(i);
            send(&mut c, rst(S, i.s(), Some(i.c() + 1)).at(2_000));
            assert_eq!(states(&c), (State::Closed, State::Closed), "{i:?}");
            assert!(rst_of(&c, S).after_fin);
            let v = verdict(&mut c, 10_000);
            assert_eq!(v.class, Class::Reset);
            assert_eq!(v.reset_by, Some(S));
            assert_eq!(v.closed_by, ClosedBy::Client);
        }
    }

    #[test]
    fn server_closing_first_puts_the_client_in_close_wait() {
        for i in ISNS {
            let mut c = server_fin_wait_2(i);
            assert_eq!(states(&c), (State::CloseWait, State::FinWait2), "{i:?}");
            assert_eq!(c.first_close, Some((S, frame(100, 7))));
            let v = verdict(&mut c, 6_000);
            assert_eq!(v.class, Class::HalfClosedHang);
            assert_eq!(v.closed_by, ClosedBy::Server);
        }
    }
}

mod last_ack {
    use super::*;

    #[test]
    fn ack_of_the_last_fin_closes_the_passive_closer() {
        for i in ISNS {
            let c = time_wait(i);
            assert_eq!(c.server.state, State::Closed, "{i:?}");
            assert_eq!(c.server.entered(State::Closed), Some(frame(201, 10)));
            assert!(c.close_completed());
        }
    }

    #[test]
    fn fin_retransmitted_after_its_ack_puts_the_passive_closer_back_in_last_ack() {
        for i in ISNS {
            let mut c = time_wait(i);
            send(&mut c, fin(S, i.s(), i.c() + 1).at(600));
            assert_eq!(states(&c), (State::TimeWait, State::LastAck), "{i:?}");
            let f = fin_of(&c, S);
            assert_eq!(f.transmissions, 2);
            assert_eq!(f.acks_lost, 1);
            assert_eq!(f.acked, None);
            assert_eq!(f.first_ack, Some(frame(201, 10)));
            assert_eq!(f.prev_tx, Some(ms(200)));
            assert_eq!(f.last, frame(600, 11));
            assert_eq!(
                path(&c.server)[3..],
                [
                    State::CloseWait,
                    State::LastAck,
                    State::Closed,
                    State::LastAck
                ]
            );
            let v = verdict(&mut c, 700);
            assert_eq!(v.class, Class::LostFin);
            assert_eq!(flags(&v), [Flag::FinRetransmitted]);
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(states(&c), (State::TimeWait, State::LastAck));
        }
    }

    /// The server's FIN resent with back-off (first resend at `first` ms after the
    /// original at 200 ms), each resend acknowledged by the client 1 ms later.
    fn lost_final_acks(i: Isn, resends: u32, first: i64) -> (Connection, i64) {
        let mut c = time_wait(i);
        let (mut t, mut rto) = (200, first);
        for _ in 0..resends {
            t += rto;
            rto *= 2;
            send(&mut c, fin(S, i.s(), i.c() + 1).at(t));
            send(&mut c, ack(C, i.c() + 1, i.s() + 1).at(t + 1));
        }
        (c, t + 1)
    }

    #[test]
    fn lost_final_ack_with_every_resend_acked_matches_the_documented_example() {
        for i in ISNS {
            // docs/teardown.md, scenario 8: six resends, each ACKed, none arriving.
            let (mut c, end) = lost_final_acks(i, 6, 400);
            assert_eq!(end, 25_401);
            let v = verdict(&mut c, end);
            let f = fin_of(&c, S);
            assert_eq!((f.transmissions, f.acks_lost), (7, 6), "{i:?}");
            assert_eq!(f.acked, None);
            assert_eq!(f.first_ack, Some(frame(201, 10)));
            assert_eq!(v.class, Class::LostFin);
            assert_eq!(flags(&v), [Flag::FinRetransmitted]);
            assert_eq!(states(&c), (State::TimeWait, State::LastAck));
            // The end-of-capture inference is recorded at the capture's end.
            let t = c.server.transitions.last().unwrap();
            assert_eq!((t.from, t.to), (State::Closed, State::LastAck));
            assert_eq!(t.at, frame(end, 22));
        }
    }

    #[test]
    fn later_ack_counts_when_the_capture_outlasts_the_grace_period() {
        for i in ISNS {
            let (mut c, end) = lost_final_acks(i, 1, 400);
            assert_eq!(end, 601);
            // Grace (3 s) exceeds twice the back-off (0.8 s).
            let v = verdict(&mut c, end + 3_000);
            assert_eq!(v.class, Class::Clean, "{i:?}");
            assert_eq!(flags(&v), [Flag::FinRetransmitted]);
            assert_eq!(states(&c), (State::TimeWait, State::Closed));
            let f = fin_of(&c, S);
            assert_eq!((f.transmissions, f.acks_lost), (2, 1));
            assert_eq!(f.acked, Some(frame(601, 12)));
        }
    }

    #[test]
    fn later_ack_does_not_count_when_the_capture_ends_within_the_grace_period() {
        for i in ISNS {
            let (mut c, end) = lost_final_acks(i, 1, 400);
            let v = verdict(&mut c, end + 2_999);
            assert_eq!(v.class, Class::LostFin, "{i:?}");
            assert_eq!(states(&c), (State::TimeWait, State::LastAck));
            assert_eq!(fin_of(&c, S).acked, None);
        }
    }

    #[test]
    fn later_ack_needs_twice_the_last_back_off_when_that_is_longer() {
        for i in ISNS {
            // Resent 4 s after the original: the next resend would come 8 s later.
            let (mut c, end) = lost_final_acks(i, 1, 4_000);
            assert_eq!(end, 4_201);
            let v = verdict(&mut c, end + 7_999);
            assert_eq!(v.class, Class::LostFin, "{i:?}");
            assert_eq!(c.server.state, State::LastAck);
            let (mut c, end) = lost_final_acks(i, 1, 4_000);
            let v = verdict(&mut c, end + 8_000);
            assert_eq!(v.class, Class::Clean);
            assert_eq!(c.server.state, State::Closed);
        }
    }

    #[test]
    fn resent_fin_without_a_later_ack_stays_lost_however_long_the_capture() {
        for i in ISNS {
            let mut c = time_wait(i);
            send(&mut c, fin(S, i.s(), i.c() + 1).at(600));
            let v = verdict(&mut c, 100_000);
            assert_eq!(v.class, Class::LostFin, "{i:?}");
            // The client's TIME_WAIT has run out; the server still waits.
            assert_eq!(states(&c), (State::Closed, State::LastAck));
        }
    }
}

mod time_wait {
    use super::*;

    #[test]
    fn clean_close_ends_in_time_wait_and_closed() {
        for i in ISNS {
            let mut c = time_wait(i);
            assert!(c.is_closed() && c.close_completed(), "{i:?}");
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Clean);
            assert_eq!(flags(&v), []);
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(v.reset_by, None);
            assert_eq!(states(&c), (State::TimeWait, State::Closed));
            assert_eq!(c.last_data_before_close, Some(ms(10)));
        }
    }

    #[test]
    fn time_wait_lasts_two_msl() {
        for i in ISNS {
            let mut c = time_wait(i);
            verdict(&mut c, 201 + 59_999);
            assert_eq!(c.client.state, State::TimeWait, "{i:?}");
            let mut c = time_wait(i);
            let v = verdict(&mut c, 201 + 60_000);
            assert_eq!(v.class, Class::Clean);
            assert_eq!(states(&c), (State::Closed, State::Closed));
            let t = c.client.transitions.last().unwrap();
            assert_eq!((t.from, t.to), (State::TimeWait, State::Closed));
            // Recorded against the connection's last frame, at the capture's end.
            assert_eq!(t.at, frame(60_201, 10));
        }
    }

    #[test]
    fn msl_is_configurable() {
        for i in ISNS {
            let t = Thresholds {
                msl: Duration::from_secs(5),
                ..Thresholds::default()
            };
            let mut c = time_wait(i);
            verdict_with(&mut c, 201 + 9_999, &t);
            assert_eq!(c.client.state, State::TimeWait, "{i:?}");
            let mut c = time_wait(i);
            verdict_with(&mut c, 201 + 10_000, &t);
            assert_eq!(c.client.state, State::Closed);
        }
    }

    #[test]
    fn re_ack_of_the_peer_fin_keeps_time_wait() {
        for i in ISNS {
            let mut c = time_wait(i);
            send(&mut c, ack(C, i.c() + 1, i.s() + 1).at(300));
            assert_eq!(states(&c), (State::TimeWait, State::Closed), "{i:?}");
            assert_eq!(c.client.entered(State::TimeWait), Some(frame(201, 10)));
            assert_eq!(verdict(&mut c, 1_000).class, Class::Clean);
        }
    }

    #[test]
    fn rst_after_both_fins_acknowledged_is_flagged_not_a_reset() {
        for i in ISNS {
            let mut c = time_wait(i);
            send(&mut c, rst(S, i.s() + 1, None).at(300));
            let r = rst_of(&c, S);
            assert!(r.valid && r.after_close && r.after_fin, "{i:?}");
            // Linux lets a RST end TIME_WAIT (net.ipv4.tcp_rfc1337 = 0).
            assert_eq!(states(&c), (State::Closed, State::Closed));
            assert_eq!(c.first_close, Some((C, frame(100, 7))));
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Clean);
            assert_eq!(flags(&v), [Flag::RstAfterClose]);
            assert_eq!(v.reset_by, None);
            assert_eq!(v.closed_by, ClosedBy::Client);
        }
    }

    #[test]
    fn server_closing_first_holds_time_wait() {
        for i in ISNS {
            let mut c = server_time_wait(i);
            assert_eq!(states(&c), (State::Closed, State::TimeWait), "{i:?}");
            assert_eq!(c.server.entered(State::TimeWait), Some(frame(151, 10)));
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Clean);
            assert_eq!(v.closed_by, ClosedBy::Server);
            assert_eq!(flags(&v), []);
        }
    }

    #[test]
    fn time_wait_restarts_when_the_peer_fin_is_acknowledged_again() {
        for i in ISNS {
            let mut c = time_wait(i);
            // The server's FIN resent with back-off; the client re-ACKs each one,
            // the last at 51.001 s, which restarts its 60 s TIME_WAIT.
            let (mut t, mut rto) = (200, 400);
            for _ in 0..7 {
                t += rto;
                rto *= 2;
                send(&mut c, fin(S, i.s(), i.c() + 1).at(t));
                send(&mut c, ack(C, i.c() + 1, i.s() + 1).at(t + 1));
            }
            assert_eq!(t, 51_000);
            let v = verdict(&mut c, 62_000);
            assert_eq!(v.class, Class::LostFin, "{i:?}");
            assert_eq!(states(&c), (State::TimeWait, State::LastAck));
        }
    }

    #[test]
    fn time_wait_expires_after_many_lost_acks_of_the_fin() {
        for i in ISNS {
            let mut c = fin_wait_2(i);
            // tcp_retries2 allows 15 resends: the first 14, each ACKed, the ACK lost.
            let mut t = 101;
            for _ in 0..14 {
                t += 1_000;
                send(&mut c, fin(C, i.c(), i.s()).at(t));
                send(&mut c, ack(S, i.s(), i.c() + 1).at(t + 1));
            }
            assert_eq!(c.client.state, State::FinWait2, "{i:?}");
            send(&mut c, fin(S, i.s(), i.c() + 1).at(t + 100));
            send(&mut c, ack(C, i.c() + 1, i.s() + 1).at(t + 101));
            assert_eq!(states(&c), (State::TimeWait, State::Closed));
            verdict(&mut c, t + 101 + 60_000);
            assert_eq!(states(&c), (State::Closed, State::Closed));
        }
    }
}

mod classification {
    use super::*;

    #[test]
    fn every_class_has_a_scenario() {
        let i = WRAP;
        let mut scenarios: Vec<(Class, Connection, i64)> = vec![
            (Class::Clean, time_wait(i), 1_000),
            (Class::HalfClosedHang, fin_wait_2(i), 10_000),
            (Class::LostFin, fin_wait_1(i), 10_000),
            (Class::Reset, established(i), 10_000),
            (Class::Refused, syn_sent(i), 10_000),
            (Class::Unanswered, syn_sent(i), 10_000),
            (Class::Open, established(i), 10_000),
            (Class::Incomplete, fin_wait_1(i), 1_000),
        ];
        send(&mut scenarios[3].1, rst(S, i.s(), None).at(50));
        send(
            &mut scenarios[4].1,
            rst(S, SeqNumber(0), Some(i.client + 1)).at(1),
        );
        let mut seen = BTreeSet::new();
        for (class, c, end) in &mut scenarios {
            assert_eq!(verdict(c, *end).class, *class);
            seen.insert(*class);
        }
        assert_eq!(seen, Class::ALL.into_iter().collect::<BTreeSet<_>>());
    }

    #[test]
    fn closed_by_names_the_first_fin_or_valid_rst() {
        for i in ISNS {
            let cases: [(Connection, ClosedBy); 4] = [
                (fin_wait_1(i), ClosedBy::Client),
                (server_time_wait(i), ClosedBy::Server),
                (closing(i), ClosedBy::Both),
                (established(i), ClosedBy::None),
            ];
            for (mut c, by) in cases {
                assert_eq!(verdict(&mut c, 1_000).closed_by, by, "{i:?}");
            }
        }
    }

    #[test]
    fn invalid_rst_does_not_make_its_sender_the_closer() {
        for i in ISNS {
            let mut c = established(i);
            send(&mut c, rst(S, i.s() + 1_000_000, None).at(50));
            send(&mut c, fin(C, i.c(), i.s()).at(100));
            assert_eq!(c.first_close, Some((C, frame(100, 8))), "{i:?}");
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.closed_by, ClosedBy::Client);
            assert_eq!(v.class, Class::Incomplete);
            assert_eq!(flags(&v), [Flag::InvalidRst]);
        }
    }

    #[test]
    fn idle_before_close_starts_at_the_last_new_data_of_either_side() {
        for i in ISNS {
            let mut c = established(i);
            send(&mut c, data(C, i.c(), i.s(), 10).at(40));
            send(&mut c, ack(S, i.s(), i.c() + 10).at(41));
            send(&mut c, ack(C, i.c() + 9, i.s()).at(70)); // keep-alive: not data
            send(&mut c, fin(S, i.s(), i.c() + 10).at(90));
            assert_eq!(c.last_data_before_close, Some(ms(40)), "{i:?}");
            assert_eq!(c.first_close, Some((S, frame(90, 10))));
        }
    }

    #[test]
    fn unacknowledged_fin_outranks_an_acknowledged_one() {
        for i in ISNS {
            // Both FINs seen; only the client's acknowledged, the server's recent.
            let mut c = last_ack(i);
            assert_eq!(verdict(&mut c, 1_000).class, Class::Incomplete, "{i:?}");
            let mut c = last_ack(i);
            assert_eq!(verdict(&mut c, 3_201).class, Class::LostFin);
        }
    }

    #[test]
    fn timestamps_going_backwards_are_tolerated() {
        for i in ISNS {
            let mut c = fin_wait_1(i);
            // Recorded on another interface whose clock is 20 ms behind.
            send(&mut c, ack(S, i.s(), i.c() + 1).at(80));
            assert_eq!(states(&c), (State::FinWait2, State::CloseWait), "{i:?}");
            assert_eq!(c.server.last_ts, Some(ms(80)));
            // A copy 0.5 ms *earlier* is still a copy.
            send(&mut c, ack(S, i.s(), i.c() + 1).at_us(79_500));
            assert_eq!(c.server.duplicates, 1);
            let v = verdict(&mut c, 5_100);
            assert_eq!(v.class, Class::HalfClosedHang);
        }
    }

    #[test]
    fn mid_stream_pickup_guesses_the_lower_port_as_server() {
        for i in ISNS {
            let from_server = mid_stream(i);
            let from_client = open(data(C, i.c(), i.s(), 10).at(0));
            for c in [&from_server, &from_client] {
                assert!(c.mid_stream && c.roles_guessed, "{i:?}");
                assert_eq!(c.client.addr.port, CLIENT.1);
                assert_eq!(c.server.addr.port, SERVER.1);
                assert!(c.established);
            }
            assert_eq!(
                states(&from_server),
                (State::Established, State::Established)
            );
            assert_eq!(
                path(&from_server.server),
                [State::Closed, State::Established]
            );
            assert_eq!(from_client.client.state, State::Established);
            assert_eq!(from_client.server.state, State::Closed);
            // Two ephemeral ports: the lower one is still taken as the server's.
            let mut seg = data(C, i.c(), i.s(), 10).at(0);
            seg.dst_port = 50_000;
            let c = open(seg);
            assert_eq!(c.server.addr.port, CLIENT.1);
            assert_eq!(c.client.addr.port, 50_000);
        }
    }

    #[test]
    fn mid_stream_connection_closes_cleanly_with_the_flag() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s() + 100);
            let mut c = mid_stream(i);
            send(&mut c, fin(C, cs, s).at(100));
            send(&mut c, ack(S, s, cs + 1).at(101));
            send(&mut c, fin(S, s, cs + 1).at(200));
            send(&mut c, ack(C, cs + 1, s + 1).at(201));
            assert_eq!(states(&c), (State::TimeWait, State::Closed), "{i:?}");
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Clean);
            assert_eq!(flags(&v), [Flag::MidStream]);
            assert_eq!(v.closed_by, ClosedBy::Client);
        }
    }

    #[test]
    fn mid_stream_connection_that_ends_with_a_rst_is_a_reset() {
        for i in ISNS {
            let mut c = mid_stream(i);
            send(&mut c, rst(S, i.s() + 100, None).at(50));
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Reset, "{i:?}");
            assert_eq!(v.reset_by, Some(S));
            assert_eq!(flags(&v), [Flag::MidStream]);
            // A lone RST is a connection picked up mid-stream, too.
            let mut c = open(rst(S, i.s(), None).at(0));
            assert!(c.mid_stream);
            assert_eq!(states(&c), (State::Closed, State::Closed));
            let v = verdict(&mut c, 1_000);
            assert_eq!(v.class, Class::Reset);
            assert_eq!(v.reset_by, Some(S));
        }
    }

    #[test]
    fn mid_stream_connection_open_at_the_end_is_open() {
        for i in ISNS {
            let mut c = mid_stream(i);
            let v = verdict(&mut c, 600_000);
            assert_eq!(v.class, Class::Open, "{i:?}");
            assert_eq!(flags(&v), [Flag::MidStream]);
        }
    }

    #[test]
    fn mid_stream_lost_final_ack_puts_the_passive_closer_back_in_last_ack() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s() + 100);
            let mut c = mid_stream(i);
            send(&mut c, fin(C, cs, s).at(100));
            send(&mut c, ack(S, s, cs + 1).at(101));
            send(&mut c, fin(S, s, cs + 1).at(200));
            send(&mut c, ack(C, cs + 1, s + 1).at(201));
            send(&mut c, fin(S, s, cs + 1).at(600));
            assert_eq!(states(&c), (State::TimeWait, State::LastAck), "{i:?}");
        }
    }

    #[test]
    fn mid_stream_segment_in_flight_after_a_reset_leaves_its_sender_closed() {
        for i in ISNS {
            let mut c = mid_stream(i);
            send(&mut c, rst(S, i.s() + 100, None).at(50));
            send(&mut c, data(C, i.c(), i.s() + 100, 100).at(51));
            assert_eq!(states(&c), (State::Closed, State::Closed), "{i:?}");
        }
    }
}

mod tracker {
    use super::*;

    fn config() -> TrackerConfig {
        let t = Thresholds::default();
        TrackerConfig {
            msl_ns: nanos(t.msl),
            fin_grace_ns: nanos(t.fin_grace),
            max_tracked: TrackerConfig::DEFAULT_MAX_TRACKED,
            trace: false,
        }
    }

    /// Feeds the frames in order (numbered from 1) and ends the capture at `end` ms.
    fn track(segs: impl IntoIterator<Item = Segment>, end: i64) -> Vec<Connection> {
        let mut tracker = Tracker::new(config());
        for (n, seg) in segs.into_iter().enumerate() {
            tracker.push(&Segment {
                number: n as u64 + 1,
                order: n as u64,
                ..seg
            });
        }
        // `Connection::clone(&c)` takes the connection out of a box as well.
        let mut all: Vec<Connection> = tracker
            .finish(ms(end))
            .map(|c| Connection::clone(&c))
            .collect();
        all.sort_by_key(|c| c.serial);
        all
    }

    /// TCP timestamps on every segment: a per-host clock ticking in ms.
    fn with_timestamps(segs: Vec<Segment>) -> Vec<Segment> {
        segs.into_iter()
            .map(|seg| {
                let base: u32 = if seg.src_port == CLIENT.1 {
                    0x1000_0000
                } else {
                    0x7000_0000
                };
                let now = u32::try_from(seg.ts.0 / NS_PER_MS).unwrap();
                seg.tsval(base + now)
            })
            .collect()
    }

    fn client_closes(i: Isn) -> Vec<Segment> {
        opening(i).into_iter().chain(client_close(i)).collect()
    }

    fn server_closes(i: Isn) -> Vec<Segment> {
        opening(i).into_iter().chain(server_close(i)).collect()
    }

    /// The ISNs of a second connection, the client's `advance` beyond the first
    /// connection's last client sequence number (negative: behind it).
    fn next_isn(i: Isn, advance: i32) -> Isn {
        let last = i.c() + 1;
        Isn {
            client: SeqNumber(last.0.wrapping_add_signed(advance)),
            server: SeqNumber(0x1234_5678),
        }
    }

    #[test]
    fn both_directions_of_a_4_tuple_are_one_connection() {
        for i in ISNS {
            let conns = track(client_closes(i), 1_000);
            assert_eq!(conns.len(), 1, "{i:?}");
            let c = &conns[0];
            assert_eq!((c.client.packets, c.server.packets), (6, 4));
            assert_eq!(c.first, frame(0, 1));
            assert_eq!(c.last, frame(201, 10));
            assert_eq!(states(c), (State::TimeWait, State::Closed));
            assert_eq!(
                classify(c, &Thresholds::default(), ms(1_000)).class,
                Class::Clean
            );
        }
    }

    #[test]
    fn retransmitted_syn_is_not_a_new_connection() {
        for i in ISNS {
            let segs = [syn(i.client).at(0), syn(i.client).at(1_000)];
            let conns = track(segs, 2_000);
            assert_eq!(conns.len(), 1, "{i:?}");
            assert_eq!(conns[0].client.syn_count, 2);
        }
    }

    #[test]
    fn syn_with_the_same_isn_after_a_close_is_a_retransmission() {
        for i in ISNS {
            let mut segs = client_closes(i);
            segs.push(syn(i.client).at(1_000));
            let conns = track(segs, 2_000);
            assert_eq!(conns.len(), 1, "{i:?}");
            let c = &conns[0];
            assert_eq!(c.client.syn_count, 2);
            assert_eq!(c.reuse, None);
            assert_eq!(states(c), (State::TimeWait, State::Closed));
            let v = classify(c, &Thresholds::default(), ms(2_000));
            assert_eq!(v.class, Class::Clean);
            assert_eq!(flags(&v), [Flag::SynRetransmitted]);
        }
    }

    #[test]
    fn new_isn_while_the_client_holds_time_wait_is_a_time_wait_reuse() {
        for i in ISNS {
            let next = next_isn(i, 0x10000);
            let segs = with_timestamps(client_closes(i))
                .into_iter()
                .chain(with_timestamps(later(opening(next), 10_201)));
            let conns = track(segs, 20_000);
            assert_eq!(conns.len(), 2, "{i:?}");
            let (old, new) = (&conns[0], &conns[1]);
            // Serials are the processing order of each connection's first frame.
            assert_eq!((old.serial, new.serial), (0, 10));
            // Its observation ended at the new connection's first frame.
            assert_eq!((old.end_order, new.end_order), (10, u64::MAX));
            assert_eq!(old.reuse, None);
            // The new SYN ends what can be observed of the old connection.
            assert_eq!(old.observed_until, ms(10_201));
            assert_eq!(states(old), (State::TimeWait, State::Closed));
            assert_eq!(old.client.packets, 6);
            assert_eq!(new.client.isn, Some(next.client));
            assert_eq!(new.first, frame(10_201, 11));
            assert_eq!(
                new.reuse,
                Some(Reuse {
                    previous: old.serial,
                    gap: 10.0,
                    time_wait_side: Side::Client,
                    isn_advanced: true,
                    ts_advanced: Some(true),
                    kernel_accepts: true,
                })
            );
            let t = Thresholds::default();
            assert!(classify(old, &t, ms(20_000)).flags.is_empty());
            let v = classify(new, &t, ms(20_000));
            assert_eq!(v.class, Class::Open);
            assert_eq!(flags(&v), [Flag::TimeWaitReuse]);
        }
    }

    #[test]
    fn client_reusing_its_own_time_wait_without_timestamps_is_refused_by_linux() {
        for i in ISNS {
            let next = next_isn(i, 0x10000);
            let segs = client_closes(i)
                .into_iter()
                .chain(later(opening(next), 10_201));
            let conns = track(segs, 20_000);
            let reuse = conns[1].reuse.as_ref().expect("reuse");
            assert_eq!(reuse.time_wait_side, Side::Client, "{i:?}");
            assert!(reuse.isn_advanced);
            assert_eq!(reuse.ts_advanced, None);
            // tcp_tw_reuse needs timestamps.
            assert!(!reuse.kernel_accepts);
        }
    }

    #[test]
    fn server_holding_time_wait_accepts_a_higher_isn_without_timestamps() {
        for i in ISNS {
            let next = next_isn(i, 0x10000);
            let segs = server_closes(i)
                .into_iter()
                .chain(later(opening(next), 5_151));
            let conns = track(segs, 20_000);
            assert_eq!(conns.len(), 2, "{i:?}");
            assert_eq!(states(&conns[0]), (State::Closed, State::TimeWait));
            let reuse = conns[1].reuse.as_ref().expect("reuse");
            assert_eq!(reuse.time_wait_side, Side::Server);
            assert_eq!(reuse.gap, 5.0);
            assert!(reuse.isn_advanced);
            assert_eq!(reuse.ts_advanced, None);
            assert!(reuse.kernel_accepts);
        }
    }

    #[test]
    fn server_holding_time_wait_rejects_a_lower_isn_without_timestamps() {
        for i in ISNS {
            // Behind the old connection's last sequence number (across the wrap
            // for WRAP, whose last number was 0).
            let next = next_isn(i, -0x1000);
            let segs = server_closes(i)
                .into_iter()
                .chain(later(opening(next), 5_151));
            let conns = track(segs, 20_000);
            let reuse = conns[1].reuse.as_ref().expect("reuse");
            assert_eq!(reuse.time_wait_side, Side::Server, "{i:?}");
            assert!(!reuse.isn_advanced);
            assert!(!reuse.kernel_accepts);
        }
    }

    #[test]
    fn server_holding_time_wait_accepts_a_newer_timestamp_despite_a_lower_isn() {
        for i in ISNS {
            let next = next_isn(i, -0x1000);
            let segs = with_timestamps(server_closes(i))
                .into_iter()
                .chain(with_timestamps(later(opening(next), 5_151)));
            let conns = track(segs, 20_000);
            let reuse = conns[1].reuse.as_ref().expect("reuse");
            assert_eq!(reuse.ts_advanced, Some(true), "{i:?}");
            assert!(!reuse.isn_advanced);
            assert!(reuse.kernel_accepts);
        }
    }

    #[test]
    fn older_timestamp_is_rejected_by_paws_despite_a_higher_isn() {
        for i in ISNS {
            let next = next_isn(i, 0x10000);
            let mut second = with_timestamps(later(opening(next), 5_151));
            second[0] = second[0].clone().tsval(0x0FFF_0000);
            let segs = with_timestamps(server_closes(i)).into_iter().chain(second);
            let conns = track(segs, 20_000);
            let reuse = conns[1].reuse.as_ref().expect("reuse");
            assert_eq!(reuse.ts_advanced, Some(false), "{i:?}");
            assert!(reuse.isn_advanced);
            assert!(!reuse.kernel_accepts);
        }
    }

    #[test]
    fn reuse_after_two_msl_is_not_flagged() {
        for i in ISNS {
            let next = next_isn(i, 0x10000);
            // Entered TIME_WAIT at 201 ms: 59.999 s later it still holds it.
            let segs = client_closes(i)
                .into_iter()
                .chain(later(opening(next), 60_200));
            let conns = track(segs, 70_000);
            let reuse = conns[1].reuse.as_ref().expect("reuse");
            assert!((reuse.gap - 59.999).abs() < 1e-9, "{i:?}");
            let segs = client_closes(i)
                .into_iter()
                .chain(later(opening(next), 60_201));
            let conns = track(segs, 70_000);
            assert_eq!(conns.len(), 2);
            assert_eq!(conns[1].reuse, None);
            // The old connection's TIME_WAIT ran out before the capture ended.
            assert_eq!(states(&conns[0]), (State::Closed, State::Closed));
            let v = classify(&conns[1], &Thresholds::default(), ms(70_000));
            assert_eq!(flags(&v), []);
        }
    }

    #[test]
    fn new_isn_on_a_connection_not_seen_to_close_starts_a_new_one_without_reuse() {
        for i in ISNS {
            let next = next_isn(i, 0x10000);
            let segs = opening(i).into_iter().chain(later(opening(next), 1_000));
            let conns = track(segs, 20_000);
            assert_eq!(conns.len(), 2, "{i:?}");
            assert_eq!(conns[1].reuse, None);
            let t = Thresholds::default();
            assert_eq!(classify(&conns[0], &t, ms(20_000)).class, Class::Open);
            assert_eq!(classify(&conns[1], &t, ms(20_000)).class, Class::Open);
            assert_eq!(conns[1].client.isn, Some(next.client));
        }
    }

    #[test]
    fn new_syn_after_a_reset_starts_a_new_connection_without_reuse() {
        for i in ISNS {
            let next = next_isn(i, 0x10000);
            let mut segs = opening(i);
            segs.push(rst(S, i.s(), None).at(50));
            let segs = segs.into_iter().chain(later(opening(next), 100));
            let conns = track(segs, 20_000);
            assert_eq!(conns.len(), 2, "{i:?}");
            assert_eq!(conns[1].reuse, None);
            let t = Thresholds::default();
            assert_eq!(classify(&conns[0], &t, ms(20_000)).class, Class::Reset);
        }
    }

    #[test]
    fn server_syn_during_the_handshake_is_a_simultaneous_open() {
        for i in ISNS {
            let conns = track(simultaneous_opening(i), 1_000);
            assert_eq!(conns.len(), 1, "{i:?}");
            let c = &conns[0];
            assert_eq!(c.client.isn, Some(i.client));
            assert_eq!(c.server.isn, Some(i.server));
            assert_eq!(c.client.addr.port, CLIENT.1);
            assert!(c.established);
        }
    }

    /// A forged SYN with a new ISN on an established connection: the server
    /// answers with a challenge ACK in the old sequence space, the client's
    /// kernel takes that for a duplicate ACK, and the connection goes on
    /// (fixtures/inject/syn_on_established.pcap).
    #[test]
    fn syn_on_an_established_connection_does_not_split_it() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let segs = opening(i)
                .into_iter()
                .chain([syn(cs + 58_119_589).at(50), ack(S, s, cs).at(50)])
                .chain(later(client_close(i), 100));
            let conns = track(segs, 10_000);
            assert_eq!(conns.len(), 1, "{i:?}");
            let c = &conns[0];
            assert_eq!(c.client.ignored, 1);
            assert_eq!(c.client.syn_count, 1);
            assert_eq!(states(c), (State::TimeWait, State::Closed));
            let v = classify(c, &Thresholds::default(), ms(10_000));
            assert_eq!(v.class, Class::Clean, "{i:?}");
            assert_eq!(flags(&v), [Flag::IgnoredSegments]);
        }
    }

    /// fixtures/inject/syn_meets_last_ack.pcap: the client's last ACK never
    /// reaches the server, which resends its FIN from LAST_ACK; the client's
    /// new SYN gets a challenge ACK from that socket (old sequence space), the
    /// client's SYN_SENT socket answers it with a RST at exactly the server's
    /// RCV.NXT, which ends the old connection, and the SYN sent again 8 ms
    /// later (`TCP_TIMEOUT_MIN`) opens the new one.
    #[test]
    fn syn_meeting_last_ack_leaves_the_challenge_and_the_rst_to_the_old_connection() {
        for i in ISNS {
            let (cs, s) = (i.c(), i.s());
            let n = next_isn(i, 65_537);
            let mut segs = client_closes(i);
            // The server's FIN again, each time acknowledged again (lost).
            for t in [400, 800, 1_200] {
                segs.push(fin(S, s, cs + 1).at(t));
                segs.push(ack(C, cs + 1, s + 1).at(t + 1));
            }
            segs.extend([
                syn(n.client).at(1_300),
                ack(S, s + 1, cs + 1).at(1_300),
                rst(C, cs + 1, None).at(1_300),
            ]);
            segs.extend(later(opening(n), 1_308));
            segs.extend(later(client_close(n), 1_308));
            let conns = track(segs, 2_000);
            assert_eq!(conns.len(), 2, "{i:?}");
            let (old, new) = (&conns[0], &conns[1]);
            // Frames 17 and 18 are the old connection's, and end it.
            assert_eq!(old.last, frame(1_300, 19), "{i:?}");
            assert_eq!(rst_of(old, C).at, frame(1_300, 19));
            assert!(rst_of(old, C).valid && rst_of(old, C).after_close);
            assert_eq!(states(old), (State::TimeWait, State::Closed));
            let t = Thresholds::default();
            let v = classify(old, &t, old.observed_until);
            assert_eq!(v.class, Class::LostFin, "{i:?}");
            assert_eq!(flags(&v), [Flag::FinRetransmitted, Flag::RstAfterClose]);
            assert_eq!(v.closed_by, ClosedBy::Client);
            // The new one opens at the challenged SYN (frame 17).
            assert_eq!(new.serial, 16);
            assert_eq!(new.first, frame(1_300, 17));
            assert_eq!(new.client.syn_count, 2);
            assert!(new.client.rst.is_none() && new.server.rst.is_none());
            assert_eq!(new.reuse.as_ref().map(|r| r.time_wait_side), Some(C));
            let v = classify(new, &t, ms(2_000));
            assert_eq!(v.class, Class::Clean, "{i:?}");
            assert_eq!(flags(&v), [Flag::TimeWaitReuse, Flag::SynRetransmitted]);
            assert_eq!(states(new), (State::TimeWait, State::Closed));
        }
    }

    /// The usual reuse after a close the capture did not see: the SYN meets
    /// a receiver that looks ESTABLISHED and is held, and the receiver's
    /// SYN-ACK (or RST refusing it) acknowledges the new ISN: the new
    /// connection opens at the SYN, and the old one ignored nothing.
    #[test]
    fn held_syn_opens_the_next_connection_when_the_receiver_acknowledges_it() {
        for i in ISNS {
            let n = next_isn(i, 1_000_000);
            for refused in [false, true] {
                let answer = if refused {
                    rst(S, SeqNumber(0), Some(n.client + 1)).at(501)
                } else {
                    syn_ack(n.server, n.client + 1).at(501)
                };
                let segs = opening(i)
                    .into_iter()
                    .chain([syn(n.client).at(500), answer]);
                let conns = track(segs, 1_000);
                assert_eq!(conns.len(), 2, "{i:?} {refused}");
                let (old, new) = (&conns[0], &conns[1]);
                assert_eq!(old.client.ignored, 0);
                assert_eq!(old.last, frame(11, 6));
                assert_eq!(states(old), (State::Established, State::Established));
                assert_eq!(new.first, frame(500, 7));
                assert_eq!(new.client.isn, Some(n.client));
                let v = classify(new, &Thresholds::default(), ms(1_000));
                let want = if refused {
                    Class::Refused
                } else {
                    Class::Unanswered
                };
                assert_eq!(v.class, want, "{i:?}");
                assert_eq!(flags(&v), []);
            }
        }
    }

    /// A SYN that met a synchronized receiver and got no answer at all, sent
    /// again: the receiver is not that connection's socket any more, and the
    /// SYNs open a connection of their own.
    #[test]
    fn syn_sent_again_without_any_answer_opens_its_own_connection() {
        for i in ISNS {
            let n = SeqNumber(0x2468_ace0);
            let segs = opening(i)
                .into_iter()
                .chain([syn(n).at(500), syn(n).at(1_500)]);
            let conns = track(segs, 2_000);
            assert_eq!(conns.len(), 2, "{i:?}");
            assert_eq!(conns[0].client.ignored, 0);
            let new = &conns[1];
            assert_eq!(new.first, frame(500, 7));
            assert_eq!(new.client.syn_count, 2);
            let v = classify(new, &Thresholds::default(), ms(2_000));
            assert_eq!(v.class, Class::Unanswered);
        }
    }

    /// The SYN meets the client ESTABLISHED, which challenges it (RFC 5961
    /// §4): it opens a connection only once the client answers it with a
    /// SYN-ACK (it had no connection any more).
    #[test]
    fn server_syn_after_the_handshake_starts_a_connection_with_reversed_roles() {
        for i in ISNS {
            let new_isn = SeqNumber(0x5555_0000);
            let segs = opening(i).into_iter().chain([
                syn_from(S, new_isn).at(500),
                syn_ack_from(C, SeqNumber(0x0101_0101), new_isn + 1).at(501),
            ]);
            let conns = track(segs, 1_000);
            assert_eq!(conns.len(), 2, "{i:?}");
            let new = &conns[1];
            assert_eq!(new.client.addr.port, SERVER.1);
            assert_eq!(new.server.addr.port, CLIENT.1);
            assert_eq!(new.client.isn, Some(SeqNumber(0x5555_0000)));
            assert_eq!(new.client.state, State::SynSent);
            assert_eq!(new.reuse, None);
        }
    }
}

/// Connections that are over for good leave the tracker before the end of the
/// capture (`Connection::settled_at`), found by a later segment of their
/// partition.
mod retirement {
    use super::*;

    /// A tracker with a single partition (a cap of 64), so that a segment on any
    /// 4-tuple looks at every connection; frames numbered from 1 as pushed.
    struct OnePartition {
        tracker: Tracker,
        frames: u64,
    }

    impl OnePartition {
        fn new() -> OnePartition {
            let t = Thresholds::default();
            let cfg = TrackerConfig {
                msl_ns: nanos(t.msl),
                fin_grace_ns: nanos(t.fin_grace),
                max_tracked: 64,
                trace: false,
            };
            assert_eq!(cfg.partitions(), 1);
            OnePartition {
                tracker: Tracker::new(cfg),
                frames: 0,
            }
        }

        /// Pushes the segments; returns the frame number of the last one.
        fn push(&mut self, segs: impl IntoIterator<Item = Segment>) -> u64 {
            for seg in segs {
                self.frames += 1;
                self.tracker.push(&Segment {
                    number: self.frames,
                    order: self.frames,
                    ..seg
                });
            }
            self.frames
        }

        #[allow(clippy::vec_box, reason = "the tracker hands out boxes")]
        fn ended(&mut self) -> Vec<Box<Connection>> {
            self.tracker.drain_finished().collect()
        }
    }

    /// A SYN on another 4-tuple at `t` ms: traffic that goes on elsewhere in
    /// the partition.
    fn elsewhere(t: i64) -> Segment {
        Segment {
            src_port: 50_000,
            ..syn(SeqNumber(7)).at(t)
        }
    }

    fn client_resets(i: Isn) -> Vec<Segment> {
        let mut segs = opening(i);
        segs.push(rst(C, i.c(), None).at(100));
        segs
    }

    #[test]
    fn a_closed_or_reset_connection_is_retired_once_time_wait_is_over() {
        for (i, segs, class, last) in [
            (
                WRAP,
                opening(WRAP)
                    .into_iter()
                    .chain(client_close(WRAP))
                    .collect(),
                Class::Clean,
                201,
            ),
            (
                HALF,
                opening(HALF)
                    .into_iter()
                    .chain(client_close(HALF))
                    .collect(),
                Class::Clean,
                201,
            ),
            (WRAP, client_resets(WRAP), Class::Reset, 100),
        ] {
            let mut t = OnePartition::new();
            t.push(segs);
            // TIME_WAIT (2×MSL = 60 s after the last packet) is not over yet.
            t.push([elsewhere(last + 59_000)]);
            assert!(t.ended().is_empty(), "{i:?} {class:?}");
            assert_eq!(t.tracker.active(), 2);
            // The next look, half an MSL later, finds it over.
            let sweeper = t.push([elsewhere(last + 75_000)]);
            let ended = t.ended();
            assert_eq!(ended.len(), 1, "{i:?} {class:?}");
            let c = &ended[0];
            assert_eq!((c.serial, c.end_order), (1, sweeper));
            assert_eq!(c.observed_until, ms(last + 75_000));
            assert_eq!(states(c), (State::Closed, State::Closed));
            let v = classify(c, &Thresholds::default(), c.observed_until);
            assert_eq!(v.class, class);
            assert!(!v.flags.contains(&Flag::Evicted));
            assert_eq!(t.tracker.active(), 1);
        }
    }

    #[test]
    fn a_segment_after_retirement_starts_a_new_mid_stream_connection() {
        let i = WRAP;
        let mut t = OnePartition::new();
        t.push(opening(i).into_iter().chain(client_close(i)));
        t.push([elsewhere(80_000)]);
        assert_eq!(t.ended().len(), 1);
        // A stray ACK a minute and a half after the close: the hosts forgot the
        // 4-tuple, so does the tracker.
        let stray = t.push([ack(C, i.c() + 1, i.s() + 1).at(90_000)]);
        let all: Vec<_> = t.tracker.finish(ms(91_000)).collect();
        let late = all.iter().find(|c| c.serial == stray).unwrap();
        assert!(late.mid_stream);
        assert_eq!(late.client.packets + late.server.packets, 1);
    }

    #[test]
    fn a_half_closed_or_open_connection_stays_until_the_end_of_the_capture() {
        let i = HALF;
        let (c, s) = (i.c(), i.s());
        let mut t = OnePartition::new();
        // FIN_WAIT_2 / CLOSE_WAIT on the client's port, an open connection beside it.
        t.push(
            opening(i)
                .into_iter()
                .chain([fin(C, c, s).at(100), ack(S, s, c + 1).at(101)]),
        );
        t.push(later(opening(i), 200).into_iter().map(|seg| {
            let (sp, dp) = if seg.src_port == CLIENT.1 {
                (40_001, SERVER.1)
            } else {
                (SERVER.1, 40_001)
            };
            Segment {
                src_port: sp,
                dst_port: dp,
                ..seg
            }
        }));
        for minute in 1..=10 {
            t.push([elsewhere(minute * 60_000)]);
        }
        assert!(t.ended().is_empty());
        let all: Vec<_> = t.tracker.finish(ms(600_001)).collect();
        let classes: Vec<Class> = all
            .iter()
            .filter(|c| c.client.addr.port != 50_000)
            .map(|c| classify(c, &Thresholds::default(), c.observed_until).class)
            .collect();
        assert_eq!(classes, [Class::HalfClosedHang, Class::Open]);
    }

    #[test]
    fn a_fin_acked_again_after_a_lost_ack_waits_out_twice_its_back_off() {
        let i = WRAP;
        let (c, s) = (i.c(), i.s());
        // The server's FIN is sent again 40 s after the client's ACK of it (that
        // ACK was lost beyond the capture point) and acknowledged again: the next
        // retransmission would come 80 s later, beyond TIME_WAIT's 60 s.
        let segs: Vec<Segment> = opening(i)
            .into_iter()
            .chain(client_close(i))
            .chain([fin(S, s, c + 1).at(40_200), ack(C, c + 1, s + 1).at(40_201)])
            .collect();
        let mut conn = open(segs[0].clone());
        send_all(&mut conn, segs[1..].iter().cloned());
        let t = Thresholds::default();
        assert_eq!(
            conn.settled_at(nanos(t.msl), nanos(t.fin_grace)),
            Some(Timestamp(ms(40_201).0 + 80_000 * NS_PER_MS))
        );

        let mut t = OnePartition::new();
        t.push(segs);
        t.push([elsewhere(110_000)]); // past TIME_WAIT, within the back-off
        assert!(t.ended().is_empty());
        t.push([elsewhere(126_000)]);
        let ended = t.ended();
        assert_eq!(ended.len(), 1);
        let v = classify(&ended[0], &Thresholds::default(), ended[0].observed_until);
        assert_eq!(v.class, Class::Clean);
        assert!(v.flags.contains(&Flag::FinRetransmitted));
    }
}

// ---------------------------------------------------------------------------
// The hosts' timers (`Connection::life`).
mod timers {
    use super::*;
    use crate::flow::timers::{Rule, Timers};

    fn fin_timeout(secs: i64) -> Timers {
        Timers {
            fin_timeout_ns: secs * 1000 * NS_PER_MS,
            ..Timers::default()
        }
    }

    /// Opened, then the client closes and the server only acknowledges
    /// (frames 7, 8 at 100, 101 ms).
    fn half_closed(i: Isn) -> Connection {
        let (c, s) = (i.c(), i.s());
        let mut conn = open(syn(i.client).at(0));
        send_all(&mut conn, opening(i).into_iter().skip(1));
        send_all(&mut conn, [fin(C, c, s).at(100), ack(S, s, c + 1).at(101)]);
        conn
    }

    #[test]
    fn an_orphaned_fin_wait_2_is_gone_fin_timeout_after_its_fin_was_acknowledged() {
        for i in ISNS {
            let mut c = half_closed(i);
            c.finish(ms(20_000), 30_000 * NS_PER_MS, 3_000 * NS_PER_MS);
            let life = c.life(C, &fin_timeout(5));
            let e = life.expiry.expect("timed out");
            assert_eq!(
                (e.state, e.rule, e.at),
                (State::FinWait2, Rule::FinTimeout, ms(5_101))
            );
            assert_eq!(life.state_at(ms(5_000)), State::FinWait2);
            assert_eq!(life.state_at(ms(5_101)), State::Closed);
            // The server's CLOSE_WAIT has no timer.
            let server = c.life(S, &fin_timeout(5));
            assert_eq!(
                (server.expiry, server.end_state()),
                (None, State::CloseWait)
            );
            assert_eq!(server.state_at(ms(19_999)), State::CloseWait);
        }
    }

    #[test]
    fn a_fin_resent_after_its_ack_was_in_fin_wait_1_all_along_on_its_host() {
        // The ACK at 101 ms never arrived (the FIN resent at 400 shows it);
        // the one at 401 did: FIN_WAIT_1 from the FIN at 100 until then,
        // and the orphan's timer runs from 401.
        for i in ISNS {
            let mut c = fin_wait_2(i);
            send(&mut c, fin(C, i.c(), i.s()).at(400));
            send(&mut c, ack(S, i.s(), i.c() + 1).at(401));
            c.finish(ms(20_000), 30_000 * NS_PER_MS, 3_000 * NS_PER_MS);
            let life = c.life(C, &fin_timeout(5));
            let steps: Vec<_> = life
                .path
                .steps()
                .map(|(s, t)| (s, t.0 / NS_PER_MS))
                .collect();
            assert_eq!(
                steps[2..],
                [
                    (State::FinWait1, 100),
                    (State::FinWait2, 401),
                    (State::Closed, 5_401)
                ],
                "{i:?}"
            );
            assert_eq!(life.state_at(ms(200)), State::FinWait1);
            assert_eq!(life.state_at(ms(402)), State::FinWait2);
            assert_eq!(life.expiry.map(|e| e.rule), Some(Rule::FinTimeout));
        }
    }

    #[test]
    fn a_fin_wait_2_that_still_reads_was_shut_down_and_has_no_timer() {
        for i in ISNS {
            let (c, s) = (i.c(), i.s());
            let mut conn = half_closed(i);
            send_all(
                &mut conn,
                [
                    data(S, s, c + 1, 100).at(3_000),
                    ack(C, c + 1, s + 100).at(3_001),
                ],
            );
            conn.finish(ms(20_000), 30_000 * NS_PER_MS, 3_000 * NS_PER_MS);
            let life = conn.life(C, &fin_timeout(5));
            assert_eq!((life.expiry, life.end_state()), (None, State::FinWait2));
        }
    }

    #[test]
    fn a_capture_shorter_than_the_timer_leaves_fin_wait_2_open() {
        let mut c = half_closed(WRAP);
        c.finish(ms(4_000), 30_000 * NS_PER_MS, 3_000 * NS_PER_MS);
        assert_eq!(c.life(C, &fin_timeout(5)).expiry, None);
    }

    #[test]
    fn a_rst_after_the_orphan_timed_out_came_from_a_host_without_the_socket() {
        let i = WRAP;
        let (c, s) = (i.c(), i.s());
        let mut conn = half_closed(i);
        send_all(
            &mut conn,
            [fin(S, s, c + 1).at(10_000), rst(C, c + 1, None).at(10_001)],
        );
        conn.finish(ms(20_000), 30_000 * NS_PER_MS, 3_000 * NS_PER_MS);
        let life = conn.life(C, &fin_timeout(5));
        assert_eq!(
            life.expiry.map(|e| (e.state, e.rule, e.at)),
            Some((State::FinWait2, Rule::FinTimeout, ms(5_101)))
        );
        assert_eq!(life.state_at(ms(7_000)), State::Closed);
    }

    #[test]
    fn syn_sent_closes_when_its_retries_run_out() {
        let mut c = open(syn(WRAP.client).at(0));
        send_all(&mut c, (1..6).map(|k| syn(WRAP.client).at(k * 1000)));
        c.finish(ms(10_000), 30_000 * NS_PER_MS, 3_000 * NS_PER_MS);
        let t = Timers {
            syn_retries: 2,
            ..Timers::default()
        };
        let life = c.life(C, &t);
        assert_eq!(
            life.expiry.map(|e| (e.rule, e.at)),
            Some((Rule::SynRetries, ms(7_000)))
        );
        // With the defaults the SYN would still be retried at 10 s.
        assert_eq!(c.life(C, &Timers::default()).expiry, None);
    }

    #[test]
    fn time_wait_ends_two_msl_after_it_began_not_at_the_capture_end() {
        let i = WRAP;
        let mut c = open(syn(i.client).at(0));
        send_all(&mut c, opening(i).into_iter().skip(1));
        send_all(&mut c, client_close(i));
        c.finish(ms(100_000), 30_000 * NS_PER_MS, 3_000 * NS_PER_MS);
        let life = c.life(C, &Timers::default());
        assert_eq!(
            life.expiry.map(|e| (e.rule, e.at)),
            Some((Rule::TimeWait, ms(60_201)))
        );
        assert_eq!(life.state_at(ms(60_200)), State::TimeWait);
        assert_eq!(life.state_at(ms(60_201)), State::Closed);
    }

    #[test]
    fn data_never_acknowledged_closes_its_sender_by_tcp_retries2_and_not_its_peer() {
        let i = WRAP;
        let (c, s) = (i.c(), i.s());
        let mut conn = open(syn(i.client).at(0));
        send_all(&mut conn, opening(i).into_iter().skip(1));
        // Sent at 1 s; a tail-loss probe at +210 ms, then RTOs from +410.
        for t in [1_000, 1_210, 1_410, 1_850, 2_680, 4_350] {
            send(&mut conn, data(C, c, s, 100).at(t));
        }
        conn.finish(ms(30_000), 30_000 * NS_PER_MS, 3_000 * NS_PER_MS);
        let t = Timers {
            retries2: 3,
            ..Timers::default()
        };
        let life = conn.life(C, &t);
        assert_eq!(
            life.expiry.map(|e| (e.state, e.rule, e.at)),
            Some((State::Established, Rule::Retries2, ms(4_350 + 3_340)))
        );
        assert_eq!(conn.life(S, &t).expiry, None);
    }
}
