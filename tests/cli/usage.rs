//! The command line: help, exit codes, output files.

use crate::common::*;

#[test]
fn help_documents_the_exit_codes() {
    let out = run(&["analyze", "--help"], None);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Exit codes",
        "1  a `check` policy failed",
        "2  bad usage",
        "--hang-after",
        "--msl",
        "--fin-grace",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}");
    }
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(run(&["analyze"], None).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"], None).status.code(), Some(2));
    let f = fixture("formats/one_tcp_stream.pcap");
    let out = run(
        &["analyze", "--hang-after", "soon", f.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn output_file_is_written_whole_and_never_over_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    std::fs::copy(fixture("formats/one_tcp_stream.pcap"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let out = run(
        &[
            "analyze",
            "-o",
            input.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&input).unwrap(), before, "input was modified");

    let report = dir.path().join("report.json");
    std::fs::write(&report, b"old").unwrap();
    let out = run(
        &[
            "analyze",
            "--format",
            "json",
            "-o",
            report.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["schema_version"], tcp_teardown::report::SCHEMA_VERSION);
    // Nothing but the report is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn ndjson_is_one_connection_per_line() {
    let f = fixture("formats/many_interfaces-1.pcapng");
    let out = run(
        &["analyze", "--format", "ndjson", f.to_str().unwrap()],
        None,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["class"].is_string());
    }
}

#[test]
fn text_summary_shows_every_class() {
    let f = fixture("kernel/client.pcap");
    let out = run(&["analyze", "--format", "text", f.to_str().unwrap()], None);
    let text = String::from_utf8(out.stdout).unwrap();
    for class in [
        "clean",
        "half_closed_hang",
        "lost_fin",
        "reset",
        "refused",
        "unanswered",
        "open",
        "incomplete",
    ] {
        assert!(text.contains(class), "text lacks {class}");
    }
    assert!(text.contains("30 connections"));
}

#[test]
fn writing_to_a_device_writes_through_it_instead_of_replacing_it() {
    use std::os::unix::fs::FileTypeExt;
    let devnull = std::path::Path::new("/dev/null");
    let before = std::fs::metadata(devnull).unwrap().file_type();
    assert!(before.is_char_device());
    let f = fixture("formats/one_tcp_stream.pcap");
    let out = run(
        &[
            "analyze",
            "-f",
            "json",
            "-o",
            "/dev/null",
            f.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(devnull)
            .unwrap()
            .file_type()
            .is_char_device(),
        "/dev/null was replaced"
    );
}

/// A new report is readable by others (tempfile creates 0600); a replaced one
/// keeps its own permissions, and no temporary file is left behind.
#[test]
fn report_files_get_the_usual_permissions_and_keep_them_when_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let f = fixture("formats/one_tcp_stream.pcap");
    let analyze = || {
        let out = run(
            &[
                "analyze",
                "-f",
                "json",
                "-o",
                report.to_str().unwrap(),
                f.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0));
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(v["summary"]["connections"], 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        std::fs::metadata(&report).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(analyze(), 0o644);
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(analyze(), 0o640);
    assert_eq!(analyze(), 0o640);
}

#[test]
fn the_output_files_name_picks_the_format_and_a_conflict_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let demo = fixture("kernel/client.pcap");
    let demo = demo.to_str().unwrap();
    for (name, starts) in [
        ("r.html", "<!DOCTYPE html>"),
        ("r.json", "{\"schema_version\":"),
        ("r.ndjson", "{\"id\":"),
        ("conn.log", "#separator"),
        ("r.txt", "teardown "),
    ] {
        let path = dir.path().join(name);
        let out = run(&["analyze", demo, "-o", path.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(0), "{name}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(starts),
            "{name}: {}",
            &text[..40.min(text.len())]
        );
    }
    // A conflict between -f and the name: refused, nothing written.
    let clash = dir.path().join("clash.html");
    let out = run(
        &["analyze", demo, "-f", "json", "-o", clash.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflicts"));
    assert!(!clash.exists());
    // `-o -` is standard output; piped or not, text unless asked.
    let out = run(&["analyze", demo, "-o", "-"], None);
    assert!(String::from_utf8_lossy(&success(out)).starts_with("teardown "));
    let out = run(&["analyze", demo, "-o", "-", "-f", "ndjson"], None);
    assert!(String::from_utf8_lossy(&success(out)).starts_with("{\"id\":"));
}

#[test]
fn impossible_values_are_refused_with_a_reason() {
    let demo = fixture("kernel/client.pcap");
    let demo = demo.to_str().unwrap();
    for (args, says) in [
        (
            vec!["analyze", demo, "--max-connections", "0"],
            "at least 1",
        ),
        (vec!["analyze", demo, "--net", "10.0.0.0/33"], "--net"),
        (vec!["analyze", "-", "-"], "only once"),
        (
            vec!["analyze", demo, "--since", "2026-11-21T12:00:00+1"],
            "offset",
        ),
    ] {
        let out = run(&args, Some(b""));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // An offset is that far from UTC: the same window as its UTC time.
    let count = |since: &str| {
        let out = run(&["analyze", demo, "-f", "json", "--since", since], None);
        let v: serde_json::Value = serde_json::from_slice(&success(out)).unwrap();
        v["summary"]["connections"].as_u64().unwrap()
    };
    let utc = count("2026-11-21T11:51:04Z");
    assert_eq!(count("2026-11-21T12:51:04+01:00"), utc);
    assert!(utc > 0 && utc < 30, "{utc}");
}

#[test]
fn help_groups_the_options_and_the_version_names_the_commit() {
    let help = String::from_utf8(success(run(&["analyze", "--help"], None))).unwrap();
    // Each option under its own heading, not under the filters'.
    let at = |s: &str| help.find(s).unwrap_or_else(|| panic!("{s} missing"));
    let filters = at("Connection filters");
    let run_heading = at("\nRun:");
    assert!(
        filters < run_heading && run_heading < at("--quiet") && at("--quiet") < at("\nOutput:")
    );
    assert!(at("\nOutput:") < at("--format"));
    let check = String::from_utf8(success(run(&["check", "--help"], None))).unwrap();
    assert!(check.contains("evicted") && check.contains("--min-connections"));
    let version = String::from_utf8(success(run(&["--version"], None))).unwrap();
    assert!(version.starts_with("teardown 0."), "{version}");
    // Built from this repository's checkout, it names the commit.
    if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".git")
        .exists()
    {
        assert!(version.contains("(commit "), "{version}");
    }
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let bash = String::from_utf8(success(run(&["completions", "bash"], None))).unwrap();
    assert!(bash.contains("_teardown()") && bash.contains("--max-connections"));
    let zsh = String::from_utf8(success(run(&["completions", "zsh"], None))).unwrap();
    assert!(zsh.contains("#compdef teardown"));
    let man = String::from_utf8(success(run(&["man"], None))).unwrap();
    assert!(man.contains(".TH teardown 1"));
    assert!(
        man.contains("TEARDOWN CHECK") && man.contains("min\\-connections"),
        "{}",
        &man[..400]
    );
}
