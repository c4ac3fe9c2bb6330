//! `teardown diff` and `check --baseline` on the recorded before/after pairs
//! of fixtures/diff (NOTES.md there: what changed and what the kernel did).

use serde_json::Value;

use crate::common::{fixture, run, success};

/// The client namespace's sysctls of the recordings (fixtures/diff/NOTES.md).
const TIMERS: [&str; 6] = [
    "--fin-timeout",
    "5s",
    "--syn-retries",
    "2",
    "--orphan-retries",
    "2",
];

fn pcap(name: &str) -> String {
    fixture(&format!("diff/{name}.pcap")).display().to_string()
}

fn diff_json(before: &str, after: &str) -> Value {
    let mut args = vec!["diff", before, after, "-f", "json"];
    args.extend(TIMERS);
    serde_json::from_slice(&success(run(&args, None))).unwrap()
}

fn row<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == name)
        .unwrap_or_else(|| panic!("no {key} {name} in {list}"))
}

fn verdict(list: &Value, key: &str, name: &str) -> String {
    row(list, key, name)["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The changed rows of `section` that are significant.
fn changed_endpoints(d: &Value, section: &str) -> Vec<String> {
    d[section]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["significant"] == true)
        .map(|r| r["endpoint"].as_str().unwrap().to_string())
        .collect()
}

fn peak_verdict(d: &Value, host: &str, state: &str) -> String {
    d["peaks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["host"] == host && p["state"] == state)
        .map_or("absent".into(), |p| {
            p["verdict"].as_str().unwrap().to_string()
        })
}

#[test]
fn the_a_a_pair_shows_nothing_significant() {
    let d = diff_json(&pcap("aa-1"), &pcap("aa-2"));
    assert_eq!(d["significant"], false, "{:#}", d["ranked"]);
    assert_eq!(d["ranked"].as_array().unwrap().len(), 0);
    // The same workload with the same client ports: a replay, no class moved.
    assert_eq!(d["comparison"], "replay");
    assert_eq!(d["matching"]["matched"], 208);
    assert_eq!(d["matching"]["transitions"].as_array().unwrap().len(), 0);
    assert_eq!(verdict(&d["rates"], "name", "clean"), "unchanged");
    // The durations differ by microseconds of scheduler noise: below the floor.
    for t in d["timings"].as_array().unwrap() {
        assert_eq!(t["verdict"], "unchanged", "{t}");
    }
    let text =
        String::from_utf8(success(run(&["diff", &pcap("aa-1"), &pcap("aa-2")], None))).unwrap();
    assert!(text.contains("No significant change"), "{text}");
}

#[test]
fn the_leak_pair_names_the_close_wait_leak_on_its_port() {
    let d = diff_json(&pcap("leak-before"), &pcap("leak-after"));
    assert_eq!(d["significant"], true);
    assert_eq!(
        verdict(&d["rates"], "name", "half_closed_hang"),
        "increased"
    );
    assert_eq!(
        row(&d["rates"], "name", "half_closed_hang")["after"]["count"],
        100
    );
    // Only the changed port, not the control 9101.
    assert_eq!(changed_endpoints(&d, "servers"), ["10.94.0.2:9102"]);
    let s = &d["servers"]["rows"][0];
    assert_eq!(s["verdict"], "appeared");
    assert_eq!(s["class"]["class"], "half_closed_hang");
    assert_eq!(s["class"]["after"], 100);
    assert_eq!(changed_endpoints(&d, "clients"), ["10.94.0.1"]);
    let f = &d["findings"][0];
    assert_eq!(
        (f["name"].as_str(), f["host"].as_str()),
        (Some("close_wait_leak"), Some("10.94.0.2:9102"))
    );
    assert_eq!(f["verdict"], "appeared");
    assert_eq!(peak_verdict(&d, "10.94.0.2", "CLOSE_WAIT"), "increased");
    assert_eq!(peak_verdict(&d, "10.94.0.1", "FIN_WAIT_2"), "increased");
    assert_eq!(verdict(&d["timings"], "name", "close_wait"), "increased");
    let t = &d["matching"]["transitions"];
    assert_eq!(t.as_array().unwrap().len(), 1, "{t}");
    assert_eq!(
        (
            t[0]["from"].as_str(),
            t[0]["to"].as_str(),
            t[0]["connections"].as_u64()
        ),
        (Some("clean"), Some("half_closed_hang"), Some(100))
    );
}

#[test]
fn the_fin_drop_pair_names_the_lost_fins_and_the_client_pileup() {
    let d = diff_json(&pcap("findrop-before"), &pcap("findrop-after"));
    assert_eq!(verdict(&d["rates"], "name", "lost_fin"), "increased");
    assert_eq!(
        verdict(&d["rates"], "name", "fin_retransmitted"),
        "increased"
    );
    assert_eq!(changed_endpoints(&d, "servers"), ["10.94.0.2:9102"]);
    assert_eq!(d["servers"]["rows"][0]["class"]["class"], "lost_fin");
    let f = row(&d["findings"], "name", "fin_wait_1_pileup");
    assert_eq!(
        (f["host"].as_str(), f["verdict"].as_str()),
        (Some("10.94.0.1"), Some("appeared"))
    );
    assert_eq!(peak_verdict(&d, "10.94.0.1", "FIN_WAIT_1"), "increased");
    // The rank: the class first, not a flag or a duration.
    let top = &d["ranked"][0];
    assert!(
        top["section"] == "class" || top["section"] == "finding",
        "{top}"
    );
}

#[test]
fn the_backlog_pair_names_the_unanswered_syns_on_its_port() {
    let d = diff_json(&pcap("backlog-before"), &pcap("backlog-after"));
    let u = row(&d["rates"], "name", "unanswered");
    assert_eq!(u["verdict"], "increased");
    // Not reproducible to the connection (NOTES.md): 71–73 in four recordings.
    assert!(
        (70..=75).contains(&u["after"]["count"].as_u64().unwrap()),
        "{u}"
    );
    assert_eq!(
        verdict(&d["rates"], "name", "syn_retransmitted"),
        "increased"
    );
    assert_eq!(changed_endpoints(&d, "servers"), ["10.94.0.2:9102"]);
    assert_eq!(d["servers"]["rows"][0]["class"]["class"], "unanswered");
    // Its count varies (8–14): it appeared, whatever its size.
    assert_eq!(
        verdict(&d["findings"], "name", "listen_queue_overflow"),
        "appeared"
    );
    assert_eq!(peak_verdict(&d, "10.94.0.1", "SYN_SENT"), "increased");
}

#[test]
fn a_json_report_side_gives_the_same_diff_as_its_capture() {
    let dir = tempfile::tempdir().unwrap();
    for (before, after) in [
        ("aa-1", "aa-2"),
        ("leak-before", "leak-after"),
        ("backlog-before", "backlog-after"),
    ] {
        let report = dir.path().join(format!("{before}.json"));
        let mut args = vec!["analyze", "-f", "json", "-o", report.to_str().unwrap()];
        let p = pcap(before);
        args.push(&p);
        args.extend(TIMERS);
        success(run(&args, None));
        let from_capture = diff_json(&pcap(before), &pcap(after));
        let from_report = diff_json(report.to_str().unwrap(), &pcap(after));
        assert_eq!(from_report["before"]["origin"], "report");
        assert_eq!(
            from_report["before"]["report_schema"],
            from_capture["schema_version"]
        );
        for key in [
            "comparison",
            "matching",
            "settings_differ",
            "warnings",
            "significant",
            "ranked",
            "rates",
            "servers",
            "clients",
            "timings",
            "findings",
            "peaks",
        ] {
            assert_eq!(from_report[key], from_capture[key], "{before}: {key}");
        }
    }
}

#[test]
fn captures_of_other_traffic_are_compared_by_rates_and_say_so() {
    let kernel = fixture("kernel/client.pcap").display().to_string();
    let d = diff_json(&kernel, &pcap("aa-1"));
    assert_eq!(d["comparison"], "rates");
    assert_eq!(d["matching"]["replay"], false);
    let text = String::from_utf8(success(run(&["diff", &kernel, &pcap("aa-1")], None))).unwrap();
    assert!(text.contains("rates compared"), "{text}");
}

#[test]
fn markdown_and_html_say_what_the_text_says() {
    let (b, a) = (pcap("leak-before"), pcap("leak-after"));
    let md = String::from_utf8(success(run(&["diff", &b, &a, "-f", "markdown"], None))).unwrap();
    assert!(md.starts_with("## teardown diff: ⚠️"), "{md}");
    assert!(
        md.contains("| `half_closed_hang` | 0.0 % | 48.1 % |"),
        "{md}"
    );
    assert!(md.contains("`10.94.0.2:9102`"), "{md}");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("diff.html");
    success(run(&["diff", &b, &a, "-o", page.to_str().unwrap()], None));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Content-Security-Policy"));
    assert!(!html.contains("<script"), "the page needs no script");
    // Both sides overlaid: the durations' two distributions, the CLOSE_WAIT series.
    assert!(
        html.matches("<polyline class=\"before\"").count() >= 4,
        "{html}"
    );
    assert!(html.matches("<polyline class=\"after\"").count() >= 5);
    assert!(html.contains("CLOSE_WAIT on 10.94.0.2"));
    let aa = String::from_utf8(success(run(
        &["diff", &pcap("aa-1"), &pcap("aa-2"), "-f", "markdown"],
        None,
    )))
    .unwrap();
    assert!(
        aa.starts_with("## teardown diff: ✅ no significant change"),
        "{aa}"
    );
}

const RULES: [&str; 8] = [
    "--max-increase",
    "half_closed_hang=1%",
    "--max-increase",
    "lost_fin=2",
    "--max-increase",
    "unanswered=0.5%",
    "--max-increase",
    "reset=0.5%",
];

fn check(after: &str, baseline: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["check", after, "--baseline", baseline, "-f", "json"];
    args.extend(RULES);
    args.extend(extra);
    let out = run(&args, None);
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn check_against_a_baseline_fails_on_each_changed_pair_with_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    for (before, after, failing) in [
        ("aa-1", "aa-2", None),
        (
            "leak-before",
            "leak-after",
            Some("max-increase half_closed_hang=1%"),
        ),
        (
            "findrop-before",
            "findrop-after",
            Some("max-increase lost_fin=2"),
        ),
        (
            "backlog-before",
            "backlog-after",
            Some("max-increase unanswered=0.5%"),
        ),
    ] {
        let (code, out) = check(&pcap(after), &pcap(before), &[]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let failed: Vec<&str> = v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["held"] == false)
            .map(|r| r["rule"].as_str().unwrap())
            .collect();
        assert_eq!(failed, failing.into_iter().collect::<Vec<_>>(), "{after}");
        assert_eq!(code, Some(if failing.is_some() { 1 } else { 0 }), "{after}");
        if let Some(rule) = failing {
            let r = row(&v["rules"], "rule", rule);
            assert_eq!(r["baseline"]["observed"], 0);
            assert_eq!(r["baseline"]["connections"], 208);
            // The offending connections are the new side's.
            assert_eq!(
                r["connections"].as_array().unwrap().len() as u64,
                r["observed"].as_u64().unwrap()
            );
        }
        // The baseline as a JSON report: the same verdict, byte for byte.
        let report = dir.path().join(format!("{before}.json"));
        success(run(
            &[
                "analyze",
                &pcap(before),
                "-f",
                "json",
                "-o",
                report.to_str().unwrap(),
            ],
            None,
        ));
        assert_eq!(
            check(&pcap(after), report.to_str().unwrap(), &[]),
            (code, out),
            "{after}"
        );
    }
}

#[test]
fn check_baseline_rules_come_from_the_policy_file_too_and_junit_has_a_case_each() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[max_increase]\nhalf_closed_hang = \"1%\"\nreset = 2\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let out = run(
        &[
            "check",
            &pcap("leak-after"),
            "--baseline",
            &pcap("leak-before"),
            "--policy",
            policy.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("FAILED  max-increase half_closed_hang=1%"),
        "{text}"
    );
    assert!(text.contains("baseline 0 of 208 (0.0%)"), "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert!(xml.contains("name=\"max-increase half_closed_hang=1%\""));
}

