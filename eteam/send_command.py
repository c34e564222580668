"""The `eteam send`, `eteam ccb export` and `eteam ccb post` commands: delivering the two outboxes.

This is the entry point for outbound mail, so it is the one place that reads the SMTP relay
from the environment (ETEAM_SMTP_URL; ETEAM_SMTP_PASSWORD, a secret, so never from the
TOML file; ETEAM_SMTP_CA_FILE for a relay whose certificate a private CA signed) and the
one place that reads the kill test's crash hook; everything below it gets plain arguments.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from eteam.cli_support import console, err_console, fail, sessions_for, settings_of
from eteam.tls import verified_context
from respond.cases import LOS_ANGELES
from respond.ccb_export import export_notes, post_notes
from respond.sender import SendReport, send_pending
from respond.smtp import CA_FILE_SETTING, SmtpSettings

SMTP_URL_ENV = "ETEAM_SMTP_URL"
SMTP_PASSWORD_ENV = "ETEAM_SMTP_PASSWORD"
CRASH_HOOK_ENV = "ETEAM_TEST_CRASH_AFTER_SEND"


def smtp_from_environment() -> SmtpSettings:
    """The relay from ETEAM_SMTP_URL (+ ETEAM_SMTP_PASSWORD, ETEAM_SMTP_CA_FILE); a readable error when unusable."""
    url = os.environ.get(SMTP_URL_ENV)
    if not url:
        raise fail(
            f"{SMTP_URL_ENV} is not set; name the SMTP relay, e.g. "
            f"{SMTP_URL_ENV}=smtp+starttls://eteam@mail.example:587 (password in {SMTP_PASSWORD_ENV})"
        )
    ca_file = Path(os.environ[CA_FILE_SETTING]) if os.environ.get(CA_FILE_SETTING) else None
    try:
        smtp = SmtpSettings.from_url(url, os.environ.get(SMTP_PASSWORD_ENV), ca_file=ca_file)
    except ValueError as exc:
        raise fail(f"{SMTP_URL_ENV}: {exc}") from exc
    try:
        verified_context(ca_file)
    except OSError as exc:
        raise fail(f"{CA_FILE_SETTING}: cannot read {ca_file} as a PEM certificate: {exc}") from exc
    return smtp


def _crash_after_accept(message_id: str) -> None:
    """The kill test's hook: die like `kill -9` once the relay has the message, before the database does."""
    os.kill(os.getpid(), signal.SIGKILL)


def send(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the counts as JSON (one line per pass with --loop)")
    ] = False,
    loop: Annotated[bool, typer.Option("--loop", help="keep delivering until interrupted")] = False,
    interval: Annotated[float, typer.Option(help="seconds between passes with --loop")] = 5.0,
) -> None:
    """Deliver the outbox over SMTP: each queued reply once, with retries and loop protection.

    The relay comes from ETEAM_SMTP_URL (smtp://, smtps:// or smtp+starttls://, user in the URL)
    and ETEAM_SMTP_PASSWORD; its TLS certificate is verified (ETEAM_SMTP_CA_FILE: a private CA to trust).

    Example: ETEAM_SMTP_URL=smtp://127.0.0.1:2525 eteam send --json
    """
    settings = settings_of(ctx)
    smtp = smtp_from_environment()
    sessions = sessions_for(settings)
    after_accept = _crash_after_accept if os.environ.get(CRASH_HOOK_ENV) == "1" else None
    try:
        while True:
            report = send_pending(sessions, smtp, settings, after_accept=after_accept)
            if not loop or report != SendReport():
                _print_report(report, as_json)
            if not loop:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def _print_report(report: SendReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(report)), flush=True)
    else:
        console.print(
            f"Sent {report.sent}, failed {report.failed}, to retry {report.retried}, "
            f"suppressed {report.suppressed}.",
            highlight=False,
        )
        if report.relay_error:
            err_console.print(f"[yellow]relay unavailable:[/yellow] {escape(report.relay_error)}", highlight=False)


def ccb_export(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD, Los Angeles time (default: today)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="CSV file to write (default: ccb-DATE.csv)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the count and file as JSON")] = False,
) -> None:
    """Write the pending CCB notes up to that day to a CSV file for upload, and mark them exported.

    Example: eteam ccb export --date 2026-11-24 --out ccb-2026-11-24.csv
    """
    settings = settings_of(ctx)
    try:
        export_day = date.fromisoformat(day) if day else datetime.now(LOS_ANGELES).date()
    except ValueError as exc:
        raise fail(f"--date must be YYYY-MM-DD, got {day!r}") from exc
    target = out or Path(f"ccb-{export_day.isoformat()}.csv")
    sessions = sessions_for(settings)
    try:
        with sessions() as session:
            count = export_notes(session, export_day, target)
    except FileExistsError as exc:
        raise fail(f"{target} already exists; choose another --out (an export is never overwritten)") from exc
    if as_json:
        print(json.dumps({"exported": count, "file": str(target)}))
    else:
        console.print(f"Exported {count} CCB note(s) to {target}.")


def ccb_post(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the counts as JSON")] = False,
) -> None:
    """Post the pending CCB notes to CCB's REST inbound service (ETEAM_CCB_ENDPOINT_URL).

    A note the endpoint refuses stays pending for the next run; none is ever dropped. The
    bearer token, if CCB needs one, comes from ETEAM_CCB_TOKEN (environment only).

    Example: ETEAM_CCB_ENDPOINT_URL=https://ccb.ladwp.example/notes eteam ccb post --json
    """
    settings = settings_of(ctx)
    if not settings.ccb_endpoint_url:
        raise fail("no CCB endpoint: set ETEAM_CCB_ENDPOINT_URL, or use `eteam ccb export` for a file")
    report = post_notes(sessions_for(settings), settings.ccb_endpoint_url, os.environ.get("ETEAM_CCB_TOKEN"))
    if as_json:
        print(json.dumps({"posted": report.posted, "failed": report.failed}))
    else:
        console.print(f"Posted {report.posted} CCB note(s); {report.failed} left pending for the next run.")
