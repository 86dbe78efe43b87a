"""The fake account's AI deployments: one per ``deploymentId`` its sessions use, deterministic.

Served by ``GET /ai/v1/ai-deployments`` (`vsdk_analytics._constants.DEPLOYMENTS_PATH`) and
paged like the sessions. Each record is ``{"id", "name", "tag", "description", "status",
"created_at"}``, as the project assumes the vendor's "Fetch Deployments" answers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Final, NamedTuple

from vsdk_analytics.testing._profile import deployment_profile
from vsdk_analytics.testing._records import DEFAULT_NOW, encode_json, format_timestamp

__all__ = ["FakeDeployment", "generate_deployments"]

_DESCRIPTIONS: Final = {
    "support": "Answers customer support calls and opens tickets",
    "sales": "Qualifies inbound sales leads",
    "booking": "Books, moves and cancels appointments",
    "survey": "Runs the post-call satisfaction survey",
    "triage": "Routes callers to the right team",
    "concierge": "Premium concierge for enterprise accounts",
}
_EPOCH_MS: Final = int(DEFAULT_NOW.timestamp() * 1000)


class FakeDeployment(NamedTuple):
    """One AI deployment of the fake account.

    Attributes
    ----------
    deployment_id
        The ``id`` (the ``deploymentId`` of its sessions).
    name
        Human-readable, e.g. ``"support-bot"``.
    tag
        Its current tag (the newest its sessions use), or ``None``.
    description
        A sentence.
    status
        ``"active"`` or ``"inactive"``.
    created_at
        ``YYYY-MM-DDTHH:MM:SS.mmmZ``, before any of its sessions.
    """

    deployment_id: str
    name: str
    tag: str | None
    description: str
    status: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """The record as the deployments endpoint returns it."""
        return {
            "id": self.deployment_id,
            "name": self.name,
            "tag": self.tag,
            "description": self.description,
            "status": self.status,
            "created_at": self.created_at,
        }

    @property
    def body(self) -> bytes:
        """The compact JSON of `to_dict`."""
        return encode_json(self.to_dict())


def generate_deployments(
    seed: int, extra_ids: Iterable[str] = (), *, before_ms: int | None = None
) -> list[FakeDeployment]:
    """The deployments of ``seed``'s sessions (plus ``extra_ids``), newest first.

    Parameters
    ----------
    seed
        The seed of the sessions (`generate_sessions`).
    extra_ids
        Further deployment ids (of sessions built elsewhere), named ``deployment-1``...
    before_ms
        Every ``created_at`` is earlier than this (epoch ms); default `DEFAULT_NOW` minus a year.

    Examples
    --------
    >>> [d.name for d in generate_deployments(0)][:2]
    ['concierge-bot', 'triage-bot']
    """
    rng = random.Random(f"deployments-{seed}")  # noqa: S311 - synthetic data
    latest = _EPOCH_MS - 365 * 86_400_000 if before_ms is None else before_ms - 86_400_000
    rows: list[tuple[str, str, str | None, str]] = []
    for deployment_id, name, tags in deployment_profile(seed):
        rows.append((deployment_id, f"{name}-bot", tags[-1], _DESCRIPTIONS[name]))
    known = {row[0] for row in rows}
    for i, deployment_id in enumerate(sorted(set(extra_ids) - known), start=1):
        rows.append((deployment_id, f"deployment-{i}", None, "A deployment of the given sessions"))
    step = timedelta(days=9) // timedelta(milliseconds=1)
    deployments = []
    for i, (deployment_id, name, tag, description) in enumerate(rows):
        created = latest - (len(rows) - 1 - i) * step - int(rng.random() * 86_400_000)
        status = "inactive" if i == 4 else "active"
        deployments.append(
            FakeDeployment(deployment_id, name, tag, description, status, format_timestamp(created))
        )
    deployments.reverse()
    return deployments
