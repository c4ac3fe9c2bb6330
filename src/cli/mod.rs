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
use crate::report::printable;
use crate::time::Timestamp;

mod batch;
mod diff;
mod output;
mod signals;

use output::{OUTPUT_BUFFER, append_to, guard_outputs, write_output, write_whole};

/// The policy of a `check` failed.
pub const EXIT_POLICY_FAILED: u8 = 1;
/// Bad usage, or an input from which nothing could be read.
pub const EXIT_TROUBLE: u8 = 2;
/// Interrupted (Ctrl-C, SIGTERM) with `--interrupt-fails`, or by a second signal.
pub const EXIT_INTERRUPTED: u8 = 130;

const EXIT_CODES: &str = "\
Exit codes:
  0  the analysis ran (inputs with warnings or cut short still count, and so
     does a run stopped by Ctrl-C or SIGTERM: its report covers what was read)
  1  a `check` policy failed
  2  bad usage, or an input from which nothing could be read
  130  a second Ctrl-C aborted the run (nothing written), or the first one
     with --interrupt-fails";

/// How every TCP connection in a capture ended: clean FIN handshake, half-closed
/// hang, lost FIN, reset, refused, unanswered, or still open; and the causes
/// behind many of them (findings).
#[derive(Parser, Debug)]
#[command(name = "teardown", version = VERSION, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyze captures and report how each TCP connection ended, with the
    /// findings first: the causes behind many of them (docs/findings.md).
    #[command(after_help = EXIT_CODES)]
    Analyze(AnalyzeArgs),
    /// Analyze captures, then apply a policy: exit 1 when it fails (for CI).
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Explain one connection: its verdict, end states and packets, with the
    /// evidence marked, what its class and flags mean and the findings it is in.
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),
    /// The sockets each host held at one instant, listed like `ss -tan` (the
    /// queues are not in a capture), to set beside an `ss` taken then.
    #[command(after_help = AT_HELP)]
    At(AtArgs),
    /// Analyze many capture sets (a directory per host, say), each on its own
    /// as `analyze` would, several at once: one report per set and one
    /// combined file with a `set` column, in OUTDIR.
    #[command(after_help = batch::BATCH_HELP)]
    Batch(batch::BatchArgs),
    /// Compare two captures (or JSON reports): what changed in how
    /// connections ended, per class, flag, server and client, in durations,
    /// findings and host state peaks, and whether it is beyond chance.
    #[command(after_help = diff::DIFF_HELP)]
    Diff(diff::DiffArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Install, e.g.: teardown completions bash > ~/.local/share/bash-completion/completions/teardown"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff).
    #[command(after_help = "Install, e.g.: teardown man > /usr/local/share/man/man1/teardown.1")]
    Man,
}

/// The crate's version, and the commit it was built from when that was known
/// (`build.rs`).
const VERSION: &str = match option_env!("TEARDOWN_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

const CHECK_HELP: &str = "\
TARGET is a class (clean, half_closed_hang, lost_fin, reset, refused, unanswered,
open, incomplete) or a flag (time_wait_reuse, mid_stream, fin_retransmitted,
syn_retransmitted, simultaneous_close, rst_after_close, data_after_fin,
invalid_rst, challenged_rst, ignored_segments, truncated, evicted), or a
finding, finding:NAME (middlebox_reset, idle_timeout, keepalive_race,
peer_vanished_retransmissions, peer_vanished_keepalive, zero_window_stall,
fin_wait_1_pileup, close_wait_leak, listen_queue_overflow, port_reuse): its
connections count once the analysis is over (docs/findings.md).

--max-increase compares with --baseline (a capture set or a JSON report of
the same workload before the change): reset=0.5% fails when the reset rate
grew by more than 0.5 percentage points; lost_fin=2 when more than 2
connections beyond the baseline's lost_fin rate (scaled to the connections
checked) lost a FIN. The verdict gives the baseline's count and a test of the
change (docs/diff.md); the offending connections listed are this side's.

