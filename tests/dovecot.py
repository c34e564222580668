"""A real, throwaway Dovecot IMAP server for the IMAP tests and the ingest benchmark.

Mocked IMAP would prove nothing about the parts that break in production: UIDVALIDITY,
MOVE, IDLE, literal handling, a server that goes away. So the tests start Dovecot itself on
127.0.0.1 with a private config, passwd-file user and Maildir in a temp folder, and nothing
system-wide is touched. Mail processes run as an unprivileged user (`nobody` when the tests
run as root, else the current user), which Dovecot insists on.

Without Dovecot installed the `dovecot` fixture skips with the reason, except under CI=true,
where every server must be present.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import cycle, islice
from pathlib import Path

import pytest
from imapclient import IMAPClient

from eteam.settings import DEMO_MAILBOX
from ingest.sources import iter_maildir
from tests.tls import TestCertificates, make_test_certificates

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
USER = "eteam"
PASSWORD = "secret"
START_TIMEOUT = 15.0
APPEND_CHUNK = 200
_TOP_MESSAGE_ID = re.compile(rb"^Message-ID:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.IGNORECASE | re.MULTILINE)

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
{ssl}
{cleartext}
auth_mechanisms = plain
default_internal_user = {internal_user}
default_login_user = {login_user}
mail_uid = {mail_uid}
mail_gid = {mail_gid}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:{root}/mail/%u
imap_idle_notify_interval = 1 secs
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass
class DovecotServer:
    """A running Dovecot: where to reach it, who to log in as, and helpers to fill and inspect it."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    config: Path
    #: with TLS: the implicit-TLS port (the plain port then offers STARTTLS) and the private CA
    #: that signed the server's certificate for 127.0.0.1
    tls_port: int = 0
    ca_file: Path | None = None

    def client(self) -> IMAPClient:
        """A logged-in plain-text client (loopback only), for setting up and checking tests."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.login(self.user, self.password)
        return client

    def append(self, messages: Iterable[bytes], folder: str = "INBOX") -> int:
        """Add messages with MULTIAPPEND in chunks (one round trip each); returns how many."""
        count = 0
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            iterator = iter(messages)
            while chunk := list(islice(iterator, APPEND_CHUNK)):
                client.multiappend(folder, chunk)
                count += len(chunk)
        return count

    def message_ids(self, folder: str) -> list[bytes]:
        """The Message-ID header lines of every message in a folder (empty when it does not exist)."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = client.search(["NOT", "DELETED"])
            field = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
            fetched = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
            return [data[field] for data in fetched.values()]

    def logins(self) -> int:
        """How many IMAP logins the server has accepted so far (from its log), to time events by."""
        log_path = self.root / "log" / "dovecot.log"
        return log_path.read_text(errors="replace").count(f"Login: user=<{self.user}>") if log_path.exists() else 0

    def doveadm(self, *args: str) -> str:
        """Run a doveadm command against this server (for instance to reset UIDVALIDITY)."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config), *args], check=False, capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {result.stderr or result.stdout}")
        return result.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class _Accounts:
    """Who the Dovecot processes run as: Dovecot refuses to run mail processes as root."""

    internal_user: str
    login_user: str
    mail_uid: int
    mail_gid: int


def _accounts() -> _Accounts:
    """The Debian package's users and `nobody` under root (nothing created); else ourselves throughout."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return _Accounts("dovecot", "dovenull", nobody.pw_uid, nobody.pw_gid)
    me = pwd.getpwuid(os.geteuid())
    return _Accounts(me.pw_name, me.pw_name, me.pw_uid, me.pw_gid)


def _version() -> tuple[int, int]:
    version = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = (int(part) for part in version.split(".")[:2])
    return major, minor


def _cleartext_setting() -> str:
    """Dovecot 2.4 renamed the setting that allows passwords over an unencrypted connection."""
    return "auth_allow_cleartext = yes" if _version() >= (2, 4) else "disable_plaintext_auth = no"


def _ssl_settings(certificates: TestCertificates | None) -> str:
    """TLS off, or on with the test certificate (Dovecot 2.4 renamed the file settings)."""
    if certificates is None:
        return "ssl = no"
    cert, key = certificates.cert_file, certificates.key_file
    if _version() >= (2, 4):
        return f"ssl = yes\nssl_server_cert_file = {cert}\nssl_server_key_file = {key}"
    return f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"


