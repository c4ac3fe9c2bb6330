"""The Python package against the command line on the repository's fixtures.

The command line is $TEARDOWN (default: target/debug/teardown at the
repository's root); the package is the one installed (`pip install ./python`).
"""

import collections
import json
import os
import pathlib
import subprocess
import threading
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import teardown

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
TEARDOWN = os.environ.get(
    "TEARDOWN",
    str(pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "teardown"),
)

CASES = [
    [FIXTURES / "kernel/client.pcap"],
    [FIXTURES / "kernel/client-rot0.pcap", FIXTURES / "kernel/client-rot1.pcap"],
    [FIXTURES / "findings"],
    [FIXTURES / "formats/one_ipv6_http_stream.pcap"],
]


def cli(*args):
    done = subprocess.run([TEARDOWN, *map(str, args)], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.mark.parametrize("paths", CASES, ids=lambda p: p[0].name)
def test_analyze_is_the_parquet_report(paths, tmp_path):
    table = teardown.analyze(paths)
    assert isinstance(table, pa.Table)
    report = json.loads(cli("analyze", "-q", "-f", "json", *paths))
    conns = report["connections"]
    assert table.num_rows == len(conns) > 0
    assert table.column("id").to_pylist() == [c["id"] for c in conns]
    classes = collections.Counter(table.column("class").to_pylist())
    assert dict(classes) == {k: v for k, v in report["summary"]["classes"].items() if v}
    # The same table as the command line's Parquet file, column by column.
    out = tmp_path / "out.parquet"
    cli("analyze", "-q", "-o", out, *paths)
    from_file = pq.read_table(out).replace_schema_metadata(None)
    assert table.schema == from_file.schema
    assert table.equals(from_file)
    assert str(table.schema.field("first_ts").type) == "timestamp[us, tz=UTC]"


def test_the_rows_are_not_copied_into_pyarrow():
    # pyarrow counts what its own pool allocates; buffers imported through
    # the C stream interface stay the Rust allocator's.
    before = pa.total_allocated_bytes()
    table = teardown.analyze(FIXTURES / "findings")
    assert table.nbytes > 10_000
    assert pa.total_allocated_bytes() - before < table.nbytes // 10


def test_pandas_and_polars():
    table = teardown.analyze(FIXTURES / "kernel/client.pcap")
    pandas = pytest.importorskip("pandas")
    df = table.to_pandas()
    assert len(df) == table.num_rows
    assert str(df["first_ts"].dt.tz) == "UTC"
    assert isinstance(df, pandas.DataFrame)
    try:
        import polars
    except ImportError:
        return
    assert polars.from_arrow(table).height == table.num_rows


@pytest.mark.parametrize("paths", CASES, ids=lambda p: p[0].name)
def test_iter_connections_are_the_ndjson_objects(paths):
    expected = [json.loads(line) for line in cli("analyze", "-q", "-f", "ndjson", *paths).splitlines()]
    got = list(teardown.iter_connections(paths))
    assert got == expected


def test_thresholds_are_passed_on():
    path = FIXTURES / "kernel/client.pcap"
    default = teardown.analyze(path)
    longer = teardown.analyze(path, hang_after="1h")
    report = json.loads(cli("analyze", "-q", "-f", "json", "--hang-after", "1h", path))
    assert longer.column("class").to_pylist() == [c["class"] for c in report["connections"]]
    hangs = lambda t: t.column("class").to_pylist().count("half_closed_hang")
    assert hangs(default) > hangs(longer)
    with pytest.raises(ValueError, match="hang_after"):
        teardown.analyze(path, hang_after="soon")


def test_a_missing_file_raises_naming_it(tmp_path):
    missing = tmp_path / "nowhere.pcap"
    with pytest.raises(teardown.TeardownError, match="nowhere.pcap"):
        teardown.analyze(missing)
    with pytest.raises(teardown.TeardownError, match="nowhere.pcap"):
        list(teardown.iter_connections([missing]))


def test_not_a_capture_raises_naming_it():
    bad = FIXTURES / "bad/pcap-invalid-version-1.pcap"
    with pytest.raises(teardown.TeardownError, match="pcap-invalid-version-1.pcap: unsupported pcap version"):
        teardown.analyze(bad)


def test_a_file_cut_short_warns_or_raises_with_its_offset():
    cut = FIXTURES / "bad/truncated-last-record.pcap"
    report = json.loads(cli("analyze", "-q", "-f", "json", cut))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        table = teardown.analyze(cut)
    # What was read before the damage is kept.
    assert table.num_rows == len(report["connections"]) > 0
    assert any("truncated-last-record.pcap" in str(w.message) and "offset 5035" in str(w.message) for w in seen)
    assert all(issubclass(w.category, teardown.TeardownWarning) for w in seen)
    with pytest.raises(teardown.TeardownError, match="truncated-last-record.pcap: record at offset 5035"):
        teardown.analyze(cut, strict=True)
    with pytest.raises(teardown.TeardownError, match="offset 5035"):
        list(teardown.iter_connections(cut, strict=True))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        rows = list(teardown.iter_connections(cut))
    assert len(rows) == len(report["connections"])
    assert any("offset 5035" in str(w.message) for w in seen)


def _through_fifo(tmp_path, call):
    """Runs `call(fifo)` on a thread while this thread writes the capture
    into the FIFO: only possible if `call` lets go of the GIL while it reads."""
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    result = {}

    def run():
        try:
            result["value"] = call(fifo)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            result["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    data = (FIXTURES / "kernel/client.pcap").read_bytes()
    with open(fifo, "wb") as w:
        for i in range(0, len(data), 4096):
            w.write(data[i : i + 4096])
    # A hang guard, not a timing: the call ends once the FIFO is closed.
    worker.join(120)
    assert not worker.is_alive(), "the analysis never finished"
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_the_gil_is_released_while_reading(tmp_path):
    table = _through_fifo(tmp_path, lambda p: teardown.analyze(p, threads=1))
    assert table.num_rows == teardown.analyze(FIXTURES / "kernel/client.pcap").num_rows


def test_iter_connections_waits_without_the_gil(tmp_path):
    rows = _through_fifo(tmp_path, lambda p: list(teardown.iter_connections(p)))
    assert len(rows) == teardown.analyze(FIXTURES / "kernel/client.pcap").num_rows


def test_stopping_early_stops_the_analysis():
    it = teardown.iter_connections(FIXTURES / "findings")
    first = next(it)
    assert "class" in first
    it.close()


def test_schema_version():
    assert teardown.SCHEMA_VERSION == json.loads(cli("analyze", "-q", "-f", "json", FIXTURES / "kernel/client.pcap"))[
        "schema_version"
    ]
