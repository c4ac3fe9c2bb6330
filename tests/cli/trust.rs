//! Trust (issue 29): the tool never writes over a capture, and `check` never
//! holds on no evidence.

use std::path::{Path, PathBuf};

use crate::common::*;

/// A directory holding two rotated captures, as `tcpdump -C` leaves them.
fn rotated() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let rot = dir.path().join("rot");
    std::fs::create_dir(&rot).unwrap();
    for name in ["client-rot0.pcap", "client-rot1.pcap"] {
        std::fs::copy(fixture(&format!("kernel/{name}")), rot.join(name)).unwrap();
    }
    let before = std::fs::read(rot.join("client-rot0.pcap")).unwrap();
    (dir, rot, before)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exit 2 with a message naming the output, the input unchanged and no other
/// file left in the directory.
fn refused(args: &[&str], rot: &Path, before: &[u8]) {
    let out = run(args, None);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to write"), "{err}");
    assert_eq!(std::fs::read(rot.join("client-rot0.pcap")).unwrap(), before);
    let mut names: Vec<String> = std::fs::read_dir(rot)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("client-rot") || n.starts_with("link")),
        "{names:?}"
    );
}

#[test]
fn a_report_inside_an_input_directory_is_refused() {
    let (_dir, rot, before) = rotated();
    let capture = rot.join("client-rot0.pcap");
    refused(&["analyze", s(&rot), "-o", s(&capture)], &rot, &before);
    // Not only over a capture: a new file there would be read as an input
    // the next time.
    refused(
        &["analyze", s(&rot), "-o", s(&rot.join("report.json"))],
        &rot,
        &before,
    );
    for flag in ["--junit", "--summary"] {
        refused(
            &["check", s(&rot), "--fail-on", "reset", flag, s(&capture)],
            &rot,
            &before,
        );
    }
}

