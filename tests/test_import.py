"""`eteam import` reads Maildir, mbox and .eml files and stores each message once."""

import io
import mailbox
from pathlib import Path

import pytest
from rich.console import Console

from eteam import cli_support
from eteam.settings import DEMO_MAILBOX, Settings
from ingest.sources import iter_path
from tests.cli_env import Eteam

DEMO_COUNT = sum(1 for _ in iter_path(DEMO_MAILBOX))


@pytest.fixture
def eteam(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> Eteam:
    return Eteam(monkeypatch, settings.database_url, settings.active_model_path, tmp_path / "var")


def test_maildir_twice_stores_nothing_new(eteam: Eteam) -> None:
    first = eteam.json("import", str(DEMO_MAILBOX), "--json")
    assert first == {"seen": DEMO_COUNT, "stored": DEMO_COUNT, "duplicates": 0}
    second = eteam.json("import", str(DEMO_MAILBOX), "--json")
    assert second == {"seen": DEMO_COUNT, "stored": 0, "duplicates": DEMO_COUNT}
    assert len(eteam.json_lines("messages", "--json")) == DEMO_COUNT


def test_mbox_and_eml_files(eteam: Eteam, tmp_path: Path) -> None:
    raws = [raw for _, raw in iter_path(DEMO_MAILBOX)][:5]
    box = mailbox.mbox(tmp_path / "export.mbox")
    for raw in raws[:3]:
        box.add(raw)
    box.flush()
    box.close()
    for index, raw in enumerate(raws[3:]):
        (tmp_path / f"m{index}.eml").write_bytes(raw)
    report = eteam.json(
        "import", str(tmp_path / "export.mbox"), str(tmp_path / "m0.eml"), str(tmp_path / "m1.eml"), "--json"
    )
    assert report == {"seen": 5, "stored": 5, "duplicates": 0}
    stored = {row["message_id"] for row in eteam.json_lines("messages", "--json")}
    assert len(stored) == 5


def test_mbox_round_trip_keeps_bytes(tmp_path: Path) -> None:
    raw = b"From: a@b.example\nSubject: hi\nMessage-ID: <x@b.example>\n\nFrom the start\n>From quoted\n"
    box = mailbox.mbox(tmp_path / "one.mbox")
    box.add(raw)
    box.close()
    [(_, read_back)] = list(iter_path(tmp_path / "one.mbox"))
    assert b"Message-ID: <x@b.example>" in read_back
    assert b"From the start" in read_back


def test_missing_path_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from eteam.cli import app

    monkeypatch.setenv("ETEAM_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(app, ["import", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


def test_concurrent_importers_store_each_message_once(settings: Settings) -> None:
    """Two importers racing over the same mailbox: no batch fails, nothing is stored twice."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func, select

    from ingest.store import store_stream
    from models import Message
    from models.db import make_engine, make_session_factory

    sessions = make_session_factory(make_engine(settings.database_url))

    def import_all(batch_size: int) -> int:
        with sessions() as session:
            return store_stream(session, iter_path(DEMO_MAILBOX), batch_size=batch_size).stored

    with ThreadPoolExecutor(max_workers=2) as pool:
        stored = sum(pool.map(import_all, [7, 11]))
    with sessions() as session:
        count = session.scalar(select(func.count()).select_from(Message))
    assert stored == count == DEMO_COUNT


def test_long_imports_show_a_live_count_on_a_terminal(eteam: Eteam, monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC 8: long work shows progress; the counter goes to stderr, and only on a terminal."""
    screen = io.StringIO()
    monkeypatch.setattr(cli_support, "err_console", Console(file=screen, force_terminal=True, width=80))
    result = eteam("import", str(DEMO_MAILBOX))
    assert f"Read {DEMO_COUNT} message(s)" in result.stdout
    assert f"read {DEMO_COUNT}" in screen.getvalue()  # the live counter reached the total (then was cleared)
    quiet = Console(file=io.StringIO(), force_terminal=False)
    monkeypatch.setattr(cli_support, "err_console", quiet)
    with cli_support.progress_counter(True, "read") as advance:
        assert advance is None  # a pipe or a file gets no counter
    with cli_support.progress_counter(False, "read") as advance:
        assert advance is None  # nor does --json
