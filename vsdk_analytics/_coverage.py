"""What the answers of one fetch prove: which pages link up, where the list ends, what is open.

The planner (`_paging`) decides what to request; `Coverage` keeps every answer it was
fed and judges them, with no I/O and no scheduling. The argument it implements is in
`_paging`'s docstring: pages sharing a session id link into a chain (a union-find
component); page 1 starts the list; a short page of an honoured size, or a page past
``since`` in a newest-first list, ends it; unchanged honest totals link disjoint
neighbours. `proved` says whether one chain holds a start and an end; `gaps` says where
the chain from page 1 breaks (the boundaries a stitch request must link).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from ._pages import PageAnswer, PageRequest, UnionFind, compact_key

__all__ = ["Coverage", "Gap", "Key", "Seen"]

Key = str | bytes | None
"""A session id as kept (16 bytes for a canonical UUID with ``compact_ids``); None: no id."""


@dataclass(slots=True)
class Seen:
    """One answer as judged: its window, its row count, how many ids it brought first."""

    request: PageRequest
    rows: int
    new: int
    total: int | None
    arrival: int
    before_since: bool

    @property
    def start(self) -> int:
        return self.request.start

    @property
    def end(self) -> int:
        return self.request.start + self.rows


Gap = tuple[Seen, tuple[int, int]]
"""A broken boundary: the answer above it, and the positions left unverified."""


class Coverage:
    """Every answer of one fetch, linked by shared ids and judged for completeness.

    ``size`` is the page size in use (page 1's rows), set by the planner once known.
    """

    def __init__(self, *, compact_ids: bool = False) -> None:
        self.size = 0
        self.honoured = 0  # most rows any answer held: sizes up to it are honoured
        self.seen: list[Seen] = []
        self.last_total: int | None = None
        self.shrank = False  # a total went down: deletions; totals cannot link pages
        self.unordered = False  # a page was not newest first
        self.unions = 0  # links made by shared ids (progress between stitch rounds)
        self.distinct = 0  # session ids seen
        self.anonymous = 0  # rows without a session id
        self.rows = 0  # rows of every answer
        self._compact = compact_ids
        self._uf = UnionFind()
        # Until an id comes twice, a set of the ids and each answer's keys (index: its
        # position) are enough: one insert per id, no lookup first. The first repeat
        # builds the map from id to the first answer that held it, used from then on.
        self._ids: set[str | bytes] = set()
        self._held: list[Sequence[str | bytes]] = []
        self._owner: dict[str | bytes, int] | None = None
        self._reread: Seen | None = None  # page 1 re-read unchanged around an empty page 2
        self._keyed: tuple[Sequence[str | None], tuple[Key, ...]] | None = None

    def keys(self, ids: Sequence[str | None]) -> tuple[Key, ...]:
        """The ids of an answer as kept (the last answer's are reused, not made again)."""
        if not self._compact:
            return tuple(ids)
        if self._keyed is not None and self._keyed[0] is ids:
            return self._keyed[1]
        keys = tuple(None if sid is None else compact_key(sid) for sid in ids)
        self._keyed = (ids, keys)
        return keys

    def fresh(self, ids: Sequence[str | None], *, anonymous: bool) -> list[bool]:
        """Per row of an answer not fed yet: whether its session is new to the fetch.

        New: no answer fed so far held it, and no earlier row of this answer. A row
        without an id counts as new when ``anonymous`` (nothing to compare it by).
        """
        owner = self._ids if self._owner is None else self._owner
        here: set[Key] = set()
        out: list[bool] = []
        for key in self.keys(ids):
            if key is None:
                out.append(anonymous)
            else:
                out.append(key not in here and key not in owner)
                here.add(key)
        return out

    def add(self, answer: PageAnswer, keys: tuple[Key, ...]) -> Seen:
        """Record an answer (``keys``: its ids as `keys` gave them), linked to its chain."""
        total = answer.total_items
        if total is not None:
            if self.last_total is not None and total < self.last_total:
                self.shrank = True
            self.last_total = total
        if not answer.newest_first:
            self.unordered = True
        rows = len(keys)
        self.rows += rows
        self.honoured = max(self.honoured, rows)
        index = self._uf.add()
        new = self._record_ids(keys, index)
        seen = Seen(answer.request, rows, new, total, len(self.seen), answer.oldest_before_since)
        self.seen.append(seen)
        return seen

    @property
    def ids_unique(self) -> bool:
        """Whether every row of every answer so far has an id no other row has."""
        return not self.anonymous and self.distinct == self.rows

    def reread_unchanged(self, seen: Seen) -> None:
        """Page 1 re-read with the same ids after an empty page 2: the list ends there."""
        self._reread = seen

    def _record_ids(self, ids: Sequence[Key], index: int) -> int:
        """Link answer ``index`` to the answers sharing its ids; the count of new ids."""
        if self._owner is None:
            known = self._ids
            if None not in ids:
                before = len(known)
                known.update(cast("Sequence[str | bytes]", ids))
                if len(known) - before == len(ids):  # all new, none twice: the common answer
                    self._held.append(cast("Sequence[str | bytes]", ids))
                    self.distinct += len(ids)
                    return len(ids)
            self._owner = self._first_holders()
        return self._link(ids, index, self._owner)

    def _first_holders(self) -> dict[str | bytes, int]:
        """The id map the answers held so far make (each id once: no repeats yet)."""
        owner: dict[str | bytes, int] = {}
        assert len(self._held) == len(self._uf.parent) - 1  # every answer before this one
        for index, ids in enumerate(self._held):
            owner.update(zip(ids, itertools.repeat(index)))
        self._ids, self._held = set(), []
        return owner

    def _link(self, ids: Sequence[Key], index: int, owner: dict[str | bytes, int]) -> int:
        new = merged = 0
        for sid in ids:
            if sid is None:
                self.anonymous += 1
                continue
            first = owner.get(sid)
            if first is None:
                owner[sid] = index
                new += 1
            elif self._uf.union(first, index):
                merged += 1
        self.distinct += new
        # an answer with nothing new that joins one chain only repeats it: no link made
        self.unions += merged if new else max(merged - 1, 0)
        return new

    # -- the proof --------------------------------------------------------------------

    def full(self, seen: Seen) -> bool:
        """Whether ``seen`` filled its window (page 1: the size it set)."""
        return seen.rows == seen.request.per_page or (seen.start == 0 and seen.rows == self.size)

    def honest_totals(self) -> bool:
        """Whether every answer had a total, none shrank, and a last page ended right at one."""
        if self.shrank or not self.seen or any(s.total is None for s in self.seen):
            return False
        if any(s.total is not None and s.new and s.end > s.total for s in self.seen):
            return False
        full_ends = {s.end for s in self.seen if s.rows and s.new and self.full(s)}
        for s in self.seen:
            short_end = 0 < s.rows < s.request.per_page <= self.honoured
            # an empty page proves a total only right after a full page ending there
            empty_end = s.rows == 0 and s.start in full_ends
            if (short_end or empty_end) and s.total == s.end and s.request.per_page == self.size:
                return True
        return False

    def _link_by_totals(self) -> None:
        if not self.honest_totals():
            return
        windows = sorted(
            (s for s in self.seen if s.request.purpose == "page" and s.rows), key=lambda s: s.start
        )
        by_start = {s.start: s for s in windows}
        for s in windows:
            below = by_start.get(s.end)
            if below is not None and self.full(s) and below.total == s.total:
                self._uf.union(s.arrival, below.arrival)

    def _ends(self, since_mode: bool) -> list[Seen]:
        ends = [s for s in self.seen if 0 < s.rows < s.request.per_page <= self.honoured]
        if since_mode and not self.unordered:
            ends += [s for s in self.seen if s.before_since and s.rows]
        if self._reread is not None:
            ends.append(self._reread)
        if self.honest_totals():
            # an empty page right after a full one at the honest total: link it
            full = {s.end: s for s in self.seen if s.rows and self.full(s)}
            for s in self.seen:
                if s.rows == 0 and s.total == s.start and s.start in full:
                    ends.append(full[s.start])
        return ends

    def proved(self, since_mode: bool) -> bool:
        """Whether one chain holds page 1 and an end of the list."""
        self._link_by_totals()
        heads = {self._uf.find(s.arrival) for s in self.seen if s.start == 0 and s.rows}
        return any(self._uf.find(e.arrival) in heads for e in self._ends(since_mode))

    def gaps(self, since_mode: bool) -> list[Gap]:
        """Where the chain from page 1 is broken: (the page above, rows unverified).

        Positions count from the top of the list, as the pages were when received.
        """
        # a page that brought nothing new (clamped, or a server ignoring `page`) says
        # nothing about where it sits; stitches overlap by design and do
        rows = sorted(
            (s for s in self.seen if s.rows and (s.new or s.request.purpose == "stitch")),
            key=lambda s: (s.start, s.arrival),
        )
        find = self._uf.find
        gaps: list[Gap] = []
        for upper, lower in itertools.pairwise(rows):
            if find(upper.arrival) != find(lower.arrival):
                gaps.append((upper, (upper.end, max(lower.start, upper.end))))
        ended = {find(e.arrival) for e in self._ends(since_mode)}
        if rows and find(rows[-1].arrival) not in ended:
            gaps.append((rows[-1], (rows[-1].end, rows[-1].end)))
        return gaps

    def short_of_honest_total(self, since_mode: bool) -> str | None:
        """Why pages that link up still miss sessions, when one honest total says so.

        Unchanged honest totals are taken to mean nothing changed while paging (the same
        assumption that links disjoint pages); fewer distinct sessions than that total
        then means the server served an inconsistent list (a session on two pages, one
        left out).
        """
        if since_mode or self.anonymous or not self.honest_totals():
            return None
        totals = {s.total for s in self.seen}
        if len(totals) != 1:
            return None
        (total,) = totals
        if total is None or self.distinct >= total:
            return None
        return (
            f"the server reported {total} sessions on every page, and its last page ended "
            f"there, but only {self.distinct} distinct sessions came back (the pages are "
            "inconsistent: a session served twice, or one left out)"
        )

    def shifted(self, seen: Seen) -> int:
        """Where the end of ``seen`` sits now, moved by sessions that arrived since."""
        b = seen.end
        if seen.total is not None and self.last_total is not None and not self.unordered:
            b += max(self.last_total - seen.total, 0)
        return max(b, 1)
