"""The benchmark harness (benchmarks/run.py): its id check, and one real ``--quick`` run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from vsdk_analytics._constants import DEFAULT_MAX_CONCURRENCY

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "benchmarks" / "run.py"

pytestmark = pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not in this tree")


def _load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vsdk_bench_run", RUN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load_run()


def _script(script: Path, *args: str) -> str:
    """Run a benchmark script as a user does (from the repository); its standard output."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    return proc.stdout


def _ids(path: Path, ids: list[str | None]) -> str:
    pl.DataFrame({"session_id": ids}, schema={"session_id": pl.String()}).write_parquet(path)
    return str(path)


def test_check_ids_accepts_exactly_the_truth(bench: ModuleType, tmp_path: Path) -> None:
    truth = pl.DataFrame({"session_id": ["a", "b", "c"]})
    assert bench.check_ids(_ids(tmp_path / "ok.parquet", ["c", "a", "b"]), truth, 3) is None


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["a", "b"], "2 rows for 3 sessions; 1 ids missing"),
        (["a", "b", "b"], "1 duplicated ids; 1 ids missing"),
        (["a", "b", "x"], "1 ids missing; 1 unknown ids"),
        (["a", "b", "c", None], "4 rows for 3 sessions; 1 null ids"),
    ],
)
def test_check_ids_names_what_is_wrong(
    bench: ModuleType, tmp_path: Path, ids: list[str | None], expected: str
) -> None:
    truth = pl.DataFrame({"session_id": ["a", "b", "c"]})
    assert bench.check_ids(_ids(tmp_path / "bad.parquet", ids), truth, len(ids)) == expected


def test_a_failed_run_is_failed_in_the_table(bench: ModuleType) -> None:
    scenario = bench.SCENARIOS["i"]
    ours = bench.Row(scenario, bench.TOOLS["vsdk"], 100, 16)
    ours.runs.append(bench.Run(wall_s=1.0, peak_rss_mb=100.0))
    peer = bench.Row(scenario, bench.TOOLS["pandas"], 100, 1)
    peer.runs.append(bench.Run(wall_s=0.5, peak_rss_mb=90.0, failure="99 rows for 100 sessions"))
    skipped = bench.Row(scenario, bench.TOOLS["dlt"], 100, 1, skipped="dlt not installed")
    text = bench.table([ours, peer, skipped])
    assert "| exact | baseline |" in text
    assert "FAILED (1/1 runs: 99 rows for 100 sessions) | n/a |" in text
    assert "skipped (dlt not installed)" in text


def _table(stdout: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        rows[cells["scenario"], cells["tool"]] = cells
    return rows


@pytest.mark.slow
@pytest.mark.integration
def test_quick_run_prints_every_installed_tool_with_exact_ids(
    bench: ModuleType, tmp_path: Path
) -> None:
    report = tmp_path / "benchmarks.md"
    # i (latency, 100 per page) and iii (1,000 per page); ii differs from i only in size
    out = _script(RUN, "--quick", "--scenarios", "i,iii", "--markdown", str(report))
    rows = _table(out)
    for scenario in ("i", "iii"):
        for tool in bench.TOOLS.values():
            row = rows[scenario, tool.name]
            missing = tool.missing()
            if missing:  # a peer that is not installed is skipped, not failed
                assert row["ids"].startswith("skipped"), row
                continue
            assert row["ids"] == "exact", row
            assert float(row["wall s"]) > 0, row
            assert float(row["peak RSS MB"].replace(",", "")) > 0, row
            if tool.key == bench.BASELINE:
                assert row["wall vs vsdk-analytics"] == "baseline"
                assert row["concurrency"] == ("16" if scenario == "i" else "8")
            else:
                assert row["wall vs vsdk-analytics"].startswith(f"{tool.short}/vsdk = "), row
    assert "Fetch-only time against the round-trip floor" in out
    text = report.read_text(encoding="utf-8")
    assert "## Machine" in text
    assert "Python" in text
    assert "| scenario | tool |" in text


@pytest.mark.slow
@pytest.mark.integration
def test_compare_runs_the_library_at_its_defaults_against_the_fastest_peer(
    bench: ModuleType,
) -> None:
    out = _script(RUN, "--compare", "--quick", "--scenarios", "i", "--sessions", "i=300")
    rows = _table(out)
    ours = rows["i", bench.TOOLS["vsdk-default"].name]
    peer = rows["i", bench.TOOLS[bench.FASTEST].name]
    assert ours["ids"] == peer["ids"] == "exact"
    assert peer["vs fastest peer"] == "peer"
    assert ours["vs fastest peer"].endswith("x") and float(ours["CPU s"]) > 0
    assert peer["paired (range)"] == "peer"
    # one round: the paired ratio is that round's, its range that one value
    mid, low, high = ours["paired (range)"].replace("x (", " ").replace("-", " ").strip(")").split()
    assert float(mid) == float(low) == float(high) > 0
    assert f"{mid}x" == ours["vs fastest peer"]
    # the library at its default, the script at the 16 in flight it was specified with
    assert ours["in flight"] == str(DEFAULT_MAX_CONCURRENCY) and peer["in flight"] == "16"
    for phase in ("import", "fetch", "decode", "frame", "write"):
        assert f"{phase} " in ours["phases (s)"], ours


def test_loop_layers_times_every_layer() -> None:
    script = REPO / "benchmarks" / "loop_layers.py"
    out = _script(script, "--pages", "4", "--concurrency", "2", "--repeat", "1")
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    rows = {cells[0]: cells[1:] for cells in (line.strip("| ").split(" | ") for line in lines)}
    assert list(rows)[1:] == ["script", "aiohttp", "wire", "requester", "engine", "fetch"]
    for layer in list(rows)[1:]:
        wall, per_page = float(rows[layer][0]), float(rows[layer][3])  # "loop ms per page"
        assert wall >= 0 and per_page > 0, (layer, rows[layer])
