//! `teardown batch`: every set's report is the bytes `teardown analyze` writes
//! for it alone, whatever `-j`; the combined file holds every set's rows.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use serde_json::Value;

use crate::common::{fixture, run, success};
use crate::parquet_file::read_parquet;

/// Copies `from` (a file or a directory's captures) into `to`.
fn copy_into(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    if from.is_file() {
        std::fs::copy(from, to.join(from.file_name().unwrap())).unwrap();
        return;
    }
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let is_capture = p.extension().is_some_and(|x| x == "pcap" || x == "pcapng");
        if p.is_file() && is_capture {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Eight capture sets, `host1` to `host8`, under `root`: rotated files, a
/// directory of recordings, floods, Zeek's traces, and copies of them.
fn eight_sets(root: &Path) -> Vec<PathBuf> {
    let from = [
        "kernel/client-rot0.pcap",
        "findings",
        "churn",
        "zeek/core.history-flip",
        "load/synscan.pcap",
        "kernel/client.pcapng",
        "findings",
        "kernel/server-any-s96.pcap",
    ];
    from.iter()
        .enumerate()
        .map(|(i, f)| {
            let set = root.join(format!("host{}", i + 1));
            copy_into(&fixture(f), &set);
            if i == 0 {
                // Two rotated files: one analysis, connections cross them.
                copy_into(&fixture("kernel/client-rot1.pcap"), &set);
            }
            set
        })
        .collect()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `teardown analyze SET -f FORMAT -o OUT`'s bytes.
fn analyze_alone(set: &Path, format: &str, out: &Path) -> Vec<u8> {
    success(run(
        &["analyze", "-q", "-f", format, "-o", &s(out), &s(set)],
        None,
    ));
    std::fs::read(out).unwrap()
}

#[test]
fn each_sets_report_is_its_own_analysis_for_any_j() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sets");
    let sets = eight_sets(&root);
    let alone: Vec<Vec<u8>> = sets
        .iter()
        .enumerate()
        .map(|(i, set)| analyze_alone(set, "json", &dir.path().join(format!("{i}.json"))))
        .collect();
    let ndjson: Vec<Vec<u8>> = sets
        .iter()
        .enumerate()
        .map(|(i, set)| analyze_alone(set, "ndjson", &dir.path().join(format!("{i}.ndjson"))))
        .collect();
    for jobs in ["1", "3"] {
        let out = dir.path().join(format!("out-j{jobs}"));
        success(run(
            &[
                "batch",
                "-q",
                "--sets-from-subdirs",
                &s(&root),
                "-o",
                &s(&out),
                "-j",
                jobs,
            ],
            None,
        ));
        for (i, bytes) in alone.iter().enumerate() {
            let name = format!("host{}.json", i + 1);
            let got = std::fs::read(out.join(&name)).unwrap();
            assert!(got == *bytes, "-j {jobs}: {name} differs from `analyze`");
        }
        // The combined NDJSON: every set's connection objects in set order,
        // each with "set" first and otherwise the bytes of `analyze -f ndjson`.
        let combined = std::fs::read_to_string(out.join("combined.ndjson")).unwrap();
        let mut expected = String::new();
        for (i, lines) in ndjson.iter().enumerate() {
            for line in String::from_utf8(lines.clone()).unwrap().lines() {
                expected.push_str(&format!("{{\"set\":\"host{}\",{}\n", i + 1, &line[1..]));
            }
        }
        assert!(combined == expected, "-j {jobs}: combined.ndjson");
        assert!(combined.lines().count() > 1000);
        // Nothing else is left in OUTDIR (the staging directory is gone).
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 9, "{names:?}");
        assert_eq!(names[0], "combined.ndjson");
    }
}

#[test]
fn sets_named_one_by_one_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let sets = eight_sets(&dir.path().join("sets"));
    let picked = [&sets[0], &sets[3], &sets[4]];
    let out = dir.path().join("out");
    let mut args = vec![
        "batch".to_string(),
        "-q".into(),
        "-f".into(),
        "parquet".into(),
        "-o".into(),
        s(&out),
    ];
    args.extend(picked.iter().map(|p| s(p)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    success(run(&args, None));
    let mut total = 0;
    for set in picked {
        let name = set.file_name().unwrap().to_str().unwrap();
        // Byte for byte the file `analyze -o X.parquet` writes.
        let alone = analyze_alone(set, "parquet", &dir.path().join(format!("{name}.parquet")));
        let got = std::fs::read(out.join(format!("{name}.parquet"))).unwrap();
        assert!(got == alone, "{name}.parquet differs from `analyze`");
        let json: Value = serde_json::from_slice(&success(run(
            &["analyze", "-q", "-f", "json", &s(set)],
            None,
        )))
        .unwrap();
        total += json["connections"].as_array().unwrap().len();
    }
    // The combined table: the sets' rows in order, `set` first.
    let (batches, meta) = read_parquet(&out.join("combined.parquet"));
    assert!(meta.contains_key("schema_version"));
    let mut names = Vec::new();
    for b in &batches {
        assert_eq!(b.schema().field(0).name(), "set");
        let col = b.column(0).as_string::<i32>();
        names.extend(col.iter().map(|v| v.unwrap().to_string()));
    }
    assert_eq!(names.len(), total);
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        total
    );
    let mut order = names.clone();
    order.dedup();
    assert_eq!(order, ["host1", "host4", "host5"]);
    // Past `set`, the rows are the sets' own files', value for value.
    let mut own = Vec::new();
    for set in picked {
        let name = set.file_name().unwrap().to_str().unwrap();
        own.extend(read_parquet(&out.join(format!("{name}.parquet"))).0);
    }
    assert_eq!(rows_text(&batches, 1), rows_text(&own, 0));
}

/// Each row's values from column `from` on, as text (Arrow's debug form of
/// each one-value slice).
fn rows_text(batches: &[RecordBatch], from: usize) -> Vec<String> {
    let mut rows = Vec::new();
    for b in batches {
        for row in 0..b.num_rows() {
            let values: Vec<String> = (from..b.num_columns())
                .map(|c| format!("{:?}", b.column(c).slice(row, 1)))
                .collect();
            rows.push(values.join("|"));
        }
    }
    rows
}

#[test]
fn outputs_never_land_on_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sets");
    let sets = eight_sets(&root);
    for (args, why) in [
        (
            vec![
                "batch".into(),
                "--sets-from-subdirs".into(),
                s(&root),
                "-o".into(),
                s(&root.join("out")),
            ],
            "inside the input directory",
        ),
        (
            vec!["batch".into(), s(&sets[1]), "-o".into(), s(&sets[1])],
            "inside the input directory",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
    }
    assert!(!root.join("out").exists());
    // Nothing was written into the set.
    let staged = std::fs::read_dir(&sets[1])
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(staged, 0);
}

#[test]
fn two_sets_of_one_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a/host");
    let b = dir.path().join("b/host");
    copy_into(&fixture("kernel/client.pcap"), &a);
    copy_into(&fixture("kernel/client.pcap"), &b);
    let out = run(
        &["batch", &s(&a), &s(&b), "-o", &s(&dir.path().join("out"))],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two capture sets are named host"));
}

/// A set whose input cannot be read makes the exit code 2; the other sets'
/// reports are written all the same.
#[test]
fn an_unreadable_set_exits_2_and_the_rest_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("sets/good");
    copy_into(&fixture("kernel/client.pcap"), &good);
    let bad = dir.path().join("sets/bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("x.pcap"), b"not a capture at all").unwrap();
    let out = dir.path().join("out");
    let res = run(
        &[
            "batch",
            "--sets-from-subdirs",
            &s(&dir.path().join("sets")),
            "-o",
            &s(&out),
        ],
        None,
    );
    assert_eq!(
        res.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(String::from_utf8_lossy(&res.stderr).contains("x.pcap"));
    let good_report: Value =
        serde_json::from_slice(&std::fs::read(out.join("good.json")).unwrap()).unwrap();
    assert!(!good_report["connections"].as_array().unwrap().is_empty());
    assert!(out.join("bad.json").exists());
}
