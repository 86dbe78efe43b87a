"""Fetch the deployments list: the sessions' paging proof, applied to deployment ids.

``GET /ai/v1/ai-deployments`` pages like the sessions list, so the same `PagingPlanner`
decides what to request and whether the pages prove the list complete (ids shared
between pages, a short last page, honest totals, stitches), and the same
`execute_plan` runs it. Pages are decoded by `decode_deployments_page`; the frame is
`DEPLOYMENTS_SCHEMA`, one row per deployment id (the last answer wins), in the API's
order. The rule holds as for sessions: every deployment, or `IncompleteFetchError`
(``allow_incomplete=True``: the partial frame and a `CompletenessWarning`).
"""

from __future__ import annotations

import time

import polars as pl

from ._constants import DEPLOYMENTS_PATH
from ._deployments import (
    DEPLOYMENTS_SCHEMA,
    DeploymentsPage,
    decode_deployments_page,
    warn_page_problems,
)
from ._fetch import FetchStats, execute_plan, record_requests, settle_incomplete
from ._paging import PageAnswer, PageRequest, PagingPlanner
from ._transport import Requester

__all__ = ["fetch_deployments_frame"]


async def fetch_deployments_frame(
    requester: Requester,
    *,
    per_page: int,
    max_concurrency: int,
    strict: bool = False,
    allow_incomplete: bool = False,
) -> tuple[pl.DataFrame, FetchStats]:
    """Every deployment of the account, as one `DEPLOYMENTS_SCHEMA` frame, and the stats.

    Raises
    ------
    IncompleteFetchError
        The pages could not prove the list complete; ``.sessions`` holds the
        deployments fetched.
    """
    stats = FetchStats()
    started = time.perf_counter()
    before = requester.counters.snapshot()
    planner = PagingPlanner(per_page, lookahead=max(2 * max_concurrency, 4))
    pages: list[tuple[PageRequest, DeploymentsPage]] = []

    async def get(request: PageRequest) -> DeploymentsPage:
        async def parse(body: bytes) -> DeploymentsPage:
            return decode_deployments_page(body, strict=strict)

        return await requester.get(
            DEPLOYMENTS_PATH,
            {"page": request.page, "perPage": request.per_page},
            where=f"deployments page {request.page}"
            + ("" if request.purpose == "page" else f" (of {request.per_page})"),
            page=request.page,
            parse=parse,
        )

    def accept(request: PageRequest, page: DeploymentsPage) -> None:
        pages.append((request, page))
        planner.feed(PageAnswer(request, page.ids, page.total_items))

    try:
        failed, sent = await execute_plan(
            planner, get, accept, in_flight=max(2 * max_concurrency, 4)
        )
    finally:
        record_requests(requester, before, stats)
        stats.seconds = time.perf_counter() - started
    warn_page_problems((page for _, page in pages), stacklevel=4)
    frame = _assemble(pages)
    stats.pages, stats.sessions, stats.stitches = sent, frame.height, planner.stitches
    outcome = planner.outcome()
    stats.per_page = outcome.per_page or planner.per_page
    if outcome.complete:
        return frame, stats
    settled = settle_incomplete(
        outcome,
        failed,
        frame,
        fetched=frame.height,
        answered=bool(pages),
        allow_incomplete=allow_incomplete,
        kept="the deployments fetched are in .sessions",
        what="deployments fetch",
        items="deployments",
    )
    return settled, stats


def _assemble(pages: list[tuple[PageRequest, DeploymentsPage]]) -> pl.DataFrame:
    """One row per deployment id (the latest answer wins), id-less rows kept, in list order.

    List order: main pages by number, then what only extra requests saw.
    """
    if not pages:
        return DEPLOYMENTS_SCHEMA.to_frame()
    ordered = sorted(
        enumerate(pages),
        key=lambda item: (item[1][0].purpose != "page", item[1][0].start, item[0]),
    )
    parts = [
        page.frame.with_columns(pl.lit(arrival, pl.Int64()).alias("_arrival"))
        for arrival, (_, page) in ordered
    ]
    frame = pl.concat(parts, how="vertical").with_row_index("_order")
    with_id = frame.filter(pl.col("deployment_id").is_not_null())
    latest = with_id.sort("_arrival").unique("deployment_id", keep="last")
    first_seen = with_id.group_by("deployment_id").agg(pl.col("_order").min().alias("_first"))
    latest = latest.join(first_seen, on="deployment_id").with_columns(
        pl.col("_first").alias("_order")
    )
    anonymous = frame.filter(
        pl.col("deployment_id").is_null() & pl.col("_arrival").is_in(_main(ordered))
    )
    return (
        pl.concat([latest.drop("_first"), anonymous], how="vertical")
        .sort("_order")
        .drop("_order", "_arrival")
        .select(DEPLOYMENTS_SCHEMA.names())
        .cast(DEPLOYMENTS_SCHEMA)
    )


def _main(ordered: list[tuple[int, tuple[PageRequest, DeploymentsPage]]]) -> list[int]:
    """Arrivals of the first answer of each main page (id-less rows are kept from those)."""
    seen: set[int] = set()
    keep: list[int] = []
    for arrival, (request, _) in ordered:
        if request.purpose == "page" and request.page not in seen:
            seen.add(request.page)
            keep.append(arrival)
    return keep
