"""A fake VideoSDK Agent Cloud API for tests, demos and benchmarks.

Deterministic synthetic sessions (`generate_sessions`) behind the vendor's endpoints, with
knobs for page-size caps, rate limits, server errors, inserts during paging and transport
faults (`FakeConfig`). Use it in-process with ``httpx.MockTransport(FakeVideoSDK().handler)``
or over real HTTP on loopback with `FakeServer`; ``python -m vsdk_analytics.testing`` serves
it from a separate process.

Examples
--------
>>> from vsdk_analytics.testing import FakeServer
>>> with FakeServer(sessions=100, max_per_page=50) as server:
...     server.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vsdk_analytics._retry import set_backoff_scale
from vsdk_analytics.testing._data import DEFAULT_NOW, FakeSession, SessionStore, generate_sessions
from vsdk_analytics.testing._server import FakeServer, serve_forever
from vsdk_analytics.testing._service import (
    FAKE_API_KEY,
    FAKE_SECRET,
    FAULT_KINDS,
    FakeConfig,
    FakeKnobs,
    FakeStats,
    FakeVideoSDK,
    FaultKind,
    Reply,
)

__all__ = [
    "DEFAULT_NOW",
    "FAKE_API_KEY",
    "FAKE_SECRET",
    "FAULT_KINDS",
    "FakeConfig",
    "FakeKnobs",
    "FakeServer",
    "FakeSession",
    "FakeStats",
    "FakeVideoSDK",
    "FaultKind",
    "Reply",
    "SessionStore",
    "generate_sessions",
    "no_backoff",
    "serve_forever",
    "set_backoff_scale",
]


@contextmanager
def no_backoff() -> Iterator[None]:
    """Retry at once inside the block (backoff and ``Retry-After`` waits scaled to 0).

    Examples
    --------
    >>> from vsdk_analytics._retry import backoff_delay
    >>> with no_backoff():
    ...     backoff_delay(5, retry_after=30.0)
    0.0
    """
    previous = set_backoff_scale(0.0)
    try:
        yield
    finally:
        set_backoff_scale(previous)