#[test]
fn an_input_reached_through_another_path_or_a_link_is_refused() {
    let (dir, rot, before) = rotated();
    let capture = rot.join("client-rot0.pcap");
    // Through `..`.
    let other = rot.join("..").join("rot").join("client-rot0.pcap");
    refused(&["analyze", s(&capture), "-o", s(&other)], &rot, &before);
    // A hard link and a symbolic link to the input, outside its directory.
    let hard = dir.path().join("hard.pcap");
    std::fs::hard_link(&capture, &hard).unwrap();
    refused(&["analyze", s(&capture), "-o", s(&hard)], &rot, &before);
    #[cfg(unix)]
    {
        let soft = dir.path().join("soft.pcap");
        std::os::unix::fs::symlink(&capture, &soft).unwrap();
        refused(&["analyze", s(&capture), "-o", s(&soft)], &rot, &before);
        // An input given as a link, the output its target.
        refused(&["analyze", s(&soft), "-o", s(&capture)], &rot, &before);
    }
    // Beside the directory is fine.
    let report = dir.path().join("report.json");
    let out = run(&["analyze", s(&rot), "-o", s(&report)], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(report.is_file());
}

#[test]
fn check_fails_on_no_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let demo = fixture("kernel/client.pcap");
    let zero = fixture("bad/empty.pcapng");
    for args in [
        vec!["check", s(&zero), "--fail-on", "reset"],
        // The README's own example, on a capture without port 443.
        vec!["check", s(&demo), "--port", "443", "--fail-on", "reset"],
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("FAILED  min-connections 1"), "{text}");
        assert!(text.contains("result: FAILED"), "{text}");
    }
    // An empty directory names no capture at all: that is bad input.
    let out = run(&["check", s(&empty), "--fail-on", "reset"], None);
    assert_ne!(out.status.code(), Some(0));
    // With the evidence there, the rule holds; --min-connections 0 waives it.
    let out = run(
        &[
            "check",
            s(&demo),
            "--max",
            "reset=10",
            "--min-connections",
            "30",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(
        &[
            "check",
            s(&demo),
            "--max",
            "reset=10",
            "--min-connections",
            "31",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(
        &[
            "check",
            s(&zero),
            "--fail-on",
            "reset",
            "--min-connections",
            "0",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn analyze_warns_when_nothing_was_analyzed() {
    let demo = fixture("kernel/client.pcap");
    let out = run(&["analyze", s(&demo), "--port", "443", "-f", "json"], None);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: no connection")
            && err.contains("30 connections left out by the filters"),
        "{err}"
    );
    let out = run(
        &["analyze", s(&fixture("bad/empty.pcapng")), "-f", "json"],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: no connection"));
}

#[test]
fn the_job_summary_is_appended_to_and_the_junit_file_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step_summary.md");
    let junit = dir.path().join("junit.xml");
    std::fs::write(&summary, "# an earlier step\n").unwrap();
    std::fs::write(&junit, "old").unwrap();
    let demo = fixture("kernel/client.pcap");
    for _ in 0..2 {
        let out = run(
            &[
                "check",
                s(&demo),
                "--max",
                "reset=10",
                "--summary",
                s(&summary),
                "--junit",
                s(&junit),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0));
    }
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("# an earlier step\n"), "{text}");
    assert_eq!(text.matches("## teardown check").count(), 2, "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml") && xml.matches("<testsuite ").count() == 1);
}

/// Sends `signal` to the child (the `kill` command: tests hold no libc).
fn signal(child: &std::process::Child, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal}");
}

/// A run reading standard input, fed the first half of the demo capture.
fn half_fed(args: &[&str]) -> (std::process::Child, std::process::ChildStdin, Vec<u8>) {
    use std::io::Write;
    let capture = std::fs::read(fixture("kernel/client.pcap")).unwrap();
    let mut child = teardown()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The pcap header and about half the records (records are whole at 20 KB:
    // a cut record only waits for its tail).
    stdin.write_all(&capture[..20_000]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    (child, stdin, capture)
}

#[test]
fn ctrl_c_writes_the_report_of_what_was_read_and_marks_it() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("live.json");
    let (child, mut stdin, capture) = half_fed(&["analyze", "-", "-o", s(&report), "-j", "1"]);
    signal(&child, "-INT");
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Reading stops at the next segment: the rest is not analyzed.
    let _ = stdin.write_all(&capture[20_000..]);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interrupted"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["summary"]["interrupted"], true);
    let n = v["summary"]["connections"].as_u64().unwrap();
    assert!(n > 0 && n < 30, "{n} connections");
    // Only the report is left: no temporary file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // With --interrupt-fails, the same report and exit 130; the text says so.
    let (child, stdin, _) = half_fed(&["analyze", "-", "-f", "text", "--interrupt-fails"]);
    signal(&child, "-TERM");
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted: reading stopped"));
}

#[test]
fn a_second_ctrl_c_aborts_at_once_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("live.json");
    // The input stays open: the run waits for more, so only the second
    // signal ends it.
    let (child, stdin, _) = half_fed(&["analyze", "-", "-o", s(&report), "-j", "1"]);
    signal(&child, "-INT");
    std::thread::sleep(std::time::Duration::from_millis(200));
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn a_failed_check_stays_failed_when_its_reader_goes_away() {
    // `teardown check ... | true` under pipefail: the pipe closes before the
    // verdict is written; the exit code is still the policy's (1).
    let demo = fixture("kernel/client.pcap");
    let script = format!(
        "set -o pipefail; {} check {} --fail-on reset | true",
        env!("CARGO_BIN_EXE_teardown"),
        s(&demo)
    );
    let status = std::process::Command::new("bash")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn directories_follow_links_to_captures_and_say_what_they_could_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(fixture("kernel/client.pcap"), caps.join("client.pcap"))
            .unwrap();
        // A loop back up the tree is cut, not followed forever.
        std::os::unix::fs::symlink(&caps, caps.join("again")).unwrap();
    }
    let out = run(&["analyze", s(&caps), "-f", "json"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["connections"], 30);
    // A link to nothing is named, and it makes the run's exit code 2.
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("gone.pcap"), caps.join("gone.pcap")).unwrap();
    let out = run(&["analyze", s(&caps), "-f", "json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gone.pcap"));
    // A named directory without a capture is an input that yields nothing.
    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("README"), "not a capture").unwrap();
    let out = run(&["analyze", s(&notes)], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no capture file in this directory"));
}

#[cfg(unix)]
#[test]
fn new_reports_honour_the_umask_and_links_are_written_through() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let demo = fixture("kernel/client.pcap");
    let report = dir.path().join("private.json");
    let script = format!(
        "umask 077; {} analyze {} -o {}",
        env!("CARGO_BIN_EXE_teardown"),
        s(&demo),
        s(&report)
    );
    assert!(
        std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success()
    );
    let mode = std::fs::metadata(&report).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    // -o naming a symbolic link: the file it names gets the report, the link stays.
    let target = dir.path().join("target.json");
    std::fs::write(&target, "old").unwrap();
    let link = dir.path().join("latest.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    success(run(&["analyze", s(&demo), "-o", s(&link)], None));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .starts_with("{\"schema_version\"")
    );
}

#[test]
fn an_unwritable_output_is_found_before_anything_is_read() {
    // Standard input is never written to: a run that read before finding
    // its output unwritable would wait here.
    for format in ["html", "text", "json"] {
        let mut child = teardown()
            .args([
                "analyze",
                "-",
                "-f",
                format,
                "-o",
                "/nonexistent-dir/report",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_within(
            &mut child,
            std::time::Duration::from_secs(10),
            &format!("-f {format}, reading"),
        );
        assert_eq!(status.code(), Some(2), "-f {format}");
    }
}

#[test]
fn control_characters_in_file_names_do_not_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // An escape sequence that would clear the screen, and a bidi override.
    let evil = dir.path().join("x\u{1b}[2J\u{202e}.pcap");
    std::fs::write(&evil, b"not a capture at all, just text").unwrap();
    let out = run(&["analyze", evil.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{202e}'),
        "{err:?}"
    );
    assert!(err.contains("\\u{1b}[2J\\u{202e}"), "{err:?}");
}

/// A pcapng section with `n` interfaces, each named with `name_len` bytes.
fn interface_bomb(n: usize, name_len: usize) -> Vec<u8> {
    let mut f = Vec::new();
    let block = |f: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        f.extend_from_slice(&kind.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(body);
        f.extend_from_slice(&len.to_le_bytes());
    };
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut f, 0x0A0D_0D0A, &shb);
    let name = vec![b'n'; name_len];
    for _ in 0..n {
        let mut idb = Vec::new();
        idb.extend_from_slice(&1u16.to_le_bytes()); // Ethernet
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&65535u32.to_le_bytes());
        idb.extend_from_slice(&2u16.to_le_bytes()); // if_name
        idb.extend_from_slice(&(name.len() as u16).to_le_bytes());
        idb.extend_from_slice(&name);
        idb.resize(idb.len().next_multiple_of(4), 0);
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        block(&mut f, 1, &idb);
    }
    f
}

#[test]
fn thousands_of_long_interface_names_take_bounded_room() {
    // Issue 35, D2: 4,000 interfaces of 64 KB names took 1.3 GB.
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("ifnames.pcapng");
    std::fs::write(&bomb, interface_bomb(1_000, 60_000)).unwrap();
    let out = run(&["analyze", s(&bomb), "-f", "json"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let input = &v["inputs"][0];
    let listed = input["interfaces"].as_array().unwrap();
    assert_eq!(listed.len(), 100);
    assert_eq!(input["interfaces_omitted"], 900);
    for i in listed {
        let name = i["name"].as_str().unwrap();
        assert!(name.len() <= 259 && name.ends_with('…'), "{}", name.len());
    }
    assert!(
        out.stdout.len() < 100_000,
        "{} bytes of report",
        out.stdout.len()
    );
    let page = dir.path().join("page.html");
    success(run(&["analyze", s(&bomb), "-o", s(&page)], None));
    assert!(std::fs::metadata(&page).unwrap().len() < 2_000_000);
}

/// `teardown ARGS` under `ulimit -n LIMIT`, which sets the hard limit too,
/// so the soft one cannot be raised past it.
#[cfg(unix)]
fn under_file_limit(limit: u32, args: &[&str]) -> std::process::Output {
    let script = format!("ulimit -n {limit} && exec \"$0\" \"$@\"");
    std::process::Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_teardown")])
        .args(args)
        .output()
        .unwrap()
}

/// The report of `teardown ARGS` under `ulimit -n LIMIT`, which must exit 0.
#[cfg(unix)]
fn report_under_file_limit(limit: u32, args: &[&str]) -> serde_json::Value {
    let out = under_file_limit(limit, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report_of(&out.stdout)
}

/// A classic little-endian pcap cut into files of `per_file` records each,
/// in `dir`, named so they sort in capture order.
fn split_pcap(pcap: &[u8], per_file: usize, dir: &Path) -> usize {
    assert_eq!(
        &pcap[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian pcap"
    );
    let (header, mut rest) = pcap.split_at(24);
    let mut files = 0;
    while !rest.is_empty() {
        let mut out = header.to_vec();
        for _ in 0..per_file {
            if rest.is_empty() {
                break;
            }
            let caplen = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
            let (record, tail) = rest.split_at(16 + caplen);
            out.extend_from_slice(record);
            rest = tail;
        }
        std::fs::write(dir.join(format!("part{files:04}.pcap")), out).unwrap();
        files += 1;
    }
    files
}

fn report_of(json: &[u8]) -> serde_json::Value {
    serde_json::from_slice(json).unwrap()
}

#[cfg(unix)]
#[test]
fn rotated_files_beyond_the_open_file_limit_are_opened_in_turn_and_all_read() {
    // Issue 35, D10: every input was opened at once, so under `ulimit -n`
    // most of a rotated set was lost ("Too many open files").
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("rotated");
    std::fs::create_dir(&caps).unwrap();
    let pcap = std::fs::read(fixture("findings/keepalive-race.pcap")).unwrap();
    let files = split_pcap(&pcap, 4, &caps);
    assert!(files > 150, "{files} files");
    let free = success(run(&["analyze", s(&caps), "-f", "json"], None));
    let report = report_under_file_limit(48, &["analyze", s(&caps), "-f", "json"]);
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), files);
    assert!(inputs.iter().all(|i| i["error"].is_null()));
    assert_eq!(report["summary"]["packets"], 664);
    assert_eq!(report, report_of(&free));
    // The page's second pass opens them in turn too: ladders drawn, no
    // input "cannot be read again".
    let page = dir.path().join("page.html");
    let out = under_file_limit(48, &["analyze", s(&caps), "-o", s(&page)]);
    assert_eq!(out.status.code(), Some(0));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("class=\"ladder\""), "no ladder drawn");
    for failed in [
        "read again",
        "reading it again stopped",
        "cannot read it again",
    ] {
        assert!(!html.contains(failed), "the page says {failed:?}");
    }
}

#[cfg(unix)]
#[test]
fn interleaved_files_beyond_the_open_file_limit_merge_as_if_all_were_open() {
    // 200 copies of one capture: every file's packets interleave with every
    // other's, so files are closed and opened again throughout.
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("copies");
    std::fs::create_dir(&caps).unwrap();
    let one = fixture("formats/one_tcp_stream.pcap");
    for i in 0..200 {
        std::fs::copy(&one, caps.join(format!("part{i:03}.pcap"))).unwrap();
    }
    let free = success(run(&["analyze", s(&caps), "-f", "json"], None));
    let report = report_under_file_limit(64, &["analyze", s(&caps), "-f", "json"]);
    assert_eq!(report["inputs"].as_array().unwrap().len(), 200);
    assert_eq!(report, report_of(&free));
}

#[cfg(unix)]
#[test]
fn a_fifo_input_gets_a_note_instead_of_a_second_read_that_would_wait() {
    // Issue 35, D7: the HTML page's second pass opened the FIFO again and
    // waited for a writer that was gone.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("live.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let capture = std::fs::read(fixture("kernel/client.pcap")).unwrap();
            std::fs::write(&fifo, capture).unwrap();
        })
    };
    let page = dir.path().join("page.html");
    let mut child = teardown()
        .args(["analyze", s(&fifo), "-o", s(&page)])
        .spawn()
        .unwrap();
    let status = wait_within(
        &mut child,
        std::time::Duration::from_secs(20),
        "the FIFO's run",
    );
    writer.join().unwrap();
    assert_eq!(status.code(), Some(0));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("not a regular file"),
        "the page says why there are no ladders"
    );
}
