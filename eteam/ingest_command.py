"""`eteam ingest`: fetch mail from IMAP, store each message once, then run the processing steps.

A module of its own so the IMAP command can grow (watch mode, signals, progress) without
crowding cli.py, which registers it with `app.command()(ingest)`; what it shares with the
other commands comes from `eteam.cli_support`.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from enum import Enum
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from imapclient.exceptions import IMAPClientError

from eteam.cli_support import build_services, err_console, fail, progress_counter, sessions_for, settings_of
from eteam.child import follow_parent
from eteam.pipeline import Processor, build_stages, process_pending
from eteam.settings import MailboxSettings, Settings
from ingest.imap import IngestReport, ingest_once, mailbox_from_url
from ingest.imap import watch as watch_mailboxes

#: `--ca-file`, for `ingest` and `worker`: the --url mailbox's private CA
CaFileOption = Annotated[
    Path | None,
    typer.Option("--ca-file", help="with --url: a CA certificate (PEM) to trust for the server, besides the system's"),
]

#: How long the parent waits for word from the fetcher before looking for stored mail itself.
FETCH_POLL_SECONDS = 0.05


class MailboxKind(str, Enum):
    """What a one-off `--url` mailbox carries; configured mailboxes say it in their settings."""

    contact = "contact"
    outage = "outage"


def stop_on_signals(stop: threading.Event) -> None:
    """Turn SIGTERM and SIGINT into `stop`, so the current batch finishes before the loops end."""

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def mailboxes_to_read(
    settings: Settings, url: str | None, kind: MailboxKind, ca_file: Path | None = None
) -> list[MailboxSettings]:
    """The mailboxes to read, each with a readable password and CA file, or a ValueError saying what to set."""
    if ca_file is not None and url is None:
        raise ValueError("--ca-file goes with --url; for configured mailboxes set ca_file in the config file")
    if url is not None:
        mailboxes = [mailbox_from_url(url, kind.value, ca_file)]
    elif settings.mailboxes:
        mailboxes = settings.mailboxes
    else:
        raise ValueError(
            "no mailboxes configured: add [[mailboxes]] to the TOML file named by ETEAM_CONFIG, "
            "or pass --url imap://USER@HOST:PORT/FOLDER"
        )
    for mailbox in mailboxes:
        try:
            mailbox.password()
        except OSError as exc:
            raise ValueError(f"mailbox {mailbox.name!r}: cannot read password_file: {exc}") from exc
        try:
            mailbox.tls_context()
        except OSError as exc:
            raise ValueError(
                f"mailbox {mailbox.name!r}: cannot read ca_file {mailbox.ca_file} as a PEM certificate: {exc}"
            ) from exc
    return mailboxes


class Fetcher:
    """`ingest_once` in a forked child process, reporting to this one through a pipe.

    The child stores mail while this process imports scikit-learn and loads the model (about
    three seconds that would otherwise pass before the first message is fetched), and keeps
    fetching while this process classifies and answers what is stored. Fetching and storing
    have their own commit-before-move guarantees, so the child is safe to kill at any moment;
    it dies with this process (`eteam.child`).
    """

    def __init__(self, settings: Settings, mailboxes: list[MailboxSettings]) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_fetch, args=(settings, mailboxes, child_conn), name="eteam-fetch", daemon=True
        )
        self._process.start()
        child_conn.close()

    def wait(self, meanwhile: Callable[[], None], progress: Callable[[int], None] | None) -> IngestReport:
        """Run `meanwhile` while the child works (and after each batch it stores); its report.

        Raises ValueError with the child's words when fetching failed.
        """
        try:
            while True:
                if not self._conn.poll(FETCH_POLL_SECONDS):
                    meanwhile()
                    continue
                kind, value = self._conn.recv()
                if kind == "stored":
                    if progress is not None:
                        progress(value)
                    meanwhile()
                elif kind == "done":
                    return value
                else:
                    raise ValueError(value)
        except EOFError:
            self._process.join()
            raise ValueError(f"the mail fetcher stopped unexpectedly (exit code {self._process.exitcode})") from None
        finally:
            self._conn.close()
            self._process.join(timeout=5)


def _fetch(settings: Settings, mailboxes: list[MailboxSettings], conn: Connection) -> None:
    """The child's work: one pass over the mailboxes with its own database engine."""
    follow_parent()
    try:
        report = ingest_once(settings, sessions_for(settings), mailboxes, progress=lambda count: conn.send(("stored", count)))
    except (IMAPClientError, OSError) as exc:
        conn.send(("failed", f"IMAP: {type(exc).__name__}: {exc}"))
    except Exception as exc:  # noqa: BLE001 - the parent reports it; a traceback here would interleave
        conn.send(("failed", f"fetching failed: {type(exc).__name__}: {exc}"))
    else:
        conn.send(("done", report))
    finally:
        conn.close()


