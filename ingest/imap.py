"""IMAP ingest: fetch new mail in batches, commit it, and only then move or flag it on the server.

Nothing is lost because of the order of work alone: a batch's raw messages and the folder's
UID cursor are committed in one transaction, and only after that commit does the server see
a MOVE (or a `\\Seen` flag). A crash before the commit leaves the messages in the folder to be
fetched again; a crash after it leaves them stored, and the next run, finding them still
there, fetches them again, recognises them as duplicates by Message-ID and finishes the move.
So re-running never duplicates and never deletes what is not stored.

Memory stays flat in the number of messages: one batch of raw messages is held at a time.
Settings come in as objects; nothing here reads the environment except through
`MailboxSettings.password()`, which is where the secret is meant to come from.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from eteam.settings import MailboxSettings, Settings
from eteam.tls import UntrustedServerError, untrusted
from ingest.store import store_batch
from models import Event, FolderState
from models.schema import utcnow

log = logging.getLogger(__name__)

#: Seconds a connect or a single server reply may take before the connection counts as dead.
SOCKET_TIMEOUT = 60.0
#: RFC 2177: servers may drop an IDLE after 30 minutes, so it is renewed well before that.
IDLE_RENEW_SECONDS = 25 * 60
#: How often an IDLE wait looks at the stop event; bounds how long SIGTERM takes to act.
STOP_CHECK_SECONDS = 1.0
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
FETCH_BODY = "BODY.PEEK[]"  # PEEK: fetching must not mark mail read before it is stored
BODY_KEY = b"BODY[]"
SEEN = b"\\Seen"
DELETED = b"\\Deleted"

Progress = Callable[[int], None]


@dataclass
class IngestReport:
    """What an ingest run did; `eteam ingest --json` prints it.

    `moved` counts messages handed off after storing (moved to the processed folder, or
    flagged `\\Seen` in flag mode); `quarantined` counts those moved to the failed folder.
    """

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    moved: int = 0
    seconds: float = 0.0

    def add(self, other: IngestReport) -> None:
        """Fold a folder's or a batch's counts into a running total (seconds are set by the caller)."""
        self.fetched += other.fetched
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.moved += other.moved

    def as_dict(self) -> dict[str, int | float]:
        """The report as plain JSON-ready values."""
        return {**asdict(self), "seconds": round(self.seconds, 3)}


def _untrusted(mailbox: MailboxSettings, exc: ssl.SSLCertVerificationError) -> UntrustedServerError:
    where = f"mailbox {mailbox.name!r} at {mailbox.host}:{mailbox.port}"
    return untrusted(where, exc, "the mailbox's ca_file (or --ca-file)")


def connect(mailbox: MailboxSettings) -> IMAPClient:
    """Open a logged-in connection in the mailbox's TLS mode.

    The password is read first, so a missing secret fails before any network traffic, with the
    message naming the variable to set. Plain text (`tls = "none"`) is meant for loopback only.
    A certificate that does not verify raises `UntrustedServerError`, never a silent downgrade.
    """
    password = mailbox.password()
    context = mailbox.tls_context()
    try:
        client = IMAPClient(
            mailbox.host,
            port=mailbox.port,
            ssl=mailbox.tls == "implicit",
            ssl_context=context,
            timeout=SOCKET_TIMEOUT,
        )
    except ssl.SSLCertVerificationError as exc:
        raise _untrusted(mailbox, exc) from exc
    try:
        if mailbox.tls == "starttls":
            client.starttls(context)
        client.login(mailbox.user, password)
    except BaseException as exc:
        with suppress(OSError):  # a failed TLS handshake has already closed the socket
            client.shutdown()
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise _untrusted(mailbox, exc) from exc
        raise
    return client


def close(client: IMAPClient) -> None:
    """Log out politely, or just drop the socket when the server has already gone."""
    try:
        client.logout()
    except (IMAPClientError, OSError):
        try:
            client.shutdown()
        except OSError:
            pass


class _Mover:
    """Moves messages out of the selected folder, creating each target folder at most once per run."""

    def __init__(self, client: IMAPClient) -> None:
        self.client = client
        self.known_folders: set[str] = set()

    def move(self, uids: list[int], target: str) -> None:
        """MOVE when the server has it; else COPY, flag `\\Deleted` and UID EXPUNGE just these UIDs.

        Without UIDPLUS the copies are left flagged `\\Deleted` for the server's own expunge:
        a plain EXPUNGE would also remove messages someone else marked deleted.
        """
        if target not in self.known_folders:
            if not self.client.folder_exists(target):
                self.client.create_folder(target)
            self.known_folders.add(target)
        if self.client.has_capability("MOVE"):
            self.client.move(uids, target)
            return
        self.client.copy(uids, target)
        self.client.add_flags(uids, [DELETED], silent=True)
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge(uids)


def _open_cursor(session_factory: sessionmaker[Session], mailbox: str, folder: str, uidvalidity: int) -> int:
    """The last UID stored from this folder; 0 (re-scan everything) when UIDVALIDITY changed.

    After a UIDVALIDITY change old UIDs mean nothing, so the whole folder is read again;
    Message-ID de-duplication keeps that from storing anything twice.
    """
    with session_factory() as session:
        state = session.scalar(
            select(FolderState).where(FolderState.mailbox == mailbox, FolderState.folder == folder)
        )
        if state is None:
            state = FolderState(mailbox=mailbox, folder=folder, uidvalidity=uidvalidity, last_uid=0)
            session.add(state)
        elif state.uidvalidity != uidvalidity:
            log.warning(
                "%s/%s: UIDVALIDITY changed from %s to %s; re-scanning the folder",
                mailbox, folder, state.uidvalidity, uidvalidity,
            )
            state.uidvalidity = uidvalidity
            state.last_uid = 0
            state.updated_at = utcnow()
        last_uid = state.last_uid
        session.commit()
        return last_uid


def _advance_cursor(session: Session, mailbox: str, folder: str, uidvalidity: int, uid: int) -> None:
    """Move the cursor forward in the caller's transaction, so it commits with the batch it covers."""
    session.execute(
        update(FolderState)
        .where(
            FolderState.mailbox == mailbox,
            FolderState.folder == folder,
            FolderState.uidvalidity == uidvalidity,
            FolderState.last_uid < uid,
        )
        .values(last_uid=uid, updated_at=utcnow())
    )


