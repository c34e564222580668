"""A customer's answer joins its case: our Message-ID first, the SR number only from that customer."""

from email.message import EmailMessage

from sqlalchemy import func, select

from eteam.settings import Settings
from eteam.stages import Services
from models import Message, OutboundReply, ServiceRequest, ThreadEntry
from models.db import make_engine, make_session_factory
from tests.conftest import store_and_process

HIGH_BILL = (
    "My last bill was $612, three times what I normally pay for the same two months. Nothing changed "
    "at home. Please review the bill and check the meter."
)


def mail(number: int, sender: str, subject: str, text: str, in_reply_to: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "contactus@ladwp.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<thread-{number}@mail.example>"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(text)
    return message.as_bytes()


def test_replies_join_their_case(settings: Settings, services: Services) -> None:
    store_and_process(settings, services, [mail(1, "maria@mail.example", "High bill", HIGH_BILL)])
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        request = session.scalars(select(ServiceRequest)).one()
        ours = session.scalars(select(OutboundReply)).one()
        number = request.number

    answer = "Thanks. The meter is in the side yard; the gate is unlocked on weekdays."
    store_and_process(settings, services, [
        mail(2, "maria@mail.example", f"Re: High bill [SR {number}]", answer, in_reply_to=ours.header_message_id),
        mail(3, "maria@mail.example", f"Another note [SR {number}]", "Also, I am home after 3 pm."),
        mail(4, "stranger@mail.example", f"[SR {number}] what is this", "Why did I get this number?"),
    ])
    with sessions() as session:
        by_id = {m.message_id: m for m in session.scalars(select(Message))}
        for joined in ("<thread-2@mail.example>", "<thread-3@mail.example>"):
            assert by_id[joined].kind == "reply"
            assert by_id[joined].service_request_id == request.id
            assert by_id[joined].action == "human" and by_id[joined].queue == request.queue
        stranger = by_id["<thread-4@mail.example>"]
        assert stranger.kind == "customer" and stranger.service_request_id != request.id
        assert session.get(ServiceRequest, request.id).status == "Updated"
        entries = session.scalars(
            select(ThreadEntry.entry_type).where(ThreadEntry.service_request_id == request.id)
        ).all()
        assert entries.count("customer_message") == 3  # the first message and the two answers
        replies_to_maria = session.scalar(
            select(func.count()).select_from(OutboundReply).where(OutboundReply.to_addr == "maria@mail.example")
        )
        assert replies_to_maria == 1  # no automatic answer to an answer: the case's agent replies


def test_draft_intents_wait_for_an_agent(settings: Settings, services: Services) -> None:
    services.settings = settings.model_copy(update={"draft_intents": ["high_bill"]})
    store_and_process(settings, services, [mail(5, "maria@mail.example", "High bill", HIGH_BILL)])
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        reply = session.scalars(select(OutboundReply)).one()
        assert reply.status == "draft" and not reply.auto_submitted
