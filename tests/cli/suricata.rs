//! Suricata's own verdicts on real captures (OISF/suricata-verify, MIT; copied
//! into fixtures/suricata/): every flow record a suricata-verify test requires
//! with a `tcp.state` must agree with our two end states, read through the
//! mapping in docs/suricata.md, except the documented allow-list below.
//!
//! Suricata keeps one state per TCP *session*, named after what its stream
//! engine (src/stream-tcp.c) saw last: a FIN to the server makes it
//! `close_wait`, a FIN to the client `fin_wait1`, and so on. Which of our
//! (client, server) pairs correspond to which Suricata state therefore depends
//! on which side sent the first FIN; `suricata_state` is that mapping.

use std::net::IpAddr;

use serde_json::Value;

use crate::common::*;

/// The copied cases: `fixtures/suricata/<case>/<case>.pcap` (renamed from the
/// test's pcap), `expected.json`, `source.txt`.
const CASES: &[&str] = &[
    "base64-issue-5223",
    "base64-issue-5223-6",
    "bug-2646-01",
    "bug-2646-02",
    "bug-4702-01",
    "bug-4702-02",
    "bug-6733-syn-packet-flow-output",
    "bug-814",
    "dnp3__dnp3-del-measure",
    "dnp3__dnp3-eve",
    "dnp3__dnp3-file-del",
    "dns__task-7018-dns-ips-stream-rule",
    "dns__task-7018-ids-dns-keywords",
    "dns__task-7018-ids-dns-stream-rule",
    "pgsql__pgsql-pwd-output-disabled",
    "pgsql__pgsql-simple-query-rollback",
    "pgsql__pgsql-ssl-rejected-md5-auth-simple-query",
    "pgsql__pgsql-upgrade-tls",
    "smb1-02",
];

/// A check that names no 4-tuple (suricata-verify matched it by other keys):
/// the flows it can only mean, as (src ip, src port, dest ip, dest port).
struct Pinned {
    case: &'static str,
    /// Index into expected.json's `checks`.
    check: usize,
    tuples: &'static [(&'static str, u64, &'static str, u64)],
    why: &'static str,
}

const PINNED: &[Pinned] = &[
    Pinned {
        case: "bug-4702-01",
        check: 0,
        tuples: &[("1.1.1.1", 12345, "2.2.2.2", 8080)],
        why: "the capture holds one TCP connection",
    },
    Pinned {
        case: "bug-4702-02",
        check: 0,
        tuples: &[("10.8.236.206", 55418, "192.225.158.103", 443)],
        why: "the capture holds one TCP connection",
    },
    Pinned {
        case: "smb1-02",
        check: 0,
        tuples: &[
            ("192.168.1.10", 49216, "192.168.1.2", 445),
            ("192.168.1.10", 49219, "192.168.1.2", 445),
            ("192.168.1.10", 49222, "192.168.1.2", 445),
        ],
        why: "the check selects app_proto smb (count 3); only these three \
              connections carry SMB, the other three connect and close without payload",
    },
];

/// A record allowed to disagree, with the reason (see docs/suricata.md).
struct Allowed {
    case: &'static str,
    /// Suricata's `src_port` of the record.
    src_port: u64,
    reason: &'static str,
}

