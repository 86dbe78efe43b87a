"""What the CLI prints: lines on stdout and stderr, warnings, and tables for people or programs.

Results go to stdout (`out`), diagnostics to stderr (`err`). `render` shows a report's
tables as ``table`` or ``markdown`` (for reading: shares in percent, nulls named, lists
left out) or as ``csv`` or ``json`` (every column, full precision).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING, Final, TextIO

import polars as pl

from .errors import one_line

if TYPE_CHECKING:
    from vsdk_analytics._fetch import FetchStats

__all__ = [
    "TITLES",
    "configure_logging",
    "err",
    "fetch_summary",
    "for_people",
    "out",
    "print_tables",
    "render",
    "show_warning",
]

TITLES: Final = {
    "duration_distribution": "Duration distribution (seconds)",
    "tag_counts": "Sessions by tag",
    "status_breakdown": "Sessions by status",
    "deployments": "Sessions by deployment (durations in seconds)",
    "webhook_coverage": "Webhook coverage (share of sessions subscribed to each event)",
    "data_quality": "Data quality checks (sessions affected)",
}
"""The title of each report table, by the table's name."""

_LIST_SEPARATOR: Final = ";"
_NONE_SHOWN: Final = "(none)"
_NULL_LABELS: Final = {
    "tag": "(no tag)",
    "status": "(no status)",
    "deployment_id": "(no deployment)",
    "deployment_name": "(no deployment)",
}
_DEPLOYMENT_COLUMNS: Final = ("sessions", "mean_s", "p50_s", "p90_s", "max_s")


def _write(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")


def out(text: str = "") -> None:
    """A line of results on stdout."""
    _write(sys.stdout, text)


def err(text: str) -> None:
    """A line of diagnostics on stderr."""
    _write(sys.stderr, text)


def show_warning(  # noqa: PLR0917 - the signature of warnings.showwarning
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Warnings as one ``warning:`` line (no source location) on stderr."""
    err(f"warning: {one_line(str(message))}")


def configure_logging(debug: bool) -> None:
    """With --debug: DEBUG records of this library and INFO of httpx, on stderr."""
    if not debug:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name, level in (("vsdk_analytics", logging.DEBUG), ("httpx", logging.INFO)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)


def fetch_summary(frame: pl.DataFrame | None, stats: FetchStats) -> str:
    """What a fetch did, in one line: sessions, pages, requests, retries, time.

    ``frame`` None: the sessions were streamed, ``stats.sessions`` counts them.
    """
    retried = f", {stats.retries:,} retried" if stats.retries else ""
    sessions = stats.sessions if frame is None else frame.height
    return (
        f"{sessions:,} sessions in {stats.pages:,} pages "
        f"({stats.requests:,} requests{retried}, up to {stats.peak_in_flight} at once) "
        f"in {stats.seconds:.2f} s"
    )


def for_people(name: str, table: pl.DataFrame) -> pl.DataFrame:
    """A table reshaped for reading: shares in percent, nulls named, lists left out."""
    if name == "webhook_coverage":
        shares = [c for c in table.columns if c.endswith("_share")]
        groups = table.columns[: table.columns.index("sessions")]
        table = table.select(
            *groups,
            "sessions",
            "with_webhook",
            "endpoints",
            *((pl.col(c) * 100).alias(c.removesuffix("_share") + " %") for c in shares),
        )
    elif name == "data_quality":
        table = table.select("check", "sessions", "description")
    elif name == "deployments":
        groups = table.columns[: table.columns.index("sessions")]
        named = table.filter(pl.col("deployment_name") != pl.col("deployment_id")).height > 0
        if not named:  # no names known: the ids alone
            groups = [g for g in groups if g != "deployment_name"]
        table = table.select(*groups, *_DEPLOYMENT_COLUMNS)
    elif "share" in table.columns:
        table = table.with_columns((pl.col("share") * 100).alias("share %")).drop("share")
    return table.with_columns(
        pl.col(column).fill_null(_NULL_LABELS.get(column, _NONE_SHOWN))
        for column, dtype in table.schema.items()
        if dtype == pl.String()
    )


def _table_config() -> pl.Config:
    return pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="UTF8_FULL_CONDENSED",
        tbl_width_chars=240,
        fmt_str_lengths=100,
        float_precision=1,
        thousands_separator=",",
    )


def print_tables(tables: dict[str, pl.DataFrame]) -> None:
    """The tables as titled text tables on stdout, a blank line after each."""
    with _table_config():
        for name, table in tables.items():
            out(TITLES[name])
            out(str(for_people(name, table)))
            out()


def _markdown_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(table: pl.DataFrame) -> list[str]:
    """A GitHub pipe table; numbers right-aligned."""
    header = "| " + " | ".join(_markdown_cell(c) for c in table.columns) + " |"
    align = (
        "|" + "|".join(" ---: " if dtype.is_numeric() else " --- " for dtype in table.dtypes) + "|"
    )
    rows = ["| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in table.iter_rows()]
    return [header, align, *rows]


def _flat(table: pl.DataFrame) -> pl.DataFrame:
    """List columns joined with ``;`` (CSV holds no lists)."""
    return table.with_columns(pl.col(pl.List(pl.String)).list.join(_LIST_SEPARATOR))


def render(tables: dict[str, pl.DataFrame], fmt: str) -> None:
    """The tables on stdout in ``fmt``: ``table``, ``json``, ``csv`` or ``markdown``."""
    if fmt == "table":
        print_tables(tables)
    elif fmt == "json":
        document = {name: json.loads(table.write_json()) for name, table in tables.items()}
        out(json.dumps(document, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        blocks = [f"# {name}\n{_flat(table).write_csv()}" for name, table in tables.items()]
        sys.stdout.write("\n".join(blocks))
    else:
        for i, (name, table) in enumerate(tables.items()):
            if i:
                out()
            out(f"### {TITLES[name]}")
            out()
            for line in _markdown(for_people(name, table)):
                out(line)
