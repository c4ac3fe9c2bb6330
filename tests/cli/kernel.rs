//! Real kernel teardowns recorded by fixtures/kernel/record.sh (network
//! namespaces, veth, small socket programs, iptables): every connection gets the
//! class, flags, end states and closer the scenario was built to produce, from
//! both vantage points, whatever the container.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// Compares a report with an expected.tsv (see fixtures/kernel/NOTES.md).
fn check_expected(report: &Value, expected: &Path) {
    check_rows(report, &read_tsv(expected), &["flags"], false);
}

/// Compares a report with rows of an expected.tsv, one row a connection:
/// class, the flags of the columns `flag_columns` (every one present; with
/// `exact_flags`, no other), end states (`?` for either) and closer.
pub fn check_rows(
    report: &Value,
    rows: &[std::collections::HashMap<String, String>],
    flag_columns: &[&str],
    exact_flags: bool,
) {
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), rows.len(), "connection count");
    let mut failures = Vec::new();
    for r in rows {
        let key = (
            r["client_ip"].clone(),
            r["client_port"].parse::<u64>().unwrap(),
            r["server_ip"].clone(),
            r["server_port"].parse::<u64>().unwrap(),
        );
        let occurrence: usize = r["occurrence"].parse().unwrap();
        let Some(c) = conns
            .iter()
            .filter(|c| conn_key(c) == key)
            .nth(occurrence - 1)
        else {
            failures.push(format!("{}#{occurrence}: missing", r["scenario"]));
            continue;
        };
        let mut why = Vec::new();
        if c["class"] != r["class"].as_str() {
            why.push(format!("class {} (want {})", c["class"], r["class"]));
        }
        let want: Vec<&str> = flag_columns
            .iter()
            .flat_map(|col| r[*col].split(','))
            .filter(|f| *f != "-")
            .collect();
        let has = c["flags"].as_array().unwrap();
        for f in &want {
            if !has.iter().any(|x| x == f) {
                why.push(format!("lacks flag {f} (has {})", c["flags"]));
            }
        }
        if exact_flags {
            for f in has {
                if !want.iter().any(|w| f == w) {
                    why.push(format!("has flag {f} (want only {want:?})"));
                }
            }
        }
        for (side, col) in [
            ("client", "client_end_state"),
            ("server", "server_end_state"),
        ] {
            if r[col] != "?" && c["end_state"][side] != r[col].as_str() {
                why.push(format!(
                    "{side} state {} (want {})",
                    c["end_state"][side], r[col]
                ));
            }
        }
        if c["closed_by"] != r["closed_by"].as_str() {
            why.push(format!(
                "closed_by {} (want {})",
                c["closed_by"], r["closed_by"]
            ));
        }
        if !why.is_empty() {
            failures.push(format!(
                "{}#{occurrence}: {}",
                r["scenario"],
                why.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} connections wrong:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn client_side_pcap_gets_every_scenario_right() {
    let report = analyze_json(&[&fixture("kernel/client.pcap")]);
    check_expected(&report, &fixture("kernel/expected.tsv"));
}

#[test]
fn client_side_pcapng_gets_every_scenario_right() {
    let report = analyze_json(&[&fixture("kernel/client.pcapng")]);
    check_expected(&report, &fixture("kernel/expected.tsv"));
}

#[test]
fn server_side_sll2_snaplen_96_gets_every_scenario_right() {
    let report = analyze_json(&[&fixture("kernel/server-any-s96.pcap")]);
    assert_eq!(report["inputs"][0]["link_types"][0]["name"], "LINUX_SLL2");
    check_expected(&report, &fixture("kernel/expected-server-any-s96.tsv"));
}

#[test]
fn payload_lengths_come_from_the_ip_header_under_a_short_snaplen() {
    let full = analyze_json(&[&fixture("kernel/client.pcap")]);
    let cut = analyze_json(&[&fixture("kernel/server-any-s96.pcap")]);
    let bytes = |r: &Value| -> Vec<(u64, u64)> {
        r["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["bytes"]["client"].as_u64().unwrap(),
                    c["bytes"]["server"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(bytes(&full), bytes(&cut));
}

#[test]
fn the_same_traffic_in_every_container_gives_the_same_connections() {
    let pcap = fixture("kernel/client.pcap");
    let baseline = analyze_json(&[&pcap]);
    let want = connection_identities(&baseline);
    assert_eq!(want.len(), 30);

    let raw = std::fs::read(&pcap).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Compressed files are recognised by their magic bytes, not their names.
    let gz = dir.path().join("capture-gzip.bin");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let zst = dir.path().join("capture-zstd.bin");
    std::fs::write(&zst, zstd::encode_all(&raw[..], 3).unwrap()).unwrap();

    let variants: Vec<(&str, Value)> = vec![
        ("pcapng", analyze_json(&[&fixture("kernel/client.pcapng")])),
        ("gzip", analyze_json(&[&gz])),
        ("zstd", analyze_json(&[&zst])),
        (
            "rotated pair",
            analyze_json(&[
                &fixture("kernel/client-rot0.pcap"),
                &fixture("kernel/client-rot1.pcap"),
            ]),
        ),
        (
            "rotated pair given in reverse order",
            analyze_json(&[
                &fixture("kernel/client-rot1.pcap"),
                &fixture("kernel/client-rot0.pcap"),
            ]),
        ),
    ];
    for (name, report) in &variants {
        assert_eq!(connection_identities(report), want, "{name}");
    }
    assert_eq!(variants[1].1["inputs"][0]["compression"], "gzip");
    assert_eq!(variants[2].1["inputs"][0]["compression"], "zstd");

    // Standard input, plain and compressed, streamed through a pipe.
    for data in [raw.clone(), std::fs::read(&zst).unwrap()] {
        let out = run(&["analyze", "--format", "json", "-"], Some(&data));
        assert_eq!(out.status.code(), Some(0));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(connection_identities(&report), want, "stdin");
    }
}

#[test]
fn the_server_side_capture_sees_the_same_connections() {
    let client = analyze_json(&[&fixture("kernel/client.pcap")]);
    let server = analyze_json(&[&fixture("kernel/server-any-s96.pcap")]);
    let keys = |r: &Value| -> Vec<_> {
        r["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(conn_key)
            .collect()
    };
    assert_eq!(keys(&client), keys(&server));
}

#[test]
fn a_directory_is_read_as_its_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("kernel/client-rot0.pcap"),
        dir.path().join("a.pcap"),
    )
    .unwrap();
    std::fs::copy(
        fixture("kernel/client-rot1.pcap"),
        dir.path().join("b.pcap"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a capture").unwrap();
    let out = run(
        &["analyze", "--format", "json", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(report["connections"].as_array().unwrap().len(), 30);
    assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt: skipped"));
}

#[test]
fn reuse_records_the_previous_connection_and_the_time_wait_holder() {
    let report = analyze_json(&[&fixture("kernel/client.pcap")]);
    let conns = report["connections"].as_array().unwrap();
    for (port, holder) in [(41017, "server"), (41018, "client")] {
        let reused: Vec<&Value> = conns
            .iter()
            .filter(|c| crate::common::port(&c["client"]) == port && c["reuse"].is_object())
            .collect();
        assert_eq!(reused.len(), 2, "port {port}");
        for c in reused {
            let prev = c["reuse"]["previous"].as_u64().unwrap();
            let prev_conn = conns.iter().find(|p| p["id"] == prev).unwrap();
            // The previous connection began earlier and ended at this one's SYN,
            // so it comes first in the report.
            assert!(prev < c["id"].as_u64().unwrap());
            assert!(prev_conn["last_ts"].as_f64() <= c["first_ts"].as_f64());
            assert_eq!(crate::common::port(&prev_conn["client"]), port);
            assert_eq!(c["reuse"]["time_wait_side"], holder);
            let gap = c["reuse"]["gap"].as_f64().unwrap();
            assert!(gap > 0.0 && gap < 60.0, "gap {gap}");
            // The kernel did accept it: a newer TSval (with the TIME_WAIT
            // on the client, an outgoing reuse, nothing else would do).
            assert_eq!(c["reuse"]["ts_advanced"], true, "the kernel did accept it");
        }
    }
}
