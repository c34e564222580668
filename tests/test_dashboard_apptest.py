"""The dashboard app run headless by Streamlit's AppTest against the fixture inbox.

Checks what a lead sees: the queue table with the fixture's queues and counts, page switching
in the sidebar, the outage list, and the friendly empty state before any mail was imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from models.db import upgrade
from tests.dashboard_fixtures import (
    ACTIVE_OUTAGE,
    OLD_OUTAGE,
    PARSE_FAILURE,
    RESTORED_OUTAGE,
    build_fixture_database,
    empty_database_url,
)

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
EMPTY_STATE = "No messages yet — run `eteam import` or `make demo`"


@pytest.fixture(autouse=True)
def fresh_resources() -> Iterator[None]:
    """Each test points ETEAM_DATABASE_URL elsewhere, but the app caches its engine per process."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def run_app(monkeypatch: pytest.MonkeyPatch, database_url: str) -> AppTest:
    """Run the app once, as `eteam dashboard` would start it: settings from the environment."""
    monkeypatch.setenv("ETEAM_DATABASE_URL", database_url)
    monkeypatch.delenv("ETEAM_CONFIG", raising=False)
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not app.exception, app.exception
    return app


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app on a fresh fixture inbox whose ages are measured from the real clock."""
    return run_app(monkeypatch, build_fixture_database(tmp_path, now=datetime.now(timezone.utc)))


def go_to(app: AppTest, page: str) -> AppTest:
    """Pick a page in the sidebar, as a user would, and check it rendered cleanly."""
    app.sidebar.radio(key="page").set_value(page).run()
    assert not app.exception, app.exception
    assert app.header[0].value == page
    return app


def test_queues_page_shows_each_queue_with_open_count_and_age(app: AppTest) -> None:
    """The landing page: the queue table and the headline figures, ages from the real clock."""
    assert app.title[0].value == "E-Team Inbox"
    assert app.header[0].value == "Queues"
    table = app.table[0].value
    rows = {
        row["Queue"]: (row["Open"], row["Oldest open"], row["Total"]) for _, row in table.iterrows()
    }
    assert rows == {
        "Billing": (3, "2 d 0 h", 5),
        "Outage": (2, "3 h 0 m", 5),
        "Field Investigation": (1, "3 d 4 h", 1),
        "Triage": (1, "1 d 2 h", 1),
    }
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Open messages"] == "7"
    assert metrics["Oldest open"] == "3 d 4 h"


def test_outages_page_lists_the_active_outage_with_its_reports(app: AppTest) -> None:
    """Switching pages in the sidebar reaches the outages, active first, with linked reports."""
    go_to(app, "Outages")

    outages = app.dataframe[0].value
    assert list(outages["Outage ID"]) == [ACTIVE_OUTAGE, RESTORED_OUTAGE]
    assert OLD_OUTAGE not in set(outages["Outage ID"])
    assert list(outages["Linked reports"]) == [3, 1]
    reports = app.dataframe[1].value
    assert len(reports) == 3


def test_messages_page_filters_by_queue(app: AppTest) -> None:
    """Picking a queue narrows the list to that queue's messages."""
    go_to(app, "Messages")
    assert len(app.dataframe[0].value) == 18

    app.selectbox(key="queue").set_value("Triage").run()
    assert not app.exception, app.exception
    messages = app.dataframe[0].value
    assert list(messages["subject"]) == ["question about something"]
    assert list(messages["intent"]) == ["other"]


def test_quarantine_page_shows_reasons(app: AppTest) -> None:
    """Quarantined mail is listed with the reason it was set aside."""
    go_to(app, "Quarantine")
    assert PARSE_FAILURE in set(app.dataframe[0].value["reason"])


def test_empty_state_when_the_database_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh install: the dashboard explains what to do instead of failing."""
    app = run_app(monkeypatch, empty_database_url(tmp_path))
    assert app.title[0].value == "E-Team Inbox"
    assert [info.value for info in app.info] == [EMPTY_STATE]
    assert not app.table


def test_empty_state_when_the_database_has_no_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `eteam init` but before any mail: the same empty state."""
    url = empty_database_url(tmp_path)
    upgrade(url)
    app = run_app(monkeypatch, url)
    assert [info.value for info in app.info] == [EMPTY_STATE]


def test_an_unreadable_database_shows_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt file (or an unreachable server) is named in a readable error."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a SQLite database" * 100)
    app = run_app(monkeypatch, f"sqlite:///{broken}")
    assert len(app.error) == 1
    assert app.error[0].value.startswith(f"Cannot read the database at sqlite:///{broken}")


def test_model_page_shows_active_and_candidate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manager sees both models' hold-out figures, why the candidate is not live, and the backlog."""
    import json

    var = tmp_path / "var"
    var.mkdir()
    figures = {"macro_f1": 0.91, "coverage": 0.62, "accuracy_at_threshold": 0.985}
    (var / "models.json").write_text(json.dumps({
        "active": {"version": "v-active", "trained_at": "2026-11-01T00:00:00+00:00", "training_rows": 4000,
                   "corrections": 0, "holdout": figures, "reason": "first model"},
        "candidate": {"version": "v-new", "trained_at": "2026-11-24T00:00:00+00:00", "training_rows": 4010,
                      "corrections": 10, "holdout": {**figures, "macro_f1": 0.88},
                      "reason": "macro-F1 0.880 < active 0.910"},
        "history": [],
    }))
    monkeypatch.setenv("ETEAM_VAR_DIR", str(var))
    app = go_to(run_app(monkeypatch, build_fixture_database(tmp_path, now=datetime.now(timezone.utc))), "Model")
    table = app.dataframe[0].value
    assert list(table["Role"]) == ["active", "candidate"]
    assert list(table["Version"]) == ["v-active", "v-new"]
    assert "macro-F1 0.880" in table["Why"].iloc[1]
    assert app.metric[0].label.startswith("Agent corrections since")
