"""The terminal progress bar: drawn at the first page, following a total that appears later."""

from __future__ import annotations

import pytest

from vsdk_analytics._progress import make_sink


def test_the_text_bar_follows_a_total_known_late_and_ends_full(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = make_sink(True)  # forced: stderr is not a terminal under pytest
    assert capsys.readouterr().err == "", "nothing is drawn before the first page"
    sink.update(1, None, 100)  # the first page did not say how many sessions there are
    sink.update(2, 10, 200)
    sink.update(10, 10, 1000)
    sink.update(11, 11, 1000)  # a probe past the claimed end adds a page
    sink.close()
    err = capsys.readouterr().err
    assert "1page" in err.replace(" ", "")  # the first frame: no total yet
    assert "11/11" in err
    assert "1,000 sessions" in err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in last and "11/11" in last


def test_a_fetch_that_fails_before_any_page_draws_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = make_sink(True)
    sink.close()
    assert capsys.readouterr().err == ""


def test_progress_false_and_callables() -> None:
    seen: list[tuple[int, int | None, int]] = []
    make_sink(False).update(1, 1, 1)
    sink = make_sink(lambda p: seen.append((p.pages_done, p.pages_total, p.sessions)))
    sink.update(1, None, 5)
    sink.update(2, 2, 9)
    sink.close()
    assert seen == [(1, None, 5), (2, 2, 9)]
