"""Parquet export: write a sessions frame to Parquet atomically, and read it back.

Two profiles:

``"bi"`` (default)
    For BI tools, DuckDB, Spark and pandas: flat columns of plain types only.
    Strings are Parquet ``BYTE_ARRAY (String)`` read as Arrow ``string`` (never
    ``large_string`` or ``string_view``: the Arrow schema is not stored, so nothing
    forces a reader's choice); timestamps are ``INT64 TIMESTAMP(MICROS,
    isAdjustedToUTC=true)`` (DuckDB: ``TIMESTAMP WITH TIME ZONE``); ``webhook_events``
    is text, the events joined with ``","`` (`WEBHOOK_EVENTS_SEPARATOR`; a null list
    is null, an empty list is the empty string); snappy compression.
``"native"``
    For Polars and Arrow: the same, except ``webhook_events`` stays ``list<string>``;
    zstd compression.

``partition_by`` writes a Hive-style dataset directory instead of one file, e.g.
``start_date=2025-06-18/part-0.parquet`` (``start_date`` is derived from ``start``,
its UTC date; a null value is ``__HIVE_DEFAULT_PARTITION__``), readable with
``pl.scan_parquet("dir/**/*.parquet", hive_partitioning=True)`` (the glob skips the
sync state file an incremental dataset keeps beside its partitions), DuckDB
``read_parquet('dir/**/*.parquet', hive_partitioning = true)`` and Spark.

Writes are atomic: everything is written under a hidden temporary name in the target's
directory, flushed to disk (fsync), then renamed into place, so a reader never sees a
half-written file or dataset.

Each file carries key-value metadata: ``vsdk_analytics.version``,
``vsdk_analytics.schema_version``, ``vsdk_analytics.profile``, ``vsdk_analytics.rows``
(rows in that file) and, when used, ``vsdk_analytics.partition_by`` and
``vsdk_analytics.webhook_events_separator``. Never credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl

from ._errors import ConfigurationError
from ._schema import SCHEMA_VERSION, SESSIONS_SCHEMA

__all__ = [
    "HIVE_NULL_PARTITION",
    "START_DATE",
    "WEBHOOK_EVENTS_SEPARATOR",
    "ParquetProfile",
    "read_parquet",
    "write_parquet",
]

ParquetProfile = Literal["bi", "native"]
"""``"bi"``: flat, plain types, snappy. ``"native"``: ``webhook_events`` as a list, zstd."""

WEBHOOK_EVENTS_SEPARATOR: Final = ","
"""Joins ``webhook_events`` into text in the ``"bi"`` profile (event names have no commas)."""

START_DATE: Final = "start_date"
"""The derived partition column: the UTC date of ``start``."""

HIVE_NULL_PARTITION: Final = "__HIVE_DEFAULT_PARTITION__"
"""The Hive directory value of a null partition value."""

PART_FILE: Final = "part-0.parquet"
"""The one data file in each partition directory."""

_META: Final = "vsdk_analytics."
_DEFAULT_COMPRESSION: Final[dict[str, str]] = {"bi": "snappy", "native": "zstd"}
_COMPRESSIONS: Final = frozenset({"snappy", "zstd", "gzip", "brotli", "lz4", "none"})
_PARTITION_COLUMNS: Final = frozenset(
    [START_DATE, *(name for name, dtype in SESSIONS_SCHEMA.items() if dtype == pl.String())]
)
# Hive's FileUtils.escapePathName escapes these (plus control characters) as %XX.
_HIVE_ESCAPED: Final = frozenset("\"#%'*/:=?\\{[]^")


def _library_version() -> str:
    try:
        return version("vsdk-analytics")
    except PackageNotFoundError:
        return "0+unknown"


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _schema_differences(schema: pl.Schema) -> list[str]:
    """What keeps ``schema`` from being `SESSIONS_SCHEMA`, in words (empty when it is)."""
    problems = []
    missing = [n for n in SESSIONS_SCHEMA.names() if n not in schema]
    extra = [n for n in schema.names() if n not in SESSIONS_SCHEMA]
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    if extra:
        problems.append("unexpected columns: " + ", ".join(extra))
    for name, dtype in SESSIONS_SCHEMA.items():
        if name in schema and schema[name] != dtype:
            problems.append(f"{name} is {schema[name]}, expected {dtype}")
    if not missing and not extra and schema.names() != SESSIONS_SCHEMA.names():
        problems.append(
            "columns out of order: " + ", ".join(schema.names()) + " (select SESSIONS_SCHEMA order)"
        )
    return problems


def _partition_columns(partition_by: object) -> list[str]:
    if partition_by is None:
        return []
    names = [partition_by] if isinstance(partition_by, str) else partition_by
    if not isinstance(names, Sequence) or not names:
        raise ConfigurationError(f"partition_by= takes column names, got {partition_by!r}")
    result = []
    for name in names:
        if name not in _PARTITION_COLUMNS:
            raise ConfigurationError(
                f"cannot partition by {name!r}: partition by {START_DATE!r} (the UTC date of "
                "start) or a String column of SESSIONS_SCHEMA ("
                + ", ".join(sorted(_PARTITION_COLUMNS - {START_DATE}))
                + "); timestamps, numbers and lists do not survive a directory name intact"
            )
        result.append(str(name))
    if len(set(result)) != len(result):
        raise ConfigurationError(f"partition_by= names a column twice: {result!r}")
    if len(result) == len(_PARTITION_COLUMNS):
        raise ConfigurationError("partition_by= cannot name every String column")
    return result


def _codec(profile: object, compression: object) -> str:
    if profile not in _DEFAULT_COMPRESSION:
        raise ConfigurationError(f"profile= must be 'bi' or 'native', got {profile!r}")
    codec = _DEFAULT_COMPRESSION[str(profile)] if compression is None else str(compression).lower()
    if codec == "uncompressed":
        codec = "none"
    if codec not in _COMPRESSIONS:
        raise ConfigurationError(
            f"compression= must be one of {', '.join(sorted(_COMPRESSIONS))}, got {compression!r}"
        )
    return codec


def _check_schema(frame: object) -> None:
    if isinstance(frame, pl.LazyFrame):
        problems = _schema_differences(frame.collect_schema())
    elif isinstance(frame, pl.DataFrame):
        problems = _schema_differences(frame.schema)
    else:
        raise ConfigurationError(
            f"expected a polars DataFrame or LazyFrame, got {type(frame).__name__}"
        )
    if problems:
        raise ConfigurationError(
            "write_parquet needs a frame with exactly SESSIONS_SCHEMA: " + "; ".join(problems)
        )


def _check_events(frame: pl.DataFrame) -> None:
    """In the bi profile, events must survive joining with the separator and splitting."""
    sep = WEBHOOK_EVENTS_SEPARATOR
    element = pl.element()
    bad = frame.select(
        pl.col("webhook_events")
        .list.eval(element.is_null() | (element == "") | element.str.contains(sep, literal=True))
        .list.any()
        .fill_null(False)
        .any()
    ).item()
    if bad:
        raise ConfigurationError(
            f"webhook_events holds a null, empty or {sep!r}-containing event, which the "
            f"'bi' profile cannot store as {sep!r}-joined text; use profile='native'"
        )


def _check_partition_values(frame: pl.DataFrame, columns: list[str]) -> None:
    for name in columns:
        if name == START_DATE:
            continue
        values = frame.get_column(name)
        if (values == "").any() or (values == HIVE_NULL_PARTITION).any():
            raise ConfigurationError(
                f"{name} holds an empty string or {HIVE_NULL_PARTITION!r}, which a Hive "
                "directory cannot tell from null; partition by another column"
            )


# ---------------------------------------------------------------------------
# Arrow conversion and file writing
# ---------------------------------------------------------------------------


def _arrow_type(dtype: pl.DataType, profile: str) -> Any:
    import pyarrow as pa  # noqa: PLC0415 - pyarrow loads only when writing (~0.35 s)

    if dtype == pl.String():
        return pa.string()
    if dtype == pl.Float64():
        return pa.float64()
    if dtype == pl.Datetime("us", "UTC"):
        return pa.timestamp("us", tz="UTC")
    if dtype == pl.Date():
        return pa.date32()
    if dtype == pl.List(pl.String()):
        return pa.string() if profile == "bi" else pa.list_(pa.string())
    raise AssertionError(f"no Arrow type for {dtype}")  # pragma: no cover - schema is fixed


def _to_arrow(frame: pl.DataFrame, profile: str) -> Any:
    """The frame as an Arrow table of plain types (string, not large_string/view)."""
    import pyarrow as pa  # noqa: PLC0415 - pyarrow loads only when writing

    if profile == "bi":
        frame = frame.with_columns(pl.col("webhook_events").list.join(WEBHOOK_EVENTS_SEPARATOR))
    target = pa.schema(
        [pa.field(name, _arrow_type(dtype, profile)) for name, dtype in frame.schema.items()]
    )
    return frame.to_arrow().cast(target)


def _fsync_dir(path: Path) -> None:
    """Make a directory's entries durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def _write_file(table: Any, path: Path, compression: str, metadata: dict[str, str]) -> None:
    """Write one Parquet file and fsync it."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - pyarrow loads only when writing

    with path.open("xb") as handle:
        writer = pq.ParquetWriter(
            handle,
            table.schema,
            compression=compression,
            version="2.6",
            store_schema=False,
            coerce_timestamps="us",
            use_compliant_nested_type=True,
        )
        try:
            writer.write_table(table)
            writer.add_key_value_metadata(metadata)
        finally:
            writer.close()
        handle.flush()
        os.fsync(handle.fileno())


def _hive_value(value: object) -> str:
    """A partition value as Hive writes it in a directory name."""
    if value is None:
        return HIVE_NULL_PARTITION
    text = value.isoformat() if isinstance(value, date) else str(value)
    return "".join(
        f"%{ord(c):02X}" if c in _HIVE_ESCAPED or ord(c) < 0x20 or ord(c) == 0x7F else c
        for c in text
    )


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
    if START_DATE in columns:
        frame = frame.with_columns(
            pl.col("start").dt.convert_time_zone("UTC").dt.date().alias(START_DATE)
        )
    root.mkdir()
    parts: dict[tuple[object, ...], pl.DataFrame]
    if frame.height:
        parts = frame.partition_by(columns, as_dict=True, include_key=False, maintain_order=True)
    else:
        # An empty dataset is one empty file in the null partition, so readers find a schema.
        parts = {(None,) * len(columns): frame.drop(columns)}
    for key, part in parts.items():
        directory = root.joinpath(
            *(f"{name}={_hive_value(value)}" for name, value in zip(columns, key, strict=True))
        )
        directory.mkdir(parents=True, exist_ok=True)
        file_metadata = {**metadata, f"{_META}rows": str(part.height)}
        _write_file(_to_arrow(part, profile), directory / PART_FILE, compression, file_metadata)
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        _fsync_dir(directory)
    _fsync_dir(root)


def _looks_like_dataset(path: Path) -> bool:
    """Whether an existing directory holds only a Parquet dataset (safe to replace)."""
    for item in path.rglob("*"):
        name = item.name
        if item.is_dir():
            if "=" not in name:
                return False
        elif not (name.endswith(".parquet") or name.startswith(("_", "."))):
            return False
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_parquet(
    frame: pl.DataFrame | pl.LazyFrame,
    path: str | os.PathLike[str],
    *,
    profile: ParquetProfile = "bi",
    partition_by: str | Sequence[str] | None = None,
    compression: str | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a sessions frame to a Parquet file, or a Hive-partitioned dataset directory.

    Parameters
    ----------
    frame
        A frame with exactly `SESSIONS_SCHEMA` (a LazyFrame is collected).
    path
        The file to write, or with ``partition_by`` the dataset directory. Its parent
        directory must exist.
    profile
        ``"bi"`` (flat, plain types, ``webhook_events`` as comma-joined text, snappy) or
        ``"native"`` (``webhook_events`` as ``list<string>``, zstd). See the module
        documentation for the exact Parquet types.
    partition_by
        ``"start_date"`` (the UTC date of ``start``, a derived column kept out of the
        data) and/or String columns of the schema (``"tag"``, ``"deployment_id"``...;
        these move from the files into the directory names). Values are escaped as Hive
        escapes them; null is ``__HIVE_DEFAULT_PARTITION__``.
    compression
        A Parquet codec (snappy, zstd, gzip, brotli, lz4, none); default per profile.
    overwrite
        Replace an existing target (the default): a file is replaced by one atomic
        rename; a dataset directory is swapped in by two renames (the old one is
        deleted after), and only when it holds nothing but a Parquet dataset. With
        ``False`` an existing target raises `ConfigurationError`.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ConfigurationError
        A frame that does not have `SESSIONS_SCHEMA` (the differences are listed), an
        unknown profile, codec or partition column, an existing target with
        ``overwrite=False``, a missing parent directory, or values the layout cannot
        store exactly (an empty-string partition value; in the bi profile an event that
        is null, empty or contains a comma).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from datetime import datetime, timezone
    >>> import polars as pl
    >>> from vsdk_analytics._schema import SESSIONS_SCHEMA
    >>> start = datetime(2025, 6, 18, 9, 30, tzinfo=timezone.utc)
    >>> row = {"session_id": "s1", "start": start, "webhook_events": ["a", "b"]}
    >>> frame = pl.DataFrame([row], schema=SESSIONS_SCHEMA)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target = write_parquet(frame, pathlib.Path(tmp) / "sessions", partition_by="start_date")
    ...     print([p.relative_to(target).as_posix() for p in target.rglob("*.parquet")])
    ...     print(read_parquet(target).equals(frame))
    ['start_date=2025-06-18/part-0.parquet']
    True
    """
    codec = _codec(profile, compression)
    columns = _partition_columns(partition_by)
    _check_schema(frame)
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise ConfigurationError(f"the directory {str(parent)!r} does not exist")
    _check_target(target, dataset=bool(columns), overwrite=overwrite)

    data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    if profile == "bi":
        _check_events(data)
    _check_partition_values(data, columns)
    metadata = {
        f"{_META}version": _library_version(),
        f"{_META}schema_version": str(SCHEMA_VERSION),
        f"{_META}profile": profile,
    }
    if profile == "bi":
        metadata[f"{_META}webhook_events_separator"] = WEBHOOK_EVENTS_SEPARATOR
    if columns:
        metadata[f"{_META}partition_by"] = json.dumps(columns)

    temporary = parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        if columns:
            _write_dataset(
                data, temporary, columns, profile=profile, compression=codec, metadata=metadata
            )
        else:
            file_metadata = {**metadata, f"{_META}rows": str(data.height)}
            _write_file(_to_arrow(data, profile), temporary, codec, file_metadata)
        _swap_into_place(temporary, target, overwrite=overwrite)
    except BaseException:
        _remove(temporary)
        raise
    _fsync_dir(parent)
    return target


