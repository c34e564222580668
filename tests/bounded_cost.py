"""Hostile input costs what ordinary input of its size costs: checked without a clock limit.

SPEC §9 wants hostile input (deep nesting, tag soup, quote storms) never to stall the loop.
A fixed time limit would make the tests fail on a slow or busy machine, and tests never fail
on timing; so the cost of the hostile input is compared with the same machine's cost, measured
alongside, of ordinary input of the same size. Linear work keeps the ratio near 1 (0.1–1.7 when
this was written); the blow-ups guarded against — quadratic tree building, regex backtracking —
are hundreds of times slower at these sizes, far past `SLOWDOWN_LIMIT`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: hostile input may cost this many times ordinary input of its size, and no more
SLOWDOWN_LIMIT = 10
#: a customer's HTML mail: paragraphs, inline tags, a table, a quote, a list
ORDINARY_HTML = (
    "<div><p>Dear team, my bill for <b>November</b> is much higher than usual.</p>"
    "<table><tr><td>Account</td><td>123</td></tr></table>"
    "<blockquote><p>On Mon we wrote: thanks</p></blockquote><ul><li>one</li><li>two</li></ul></div>"
)
#: a customer's plain-text reply above our quoted message
ORDINARY_TEXT = (
    "Hello, my power has been out since 9 am on Main St. Can you tell me when it comes back?\n"
    "> On Mon, someone wrote:\n> old text\n"
)


def ordinary(unit: str, size: int) -> str:
    """`unit` repeated to exactly `size` characters."""
    return (unit * (size // len(unit) + 1))[:size]


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def assert_costs_like_ordinary(hostile: Callable[[], object], ordinary_work: Callable[[], object], what: str) -> None:
    """Fail if `hostile()` costs over `SLOWDOWN_LIMIT` times `ordinary_work()` (best of three runs).

    The hostile work runs again only while it looks too slow, so a real blow-up is paid for
    at most three times, and a pause of the machine during one run cannot fail the test.
    """
    baseline = min(_seconds(ordinary_work) for _ in range(3))
    ratio = float("inf")
    for _ in range(3):
        ratio = min(ratio, _seconds(hostile) / baseline)
        if ratio < SLOWDOWN_LIMIT:
            return
    raise AssertionError(f"{what}: {ratio:.0f} times the cost of ordinary input of the same size")
