"""The CLI's files: outputs checked before fetching, Parquet written and read, charts saved.

Every failure here is a `CLIError` with exit code 7 (a bad path) or 3 (the charts extra
missing), its message naming the path.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from typing import Final

import polars as pl

from vsdk_analytics._dataset.files import Provenance
from vsdk_analytics._dataset.parquet import check_target, read_parquet, write_parquet
from vsdk_analytics._errors import ConfigurationError

from .errors import EXIT_CONFIG, EXIT_PATH, CLIError

__all__ = [
    "CHARTS_EXTRA",
    "charts_available",
    "check_output",
    "partial_path",
    "read_sessions",
    "save_charts",
    "save_parquet",
]

CHARTS_EXTRA: Final = "pip install 'vsdk-analytics[charts]'"


def check_output(path: Path, *, dataset: bool, overwrite: bool | None = True) -> None:
    """Fail before fetching when ``path`` cannot be written."""
    parent = path.parent
    if not parent.is_dir():
        raise CLIError(
            EXIT_PATH, f"cannot write {str(path)!r}: the directory {str(parent)!r} does not exist"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(
            EXIT_PATH, f"cannot write {str(path)!r}: the directory {str(parent)!r} is not writable"
        )
    try:
        check_target(path, dataset=dataset, overwrite=overwrite)
    except ConfigurationError as exc:
        raise CLIError(EXIT_PATH, f"cannot write {str(path)!r}: {exc}") from None


def save_parquet(
    frame: pl.DataFrame,
    path: Path | str,
    *,
    profile: str,
    partition_by: list[str] | None,
    overwrite: bool | None = None,
    provenance: Provenance | None = None,
) -> None:
    """`write_parquet`, its path and OS failures as exit 7."""
    try:
        write_parquet(
            frame,
            path,
            profile="native" if profile == "native" else "bi",
            partition_by=partition_by,
            overwrite=overwrite,
            provenance=provenance,
        )
    except (ConfigurationError, OSError) as exc:
        raise CLIError(EXIT_PATH, f"cannot write {str(path)!r}: {exc}") from None


def partial_path(path: Path | str, *, dataset: bool) -> Path | str:
    """Where an incomplete fetch goes: X.parquet -> X.partial.parquet, directory D -> D.partial.

    An object-store URL (a string) gets the same names.
    """
    if isinstance(path, str):
        base = path.rstrip("/")
        if dataset:
            return base + ".partial"
        if base.lower().endswith(".parquet"):
            return base[: -len(".parquet")] + ".partial.parquet"
        return base + ".partial.parquet"
    if dataset:
        return path.with_name(path.name + ".partial")
    if path.suffix.lower() == ".parquet":
        return path.with_name(f"{path.stem}.partial{path.suffix}")
    return path.with_name(path.name + ".partial.parquet")


def read_sessions(path: Path) -> pl.DataFrame:
    """`read_parquet`, an unreadable or foreign file as exit 7."""
    try:
        return read_parquet(path)
    except ConfigurationError as exc:
        raise CLIError(EXIT_PATH, f"cannot read {str(path)!r}: {exc}") from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CLIError(
            EXIT_PATH, f"cannot read {str(path)!r} as a sessions Parquet file: {first}"
        ) from None


def charts_available() -> bool:
    """Whether the ``charts`` extra (Altair, vl-convert) is installed."""
    return find_spec("altair") is not None and find_spec("vl_convert") is not None


def save_charts(
    frame: pl.DataFrame, directory: Path, *, cdn: bool, time_zone: str = "UTC"
) -> list[Path]:
    """`vsdk_analytics.charts.save_charts`; the files written."""
    if not charts_available():
        raise CLIError(EXIT_CONFIG, f"charts need the optional charts extra: {CHARTS_EXTRA}")
    from vsdk_analytics.charts import save_charts as save  # noqa: PLC0415 - Altair is slow to import

    try:
        return save(frame, directory, cdn=cdn, time_zone=time_zone)
    except OSError as exc:
        raise CLIError(EXIT_PATH, f"cannot write the charts to {str(directory)!r}: {exc}") from None
