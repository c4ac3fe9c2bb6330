//! The output does not depend on the number of threads: connections are sorted
//! by a stable key and JSON is written in order.

use crate::common::*;

fn json_with_threads(inputs: &[&str], threads: &str) -> Vec<u8> {
    let mut args = vec!["analyze", "--format", "json", "-j", threads];
    args.extend_from_slice(inputs);
    let out = run(&args, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn one_two_and_three_threads_give_byte_identical_reports() {
    let kernel = fixture("kernel/client.pcap");
    let server = fixture("kernel/server-any-s96.pcap");
    let rot0 = fixture("kernel/client-rot0.pcap");
    let rot1 = fixture("kernel/client-rot1.pcap");
    let many = fixture("formats/many_interfaces-1.pcapng");
    let cases: Vec<Vec<&str>> = vec![
        vec![kernel.to_str().unwrap()],
        vec![server.to_str().unwrap()],
        vec![rot0.to_str().unwrap(), rot1.to_str().unwrap()],
        vec![many.to_str().unwrap()],
    ];
    for inputs in cases {
        let one = json_with_threads(&inputs, "1");
        assert!(one.len() > 100);
        for threads in ["2", "3"] {
            assert!(
                json_with_threads(&inputs, threads) == one,
                "{inputs:?}: -j {threads} differs from -j 1"
            );
        }
    }
}

#[test]
fn ndjson_is_identical_across_thread_counts() {
    let kernel = fixture("kernel/client.pcap");
    let run_nd = |j: &str| {
        run(
            &[
                "analyze",
                "--format",
                "ndjson",
                "-j",
                j,
                kernel.to_str().unwrap(),
            ],
            None,
        )
        .stdout
    };
    assert_eq!(run_nd("1"), run_nd("2"));
}

#[test]
fn zero_threads_is_a_usage_error() {
    let kernel = fixture("kernel/client.pcap");
    let out = run(&["analyze", "-j", "0", kernel.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
}

/// Regression: the cap on tracked connections was split between the threads, so
/// once it was reached, which connections were evicted (and where their
/// observation ended) depended on `-j`.
#[test]
fn evictions_under_the_connection_cap_are_the_same_for_any_thread_count() {
    let flood = fixture("load/pkt.TCP.synflood.spoofed.pcap");
    let flood = flood.to_str().unwrap();
    let report = |j: &str| {
        let out = run(
            &[
                "analyze",
                "-f",
                "json",
                "-q",
                "--max-connections",
                "1000",
                "-j",
                j,
                flood,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0));
        out.stdout
    };
    let one = report("1");
    let v: serde_json::Value = serde_json::from_slice(&one).unwrap();
    assert!(v["summary"]["evicted"].as_u64().unwrap() > 30_000);
    for j in ["2", "3"] {
        assert!(report(j) == one, "-j {j} differs from -j 1");
    }
}
