"""A backlog is prepared in worker processes with the same outcome as in this process."""

from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import default
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from eteam.pipeline import build_stages, process_pending
from eteam.prepare import Preparable
from eteam.settings import DEMO_MAILBOX, Settings
from eteam.stages import Services
from ingest.sources import iter_path
from ingest.store import store_stream
from models import Message
from models.db import make_engine, make_session_factory, upgrade


class BreaksOnPower:
    """A preparing step that raises, inside the worker, on messages that mention power."""

    name = "breaks_on_power"

    def prepare(self, items: Sequence[Preparable]) -> None:
        for item in items:
            if item.parsed is not None and "power" in item.parsed.subject.lower():
                raise ValueError("no power here")

    def run(self, item: object) -> None:
        """Nothing to write."""


def demo_database(url: str) -> sessionmaker[Session]:
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    with sessions() as session:
        store_stream(session, iter_path(DEMO_MAILBOX))
    return sessions


def outcomes(sessions: sessionmaker[Session]) -> dict[str, tuple[object, ...]]:
    with sessions() as session:
        return {
            m.message_id: (
                m.status, m.kind, m.action, m.queue, m.lang, m.reason,
                [c.intent for c in m.classifications], m.service_request is not None,
            )
            for m in session.scalars(select(Message))
        }


def test_workers_give_the_same_outcome_as_one_process(settings: Settings, services: Services, tmp_path: Path) -> None:
    """In-process on SQLite against workers forked beside an open connection (SQLite or PostgreSQL)."""
    alone, pooled = demo_database(f"sqlite:///{tmp_path / 'alone.db'}"), demo_database(settings.database_url)
    first = process_pending(alone, build_stages(services), batch_size=10)
    second = process_pending(pooled, build_stages(services), batch_size=10, workers=2)
    assert first.processed > 60 and (second.processed, second.quarantined) == (first.processed, first.quarantined)
    assert outcomes(pooled) == outcomes(alone)


def test_a_step_failing_in_a_worker_quarantines_only_its_message(settings: Settings, services: Services) -> None:
    sessions = demo_database(settings.database_url)
    stages = build_stages(services)
    stages.insert(1, BreaksOnPower())
    report = process_pending(sessions, stages, batch_size=10, workers=1)
    with sessions() as session:
        quarantined = session.scalars(select(Message).where(Message.status == "quarantined")).all()
        assert quarantined and report.quarantined == len(quarantined)
        assert all("power" in str(BytesHeaderParser(policy=default).parsebytes(m.raw)["Subject"]).lower()
                   for m in quarantined)
        assert {m.reason for m in quarantined} == {"breaks_on_power: ValueError: no power here"}
        assert session.scalars(select(Message).where(Message.status == "received")).all() == []
