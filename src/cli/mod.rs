//! Command-line parsing, validation into options, and output handling.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::classify::Thresholds;
use crate::pipeline::{Analysis, Options, analyze_into};
use crate::policy::{self, Policy, Rule, Target};
use crate::render::{self, Format};
use crate::report::filter::{Filter, parse_time};
use crate::time::Timestamp;

/// The policy of a `check` failed.
pub const EXIT_POLICY_FAILED: u8 = 1;
/// Bad usage, or an input from which nothing could be read.
pub const EXIT_TROUBLE: u8 = 2;

const EXIT_CODES: &str = "\
Exit codes:
  0  the analysis ran (inputs with warnings or cut short still count)
  1  a `check` policy failed
  2  bad usage, or an input from which nothing could be read";

/// How every TCP connection in a capture ended: clean FIN handshake, half-closed
/// hang, lost FIN, reset, refused, unanswered, or still open.
#[derive(Parser, Debug)]
#[command(name = "teardown", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyze captures and report how each TCP connection ended.
    #[command(after_help = EXIT_CODES)]
    Analyze(AnalyzeArgs),
    /// Analyze captures, then apply a policy: exit 1 when it fails (for CI).
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
}

const CHECK_HELP: &str = "\
TARGET is a class (clean, half_closed_hang, lost_fin, reset, refused, unanswered,
open, incomplete) or a flag (time_wait_reuse, mid_stream, fin_retransmitted,
syn_retransmitted, simultaneous_close, rst_after_close, data_after_fin,
invalid_rst, challenged_rst, ignored_segments, truncated, evicted).

Policy file (TOML), which command-line rules add to:
  fail_on = [\"half_closed_hang\", \"lost_fin\"]
  [max]
  reset = 10
  refused = \"1%\"
  [filter]
  port = [443]

Exit codes:
  0  the policy held
  1  the policy failed
  2  bad usage, a bad policy file, or an input from which nothing could be read";

/// What `analyze` and `check` share: the inputs, the thresholds, the filter.
#[derive(Args, Debug)]
struct InputArgs {
    /// pcap or pcapng files (gzip or zstd compressed too), directories of them, or
    /// `-` for standard input. Several inputs are one analysis, merged in time order.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    #[command(flatten)]
    thresholds: ThresholdArgs,

    #[command(flatten)]
    filter: FilterArgs,

    /// Print nothing on stderr but errors (no warnings, no progress bar).
    #[arg(short, long)]
    quiet: bool,

    /// Most connections tracked at once, shared evenly by partitions of the
    /// 4-tuples; beyond a partition's share its least recently active are evicted
    /// (flagged `evicted`), the same ones for any -j. Bounds memory on floods and
    /// scans.
    #[arg(long, value_name = "N", default_value_t = crate::flow::TrackerConfig::DEFAULT_MAX_TRACKED, value_parser = clap::value_parser!(usize))]
    max_connections: usize,

    /// Print run statistics on stderr at the end: time, packets per second,
    /// connections, peak memory (Linux).
    #[arg(long)]
    stats: bool,

    /// Worker threads [default: all cores]. The output is the same for any value.
    /// With more than one, large files and compressed inputs are also read (and
    /// decompressed) on a thread of their own. Under an address-space limit
    /// (`ulimit -v`), only as many as fit (64 MiB each past 256 MiB).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

#[derive(Args, Debug)]
#[command(
    next_help_heading = "Connection filters (a connection is kept when every kind given matches)"
)]
struct FilterArgs {
    /// Keep connections with this address at either end (repeatable).
    #[arg(long, value_name = "ADDR")]
    host: Vec<std::net::IpAddr>,
    /// Keep connections with an end in this network, e.g. 10.0.0.0/8 (repeatable).
    #[arg(long, value_name = "CIDR")]
    net: Vec<ipnet::IpNet>,
    /// Keep connections with this port at either end (repeatable).
    #[arg(long, value_name = "PORT")]
    port: Vec<u16>,
    /// Keep connections active at or after TIME (epoch seconds or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<Timestamp>,
    /// Keep connections active at or before TIME (epoch seconds or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<Timestamp>,
}

impl FilterArgs {
    fn to_filter(&self) -> Filter {
        Filter {
            host: self.host.clone(),
            net: self.net.clone(),
            port: self.port.clone(),
            since: self.since,
            until: self.until,
        }
    }
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    #[command(flatten)]
    input: InputArgs,

    /// Output format [default: text on a terminal, json otherwise].
    #[arg(short, long, value_enum)]
    format: Option<Format>,

    /// Write the report to FILE (a temporary file, renamed into place once complete)
    /// instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    input: InputArgs,

    /// Fail when any connection has this class or flag (repeatable).
    #[arg(long, value_name = "TARGET")]
    fail_on: Vec<String>,

    /// Fail when more than N connections, or more than P percent of them, have
    /// this class or flag: TARGET=N or TARGET=P% (repeatable).
    #[arg(long, value_name = "TARGET=N|P%")]
    max: Vec<String>,