def _check_target(target: Path, *, dataset: bool, overwrite: bool) -> None:
    if not (target.exists() or target.is_symlink()):
        return
    if not overwrite:
        raise ConfigurationError(
            f"{str(target)!r} exists; pass overwrite=True to replace it or choose another path"
        )
    if dataset and not target.is_dir():
        raise ConfigurationError(f"{str(target)!r} is a file; a partitioned dataset is a directory")
    if not dataset and target.is_dir():
        raise ConfigurationError(
            f"{str(target)!r} is a directory; pass partition_by= to write a dataset there"
        )
    if dataset and not _looks_like_dataset(target):
        raise ConfigurationError(
            f"refusing to replace {str(target)!r}: it holds files other than a Parquet dataset"
        )


def _swap_into_place(temporary: Path, target: Path, *, overwrite: bool) -> None:
    if not temporary.is_dir():
        if not overwrite and target.exists():
            raise ConfigurationError(f"{str(target)!r} appeared while writing; not replaced")
        os.replace(temporary, target)
        return
    if not target.exists():
        os.replace(temporary, target)
        return
    if not overwrite:
        raise ConfigurationError(f"{str(target)!r} appeared while writing; not replaced")
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


def _hive_keys(root: Path, first_file: Path) -> list[str]:
    return [part.split("=", 1)[0] for part in first_file.relative_to(root).parts[:-1]]


