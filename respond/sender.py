"""The sender: delivers the outbox over SMTP once per row, across crashes and concurrent senders.

SPEC §5 asks for "never zero times, never twice". SMTP cannot give that by itself: after the
relay answers 250 to the final dot, the message is the relay's, and there is no command to ask
it later whether it has a given Message-ID. So a sender killed after the 250 but before it
records the fact cannot tell "delivered" from "never delivered". The design makes that
unknowable moment as short as it can be and handles every other moment exactly:

1. **Claim** (one transaction): one due `queued` row becomes `sending` with a lease
   (`next_attempt_at` = now + 20 times the SMTP timeout) and `attempts + 1`. On PostgreSQL the row is
   picked with `FOR UPDATE SKIP LOCKED` inside the UPDATE, on SQLite the UPDATE takes the write
   lock; two senders never claim the same row. Loop protection is re-checked inside the same
   transaction: a refused reply becomes `suppressed` instead, with a private note on its case.
2. **Deliver**: one SMTP transaction; the envelope recipient is the row's one address.
3. **Journal**: the moment the relay says 250, `accepted <time> <Message-ID>` is appended to
   `var_dir/outbox.journal` and fsync'd (a local append, microseconds; it does not depend on
   the database being reachable).
4. **Record** (one transaction): `sending` → `sent`, the `replied` event, the case to Waiting.
   Every move out of `sending` is a compare-and-set on (id, status, attempts), so a sender whose
   lease was taken over cannot record anything twice.

On every run, before claiming, `sending` rows are reconciled. Journaled as accepted → `sent`
(with the journaled time), at once: the relay has it. Not journaled and the lease expired →
back to `queued` and sent again: the relay never accepted it (an interrupted SMTP transaction
is discarded by the relay) - unless the sender died in the instant between reading the relay's
250 and the journal's fsync, or the connection dropped while that 250 was on its way. Only
there is a row delivered twice, and the copy carries the same Message-ID, so the receiving mail
store or the customer can recognise it as the same message. A crash anywhere else leads to
exactly one delivery, and a crash anywhere never to none: without the receiver's help SMTP
allows nothing stronger, and the remaining window is one local write long.

Limits of the design, stated plainly: the journal must be on storage every sender of one
outbox shares (run senders on one host, or share `var_dir`); a sender stalled longer than its
lease can be overtaken and the row re-sent. Temporary failures (4xx, refused or dropped
connection, timeout) go back to `queued` with exponential backoff; 5xx marks the row `failed`
with the server's reason. A connection-level failure ends the run, since every other row
would meet the same relay.
"""

from __future__ import annotations

import fcntl
import os
import smtplib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from eteam.settings import Settings
from models import Event, OutboundReply, ServiceRequest
from respond.cases import add_entry
from respond.loop_guard import DEFAULT_LIMITS, RateLimits, refusal
from respond.smtp import SmtpSettings, build_email, connect, recipient

JOURNAL_NAME = "outbox.journal"
JOURNAL_COMPACT_BYTES = 1 << 20
LEASE_TIMEOUTS = 20
INTERRUPTED = "delivery interrupted before the relay accepted it; sending again"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts after temporary failures: doubling from `base` up to `cap`.

    After `max_attempts` attempts the row is failed, so a relay that rejects one address with a
    4xx forever does not keep it in the queue forever (about a day with the defaults).
    """

    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=6)
    max_attempts: int = 10

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the `attempts`-th failed attempt."""
        return min(self.cap, self.base * (1 << max(attempts - 1, 0)))


DEFAULT_BACKOFF = Backoff()


