"""vsdk_analytics.charts: Altair charts with inline data, and PNG/HTML files that decode."""

from __future__ import annotations

import json
import struct
import sys
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pytest

from tests._frames import empty, random_sessions, sessions
from vsdk_analytics import (
    ConfigurationError,
    peak_concurrency,
    sessions_over_time,
    status_breakdown,
    tag_counts,
)

alt = pytest.importorskip("altair")
pytest.importorskip("vl_convert")

from vsdk_analytics import charts  # noqa: E402 - after the skips

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class PNGInfo(NamedTuple):
    """What `read_png` found: the size and how varied the image data is."""

    width: int
    height: int
    distinct_bytes: int


def read_png(path: Path) -> PNGInfo:
    """Decode a PNG's structure with the standard library: chunks, CRCs, IHDR and IDAT.

    Checks the signature, every chunk's CRC, that the decompressed image data has exactly
    the size IHDR announces (8-bit images), and reports how many distinct byte values it
    holds: a blank image compresses to (nearly) one value.
    """
    data = path.read_bytes()
    assert data[:8] == _PNG_SIGNATURE, f"{path.name} is not a PNG"
    offset, header, idat = 8, None, b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path.name}: bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        offset += 12 + length
    assert header is not None, f"{path.name} has no IHDR"
    width, height, depth, color_type = header[:4]
    assert width > 0 and height > 0
    pixels = zlib.decompress(idat)
    if depth == 8:
        assert len(pixels) == height * (1 + width * _CHANNELS[color_type])
    return PNGInfo(width, height, len(set(pixels)))


def assert_rendered_png(path: Path) -> None:
    """A PNG that decodes, has a size, and is not blank."""
    info = read_png(path)
    assert info.width >= 100 and info.height >= 100, info
    assert info.distinct_bytes > 32, f"{path.name} looks blank: {info}"


def _spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    return spec


def _values(chart: Any) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = _spec(chart)["data"]["values"]
    return values


BUILDERS = {
    "duration_histogram": charts.duration_histogram_chart,
    "status_breakdown": charts.status_breakdown_chart,
    "tag_counts": charts.tag_counts_chart,
    "sessions_over_time": charts.sessions_over_time_chart,
    "peak_concurrency": charts.peak_concurrency_chart,
}


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return random_sessions(400, seed=3)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_each_chart_embeds_its_data_inline(name: str, frame: pl.DataFrame) -> None:
    chart = BUILDERS[name](frame)
    assert isinstance(chart, (alt.Chart, alt.LayerChart))
    spec = _spec(chart)
    values = spec["data"]["values"]
    assert isinstance(values, list) and values
    text = json.dumps(spec)
    assert '"url"' not in text
    assert spec["title"]["text"]
    assert spec["width"] > 0 and spec["height"] > 0


@pytest.mark.parametrize("name", list(BUILDERS))
def test_lazy_and_eager_frames_give_the_same_chart(name: str, frame: pl.DataFrame) -> None:
    assert _spec(BUILDERS[name](frame.lazy())) == _spec(BUILDERS[name](frame))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_an_empty_frame_gives_a_chart(name: str) -> None:
    assert isinstance(BUILDERS[name](empty()), (alt.Chart, alt.LayerChart))


def test_chart_data_comes_from_the_helpers(frame: pl.DataFrame) -> None:
    rows = _values(charts.status_breakdown_chart(frame))
    expected = status_breakdown(frame).with_columns(pl.col("status").fill_null("(no status)"))
    assert [(r["status"], r["sessions"]) for r in rows] == expected.select(
        "status", "sessions"
    ).rows()
    tags = _values(charts.tag_counts_chart(frame))
    assert sum(r["sessions"] for r in tags) == frame.height
    assert {r["tag"] for r in tags} == {
        "(no tag)" if t is None else t for t in tag_counts(frame)["tag"].to_list()
    }