def _pending_uids(client: IMAPClient, mailbox: MailboxSettings, last_uid: int) -> list[int]:
    """UIDs to fetch: those above the cursor, plus any at or below it whose hand-off a crash cut short.

    Those are stored already (the cursor commits with its batch) but still sit in the folder
    (move mode) or are still unseen (flag mode); fetching them again finds duplicates and
    finishes the move or flag. `UID n:*` always matches the highest UID, hence the filter.
    """
    pending = {uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid}
    if last_uid > 0:
        not_handed_off = ["NOT", "DELETED"] if mailbox.after_store == "move" else ["NOT", "DELETED", "UNSEEN"]
        pending.update(client.search(["UID", f"1:{last_uid}", *not_handed_off]))
    return sorted(pending)


def _fetch_bodies(client: IMAPClient, uids: list[int]) -> tuple[dict[int, bytes], dict[int, str]]:
    """Raw bytes per UID, and a reason per UID that could not be fetched.

    A server that refuses a whole batch (a NO for one bad message) gets asked UID by UID, so
    one broken message is quarantined instead of blocking the folder. UIDs missing from the
    answer were expunged by someone else meanwhile: neither fetched nor failed.
    """
    try:
        response = client.fetch(uids, [FETCH_BODY])
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        if len(uids) == 1:
            return {}, {uids[0]: f"FETCH failed: {exc}"}
        log.warning("FETCH of %d messages failed (%s); fetching them one by one", len(uids), exc)
        bodies: dict[int, bytes] = {}
        failures: dict[int, str] = {}
        for uid in uids:
            one_body, one_failure = _fetch_bodies(client, [uid])
            bodies.update(one_body)
            failures.update(one_failure)
        return bodies, failures
    bodies = {}
    failures = {}
    for uid in uids:
        if uid not in response:
            log.info("UID %s vanished before it was fetched (expunged by another client)", uid)
            continue
        raw = response[uid].get(BODY_KEY)
        if raw is None:
            failures[uid] = "FETCH returned no body"
        else:
            bodies[uid] = raw
    return bodies, failures


