"""The fetch engine: runs the paging plan, concurrently, and assembles the frame.

`fetch_frame` asks the `PagingPlanner` (pure, in `_paging`) what to request, keeps a
bounded number of requests in flight (the limiter inside `Requester` decides how many
actually run at once), feeds each answer back as it arrives, and stops when the planner
has a verdict. The rule it enforces: the frame holds every session that existed for the
whole fetch, exactly once, or the call raises `IncompleteFetchError` (carrying what was
fetched, the failed pages and the unverified positions). ``allow_incomplete=True`` returns
the partial frame with a `CompletenessWarning` instead; no default path does.

Errors that retrying cannot fix (401, 403, 404, other 4xx, a strict schema violation, a
body that is an error message) end the fetch at once: in-flight requests are cancelled
and the typed error is raised. Each body is probed as it arrives (msgspec, on the loop); the Polars
work runs once, vectorized, in `assemble`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from urllib.parse import quote

import polars as pl

from ._batches import ChunkAssembler, PageBatcher
from ._combine import combine_pages
from ._constants import SESSIONS_PATH
from ._errors import (
    APIConnectionError,
    APIStatusError,
    CompletenessWarning,
    IncompleteFetchError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from ._normalize import (
    ParsedPage,
    Problem,
    parse_session,
    probe_page,
)
from ._paging import Outcome, PageAnswer, PageRequest, PagingPlanner
from ._progress import ProgressArg, make_sink
from ._time import iso_instant
from ._transport import RequestCounters, Requester

__all__ = [
    "FetchStats",
    "TimeRange",
    "execute_plan",
    "fetch_frame",
    "fetch_one_frame",
    "record_requests",
    "settle_incomplete",
]

T = TypeVar("T")

_STREAM_BACKLOG = 0
"""Batches a streamed fetch lets its worker fall behind before it waits to send more. 0: the
answers in flight are still read (and probed) while a batch is assembled, but no new page
is asked for until it is emitted, so memory holds about one batch and the pages in flight,
plus the batch the writer thread may still be writing (`written_on_a_thread`, used by
`fetch_sessions_to_parquet` and ``fetch -o``) and, until a second batch comes, the first
one (`ParquetStream.write` holds it). 2,000,000 sessions through ``fetch -o``, measured
2026-12-03: 480-490 MB peak; letting the worker fall 1 batch behind peaked at 512 MB and
2 at 520 MB, before the writer thread existed."""


@dataclass(slots=True)
class FetchStats:
    """What a fetch did: requests, retries, pages, and what the server said.

    Returned by `Client.fetch_sessions_with_stats`, `Client.stream_sessions` and
    `fetch_sessions_to_parquet`.
    """

    per_page: int = 0
    """The page size served (the rows of page 1), which paging used."""
    total_items_at_start: int | None = None
    """``pageInfo.totalItems`` of the first answer (None: the server sent none)."""
    total_items_at_end: int | None = None
    """``pageInfo.totalItems`` of the last answer."""
    pages: int = 0
    """Page requests sent (once each; retries are counted in `retries`)."""
    requests: int = 0
    """HTTP requests sent, retries included."""
    retries: int = 0
    """Requests sent again after a transient failure."""
    throttled: int = 0
    """429 answers."""
    stitches: int = 0
    """Requests beyond the main pages (stitches, probes, second readings) that proved
    the pages link up."""
    peak_in_flight: int = 0
    """Most requests in flight at once."""
    final_concurrency: int = 0
    """The adaptive concurrency limit at the end."""
    fast_pages: int = 0
    """Pages decoded by the fast path (the rest went through the exact one)."""
    early_stop: bool = False
    """Whether paging could stop at ``since`` (it was given and the pages came newest
    first)."""
    sessions: int = 0
    """Sessions returned (or written)."""
    seconds: float = 0.0
    """Wall time of the whole fetch."""
    decode_seconds: float = 0.0
    """Time spent probing bodies (msgspec, on the event loop), summed over pages; it
    overlaps the requests in flight."""
    frame_seconds: float = 0.0
    """Time assembling the pages into the final frame after the last answer (the chunks
    still being assembled, then one deduplicating sort)."""
    problems: list[Problem] = field(default_factory=list)
    """Values that did not fit the schema (each also reported by a warning)."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Keep sessions with ``since <= created_at < until`` (either bound optional, UTC)."""

    since: datetime | None = None
    until: datetime | None = None
    keep_all: bool = False
    """Page down to ``since`` as usual but keep every row fetched (incremental sync)."""

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``frame`` inside the range (all of them with ``keep_all``)."""
        if self.keep_all or (self.since is None and self.until is None):
            return frame
        keep = pl.lit(True)
        if self.since is not None:
            keep = keep & (pl.col("created_at") >= self.since)
        if self.until is not None:
            keep = keep & (pl.col("created_at") < self.until)
        return frame.filter(keep)


# Failures that more requests may get past: the fetch goes on, the page is reported missing.
_TRANSIENT = (APIConnectionError, ServerError, RateLimitError, ResponseFormatError)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ResponseFormatError):
        return bool(getattr(exc, "retryable", True))
    if isinstance(exc, APIStatusError):
        return isinstance(exc, (ServerError, RateLimitError)) or exc.status_code == 408
    return isinstance(exc, _TRANSIENT)


async def execute_plan(
    planner: PagingPlanner,
    get: Callable[[PageRequest], Awaitable[T]],
    accept: Callable[[PageRequest, T], None],
    *,
    in_flight: int,
    on_failure: Callable[[PageRequest], None] | None = None,
) -> tuple[dict[PageRequest, BaseException], int]:
    """Send ``planner``'s requests, at most ``in_flight`` outstanding, until it has a verdict.

    Each answer goes to ``accept`` (which feeds the planner); a request that failed with a
    transient error after its retries is reported to the planner and kept; any other error
    cancels the requests in flight and propagates. Returns the failures and the number of
    requests sent.
    """
    tasks: dict[asyncio.Task[T], PageRequest] = {}
    failed: dict[PageRequest, BaseException] = {}
    sent = 0
    try:
        while True:
            for request in planner.next_requests(in_flight - len(tasks)):
                tasks[asyncio.ensure_future(get(request))] = request
                sent += 1
            if planner.done or not tasks:
                break
            finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                request = tasks.pop(task)
                error = task.exception()
                if error is None:
                    accept(request, task.result())
                elif _transient(error):
                    failed[request] = error
                    planner.failed(request)
                    if on_failure is not None:
                        on_failure(request)
                else:
                    raise error
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    return failed, sent


class _Run:
    """One fetch of the sessions list: the planner's requests, in flight, then the frame."""

    def __init__(
        self,
        requester: Requester,
        *,
        per_page: int,
        max_concurrency: int,
        strict: bool,
        progress: ProgressArg,
        time_range: TimeRange,
        allow_incomplete: bool,
        stats: FetchStats,
        on_batch: Callable[[pl.DataFrame], None] | None = None,
        batch_rows: int = 1,
    ) -> None:
        self._requester = requester
        self._strict = strict
        # streaming: rows go to `on_batch` as they come (in list order), none are kept
        self._batcher = (
            None
            if on_batch is None
            else PageBatcher(
                on_batch, batch_rows=batch_rows, strict=strict, transform=time_range.apply
            )
        )
        self._answered = 0
        self._totals: list[int] = []
        self._range = time_range
        self._allow_incomplete = allow_incomplete
        self._stats = stats
        self._planner = PagingPlanner(
            per_page,
            lookahead=max_concurrency
            if time_range.since is not None
            else max(2 * max_concurrency, 4),
            since_mode=time_range.since is not None,
            compact_ids=on_batch is not None,
        )
        self._in_flight_cap = max(2 * max_concurrency, 4)
        self._assembly = ChunkAssembler(strict=strict)
        self._failed: dict[PageRequest, BaseException] = {}
        self._bounds: dict[int, tuple[object, object]] = {}
        self._sink = make_sink(progress)
        self._sessions = 0
        self._progress_pages: set[int] = set()
        self._progress_shown: tuple[int, int | None] = (0, None)
        self._sent = 0

    async def run(self) -> pl.DataFrame:
        try:
            await self._execute()
            if self._planner.done and self._planner.outcome().complete and self._progress_pages:
                self._report_progress(None, final=True)
            started = time.perf_counter()
            rows, problems = await self._assembly.result()
        except BaseException:
            self._assembly.discard()
            if self._batcher is not None:
                self._batcher.discard()
            raise
        finally:
            self._sink.close()
        return self._finish(rows, problems, started)

    async def _execute(self) -> None:
        batcher = self._batcher

        def failed(request: PageRequest) -> None:
            if request.purpose != "page":
                return
            if batcher is not None:
                batcher.skip(request.page)
            else:
                self._assembly.skip(request.page)

        self._failed, self._sent = await execute_plan(
            self._planner,
            self._get,
            self._accept,
            in_flight=self._in_flight_cap,
            on_failure=failed,
        )
        if batcher is not None:
            await batcher.aclose()

    async def _get(self, request: PageRequest) -> ParsedPage:
        page = request.page
        if self._batcher is not None:  # streaming: memory flat (see _STREAM_BACKLOG)
            await self._batcher.drain(_STREAM_BACKLOG)

        async def parse(body: bytes) -> ParsedPage:
            started = time.perf_counter()
            parsed = probe_page(body, page=page, strict=self._strict)
            self._stats.decode_seconds += time.perf_counter() - started
            return parsed

        return await self._requester.get(
            SESSIONS_PATH,
            {"page": page, "perPage": request.per_page},
            where=f"page {page}"
            + ("" if request.purpose == "page" else f" (of {request.per_page})"),
            page=page,
            parse=parse,
        )

    def _accept(self, request: PageRequest, parsed: ParsedPage) -> None:
        self._answered += 1
        if parsed.total_items is not None:
            self._totals.append(parsed.total_items)
        self._stats.fast_pages += parsed.fast
        # the page's ids and creation times without building its frame: Polars' per-call
        # overhead is paid once per batch, or once for the whole fetch in `_finish`
        ids = parsed.session_ids
        if self._batcher is None:
            self._assembly.add(parsed, request.page if request.purpose == "page" else None)
        else:
            self._stream(request, parsed, ids)
        before = False
        ordered = True
        since = self._range.since
        if since is not None and parsed.record_count:
            created = [None if t is None else iso_instant(t) for t in parsed.created_at]
            known = [c for c in created if c is not None]
            before = any(c < since for c in known)
            ordered = len(known) == len(created) and all(
                a >= b for a, b in itertools.pairwise(known)
            )
            if ordered and request.purpose == "page":
                ordered = self._ordered_across(request.page, known[0], known[-1])
        self._planner.feed(
            PageAnswer(request, ids, parsed.total_items, before, newest_first=ordered)
        )
        if request.purpose != "page":
            return  # a stitch, probe or verify request re-reads the list: not progress
        self._sessions += parsed.record_count
        self._progress_pages.add(request.page)  # page 1 asked again at 10 counts once
        self._report_progress(parsed.total_items)

    def _report_progress(self, total: int | None, *, final: bool = False) -> None:
        """Main pages answered, of those a full fetch needs: ``total // size + 1``.

        Paging ends at the first short page, so a list of ``total`` sessions takes
        ``total // size + 1`` pages (an empty one after an exact multiple). At the end the
        total is what was done (a ``since`` fetch stops early; a list may grow).
        """
        done = len(self._progress_pages)
        shown: int | None = done
        if not final:
            size = self._planner.per_page
            planned = total // size + 1 if total is not None and total >= 0 else None
            shown = None if planned is None else max(planned, done)
        if (done, shown) != self._progress_shown:
            self._progress_shown = (done, shown)
            self._sink.update(done, shown, self._sessions)

    def _stream(self, request: PageRequest, parsed: ParsedPage, ids: list[str | None]) -> None:
        """Hand the page to the batcher with the rows not seen before (id-less: main pages)."""
        assert self._batcher is not None
        main = request.purpose == "page"
        keep = self._planner.fresh(ids, anonymous=main)
        self._batcher.add(request.page if main else None, parsed, keep)

    def _ordered_across(self, page: int, first: object, last: object) -> bool:
        """Whether neighbouring main pages also come newest first."""
        self._bounds[page] = (first, last)
        above, below = self._bounds.get(page - 1), self._bounds.get(page + 1)
        ok = above is None or above[1] >= first  # type: ignore[operator]
        return ok and (below is None or last >= below[0])  # type: ignore[operator]

    def _finish(self, rows: pl.DataFrame, problems: list[Problem], started: float) -> pl.DataFrame:
        """The frame (or the streamed count), the stats, and the verdict on completeness.

        ``rows`` and ``problems``: every answer's, from the `ChunkAssembler`, whose
        remaining work after the last answer began at ``started``.
        """
        if self._batcher is None:
            frame = self._range.apply(combine_pages([rows], unique=self._planner.ids_unique))
            sessions = frame.height
        else:  # streamed: the rows went to on_batch
            problems, frame = self._batcher.problems, rows
            sessions = self._batcher.emitted
        self._stats.problems.extend(problems)
        self._stats.frame_seconds = time.perf_counter() - started
        outcome = self._planner.outcome()
        totals = self._totals
        stats = self._stats
        stats.per_page = outcome.per_page or self._planner.per_page
        stats.total_items_at_start = totals[0] if totals else None
        stats.total_items_at_end = totals[-1] if totals else None
        stats.pages = self._sent
        stats.stitches = self._planner.stitches
        stats.sessions = sessions
        stats.early_stop = self._range.since is not None and self._planner.newest_first
        if self._range.since is not None and not self._planner.newest_first:
            warnings.warn(
                "pages are not ordered newest first, so a since= fetch could not stop early; "
                "every page was fetched and filtered",
                CompletenessWarning,
                stacklevel=4,
            )
        if outcome.complete:
            return frame
        kept = (
            "the sessions fetched are in .sessions"
            if self._batcher is None
            else "the sessions fetched were handed on as they came"
        )
        return settle_incomplete(
            outcome,
            self._failed,
            frame,
            fetched=sessions,
            answered=bool(self._answered),
            allow_incomplete=self._allow_incomplete,
            kept=kept,
        )


