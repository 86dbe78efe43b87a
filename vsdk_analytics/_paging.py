"""The paging planner: which pages to ask for, and when a fetch is provably complete.

No I/O here. The fetcher asks `PagingPlanner.next_requests` what to send, feeds every
answer back (`feed`, or `failed` when a request gave up), and stops when `done` is
true; `outcome` then says whether the pages received prove that every session that
existed for the whole fetch was seen, and if not, what is missing.

The argument, in terms of rows received (never an echoed number):

* A page is a contiguous run of the server's list *at the instant it was served*. The
  list may change between pages (sessions arrive, disappear), but a session that exists
  for the whole fetch is in every instant's list, and the list keeps one order.
* Two pages that share a session id therefore cover, together, every such session
  between the first row of one and the last row of the other ("overlap by id").
  Pages linked by shared ids form a chain (a union-find component here).
* Page 1 starts at the top of the list; a page with fewer rows than its window size
  (a size the server is known to honour, because some answer had at least that many
  rows) reaches the bottom. The fetch is complete when one chain holds both: page 1
  and such a short page (or, with ``since``, a page reaching past ``since`` in a
  list proved to be newest first).
* Disjoint neighbouring pages share no id. They are linked when ``totalItems`` proves
  nothing changed between them: both report the same total, and the totals are
  honest (the last page's position matches its total; no total ever shrank, which is
  how deletions show). Otherwise a small *stitch* request, a window straddling the
  boundary at another page size, links them by id.
* The served page size is the number of rows page 1 returned (a cap the server
  applied silently, or a ``perPage`` it echoes falsely, cannot mislead it).
* Totals only guide how far ahead to fetch, a bounded window at a time, so a claimed
  10,000,000 for 25 sessions costs a few requests.

Rows without a session id cannot be linked; they are kept, never counted as proof.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._coverage import Coverage, Key, Seen
from ._pages import DEFAULT_PER_PAGE, Outcome, PageAnswer, PageRequest

__all__ = ["Outcome", "PageAnswer", "PageRequest", "PagingPlanner"]


class PagingPlanner:
    """Plans the requests of one fetch and judges whether it is complete.

    Parameters
    ----------
    per_page
        The page size to ask for first; the rows of page 1 decide the size used after.
    lookahead
        Most main pages requested beyond the highest one answered (bounds memory and
        wasted requests when totals are missing or wrong).
    since_mode
        Stop paging at a page reaching past ``since`` (the caller marks such pages).
    max_rounds
        Rounds of stitch requests before giving up on unverified boundaries.
    compact_ids
        Keep canonical UUID ids as 16 bytes (for fetches of millions of sessions that
        keep no frame: the ids are then most of what the fetch holds).
    """

    def __init__(
        self,
        per_page: int,
        *,
        lookahead: int = 16,
        since_mode: bool = False,
        max_rounds: int = 20,
        compact_ids: bool = False,
    ) -> None:
        if per_page < 1 or lookahead < 1:
            raise ValueError("per_page and lookahead must be >= 1")
        self._asked = per_page
        self._lookahead = lookahead
        self._since_mode = since_mode
        self._max_rounds = max_rounds
        self._cov = Coverage(compact_ids=compact_ids)  # what the answers prove
        self._next_page = 1
        self._outstanding: set[PageRequest] = set()
        self._asked_before: set[PageRequest] = set()
        self._failed: list[PageRequest] = []
        self._main_done = False
        self._end_page: int | None = None
        self._round = 0
        self._stalled = False
        self._outcome: Outcome | None = None
        self._links_at_round = -1
        self._highest = 1  # the highest main page answered
        # requests of this round not sent yet; a stitch waits as its boundary (the page
        # above it), placed when sent, so sessions arriving meanwhile do not move it off
        self._pending: list[PageRequest | Seen] = []
        self._claim_broken = False
        self._full_pages = 1  # full main pages answered (page 1 included): paces speculation
        self._stop_at: int | None = None  # a main page that failed where the end may lie
        self._main_ids: dict[int, tuple[Key, ...]] = {}  # each main page, first
        self._verify: dict[int, bool] | None = None  # second pass: page -> same ids as the first

    # -- what the fetcher reads -------------------------------------------------------

    @property
    def per_page(self) -> int:
        """The page size in use (the rows of page 1), or the asked size before it answered."""
        return self._cov.size or self._asked

    @property
    def done(self) -> bool:
        """Whether the fetch can stop (see `outcome`)."""
        return self._outcome is not None

    @property
    def stitches(self) -> int:
        """Stitch requests planned so far."""
        return sum(1 for r in self._asked_before if r.purpose != "page")

    @property
    def newest_first(self) -> bool:
        """Whether every page so far came newest first (``since`` can stop early)."""
        return not self._cov.unordered

    @property
    def ids_unique(self) -> bool:
        """Whether no session id came twice in any answers fed, and every row had one."""
        return self._cov.ids_unique

    def fresh(self, ids: Sequence[str | None], *, anonymous: bool) -> list[bool]:
        """Per row of an answer about to be fed: whether its session is new to the fetch.

        Rows without an id: ``anonymous``. Feeding the same ``ids`` next reuses the work.
        """
        return self._cov.fresh(ids, anonymous=anonymous)

    def outcome(self) -> Outcome:
        """The verdict; only once `done`."""
        if self._outcome is None:
            raise RuntimeError("the fetch is not done yet")
        return self._outcome

    def next_requests(self, budget: int) -> list[PageRequest]:
        """Up to ``budget`` new requests to send now (empty: wait for answers)."""
        if self._outcome is not None or budget <= 0:
            return []
        if self._next_page == 1:
            if self._outstanding:
                return []
            return self._send([PageRequest(1, self._asked)])
        if not self._cov.size:
            return []  # page 1 is still on its way
        out: list[PageRequest] = []
        while not self._main_done and len(out) < budget and self._may_launch(self._next_page):
            out.append(PageRequest(self._next_page, self._cov.size))
            self._next_page += 1
        self._send(out)
        if out or (self._outstanding and not self._pending):
            return out
        if not self._pending and not self._outstanding:
            self._main_done = True  # nothing more can be launched: judge what came back
            self._pending = self._after_main_pass()
        taken: list[PageRequest] = []
        while self._pending and len(taken) < budget:
            item = self._pending.pop(0)
            request = item if isinstance(item, PageRequest) else self._stitch_below(item)
            if request is not None and request not in self._outstanding and request not in taken:
                taken.append(request)
        return self._send(taken)

    def feed(self, answer: PageAnswer) -> None:
        """Record an answer (in the order answers arrive)."""
        request = answer.request
        self._outstanding.discard(request)
        was_unordered = self._cov.unordered
        keys = self._cov.keys(answer.ids)
        seen = self._cov.add(answer, keys)
        if self._cov.unordered and not was_unordered and self._since_mode:
            # not newest first, so `since` cannot stop early: page to the real end
            self._since_mode = False
            self._end_page = None
            self._main_done = False
        if request.page == 1 and request.purpose == "page" and not self._cov.size:
            self._main_ids[1] = keys
            self._first_page(seen)
        elif request.page == 1 and request.purpose == "probe":
            empty_after = any(
                x.request.page == 2 and x.request.purpose == "page" and not x.rows
                for x in self._cov.seen
            )
            if empty_after and keys == self._main_ids.get(1):
                self._cov.reread_unchanged(seen)
        elif request.purpose == "page":
            self._main_ids.setdefault(request.page, keys)
            self._main_page(seen)
        elif request.purpose == "verify" and self._verify is not None:
            self._verify[request.page] = keys == self._main_ids.get(request.page)
        self._maybe_finish()

    def failed(self, request: PageRequest) -> None:
        """A request that gave up after its retries."""
        self._outstanding.discard(request)
        self._failed.append(request)
        if request.purpose == "page":
            self._highest = max(self._highest, request.page)
        if request.page == 1 and not self._cov.size:
            self._outcome = Outcome(False, "page 1 failed", failed=(request,))
        elif request.purpose == "page":
            claimed = self._claimed_pages()
            if claimed is None or request.page >= claimed:
                # the end may lie at or past a page that cannot be read: stop looking
                stop = request.page if self._stop_at is None else min(self._stop_at, request.page)
                self._stop_at = stop
        self._maybe_finish()

    # -- the main pass ----------------------------------------------------------------

    def _send(self, requests: list[PageRequest]) -> list[PageRequest]:
        self._outstanding.update(requests)
        self._asked_before.update(requests)
        return requests

    def _first_page(self, seen: Seen) -> None:
        if seen.rows == 0 and (seen.total or 0) > 0 and self._asked > DEFAULT_PER_PAGE:
            # empty beside a positive total: some servers answer a page size they do not
            # accept with no rows; ask again at the API's documented default size
            self._asked = DEFAULT_PER_PAGE
            self._next_page = 1
            return
        if seen.rows == 0:  # no session exists now, so none existed for the whole fetch
            self._outcome = Outcome(True, per_page=self._asked)
            return
        self._cov.size = seen.rows
        self._next_page = 2
        if self._since_mode and seen.before_since and not self._cov.unordered:
            self._main_done = True

    def _may_launch(self, page: int) -> bool:
        if self._stop_at is not None and page > self._stop_at:
            return False
        highest = self._highest
        claimed = self._claimed_pages()
        # without totals, or when `since` may end the list early, the window grows as full
        # pages keep coming (1, 2, 4...), so a short list or a recent `since` costs little
        ramp = claimed is None or self._since_mode
        ahead = min(self._lookahead, 2 * self._full_pages) if ramp else self._lookahead
        if page > highest + max(ahead, 1):
            return False
        if claimed is None or page <= claimed or page <= highest + 1:
            return True
        # a total that fills its last page is proved by the (empty) page after it; when
        # the claim spans more than one window, that page goes out with the last claimed
        # pages, not a round trip after them; beyond it, one probe at a time
        total = self._cov.last_total or 0
        filled = total > 0 and total % self._cov.size == 0
        return page == claimed + 1 and filled and claimed > self._lookahead

    def _claimed_pages(self) -> int | None:
        if self._cov.last_total is None or self._claim_broken or self._cov.size == 0:
            return None
        return max(1, math.ceil(max(self._cov.last_total, 0) / self._cov.size))

    def _main_page(self, seen: Seen) -> None:
        page = seen.request.page
        self._highest = max(self._highest, page)
        self._full_pages += seen.rows == seen.request.per_page
        claimed = self._claimed_pages()
        if claimed is not None and page > claimed and seen.new:
            self._claim_broken = True  # more sessions than the total claims
        short = seen.rows < seen.request.per_page or (seen.rows > 0 and seen.new == 0)
        reached = self._since_mode and seen.before_since and not self._cov.unordered
        if short or reached:
            if self._end_page is None or page < self._end_page:
                self._end_page = page
        elif self._end_page is not None and page > self._end_page and seen.new:
            self._end_page = None  # the list grew past an earlier short page
        self._main_done = self._end_page is not None
        if self._end_page is not None:
            # main pages past the end that are still out do not hold up the verdict
            self._outstanding = {
                r for r in self._outstanding if r.purpose != "page" or r.page <= self._end_page
            }

    # -- the verdict and the rounds after the main pass ------------------------------

    def _proved(self) -> bool:
        if self._verify and all(self._verify.values()):
            return True  # every page read twice, the same ids each time
        return self._cov.proved(self._since_mode)

    def _maybe_finish(self) -> None:
        if self._outcome is not None or not self._main_done or self._outstanding or self._pending:
            return
        if self._proved():
            short = self._cov.short_of_honest_total(self._since_mode)
            if short is None:
                self._outcome = Outcome(True, per_page=self._cov.size)
            else:
                self._outcome = Outcome(
                    False,
                    short,
                    unverified=tuple(span for _, span in self._cov.gaps(self._since_mode)),
                    per_page=self._cov.size,
                )
        elif self._failed:
            self._outcome = Outcome(
                False,
                f"{len(self._failed)} requests failed after their retries",
                unverified=tuple(span for _, span in self._cov.gaps(self._since_mode)),
                failed=tuple(self._failed),
                per_page=self._cov.size,
            )

    def _after_main_pass(self) -> list[PageRequest | Seen]:
        """Stitch requests for the boundaries not yet proved, or the final verdict."""
        self._maybe_finish()
        if self._outcome is not None:
            return []
        probes = self._honesty_probe()
        reread = None if probes else self._reread_probe()
        if probes:
            return list(probes)
        if reread is not None:
            return [reread]
        links = self._cov.unions
        if links == self._links_at_round:
            self._stalled = True
        self._links_at_round = links
        gaps = self._cov.gaps(self._since_mode)
        stitchable = [upper for upper, _ in gaps if self._stitch_below(upper) is not None]
        requests = stitchable
        if self._round >= self._max_rounds or self._stalled or not requests:
            verify = self._second_pass()
            if verify:
                return list(verify)
            why = (
                "the server seems to ignore the page parameter or keeps changing"
                if self._stalled
                else "sessions kept changing while paging"
                if requests
                else "the page size is too small to link neighbouring pages"
            )
            self._outcome = Outcome(
                False,
                f"could not verify {len(gaps)} boundaries between pages ({why})",
                unverified=tuple(span for _, span in gaps),
                failed=tuple(self._failed),
                per_page=self._cov.size,
            )
            return []
        self._round += 1
        return list({id(upper): upper for upper in stitchable}.values())

    def _second_pass(self) -> list[PageRequest]:
        """Every main page again, when stitches cannot link them (sizes ignored, too small).

        Allowed once, and only for a clean tiling: pages 1..end answered, each full and all
        new except a short last one. A deletion that shifts the list between two pages
        removes a session already read (an arrival is an overlap, not a gap), and a deleted
        session never comes back; so a second pass with the same ids on every page means
        no page boundary moved (up to a session arriving and leaving between two answers,
        the limit that unchanged totals also have).
        """
        end = self._end_page
        if self._verify is not None or self._failed or end is None or self._since_mode:
            return []
        size = self._cov.size
        pages = {s.request.page: s for s in self._cov.seen if s.request.purpose == "page"}
        for page in range(1, end + 1):
            s = pages.get(page)
            if s is None or s.new != s.rows or (page > 1 and s.request.per_page != size):
                return []
            if (s.rows < size) != (page == end):
                return []
        self._verify = {}
        first = PageRequest(1, self._asked, "verify")
        return [first] + [PageRequest(page, size, "verify") for page in range(2, end + 1)]

    def _honesty_probe(self) -> list[PageRequest]:
        """The page holding position ``totalItems``, to check a total the pages never reached.

        With ``since`` the fetch stops long before the end of the list; one request for
        the page where the claimed total ends (short, or empty right at it) proves the
        totals honest, so unchanged totals can link the pages instead of stitches.
        """
        totals = {s.total for s in self._cov.seen}
        if len(totals) != 1 or self._cov.honest_totals() or self._cov.shrank or not self._cov.size:
            return []
        (total,) = totals
        if total is None or total <= 0:
            return []
        if any(s.rows < s.request.per_page and s.end < total for s in self._cov.seen):
            return []  # the list already ended short of the claim: the total is refuted
        probe = PageRequest(total // self._cov.size + 1, self._cov.size, "probe")
        if self._asked_at(probe):
            return []  # already read: what it says is in the totals check
        if total % self._cov.size == 0:  # empty right at the total: read the full page before too
            before = PageRequest(total // self._cov.size, self._cov.size, "probe")
            return [before, probe] if not self._asked_at(before) else [probe]
        return [probe]

    def _asked_at(self, request: PageRequest) -> bool:
        """Whether the same window (page and size) was asked for, whatever the purpose."""
        return any(
            r.page == request.page and r.per_page == request.per_page for r in self._asked_before
        )

    def _reread_probe(self) -> PageRequest | None:
        """Page 1 again, when it is all there is and too small to stitch (1 or 2 rows).

        A session that exists for the whole fetch never disappears and comes back, so
        page 1 holding the same ids before and after an empty page 2 was the whole list
        while page 2 was served.
        """
        non_empty = [s for s in self._cov.seen if s.rows]
        if any(s.start > 0 for s in non_empty) or self._stitch(max(self._cov.size, 1)) is not None:
            return None
        probe = PageRequest(1, self._asked, "probe")
        return None if probe in self._asked_before else probe

    def _stitch_below(self, upper: Seen) -> PageRequest | None:
        """A stitch across the boundary below ``upper``, where that boundary sits now."""
        return self._stitch(self._cov.shifted(upper))

    def _stitch(self, b: int) -> PageRequest | None:
        """A request whose window holds positions ``b - 1`` and ``b`` with room either side."""
        top = min(self._cov.size, self._cov.honoured)
        best: tuple[int, PageRequest] | None = None
        for m in range(top, 1, -1):
            q = (b - 1) // m + 1
            before, after = b - (q - 1) * m, q * m - b
            if after < 1:
                continue
            request = PageRequest(q, m, "stitch")
            score = min(before, after) - (m if request in self._asked_before else 0)
            if best is None or score > best[0]:
                best = (score, request)
        return None if best is None else best[1]
