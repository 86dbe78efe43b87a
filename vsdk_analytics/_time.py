"""Times people type: the package's one parser of instants, and IANA time-zone checks.

`parse_instant` turns what a person or a program gives as a point in time into an
aware UTC `datetime`: an aware datetime, ISO-8601 text with a zone (``Z``,
``+02:00``), a plain date (midnight in the given time zone) or a span back from
``now`` (``"7d"``, ``"24h"``, ``"30m"``, ``"90s"``, ``"2w"``). A naive datetime or
ISO text without a zone is refused: guessing its zone could shift a range by hours.

`check_time_zone` validates an IANA time-zone name (``"America/New_York"``) for the
helpers and charts that bucket time.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._errors import ConfigurationError

__all__ = ["check_time_zone", "iso_instant", "parse_instant", "required_iso_instant"]

_SPAN_RE: Final = re.compile(r"(\d+)\s*([wdhms])", re.IGNORECASE)
_SPANS_RE: Final = re.compile(r"(?:\d+\s*[wdhms]\s*)+", re.IGNORECASE)
_SPAN_UNITS: Final = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_EXAMPLES: Final = "'2025-06-18T00:00:00Z', '2025-06-18' (a date) or '7d' (a span back from now)"


def check_time_zone(time_zone: object) -> str:
    """Validate an IANA time-zone name and return it.

    Parameters
    ----------
    time_zone
        A name from the IANA database, e.g. ``"UTC"``, ``"America/New_York"``,
        ``"Asia/Kolkata"``.

    Returns
    -------
    str
        The name as given.

    Raises
    ------
    ConfigurationError
        Not a string, or not a time zone this machine's IANA database knows.

    Examples
    --------
    >>> check_time_zone("Asia/Kolkata")
    'Asia/Kolkata'
    """
    if not isinstance(time_zone, str) or not time_zone.strip():
        raise ConfigurationError(
            f"time_zone must be an IANA name such as 'UTC' or 'America/New_York', got {time_zone!r}"
        )
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown time zone {time_zone!r}: give an IANA name such as 'UTC', "
            "'Europe/Berlin' or 'America/New_York'"
        ) from None
    return time_zone


def iso_instant(text: str) -> datetime | None:
    """ISO-8601 text with a zone (``Z``, ``+02:00``) as an aware UTC datetime, else None.

    The lenient reading of a timestamp field: text without a zone, text that is not
    ISO-8601 and instants outside the range of `datetime` in UTC all give None (the
    caller keeps the original).

    Examples
    --------
    >>> iso_instant("2025-06-18T09:30:00.250+02:00")
    datetime.datetime(2025, 6, 18, 7, 30, 0, 250000, tzinfo=datetime.timezone.utc)
    >>> iso_instant("2025-06-18T09:30:00") is None
    True
    """
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None  # a naive time is ambiguous: refuse rather than guess
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:30+01:00 is before year 1 in UTC
        return None


def required_iso_instant(text: str) -> datetime:
    """`iso_instant` for text that must be one (files we wrote); ValueError if it is not."""
    parsed = iso_instant(text)
    if parsed is None:
        raise ValueError(f"{text!r} is not an ISO-8601 instant with a zone")
    return parsed


def _aware(value: datetime, name: str, shown: object) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError(
            f"{name}={shown!r} has no time zone; give an aware datetime "
            "(e.g. datetime(2025, 6, 18, tzinfo=timezone.utc)), text ending in Z or "
            f"+00:00, or a date or span: {_EXAMPLES}"
        )
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ConfigurationError(f"{name}={shown!r} is out of range in UTC") from None


def parse_instant(
    value: datetime | date | str,
    *,
    name: str,
    time_zone: str = "UTC",
    now: datetime | None = None,
) -> datetime:
    """An aware UTC instant from a datetime, a date, ISO-8601 text or a relative span.

    Parameters
    ----------
    value
        One of:

        - an aware `datetime` (converted to UTC);
        - a `date`, or date text ``YYYY-MM-DD``: midnight of that day in ``time_zone``;
        - ISO-8601 text with a zone: ``2025-06-18T09:30:00Z``, ``...+05:30``;
        - a span back from ``now``: a whole number and a unit, ``w`` (weeks), ``d``
          (days), ``h`` (hours), ``m`` (minutes) or ``s`` (seconds), repeatable:
          ``"7d"``, ``"24h"``, ``"1d12h"``, ``"30m"``.
    name
        The argument's name, used in error messages (``"since"``, ``"--until"``).
    time_zone
        The IANA time zone of a plain date; default UTC.
    now
        The instant a span counts back from; default: the current time.

    Returns
    -------
    datetime.datetime
        Timezone-aware, in UTC.

    Raises
    ------
    ConfigurationError
        A naive datetime, text without a zone, text that is none of the above, an
        unknown time zone, or a naive ``now``.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> parse_instant("2025-06-18T09:30:00+02:00", name="since")
    datetime.datetime(2025, 6, 18, 7, 30, tzinfo=datetime.timezone.utc)
    >>> parse_instant("2025-06-18", name="since", time_zone="Asia/Kolkata")
    datetime.datetime(2025, 6, 17, 18, 30, tzinfo=datetime.timezone.utc)
    >>> now = datetime(2025, 6, 18, 12, tzinfo=timezone.utc)
    >>> parse_instant("36h", name="since", now=now)
    datetime.datetime(2025, 6, 17, 0, 0, tzinfo=datetime.timezone.utc)
    """
    zone = check_time_zone(time_zone)
    if isinstance(value, datetime):
        return _aware(value, name, value)
    if isinstance(value, date):
        return _aware(datetime.combine(value, time(), ZoneInfo(zone)), name, value)
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{name} must be a datetime, a date or text such as {_EXAMPLES}; got {value!r}"
        )
    text = value.strip()
    if _SPANS_RE.fullmatch(text):
        spans = _SPAN_RE.findall(text)
        base = datetime.now(timezone.utc) if now is None else _aware(now, "now", now)
        try:
            back = sum(
                (timedelta(**{_SPAN_UNITS[unit.lower()]: int(n)}) for n, unit in spans),
                timedelta(),
            )
            return base - back
        except OverflowError:
            raise ConfigurationError(f"{name}={value!r} reaches before year 1") from None
    if _DATE_RE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ConfigurationError(f"{name}={value!r} is not a valid date") from None
        return _aware(datetime.combine(day, time(), ZoneInfo(zone)), name, value)
    parsed = iso_instant(text)
    if parsed is not None:
        return parsed
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        naive = datetime.fromisoformat(candidate)
    except ValueError:
        raise ConfigurationError(
            f"{name}={value!r} is not a time this library reads; give {_EXAMPLES}"
        ) from None
    return _aware(naive, name, value)  # raises: no zone, or out of range in UTC