@dataclass
class SendReport:
    """What one run did, for `eteam send --json` and the worker's log."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    suppressed: int = 0
    #: why the run stopped early, when the relay could not be reached or refused the connection:
    #: what the operator must see, since the rows only say it one by one
    relay_error: str | None = None


class DeliveryJournal:
    """Append-only, fsync'd record of the Message-IDs the relay accepted.

    It exists for the instant after the relay's 250 and before the database commit: a sender
    killed there leaves the row `sending`, and this file is what tells the next run it went out.
    An flock on a side file orders appends against compaction, which rewrites the file keeping
    only lines still needed (rows still `sending`) once it grows past 1 MiB.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / JOURNAL_NAME
        self._lock_path = directory / f"{JOURNAL_NAME}.lock"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def record_accepted(self, message_id: str, at: datetime) -> None:
        """Durably note that the relay took `message_id`; returns only after fsync."""
        with self._locked():
            created = not self.path.exists()
            with open(self.path, "a", encoding="utf-8") as journal:
                journal.write(f"accepted {at.isoformat()} {message_id}\n")
                journal.flush()
                os.fsync(journal.fileno())
            if created:
                _fsync_dir(self.path.parent)

    def accepted(self) -> dict[str, datetime]:
        """Message-ID → when the relay accepted it; a torn last line (crash mid-write) is ignored."""
        with self._locked():
            return dict(self._read())

    def _read(self) -> Iterator[tuple[str, datetime]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as journal:
            for line in journal:
                parts = line.split(" ", 2)
                if line.endswith("\n") and len(parts) == 3 and parts[0] == "accepted":
                    yield parts[2].rstrip("\n"), datetime.fromisoformat(parts[1])

    def compact(self, still_sending: Callable[[], Collection[str]], min_bytes: int = JOURNAL_COMPACT_BYTES) -> None:
        """Once the file passes `min_bytes`, drop lines no row needs any more.

        `still_sending` is asked under the lock, so a line a concurrent sender appended for a
        row it has not yet recorded is never dropped.
        """
        if not self.path.exists() or self.path.stat().st_size < min_bytes:
            return
        with self._locked():
            keep = set(still_sending())
            lines = [f"accepted {at.isoformat()} {mid}\n" for mid, at in self._read() if mid in keep]
            temporary = self.path.with_suffix(".tmp")
            with open(temporary, "w", encoding="utf-8") as journal:
                journal.writelines(lines)
                journal.flush()
                os.fsync(journal.fileno())
            os.replace(temporary, self.path)
            _fsync_dir(self.path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a file's creation or rename survive power loss, not only a process crash."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class _Claim:
    """What delivery needs from a claimed row, detached from its session."""

    reply_id: int
    attempts: int
    header_message_id: str
    envelope_to: str
    data: bytes


@dataclass(frozen=True)
class _Failure:
    """A delivery that did not get a 250: whether it is final, and whether the relay itself is down."""

    error: str
    permanent: bool
    relay_down: bool


class _Relay:
    """One SMTP connection reused for a run's rows, opened on first use and after any failure."""

    def __init__(self, smtp: SmtpSettings, helo: str) -> None:
        self.smtp = smtp
        self.helo = helo
        self._client: smtplib.SMTP | None = None

    def deliver(self, sender: str, claim: _Claim) -> _Failure | None:
        """None when the relay accepted the message, else how it failed."""
        try:
            if self._client is None:
                self._client = connect(self.smtp, self.helo)
            self._client.sendmail(sender, [claim.envelope_to], claim.data)
            return None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            failure = _response_failure(code, text)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            failure = _response_failure(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, TLS, login, dropped
            failure = _Failure(f"{type(exc).__name__}: {exc}", permanent=False, relay_down=True)
        self.close()
        return failure

    def close(self) -> None:
        """Say QUIT if the connection still stands; either way forget it."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


def _response_failure(code: int, text: bytes | str) -> _Failure:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return _Failure(f"{code} {message}", permanent=500 <= code < 600, relay_down=False)


class _Sender:
    """One run of `send_pending`; holds what every step of the run shares."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        smtp: SmtpSettings,
        settings: Settings,
        clock: Callable[[], datetime],
        limits: RateLimits,
        backoff: Backoff,
        after_accept: Callable[[str], None] | None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.limits = limits
        self.backoff = backoff
        self.after_accept = after_accept
        self.lease = timedelta(seconds=smtp.timeout * LEASE_TIMEOUTS)
        self.journal = DeliveryJournal(settings.var_dir)
        self.relay = _Relay(smtp, helo=settings.our_domain)
        self.report = SendReport()

    def run(self, limit: int | None) -> SendReport:
        """Reconcile what a dead sender left, then claim and deliver due rows one at a time."""
        self.reconcile()
        delivered = 0
        try:
            while limit is None or delivered < limit:
                claim = self.claim()
                if claim is None:
                    break
                delivered += 1
                if not self.deliver(claim):
                    break
        finally:
            self.relay.close()
        return self.report

    def reconcile(self) -> None:
        """Settle rows left `sending`: journaled → sent; lease expired → queued again."""
        with self.sessions() as session:
            stuck = session.execute(
                select(OutboundReply.id, OutboundReply.header_message_id).where(OutboundReply.status == "sending")
            ).all()
        accepted = self.journal.accepted() if stuck else {}
        for reply_id, header_message_id in stuck:
            with self.sessions.begin() as session:
                pending = [OutboundReply.id == reply_id, OutboundReply.status == "sending"]
                if header_message_id in accepted:
                    self._mark_sent(session, pending, accepted[header_message_id])
                else:
                    _transition(
                        session,
                        [*pending, OutboundReply.next_attempt_at <= self.clock()],
                        status="queued",
                        next_attempt_at=None,
                        last_error=INTERRUPTED,
                    )
        self.journal.compact(self._still_sending)

    def _still_sending(self) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(select(OutboundReply.header_message_id).where(OutboundReply.status == "sending"))
            )

    def claim(self) -> _Claim | None:
        """The next due row to deliver, now `sending`; None when nothing is due.

        Rows that must not or cannot go out (loop protection, no usable address) are settled
        on the way, in the same transaction that claimed them.
        """
        while True:
            now = self.clock()
            due = (
                select(OutboundReply.id)
                .where(
                    OutboundReply.status == "queued",
                    or_(OutboundReply.next_attempt_at.is_(None), OutboundReply.next_attempt_at <= now),
                )
                .order_by(OutboundReply.id)
                .limit(1)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            with self.sessions.begin() as session:
                reply = _transition(
                    session, [OutboundReply.id == due], status="sending", next_attempt_at=now + self.lease
                )
                if reply is None:
                    return None
                reason = refusal(
                    session,
                    self.settings,
                    reply.to_addr,
                    service_request_id=reply.service_request_id,
                    now=now,
                    automatic=reply.auto_submitted,
                    before_id=reply.id,
                    limits=self.limits,
                )
                if reason is not None:
                    self._suppress(session, reply, reason)
                    continue
                reply.attempts += 1
                try:
                    envelope_to = recipient(reply.to_addr)[1]
                    message = build_email(reply, self.settings.team_address, self.settings.team_name, date=now)
                except ValueError as exc:
                    self._fail(session, [OutboundReply.id == reply.id], str(exc))
                    continue
                return _Claim(reply.id, reply.attempts, reply.header_message_id, envelope_to, message.as_bytes())

    def deliver(self, claim: _Claim) -> bool:
        """Send one claimed row and record the outcome; False when the relay is down."""
        failure = self.relay.deliver(self.settings.team_address, claim)
        ours = [
            OutboundReply.id == claim.reply_id,
            OutboundReply.status == "sending",
            OutboundReply.attempts == claim.attempts,
        ]
        if failure is None:
            accepted_at = self.clock()
            try:
                self.journal.record_accepted(claim.header_message_id, accepted_at)
                if self.after_accept is not None:
                    self.after_accept(claim.header_message_id)
            finally:  # even if the journal cannot be written, the database still learns it went out
                with self.sessions.begin() as session:
                    self._mark_sent(session, ours, accepted_at)
            return True
        with self.sessions.begin() as session:
            if failure.permanent:
                self._fail(session, ours, failure.error)
            elif claim.attempts >= self.backoff.max_attempts:
                self._fail(session, ours, f"gave up after {claim.attempts} attempts: {failure.error}")
            elif _transition(
                session,
                ours,
                status="queued",
                last_error=failure.error,
                next_attempt_at=self.clock() + self.backoff.delay(claim.attempts),
            ):
                self.report.retried += 1
        if failure.relay_down:
            self.report.relay_error = failure.error
        return not failure.relay_down

    def _mark_sent(self, session: Session, conditions: list[ColumnElement[bool]], at: datetime) -> None:
        reply = _transition(session, conditions, status="sent", sent_at=at, next_attempt_at=None, last_error=None)
        if reply is None:
            return
        self.report.sent += 1
        session.add(
            Event(
                kind="replied",
                message_id=reply.message_id,
                service_request_id=reply.service_request_id,
                data={"reply_id": reply.id, "template": reply.template, "auto": reply.auto_submitted},
                at=at,
            )
        )
        request = session.get(ServiceRequest, reply.service_request_id) if reply.service_request_id else None
        if request is not None and request.status != "Solved":
            request.status = "Waiting"

    def _suppress(self, session: Session, reply: OutboundReply, reason: str) -> None:
        reply.status = "suppressed"
        reply.reason = reason
        reply.next_attempt_at = None
        self.report.suppressed += 1
        session.add(self._event("reply_suppressed", reply, reason))
        request = session.get(ServiceRequest, reply.service_request_id) if reply.service_request_id else None
        if request is not None:
            add_entry(session, request, "private_note", f"Reply {reply.header_message_id} not sent: {reason}")

    def _fail(self, session: Session, conditions: list[ColumnElement[bool]], reason: str) -> None:
        reply = _transition(
            session, conditions, status="failed", reason=reason, last_error=reason, next_attempt_at=None
        )
        if reply is not None:
            self.report.failed += 1
            session.add(self._event("reply_failed", reply, reason))

    def _event(self, kind: str, reply: OutboundReply, reason: str) -> Event:
        return Event(
            kind=kind,
            message_id=reply.message_id,
            service_request_id=reply.service_request_id,
            data={"reply_id": reply.id, "reason": reason},
            at=self.clock(),
        )


def _transition(session: Session, conditions: list[ColumnElement[bool]], **values: Any) -> OutboundReply | None:
    """Compare-and-set one outbox row; the updated row, or None when no row matched.

    The UPDATE is the transaction's first statement, so on SQLite it takes the write lock
    before anything is read, and on PostgreSQL it locks the row; either way a row another
    sender moved in the meantime simply does not match.
    """
    statement = update(OutboundReply).where(*conditions).values(**values).returning(OutboundReply.id)
    reply_id = session.execute(statement, execution_options={"synchronize_session": False}).scalar()
    return session.get(OutboundReply, reply_id, populate_existing=True) if reply_id is not None else None


def send_pending(
    session_factory: sessionmaker[Session],
    smtp: SmtpSettings,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    limits: RateLimits = DEFAULT_LIMITS,
    backoff: Backoff = DEFAULT_BACKOFF,
    after_accept: Callable[[str], None] | None = None,
) -> SendReport:
    """Deliver every due outbox row (at most `limit` delivery attempts) and report what happened.

    `now` pins the clock (tests move it forward to pass a backoff or a lease); by default
    every step reads the real time. `after_accept` is called with the Message-ID after the
    relay accepted and the journal recorded it, before the database does: the entry point's
    crash hook for the kill test, and nothing else.
    """
    pinned = now.astimezone(timezone.utc) if now is not None else None
    clock = (lambda: pinned) if pinned is not None else _utcnow
    return _Sender(session_factory, smtp, settings, clock, limits, backoff, after_accept).run(limit)
