//! The HTML report (`--format html`), loaded in real headless Chromium: the
//! rendered DOM shows the report's counts and classes, sorting and filtering work,
//! the page works without JavaScript, it makes no network request, hostile text
//! from a capture stays text, `reports/` is up to date, and the page stays small
//! for a huge capture.
//!
//! Chromium is required (Debian: `apt-get install chromium`; `.ci/run` installs
//! it). Without it these tests fail; they never skip.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

const DEMO: &str = "fixtures/kernel/client.pcap";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `teardown ARGS...` run from the repository root (so paths in the report are
/// the relative ones given), asserting exit 0; returns stdout.
fn teardown_in_root(args: &[&str]) -> Vec<u8> {
    let out = teardown()
        .args(args)
        .current_dir(manifest_dir())
        .stdin(Stdio::null())
        .output()
        .expect("run teardown");
    assert_eq!(
        out.status.code(),
        Some(0),
        "teardown {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn demo_html() -> String {
    String::from_utf8(teardown_in_root(&["analyze", DEMO, "-f", "html"])).expect("UTF-8 page")
}

fn demo_json() -> Value {
    serde_json::from_slice(&teardown_in_root(&["analyze", DEMO, "-f", "json"])).unwrap()
}

/// The Chromium binary; panics (never skips) when it is missing.
fn chromium_binary() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("chromium");
            if p.exists() {
                return p;
            }
        }
    }
    panic!(
        "Chromium is needed by the HTML report tests and was not found: \
         `apt-get install -y chromium` (.ci/run does it)"
    );
}

/// What one headless Chromium run saw.
struct Loaded {
    /// The DOM after load and scripts (`--dump-dom`).
    dom: String,
    /// Chromium's log on stderr (`--enable-logging=stderr`): console messages,
    /// Content-Security-Policy violations among them.
    log: String,
    /// URLs of the network requests the page itself made (from the net log).
    page_requests: Vec<String>,
}

/// Loads `url` in headless Chromium with the flags of the issue, a fresh profile
/// and a net log, and returns the DOM, the console log and the page's requests.
fn load(url: &str, extra: &[&str]) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    let netlog = dir.path().join("netlog.json");
    let mut cmd = Command::new(chromium_binary());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--log-net-log={}", netlog.display()))
    .args(extra)
    .arg("--dump-dom")
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_within(
        &mut child,
        Duration::from_secs(90),
        &format!("chromium loading {url}"),
    );
    let dom = out_reader.join().unwrap();
    let log = err_reader.join().unwrap();
    assert!(status.success(), "chromium failed on {url}: {log}");
    assert!(dom.contains("</html>"), "no DOM dumped for {url}: {log}");
    let page_requests = page_requests(&netlog);
    Loaded {
        dom,
        log,
        page_requests,
    }
}

/// Requests made on behalf of a page, from a Chromium net log: URL requests whose
/// initiator is an origin (a page's; `null` for file:// pages) rather than the
/// browser itself ("not an origin": its own update and time checks, which happen
/// whatever page is loaded).
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog)
        .unwrap_or_else(|e| panic!("no net log at {}: {e}", netlog.display()));
    // Chromium may be killed before it closes the JSON; its events are complete.
    let log: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .expect("net log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("net log names URL_REQUEST_START_JOB");
    log["events"]
        .as_array()
        .expect("net log events")
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| e["params"]["initiator"].as_str() != Some("not an origin"))
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect()
}

/// Console messages about Content-Security-Policy: the page tried to load
/// something and the policy stopped it.
fn csp_violations(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") && l.contains("Content Security Policy"))
        .collect()
}

/// Console errors from the page's own script.
fn script_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") && l.contains("Uncaught"))
        .collect()
}

fn write_page(dir: &Path, name: &str, html: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, html).unwrap();
    format!("file://{}", path.display())
}

