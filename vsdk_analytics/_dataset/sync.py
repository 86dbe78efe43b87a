"""Incremental sync: keep a Hive-partitioned Parquet dataset of sessions up to date.

`sync_sessions` (and `sync_sessions_async`) fetch only what changed since the last
sync and upsert it into a dataset directory partitioned by ``start_date`` (the UTC
date of ``start``), in a `write_parquet` profile. Beside the partitions, the dataset
keeps its sync state (``_vsdk_sync.json``, see `state`) and its lock
(``_vsdk_sync.lock``, an OS lock released when its holder dies, see `lock`).

The plan of one sync:

1. No state: fetch every page, merge into whatever the directory holds.
2. With state: page newest first down to ``since = watermark`` (inclusive), and
   refresh the stored sessions that are still open (a status in `RUNNING_STATUSES`,
   or no ``end`` and a status that is not final; a session in a final status of
   `FINISHED_STATUSES` is finished with or without an ``end``) that the pages did not
   bring back. **The rule**: when paging further down to the oldest such session
   costs fewer requests than fetching them one by one (``ceil(stored sessions between
   it and the watermark / per_page) < count``), ``since`` widens to its
   ``created_at``; otherwise they come from the single-session endpoint.
3. Pages that are not newest first cannot be paged down to a watermark: the fetcher
   then fetches every page (with a `CompletenessWarning`), every session is merged, and
   the report says ``full_fetch=True`` with the reason.
4. Upsert by ``session_id`` (see `merge`); rows are never deleted.
5. Commit into the destination (`Destination`): for a Parquet directory
   (`directory`), only the partitions that changed, each to a hidden temporary file,
   fsynced, then renamed over ``part-0.parquet``; then the state file, the same way.
   For a Delta table (`delta`, ``table_format="delta"``), one MERGE commit carrying the
   state, retried on the winner's version after a lost race.
6. Beside a Parquet directory, store the account's deployments (see `deployments`);
   a failure there is reported, not raised.

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
import math
import os
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from vsdk_analytics._client import AsyncClient
from vsdk_analytics._combine import combine_pages
from vsdk_analytics._config import check_client_options
from vsdk_analytics._constants import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PER_PAGE,
    MAX_RETRIES,
    READ_TIMEOUT_SECONDS,
)
from vsdk_analytics._credentials import Credentials
from vsdk_analytics._errors import (
    CompletenessWarning,
    ConfigurationError,
    DataQualityWarning,
    NotFoundError,
)
from vsdk_analytics._fetch import FetchStats
from vsdk_analytics._http import TransportName, resolve_base_url
from vsdk_analytics._normalize import empty_sessions, warn_problems
from vsdk_analytics._progress import ProgressArg
from vsdk_analytics._schema import SCHEMA_VERSION
from vsdk_analytics._sync import blocking

from .deployments import DeploymentsRefresh, refresh_deployments
from .destination import Destination, Outcome, TableFormat
from .directory import ParquetDirectory
from .files import (
    START_DATE,
    ParquetProfile,
    Provenance,
    codec,
    format_instant,
    provenance_metadata,
    public_url,
)
from .location import ObjectLocation, parse_location
from .merge import Merge, keep_stored_webhook, merge
from .plan import plan_sync
from .report import SyncReport
from .sources import is_delta
from .state import SyncState
from .stored import PARTITION, StoredDataset

if TYPE_CHECKING:
    import httpx

__all__ = ["sync_sessions", "sync_sessions_async"]

T = TypeVar("T")


def _destination(
    dataset: str | os.PathLike[str],
    table_format: object,
    *,
    lock_timeout: float | None,
    run_id: str,
) -> Destination:
    """The destination of a sync: a local Parquet directory or a Delta table."""
    location = parse_location(dataset)
    if table_format == "delta":
        from .delta import DeltaDestination  # noqa: PLC0415 - deltalake loads only for Delta

        return DeltaDestination(location)
    if table_format != "parquet":
        raise ConfigurationError(
            f"table_format= must be 'parquet' or 'delta', got {table_format!r}"
        )
    if isinstance(location, ObjectLocation):
        raise ConfigurationError(
            f"cannot sync plain Parquet into the object store {location.url!r}: its safety "
            "rests on atomic renames and an OS lock, which object stores do not have, so "
            "concurrent or killed syncs could lose sessions. Sync a Delta table there "
            "instead: table_format='delta' (CLI: --format delta), which commits atomically "
            "and safely under concurrent runs, and is read by Spark, Databricks, Trino, "
            "DuckDB, Polars and Power BI"
        )
    if is_delta(location):
        raise ConfigurationError(
            f"{str(location)!r} is a Delta table; sync it with table_format='delta' "
            "(CLI: --format delta)"
        )
    return ParquetDirectory(location, lock_timeout=lock_timeout, run_id=run_id)


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def _check_lock_timeout(lock_timeout: float | None) -> None:
    if lock_timeout is not None and not lock_timeout >= 0:
        raise ConfigurationError(f"lock_timeout must be >= 0 seconds or None, got {lock_timeout!r}")


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


async def sync_sessions_async(  # noqa: PLR0915 - one visible sequence of steps
    dataset: str | os.PathLike[str],
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    profile: ParquetProfile = "bi",
    per_page: int = DEFAULT_PER_PAGE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    max_requests_per_second: float | None = None,
    progress: ProgressArg = None,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    full: bool = False,
    lock_timeout: float | None = 0.0,
    table_format: TableFormat = "parquet",
) -> SyncReport:
    """Bring a Parquet dataset or Delta table up to date (async); see `sync_sessions`."""
    started = time.perf_counter()
    check_client_options(
        per_page=per_page, max_concurrency=max_concurrency, max_retries=max_retries, timeout=timeout
    )
    codec(profile, None)
    _check_lock_timeout(lock_timeout)
    url = resolve_base_url(base_url)
    creds = credentials if credentials is not None else Credentials.from_env()
    run_id = uuid.uuid4().hex
    destination = _destination(dataset, table_format, lock_timeout=lock_timeout, run_id=run_id)
    destination.acquire()
    stack = contextlib.AsyncExitStack()
    names: DeploymentsRefresh | None = None
    try:
        state, why_no_state, stored = await asyncio.to_thread(destination.load, profile)
        known_per_page = (
            state.per_page
            if state is not None and state.per_page_requested == per_page
            else per_page
        )
        plan = plan_sync(stored, state, why_no_state, known_per_page, full=full)
        fetched_at = datetime.now(timezone.utc)
        client = AsyncClient(
            creds,
            base_url=url,
            max_concurrency=max_concurrency,
            max_requests_per_second=max_requests_per_second,
            max_retries=max_retries,
            timeout=timeout,
            transport=transport,
        )
        await stack.enter_async_context(client)
        fetched, stats = await client.fetch_sessions_with_stats(
            per_page=per_page, progress=progress, since=plan.since, keep_all=True
        )
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
            return await client.fetch_session_frames(ids)

        refreshed, refresh_requests = await _refresh(missing, fetch_one, max_concurrency)
        candidate = _next_watermark(fetched, stats)
        metadata = provenance_metadata(
            profile,
            [START_DATE],
            Provenance(fetched_at=fetched_at, base_url=url, since=plan.since, sync_run_id=run_id),
        )

        def report(merged: Merge, watermark: datetime | None, written: int) -> SyncReport:
            total_items = (
                stats.total_items_at_end or stats.total_items_at_start or merged.sessions_total
            )
            return SyncReport(
                dataset=destination.where,
                new=merged.new,
                updated=merged.updated,
                unchanged=merged.unchanged,
                refreshed=len(missing),
                pages_fetched=stats.pages,
                pages_full_fetch=max(1, math.ceil(total_items / (stats.per_page or per_page))),
                requests=stats.requests + refresh_requests,
                full_fetch=full_fetch,
                reason=reason,
                partitions_written=written,
                sessions_total=merged.sessions_total,
                seconds=time.perf_counter() - started,
                since=plan.since,
                watermark=watermark,
                run_id=run_id,
            )

        def build(stored: StoredDataset, state: SyncState | None) -> Outcome:
            ids = refreshed.get_column("session_id").implode()
            where = stored.index.filter(pl.col("session_id").is_in(ids)).get_column(PARTITION)
            kept = keep_stored_webhook(refreshed, stored.rows(where.unique().to_list()))
            merged = merge(stored, combine_pages([fetched, kept]))
            old = state.watermark if state is not None and plan.since is not None else None
            marks = [m for m in (old, candidate) if m is not None]
            watermark = max(marks) if marks else None
            new_state = SyncState(
                watermark=watermark,
                profile=profile,
                schema_version=SCHEMA_VERSION,
                per_page=stats.per_page or per_page,
                per_page_requested=per_page,
                sessions=merged.sessions_total,
                synced_at=datetime.now(timezone.utc),
                run_id=run_id,
                base_url=public_url(url),
            )
            summary = report(merged, watermark, len(merged.writes))
            fields = {k: getattr(summary, k) for k in SyncReport.__dataclass_fields__}
            fields.update(
                (k, format_instant(v)) for k, v in fields.items() if isinstance(v, datetime)
            )
            fields["dataset"] = str(fields["dataset"])
            return Outcome(merged, new_state, fields, metadata)

        outcome, written = await _to_thread_to_the_end(
            lambda: destination.commit(build, profile, state, stored)
        )
        if isinstance(destination, ParquetDirectory):  # names beside the files, for BI joins
            names = await refresh_deployments(
                client, destination.root, profile=profile, per_page=per_page, run_id=run_id
            )
    finally:
        try:
            await stack.aclose()
        finally:
            destination.release()
    summary = report(outcome.merged, outcome.state.watermark, written)
    return names.apply(summary) if names is not None else summary


@blocking(sync_sessions_async)
def sync_sessions() -> None:
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

    Then the account's deployments are stored beside the sessions
    (``_vsdk_deployments.pq``, read with `read_deployments`); when that fetch fails
    (403, 404, any `VideoSDKError`) the sessions are still synced, the stored file is
    kept and ``report.deployments_error`` says why.

    Safe to kill at any point: every file is replaced by an atomic rename, nothing
    stored is ever dropped, and the state moves last, so readers see the previous
    dataset or a newer one, never a partial file, and the next run completes the work.

    Parameters
    ----------
    dataset
        The dataset directory; created when missing (its parent must exist). An
        existing one must hold nothing but a ``start_date``-partitioned dataset (e.g.
        from ``write_parquet(..., partition_by="start_date")``). With
        ``table_format="delta"``: the Delta table's path or object-store URL
        (``s3://bucket/sessions``, ``gs://``, ``az://``; credentials from the cloud's
        standard environment, see [Data lake](../lake.md)).
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
    max_requests_per_second
        Most requests per second (None: paced only by what the server signals).
    progress
        Progress of the page fetch, as for `fetch_sessions`.
    transport
        ``"aiohttp"``, ``"httpx"`` or an `httpx.AsyncBaseTransport`.
    max_retries
        Retries per request for 408/429/5xx and transport errors.
    timeout
        Seconds one request may take.
    lock_timeout
        Seconds to wait for another sync of the same dataset to finish (0: fail at
        once, None: wait without limit). The lock is an OS lock: a killed sync
        releases it, on any host.
    full
        Fetch every page and merge, as a first sync does. Incremental runs page down to
        the watermark only, so a change to a *finished* session older than it (an edited
        ``metadata``, say) is picked up by a full run; schedule one now and then.
    table_format
        ``"parquet"`` (default): a local Hive-partitioned Parquet directory, under an
        OS lock (object-store URLs are refused: they have no rename and no lock).
        ``"delta"`` (the ``lake`` extra): a Delta Lake table, local or in an object
        store, partitioned by ``start_date``, upserted with one MERGE commit per run
        (newest ``updated_at`` wins) that carries the run's state and report in its
        commit metadata (`delta_sync_history`). No lock: concurrent runs commit
        optimistically and the loser redoes its merge on the winner's version (no new
        fetch); a killed run leaves the table at its last commit. ``lock_timeout`` is
        not used.

    Returns
    -------
    SyncReport
        What was fetched and written; ``str(report)`` reads well.

    Raises
    ------
    DatasetConflictError
        Another sync holds the dataset's lock (after waiting ``lock_timeout``); the
        message names the holder. Nothing was fetched or written. For a Delta table:
        other syncs won the commit race ``COMMIT_ATTEMPTS`` (5) times in a row (nothing of
        this run was committed).
    ConfigurationError
        The dataset is in another profile or schema version or layout, or a bad
        argument.
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
