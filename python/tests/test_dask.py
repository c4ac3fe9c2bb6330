"""The Dask recipe (python/examples/dask_sets.py) on a LocalCluster of
several worker processes: its Parquet dataset holds the rows of
`teardown batch --combined parquet` on the same capture sets."""

import os
import pathlib
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

distributed = pytest.importorskip("dask.distributed")

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON = ROOT / "python"
TEARDOWN = os.environ.get(
    "TEARDOWN",
    str(pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "teardown"),
)
# Capture sets: a "host" each.
SETS = {
    "web1": ["kernel/client-rot0.pcap", "kernel/client-rot1.pcap"],
    "web2": ["kernel/client.pcap"],
    "db1": ["kernel/server-any-s96.pcap"],
    "lb1": ["findings/port-reuse.pcap", "findings/keepalive-race.pcap"],
    "edge": ["churn/churn.pcap"],
}


def test_dask_dataset_equals_teardown_batch(tmp_path):
    # The workers import the recipe by its module name (python/examples on
    # their path; not python/, whose teardown/ lacks the built extension).
    examples = str(PYTHON / "examples")
    sys.path.insert(0, examples)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [examples, os.environ.get("PYTHONPATH")]))
    import dask_sets

    fleet = tmp_path / "fleet"
    sets = []
    for name, files in SETS.items():
        d = fleet / name
        d.mkdir(parents=True)
        for f in files:
            shutil.copy(ROOT / "fixtures" / f, d)
        sets.append(str(d))

    batch = tmp_path / "batch"
    done = subprocess.run(
        [TEARDOWN, "batch", "-q", *sets, "-o", str(batch), "--combined", "parquet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    expected = pq.read_table(batch / "combined.parquet").replace_schema_metadata(None)

    out = tmp_path / "dataset"
    with distributed.LocalCluster(
        n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 3
        files = dask_sets.run(client, sets, str(out))
        # Each set ran in a worker process, not in this one.
        pids = client.run(os.getpid)
    assert os.getpid() not in pids.values()
    assert [pathlib.Path(f).name for f in files] == [f"{n}.parquet" for n in SETS]

    got = dask_sets.read_dataset(str(out), order=list(SETS)).replace_schema_metadata(None)
    assert got.num_rows == expected.num_rows > 0
    assert got.schema == expected.schema
    assert got.equals(expected)
