"""The page fetcher: every page of the sessions list, concurrently and completely.

The plan, in `fetch_frame`:

1. Fetch page 1; read ``totalItems`` and the ``perPage`` the server echoes
   (it may clamp what was asked). ``pageInfo.total`` is never trusted.
2. Fetch the other planned pages concurrently, at most ``max_concurrency`` in
   flight, under an AIMD limit that halves on 429 and creeps back up.
3. While the last page fetched is full (totals missing or too small), keep
   going a window of pages at a time until a short or empty page, or a page
   holding only sessions already seen (a server that ignores ``page``). With
   neither totals nor ``perPage`` and a short page 1, page 2 tells the last
   page from a page size the server capped without saying so.
4. Sessions created while paging shift offsets (the list is newest first).
   Each response carries the total at that instant, which fixes where its
   rows sit counted from the oldest session; the gaps left are re-fetched
   from their current pages until every session that existed when the fetch
   started has been seen.
5. Deduplicate on session id (newest ``updatedAt`` wins) and sort.

With ``since=``, step 2 pages a window at a time and stops after the first page
older than ``since``, as long as every page seen is ordered newest first
(checked within and across pages); otherwise it fetches everything, filters,
and says so once.

Each request is retried on 408/429/5xx, timeouts, dropped connections and
garbled bodies, with capped, jittered backoff that honours ``Retry-After``.
When a page still fails, `IncompleteFetchError` carries every session fetched
and the page numbers that were not. Each body is probed and read by Polars as
it arrives; the per-row Polars work (timestamps, renames, dedupe) runs once,
vectorized, in `assemble` at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from urllib.parse import quote

import httpx
import polars as pl

from ._client import TransportName, build_client
from ._constants import MAX_RETRIES, SESSIONS_PATH
from ._credentials import Credentials
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CompletenessWarning,
    IncompleteFetchError,
    ResponseFormatError,
    status_error,
)
from ._normalize import (
    ParsedPage,
    Problem,
    assemble,
    combine_pages,
    complete_page,
    parse_session,
    probe_page,
    read_typed,
)
from ._progress import ProgressArg, make_sink
from ._retry import AdaptiveLimit, backoff_delay, parse_retry_after, should_retry

__all__ = ["FetchStats", "TimeRange", "fetch_frame", "fetch_one_frame"]

logger = logging.getLogger("vsdk_analytics")

T = TypeVar("T")

_MAX_REPAIR_ROUNDS = 6
_FATAL_STATUSES = frozenset({400, 401, 403, 404})


@dataclass(slots=True)
class FetchStats:
    """What a fetch did: requests, retries, pages, and what the server said."""

    per_page: int = 0
    total_items_at_start: int | None = None
    total_items_at_end: int | None = None
    pages: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    repair_rounds: int = 0
    peak_in_flight: int = 0
    final_concurrency: int = 0
    fast_pages: int = 0
    early_stop: bool = False
    sessions: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Keep sessions with ``since <= created_at < until`` (either bound optional, UTC)."""

    since: datetime | None = None
    until: datetime | None = None
    keep_all: bool = False
    """Page down to ``since`` as usual but keep every row fetched (incremental sync)."""

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``frame`` inside the range (all of them with ``keep_all``)."""
        if self.keep_all:
            return frame
        keep = pl.lit(True)
        if self.since is not None:
            keep = keep & (pl.col("created_at") >= self.since)
        if self.until is not None:
            keep = keep & (pl.col("created_at") < self.until)
        return frame if self.since is None and self.until is None else frame.filter(keep)


@dataclass(slots=True)
class _Seen:
    """A page as received: its number at the page size, the total then, its rows."""

    page: int
    total: int | None
    order: int
    result: ParsedPage


class _PageClient:
    """Fetches one page with retries, inside the adaptive concurrency limit."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        limit: AdaptiveLimit,
        max_retries: int,
        timeout: float,
        strict: bool,
        stats: FetchStats,
    ) -> None:
        self._client = client
        self._base = str(client.base_url).rstrip("/")
        self._limit = limit
        self._max_retries = max_retries
        self._timeout = timeout
        self._strict = strict
        self._stats = stats
        self._order = 0

    @property
    def stats(self) -> FetchStats:
        """The counters this requester keeps."""
        return self._stats

    @property
    def strict(self) -> bool:
        """Whether values that do not fit raise `SchemaError`."""
        return self._strict

    @property
    def window(self) -> int:
        """How many pages to request at once when the end is unknown."""
        return self._limit.limit

    async def get(self, page: int, per_page: int) -> _Seen:
        """One list page, normalized, retried as needed."""
        params = {"page": page, "perPage": per_page}

        async def parse(body: bytes) -> ParsedPage:
            parsed = probe_page(body, page=page, strict=self._strict)
            if not parsed.pending:
                return parsed
            # Polars reads without the GIL: overlap it with the next probe and socket reads.
            return complete_page(parsed, body, await asyncio.to_thread(read_typed, body))

        parsed = await self.request(
            SESSIONS_PATH, params, where=f"page {page}", page=page, parse=parse
        )
        self._order += 1
        return _Seen(page, parsed.total_items, self._order, parsed)

    async def request(
        self,
        path: str,
        params: dict[str, int] | None,
        *,
        where: str,
        page: int | None,
        parse: Callable[[bytes], Awaitable[T]],
    ) -> T:
        """GET ``path``; retry 408/429/5xx, transport errors and garbled bodies.

        ``parse`` raises `ResponseFormatError` for a body it cannot use (retried
        like a server error).
        """
        attempt = 0
        while True:
            attempt += 1
            outcome, retry_after = await self._attempt(
                path, params, where=where, page=page, attempt=attempt, parse=parse
            )
            if not isinstance(outcome, APIError):
                return outcome
            if attempt > self._max_retries:
                raise outcome
            self._stats.retries += 1
            delay = backoff_delay(attempt, retry_after=retry_after)
            logger.debug("%s: %s; retry %d in %.2fs", where, outcome, attempt, delay)
            await asyncio.sleep(delay)

    async def _attempt(
        self,
        path: str,
        params: dict[str, int] | None,
        *,
        where: str,
        page: int | None,
        attempt: int,
        parse: Callable[[bytes], Awaitable[T]],
    ) -> tuple[T | APIError, float | None]:
        epoch = await self._limit.acquire()
        throttled = False
        self._stats.requests += 1
        # One URL string, parsed once by httpx (URL objects cost ~0.1 ms each here).
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        url = f"{self._base}{path}?{query}" if query else f"{self._base}{path}"
        try:
            try:
                response = await asyncio.wait_for(self._client.get(url), self._timeout)
            except (httpx.TimeoutException, asyncio.TimeoutError) as exc:
                if _refused(exc):
                    return APIConnectionError(
                        f"{where}: connection refused ({url}); is the server up and the "
                        "base URL right?",
                        url=url,
                        page=page,
                    ), None
                return APITimeoutError(
                    f"{where}: no complete answer within {self._timeout:g}s ({url}); "
                    "the server may be overloaded: raise timeout= or lower max_concurrency",
                    url=url,
                    page=page,
                ), None
            except httpx.TransportError as exc:
                return APIConnectionError(
                    f"{where}: connection failed ({type(exc).__name__}: {exc}) ({url}); "
                    "check the network and the base URL",
                    url=url,
                    page=page,
                ), None
            status = response.status_code
            throttled = status == 429
            if throttled:
                self._stats.throttled += 1
        finally:
            self._limit.release(epoch=epoch, throttled=throttled)
        if status != 200:
            retry_after = parse_retry_after(response.headers)
            error = status_error(
                status,
                body=_without_token(response),
                url=url,
                page=page,
                retry_after=retry_after,
                attempts=attempt,
            )
            if status in _FATAL_STATUSES or not should_retry(status):
                raise error
            return error, retry_after
        try:
            # The GIL-bound probe runs on the loop's thread (a worker thread contending
            # for the GIL delays every socket callback); only Polars' GIL-free read is
            # handed to a worker thread.
            return await parse(response.content), None
        except ResponseFormatError as exc:
            exc.url = url
            return exc, None


