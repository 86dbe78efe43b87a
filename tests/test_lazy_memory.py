"""benchmarks/lazy_memory.py still runs: a tiny dataset, every helper, every mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "lazy_memory.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ is not in this tree")


def test_the_lazy_memory_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOSDK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    table = tmp_path / "table.md"
    tiny = ["--rows", "20000", "--days", "30", "--dir", str(tmp_path), "--markdown", str(table)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *tiny],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = table.read_text(encoding="utf-8")
    for helper in ("status_breakdown", "sessions_over_time", "duration_distribution"):
        assert f"(`{helper}`) |" in text  # one row each: eager, lazy and streaming agreed
    assert "20,000 sessions" in text and "polars" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("lazy-memory-")]