/// Every record currently agrees. An entry here must name a real
/// disagreement (a stale entry fails the test) and its reason: a semantic
/// difference between Suricata's session state and RFC 9293 end states, or
/// "suspected engine bug: ...".
const ALLOWED: &[Allowed] = &[];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// Suricata's session state (`tcp.state`) for a connection whose client and
/// server ended in `client` and `server` (RFC 9293 names, as in our
/// `end_state`), `first_fin` being the side whose FIN came first. The client is
/// Suricata's client (the sender of packets "to server"). `None`: a pair the
/// mapping does not cover. The table in docs/suricata.md is this function.
fn suricata_state(client: &str, server: &str, first_fin: Option<Side>) -> Option<&'static str> {
    let Some(first) = first_fin else {
        return match (client, server) {
            // SYN seen, no SYN-ACK.
            ("SYN_SENT", "CLOSED") => Some("syn_sent"),
            ("SYN_SENT", "SYN_RECEIVED") => Some("syn_recv"),
            ("ESTABLISHED", "ESTABLISHED") => Some("established"),
            // Refused, or reset before any FIN.
            ("CLOSED", "CLOSED") => Some("closed"),
            _ => None,
        };
    };
    let (closer, peer) = match first {
        Side::Client => (client, server),
        Side::Server => (server, client),
    };
    // The peer sent neither FIN nor RST.
    let peer_open = matches!(peer, "ESTABLISHED" | "CLOSE_WAIT");
    // The peer sent its FIN too.
    let peer_fin = matches!(peer, "LAST_ACK" | "CLOSING" | "FIN_WAIT_1" | "FIN_WAIT_2");
    match closer {
        // One FIN. Suricata: a FIN to the server moves ESTABLISHED to
        // CLOSE_WAIT at once (acknowledged or not); a FIN to the client moves
        // it to FIN_WAIT1, and the client's ACK of it to FIN_WAIT2.
        "FIN_WAIT_1" | "FIN_WAIT_2" if peer_open => Some(match (first, peer) {
            (Side::Client, _) => "close_wait",
            (Side::Server, "ESTABLISHED") => "fin_wait1",
            (Side::Server, _) => "fin_wait2",
        }),
        // Both FINs, the first closer has not acknowledged the second: the
        // second FIN moved CLOSE_WAIT to LAST_ACK (client first) or
        // FIN_WAIT1/2 to TIME_WAIT (server first), and no ACK followed.
        "FIN_WAIT_1" | "FIN_WAIT_2" | "CLOSING" if peer_fin => Some(match first {
            Side::Client => "last_ack",
            Side::Server => "time_wait",
        }),
        // The first closer acknowledged the second FIN (Suricata: LAST_ACK
        // or TIME_WAIT -> CLOSED on that ACK; FINs resent afterwards are
        // ignored), or an acceptable RST closed both.
        "TIME_WAIT" | "CLOSED" => Some("closed"),
        _ => None,
    }
}

/// The side whose FIN came first in the capture (`evidence.fins`).
fn first_fin(conn: &Value) -> Option<Side> {
    let fins = conn["evidence"]["fins"].as_array()?;
    fins.iter()
        .min_by(|a, b| {
            let key = |f: &Value| packet_ref(conn, &f["first"]);
            key(a).partial_cmp(&key(b)).unwrap()
        })
        .map(|f| match f["side"].as_str().unwrap() {
            "client" => Side::Client,
            "server" => Side::Server,
            other => panic!("fin side {other}"),
        })
}

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("bad address {s:?}: {e}"))
}

/// One flow record Suricata requires, and what we say about that flow.
struct Row {
    case: &'static str,
    tuple: String,
    want: String,
    roles: &'static str,
    first_fin: String,
    client: String,
    server: String,
    class: String,
    predicted: String,
    src_port: u64,
    problem: Option<String>,
}

