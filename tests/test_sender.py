"""The sender against a real SMTP server: headers, UTF-8, retries, failures, loop protection, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from eteam.settings import Settings
from models import Event, Message, OutboundReply, ServiceRequest, ThreadEntry
from models.db import make_engine, make_session_factory
from respond.cases import open_service_request
from respond.outbox import reply_values
from respond.sender import LEASE_TIMEOUTS, DeliveryJournal, SendReport, send_pending
from respond.smtp import SmtpSettings, build_email

if TYPE_CHECKING:
    from tests.smtp_server import SmtpTestServer


REPO = Path(__file__).resolve().parent.parent
SPANISH = "Estimada señora López:\n\nSu número de caso es el 261124-000001. ¿Algo más? Año, niño, €.\n"
SMTP_TIMEOUT = 5.0


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def smtp(smtp_server: SmtpTestServer) -> SmtpSettings:
    return SmtpSettings.from_url(smtp_server.url, timeout=SMTP_TIMEOUT)


@dataclass
class Outbox:
    """Puts replies in the outbox the way the pipeline does: a stored message, then its reply row."""

    sessions: sessionmaker[Session]
    settings: Settings

    def reply(
        self,
        *,
        from_addr: str = "maria@example.com",
        reply_to: str = "",
        subject: str = "Mi factura",
        body: str = SPANISH,
        lang: str = "es",
        with_case: bool = False,
        send_now: bool = True,
    ) -> OutboundReply:
        with self.sessions.begin() as session:
            n = session.scalar(select(func.count()).select_from(Message)) or 0
            message = Message(
                message_id=f"<customer-{n}@example.com>",
                content_hash=f"{n:064d}",
                raw=b"",
                from_addr=from_addr,
                reply_to=reply_to,
                subject=subject,
                references="<older@example.com>",
            )
            session.add(message)
            session.flush()
            request = (
                open_service_request(
                    session, intent="high_bill", queue="Billing", customer_email=from_addr,
                    customer_name="María López", account_number=None, urgent=False,
                    now=datetime.now(timezone.utc),
                )
                if with_case
                else None
            )
            values = reply_values(
                message,
                body=body,
                template="high_bill",
                lang=lang,
                domain=self.settings.our_domain,
                sr_number=request.number if request else None,
                send_now=send_now,
            )
            reply = OutboundReply(**values, service_request=request)
            session.add(reply)
            return reply

    def get(self, reply: OutboundReply) -> OutboundReply:
        with self.sessions() as session:
            row = session.get(OutboundReply, reply.id)
            assert row is not None
            return row


@pytest.fixture
def outbox(sessions: sessionmaker[Session], settings: Settings) -> Outbox:
    return Outbox(sessions, settings)


def later(**delta: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(**delta)


def test_delivers_threaded_reply_with_utf8_body(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    reply = outbox.reply(with_case=True)
    report = send_pending(sessions, smtp, settings)
    assert report == SendReport(sent=1)
    [received] = smtp_server.messages
    message = received.message
    assert received.rcpt_tos == ["maria@example.com"]
    assert received.mail_from == settings.team_address
    assert message["From"] == f"{settings.team_name} <{settings.team_address}>"
    assert message["To"] == "maria@example.com"
    assert message["Message-ID"] == reply.header_message_id
    assert message["In-Reply-To"] == "<customer-0@example.com>"
    assert message["References"] == "<older@example.com> <customer-0@example.com>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Content-Language"] == "es"
    assert message["Date"] is not None
    assert message["Subject"].startswith("Re: Mi factura [SR ")
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == SPANISH  # CRLF is the wire form
    assert received.raw.isascii()  # 7-bit on the wire, whatever the relay supports

    sent = outbox.get(reply)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, None)
    assert sent.sent_at is not None
    with sessions() as session:
        request = session.get(ServiceRequest, sent.service_request_id)
        assert request is not None and request.status == "Waiting"
        events = session.scalars(select(Event).where(Event.kind == "replied")).all()
        assert [(e.service_request_id, e.data["reply_id"]) for e in events] == [(request.id, reply.id)]


def test_drafts_wait_and_approved_replies_are_not_marked_automatic(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    draft = outbox.reply(send_now=False)
    assert send_pending(sessions, smtp, settings) == SendReport()
    assert smtp_server.messages == [] and outbox.get(draft).status == "draft"

    with sessions.begin() as session:  # an agent approves the draft
        row = session.get(OutboundReply, draft.id)
        assert row is not None
        row.status = "queued"
    assert send_pending(sessions, smtp, settings).sent == 1
    [received] = smtp_server.messages
    assert "Auto-Submitted" not in received.message
    assert "X-Auto-Response-Suppress" not in received.message


def test_line_breaks_in_customer_input_cannot_add_headers(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    outbox.reply(
        subject="Hola\r\nBcc: victim@evil.example\r\nX-Injected: 1",
        reply_to="María\r\nBcc: victim@evil.example <maria@example.com>",
    )
    assert send_pending(sessions, smtp, settings).sent == 1
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["maria@example.com"]
    assert "Bcc" not in received.message and "X-Injected" not in received.message
    assert [a.addr_spec for a in received.message["To"].addresses] == ["maria@example.com"]
    assert received.message["To"].addresses[0].display_name == "María Bcc: victim@evil.example"
    assert received.message["Subject"] == "Re: Hola Bcc: victim@evil.example X-Injected: 1"


def test_build_email_flattens_values_stored_with_line_breaks() -> None:
    reply = OutboundReply(
        header_message_id="<eteam.1@ladwp.example>",
        to_addr="Eve\nCc: a@b.example <eve@example.com>",
        subject="x\r\nBcc: victim@evil.example",
        body="hi",
        lang="en\r\nX-Evil: 1",
        in_reply_to="<a@b>\r\nX-Evil: 2",
        references="",
        auto_submitted=True,
    )
    raw = build_email(reply, "contactus@ladwp.example", "LADWP\r\nX-Evil: 3").as_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in headers.split(b"\r\n") if not line.startswith((b" ", b"\t"))]
    assert sorted(names) == sorted([
        b"From", b"To", b"Subject", b"Date", b"Message-ID", b"In-Reply-To", b"Auto-Submitted",
        b"X-Auto-Response-Suppress", b"Content-Language", b"Content-Type", b"Content-Transfer-Encoding",
        b"MIME-Version",
    ])


def test_temporary_failure_backs_off_then_delivers(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    reply = outbox.reply()
    smtp_server.fail_next(2)
    assert send_pending(sessions, smtp, settings) == SendReport(retried=1)
    first = outbox.get(reply)
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.last_error is not None and first.last_error.startswith("451")
    assert first.next_attempt_at is not None

    assert send_pending(sessions, smtp, settings) == SendReport()  # not due yet
    assert send_pending(sessions, smtp, settings, now=later(minutes=1, seconds=5)) == SendReport(retried=1)
    second = outbox.get(reply)
    assert second.attempts == 2 and second.next_attempt_at is not None and first.next_attempt_at is not None
    assert second.next_attempt_at - first.next_attempt_at > timedelta(minutes=1)  # doubled

    assert send_pending(sessions, smtp, settings, now=later(minutes=10)) == SendReport(sent=1)
    assert outbox.get(reply).attempts == 3
    assert smtp_server.message_id_counts() == {reply.header_message_id: 1}


def test_permanent_failure_is_final(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.reject("gone@example.com")
    bad = outbox.reply(from_addr="gone@example.com")
    good = outbox.reply()
    assert send_pending(sessions, smtp, settings) == SendReport(sent=1, failed=1)
    failed = outbox.get(bad)
    assert failed.status == "failed"
    assert failed.reason is not None and failed.reason.startswith("550")
    assert outbox.get(good).status == "sent"
    assert send_pending(sessions, smtp, settings, now=later(days=1)) == SendReport()


def test_unreachable_relay_is_temporary_and_ends_the_run(
    outbox: Outbox, sessions: sessionmaker[Session], settings: Settings, unreachable_smtp_url: str
) -> None:
    first, second = outbox.reply(), outbox.reply()
    nowhere = SmtpSettings.from_url(unreachable_smtp_url, timeout=SMTP_TIMEOUT)
    report = send_pending(sessions, nowhere, settings)
    assert (report.sent, report.retried) == (0, 1)
    assert report.relay_error is not None and "Refused" in report.relay_error
    tried = outbox.get(first)
    assert tried.status == "queued" and tried.attempts == 1
    assert tried.last_error is not None and "Refused" in tried.last_error
    assert outbox.get(second).attempts == 0


def test_suppressed_reply_is_written_to_the_case(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    reply = outbox.reply(from_addr="noreply@bank.example", with_case=True)
    assert send_pending(sessions, smtp, settings) == SendReport(suppressed=1)
    assert smtp_server.messages == []
    row = outbox.get(reply)
    assert row.status == "suppressed" and row.reason == "recipient is a role address"
    with sessions() as session:
        notes = session.scalars(
            select(ThreadEntry).where(
                ThreadEntry.service_request_id == row.service_request_id, ThreadEntry.entry_type == "private_note"
            )
        ).all()
        expected = f"Reply {reply.header_message_id} not sent: recipient is a role address"
        assert [note.body for note in notes] == [expected]
        request = session.get(ServiceRequest, row.service_request_id)
        assert request is not None and request.status == "Unresolved"


def test_fourth_automatic_reply_within_the_hour_is_suppressed(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    replies = [outbox.reply() for _ in range(4)]
    assert send_pending(sessions, smtp, settings) == SendReport(sent=3, suppressed=1)
    assert [outbox.get(r).status for r in replies] == ["sent", "sent", "sent", "suppressed"]
    assert outbox.get(replies[3]).reason == "rate limit: 3 automatic replies to this address in the last hour"
    assert len(smtp_server.messages) == 3


def test_row_abandoned_before_delivery_is_sent_once_after_its_lease(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    reply = outbox.reply()
    lease = timedelta(seconds=SMTP_TIMEOUT * LEASE_TIMEOUTS)
    with sessions.begin() as session:  # a sender claimed it and died before reaching the relay
        row = session.get(OutboundReply, reply.id)
        assert row is not None
        row.status, row.attempts, row.next_attempt_at = "sending", 1, datetime.now(timezone.utc) + lease
    assert send_pending(sessions, smtp, settings) == SendReport()  # its lease still runs
    assert outbox.get(reply).status == "sending"
    assert send_pending(sessions, smtp, settings, now=later(seconds=lease.total_seconds() + 5)) == SendReport(sent=1)
    assert outbox.get(reply).attempts == 2
    assert smtp_server.message_id_counts() == {reply.header_message_id: 1}


def test_concurrent_senders_deliver_each_row_once(
    outbox: Outbox, sessions: sessionmaker[Session], smtp: SmtpSettings, settings: Settings,
    smtp_server: SmtpTestServer,
) -> None:
    replies = [outbox.reply(from_addr=f"customer{n}@example.com") for n in range(12)]
    start = threading.Barrier(4)
    reports: list[SendReport] = []

    def sender() -> None:
        start.wait()
        reports.append(send_pending(sessions, smtp, settings))

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(report.sent for report in reports) == 12
    assert smtp_server.message_id_counts() == {r.header_message_id: 1 for r in replies}


def test_journal_compaction_keeps_only_rows_still_sending(tmp_path: Path) -> None:
    journal = DeliveryJournal(tmp_path)
    at = datetime(2026, 11, 24, 18, 0, tzinfo=timezone.utc)
    for n in range(3):
        journal.record_accepted(f"<eteam.{n}@ladwp.example>", at)
    with open(journal.path, "a", encoding="utf-8") as torn:
        torn.write("accepted 2026-11-24T18:00:00+00:00 <eteam.torn@")  # killed mid-write
    assert journal.accepted() == {f"<eteam.{n}@ladwp.example>": at for n in range(3)}
    journal.compact(lambda: ["<eteam.1@ladwp.example>"], min_bytes=0)
    assert journal.accepted() == {"<eteam.1@ladwp.example>": at}


HARNESS = """
import typer
from eteam.send_command import send
from eteam.settings import load_settings