Policy file (TOML), which command-line rules add to:
  fail_on = [\"half_closed_hang\", \"lost_fin\"]
  min_connections = 100
  [max]
  reset = 10
  refused = \"1%\"
  [max_state]
  CLOSE_WAIT = 1000
  [max_increase]
  reset = \"0.5%\"
  lost_fin = 2
  [filter]
  port = [443]

Exit codes:
  0  the policy held
  1  the policy failed
  2  bad usage, a bad policy file, or an input from which nothing could be read
  130  a second Ctrl-C aborted the run, or the first one with --interrupt-fails";

/// What `analyze` and `check` share: the inputs, the thresholds, the filter.
#[derive(Args, Debug)]
struct InputArgs {
    /// pcap or pcapng files (gzip or zstd compressed too), directories of them, or
    /// `-` for standard input. Several inputs are one analysis, merged in time order.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    #[command(flatten)]
    run: RunArgs,
}

/// How the inputs are analyzed: thresholds, filter, threads, messages.
#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    thresholds: ThresholdArgs,

    #[command(flatten)]
    filter: FilterArgs,

    /// Print nothing on stderr but errors (no warnings, no progress bar).
    #[arg(help_heading = "Run", short, long)]
    quiet: bool,

    /// Most connections tracked at once, shared evenly by partitions of the
    /// 4-tuples; beyond a partition's share its least recently active are evicted
    /// (flagged `evicted`), the same ones for any -j. Bounds memory on floods and
    /// scans.
    #[arg(help_heading = "Run", long, value_name = "N", default_value_t = crate::flow::TrackerConfig::DEFAULT_MAX_TRACKED, value_parser = at_least_one)]
    max_connections: usize,

    /// Print run statistics on stderr at the end: time, packets per second,
    /// connections, peak memory (Linux).
    #[arg(help_heading = "Run", long)]
    stats: bool,

    /// On Ctrl-C or SIGTERM the report of what was read is still written
    /// (marked interrupted) and the exit code is 0; with this flag, 130, as a
    /// shell expects of an interrupted command. A second signal aborts at once
    /// (130, nothing written).
    #[arg(help_heading = "Run", long)]
    interrupt_fails: bool,

    /// Worker threads [default: all cores]. The output is the same for any value.
    /// With more than one, large files and compressed inputs are also read (and
    /// decompressed) on a thread of their own. Under an address-space limit
    /// (`ulimit -v`), only as many as fit (64 MiB each past 256 MiB).
    #[arg(help_heading = "Run", short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// The host timeline's grid: each host's sockets per state are counted at
    /// every multiple of this after the first packet [default: the smallest of
    /// 1 ms, 2 ms, 10 ms, 20 ms, 100 ms, … that keeps the capture within
    /// 2,000 points].
    #[arg(help_heading = "Run", long, value_name = "DURATION", value_parser = parse_positive_duration)]
    timeline_step: Option<Duration>,
}

