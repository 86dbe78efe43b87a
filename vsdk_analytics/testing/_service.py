"""The fake VideoSDK API's state and behaviour, independent of any transport.

`FakeVideoSDK.respond` is the one implementation of routing, auth, paging, rate limiting and
fault injection. Two thin adapters expose it: `FakeVideoSDK.handler` (for
`httpx.MockTransport`, in-process) and `vsdk_analytics.testing.FakeServer` (real HTTP on
127.0.0.1). Everything random (errors, faults) comes from one seeded generator, so a run is
reproducible request by request.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import hashlib
import hmac
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, TypedDict, get_args
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from vsdk_analytics._constants import SESSIONS_PATH, TOKEN_TTL_SECONDS
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics.testing._data import FakeSession, SessionStore, _rng, encode_json

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from vsdk_analytics._credentials import Credentials

__all__ = [
    "FAKE_API_KEY",
    "FAKE_SECRET",
    "FAULT_KINDS",
    "FakeConfig",
    "FakeKnobs",
    "FakeStats",
    "FakeVideoSDK",
    "Reply",
]

FAKE_API_KEY: Final = "fake-videosdk-api-key"
"""The API key of the fake account (the ``apikey`` claim its tokens must carry)."""

FAKE_SECRET: Final = "fake-videosdk-secret-for-tests-only-0123456789abcdef"  # noqa: S105 - public
"""The secret of the fake account (public: it protects nothing; 52 bytes, a valid HS256 key)."""

FaultKind = Literal["reset", "truncated", "html200", "slow", "burst429", "hang"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)
"""Faults the list endpoint can inject (see `FakeConfig.faults`)."""

TotalMode = Literal["items", "pages", "missing"]
RetryAfterStyle = Literal["seconds", "http-date", "absent"]
Action = Literal["reset", "slow", "hang"]

_ERROR_STATUSES: Final = (500, 502, 503, 504)
_JSON: Final = "application/json; charset=utf-8"
_HTML: Final = "text/html; charset=utf-8"
_GATEWAY_PAGE: Final = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_MAINTENANCE_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>Scheduled maintenance</title></head>"
    b"<body><h1>We'll be right back</h1><p>VideoSDK is under maintenance.</p></body></html>"
)


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
        Larger ``perPage`` values are clamped to this (the echoed ``perPage`` is clamped);
        ``None``: no limit.
    latency
        Seconds added to every request by the real HTTP server (`FakeServer`); ignored by
        `FakeVideoSDK.handler`.
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
    insert_every
        Every N-th authenticated list request first inserts a new session at the top,
        shifting every later offset by one. ``None``: never.
    total_mode
        ``pageInfo`` totals: ``"items"`` (``total == totalItems``, as the vendor's example),
        ``"pages"`` (``total`` is the page count) or ``"missing"`` (neither key).
    faults
        Probability per list request of each fault in `FAULT_KINDS` (sum at most 1):
        ``reset`` (headers and half the body, then a TCP reset), ``truncated`` (200 with
        half the body and a matching Content-Length), ``html200`` (200 with an HTML page),
        ``slow`` (the body dribbled over `slow_seconds`), ``burst429`` (this and the next
        ``burst_length - 1`` list requests get 429), ``hang`` (no answer until the client
        gives up).
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
    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit: float | None = None
    rate_burst: int | None = None
    retry_after: RetryAfterStyle = "seconds"
    insert_every: int | None = None
    total_mode: TotalMode = "items"
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
            (self.latency >= 0 and self.slow_seconds >= 0, "latency, slow_seconds must be >= 0"),
            (0.0 <= self.error_rate <= 1.0, "error_rate must be within [0, 1]"),
            (self.rate_limit is None or self.rate_limit > 0, "rate_limit must be > 0"),
            (self.rate_burst is None or self.rate_burst >= 1, "rate_burst must be >= 1"),
            (
                self.retry_after in get_args(RetryAfterStyle),
                "retry_after: seconds|http-date|absent",
            ),
            (self.insert_every is None or self.insert_every >= 1, "insert_every must be >= 1"),
            (self.total_mode in get_args(TotalMode), "total_mode must be items|pages|missing"),
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
    latency: float
    error_rate: float
    rate_limit: float | None
    rate_burst: int | None
    retry_after: RetryAfterStyle
    insert_every: int | None
    total_mode: TotalMode
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
        Requests to the list endpoint.
    detail_requests
        Requests to the single-session endpoint.
    pages
        List requests per ``(page, perPage)`` *as requested* (after the defaults 1 and 10,
        before clamping).
    statuses
        Answers per HTTP status (a ``reset`` counts as its 200; a ``hang`` as none).
    faults
        Injected faults per kind (``burst429`` counts every 429 of a burst; ``error`` counts
        the injected 5xx answers).
    in_flight
        Requests being handled right now.
    peak_in_flight
        Most requests handled at once: from request parsed to response written, including
        the `FakeConfig.latency` sleep.
    inserted
        Ids of the sessions inserted (by ``insert_every`` or `FakeVideoSDK.insert_session`),
        oldest first.
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


@dataclass(frozen=True)
class Reply:
    """A transport-independent answer of `FakeVideoSDK.respond`.

    Attributes
    ----------
    status
        HTTP status.
    headers
        Headers other than ``Content-Length``, ``Date``, ``Connection`` and ``Server``.
    body
        The full body (for ``reset``/``slow``: the body the transport cuts or dribbles).
    action
        What the transport must do besides answering: ``None`` (answer normally),
        ``"reset"``, ``"slow"`` or ``"hang"``.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    action: Action | None = None