def _fetch_failed(mailbox: MailboxSettings, folder: str, uidvalidity: int, uid: int, reason: str) -> dict[str, Any]:
    """The `fetch_failed` event of a message moved to the failed folder: where it was, where it went, why."""
    where = {"mailbox": mailbox.name, "folder": folder, "uidvalidity": uidvalidity, "uid": uid}
    return Event.row("fetch_failed", data={**where, "moved_to": mailbox.failed_folder, "reason": reason[:2000]})


def _ingest_batch(
    client: IMAPClient,
    mailbox: MailboxSettings,
    folder: str,
    uidvalidity: int,
    uids: list[int],
    session_factory: sessionmaker[Session],
    mover: _Mover,
) -> IngestReport:
    """Fetch, store and commit one batch with its cursor; then (only then) move or flag it.

    A function of its own so the batch's bytes are released when it returns.
    """
    bodies, failures = _fetch_bodies(client, uids)
    source = f"imap:{mailbox.name}/{folder}/{uidvalidity}"
    with session_factory() as session:
        stored = store_batch(session, [(f"{source}/{uid}", raw) for uid, raw in bodies.items()])
        if failures:  # the reason is committed before the message is moved, like a stored message
            rows = [_fetch_failed(mailbox, folder, uidvalidity, uid, why) for uid, why in failures.items()]
            session.execute(insert(Event), rows)
        _advance_cursor(session, mailbox.name, folder, uidvalidity, max(uids))
        session.commit()
    report = IngestReport(fetched=len(bodies), stored=stored.stored, duplicates=stored.duplicates)
    if bodies:
        if mailbox.after_store == "flag":
            client.add_flags(list(bodies), [SEEN], silent=True)
        else:
            mover.move(list(bodies), mailbox.processed_folder)
        report.moved = len(bodies)
    if failures:
        for uid, reason in failures.items():
            log.warning("%s/%s UID %s moved to %s: %s", mailbox.name, folder, uid, mailbox.failed_folder, reason)
        mover.move(list(failures), mailbox.failed_folder)
        report.quarantined = len(failures)
    return report


