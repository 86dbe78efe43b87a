"""Shared fixtures: a clean environment, no backoff waits, no internet."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from vsdk_analytics._retry import set_backoff_scale

_ENV_PREFIX = "VIDEOSDK_"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without any VIDEOSDK_* variable of the developer's shell."""
    import os

    for key in list(os.environ):
        if key.startswith(_ENV_PREFIX):
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries happen at once: tests never wait out a backoff."""
    previous = set_backoff_scale(0.0)
    yield
    set_backoff_scale(previous)


_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else address
    if (
        isinstance(host, str)
        and host not in {"127.0.0.1", "::1", "localhost"}
        and not host.startswith("127.")
    ) and self.family in (socket.AF_INET, socket.AF_INET6):
        raise RuntimeError(f"tests must not leave this machine (tried {address!r})")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if a test tries to reach anything but loopback."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
