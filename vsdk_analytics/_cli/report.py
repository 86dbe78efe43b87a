"""The ``report`` command: summary tables (and charts) of a sessions Parquet file or dataset.

`report_tables` computes the tables shared with the demo; the command finds its input,
prints what `parquet_info` knows about it on stderr, and renders the tables on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

import polars as pl

from vsdk_analytics._dataset.parquet import parquet_info
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._helpers import (
    data_quality,
    duration_distribution,
    status_breakdown,
    tag_counts,
    webhook_coverage,
)

from .errors import EXIT_CONFIG, EXIT_OK, EXIT_PATH, CLIError
from .files import CHARTS_EXTRA, charts_available, read_sessions, save_charts
from .render import err, render

__all__ = ["DEMO_DIR", "GROUPS", "REPORT_FORMATS", "report_tables", "run_report"]

DEMO_DIR: Final = "vsdk-demo"
GROUPS: Final = ("tag", "deployment_id", "status")
REPORT_FORMATS: Final = ("table", "csv", "json", "markdown")
_REPORT_SOURCES: Final = (Path("sessions.parquet"), Path(DEMO_DIR) / "sessions.parquet")


def report_tables(frame: pl.DataFrame, by: str | None) -> dict[str, pl.DataFrame]:
    """The report's tables, in order; a table is never grouped by its own column."""
    return {
        "duration_distribution": duration_distribution(frame, by=by),
        "tag_counts": tag_counts(frame, by=None if by == "tag" else by),
        "status_breakdown": status_breakdown(frame, by=None if by == "status" else by),
        "webhook_coverage": webhook_coverage(frame, by=by),
        "data_quality": data_quality(frame),
    }


def _report_source(given: str | None) -> Path:
    if given is not None:
        return Path(given)
    for candidate in _REPORT_SOURCES:
        if candidate.exists():
            return candidate
    raise CLIError(
        EXIT_PATH,
        "no PATH given, and neither ./sessions.parquet nor ./vsdk-demo/sessions.parquet "
        "exists; pass the Parquet file or dataset directory to read (write one with "
        "`vsdk-analytics fetch -o sessions.parquet` or `vsdk-analytics demo`)",
    )


def _provenance_line(source: Path) -> str:
    """What `parquet_info` knows about ``source``, in one line for stderr."""
    try:
        info = parquet_info(source)
    except (ConfigurationError, OSError, ValueError):  # pragma: no cover - read just worked
        return "provenance: unknown"
    shown = ("fetched_at", "base_url", "since", "until", "sync_run_id", "synced_at")
    parts = [f"{key}={info[key]}" for key in shown if info.get(key) is not None]
    made = (
        f"vsdk-analytics {info.get('version') or '?'}, schema {info.get('schema_version') or '?'}"
    )
    return f"provenance: {made}, profile {info.get('profile') or '?'}" + "".join(
        f", {part}" for part in parts
    )


def run_report(args: argparse.Namespace) -> int:
    """``report``: read the file or dataset, print its tables, write charts when asked."""
    source = _report_source(args.path)
    if args.charts is not None and not charts_available():
        raise CLIError(EXIT_CONFIG, f"--charts needs the optional charts extra: {CHARTS_EXTRA}")
    frame = read_sessions(source)
    err(f"read {frame.height:,} sessions from {source}")
    err(_provenance_line(source))
    render(report_tables(frame, args.by), args.format)
    sys.stdout.flush()
    if args.charts is not None:
        written = save_charts(
            frame,
            Path(args.charts),
            self_contained=args.offline_html,
            time_zone=args.time_zone,
        )
        err(f"wrote {len(written)} chart files to {args.charts}")
    return EXIT_OK
