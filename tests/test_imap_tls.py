"""IMAP over TLS against a real Dovecot: implicit TLS and STARTTLS, certificates verified.

The server's certificate comes from a private CA made for the test, as with a utility's own
mail server: trusted through the mailbox's `ca_file` (or `--ca-file`), refused without it
with a message that says what to set, and nothing fetched or moved on a refused connection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import Result

from eteam.settings import MailboxSettings, Settings
from eteam.tls import UntrustedServerError
from ingest.imap import connect, ingest_once
from tests.dovecot import DovecotServer, dovecot_tls  # noqa: F401 - the fixture
from tests.test_imap import command_env, sample_messages, sessions, stored_ids  # noqa: F401 - fixtures


def tls_mailbox(server: DovecotServer, tls: str, *, trusted: bool = True) -> MailboxSettings:
    """The TLS server's INBOX in one TLS mode, trusting its CA or not."""
    return MailboxSettings(
        name=f"tls-{tls}",
        host=server.host,
        port=server.tls_port if tls == "implicit" else server.port,
        tls=tls,
        user=server.user,
        ca_file=server.ca_file if trusted else None,
    )


@pytest.fixture
def server(dovecot_tls: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> DovecotServer:  # noqa: F811
    """The TLS Dovecot, its password in the default variable."""
    monkeypatch.setenv("ETEAM_IMAP_PASSWORD", dovecot_tls.password)
    return dovecot_tls


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_mailbox_with_its_ca_is_read_stored_and_moved(
    server: DovecotServer, sessions: sessionmaker[Session], tls: str  # noqa: F811
) -> None:
    server.append(sample_messages(5))
    report = ingest_once(Settings(), sessions, [tls_mailbox(server, tls)])
    assert (report.fetched, report.stored, report.moved) == (5, 5, 5)
    assert len(stored_ids(sessions)) == 5
    assert server.message_ids("INBOX") == []
    assert len(server.message_ids("Processed")) == 5


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_untrusted_certificate_says_to_set_ca_file_and_touches_nothing(
    server: DovecotServer, sessions: sessionmaker[Session], tls: str  # noqa: F811
) -> None:
    server.append(sample_messages(2))
    logins_before = server.logins()
    with pytest.raises(UntrustedServerError) as refused:
        ingest_once(Settings(), sessions, [tls_mailbox(server, tls, trusted=False)])
    message = str(refused.value)
    assert "not trusted" in message and "ca_file" in message and f"tls-{tls}" in message
    assert server.logins() == logins_before  # the password was never sent
    assert stored_ids(sessions) == []
    assert len(server.message_ids("INBOX")) == 2


def test_certificate_for_another_host_name_is_refused(server: DovecotServer) -> None:
    """The CA is trusted, but the certificate names 127.0.0.1, not localhost: still refused."""
    mailbox = tls_mailbox(server, "implicit").model_copy(update={"host": "localhost"})
    with pytest.raises(UntrustedServerError, match="not trusted"):
        connect(mailbox)


def test_ingest_url_with_ca_file_option(
    server: DovecotServer, command_env: Callable[..., Result], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("ETEAM_IMAP_PASSWORD", server.password)  # command_env starts without one
    server.append(sample_messages(3))
    url = f"imaps://{server.user}@127.0.0.1:{server.tls_port}/INBOX"
    refused = command_env("--once", "--url", url)
    assert refused.exit_code == 1
    assert "--ca-file" in refused.output and "Traceback" not in refused.output
    result = command_env("--once", "--json", "--url", url, "--ca-file", str(server.ca_file))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stored"] == 3


def test_unreadable_ca_file_is_reported_before_connecting(
    command_env: Callable[..., Result],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ETEAM_IMAP_PASSWORD", "secret")
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n", encoding="utf-8")
    for ca_file in (not_pem, tmp_path / "missing.pem"):
        result = command_env("--once", "--url", "imaps://eteam@127.0.0.1:1/INBOX", "--ca-file", str(ca_file))
        assert result.exit_code == 1
        assert "ca_file" in result.output and str(ca_file.name) in result.output


def test_ca_file_without_url_points_to_the_config(command_env: Callable[..., Result], tmp_path: Path) -> None:  # noqa: F811
    result = command_env("--once", "--ca-file", str(tmp_path / "ca.pem"))
    assert result.exit_code == 1
    assert "--url" in result.output and "config" in result.output
