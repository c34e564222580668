"""Loop protection: the one place that decides an automatic reply must not go to an address.

Two robots answering each other can exchange thousands of mails in an hour; a mistyped
address can bounce forever. So before a reply is queued, and again right before it is sent
(minutes or days later, when more has happened), loop protection says why it must not go out,
or None. The reason is a sentence, because it is written into the case's history for an agent.

Rate limits count automatic replies (`auto_submitted`) that are queued, being sent or sent,
by the time they entered the outbox. Only replies that entered the outbox before the one being
judged count, so the verdict on a reply does not change with the order in which several
senders happen to process its neighbours: the 4th reply of the hour is refused whether it is
checked at queue time or at send time, and the first three never are.

Two entry points share the rules: `refusal` judges one committed outbox row (the sender, at
send time); `QueueGuard` judges the replies a processing batch queues before it is flushed,
adding them to what the outbox held when the batch began, so a batch costs one look-up per
recipient rather than several queries and a flush per reply.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from eteam.settings import Settings
from models import OutboundReply, ServiceRequest
from respond.smtp import recipient

HARD_BOUNCE_QUARANTINE = timedelta(days=60)
COUNTED_STATUSES = ("queued", "sending", "sent")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
K = TypeVar("K", bound=Hashable)


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
    address, reason = _screen(settings, to_addr)
    if reason is not None:
        return reason
    now = now.astimezone(timezone.utc)
    bounced = _hard_bounces(session, [address], now)[address]
    if bounced:
        return _bounce_words(bounced)
    if not automatic:
        return None
    hour, day = _automatic_counts(session, RECIPIENT, [address], now, before_id)[address]
    case_day = None
    if service_request_id is not None:
        case_day = _automatic_counts(session, CASE, [service_request_id], now, before_id)[service_request_id][1]
    return _over_limit(limits, hour, day, case_day)


class QueueGuard:
    """Loop protection for the replies one batch queues before anything of it is flushed.

    What the outbox held for the batch's likely recipients is looked up in two queries when
    the first reply is judged (one more for anyone else); replies the batch lets through are
    then counted here, in queue order, so the verdicts are the ones `refusal` would give row
    by row after a flush.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        now: datetime,
        likely_recipients: Iterable[str] = (),
        limits: RateLimits = DEFAULT_LIMITS,
    ) -> None:
        self.session = session
        self.settings = settings
        self.now = now.astimezone(timezone.utc)
        self.limits = limits
        self._likely = list(likely_recipients)
        self._bounces: dict[str, str | None] = {}
        self._per_address: dict[str, list[int]] = {}
        self._per_case: dict[ServiceRequest, int] = {}

    def refusal(self, to_addr: str, request: ServiceRequest | None, *, automatic: bool) -> str | None:
        """Why this reply must not be queued to go out, or None; a reply let through is counted."""
        address, reason = _screen(self.settings, to_addr)
        if reason is not None:
            return reason
        if address not in self._bounces:
            self._look_up(address)
        if self._bounces[address]:
            return _bounce_words(self._bounces[address])
        if not automatic:
            return None
        counts = self._per_address[address]
        case_day = None
        if request is not None:
            if request not in self._per_case:
                self._per_case[request] = (
                    _automatic_counts(self.session, CASE, [request.id], self.now)[request.id][1] if request.id else 0
                )
            case_day = self._per_case[request]
        reason = _over_limit(self.limits, counts[0], counts[1], case_day)
        if reason is None:
            counts[0] += 1
            counts[1] += 1
            if request is not None:
                self._per_case[request] += 1
        return reason

    def forget(self, to_addr: str) -> None:
        """Look the recipient up afresh: a bounce in this batch has just changed its history."""
        address, _ = _screen(self.settings, to_addr)
        self._bounces.pop(address, None)
        self._per_address.pop(address, None)

    def _look_up(self, address: str) -> None:
        """The outbox's history of this address and of every likely recipient not yet looked up."""
        wanted = {address}
        for candidate in self._likely:
            screened, reason = _screen(self.settings, candidate)
            if reason is None and screened not in self._bounces:
                wanted.add(screened)
        self._likely = []
        addresses = sorted(wanted)
        self._bounces.update(_hard_bounces(self.session, addresses, self.now))
        for key, counts in _automatic_counts(self.session, RECIPIENT, addresses, self.now).items():
            self._per_address[key] = list(counts)


