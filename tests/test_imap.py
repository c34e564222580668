"""IMAP ingest against a real Dovecot: stored once, moved or flagged only after the commit,
UIDVALIDITY changes, unfetchable messages, IDLE watching, and the `eteam ingest` command."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from eteam.cli import main
from eteam.ingest_command import ingest
from eteam.settings import MailboxSettings, Settings
from ingest import imap
from ingest.imap import connect, ingest_folder, ingest_once, mailbox_from_url, watch
from models import Event, FolderState, Message
from models.db import make_engine, make_session_factory, upgrade
from tests.dovecot import DovecotServer, dovecot  # noqa: F401 - the fixture

SEEN = b"\\Seen"


def customer_mail(index: int, *, spanish: bool = False) -> bytes:
    """A small plain customer email, in English or Spanish."""
    if spanish:
        subject, body = "Corte de luz en mi casa", "No tengo luz desde anoche en 4521 Cesar Chavez Ave 90022."
    else:
        subject, body = "High bill this month", "My bill doubled this month for account 3301847725, please check it."
    return (
        f"From: Customer {index} <customer{index}@mail.example>\r\n"
        f"To: contactus@ladwp.example\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Mon, 23 Nov 2026 09:{index % 60:02d}:00 -0800\r\n"
        f"Message-ID: <customer-{index}@mail.example>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def web_form(index: int) -> bytes:
    """A Contact Us form submission as the form mailer sends it."""
    return (
        "From: \"LADWP Web Forms\" <webforms@ladwp.example>\r\n"
        f"Reply-To: form{index}@mail.example\r\n"
        "To: contactus@ladwp.example\r\n"
        "Subject: Contact Us: Start Service\r\n"
        f"Message-ID: <wf-{index}@webforms.ladwp.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"First Name: Ana\r\nLast Name: Reyes\r\nEmail: form{index}@mail.example\r\n"
        "Service Address: 1150 N Broadway\r\nZIP: 90012\r\nTopic: Start Service\r\n"
        "Message:\r\nPlease start service at my new apartment on December 1st.\r\n"
    ).encode()


def sample_messages(count: int) -> list[bytes]:
    """A mix of English mail, Spanish mail and web forms, each with its own Message-ID."""
    makers: list[Callable[[int], bytes]] = [customer_mail, lambda i: customer_mail(i, spanish=True), web_form]
    return [makers[index % 3](index) for index in range(count)]


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated SQLite database in the test's temp folder."""
    url = f"sqlite:///{tmp_path / 'eteam.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def mailbox(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> MailboxSettings:  # noqa: F811
    """The test server's INBOX as a configured mailbox, password in the default variable."""
    monkeypatch.setenv("ETEAM_IMAP_PASSWORD", dovecot.password)
    return MailboxSettings(name="test", host=dovecot.host, port=dovecot.port, tls="none", user=dovecot.user)


def stored_ids(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Message.message_id)))


def run_once(mailbox: MailboxSettings, sessions: sessionmaker[Session]) -> imap.IngestReport:
    return ingest_once(Settings(), sessions, [mailbox])


def test_stored_once_then_moved_and_a_second_run_fetches_nothing(
    dovecot: DovecotServer, mailbox: MailboxSettings, sessions: sessionmaker[Session]  # noqa: F811
) -> None:
    dovecot.append(sample_messages(9))
    progress: list[int] = []
    report = ingest_once(Settings(), sessions, [mailbox], progress=progress.append)
    assert sum(progress) == 9
    assert (report.fetched, report.stored, report.duplicates, report.moved, report.quarantined) == (9, 9, 0, 9, 0)
    assert len(set(stored_ids(sessions))) == 9
    assert dovecot.message_ids("INBOX") == []
    assert len(dovecot.message_ids("Processed")) == 9
    with sessions() as session:
        sources = list(session.scalars(select(Message.source)))
        state = session.scalar(select(FolderState))
    assert all(source.startswith("imap:test/INBOX/") for source in sources)
    assert state is not None and state.last_uid == 9

    again = run_once(mailbox, sessions)
    assert (again.fetched, again.stored, again.moved) == (0, 0, 0)


