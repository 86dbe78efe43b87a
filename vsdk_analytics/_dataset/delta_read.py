"""Reading Delta tables of sessions: a lazy scan as `SESSIONS_SCHEMA`, and the sync commits.

The read side of `vsdk_analytics._dataset.delta`, with none of the sync machinery:
`scan_parquet`, `read_parquet` and `parquet_info` use it for a Delta table, and the sync
reads its state back through it. deltalake loads on first use (the ``lake`` extra).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import polars as pl

from vsdk_analytics._errors import ConfigurationError

from .files import EVENTS_ENCODING, as_sessions
from .location import LAKE_EXTRA_HINT, ObjectLocation, parse_location
from .remote import DELTA_LOG

__all__ = [
    "HISTORY_DEPTH",
    "REPORT_KEY",
    "STATE_KEY",
    "commit_info",
    "delta_sync_history",
    "deltalake_module",
    "scan_delta",
    "sync_commits",
    "table_uri",
]

STATE_KEY: Final = "vsdk_analytics.sync_state"
"""The commit metadata key of the sync state (the JSON of a ``_vsdk_sync.json``)."""

REPORT_KEY: Final = "vsdk_analytics.sync_report"
"""The commit metadata key of the run's report (JSON: counts, pages, reason...)."""

HISTORY_DEPTH: Final = 100
"""How many of the newest commits are searched for the last sync commit."""


def deltalake_module() -> Any:
    """The deltalake package, or a `ConfigurationError` naming the ``lake`` extra."""
    try:
        import deltalake  # noqa: PLC0415 - an optional dependency, loaded only for Delta
    except ImportError:  # pragma: no cover - the lake extra is installed in the tests
        raise ConfigurationError(
            f"table_format='delta' needs deltalake: {LAKE_EXTRA_HINT}"
        ) from None
    return deltalake


def table_uri(location: Path | ObjectLocation) -> str:
    """The URI deltalake and Polars open the table at."""
    return location.url if isinstance(location, ObjectLocation) else str(location)


def scan_delta(location: Path | ObjectLocation, version: int | None = None) -> pl.LazyFrame:
    """Scan a Delta table of sessions (its current version, or ``version``) lazily."""
    deltalake_module()
    uri = table_uri(location)
    return as_sessions(pl.scan_delta(uri, version=version), uri, EVENTS_ENCODING)


def commit_info(location: Path | ObjectLocation, version: int) -> dict[str, Any] | None:
    """The ``commitInfo`` of one log entry (None when the entry is gone, e.g. cleaned up).

    Read from the log itself rather than with ``DeltaTable.history``, which holds the
    GIL while it waits on the network (and so cannot talk to a server in this process).
    """
    name = f"{DELTA_LOG}/{version:020d}.json"
    try:
        if isinstance(location, ObjectLocation):
            text = location.child(name).get()
        else:
            text = (location / name).read_bytes()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        action = json.loads(line) if line.strip() else {}
        if isinstance(action, dict) and isinstance(action.get("commitInfo"), dict):
            return dict(action["commitInfo"])
    return {}


def sync_commits(
    location: Path | ObjectLocation, latest: int, limit: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The commits of the sync among the last ``limit`` ones, newest first."""
    for version in range(latest, max(-1, latest - limit), -1):
        info = commit_info(location, version)
        if info is None:
            return
        if STATE_KEY in info:
            yield version, info


def delta_sync_history(
    path: str | os.PathLike[str], limit: int = HISTORY_DEPTH
) -> list[dict[str, Any]]:
    """The sync commits of a Delta table of sessions, newest first.

    Parameters
    ----------
    path
        The table (a local path or an object-store URL).
    limit
        How many of the newest commits to look at.

    Returns
    -------
    list of dict
        For each commit `sync_sessions` made: ``version``, ``timestamp`` (ms since the
        epoch), ``state`` (the sync state) and ``report`` (the run's `SyncReport`
        fields), as JSON values.
    """
    location = parse_location(path)
    table = deltalake_module().DeltaTable(table_uri(location))
    return [
        {
            "version": version,
            "timestamp": info.get("timestamp"),
            "state": json.loads(info[STATE_KEY]),
            "report": json.loads(info.get(REPORT_KEY, "{}")),
        }
        for version, info in sync_commits(location, int(table.version()), limit)
    ]
