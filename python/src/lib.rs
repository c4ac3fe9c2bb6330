//! `teardown._teardown`: the Rust side of the Python package.
//!
//! Two entry points, both over the library's public API
//! (`tcp_teardown::analyze_into`, `render`):
//! - [`analyze`]: the analysis into [`tcp_teardown::Batches`] (the rows of
//!   `--format parquet` as Arrow record batches), handed to Python as an
//!   Arrow C stream (a PyCapsule named `arrow_array_stream`): pyarrow imports
//!   the buffers as they are, without a copy.
//! - [`Connections`]: the analysis on a thread of its own writing NDJSON into
//!   a bounded channel, a line per connection, which Python pulls one at a
//!   time: memory stays bounded however large the capture.
//!
//! The GIL is released while the capture is read (`Python::detach`), so other
//! Python threads run meanwhile.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use arrow_array::RecordBatchIterator;
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule};
use tcp_teardown::cli::parse_duration;
use tcp_teardown::{Analysis, Batches, Format, Options, analyze_into, render};

create_exception!(
    _teardown,
    TeardownError,
    PyException,
    "An input could not be read; the message names the file (and the byte offset where known)."
);

/// What the Python functions take besides the paths.
struct Settings {
    hang_after: Duration,
    fin_grace: Duration,
    msl: Duration,
    threads: Option<usize>,
    max_connections: Option<usize>,
}

impl Settings {
    /// The keyword arguments both entry points take.
    fn parse(
        hang_after: &str,
        fin_grace: &str,
        msl: &str,
        threads: Option<usize>,
        max_connections: Option<usize>,
    ) -> PyResult<Settings> {
        Ok(Settings {
            hang_after: duration("hang_after", hang_after)?,
            fin_grace: duration("fin_grace", fin_grace)?,
            msl: duration("msl", msl)?,
            threads,
            max_connections,
        })
    }
}

fn duration(name: &str, text: &str) -> PyResult<Duration> {
    parse_duration(text).map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

fn options(paths: Vec<PathBuf>, s: &Settings) -> Options {
    let mut o = Options::new(paths);
    o.thresholds.hang_after = s.hang_after;
    o.thresholds.fin_grace = s.fin_grace;
    o.thresholds.msl = s.msl;
    if let Some(t) = s.threads {
        o.threads = t.max(1);
    }
    if let Some(m) = s.max_connections {
        o.max_connections = m.max(1);
    }
    o
}

/// The messages of an analysis, and whether it must raise: an input from
/// which nothing could be read always does; one cut short by an error (its
/// report's `error`, with the byte offset) only when `strict`.
fn problems(analysis: &Analysis, strict: bool) -> (Option<String>, Vec<String>) {
    let cut_short = analysis.report.inputs.iter().any(|i| i.error.is_some());
    let messages = analysis.messages.clone();
    if analysis.unreadable > 0 || (strict && cut_short) {
        let errors: Vec<&str> = messages
            .iter()
            .filter(|m| !m.contains(": warning: "))
            .map(String::as_str)
            .collect();
        let text = if errors.is_empty() {
            messages.join("\n")
        } else {
            errors.join("\n")
        };
        return (Some(text), messages);
    }
    (None, messages)
}

/// The rows of every connection of one analysis, as an Arrow C stream
/// capsule, and the analysis' messages (for warnings).
#[pyfunction]
#[pyo3(signature = (paths, hang_after, fin_grace, msl, threads=None, max_connections=None, strict=false))]
#[allow(clippy::too_many_arguments)]
fn analyze<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    hang_after: &str,
    fin_grace: &str,
    msl: &str,
    threads: Option<usize>,
    max_connections: Option<usize>,
    strict: bool,
) -> PyResult<(Bound<'py, PyCapsule>, Vec<String>)> {
    let settings = Settings::parse(hang_after, fin_grace, msl, threads, max_connections)?;
    let options = options(paths, &settings);
    let (analysis, batches, schema) = py.detach(|| {
        let mut sink = Batches::default();
        let schema = sink.schema();
        let analysis = analyze_into(&options, &mut sink);
        (analysis, sink.into_batches(), schema)
    });
    let (error, messages) = problems(&analysis, strict);
    if let Some(e) = error {
        return Err(TeardownError::new_err(e));
    }
    let batches = batches.map_err(|e| TeardownError::new_err(e.to_string()))?;
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    // The consumer moves the stream out (leaving it released); dropping the
    // capsule releases a stream nobody took.
    let capsule = PyCapsule::new_with_value(py, stream, c"arrow_array_stream")?;
    Ok((capsule, messages))
}

