"""`import vsdk_analytics` is quick: Polars, httpx and pyarrow load on first use only.

Run in fresh interpreters (this process has imported everything already).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import vsdk_analytics


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    out = _run(
        "import json, sys; import vsdk_analytics; "
        "print(json.dumps(sorted(m for m in ('polars', 'httpx', 'pyarrow', 'aiohttp', 'jwt') "
        "if m in sys.modules)))"
    )
    assert json.loads(out) == []


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in vsdk_analytics.__all__:
        assert getattr(vsdk_analytics, name) is not None, name
    assert set(vsdk_analytics.__all__) <= set(dir(vsdk_analytics))
    with pytest.raises(AttributeError, match="no_such_name"):
        vsdk_analytics.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_the_frame_namespace_is_there_when_polars_came_first_or_after_first_use() -> None:
    polars_first = _run(
        "import polars as pl, vsdk_analytics; print(hasattr(pl.DataFrame(), 'vsdk'))"
    )
    after_use = _run(
        "import vsdk_analytics as va, polars as pl; va.tag_counts; "
        "print(hasattr(pl.DataFrame(), 'vsdk'))"
    )
    assert (polars_first, after_use) == ("True", "True")


def test_writing_a_file_loads_neither_the_sync_machinery_nor_pyarrow_compute(
    tmp_path: Path,
) -> None:
    """`write_parquet` needs the file writer only: the dataset package loads per name."""
    target = tmp_path / "s.parquet"
    out = _run(
        "import json, sys; import vsdk_analytics as va; "
        f"va.write_parquet(va.SESSIONS_SCHEMA.to_frame(), {str(target)!r}); "
        "print(json.dumps(sorted(m for m in ('pyarrow.compute', 'filelock', 'httpx', "
        "'vsdk_analytics._dataset.sync', 'vsdk_analytics._dataset.delta', "
        "'vsdk_analytics._dataset.lock') if m in sys.modules)))"
    )
    assert json.loads(out) == []
    assert target.is_file()


def test_a_fetch_on_the_default_wire_never_loads_httpx() -> None:
    """The aiohttp wire needs nothing of httpx over plain-http loopback (about 45 ms, 130
    with rich installed); errors and ``transport="httpx"`` load it on demand."""
    from vsdk_analytics.testing import FAKE_API_KEY, FAKE_SECRET, FakeServer

    with FakeServer(sessions=250, max_per_page=100) as server:
        out = _run(
            "import json, sys; import vsdk_analytics as va; "
            f"c = va.Credentials(api_key={FAKE_API_KEY!r}, secret={FAKE_SECRET!r}); "
            f"frame = va.fetch_sessions(c, base_url={server.url!r}, progress=False); "
            "print(json.dumps([frame.height, 'httpx' in sys.modules]))"
        )
    assert json.loads(out) == [250, False]
