"""What the dashboard shows, as plain functions over a SQLAlchemy session.

Every figure is computed by the database (GROUP BY, EXISTS, LIMIT), never by loading messages
into Python, so the pages stay fast with hundreds of thousands of messages stored. The functions
return dataclasses, dicts or pandas DataFrames and know nothing about Streamlit, so they are
tested directly and can back a CLI report or an export as well as a page.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, case, exists, func, inspect, or_, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from classify.extract import mask_pii
from models import Classification, Correction, Message, MessageStatus, OutboundReply, Outage, ServiceRequest

REPLY_SENT = "sent"
"""`OutboundReply.status` once the SMTP server accepted the reply."""

SR_SOLVED = "Solved"
"""`ServiceRequest.status` of a closed case (Customer Connect's wording)."""

OUTAGE_RESTORED = "Restored"
"""`Outage.status` after the outage desk's Restored broadcast; any other status is still open."""

NONE_LABEL = "(none)"
"""How a missing kind or action is counted, so those messages stay visible in the totals."""

MESSAGE_COLUMNS = [
    "id",
    "received_at",
    "from",
    "subject",
    "kind",
    "intent",
    "confidence",
    "action",
    "queue",
    "status",
]
"""Columns of `recent_messages`, in display order."""

QUARANTINE_COLUMNS = ["id", "received_at", "from", "subject", "stage", "reason"]
"""Columns of `quarantined`, in display order."""


@dataclass(frozen=True)
class QueueSummary:
    """One queue's workload: what is still open, how long the oldest has waited, and why."""

    queue: str
    open: int
    total: int
    oldest_open_received_at: datetime | None
    oldest_open_age: timedelta | None
    open_by_action: dict[str, int]


@dataclass(frozen=True)
class OutageSummary:
    """An outage as leads watch it: its broadcast facts and how many customer reports link to it."""

    id: int
    ref: str
    service: str
    status: str
    active: bool
    areas: list[str]
    zips: list[str]
    customers_affected: int | None
    cause: str
    started: str
    estimated_restoration: str
    updated_at: datetime
    restored_at: datetime | None
    linked_messages: int


def _as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; every timestamp this product stores is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _received() -> ColumnElement[datetime]:
    """When a message arrived: the server's date, else when we stored it (imports may lack one)."""
    return func.coalesce(Message.received_at, Message.created_at)


def _sender() -> ColumnElement[str]:
    """Who wrote: Reply-To (the customer, for web-form mail sent by the site), else From."""
    return func.coalesce(func.nullif(Message.reply_to, ""), Message.from_addr)


def open_condition() -> ColumnElement[bool]:
    """True for a message that still needs a person, i.e. it is *open*.

    A message is open while its queue is set, no reply to it has been sent (an `OutboundReply`
    with status "sent"; a queued or drafted reply does not count), and its service request, if it
    has one, is not Solved. Messages without a queue (outage broadcasts, auto-replies, bounces,
    not yet routed) are never open, nor are quarantined ones: the Quarantine page shows those.
    """
    reply_sent = exists().where(
        OutboundReply.message_id == Message.id, OutboundReply.status == REPLY_SENT
    )
    case_solved = exists().where(
        ServiceRequest.id == Message.service_request_id, ServiceRequest.status == SR_SOLVED
    )
    return (
        Message.queue.is_not(None)
        & (Message.status != MessageStatus.QUARANTINED)
        & ~reply_sent
        & ~case_solved
    )


def _sqlite_file_missing(url: URL) -> bool:
    """True when the URL names a SQLite file that does not exist (connecting would create it)."""
    database = url.database
    return (
        url.get_backend_name() == "sqlite"
        and bool(database)
        and database != ":memory:"
        and not Path(str(database)).exists()
    )


def has_messages(session: Session) -> bool:
    """Whether there is anything to show: the database exists, has the schema and a message.

    A missing SQLite file is reported without connecting, so merely opening the dashboard never
    creates an empty database where `eteam init` should create the real one.
    """
    if _sqlite_file_missing(session.get_bind().url):
        return False
    if not inspect(session.connection()).has_table(Message.__tablename__):
        return False
    return session.scalar(select(Message.id).limit(1)) is not None


def queue_summary(session: Session, now: datetime) -> list[QueueSummary]:
    """Per queue that has any message: open count, oldest open message and its age, open by action.

    "Open" is defined by `open_condition`. Queues are listed busiest first, then by name; a
    queue whose messages are all done is still listed (open 0) so leads see it is clear. Two
    GROUP BYs (totals from the queue index, then the open messages only) keep the per-message
    checks to one pass over the open candidates.
    """
    totals_statement = (
        select(Message.queue, func.count())
        .where(Message.queue.is_not(None))
        .group_by(Message.queue)
    )
    totals = {queue: int(count) for queue, count in session.execute(totals_statement)}
    open_statement = (
        select(Message.queue, Message.action, func.count(), func.min(_received()))
        .where(open_condition())
        .group_by(Message.queue, Message.action)
    )
    open_groups: dict[str, list[tuple[str, int, datetime]]] = defaultdict(list)
    for queue, action, count, oldest in session.execute(open_statement):
        open_groups[queue].append((action or NONE_LABEL, int(count), _as_utc(oldest)))

    now = _as_utc(now)
    summaries = []
    for queue, total in totals.items():
        groups = sorted(open_groups[queue], key=lambda group: (-group[1], group[0]))
        oldest = min((received for _, _, received in groups), default=None)
        summaries.append(
            QueueSummary(
                queue=queue,
                open=sum(count for _, count, _ in groups),
                total=total,
                oldest_open_received_at=oldest,
                oldest_open_age=None if oldest is None else now - oldest,
                open_by_action={action: count for action, count, _ in groups},
            )
        )
    return sorted(summaries, key=lambda summary: (-summary.open, summary.queue))


def _counts(session: Session, statement: Select[tuple[str, int]]) -> dict[str, int]:
    """Run a (label, count) GROUP BY and return it largest first, ties by label."""
    pairs = [(label, int(count)) for label, count in session.execute(statement)]
    return dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))


