"""The intent model: features, training, per-intent thresholds, evaluation and safe persistence.

Like Mozilla bugbug's model classes, `IntentModel` owns everything about the model: the
feature pipeline (word and character TF-IDF), the calibrated linear classifier, the
confidence thresholds chosen on held-out data, the metrics report, and saving with skops
(never a pickle of arbitrary objects). It works on any `text,label` data, not only ours.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

MODEL_FORMAT = "eteam-intent-model/1"
DEFAULT_THRESHOLD = 0.5
TARGET_PRECISION = 0.97
#: modules whose types a model file may contain; anything else is refused on load
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy", "scipy.", "builtins.", "classify.")


class ModelFileError(ValueError):
    """A file that is not one of our intent models, or was damaged."""


@dataclass(frozen=True)
class Prediction:
    """One verdict: the intent, its probability, and the runners-up (intent, probability)."""

    intent: str
    confidence: float
    runners_up: list[tuple[str, float]]
    above_threshold: bool


@dataclass
class TrainedMeta:
    """What is saved beside the pipeline: provenance, labels, thresholds, held-out metrics."""

    version: str
    data_hash: str
    labels: list[str]
    thresholds: dict[str, float]
    metrics: dict[str, Any] = field(default_factory=dict)
    oos_label: str | None = None


def normalise(text: str) -> str:
    """Lower-case and collapse whitespace; the features see nothing else of formatting."""
    return " ".join(text.lower().split())


def build_pipeline() -> Pipeline:
    """Word 1-2 grams plus character 2-5 grams (robust to typos and Spanish accents)."""
    features = FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    ngram_range=(1, 2), min_df=1, sublinear_tf=True, strip_accents="unicode"
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=2,
                    sublinear_tf=True,
                    strip_accents="unicode",
                    max_features=300_000,
                ),
            ),
        ]
    )
    classifier = CalibratedClassifierCV(LinearSVC(C=0.5), method="sigmoid", cv=3, ensemble=False)
    return Pipeline([("features", features), ("classifier", classifier)])


def data_hash(texts: Sequence[str], labels: Sequence[str]) -> str:
    """A stable hash of the training data, saved with the model for provenance."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def choose_thresholds(
    labels: list[str],
    true: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    target_precision: float = TARGET_PRECISION,
) -> dict[str, float]:
    """Per intent, the lowest confidence at which answers predicted as it are right often enough.

    Walk the held-out predictions of each intent from most to least confident and keep the
    lowest cut-off whose precision above it is still at least `target_precision`.
    """
    thresholds: dict[str, float] = {}
    true_arr = np.asarray(true)
    pred_arr = np.asarray(predicted)
    conf_arr = np.asarray(confidence)
    for label in labels:
        mask = pred_arr == label
        if not mask.any():
            thresholds[label] = DEFAULT_THRESHOLD
            continue
        order = np.argsort(-conf_arr[mask])
        correct = (true_arr[mask] == label)[order]
        confs = conf_arr[mask][order]
        precision = np.cumsum(correct) / np.arange(1, len(correct) + 1)
        ok = np.nonzero(precision >= target_precision)[0]
        thresholds[label] = float(confs[ok[-1]]) if len(ok) else 1.01
    return thresholds