/// A duration above zero.
fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
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
    /// Keep connections active at or after TIME: epoch seconds, or RFC 3339
    /// with an offset (2026-11-21T12:00:00+01:00); without one, UTC.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<Timestamp>,
    /// Keep connections active at or before TIME (as --since).
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

    /// Output format [default: what the name of the -o file says (.txt, .json,
    /// .ndjson, .log or .zeek, .html, .parquet), else text, terminal or not].
    /// Parquet is written to a file (-o) only.
    #[arg(help_heading = "Output", short, long, value_enum)]
    format: Option<Format>,

    /// Write the report to FILE (a temporary file, renamed into place once complete)
    /// instead of standard output (`-`: standard output).
    #[arg(help_heading = "Output", short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    input: InputArgs,

    /// Fail when any connection has this class or flag, or the analysis makes
    /// this finding (`finding:NAME`) (repeatable).
    #[arg(help_heading = "Policy", long, value_name = "TARGET")]
    fail_on: Vec<String>,

    /// Fail when more than N connections, or more than P percent of them, have
    /// this class or flag: TARGET=N or TARGET=P% (repeatable).
    #[arg(help_heading = "Policy", long, value_name = "TARGET=N|P%")]
    max: Vec<String>,

    /// Fail when any host held more than N sockets at once in STATE
    /// (CLOSE_WAIT, FIN_WAIT_1, TIME_WAIT, …; ss's names work too): its
    /// peak in the host timeline, STATE=N (repeatable).
    #[arg(help_heading = "Policy", long, value_name = "STATE=N")]
    max_state: Vec<String>,

    /// With --baseline: fail when this class, flag or finding grew by more
    /// than P percentage points over the baseline's rate (TARGET=P%), or by
    /// more than N connections beyond what the baseline's rate gives for
    /// the connections checked (TARGET=N) (repeatable).
    #[arg(help_heading = "Policy", long, value_name = "TARGET=N|P%")]
    max_increase: Vec<String>,

    /// What --max-increase compares with: a capture set (analyzed with the
    /// same settings and filter) or a JSON report (`analyze -f json`).
    #[arg(help_heading = "Policy", long, value_name = "CAPTURE|REPORT")]
    baseline: Option<PathBuf>,

    /// Read rules (and a filter) from a TOML file; command-line rules add to it.
    #[arg(help_heading = "Policy", long, value_name = "FILE")]
    policy: Option<PathBuf>,

    /// Fail when fewer than N connections survived the filters: a gate that
    /// held on no evidence would be a silent failure [default: 1, or the
    /// policy file's `min_connections`; 0 turns it off].
    #[arg(help_heading = "Policy", long, value_name = "N")]
    min_connections: Option<u64>,

    /// Verdict format on standard output.
    #[arg(
        help_heading = "Output",
        short,
        long,
        value_enum,
        default_value = "text"
    )]
    format: CheckFormat,

    /// Also write the verdict as JUnit XML (one test case per rule).
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Also append a Markdown summary to FILE (for a CI job summary page such as
    /// $GITHUB_STEP_SUMMARY, which every step of the job appends to).
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    summary: Option<PathBuf>,
}