/// The value of `attr` on the element with `id` in a serialized DOM.
fn attr_of(dom: &str, id: &str, attr: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let tag = &dom[start..end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// The opening tag of the element with `id`.
fn tag_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id}"));
    let start = dom[..at].rfind('<').unwrap();
    &dom[start..at + dom[at..].find('>').unwrap() + 1]
}

/// The table rows as (id, hidden) in DOM order.
fn table_rows(dom: &str) -> Vec<(u64, bool)> {
    dom.split("<tr data-class=")
        .skip(1)
        .map(|row| {
            let head = &row[..row.find('>').unwrap()];
            let v = row.find("data-v=\"").unwrap() + 8;
            let id = row[v..v + row[v..].find('"').unwrap()].parse().unwrap();
            (id, head.contains(" hidden"))
        })
        .collect()
}

#[test]
fn demo_page_shows_the_reports_counts_and_classes_in_chromium() {
    let report = demo_json();
    let dir = tempfile::tempdir().unwrap();
    let url = write_page(dir.path(), "client.html", &demo_html());
    let page = load(&url, &[]);
    let dom = &page.dom;

    // A card per class, and the TIME_WAIT reuse flag, with the report's counts:
    // zeros included.
    let summary = &report["summary"];
    for (class, n) in summary["classes"].as_object().unwrap() {
        assert_eq!(
            attr_of(dom, &format!("card-{class}"), "data-count").as_deref(),
            Some(n.to_string().as_str()),
            "card for {class}"
        );
    }
    assert_eq!(
        attr_of(dom, "card-time_wait_reuse", "data-count"),
        Some(summary["flags"]["time_wait_reuse"].to_string())
    );
    assert!(dom.contains(r#"<div class="n">16<span class="pct">53.3%</span>"#));
    // The text summary says the same: its class lines and problem count.
    let text = String::from_utf8(teardown_in_root(&["analyze", DEMO, "-f", "text"])).unwrap();
    for line in text.lines().filter(|l| l.ends_with('%')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (class, n, pct) = (f[0], f[1], f[2]);
        assert!(
            dom.contains(&format!(
                r#"<div class="n">{n}<span class="pct">{pct}</span></div>"#
            )) && attr_of(dom, &format!("card-{class}"), "data-count").as_deref() == Some(n),
            "text line {line:?} differs from the page"
        );
    }
    assert!(text.contains("problem connections (15 total"));
    for (flag, n) in summary["flags"].as_object().unwrap() {
        assert!(
            dom.contains(&format!(r#"data-flag="{flag}">{flag} <b>{n}</b>"#)),
            "flag chip {flag}"
        );
    }
    // A diagnosis for each class (and reuse) present.
    for d in summary["diagnoses"].as_array().unwrap() {
        let topic = d["topic"].as_str().unwrap();
        assert!(
            dom.contains(&format!("id=\"diag-{topic}\"")),
            "diagnosis {topic}"
        );
    }
    assert!(!dom.contains("id=\"diag-truncated\""));

    // The problem table: the same connections as the text summary, every class
    // badge right, in report order, the script ran (filters visible, count shown).
    let problems: Vec<&Value> = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            matches!(
                c["class"].as_str().unwrap(),
                "half_closed_hang" | "lost_fin" | "reset" | "refused" | "unanswered"
            ) || c.get("reuse").is_some()
        })
        .collect();
    assert_eq!(problems.len(), 15);
    let rows = table_rows(dom);
    let ids: Vec<u64> = problems.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), ids);
    assert!(rows.iter().all(|r| !r.1), "no row hidden without a filter");
    for c in &problems {
        let id = c["id"].as_u64().unwrap();
        let class = c["class"].as_str().unwrap();
        assert!(
            dom.contains(&format!(
                "<tr data-class=\"{class}\" data-flags=\"{}\"",
                c["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            "row #{id}"
        );
    }
    assert!(
        !tag_of(dom, "filters").contains("hidden"),
        "the script did not run"
    );
    assert!(dom.contains(r#"<span class="muted" id="f-count">15 of 15 rows shown</span>"#));
    assert_eq!(
        attr_of(dom, "table-count", "data-total").as_deref(),
        Some("15")
    );

    // A ladder for each problem connection, with its evidence and end states.
    assert_eq!(dom.matches("<details class=\"ladder\"").count(), 15);
    // Scenario 8 (client port 41008): the server's FIN resent, the last ACK lost.
    let s8 = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| port(&c["client"]) == 41008)
        .unwrap()["id"]
        .clone();
    let ladder = &dom[dom.find(&format!("id=\"c{s8}\"")).unwrap()..];
    let ladder = &ladder[..ladder.find("</details>").unwrap()];
    assert!(ladder.contains("<svg"));
    assert!(ladder.contains("SYN, ACK  seq=0 ack=1"));
    assert!(ladder.contains("server FIN, 1st of 7"));
    assert!(ladder.contains(">TIME_WAIT</text>") && ladder.contains(">LAST_ACK</text>"));
    // Charts are inline SVG with a bar per class present.
    for id in [
        "chart-timeline",
        "chart-close-wait",
        "chart-close",
        "chart-servers",
        "chart-clients",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(dom.contains(r#"<rect class="k-half_closed_hang""#));

    // No request left the page, nothing was blocked, no script error.
    assert_eq!(page.page_requests, Vec::<String>::new());
    assert_eq!(csp_violations(&page.log), Vec::<&str>::new());
    assert_eq!(script_errors(&page.log), Vec::<&str>::new());
}

/// The two detectors the previous test relies on do see a fetch: a copy of the
/// page with an image from the network is caught by the net log (policy
/// removed) and by the console (policy kept, which blocks the fetch).
#[test]
fn network_detectors_catch_a_page_that_fetches() {
    let html = demo_html();
    // A port nobody listens on: the request fails at once instead of hanging.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let img = format!(r#"<img src="http://127.0.0.1:{port}/tracker.png" alt="">"#);
    let with_img = html.replacen(
        "<main class=\"wrap\">",
        &format!("<main class=\"wrap\">{img}"),
        1,
    );
    assert_ne!(with_img, html);
    let csp_start = with_img
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .unwrap();
    let csp_end = csp_start + with_img[csp_start..].find('>').unwrap() + 1;
    let without_csp = format!("{}{}", &with_img[..csp_start], &with_img[csp_end..]);

    let dir = tempfile::tempdir().unwrap();
    let open = load(&write_page(dir.path(), "open.html", &without_csp), &[]);
    assert!(
        open.page_requests.iter().any(|u| u.contains("tracker.png")),
        "the net log did not show the page's request: {:?}",
        open.page_requests
    );
    let guarded = load(&write_page(dir.path(), "guarded.html", &with_img), &[]);
    assert!(
        guarded.page_requests.is_empty(),
        "the page's policy let a request out: {:?}",
        guarded.page_requests
    );
    assert!(
        !csp_violations(&guarded.log).is_empty(),
        "the console did not report the blocked fetch"
    );
}

#[test]
fn filters_and_sorting_follow_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let url = write_page(dir.path(), "client.html", &demo_html());
    let page = load(&format!("{url}#class=lost_fin&sort=-id"), &[]);
    let rows = table_rows(&page.dom);
    let shown: Vec<u64> = rows.iter().filter(|r| !r.1).map(|r| r.0).collect();
    let mut lost_fin: Vec<u64> = demo_json()["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["class"] == "lost_fin")
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    lost_fin.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(lost_fin.len(), 3);
    assert_eq!(shown, lost_fin, "lost_fin rows, highest id first");
    assert_eq!(rows.len(), 15, "the other rows are hidden, not removed");
    assert!(page.dom.contains("3 of 15 rows shown"));

    let page = load(
        &format!("{url}#flag=time_wait_reuse&q=:8018&sort=start"),
        &[],
    );
    let shown: Vec<u64> = table_rows(&page.dom)
        .iter()
        .filter(|r| !r.1)
        .map(|r| r.0)
        .collect();
    // The two reuses of port 8018, by start time.
    let mut reused: Vec<(f64, u64)> = demo_json()["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| port(&c["server"]) == 8018 && c.get("reuse").is_some())
        .map(|c| (c["first_ts"].as_f64().unwrap(), c["id"].as_u64().unwrap()))
        .collect();
    reused.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(reused.len(), 2);
    assert_eq!(shown, reused.iter().map(|r| r.1).collect::<Vec<_>>());

    // Following a link to a closed ladder opens it.
    let html = demo_html();
    let closed = html
        .match_indices("<details class=\"ladder\" id=\"c")
        .map(|(i, _)| &html[i..i + html[i..].find('>').unwrap()])
        .find(|tag| !tag.contains(" open"))
        .expect("a ladder closed by default");
    let id = closed.split('"').nth(3).unwrap();
    let page = load(&format!("{url}#{id}"), &[]);
    assert!(tag_of(&page.dom, id).contains(" open"));
}

/// Without its script (what a browser with JavaScript off shows; Chromium's
/// `--dump-dom` itself needs scripting, so the script is removed instead) the
/// page has everything but sorting and filtering.
#[test]
fn everything_but_sorting_works_without_javascript() {
    let html = demo_html();
    let start = html.find("<script>").unwrap();
    let end = html.find("</script>").unwrap() + "</script>".len();
    let without = format!("{}{}", &html[..start], &html[end..]);
    assert!(!without.contains("<script"));
    assert!(html.contains("<noscript>"));
    let dir = tempfile::tempdir().unwrap();
    let page = load(&write_page(dir.path(), "client.html", &without), &[]);
    let dom = &page.dom;
    assert!(
        tag_of(dom, "filters").contains("hidden"),
        "filter controls stay hidden when they cannot work"
    );
    assert_eq!(table_rows(dom).len(), 15);
    assert_eq!(dom.matches("<details class=\"ladder\"").count(), 15);
    let hosts = dom.matches("class=\"host-chart\"").count();
    assert!(hosts >= 2, "the host timeline's charts");
    assert_eq!(
        dom.matches("<svg").count(),
        15 + 5 + hosts,
        "ladders and charts"
    );
    assert_eq!(
        attr_of(dom, "card-lost_fin", "data-count").as_deref(),
        Some("3")
    );
    assert!(page.page_requests.is_empty());
}

// ---------------------------------------------------------------------------
// Hostile text

/// A tiny pcapng writer: blocks with options, little-endian.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len()) as u32;
    let mut b = kind.to_le_bytes().to_vec();
    b.extend(len.to_le_bytes());
    b.extend(body);
    b.extend(len.to_le_bytes());
    b
}

fn option(code: u16, value: &[u8]) -> Vec<u8> {
    let mut o = code.to_le_bytes().to_vec();
    o.extend((value.len() as u16).to_le_bytes());
    o.extend(value);
    while !o.len().is_multiple_of(4) {
        o.push(0);
    }
    o
}

fn end_of_options() -> Vec<u8> {
    vec![0, 0, 0, 0]
}

/// Ethernet + IPv4 + a TCP SYN from 192.0.2.1:40000 to 192.0.2.2:80.
fn syn_frame() -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let ip = [
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ];
    f.extend(ip);
    let tcp = [
        0x9c, 0x40, 0, 80, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ];
    f.extend(tcp);
    f
}

fn hostile_pcapng(text: &str) -> Vec<u8> {
    let mut shb = Vec::new();
    shb.extend(0x1A2B_3C4Du32.to_le_bytes());
    shb.extend(1u16.to_le_bytes());
    shb.extend(0u16.to_le_bytes());
    shb.extend((-1i64).to_le_bytes());
    shb.extend(option(1, format!("comment {text}").as_bytes()));
    shb.extend(end_of_options());
    let mut idb = Vec::new();
    idb.extend(1u16.to_le_bytes()); // LINKTYPE_ETHERNET
    idb.extend(0u16.to_le_bytes());
    idb.extend(65535u32.to_le_bytes());
    idb.extend(option(2, format!("eth0{text}").as_bytes())); // if_name
    idb.extend(option(
        3,
        format!("uplink {text} \"quoted\" & 'single'").as_bytes(),
    )); // if_description
    idb.extend(option(1, text.as_bytes()));
    idb.extend(end_of_options());
    let mut out = block(0x0A0D_0D0A, &shb);
    out.extend(block(1, &idb));
    for (i, ts_us) in [1_700_000_000_000_000u64, 1_700_000_001_000_000]
        .into_iter()
        .enumerate()
    {
        let frame = syn_frame();
        let mut epb = Vec::new();
        epb.extend(0u32.to_le_bytes());
        epb.extend(((ts_us >> 32) as u32).to_le_bytes());
        epb.extend((ts_us as u32).to_le_bytes());
        epb.extend((frame.len() as u32).to_le_bytes());
        epb.extend((frame.len() as u32).to_le_bytes());
        epb.extend(&frame);
        while !epb.len().is_multiple_of(4) {
            epb.push(0);
        }
        if i == 1 {
            epb.extend(option(1, text.as_bytes())); // opt_comment on the packet
            epb.extend(end_of_options());
        }
        out.extend(block(6, &epb));
    }
    out
}

#[test]
fn hostile_text_from_the_capture_stays_text() {
    const SCRIPT: &str = "<script>alert(1)</script>";
    const IMG: &str = "<img src=x onerror=alert(2)>";
    let text = format!("{SCRIPT}{IMG}</title></style></svg>");
    let dir = tempfile::tempdir().unwrap();
    // The file name is hostile too (it is shown as given).
    let capture = dir.path().join("in<b>put\"'&.pcapng");
    std::fs::write(&capture, hostile_pcapng(&text)).unwrap();
    let out = run(&["analyze", capture.to_str().unwrap(), "-f", "html"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).unwrap();

    // The JSON has the text as it is, so the test really feeds it.
    let json = analyze_json(&[&capture]);
    assert_eq!(
        json["inputs"][0]["interfaces"][0]["name"].as_str(),
        Some(format!("eth0{text}").as_str())
    );
    assert_eq!(json["summary"]["connections"], 1);

    // In the page's source: escaped, never raw.
    assert!(!html.contains(SCRIPT) && !html.contains(IMG) && !html.contains("<b>put"));
    assert!(html.contains("eth0&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(html.contains("in&#60;b&#62;put&#34;&#39;&#38;.pcapng"));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );

    // In the browser: the text is text (one script element, no image, the
    // interface name readable as written), and the ladder was drawn from the
    // hostile-named file.
    let page_path = dir.path().join("report.html");
    std::fs::write(&page_path, &html).unwrap();
    let page = load(&format!("file://{}", page_path.display()), &[]);
    let dom = &page.dom;
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(!dom.contains("<img"));
    assert!(!dom.contains("<b>put"));
    assert!(
        dom.contains("eth0&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;")
    );
    assert!(dom.contains("in&lt;b&gt;put\"'&amp;.pcapng"));
    assert!(dom.contains("uplink &lt;script&gt;"));
    assert_eq!(dom.matches("<details class=\"ladder\"").count(), 1);
    assert!(dom.contains("SYN  seq=0"));
    assert!(page.page_requests.is_empty());
    assert_eq!(script_errors(&page.log), Vec::<&str>::new());
}

// ---------------------------------------------------------------------------
// Ladders from standard input, reports/, size

#[test]
fn standard_input_gets_a_note_instead_of_ladders() {
    let data = std::fs::read(manifest_dir().join(DEMO)).unwrap();
    let out = run(&["analyze", "-", "-f", "html"], Some(&data));
    assert_eq!(out.status.code(), Some(0));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.contains("id=\"ladder-note\""));
    assert!(html.contains("standard input"));
    assert_eq!(html.matches("<svg viewBox=\"0 0 960").count(), 0);
    // Everything else is there.
    assert_eq!(html.matches("<tr data-class=").count(), 15);
}

#[test]
fn reports_directory_is_up_to_date() {
    let fresh_html = demo_html();
    let fresh_json = teardown_in_root(&["analyze", DEMO, "-f", "json"]);
    let committed_html = std::fs::read_to_string(manifest_dir().join("reports/client.html"))
        .expect("reports/client.html");
    let committed_json =
        std::fs::read(manifest_dir().join("reports/client.json")).expect("reports/client.json");
    let hint = "reports/ is out of date: run scripts/update-reports.sh";
    assert!(fresh_html == committed_html, "{hint} (client.html)");
    assert!(fresh_json == committed_json, "{hint} (client.json)");
    // Deterministic: a second rendering is byte-identical, with no absolute path.
    assert_eq!(demo_html(), fresh_html);
    assert!(!fresh_html.contains(manifest_dir().to_str().unwrap()));
}

/// The host timeline's charts, loaded in Chromium: one per top host (as the
/// JSON report lists them), each a stacked area per state with its legend
/// to the right, and the class cards link to them.
#[test]
fn host_state_charts_one_per_top_host_with_the_legend_beside_them() {
    let capture = manifest_dir().join("fixtures/timeline/client.pcap");
    let capture = capture.to_str().unwrap();
    let timers = crate::common::TIMELINE_TIMERS;
    let mut args = vec!["analyze", capture, "-f", "json"];
    args.extend(timers);
    let report: Value = serde_json::from_slice(&teardown_in_root(&args)).unwrap();
    let mut args = vec!["analyze", capture, "-f", "html"];
    args.extend(timers);
    let html = String::from_utf8(teardown_in_root(&args)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = write_page(dir.path(), "timeline.html", &html);
    let page = load(&url, &[]);
    let dom = &page.dom;
    assert!(csp_violations(&page.log).is_empty() && script_errors(&page.log).is_empty());
    let hosts = report["timeline"]["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    for (i, h) in hosts.iter().enumerate() {
        let id = format!("states-{}", i + 1);
        let host = h["host"].as_str().unwrap();
        assert_eq!(attr_of(dom, &id, "data-host").as_deref(), Some(host));
        // The chart: its svg, a band per state the host held, then the legend.
        let start = dom.find(&format!("id=\"{id}\"")).unwrap();
        let chart = &dom[start..];
        let chart = &chart[..chart.find("</ul>").unwrap()];
        let svg = chart.find("<svg").expect("an svg");
        let legend = chart.find("class=\"legend-states\"").expect("a legend");
        assert!(svg < legend, "the legend follows the chart in its row");
        for state in h["states"].as_object().unwrap().keys() {
            assert!(
                chart.contains(&format!("<path class=\"s-{state}\"")),
                "{host} {state} band"
            );
            assert!(
                chart.contains(&format!("<li class=\"s-{state}\">{state}: peak")),
                "{host} {state} in the legend"
            );
        }
    }
    assert_eq!(dom.matches("class=\"host-chart\"").count(), 2);
    // The row puts the legend beside the chart (the page's CSS).
    assert!(html.contains(".host-row { display: flex;"));
    // The half-closed hang card links to the server's chart.
    let card = tag_of(dom, "card-half_closed_hang");
    assert!(card.contains("linked"), "{card}");
    assert!(
        dom.contains("href=\"#states-"),
        "a card links to a host chart"
    );
    assert!(dom.contains("CLOSE_WAIT peaked at 60 on 10.91.0.2"));
}
