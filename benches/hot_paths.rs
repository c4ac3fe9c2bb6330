//! Hot paths of the pipeline, on the kernel-recorded demo capture (in memory):
//! record framing, decoding, tracking, and the whole analysis.
//!
//! `cargo bench` runs them; `scripts/bench.sh` measures the whole program against
//! the floor and its peers on the large benchmark capture.

use std::io::Cursor;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tcp_teardown::capture::{CaptureReader, Source};
use tcp_teardown::decode::{Segment, decode};
use tcp_teardown::flow::{Tracker, TrackerConfig};

fn capture_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kernel/client.pcap");
    std::fs::read(path).expect("fixture")
}

fn reader(bytes: &[u8]) -> CaptureReader {
    let (source, _) = Source::from_reader(Box::new(Cursor::new(bytes.to_vec())), None).unwrap();
    CaptureReader::from_source(source).unwrap()
}

fn segments(bytes: &[u8]) -> Vec<Segment> {
    let mut r = reader(bytes);
    let mut out = Vec::new();
    let mut order = 0;
    while let Ok(Some(raw)) = r.next_packet() {
        if let Ok(mut seg) = decode(&raw, 0) {
            seg.order = order;
            order += 1;
            out.push(seg);
        }
    }
    out
}

fn benches(c: &mut Criterion) {
    let bytes = capture_bytes();
    let segs = segments(&bytes);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(segs.len() as u64));

    g.bench_function("read_records", |b| {
        b.iter(|| {
            let mut r = reader(&bytes);
            let mut n = 0usize;
            while let Ok(Some(raw)) = r.next_packet() {
                n += raw.data.len();
            }
            n
        })
    });
    g.bench_function("read_and_decode", |b| b.iter(|| segments(&bytes).len()));
    g.bench_function("track", |b| {
        b.iter(|| {
            let mut t = Tracker::new(TrackerConfig {
                msl_ns: 30_000_000_000,
                fin_grace_ns: 3_000_000_000,
                max_tracked: TrackerConfig::DEFAULT_MAX_TRACKED,
            });
            for s in &segs {
                t.push(s);
            }
            t.finish(segs.last().unwrap().ts).len()
        })
    });
    g.finish();
}

criterion_group!(hot_paths, benches);
criterion_main!(hot_paths);
