"""An event loop with virtual time: timers fire at once and the clock jumps when all wait.

Waits are checked exactly and cost nothing; work on other threads (the executor) still
wakes the loop through its self-pipe, as on a real loop.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
_DEADLOCK_S = 30.0


class _VirtualSelector(selectors.DefaultSelector):
    """Polls without blocking; when nothing is ready, jumps the loop's clock instead.

    With no timer left, it waits for real (another thread may still wake the loop), and
    calls a deadlock what stays silent for ``_DEADLOCK_S``.
    """

    loop: VirtualLoop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready: list[Any] = super().select(0)
        if not ready and timeout:
            self.loop.now += timeout
        elif not ready and timeout is None:
            ready = super().select(_DEADLOCK_S)
            if not ready:
                raise RuntimeError("deadlock: nothing scheduled and nothing to read")
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def run_virtual(main: Callable[[VirtualLoop], Awaitable[T]]) -> T:
    """Run ``main(loop)`` on a loop whose time only moves when everything waits."""
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()
