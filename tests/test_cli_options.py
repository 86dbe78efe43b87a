"""The CLI in-process: ``--max-requests-per-second``, one `Client` per run, shell-worded errors.

`main` runs in this process against a `FakeServer` on 127.0.0.1; a recording `Client`
subclass shows what each command builds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vsdk_analytics as va
from vsdk_analytics._cli import fetching, main, reference
from vsdk_analytics._cli.errors import exit_code, shell_text
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


# ---------------------------------------------------------------------------
# Errors speak to a shell user; every error class has a documented exit code
# ---------------------------------------------------------------------------

_PYTHON_ADVICE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z_]+=(?=\s|$|True|False|[,;)])|\(CLI:")


def _assert_shell_words(message: str) -> None:
    """No Python argument (``api_key=``, ``max_concurrency``) outside quoted paths and URLs."""
    plain = re.sub(r"'[^']*'|https?://\S+", "", message)
    found = _PYTHON_ADVICE.findall(plain)
    assert not found, (found, message)


def test_docs_cli_md_is_current() -> None:
    """docs/cli.md holds the current help texts and error table (regenerate: see reference)."""
    page = (Path(__file__).parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert reference.render(page) == page, "run: python -m vsdk_analytics._cli.reference"
    classes = reference.error_classes()
    assert {c.__name__ for c in classes} >= {"VideoSDKError", "DatasetConflictError"}
    for cls in classes:
        assert f"| `{cls.__name__}` | {exit_code(cls)} |" in page


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (va.CredentialsError, 3),
        (va.ConfigurationError, 3),
        (va.DatasetConflictError, 3),
        (va.AuthenticationError, 4),
        (va.NotFoundError, 4),
        (va.ResponseFormatError, 4),
        (va.SchemaError, 4),
        (va.APIConnectionError, 5),
        (va.APITimeoutError, 5),
        (va.IncompleteFetchError, 6),
        (va.VideoSDKError, 1),
        (KeyError, 1),
    ],
)
def test_exit_codes_by_class(cls: type[BaseException], code: int) -> None:
    assert exit_code(cls) == code


def test_bad_tokens_point_at_variables_not_arguments(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("not a token", encoding="utf-8")
    argv = ["fetch", "-o", str(tmp_path / "x.parquet"), "--base-url", "http://127.0.0.1:9"]
    code, _, from_file = _main(capsys, *argv, "--token-file", str(tmp_path / "token"))
    assert code == 3
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", "not a token")
    code, _, from_env = _main(capsys, *argv)
    assert code == 3
    for err in (from_file, from_env):
        assert err.startswith("error: ") and "not a JWT" in err
        assert "set VIDEOSDK_API_KEY and VIDEOSDK_SECRET" in err
        _assert_shell_words(err)
    assert "--token-file" in from_file and "VIDEOSDK_AUTH_TOKEN" in from_env


def test_url_errors_name_the_flag(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: FakeServer,
) -> None:
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
    out = ["fetch", "-o", str(tmp_path / "x.parquet"), "--no-progress"]
    code, _, err = _main(capsys, *out, "--base-url", "api.videosdk.live")
    assert code == 3
    assert err.startswith("error: --base-url has no scheme")
    code, _, err = _main(capsys, *out, "--base-url", server.url + "/nope")
    assert code == 4
    assert "HTTP 404" in err and "check --base-url (or VIDEOSDK_API_ENDPOINT)" in err
    _assert_shell_words(err)


def test_rate_limits_suggest_the_flags(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with FakeServer(sessions=150, max_per_page=100, rate_limit=0.01, rate_burst=1) as limited:
        argv = ["fetch", "-o", str(tmp_path / "x.parquet"), "--base-url", limited.url]
        argv += ["--token-file", "-", "--max-retries", "0", "--no-progress"]
        import io

        stdin = io.StringIO(limited.token())
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.stdin", stdin)
            code, _, err = _main(capsys, *argv)
    assert code == 6, err
    assert "HTTP 429" in err
    assert "lower --max-concurrency, cap the rate with --max-requests-per-second RATE" in err
    _assert_shell_words(err.removeprefix("error: the fetch is incomplete: "))


@pytest.mark.parametrize(
    ("kind", "library", "shell"),
    [
        (
            va.DatasetConflictError,
            "another sync is running on this dataset: x holds 'd'. Let it finish, or wait for "
            "it with lock_timeout= (CLI: --wait SECONDS); the lock is released",
            "Let it finish, or wait for it with --wait SECONDS; the lock is released",
        ),
        (
            va.DatasetConflictError,
            "'d' holds a synced dataset; pass overwrite=True (CLI: --overwrite) to replace it",
            "'d' holds a synced dataset; pass --overwrite to replace it",
        ),
        (
            va.APITimeoutError,
            "page 3: no answer; the server may be overloaded: raise timeout= or lower "
            "max_concurrency",
            "the server may be overloaded: raise --timeout or lower --max-concurrency",
        ),
        (
            va.IncompleteFetchError,
            "incomplete fetch: page 3 failed; 200 sessions fetched; the sessions fetched are in "
            ".sessions",
            "incomplete fetch: page 3 failed; 200 sessions fetched",
        ),
        (
            va.CredentialsError,
            "credentials need either token= or both api_key= and secret= (or ...)",
            "credentials need VIDEOSDK_API_KEY and VIDEOSDK_SECRET, or VIDEOSDK_AUTH_TOKEN",
        ),
        (
            va.ConfigurationError,
            "'d' is a directory; pass partition_by= to write a dataset there",
            "pass --partition-by COL to write a dataset there",
        ),
        (va.ConfigurationError, "--since='x' is out of range", "--since='x' is out of range"),
    ],
)
def test_library_advice_is_reworded(kind: type[BaseException], library: str, shell: str) -> None:
    assert shell in shell_text(library, kind)
    assert shell_text(library, ValueError) == library  # not the library's: left alone


def test_the_lock_and_overwrite_messages_are_still_the_ones_reworded() -> None:
    """The phrases `test_library_advice_is_reworded` rewords are the library's own."""
    sources = Path(va.__file__).parent
    lock = (sources / "_dataset" / "lock.py").read_text(encoding="utf-8")
    parquet = (sources / "_dataset" / "parquet.py").read_text(encoding="utf-8")
    transport = (sources / "_transport.py").read_text(encoding="utf-8")
    assert "wait for it with lock_timeout= " in lock and "(CLI: --wait SECONDS)" in lock
    assert "pass overwrite=True (CLI: --overwrite) to replace it" in parquet
    assert "raise timeout= or lower max_concurrency" in transport


def test_fetch_into_a_synced_dataset_says_overwrite(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: FakeServer,
) -> None:
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
    dataset = str(tmp_path / "sessions")
    assert _main(capsys, "sync", dataset, "--base-url", server.url, "--no-progress")[0] == 0
    code, _, err = _main(
        capsys, "fetch", "-o", dataset, "--partition-by", "tag", "--base-url", server.url
    )
    assert code == 3
    assert "pass --overwrite to replace it" in err
    _assert_shell_words(err)
