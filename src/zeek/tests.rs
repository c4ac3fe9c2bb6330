//! Zeek's view, packet by packet: conn_state, history and row splits for the
//! situations Zeek's own scripts and source describe. Sequence numbers start
//! near 2^32 so that every exchange crosses the wrap.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::decode::SeqNumber;
use crate::decode::{Control, Segment, TcpFlags, TcpOptions};
use proptest::prelude::{Just, any};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// An ephemeral port and a likely server port (HTTP).
const CPORT: u16 = 40000;
const SPORT: u16 = 80;
/// Initial sequence numbers just below the 2^32 wrap.
const CISN: u32 = u32::MAX - 2;
const SISN: u32 = u32::MAX - 1000;

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    C,
    S,
}
use Dir::*;

/// A segment at `ms` milliseconds; `flags` among "SAFR".
fn seg(ms: i64, from: Dir, flags: &str, seq: u32, ack: Option<u32>, len: u32) -> Segment {
    let ((src, sport), (dst, dport)) = match from {
        C => ((CLIENT, CPORT), (SERVER, SPORT)),
        S => ((SERVER, SPORT), (CLIENT, CPORT)),
    };
    seg_between(ms, (src, sport), (dst, dport), flags, seq, ack, len)
}

fn seg_between(
    ms: i64,
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    flags: &str,
    seq: u32,
    ack: Option<u32>,
    len: u32,
) -> Segment {
    let f = TcpFlags {
        syn: flags.contains('S'),
        fin: flags.contains('F'),
        rst: flags.contains('R'),
        psh: len > 0,
        ack: flags.contains('A'),
    };
    assert_eq!(f.ack, ack.is_some(), "ACK flag and number go together");
    let control = if f.rst {
        Control::Rst
    } else if f.syn {
        Control::Syn
    } else if f.fin {
        Control::Fin
    } else {
        Control::None
    };
    Segment {
        ts: Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000),
        input: 0,
        number: 0,
        order: 0,
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        src_port: sport,
        dst_port: dport,
        seq: SeqNumber(seq),
        ack: ack.map(SeqNumber),
        control,
        window: 64240,
        payload_len: len,
        options: TcpOptions::default(),
        truncated: false,
        flags: f,
        ip_len: 40 + len,
        header_cut: false,
        ttl: 64,
        ip_id: 0,
    }
}

fn run(segs: &[Segment]) -> ZeekInfo {
    let mut z = ZeekState::new();
    for s in segs {
        z.on_segment(s);
    }
    z.info()
}

/// `(conn_state, history)` of every row.
fn rows(segs: &[Segment]) -> Vec<(&'static str, String)> {
    run(segs)
        .rows()
        .map(|r| (r.conn_state, r.history.clone()))
        .collect()
}

fn one(segs: &[Segment]) -> (&'static str, String) {
    let r = rows(segs);
    assert_eq!(r.len(), 1, "{r:?}");
    r.into_iter().next().unwrap()
}

// Client and server sequence numbers after n bytes (the SYN counts one).
fn c(n: u32) -> u32 {
    CISN.wrapping_add(1).wrapping_add(n)
}
fn s(n: u32) -> u32 {
    SISN.wrapping_add(1).wrapping_add(n)
}

/// SYN, SYN-ACK, ACK.
fn handshake() -> Vec<Segment> {
    vec![
        seg(0, C, "S", CISN, None, 0),
        seg(10, S, "SA", SISN, Some(c(0)), 0),
        seg(20, C, "A", c(0), Some(s(0)), 0),
    ]
}

/// Handshake, a request and a response.
fn exchange() -> Vec<Segment> {
    let mut v = handshake();
    v.push(seg(30, C, "A", c(0), Some(s(0)), 100));
    v.push(seg(35, S, "A", s(0), Some(c(100)), 0));
    v.push(seg(40, S, "A", s(0), Some(c(100)), 500));
    v.push(seg(50, C, "A", c(100), Some(s(500)), 0));
    v
}

// ---- conn_state from the endpoint states -------------------------------------

#[test]
fn full_close_is_sf() {
    let mut v = exchange();
    v.push(seg(60, C, "FA", c(100), Some(s(500)), 0));
    v.push(seg(70, S, "FA", s(500), Some(c(101)), 0));
    v.push(seg(80, C, "A", c(101), Some(s(501)), 0));
    assert_eq!(one(&v), ("SF", "ShADadFf".into()));
}

