"""Parquet files as this library writes them: profiles, Arrow types, provenance, atomic writes.

Everything below the public entry points (`write_parquet`, `sync_sessions`) that touches
one file: the two profiles and their Parquet types, the JSON-array text of
``webhook_events`` in the ``"bi"`` profile, the key-value metadata every file carries
(`Provenance`), and writing a file or a small document atomically (a hidden temporary
name, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import polars as pl

from vsdk_analytics._constants import FILE_ROW_GROUP_ROWS, library_version
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._schema import SCHEMA_VERSION, SESSIONS_SCHEMA

__all__ = [
    "EVENTS_ENCODING",
    "HIVE_NULL_PARTITION",
    "LEGACY_EVENTS_SEPARATOR",
    "META",
    "PART_FILE",
    "START_DATE",
    "TMP_MARK",
    "ParquetProfile",
    "Provenance",
    "as_sessions",
    "check_partition_values",
    "check_schema",
    "codec",
    "decode_events",
    "encode_events",
    "file_frame",
    "format_instant",
    "fsync_dir",
    "hive_value",
    "open_writer",
    "parquet_bytes",
    "partition_columns",
    "provenance_metadata",
    "public_url",
    "schema_differences",
    "temporary_name",
    "to_arrow",
    "write_atomically",
    "write_file",
    "write_to",
]

ParquetProfile = Literal["bi", "native"]
"""``"bi"``: flat, plain types, snappy. ``"native"``: ``webhook_events`` as a list, zstd."""

EVENTS_ENCODING: Final = "json"
"""How the ``"bi"`` profile stores ``webhook_events``: a JSON array as text."""

LEGACY_EVENTS_SEPARATOR: Final = ","
"""Files of version 0.1 joined the events with this; `read_parquet` still reads them."""

START_DATE: Final = "start_date"
"""The derived partition column: the UTC date of ``start``."""

HIVE_NULL_PARTITION: Final = "__HIVE_DEFAULT_PARTITION__"
"""The Hive directory value of a null partition value (as Hive, Spark and DuckDB read it)."""

PART_FILE: Final = "part-0.parquet"
"""The one data file in each partition directory."""

META: Final = "vsdk_analytics."
"""The prefix of this library's Parquet key-value metadata keys."""

TMP_MARK: Final = ".tmp-"
"""Marks the hidden temporary names of files being written (``.NAME.tmp-XXXX``)."""

_DEFAULT_COMPRESSION: Final[dict[str, str]] = {"bi": "snappy", "native": "zstd"}
_COMPRESSIONS: Final = frozenset({"snappy", "zstd", "gzip", "brotli", "lz4", "none"})
_PARTITION_COLUMNS: Final = frozenset(
    [START_DATE, *(name for name, dtype in SESSIONS_SCHEMA.items() if dtype == pl.String())]
)
# Hive's FileUtils.escapePathName escapes these (plus control characters) as %XX.
_HIVE_ESCAPED: Final = frozenset("\"#%'*/:=?\\{[]^")
_EVENTS_KEY: Final = '{"webhook_events":'


def format_instant(moment: datetime | None) -> str:
    """``2025-06-18T09:30:00Z`` (UTC), or ``-`` for None."""
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def schema_differences(schema: pl.Schema) -> list[str]:
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


def partition_columns(partition_by: object) -> list[str]:
    """Validated ``partition_by=`` names (empty: no partitioning)."""
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


def codec(profile: object, compression: object) -> str:
    """The Parquet codec for a profile and a ``compression=`` (None: the profile's)."""
    if profile not in _DEFAULT_COMPRESSION:
        raise ConfigurationError(f"profile= must be 'bi' or 'native', got {profile!r}")
    name = _DEFAULT_COMPRESSION[str(profile)] if compression is None else str(compression).lower()
    if name == "uncompressed":
        name = "none"
    if name not in _COMPRESSIONS:
        raise ConfigurationError(
            f"compression= must be one of {', '.join(sorted(_COMPRESSIONS))}, got {compression!r}"
        )
    return name