def test_already_stored_messages_are_moved_as_duplicates(
    dovecot: DovecotServer, mailbox: MailboxSettings, sessions: sessionmaker[Session]  # noqa: F811
) -> None:
    dovecot.append(sample_messages(4))
    run_once(mailbox, sessions)
    dovecot.append(sample_messages(6))  # the first four again, and two new ones
    report = run_once(mailbox, sessions)
    assert (report.fetched, report.stored, report.duplicates, report.moved) == (6, 2, 4, 6)
    assert len(stored_ids(sessions)) == 6
    assert dovecot.message_ids("INBOX") == []


def test_flag_mode_flags_seen_instead_of_moving(
    dovecot: DovecotServer, mailbox: MailboxSettings, sessions: sessionmaker[Session]  # noqa: F811
) -> None:
    flagging = mailbox.model_copy(update={"after_store": "flag"})
    dovecot.append(sample_messages(5))
    report = run_once(flagging, sessions)
    assert (report.stored, report.moved) == (5, 5)
    with dovecot.client() as client:
        assert not client.folder_exists("Processed")
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search())
    assert len(flags) == 5 and all(SEEN in message_flags for message_flags in flags.values())
    assert run_once(flagging, sessions).fetched == 0


def test_uidvalidity_change_rescans_without_duplicates(
    dovecot: DovecotServer, mailbox: MailboxSettings, sessions: sessionmaker[Session]  # noqa: F811
) -> None:
    flagging = mailbox.model_copy(update={"after_store": "flag"})
    dovecot.append(sample_messages(5))
    run_once(flagging, sessions)
    with dovecot.client() as client:  # a restored mailbox: same mail, unread again, new UIDVALIDITY
        client.select_folder("INBOX")
        client.remove_flags(client.search(), [SEEN])
    dovecot.doveadm("mailbox", "update", "-u", dovecot.user, "--uid-validity", "4242", "INBOX")

    report = run_once(flagging, sessions)
    assert (report.fetched, report.stored, report.duplicates) == (5, 0, 5)
    assert len(stored_ids(sessions)) == 5
    with sessions() as session:
        state = session.scalar(select(FolderState))
        sources = set(session.scalars(select(Message.source)))
    assert state is not None and (state.uidvalidity, state.last_uid) == (4242, 5)
    assert not any("/4242/" in source for source in sources)  # stored once, under the first UIDVALIDITY


