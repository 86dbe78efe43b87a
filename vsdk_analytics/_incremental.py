"""Incremental sync: keep a Hive-partitioned Parquet dataset of sessions up to date.

`sync_sessions` (and `sync_sessions_async`) fetch only what changed since the last
sync and upsert it into a dataset directory partitioned by ``start_date`` (the UTC
date of ``start``), in a `write_parquet` profile. The dataset is its own database:

``_vsdk_sync.json``
    The state of the last *complete* sync, written last and atomically: the
    watermark, the profile, the schema version and the page size. Its underscore
    name keeps it out of ``read_parquet``, DuckDB's ``read_parquet('dir/**/*.parquet')``,
    Polars' ``scan_parquet('dir/**/*.parquet')``, Spark and Arrow datasets. (Polars'
    *directory* form, ``scan_parquet(dir)``, reads every file under ``dir``: pass
    ``hidden_file_prefix=["_", "."]`` or use the glob.)
``_vsdk_sync.lock``
    Held while a sync runs (created exclusively; holds the pid). A second sync of the
    same dataset is refused; a lock left by a dead process is taken over.

The plan of one sync:

1. No state: fetch every page, merge into whatever the directory holds.
2. With state: page newest first down to ``since = watermark`` (inclusive), and
   refresh the sessions stored while unfinished (status in `RUNNING_STATUSES` or no
   ``end``) that the pages did not bring back. **The rule**: when paging further down
   to the oldest such session costs fewer requests than fetching them one by one
   (``ceil(stored sessions between it and the watermark / per_page) < count``),
   ``since`` widens to its ``created_at``; otherwise they come from the single-session
   endpoint, which has no webhook or metadata, so those (and their ``extra`` entries)
   are kept from the stored row.
3. Pages that are not newest first cannot be paged down to a watermark: the fetcher
   then fetches every page (with a `CompletenessWarning`), every session is merged, and
   the report says ``full_fetch=True`` with the reason.
4. Upsert by ``session_id``: the newest ``updated_at`` wins (a tie goes to the fetched
   row); rows are never deleted.
5. Write only the partitions that changed, each to a hidden temporary file, fsynced,
   then renamed over ``part-0.parquet``; then the state file, the same way.

Crash safety: each rename is atomic, a rewritten partition holds every row it held
before (a session whose ``start`` date changed is written to its new partition before
it leaves the old one), and the watermark moves only with the state file. A sync
killed at any point leaves every file either old or new, never partial, with every
session stored before; the next sync pages down from the old watermark again and the
upsert makes the outcome the same as an uninterrupted run.

The new watermark is a ``created_at`` below which every session is known to be
stored: the newest one fetched, minus the sessions that arrived while paging
(``totalItems`` at the end minus at the start), which may have been seen only in part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import msgspec
import polars as pl

from ._api import _check
from ._client import TransportName, resolve_base_url
from ._constants import DEFAULT_MAX_CONCURRENCY, DEFAULT_PER_PAGE, MAX_RETRIES, READ_TIMEOUT_SECONDS
from ._credentials import Credentials
from ._errors import CompletenessWarning, ConfigurationError, DataQualityWarning, NotFoundError
from ._fetch import FetchStats, TimeRange, fetch_frame, fetch_one_frame
from ._normalize import _json_text, combine_pages, empty_sessions, warn_problems
from ._parquet import (
    _META,
    HIVE_NULL_PARTITION,
    PART_FILE,
    START_DATE,
    WEBHOOK_EVENTS_SEPARATOR,
    ParquetProfile,
    _check_events,
    _codec,
    _fsync_dir,
    _hive_value,
    _library_version,
    _looks_like_dataset,
    _to_arrow,
    _write_file,
    read_parquet,
)
from ._progress import ProgressArg
from ._schema import RUNNING_STATUSES, SCHEMA_VERSION, SESSIONS_SCHEMA
from ._sync import run_sync

__all__ = [
    "LOCK_FILE",
    "STATE_FILE",
    "SyncReport",
    "format_sync_report",
    "sync_sessions",
    "sync_sessions_async",
]

T = TypeVar("T")

STATE_FILE: Final = "_vsdk_sync.json"
"""The sync state inside the dataset directory (ignored by Parquet readers)."""

LOCK_FILE: Final = "_vsdk_sync.lock"
"""Held inside the dataset directory while a sync runs."""

_STATE_FORMAT: Final = "vsdk-analytics-sync"
_STATE_VERSION: Final = 1
_PARTITION: Final = "_partition"
_FILE: Final = "_file"
_TMP_MARK: Final = ".tmp-"
_STALE_EMPTY_LOCK_SECONDS: Final = 60.0
# Keys of `extra` that come from the webhook and metadata, which the
# single-session endpoint does not return (kept from the stored row).
_LIST_ONLY_EXTRA: Final = ("webhook", "metadata")
_INDEX_COLUMNS: Final = ("session_id", "status", "start", "end", "created_at", "updated_at")


def _no_hook(path: Path) -> None:
    """The default test hook: nothing."""


_after_partition_replaced: Callable[[Path], None] = _no_hook
"""Test hook: called with each partition file right after its rename, before the state."""


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one `sync_sessions` run did.

    Attributes
    ----------
    dataset
        The dataset directory.
    new
        Sessions stored for the first time.
    updated
        Stored sessions replaced by a newer version.
    unchanged
        Sessions fetched again that were already stored as they are.
    refreshed
        Unfinished sessions fetched one by one from the single-session endpoint.
    pages_fetched
        List pages fetched.
    pages_full_fetch
        What a full fetch would have cost: ``ceil(totalItems / per_page)``.
    requests
        HTTP requests made, retries included.
    full_fetch
        Every page was fetched: a first sync, no usable state, or pages that were
        not ordered newest first.
    reason
        Why it fetched what it fetched, in words.
    partitions_written
        Partition files written (or removed, when a partition lost its last row).
    sessions_total
        Sessions in the dataset after the sync.
    seconds
        Wall time of the sync.
    since
        The ``created_at`` the list was paged down to (None: every page).
    watermark
        The watermark stored for the next sync (None: no session yet).
    """

    dataset: Path
    new: int
    updated: int
    unchanged: int
    refreshed: int
    pages_fetched: int
    pages_full_fetch: int
    requests: int
    full_fetch: bool
    reason: str
    partitions_written: int
    sessions_total: int
    seconds: float
    since: datetime | None = None
    watermark: datetime | None = None

    def __str__(self) -> str:
        return format_sync_report(self)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def format_sync_report(report: SyncReport) -> str:
    """A few readable lines about a sync, for a terminal or a log.

    Parameters
    ----------
    report
        What `sync_sessions` returned.

    Returns
    -------
    str
        Three lines, no trailing newline.

    Examples
    --------
    >>> from pathlib import Path
    >>> report = SyncReport(
    ...     Path("sessions"), new=12, updated=3, unchanged=98, refreshed=2, pages_fetched=2,
    ...     pages_full_fetch=40, requests=4, full_fetch=False,
    ...     reason="incremental: pages newest first down to the watermark",
    ...     partitions_written=1, sessions_total=3912, seconds=0.4,
    ... )
    >>> print(format_sync_report(report))
    sessions: 3,912 sessions, 12 new, 3 updated, 98 unchanged, 2 refreshed one by one
      incremental: pages newest first down to the watermark
      2 pages fetched (a full fetch: 40), 4 requests, 1 partition written, 0.40 s
    """
    mode = "full fetch: " if report.full_fetch else ""
    partitions = "partition" if report.partitions_written == 1 else "partitions"
    return (
        f"{report.dataset}: {report.sessions_total:,} sessions, {report.new:,} new, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged, "
        f"{report.refreshed:,} refreshed one by one\n"
        f"  {mode}{report.reason}\n"
        f"  {report.pages_fetched:,} pages fetched (a full fetch: {report.pages_full_fetch:,}), "
        f"{report.requests:,} requests, "
        f"{report.partitions_written:,} {partitions} written, {report.seconds:.2f} s"
    )