fn records(case: &'static str) -> Vec<Row> {
    let dir = fixture("suricata").join(case);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let report = analyze_json(&[&dir.join(format!("{case}.pcap"))]);
    let conns = report["connections"].as_array().unwrap();
    let mut rows = Vec::new();
    for (i, check) in expected["checks"].as_array().unwrap().iter().enumerate() {
        let e = &check["expected"];
        let Some(want) = e["tcp.state"].as_str() else {
            continue;
        };
        let count = check["count"].as_u64().unwrap_or(1) as usize;
        let tuples: Vec<(String, u64, String, u64)> = match e["src_ip"].as_str() {
            Some(src) => vec![(
                src.to_string(),
                e["src_port"].as_u64().unwrap(),
                e["dest_ip"].as_str().unwrap().to_string(),
                e["dest_port"].as_u64().unwrap(),
            )],
            None => {
                let pin = PINNED
                    .iter()
                    .find(|p| p.case == case && p.check == i)
                    .unwrap_or_else(|| {
                        panic!("{case} check {i} names no 4-tuple and is not pinned")
                    });
                assert!(!pin.why.is_empty());
                pin.tuples
                    .iter()
                    .map(|t| (t.0.to_string(), t.1, t.2.to_string(), t.3))
                    .collect()
            }
        };
        assert_eq!(tuples.len(), count, "{case} check {i}: count");
        for (sip, sport, dip, dport) in tuples {
            let tuple = format!("{sip} {sport} -> {dip} {dport}");
            let (src, dst) = ((ip(&sip), sport), (ip(&dip), dport));
            // Direction-independent match on the endpoint pair.
            let matching: Vec<(&Value, bool)> = conns
                .iter()
                .filter_map(|c| {
                    let k = conn_key(c);
                    let (cl, sv) = ((ip(&k.0), k.1), (ip(&k.2), k.3));
                    if (cl, sv) == (src, dst) {
                        Some((c, false))
                    } else if (cl, sv) == (dst, src) {
                        Some((c, true))
                    } else {
                        None
                    }
                })
                .collect();
            let mut row = Row {
                case,
                tuple,
                want: want.to_string(),
                roles: "-",
                first_fin: "-".into(),
                client: "-".into(),
                server: "-".into(),
                class: "-".into(),
                predicted: "-".into(),
                src_port: sport,
                problem: None,
            };
            match matching.as_slice() {
                [] => row.problem = Some("no connection with this 4-tuple".into()),
                [(c, swapped)] => {
                    let ours_client = c["end_state"]["client"].as_str().unwrap();
                    let ours_server = c["end_state"]["server"].as_str().unwrap();
                    let fin = first_fin(c);
                    // Suricata's client is its record's src; map in its roles.
                    let (s_client, s_server, s_fin) = if *swapped {
                        (ours_server, ours_client, fin.map(Side::other))
                    } else {
                        (ours_client, ours_server, fin)
                    };
                    let predicted = suricata_state(s_client, s_server, s_fin);
                    row.roles = if *swapped { "swapped" } else { "same" };
                    row.first_fin = fin.map_or("none", Side::name).to_string();
                    row.client = ours_client.to_string();
                    row.server = ours_server.to_string();
                    row.class = c["class"].as_str().unwrap().to_string();
                    row.predicted = predicted.unwrap_or("unmapped").to_string();
                    if predicted != Some(want) {
                        row.problem =
                            Some(format!("we map to {}, Suricata says {want}", row.predicted));
                    }
                }
                more => row.problem = Some(format!("{} connections use this 4-tuple", more.len())),
            }
            rows.push(row);
        }
    }
    rows
}

#[test]
fn suricata_session_states_agree_with_our_end_states() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixture("suricata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "fixtures/suricata/ and CASES differ");

    let rows: Vec<Row> = CASES.iter().flat_map(|c| records(c)).collect();
    let mut table = String::from(
        "case | suricata src -> dest | roles | suricata tcp.state | first FIN | our client | our server | our class | mapped | agree\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "{} | {} | {} | {} | {} | {} | {} | {} | {} | {}\n",
            r.case,
            r.tuple,
            r.roles,
            r.want,
            r.first_fin,
            r.client,
            r.server,
            r.class,
            r.predicted,
            match (&r.problem, allowed(r)) {
                (None, _) => "yes".to_string(),
                (Some(_), Some(a)) => format!("no (allowed: {})", a.reason),
                (Some(p), None) => format!("NO: {p}"),
            }
        ));
    }
    println!("{table}");

    let failures: Vec<String> = rows
        .iter()
        .filter(|r| r.problem.is_some() && allowed(r).is_none())
        .map(|r| format!("{} {}: {}", r.case, r.tuple, r.problem.as_ref().unwrap()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} Suricata records disagree:\n{}\n\n{table}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    for a in ALLOWED {
        assert!(!a.reason.is_empty(), "{} {}: no reason", a.case, a.src_port);
        assert!(
            rows.iter()
                .any(|r| r.case == a.case && r.src_port == a.src_port && r.problem.is_some()),
            "allow-list entry {} {} no longer disagrees: remove it",
            a.case,
            a.src_port
        );
    }
    // Every state the issue names is exercised.
    for state in [
        "close_wait",
        "last_ack",
        "syn_sent",
        "closed",
        "established",
    ] {
        assert!(
            rows.iter().any(|r| r.want == state),
            "no record with tcp.state {state}"
        );
    }
}