    /// Read rules (and a filter) from a TOML file; command-line rules add to it.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,

    /// Verdict format on standard output.
    #[arg(short, long, value_enum, default_value = "text")]
    format: CheckFormat,

    /// Also write the verdict as JUnit XML (one test case per rule).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Also write a Markdown summary (for a CI job summary page).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    /// One line per rule, then the offending connections.
    Text,
    /// The machine-readable verdict.
    Json,
}

#[derive(Args, Debug)]
struct ThresholdArgs {
    /// Silence after an acknowledged FIN that makes a half-close a hang
    /// (FIN_WAIT_2 / CLOSE_WAIT). Units: ms, s, m; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    hang_after: Duration,

    /// How long a FIN may stay unacknowledged without a retransmission before it
    /// counts as lost rather than too recent to judge.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    fin_grace: Duration,

    /// Maximum segment lifetime; TIME_WAIT lasts 2×MSL (Linux: 60 s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    msl: Duration,
}

/// `--format`'s values are the render layer's formats, named and described
/// there.
impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Format::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.about()))
    }
}

/// Parses `250ms`, `5s`, `2m` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 500ms, 5s, 2m)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` must be a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => run_analyze(args),
        Command::Check(args) => run_check(args),
    }
}

/// The analysis options for `analyze` and `check`.
fn options_of(input: &InputArgs, extra_filter: Filter) -> Options {
    let mut filter = input.filter.to_filter();
    filter.merge(extra_filter);
    Options {
        inputs: input.inputs.clone(),
        thresholds: Thresholds {
            hang_after: input.thresholds.hang_after,
            fin_grace: input.thresholds.fin_grace,
            msl: input.thresholds.msl,
        },
        filter,
        threads: threads_of(input),
        progress: !input.quiet && io::stderr().is_terminal(),
        max_connections: input.max_connections.max(1),
    }
}

/// Address space a thread of the analysis may take: its allocator's own
/// segments (mimalloc maps 32 MiB ones per thread, aligned to 32 MiB), its stack,
/// its batches and buffers.
const ADDRESS_SPACE_PER_THREAD: u64 = 64 << 20;
/// Address space of a one-thread run besides its thread's share: the program,
/// the main thread's stack, the read-ahead thread and its buffers, the writer.
const ADDRESS_SPACE_BASE: u64 = 256 << 20;

/// `-j`, or all cores, as many as fit in the address-space limit (`ulimit -v`).
/// Past it a new thread's allocator cannot map its memory and the process
/// aborts (measured: 512 MiB held 6 threads, 768 MiB 10, 1 GiB 12): the output
/// is the same for any thread count, so fewer threads lose only speed. A `-j`
/// given and reduced is told on stderr (a warning).
fn threads_of(input: &InputArgs) -> usize {
    let wanted = input.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let Some(limit) = address_space_limit() else {
        return wanted;
    };
    let fit = threads_within(limit, wanted);
    if fit < wanted && input.threads.is_some() && !input.quiet {
        eprintln!(
            "teardown: warning: -j {wanted} reduced to {fit}: the address-space limit (ulimit -v) of {} MiB leaves room for {fit} thread{}",
            limit >> 20,
            if fit == 1 { "" } else { "s" }
        );
    }
    fit
}

/// How many of `wanted` threads fit in `limit` bytes of address space (at least one).
fn threads_within(limit: u64, wanted: usize) -> usize {
    let room = limit.saturating_sub(ADDRESS_SPACE_BASE) / ADDRESS_SPACE_PER_THREAD;
    wanted
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1)
}

#[cfg(unix)]
fn address_space_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::As).current
}

#[cfg(not(unix))]
fn address_space_limit() -> Option<u64> {
    None
}

fn tell(input: &InputArgs, options: &Options, analysis: &Analysis, start: std::time::Instant) {
    for m in &analysis.messages {
        if !input.quiet || !m.contains(": warning: ") {
            eprintln!("{m}");
        }
    }
    if input.stats {
        let s = &analysis.report.summary;
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "teardown: stats: {:.3} s, {} packets ({:.0}/s), {} connections, {} threads, peak RSS {}",
            secs,
            s.packets,
            s.packets as f64 / secs.max(1e-9),
            s.connections + s.filtered_out,
            options.threads,
            peak_rss().map_or_else(|| "unknown".to_string(), |kb| format!("{kb} KiB")),
        );
    }
}