def _wait_for_greeting(port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                if connection.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.02)
    log = log_path.read_text(errors="replace") if log_path.exists() else "(no log)"
    raise RuntimeError(f"Dovecot did not answer on 127.0.0.1:{port} within {START_TIMEOUT} s:\n{log}")


def start_dovecot(*, tls: bool = False) -> DovecotServer:
    """Write a private config and start Dovecot on a free port; `stop_dovecot` undoes it all.

    With `tls`, the server also listens for implicit TLS on a second port and offers STARTTLS on
    the first, with a certificate from a private CA (`DovecotServer.ca_file`).
    """
    root = Path(tempfile.mkdtemp(prefix="eteam-dovecot-"))
    root.chmod(0o755)  # the login and mail users must reach their folders below it
    accounts = _accounts()
    for name in ("run", "state", "log", "mail"):
        (root / name).mkdir()
    os.chown(root / "mail", accounts.mail_uid, accounts.mail_gid)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::\n", encoding="utf-8")
    port = _free_port()
    tls_port = _free_port() if tls else 0
    certificates = make_test_certificates(root / "tls") if tls else None
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            port=port,
            tls_port=tls_port,
            ssl=_ssl_settings(certificates),
            cleartext=_cleartext_setting(),
            **asdict(accounts),
        ),
        encoding="utf-8",
    )
    # The master daemonizes and keeps its inherited output open: send that to a file, not a pipe.
    with (root / "log" / "startup.log").open("wb") as startup_log:
        subprocess.run([DOVECOT, "-c", str(config)], check=True, stdout=startup_log, stderr=startup_log, timeout=30)
    ca_file = certificates.ca_file if certificates else None
    server = DovecotServer("127.0.0.1", port, USER, PASSWORD, root, config, tls_port, ca_file)
    try:
        _wait_for_greeting(port, root / "log" / "dovecot.log")
    except RuntimeError:
        stop_dovecot(server)
        raise
    return server


def stop_dovecot(server: DovecotServer) -> None:
    """Stop the server, wait for its master process to exit, and remove its folder."""
    subprocess.run([DOVEADM, "-c", str(server.config), "stop"], check=False, capture_output=True, timeout=30)
    pid_file = server.root / "run" / "master.pid"
    deadline = time.monotonic() + 10
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    shutil.rmtree(server.root, ignore_errors=True)


@contextmanager
def running_dovecot(*, tls: bool = False) -> Iterator[DovecotServer]:
    """A Dovecot for the duration of a `with` block (the benchmark uses this directly)."""
    server = start_dovecot(tls=tls)
    try:
        yield server
    finally:
        stop_dovecot(server)


def _require_dovecot() -> None:
    if not Path(DOVECOT).exists():
        reason = "dovecot is not installed (apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: required)")
        pytest.skip(reason)


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A fresh, empty Dovecot per test."""
    _require_dovecot()
    with running_dovecot() as server:
        yield server


@pytest.fixture
def dovecot_tls() -> Iterator[DovecotServer]:
    """A fresh, empty Dovecot per test that speaks implicit TLS and STARTTLS (private CA)."""
    _require_dovecot()
    with running_dovecot(tls=True) as server:
        yield server


def with_message_id(raw: bytes, message_id: str) -> bytes:
    """A copy of a message with a new top-level Message-ID (embedded bounce headers keep theirs)."""
    header_end = raw.find(b"\n\n")
    header_end = len(raw) if header_end < 0 else header_end
    head, body = raw[:header_end], raw[header_end:]
    line = f"Message-ID: <{message_id}>".encode()
    new_head, replaced = _TOP_MESSAGE_ID.subn(line, head, count=1)
    return (new_head if replaced else head + b"\n" + line) + body


def demo_messages(count: int, tag: str) -> Iterator[bytes]:
    """`count` realistic messages: the bundled demo mailbox (web forms, English and Spanish mail,
    outage broadcasts, bounces, every intent) cycled, each copy with a fresh Message-ID."""
    templates = [raw for _, raw in iter_maildir(DEMO_MAILBOX)]
    for index, raw in enumerate(islice(cycle(templates), count)):
        yield with_message_id(raw, f"{tag}-{index:06d}@test.ladwp.example")
