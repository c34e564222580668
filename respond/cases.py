"""Service requests as Customer Connect keeps them: numbering, due times, thread entries.

Numbers are `YYMMDD-NNNNNN` from a per-day counter bumped with one atomic UPDATE … RETURNING,
so two workers on PostgreSQL never get the same number; a batch reserves a block at once. Due times follow the Customer Bill of
Rights: answered within 24 hours, moved to the next business day past weekends and City
holidays.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Event, ServiceRequest, SrCounter, ThreadEntry

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
END_OF_BUSINESS = time(17, 0)


def _reserve(session: Session, day: str, count: int) -> int:
    """Bump the day's counter by `count` (creating the day's row); the new last number.

    Plain table statements on the session's connection: they share nothing with the batch's
    pending rows, so those are not flushed one case at a time.
    """
    counter = SrCounter.__table__
    bump = update(counter).where(counter.c.day == day).values(last=counter.c.last + count).returning(counter.c.last)
    value = session.connection().execute(bump).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():  # once a day: the flush it makes costs nothing
                session.connection().execute(insert(counter).values(day=day, last=count))
            value = count
        except IntegrityError:  # another worker created the day's row first
            value = session.connection().execute(bump).scalar_one()
    return int(value)


def _day(now: datetime) -> str:
    return now.astimezone(LOS_ANGELES).strftime("%y%m%d")


def next_sr_number(session: Session, now: datetime) -> str:
    """Take the next number of the day; safe under concurrent creation."""
    day = _day(now)
    return f"{day}-{_reserve(session, day, 1):06d}"


class CaseNumbers:
    """Numbers for a batch that may open many cases, from one counter bump instead of one each.

    The first case of a day reserves a block; `release` gives back what the batch did not use,
    so numbers stay consecutive. That is safe because the bump holds the counter row until the
    transaction ends (PostgreSQL's row lock, SQLite's write lock): nobody else bumps in between.
    Call `release` before the transaction commits.
    """

    def __init__(self, session: Session, block: int) -> None:
        self.session = session
        self.block = max(1, block)
        self._free: dict[str, tuple[int, int]] = {}  # day -> (next number, last reserved)

    def take(self, now: datetime) -> str:
        """The next number of `now`'s day."""
        day = _day(now)
        following, last = self._free.get(day, (1, 0))
        if following > last:
            last = _reserve(self.session, day, self.block)
            following = last - self.block + 1
        self._free[day] = (following + 1, last)
        return f"{day}-{following:06d}"

    def release(self) -> None:
        """Hand back the reserved numbers not taken."""
        counter = SrCounter.__table__
        for day, (following, last) in self._free.items():
            if following <= last:
                self.session.connection().execute(
                    update(counter).where(counter.c.day == day, counter.c.last == last).values(last=following - 1)
                )
        self._free.clear()


@lru_cache(maxsize=8)
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("US", subdiv="CA", years=year)


def is_business_day(day: date) -> bool:
    """Monday to Friday and not a holiday (California's calendar stands in for the City's)."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def due_time(created: datetime) -> datetime:
    """24 hours after receipt; if that falls off a business day, the next business day's close."""
    local = created.astimezone(LOS_ANGELES) + timedelta(hours=24)
    if is_business_day(local.date()):
        return local
    day = local.date()
    while not is_business_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, END_OF_BUSINESS, tzinfo=LOS_ANGELES)


def open_service_request(
    session: Session,
    *,
    intent: str,
    queue: str,
    customer_email: str,
    customer_name: str,
    account_number: str | None,
    urgent: bool,
    now: datetime,
    numbers: CaseNumbers | None = None,
) -> ServiceRequest:
    """Create an Unresolved case with its number and due time, and record the event.

    The number comes from `numbers` when a batch reserved some, else from the counter. The
    case gets its id when the session flushes; link rows to it by relationship.
    """
    request = ServiceRequest(
        number=numbers.take(now) if numbers is not None else next_sr_number(session, now),
        status="Unresolved",
        intent=intent,
        queue=queue,
        customer_email=customer_email,
        customer_name=customer_name,
        account_number=account_number,
        urgent=urgent,
        created_at=now,
        due_at=due_time(now),
    )
    session.add(request)
    session.add(Event(kind="sr_opened", service_request=request, at=now))
    return request


def entry_values(entry_type: str, body: str, *, message_id: int | None = None, author: str = "system") -> dict[str, Any]:
    """A case thread entry as column values (its case link aside).

    Entry types: customer_message, agent_response, rule_response, private_note.
    """
    return {
        "service_request_id": None,
        "entry_type": entry_type,
        "body": body,
        "message_id": message_id,
        "author": author,
    }


def add_entry(
    session: Session,
    request: ServiceRequest,
    entry_type: str,
    body: str,
    *,
    message_id: int | None = None,
    author: str = "system",
) -> ThreadEntry:
    """Append to a case's thread (see `entry_values`)."""
    values = entry_values(entry_type, body, message_id=message_id, author=author)
    entry = ThreadEntry(**values, service_request=request)
    session.add(entry)
    return entry
