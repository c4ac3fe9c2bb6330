"""The README's DuckDB queries, as written there, on the fixtures' Parquet.

Each query runs over `teardown batch`'s combined.parquet of several fixture
capture sets and over one `teardown analyze -o x.parquet`; every row of its
result is checked against what the JSON reports of the same captures say.
The binary is $TEARDOWN (default: target/debug/teardown).
"""

import collections
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess

import duckdb
import pyarrow.parquet as pq
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEARDOWN = os.environ.get(
    "TEARDOWN",
    str(pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "teardown"),
)
PROBLEMS = {"half_closed_hang", "lost_fin", "reset", "refused", "unanswered"}

# Capture sets: each copied into a directory of its own (a "host").
SETS = {
    "kernel": ["kernel/client.pcap"],
    "rotated": ["kernel/client-rot0.pcap", "kernel/client-rot1.pcap"],
    "server": ["kernel/server-any-s96.pcap"],
    "findings": ["findings"],
    "churn": ["churn/churn.pcap"],
    "ipv6": ["formats/one_ipv6_http_stream.pcap"],
}


def readme_queries():
    """The SQL blocks of the README's DuckDB section, by their first comment."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Querying the reports with DuckDB", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    queries = {}
    for b in blocks:
        first = b.splitlines()[0]
        assert first.startswith("-- "), b
        queries[first[3:].split(":")[0].strip()] = b
    assert set(queries) == {
        "problem rate per server",
        "hosts with the most CLOSE_WAIT hangs",
        "resets by hour (of the connection's last packet, UTC)",
    }, queries.keys()
    return queries


def run(*args):
    done = subprocess.run([TEARDOWN, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """(parquet path, [JSON connection records]) for the batch and one file."""
    tmp = tmp_path_factory.mktemp("sets")
    fleet = tmp / "fleet"
    for name, files in SETS.items():
        d = fleet / name
        d.mkdir(parents=True)
        for f in files:
            src = ROOT / "fixtures" / f
            paths = sorted(src.glob("*.pcap")) if src.is_dir() else [src]
            for p in paths:
                shutil.copy(p, d / p.name)
    out = tmp / "out"
    run("batch", "-q", "--sets-from-subdirs", str(fleet), "-o", str(out), "--combined", "parquet")
    batch_records = []
    for name in sorted(SETS):
        report = json.loads((out / f"{name}.json").read_text())
        batch_records += [dict(c, set=name) for c in report["connections"]]
    one = tmp / "client.parquet"
    run("analyze", "-q", "-o", str(one), str(ROOT / "fixtures/kernel/client.pcap"))
    one_report = json.loads(run("analyze", "-q", "-f", "json", str(ROOT / "fixtures/kernel/client.pcap")))
    version = one_report["schema_version"]
    return [
        (out / "combined.parquet", batch_records, version),
        (one, one_report["connections"], version),
    ]


def query(sql, parquet):
    con = duckdb.connect()
    return con.execute(sql.replace("'report.parquet'", f"'{parquet}'")).fetchall()


def split(endpoint):
    addr, port = endpoint.rsplit(":", 1)
    return addr.strip("[]"), int(port)


def test_pyarrow_reads_every_connection(reports):
    for parquet, records, version in reports:
        table = pq.read_table(parquet)
        assert table.num_rows == len(records)
        assert collections.Counter(table.column("class").to_pylist()) == collections.Counter(
            r["class"] for r in records
        )
        assert table.column("id").to_pylist() == [r["id"] for r in records]
        meta = pq.read_metadata(parquet).metadata
        assert meta[b"schema_version"] == str(version).encode()
        # The pandas view too, when pandas is there.
        try:
            import pandas  # noqa: F401
        except ImportError:
            continue
        df = table.to_pandas()
        assert str(df["first_ts"].dt.tz) == "UTC"


def test_problem_rate_per_server(reports):
    sql = readme_queries()["problem rate per server"]
    for parquet, records, _ in reports:
        per = collections.defaultdict(lambda: [0, 0])
        for r in records:
            key = split(r["server"])
            per[key][0] += 1
            per[key][1] += r["class"] in PROBLEMS
        expected = sorted(
            ((a, p, n, k, round(100.0 * k / n, 1)) for (a, p), (n, k) in per.items()),
            key=lambda row: (-row[3], -row[2], row[0], row[1]),
        )
        got = [(a, p, n, k, float(pct)) for a, p, n, k, pct in query(sql, parquet)]
        assert got == expected
        assert any(row[3] > 0 for row in got)


def test_hosts_with_the_most_close_wait_hangs(reports):
    sql = readme_queries()["hosts with the most CLOSE_WAIT hangs"]
    total = 0
    for parquet, records, _ in reports:
        per = collections.Counter()
        for r in records:
            ends = r["end_state"]
            if r["class"] != "half_closed_hang" or "CLOSE_WAIT" not in ends.values():
                continue
            side = "server" if ends["server"] == "CLOSE_WAIT" else "client"
            per[split(r[side])[0]] += 1
        expected = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))
        got = query(sql, parquet)
        assert got == expected
        total += sum(n for _, n in got)
    # The fixtures do have such hangs: the query is not checked on nothing.
    assert total > 0


def test_resets_by_hour(reports):
    sql = readme_queries()["resets by hour (of the connection's last packet, UTC)"]
    for parquet, records, _ in reports:
        per = collections.Counter()
        for r in records:
            if r["class"] == "reset":
                secs = int(round(r["last_ts"] * 1e6)) // 1_000_000
                hour = datetime.datetime.fromtimestamp(secs - secs % 3600, datetime.timezone.utc)
                per[hour.replace(tzinfo=None)] += 1
        expected = sorted(per.items())
        got = query(sql, parquet)
        assert got == expected
        assert sum(n for _, n in got) > 0
