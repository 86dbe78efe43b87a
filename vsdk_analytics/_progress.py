"""Progress reporting for long fetches: tqdm in a terminal or notebook, silent elsewhere.

``progress=None`` (the default everywhere) shows a bar only when someone can
see it: a Jupyter kernel, or a terminal on stderr. ``True`` forces it,
``False`` silences it, and a callable receives `FetchProgress` updates
(for GUIs, logs or tests).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["FetchProgress", "ProgressArg", "ProgressSink", "make_sink"]


@dataclass(frozen=True, slots=True)
class FetchProgress:
    """A snapshot of a fetch: pages done, pages known so far, sessions received."""

    pages_done: int
    pages_total: int | None
    sessions: int


ProgressArg = bool | Callable[[FetchProgress], None] | None


class ProgressSink(Protocol):
    """What the fetcher reports to."""

    def update(self, pages_done: int, pages_total: int | None, sessions: int) -> None: ...

    def close(self) -> None: ...


class _Null:
    def update(self, pages_done: int, pages_total: int | None, sessions: int) -> None:
        pass

    def close(self) -> None:
        pass


class _Callback:
    def __init__(self, fn: Callable[[FetchProgress], None]) -> None:
        self._fn = fn

    def update(self, pages_done: int, pages_total: int | None, sessions: int) -> None:
        self._fn(FetchProgress(pages_done, pages_total, sessions))

    def close(self) -> None:
        pass


class _Tqdm:
    """A tqdm bar (a widget in Jupyter), drawn at the first update with the total known then.

    A notebook widget drawn without a total is tqdm's "unknown" stub (a full 20 px bar
    whose ``max`` stays 1), and setting ``bar.total`` afterwards never reaches the widget:
    the bar would not move. So the bar is created once the first page answered, and a
    total that appears or changes later goes through ``reset(total=...)``, which updates
    the widget's ``max`` and width, keeping the bar's start time.
    """

    def __init__(self, notebook: bool) -> None:
        if notebook:
            from tqdm.notebook import tqdm  # noqa: PLC0415 - only in Jupyter
        else:
            from tqdm import tqdm  # noqa: PLC0415
        self._tqdm: Any = tqdm
        self._bar: Any = None

    def update(self, pages_done: int, pages_total: int | None, sessions: int) -> None:
        bar = self._bar
        if bar is None:
            bar = self._bar = self._tqdm(
                total=pages_total, unit="page", desc="sessions", leave=True
            )
        elif pages_total is not None and bar.total != pages_total:
            started = bar.start_t
            bar.reset(total=pages_total)  # n back to 0: the update below sets it again
            bar.start_t = started
        bar.set_postfix_str(f"{sessions:,} sessions", refresh=False)
        bar.update(pages_done - bar.n)
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    get = getattr(shell, "get_ipython", None)
    ip = get() if callable(get) else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def make_sink(progress: ProgressArg) -> ProgressSink:
    """Resolve the ``progress=`` argument into a sink."""
    if progress is False:
        return _Null()
    if callable(progress):
        return _Callback(progress)
    notebook = _in_notebook()
    stream = sys.stderr
    interactive = notebook or (stream is not None and stream.isatty())
    if progress is None and not interactive:
        return _Null()
    return _Tqdm(notebook=notebook and _has_widgets())