def settle_incomplete(
    outcome: Outcome,
    failed: dict[PageRequest, BaseException],
    frame: pl.DataFrame,
    *,
    fetched: int,
    answered: bool,
    allow_incomplete: bool,
    kept: str,
    what: str = "fetch",
    items: str = "sessions",
) -> pl.DataFrame:
    """The end of a fetch the planner could not prove complete: raise, or warn and return.

    Raises the first failure itself when nothing was answered (page 1 failed: the cause
    is the whole story), else `IncompleteFetchError` carrying ``frame``, the failed
    pages and the unverified positions; ``allow_incomplete`` warns
    (`CompletenessWarning`) and returns ``frame`` instead.
    """
    missing = sorted({r.page for r in outcome.failed})
    cause = next(iter(failed.values()), None)
    if not answered and cause is not None:
        raise cause
    detail = f" (first failure: {cause})" if cause is not None else ""
    where = ", ".join(f"{lo}-{hi}" for lo, hi in outcome.unverified[:5])
    message = (
        f"incomplete {what}: {outcome.reason}{detail}; {fetched} {items} fetched"
        + (f"; failed pages (at {outcome.per_page} per page): {missing[:10]}" if missing else "")
        + (f"; unverified list positions: {where}" if where else "")
        + f"; {kept}"
    )
    if allow_incomplete:
        warnings.warn(message, CompletenessWarning, stacklevel=5)
        return frame
    error = IncompleteFetchError(
        message,
        sessions=frame,
        missing_pages=missing,
        per_page=outcome.per_page,
        unverified=list(outcome.unverified),
        reason=outcome.reason,
    )
    raise error from cause


