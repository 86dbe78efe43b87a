"""``since=``/``until=`` as every entry point reads them: a `TimeRange` in UTC.

(The numeric options are checked by `vsdk_analytics._config.check_client_options`.)
"""

from __future__ import annotations

from datetime import datetime

from . import _time
from ._errors import ConfigurationError
from ._fetch import TimeRange

__all__ = ["parse_instant", "time_range"]


def parse_instant(name: str, value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from a datetime, ISO-8601 text with a zone, a date or a span.

    One parser for the package (`vsdk_analytics._time.parse_instant`); None stays None.
    """
    if value is None:
        return None
    return _time.parse_instant(value, name=name)


def time_range(since: datetime | str | None, until: datetime | str | None) -> TimeRange:
    """The `TimeRange` of ``since <= created_at < until``; ``until`` must be after ``since``."""
    lo, hi = parse_instant("since", since), parse_instant("until", until)
    if lo is not None and hi is not None and hi <= lo:
        raise ConfigurationError(f"until ({hi.isoformat()}) must be after since ({lo.isoformat()})")
    return TimeRange(lo, hi)