#[test]
fn both_fins_seen_is_sf_even_unacknowledged() {
    // Zeek's SF needs both FINs seen, not acknowledged.
    let mut v = exchange();
    v.push(seg(60, C, "FA", c(100), Some(s(500)), 0));
    v.push(seg(70, S, "FA", s(500), Some(c(100)), 0));
    assert_eq!(one(&v), ("SF", "ShADadFf".into()));
}

#[test]
fn unanswered_syn_is_s0() {
    assert_eq!(one(&[seg(0, C, "S", CISN, None, 0)]), ("S0", "S".into()));
}

#[test]
fn refused_syn_is_rej() {
    let v = [
        seg(0, C, "S", CISN, None, 0),
        seg(1, S, "RA", 0, Some(c(0)), 0),
    ];
    assert_eq!(one(&v), ("REJ", "Sr".into()));
}

#[test]
fn established_and_open_is_s1() {
    assert_eq!(one(&exchange()), ("S1", "ShADad".into()));
}

#[test]
fn originator_close_only_is_s2_responder_close_only_is_s3() {
    let mut v = exchange();
    v.push(seg(60, C, "FA", c(100), Some(s(500)), 0));
    assert_eq!(one(&v), ("S2", "ShADadF".into()));
    let mut v = exchange();
    v.push(seg(60, S, "FA", s(500), Some(c(100)), 0));
    assert_eq!(one(&v), ("S3", "ShADadf".into()));
}

#[test]
fn resets_after_establishment_are_rsto_and_rstr() {
    let mut v = exchange();
    v.push(seg(60, C, "RA", c(100), Some(s(500)), 0));
    assert_eq!(one(&v), ("RSTO", "ShADadR".into()));
    let mut v = exchange();
    v.push(seg(60, S, "R", s(500), None, 0));
    assert_eq!(one(&v), ("RSTR", "ShADadr".into()));
}

#[test]
fn syn_then_own_rst_is_rstos0() {
    let v = [
        seg(0, C, "S", CISN, None, 0),
        seg(100, C, "R", c(0), None, 0),
    ];
    assert_eq!(one(&v), ("RSTOS0", "SR".into()));
}

#[test]
fn syn_ack_then_rst_without_syn_is_rstrh() {
    // From a port that is not a likely server port: no flip.
    let a = (SERVER, 5555);
    let b = (CLIENT, 40001);
    let v = [
        seg_between(0, a, b, "SA", SISN, Some(7), 0),
        seg_between(10, a, b, "R", s(0), None, 0),
    ];
    // The SYN-ACK's sender is the originator (no flip): its RST makes RSTOS0's
    // cousin, an originator reset with an inactive responder.
    assert_eq!(one(&v), ("OTH", "HR".into()));
    // Flipped (80 is a likely server port), the same packets are RSTRH.
    let v = [
        seg(0, S, "SA", SISN, Some(c(0)), 0),
        seg(10, S, "R", s(0), None, 0),
    ];
    assert_eq!(one(&v), ("RSTRH", "^hr".into()));
}

#[test]
fn syn_then_fin_without_answer_is_sh() {
    let v = [
        seg(0, C, "S", CISN, None, 0),
        seg(1000, C, "FA", c(0), Some(7), 0),
    ];
    assert_eq!(one(&v), ("SH", "SF".into()));
}

#[test]
fn syn_ack_then_fin_without_syn_is_shr() {
    let v = [
        seg(0, S, "SA", SISN, Some(c(0)), 0),
        seg(10, S, "FA", s(0), Some(c(0)), 0),
    ];
    assert_eq!(one(&v), ("SHR", "^hf".into()));
}

#[test]
fn midstream_traffic_is_oth() {
    let v = [
        seg(0, C, "A", c(1000), Some(s(2000)), 100),
        seg(10, S, "A", s(2000), Some(c(1100)), 0),
    ];
    assert_eq!(one(&v), ("OTH", "Da".into()));
}

// ---- history letters and their repetition ------------------------------------

#[test]
fn a_syn_retransmitted_with_the_same_number_is_one_letter() {
    let v = [
        seg(0, C, "S", CISN, None, 0),
        seg(1000, C, "S", CISN, None, 0),
        seg(3000, C, "S", CISN, None, 0),
    ];
    assert_eq!(one(&v), ("S0", "S".into()));
}

