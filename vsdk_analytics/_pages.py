"""The vocabulary of paging: requests, answers, verdicts, and the bookkeeping they share.

`PageRequest` (a window of the list), `PageAnswer` (the ids it held and the totals
claimed), `Outcome` (the planner's verdict); `UnionFind` links answers that share ids;
`compact_key` keeps a canonical UUID id in 16 bytes. No I/O, no policy: the planner
(`_paging`) decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_PER_PAGE",
    "Outcome",
    "PageAnswer",
    "PageRequest",
    "Purpose",
    "UnionFind",
    "compact_key",
]

Purpose = Literal["page", "stitch", "probe", "verify"]

DEFAULT_PER_PAGE = 10
"""The API's documented default page size, the fallback when a larger one gives nothing."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One list request: ``page`` at ``per_page`` rows (1-based, as the API counts)."""

    page: int
    per_page: int
    purpose: Purpose = "page"

    @property
    def start(self) -> int:
        """The position (0-based, from the top of the list) of the window's first row."""
        return (self.page - 1) * self.per_page


@dataclass(frozen=True, slots=True)
class PageAnswer:
    """What came back for a request: the ids in row order, and the totals claimed."""

    request: PageRequest
    ids: Sequence[str | None]
    total_items: int | None = None
    oldest_before_since: bool = False
    """Whether a row of this page was created before the fetch's ``since``."""
    newest_first: bool = True
    """Whether this page's rows are ordered newest first (checked by the caller)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict: complete, or why not and where (positions counted from the top)."""

    complete: bool
    reason: str = ""
    unverified: tuple[tuple[int, int], ...] = ()
    failed: tuple[PageRequest, ...] = ()
    per_page: int = 0


@dataclass(slots=True)
class UnionFind:
    """Answers linked by shared ids: which chain each belongs to."""

    parent: list[int] = field(default_factory=list)

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def compact_key(session_id: str) -> str | bytes:
    """A canonical lower-case UUID as its 16 bytes (49 bytes of memory, not 85); else itself.

    Exact both ways: only the one spelling (dashes at 8, 13, 18, 23; lower-case hex)
    is compacted, and bytes never equal a str, so two ids share a key only when equal.
    """
    if (
        len(session_id) == 36
        and session_id[8] == session_id[13] == session_id[18] == session_id[23] == "-"
        and session_id == session_id.lower()
    ):
        try:
            raw = bytes.fromhex(session_id.replace("-", ""))
        except ValueError:
            return session_id
        if len(raw) == 16:
            return raw
    return session_id
