//! The whole pipeline: arbitrary bytes as a capture file → analysis → the JSON,
//! NDJSON, text, conn.log and HTML renderers (the page reads the file again
//! for its ladder diagrams). The analysis takes paths, so the bytes go to a file
//! in the temporary directory (one per fuzzing process).
//!
//! Checked beyond "no panic": the JSON is valid, and the report collected on one
//! thread and the ones streamed by two and by four threads (as the command line
//! writes them) are the same bytes (output never depends on the thread count,
//! evictions included; from four threads on the reading thread locates the
//! segments it can and the shards decode them).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tcp_teardown::internals::{html, json, text, zeek};
use tcp_teardown::{Format, Options, analyze, render};

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        // /dev/shm keeps the per-input write off the disk where it exists.
        let dir = PathBuf::from("/dev/shm");
        let dir = if dir.is_dir() {
            dir
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("tcp-teardown-fuzz-{}.pcap", std::process::id()))
    })
}

fn options(threads: usize, max_connections: usize) -> Options {
    Options {
        threads,
        max_connections,
        ..Options::new(vec![scratch().clone()])
    }
}

/// The collected report through every renderer; its JSON.
fn run(threads: usize, max_connections: usize) -> Vec<u8> {
    let analysis = analyze(&options(threads, max_connections));
    let mut out = Vec::new();
    json::write_json(&analysis.report, &mut out).expect("JSON to a Vec");
    serde_json::from_slice::<serde_json::Value>(&out).expect("the JSON report is valid JSON");
    let mut nd = Vec::new();
    json::write_ndjson(&analysis.report, &mut nd).expect("NDJSON to a Vec");
    for line in nd.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(line).expect("each NDJSON line is valid JSON");
    }
    let mut txt = Vec::new();
    text::write_text(&analysis.report, &mut txt).expect("text to a Vec");
    let mut log = Vec::new();
    zeek::write_conn_log(&analysis.report, &mut log).expect("conn.log to a Vec");
    let mut page = Vec::new();
    let inputs = html::report_inputs(&analysis.report);
    html::write_html(&analysis.report, &inputs, &mut page).expect("HTML to a Vec");
    out
}

/// What `teardown analyze --format json` does: the connections streamed while
/// the capture is read, serialized by the shards.
fn streamed(threads: usize, max_connections: usize) -> Vec<u8> {
    let mut out = Vec::new();
    render(Format::Json, &options(threads, max_connections), &mut out)
        .output
        .expect("to a Vec");
    out
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(scratch(), data).expect("write the scratch capture");
    // A small cap, so the eviction path is exercised too: the connections
    // evicted depend on the partitions, never on the threads.
    let capped = run(1, 16);
    let four = streamed(4, 16);
    assert!(capped == four, "-j 1 collected and -j 4 streamed disagree (cap 16)");
    let one = run(1, 1 << 20);
    let two = streamed(2, 1 << 20);
    assert!(one == two, "-j 1 collected and -j 2 streamed disagree");
});
