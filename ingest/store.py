"""Storing raw messages exactly once: de-duplication by Message-ID (content hash when missing).

Storing is the commit point of ingest: a message counts as received only once its raw bytes
are committed, and only then may a mailbox mark or move it. Batches keep the round trips few.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.parse import message_id_of
from models import Event, Message, MessageStatus
from models.db import lock_for_writing


@dataclass
class StoreReport:
    """What a store run did; `eteam import --json` prints it."""

    seen: int = 0
    stored: int = 0
    duplicates: int = 0

    def add(self, other: StoreReport) -> None:
        """Fold one batch's report into the running total."""
        self.seen += other.seen
        self.stored += other.stored
        self.duplicates += other.duplicates


def batched(items: Iterable[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    """Split a stream into lists of at most `size`, so memory stays flat."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def store_batch(session: Session, batch: list[tuple[str, bytes]]) -> StoreReport:
    """Insert the batch's new messages (one query to find the known ones); caller commits.

    Duplicates inside the batch are caught too, so the same file listed twice stores once.
    Rows are written with plain INSERTs: at thousands of messages a second, building an ORM
    object per message cost more than finding its Message-ID.
    """
    lock_for_writing(session)  # reads, then writes: take SQLite's lock first
    report = StoreReport(seen=len(batch))
    keyed = [(message_id_of(raw), source, raw) for source, raw in batch]
    wanted = {message_id for message_id, _, _ in keyed}
    known = set(session.scalars(select(Message.message_id).where(Message.message_id.in_(wanted))))
    new_rows: list[dict[str, object]] = []
    for message_id, source, raw in keyed:
        if message_id in known:
            report.duplicates += 1
            continue
        known.add(message_id)
        new_rows.append(
            {
                "message_id": message_id,
                "content_hash": hashlib.sha256(raw).hexdigest(),
                "source": source[:500],
                "raw": raw,
                "status": MessageStatus.RECEIVED,
            }
        )
    if not new_rows:
        return report
    try:
        with session.begin_nested():
            session.execute(insert(Message.__table__), new_rows)
    except IntegrityError:
        # Another importer stored some of these since we looked: insert one by one, keeping ours.
        new_rows = [row for row in new_rows if _insert_unless_stored(session, row)]
        report.duplicates = report.seen - len(new_rows)
    report.stored = len(new_rows)
    if new_rows:
        stored = [row["message_id"] for row in new_rows]
        ids = session.scalars(select(Message.id).where(Message.message_id.in_(stored)).order_by(Message.id))
        session.execute(insert(Event), [Event.row("received", message_id=message_pk) for message_pk in ids])
    return report


def _insert_unless_stored(session: Session, row: dict[str, object]) -> bool:
    """Insert one message in its own savepoint; False when its Message-ID is already stored."""
    try:
        with session.begin_nested():
            session.execute(insert(Message.__table__), row)
    except IntegrityError:
        return False
    return True


def store_stream(
    session: Session,
    items: Iterable[tuple[str, bytes]],
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> StoreReport:
    """Store a stream of raw messages, committing each batch; `progress` hears each batch's size."""
    total = StoreReport()
    for batch in batched(items, batch_size):
        total.add(store_batch(session, batch))
        session.commit()
        if progress is not None:
            progress(len(batch))
    return total
