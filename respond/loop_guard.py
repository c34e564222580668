"""Loop protection: the one place that decides an automatic reply must not go to an address.

Two robots answering each other can exchange thousands of mails in an hour; a mistyped
address can bounce forever. So before a reply is queued, and again right before it is sent
(minutes or days later, when more has happened), `refusal` says why it must not go out, or
None. The reason is a sentence, because it is written into the case's history for an agent.

Rate limits count automatic replies (`auto_submitted`) that are queued, being sent or sent,
by the time they entered the outbox. Only rows that entered the outbox before the reply being
judged count (`before_id`), so the verdict on a reply does not change with the order in which
several senders happen to process its neighbours: the 4th reply of the hour is refused
whether it is checked at queue time or at send time, and the first three never are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from eteam.settings import Settings
from models import OutboundReply
from respond.smtp import recipient

HARD_BOUNCE_QUARANTINE = timedelta(days=60)
COUNTED_STATUSES = ("queued", "sending", "sent")


@dataclass(frozen=True)
class RateLimits:
    """Automatic replies allowed per sliding window (SPEC §5 defaults: 3 an hour, 10 a day, per recipient)."""

    per_recipient_hour: int = 3
    per_recipient_day: int = 10
    per_case_day: int = 5


DEFAULT_LIMITS = RateLimits()


def refusal(
    session: Session,
    settings: Settings,
    to_addr: str,
    *,
    service_request_id: int | None,
    now: datetime,
    automatic: bool = True,
    before_id: int | None = None,
    limits: RateLimits = DEFAULT_LIMITS,
) -> str | None:
    """Why a reply to `to_addr` must not go out now, or None when it may.

    Own, role and hard-bounced addresses are refused for every reply; the rate limits apply
    only to `automatic` replies (an agent who approves a reply has judged it). `before_id` is
    the outbox row being judged: only rows queued before it count toward the limits.
    """
    try:
        address = recipient(to_addr)[1].lower()
    except ValueError:
        return "no usable reply address"
    if settings.is_own_address(address):
        return "recipient is one of our own addresses"
    if address.split("@", 1)[0].split("+", 1)[0] in settings.role_localparts:
        return "recipient is a role address"
    now = now.astimezone(timezone.utc)
    bounced = _recent_hard_bounce(session, address, now)
    if bounced:
        return f"recipient hard-bounced ({bounced}); not mailed again for {HARD_BOUNCE_QUARANTINE.days} days"
    if not automatic:
        return None
    to_recipient = func.lower(OutboundReply.to_addr) == address
    checks: list[tuple[ColumnElement[bool], timedelta, int, str]] = [
        (to_recipient, timedelta(hours=1), limits.per_recipient_hour, "to this address in the last hour"),
        (to_recipient, timedelta(days=1), limits.per_recipient_day, "to this address in the last day"),
    ]
    if service_request_id is not None:
        on_case = OutboundReply.service_request_id == service_request_id
        checks.append((on_case, timedelta(days=1), limits.per_case_day, "on this case in the last day"))
    for scope, window, limit, words in checks:
        if (session.scalar(_count_automatic(scope, now - window, before_id)) or 0) >= limit:
            return f"rate limit: {limit} automatic replies {words}"
    return None


def _count_automatic(scope: ColumnElement[bool], since: datetime, before_id: int | None) -> Select[tuple[int]]:
    conditions = [
        scope,
        OutboundReply.auto_submitted.is_(True),
        OutboundReply.status.in_(COUNTED_STATUSES),
        OutboundReply.created_at >= since,
    ]
    if before_id is not None:
        conditions.append(OutboundReply.id < before_id)
    return select(func.count()).select_from(OutboundReply).where(and_(*conditions))


def _recent_hard_bounce(session: Session, address: str, now: datetime) -> str | None:
    """The bounce reason when the last mail that left for this address hard-bounced lately.

    Only the newest mail counts: a later successful delivery proves the address works again.
    The bounce's own time is not stored, so the bounced mail's send time stands in for it.
    """
    sent_at = func.coalesce(OutboundReply.sent_at, OutboundReply.created_at)
    last = session.execute(
        select(OutboundReply.status, OutboundReply.reason)
        .where(
            func.lower(OutboundReply.to_addr) == address,
            OutboundReply.status.in_(("sent", "bounced")),
            sent_at >= now - HARD_BOUNCE_QUARANTINE,
        )
        .order_by(sent_at.desc(), OutboundReply.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    status, reason = last
    return reason if status == "bounced" and reason and reason.startswith("hard") else None