const EXPLAIN_HELP: &str = "\
The ID is the connection's id in every report: the frame number of its first
packet (for several inputs, its position among all their packets merged in
time order). The whole capture is analyzed (a verdict depends on the
4-tuple's earlier connections and on where the capture ends); the packets
shown are those an HTML ladder keeps: the first and last ones and every
evidence packet, with the number left out between them.

Example: teardown explain capture.pcap 1041   (or --id 1041)

Exit codes:
  0  the connection was explained
  2  bad usage, an input from which nothing could be read, or no connection
     with that id";

#[derive(Args, Debug)]
struct ExplainArgs {
    #[command(flatten)]
    input: InputArgs,

    /// The connection's id, as in the report (the frame of its first packet);
    /// may also be given last after the inputs (`teardown explain x.pcap 300`).
    #[arg(long, value_name = "ID")]
    id: Option<u64>,

    /// Output format.
    #[arg(help_heading = "Output", short, long, value_enum, default_value_t = ExplainFormat::Text)]
    format: ExplainFormat,
}

#[derive(Args, Debug)]
struct AtArgs {
    /// The instant: epoch seconds, RFC 3339 (2026-12-07T14:09:41Z), or
    /// `+SECONDS` after the capture's first packet.
    #[arg(value_name = "TIME", allow_hyphen_values = true)]
    time: String,

    #[command(flatten)]
    input: InputArgs,

    /// Output format.
    #[arg(help_heading = "Output", short, long, value_enum, default_value_t = ExplainFormat::Text)]
    format: ExplainFormat,
}

const AT_HELP: &str = "\
The sockets come from the same model as the host timeline (docs/teardown.md,
\"Host timeline\"): each side's states from the packets, ended by the hosts'
timers (--fin-timeout, --syn-retries, ...). --host ADDR lists only the sockets
on ADDR. A socket whose side sent nothing is listed as UNKNOWN.

Exit codes: 0 listed (none held is a listing too), 2 bad usage, an unreadable
input or a TIME outside the capture.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ExplainFormat {
    /// For a terminal: the verdict, a text ladder, what it means.
    Text,
    /// The same as data.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    /// One line per rule, then the offending connections.
    Text,
    /// The machine-readable verdict.
    Json,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Thresholds")]
struct ThresholdArgs {
    /// Silence after an acknowledged FIN that makes a half-close a hang
    /// (FIN_WAIT_2 / CLOSE_WAIT). Units: us, ms, s, m, h; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    hang_after: Duration,

    /// How long a FIN may stay unacknowledged without a retransmission before it
    /// counts as lost rather than too recent to judge.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    fin_grace: Duration,

    /// Maximum segment lifetime; TIME_WAIT lasts 2×MSL (Linux: 60 s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    msl: Duration,

    /// The clients' ephemeral port range (`net.ipv4.ip_local_port_range`),
    /// which the `port_reuse` finding weighs the ports a client cycles against.
    #[arg(long, value_name = "LOW-HIGH", default_value = "32768-60999", value_parser = parse_port_range)]
    port_range: (u16, u16),

    #[command(flatten)]
    timers: TimerArgs,
}

/// The hosts' kernel settings behind the timers that end sockets without a
/// packet (docs/teardown.md, "Timers"): they decide the end states and the
/// host timeline, never the class. Linux's defaults; set them to the hosts'
/// `sysctl net.ipv4` values.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Host timers")]
struct TimerArgs {
    /// `tcp_fin_timeout`: an orphaned FIN_WAIT_2 socket (closed, not shut
    /// down) is gone this long after its FIN was acknowledged.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    fin_timeout: Duration,
    /// `tcp_syn_retries`: SYN_SENT gives up after these retransmissions.
    #[arg(long, value_name = "N", default_value_t = 6)]
    syn_retries: u32,
    /// `tcp_syn_linear_timeouts` (Linux 6.18+; 0 for older kernels): SYN
    /// retransmissions 1 s apart before the back-off doubles.
    #[arg(long, value_name = "N", default_value_t = 4)]
    syn_linear_timeouts: u32,
    /// `tcp_synack_retries`: SYN_RECEIVED gives up after these.
    #[arg(long, value_name = "N", default_value_t = 5)]
    synack_retries: u32,
    /// `tcp_retries2`: data retransmitted without an ACK gives up (silently)
    /// once this many back-offs' worth of time has passed.
    #[arg(long, value_name = "N", default_value_t = 15)]
    retries2: u32,
    /// `tcp_orphan_retries` (0 means 8): an orphan's unacknowledged FIN
    /// gives up the same way.
    #[arg(long, value_name = "N", default_value_t = 0)]
    orphan_retries: u32,
}

impl ThresholdArgs {
    fn to_thresholds(&self) -> Thresholds {
        Thresholds {
            hang_after: self.hang_after,
            fin_grace: self.fin_grace,
            msl: self.msl,
            port_range: self.port_range,
            timers: self.timers.to_timers(),
        }
    }
}

impl TimerArgs {
    fn to_timers(&self) -> crate::flow::Timers {
        crate::flow::Timers {
            fin_timeout_ns: i64::try_from(self.fin_timeout.as_nanos()).unwrap_or(i64::MAX),
            syn_retries: self.syn_retries,
            syn_linear_timeouts: self.syn_linear_timeouts,
            synack_retries: self.synack_retries,
            retries2: self.retries2,
            orphan_retries: self.orphan_retries,
        }
    }
}

/// Parses `32768-60999`.
fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("`{s}` is not a port range: use LOW-HIGH, e.g. 32768-60999");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok((a, b))
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

/// Parses `250ms`, `5s`, `2m`, `1h`, `500us` or a bare number of seconds,
/// as the thresholds' flags (`--hang-after 5s`) take them.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let units: [(&str, f64); 6] = [
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    let (num, scale) = units
        .iter()
        .find_map(|&(unit, scale)| s.strip_suffix(unit).map(|n| (n, scale)))
        .unwrap_or((s, 1.0));
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 500ms, 5s, 2m, 1h)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` must be a non-negative duration"));
    }
    Duration::try_from_secs_f64(v * scale).map_err(|_| format!("`{s}` is too long a duration"))
}

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    raise_open_file_limit();
    match cli.command {
        Command::Analyze(args) => run_analyze(args),
        Command::Check(args) => run_check(args),
        Command::Explain(args) => run_explain(args),
        Command::At(args) => run_at(args),
        Command::Batch(args) => batch::run_batch(args),
        Command::Diff(args) => diff::run_diff(args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "teardown", &mut io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
            // A section per subcommand, as `man teardown` is the one page.
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                writeln!(out, ".SH \"TEARDOWN {}\"", sub.get_name().to_uppercase())?;
                clap_mangen::Man::new(sub.clone()).render_options_section(&mut out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The report's format: `--format`, or what the output file's name says
/// (`report.html`), or text. The same whether or not standard output is a
/// terminal, as tshark and ripgrep do: JSON when asked for.
fn format_of(asked: Option<Format>, output: Option<&Path>) -> Result<Format> {
    let named = output.and_then(Format::of_extension);
    match (asked, named) {
        (Some(a), Some(n)) if a != n => bail!(
            "--format {} conflicts with the output file {}, whose name says {}; \
             give one or the other",
            a.name(),
            output.map_or_else(String::new, |p| p.display().to_string()),
            n.name()
        ),
        (Some(f), _) | (None, Some(f)) => Ok(f),
        (None, None) => Ok(Format::Text),
    }
}

/// A Parquet file is read from its footer back: standard output (a pipe, a
/// terminal) is refused before anything is read.
fn refuse_parquet_to_stdout(format: Format, output: Option<&Path>) -> Result<()> {
    if format == Format::Parquet && output.is_none() {
        bail!(
            "--format parquet writes a file, not standard output: give -o FILE.parquet \
             (a Parquet reader seeks to the file's footer)"
        );
    }
    Ok(())
}

/// A count of one or more (`--max-connections 0` would track nothing).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a count")),
    }
}

/// Standard input can be read once: `-` named twice is refused.
fn refuse_stdin_twice(inputs: &[PathBuf]) -> Result<()> {
    if inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        bail!("standard input (-) can be read only once; name it once");
    }
    Ok(())
}

/// The analysis options for `analyze` and `check`.
fn options_of(input: &InputArgs, extra_filter: Filter) -> Options {
    options_for(&input.inputs, &input.run, extra_filter)
}

/// The analysis options of `inputs` analyzed as `input` says.
fn options_for(inputs: &[PathBuf], input: &RunArgs, extra_filter: Filter) -> Options {
    let mut filter = input.filter.to_filter();
    filter.merge(extra_filter);
    Options {
        inputs: inputs.to_vec(),
        thresholds: input.thresholds.to_thresholds(),
        filter,
        threads: threads_of(input),
        progress: !input.quiet && io::stderr().is_terminal(),
        max_connections: input.max_connections,
        interrupt: Some(signals::install()),
        text_width: terminal_width(),
        trace: false,
        timeline_step: input.timeline_step,
    }
}

/// The width of the terminal standard output is, if it is one.
#[cfg(unix)]
fn terminal_width() -> Option<usize> {
    let stdout = io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let size = rustix::termios::tcgetwinsize(&stdout).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn terminal_width() -> Option<usize> {
    None
}

/// Raises the soft limit on open files to the hard one: the analysis keeps
/// up to 1,024 captures open at once, less under a lower limit
/// (`capture::open_files_allowed`), and the more it may keep open, the fewer
/// interleaving files it has to open again.
#[cfg(unix)]
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() {}

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
fn threads_of(input: &RunArgs) -> usize {
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

fn tell(input: &RunArgs, options: &Options, analysis: &Analysis, start: std::time::Instant) {
    for m in &analysis.messages {
        if !input.quiet || !m.contains(": warning: ") {
            // File names and capture text, escaped: a control character in
            // a file name must not act on the terminal.
            eprintln!("{}", printable(m));
        }
    }
    let s = &analysis.report.summary;
    if s.connections == 0 && analysis.unreadable == 0 && !input.quiet {
        let why = if s.filtered_out > 0 {
            format!(
                "{} left out by the filters",
                plural(s.filtered_out, "connection")
            )
        } else if s.tcp_packets == 0 {
            "the inputs hold no TCP segment".to_string()
        } else {
            "none in the inputs".to_string()
        };
        let mut names: Vec<String> = options
            .inputs
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect();
        if options.inputs.len() > 3 {
            names.push(format!("{} more", options.inputs.len() - 3));
        }
        eprintln!(
            "teardown: warning: no connection was analyzed in {} ({why})",
            printable(&names.join(", "))
        );
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

/// `1 connection`, `2 connections`.
fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Peak resident memory of this process (Linux: `VmHWM` in /proc/self/status).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run_analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    guard_outputs(args.output.as_deref().as_slice(), &args.input.inputs)?;
    refuse_stdin_twice(&args.input.inputs)?;
    let output = args.output.as_deref().filter(|p| p.as_os_str() != "-");
    let format = format_of(args.format, output)?;
    refuse_parquet_to_stdout(format, output)?;
    let options = options_of(&args.input, Filter::default());
    let (mut unreadable, mut interrupted) = (0, false);
    write_output(output, |out| {
        let start = std::time::Instant::now();
        let rendered = render::render(format, &options, out);
        // Messages first: they matter even when the output failed.
        tell(&args.input.run, &options, &rendered.analysis, start);
        unreadable = rendered.analysis.unreadable;
        interrupted = rendered.analysis.report.summary.interrupted;
        rendered.output
    })?;
    Ok(if unreadable > 0 {
        ExitCode::from(EXIT_TROUBLE)
    } else if interrupted && args.input.run.interrupt_fails {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_at(args: AtArgs) -> Result<ExitCode> {
    let when = match args.time.trim().strip_prefix('+') {
        Some(rel) => {
            let secs: f64 = rel
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| anyhow::anyhow!("`{}` is not +SECONDS", args.time))?;
            render::at::When::AfterStart((secs * 1e9).round() as i64)
        }
        None => render::at::When::At(parse_time(&args.time).map_err(anyhow::Error::msg)?),
    };
    refuse_stdin_twice(&args.input.inputs)?;
    let options = options_of(&args.input, Filter::default());
    let start = std::time::Instant::now();
    let (analysis, sockets) = render::at::sockets_at(&options, when, &options.filter.host);
    tell(&args.input.run, &options, &analysis, start);
    if analysis.unreadable > 0 {
        bail!("cannot list: some input could not be read");
    }
    let s = &analysis.report.summary;
    if let (Some(first), Some(last)) = (s.first_ts, s.last_ts)
        && (sockets.at < first || sockets.at > last)
    {
        bail!(
            "{} is outside the capture ({} to {})",
            sockets.at.rfc3339(),
            first.rfc3339(),
            last.rfc3339()
        );
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = match args.format {
        ExplainFormat::Text => render::at::write_text(&sockets, &mut out),
        ExplainFormat::Json => render::at::write_json(&sockets, &mut out),
    }
    .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

fn run_explain(mut args: ExplainArgs) -> Result<ExitCode> {
    let id = match args.id {
        Some(id) => id,
        // `teardown explain x.pcap 300`: a last "input" that is a number and
        // no file is the id.
        None => match args.input.inputs.last() {
            Some(last) if args.input.inputs.len() > 1 && !last.exists() => {
                let id = last.to_str().and_then(|s| s.parse::<u64>().ok());
                let Some(id) = id else {
                    bail!(
                        "{} is neither a capture nor a connection id",
                        printable(&last.display().to_string())
                    );
                };
                args.input.inputs.pop();
                id
            }
            _ => bail!("which connection? give its id after the inputs, or --id ID"),
        },
    };
    refuse_stdin_twice(&args.input.inputs)?;
    let options = options_of(&args.input, Filter::default());
    let start = std::time::Instant::now();
    let (analysis, explained) = render::explain::explain(&options, id);
    tell(&args.input.run, &options, &analysis, start);
    let Some(explained) = explained else {
        if analysis.unreadable > 0 {
            bail!("cannot explain: some input could not be read");
        }
        bail!(
            "no connection with id {id} in {} (ids are the frame numbers of first packets: see `teardown analyze`)",
            analysis
                .report
                .inputs
                .iter()
                .map(|i| printable(&i.path))
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = match args.format {
        ExplainFormat::Text => render::explain::write_text(&explained, &mut out),
        ExplainFormat::Json => render::explain::write_json(&explained, &mut out),
    }
    .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(if analysis.unreadable > 0 {
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
    for m in &args.max_state {
        policy.max_state.push(policy::parse_max_state(m)?);
    }
    for m in &args.max_increase {
        policy.rules.push(Rule::parse_max_increase(m)?);
    }
    if policy.rules.is_empty() && policy.max_state.is_empty() {
        bail!("no rules: give --fail-on, --max, --max-state, --max-increase or --policy");
    }
    let increases = policy
        .rules
        .iter()
        .any(|r| matches!(r, Rule::MaxIncrease(..)));
    if increases && args.baseline.is_none() {
        bail!("--max-increase (or the policy's max_increase) needs --baseline CAPTURE|REPORT");
    }
    refuse_stdin_twice(&args.input.inputs)?;
    let outputs: Vec<&Path> = [&args.junit, &args.summary]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .collect();
    guard_outputs(&outputs, &args.input.inputs)?;
    // The rules are applied as connections finish; only the records the
    // renderers may list are kept.
    let options = options_of(&args.input, policy.filter.clone());
    if let Some(n) = args.min_connections {
        policy.min_connections = n;
    }
    let mut checker = policy::Checker::new(policy.rules.clone(), policy.min_connections)
        .max_state(policy.max_state.clone());
    if let Some(path) = &args.baseline {
        guard_outputs(&outputs, std::slice::from_ref(path))?;
        let side = diff::load_side(path, &args.input.run, &policy.filter, options.threads)?;
        let ours = serde_json::to_value(options.thresholds).ok();
        if !args.input.run.quiet
            && ours.as_ref().and_then(|v| v.as_object()) != Some(&side.settings)
        {
            eprintln!(
                "teardown: warning: the baseline {} was analyzed with other settings than this check's: an increase may come from them alone",
                printable(&path.display().to_string())
            );
        }
        checker = checker.baseline(side);
    }
    let start = std::time::Instant::now();
    let mut analysis = analyze_into(&options, &mut checker);
    tell(&args.input.run, &options, &analysis, start);
    if analysis.unreadable > 0 {
        bail!("cannot check: some input could not be read");
    }
    let (result, listed) =
        checker.finish(&analysis.report.findings, analysis.report.timeline.as_ref());
    analysis.report.connections = listed;
    let report = &analysis.report;
    if let Some(path) = &args.junit {
        write_whole(path, |out| {
            render::check::junit::write_junit(&result, report, out)
        })?;
    }
    if let Some(path) = &args.summary {
        // Appended: a CI job's summary file ($GITHUB_STEP_SUMMARY) is shared
        // by all its steps.
        append_to(path, |out| {
            render::check::markdown::write_markdown(&result, report, out)
        })?;
    }
    let verdict = || -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, stdout.lock());
        match args.format {
            CheckFormat::Text => render::check::text::write_text(&result, report, &mut out)?,
            CheckFormat::Json => {
                serde_json::to_writer_pretty(&mut out, &result)?;
                writeln!(out)?;
            }
        }
        out.flush()
    };
    match verdict() {
        // `teardown check ... | head`: the reader went away, the verdict
        // stands (a failed policy must not pass a `pipefail` job).
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(
        if report.summary.interrupted && args.input.run.interrupt_fails {
            ExitCode::from(EXIT_INTERRUPTED)
        } else if result.held {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_POLICY_FAILED)
        },
    )
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
            .chain(crate::classify::Flag::ALL.map(|f| f.name()))
            .chain(crate::report::findings::Kind::ALL.iter().map(|k| k.name()));
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
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert!(parse_duration("1e300h").is_err());
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