#[test]
fn baselines_that_cannot_be_used_are_bad_usage_naming_the_file() {
    let out = run(
        &["check", &pcap("aa-1"), "--max-increase", "reset=1%"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--baseline"));
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.json");
    let full = success(run(&["analyze", &pcap("aa-1"), "-f", "json"], None));
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    for args in [
        vec!["diff", cut.to_str().unwrap(), &pcap("aa-2")],
        vec![
            "check",
            &pcap("aa-2"),
            "--baseline",
            cut.to_str().unwrap(),
            "--max-increase",
            "reset=1%",
        ],
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cut.json") && err.contains("line 1"), "{err}");
    }
    let out = run(&["diff", "-", "-"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_example_diff_reports_are_up_to_date() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for ext in ["md", "html"] {
        let mut cmd = crate::common::teardown();
        cmd.current_dir(root).args([
            "diff",
            "fixtures/diff/leak-before.pcap",
            "fixtures/diff/leak-after.pcap",
            "-f",
            if ext == "md" { "markdown" } else { "html" },
        ]);
        cmd.args(TIMERS);
        let fresh = String::from_utf8(success(cmd.output().unwrap())).unwrap();
        let committed =
            std::fs::read_to_string(root.join(format!("reports/diff-leak.{ext}"))).unwrap();
        assert!(
            fresh == committed,
            "reports/diff-leak.{ext} is stale: run scripts/update-reports.sh --no-screenshot"
        );
    }
}