#[test]
fn a_fin_resent_at_a_new_number_is_a_new_letter() {
    let mut v = exchange();
    v.push(seg(60, C, "FA", c(100), Some(s(500)), 0));
    v.push(seg(70, C, "FA", c(100), Some(s(500)), 0));
    assert_eq!(one(&v).1, "ShADadF");
    // A FIN with data moves the FIN's sequence number: a second F.
    let mut v = exchange();
    v.push(seg(60, C, "FA", c(100), Some(s(500)), 0));
    v.push(seg(70, C, "FA", c(100), Some(s(500)), 10));
    assert_eq!(one(&v).1, "ShADadFF");
}

#[test]
fn rsts_at_different_numbers_repeat() {
    let mut v = exchange();
    v.push(seg(60, S, "R", s(500), None, 0));
    v.push(seg(61, S, "R", s(500), None, 0));
    v.push(seg(62, S, "R", s(501), None, 0));
    assert_eq!(one(&v).1, "ShADadrr");
}

#[test]
fn retransmissions_are_logarithmic() {
    let mut v = exchange();
    for i in 0..10 {
        v.push(seg(100 + i, C, "A", c(0), Some(s(500)), 100));
    }
    // The 1st and the 10th retransmission.
    assert_eq!(one(&v).1, "ShADadTT");
}

#[test]
fn zero_windows_are_logarithmic_per_side() {
    let mut v = exchange();
    let mut z = seg(60, S, "A", s(500), Some(c(100)), 0);
    z.window = 0;
    v.push(z);
    assert_eq!(one(&v).1, "ShADadw");
}

#[test]
fn fin_rst_and_syn_fin_are_i_and_q() {
    let mut v = exchange();
    v.push(seg(60, C, "FRA", c(100), Some(s(500)), 0));
    assert_eq!(one(&v), ("RSTO", "ShADadI".into()));
    let v = [seg(0, C, "SF", CISN, None, 0)];
    assert_eq!(one(&v).1, "Q");
}

#[test]
fn acknowledged_bytes_never_seen_are_a_gap() {
    let mut v = exchange();
    // The server's next 1000 bytes are missing; the client acknowledges them.
    v.push(seg(60, S, "A", s(1500), Some(c(100)), 100));
    v.push(seg(70, C, "A", c(100), Some(s(1600)), 0));
    let info = run(&v);
    assert_eq!(info.row.history, "ShADadg");
    assert_eq!(info.row.missed_bytes, 1000);
}

#[test]
fn a_payload_cut_by_the_snaplen_shows_as_a_gap_once_acknowledged() {
    let mut v = handshake();
    let mut d = seg(30, C, "A", c(0), Some(s(0)), 1000);
    d.truncated = true;
    v.push(d);
    v.push(seg(40, S, "A", s(0), Some(c(1000)), 0));
    let info = run(&v);
    assert_eq!(info.row.history, "ShADaG");
    assert_eq!(info.row.missed_bytes, 1000);
}

// ---- originator, responder and the flip --------------------------------------

#[test]
fn syn_ack_first_from_a_likely_server_port_flips_at_once() {
    let v = [
        seg(0, S, "SA", SISN, Some(c(0)), 0),
        seg(10, C, "A", c(0), Some(s(0)), 0),
        seg(20, C, "A", c(0), Some(s(0)), 100),
    ];
    let info = run(&v);
    assert_eq!(info.row.history, "^hAD");
    assert_eq!(info.row.conn_state, "S1");
    assert_eq!(info.row.orig.port, CPORT);
}

#[test]
fn syn_ack_first_between_unlikely_ports_flips_on_the_next_ack() {
    // zeek/zeek#2191: no port hint, but an ACK after the SYN-ACK.
    let srv = (SERVER, 5555);
    let cli = (CLIENT, 40001);
    let v = [
        seg_between(0, srv, cli, "SA", SISN, Some(c(0)), 0),
        seg_between(10, cli, srv, "A", c(0), Some(s(0)), 0),
        seg_between(20, cli, srv, "A", c(0), Some(s(0)), 100),
        seg_between(30, srv, cli, "A", s(0), Some(c(100)), 10),
        seg_between(40, cli, srv, "FA", c(100), Some(s(10)), 0),
        seg_between(50, srv, cli, "FA", s(10), Some(c(101)), 0),
    ];
    let info = run(&v);
    assert_eq!(info.row.history, "^hADdFf");
    assert_eq!(info.row.conn_state, "SF");
    assert_eq!(info.row.orig.port, 40001);
    assert_eq!((info.row.orig_pkts, info.row.resp_pkts), (3, 3));
}

