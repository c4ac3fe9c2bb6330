//! `teardown diff BEFORE AFTER`, and the sides `check --baseline` reads.
//!
//! A side is a capture set (a file or a directory, as `analyze` takes it),
//! analyzed now into a [`Side`] ([`Collector`]: no report is written), or a
//! JSON report already written (`analyze -f json`), read one record at a
//! time. Two capture sides are analyzed at once, each on half the threads.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use super::output::{guard_outputs, write_output};
use super::{RunArgs, options_for, tell};
use crate::compare::{Collector, Diff, Method, Origin, Side};
use crate::render::diff::{self, DiffFormat};
use crate::report::filter::Filter;
use crate::report::printable;

pub(super) const DIFF_HELP: &str = "\
BEFORE and AFTER are each a capture set (a capture file, or a directory of
them merged in time order, as `analyze` takes them) or a JSON report written
by `teardown analyze -f json` (a baseline kept in a repository instead of its
capture). Captures are analyzed with the flags given; a report keeps the
settings it was written with, and the diff says when the two sides' settings
differ.

What is compared (docs/diff.md has the method):
  classes and flags   rates on both sides, Fisher's exact test (an expected
                      cell under 5) or the two-proportion z-test, Holm-adjusted;
                      \"too few connections to tell\" when no outcome with
                      these totals could be significant
  servers, clients    problem rates per address:port and per address: the
                      most changed, new problem endpoints, resolved ones
  durations           handshake_rtt, close_duration, close_wait,
                      idle_before_close: medians, p95 and a Kolmogorov-Smirnov
                      test, with a floor (--min-time-change)
  findings            appeared, disappeared, doubled or halved
  host state peaks    the timeline's peaks per host and state
When both sides recorded the same traffic (a replay: 90 % of the connections
match by endpoints, order and start time) the matched connections are
compared one to one, and those that changed class are listed.

Exit codes: 0 compared (changes or not: `teardown check --baseline` is the
gate), 2 bad usage or an input that could not be read.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum DiffFormatArg {
    /// One screen: the changes ranked, then the tables.
    Text,
    /// The whole comparison as data (docs/diff.md).
    Json,
    /// For a pull request comment or a CI job summary.
    Markdown,
    /// A self-contained page with both sides' charts overlaid.
    Html,
}

impl DiffFormatArg {
    fn format(self) -> DiffFormat {
        match self {
            DiffFormatArg::Text => DiffFormat::Text,
            DiffFormatArg::Json => DiffFormat::Json,
            DiffFormatArg::Markdown => DiffFormat::Markdown,
            DiffFormatArg::Html => DiffFormat::Html,
        }
    }
}

/// The method's thresholds (docs/diff.md, "Method").
#[derive(Args, Debug)]
#[command(next_help_heading = "Method")]
pub(super) struct MethodArgs {
    /// Significance level, after Holm's correction within each family of
    /// tests.
    #[arg(long, value_name = "P", default_value_t = 0.01)]
    alpha: f64,
    /// Smallest change of a rate that counts, in percentage points (a rate
    /// from or to zero always counts).
    #[arg(long, value_name = "PP", default_value_t = 0.1)]
    min_rate_change: f64,
    /// Smallest move of a median or p95 that counts; it must also be a
    /// quarter of the larger value.
    #[arg(long, value_name = "DURATION", default_value = "10ms", value_parser = super::parse_duration)]
    min_time_change: std::time::Duration,
    /// Smallest change of a host's peak in a state that counts (sockets);
    /// it must also be a quarter of the larger peak.
    #[arg(long, value_name = "N", default_value_t = 3)]
    min_peak_change: u32,
}

impl MethodArgs {
    fn method(&self) -> Result<Method> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            bail!("--alpha must be between 0 and 1");
        }
        Ok(Method {
            alpha: self.alpha,
            min_rate_change: self.min_rate_change / 100.0,
            min_time_change: self.min_time_change.as_secs_f64(),
            min_peak_change: self.min_peak_change,
            ..Method::default()
        })
    }
}

#[derive(Args, Debug)]
pub(super) struct DiffArgs {
    /// The side before the change: a capture, a directory of captures, or
    /// a JSON report.
    #[arg(value_name = "BEFORE")]
    before: PathBuf,
    /// The side after the change, as BEFORE.
    #[arg(value_name = "AFTER")]
    after: PathBuf,

    #[command(flatten)]
    run: RunArgs,

    #[command(flatten)]
    method: MethodArgs,

    /// Output format [default: what the name of the -o file says (.txt,
    /// .json, .md, .html), else text].
    #[arg(help_heading = "Output", short, long, value_enum)]
    format: Option<DiffFormatArg>,

    /// Write the diff to FILE (renamed into place once complete) instead of
    /// standard output.
    #[arg(help_heading = "Output", short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// A JSON report rather than a capture: a file whose first byte that is
/// not white space is `{`.
fn is_report(path: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; 256];
    let n = f.read(&mut head).unwrap_or(0);
    head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// One side: `path` read as a report, or analyzed as a capture set with
/// `run`'s settings (and `filter` besides its own) on `threads` threads.
pub(super) fn load_side(
    path: &Path,
    run: &RunArgs,
    filter: &Filter,
    threads: usize,
) -> Result<Side> {
    let label = path.display().to_string();
    if is_report(path) {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read {}", printable(&label)))?;
        return Side::read_json(&label, file).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a usable teardown JSON report: {e}",
                printable(&label)
            )
        });
    }
    let mut options = options_for(&[path.to_path_buf()], run, filter.clone());
    options.threads = threads;
    options.progress = false;
    let mut sink = Collector::new(Side::new(&label, Origin::Capture));
    let start = std::time::Instant::now();
    let analysis = crate::pipeline::analyze_into(&options, &mut sink);
    tell(run, &options, &analysis, start);
    if analysis.unreadable > 0 {
        bail!("cannot compare: {} could not be read", printable(&label));
    }
    let mut side = sink.side;
    side.finish(&analysis.report);
    Ok(side)
}

/// Two sides at once: captures each on half the threads (a report needs
/// one).
pub(super) fn load_sides(
    before: &Path,
    after: &Path,
    run: &RunArgs,
    filter: &Filter,
) -> Result<(Side, Side)> {
    let total = super::threads_of(run);
    let captures = [before, after].iter().filter(|p| !is_report(p)).count();
    let each = if captures == 2 {
        (total / 2).max(1)
    } else {
        total
    };
    std::thread::scope(|s| {
        let b = s.spawn(|| load_side(before, run, filter, each));
        let a = load_side(after, run, filter, each);
        let b = b
            .join()
            .map_err(|_| anyhow::anyhow!("the before side's analysis panicked"))?;
        Ok((b?, a?))
    })
}

pub(super) fn run_diff(args: DiffArgs) -> Result<ExitCode> {
    let method = args.method.method()?;
    let inputs = [args.before.clone(), args.after.clone()];
    if inputs.iter().all(|p| p.as_os_str() == "-") {
        bail!("standard input (-) can be read only once; name it once");
    }
    let output = args.output.as_deref().filter(|p| p.as_os_str() != "-");
    guard_outputs(output.as_slice(), &inputs)?;
    let format = match (args.format, output.and_then(DiffFormat::of_extension)) {
        (Some(f), _) => f.format(),
        (None, Some(f)) => f,
        (None, None) => DiffFormat::Text,
    };
    let (before, after) = load_sides(&args.before, &args.after, &args.run, &Filter::default())?;
    let diff = Diff::between(&before, &after, method);
    write_output(output, |out| diff::write(format, &diff, out))?;
    Ok(ExitCode::SUCCESS)
}
