"""Parquet export: write a sessions frame to a file or Hive dataset, read or scan it back.

Two profiles:

``"bi"`` (default)
    For BI tools, DuckDB, Spark and pandas: flat columns of plain types only.
    Strings are Parquet ``BYTE_ARRAY (String)`` read as Arrow ``string``; timestamps
    are ``INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true)`` (DuckDB: ``TIMESTAMP WITH
    TIME ZONE``); ``webhook_events`` is a JSON array as text (``["a","b"]``; a null
    list is null, an empty one ``[]``, so no event string can collide with another);
    snappy compression.
``"native"``
    For Polars and Arrow: the same, except ``webhook_events`` stays ``list<string>``;
    zstd compression.

``partition_by`` writes a Hive-style dataset directory instead of one file, e.g.
``start_date=2025-06-18/part-0.parquet`` (``start_date`` is derived from ``start``,
its UTC date; a null value is ``__HIVE_DEFAULT_PARTITION__``, as Hive, Spark and DuckDB
expect).

Writes are atomic: everything is written under a hidden temporary name in the target's
directory, flushed to disk (fsync), then renamed into place. An existing target is
replaced only when this library wrote it and it is not a synced dataset, unless
``overwrite=True`` says so.

Each file carries key-value metadata under ``vsdk_analytics.``: ``version``,
``schema_version``, ``profile``, ``written_at``, ``rows``, and when known
``fetched_at``, ``base_url`` (never credentials), ``since``, ``until``,
``sync_run_id``, ``partition_by``, ``webhook_events_encoding``. `parquet_info` reads it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from vsdk_analytics._errors import ConfigurationError, DatasetConflictError
from vsdk_analytics._schema import SCHEMA_VERSION, SESSIONS_SCHEMA

from .files import (
    EVENTS_ENCODING,
    META,
    PART_FILE,
    START_DATE,
    ParquetProfile,
    Provenance,
    as_sessions,
    check_partition_values,
    check_schema,
    codec,
    file_frame,
    fsync_dir,
    hive_value,
    partition_columns,
    provenance_metadata,
    temporary_name,
    write_file,
)
from .info import parquet_info
from .location import ObjectLocation, parse_location
from .remote import check_remote_target, write_remote
from .sources import data_files, is_delta, sources
from .state import STATE_FILE, read_state

__all__ = [
    "check_output",
    "check_target",
    "data_files",
    "parquet_info",
    "read_parquet",
    "scan_parquet",
    "swap_into_place",
    "write_parquet",
]

_OVERWRITE_HINT = "pass overwrite=True (CLI: --overwrite) to replace it, or choose another path"


def write_parquet(
    frame: pl.DataFrame | pl.LazyFrame,
    path: str | os.PathLike[str],
    *,
    profile: ParquetProfile = "bi",
    partition_by: str | Sequence[str] | None = None,
    compression: str | None = None,
    overwrite: bool | None = None,
    provenance: Provenance | None = None,
) -> Path | str:
    """Write a sessions frame to a Parquet file, or a Hive-partitioned dataset directory.

    Parameters
    ----------
    frame
        A frame with exactly `SESSIONS_SCHEMA` (a LazyFrame is collected).
    path
        The file to write, or with ``partition_by`` the dataset directory. Its parent
        directory must exist. An object-store URL (``s3://bucket/key``, ``gs://``,
        ``az://``; needs the ``lake`` extra) writes there, with credentials from the
        cloud's standard environment (see [Data lake](../lake.md)); ``file://`` URLs are
        local paths.
    profile
        ``"bi"`` (flat, plain types, ``webhook_events`` as JSON array text, snappy) or
        ``"native"`` (``webhook_events`` as ``list<string>``, zstd).
    partition_by
        ``"start_date"`` (the UTC date of ``start``, a derived column kept out of the
        data) and/or String columns of the schema (``"tag"``, ``"status"``...; these
        move from the files into the directory names). Values are escaped as Hive
        escapes them; null is ``__HIVE_DEFAULT_PARTITION__``.
    compression
        A Parquet codec (snappy, zstd, gzip, brotli, lz4, none); default per profile.
    overwrite
        None (default): replace an existing target only when this library wrote it
        and it is not a synced dataset (a file by one atomic rename, a dataset
        directory by two). True: also replace a synced dataset (its sync state goes
        with it) or Parquet written by another tool. False: never replace anything.
        A directory holding anything but Parquet files is never replaced.
    provenance
        Where the sessions come from, stored in every file's metadata.

    Returns
    -------
    pathlib.Path or str
        The path written (the URL, for an object store).

    Raises
    ------
    DatasetConflictError
        The target exists and ``overwrite`` does not allow replacing it (the message
        names the path and ``overwrite=True``); nothing was written.
    ConfigurationError
        A frame that does not have `SESSIONS_SCHEMA`, an unknown profile, codec or
        partition column, a missing parent directory, a file where a directory is
        expected (or the reverse), or an empty-string partition value.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from datetime import datetime, timezone
    >>> import polars as pl
    >>> from vsdk_analytics import SESSIONS_SCHEMA
    >>> start = datetime(2025, 6, 18, 9, 30, tzinfo=timezone.utc)
    >>> row = {"session_id": "s1", "start": start, "webhook_events": ["a", "b,c", ""]}
    >>> frame = pl.DataFrame([row], schema=SESSIONS_SCHEMA)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target = write_parquet(frame, pathlib.Path(tmp) / "sessions", partition_by="start_date")
    ...     print([p.relative_to(target).as_posix() for p in target.rglob("*.parquet")])
    ...     print(read_parquet(target).equals(frame))
    ['start_date=2025-06-18/part-0.parquet']
    True
    """
    compression_codec = codec(profile, compression)
    columns = partition_columns(partition_by)
    check_schema(frame)
    target = parse_location(path)
    if isinstance(target, ObjectLocation):
        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        check_partition_values(data, columns)
        write_remote(
            target,
            dataset_parts(data, columns) if columns else data,
            profile=profile,
            compression=compression_codec,
            metadata=provenance_metadata(profile, columns, provenance),
            overwrite=overwrite,
        )
        return target.url
    parent = target.parent
    if not parent.is_dir():
        raise ConfigurationError(f"the directory {str(parent)!r} does not exist")
    check_target(target, dataset=bool(columns), overwrite=overwrite)

    data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    check_partition_values(data, columns)
    metadata = provenance_metadata(profile, columns, provenance)
    temporary = temporary_name(target)
    try:
        if columns:
            _write_dataset(
                data,
                temporary,
                columns,
                profile=profile,
                compression=compression_codec,
                metadata=metadata,
            )
        else:
            file_metadata = {**metadata, f"{META}rows": str(data.height)}
            write_file(file_frame(data, profile), temporary, compression_codec, file_metadata)
        swap_into_place(temporary, target, overwrite=overwrite)
    except BaseException:
        _remove(temporary)
        raise
    fsync_dir(parent)
    return target


def dataset_parts(frame: pl.DataFrame, columns: list[str]) -> list[tuple[str, pl.DataFrame]]:
    """The files of a partitioned write: each one's path in the dataset, and its rows."""
    if START_DATE in columns:
        frame = frame.with_columns(
            pl.col("start").dt.convert_time_zone("UTC").dt.date().alias(START_DATE)
        )
    parts: dict[tuple[object, ...], pl.DataFrame]
    if frame.height:
        parts = frame.partition_by(columns, as_dict=True, include_key=False, maintain_order=True)
    else:
        # An empty dataset is one empty file in the null partition, so readers find a schema.
        parts = {(None,) * len(columns): frame.drop(columns)}
    return [
        (
            "/".join(
                [*(f"{name}={hive_value(value)}" for name, value in zip(columns, key, strict=True)),
                 PART_FILE]
            ),
            part,
        )
        for key, part in parts.items()
    ]  # fmt: skip


def _write_dataset(
    frame: pl.DataFrame,
    root: Path,
    columns: list[str],
    *,
    profile: str,
    compression: str,
    metadata: dict[str, str],
) -> None:
    """Write one file per partition under ``root`` (which must not exist yet)."""
    root.mkdir()
    for relative, part in dataset_parts(frame, columns):
        file = root / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file_metadata = {**metadata, f"{META}rows": str(part.height)}
        write_file(file_frame(part, profile), file, compression, file_metadata)
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        fsync_dir(directory)
    fsync_dir(root)


# ---------------------------------------------------------------------------
# The overwrite guard
# ---------------------------------------------------------------------------


def _only_parquet(path: Path) -> bool:
    """Whether a directory holds only a Parquet dataset (and hidden or ``_`` files)."""
    for item in path.rglob("*"):
        name = item.name
        if item.is_dir():
            if "=" not in name and not name.startswith((".", "_")):
                return False
        elif not (name.endswith(".parquet") or name.startswith(("_", "."))):
            return False
    return True


def _ours(file: Path) -> bool:
    """Whether this library wrote ``file`` (its metadata says so)."""
    try:
        return f"{META}version" in pl.read_parquet_metadata(file)
    except (OSError, pl.exceptions.PolarsError):
        return False


def check_target(target: Path, *, dataset: bool, overwrite: bool | None) -> None:
    """Raise unless `write_parquet` may write (or replace) ``target``; see its ``overwrite``."""
    if not (target.exists() or target.is_symlink()):
        return
    where = str(target)
    if dataset and not target.is_dir():
        raise ConfigurationError(f"{where!r} is a file; a partitioned dataset is a directory")
    if not dataset and target.is_dir():
        raise ConfigurationError(
            f"{where!r} is a directory; pass partition_by= to write a dataset there"
        )
    if overwrite is False:
        raise DatasetConflictError(f"{where!r} exists and overwrite=False; choose another path")
    if dataset and not _only_parquet(target):
        raise ConfigurationError(
            f"refusing to replace {where!r}: it holds files other than a Parquet dataset"
        )
    if overwrite:
        return
    if dataset and (target / STATE_FILE).exists():
        state, _ = read_state(target)
        held = f"{state.sessions:,} sessions" if state is not None else "sessions"
        raise DatasetConflictError(
            f"{where!r} holds a synced dataset ({held} and its sync state {STATE_FILE}); "
            f"replacing it would lose them and make the next sync a full fetch; " + _OVERWRITE_HINT
        )
    files = data_files(target) if dataset else [target]
    foreign = next((f for f in files if not _ours(f)), None)
    if foreign is not None:
        what = "a file" if foreign == target else f"{str(foreign)!r}"
        raise DatasetConflictError(
            f"{where!r} exists and vsdk-analytics did not write {what}; " + _OVERWRITE_HINT
        )


def check_output(path: str | os.PathLike[str], *, dataset: bool, overwrite: bool | None) -> None:
    """`check_target` for a local path or an object-store URL (a check before a fetch)."""
    target = parse_location(path)
    if isinstance(target, ObjectLocation):
        check_remote_target(target, dataset=dataset, overwrite=overwrite)
    else:
        check_target(target, dataset=dataset, overwrite=overwrite)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def swap_into_place(temporary: Path, target: Path, *, overwrite: bool | None) -> None:
    appeared = DatasetConflictError(f"{str(target)!r} appeared while writing; not replaced")
    if not temporary.is_dir():
        if overwrite is False and target.exists():
            raise appeared
        os.replace(temporary, target)
        return
    if not target.exists():
        os.replace(temporary, target)
        return
    if overwrite is False:
        raise appeared
    retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
    os.replace(target, retired)
    try:
        os.replace(temporary, target)
    except BaseException:
        os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _encoding(metadata: dict[str, str]) -> str:
    """How a file stores text ``webhook_events`` (JSON, or a 0.1 file's separator)."""
    separator = metadata.get(f"{META}webhook_events_separator")
    return separator if separator is not None else EVENTS_ENCODING


def _check_version(file: Path | str, metadata: dict[str, str]) -> None:
    written = metadata.get(f"{META}schema_version")
    if written is not None and written != str(SCHEMA_VERSION):
        raise ConfigurationError(
            f"{str(file)!r} holds schema version {written}; this library reads version "
            f"{SCHEMA_VERSION}"
        )


def scan_parquet(path: str | os.PathLike[str]) -> pl.LazyFrame:
    """Scan a file or dataset of either profile lazily, as a LazyFrame in `SESSIONS_SCHEMA`.

    A dataset directory may be synced or not: its state and lock files are skipped.
    Text ``webhook_events`` (the bi profile) is decoded back to ``List(String)``;
    partition columns of the schema come from the directory names with their schema
    dtypes; derived ones (``start_date``) are dropped. Every helper accepts the result.

    Parameters
    ----------
    path
        A Parquet file, or a Hive-partitioned dataset directory; an object-store URL
        (``s3://...``) of either; or a Delta table written by
        ``sync_sessions(..., table_format="delta")`` (read through its log).

    Returns
    -------
    polars.LazyFrame
        Exactly `SESSIONS_SCHEMA` (column order and dtypes).

    Raises
    ------
    ConfigurationError
        Nothing to read there, a newer schema version, or columns that do not convert
        to `SESSIONS_SCHEMA` (the differences are listed).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import polars as pl
    >>> from vsdk_analytics import SESSIONS_SCHEMA
    >>> row = {"session_id": "s1", "webhook_events": ["a"]}
    >>> frame = pl.DataFrame([row], schema=SESSIONS_SCHEMA)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target = write_parquet(frame, pathlib.Path(tmp) / "s.parquet")
    ...     print(scan_parquet(target).select("webhook_events").collect().item().to_list())
    ['a']
    """
    source = parse_location(path)
    if is_delta(source):
        from .delta_read import scan_delta  # noqa: PLC0415 - deltalake loads only for Delta

        return scan_delta(source)
    files, keys = sources(source)
    hive_schema = {
        key: pl.Date() if key == START_DATE else SESSIONS_SCHEMA.get(key, pl.String())
        for key in keys
    }
    groups: dict[str, list[str]] = {}
    for file in files:
        metadata = pl.read_parquet_metadata(file)
        _check_version(file, metadata)
        groups.setdefault(_encoding(metadata), []).append(str(file))
    frames = []
    for encoding, group in groups.items():
        lf = pl.scan_parquet(
            group,
            hive_partitioning=bool(keys),
            hive_schema=hive_schema or None,
            glob=False,
        )
        frames.append(as_sessions(lf, str(source), encoding))
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")


def read_parquet(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a file or dataset written by `write_parquet` or `sync_sessions` into memory.

    ``scan_parquet(path).collect()``: either profile, a file or a dataset directory
    (synced or not), ``webhook_events`` restored exactly (nulls, empty strings and
    commas included). Row order: as written for a single file; across the partitions
    of a dataset it is not specified (sort, e.g. by ``session_id``).

    Parameters
    ----------
    path
        A Parquet file, or a Hive-partitioned dataset directory.

    Returns
    -------
    polars.DataFrame
        Exactly `SESSIONS_SCHEMA` (column order and dtypes).

    Raises
    ------
    ConfigurationError
        As for `scan_parquet`.

    Examples
    --------
    See `write_parquet`.
    """
    return scan_parquet(path).collect()
