//! `--format parquet`: the real binary's file read back with the parquet
//! crate, row by row against the JSON report of the same captures.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMicrosecondType, UInt16Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::common::{fixture, run, success};

/// Captures of every kind: one file, rotated files and several inputs, a
/// short snaplen, IPv6, floods, the findings' recordings.
const SETS: &[&[&str]] = &[
    &["kernel/client.pcap"],
    &["kernel/client-rot0.pcap", "kernel/client-rot1.pcap"],
    &["kernel/server-any-s96.pcap"],
    &["formats/one_ipv6_http_stream.pcap"],
    &["formats/null_loopback.pcap"],
    &["churn/churn.pcap"],
    &["load/synscan.pcap"],
    &["findings"],
    &["zeek/core.history-flip"],
];

/// The file's rows as batches, and its key-value metadata.
pub fn read_parquet(path: &Path) -> (Vec<RecordBatch>, BTreeMap<String, String>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let meta: BTreeMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
        .collect();
    let batches = builder.build().unwrap().map(Result::unwrap).collect();
    (batches, meta)
}

/// `teardown analyze ARGS -f json` and `-o DIR/out.parquet`, both exiting 0.
fn both(inputs: &[String], dir: &Path) -> (Value, Vec<RecordBatch>, BTreeMap<String, String>) {
    let mut args: Vec<&str> = vec!["analyze", "-q", "-f", "json"];
    args.extend(inputs.iter().map(String::as_str));
    let json: Value = serde_json::from_slice(&success(run(&args, None))).unwrap();
    let out = dir.join("out.parquet");
    let out_s = out.display().to_string();
    let mut args: Vec<&str> = vec!["analyze", "-q", "-o", &out_s];
    args.extend(inputs.iter().map(String::as_str));
    success(run(&args, None));
    let (batches, meta) = read_parquet(&out);
    (json, batches, meta)
}

fn text(b: &RecordBatch, col: &str, row: usize) -> Option<String> {
    let a = b
        .column_by_name(col)
        .unwrap_or_else(|| panic!("no column {col}"));
    let a = a.as_string::<i32>();
    a.is_valid(row).then(|| a.value(row).to_string())
}

fn float(b: &RecordBatch, col: &str, row: usize) -> Option<f64> {
    let a = b.column_by_name(col).unwrap().as_primitive::<Float64Type>();
    a.is_valid(row).then(|| a.value(row))
}

