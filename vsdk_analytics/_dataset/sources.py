"""What a path holds: a Parquet file, a Parquet dataset or a Delta table, local or remote.

The readers (`scan_parquet`, `parquet_info`) and the overwrite guard list a dataset's data
files the same way: Parquet files with no ``.``/``_`` name in their path (so state,
lock, temporary and ``_delta_log`` files are never data).
"""

from __future__ import annotations

from pathlib import Path

from vsdk_analytics._errors import ConfigurationError

from .location import ObjectLocation
from .remote import DELTA_LOG, is_delta_table, remote_data_files

__all__ = ["data_files", "is_delta", "sources"]


def data_files(root: Path) -> list[Path]:
    """The Parquet data files of a dataset directory: no ``.``/``_`` name in their path."""
    return sorted(
        f
        for f in root.rglob("*.parquet")
        if not any(part.startswith((".", "_")) for part in f.relative_to(root).parts)
    )


def is_delta(source: Path | ObjectLocation) -> bool:
    """Whether a Delta table's log is there."""
    if isinstance(source, ObjectLocation):
        return is_delta_table(source)
    return (source / DELTA_LOG).is_dir()


def sources(source: Path | ObjectLocation) -> tuple[list[Path | str], list[str]]:
    """The Parquet files of a file or dataset (paths or URLs), and its Hive keys."""
    if isinstance(source, ObjectLocation):
        if source.key and source.exists():
            return [source.url], []
        found = remote_data_files(source)
        if not found:
            raise ConfigurationError(f"no Parquet file or dataset at {source.url!r}")
        relative = found[0][len(source.key) + 1 :] if source.key else found[0]
        keys = [part.split("=", 1)[0] for part in relative.split("/")[:-1]]
        return [source.url_of(key) for key in found], keys
    if source.is_dir():
        files = data_files(source)
        if not files:
            raise ConfigurationError(f"no Parquet files under {str(source)!r}")
        keys = [part.split("=", 1)[0] for part in files[0].relative_to(source).parts[:-1]]
        return list(files), keys
    if source.is_file():
        return [source], []
    raise ConfigurationError(f"no Parquet file or dataset at {str(source)!r}")
