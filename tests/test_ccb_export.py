"""CCB notes leave the outbox only when their destination has them: CSV export and HTTP posting."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from eteam.send_command import ccb_export
from eteam.settings import Settings
from models import CcbNote
from models.db import make_engine, make_session_factory
from respond.cases import LOS_ANGELES, open_service_request
from respond.ccb import note_values
from respond.ccb_export import COLUMNS, export_notes, post_notes

NOV_24_EVENING = datetime(2026, 11, 24, 23, 30, tzinfo=LOS_ANGELES)  # already Nov 25 in UTC
NOV_23 = datetime(2026, 11, 23, 9, 0, tzinfo=LOS_ANGELES)
NOV_25 = datetime(2026, 11, 25, 9, 0, tzinfo=LOS_ANGELES)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def add_notes(sessions: sessionmaker[Session], *created: datetime) -> list[int]:
    """One note per time given, the first on a case; returns their ids."""
    with sessions.begin() as session:
        request = open_service_request(
            session, intent="high_bill", queue="Billing", customer_email="maria@example.com",
            customer_name="Maria Lopez", account_number="1234567890", urgent=False, now=NOV_23,
        )
        notes = []
        for n, moment in enumerate(created):
            values = note_values(
                note_type="customer_contact" if n else "premise",
                text=f"E-TEAM EMAIL note {n}, with a comma",
                account_number="1234567890" if n == 0 else None,
                message_id=None,
            )
            note = CcbNote(**values, service_request=request if n == 0 else None)
            note.created_at = moment.astimezone(timezone.utc)
            session.add(note)
            notes.append(note)
        session.flush()
        return [note.id for note in notes]


def statuses(sessions: sessionmaker[Session]) -> dict[int, str]:
    with sessions() as session:
        return dict(session.execute(select(CcbNote.id, CcbNote.status)).tuples().all())


def test_export_writes_the_day_and_earlier_pending_notes(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    earlier, evening, tomorrow = add_notes(sessions, NOV_23, NOV_24_EVENING, NOV_25)
    out = tmp_path / "ccb-2026-11-24.csv"
    with sessions() as session:
        assert export_notes(session, NOV_24_EVENING.date(), out) == 2
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [row["note_id"] for row in rows] == [str(earlier), str(evening)]
    assert rows[0]["note_type"] == "Premise Note" and rows[1]["note_type"] == "Customer Contact"
    assert rows[0]["sr_number"].startswith("261123-") and rows[1]["sr_number"] == ""
    assert rows[0]["account_number"] == "1234567890"
    assert rows[1]["created_at"] == "2026-11-25T07:30:00+00:00"
    assert rows[1]["text"] == "E-TEAM EMAIL note 1, with a comma"
    assert statuses(sessions) == {earlier: "exported", evening: "exported", tomorrow: "pending"}


def test_export_never_overwrites_a_file(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    [note] = add_notes(sessions, NOV_23)
    out = tmp_path / "ccb.csv"
    out.write_text("already uploaded\n", encoding="utf-8")
    with sessions() as session, pytest.raises(FileExistsError):
        export_notes(session, NOV_23.date(), out)
    assert out.read_text(encoding="utf-8") == "already uploaded\n"
    assert statuses(sessions) == {note: "pending"}


def test_ccb_export_command(sessions: sessionmaker[Session], settings: Settings, tmp_path: Path) -> None:
    add_notes(sessions, NOV_23)
    app = typer.Typer()
    app.command()(ccb_export)
    out = tmp_path / "ccb-2026-11-24.csv"
    result = CliRunner().invoke(app, ["--date", "2026-11-24", "--out", str(out), "--json"], obj=settings)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"exported": 1, "file": str(out)}
    again = CliRunner().invoke(app, ["--date", "2026-11-24", "--out", str(out)], obj=settings)
    assert again.exit_code == 1 and "already exists" in again.output
    bad = CliRunner().invoke(app, ["--date", "24/11/2026"], obj=settings)
    assert bad.exit_code == 1 and "YYYY-MM-DD" in bad.output


class CcbEndpoint(ThreadingHTTPServer):
    """A stand-in for CCB's inbound REST service: fails its first request, records the rest."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CcbHandler)
        self.requests = 0
        self.accepted: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/ccb/notes"


class _CcbHandler(BaseHTTPRequestHandler):
    server: CcbEndpoint

    def do_POST(self) -> None:  # http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests += 1
            first = self.server.requests == 1
            if not first:
                self.server.accepted.append(body)
                self.server.headers.append(dict(self.headers))
        self.send_response(500 if first else 201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base)
        """Keep the test output quiet."""


@pytest.fixture
def endpoint() -> Iterator[CcbEndpoint]:
    server = CcbEndpoint()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_post_retries_the_failed_note_and_never_drops_one(
    sessions: sessionmaker[Session], endpoint: CcbEndpoint
) -> None:
    ids = add_notes(sessions, NOV_23, NOV_23, NOV_25)
    first = post_notes(sessions, endpoint.url, token="s3cret")
    assert (first.posted, first.failed) == (2, 1)
    assert statuses(sessions) == {ids[0]: "pending", ids[1]: "posted", ids[2]: "posted"}

    second = post_notes(sessions, endpoint.url, token="s3cret")
    assert (second.posted, second.failed) == (1, 0)
    assert set(statuses(sessions).values()) == {"posted"}
    assert sorted(note["note_id"] for note in endpoint.accepted) == ids
    assert set(endpoint.accepted[0]) == set(COLUMNS)
    assert {h["Authorization"] for h in endpoint.headers} == {"Bearer s3cret"}
    assert {h["Idempotency-Key"] for h in endpoint.headers} == {f"eteam-ccb-note-{i}" for i in ids}


def test_post_stops_when_the_endpoint_is_down(sessions: sessionmaker[Session], endpoint: CcbEndpoint) -> None:
    ids = add_notes(sessions, NOV_23, NOV_23)
    url = endpoint.url
    endpoint.shutdown()
    endpoint.server_close()
    report = post_notes(sessions, url, timeout=2)
    assert (report.posted, report.failed) == (0, 1)
    assert statuses(sessions) == {i: "pending" for i in ids}


def test_ccb_post_command(
    sessions: sessionmaker[Session], settings: Settings, endpoint: CcbEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eteam.send_command import ccb_post

    add_notes(sessions, NOV_23, NOV_23)
    app = typer.Typer()
    app.command()(ccb_post)
    missing = CliRunner().invoke(app, ["--json"], obj=settings)
    assert missing.exit_code == 1 and "ETEAM_CCB_ENDPOINT_URL" in missing.output
    monkeypatch.setenv("ETEAM_CCB_TOKEN", "t0ken")
    configured = settings.model_copy(update={"ccb_endpoint_url": endpoint.url})
    first = CliRunner().invoke(app, ["--json"], obj=configured)
    second = CliRunner().invoke(app, ["--json"], obj=configured)
    assert json.loads(first.stdout) == {"posted": 1, "failed": 1}  # the stand-in refuses its first request
    assert json.loads(second.stdout) == {"posted": 1, "failed": 0}
    assert {h["Authorization"] for h in endpoint.headers} == {"Bearer t0ken"}
