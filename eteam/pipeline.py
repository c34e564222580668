"""The pipeline runner: takes stored messages through the steps, quarantining what breaks.

The order of steps is the data below; the runner knows nothing of what they do. Each message
runs inside a savepoint, so a step that raises leaves no half-done work: the message is
quarantined with the step's name and the error, kept whole and recoverable, and the batch
goes on. Only messages still `received` are picked up (with SKIP LOCKED on PostgreSQL), so
re-running `process`, or running several workers, never processes a message twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from eteam.stages import (
    ClassifyStage,
    ExtractStage,
    ParseStage,
    RespondStage,
    RouteStage,
    Services,
    Stage,
    ThreadStage,
    WorkItem,
)
from models import Event, Message, MessageStatus

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


def run_one(session: Session, message: Message, stages: list[Stage]) -> bool:
    """Run every step on one message; on error quarantine it. True when it was processed."""
    item = WorkItem(session=session, message=message)
    current = "start"
    try:
        with session.begin_nested():
            for stage in stages:
                current = stage.name
                stage.run(item)
            message.status = MessageStatus.PROCESSED
    except Exception as exc:  # noqa: BLE001 - any failure of one message must not stop the loop
        log.warning("message %s quarantined at %s: %s", message.id, current, exc)
        message.status = MessageStatus.QUARANTINED
        message.action = "quarantine"
        message.queue = "Triage"
        message.quarantine_stage = current
        message.reason = f"{current}: {type(exc).__name__}: {exc}"[:2000]
        session.add(Event(kind="quarantined", message_id=message.id, data={"stage": current}))
        return False
    return True


def process_pending(
    session_factory: sessionmaker[Session],
    stages: list[Stage],
    *,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> ProcessReport:
    """Process every `received` message in id order, one committed batch at a time."""
    report = ProcessReport()
    while True:
        with session_factory.begin() as session:
            query = (
                select(Message)
                .where(Message.status == MessageStatus.RECEIVED)
                .order_by(Message.id)
                .limit(batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            batch = list(session.scalars(query))
            if not batch:
                return report
            for message in batch:
                if run_one(session, message, stages):
                    report.processed += 1
                else:
                    report.quarantined += 1
                report.actions[message.action or "none"] += 1
        if progress is not None:
            progress(len(batch))
