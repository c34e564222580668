"""Agent reclassifications are stored, become training rows, and gate which model is active."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from classify.corrections import (
    CorrectionError,
    ModelRegistry,
    compare,
    corrections_data,
    current_intent,
    reclassify,
)
from classify.data import LabelledData, in_holdout, split_holdout
from classify.model import IntentModel
from eteam.cli import app
from models import Classification, Correction, Event, Message
from models.db import make_engine, make_session_factory

PHRASES = {
    "high_bill": ["my bill doubled this month", "why is my bill so high", "bill is way higher than usual",
                  "huge bill this month please review", "the bill tripled and nothing changed"],
    "outage": ["power is out on my street", "no electricity since noon", "the lights went out",
               "blackout in my neighborhood", "when will power be restored"],
    "water_problem": ["no water pressure at all", "brown water from the tap", "water main broke on my street",
                      "water gushing in the street", "tap water looks dirty"],
}
SUFFIXES = ["", " please help", " today", " asap", " thanks", " urgent", " again", " since yesterday"]


def corpus() -> LabelledData:
    data = LabelledData([], [])
    for label, phrases in PHRASES.items():
        for phrase in phrases:
            for suffix in SUFFIXES:
                data.texts.append(phrase + suffix)
                data.labels.append(label)
    return data


def write_csv(path: Path, data: LabelledData) -> Path:
    lines = ["text,label"] + [f"{t},{label}" for t, label in zip(data.texts, data.labels, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_message(session, text: str, intent: str | None = None) -> Message:  # type: ignore[no-untyped-def]
    raw = f"Subject: test\r\n\r\n{text}\r\n".encode()
    message = Message(
        message_id=f"<{hashlib.sha1(raw).hexdigest()}@example.com>",
        content_hash=hashlib.sha256(raw).hexdigest(),
        raw=raw,
        subject="test",
        text=text,
        new_text=text,
        kind="customer",
    )
    session.add(message)
    session.flush()
    if intent is not None:
        session.add(
            Classification(message_id=message.id, intent=intent, confidence=0.6, runners_up=[], model_version="m1")
        )
        session.flush()
    return message


def test_reclassify_stores_correction_classification_and_event(database_url: str) -> None:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        message = add_message(session, "my bill doubled this month", intent="outage")
        correction = reclassify(session, message.id, "high_bill", user_id=None)
        session.commit()
        assert correction.old_intent == "outage" and correction.new_intent == "high_bill"
        assert current_intent(session, message.id) == "high_bill"
        agent_rows = session.scalars(
            select(Classification).where(Classification.source == "agent", Classification.message_id == message.id)
        ).all()
        assert len(agent_rows) == 1 and agent_rows[0].confidence == 1.0
        event = session.scalars(select(Event).where(Event.kind == "reclassified")).one()
        assert event.message_id == message.id
        assert event.data == {"old_intent": "outage", "new_intent": "high_bill", "correction_id": correction.id}

        again = reclassify(session, message.id, "water_problem")
        session.commit()
        assert again.old_intent == "high_bill"
        assert session.scalar(select(Correction).where(Correction.id == again.id)) is not None
    engine.dispose()


def test_reclassify_refuses_unknown_message_and_empty_intent(database_url: str) -> None:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        message = add_message(session, "hello")
        with pytest.raises(CorrectionError, match="no message"):
            reclassify(session, message.id + 999, "outage")
        with pytest.raises(CorrectionError, match="intent"):
            reclassify(session, message.id, "  ")
        # a message never classified has no old intent
        assert reclassify(session, message.id, "other").old_intent is None
    engine.dispose()


def test_corrections_data_newest_label_masked_text(database_url: str) -> None:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        first = add_message(session, "lights out, my SSN is 123-45-6789", intent="other")
        second = add_message(session, "water everywhere on the street", intent="outage")
        add_message(session, "never corrected", intent="outage")
        reclassify(session, first.id, "complaint")
        reclassify(session, first.id, "outage")  # the newest correction wins
        reclassify(session, second.id, "water_problem")
        session.commit()
        data = corrections_data(session)
    engine.dispose()
    assert data.labels == ["outage", "water_problem"]
    assert "123-45-6789" not in data.texts[0] and "[SSN]" in data.texts[0]


def test_holdout_is_stable_and_keeps_labels_trainable() -> None:
    data = corpus()
    train, holdout = split_holdout(data)
    assert holdout.texts and all(in_holdout(t) for t in holdout.texts)
    assert not any(in_holdout(t) for t in train.texts)  # no label here is too rare to hold out
    bigger = LabelledData(data.texts + ["a brand new row"], data.labels + ["outage"])
    assert split_holdout(bigger)[1].texts[: len(holdout.texts)] == holdout.texts
    model = IntentModel.train(data.texts, data.labels)
    assert model.meta.training_rows == len(train.texts)  # the model never fits the hold-out
    assert model.meta.holdout["rows"] == len(holdout.texts)
    assert model.meta.metrics["n"] == len(holdout.texts)


def test_compare_promotes_only_when_no_worse() -> None:
    data = corpus()
    train, holdout = split_holdout(data)
    good = IntentModel.train(data.texts, data.labels)
    scrambled = [train.labels[(i + 7) % len(train.labels)] for i in range(len(train.labels))]
    bad = IntentModel.train(train.texts, scrambled, holdout_texts=holdout.texts, holdout_labels=holdout.labels)
    assert compare(good, None, holdout).promote
    assert compare(good, good, holdout).promote
    verdict = compare(bad, good, holdout)
    assert not verdict.promote and "worse" in verdict.reason
    assert verdict.active is not None and verdict.active["macro_f1"] > verdict.candidate["macro_f1"]


def test_registry_keeps_active_and_candidate(tmp_path: Path) -> None:
    data = corpus()
    model = IntentModel.train(data.texts, data.labels)
    registry = ModelRegistry(tmp_path / "models.json")
    assert registry.read() == {"active": None, "candidate": None, "history": []}
    registry.record("candidate", model, tmp_path / "candidate.skops", {"macro_f1": 0.5}, "worse")
    registry.refresh_active(model, tmp_path / "model.skops", {"macro_f1": 0.9})
    state = registry.read()
    assert state["candidate"]["holdout"] == {"macro_f1": 0.5}
    assert state["active"]["holdout"] == {"macro_f1": 0.9}
    registry.record("active", model, tmp_path / "model.skops", {"macro_f1": 0.95}, "better")
    state = registry.read()
    assert state["candidate"] is None and state["active"]["version"] == model.version
    assert [h["role"] for h in state["history"]] == ["candidate", "active"]


def test_train_command_uses_corrections_and_gates_promotion(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var = tmp_path / "var"
    monkeypatch.delenv("ETEAM_CONFIG", raising=False)
    monkeypatch.setenv("ETEAM_DATABASE_URL", database_url)
    monkeypatch.setenv("ETEAM_MODEL_PATH", str(var / "model.skops"))
    monkeypatch.setenv("ETEAM_VAR_DIR", str(var))
    csv = write_csv(tmp_path / "labels.csv", corpus())
    runner = CliRunner()

    def train(*extra: str) -> dict:  # type: ignore[type-arg]
        result = runner.invoke(app, ["train", "--data", str(csv), "--json", *extra], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    first = train()
    assert first["promoted"] and first["role"] == "active" and first["corrections"] == 0
    assert (var / "model.skops").is_file()

    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        message = add_message(session, "sparks flying from the pole outside", intent="water_problem")
        reclassify(session, message.id, "outage")
        session.commit()
    engine.dispose()

    second = train()
    assert second["corrections"] == 1 and second["promoted"], second
    registry = json.loads((var / "models.json").read_text())
    assert registry["active"]["version"] == second["version"] and registry["active"]["corrections"] == 1

    # a model on a different label set never silently replaces the active one
    other = LabelledData([f"question number {i} about {w}" for w in ("cats", "dogs") for i in range(20)],
                         ["cats"] * 20 + ["dogs"] * 20)
    csv_other = write_csv(tmp_path / "other.csv", other)
    result = runner.invoke(app, ["train", "--data", str(csv_other), "--json"], catch_exceptions=False)
    third = json.loads(result.stdout)
    assert not third["promoted"] and third["role"] == "candidate" and "labels differ" in third["reason"]
    assert (var / "candidate.skops").is_file()
    registry = json.loads((var / "models.json").read_text())
    assert registry["candidate"]["version"] == third["version"]
    assert registry["active"]["version"] == second["version"]


def test_train_command_without_database_notes_and_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    var = tmp_path / "var"
    monkeypatch.delenv("ETEAM_CONFIG", raising=False)
    monkeypatch.setenv("ETEAM_DATABASE_URL", f"sqlite:///{tmp_path / 'absent' / 'eteam.db'}")
    monkeypatch.setenv("ETEAM_VAR_DIR", str(var))
    monkeypatch.delenv("ETEAM_MODEL_PATH", raising=False)
    csv = write_csv(tmp_path / "labels.csv", corpus())
    result = CliRunner().invoke(app, ["train", "--data", str(csv), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome["corrections"] == 0 and "no database" in outcome["note"]
    assert not (tmp_path / "absent").exists()
