//! `teardown check`: policies over the kernel-recorded fixture, for CI.

use serde_json::Value;

use crate::common::*;

fn client_pcap() -> String {
    fixture("kernel/client.pcap").display().to_string()
}

fn check(args: &[&str]) -> (Option<i32>, String, String) {
    run_on_fixture("check", "kernel/client.pcap", args)
}

#[test]
fn a_hang_fails_fail_on_half_closed_hang_and_names_the_connection() {
    let (code, out, _) = check(&["--fail-on", "half_closed_hang"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("FAILED  fail-on half_closed_hang"), "{out}");
    // Both hanging connections are named with endpoints, class and states.
    assert!(out.contains("10.88.0.1:41005 -> 10.88.0.2:8005 half_closed_hang client FIN_WAIT_2 / server CLOSE_WAIT"), "{out}");
    assert!(out.contains("10.88.0.1:41006 -> 10.88.0.2:8006"), "{out}");
    assert!(out.contains("first FIN from client at"), "{out}");
    assert!(out.contains("result: FAILED"));
}

#[test]
fn the_same_traffic_filtered_to_clean_connections_passes() {
    // Scenarios 1, 2, 3 and 26 close cleanly.
    let (code, out, _) = check(&[
        "--fail-on",
        "half_closed_hang",
        "--fail-on",
        "lost_fin",
        "--fail-on",
        "reset",
        "--port",
        "8001",
        "--port",
        "8002",
        "--port",
        "8003",
        "--port",
        "8026",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("teardown check: 4 connections"), "{out}");
    assert!(out.contains("result: held"));
}

#[test]
fn max_counts_fail_above_and_hold_below() {
    // The fixture has 4 resets.
    let (code, out, _) = check(&["--max", "reset=1"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("FAILED  max reset=1"), "{out}");
    assert!(out.contains("observed 4"), "{out}");
    let (code, out, _) = check(&["--max", "reset=10"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, _, _) = check(&["--max", "reset=4"]);
    assert_eq!(code, Some(0), "exactly the limit holds");
}

#[test]
fn max_percentages_are_of_all_connections() {
    // 4 resets of 30 connections = 13.3 %.
    assert_eq!(check(&["--max", "reset=13%"]).0, Some(1));
    assert_eq!(check(&["--max", "reset=14%"]).0, Some(0));
    // Flags work as targets too: 4 connections reuse a 4-tuple in TIME_WAIT.
    assert_eq!(check(&["--max", "time_wait_reuse=10%"]).0, Some(1));
    assert_eq!(check(&["--max", "time_wait_reuse=20%"]).0, Some(0));
}

#[test]
fn json_verdict_is_machine_readable() {
    let (code, out, _) = check(&[
        "--max",
        "reset=1",
        "--fail-on",
        "refused",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(1));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["held"], false);
    assert_eq!(v["connections"], 30);
    // --fail-on rules come before --max rules.
    assert_eq!(v["rules"][0]["rule"], "fail-on refused");
    assert_eq!(v["rules"][0]["connections"].as_array().unwrap().len(), 1);
    assert_eq!(v["rules"][1]["rule"], "max reset=1");
    assert_eq!(v["rules"][1]["observed"], 4);
    assert_eq!(v["rules"][1]["held"], false);
}

#[test]
fn junit_file_parses_and_holds_a_failing_testcase() {
    use quick_xml::events::Event;
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("teardown.xml");
    let (code, _, _) = check(&[
        "--fail-on",
        "half_closed_hang",
        "--max",
        "reset=10",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut failure_text) = (Vec::new(), 0, String::new());
    let mut in_failure = false;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testcase" => {
                let name = e.try_get_attribute("name").unwrap().unwrap();
                cases.push(name.value.to_string());
            }
            Event::Start(e) if e.name().as_ref() == "failure" => {
                failures += 1;
                in_failure = true;
            }
            Event::Text(t) if in_failure => failure_text.push_str(t.as_ref()),
            Event::GeneralRef(_) if in_failure => failure_text.push('&'),
            Event::End(e) if e.name().as_ref() == "failure" => in_failure = false,
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(
        cases,
        [
            "fail-on half_closed_hang",
            "max reset=10",
            "min-connections 1"
        ]
    );
    assert_eq!(failures, 1);
    assert!(failure_text.contains("10.88.0.1:41005"), "{failure_text}");
}

#[test]
fn markdown_summary_lists_rules_and_offenders() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("summary.md");
    let (code, _, _) = check(&["--fail-on", "lost_fin", "--summary", md.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("| `fail-on lost_fin` | **failed** | 3 (10.0%) | 0 |"),
        "{text}"
    );
    assert!(text.contains("| lost_fin | 3 |"));
    assert!(text.contains("10.88.0.1:41008"));
}

#[test]
fn a_missing_input_exits_2() {
    let out = run(&["check", "missing.pcap", "--fail-on", "reset"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pcap"));
}

#[test]
fn a_check_without_rules_or_with_an_unknown_target_is_a_usage_error() {
    assert_eq!(check(&[]).0, Some(2));
    let (code, _, err) = check(&["--fail-on", "resets"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("`resets` is not a class, flag or finding"),
        "{err}"
    );
    assert_eq!(check(&["--max", "reset"]).0, Some(2));
}

#[test]
fn a_policy_file_and_command_line_rules_combine() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "fail_on = [\"refused\"]\n[max]\nreset = 10\n[filter]\nnet = [\"10.88.0.0/16\"]\n",
    )
    .unwrap();
    let (code, out, _) = check(&["--policy", policy.to_str().unwrap(), "--max", "lost_fin=1"]);
    assert_eq!(code, Some(1));
    // Rules from the file first, then the command line's.
    let rules: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("held") || l.starts_with("FAILED"))
        .collect();
    assert_eq!(rules.len(), 4, "{out}");
    assert!(rules[0].starts_with("FAILED  fail-on refused"), "{out}");
    assert!(rules[1].starts_with("held    max reset=10"), "{out}");
    assert!(rules[2].starts_with("FAILED  max lost_fin=1"), "{out}");
    // The file's filter (IPv4 network) leaves out the IPv6 connection.
    assert!(out.contains("teardown check: 29 connections"), "{out}");

    std::fs::write(&policy, "fail_on = [\"nope\"]\n").unwrap();
    let (code, _, err) = check(&["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("policy.toml"), "{err}");
}

#[test]
fn analyze_filters_by_host_net_port_and_time() {
    let pcap = client_pcap();
    let count = |args: &[&str]| -> (u64, u64) {
        let mut all = vec!["analyze", "--format", "json", pcap.as_str()];
        all.extend_from_slice(args);
        let out = run(&all, None);
        assert_eq!(out.status.code(), Some(0));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["summary"]["connections"].as_u64().unwrap(),
            v["summary"]["filtered_out"].as_u64().unwrap(),
        )
    };
    assert_eq!(count(&[]), (30, 0));
    assert_eq!(count(&["--host", "fd88::2"]), (1, 29));
    assert_eq!(count(&["--net", "fd88::/64"]), (1, 29));
    assert_eq!(count(&["--net", "10.88.0.0/24"]), (29, 1));
    assert_eq!(count(&["--port", "8017"]), (3, 27));
    assert_eq!(count(&["--port", "8017", "--host", "10.88.0.2"]), (3, 27));
    let report = analyze_json(&[&fixture("kernel/client.pcap")]);
    let first = report["summary"]["first_ts"].as_f64().unwrap();
    let last = report["summary"]["last_ts"].as_f64().unwrap();
    assert_eq!(count(&["--since", &format!("{}", last + 1.0)]), (0, 30));
    assert_eq!(count(&["--until", &format!("{}", first - 1.0)]), (0, 30));
    let (n, _) = count(&["--until", &format!("{}", first + 10.0)]);
    assert!(n > 0 && n < 30);
}

/// The offenders listed are shared between the failed rules and the worst
/// come first: 23 offenders of four rules for 20 rows; the one `incomplete`
/// connection has the largest id and was left out when the log listed the
/// 20 smallest ids of all rules.
#[test]
fn offenders_are_shared_between_failed_rules_worst_first() {
    let rules = ["clean", "open", "reset", "incomplete"];
    let args: Vec<&str> = rules.iter().flat_map(|r| ["--fail-on", r]).collect();
    let (code, out, _) = check(&args);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("offending connections: 23 (20 shown)"),
        "{out}"
    );
    let listed: Vec<&str> = out.lines().filter(|l| l.starts_with("  #")).collect();
    assert_eq!(listed.len(), 20, "{out}");
    for rule in rules {
        assert!(
            listed.iter().any(|l| l.contains(&format!(" {rule} "))),
            "no {rule} offender listed:\n{out}"
        );
    }
    assert!(
        listed[..4].iter().all(|l| l.contains(" reset ")),
        "resets first:\n{out}"
    );
}

fn check_timeline(args: &[&str]) -> (Option<i32>, String, String) {
    run_on_fixture("check", "timeline/client.pcap", args)
}

/// `--max-state`: the server of fixtures/timeline held 60 sockets in
/// CLOSE_WAIT at once (ss agrees: NOTES.md); a limit below fails, naming
/// the host and the instant, and one at the peak holds.
#[test]
fn max_state_fails_when_a_hosts_peak_exceeds_the_limit() {
    let (code, out, err) = check_timeline(&["--max-state", "CLOSE_WAIT=59"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("FAILED  max-state CLOSE_WAIT=59")
            && out.contains("observed 60 sockets on 10.91.0.2 at 2026-12-07T00:59:31"),
        "{out}"
    );
    let (code, out, _) = check_timeline(&[
        "--max-state",
        "close-wait=60",
        "--max-state",
        "TIME-WAIT=1000",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("held    max-state CLOSE_WAIT=60"), "{out}");
    // The JSON verdict names the host and the peak's time.
    let (_, json, _) = check_timeline(&["--max-state", "FIN_WAIT_1=5", "-f", "json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let rule = &v["rules"][0];
    // With Linux's default tcp_orphan_retries the 10 FINs of workload b keep
    // their sockets in FIN_WAIT_1 for 102 s, one of d's joins them.
    assert_eq!(
        (rule["observed"].as_u64(), rule["held"].as_bool()),
        (Some(11), Some(false))
    );
    assert_eq!(rule["host"], "10.91.0.1");
}

#[test]
fn max_state_reads_the_policy_file_and_refuses_an_unknown_state() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[max_state]\nCLOSE_WAIT = 10\n").unwrap();
    let (code, out, _) = check_timeline(&["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAILED  max-state CLOSE_WAIT=10"), "{out}");
    let (code, _, err) = check_timeline(&["--max-state", "HALF_OPEN=3"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("HALF_OPEN=3") && err.contains("CLOSE_WAIT"),
        "{err}"
    );
}
