"""The demo's HTML charts draw in a real headless browser with no network.

``vsdk-analytics demo`` writes five HTML charts. Each is opened in headless Chromium
(Debian's ``chromium``) whose every connection goes to a dead proxy on 127.0.0.1 and whose
host names resolve to nothing, and the DOM it drew (``--dump-dom`` after a virtual time
budget) must hold the chart's marks: Vega's SVG renderer gives every bar, line and area a
``role="graphics-symbol"`` element, with an ``aria-label`` naming its data. A page written
with ``cdn=True`` is the control: in the same browser it must draw nothing, which shows
that the network really was out of reach.

Without a Chromium on the PATH these tests are skipped and say how to install one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("altair")
pytest.importorskip("vl_convert")

import vsdk_analytics as va
from vsdk_analytics import charts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_NOT_DATA = {"axis", "legend", "title", "subtitle", "visualization"}
_DEMO_SESSIONS = 600


def _browser() -> str:
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no headless Chromium on the PATH to open the HTML charts in "
        "(Debian: apt-get install chromium)"
    )


class _Marks(HTMLParser):
    """The ``role="graphics-symbol"`` elements of a DOM: one per drawn mark."""

    def __init__(self) -> None:
        super().__init__()
        self.symbols: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if found.get("role") == "graphics-symbol":
            self.symbols.append({"tag": tag, **found})


def _command(browser: str, page: Path, profile: Path) -> list[str]:
    return [
        browser,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        f"--user-data-dir={profile}",
        # No network: every request goes to a closed port, and no name resolves.
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]


def drawn_marks(pages: Sequence[Path], profiles: Path) -> dict[Path, list[dict[str, str]]]:
    """The data marks Chromium drew for each page, offline (one browser per page, at once)."""
    browser = _browser()
    running = {
        page: subprocess.Popen(
            _command(browser, page, profiles / f"profile-{index}"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for index, page in enumerate(pages)
    }
    marks = {}
    for page, process in running.items():
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-2000:]
        assert "</html>" in out, f"no DOM for {page.name}: {err[-2000:]}"
        parser = _Marks()
        parser.feed(out)
        marks[page] = [
            mark
            for mark in parser.symbols
            if mark.get("aria-roledescription", "").removesuffix(" mark") not in _NOT_DATA
        ]
    return marks


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory ``vsdk-analytics demo --out`` wrote (charts and sessions.parquet)."""
    out = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOSDK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vsdk_analytics",
            "demo",
            "--out",
            str(out),
            "--sessions",
            str(_DEMO_SESSIONS),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=out,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def demo_marks(
    demo: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, str]]]:
    """What the browser drew for each demo chart, by chart name."""
    pages = [demo / f"{name}.html" for name in charts.CHART_NAMES]
    drawn = drawn_marks(pages, tmp_path_factory.mktemp("browser"))
    return {page.stem: marks for page, marks in drawn.items()}


def test_the_demo_writes_one_html_chart_per_chart(demo: Path) -> None:
    assert sorted(p.stem for p in demo.glob("*.html")) == sorted(charts.CHART_NAMES)


@pytest.mark.parametrize("name", charts.CHART_NAMES)
def test_each_demo_chart_draws_offline(
    demo: Path, demo_marks: dict[str, list[dict[str, str]]], name: str
) -> None:
    page = demo / f"{name}.html"
    marks = demo_marks[name]
    assert marks, f"{page.name} drew no mark with no network"
    shapes = [m for m in marks if m["tag"] == "path"]
    assert shapes, f"{page.name}: no bar, line or area drawn"
    assert all(m.get("d", "").startswith("M") for m in shapes), "a mark without geometry"
    frame = va.read_parquet(demo / "sessions.parquet")
    assert frame.height == _DEMO_SESSIONS
    bars = [m for m in shapes if m.get("aria-roledescription") == "bar"]
    if name == "status_breakdown":  # one bar per status, each labelled with its data
        table = va.status_breakdown(frame)
        expected = {s if s is not None else charts.NO_STATUS for s in table["status"]}
        assert len(bars) == table.height
        assert {_label(m, "status") for m in bars} == expected
    elif name == "tag_counts":
        table = va.tag_counts(frame)
        expected = {t if t is not None else charts.NO_TAG for t in table["tag"]}
        assert table.height <= 15  # no "Other" bar at this size
        assert {_label(m, "Tag") for m in bars} == expected
    elif name in {"duration_histogram", "sessions_over_time"}:
        assert bars
    else:  # peak concurrency: the area and the line of peaks
        kinds = {m.get("aria-roledescription") for m in shapes}
        assert {"area mark", "line mark"} <= kinds, kinds


def _label(mark: dict[str, str], field: str) -> str:
    """The value of ``field`` in a mark's ``aria-label`` ("Tag: v1.1; Sessions: 205")."""
    parts = dict(
        part.split(": ", 1) for part in mark.get("aria-label", "").split("; ") if ": " in part
    )
    return parts.get(field) or parts[field.lower()]


def test_a_cdn_page_draws_nothing_in_the_same_offline_browser(demo: Path, tmp_path: Path) -> None:
    """The control: the no-network setup really cuts the CDN off."""
    frame = va.read_parquet(demo / "sessions.parquet")
    written = charts.save_charts(frame, tmp_path / "cdn", formats=["html"], cdn=True)
    page = next(p for p in written if p.stem == "status_breakdown")
    text = page.read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" in text
    assert len(text) < len((demo / page.name).read_text(encoding="utf-8")) // 10
    assert drawn_marks([page], tmp_path) == {page: []}
