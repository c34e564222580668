"""A small, realistic inbox in a throwaway SQLite database, shared by the dashboard tests.

Rows are inserted straight through the ORM (no pipeline), so the dashboard tests depend only on
the schema. Every timestamp is relative to `now`, so the same data reads the same whether the
query tests pin the clock or the app tests use the real one. The expected figures the tests
check are worked out by hand from the table in `_populate`:

    queue                open / total   oldest open   open by action
    Billing                 3 / 5       2 d           sr 1, draft 1, sr_update 1
    Outage                  2 / 5       3 h           outage_link 2
    Field Investigation     1 / 1       3 d 4 h       sr 1
    Triage                  1 / 1       1 d 2 h       triage 1
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.orm import Session

from models import (
    Classification,
    Message,
    MessageKind,
    MessageStatus,
    OutboundReply,
    Outage,
    ServiceRequest,
)
from models.db import make_engine, make_session_factory, upgrade

FIXTURE_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
"""The clock the query tests pin; the fixture's ages are measured from it."""

ACTIVE_OUTAGE = "OUT-261123-07"
RESTORED_OUTAGE = "OUT-261121-03"
OLD_OUTAGE = "OUT-261002-01"
PARSE_FAILURE = "malformed MIME: multipart boundary never closed"
RENDER_FAILURE = "template render failed: 'estimated_restoration' is undefined"


def build_fixture_database(directory: Path, now: datetime = FIXTURE_NOW) -> str:
    """Create `directory/inbox.db` at the newest schema, fill it, and return its URL."""
    url = f"sqlite:///{directory / 'inbox.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            _populate(session, now)
    finally:
        engine.dispose()
    return url


def empty_database_url(directory: Path) -> str:
    """A URL for a database that has not been created yet (what a fresh install points at)."""
    return f"sqlite:///{directory / 'not-created-yet' / 'eteam.db'}"


def _message(
    session: Session,
    subject: str,
    received: datetime,
    *,
    kind: str = MessageKind.CUSTOMER,
    from_addr: str = "customer@example.com",
    reply_to: str = "",
    queue: str | None = None,
    action: str | None = None,
    status: str = MessageStatus.PROCESSED,
    intents: tuple[tuple[str, float], ...] = (),
    service_request: ServiceRequest | None = None,
    outage: Outage | None = None,
    reply_status: str | None = None,
    reason: str | None = None,
    stage: str | None = None,
    lang: str = "en",
) -> Message:
    """Add one message with its classifications (oldest first) and, if given, its reply's status."""
    raw = f"From: {from_addr}\r\nSubject: {subject}\r\n\r\n{subject}\r\n".encode()
    message = Message(
        message_id=f"<{hashlib.sha1(raw + received.isoformat().encode()).hexdigest()}@example.com>",
        content_hash=hashlib.sha256(raw).hexdigest(),
        source="fixture",
        raw=raw,
        from_addr=from_addr,
        reply_to=reply_to,
        subject=subject,
        text=subject,
        new_text=subject,
        kind=kind,
        lang=lang,
        status=status,
        action=action,
        queue=queue,
        reason=reason,
        quarantine_stage=stage,
        received_at=received,
        created_at=received + timedelta(seconds=5),
        service_request=service_request,
        outage=outage,
    )
    session.add(message)
    session.flush()
    for offset, (intent, confidence) in enumerate(intents):
        session.add(
            Classification(
                message_id=message.id,
                intent=intent,
                confidence=confidence,
                model_version="fixture-1",
                created_at=received + timedelta(seconds=10 + offset),
            )
        )
    if reply_status is not None:
        session.add(
            OutboundReply(
                message_id=message.id,
                service_request_id=None if service_request is None else service_request.id,
                header_message_id=f"<reply-{message.id}@ladwp.example>",
                to_addr=reply_to or from_addr,
                subject=f"Re: {subject}",
                body="Thank you for contacting LADWP.",
                lang=lang,
                template="fixture",
                status=reply_status,
                sent_at=received + timedelta(minutes=1) if reply_status == "sent" else None,
            )
        )
    return message


