"""Outage broadcasts update one record; customers inside it are linked and told when it is back."""

from email.message import EmailMessage

from sqlalchemy import select

from eteam.settings import Settings
from eteam.stages import Services
from models import Message, OutboundReply, Outage
from models.db import make_engine, make_session_factory
from tests.conftest import store_and_process

AUTH = (
    "mx.ladwp.example; spf=pass smtp.mailfrom=ladwp.example; dkim=pass header.d=ladwp.example; "
    "dmarc=pass header.from=ladwp.example"
)


def broadcast(number: int, status: str, restoration: str, *, auth: str = AUTH) -> bytes:
    message = EmailMessage()
    message["From"] = "LADWP Outage Desk <outage-desk@ladwp.example>"
    message["To"] = "eteam@ladwp.example"
    message["Subject"] = f"[OUTAGE] ELECTRIC - {status.upper()} - OUT-261124-02 - Westchester"
    message["Message-ID"] = f"<outage-{number}@ladwp.example>"
    message["Authentication-Results"] = auth
    message.set_content(
        f"Crews are on site.\nOutage ID: OUT-261124-02\nService: Electric\nStatus: {status}\n"
        f"Areas: Westchester\nZIP Codes: 90045\nCause: Underground cable fault\n"
        f"Estimated Restoration: {restoration}\n"
    )
    return message.as_bytes()


def report(number: int, sender: str, text: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "contactus@ladwp.example"
    message["Subject"] = "power out"
    message["Message-ID"] = f"<report-{number}@mail.example>"
    message.set_content(text)
    return message.as_bytes()


def test_outage_lifecycle(settings: Settings, services: Services) -> None:
    power_out = "The power is out at our house in Westchester 90045 since noon. When will the electricity be back?"
    store_and_process(settings, services, [broadcast(1, "Active", "2026-11-24 20:00"), report(1, "ana@mail.example", power_out)])
    store_and_process(settings, services, [broadcast(2, "Update", "2026-11-24 23:30")])
    store_and_process(settings, services, [report(2, "bo@mail.example", power_out)])
    # a spoofed "restored" (authentication failed) is ordinary mail and closes nothing
    store_and_process(settings, services, [broadcast(3, "Restored", "", auth="mx.ladwp.example; spf=fail; dmarc=fail")])
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        outage = session.scalar(select(Outage).where(Outage.outage_ref == "OUT-261124-02"))
        assert outage is not None and outage.status == "Update"
        assert outage.estimated_restoration == "2026-11-24 23:30"
        replies = {r.to_addr: r for r in session.scalars(select(OutboundReply))}
        assert "2026-11-24 20:00" in replies["ana@mail.example"].body
        assert "2026-11-24 23:30" in replies["bo@mail.example"].body  # the update changed later answers

    store_and_process(settings, services, [broadcast(4, "Restored", ""), broadcast(5, "Restored", "")])
    with sessions() as session:
        outage = session.scalar(select(Outage).where(Outage.outage_ref == "OUT-261124-02"))
        assert outage is not None and outage.status == "Restored" and outage.restored_at is not None
        notices = session.scalars(
            select(OutboundReply).where(
                OutboundReply.template == "restoration_notice", OutboundReply.status == "queued"
            )
        ).all()
        assert sorted(n.to_addr for n in notices) == ["ana@mail.example", "bo@mail.example"]
        linked = session.scalars(select(Message).where(Message.outage_id == outage.id)).all()
        assert len(linked) >= 2 + 3  # two reports and the three genuine broadcasts
