"""The HTTP client: base URL policy, timeouts, limits, User-Agent and transport.

`resolve_base_url` applies the configuration order (argument, then
``VIDEOSDK_API_ENDPOINT`` or its alias ``VIDEOSDK_API_BASE_URL``, then the default)
and refuses plain ``http://`` except on loopback. `build_wire` returns the
`vsdk_analytics._wire.Wire` the fetcher sends through: redirects are never followed
(the token must not reach another host), TLS verification stays on, and the connection
pool matches the concurrency. The default drives aiohttp directly: measured about 2x
cheaper per request than an `httpx.AsyncClient` over the same pool (docs/design.md).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from ._config import base_url_from_env
from ._constants import (
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_BASE_URL,
    READ_TIMEOUT_SECONDS,
    library_version,
)
from ._credentials import Credentials
from ._errors import ConfigurationError
from ._wire import AiohttpWire, Wire

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["TransportName", "build_wire", "is_loopback", "resolve_base_url", "user_agent"]

TransportName = Literal["aiohttp", "httpx"]


def user_agent() -> str:
    """``vsdk-analytics/<version>``."""
    return f"vsdk-analytics/{library_version()}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (``[::1]`` as in URLs)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f]")


def _tls_context() -> ssl.SSLContext:
    """The TLS context of httpx, for the aiohttp wire too: both trust the same CAs.

    Certificates and host names checked (CERT_REQUIRED, check_hostname), CAs from
    certifi or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``. Only for https (loading the CAs
    takes about 50 ms); a plain-http (loopback) base URL needs none.
    """
    import httpx  # noqa: PLC0415 - the one thing the aiohttp wire takes from httpx

    return httpx.create_ssl_context()


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
    url = urlsplit(raw)
    try:
        host, _ = url.hostname, url.port  # the port is checked when read
    except ValueError as exc:
        raise ConfigurationError(f"{source} is not a valid URL: {exc}") from None
    scheme = url.scheme.lower()
    if scheme not in {"http", "https"} or not host:
        shown = f", got {raw!r}" if "@" not in raw else ""
        raise ConfigurationError(f"{source} must be an absolute http(s) URL{shown}")
    if "@" in url.netloc or url.query or url.fragment or raw.endswith(("?", "#")):
        raise ConfigurationError(f"{source} must not contain credentials, a query or a fragment")
    if _NOT_IN_URL.search(raw):
        raise ConfigurationError(
            f"{source} is not a valid URL: it holds a space or control character"
        )
    if scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"{source} uses plain http:// for {host!r}; tokens are only sent over https "
            "(plain http is allowed for loopback hosts such as 127.0.0.1, for testing)"
        )
    return f"{scheme}://{url.netloc.lower()}{url.path}".rstrip("/")


def build_wire(
    *,
    base_url: str,
    credentials: Credentials,
    max_concurrency: int,
    timeout: float = READ_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
) -> Wire:
    """The `Wire` for the API, signed by ``credentials``, pooled for ``max_concurrency``.

    ``"aiohttp"`` drives aiohttp directly (`AiohttpWire`); ``"httpx"`` and any
    `httpx.AsyncBaseTransport` go through an `httpx.AsyncClient` (`HttpxWire`). Create
    it inside the coroutine that uses it (a pool binds to the running loop).
    """
    headers = {"User-Agent": user_agent(), "Accept": "application/json"}
    connect = min(CONNECT_TIMEOUT_SECONDS, timeout)
    if transport == "aiohttp":
        tls = _tls_context() if base_url.startswith("https:") else None
        return AiohttpWire(
            credentials=credentials,
            headers=headers,
            max_connections=max_concurrency,
            timeout=timeout,
            connect_timeout=connect,
            tls=tls,
        )
    import httpx  # noqa: PLC0415 - only for the httpx wire (the aiohttp one never loads it)

    from ._httpx_wire import HttpxWire  # noqa: PLC0415 - idem

    limits = httpx.Limits(
        max_connections=max_concurrency,
        max_keepalive_connections=max_concurrency,
        keepalive_expiry=30.0,
    )
    chosen: httpx.AsyncBaseTransport
    if transport == "httpx":
        chosen = httpx.AsyncHTTPTransport(limits=limits, retries=0)
    elif isinstance(transport, httpx.AsyncBaseTransport):
        chosen = transport
    else:
        raise ConfigurationError(f"unknown transport {transport!r}; use 'aiohttp' or 'httpx'")
    return HttpxWire(
        httpx.AsyncClient(
            base_url=base_url,
            auth=credentials.auth(),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect),
            follow_redirects=False,
            transport=chosen,
            trust_env=False,
        )
    )
