use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

pub fn teardown() -> Command {
    Command::new(env!("CARGO_BIN_EXE_teardown"))
}

/// `teardown` under a 512 MiB address-space limit (`ulimit -v`), and a
/// timeout of `timeout_s` seconds when given; add its arguments with `args`.
/// Where a test needs the limit: an allocation sized by a length field fails
/// there instead of passing quietly, and the thread count is fitted to it.
pub fn teardown_limited(timeout_s: Option<u32>) -> Command {
    let timeout = timeout_s.map_or(String::new(), |s| format!("timeout {s} "));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v 524288 && exec {timeout}\"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_teardown"));
    cmd
}

/// Runs `teardown` with `args`, optionally feeding `stdin`.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = teardown();
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn teardown");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let data = data.to_vec();
        // Write from a thread so a large input cannot deadlock against stdout.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    child.wait_with_output().expect("wait teardown")
}

/// The standard output of a run that must have exited 0 (its stderr shown
/// when it did not).
pub fn success(out: Output) -> Vec<u8> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `teardown analyze --format json ARGS...`, asserting exit 0.
pub fn analyze_json(inputs: &[&Path]) -> Value {
    let mut args = vec!["analyze", "--format", "json"];
    let strs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    args.extend(strs.iter().map(String::as_str));
    let out = run(&args, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "teardown failed on {inputs:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Client address and port, server address and port.
pub type ConnKey = (String, u64, String, u64);

/// A connection's identity: client and server endpoints.
pub fn conn_key(c: &Value) -> ConnKey {
    let (client, client_port) = endpoint(&c["client"]);
    let (server, server_port) = endpoint(&c["server"]);
    (client, client_port, server, server_port)
}

/// An endpoint of the JSON report, `address:port` (`[address]:port` for
/// IPv6), as its address and port.
pub fn endpoint(v: &Value) -> (String, u64) {
    let text = v.as_str().expect("an endpoint is address:port");
    let (ip, port) = text.rsplit_once(':').unwrap();
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    (ip.to_string(), port.parse().unwrap())
}

/// An endpoint's port.
pub fn port(v: &Value) -> u64 {
    endpoint(v).1
}

/// A packet reference of connection `c` (`[packet, seconds after first_ts]`,
/// `input` third from the second input on) as (time, input, packet).
pub fn packet_ref(c: &Value, r: &Value) -> (f64, u64, u64) {
    let a = r.as_array().expect("a packet reference is an array");
    let first_us = (c["first_ts"].as_f64().unwrap() * 1e6).round() as i64;
    let us = first_us + (a[1].as_f64().unwrap() * 1e6).round() as i64;
    (
        us as f64 / 1e6,
        a.get(2).and_then(Value::as_u64).unwrap_or(0),
        a[0].as_u64().unwrap(),
    )
}

/// Connections as (key, first_ts, packets) – what must not depend on how the
/// capture was stored.
pub fn connection_identities(report: &Value) -> Vec<(ConnKey, String, u64)> {
    report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let pk =
                c["packets"]["client"].as_u64().unwrap() + c["packets"]["server"].as_u64().unwrap();
            (
                conn_key(c),
                format!("{:.6}", c["first_ts"].as_f64().unwrap()),
                pk,
            )
        })
        .collect()
}

/// Reads a tab-separated file with a header line into maps.
pub fn read_tsv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Waits for `child` at most `limit`, killing it and failing with `what` past
/// that: a test of something that must not hang cannot hang itself.
pub fn wait_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `teardown SUBCOMMAND FIXTURE ARGS...`: its exit code, stdout and stderr.
pub fn run_on_fixture(subcommand: &str, rel: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let capture = fixture(rel).display().to_string();
    let mut all = vec![subcommand, capture.as_str()];
    all.extend_from_slice(args);
    let out = run(&all, None);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `fixtures/timeline`'s client namespace sysctls (record.sh) as flags; the
/// server's own timers do not come into play in its workloads.
pub const TIMELINE_TIMERS: [&str; 8] = [
    "--fin-timeout",
    "5",
    "--syn-retries",
    "2",
    "--retries2",
    "3",
    "--orphan-retries",
    "2",
];
