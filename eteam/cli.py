"""The `eteam` command line: every command has help with an example.

Settings are read once here, at the entry point, and passed down; nothing below reads the
environment. Commands that report figures take `--json` for machines and print a readable
table for people.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eteam.cli_support import (
    build_services,
    console,
    ensure_model,
    fail,
    progress_counter,
    sessions_for,
    settings_of,
)
from eteam.ingest_command import ingest
from eteam.messages import message_rows
from eteam.model_commands import classify, evaluate_, train
from eteam.pipeline import build_stages, process_pending
from eteam.send_command import ccb_export, ccb_post, send
from eteam.worker_command import worker
from eteam.settings import DEMO_MAILBOX, Settings, load_settings
from ingest.sources import UnknownSourceError, iter_paths
from ingest.store import store_stream
from models import OutboundReply, ServiceRequest
from models.db import upgrade
from respond.render import Renderer
from respond.routing import RoutingTable

app = typer.Typer(
    help="E-Team Inbox: ingest, classify, route and answer LADWP customer mail.",
    no_args_is_help=True,
    add_completion=False,
)
DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


@app.callback()
def main(ctx: typer.Context) -> None:
    """Read the settings once (ETEAM_* environment, optional ETEAM_CONFIG TOML file)."""
    try:
        ctx.obj = load_settings()
    except Exception as exc:  # pydantic and file errors: show what is wrong, not a traceback
        raise fail(f"bad settings: {exc}") from exc


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or upgrade the database and train the bundled model if there is none.

    Example: eteam init
    """
    settings = settings_of(ctx)
    upgrade(settings.database_url)
    RoutingTable.load()
    Renderer()
    model = ensure_model(settings)
    console.print(f"Database ready at {settings.database_url}; model {model.version}.")


@app.command("import")
def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help=".eml files, mbox files or Maildir folders")],
    as_json: Annotated[bool, typer.Option("--json", help="print counts as JSON")] = False,
) -> None:
    """Store messages from files; a message already stored is skipped.

    Example: eteam import eteam/demo/mailbox ~/exports/contact-us.mbox
    """
    settings = settings_of(ctx)
    sessions = sessions_for(settings)
    try:
        with sessions() as session, progress_counter(not as_json, "read") as advance:
            report = store_stream(session, iter_paths(paths), progress=advance)
    except UnknownSourceError as exc:
        raise fail(f"{exc}; give .eml files, mbox files or Maildir folders") from exc
    result = {"seen": report.seen, "stored": report.stored, "duplicates": report.duplicates}
    if as_json:
        print(json.dumps(result))
    else:
        console.print(
            f"Read {report.seen} message(s): {report.stored} stored, {report.duplicates} already stored."
        )


def _run_process(settings: Settings, show_progress: bool) -> dict[str, Any]:
    services = build_services(settings)
    with progress_counter(show_progress, "processed") as advance:
        report = process_pending(
            sessions_for(settings), build_stages(services), workers=settings.prepare_workers, progress=advance
        )
    return {"processed": report.processed, "quarantined": report.quarantined, "actions": dict(report.actions)}


@app.command()
def process(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print counts as JSON")] = False,
) -> None:
    """Classify, route and respond to every stored message not yet processed.

    Example: eteam process --json
    """
    result = _run_process(settings_of(ctx), not as_json)
    if as_json:
        print(json.dumps(result))
    else:
        console.print(
            f"Processed {result['processed']}, quarantined {result['quarantined']}: {result['actions']}"
        )