def ingest_folder(
    client: IMAPClient,
    mailbox: MailboxSettings,
    folder: str,
    session_factory: sessionmaker[Session],
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> IngestReport:
    """Store every new message of one folder, a committed batch at a time; see the module docstring.

    `progress` is called with the number of messages handled after each batch.
    """
    started = time.monotonic()
    uidvalidity = int(client.select_folder(folder)[b"UIDVALIDITY"])
    last_uid = _open_cursor(session_factory, mailbox.name, folder, uidvalidity)
    uids = _pending_uids(client, mailbox, last_uid)
    mover = _Mover(client)
    report = IngestReport()
    for start in range(0, len(uids), batch_size):
        batch = uids[start : start + batch_size]
        report.add(_ingest_batch(client, mailbox, folder, uidvalidity, batch, session_factory, mover))
        if progress is not None:
            progress(len(batch))
    report.seconds = time.monotonic() - started
    return report


def ingest_once(
    settings: Settings,
    session_factory: sessionmaker[Session],
    mailboxes: list[MailboxSettings] | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """One pass over every folder of every mailbox (the configured ones unless given), fresh connections."""
    started = time.monotonic()
    total = IngestReport()
    for mailbox in settings.mailboxes if mailboxes is None else mailboxes:
        client = connect(mailbox)
        try:
            for folder in mailbox.folders:
                total.add(ingest_folder(client, mailbox, folder, session_factory, progress=progress))
        finally:
            close(client)
    total.seconds = time.monotonic() - started
    return total


def _wait_for_mail(client: IMAPClient, stop_event: threading.Event, poll_seconds: float) -> None:
    """Return when the selected folder may have new mail, when stopping, or when IDLE needs renewing.

    Without IDLE this is just the polling interval. With it, anything but a keep-alive wakes
    us. imapclient's `idle_check` returns an empty list at once when the server has closed the
    connection, so an early empty return also ends the wait: leaving IDLE then raises if the
    server has gone (and the caller reconnects), and costs one cheap re-check otherwise.
    """
    if not client.has_capability("IDLE"):
        stop_event.wait(poll_seconds)
        return
    client.idle()
    try:
        renew_at = time.monotonic() + IDLE_RENEW_SECONDS
        while not stop_event.is_set() and time.monotonic() < renew_at:
            checked_at = time.monotonic()
            responses = client.idle_check(timeout=STOP_CHECK_SECONDS)
            if any(response[:1] != (b"OK",) for response in responses):
                return
            if not responses and time.monotonic() - checked_at < STOP_CHECK_SECONDS / 2:
                return
    finally:
        client.idle_done()


def _watch_folder(
    mailbox: MailboxSettings,
    folder: str,
    session_factory: sessionmaker[Session],
    on_batch: Callable[[], None],
    stop_event: threading.Event,
    poll_seconds: float,
) -> None:
    """Keep one folder ingested until stopped: ingest, process, wait for mail; reconnect on failure.

    Each new connection first processes whatever is pending (a crash may have left stored
    messages unprocessed), and a pass that fetched something is followed by another before
    waiting, so mail arriving during a pass is never left for the next wake-up. Any failure
    (server gone, database busy) is logged and retried after a back-off doubling from 1 s to 60 s.
    """
    delay = BACKOFF_FIRST_SECONDS
    while not stop_event.is_set():
        client: IMAPClient | None = None
        try:
            client = connect(mailbox)
            needs_processing = True
            while not stop_event.is_set():
                report = ingest_folder(client, mailbox, folder, session_factory)
                if report.fetched or needs_processing:
                    on_batch()
                    needs_processing = False
                delay = BACKOFF_FIRST_SECONDS
                if not report.fetched:
                    _wait_for_mail(client, stop_event, poll_seconds)
        except Exception as exc:  # noqa: BLE001 - a service loop: log, back off, reconnect
            log.warning("%s/%s: %s: %s; reconnecting in %.0f s", mailbox.name, folder, type(exc).__name__, exc, delay)
            stop_event.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX_SECONDS)
        finally:
            if client is not None:
                close(client)


def watch(
    settings: Settings,
    session_factory: sessionmaker[Session],
    on_batch: Callable[[], None],
    stop_event: threading.Event,
    poll_seconds: float = 30,
    mailboxes: list[MailboxSettings] | None = None,
) -> None:
    """Ingest continuously until `stop_event` is set: IDLE where supported, polling otherwise.

    IDLE watches one selected folder per connection, so each folder gets its own connection
    and thread. `on_batch` (the CLI runs the processing pipeline in it) is called after each
    wake-up that fetched mail, one call at a time across folders, because the pipeline's
    claim on pending messages is only exclusive on PostgreSQL.
    """
    lock = threading.Lock()

    def process_serially() -> None:
        with lock:
            on_batch()

    threads = [
        threading.Thread(
            target=_watch_folder,
            args=(mailbox, folder, session_factory, process_serially, stop_event, poll_seconds),
            name=f"watch {mailbox.name}/{folder}",
            daemon=True,
        )
        for mailbox in (settings.mailboxes if mailboxes is None else mailboxes)
        for folder in mailbox.folders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def mailbox_from_url(url: str, kind: str, ca_file: Path | None = None) -> MailboxSettings:
    """A one-off mailbox from `imap[s]://USER@HOST:PORT/FOLDER`, for `eteam ingest --url`.

    imaps means implicit TLS; imap means plain text on loopback and STARTTLS elsewhere, so
    a password never crosses a network in the clear. The password comes from the default
    variable (ETEAM_IMAP_PASSWORD), never from the URL, which would leak into shell history.
    `ca_file` is a CA certificate (PEM) to trust besides the system's (`--ca-file`).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps"):
        raise ValueError(f"{url!r}: expected imap://USER@HOST:PORT/FOLDER or imaps://USER@HOST:PORT/FOLDER")
    if parts.password is not None:
        raise ValueError("put no password in the URL; set ETEAM_IMAP_PASSWORD instead")
    if not parts.username or not parts.hostname:
        raise ValueError(f"{url!r}: the URL needs a user and a host (imap://USER@HOST:PORT/FOLDER)")
    host = parts.hostname
    port = parts.port or (993 if parts.scheme == "imaps" else 143)
    if parts.scheme == "imaps":
        tls = "implicit"
    elif host in LOOPBACK_HOSTS:
        tls = "none"
    else:
        tls = "starttls"
    user = unquote(parts.username)
    return MailboxSettings.model_validate(
        {
            "name": f"{user}@{host}:{port}",
            "host": host,
            "port": port,
            "tls": tls,
            "user": user,
            "folders": [unquote(parts.path.lstrip("/")) or "INBOX"],
            "kind": kind,
            "ca_file": ca_file,
        }
    )
