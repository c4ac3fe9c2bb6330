"""Capture sets fanned out over a Dask cluster, into one Parquet dataset.

The unit of work is a capture set (a directory of one host's rotated
captures, analyzed as one time-ordered analysis), never part of a file: each
task runs ``teardown.analyze`` on one set, on one thread, and writes that
set's rows, with a ``set`` column first, as one file of the dataset
(``OUT/NAME.parquet``). The result is the rows of ``teardown batch
--combined parquet`` on the same sets, one file per set instead of one file.

    python python/examples/dask_sets.py SCHEDULER|none OUT SET_DIR...

A set too big for one task is not split: one task analyzes it whole (its
memory stays bounded by the connections open at once, so a big set is slow,
not fatal). See docs/cluster.md.
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Iterable, List, Optional

import pyarrow as pa
import pyarrow.parquet as pq


def analyze_set(set_dir: str, out_dir: str, hang_after: str = "5s") -> str:
    """One task: the set's rows, `set` first, written to OUT/NAME.parquet."""
    import teardown  # imported on the worker

    name = pathlib.Path(set_dir).resolve().name
    table = teardown.analyze(set_dir, hang_after=hang_after, threads=1)
    table = table.add_column(0, pa.field("set", pa.string(), nullable=False), pa.array([name] * table.num_rows, pa.string()))
    path = pathlib.Path(out_dir) / f"{name}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return str(path)


def run(client, sets: Iterable[str], out_dir: str, hang_after: str = "5s") -> List[str]:
    """Analyzes every set on the cluster behind `client`; the files, in set order."""
    os.makedirs(out_dir, exist_ok=True)
    sets = [os.fspath(s) for s in sets]
    names = [pathlib.Path(s).resolve().name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"two capture sets share a name: {sorted(names)}")
    futures = client.map(analyze_set, sets, out_dir=out_dir, hang_after=hang_after, pure=False)
    return client.gather(futures)


def read_dataset(out_dir: str, order: Optional[List[str]] = None) -> pa.Table:
    """The dataset as one table, sets in `order` (default: by name)."""
    files = sorted(pathlib.Path(out_dir).glob("*.parquet"))
    if order is not None:
        by_name = {f.stem: f for f in files}
        files = [by_name[n] for n in order]
    return pa.concat_tables(pq.read_table(f) for f in files)


def main(argv: List[str]) -> None:
    from dask.distributed import Client, LocalCluster

    scheduler, out_dir, sets = argv[0], argv[1], argv[2:]
    if scheduler == "none":
        with LocalCluster(processes=True, threads_per_worker=1) as cluster, Client(cluster) as client:
            files = run(client, sets, out_dir)
    else:
        with Client(scheduler) as client:
            files = run(client, sets, out_dir)
    print("\n".join(files))


if __name__ == "__main__":
    main(sys.argv[1:])
