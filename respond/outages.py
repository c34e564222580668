"""Outage records from the outage desk's broadcasts, and finding the one a customer is in.

An Active, Update or Restored broadcast updates one record by its Outage ID; an update for an
unknown ID opens the record instead of being lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.parse import OutageNotice
from models import Message, OutboundReply, Outage

WATER_WORDS = re.compile(r"(?i)\b(water|agua|pressure|presi[oó]n|faucet|tap|llave)\b")
POWER_WORDS = re.compile(r"(?i)\b(power|electric\w*|lights?|luz|electricidad|energ[ií]a|apag[oó]n)\b")


def record_broadcast(session: Session, notice: OutageNotice, now: datetime) -> Outage:
    """Create or update the outage the broadcast names; fields it leaves out keep their value.

    A new outage is flushed at once, so that reports later in the same batch find it (the
    batch then reads its active outages again); an update needs no flush, because the batch's
    list of active outages holds the session's own objects.
    """
    with session.no_autoflush:
        outage = session.scalar(select(Outage).where(Outage.outage_ref == notice.outage_ref))
    created = outage is None
    if outage is None:
        outage = Outage(outage_ref=notice.outage_ref, created_at=now)
        session.add(outage)
    outage.status = notice.status or outage.status or "Active"
    outage.service = notice.service or outage.service
    outage.areas = notice.areas or outage.areas or []
    outage.zips = notice.zips or outage.zips or []
    outage.customers_affected = notice.customers_affected or outage.customers_affected
    outage.cause = notice.cause or outage.cause
    outage.started = notice.started or outage.started
    outage.estimated_restoration = notice.estimated_restoration or outage.estimated_restoration
    outage.updated_at = now
    if outage.status == "Restored":
        outage.restored_at = now
    if created:
        session.flush()
    return outage


def service_mentioned(text: str) -> str | None:
    """Electric or Water when the text says which; None when it does not."""
    water, power = bool(WATER_WORDS.search(text)), bool(POWER_WORDS.search(text))
    if water != power:
        return "Water" if water else "Electric"
    return None


def active_outages(session: Session) -> list[Outage]:
    """The outages not restored, oldest first: what `find_active_outage` chooses among.

    Read once per batch; the session's own objects are returned, so a restoration written
    later in the batch shows on them.
    """
    return list(session.scalars(select(Outage).where(Outage.status != "Restored").order_by(Outage.id)))


def find_active_outage(outages: Iterable[Outage], *, zip_code: str | None, text: str) -> Outage | None:
    """The active outage covering the customer's ZIP or a named area, of the service they mean."""
    service = service_mentioned(text)
    lowered = text.lower()
    for outage in outages:
        if outage.status == "Restored":
            continue  # restored by a broadcast since the list was read
        if service and outage.service and outage.service != service:
            continue
        if zip_code and zip_code in outage.zips:
            return outage
        if any(area and area.lower() in lowered for area in outage.areas):
            return outage
    return None


def outage_context(outage: Outage) -> dict[str, str]:
    """What templates may say about an outage."""
    return {
        "id": outage.outage_ref,
        "service": outage.service,
        "areas": ", ".join(outage.areas),
        "cause": outage.cause,
        "estimated_restoration": outage.estimated_restoration or "not yet known",
        "status": outage.status,
    }


def restoration_recipients(session: Session, outage: Outage) -> list[Message]:
    """The linked reports whose customer has not yet had this outage's restoration notice.

    One notice per customer address, however many reports they sent.
    """
    notified = {
        address.lower()
        for address in session.scalars(
            select(OutboundReply.to_addr)
            .join(Message, Message.id == OutboundReply.message_id)
            .where(Message.outage_id == outage.id, OutboundReply.template == "restoration_notice")
        )
    }
    recipients: list[Message] = []
    for message in session.scalars(
        select(Message).where(Message.outage_id == outage.id, Message.action == "outage_link").order_by(Message.id)
    ):
        address = (message.reply_to or message.from_addr).lower()
        if address and address not in notified:
            notified.add(address)
            recipients.append(message)
    return recipients
