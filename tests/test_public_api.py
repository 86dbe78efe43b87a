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


# -- the entry points cannot drift apart ---------------------------------------------
#
# Each entry point spells its parameters out (for IDEs, `help()` and the API reference)
# rather than taking **options; these tests make the copies one definition in effect:
# a parameter added, renamed, retyped or given another default in one place fails here.

_TWINS = [
    (getattr(vsdk_analytics, name), getattr(vsdk_analytics, f"{name}_async"))
    for name in vsdk_analytics.__all__
    if f"{name}_async" in vsdk_analytics.__all__
]
_CLIENT_METHODS = sorted(
    name
    for name in dir(vsdk_analytics.Client)
    if not name.startswith("_")
    and callable(getattr(vsdk_analytics.Client, name))
    and name != "close"
)


def _params(func: object, *, skip: int = 0) -> list[tuple[str, object, object, object]]:
    signature = inspect.signature(func)  # type: ignore[arg-type]
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in list(signature.parameters.values())[skip:]
    ]


def test_every_sync_function_has_its_async_twins_parameters() -> None:
    assert len(_TWINS) >= 5
    for sync, asyn in _TWINS:
        assert inspect.iscoroutinefunction(asyn), asyn.__name__
        assert not inspect.iscoroutinefunction(sync), sync.__name__
        assert _params(sync) == _params(asyn), sync.__name__


def test_client_and_async_client_take_the_same_options_and_methods() -> None:
    assert _params(vsdk_analytics.Client.__init__) == _params(vsdk_analytics.AsyncClient.__init__)
    assert _CLIENT_METHODS
    for name in _CLIENT_METHODS:
        sync = getattr(vsdk_analytics.Client, name)
        asyn = getattr(vsdk_analytics.AsyncClient, name)
        assert _params(sync) == _params(asyn), name


def test_functions_share_the_clients_options_and_methods_parameters() -> None:
    """A function's parameter that the client or its method also has is the same one."""
    client = {p[0]: p for p in _params(vsdk_analytics.AsyncClient.__init__, skip=1)}
    for sync, _ in _TWINS:
        mine = {p[0]: p for p in _params(sync)}
        method = getattr(vsdk_analytics.AsyncClient, sync.__name__, None)
        theirs = {} if method is None else {p[0]: p for p in _params(method, skip=1)}
        shared = (set(mine) & set(client)) | (set(mine) & set(theirs))
        assert shared, sync.__name__
        for name in shared:
            expected = client[name] if name in client else theirs[name]
            assert mine[name][1:] == expected[1:], (sync.__name__, name)