/// Peak resident memory of this process (Linux: `VmHWM` in /proc/self/status).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run_analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    if let Some(out) = &args.output {
        refuse_overwriting_input(out, &args.input.inputs)?;
    }
    let format = args.format.unwrap_or_else(|| {
        if args.output.is_none() && io::stdout().is_terminal() {
            Format::Text
        } else {
            Format::Json
        }
    });
    let options = options_of(&args.input, Filter::default());
    let mut unreadable = 0;
    write_output(args.output.as_deref(), |out| {
        let start = std::time::Instant::now();
        let rendered = render::render(format, &options, out);
        // Messages first: they matter even when the output failed.
        tell(&args.input, &options, &rendered.analysis, start);
        unreadable = rendered.analysis.unreadable;
        rendered.output
    })?;
    Ok(if unreadable > 0 {
        ExitCode::from(EXIT_TROUBLE)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let mut policy = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read policy {}", path.display()))?;
            Policy::from_toml(&text).with_context(|| format!("{}", path.display()))?
        }
        None => Policy::default(),
    };
    for t in &args.fail_on {
        policy.rules.push(Rule::FailOn(Target::parse(t)?));
    }
    for m in &args.max {
        policy.rules.push(Rule::parse_max(m)?);
    }
    if policy.rules.is_empty() {
        bail!("no rules: give --fail-on, --max or --policy");
    }
    for path in [&args.junit, &args.summary].into_iter().flatten() {
        refuse_overwriting_input(path, &args.input.inputs)?;
    }
    // The rules are applied as connections finish; only the records the
    // renderers may list are kept.
    let options = options_of(&args.input, policy.filter.clone());
    let mut checker = policy::Checker::new(policy.rules.clone());
    let start = std::time::Instant::now();
    let mut analysis = analyze_into(&options, &mut checker);
    tell(&args.input, &options, &analysis, start);
    if analysis.unreadable > 0 {
        bail!("cannot check: some input could not be read");
    }
    let (result, listed) = checker.finish();
    analysis.report.connections = listed;
    let report = &analysis.report;
    if let Some(path) = &args.junit {
        write_whole(path, |out| {
            render::check::junit::write_junit(&result, report, out)
        })?;
    }
    if let Some(path) = &args.summary {
        write_whole(path, |out| {
            render::check::markdown::write_markdown(&result, report, out)
        })?;
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, stdout.lock());
    match args.format {
        CheckFormat::Text => render::check::text::write_text(&result, report, &mut out)?,
        CheckFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &result)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(if result.held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_POLICY_FAILED)
    })
}

/// Runs `render` on standard output, or on `path` written whole
/// ([`write_whole`]).
fn write_output(
    path: Option<&Path>,
    render: impl FnOnce(&mut (dyn Write + Send)) -> io::Result<()>,
) -> Result<()> {
    match path {
        None => {
            let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout());
            render(&mut out)?;
            out.flush()?;
        }
        Some(path) => write_whole(path, render)?,
    }
    Ok(())
}

/// Bytes buffered before each `write(2)` of a report. A JSON report is ~1.5 KB
/// per connection: with std's 8 KiB default a 100 k-connection report took
/// 20 k system calls, a quarter of the run's time on the benchmark capture.
const OUTPUT_BUFFER: usize = 1 << 20;

/// Writes a temporary file next to `path` and renames it into place only once
/// complete: an interrupted run never leaves a half-written file, and an existing
/// one is kept until the new one is complete. A path that exists and is not a regular
/// file (`/dev/null`, `/dev/stdout`, a FIFO) is written directly: renaming over it
/// would replace the device or pipe with a file.
fn write_whole(
    path: &Path,
    render: impl FnOnce(&mut (dyn Write + Send)) -> io::Result<()>,
) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, file);
        render(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, tmp);
    render(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
    let tmp = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // A new report gets the usual permissions (tempfile creates 0600); a replaced
    // one keeps its own.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
        let _ = tmp.as_file().set_permissions(mode);
    }
    // The old report is removed before the new one is renamed into place: on
    // ext4 (`auto_da_alloc`, the default) a rename over an existing file makes the
    // kernel allocate and start writing back the whole new file inside the
    // rename, which for a 400 MB report cost more system time than writing it.
    // Past this point the report is complete, so the path holds either the old
    // report, nothing for an instant, or the whole new one: never a partial one.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        std::fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn refuse_overwriting_input(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    let Ok(out_canon) = out.canonicalize() else {
        return Ok(()); // does not exist yet: cannot be an input
    };
    for input in inputs {
        if input.canonicalize().is_ok_and(|c| c == out_canon) {
            bail!(
                "refusing to write the report over the input {}",
                input.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `check --help` names every target `--fail-on` takes.
    #[test]
    fn check_help_names_every_class_and_flag() {
        let words: Vec<&str> = CHECK_HELP
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        let names = crate::classify::Class::ALL
            .map(|c| c.name())
            .into_iter()
            .chain(crate::classify::Flag::ALL.map(|f| f.name()));
        for name in names {
            assert!(words.contains(&name), "check --help lacks {name}");
        }
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn threads_are_fitted_to_the_address_space_limit() {
        const MIB: u64 = 1 << 20;
        // What ran here (512 MiB held 6 threads, 768 MiB 10, 1 GiB 12), with room to spare.
        assert_eq!(threads_within(512 * MIB, 16), 4);
        assert_eq!(threads_within(768 * MIB, 16), 8);
        assert_eq!(threads_within(1024 * MIB, 16), 12);
        assert_eq!(threads_within(1024 * MIB, 2), 2);
        // Always one, however tight.
        assert_eq!(threads_within(100 * MIB, 16), 1);
        assert_eq!(threads_within(u64::MAX, 300), 300);
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
