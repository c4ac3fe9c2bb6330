//! Capture reader: arbitrary bytes as a pcap or pcapng stream (or a gzip/zstd
//! wrapped one), every record read until the end or the first fatal error.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tcp_teardown::internals::{CaptureReader, MAX_RECORD_LEN, Source};

fuzz_target!(|data: &[u8]| {
    let Ok((source, _compression)) =
        Source::from_reader(Box::new(Cursor::new(data.to_vec())), None)
    else {
        return;
    };
    let Ok(mut reader) = CaptureReader::from_source(source) else {
        return;
    };
    let _ = reader.format();
    let mut last_offset = 0;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                // No record is larger than the packet-block bound (a record plus
                // 64 KiB of block overhead and options), and offsets only move
                // forward.
                assert!(p.data.len() <= MAX_RECORD_LEN + 64 * 1024);
                assert!(p.number >= 1);
                assert!(p.offset >= last_offset);
                last_offset = p.offset;
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = reader.take_warnings();
    let _ = reader.interfaces();
    let _ = reader.offset();
});