/// Lines of NDJSON handed to a channel, one message per line.
struct Lines {
    tx: SyncSender<Vec<u8>>,
    line: Vec<u8>,
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..end]);
            let line = std::mem::take(&mut self.line);
            // The Python side went away: stop the analysis.
            self.tx
                .send(line)
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
            rest = &rest[end + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Connections as they finish: each `__next__` gives one connection's JSON
/// object (bytes), waiting without the GIL.
#[pyclass(module = "teardown._teardown")]
struct Connections {
    /// `None` once the analysis is over (a `Mutex` only because a Python
    /// object must be `Sync`; `__next__` has it `&mut`).
    rx: Mutex<Option<Receiver<Vec<u8>>>>,
    worker: Option<JoinHandle<Analysis>>,
    strict: bool,
    messages: Vec<String>,
}

#[pymethods]
impl Connections {
    #[new]
    #[pyo3(signature = (paths, hang_after, fin_grace, msl, threads=None, max_connections=None, strict=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        paths: Vec<PathBuf>,
        hang_after: &str,
        fin_grace: &str,
        msl: &str,
        threads: Option<usize>,
        max_connections: Option<usize>,
        strict: bool,
    ) -> PyResult<Connections> {
        let settings = Settings::parse(hang_after, fin_grace, msl, threads, max_connections)?;
        let options = options(paths, &settings);
        // A few thousand connections in flight at most.
        let (tx, rx) = sync_channel(4096);
        let worker = std::thread::Builder::new()
            .name("teardown-analysis".into())
            .spawn(move || {
                let mut lines = Lines {
                    tx,
                    line: Vec::new(),
                };
                render(Format::Ndjson, &options, &mut lines).analysis
            })
            .map_err(|e| TeardownError::new_err(format!("cannot start the analysis: {e}")))?;
        Ok(Connections {
            rx: Mutex::new(Some(rx)),
            worker: Some(worker),
            strict,
            messages: Vec::new(),
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let slot = self.rx.get_mut().unwrap_or_else(|e| e.into_inner());
        let Some(rx) = slot.take() else {
            return Ok(None);
        };
        let (rx, line) = py.detach(move || {
            let line = rx.recv();
            (rx, line)
        });
        if let Ok(line) = line {
            *slot = Some(rx);
            return Ok(Some(PyBytes::new(py, &line)));
        }
        // The analysis is over: its verdict on the inputs.
        let Some(worker) = self.worker.take() else {
            return Ok(None);
        };
        let analysis = py
            .detach(|| worker.join())
            .map_err(|_| TeardownError::new_err("the analysis failed"))?;
        let (error, messages) = problems(&analysis, self.strict);
        self.messages = messages;
        match error {
            Some(e) => Err(TeardownError::new_err(e)),
            None => Ok(None),
        }
    }

    /// The analysis' messages (warnings), once the iteration is over.
    #[getter]
    fn messages(&self) -> Vec<String> {
        self.messages.clone()
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        // Closing the channel makes the analysis' next write fail, so it
        // stops reading; its thread is left to end by itself.
        *self.rx.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[pymodule]
fn _teardown(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_class::<Connections>()?;
    m.add("TeardownError", m.py().get_type::<TeardownError>())?;
    m.add("SCHEMA_VERSION", tcp_teardown::report::SCHEMA_VERSION)?;
    Ok(())
}
