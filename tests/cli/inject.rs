//! How real Linux (6.18) answered forged and out-of-sequence segments, recorded
//! by fixtures/inject/record.sh with ground truth (fixtures/inject/NOTES.md):
//! in-window RSTs that are challenged, a RST at RCV.NXT, a SYN and a FIN
//! without ACK on an established connection, a new SYN meeting the old
//! connection in LAST_ACK. Each capture's connections must get the verdicts of
//! its rows of expected.tsv, the flags of `flags` and `new_flags` exactly.

use crate::common::*;
use crate::kernel::check_rows;

/// The cases: each `fixtures/inject/<scenario>.pcap`.
const CASES: &[&str] = &[
    "rst_in_window",
    "rst_at_rcv_nxt",
    "rst_out_of_window",
    "syn_on_established",
    "fin_no_ack_out_of_window",
    "syn_meets_last_ack",
    "rst_in_window_twice",
    "rst_at_fin_close_wait",
];

#[test]
fn every_case_gets_the_verdict_the_receiving_kernel_agrees_with() {
    let rows = read_tsv(&fixture("inject/expected.tsv"));
    let mut seen = 0;
    for case in CASES {
        let mine: Vec<_> = rows
            .iter()
            .filter(|r| r["scenario"] == *case)
            .cloned()
            .collect();
        assert!(!mine.is_empty(), "{case}: no rows in expected.tsv");
        seen += mine.len();
        let report = analyze_json(&[&fixture(&format!("inject/{case}.pcap"))]);
        check_rows(&report, &mine, &["flags", "new_flags"], true);
    }
    assert_eq!(seen, rows.len(), "a row of expected.tsv names no case");
}

/// The RST that ends the old connection in LAST_ACK (frame 19) and the
/// challenge ACK it answers (frame 18) are in the old sequence space: they
/// belong to the old connection, and the new one opens at its first SYN
/// (frame 17), which the old socket challenged.
#[test]
fn a_syn_meeting_last_ack_leaves_the_challenge_and_its_rst_to_the_old_connection() {
    let report = analyze_json(&[&fixture("inject/syn_meets_last_ack.pcap")]);
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2);
    let (old, new) = (&conns[0], &conns[1]);
    assert_eq!(old["id"], 1);
    assert_eq!(new["id"], 17);
    let rsts = old["evidence"]["rsts"].as_array().unwrap();
    assert_eq!(rsts.len(), 1);
    assert_eq!(rsts[0]["side"], "client");
    assert_eq!(rsts[0]["at"][0], 19);
    assert_eq!(rsts[0]["valid"], true);
    assert!(new["evidence"].get("rsts").is_none(), "{}", new["evidence"]);
    assert_eq!(new["evidence"]["syn_transmissions"]["client"], 2);
}

/// The two forged RSTs of rst_in_window_twice (frames 8 and 10) are kept as
/// evidence, challenged: the second got no challenge ACK (Linux's 500 ms
/// per-socket limit) and was ignored all the same.
#[test]
fn challenged_rsts_are_in_the_evidence() {
    let report = analyze_json(&[&fixture("inject/rst_in_window_twice.pcap")]);
    let rsts = report["connections"][0]["evidence"]["rsts"]
        .as_array()
        .unwrap()
        .clone();
    let at: Vec<_> = rsts.iter().map(|r| r["at"][0].clone()).collect();
    assert_eq!(at, [8, 10]);
    for r in &rsts {
        assert_eq!(r["valid"], false);
        assert_eq!(r["challenged"], true);
    }
    // A RST far outside the window is not challenged (the key is absent).
    let report = analyze_json(&[&fixture("inject/rst_out_of_window.pcap")]);
    let r = &report["connections"][0]["evidence"]["rsts"][0];
    assert_eq!(r["valid"], false);
    assert!(r.get("challenged").is_none(), "{r}");
}