#[test]
fn syn_ack_alone_between_unlikely_ports_stays_unflipped() {
    let v = [seg_between(
        0,
        (SERVER, 5555),
        (CLIENT, 40001),
        "SA",
        SISN,
        Some(1),
        0,
    )];
    let info = run(&v);
    assert_eq!(
        (info.row.conn_state, info.row.history.as_str()),
        ("OTH", "H")
    );
    assert_eq!(info.row.orig.port, 5555);
}

#[test]
fn data_from_a_likely_server_port_flips() {
    let v = [seg(0, S, "A", s(0), Some(c(0)), 100)];
    let info = run(&v);
    assert_eq!(info.row.history, "^d");
    assert_eq!(info.row.orig.port, CPORT);
}

#[test]
fn between_two_likely_ports_the_lower_source_of_a_non_syn_flips() {
    let http = (SERVER, 80);
    let https = (CLIENT, 443);
    let info = run(&[seg_between(0, http, https, "A", 1, Some(1), 10)]);
    assert_eq!((info.row.history.as_str(), info.row.orig.port), ("^d", 443));
    let info = run(&[seg_between(0, https, http, "A", 1, Some(1), 10)]);
    assert_eq!((info.row.history.as_str(), info.row.orig.port), ("D", 443));
}

#[test]
fn syn_seen_after_its_syn_ack_flips_and_establishes() {
    // A capture that interleaved two interfaces: SYN-ACK before its SYN.
    let srv = (SERVER, 5555);
    let cli = (CLIENT, 40001);
    let v = [
        seg_between(0, srv, cli, "SA", SISN, Some(c(0)), 0),
        seg_between(0, cli, srv, "S", CISN, None, 0),
    ];
    let info = run(&v);
    assert_eq!(info.row.orig.port, 40001);
    assert_eq!(info.row.history, "Hs^");
    assert_eq!(info.row.conn_state, "S1");
}

// ---- Zeek's connection boundaries --------------------------------------------

#[test]
fn an_unanswered_syn_ends_after_five_seconds() {
    // SYN retransmissions at 0, 1, 3 and 7 s: Zeek's attempt timer removes
    // the connection at 5 s, the 7 s SYN opens a new row.
    let v = [
        seg(0, C, "S", CISN, None, 0),
        seg(1000, C, "S", CISN, None, 0),
        seg(3000, C, "S", CISN, None, 0),
        seg(7000, C, "S", CISN, None, 0),
    ];
    assert_eq!(rows(&v), vec![("S0", "S".into()), ("S0", "S".into())]);
}

#[test]
fn a_half_duplex_attempt_splits_when_only_the_client_is_seen() {
    // Only the client's side: SYN, ACK, data, then 10 s later data and FIN.
    let v = [
        seg(0, C, "S", CISN, None, 0),
        seg(100, C, "A", c(0), Some(s(0)), 0),
        seg(200, C, "A", c(0), Some(s(0)), 100),
        seg(10_000, C, "A", c(100), Some(s(0)), 100),
        seg(10_050, C, "A", c(200), Some(s(0)), 0),
        seg(10_100, C, "FA", c(200), Some(s(0)), 0),
    ];
    assert_eq!(rows(&v), vec![("S0", "SAD".into()), ("SH", "DAF".into())]);
}

#[test]
fn packets_after_the_close_delay_start_a_new_row() {
    let mut v = exchange();
    v.push(seg(60, C, "FA", c(100), Some(s(500)), 0));
    v.push(seg(70, S, "FA", s(500), Some(c(101)), 0));
    // The last ACK, lost and resent after 6 s.
    v.push(seg(6_070, C, "A", c(101), Some(s(501)), 0));
    assert_eq!(
        rows(&v),
        vec![("SF", "ShADadFf".into()), ("OTH", "A".into())]
    );
    // Within the delay it belongs to the connection.
    let mut v = exchange();
    v.push(seg(60, C, "FA", c(100), Some(s(500)), 0));
    v.push(seg(70, S, "FA", s(500), Some(c(101)), 0));
    v.push(seg(4_000, C, "A", c(101), Some(s(501)), 0));
    assert_eq!(one(&v), ("SF", "ShADadFf".into()));
}

#[test]
fn five_minutes_of_silence_end_a_connection() {
    let mut v = exchange();
    v.push(seg(50 + 300_000, C, "A", c(100), Some(s(500)), 10));
    assert_eq!(rows(&v), vec![("S1", "ShADad".into()), ("OTH", "D".into())]);
    let mut v = exchange();
    v.push(seg(50 + 299_999, C, "A", c(100), Some(s(500)), 10));
    assert_eq!(one(&v), ("S1", "ShADad".into()));
}

