"""The synthetic account's deployments, tags and webhooks, and how one session is encoded.

`Profile` turns statuses and random draws into sessions' JSON bytes, column-wise with Polars
string expressions (a million sessions in seconds); `deployment_profile` names its
deployments. Everything is drawn from seeded generators, so a seed gives the same account.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Final

import polars as pl

from vsdk_analytics._schema import RUNNING_STATUSES, WEBHOOK_EVENTS
from vsdk_analytics.testing._records import encode_json, seeded_rng

__all__ = ["Draws", "Profile", "below", "deployment_profile"]

_HOUR_MS: Final = 3_600_000
_MAX_DURATION_S: Final = 6 * 3600
_STRFTIME: Final = "%Y-%m-%dT%H:%M:%S%.3fZ"

# Probabilities of the generated data (documented in `generate_sessions`).
_P_NO_TAG: Final = 0.03
_P_WEBHOOK: Final = 0.80
_P_EMPTY_EVENTS: Final = 0.1  # per webhook configuration
_P_NO_METADATA: Final = 0.05
_P_EMPTY_METADATA: Final = 0.10
_P_CUSTOMER: Final = 0.3
_P_CALLER: Final = 0.2
_P_PRIORITY: Final = 0.1
_P_LABELS: Final = 0.05
_P_RARE_KEY: Final = 0.005

# (median seconds, sigma of the log) of the lognormal duration per final status.
_DURATION_SHAPE: Final = {"completed": (90.0, 1.1), "stopped": (45.0, 1.2), "failed": (12.0, 1.3)}

_TAG_POOL: Final = ("v1.0", "v1.1", "v1.2", "v2.0-beta", "v2.0", "v2.1-rc1", "canary")
_DEPLOYMENT_NAMES: Final = ("support", "sales", "booking", "survey", "triage", "concierge")
_DEPLOYMENT_WEIGHTS: Final = (30, 22, 16, 12, 12, 8)
_TAG_SLOTS: Final = 36  # lcm of 1, 4 and 9: the weighted tag lists of 1, 2 or 3 tags
_WEBHOOK_SLOTS: Final = 6  # lcm of 1, 2 and 3 webhook configurations
_LANGUAGES: Final = ("en", "en", "en", "en", "de", "es", "fr", "hi", "ja", "pt-BR")
_CUSTOMERS: Final = (
    "Ada Lovelace",
    "Zoë Müller",
    "José Álvarez",
    "李雷",
    "O'Brien & Sons",
    'Dr. "Q" Quinn',
    "acme-corp",
)
_CALLERS: Final = (
    {"country": "DE", "plan": "pro"},
    {"country": "US", "plan": "free", "returning": True},
    {"country": "IN", "plan": "enterprise", "seats": 250},
    {"country": "JP", "plan": None},
)
_LABELS: Final[tuple[list[str], ...]] = (["vip"], ["vip", "escalated"], [], ["beta", "eu-west"])


def _uuid4(bits: int) -> str:
    """A UUID-4-shaped string from 128 random bits (version and variant bits forced)."""
    bits = (bits & ~(0xF << 76)) | (0x4 << 76)
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _fragment(key: str, value: object) -> str:
    return f'"{key}":{encode_json(value).decode()}'


class Draws:
    """Columns of random numbers for ``n`` rows, drawn in bulk from one `random.Random`."""

    def __init__(self, rng: random.Random, n: int) -> None:
        self._rng = rng
        self._n = n

    def _uniform(self, dtype: type[pl.UInt16 | pl.UInt32], count: int) -> list[pl.Series]:
        size = count * self._n
        if size == 0:
            return [pl.Series([], dtype=dtype)] * count
        width = 2 if dtype is pl.UInt16 else 4
        raw = pl.Series([self._rng.randbytes(width * size)], dtype=pl.Binary)
        flat = raw.bin.reinterpret(dtype=pl.Array(dtype, size), endianness="little").explode()
        return [flat.slice(i * self._n, self._n) for i in range(count)]

    def u16(self, count: int) -> list[pl.Series]:
        """``count`` columns of uniform integers in ``[0, 2**16)``."""
        return self._uniform(pl.UInt16, count)

    def u32(self, count: int) -> list[pl.Series]:
        """``count`` columns of uniform integers in ``[0, 2**32)``."""
        return self._uniform(pl.UInt32, count)

    def hex(self, n_bytes: int) -> pl.Series:
        """A column of random lowercase hex strings of ``2 * n_bytes`` characters."""
        if self._n == 0:
            return pl.Series([], dtype=pl.String)
        text = self._rng.randbytes(n_bytes * self._n).hex("\n", n_bytes)
        return pl.Series([text]).str.split("\n").explode()


def below(column: str, probability: float) -> pl.Expr:
    """True with ``probability`` for a column of uniform 16-bit integers."""
    return pl.col(column) < round(probability * 2**16)


def _pick(table: list[str], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(table, dtype=pl.String)).gather(index)


def _pick_int(table: list[int], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(table, dtype=pl.Int64)).gather(index)


def _timestamp(ms: pl.Expr) -> pl.Expr:
    return pl.from_epoch(ms, time_unit="ms").dt.strftime(_STRFTIME)


class Profile:
    """The synthetic account: deployments, their tags and webhook configurations.

    Drawn from a fresh ``random.Random(seed)``, so generated and inserted sessions of one
    seed share the same deployments.
    """

    def __init__(self, seed: int) -> None:
        rng = seeded_rng(seed)
        self.deployment_ids: list[str] = []
        self.tags: list[str] = []  # _TAG_SLOTS per deployment, weighted by repetition
        self.webhooks: list[str] = []  # _WEBHOOK_SLOTS per deployment
        self.tag_names: list[tuple[str, ...]] = []  # per deployment, oldest tag first
        for name in _DEPLOYMENT_NAMES:
            self.deployment_ids.append(_uuid4(rng.getrandbits(128)))
            n_tags = rng.randint(1, 3)
            first = rng.randrange(len(_TAG_POOL) - n_tags + 1)
            # The newest tag of a deployment gets most of its traffic (weights 1, 3, 5).
            weighted = [
                tag
                for rank, tag in enumerate(_TAG_POOL[first : first + n_tags])
                for _ in range(1 + 2 * rank)
            ]
            self.tag_names.append(_TAG_POOL[first : first + n_tags])
            self.tags.extend(_fragment("tag", tag) + "," for tag in weighted)
            self.tags.extend(self.tags[-len(weighted) :] * (_TAG_SLOTS // len(weighted) - 1))
            hooks = []
            for version in range(rng.randint(1, 3)):
                endpoint = f"https://hooks.example.com/videosdk/{name}/v{version + 1}"
                events: list[str] = []
                if rng.random() >= _P_EMPTY_EVENTS:
                    events = [e for e in WEBHOOK_EVENTS if rng.random() < 0.6]
                    events = events or [WEBHOOK_EVENTS[1]]
                hooks.append(_fragment("webhook", {"endpoint": endpoint, "events": events}) + ",")
            self.webhooks.extend(hooks * (_WEBHOOK_SLOTS // len(hooks)))
        self.deployment_table = [
            i for i, weight in enumerate(_DEPLOYMENT_WEIGHTS) for _ in range(weight)
        ]

    def encode(
        self,
        rng: random.Random,
        status: pl.Series,
        *,
        created_ms: pl.Series | None = None,
        window: tuple[int, int] = (0, 0),
    ) -> pl.DataFrame:
        """Build sessions of the given statuses, drawing everything else from ``rng``.

        Parameters
        ----------
        rng
            The source of randomness (advanced).
        status
            One status per session.
        created_ms
            Their ``createdAt``; when ``None``, drawn from ``window``.
        window
            ``(start_ms, now_ms)``: a running session is created in the hour before
            ``now_ms``, a finished one in ``[start_ms, now_ms)`` such that it ends before
            ``now_ms``.

        Returns
        -------
        pl.DataFrame
            ``session_id``, ``created_ms``, ``status`` and ``body`` (Binary), unsorted.
        """
        n = len(status)
        draws = Draws(rng, n)
        small = [
            *("dep", "tag_p", "tag", "hook_p", "hook", "start_off", "extra_ms", "variant"),
            *("meta_p", "lang", "cust_p", "cust", "call_p", "call", "prio_p", "prio"),
            *("lab_p", "lab", "exp_p", "exp"),
        ]
        wide = ["bm1", "bm2", "hi", "lo"]
        frame = pl.DataFrame(
            {
                "status": status.cast(pl.String),
                "given_ms": created_ms
                if created_ms is not None
                else pl.repeat(None, n, dtype=pl.Int64, eager=True),
                "hex": draws.hex(16),
                "room": draws.hex(3),
                **dict(zip(small, draws.u16(len(small)), strict=True)),
                **dict(zip(wide, (s.cast(pl.Int64) for s in draws.u32(len(wide))), strict=True)),
            }
        )
        c = pl.col
        running = c("status").is_in(sorted(RUNNING_STATUSES))
        # Box-Muller: a standard normal from two uniforms, then a lognormal per status.
        normal = (-2.0 * ((c("bm1") + 1) / 2**32).log()).sqrt() * (
            (2 * math.pi / 2**32) * c("bm2")
        ).cos()
        median = pl.lit(None, dtype=pl.Float64)
        sigma = pl.lit(None, dtype=pl.Float64)
        for name, (med, sig) in _DURATION_SHAPE.items():
            median = pl.when(c("status") == name).then(med).otherwise(median)
            sigma = pl.when(c("status") == name).then(sig).otherwise(sigma)
        seconds = (median * (sigma * normal).exp()).floor().clip(upper_bound=_MAX_DURATION_S)
        start_ms, now_ms = window
        max_ms = max(0, now_ms - start_ms - 6) if created_ms is None else _MAX_DURATION_S * 1000
        duration_ms = (
            pl.when(running)
            .then(0)
            .otherwise(
                (seconds.cast(pl.Int64) * 1000 + c("extra_ms") % 1000)
                .fill_null(0)
                .clip(upper_bound=max_ms)
            )
        )
        # 63 random bits, then a uniform millisecond in the session's window.
        bits = (c("hi") % 2**31) * 2**32 + c("lo")
        running_from = max(start_ms, now_ms - _HOUR_MS)
        drawn = (
            pl.when(running)
            .then(running_from + bits % max(1, now_ms - running_from))
            .otherwise(
                start_ms + bits % pl.max_horizontal(1, now_ms - start_ms - 6 - c("duration_ms"))
            )
        )
        frame = (
            frame.with_columns(duration_ms=duration_ms)
            .with_columns(
                created_ms=pl.coalesce(c("given_ms"), drawn).cast(pl.Int64),
                dep=_pick_int(self.deployment_table, c("dep") % len(self.deployment_table)),
            )
            .with_columns(start_ms=c("created_ms") + c("start_off") % 6)
            .with_columns(
                created=_timestamp(c("created_ms")),
                start=_timestamp(c("start_ms")),
                end=_timestamp(c("start_ms") + c("duration_ms")),
            )
        )
        h = c("hex").str
        session_id = pl.concat_str(
            h.slice(0, 8),
            pl.lit("-"),
            h.slice(8, 4),
            pl.lit("-4"),
            h.slice(13, 3),
            pl.lit("-"),
            pl.lit("89ab").str.slice(c("variant") % 4, 1),
            h.slice(17, 3),
            pl.lit("-"),
            h.slice(20, 12),
        )
        tag = pl.when(~below("tag_p", _P_NO_TAG)).then(
            _pick(self.tags, c("dep") * _TAG_SLOTS + c("tag") % _TAG_SLOTS)
        )
        webhook = pl.when(below("hook_p", _P_WEBHOOK)).then(
            _pick(self.webhooks, c("dep") * _WEBHOOK_SLOTS + c("hook") % _WEBHOOK_SLOTS)
        )
        ended = pl.when(~running).then(
            pl.concat_str(
                pl.lit(',"duration":'),
                (c("duration_ms") // 1000).cast(pl.String),
                pl.lit(',"end":"'),
                c("end"),
                pl.lit('"'),
            )
        )
        # Materializing the optional fragments first makes the big concatenation ~2x faster.
        frame = frame.with_columns(
            session_id=session_id,
            deployment_id=_pick(self.deployment_ids, c("dep")),
            updated=pl.when(running).then(c("created")).otherwise(c("end")),
            webhook_part=webhook.fill_null(""),
            tag_part=tag.fill_null(""),
            ended_part=ended.fill_null(""),
            metadata_part=self._metadata().fill_null(""),
        )
        body = pl.concat_str(
            pl.lit("{"),
            c("webhook_part"),
            pl.lit('"status":"'),
            c("status"),
            pl.lit('","deploymentId":"'),
            c("deployment_id"),
            pl.lit('",'),
            c("tag_part"),
            pl.lit('"start":"'),
            c("start"),
            pl.lit('","sessionId":"'),
            c("session_id"),
            pl.lit('","createdAt":"'),
            c("created"),
            pl.lit('","updatedAt":"'),
            c("updated"),
            pl.lit('"'),
            c("ended_part"),
            c("metadata_part"),
            pl.lit("}"),
        )
        return frame.select("session_id", "created_ms", "status", body=body.cast(pl.Binary))

    @staticmethod
    def _metadata() -> pl.Expr:
        """The ``,"metadata":{...}`` fragment, or null when the key is absent."""
        c = pl.col

        def optional(column: str, probability: float, value: pl.Expr) -> pl.Expr:
            return pl.when(below(f"{column}_p", probability)).then(value)

        def table(values: Iterable[object], key: str, column: str) -> pl.Expr:
            fragments = ["," + _fragment(key, v) for v in values]
            return _pick(fragments, c(column) % len(fragments))

        full = pl.concat_str(
            pl.lit('{"room":"room-'),
            c("room"),
            pl.lit('"'),
            table(_LANGUAGES, "language", "lang"),
            optional("cust", _P_CUSTOMER, table(_CUSTOMERS, "customer", "cust")),
            optional("call", _P_CALLER, table(_CALLERS, "caller", "call")),
            optional(
                "prio",
                _P_PRIORITY,
                pl.concat_str(pl.lit(',"priority":'), (c("prio") % 5).cast(pl.String)),
            ),
            optional("lab", _P_LABELS, table(_LABELS, "labels", "lab")),
            optional(
                "exp",
                _P_RARE_KEY,
                pl.concat_str(
                    pl.lit(',"experiment":"exp-'),
                    (c("exp") % 100).cast(pl.String).str.zfill(2),
                    pl.lit('"'),
                ),
            ),
            pl.lit("}"),
            ignore_nulls=True,
        )
        return (
            pl.when(below("meta_p", _P_NO_METADATA))
            .then(pl.lit(None, dtype=pl.String))
            .when(below("meta_p", _P_NO_METADATA + _P_EMPTY_METADATA))
            .then(pl.lit(',"metadata":{}'))
            .otherwise(pl.concat_str(pl.lit(',"metadata":'), full))
        )


def deployment_profile(seed: int) -> list[tuple[str, str, tuple[str, ...]]]:
    """The deployments the sessions of ``seed`` use: ``(deploymentId, name, tags)`` each.

    ``tags`` are oldest first (the last one gets most sessions).

    Examples
    --------
    >>> [name for _, name, _ in deployment_profile(0)]
    ['support', 'sales', 'booking', 'survey', 'triage', 'concierge']
    """
    profile = Profile(seed)
    return list(zip(profile.deployment_ids, _DEPLOYMENT_NAMES, profile.tag_names, strict=True))