def _grouped_count(column: ColumnElement[str | None]) -> Select[tuple[str, int]]:
    """Count all messages by one column, missing or empty values counted as `NONE_LABEL`."""
    label = func.coalesce(func.nullif(column, ""), NONE_LABEL).label("label")
    return select(label, func.count()).group_by(label)


def counts_by_kind(session: Session) -> dict[str, int]:
    """Messages stored per kind (customer, webform, outage_broadcast, auto, bounce, reply)."""
    return _counts(session, _grouped_count(Message.kind))


def counts_by_action(session: Session) -> dict[str, int]:
    """Messages per routing action; not yet routed and quarantined ones count as `NONE_LABEL`."""
    return _counts(session, _grouped_count(Message.action))


def _current_classification_ids() -> Select[tuple[int]]:
    """Ids of each message's newest classification: the current verdict, older rows are history."""
    return select(func.max(Classification.id)).group_by(Classification.message_id)


def counts_by_intent(session: Session) -> dict[str, int]:
    """Messages per current intent (newest classification); unclassified ones are not counted."""
    statement = (
        select(Classification.intent, func.count())
        .where(Classification.id.in_(_current_classification_ids()))
        .group_by(Classification.intent)
    )
    return _counts(session, statement)


def queue_names(session: Session) -> list[str]:
    """Every queue that holds a message, alphabetically (for filters)."""
    statement = select(Message.queue).where(Message.queue.is_not(None)).distinct()
    return sorted(session.scalars(statement))


def _frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
    """A DataFrame with `received_at` as UTC timestamps and customer-written subjects PII-masked.

    A customer may put a card or SSN in the subject line; the dashboard shows it masked, with the
    same `mask_pii` every other output uses.
    """
    frame = pd.DataFrame(rows, columns=columns)
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
    frame["subject"] = frame["subject"].map(lambda subject: mask_pii(subject or ""))
    return frame


