"""The fake API's session records: `FakeSession`, the API's JSON and timestamp formats, seeds.

The base layer of the synthetic data: `vsdk_analytics.testing._profile` builds sessions and
`vsdk_analytics.testing._data` generates and stores them, both in these terms.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Final, NamedTuple

from vsdk_analytics._schema import RUNNING_STATUSES
from vsdk_analytics._time import required_iso_instant

__all__ = [
    "DEFAULT_NOW",
    "FakeSession",
    "encode_json",
    "format_timestamp",
    "parse_ms",
    "seeded_rng",
    "to_ms",
]

DEFAULT_NOW: Final = datetime(2025, 7, 1, 12, 0, 0, tzinfo=timezone.utc)
"""The reference "now" of generated data when none is given (fixed, so data is reproducible)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


class FakeSession(NamedTuple):
    """One session of the fake API, with its pre-encoded JSON.

    Attributes
    ----------
    session_id
        The ``sessionId``.
    created_ms
        ``createdAt`` as milliseconds since the Unix epoch (the sort key).
    status
        The ``status``.
    body
        The compact UTF-8 JSON object exactly as the list endpoint returns it.
    """

    session_id: str
    created_ms: int
    status: str
    body: bytes

    @property
    def running(self) -> bool:
        """Whether the session has not ended (no ``end``, no ``duration``)."""
        return self.status in RUNNING_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """Decode `body`: the session as the list endpoint returns it."""
        value: dict[str, Any] = json.loads(self.body)
        return value

    def detail_body(self) -> bytes:
        """Encode the session as the single-session endpoint returns it (no webhook/metadata)."""
        record = self.to_dict()
        record.pop("webhook", None)
        record.pop("metadata", None)
        return encode_json(record)


def encode_json(value: object) -> bytes:
    """Compact UTF-8 JSON, as the API sends it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        msg = "datetimes must be timezone-aware (UTC)"
        raise ValueError(msg)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_timestamp(ms: int) -> str:
    """Format epoch milliseconds the way the API does: ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    Parameters
    ----------
    ms
        Milliseconds since the Unix epoch (UTC).

    Returns
    -------
    str
        For example ``"2025-06-18T11:15:07.275Z"``.
    """
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(timestamp: str) -> int:
    """Milliseconds since the epoch of an ISO-8601 instant with a zone."""
    return to_ms(required_iso_instant(timestamp))


def seeded_rng(seed: int | str) -> random.Random:
    """A seeded generator of test data (reproducibility, not secrecy, is the point)."""
    return random.Random(seed)  # noqa: S311 - synthetic data, not security
