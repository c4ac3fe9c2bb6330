//! docs/json.md names every key the JSON report writes: the reports of the
//! fixtures that between them write every optional part are walked, and each
//! key must appear in the page (as `key` or "key"). A field added to the
//! schema structs without a word in the page fails here.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use tcp_teardown::{Format, Options, render};

fn keys(v: &Value, path: &str, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                // Counts keyed by class and flag names, documented as such.
                if path.ends_with("summary.classes") || path.ends_with("summary.flags") {
                    continue;
                }
                out.insert((k.clone(), format!("{path}.{k}")));
                keys(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys(v, path, out)),
        _ => {}
    }
}

#[test]
fn every_key_of_the_json_report_is_in_docs_json_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/json.md")).unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["fixtures/kernel/client.pcap"],
        vec![
            "fixtures/kernel/client-rot0.pcap",
            "fixtures/kernel/client-rot1.pcap",
        ],
        vec!["fixtures/formats/many_interfaces-1.pcapng"],
        vec!["fixtures/bad/truncated-last-record.pcap"],
        vec!["fixtures/load/synscan.pcap"],
        vec!["fixtures/findings/keepalive-race.pcap"],
        vec!["fixtures/findings/idle-timeout.pcap"],
        vec!["fixtures/findings/zero-window.pcap"],
        vec!["fixtures/zeek/core.tcp.flip-without-syn/http-on-irc-port-missing-syn.pcapng"],
    ];
    let mut found = BTreeSet::new();
    for inputs in runs {
        let mut options = Options::new(inputs.iter().map(|p| root.join(p)).collect());
        options.threads = 1;
        options.filter.port = vec![];
        let mut out = Vec::new();
        let rendered = render(Format::Json, &options, &mut out);
        rendered.output.unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        keys(&v, "", &mut found);
    }
    let missing: Vec<String> = found
        .iter()
        .filter(|(k, _)| !doc.contains(&format!("`{k}`")) && !doc.contains(&format!("\"{k}\"")))
        .map(|(_, path)| path.clone())
        .collect();
    assert!(found.len() > 80, "{} keys", found.len());
    assert!(missing.is_empty(), "not in docs/json.md: {missing:?}");
}