def recent_messages(
    session: Session,
    queue: str | None = None,
    outage_id: int | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """The newest messages (optionally of one queue, or linked to one outage), newest first.

    Columns are `MESSAGE_COLUMNS`; intent and confidence are the current classification's (empty
    when not classified yet). The limit is applied before the classification lookup, so the cost
    does not grow with the number of stored messages beyond the ordering scan.
    """
    newest = select(Message.id, _received().label("received")).order_by(
        _received().desc(), Message.id.desc()
    )
    if queue is not None:
        newest = newest.where(Message.queue == queue)
    if outage_id is not None:
        newest = newest.where(Message.outage_id == outage_id)
    page = newest.limit(limit).subquery()

    current = (
        select(func.max(Classification.id))
        .where(Classification.message_id == Message.id)
        .correlate(Message)
        .scalar_subquery()
    )
    statement = (
        select(
            Message.id,
            page.c.received,
            _sender(),
            Message.subject,
            Message.kind,
            Classification.intent,
            Classification.confidence,
            Message.action,
            Message.queue,
            Message.status,
        )
        .join(page, page.c.id == Message.id)
        .outerjoin(Classification, Classification.id == current)
        .order_by(page.c.received.desc(), Message.id.desc())
    )
    return _frame(list(session.execute(statement)), MESSAGE_COLUMNS)


def outages(
    session: Session, now: datetime, recent: timedelta = timedelta(days=7)
) -> list[OutageSummary]:
    """Outages still open plus those updated (e.g. restored) within `recent`, active ones first.

    Each carries the number of messages linked to it (`Message.outage_id`), counted in one
    GROUP BY rather than per outage.
    """
    linked = (
        select(Message.outage_id, func.count().label("linked"))
        .where(Message.outage_id.is_not(None))
        .group_by(Message.outage_id)
        .subquery()
    )
    active = Outage.status != OUTAGE_RESTORED
    cutoff = _as_utc(now) - recent
    statement = (
        select(Outage, func.coalesce(linked.c.linked, 0))
        .outerjoin(linked, linked.c.outage_id == Outage.id)
        .where(or_(active, Outage.updated_at >= cutoff))
        .order_by(case((active, 0), else_=1), Outage.updated_at.desc(), Outage.id.desc())
    )
    return [
        OutageSummary(
            id=outage.id,
            ref=outage.outage_ref,
            service=outage.service,
            status=outage.status,
            active=outage.status != OUTAGE_RESTORED,
            areas=[str(area) for area in outage.areas],
            zips=[str(zip_code) for zip_code in outage.zips],
            customers_affected=outage.customers_affected,
            cause=outage.cause,
            started=outage.started,
            estimated_restoration=outage.estimated_restoration,
            updated_at=_as_utc(outage.updated_at),
            restored_at=None if outage.restored_at is None else _as_utc(outage.restored_at),
            linked_messages=int(linked_count),
        )
        for outage, linked_count in session.execute(statement)
    ]


def quarantined(session: Session, limit: int = 500) -> pd.DataFrame:
    """Quarantined messages, newest first, with the pipeline stage that gave up and why.

    Columns are `QUARANTINE_COLUMNS`.
    """
    statement = (
        select(
            Message.id,
            _received().label("received"),
            _sender(),
            Message.subject,
            Message.quarantine_stage,
            Message.reason,
        )
        .where(Message.status == MessageStatus.QUARANTINED)
        .order_by(_received().desc(), Message.id.desc())
        .limit(limit)
    )
    return _frame(list(session.execute(statement)), QUARANTINE_COLUMNS)


def corrections_since(session: Session, since: datetime | None) -> int:
    """Agent reclassifications stored after `since` (the active model's training time).

    These are what the next `eteam train` learns from; a growing number is the manager's cue
    to retrain.
    """
    statement = select(func.count()).select_from(Correction)
    if since is not None:
        statement = statement.where(Correction.created_at > _as_utc(since))
    return int(session.scalar(statement) or 0)


def model_table(registry: dict[str, Any]) -> pd.DataFrame:
    """The active and candidate models side by side: version, training, hold-out figures, why.

    `registry` is what `classify.corrections.ModelRegistry.read` returns; a missing entry is
    left out, so a fresh install shows only its active model (or nothing before `eteam train`).
    """
    rows = []
    for role in ("active", "candidate"):
        entry = registry.get(role)
        if not entry:
            continue
        holdout = entry.get("holdout") or {}
        rows.append(
            {
                "Role": role,
                "Version": entry.get("version"),
                "Trained at": entry.get("trained_at"),
                "Training rows": entry.get("training_rows"),
                "Agent corrections": entry.get("corrections"),
                "Hold-out macro-F1": holdout.get("macro_f1"),
                "Hold-out coverage": holdout.get("coverage"),
                "Accuracy above threshold": holdout.get("accuracy_at_threshold"),
                "Why": entry.get("reason"),
            }
        )
    return pd.DataFrame(rows)