def _outage(
    session: Session,
    ref: str,
    service: str,
    area: str,
    zips: list[str],
    customers: int,
    cause: str,
    updated: datetime,
    *,
    restored: bool,
) -> Outage:
    """Add one outage as the outage desk last broadcast it (Active, or Restored at `updated`)."""
    outage = Outage(
        outage_ref=ref,
        service=service,
        status="Restored" if restored else "Active",
        areas=[area],
        zips=zips,
        customers_affected=customers,
        cause=cause,
        started=(updated - timedelta(hours=6)).strftime("%Y-%m-%d %H:%M"),
        estimated_restoration=(updated + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M"),
        created_at=updated - timedelta(hours=6),
        updated_at=updated,
        restored_at=updated if restored else None,
    )
    session.add(outage)
    return outage


def _case(session: Session, number: str, intent: str, queue: str, status: str) -> ServiceRequest:
    """Add one service request (a Customer Connect case)."""
    case = ServiceRequest(number=number, intent=intent, queue=queue, status=status)
    session.add(case)
    session.flush()
    return case


def _populate(session: Session, now: datetime) -> None:
    """The fixture inbox: 18 messages, 3 outages, 3 service requests (see the module docstring)."""

    def ago(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    van_nuys = _outage(
        session, ACTIVE_OUTAGE, "Electric", "Van Nuys", ["91401", "91405"], 3450,
        "Equipment failure", ago(4), restored=False,
    )
    echo_park = _outage(
        session, RESTORED_OUTAGE, "Water", "Echo Park", ["90026"], 120, "Main break", ago(48),
        restored=True,
    )
    _outage(
        session, OLD_OUTAGE, "Electric", "San Pedro", ["90731"], 800, "Storm", ago(52 * 24),
        restored=True,
    )
    bill_case = _case(session, "261122-000001", "high_bill", "Billing", "Unresolved")
    solved_case = _case(session, "261114-000004", "high_bill", "Billing", "Solved")
    meter_case = _case(
        session, "261121-000002", "meter_reading", "Field Investigation", "Unresolved"
    )
    form = {"kind": MessageKind.WEBFORM, "from_addr": "webforms@ladwp.example"}
    desk = {
        "kind": MessageKind.OUTAGE_BROADCAST,
        "from_addr": "outage-desk@ladwp.example",
        "action": "outage_update",
    }

    # Billing: 5 messages; open are the unresolved case, the draft and the customer's reply.
    _message(
        session, "My bill tripled", ago(48), from_addr="maria.lopez@example.com",
        queue="Billing", action="sr", intents=(("high_bill", 0.91),), service_request=bill_case,
    )
    _message(
        session, "Contact Us: Billing", ago(5), **form, reply_to="dan.kim@example.com",
        queue="Billing", action="auto_reply", intents=(("bill_explanation", 0.95),),
        reply_status="sent",
    )
    _message(
        session, "Contact Us: Payment Plan", ago(24), **form, reply_to="j.nguyen@example.com",
        queue="Billing", action="draft", intents=(("payment_arrangement", 0.88),),
        reply_status="queued",
    )
    _message(
        session, "High bill again", ago(240), queue="Billing", action="sr",
        intents=(("high_bill", 0.90),), service_request=solved_case, reply_status="sent",
    )
    _message(
        session, "Re: [SR 261122-000001] My bill tripled", ago(6), kind=MessageKind.REPLY,
        from_addr="maria.lopez@example.com", queue="Billing", action="sr_update",
        intents=(("high_bill", 0.80),), service_request=bill_case,
    )

    # Outage: 4 reports, 3 linked to the active outage; open are the two not yet answered.
    _message(
        session, "Contact Us: Outage", ago(20), **form, reply_to="sam.ortiz@example.com",
        queue="Outage", action="outage_link", intents=(("outage", 0.97),), outage=van_nuys,
        reply_status="sent",
    )
    _message(
        session, "Power out on Sepulveda", ago(3), queue="Outage", action="outage_link",
        intents=(("outage", 0.93),), outage=van_nuys, reply_status="queued",
    )
    _message(
        session, "Se fue la luz en Van Nuys", ago(1), queue="Outage", action="outage_link",
        intents=(("outage", 0.89),), outage=van_nuys, lang="es",
    )
    _message(
        session, "No water on Echo Park Ave", ago(54), queue="Outage", action="outage_link",
        intents=(("outage", 0.92),), outage=echo_park, reply_status="sent",
    )

    # Triage: reclassified, so the newer verdict (other) is the current one.
    _message(
        session, "question about something", ago(26), queue="Triage", action="triage",
        intents=(("complaint", 0.38), ("other", 0.52)),
    )

    # Field Investigation: the oldest open message of all.
    _message(
        session, "Meter reading looks wrong", ago(76), queue="Field Investigation", action="sr",
        intents=(("meter_reading", 0.86),), service_request=meter_case,
    )

    # Broadcasts, an auto-reply, a bounce, one not yet processed, two quarantined.
    _message(session, f"[OUTAGE] ELECTRIC - ACTIVE - {ACTIVE_OUTAGE} - Van Nuys", ago(22), **desk)
    _message(session, f"[OUTAGE] ELECTRIC - UPDATE - {ACTIVE_OUTAGE} - Van Nuys", ago(4), **desk)
    _message(session, "Out of office", ago(7), kind=MessageKind.AUTO, action="suppress")
    _message(
        session, "Undelivered Mail Returned to Sender", ago(5), kind=MessageKind.BOUNCE,
        from_addr="MAILER-DAEMON@mx.example.com", action="suppress",
    )
    _message(
        session, "Start service at new apartment", ago(1 / 6), status=MessageStatus.RECEIVED
    )
    _message(
        session, "", ago(8), kind="", from_addr="", status=MessageStatus.QUARANTINED,
        stage="parse", reason=PARSE_FAILURE,
    )
    _message(
        session, "Lights out since noon", ago(0.5), status=MessageStatus.QUARANTINED,
        queue="Outage", action="outage_link", intents=(("outage", 0.90),), stage="respond",
        reason=RENDER_FAILURE,
    )  # routed, then the reply failed: in the Outage queue's total, but not open
