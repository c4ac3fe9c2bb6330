//! Every capture format and link type in fixtures/formats/ is read, and the TCP
//! connections found are the ones `tshark -T fields -e tcp.stream` finds
//! (recorded in fixtures/formats/tshark-streams.tsv; tshark is not needed here).

use std::collections::BTreeMap;

use crate::common::*;

/// Unordered endpoint pair, as tshark lists streams.
fn pair(a: (&str, u64), b: (&str, u64)) -> ((String, u64), (String, u64)) {
    let a = (a.0.to_string(), a.1);
    let b = (b.0.to_string(), b.1);
    if a <= b { (a, b) } else { (b, a) }
}

#[test]
fn every_format_yields_the_connections_tshark_finds() {
    let rows = read_tsv(&fixture("formats/tshark-streams.tsv"));
    let mut expected: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in &rows {
        expected.entry(r["file"].clone()).or_default().push((
            pair(
                (&r["addr_a"], r["port_a"].parse().unwrap()),
                (&r["addr_b"], r["port_b"].parse().unwrap()),
            ),
            r["packets"].parse::<u64>().unwrap(),
        ));
    }
    let dir = fixture("formats");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "fixtures/formats is incomplete");
    for file in files {
        let report = analyze_json(&[&dir.join(&file)]);
        let mut got: Vec<_> = report["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let (ci, cp, si, sp) = conn_key(c);
                let pk = c["packets"]["client"].as_u64().unwrap()
                    + c["packets"]["server"].as_u64().unwrap();
                (pair((&ci, cp), (&si, sp)), pk)
            })
            .collect();
        let mut want = expected.remove(&file).unwrap_or_default();
        got.sort();
        want.sort();
        assert_eq!(
            got, want,
            "{file}: connections (endpoints, packets) differ from tshark's"
        );
        assert!(
            report["inputs"][0]["format"].is_string(),
            "{file}: format not reported"
        );
    }
}

#[test]
fn pcapng_with_several_interfaces_reports_each_link_type() {
    let report = analyze_json(&[&fixture("formats/many_interfaces-1.pcapng")]);
    let input = &report["inputs"][0];
    assert_eq!(input["format"], "pcapng");
    assert!(input["interfaces"].as_array().unwrap().len() > 1);
    assert_eq!(input["tcp_packets"], 32);
}

#[test]
fn nanosecond_big_endian_pcap_keeps_nanoseconds() {
    let report = analyze_json(&[&fixture("formats/nanosecs_big_endian.pcap")]);
    assert_eq!(report["inputs"][0]["format"], "pcap-nsec");
    let first = report["connections"][0]["first_ts"].as_f64().unwrap();
    let last = report["connections"][0]["last_ts"].as_f64().unwrap();
    assert!(last > first);
}

#[test]
fn modified_pcap_is_recognised() {
    let report = analyze_json(&[&fixture("formats/modified-format.pcap")]);
    assert_eq!(report["inputs"][0]["format"], "pcap-modified");
    assert_eq!(report["inputs"][0]["packets"], 1);
}

#[test]
fn big_endian_modified_pcap_is_read() {
    // Magic a1b2cd34 in big-endian order, 24-byte record headers in the same
    // order (fixtures/formats/make_edges.py); tshark reads it as "Modified
    // tcpdump - pcap" and finds one connection of 8 packets.
    let report = analyze_json(&[&fixture("formats/modified-be.pcap")]);
    let input = &report["inputs"][0];
    assert_eq!(input["format"], "pcap-modified", "{input}");
    assert_eq!(input["packets"], 8);
    assert_eq!(input["tcp_packets"], 8);
    assert_eq!(report["connections"][0]["class"], "clean");
    assert_eq!(report["connections"][0]["first_ts"], 1_700_000_000.0);
}

#[test]
fn sll2_and_raw_ipv6_and_null_loopback_decode_tcp() {
    for (file, tcp) in [
        ("formats/sll2.pcap", 3),
        ("formats/one_ipv6_http_stream.pcap", 19),
        ("formats/null_loopback.pcap", 1),
        ("formats/sll.pcap", 483),
    ] {
        let report = analyze_json(&[&fixture(file)]);
        assert_eq!(report["inputs"][0]["tcp_packets"], tcp, "{file}");
    }
}

#[test]
fn pppoe_inside_qinq_is_unwrapped() {
    let report = analyze_json(&[&fixture("formats/one_http_stream_rst.pcap")]);
    assert_eq!(report["inputs"][0]["tcp_packets"], 10);
    assert_eq!(report["connections"][0]["class"], "reset");
}

#[test]
fn vlan_stacks_deeper_than_three_tags_are_unwrapped() {
    // An 802.1ad tag then 802.1Q tags, 4, 5 and 9 deep (make_edges.py): tshark
    // finds the three connections, 8 packets each.
    let report = analyze_json(&[&fixture("formats/vlan-stack-deep.pcap")]);
    assert_eq!(report["inputs"][0]["tcp_packets"], 24);
    let ports: Vec<u64> = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| port(&c["client"]))
        .collect();
    assert_eq!(ports, [40004, 40005, 40009]);
}

#[test]
fn erspan_type_i_mirrors_are_followed() {
    // GRE 0x88BE without a sequence number carries the mirrored frame right
    // after the GRE header (ERSPAN type I), with or without a GRE key; with a
    // sequence number an 8-byte type II header comes first (make_edges.py).
    // tshark decodes all three as ERSPAN and finds the inner connections.
    let report = analyze_json(&[&fixture("formats/erspan-type1.pcap")]);
    assert_eq!(report["inputs"][0]["tcp_packets"], 24);
    let conns: Vec<(u64, &str)> = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (port(&c["client"]), c["class"].as_str().unwrap()))
        .collect();
    assert_eq!(
        conns,
        [(40011, "clean"), (40012, "clean"), (40013, "clean")]
    );
}

#[test]
fn zstd_with_a_leading_skippable_frame_or_a_long_window_is_read() {
    // make_edges.py: a skippable frame before the first zstd frame, and
    // `zstd --long=30` of a stream (a 1 GiB window; the library's default
    // limit is 128 MiB). Both decompress with `zstd -d --long=31`.
    for file in [
        "formats/skippable-leading.pcap.zst",
        "formats/zstd-long30.pcap.zst",
        "bad/zstd-long31.pcap.zst",
    ] {
        let report = analyze_json(&[&fixture(file)]);
        let input = &report["inputs"][0];
        assert_eq!(input["compression"], "zstd", "{file}");
        assert_eq!(input["tcp_packets"], 8, "{file}: {input}");
        assert_eq!(report["connections"][0]["class"], "clean", "{file}");
    }
}