def _screen(settings: Settings, to_addr: str) -> tuple[str, str | None]:
    """(bare lower-case address, reason) — a reason when the address may never be mailed."""
    try:
        address = recipient(to_addr)[1].lower()
    except ValueError:
        return "", "no usable reply address"
    if settings.is_own_address(address):
        return address, "recipient is one of our own addresses"
    if address.split("@", 1)[0].split("+", 1)[0] in settings.role_localparts:
        return address, "recipient is a role address"
    return address, None


def _bounce_words(bounce: str) -> str:
    return f"recipient hard-bounced ({bounce}); not mailed again for {HARD_BOUNCE_QUARANTINE.days} days"


def _over_limit(limits: RateLimits, hour: int, day: int, case_day: int | None) -> str | None:
    """The rate limit that earlier automatic replies already fill, if any."""
    checks = [
        (hour, limits.per_recipient_hour, "to this address in the last hour"),
        (day, limits.per_recipient_day, "to this address in the last day"),
    ]
    if case_day is not None:
        checks.append((case_day, limits.per_case_day, "on this case in the last day"))
    for count, limit, words in checks:
        if count >= limit:
            return f"rate limit: {limit} automatic replies {words}"
    return None


RECIPIENT: ColumnElement[Any] = func.lower(OutboundReply.to_addr)
CASE: ColumnElement[Any] = OutboundReply.service_request_id.expression


def _automatic_counts(
    session: Session, key: ColumnElement[Any], values: Sequence[K], now: datetime, before_id: int | None = None
) -> dict[K, tuple[int, int]]:
    """Counted automatic replies per recipient (or case) over the last hour and day, in one query."""
    conditions = [
        key.in_(values),
        OutboundReply.auto_submitted.is_(True),
        OutboundReply.status.in_(COUNTED_STATUSES),
        OutboundReply.created_at >= now - DAY,
    ]
    if before_id is not None:
        conditions.append(OutboundReply.id < before_id)
    counts: dict[K, tuple[int, int]] = {value: (0, 0) for value in values}
    for value, hour, day in session.execute(
        select(key, func.count().filter(OutboundReply.created_at >= now - HOUR), func.count())
        .where(and_(*conditions))
        .group_by(key)
    ):
        counts[value] = (hour or 0, day or 0)
    return counts


def _hard_bounces(session: Session, addresses: Sequence[str], now: datetime) -> dict[str, str | None]:
    """Per address, the bounce reason when the last mail that left for it hard-bounced lately.

    Only the newest mail counts: a later successful delivery proves the address works again.
    The bounce's own time is not stored, so the bounced mail's send time stands in for it.
    """
    sent_at = func.coalesce(OutboundReply.sent_at, OutboundReply.created_at)
    last: dict[str, tuple[str, str | None]] = {}
    for address, status, reason in session.execute(
        select(RECIPIENT, OutboundReply.status, OutboundReply.reason)
        .where(
            RECIPIENT.in_(addresses),
            OutboundReply.status.in_(("sent", "bounced")),
            sent_at >= now - HARD_BOUNCE_QUARANTINE,
        )
        .order_by(sent_at, OutboundReply.id)
    ):
        last[address] = (status, reason)  # ascending: the newest mail is the one left
    verdicts: dict[str, str | None] = {}
    for address in addresses:
        status, reason = last.get(address, ("", None))
        verdicts[address] = reason if status == "bounced" and reason and reason.startswith("hard") else None
    return verdicts
