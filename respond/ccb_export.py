"""CCB outbox adapters: a daily CSV export for upload, and an HTTP adapter for CCB's REST inbound.

Both share one guarantee: a note leaves the `pending` state only after its destination has it
(the CSV is on disk and fsync'd; the endpoint answered 2xx), so a crash or an unreachable
endpoint can delay a note but never drop it. The price is that a crash at the wrong instant
can deliver a note twice; every record therefore carries its `note_id` (and each POST an
`Idempotency-Key`), so CCB's side can recognise a repeat.

CSV columns, in order (UTF-8, header row, RFC 4180 quoting):

    note_id         the note's id in the outbox (unique, stable)
    created_at      when the note was written, ISO 8601 in UTC
    note_type       "Customer Contact" or "Premise Note"
    account_number  10-digit CCB account number, empty when unknown
    sr_number       the service request cited, YYMMDD-NNNNNN, empty when none
    text            the one-line note, at most 254 characters, PII already masked
"""

from __future__ import annotations

import csv
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from models import CcbNote, ServiceRequest
from respond.cases import LOS_ANGELES

COLUMNS = ("note_id", "created_at", "note_type", "account_number", "sr_number", "text")
POST_TIMEOUT = 10.0


def _as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; the schema stores UTC, so say so."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _notes(status: str) -> Select[tuple[CcbNote, str]]:
    return (
        select(CcbNote, func.coalesce(ServiceRequest.number, ""))
        .outerjoin(ServiceRequest, ServiceRequest.id == CcbNote.service_request_id)
        .where(CcbNote.status == status)
        .order_by(CcbNote.id)
    )


def _record(row: Row[tuple[CcbNote, str]]) -> dict[str, str | int]:
    """One note as the CSV row and the JSON body both carry it."""
    note, sr_number = row
    return {
        "note_id": note.id,
        "created_at": _as_utc(note.created_at).isoformat(),
        "note_type": note.note_type,
        "account_number": note.account_number or "",
        "sr_number": sr_number,
        "text": note.text,
    }


def export_notes(session: Session, day: date, out: Path) -> int:
    """Write the pending notes created up to the end of `day` (Los Angeles) to `out`; mark them exported.

    Earlier days' notes still pending are included on purpose: a day whose export was missed
    is caught up by the next one instead of being stranded. `out` is never overwritten (an
    export may already have been uploaded), so FileExistsError when it exists. The file is
    complete and fsync'd before the notes are marked, so a crash re-exports, never loses.
    """
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOS_ANGELES).astimezone(timezone.utc)
    pending = _notes("pending").where(CcbNote.created_at < end).with_for_update(skip_locked=True, of=CcbNote)
    rows = session.execute(pending).all()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "x", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(_record(row) for row in rows)
        handle.flush()
        os.fsync(handle.fileno())
    exported_at = datetime.now(timezone.utc)
    for note, _ in rows:
        note.status = "exported"
        note.posted_at = exported_at
    session.commit()
    return len(rows)


@dataclass
class PostReport:
    """What one HTTP pass did: notes CCB accepted, and notes left pending for the next pass."""

    posted: int = 0
    failed: int = 0


def post_notes(
    session_factory: sessionmaker[Session],
    endpoint_url: str,
    token: str | None = None,
    *,
    timeout: float = POST_TIMEOUT,
) -> PostReport:
    """POST each pending note as JSON to CCB's inbound endpoint; 2xx marks it posted.

    A note the endpoint refuses stays pending and is tried again next pass; the pass moves on
    to the next note after an HTTP error, and stops when the endpoint cannot be reached at all
    (every other note would wait out the same timeout). On PostgreSQL each note is posted while
    its row is locked, so two workers never post the same note at once; elsewhere a repeat is
    possible and carries the same Idempotency-Key.
    """
    report = PostReport()
    last_id = 0
    while True:
        with session_factory() as session:
            row = session.execute(
                _notes("pending").where(CcbNote.id > last_id).limit(1).with_for_update(skip_locked=True, of=CcbNote)
            ).first()
            if row is None:
                return report
            note = row[0]
            last_id = note.id
            try:
                _post(endpoint_url, token, _record(row), timeout)
            except urllib.error.HTTPError as refused:
                refused.close()
                report.failed += 1
                continue
            except OSError:  # URLError, refused, timeout: the endpoint is down
                report.failed += 1
                return report
            note.status = "posted"
            note.posted_at = datetime.now(timezone.utc)
            session.commit()
            report.posted += 1


def _post(endpoint_url: str, token: str | None, record: dict[str, str | int], timeout: float) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"eteam-ccb-note-{record['note_id']}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        endpoint_url, data=json.dumps(record).encode("utf-8"), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
