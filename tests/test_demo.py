"""`eteam demo` on the bundled mailbox: every message stored, classified, routed as a user expects."""

import csv
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from sqlalchemy import select

from eteam.messages import MESSAGE_KEYS
from eteam.settings import DEMO_MAILBOX
from models import OutboundReply
from models.db import make_engine, make_session_factory
from tests.cli_env import Eteam
from tests.conftest import fresh_database

EXPECTED_CSV = DEMO_MAILBOX.parent / "expected.csv"


def expected_by_message_id() -> dict[str, dict[str, str]]:
    """expected.csv keyed by each file's Message-ID."""
    rows = {}
    with EXPECTED_CSV.open(newline="") as handle:
        for row in csv.DictReader(handle):
            raw = (DEMO_MAILBOX / "new" / row["file"]).read_bytes()
            message_id = BytesHeaderParser().parsebytes(raw)["Message-ID"].strip()
            rows[message_id] = row
    return rows


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, trained_model_path: Path
) -> Iterator[tuple[Eteam, dict, list[dict], str]]:
    """One `eteam demo` per backend, shared by the module's checks (it takes a few seconds)."""
    directory = tmp_path_factory.mktemp(f"demo-{request.param}")
    url = fresh_database(request, request.param, directory)
    with pytest.MonkeyPatch.context() as monkeypatch:
        eteam = Eteam(monkeypatch, url, trained_model_path, directory / "var")
        summary = eteam.json("demo", "--no-dashboard", "--json")
        yield eteam, summary, eteam.json_lines("messages", "--json"), url


def test_summary_counts_every_message(demo_run: tuple) -> None:
    _, summary, rows, _ = demo_run
    expected = expected_by_message_id()
    assert summary["messages"] == len(expected) == len(rows)
    assert summary["quarantined"] == 0
    assert sum(summary["kind"].values()) == len(expected)
    assert sum(summary["action"].values()) == len(expected)


def test_messages_json_has_the_stable_keys(demo_run: tuple) -> None:
    _, _, rows, _ = demo_run
    for row in rows:
        assert tuple(row) == MESSAGE_KEYS


def test_kinds_match_what_a_reader_sees(demo_run: tuple) -> None:
    _, _, rows, _ = demo_run
    expected = expected_by_message_id()
    wrong = [
        (row["message_id"], expected[row["message_id"]]["kind"], row["kind"])
        for row in rows
        if expected[row["message_id"]]["kind"] != row["kind"]
        and not (row["kind"] == "reply" and expected[row["message_id"]]["kind"] in ("customer", "webform"))
    ]
    assert wrong == []


def test_intents_mostly_right(demo_run: tuple) -> None:
    _, _, rows, _ = demo_run
    expected = expected_by_message_id()
    labelled = [row for row in rows if expected[row["message_id"]]["intent"]]
    right = [row for row in labelled if row["intent"] == expected[row["message_id"]]["intent"]]
    accuracy = len(right) / len(labelled)
    print(f"demo intent accuracy {accuracy:.3f} on {len(labelled)} messages")
    assert accuracy >= 0.85


def test_automatic_mail_gets_nothing(demo_run: tuple) -> None:
    _, _, rows, url = demo_run
    automatic = [row for row in rows if row["kind"] in ("auto", "bounce")]
    assert automatic and all(row["action"] == "suppress" and row["reason"] for row in automatic)
    sessions = make_session_factory(make_engine(url))
    with sessions() as session:
        answered = set(session.scalars(select(OutboundReply.message_id)))
    assert not answered & {row["id"] for row in automatic}


def test_outages_recorded_and_reports_linked(demo_run: tuple) -> None:
    _, _, rows, _ = demo_run
    broadcasts = [row for row in rows if row["kind"] == "outage_broadcast"]
    assert {row["outage_id"] for row in broadcasts} == {"OUT-261123-07", "OUT-261122-03"}
    assert all(row["action"] == "outage_update" for row in broadcasts)
    linked = [row for row in rows if row["action"] == "outage_link"]
    assert len(linked) >= 2
    assert all(row["outage_id"] in {"OUT-261123-07", "OUT-261122-03"} for row in linked)
    # an outage report answered with a trouble ticket is never from inside an active outage
    ticketed = [row for row in rows if row["intent"] == "outage" and row["action"] == "service_request"]
    assert all(row["zip"] not in {"91401", "91405", "91411", "90026"} for row in ticketed)
    assert all(row["outage_id"] is None for row in rows if row["action"] not in ("outage_link", "outage_update"))


def test_service_requests_carry_numbers(demo_run: tuple) -> None:
    _, summary, rows, _ = demo_run
    opened = [row for row in rows if row["action"] == "service_request"]
    assert opened and all(row["sr_number"] for row in opened)
    assert summary["service_requests"] == len({row["sr_number"] for row in opened})


def test_pii_is_flagged(demo_run: tuple) -> None:
    _, _, rows, _ = demo_run
    flagged = {kind for row in rows for kind in row["pii"]}
    assert {"ssn_last4", "card"} <= flagged


def test_demo_twice_stores_nothing_new(demo_run: tuple) -> None:
    eteam, summary, _, _ = demo_run
    again = eteam.json("demo", "--no-dashboard", "--json")
    assert again["imported"] == {"stored": 0, "duplicates": summary["messages"]}
    assert again["processed"] == 0
