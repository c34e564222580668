"""The stable per-message record behind `eteam messages --json` and the demo summary.

Its keys are an interface other tools rely on: exactly `MESSAGE_KEYS`, always all present.
`reason` is why the message got its action: the routing rule's reason, the automatic-mail
reason when suppressed, or the failing step and error when quarantined.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Classification, Message, Outage, ServiceRequest

MESSAGE_KEYS = (
    "id", "message_id", "kind", "status", "intent", "confidence", "action", "queue", "reply_to",
    "sr_number", "account_number", "zip", "lang", "pii", "reason", "outage_id",
)


def message_rows(session: Session, *, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """One dict per message in id order, with its newest classification, case and outage."""
    latest = (
        select(Classification.message_id, func.max(Classification.id).label("cid"))
        .group_by(Classification.message_id)
        .subquery()
    )
    query = (
        select(Message, Classification, ServiceRequest.number, Outage.outage_ref)
        .outerjoin(latest, latest.c.message_id == Message.id)
        .outerjoin(Classification, Classification.id == latest.c.cid)
        .outerjoin(ServiceRequest, ServiceRequest.id == Message.service_request_id)
        .outerjoin(Outage, Outage.id == Message.outage_id)
        .order_by(Message.id)
    )
    if status is not None:
        query = query.where(Message.status == status)
    if limit is not None:
        query = query.limit(limit)
    rows = []
    for message, classification, sr_number, outage_ref in session.execute(query):
        rows.append(
            {
                "id": message.id,
                "message_id": message.message_id,
                "kind": message.kind or None,
                "status": message.status,
                "intent": classification.intent if classification else None,
                "confidence": round(classification.confidence, 4) if classification else None,
                "action": message.action,
                "queue": message.queue,
                "reply_to": message.reply_to or message.from_addr or None,
                "sr_number": sr_number,
                "account_number": message.account_number,
                "zip": message.zip,
                "lang": message.lang or None,
                "pii": list(message.pii or []),
                "reason": message.reason,
                "outage_id": outage_ref,
            }
        )
    return rows
