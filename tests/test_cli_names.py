"""Deployment names in ``report`` and ``demo``, against the fake API on 127.0.0.1 (in-process).

Names come from the deployments list when credentials allow; when that list cannot be
fetched (here a 404: `FakeConfig.deployments_status`) the ids stand in, with one note.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import vsdk_analytics as va
from vsdk_analytics._cli import main
from vsdk_analytics.testing import FakeServer

pytestmark = pytest.mark.integration

_NOTE = "note: showing deployment ids instead of names"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(sessions=300, max_per_page=100) as fake:
        yield fake


@pytest.fixture(scope="module")
def sessions_file(server: FakeServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("names") / "sessions.parquet"
    va.write_parquet(va.fetch_sessions(server.credentials(), base_url=server.url), path)
    return path


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _names(server: FakeServer) -> dict[str, str]:
    return {d.deployment_id: d.name for d in server.api.deployments_snapshot()}


def test_report_shows_the_deployment_names(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server: FakeServer,
    sessions_file: Path,
) -> None:
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
    before = server.stats.deployment_requests
    code, out, err = _main(
        capsys, "report", str(sessions_file), "--base-url", server.url, "--format", "json"
    )
    assert code == 0, err
    assert _NOTE not in err and "note:" not in err
    assert server.stats.deployment_requests > before
    rows = json.loads(out)["deployments"]
    frame = va.read_parquet(sessions_file)
    names = _names(server)
    assert {r["deployment_id"] for r in rows} == set(frame["deployment_id"])
    assert all(r["deployment_name"] == names[r["deployment_id"]] for r in rows)
    assert sum(r["sessions"] for r in rows) == frame.height

    code, table, _ = _main(capsys, "report", str(sessions_file), "--base-url", server.url)
    assert code == 0
    assert "Sessions by deployment" in table
    for name in set(names.values()) & {names[d] for d in frame["deployment_id"]}:
        assert name in table

    code, out, _ = _main(
        capsys,
        "report",
        str(sessions_file),
        "--base-url",
        server.url,
        "--by",
        "deployment_name",
        "--format",
        "json",
    )
    assert code == 0
    grouped = json.loads(out)["status_breakdown"]
    assert {r["deployment_name"] for r in grouped} <= set(names.values())


def test_a_404_on_the_deployments_list_falls_back_to_ids_with_one_note(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sessions_file: Path,
) -> None:
    with FakeServer(sessions=300, max_per_page=100, deployments_status=404) as without:
        monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", without.token())
        code, out, err = _main(
            capsys, "report", str(sessions_file), "--base-url", without.url, "--format", "json"
        )
        assert without.stats.deployment_requests == 1  # a 404 is not retried
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith(_NOTE), err
    assert "HTTP 404" in notes[0]
    assert "error:" not in err and "Traceback" not in err
    rows = json.loads(out)["deployments"]
    assert rows and all(r["deployment_name"] == r["deployment_id"] for r in rows)


@pytest.mark.parametrize("status", [403, 500])
def test_other_failures_fall_back_too(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sessions_file: Path,
    status: int,
) -> None:
    with FakeServer(sessions=10, deployments_status=status) as failing:
        monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", failing.token())
        code, out, err = _main(
            capsys,
            "report",
            str(sessions_file),
            "--base-url",
            failing.url,
            "--format",
            "csv",
        )
    assert code == 0, err
    assert err.count(_NOTE) == 1 and f"HTTP {status}" in err
    assert "# deployments" in out


def test_without_credentials_or_when_not_wanted(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server: FakeServer,
    sessions_file: Path,
) -> None:
    for name in ("VIDEOSDK_AUTH_TOKEN", "VIDEOSDK_API_KEY", "VIDEOSDK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIDEOSDK_SECRET_KEY", "")
    code, out, err = _main(capsys, "report", str(sessions_file), "--base-url", server.url)
    assert code == 0, err
    assert err.count(_NOTE) == 1 and "no VideoSDK credentials found" in err
    assert "deployment_name" not in out  # the ids alone: no column of names equal to them

    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
    before = server.stats.deployment_requests
    code, _, err = _main(
        capsys, "report", str(sessions_file), "--base-url", server.url, "--no-deployment-names"
    )
    assert code == 0
    assert "note:" not in err
    assert server.stats.deployment_requests == before


def test_the_demo_shows_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _main(
        capsys, "demo", "--out", str(tmp_path), "--sessions", "200", "--no-charts"
    )
    assert code == 0, err
    assert "Sessions by deployment" in out
    assert "support-bot" in out and "note:" not in err


def test_the_demo_prints_each_line_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The fetch summary once (it used to come back as 'The fetch took ...'), no line twice."""
    code, out, err = _main(
        capsys, "demo", "--out", str(tmp_path), "--sessions", "300", "--no-charts"
    )
    assert code == 0, err
    lines = out.splitlines()
    summaries = [line for line in lines if " pages (" in line or "The fetch took" in line]
    assert len(summaries) == 1 and summaries[0].startswith("Fetched 300 sessions in 4 pages")
    text = [line for line in lines if line.strip() and line.lstrip()[0] not in "┌├└╞│┆"]
    assert len(text) == len(set(text)), [line for line in text if text.count(line) > 1]