def _without_token(response: httpx.Response) -> str:
    """The body of an error answer, minus the token if the server echoed it back."""
    body = response.text
    sent = response.request.headers.get("Authorization")
    return body.replace(sent, "<token>") if sent and sent in body else body


def _refused(exc: BaseException) -> bool:
    """Whether a "timeout" is really a refused connection.

    httpx-aiohttp reports aiohttp's ``ClientConnectorError`` (e.g. ECONNREFUSED)
    as ``httpx.ConnectTimeout``; its cause is an `OSError` that is no timeout.
    """
    cause = exc.__cause__
    return isinstance(cause, OSError) and not isinstance(cause, TimeoutError)


def _ids(seen: _Seen) -> set[object]:
    return set(seen.result.rows.get_column("session_id").drop_nulls().to_list())


def _bottom_range(seen: _Seen, per_page: int) -> tuple[int, int] | None:
    """Rows of a page as indices counted from the oldest session (stable under inserts)."""
    if seen.total is None:
        return None
    top = (seen.page - 1) * per_page
    hi = seen.total - top
    return max(hi - seen.result.record_count, 0), max(hi, 0)


def _gaps(
    covered: Iterable[tuple[int, int]], needed: int, needed_from: int = 0
) -> list[tuple[int, int]]:
    """Half-open index ranges in [needed_from, needed) that no range in ``covered`` reaches."""
    gaps: list[tuple[int, int]] = []
    cursor = needed_from
    for lo, hi in sorted(covered):
        if lo > cursor:
            gaps.append((cursor, min(lo, needed)))
        cursor = max(cursor, hi)
        if cursor >= needed:
            break
    if cursor < needed:
        gaps.append((cursor, needed))
    return [(lo, hi) for lo, hi in gaps if lo < hi]