def read_parquet(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a file or dataset written by `write_parquet` back into `SESSIONS_SCHEMA`.

    Either profile: ``webhook_events`` text is split back into a list (null stays
    null, the empty string is the empty list). Partition columns of the schema are
    restored from the directory names with their schema dtypes; derived ones
    (``start_date``) are dropped. Row order: as written for a single file; across the
    partitions of a dataset it is not specified (sort, e.g. by ``session_id``).

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
        Nothing to read there, a newer schema version, or columns that do not convert
        to `SESSIONS_SCHEMA` (the differences are listed).

    Examples
    --------
    See `write_parquet`.
    """
    source = Path(path)
    if source.is_dir():
        files = sorted(
            f
            for f in source.rglob("*.parquet")
            if not any(part.startswith((".", "_")) for part in f.relative_to(source).parts)
        )
        if not files:
            raise ConfigurationError(f"no Parquet files under {str(source)!r}")
        keys = _hive_keys(source, files[0])
        hive_schema = {
            key: pl.Date() if key == START_DATE else SESSIONS_SCHEMA.get(key, pl.String())
            for key in keys
        }
        lf = pl.scan_parquet(
            files,
            hive_partitioning=bool(keys),
            hive_schema=hive_schema or None,
            glob=False,
        )
        first = files[0]
    elif source.is_file():
        lf = pl.scan_parquet(source, glob=False)
        first = source
    else:
        raise ConfigurationError(f"no Parquet file or dataset at {str(source)!r}")

    written = pl.read_parquet_metadata(first).get(f"{_META}schema_version")
    if written is not None and written != str(SCHEMA_VERSION):
        raise ConfigurationError(
            f"{str(first)!r} holds schema version {written}; this library reads version "
            f"{SCHEMA_VERSION}"
        )
    schema = lf.collect_schema()
    if schema.get("webhook_events") == pl.String():
        text = pl.col("webhook_events")
        lf = lf.with_columns(
            pl.when(text == "")
            .then(pl.lit([], dtype=pl.List(pl.String())))
            .otherwise(text.str.split(WEBHOOK_EVENTS_SEPARATOR))
            .alias("webhook_events")
        )
    lf = lf.select([name for name in SESSIONS_SCHEMA.names() if name in schema])
    problems = _schema_differences(lf.collect_schema())
    if problems:
        raise ConfigurationError(
            f"{str(source)!r} does not read as SESSIONS_SCHEMA: " + "; ".join(problems)
        )
    return lf.collect()