app = typer.Typer()


@app.callback()
def main(ctx: typer.Context) -> None:
    ctx.obj = load_settings()


app.command()(send)
app()
"""


def run_sender(settings: Settings, smtp_server: SmtpTestServer, *, crash: bool) -> subprocess.CompletedProcess[str]:
    """`eteam send --json` in its own process, configured from the environment like a user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETEAM_")}
    env |= {
        "ETEAM_DATABASE_URL": settings.database_url,
        "ETEAM_VAR_DIR": str(settings.var_dir),
        "ETEAM_SMTP_URL": smtp_server.url,
        "PYTHONPATH": str(REPO),
    }
    if crash:
        env["ETEAM_TEST_CRASH_AFTER_SEND"] = "1"
    command = [sys.executable, "-c", HARNESS, "send", "--json"]
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_killed_between_send_and_commit_delivers_each_message_exactly_once(
    outbox: Outbox, sessions: sessionmaker[Session], settings: Settings, smtp_server: SmtpTestServer
) -> None:
    replies = [outbox.reply(from_addr=f"customer{n}@example.com") for n in range(3)]
    for crashes in range(1, 4):  # each run finishes the previous crash, sends one more, is killed
        killed = run_sender(settings, smtp_server, crash=True)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert len(smtp_server.messages) == crashes
        with sessions() as session:
            assert session.scalar(select(func.count()).where(OutboundReply.status == "sending")) == 1

    restart = run_sender(settings, smtp_server, crash=False)
    assert restart.returncode == 0, restart.stderr
    assert json.loads(restart.stdout) == {"sent": 1, "failed": 0, "retried": 0, "suppressed": 0, "relay_error": None}
    assert smtp_server.message_id_counts() == {r.header_message_id: 1 for r in replies}
    assert [outbox.get(r).status for r in replies] == ["sent"] * 3
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Event.kind == "replied")) == 3


def test_send_command_needs_the_relay(settings: Settings, smtp_server: SmtpTestServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETEAM_")}
    env |= {"ETEAM_DATABASE_URL": settings.database_url, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", HARNESS, "send"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "ETEAM_SMTP_URL is not set" in result.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", SmtpSettings("127.0.0.1", 2525, "none")),
        ("smtps://eteam%40ladwp@mail.example", SmtpSettings("mail.example", 465, "implicit", "eteam@ladwp", "pw")),
        ("smtp+starttls://eteam@mail.example:2587", SmtpSettings("mail.example", 2587, "starttls", "eteam", "pw")),
    ],
)
def test_smtp_settings_from_url(url: str, expected: SmtpSettings) -> None:
    password = "pw" if expected.user else None
    assert SmtpSettings.from_url(url, password) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example", "must start with"),
        ("smtps://eteam:secret@mail.example", "must not contain a password"),
        ("smtp://eteam@mail.example", "unencrypted"),
        ("smtp://:25", "no host"),
    ],
)
def test_smtp_settings_refuse_bad_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SmtpSettings.from_url(url, "pw")