@app.command()
def messages(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per message per line")] = False,
    status: Annotated[str | None, typer.Option(help="only this status: received, processed, quarantined")] = None,
    limit: Annotated[int | None, typer.Option(help="at most this many, newest last")] = None,
) -> None:
    """List stored messages with their kind, intent, action and queue.

    Example: eteam messages --json --status quarantined
    """
    settings = settings_of(ctx)
    with sessions_for(settings)() as session:
        rows = message_rows(session, status=status, limit=limit)
        if as_json:
            for row in rows:
                print(json.dumps(row, ensure_ascii=False))
            return
        table = Table("id", "kind", "intent", "conf", "action", "queue", "SR", "lang", "reason")
        for row in rows:
            table.add_row(
                str(row["id"]),
                row["kind"],
                row["intent"] or "",
                f"{row['confidence']:.2f}" if row["confidence"] is not None else "",
                row["action"] or "",
                row["queue"] or "",
                row["sr_number"] or "",
                row["lang"] or "",
                (row["reason"] or "")[:50],
            )
        console.print(table)


def demo_summary(session: Session) -> dict[str, Any]:
    """Counts per kind, intent and action, plus what went to the outbox and cases."""
    rows = message_rows(session)
    return {
        "messages": len(rows),
        "kind": dict(Counter(row["kind"] for row in rows)),
        "intent": dict(Counter(row["intent"] for row in rows if row["intent"])),
        "action": dict(Counter(row["action"] for row in rows if row["action"])),
        "status": dict(Counter(row["status"] for row in rows)),
        "outbox": dict(
            session.execute(select(OutboundReply.status, func.count()).group_by(OutboundReply.status)).all()
        ),
        "service_requests": session.scalar(select(func.count()).select_from(ServiceRequest)),
    }


def _print_summary(summary: dict[str, Any]) -> None:
    console.print(f"[bold]{summary['messages']} messages[/bold], {summary['service_requests']} service requests")
    for key in ("kind", "action", "intent", "outbox"):
        table = Table(key, "count", title=f"by {key}")
        for name, count in sorted(summary[key].items(), key=lambda pair: -pair[1]):
            table.add_row(str(name), str(count))
        console.print(table)


@app.command()
def demo(
    ctx: typer.Context,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="do not start the dashboard")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Run the whole pipeline on the bundled sample mailbox, summarise, then open the dashboard.

    Example: eteam demo --no-dashboard --json
    """
    settings = settings_of(ctx)
    upgrade(settings.database_url)
    with sessions_for(settings)() as session:
        imported = store_stream(session, iter_paths([DEMO_MAILBOX]))
    processed = _run_process(settings, not as_json)
    with sessions_for(settings)() as session:
        summary = demo_summary(session)
    summary["imported"] = {"stored": imported.stored, "duplicates": imported.duplicates}
    summary["processed"] = processed["processed"]
    summary["quarantined"] = processed["quarantined"]
    if as_json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    if not no_dashboard:
        _start_dashboard(settings)


def _start_dashboard(settings: Settings) -> None:
    console.print(f"Dashboard on http://{settings.dashboard_host}:{settings.dashboard_port} (Ctrl-C stops it)")
    env = {**os.environ, "ETEAM_DATABASE_URL": settings.database_url}
    command = [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP),
        "--server.address", settings.dashboard_host,
        "--server.port", str(settings.dashboard_port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
    ]
    try:
        subprocess.run(command, env=env, check=False)
    except KeyboardInterrupt:
        pass


@app.command()
def dashboard(ctx: typer.Context) -> None:
    """Serve the Streamlit dashboard on 127.0.0.1 (ETEAM_DASHBOARD_PORT, default 8501).

    Example: ETEAM_DASHBOARD_PORT=8600 eteam dashboard
    """
    _start_dashboard(settings_of(ctx))


app.command()(train)
app.command("evaluate")(evaluate_)
app.command()(classify)
app.command()(ingest)
app.command()(send)
app.command()(worker)

ccb_app = typer.Typer(
    help="The CCB notes outbox: export pending notes for upload, or post them to CCB.\n\n"
    "Example: eteam ccb export --date 2026-11-24 --out ccb-2026-11-24.csv",
    no_args_is_help=True,
)
ccb_app.command("export")(ccb_export)
ccb_app.command("post")(ccb_post)
app.add_typer(ccb_app, name="ccb")


if __name__ == "__main__":
    app()
