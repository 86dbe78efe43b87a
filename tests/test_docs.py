"""The documentation site: it builds strictly, and it forgets no column, public name or error.

``mkdocs build --strict`` fails on broken links, missing anchors and unresolved
cross-references (docstrings included). The other tests read the Markdown sources, so a
new column, public name, error class or CLI flag that the docs do not mention fails here.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vsdk_analytics
from vsdk_analytics import _errors
from vsdk_analytics._schema import SESSIONS_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API = DOCS / "api"

_DOC_TOOLS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def _missing_doc_tools() -> list[str]:
    missing = []
    for name in _DOC_TOOLS:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _python_blocks(page: Path) -> str:
    """Every ```python block of a page, in order, as one script."""
    blocks = re.findall(r"^```python\n(.*?)^```$", _read(page), flags=re.DOTALL | re.MULTILINE)
    assert blocks, f"{page.name} has no python block"
    return "\n".join(blocks)


def _error_classes() -> list[type[BaseException | Warning]]:
    return [
        obj
        for _, obj in inspect.getmembers(_errors, inspect.isclass)
        if obj.__module__ == _errors.__name__
        and issubclass(obj, (_errors.VideoSDKError, _errors.VideoSDKWarning))
    ]


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    missing = _missing_doc_tools()
    if missing:
        pytest.skip(
            f"the docs toolchain is not installed ({', '.join(missing)}): pip install -e '.[docs]'"
        )
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "fetching" / "index.html").is_file()


def test_every_column_is_documented() -> None:
    schema_page = _read(DOCS / "schema.md")
    for name in SESSIONS_SCHEMA.names():
        assert f"| `{name}` |" in schema_page, f"docs/schema.md has no table row for {name!r}"


def test_every_public_name_has_an_api_entry() -> None:
    directives = {
        line.removeprefix("::: ").strip()
        for page in API.glob("*.md")
        for line in _read(page).splitlines()
        if line.startswith("::: ")
    }
    missing = [n for n in vsdk_analytics.__all__ if f"vsdk_analytics.{n}" not in directives]
    assert not missing, f"no '::: vsdk_analytics.<name>' in docs/api/ for: {missing}"
    assert "vsdk_analytics.testing" in directives
    assert "vsdk_analytics.charts" in directives


def test_every_error_and_warning_is_explained() -> None:
    troubleshooting = _read(DOCS / "troubleshooting.md")
    errors_page = _read(API / "errors.md")
    classes = _error_classes()
    assert len(classes) >= 19
    for cls in classes:
        name = cls.__name__
        assert f"\n### {name}\n" in troubleshooting, f"troubleshooting.md has no '### {name}'"
        assert f"::: vsdk_analytics.{name}\n" in errors_page, f"api/errors.md lacks {name}"
        assert name in vsdk_analytics.__all__, f"{name} is not exported by vsdk_analytics"


def test_cli_reference_lists_every_command_and_flag() -> None:
    cli = pytest.importorskip("vsdk_analytics._cli.parser")
    page = _read(DOCS / "cli.md")
    parser = cli.build_parser("vsdk-analytics")
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--"):
                assert flag in page, f"docs/cli.md does not mention {flag}"
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert f"\n## {name}\n" in page, f"docs/cli.md has no '## {name}' section"
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--"):
                    assert flag in page, f"docs/cli.md does not mention {name} {flag}"
    for code in (0, 1, 2, 3, 4, 5, 6, 7, 130):
        assert f"| {code} |" in page, f"docs/cli.md's exit code table lacks {code}"


@pytest.mark.parametrize("page", ["helpers.md", "schema.md"])
def test_page_examples_run(page: str, tmp_path: Path) -> None:
    """The examples of these pages run as printed (on the fake API; no network)."""
    script = tmp_path / "example.py"
    script.write_text(_python_blocks(DOCS / page), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOSDK_")}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"the examples of docs/{page} failed:\n{result.stderr}"
