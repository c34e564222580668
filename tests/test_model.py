"""The intent model trains on any text,label data, saves safely and refuses foreign files."""

import pickle
from pathlib import Path

import pytest
import skops.io as sio

from classify.model import IntentModel, ModelFileError, evaluate

TOPICS = {
    "billing": ["my bill is wrong", "why is the bill so high", "charge on my bill", "bill amount question"],
    "outage": ["power is out", "no electricity at home", "lights went out", "blackout on my street"],
    "water": ["no water pressure", "water is brown", "pipe burst water everywhere", "water main leaking"],
}


def small_data() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label, phrases in TOPICS.items():
        for phrase in phrases:
            for suffix in ("", " please help", " today", " asap", " thanks"):
                texts.append(phrase + suffix)
                labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def model() -> IntentModel:
    texts, labels = small_data()
    return IntentModel.train(texts, labels)


def test_predicts_with_runners_up(model: IntentModel) -> None:
    verdict = model.predict("the lights are out on my block")
    assert verdict.intent == "outage"
    assert 0 < verdict.confidence <= 1
    assert [label for label, _ in verdict.runners_up] and "outage" not in dict(verdict.runners_up)


def test_thresholds_and_metrics_stored(model: IntentModel, tmp_path: Path) -> None:
    path = tmp_path / "m.skops"
    model.save(path)
    loaded = IntentModel.load(path)
    assert loaded.version == model.version
    assert set(loaded.meta.thresholds) == {"billing", "outage", "water"}
    assert loaded.predict("brown water from the tap").intent == "water"
    assert {"accuracy", "macro_f1", "coverage"} <= set(loaded.meta.metrics)


def test_evaluate_report_keys(model: IntentModel) -> None:
    texts, labels = small_data()
    report = evaluate(model, texts, labels)
    assert report["n"] == len(texts)
    assert report["accuracy"] > 0.9
    assert set(report["per_label"]["billing"]) == {"precision", "recall", "f1", "support"}


def test_refuses_files_that_are_not_models(tmp_path: Path) -> None:
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="not an E-Team Inbox model"):
        IntentModel.load(junk)
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"format": "eteam-intent-model/1"}))
    with pytest.raises(ModelFileError):
        IntentModel.load(pickled)
    other = tmp_path / "other.skops"
    sio.dump({"format": "something-else"}, other)
    with pytest.raises(ModelFileError, match="format"):
        IntentModel.load(other)
    with pytest.raises(ModelFileError, match="eteam train"):
        IntentModel.load(tmp_path / "missing.skops")


def test_out_of_scope_label() -> None:
    texts, labels = small_data()
    texts += ["what is the capital of france", "tell me a joke", "book a flight to paris", "recipe for soup"] * 5
    labels += ["oos"] * 20
    model = IntentModel.train(texts, labels, oos_label="oos")
    report = evaluate(model, texts, labels)
    assert {"in_scope_accuracy", "oos_recall"} <= set(report)
