"""The installed ``vsdk-analytics`` console script, run as a subprocess against a fake API.

The fake API (`FakeServer`) runs in this process on 127.0.0.1; the script gets its URL
with ``--base-url`` and a token through ``VIDEOSDK_AUTH_TOKEN`` or ``--token-file``.
Independent runs are started together (`run_all`) to keep the wall time down.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from tests.test_charts import assert_rendered_png
from vsdk_analytics import (
    Credentials,
    __version__,
    data_quality,
    duration_distribution,
    fetch_sessions,
    read_parquet,
    status_breakdown,
    tag_counts,
    webhook_coverage,
)
from vsdk_analytics._cli import main
from vsdk_analytics._cli.files import partial_path
from vsdk_analytics.charts import CHART_NAMES
from vsdk_analytics.testing import FAKE_API_KEY, FakeServer
from vsdk_analytics.testing._service import mint_token

pytestmark = pytest.mark.integration

_SCRIPT_NAME = "vsdk-analytics"
_SESSIONS = 600
_SINCE = "2025-06-24T00:00:00Z"
_SECRET = "not-the-fake-secret-but-long-enough-0123456789"
_TIMEOUT = 120


def _script() -> str:
    beside = Path(sys.executable).with_name(_SCRIPT_NAME)
    found = str(beside) if beside.exists() else shutil.which(_SCRIPT_NAME)
    if found is None:
        pytest.fail(f"the {_SCRIPT_NAME} console script is not installed (pip install -e .)")
    return found


SCRIPT = _script()


@dataclass(frozen=True)
class Run:
    """A finished run of the script."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOSDK_")}
    env["COLUMNS"] = "200"
    env.update(extra or {})
    return env


def _start(
    args: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SCRIPT, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=_env(env),
        cwd=cwd,
    )


