"""The httpx side of the wire: `HttpxWire` and `JWTAuth`, loaded only when httpx is used.

``transport="httpx"`` and any `httpx.AsyncBaseTransport` a caller brings
(`httpx.MockTransport` in tests, a corporate proxy's transport) send through an
`httpx.AsyncClient` signed by `JWTAuth`. The default wire (`vsdk_analytics._wire.AiohttpWire`)
needs none of this, so a fetch on it never imports httpx (about 45 ms, 130 ms where httpx's
command-line extras such as rich are installed).
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from ._wire import TokenSource, WireAnswer, WireError

__all__ = ["HttpxWire", "JWTAuth"]


class JWTAuth(httpx.Auth):
    """Sets ``Authorization: <token>`` (no prefix); on a 401, re-mints once and retries.

    One generator serves both sync and async httpx clients.
    """

    def __init__(self, credentials: TokenSource) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"JWTAuth({self._credentials!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the request; if refused with 401 and a fresh token can be minted, retry once."""
        request.headers["Authorization"] = self._credentials.token()
        response = yield request
        if response.status_code == 401 and self._credentials.can_refresh:
            request.headers["Authorization"] = self._credentials.token(force_refresh=True)
            yield request


class HttpxWire:
    """GETs through an `httpx.AsyncClient` (signed by its `httpx.Auth`)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, url: str) -> WireAnswer:
        """GET ``url`` through the client."""
        try:
            response = await self.client.get(url)
        except httpx.TransportError as exc:
            raise WireError(f"{type(exc).__name__}: {exc}") from exc
        token = response.request.headers.get("Authorization", "")
        return WireAnswer(response.status_code, response.headers, response.content, token)

    async def aclose(self) -> None:
        """Close the client's pool."""
        await self.client.aclose()
