//! Findings (issue 32) on real captures: each recording of `fixtures/findings/`
//! yields the one finding its ground truth (`expected.tsv`) names, with its
//! count, host and ports, and no fixture yields a finding it should not
//! (`every_fixture_s_findings` lists them all).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// The finding this project names for each case of `expected.tsv`, and the
/// one the recording's notes call it by.
fn ours(expected: &str) -> Option<&'static str> {
    match expected {
        "keepalive_race" => Some("keepalive_race"),
        "idle_timeout_middlebox" => Some("idle_timeout"),
        "listen_queue_overflow" => Some("listen_queue_overflow"),
        "peer_vanished_keepalive" => Some("peer_vanished_keepalive"),
        "peer_vanished_retransmissions" => Some("peer_vanished_retransmissions"),
        "zero_window_stall" => Some("zero_window_stall"),
        "fin_wait_1_pileup" => Some("fin_wait_1_pileup"),
        "port_reuse" => Some("port_reuse"),
        "none" => None,
        other => panic!("expected.tsv names an unknown finding {other}"),
    }
}

/// `41001,41002` or `42000-42019` as a set of ports.
fn ports(list: &str) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<u64>().unwrap()..=b.parse().unwrap()),
            None => {
                out.insert(part.parse().unwrap());
            }
        }
    }
    out
}

#[test]
fn each_recorded_cause_yields_its_finding_with_the_right_count_and_nothing_else() {
    let dir = fixture("findings");
    for case in read_tsv(&dir.join("expected.tsv")) {
        let report = analyze_json(&[Path::new(&dir.join(&case["file"]))]);
        let findings = report["findings"].as_array().unwrap();
        let name = &case["case"];
        let Some(want) = ours(&case["finding"]) else {
            assert!(findings.is_empty(), "{name}: {findings:?}");
            continue;
        };
        assert_eq!(findings.len(), 1, "{name}: {findings:#?}");
        let f = &findings[0];
        assert_eq!(f["name"], want, "{name}");
        let count: u64 = case["count"].parse().unwrap();
        assert_eq!(f["connections"], count, "{name}: {}", f["summary"]);
        assert_eq!(f["host"], case["server"].as_str(), "{name}");
        // Every reuse accepted: worth knowing, not a failure.
        assert_eq!(f["problem"], want != "port_reuse", "{name}");
        // The evidence: connections of the named client ports, as many as
        // the finding has, up to 20.
        let expected_ports = ports(&case["ports"]);
        let by_id: std::collections::HashMap<u64, &Value> = report["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_u64().unwrap(), c))
            .collect();
        let evidence = f["evidence"].as_array().unwrap();
        assert_eq!(evidence.len() as u64, count.min(20), "{name}");
        for id in evidence {
            let c = by_id[&id.as_u64().unwrap()];
            let port = endpoint(&c["client"]).1;
            assert!(expected_ports.contains(&port), "{name}: port {port}");
        }
    }
}

#[test]
fn the_middlebox_s_resets_are_told_by_their_ttl() {
    let report = analyze_json(&[&fixture("findings/idle-timeout.pcap")]);
    let f = &report["findings"][0];
    assert_eq!(f["values"]["rst_ttl"], 64.0);
    assert_eq!(f["values"]["endpoint_ttl"], 63.0);
    assert!((f["values"]["idle_s"].as_f64().unwrap() - 5.0).abs() < 0.05);
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains("TTL 64 where its packets had 63"),
        "{summary}"
    );
}

#[test]
fn a_client_cycling_its_ports_is_weighed_against_its_port_range() {
    let capture = fixture("findings/port-reuse.pcap");
    let report = analyze_json(&[&capture]);
    let f = &report["findings"][0];
    assert_eq!(f["values"]["ports"], 5.0);
    assert_eq!(f["values"]["unsafe_reuses"], 0.0);
    assert_eq!(f["problem"], false);
    // Five ports of a 10-port range: one parity's five are all in use.
    let out = success(run(
        &[
            "analyze",
            "-f",
            "json",
            "--port-range",
            "30000-30009",
            capture.to_str().unwrap(),
        ],
        None,
    ));
    let v: Value = serde_json::from_slice(&out).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["problem"], true);
    assert!(
        f["summary"].as_str().unwrap().contains("near exhaustion"),
        "{}",
        f["summary"]
    );
    let (code, _, err) = run_on_fixture(
        "analyze",
        "findings/port-reuse.pcap",
        &["--port-range", "9-1"],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("not a port range"), "{err}");
}

#[test]
fn the_keep_alive_race_names_the_server_s_timeout() {
    let report = analyze_json(&[&fixture("findings/keepalive-race.pcap")]);
    let f = &report["findings"][0];
    let idle = f["values"]["server_idle_min_s"].as_f64().unwrap();
    assert!((1.99..2.01).contains(&idle), "{idle}");
    assert!(f["values"]["race_max_s"].as_f64().unwrap() < 0.1);
}

#[test]
fn check_fails_on_a_finding_and_holds_without_it() {
    let rule = ["--fail-on", "finding:keepalive_race"];
    let (code, out, _) = run_on_fixture("check", "findings/keepalive-race.pcap", &rule);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAILED  fail-on finding:keepalive_race"),
        "{out}"
    );
    let (code, out, _) = run_on_fixture("check", "findings/baseline.pcap", &rule);
    assert_eq!(code, Some(0), "{out}");
    let (code, _, err) = run_on_fixture(
        "check",
        "findings/baseline.pcap",
        &["--fail-on", "finding:nope"],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("finding:keepalive_race"), "{err}");
}

#[test]
fn findings_lead_the_text_summary() {
    let (code, out, _) = run_on_fixture("analyze", "findings/fin-wait-1.pcap", &[]);
    assert_eq!(code, Some(0));
    let finding = out.find("fin_wait_1_pileup:").expect("the finding");
    let counts = out.find("connections\n").expect("the counts");
    assert!(finding < counts, "{out}");
}

/// Every fixture's findings, one line each: a new finding on a capture that
/// has none is a deliberate change of this snapshot.
#[test]
fn every_fixture_s_findings() {
    let mut files = Vec::new();
    collect(&fixture(""), &mut files);
    files.sort();
    let mut out = String::new();
    for f in files {
        let o = teardown()
            .args(["analyze", "-q", "-f", "json"])
            .arg(&f)
            .output()
            .unwrap();
        let Ok(v) = serde_json::from_slice::<Value>(&o.stdout) else {
            continue;
        };
        let rel = f.strip_prefix(fixture("")).unwrap().display().to_string();
        let findings = v["findings"].as_array().unwrap();
        if findings.is_empty() {
            out.push_str(&format!("{rel}: none\n"));
        }
        for finding in findings {
            out.push_str(&format!(
                "{rel}: {} {} on {}\n",
                finding["name"].as_str().unwrap(),
                finding["connections"],
                finding["host"].as_str().unwrap()
            ));
        }
    }
    insta::assert_snapshot!("every_fixture", out);
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if let Some(name) = p.file_name().and_then(|n| n.to_str())
            && (name.contains(".pcap") || name.ends_with(".cap"))
        {
            out.push(p);
        }
    }
}
