"""The runner: steps in order, a failing step quarantines one message, nothing runs twice."""

import threading
from email.parser import BytesHeaderParser
from email.policy import default

import pytest
from sqlalchemy import select

from eteam.pipeline import DEFAULT_STAGES, build_stages, process_pending
from eteam.settings import DEMO_MAILBOX, Settings
from eteam.stages import WRITTEN_COLUMNS, ClaimedMessage, Services, WorkItem
from ingest.sources import iter_path
from ingest.store import store_stream
from models import Event, Message, OutboundReply
from models.db import make_engine, make_session_factory


class Explode:
    """A step that fails on messages whose subject mentions a keyword."""

    name = "explode"

    def run(self, item: WorkItem) -> None:
        if "power" in item.message.subject.lower():
            raise RuntimeError("boom on purpose")


def subject_of(raw: bytes) -> str:
    return str(BytesHeaderParser(policy=default).parsebytes(raw)["Subject"]).lower()


def store_demo(settings: Settings) -> int:
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        return store_stream(session, iter_path(DEMO_MAILBOX)).stored


def test_claimed_copy_starts_as_the_stored_row(settings: Settings) -> None:
    """The steps work on a plain copy of each message that is written back whole, so its
    defaults must be the stored row's, and a column added to the model must not be forgotten."""
    store_demo(settings)
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        stored = session.scalars(select(Message).order_by(Message.id)).first()
    assert stored is not None
    claimed = ClaimedMessage(id=stored.id, message_id=stored.message_id, created_at=stored.created_at)
    values = claimed.values()
    for column in Message.__table__.c.keys():
        if column in ("id", "content_hash", "source", "raw", "message_id", "created_at"):
            assert column not in values  # the importer's, never rewritten
        else:
            assert values[column] == getattr(stored, column), column
    assert set(WRITTEN_COLUMNS) | {"service_request_id", "outage_id"} == set(values) - {"message_pk"}


def test_unknown_stage_is_refused(services: Services) -> None:
    with pytest.raises(ValueError, match="unknown pipeline stage"):
        build_stages(services, ("parse", "teleport"))


def test_failing_step_quarantines_and_run_goes_on(settings: Settings, services: Services) -> None:
    stored = store_demo(settings)
    stages = build_stages(services)
    stages.insert(1, Explode())
    sessions = make_session_factory(make_engine(settings.database_url))
    report = process_pending(sessions, stages)
    assert report.processed + report.quarantined == stored
    assert report.quarantined >= 1
    with sessions() as session:
        quarantined = session.scalars(select(Message).where(Message.status == "quarantined")).all()
        assert quarantined and all("power" in subject_of(m.raw) for m in quarantined)
        for message in quarantined:
            assert message.quarantine_stage == "explode"
            assert message.reason == "explode: RuntimeError: boom on purpose"
            assert message.raw  # kept whole, recoverable
            assert message.classifications == []  # the savepoint undid the half-done work
        events = session.scalars(select(Event).where(Event.kind == "quarantined")).all()
        assert len(events) == len(quarantined)


def test_rerun_processes_nothing_twice(settings: Settings, services: Services) -> None:
    store_demo(settings)
    sessions = make_session_factory(make_engine(settings.database_url))
    first = process_pending(sessions, build_stages(services))
    second = process_pending(sessions, build_stages(services))
    assert first.processed > 0
    assert (second.processed, second.quarantined) == (0, 0)
    with sessions() as session:
        classified = session.scalars(select(Event).where(Event.kind == "classified")).all()
        assert len({e.message_id for e in classified}) == len(classified)


def test_default_order_is_data() -> None:
    assert DEFAULT_STAGES == ("parse", "thread", "extract", "classify", "route", "respond")


def test_concurrent_runners_process_each_message_once(settings: Settings, services: Services) -> None:
    """Three runners at once over one database (SKIP LOCKED on PostgreSQL): each message once."""
    stored = store_demo(settings)
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            process_pending(make_session_factory(make_engine(settings.database_url)), build_stages(services), batch_size=8)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        statuses = session.scalars(select(Message.status)).all()
        assert len(statuses) == stored and set(statuses) <= {"processed", "quarantined"}
        classified = session.scalars(select(Event.message_id).where(Event.kind == "classified")).all()
        assert len(classified) == len(set(classified))
        answered = session.scalars(
            select(OutboundReply.message_id).where(OutboundReply.template != "restoration_notice")
        ).all()
        assert answered and len(answered) == len(set(answered))