def _pages_for(gaps: list[tuple[int, int]], total_now: int, per_page: int) -> list[int]:
    pages: set[int] = set()
    for lo, hi in gaps:
        # bottom index b sits at top position total_now - 1 - b
        first = (total_now - hi) // per_page + 1
        last = (total_now - 1 - lo) // per_page + 1
        pages.update(range(max(first, 1), max(last, 1) + 1))
    return sorted(pages)


class _Run:
    """One fetch: the paging plan, its bookkeeping, and the final frame."""

    def __init__(
        self,
        pages: _PageClient,
        *,
        per_page: int,
        stats: FetchStats,
        progress: ProgressArg,
        time_range: TimeRange,
    ) -> None:
        self._pages = pages
        self._range = time_range
        self._asked = per_page
        self._stats = stats
        self._seen: list[_Seen] = []
        self._failed: dict[int, BaseException] = {}
        self._sink = make_sink(progress)
        self._planned = 0
        self._done = 0
        self._sessions = 0
        self._ids_checked: set[object] | None = None

    def _record(self, seen: _Seen) -> None:
        self._seen.append(seen)
        self._done += 1
        self._sessions += seen.result.record_count
        self._stats.fast_pages += seen.result.fast
        self._sink.update(self._done, max(self._planned, self._done), self._sessions)

    async def _fetch_many(self, pages: list[int], per_page: int) -> list[_Seen]:
        self._planned += len(pages)
        callback_errors: list[Exception] = []

        async def fetch(page: int) -> _Seen:
            seen = await self._pages.get(page, per_page)
            try:
                self._record(seen)  # as each page arrives, so progress moves during a batch
            except Exception as exc:  # a failing progress callback: raised after the batch
                callback_errors.append(exc)
            return seen

        tasks = [asyncio.ensure_future(fetch(p)) for p in pages]
        out: list[_Seen] = []
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for page, result in zip(pages, results, strict=True):
            if isinstance(result, _Seen):
                out.append(result)
            elif isinstance(result, Exception):
                self._failed[page] = result
            else:
                raise result
        if callback_errors:
            raise callback_errors[0]
        return out

    async def run(self) -> pl.DataFrame:
        try:
            return await self._run()
        finally:
            self._sink.close()

    async def _run(self) -> pl.DataFrame:
        self._planned = 1
        first = await self._pages.get(1, self._asked)
        self._record(first)
        info = first.result
        per_page = self._resolve_per_page(info)
        self._stats.per_page = per_page
        total0 = info.total_items
        self._stats.total_items_at_start = total0
        if info.record_count == 0 or (total0 is not None and total0 <= info.record_count):
            return self._finish(per_page, total0)
        start = 1
        if total0 is None and not (info.per_page or 0) > 0 and info.record_count < per_page:
            # No totals and no page size came back: a short page 1 is either the only page
            # or the server's unannounced cap on the page size. Page 2 tells which.
            probe = await self._fetch_many([2], per_page)
            if probe and probe[0].result.record_count > 0:
                logger.info(
                    "the server serves %d sessions per page without saying so (asked %d)",
                    info.record_count,
                    per_page,
                )
                per_page = self._stats.per_page = info.record_count
                start = 2
        needed_from = 0
        if self._range.since is not None:
            stop = await self._page_down_to_since(per_page, total0)
            if stop is not None:
                needed_from = stop
            else:
                total0 = await self._page_to_the_end(per_page, total0, start=self._last_page())
        else:
            total0 = await self._page_to_the_end(per_page, total0, start=start)
        if total0 is not None and not self._failed:
            await self._repair_shifts(per_page, total0, needed_from)
        return self._finish(per_page, total0)

    def _last_page(self) -> int:
        return max(s.page for s in self._seen)

    def _latest(self, page: int) -> _Seen | None:
        return max((s for s in self._seen if s.page == page), key=lambda s: s.order, default=None)

    async def _page_to_the_end(
        self, per_page: int, total0: int | None, *, start: int
    ) -> int | None:
        """Fetch every page after ``start``; return the total still trusted (None if wrong)."""
        last_page = start
        if total0 is not None:
            last_page = max(math.ceil(total0 / per_page), start)
            await self._fetch_many(list(range(start + 1, last_page + 1)), per_page)
        # Totals missing or too small: go on while the last page is full.
        while not self._failed:
            tail = self._latest(last_page)
            if tail is None or tail.result.record_count < per_page:
                break
            trusted = total0 is not None and tail.total is not None
            if trusted and tail.total is not None and tail.total > last_page * per_page:
                break  # sessions arrived meanwhile: _repair_shifts fetches what moved
            # A full last page: probe one page past it (a window once totals proved wrong).
            width = 1 if trusted else self._pages.window
            window = list(range(last_page + 1, last_page + 1 + width))
            got = await self._fetch_many(window, per_page)
            counts = {s.page: s.result.record_count for s in got}
            newest = self._latest(window[-1])
            if newest is not None and newest.result.record_count and self._repeats(newest):
                warnings.warn(
                    f"page {window[-1]} holds only sessions of earlier pages: the server (or a "
                    "proxy) seems to ignore the page parameter; stopped paging there, so "
                    "sessions may be missing",
                    CompletenessWarning,
                    stacklevel=5,
                )
                return None
            if total0 is not None and any(counts.values()):
                warnings.warn(
                    f"the server reported {total0} sessions but there are more after page "
                    f"{last_page}; fetching on until a short page",
                    CompletenessWarning,
                    stacklevel=5,
                )
                total0 = None
            if any(counts.get(p, 0) < per_page for p in window):
                break
            last_page = window[-1]
        return total0

    def _repeats(self, seen: _Seen) -> bool:
        """Whether ``seen`` holds only session ids of page 1 or of pages checked before.

        Called for the last page of each window fetched past the expected end, so a
        server that ignores ``page`` (serving page 1 again and again) cannot keep the
        fetch going forever; a legitimate page always brings new sessions.
        """
        if self._ids_checked is None:
            first = self._latest(1)
            self._ids_checked = set() if first is None else _ids(first)
        ids = _ids(seen)
        repeated = bool(ids) and ids <= self._ids_checked
        self._ids_checked |= ids
        return repeated

    async def _page_down_to_since(self, per_page: int, total0: int | None) -> int | None:
        """Page newest-first until a page older than ``since``.

        Returns the lowest index (counted from the oldest session) that must be
        covered, or None when the pages turned out not to be newest first (the
        caller then fetches everything and filters).
        """
        since = self._range.since
        assert since is not None
        last_page = 1
        max_page = math.ceil(total0 / per_page) if total0 is not None else None
        while not self._failed:
            if not self._newest_first():
                warnings.warn(
                    "pages are not ordered newest first, so a since= fetch cannot stop early; "
                    "fetching every page and filtering",
                    CompletenessWarning,
                    stacklevel=5,
                )
                self._stats.early_stop = False
                return None
            tail = self._latest(last_page)
            if tail is None:
                break
            older = tail.result.rows.get_column("created_at").lt(since).any()
            if tail.result.record_count < per_page or older:
                self._stats.early_stop = True
                covered = _bottom_range(tail, per_page)
                return covered[0] if covered is not None else 0
            width = self._pages.window
            if max_page is not None and last_page >= max_page:
                width = 1  # at the reported end: probe one page, as for a full fetch
            window = list(range(last_page + 1, last_page + 1 + width))
            got = await self._fetch_many(window, per_page)
            counts = {s.page: s.result.record_count for s in got}
            if any(counts.get(p, 0) < per_page for p in window) and self._newest_first():
                self._stats.early_stop = True
                return 0
            last_page = window[-1]
        return 0

    def _newest_first(self) -> bool:
        """Whether every page seen so far is ordered newest first, within and across pages."""
        bounds: dict[int, tuple[object, object]] = {}
        for s in sorted(self._seen, key=lambda s: s.order):
            created = s.result.rows.get_column("created_at")
            if created.len() == 0:
                continue
            if created.null_count() or not created.is_sorted(descending=True):
                return False
            bounds[s.page] = (created.first(), created.last())
        pages = sorted(bounds)
        return all(
            bounds[a][1] >= bounds[b][0]  # type: ignore[operator]
            for a, b in itertools.pairwise(pages)
            if b == a + 1
        )

    def _resolve_per_page(self, info: ParsedPage) -> int:
        echoed = info.per_page
        if echoed is not None and echoed > 0:
            if echoed != self._asked:
                logger.info("server serves %d sessions per page (asked %d)", echoed, self._asked)
            return echoed
        n = info.record_count
        if 0 < n < self._asked and (info.total_items or 0) > n:
            return n  # clamped without saying so
        return self._asked

    async def _repair_shifts(self, per_page: int, total0: int, needed_from: int = 0) -> None:
        """Re-fetch the pages where sessions that existed at the start may hide.

        ``needed_from`` is the lowest index (from the oldest session) that must
        be covered: 0 for a full fetch, the ``since`` boundary for a range.
        """
        for _ in range(_MAX_REPAIR_ROUNDS):
            totals = [s.total for s in self._seen if s.total is not None]
            if all(t == total0 for t in totals):
                return
            ranges = [r for s in self._seen if (r := _bottom_range(s, per_page)) is not None]
            gaps = _gaps(ranges, total0, needed_from)
            if not gaps:
                return
            latest = max(self._seen, key=lambda s: s.order)
            total_now = latest.total if latest.total is not None else max(totals)
            pages = _pages_for(gaps, total_now, per_page)
            self._stats.repair_rounds += 1
            logger.info(
                "sessions arrived while paging (%d -> %d); re-fetching %d pages",
                total0,
                total_now,
                len(pages),
            )
            await self._fetch_many(pages, per_page)
            if self._failed:
                return
        ranges = [r for s in self._seen if (r := _bottom_range(s, per_page)) is not None]
        if _gaps(ranges, total0, needed_from):
            warnings.warn(
                "sessions kept arriving while paging; some that existed at the start may be "
                f"missing after {_MAX_REPAIR_ROUNDS} repair rounds: fetch again later",
                CompletenessWarning,
                stacklevel=3,
            )

    def _finish(self, per_page: int, total0: int | None) -> pl.DataFrame:
        ordered = [s.result for s in sorted(self._seen, key=lambda s: s.order)]
        rows, problems = assemble(ordered, strict=self._pages.strict)
        self._stats.problems.extend(problems)
        frame = combine_pages([rows])
        fetched = frame.height
        frame = self._range.apply(frame)
        totals = [s.total for s in self._seen if s.total is not None]
        self._stats.total_items_at_end = (
            max(self._seen, key=lambda s: s.order).total if totals else None
        )
        self._stats.pages = len(self._seen)
        self._stats.sessions = frame.height
        if self._failed:
            missing = sorted(self._failed)
            cause = self._failed[missing[0]]
            raise IncompleteFetchError(
                f"{len(missing)} of {len(missing) + len(self._seen)} pages failed after retries "
                f"(first: {cause}); the {frame.height} sessions fetched are in .sessions and the "
                f"missing page numbers (at {per_page} per page) in .missing_pages",
                sessions=frame,
                missing_pages=missing,
                per_page=per_page,
            ) from cause
        if total0 is not None and not self._stats.early_stop and fetched < total0:
            warnings.warn(
                f"the server reported {total0} sessions but {fetched} distinct ones came "
                "back; sessions may have been deleted while paging, or the server's total is off",
                CompletenessWarning,
                stacklevel=3,
            )
        return frame


