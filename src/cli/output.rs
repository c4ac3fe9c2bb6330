//! Writing what the run produces: whole files renamed into place, standard
//! output, and the guard that keeps every output off the inputs.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::capture::file_id;

/// Runs `render` on standard output, or on `path` written whole
/// ([`write_whole`]).
pub(super) fn write_output(
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
pub(super) const OUTPUT_BUFFER: usize = 1 << 20;

/// Writes a temporary file next to `path` and renames it into place only once
/// complete: an interrupted run never leaves a half-written file, and an existing
/// one is kept until the new one is complete. A path that exists and is not a regular
/// file (`/dev/null`, `/dev/stdout`, a FIFO) is written directly: renaming over it
/// would replace the device or pipe with a file.
pub(super) fn write_whole(
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
    // A symbolic link is written through: the file it names is replaced, the
    // link stays.
    let through;
    let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        through = path
            .canonicalize()
            .with_context(|| format!("cannot write {}: a link to nothing", path.display()))?;
        through.as_path()
    } else {
        path
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    // A second Ctrl-C aborts at once: it removes this file first.
    super::signals::temp_file(Some(tmp.path()));
    let written = finish_whole(path, tmp, render);
    super::signals::temp_file(None);
    written
}

/// Renders into `tmp`, then renames it over `path` ([`write_whole`]).
fn finish_whole(
    path: &Path,
    tmp: tempfile::NamedTempFile,
    render: impl FnOnce(&mut (dyn Write + Send)) -> io::Result<()>,
) -> Result<()> {
    let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, tmp);
    render(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
    let tmp = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // A new report gets the permissions a new file gets here (tempfile creates
    // 0600; 0666 less the umask, as `>` would: reports hold addresses and
    // timings, and the umask is the user's say on who reads them); a replaced
    // one keeps its own.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o666 & !umask()));
        let _ = tmp.as_file().set_permissions(mode);
    }
    // Renamed over the old report, so the path holds the old report or the
    // whole new one, at every instant: a kill at any point leaves one of them.
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The process's umask (read by setting it, then setting it back: the
/// analysis threads have ended when a report is renamed into place).
#[cfg(unix)]
fn umask() -> u32 {
    use rustix::fs::Mode;
    let old = rustix::process::umask(Mode::empty());
    rustix::process::umask(old);
    old.bits()
}

/// Appends what `render` writes to `path` (created when missing), in one
/// `write(2)` at the end: a summary is small, and a half-written one would be
/// interleaved with the other steps' (a file opened to append takes each write
/// whole at its end).
pub(super) fn append_to(
    path: &Path,
    render: impl FnOnce(&mut (dyn Write + Send)) -> io::Result<()>,
) -> Result<()> {
    let mut text = Vec::new();
    render(&mut text).with_context(|| format!("cannot write {}", path.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(&text)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Refuses, before anything is read, every path the run would write that is
/// an input or would become one: the same file (through another path, a hard
/// or a symbolic link: the same device and inode), or a file inside an input
/// directory. Standard output (`-`) and devices are never inputs.
pub(super) fn guard_outputs(outputs: &[&Path], inputs: &[PathBuf]) -> Result<()> {
    for &out in outputs {
        if out.as_os_str() == "-" {
            continue;
        }
        let target = Target::of(out);
        for input in inputs.iter().filter(|i| i.as_os_str() != "-") {
            if let Some(why) = target.clashes_with(input) {
                bail!(
                    "refusing to write {}: {why} {}; nothing was written",
                    out.display(),
                    input.display()
                );
            }
        }
    }
    Ok(())
}

/// Where a path the run writes would land.
struct Target {
    /// The file it names now, if any (links followed).
    file: Option<(u64, u64)>,
    /// Its absolute path, links in its directory resolved.
    path: Option<PathBuf>,
}

impl Target {
    fn of(out: &Path) -> Target {
        let file = std::fs::metadata(out)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| file_id(&m));
        let path = out.canonicalize().ok().or_else(|| {
            let parent = match out.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            Some(parent.canonicalize().ok()?.join(out.file_name()?))
        });
        Target { file, path }
    }

    /// Why writing here would land on `input`, if it would.
    fn clashes_with(&self, input: &Path) -> Option<&'static str> {
        let meta = std::fs::metadata(input).ok()?;
        if meta.is_dir() {
            let dir = input.canonicalize().ok()?;
            return self
                .path
                .as_ref()
                .is_some_and(|p| p.starts_with(&dir))
                .then_some("it is inside the input directory");
        }
        if self.file.is_some_and(|f| f == file_id(&meta)) {
            return Some("it is the input");
        }
        None
    }
}
