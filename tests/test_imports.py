"""`import vsdk_analytics` is quick: Polars, httpx and pyarrow load on first use only.

Run in fresh interpreters (this process has imported everything already).
"""

from __future__ import annotations

import json
import subprocess
import sys

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
