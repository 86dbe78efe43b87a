"""The fake API's answers that are not data: `Reply`, errors, injected faults, the rate limiter.

Everything here is pure (no I/O): `FakeVideoSDK` decides *when* a fault or a 429 happens,
these build *what* is answered. `TokenBucket` is the rate limiter with its headers.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from vsdk_analytics.testing._config import FAULT_KINDS, FaultKind, RetryAfterStyle
from vsdk_analytics.testing._data import encode_json

__all__ = [
    "ERROR_STATUSES",
    "HTML",
    "JSON",
    "Action",
    "Reply",
    "TokenBucket",
    "choose_fault",
    "error_reply",
    "failure",
    "fault_reply",
    "json_reply",
    "server_error",
    "too_many",
]

Action = Literal["reset", "slow", "hang"]

ERROR_STATUSES: Final = (500, 502, 503, 504)
JSON: Final = "application/json; charset=utf-8"
HTML: Final = "text/html; charset=utf-8"
REDIRECT_LOCATION: Final = "https://maintenance.videosdk.invalid/ai/v1/moved"
_GATEWAY_PAGE: Final = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_MAINTENANCE_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>Scheduled maintenance</title></head>"
    b"<body><h1>We'll be right back</h1><p>VideoSDK is under maintenance.</p></body></html>"
)
_FAIL_MESSAGES: Final = {
    400: "bad request",
    401: "invalid token: the API key was revoked",
    403: "forbidden: this API key may not access this resource",
    404: "not found",
}


@dataclass(frozen=True)
class Reply:
    """A transport-independent answer of `FakeVideoSDK.respond`.

    Attributes
    ----------
    status
        HTTP status.
    headers
        Headers other than ``Content-Length``, ``Date``, ``Connection`` and ``Server``.
    body
        The full body (for ``reset``/``slow``: the body the transport cuts or dribbles).
    action
        What the transport must do besides answering: ``None`` (answer normally),
        ``"reset"``, ``"slow"`` or ``"hang"``.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    action: Action | None = None


def json_reply(status: int, payload: object, *headers: tuple[str, str]) -> Reply:
    """A JSON answer."""
    return Reply(status, (("Content-Type", JSON), *headers), encode_json(payload))


def error_reply(status: int, message: str, *headers: tuple[str, str]) -> Reply:
    """A JSON ``{"error": message}`` answer."""
    return json_reply(status, {"error": message}, *headers)


def failure(status: int) -> Reply:
    """The answer of `FakeConfig.fail_after` (a revoked key by default)."""
    return error_reply(status, _FAIL_MESSAGES.get(status, f"request failed ({status})"))


def server_error(status: int) -> Reply:
    """An injected 5xx: JSON for 500/503, nginx's HTML page for 502/504."""
    phrase = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    if status in (502, 504):
        name = "Bad Gateway" if status == 502 else "Gateway Time-out"
        page = _GATEWAY_PAGE.format(status=status, phrase=name)
        return Reply(status, (("Content-Type", HTML),), page.encode())
    return error_reply(status, phrase[status])


def choose_fault(faults: Mapping[FaultKind, float], draw: float) -> FaultKind | None:
    """The fault a uniform ``draw`` in ``[0, 1)`` picks, or ``None``."""
    cumulative = 0.0
    for kind in FAULT_KINDS:
        cumulative += faults.get(kind, 0.0)
        if draw < cumulative:
            return kind
    return None


def fault_reply(fault: FaultKind, body: bytes) -> Reply:
    """The answer of a fault other than ``burst429``, given the page it spoils."""
    if fault == "html200":
        return Reply(200, (("Content-Type", HTML),), _MAINTENANCE_PAGE)
    if fault == "error200":
        return error_reply(200, "Internal error: try later")
    if fault == "redirect":
        return Reply(302, (("Location", REDIRECT_LOCATION), ("Content-Type", HTML)), b"")
    if fault == "no_content":
        return Reply(204, (), b"")
    if fault == "truncated":
        return Reply(200, (("Content-Type", JSON),), body[: len(body) // 2])
    action: Action | None = None
    if fault == "reset" or fault == "slow" or fault == "hang":  # noqa: PLR1714 - narrows
        action = fault
    return Reply(200, (("Content-Type", JSON),), body, action)


def too_many(seconds: int, style: RetryAfterStyle) -> Reply:
    """A 429 whose ``Retry-After`` says ``seconds`` in the given style."""
    headers: list[tuple[str, str]] = []
    if style == "seconds":
        headers.append(("Retry-After", str(seconds)))
    elif style == "http-date":
        headers.append(("Retry-After", email.utils.formatdate(time.time() + seconds, usegmt=True)))
    return error_reply(429, "Too many requests, please try again later.", *headers)


class TokenBucket:
    """A token bucket of ``size`` tokens refilled at ``rate`` per second (not thread-safe).

    Parameters
    ----------
    rate
        Tokens per second.
    size
        Capacity (the burst).
    clock
        Monotonic clock.
    """

    def __init__(self, rate: float, size: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.size = size
        self._clock = clock
        self.tokens = float(size)
        self._refilled_at = clock()

    def reconfigure(self, rate: float, size: int) -> None:
        """New rate and size; the tokens in hand are kept (at most ``size``)."""
        self._refill()
        self.rate, self.size = rate, size
        self.tokens = min(self.tokens, float(size))

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(float(self.size), self.tokens + (now - self._refilled_at) * self.rate)
        self._refilled_at = now

    def take(self) -> int | None:
        """Take a token: ``None`` when allowed, else whole seconds until one is back."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))

    def headers(self) -> tuple[tuple[str, str], ...]:
        """``X-RateLimit-*`` and ``RateLimit-*`` headers describing the bucket now."""
        remaining = str(math.floor(self.tokens))
        reset = str(max(0, math.ceil((self.size - self.tokens) / self.rate - 1e-9)))
        limit = str(self.size)
        return (
            ("X-RateLimit-Limit", limit),
            ("X-RateLimit-Remaining", remaining),
            ("X-RateLimit-Reset", reset),
            ("RateLimit-Limit", limit),
            ("RateLimit-Remaining", remaining),
            ("RateLimit-Reset", reset),
        )
