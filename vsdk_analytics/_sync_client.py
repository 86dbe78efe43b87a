"""`Client`: `AsyncClient` on a private event-loop thread, for scripts and notebooks.

The pool, the token and the learned rate limit survive between calls, and the calls work
the same in a script and inside Jupyter's running loop (`vsdk_analytics._sync.LoopThread`).
Each method is its `AsyncClient` twin run on that thread, with the twin's parameters
(`_blocking_method`); only `iter_pages`, which collects, is written out.

Examples
--------
>>> from vsdk_analytics.testing import FakeServer
>>> with FakeServer(sessions=120) as server:
...     with Client(server.credentials(), base_url=server.url) as client:
...         first = client.fetch_sessions(progress=False)
...         again = client.fetch_sessions(progress=False)
>>> first.height, again.equals(first)
(120, True)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import polars as pl

from ._client import AsyncClient
from ._constants import DEFAULT_PER_PAGE
from ._credentials import Credentials
from ._errors import ConfigurationError
from ._sync import LoopThread, dress

__all__ = ["Client"]

T = TypeVar("T")
P = ParamSpec("P")


def _options_of(
    make: Callable[P, AsyncClient],
) -> Callable[[Callable[[Client, AsyncClient], None]], Callable[Concatenate[Client, P], None]]:
    """``Client.__init__`` takes `AsyncClient`'s parameters and keeps the client it makes."""

    def decorate(
        keep: Callable[[Client, AsyncClient], None],
    ) -> Callable[Concatenate[Client, P], None]:
        def init(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> None:
            keep(self, make(*args, **kwargs))

        return dress(init, signature=AsyncClient.__init__, documented=keep)

    return decorate


def _blocking_method(
    twin: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]],
) -> Callable[[Callable[[Client], None]], Callable[Concatenate[Client, P], T]]:
    """Decorate a docstring-only method to run ``twin`` on the client's loop thread.

    The method takes ``twin``'s parameters (``__wrapped__`` is ``twin``) and keeps the
    decorated method's name and docstring; the API reference shows them too
    (``tools/griffe_twins.py``).
    """

    def decorate(documented: Callable[[Client], None]) -> Callable[Concatenate[Client, P], T]:
        def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return self._run(twin(self._async, *args, **kwargs))

        return dress(call, signature=twin, documented=documented)

    return decorate


class _Owned:
    """What a `Client` owns: its `AsyncClient` and, once it has run, its loop thread.

    Apart from the `Client`, so that a finalizer can close them without keeping the
    `Client` alive.
    """

    __slots__ = ("client", "thread")

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.thread: LoopThread | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self.thread is None:
            self.thread = LoopThread()
        return self.thread.run(coroutine)

    def close(self) -> None:
        thread, self.thread = self.thread, None
        if thread is not None:
            try:
                thread.run(self.client.aclose())
            finally:
                thread.stop()
        else:
            self.client._closed = True


class Client:
    """The synchronous client: `AsyncClient` on a private event-loop thread.

    Same parameters as `AsyncClient`. Use it with ``with``, or call `close()`; a client
    that is neither is closed when it is garbage-collected or at interpreter exit
    (quietly, like a closed one). Its calls work in scripts and inside a running loop
    (Jupyter) alike, and reuse one connection pool, one token and one learned rate
    limit between calls.
    """

    @_options_of(AsyncClient)
    def __init__(self, client: AsyncClient) -> None:
        self._async = client
        self._owned = _Owned(client)
        # runs once: on close(), when the client is collected, or at interpreter exit
        self._close = weakref.finalize(self, self._owned.close)

    def __repr__(self) -> str:
        return repr(self._async).replace("<AsyncClient", "<Client", 1)

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._async.base_url

    @property
    def credentials(self) -> Credentials:
        """The credentials requests are signed with (a repr never shows the secret)."""
        return self._async.credentials

    @property
    def requests_sent(self) -> int:
        """HTTP requests this client has sent, retries included."""
        return self._async.requests_sent

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and stop the client's thread (idempotent)."""
        self._close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if not self._close.alive:
            coroutine.close()
            raise ConfigurationError("this client is closed; open a new one")
        return self._owned.run(coroutine)

    @_blocking_method(AsyncClient.fetch_sessions_with_stats)
    def fetch_sessions_with_stats(self) -> None:
        """`AsyncClient.fetch_sessions_with_stats`, synchronously."""

    @_blocking_method(AsyncClient.fetch_sessions)
    def fetch_sessions(self) -> None:
        """Every AI deployment session of the account; see `vsdk_analytics.fetch_sessions`."""

    @_blocking_method(AsyncClient.fetch_session)
    def fetch_session(self) -> None:
        """One session by id (a one-row frame)."""

    @_blocking_method(AsyncClient.fetch_session_frames)
    def fetch_session_frames(self) -> None:
        """Several sessions by id, concurrently, with the fetch's `FetchStats`."""

    @_blocking_method(AsyncClient.stream_sessions)
    def stream_sessions(self) -> None:
        """`AsyncClient.stream_sessions`, synchronously.

        ``on_batch`` runs on the client's thread, one batch at a time.
        """

    @_blocking_method(AsyncClient.fetch_deployments)
    def fetch_deployments(self) -> None:
        """Every AI deployment of the account; see `AsyncClient.fetch_deployments`."""

    def iter_pages(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        strict: bool = False,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> list[pl.DataFrame]:
        """`AsyncClient.iter_pages`, collected (a sync caller cannot stream from the loop)."""

        async def collect() -> list[pl.DataFrame]:
            pages = self._async.iter_pages(
                per_page=per_page, strict=strict, since=since, until=until
            )
            return [frame async for frame in pages]

        return self._run(collect())