def check_schema(frame: object) -> None:
    """Raise `ConfigurationError` unless ``frame`` is a (Lazy)DataFrame in `SESSIONS_SCHEMA`."""
    if isinstance(frame, pl.LazyFrame):
        problems = schema_differences(frame.collect_schema())
    elif isinstance(frame, pl.DataFrame):
        problems = schema_differences(frame.schema)
    else:
        raise ConfigurationError(
            f"expected a polars DataFrame or LazyFrame, got {type(frame).__name__}"
        )
    if problems:
        raise ConfigurationError(
            "write_parquet needs a frame with exactly SESSIONS_SCHEMA: " + "; ".join(problems)
        )


def check_partition_values(frame: pl.DataFrame, columns: list[str]) -> None:
    """Refuse partition values a Hive directory name cannot tell from null."""
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
# Provenance
# ---------------------------------------------------------------------------


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment: nothing secret is ever stored.

    Examples
    --------
    >>> public_url("https://user:t0ken@api.example.com/v2/?token=abc#x")
    'https://api.example.com/v2/'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Where the sessions in a file come from, stored in its Parquet key-value metadata.

    Attributes
    ----------
    fetched_at
        When the fetch started.
    base_url
        The API base URL (stored without user info, query or fragment).
    since, until
        The ``created_at`` window fetched (None: unbounded).
    sync_run_id
        The id of the `sync_sessions` run that wrote the file.
    """

    fetched_at: datetime | None = None
    base_url: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sync_run_id: str | None = None


def provenance_metadata(
    profile: str,
    partition_by: list[str],
    provenance: Provenance | None,
) -> dict[str, str]:
    """The key-value metadata of every file of one write (``rows`` is added per file)."""
    source = provenance or Provenance()
    metadata = {
        f"{META}version": library_version(),
        f"{META}schema_version": str(SCHEMA_VERSION),
        f"{META}profile": profile,
        f"{META}written_at": format_instant(datetime.now(timezone.utc)),
    }
    if profile == "bi":
        metadata[f"{META}webhook_events_encoding"] = EVENTS_ENCODING
    if partition_by:
        metadata[f"{META}partition_by"] = json.dumps(partition_by)
    if source.fetched_at is not None:
        metadata[f"{META}fetched_at"] = format_instant(source.fetched_at)
    if source.base_url is not None:
        metadata[f"{META}base_url"] = public_url(source.base_url)
    if source.since is not None:
        metadata[f"{META}since"] = format_instant(source.since)
    if source.until is not None:
        metadata[f"{META}until"] = format_instant(source.until)
    if source.sync_run_id is not None:
        metadata[f"{META}sync_run_id"] = source.sync_run_id
    return metadata


# ---------------------------------------------------------------------------
# Arrow conversion
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


def encode_events() -> pl.Expr:
    """``webhook_events`` as JSON array text (null stays null; ``[]``, ``[null,""]`` kept)."""
    text = (
        pl.struct("webhook_events")
        .struct.json_encode()
        .str.strip_prefix(_EVENTS_KEY)
        .str.strip_suffix("}")
    )
    return pl.when(pl.col("webhook_events").is_not_null()).then(text).alias("webhook_events")


def decode_events(encoding: str) -> pl.Expr:
    """The ``webhook_events`` text of a bi file back to ``List(String)``.

    ``encoding`` is `EVENTS_ENCODING` or, for files of version 0.1, the separator they
    joined the events with.
    """
    text = pl.col("webhook_events")
    if encoding == EVENTS_ENCODING:
        return text.str.json_decode(pl.List(pl.String())).alias("webhook_events")
    return (
        pl.when(text == "")
        .then(pl.lit([], dtype=pl.List(pl.String())))
        .otherwise(text.str.split(encoding))
        .alias("webhook_events")
    )


def as_sessions(lf: pl.LazyFrame, where: str, encoding: str) -> pl.LazyFrame:
    """A scan of our files (or a Delta table) as `SESSIONS_SCHEMA`.

    The bi profile's ``webhook_events`` text decoded (``encoding``: as `decode_events`),
    columns in schema order, derived ones (``start_date``) dropped.

    Raises
    ------
    ConfigurationError
        The columns do not read as `SESSIONS_SCHEMA`; the message names ``where``.
    """
    schema = lf.collect_schema()
    if schema.get("webhook_events") == pl.String():
        lf = lf.with_columns(decode_events(encoding))
    lf = lf.select([name for name in SESSIONS_SCHEMA.names() if name in schema])
    problems = schema_differences(lf.collect_schema())
    if problems:
        raise ConfigurationError(
            f"{where!r} does not read as SESSIONS_SCHEMA: " + "; ".join(problems)
        )
    return lf


def file_frame(frame: pl.DataFrame, profile: str) -> pl.DataFrame:
    """The frame as a whole-file write stores it (``webhook_events`` as the profile says)."""
    return frame.with_columns(encode_events()) if profile == "bi" else frame


def to_arrow(frame: pl.DataFrame, profile: str, *, plain: bool = False) -> Any:
    """The frame as an Arrow table, for the pyarrow writers (streamed files, Delta).

    The strings stay Polars' ``large_string``, as in the files Polars' writer makes
    (`write_file`), so every Parquet file of ours shows Arrow readers the same schema.
    ``plain=True`` casts them to ``string``, for Delta, whose tables keep Arrow types.
    """
    table = file_frame(frame, profile).to_arrow()
    if not plain:
        return table
    import pyarrow as pa  # noqa: PLC0415 - pyarrow loads only when writing

    target = pa.schema(
        [pa.field(name, _arrow_type(dtype, profile)) for name, dtype in frame.schema.items()]
    )
    return table.cast(target)


def hive_value(value: object) -> str:
    """A partition value as Hive writes it in a directory name."""
    if value is None:
        return HIVE_NULL_PARTITION
    text = value.isoformat() if isinstance(value, date) else str(value)
    return "".join(
        f"%{ord(c):02X}" if c in _HIVE_ESCAPED or ord(c) < 0x20 or ord(c) == 0x7F else c
        for c in text
    )


# ---------------------------------------------------------------------------
# Durable writes
# ---------------------------------------------------------------------------


def temporary_name(path: Path) -> Path:
    """A hidden, unique name beside ``path`` that readers skip."""
    return path.parent / f".{path.name}{TMP_MARK}{uuid.uuid4().hex[:12]}"


def fsync_dir(path: Path) -> None:
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


def open_writer(handle: Any, schema: Any, compression: str) -> Any:
    """A pyarrow ParquetWriter on ``handle``, for files written a row group at a time.

    Its files match `write_file`'s: the same Parquet types, and the Arrow schema stored
    (``large_string``, as Polars stores it), so Arrow readers see one schema for both.
    """
    import pyarrow.parquet as pq  # noqa: PLC0415 - pyarrow loads only when writing

    return pq.ParquetWriter(
        handle,
        schema,
        compression=compression,
        version="2.6",
        store_schema=True,
        coerce_timestamps="us",
        use_compliant_nested_type=True,
    )


_POLARS_CODECS: Final = {"none": "uncompressed"}


def write_to(handle: Any, frame: pl.DataFrame, compression: str, metadata: dict[str, str]) -> None:
    """Write one Parquet file to a binary handle, as every whole-file write here does.

    Polars' writer, not pyarrow's: measured 0.04 against 0.23 s for 10,000 sessions
    (pyarrow's import included) and 1.15 against 1.9 s for 1,000,000 (docs/benchmarks.md).
    Row groups of `FILE_ROW_GROUP_ROWS`, statistics on every column.
    """
    frame.write_parquet(
        handle,
        compression=_POLARS_CODECS.get(compression, compression),  # type: ignore[arg-type]
        statistics=True,
        row_group_size=FILE_ROW_GROUP_ROWS,
        metadata=metadata,
    )


def write_file(frame: pl.DataFrame, path: Path, compression: str, metadata: dict[str, str]) -> None:
    """Write ``frame`` (in its file form, `file_frame`) as one Parquet file at ``path``.

    ``path`` must not exist; the file is fsynced.
    """
    with path.open("xb") as handle:
        write_to(handle, frame, compression, metadata)
        handle.flush()
        os.fsync(handle.fileno())


def parquet_bytes(frame: pl.DataFrame, compression: str, metadata: dict[str, str]) -> bytes:
    """One Parquet file in memory (``frame`` in its file form), for an object store's PUT."""
    buffer = io.BytesIO()
    write_to(buffer, frame, compression, metadata)
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a hidden temporary file, fsync it, rename it over ``path``."""
    temporary = temporary_name(path)
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