@contextlib.asynccontextmanager
async def _session(
    credentials: Credentials,
    *,
    base_url: str,
    max_concurrency: int,
    strict: bool,
    max_retries: int,
    timeout: float,
    transport: httpx.AsyncBaseTransport | TransportName,
) -> AsyncIterator[_PageClient]:
    """A requester over a fresh client; fills its `FetchStats` timing on the way out."""
    started = time.perf_counter()
    stats = FetchStats()
    limit = AdaptiveLimit(max_concurrency)
    async with build_client(
        base_url=base_url,
        credentials=credentials,
        max_concurrency=max_concurrency,
        timeout=timeout,
        transport=transport,
    ) as client:
        yield _PageClient(
            client,
            limit=limit,
            max_retries=max_retries,
            timeout=timeout,
            strict=strict,
            stats=stats,
        )
    stats.peak_in_flight = limit.peak_in_flight
    stats.final_concurrency = limit.limit
    stats.seconds = time.perf_counter() - started


async def fetch_frame(
    credentials: Credentials,
    *,
    base_url: str,
    per_page: int,
    max_concurrency: int,
    progress: ProgressArg,
    strict: bool,
    max_retries: int = MAX_RETRIES,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
    time_range: TimeRange | None = None,
) -> tuple[pl.DataFrame, FetchStats]:
    """Fetch every session into one frame; see the module docstring for the plan."""
    async with _session(
        credentials,
        base_url=base_url,
        max_concurrency=max_concurrency,
        strict=strict,
        max_retries=max_retries,
        timeout=timeout,
        transport=transport,
    ) as pages:
        frame = await _Run(
            pages,
            per_page=per_page,
            stats=pages.stats,
            progress=progress,
            time_range=time_range or TimeRange(),
        ).run()
    return frame, pages.stats


