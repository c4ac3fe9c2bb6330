//! `teardown batch`: many capture sets, each its own analysis, several at
//! once.
//!
//! A capture set is what one `teardown analyze SET` would read: a directory
//! (its files merged in time order, so connections crossing rotated files
//! stay whole) or one capture file. Each set is analyzed on one thread
//! (`Options::threads` 1: its reading, tracking and writing), and `-j` sets
//! run at once on a rayon pool, so `-j` threads are busy and no more. Every
//! set writes its report into a staging directory inside OUTDIR, together
//! with its rows of the combined file (one reading: [`render::render_beside`]);
//! once all are done, the combined file is assembled in set order and every
//! file is renamed into place. The output is the same for any `-j`.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use rayon::prelude::*;

use super::output::guard_outputs;
use super::{EXIT_TROUBLE, FilterArgs, ThresholdArgs, at_least_one, signals, threads_within};
use crate::pipeline::Options;
use crate::render::{self, Format, json::Json, parquet::Parquet};
use crate::report::printable;

pub(super) const BATCH_HELP: &str = "\
Capture sets: without --sets-from-subdirs, each SET given is one set: a
directory (every capture in it, recursively, merged in time order as one
analysis) or one capture file. With --sets-from-subdirs, each SET is a
directory whose subdirectories are the sets (one per host, say): files lying
directly in it belong to no set and are named in a warning. A set's name is
its directory's (or file's) name; two sets of one name are refused.

Output, in OUTDIR (created when missing):
  NAME.EXT           each set's report, in --format (default json), the bytes
                     `teardown analyze SET -f FORMAT` writes
  combined.ndjson    every set's connections, one JSON object per line, each
                     with \"set\": NAME first (--combined ndjson, the default)
  combined.parquet   the same as one Parquet table with a `set` column first
                     (--combined parquet, the default with -f parquet)
Each set is analyzed on one thread; -j sets run at once.

Exit codes:
  0  every set was analyzed (sets with warnings count)
  2  bad usage, an output that would land on an input, or a set with an input
     from which nothing could be read (the other sets' reports are written)
  130  a second Ctrl-C aborted the run (OUTDIR keeps what was renamed into
     place before; the staging directory .teardown-batch-* may be left)";

#[derive(Args, Debug)]
pub(super) struct BatchArgs {
    /// Capture sets: directories (or capture files), or with
    /// --sets-from-subdirs directories of them.
    #[arg(required = true, value_name = "SET")]
    sets: Vec<PathBuf>,

    /// Each SET is a directory whose subdirectories are the capture sets.
    #[arg(long)]
    sets_from_subdirs: bool,

    /// The directory the reports are written to.
    #[arg(help_heading = "Output", short, long, value_name = "OUTDIR")]
    output: PathBuf,

    /// Each set's report format.
    #[arg(
        help_heading = "Output",
        short,
        long,
        value_enum,
        default_value = "json"
    )]
    format: Format,

    /// The combined file of every set's connections [default: parquet with
    /// -f parquet, else ndjson].
    #[arg(help_heading = "Output", long, value_enum)]
    combined: Option<Combined>,

    #[command(flatten)]
    thresholds: ThresholdArgs,

    #[command(flatten)]
    filter: FilterArgs,

    /// Print nothing on stderr but errors (no warnings, no progress bar).
    #[arg(help_heading = "Run", short, long)]
    quiet: bool,

    /// Most connections tracked at once in each set (as `analyze`).
    #[arg(help_heading = "Run", long, value_name = "N", default_value_t = crate::flow::TrackerConfig::DEFAULT_MAX_TRACKED, value_parser = at_least_one)]
    max_connections: usize,

    /// Sets analyzed at once, one thread each [default: all cores]. The
    /// output is the same for any value.
    #[arg(help_heading = "Run", short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

/// `--combined`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Combined {
    /// One JSON connection object per line, `"set"` first.
    Ndjson,
    /// One Parquet table, a `set` column first.
    Parquet,
    /// No combined file.
    None,
}

impl Combined {
    fn file_name(self) -> Option<&'static str> {
        match self {
            Combined::Ndjson => Some("combined.ndjson"),
            Combined::Parquet => Some("combined.parquet"),
            Combined::None => None,
        }
    }
}

/// A report file's extension for each format.
fn extension(format: Format) -> &'static str {
    match format {
        Format::Text => "txt",
        Format::Json => "json",
        Format::Ndjson => "ndjson",
        Format::Zeek => "log",
        Format::Html => "html",
        Format::Parquet => "parquet",
    }
}

/// One capture set: its name and what its analysis reads.
#[derive(Debug)]
struct Set {
    name: String,
    path: PathBuf,
}

