"""Checks of the options every entry point shares, so fetch, sync, the clients and the CLI agree.

`check_fetch_options` validates the numbers (page size, concurrency, retries, timeout) before
any request; `time_range` turns ``since=``/``until=`` into a `TimeRange` in UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ._errors import ConfigurationError
from ._fetch import TimeRange

__all__ = ["check_fetch_options", "parse_instant", "time_range"]


def _whole(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_fetch_options(
    *,
    per_page: int | None = None,
    max_concurrency: int | None = None,
    max_retries: int | None = None,
    timeout: float | None = None,
) -> None:
    """Raise `ConfigurationError` for an option out of range (None: not checked)."""
    if per_page is not None:
        _whole("per_page", per_page, 1)
    if max_concurrency is not None:
        _whole("max_concurrency", max_concurrency, 1)
    if max_retries is not None:
        _whole("max_retries", max_retries, 0)
    given: object = timeout
    if given is not None and (
        isinstance(given, bool) or not isinstance(given, (int, float)) or not given > 0
    ):
        raise ConfigurationError(f"timeout must be > 0 seconds, got {timeout!r}")


def parse_instant(name: str, value: datetime | str | None) -> datetime | None:
    """An aware datetime in UTC from a datetime or ISO-8601 text; naive ones are refused."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigurationError(
                f"{name}={value!r} is not an ISO-8601 timestamp (e.g. '2025-06-18T00:00:00Z')"
            ) from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise ConfigurationError(f"{name} must be a datetime or ISO-8601 text, got {value!r}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ConfigurationError(
            f"{name}={value!r} has no time zone; give an aware datetime "
            "(e.g. datetime(2025, 6, 18, tzinfo=timezone.utc)) or text ending in Z or +00:00"
        )
    return parsed.astimezone(timezone.utc)


def time_range(since: datetime | str | None, until: datetime | str | None) -> TimeRange:
    """The `TimeRange` of ``since <= created_at < until``; ``until`` must be after ``since``."""
    lo, hi = parse_instant("since", since), parse_instant("until", until)
    if lo is not None and hi is not None and hi <= lo:
        raise ConfigurationError(f"until ({hi.isoformat()}) must be after since ({lo.isoformat()})")
    return TimeRange(lo, hi)
