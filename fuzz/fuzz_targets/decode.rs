//! Packet decoding: the first byte picks a link type (the ten we decode, or any
//! other value as an unknown type), the rest is the captured frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcp_teardown::internals::{LinkType, RawPacket, Timestamp};
use tcp_teardown::internals::decode;

const LINK_TYPES: [LinkType; 10] = [
    LinkType::ETHERNET,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::RAW_12,
    LinkType::RAW_14,
    LinkType::IPV4,
    LinkType::IPV6,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let linktype = LINK_TYPES
        .get(usize::from(selector))
        .copied()
        .unwrap_or(LinkType(u32::from(selector)));
    let raw = RawPacket {
        number: 1,
        offset: 24,
        ts: Timestamp(0),
        linktype,
        data: frame,
        orig_len: frame.len() as u32,
    };
    if let Ok(seg) = decode(&raw, 0) {
        // Sequence space is payload plus SYN/FIN; it must not wrap.
        let _ = seg.seq_len();
    }
});