def test_failed_is_drawn_in_the_warm_color(frame: pl.DataFrame) -> None:
    layer = _spec(charts.status_breakdown_chart(frame))["layer"][0]
    scale = layer["encoding"]["color"]["scale"]
    colors = dict(zip(scale["domain"], scale["range"], strict=True))
    assert colors["failed"] == charts.FAILED_COLOR == "#E45756"
    over_time = _spec(charts.sessions_over_time_chart(frame))["encoding"]["color"]["scale"]
    assert dict(zip(over_time["domain"], over_time["range"], strict=True))["failed"] == "#E45756"


def test_tags_beyond_top_are_summed_as_other(frame: pl.DataFrame) -> None:
    rows = _values(charts.tag_counts_chart(frame, top=2))
    assert len(rows) == 3
    assert rows[-1]["tag"].startswith("Other (")
    assert sum(r["sessions"] for r in rows) == frame.height


@pytest.mark.parametrize("top", [0, -1, 1.5, True, "3"])
def test_a_bad_top_is_refused(frame: pl.DataFrame, top: Any) -> None:
    with pytest.raises(ConfigurationError, match="top"):
        charts.tag_counts_chart(frame, top=top)


def test_sessions_over_time_stacks_every_session(frame: pl.DataFrame) -> None:
    rows = _values(charts.sessions_over_time_chart(frame, every="1d"))
    assert sum(r["sessions"] for r in rows) == frame.height
    for row in rows:
        assert row["stack_end"] - row["stack_start"] == row["sessions"]
        assert row["period_start"].endswith("Z")
    hourly = _values(charts.sessions_over_time_chart(frame, every="6h"))
    assert sum(r["sessions"] for r in hourly) == frame.height


def test_peak_concurrency_stops_running_sessions_at_the_latest_instant() -> None:
    t0 = datetime(2025, 6, 18, 9, tzinfo=timezone.utc)
    t1 = datetime(2025, 6, 18, 11, 30, tzinfo=timezone.utc)
    frame = sessions(
        [
            {"status": "started", "start": t0, "created_at": t0, "updated_at": t0},
            {"status": "completed", "start": t0, "end": t1, "duration_s": 9000.0},
        ]
    )
    rows = _values(charts.peak_concurrency_chart(frame, every="1h"))
    # Both run 09:00-11:30 (the data's latest instant), not until today.
    assert [r["peak_sessions"] for r in rows] == [2, 2, 2]
    later = datetime(2025, 6, 18, 13, 30, tzinfo=timezone.utc)
    rows = _values(charts.peak_concurrency_chart(frame, every="1h", now=later))
    assert [r["peak_sessions"] for r in rows] == [2, 2, 2, 1, 1]


def test_charts_agree_with_the_helpers_and_their_snapshot() -> None:
    # A 2025 history with an open session: the chart and the helper stop at its snapshot.
    jan = lambda d, h=0: datetime(2025, 1, d, h, tzinfo=timezone.utc)  # noqa: E731
    frame = sessions(
        [
            {"status": "running", "start": jan(30, 9), "updated_at": jan(30, 9)},
            {"status": "completed", "start": jan(31, 8), "end": jan(31, 9), "duration_s": 3600.0},
        ]
    )
    table = peak_concurrency(frame, every="1h")
    rows = _values(charts.peak_concurrency_chart(frame, every="1h"))
    assert [r["peak_sessions"] for r in rows] == table["peak_sessions"].to_list()
    assert len(rows) == 24  # 2025-01-30 09:00 to 2025-01-31 08:00, not until today
    assert rows[-1]["period_start"] == "2025-01-31T08:00:00.000Z"


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_timed_charts_use_local_periods_and_labels(frame: pl.DataFrame, zone: str) -> None:
    spec = _spec(charts.sessions_over_time_chart(frame, every="1d", time_zone=zone))
    assert spec["encoding"]["x"]["title"] == f"Start ({zone})"
    rows = _values(charts.sessions_over_time_chart(frame, every="1d", time_zone=zone))
    assert sum(r["sessions"] for r in rows) == frame.height
    assert all(r["period_start"].endswith("T00:00:00.000Z") for r in rows)  # local midnight
    table = sessions_over_time(frame, every="1d", time_zone=zone)
    local = table["period_start"].dt.replace_time_zone(None).dt.strftime("%Y-%m-%d").to_list()
    assert {r["period_start"][:10] for r in rows} <= set(local)
    hourly = _values(charts.peak_concurrency_chart(frame, every="1h", time_zone=zone))
    assert all(r["period_start"].endswith(":00:00.000Z") for r in hourly)
    expected = peak_concurrency(frame, every="1h", time_zone=zone)
    assert [r["peak_sessions"] for r in hourly] == expected["peak_sessions"].to_list()
    with pytest.raises(ConfigurationError, match="unknown time zone"):
        charts.sessions_over_time_chart(frame, time_zone="Mars/Olympus")


