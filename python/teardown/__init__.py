"""How every TCP connection in a pcap or pcapng capture ended.

The analysis of the ``teardown`` command line (a Rust library), from Python:

- :func:`analyze` returns a :class:`pyarrow.Table` with a row per connection,
  the columns of ``teardown analyze --format parquet`` (docs/parquet.md),
  imported from the Rust Arrow batches without a copy (the Arrow C stream
  interface). ``.to_pandas()`` and ``polars.from_arrow(t)`` work on it.
- :func:`iter_connections` yields each connection as a dict (the JSON
  report's connection object, docs/json.md) as soon as its observation
  ends, in bounded memory, for captures too large for one table.

Several paths are one analysis, merged in time order (rotated files); a
directory stands for every capture in it. The GIL is released while the
captures are read.

An input from which nothing could be read raises :class:`TeardownError`,
whose message names the file (and the byte offset where known); an input cut
short after some packets (a truncated or damaged file) gives a
:class:`TeardownWarning` and what was read is kept, or raises with
``strict=True``.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict, Iterable, Iterator, Optional, Union

import pyarrow as pa

from . import _teardown

__all__ = [
    "analyze",
    "iter_connections",
    "TeardownError",
    "TeardownWarning",
    "SCHEMA_VERSION",
]

#: The JSON report's schema version, also the Parquet file's ``schema_version``.
SCHEMA_VERSION: int = _teardown.SCHEMA_VERSION

TeardownError = _teardown.TeardownError


class TeardownWarning(UserWarning):
    """A problem with an input that did not stop the analysis (its message names the file)."""


Paths = Union[str, "os.PathLike[str]", Iterable[Union[str, "os.PathLike[str]"]]]


def _paths(paths: Paths) -> list:
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    out = [os.fspath(p) for p in paths]
    if not out:
        raise ValueError("no input: give at least one capture file or directory")
    return out


def _warn(messages: Iterable[str]) -> None:
    for m in messages:
        warnings.warn(m, TeardownWarning, stacklevel=3)


class _Stream:
    """An Arrow C stream capsule, for ``pyarrow.table`` (the PyCapsule interface)."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        capsule, self._capsule = self._capsule, None
        if capsule is None:
            raise ValueError("the stream was consumed already")
        return capsule


def analyze(
    paths: Paths,
    hang_after: str = "5s",
    fin_grace: str = "3s",
    msl: str = "30s",
    threads: Optional[int] = None,
    max_connections: Optional[int] = None,
    strict: bool = False,
) -> pa.Table:
    """Analyzes the captures and returns one row per connection.

    Args:
        paths: a capture file, a directory of them, or a list of both: one
            analysis, merged in time order. Gzip and zstd compressed files too.
        hang_after: silence after an acknowledged FIN that makes a half-close
            a hang (``us``, ``ms``, ``s``, ``m``, ``h``; a bare number is seconds).
        fin_grace: how long a FIN may wait for its ACK before it counts as lost.
        msl: maximum segment lifetime; TIME_WAIT lasts 2×MSL.
        threads: worker threads (default: every core); the result is the same.
        max_connections: most connections tracked at once (default 100,000).
        strict: raise on an input cut short too, not only on one from which
            nothing could be read.

    Returns:
        A :class:`pyarrow.Table` in the order of the JSON report's connections,
        with the columns listed in docs/parquet.md (``first_ts`` and ``last_ts``
        as ``timestamp[us, tz=UTC]``, timings as float64 seconds, ``flags`` as
        ``list<string>``).

    Raises:
        TeardownError: an input could not be read (the message names it).
        ValueError: a bad duration or no path.
    """
    capsule, messages = _teardown.analyze(
        _paths(paths), hang_after, fin_grace, msl, threads, max_connections, strict
    )
    _warn(messages)
    return pa.table(_Stream(capsule))


def iter_connections(
    paths: Paths,
    hang_after: str = "5s",
    fin_grace: str = "3s",
    msl: str = "30s",
    threads: Optional[int] = None,
    max_connections: Optional[int] = None,
    strict: bool = False,
) -> Iterator[Dict[str, Any]]:
    """Yields each connection as a dict as soon as its observation ends.

    The dicts are the JSON report's connection objects (docs/json.md), in the
    report's order; memory stays bounded however large the capture.
    Arguments as :func:`analyze`. The analysis runs on a thread of its own
    and waits when the consumer is slower; stopping the iteration early
    stops it. :class:`TeardownError` is raised at the end of the iteration
    when an input could not be read.
    """
    it = _teardown.Connections(
        _paths(paths), hang_after, fin_grace, msl, threads, max_connections, strict
    )
    for line in it:
        yield json.loads(line)
    _warn(it.messages)
