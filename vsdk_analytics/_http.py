"""The HTTP client: base URL policy, timeouts, limits, User-Agent and transport.

`resolve_base_url` applies the configuration order (argument, then
``VIDEOSDK_API_ENDPOINT`` or its alias ``VIDEOSDK_API_BASE_URL``, then the default)
and refuses plain ``http://`` except on loopback. `build_client` returns the
`httpx.AsyncClient` the fetcher uses: redirects are never followed (the token must
not reach another host), TLS verification stays on, and the connection pool matches the concurrency.
The default transport is aiohttp's (through ``httpx-aiohttp``): measured 2-4x
cheaper per request than httpx's own async transport (docs/design.md).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import httpx

from ._config import base_url_from_env
from ._constants import (
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_BASE_URL,
    READ_TIMEOUT_SECONDS,
)
from ._credentials import Credentials
from ._errors import ConfigurationError

__all__ = ["TransportName", "build_client", "resolve_base_url", "user_agent"]

TransportName = Literal["aiohttp", "httpx"]


def user_agent() -> str:
    """``vsdk-analytics/<version>``."""
    try:
        v = version("vsdk-analytics")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        v = "0+unknown"
    return f"vsdk-analytics/{v}"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The API's base URL: argument, else ``VIDEOSDK_API_ENDPOINT``, else the default.

    ``VIDEOSDK_API_BASE_URL`` is an alias of ``VIDEOSDK_API_ENDPOINT``. A URL without a
    scheme (``api.videosdk.live``) is refused, not guessed at.

    Raises
    ------
    ConfigurationError
        Not an absolute http(s) URL, plain ``http://`` to a non-loopback host, or the two
        variables set to different values.

    Examples
    --------
    >>> resolve_base_url(None, environ={})
    'https://api.videosdk.live'
    >>> resolve_base_url("http://127.0.0.1:8080/")
    'http://127.0.0.1:8080'
    >>> resolve_base_url("api.videosdk.live")
    Traceback (most recent call last):
    ...
    vsdk_analytics._errors.ConfigurationError: base_url has no scheme: write it as https://<host>
    """
    if base_url is not None:
        raw, source = base_url, "base_url"
    else:
        found = base_url_from_env(os.environ if environ is None else environ)
        raw, source = found if found is not None else (DEFAULT_BASE_URL, "the default base URL")
    raw = raw.strip()
    if "://" not in raw:
        raise ConfigurationError(f"{source} has no scheme: write it as https://<host>")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"{source} is not a valid URL: {exc}") from None
    if url.scheme not in {"http", "https"} or not url.host:
        shown = f", got {raw!r}" if "@" not in raw else ""
        raise ConfigurationError(f"{source} must be an absolute http(s) URL{shown}")
    if url.userinfo or url.query or url.fragment:
        raise ConfigurationError(f"{source} must not contain credentials, a query or a fragment")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ConfigurationError(
            f"{source} uses plain http:// for {url.host!r}; tokens are only sent over https "
            "(plain http is allowed for loopback hosts such as 127.0.0.1, for testing)"
        )
    return str(url).rstrip("/")


def _aiohttp_session(limits: httpx.Limits, tls: ssl.SSLContext) -> Callable[[], Any]:
    """A factory of aiohttp sessions that never resend a request behind our back.

    Its sessions connect with ``tls``, the transport's own ``ssl_context`` (one
    context per client, so what the transport reports is what the sockets check).

    aiohttp silently resends an idempotent request once when a pooled connection drops;
    our retry loop already retries (and counts) it, so each attempt would go out twice.
    aiohttp has no public switch for this; ``_retry_connection`` is the attribute its
    ``ClientSession`` reads (checked by a test, so an aiohttp upgrade cannot undo it).
    """

    def make() -> Any:
        import aiohttp  # noqa: PLC0415 - imported when used

        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=tls,
        )
        session = aiohttp.ClientSession(connector=connector, trust_env=False)
        session._retry_connection = False
        return session

    return make


def build_client(
    *,
    base_url: str,
    credentials: Credentials,
    max_concurrency: int,
    timeout: float = READ_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for the API, signed by ``credentials``.

    Create it inside the coroutine that uses it (it binds to the running loop).
    """
    limits = httpx.Limits(
        max_connections=max_concurrency,
        max_keepalive_connections=max_concurrency,
        keepalive_expiry=30.0,
    )
    timeouts = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_SECONDS, timeout))
    chosen: httpx.AsyncBaseTransport
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - imported when used

        # certificates and host names checked (CERT_REQUIRED, check_hostname), CAs from
        # certifi or SSL_CERT_FILE / SSL_CERT_DIR, as httpx's own transport does
        tls = httpx.create_ssl_context()
        chosen = AiohttpTransport(
            verify=tls, limits=limits, trust_env=False, client=_aiohttp_session(limits, tls)
        )
    elif transport == "httpx":
        chosen = httpx.AsyncHTTPTransport(limits=limits, retries=0)
    elif isinstance(transport, httpx.AsyncBaseTransport):
        chosen = transport
    else:
        raise ConfigurationError(f"unknown transport {transport!r}; use 'aiohttp' or 'httpx'")
    return httpx.AsyncClient(
        base_url=base_url,
        auth=credentials.auth(),
        headers={"User-Agent": user_agent(), "Accept": "application/json"},
        timeout=timeouts,
        follow_redirects=False,
        transport=chosen,
        trust_env=False,
    )
