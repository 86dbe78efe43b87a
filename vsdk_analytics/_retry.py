"""Retry decisions, as small pure pieces.

`should_retry`, `parse_retry_after`, `parse_rate_limit` and `backoff_delay` decide; the
requester only sleeps and counts, and `vsdk_analytics._limiter.RequestLimiter` paces.
`set_backoff_scale` is the testing switch that drops the waits
(`vsdk_analytics.testing.no_backoff`).
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

from ._constants import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    RETRY_AFTER_MAX_SECONDS,
    RETRY_STATUSES,
)

__all__ = [
    "RateLimitHeaders",
    "backoff_delay",
    "backoff_scale",
    "parse_rate_limit",
    "parse_retry_after",
    "set_backoff_scale",
    "should_retry",
]

_scale = 1.0


def set_backoff_scale(scale: float) -> float:
    """Multiply every wait by ``scale`` (0 in tests); return the previous scale."""
    global _scale
    if scale < 0 or math.isnan(scale):
        raise ValueError("scale must be >= 0")
    previous, _scale = _scale, float(scale)
    return previous


def backoff_scale() -> float:
    """The current multiplier applied to waits."""
    return _scale


def should_retry(status_code: int) -> bool:
    """Whether an HTTP status is worth another attempt (408, 429, 500, 502, 503, 504)."""
    return status_code in RETRY_STATUSES


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers by lower-case name, read once (the first of repeated names wins)."""
    out: dict[str, str] = {}
    for key, raw in headers.items():
        out.setdefault(key.lower(), raw)
    return out


def _header(lowered: Mapping[str, str], name: str) -> str | None:
    """A header's stripped value from `_lowered` headers (None when absent or empty)."""
    raw = lowered.get(name)
    if raw is None:
        return None
    value = raw.strip()
    return value or None


def _clamp(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or HTTP-date) or ``retry-after-ms``.

    ``retry-after-ms`` (milliseconds, sent by some API gateways) wins when both are
    present and valid. Returns None when absent or unparseable; clamps to [0, 120] seconds.

    Examples
    --------
    >>> parse_retry_after({"retry-after": "3"})
    3.0
    >>> now = datetime(2025, 6, 18, 11, 0, 0, tzinfo=timezone.utc)
    >>> parse_retry_after({"Retry-After": "Wed, 18 Jun 2025 11:00:05 GMT"}, now)
    5.0
    >>> parse_retry_after({"Retry-After": "2", "retry-after-ms": "1500"})
    1.5
    >>> parse_retry_after({}) is None
    True
    """
    headers = _lowered(headers)
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        try:
            seconds = _clamp(float(millis) / 1000.0)
        except ValueError:
            seconds = None
        if seconds is not None:
            return seconds
    value = _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return _clamp(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else datetime.now(timezone.utc)
    return _clamp((when - current).total_seconds())


@dataclass(frozen=True)
class RateLimitHeaders:
    """What a response's rate-limit headers say (each field None when not said).

    Attributes
    ----------
    limit
        Requests allowed per window (``X-RateLimit-Limit`` / ``RateLimit-Limit``).
    remaining
        Requests left in the current window.
    reset
        Seconds until the window resets (an epoch timestamp is turned into seconds).
    policy_rate
        Requests per second of the strictest ``RateLimit-Policy`` item (``q;w=seconds``).
    """

    limit: float | None = None
    remaining: float | None = None
    reset: float | None = None
    policy_rate: float | None = None

    @property
    def empty(self) -> bool:
        """Whether no rate-limit header was understood."""
        return self == _NO_RATE_LIMIT


_NO_RATE_LIMIT: Final = RateLimitHeaders()
_EPOCH_THRESHOLD: Final = 1e9
"""A reset above this is a Unix timestamp (GitHub style), not a number of seconds."""


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    # RateLimit-Limit may carry a policy after the first value: "100, 100;w=60".
    head = text.split(",")[0].split(";")[0].strip()
    try:
        value = float(head)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _policy_rate(text: str | None) -> float | None:
    """Requests per second of the strictest item of ``10;w=1, 1000;w=3600`` or ``"p";q=10;w=1``."""
    if text is None:
        return None
    rates: list[float] = []
    for item in text.split(","):
        parts = [part.strip() for part in item.split(";")]
        params = dict(part.split("=", 1) for part in parts[1:] if "=" in part)
        quota = params.get("q", parts[0])
        try:
            q, w = float(quota), float(params.get("w", "nan"))
        except ValueError:
            continue
        if math.isfinite(q) and math.isfinite(w) and q > 0 and w > 0:
            rates.append(q / w)
    return min(rates) if rates else None


_NOTHING_SAID: Final = RateLimitHeaders()


def parse_rate_limit(headers: Mapping[str, str], now: float | None = None) -> RateLimitHeaders:
    """Read ``X-RateLimit-Limit/-Remaining/-Reset`` or IETF ``RateLimit-*`` headers.

    ``now`` is the wall-clock time (Unix seconds) used when a reset is a timestamp.

    Examples
    --------
    >>> parse_rate_limit({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"})
    RateLimitHeaders(limit=None, remaining=0.0, reset=2.0, policy_rate=None)
    >>> parse_rate_limit({"RateLimit-Policy": "100;w=10, 1000;w=3600"}).policy_rate
    0.2777777777777778
    >>> parse_rate_limit({}).empty
    True
    """
    # every answer passes here, most without such headers: one scan of the names first
    if "ratelimit-" not in "\n".join(headers).lower():
        return _NOTHING_SAID
    headers = _lowered(headers)
    if not any(k.startswith(("x-ratelimit-", "ratelimit-")) for k in headers):
        return _NOTHING_SAID

    def pick(name: str) -> float | None:
        value = _number(_header(headers, f"x-ratelimit-{name}"))
        return value if value is not None else _number(_header(headers, f"ratelimit-{name}"))

    reset = pick("reset")
    if reset is not None and reset > _EPOCH_THRESHOLD:
        reset = reset - (time.time() if now is None else now)
    return RateLimitHeaders(
        limit=pick("limit"),
        remaining=pick("remaining"),
        reset=None if reset is None else _clamp(reset),
        policy_rate=_policy_rate(_header(headers, "ratelimit-policy")),
    )


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    Capped exponential backoff with full jitter in its upper half; a server's
    ``Retry-After`` wins when it asks for longer. Scaled by `backoff_scale`.
    """
    r = rng.random() if rng is not None else random.random()  # noqa: S311 - jitter, not crypto
    exp = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(attempt - 1, 0))
    delay = exp * (0.5 + 0.5 * r)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay * _scale
