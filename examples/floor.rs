//! The performance floor: the least work any analyzer of a capture must do.
//!
//! A single-threaded walk over the records of a memory-mapped legacy pcap file,
//! decoding each frame's Ethernet, IP and TCP headers with etherparse and folding
//! the TCP fields into a checksum so nothing is optimised away. No connection
//! tracking, no output. `scripts/bench.sh` times `teardown` against it.
//!
//! usage: cargo run --release --example floor -- FILE.pcap

use std::fs::File;

use etherparse::{SlicedPacket, TransportSlice};
use memmap2::Mmap;

fn main() {
    let path = std::env::args().nth(1).expect("usage: floor FILE.pcap");
    let file = File::open(&path).expect("open");
    // SAFETY: read-only private map of a file nobody truncates during the run.
    let map = unsafe { Mmap::map(&file) }.expect("mmap");
    let data: &[u8] = &map;
    assert!(data.len() >= 24, "not a pcap");
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let big = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        _ => panic!("floor reads legacy pcap only"),
    };
    let rd = |b: &[u8]| {
        let a = b.try_into().unwrap();
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let (mut at, mut records, mut tcp, mut fold) = (24usize, 0u64, 0u64, 0u64);
    while at + 16 <= data.len() {
        let caplen = rd(&data[at + 8..at + 12]) as usize;
        let start = at + 16;
        if start + caplen > data.len() {
            break;
        }
        records += 1;
        if let Ok(p) = SlicedPacket::from_ethernet(&data[start..start + caplen])
            && let Some(TransportSlice::Tcp(t)) = p.transport
        {
            tcp += 1;
            fold = fold
                .wrapping_mul(31)
                .wrapping_add(u64::from(t.sequence_number()))
                .wrapping_add(u64::from(t.acknowledgment_number()))
                .wrapping_add(u64::from(t.source_port()) << 16 | u64::from(t.destination_port()));
        }
        at = start + caplen;
    }
    println!("{records} records, {tcp} TCP, fold {fold:016x}");
}