def _json_reply(status: int, payload: object, *headers: tuple[str, str]) -> Reply:
    return Reply(status, (("Content-Type", _JSON), *headers), encode_json(payload))


def _error(status: int, message: str, *headers: tuple[str, str]) -> Reply:
    return _json_reply(status, {"error": message}, *headers)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(api_key: str, secret: str, *, ttl_seconds: float, now: float) -> str:
    """An HS256 JWT in the vendor's shape (``apikey``, ``permissions``, ``version``, ``roles``)."""
    header = _b64url(encode_json({"alg": "HS256", "typ": "JWT"}))
    iat = int(now)
    claims = {
        "apikey": api_key,
        "permissions": ["allow_join"],
        "version": 2,
        "roles": ["crawler"],
        "iat": iat,
        "exp": iat + int(ttl_seconds),
    }
    signing_input = f"{header}.{_b64url(encode_json(claims))}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


class FakeVideoSDK:
    """The fake VideoSDK Agent Cloud API: sessions, auth, paging, limits and faults.

    Thread-safe. Use `handler` with `httpx.MockTransport`, or serve it over real HTTP with
    `vsdk_analytics.testing.FakeServer`.

    Parameters
    ----------
    sessions
        How many sessions to generate (`generate_sessions` with ``seed``), or the sessions.
    seed
        Seed of the generated sessions, of inserted ones and of injected errors and faults.
    config
        Behaviour knobs; keyword arguments (the fields of `FakeConfig`) override its fields.
    clock
        Monotonic clock of the rate limiter (inject one to test limits without waiting).
    **knobs
        Fields of `FakeConfig`.

    Examples
    --------
    >>> import httpx
    >>> api = FakeVideoSDK(25, max_per_page=10)
    >>> client = httpx.Client(transport=httpx.MockTransport(api.handler))
    >>> page = client.get(
    ...     "https://api.videosdk.live/ai/v1/ai-deployment-sessions?perPage=50",
    ...     headers={"Authorization": api.token()},
    ... ).json()
    >>> len(page["data"]), page["pageInfo"]
    (10, {'totalItems': 25, 'currentPage': 1, 'perPage': 10, 'total': 25})
    """

    def __init__(
        self,
        sessions: int | Iterable[FakeSession] = 1000,
        *,
        seed: int = 0,
        config: FakeConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        **knobs: Unpack[FakeKnobs],
    ) -> None:
        base = config if config is not None else FakeConfig()
        self._config = dataclasses.replace(base, **knobs) if knobs else base
        if isinstance(sessions, int):
            self._store = SessionStore.generate(sessions, seed=seed)
        else:
            self._store = SessionStore(sessions, seed=seed)
        self._clock = clock
        self._lock = threading.Lock()
        self._rng = _rng(f"faults-{seed}")
        self._tokens = float(self._config.bucket_size)
        self._refilled_at = clock()
        self._burst_left = 0
        self._authenticated_lists = 0
        self._valid_tokens: dict[str, float | None] = {}
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._requests = 0
        self._list_requests = 0
        self._detail_requests = 0
        self._pages: Counter[tuple[int, int]] = Counter()
        self._statuses: Counter[int] = Counter()
        self._faults: Counter[str] = Counter()
        self._in_flight = 0
        self._peak_in_flight = 0
        self._inserted: list[str] = []

    def __repr__(self) -> str:
        return (
            f"FakeVideoSDK(sessions={len(self._store)}, api_key={self._config.api_key!r}, "
            f"max_per_page={self._config.max_per_page})"
        )

    # -- configuration and ground truth ---------------------------------------------------

    @property
    def config(self) -> FakeConfig:
        """The behaviour knobs in force."""
        return self._config

    def reconfigure(self, **knobs: Unpack[FakeKnobs]) -> FakeConfig:
        """Change knobs while running (e.g. start failing after some pages).

        Returns
        -------
        FakeConfig
            The new configuration.
        """
        with self._lock:
            self._config = dataclasses.replace(self._config, **knobs)
            self._tokens = min(self._tokens, float(self._config.bucket_size))
            self._valid_tokens.clear()
            return self._config

    @property
    def session_count(self) -> int:
        """How many sessions the account has now."""
        with self._lock:
            return len(self._store)

    def sessions_snapshot(self) -> list[FakeSession]:
        """Every session now, newest first: the ground truth a full fetch must return."""
        with self._lock:
            return self._store.snapshot()

    def session_ids(self) -> list[str]:
        """Every ``sessionId`` now, newest first."""
        with self._lock:
            return self._store.ids()

    def insert_session(self, *, status: str = "starting") -> FakeSession:
        """Insert a session newer than all others (see `SessionStore.insert_session`)."""
        with self._lock:
            return self._insert(status)

    def _insert(self, status: str = "starting") -> FakeSession:
        new = self._store.insert_session(status=status)
        self._inserted.append(new.session_id)
        return new

    def finish_running(self, *, status: str = "completed") -> list[str]:
        """End every running session (see `SessionStore.finish_running`); their ids."""
        with self._lock:
            return self._store.finish_running(status=status)

    def token(self, ttl_seconds: float = TOKEN_TTL_SECONDS) -> str:
        """A valid token for the fake account (a negative ``ttl_seconds`` gives an expired one).

        Parameters
        ----------
        ttl_seconds
            Seconds until it expires.
        """
        return mint_token(
            self._config.api_key, self._config.secret, ttl_seconds=ttl_seconds, now=time.time()
        )

    def credentials(self) -> Credentials:
        """`vsdk_analytics.Credentials` of the fake account (minting its own tokens)."""
        from vsdk_analytics._credentials import Credentials  # noqa: PLC0415 - no import cycle

        return Credentials(api_key=self._config.api_key, secret=self._config.secret)

    # -- statistics -----------------------------------------------------------------------

    @property
    def stats(self) -> FakeStats:
        """A snapshot of the counters (safe to read while serving)."""
        with self._lock:
            return FakeStats(
                requests=self._requests,
                list_requests=self._list_requests,
                detail_requests=self._detail_requests,
                pages=MappingProxyType(dict(self._pages)),
                statuses=MappingProxyType(dict(self._statuses)),
                faults=MappingProxyType(dict(self._faults)),
                in_flight=self._in_flight,
                peak_in_flight=self._peak_in_flight,
                inserted=tuple(self._inserted),
            )

    def reset_stats(self) -> None:
        """Zero every counter (requests in flight stay counted as in flight)."""
        with self._lock:
            in_flight = self._in_flight
            self._reset_counters()
            self._in_flight = self._peak_in_flight = in_flight

    def request_started(self) -> None:
        """A transport parsed a request (counts towards `FakeStats.peak_in_flight`)."""
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def request_finished(self) -> None:
        """A transport finished (or abandoned) the answer to a request."""
        with self._lock:
            self._in_flight -= 1

    # -- the API --------------------------------------------------------------------------

    def respond(self, method: str, target: str, authorization: str | None) -> Reply:
        """Answer one request: the single implementation behind every transport.

        Parameters
        ----------
        method
            HTTP method.
        target
            Path and query string, e.g. ``/ai/v1/ai-deployment-sessions?page=2``.
        authorization
            The ``Authorization`` header, or ``None`` when absent.

        Returns
        -------
        Reply
            Status, headers, body, and what the transport must do besides answering.
        """
        with self._lock:
            reply = self._respond(method, target, authorization)
            if reply.action != "hang":
                self._statuses[reply.status] += 1
            return reply

    def _respond(self, method: str, target: str, authorization: str | None) -> Reply:
        self._requests += 1
        parts = urlsplit(target)
        route = _route(method, parts.path)
        if isinstance(route, Reply):
            return route
        if route is None:
            self._list_requests += 1
            paging = _paging(parts.query)
            if paging is None:
                return _error(400, "page and perPage must be positive integers")
            self._pages[paging] += 1
        else:
            self._detail_requests += 1
        refused = self._rate_limited() or self._check_auth(authorization)
        if refused is not None:
            return refused
        if route is None:
            assert paging is not None
            return self._list(*paging)
        session = self._store.get(route)
        if session is None:
            return _error(404, f"session {route} not found")
        return Reply(200, (("Content-Type", _JSON),), session.detail_body())

    def _list(self, page: int, requested_per_page: int) -> Reply:
        config = self._config
        self._authenticated_lists += 1
        if config.insert_every is not None and self._authenticated_lists % config.insert_every == 0:
            self._insert()
        if self._burst_left > 0:
            self._burst_left -= 1
            self._faults["burst429"] += 1
            return self._too_many(config.burst_retry_after)
        fault: FaultKind | None = None
        if config.error_rate > 0 or config.faults:
            if self._rng.random() < config.error_rate:
                status = _ERROR_STATUSES[int(self._rng.random() * len(_ERROR_STATUSES))]
                self._faults["error"] += 1
                return _server_error(status)
            fault = _choose_fault(config.faults, self._rng.random())
        if fault is not None:
            self._faults[fault] += 1
        if fault == "html200":
            return Reply(200, (("Content-Type", _HTML),), _MAINTENANCE_PAGE)
        if fault == "burst429":
            self._burst_left = config.burst_length - 1
            return self._too_many(config.burst_retry_after)
        per_page = requested_per_page
        if config.max_per_page is not None:
            per_page = min(per_page, config.max_per_page)
        body = self._page_body(page, per_page)
        if fault == "truncated":
            return Reply(200, (("Content-Type", _JSON),), body[: len(body) // 2])
        action: Action | None = None
        if fault == "reset" or fault == "slow" or fault == "hang":  # noqa: PLR1714 - narrows
            action = fault
        return Reply(200, (("Content-Type", _JSON),), body, action)

    def _page_body(self, page: int, per_page: int) -> bytes:
        data, _ = self._store.page_data(page, per_page)
        total_items = len(self._store)
        info: dict[str, int] = {}
        if self._config.total_mode != "missing":
            info["totalItems"] = total_items
        info["currentPage"] = page
        info["perPage"] = per_page
        if self._config.total_mode == "items":
            info["total"] = total_items
        elif self._config.total_mode == "pages":
            info["total"] = -(-total_items // per_page)
        return b'{"data":[' + data + b'],"pageInfo":' + encode_json(info) + b"}"

    def _rate_limited(self) -> Reply | None:
        rate = self._config.rate_limit
        if rate is None:
            return None
        now = self._clock()
        size = float(self._config.bucket_size)
        self._tokens = min(size, self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return self._too_many(max(1, math.ceil((1.0 - self._tokens) / rate)))

    def _too_many(self, seconds: int) -> Reply:
        headers: list[tuple[str, str]] = []
        if self._config.retry_after == "seconds":
            headers.append(("Retry-After", str(seconds)))
        elif self._config.retry_after == "http-date":
            headers.append(
                ("Retry-After", email.utils.formatdate(time.time() + seconds, usegmt=True))
            )
        return _error(429, "Too many requests, please try again later.", *headers)

    def _check_auth(self, authorization: str | None) -> Reply | None:
        if authorization is None or not authorization.strip():
            return _error(401, "missing Authorization header: send the token as its value")
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            return _error(401, "send the token without a 'Bearer ' prefix: Authorization: <token>")
        if token not in self._valid_tokens:
            problem = self._verify(token)
            if problem is not None:
                return _error(401, problem)
        expires = self._valid_tokens[token]
        if expires is not None and expires <= time.time():
            del self._valid_tokens[token]
            return _error(401, "token expired")
        return None

    def _verify(self, token: str) -> str | None:  # noqa: PLR0911 - one return per check
        """Check an HS256 token like the vendor; cache it when valid. Returns the problem."""
        parts = token.split(".")
        if len(parts) != 3:
            return "invalid token: not a JWT"
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except ValueError:
            return "invalid token: not a JWT"
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return "invalid token: the algorithm must be HS256"
        expected = hmac.new(
            self._config.secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(signature, expected):
            return "invalid token: bad signature"
        if not isinstance(claims, dict):
            return "invalid token: the payload is not an object"
        exp = claims.get("exp")
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, (int, float))):
            return "invalid token: exp is not a number"
        if claims.get("apikey") != self._config.api_key:
            return "invalid token: unknown apikey"
        if len(self._valid_tokens) > 256:
            self._valid_tokens.clear()
        self._valid_tokens[token] = None if exp is None else float(exp)
        return None

    # -- the httpx.MockTransport adapter --------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer an `httpx.Request` in-process: pass this to `httpx.MockTransport`.

        Same routing, auth, paging, errors and faults as the real server, except:
        `FakeConfig.latency` and ``slow`` are ignored (the answer is immediate), ``reset``
        raises `httpx.ReadError` and ``hang`` raises `httpx.ReadTimeout`, as httpx
        would over a real connection.
        """
        self.request_started()
        try:
            reply = self.respond(
                request.method,
                request.url.raw_path.decode("ascii"),
                request.headers.get("authorization"),
            )
        finally:
            self.request_finished()
        if reply.action == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer (fake)", request=request)
        if reply.action == "hang":
            raise httpx.ReadTimeout("the fake server never answered (hang)", request=request)
        content = b"" if request.method == "HEAD" else reply.body
        headers = [*reply.headers, ("Content-Length", str(len(reply.body)))]
        return httpx.Response(reply.status, headers=headers, content=content, request=request)


def _route(method: str, path: str) -> Reply | str | None:
    """``None`` for the list endpoint, a session id for the detail endpoint, else an answer."""
    if path.rstrip("/") == SESSIONS_PATH:
        session_id = None
    elif path.startswith(SESSIONS_PATH + "/") and "/" not in path[len(SESSIONS_PATH) + 1 :]:
        session_id = unquote(path[len(SESSIONS_PATH) + 1 :])
    else:  # like Express, the vendor's framework
        page = f"<!DOCTYPE html><html><body><pre>Cannot {method} {path}</pre></body></html>"
        return Reply(404, (("Content-Type", _HTML),), page.encode())
    if method not in {"GET", "HEAD"}:
        return _error(405, f"method {method} not allowed", ("Allow", "GET, HEAD"))
    return session_id


def _paging(query: str) -> tuple[int, int] | None:
    """``(page, perPage)`` with the vendor's defaults 1 and 10; None when not positive ints."""
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


def _choose_fault(faults: Mapping[FaultKind, float], draw: float) -> FaultKind | None:
    cumulative = 0.0
    for kind in FAULT_KINDS:
        cumulative += faults.get(kind, 0.0)
        if draw < cumulative:
            return kind
    return None


def _server_error(status: int) -> Reply:
    phrase = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    if status in (502, 504):
        name = "Bad Gateway" if status == 502 else "Gateway Time-out"
        page = _GATEWAY_PAGE.format(status=status, phrase=name)
        return Reply(status, (("Content-Type", _HTML),), page.encode())
    return _error(status, phrase[status])
