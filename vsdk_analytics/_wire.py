"""The wire: one signed GET, answered as status, headers and body bytes.

A fetch sends thousands of small GETs, so every layer above the socket is a per-page
cost. Measured by ``benchmarks/wire.py`` (2,000 GETs, 16 in flight, CPU per request):
bare aiohttp 0.22 ms, `AiohttpWire` 0.30 ms, an `httpx.AsyncClient` over the same
aiohttp pool (``httpx-aiohttp``) 0.70 ms, over httpx's own transport 3.2 ms: URL
objects, cookie extraction, the auth and redirect generators and the response stream
wrappers. So the default wire, `AiohttpWire`, drives aiohttp itself (and never loads
httpx); `vsdk_analytics._httpx_wire.HttpxWire` sends through an `httpx.AsyncClient`, for
``transport="httpx"`` and any `httpx.AsyncBaseTransport` a caller brings
(`httpx.MockTransport` in tests, a corporate proxy's transport).

Both keep one contract, checked by the same tests: ``Authorization: <token>`` from the
`Credentials` (no prefix), minted afresh and sent once more on a 401 when the
credentials can mint (on `AiohttpWire`, the 401s in flight share one re-mint); redirects
never followed (the token must not leave the host); TLS verified
(`httpx.create_ssl_context` for both: certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``);
no proxy or ``.netrc`` from the environment; a request is sent once per attempt
(aiohttp's silent resend on a dropped pooled connection is off: the `Requester` retries,
and counts, itself). Anything that is not an HTTP answer raises
`WireError` with the library's own exception as its cause, for
`vsdk_analytics._transport.classify_transport_error` to read. Each request is logged at
DEBUG as httpx logs its own (``HTTP Request: GET <url> "HTTP/1.1 200 OK"``; the URL
never holds credentials).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import aiohttp
    import httpx

__all__ = ["AiohttpWire", "TokenSource", "Wire", "WireAnswer", "WireError", "error_response"]

logger = logging.getLogger("vsdk_analytics")


@dataclass(frozen=True, slots=True)
class WireAnswer:
    """An HTTP answer: status, headers (case-insensitive) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    token: str = field(default="", repr=False)
    """The token the request was signed with, to remove it from echoed error bodies."""


class WireError(Exception):
    """No HTTP answer came (refused, DNS, TLS, dropped, timed out); see ``__cause__``."""


class TokenSource(Protocol):
    """What a wire needs of `vsdk_analytics.Credentials`: a token, and whether it can mint."""

    @property
    def can_refresh(self) -> bool:
        """Whether a fresh token can be minted (key and secret, not a ready token)."""
        ...

    def token(self, *, force_refresh: bool = False) -> str:
        """The token to sign with (``force_refresh``: a freshly minted one)."""
        ...


class Wire(Protocol):
    """What the `Requester` needs of HTTP."""

    async def get(self, url: str) -> WireAnswer:
        """GET the absolute ``url``, signed; raise `WireError` when no answer came."""
        ...

    async def aclose(self) -> None:
        """Close the connection pool."""
        ...


class AiohttpWire:
    """GETs on one `aiohttp.ClientSession`, created on first use in the running loop."""

    def __init__(
        self,
        *,
        credentials: TokenSource,
        headers: Mapping[str, str],
        max_connections: int,
        timeout: float,
        connect_timeout: float,
        tls: ssl.SSLContext | None,
    ) -> None:
        self._credentials = credentials
        self._headers = dict(headers)
        self._max_connections = max_connections
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self.ssl_context = tls
        """The context HTTPS connections are checked with (None: plain-http base URL)."""
        self._session: aiohttp.ClientSession | None = None
        self._errors: tuple[type[BaseException], ...] = ()
        self._probe: asyncio.Future[bool] | None = None
        """A resend with a fresh token after a 401, in flight: whether it was accepted."""
        self._refused: str | None = None
        """The last fresh token the server refused too (the key is revoked)."""

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (opened on first use, inside the running loop)."""
        if self._session is None:
            import aiohttp  # noqa: PLC0415 - imported when a fetch starts

            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=30.0,
                ssl=self.ssl_context if self.ssl_context is not None else True,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                trust_env=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=self._timeout,
                    sock_connect=self._connect_timeout,
                    sock_read=self._timeout,
                ),
            )
            # aiohttp resends an idempotent request once, silently, when a pooled
            # connection drops; it has no public switch, ``_retry_connection`` is what
            # its ClientSession reads (a test checks it, so an upgrade cannot undo it)
            session._retry_connection = False
            self._session = session
            self._errors = (aiohttp.ClientError, OSError)
        return self._session

    async def get(self, url: str) -> WireAnswer:
        """GET ``url``; on a 401, once more with a freshly minted token (if it can mint)."""
        session = self.session
        try:
            answer = await self._send(session, url, self._credentials.token())
            if answer.status == 401 and self._credentials.can_refresh:
                answer = await self._after_401(session, url, answer)
        except self._errors as exc:
            raise WireError(f"{type(exc).__name__}: {exc}") from exc
        return answer

    async def _after_401(
        self, session: aiohttp.ClientSession, url: str, refused: WireAnswer
    ) -> WireAnswer:
        """A 401: once more with a fresh token, unless that token is known to be refused.

        The 401s of the requests in flight share one re-mint: the first resends at once,
        the others wait for its answer and resend only if it was accepted, so a revoked
        key costs one extra request, not one per request in flight.
        """
        probe = self._probe
        if probe is not None:
            if not await asyncio.shield(probe):
                return refused
            return await self._send(session, url, self._credentials.token())
        if self._refused is not None and self._credentials.token() == self._refused:
            return refused  # the current token was refused already: the key is revoked
        token = self._credentials.token(force_refresh=True)  # may raise: no probe is left
        self._probe = probe = asyncio.get_running_loop().create_future()
        accepted = True  # if this resend fails otherwise, the others try for themselves
        try:
            answer = await self._send(session, url, token)
            accepted = answer.status != 401
            if not accepted:
                self._refused = token
            return answer
        finally:
            self._probe = None
            probe.set_result(accepted)

    @staticmethod
    async def _send(session: aiohttp.ClientSession, url: str, token: str) -> WireAnswer:
        async with session.get(
            url, headers={"Authorization": token}, allow_redirects=False
        ) as response:
            body = await response.read()
            if logger.isEnabledFor(logging.DEBUG):  # as httpx logs its requests
                logger.debug(
                    'HTTP Request: GET %s "HTTP/1.1 %d %s"', url, response.status, response.reason
                )
            return WireAnswer(response.status, response.headers, body, token)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def error_response(url: str, answer: WireAnswer) -> httpx.Response:
    """An answer as an `httpx.Response` (with its `httpx.Request`), for error objects.

    The request carries no ``Authorization`` header and the body no token: error
    objects get printed and logged.
    """
    import httpx  # noqa: PLC0415 - errors only: a fetch that succeeds never loads httpx

    request = httpx.Request("GET", url)
    body = answer.body
    if answer.token and answer.token.encode() in body:
        body = body.replace(answer.token.encode(), b"<token>")
    headers: list[tuple[str, str]] = [
        (k, v)
        for k, v in _items(answer.headers)
        if k.lower() not in {"content-encoding", "content-length", "transfer-encoding"}
    ]
    return httpx.Response(answer.status, headers=headers, content=body, request=request)


def _items(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    multi: Any = getattr(headers, "multi_items", None)
    if callable(multi):  # httpx.Headers: every repeated header
        return list(multi())
    return list(headers.items())  # aiohttp's CIMultiDictProxy: items() repeats them
