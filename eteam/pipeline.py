"""The pipeline runner: takes stored messages through the steps, quarantining what breaks.

The order of steps is the data below; the runner knows nothing of what they do. A batch runs
inside a savepoint and is written in a few statements (`Batch.close`); should a step raise,
the batch is redone one message per savepoint, so the failure leaves no half-done work: the message is quarantined
with the step's name and the error, kept whole and recoverable, and the batch goes on. The
steps' database-free half is prepared ahead, in worker processes for a backlog
(`eteam.prepare`). Only messages still `received` are claimed (with SKIP LOCKED on
PostgreSQL), so re-running `process`, or running several workers, never processes a message
twice.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from eteam.prepare import Prepared, Preparer, Ticket
from eteam.stages import (
    Batch,
    ClaimedMessage,
    ClassifyStage,
    ExtractStage,
    ParseStage,
    RespondStage,
    RouteStage,
    Services,
    Stage,
    ThreadStage,
    WorkItem,
    write_messages,
)
from models import Event, Message, MessageStatus
from models.db import lock_for_writing

log = logging.getLogger(__name__)

DEFAULT_STAGES: tuple[str, ...] = ("parse", "thread", "extract", "classify", "route", "respond")
STAGE_FACTORIES: dict[str, Callable[[Services], Stage]] = {
    "parse": ParseStage,
    "thread": lambda _services: ThreadStage(),
    "extract": lambda _services: ExtractStage(),
    "classify": ClassifyStage,
    "route": RouteStage,
    "respond": RespondStage,
}


@dataclass
class ProcessReport:
    """What a `process` run did."""

    processed: int = 0
    quarantined: int = 0
    actions: Counter[str] = field(default_factory=Counter)


def build_stages(services: Services, names: tuple[str, ...] = DEFAULT_STAGES) -> list[Stage]:
    """Instantiate the named steps in order; an unknown name is a configuration error."""
    unknown = [name for name in names if name not in STAGE_FACTORIES]
    if unknown:
        raise ValueError(f"unknown pipeline stage(s) {unknown}; known: {sorted(STAGE_FACTORIES)}")
    return [STAGE_FACTORIES[name](services) for name in names]


def _quarantine(session: Session, message: ClaimedMessage, stage: str, exc: Exception) -> None:
    """Keep the message whole for a person to look at, with the step that broke and why."""
    log.warning("message %s quarantined at %s: %s", message.id, stage, exc)
    message.status = MessageStatus.QUARANTINED
    message.action = "quarantine"
    message.queue = "Triage"
    message.quarantine_stage = stage
    message.reason = f"{stage}: {type(exc).__name__}: {exc}"[:2000]
    write_messages(session, [message])
    session.add(Event(kind="quarantined", message_id=message.id, data={"stage": stage}))


def _run_stages(item: WorkItem, stages: list[Stage]) -> None:
    for stage in stages:
        try:
            stage.run(item)
        except Exception as exc:
            exc.add_note(f"stage: {stage.name}")
            item.failure = (stage.name, exc)
            raise
    item.message.status = MessageStatus.PROCESSED
    item.batch.done(item.message)


def run_one(session: Session, item: WorkItem, stages: list[Stage]) -> bool:
    """Run every step on one message in a savepoint; on error quarantine it. True if processed."""
    if item.failure is not None:
        _quarantine(session, item.message, *item.failure)
        return False
    item.batch = Batch([item])
    try:
        with session.begin_nested(), session.no_autoflush:
            _run_stages(item, stages)
            item.batch.close(session)
    except Exception as exc:  # noqa: BLE001 - any failure of one message must not stop the loop
        stage = item.failure[0] if item.failure else "start"
        item.message = item.message.fresh()  # what the steps set was rolled back with them
        _quarantine(session, item.message, stage, exc)
        return False
    return True


def run_batch(session: Session, items: list[WorkItem], stages: list[Stage]) -> int:
    """Process a prepared batch; returns how many were processed (the rest are quarantined).

    Fast path: the whole batch in one savepoint, written at its end by `Batch.close` (the
    steps never flush for ids; autoflush is off so that queries do not write the batch row by
    row). Should any message raise, that savepoint is rolled back and the batch re-runs
    message by message, each in its own savepoint, so the failure quarantines one message and
    leaves no half-done work.
    """
    ready = [item for item in items if item.failure is None]
    batch = Batch(ready)
    try:
        with session.begin_nested(), session.no_autoflush:
            for item in ready:
                item.batch = batch
                _run_stages(item, stages)
            batch.close(session)
    except Exception:  # noqa: BLE001 - retried one by one below
        for item in ready:
            item.message = item.message.fresh()
            item.failure = None
            item.decision = None
        session.expire_all()
        return sum(run_one(session, item, stages) for item in items)
    for item in items:
        if item.failure is not None:
            _quarantine(session, item.message, *item.failure)
    return len(ready)


class Processor:
    """Works through the `received` messages in id order, one committed batch at a time.

    The database-free steps of the next batches are prepared ahead (in `workers` processes
    once there is a backlog of more than a batch) while this process writes the current one.
    `feed` may be called while mail is still arriving (after each stored IMAP batch) and
    writes only what is ready; `drain` writes everything. A batch is claimed only when it is
    written, with SKIP LOCKED on PostgreSQL, so several workers never process one message
    twice: what another took meanwhile is left to it.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        stages: list[Stage],
        *,
        batch_size: int = 200,
        workers: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.stages = stages
        self.batch_size = batch_size
        self.workers = workers
        self.progress = progress
        self.report = ProcessReport()
        self._preparer = Preparer(stages)
        self._ahead: deque[tuple[list[int], Ticket]] = deque()
        self._after = 0

    def feed(self) -> None:
        """Start preparing what is waiting and write the batches already prepared."""
        self._fill()
        while self._ahead and self._ahead[0][1].ready():
            self._write(*self._ahead.popleft())
            self._fill()

    def drain(self) -> ProcessReport:
        """Write every waiting message; the run's report.

        While the workers' next batch is not ready, this process does not wait idle: it
        prepares and writes a batch of its own, so both cores stay busy whatever the balance
        of preparing and writing. Batches hold disjoint messages, so their order is free.
        """
        self._fill()
        while self._ahead:
            if self._preparer.workers and not self._ahead[0][1].ready():
                ids, raws = self._next_batch()
                if ids:
                    self._write(ids, self._preparer.here(raws))
                    continue
            self._write(*self._ahead.popleft())
            self._fill()
        return self.report

    def _next_batch(self) -> tuple[list[int], list[bytes]]:
        ids, raws = _received_after(self.session_factory, self._after, self.batch_size)
        if ids:
            self._after = ids[-1]
        return ids, raws

    def _fill(self) -> None:
        while len(self._ahead) < self._preparer.ahead:
            ids, raws = self._next_batch()
            if not ids:
                return
            if self.workers and not self._preparer.workers and len(ids) == self.batch_size:
                self._preparer.workers = self.workers  # a backlog: worth a pool
            self._ahead.append((ids, self._preparer.submit(raws)))

    def _write(self, ids: list[int], ticket: Ticket) -> None:
        done = _write_batch(self.session_factory, ids, dict(zip(ids, ticket.result(), strict=True)), self.stages, self.report)
        if self.progress is not None and done:
            self.progress(done)

    def __enter__(self) -> Processor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._preparer.__exit__(exc_type, exc, tb)


