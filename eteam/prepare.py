"""The database-free half of the steps (parse, extract, classify), run a batch ahead in worker processes.

About half of what a message costs needs no database: reading the MIME, finding the facts,
the model's verdict. On a 2-core machine that half can run in another process while the main
process writes the previous batch, which is how a backlog of thousands of messages (a first
import, a mailbox after an outage) is worked through at twice the speed of one core.

Workers are forked from the process that loaded the model, so they share its memory instead
of loading their own, and they die with it (Linux `PR_SET_PDEATHSIG`): a killed ingest leaves
no orphan behind. A trickle of mail (the watch loop) is prepared in-process, where starting a
pool would cost more than it saves.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from types import TracebackType
from typing import Protocol

from classify.extract import Facts
from classify.model import Prediction
from eteam.child import follow_parent
from ingest.parse import ParsedMessage


class Preparable(Protocol):
    """What the steps' `prepare` reads and fills: the raw message and what is learnt from it."""

    parsed: ParsedMessage | None
    facts: Facts | None
    prediction: Prediction | None
    failure: tuple[str, Exception] | None

    @property
    def raw(self) -> bytes:
        """The message as it arrived."""


@dataclass
class Prepared:
    """The outcome of the database-free steps for one message, as it travels between processes."""

    raw: bytes
    parsed: ParsedMessage | None = None
    facts: Facts | None = None
    prediction: Prediction | None = None
    failure: tuple[str, Exception] | None = None

    def copy_to(self, item: Preparable) -> None:
        """Hand the outcome to the item the database steps will run on."""
        item.parsed, item.facts, item.prediction, item.failure = self.parsed, self.facts, self.prediction, self.failure


def prepare_batch(items: Sequence[Preparable], stages: Sequence[object]) -> None:
    """Run each step's database-free `prepare` over the batch, in step order.

    If a step's batch call raises, it is retried message by message so that only the message
    that breaks it is marked failed (and later quarantined with the step's name).
    """
    for stage in stages:
        prepare = getattr(stage, "prepare", None)
        if prepare is None:
            continue
        live = [item for item in items if item.failure is None]
        try:
            prepare(live)
        except Exception:  # noqa: BLE001 - find the culprit below
            for item in live:
                try:
                    prepare([item])
                except Exception as exc:  # noqa: BLE001
                    item.failure = (getattr(stage, "name", type(stage).__name__), exc)


_worker_stages: Sequence[object] = ()


def _adopt(stages: Sequence[object]) -> None:
    """Pool initializer: keep the forked steps, die with the parent, leave Ctrl-C to it."""
    global _worker_stages
    _worker_stages = stages
    follow_parent()


def _portable(failure: tuple[str, Exception] | None) -> tuple[str, Exception] | None:
    """The failure itself when it can cross to the parent, else its words in a RuntimeError."""
    if failure is None:
        return None
    stage, exc = failure
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - any exception may refuse pickling
        return stage, RuntimeError(f"{type(exc).__name__}: {exc}")
    return failure


def _prepare(raws: list[bytes], stages: Sequence[object]) -> list[Prepared]:
    prepared = [Prepared(raw=raw) for raw in raws]
    prepare_batch(prepared, stages)
    return prepared


def _prepare_in_worker(raws: list[bytes]) -> list[Prepared]:
    """Worker side: prepare the batch; the raw bytes are not sent back (the parent has them)."""
    prepared = _prepare(raws, _worker_stages)
    for outcome in prepared:
        outcome.raw = b""
        outcome.failure = _portable(outcome.failure)
    return prepared


class Ticket:
    """A batch handed to the preparer: `ready` says whether `result` would wait."""

    def __init__(self, raws: list[bytes], pending: AsyncResult[list[Prepared]] | None, stages: Sequence[object]) -> None:
        self._raws = raws
        self._pending = pending
        self._stages = stages

    def ready(self) -> bool:
        """True when the result is there (always, for work done in this process on demand)."""
        return self._pending is None or self._pending.ready()

    def result(self) -> list[Prepared]:
        """The prepared batch, in the order it was handed over; waits for a worker if needed."""
        if self._pending is None:
            return _prepare(self._raws, self._stages)
        prepared = self._pending.get()
        for outcome, raw in zip(prepared, self._raws, strict=True):
            outcome.raw = raw
        return prepared


class Preparer:
    """Hands batches of raw messages to the database-free steps.

    With `workers` > 0 the work starts at once in a process pool, so the caller can write
    one batch while the next is prepared; with 0 it runs in this process when asked for.
    """

    def __init__(self, stages: Sequence[object], workers: int = 0) -> None:
        self.stages = stages
        self.workers = workers
        self._pool: Pool | None = None

    @property
    def ahead(self) -> int:
        """How many batches to have in flight: one more than workers, so none waits for work."""
        return self.workers + 1 if self.workers else 1

    def here(self, raws: list[bytes]) -> Ticket:
        """A batch this process prepares itself, when its result is asked for."""
        return Ticket(raws, None, self.stages)

    def submit(self, raws: list[bytes]) -> Ticket:
        """Start preparing the batch (in a worker when there are any)."""
        if not self.workers:
            return self.here(raws)
        if self._pool is None:
            self._pool = multiprocessing.get_context("fork").Pool(
                self.workers, initializer=_adopt, initargs=(self.stages,)
            )
        return Ticket(raws, self._pool.apply_async(_prepare_in_worker, (raws,)), self.stages)

    def __enter__(self) -> Preparer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
