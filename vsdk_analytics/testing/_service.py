"""The fake VideoSDK API's state and behaviour, independent of any transport.

`FakeVideoSDK.respond` is the one implementation of routing, auth, paging, rate limiting,
mutations while paging and fault injection. Two thin adapters expose it:
`FakeVideoSDK.handler` (for `httpx.MockTransport`, in-process) and
`vsdk_analytics.testing.FakeServer` (real HTTP on 127.0.0.1). Everything random (errors,
faults, deletions, jitter) comes from generators seeded by the ``seed``, one per purpose, so a
run is reproducible request by request and turning one knob on does not change the others'
draws. Knobs live in `vsdk_analytics.testing._config`, paging in ``_paging``, fault answers and
the rate limiter in ``_faults``, tokens in ``_auth``.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

import httpx

from vsdk_analytics._constants import DEPLOYMENTS_PATH, SESSIONS_PATH, TOKEN_TTL_SECONDS
from vsdk_analytics.testing._auth import TokenChecker, mint_token
from vsdk_analytics.testing._config import (
    FAKE_API_KEY,
    FAKE_SECRET,
    FAULT_KINDS,
    FakeConfig,
    FakeKnobs,
    FakeStats,
    FaultKind,
)
from vsdk_analytics.testing._data import FakeSession, SessionStore, encode_json
from vsdk_analytics.testing._deployments import FakeDeployment, generate_deployments
from vsdk_analytics.testing._faults import (
    ERROR_STATUSES,
    HTML,
    JSON,
    Reply,
    TokenBucket,
    choose_fault,
    error_reply,
    failure,
    fault_reply,
    server_error,
    too_many,
)
from vsdk_analytics.testing._paging import parse_paging, plan_page

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
    "mint_token",
]

_Endpoint = Literal["sessions", "deployments", "detail"]


def _rng(purpose: str, seed: int) -> random.Random:
    return random.Random(f"{purpose}-{seed}")  # noqa: S311 - test behaviour, not security


class FakeVideoSDK:
    """The fake VideoSDK Agent Cloud API: sessions, deployments, auth, paging, limits, faults.

    Thread-safe. Use `handler` with `httpx.MockTransport`, or serve it over real HTTP with
    `vsdk_analytics.testing.FakeServer`.

    Parameters
    ----------
    sessions
        How many sessions to generate (`generate_sessions` with ``seed``), or the sessions.
    seed
        Seed of the generated sessions and deployments, of inserted ones and of injected
        errors, faults, deletions and jitter.
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
        self._seed = seed
        self._given_sessions = not isinstance(sessions, int)
        self._oldest_ms = self._store.oldest_ms
        self._deployments: list[FakeDeployment] | None = None
        self._lock = threading.Lock()
        self._rng = _rng("faults", seed)
        self._delete_rng = _rng("deletes", seed)
        self._jitter_rng = _rng("jitter", seed)
        self._bucket = TokenBucket(self._config.rate_limit or 1.0, self._config.bucket_size, clock)
        self._burst_left = 0
        self._authenticated_lists = 0
        self._tokens = TokenChecker()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._requests = 0
        self._list_requests = 0
        self._detail_requests = 0
        self._deployment_requests = 0
        self._authenticated = 0
        self._pages: Counter[tuple[int, int]] = Counter()
        self._statuses: Counter[int] = Counter()
        self._faults: Counter[str] = Counter()
        self._in_flight = 0
        self._peak_in_flight = 0
        self._inserted: list[str] = []
        self._deleted: list[str] = []

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
            self._bucket.reconfigure(self._config.rate_limit or 1.0, self._config.bucket_size)
            self._tokens.clear()
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
        """Every ``sessionId`` now, newest first (whatever `FakeConfig.order` serves)."""
        with self._lock:
            return self._store.ids()

    def surviving_ids(self) -> list[str]:
        """The sessions that existed for the whole run: what a fetch must return at least.

        The sessions present at creation or at the last `reset_stats`, minus those deleted
        since, newest first (sessions inserted since are left out: a fetch may or may not
        see them).
        """
        with self._lock:
            inserted = set(self._inserted)
            return [sid for sid in self._store.ids() if sid not in inserted]

    def deployments_snapshot(self) -> list[FakeDeployment]:
        """Every deployment, newest first: the ground truth of the deployments endpoint."""
        with self._lock:
            return list(self._deployment_list())

    def _deployment_list(self) -> list[FakeDeployment]:
        if self._deployments is None:
            extra: set[str] = set()
            if self._given_sessions:
                extra = {s.to_dict().get("deploymentId", "") for s in self._store.snapshot()}
                extra.discard("")
            self._deployments = generate_deployments(
                self._seed, sorted(extra), before_ms=self._oldest_ms
            )
        return self._deployments

    def insert_session(self, *, status: str = "starting") -> FakeSession:
        """Insert a session newer than all others (see `SessionStore.insert_session`)."""
        with self._lock:
            return self._insert(status)

    def _insert(self, status: str = "starting") -> FakeSession:
        new = self._store.insert_session(status=status)
        self._inserted.append(new.session_id)
        return new

    def delete_session(self, session_id: str | None = None) -> FakeSession:
        """Delete a session (by id; by default one chosen by the seeded generator).

        Returns
        -------
        FakeSession
            The deleted session (its id is added to `FakeStats.deleted`).

        Raises
        ------
        KeyError
            No session has this id, or there is none left.
        """
        with self._lock:
            if session_id is None:
                deleted = self._delete_random()
                if deleted is None:
                    msg = "no session left to delete"
                    raise KeyError(msg)
                return deleted
            position = self._store.position(session_id)
            if position is None:
                raise KeyError(session_id)
            return self._delete(position)

    def _delete_random(self) -> FakeSession | None:
        if not len(self._store):
            return None
        return self._delete(int(self._delete_rng.random() * len(self._store)))

    def _delete(self, position: int) -> FakeSession:
        removed = self._store.delete_at(position)
        self._deleted.append(removed.session_id)
        return removed

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
                deleted=tuple(self._deleted),
                deployment_requests=self._deployment_requests,
                authenticated=self._authenticated,
            )

    def reset_stats(self) -> None:
        """Zero every counter (requests in flight stay counted as in flight).

        Also restarts `FakeConfig.fail_after`'s count and the run `surviving_ids` describes.
        """
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

    def delay(self) -> float:
        """Seconds the real HTTP server waits before answering the next request.

        `FakeConfig.latency` plus a seeded draw in ``[0, jitter]``.
        """
        with self._lock:
            config = self._config
            extra = self._jitter_rng.random() * config.jitter if config.jitter > 0 else 0.0
            return config.latency + extra

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
        endpoint, session_id = route
        paging = None
        if endpoint == "detail":
            self._detail_requests += 1
        else:
            if endpoint == "sessions":
                self._list_requests += 1
            else:
                self._deployment_requests += 1
            paging = parse_paging(parts.query)
            if paging is None:
                return error_reply(400, "page and perPage must be positive integers")
            if endpoint == "sessions":
                self._pages[paging] += 1
        config = self._config
        wait = None if config.rate_limit is None else self._bucket.take()
        reply = self._answer(endpoint, session_id, paging, wait, authorization)
        if config.rate_limit_headers and config.rate_limit is not None:
            reply = dataclasses.replace(reply, headers=reply.headers + self._bucket.headers())
        return reply

    def _answer(  # noqa: PLR0911 - one return per kind of answer
        self,
        endpoint: _Endpoint,
        session_id: str | None,
        paging: tuple[int, int] | None,
        wait: int | None,
        authorization: str | None,
    ) -> Reply:
        config = self._config
        if wait is not None:
            return too_many(wait, config.retry_after)
        problem = self._tokens.problem(authorization, config.api_key, config.secret)
        if problem is not None:
            return error_reply(401, problem)
        self._authenticated += 1
        if config.fail_after is not None and self._authenticated > config.fail_after:
            self._faults["fail_after"] += 1
            return failure(config.fail_status)
        if endpoint == "detail":
            assert session_id is not None
            session = self._store.get(session_id)
            if session is None:
                return error_reply(404, f"session {session_id} not found")
            return Reply(200, (("Content-Type", JSON),), session.detail_body())
        assert paging is not None
        if endpoint == "sessions":
            return self._sessions_page(*paging)
        if config.deployments_status == 404:  # no such endpoint: Express's answer
            return _cannot("GET", DEPLOYMENTS_PATH)
        if config.deployments_status is not None:
            return failure(config.deployments_status)
        return self._deployments_page(*paging)

    def _sessions_page(self, page: int, asked: int) -> Reply:
        config = self._config
        self._authenticated_lists += 1
        if config.insert_every is not None and self._authenticated_lists % config.insert_every == 0:
            self._insert()
        if config.delete_every is not None and self._authenticated_lists % config.delete_every == 0:
            self._delete_random()
        spoiled, fault = self._spoil()
        if spoiled is not None:
            return spoiled
        plan = plan_page(config, page, asked, len(self._store))
        oldest_first = config.order == "oldest_first"
        data, _ = self._store.page_data(plan.page, plan.per_page, oldest_first=oldest_first)
        return self._page(data, plan.info, fault)

    def _deployments_page(self, page: int, asked: int) -> Reply:
        spoiled, fault = self._spoil()
        if spoiled is not None:
            return spoiled
        deployments = self._deployment_list()
        if self._config.order == "oldest_first":
            deployments = deployments[::-1]
        plan = plan_page(self._config, page, asked, len(deployments))
        lo = (plan.page - 1) * plan.per_page
        data = b",".join(d.body for d in deployments[lo : lo + plan.per_page])
        return self._page(data, plan.info, fault)

    def _page(self, data: bytes, info: dict[str, int], fault: FaultKind | None) -> Reply:
        body = b'{"data":[' + data + b'],"pageInfo":' + encode_json(info) + b"}"
        if fault is not None:
            return fault_reply(fault, body)
        return Reply(200, (("Content-Type", JSON),), body)

    def _spoil(self) -> tuple[Reply | None, FaultKind | None]:
        """A list request's 429 burst, injected 5xx or fault (drawn in a fixed order)."""
        config = self._config
        if self._burst_left > 0:
            self._burst_left -= 1
            self._faults["burst429"] += 1
            return too_many(config.burst_retry_after, config.retry_after), None
        fault: FaultKind | None = None
        if config.error_rate > 0 or config.faults:
            if self._rng.random() < config.error_rate:
                status = ERROR_STATUSES[int(self._rng.random() * len(ERROR_STATUSES))]
                self._faults["error"] += 1
                return server_error(status), None
            fault = choose_fault(config.faults, self._rng.random())
        if fault is not None:
            self._faults[fault] += 1
        if fault == "burst429":
            self._burst_left = config.burst_length - 1
            return too_many(config.burst_retry_after, config.retry_after), None
        return None, fault

    # -- the httpx.MockTransport adapter --------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer an `httpx.Request` in-process: pass this to `httpx.MockTransport`.

        Same routing, auth, paging, errors and faults as the real server, except:
        `FakeConfig.latency`, `FakeConfig.jitter` and ``slow`` are ignored (the answer is
        immediate), ``reset`` raises `httpx.ReadError` and ``hang`` raises
        `httpx.ReadTimeout`, as httpx would over a real connection.
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
        headers = list(reply.headers)
        if reply.status != 204:
            headers.append(("Content-Length", str(len(reply.body))))
        return httpx.Response(reply.status, headers=headers, content=content, request=request)


def _cannot(method: str, path: str) -> Reply:
    """The 404 of a path the API does not serve, as Express (the vendor's framework) words it."""
    page = f"<!DOCTYPE html><html><body><pre>Cannot {method} {path}</pre></body></html>"
    return Reply(404, (("Content-Type", HTML),), page.encode())


def _route(method: str, path: str) -> Reply | tuple[_Endpoint, str | None]:
    """The endpoint and session id (for the detail endpoint), or the answer to give."""
    route: tuple[_Endpoint, str | None]
    rest = path[len(SESSIONS_PATH) + 1 :]
    if path.rstrip("/") == SESSIONS_PATH:
        route = ("sessions", None)
    elif path.rstrip("/") == DEPLOYMENTS_PATH:
        route = ("deployments", None)
    elif path.startswith(SESSIONS_PATH + "/") and "/" not in rest:
        route = ("detail", unquote(rest))
    else:
        return _cannot(method, path)
    if method not in {"GET", "HEAD"}:
        return error_reply(405, f"method {method} not allowed", ("Allow", "GET, HEAD"))
    return route
