"""The dashboard's figures, checked against a fixture inbox whose answers were worked out by hand.

These are the numbers a lead would check by eye: how many messages wait in each queue and for
how long, what the current intents are, how many reports an outage has, why mail is quarantined.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from dashboard import queries
from models.db import make_engine, make_session_factory, upgrade
from tests.dashboard_fixtures import (
    ACTIVE_OUTAGE,
    FIXTURE_NOW,
    PARSE_FAILURE,
    RENDER_FAILURE,
    RESTORED_OUTAGE,
    build_fixture_database,
    empty_database_url,
)


@contextmanager
def _session(url: str) -> Iterator[Session]:
    """A session on `url` whose engine is disposed afterwards (no file handles left open)."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """One fixture inbox for the whole module: the queries only read."""
    with _session(build_fixture_database(tmp_path_factory.mktemp("inbox"))) as session:
        yield session


def test_queue_summary_counts_open_messages_and_their_age(session: Session) -> None:
    """The lead's first look: what waits in each queue, and for how long."""
    summaries = queries.queue_summary(session, FIXTURE_NOW)

    table = {s.queue: (s.open, s.total, s.oldest_open_age) for s in summaries}
    assert table == {
        "Billing": (3, 5, timedelta(days=2)),
        "Outage": (2, 5, timedelta(hours=3)),
        "Field Investigation": (1, 1, timedelta(days=3, hours=4)),
        "Triage": (1, 1, timedelta(days=1, hours=2)),
    }
    assert [s.queue for s in summaries] == ["Billing", "Outage", "Field Investigation", "Triage"]
    billing = summaries[0]
    assert billing.open_by_action == {"draft": 1, "sr": 1, "sr_update": 1}
    assert billing.oldest_open_received_at == FIXTURE_NOW - timedelta(days=2)
    assert summaries[1].open_by_action == {"outage_link": 2}


def test_sent_replies_solved_cases_and_quarantine_close_a_message(session: Session) -> None:
    """Queued replies keep a message open; a sent one, a solved case or quarantine do not."""
    summaries = {s.queue: s for s in queries.queue_summary(session, FIXTURE_NOW)}
    billing, outage = summaries["Billing"], summaries["Outage"]
    assert billing.total - billing.open == 2  # the auto-answered one and the solved case
    assert "auto_reply" not in billing.open_by_action
    assert outage.total - outage.open == 3  # two answered, one quarantined


def test_counts_by_kind_include_messages_without_a_kind(session: Session) -> None:
    """An unparseable message has no kind, but still counts in the total."""
    assert queries.counts_by_kind(session) == {
        "customer": 9,
        "webform": 3,
        "outage_broadcast": 2,
        queries.NONE_LABEL: 1,
        "auto": 1,
        "bounce": 1,
        "reply": 1,
    }


def test_counts_by_intent_use_the_newest_classification(session: Session) -> None:
    """A reclassified message counts once, under its current intent."""
    counts = queries.counts_by_intent(session)
    assert counts == {
        "outage": 5,
        "high_bill": 3,
        "bill_explanation": 1,
        "meter_reading": 1,
        "other": 1,
        "payment_arrangement": 1,
    }
    assert "complaint" not in counts  # the Triage message's first, superseded verdict


def test_counts_by_action_count_every_message(session: Session) -> None:
    """Unrouted messages are counted as (none) rather than dropped."""
    counts = queries.counts_by_action(session)
    assert counts["outage_link"] == 5
    assert counts["sr"] == 3
    assert counts[queries.NONE_LABEL] == 2  # not yet routed, and the unparseable one
    assert sum(counts.values()) == 18


def test_recent_messages_newest_first_with_current_intent(session: Session) -> None:
    """The list shows who wrote (the customer, not the form mailer) and the current verdict."""
    frame = queries.recent_messages(session)

    assert list(frame.columns) == queries.MESSAGE_COLUMNS
    assert len(frame) == 18
    assert frame["received_at"].is_monotonic_decreasing
    assert frame.iloc[0]["subject"] == "Start service at new apartment"
    triage = frame[frame["queue"] == "Triage"].iloc[0]
    assert (triage["intent"], triage["confidence"]) == ("other", 0.52)
    webform = frame[frame["subject"] == "Contact Us: Billing"].iloc[0]
    assert webform["from"] == "dan.kim@example.com"  # the customer (Reply-To), not the site