def ingest(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="one pass over every mailbox, then exit (the default)")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="keep going with IMAP IDLE until SIGTERM or Ctrl-C")] = False,
    url: Annotated[
        str | None, typer.Option(help="read this mailbox instead of the configured ones: imap:// or imaps://USER@HOST:PORT/FOLDER")
    ] = None,
    kind: Annotated[MailboxKind, typer.Option(help="what the --url mailbox carries")] = MailboxKind.contact,
    ca_file: CaFileOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print counts as JSON")] = False,
) -> None:
    """Fetch new IMAP mail, store each message once, then classify, route and answer it.

    Mail is moved to Processed (or flagged \\Seen) only after it is stored; what cannot be fetched goes to Failed.

    Passwords come from ETEAM_IMAP_PASSWORD (or the mailbox's password_env / password_file), never the URL.

    --json prints fetched, stored, duplicates, quarantined (at fetch or processing), moved, processed, seconds.

    TLS certificates are verified; for a server whose certificate your own CA signed, set the mailbox's ca_file
    (or --ca-file with --url).

    Example: eteam ingest --once --json
    """

    if once and watch:
        raise fail("choose --once or --watch, not both")
    settings = settings_of(ctx)
    try:
        mailboxes = mailboxes_to_read(settings, url, kind, ca_file)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if not watch:
        _ingest_once(settings, mailboxes, as_json)
        return
    sessions = sessions_for(settings)
    stages = build_stages(build_services(settings))
    stop = threading.Event()

    def process_new() -> None:
        report = process_pending(sessions, stages, workers=settings.prepare_workers)
        if not (report.processed or report.quarantined):
            return
        if as_json:
            print(json.dumps({"processed": report.processed, "quarantined": report.quarantined}), flush=True)
        else:
            err_console.print(f"Processed {report.processed}, quarantined {report.quarantined}.")

    stop_on_signals(stop)
    if not as_json:
        err_console.print(f"Watching {', '.join(m.name for m in mailboxes)} (Ctrl-C stops).")
    watch_mailboxes(settings, sessions, process_new, stop, mailboxes=mailboxes)


def _ingest_once(settings: Settings, mailboxes: list[MailboxSettings], as_json: bool) -> None:
    """Fetch in a child process (see `Fetcher`) while this one loads the model, then processes."""
    started = time.monotonic()
    fetcher = Fetcher(settings, mailboxes)
    sessions = sessions_for(settings)
    stages = build_stages(build_services(settings))
    with Processor(sessions, stages, workers=settings.prepare_workers) as processor:
        try:
            with progress_counter(not as_json, "fetched") as advance:
                report = fetcher.wait(processor.feed, advance)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        with progress_counter(not as_json, "processed") as advance:
            processor.progress = advance
            processed = processor.drain()
    result = {
        **report.as_dict(),
        "quarantined": report.quarantined + processed.quarantined,
        "processed": processed.processed,
        "seconds": round(time.monotonic() - started, 3),
    }
    if as_json:
        print(json.dumps(result))
    else:
        typer.echo(
            f"Fetched {result['fetched']}: {result['stored']} stored, {result['duplicates']} already stored, "
            f"{result['moved']} moved or flagged; processed {result['processed']}, "
            f"quarantined {result['quarantined']} in {result['seconds']:.1f} s."
        )
