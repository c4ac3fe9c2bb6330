//! Hot paths of the pipeline, on the kernel-recorded demo capture (in memory):
//! record framing, decoding, tracking; and reading a 32 MiB file of it on the
//! caller's thread or ahead of it (`Source::read_ahead`).
//!
//! `cargo bench` runs them; `scripts/bench.sh` measures the whole program against
//! the floor and its peers on the large benchmark capture.

use std::io::Cursor;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tcp_teardown::internals::{CaptureReader, Source};
use tcp_teardown::internals::{Segment, decode};
use tcp_teardown::internals::{Tracker, TrackerConfig};

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
                trace: false,
            });
            for s in &segs {
                t.push(s);
            }
            t.finish(segs.last().unwrap().ts).count()
        })
    });
    g.finish();

    // The demo capture's records repeated into a file large enough to be read
    // ahead (8 MiB and more).
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.pcap");
    let mut data = bytes[..24].to_vec();
    while data.len() < 32 << 20 {
        data.extend_from_slice(&bytes[24..]);
    }
    std::fs::write(&big, &data).unwrap();
    let mut g = c.benchmark_group("reading");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (name, ahead) in [("file_inline", false), ("file_read_ahead", true)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let (mut r, _) = CaptureReader::open(&big).unwrap();
                if ahead {
                    r.read_ahead();
                }
                let mut n = 0usize;
                while let Ok(Some(raw)) = r.next_packet() {
                    n += raw.data.len();
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(hot_paths, benches);
criterion_main!(hot_paths);