/// The sets the arguments name, in order (a directory's subdirectories by
/// name), with warnings for files that are in none.
fn sets_of(args: &BatchArgs, warnings: &mut Vec<String>) -> Result<Vec<Set>> {
    let mut sets = Vec::new();
    for given in &args.sets {
        if !args.sets_from_subdirs {
            sets.push(Set {
                name: name_of(given)?,
                path: given.clone(),
            });
            continue;
        }
        if !given.is_dir() {
            bail!(
                "{}: not a directory (with --sets-from-subdirs each SET is a directory of sets)",
                printable(&given.display().to_string())
            );
        }
        let mut subdirs = Vec::new();
        let entries =
            std::fs::read_dir(given).with_context(|| format!("cannot read {}", given.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("cannot read {}", given.display()))?;
            let path = e.path();
            if path.is_dir() {
                subdirs.push(path);
            } else {
                warnings.push(format!(
                    "teardown: warning: {}: not in a set (with --sets-from-subdirs only subdirectories are sets)",
                    path.display()
                ));
            }
        }
        if subdirs.is_empty() {
            bail!(
                "{}: no subdirectory, so no capture set (without --sets-from-subdirs the directory is one set)",
                printable(&given.display().to_string())
            );
        }
        subdirs.sort();
        for path in subdirs {
            sets.push(Set {
                name: name_of(&path)?,
                path,
            });
        }
    }
    warnings.sort();
    let mut names: Vec<(&str, &Path)> = sets
        .iter()
        .map(|s| (s.name.as_str(), s.path.as_path()))
        .collect();
    names.sort();
    for pair in names.windows(2) {
        if pair[0].0 == pair[1].0 {
            bail!(
                "two capture sets are named {}: {} and {} (a set's name is its directory's)",
                printable(pair[0].0),
                printable(&pair[0].1.display().to_string()),
                printable(&pair[1].1.display().to_string())
            );
        }
    }
    Ok(sets)
}

/// A set's name: its directory's or file's name, without a file's extension.
fn name_of(path: &Path) -> Result<String> {
    if !path.exists() {
        bail!(
            "{}: no such file or directory",
            printable(&path.display().to_string())
        );
    }
    let name = if path.is_dir() {
        path.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_owned()))
    } else {
        path.file_stem().map(|n| n.to_owned())
    };
    match name.and_then(|n| n.into_string().ok()) {
        Some(n) if !n.is_empty() && !n.starts_with('.') => Ok(n),
        _ => bail!(
            "{}: no name to give its reports (a set's name is its directory's, in UTF-8, not starting with a dot)",
            printable(&path.display().to_string())
        ),
    }
}

/// What one set's analysis left.
struct Outcome {
    unreadable: usize,
    messages: Vec<String>,
    /// Writing its files failed.
    error: Option<String>,
}