# ---------------------------------------------------------------------------
# State file
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _State:
    """The ``_vsdk_sync.json`` of a complete sync."""

    watermark: datetime | None
    profile: str
    schema_version: int
    per_page: int
    per_page_requested: int
    sessions: int
    synced_at: datetime

    def to_json(self) -> bytes:
        body = {
            "format": _STATE_FORMAT,
            "format_version": _STATE_VERSION,
            "watermark": None if self.watermark is None else _when(self.watermark),
            "profile": self.profile,
            "schema_version": self.schema_version,
            "partition_by": [START_DATE],
            "per_page": self.per_page,
            "per_page_requested": self.per_page_requested,
            "sessions": self.sessions,
            "synced_at": _when(self.synced_at),
            "library_version": _library_version(),
        }
        return (json.dumps(body, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, text: bytes) -> _State:
        """Parse a state file; ValueError (with the reason) when it is not one."""
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(body, dict) or body.get("format") != _STATE_FORMAT:
            raise ValueError("not a vsdk-analytics sync state")
        if body.get("format_version") != _STATE_VERSION:
            raise ValueError(f"unknown state format version {body.get('format_version')!r}")
        try:
            mark = body["watermark"]
            watermark = None if mark is None else _parse_instant(str(mark))
            per_page = int(body["per_page"])
            return cls(
                watermark=watermark,
                profile=str(body["profile"]),
                schema_version=int(body["schema_version"]),
                per_page=per_page,
                per_page_requested=int(body.get("per_page_requested", per_page)),
                sessions=int(body.get("sessions", 0)),
                synced_at=_parse_instant(str(body["synced_at"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a field is missing or malformed ({exc!r})") from None


def _parse_instant(text: str) -> datetime:
    text = text[:-1] + "+00:00" if text.endswith("Z") else text
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed.astimezone(timezone.utc)


def _read_state(root: Path) -> tuple[_State | None, str]:
    """The state, or None and why there is none."""
    path = root / STATE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, f"no {STATE_FILE} in the dataset"
    try:
        return _State.from_json(raw), ""
    except ValueError as exc:
        return None, f"{STATE_FILE} is unusable: {exc}"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a hidden temporary file, fsync it, rename it over ``path``."""
    temporary = path.parent / f".{path.name}{_TMP_MARK}{uuid.uuid4().hex[:12]}"
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# ---------------------------------------------------------------------------
# Lock
# ---------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would send CTRL_C_EVENT
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process
        return True
    return True


class _Lock:
    """``_vsdk_sync.lock``: created with O_CREAT|O_EXCL, holding pid, host and a token."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_FILE
        self._token = uuid.uuid4().hex
        self._body = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "token": self._token,
            "since": _when(datetime.now(timezone.utc)),
        }

    def acquire(self) -> None:
        for _ in range(3):
            if self._create():
                return
            holder = self._read(self.path)
            if holder is None:
                continue  # released meanwhile
            stale = self._stale(holder)
            if stale is None:
                raise ConfigurationError(self._refusal(holder))
            self._take_over(holder)
        raise ConfigurationError(
            f"could not take the sync lock {str(self.path)!r}: another sync keeps taking it"
        )

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, json.dumps(self._body).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        """The lock's content (an empty dict when unreadable); None when it is gone."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError:  # pragma: no cover - permissions
            return {}
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        holder: dict[str, Any] = body if isinstance(body, dict) else {}
        if not holder:
            with contextlib.suppress(OSError):
                holder["_age"] = time.time() - path.stat().st_mtime
        return holder

    @staticmethod
    def _stale(holder: dict[str, Any]) -> str | None:
        """Why the lock is stale, or None when its holder may still run."""
        pid = holder.get("pid")
        if isinstance(pid, int) and not isinstance(pid, bool):
            if holder.get("host") != socket.gethostname():
                return None  # another machine: cannot tell
            return None if _pid_alive(pid) else f"process {pid} is gone"
        age = holder.get("_age")
        if isinstance(age, float) and age > _STALE_EMPTY_LOCK_SECONDS:
            return "it is empty and old"
        return None

    def _take_over(self, holder: dict[str, Any]) -> None:
        """Move the stale lock aside, check it is the one judged stale, delete it."""
        aside = self.path.with_name(f".{LOCK_FILE}.stale-{uuid.uuid4().hex[:12]}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return
        moved = self._read(aside) or {}
        moved.pop("_age", None)
        expected = {k: v for k, v in holder.items() if k != "_age"}
        if moved != expected:
            # Another sync took it over meanwhile: put its lock back and give up.
            with contextlib.suppress(OSError):
                os.link(aside, self.path)
            aside.unlink(missing_ok=True)
            raise ConfigurationError(self._refusal(moved))
        aside.unlink(missing_ok=True)

    def _refusal(self, holder: dict[str, Any]) -> str:
        who = (
            f"process {holder['pid']} on {holder.get('host', '?')} (since {holder.get('since')})"
            if "pid" in holder
            else "a process that has not written its pid yet"
        )
        return (
            f"another sync is running on this dataset: {who} holds {str(self.path)!r}. "
            "Wait for it to finish; if no sync runs, delete that file."
        )

    def release(self) -> None:
        holder = self._read(self.path)
        if holder is not None and holder.get("token") == self._token:
            self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# What the dataset holds
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Stored:
    """The stored sessions: a light index of every row, and full partitions on demand."""

    root: Path
    index: pl.DataFrame  # _INDEX_COLUMNS + _PARTITION
    files: int
    full: dict[str, pl.DataFrame] = field(default_factory=dict)

    def partition(self, key: str) -> pl.DataFrame:
        """Every row of one stored partition (empty when it does not exist)."""
        if key not in self.full:
            path = self.root / key / PART_FILE
            self.full[key] = read_parquet(path) if path.is_file() else empty_sessions()
        return self.full[key]

    def rows(self, keys: Iterable[str]) -> pl.DataFrame:
        """Every row of these partitions, with the partition in ``_partition``."""
        frames = [
            self.partition(k).with_columns(pl.lit(k).alias(_PARTITION)) for k in sorted(set(keys))
        ]
        if not frames:
            return empty_sessions().with_columns(pl.lit(None, pl.String()).alias(_PARTITION))
        return pl.concat(frames)


def _partition_files(root: Path) -> list[Path]:
    """The dataset's data files, checking the layout is one file per ``start_date``."""
    files = sorted(root.glob(f"{START_DATE}=*/{PART_FILE}"))
    expected = set(files)
    for path in root.rglob("*.parquet"):
        hidden = any(p.startswith((".", "_")) for p in path.relative_to(root).parts)
        if not hidden and path not in expected:
            raise ConfigurationError(
                f"{str(root)!r} is not a dataset sync can maintain: {str(path)!r} is not "
                f"{START_DATE}=<date>/{PART_FILE} (write it with "
                f"write_parquet(..., partition_by={START_DATE!r}) or sync into a new directory)"
            )
    return files


def _check_files(files: list[Path], profile: str) -> None:
    if not files:
        return
    meta = pl.read_parquet_metadata(files[0])
    written = meta.get(f"{_META}profile")
    if written is not None and written != profile:
        raise ConfigurationError(
            f"the dataset is in the {written!r} profile; sync it with profile={written!r} "
            "or into a new directory"
        )
    partition_by = meta.get(f"{_META}partition_by")
    if partition_by is not None and json.loads(partition_by) != [START_DATE]:
        raise ConfigurationError(
            f"the dataset is partitioned by {partition_by}; sync needs [{START_DATE!r}]"
        )
    version = meta.get(f"{_META}schema_version")
    if version is not None and version != str(SCHEMA_VERSION):
        raise ConfigurationError(
            f"the dataset holds schema version {version}; this library writes version "
            f"{SCHEMA_VERSION}: sync into a new directory"
        )


def _load(root: Path, profile: str) -> _Stored:
    """Clean up what a killed sync left behind, check the layout, index the rows."""
    for leftover in root.rglob(f".*{_TMP_MARK}*"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
    for leftover in root.glob(f".{LOCK_FILE}.stale-*"):
        leftover.unlink(missing_ok=True)
    for directory in root.glob(f"{START_DATE}=*"):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    files = _partition_files(root)
    _check_files(files, profile)
    if not files:
        index = pl.DataFrame(
            schema={**{c: SESSIONS_SCHEMA[c] for c in _INDEX_COLUMNS}, _PARTITION: pl.String()}
        )
        return _Stored(root, index, 0)
    keys = {str(f): f.parent.name for f in files}
    index = (
        pl.scan_parquet(files, glob=False, hive_partitioning=False, include_file_paths=_FILE)
        .select(*_INDEX_COLUMNS, _FILE)
        .collect()
    )
    index = index.with_columns(
        pl.col(_FILE).replace_strict(keys, return_dtype=pl.String()).alias(_PARTITION)
    ).drop(_FILE)
    return _Stored(root, index, len(files))


def _partition_keys(frame: pl.DataFrame) -> pl.Series:
    """The partition directory of each row, from the UTC date of ``start``."""
    dates = frame.get_column("start").dt.convert_time_zone("UTC").dt.date()
    names: dict[date | None, str] = {
        d: f"{START_DATE}={_hive_value(d)}" for d in dates.unique().to_list()
    }
    if None not in names:
        names[None] = f"{START_DATE}={HIVE_NULL_PARTITION}"
    keys = [names[d] for d in dates.to_list()]
    return pl.Series(_PARTITION, keys, dtype=pl.String())


# ---------------------------------------------------------------------------
# What to fetch
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    since: datetime | None
    reason: str
    unfinished: list[str]  # stored unfinished ids the pages must bring back or be fetched


def _unfinished(index: pl.DataFrame) -> pl.DataFrame:
    running = pl.col("status").is_in(sorted(RUNNING_STATUSES)).fill_null(False)
    return index.filter((running | pl.col("end").is_null()) & pl.col("session_id").is_not_null())


def _plan(
    stored: _Stored, state: _State | None, why_no_state: str, per_page: int, *, full: bool
) -> _Plan:
    index = stored.index
    unfinished = _unfinished(index).unique("session_id")
    ids = sorted(unfinished.get_column("session_id").to_list())
    if full:
        return _Plan(None, "full=True: every page fetched and merged", ids)
    if state is None:
        reason = "first sync" if index.is_empty() else why_no_state + ": every page fetched"
        return _Plan(None, reason, ids)
    if state.watermark is None:
        return _Plan(None, "no session stored yet: every page fetched", ids)
    watermark = state.watermark
    older = unfinished.filter(pl.col("created_at") < watermark)
    base = "incremental: pages newest first down to the watermark"
    if older.is_empty():
        return _Plan(watermark, base, ids)
    oldest = older.get_column("created_at").min()
    assert isinstance(oldest, datetime)
    between = index.filter(
        (pl.col("created_at") >= oldest) & (pl.col("created_at") < watermark)
    ).height
    extra_pages = math.ceil(between / per_page)
    if extra_pages < older.height:
        reason = (
            f"incremental: pages newest first down to the oldest of {older.height} unfinished "
            f"sessions ({extra_pages} more pages instead of {older.height} single requests)"
        )
        return _Plan(oldest, reason, ids)
    return _Plan(watermark, base, ids)


# ---------------------------------------------------------------------------
# The merge
# ---------------------------------------------------------------------------


def _is_list_only(key: str) -> bool:
    return key in _LIST_ONLY_EXTRA or key.startswith("webhook.")


def _merge_extra(fresh: str | None, stored: str | None) -> str | None:
    """``extra`` of a refreshed row: its own entries, the stored webhook/metadata ones."""
    merged: dict[str, Any] = {}
    if fresh is not None:
        merged.update((k, v) for k, v in msgspec.json.decode(fresh).items() if not _is_list_only(k))
    if stored is not None:
        merged.update((k, v) for k, v in msgspec.json.decode(stored).items() if _is_list_only(k))
    return _json_text(dict(sorted(merged.items()))) if merged else None


def _keep_stored_webhook(refreshed: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """Refreshed rows with webhook and metadata (and their extras) from the stored rows."""
    if refreshed.is_empty():
        return refreshed
    kept = ["webhook_endpoint", "webhook_events", "metadata", "extra"]
    previous = (
        stored.sort("updated_at", descending=True, nulls_last=True)
        .unique("session_id", keep="first")
        .select("session_id", *(pl.col(c).alias(f"{c}_stored") for c in kept))
    )
    joined = refreshed.join(previous, on="session_id", how="left")
    extras = [
        _merge_extra(fresh, old)
        for fresh, old in zip(
            joined.get_column("extra").to_list(),
            joined.get_column("extra_stored").to_list(),
            strict=True,
        )
    ]
    return joined.with_columns(
        pl.col("webhook_endpoint_stored").alias("webhook_endpoint"),
        pl.col("webhook_events_stored").alias("webhook_events"),
        pl.col("metadata_stored").alias("metadata"),
        pl.Series("extra", extras, dtype=pl.String()),
    ).select(SESSIONS_SCHEMA.names())


@dataclass(slots=True)
class _Merge:
    """The outcome of upserting fetched rows: counts and the partitions to write."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    writes: list[tuple[str, pl.DataFrame]] = field(default_factory=list)
    sessions_total: int = 0


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(
        ["created_at", "session_id"], descending=[True, False], nulls_last=True
    ).select(SESSIONS_SCHEMA.names())


def _merge(stored: _Stored, incoming: pl.DataFrame, profile: str) -> _Merge:
    """Upsert ``incoming`` (unique, non-null ids) into the stored partitions."""
    index = stored.index
    counts = index.group_by("session_id").len()
    duplicated = counts.filter(pl.col("len") > 1).get_column("session_id").drop_nulls()
    incoming_ids = incoming.get_column("session_id")
    concerned = index.filter(
        pl.col("session_id").is_in(incoming_ids.implode())
        | pl.col("session_id").is_in(duplicated.implode())
    )
    previous = stored.rows(concerned.get_column(_PARTITION).unique().to_list())
    previous = previous.filter(
        pl.col("session_id").is_in(concerned.get_column("session_id").implode()).fill_null(False)
    )
    best = (
        previous.sort("updated_at", descending=True, nulls_last=True)
        .unique("session_id", keep="first", maintain_order=True)
        .drop(_PARTITION)
    )
    names = SESSIONS_SCHEMA.names()
    joined = incoming.join(
        best.with_columns(pl.lit(True).alias("_present")).rename(
            {c: f"{c}_stored" for c in names if c != "session_id"}
        ),
        on="session_id",
        how="left",
    )
    present = pl.col("_present").fill_null(False)
    stored_at, fetched_at = pl.col("updated_at_stored"), pl.col("updated_at")
    wins = (
        ~present
        | stored_at.is_null()
        | (fetched_at.is_not_null() & (fetched_at >= stored_at)).fill_null(False)
    )
    differs = pl.any_horizontal(
        [pl.col(c).ne_missing(pl.col(f"{c}_stored")) for c in names if c != "session_id"]
    )
    joined = joined.with_columns(
        (~present).alias("_new"), (present & wins & differs).alias("_updated")
    )
    result = _Merge(
        new=int(joined.get_column("_new").sum()),
        updated=int(joined.get_column("_updated").sum()),
    )
    result.unchanged = incoming.height - result.new - result.updated
    changed = joined.filter(pl.col("_new") | pl.col("_updated")).select(names)
    repaired = best.filter(
        pl.col("session_id").is_in(duplicated.implode())
        & ~pl.col("session_id").is_in(changed.get_column("session_id").implode())
    )
    final = pl.concat([changed, repaired])
    if profile == "bi":
        _check_events(final)
    final = final.with_columns(_partition_keys(final))
    leaving = index.filter(pl.col("session_id").is_in(final.get_column("session_id").implode()))
    arriving = final.partition_by(_PARTITION, as_dict=True, include_key=False)
    departing = leaving.select("session_id", _PARTITION).partition_by(
        _PARTITION, as_dict=True, include_key=False
    )
    gaining = {str(key[0]) for key in arriving}
    losing = {str(key[0]) for key in departing} - gaining
    total = index.height
    # Partitions that gain rows first: a session moving between partitions is never missing.
    for key in [*sorted(gaining, reverse=True), *sorted(losing, reverse=True)]:
        before = stored.partition(key)
        after = before
        if (key,) in departing:
            after = after.join(departing[(key,)], on="session_id", how="anti")
        if (key,) in arriving:
            after = pl.concat([after, arriving[(key,)]])
        total += after.height - before.height
        result.writes.append((key, _sorted(after)))
    result.sessions_total = total
    return result


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _metadata(profile: str) -> dict[str, str]:
    """The key-value metadata `write_parquet` gives each file of a start_date dataset."""
    metadata = {
        f"{_META}version": _library_version(),
        f"{_META}schema_version": str(SCHEMA_VERSION),
        f"{_META}profile": profile,
    }
    if profile == "bi":
        metadata[f"{_META}webhook_events_separator"] = WEBHOOK_EVENTS_SEPARATOR
    metadata[f"{_META}partition_by"] = json.dumps([START_DATE])
    return metadata


def _write_partition(root: Path, key: str, rows: pl.DataFrame, profile: str) -> None:
    """Replace (or create, or remove when empty) one partition file atomically."""
    directory = root / key
    target = directory / PART_FILE
    if rows.is_empty() and key != f"{START_DATE}={HIVE_NULL_PARTITION}":
        target.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()
        _fsync_dir(root)
        _after_partition_replaced(target)
        return
    if not directory.is_dir():
        directory.mkdir()
        _fsync_dir(root)
    temporary = directory / f".{PART_FILE}{_TMP_MARK}{uuid.uuid4().hex[:12]}"
    metadata = {**_metadata(profile), f"{_META}rows": str(rows.height)}
    try:
        _write_file(_to_arrow(rows, profile), temporary, _codec(profile, None), metadata)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    _after_partition_replaced(target)


def _commit(root: Path, merge: _Merge, state: _State, profile: str, empty: bool) -> int:
    """Write the changed partitions, then the state file; the partition files written."""
    writes = list(merge.writes)
    if empty and not writes:
        # An empty dataset is one empty file in the null partition, as write_parquet does.
        writes.append((f"{START_DATE}={HIVE_NULL_PARTITION}", empty_sessions()))
    for key, rows in writes:
        _write_partition(root, key, rows, profile)
    _write_atomically(root / STATE_FILE, state.to_json())
    return len(writes)


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def _prepare(dataset: str | os.PathLike[str]) -> Path:
    root = Path(dataset)
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f"{str(root)!r} is a file; a synced dataset is a directory")
    if not root.parent.is_dir():
        raise ConfigurationError(f"the directory {str(root.parent)!r} does not exist")
    if root.is_dir() and not _looks_like_dataset(root):
        raise ConfigurationError(
            f"refusing to sync into {str(root)!r}: it holds files other than a Parquet dataset"
        )
    root.mkdir(exist_ok=True)
    return root


async def _to_thread_to_the_end(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a worker thread; a cancellation waits for it to finish, then propagates."""
    task: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise


def _next_watermark(fetched: pl.DataFrame, stats: FetchStats) -> datetime | None:
    """A created_at below which every session has been fetched (None: none known).

    Sessions that arrived while paging (the growth of ``totalItems``) are the newest
    and may have been seen only in part, so skip as many of the newest rows.
    """
    created = fetched.get_column("created_at").drop_nulls().sort(descending=True)
    start, end = stats.total_items_at_start, stats.total_items_at_end
    arrived = max(0, end - start) if start is not None and end is not None else 0
    if arrived >= created.len():
        return None
    value = created[arrived]
    assert isinstance(value, datetime)
    return value


async def _refresh(
    ids: list[str],
    fetch_one: Callable[[list[str]], Awaitable[tuple[pl.DataFrame, FetchStats]]],
    max_concurrency: int,
) -> tuple[pl.DataFrame, int]:
    """Fetch sessions one by one; ids the API no longer knows are skipped, with a warning."""
    if not ids:
        return empty_sessions(), 0
    try:
        frame, stats = await fetch_one(ids)
    except NotFoundError:
        pass
    else:
        warn_problems(stats.problems, stacklevel=4)
        return frame, stats.requests
    # One of them is gone: ask for each on its own, so the others still refresh.
    requests = len(ids)
    limit = asyncio.Semaphore(max_concurrency)

    async def one(session_id: str) -> tuple[pl.DataFrame, FetchStats] | None:
        async with limit:
            try:
                return await fetch_one([session_id])
            except NotFoundError:
                return None

    results = await asyncio.gather(*(one(sid) for sid in ids))
    frames = [r[0] for r in results if r is not None]
    gone = [sid for sid, r in zip(ids, results, strict=True) if r is None]
    for r in results:
        if r is not None:
            requests += r[1].requests
            warn_problems(r[1].problems, stacklevel=4)
    requests += len(gone)
    warnings.warn(
        f"{len(gone)} sessions stored while unfinished are no longer served by the API "
        f"(404: {', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''}); kept as stored",
        CompletenessWarning,
        stacklevel=4,
    )
    return combine_pages(frames), requests


async def sync_sessions_async(
    dataset: str | os.PathLike[str],
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    profile: ParquetProfile = "bi",
    per_page: int = DEFAULT_PER_PAGE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    progress: ProgressArg = None,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    full: bool = False,
) -> SyncReport:
    """Bring a Parquet dataset of sessions up to date (async); see `sync_sessions`."""
    started = time.perf_counter()
    _check(per_page, max_concurrency, max_retries, timeout)
    _codec(profile, None)
    url = resolve_base_url(base_url)
    creds = credentials if credentials is not None else Credentials.from_env()
    root = _prepare(dataset)
    lock = _Lock(root)
    lock.acquire()
    try:
        state, why_no_state = _read_state(root)
        if state is not None and state.profile != profile:
            raise ConfigurationError(
                f"the dataset was synced in the {state.profile!r} profile; sync it with "
                f"profile={state.profile!r} or into a new directory"
            )
        if state is not None and state.schema_version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"the dataset holds schema version {state.schema_version}; this library "
                f"writes version {SCHEMA_VERSION}: sync into a new directory"
            )
        stored = await asyncio.to_thread(_load, root, profile)
        known_per_page = (
            state.per_page
            if state is not None and state.per_page_requested == per_page
            else per_page
        )
        plan = _plan(stored, state, why_no_state, known_per_page, full=full)
        fetched, stats = await fetch_frame(
            creds,
            base_url=url,
            per_page=per_page,
            max_concurrency=max_concurrency,
            progress=progress,
            strict=False,
            max_retries=max_retries,
            timeout=timeout,
            transport=transport,
            time_range=TimeRange(plan.since, keep_all=True),
        )
        warn_problems(stats.problems, stacklevel=3)
        full_fetch, reason = plan.since is None, plan.reason
        if plan.since is not None and not stats.early_stop and stats.pages > 1:
            full_fetch = True
            reason = "pages are not ordered newest first, so every page was fetched and merged"
        anonymous = fetched.get_column("session_id").null_count()
        if anonymous:
            warnings.warn(
                f"{anonymous} sessions without a session id cannot be upserted; not stored",
                DataQualityWarning,
                stacklevel=3,
            )
            fetched = fetched.filter(pl.col("session_id").is_not_null())
        seen = set(fetched.get_column("session_id").to_list())
        missing = [sid for sid in plan.unfinished if sid not in seen]

        async def fetch_one(ids: list[str]) -> tuple[pl.DataFrame, FetchStats]:
            return await fetch_one_frame(
                creds,
                ids,
                base_url=url,
                max_concurrency=max_concurrency,
                strict=False,
                max_retries=max_retries,
                timeout=timeout,
                transport=transport,
            )

        refreshed, refresh_requests = await _refresh(missing, fetch_one, max_concurrency)
        candidate = _next_watermark(fetched, stats)
        old = state.watermark if state is not None and plan.since is not None else None
        marks = [m for m in (old, candidate) if m is not None]
        watermark = max(marks) if marks else None

        def merge_and_commit() -> tuple[_Merge, int]:
            ids = refreshed.get_column("session_id").implode()
            where = stored.index.filter(pl.col("session_id").is_in(ids)).get_column(_PARTITION)
            kept = _keep_stored_webhook(refreshed, stored.rows(where.unique().to_list()))
            merge = _merge(stored, combine_pages([fetched, kept]), profile)
            new_state = _State(
                watermark=watermark,
                profile=profile,
                schema_version=SCHEMA_VERSION,
                per_page=stats.per_page or per_page,
                per_page_requested=per_page,
                sessions=merge.sessions_total,
                synced_at=datetime.now(timezone.utc),
            )
            written = _commit(root, merge, new_state, profile, empty=stored.files == 0)
            return merge, written

        merge, written = await _to_thread_to_the_end(merge_and_commit)
    finally:
        lock.release()
    total_items = stats.total_items_at_end or stats.total_items_at_start or merge.sessions_total
    effective = stats.per_page or per_page
    return SyncReport(
        dataset=root,
        new=merge.new,
        updated=merge.updated,
        unchanged=merge.unchanged,
        refreshed=len(missing),
        pages_fetched=stats.pages,
        pages_full_fetch=max(1, math.ceil(total_items / effective)),
        requests=stats.requests + refresh_requests,
        full_fetch=full_fetch,
        reason=reason,
        partitions_written=written,
        sessions_total=merge.sessions_total,
        seconds=time.perf_counter() - started,
        since=plan.since,
        watermark=watermark,
    )


def sync_sessions(
    dataset: str | os.PathLike[str],
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    profile: ParquetProfile = "bi",
    per_page: int = DEFAULT_PER_PAGE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    progress: ProgressArg = None,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    full: bool = False,
) -> SyncReport:
    """Bring a Hive-partitioned Parquet dataset of sessions up to date, fetching little.

    The first run fetches every session into ``dataset`` (partitioned by
    ``start_date``, the UTC date of ``start``). Later runs read the state the last one
    left in ``dataset/_vsdk_sync.json``, fetch the pages newest first down to its
    watermark, refresh the sessions stored while unfinished, and upsert by
    ``session_id`` (newest ``updated_at`` wins), rewriting only the partitions that
    changed. Pages that are not ordered newest first make it fetch every page (with a
    `CompletenessWarning`) and say so in the report. Read the dataset with
    `read_parquet`, DuckDB ``read_parquet('dataset/**/*.parquet', hive_partitioning =
    true)`` or ``pl.scan_parquet('dataset/**/*.parquet', hive_partitioning=True)``.

    Safe to kill at any point: every file is replaced by an atomic rename, nothing
    stored is ever dropped, and the state moves last, so readers see the previous
    dataset or a newer one, never a partial file, and the next run completes the work.

    Parameters
    ----------
    dataset
        The dataset directory; created when missing (its parent must exist). An
        existing one must hold nothing but a ``start_date``-partitioned dataset (e.g.
        from ``write_parquet(..., partition_by="start_date")``).
    credentials
        `Credentials`; None reads them from the environment.
    base_url
        The API's base URL; None uses ``VIDEOSDK_API_BASE_URL`` or the vendor's.
    profile
        The `write_parquet` profile, ``"bi"`` or ``"native"``; it must match the
        dataset's.
    per_page
        Sessions per page to ask for.
    max_concurrency
        Most requests in flight at once.
    progress
        Progress of the page fetch, as for `fetch_sessions`.
    transport
        ``"aiohttp"``, ``"httpx"`` or an `httpx.AsyncBaseTransport`.
    max_retries
        Retries per request for 408/429/5xx and transport errors.
    timeout
        Seconds one request may take.
    full
        Fetch every page and merge, as a first sync does. Incremental runs page down to
        the watermark only, so a change to a *finished* session older than it (an edited
        ``metadata``, say) is picked up by a full run; schedule one now and then.

    Returns
    -------
    SyncReport
        What was fetched and written; ``str(report)`` reads well.

    Raises
    ------
    ConfigurationError
        Another sync holds the dataset's lock, the dataset is in another profile or
        schema version or layout, or a bad argument.
    CredentialsError, AuthenticationError, PermissionDeniedError, NotFoundError
        As for `fetch_sessions`.
    IncompleteFetchError
        Pages failed after every retry; nothing was written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from vsdk_analytics.testing import FakeServer
    >>> with FakeServer(sessions=250) as server, tempfile.TemporaryDirectory() as tmp:
    ...     kwargs = dict(base_url=server.url, progress=False)
    ...     first = sync_sessions(pathlib.Path(tmp) / "s", server.credentials(), **kwargs)
    ...     _ = server.api.insert_session(status="completed")
    ...     second = sync_sessions(pathlib.Path(tmp) / "s", server.credentials(), **kwargs)
    >>> first.new, first.full_fetch, second.new, second.pages_fetched, second.sessions_total
    (250, True, 1, 1, 251)
    """
    return run_sync(
        lambda: sync_sessions_async(
            dataset,
            credentials,
            base_url=base_url,
            profile=profile,
            per_page=per_page,
            max_concurrency=max_concurrency,
            progress=progress,
            transport=transport,
            max_retries=max_retries,
            timeout=timeout,
            full=full,
        )
    )