fn json_text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// `address:port` (`[v6]:port`) from the two columns.
fn endpoint(b: &RecordBatch, side: &str, row: usize) -> String {
    let addr = text(b, &format!("{side}_addr"), row).unwrap();
    let port = b
        .column_by_name(&format!("{side}_port"))
        .unwrap()
        .as_primitive::<UInt16Type>()
        .value(row);
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

#[test]
fn rows_are_the_json_reports_connections() {
    let dir = tempfile::tempdir().unwrap();
    for set in SETS {
        let inputs: Vec<String> = set
            .iter()
            .map(|f| fixture(f).display().to_string())
            .collect();
        let (json, batches, meta) = both(&inputs, dir.path());
        let conns = json["connections"].as_array().unwrap();
        assert!(!conns.is_empty(), "{set:?}");
        assert_eq!(
            meta.get("schema_version").map(String::as_str),
            Some(json["schema_version"].to_string().as_str()),
            "{set:?}"
        );
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, conns.len(), "{set:?}: rows");

        // Class counts equal the summary's.
        let mut classes: BTreeMap<String, u64> = BTreeMap::new();
        for b in &batches {
            for row in 0..b.num_rows() {
                *classes.entry(text(b, "class", row).unwrap()).or_default() += 1;
            }
        }
        for (class, n) in &classes {
            assert_eq!(
                json["summary"]["classes"][class].as_u64(),
                Some(*n),
                "{set:?}: {class}"
            );
        }

        // Row by row, in report order.
        let mut i = 0;
        for b in &batches {
            let ids = b.column_by_name("id").unwrap().as_primitive::<UInt64Type>();
            let first = b
                .column_by_name("first_ts")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            let last = b
                .column_by_name("last_ts")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            let flags = b.column_by_name("flags").unwrap().as_list::<i32>();
            for row in 0..b.num_rows() {
                let c = &conns[i];
                let at = format!("{set:?} connection {}", c["id"]);
                assert_eq!(Some(ids.value(row)), c["id"].as_u64(), "{at}");
                assert_eq!(text(b, "uid", row), json_text(&c["uid"]), "{at}");
                assert_eq!(
                    Some(endpoint(b, "client", row)),
                    json_text(&c["client"]),
                    "{at}"
                );
                assert_eq!(
                    Some(endpoint(b, "server", row)),
                    json_text(&c["server"]),
                    "{at}"
                );
                assert_eq!(text(b, "class", row), json_text(&c["class"]), "{at}");
                assert_eq!(
                    text(b, "closed_by", row),
                    json_text(&c["closed_by"]),
                    "{at}"
                );
                for side in ["client", "server"] {
                    assert_eq!(
                        text(b, &format!("{side}_end_state"), row),
                        json_text(&c["end_state"][side]),
                        "{at}"
                    );
                }
                let listed: Vec<String> = flags
                    .value(row)
                    .as_string::<i32>()
                    .iter()
                    .map(|f| f.unwrap().to_string())
                    .collect();
                let in_json: Vec<String> = c["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_string())
                    .collect();
                assert_eq!(listed, in_json, "{at}");
                // Times: the JSON's seconds are whole microseconds.
                let us = |v: &Value| (v.as_f64().unwrap() * 1e6).round() as i64;
                assert_eq!(first.value(row), us(&c["first_ts"]), "{at}");
                assert_eq!(last.value(row), us(&c["last_ts"]), "{at}");
                assert_eq!(first.timezone(), Some("UTC"));
                for t in [
                    "handshake_rtt",
                    "close_duration",
                    "close_wait",
                    "idle_before_close",
                ] {
                    assert_eq!(float(b, t, row), c["timings"][t].as_f64(), "{at}: {t}");
                }
                assert_eq!(
                    text(b, "reset_by", row),
                    c["reset"]["by"].as_str().map(str::to_string),
                    "{at}"
                );
                assert_eq!(
                    text(b, "zeek_conn_state", row),
                    json_text(&c["zeek"]["conn_state"]),
                    "{at}"
                );
                assert_eq!(
                    text(b, "zeek_history", row),
                    json_text(&c["zeek"]["history"]),
                    "{at}"
                );
                assert_eq!(
                    float(b, "zeek_duration", row),
                    c["zeek"]["duration"].as_f64(),
                    "{at}"
                );
                assert_eq!(
                    float(b, "reuse_gap", row),
                    c["reuse"]["gap"].as_f64(),
                    "{at}"
                );
                // The input: one of the report's, that of the first evidence
                // packet when there are several.
                let input = text(b, "input", row);
                let paths: Vec<&str> = json["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["path"].as_str().unwrap())
                    .collect();
                if paths.len() == 1 {
                    assert_eq!(input.as_deref(), Some(paths[0]), "{at}");
                } else if let Some(syn) = c["evidence"]["syn"].as_array() {
                    let index = syn.get(2).and_then(Value::as_u64).unwrap_or(0) as usize;
                    assert_eq!(input.as_deref(), Some(paths[index]), "{at}");
                }
                i += 1;
            }
        }
    }
}

/// Rotated files are one analysis: connections crossing the rotation carry
/// the input of their first packet, and some come from the second file.
#[test]
fn rotated_files_name_each_rows_input() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = ["kernel/client-rot0.pcap", "kernel/client-rot1.pcap"]
        .iter()
        .map(|f| fixture(f).display().to_string())
        .collect();
    let (_, batches, _) = both(&inputs, dir.path());
    let mut seen = BTreeMap::<String, usize>::new();
    for b in &batches {
        for row in 0..b.num_rows() {
            if let Some(i) = text(b, "input", row) {
                *seen.entry(i).or_default() += 1;
            }
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn standard_output_is_refused() {
    let f = fixture("kernel/client.pcap").display().to_string();
    for args in [
        vec!["analyze", "-f", "parquet", f.as_str()],
        vec!["analyze", "-f", "parquet", "-o", "-", f.as_str()],
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--format parquet writes a file"), "{err}");
    }
}

/// A run that reads no packet still writes a valid file, with no rows.
#[test]
fn an_empty_analysis_is_an_empty_table() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pcap");
    // A pcap file header and no record.
    let mut header = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    header.extend([0; 8]);
    header.extend(65535u32.to_le_bytes());
    header.extend(1u32.to_le_bytes());
    std::fs::write(&empty, header).unwrap();
    let out = dir.path().join("x.parquet");
    let o = out.display().to_string();
    let e = empty.display().to_string();
    let res = run(&["analyze", "-q", "-o", &o, &e], None);
    assert!(out.exists(), "{}", String::from_utf8_lossy(&res.stderr));
    let (batches, meta) = read_parquet(&out);
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    assert!(meta.contains_key("schema_version"));
}
