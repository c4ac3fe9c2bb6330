//! Command-line parsing, validation into options, and output handling.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use tcp_teardown::analyze::{Options, analyze};
use tcp_teardown::classify::Thresholds;
use tcp_teardown::report::{self, Report};

/// The policy of a `check` failed (reserved until `check` exists).
#[allow(dead_code)]
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
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    /// pcap or pcapng files (gzip or zstd compressed too), directories of them, or
    /// `-` for standard input. Several inputs are one analysis, merged in time order.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Output format [default: text on a terminal, json otherwise].
    #[arg(short, long, value_enum)]
    format: Option<OutputFormat>,

    /// Write the report to FILE (atomically: a temporary file renamed into place)
    /// instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    thresholds: ThresholdArgs,

    /// Print nothing on stderr but errors.
    #[arg(short, long)]
    quiet: bool,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// A short summary for terminals.
    Text,
    /// The full report (schema in docs/json.md).
    Json,
    /// One JSON connection object per line.
    Ndjson,
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
    }
}

fn run_analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    if let Some(out) = &args.output {
        refuse_overwriting_input(out, &args.inputs)?;
    }
    let options = Options {
        inputs: args.inputs.clone(),
        thresholds: Thresholds {
            hang_after: args.thresholds.hang_after,
            fin_grace: args.thresholds.fin_grace,
            msl: args.thresholds.msl,
        },
    };
    let analysis = analyze(&options);
    for m in &analysis.messages {
        // Errors are always shown; warnings only without --quiet.
        if !args.quiet || !m.contains(": warning: ") {
            eprintln!("{m}");
        }
    }
    let format = args.format.unwrap_or_else(|| {
        if args.output.is_none() && io::stdout().is_terminal() {
            OutputFormat::Text
        } else {
            OutputFormat::Json
        }
    });
    write_report(&analysis.report, format, args.output.as_deref())?;
    Ok(if analysis.unreadable > 0 {
        ExitCode::from(EXIT_TROUBLE)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(report: &Report, format: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        OutputFormat::Text => report::text::write_text(report, out),
        OutputFormat::Json => report::json::write_json(report, out),
        OutputFormat::Ndjson => report::json::write_ndjson(report, out),
    }
}

/// Writes to stdout, or to a temporary file next to `path` that replaces it only
/// once complete: an interrupted run never leaves a half-written report.
fn write_report(report: &Report, format: OutputFormat, path: Option<&Path>) -> Result<()> {
    match path {
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            render(report, format, &mut out)?;
            out.flush()?;
        }
        Some(path) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot create a file in {}", dir.display()))?;
            let mut out = io::BufWriter::new(tmp);
            render(report, format, &mut out)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let tmp = out
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tmp.persist(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
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
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
