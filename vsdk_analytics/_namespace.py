"""The ``.vsdk`` namespace on Polars frames: the analytics helpers as methods.

Importing this module (``import vsdk_analytics`` does) registers ``vsdk`` on
`polars.DataFrame` and `polars.LazyFrame`. Each method only forwards to the function
of the same name in `vsdk_analytics._helpers` (one implementation), so
``frame.vsdk.tag_counts(by="deployment_id")`` is
``tag_counts(frame, by="deployment_id")`` and returns the same kind of frame it was
called on.

Examples
--------
>>> import polars as pl
>>> import vsdk_analytics._namespace
>>> pl.DataFrame({"tag": ["a", "b", "a"]}).vsdk.tag_counts()["tag"].to_list()
['a', 'b']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final, Generic

import polars as pl

from ._helpers import (
    DEFAULT_QUANTILES,
    By,
    FrameT,
    data_quality,
    duration_distribution,
    duration_histogram,
    peak_concurrency,
    sessions_over_time,
    status_breakdown,
    tag_counts,
    unnest_metadata,
    webhook_coverage,
)

__all__ = ["NAMESPACE", "VsdkDataFrameNamespace", "VsdkLazyFrameNamespace"]

NAMESPACE: Final = "vsdk"
"""The attribute name the helpers are registered under."""


class _VsdkNamespace(Generic[FrameT]):
    """The helpers of `vsdk_analytics._helpers`, bound to one frame."""

    def __init__(self, frame: FrameT) -> None:
        self._frame: FrameT = frame

    def duration_distribution(
        self, *, by: By = None, quantiles: Sequence[float] = DEFAULT_QUANTILES
    ) -> FrameT:
        """See `vsdk_analytics.duration_distribution`."""
        return duration_distribution(self._frame, by=by, quantiles=quantiles)

    def duration_histogram(self, *, edges: Sequence[float] | None = None, by: By = None) -> FrameT:
        """See `vsdk_analytics.duration_histogram`."""
        return duration_histogram(self._frame, edges=edges, by=by)

    def tag_counts(self, *, by: By = None) -> FrameT:
        """See `vsdk_analytics.tag_counts`."""
        return tag_counts(self._frame, by=by)

    def status_breakdown(self, *, by: By = None) -> FrameT:
        """See `vsdk_analytics.status_breakdown`."""
        return status_breakdown(self._frame, by=by)

    def sessions_over_time(
        self,
        *,
        every: str | timedelta = "1d",
        by: By = None,
        time_zone: str = "UTC",
        statuses: Sequence[str] | None = None,
    ) -> FrameT:
        """See `vsdk_analytics.sessions_over_time`."""
        return sessions_over_time(
            self._frame, every=every, by=by, time_zone=time_zone, statuses=statuses
        )

    def peak_concurrency(
        self,
        *,
        every: str | timedelta | None = None,
        now: datetime | None = None,
        by: By = None,
        time_zone: str = "UTC",
    ) -> FrameT:
        """See `vsdk_analytics.peak_concurrency`."""
        return peak_concurrency(self._frame, every=every, now=now, by=by, time_zone=time_zone)

    def unnest_metadata(self, keys: Sequence[str] | None = None) -> FrameT:
        """See `vsdk_analytics.unnest_metadata`."""
        return unnest_metadata(self._frame, keys)

    def webhook_coverage(self, *, by: By = None) -> FrameT:
        """See `vsdk_analytics.webhook_coverage`."""
        return webhook_coverage(self._frame, by=by)

    def data_quality(self, *, now: datetime | None = None) -> FrameT:
        """See `vsdk_analytics.data_quality`."""
        return data_quality(self._frame, now=now)


class VsdkDataFrameNamespace(_VsdkNamespace[pl.DataFrame]):
    """``DataFrame.vsdk``: the analytics helpers, returning DataFrames."""


class VsdkLazyFrameNamespace(_VsdkNamespace[pl.LazyFrame]):
    """``LazyFrame.vsdk``: the analytics helpers, returning LazyFrames."""


def _register(
    target: type[pl.DataFrame] | type[pl.LazyFrame],
    register: Callable[[str], Callable[[type[object]], type[object]]],
    namespace: type[object],
) -> None:
    existing = getattr(target, NAMESPACE, None)
    if existing is namespace:
        return
    if getattr(existing, "__module__", None) == __name__:
        # This module was imported again (a reload): replace our own older class quietly.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            register(NAMESPACE)(namespace)
        return
    # Anything else named `vsdk` is overridden with Polars' own UserWarning.
    register(NAMESPACE)(namespace)


_register(pl.DataFrame, pl.api.register_dataframe_namespace, VsdkDataFrameNamespace)
_register(pl.LazyFrame, pl.api.register_lazyframe_namespace, VsdkLazyFrameNamespace)
