//! Malformed files (fixtures/bad/, from libpcap's, tcpdump's, suricata-verify's
//! and pcap-parser's test suites): a clear message naming the file and offset,
//! what was read before the problem still reported, exit 0 or 2, never a panic,
//! never a hang, never an allocation sized by a field of the file.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

struct Case {
    file: &'static str,
    code: i32,
    /// Substrings stderr must contain (the file name is always required).
    stderr: &'static [&'static str],
    /// Packet records the report must show as read (for exit 0).
    packets: u64,
}

const CASES: &[Case] = &[
    Case {
        file: "caplen-1.4GB.pcap",
        code: 0,
        stderr: &["offset 228", "1409179648", "1 packets before it"],
        packets: 1,
    },
    Case {
        file: "empty.pcapng",
        code: 0,
        stderr: &[],
        packets: 0,
    },
    Case {
        file: "err-eof.bin",
        code: 2,
        stderr: &["not a pcap or pcapng capture"],
        packets: 0,
    },
    Case {
        file: "linktype-reserved-field-not-zero.pcap",
        code: 0,
        stderr: &["offset 20", "reserved bits"],
        packets: 0,
    },
    Case {
        file: "pcap-invalid-version-1.pcap",
        code: 2,
        stderr: &["unsupported pcap version 1"],
        packets: 0,
    },
    Case {
        file: "pcapng-invalid-vers-1.pcapng",
        code: 2,
        stderr: &["unsupported pcapng version 0.1"],
        packets: 0,
    },
    Case {
        file: "shb-option-too-long.pcapng",
        code: 0,
        stderr: &[
            "offset 0",
            "section header options are malformed",
            "packet 1 (offset 84)",
        ],
        packets: 0,
    },
    Case {
        file: "tcp_header_heapoverflow.pcap",
        code: 0,
        stderr: &[],
        packets: 1,
    },
    Case {
        file: "tcp_rst_data-trunc.pcap",
        code: 0,
        stderr: &[],
        packets: 1,
    },
    Case {
        file: "truncated-last-record.pcap",
        code: 0,
        stderr: &["offset 5035", "6 packets before it"],
        packets: 6,
    },
    Case {
        file: "ts-backwards-1h.pcap",
        code: 0,
        stderr: &["packet 5 (offset 314)", "goes back 3599.999 s"],
        packets: 16,
    },
    Case {
        file: "ts-tsoffset-huge.pcapng",
        code: 0,
        stderr: &["packet 1 (offset 64)", "timestamp out of range"],
        packets: 8,
    },
    Case {
        file: "ts-tsresol-0.pcapng",
        code: 0,
        stderr: &["packet 1 (offset 60)", "timestamp out of range"],
        packets: 8,
    },
    Case {
        // A 2 GiB zstd window cannot be allocated under the 512 MiB limit
        // (without it the file reads, tests/cli/formats.rs).
        file: "zstd-long31.pcap.zst",
        code: 2,
        stderr: &["Allocation error", "zstd -d --long=31"],
        packets: 0,
    },
];

/// Runs under a 512 MiB address-space limit, so an allocation sized by a length
/// field (1.4 GB, 4 GB) fails the test instead of passing quietly.
fn run_limited(path: &str) -> (Option<i32>, String, Vec<u8>, Duration) {
    let start = Instant::now();
    let out = teardown_limited(None)
        .args(["analyze", "--format", "json", path])
        .stdin(Stdio::null())
        .output()
        .expect("run teardown");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.stdout,
        start.elapsed(),
    )
}

#[test]
fn every_bad_file_gets_a_clear_message_and_a_proper_exit_code() {
    let dir = fixture("bad");
    let listed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "README.md")
        .collect();
    for name in &listed {
        assert!(
            CASES.iter().any(|c| c.file == name),
            "no expectation for fixtures/bad/{name}"
        );
    }
    for case in CASES {
        let path = dir.join(case.file);
        let (code, stderr, stdout, took) = run_limited(path.to_str().unwrap());
        assert_eq!(
            code,
            Some(case.code),
            "{}: exit code; stderr: {stderr}",
            case.file
        );
        assert!(
            !stderr.contains("panicked"),
            "{}: panic: {stderr}",
            case.file
        );
        assert!(
            took < Duration::from_secs(20),
            "{}: took {took:?}",
            case.file
        );
        if !stderr.is_empty() {
            assert!(
                stderr.contains(case.file),
                "{}: message does not name the file: {stderr}",
                case.file
            );
        }
        for needle in case.stderr {
            assert!(
                stderr.contains(needle),
                "{}: stderr lacks {needle:?}: {stderr}",
                case.file
            );
        }
        // A report is written even when the input is unreadable.
        let report: Value = serde_json::from_slice(&stdout)
            .unwrap_or_else(|e| panic!("{}: bad JSON: {e}", case.file));
        assert_eq!(
            report["inputs"][0]["packets"], case.packets,
            "{}",
            case.file
        );
        if case.code == 2 {
            assert!(
                report["inputs"][0]["error"].is_string(),
                "{}: error not in report",
                case.file
            );
        }
    }
}

#[test]
fn timestamps_going_back_or_out_of_range_warn_once_per_input() {
    // Two jumps back by an hour in one file; every timestamp of the pcapng
    // files out of range (make_edges.py). One warning each, in the report and
    // on stderr, whatever the number of packets concerned.
    let files = [
        "bad/ts-backwards-1h.pcap",
        "bad/ts-tsresol-0.pcapng",
        "bad/ts-tsoffset-huge.pcapng",
    ];
    let paths: Vec<String> = files
        .iter()
        .map(|f| fixture(f).to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["analyze", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (file, input) in files.iter().zip(report["inputs"].as_array().unwrap()) {
        let warnings: Vec<&str> = input["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["message"].as_str().unwrap())
            .filter(|m| m.contains("timestamp"))
            .collect();
        assert_eq!(warnings.len(), 1, "{file}: {warnings:?}");
        let lines = stderr
            .lines()
            .filter(|l| l.contains(file) && l.contains("timestamp"))
            .count();
        assert_eq!(lines, 1, "{file}: {stderr}");
    }
}

#[test]
fn a_bad_file_does_not_stop_the_others() {
    let out = run(
        &[
            "analyze",
            "--format",
            "json",
            fixture("bad/err-eof.bin").to_str().unwrap(),
            fixture("formats/one_tcp_stream.pcap").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "an unreadable input exits 2");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["connections"].as_array().unwrap().len(), 1);
    assert_eq!(report["inputs"].as_array().unwrap().len(), 2);
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let out = run(
        &["analyze", "--format", "json", "no/such/capture.pcap"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/capture.pcap"));
}

#[test]
fn a_capture_cut_at_every_offset_never_panics() {
    // A real capture truncated inside headers, records and payloads.
    let data = std::fs::read(fixture("formats/one_tcp_stream.pcap")).unwrap();
    for cut in (0..data.len())
        .step_by(97)
        .chain([1, 23, 24, 25, 39, 40, 41])
    {
        let out = run(
            &["analyze", "--format", "json", "-"],
            Some(&data[..cut.min(data.len())]),
        );
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(2),
            "cut at {cut}: exit {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