#[test]
fn ssh_connections_may_idle_for_an_hour() {
    let ssh = (SERVER, 22);
    let cli = (CLIENT, 40001);
    let v = [
        seg_between(0, cli, ssh, "S", CISN, None, 0),
        seg_between(10, ssh, cli, "SA", SISN, Some(c(0)), 0),
        seg_between(20, cli, ssh, "A", c(0), Some(s(0)), 0),
        seg_between(1_800_000, cli, ssh, "A", c(0), Some(s(0)), 10),
    ];
    assert_eq!(one(&v), ("S1", "ShAD".into()));
}

#[test]
fn a_syn_with_a_new_number_reuses_the_tuple() {
    let mut v = exchange();
    v.push(seg(60, C, "S", CISN.wrapping_add(1_000_000), None, 0));
    assert_eq!(rows(&v), vec![("S1", "ShADad".into()), ("S0", "S".into())]);
}

#[test]
fn a_syn_after_a_close_reuses_the_tuple_even_with_the_same_number() {
    let mut v = exchange();
    v.push(seg(60, C, "RA", c(100), Some(s(500)), 0));
    v.push(seg(1_000, C, "S", CISN, None, 0));
    assert_eq!(
        rows(&v),
        vec![("RSTO", "ShADadR".into()), ("S0", "S".into())]
    );
}

#[test]
fn a_packet_with_its_tcp_header_cut_opens_the_row_but_is_not_counted() {
    let mut p = seg(0, C, "S", CISN, None, 0);
    p.header_cut = true;
    let info = run(&[p]);
    assert_eq!(
        (info.row.conn_state, info.row.history.as_str()),
        ("OTH", "")
    );
    assert_eq!(info.row.orig_pkts, 0);
}

// ---- sizes, counts and ids -----------------------------------------------------

#[test]
fn sizes_come_from_sequence_numbers_across_the_wrap() {
    let mut v = exchange();
    v.push(seg(60, C, "FA", c(100), Some(s(500)), 0));
    v.push(seg(70, S, "FA", s(500), Some(c(101)), 0));
    let info = run(&v);
    assert_eq!(
        (info.row.orig_bytes, info.row.resp_bytes),
        (Some(100), Some(500))
    );
    assert_eq!((info.row.orig_pkts, info.row.resp_pkts), (5, 4));
    assert_eq!(info.row.orig_ip_bytes, 5 * 40 + 100);
    assert_eq!(info.row.duration, Some(0.07));
}

#[test]
fn a_single_packet_has_no_duration_or_sizes() {
    let info = run(&[seg(0, C, "S", CISN, None, 0)]);
    assert_eq!((info.row.duration, info.row.orig_bytes), (None, None));
}

#[test]
fn uids_are_deterministic_and_distinct() {
    let u = Uid::of(5, Timestamp(7));
    assert_eq!(u, Uid::of(5, Timestamp(7)));
    assert_ne!(u, Uid::of(6, Timestamp(7)));
    // Another capture's packet 5 at another time.
    assert_ne!(u.high, Uid::of(5, Timestamp(8)).high);
    let text = u.to_string();
    assert!(text.starts_with('C') && text.len() <= 18, "{text}");
    // The low 64 bits are a bijection of the order: no two packets of a
    // report give one uid.
    let lows: std::collections::HashSet<u64> =
        (0..100_000).map(|n| Uid::of(n, Timestamp(0)).low).collect();
    assert_eq!(lows.len(), 100_000);
}

#[test]
fn uid_text_is_zeeks_base62_of_each_half_least_significant_digit_first() {
    let text = |high, low| Uid { high, low }.text().as_str().to_string();
    assert_eq!(text(0, 0), "C00");
    assert_eq!(text(61, 62), "CZ01");
    assert_eq!(text(12345, 987654321012), "C7d3qvSg4oh");
    assert_eq!(text(u32::MAX, u64::MAX), "C3cfFG4fyha61AhGYl");
}

/// Zeek's `uitoa_n` loop, one digit at a time.
fn uitoa_62(mut v: u64) -> String {
    const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = String::new();
    loop {
        out.push(char::from(DIGITS[(v % 62) as usize]));
        v /= 62;
        if v == 0 {
            return out;
        }
    }
}