class IntentModel:
    """A trained intent classifier with its thresholds; load with `IntentModel.load`."""

    def __init__(self, pipeline: Pipeline, meta: TrainedMeta) -> None:
        self.pipeline = pipeline
        self.meta = meta
        self._classes: list[str] = list(pipeline.classes_)

    @property
    def version(self) -> str:
        """The model version recorded on every classification it makes."""
        return self.meta.version

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        oos_label: str | None = None,
        holdout_texts: Sequence[str] | None = None,
        holdout_labels: Sequence[str] | None = None,
        seed: int = 13,
    ) -> IntentModel:
        """Fit on the data; thresholds and metrics come from held-out data.

        Without an explicit hold-out set, 20% of the data (stratified) is held out to choose
        thresholds and measure, then the final model is refitted on everything.
        """
        texts = [normalise(t) for t in texts]
        labels = list(labels)
        if holdout_texts is None or holdout_labels is None:
            fit_x, hold_x, fit_y, hold_y = train_test_split(
                texts, labels, test_size=0.2, random_state=seed, stratify=labels
            )
        else:
            fit_x, fit_y = texts, labels
            hold_x = [normalise(t) for t in holdout_texts]
            hold_y = list(holdout_labels)
        probe = build_pipeline().fit(fit_x, fit_y)
        probe_model = cls(probe, TrainedMeta("probe", "", sorted(set(labels)), {}, {}, oos_label))
        uniform = {label: 0.0 for label in probe_model.labels}
        probe_model.meta.thresholds = uniform
        predictions = probe_model.predict_many(hold_x)
        in_scope = [label for label in probe_model.labels if label != oos_label]
        thresholds = choose_thresholds(
            in_scope,
            hold_y,
            [p.intent for p in predictions],
            [p.confidence for p in predictions],
        )
        if oos_label is not None:
            thresholds[oos_label] = 0.0
        probe_model.meta.thresholds = thresholds
        metrics = evaluate(probe_model, hold_x, hold_y)

        final = probe if holdout_texts is not None else build_pipeline().fit(texts, labels)
        meta = TrainedMeta(
            version=datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            + "-"
            + data_hash(texts, labels)[:8],
            data_hash=data_hash(texts, labels),
            labels=sorted(set(labels)),
            thresholds=thresholds,
            metrics=metrics,
            oos_label=oos_label,
        )
        return cls(final, meta)

    @property
    def labels(self) -> list[str]:
        """The labels the model knows."""
        return self._classes

    def predict_many(self, texts: Sequence[str], top: int = 3) -> list[Prediction]:
        """Batched prediction: the fast path for pipelines and benchmarks."""
        if not texts:
            return []
        probabilities = self.pipeline.predict_proba([normalise(t) for t in texts])
        order = np.argsort(-probabilities, axis=1)[:, : top + 1]
        results: list[Prediction] = []
        oos = self.meta.oos_label
        for row, ranked in zip(probabilities, order, strict=True):
            best = self._classes[ranked[0]]
            confidence = float(row[ranked[0]])
            threshold = self.meta.thresholds.get(best, DEFAULT_THRESHOLD)
            above = confidence >= threshold
            runners = [(self._classes[i], float(row[i])) for i in ranked[1:]]
            if oos is not None and not above and best != oos:
                runners = [(best, confidence), *runners[: top - 1]]
                best, confidence, above = oos, 1.0 - confidence, True
            results.append(Prediction(best, confidence, runners[:top], above))
        return results

    def predict(self, text: str) -> Prediction:
        """One message; see `predict_many`."""
        return self.predict_many([text])[0]

    def _vectorizers(self) -> list[TfidfVectorizer]:
        return [step for _, step in self.pipeline.named_steps["features"].transformer_list]

    def save(self, path: Path) -> None:
        """Write the model with skops; metadata and vocabularies travel as JSON text inside it.

        skops rebuilds a Python dict entry by entry, which for ~100k n-gram vocabularies takes
        seconds; as one JSON string it loads in milliseconds. `stop_words_` (every pruned
        n-gram) is only a fitting diagnostic and is dropped, as scikit-learn's docs allow.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        vectorizers = self._vectorizers()
        vocabularies = [v.vocabulary_ for v in vectorizers]
        for vectorizer in vectorizers:
            vectorizer.__dict__.pop("stop_words_", None)
            vectorizer.vocabulary_ = {}
        payload = {
            "format": MODEL_FORMAT,
            "meta": json.dumps(self.meta.__dict__),
            "vocabularies": json.dumps([{k: int(i) for k, i in v.items()} for v in vocabularies]),
            "pipeline": self.pipeline,
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        try:
            sio.dump(payload, tmp)
        finally:
            for vectorizer, vocabulary in zip(vectorizers, vocabularies, strict=True):
                vectorizer.vocabulary_ = vocabulary
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Load a model saved by `save`; anything else fails with a clear `ModelFileError`."""
        if not path.is_file():
            raise ModelFileError(f"{path}: no model file; run `eteam train` or `eteam init`")
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:  # skops raises several types for non-skops files
            raise ModelFileError(f"{path}: not an E-Team Inbox model file ({exc})") from exc
        refused = [t for t in untrusted if not t.startswith(TRUSTED_MODULE_PREFIXES)]
        if refused:
            raise ModelFileError(f"{path}: refuses to load unexpected types {refused[:5]}")
        payload = sio.load(path, trusted=untrusted)
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{path}: not an E-Team Inbox model file (format mismatch)")
        meta = TrainedMeta(**json.loads(payload["meta"]))
        model = cls(payload["pipeline"], meta)
        for vectorizer, vocabulary in zip(model._vectorizers(), json.loads(payload["vocabularies"]), strict=True):
            vectorizer.vocabulary_ = vocabulary
        return model


def evaluate(model: IntentModel, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """The metrics report `eteam evaluate --json` prints, for any labelled data.

    `coverage` is the share answered above threshold and `accuracy_at_threshold` the accuracy
    on that share; with an out-of-scope label, also in-scope accuracy and OOS recall.
    """
    predictions = model.predict_many(list(texts))
    predicted = [p.intent for p in predictions]
    truth = list(labels)
    label_set = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=label_set, zero_division=0
    )
    oos = model.meta.oos_label
    answered = [
        (p.intent, t) for p, t in zip(predictions, truth, strict=True)
        if p.above_threshold and p.intent != oos
    ]
    report: dict[str, Any] = {
        "n": len(truth),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        "per_label": {
            label: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for label, p, r, f, s in zip(label_set, precision, recall, f1, support, strict=True)
        },
        "coverage": round(len(answered) / len(truth), 4) if truth else 0.0,
        "accuracy_at_threshold": (
            round(sum(p == t for p, t in answered) / len(answered), 4) if answered else 0.0
        ),
    }
    if oos is not None:
        in_scope = [(p, t) for p, t in zip(predicted, truth, strict=True) if t != oos]
        out_scope = [(p, t) for p, t in zip(predicted, truth, strict=True) if t == oos]
        report["in_scope_accuracy"] = (
            round(sum(p == t for p, t in in_scope) / len(in_scope), 4) if in_scope else 0.0
        )
        report["oos_recall"] = (
            round(sum(p == oos for p, _ in out_scope) / len(out_scope), 4) if out_scope else 0.0
        )
    return report
