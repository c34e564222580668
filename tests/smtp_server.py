"""A real SMTP server for the sender tests: aiosmtpd on 127.0.0.1 at a free port.

A mocked smtplib would prove nothing about the bytes on the wire, the envelope, or what a
4xx/5xx reply does to the sender; a real server in a thread does. It records every message
it accepted (parsed, with its envelope), so tests can assert "each Message-ID exactly once",
and can be told to answer 451 to the next N deliveries or 550 to chosen recipients.

`tests/conftest.py` loads it as a plugin, so every test can ask for `smtp_server`.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from respond.smtp import TlsMode
from tests.tls import TestCertificates

#: the login a TLS test server accepts
USER = "eteam"
PASSWORD = "relay-secret"


@dataclass
class Received:
    """One accepted message: the envelope as the client gave it and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


@dataclass
class RecordingHandler:
    """aiosmtpd handler: accept and record, or fail as the test configured."""

    fail_next: int = 0
    reject: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        """aiosmtpd authenticator: USER with PASSWORD only; every accepted login is recorded."""
        accepted = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if accepted:
            with self.lock:
                self.logins.append(USER)
        return AuthResult(success=accepted)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """550 for addresses in `reject`, else accept the recipient."""
        if address.lower() in self.reject:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """451 while `fail_next` lasts, else parse and record the message."""
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return "451 4.3.0 Temporary failure, try again later"
            raw = bytes(envelope.original_content or b"")
            message = BytesParser(policy=policy.default).parsebytes(raw)
            assert isinstance(message, EmailMessage)
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw, message))
        return "250 2.0.0 Message accepted"


class SmtpTestServer:
    """The running server and what it has received."""

    def __init__(self, handler: RecordingHandler, port: int, tls: TlsMode = "none") -> None:
        self.handler = handler
        self.host = "127.0.0.1"
        self.port = port
        self.tls = tls

    @property
    def url(self) -> str:
        """The ETEAM_SMTP_URL that points the sender here."""
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[Received]:
        """Every accepted message, in arrival order."""
        with self.handler.lock:
            return list(self.handler.received)

    def message_id_counts(self) -> Counter[str]:
        """How many times each Message-ID arrived: the exactly-once assertion reads this."""
        return Counter(str(item.message["Message-ID"]) for item in self.messages)

    def fail_next(self, count: int) -> None:
        """Answer 451 to the next `count` deliveries."""
        with self.handler.lock:
            self.handler.fail_next = count

    def reject(self, address: str) -> None:
        """Answer 550 to RCPT TO for this address."""
        self.handler.reject.add(address.lower())


def _free_port() -> int:
    """A TCP port nobody listens on right now (aiosmtpd cannot be started on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_smtp_server(tls: TlsMode = "none", certificates: TestCertificates | None = None) -> Iterator[SmtpTestServer]:
    """A recording server; with TLS (implicit, or STARTTLS required before anything else) it
    presents the test CA's certificate and accepts `LOGIN`/`PLAIN` as USER / PASSWORD only."""
    handler = RecordingHandler()
    port = _free_port()
    options: dict[str, object] = {}
    if tls != "none":
        assert certificates is not None, "a TLS server needs certificates"
        options = {"authenticator": handler.authenticate, "auth_require_tls": tls == "starttls"}
        if tls == "implicit":
            options["ssl_context"] = certificates.server_context()
        else:
            options.update(tls_context=certificates.server_context(), require_starttls=True)
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10, **options)
    controller.start()
    try:
        yield SmtpTestServer(handler, port, tls)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    """A recording SMTP server for one test."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def unreachable_smtp_url() -> str:
    """An SMTP URL where nothing listens: the relay-down case, connection refused."""
    return f"smtp://127.0.0.1:{_free_port()}"
