//! `teardown explain`: one connection of the kernel-recorded fixture, in words
//! and as data. The text of each kind is a snapshot (`tests/cli/snapshots/`;
//! `cargo insta review` after a deliberate change).

use serde_json::Value;

use crate::common::*;

fn explain(args: &[&str]) -> (Option<i32>, String, String) {
    run_on_fixture("explain", "kernel/client.pcap", args)
}

fn explained(id: &str) -> String {
    let (code, out, err) = explain(&[id]);
    assert_eq!(code, Some(0), "{err}");
    out
}

#[test]
fn a_reset_is_explained_with_its_rst_marked() {
    let out = explained("76");
    assert!(out.contains("class:  reset"), "{out}");
    insta::assert_snapshot!("reset", out);
}

#[test]
fn a_lost_fin_shows_every_retransmission_of_the_fin() {
    let out = explained("300");
    assert!(out.contains("server FIN, last of 7"), "{out}");
    insta::assert_snapshot!("lost_fin", out);
}

#[test]
fn a_half_closed_hang_shows_the_acknowledged_fin_and_the_silence() {
    insta::assert_snapshot!("half_closed_hang", explained("317"));
}

#[test]
fn a_refused_syn_is_explained() {
    insta::assert_snapshot!("refused", explained("115"));
}

#[test]
fn an_unanswered_syn_shows_its_retransmissions() {
    insta::assert_snapshot!("unanswered", explained("117"));
}

/// A long connection: the packets left out are counted, and the state
/// changes at them still listed.
#[test]
fn an_open_connection_shows_what_was_left_out() {
    let out = explained("1");
    assert!(out.contains("packets left out"), "{out}");
    insta::assert_snapshot!("open", out);
}

#[test]
fn a_clean_close_is_explained() {
    insta::assert_snapshot!("clean", explained("153"));
}

/// `--id` and the trailing id are the same; the JSON has the record of the
/// report and the same packets as the text.
#[test]
fn json_has_the_record_and_the_packets_of_the_text() {
    let (code, out, err) = explain(&["--id", "300", "-f", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["connection"]["id"], 300);
    assert_eq!(v["connection"]["class"], "lost_fin");
    assert_eq!(v["packets_in_connection"], 22);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 22);
    assert_eq!(rows[0]["flags"], "SYN");
    assert_eq!(rows[0]["evidence"][0], "SYN");
    let report = analyze_json(&[&fixture("kernel/client.pcap")]);
    let record = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == 300)
        .unwrap();
    assert_eq!(
        &v["connection"], record,
        "the record differs from the report's"
    );
    assert_eq!(v["diagnoses"][0]["topic"], "lost_fin");
    // The state machine's path, the SYN's on its row.
    assert_eq!(rows[0]["states"][0]["to"], "SYN_SENT");
    let path: Vec<(&str, &str)> = v["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["side"].as_str().unwrap(), t["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        &path[..3],
        &[
            ("client", "SYN_SENT"),
            ("server", "SYN_RECEIVED"),
            ("client", "ESTABLISHED")
        ]
    );
    let last = |side| path.iter().rev().find(|(s, _)| *s == side).unwrap().1;
    assert_eq!(last("client"), v["connection"]["end_state"]["client"]);
    assert_eq!(last("server"), v["connection"]["end_state"]["server"]);
}

#[test]
fn an_unknown_id_exits_2_and_says_so() {
    let (code, out, err) = explain(&["9999"]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(err.contains("no connection with id 9999"), "{err}");
    let (code, _, err) = explain(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("which connection?"), "{err}");
}

#[test]
fn a_connection_of_a_finding_names_the_finding() {
    let (code, out, err) = run_on_fixture("explain", "findings/keepalive-race.pcap", &["8"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("finding keepalive_race: 19 requests"), "{out}");
    insta::assert_snapshot!("keepalive_race", out);
    let (_, json, _) = run_on_fixture(
        "explain",
        "findings/keepalive-race.pcap",
        &["8", "-f", "json"],
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["findings"][0]["name"], "keepalive_race");
}
