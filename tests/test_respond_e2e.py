"""The demo mailbox end to end through a real SMTP server: what customers actually receive.

Every answered intent gets its reply in the customer's language; every service request has its
number in the acknowledgement and a CCB note; outage reports inside an active outage get its
restoration time; automatic mail gets nothing.
"""

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from eteam.pipeline import build_stages, process_pending
from eteam.settings import DEMO_MAILBOX, Settings
from eteam.stages import Services
from ingest.sources import iter_path
from ingest.store import store_stream
from models import CcbNote, Classification, Message, OutboundReply, Outage, ServiceRequest
from models.db import make_engine, make_session_factory
from respond.sender import send_pending
from respond.smtp import SmtpSettings
from tests.smtp_server import SmtpTestServer

SPANISH_GREETING = "Estimado"


def test_demo_mailbox_replies_as_customers_receive_them(
    settings: Settings, services: Services, smtp_server: SmtpTestServer
) -> None:
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        store_stream(session, iter_path(DEMO_MAILBOX))
    process_pending(sessions, build_stages(services))
    report = send_pending(
        sessions, SmtpSettings.from_url(smtp_server.url), settings,
        now=datetime.now(timezone.utc) + timedelta(minutes=1),
    )
    received = {r.message["In-Reply-To"]: r for r in smtp_server.messages}
    assert report.sent == len(smtp_server.messages) > 0
    assert all(count == 1 for count in smtp_server.message_id_counts().values())

    with sessions() as session:
        messages = session.scalars(select(Message)).all()
        for message in messages:
            got = received.get(message.message_id)
            intent = session.scalars(
                select(Classification.intent).where(Classification.message_id == message.id)
            ).first()
            if message.kind in ("auto", "bounce", "outage_broadcast"):
                assert got is None, f"automatic mail {message.message_id} was answered"
                continue
            if message.action in ("auto_reply", "service_request", "outage_link"):
                assert got is not None, f"{message.message_id} ({intent}, {message.action}) got no reply"
                body = got.message.get_content()
                assert got.rcpt_tos == [message.reply_to or message.from_addr]
                assert (SPANISH_GREETING in body) == (message.lang == "es"), message.message_id
                assert got.message["Auto-Submitted"] == "auto-replied"
            if message.action == "triage":
                assert got is None, "nothing is sent for a message an agent must classify"
            if message.action == "service_request":
                request = session.get(ServiceRequest, message.service_request_id)
                assert request is not None
                assert f"[SR {request.number}]" in got.message["Subject"]
                assert request.number in got.message.get_content()
                notes = session.scalars(select(CcbNote).where(CcbNote.service_request_id == request.id)).all()
                assert notes and all(f"SR#{request.number}" in n.text and len(n.text) <= 254 for n in notes)
            if message.action == "outage_link":
                outage = session.get(Outage, message.outage_id)
                assert outage is not None and outage.estimated_restoration in got.message.get_content()

        drafts = session.scalars(select(OutboundReply).where(OutboundReply.status == "draft")).all()
        assert all(r.header_message_id not in smtp_server.message_id_counts() for r in drafts)