fn allowed(r: &Row) -> Option<&'static Allowed> {
    ALLOWED
        .iter()
        .find(|a| a.case == r.case && a.src_port == r.src_port)
}

/// The mapping table of docs/suricata.md, row by row.
#[test]
fn suricata_mapping_matches_the_documented_table() {
    use Side::*;
    let table: &[(&str, &str, Option<Side>, Option<&str>)] = &[
        ("SYN_SENT", "CLOSED", None, Some("syn_sent")),
        ("SYN_SENT", "SYN_RECEIVED", None, Some("syn_recv")),
        ("ESTABLISHED", "ESTABLISHED", None, Some("established")),
        ("CLOSED", "CLOSED", None, Some("closed")),
        (
            "FIN_WAIT_1",
            "ESTABLISHED",
            Some(Client),
            Some("close_wait"),
        ),
        ("FIN_WAIT_2", "CLOSE_WAIT", Some(Client), Some("close_wait")),
        ("FIN_WAIT_1", "CLOSE_WAIT", Some(Client), Some("close_wait")),
        ("ESTABLISHED", "FIN_WAIT_1", Some(Server), Some("fin_wait1")),
        ("CLOSE_WAIT", "FIN_WAIT_2", Some(Server), Some("fin_wait2")),
        ("CLOSE_WAIT", "FIN_WAIT_1", Some(Server), Some("fin_wait2")),
        ("FIN_WAIT_2", "LAST_ACK", Some(Client), Some("last_ack")),
        ("FIN_WAIT_2", "CLOSING", Some(Client), Some("last_ack")),
        ("FIN_WAIT_1", "FIN_WAIT_1", Some(Client), Some("last_ack")),
        ("CLOSING", "CLOSING", Some(Client), Some("last_ack")),
        ("LAST_ACK", "FIN_WAIT_2", Some(Server), Some("time_wait")),
        ("FIN_WAIT_1", "FIN_WAIT_1", Some(Server), Some("time_wait")),
        ("TIME_WAIT", "CLOSED", Some(Client), Some("closed")),
        ("TIME_WAIT", "LAST_ACK", Some(Client), Some("closed")),
        ("CLOSED", "TIME_WAIT", Some(Server), Some("closed")),
        ("TIME_WAIT", "TIME_WAIT", Some(Client), Some("closed")),
        ("CLOSED", "CLOSED", Some(Server), Some("closed")),
        ("ESTABLISHED", "CLOSED", None, None),
    ];
    for &(client, server, fin, want) in table {
        assert_eq!(
            suricata_state(client, server, fin),
            want,
            "{client}/{server}, first FIN {fin:?}"
        );
    }
}

/// fixtures/README.md names every capture copied here.
#[test]
fn every_suricata_capture_is_listed_in_the_fixtures_readme() {
    let readme = std::fs::read_to_string(fixture("README.md")).unwrap();
    for case in CASES {
        assert!(
            readme.contains(&format!("`{case}.pcap`")),
            "fixtures/README.md does not list suricata/{case}/{case}.pcap"
        );
    }
}
