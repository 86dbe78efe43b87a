"""The fake API's knobs (`FakeConfig`, `FakeKnobs`) and counters (`FakeStats`), validated once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, TypedDict, get_args

from vsdk_analytics._errors import ConfigurationError

__all__ = [
    "FAKE_API_KEY",
    "FAKE_SECRET",
    "FAULT_KINDS",
    "EchoPerPage",
    "FakeConfig",
    "FakeKnobs",
    "FakeStats",
    "FaultKind",
    "Order",
    "RetryAfterStyle",
    "TotalMode",
]

FAKE_API_KEY: Final = "fake-videosdk-api-key"
"""The API key of the fake account (the ``apikey`` claim its tokens must carry)."""

FAKE_SECRET: Final = "fake-videosdk-secret-for-tests-only-0123456789abcdef"  # noqa: S105 - public
"""The secret of the fake account (public: it protects nothing; 52 bytes, a valid HS256 key)."""

# New kinds go at the end: the order decides which fault a seeded draw picks.
FaultKind = Literal[
    "reset",
    "truncated",
    "html200",
    "slow",
    "burst429",
    "hang",
    "error200",
    "redirect",
    "no_content",
]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)
"""Faults the list endpoints can inject (see `FakeConfig.faults`)."""

TotalMode = Literal["items", "pages", "missing", "pages_as_items"]
RetryAfterStyle = Literal["seconds", "http-date", "absent"]
EchoPerPage = Literal["served", "asked"]
Order = Literal["newest_first", "oldest_first"]


@dataclass(frozen=True)
class FakeConfig:
    """Behaviour knobs of the fake API (all optional; the defaults behave like the vendor).

    Attributes
    ----------
    api_key
        The account's API key; tokens must carry it as ``apikey``.
    secret
        The account's HS256 secret (never shown in a repr).
    max_per_page
        Larger ``perPage`` values are clamped to this; ``None``: no limit.
    echo_per_page
        What ``pageInfo.perPage`` says: ``"served"`` (the clamped size, as the vendor) or
        ``"asked"`` (the requested size even when `max_per_page` served fewer rows: a
        server that lies about its cap; ``total`` in ``"pages"`` mode then counts pages of
        the asked size too).
    latency
        Seconds added to every request by the real HTTP server (`FakeServer`); ignored by
        `FakeVideoSDK.handler`.
    jitter
        A further random delay in ``[0, jitter]`` seconds per request on the real HTTP
        server, drawn from the seeded generator (so concurrent pages complete out of order).
    error_rate
        Fraction of list requests answered 500, 502, 503 or 504 (502/504 with nginx's HTML).
    rate_limit
        Requests per second allowed (a token bucket over every API request); over it a
        request gets 429. ``None``: no limit.
    rate_burst
        Bucket size: how many requests may come at once. Default ``max(1, rate_limit)``.
    retry_after
        How 429 answers say when to come back: ``"seconds"`` (``Retry-After: 2``),
        ``"http-date"`` (``Retry-After: Wed, 21 Oct 2025 07:28:00 GMT``) or ``"absent"``.
    rate_limit_headers
        With a `rate_limit`, every answer of a request the limiter saw (all but unknown
        paths and malformed ``page``/``perPage``; 429s included) carries
        ``X-RateLimit-Limit`` and ``RateLimit-Limit`` (the bucket size),
        ``X-RateLimit-Remaining`` and ``RateLimit-Remaining`` (whole tokens left after this
        request) and ``X-RateLimit-Reset`` and ``RateLimit-Reset`` (whole seconds, rounded
        up, until the bucket is full again).
    insert_every
        Every N-th authenticated sessions-list request first inserts a new session (the
        newest: at the top for ``newest_first``, at the end for ``oldest_first``).
        ``None``: never.
    delete_every
        Every N-th authenticated sessions-list request first deletes one session, chosen
        anywhere in the list by a seeded generator (ids in `FakeStats.deleted`). Usable
        with `insert_every` (the insert comes first). ``None``: never.
    total_mode
        ``pageInfo`` totals: ``"items"`` (``total == totalItems``, as the vendor's example),
        ``"pages"`` (``total`` is the page count), ``"missing"`` (neither key) or
        ``"pages_as_items"`` (the page count in both ``totalItems`` and ``total``).
    total_items
        A fixed item count the totals claim whatever the real count (e.g. 10, 0, -1 or
        10**12); the page count of ``"pages"``/``"pages_as_items"`` derives from it.
        ``None``: the real count. Not with ``total_mode="missing"``.
    order
        ``"newest_first"`` (``createdAt`` descending, as the vendor) or ``"oldest_first"``.
    ignore_page
        Every list request serves page 1 whatever ``page`` asks (``currentPage: 1``).
    clamp_past_end
        A page past the last one serves the last page (``currentPage`` is the last page's
        number) instead of an empty one.
    fail_after
        After this many authenticated list and detail requests (counted since creation or
        `FakeVideoSDK.reset_stats`), every later one is answered `fail_status` with a JSON
        error body: a key revoked mid-fetch. ``None``: never.
    fail_status
        The status of `fail_after`'s answers: 401 (default), 403, 404, 400 or any 4xx/5xx.
    deployments_status
        Answer every authenticated deployments-list request with this status (404: an
        API without the endpoint, as Express answers an unknown path; 403: a key that may
        not list deployments; any 4xx/5xx). ``None``: served normally.
    faults
        Probability per list request of each fault in `FAULT_KINDS` (sum at most 1):
        ``reset`` (headers and half the body, then a TCP reset), ``truncated`` (200 with
        half the body and a matching Content-Length), ``html200`` (200 with an HTML page),
        ``slow`` (the body dribbled over `slow_seconds`), ``burst429`` (this and the next
        ``burst_length - 1`` list requests get 429), ``hang`` (no answer until the client
        gives up), ``error200`` (200 with ``{"error": "Internal error: try later"}``),
        ``redirect`` (302 to another host) and ``no_content`` (204, empty body).
    burst_length
        Length of a ``burst429`` burst.
    burst_retry_after
        ``Retry-After`` seconds of a ``burst429`` answer.
    slow_seconds
        How long a ``slow`` body takes.
    """

    api_key: str = FAKE_API_KEY
    secret: str = field(default=FAKE_SECRET, repr=False)
    max_per_page: int | None = 1000
    echo_per_page: EchoPerPage = "served"
    latency: float = 0.0
    jitter: float = 0.0
    error_rate: float = 0.0
    rate_limit: float | None = None
    rate_burst: int | None = None
    retry_after: RetryAfterStyle = "seconds"
    rate_limit_headers: bool = False
    insert_every: int | None = None
    delete_every: int | None = None
    total_mode: TotalMode = "items"
    total_items: int | None = None
    order: Order = "newest_first"
    ignore_page: bool = False
    clamp_past_end: bool = False
    fail_after: int | None = None
    fail_status: int = 401
    deployments_status: int | None = None
    faults: Mapping[FaultKind, float] = field(default_factory=dict)
    burst_length: int = 5
    burst_retry_after: int = 1
    slow_seconds: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", MappingProxyType(dict(self.faults)))
        unknown = sorted(set(self.faults) - set(FAULT_KINDS))
        checks = [
            (bool(self.api_key and self.secret), "api_key and secret must not be empty"),
            (self.max_per_page is None or self.max_per_page >= 1, "max_per_page must be >= 1"),
            (self.echo_per_page in get_args(EchoPerPage), "echo_per_page must be served|asked"),
            (
                self.latency >= 0 and self.jitter >= 0 and self.slow_seconds >= 0,
                "latency, jitter, slow_seconds must be >= 0",
            ),
            (0.0 <= self.error_rate <= 1.0, "error_rate must be within [0, 1]"),
            (self.rate_limit is None or self.rate_limit > 0, "rate_limit must be > 0"),
            (self.rate_burst is None or self.rate_burst >= 1, "rate_burst must be >= 1"),
            (
                self.retry_after in get_args(RetryAfterStyle),
                "retry_after: seconds|http-date|absent",
            ),
            (self.insert_every is None or self.insert_every >= 1, "insert_every must be >= 1"),
            (self.delete_every is None or self.delete_every >= 1, "delete_every must be >= 1"),
            (
                self.total_mode in get_args(TotalMode),
                f"total_mode must be one of {'|'.join(get_args(TotalMode))}",
            ),
            (
                self.total_items is None or self.total_mode != "missing",
                "total_items needs totals: not with total_mode='missing'",
            ),
            (self.order in get_args(Order), "order must be newest_first|oldest_first"),
            (self.fail_after is None or self.fail_after >= 0, "fail_after must be >= 0"),
            (400 <= self.fail_status <= 599, "fail_status must be a 4xx or 5xx status"),
            (
                self.deployments_status is None or 400 <= self.deployments_status <= 599,
                "deployments_status must be a 4xx or 5xx status or None",
            ),
            (not unknown, f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}"),
            (all(0.0 <= p <= 1.0 for p in self.faults.values()), "fault odds must be in [0, 1]"),
            (sum(self.faults.values()) <= 1.0 + 1e-9, "fault odds must sum to at most 1"),
            (self.burst_length >= 1, "burst_length must be >= 1"),
            (self.burst_retry_after >= 0, "burst_retry_after must be >= 0"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ConfigurationError("invalid fake API configuration: " + "; ".join(problems))

    @property
    def bucket_size(self) -> int:
        """The rate limiter's bucket size."""
        if self.rate_burst is not None:
            return self.rate_burst
        return max(1, math.floor(self.rate_limit or 1))


class FakeKnobs(TypedDict, total=False):
    """The fields of `FakeConfig`, as keyword arguments of `FakeVideoSDK` and `FakeServer`."""

    api_key: str
    secret: str
    max_per_page: int | None
    echo_per_page: EchoPerPage
    latency: float
    jitter: float
    error_rate: float
    rate_limit: float | None
    rate_burst: int | None
    retry_after: RetryAfterStyle
    rate_limit_headers: bool
    insert_every: int | None
    delete_every: int | None
    total_mode: TotalMode
    total_items: int | None
    order: Order
    ignore_page: bool
    clamp_past_end: bool
    fail_after: int | None
    fail_status: int
    deployments_status: int | None
    faults: Mapping[FaultKind, float]
    burst_length: int
    burst_retry_after: int
    slow_seconds: float


@dataclass(frozen=True)
class FakeStats:
    """What the fake API has seen since it started (or since `FakeVideoSDK.reset_stats`).

    Attributes
    ----------
    requests
        Every request, including unknown paths and rejected ones.
    list_requests
        Requests to the sessions list endpoint.
    detail_requests
        Requests to the single-session endpoint.
    pages
        Sessions-list requests per ``(page, perPage)`` *as requested* (after the defaults
        1 and 10, before clamping).
    statuses
        Answers per HTTP status (a ``reset`` counts as its 200; a ``hang`` as none).
    faults
        Injected faults per kind (``burst429`` counts every 429 of a burst; ``error`` counts
        the injected 5xx answers; ``fail_after`` the answers of `FakeConfig.fail_after`).
    in_flight
        Requests being handled right now.
    peak_in_flight
        Most requests handled at once: from request parsed to response written, including
        the `FakeConfig.latency` and `FakeConfig.jitter` sleep.
    inserted
        Ids of the sessions inserted (by ``insert_every`` or `FakeVideoSDK.insert_session`),
        oldest first.
    deleted
        Ids of the sessions deleted (by ``delete_every`` or `FakeVideoSDK.delete_session`),
        in the order they were deleted.
    deployment_requests
        Requests to the deployments list endpoint.
    authenticated
        List and detail requests that passed the rate limit and authentication (what
        `FakeConfig.fail_after` counts).
    """

    requests: int
    list_requests: int
    detail_requests: int
    pages: Mapping[tuple[int, int], int]
    statuses: Mapping[int, int]
    faults: Mapping[str, int]
    in_flight: int
    peak_in_flight: int
    inserted: tuple[str, ...]
    deleted: tuple[str, ...] = ()
    deployment_requests: int = 0
    authenticated: int = 0