def record_requests(requester: Requester, before: RequestCounters, stats: FetchStats) -> None:
    """Record in ``stats`` the requests, retries and 429s since ``before``, and the peaks."""
    now = requester.counters
    stats.requests = now.requests - before.requests
    stats.retries = now.retries - before.retries
    stats.throttled = now.throttled - before.throttled
    stats.peak_in_flight = requester.peak_in_flight
    stats.final_concurrency = requester.concurrency


async def fetch_frame(
    requester: Requester,
    *,
    per_page: int,
    max_concurrency: int,
    progress: ProgressArg,
    strict: bool,
    time_range: TimeRange | None = None,
    allow_incomplete: bool = False,
    on_batch: Callable[[pl.DataFrame], None] | None = None,
    batch_rows: int = 1,
) -> tuple[pl.DataFrame, FetchStats]:
    """Fetch every session into one frame; see the module docstring for the rule.

    With ``on_batch``, the fetch streams: each session is handed on once, in batches of
    about ``batch_rows`` in the API's order (`PageBatcher`), none is kept, and the frame
    returned is empty (the error, if the fetch is incomplete, is raised all the same).
    """
    stats = FetchStats()
    started = time.perf_counter()
    before = requester.counters.snapshot()
    try:
        frame = await _Run(
            requester,
            per_page=per_page,
            max_concurrency=max_concurrency,
            strict=strict,
            progress=progress,
            time_range=time_range or TimeRange(),
            allow_incomplete=allow_incomplete,
            stats=stats,
            on_batch=on_batch,
            batch_rows=batch_rows,
        ).run()
    finally:
        record_requests(requester, before, stats)
        stats.seconds = time.perf_counter() - started
    return frame, stats


async def fetch_one_frame(
    requester: Requester, session_ids: list[str], *, strict: bool
) -> tuple[pl.DataFrame, FetchStats]:
    """Fetch sessions one by one from ``GET .../ai-deployment-sessions/{id}``.

    The endpoint returns no webhook or metadata, so those columns are null.
    Ids the API does not know raise `NotFoundError`.
    """
    stats = FetchStats()
    started = time.perf_counter()
    before = requester.counters.snapshot()

    async def parse(body: bytes) -> tuple[pl.DataFrame, list[Problem]]:
        return parse_session(body, strict=strict)

    async def one(session_id: str) -> pl.DataFrame:
        path = f"{SESSIONS_PATH}/{quote(session_id, safe='')}"
        rows, problems = await requester.get(
            path, None, where=f"session {session_id}", page=None, parse=parse
        )
        stats.problems.extend(problems)
        return rows

    try:
        frames = await asyncio.gather(*(one(sid) for sid in session_ids))
    finally:
        record_requests(requester, before, stats)
        stats.seconds = time.perf_counter() - started
    stats.sessions = len(frames)
    return combine_pages(frames), stats
