"""Type stubs of the ``teardown`` package (see its docstrings)."""

import os
from typing import Any, Dict, Iterable, Iterator, Optional, Union

import pyarrow as pa

SCHEMA_VERSION: int

Paths = Union[str, os.PathLike[str], Iterable[Union[str, os.PathLike[str]]]]

class TeardownError(Exception):
    """An input could not be read; the message names the file (and the byte offset where known)."""

class TeardownWarning(UserWarning):
    """A problem with an input that did not stop the analysis."""

def analyze(
    paths: Paths,
    hang_after: str = "5s",
    fin_grace: str = "3s",
    msl: str = "30s",
    threads: Optional[int] = None,
    max_connections: Optional[int] = None,
    strict: bool = False,
) -> pa.Table:
    """Analyzes the captures and returns one row per connection (columns: docs/parquet.md)."""
    ...

def iter_connections(
    paths: Paths,
    hang_after: str = "5s",
    fin_grace: str = "3s",
    msl: str = "30s",
    threads: Optional[int] = None,
    max_connections: Optional[int] = None,
    strict: bool = False,
) -> Iterator[Dict[str, Any]]:
    """Yields each connection as a dict (the JSON report's object) as soon as it ends."""
    ...