def process_pending(
    session_factory: sessionmaker[Session],
    stages: list[Stage],
    *,
    batch_size: int = 200,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> ProcessReport:
    """Process every `received` message now (see `Processor`); the run's report."""
    with Processor(session_factory, stages, batch_size=batch_size, workers=workers, progress=progress) as processor:
        return processor.drain()


def _received_after(session_factory: sessionmaker[Session], after: int, limit: int) -> tuple[list[int], list[bytes]]:
    """The next batch still waiting, by id: ids and raw bytes only, claimed later."""
    with session_factory() as session:
        rows = session.execute(
            select(Message.id, Message.raw)
            .where(Message.status == MessageStatus.RECEIVED, Message.id > after)
            .order_by(Message.id)
            .limit(limit)
        ).all()
    return [row.id for row in rows], [bytes(row.raw) for row in rows]


def _write_batch(
    session_factory: sessionmaker[Session],
    ids: list[int],
    prepared: dict[int, Prepared],
    stages: list[Stage],
    report: ProcessReport,
) -> int:
    """Claim the batch's messages that are still waiting, run the steps, commit; returns how many."""
    with session_factory.begin() as session:
        lock_for_writing(session)
        query = (
            select(Message.id, Message.message_id, Message.created_at)
            .where(Message.id.in_(ids), Message.status == MessageStatus.RECEIVED)
            .order_by(Message.id)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        items = [
            WorkItem(
                session=session,
                message=ClaimedMessage(
                    id=row.id, message_id=row.message_id, created_at=row.created_at, raw=prepared[row.id].raw
                ),
            )
            for row in session.execute(query)
        ]
        for item in items:
            prepared[item.message.id].copy_to(item)
        processed = run_batch(session, items, stages)
        report.processed += processed
        report.quarantined += len(items) - processed
        report.actions.update(item.message.action or "none" for item in items)
    return len(items)
