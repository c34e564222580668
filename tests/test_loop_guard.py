"""Loop protection refuses our own, role and hard-bounced addresses and enforces the rate limits."""

from collections.abc import Iterator
from email.message import EmailMessage
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eteam.settings import Settings
from eteam.stages import Services
from models import OutboundReply
from models.db import make_engine, make_session_factory
from respond.cases import open_service_request
from respond.loop_guard import RateLimits, refusal
from tests.conftest import store_and_process

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=timezone.utc)
CUSTOMER = "maria@example.com"


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def add_reply(session: Session, *, minutes_ago: float, **fields: Any) -> OutboundReply:
    """An outbox row entered `minutes_ago` before NOW; automatic and queued unless told otherwise."""
    created = NOW - timedelta(minutes=minutes_ago)
    values: dict[str, Any] = {
        "to_addr": CUSTOMER,
        "subject": "Re: bill",
        "body": "…",
        "lang": "en",
        "template": "bill_explanation",
        "auto_submitted": True,
        "status": "queued",
        "created_at": created,
        **fields,
    }
    count = session.scalar(select(func.count()).select_from(OutboundReply))
    reply = OutboundReply(header_message_id=f"<eteam.test{count}@ladwp.example>", **values)
    session.add(reply)
    session.flush()
    return reply


def check(session: Session, settings: Settings, to_addr: str = CUSTOMER, **kwargs: Any) -> str | None:
    kwargs.setdefault("service_request_id", None)
    return refusal(session, settings, to_addr, now=NOW, **kwargs)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("contactus@ladwp.example", "one of our own addresses"),
        ("Billing <billing@LADWP.example>", "one of our own addresses"),
        ("noreply@bank.example", "role address"),
        ("MAILER-DAEMON@mx.example", "role address"),
        ("no-reply+tag@shop.example", "role address"),
        ("not an address", "no usable reply address"),
    ],
)
def test_refuses_own_role_and_unusable_addresses(
    session: Session, settings: Settings, address: str, reason: str
) -> None:
    assert reason in (check(session, settings, address) or "")


def test_allows_a_customer(session: Session, settings: Settings) -> None:
    assert check(session, settings) is None


def test_hourly_limit_counts_only_earlier_automatic_replies(session: Session, settings: Settings) -> None:
    for minutes in (50, 30, 10):
        add_reply(session, minutes_ago=minutes)
    add_reply(session, minutes_ago=5, auto_submitted=False)  # approved by an agent: not counted
    add_reply(session, minutes_ago=5, status="suppressed")  # never went out: not counted
    fourth = add_reply(session, minutes_ago=1)
    assert "3 automatic replies to this address in the last hour" in (check(session, settings) or "")
    assert check(session, settings, before_id=fourth.id) is not None
    third = session.scalars(select(OutboundReply).order_by(OutboundReply.id)).all()[2]
    assert check(session, settings, before_id=third.id) is None  # only two came before it
    assert check(session, settings, automatic=False) is None  # a person's reply is not rate limited


def test_hour_window_slides(session: Session, settings: Settings) -> None:
    for minutes in (61, 70, 90):
        add_reply(session, minutes_ago=minutes, status="sent", sent_at=NOW - timedelta(minutes=minutes))
    assert check(session, settings) is None


def test_daily_limit(session: Session, settings: Settings) -> None:
    for hour in range(2, 12):
        add_reply(session, minutes_ago=hour * 60, status="sent", sent_at=NOW - timedelta(hours=hour))
    assert "10 automatic replies to this address in the last day" in (check(session, settings) or "")
    assert check(session, settings, limits=RateLimits(per_recipient_day=11)) is None


def test_per_case_limit_spans_addresses(session: Session, settings: Settings) -> None:
    request = open_service_request(
        session, intent="high_bill", queue="Billing", customer_email=CUSTOMER, customer_name="Maria Lopez",
        account_number=None, urgent=False, now=NOW,
    )
    session.flush()
    for n in range(5):
        add_reply(session, minutes_ago=120 + n * 60, to_addr=f"alias{n}@example.com", service_request_id=request.id)
    assert "5 automatic replies on this case in the last day" in (
        check(session, settings, service_request_id=request.id) or ""
    )
    assert check(session, settings) is None  # the same address without the case is fine


def test_hard_bounce_blocks_for_sixty_days(session: Session, settings: Settings) -> None:
    add_reply(session, minutes_ago=0, status="bounced", reason="hard bounce 5.1.1", sent_at=NOW - timedelta(days=59))
    assert "hard-bounced" in (check(session, settings, "MARIA@example.com") or "")
    later = NOW + timedelta(days=2)
    assert refusal(session, settings, CUSTOMER, service_request_id=None, now=later) is None


def test_soft_bounce_or_later_delivery_does_not_block(session: Session, settings: Settings) -> None:
    add_reply(session, minutes_ago=0, status="bounced", reason="soft bounce 4.2.2", sent_at=NOW - timedelta(days=3))
    assert check(session, settings) is None
    add_reply(session, minutes_ago=0, status="bounced", reason="hard bounce 5.1.1", sent_at=NOW - timedelta(days=2))
    assert check(session, settings) is not None
    add_reply(session, minutes_ago=0, status="sent", sent_at=NOW - timedelta(days=1))
    assert check(session, settings) is None


def test_one_batch_obeys_the_limits_it_fills_itself(settings: Settings, services: Services) -> None:
    """Five questions from one customer in one batch: three answers go out, two are held back,
    and the sender, judging each committed row by what came before it, agrees with every verdict."""
    questions = []
    for n in range(5):
        question = EmailMessage()
        question["From"] = "Maria Lopez <maria@example.com>"
        question["To"] = "contactus@ladwp.example"
        question["Subject"] = f"Question {n}"
        question["Message-ID"] = f"<question-{n}@example.com>"
        question.set_content("Can you explain the charges on my bill? I do not understand the line items this month.")
        questions.append(question.as_bytes())
    store_and_process(settings, services, questions)
    with make_session_factory(make_engine(settings.database_url))() as session:
        replies = session.scalars(select(OutboundReply).order_by(OutboundReply.id)).all()
        assert [r.status for r in replies] == ["queued"] * 3 + ["suppressed"] * 2
        assert all("3 automatic replies to this address in the last hour" in (r.reason or "") for r in replies[3:])
        now = services.clock()
        for reply in replies[:3]:
            verdict = refusal(session, settings, reply.to_addr, service_request_id=None, now=now, before_id=reply.id)
            assert verdict is None
