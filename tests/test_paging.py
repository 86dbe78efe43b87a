"""The paging planner against a model server that changes, caps, lies and fails (no I/O).

Every generated run must end either complete, with every session that existed for the whole
run among the ids received, or with an `Outcome` that says it is not; never a silently short
fetch. Runs without changes or failures against a server that honours ``page`` must complete.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from vsdk_analytics._paging import PageAnswer, PageRequest, PagingPlanner

TOTALS = st.sampled_from(["honest", "missing", "pages", 10, 0, -1, 10_000_000])


def _id(i: int, uuid_like: bool) -> str:
    """A session id: short text, or UUID text (the planner may keep those as 16 bytes).

    Some UUID-like ids are upper-case or dashed oddly, so both kinds of key meet, and
    two ids that differ only in case must stay two sessions.
    """
    if not uuid_like:
        return f"s{i:03d}"
    text = str(uuid.UUID(int=i * 0x9E3779B97F4A7C15 % (1 << 128)))
    if i % 7 == 3:
        return text.upper()
    if i % 11 == 5:
        return text.replace("-", "", 1) + "-"
    return text


@dataclass
class ModelServer:
    """A list of ids (top first) served page by page, with the behaviours of real APIs."""

    items: list[str]
    cap: int
    totals: object = "honest"
    oldest_first: bool = False
    ignore_page: bool = False
    clamp: bool = False
    next_id: int = 0
    deleted: set[str] = field(default_factory=set)
    uuid_ids: bool = False

    def serve(self, request: PageRequest) -> PageAnswer:
        size = min(request.per_page, self.cap)
        page = 1 if self.ignore_page else request.page
        last_page = max(1, -(-len(self.items) // size))
        if self.clamp and page > last_page:
            page = last_page
        ids = self.items[(page - 1) * size : page * size]
        total: int | None
        if self.totals == "honest":
            total = len(self.items)
        elif self.totals == "missing":
            total = None
        elif self.totals == "pages":
            total = last_page
        else:
            assert isinstance(self.totals, int)
            total = self.totals
        return PageAnswer(request, list(ids), total)

    def insert(self) -> None:
        self.next_id += 1
        new = _id(10_000 + self.next_id, self.uuid_ids)
        if self.oldest_first:
            self.items.append(new)
        else:
            self.items.insert(0, new)

    def delete(self, index: int) -> None:
        if self.items:
            self.deleted.add(self.items.pop(index % len(self.items)))


class PagingMachine(RuleBasedStateMachine):
    """Interleaves answers (in any order) with inserts, deletions and failures."""

    def __init__(self) -> None:
        super().__init__()
        self.server: ModelServer | None = None
        self.planner: PagingPlanner | None = None
        self.outstanding: list[PageRequest] = []
        self.received: set[str] = set()
        self.original: set[str] = set()
        self.changed = False
        self.failures = 0
        self.between: set[str] = set()  # kinds of change since the last answer
        self.masked = False  # an insert and a deletion between two answers

    @initialize(
        n=st.integers(0, 120),
        cap=st.integers(1, 30),
        asked=st.integers(1, 40),
        totals=TOTALS,
        oldest_first=st.booleans(),
        ignore_page=st.booleans(),
        clamp=st.booleans(),
        lookahead=st.integers(1, 6),
        uuid_ids=st.booleans(),
        compact_ids=st.booleans(),
    )
    def setup(
        self,
        n: int,
        cap: int,
        asked: int,
        totals: object,
        oldest_first: bool,
        ignore_page: bool,
        clamp: bool,
        lookahead: int,
        uuid_ids: bool,
        compact_ids: bool,
    ) -> None:
        items = [_id(i, uuid_ids) for i in range(n)]
        self.server = ModelServer(items, cap, totals, oldest_first, ignore_page, clamp)
        self.server.uuid_ids = uuid_ids
        self.original = set(items)
        self.planner = PagingPlanner(asked, lookahead=lookahead, compact_ids=compact_ids)
        self._refill()

    def _refill(self) -> None:
        assert self.planner is not None
        self.outstanding += self.planner.next_requests(64)

    def _answer(self, index: int) -> None:
        assert self.server is not None and self.planner is not None
        request = self.outstanding.pop(index % len(self.outstanding))
        answer = self.server.serve(request)
        self.between.clear()
        self.received.update(i for i in answer.ids if i is not None)
        self.planner.feed(answer)
        self._refill()

    @precondition(lambda self: bool(self.outstanding))
    @rule(index=st.integers(0, 1000))
    def answer(self, index: int) -> None:
        self._answer(index)

    @precondition(lambda self: self.server is not None)
    @rule()
    def insert(self) -> None:
        assert self.server is not None
        self.server.insert()
        self.changed = True
        self._changed("insert")

    @precondition(lambda self: self.server is not None and bool(self.server.items))
    @rule(index=st.integers(0, 1000))
    def delete(self, index: int) -> None:
        assert self.server is not None
        self.server.delete(index)
        self.changed = True
        self._changed("delete")

    def _changed(self, kind: str) -> None:
        self.between.add(kind)
        self.masked |= self.between == {"insert", "delete"}

    @precondition(lambda self: bool(self.outstanding) and self.failures < 2)
    @rule(index=st.integers(0, 1000))
    def fail(self, index: int) -> None:
        assert self.planner is not None
        request = self.outstanding.pop(index % len(self.outstanding))
        self.failures += 1
        self.planner.failed(request)
        self._refill()

    @invariant()
    def never_silently_short(self) -> None:
        if self.planner is None or not self.planner.done:
            return
        outcome = self.planner.outcome()
        assert self.server is not None
        # Documented limits (docs/fetching.md): totals see deletions only by shrinking, so
        # honest totals miss a deletion offset by an insertion between two answers, and a
        # total that ignores deletions (a fixed or page-count claim) can hide them. Every
        # other run must hold; without totals, deletions are always caught.
        if self.masked and self.server.totals == "honest":
            return
        if self.server.deleted and self.server.totals not in ("honest", "missing"):
            return
        if outcome.complete:
            missing = (self.original - self.server.deleted) - self.received
            assert not missing, f"complete, but {sorted(missing)[:5]} never received"

    def teardown(self) -> None:
        if self.planner is None or self.server is None:
            return
        for _ in range(20_000):  # finish quietly: answers in order, nothing changes
            if self.planner.done or not self.outstanding:
                break
            self._answer(0)
        assert self.planner.done, "the planner neither finished nor asked for anything"
        self.never_silently_short()
        quiet = not self.changed and not self.failures and not self.server.ignore_page
        size = min(self.server.cap, self.planner.per_page)
        n = len(self.original)
        # pages of 1 or 2 rows cannot be stitched, nor can a boundary at a position that
        # every size up to the page size divides (docs/fetching.md: limits)
        stitchable = size >= 3 and (
            n < math.lcm(*range(2, size + 1)) or self.server.totals == "honest"
        )
        if quiet and (stitchable or (n <= size and not self.server.clamp)):
            assert self.planner.outcome().complete, self.planner.outcome()


PagingMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_paging_model = PagingMachine.TestCase


@pytest.mark.parametrize(
    ("n", "cap", "asked", "totals"),
    [
        (25, 10, 1000, 10),  # totalItems at page 1's rows
        (25, 10, 10, 0),
        (25, 10, 10, -1),
        (25, 10, 10, "pages"),
        (25, 5, 10, "missing"),  # 5 rows while echoing 10
        (25, 10, 10, 10_000_000),
        (5000, 100, 1000, "honest"),  # capped at 100, echoing 1000
    ],
)
def test_pageinfo_that_lies_is_verified_not_trusted(
    n: int, cap: int, asked: int, totals: object
) -> None:
    server = ModelServer([f"s{i}" for i in range(n)], cap, totals)
    planner = PagingPlanner(asked, lookahead=8)
    received: set[str] = set()
    requests = 0
    queue = planner.next_requests(64)
    while queue:
        request = queue.pop(0)
        requests += 1
        answer = server.serve(request)
        received.update(i for i in answer.ids if i is not None)
        planner.feed(answer)
        queue += planner.next_requests(64)
    assert planner.outcome().complete
    assert received == set(server.items)
    assert requests <= n // cap + 1 + 2 * (n // cap + 2) + 8


def test_a_server_that_ignores_page_is_reported() -> None:
    server = ModelServer([f"s{i}" for i in range(50)], 10, "missing", ignore_page=True)
    planner = PagingPlanner(10)
    queue = planner.next_requests(64)
    while queue:
        planner.feed(server.serve(queue.pop(0)))
        queue += planner.next_requests(64)
    outcome = planner.outcome()
    assert not outcome.complete
    assert "ignore the page parameter" in outcome.reason


@pytest.mark.parametrize(("n", "lookahead", "ahead"), [(1000, 4, True), (1000, 16, False)])
def test_the_page_after_a_filled_total_goes_out_with_the_last_claimed_pages(
    n: int, lookahead: int, ahead: bool
) -> None:
    """A total that fills its last page (1000 at 100 per page: 10 pages) needs the empty
    page 11 to prove it; past one window it is sent before page 10 answers, saving a
    round trip; within one window (a claim not yet backed by rows) it waits."""
    server = ModelServer([f"s{i}" for i in range(n)], 100, "honest")
    planner = PagingPlanner(100, lookahead=lookahead)
    sent: list[int] = []
    answered: set[int] = set()
    queue = planner.next_requests(64)
    sent += [r.page for r in queue]
    while queue:
        request = queue.pop(0)  # answered in the order sent, one at a time
        planner.feed(server.serve(request))
        answered.add(request.page)
        fresh = planner.next_requests(64)
        if 11 in (r.page for r in fresh):
            assert (10 not in answered) is ahead
        sent += [r.page for r in fresh]
        queue += fresh
    assert planner.outcome().complete
    assert sorted(sent) == list(range(1, 12))  # no page asked twice, none past page 11


@pytest.mark.parametrize("compact_ids", [False, True])
def test_fresh_rows_are_those_no_answer_held(compact_ids: bool) -> None:
    """What a streamed fetch hands on: each session once, whatever page repeats it."""
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    planner = PagingPlanner(3, lookahead=4, compact_ids=compact_ids)
    first = [a, b, None]
    assert planner.fresh(first, anonymous=True) == [True, True, True]
    planner.feed(PageAnswer(PageRequest(1, 3), first, total_items=6))
    second = [b, c, c, None, a.upper()]  # b seen, c twice here, an id-less row, another id
    assert planner.fresh(second, anonymous=False) == [False, True, False, False, True]
    assert planner.fresh(second, anonymous=True) == [False, True, False, True, True]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e", None]), max_size=4), max_size=5),
    st.booleans(),
)
def test_ids_unique_is_no_id_twice_and_none_missing(
    answers: list[list[str | None]], compact_ids: bool
) -> None:
    """What lets the fetch skip its own uniqueness check: every row fed has an id, and no
    id came twice, in one answer or across answers."""
    planner = PagingPlanner(4, lookahead=4, compact_ids=compact_ids)
    for n, ids in enumerate(answers, start=1):
        planner.feed(PageAnswer(PageRequest(n, 4), ids))
    every = [sid for ids in answers for sid in ids]
    assert planner.ids_unique == (None not in every and len(set(every)) == len(every))
