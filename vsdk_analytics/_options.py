"""``since=``/``until=`` as every entry point reads them: a `TimeRange` in UTC.

(The numeric options are checked by `vsdk_analytics._config.check_client_options`.)
"""

from __future__ import annotations

from datetime import datetime, timezone

from ._errors import ConfigurationError
from ._fetch import TimeRange

__all__ = ["parse_instant", "time_range"]


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