def run(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run the script once and wait for it."""
    return run_all({"one": (args, env)}, cwd=cwd)["one"]


def run_all(
    cases: Mapping[str, tuple[Sequence[str], Mapping[str, str] | None]], cwd: Path | None = None
) -> dict[str, Run]:
    """Start every run at once, then collect them (each gets its own pipes)."""
    started = {name: (tuple(args), _start(args, env, cwd)) for name, (args, env) in cases.items()}
    results = {}
    for name, (args, process) in started.items():
        stdout, stderr = process.communicate(timeout=_TIMEOUT)
        results[name] = Run(args, process.returncode, stdout, stderr)
    return results


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(sessions=_SESSIONS, max_per_page=100) as fake:
        yield fake


@pytest.fixture(scope="module")
def token(server: FakeServer) -> str:
    return server.token()


@pytest.fixture(scope="module")
def fetched(
    server: FakeServer, token: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Run]:
    """One plain ``fetch -o sessions.parquet`` (also the input of the report tests)."""
    path = tmp_path_factory.mktemp("fetch") / "sessions.parquet"
    result = run(
        "fetch", "-o", str(path), "--base-url", server.url, env={"VIDEOSDK_AUTH_TOKEN": token}
    )
    return path, result


# ---------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run("demo", "--out", str(out))
    assert result.code == 0, result.output
    stdout = result.stdout
    for heading in ("Duration distribution", "Sessions by tag", "Sessions by status"):
        assert heading in stdout
    assert "completed" in stdout and "failed" in stdout and "p50_s" in stdout
    assert "export VIDEOSDK_API_KEY=" in stdout and "VIDEOSDK_AUTH_TOKEN" in stdout
    assert "vsdk-analytics fetch -o sessions.parquet" in stdout
    assert "pages" in stdout and "requests" in stdout
    assert "Traceback" not in result.output

    frame = read_parquet(out / "sessions.parquet")
    assert frame.height == 5000
    assert frame["session_id"].n_unique() == 5000
    for name in CHART_NAMES:
        assert_rendered_png(out / f"{name}.png")
        html = (out / f"{name}.html").read_text(encoding="utf-8")
        assert '"values"' in html


# ---------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------


def test_fetch_to_a_file(fetched: tuple[Path, Run], server: FakeServer, token: str) -> None:
    path, result = fetched
    assert result.code == 0, result.output
    assert result.stdout == ""
    assert f"fetched {_SESSIONS} sessions" in result.stderr
    assert str(path) in result.stderr
    frame = read_parquet(path)
    assert frame.height == server.api.session_count == _SESSIONS
    assert sorted(frame["session_id"]) == sorted(server.api.session_ids())
    assert token not in result.output


def test_fetch_to_a_hive_dataset_since(
    server: FakeServer, token: str, tmp_path: Path, fetched: tuple[Path, Run]
) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text(token + "\n", encoding="utf-8")
    target = tmp_path / "sessions"
    result = run(
        "fetch",
        "-o",
        str(target),
        "--base-url",
        server.url,
        "--token-file",
        str(token_file),
        "--partition-by",
        "start_date",
        "--since",
        _SINCE,
        "--profile",
        "native",
        "--max-concurrency",
        "3",
    )
    assert result.code == 0, result.output
    assert token not in result.output
    days = sorted(p.name for p in target.iterdir())
    assert days and all(d.startswith("start_date=") for d in days)
    got = read_parquet(target)
    since = datetime(2025, 6, 24, tzinfo=timezone.utc)
    everything = read_parquet(fetched[0])
    expected = everything.filter(pl.col("created_at") >= since)
    assert 0 < got.height == expected.height < everything.height
    assert sorted(got["session_id"]) == sorted(expected["session_id"])


def test_fetch_exit_codes(server: FakeServer, token: str, tmp_path: Path) -> None:
    out = str(tmp_path / "out.parquet")
    good = {"VIDEOSDK_AUTH_TOKEN": token}
    url = server.url
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    forged = mint_token(FAKE_API_KEY, _SECRET, ttl_seconds=3600, now=time.time())
    with FakeServer(sessions=1000, max_per_page=100, error_rate=0.3, seed=0) as flaky:
        runs = run_all(
            {
                "no_credentials": (["fetch", "-o", out, "--base-url", url], None),
                "bad_token": (
                    ["fetch", "-o", out, "--base-url", url],
                    {"VIDEOSDK_AUTH_TOKEN": forged},
                ),
                "unreachable": (
                    ["fetch", "-o", out, "--base-url", unreachable, "--max-retries", "0"],
                    good,
                ),
                "missing_directory": (
                    ["fetch", "-o", str(tmp_path / "nope" / "x.parquet"), "--base-url", url],
                    good,
                ),
                "incomplete": (
                    [
                        "fetch",
                        "-o",
                        str(tmp_path / "flaky.parquet"),
                        "--base-url",
                        flaky.url,
                        "--max-retries",
                        "0",
                    ],
                    {"VIDEOSDK_AUTH_TOKEN": flaky.token()},
                ),
            }
        )
    expected = {
        "no_credentials": (3, "no VideoSDK credentials found"),
        "bad_token": (4, "HTTP 401"),
        "unreachable": (5, "page 1"),
        "missing_directory": (7, "does not exist"),
        "incomplete": (6, "flaky.partial.parquet"),
    }
    for name, (code, fragment) in expected.items():
        result = runs[name]
        assert result.code == code, (name, result.output)
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: "), (name, result.stderr)
        assert fragment in lines[-1], (name, lines[-1])
        assert "Traceback" not in result.output, name
        assert result.stdout == "", name
        assert token not in result.output and forged not in result.output, name
    assert not (tmp_path / "out.parquet").exists()
    assert not (tmp_path / "flaky.parquet").exists()
    partial = read_parquet(tmp_path / "flaky.partial.parquet")
    assert 0 < partial.height < 1000
    assert f"{partial.height:,} sessions" in runs["incomplete"].stderr


def test_debug_shows_tracebacks_and_logs_but_never_credentials(
    server: FakeServer, token: str, tmp_path: Path
) -> None:
    out = str(tmp_path / "x.parquet")
    secret_env = {"VIDEOSDK_API_KEY": "someone-else", "VIDEOSDK_SECRET_KEY": _SECRET}
    runs = run_all(
        {
            "refused": (
                ["fetch", "-o", out, "--base-url", server.url, "--debug"],
                secret_env,
            ),
            "success": (
                ["fetch", "-o", out, "--base-url", server.url, "--debug"],
                {"VIDEOSDK_AUTH_TOKEN": token},
            ),
        }
    )
    refused = runs["refused"]
    assert refused.code == 4
    assert "Traceback" in refused.stderr and "AuthenticationError" in refused.stderr
    success = runs["success"]
    assert success.code == 0, success.output
    assert "DEBUG" in success.stderr or "INFO" in success.stderr
    assert "HTTP Request: GET" in success.stderr
    for result in runs.values():
        assert token not in result.output
        assert _SECRET not in result.output
        assert "Authorization" not in result.output


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def test_sync_creates_then_updates_a_dataset(
    server: FakeServer, token: str, tmp_path: Path
) -> None:
    dataset = tmp_path / "sessions"
    env = {"VIDEOSDK_AUTH_TOKEN": token}
    first = run("sync", str(dataset), "--base-url", server.url, env=env)
    assert first.code == 0, first.stderr
    assert f"{_SESSIONS:,} new" in first.stdout
    frame = read_parquet(dataset)
    assert frame.height == _SESSIONS
    assert (dataset / "_vsdk_sync.json").is_file()
    second = run("sync", str(dataset), "--base-url", server.url, env=env)
    assert second.code == 0, second.stderr
    assert "0 new" in second.stdout
    assert read_parquet(dataset).height == _SESSIONS
    assert token not in first.stdout + first.stderr + second.stdout + second.stderr
    blocked = run("sync", str(tmp_path / "nope" / "deeper"), "--base-url", server.url, env=env)
    assert blocked.code == 7


def _csv_tables(text: str) -> dict[str, list[dict[str, str]]]:
    tables: dict[str, list[dict[str, str]]] = {}
    for block in text.strip().split("\n\n"):
        name, _, body = block.partition("\n")
        assert name.startswith("# ")
        tables[name[2:]] = list(csv.DictReader(io.StringIO(body)))
    return tables


def test_report_formats(fetched: tuple[Path, Run]) -> None:
    path = str(fetched[0])
    runs = run_all({fmt: (["report", path, "--format", fmt], None) for fmt in ("csv", "json")})
    for name, result in runs.items():
        assert result.code == 0, (name, result.output)
        assert f"read {_SESSIONS} sessions" in result.stderr
    frame = read_parquet(path)
    names = ["duration_distribution", "tag_counts", "status_breakdown", "deployments"]
    names += ["webhook_coverage", "data_quality"]

    document = json.loads(runs["json"].stdout)
    assert list(document) == names
    assert pl.DataFrame(document["status_breakdown"]).equals(status_breakdown(frame))
    assert pl.DataFrame(document["tag_counts"]).equals(tag_counts(frame))
    distribution = duration_distribution(frame).row(0, named=True)
    assert document["duration_distribution"][0] == pytest.approx(distribution)
    coverage = webhook_coverage(frame).row(0, named=True)
    assert document["webhook_coverage"][0]["with_webhook"] == coverage["with_webhook"]
    assert document["webhook_coverage"][0]["endpoint_list"] == coverage["endpoint_list"]
    assert [r["sessions"] for r in document["data_quality"]] == data_quality(frame)[
        "sessions"
    ].to_list()

    tables = _csv_tables(runs["csv"].stdout)
    assert list(tables) == names
    statuses = {r["status"]: int(r["sessions"]) for r in tables["status_breakdown"]}
    assert statuses == dict(status_breakdown(frame).select("status", "sessions").iter_rows())
    mean = float(tables["duration_distribution"][0]["mean_s"])
    assert mean == pytest.approx(distribution["mean_s"])
    assert ";" in tables["webhook_coverage"][0]["endpoint_list"]


def test_report_charts_and_default_path(fetched: tuple[Path, Run], tmp_path: Path) -> None:
    shutil.copy(fetched[0], tmp_path / "sessions.parquet")
    result = run("report", "--charts", "charts", cwd=tmp_path)
    assert result.code == 0, result.output
    assert "read 600 sessions from sessions.parquet" in result.stderr
    assert "Sessions by status" in result.stdout
    for name in CHART_NAMES:
        assert_rendered_png(tmp_path / "charts" / f"{name}.png")
        assert (tmp_path / "charts" / f"{name}.html").is_file()


# ---------------------------------------------------------------------------
# fake-server
# ---------------------------------------------------------------------------


def test_fake_server_serves_until_interrupted() -> None:
    process = _start(["fake-server", "--port", "0", "--sessions", "250"], None, None)
    try:
        assert process.stdout is not None
        exports: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
            if len(exports) == 2:
                break
        assert set(exports) == {"VIDEOSDK_API_BASE_URL", "VIDEOSDK_AUTH_TOKEN"}
        frame = fetch_sessions(
            Credentials(token=exports["VIDEOSDK_AUTH_TOKEN"]),
            base_url=exports["VIDEOSDK_API_BASE_URL"],
            progress=False,
        )
        assert frame.height == 250
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


# ---------------------------------------------------------------------------
# help, version, usage
# ---------------------------------------------------------------------------


def test_python_dash_m_runs_the_same_cli(tmp_path: Path) -> None:
    """``python -m vsdk_analytics``, here with a missing input file (exit 7)."""
    result = subprocess.run(
        [sys.executable, "-m", "vsdk_analytics", "report", str(tmp_path / "missing.parquet")],
        capture_output=True,
        text=True,
        check=False,
        env=_env(None),
        timeout=_TIMEOUT,
    )
    assert result.returncode == 7, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot read")
    assert "no Parquet file or dataset" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------
# In-process: help, version and the checks made before any network or file work
# ---------------------------------------------------------------------------


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", ["demo", "fetch", "sync", "report", "fake-server"])
def test_every_command_help_shows_an_example(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, _ = _main(capsys, command, "--help")
    assert code == 0
    assert "example" in out
    assert f"vsdk-analytics {command}" in out.split("example", 1)[1]


def test_main_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "--help")
    assert code == 0
    assert "exit codes:" in out
    for number in range(8):
        assert f"\n  {number}  " in out
    for command in ("demo", "fetch", "report", "fake-server"):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "--version")
    assert code == 0
    assert out.strip().endswith(f" {__version__}")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "required: COMMAND"),
        (("fetch", "--secret", "s3cr3t", "-o", "x.parquet"), "unrecognized arguments"),
        (("fetch",), "-o/--output"),
        (("fetch", "-o", "x.parquet", "--per-page", "0"), "expected a number >= 1"),
        (("report", "--format", "xml"), "invalid choice"),
        (("demo", "--sessions", "many"), "expected a whole number"),
        (("report", "--time-zone", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (("fetch", "-o", "x.parquet", "--time-zone", "EST5"), "unknown time zone"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], fragment: str
) -> None:
    code, out, err = _main(capsys, *args)
    assert code == 2
    assert out == ""
    assert fragment in err


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("--since", "2025-06-24T00:00:00"), 2, "no time zone"),
        (("--since", "yesterday"), 2, "not a time this library reads"),
        (("--since", "2025-06-24T00:00:00Z", "--until", "2025-06-23T00:00:00Z"), 2, "after"),
        (("--partition-by", "start_date,duration_s"), 2, "cannot partition by 'duration_s'"),
        (("--partition-by", "tag", "--partition-by", "tag"), 2, "twice"),
        (("--token-file", "{tmp}/missing-token"), 3, "cannot read the token file"),
        (("--token-file", "{tmp}/bad-token"), 3, "--token-file"),
        (("--base-url", "ftp://example.com"), 3, "http(s) URL"),
        (("--base-url", "http://example.com"), 3, "plain http://"),
        (("-o", "{tmp}"), 7, "is a directory"),
        (("-o", "{tmp}/no/such/dir/x.parquet"), 7, "does not exist"),
    ],
)
def test_fetch_checks_its_arguments_first(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: tuple[str, ...],
    code: int,
    fragment: str,
) -> None:
    token = mint_token(FAKE_API_KEY, _SECRET, ttl_seconds=3600, now=time.time())
    (tmp_path / "token").write_text(token, encoding="utf-8")
    (tmp_path / "bad-token").write_text("not a token", encoding="utf-8")
    argv = ["fetch", "--token-file", str(tmp_path / "token"), "-o", str(tmp_path / "out.parquet")]
    argv += [a.replace("{tmp}", str(tmp_path)) for a in args]
    got, out, err = _main(capsys, *argv)
    assert got == code, err
    assert out == ""
    assert err.startswith("error: ") and fragment in err
    assert len(err.strip().splitlines()) == 1
    assert token not in err and "not a token" not in err
    assert not (tmp_path / "out.parquet").exists()


def test_report_without_a_path_or_a_default_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _main(capsys, "report")
    assert code == 7
    assert out == ""
    assert err.startswith("error: no PATH given")


def test_fake_server_listens_on_loopback_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, "fake-server", "--host", "0.0.0.0")
    assert code == 2
    assert out == ""
    assert err.startswith("error: --host 0.0.0.0")


def test_partial_paths() -> None:
    assert partial_path(Path("d/sessions.parquet"), dataset=False) == Path(
        "d/sessions.partial.parquet"
    )
    assert partial_path(Path("d/out"), dataset=False) == Path("d/out.partial.parquet")
    assert partial_path(Path("d/hive"), dataset=True) == Path("d/hive.partial")


def test_report_markdown_and_grouping(
    capsys: pytest.CaptureFixture[str], fetched: tuple[Path, Run]
) -> None:
    path = str(fetched[0])
    frame = read_parquet(path)
    code, markdown, _ = _main(
        capsys, "report", path, "--format", "markdown", "--by", "deployment_id"
    )
    assert code == 0
    assert "### Sessions by status" in markdown
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert lines and all(line.endswith("|") for line in lines)
    assert "| deployment_id | status | sessions | share % |" in markdown
    assert "| --- | --- | ---: | ---: |" in markdown

    code, out, _ = _main(capsys, "report", path, "--format", "json", "--by", "tag")
    assert code == 0
    by_tag = json.loads(out)
    grouped = duration_distribution(frame, by="tag")
    assert [r["tag"] for r in by_tag["duration_distribution"]] == grouped["tag"].to_list()
    assert [r["sessions"] for r in by_tag["duration_distribution"]] == grouped["sessions"].to_list()
    assert "tag" in by_tag["status_breakdown"][0]
    assert "tag" in by_tag["webhook_coverage"][0]
    assert [r["tag"] for r in by_tag["tag_counts"]] == tag_counts(frame)["tag"].to_list()

    code, out, _ = _main(capsys, "report", path, "--by", "status")
    assert code == 0
    assert "(no tag)" in out or "v1.0" in out


@pytest.mark.parametrize("kind", ["not_parquet", "other_schema", "empty_directory"])
def test_report_of_a_bad_input_exits_7(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "input.parquet"
    if kind == "not_parquet":
        target.write_text("hello", encoding="utf-8")
        fragment = "input.parquet"
    elif kind == "other_schema":
        pl.DataFrame({"a": [1, 2]}).write_parquet(target)
        fragment = "missing columns"
    else:
        target.mkdir()
        fragment = "no Parquet files"
    code, out, err = _main(capsys, "report", str(target), "--format", "json")
    assert code == 7, err
    assert out == ""
    assert err.startswith("error: cannot read") and fragment in err
    assert len(err.strip().splitlines()) == 1