def test_crash_between_commit_and_move_is_finished_by_the_next_run(
    dovecot: DovecotServer,  # noqa: F811
    mailbox: MailboxSettings,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot.append(sample_messages(7))

    def crash(*_args: Any) -> None:
        raise ConnectionResetError("server went away before MOVE")

    with monkeypatch.context() as patch:
        patch.setattr(imap._Mover, "move", crash)
        with pytest.raises(ConnectionResetError):
            run_once(mailbox, sessions)
    assert len(stored_ids(sessions)) == 7  # committed, cursor past them ...
    assert len(dovecot.message_ids("INBOX")) == 7  # ... but still in the mailbox

    report = run_once(mailbox, sessions)
    assert (report.fetched, report.stored, report.duplicates, report.moved) == (7, 0, 7, 7)
    assert dovecot.message_ids("INBOX") == []
    assert len(dovecot.message_ids("Processed")) == 7


def test_crash_before_commit_moves_nothing(
    dovecot: DovecotServer,  # noqa: F811
    mailbox: MailboxSettings,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot.append(sample_messages(3))

    def failing_store(*_args: Any) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(imap, "store_batch", failing_store)
        with pytest.raises(RuntimeError):
            run_once(mailbox, sessions)
    assert stored_ids(sessions) == []
    assert len(dovecot.message_ids("INBOX")) == 3
    assert run_once(mailbox, sessions).stored == 3


def test_unfetchable_messages_go_to_failed_and_the_rest_is_stored(
    dovecot: DovecotServer, mailbox: MailboxSettings, sessions: sessionmaker[Session]  # noqa: F811
) -> None:
    """A server answering without a body, or refusing a batch with NO, quarantines only the bad ones."""
    dovecot.append(sample_messages(6))
    client = connect(mailbox)
    real_fetch = client.fetch

    def flaky_fetch(uids: list[int], data: list[str]) -> dict[int, dict[bytes, Any]]:
        if 5 in uids and len(uids) > 1:
            raise IMAPClientError("FETCH failed: some messages could not be fetched")
        if 5 in uids:
            raise IMAPClientError("message 5 is corrupt")
        response: dict[int, dict[bytes, Any]] = real_fetch(uids, data)
        response.get(2, {}).pop(b"BODY[]", None)
        return response

    client.fetch = flaky_fetch
    try:
        report = ingest_folder(client, mailbox, "INBOX", sessions)
    finally:
        imap.close(client)
    assert (report.fetched, report.stored, report.quarantined, report.moved) == (4, 4, 2, 4)
    assert len(dovecot.message_ids("Failed")) == 2
    assert len(dovecot.message_ids("Processed")) == 4
    assert dovecot.message_ids("INBOX") == []
    with sessions() as session:
        events = session.scalars(select(Event).where(Event.kind == "fetch_failed"))
        failed = {event.data["uid"]: event.data for event in events}
    assert sorted(failed) == [2, 5]
    assert failed[5]["reason"] == "FETCH failed: message 5 is corrupt"
    assert failed[2]["reason"] == "FETCH returned no body"
    assert {(d["mailbox"], d["folder"], d["moved_to"]) for d in failed.values()} == {("test", "INBOX", "Failed")}


def test_copy_and_expunge_without_move_capability(
    dovecot: DovecotServer, mailbox: MailboxSettings, sessions: sessionmaker[Session]  # noqa: F811
) -> None:
    dovecot.append(sample_messages(3))
    client = connect(mailbox)
    real_has_capability = client.has_capability
    client.has_capability = lambda name: name != "MOVE" and real_has_capability(name)
    try:
        report = ingest_folder(client, mailbox, "INBOX", sessions, batch_size=2)
    finally:
        imap.close(client)
    assert (report.stored, report.moved) == (3, 3)
    assert dovecot.message_ids("INBOX") == []
    assert len(dovecot.message_ids("Processed")) == 3


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_watch_ingests_on_idle_wakeup_survives_a_dropped_connection_and_stops(
    dovecot: DovecotServer, mailbox: MailboxSettings, sessions: sessionmaker[Session]  # noqa: F811
) -> None:
    stop = threading.Event()
    batches: list[int] = []
    thread = threading.Thread(
        target=watch,
        args=(Settings(), sessions, lambda: batches.append(len(stored_ids(sessions))), stop),
        kwargs={"mailboxes": [mailbox]},
    )
    thread.start()
    try:
        assert wait_until(lambda: len(batches) >= 1, 5)  # the first pass processes what is pending
        started = time.monotonic()
        dovecot.append(sample_messages(2))
        assert wait_until(lambda: len(stored_ids(sessions)) == 2, 5)
        assert time.monotonic() - started < 2, "IDLE should wake the watcher at once"
        assert wait_until(lambda: batches[-1] == 2, 5)

        dovecot.doveadm("kick", dovecot.user)  # the server drops the connection
        dovecot.append([customer_mail(100)])
        assert wait_until(lambda: len(stored_ids(sessions)) == 3, 10)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive(), "watch() must return soon after the stop event is set"
    assert dovecot.message_ids("INBOX") == []


def test_watch_polls_when_the_server_has_no_idle(
    dovecot: DovecotServer,  # noqa: F811
    mailbox: MailboxSettings,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def connect_without_idle(settings: MailboxSettings) -> IMAPClient:
        client = connect(settings)
        real_has_capability = client.has_capability
        client.has_capability = lambda name: name != "IDLE" and real_has_capability(name)
        return client

    monkeypatch.setattr(imap, "connect", connect_without_idle)
    stop = threading.Event()
    thread = threading.Thread(
        target=watch, args=(Settings(), sessions, lambda: None, stop), kwargs={"poll_seconds": 0.2, "mailboxes": [mailbox]}
    )
    thread.start()
    try:
        dovecot.append(sample_messages(3))
        assert wait_until(lambda: len(stored_ids(sessions)) == 3, 5)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_mailbox_from_url() -> None:
    secure = mailbox_from_url("imaps://contact%40ladwp.example@mail.ladwp.example/Contact%20Us", "outage")
    assert (secure.tls, secure.port, secure.user, secure.folders, secure.kind) == (
        "implicit", 993, "contact@ladwp.example", ["Contact Us"], "outage"
    )
    remote = mailbox_from_url("imap://eteam@mail.ladwp.example", "contact")
    assert (remote.tls, remote.port, remote.folders, remote.password_env) == (
        "starttls", 143, ["INBOX"], "ETEAM_IMAP_PASSWORD"
    )
    assert mailbox_from_url("imap://eteam@127.0.0.1:1143/INBOX", "contact").tls == "none"
    with pytest.raises(ValueError, match="ETEAM_IMAP_PASSWORD"):
        mailbox_from_url("imap://eteam:secret@127.0.0.1/INBOX", "contact")
    with pytest.raises(ValueError, match="imap://"):
        mailbox_from_url("pop3://eteam@127.0.0.1/INBOX", "contact")


# The command, run through a Typer app with the real settings callback (cli.py registers it the same way).


@pytest.fixture
def command_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trained_model_path: Path
) -> Callable[..., Result]:
    """Runs `eteam ingest …` with settings from the environment, like a user would."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.delenv("ETEAM_CONFIG", raising=False)
    monkeypatch.delenv("ETEAM_IMAP_PASSWORD", raising=False)
    monkeypatch.setenv("ETEAM_DATABASE_URL", url)
    monkeypatch.setenv("ETEAM_MODEL_PATH", str(trained_model_path))
    monkeypatch.setenv("ETEAM_VAR_DIR", str(tmp_path / "var"))
    app = typer.Typer()
    app.callback()(main)
    app.command()(ingest)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["ingest", *args], catch_exceptions=False)

    return run


def test_ingest_once_json_with_configured_mailbox(
    dovecot: DovecotServer,  # noqa: F811
    command_env: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config = tmp_path / "eteam.toml"
    config.write_text(
        f'[[mailboxes]]\nname = "contact"\nhost = "127.0.0.1"\nport = {dovecot.port}\n'
        f'tls = "none"\nuser = "{dovecot.user}"\npassword_env = "CONTACT_PASSWORD"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("ETEAM_CONFIG", str(config))
    monkeypatch.setenv("CONTACT_PASSWORD", dovecot.password)
    dovecot.append(sample_messages(6))
    result = command_env("--once", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"fetched", "stored", "duplicates", "quarantined", "moved", "seconds"} <= set(report)
    assert (report["fetched"], report["stored"], report["moved"], report["processed"]) == (6, 6, 6, 6)


def test_ingest_url_with_password_from_environment(
    dovecot: DovecotServer, command_env: Callable[..., Result], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("ETEAM_IMAP_PASSWORD", dovecot.password)
    dovecot.append(sample_messages(3))
    result = command_env("--once", "--url", f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}/INBOX")
    assert result.exit_code == 0, result.output
    assert "Fetched 3: 3 stored" in result.stdout
    again = command_env("--once", "--json", "--url", f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}/INBOX")
    assert json.loads(again.stdout)["fetched"] == 0


def test_missing_password_names_the_variable(
    dovecot: DovecotServer, command_env: Callable[..., Result]  # noqa: F811
) -> None:
    result = command_env("--once", "--url", f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}/INBOX")
    assert result.exit_code == 1
    assert "ETEAM_IMAP_PASSWORD" in result.output
    assert "Traceback" not in result.output


def test_no_mailboxes_says_how_to_configure_one(command_env: Callable[..., Result]) -> None:
    result = command_env("--once")
    assert result.exit_code == 1
    assert "[[mailboxes]]" in result.output and "--url" in result.output


def test_wrong_password_is_a_clear_error(
    dovecot: DovecotServer, command_env: Callable[..., Result], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("ETEAM_IMAP_PASSWORD", "wrong")
    result = command_env("--once", "--url", f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}/INBOX")
    assert result.exit_code == 1
    assert "IMAP" in result.output and "Traceback" not in result.output


def test_help_has_an_example(command_env: Callable[..., Result]) -> None:
    result = command_env("--help")
    assert result.exit_code == 0
    assert "Example: eteam ingest --once --json" in result.output
