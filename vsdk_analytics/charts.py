"""Charts of a sessions frame: Altair charts built on the analytics helpers.

Each ``*_chart`` function takes a sessions frame (`SESSIONS_SCHEMA`, a
`polars.DataFrame` or `polars.LazyFrame`), computes its table with the matching
helper of `vsdk_analytics` (`duration_histogram`, `status_breakdown`, `tag_counts`,
`sessions_over_time`, `peak_concurrency`) and returns an Altair chart, which renders
inline in Jupyter. `save_charts` writes all five to a directory as HTML and PNG.

The data is always embedded in the chart as inline values (never a URL or a file
next to it), already aggregated, so a chart of a million sessions is a few hundred
rows. PNG, SVG and HTML files are written by ``vl-convert`` without a browser or a
network, and the HTML pages embed the Vega JavaScript, so they draw offline too
(``cdn=True`` loads it from a CDN instead). Times are shown in ``time_zone`` (default
UTC; an IANA name), bucketed by that zone's calendar exactly as the helpers bucket
them, and "now" (where sessions still open stop counting) is the frame's snapshot
time unless ``now=`` is given, as in `vsdk_analytics.peak_concurrency`. Statuses
keep one color everywhere: ``failed`` is red, ``completed`` blue, ``stopped`` grey,
running ones green and yellow.

Altair and vl-convert are optional: ``pip install 'vsdk-analytics[charts]'``. This
module imports them only when a chart is built.

Examples
--------
>>> import polars as pl
>>> from vsdk_analytics.charts import status_breakdown_chart
>>> frame = pl.DataFrame({"status": ["completed", "completed", "failed"]})
>>> chart = status_breakdown_chart(frame)
>>> [row["status"] for row in chart.to_dict()["data"]["values"]]
['completed', 'failed']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from ._chart_files import SpecWriter, altair_module, check_formats
from ._chart_style import (
    BAR_COLOR,
    FAILED_COLOR,
    HEIGHT,
    NO_STATUS,
    NO_TAG,
    STATUS_COLORS,
    WIDTH,
    chart_title,
    check_every,
    duration_text,
    eager,
    inline_data,
    label_format,
    period_name,
    status_scale,
)
from ._errors import ConfigurationError
from ._helpers import (
    DEFAULT_STATUSES,
    duration_histogram,
    peak_concurrency,
    sessions_over_time,
    status_breakdown,
    tag_counts,
)
from ._time import check_time_zone

if TYPE_CHECKING:
    import altair

__all__ = [
    "CHART_NAMES",
    "FAILED_COLOR",
    "STATUS_COLORS",
    "duration_histogram_chart",
    "peak_concurrency_chart",
    "save_charts",
    "sessions_over_time_chart",
    "status_breakdown_chart",
    "tag_counts_chart",
]

CHART_NAMES: Final = (
    "duration_histogram",
    "status_breakdown",
    "tag_counts",
    "sessions_over_time",
    "peak_concurrency",
)
"""The charts `save_charts` writes, by file name stem, in order."""


# ---------------------------------------------------------------------------
# The charts
# ---------------------------------------------------------------------------


def duration_histogram_chart(
    frame: pl.DataFrame | pl.LazyFrame, *, edges: Sequence[float] | None = None
) -> altair.LayerChart:
    """Sessions per duration bin (0-15 s, 15-30 s, ... 1 h+), as bars labelled with counts.

    Parameters
    ----------
    frame
        A sessions frame.
    edges
        Bin edges in seconds (see `vsdk_analytics.duration_histogram`).

    Returns
    -------
    altair.LayerChart
        Bars and their count labels. Running sessions have no duration and are left out.
    """
    alt = altair_module()
    table = duration_histogram(frame.lazy(), edges=edges).collect()
    with_duration = int(table.get_column("sessions").sum())
    labels = table.get_column("label").to_list()
    base = alt.Chart(inline_data(table)).encode(
        x=alt.X("label:N", sort=labels, title="Duration", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sessions:Q", title="Sessions"),
        tooltip=[
            alt.Tooltip("label:N", title="Duration"),
            alt.Tooltip("sessions:Q", title="Sessions", format=","),
            alt.Tooltip("share:Q", title="Share", format=".1%"),
        ],
    )
    bars = base.mark_bar(color=BAR_COLOR, cornerRadiusTopLeft=2, cornerRadiusTopRight=2)
    text = base.mark_text(dy=-6, fontSize=11, color="#333333").encode(
        text=alt.Text("sessions:Q", format=",")
    )
    title = chart_title(
        "Session durations",
        f"{with_duration:,} sessions with a duration (running sessions have none yet)",
    )
    chart: altair.LayerChart = alt.layer(bars, text).properties(
        title=title, width=WIDTH, height=HEIGHT
    )
    return chart


def status_breakdown_chart(frame: pl.DataFrame | pl.LazyFrame) -> altair.LayerChart:
    """Sessions per status, as horizontal bars labelled with their share.

    Parameters
    ----------
    frame
        A sessions frame.

    Returns
    -------
    altair.LayerChart
        Bars and share labels; ``failed`` is red. A null status shows as "(no status)".
    """
    alt = altair_module()
    table = (
        status_breakdown(frame.lazy()).collect().with_columns(pl.col("status").fill_null(NO_STATUS))
    )
    total = int(table.get_column("sessions").sum())
    domain, colors = status_scale(table.get_column("status").to_list())
    order = table.get_column("status").to_list()
    base = alt.Chart(inline_data(table)).encode(
        y=alt.Y("status:N", sort=order, title=None),
        x=alt.X("sessions:Q", title="Sessions"),
        tooltip=[
            alt.Tooltip("status:N", title="Status"),
            alt.Tooltip("sessions:Q", title="Sessions", format=","),
            alt.Tooltip("share:Q", title="Share", format=".1%"),
        ],
    )
    bars = base.mark_bar().encode(
        color=alt.Color("status:N", scale=alt.Scale(domain=domain, range=colors), legend=None)
    )
    text = base.mark_text(align="left", dx=4, fontSize=11, color="#333333").encode(
        text=alt.Text("share:Q", format=".1%")
    )
    chart: altair.LayerChart = alt.layer(bars, text).properties(
        title=chart_title("Sessions by status", f"{total:,} sessions"),
        width=WIDTH,
        height=max(60, 28 * len(order)),
    )
    return chart


def tag_counts_chart(frame: pl.DataFrame | pl.LazyFrame, top: int = 15) -> altair.LayerChart:
    """Sessions per tag: the ``top`` tags as horizontal bars, the rest summed as "Other".

    Parameters
    ----------
    frame
        A sessions frame.
    top
        How many tags get their own bar (the most used ones).

    Returns
    -------
    altair.LayerChart
        Bars and count labels, most used tag first. Sessions without a tag show as
        "(no tag)"; tags beyond ``top`` are one bar "Other (N tags)".

    Raises
    ------
    ConfigurationError
        ``top`` is not a positive integer.
    """
    given: object = top
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise ConfigurationError(f"top must be a positive integer, got {top!r}")
    alt = altair_module()
    counted = tag_counts(frame.lazy()).collect()
    distinct = counted.get_column("tag").drop_nulls().len()
    table = counted.with_columns(pl.col("tag").fill_null(NO_TAG))
    total = int(table.get_column("sessions").sum())
    shown = table.head(top)
    rest = table.slice(top)
    if rest.height:
        other = pl.DataFrame(
            {
                "tag": [f"Other ({rest.height} tags)"],
                "sessions": [int(rest.get_column("sessions").sum())],
                "share": [float(rest.get_column("share").sum())],
            },
            schema=shown.schema,
        )
        shown = pl.concat([shown, other])
    order = shown.get_column("tag").to_list()
    base = alt.Chart(inline_data(shown)).encode(
        y=alt.Y("tag:N", sort=order, title=None),
        x=alt.X("sessions:Q", title="Sessions"),
        tooltip=[
            alt.Tooltip("tag:N", title="Tag"),
            alt.Tooltip("sessions:Q", title="Sessions", format=","),
            alt.Tooltip("share:Q", title="Share", format=".1%"),
        ],
    )
    bars = base.mark_bar(color=BAR_COLOR)
    text = base.mark_text(align="left", dx=4, fontSize=11, color="#333333").encode(
        text=alt.Text("sessions:Q", format=",")
    )
    subtitle = f"{total:,} sessions, {distinct:,} distinct tags"
    chart: altair.LayerChart = alt.layer(bars, text).properties(
        title=chart_title("Sessions by tag", subtitle),
        width=WIDTH,
        height=max(60, 24 * len(order)),
    )
    return chart


def sessions_over_time_chart(
    frame: pl.DataFrame | pl.LazyFrame,
    every: str | timedelta = "1d",
    *,
    time_zone: str = "UTC",
) -> altair.Chart:
    """Sessions per period (by their start), stacked by status.

    Parameters
    ----------
    frame
        A sessions frame.
    every
        The period: a Polars duration ("1h", "1d", "1w", "1mo") or a timedelta.
    time_zone
        IANA name of the zone whose calendar defines the periods and labels the axis
        (see `vsdk_analytics.sessions_over_time`); default UTC.

    Returns
    -------
    altair.Chart
        One bar per period spanning it, stacked by status: completed at the bottom,
        then stopped, failed (red) and the running statuses on top; any other or
        missing status is one "other" layer.
    """
    alt = altair_module()
    period = check_every(every)
    zone = check_time_zone(time_zone)
    wide = sessions_over_time(frame.lazy(), every=period, time_zone=zone).collect()
    status_columns = [*(f"status_{s}" for s in DEFAULT_STATUSES), "status_other"]
    present = [c.removeprefix("status_") for c in status_columns if wide.get_column(c).sum() > 0]
    domain, colors = status_scale(present)
    rank = {status: i for i, status in enumerate(domain)}
    # Stacked by hand (y to y2): Vega-Lite does not stack bars that span x to x2.
    long = (
        wide.select("period_start", *status_columns)
        .unpivot(
            index=["period_start"],
            on=status_columns,
            variable_name="status",
            value_name="sessions",
        )
        .with_columns(pl.col("status").str.strip_prefix("status_"))
        .filter(pl.col("sessions") > 0)
        .with_columns(pl.col("status").replace_strict(rank, return_dtype=pl.Int64()).alias("_rank"))
        .sort("period_start", "_rank")
        .with_columns(pl.col("sessions").cum_sum().over("period_start").alias("stack_end"))
        .with_columns(
            (pl.col("stack_end") - pl.col("sessions")).alias("stack_start"),
            pl.col("period_start").dt.offset_by(duration_text(period)).alias("period_end"),
            pl.col("period_start").dt.strftime(label_format(period)).alias("period"),
        )
        .drop("_rank")
    )
    name = period_name(period)
    total = int(wide.get_column("sessions").sum()) if wide.height else 0
    utc = alt.Scale(type="utc")
    chart: altair.Chart = (
        alt.Chart(inline_data(long))
        .mark_bar(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X("period_start:T", scale=utc, title=f"Start ({zone})"),
            x2="period_end:T",
            y=alt.Y("stack_start:Q", title="Sessions"),
            y2="stack_end:Q",
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=domain, range=colors),
                legend=alt.Legend(title="Status", orient="right"),
            ),
            tooltip=[
                alt.Tooltip("period:N", title=name.capitalize()),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("sessions:Q", title="Sessions", format=","),
            ],
        )
        .properties(
            title=chart_title(f"Sessions per {name}", f"{total:,} sessions, by status"),
            width=WIDTH,
            height=HEIGHT,
        )
    )
    return chart


def peak_concurrency_chart(
    frame: pl.DataFrame | pl.LazyFrame,
    every: str | timedelta = "1h",
    *,
    now: datetime | None = None,
    time_zone: str = "UTC",
) -> altair.Chart:
    """The most sessions running at once in each period, as a step area.

    Parameters
    ----------
    frame
        A sessions frame.
    every
        The period: a Polars duration ("1h", "1d"...) or a timedelta.
    now
        Where sessions without an end (still running) stop counting. Default: the
        frame's snapshot time, as `vsdk_analytics.peak_concurrency` (the latest
        ``start``, ``end``, ``created_at`` or ``updated_at``), so a chart of an old
        file does not show running sessions lasting until today.
    time_zone
        IANA name of the zone whose calendar defines the periods and labels the axis;
        default UTC.

    Returns
    -------
    altair.Chart
        Peak concurrent sessions per period; the tooltip tells when the peak was
        reached.
    """
    alt = altair_module()
    period = check_every(every)
    zone = check_time_zone(time_zone)
    table = peak_concurrency(frame.lazy(), every=period, now=now, time_zone=zone).collect()
    labels = label_format(period)
    table = table.with_columns(
        pl.col("period_start").dt.strftime(labels).alias("period"),
        pl.col("peak_at").dt.strftime("%Y-%m-%d %H:%M:%S %Z").alias("peak_at_text"),
    )
    name = period_name(period)
    highest = table.select(pl.col("peak_sessions").max().fill_null(0)).item() if table.height else 0
    utc = alt.Scale(type="utc")
    chart: altair.Chart = (
        alt.Chart(inline_data(table))
        .mark_area(
            interpolate="step-after",
            color=BAR_COLOR,
            opacity=0.35,
            line={"color": BAR_COLOR, "strokeWidth": 1.5},
        )
        .encode(
            x=alt.X("period_start:T", scale=utc, title=f"Start ({zone})"),
            y=alt.Y("peak_sessions:Q", title="Peak concurrent sessions"),
            tooltip=[
                alt.Tooltip("period:N", title=name.capitalize()),
                alt.Tooltip("peak_sessions:Q", title="Peak sessions", format=","),
                alt.Tooltip("peak_at_text:N", title="Reached at"),
            ],
        )
        .properties(
            title=chart_title(
                f"Peak concurrent sessions per {name}", f"highest: {highest:,} at once"
            ),
            width=WIDTH,
            height=HEIGHT,
        )
    )
    return chart


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------


def _builders(time_zone: str, now: datetime | None) -> dict[str, Callable[[pl.DataFrame], Any]]:
    """The chart builders of `CHART_NAMES`, the timed ones bound to a zone and a "now"."""
    return {
        "duration_histogram": duration_histogram_chart,
        "status_breakdown": status_breakdown_chart,
        "tag_counts": tag_counts_chart,
        "sessions_over_time": lambda f: sessions_over_time_chart(f, time_zone=time_zone),
        "peak_concurrency": lambda f: peak_concurrency_chart(f, now=now, time_zone=time_zone),
    }


def save_charts(
    frame: pl.DataFrame | pl.LazyFrame,
    directory: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("html", "png"),
    cdn: bool = False,
    time_zone: str = "UTC",
    now: datetime | None = None,
) -> list[Path]:
    """Write every chart of this module to ``directory``, one file per chart and format.

    Files are named after the chart (`CHART_NAMES`): ``duration_histogram.png``,
    ``status_breakdown.html``... Existing files of those names are replaced.

    Parameters
    ----------
    frame
        A sessions frame (a LazyFrame is collected once).
    directory
        Where to write; created (with its parents) when missing.
    formats
        Any of ``"html"``, ``"png"``, ``"svg"`` and ``"json"`` (the Vega-Lite spec).
        vl-convert renders PNG (at twice the chart size, for sharp text), SVG and the
        HTML pages, offline.
    cdn
        Load the Vega JavaScript of the HTML pages from the jsDelivr CDN: small pages
        that draw only with internet access. By default (False) every HTML page embeds
        it (about 900 kB each; vl-convert bundles it in a few seconds, once per
        process) and draws with no network. The data is embedded either way.
    time_zone
        IANA zone of the timed charts' periods and axes (default UTC).
    now
        Where open sessions stop counting in the concurrency chart; default the
        frame's snapshot time.

    Returns
    -------
    list of pathlib.Path
        The files written, chart by chart in `CHART_NAMES` order, formats in the
        order given.

    Raises
    ------
    ConfigurationError
        An unknown format or time zone, or a frame that is not a sessions frame.
    ImportError
        Altair or vl-convert is not installed (the ``charts`` extra).
    OSError
        The directory cannot be created or written.
    """
    chosen = check_formats(formats)
    builders = _builders(check_time_zone(time_zone), now)
    writer = SpecWriter(cdn=cdn)
    data = eager(frame)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, build in builders.items():
        spec = build(data).to_dict()  # validated against the Vega-Lite schema, once
        for fmt in chosen:
            path = target / f"{name}.{fmt}"
            writer.write(spec, path, fmt)
            written.append(path)
    return written