async def fetch_one_frame(
    credentials: Credentials,
    session_ids: list[str],
    *,
    base_url: str,
    max_concurrency: int,
    strict: bool,
    max_retries: int = MAX_RETRIES,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
) -> tuple[pl.DataFrame, FetchStats]:
    """Fetch sessions one by one from ``GET .../ai-deployment-sessions/{id}``.

    The endpoint returns no webhook or metadata, so those columns are null.
    Ids the API does not know raise `NotFoundError`.
    """
    async with _session(
        credentials,
        base_url=base_url,
        max_concurrency=max_concurrency,
        strict=strict,
        max_retries=max_retries,
        timeout=timeout,
        transport=transport,
    ) as requester:
        stats = requester.stats

        async def parse(body: bytes) -> tuple[pl.DataFrame, list[Problem]]:
            return parse_session(body, strict=strict)

        async def one(session_id: str) -> pl.DataFrame:
            path = f"{SESSIONS_PATH}/{quote(session_id, safe='')}"
            rows, problems = await requester.request(
                path, None, where=f"session {session_id}", page=None, parse=parse
            )
            stats.problems.extend(problems)
            return rows

        frames = await asyncio.gather(*(one(sid) for sid in session_ids))
    stats.sessions = len(frames)
    return combine_pages(frames), stats
