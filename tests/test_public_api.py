from __future__ import annotations

import inspect
import re

import vsdk_analytics
from vsdk_analytics._constants import DEFAULT_MAX_CONCURRENCY


def test_all_is_sorted_and_complete() -> None:
    names = vsdk_analytics.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert hasattr(vsdk_analytics, name), name
    public = {
        n
        for n, v in vars(vsdk_analytics).items()
        if not n.startswith("_")
        and not inspect.ismodule(v)
        and n not in {"annotations", "TYPE_CHECKING"}
    }
    assert public <= set(names), public - set(names)


def test_version_comes_from_package_metadata() -> None:
    from importlib.metadata import version

    assert vsdk_analytics.__version__ == version("vsdk-analytics")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", vsdk_analytics.__version__)


def test_entry_points_have_the_documented_signature() -> None:
    sync = inspect.signature(vsdk_analytics.fetch_sessions)
    asyn = inspect.signature(vsdk_analytics.fetch_sessions_async)
    assert list(sync.parameters) == list(asyn.parameters)
    assert list(sync.parameters)[:5] == [
        "credentials",
        "base_url",
        "per_page",
        "max_concurrency",
        "progress",
    ]
    assert sync.parameters["per_page"].default == 100
    assert sync.parameters["max_concurrency"].default == DEFAULT_MAX_CONCURRENCY == 16
    assert sync.parameters["credentials"].default is None
    assert all(
        p.kind is inspect.Parameter.KEYWORD_ONLY
        for n, p in sync.parameters.items()
        if n != "credentials"
    )
    assert inspect.iscoroutinefunction(vsdk_analytics.fetch_sessions_async)


def test_every_public_error_is_a_videosdk_error() -> None:
    for name in vsdk_analytics.__all__:
        obj = getattr(vsdk_analytics, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, (vsdk_analytics.VideoSDKError, vsdk_analytics.VideoSDKWarning))
