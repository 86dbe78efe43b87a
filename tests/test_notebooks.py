"""The notebooks: committed executed, free of secrets, and they still run end to end.

The committed files are checked with the standard library only. Running them needs the
``notebooks`` extra (nbclient, nbformat, ipykernel) and what the notebooks import (the
``charts`` extra and DuckDB); without those, the running tests are skipped and say what is
missing. Each notebook runs on a fresh ipykernel of this interpreter against the built-in
fake server, through ``notebooks/_execute.py`` (the script that refreshes the outputs).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from vsdk_analytics.testing import FAKE_SECRET

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["01_quickstart.ipynb", "02_session_analysis.ipynb", "03_bi_export.ipynb"]
MAX_BYTES = 1_000_000
"""Outputs stay small: charts embed aggregated tables only, frames are shown in part."""

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")

# module to import -> the extra that provides it
_NEEDED_TO_RUN = {
    "nbclient": "notebooks",
    "nbformat": "notebooks",
    "ipykernel": "notebooks",
    "ipywidgets": "notebooks",
    "altair": "charts",
    "vl_convert": "charts",
    "duckdb": "test",
}


def _load(path: Path) -> dict[str, Any]:
    notebook: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return notebook


def _code_cells(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _output_texts(notebook: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """``(cell index, text)`` for every piece of every output: streams, data, errors."""
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            pieces: list[Any] = [output.get("text", ""), output.get("evalue", "")]
            pieces.extend(output.get("traceback", []))
            pieces.extend(output.get("data", {}).values())
            for piece in pieces:
                text = "".join(map(str, piece)) if isinstance(piece, list) else piece
                yield index, text if isinstance(text, str) else json.dumps(text)


def _secrets_in_outputs(notebook: dict[str, Any]) -> list[str]:
    found = []
    for index, text in _output_texts(notebook):
        if FAKE_SECRET in text:
            found.append(f"cell {index}: the fake server's secret (FAKE_SECRET)")
        match = JWT.search(text)
        if match:
            found.append(f"cell {index}: a JWT-looking string {match.group()[:12]}...")
        if "Bearer" in text:
            found.append(f"cell {index}: the word 'Bearer'")
    return found


def _errors_in_outputs(notebook: dict[str, Any]) -> list[str]:
    return [
        f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
        for index, cell in enumerate(notebook["cells"])
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def _missing_to_run() -> list[str]:
    missing = []
    for module, extra in _NEEDED_TO_RUN.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(f"{module} (the '{extra}' extra)")
    return missing


@functools.cache
def _load_executor() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_vsdk_notebook_executor", NOTEBOOKS_DIR / "_execute.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _executor() -> ModuleType:
    missing = _missing_to_run()
    if missing:
        pytest.skip(
            f"running the notebooks needs {', '.join(missing)}: pip install -e '.[test,notebooks]'"
        )
    return _load_executor()


def test_the_notebooks_are_there() -> None:
    assert [path.name for path in NOTEBOOKS] == EXPECTED
    assert (NOTEBOOKS_DIR / "_execute.py").is_file()


# ---------------------------------------------------------------------------
# The committed files (no extra needed)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_hold_no_secret(path: Path) -> None:
    assert _secrets_in_outputs(_load(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_executed_top_to_bottom_without_errors(path: Path) -> None:
    notebook = _load(path)
    counts = [cell["execution_count"] for cell in _code_cells(notebook)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name} is not saved from one fresh run: python notebooks/_execute.py"
    )
    assert _errors_in_outputs(notebook) == []
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_files_stay_small(path: Path) -> None:
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size:,} bytes"


# ---------------------------------------------------------------------------
# Running them (the notebooks extra)
# ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_a_fresh_kernel(path: Path) -> None:
    executor = _executor()
    before = sorted(p.name for p in NOTEBOOKS_DIR.iterdir())
    notebook = executor.execute_notebook(path)  # raises on the first failing cell
    # nbformat's NotebookNode is a dict; compare as plain JSON.
    fresh = json.loads(json.dumps(notebook))
    assert _errors_in_outputs(fresh) == []
    assert _secrets_in_outputs(fresh) == []
    assert executor.leaks(notebook) == []
    assert sorted(p.name for p in NOTEBOOKS_DIR.iterdir()) == before, "it wrote next to itself"
    for cell in _code_cells(fresh):
        assert cell["execution_count"] is not None


@pytest.mark.slow
@pytest.mark.integration
def test_kernel_is_this_interpreter_without_videosdk_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = _executor()
    import nbformat

    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", "not-a-real-token")
    probe = nbformat.v4.new_notebook()
    probe.cells.append(
        nbformat.v4.new_code_cell(
            "import os, sys\nprint(sys.executable)\nprint(os.environ.get('VIDEOSDK_AUTH_TOKEN'))"
        )
    )
    path = tmp_path / "probe.ipynb"
    nbformat.write(probe, path)
    ran = executor.execute_notebook(path, timeout=60)
    printed = "".join(o.get("text", "") for o in ran.cells[0].outputs).splitlines()
    assert Path(printed[0]).resolve() == Path(sys.executable).resolve()
    assert printed[1] == "None"


_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

_PROGRESS_CELL = """
import vsdk_analytics as va
from vsdk_analytics.testing import FakeServer

with FakeServer(sessions=1234, max_per_page=100) as server:
    with va.Client(server.credentials(), base_url=server.url) as client:
        frame, stats = client.fetch_sessions_with_stats(per_page=100, progress=True)
print(frame.height, stats.pages)
"""


@pytest.mark.slow
@pytest.mark.integration
def test_the_widget_progress_bar_ends_at_the_page_count(tmp_path: Path) -> None:
    """A real kernel draws the tqdm widget; its saved final value and max are the pages."""
    executor = _executor()
    import nbformat

    probe = nbformat.v4.new_notebook()
    probe.cells.append(nbformat.v4.new_code_cell(_PROGRESS_CELL))
    path = tmp_path / "progress.ipynb"
    nbformat.write(probe, path)
    ran = json.loads(json.dumps(executor.execute_notebook(path, store_widget_state=True)))

    outputs = ran["cells"][0]["outputs"]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    height, pages = map(int, printed.split())
    assert height == 1234
    assert pages >= 13  # ceil(1234 / 100) pages at least (plus any probe of the end)
    shown = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(shown) == 1, "one progress widget is displayed"
    container = shown[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]

    state = ran["metadata"]["widgets"][_WIDGET_STATE]["state"]
    children = state[container]["state"]["children"]
    bars = [
        state[child.removeprefix("IPY_MODEL_")]
        for child in children
        if state[child.removeprefix("IPY_MODEL_")]["model_name"].endswith("ProgressModel")
    ]
    assert len(bars) == 1
    bar = bars[0]["state"]
    assert (bar["value"], bar["max"]) == (pages, pages)
    assert bar["bar_style"] == "success"
    layout = state[bar["layout"].removeprefix("IPY_MODEL_")]["state"]
    assert layout["width"] is None, "drawn as tqdm's 20 px stub of an unknown total"
