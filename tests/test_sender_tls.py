"""The sender over TLS against a real aiosmtpd relay: smtps:// and smtp+starttls:// with a login.

The relay's certificate comes from a private CA made for the test; the sender trusts it
through ETEAM_SMTP_CA_FILE (`SmtpSettings.ca_file`), and without it refuses the relay before
sending the password, keeps the reply queued, and says which setting to use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from eteam.cli import app
from eteam.settings import Settings
from respond.sender import send_pending
from respond.smtp import SmtpSettings
from tests.smtp_server import PASSWORD, USER, SmtpTestServer, running_smtp_server
from tests.test_sender import SMTP_TIMEOUT, Outbox, outbox, sessions  # noqa: F401 - fixtures
from tests.tls import TestCertificates, make_test_certificates

SCHEMES = {"implicit": "smtps", "starttls": "smtp+starttls"}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    """One test CA and relay certificate for the module."""
    return make_test_certificates(tmp_path_factory.mktemp("smtp") / "tls")


@pytest.fixture(params=["implicit", "starttls"])
def relay(request: pytest.FixtureRequest, certificates: TestCertificates) -> Iterator[SmtpTestServer]:
    """A relay speaking implicit TLS or STARTTLS, requiring a login."""
    with running_smtp_server(request.param, certificates) as server:
        yield server


def send_command(settings: Settings, args: list[str], environment: dict[str, str]) -> Result:
    """`eteam send …` in-process, configured by the environment alone, as an operator runs it."""
    variables: dict[str, str | None] = {
        "ETEAM_CONFIG": None,
        "ETEAM_SMTP_CA_FILE": None,
        "ETEAM_DATABASE_URL": settings.database_url,
        "ETEAM_VAR_DIR": str(settings.var_dir),
    }
    return CliRunner().invoke(app, args, env={**variables, **environment}, catch_exceptions=False)


def relay_url(relay: SmtpTestServer) -> str:
    """ETEAM_SMTP_URL for the relay, with the user it accepts."""
    return f"{SCHEMES[relay.tls]}://{USER}@{relay.host}:{relay.port}"


def test_reply_goes_out_over_tls_with_a_login(
    outbox: Outbox,  # noqa: F811
    sessions: sessionmaker[Session],  # noqa: F811
    settings: Settings,
    relay: SmtpTestServer,
    certificates: TestCertificates,
) -> None:
    reply = outbox.reply()
    smtp = SmtpSettings.from_url(relay_url(relay), PASSWORD, timeout=SMTP_TIMEOUT, ca_file=certificates.ca_file)
    report = send_pending(sessions, smtp, settings)
    assert (report.sent, report.relay_error) == (1, None)
    assert relay.handler.logins == [USER]
    assert [str(item.message["Message-ID"]) for item in relay.messages] == [reply.header_message_id]


def test_untrusted_relay_is_refused_before_the_login_and_the_reply_waits(
    outbox: Outbox,  # noqa: F811
    sessions: sessionmaker[Session],  # noqa: F811
    settings: Settings,
    relay: SmtpTestServer,
) -> None:
    reply = outbox.reply()
    smtp = SmtpSettings.from_url(relay_url(relay), PASSWORD, timeout=SMTP_TIMEOUT)
    report = send_pending(sessions, smtp, settings)
    assert (report.sent, report.retried) == (0, 1)
    assert report.relay_error is not None
    assert "not trusted" in report.relay_error and "ETEAM_SMTP_CA_FILE" in report.relay_error
    assert relay.handler.logins == [] and relay.messages == []
    waiting = outbox.get(reply)
    assert waiting.status == "queued" and "ETEAM_SMTP_CA_FILE" in (waiting.last_error or "")


def test_send_command_reads_the_ca_file_and_says_why_the_relay_is_unavailable(
    outbox: Outbox,  # noqa: F811
    settings: Settings,
    certificates: TestCertificates,
    tmp_path: Path,
) -> None:
    outbox.reply()
    with running_smtp_server("starttls", certificates) as relay:
        url = f"smtp+starttls://{USER}@{relay.host}:{relay.port}"
        environment = {"ETEAM_SMTP_URL": url, "ETEAM_SMTP_PASSWORD": PASSWORD}
        not_pem = tmp_path / "ca.pem"
        not_pem.write_text("not a certificate\n", encoding="utf-8")
        unreadable = send_command(settings, ["send"], {**environment, "ETEAM_SMTP_CA_FILE": str(not_pem)})
        assert unreadable.exit_code == 1 and "ETEAM_SMTP_CA_FILE" in unreadable.output
        trusted = send_command(
            settings, ["send", "--json"], {**environment, "ETEAM_SMTP_CA_FILE": str(certificates.ca_file)}
        )
        assert trusted.exit_code == 0, trusted.output
        assert json.loads(trusted.stdout) == {"sent": 1, "failed": 0, "retried": 0, "suppressed": 0, "relay_error": None}
        outbox.reply()
        refused = send_command(settings, ["send"], environment)
        assert refused.exit_code == 0
        assert "to retry 1" in refused.output
        assert "relay unavailable" in refused.output and "ETEAM_SMTP_CA_FILE" in refused.output
        assert len(relay.messages) == 1
