"""How the fake API pages a list: the query's ``page``/``perPage`` and the ``pageInfo`` it claims.

Shared by the sessions and deployments lists, so every paging knob of `FakeConfig` (caps,
echoed ``perPage``, lying or missing totals, ignored ``page``, clamping past the end) behaves
the same on both. Pure functions: no state, no I/O.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qs

from vsdk_analytics.testing._config import FakeConfig

__all__ = ["PagePlan", "parse_paging", "plan_page"]


class PagePlan(NamedTuple):
    """What one list request serves.

    Attributes
    ----------
    page
        The 1-based page whose rows are served (differs from the asked one with
        `FakeConfig.ignore_page` or `FakeConfig.clamp_past_end`).
    per_page
        How many rows a page holds (the asked size clamped by `FakeConfig.max_per_page`).
    info
        The ``pageInfo`` object, keys in the vendor's order.
    """

    page: int
    per_page: int
    info: dict[str, int]


def parse_paging(query: str) -> tuple[int, int] | None:
    """``(page, perPage)`` with the vendor's defaults 1 and 10; None when not positive ints.

    Examples
    --------
    >>> parse_paging("page=2&perPage=50"), parse_paging(""), parse_paging("page=0")
    ((2, 50), (1, 10), None)
    """
    values = parse_qs(query, keep_blank_values=True)
    numbers = []
    for name, default in (("page", 1), ("perPage", 10)):
        text = (values.get(name) or [""])[0].strip()
        if not text:
            numbers.append(default)
        elif text.isdigit() and int(text) >= 1:
            numbers.append(int(text))
        else:
            return None
    return numbers[0], numbers[1]


def plan_page(config: FakeConfig, page: int, asked: int, count: int) -> PagePlan:
    """The page served for ``page`` and ``perPage=asked`` of a list of ``count`` rows.

    Examples
    --------
    >>> plan_page(FakeConfig(max_per_page=10), 2, 50, 25)
    PagePlan(page=2, per_page=10, info={'totalItems': 25, 'currentPage': 2, 'perPage': 10, 'total': 25})
    >>> plan_page(FakeConfig(max_per_page=10, echo_per_page="asked", total_mode="pages"), 9, 50, 25)
    PagePlan(page=9, per_page=10, info={'totalItems': 25, 'currentPage': 9, 'perPage': 50, 'total': 1})
    """  # noqa: E501 - doctest output
    per_page = asked if config.max_per_page is None else min(asked, config.max_per_page)
    if config.ignore_page:
        page = 1
    elif config.clamp_past_end:
        page = min(page, max(1, -(-count // per_page)))
    echoed = asked if config.echo_per_page == "asked" else per_page
    claimed = count if config.total_items is None else config.total_items
    pages = -(-claimed // echoed)
    mode = config.total_mode
    info: dict[str, int] = {}
    if mode != "missing":
        info["totalItems"] = pages if mode == "pages_as_items" else claimed
    info["currentPage"] = page
    info["perPage"] = echoed
    if mode == "items":
        info["total"] = claimed
    elif mode in {"pages", "pages_as_items"}:
        info["total"] = pages
    return PagePlan(page, per_page, info)
