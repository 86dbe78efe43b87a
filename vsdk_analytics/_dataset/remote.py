"""Parquet files and datasets in an object store: the overwrite guard, writes, listings.

`write_parquet` and `scan_parquet` call these for an `ObjectLocation`. A file is one PUT:
readers see the old object or the new one, never a partial file; with
``overwrite=False`` it is a conditional PUT (create only), so a file that appeared
meanwhile is never replaced. A partitioned dataset is one PUT per partition file, then
the removal of the previous files it replaces: each file is whole, but a reader listing
the prefix mid-write can see old and new partitions together. Datasets that change while
being read belong in a Delta table (`sync_sessions(..., table_format="delta")`).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from vsdk_analytics._errors import ConfigurationError, DatasetConflictError

from .files import META, file_frame, parquet_bytes
from .location import ObjectLocation
from .state import STATE_FILE

__all__ = [
    "DELTA_LOG",
    "check_remote_target",
    "is_delta_table",
    "remote_data_files",
    "write_remote",
]

DELTA_LOG: Final = "_delta_log"
"""The directory of a Delta table's transaction log."""

_HINT = "pass overwrite=True (CLI: --overwrite) to replace it, or choose another path"


def _relative(location: ObjectLocation, key: str) -> str:
    return key[len(location.key) + 1 :] if location.key else key


def remote_data_files(location: ObjectLocation, keys: list[str] | None = None) -> list[str]:
    """The keys of a dataset's Parquet files: no ``.``/``_`` name in their path."""
    listed = location.list_keys() if keys is None else keys
    return [
        key
        for key in listed
        if key.endswith(".parquet")
        and not any(p.startswith((".", "_")) for p in _relative(location, key).split("/"))
    ]


def is_delta_table(location: ObjectLocation, keys: list[str] | None = None) -> bool:
    """Whether a Delta table's log is under this prefix."""
    listed = location.list_keys() if keys is None else keys
    return any(_relative(location, key).startswith(f"{DELTA_LOG}/") for key in listed)


def _ours(url: str) -> bool:
    try:
        return f"{META}version" in pl.read_parquet_metadata(url)
    except (OSError, pl.exceptions.PolarsError):
        return False


def check_remote_target(
    location: ObjectLocation, *, dataset: bool, overwrite: bool | None
) -> list[str]:
    """Raise unless `write_parquet` may write ``location``; the keys it would replace."""
    where = location.url
    if not location.key:
        raise ConfigurationError(f"{where!r} is a bucket; name a file or dataset inside it")
    is_file = location.exists()
    keys = [] if is_file else location.list_keys()
    if not is_file and not keys:
        return []
    if dataset and is_file:
        raise ConfigurationError(f"{where!r} is a file; a partitioned dataset is a prefix")
    if not dataset and keys:
        raise ConfigurationError(
            f"{where!r} is a dataset prefix; pass partition_by= to write a dataset there"
        )
    if overwrite is False:
        raise DatasetConflictError(f"{where!r} exists and overwrite=False; choose another path")
    if not dataset:
        if not overwrite and not _ours(where):
            raise DatasetConflictError(f"{where!r} exists and vsdk-analytics did not write it; "
                                       + _HINT)  # fmt: skip
        return [location.key]
    if is_delta_table(location, keys):
        raise ConfigurationError(
            f"refusing to replace {where!r}: it is a Delta table (sync it with "
            "table_format='delta', or choose another path)"
        )
    data = remote_data_files(location, keys)
    others = [
        k for k in keys if k not in data and not _relative(location, k).startswith((".", "_"))
    ]
    if others:
        raise ConfigurationError(
            f"refusing to replace {where!r}: it holds objects other than a Parquet dataset "
            f"({location.url_of(others[0])!r})"
        )
    if not overwrite:
        if location.child(STATE_FILE).key in keys:
            raise DatasetConflictError(f"{where!r} holds a synced dataset; " + _HINT)
        foreign = next((k for k in data if not _ours(location.url_of(k))), None)
        if foreign is not None:
            raise DatasetConflictError(
                f"{where!r} exists and vsdk-analytics did not write "
                f"{location.url_of(foreign)!r}; " + _HINT
            )
    return keys


def write_remote(
    location: ObjectLocation,
    parts: list[tuple[str, pl.DataFrame]] | pl.DataFrame,
    *,
    profile: str,
    compression: str,
    metadata: dict[str, str],
    overwrite: bool | None,
) -> None:
    """Write a file (a frame) or a dataset (its parts), then drop the keys it replaced."""
    replaced = check_remote_target(
        location, dataset=not isinstance(parts, pl.DataFrame), overwrite=overwrite
    )
    if isinstance(parts, pl.DataFrame):
        file_metadata = {**metadata, f"{META}rows": str(parts.height)}
        data = parquet_bytes(file_frame(parts, profile), compression, file_metadata)
        try:
            location.put(data, create=overwrite is False or not replaced)
        except FileExistsError:
            raise DatasetConflictError(
                f"{location.url!r} appeared while writing; not replaced"
            ) from None
        return
    written = set()
    for relative, part in parts:
        file_metadata = {**metadata, f"{META}rows": str(part.height)}
        target = location.child(relative)
        target.put(parquet_bytes(file_frame(part, profile), compression, file_metadata))
        written.add(target.key)
    location.delete([key for key in replaced if key not in written])
