"""The CLI in-process: ``--max-requests-per-second``, one `Client` per run, shell-worded errors.

`main` runs in this process against a `FakeServer` on 127.0.0.1; a recording `Client`
subclass shows what each command builds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vsdk_analytics as va
from vsdk_analytics._cli import fetching, main
from vsdk_analytics.testing import FakeServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(sessions=150, max_per_page=100) as fake:
        yield fake


class _Recorded:
    """The keyword arguments of every `Client` the CLI built."""

    def __init__(self) -> None:
        self.clients: list[dict[str, Any]] = []


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> _Recorded:
    seen = _Recorded()

    class RecordingClient(va.Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.clients.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(fetching, "Client", RecordingClient)
    return seen


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fetch_passes_the_rate_cap_to_its_one_client(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: FakeServer,
    recorded: _Recorded,
) -> None:
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
    out = tmp_path / "s.parquet"
    argv = ["fetch", "-o", str(out), "--base-url", server.url, "--no-progress"]
    code, _, err = _main(capsys, *argv, "--max-requests-per-second", "250.5")
    assert code == 0, err
    assert va.read_parquet(out).height == 150
    assert len(recorded.clients) == 1
    assert recorded.clients[0]["max_requests_per_second"] == 250.5
    assert recorded.clients[0]["base_url"] == server.url
    out.unlink()
    code, _, err = _main(capsys, *argv)
    assert code == 0, err
    assert recorded.clients[1]["max_requests_per_second"] is None


def test_demo_passes_the_rate_cap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, recorded: _Recorded
) -> None:
    code, out, err = _main(
        capsys,
        "demo",
        "--out",
        str(tmp_path),
        "--sessions",
        "120",
        "--no-charts",
        "--max-requests-per-second",
        "1000",
    )
    assert code == 0, err
    assert [c["max_requests_per_second"] for c in recorded.clients] == [1000.0]
    assert "120 sessions" in out


@pytest.mark.parametrize("command", [["fetch", "-o", "x.parquet"], ["demo"]])
@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf", "fast"])
def test_a_rate_cap_must_be_a_positive_number(
    capsys: pytest.CaptureFixture[str], command: list[str], value: str
) -> None:
    code, out, err = _main(capsys, *command, "--max-requests-per-second", value)
    assert code == 2
    assert out == ""
    assert "--max-requests-per-second" in err
    assert "requests per second" in err
