"""MkDocs hooks of the documentation site: the package version and repository in the header.

MkDocs runs `on_config` once per build (``hooks:`` in ``mkdocs.yml``). It reads the
version from ``vsdk_analytics/_version.py`` (where the package's metadata reads it too)
and the repository URL, when the project declares one, from ``pyproject.toml`` beside
``mkdocs.yml``, so the site never shows a version the package does not have:

- the version goes into the header (the site name reads ``vsdk-analytics 0.1.0``) and
  into ``extra.version`` for templates;
- ``[project.urls]`` ``Repository`` (or ``Source``), when present, replaces the
  ``repo_url`` of ``mkdocs.yml``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

_VERSION = re.compile(r'^__version__\s*=\s*"([^"]+)"', re.MULTILINE)


def _project(pyproject: Path) -> dict[str, Any]:
    """The ``[project]`` table of ``pyproject.toml`` (empty without tomllib)."""
    try:
        tomllib = importlib.import_module("tomllib")  # Python 3.11+
    except ImportError:  # Python 3.10: no repository link
        return {}
    project: dict[str, Any] = tomllib.loads(pyproject.read_text(encoding="utf-8")).get(
        "project", {}
    )
    return project


def _version(root: Path) -> str | None:
    """``__version__`` of ``vsdk_analytics/_version.py`` (hatchling's version source)."""
    match = _VERSION.search((root / "vsdk_analytics" / "_version.py").read_text(encoding="utf-8"))
    return match.group(1) if match else None


def on_config(config: Any) -> Any:
    """Put the package version in the header and the declared repository in ``repo_url``."""
    root = Path(config["config_file_path"]).resolve().parent
    project = _project(root / "pyproject.toml")
    version = _version(root)
    if not version:
        raise ValueError(f"no __version__ in {root / 'vsdk_analytics' / '_version.py'}")
    config["extra"]["version"] = version
    config["site_name"] = f"{config['site_name']} {version}"
    urls = project.get("urls", {})
    repository = urls.get("Repository") or urls.get("Source")
    if repository:
        config["repo_url"] = repository
        config["repo_name"] = "/".join(repository.rstrip("/").rsplit("/", 2)[-2:])
    return config
