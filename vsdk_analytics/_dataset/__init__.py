"""Parquet files and synced datasets: the public names of the dataset package.

One concern per module: `files` (profiles, Arrow types, provenance metadata, atomic
writes), `parquet` (`write_parquet`, `read_parquet`, `scan_parquet`, `parquet_info`,
the overwrite guard), `stream` (a fetch streamed into one file, batch by batch),
`state` (the sync state file), `lock` (the OS lock), `stored` (what a synced dataset
holds), `plan` (what a sync fetches), `merge` (the upsert), `report` (`SyncReport`),
`deployments` (the deployments file beside the sessions, `read_deployments`),
`location` (local paths and object-store URLs), `remote` (Parquet in object stores),
`destination` (where a sync commits), `delta` (syncing to Delta Lake tables), `delta_read`
(reading them and their sync commits) and `sync`
(`sync_sessions`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .delta import COMMIT_ATTEMPTS
    from .delta_read import delta_sync_history
    from .deployments import DEPLOYMENTS_FILE, read_deployments
    from .destination import TableFormat
    from .files import HIVE_NULL_PARTITION, START_DATE, ParquetProfile, Provenance
    from .lock import HOLDER_FILE, LOCK_FILE
    from .parquet import parquet_info, read_parquet, scan_parquet, write_parquet
    from .report import SyncReport, format_sync_report
    from .state import STATE_FILE
    from .stream import ParquetStream, fetch_sessions_to_parquet, fetch_sessions_to_parquet_async
    from .sync import sync_sessions, sync_sessions_async

__all__ = [
    "COMMIT_ATTEMPTS",
    "DEPLOYMENTS_FILE",
    "HIVE_NULL_PARTITION",
    "HOLDER_FILE",
    "LOCK_FILE",
    "START_DATE",
    "STATE_FILE",
    "ParquetProfile",
    "ParquetStream",
    "Provenance",
    "SyncReport",
    "TableFormat",
    "delta_sync_history",
    "fetch_sessions_to_parquet",
    "fetch_sessions_to_parquet_async",
    "format_sync_report",
    "parquet_info",
    "read_deployments",
    "read_parquet",
    "scan_parquet",
    "sync_sessions",
    "sync_sessions_async",
    "write_parquet",
]

_EXPORTS: dict[str, str] = {
    "COMMIT_ATTEMPTS": "delta",
    "DEPLOYMENTS_FILE": "deployments",
    "HIVE_NULL_PARTITION": "files",
    "HOLDER_FILE": "lock",
    "LOCK_FILE": "lock",
    "ParquetProfile": "files",
    "ParquetStream": "stream",
    "Provenance": "files",
    "START_DATE": "files",
    "STATE_FILE": "state",
    "SyncReport": "report",
    "TableFormat": "destination",
    "delta_sync_history": "delta_read",
    "fetch_sessions_to_parquet": "stream",
    "fetch_sessions_to_parquet_async": "stream",
    "format_sync_report": "report",
    "parquet_info": "parquet",
    "read_deployments": "deployments",
    "read_parquet": "parquet",
    "scan_parquet": "parquet",
    "sync_sessions": "sync",
    "sync_sessions_async": "sync",
    "write_parquet": "parquet",
}
"""Each public name's module: imported on first use, so writing one file does not load
the sync, Delta and lock machinery (about 45 ms)."""


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
