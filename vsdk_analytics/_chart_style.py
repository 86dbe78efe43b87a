"""Chart style and data: colors, sizes, period labels, and aggregated tables as inline values.

The shared vocabulary of the charts in `vsdk_analytics.charts`: one color per status,
the chart size, how a period is named and labelled, and how a table becomes the
inline JSON values of a Vega-Lite spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Final

import polars as pl

from ._chart_files import altair_module
from ._errors import ConfigurationError

__all__ = [
    "BAR_COLOR",
    "FAILED_COLOR",
    "HEIGHT",
    "NO_STATUS",
    "NO_TAG",
    "OTHER_STATUS_COLORS",
    "STATUS_COLORS",
    "WIDTH",
    "chart_title",
    "chart_values",
    "check_every",
    "duration_text",
    "eager",
    "inline_data",
    "label_format",
    "period_name",
    "status_scale",
]

FAILED_COLOR: Final = "#E45756"
"""The warm red of failed sessions."""

STATUS_COLORS: Final[Mapping[str, str]] = {
    "completed": "#4C78A8",
    "stopped": "#BAB0AC",
    "failed": FAILED_COLOR,
    "starting": "#72B7B2",
    "started": "#54A24B",
    "running": "#54A24B",
    "stopping": "#EECA3B",
}
"""The color of each known status, in stacking order (bottom first)."""

OTHER_STATUS_COLORS: Final = ("#B279A2", "#9D755D", "#FF9DA6", "#79706E")
BAR_COLOR: Final = "#4C78A8"
NO_STATUS: Final = "(no status)"
NO_TAG: Final = "(no tag)"
WIDTH: Final = 640
HEIGHT: Final = 320
_PERIOD_NAMES: Final = {
    "1h": "hour",
    "1d": "day",
    "1w": "week",
    "1mo": "month",
    "1q": "quarter",
    "1y": "year",
}
_HOURLY: Final = frozenset({"ns", "us", "ms", "s", "m", "h"})


def eager(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def chart_values(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: instants as their wall-clock text, floats rounded sensibly.

    An instant is written as the local time of its column's zone with a ``Z``, and the
    charts use a UTC scale, so the axis shows the local wall clock whatever the
    viewer's machine zone is.
    """
    converted = frame.with_columns(
        pl.col(pl.Datetime).dt.replace_time_zone(None).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        pl.col(pl.Float64).round(6),
    )
    return converted.to_dicts()


def inline_data(frame: pl.DataFrame) -> Any:
    return altair_module().Data(values=chart_values(frame))


def chart_title(text: str, subtitle: str | None = None) -> Any:
    alt = altair_module()
    if subtitle is None:
        return alt.TitleParams(text, anchor="start")
    return alt.TitleParams(text, subtitle=subtitle, anchor="start", subtitleColor="#555555")


def status_scale(statuses: Iterable[str]) -> tuple[list[str], list[str]]:
    """Domain and colors for the statuses present: known ones first, in a fixed order."""
    present = set(statuses)
    domain = [s for s in STATUS_COLORS if s in present]
    others = sorted(present - set(STATUS_COLORS))
    colors = [STATUS_COLORS[s] for s in domain]
    colors += [OTHER_STATUS_COLORS[i % len(OTHER_STATUS_COLORS)] for i in range(len(others))]
    return domain + others, colors


def period_name(every: str | timedelta) -> str:
    if isinstance(every, str) and every in _PERIOD_NAMES:
        return _PERIOD_NAMES[every]
    return str(every)


def duration_text(every: str | timedelta) -> str:
    """A Polars duration string for ``every`` (a timedelta becomes microseconds)."""
    if isinstance(every, timedelta):
        return f"{every // timedelta(microseconds=1)}us"
    return every


def label_format(every: str | timedelta) -> str:
    """How to label a period in a tooltip: with the time and zone for sub-day periods."""
    if isinstance(every, timedelta):
        return "%Y-%m-%d %H:%M %Z" if every < timedelta(days=1) else "%Y-%m-%d"
    unit = every.rstrip("0123456789")
    unit = unit[-2:] if unit.endswith(("ns", "us", "ms", "mo")) else unit[-1:]
    return "%Y-%m-%d %H:%M %Z" if unit in _HOURLY else "%Y-%m-%d"


def check_every(every: object) -> str | timedelta:
    if isinstance(every, (str, timedelta)):
        return every
    raise ConfigurationError(
        f"every= must be a Polars duration such as '1d' or a timedelta, got {every!r}"
    )