def test_save_charts_writes_decodable_pngs_and_html(frame: pl.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "new" / "charts"
    written = charts.save_charts(frame, target)
    assert [p.name for p in written] == [
        f"{name}.{fmt}" for name in charts.CHART_NAMES for fmt in ("html", "png")
    ]
    for path in written:
        assert path.parent == target
        if path.suffix == ".png":
            assert_rendered_png(path)
        else:
            html = path.read_text(encoding="utf-8")
            assert "<html" in html and "<script src=" not in html, "loads nothing from outside"
            spec = embedded_spec(html)
            assert spec["data"]["values"]
            assert '"url"' not in json.dumps(spec)


def embedded_spec(html: str) -> dict[str, Any]:
    """The Vega-Lite spec an HTML page of vl-convert draws (``const spec = {...};``)."""
    start = html.index("const spec = ") + len("const spec = ")
    end = html.index(";\n", start)
    spec: dict[str, Any] = json.loads(html[start:end])
    return spec


def test_html_pages_embed_the_vega_javascript_unless_cdn(
    frame: pl.DataFrame, tmp_path: Path
) -> None:
    inline = charts.save_charts(frame, tmp_path / "inline", formats=["html"])
    cdn = charts.save_charts(frame, tmp_path / "cdn", formats=["html"], cdn=True)
    for page, small in zip(inline, cdn, strict=True):
        text, small_text = page.read_text(encoding="utf-8"), small.read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net" not in text and "vegaEmbed" in text
        assert len(text) > 500_000  # Vega, Vega-Lite and vega-embed, inline
        assert '<script src="https://cdn.jsdelivr.net/npm/vega@' in small_text
        assert len(small_text) < 50_000
        assert embedded_spec(text) == embedded_spec(small_text)


def test_save_charts_svg_and_json(tmp_path: Path) -> None:
    written = charts.save_charts(empty(), tmp_path, formats=["svg", "json"])
    assert len(written) == 2 * len(charts.CHART_NAMES)
    for path in written:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".svg":
            assert text.lstrip().startswith("<svg")
        else:
            assert json.loads(text)["data"]["values"] is not None


@pytest.mark.parametrize("formats", [(), ("gif",), ("png", "bmp")])
def test_unknown_formats_are_refused(frame: pl.DataFrame, tmp_path: Path, formats: Any) -> None:
    with pytest.raises(ConfigurationError, match="formats"):
        charts.save_charts(frame, tmp_path, formats=formats)
    assert not list(tmp_path.iterdir())


def test_a_non_sessions_frame_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="status"):
        charts.status_breakdown_chart(pl.DataFrame({"x": [1]}))


def test_missing_altair_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, frame: pl.DataFrame
) -> None:
    monkeypatch.setitem(sys.modules, "altair", None)
    with pytest.raises(ImportError, match=r"vsdk-analytics\[charts\]"):
        charts.status_breakdown_chart(frame)