pub(super) fn run_batch(args: BatchArgs) -> Result<ExitCode> {
    let mut warnings = Vec::new();
    let sets = sets_of(&args, &mut warnings)?;
    let combined = args.combined.unwrap_or(if args.format == Format::Parquet {
        Combined::Parquet
    } else {
        Combined::Ndjson
    });
    let outdir = &args.output;
    let ext = extension(args.format);
    let reports: Vec<PathBuf> = sets
        .iter()
        .map(|s| outdir.join(format!("{}.{ext}", s.name)))
        .collect();
    let combined_path = combined.file_name().map(|n| outdir.join(n));
    if let Some(c) = &combined_path
        && let Some(i) = reports.iter().position(|r| r == c)
    {
        bail!(
            "the set {}'s report would be the combined file {}: rename the set or give --combined none",
            printable(&sets[i].name),
            c.display()
        );
    }
    // Every output, OUTDIR itself first, is kept off every input.
    let inputs: Vec<PathBuf> = args
        .sets
        .iter()
        .cloned()
        .chain(sets.iter().map(|s| s.path.clone()))
        .collect();
    let mut outputs: Vec<&Path> = vec![outdir.as_path()];
    outputs.extend(reports.iter().map(PathBuf::as_path));
    outputs.extend(combined_path.as_deref());
    guard_outputs(&outputs, &inputs)?;
    std::fs::create_dir_all(outdir)
        .with_context(|| format!("cannot create {}", outdir.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".teardown-batch-")
        .tempdir_in(outdir)
        .with_context(|| format!("cannot create a directory in {}", outdir.display()))?;

    let jobs = jobs_of(&args);
    let interrupt = signals::install();
    let thresholds = args.thresholds.to_thresholds();
    // From `Options::new`, so that an option added there has its default here.
    let options_of = |set: &Set| {
        let mut o = Options::new(vec![set.path.clone()]);
        o.thresholds = thresholds;
        o.filter = args.filter.to_filter();
        // One thread per set: -j sets at once keep -j cores busy.
        o.threads = 1;
        o.progress = false;
        o.max_connections = args.max_connections;
        o.interrupt = Some(interrupt.clone());
        o
    };
    let bar = progress_bar(sets.len(), args.quiet);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("teardown-set-{i}"))
        .build()
        .context("cannot start the threads")?;
    let staged = |i: usize, what: &str| staging.path().join(format!("{i}.{what}"));
    let outcomes: Vec<Outcome> = pool.install(|| {
        sets.par_iter()
            .enumerate()
            .map(|(i, set)| {
                let outcome = analyze_set(
                    set,
                    &options_of(set),
                    args.format,
                    combined,
                    &staged(i, "report"),
                    &staged(i, "part"),
                );
                if let Some(bar) = &bar {
                    bar.set_message(set.name.clone());
                    bar.inc(1);
                }
                outcome
            })
            .collect()
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    let mut unreadable = 0;
    let mut failed = Vec::new();
    for w in &warnings {
        if !args.quiet {
            eprintln!("{}", printable(w));
        }
    }
    for (set, outcome) in sets.iter().zip(&outcomes) {
        for m in &outcome.messages {
            if !args.quiet || !m.contains(": warning: ") {
                eprintln!("{}", printable(m));
            }
        }
        unreadable += outcome.unreadable;
        if let Some(e) = &outcome.error {
            failed.push(format!("{}: {e}", set.name));
        }
    }
    if !failed.is_empty() {
        bail!("cannot write the reports: {}", failed.join("; "));
    }
    // The combined file, in set order, then everything into place.
    if let Some(path) = &combined_path {
        let parts: Vec<PathBuf> = (0..sets.len()).map(|i| staged(i, "part")).collect();
        let whole = staging.path().join("combined");
        let written = std::fs::File::create(&whole).and_then(|f| {
            let mut out = io::BufWriter::with_capacity(super::output::OUTPUT_BUFFER, f);
            match combined {
                Combined::Parquet => render::parquet::concatenate(&parts, &mut out)?,
                _ => {
                    for p in &parts {
                        io::copy(&mut std::fs::File::open(p)?, &mut out)?;
                    }
                }
            }
            out.flush()
        });
        written.with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::rename(&whole, path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    for (i, report) in reports.iter().enumerate() {
        std::fs::rename(staged(i, "report"), report)
            .with_context(|| format!("cannot write {}", report.display()))?;
    }
    if !args.quiet {
        eprintln!(
            "teardown: {} capture set{} analyzed into {}",
            sets.len(),
            if sets.len() == 1 { "" } else { "s" },
            printable(&outdir.display().to_string())
        );
    }
    Ok(if unreadable > 0 {
        ExitCode::from(EXIT_TROUBLE)
    } else {
        ExitCode::SUCCESS
    })
}

/// Analyzes one set on this thread, writing its report to `report` and its
/// rows of the combined file to `part`.
fn analyze_set(
    set: &Set,
    options: &Options,
    format: Format,
    combined: Combined,
    report: &Path,
    part: &Path,
) -> Outcome {
    let mut outcome = Outcome {
        unreadable: 0,
        messages: Vec::new(),
        error: None,
    };
    let written = (|| -> io::Result<()> {
        let mut out = io::BufWriter::with_capacity(
            super::output::OUTPUT_BUFFER,
            std::fs::File::create(report)?,
        );
        let mut part_out = io::BufWriter::with_capacity(
            super::output::OUTPUT_BUFFER,
            std::fs::File::create(part)?,
        );
        let rendered = match combined {
            Combined::Ndjson => {
                let mut rows = Json::ndjson_in_set(&mut part_out, &set.name);
                render::render_beside(format, options, &mut out, &mut rows)
            }
            Combined::Parquet => {
                let mut rows = Parquet::with_set(&mut part_out, Some(set.name.clone()));
                render::render_beside(format, options, &mut out, &mut rows)
            }
            Combined::None => render::render(format, options, &mut out),
        };
        outcome.unreadable = rendered.analysis.unreadable;
        outcome.messages = rendered.analysis.messages;
        rendered.output?;
        out.flush()?;
        part_out.flush()
    })();
    if let Err(e) = written {
        outcome.error = Some(e.to_string());
    }
    outcome
}

/// `-j`, or all cores, as many as fit in the address-space limit.
fn jobs_of(args: &BatchArgs) -> usize {
    let wanted = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    match super::address_space_limit() {
        Some(limit) => threads_within(limit, wanted),
        None => wanted,
    }
}

/// A bar over the sets on stderr, when it is a terminal.
fn progress_bar(sets: usize, quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(sets as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sets {elapsed} {wide_msg}")
    {
        bar.set_style(style);
    }
    Some(bar)
}
