"""`parquet_info`: what the library recorded in a file, dataset or Delta table it wrote."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from .files import META, START_DATE, format_instant
from .location import ObjectLocation, parse_location
from .sources import is_delta, sources
from .state import SyncState, read_state

__all__ = ["parquet_info"]


def parquet_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance of a Parquet file or dataset: what the library recorded in it.

    Parameters
    ----------
    path
        A file or dataset directory written by `write_parquet` or `sync_sessions` (or
        an object-store URL of one), or a Delta table it synced: then ``format`` is
        ``"delta"``, ``version`` the last sync commit, and the rest comes from its state.

    Returns
    -------
    dict
        ``path``, ``files``, ``rows``, then the ``vsdk_analytics.*`` metadata without its
        prefix (``version``, ``schema_version``, ``profile``, ``written_at``,
        ``fetched_at``, ``base_url``, ``since``, ``until``, ``sync_run_id``,
        ``partition_by``, ``webhook_events_encoding``; absent keys are None) of the
        most recently written file. For a synced dataset, ``sync_run_id``,
        ``synced_at`` and ``watermark`` come from its sync state (the last complete
        sync). Never credentials.

    Raises
    ------
    ConfigurationError
        No Parquet file or dataset at ``path``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import polars as pl
    >>> from vsdk_analytics import SESSIONS_SCHEMA, write_parquet
    >>> frame = pl.DataFrame(schema=SESSIONS_SCHEMA)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     info = parquet_info(write_parquet(frame, pathlib.Path(tmp) / "s.parquet"))
    >>> info["profile"], info["rows"], info["schema_version"], info["fetched_at"]
    ('bi', 0, '1', None)
    """
    source = parse_location(path)
    if is_delta(source):
        return _delta_info(source)
    files, _ = sources(source)
    rows = 0
    newest: dict[str, str] = {}
    for file in files:
        raw = pl.read_parquet_metadata(file)
        rows += pl.scan_parquet(file).select(pl.len()).collect().item()
        metadata = {k[len(META) :]: v for k, v in raw.items() if k.startswith(META)}
        if metadata.get("written_at", "") >= newest.get("written_at", ""):
            newest = metadata
    keys = (
        "version", "schema_version", "profile", "written_at", "fetched_at", "base_url",
        "since", "until", "sync_run_id", "webhook_events_encoding",
    )  # fmt: skip
    where = source.url if isinstance(source, ObjectLocation) else str(source)
    info: dict[str, Any] = {"path": where, "files": len(files), "rows": rows}
    info.update({key: newest.get(key) for key in keys})
    partition_by = newest.get("partition_by")
    info["partition_by"] = None if partition_by is None else json.loads(partition_by)
    if "webhook_events_separator" in newest:
        info["webhook_events_encoding"] = repr(newest["webhook_events_separator"]) + "-joined"
    if isinstance(source, Path) and source.is_dir():
        state, _ = read_state(source)
        if state is not None:
            info.update(_state_info(state))
    return info


def _state_info(state: SyncState) -> dict[str, Any]:
    return {
        "sync_run_id": state.run_id,
        "synced_at": format_instant(state.synced_at),
        "watermark": None if state.watermark is None else format_instant(state.watermark),
    }


def _delta_info(source: Path | ObjectLocation) -> dict[str, Any]:
    """A Delta table's info: its current version's files and rows, its last sync commit."""
    from .delta_read import delta_sync_history, scan_delta  # noqa: PLC0415 - on demand

    where = source.url if isinstance(source, ObjectLocation) else str(source)
    history = delta_sync_history(where)
    state = SyncState.from_json(json.dumps(history[0]["state"]).encode()) if history else None
    frame = scan_delta(source)
    info: dict[str, Any] = {
        "path": where,
        "format": "delta",
        "version": history[0]["version"] if history else None,
        "rows": frame.select(pl.len()).collect().item(),
        "profile": None if state is None else state.profile,
        "schema_version": None if state is None else str(state.schema_version),
        "base_url": None if state is None else state.base_url,
        "partition_by": [START_DATE],
    }
    if state is not None:
        info.update(_state_info(state))
    return info
