"""A fake VideoSDK Agent Cloud API for tests, demos and benchmarks.

Deterministic synthetic sessions (`generate_sessions`) and deployments
(`generate_deployments`) behind the vendor's endpoints, with knobs for page-size caps, lying
``pageInfo``, ordering, rate limits and their headers, server errors, a key revoked mid-fetch,
inserts and deletions during paging, jitter and transport faults (`FakeConfig`). Use it
in-process with ``httpx.MockTransport(FakeVideoSDK().handler)`` or over real HTTP on loopback
with `FakeServer`; ``python -m vsdk_analytics.testing`` serves it from a separate process.

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
from vsdk_analytics.testing._config import (
    FAKE_API_KEY,
    FAKE_SECRET,
    FAULT_KINDS,
    FakeConfig,
    FakeKnobs,
    FakeStats,
    FaultKind,
)
from vsdk_analytics.testing._data import DEFAULT_NOW, FakeSession, SessionStore, generate_sessions
from vsdk_analytics.testing._deployments import FakeDeployment, generate_deployments
from vsdk_analytics.testing._faults import Reply
from vsdk_analytics.testing._server import FakeServer, serve_forever
from vsdk_analytics.testing._service import FakeVideoSDK

__all__ = [
    "DEFAULT_NOW",
    "FAKE_API_KEY",
    "FAKE_SECRET",
    "FAULT_KINDS",
    "FakeConfig",
    "FakeDeployment",
    "FakeKnobs",
    "FakeServer",
    "FakeSession",
    "FakeStats",
    "FakeVideoSDK",
    "FaultKind",
    "Reply",
    "SessionStore",
    "generate_deployments",
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
