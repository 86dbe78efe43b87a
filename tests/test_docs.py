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
    home = _read(tmp_path / "site" / "index.html")
    version = vsdk_analytics.__version__
    assert f"vsdk-analytics {version}" in home, "the header shows no version"
    repo_url = re.search(r"^repo_url: (\S+)", _read(ROOT / "mkdocs.yml"), flags=re.MULTILINE)
    assert repo_url is not None
    assert f'href="{repo_url.group(1)}" title="Go to repository"' in home
    assert (tmp_path / "site" / "reliability" / "index.html").is_file()
    # the sync twins are docstring-only functions decorated to run their async twins:
    # the reference still shows their parameters (tools/griffe_twins.py)
    fetching = re.sub(r"<[^>]+>", "", _read(tmp_path / "site" / "api" / "fetching" / "index.html"))
    for shown in (
        r"fetch_sessions\(\s*credentials",  # vsdk_analytics.fetch_sessions
        r"fetch_session\(\s*session_id",
        r"Client\(\s*credentials",
    ):
        assert re.search(shown, fetching), shown
    assert re.search(r"fetch_sessions\(\s*\*,\s*per_page", fetching), "Client.fetch_sessions"
    assert re.search(r"stream_sessions\(\s*on_batch", fetching), "Client.stream_sessions"


def test_every_page_is_in_the_navigation() -> None:
    config = _read(ROOT / "mkdocs.yml")
    nav = config[config.index("\nnav:\n") :]
    listed = set(re.findall(r":\s+(\S+\.md)\s*$", nav, flags=re.MULTILINE))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - listed == set(), "pages missing from mkdocs.yml's nav"
    assert listed - pages == set(), "nav entries without a page"
    assert "not_in_nav" not in config


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


# ---------------------------------------------------------------------------
# SQL recipes: `end` is a reserved word
# ---------------------------------------------------------------------------

_QUOTED_END = ('"end"', "`end`", "[end]")
_SQL_NOISE = re.compile(r"--[^\n]*|'(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`|\[[^\]]*\]")


def _sql_in_python(source: str) -> list[str]:
    """The string constants of a Python source that are SQL (they hold ``SELECT``)."""
    import ast

    if ">>> " in source:  # a doctest-style block: keep the code of its prompts
        prompts = re.findall(r"^(?:>>>|\.\.\.) ?(.*)$", source, flags=re.MULTILINE)
        source = "\n".join(prompts)
    # IPython's top-level `await` / `async with` in a notebook cell is no Python syntax
    tree = ast.parse(re.sub(r"\bawait |\basync (?=with|for)", "", source))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "SELECT" in node.value
    ]


def _sql_recipes() -> dict[str, list[str]]:
    """Every SQL recipe of the docs, README and notebooks, by where it is."""
    import json

    found: dict[str, list[str]] = {}
    for page in [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]:
        text = _read(page)
        sql = re.findall(r"^```sql\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)
        for block in re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE):
            sql += _sql_in_python(block)
        if sql:
            found[page.name] = sql
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(_read(notebook))["cells"]
        sql = [
            query
            for cell in cells
            if cell["cell_type"] == "code"
            for query in _sql_in_python("".join(cell["source"]))
        ]
        if sql:
            found[notebook.name] = sql
    return found


def test_sql_recipes_never_write_a_bare_end() -> None:
    """``end`` unquoted is a syntax error in DuckDB, Trino, Spark (ANSI) and others."""
    recipes = _sql_recipes()
    assert {"parquet.md", "03_bi_export.ipynb"} <= set(recipes)
    for where, queries in recipes.items():
        for query in queries:
            bare = re.findall(r"\bend\b", _SQL_NOISE.sub(" ", query), flags=re.IGNORECASE)
            assert not bare or "CASE" in query.upper(), f"{where}: unquoted end in {query!r}"
        shown = [q for q in queries if any(quoted in q for quoted in _QUOTED_END)]
        assert shown, f'{where}: no SQL recipe shows how to quote "end"'


def test_the_duckdb_recipes_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/parquet.md's DuckDB block runs, statement by statement, on files written here."""
    duckdb = pytest.importorskip("duckdb")
    from vsdk_analytics import write_parquet
    from vsdk_analytics.testing import FakeServer

    text = _read(DOCS / "parquet.md")
    section = text[text.index("\n### DuckDB\n") :]
    block = re.search(r"^```sql\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)
    assert block is not None
    with FakeServer(sessions=300) as server:
        frame = vsdk_analytics.fetch_sessions(
            server.credentials(), base_url=server.url, progress=False
        )
    monkeypatch.chdir(tmp_path)
    write_parquet(frame, "sessions.parquet")
    write_parquet(frame, "sessions", partition_by="start_date")
    code = re.sub(r"--[^\n]*", "", block.group(1))
    statements = [s for s in code.split(";") if s.strip()]
    assert len(statements) >= 4
    con = duckdb.connect()
    for statement in statements:
        rows = con.sql(statement).fetchall()
        assert rows, f"no rows from {statement!r}"
    running = frame.get_column("end").null_count()
    by_day = con.sql(statements[1]).fetchall()
    assert sum(r[1] for r in by_day) == frame.height
    assert sum(r[2] for r in by_day) == running
