//! The output does not depend on the number of threads: connections are sorted
//! by a stable key and JSON is written in order.

use crate::common::*;

fn json_with_threads(inputs: &[&str], threads: &str) -> Vec<u8> {
    let mut args = vec!["analyze", "--format", "json", "-j", threads];
    args.extend_from_slice(inputs);
    success(run(&args, None))
}

/// Up to three threads the reading thread decodes every segment; from four on
/// it locates those it can and the workers decode them, and a segment it
/// cannot locate (in a VLAN, a tunnel) is still decoded by the reading thread:
/// the last case mixes both, across two inputs.
#[test]
fn one_to_eight_threads_give_byte_identical_reports() {
    let kernel = fixture("kernel/client.pcap");
    let server = fixture("kernel/server-any-s96.pcap");
    let rot0 = fixture("kernel/client-rot0.pcap");
    let rot1 = fixture("kernel/client-rot1.pcap");
    let many = fixture("formats/many_interfaces-1.pcapng");
    let vlan = fixture("suricata/bug-814/bug-814.pcap");
    let cases: Vec<Vec<&str>> = vec![
        vec![kernel.to_str().unwrap()],
        vec![server.to_str().unwrap()],
        vec![rot0.to_str().unwrap(), rot1.to_str().unwrap()],
        vec![many.to_str().unwrap()],
        vec![vlan.to_str().unwrap(), server.to_str().unwrap()],
    ];
    for inputs in cases {
        let one = json_with_threads(&inputs, "1");
        assert!(one.len() > 100);
        for threads in ["2", "3", "4", "8"] {
            assert!(
                json_with_threads(&inputs, threads) == one,
                "{inputs:?}: -j {threads} differs from -j 1"
            );
        }
    }
}

/// With many threads a worker's batch is cut to its share of a tick (about
/// 1,150 segments at `-j 16`), so these captures fill and send batches of that
/// size as well as partial ones; the reading thread's own shard has no
/// partitions from five threads on, and it locates segments for the workers
/// to decode.
#[test]
fn sixteen_threads_give_the_report_of_one() {
    let flood = fixture("load/pkt.TCP.synflood.spoofed.pcap");
    let churn = fixture("churn/churn.pcap");
    for input in [flood.to_str().unwrap(), churn.to_str().unwrap()] {
        let one = json_with_threads(&[input], "1");
        assert!(one.len() > 100_000);
        assert!(
            json_with_threads(&[input], "16") == one,
            "{input}: -j 16 differs from -j 1"
        );
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

/// The churn fixture (a little-endian microsecond pcap, 600 connections) with
/// its records repeated 17 times, each copy 100 s after the one before: 9 MB,
/// large enough to be read ahead (8 MiB and more).
fn big_capture() -> Vec<u8> {
    let churn = std::fs::read(fixture("churn/churn.pcap")).unwrap();
    assert_eq!(&churn[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let (header, records) = churn.split_at(24);
    let mut out = header.to_vec();
    for copy in 0..17 {
        let mut rest = records;
        while !rest.is_empty() {
            let caplen = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
            let (record, tail) = rest.split_at(16 + caplen);
            let ts = u32::from_le_bytes(record[..4].try_into().unwrap()) + copy * 100;
            out.extend_from_slice(&ts.to_le_bytes());
            out.extend_from_slice(&record[4..]);
            rest = tail;
        }
    }
    assert!(
        out.len() > 8 << 20,
        "{} bytes: too small to be read ahead",
        out.len()
    );
    out
}

/// Large files and compressed inputs are read by a thread of their own when
/// more than one thread is used (`Source::read_ahead`); small fixtures never
/// are. The report must not change, for a whole file, a file cut inside a
/// record, a gzip stream on standard input, standard input redirected from a
/// file, and the HTML page (whose ladders read the file again).
#[test]
fn reading_ahead_on_a_thread_of_its_own_changes_nothing_in_the_report() {
    let big = big_capture();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("big.pcap");
    std::fs::write(&whole, &big).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &big[..(8 << 20) + 7]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &big).unwrap();
    let gz = gz.finish().unwrap();

    for path in [&whole, &cut] {
        let one = json_with_threads(&[path.to_str().unwrap()], "1");
        let two = json_with_threads(&[path.to_str().unwrap()], "2");
        assert!(one == two, "{}: -j 2 differs from -j 1", path.display());
        if path == &cut {
            assert!(String::from_utf8_lossy(&one).contains("truncated record"));
        }
    }
    // The HTML page reads the file a second time for its ladders, ahead too.
    let page = |j: &str| {
        let args = [
            "analyze",
            "--format",
            "html",
            "-j",
            j,
            whole.to_str().unwrap(),
        ];
        success(run(&args, None))
    };
    let (one, two) = (page("1"), page("2"));
    assert!(one.len() > 10_000 && one == two, "-j 2 page differs");
    let plain: serde_json::Value =
        serde_json::from_slice(&json_with_threads(&[whole.to_str().unwrap()], "1")).unwrap();
    assert_eq!(plain["summary"]["connections"], 17 * 600);
    let out = success(run(
        &["analyze", "--format", "json", "-j", "2", "-"],
        Some(&gz),
    ));
    let piped: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(piped["inputs"][0]["compression"], "gzip");
    assert!(
        piped["connections"] == plain["connections"],
        "gzip on stdin differs"
    );
    assert_eq!(piped["summary"], plain["summary"]);

    // Standard input redirected from a file is read as a file (ahead too),
    // from where its offset stands: here past 1000 bytes of something else.
    let prefixed = dir.path().join("prefixed.bin");
    std::fs::write(&prefixed, [vec![0xee; 1000], big.clone()].concat()).unwrap();
    let mut file = std::fs::File::open(&prefixed).unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(1000)).unwrap();
    let out = teardown()
        .args(["analyze", "--format", "json", "-j", "2", "-"])
        .stdin(file)
        .output()
        .unwrap();
    let redirected: serde_json::Value = serde_json::from_slice(&success(out)).unwrap();
    assert!(
        redirected["connections"] == plain["connections"],
        "stdin from a file differs"
    );
    assert_eq!(redirected["inputs"][0]["path"], "-");
}

/// Regression: with the read-ahead thread, a large capture on two threads
/// needed more than 512 MiB of address space (each thread that touched the C
/// library's malloc reserved a 64 MiB glibc arena), so under `ulimit -v` it
/// aborted; mimalloc now serves the C library's allocations too.
#[test]
fn a_large_capture_on_two_threads_runs_within_512_mib_of_address_space() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.pcap");
    std::fs::write(&big, big_capture()).unwrap();
    for format in ["json", "html"] {
        let out = teardown_limited(None)
            .args(["analyze", "-j", "2", "--format", format, "-o", "/dev/null"])
            .arg(&big)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Regression: every thread's allocator maps segments of its own (32 MiB of
/// address space each), so under `ulimit -v 524288` seven threads or more
/// aborted in glibc ("failed to register TLS destructor"), and the default is
/// all cores. The thread count is now fitted to the limit, with a warning when
/// a `-j` given is reduced, and the report is the same.
#[test]
fn many_threads_under_an_address_space_limit_are_reduced_to_what_fits() {
    let fixture = fixture("churn/churn.pcap");
    let one = json_with_threads(&[fixture.to_str().unwrap()], "1");
    let out = teardown_limited(None)
        .args(["analyze", "-j", "16", "--format", "json"])
        .arg(&fixture)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("-j 16 reduced to 4: the address-space limit (ulimit -v) of 512 MiB"),
        "{stderr}"
    );
    assert!(out.stdout == one, "the report differs from -j 1's");
}