def test_recent_messages_filters_and_limits(session: Session) -> None:
    """Filtering by queue and the row limit happen in SQL, newest first."""
    outage_queue = queries.recent_messages(session, queue="Outage")
    assert list(outage_queue["subject"]) == [
        "Lights out since noon",
        "Se fue la luz en Van Nuys",
        "Power out on Sepulveda",
        "Contact Us: Outage",
        "No water on Echo Park Ave",
    ]
    assert list(queries.recent_messages(session, limit=3)["subject"]) == [
        "Start service at new apartment",
        "Lights out since noon",
        "Se fue la luz en Van Nuys",
    ]
    assert queries.recent_messages(session, queue="Solar").empty
    assert queries.queue_names(session) == ["Billing", "Field Investigation", "Outage", "Triage"]


def test_outages_lists_active_and_recently_restored_with_linked_counts(session: Session) -> None:
    """Active outages first, recently restored ones after, old ones dropped; reports counted."""
    listed = queries.outages(session, FIXTURE_NOW)

    assert [(o.ref, o.status, o.active, o.linked_messages) for o in listed] == [
        (ACTIVE_OUTAGE, "Active", True, 3),
        (RESTORED_OUTAGE, "Restored", False, 1),
    ]  # the outage restored 52 days ago is no longer listed
    assert listed[0].customers_affected == 3450
    assert listed[0].areas == ["Van Nuys"]
    reports = queries.recent_messages(session, outage_id=listed[0].id)
    assert len(reports) == 3
    assert set(reports["intent"]) == {"outage"}


def test_quarantined_shows_stage_and_reason_newest_first(session: Session) -> None:
    """Whoever clears quarantine needs to know which stage gave up, and why."""
    frame = queries.quarantined(session)

    assert list(frame.columns) == queries.QUARANTINE_COLUMNS
    assert list(zip(frame["stage"], frame["reason"])) == [
        ("respond", RENDER_FAILURE),
        ("parse", PARSE_FAILURE),
    ]


def test_has_messages_is_false_until_there_is_a_message(tmp_path: Path) -> None:
    """Before `eteam init` and before any import the dashboard shows its empty state."""
    missing_url = empty_database_url(tmp_path)
    with _session(missing_url) as session:
        assert not queries.has_messages(session)
    assert not Path(missing_url.removeprefix("sqlite:///")).exists()  # looking creates nothing

    upgrade(missing_url)
    with _session(missing_url) as session:
        assert not queries.has_messages(session)
        assert queries.queue_summary(session, FIXTURE_NOW) == []
        assert queries.outages(session, FIXTURE_NOW) == []
        assert queries.recent_messages(session).empty


def test_subjects_are_pii_masked(tmp_path: Path) -> None:
    """A card number typed into a subject line never reaches the dashboard."""
    from models import Message

    url = f"sqlite:///{tmp_path / 'pii.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    with sessions.begin() as session:
        session.add(
            Message(message_id="<pii@x>", content_hash="h", raw=b"", status="processed", queue="Billing",
                    kind="customer", subject="charge on card 4111 1111 1111 1111", action="human")
        )
    with sessions() as session:
        subjects = list(queries.recent_messages(session)["subject"])
    assert subjects == ["charge on card [CARD ****1111]"]


def test_corrections_since_counts_only_newer(tmp_path: Path) -> None:
    """Only corrections made after the active model was trained are waiting to be learnt."""
    from datetime import datetime, timezone

    from models import Correction, Message

    url = f"sqlite:///{tmp_path / 'corrections.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    with sessions.begin() as session:
        message = Message(message_id="<c@x>", content_hash="h", raw=b"", status="processed")
        session.add(message)
        session.flush()
        for day in (1, 10, 20):
            session.add(Correction(message_id=message.id, old_intent="other", new_intent="high_bill",
                                   created_at=datetime(2026, 11, day, tzinfo=timezone.utc)))
    with sessions() as session:
        assert queries.corrections_since(session, None) == 3
        assert queries.corrections_since(session, datetime(2026, 11, 5, tzinfo=timezone.utc)) == 2
