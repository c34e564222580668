"""`eteam worker`: the service — watch the mailboxes, process what arrives, deliver the outbox.

One process runs all the loops because SPEC §9 wants an automatic reply within seconds of a
message's arrival: the IMAP watch (IDLE) processes each batch as soon as it is stored and then
delivers at once, instead of waiting for a separate `eteam send --loop` to come round. A sender
thread beside it keeps delivering on a timer, so retries and backoff go on while no mail
arrives. Both may deliver at the same moment; `send_pending` claims each outbox row in its own
transaction, so two senders never send the same row.

The pieces are the ones `eteam ingest --watch` and `eteam send` use; this module only wires
them together, and, as an entry point, reads the SMTP relay from the environment once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated

import typer

from eteam.cli_support import build_services, err_console, fail, sessions_for, settings_of
from eteam.ingest_command import CaFileOption, MailboxKind, mailboxes_to_read, stop_on_signals
from eteam.pipeline import ProcessReport, build_stages, process_pending
from eteam.send_command import smtp_from_environment
from ingest.imap import watch as watch_mailboxes
from respond.sender import SendReport, send_pending


def _sent_summary(report: SendReport) -> str:
    """The sender's counts as one readable phrase for the log line."""
    counts = ", ".join(f"{name} {count}" for name, count in asdict(report).items() if name != "relay_error")
    return f"{counts} (relay unavailable: {report.relay_error})" if report.relay_error else counts


def _batch_summary(processed: ProcessReport, sent: SendReport) -> str:
    """One log line for a batch: what it processed (by action) and what it delivered."""
    actions = ", ".join(f"{action} {count}" for action, count in sorted(processed.actions.items()))
    return (
        f"Processed {processed.processed}, quarantined {processed.quarantined}"
        f"{f' ({actions})' if actions else ''}; {_sent_summary(sent)}."
    )


def _deliver_until_stopped(deliver: Callable[[], SendReport], stop: threading.Event, interval: float) -> None:
    """The sender thread: a delivery pass every `interval` seconds until stopped.

    This is what sends retries once their backoff has passed while no new mail wakes the
    watch. A failing pass (database unreachable, say) is logged and tried again next time:
    the service must outlive a passing fault.
    """
    while not stop.is_set():
        try:
            report = deliver()
        except Exception as exc:  # noqa: BLE001 - a service loop: log and try again next pass
            err_console.print(
                f"Outbox delivery failed: {type(exc).__name__}: {exc}; retrying in {interval:g} s.", markup=False
            )
        else:
            if report != SendReport():
                err_console.print(f"Outbox: {_sent_summary(report)}.")
        stop.wait(interval)


def worker(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(help="watch this mailbox instead of the configured ones: imap:// or imaps://USER@HOST:PORT/FOLDER"),
    ] = None,
    kind: Annotated[MailboxKind, typer.Option(help="what the --url mailbox carries")] = MailboxKind.contact,
    ca_file: CaFileOption = None,
    poll_seconds: Annotated[
        float, typer.Option(min=0.1, help="seconds between checks on a server without IMAP IDLE")
    ] = 30.0,
    send_interval: Annotated[
        float, typer.Option(min=0.1, help="seconds between outbox passes (retries, backoff) when no mail arrives")
    ] = 5.0,
) -> None:
    """Run the service: watch the mailboxes, process what arrives and deliver the outbox, until stopped.

    Each batch of new mail is stored, processed and its automatic replies sent at once; a sender thread also retries due outbox rows every --send-interval seconds.

    SIGTERM or Ctrl-C lets the current batch finish, then exits 0.

    Mailboxes come from [\\[mailboxes]] in the ETEAM_CONFIG file, or --url (password from ETEAM_IMAP_PASSWORD); the relay from ETEAM_SMTP_URL (and ETEAM_SMTP_PASSWORD).

    Example: ETEAM_SMTP_URL=smtp://127.0.0.1:2525 eteam worker
    """
    settings = settings_of(ctx)
    try:
        mailboxes = mailboxes_to_read(settings, url, kind, ca_file)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    smtp = smtp_from_environment()
    sessions = sessions_for(settings)
    stages = build_stages(build_services(settings))

    def deliver() -> SendReport:
        """One pass over the outbox: every due row, retries included."""
        return send_pending(sessions, smtp, settings)

    def process_and_deliver() -> None:
        """The watch's per-batch step: process what was just stored, then send its replies at once."""
        processed = process_pending(sessions, stages, workers=settings.prepare_workers)
        sent = deliver()
        if processed.processed or processed.quarantined or sent != SendReport():
            err_console.print(_batch_summary(processed, sent))

    stop = threading.Event()
    stop_on_signals(stop)
    sender = threading.Thread(
        target=_deliver_until_stopped, args=(deliver, stop, send_interval), name="outbox sender", daemon=True
    )
    err_console.print(
        f"Worker: watching {', '.join(m.name for m in mailboxes)}; outbox every {send_interval:g} s "
        "(SIGTERM or Ctrl-C stops)."
    )
    sender.start()
    try:
        watch_mailboxes(settings, sessions, process_and_deliver, stop, poll_seconds=poll_seconds, mailboxes=mailboxes)
    finally:
        stop.set()
        sender.join()
    err_console.print("Worker stopped.")
