"""Real HTTP/1.1 on loopback for the fake API: `FakeServer` (background thread), `serve_forever`.

A deliberately small HTTP/1.1 server on `asyncio.start_server`: request line and headers,
Content-Length bodies, keep-alive (``Connection: close`` honoured), pre-built response bytes
written as they are. Owning the socket is what lets it inject transport faults (a reset
mid-body, a dribbled body, no answer at all) that a framework would hide. All API behaviour
lives in `FakeVideoSDK.respond`; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from vsdk_analytics._constants import TOKEN_TTL_SECONDS
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics.testing._data import encode_json
from vsdk_analytics.testing._service import FakeConfig, FakeVideoSDK, Reply

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self, Unpack

    from vsdk_analytics._credentials import Credentials
    from vsdk_analytics.testing._data import FakeSession
    from vsdk_analytics.testing._service import FakeKnobs, FakeStats

__all__ = ["FakeServer", "serve_forever"]

_MAX_HEAD: Final = 64 * 1024
_SLOW_CHUNKS: Final = 50
_SERVER: Final = "vsdk-analytics-fake"
_JSON_TYPE: Final = (("Content-Type", "application/json; charset=utf-8"),)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _DateCache:
    """The ``Date`` header, formatted at most once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._value = now, email.utils.formatdate(now, usegmt=True)
        return self._value


class _Request:
    __slots__ = ("headers", "keep_alive", "method", "target")

    def __init__(self, method: str, target: str, headers: dict[str, str], version: str) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        self.keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens


def _parse_head(head: bytes) -> _Request | None:
    """Parse a request line and headers (``head`` ends with an empty line); None if malformed."""
    lines = head.decode("latin-1").split("\r\n")
    while lines and not lines[0]:  # RFC 9112 2.2: ignore empty lines before the request
        lines.pop(0)
    if not lines:
        return None
    request_line = lines[0].split(" ")
    if len(request_line) != 3 or request_line[2] not in {"HTTP/1.1", "HTTP/1.0"}:
        return None
    method, target, version = request_line
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return _Request(method, target, headers, version)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset (RST), not an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _HTTPServer:
    """Serves one `FakeVideoSDK` over HTTP/1.1 until an `asyncio.Event` is set."""

    def __init__(self, api: FakeVideoSDK) -> None:
        self._api = api
        self._tasks: set[asyncio.Task[None]] = set()
        self._date = _DateCache()
        self.connections_opened = 0
        """TCP connections accepted so far."""

    async def run(
        self, host: str, port: int, on_ready: Callable[[str], None], stop: asyncio.Event
    ) -> None:
        server = await asyncio.start_server(
            self._connection, host, port, limit=_MAX_HEAD, backlog=1024
        )
        try:
            bound_host, bound_port = server.sockets[0].getsockname()[:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            on_ready(f"http://{shown}:{bound_port}")
            await stop.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections_opened += 1
        # With no high-water mark, drain() returns only once the kernel has every byte, so a
        # request counts as in flight until its response is fully written.
        writer.transport.set_write_buffer_limits(high=0)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Shutdown cancels every connection. End quietly: the task ends right here, and on
            # Python 3.11 a cancelled connection task makes asyncio log a spurious traceback.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request and answer it; whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # the client closed the connection between requests
        except asyncio.LimitOverrunError:
            await self._simple(writer, 431, "request headers too large")
            return False
        request = _parse_head(head)
        if request is None:
            await self._simple(writer, 400, "malformed request")
            return False
        if "transfer-encoding" in request.headers:
            await self._simple(writer, 501, "request bodies must have a Content-Length")
            return False
        length = request.headers.get("content-length", "0")
        if not length.isdigit():
            await self._simple(writer, 400, "bad Content-Length")
            return False
        if int(length):
            await reader.readexactly(int(length))
        self._api.request_started()
        answered = False

        def answering() -> None:  # once: when the answer starts, or the request ends
            nonlocal answered
            if not answered:
                answered = True
                self._api.request_finished()

        try:
            delay = self._api.delay()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                reply = self._api.respond(
                    request.method, request.target, request.headers.get("authorization")
                )
            except Exception as exc:  # a bug must reach the test as an answer, not a hang
                message = f"bug in the fake server: {type(exc).__name__}: {exc}"
                reply = Reply(500, _JSON_TYPE, encode_json({"error": message}))
            return await self._send(reader, writer, request, reply, answering)
        finally:
            answering()

    def _head(self, reply: Reply, length: int, *, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {reply.status} {_phrase(reply.status)}"]
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if reply.status != 204:  # RFC 9110 8.6: no Content-Length in a 204
            lines.append(f"Content-Length: {length}")
        lines.append(f"Date: {self._date()}")
        lines.append(f"Server: {_SERVER}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: _Request,
        reply: Reply,
        answering: Callable[[], None],
    ) -> bool:
        if reply.action == "hang":
            # Never answer; wait until the client gives up (or the server stops).
            while await reader.read(_MAX_HEAD):
                pass
            return False
        # No longer in flight once the answer is on its way: a client that has read it
        # must never see itself counted (FakeStats.in_flight)
        answering()
        keep_alive = request.keep_alive and reply.action != "reset"
        head = self._head(reply, len(reply.body), keep_alive=keep_alive)
        body = b"" if request.method == "HEAD" else reply.body
        if reply.action == "reset":
            writer.write(head + body[: len(body) // 2])
            await writer.drain()
            _reset(writer)
            return False
        writer.write(head)
        if reply.action == "slow" and body:
            chunks = min(_SLOW_CHUNKS, len(body))
            step = -(-len(body) // chunks)
            pause = self._api.config.slow_seconds / chunks
            await writer.drain()
            for offset in range(0, len(body), step):
                await asyncio.sleep(pause)
                writer.write(body[offset : offset + step])
                await writer.drain()
        else:
            if body:
                writer.write(body)
            await writer.drain()
        return keep_alive

    async def _simple(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        reply = Reply(status, _JSON_TYPE, encode_json({"error": message}))
        writer.write(self._head(reply, len(reply.body), keep_alive=False) + reply.body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()


def _make_api(
    api: FakeVideoSDK | None,
    sessions: int | Iterable[FakeSession] | None,
    seed: int,
    config: FakeConfig | None,
    knobs: FakeKnobs,
) -> FakeVideoSDK:
    if api is not None:
        if sessions is not None or config is not None or knobs:
            msg = "give either api= or sessions/config/knobs, not both"
            raise ConfigurationError(msg)
        return api
    return FakeVideoSDK(1000 if sessions is None else sessions, seed=seed, config=config, **knobs)


class FakeServer:
    """The fake VideoSDK API over real HTTP on loopback, served by a background thread.

    The thread runs its own event loop; the server is listening before `start` (or
    ``with``) returns. `close` (or leaving the ``with`` block) stops it and joins the thread.

    Parameters
    ----------
    api
        The fake API to serve; by default one is built from the other arguments.
    host
        Interface to bind (loopback by default).
    port
        Port to bind; 0 picks a free one (see `url`).
    sessions, seed, config, **knobs
        Passed to `FakeVideoSDK` when ``api`` is not given (``sessions`` defaults to 1000).

    Examples
    --------
    >>> import httpx
    >>> with FakeServer(sessions=30) as server:
    ...     answer = httpx.get(
    ...         f"{server.url}/ai/v1/ai-deployment-sessions",
    ...         headers={"Authorization": server.token()},
    ...     )
    >>> answer.json()["pageInfo"]
    {'totalItems': 30, 'currentPage': 1, 'perPage': 10, 'total': 30}
    """

    def __init__(
        self,
        api: FakeVideoSDK | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sessions: int | Iterable[FakeSession] | None = None,
        seed: int = 0,
        config: FakeConfig | None = None,
        **knobs: Unpack[FakeKnobs],
    ) -> None:
        self.api = _make_api(api, sessions, seed, config, knobs)
        """The fake API this server serves (its state, knobs and statistics)."""
        self._host = host
        self._port = port
        self._url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._http: _HTTPServer | None = None

    def __repr__(self) -> str:
        where = self._url or "not started"
        return f"FakeServer({where}, sessions={self.api.session_count})"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (use it as the client's base URL)."""
        if self._url is None:
            msg = "the server is not running; call start() or use it in a with block"
            raise RuntimeError(msg)
        return self._url

    def start(self) -> Self:
        """Start serving; returns once the socket is listening.

        Raises
        ------
        OSError
            When the address cannot be bound.
        """
        if self._thread is not None:
            msg = "the server was already started"
            raise RuntimeError(msg)
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="vsdk-fake-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._url is None:
            self._thread.join()
            self._thread = None
            raise self._take_error() or RuntimeError("the fake server did not start")
        return self

    def _take_error(self) -> BaseException | None:
        error, self._error = self._error, None
        return error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the thread that starts or closes
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def ready(url: str) -> None:
            self._url = url
            self._ready.set()

        self._http = _HTTPServer(self.api)
        await self._http.run(self._host, self._port, ready, self._stop)

    def close(self) -> None:
        """Stop serving, drop open connections and join the thread (idempotent).

        Raises
        ------
        BaseException
            Whatever crashed the server's event loop, if it crashed.
        """
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._thread = self._loop = self._stop = None
        self._url = None
        error = self._take_error()
        if error is not None:
            raise error

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted since `start` (a reused client opens no new ones)."""
        return 0 if self._http is None else self._http.connections_opened

    # Conveniences delegating to the API.

    @property
    def stats(self) -> FakeStats:
        """`FakeVideoSDK.stats` of the served API."""
        return self.api.stats

    def token(self, ttl_seconds: float = TOKEN_TTL_SECONDS) -> str:
        """A valid token for the fake account (see `FakeVideoSDK.token`)."""
        return self.api.token(ttl_seconds)

    def credentials(self) -> Credentials:
        """`vsdk_analytics.Credentials` of the fake account."""
        return self.api.credentials()


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api: FakeVideoSDK | None = None,
    on_ready: Callable[[str], None] | None = None,
    sessions: int | Iterable[FakeSession] | None = None,
    seed: int = 0,
    config: FakeConfig | None = None,
    **knobs: Unpack[FakeKnobs],
) -> None:
    """Serve the fake API in the foreground until interrupted (Ctrl-C returns normally).

    Parameters
    ----------
    host, port
        Where to listen; port 0 picks a free one.
    api
        The fake API; by default built from ``sessions``, ``seed``, ``config`` and knobs.
    on_ready
        Called with the base URL once the socket listens (e.g. to print it).
    sessions, seed, config, **knobs
        As for `FakeServer`.
    """
    served = _make_api(api, sessions, seed, config, knobs)

    async def main() -> None:
        await _HTTPServer(served).run(host, port, on_ready or (lambda _url: None), asyncio.Event())

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
