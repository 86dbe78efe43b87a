"""Run the async core from synchronous code, in a script or inside Jupyter's loop.

With no event loop running, `run_sync` uses `asyncio.run`. Inside a running
loop (Jupyter, IPython, an async framework) it runs the coroutine on a worker
thread with its own loop and waits for it, without patching any loop. Ctrl-C
(KeyboardInterrupt) cancels the coroutine, waits for it to clean up (open
connections closed, no task left behind), then re-raises. Under `asyncio.run`
(Python 3.11+), whose SIGINT handler only cancels the main task (which cannot
run while this thread waits), Python's default handler is put back for the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar

__all__ = ["LoopThread", "blocking", "dress", "run_sync"]

T = TypeVar("T")
P = ParamSpec("P")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``factory()`` to completion and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    return _run_in_thread(factory)


def blocking(
    twin: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[[Callable[[], None]], Callable[P, T]]:
    """Decorate a docstring-only ``def name() -> None`` to be ``twin`` run with `run_sync`.

    The result takes ``twin``'s parameters (``__wrapped__`` is ``twin``) and keeps the
    decorated function's name, module and docstring::

        @blocking(fetch_sessions_async)
        def fetch_sessions() -> None:
            "Fetch every session ... (the sync entry point's docstring)"
    """

    def decorate(documented: Callable[[], None]) -> Callable[P, T]:
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            return run_sync(lambda: twin(*args, **kwargs))

        return dress(call, signature=twin, documented=documented)

    return decorate


F = TypeVar("F", bound=Callable[..., Any])


def dress(call: F, *, signature: Callable[..., Any], documented: Callable[..., Any]) -> F:
    """``call`` with ``signature``'s parameters and ``documented``'s name, module and doc.

    ``call.__wrapped__`` is ``signature``, which `inspect.signature` and ``help()`` follow.
    """
    functools.update_wrapper(call, signature)
    for name in ("__name__", "__qualname__", "__module__", "__doc__"):
        setattr(call, name, getattr(documented, name))
    return call


def _run_in_thread(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = asyncio.new_event_loop()
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            task = loop.create_task(factory())
            box["task"] = task
            box["result"] = loop.run_until_complete(task)
        except BaseException as exc:
            box["error"] = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                done.set()

    thread = threading.Thread(target=target, name="vsdk-analytics-fetch", daemon=True)
    try:
        with _ctrl_c_raises():
            thread.start()
            done.wait()
    except BaseException:
        task = box.get("task")
        if task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        done.wait()
        thread.join()
        raise
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


@contextlib.contextmanager
def _ctrl_c_raises() -> Iterator[None]:
    """Make Ctrl-C raise KeyboardInterrupt here when `asyncio.run`'s handler is installed.

    `asyncio.Runner` (3.11+) handles the first SIGINT by cancelling its main task, which
    is the task blocked in this wait: the interrupt would go unnoticed until the fetch
    ends. Other handlers (an application's own) are left alone.
    """
    runner = getattr(asyncio, "Runner", None)
    handler = signal.getsignal(signal.SIGINT)
    bound = getattr(handler, "func", handler)  # Runner installs partial(self._on_sigint, ...)
    if (
        runner is None
        or threading.current_thread() is not threading.main_thread()
        or not isinstance(getattr(bound, "__self__", None), runner)
    ):
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


class LoopThread:
    """An event loop on a daemon thread of its own, for a sync object that keeps async state.

    `run` submits a coroutine and waits for it (Ctrl-C cancels it and waits for it to clean
    up, as `run_sync` does); `stop` ends the loop and joins the thread.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="vsdk-analytics-client", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the thread's loop and return its result."""
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a client's sync method was called from its own event loop")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            with _ctrl_c_raises():
                return future.result()
        except BaseException:
            if not future.done():
                self._loop.call_soon_threadsafe(future.cancel)
                with contextlib.suppress(BaseException):
                    future.result()
            raise

    def stop(self) -> None:
        """Stop the loop and join the thread (idempotent)."""
        if self._loop.is_closed():
            return

        async def finish() -> None:
            await self._loop.shutdown_asyncgens()
            await self._loop.shutdown_default_executor()

        with contextlib.suppress(BaseException):
            asyncio.run_coroutine_threadsafe(finish(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