proptest::proptest! {
    #[test]
    fn uid_text_is_zeeks_loop_for_any_96_bits(
        high in proptest::prop_oneof![Just(0u32), Just(61), Just(62), Just(3843), Just(3844), Just(u32::MAX), any::<u32>()],
        low in proptest::prop_oneof![Just(0u64), Just(61), Just(62), Just(3843), Just(3844), Just(u64::MAX), any::<u64>()],
    ) {
        let want = format!("C{}{}", uitoa_62(u64::from(high)), uitoa_62(low));
        let text = Uid { high, low }.text();
        proptest::prop_assert_eq!(text.as_str(), want);
    }
}

#[test]
fn each_row_has_its_own_uid_and_the_first_is_the_connections() {
    // Three refused attempts with the same ISN (Windows retries a refused
    // SYN): three REJ rows, as in Zeek's scripts.base.protocols.pop3.basic.
    let mut v = Vec::new();
    for (i, t) in [0, 500, 1000].into_iter().enumerate() {
        let mut syn = seg(t, C, "S", CISN, None, 0);
        syn.order = 10 + 2 * i as u64;
        let mut rst = seg(t + 50, S, "RA", 0, Some(c(0)), 0);
        rst.order = 11 + 2 * i as u64;
        v.extend([syn, rst]);
    }
    let info = run(&v);
    let got: Vec<_> = info
        .rows()
        .map(|r| (r.conn_state, r.history.as_str()))
        .collect();
    assert_eq!(got, [("REJ", "Sr"), ("REJ", "Sr"), ("REJ", "Sr")]);
    let uids: Vec<Uid> = info.rows().map(|r| r.uid).collect();
    assert_eq!(uids[0], Uid::of(10, v[0].ts));
    assert_eq!(uids[1], Uid::of(12, v[2].ts));
    assert_eq!(uids[2], Uid::of(14, v[4].ts));
}

#[test]
fn a_reset_connection_seen_again_after_the_close_delay_is_a_new_row() {
    // tunnels.teredo: RSTO, then 18 s later a lone RST from the server (RSTRH).
    let mut v = exchange();
    v.push(seg(60, C, "R", c(100), None, 0));
    v.push(seg(18_060, S, "R", s(500), None, 0));
    assert_eq!(
        rows(&v),
        vec![("RSTO", "ShADadR".into()), ("RSTRH", "^r".into())]
    );
}

#[test]
fn endpoint_states_carry_zeeks_names() {
    let info = run(&exchange());
    assert_eq!(
        (info.row.orig_state, info.row.resp_state),
        ("TCP_ESTABLISHED", "TCP_ESTABLISHED")
    );
    assert_eq!(EndpointState::SynAckSent.to_string(), "TCP_SYN_ACK_SENT");
}

#[test]
fn timestamps_at_the_end_of_time_do_not_overflow() {
    let mut a = seg(0, C, "S", CISN, None, 0);
    a.ts = Timestamp(i64::MAX);
    let mut b = seg(0, S, "SA", SISN, Some(c(0)), 0);
    b.ts = Timestamp(i64::MAX);
    let mut z = seg(0, C, "FA", c(0), Some(s(0)), 0);
    z.ts = Timestamp(i64::MIN);
    // Nonsense times give nonsense rows, but no overflow and no endless timer.
    let info = run(&[a, b, z]);
    assert_eq!(
        info.rows().map(|r| r.orig_pkts + r.resp_pkts).sum::<u64>(),
        3
    );
}

/// Issue 35, D3: a connection with a packet every 301 s opens a Zeek row per
/// packet (each past the inactivity timeout); it keeps its first and last
/// rows and counts the rest, whatever its length.
#[test]
fn a_long_connection_keeps_its_first_and_last_zeek_rows_and_counts_the_rest() {
    let mut v = exchange();
    let last = v.last().unwrap().ts;
    for i in 1..=100i64 {
        let mut a = seg(0, C, "A", c(100), Some(s(500)), 0);
        a.ts = crate::time::Timestamp(last.0 + i * 301_000_000_000);
        v.push(a);
    }
    let info = run(&v);
    assert_eq!(
        info.continued.len(),
        super::FIRST_ROWS - 1 + super::LAST_ROWS + 1
    );
    let all = 1 + info.continued.len() as u64 + info.continued_omitted;
    assert_eq!(
        all, 101,
        "one row per Zeek connection: the first and 100 more"
    );
    // The last row kept is the one still open at the end.
    assert_eq!(info.continued.last().unwrap().ts, v.last().unwrap().ts);
}
