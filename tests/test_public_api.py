from __future__ import annotations

import inspect
import pydoc
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
    assert sync.parameters["max_concurrency"].default == DEFAULT_MAX_CONCURRENCY == 32
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
# A sync entry point is its async twin run synchronously (`_sync.blocking`, the Client's
# `_blocking_method`): its parameters are the twin's, written once. What is written
# twice is a function's parameters and the client's (a function opens a client and
# calls its method); the last test holds those equal.

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


def test_every_sync_function_is_its_async_twin_run_synchronously() -> None:
    assert len(_TWINS) >= 5
    for sync, asyn in _TWINS:
        assert inspect.iscoroutinefunction(asyn), asyn.__name__
        assert not inspect.iscoroutinefunction(sync), sync.__name__
        assert sync.__wrapped__ is asyn, sync.__name__  # one signature, the twin's
        assert _params(sync) == _params(asyn), sync.__name__
        assert sync.__module__ == asyn.__module__, sync.__name__
        assert sync.__doc__ and sync.__doc__ != asyn.__doc__, sync.__name__


def test_client_and_async_client_have_the_same_public_names() -> None:
    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    assert public(vsdk_analytics.Client) - {"close"} == public(vsdk_analytics.AsyncClient) - {
        "aclose"
    }


def test_client_methods_are_the_async_clients_run_on_its_thread() -> None:
    sync_init = vsdk_analytics.Client.__init__
    assert sync_init.__wrapped__ is vsdk_analytics.AsyncClient.__init__  # type: ignore[attr-defined]
    assert _params(vsdk_analytics.Client) == _params(vsdk_analytics.AsyncClient)
    assert _CLIENT_METHODS
    for name in _CLIENT_METHODS:
        sync = getattr(vsdk_analytics.Client, name)
        asyn = getattr(vsdk_analytics.AsyncClient, name)
        assert sync.__name__ == name and sync.__doc__, name
        assert _params(sync) == _params(asyn), name
        if name != "iter_pages":  # it collects the async iterator: written out
            assert sync.__wrapped__ is asyn, name


def test_sync_twins_show_their_parameters_in_help() -> None:
    text = pydoc.render_doc(vsdk_analytics.fetch_sessions)
    assert "per_page: 'int' = 100" in text
    assert "Fetch every AI deployment session" in text
    text = pydoc.render_doc(vsdk_analytics.Client.stream_sessions)
    assert "batch_rows" in text and "on_batch" in text


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
